//! `--metrics`: what a process counts, for Prometheus. The exposition format written from
//! fixed buffers ([`expo`]), the HTTP requests that ask for it ([`http`]) and the waits'
//! histogram ([`Buckets`]); all sans-IO; the listener and its connections live in the
//! driver's loop (`io::http`), the metrics themselves with whoever counts them.

pub mod expo;
pub mod http;

use crate::values::time::Millis;

/// Upper bounds of the waits' histogram, in milliseconds: from a request on one host (a few
/// ms) to a long queue (seconds).
pub const WAIT_BOUNDS_MS: [u64; 12] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Observations counted by [`WAIT_BOUNDS_MS`] (each in the first bucket it fits; the last
/// slot holds those above every bound), with their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets {
    counts: [u64; WAIT_BOUNDS_MS.len() + 1],
    sum: Millis,
}

impl Buckets {
    /// Counts one observation.
    pub fn observe(&mut self, v: Millis) {
        let k = WAIT_BOUNDS_MS
            .iter()
            .position(|&b| v.0 <= b)
            .unwrap_or(WAIT_BOUNDS_MS.len());
        self.counts[k] += 1;
        self.sum = self.sum + v;
    }

    /// Each bound with the observations in its bucket alone (not cumulative).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        WAIT_BOUNDS_MS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Their sum.
    pub fn sum(&self) -> Millis {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_first_bucket_they_fit() {
        let mut b = Buckets::default();
        for ms in [0, 1, 2, 10_000, 10_001] {
            b.observe(Millis(ms));
        }
        let v: Vec<_> = b.buckets().collect();
        assert_eq!(v[0], (1, 2));
        assert_eq!(v[1], (5, 1));
        assert_eq!(v[11], (10_000, 1));
        assert_eq!(b.count(), 5);
        assert_eq!(b.sum(), Millis(20_004));
    }
}
