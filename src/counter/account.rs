//! Per-sender accounting from the counter sequence alone: what arrived, what is missing
//! (gaps), what came twice, what came late (filling a gap), and when the sender restarted.
//!
//! Invariant: `lost` is the number of counters between the lowest one seen and the highest one
//! seen that have not arrived (so a late arrival takes one back).
//!
//! Restarts: a `0` after at least two others, a counter more than `WINDOW` below the highest,
//! or a small counter long after a high one (`REORDER_SPAN`) is only a *possible* restart:
//! a late or duplicated old counter looks the same. The next counter decides: if it continues
//! from the candidate, the sender restarted there (the sequence starts over, the totals carry
//! on); otherwise the old sequence goes on and the candidate is accounted in it. A goodbye
//! (`Sequence::handle_bye`) makes the next counter a restart whatever it is.

/// How far below the highest counter a late or duplicate arrival is still recognised.
pub(crate) const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// How far below the highest a counter still arrives by reordering alone. Further below, and
/// in the lower half of the sequence so far, it may be the first of a restarted sender whose
/// `0` was lost; and a counter that continues from a possible restart does so within this.
pub(crate) const REORDER_SPAN: u64 = 8;

/// What one received counter meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first counter from this sender.
    First,
    /// The next one, as expected.
    InOrder,
    /// Ahead of the expected one: this many before it are missing (for now).
    Gap(u64),
    /// Seen before.
    Duplicate,
    /// Below the highest but not seen before: it fills a gap.
    Late,
    /// A `0` or a small counter after a high one: the sender may have started over, or it is
    /// a late or duplicated old counter; the next counter decides.
    MaybeRestart,
    /// The sender started over: this counter continues from a possible restart, or is the
    /// first after a goodbye.
    Restart,
}

/// The totals for one sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Counters received (duplicates included).
    pub received: u64,
    /// Counters missing between the lowest and the highest seen.
    pub lost: u64,
    /// Counters received more than once.
    pub duplicated: u64,
    /// Counters received after a higher one.
    pub(crate) reordered: u64,
    /// Times the sequence started over.
    pub(crate) restarts: u64,
}

/// Tracks one sender's counter sequence in a fixed window; no allocation.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Highest counter seen since the last (re)start; `None` before the first.
    highest: Option<u64>,
    /// Lowest counter seen since the last (re)start: counters below it are not expected.
    lowest: u64,
    /// Bit `n % WINDOW` says whether counter `n` arrived, for `n` in `(highest - WINDOW, highest]`.
    seen: [u64; WORDS],
    counts: Counts,
    /// A possible restart, accounted by the next counter.
    candidate: Option<u64>,
    /// The sender said goodbye: its next counter starts a new sequence.
    said_bye: bool,
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence {
            highest: None,
            lowest: 0,
            seen: [0; WORDS],
            counts: Counts::default(),
            candidate: None,
            said_bye: false,
        }
    }
}

impl Sequence {
    /// The totals so far.
    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    /// The sender said goodbye (it stopped): its next counter starts a new sequence, counted
    /// as a restart, whatever its value.
    pub(crate) fn handle_bye(&mut self) {
        if let Some(p) = self.candidate.take() {
            self.settle(p);
        }
        self.said_bye = self.highest.is_some();
    }

    /// Accounts one received counter and says what it meant.
    pub fn record(&mut self, n: u64) -> Verdict {
        self.counts.received += 1;
        let Some(high) = self.highest else {
            self.start(n);
            return Verdict::First;
        };
        if std::mem::take(&mut self.said_bye) {
            self.counts.restarts += 1;
            self.start(n);
            return Verdict::Restart;
        }
        if let Some(p) = self.candidate {
            if n == p {
                self.counts.duplicated += 1;
                return Verdict::Duplicate;
            }
            self.candidate = None;
            if n > p && n < high && n - p <= REORDER_SPAN && n - p <= high - n {
                // It continues from the candidate: the sender started over there.
                self.counts.restarts += 1;
                self.start(p);
                self.advance(n);
                return Verdict::Restart;
            }
            // The old sequence goes on: the candidate was a late or duplicated counter.
            self.settle(p);
        }
        if n > high {
            return self.advance(n);
        }
        let behind = high - n;
        if behind >= WINDOW || (n == 0 && behind >= 2) || (behind > REORDER_SPAN && n <= behind) {
            self.candidate = Some(n);
            return Verdict::MaybeRestart;
        }
        self.settle(n)
    }

    /// Accounts `n`, above the highest: in order, or a gap.
    fn advance(&mut self, n: u64) -> Verdict {
        let high = self.highest.unwrap_or(n);
        if n == high.wrapping_add(1) {
            // The usual case, without the general loop: the next one, in order.
            self.set(n, true);
            self.highest = Some(n);
            return Verdict::InOrder;
        }
        let missing = n.saturating_sub(high).saturating_sub(1);
        // Clear the bits of the counters we now expect, then mark this one.
        let clear = n.saturating_sub(high).min(WINDOW);
        // n - clear cannot underflow: clear <= n.
        for m in (n - clear + 1)..=n {
            self.set(m, false);
        }
        self.set(n, true);
        self.highest = Some(n);
        // Totals carry over restarts: saturate rather than overflow on forged counters.
        self.counts.lost = self.counts.lost.saturating_add(missing);
        if missing == 0 {
            Verdict::InOrder
        } else {
            Verdict::Gap(missing)
        }
    }

    /// Accounts `n`, at most the highest, in the current sequence: a duplicate or a late one.
    fn settle(&mut self, n: u64) -> Verdict {
        let high = self.highest.unwrap_or(n);
        if high - n >= WINDOW {
            // Too old to tell whether it came before: it came after a higher one, that is all.
            self.counts.reordered += 1;
            return Verdict::Late;
        }
        if self.get(n) {
            self.counts.duplicated += 1;
            return Verdict::Duplicate;
        }
        self.set(n, true);
        self.counts.reordered += 1;
        if n < self.lowest {
            // Older than the first one we saw: the ones in between are now expected too.
            self.counts.lost = self.counts.lost.saturating_add(self.lowest - n - 1);
            self.lowest = n;
        } else {
            // It was counted as lost when the gap opened.
            self.counts.lost = self.counts.lost.saturating_sub(1);
        }
        Verdict::Late
    }

    fn start(&mut self, n: u64) {
        self.seen = [0; WORDS];
        self.set(n, true);
        self.highest = Some(n);
        self.lowest = n;
    }

    fn get(&self, n: u64) -> bool {
        let bit = n % WINDOW;
        self.seen[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, n: u64, on: bool) {
        let bit = n % WINDOW;
        let word = &mut self.seen[(bit / 64) as usize];
        if on {
            *word |= 1 << (bit % 64);
        } else {
            *word &= !(1 << (bit % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seq: &[u64]) -> (Sequence, Vec<Verdict>) {
        let mut s = Sequence::default();
        let v = seq.iter().map(|&n| s.record(n)).collect();
        (s, v)
    }

    #[test]
    fn in_order_from_any_start() {
        let (s, v) = feed(&[5, 6, 7, 8]);
        assert_eq!(v[0], Verdict::First);
        assert!(v[1..].iter().all(|v| *v == Verdict::InOrder));
        assert_eq!(
            s.counts(),
            Counts {
                received: 4,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn gaps_duplicates_and_late_arrivals() {
        let (s, v) = feed(&[0, 1, 4, 4, 2, 2, 5]);
        assert_eq!(
            v,
            [
                Verdict::First,
                Verdict::InOrder,
                Verdict::Gap(2),
                Verdict::Duplicate,
                Verdict::Late,
                Verdict::Duplicate,
                Verdict::InOrder
            ]
        );
        let c = s.counts();
        assert_eq!(
            (c.received, c.lost, c.duplicated, c.reordered),
            (7, 1, 2, 1)
        );
    }

    #[test]
    fn an_early_counter_after_a_later_first_one() {
        let (s, v) = feed(&[3, 1, 4]);
        assert_eq!(v, [Verdict::First, Verdict::Late, Verdict::InOrder]);
        let c = s.counts();
        assert_eq!((c.lost, c.reordered), (1, 1));
    }

    #[test]
    fn restart_is_not_a_duplicate() {
        let (s, v) = feed(&[0, 1, 2, 3, 0, 1, 2]);
        assert_eq!(v[4], Verdict::MaybeRestart);
        assert_eq!(v[5], Verdict::Restart, "1 continues from the 0");
        assert_eq!(v[6], Verdict::InOrder);
        let c = s.counts();
        assert_eq!((c.received, c.lost, c.duplicated, c.restarts), (7, 0, 0, 1));
    }

    #[test]
    fn a_late_or_duplicated_zero_after_a_high_counter_is_not_a_restart() {
        let mut seq: Vec<u64> = (0..=100).collect();
        seq.extend([0, 101]);
        let (s, v) = feed(&seq);
        assert_eq!(v[101..], [Verdict::MaybeRestart, Verdict::InOrder]);
        let c = s.counts();
        assert_eq!((c.lost, c.duplicated, c.restarts), (0, 1, 0), "{c:?}");
        // A late one: the first 0 was lost; it fills the gap.
        let mut seq: Vec<u64> = (1..=100).collect();
        seq.extend([0, 101, 102]);
        let (s, v) = feed(&seq);
        assert_eq!(v[101..], [Verdict::InOrder, Verdict::InOrder]);
        let c = s.counts();
        assert_eq!(
            (c.lost, c.duplicated, c.reordered, c.restarts),
            (0, 0, 1, 0)
        );
        // Twice the same 0, then the old sequence again.
        let mut seq: Vec<u64> = (0..=100).collect();
        seq.extend([0, 0, 101]);
        let (s, _) = feed(&seq);
        let c = s.counts();
        assert_eq!((c.lost, c.duplicated, c.restarts), (0, 2, 0), "{c:?}");
    }

    #[test]
    fn a_restart_whose_zero_was_lost_is_a_restart() {
        let mut seq: Vec<u64> = (0..=100).collect();
        seq.extend(1..=50);
        let (s, v) = feed(&seq);
        assert_eq!(v[101..103], [Verdict::MaybeRestart, Verdict::Restart]);
        assert!(v[103..].iter().all(|v| *v == Verdict::InOrder), "{v:?}");
        let c = s.counts();
        assert_eq!(
            (c.received, c.lost, c.duplicated, c.reordered, c.restarts),
            (151, 0, 0, 0, 1),
            "{c:?}"
        );
    }

    #[test]
    fn after_a_goodbye_the_next_counter_is_a_restart() {
        // A short-lived sender whose first counter we missed, stopped and started again.
        let mut s = Sequence::default();
        assert_eq!(s.record(1), Verdict::First);
        s.handle_bye();
        assert_eq!(s.record(0), Verdict::Restart);
        assert_eq!(s.record(1), Verdict::InOrder);
        assert_eq!(s.record(2), Verdict::InOrder);
        let c = s.counts();
        assert_eq!(
            (c.lost, c.duplicated, c.reordered, c.restarts),
            (0, 0, 0, 1)
        );
        // A goodbye before anything arrived changes nothing.
        let mut s = Sequence::default();
        s.handle_bye();
        assert_eq!(s.record(0), Verdict::First);
    }

    #[test]
    fn far_behind_is_a_restart_and_big_jumps_clear_the_window() {
        let (s, v) = feed(&[5000, 10, 11, 5000]);
        assert_eq!(v[1], Verdict::MaybeRestart);
        assert_eq!(v[2], Verdict::Restart);
        assert_eq!(v[3], Verdict::Gap(4988));
        assert_eq!(s.counts().lost, 4988);
        // After a jump larger than the window, old bits must not read as "seen".
        let (s, v) = feed(&[1, 1 + WINDOW + 5, 1 + WINDOW + 4]);
        assert_eq!(v[2], Verdict::Late);
        assert_eq!(s.counts().lost, WINDOW + 3);
    }

    #[test]
    fn extreme_counters_do_not_overflow() {
        let (s, _) = feed(&[0, u64::MAX, 0, 1, u64::MAX - 1, 0, 1, u64::MAX]);
        assert_eq!(s.counts().lost, u64::MAX);
        assert_eq!(s.counts().restarts, 2);
    }

    #[test]
    fn lost_matches_a_brute_force_count() {
        // A deterministic shuffle with drops and duplicates over 5000 counters.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rng = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut sent: Vec<u64> = Vec::new();
        // Start at 1: a `0` after a higher counter means a restart by design.
        for n in 1..5000u64 {
            match rng() % 10 {
                0 => {}                   // dropped
                1 => sent.extend([n, n]), // duplicated
                _ => sent.push(n),
            }
        }
        // Swap a few neighbours (reordering by at most a few places).
        for i in 1..sent.len() {
            if rng() % 7 == 0 {
                sent.swap(i - 1, i);
            }
        }
        let mut s = Sequence::default();
        for &n in &sent {
            let v = s.record(n);
            assert!(
                !matches!(v, Verdict::Restart | Verdict::MaybeRestart),
                "{n}"
            );
        }
        let distinct: std::collections::BTreeSet<u64> = sent.iter().copied().collect();
        let low = *distinct.iter().next().unwrap();
        let high = *distinct.iter().next_back().unwrap();
        let expected_lost = (low..=high).filter(|n| !distinct.contains(n)).count() as u64;
        let c = s.counts();
        assert_eq!(c.received, sent.len() as u64);
        assert_eq!(c.duplicated, (sent.len() - distinct.len()) as u64);
        assert_eq!(c.lost, expected_lost);
    }
}
