//! What one process knows about one configured peer, apart from its socket: where it is
//! (name resolution and its retry schedule), whether it is reachable (the up/down state that
//! turns a stream of "connection refused" into two lines), and how many datagrams went to it.
//! Plain data and decisions; the mesh does the I/O and passes `now`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::values::addr::AddrSpec;
use crate::values::limits::{RERESOLVE_EVERY, RESOLVE_BACKOFF_MAX, RESOLVE_BACKOFF_MIN, UP_AFTER};

/// Whether a peer is reachable, as far as UDP can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Nothing known yet.
    Unknown,
    /// A datagram came from it, or a send went out and no error came back before the next.
    Up,
    /// A send or receive on its socket failed (e.g. ICMP port unreachable).
    Down,
}

/// The result of a resolution attempt, as far as printing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Same address as before: nothing to say or do.
    Same,
    /// The first address for this peer: connect a socket.
    First,
    /// A different address than before (a restarted container): reconnect.
    Moved,
}

/// One configured peer.
#[derive(Debug)]
pub struct PeerState {
    /// The argument as written; its `text` names the peer in every line.
    pub(crate) spec: AddrSpec,
    /// Where it currently resolves to.
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) link: Link,
    /// The first send of the current run of sends without an error (cleared by any error): a
    /// peer that is down comes back up when [`UP_AFTER`] passes so, long enough for an ICMP
    /// error to come back.
    clean_since: Option<Instant>,
    /// When to resolve the name again.
    pub(crate) next_resolve: Instant,
    backoff: Duration,
    /// It said goodbye: only hearing from it again brings it back up (a send that meets no
    /// error proves nothing while its container restarts).
    said_bye: bool,
    /// The "does not resolve yet" line is printed once per failure streak.
    unresolved_said: bool,
    /// Its address resolved but a socket could not be connected to it (e.g. an IPv6 peer of
    /// an IPv4 process): said once, retried with backoff until a connect succeeds.
    unreachable: bool,
    /// The `--discover` group it was found in (`None`: named on the command line). A
    /// discovered peer is never looked up by itself: its group's lookups place it.
    pub(crate) group: Option<usize>,
    /// Lookups of its group in a row that did not give its address.
    pub(crate) missing: u8,
    /// It left its group (gone from DNS): no socket, nothing sent; its row stays (until a
    /// full table needs its slot for a new peer).
    pub(crate) left: bool,
    /// When it left.
    pub(crate) left_at: Option<Instant>,
    /// "Sends from another port" was said (once).
    pub(crate) other_port_said: bool,
    /// It was heard from its own address: it sends from its port (our peers do, the course's
    /// Go program never), so whoever sends from another port of its IP is someone else.
    /// Cleared when it says goodbye or its address moves (the next one may be the Go program).
    from_own_port: bool,
    /// Datagrams sent to it.
    pub(crate) sent: u64,
    /// Send and receive errors on its socket.
    pub(crate) errors: u64,
    /// One of them was "connection refused" (nothing listens there; not a firewall's
    /// "permission denied", nor an unreachable host: it may be alive), since
    /// [`Mesh::take_refused`](super::Mesh::take_refused).
    pub(crate) refused: bool,
}

impl PeerState {
    /// A peer to be resolved at `now`.
    pub(crate) fn new(spec: AddrSpec, now: Instant) -> Self {
        PeerState {
            spec,
            addr: None,
            link: Link::Unknown,
            clean_since: None,
            said_bye: false,
            next_resolve: now,
            backoff: RESOLVE_BACKOFF_MIN,
            unresolved_said: false,
            unreachable: false,
            group: None,
            missing: 0,
            left: false,
            left_at: None,
            other_port_said: false,
            from_own_port: false,
            sent: 0,
            errors: 0,
            refused: false,
        }
    }

    /// A peer found at `addr` by a lookup of group `group`, named `name` (`peer#3`).
    pub(crate) fn discovered(name: AddrSpec, addr: SocketAddr, group: usize, now: Instant) -> Self {
        let mut p = PeerState::new(name, now);
        p.addr = Some(addr);
        p.group = Some(group);
        p
    }

    /// The peer's name as the user wrote it.
    pub(crate) fn name(&self) -> &str {
        &self.spec.text
    }

    /// Call with a successful resolution.
    pub(crate) fn handle_resolved(&mut self, now: Instant, addr: SocketAddr) -> Resolved {
        self.unresolved_said = false;
        let outcome = match self.addr {
            None => Resolved::First,
            Some(old) if old != addr => Resolved::Moved,
            Some(_) => Resolved::Same,
        };
        self.addr = Some(addr);
        if outcome == Resolved::Moved {
            self.from_own_port = false;
        }
        if self.unreachable {
            // Keep the backoff: `handle_unreachable` or `handle_connected` comes next.
        } else if self.link == Link::Down {
            // Still down: keep looking soon, for a new address.
            self.schedule_retry(now);
        } else {
            self.backoff = RESOLVE_BACKOFF_MIN;
            self.next_resolve = now + RERESOLVE_EVERY;
        }
        outcome
    }

    /// Whether a stranger on its IP may be taken for it (the course's Go program sends from a
    /// random port): not once it said goodbye (it is stopping, or stopped: its IP may be
    /// someone else's next), nor while its name no longer resolves (gone from DNS), nor when
    /// it was heard from its own port (another sender on its host is not it: its counters
    /// would read as duplicates, losses or restarts).
    pub(crate) fn may_send_from_another_port(&self) -> bool {
        !self.left && !self.said_bye && !self.unresolved_said && !self.from_own_port
    }

    /// Call with a failed resolution; true when the failure is worth a line (the first of a
    /// streak). The old address, if any, is kept.
    pub(crate) fn handle_unresolved(&mut self, now: Instant) -> bool {
        self.schedule_retry(now);
        !std::mem::replace(&mut self.unresolved_said, true)
    }

    /// Call when no socket could be connected to the resolved address; true when it is worth
    /// a line (the first of a streak). Retried with backoff.
    pub(crate) fn handle_unreachable(&mut self, now: Instant) -> bool {
        self.schedule_retry(now);
        !std::mem::replace(&mut self.unreachable, true)
    }

    /// Call when a socket was connected to the resolved address.
    pub(crate) fn handle_connected(&mut self, now: Instant) {
        if std::mem::take(&mut self.unreachable) {
            self.backoff = RESOLVE_BACKOFF_MIN;
            self.next_resolve = now + RERESOLVE_EVERY;
        }
    }

    /// Call after a send went out.
    pub(crate) fn handle_sent(&mut self, now: Instant) {
        self.sent += 1;
        self.clean_since.get_or_insert(now);
    }

    /// Call with a send or receive error on the peer's socket; true when it just went down.
    /// `refused`: the error was "connection refused".
    pub(crate) fn handle_error(&mut self, now: Instant, refused: bool) -> bool {
        self.errors += 1;
        self.refused |= refused;
        self.clean_since = None;
        if self.link == Link::Down {
            return false;
        }
        self.link = Link::Down;
        // Its container may be back soon under a new address.
        self.backoff = RESOLVE_BACKOFF_MIN;
        self.schedule_retry(now);
        true
    }

    /// Call when the peer said goodbye; true when it just went down.
    pub(crate) fn handle_bye(&mut self, now: Instant) -> bool {
        self.said_bye = true;
        self.from_own_port = false;
        let was_down = self.link == Link::Down;
        self.link = Link::Down;
        self.backoff = RESOLVE_BACKOFF_MIN;
        self.schedule_retry(now);
        !was_down
    }

    /// Call when a datagram came from the peer; true when it just came back up.
    #[inline(always)] // one caller, for every datagram
    pub(crate) fn handle_heard(&mut self, from: SocketAddr) -> bool {
        self.said_bye = false;
        // Compared only until true: this runs for every datagram.
        if !self.from_own_port {
            self.from_own_port = crate::io::net::is_addr(self.addr, &from);
        }
        self.mark_up()
    }

    /// Call now and then (the driver does, once a second); true when the peer just came back
    /// up: sends to it have met no error for [`UP_AFTER`].
    pub(crate) fn poll_up(&mut self, now: Instant) -> bool {
        let clean = self
            .clean_since
            .is_some_and(|t| now.saturating_duration_since(t) >= UP_AFTER);
        clean && !self.said_bye && self.mark_up()
    }

    fn mark_up(&mut self) -> bool {
        let was_down = self.link == Link::Down;
        if was_down {
            self.backoff = RESOLVE_BACKOFF_MIN;
        }
        self.link = Link::Up;
        was_down
    }

    fn schedule_retry(&mut self, now: Instant) {
        self.next_resolve = now + self.backoff;
        self.backoff = (self.backoff * 2).min(RESOLVE_BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::addr::parse_spec;

    fn peer(now: Instant) -> PeerState {
        PeerState::new(parse_spec("p2:10003").unwrap(), now)
    }

    const ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(127, 0, 0, 3),
        10003,
    ));

    #[test]
    fn another_port_of_its_ip_is_it_only_until_it_is_heard_from_its_own() {
        let t = Instant::now();
        let mut p = peer(t);
        assert_eq!(p.handle_resolved(t, ADDR), Resolved::First);
        assert!(
            p.may_send_from_another_port(),
            "the Go program's way: taken as its own"
        );
        p.handle_heard(ADDR);
        assert!(
            !p.may_send_from_another_port(),
            "it sends from its port: others are not it"
        );
        p.handle_bye(t);
        p.handle_heard(ADDR);
        assert!(!p.may_send_from_another_port());
        let moved = SocketAddr::from(([127, 0, 0, 4], 10003));
        assert_eq!(p.handle_resolved(t, moved), Resolved::Moved);
        assert!(
            p.may_send_from_another_port(),
            "a new address, maybe the Go program"
        );
        p.handle_heard(moved);
        assert!(!p.may_send_from_another_port());
    }

    #[test]
    fn down_once_then_up_once() {
        let t = Instant::now();
        let mut p = peer(t);
        p.handle_sent(t);
        assert!(p.handle_error(t, true), "first error reports down");
        let later = t + UP_AFTER * 2;
        for _ in 0..5 {
            // Refused sends alternate with sends that go out (the error is consumed).
            assert!(!p.poll_up(later));
            assert!(!p.handle_error(t, true));
            p.handle_sent(t);
            assert!(!p.handle_error(t, true), "still down: no second line");
        }
        p.handle_sent(t);
        assert!(!p.poll_up(t), "too soon: an ICMP error may be on its way");
        assert!(p.poll_up(t + UP_AFTER), "a clean while brings it up");
        assert!(!p.poll_up(later), "and says so once");
        assert_eq!(p.errors, 11);
    }

    #[test]
    fn hearing_from_a_down_peer_brings_it_up() {
        let t = Instant::now();
        let mut p = peer(t);
        assert!(!p.handle_heard(ADDR), "unknown to up is not news");
        p.handle_error(t, true);
        assert!(p.handle_heard(ADDR));
    }

    #[test]
    fn after_goodbye_only_hearing_from_it_brings_it_up() {
        let t = Instant::now();
        let mut p = peer(t);
        p.handle_heard(ADDR);
        assert!(p.handle_bye(t));
        assert!(!p.handle_bye(t));
        p.handle_sent(t);
        assert!(
            !p.poll_up(t + UP_AFTER),
            "a send without error proves nothing after a goodbye"
        );
        assert!(p.handle_heard(ADDR));
        assert_eq!(p.link, Link::Up);
    }

    #[test]
    fn an_unreachable_address_is_said_once_and_backs_off() {
        let t = Instant::now();
        let mut p = peer(t);
        let a: SocketAddr = "[::1]:10003".parse().unwrap();
        let mut said = 0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            p.handle_resolved(t, a);
            said += usize::from(p.handle_unreachable(t));
            waits.push(p.next_resolve - t);
        }
        assert_eq!(said, 1);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), RESOLVE_BACKOFF_MAX);
        p.handle_resolved(t, a);
        p.handle_connected(t);
        assert_eq!(p.next_resolve - t, RERESOLVE_EVERY);
        assert!(p.handle_unreachable(t), "a new streak is said again");
    }

    #[test]
    fn resolution_backs_off_and_reresolves() {
        let t = Instant::now();
        let mut p = peer(t);
        assert!(p.handle_unresolved(t));
        assert!(!p.handle_unresolved(t), "said once per streak");
        let mut waits = Vec::new();
        for _ in 0..8 {
            p.handle_unresolved(t);
            waits.push(p.next_resolve - t);
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), RESOLVE_BACKOFF_MAX);
        let a: SocketAddr = "10.0.0.2:10003".parse().unwrap();
        let b: SocketAddr = "10.0.0.3:10003".parse().unwrap();
        assert_eq!(p.handle_resolved(t, a), Resolved::First);
        assert_eq!(p.next_resolve - t, RERESOLVE_EVERY);
        assert_eq!(p.handle_resolved(t, a), Resolved::Same);
        assert_eq!(p.handle_resolved(t, b), Resolved::Moved);
        // Going down asks for a quick re-resolution.
        p.handle_error(t, true);
        assert_eq!(p.next_resolve - t, RESOLVE_BACKOFF_MIN);
    }
}
