//! Plain values at the bottom of the house: addresses as written, times and durations,
//! decimal numbers (the counter's wire format), and every capacity.

pub mod addr;
pub mod decimal;
pub mod limits;
pub mod time;
