//! Lab 1's wire format: one short line of ASCII per datagram, readable and typeable with
//! `nc -u`. Fields are separated by one space; numbers are decimal.
//!
//! | message | sent by | meaning |
//! |---|---|---|
//! | `REQUEST <id> <inc> <T>` | a process | asks the others for the CS with timestamp T |
//! | `REPLY <id> <inc> <clock> <T> <to>` | a process | grants request T of incarnation `to`; `clock` is the sender's clock |
//! | `HELLO <id> <inc>` | a process | to the shared resource, at start: this is process `id`'s incarnation `inc` |
//! | `ENTER <id> <inc> <T> <clock> <text>` | a process | to the shared resource: inside, for request T |
//! | `EXIT <id> <inc> <T> <clock>` | a process | to the shared resource: left |
//! | `DEFERRED <id> <inc> <T> <to> <why>` | a process | to a requester: its request T (of incarnation `to`) is deferred, because `why`: `held` (inside the CS), `exit` (its EXIT not yet acknowledged), `join` (rejoining after a restart) or a number (its own request's T, which comes first); the requester then asks again only slowly |
//! | `ACK HELLO\|ENTER\|EXIT <id> <inc> <T>` | the resource | got it (stop resending) |
//! | `ROSTER <id> <inc> <digest>` | a process | to the others: its id and its list's digest (see `super::roster`; read before [`Msg::decode`]) |
//!
//! `inc` is the sender's incarnation: a number chosen at start (the start time in
//! milliseconds), larger after every restart, so a restarted process (its clock back at 0) is
//! never confused with its previous life: what an older incarnation asked or granted is void.
//!
//! Over UDP any of these can be lost or duplicated: a process resends a REQUEST until the
//! REPLY for that T arrives (a REPLY is resent when a duplicate REQUEST comes), and
//! HELLO/ENTER/EXIT until acknowledged. The incarnation and the request timestamp T name the
//! request in every message, so duplicates are recognised. [`Msg::decode`] never panics; bad
//! input is a [`LabWireError`].
//!
//! **With a shared key** (`--key-file`, see [`super::auth`]) every message ends in
//! ` mac=<64 hex digits>`: HMAC-SHA256 under the key of `"<receiver>\n<text>"`, where `text`
//! is the message before ` mac=` and `receiver` is `resource` or `process <id>` (not sent:
//! each side knows it). A receiver with the key takes only messages whose tag is right
//! (checked in constant time, before decoding) and rejects the others as "bad or missing MAC";
//! one without a key rejects a message that carries a tag. The counter peer's format is
//! never tagged.

use core::fmt::{self, Write as _};
use std::time::Duration;

/// Longest text carried by ENTER.
pub const MAX_TEXT: usize = 64;
/// Longest encoded message: ENTER with four 20-digit numbers and [`MAX_TEXT`] bytes of text
/// fits with room to spare.
pub(crate) const MAX_MSG: usize = 176;

/// A process's incarnation: chosen at start, larger after each restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Inc(pub u64);

impl fmt::Display for Inc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A process id: 1..=N, as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u16);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which message an ACK acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckOf {
    /// `ACK HELLO`: the resource knows this incarnation.
    Hello,
    /// `ACK ENTER`: the resource recorded the entry.
    Enter,
    /// `ACK EXIT`: the resource recorded the exit.
    Exit,
}

/// One Lab 1 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Msg {
    /// `REQUEST id inc t`, to every other process: `id` wants the CS; `t` is its request
    /// timestamp.
    Request {
        /// The requesting process (the sender).
        id: PeerId,
        /// The sender's incarnation.
        inc: Inc,
        /// Request timestamp (the Lamport clock right after the request's tick).
        t: u64,
    },
    /// `REPLY id inc clock t to`, to the requester: `id` grants the request with timestamp
    /// `t` of the requester's incarnation `to`.
    Reply {
        /// The granting process (the sender), not the requester.
        id: PeerId,
        /// The sender's incarnation.
        inc: Inc,
        /// Sender's clock when sending (a reply does not tick).
        clock: u64,
        /// The request it answers.
        t: u64,
        /// The requester's incarnation that asked: a grant to an earlier life is void.
        to: Inc,
    },
    /// `HELLO id inc`, to the shared resource at start: process `id` is (again) alive as
    /// incarnation `inc`; a CS its earlier incarnation held ended without EXIT.
    Hello {
        /// The process (the sender).
        id: PeerId,
        /// Its new incarnation.
        inc: Inc,
    },
    /// `ENTER id inc t clock text`, to the shared resource: `id` entered the CS for its
    /// request `t`.
    Enter {
        /// The process inside (the sender).
        id: PeerId,
        /// The sender's incarnation.
        inc: Inc,
        /// The timestamp of the request that was granted; the resource checks that entries
        /// come in (T, id) order.
        t: u64,
        /// The sender's Lamport clock at entry; the resource prints it.
        clock: u64,
        /// A short text (`Oi`), printed by the resource.
        text: heapless::String<MAX_TEXT>,
    },
    /// `EXIT id inc t clock`, to the shared resource: `id` left the CS of request `t`.
    Exit {
        /// The process leaving (the sender).
        id: PeerId,
        /// The sender's incarnation.
        inc: Inc,
        /// The same request timestamp as its ENTER, which pairs the two.
        t: u64,
        /// The sender's Lamport clock at exit; the resource prints it.
        clock: u64,
    },
    /// `DEFERRED id inc t to why`, to a requester: `id` defers its request `t` (of the
    /// requester's incarnation `to`) because `why`. It grants nothing and does not tick: the
    /// requester only stops resending fast to `id` (it still asks again slowly).
    Deferred {
        /// The deferring process (the sender).
        id: PeerId,
        /// The sender's incarnation.
        inc: Inc,
        /// The deferred request's timestamp.
        t: u64,
        /// The requester's incarnation that asked.
        to: Inc,
        /// Why it waits.
        why: Why,
    },
    /// `ACK HELLO|ENTER|EXIT id inc t`, from the shared resource: the message of (`id`,
    /// `inc`, `t`) was received (`t` is 0 for HELLO). It echoes them, so a late ACK of an
    /// earlier request is not mistaken for the current one's.
    Ack {
        /// Which message is acknowledged.
        of: AckOf,
        /// The process whose message is acknowledged (the ACK's receiver, not its sender).
        id: PeerId,
        /// Its incarnation.
        inc: Inc,
        /// The request timestamp of the acknowledged message.
        t: u64,
    },
}

/// Why a process defers a REQUEST (the four reasons Ricart–Agrawala has, and peerlab's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Why {
    /// It holds the CS (`held`).
    Held,
    /// It left the CS; its EXIT is not yet acknowledged by the resource (`exit`).
    Exit,
    /// It is rejoining after a restart: the resource has not yet heard it (`join`).
    Join,
    /// Its own request, with this T, comes first.
    First(u64),
}

impl fmt::Display for Why {
    /// As on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Held => f.write_str("held"),
            Why::Exit => f.write_str("exit"),
            Why::Join => f.write_str("join"),
            Why::First(t) => t.fmt(f),
        }
    }
}

/// The type of a message, without its fields (for events and statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// [`Msg::Request`].
    Request,
    /// [`Msg::Reply`].
    Reply,
    /// [`Msg::Enter`].
    Enter,
    /// [`Msg::Exit`].
    Exit,
    /// [`Msg::Hello`].
    Hello,
    /// [`Msg::Ack`] (`ACK HELLO`, `ACK ENTER` or `ACK EXIT`).
    Ack,
    /// [`Msg::Deferred`].
    Deferred,
}

impl Kind {
    /// The message's first word, as on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "REQUEST",
            Kind::Reply => "REPLY",
            Kind::Enter => "ENTER",
            Kind::Exit => "EXIT",
            Kind::Hello => "HELLO",
            Kind::Ack => "ACK",
            Kind::Deferred => "DEFERRED",
        }
    }
}

/// Why a datagram is not a Lab 1 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabWireError {
    /// Not ASCII text (or contains control characters).
    NotText,
    /// The first word is not a message type.
    UnknownType,
    /// A field is missing or there are too many.
    Fields,
    /// A number is not a decimal that fits.
    Number,
    /// Id 0 (ids start at 1).
    ZeroId,
    /// ENTER's text is longer than [`MAX_TEXT`].
    TextTooLong,
}

impl fmt::Display for LabWireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabWireError::NotText => "not printable ASCII",
            LabWireError::UnknownType => "unknown message type",
            LabWireError::Fields => "wrong number of fields",
            LabWireError::Number => "bad number",
            LabWireError::ZeroId => "id 0",
            LabWireError::TextTooLong => "text too long",
        })
    }
}

impl std::error::Error for LabWireError {}

/// An encoded message, as [`Msg::encode`] writes it: one line of ASCII, no newline.
pub(crate) type MsgBuf = heapless::String<MAX_MSG>;

impl Msg {
    /// Writes the message as one line (no newline).
    #[must_use]
    pub fn encode(&self) -> MsgBuf {
        let mut s = MsgBuf::new();
        // Cannot fail: the longest message (ENTER with 20-digit numbers and MAX_TEXT bytes)
        // is under MAX_MSG bytes.
        let r = match self {
            Msg::Request { id, inc, t } => write!(s, "REQUEST {id} {inc} {t}"),
            Msg::Reply {
                id,
                inc,
                clock,
                t,
                to,
            } => write!(s, "REPLY {id} {inc} {clock} {t} {to}"),
            Msg::Hello { id, inc } => write!(s, "HELLO {id} {inc}"),
            Msg::Enter {
                id,
                inc,
                t,
                clock,
                text,
            } => write!(s, "ENTER {id} {inc} {t} {clock} {text}"),
            Msg::Exit { id, inc, t, clock } => write!(s, "EXIT {id} {inc} {t} {clock}"),
            Msg::Deferred {
                id,
                inc,
                t,
                to,
                why,
            } => write!(s, "DEFERRED {id} {inc} {t} {to} {why}"),
            Msg::Ack { of, id, inc, t } => {
                let of = match of {
                    AckOf::Hello => "HELLO",
                    AckOf::Enter => "ENTER",
                    AckOf::Exit => "EXIT",
                };
                write!(s, "ACK {of} {id} {inc} {t}")
            }
        };
        r.expect("every message fits MAX_MSG");
        s
    }

    /// Reads one message. A trailing newline (from `nc`) is accepted.
    pub fn decode(bytes: &[u8]) -> Result<Msg, LabWireError> {
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().any(|b| !(0x20..0x7f).contains(b)) {
            return Err(LabWireError::NotText);
        }
        // Cannot fail: printable ASCII is UTF-8.
        let line = core::str::from_utf8(bytes).map_err(|_| LabWireError::NotText)?;
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "REQUEST" => {
                let [id, inc, t] = fields(rest)?;
                Ok(Msg::Request {
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                    t: num(t)?,
                })
            }
            "REPLY" => {
                let [id, inc, clock, t, to] = fields(rest)?;
                Ok(Msg::Reply {
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                    clock: num(clock)?,
                    t: num(t)?,
                    to: Inc(num(to)?),
                })
            }
            "HELLO" => {
                let [id, inc] = fields(rest)?;
                Ok(Msg::Hello {
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                })
            }
            "ENTER" => {
                let mut it = rest.splitn(5, ' ');
                let (Some(id), Some(inc), Some(t), Some(clock)) =
                    (it.next(), it.next(), it.next(), it.next())
                else {
                    return Err(LabWireError::Fields);
                };
                let text = it.next().unwrap_or("");
                Ok(Msg::Enter {
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                    t: num(t)?,
                    clock: num(clock)?,
                    text: heapless::String::try_from(text)
                        .map_err(|_| LabWireError::TextTooLong)?,
                })
            }
            "EXIT" => {
                let [id, inc, t, clock] = fields(rest)?;
                Ok(Msg::Exit {
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                    t: num(t)?,
                    clock: num(clock)?,
                })
            }
            "DEFERRED" => {
                let [id, inc, t, to, why] = fields(rest)?;
                let why = match why {
                    "held" => Why::Held,
                    "exit" => Why::Exit,
                    "join" => Why::Join,
                    t => Why::First(num(t)?),
                };
                Ok(Msg::Deferred {
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                    t: num(t)?,
                    to: Inc(num(to)?),
                    why,
                })
            }
            "ACK" => {
                let [of, id, inc, t] = fields(rest)?;
                let of = match of {
                    "HELLO" => AckOf::Hello,
                    "ENTER" => AckOf::Enter,
                    "EXIT" => AckOf::Exit,
                    _ => return Err(LabWireError::UnknownType),
                };
                Ok(Msg::Ack {
                    of,
                    id: id_of(id)?,
                    inc: Inc(num(inc)?),
                    t: num(t)?,
                })
            }
            _ => Err(LabWireError::UnknownType),
        }
    }

    /// The message's type.
    pub fn kind(&self) -> Kind {
        match self {
            Msg::Request { .. } => Kind::Request,
            Msg::Reply { .. } => Kind::Reply,
            Msg::Enter { .. } => Kind::Enter,
            Msg::Exit { .. } => Kind::Exit,
            Msg::Hello { .. } => Kind::Hello,
            Msg::Ack { .. } => Kind::Ack,
            Msg::Deferred { .. } => Kind::Deferred,
        }
    }

    /// The sender's incarnation (the acknowledged process's, for ACK).
    pub(crate) fn inc(&self) -> Inc {
        match self {
            Msg::Request { inc, .. }
            | Msg::Reply { inc, .. }
            | Msg::Hello { inc, .. }
            | Msg::Enter { inc, .. }
            | Msg::Exit { inc, .. }
            | Msg::Deferred { inc, .. }
            | Msg::Ack { inc, .. } => *inc,
        }
    }

    /// The request timestamp T that the message is about (0 for HELLO).
    pub(crate) fn t(&self) -> u64 {
        match self {
            Msg::Request { t, .. }
            | Msg::Reply { t, .. }
            | Msg::Enter { t, .. }
            | Msg::Exit { t, .. }
            | Msg::Deferred { t, .. }
            | Msg::Ack { t, .. } => *t,
            Msg::Hello { .. } => 0,
        }
    }

    /// The sender's id (the acknowledged process's, for ACK).
    pub(crate) fn id(&self) -> PeerId {
        match self {
            Msg::Request { id, .. }
            | Msg::Reply { id, .. }
            | Msg::Hello { id, .. }
            | Msg::Enter { id, .. }
            | Msg::Exit { id, .. }
            | Msg::Deferred { id, .. }
            | Msg::Ack { id, .. } => *id,
        }
    }
}

/// Exactly `N` space-separated fields.
fn fields<const N: usize>(rest: &str) -> Result<[&str; N], LabWireError> {
    let mut out = [""; N];
    let mut it = rest.split(' ');
    for slot in out.iter_mut() {
        *slot = it
            .next()
            .filter(|f| !f.is_empty())
            .ok_or(LabWireError::Fields)?;
    }
    if it.next().is_some() {
        return Err(LabWireError::Fields);
    }
    Ok(out)
}

fn num(s: &str) -> Result<u64, LabWireError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LabWireError::Number);
    }
    s.parse().map_err(|_| LabWireError::Number)
}

fn id_of(s: &str) -> Result<PeerId, LabWireError> {
    let n = num(s)?;
    match u16::try_from(n) {
        Ok(0) => Err(LabWireError::ZeroId),
        Ok(id) => Ok(PeerId(id)),
        Err(_) => Err(LabWireError::Number),
    }
}

/// How far in the future another host's clock may be: an incarnation (a start time) beyond the
/// wall clock plus this is forged.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// The largest Lab 1 incarnation an honest process can have now: the wall clock, in
/// milliseconds since the UNIX epoch, plus [`CLOCK_SKEW`]. Read at the edge by the adapters and
/// handed to the cores (`limit_incarnations`), which never read a clock.
pub(crate) fn incarnation_limit() -> Inc {
    Inc(crate::values::time::wall_ms() + CLOCK_SKEW.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Msg> {
        vec![
            Msg::Request {
                id: PeerId(1),
                inc: Inc(7),
                t: 2,
            },
            Msg::Reply {
                id: PeerId(3),
                inc: Inc(7),
                to: Inc(8),
                clock: 7,
                t: 2,
            },
            Msg::Enter {
                id: PeerId(2),
                inc: Inc(7),
                t: 4,
                clock: 9,
                text: heapless::String::try_from("Oi from p2").unwrap(),
            },
            Msg::Enter {
                id: PeerId(2),
                inc: Inc(7),
                t: 4,
                clock: 9,
                text: heapless::String::new(),
            },
            Msg::Exit {
                id: PeerId(2),
                inc: Inc(u64::MAX),
                t: 4,
                clock: 10,
            },
            Msg::Ack {
                of: AckOf::Enter,
                id: PeerId(2),
                inc: Inc(7),
                t: 4,
            },
            Msg::Hello {
                id: PeerId(3),
                inc: Inc(1_795_766_400_123),
            },
            Msg::Ack {
                of: AckOf::Exit,
                id: PeerId(65535),
                inc: Inc(7),
                t: u64::MAX,
            },
            Msg::Enter {
                id: PeerId(65535),
                inc: Inc(7),
                t: u64::MAX,
                clock: u64::MAX,
                text: heapless::String::try_from("x".repeat(MAX_TEXT).as_str()).unwrap(),
            },
            Msg::Deferred {
                id: PeerId(1),
                inc: Inc(7),
                t: 3,
                to: Inc(8),
                why: Why::Held,
            },
            Msg::Deferred {
                id: PeerId(2),
                inc: Inc(7),
                t: 3,
                to: Inc(8),
                why: Why::Exit,
            },
            Msg::Deferred {
                id: PeerId(3),
                inc: Inc(7),
                t: 3,
                to: Inc(8),
                why: Why::Join,
            },
            Msg::Deferred {
                id: PeerId(65535),
                inc: Inc(u64::MAX),
                t: u64::MAX,
                to: Inc(u64::MAX),
                why: Why::First(u64::MAX),
            },
        ]
    }

    #[test]
    fn round_trips() {
        for m in all() {
            let e = m.encode();
            assert_eq!(Msg::decode(e.as_bytes()), Ok(m.clone()), "{e}");
            let mut nl = e.as_bytes().to_vec();
            nl.push(b'\n');
            assert_eq!(Msg::decode(&nl), Ok(m));
        }
        assert_eq!(
            Msg::Request {
                id: PeerId(1),
                inc: Inc(7),
                t: 2
            }
            .encode()
            .as_str(),
            "REQUEST 1 7 2"
        );
    }

    #[test]
    fn rejections() {
        use LabWireError::*;
        let cases: &[(&[u8], LabWireError)] = &[
            (b"", UnknownType),
            (b"GOODBYE 1 2", UnknownType),
            (b"HELLO 1", Fields),
            (b"REQUEST 1 2", Fields),
            (b"request 1 2", UnknownType),
            (b"REQUEST 1", Fields),
            (b"REQUEST 1 5 2 3", Fields),
            (b"REQUEST  1 5 2", Fields),
            (b"REQUEST 1 5 2 ", Fields),
            (b"REQUEST 0 5 2", ZeroId),
            (b"REQUEST 65536 5 2", Number),
            (b"REQUEST -1 5 2", Number),
            (b"REQUEST 1 5 +2", Number),
            (b"REQUEST 1 5 99999999999999999999", Number),
            (b"REPLY 1 5 2 3", Fields),
            (b"DEFERRED 1 5 2 3", Fields),
            (b"DEFERRED 1 5 2 3 held x", Fields),
            (b"DEFERRED 1 5 2 3 HELD", Number),
            (b"DEFERRED 1 5 2 3 -1", Number),
            (b"DEFERRED 0 5 2 3 held", ZeroId),
            (b"ENTER 1 5 2", Fields),
            (b"EXIT 1 5 2", Fields),
            (b"ACK LEAVE 1 5 2", UnknownType),
            (b"REQUEST 1 5 2\x1b[2J", NotText),
            (b"\xff\xfe", NotText),
        ];
        for (input, want) in cases {
            assert_eq!(
                Msg::decode(input),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = format!("ENTER 1 5 2 3 {}", "x".repeat(MAX_TEXT + 1));
        assert_eq!(Msg::decode(long.as_bytes()), Err(TextTooLong));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let alphabet = b"REQUESTPLYNXAK 0123456789\n\x00\xff";
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((x >> (i % 50)) as usize + i) % alphabet.len()])
                .collect();
            let _ = Msg::decode(&bytes);
        }
    }
}
