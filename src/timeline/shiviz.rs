//! `--format shiviz`: the trace as a ShiViz log in its default format (an event line, then
//! `host {"host":n,...}`), with vector clocks computed from the matched sends and receives:
//! nothing on the wire carries them. One ShiViz event per point of the figure.

use std::fmt::Write as _;

use super::model::{self, Point};
use super::trace::{describe, Name, Trace};

/// The log; each host's own entry starts at 1 and rises by 1 per event, as ShiViz requires.
/// Vector clocks are sparse (only the hosts a point has heard of), and points are taken in a
/// causal order by a worklist: linear in the points and the clocks' entries written.
#[cfg(test)]
pub(super) fn render(tr: &Trace) -> String {
    draw(tr, usize::MAX).unwrap_or_default()
}

/// The longest log written: vector clocks of many hosts make a log of hosts x events.
pub(super) const MAX_LOG: usize = 128 << 20;

/// The log, or why one longer than `max` bytes is not written.
pub(super) fn draw(tr: &Trace, max: usize) -> Result<String, String> {
    let pts = model::points(tr, &|i| tr.evs[i].name != Name::DeferredBy);
    let of = model::point_of(tr, &pts);
    let n = pts.len();
    // Who each point waits for: the point before it on its line, and the senders of what it
    // received.
    let mut waits = vec![0u32; n];
    let mut then: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut from: Vec<Vec<usize>> = vec![Vec::new(); n];
    for a in model::match_messages(tr) {
        if let Some(r) = a.recv {
            let (s, r) = (of[a.send], of[r]);
            if s != usize::MAX && r != usize::MAX && s != r {
                from[r].push(s);
                then[s].push(r);
                waits[r] += 1;
            }
        }
    }
    let mut prev = vec![usize::MAX; n];
    let mut last_of_row = vec![usize::MAX; tr.rows.len()];
    for (k, p) in pts.iter().enumerate() {
        let l = &mut last_of_row[p.row];
        if *l != usize::MAX {
            prev[k] = *l;
            then[*l].push(k);
            waits[k] += 1;
        }
        *l = k;
    }
    // Ready points, taken lowest first (a stack of the ready, refilled in order).
    let mut ready: Vec<usize> = (0..n).rev().filter(|&k| waits[k] == 0).collect();
    let mut vc: Vec<Option<Vec<(usize, u64)>>> = vec![None; n];
    let mut done = vec![false; n];
    let mut out = String::new();
    let mut left = n;
    // Each row's next point not yet written (for a cycle: matching went wrong).
    let mut next_of_row: Vec<usize> = vec![0; tr.rows.len()];
    let by_row: Vec<Vec<usize>> = {
        let mut v = vec![Vec::new(); tr.rows.len()];
        for (k, p) in pts.iter().enumerate() {
            v[p.row].push(k);
        }
        v
    };
    while left > 0 {
        let k = match ready.pop() {
            Some(k) => k,
            None => {
                // A cycle: the earliest waiting point of any line, its unresolved receives
                // ignored.
                let pick = (0..tr.rows.len())
                    .filter_map(|r| by_row[r].get(next_of_row[r]).copied())
                    .filter(|&k| !done[k] && (prev[k] == usize::MAX || done[prev[k]]))
                    .min_by_key(|&k| tr.evs[pts[k].evs[0]].ts.unwrap_or(0));
                match pick {
                    Some(k) => k,
                    None => break,
                }
            }
        };
        if done[k] {
            continue;
        }
        let p: &Point = &pts[k];
        let mut v: Vec<(usize, u64)> = match prev[k] {
            usize::MAX => Vec::new(),
            q => vc[q].clone().unwrap_or_default(),
        };
        for &s in &from[k] {
            if let Some(w) = &vc[s] {
                v = merge(&v, w);
            }
        }
        match v.iter_mut().find(|e| e.0 == p.row) {
            Some(e) => e.1 += 1,
            None => {
                v.push((p.row, 1));
                let mut i = v.len() - 1;
                while i > 0 && v[i - 1].0 > v[i].0 {
                    v.swap(i - 1, i);
                    i -= 1;
                }
            }
        }
        for (n, &e) in p.evs.iter().enumerate() {
            if n > 0 {
                out.push_str("; ");
            }
            // describe() has no newline (names are shown safely; the raw line is not shown).
            out.push_str(&describe(tr, &tr.evs[e]));
        }
        let host = tr.rows[p.row].label();
        let _ = write!(out, "\n{host} {{");
        for (i, (r, c)) in v.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}\"{}\":{c}", tr.rows[*r].label());
        }
        out.push_str("}\n");
        if out.len() > max {
            return Err(format!(
                "the ShiViz log would be over {} MiB (its vector clocks name up to {} hosts at each of {} events): `--check` checks the run",
                max >> 20,
                tr.rows.len(),
                pts.len()
            ));
        }
        vc[k] = Some(v);
        done[k] = true;
        next_of_row[p.row] += 1;
        left -= 1;
        // Its line's next point and its messages' receives may now be ready (in reverse, so
        // the stack takes the lowest first).
        for &q in then[k].iter().rev() {
            waits[q] = waits[q].saturating_sub(1);
            if waits[q] == 0 && !done[q] {
                ready.push(q);
            }
        }
        // A clock no one reads again is dropped (memory stays near the live frontier).
        if let Some(q) = prev.get(k).copied().filter(|&q| q != usize::MAX) {
            if then[q].iter().all(|&x| done[x]) {
                vc[q] = None;
            }
        }
    }
    Ok(out)
}

/// The entry-wise maximum of two sparse clocks, each sorted by row.
fn merge(a: &[(usize, u64)], b: &[(usize, u64)]) -> Vec<(usize, u64)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, x.1.max(y.1)));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}
