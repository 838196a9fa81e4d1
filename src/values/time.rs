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

/// How far in the future another host's clock may be: an incarnation (a start time) beyond the
/// wall clock plus this is forged.
pub const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// The largest Lab 1 incarnation an honest process can have now: the wall clock, in
/// milliseconds since the UNIX epoch, plus [`CLOCK_SKEW`]. Read at the edge by the adapters and
/// handed to the cores (`limit_incarnations`), which never read a clock.
pub fn incarnation_limit() -> crate::lab1::wire::Inc {
    crate::lab1::wire::Inc(wall_ms() + CLOCK_SKEW.as_millis() as u64)
}

/// The wall clock in milliseconds since the UNIX epoch (0 before it), read at the edge: the
/// incarnations compare it across hosts.
pub fn wall_ms() -> u64 {
    wall_us() / 1000
}

/// The wall clock in microseconds since the UNIX epoch (0 before it): the key's replay window.
pub fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}
