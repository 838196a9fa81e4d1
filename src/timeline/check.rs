//! `--check`: what the trace alone shows about the lab's claims. The Lamport rules of the
//! course (LAB1-SPEC §3: an internal event and a request tick once; a receive sets
//! max(clock, received) + 1, the received value being a REQUEST's T or the REPLY's sender's
//! clock, known from the matched `sent`; sending, duplicates, entering and leaving never
//! tick), mutual exclusion (no two `entered`..`left` intervals overlap, by wall clock) and
//! entries in increasing (T, id).

use super::model;
use super::trace::{describe, Ev, Name, Trace};

/// Every violation found, each with the events involved.
pub(super) fn check(tr: &Trace) -> Vec<String> {
    let mut v = Vec::new();
    lamport(tr, &mut v);
    exclusion(tr, &mut v);
    v
}

fn show(tr: &Trace, e: &Ev) -> String {
    format!("\n    {}\n      {}", describe(e, &tr.rows), e.raw)
}

fn lamport(tr: &Trace, v: &mut Vec<String>) {
    // The clock each REPLY was sent with, from its matched `sent`.
    let mut sent_with = vec![None; tr.evs.len()];
    for a in model::match_messages(tr) {
        if let Some(r) = a.recv {
            sent_with[r] = Some(a.send);
        }
    }
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
            let Some(c) = before else {
                prev = Some(i);
                continue;
            };
            let mut send = None;
            let (want, rule) = match e.name {
                Name::Internal => (c.saturating_add(1), "an internal event ticks once"),
                Name::Requested => (c.saturating_add(1), "a request ticks once"),
                Name::Request => (
                    c.max(e.t.unwrap_or(0)).saturating_add(1),
                    "receiving a REQUEST sets max(clock, T) + 1",
                ),
                Name::Reply => match sent_with[i] {
                    Some(s) => {
                        send = Some(s);
                        (
                            c.max(tr.evs[s].clock).saturating_add(1),
                            "receiving a REPLY sets max(clock, sender's clock) + 1",
                        )
                    }
                    // The sender's clock is unknown: at least it must tick.
                    None if e.clock > c => (e.clock, ""),
                    None => (c.saturating_add(1), "receiving a REPLY ticks"),
                },
                Name::Sent if e.kind == "REPLY" => (c, "sending a REPLY never ticks"),
                Name::Sent if e.kind == "REQUEST" => {
                    if t_req.is_some_and(|t| e.t != Some(t)) {
                        v.push(format!(
                            "Lamport: every REQUEST of a request carries its T={}, this one T={}:{}",
                            t_req.unwrap_or(0),
                            e.t.unwrap_or(0),
                            show(tr, e)
                        ));
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
            if e.name == Name::Requested && e.t != Some(e.clock) {
                v.push(format!(
                    "Lamport: a request's T is the clock after its tick ({}), not {}:{}",
                    e.clock,
                    e.t.unwrap_or(0),
                    show(tr, e)
                ));
            }
            if e.clock != want {
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
                v.push(m);
            }
            prev = Some(i);
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

fn exclusion(tr: &Trace, v: &mut Vec<String>) {
    if !tr.has_ts() {
        v.push("mutual exclusion and order not checked: some events have no ts_us".into());
        return;
    }
    let ts = |i: usize| tr.evs[i].ts.unwrap_or(0);
    let mut stays = Vec::new();
    for (r, row) in tr.rows.iter().enumerate() {
        // A stay without `left` ends when the process's next life starts (it was killed
        // inside), or never.
        let next_life = tr.rows[r + 1..]
            .iter()
            .find(|n| n.id == row.id)
            .and_then(|n| n.evs.first())
            .map_or(u64::MAX, |&i| ts(i));
        let mut open: Option<usize> = None;
        let mut first = true;
        for &i in &row.evs {
            match tr.evs[i].name {
                Name::Entered => {
                    if let Some(o) = open.take() {
                        stays.push(stay(r, o, None, ts(o), ts(i), row.life > 0 && first));
                        first = false;
                    }
                    open = Some(i);
                }
                Name::Left => {
                    if let Some(o) = open.take() {
                        let fresh = row.life > 0 && first;
                        first = false;
                        stays.push(stay(r, o, Some(i), ts(o), ts(i), fresh));
                    }
                }
                _ => {}
            }
        }
        if let Some(o) = open {
            stays.push(stay(r, o, None, ts(o), next_life, row.life > 0 && first));
        }
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
    for (k, a) in stays.iter().enumerate() {
        for b in &stays[k + 1..] {
            if b.from >= a.until {
                break;
            }
            if tr.rows[a.row].id != tr.rows[b.row].id {
                v.push(format!(
                    "mutual exclusion: {} entered while {} was inside (by wall clock):{}",
                    tr.rows[b.row].label(),
                    tr.rows[a.row].label(),
                    both(a, b)
                ));
            }
        }
    }
    let prio = |s: &Stay| (tr.evs[s.enter].t.unwrap_or(0), tr.rows[s.row].id);
    for w in stays.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if !b.fresh && prio(b) <= prio(a) {
            v.push(format!(
                "order: {} entered with (T={}, id={}) after (T={}, id={}): not in (T, id) order:{}",
                tr.rows[b.row].label(),
                prio(b).0,
                prio(b).1,
                prio(a).0,
                prio(a).1,
                both(a, b)
            ));
        }
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
