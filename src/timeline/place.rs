//! Where texts go: every marker, bar, arrowhead and text of the figure is a box, and a text is
//! put at the first of its candidate places that meets no box, so that no text covers
//! another text, a marker, an arrowhead or a CS bar. Widths come from the font the figure
//! names first (DejaVu Sans, whose advances are those of Verdana: wider than Arial and
//! Helvetica, so the boxes hold in those too).

/// A box: x1, y1, x2, y2 (x1 < x2, y1 < y2).
pub(super) type Box4 = (i64, i64, i64, i64);

/// DejaVu Sans advances of ASCII 32..=126, in 1/200 em, rounded up (Book, then Bold).
const BOOK: [u8; 95] = [
    64, 81, 92, 168, 128, 191, 156, 55, 79, 79, 100, 168, 64, 73, 64, 68, 128, 128, 128, 128, 128,
    128, 128, 128, 128, 128, 68, 68, 168, 168, 168, 107, 200, 137, 138, 140, 155, 127, 116, 155,
    151, 59, 59, 132, 112, 173, 150, 158, 121, 158, 139, 127, 123, 147, 137, 198, 138, 123, 138,
    79, 68, 79, 168, 100, 100, 123, 127, 110, 127, 124, 71, 127, 127, 56, 56, 116, 56, 195, 127,
    123, 127, 127, 83, 105, 79, 127, 119, 164, 119, 119, 105, 128, 68, 128, 168,
];
const BOLD: [u8; 95] = [
    70, 92, 105, 168, 140, 201, 175, 62, 92, 92, 105, 168, 76, 84, 76, 74, 140, 140, 140, 140, 140,
    140, 140, 140, 140, 140, 80, 80, 168, 168, 168, 117, 200, 155, 153, 147, 167, 137, 137, 165,
    168, 75, 75, 155, 128, 200, 168, 171, 147, 171, 155, 145, 137, 163, 155, 221, 155, 145, 146,
    92, 74, 92, 168, 100, 100, 135, 144, 119, 144, 136, 88, 144, 143, 69, 69, 134, 69, 209, 143,
    138, 144, 144, 99, 120, 96, 143, 131, 185, 130, 131, 117, 143, 74, 143, 168,
];

/// A text's look: its size in px and whether it is bold.
#[derive(Debug, Clone, Copy)]
pub(super) struct Font {
    pub(super) px: i64,
    pub(super) bold: bool,
}

pub(super) const LABEL: Font = Font {
    px: 11,
    bold: false,
};
pub(super) const LABEL_BOLD: Font = Font { px: 11, bold: true };

impl Font {
    /// The advance of `s`, rounded up (a character outside ASCII counts as 1 em).
    pub(super) fn width(self, s: &str) -> i64 {
        let table = if self.bold { &BOLD } else { &BOOK };
        let units: i64 = s
            .chars()
            .map(|c| match c as u32 {
                c @ 32..=126 => i64::from(table[c as usize - 32]),
                _ => 200,
            })
            .sum();
        (units * self.px + 199) / 200
    }
    /// The box of `s` drawn centred on `cx` with its baseline at `y` (the font's ascent
    /// 0.93 em and descent 0.24 em, as a browser measures a text).
    pub(super) fn boxed(self, s: &str, cx: i64, y: i64) -> Box4 {
        self.boxed_w(self.width(s), cx, y)
    }
    /// The same, for a text `w` px wide.
    fn boxed_w(self, w: i64, cx: i64, y: i64) -> Box4 {
        (
            cx - w / 2 - 1,
            y - (self.px * 93 + 99) / 100,
            cx + w / 2 + 2,
            y + (self.px * 24 + 99) / 100,
        )
    }
}

/// The boxes already on the figure, and a grid of 64 px cells listing the boxes that reach
/// each (so that a place is checked against its neighbours only: a run of a hundred thousand
/// events is drawn in seconds, not hours).
#[derive(Default)]
pub(super) struct Taken {
    boxes: Vec<Box4>,
    cells: Vec<Vec<u32>>,
    /// The figure's right edge: a text is placed between 0 and it, below 0 (0: no bound yet).
    pub(super) right: i64,
    /// The lowest edge of anything covered.
    low: i64,
}

const CELL: i64 = 64;
/// How far around its place a text is looked for a free spot (rings of 12 px by a line).
const RINGS: i64 = 24;
/// Cells per grid row (2,560 px); boxes farther right share the last column.
const COLS: usize = 40;

impl Taken {
    /// The grid cells a box reaches, as (first row, last row, first column, last column).
    fn span(b: Box4) -> (usize, usize, usize, usize) {
        let c = |v: i64| (v.max(0) / CELL) as usize;
        (c(b.1), c(b.3), c(b.0).min(COLS - 1), c(b.2).min(COLS - 1))
    }

    /// Marks `b` as covered. A box inside one already taken adds nothing and is not kept: a
    /// run whose events repeat (the same clocks again and again) would otherwise pile up
    /// boxes in the same cells, and every later look there would scan them all.
    pub(super) fn take(&mut self, b: Box4) {
        let (r1, _, c1, _) = Self::span(b);
        let inside = |o: &Box4| o.0 <= b.0 && o.1 <= b.1 && b.2 <= o.2 && b.3 <= o.3;
        if let Some(cell) = self.cells.get(r1 * COLS + c1) {
            if cell.iter().any(|&k| inside(&self.boxes[k as usize])) {
                return;
            }
        }
        let k = self.boxes.len() as u32;
        self.boxes.push(b);
        self.low = self.low.max(b.3);
        let (r1, r2, c1, c2) = Self::span(b);
        if self.cells.len() < (r2 + 1) * COLS {
            self.cells.resize_with((r2 + 1) * COLS, Vec::new);
        }
        for r in r1..=r2 {
            for c in c1..=c2 {
                self.cells[r * COLS + c].push(k);
            }
        }
    }

    /// The lowest edge of anything covered.
    pub(super) fn bottom(&self) -> i64 {
        self.low
    }

    pub(super) fn free(&self, b: Box4) -> bool {
        if b.0 < 0 || b.1 < 0 || (self.right > 0 && b.2 > self.right) {
            return false; // off the figure
        }
        let (r1, r2, c1, c2) = Self::span(b);
        for r in r1..=r2 {
            for c in c1..=c2 {
                let Some(cell) = self.cells.get(r * COLS + c) else {
                    return true; // below everything so far
                };
                let meets = cell.iter().any(|&k| {
                    let o = self.boxes[k as usize];
                    b.0 < o.2 && o.0 < b.2 && b.1 < o.3 && o.1 < b.3
                });
                if meets {
                    return false;
                }
            }
        }
        true
    }

    /// Puts `s` at the first free place of `at` (centre x, baseline y), else at the free
    /// place nearest `near` (rings of places around it, farther and farther); returns the
    /// place and whether it is one of `at`. The place is then taken.
    pub(super) fn place(
        &mut self,
        s: &str,
        f: Font,
        at: &mut dyn Iterator<Item = (i64, i64)>,
        near: (i64, i64),
    ) -> ((i64, i64), bool) {
        // Its width once: a crowded figure tries thousands of places for one text.
        let w = f.width(s);
        for p in at {
            if self.free(f.boxed_w(w, p.0, p.1)) {
                self.take(f.boxed_w(w, p.0, p.1));
                return (p, true);
            }
        }
        let step_y = f.px + 4;
        for ring in 1..RINGS {
            // The ring's places, nearest (straight above and below, then sideways) first.
            for d in 0..=ring {
                for (dx, dy) in [
                    (d, -ring),
                    (-d, -ring),
                    (d, ring),
                    (-d, ring),
                    (-ring, d),
                    (ring, d),
                    (-ring, -d),
                    (ring, -d),
                ] {
                    let p = (near.0 + dx * 12, near.1 + dy * step_y);
                    if self.free(f.boxed_w(w, p.0, p.1)) {
                        self.take(f.boxed_w(w, p.0, p.1));
                        return (p, false);
                    }
                }
            }
        }
        // Nothing free within the rings (a crowded figure): below everything, inside the
        // edges.
        let y = self.bottom() + 2 * step_y;
        let x = near
            .0
            .max(w / 2 + 2)
            .min((self.right - w / 2 - 3).max(w / 2 + 2));
        self.take(f.boxed(s, x, y));
        ((x, y), false)
    }
}
