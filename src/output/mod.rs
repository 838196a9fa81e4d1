//! Everything a process prints. Every line is an event value that implements [`Render`]:
//! one text form (the handout's `Received 7 from ...`, the course's `Entrei na CS`) and one
//! JSON form (`--json`: one object per line, written by `json::Obj`, which always escapes).
//! Each line is built in a fixed [`Line`] and written with a single `write_all`, so lines
//! never interleave and nothing is allocated on the message path.
//!
//! Layout: `line` (the buffer and fast number/address formatting), [`escape`] (what bytes
//! from outside become on a terminal and in JSON), `json` (the object writer), [`stdout`]
//! and `limit`. Each system's events live with that system (`counter::events`,
//! `io::mesh::events`, `lab1::events`) and implement [`Render`] there.
//!
//! Every JSON object starts with `event`, `t_ms` (milliseconds since the process started)
//! and `ts_us` (wall clock, microseconds since the UNIX epoch, so that the logs of processes
//! on one host line up).

pub mod escape;
mod json;
pub(crate) mod limit;
mod line;
pub mod stdout;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(crate) use json::Obj;
pub use line::{Line, LineFull};

use crate::values::limits::{OUTPUT_BUFFER, SHOW_MAX};

/// An event that can be printed: one text form and one JSON form.
pub trait Render {
    /// The JSON `event` name.
    fn name(&self) -> &'static str;
    /// Whether the text log shows it (every event is in the JSON log; the per-message events
    /// of Lab 1 only there, so the text stays the course's).
    fn in_text(&self) -> bool {
        true
    }
    /// The text line, without its newline.
    fn text(&self, l: &mut Line) -> Result<(), LineFull>;
    /// The JSON fields after `event`, `t_ms` and `ts_us`.
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull>;
}

/// The output sink: text or JSON lines, to any writer (stdout in the program, a buffer or a
/// sink in tests).
///
/// Writing never waits. When the writer says `WouldBlock` (nobody reads the pipe), lines wait
/// in a fixed buffer of `OUTPUT_BUFFER` bytes, written out by `Output::flush_pending` when
/// the driver sees stdout writable again; when that is full, whole lines are dropped and
/// counted, and one line says how many once stdout drains. A reader that is gone (`| head -1`:
/// EPIPE) makes `Output::is_broken` true, and the driver stops the process.
#[derive(Debug)]
pub struct Output<W: Write> {
    w: W,
    json: bool,
    start: Instant,
    /// Built here, then written at once; boxed so that an `Output` is cheap to move.
    line: Box<Line>,
    /// Bytes not yet written: a ring of whole lines (`head` is the oldest byte).
    /// Its whole capacity is reserved at start and filled with zeros only as far as it is
    /// used: only the pages written to count in the resident memory (a zeroed 64 KiB buffer
    /// would be 64 KiB of every peer's).
    pending: Option<Vec<u8>>,
    head: usize,
    len: usize,
    /// Lines dropped since the last time stdout drained.
    dropped: u64,
    /// Lines dropped in all.
    dropped_total: u64,
    /// The per-source limit on lines about datagrams that are not taken.
    limiter: limit::Limiter,
    broken: bool,
    /// Lines are kept in `pending` until [`Output::release`]: the driver holds them while it
    /// handles a batch of sources, so that the batch costs one write, not one per line.
    held: bool,
    watch: Option<RawFd>,
    /// `--trace FILE`: every event also as a JSON line there, whatever stdout shows.
    trace: Option<Box<Output<std::fs::File>>>,
    /// Its path, for the lines that say it lost lines.
    trace_name: Box<str>,
    /// What went wrong with the trace has been said (a write error; lines dropped).
    trace_said: (bool, bool),
    /// The first write error (a full disk): the lines it hit are lost and counted.
    error: Option<io::Error>,
    /// Lines lost to write errors.
    lost: u64,
}

impl Output<stdout::Stdout> {
    /// The process's standard output (non-blocking where it could block), in text or JSON.
    pub fn stdout(json: bool) -> io::Result<Self> {
        let w = stdout::Stdout::open()?;
        let watch = w.watch_fd();
        let mut out = Output::new(w, json);
        out.watch = watch;
        Ok(out)
    }
}

impl<W: Write> Output<W> {
    /// Lines go to `w`; `json` selects one JSON object per line.
    pub fn new(w: W, json: bool) -> Self {
        Output {
            w,
            json,
            start: Instant::now(),
            line: Box::new(Line::new()),
            // Reserved now, so that nothing on the message path allocates; not touched, so it
            // costs no resident memory until lines wait in it.
            pending: Some(Vec::with_capacity(OUTPUT_BUFFER)),
            head: 0,
            len: 0,
            dropped: 0,
            dropped_total: 0,
            limiter: limit::Limiter::default(),
            broken: false,
            held: false,
            watch: None,
            trace: None,
            trace_name: Box::from(""),
            trace_said: (false, false),
            error: None,
            lost: 0,
        }
    }

    /// Also writes every event as a JSON line (the `--json` line, same renderer and
    /// timestamps) to `file`, through its own bounded buffer: a regular file takes each line
    /// at once, anything else that would block only delays or drops trace lines, never the
    /// loop (open it with `O_NONBLOCK`). Its errors never stop the process; they are said
    /// once here (on stdout), and the lines they cost counted at the end (`Output::trace_report`).
    pub fn with_trace(mut self, file: std::fs::File, name: &str) -> Self {
        let mut t = Output::new(file, true);
        t.start = self.start;
        self.trace = Some(Box::new(t));
        self.trace_name = Box::from(name);
        self
    }

    /// Says once what the trace file lost since the last call, as it happens.
    fn say_trace_trouble(&mut self) {
        let Some(t) = self.trace.as_deref() else {
            return;
        };
        let error = (!self.trace_said.0)
            .then_some(t.error.as_ref())
            .flatten()
            .map(|e| e.kind());
        let dropped = !self.trace_said.1 && t.dropped_total > 0;
        if let Some(kind) = error {
            self.trace_said.0 = true;
            let e = io::Error::from(kind);
            let name = self.trace_name.clone();
            self.notice(format_args!(
                "--trace {name}: cannot write ({e}): trace lines are lost from here on"
            ));
        }
        if dropped {
            self.trace_said.1 = true;
            let name = self.trace_name.clone();
            self.notice(format_args!(
                "--trace {name}: not taken fast enough (a pipe nobody reads?): trace lines are dropped"
            ));
        }
    }

    /// At the end: how many trace lines were lost, if any (the trace is then incomplete, and
    /// `process timeline --check` on it cannot be trusted).
    pub(crate) fn trace_report(&mut self) {
        let Some(t) = self.trace.as_deref_mut() else {
            return;
        };
        t.flush_pending();
        let lost = t.lost + t.dropped_total;
        if lost > 0 {
            let name = self.trace_name.clone();
            self.notice(format_args!(
                "--trace {name}: {lost} trace line(s) lost: the trace is incomplete"
            ));
        }
    }

    /// Lines lost so far: dropped from stdout (a reader too slow, or write errors), not shown
    /// by the per-source limit, lost from the trace file.
    pub(crate) fn losses(&self) -> (u64, u64, u64) {
        let trace = self
            .trace
            .as_deref()
            .map_or(0, |t| t.lost + t.dropped_total);
        (self.dropped_total + self.lost, self.lines_limited(), trace)
    }

    /// The descriptor the driver should poll for writable readiness, if any.
    pub(crate) fn watch_fd(&self) -> Option<RawFd> {
        self.watch
    }

    /// The reader is gone (EPIPE): nobody will see what the process prints.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// The driver saw the reader of stdout go away.
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// From now until [`Output::release`], lines wait in the bounded buffer (allocated then,
    /// if it was not) and go out together; a full buffer is written out first, never dropped
    /// for being held.
    pub(crate) fn hold(&mut self) {
        self.held = true;
        if let Some(t) = self.trace.as_deref_mut() {
            t.hold();
        }
    }

    /// Writes what was held, as far as the writer takes it (the rest waits for writable
    /// readiness, as any line that would block).
    pub(crate) fn release(&mut self) {
        self.held = false;
        if let Some(t) = self.trace.as_deref_mut() {
            t.release();
        }
        self.flush_pending();
    }

    /// Bytes waiting for stdout to drain.
    pub(crate) fn pending(&self) -> usize {
        self.len
    }

    /// Prints `e` in the chosen form. One copy for every event type (`dyn`, not generic):
    /// a copy per type made the steady state touch more pages of the binary.
    pub fn emit(&mut self, e: &dyn Render) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.emit(e);
            if (t.error.is_some() && !self.trace_said.0)
                || (t.dropped_total > 0 && !self.trace_said.1)
            {
                self.say_trace_trouble();
            }
        }
        let built = if self.json {
            let t_ms = self.start.elapsed().as_millis() as u64;
            let ts_us = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64);
            json_line(&mut self.line, e, t_ms, ts_us)
        } else if e.in_text() {
            e.text(&mut self.line).and_then(|()| self.line.push('\n'))
        } else {
            return;
        };
        self.write(built);
    }

    /// A free-form notice (start-up facts, fallbacks, a loop that fell behind).
    pub(crate) fn notice(&mut self, args: core::fmt::Arguments<'_>) {
        self.emit(&Notice(args));
    }

    /// A datagram that was not taken: `ignored from 1.2.3.4:5: "payload" (why, 9 bytes)`.
    pub(crate) fn refused(
        &mut self,
        verb: Verb,
        from: SocketAddr,
        bytes: &[u8],
        why: &dyn core::fmt::Display,
    ) {
        self.emit_limited(
            from,
            &Refused {
                verb,
                from,
                bytes,
                why,
            },
        );
    }

    /// Prints `e`, a line about a datagram from `from` that was not taken, unless that source
    /// has used up its share of lines (`limit`); the next line shown for it says how many
    /// were not.
    pub(crate) fn emit_limited(&mut self, from: SocketAddr, e: &dyn Render) {
        match self.limiter.check(from.ip(), Instant::now()) {
            None => {}
            Some(0) => self.emit(e),
            Some(hidden) => self.emit(&Limited { inner: e, hidden }),
        }
    }

    /// Lines about refused datagrams not shown because of the per-source limit.
    pub(crate) fn lines_limited(&self) -> u64 {
        self.limiter.hidden_total
    }

    /// Writes the built line. A line that did not fit is a bug in
    /// [`LINE_MAX`](crate::values::limits::LINE_MAX); it is replaced by a line saying so rather than
    /// cut silently.
    fn write(&mut self, built: Result<(), LineFull>) {
        if built.is_err() {
            self.line.clear();
            let _ = self
                .line
                .push_str("peerlab: output line too long, not printed (please report)\n");
        }
        self.send_line();
        self.line.clear();
    }

    /// Writes the built line now, or keeps it for later, or drops it whole.
    fn send_line(&mut self) {
        if self.broken {
            return;
        }
        // Held, a line that fits joins the batch; one that does not writes the batch first.
        let join = self.held && OUTPUT_BUFFER - self.len >= self.line.as_bytes().len();
        if !join {
            self.flush_pending();
        }
        let mut rest = self.line.as_bytes();
        if self.len == 0 && !join {
            let n = write_some(
                &mut self.w,
                rest,
                &mut self.broken,
                &mut self.error,
                &mut self.lost,
            );
            rest = &rest[n..];
        }
        if rest.is_empty() || self.broken {
            return;
        }
        // Cannot split a line: `rest` is a whole line unless part was written just now, and
        // then the ring was empty and a line always fits it.
        if OUTPUT_BUFFER - self.len >= rest.len() {
            let ring = self
                .pending
                .get_or_insert_with(|| Vec::with_capacity(OUTPUT_BUFFER));
            // At most two pieces: up to the end of the ring, then from its start.
            let at = (self.head + self.len) % OUTPUT_BUFFER;
            let first = rest.len().min(OUTPUT_BUFFER - at);
            if ring.len() < at + first {
                // Within the capacity: no reallocation.
                ring.resize(at + first, 0);
            }
            ring[at..at + first].copy_from_slice(&rest[..first]);
            ring[..rest.len() - first].copy_from_slice(&rest[first..]);
            self.len += rest.len();
        } else {
            self.dropped += 1;
            self.dropped_total += 1;
        }
    }

    /// Writes what waits, as far as the writer takes it; once all is out, says how many
    /// lines were dropped meanwhile. Call when stdout is writable again.
    pub(crate) fn flush_pending(&mut self) {
        while self.len > 0 && !self.broken {
            let end = (self.head + self.len).min(OUTPUT_BUFFER);
            let chunk = self.head..end;
            let Some(ring) = &self.pending else { return };
            let n = write_some(
                &mut self.w,
                &ring[chunk],
                &mut self.broken,
                &mut self.error,
                &mut self.lost,
            );
            if n == 0 {
                return;
            }
            self.head = (self.head + n) % OUTPUT_BUFFER;
            self.len -= n;
        }
        if self.len == 0 {
            self.head = 0;
            if self.dropped > 0 && !self.broken {
                let n = std::mem::take(&mut self.dropped);
                let what = if self.trace_name.is_empty() && self.json && self.watch.is_none() {
                    "this file"
                } else {
                    "stdout"
                };
                self.notice(format_args!(
                    "{n} line(s) not shown: {what} was not read fast enough"
                ));
            }
        }
    }
}

/// Writes as much of `bytes` as `w` takes now; notes a reader that is gone, and the first
/// other error (a line it hits is lost and counted in `lost`).
fn write_some<W: Write>(
    w: &mut W,
    bytes: &[u8],
    broken: &mut bool,
    error: &mut Option<io::Error>,
    lost: &mut u64,
) -> usize {
    let mut done = 0;
    while done < bytes.len() {
        match w.write(&bytes[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                *broken = true;
                break;
            }
            // Any other output error (a full disk): the line is lost, counted, and the first
            // error kept for whoever can say it; the peer must go on.
            Err(e) => {
                *lost += 1;
                error.get_or_insert(e);
                return bytes.len();
            }
        }
    }
    let _ = w.flush();
    done
}

/// The JSON line of `e`.
pub(crate) fn json_line(
    l: &mut Line,
    e: &dyn Render,
    t_ms: u64,
    ts_us: u64,
) -> Result<(), LineFull> {
    let mut o = Obj::open(l, e.name())?;
    o.num("t_ms", t_ms)?.num("ts_us", ts_us)?;
    e.json(&mut o)?;
    o.end()
}

/// A line with a note of how many like it from the same source were not shown.
#[derive(Clone, Copy)]
pub(crate) struct Limited<'a> {
    /// The line.
    pub(crate) inner: &'a dyn Render,
    /// Lines from that source not shown before it.
    pub(crate) hidden: u64,
}

impl core::fmt::Debug for Limited<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Limited")
            .field("inner", &self.inner.name())
            .field("hidden", &self.hidden)
            .finish()
    }
}

impl Render for Limited<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn in_text(&self) -> bool {
        self.inner.in_text()
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        self.inner.text(l)?;
        l.push_fmt(format_args!(
            " [{} more from this address not shown]",
            self.hidden
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        self.inner.json(o)?;
        o.num("not_shown", self.hidden)?;
        Ok(())
    }
}

/// A free-form notice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Notice<'a>(pub(crate) core::fmt::Arguments<'a>);

impl Render for Notice<'_> {
    fn name(&self) -> &'static str {
        "notice"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        // A notice may quote a name from the command line: control and format characters
        // are escaped (quotes are left as written).
        let mut tmp = Line::new();
        tmp.push_fmt(self.0)?;
        if tmp
            .as_str()
            .chars()
            .any(|c| c.is_control() || escape::is_invisible(c))
        {
            escape::push_text(l, tmp.as_bytes())
        } else {
            l.push_str(tmp.as_str())
        }
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.display("text", &self.0)?;
        Ok(())
    }
}

/// What was done with a datagram that was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    /// Not a message of this mode (or not one this process handles).
    Ignored,
    /// A message, refused for what it claims (who sent it, which id).
    Rejected,
}

/// A datagram that was not taken, shown escaped and cut at [`SHOW_MAX`] bytes.
#[derive(Clone, Copy)]
pub(crate) struct Refused<'a> {
    /// Ignored or rejected (also the JSON event name).
    pub(crate) verb: Verb,
    /// Its source.
    pub(crate) from: SocketAddr,
    /// Its bytes.
    pub(crate) bytes: &'a [u8],
    pub(crate) why: &'a dyn core::fmt::Display,
}

impl core::fmt::Debug for Refused<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Refused({:?} from {}: {})",
            self.verb, self.from, self.why
        )
    }
}

impl Render for Refused<'_> {
    fn name(&self) -> &'static str {
        match self.verb {
            Verb::Ignored => "ignored",
            Verb::Rejected => "rejected",
        }
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_str(self.name())?;
        l.push_str(" from ")?;
        l.push_addr(self.from)?;
        l.push_str(": \"")?;
        let shown = escape::cut(self.bytes, SHOW_MAX);
        escape::push_text(l, shown)?;
        l.push_fmt(format_args!(
            "\" ({}, {} bytes)",
            self.why,
            self.bytes.len()
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.addr("from", Some(self.from))?
            .bytes("payload", escape::cut(self.bytes, SHOW_MAX))?
            .num("bytes", self.bytes.len() as u64)?
            .display("error", self.why)?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Text and JSON of `e`.
    pub(crate) fn both(e: &impl Render) -> (String, serde_json::Value) {
        let mut l = Line::new();
        e.text(&mut l).unwrap();
        let text = l.as_str().to_string();
        let mut l = Line::new();
        json_line(&mut l, e, 1, 2).unwrap();
        let v =
            serde_json::from_str(l.as_str()).unwrap_or_else(|err| panic!("{err}: {}", l.as_str()));
        (text, v)
    }

    /// Every field of the JSON form (but the timestamps and what `skip` names) shows in the
    /// text form: numbers and strings by value, `true` flags by their key (with `_` as a
    /// space). Returns the text.
    pub(crate) fn assert_same_fields(e: &impl Render, skip: &[&str]) -> String {
        let (text, v) = both(e);
        let obj = v.as_object().unwrap();
        assert_eq!(obj["event"], e.name());
        for (k, val) in obj {
            if ["event", "t_ms", "ts_us"].contains(&k.as_str()) || skip.contains(&k.as_str()) {
                continue;
            }
            let shown = match val {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => {
                    // The text shows strings in its own escaping.
                    escape::Esc(s.as_bytes()).to_string()
                }
                serde_json::Value::Bool(true) => k.replace('_', " "),
                serde_json::Value::Bool(false) | serde_json::Value::Null => continue,
                other => panic!("{k}: {other}"),
            };
            assert!(
                text.contains(&shown),
                "{}: JSON field {k}={val} is not in the text: {text:?}",
                e.name()
            );
        }
        text
    }

    #[test]
    fn refused_datagrams_show_the_same_in_both_forms() {
        let r = Refused {
            verb: Verb::Rejected,
            from: "127.0.0.9:5".parse().unwrap(),
            bytes: b"REQUEST 9 1\x1b",
            why: &"not from a configured process's address",
        };
        let text = assert_same_fields(&r, &["payload"]);
        assert_eq!(
            text,
            "rejected from 127.0.0.9:5: \"REQUEST 9 1\\x1b\" (not from a configured process's address, 12 bytes)"
        );
        let (_, v) = both(&r);
        assert_eq!(v["payload"], "REQUEST 9 1\u{1b}");
    }

    #[test]
    fn notices_escape_what_they_quote() {
        let name = "p2\x1b[2J";
        let text = assert_same_fields(&Notice(format_args!("cannot bind {name}")), &["text"]);
        assert_eq!(text, "cannot bind p2\\x1b[2J");
    }

    /// `--trace`: stdout keeps the text, the file gets every event's JSON line (the
    /// per-message ones too), with the same start for `t_ms`.
    #[test]
    fn a_trace_file_gets_the_json_lines_while_stdout_keeps_text() {
        use crate::lab1::events::LabLine;
        use crate::lab1::ra::{Event, Logged, Party, State};
        use crate::lab1::wire::{Kind, PeerId};
        let path = std::env::temp_dir().join(format!("peerlab-trace-{}.jsonl", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut buf = Vec::new();
        {
            let mut out = Output::new(&mut buf, false).with_trace(file, "test.jsonl");
            let me = PeerId(1);
            for event in [
                Event::Internal,
                Event::Sent {
                    to: Party::Process(PeerId(2)),
                    kind: Kind::Reply,
                    t: 1,
                    resend: false,
                },
            ] {
                let logged = Logged {
                    clock: 1,
                    state: State::Released,
                    event,
                };
                out.emit(&LabLine { me, logged });
            }
        }
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text, "[clock=1 RELEASED] internal event\n");
        let trace = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let events: Vec<serde_json::Value> = trace
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2, "{trace}");
        assert_eq!(events[0]["event"], "internal");
        assert_eq!(events[1]["event"], "sent");
        assert_eq!(events[1]["kind"], "REPLY");
    }

    /// A trace that cannot be written (a full disk: /dev/full) never stops the process, and
    /// is not lost silently: stdout says so once, and at the end how many lines it lost.
    #[test]
    fn a_trace_that_cannot_be_written_is_said_once_and_counted() {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .unwrap();
        let mut buf = Vec::new();
        {
            let mut out = Output::new(&mut buf, false).with_trace(file, "/dev/full");
            for i in 0..5 {
                out.notice(format_args!("line {i}"));
            }
            out.trace_report();
        }
        let text = String::from_utf8(buf).unwrap();
        let said: Vec<&str> = text.lines().filter(|l| l.starts_with("--trace")).collect();
        assert_eq!(said.len(), 2, "{text}");
        assert!(
            said[0].starts_with("--trace /dev/full: cannot write ("),
            "{text}"
        );
        assert!(
            said[0].ends_with("trace lines are lost from here on"),
            "{text}"
        );
        // The 5 lines and the line saying so (the count itself comes last).
        assert_eq!(
            said[1],
            "--trace /dev/full: 6 trace line(s) lost: the trace is incomplete"
        );
        assert_eq!(text.lines().filter(|l| l.starts_with("line ")).count(), 5);
    }

    #[test]
    fn text_lines_and_json_objects_are_whole_lines() {
        let mut buf = Vec::new();
        {
            let mut out = Output::new(&mut buf, true);
            out.notice(format_args!("a\nb"));
            out.notice(format_args!("c"));
        }
        let s = String::from_utf8(buf).unwrap();
        let lines: Vec<serde_json::Value> = s
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["text"], "a\nb");
        assert!(lines[1]["ts_us"].as_u64().unwrap() > 1_700_000_000_000_000);
    }
}
