//! peerlab: the UDP peer processes of a distributed-systems course, small enough for a
//! `FROM scratch` image and careful enough to show students what really happened.
//!
//! # Layout
//! One folder per system; imports point only down this list (`tests/layout.rs` checks it),
//! and the command line (`src/cli.rs`, the binary's own module) sits above them all.
//! - [`health`]: `process health ADDR` and `--self PORT`, the check of a `FROM scratch` container.
//! - [`counter`]: the handout's peer: the counter broadcast, its sequence accounting, its events.
//! - [`lab1`]: Lab 1: the Ricart–Agrawala core, the process, the shared resource and its
//!   checker, the wire format, the shared key, the events, the harness and the model check.
//! - [`timeline`]: `process timeline`, figures, ShiViz logs and checks drawn from Lab 1 traces.
//! - [`io`]: the single-threaded mio loop, the sockets, and the mesh (peers, discovery, events).
//! - [`metrics`]: `--metrics`: the Prometheus exposition from fixed buffers, and the HTTP
//!   requests that ask for it.
//! - [`dns`]: name resolution inside the poll loop, so a nameserver never stalls it.
//! - [`output`]: every printed line, text or JSON, built in fixed buffers and escaped.
//! - [`values`]: plain values: addresses, times and durations, decimal numbers, every limit.
//!
//! The cores (the accounting, the Ricart–Agrawala core, the checker, the resolver's lookup)
//! take bytes, addresses and `now` as arguments and touch no socket, so tests drive them
//! directly.

#![deny(unsafe_code)]
// three exceptions: getrandom(2) in `dns::random_u16`, getifaddrs(3) in `health`, the start's signal action in `driver`
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod counter;
pub mod dns;
pub mod health;
pub mod io;
pub mod lab1;
pub mod metrics;
pub mod output;
pub mod timeline;
pub mod values;

#[cfg(test)]
mod tests {
    #[test]
    fn error_types_are_std_errors() {
        use std::error::Error;
        fn is_error<E: Error + Send + Sync + 'static>() {}
        is_error::<crate::io::net::BindError>();
        is_error::<crate::health::HealthError>();
        is_error::<crate::values::decimal::WireError>();
        is_error::<crate::lab1::wire::LabWireError>();
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = crate::health::HealthError::Io(io);
        assert!(e.source().is_some());
        let addr = "127.0.0.1:1".parse().unwrap();
        assert!(crate::io::net::BindError::InUse(addr).source().is_none());
    }
}
