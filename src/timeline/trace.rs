//! Reading traces: JSON lines from files, directories or stdin, of which only the Lab 1
//! process events are kept (docs/lab1.md, "The JSON log is a trace"). Everything else (text lines,
//! the counter peer's or the shared resource's events, foreign JSON, cut lines) is counted by
//! kind and skipped.

use std::fmt::Write as _;

use super::json::{parse_object, Val};

/// What an event is (the JSON `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    /// The own id was typed.
    Internal,
    /// `x` while busy.
    Ignored,
    /// Asked for the CS.
    Requested,
    /// A message went out.
    Sent,
    /// A new REQUEST arrived.
    Request,
    /// A REPLY to the current request arrived.
    Reply,
    /// A DEFERRED for the current request arrived (no tick; not drawn).
    DeferredBy,
    /// A duplicate or outdated message arrived.
    Stale,
    /// The resource acknowledged.
    Acked,
    /// Another process restarted.
    Restarted,
    /// `Entrei na CS`.
    Entered,
    /// `Sai da CS`.
    Left,
    /// RELEASED again.
    Released,
    /// The resource did not answer.
    ResourceSilent,
}

const NAMES: [(&str, Name); 14] = [
    ("internal", Name::Internal),
    ("ignored_key", Name::Ignored),
    ("requested", Name::Requested),
    ("sent", Name::Sent),
    ("request", Name::Request),
    ("reply", Name::Reply),
    ("deferred_by", Name::DeferredBy),
    ("stale", Name::Stale),
    ("acked", Name::Acked),
    ("restarted", Name::Restarted),
    ("entered", Name::Entered),
    ("left", Name::Left),
    ("released", Name::Released),
    ("resource_silent", Name::ResourceSilent),
];

/// The counter peer's own events.
const COUNTER: [&str; 4] = ["listening", "received", "summary_start", "summary"];

/// peerlab's other events (a Lab 1 process's and the resource's lines that are not trace
/// events; `peer_*` are every mode's).
const OTHER: [&str; 8] = [
    "notice",
    "ignored",
    "rejected",
    "mutex_summary",
    "still_waiting",
    "hint",
    "violation",
    "resource_listening",
];

/// The other end of a message: a process id or the shared resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Party {
    /// Process `id`.
    P(u16),
    /// The shared resource.
    Resource,
}

/// One Lab 1 event of one process.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    /// Its event.
    pub(crate) name: Name,
    /// The process that logged it.
    pub(crate) id: u16,
    /// Lamport clock right after it.
    pub(crate) clock: u64,
    /// Wall clock, microseconds since the epoch.
    pub(crate) ts: Option<u64>,
    /// `kind` (REQUEST, REPLY, ENTER, EXIT, ACK).
    pub(crate) kind: String,
    /// `to` of a `sent`, `from` of a receive.
    pub(crate) peer: Option<Party>,
    /// `t`.
    pub(crate) t: Option<u64>,
    /// A resend.
    pub(crate) resend: bool,
    /// A REQUEST that was deferred.
    pub(crate) deferred: bool,
    /// Where: `file:line`.
    pub(crate) at: String,
    /// The line as read (hover text, violation reports).
    pub(crate) raw: String,
    /// Index of its process row (one per incarnation), set by [`read`].
    pub(crate) row: usize,
}

impl Ev {
    /// A message to or from another process (not the resource).
    pub(crate) fn is_process_msg(&self) -> bool {
        matches!(self.peer, Some(Party::P(_))) && matches!(self.kind.as_str(), "REQUEST" | "REPLY")
    }
    /// The receive of a REQUEST or REPLY (new, or a duplicate).
    pub(crate) fn is_receive(&self) -> bool {
        match self.name {
            Name::Request | Name::Reply => true,
            Name::Stale => self.is_process_msg(),
            _ => false,
        }
    }
    /// The message kind a receive or send is about.
    pub(crate) fn msg_kind(&self) -> &str {
        match self.name {
            Name::Request => "REQUEST",
            Name::Reply => "REPLY",
            _ => &self.kind,
        }
    }
}

/// One process's life: its events in log order. A restart (a new `mutex_listening`) starts a
/// new row for the same id; a clock that goes back without one is a fault for `--check`, not
/// a restart.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The process.
    pub(crate) id: u16,
    /// 0 for its first life in the trace, 1 after one restart, ...
    pub(crate) life: u32,
    /// The trace has its start (`mutex_listening`): the clock was 0 before the first event.
    pub(crate) from_start: bool,
    /// Its events, indices into [`Trace::evs`].
    pub(crate) evs: Vec<usize>,
}

impl Row {
    /// `P2`, or `P2#2` for its second life.
    pub(crate) fn label(&self) -> String {
        if self.life == 0 {
            format!("P{}", self.id)
        } else {
            format!("P{}#{}", self.id, self.life + 1)
        }
    }
}

/// Lines that were not Lab 1 events, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Not JSON (text output).
    pub(crate) text: u64,
    /// Cut or broken JSON.
    pub(crate) bad: u64,
    /// The counter peer's events.
    pub(crate) counter: u64,
    /// peerlab's notices, summaries and the shared resource's events.
    pub(crate) other: u64,
    /// JSON objects that are not peerlab events.
    pub(crate) foreign: u64,
    /// Lab 1 events without the fields they need.
    pub(crate) incomplete: u64,
}

impl Skipped {
    /// One note per kind of skipped line, e.g. `skipped 3 text lines (not JSON)`.
    pub(crate) fn notes(&self) -> Vec<String> {
        [
            (self.text, "line(s) that are not JSON (text output)"),
            (self.bad, "truncated or malformed JSON line(s)"),
            (self.counter, "event(s) of the counter peer"),
            (
                self.other,
                "other peerlab event(s) (notices, peers up/down, summaries, the shared resource)",
            ),
            (self.foreign, "JSON object(s) that are not peerlab events"),
            (
                self.incomplete,
                "Lab 1 event(s) without the fields they need (id, clock, kind, to/from, t)",
            ),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("skipped {n} {what}"))
        .collect()
    }
}

/// Every Lab 1 event read, by process life.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trace {
    /// Events in input order.
    pub(crate) evs: Vec<Ev>,
    /// Process lives, sorted by id then life.
    pub(crate) rows: Vec<Row>,
    /// What was skipped.
    pub(crate) skipped: Skipped,
    /// Lines read in all.
    pub(crate) lines: u64,
}

impl Trace {
    /// Whether every event has a wall-clock time.
    pub(crate) fn has_ts(&self) -> bool {
        self.evs.iter().all(|e| e.ts.is_some())
    }
}

/// Reads the traces in `inputs` (each `(name, text)`): one JSON object per line, CR LF
/// tolerated, text before the object (a `docker compose logs` prefix) tolerated.
pub(super) fn read(inputs: &[(String, String)]) -> Trace {
    let mut tr = Trace::default();
    // The current row of each id, and whether its next event starts a new life.
    let mut current: Vec<(u16, usize, bool)> = Vec::new();
    for (name, text) in inputs {
        for (n, line) in text.lines().enumerate() {
            tr.lines += 1;
            // trim() takes the CR of a CR LF line end too.
            let line = line.trim();
            let at = format!("{name}:{}", n + 1);
            match classify(line, &at) {
                Line::Ev(mut e) => {
                    let i = tr.evs.len();
                    let cur = current.iter_mut().find(|c| c.0 == e.id);
                    let row = match cur {
                        Some(c) => {
                            if c.2 {
                                let life = tr.rows[c.1].life + 1;
                                tr.rows.push(Row {
                                    id: e.id,
                                    life,
                                    from_start: c.2,
                                    evs: Vec::new(),
                                });
                                c.1 = tr.rows.len() - 1;
                                c.2 = false;
                            }
                            c.1
                        }
                        None => {
                            tr.rows.push(Row {
                                id: e.id,
                                life: 0,
                                from_start: false,
                                evs: Vec::new(),
                            });
                            current.push((e.id, tr.rows.len() - 1, false));
                            tr.rows.len() - 1
                        }
                    };
                    e.row = row;
                    tr.rows[row].evs.push(i);
                    tr.evs.push(e);
                }
                Line::Start(id) => match current.iter_mut().find(|c| c.0 == id) {
                    // The first start of a process just marks its row as complete.
                    Some(c) if !tr.rows[c.1].evs.is_empty() => c.2 = true,
                    Some(c) => tr.rows[c.1].from_start = true,
                    None => {
                        tr.rows.push(Row {
                            id,
                            life: 0,
                            from_start: true,
                            evs: Vec::new(),
                        });
                        current.push((id, tr.rows.len() - 1, false));
                    }
                },
                Line::Text => tr.skipped.text += 1,
                Line::Bad => tr.skipped.bad += 1,
                Line::Counter => tr.skipped.counter += 1,
                Line::Other => tr.skipped.other += 1,
                Line::Foreign => tr.skipped.foreign += 1,
                Line::Incomplete => tr.skipped.incomplete += 1,
                Line::Empty => {}
            }
        }
    }
    // Rows in id order (lives in order), events re-pointed.
    tr.rows.retain(|r| !r.evs.is_empty());
    let order = super::sort::sorted(tr.rows.len(), &|k| {
        [u64::from(tr.rows[k].id), u64::from(tr.rows[k].life), 0]
    });
    tr.rows = order.iter().map(|&k| tr.rows[k].clone()).collect();
    for (i, r) in tr.rows.iter().enumerate() {
        for &e in &r.evs {
            tr.evs[e].row = i;
        }
    }
    tr
}

enum Line {
    Ev(Ev),
    /// A `mutex_listening` of process `id`: a (re)start.
    Start(u16),
    Text,
    Bad,
    Counter,
    Other,
    Foreign,
    Incomplete,
    Empty,
}

fn classify(line: &str, at: &str) -> Line {
    if line.is_empty() {
        return Line::Empty;
    }
    let Some(brace) = line.find('{') else {
        return Line::Text;
    };
    let fields = match parse_object(&line[brace..]) {
        Ok(f) => f,
        // Text that happens to hold a brace, or a cut/broken object.
        Err(_) if brace > 0 => return Line::Text,
        Err(_) => return Line::Bad,
    };
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let num = |k: &str| match get(k) {
        Some(Val::Num(n)) => Some(*n),
        _ => None,
    };
    let text = |k: &str| match get(k) {
        Some(Val::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let Some(event) = text("event") else {
        return Line::Foreign;
    };
    let id = num("id").and_then(|i| u16::try_from(i).ok());
    let Some(&(_, name)) = NAMES.iter().find(|(n, _)| *n == event) else {
        return match (event, id) {
            ("mutex_listening", Some(id)) => Line::Start(id),
            _ if COUNTER.contains(&event) => Line::Counter,
            _ if OTHER.contains(&event)
                || event.starts_with("resource_")
                || event.starts_with("peer_") =>
            {
                Line::Other
            }
            ("mutex_listening", None) => Line::Other,
            _ => Line::Foreign,
        };
    };
    let party = |k: &str| match get(k) {
        Some(Val::Num(j)) => u16::try_from(*j).ok().map(Party::P),
        Some(Val::Str(s)) if s == "resource" => Some(Party::Resource),
        _ => None,
    };
    let (Some(id), Some(clock)) = (id, num("clock")) else {
        return Line::Incomplete;
    };
    let e = Ev {
        name,
        id,
        clock,
        ts: num("ts_us"),
        kind: text("kind").unwrap_or("").to_string(),
        peer: party("to").or_else(|| party("from")),
        t: num("t"),
        resend: get("resend") == Some(&Val::Bool(true)),
        deferred: text("answer") == Some("deferred"),
        at: at.to_string(),
        raw: line[brace..].to_string(),
        row: 0,
    };
    // A kind is one of the wire's words: nothing else reaches the hover text or a ShiViz line.
    let kind_ok = e.kind.bytes().all(|b| b.is_ascii_uppercase());
    let complete = kind_ok
        && match name {
            Name::Sent | Name::Stale => e.peer.is_some() && !e.kind.is_empty() && e.t.is_some(),
            Name::Request | Name::Reply => e.peer.is_some() && e.t.is_some(),
            Name::Requested => e.t.is_some(),
            _ => true,
        };
    if complete {
        Line::Ev(e)
    } else {
        Line::Incomplete
    }
}

/// A short description of an event, e.g. `P1 sent REQUEST(T=2) to P2, clock 2 (p1.log:7)`.
pub(super) fn describe(e: &Ev, rows: &[Row]) -> String {
    let mut s = rows
        .get(e.row)
        .map_or_else(|| format!("P{}", e.id), Row::label);
    let peer = |p: Option<Party>| match p {
        Some(Party::P(j)) => format!("P{j}"),
        _ => "the resource".into(),
    };
    let t = e.t.unwrap_or(0);
    let _ = match e.name {
        Name::Internal => write!(s, " internal event"),
        Name::Ignored => write!(s, " x ignored"),
        Name::Requested => write!(s, " requested the CS with T={t}"),
        Name::Sent => write!(
            s,
            " sent {}(T={t}) to {}{}",
            e.kind,
            peer(e.peer),
            if e.resend { " (resend)" } else { "" }
        ),
        Name::Request => write!(
            s,
            " received REQUEST(T={t}) from {}{}",
            peer(e.peer),
            if e.deferred {
                ": deferred"
            } else {
                ": replied"
            }
        ),
        Name::Reply => write!(s, " received REPLY(T={t}) from {}", peer(e.peer)),
        Name::DeferredBy => write!(s, " heard its REQUEST(T={t}) deferred by {}", peer(e.peer)),
        Name::Stale => write!(
            s,
            " received a duplicate {}(T={t}) from {}",
            e.kind,
            peer(e.peer)
        ),
        Name::Acked => write!(s, " got the resource's ACK"),
        Name::Restarted => write!(s, " saw {} restart", peer(e.peer)),
        Name::Entered => write!(s, " entered the CS (T={t})"),
        Name::Left => write!(s, " left the CS (T={t})"),
        Name::Released => write!(s, " released"),
        Name::ResourceSilent => write!(s, " gave up on the resource"),
    };
    let _ = write!(s, ", clock {} ({})", e.clock, e.at);
    s
}
