//! Plain values.

pub mod decimal;
pub mod limits;
pub mod time;
