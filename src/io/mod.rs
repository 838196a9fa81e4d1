//! The event loop and sockets.

pub mod driver;
pub mod mesh;
pub mod net;
