//! The figure: a self-contained SVG, one line per process, messages as arrows, the critical
//! section as a thick bar. Integer coordinates only (no float formatting in the binary).
//! Black-and-white safe: kinds differ by line style, marker and label, not colour alone.

use std::fmt::Write as _;

use super::model::{self, Arrow, Point};
use super::trace::{describe, Name, Party, Trace};

/// How events are placed left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// By Lamport clock (events with equal clocks on one process side by side).
    Lamport,
    /// By wall clock (`ts_us`), to scale; points closer than a label are spread apart.
    Real,
}

const LEFT: i64 = 70;
const TOP: i64 = 56;
const ROW: i64 = 96;
const STEP: i64 = 46;
const MIN_GAP: i64 = 30;

/// Styles and arrowheads: black-and-white safe (REQUEST solid with a filled head, REPLY thin
/// with an open head, resends dashed, lost messages crossed).
const STYLE: &str = r##"<style>
text{font-family:Helvetica,Arial,sans-serif;font-size:11px;fill:#000}
.lbl{font-size:10px;paint-order:stroke;stroke:#fff;stroke-width:3px}
.proc{font-size:15px;font-weight:bold}
.clk{font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3px}
.line{stroke:#000;stroke-width:1.5}
.req{stroke:#1f4e8c;stroke-width:1.6;fill:none}
.rep{stroke:#9a3c00;stroke-width:1.1;fill:none}
.dash{stroke-dasharray:7 4}
.lost{stroke:#000;stroke-width:2}
.cs{fill:#444;stroke:#000}
.dot{fill:#000}
.int{fill:#fff;stroke:#000;stroke-width:1.5}
.def{fill:#fff;stroke:#000;stroke-width:1.5}
</style>
<defs>
<marker id="hreq" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#1f4e8c"/></marker>
<marker id="hrep" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,1L10,5L0,9" fill="none" stroke="#9a3c00" stroke-width="1.6"/></marker>
</defs>
<rect width="100%" height="100%" fill="#fff"/>
"##;

/// XML text: `&`, `<`, `>` and `"` escaped.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            // Not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// The x of every point.
/// `from[k]`: the points that sent what point `k` received.
fn xs(tr: &Trace, pts: &[Point], from: &[Vec<usize>], layout: Layout) -> Vec<i64> {
    let x0 = LEFT + 40;
    match layout {
        Layout::Lamport => {
            // Each clock value seen gets as many slots as the busiest row needs: in clock
            // order, a new value starts after the widest group of the one before.
            let clock = |k: usize| tr.evs[pts[k].evs[0]].clock;
            let order = super::sort::sorted(pts.len(), &|k| [clock(k), 0, 0]);
            let mut x = vec![0; pts.len()];
            let (mut base, mut width, mut prev) = (0, 0, None);
            for k in order {
                if prev != Some(clock(k)) {
                    base += width;
                    width = 0;
                    prev = Some(clock(k));
                }
                width = width.max(i64::from(pts[k].sub) + 1);
                x[k] = x0 + (base + i64::from(pts[k].sub)) * STEP;
            }
            x
        }
        Layout::Real => {
            // A `sent` is stamped after its datagram left, so a fast receive can carry an
            // earlier time: each point is placed no earlier than what it received, and than
            // the point before it on its row.
            let mut key: Vec<u64> = pts
                .iter()
                .map(|p| tr.evs[p.evs[0]].ts.unwrap_or(0))
                .collect();
            for _ in 0..pts.len() {
                let mut changed = false;
                for k in 0..pts.len() {
                    let before = (k > 0 && pts[k - 1].row == pts[k].row).then(|| key[k - 1]);
                    let sent = from[k].iter().map(|&s| key[s].saturating_add(1));
                    let want = sent.chain(before).fold(key[k], u64::max);
                    changed |= want != key[k];
                    key[k] = want;
                }
                if !changed {
                    break;
                }
            }
            let ts = |k: usize| key[k];
            let order = super::sort::sorted(pts.len(), &|k| [ts(k), 0, 0]);
            let t0 = order.first().map_or(0, |&k| ts(k));
            let span = order.last().map_or(1, |&k| ts(k) - t0).max(1);
            let w = (pts.len() as u64 * 24).max(800);
            let mut x = vec![0; pts.len()];
            let mut last: Vec<Option<i64>> = vec![None; tr.rows.len()];
            let mut placed = vec![false; pts.len()];
            let mut shift = 0;
            for k in order {
                let natural = x0 + ((ts(k) - t0).saturating_mul(w) / span) as i64;
                // Room for the label after the row's previous point, and a visible slant
                // for every arrow that arrives here.
                let min = from[k]
                    .iter()
                    .filter(|&&s| placed[s])
                    .map(|&s| x[s] + MIN_GAP / 2)
                    .chain(last[pts[k].row].map(|l| l + MIN_GAP))
                    .max();
                let mut at = natural + shift;
                if let Some(min) = min.filter(|&m| at < m) {
                    shift += min - at;
                    at = min;
                }
                placed[k] = true;
                last[pts[k].row] = Some(at);
                x[k] = at;
            }
            x
        }
    }
}

/// Renders the trace.
pub(super) fn render(tr: &Trace, layout: Layout) -> String {
    let pts = model::points(tr);
    let of = model::point_of(tr, &pts);
    let arrows = model::match_messages(tr);
    let mut from = vec![Vec::new(); pts.len()];
    for a in &arrows {
        if let Some(r) = a.recv {
            from[of[r]].push(of[a.send]);
        }
    }
    let x = xs(tr, &pts, &from, layout);
    let y = |row: usize| TOP + 30 + row as i64 * ROW;
    let right = x.iter().copied().max().unwrap_or(LEFT) + 70;
    let bottom = y(tr.rows.len().saturating_sub(1)) + 40;
    let width = right.max(980);
    let height = bottom + if layout == Layout::Real { 130 } else { 100 };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    s.push_str(STYLE);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" style="font-size:13px">Lab 1 (Ricart–Agrawala): {} processes, {} events, x = {}</text>"#,
        tr.rows.len(),
        tr.evs.len(),
        match layout {
            Layout::Lamport => "Lamport clock",
            Layout::Real => "wall clock (to scale; close events spread apart)",
        }
    );
    // Process lines.
    for (r, row) in tr.rows.iter().enumerate() {
        let yy = y(r);
        let _ = writeln!(
            s,
            r#"<text class="proc" x="14" y="{}">{}</text><line class="line" x1="{}" y1="{yy}" x2="{right}" y2="{yy}"/>"#,
            yy + 5,
            esc(&row.label()),
            LEFT - 10
        );
    }
    // CS bars, from `entered` to the next `left` of the row (or the end of the trace).
    for (r, row) in tr.rows.iter().enumerate() {
        let mut i = 0;
        while i < row.evs.len() {
            let e = &tr.evs[row.evs[i]];
            i += 1;
            if e.name != Name::Entered {
                continue;
            }
            let left = row.evs[i..]
                .iter()
                .position(|&j| matches!(tr.evs[j].name, Name::Left | Name::Entered))
                .map(|k| row.evs[i + k])
                .filter(|&j| tr.evs[j].name == Name::Left);
            let x1 = x[of[row.evs[i - 1]]];
            let x2 = left.map_or(right - 10, |j| x[of[j]]);
            let t = e.t.map_or(String::new(), |t| format!(" T={t}"));
            let mut title = describe(e, &tr.rows);
            if let Some(j) = left {
                title.push('\n');
                title.push_str(&describe(&tr.evs[j], &tr.rows));
            }
            let _ = writeln!(
                s,
                r#"<g class="csbar"><title>{}</title><rect class="cs" x="{x1}" y="{}" width="{}" height="10"/><text x="{}" y="{}" text-anchor="middle" style="font-weight:bold">CS{t}</text></g>"#,
                esc(&title),
                y(r) - 5,
                (x2 - x1).max(4),
                (x1 + x2) / 2,
                y(r) + 22
            );
        }
    }
    // Messages. Their labels avoid the clock labels above the points and each other.
    let mut taken = Taken::default();
    for (k, p) in pts.iter().enumerate() {
        let (px, py) = (x[k], y(p.row));
        taken.0.push((px - 9, py - 21, px + 9, py - 9));
        if tr.evs[p.evs[0]].deferred {
            taken.0.push((px - 24, py - 34, px + 24, py - 22));
        }
    }
    for a in &arrows {
        arrow(&mut s, tr, a, &of, &x, &y, &mut taken);
    }
    // Points, over the lines and arrows.
    for (k, p) in pts.iter().enumerate() {
        let head = &tr.evs[p.evs[0]];
        let (px, py) = (x[k], y(p.row));
        s.push_str("<g class=\"ev\"><title>");
        for (n, &e) in p.evs.iter().enumerate() {
            if n > 0 {
                s.push('\n');
            }
            s.push_str(&esc(&describe(&tr.evs[e], &tr.rows)));
            s.push('\n');
            s.push_str(&esc(&tr.evs[e].raw));
        }
        s.push_str("</title>");
        let _ = match head.name {
            Name::Internal => write!(
                s,
                r#"<rect class="int" x="{}" y="{}" width="9" height="9"/>"#,
                px - 4,
                py - 4
            ),
            Name::Request if head.deferred => write!(
                s,
                r#"<circle class="def" cx="{px}" cy="{py}" r="5"/><text class="lbl" x="{px}" y="{}" text-anchor="middle" style="font-style:italic">deferred</text>"#,
                py - 24
            ),
            Name::Left | Name::Entered => write!(
                s,
                r#"<line class="line" x1="{px}" y1="{}" x2="{px}" y2="{}"/>"#,
                py - 9,
                py + 9
            ),
            _ => write!(s, r#"<circle class="dot" cx="{px}" cy="{py}" r="4"/>"#),
        };
        // A bar's end is not an event of the handout's figure (leaving does not tick).
        if head.name != Name::Left {
            let _ = write!(
                s,
                r#"<text class="clk" x="{px}" y="{}" text-anchor="middle">{}</text>"#,
                py - 10,
                head.clock
            );
        }
        s.push_str("</g>\n");
    }
    if layout == Layout::Real {
        axis(&mut s, tr, &pts, &x, bottom);
    }
    legend(&mut s, height - 62);
    s.push_str("</svg>\n");
    s
}

/// Boxes (x1, y1, x2, y2) already covered by a label.
#[derive(Default)]
struct Taken(Vec<(i64, i64, i64, i64)>);

impl Taken {
    /// Where along the arrow from (x1, y1) to (x2, y2) a label `w` wide fits without covering
    /// another: the first free of a few places (tenths of the way, near the middle first), or
    /// the middle if none is free. The place is then taken.
    fn place(&mut self, (x1, y1, x2, y2): (i64, i64, i64, i64), w: i64) -> (i64, i64) {
        let at = |t: i64| (x1 + (x2 - x1) * t / 10, y1 + (y2 - y1) * t / 10 - 4);
        let boxed = |(lx, ly): (i64, i64)| (lx - w / 2 - 1, ly - 10, lx + w / 2 + 1, ly + 2);
        let free = |b: (i64, i64, i64, i64)| {
            !self
                .0
                .iter()
                .any(|o| b.0 < o.2 && o.0 < b.2 && b.1 < o.3 && o.1 < b.3)
        };
        let spot = [6, 5, 7, 4, 8, 3, 2]
            .into_iter()
            .map(at)
            .find(|&p| free(boxed(p)))
            .unwrap_or_else(|| at(6));
        self.0.push(boxed(spot));
        spot
    }
}

fn arrow(
    s: &mut String,
    tr: &Trace,
    a: &Arrow,
    of: &[usize],
    x: &[i64],
    y: &dyn Fn(usize) -> i64,
    taken: &mut Taken,
) {
    let e = &tr.evs[a.send];
    let (x1, y1) = (x[of[a.send]], y(e.row));
    let req = e.kind == "REQUEST";
    let class = match (req, a.dashed) {
        (true, false) => "req",
        (true, true) => "req dash",
        (false, false) => "rep",
        (false, true) => "rep dash",
    };
    let label = if req {
        format!("REQ(T={})", e.t.unwrap_or(0))
    } else {
        "REPLY".to_string()
    };
    let mut title = describe(e, &tr.rows);
    let (x2, y2, lost) = match a.recv {
        Some(r) => {
            title.push_str("\nreceived: ");
            title.push_str(&describe(&tr.evs[r], &tr.rows));
            (x[of[r]], y(tr.evs[r].row), false)
        }
        None => {
            // Towards the receiver's line (its last life that had started by then).
            let to = match e.peer {
                Some(Party::P(j)) => j,
                _ => return,
            };
            let target = tr
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.id == to)
                .filter(|(_, r)| {
                    let first = r.evs.first().and_then(|&i| tr.evs[i].ts);
                    first.is_none() || first <= e.ts
                })
                .map(|(k, _)| k)
                .next_back();
            match target {
                Some(k) => {
                    title.push_str("\nnever received: lost");
                    (x1 + 44, y1 + (y(k) - y1) / 2, true)
                }
                None => {
                    title.push_str(&format!("\nP{to}'s trace is not in the input"));
                    (x1 + 30, y1 + if y1 > TOP + 30 { -24 } else { 24 }, false)
                }
            }
        }
    };
    let head = if lost {
        String::new()
    } else if req {
        " marker-end=\"url(#hreq)\"".into()
    } else {
        " marker-end=\"url(#hrep)\"".into()
    };
    let kind = if req { "request" } else { "reply" };
    let _ = write!(
        s,
        r#"<g class="msg {kind}{}"><title>{}</title><line class="{class}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{head}/>"#,
        if lost { " lost" } else { "" },
        esc(&title)
    );
    if lost {
        let _ = write!(
            s,
            r#"<path class="lost" d="M{},{}l10,10m0,-10l-10,10"/>"#,
            x2 - 5,
            y2 - 5
        );
    }
    // The label near the middle, where it covers no other label (10 px type: about 6 px a
    // character).
    let (lx, ly) = taken.place((x1, y1, x2, y2), 6 * label.len() as i64);
    let _ = writeln!(
        s,
        r#"<text class="lbl" x="{lx}" y="{ly}" text-anchor="middle">{}</text></g>"#,
        esc(&label)
    );
}

/// Wall-clock ticks under the rows (real layout): seconds since the first point, at points
/// far enough apart to be read.
fn axis(s: &mut String, tr: &Trace, pts: &[Point], x: &[i64], at: i64) {
    let order = super::sort::sorted(pts.len(), &|k| [x[k] as u64, 0, 0]);
    let t0 = order
        .first()
        .and_then(|&k| tr.evs[pts[k].evs[0]].ts)
        .unwrap_or(0);
    let mut last = i64::MIN / 2;
    let _ = writeln!(
        s,
        r#"<g class="axis"><text x="14" y="{}">time</text>"#,
        at + 24
    );
    for k in order {
        if x[k] < last + 90 {
            continue;
        }
        last = x[k];
        let ms = tr.evs[pts[k].evs[0]].ts.unwrap_or(0).saturating_sub(t0) / 1000;
        let _ = writeln!(
            s,
            r##"<line x1="{0}" y1="{at}" x2="{0}" y2="{1}" stroke="#000"/><text x="{0}" y="{2}" text-anchor="middle">+{3}.{4:03}s</text>"##,
            x[k],
            at + 8,
            at + 24,
            ms / 1000,
            ms % 1000
        );
    }
    s.push_str("</g>\n");
}

/// The key, drawn at (`LEFT`, `y`): one static string, no formatting code.
fn legend(s: &mut String, y: i64) {
    let _ = write!(s, r#"<g class="legend" transform="translate({LEFT},{y})">"#);
    s.push_str(LEGEND);
}

const LEGEND: &str = r##"<rect width="900" height="54" fill="#fff" stroke="#000"/>
<circle class="dot" cx="14" cy="16" r="4"/><text x="24" y="20">event (Lamport clock above)</text>
<rect class="int" x="210" y="12" width="9" height="9"/><text x="226" y="20">internal event (own id typed)</text>
<circle class="def" cx="420" cy="16" r="5"/><text x="432" y="20">REQUEST deferred</text>
<rect class="cs" x="560" y="11" width="40" height="10"/><text x="606" y="20">critical section</text>
<line class="req" x1="14" y1="38" x2="54" y2="38" marker-end="url(#hreq)"/><text x="62" y="42">REQ(T=…)</text>
<line class="rep" x1="150" y1="38" x2="190" y2="38" marker-end="url(#hrep)"/><text x="198" y="42">REPLY</text>
<line class="req dash" x1="250" y1="38" x2="290" y2="38"/><text x="298" y="42">resend or duplicate</text>
<line class="req" x1="420" y1="38" x2="460" y2="38"/><path class="lost" d="M460,33l10,10m0,-10l-10,10"/><text x="478" y="42">lost (never received)</text>
<text x="620" y="42">messages to/from the shared resource not drawn</text></g>
"##;
