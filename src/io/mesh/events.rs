//! The mesh's peer events (down, up, resolved, unresolved), shared by every mode, and their
//! text and JSON forms.

use std::io;
use std::net::SocketAddr;

use crate::output::escape::{self, push_name};
use crate::output::{Line, LineFull, Obj, Render};

/// Why a peer is down.
#[derive(Debug)]
pub(crate) enum Down {
    /// A send or receive on its socket failed.
    Error(io::Error),
    /// It said goodbye (it was stopped).
    Stopped,
}

/// Why an address of a group's answer can be no peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// Unspecified (0.0.0.0, ::: this very process), multicast or broadcast.
    NotUnicast,
    /// Not of the own socket's family (an IPv6 address for an IPv4 socket, or the reverse).
    OtherFamily,
}

/// What the mesh found out about one peer (slot `i` of the mesh).
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// Sends to it fail, or it said goodbye (once per transition).
    Down {
        i: usize,
        /// Where it was.
        addr: Option<SocketAddr>,
        why: Down,
    },
    /// It answers again.
    Up { i: usize, addr: SocketAddr },
    /// Its name resolved for the first time, or to a new address.
    Resolved {
        i: usize,
        addr: SocketAddr,
        /// A new address (a restarted container).
        moved: bool,
    },
    /// Its name resolved, but no socket can be connected to that address from the own one
    /// (e.g. an IPv6 peer of an IPv4 process, no route); retried with backoff.
    Unreachable {
        i: usize,
        /// The peer's address.
        addr: SocketAddr,
        /// The own address.
        local: SocketAddr,
        why: io::Error,
    },
    /// Its name does not resolve (yet, or no longer); retried.
    Unresolved {
        i: usize,
        why: io::Error,
        /// It resolved before ("no longer resolves" rather than "does not resolve yet").
        before: bool,
    },
    /// A new address in its group's lookup: a discovered peer (or one that left, back).
    Joined {
        i: usize,
        addr: SocketAddr,
        /// It had left before.
        again: bool,
    },
    /// Gone from its group's lookups: dropped (its row stays).
    Left {
        i: usize,
        addr: SocketAddr,
        /// Lookups in a row it was missing from.
        lookups: u8,
    },
    /// It sends from another port than its own, on its IP (the course's Go program): taken as
    /// its datagrams (said once).
    OtherPort {
        i: usize,
        /// Where the datagram came from.
        from: SocketAddr,
        /// The peer's own port.
        port: u16,
    },
    /// A group's lookup failed (said once per failure streak); retried.
    GroupUnresolved {
        g: usize,
        why: io::Error,
        /// It resolved before.
        before: bool,
    },
    /// A group member's address is now a named peer's (its name resolved late): the member
    /// is retired (its row stays, marked left); the named peer goes on there.
    NowNamed {
        /// Mesh slot of the member.
        i: usize,
        addr: SocketAddr,
        /// Mesh slot of the named peer.
        named: usize,
    },
    /// A group's answer held addresses no peer can have (said once per group).
    GroupUnusable {
        g: usize,
        /// The first such address.
        ip: std::net::IpAddr,
        why: Unusable,
        /// How many in that answer.
        count: usize,
    },
    /// A group's lookup gave a new address and the peer table is full (said once).
    TableFull {
        g: usize,
        /// The first address left out.
        addr: SocketAddr,
        /// The table's capacity.
        capacity: usize,
    },
}

impl PeerEvent {
    /// The mesh slot it is about (for a group's event, [`PeerEvent::group_event`], the
    /// group's index).
    pub(crate) fn slot(&self) -> usize {
        match self {
            PeerEvent::Down { i, .. }
            | PeerEvent::Up { i, .. }
            | PeerEvent::Resolved { i, .. }
            | PeerEvent::Unreachable { i, .. }
            | PeerEvent::Unresolved { i, .. }
            | PeerEvent::Joined { i, .. }
            | PeerEvent::Left { i, .. }
            | PeerEvent::NowNamed { i, .. }
            | PeerEvent::OtherPort { i, .. } => *i,
            PeerEvent::GroupUnresolved { g, .. }
            | PeerEvent::TableFull { g, .. }
            | PeerEvent::GroupUnusable { g, .. } => *g,
        }
    }

    /// The group it is about, for an event about a whole group.
    pub(crate) fn group_event(&self) -> Option<usize> {
        match self {
            PeerEvent::GroupUnresolved { g, .. }
            | PeerEvent::TableFull { g, .. }
            | PeerEvent::GroupUnusable { g, .. } => Some(*g),
            _ => None,
        }
    }
}

/// A [`PeerEvent`] with the peer's name, ready to print.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerLine<'a> {
    /// The peer's name as the user wrote it (a discovered peer's `group#n`; for a group's
    /// event, the group's argument).
    pub(crate) name: &'a str,
    /// The group a discovered peer belongs to (its argument).
    pub(crate) group: Option<&'a str>,
    /// For [`PeerEvent::NowNamed`]: the named peer's name.
    pub(crate) other: Option<&'a str>,
    /// What happened.
    pub(crate) event: &'a PeerEvent,
}

/// A short lowercase reason, without allocating (`io::Error`'s own `Display` of an OS error
/// allocates the message).
fn push_io_error(l: &mut Line, e: &io::Error) -> Result<(), LineFull> {
    use io::ErrorKind as K;
    // One of ours, with its own words (not from the kernel).
    if e.raw_os_error().is_none() && e.get_ref().is_some() {
        return l.push_fmt(format_args!("{e}"));
    }
    let text = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::AddrNotAvailable => "address not available",
        K::PermissionDenied => "permission denied",
        K::WouldBlock => "send buffer full",
        K::NotFound => "name not known",
        K::TimedOut => "timed out",
        _ if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => "address family not supported",
        _ => {
            return match e.raw_os_error() {
                Some(code) => l.push_fmt(format_args!("os error {code}")),
                None => l.push_fmt(format_args!("{}", e.kind())),
            }
        }
    };
    l.push_str(text)
}

impl Render for PeerLine<'_> {
    fn name(&self) -> &'static str {
        match self.event {
            PeerEvent::Down { .. } => "peer_down",
            PeerEvent::Up { .. } => "peer_up",
            PeerEvent::Resolved { .. } => "peer_resolved",
            PeerEvent::Unreachable { .. } => "peer_unreachable",
            PeerEvent::Unresolved { .. } => "peer_unresolved",
            PeerEvent::Joined { .. } => "peer_joined",
            PeerEvent::Left { .. } => "peer_left",
            PeerEvent::OtherPort { .. } => "peer_other_port",
            PeerEvent::GroupUnresolved { .. } => "group_unresolved",
            PeerEvent::TableFull { .. } => "peer_table_full",
            PeerEvent::NowNamed { .. } => "peer_now_named",
            PeerEvent::GroupUnusable { .. } => "group_unusable",
        }
    }

    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_str(if self.event.group_event().is_some() {
            "group "
        } else {
            "peer "
        })?;
        push_name(l, self.name)?;
        match self.event {
            PeerEvent::Down { why, addr, .. } => {
                l.push_str(" down: ")?;
                match why {
                    Down::Error(e) => push_io_error(l, e),
                    Down::Stopped => l.push_str("stopped"),
                }?;
                self.push_where(l, *addr)
            }
            PeerEvent::Up { addr, .. } => {
                l.push_str(" up")?;
                self.push_where(l, Some(*addr))
            }
            PeerEvent::Resolved { addr, moved, .. } => {
                l.push_str(if *moved { " moved to " } else { " is at " })?;
                l.push_addr(*addr)
            }
            PeerEvent::Unreachable { local, why, .. } => {
                l.push_str(" cannot be reached from ")?;
                l.push_addr(*local)?;
                l.push_str(": ")?;
                push_io_error(l, why)?;
                l.push_str("; retrying")
            }
            PeerEvent::Unresolved { why, before, .. }
            | PeerEvent::GroupUnresolved { why, before, .. } => {
                l.push_str(if *before {
                    " no longer resolves ("
                } else {
                    " does not resolve yet ("
                })?;
                let mut tmp: heapless::String<256> = heapless::String::new();
                let _ = core::fmt::write(&mut tmp, format_args!("{why}"));
                escape::push_text(l, tmp.as_bytes())?;
                l.push(')')?;
                // A container not up yet has no name: at start that is the usual case, not a
                // failure (a misspelt name looks the same, hence the question).
                if !*before
                    && why.kind() == io::ErrorKind::NotFound
                    && matches!(self.event, PeerEvent::Unresolved { .. })
                {
                    l.push_str(": waiting for it to start (or is the name misspelt?)")?;
                }
                l.push_str("; retrying")
            }
            PeerEvent::Joined { addr, again, .. } => {
                l.push_str(if *again {
                    " joined again at "
                } else {
                    " joined at "
                })?;
                l.push_addr(*addr)?;
                self.push_group(l)
            }
            PeerEvent::Left { addr, lookups, .. } => {
                l.push_str(" left: ")?;
                l.push_addr(*addr)?;
                l.push_fmt(format_args!(" missing from {lookups} lookups"))?;
                self.push_group(l)
            }
            PeerEvent::OtherPort { from, port, .. } => {
                l.push_str(" sends from ")?;
                l.push_addr(*from)?;
                l.push_fmt(format_args!(
                    ", not from its port {port}: taken as its own (the only peer at that IP; the course's Go program sends from a random port)"
                ))
            }
            PeerEvent::TableFull { addr, capacity, .. } => {
                l.push_str(": the peer table is full (max_peers ")?;
                l.push_num(*capacity as u64)?;
                l.push_str("): ")?;
                l.push_addr(*addr)?;
                l.push_str(" and any further new address are left out (counted at exit)")
            }
            PeerEvent::NowNamed { addr, .. } => {
                l.push_str(" left: ")?;
                l.push_addr(*addr)?;
                l.push_str(" is now the named peer ")?;
                push_name(l, self.other.unwrap_or("?"))?;
                l.push_str(", which goes on there (this row stays)")?;
                self.push_group(l)
            }
            PeerEvent::GroupUnusable { ip, why, count, .. } => {
                l.push_fmt(format_args!(
                    ": {count} address(es) left out, no peer can be there: {ip} "
                ))?;
                l.push_str(match why {
                    Unusable::NotUnicast => {
                        "(not unicast: unspecified, multicast, broadcast, reserved, or link-local without a scope)"
                    }
                    Unusable::OtherFamily => {
                        if ip.is_ipv6() {
                            "(other family: IPv6, and this process's socket is IPv4)"
                        } else {
                            "(other family: IPv4, and this process's socket is IPv6)"
                        }
                    }
                })?;
                if *count > 1 {
                    l.push_str(" and others")?;
                }
                l.push_str(" (said once)")
            }
        }
    }

    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        if self.event.group_event().is_some() {
            o.str("group", self.name)?;
        } else {
            o.str("peer", self.name)?;
        }
        match self.event {
            PeerEvent::Down { addr, why, .. } => {
                o.addr("addr", *addr)?.opt_str("group", self.group)?;
                let mut reason = Line::new();
                match why {
                    Down::Error(e) => push_io_error(&mut reason, e)?,
                    Down::Stopped => reason.push_str("stopped")?,
                }
                o.str("error", reason.as_str())?;
            }
            PeerEvent::Up { addr, .. } | PeerEvent::Resolved { addr, .. } => {
                o.addr("addr", Some(*addr))?;
                if let PeerEvent::Up { .. } = self.event {
                    o.opt_str("group", self.group)?;
                }
                if let PeerEvent::Resolved { moved, .. } = self.event {
                    o.bool("moved", *moved)?;
                }
            }
            PeerEvent::Unreachable {
                addr, local, why, ..
            } => {
                let mut reason = Line::new();
                push_io_error(&mut reason, why)?;
                o.addr("addr", Some(*addr))?
                    .addr("local", Some(*local))?
                    .str("error", reason.as_str())?;
            }
            PeerEvent::Unresolved { why, before, .. }
            | PeerEvent::GroupUnresolved { why, before, .. } => {
                o.display("error", why)?.bool("no_longer", *before)?;
            }
            PeerEvent::Joined { addr, again, .. } => {
                o.addr("addr", Some(*addr))?
                    .opt_str("group", self.group)?
                    .bool("again", *again)?;
            }
            PeerEvent::Left { addr, lookups, .. } => {
                o.addr("addr", Some(*addr))?
                    .opt_str("group", self.group)?
                    .num("lookups", u64::from(*lookups))?;
            }
            PeerEvent::OtherPort { from, port, .. } => {
                o.addr("addr", Some(*from))?.num("port", u64::from(*port))?;
            }
            PeerEvent::TableFull { addr, capacity, .. } => {
                o.addr("addr", Some(*addr))?
                    .num("max_peers", *capacity as u64)?;
            }
            PeerEvent::NowNamed { addr, .. } => {
                o.addr("addr", Some(*addr))?
                    .opt_str("group", self.group)?
                    .opt_str("named", self.other)?;
            }
            PeerEvent::GroupUnusable { ip, why, count, .. } => {
                o.display("ip", ip)?
                    .str(
                        "why",
                        match why {
                            Unusable::NotUnicast => "not unicast",
                            Unusable::OtherFamily => "other family",
                        },
                    )?
                    .num("count", *count as u64)?;
            }
        }
        Ok(())
    }
}

impl PeerLine<'_> {
    /// ` (172.18.0.7:10002, group peer:10002)` after a discovered peer's down or up: its name
    /// alone does not say where it is.
    fn push_where(&self, l: &mut Line, addr: Option<SocketAddr>) -> Result<(), LineFull> {
        let (Some(g), Some(a)) = (self.group, addr) else {
            return Ok(());
        };
        l.push_str(" (")?;
        l.push_addr(a)?;
        l.push_str(", group ")?;
        push_name(l, g)?;
        l.push(')')
    }

    /// ` (group peer:10002)` after a discovered peer's event.
    fn push_group(&self, l: &mut Line) -> Result<(), LineFull> {
        match self.group {
            Some(g) => {
                l.push_str(" (group ")?;
                push_name(l, g)?;
                l.push(')')
            }
            None => Ok(()),
        }
    }
}
