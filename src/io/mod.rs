//! The event loop and its sockets: the [`driver`] (one mio poll over sockets, signals and
//! stdin), the [`mesh`] every mode shares, and the datagrams the loop answers itself.

pub(crate) mod alarm;
pub mod driver;
pub(crate) mod http;
pub mod mesh;
pub(crate) mod net;

/// A health probe (`process health ADDR`). It is not a counter, so the course's Go program
/// just prints it; ours answers [`HEALTH_OK`] to the sender and neither counts nor prints it.
pub(crate) const HEALTH_PROBE: &[u8] = b"peerlab:health?";

/// The answer to [`HEALTH_PROBE`].
pub(crate) const HEALTH_OK: &[u8] = b"peerlab:health!";

/// Sent to every peer when a process stops (SIGINT/SIGTERM), so the others report it down at
/// once instead of waiting for an ICMP error that may never come (a restarted container).
pub(crate) const BYE: &[u8] = b"peerlab:bye";

// The driver tells these from other datagrams by their first byte (`Driver::dispatch`).
const _: () = assert!(HEALTH_PROBE[0] == b'p' && BYE[0] == b'p');
