//! Name resolution that never blocks the poll loop.
//!
//! - [`conf`]: `/etc/resolv.conf` (nameservers, search list, ndots, timeout, attempts).
//! - `hosts`: `/etc/hosts`, honoured before any nameserver.
//! - `lookup`: one lookup as a sans-IO state machine: it builds query datagrams, takes the
//!   answers, the deadlines and the time as arguments, and never touches a socket or a clock.
//! - `sysfile`: how both files are read from inside the loop (never blocking, bounded).
//! - [`resolver`]: the thin mio adapter: a fresh UDP socket per lookup (random source port)
//!   and, for a truncated answer, a TCP exchange, all registered on the loop's own poll.
//!
//! The DNS message format is `simple-dns`'s (built and parsed off the message path: lookups
//! happen at start, every few seconds and after errors, never per datagram).

use core::fmt;
use std::net::{IpAddr, SocketAddr};

pub mod conf;
mod hosts;
pub(crate) mod lookup;
pub mod resolver;
pub(crate) mod sysfile;

pub(crate) use resolver::Resolver;

/// Which addresses a lookup asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A records only.
    V4,
    /// AAAA records only.
    V6,
    /// Both, A first (as `getaddrinfo` with `AF_UNSPEC`).
    Any,
}

impl Family {
    /// Whether `ip` is of this family.
    pub(crate) fn wants(self, ip: IpAddr) -> bool {
        match self {
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
            Family::Any => true,
        }
    }
}

/// The addresses a lookup found: all of them, in answer order, without duplicates, up to a
/// capacity chosen at construction (allocated then, never grown); the rest is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addrs {
    list: Vec<IpAddr>,
    left_out: usize,
}

impl Addrs {
    /// Room for `capacity` addresses (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Addrs {
        Addrs {
            list: Vec::with_capacity(capacity.max(1)),
            left_out: 0,
        }
    }

    /// Adds `ip` unless already there; counts it in [`Addrs::left_out`] when full.
    pub(crate) fn push(&mut self, ip: IpAddr) {
        if self.list.contains(&ip) {
            return;
        }
        if self.list.len() < self.list.capacity() {
            self.list.push(ip);
        } else {
            self.left_out += 1;
        }
    }

    /// The addresses, as a slice.
    pub fn as_slice(&self) -> &[IpAddr] {
        &self.list
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Addresses found beyond the capacity (not kept).
    pub fn left_out(&self) -> usize {
        self.left_out
    }
}

/// The nameservers a lookup asked.
pub(crate) type Servers = heapless::Vec<SocketAddr, { conf::MAX_NAMESERVERS }>;

/// Why a lookup found no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Every name tried (the search list included) does not exist (NXDOMAIN).
    NxDomain {
        /// How many names were tried.
        names: usize,
    },
    /// The name exists but has no address of the family asked (NOERROR, no answer).
    NoAnswer,
    /// No nameserver gave a usable answer in time.
    TimedOut {
        /// Queries sent (rounds times servers).
        tries: u16,
        /// Who was asked.
        servers: Servers,
        /// What went wrong besides silence, for the last name tried.
        trouble: Trouble,
    },
    /// Every try was refused (ICMP port unreachable: nothing listens on port 53).
    Refused {
        /// Queries sent.
        tries: u16,
        /// Who was asked.
        servers: Servers,
    },
    /// The nameservers answered with an error (SERVFAIL, REFUSED, ...).
    Failed {
        /// The last RCODE.
        rcode: u8,
        /// Who said it.
        server: SocketAddr,
    },
    /// The name is not a valid domain name (a label over 63 bytes, the whole over 253).
    BadName,
    /// No socket could be opened to ask (the local error's kind).
    Io(std::io::ErrorKind),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NxDomain { names: 1 } => f.write_str("no such name (NXDOMAIN)"),
            Error::NxDomain { names } => {
                write!(
                    f,
                    "no such name (NXDOMAIN for all {names} names of the search list)"
                )
            }
            Error::NoAnswer => f.write_str("the name has no address (no answer)"),
            Error::TimedOut {
                tries,
                servers,
                trouble,
            } if trouble.refused == 0 && trouble.malformed == 0 && trouble.tcp_failed == 0 => {
                f.write_str("no answer from ")?;
                write_servers(f, servers)?;
                write!(f, " after {tries} tries (timed out)")
            }
            Error::TimedOut {
                tries,
                servers,
                trouble,
            } => {
                f.write_str("no usable answer from ")?;
                write_servers(f, servers)?;
                write!(f, " after {tries} tries (")?;
                let mut sep = "";
                for (n, what) in [
                    (trouble.refused, "refused"),
                    (trouble.malformed, "malformed answer(s)"),
                    (trouble.tcp_failed, "TCP exchange(s) closed early or failed"),
                ] {
                    if n > 0 {
                        write!(f, "{sep}{n} {what}")?;
                        sep = ", ";
                    }
                }
                if trouble.silent {
                    write!(f, "{sep}timed out")?;
                }
                f.write_str(")")
            }
            Error::Refused { tries, servers } => {
                write_servers(f, servers)?;
                write!(
                    f,
                    " refused all {tries} tries (port unreachable: nothing listens on port 53)"
                )
            }
            Error::Failed { rcode, server } => {
                let what = match rcode {
                    1 => "FORMERR",
                    2 => "SERVFAIL",
                    4 => "NOTIMP",
                    5 => "REFUSED",
                    _ => "error",
                };
                write!(f, "{} answered {what} (rcode {rcode})", server.ip())
            }
            Error::BadName => f.write_str("not a valid domain name"),
            Error::Io(k) => write!(f, "cannot ask the nameserver: {k}"),
        }
    }
}

fn write_servers(f: &mut fmt::Formatter<'_>, servers: &Servers) -> fmt::Result {
    for (i, s) in servers.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}", s.ip())?;
    }
    Ok(())
}

/// What went wrong in the tries of a name, besides silence: said in [`Error::TimedOut`] so
/// that a broken nameserver is not mistaken for a slow one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trouble {
    /// Tries refused (ICMP port unreachable).
    pub(crate) refused: u16,
    /// Answers from the server asked, with the query's id, that could not be used (not DNS,
    /// bigger than announced, an A record not 4 bytes long, ...).
    pub(crate) malformed: u16,
    /// TCP exchanges (after a truncated answer) refused, reset or closed before the answer.
    pub(crate) tcp_failed: u16,
    /// Some try had nothing at all: timed out.
    pub(crate) silent: bool,
}

impl std::error::Error for Error {}

impl Error {
    /// The closest `io::ErrorKind`, for callers that report `io::Error`s.
    pub(crate) fn kind(&self) -> std::io::ErrorKind {
        use std::io::ErrorKind as K;
        match self {
            Error::NxDomain { .. } | Error::NoAnswer => K::NotFound,
            Error::TimedOut { .. } => K::TimedOut,
            Error::Failed { .. } | Error::Refused { .. } => K::ConnectionRefused,
            Error::BadName => K::InvalidInput,
            Error::Io(k) => *k,
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(e.kind(), e)
    }
}

/// A random 16-bit number from the kernel (getrandom(2)), for query ids: an attacker off the
/// path must guess the id and the source port to forge an answer.
#[allow(unsafe_code)]
pub(crate) fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: getrandom writes at most `b.len()` bytes into `b`, a valid, writable buffer.
    // Two bytes never block once the pool is initialised, and are never cut short by a signal
    // (the kernel returns up to 256 bytes whole); a failure (an ancient kernel) leaves zeros,
    // which are then mixed with the clock below.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 2 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        return (t ^ (t >> 16)) as u16;
    }
    u16::from_ne_bytes(b)
}
