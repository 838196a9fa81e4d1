//! Lab 1, distributed mutual exclusion: the sans-IO Ricart–Agrawala core ([`ra`]), the
//! [`process`] and the shared [`resource`] on the driver, the resource's checker, the
//! [`wire`] format and its shared key ([`auth`]), the events, and the test harness.

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
pub(crate) mod roster;
pub mod wire;
