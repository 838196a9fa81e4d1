//! Everything the peer prints, as text (the handout's `Received 7 from ...`) or, with `--json`,
//! one JSON object per line. Each line is built in a fixed [`Line`] buffer and written with a
//! single `write_all`, so lines never interleave and nothing is allocated.
//!
//! Bytes from the network are never written raw: [`push_escaped`] turns control characters,
//! bidirectional overrides and invalid UTF-8 into visible escapes, so a datagram cannot move the
//! cursor, change colours or hide text in a student's terminal.

// Lines carry their own `\n` because each is built whole, then written with one `write_all`.
#![allow(clippy::write_with_newline)]

use core::fmt::Write as _;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::account::{Counts, Verdict};
use crate::limits::{LINE_MAX, SHOW_MAX};
use crate::wire::WireError;

/// One output line, built before it is written: a fixed buffer of [`LINE_MAX`] bytes that
/// only ever holds whole `&str`s and `char`s, so it is always UTF-8. (Not `heapless::String`,
/// whose `push_str` copies byte by byte: this is the per-datagram path, and a `memcpy` makes
/// the whole line twice as fast.)
#[derive(Debug, Clone)]
pub struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Line {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    /// Appends `s`, or leaves the line as it was if it does not fit.
    pub fn push_str(&mut self, s: &str) -> Result<(), LineFull> {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(LineFull)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }

    /// Appends ASCII (digits, dots, colons: numbers and addresses) without re-checking it:
    /// the per-datagram path prints six numbers per line.
    fn push_digits(&mut self, digits: &[u8]) -> Result<(), LineFull> {
        debug_assert!(digits.is_ascii());
        let end = self.len + digits.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(LineFull)?
            .copy_from_slice(digits);
        self.len = end;
        Ok(())
    }

    /// Appends one character.
    pub fn push(&mut self, c: char) -> Result<(), LineFull> {
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }

    /// The bytes so far (valid UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The line as text.
    pub fn as_str(&self) -> &str {
        // Cannot fail: only `&str`s and `char`s are ever pushed, whole.
        core::str::from_utf8(self.as_bytes()).expect("a Line holds whole UTF-8 pieces")
    }

    /// Empties the line.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_str(s).map_err(|_| core::fmt::Error)
    }
}

/// A line did not fit in [`Line`]: a bug in [`LINE_MAX`], reported instead of cutting the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFull;

fn full<E>(_: E) -> LineFull {
    LineFull
}

/// Who a datagram came from: a configured peer (its name as the user wrote it) or a bare address.
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

/// Why a peer is down.
#[derive(Debug, Clone, Copy)]
pub enum Down<'a> {
    /// A send or receive on its socket failed.
    Error(&'a io::Error),
    /// It said goodbye (it was stopped).
    Stopped,
}

/// One row of the summary table.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The peer's name, or `None` for a sender that is not a peer.
    pub name: Option<&'a str>,
    /// Its address (`None` for a peer that never resolved).
    pub addr: Option<SocketAddr>,
    /// Counters sent to it (`None` for senders that are not peers).
    pub sent: Option<u64>,
    /// Send errors, including "connection refused".
    pub errors: u64,
    /// Sequence accounting of what it sent us.
    pub counts: Counts,
    /// Datagrams from it that were not counters (including truncated ones).
    pub foreign: u64,
}

/// The output sink: text or JSON lines, to any writer (stdout in the program, a sink in tests).
#[derive(Debug)]
pub struct Output<W: Write> {
    w: W,
    json: bool,
    start: Instant,
    /// Built here, then written at once; boxed so that an `Output` is cheap to move.
    line: Box<Line>,
}

impl<W: Write> Output<W> {
    /// Lines go to `w`; `json` selects one JSON object per line.
    pub fn new(w: W, json: bool) -> Self {
        Output {
            w,
            json,
            start: Instant::now(),
            line: Box::new(Line::new()),
        }
    }

    /// `Received 7 from p2:10003 (172.18.0.3:10003)`, with a note when the sequence says more.
    pub fn received(&mut self, who: Who<'_>, payload: Payload<'_>) {
        let r = if self.json {
            self.json_received(who, payload)
        } else {
            text_received(&mut self.line, who, payload)
        };
        self.emit(r);
    }

    /// `peer p2:10003 down: connection refused` (once per transition).
    pub fn peer_down(&mut self, name: &str, addr: Option<SocketAddr>, why: Down<'_>) {
        let r = if self.json {
            self.json_head("peer_down").and_then(|_| {
                let l = &mut self.line;
                json_field_str(l, "peer", name)?;
                json_addr(l, "addr", addr)?;
                l.push_str(",\"error\":\"").map_err(full)?;
                push_down(l, why)?;
                l.push_str("\"}\n").map_err(full)
            })
        } else {
            let l = &mut self.line;
            (|| {
                write!(l, "peer {name} down: ").map_err(full)?;
                push_down(l, why)?;
                l.push('\n').map_err(full)
            })()
        };
        self.emit(r);
    }

    /// `peer p2:10003 up` (after it was down).
    pub fn peer_up(&mut self, name: &str, addr: SocketAddr) {
        self.peer_event("peer_up", name, Some(addr), "up");
    }

    /// A peer's name resolved to an address for the first time, or to a new one.
    pub fn peer_resolved(&mut self, name: &str, addr: SocketAddr, moved: bool) {
        let text = if moved { "moved to" } else { "is at" };
        self.peer_event("peer_resolved", name, Some(addr), text);
    }

    /// A peer's name does not resolve (yet); it is retried.
    pub fn peer_unresolved(&mut self, name: &str, why: &io::Error) {
        let r = if self.json {
            self.json_head("peer_unresolved").and_then(|_| {
                let l = &mut self.line;
                json_field_str(l, "peer", name)?;
                l.push_str(",\"error\":\"").map_err(full)?;
                push_display(l, why, true)?;
                l.push_str("\"}\n").map_err(full)
            })
        } else {
            let l = &mut self.line;
            (|| {
                write!(l, "peer {name} does not resolve yet (").map_err(full)?;
                push_display(l, why, false)?;
                l.push_str("); retrying\n").map_err(full)
            })()
        };
        self.emit(r);
    }

    /// A free-form notice (start-up facts, fallbacks, a loop that fell behind).
    pub fn notice(&mut self, args: core::fmt::Arguments<'_>) {
        let r = if self.json {
            self.json_head("notice").and_then(|_| {
                let l = &mut self.line;
                l.push_str(",\"text\":\"").map_err(full)?;
                let mut tmp = Line::new();
                tmp.write_fmt(args).map_err(full)?;
                push_escaped(l, tmp.as_bytes(), true)?;
                l.push_str("\"}\n").map_err(full)
            })
        } else {
            let l = &mut self.line;
            l.write_fmt(args)
                .and_then(|_| l.write_char('\n'))
                .map_err(full)
        };
        self.emit(r);
    }

    /// A line of some other mode (Lab 1): `text` in text mode; in JSON mode an object with
    /// `event`, `t_ms` and the `json` fields (written by the caller as `"key":value,...`,
    /// strings through [`JsonEsc`]).
    pub fn event(
        &mut self,
        name: &str,
        text: core::fmt::Arguments<'_>,
        json: core::fmt::Arguments<'_>,
    ) {
        let r = if self.json {
            self.json_head(name).and_then(|_| {
                let l = &mut self.line;
                l.push(',').map_err(full)?;
                l.write_fmt(json).map_err(full)?;
                l.push_str("}\n").map_err(full)
            })
        } else {
            let l = &mut self.line;
            l.write_fmt(text)
                .and_then(|_| l.write_char('\n'))
                .map_err(full)
        };
        self.emit(r);
    }

    /// A datagram that was not taken: `ignored from 1.2.3.4:5: "payload" (why, 9 bytes)`.
    /// `verb` is the JSON event name too (`ignored`, `rejected`); the payload is escaped and
    /// cut at [`SHOW_MAX`] bytes.
    pub fn refused(
        &mut self,
        verb: &str,
        from: SocketAddr,
        bytes: &[u8],
        why: &dyn core::fmt::Display,
    ) {
        let shown = &bytes[..bytes.len().min(SHOW_MAX)];
        self.event(
            verb,
            format_args!(
                "{verb} from {from}: \"{}\" ({why}, {} bytes)",
                Esc(shown),
                bytes.len()
            ),
            format_args!(
                "\"from\":\"{from}\",\"payload\":\"{}\",\"bytes\":{},\"error\":\"{why}\"",
                JsonEsc(shown),
                bytes.len()
            ),
        );
    }

    /// The start line: where we listen, how many peers, how often.
    pub fn listening(&mut self, addr: SocketAddr, peers: usize, interval: Duration) {
        let r = if self.json {
            self.json_head("listening").and_then(|_| {
                let l = &mut self.line;
                json_addr(l, "addr", Some(addr))?;
                write!(
                    l,
                    ",\"peers\":{peers},\"interval_ms\":{}}}\n",
                    interval.as_millis()
                )
                .map_err(full)
            })
        } else {
            write!(
                self.line,
                "listening on {addr}, {peers} peer{}, sending every {}\n",
                if peers == 1 { "" } else { "s" },
                crate::cli::DisplayDuration(interval)
            )
            .map_err(full)
        };
        self.emit(r);
    }

    /// The header of the summary table (text only).
    pub fn summary_header(&mut self, ran: Duration, sent: u64) {
        let r = if self.json {
            self.json_head("summary_start").and_then(|_| {
                write!(
                    self.line,
                    ",\"ran_ms\":{},\"broadcasts\":{sent}}}\n",
                    ran.as_millis()
                )
                .map_err(full)
            })
        } else {
            write!(
                self.line,
                "summary after {}: {sent} broadcasts\n{:<24} {:<22} {:>8} {:>8} {:>6} {:>5} {:>9} {:>7} {:>7} {:>8}\n",
                crate::cli::DisplayDuration(ran),
                "peer",
                "address",
                "sent",
                "received",
                "lost",
                "dup",
                "reordered",
                "restarts",
                "foreign",
                "errors"
            )
            .map_err(full)
        };
        self.emit(r);
    }

    /// One row of the summary.
    pub fn summary_row(&mut self, row: Row<'_>) {
        let c = row.counts;
        let r = if self.json {
            self.json_head("summary").and_then(|_| {
                let l = &mut self.line;
                match row.name {
                    Some(n) => json_field_str(l, "peer", n)?,
                    None => l.push_str(",\"peer\":null").map_err(full)?,
                }
                json_addr(l, "addr", row.addr)?;
                match row.sent {
                    Some(s) => write!(l, ",\"sent\":{s}").map_err(full)?,
                    None => l.push_str(",\"sent\":null").map_err(full)?,
                }
                write!(
                    l,
                    ",\"received\":{},\"lost\":{},\"duplicated\":{},\"reordered\":{},\"restarts\":{},\"foreign\":{},\"errors\":{}}}\n",
                    c.received, c.lost, c.duplicated, c.reordered, c.restarts, row.foreign, row.errors
                )
                .map_err(full)
            })
        } else {
            let l = &mut self.line;
            (|| {
                match row.name {
                    Some(n) => write!(l, "{n:<24} ").map_err(full)?,
                    None => write!(l, "{:<24} ", "(not a peer)").map_err(full)?,
                }
                let mut addr: heapless::String<48> = heapless::String::new();
                match row.addr {
                    Some(a) => write!(addr, "{a}").map_err(full)?,
                    None => addr.push_str("(unresolved)").map_err(full)?,
                }
                write!(l, "{addr:<22} ").map_err(full)?;
                match row.sent {
                    Some(s) => write!(l, "{s:>8} ").map_err(full)?,
                    None => write!(l, "{:>8} ", "-").map_err(full)?,
                }
                write!(
                    l,
                    "{:>8} {:>6} {:>5} {:>9} {:>7} {:>7} {:>8}\n",
                    c.received,
                    c.lost,
                    c.duplicated,
                    c.reordered,
                    c.restarts,
                    row.foreign,
                    row.errors
                )
                .map_err(full)
            })()
        };
        self.emit(r);
    }

    fn peer_event(&mut self, event: &str, name: &str, addr: Option<SocketAddr>, text: &str) {
        let r = if self.json {
            self.json_head(event).and_then(|_| {
                let l = &mut self.line;
                json_field_str(l, "peer", name)?;
                json_addr(l, "addr", addr)?;
                l.push_str("}\n").map_err(full)
            })
        } else {
            let l = &mut self.line;
            match addr {
                Some(a) if text != "up" => write!(l, "peer {name} {text} {a}\n"),
                _ => write!(l, "peer {name} {text}\n"),
            }
            .map_err(full)
        };
        self.emit(r);
    }

    fn json_head(&mut self, event: &str) -> Result<(), LineFull> {
        let ms = self.start.elapsed().as_millis() as u64;
        let l = &mut self.line;
        l.push_str("{\"event\":\"").map_err(full)?;
        l.push_str(event).map_err(full)?;
        l.push_str("\",\"t_ms\":").map_err(full)?;
        push_num(l, ms)
    }

    fn json_received(&mut self, who: Who<'_>, payload: Payload<'_>) -> Result<(), LineFull> {
        self.json_head("received")?;
        let l = &mut self.line;
        match who.name {
            Some(n) => json_field_str(l, "from", n)?,
            None => l.push_str(",\"from\":null").map_err(full)?,
        }
        json_addr(l, "addr", Some(who.addr))?;
        match payload {
            Payload::Counter(n, v) => {
                l.push_str(",\"counter\":").map_err(full)?;
                push_num(l, n)?;
                let seq = match v {
                    Verdict::First => "first",
                    Verdict::InOrder => "in_order",
                    Verdict::Gap(_) => "gap",
                    Verdict::Duplicate => "duplicate",
                    Verdict::Late => "late",
                    Verdict::Restart => "restart",
                };
                write!(l, ",\"seq\":\"{seq}\"").map_err(full)?;
                if let Verdict::Gap(g) = v {
                    write!(l, ",\"missing\":{g}").map_err(full)?;
                }
            }
            Payload::Foreign(bytes, why) => {
                json_payload(l, bytes)?;
                write!(l, ",\"bytes\":{},\"error\":\"{why}\"", bytes.len()).map_err(full)?;
            }
            Payload::Truncated(bytes) => {
                json_payload(l, bytes)?;
                write!(l, ",\"bytes\":{},\"truncated\":true", bytes.len()).map_err(full)?;
            }
        }
        l.push_str("}\n").map_err(full)
    }

    /// Writes the built line. A line that did not fit is a bug in [`LINE_MAX`]; it is
    /// replaced by a line saying so rather than cut silently.
    fn emit(&mut self, built: Result<(), LineFull>) {
        if built.is_err() {
            self.line.clear();
            let _ = self
                .line
                .push_str("peerlab: output line too long, not printed (please report)\n");
        }
        // Output errors (a closed pipe) must not stop the peer; there is nobody to tell.
        let _ = self.w.write_all(self.line.as_bytes());
        let _ = self.w.flush();
        self.line.clear();
    }
}

fn text_received(l: &mut Line, who: Who<'_>, payload: Payload<'_>) -> Result<(), LineFull> {
    l.push_str("Received ").map_err(full)?;
    match payload {
        Payload::Counter(n, _) => push_num(l, n)?,
        Payload::Foreign(bytes, _) | Payload::Truncated(bytes) => text_payload(l, bytes)?,
    }
    l.push_str(" from ").map_err(full)?;
    match who.name {
        Some(name) => {
            l.push_str(name).map_err(full)?;
            l.push_str(" (").map_err(full)?;
            push_addr(l, who.addr)?;
            l.push(')').map_err(full)?;
        }
        None => push_addr(l, who.addr)?,
    }
    match payload {
        Payload::Counter(_, Verdict::Gap(g)) => write!(l, " [{g} lost]").map_err(full)?,
        Payload::Counter(_, Verdict::Duplicate) => l.push_str(" [duplicate]").map_err(full)?,
        Payload::Counter(_, Verdict::Late) => l.push_str(" [late]").map_err(full)?,
        Payload::Counter(_, Verdict::Restart) => l.push_str(" [restarted]").map_err(full)?,
        Payload::Counter(..) => {}
        Payload::Foreign(bytes, why) => {
            write!(l, " [{why}, {} byte{}]", bytes.len(), plural(bytes.len())).map_err(full)?
        }
        Payload::Truncated(bytes) => {
            write!(l, " [truncated: {} bytes or more]", bytes.len()).map_err(full)?
        }
    }
    l.push('\n').map_err(full)
}

/// A number, without `core::fmt` (this is the per-datagram path).
fn push_num(l: &mut Line, n: u64) -> Result<(), LineFull> {
    l.push_digits(&crate::wire::encode_counter(n))
}

/// An address as `Display` shows it; IPv4 (the common case) without `core::fmt`.
fn push_addr(l: &mut Line, addr: SocketAddr) -> Result<(), LineFull> {
    let SocketAddr::V4(a) = addr else {
        return write!(l, "{addr}").map_err(full);
    };
    // At most "255.255.255.255:65535": 21 bytes, built in place.
    let mut b = [0u8; 21];
    let mut n = 0;
    for (i, o) in a.ip().octets().into_iter().enumerate() {
        if i > 0 {
            b[n] = b'.';
            n += 1;
        }
        n += small_digits(u32::from(o), &mut b[n..]);
    }
    b[n] = b':';
    n += 1;
    n += small_digits(u32::from(a.port()), &mut b[n..]);
    l.push_digits(&b[..n])
}

/// Writes `v` (at most 65535) in decimal at the start of `out`; returns the length.
fn small_digits(v: u32, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 5];
    let mut i = 5;
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = 5 - i;
    out[..len].copy_from_slice(&tmp[i..]);
    len
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `"shown"` or `"shown"...` when the payload is longer than [`SHOW_MAX`].
fn text_payload(l: &mut Line, bytes: &[u8]) -> Result<(), LineFull> {
    l.push('"').map_err(full)?;
    push_escaped(l, &bytes[..bytes.len().min(SHOW_MAX)], false)?;
    l.push('"').map_err(full)?;
    if bytes.len() > SHOW_MAX {
        l.push_str("...").map_err(full)?;
    }
    Ok(())
}

fn json_payload(l: &mut Line, bytes: &[u8]) -> Result<(), LineFull> {
    l.push_str(",\"payload\":\"").map_err(full)?;
    push_escaped(l, &bytes[..bytes.len().min(SHOW_MAX)], true)?;
    l.push('"').map_err(full)?;
    if bytes.len() > SHOW_MAX {
        l.push_str(",\"payload_cut\":true").map_err(full)?;
    }
    Ok(())
}

fn json_field_str(l: &mut Line, key: &str, value: &str) -> Result<(), LineFull> {
    write!(l, ",\"{key}\":\"").map_err(full)?;
    push_escaped(l, value.as_bytes(), true)?;
    l.push('"').map_err(full)
}

fn json_addr(l: &mut Line, key: &str, addr: Option<SocketAddr>) -> Result<(), LineFull> {
    l.push_str(",\"").map_err(full)?;
    l.push_str(key).map_err(full)?;
    match addr {
        Some(a) => {
            l.push_str("\":\"").map_err(full)?;
            push_addr(l, a)?;
            l.push('"').map_err(full)
        }
        None => l.push_str("\":null").map_err(full),
    }
}

fn push_down(l: &mut Line, why: Down<'_>) -> Result<(), LineFull> {
    match why {
        Down::Error(e) => push_io_error(l, e),
        Down::Stopped => l.push_str("stopped").map_err(full),
    }
}

/// An error's own message, escaped. Only for slow paths: the `Display` of an OS error allocates.
fn push_display(l: &mut Line, what: &dyn core::fmt::Display, json: bool) -> Result<(), LineFull> {
    let mut tmp: heapless::String<256> = heapless::String::new();
    // A longer message is cut: it is the resolver's wording, not data from the network.
    let _ = write!(tmp, "{what}");
    push_escaped(l, tmp.as_bytes(), json)
}

/// A short lowercase reason, without allocating (`io::Error`'s own `Display` of an OS error
/// allocates the message).
fn push_io_error(l: &mut Line, e: &io::Error) -> Result<(), LineFull> {
    use io::ErrorKind as K;
    let text = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::AddrNotAvailable => "address not available",
        K::PermissionDenied => "permission denied",
        K::WouldBlock => "send buffer full",
        K::NotFound => "name not known",
        K::TimedOut => "timed out",
        _ => {
            return match e.raw_os_error() {
                Some(code) => write!(l, "os error {code}"),
                None => write!(l, "{}", e.kind()),
            }
            .map_err(full)
        }
    };
    l.push_str(text).map_err(full)
}

/// Appends `bytes` so that a terminal shows them and does nothing else: printable UTF-8 as
/// is; `\n`, `\r`, `\t`, `\\`, `\"`; other control characters, format characters that reorder
/// text (bidi overrides, U+2028/9) as `\x1b` / `\u{202e}`; invalid UTF-8 bytes as `\xff`.
/// With `json`, the result is also escaped as the inside of a JSON string.
pub fn push_escaped(l: &mut Line, bytes: &[u8], json: bool) -> Result<(), LineFull> {
    write_escaped(l, bytes, json).map_err(full)
}

/// [`push_escaped`] into any `fmt::Write` (a [`Line`], or a `Formatter` through [`Esc`]).
fn write_escaped(w: &mut impl core::fmt::Write, bytes: &[u8], json: bool) -> core::fmt::Result {
    for chunk in bytes.utf8_chunks() {
        let text = chunk.valid();
        // Printable runs (the usual case: whole names) are written at once.
        let mut run = 0;
        for (i, c) in text.char_indices() {
            let mut esc: heapless::String<12> = heapless::String::new();
            match c {
                '\n' => esc.push_str("\\n").map_err(full_fmt)?,
                '\r' => esc.push_str("\\r").map_err(full_fmt)?,
                '\t' => esc.push_str("\\t").map_err(full_fmt)?,
                '\\' => esc.push_str("\\\\").map_err(full_fmt)?,
                '"' => esc.push_str("\\\"").map_err(full_fmt)?,
                c if (c as u32) < 0x80 && c.is_control() => write!(esc, "\\x{:02x}", c as u32)?,
                c if c.is_control() || is_invisible_format(c) => {
                    write!(esc, "\\u{{{:x}}}", c as u32)?
                }
                // Printable: stays in the run (JSON allows any non-control character).
                _ => continue,
            }
            w.write_str(&text[run..i])?;
            run = i + c.len_utf8();
            write_maybe_json(w, &esc, json)?;
        }
        w.write_str(&text[run..])?;
        for b in chunk.invalid() {
            let mut esc: heapless::String<12> = heapless::String::new();
            write!(esc, "\\x{b:02x}")?;
            write_maybe_json(w, &esc, json)?;
        }
    }
    Ok(())
}

fn full_fmt<E>(_: E) -> core::fmt::Error {
    core::fmt::Error
}

fn write_maybe_json(w: &mut impl core::fmt::Write, esc: &str, json: bool) -> core::fmt::Result {
    if !json {
        return w.write_str(esc);
    }
    for c in esc.chars() {
        if c == '\\' || c == '"' {
            w.write_char('\\')?;
        }
        w.write_char(c)?;
    }
    Ok(())
}

/// Shows bytes from the network escaped for a terminal (see [`push_escaped`]), in `format_args!`.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a [u8]);

impl core::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.0, false)
    }
}

/// The same, escaped again as the inside of a JSON string.
#[derive(Debug, Clone, Copy)]
pub struct JsonEsc<'a>(pub &'a [u8]);

impl core::fmt::Display for JsonEsc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.0, true)
    }
}

/// Characters that change how the rest of a line is displayed without being visible.
fn is_invisible_format(c: char) -> bool {
    matches!(c as u32, 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2069 | 0xfeff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(bytes: &[u8], json: bool) -> String {
        let mut l = Line::new();
        push_escaped(&mut l, bytes, json).unwrap();
        l.as_str().to_string()
    }

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(esc(b"hello", false), "hello");
        assert_eq!(esc(b"\x1b[2J\x07", false), "\\x1b[2J\\x07");
        assert_eq!(esc(b"a\nb\tc\r", false), "a\\nb\\tc\\r");
        assert_eq!(esc(b"\xff\xfeok", false), "\\xff\\xfeok");
        assert_eq!(esc("é ü".as_bytes(), false), "é ü");
        assert_eq!(esc("\u{202e}evil".as_bytes(), false), "\\u{202e}evil");
        assert_eq!(esc("\u{9b}".as_bytes(), false), "\\u{9b}");
        assert_eq!(esc(b"\x7f", false), "\\x7f");
        assert_eq!(esc(b"say \"hi\" \\", false), "say \\\"hi\\\" \\\\");
    }

    #[test]
    fn json_escaping_round_trips_to_the_text_form() {
        for input in [&b"\x1b[31mred"[..], b"q\"uote\\", b"\xc3\x28", b"\x00\n"] {
            let j = esc(input, true);
            // Decode the JSON string by hand (only \\ and \" occur).
            let mut decoded = String::new();
            let mut it = j.chars();
            while let Some(c) = it.next() {
                if c == '\\' {
                    decoded.push(it.next().unwrap());
                } else {
                    assert!(!c.is_control(), "raw control char in JSON: {j:?}");
                    decoded.push(c);
                }
            }
            assert_eq!(decoded, esc(input, false));
        }
    }

    fn render(json: bool, f: impl FnOnce(&mut Output<&mut Vec<u8>>)) -> String {
        let mut buf = Vec::new();
        {
            let mut out = Output::new(&mut buf, json);
            f(&mut out);
        }
        String::from_utf8(buf).unwrap()
    }

    fn who(name: Option<&str>) -> Who<'_> {
        Who {
            name,
            addr: "127.0.0.3:10003".parse().unwrap(),
        }
    }

    #[test]
    fn fast_formatting_matches_display() {
        for a in [
            "0.0.0.0:1",
            "255.255.255.255:65535",
            "172.18.0.3:10003",
            "[::1]:7",
            "[fe80::1]:10002",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            let mut l = Line::new();
            push_addr(&mut l, addr).unwrap();
            assert_eq!(l.as_str(), addr.to_string());
        }
        for n in [0, 7, 10, 12345, u64::MAX] {
            let mut l = Line::new();
            push_num(&mut l, n).unwrap();
            assert_eq!(l.as_str(), n.to_string());
        }
    }

    #[test]
    fn received_lines() {
        let s = render(false, |o| {
            o.received(who(Some("p2:10003")), Payload::Counter(7, Verdict::InOrder));
            o.received(who(None), Payload::Counter(9, Verdict::Gap(2)));
            o.received(
                who(None),
                Payload::Foreign(b"\x1b]0;pwned\x07", WireError::NotDecimal),
            );
            o.received(who(None), Payload::Foreign(b"", WireError::Empty));
        });
        assert_eq!(
            s,
            "Received 7 from p2:10003 (127.0.0.3:10003)\n\
             Received 9 from 127.0.0.3:10003 [2 lost]\n\
             Received \"\\x1b]0;pwned\\x07\" from 127.0.0.3:10003 [not a counter, 10 bytes]\n\
             Received \"\" from 127.0.0.3:10003 [empty, 0 bytes]\n"
        );
    }

    #[test]
    fn long_payloads_are_cut_visibly_and_fit_the_line() {
        let big = [0x1bu8; 4096];
        for json in [false, true] {
            let s = render(json, |o| {
                o.received(
                    who(Some(&"n".repeat(crate::limits::MAX_NAME))),
                    Payload::Truncated(&big),
                )
            });
            assert!(!s.contains("too long"), "{s}");
            assert!(s.ends_with('\n'));
            if json {
                assert!(s.contains("\"payload_cut\":true"), "{s}");
            } else {
                assert!(
                    s.contains("\"...") && s.contains("[truncated: 4096 bytes or more]"),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn json_lines() {
        let s = render(true, |o| {
            o.received(who(Some("p\"2")), Payload::Counter(3, Verdict::Duplicate));
            o.peer_down(
                "p2:10003",
                None,
                Down::Error(&io::Error::from(io::ErrorKind::ConnectionRefused)),
            );
        });
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[0].starts_with("{\"event\":\"received\",\"t_ms\":"),
            "{s}"
        );
        assert!(lines[0].ends_with(
            ",\"from\":\"p\\\\\\\"2\",\"addr\":\"127.0.0.3:10003\",\"counter\":3,\"seq\":\"duplicate\"}"
        ), "{s}");
        assert!(
            lines[1].ends_with(
                ",\"peer\":\"p2:10003\",\"addr\":null,\"error\":\"connection refused\"}"
            ),
            "{s}"
        );
    }
}
