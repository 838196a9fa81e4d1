//! peerlab: the UDP peer processes of a distributed-systems course, small enough for a
//! `FROM scratch` image and careful enough to show students what really happened.
//!
//! # Layout
//! - [`cli`]: the command line (argh); `--help` comes from its doc comments.
//! - [`limits`]: every capacity, so memory use is fixed before the first message.
//! - [`wire`]: the counter's wire format (plain decimal ASCII, as the handout's Go program).
//! - [`account`]: per-sender sequence accounting: received, lost, duplicated, reordered.
//! - [`peer`]: what a process knows of one peer: resolution schedule, up/down, totals.
//! - [`output`]: every printed line, text or JSON, built in fixed buffers and escaped.
//! - [`net`]: socket set-up (`SO_REUSEPORT`, connected per-peer sockets) and resolution.
//! - [`dns`]: name resolution inside the poll loop (resolv.conf, hosts, a sans-IO lookup, and
//!   its mio adapter), so a slow nameserver never stalls a broadcast or a signal.
//! - [`mesh`]: the server socket and one connected socket per peer, for every mode.
//! - [`driver`]: the single-threaded mio loop (sockets, signals, stdin) and the [`driver::App`]
//!   trait that each mode implements.
//! - [`counter`]: the handout's peer (broadcast the counter, account what arrives).
//! - [`clock`]: `Millis`, time as data for the sans-IO cores.
//! - [`ra`]: Lab 1's Ricart–Agrawala core with Lamport clocks (sans-IO, retransmitting).
//! - [`mutex`]: Lab 1's process: the core on the driver, with keyboard and `--auto`.
//! - [`resource`]: Lab 1's shared resource, which checks mutual exclusion and order.
//! - [`timeline`]: `process timeline`, Lab 1's space-time figure (SVG), ShiViz log and
//!   check, drawn from the JSON traces of a run (off the message path).
//! - [`health`]: `process health ADDR` and `process health --self PORT` (no DNS), the
//!   self-check of a `FROM scratch` container.
//!
//! Protocol logic (`wire`, `account`, `peer`) takes bytes, addresses and `now` as arguments
//! and touches no socket, so tests drive it directly; `output` touches no socket either, but
//! reads its own clock for the timestamps it prints.

#![deny(unsafe_code)]
// three exceptions: getrandom(2) in `dns::random_u16`, getifaddrs(3) in `health`, the start's signal action in `driver`
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod counter;
pub mod dns;
pub mod health;
pub mod io;
pub mod lab1;
pub mod out;
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
