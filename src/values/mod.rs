//! Plain values.

pub mod addr;
pub mod decimal;
pub mod limits;
pub mod time;
