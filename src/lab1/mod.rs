//! Lab 1.

pub mod auth;
pub mod checker;
pub mod events;
pub mod harness;
#[cfg(test)]
mod model_check;
pub mod process;
pub mod ra;
pub mod resource;
pub mod wire;
