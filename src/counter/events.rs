//! The counter peer's events (`Received 7 from ...`, the start line, the summary table).

use std::net::SocketAddr;
use std::time::Duration;

use crate::counter::account::{Counts, Verdict};
use crate::output::escape::{self, cut, push_name};
use crate::output::{Line, LineFull, Obj, Render};
use crate::values::decimal::WireError;
use crate::values::limits::SHOW_MAX;
use crate::values::time::DisplayDuration;

/// Who a datagram came from: a configured peer (its name as the user wrote it) or a bare
/// address.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The peer's argument (`p2:10003`), or `None` for a sender that is not a configured peer.
    pub name: Option<&'a str>,
    /// The datagram's source address.
    pub addr: SocketAddr,
}

/// What a datagram held.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A counter, and what it meant for the sender's sequence.
    Counter(u64, Verdict),
    /// Anything else (shown escaped).
    Foreign(&'a [u8], WireError),
    /// A datagram that filled the whole receive buffer: its start, shown escaped.
    Truncated(&'a [u8]),
}

/// `Received 7 from p2:10003 (172.18.0.3:10003)`, with a note when the sequence says more.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The sender.
    pub who: Who<'a>,
    /// What it sent.
    pub payload: Payload<'a>,
}

fn seq_name(v: Verdict) -> &'static str {
    match v {
        Verdict::First => "first",
        Verdict::InOrder => "in_order",
        Verdict::Gap(_) => "gap",
        Verdict::Duplicate => "duplicate",
        Verdict::Late => "late",
        Verdict::MaybeRestart => "possible_restart",
        Verdict::Restart => "restart",
    }
}

/// Shown bytes between quotes, `"..."` when cut.
fn push_quoted(l: &mut Line, bytes: &[u8]) -> Result<(), LineFull> {
    l.push('"')?;
    escape::push_text(l, cut(bytes, SHOW_MAX))?;
    l.push('"')?;
    if bytes.len() > SHOW_MAX {
        l.push_str("...")?;
    }
    Ok(())
}

/// Whether a peer's name as written is its address as printed (`127.0.0.3:10003`).
fn same_text(name: &str, addr: SocketAddr) -> bool {
    use core::fmt::Write as _;
    // On every received line: a name that cannot be an address (`p2:10003`) is not formatted.
    let may_be_address = name.starts_with(|c: char| c.is_ascii_digit() || c == '[');
    if !may_be_address {
        return false;
    }
    let mut a: heapless::String<64> = heapless::String::new();
    write!(a, "{addr}").is_ok() && a == name
}

impl Render for Received<'_> {
    fn name(&self) -> &'static str {
        "received"
    }

    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_str("Received ")?;
        match self.payload {
            Payload::Counter(n, _) => l.push_num(n)?,
            Payload::Foreign(bytes, _) | Payload::Truncated(bytes) => push_quoted(l, bytes)?,
        }
        l.push_str(" from ")?;
        match self.who.name {
            // A peer given as its address is not named twice.
            Some(name) if same_text(name, self.who.addr) => l.push_addr(self.who.addr)?,
            Some(name) => {
                push_name(l, name)?;
                l.push_str(" (")?;
                l.push_addr(self.who.addr)?;
                l.push(')')?;
            }
            None => l.push_addr(self.who.addr)?,
        }
        match self.payload {
            Payload::Counter(_, Verdict::Gap(g)) => l.push_fmt(format_args!(" [{g} lost]")),
            Payload::Counter(_, Verdict::Duplicate) => l.push_str(" [duplicate]"),
            Payload::Counter(_, Verdict::Late) => l.push_str(" [late]"),
            Payload::Counter(_, Verdict::MaybeRestart) => l.push_str(" [possible restart]"),
            Payload::Counter(_, Verdict::Restart) => l.push_str(" [restarted]"),
            Payload::Counter(..) => Ok(()),
            Payload::Foreign(bytes, why) => l.push_fmt(format_args!(
                " [{why}, {} byte{}]",
                bytes.len(),
                if bytes.len() == 1 { "" } else { "s" }
            )),
            Payload::Truncated(bytes) => {
                l.push_fmt(format_args!(" [truncated: {} bytes or more]", bytes.len()))
            }
        }
    }

    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.opt_str("from", self.who.name)?
            .addr("addr", Some(self.who.addr))?;
        match self.payload {
            Payload::Counter(n, v) => {
                o.num("counter", n)?.str("seq", seq_name(v))?;
                if let Verdict::Gap(g) = v {
                    o.num("missing", g)?;
                }
            }
            Payload::Foreign(bytes, why) => {
                o.bytes("payload", cut(bytes, SHOW_MAX))?
                    .bool("payload_cut", bytes.len() > SHOW_MAX)?
                    .num("bytes", bytes.len() as u64)?
                    .display("error", &why)?;
            }
            Payload::Truncated(bytes) => {
                o.bytes("payload", cut(bytes, SHOW_MAX))?
                    .bool("payload_cut", bytes.len() > SHOW_MAX)?
                    .num("bytes", bytes.len() as u64)?
                    .bool("truncated", true)?;
            }
        }
        Ok(())
    }
}

/// The start line: where we listen, how many peers, how often.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listening<'a> {
    /// The server socket's address.
    pub(crate) addr: SocketAddr,
    /// Configured peers.
    pub(crate) peers: usize,
    /// Time between broadcasts.
    pub(crate) interval: Duration,
    /// The `--discover` groups (their arguments, space-separated) and the peer table's
    /// capacity, if any group.
    pub(crate) discover: Option<(&'a str, usize)>,
}

impl Render for Listening<'_> {
    fn name(&self) -> &'static str {
        "listening"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_fmt(format_args!(
            "listening on {}, {} peer{}",
            self.addr,
            self.peers,
            if self.peers == 1 { "" } else { "s" },
        ))?;
        if let Some((groups, capacity)) = self.discover {
            l.push_str(" and the group(s) ")?;
            push_name(l, groups)?;
            l.push_fmt(format_args!(" (max_peers {capacity})"))?;
        }
        l.push_fmt(format_args!(
            ", sending every {}",
            DisplayDuration(self.interval)
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.addr("addr", Some(self.addr))?
            .num("peers", self.peers as u64)?
            .num("interval_ms", self.interval.as_millis() as u64)?;
        if let Some((groups, capacity)) = self.discover {
            o.str("discover", groups)?
                .num("max_peers", capacity as u64)?;
        }
        Ok(())
    }
}

/// The summary's first line (and, in text, the table's header).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SummaryStart {
    /// Time since start.
    pub(crate) ran: Duration,
    /// Broadcasts made.
    pub(crate) broadcasts: u64,
}

/// The summary's name column: with the eight counts the table fits 80 columns. A longer
/// name has a line of its own, and an address that is not the name as written goes on the
/// line below the row (`  at 172.18.0.3:10003`).
const NAME_W: usize = 19;

impl Render for SummaryStart {
    fn name(&self) -> &'static str {
        "summary_start"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_fmt(format_args!(
            "summary after {}: {} broadcasts\n{:<NAME_W$}{:>6}{:>9}{:>6}{:>5}{:>10}{:>9}{:>8}{:>7}",
            DisplayDuration(self.ran),
            self.broadcasts,
            "peer",
            "sent",
            "received",
            "lost",
            "dup",
            "reordered",
            "restarts",
            "foreign",
            "errors"
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        // `ran` as the text shows it too, so both forms carry the same.
        o.num("ran_ms", self.ran.as_millis() as u64)?
            .num("broadcasts", self.broadcasts)?;
        Ok(())
    }
}

/// One row of the summary table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a> {
    /// The peer's name, or `None` for a sender that is not a peer.
    pub(crate) name: Option<&'a str>,
    /// Its address (`None` for a peer that never resolved).
    pub(crate) addr: Option<SocketAddr>,
    /// Counters sent to it (`None` for senders that are not peers).
    pub(crate) sent: Option<u64>,
    /// Send errors, including "connection refused".
    pub(crate) errors: u64,
    /// Sequence accounting of what it sent us.
    pub(crate) counts: Counts,
    /// Datagrams from it that were not counters (including truncated ones).
    pub(crate) foreign: u64,
    /// A discovered peer that left its group (gone from DNS).
    pub(crate) left: bool,
}

impl Render for Row<'_> {
    fn name(&self) -> &'static str {
        "summary"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        let mut name = Line::new();
        match self.name {
            Some(n) => push_name(&mut name, n)?,
            None => name.push_str("(not a peer)")?,
        }
        if self.left {
            name.push_str(" (left)")?;
        }
        let mut addr = Line::new();
        match self.addr {
            Some(a) => addr.push_addr(a)?,
            None => addr.push_str("(unresolved)")?,
        }
        let c = self.counts;
        if name.as_str().len() >= NAME_W {
            l.push_str(name.as_str())?;
            l.push_fmt(format_args!("\n{:NAME_W$}", ""))?;
        } else {
            l.push_fmt(format_args!("{:<NAME_W$}", name.as_str()))?;
        }
        // Each column as wide as its header and the space before it, and that space kept when
        // a count is wider than its header (the table then widens rather than run together).
        match self.sent {
            Some(s) => l.push_fmt(format_args!(" {s:>5}"))?,
            None => l.push_fmt(format_args!(" {:>5}", "-"))?,
        }
        l.push_fmt(format_args!(
            " {:>8} {:>5} {:>4} {:>9} {:>8} {:>7} {:>6}",
            c.received, c.lost, c.duplicated, c.reordered, c.restarts, self.foreign, self.errors
        ))?;
        let named_as_address = match (self.name, self.addr) {
            (Some(n), Some(a)) => same_text(n, a),
            _ => false,
        };
        if !named_as_address {
            l.push_fmt(format_args!("\n  at {}", addr.as_str()))?;
        }
        Ok(())
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        let c = self.counts;
        o.opt_str("peer", self.name)?
            .addr("addr", self.addr)?
            .opt_num("sent", self.sent)?
            .num("received", c.received)?
            .num("lost", c.lost)?
            .num("duplicated", c.duplicated)?
            .num("reordered", c.reordered)?
            .num("restarts", c.restarts)?
            .num("foreign", self.foreign)?
            .num("errors", self.errors)?;
        if self.left {
            o.bool("left", true)?;
        }
        Ok(())
    }
}

/// The row of a peer that had left, printed when a new peer takes its slot (a full table):
/// its accounting until then, since it will not be in the summary.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retired<'a>(pub(crate) Row<'a>);

impl Render for Retired<'_> {
    fn name(&self) -> &'static str {
        "peer_retired"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        let r = &self.0;
        let c = r.counts;
        l.push_str("peer ")?;
        push_name(l, r.name.unwrap_or("?"))?;
        l.push_str(" (left) gives its slot to a new peer (the table is full); its row: ")?;
        match r.addr {
            Some(a) => l.push_addr(a)?,
            None => l.push_str("(unresolved)")?,
        }
        l.push_fmt(format_args!(
            " sent {}, received {}, lost {}, duplicated {}, reordered {}, restarts {}, foreign {}, errors {}",
            r.sent.unwrap_or(0),
            c.received,
            c.lost,
            c.duplicated,
            c.reordered,
            c.restarts,
            r.foreign,
            r.errors
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        self.0.json(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    use crate::io::mesh::events::{Down, PeerEvent, PeerLine, Unusable};
    use crate::output::tests::{assert_same_fields, both};
    use crate::output::Output;

    fn who(name: Option<&str>) -> Who<'_> {
        Who {
            name,
            addr: "127.0.0.3:10003".parse().unwrap(),
        }
    }

    fn text(e: &impl Render) -> String {
        let mut l = Line::new();
        e.text(&mut l).unwrap();
        l.as_str().to_string()
    }

    /// A name that resolved once and then fails is said to no longer resolve, not "yet".
    #[test]
    fn unresolved_says_yet_only_before_the_first_answer() {
        let line = |event: &PeerEvent| {
            text(&PeerLine {
                name: "peer:10002",
                group: None,
                other: None,
                event,
            })
        };
        let why = || io::Error::other("no such name (NXDOMAIN)");
        assert_eq!(
            line(&PeerEvent::GroupUnresolved {
                g: 0,
                why: why(),
                before: false
            }),
            "group peer:10002 does not resolve yet (no such name (NXDOMAIN)); retrying"
        );
        assert_eq!(
            line(&PeerEvent::GroupUnresolved {
                g: 0,
                why: why(),
                before: true
            }),
            "group peer:10002 no longer resolves (no such name (NXDOMAIN)); retrying"
        );
        assert_eq!(
            line(&PeerEvent::Unresolved {
                i: 0,
                why: why(),
                before: true
            }),
            "peer peer:10002 no longer resolves (no such name (NXDOMAIN)); retrying"
        );
        // At start a container not up yet has no name: that is waiting, not a failure.
        assert_eq!(
            line(&PeerEvent::Unresolved {
                i: 0,
                why: io::Error::new(io::ErrorKind::NotFound, "no such name (NXDOMAIN)"),
                before: false
            }),
            "peer peer:10002 does not resolve yet (no such name (NXDOMAIN)): waiting for it to start (or is the name misspelt?); retrying"
        );
    }

    /// Golden: the handout's lines, byte for byte.
    #[test]
    fn received_lines() {
        let r = |who, payload| text(&Received { who, payload });
        assert_eq!(
            r(who(Some("p2:10003")), Payload::Counter(7, Verdict::InOrder)),
            "Received 7 from p2:10003 (127.0.0.3:10003)"
        );
        // A peer given as its address: the address once.
        assert_eq!(
            r(
                who(Some("127.0.0.3:10003")),
                Payload::Counter(7, Verdict::InOrder)
            ),
            "Received 7 from 127.0.0.3:10003"
        );
        assert_eq!(
            r(who(None), Payload::Counter(9, Verdict::Gap(2))),
            "Received 9 from 127.0.0.3:10003 [2 lost]"
        );
        assert_eq!(
            r(
                who(None),
                Payload::Foreign(b"\x1b]0;pwned\x07", WireError::NotDecimal)
            ),
            "Received \"\\x1b]0;pwned\\x07\" from 127.0.0.3:10003 [not a counter, 10 bytes]"
        );
        assert_eq!(
            r(who(None), Payload::Foreign(b"", WireError::Empty)),
            "Received \"\" from 127.0.0.3:10003 [empty, 0 bytes]"
        );
        assert_eq!(
            r(
                who(Some("p2\x1b[2J")),
                Payload::Counter(1, Verdict::InOrder)
            ),
            "Received 1 from p2\\x1b[2J (127.0.0.3:10003)",
            "a control character in a name from the command line is escaped too"
        );
    }

    /// Golden: the summary table.
    #[test]
    fn summary_table() {
        let mut buf = Vec::new();
        {
            let mut out = Output::new(&mut buf, false);
            out.emit(&SummaryStart {
                ran: Duration::from_millis(5500),
                broadcasts: 6,
            });
            out.emit(&Row {
                name: Some("127.0.0.3:10003"),
                addr: Some("127.0.0.3:10003".parse().unwrap()),
                sent: Some(6),
                errors: 0,
                counts: Counts {
                    received: 6,
                    lost: 2,
                    ..Counts::default()
                },
                foreign: 0,
                left: false,
            });
            out.emit(&Row {
                name: None,
                addr: Some("127.0.0.1:42785".parse().unwrap()),
                sent: None,
                errors: 0,
                counts: Counts {
                    received: 4,
                    ..Counts::default()
                },
                foreign: 0,
                left: false,
            });
            out.emit(&Row {
                name: Some("peer.lab.svc.cluster.local#12"),
                addr: Some("10.1.2.3:10002".parse().unwrap()),
                sent: Some(1234567),
                errors: 3,
                counts: Counts::default(),
                foreign: 0,
                left: true,
            });
            // Counts wider than their headers (a long run, a short interval): the columns
            // move right but never run together.
            out.emit(&Row {
                name: Some("127.0.0.4:10004"),
                addr: Some("127.0.0.4:10004".parse().unwrap()),
                sent: Some(123456),
                errors: 1234567,
                counts: Counts {
                    received: 123456789,
                    lost: 123456,
                    duplicated: 12345,
                    reordered: 1234567890,
                    restarts: 123456789,
                },
                foreign: 12345678,
                left: false,
            });
        }
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "summary after 5.5s: 6 broadcasts\n\
             peer                 sent received  lost  dup reordered restarts foreign errors\n\
             127.0.0.3:10003         6        6     2    0         0        0       0      0\n\
             (not a peer)            -        4     0    0         0        0       0      0\n  \
             at 127.0.0.1:42785\n\
             peer.lab.svc.cluster.local#12 (left)\n                    \
             1234567        0     0    0         0        0       0      3\n  \
             at 10.1.2.3:10002\n\
             127.0.0.4:10004     123456 123456789 123456 12345 1234567890 123456789 12345678 1234567\n"
        );
        // It fits an 80-column terminal (counts up to 99,999 sent; larger ones widen it).
        for line in text.lines().filter(|l| !l.contains("123456")) {
            assert!(line.chars().count() < 80, "{line:?}");
        }
    }

    #[test]
    fn long_payloads_are_cut_visibly_and_fit_the_line() {
        let big = [0x1bu8; 4096];
        let name = "n".repeat(crate::values::limits::MAX_NAME);
        let e = Received {
            who: who(Some(&name)),
            payload: Payload::Truncated(&big),
        };
        let (t, v) = both(&e);
        assert!(
            t.contains("\"...") && t.ends_with("[truncated: 4096 bytes or more]"),
            "{t}"
        );
        assert_eq!(v["payload_cut"], true);
        assert_eq!(v["payload"].as_str().unwrap().chars().count(), SHOW_MAX);
    }

    #[test]
    fn text_and_json_carry_the_same_fields() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let addr: SocketAddr = "127.0.0.3:10003".parse().unwrap();
        assert_same_fields(
            &Received {
                who: who(Some("p2:10003")),
                payload: Payload::Counter(9, Verdict::Gap(2)),
            },
            &["seq"],
        );
        assert_same_fields(
            &Received {
                who: who(None),
                payload: Payload::Foreign(b"hi\n", WireError::NotDecimal),
            },
            &["payload"],
        );
        assert_same_fields(
            &Listening {
                addr,
                peers: 2,
                interval: Duration::from_secs(1),
                discover: None,
            },
            &["interval_ms"],
        );
        assert_same_fields(
            &Listening {
                addr,
                peers: 0,
                interval: Duration::from_secs(1),
                discover: Some(("peer:10002 tasks.p:7", 64)),
            },
            &["interval_ms"],
        );
        assert_same_fields(
            &SummaryStart {
                ran: Duration::from_secs(5),
                broadcasts: 6,
            },
            &["ran_ms"],
        );
        assert_same_fields(
            &Row {
                name: Some("p2"),
                addr: Some(addr),
                sent: Some(3),
                errors: 4,
                counts: Counts {
                    received: 5,
                    lost: 6,
                    duplicated: 7,
                    reordered: 8,
                    restarts: 9,
                },
                foreign: 10,
                left: true,
            },
            &[],
        );
        for ev in [
            PeerEvent::Down {
                i: 0,
                addr: Some(addr),
                why: Down::Error(refused),
            },
            PeerEvent::Down {
                i: 0,
                addr: None,
                why: Down::Stopped,
            },
            PeerEvent::Up { i: 0, addr },
            PeerEvent::Resolved {
                i: 0,
                addr,
                moved: true,
            },
            PeerEvent::Unresolved {
                i: 0,
                why: io::Error::other("Name does not resolve"),
                before: false,
            },
            PeerEvent::Unreachable {
                i: 0,
                addr: "[::1]:10003".parse().unwrap(),
                local: addr,
                why: io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
            },
        ] {
            // The address of a down/up peer is in the JSON only (the text names the peer).
            assert_same_fields(
                &PeerLine {
                    name: "p2:10003",
                    group: None,
                    other: None,
                    event: &ev,
                },
                &["addr"],
            );
        }
        assert_same_fields(
            &Retired(Row {
                name: Some("peer#2"),
                addr: Some(addr),
                sent: Some(3),
                errors: 4,
                counts: Counts {
                    received: 5,
                    lost: 6,
                    duplicated: 7,
                    reordered: 8,
                    restarts: 9,
                },
                foreign: 10,
                left: true,
            }),
            &[],
        );
        for ev in [
            PeerEvent::Joined {
                i: 0,
                addr,
                again: true,
            },
            PeerEvent::Left {
                i: 0,
                addr,
                lookups: 2,
            },
            PeerEvent::OtherPort {
                i: 0,
                from: "127.0.0.3:40000".parse().unwrap(),
                port: 10003,
            },
            PeerEvent::GroupUnresolved {
                g: 0,
                why: io::Error::other("no such name (NXDOMAIN)"),
                before: true,
            },
            PeerEvent::TableFull {
                g: 0,
                addr,
                capacity: 64,
            },
            PeerEvent::NowNamed {
                i: 0,
                addr,
                named: 1,
            },
            PeerEvent::GroupUnusable {
                g: 0,
                ip: "0.0.0.0".parse().unwrap(),
                why: Unusable::NotUnicast,
                count: 2,
            },
            PeerEvent::GroupUnusable {
                g: 0,
                ip: "::1".parse().unwrap(),
                why: Unusable::OtherFamily,
                count: 1,
            },
            PeerEvent::Down {
                i: 0,
                addr: Some(addr),
                why: Down::Stopped,
            },
            PeerEvent::Up { i: 0, addr },
        ] {
            // Every field is in the text, the address too.
            let text = assert_same_fields(
                &PeerLine {
                    name: "peer#3",
                    group: Some("peer:10003"),
                    other: Some("p2:10003"),
                    event: &ev,
                },
                &[],
            );
            if let PeerEvent::Joined { .. } = ev {
                assert_eq!(
                    text,
                    "peer peer#3 joined again at 127.0.0.3:10003 (group peer:10003)"
                );
            }
        }
    }

    #[test]
    fn json_lines() {
        let (_, v) = both(&Received {
            who: who(Some("p\"2")),
            payload: Payload::Counter(3, Verdict::Duplicate),
        });
        assert_eq!(v["from"], "p\"2");
        assert_eq!(v["addr"], "127.0.0.3:10003");
        assert_eq!(v["counter"], 3);
        assert_eq!(v["seq"], "duplicate");
        let (_, v) = both(&PeerLine {
            name: "p2:10003",
            group: None,
            other: None,
            event: &PeerEvent::Down {
                i: 0,
                addr: None,
                why: Down::Error(io::Error::from(io::ErrorKind::ConnectionRefused)),
            },
        });
        assert_eq!(v["error"], "connection refused");
        assert!(v["addr"].is_null());
    }
}
