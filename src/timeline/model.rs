//! What the figure shows: each `sent` matched to its receive at the receiver, and the
//! events grouped into the points drawn on each process line.

use super::trace::{Ev, Name, Party, Trace};

/// A message between two processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Arrow {
    /// The `sent` event.
    pub(crate) send: usize,
    /// The receive (`request`, `reply` or `stale`), or none: lost.
    pub(crate) recv: Option<usize>,
    /// A resend, or a duplicate at the receiver.
    pub(crate) dashed: bool,
}

/// Matches every `sent` REQUEST or REPLY to a process with the receive of that message
/// (same sender, receiver, kind and T). Of several sends of one message (resends), a
/// receive takes the latest not yet taken that was sent before it (by wall clock when every
/// event has one, else in log order): the ones before it were lost.
pub(super) fn match_messages(tr: &Trace) -> Vec<Arrow> {
    let ts = tr.has_ts();
    let when = |i: usize| if ts { tr.evs[i].ts.unwrap_or(0) } else { 0 };
    // Each message's key: sender, receiver, kind, T; then sends before receives, in time.
    let key = |i: usize| -> Option<[u64; 3]> {
        let e = &tr.evs[i];
        let Some(Party::P(other)) = e.peer else {
            return None;
        };
        let (from, to, recv) = if e.name == Name::Sent && e.is_process_msg() {
            (e.id, other, 0)
        } else if e.is_receive() {
            (other, e.id, 1)
        } else {
            return None;
        };
        let kind = u64::from(e.msg_kind() == "REPLY");
        let k = (u64::from(from) << 17) | (u64::from(to) << 1) | kind;
        Some([k, e.t.unwrap_or(0), (when(i) << 1) | recv])
    };
    let keys: Vec<Option<[u64; 3]>> = (0..tr.evs.len()).map(key).collect();
    let mut all: Vec<usize> = (0..tr.evs.len()).filter(|&i| keys[i].is_some()).collect();
    super::sort::sort_by(&mut all, &|i| keys[i].unwrap_or_default());
    let mut arrows = Vec::new();
    for group in
        all.chunk_by(|&a, &b| keys[a].map(|k| [k[0], k[1]]) == keys[b].map(|k| [k[0], k[1]]))
    {
        // In time order (sends first at equal times): a receive takes the latest free send
        // before it, the top of a stack; one before any free send (or any receive when the
        // trace has no times) takes the earliest still free, after the sweep. Linear: 40,000
        // copies of one message cost no more than 40,000 messages.
        let mut sends = Vec::new();
        let mut taken: Vec<Option<usize>> = Vec::new();
        let mut free = Vec::new();
        let mut late = Vec::new();
        for &i in group {
            if tr.evs[i].name == Name::Sent {
                free.push(sends.len());
                sends.push(i);
                taken.push(None);
            } else if let Some(k) = if ts { free.pop() } else { None } {
                taken[k] = Some(i);
            } else {
                late.push(i);
            }
        }
        let mut rest = (0..sends.len())
            .filter(|&k| taken[k].is_none())
            .collect::<Vec<_>>()
            .into_iter();
        for r in late {
            match rest.next() {
                Some(k) => taken[k] = Some(r),
                None => break,
            }
        }
        for (k, s) in sends.into_iter().enumerate() {
            let dup = taken[k].is_some_and(|r| tr.evs[r].name == Name::Stale);
            arrows.push(Arrow {
                send: s,
                recv: taken[k],
                dashed: tr.evs[s].resend || dup,
            });
        }
    }
    let order = super::sort::sorted(arrows.len(), &|k| [arrows[k].send as u64, 0, 0]);
    order.iter().map(|&k| arrows[k]).collect()
}

/// A message as the figure shows it by default: the copy that counted (or the first, crossed,
/// if none arrived) and how many copies were sent in all.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shown {
    pub(crate) arrow: Arrow,
    /// Copies of this message sent (1 + resends), on the first arrow drawn of it; else 0.
    pub(crate) copies: u32,
    /// Of those, never received.
    pub(crate) lost: u32,
    /// Of those, received again (duplicates).
    pub(crate) dups: u32,
}

/// The arrows drawn: with `resends`, every copy; else per message (sender's life, receiver,
/// kind, T) the copy whose receive counted, and the first copy if it was lost (a lost message
/// stays crossed). The first arrow drawn of a message carries the count of its copies.
pub(super) fn shown(tr: &Trace, arrows: &[Arrow], resends: bool) -> Vec<Shown> {
    let key = |a: &Arrow| {
        let e = &tr.evs[a.send];
        let to = match e.peer {
            Some(Party::P(j)) => u64::from(j),
            _ => 0,
        };
        let kind = u64::from(e.kind == "REPLY");
        [
            ((e.row as u64) << 17) | (to << 1) | kind,
            e.t.unwrap_or(0),
            a.send as u64,
        ]
    };
    let order = super::sort::sorted(arrows.len(), &|k| key(&arrows[k]));
    let mut out: Vec<Shown> = Vec::new();
    for group in order.chunk_by(|&a, &b| key(&arrows[a])[..2] == key(&arrows[b])[..2]) {
        let counted = |a: &Arrow| a.recv.is_some_and(|r| tr.evs[r].name != Name::Stale);
        let lost = group.iter().filter(|&&k| arrows[k].recv.is_none()).count() as u32;
        let dups = group
            .iter()
            .filter(|&&k| arrows[k].recv.is_some() && !counted(&arrows[k]))
            .count() as u32;
        let any_counted = group.iter().any(|&k| counted(&arrows[k]));
        let mut first = true;
        for (n, &k) in group.iter().enumerate() {
            let a = arrows[k];
            let draw = resends || counted(&a) || (n == 0 && (a.recv.is_none() || !any_counted));
            if draw {
                out.push(Shown {
                    arrow: a,
                    copies: if first { group.len() as u32 } else { 0 },
                    lost: if first { lost } else { 0 },
                    dups: if first { dups } else { 0 },
                });
                first = false;
            }
        }
    }
    let order = super::sort::sorted(out.len(), &|k| [out[k].arrow.send as u64, 0, 0]);
    order.iter().map(|&k| out[k]).collect()
}

/// Whether the event is drawn on its process line. Messages to and from the resource are not
/// (the CS bar shows the use); nor are the keyboard's ignored `x` and the bookkeeping events.
pub(super) fn drawn(e: &Ev) -> bool {
    match e.name {
        Name::Internal | Name::Requested | Name::Request | Name::Reply => true,
        Name::Entered | Name::Left => true,
        Name::Sent | Name::Stale => e.is_process_msg(),
        _ => false,
    }
}

/// A point on a process line: one event, or a few that happen at once (a REQUEST sent to
/// everyone as the request is made, a REPLY sent as the REQUEST arrives, the entry on the last
/// REPLY), drawn as one dot.
#[derive(Debug, Clone)]
pub(super) struct Point {
    /// Its row.
    pub(crate) row: usize,
    /// Its events, in log order (the first one decides the look).
    pub(crate) evs: Vec<usize>,
    /// Among the row's points with the same clock, how many come before it.
    pub(crate) sub: u32,
}

/// The points of every row, in row order, then log order, of the events that `drawn` and
/// `show` keep (`show`: the figure's choice of sends and duplicates, and deferral notes).
pub(super) fn points(tr: &Trace, show: &dyn Fn(usize) -> bool) -> Vec<Point> {
    let mut pts: Vec<Point> = Vec::new();
    for (r, row) in tr.rows.iter().enumerate() {
        let first = pts.len();
        for &i in &row.evs {
            let e = &tr.evs[i];
            if !(drawn(e) || e.name == Name::DeferredBy) || !show(i) {
                continue;
            }
            if let Some(p) = pts[first..].last_mut() {
                let head = &tr.evs[p.evs[0]];
                let joins = head.clock == e.clock
                    && match e.name {
                        // Sent at once by the event that caused it.
                        Name::Sent => {
                            let fresh = !e.resend;
                            match head.name {
                                Name::Requested => fresh && e.kind == "REQUEST",
                                Name::Request => fresh && !head.deferred && e.kind == "REPLY",
                                Name::Stale => e.kind == "REPLY" && head.kind == "REQUEST",
                                // The deferred REPLYs, all sent at the release.
                                Name::Sent => {
                                    fresh
                                        && e.kind == "REPLY"
                                        && head.kind == "REPLY"
                                        && !head.resend
                                }
                                _ => false,
                            }
                        }
                        Name::Entered => matches!(head.name, Name::Reply | Name::Requested),
                        _ => false,
                    };
                if joins {
                    p.evs.push(i);
                    continue;
                }
            }
            // Points of the row just before with the same clock (counted as they come: a
            // run of resends at one clock is long).
            let sub = match pts[first..].last() {
                Some(p) if tr.evs[p.evs[0]].clock == e.clock => p.sub + 1,
                _ => 0,
            };
            pts.push(Point {
                row: r,
                evs: vec![i],
                sub,
            });
        }
    }
    pts
}

/// The point of each event (`usize::MAX` for events not drawn).
pub(super) fn point_of(tr: &Trace, pts: &[Point]) -> Vec<usize> {
    let mut of = vec![usize::MAX; tr.evs.len()];
    for (k, p) in pts.iter().enumerate() {
        for &e in &p.evs {
            of[e] = k;
        }
    }
    of
}
