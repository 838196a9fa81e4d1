//! Compile-time capacities. Every fixed buffer in the crate is sized from here, so the
//! memory a peer needs is known before it starts and nothing grows per message.

use std::time::Duration;

/// Most peers one process talks to (the scale goals are 100- and 200-process full meshes:
/// 199 peers). Each costs a socket and a row in the table chosen at start, nothing static.
pub const MAX_PEERS: usize = 256;

/// Default capacity of the peer table when groups are discovered (`--max-peers`): static and
/// discovered peers together, allocated once at start.
pub const DEFAULT_MAX_PEERS: usize = 64;

/// Most `--discover` groups.
pub const MAX_GROUPS: usize = 8;

/// A group is looked up again this often (`--discover-every`), each wait drawn at random
/// within +-20% so that the members of a mesh do not ask in step.
pub(crate) const DISCOVER_EVERY: Duration = Duration::from_secs(5);

/// A discovered peer missing from this many lookups of its group in a row has left.
pub(crate) const LEAVE_AFTER_MISSES: u8 = 2;

/// Most addresses kept from one name's lookup (a name with more is reported with the number
/// left out): no cap below the peer table's capacity, unlike musl's `getaddrinfo` (48).
pub(crate) const MAX_ADDRS_PER_NAME: usize = MAX_PEERS;

/// Receive buffer size. A datagram that fills it completely is reported as truncated, so it
/// is one byte larger than the largest datagram we accept whole (counters are at most 20 bytes,
/// Lab 1 messages at most 128).
pub(crate) const MAX_DGRAM: usize = 2048;

/// Longest `host:port` argument we keep (a DNS name is at most 253 bytes, plus `:65535`).
pub(crate) const MAX_NAME: usize = 262;

/// How many bytes of a datagram that is not a counter are shown (escaped) in its line; the
/// rest is announced with its size, never cut silently.
pub const SHOW_MAX: usize = 200;

/// One output line: worst case is a JSON line whose shown payload is all escapes
/// (`\\x1b` is five bytes per input byte) plus two names.
pub(crate) const LINE_MAX: usize = 2 * MAX_NAME + 5 * SHOW_MAX + 256;

/// Output waiting for a reader that is slow or stopped (a pipe nobody reads): beyond this,
/// whole lines are dropped and counted rather than blocking the loop.
pub(crate) const OUTPUT_BUFFER: usize = 64 * 1024;

/// Senders that are not configured peers and still get their own row in the accounting;
/// datagrams from further ones are counted together.
pub(crate) const MAX_STRANGERS: usize = 16;

/// Default broadcast period: the handout's one second.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// First retry delay for a peer name that does not resolve yet; it doubles up to
/// [`RESOLVE_BACKOFF_MAX`].
pub(crate) const RESOLVE_BACKOFF_MIN: Duration = Duration::from_millis(50);

/// Longest wait between two attempts to resolve a peer that does not resolve or is down.
pub(crate) const RESOLVE_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A peer that is up is re-resolved this often, so a container that comes back with a new
/// IP address is reached again.
pub(crate) const RERESOLVE_EVERY: Duration = Duration::from_secs(5);

/// A peer that was down is up again once sends to it have met no error for this long (an
/// ICMP "port unreachable" comes back within milliseconds). The driver looks once a second.
pub(crate) const UP_AFTER: Duration = Duration::from_secs(1);

/// Most processes in one Lab 1 group (its own included): each needs a peer socket, and the
/// shared resource one more; the grants of a request are one bit each in a `u128`.
pub const MAX_PROCESSES: usize = 127;

/// Lab 1: a REQUEST without its REPLY, or an ENTER/EXIT without its ACK, is sent again this
/// often (UDP loses datagrams; the course's programs then wait forever).
pub(crate) const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Lab 1: how long a process keeps resending ENTER/EXIT to a shared resource that does not
/// acknowledge, before it goes on without it (and says so).
pub(crate) const RESOURCE_PATIENCE: Duration = Duration::from_secs(3);

/// Lab 1: how long a process stays in the critical section by default (the course's usual).
pub const DEFAULT_CS_TIME: Duration = Duration::from_secs(5);
