//! The figure: a self-contained SVG, one line per process, messages as arrows, the critical
//! section as a thick bar. Integer coordinates only (no float formatting in the binary).
//! Black-and-white safe: kinds differ by line style, marker and label, not colour alone.
//!
//! The figure fits a report page: at most [`MAX_WIDTH`] px wide, a long run wraps onto
//! several bands (each band all the process lines again; an arrow that crosses a band's
//! edge goes on in the next band). No text covers another text, a marker, an arrowhead or
//! a CS bar ([`place`](super::place)); arrows stop short of the dot or bar they end on.

use std::fmt::Write as _;

use super::model::{self, Point, Shown};
use super::place::{Box4, Font, Taken, LABEL, LABEL_BOLD};
use super::trace::{describe, hidden, Name, Party, Trace};

/// How events are placed left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// By Lamport clock (events with equal clocks on one process side by side).
    Lamport,
    /// By wall clock (`ts_us`), to scale; points closer than a label are spread apart.
    Real,
}

/// What the figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How events are placed left to right.
    pub layout: Layout,
    /// Every copy of a message (resends dashed, duplicates too), not one arrow per message.
    pub resends: bool,
    /// The DEFERRED acknowledgements, as dotted arrows.
    pub deferrals: bool,
    /// A lane for the shared resource: the ENTER and EXIT it was sent, its uses as bars.
    pub resource: bool,
}

/// The widest figure: a report page at 11 px type.
pub const MAX_WIDTH: i64 = 1600;
const LEFT: i64 = 70;
const X0: i64 = LEFT + 40;
/// The most content per band, in x before wrapping.
const BAND_W: i64 = MAX_WIDTH - 60 - X0;
const TOP: i64 = 40;
const ROW: i64 = 96;
const STEP: i64 = 46;
const MIN_GAP: i64 = 30;
/// How far short of the line it ends on an arrow stops: its head stays clear of the dot
/// (radius 4) and of a CS bar (5 each side of the line).
const CLEAR: i64 = 7;

const PROC: Font = Font { px: 15, bold: true };
const HEADING: Font = Font {
    px: 13,
    bold: false,
};

/// Styles and arrowheads: black-and-white safe (REQUEST solid with a filled head, REPLY thin
/// with an open head, resends dashed, lost messages crossed, DEFERRED and the resource's
/// messages dotted).
const STYLE: &str = r##"<style>
text{font-family:"DejaVu Sans",Verdana,Arial,Helvetica,sans-serif;font-size:11px;fill:#000}
.lbl{paint-order:stroke;stroke:#fff;stroke-width:3px}
.proc{font-size:15px;font-weight:bold}
.clk{font-weight:bold;paint-order:stroke;stroke:#fff;stroke-width:3px}
.line{stroke:#000;stroke-width:1.5}
.req{stroke:#1f4e8c;stroke-width:1.6;fill:none}
.rep{stroke:#9a3c00;stroke-width:1.1;fill:none}
.dfr{stroke:#000;stroke-width:1.1;stroke-dasharray:2 3;fill:none}
.res{stroke:#555;stroke-width:1.1;stroke-dasharray:1 3;fill:none}
.dash{stroke-dasharray:7 4}
.lead{stroke:#777;stroke-width:.8;stroke-dasharray:2 2}
.lost{stroke:#000;stroke-width:2}
.cs{fill:#444;stroke:#000}
.use{fill:#fff;stroke:#000;stroke-width:1.5}
.dot{fill:#000}
.int{fill:#fff;stroke:#000;stroke-width:1.5}
.def,.ack{fill:#fff;stroke:#000;stroke-width:1.5}
</style>
<defs>
<marker id="hreq" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#1f4e8c"/></marker>
<marker id="hrep" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,1L10,5L0,9" fill="none" stroke="#9a3c00" stroke-width="1.6"/></marker>
<marker id="hdfr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,1L10,5L0,9" fill="none" stroke="#000" stroke-width="1.6"/></marker>
</defs>
<rect width="100%" height="100%" fill="#fff"/>
"##;

/// XML text: `&`, `<`, `>` and `"` escaped; a newline kept (hover texts have lines); every
/// character XML 1.0 forbids (no reference can carry it), and those that reorder or hide text,
/// shown as its code ([`visible`]).
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\n' => o.push('\n'),
            c if hidden(c) => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// The x of every point before wrapping, and (real layout) the wall-clock time each is drawn
/// at (a receive moved after its send).
/// `from[k]`: the points that sent what point `k` received.
fn xs(tr: &Trace, pts: &[Point], from: &[Vec<usize>], layout: Layout) -> (Vec<i64>, Vec<u64>) {
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
                x[k] = X0 + (base + i64::from(pts[k].sub)) * STEP;
            }
            (x, Vec::new())
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
            let order = super::sort::sorted(pts.len(), &|k| [key[k], 0, 0]);
            let t0 = order.first().map_or(0, |&k| key[k]);
            let span = order.last().map_or(1, |&k| key[k] - t0).max(1);
            let w = (pts.len() as u64 * 24).max(800);
            let mut x = vec![0; pts.len()];
            let mut last: Vec<Option<i64>> = vec![None; tr.rows.len()];
            let mut placed = vec![false; pts.len()];
            let mut shift = 0;
            for k in order {
                let natural = X0 + ((key[k] - t0).saturating_mul(w) / span) as i64;
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
            (x, key)
        }
    }
}

/// A segment on the page: x1, y1, x2, y2.
type Piece = (i64, i64, i64, i64);

/// Wrapping: the figure's x before wrapping to a band and an x on the page.
#[derive(Clone, Copy)]
struct Bands {
    n: i64,
    /// Content per band (the run shared evenly: no band left nearly empty).
    w: i64,
    /// Height of one band.
    h: i64,
}

impl Bands {
    fn of(&self, x: i64) -> i64 {
        if self.n == 1 {
            0
        } else {
            ((x - X0).max(0) / self.w).min(self.n - 1)
        }
    }
    /// The page's (x, y) of x before wrapping on the line `ry` px below the band's first.
    fn at(&self, x: i64, ry: i64) -> (i64, i64) {
        let b = self.of(x);
        (x - b * self.w, self.line(b, ry))
    }
    fn line(&self, band: i64, ry: i64) -> i64 {
        TOP + 30 + band * self.h + ry
    }
    /// The segment from (x1, ry1) to (x2, ry2), cut where it crosses a band's edge: the
    /// pieces on the page, in order.
    fn pieces(&self, (x1, y1): (i64, i64), (x2, y2): (i64, i64)) -> Vec<(i64, i64, i64, i64)> {
        let (b1, b2) = (self.of(x1), self.of(x2));
        if b1 == b2 {
            let (p, q) = (self.at(x1, y1), self.at(x2, y2));
            return vec![(p.0, p.1, q.0, q.1)];
        }
        // Where the segment meets the edge between band b and the next, as y before wrapping.
        let y_at = |x: i64| y1 + (y2 - y1) * (x - x1) / (x2 - x1);
        let mut out = Vec::new();
        let (lo, hi) = (b1.min(b2), b1.max(b2));
        for b in lo..=hi {
            let (start, end) = (X0 + b * self.w, X0 + (b + 1) * self.w);
            let (a, z) = if x1 < x2 {
                (x1.max(start), x2.min(end))
            } else {
                (x1.min(end), x2.max(start))
            };
            let (ya, yz) = (y_at(a), y_at(z));
            out.push((
                a - b * self.w,
                self.line(b, ya),
                z - b * self.w,
                self.line(b, yz),
            ));
        }
        if x1 > x2 {
            out.reverse();
        }
        out
    }
}

/// An arrow ready to draw.
struct Drawn {
    /// `request`, `reply`, `deferral` or `resource`.
    kind: &'static str,
    /// The line's classes.
    class: &'static str,
    /// Its arrowhead (none for a lost message).
    head: Option<&'static str>,
    lost: bool,
    pieces: Vec<(i64, i64, i64, i64)>,
    label: String,
    title: String,
}

/// The `(x, y)` of the arrowhead's tip and the box it covers, for a head `len` px long.
fn head_box((x1, y1, x2, y2): (i64, i64, i64, i64), len: i64) -> Box4 {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let d = isqrt(dx * dx + dy * dy).max(1);
    // The head's back corners: len back along the line, len/2 to either side.
    let (bx, by) = (x2 - dx * len / d, y2 - dy * len / d);
    let (nx, ny) = (-dy * len / 2 / d, dx * len / 2 / d);
    let xs = [x2, bx + nx, bx - nx];
    let ys = [y2, by + ny, by - ny];
    (
        xs.iter().min().copied().unwrap_or(x2) - 2,
        ys.iter().min().copied().unwrap_or(y2) - 2,
        xs.iter().max().copied().unwrap_or(x2) + 2,
        ys.iter().max().copied().unwrap_or(y2) + 2,
    )
}

fn isqrt(v: i64) -> i64 {
    if v <= 0 {
        return 0;
    }
    let mut r = (v as f64).sqrt() as i64;
    while r * r > v {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= v {
        r += 1;
    }
    r
}

/// Stops the last piece short of the line it ends on, along itself: `CLEAR` px, and more for
/// a shallow arrow, whose head (10 px long, 5 each side) spreads towards that line.
fn clear_end(p: &mut (i64, i64, i64, i64)) {
    let (dx, dy) = (p.2 - p.0, p.3 - p.1);
    if dy != 0 {
        let d = isqrt(dx * dx + dy * dy).max(1);
        let spread = (dx.abs() * 5 - dy.abs() * 10) / d;
        let cut = (CLEAR + spread.max(0) + 1).min(dy.abs()) * dy.signum();
        p.2 -= dx * cut / dy;
        p.3 -= cut;
    } else if dx != 0 {
        // Along its own line (not drawn: a message goes to another line); kept safe.
        p.2 -= CLEAR * dx.signum();
    }
}

/// `+1.5s` for `ms` with as many decimals as `step_ms` needs.
fn secs(ms: u64, step_ms: u64) -> String {
    let (s, f) = (ms / 1000, ms % 1000);
    if ms == 0 {
        "0s".into()
    } else if step_ms.is_multiple_of(1000) {
        format!("+{s}s")
    } else if step_ms.is_multiple_of(100) {
        format!("+{s}.{}s", f / 100)
    } else if step_ms.is_multiple_of(10) {
        format!("+{s}.{:02}s", f / 10)
    } else {
        format!("+{s}.{f:03}s")
    }
}

/// What the figure draws: the arrows shown, the DEFERRED pairs, and whether each event is on
/// its line (messages only as their arrows are shown).
fn selection(tr: &Trace, o: Options) -> (Vec<Shown>, Vec<(usize, usize)>, Vec<bool>) {
    let arrows = model::match_messages(tr);
    let shown: Vec<Shown> = model::shown(tr, &arrows, o.resends);
    let mut show: Vec<bool> = tr
        .evs
        .iter()
        .map(|e| {
            !(matches!(e.name, Name::Sent | Name::Stale) && e.is_process_msg()
                || e.name == Name::DeferredBy)
        })
        .collect();
    for s in &shown {
        show[s.arrow.send] = true;
        if let Some(r) = s.arrow.recv {
            show[r] = true;
        }
    }
    let deferrals = if o.deferrals {
        deferral_pairs(tr, o.resends)
    } else {
        Vec::new()
    };
    for &(_, d) in &deferrals {
        show[d] = true;
    }
    (shown, deferrals, show)
}

/// How many events the figure would draw.
pub(super) fn drawn_count(tr: &Trace, o: Options) -> usize {
    let (_, _, show) = selection(tr, o);
    (0..tr.evs.len())
        .filter(|&i| show[i] && (model::drawn(&tr.evs[i]) || tr.evs[i].name == Name::DeferredBy))
        .count()
}

/// Renders the trace.
#[cfg(test)]
pub(super) fn render(tr: &Trace, o: Options) -> String {
    draw(tr, o, i64::MAX).unwrap_or_default()
}

/// The most bands a figure has: past that (a long run, or arrows that cross many bands and are
/// drawn again in each) it is refused.
pub(super) const MAX_BANDS: i64 = 60;

/// Renders the trace, or says why a figure of more than `max_bands` bands is not drawn.
pub(super) fn draw(tr: &Trace, o: Options, max_bands: i64) -> Result<String, String> {
    let (shown, deferrals, show) = selection(tr, o);
    let pts = model::points(tr, &|i| show[i]);
    let of = model::point_of(tr, &pts);
    let mut from = vec![Vec::new(); pts.len()];
    for s in &shown {
        if let Some(r) = s.arrow.recv {
            from[of[r]].push(of[s.arrow.send]);
        }
    }
    let (x, key) = xs(tr, &pts, &from, o.layout);
    let rows = tr.rows.len() + usize::from(o.resource);
    let ry = |row: usize| row as i64 * ROW;
    let last_row = ry(rows.saturating_sub(1));
    let max_x = x.iter().copied().max().unwrap_or(X0);
    let n = if max_x + 70 <= MAX_WIDTH {
        1
    } else {
        (max_x - X0) / BAND_W + 1
    };
    if n > max_bands {
        return Err(format!(
            "the figure would be {n} bands of {MAX_WIDTH} px: more than {max_bands} helps nobody; `--check` checks the whole run, or draw a shorter one"
        ));
    }
    let axis_h = if o.layout == Layout::Real { 50 } else { 0 };
    let b = Bands {
        n,
        w: (max_x - X0) / n + 1,
        h: last_row + 70 + axis_h,
    };
    let right = if n == 1 {
        (max_x + 70).max(980)
    } else {
        X0 + b.w + 60
    };
    let line_end = |band: i64| {
        if band == n - 1 {
            (max_x + 60 - band * b.w).max(X0 + 40)
        } else {
            right - 20
        }
    };
    let xy = |k: usize| b.at(x[k], ry(pts[k].row));

    let mut taken = Taken::default();
    let mut s = String::new();
    let mut body = String::new();
    let heading = format!(
        "Lab 1 (Ricart–Agrawala): {} processes, {} events, x = {}{}",
        tr.rows.len(),
        tr.evs.len(),
        match o.layout {
            Layout::Lamport => "Lamport clock",
            Layout::Real => "wall clock (to scale; close events spread apart)",
        },
        if n > 1 {
            format!(", in {n} bands")
        } else {
            String::new()
        }
    );
    let hb = HEADING.boxed(&heading, 0, 22);
    taken.take((LEFT, hb.1, LEFT + hb.2 - hb.0, hb.3));
    let _ = writeln!(
        body,
        r#"<text x="{LEFT}" y="22" style="font-size:13px">{}</text>"#,
        esc(&heading)
    );
    // Process lines, in every band.
    let mut names: Vec<&str> = Vec::new();
    let labels: Vec<String> = tr.rows.iter().map(|r| r.label()).collect();
    names.extend(labels.iter().map(String::as_str));
    if o.resource {
        names.push("resource");
    }
    for band in 0..n {
        for (r, name) in names.iter().enumerate() {
            let yy = b.line(band, ry(r));
            let f = if *name == "resource" {
                LABEL_BOLD
            } else {
                PROC
            };
            let w = f.width(name);
            taken.take((13, yy + 5 - f.px, 16 + w, yy + 9));
            let _ = writeln!(
                body,
                r#"<text class="proc" x="14" y="{}"{}>{}</text><line class="line" x1="{}" y1="{yy}" x2="{}" y2="{yy}"/>"#,
                yy + 5,
                if *name == "resource" {
                    r#" style="font-size:11px""#
                } else {
                    ""
                },
                esc(name),
                LEFT - 10,
                line_end(band)
            );
        }
    }

    // Where a stay without `left` ends: a life killed inside and started again holds the CS
    // until its next life starts (the real layout), or is drawn to its last event (the Lamport
    // layout: the next life's clocks start over); one still inside at the end, to the end.
    let drawn_x = |row: &super::trace::Row, last: bool| {
        let mut it = row.evs.iter().filter(|&&i| of[i] != usize::MAX);
        let k = if last { it.next_back() } else { it.next() };
        k.map(|&i| x[of[i]])
    };
    let restarted = |r: usize| {
        let row = &tr.rows[r];
        let next = tr.rows.get(r + 1).filter(|n| n.id == row.id);
        let end = row.evs.last().and_then(|&i| tr.evs[i].ts);
        let seen = tr
            .evs
            .iter()
            .any(|e| e.name == Name::Restarted && e.peer == Some(Party::P(row.id)) && e.ts > end);
        (next, next.is_some() || seen)
    };
    let life_end = |r: usize| -> (i64, &'static str) {
        let (next, again) = restarted(r);
        if !again {
            return (max_x + 50, "");
        }
        let note = "\n(no `left`: killed inside, it held the CS until it started again)";
        let at = match (o.layout, next) {
            (Layout::Real, Some(n)) => drawn_x(n, false),
            _ => drawn_x(&tr.rows[r], true).map(|v| v + 20),
        };
        (at.unwrap_or(max_x + 50), note)
    };
    // CS bars, from `entered` to the next `left` of the row (or where the life ends).
    let mut bars = Vec::new();
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
            let open = left.is_none()
                && !row.evs[i..]
                    .iter()
                    .any(|&j| tr.evs[j].name == Name::Entered);
            let (end, note) = if open { life_end(r) } else { (max_x + 50, "") };
            let x2 = left.map_or(end, |j| x[of[j]]);
            let mut title = describe(tr, e);
            if let Some(j) = left {
                title.push('\n');
                title.push_str(&describe(tr, &tr.evs[j]));
            }
            title.push_str(note);
            let label = e.t.map_or("CS".to_string(), |t| format!("CS T={t}"));
            bars.push((r, x1, x2, label, title));
        }
    }
    let mut bar_pieces = Vec::new();
    for (r, x1, x2, _, _) in &bars {
        let pieces = b.pieces((*x1, ry(*r)), ((*x2).max(x1 + 4), ry(*r)));
        for p in &pieces {
            taken.take((p.0, p.1 - 5, p.2.max(p.0 + 4), p.1 + 5));
        }
        bar_pieces.push(pieces);
    }

    // The resource's lane: each ENTER and EXIT a process sent, straight down from where it
    // was sent; a use is a bar from ENTER to EXIT (stacked if the resource was told of two
    // at once).
    let mut lane_arrows = Vec::new();
    let mut uses: Vec<(i64, i64, String, String)> = Vec::new();
    if o.resource {
        let lane = ry(tr.rows.len());
        for (r, row) in tr.rows.iter().enumerate() {
            let mut at = None;
            let mut open: Option<(i64, String, u64)> = None;
            for &i in &row.evs {
                if of[i] != usize::MAX {
                    at = Some(x[of[i]]);
                }
                let e = &tr.evs[i];
                if e.name != Name::Sent || e.peer != Some(Party::Resource) {
                    continue;
                }
                let (Some(ax), true) = (at, matches!(e.kind, "ENTER" | "EXIT")) else {
                    continue;
                };
                if e.resend && !o.resends {
                    continue;
                }
                let mut pieces = b.pieces((ax, ry(r)), (ax, lane));
                if let Some(p) = pieces.last_mut() {
                    clear_end(p);
                }
                lane_arrows.push(Drawn {
                    kind: "resource",
                    class: "res",
                    head: Some("hdfr"),
                    lost: false,
                    pieces,
                    label: String::new(),
                    title: describe(tr, e),
                });
                if e.resend {
                    continue;
                }
                if e.kind == "ENTER" {
                    open = Some((ax, describe(tr, e), e.t.unwrap_or(0)));
                } else if let Some((x1, t, _)) = open.take() {
                    let label = format!("{} T={}", labels[r], e.t.unwrap_or(0));
                    uses.push((x1, ax, label, t + "\n" + &describe(tr, e)));
                }
            }
            if let Some((x1, t, enter_t)) = open {
                let label = format!("{} T={enter_t}", labels[r]);
                let (end, note) = life_end(r);
                uses.push((x1, end.max(x1 + 4), label, t + note));
            }
        }
    }
    // Stacked when they overlap (what a VIOLATION looks like on the lane).
    let mut use_level = vec![0i64; uses.len()];
    for k in 0..uses.len() {
        let mut lvl = 0;
        while (0..k).any(|j| use_level[j] == lvl && uses[j].0 < uses[k].1 && uses[k].0 < uses[j].1)
        {
            lvl += 1;
        }
        use_level[k] = lvl;
    }
    let mut use_pieces = Vec::new();
    for (k, u) in uses.iter().enumerate() {
        let y = ry(tr.rows.len()) + 8 + use_level[k] * 12;
        let pieces = b.pieces((u.0, y), (u.1.max(u.0 + 4), y));
        for p in &pieces {
            taken.take((p.0, p.1 - 4, p.2.max(p.0 + 4), p.1 + 4));
        }
        use_pieces.push(pieces);
    }

    // Messages.
    let mut drawn: Vec<Drawn> = Vec::new();
    for sh in &shown {
        if let Some(d) = message(tr, sh, o.resends, &of, &x, &ry, &b) {
            drawn.push(d);
        }
    }
    for &(req, d) in &deferrals {
        let (e, r) = (&tr.evs[req], &tr.evs[d]);
        let (p, q) = (of[req], of[d]);
        let mut pieces = b.pieces((x[p], ry(e.row)), (x[q], ry(r.row)));
        if let Some(p) = pieces.last_mut() {
            clear_end(p);
        }
        drawn.push(Drawn {
            kind: "deferral",
            class: "dfr",
            head: Some("hdfr"),
            lost: false,
            pieces,
            label: "DEFERRED".into(),
            title: format!("{}\n{}", describe(tr, e), describe(tr, r)),
        });
    }
    drawn.extend(lane_arrows);
    for d in &drawn {
        match (d.pieces.last(), d.head) {
            (Some(&p), Some(h)) => taken.take(head_box(p, if h == "hreq" { 10 } else { 7 })),
            (Some(&p), None) if d.lost => taken.take((p.2 - 7, p.3 - 7, p.2 + 7, p.3 + 7)),
            _ => {}
        }
    }
    // Markers.
    for (k, p) in pts.iter().enumerate() {
        let (px, py) = xy(k);
        let head = &tr.evs[p.evs[0]];
        taken.take(match head.name {
            Name::Left | Name::Entered => (px - 2, py - 10, px + 2, py + 10),
            Name::Request if head.deferred => (px - 7, py - 7, px + 7, py + 7),
            _ => (px - 6, py - 6, px + 6, py + 6),
        });
    }
    // Wall-clock ticks (real layout), regular: each label once.
    let mut ticks = String::new();
    if o.layout == Layout::Real {
        axis(&mut ticks, &pts, &x, &key, &b, last_row + 40, &mut taken);
    }

    taken.right = right;
    // Texts, the most constrained first: clocks beside their points, the deferred notes,
    // the CS labels, then the messages' labels along their arrows.
    let mut clocks = vec![None; pts.len()];
    for (k, p) in pts.iter().enumerate() {
        let head = &tr.evs[p.evs[0]];
        // A bar's end is not an event of the handout's figure (leaving does not tick), nor
        // is a DEFERRED heard.
        if matches!(head.name, Name::Left | Name::DeferredBy) {
            continue;
        }
        let (px, py) = xy(k);
        let c = head.clock.to_string();
        let w = LABEL_BOLD.width(&c);
        let mut at = [
            (px, py - 10),
            (px - w / 2 - 7, py - 7),
            (px + w / 2 + 7, py - 7),
            (px, py + 20),
            (px - w / 2 - 7, py + 16),
            (px + w / 2 + 7, py + 16),
        ]
        .into_iter();
        clocks[k] = Some(taken.place(&c, LABEL_BOLD, &mut at, (px, py - 10)));
    }
    let mut notes = vec![None; pts.len()];
    for (k, p) in pts.iter().enumerate() {
        if tr.evs[p.evs[0]].name == Name::Request && tr.evs[p.evs[0]].deferred {
            let (px, py) = xy(k);
            let mut at = [(px, py - 24), (px, py + 34), (px, py - 38)].into_iter();
            notes[k] = Some(taken.place("deferred", LABEL, &mut at, (px, py - 24)));
        }
    }
    let mut bar_labels = Vec::new();
    for ((_, _, _, label, _), pieces) in bars.iter().zip(&bar_pieces) {
        let p = longest(pieces);
        let mid = (p.0 + p.2) / 2;
        let w = LABEL_BOLD.width(label);
        let mut at = [0, -w, w, -2 * w, 2 * w]
            .into_iter()
            .flat_map(|dx| [(mid + dx, p.1 + 22), (mid + dx, p.1 + 36)]);
        bar_labels.push(taken.place(label, LABEL_BOLD, &mut at, (mid, p.1 + 22)));
    }
    let mut use_labels = Vec::new();
    for ((_, _, label, _), pieces) in uses.iter().zip(&use_pieces) {
        let p = longest(pieces);
        let mid = (p.0 + p.2) / 2;
        let mut at = [(mid, p.1 + 18), (mid, p.1 + 32)].into_iter();
        use_labels.push(taken.place(label, LABEL, &mut at, (mid, p.1 + 18)));
    }
    let mut arrow_labels = Vec::new();
    for d in &drawn {
        if d.label.is_empty() {
            arrow_labels.push(None);
            continue;
        }
        let p = longest(&d.pieces);
        let along = |t: i64| (p.0 + (p.2 - p.0) * t / 100, p.1 + (p.3 - p.1) * t / 100 + 4);
        let mut at = [50, 40, 60, 30, 70, 20, 80, 35, 65, 45, 55, 25, 75, 15, 85]
            .into_iter()
            .map(along);
        let placed = taken.place(&d.label, LABEL, &mut at, along(50));
        arrow_labels.push(Some((placed, along(50))));
    }

    // Draw: lines, bars, arrows, points, then every text over them.
    s.push_str(&body);
    for ((_, _, _, _, title), pieces) in bars.iter().zip(&bar_pieces) {
        bar(&mut s, "csbar", "cs", title, pieces, 10);
    }
    for ((_, _, _, title), pieces) in uses.iter().zip(&use_pieces) {
        bar(&mut s, "use", "use", title, pieces, 8);
    }
    for (d, label) in drawn.iter().zip(&arrow_labels) {
        let _ = write!(
            s,
            r#"<g class="msg {}{}"><title>{}</title>"#,
            d.kind,
            if d.lost { " lost" } else { "" },
            esc(&d.title)
        );
        for (i, p) in d.pieces.iter().enumerate() {
            let head = match d.head {
                Some(h) if i + 1 == d.pieces.len() => format!(" marker-end=\"url(#{h})\""),
                _ => String::new(),
            };
            let _ = write!(
                s,
                r#"<line class="{}" x1="{}" y1="{}" x2="{}" y2="{}"{head}/>"#,
                d.class, p.0, p.1, p.2, p.3
            );
        }
        if let (true, Some(p)) = (d.lost, d.pieces.last()) {
            let _ = write!(
                s,
                r#"<path class="lost" d="M{},{}l10,10m0,-10l-10,10"/>"#,
                p.2 - 5,
                p.3 - 5
            );
        }
        if let Some((((lx, ly), along), anchor)) = label {
            if !along {
                let _ = write!(
                    s,
                    r#"<line class="lead" x1="{lx}" y1="{}" x2="{}" y2="{}"/>"#,
                    ly - 4,
                    anchor.0,
                    anchor.1 - 4
                );
            }
            let _ = write!(
                s,
                r#"<text class="lbl" x="{lx}" y="{ly}" text-anchor="middle">{}</text>"#,
                esc(&d.label)
            );
        }
        s.push_str("</g>\n");
    }
    for (k, p) in pts.iter().enumerate() {
        let head = &tr.evs[p.evs[0]];
        let (px, py) = xy(k);
        s.push_str("<g class=\"ev\"><title>");
        for (n, &e) in p.evs.iter().enumerate() {
            if n > 0 {
                s.push('\n');
            }
            s.push_str(&esc(&describe(tr, &tr.evs[e])));
            s.push('\n');
            s.push_str(&esc(&tr.raw(&tr.evs[e])));
        }
        s.push_str("</title>");
        let _ = match head.name {
            Name::Internal => write!(
                s,
                r#"<rect class="int" x="{}" y="{}" width="9" height="9"/>"#,
                px - 4,
                py - 4
            ),
            Name::Request if head.deferred => {
                write!(s, r#"<circle class="def" cx="{px}" cy="{py}" r="5"/>"#)
            }
            Name::DeferredBy => {
                write!(s, r#"<circle class="ack" cx="{px}" cy="{py}" r="3"/>"#)
            }
            Name::Left | Name::Entered => write!(
                s,
                r#"<line class="line" x1="{px}" y1="{}" x2="{px}" y2="{}"/>"#,
                py - 9,
                py + 9
            ),
            _ => write!(s, r#"<circle class="dot" cx="{px}" cy="{py}" r="4"/>"#),
        };
        if let Some(((lx, ly), _)) = clocks[k] {
            let _ = write!(
                s,
                r#"<text class="clk" x="{lx}" y="{ly}" text-anchor="middle">{}</text>"#,
                head.clock
            );
        }
        if let Some(((lx, ly), _)) = notes[k] {
            let _ = write!(
                s,
                r#"<text class="lbl" x="{lx}" y="{ly}" text-anchor="middle" style="font-style:italic">deferred</text>"#
            );
        }
        s.push_str("</g>\n");
    }
    for (((_, _, label, title), ((lx, ly), _)), _) in uses.iter().zip(&use_labels).zip(&use_pieces)
    {
        let _ = writeln!(
            s,
            r#"<g class="uselbl"><title>{}</title><text class="lbl" x="{lx}" y="{ly}" text-anchor="middle">{}</text></g>"#,
            esc(title),
            esc(label)
        );
    }
    for ((_, _, _, label, title), ((lx, ly), _)) in bars.iter().zip(&bar_labels) {
        let _ = writeln!(
            s,
            r#"<g class="cslbl"><title>{}</title><text class="lbl" x="{lx}" y="{ly}" text-anchor="middle" style="font-weight:bold">{}</text></g>"#,
            esc(title),
            esc(label)
        );
    }
    s.push_str(&ticks);
    let bottom = taken.bottom() + 16;
    let (legend_h, legend_w) = legend(&mut s, bottom, right - LEFT - 10, o);
    let width = right.max(LEFT + legend_w + 20);
    let height = bottom + legend_h + 12;
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n{STYLE}{s}</svg>\n"
    ))
}

/// A bar (a CS, or a use on the resource's lane) `h` px high, one rect per band it crosses,
/// under one hover text.
fn bar(s: &mut String, group: &str, class: &str, title: &str, pieces: &[Piece], h: i64) {
    let _ = write!(s, r#"<g class="{group}"><title>{}</title>"#, esc(title));
    for p in pieces {
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{h}"/>"#,
            p.0,
            p.1 - h / 2,
            (p.2 - p.0).max(4)
        );
    }
    s.push_str("</g>\n");
}

/// The longest of an arrow's or a bar's pieces (one per band it crosses): where its label goes.
fn longest(pieces: &[(i64, i64, i64, i64)]) -> (i64, i64, i64, i64) {
    let len = |p: &&(i64, i64, i64, i64)| (p.2 - p.0).abs() + (p.3 - p.1).abs();
    pieces.iter().max_by_key(len).copied().unwrap_or_default()
}

/// A REQUEST or REPLY as an arrow: from its send to its receive, or half-way to the receiver
/// and crossed if it was lost.
fn message(
    tr: &Trace,
    sh: &Shown,
    every_copy: bool,
    of: &[usize],
    x: &[i64],
    ry: &dyn Fn(usize) -> i64,
    b: &Bands,
) -> Option<Drawn> {
    let a = &sh.arrow;
    let e = &tr.evs[a.send];
    let (x1, y1) = (x[of[a.send]], ry(e.row));
    let req = e.kind == "REQUEST";
    let dashed = a.dashed && every_copy;
    let class = match (req, dashed) {
        (true, false) => "req",
        (true, true) => "req dash",
        (false, false) => "rep",
        (false, true) => "rep dash",
    };
    let mut label = if req {
        format!("REQ(T={})", e.t.unwrap_or(0))
    } else {
        "REPLY".to_string()
    };
    let mut title = describe(tr, e);
    if sh.copies > 1 && !every_copy {
        let _ = write!(label, " ×{}", sh.copies);
    }
    if sh.copies > 1 {
        let _ = write!(
            title,
            "\nsent {} times ({} resend(s)); {} lost, {} received again as duplicates",
            sh.copies,
            sh.copies - 1,
            sh.lost,
            sh.dups
        );
    }
    let (x2, y2, lost) = match a.recv {
        Some(r) => {
            title.push_str("\nreceived: ");
            title.push_str(&describe(tr, &tr.evs[r]));
            (x[of[r]], ry(tr.evs[r].row), false)
        }
        None => {
            // Towards the receiver's line (its last life that had started by then).
            let Some(Party::P(to)) = e.peer else {
                return None;
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
                    (x1 + 44, y1 + (ry(k) - y1) / 2, true)
                }
                None => {
                    title.push_str(&format!("\nP{to}'s trace is not in the input"));
                    (x1 + 30, y1 + if y1 > 0 { -24 } else { 24 }, false)
                }
            }
        }
    };
    let mut pieces = b.pieces((x1, y1), (x2, y2));
    if !lost {
        if let Some(p) = pieces.last_mut() {
            clear_end(p);
        }
    }
    Some(Drawn {
        kind: if req { "request" } else { "reply" },
        class,
        head: match (lost, req) {
            (true, _) => None,
            (false, true) => Some("hreq"),
            (false, false) => Some("hrep"),
        },
        lost,
        pieces,
        label,
        title,
    })
}

/// Each deferral acknowledged: the deferred `request` at the deferrer and the `deferred_by`
/// it caused at the requester (the first per request unless every copy is drawn).
fn deferral_pairs(tr: &Trace, all: bool) -> Vec<(usize, usize)> {
    // The deferred REQUESTs by (deferrer, requester, T), then log order: the last one of a
    // key is the one a DEFERRED names (a sort and a binary search, not a scan per DEFERRED).
    let key = |deferrer: u16, requester: u16, t: u64| {
        [u64::from(deferrer) << 16 | u64::from(requester), t]
    };
    let reqs: Vec<usize> = (0..tr.evs.len())
        .filter(|&i| tr.evs[i].name == Name::Request && tr.evs[i].deferred)
        .collect();
    let rkey = |i: usize| {
        let e = &tr.evs[i];
        let from = match e.peer {
            Some(Party::P(j)) => j,
            _ => 0,
        };
        let [a, b] = key(e.id, from, e.t.unwrap_or(0));
        [a, b, i as u64]
    };
    let order: Vec<usize> = super::sort::sorted(reqs.len(), &|k| rkey(reqs[k]))
        .into_iter()
        .map(|k| reqs[k])
        .collect();
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut drawn = vec![false; tr.evs.len()];
    for (d, e) in tr.evs.iter().enumerate() {
        let (Name::DeferredBy, Some(Party::P(j)), Some(t)) = (e.name, e.peer, e.t) else {
            continue;
        };
        let [a, b] = key(j, e.id, t);
        let end = order.partition_point(|&i| rkey(i)[..2] <= [a, b][..]);
        let Some(&req) = end.checked_sub(1).map(|k| &order[k]) else {
            continue;
        };
        if rkey(req)[..2] != [a, b][..] {
            continue;
        }
        if all || !drawn[req] {
            drawn[req] = true;
            out.push((req, d));
        }
    }
    out
}

/// Wall-clock ticks under the rows (real layout) at a regular step (1, 2 or 5 times a power
/// of ten milliseconds), the first that leaves 80 px between ticks; each band has its own.
fn axis(
    s: &mut String,
    pts: &[Point],
    x: &[i64],
    key: &[u64],
    b: &Bands,
    ry: i64,
    taken: &mut Taken,
) {
    let order = super::sort::sorted(pts.len(), &|k| [key[k], x[k] as u64, 0]);
    let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
        return;
    };
    let (t0, t1) = (key[first], key[last]);
    // x of a time (µs), between the points drawn before and after it.
    let at = |t: u64| -> i64 {
        let i = order.partition_point(|&k| key[k] < t);
        match (i.checked_sub(1).map(|i| order[i]), order.get(i)) {
            (_, Some(&k)) if key[k] == t => x[k],
            (Some(p), Some(&q)) => {
                let (kp, kq) = (key[p], key[q]);
                x[p] + ((x[q] - x[p]) as i128 * (t - kp) as i128 / (kq - kp).max(1) as i128) as i64
            }
            (_, Some(&k)) => x[k],
            (Some(p), None) => x[p],
            (None, None) => X0,
        }
    };
    let span_ms = (t1 - t0) / 1000;
    // No step below the one that averages 80 px over the axis can do: start there (a span of
    // years, or a time in seconds among microseconds, is a few ticks, not millions).
    let px = (x[last] - x[first]).max(1) as u64;
    let least = span_ms / (px / 80).max(1);
    let mut step = u64::MAX; // none fits: the first tick only
    'pick: for p in 0..=19u32 {
        for m in [1, 2, 5] {
            let Some(st) = 10u64.checked_pow(p).and_then(|v| v.checked_mul(m)) else {
                break 'pick;
            };
            if st < least {
                continue;
            }
            let (mut prev, mut ok, mut ms) = (None, true, Some(0));
            while let Some(m) = ms.filter(|&m| m <= span_ms) {
                let xx = at(t0 + m * 1000);
                if prev.is_some_and(|p| xx - p < 80) {
                    ok = false;
                    break;
                }
                prev = Some(xx);
                ms = m.checked_add(st);
            }
            if ok {
                step = st;
                break 'pick;
            }
        }
    }
    let _ = writeln!(s, r#"<g class="axis">"#);
    for band in 0..b.n {
        let y = b.line(band, ry);
        let _ = writeln!(s, r#"<text x="14" y="{}">time</text>"#, y + 16);
        taken.take((13, y + 4, 50, y + 20));
    }
    let mut next = Some(0);
    while let Some(ms) = next.filter(|&m| m <= span_ms) {
        next = ms.checked_add(step);
        let (px, y) = b.at(at(t0 + ms * 1000), ry);
        let label = secs(ms, step);
        taken.take(LABEL.boxed(&label, px, y + 16));
        let _ = writeln!(
            s,
            r##"<line x1="{px}" y1="{}" x2="{px}" y2="{}" stroke="#000"/><text x="{px}" y="{}" text-anchor="middle">{label}</text>"##,
            y - 4,
            y + 4,
            y + 16
        );
    }
    s.push_str("</g>\n");
}

/// The key, at (`LEFT`, `y`), its items flowing in rows no wider than `max_w`; returns its
/// height and width.
fn legend(s: &mut String, y: i64, max_w: i64, o: Options) -> (i64, i64) {
    let mut items: Vec<(&str, String)> = vec![
        (
            r#"<circle class="dot" cx="14" cy="0" r="4"/>"#,
            "event (its Lamport clock beside it)".into(),
        ),
        (
            r#"<rect class="int" x="10" y="-4" width="9" height="9"/>"#,
            "internal event (own id typed)".into(),
        ),
        (
            r#"<circle class="def" cx="14" cy="0" r="5"/>"#,
            "REQUEST deferred".into(),
        ),
        (
            r#"<rect class="cs" x="0" y="-5" width="30" height="10"/>"#,
            "critical section".into(),
        ),
        (
            r#"<line class="req" x1="0" y1="0" x2="30" y2="0" marker-end="url(#hreq)"/>"#,
            "REQ(T=…)".into(),
        ),
        (
            r#"<line class="rep" x1="0" y1="0" x2="30" y2="0" marker-end="url(#hrep)"/>"#,
            "REPLY".into(),
        ),
        (
            r#"<path class="lost" d="M20,-5l10,10m0,-10l-10,10"/><line class="req" x1="0" y1="0" x2="25" y2="0"/>"#,
            "lost (never received)".into(),
        ),
    ];
    if o.resends {
        items.push((
            r#"<line class="req dash" x1="0" y1="0" x2="30" y2="0"/>"#,
            "resend or duplicate".into(),
        ));
    } else {
        items.push((
            "",
            "×3: sent 3 times; the resends not drawn (--resends draws them)".into(),
        ));
    }
    if o.deferrals {
        items.push((
            r#"<line class="dfr" x1="0" y1="0" x2="30" y2="0" marker-end="url(#hdfr)"/>"#,
            "DEFERRED: a deferral acknowledged".into(),
        ));
    }
    if o.resource {
        items.push((
            r#"<line class="res" x1="0" y1="0" x2="30" y2="0" marker-end="url(#hdfr)"/>"#,
            "ENTER, EXIT sent to the shared resource; its uses as white bars".into(),
        ));
    } else {
        items.push((
            "",
            "messages to the shared resource not drawn (--resource draws them)".into(),
        ));
    }
    let mut g = String::new();
    let (mut cx, mut cy, mut w) = (10, 18, 0);
    for (mark, text) in &items {
        let mw = if mark.is_empty() { 0 } else { 40 };
        let iw = mw + LABEL.width(text) + 24;
        if cx > 10 && cx + iw > max_w {
            cx = 10;
            cy += 22;
        }
        if !mark.is_empty() {
            let _ = write!(g, r#"<g transform="translate({cx},{cy})">{mark}</g>"#);
        }
        let _ = writeln!(
            g,
            r#"<text x="{}" y="{}">{}</text>"#,
            cx + mw,
            cy + 4,
            esc(text)
        );
        cx += iw;
        w = w.max(cx);
    }
    let h = cy + 14;
    let _ = writeln!(
        s,
        r##"<g class="legend" transform="translate({LEFT},{y})"><rect width="{w}" height="{h}" fill="#fff" stroke="#000"/>{g}</g>"##
    );
    (h, w)
}
