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
    /// `kind` (REQUEST, REPLY, ENTER, EXIT, ACK, ...; empty if none).
    pub(crate) kind: &'static str,
    /// `to` of a `sent`, `from` of a receive.
    pub(crate) peer: Option<Party>,
    /// `t`.
    pub(crate) t: Option<u64>,
    /// A resend.
    pub(crate) resend: bool,
    /// A REQUEST that was deferred.
    pub(crate) deferred: bool,
    /// Where: the input (index into [`Trace::files`]) and its line, from 1.
    pub(crate) file: u32,
    pub(crate) line: u32,
    /// The line as read, a byte range of its input (hover text, violation reports): the
    /// trace keeps its inputs instead of a copy of every line.
    pub(crate) raw: (usize, usize),
    /// Index of its process row (one per incarnation), set by [`read`].
    pub(crate) row: usize,
}

/// The wire's words a `kind` may be; any other is kept as `OTHER`.
const KINDS: [&str; 7] = [
    "REQUEST", "REPLY", "DEFERRED", "ENTER", "EXIT", "HELLO", "ACK",
];

impl Ev {
    /// A message to or from another process (not the resource).
    pub(crate) fn is_process_msg(&self) -> bool {
        matches!(self.peer, Some(Party::P(_))) && matches!(self.kind, "REQUEST" | "REPLY")
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
            _ => self.kind,
        }
    }
}

/// One process's life: its events in log order. A restart (a new `mutex_listening`) starts a
/// new life for the same id; a clock that goes back without one is a fault for `--check`, not
/// a restart. Lives of one id are ordered by when they started, whatever the order of the
/// files they came from.
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
    /// Cut or broken JSON that may have been a Lab 1 event.
    pub(crate) bad: u64,
    /// The counter peer's events.
    pub(crate) counter: u64,
    /// peerlab's notices, summaries and the shared resource's events.
    pub(crate) other: u64,
    /// JSON objects that are not peerlab events.
    pub(crate) foreign: u64,
    /// Lab 1 events without the fields they need.
    pub(crate) incomplete: u64,
    /// Where the first cut or broken line is, and the first incomplete event, with why.
    pub(crate) first_bad: Option<String>,
    pub(crate) first_incomplete: Option<String>,
    /// Events read twice (the same process's events in two inputs: its stdout and its
    /// `--trace` file), each kept once.
    pub(crate) repeated: u64,
}

impl Skipped {
    /// One note per kind of skipped line, e.g. `skipped 3 text lines (not JSON)`.
    pub(crate) fn notes(&self) -> Vec<String> {
        let at = |first: &Option<String>| {
            first
                .as_ref()
                .map_or(String::new(), |f| format!(" (first: {f})"))
        };
        [
            (self.text, "line(s) that are not JSON (text output)".to_string()),
            (
                self.bad,
                format!("truncated or malformed JSON line(s){}", at(&self.first_bad)),
            ),
            (self.counter, "event(s) of the counter peer".into()),
            (
                self.other,
                "other peerlab event(s) (notices, peers up/down, summaries, the shared resource)"
                    .into(),
            ),
            (self.foreign, "JSON object(s) that are not peerlab events".into()),
            (
                self.incomplete,
                format!(
                    "Lab 1 event(s) without the fields they need (id, clock, kind, to/from, t){}",
                    at(&self.first_incomplete)
                ),
            ),
            (
                self.repeated,
                "event(s) given twice (the same process's events at the same times in two inputs): kept once".into(),
            ),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("skipped {n} {what}"))
        .collect()
    }

    /// Lines that may have been Lab 1 events and could not be read: a check that needed
    /// them cannot say the rules hold.
    pub(crate) fn unreadable(&self) -> u64 {
        self.bad + self.incomplete
    }
}

/// Every Lab 1 event read, by process life.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trace {
    /// The inputs: each one's name as shown (no control or bidi character) and its text.
    pub(crate) files: Vec<(String, String)>,
    /// Events by life (rows in order), each life's in log order.
    pub(crate) evs: Vec<Ev>,
    /// Process lives, sorted by id then life.
    pub(crate) rows: Vec<Row>,
    /// What was skipped.
    pub(crate) skipped: Skipped,
    /// Lines read in all.
    pub(crate) lines: u64,
    /// For each input, whether it has a line that may have been a Lab 1 event and could not
    /// be read (what follows an `entered` there is not known for sure).
    pub(crate) unreadable_in: Vec<bool>,
    /// The processes that said they stopped (`mutex_summary`), and when.
    pub(crate) ended: Vec<(u16, u64)>,
}

impl Trace {
    /// Whether every event has a wall-clock time.
    pub(crate) fn has_ts(&self) -> bool {
        self.evs.iter().all(|e| e.ts.is_some())
    }
    /// The event's line as read, shown safely: at most [`RAW_MAX`] bytes, every character
    /// that could hide or reorder text as a visible code ([`visible`]).
    pub(crate) fn raw(&self, e: &Ev) -> String {
        let text = self.files.get(e.file as usize).map_or("", |f| &f.1);
        let line = text.get(e.raw.0..e.raw.1).unwrap_or("");
        let mut cut = line.len().min(RAW_MAX);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut s = visible(&line[..cut]);
        if cut < line.len() {
            s.push_str(&format!(" … ({} more bytes)", line.len() - cut));
        }
        s
    }
    /// `file:line`.
    pub(crate) fn at(&self, e: &Ev) -> String {
        let name = self
            .files
            .get(e.file as usize)
            .map_or("?", |f| f.0.as_str());
        format!("{name}:{}", e.line)
    }
}

/// The most of a line a report or a hover text shows.
pub(crate) const RAW_MAX: usize = 400;

/// Whether a character must not reach a figure, a terminal or a ShiViz log as itself: what
/// XML 1.0 forbids (C0 controls, U+FFFE, U+FFFF; tab too, to be seen), C1 controls and DEL
/// (terminal escapes), the bidi controls and line/paragraph separators (they reorder or break
/// what is shown, a spoofed hover text), invisible characters (zero-width, soft hyphen, fillers,
/// variation selectors, tags, BOM) and noncharacters.
pub(crate) fn hidden(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7f..=0x9f).contains(&u)
        || matches!(
            u,
            0xad | 0x034f
                | 0x061c
                | 0x115f
                | 0x1160
                | 0x17b4
                | 0x17b5
                | 0x180b..=0x180f
                | 0x200b..=0x200f
                | 0x2028..=0x202e
                | 0x2060..=0x206f
                | 0x3164
                | 0xfe00..=0xfe0f
                | 0xfeff
                | 0xffa0
                | 0xfff9..=0xfffb
                | 0xe0000..=0xe0fff
        )
        || (0xfdd0..=0xfdef).contains(&u)
        || u & 0xfffe == 0xfffe
}

/// `s` with every [`hidden`] character shown as its code, e.g. `\u{202e}`.
pub fn visible(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if hidden(c) {
            let _ = write!(o, "\\u{{{:x}}}", c as u32);
        } else {
            o.push(c);
        }
    }
    o
}

/// A part of one input holding one process's events: from a `mutex_listening` (or the
/// input's first event of that id) to the next.
struct Seg {
    id: u16,
    /// Its input.
    file: usize,
    from_start: bool,
    /// When it started: the `mutex_listening`'s or else the first event's `ts_us`.
    start: Option<u64>,
    evs: Vec<usize>,
}

/// Reads the traces in `inputs` (each `(name, text)`): one JSON object per line, CR LF
/// tolerated, text before the object (a `docker compose logs` prefix) tolerated. Near-linear:
/// one pass over the lines, one sort of the parts of lives.
pub(super) fn read(inputs: Vec<(String, String)>, lines: usize) -> Trace {
    let mut tr = Trace::default();
    // Room for every line at once: no doubling of a large vector on the way.
    tr.evs.reserve_exact(lines);
    // Events are cited as `file:line`: the file's own name, or its whole path where two
    // inputs share a name.
    let base = |n: &str| n[n.bytes().rposition(|b| b == b'/').map_or(0, |i| i + 1)..].to_string();
    let bases: Vec<String> = inputs.iter().map(|(n, _)| base(n)).collect();
    let cited: Vec<String> = inputs
        .iter()
        .zip(&bases)
        .map(|((n, _), b)| {
            let twice = bases.iter().filter(|o| *o == b).count() > 1;
            visible(if twice { n } else { b })
        })
        .collect();
    let mut segs: Vec<Seg> = Vec::new();
    // The current part of each id in the input being read (u32::MAX: none).
    let mut current = vec![u32::MAX; usize::from(u16::MAX) + 1];
    for (f, (name, text)) in inputs.into_iter().enumerate() {
        let first_seg = segs.len();
        let base = text.as_ptr() as usize;
        let file = u32::try_from(f).unwrap_or(u32::MAX);
        let mut unreadable = false;
        for (n, line) in text.lines().enumerate() {
            tr.lines += 1;
            // trim() takes the CR of a CR LF line end too.
            let line = line.trim();
            let at = n.saturating_add(1);
            let off = line.as_ptr() as usize - base;
            match classify(line) {
                Line::Ev(mut e, brace) => {
                    e.file = file;
                    e.line = u32::try_from(at).unwrap_or(u32::MAX);
                    e.raw = (off + brace, off + line.len());
                    let i = tr.evs.len();
                    let c = &mut current[usize::from(e.id)];
                    if *c == u32::MAX {
                        segs.push(Seg {
                            id: e.id,
                            file: f,
                            from_start: false,
                            start: e.ts,
                            evs: Vec::new(),
                        });
                        *c = (segs.len() - 1) as u32;
                    }
                    let seg = &mut segs[*c as usize];
                    // A start without ts_us is placed by its first event's.
                    if seg.start.is_none() {
                        seg.start = e.ts;
                    }
                    seg.evs.push(i);
                    tr.evs.push(e);
                }
                Line::Start(id, ts) => {
                    // Every start begins a part, even one with no event after it here (its
                    // life's lines may be in another input).
                    segs.push(Seg {
                        id,
                        file: f,
                        from_start: true,
                        start: ts,
                        evs: Vec::new(),
                    });
                    current[usize::from(id)] = (segs.len() - 1) as u32;
                }
                Line::Text => tr.skipped.text += 1,
                Line::Bad => {
                    unreadable = true;
                    tr.skipped.bad += 1;
                    if tr.skipped.first_bad.is_none() {
                        tr.skipped.first_bad = Some(format!("{}:{at}", visible(&name)));
                    }
                }
                Line::Counter => tr.skipped.counter += 1,
                Line::Other => tr.skipped.other += 1,
                Line::End(id, ts) => {
                    tr.skipped.other += 1;
                    tr.ended.push((id, ts.unwrap_or(0)));
                }
                Line::Foreign => tr.skipped.foreign += 1,
                Line::Incomplete(why) => {
                    unreadable = true;
                    tr.skipped.incomplete += 1;
                    if tr.skipped.first_incomplete.is_none() {
                        tr.skipped.first_incomplete =
                            Some(format!("{}:{at}: {why}", visible(&name)));
                    }
                }
                Line::Empty => {}
            }
        }
        for s in &segs[first_seg..] {
            current[usize::from(s.id)] = u32::MAX;
        }
        tr.files.push((cited[f].clone(), text));
        tr.unreadable_in.push(unreadable);
    }
    lives(&mut tr, segs);
    tr
}

/// Joins the parts into lives: per id, by when each part started (then input order); a part
/// with its own start begins a new life, one without continues the life before it unless it
/// began before that life's last event (then it is another process with the same id). A part
/// whose events within the life's time are the life's own (one process's stdout and its
/// `--trace` file, both given, whole or in part) adds only what comes after.
fn lives(tr: &mut Trace, segs: Vec<Seg>) {
    let segs = split_at_starts(tr, segs);
    let order = super::sort::sorted(segs.len(), &|k| {
        [u64::from(segs[k].id), segs[k].start.unwrap_or(0), k as u64]
    });
    // The same event written twice: to stdout and to the `--trace` file, each line stamped
    // when written (a few microseconds apart).
    let same = |i: usize, j: usize| {
        let (x, y) = (&tr.evs[i], &tr.evs[j]);
        let near = match (x.ts, y.ts) {
            (Some(a), Some(b)) => a.abs_diff(b) <= COPY_US,
            (a, b) => a == b,
        };
        near && (x.name, x.clock, x.kind, x.peer, x.t, x.resend)
            == (y.name, y.clock, y.kind, y.peer, y.t, y.resend)
    };
    // How many of the part's first events the life already has (the part repeats it up to
    // there: the same events at the same times), if every event of the part within the life's
    // time does.
    let repeats = |r: &Row, s: &Seg| -> Option<usize> {
        if r.evs.last().and_then(|&i| tr.evs[i].ts).is_none() {
            // No times: only a part that is the very same as the life is known to repeat it.
            let all =
                r.evs.len() == s.evs.len() && r.evs.iter().zip(&s.evs).all(|(&i, &j)| same(i, j));
            return all.then_some(s.evs.len());
        }
        let ts = |i: usize| tr.evs[i].ts.unwrap_or(0);
        let &j0 = s.evs.first()?;
        // Where the part's first event is in the life (its times rise: found by halving), then
        // event after event the same, in the same order, until the life has no more: a copy.
        // A difference while the life goes on: not one.
        let from = r
            .evs
            .partition_point(|&i| ts(i) < ts(j0).saturating_sub(COPY_US));
        r.evs[from..]
            .iter()
            .enumerate()
            .take_while(|&(_, &i)| ts(i) <= ts(j0).saturating_add(COPY_US))
            .filter(|&(_, &i)| same(i, j0))
            .find_map(|(k, _)| {
                let at = from + k;
                let n = r.evs[at..]
                    .iter()
                    .zip(&s.evs)
                    .take_while(|&(&i, &j)| same(i, j))
                    .count();
                // A part with its own start copies a life from its start.
                let whole = at + n == r.evs.len() || n == s.evs.len();
                (whole && (at == 0 || !s.from_start)).then_some(n)
            })
    };
    // Whether the part's events, merged by time into the life's last ones, keep its clock
    // from going back: then they are one life whose lines were split over inputs.
    let merged = |r: &Row, s: &Seg| -> Option<Vec<usize>> {
        let ts = |i: usize| tr.evs[i].ts;
        let first = ts(*s.evs.first()?)?;
        let from = r
            .evs
            .partition_point(|&i| ts(i).is_some_and(|t| t <= first));
        let (mut a, mut b) = (r.evs[from..].iter().peekable(), s.evs.iter().peekable());
        let mut out: Vec<usize> = r.evs[..from].to_vec();
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if ts(x) <= ts(y) => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, _) => b.next(),
            };
            let Some(&i) = next else { break };
            if out
                .last()
                .is_some_and(|&l| tr.evs[l].clock > tr.evs[i].clock || ts(i) < ts(l))
            {
                return None;
            }
            out.push(i);
        }
        Some(out)
    };
    let mut rows: Vec<Row> = Vec::new();
    // A start whose life's events are in another input (a restart line last in its file).
    let mut pending: Option<(u16, Option<u64>)> = None;
    for &k in &order {
        let s = &segs[k];
        if s.evs.is_empty() {
            if s.from_start && s.start.is_some() {
                pending = Some((s.id, s.start));
            }
            continue;
        }
        let started = s.from_start || pending.is_some_and(|(id, at)| id == s.id && at <= s.start);
        pending = None;
        let last_ts = |r: &Row| r.evs.last().and_then(|&i| tr.evs[i].ts);
        let prev = rows.last().filter(|r| r.id == s.id);
        let dup = prev.and_then(|r| repeats(r, s));
        if dup.is_none() && !started {
            if let Some(m) = prev
                .filter(|r| last_ts(r) > s.start)
                .and_then(|r| merged(r, s))
            {
                if let Some(r) = rows.last_mut() {
                    r.evs = m;
                }
                continue;
            }
        }
        let joins = match (prev, dup) {
            (Some(_), Some(_)) => true,
            (Some(r), None) if !started => match (last_ts(r), s.start) {
                (Some(end), Some(start)) => start >= end,
                _ => true,
            },
            _ => false,
        };
        if let Some(n) = dup.filter(|&n| n > 0) {
            tr.skipped.repeated += n as u64;
        }
        if joins {
            if let Some(r) = rows.last_mut() {
                r.evs.extend_from_slice(&s.evs[dup.unwrap_or(0)..]);
            }
        } else {
            rows.push(Row {
                id: s.id,
                life: prev.map_or(0, |r| r.life + 1),
                from_start: started,
                evs: s.evs.clone(),
            });
        }
    }
    // Events numbered by life, then in each life's order: what is drawn and reported does not
    // depend on the order the inputs were given in (and repeated events are dropped). In
    // place (no second copy of every event): each goes to its place by following cycles.
    let mut dest = vec![usize::MAX; tr.evs.len()];
    let mut n = 0;
    for (k, r) in rows.iter_mut().enumerate() {
        for i in &mut r.evs {
            dest[*i] = n;
            tr.evs[*i].row = k;
            *i = n;
            n += 1;
        }
    }
    for i in 0..tr.evs.len() {
        while dest[i] != usize::MAX && dest[i] != i {
            let d = dest[i];
            tr.evs.swap(i, d);
            dest.swap(i, d);
        }
    }
    tr.evs.truncate(n);
    tr.rows = rows;
}

/// How far apart two copies of one event may be stamped (stdout and the trace file: tens of
/// microseconds on an idle machine; a copy must also repeat the life event after event).
const COPY_US: u64 = 999;

/// Parts cut where a start of their process (from any input) falls between their events: a
/// restart line in one file, the lives' lines in another.
fn split_at_starts(tr: &Trace, segs: Vec<Seg>) -> Vec<Seg> {
    let mut starts: Vec<(u16, u64, usize)> = segs
        .iter()
        .filter(|s| s.from_start)
        .filter_map(|s| s.start.map(|t| (s.id, t, s.file)))
        .collect();
    let order = super::sort::sorted(starts.len(), &|k| [u64::from(starts[k].0), starts[k].1, 0]);
    starts = order.iter().map(|&k| starts[k]).collect();
    let mut out = Vec::with_capacity(segs.len());
    for s in segs {
        let from = starts.partition_point(|&(id, _, _)| id < s.id);
        let mine = &starts[from..from + starts[from..].partition_point(|&(id, _, _)| id == s.id)];
        let first = s.evs.first().and_then(|&i| tr.evs[i].ts);
        let (Some(mut at), false) = (first, mine.is_empty()) else {
            out.push(s);
            continue;
        };
        let mut cur = Seg {
            id: s.id,
            file: s.file,
            from_start: s.from_start,
            start: s.start,
            evs: Vec::new(),
        };
        for &i in &s.evs {
            let t = tr.evs[i].ts.unwrap_or(at);
            // The last start after the previous event and at or before this one.
            // (A start in the part's own input is where its lines say: not a cut here.)
            let k = mine.partition_point(|&(_, b, _)| b <= t);
            // Nor a copy of one of its own input's starts (stdout and the trace file).
            let copy = |b: u64| {
                mine.iter()
                    .any(|&(_, o, f)| f == s.file && o.abs_diff(b) <= COPY_US)
            };
            if k > 0
                && mine[k - 1].1 > at
                && mine[k - 1].2 != s.file
                && !copy(mine[k - 1].1)
                && !cur.evs.is_empty()
            {
                let next = Seg {
                    id: s.id,
                    file: s.file,
                    from_start: true,
                    start: Some(mine[k - 1].1),
                    evs: Vec::new(),
                };
                out.push(std::mem::replace(&mut cur, next));
            }
            cur.evs.push(i);
            at = t;
        }
        out.push(cur);
    }
    out
}

enum Line {
    /// An event, and where its object starts in the line.
    Ev(Ev, usize),
    /// A `mutex_listening` of process `id`, at `ts_us`: a (re)start.
    Start(u16, Option<u64>),
    /// A `mutex_summary`: process `id` stopped (its trace is whole to there).
    End(u16, Option<u64>),
    Text,
    Bad,
    Counter,
    Other,
    Foreign,
    /// A Lab 1 event that cannot be read, and why.
    Incomplete(&'static str),
    Empty,
}

/// What a line that is not a whole JSON object was, from its `"event":"..."`: a Lab 1 event
/// (or a line too cut to tell) may have mattered; another's did not.
fn classify_cut(line: &str) -> Line {
    let Some(k) = line.find("\"event\":\"") else {
        return Line::Bad;
    };
    let rest = &line[k + 9..];
    let Some(end) = rest.find('"') else {
        return Line::Bad;
    };
    let event = &rest[..end];
    if NAMES.iter().any(|(n, _)| *n == event) || event == "mutex_listening" {
        Line::Bad
    } else if COUNTER.contains(&event) {
        Line::Counter
    } else if OTHER.contains(&event) || event.starts_with("resource_") || event.starts_with("peer_")
    {
        Line::Other
    } else {
        Line::Foreign
    }
}

fn classify(line: &str) -> Line {
    if line.is_empty() {
        return Line::Empty;
    }
    let Some(brace) = line.find('{') else {
        return Line::Text;
    };
    let fields = match parse_object(&line[brace..]) {
        Ok(f) => f,
        // Text that happens to hold a brace, or a cut/broken object.
        Err(_) if brace > 0 && !line.contains("\"event\"") => return Line::Text,
        Err(_) => return classify_cut(&line[brace..]),
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
            ("mutex_listening", Some(id)) => Line::Start(id, num("ts_us")),
            ("mutex_summary", Some(id)) => Line::End(id, num("ts_us")),
            _ if COUNTER.contains(&event) => Line::Counter,
            _ if OTHER.contains(&event)
                || event.starts_with("resource_")
                || event.starts_with("peer_") =>
            {
                Line::Other
            }
            ("mutex_listening", None) => Line::Incomplete("a start without a process id"),
            _ => Line::Foreign,
        };
    };
    let party = |k: &str| match get(k) {
        Some(Val::Num(j)) => u16::try_from(*j).ok().map(Party::P),
        Some(Val::Str(s)) if s == "resource" => Some(Party::Resource),
        _ => None,
    };
    let Some(id) = id else {
        return Line::Incomplete("no process id (a number from 0 to 65535)");
    };
    let Some(clock) = num("clock") else {
        return Line::Incomplete("no clock (a whole number)");
    };
    if get("ts_us").is_some() && num("ts_us").is_none() {
        return Line::Incomplete("ts_us is not a whole number of microseconds");
    }
    let kind = match text("kind") {
        None => "",
        Some(k) => match KINDS.iter().find(|&&w| w == k) {
            Some(w) => w,
            // A kind is one of the wire's words: nothing else reaches a hover text or a log.
            None if !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase()) => "OTHER",
            None => return Line::Incomplete("a kind that is not a message's"),
        },
    };
    let e = Ev {
        name,
        id,
        clock,
        ts: num("ts_us"),
        kind,
        peer: party("to").or_else(|| party("from")),
        t: num("t"),
        resend: get("resend") == Some(&Val::Bool(true)),
        deferred: text("answer") == Some("deferred"),
        file: 0,
        line: 0,
        raw: (0, 0),
        row: 0,
    };
    let why = match name {
        Name::Sent | Name::Stale if e.peer.is_none() => "no to/from (a process id or \"resource\")",
        Name::Sent | Name::Stale if e.kind.is_empty() => "no kind",
        Name::Request | Name::Reply if e.peer.is_none() => "no from (a process id)",
        Name::Sent | Name::Stale | Name::Request | Name::Reply | Name::Requested
            if e.t.is_none() =>
        {
            "no t (the request's T)"
        }
        Name::Entered | Name::Left if get("t").is_some() && e.t.is_none() => {
            "t is not a whole number"
        }
        _ => return Line::Ev(e, brace),
    };
    Line::Incomplete(why)
}

/// A short description of an event, e.g. `P1 sent REQUEST(T=2) to P2, clock 2 (p1.log:7)`.
pub(super) fn describe(tr: &Trace, e: &Ev) -> String {
    let mut s = tr
        .rows
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
    let _ = write!(s, ", clock {} ({})", e.clock, tr.at(e));
    s
}
