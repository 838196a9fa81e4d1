//! The shared resource's checker (sans-IO): what each ENTER and EXIT means, and what is
//! wrong about an entry.

use std::net::SocketAddr;

use crate::lab1::ra::Priority;
use crate::lab1::wire::{AckOf, Inc, Kind, Msg, PeerId, MAX_TEXT};
use crate::values::limits::MAX_PROCESSES;
use crate::values::time::Millis;

/// What an ENTER meant.
// Public through the test harness (`Fault::Resource`), which only test support builds.
#[cfg_attr(not(any(test, feature = "test-support")), allow(unreachable_pub))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Already seen (a resend whose ACK was lost): acknowledge again, print nothing.
    Duplicate,
    /// A new use of the CS, with what was wrong about it.
    New {
        /// Someone else was inside.
        overlap: Option<Priority>,
        /// The previous entry's (T, id) was not smaller.
        out_of_order: Option<Priority>,
    },
}

/// What an EXIT meant.
// Public through the test harness (`Fault::Resource`), which only test support builds.
#[cfg_attr(not(any(test, feature = "test-support")), allow(unreachable_pub))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// The process inside left, after holding the CS this long.
    Left {
        /// Time from its ENTER to its EXIT, as the resource saw them.
        held: Millis,
    },
    /// Already seen.
    Duplicate,
    /// An exit with no matching entry (its ENTER never arrived).
    Unknown,
}

/// One message to the resource, as a value: what the checker made of it.
// Public through the test harness (`Fault::Resource`), which only test support builds.
#[cfg_attr(not(any(test, feature = "test-support")), allow(unreachable_pub))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Use {
    /// A process (re)started: HELLO, or the first message of a new incarnation.
    Hello {
        /// The process.
        id: PeerId,
        /// Its new incarnation.
        inc: Inc,
        /// The CS its previous incarnation held, which ended without EXIT (it was killed).
        ended: Option<Priority>,
    },
    /// An ENTER.
    Enter {
        /// The process entering.
        id: PeerId,
        /// Its incarnation.
        inc: Inc,
        /// Its request timestamp.
        t: u64,
        /// Its clock at entry.
        clock: u64,
        /// The text it sent.
        text: heapless::String<MAX_TEXT>,
        /// What the checker found.
        entry: Entry,
    },
    /// An EXIT.
    Exit {
        /// The process leaving.
        id: PeerId,
        /// Its incarnation.
        inc: Inc,
        /// Its request timestamp.
        t: u64,
        /// Its clock at exit.
        clock: u64,
        /// What the checker found.
        exit: Exit,
    },
    /// A HELLO of an incarnation already known (a resend whose ACK was lost): acknowledged
    /// again, not shown.
    HelloAgain {
        /// The process.
        id: PeerId,
        /// Its incarnation.
        inc: Inc,
    },
    /// A message from an incarnation that has gone (a late duplicate): acknowledged, ignored.
    Stale {
        /// The process.
        id: PeerId,
        /// The gone incarnation.
        inc: Inc,
        /// Its type.
        kind: Kind,
    },
}

impl Use {
    /// Whether it is news, not a resend or a late copy: a start, an entry, an exit.
    fn is_new(&self) -> bool {
        matches!(
            self,
            Use::Hello { .. }
                | Use::Enter {
                    entry: Entry::New { .. },
                    ..
                }
                | Use::Exit {
                    exit: Exit::Left { .. } | Exit::Unknown,
                    ..
                }
        )
    }

    /// Whether the checker found something wrong: an overlap, entries out of (T, id) order,
    /// or an exit without its entry.
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn is_fault(&self) -> bool {
        match self {
            Use::Enter {
                entry:
                    Entry::New {
                        overlap,
                        out_of_order,
                    },
                ..
            } => overlap.is_some() || out_of_order.is_some(),
            Use::Exit {
                exit: Exit::Unknown,
                ..
            } => true,
            _ => false,
        }
    }
}

/// A message the resource does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A Lab 1 message, but not HELLO, ENTER or EXIT.
    NotForResource,
    /// Sent from an address that does not speak for the process it names.
    WrongAddress {
        /// The process the message names.
        id: PeerId,
    },
    /// An incarnation (a start time) in the future: forged.
    FutureIncarnation {
        /// The process the message names.
        id: PeerId,
        /// The incarnation it claims.
        inc: Inc,
    },
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Refused::NotForResource => f.write_str("not HELLO, ENTER or EXIT"),
            Refused::WrongAddress { id } => write!(f, "not from process {id}'s address"),
            Refused::FutureIncarnation { id, inc } => {
                write!(
                    f,
                    "incarnation {inc} of process {id} is a start time in the future"
                )
            }
        }
    }
}

impl std::error::Error for Refused {}

/// Who is inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Holder {
    p: Priority,
    inc: Inc,
    /// The address it spoke from (`None` when one address speaks for each id).
    at: Option<SocketAddr>,
    since: Millis,
}

/// Checks the uses of the CS (sans-IO): feed it messages with [`Checker::handle_msg`], send
/// what [`Checker::poll_transmit`] gives back to the message's sender.
///
/// It knows each process's latest incarnation: a message from an older one is stale; a newer
/// one is a restart, which ends a CS the previous incarnation held (a process killed inside
/// cannot send its EXIT) without a violation. The (T, id) order is checked between entries of
/// processes that have entered before in the same incarnation (a new incarnation's clock
/// starts at 0: its first entry may come after entries with larger T). Every overlap is
/// reported.
///
/// Without the address list (any address may speak for any id), a process is a *life*: an id
/// at one address. Two addresses claiming one id (a copied compose service) are two lives: the
/// older is not made stale by the newer, both are checked (an overlap between them is a
/// VIOLATION) and the conflict is news ([`Checker::poll_conflict`]). A newer incarnation than
/// every life of its id is still a restart (a container restarted with a new IP) and ends a CS
/// an older life held: two lives of one id are only told apart from a restart when the older
/// one speaks again.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct Checker {
    inside: Option<Holder>,
    last: Option<Priority>,
    /// Per life (id, and address without the list): latest incarnation, latest T entered and
    /// exited in it.
    seen: heapless::Vec<Seen, LIVES>,
    /// Only each process's own address speaks for it (the adapter knows the addresses).
    by_address: bool,
    /// Incarnations above this are refused (from the future: see
    /// [`Checker::limit_incarnations`]).
    inc_limit: Option<Inc>,
    /// The ACK for the last message, to go back to its sender.
    ack: Option<Msg>,
    /// A restart learnt from an ENTER or EXIT, to report before it.
    news: Option<Use>,
    /// Two addresses claiming one id, learnt from the last message.
    conflict: Option<Conflict>,
    /// Entries into the critical section (new ENTERs, not their resends).
    pub entries: u64,
    /// Violations found.
    pub violations: u64,
    /// Duplicates acknowledged again.
    pub(crate) duplicates: u64,
    /// Exits with no entry.
    pub(crate) unknown_exits: u64,
    /// Restarts seen (new incarnations of a process already known).
    pub(crate) restarts: u64,
    /// CSs that ended without EXIT because their holder restarted.
    pub(crate) ended_by_restart: u64,
    /// Messages from incarnations that have gone.
    pub(crate) stale: u64,
    /// Messages (new ones, not resends) from an id that two addresses claim.
    pub(crate) contested: u64,
}

/// Lives tracked: each process once, and room for as many second claimants.
const LIVES: usize = 2 * MAX_PROCESSES;

/// Two lives of one id heard within this long of each other are a conflict that lasts; a
/// claimant silent for longer has gone (its duplicate was stopped).
const CONFLICT_LASTS: Millis = Millis(60_000);

/// What the checker remembers of one life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Seen {
    id: PeerId,
    /// Where it speaks from; `None` when only the process's own address speaks for it.
    at: Option<SocketAddr>,
    inc: Inc,
    entered: u64,
    exited: u64,
    /// A new incarnation that has not entered yet: its clock started at 0, so its first entry
    /// is not held to the (T, id) order of the entries before it.
    fresh: bool,
    /// When it last sent something new (not a resend).
    heard: Millis,
    /// It spoke while another address claimed its id: the two are a conflict, not a restart.
    rival: bool,
}

/// Two addresses claim one id: the message just handled came from `at`, while `other` has
/// spoken for the same id within [`CONFLICT_LASTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Conflict {
    /// The id both claim.
    pub(crate) id: PeerId,
    /// The sender of the message just handled, and its incarnation.
    pub(crate) at: SocketAddr,
    pub(crate) inc: Inc,
    /// The other claimant, and its incarnation.
    pub(crate) other: SocketAddr,
    pub(crate) other_inc: Inc,
}

impl Checker {
    /// A checker that takes each process's messages only from the address that speaks for
    /// it: the caller passes that process as `from` to [`Checker::handle_msg`].
    pub(crate) fn by_address() -> Checker {
        Checker {
            by_address: true,
            ..Checker::default()
        }
    }

    /// Incarnations are start times: one above `limit` (the wall clock plus the clock skew
    /// allowed between hosts) is from the future, forged, and refused. Without this, one
    /// datagram with a huge incarnation from a process's address (while it is down) would make
    /// the real process's messages look stale forever. The adapter calls it before each
    /// message; tests and models that use small incarnations do not.
    pub(crate) fn limit_incarnations(&mut self, limit: Inc) {
        self.inc_limit = Some(limit);
    }

    /// A message from the network, sent from `at`, an address that speaks for process `from`
    /// (`None`: no configured process's address). HELLO, ENTER and EXIT are checked and
    /// acknowledged (every one, duplicates too: the process resends until it hears the ACK).
    pub(crate) fn handle_msg(
        &mut self,
        now: Millis,
        from: Option<PeerId>,
        at: SocketAddr,
        msg: &Msg,
    ) -> Result<Use, Refused> {
        if !matches!(
            msg,
            Msg::Hello { .. } | Msg::Enter { .. } | Msg::Exit { .. }
        ) {
            return Err(Refused::NotForResource);
        }
        let (id, inc) = (msg.id(), msg.inc());
        if self.by_address && from != Some(id) {
            return Err(Refused::WrongAddress { id });
        }
        if self.inc_limit.is_some_and(|l| inc > l) {
            return Err(Refused::FutureIncarnation { id, inc });
        }
        let of = match msg {
            Msg::Hello { .. } => AckOf::Hello,
            Msg::Enter { .. } => AckOf::Enter,
            _ => AckOf::Exit,
        };
        self.ack = Some(Msg::Ack {
            of,
            id,
            inc,
            t: msg.t(),
        });
        // With the list, the id's own address is the only one: one life per id.
        let life = Life {
            id,
            at: (!self.by_address).then_some(at),
        };
        let newest = self.seen.iter().filter(|e| e.id == id).map(|e| e.inc).max();
        let mine = self.life(life).map(|e| e.inc);
        let mut second = false;
        match mine {
            Some(k) if inc < k => {
                self.stale += 1;
                return Ok(Use::Stale {
                    id,
                    inc,
                    kind: msg.kind(),
                });
            }
            Some(k) if inc == k => {}
            _ if newest.is_some_and(|n| inc <= n) => {
                // Another address speaks for this id with a later (or the same) start: not a
                // restart of it, a second claimant.
                self.new_life(now, life, inc, true);
                second = true;
            }
            _ => {
                let ended = self.new_incarnation(now, life, inc, newest.is_some());
                if let Msg::Hello { .. } = msg {
                    return Ok(Use::Hello { id, inc, ended });
                }
                if ended.is_some() || newest.is_some() {
                    // The restart is news: say it before the ENTER or EXIT (the caller prints
                    // both when `restart_news` says so).
                    self.news = Some(Use::Hello { id, inc, ended });
                }
            }
        }
        let used = match msg {
            Msg::Hello { .. } if second => Use::Hello {
                id,
                inc,
                ended: None,
            },
            Msg::Hello { .. } => {
                self.duplicates += 1;
                Use::HelloAgain { id, inc }
            }
            Msg::Enter { t, clock, text, .. } => Use::Enter {
                id,
                inc,
                t: *t,
                clock: *clock,
                text: text.clone(),
                entry: self.handle_enter_of(now, life, inc, *t),
            },
            Msg::Exit { t, clock, .. } => Use::Exit {
                id,
                inc,
                t: *t,
                clock: *clock,
                exit: self.handle_exit_of(now, life, inc, *t),
            },
            _ => return Err(Refused::NotForResource),
        };
        if used.is_new() {
            self.heard(now, life);
        }
        Ok(used)
    }

    /// A restart seen with the message just handled (its first message was an ENTER or
    /// EXIT rather than a HELLO), to be reported before it.
    pub(crate) fn poll_news(&mut self) -> Option<Use> {
        self.news.take()
    }

    /// Two addresses claiming one id, seen with the message just handled (a new message, not
    /// a resend, while another address has spoken for that id within a minute).
    pub(crate) fn poll_conflict(&mut self) -> Option<Conflict> {
        self.conflict.take()
    }

    /// The acknowledgement to send back to the sender of the last message.
    pub(crate) fn poll_transmit(&mut self) -> Option<Msg> {
        self.ack.take()
    }

    /// `life` sent something new at `now`: remember it, and whether its id is contested.
    fn heard(&mut self, now: Millis, life: Life) {
        let newest = self
            .seen
            .iter()
            .filter(|e| e.id == life.id)
            .map(|e| e.inc)
            .max();
        let Some(i) = self.seen.iter().position(|e| life.is(e)) else {
            return;
        };
        self.seen[i].heard = now;
        if newest.is_some_and(|n| self.seen[i].inc < n) {
            // An older life speaking after a newer one appeared: it was not restarted.
            self.seen[i].rival = true;
        }
        let me = self.seen[i];
        let other = self.seen.iter().find(|e| {
            e.id == me.id
                && e.at != me.at
                && (e.rival || me.rival)
                && now.0.abs_diff(e.heard.0) <= CONFLICT_LASTS.0
        });
        if let (Some(o), Some(at), Some(other)) = (other, me.at, other.and_then(|o| o.at)) {
            self.contested += 1;
            self.conflict = Some(Conflict {
                id: me.id,
                at,
                inc: me.inc,
                other,
                other_inc: o.inc,
            });
        }
    }

    fn life(&self, life: Life) -> Option<&Seen> {
        self.seen.iter().find(|e| life.is(e))
    }

    /// Whether another life of `id` has claimed it within [`CONFLICT_LASTS`] of `now`, one of
    /// them after the other appeared: their clocks are unrelated, so the (T, id) order does not
    /// hold between them.
    fn is_contested(&self, now: Millis, id: PeerId) -> bool {
        let mut lives = self
            .seen
            .iter()
            .filter(|e| e.id == id && now.0.abs_diff(e.heard.0) <= CONFLICT_LASTS.0);
        let first = lives.next();
        let second = lives.next();
        first.is_some() && second.is_some() && self.seen.iter().any(|e| e.id == id && e.rival)
    }

    /// A life not known before, or a new incarnation of one: its record starts over.
    fn new_life(&mut self, now: Millis, life: Life, inc: Inc, rival: bool) {
        let fresh = Seen {
            id: life.id,
            at: life.at,
            inc,
            entered: 0,
            exited: 0,
            // A first start or a restart: either way its clock started at 0 (it may have
            // started after the others), so its first entry is not held to the order of
            // the entries before it.
            fresh: true,
            heard: now,
            rival,
        };
        match self.seen.iter_mut().find(|e| life.is(e)) {
            Some(e) => *e = fresh,
            // Lives beyond the table (more than LIVES senders) are not tracked; their
            // entries are still checked for overlap and order.
            None => {
                let _ = self.seen.push(fresh);
            }
        }
    }

    /// Process `id` speaks as a new incarnation `inc`, later than every life of its id: forget
    /// its previous life; a CS that life held (from whichever address: a restarted container
    /// may have a new one) is over. Returns that CS.
    fn new_incarnation(
        &mut self,
        now: Millis,
        life: Life,
        inc: Inc,
        restart: bool,
    ) -> Option<Priority> {
        self.new_life(now, life, inc, false);
        if !restart {
            return None;
        }
        self.restarts += 1;
        let ended = self.inside.filter(|h| h.p.id == life.id && h.inc != inc);
        if let Some(h) = ended {
            self.inside = None;
            self.ended_by_restart += 1;
            return Some(h.p);
        }
        None
    }

    /// An ENTER from `id` (incarnation `inc`) for its request `t`, with one address per id.
    #[cfg(test)]
    pub(crate) fn handle_enter(&mut self, now: Millis, id: PeerId, inc: Inc, t: u64) -> Entry {
        self.handle_enter_of(now, Life { id, at: None }, inc, t)
    }

    fn handle_enter_of(&mut self, now: Millis, life: Life, inc: Inc, t: u64) -> Entry {
        let id = life.id;
        let me = Priority { t, id };
        if self.life(life).is_some_and(|e| e.entered >= t) {
            self.duplicates += 1;
            return Entry::Duplicate;
        }
        let overlap = self
            .inside
            .filter(|h| (h.p, h.inc, h.at) != (me, inc, life.at))
            .map(|h| h.p);
        let exempt = self.life(life).is_some_and(|e| e.fresh) || self.is_contested(now, id);
        let out_of_order = self.last.filter(|p| *p >= me && !exempt);
        self.violations += u64::from(overlap.is_some()) + u64::from(out_of_order.is_some());
        self.inside = Some(Holder {
            p: me,
            inc,
            at: life.at,
            since: now,
        });
        self.last = Some(me);
        self.entries += 1;
        self.record(now, life, inc, |e| {
            e.entered = t;
            e.fresh = false;
        });
        Entry::New {
            overlap,
            out_of_order,
        }
    }

    /// An EXIT from `id` (incarnation `inc`) for its request `t`, with one address per id.
    #[cfg(test)]
    pub(crate) fn handle_exit(&mut self, now: Millis, id: PeerId, inc: Inc, t: u64) -> Exit {
        self.handle_exit_of(now, Life { id, at: None }, inc, t)
    }

    fn handle_exit_of(&mut self, now: Millis, life: Life, inc: Inc, t: u64) -> Exit {
        let id = life.id;
        if let Some(h) = self
            .inside
            .filter(|h| h.p == Priority { t, id } && h.inc == inc && h.at == life.at)
        {
            self.inside = None;
            self.record(now, life, inc, |e| e.exited = t);
            return Exit::Left {
                held: now - h.since,
            };
        }
        if self
            .life(life)
            .is_some_and(|e| e.exited >= t || e.entered > t)
        {
            self.duplicates += 1;
            return Exit::Duplicate;
        }
        self.unknown_exits += 1;
        self.record(now, life, inc, |e| e.exited = t);
        Exit::Unknown
    }

    /// Who is inside.
    pub fn inside(&self) -> Option<Priority> {
        self.inside.map(|h| h.p)
    }

    fn record(&mut self, now: Millis, life: Life, inc: Inc, f: impl FnOnce(&mut Seen)) {
        if let Some(e) = self.seen.iter_mut().find(|e| life.is(e)) {
            f(e);
        } else {
            let mut e = Seen {
                id: life.id,
                at: life.at,
                inc,
                entered: 0,
                exited: 0,
                fresh: false,
                heard: now,
                rival: false,
            };
            f(&mut e);
            let _ = self.seen.push(e);
        }
    }
}

/// Who a message speaks for: an id, and without the address list, the address it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Life {
    id: PeerId,
    at: Option<SocketAddr>,
}

impl Life {
    fn is(&self, e: &Seen) -> bool {
        e.id == self.id && e.at == self.at
    }
}

/// What the resource found wrong about an entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Violation {
    /// `id` entered while `inside` was inside.
    Overlap {
        /// The entry.
        entry: Priority,
        /// Who was inside.
        inside: Priority,
    },
    /// `entry` came after `previous` although its (T, id) is not larger.
    Order {
        /// The entry.
        entry: Priority,
        /// The entry before it.
        previous: Priority,
    },
}

impl Violation {
    /// The violations of a use (none for most).
    pub(crate) fn of(u: &Use) -> impl Iterator<Item = Violation> {
        let (overlap, order) = match u {
            Use::Enter {
                id,
                t,
                entry:
                    Entry::New {
                        overlap,
                        out_of_order,
                    },
                ..
            } => {
                let entry = Priority { t: *t, id: *id };
                (
                    overlap.map(|inside| Violation::Overlap { entry, inside }),
                    out_of_order.map(|previous| Violation::Order { entry, previous }),
                )
            }
            _ => (None, None),
        };
        overlap.into_iter().chain(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Process `id`'s address in these tests.
    fn at(id: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 10_001 + id))
    }

    fn p(t: u64, id: u16) -> Priority {
        Priority { t, id: PeerId(id) }
    }

    #[test]
    fn orderly_uses_are_fine_and_resends_are_duplicates() {
        let mut c = Checker::default();
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(1), Inc(1), 2),
            Entry::New {
                overlap: None,
                out_of_order: None
            }
        );
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(1), Inc(1), 2),
            Entry::Duplicate
        );
        assert_eq!(
            c.handle_exit(Millis(0), PeerId(1), Inc(1), 2),
            Exit::Left { held: Millis(0) }
        );
        assert_eq!(
            c.handle_exit(Millis(0), PeerId(1), Inc(1), 2),
            Exit::Duplicate
        );
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(1), Inc(1), 2),
            Entry::Duplicate,
            "a late resend of the old ENTER"
        );
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(2), Inc(1), 4),
            Entry::New {
                overlap: None,
                out_of_order: None
            }
        );
        assert_eq!(
            c.handle_exit(Millis(0), PeerId(2), Inc(1), 4),
            Exit::Left { held: Millis(0) }
        );
        assert_eq!((c.entries, c.violations, c.duplicates), (2, 0, 3));
    }

    #[test]
    fn two_inside_is_a_violation() {
        let mut c = Checker::default();
        c.handle_enter(Millis(0), PeerId(1), Inc(1), 2);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(2), Inc(1), 4),
            Entry::New {
                overlap: Some(p(2, 1)),
                out_of_order: None
            }
        );
        assert_eq!(c.violations, 1);
    }

    #[test]
    fn entries_out_of_timestamp_order_are_a_violation() {
        let mut c = Checker::default();
        c.handle_enter(Millis(0), PeerId(2), Inc(1), 4);
        c.handle_exit(Millis(0), PeerId(2), Inc(1), 4);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(3), Inc(1), 4),
            Entry::New {
                overlap: None,
                out_of_order: None
            },
            "tie on T: id 3 after 2 is fine"
        );
        c.handle_exit(Millis(0), PeerId(3), Inc(1), 4);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(1), Inc(1), 4),
            Entry::New {
                overlap: None,
                out_of_order: Some(p(4, 3))
            }
        );
        assert_eq!(c.violations, 1);
    }

    fn enter(id: u16, inc: u64, t: u64) -> Msg {
        Msg::Enter {
            id: PeerId(id),
            inc: Inc(inc),
            t,
            clock: t,
            text: heapless::String::new(),
        }
    }

    /// Issue 5 after `kill -9`: the holder restarts (HELLO) and the CS it held is over; the
    /// next entry is not a violation. A real overlap still is.
    #[test]
    fn a_holder_that_restarts_frees_the_cs_without_a_violation() {
        let mut c = Checker::by_address();
        let now = Millis(0);
        c.handle_msg(now, Some(PeerId(1)), at(1), &enter(1, 10, 5))
            .unwrap();
        let hello = Msg::Hello {
            id: PeerId(1),
            inc: Inc(11),
        };
        assert_eq!(
            c.handle_msg(now, Some(PeerId(1)), at(1), &hello),
            Ok(Use::Hello {
                id: PeerId(1),
                inc: Inc(11),
                ended: Some(p(5, 1))
            })
        );
        assert_eq!(
            c.poll_transmit(),
            Some(Msg::Ack {
                of: AckOf::Hello,
                id: PeerId(1),
                inc: Inc(11),
                t: 0
            })
        );
        c.handle_msg(now, Some(PeerId(2)), at(2), &enter(2, 20, 7))
            .unwrap();
        assert_eq!(c.violations, 0);
        let exit = Msg::Exit {
            id: PeerId(2),
            inc: Inc(20),
            t: 7,
            clock: 8,
        };
        c.handle_msg(now, Some(PeerId(2)), at(2), &exit).unwrap();
        // p1's new life enters with T=1 (its clock started over): not out of order.
        c.handle_msg(now, Some(PeerId(1)), at(1), &enter(1, 11, 1))
            .unwrap();
        assert_eq!(c.violations, 0);
        // p2 enters while p1 is inside: a real overlap, still reported.
        c.handle_msg(now, Some(PeerId(2)), at(2), &enter(2, 20, 9))
            .unwrap();
        assert_eq!(c.violations, 1);
    }

    /// Issue 1 at the resource: the same (id, T) from a new incarnation is a new entry, not a
    /// duplicate; the old incarnation's late messages are stale.
    #[test]
    fn a_new_incarnation_is_not_a_duplicate_and_an_old_one_is_stale() {
        let mut c = Checker::by_address();
        let now = Millis(0);
        c.handle_msg(now, Some(PeerId(2)), at(2), &enter(2, 10, 1))
            .unwrap();
        let exit = Msg::Exit {
            id: PeerId(2),
            inc: Inc(10),
            t: 1,
            clock: 2,
        };
        c.handle_msg(now, Some(PeerId(2)), at(2), &exit).unwrap();
        c.handle_msg(now, Some(PeerId(1)), at(1), &enter(1, 10, 3))
            .unwrap();
        let again = c
            .handle_msg(now, Some(PeerId(2)), at(2), &enter(2, 11, 1))
            .unwrap();
        assert!(
            matches!(
                again,
                Use::Enter {
                    entry: Entry::New {
                        overlap: Some(_),
                        ..
                    },
                    ..
                }
            ),
            "{again:?}"
        );
        assert_eq!(c.violations, 1, "two inside: p1 and the new p2");
        let late = c
            .handle_msg(now, Some(PeerId(2)), at(2), &enter(2, 10, 1))
            .unwrap();
        assert_eq!(
            late,
            Use::Stale {
                id: PeerId(2),
                inc: Inc(10),
                kind: Kind::Enter
            }
        );
    }

    #[test]
    fn an_incarnation_from_the_future_is_refused_and_a_repeated_hello_is_quiet() {
        let mut c = Checker::by_address();
        c.limit_incarnations(Inc(1000));
        let forged = Msg::Hello {
            id: PeerId(1),
            inc: Inc(u64::MAX),
        };
        assert!(matches!(
            c.handle_msg(Millis(0), Some(PeerId(1)), at(1), &forged),
            Err(Refused::FutureIncarnation { .. })
        ));
        let hello = Msg::Hello {
            id: PeerId(1),
            inc: Inc(5),
        };
        assert!(matches!(
            c.handle_msg(Millis(0), Some(PeerId(1)), at(1), &hello),
            Ok(Use::Hello { .. })
        ));
        assert_eq!(
            c.handle_msg(Millis(0), Some(PeerId(1)), at(1), &hello),
            Ok(Use::HelloAgain {
                id: PeerId(1),
                inc: Inc(5)
            })
        );
        assert!(c.poll_transmit().is_some(), "acknowledged again");
    }

    /// Issue 4: an ENTER for process 1 from another address is refused, not counted.
    #[test]
    fn only_a_process_own_address_speaks_for_it() {
        let mut c = Checker::by_address();
        let forged = enter(1, u64::MAX, u64::MAX);
        assert_eq!(
            c.handle_msg(Millis(0), Some(PeerId(2)), at(2), &forged),
            Err(Refused::WrongAddress { id: PeerId(1) })
        );
        assert_eq!(
            c.handle_msg(Millis(0), None, at(9), &forged),
            Err(Refused::WrongAddress { id: PeerId(1) })
        );
        assert_eq!((c.entries, c.violations), (0, 0));
        assert!(c.poll_transmit().is_none());
        c.handle_msg(Millis(0), Some(PeerId(1)), at(1), &enter(1, 1, 2))
            .unwrap();
        assert_eq!(c.entries, 1);
    }

    fn hello(id: u16, inc: u64) -> Msg {
        Msg::Hello {
            id: PeerId(id),
            inc: Inc(inc),
        }
    }

    fn exit(id: u16, inc: u64, t: u64) -> Msg {
        Msg::Exit {
            id: PeerId(id),
            inc: Inc(inc),
            t,
            clock: t + 1,
        }
    }

    /// Issue 19: without the list, a copy of process 1 started later (a copied compose
    /// service) at another address does not make the real one's uses stale: both are
    /// checked, the conflict is news while both speak, and quiet once the copy has gone.
    #[test]
    fn two_addresses_claiming_one_id_are_both_checked_and_a_conflict() {
        let mut c = Checker::default();
        let (a, b) = (at(1), at(50));
        let none = None;
        c.handle_msg(Millis(0), none, a, &hello(1, 10)).unwrap();
        c.handle_msg(Millis(10), none, a, &enter(1, 10, 1)).unwrap();
        c.handle_msg(Millis(20), none, a, &exit(1, 10, 1)).unwrap();
        // The copy starts: a later incarnation, like a restart at a new address.
        assert!(matches!(
            c.handle_msg(Millis(1000), none, b, &hello(1, 20)),
            Ok(Use::Hello { .. })
        ));
        assert_eq!(c.poll_conflict(), None, "not yet told from a restart");
        // The real process 1 goes on: its uses are seen, and the two are a conflict.
        let u = c
            .handle_msg(Millis(2000), none, a, &enter(1, 10, 3))
            .unwrap();
        assert!(
            matches!(
                u,
                Use::Enter {
                    entry: Entry::New {
                        overlap: None,
                        out_of_order: None
                    },
                    ..
                }
            ),
            "{u:?}"
        );
        let conflict = c.poll_conflict().expect("the conflict is news");
        assert_eq!(
            (
                conflict.id,
                conflict.at,
                conflict.inc,
                conflict.other,
                conflict.other_inc
            ),
            (PeerId(1), a, Inc(10), b, Inc(20))
        );
        // Its resend is not news.
        c.handle_msg(Millis(2001), none, a, &enter(1, 10, 3))
            .unwrap();
        assert_eq!(c.poll_conflict(), None);
        // The copy enters while the real one is inside: two inside, a VIOLATION.
        let u = c
            .handle_msg(Millis(2100), none, b, &enter(1, 20, 1))
            .unwrap();
        assert!(
            matches!(
                u,
                Use::Enter {
                    entry: Entry::New {
                        overlap: Some(_),
                        out_of_order: None
                    },
                    ..
                }
            ),
            "an overlap, but no order finding between two unrelated clocks: {u:?}"
        );
        assert_eq!(c.violations, 1);
        assert!(c.poll_conflict().is_some());
        assert!(matches!(
            c.handle_msg(Millis(2200), none, b, &exit(1, 20, 1)),
            Ok(Use::Exit {
                exit: Exit::Left { .. },
                ..
            })
        ));
        assert!(
            matches!(
                c.handle_msg(Millis(2300), none, a, &exit(1, 10, 3)),
                Ok(Use::Exit {
                    exit: Exit::Unknown,
                    ..
                })
            ),
            "the copy's entry took the real one's place inside"
        );
        assert!(c.poll_conflict().is_some());
        // The copy is stopped; a minute later the real one's uses are plain uses again.
        let u = c
            .handle_msg(Millis(70_000), none, a, &enter(1, 10, 5))
            .unwrap();
        assert!(
            matches!(
                u,
                Use::Enter {
                    entry: Entry::New { overlap: None, .. },
                    ..
                }
            ),
            "{u:?}"
        );
        assert_eq!(c.poll_conflict(), None, "the conflict is over");
        assert_eq!((c.entries, c.stale), (4, 0));
    }

    /// A restart at a new address (a container restarted with a new IP) ends the CS the killed
    /// life held, and a late copy of that life's ENTER is a duplicate, not a conflict.
    #[test]
    fn a_restart_at_a_new_address_is_a_restart_not_a_conflict() {
        let mut c = Checker::default();
        let (a, b) = (at(2), at(60));
        c.handle_msg(Millis(0), None, a, &enter(2, 10, 4)).unwrap();
        assert!(matches!(
            c.handle_msg(Millis(500), None, b, &hello(2, 11)),
            Ok(Use::Hello { ended: Some(_), .. })
        ));
        assert_eq!(
            c.handle_msg(Millis(501), None, a, &enter(2, 10, 4))
                .map(|u| u.is_new()),
            Ok(false)
        );
        assert_eq!(c.poll_conflict(), None);
        c.handle_msg(Millis(600), None, at(1), &enter(1, 10, 7))
            .unwrap();
        assert_eq!((c.violations, c.contested, c.restarts), (0, 0, 1));
    }

    /// An older claimant heard only after a newer one: a conflict at once.
    #[test]
    fn an_older_claimant_heard_second_is_a_conflict() {
        let mut c = Checker::default();
        c.handle_msg(Millis(0), None, at(70), &hello(1, 20))
            .unwrap();
        assert!(matches!(
            c.handle_msg(Millis(5), None, at(1), &hello(1, 10)),
            Ok(Use::Hello { ended: None, .. })
        ));
        assert!(c.poll_conflict().is_some());
        assert_eq!(c.restarts, 0);
    }

    #[test]
    fn exit_without_entry_is_noted_not_a_violation() {
        let mut c = Checker::default();
        assert_eq!(
            c.handle_exit(Millis(0), PeerId(1), Inc(1), 2),
            Exit::Unknown
        );
        assert_eq!((c.violations, c.unknown_exits), (0, 1));
    }
}
