//! The Prometheus text exposition format (version 0.0.4), written into a fixed buffer one part
//! at a time, with no allocation.
//!
//! A scrape's whole exposition (a 256-peer table is a few hundred kilobytes) never exists at
//! once: each part is a pass over every metric that skips the lines earlier parts held and
//! stops at the first line that does not fit ([`Expo::part`]). Skipped lines are not
//! formatted, so a pass costs little more than the lines it writes.
//!
//! Lines are placed by a [`Pos`]: the family's number, the row's key (a peer's slot in the
//! table, or the sample's rank in a fixed list) and the line within the row (a histogram's).
//! A part resumes after the last position sent, not after a count of lines: a peer that joins
//! while a slow client reads is left out of the families already sent, never sent twice, and
//! no family's `# TYPE` is written twice.

use core::fmt::{self, Display, Write as _};

/// Longest line: a metric name, labels (a peer's name of up to 255 bytes, escaped, and its
/// address) and a value. A longer one is left out and counted ([`Expo::too_long`]).
const LINE: usize = 1024;

/// What a metric family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (its name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Counts of observations by upper bound, with their sum and count.
    Histogram,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value: whole numbers only (float formatting would add tens of kilobytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A count.
    Count(u64),
    /// Milliseconds, written as seconds (`1.234`), the base unit.
    Millis(u64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Count(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Count(u64::from(b))
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Count(n) => write!(f, "{n}"),
            // `1.5`, `0.007`, `10`: no trailing zeros (as `le` labels are usually written).
            Value::Millis(ms) => {
                let (s, mut frac, mut digits) = (ms / 1000, ms % 1000, 3);
                while digits > 0 && frac % 10 == 0 {
                    frac /= 10;
                    digits -= 1;
                }
                if digits == 0 {
                    write!(f, "{s}")
                } else {
                    write!(f, "{s}.{frac:0digits$}")
                }
            }
        }
    }
}

/// A label value that may be missing (an address not resolved yet): empty then.
#[derive(Debug, Clone, Copy)]
pub struct OrEmpty<T>(pub Option<T>);

impl<T: Display> Display for OrEmpty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

/// One label: its name and its value (escaped when written).
pub type Label<'a> = (&'a str, &'a dyn Display);

/// Where a line stands in the exposition: family, row key, line within the row (in that
/// order of significance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    family: u32,
    key: u32,
    line: u32,
}

/// Writes one part of an exposition into `buf`.
#[derive(Debug)]
pub struct Expo<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// The first position this part writes (those before were sent by earlier parts).
    from: Pos,
    /// The position of the next line offered.
    at: Pos,
    /// The next automatic row key in this family.
    auto: u32,
    /// A line did not fit: the part ends before it, at this position.
    stop: Option<Pos>,
    /// Lines left out for being longer than [`LINE`].
    too_long: u64,
    scratch: heapless::Vec<u8, LINE>,
}

/// What a pass wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// Where the next part starts; `None`: this was the last part.
    pub next: Option<Pos>,
}

impl<'a> Expo<'a> {
    /// A part that starts at `from` (`Pos::default()` for the first) and fills `buf`.
    pub fn part(buf: &'a mut [u8], from: Pos) -> Expo<'a> {
        Expo {
            buf,
            len: 0,
            from,
            at: Pos::default(),
            auto: 0,
            stop: None,
            too_long: 0,
            scratch: heapless::Vec::new(),
        }
    }

    /// Ends the pass. A part that holds no line though one was due (a buffer smaller than a
    /// line) ends the exposition rather than loop.
    pub fn finish(self) -> Part {
        let next = self.stop.filter(|_| self.len > 0);
        Part {
            len: self.len,
            next,
        }
    }

    /// Lines left out of this part for being too long.
    pub fn too_long(&self) -> u64 {
        self.too_long
    }

    /// A family's `# HELP` and `# TYPE` lines: the family's rows follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.at = Pos {
            family: self.at.family + 1,
            key: 0,
            line: 0,
        };
        self.auto = 1;
        self.line_with(|l| write!(l, "# HELP {name} {help}"));
        self.line_with(|l| write!(l, "# TYPE {name} {}", kind.word()));
    }

    /// One sample, `name{labels} value`, in the next row of a fixed list.
    pub fn sample(&mut self, name: &str, labels: &[Label<'_>], value: Value) {
        let key = self.auto;
        self.row(key, name, labels, value);
    }

    /// One sample in the row of peer slot `slot` (rows of a family in increasing slots).
    pub fn sample_of(&mut self, slot: usize, name: &str, labels: &[Label<'_>], value: Value) {
        // Keys above the fixed rows' (a family has one kind or the other).
        let key = u32::try_from(slot)
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1);
        self.row(key, name, labels, value);
    }

    fn row(&mut self, key: u32, name: &str, labels: &[Label<'_>], value: Value) {
        self.start_row(key);
        self.line_with(|l| {
            l.write_str(name)?;
            write_labels(l, labels, None)?;
            write!(l, " {value}")
        });
    }

    fn start_row(&mut self, key: u32) {
        self.at.key = key;
        self.at.line = 0;
        self.auto = key.saturating_add(1);
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A counter family with one sample per value of one label (`reason`, `code`...).
    pub fn counts(&mut self, name: &str, help: &str, label: &str, rows: &[(&str, u64)]) {
        self.family(name, Kind::Counter, help);
        for (value, n) in rows {
            self.sample(name, &[(label, value)], Value::Count(*n));
        }
    }

    /// A histogram's samples for one label set: `buckets` are upper bounds in milliseconds and
    /// the count of observations in each (not cumulative), then the sum and the count.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[Label<'_>],
        buckets: &[(u64, u64)],
        sum: Value,
        count: u64,
    ) {
        let key = self.auto;
        self.start_row(key);
        let mut below = 0u64;
        for &(le, n) in buckets {
            below += n;
            self.line_with(|l| {
                write!(l, "{name}_bucket")?;
                write_labels(l, labels, Some(&Value::Millis(le)))?;
                write!(l, " {below}")
            });
        }
        self.line_with(|l| {
            write!(l, "{name}_bucket")?;
            write_labels(l, labels, Some(&"+Inf"))?;
            write!(l, " {count}")
        });
        self.line_with(|l| {
            write!(l, "{name}_sum")?;
            write_labels(l, labels, None)?;
            write!(l, " {sum}")
        });
        self.line_with(|l| {
            write!(l, "{name}_count")?;
            write_labels(l, labels, None)?;
            write!(l, " {count}")
        });
    }

    /// Offers the line at `at`: passed over if an earlier part held it, written if it fits,
    /// else the part ends here.
    fn line_with(&mut self, f: impl FnOnce(&mut Scratch<'_>) -> fmt::Result) {
        if self.stop.is_some() {
            return;
        }
        let here = self.at;
        self.at.line += 1;
        if here < self.from {
            return;
        }
        self.scratch.clear();
        let ok = f(&mut Scratch(&mut self.scratch)).is_ok() && self.scratch.push(b'\n').is_ok();
        if !ok {
            self.too_long += 1;
            return;
        }
        let room = self.buf.len() - self.len;
        if self.scratch.len() > room {
            self.stop = Some(here);
            return;
        }
        self.buf[self.len..self.len + self.scratch.len()].copy_from_slice(&self.scratch);
        self.len += self.scratch.len();
    }
}

/// `{a="x",b="y"}` (nothing for no labels), with `le` last for a bucket.
fn write_labels(
    l: &mut Scratch<'_>,
    labels: &[Label<'_>],
    le: Option<&dyn Display>,
) -> fmt::Result {
    if labels.is_empty() && le.is_none() {
        return Ok(());
    }
    l.write_char('{')?;
    let le = le.map(|v| ("le", v));
    for (k, (name, value)) in labels.iter().copied().chain(le).enumerate() {
        if k > 0 {
            l.write_char(',')?;
        }
        write!(l, "{name}=\"")?;
        write!(Escaped(l), "{value}")?;
        l.write_char('"')?;
    }
    l.write_char('}')
}

/// The line being built.
struct Scratch<'a>(&'a mut heapless::Vec<u8, LINE>);

impl fmt::Write for Scratch<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes())
            .map_err(|_| fmt::Error)
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
struct Escaped<'a, 'b>(&'a mut Scratch<'b>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for part in s.split_inclusive(['\\', '"', '\n']) {
            let (text, special) = match part.as_bytes().last() {
                Some(b'\\') => (&part[..part.len() - 1], "\\\\"),
                Some(b'"') => (&part[..part.len() - 1], "\\\""),
                Some(b'\n') => (&part[..part.len() - 1], "\\n"),
                _ => (part, ""),
            };
            self.0.write_str(text)?;
            self.0.write_str(special)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(render: impl Fn(&mut Expo<'_>), part_size: usize) -> String {
        let mut k = 0;
        whole_changing(|e, _| render(e), part_size, &mut k)
    }

    /// The parts of an exposition that `render` writes differently for each part (its second
    /// argument: the part's number).
    fn whole_changing(
        render: impl Fn(&mut Expo<'_>, usize),
        part_size: usize,
        parts: &mut usize,
    ) -> String {
        let mut out = Vec::new();
        let mut from = Pos::default();
        loop {
            let mut buf = vec![0u8; part_size];
            let mut e = Expo::part(&mut buf, from);
            render(&mut e, *parts);
            *parts += 1;
            let p = e.finish();
            out.extend_from_slice(&buf[..p.len]);
            match p.next {
                Some(n) => from = n,
                None => return String::from_utf8(out).unwrap(),
            }
        }
    }

    fn sample_metrics(e: &mut Expo<'_>) {
        e.single("a_total", Kind::Counter, "Things.", Value::Count(7));
        e.family("b_seconds", Kind::Gauge, "Age.");
        for (i, (name, v)) in [("p1", 1500), ("we\"ird\\ \nname", 7)]
            .into_iter()
            .enumerate()
        {
            e.sample_of(
                i,
                "b_seconds",
                &[("peer", &name), ("n", &3)],
                Value::Millis(v),
            );
        }
        e.family("w_seconds", Kind::Histogram, "Waits.");
        e.histogram(
            "w_seconds",
            &[],
            &[(5, 1), (1000, 2)],
            Value::Millis(1203),
            4,
        );
    }

    const EXPECTED: &str = "# HELP a_total Things.\n# TYPE a_total counter\na_total 7\n\
# HELP b_seconds Age.\n# TYPE b_seconds gauge\nb_seconds{peer=\"p1\",n=\"3\"} 1.5\n\
b_seconds{peer=\"we\\\"ird\\\\ \\nname\",n=\"3\"} 0.007\n\
# HELP w_seconds Waits.\n# TYPE w_seconds histogram\nw_seconds_bucket{le=\"0.005\"} 1\n\
w_seconds_bucket{le=\"1\"} 3\nw_seconds_bucket{le=\"+Inf\"} 4\nw_seconds_sum 1.203\n\
w_seconds_count 4\n";

    #[test]
    fn writes_the_text_format_with_escaped_labels() {
        assert_eq!(whole(sample_metrics, 4096), EXPECTED);
    }

    #[test]
    fn parts_of_any_size_make_the_same_exposition() {
        // Down to the longest line: every line whole, in order, once.
        for size in [60, 61, 64, 100, 128, 300] {
            assert_eq!(
                whole(sample_metrics, size),
                EXPECTED,
                "parts of {size} bytes"
            );
        }
    }

    #[test]
    fn rows_that_appear_between_parts_are_never_sent_twice_and_no_family_repeats() {
        // A table that grows by one row before every part (a peer joining while a slow client
        // reads): rows before the resume point are left out of that family, none is doubled.
        let grow = |e: &mut Expo<'_>, part: usize| {
            for f in ["x_total", "y_total"] {
                e.family(f, Kind::Counter, "Rows.");
                // Slots 0, 2, 4... and the new ones in between.
                let rows: Vec<usize> = (0..20)
                    .map(|k| 2 * k)
                    .chain((0..part).map(|k| 2 * k + 1))
                    .collect();
                let mut rows = rows;
                rows.sort();
                for slot in rows {
                    e.sample_of(slot, f, &[("peer", &slot)], Value::Count(1));
                }
            }
        };
        let mut parts = 0;
        let text = whole_changing(grow, 120, &mut parts);
        assert!(parts > 5, "{parts} parts");
        let mut seen = std::collections::BTreeSet::new();
        for l in text.lines() {
            let key = l.rsplit_once(' ').map_or(l, |(k, _)| k);
            let key = if l.starts_with("# HELP") { l } else { key };
            assert!(seen.insert(key.to_string()), "twice: {l}\n{text}");
        }
        assert_eq!(text.matches("# TYPE").count(), 2, "{text}");
    }

    #[test]
    fn seconds_are_written_without_trailing_zeros() {
        let s = |ms| Value::Millis(ms).to_string();
        assert_eq!(
            [s(0), s(5), s(10), s(1000), s(1500), s(10_250), s(1203)],
            ["0", "0.005", "0.01", "1", "1.5", "10.25", "1.203"]
        );
    }

    #[test]
    fn a_buffer_smaller_than_a_line_ends_the_exposition_instead_of_looping() {
        let mut buf = [0u8; 8];
        let mut e = Expo::part(&mut buf, Pos::default());
        sample_metrics(&mut e);
        assert_eq!(e.finish(), Part { len: 0, next: None });
    }

    #[test]
    fn a_line_longer_than_the_limit_is_left_out_and_counted() {
        let long = "x".repeat(LINE);
        let mut buf = [0u8; 4096];
        let mut e = Expo::part(&mut buf, Pos::default());
        e.sample("m", &[("peer", &long.as_str())], Value::Count(1));
        e.sample("m", &[("peer", &"ok")], Value::Count(2));
        assert_eq!(e.too_long(), 1);
        let p = e.finish();
        assert_eq!(&buf[..p.len], b"m{peer=\"ok\"} 2\n");
    }
}
