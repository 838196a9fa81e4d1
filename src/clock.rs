//! Time as data for the sans-IO cores: [`Millis`] since an arbitrary start. The cores never
//! read a clock; the driver converts `Instant`s at the edge and simulations use virtual time.

use core::ops::{Add, Sub};
use std::time::{Duration, Instant};

/// Milliseconds since the owner's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The time elapsed from `start` to `now`.
    pub fn since(start: Instant, now: Instant) -> Millis {
        Millis(now.saturating_duration_since(start).as_millis() as u64)
    }

    /// The `Instant` this stands for, given the same `start`.
    pub fn to_instant(self, start: Instant) -> Instant {
        start + Duration::from_millis(self.0)
    }

    /// A duration as milliseconds (rounded down).
    pub fn from_duration(d: Duration) -> Millis {
        Millis(d.as_millis() as u64)
    }
}

impl Add for Millis {
    type Output = Millis;
    fn add(self, rhs: Millis) -> Millis {
        Millis(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Millis {
    type Output = Millis;
    fn sub(self, rhs: Millis) -> Millis {
        Millis(self.0.saturating_sub(rhs.0))
    }
}
