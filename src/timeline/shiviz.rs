//! `--format shiviz`: the trace as a ShiViz log in its default format (an event line, then
//! `host {"host":n,...}`), with vector clocks computed from the matched sends and receives:
//! nothing on the wire carries them. One ShiViz event per point of the figure.

use std::fmt::Write as _;

use super::model::{self, Point};
use super::trace::{describe, Name, Trace};

/// The log; each host's own entry starts at 1 and rises by 1 per event, as ShiViz requires.
pub(super) fn render(tr: &Trace) -> String {
    let pts = model::points(tr, &|i| tr.evs[i].name != Name::DeferredBy);
    let of = model::point_of(tr, &pts);
    // The point that sent what each point received.
    let mut from: Vec<Vec<usize>> = vec![Vec::new(); pts.len()];
    for a in model::match_messages(tr) {
        if let Some(r) = a.recv {
            let (s, r) = (of[a.send], of[r]);
            if s != usize::MAX && r != usize::MAX && s != r {
                from[r].push(s);
            }
        }
    }
    let n = tr.rows.len();
    let by_row: Vec<Vec<usize>> = (0..n)
        .map(|r| (0..pts.len()).filter(|&k| pts[k].row == r).collect())
        .collect();
    let mut next = vec![0; n];
    let mut vc: Vec<Option<Vec<u64>>> = vec![None; pts.len()];
    let mut out = String::new();
    let mut left = pts.len();
    while left > 0 {
        // A point whose senders are all done; if none (matching went wrong), the earliest
        // waiting point, its unresolved receives ignored.
        let ready = (0..n)
            .filter_map(|r| by_row[r].get(next[r]).copied())
            .find(|&k| from[k].iter().all(|&s| vc[s].is_some()))
            .or_else(|| {
                (0..n)
                    .filter_map(|r| by_row[r].get(next[r]).copied())
                    .min_by_key(|&k| tr.evs[pts[k].evs[0]].ts.unwrap_or(0))
            });
        let Some(k) = ready else { break };
        let p: &Point = &pts[k];
        let mut v = match by_row[p.row][..next[p.row]].last() {
            Some(&prev) => vc[prev].clone().unwrap_or_else(|| vec![0; n]),
            None => vec![0; n],
        };
        for &s in &from[k] {
            if let Some(w) = &vc[s] {
                for (a, b) in v.iter_mut().zip(w) {
                    *a = (*a).max(*b);
                }
            }
        }
        v[p.row] += 1;
        for (n, &e) in p.evs.iter().enumerate() {
            if n > 0 {
                out.push_str("; ");
            }
            // describe() has no newline (only a raw JSON line could, and it is not shown).
            out.push_str(&describe(&tr.evs[e], &tr.rows));
        }
        let host = tr.rows[p.row].label();
        let _ = write!(out, "\n{host} {{");
        let mut first = true;
        for (r, c) in v.iter().enumerate() {
            if *c > 0 {
                let sep = if first { "" } else { ", " };
                let _ = write!(out, "{sep}\"{}\":{c}", tr.rows[r].label());
                first = false;
            }
        }
        out.push_str("}\n");
        vc[k] = Some(v);
        next[p.row] += 1;
        left -= 1;
    }
    out
}
