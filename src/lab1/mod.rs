//! Lab 1.

pub mod auth;
pub(crate) mod checker;
pub(crate) mod events;
#[cfg(any(test, feature = "test-support"))]
pub mod harness;
#[cfg(test)]
mod model_check;
pub mod process;
pub mod ra;
pub mod resource;
pub mod wire;
