//! Whether the processes were given the same address list (sans-IO).
//!
//! Lab 1 needs every process to get the same list, in id order: process `i` is the `i`-th
//! address. The counter exercise's lists are rotated (each process's own address first), and
//! a student who reuses them gets processes that take each other's REQUESTs for messages
//! "from another process's address" and wait for ever. So at start each process tells every
//! other one its id and a digest of its list, `ROSTER <id> <inc> <digest>`, every 2 s until
//! that process has answered with the same digest from its own address; a process that
//! receives a digest other than its own, or from an address that is not the claimed id's,
//! says so plainly, and again every 30 s while it lasts.
//!
//! The shared resource, when it was not given the list, tells the processes of an id that two
//! addresses claim: `CLAIMED <id> <inc> <address>` (the other claimant, its incarnation),
//! to each of them, at most every 30 s while it lasts.
//!
//! ROSTER and CLAIMED change nothing in the protocol (no tick, no grant, no state of the core), so a
//! forged one can at worst print a line, at most one per claimed id every 30 s. It is sealed
//! and checked like every Lab 1 message when there is a key.

use core::fmt::Write as _;
use std::net::SocketAddr;

use crate::lab1::ra::Party;
use crate::lab1::wire::{Inc, PeerId};
use crate::values::addr::AddrSpec;
use crate::values::limits::MAX_PROCESSES;
use crate::values::time::Millis;

/// How often a process that has not agreed yet is told again.
const SEND_EVERY: Millis = Millis(2000);
/// How often a finding that lasts is said again.
const SAY_EVERY: Millis = Millis(30_000);

/// The digest of a list: FNV-1a over each address as host:port (`:10002` and
/// `localhost:10002` are `127.0.0.1:10002`, so the three spellings agree), one per line. Not a security measure: it tells lists apart.
pub(crate) fn digest(addrs: &[AddrSpec]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for a in addrs {
        let mut port: heapless::String<8> = heapless::String::new();
        let _ = writeln!(port, ":{}", a.port);
        // `localhost` is this host's 127.0.0.1 (as the lists write `:10002`); other names are
        // taken as written (they resolve later, and may differ between hosts).
        let host = a.host();
        let host = if host.eq_ignore_ascii_case("localhost") {
            "127.0.0.1"
        } else {
            host
        };
        eat(host.as_bytes());
        eat(port.as_bytes());
    }
    h
}

/// `ROSTER <id> <inc> <digest in decimal>`.
pub(crate) fn encode(id: PeerId, inc: Inc, digest: u64) -> heapless::String<64> {
    let mut s = heapless::String::new();
    // Cannot fail: at most 7 + 5 + 20 + 16 + 3 bytes.
    let _ = write!(s, "ROSTER {} {} {digest}", id.0, inc.0);
    s
}

/// A ROSTER message: the claimed id, its incarnation and its list's digest. `None` for
/// anything else (the caller decodes it as another message).
pub(crate) fn decode(text: &[u8]) -> Option<Result<(PeerId, Inc, u64), ()>> {
    decode_three(text, b"ROSTER ")
}

/// `<word> <id> <inc> <third>`, the shape of ROSTER and CLAIMED: `None` if `text` does not
/// start with `word`, an error if the rest is not an id from 1, an incarnation and a `T`.
fn decode_three<T: core::str::FromStr>(
    text: &[u8],
    word: &[u8],
) -> Option<Result<(PeerId, Inc, T), ()>> {
    let rest = text.strip_prefix(word)?;
    let parsed = core::str::from_utf8(rest).ok().and_then(|r| {
        let mut it = r.trim_end().split(' ');
        let (id, inc, third) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        let id: u16 = id.parse().ok().filter(|&i| i > 0)?;
        Some((PeerId(id), Inc(inc.parse().ok()?), third.parse().ok()?))
    });
    Some(parsed.ok_or(()))
}

/// `CLAIMED <id> <inc> <address>`: the resource hears `id` from `address` too.
pub(crate) fn encode_claimed(id: PeerId, inc: Inc, other: SocketAddr) -> heapless::String<96> {
    let mut s = heapless::String::new();
    // Cannot fail: at most 8 + 5 + 20 + 47 (an IPv6 socket address with scope) + 3 bytes.
    let _ = write!(s, "CLAIMED {} {} {other}", id.0, inc.0);
    s
}

/// A CLAIMED message: the id, the other claimant's incarnation and address. `None` for
/// anything else.
pub(crate) fn decode_claimed(text: &[u8]) -> Option<Result<(PeerId, Inc, SocketAddr), ()>> {
    decode_three(text, b"CLAIMED ")
}

/// What a ROSTER showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Process `id` (as it says) was given another list, or the same in another order.
    OtherList {
        /// The id it claims.
        id: PeerId,
        /// Where it sent from.
        from: SocketAddr,
        /// Who that address is in this process's list (`None`: not in it).
        at: Option<Party>,
    },
    /// The same list, but it sends from another process's address (or one not in the
    /// list): the same id given twice, most likely.
    NotItsAddress {
        /// The id it claims.
        id: PeerId,
        /// Where it sent from.
        from: SocketAddr,
        /// Who that address is in this list.
        at: Option<Party>,
    },
    /// It claims an id this list does not have (a longer list).
    NoSuchId {
        /// The id it claims.
        id: PeerId,
        /// Where it sent from.
        from: SocketAddr,
    },
}

/// One process's side of the check.
#[derive(Debug)]
pub(crate) struct RosterCheck {
    me: PeerId,
    n: u16,
    digest: u64,
    /// Per process (index id - 1): it sent our digest from its own address.
    agreed: [bool; MAX_PROCESSES],
    /// Per sender (index: its id in this list; the last for addresses not in it): when a
    /// finding about what it sent may be said again.
    quiet_until: [Millis; MAX_PROCESSES + 1],
    /// Per process in this list: when it may be answered again (see [`RosterCheck::answer`]).
    answer_after: [Millis; MAX_PROCESSES],
    /// When a sender not in this list may be answered again.
    stranger_answer_after: Millis,
    /// ROSTERs with a finding, said or not.
    differ: u64,
    next_send: Millis,
}

impl RosterCheck {
    pub(crate) fn new(me: PeerId, n: u16, digest: u64) -> RosterCheck {
        RosterCheck {
            me,
            n,
            digest,
            agreed: [false; MAX_PROCESSES],
            quiet_until: [Millis(0); MAX_PROCESSES + 1],
            answer_after: [Millis(0); MAX_PROCESSES],
            stranger_answer_after: Millis(0),
            differ: 0,
            next_send: Millis(0),
        }
    }

    /// The list's length.
    pub(crate) fn n(&self) -> u16 {
        self.n
    }

    /// ROSTERs that showed a finding (said or within a finding's 30 s quiet).
    pub(crate) fn differ(&self) -> u64 {
        self.differ
    }

    /// This process's digest.
    pub(crate) fn digest(&self) -> u64 {
        self.digest
    }

    /// When [`RosterCheck::due`] has work next (`None`: every process agreed).
    pub(crate) fn poll_timeout(&self) -> Option<Millis> {
        self.others()
            .any(|j| !self.agreed[idx(j)])
            .then_some(self.next_send)
    }

    /// The processes to tell now (those that have not agreed yet), if it is time.
    pub(crate) fn due(&mut self, now: Millis) -> impl Iterator<Item = PeerId> + '_ {
        let send = now >= self.next_send;
        if send {
            self.next_send = now + SEND_EVERY;
        }
        let this: &RosterCheck = self;
        this.others().filter(move |&j| send && !this.agreed[idx(j)])
    }

    /// A ROSTER from `from` (`at`: who that address is in this list) claiming `id`.
    pub(crate) fn handle(
        &mut self,
        now: Millis,
        from: SocketAddr,
        at: Option<Party>,
        id: PeerId,
        digest: u64,
    ) -> Option<Finding> {
        let in_list = id.0 >= 1 && id.0 <= self.n;
        let finding = if digest != self.digest {
            Finding::OtherList { id, from, at }
        } else if !in_list {
            Finding::NoSuchId { id, from }
        } else if id == self.me || at != Some(Party::Process(id)) {
            Finding::NotItsAddress { id, from, at }
        } else {
            self.agreed[idx(id)] = true;
            return None;
        };
        self.differ += 1;
        // Quiet per sender (its place in this list; strangers share one), not per claimed id:
        // a stranger's forged claim must not hide a real process's, and two processes that
        // both claim id 1 (the rotated lists) are both said.
        let slot = match at {
            Some(Party::Process(k)) if k.0 >= 1 && k.0 <= self.n => idx(k),
            _ => MAX_PROCESSES,
        };
        if now < self.quiet_until[slot] {
            return None;
        }
        self.quiet_until[slot] = now + SAY_EVERY;
        Some(finding)
    }

    /// Whether to answer a ROSTER from process `k`'s address with ours at once, so that a
    /// process started later learns within a round trip, not at our next send: at most once
    /// per send interval per process, so two processes never answer each other for ever.
    pub(crate) fn answer(&mut self, now: Millis, k: PeerId) -> bool {
        if k == self.me || k.0 == 0 || k.0 > self.n || now < self.answer_after[idx(k)] {
            return false;
        }
        self.answer_after[idx(k)] = now + SEND_EVERY;
        true
    }

    /// Whether to answer a ROSTER from an address that is not a process of this list with
    /// ours, so that a process whose own address differs in its list (a typo) learns too: at
    /// most once per send interval for all such senders (a forged source gets one datagram of
    /// the same size, no more).
    pub(crate) fn answer_stranger(&mut self, now: Millis) -> bool {
        if now < self.stranger_answer_after {
            return false;
        }
        self.stranger_answer_after = now + SEND_EVERY;
        true
    }

    fn others(&self) -> impl Iterator<Item = PeerId> + '_ {
        (1..=self.n).map(PeerId).filter(move |&j| j != self.me)
    }
}

fn idx(id: PeerId) -> usize {
    usize::from(id.0) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::addr::parse_spec;

    fn list(a: &[&str]) -> Vec<AddrSpec> {
        a.iter().map(|s| parse_spec(s).unwrap()).collect()
    }

    const A: &str = "127.0.0.1:10002";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_list_in_either_spelling_has_one_digest_and_a_rotation_another() {
        let d = digest(&list(&[":10002", ":10003", ":10004"]));
        assert_eq!(d, digest(&list(&[A, "127.0.0.1:10003", "127.0.0.1:10004"])));
        assert_eq!(d, digest(&list(&[":10002", "LocalHost:10003", ":10004"])));
        assert_ne!(d, digest(&list(&[":10003", ":10004", ":10002"])));
        assert_ne!(d, digest(&list(&[":10002", ":10003"])));
    }

    #[test]
    fn the_wire_form_reads_back_and_anything_else_is_not_a_roster() {
        let text = encode(PeerId(3), Inc(1_700_000_000_000), 0xabc);
        assert_eq!(text.as_str(), "ROSTER 3 1700000000000 2748");
        assert_eq!(
            decode(text.as_bytes()),
            Some(Ok((PeerId(3), Inc(1_700_000_000_000), 0xabc)))
        );
        assert_eq!(decode(b"REQUEST 1 2 3"), None);
        for bad in [
            &b"ROSTER 0 1 2748"[..],
            b"ROSTER 1 1 abc",
            b"ROSTER 1 x 2748",
            b"ROSTER 1 1 2748 9",
            b"ROSTER \xff",
            b"ROSTER 1 1 -1",
        ] {
            assert_eq!(decode(bad), Some(Err(())), "{bad:?}");
        }
    }

    #[test]
    fn a_claimed_reads_back_and_a_bad_one_is_refused() {
        let text = encode_claimed(PeerId(1), Inc(5), addr("[fe80::1%2]:10002"));
        assert_eq!(text.as_str(), "CLAIMED 1 5 [fe80::1%2]:10002");
        assert_eq!(
            decode_claimed(text.as_bytes()),
            Some(Ok((PeerId(1), Inc(5), addr("[fe80::1%2]:10002"))))
        );
        assert_eq!(decode_claimed(b"ROSTER 1 2 3"), None);
        for bad in [
            &b"CLAIMED 0 1 127.0.0.1:1"[..],
            b"CLAIMED 1 1 nowhere",
            b"CLAIMED 1 1 127.0.0.1:1 x",
            b"CLAIMED \xff",
        ] {
            assert_eq!(decode_claimed(bad), Some(Err(())), "{bad:?}");
        }
    }

    #[test]
    fn agreement_stops_the_sends_and_a_difference_is_said_every_30_s() {
        let mut c = RosterCheck::new(PeerId(1), 3, 7);
        assert_eq!(c.due(Millis(0)).collect::<Vec<_>>(), [PeerId(2), PeerId(3)]);
        assert_eq!(c.due(Millis(10)).count(), 0, "not before 2 s");
        let p2 = Some(Party::Process(PeerId(2)));
        assert_eq!(
            c.handle(Millis(20), addr("127.0.0.1:10003"), p2, PeerId(2), 7),
            None
        );
        assert_eq!(c.due(Millis(2000)).collect::<Vec<_>>(), [PeerId(3)]);
        // Process 3 has another list: said, then quiet for 30 s, then said again.
        let p3 = Some(Party::Process(PeerId(3)));
        let other = c.handle(Millis(2100), addr("127.0.0.1:10004"), p3, PeerId(3), 8);
        assert!(
            matches!(other, Some(Finding::OtherList { .. })),
            "{other:?}"
        );
        assert_eq!(
            c.handle(Millis(4100), addr("127.0.0.1:10004"), p3, PeerId(3), 8),
            None
        );
        assert!(c
            .handle(Millis(32_100), addr("127.0.0.1:10004"), p3, PeerId(3), 8)
            .is_some());
        assert_eq!(c.poll_timeout(), Some(Millis(4000)), "still told");
        assert_eq!(
            c.handle(Millis(33_000), addr("127.0.0.1:10004"), p3, PeerId(3), 7),
            None
        );
        assert_eq!(c.poll_timeout(), None, "everyone agreed");
    }

    #[test]
    fn an_answer_at_once_but_not_twice_within_a_send_interval() {
        let mut c = RosterCheck::new(PeerId(1), 3, 7);
        assert!(c.answer(Millis(100), PeerId(2)));
        assert!(
            !c.answer(Millis(101), PeerId(2)),
            "a reply to the reply is not answered"
        );
        assert!(c.answer(Millis(101), PeerId(3)));
        assert!(c.answer(Millis(2100), PeerId(2)));
        assert!(!c.answer(Millis(0), PeerId(1)), "never to itself");
    }

    #[test]
    fn the_same_list_from_another_address_or_an_unknown_id_is_said() {
        let mut c = RosterCheck::new(PeerId(1), 3, 7);
        let p3 = Some(Party::Process(PeerId(3)));
        let f = c.handle(Millis(0), addr("127.0.0.1:10004"), p3, PeerId(2), 7);
        assert!(
            matches!(f, Some(Finding::NotItsAddress { id: PeerId(2), .. })),
            "{f:?}"
        );
        let f = c.handle(Millis(0), addr("127.0.0.9:1"), None, PeerId(9), 7);
        assert!(
            matches!(f, Some(Finding::NoSuchId { id: PeerId(9), .. })),
            "{f:?}"
        );
        // Ids beyond the list share one 30 s quiet: a flood of made-up ids is one line.
        assert_eq!(
            c.handle(Millis(1), addr("127.0.0.9:1"), None, PeerId(8), 7),
            None
        );
        let p2 = Some(Party::Process(PeerId(2)));
        let f = c.handle(Millis(0), addr("127.0.0.1:10003"), p2, PeerId(1), 7);
        assert!(
            matches!(f, Some(Finding::NotItsAddress { id: PeerId(1), .. })),
            "its own id: {f:?}"
        );
        // Another list comes first, whatever id it claims (the rotated lists claim ours).
        let f = c.handle(Millis(40_000), addr("127.0.0.1:10004"), None, PeerId(1), 8);
        assert!(
            matches!(f, Some(Finding::OtherList { id: PeerId(1), .. })),
            "{f:?}"
        );
    }
}
