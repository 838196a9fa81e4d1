//! Time as data for the sans-IO cores: [`Millis`] since an arbitrary start. The cores never
//! read a clock; the driver converts `Instant`s at the edge and simulations use virtual time.

use core::fmt;
use core::ops::{Add, Sub};
use std::time::{Duration, Instant};

/// Milliseconds since the owner's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The time elapsed from `start` to `now`.
    pub(crate) fn since(start: Instant, now: Instant) -> Millis {
        Millis(now.saturating_duration_since(start).as_millis() as u64)
    }

    /// The `Instant` this stands for, given the same `start`.
    pub(crate) fn to_instant(self, start: Instant) -> Instant {
        start + Duration::from_millis(self.0)
    }

    /// A duration as milliseconds (rounded down).
    pub(crate) fn from_duration(d: Duration) -> Millis {
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

/// The wall clock in milliseconds since the UNIX epoch (0 before it), read at the edge: the
/// incarnations compare it across hosts.
pub(crate) fn wall_ms() -> u64 {
    wall_us() / 1000
}

/// The wall clock in microseconds since the UNIX epoch (0 before it): the key's replay window.
pub fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// Shows a duration the way `--interval` takes it (`250ms`, `1s`, `1.5s`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DisplayDuration(pub(crate) Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // u64, not the u128 of as_millis(): an interval is at most 24 h, and formatting a
        // u128 pulls in 1 KiB of code that nothing else needs.
        let ms = self.0.as_millis() as u64;
        // One form for every line: tenths only when there are some (5s, 5.5s; never 5.0s).
        let tenths = ms % 1000 / 100;
        if ms < 1000 {
            write!(f, "{ms}ms")
        } else if tenths == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{}.{tenths}s", ms / 1000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_as_options_take_them() {
        assert_eq!(
            DisplayDuration(Duration::from_millis(250)).to_string(),
            "250ms"
        );
        assert_eq!(
            DisplayDuration(Duration::from_millis(1500)).to_string(),
            "1.5s"
        );
        // Never `5.0s` beside `5s`: the same second reads the same in every line.
        for ms in [5000, 5040, 5099] {
            assert_eq!(DisplayDuration(Duration::from_millis(ms)).to_string(), "5s");
        }
        assert_eq!(
            DisplayDuration(Duration::from_millis(5100)).to_string(),
            "5.1s"
        );
    }
}
