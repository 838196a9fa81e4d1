//! A per-source rate limit for the lines about datagrams that are not taken (garbage, forged
//! or misaddressed messages): a flood from one address must not drown the protocol's own
//! lines. Each source may print a burst of [`BURST`] lines, then one every
//! [`EVERY_MS`] ms; what is not shown is counted and said with the next line shown for that
//! source (and in total at exit). Fixed size: [`SOURCES`] addresses are tracked, further
//! ones share one bucket.

use std::net::IpAddr;
use std::time::Instant;

/// Lines a source may print at once.
pub(crate) const BURST: u32 = 10;
/// Then one line per this many milliseconds.
pub(crate) const EVERY_MS: u64 = 500;
/// Sources tracked one by one.
pub(crate) const SOURCES: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    ip: Option<IpAddr>,
    tokens: u32,
    at: Instant,
    /// Lines not shown since the last one shown.
    hidden: u64,
}

/// The limiter: [`SOURCES`] buckets and one for everyone else.
#[derive(Debug)]
pub(crate) struct Limiter {
    buckets: [Bucket; SOURCES + 1],
    /// Lines not shown in all.
    pub(crate) hidden_total: u64,
}

impl Default for Limiter {
    fn default() -> Self {
        let b = Bucket {
            ip: None,
            tokens: BURST,
            at: Instant::now(),
            hidden: 0,
        };
        Limiter {
            buckets: [b; SOURCES + 1],
            hidden_total: 0,
        }
    }
}

impl Limiter {
    /// Whether a line about a datagram from `ip` may be shown at `now`: `Some(n)` with the
    /// number of lines from that source not shown before it, or `None` (counted).
    pub(crate) fn check(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        let i = self.bucket(ip, now);
        let b = &mut self.buckets[i];
        let elapsed = now.saturating_duration_since(b.at).as_millis() as u64;
        let earned = elapsed / EVERY_MS;
        if earned > 0 {
            b.tokens = (b.tokens as u64 + earned).min(BURST as u64) as u32;
            b.at = now;
        }
        if b.tokens == 0 {
            b.hidden += 1;
            self.hidden_total += 1;
            return None;
        }
        b.tokens -= 1;
        Some(std::mem::take(&mut b.hidden))
    }

    /// The bucket of `ip`: its own, a free one, one idle for a minute with nothing to say, or
    /// the shared one.
    fn bucket(&mut self, ip: IpAddr, now: Instant) -> usize {
        if let Some(i) = self.buckets[..SOURCES]
            .iter()
            .position(|b| b.ip == Some(ip))
        {
            return i;
        }
        let free = self.buckets[..SOURCES].iter().position(|b| {
            b.ip.is_none() || (b.hidden == 0 && now.saturating_duration_since(b.at).as_secs() >= 60)
        });
        match free {
            Some(i) => {
                self.buckets[i] = Bucket {
                    ip: Some(ip),
                    tokens: BURST,
                    at: now,
                    hidden: 0,
                };
                i
            }
            None => SOURCES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_one_line_per_period_and_the_count_of_the_rest() {
        let mut l = Limiter::default();
        let t = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..BURST {
            assert_eq!(l.check(a, t), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(l.check(a, t), None);
        }
        assert_eq!(l.check(b, t), Some(0), "another source has its own budget");
        let later = t + Duration::from_millis(EVERY_MS);
        assert_eq!(
            l.check(a, later),
            Some(1000),
            "the next line says what was not shown"
        );
        assert_eq!(l.check(a, later), None);
        assert_eq!(l.hidden_total, 1001);
    }

    #[test]
    fn many_sources_share_one_bucket_beyond_the_table() {
        let mut l = Limiter::default();
        let t = Instant::now();
        let mut shown = 0;
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            shown += u32::from(l.check(ip, t).is_some());
        }
        assert_eq!(shown as usize, SOURCES + BURST as usize);
    }
}
