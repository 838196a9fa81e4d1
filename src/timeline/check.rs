//! `--check`: what the trace alone shows about the lab's claims. The Lamport rules of the
//! course (LAB1-SPEC §3: an internal event and a request tick once; a receive sets
//! max(clock, received) + 1, the received value being a REQUEST's T or the REPLY's sender's
//! clock, known from the matched `sent`; sending, duplicates, entering and leaving never
//! tick), causality (no message received before it was sent), one process per id at a time,
//! mutual exclusion (no two `entered`..`left` intervals overlap, by wall clock) and entries
//! in increasing (T, id).
//!
//! It never says more than it saw: whatever it could not check (a line that may have been an
//! event and could not be read, events without a wall clock, a clock that goes back, a process
//! named in messages whose trace is missing) is said, and the verdict is then not "hold".
//! Every step is near-linear, and a report shows the first [`SHOWN`] violations and counts
//! the rest.

use super::model;
use super::trace::{describe, Ev, Name, Party, Trace};

/// Violations shown in full; the rest are counted.
pub(super) const SHOWN: usize = 20;

/// What the check found.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// The first [`SHOWN`] violations, each with the events involved.
    pub(super) shown: Vec<String>,
    /// Violations found in all.
    pub(super) count: u64,
    /// What could not be checked, each said once.
    pub(super) unchecked: Vec<String>,
}

impl Report {
    fn add(&mut self, v: impl FnOnce() -> String) {
        self.count += 1;
        if self.shown.len() < SHOWN {
            self.shown.push(v());
        }
    }
    /// The first line of the first violation, or of the first thing not checked.
    pub(super) fn headline(&self) -> &str {
        let s = self.shown.first().or(self.unchecked.first());
        s.map_or("", |s| s.lines().next().unwrap_or("").trim_end_matches(':'))
    }
}

/// Checks everything the trace shows.
pub(super) fn check(tr: &Trace) -> Report {
    let mut r = Report::default();
    let n = tr.skipped.unreadable();
    if n > 0 {
        let first = tr
            .skipped
            .first_incomplete
            .as_ref()
            .or(tr.skipped.first_bad.as_ref());
        r.unchecked.push(format!(
            "{n} line(s) that may be Lab 1 events could not be read (first: {}): the rules are not checked on them",
            first.map_or("?", String::as_str)
        ));
    }
    missing_processes(tr, &mut r);
    let arrows = model::match_messages(tr);
    let mut sent_with = vec![None; tr.evs.len()];
    for a in &arrows {
        if let Some(rcv) = a.recv {
            sent_with[rcv] = Some(a.send);
        }
    }
    unmatched(tr, &sent_with, &mut r);
    lamport(tr, &sent_with, &mut r);
    causality(tr, &sent_with, &mut r);
    lives(tr, &mut r);
    exclusion(tr, &mut r);
    r
}

fn show(tr: &Trace, e: &Ev) -> String {
    format!("\n    {}\n      {}", describe(tr, e), tr.raw(e))
}

/// Processes that messages name but that have no trace: what they did is not checked.
pub(super) fn missing_processes(tr: &Trace, r: &mut Report) {
    let mut has = vec![false; usize::from(u16::MAX) + 1];
    for row in &tr.rows {
        has[usize::from(row.id)] = true;
    }
    let mut named = vec![false; usize::from(u16::MAX) + 1];
    for e in &tr.evs {
        if let (Some(Party::P(j)), true) = (e.peer, e.is_process_msg() || e.is_receive()) {
            named[usize::from(j)] = true;
        }
    }
    let missing: Vec<String> = (0..named.len())
        .filter(|&j| named[j] && !has[j])
        .map(|j| format!("P{j}"))
        .collect();
    if !missing.is_empty() {
        let some: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        r.unchecked.push(format!(
            "no trace of {}{} (messages name {}): what {} did (clocks, use of the CS) is not checked; give every process's trace",
            some.join(", "),
            if missing.len() > 10 {
                format!(" and {} more", missing.len() - 10)
            } else {
                String::new()
            },
            if missing.len() == 1 { "it" } else { "them" },
            if missing.len() == 1 { "it" } else { "they" }
        ));
    }
}

/// Receives whose send the sender's trace does not have (a trace that lost lines, a message
/// from a life whose trace is not given, a forged line): what they took in is not known, so
/// their rules are not checked, and that is said.
///
/// A receive after the end of the trace of a sender that did not say it stopped is not one: a
/// trace read while the run goes on (the files read one after the other) ends there, and the
/// send comes after.
fn unmatched(tr: &Trace, sent_with: &[Option<usize>], r: &mut Report) {
    let mut has = vec![false; usize::from(u16::MAX) + 1];
    let mut ends = vec![0u64; usize::from(u16::MAX) + 1];
    for row in &tr.rows {
        has[usize::from(row.id)] = true;
        for &i in &row.evs {
            let t = tr.evs[i].ts.unwrap_or(0);
            ends[usize::from(row.id)] = ends[usize::from(row.id)].max(t);
        }
    }
    // A process that stopped after its last event: its trace is whole, nothing comes after.
    for &(id, t) in &tr.ended {
        if t >= ends[usize::from(id)] {
            ends[usize::from(id)] = u64::MAX;
        }
    }
    let lone: Vec<usize> = (0..tr.evs.len())
        .filter(|&i| {
            let e = &tr.evs[i];
            let from_known = match e.peer {
                Some(Party::P(j)) => {
                    has[usize::from(j)] && e.ts.is_none_or(|t| t <= ends[usize::from(j)])
                }
                _ => true,
            };
            let receive = match e.name {
                Name::Request | Name::Reply => true,
                Name::Stale => e.is_process_msg(),
                _ => false,
            };
            receive && from_known && sent_with[i].is_none()
        })
        .collect();
    if let Some(&first) = lone.first() {
        r.unchecked.push(format!(
            "{} receive(s) of a message the sender's trace has no send of (a lost trace line? a life whose trace is not given?): what they took in is not known, their rules are not checked; the first:{}",
            lone.len(),
            show(tr, &tr.evs[first])
        ));
    }
}

/// The REPLY sends of each (sender, receiver, T), sorted, for [`other_copy`].
fn reply_sends(tr: &Trace) -> Vec<usize> {
    let mut v: Vec<usize> = (0..tr.evs.len())
        .filter(|&i| {
            tr.evs[i].name == Name::Sent && tr.evs[i].kind == "REPLY" && tr.evs[i].is_process_msg()
        })
        .collect();
    super::sort::sort_by(&mut v, &|i| reply_key(tr, i));
    v
}

fn reply_key(tr: &Trace, i: usize) -> [u64; 3] {
    let e = &tr.evs[i];
    let (from, to) = match (e.name, e.peer) {
        (Name::Sent, Some(Party::P(j))) => (e.id, j),
        (_, Some(Party::P(j))) => (j, e.id),
        _ => (0, 0),
    };
    [(u64::from(from) << 16) | u64::from(to), e.t.unwrap_or(0), 0]
}

/// Whether another copy of the REPLY that `rcv` took in, sent before it, explains its clock:
/// copies of one REPLY may carry different clocks, and an earlier one may arrive after a
/// later one (reordering).
fn other_copy(tr: &Trace, sends: &[usize], rcv: usize, fits: &dyn Fn(u64) -> bool) -> bool {
    let key = reply_key(tr, rcv);
    let from = sends.partition_point(|&s| reply_key(tr, s) < key);
    let before = |s: usize| match (tr.evs[s].ts, tr.evs[rcv].ts) {
        (Some(a), Some(b)) => a <= b,
        _ => true,
    };
    sends[from..]
        .iter()
        .take_while(|&&s| reply_key(tr, s) == key)
        .any(|&s| before(s) && fits(tr.evs[s].clock))
}

fn lamport(tr: &Trace, sent_with: &[Option<usize>], r: &mut Report) {
    let replies = reply_sends(tr);
    for row in &tr.rows {
        let mut prev: Option<usize> = None;
        // The clock before the row's first event: 0 if the trace has its start.
        let mut clock = row.from_start.then_some(0);
        let mut t_req = None;
        for &i in &row.evs {
            let e = &tr.evs[i];
            let before = clock;
            clock = Some(e.clock);
            if e.name == Name::Requested {
                t_req = e.t;
            }
            // What a receive took in: the REQUEST's T, or the REPLY's sender's clock.
            let send = sent_with[i];
            let received = match e.name {
                Name::Request => e.t,
                Name::Reply => send.map(|s| tr.evs[s].clock),
                _ => None,
            };
            let Some(c) = before else {
                // The clock before is unknown, but a receive is after what it received.
                let explained =
                    e.name == Name::Reply && other_copy(tr, &replies, i, &|v| e.clock > v);
                if let Some(v) = received.filter(|&v| e.clock <= v && !explained) {
                    r.add(|| {
                        let mut m = format!(
                            "Lamport: a receive sets max(clock, received) + 1, at least {}: found {}:",
                            v.saturating_add(1),
                            e.clock
                        );
                        if let Some(s) = send {
                            m.push_str(&show(tr, &tr.evs[s]));
                        }
                        m.push_str(&show(tr, e));
                        m
                    });
                }
                prev = Some(i);
                continue;
            };
            let (want, rule) = match e.name {
                Name::Internal => (c.saturating_add(1), "an internal event ticks once"),
                Name::Requested => (c.saturating_add(1), "a request ticks once"),
                Name::Request => (
                    c.max(e.t.unwrap_or(0)).saturating_add(1),
                    "receiving a REQUEST sets max(clock, T) + 1",
                ),
                Name::Reply => match received {
                    Some(v) => (
                        c.max(v).saturating_add(1),
                        "receiving a REPLY sets max(clock, sender's clock) + 1",
                    ),
                    // The sender's clock is unknown: at least it must tick.
                    None if e.clock > c => (e.clock, ""),
                    None => (c.saturating_add(1), "receiving a REPLY ticks"),
                },
                Name::Sent if e.kind == "REPLY" => (c, "sending a REPLY never ticks"),
                Name::Sent if e.kind == "REQUEST" => {
                    if t_req.is_none() && row.from_start {
                        r.add(|| {
                            format!(
                                "Lamport: a REQUEST is sent for a request, and this life made none (T={}):{}",
                                e.t.unwrap_or(0),
                                show(tr, e)
                            )
                        });
                    }
                    if let Some(t) = t_req.filter(|&t| e.t != Some(t)) {
                        r.add(|| {
                            format!(
                                "Lamport: every REQUEST of a request carries its T={t}, this one T={}:{}",
                                e.t.unwrap_or(0),
                                show(tr, e)
                            )
                        });
                    }
                    (
                        c,
                        "sending a REQUEST does not tick (the request ticked once)",
                    )
                }
                Name::Sent if e.kind == "DEFERRED" => (c, "sending a DEFERRED does not tick"),
                Name::DeferredBy => (c, "receiving a DEFERRED does not tick"),
                Name::Sent => (c, "messages to the shared resource do not tick"),
                Name::Stale => (c, "a duplicate or outdated message does not tick"),
                Name::Entered | Name::Left => (c, "entering and leaving the CS do not tick"),
                _ => (c, "only internal events, requests and receives tick"),
            };
            if e.name == Name::Entered {
                match t_req {
                    Some(t) if e.t.is_some_and(|et| et != t) => r.add(|| {
                        format!(
                            "order: an entry is for the request made (T={t}), this one says T={}:{}",
                            e.t.unwrap_or(0),
                            show(tr, e)
                        )
                    }),
                    None if row.from_start => r.add(|| {
                        format!(
                            "order: an entry follows a request, and this life made none:{}",
                            show(tr, e)
                        )
                    }),
                    _ => {}
                }
            }
            if e.name == Name::Requested && e.t != Some(e.clock) {
                r.add(|| {
                    format!(
                        "Lamport: a request's T is the clock after its tick ({}), not {}:{}",
                        e.clock,
                        e.t.unwrap_or(0),
                        show(tr, e)
                    )
                });
            }
            let explained = e.name == Name::Reply
                && e.clock != want
                && other_copy(tr, &replies, i, &|v| e.clock == c.max(v).saturating_add(1));
            if e.clock != want && !explained {
                r.add(|| {
                    let mut m = format!(
                        "Lamport: {rule}: expected clock {want}, found {} (clock before: {c}):",
                        e.clock
                    );
                    if let Some(p) = prev {
                        m.push_str(&show(tr, &tr.evs[p]));
                    }
                    if let Some(s) = send {
                        m.push_str(&show(tr, &tr.evs[s]));
                    }
                    m.push_str(&show(tr, e));
                    m
                });
            }
            prev = Some(i);
        }
    }
}

/// No message is received before it was sent: the events, ordered by their processes and by
/// the matched messages, have no cycle (Kahn's algorithm, linear).
fn causality(tr: &Trace, sent_with: &[Option<usize>], r: &mut Report) {
    let n = tr.evs.len();
    let mut next = vec![usize::MAX; n];
    let mut indeg = vec![0u32; n];
    for row in &tr.rows {
        for w in row.evs.windows(2) {
            next[w[0]] = w[1];
            indeg[w[1]] += 1;
        }
    }
    // The receive each send's message reached (several sends of a message each have theirs).
    let mut reached = vec![usize::MAX; n];
    for (rcv, s) in sent_with.iter().enumerate() {
        if let Some(s) = *s {
            reached[s] = rcv;
            indeg[rcv] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut done = 0;
    while let Some(i) = ready.pop() {
        done += 1;
        for j in [next[i], reached[i]] {
            if j != usize::MAX {
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if done < n {
        // A receive on the cycle, with its send.
        let stuck = (0..n).find(|&i| indeg[i] > 0 && sent_with[i].is_some_and(|s| indeg[s] > 0));
        r.add(|| {
            let mut m = format!(
                "causality: {} event(s) are on a cycle of messages, each received before it was sent (a receive's clock is not above its send's):",
                n - done
            );
            if let Some(i) = stuck {
                if let Some(s) = sent_with[i] {
                    m.push_str(&show(tr, &tr.evs[s]));
                }
                m.push_str(&show(tr, &tr.evs[i]));
            }
            m
        });
    }
}

/// One process per id at a time: a life that starts before the previous life of its id
/// logged its last event is another process with the same id.
fn lives(tr: &Trace, r: &mut Report) {
    for w in tr.rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if a.id != b.id {
            continue;
        }
        let (Some(&last), Some(&first)) = (a.evs.last(), b.evs.first()) else {
            continue;
        };
        let (Some(end), Some(start)) = (tr.evs[last].ts, tr.evs[first].ts) else {
            continue;
        };
        let (l, f) = (&tr.evs[last], &tr.evs[first]);
        if start < end && l.file == f.file && f.line > l.line {
            // One after the other in one file (a restart appended): its wall clock went back.
            r.unchecked.push(format!(
                "one process per id and mutual exclusion not sure for {} and {}: they follow each other in {}, but the wall clock went back between them:{}{}",
                a.label(),
                b.label(),
                tr.files.get(l.file as usize).map_or("?", |x| x.0.as_str()),
                show(tr, l),
                show(tr, f)
            ));
        } else if start < end {
            r.add(|| {
                format!(
                    "one process per id: {} and {} ran at the same time: two processes with id {} ({} started before {}'s last event):{}{}",
                    a.label(),
                    b.label(),
                    a.id,
                    b.label(),
                    a.label(),
                    show(tr, &tr.evs[first]),
                    show(tr, &tr.evs[last])
                )
            });
        }
    }
}

/// One stay in the CS: the `entered` event, its `left` (if any) and when it ended.
struct Stay {
    row: usize,
    enter: usize,
    left: Option<usize>,
    from: u64,
    until: u64,
    /// The first entry of a process that restarted (its clock started over).
    fresh: bool,
}

fn exclusion(tr: &Trace, r: &mut Report) {
    let no_ts = tr.evs.iter().filter(|e| e.ts.is_none()).count();
    if no_ts > 0 {
        let first = tr.evs.iter().find(|e| e.ts.is_none());
        r.unchecked.push(format!(
            "mutual exclusion and (T, id) order not checked: {no_ts} event(s) have no ts_us (wall clock; first: {})",
            first.map_or("?".into(), |e| tr.at(e))
        ));
        return;
    }
    let ts = |i: usize| tr.evs[i].ts.unwrap_or(0);
    let mut stays = Vec::new();
    let mut back = Vec::new();
    let mut unsure = Vec::new();
    let mut lone_left = Vec::new();
    let mut lost_left = Vec::new();
    let mut lost_entry = Vec::new();
    let mut open_end = Vec::new();
    // (process, when, event) of every restart another process saw.
    let restarts: Vec<(u16, u64, usize)> = (0..tr.evs.len())
        .filter_map(|i| match (tr.evs[i].name, tr.evs[i].peer) {
            (Name::Restarted, Some(Party::P(j))) => Some((j, ts(i), i)),
            _ => None,
        })
        .collect();
    let mut unseen = Vec::new();
    for (ri, row) in tr.rows.iter().enumerate() {
        // A life whose wall clock goes back cannot be placed in time for sure (a `left`
        // stamped before its `entered` hides its stay, one stamped late makes one): said, and
        // its stays are not used (neither to clear nor to blame).
        if let Some(w) = row.evs.windows(2).find(|w| ts(w[1]) < ts(w[0])) {
            back.push((ri, w[0], w[1]));
            continue;
        }
        // A stay without `left` ends when the process's next life starts (it was killed
        // inside), or never.
        let mut next_life = tr
            .rows
            .get(ri + 1)
            .filter(|n| n.id == row.id)
            .and_then(|n| n.evs.first())
            .map_or(u64::MAX, |&i| ts(i));
        if next_life == u64::MAX {
            // Others saw it start again after its trace ends: that life's trace is not given,
            // but its start ends this one.
            let end = row.evs.last().map_or(0, |&i| ts(i));
            let seen = restarts
                .iter()
                .filter(|&&(id, t, _)| id == row.id && t > end)
                .min_by_key(|&&(_, t, _)| t);
            if let Some(&(_, t, i)) = seen {
                next_life = t;
                unseen.push((ri, i));
            }
        }
        let mut open: Option<usize> = None;
        let mut asked: Option<usize> = None;
        let mut first = true;
        for &i in &row.evs {
            match tr.evs[i].name {
                // Entering again, releasing or asking again while inside: its `left` is not in
                // the trace (a lost line); when it left is not known, so it blocks no one.
                Name::Entered | Name::Released | Name::Requested if open.is_some() => {
                    if let Some(o) = open.take() {
                        stays.push(stay(ri, o, None, ts(o), ts(o), row.life > 0 && first));
                        first = false;
                        lost_left.push(o);
                    }
                    if tr.evs[i].name == Name::Entered {
                        open = Some(i);
                    }
                }
                Name::Entered => open = Some(i),
                // Asking twice without entering between: an entry (or more) is not in the trace.
                Name::Requested if asked.is_some() => lost_entry.push(i),
                Name::Left => {
                    if let Some(o) = open.take() {
                        let fresh = row.life > 0 && first;
                        first = false;
                        stays.push(stay(ri, o, Some(i), ts(o), ts(i), fresh));
                    } else {
                        // When it entered is not known: its stay cannot be checked.
                        lone_left.push(i);
                    }
                }
                _ => {}
            }
            match tr.evs[i].name {
                Name::Requested => asked = Some(i),
                Name::Entered => asked = None,
                _ => {}
            }
        }
        if let Some(o) = open {
            // Its end is not known if its input has a line that could not be read (it may
            // have been the `left`): it then blocks no one, and that is said.
            let e = &tr.evs[o];
            // Inside when its trace ends, still running (no next life, no `mutex_summary`
            // after): a trace read while the run goes on; whether it left after is not known.
            let trace_end = row.evs.last().map_or(0, |&i| ts(i));
            let stopped = tr
                .ended
                .iter()
                .any(|&(id, t)| id == row.id && t >= trace_end);
            let end = if tr
                .unreadable_in
                .get(e.file as usize)
                .copied()
                .unwrap_or(false)
            {
                unsure.push(o);
                ts(o)
            } else if next_life == u64::MAX && !stopped {
                open_end.push((ri, o, trace_end));
                trace_end
            } else if next_life == u64::MAX {
                // It stopped (its summary) without `left`: a process writes `left` first.
                lost_left.push(o);
                ts(o)
            } else {
                next_life
            };
            stays.push(stay(ri, o, None, ts(o), end, row.life > 0 && first));
        }
    }
    if let Some(&(ri, i)) = unseen.first() {
        r.unchecked.push(format!(
            "{} started again after its trace ends (others saw it), and the trace of that life is not given{}: what it did then is not checked; give every trace of the run, the restarted one's too:{}",
            tr.rows[ri].label(),
            if unseen.len() > 1 {
                format!(" (nor for {} other life(s))", unseen.len() - 1)
            } else {
                String::new()
            },
            show(tr, &tr.evs[i])
        ));
    }
    say(tr, r, &lost_left, &|n, first| {
        format!("mutual exclusion not checked for {n} stay(s) whose `left` is not in the trace (it entered, released or asked again, or stopped, without one: a lost line?), the first:{first}")
    });
    say(tr, r, &lost_entry, &|n, first| {
        format!("{n} request(s) made while the one before had not entered (an `entered` and its stay not in the trace: a lost line?), the first:{first}")
    });
    say(tr, r, &lone_left, &|n, first| {
        format!("mutual exclusion not checked for {n} stay(s) whose `entered` is not in the trace (a lost line?), the first `left`:{first}")
    });
    say(tr, r, &unsure, &|n, first| {
        format!("mutual exclusion not checked after {n} stay(s) without `left` in inputs with unreadable lines (the `left` may be one of them), the first:{first}")
    });
    if let Some(&(ri, a, b)) = back.first() {
        let mut m = format!(
            "mutual exclusion and (T, id) order not sure for {}: its wall clock goes back ({} then {}){}",
            tr.rows[ri].label(),
            tr.at(&tr.evs[a]),
            tr.at(&tr.evs[b]),
            if back.len() > 1 {
                format!(", nor for {} other process life(s) whose clock goes back", back.len() - 1)
            } else {
                String::new()
            }
        );
        m.push(':');
        m.push_str(&show(tr, &tr.evs[a]));
        m.push_str(&show(tr, &tr.evs[b]));
        r.unchecked.push(m);
    }
    // Entries after the end of the trace of one still inside: not checked against it.
    let mut latest: [Option<(u64, usize)>; 2] = [None, None];
    for st in &stays {
        let x = Some((st.from, st.row));
        if latest[0].is_none_or(|l| st.from > l.0) {
            if latest[0].is_some_and(|l| l.1 != st.row) {
                latest[1] = latest[0];
            }
            latest[0] = x;
        } else if latest[0].is_some_and(|l| l.1 != st.row)
            && latest[1].is_none_or(|l| st.from > l.0)
        {
            latest[1] = x;
        }
    }
    let after: Vec<&(usize, usize, u64)> = open_end
        .iter()
        .filter(|(ri, _, end)| {
            let other = match latest[0] {
                Some(l) if l.1 == *ri => latest[1],
                l => l,
            };
            other.is_some_and(|l| l.0 >= *end)
        })
        .collect();
    if let Some(&&(ri, o, _)) = after.first() {
        r.unchecked.push(format!(
            "mutual exclusion not checked after the end of the trace of {} process life(s) still inside when it ends (a trace read while the run goes on? its `left` may come later): {}:{}",
            after.len(),
            tr.rows[ri].label(),
            show(tr, &tr.evs[o])
        ));
    }
    let order = super::sort::sorted(stays.len(), &|k| [stays[k].from, stays[k].enter as u64, 0]);
    let stays: Vec<&Stay> = order.iter().map(|&k| &stays[k]).collect();
    let both = |a: &Stay, b: &Stay| {
        let mut m = String::new();
        for s in [a, b] {
            m.push_str(&show(tr, &tr.evs[s.enter]));
            if let Some(l) = s.left {
                m.push_str(&show(tr, &tr.evs[l]));
            }
        }
        m
    };
    // A sweep: each entry is checked against the stay that, of those begun before it, ends
    // last (and the one of another life that ends last, if that one is its own).
    let mut best: Option<&Stay> = None;
    let mut other: Option<&Stay> = None;
    for &b in &stays {
        let a = match best {
            Some(a) if a.row == b.row => other,
            a => a,
        };
        if let Some(a) = a.filter(|a| b.from < a.until) {
            r.add(|| {
                format!(
                    "mutual exclusion: {} entered while {} was inside (by wall clock):{}",
                    tr.rows[b.row].label(),
                    tr.rows[a.row].label(),
                    both(a, b)
                )
            });
        }
        match best {
            Some(x) if x.until >= b.until => {
                if x.row != b.row && other.is_none_or(|o| o.until < b.until) {
                    other = Some(b);
                }
            }
            x => {
                if let Some(x) = x.filter(|x| x.row != b.row) {
                    other = Some(x);
                }
                best = Some(b);
            }
        }
    }
    let prio = |s: &Stay| (tr.evs[s.enter].t.unwrap_or(0), tr.rows[s.row].id);
    for w in stays.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !b.fresh && prio(b) <= prio(a) {
            r.add(|| {
                format!(
                    "order: {} entered with (T={}, id={}) after (T={}, id={}): not in (T, id) order:{}",
                    tr.rows[b.row].label(),
                    prio(b).0,
                    prio(b).1,
                    prio(a).0,
                    prio(a).1,
                    both(a, b)
                )
            });
        }
    }
}

/// What could not be checked for `evs` (events of one kind), said once: how many, and the
/// first with its line.
fn say(tr: &Trace, r: &mut Report, evs: &[usize], what: &dyn Fn(usize, &str) -> String) {
    if let Some(&e) = evs.first() {
        r.unchecked.push(what(evs.len(), &show(tr, &tr.evs[e])));
    }
}

fn stay(row: usize, enter: usize, left: Option<usize>, from: u64, until: u64, fresh: bool) -> Stay {
    Stay {
        row,
        enter,
        left,
        from,
        until,
        fresh,
    }
}
