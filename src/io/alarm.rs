//! The loop's timer as a timerfd in the poll.
//!
//! Waiting with a timeout makes the kernel arm and cancel a timer on every `epoll_wait` that
//! sleeps: about 5 % of a round trip here (`ROUND_TRIP_CPU` in `benches/latency.rs`). A timerfd
//! stays armed across wake-ups and is set again only when the earliest deadline moves earlier;
//! the loop then waits with no timeout. A deadline that moved later is not chased: the timer
//! fires early, the turn finds nothing due and arms it for what is due next.
//!
//! The timer is set to an absolute time of CLOCK_MONOTONIC (the clock `Instant` reads on
//! Linux), so setting it needs no reading of the clock: the loop reads the clock once a turn.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// The timerfd's token.
pub(crate) const ALARM: Token = Token(usize::MAX);

#[derive(Debug)]
pub(crate) struct Alarm {
    fd: OwnedFd,
    /// When it fires (as set; `None`: disarmed or fired).
    armed: Option<Instant>,
    /// An `Instant` and CLOCK_MONOTONIC read just after it: the kernel's time of an `Instant`
    /// is `since + (instant - origin)`, never earlier than the `Instant` itself.
    origin: Instant,
    since: Duration,
}

impl Alarm {
    /// A monotonic, non-blocking timerfd registered for readable readiness.
    pub(crate) fn open(registry: &Registry) -> io::Result<Alarm> {
        #[allow(unsafe_code)]
        // SAFETY: plain system call; the descriptor it returns is owned from here on.
        let fd = unsafe {
            let fd = libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), ALARM, Interest::READABLE)?;
        let origin = Instant::now();
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: writes one `timespec`, which outlives the call.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let since = Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        );
        Ok(Alarm {
            fd,
            armed: None,
            origin,
            since,
        })
    }

    /// Makes sure the timer fires at `at` or earlier, and not before `at` (a time already
    /// past fires at once).
    pub(crate) fn set(&mut self, at: Instant) -> io::Result<()> {
        if self.covers(at) {
            return Ok(());
        }
        // Never zero (that would disarm it): `since` is the time since boot.
        let when = self
            .since
            .saturating_add(at.saturating_duration_since(self.origin))
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: when.as_secs().try_into().unwrap_or(i32::MAX.into()),
                tv_nsec: libc::c_long::from(when.subsec_nanos()), // 64-bit targets only
            },
        };
        #[allow(unsafe_code)]
        // SAFETY: `spec` outlives the call; the old value is not asked for.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                core::ptr::null_mut(),
            )
        };
        if r < 0 {
            self.armed = None;
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(at);
        Ok(())
    }

    /// Whether the timer is already set to fire by `at` (asked on every turn: inlined).
    #[inline]
    pub(crate) fn covers(&self, at: Instant) -> bool {
        self.armed.is_some_and(|a| a <= at)
    }

    /// The timer's readiness came: its count is read (edge-triggered) and it is disarmed.
    pub(crate) fn fired(&mut self) {
        let mut ticks = [0u8; 8];
        #[allow(unsafe_code)]
        // SAFETY: reads at most 8 bytes into an 8-byte buffer. Nothing to read (it was set
        // again since) is EAGAIN, which is fine.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), ticks.as_mut_ptr().cast(), ticks.len()) };
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    #[test]
    fn fires_once_at_the_earliest_deadline_set() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(4);
        let mut alarm = Alarm::open(poll.registry()).unwrap();
        let t0 = Instant::now();
        alarm.set(t0 + Duration::from_millis(200)).unwrap();
        // Earlier wins; later is not chased.
        alarm.set(t0 + Duration::from_millis(30)).unwrap();
        alarm.set(t0 + Duration::from_millis(300)).unwrap();
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        let woke = Instant::now();
        assert!(events.iter().any(|e| e.token() == ALARM));
        assert!(woke >= t0 + Duration::from_millis(30), "fired early");
        assert!(
            woke < t0 + Duration::from_millis(200),
            "the earlier deadline was not kept"
        );
        alarm.fired();
        // Disarmed once fired: nothing more comes.
        poll.poll(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        assert!(events.is_empty());
        // A deadline already passed fires at once.
        let now = Instant::now();
        alarm.set(now - Duration::from_millis(5)).unwrap();
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == ALARM));
    }
}
