//! The shared resource's checker (sans-IO): what each ENTER and EXIT means, and what is
//! wrong about an entry.

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
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct Checker {
    inside: Option<Holder>,
    last: Option<Priority>,
    /// Per process id: latest incarnation, latest T entered and exited in it.
    seen: heapless::Vec<Seen, MAX_PROCESSES>,
    /// Only each process's own address speaks for it (the adapter knows the addresses).
    by_address: bool,
    /// Incarnations above this are refused (from the future: see
    /// [`Checker::limit_incarnations`]).
    inc_limit: Option<Inc>,
    /// The ACK for the last message, to go back to its sender.
    ack: Option<Msg>,
    /// A restart learnt from an ENTER or EXIT, to report before it.
    news: Option<Use>,
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
}

/// What the checker remembers of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Seen {
    id: PeerId,
    inc: Inc,
    entered: u64,
    exited: u64,
    /// A new incarnation that has not entered yet: its clock started at 0, so its first entry
    /// is not held to the (T, id) order of the entries before it.
    fresh: bool,
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

    /// A message from the network, from an address that speaks for process `from` (`None`:
    /// no configured process's address). HELLO, ENTER and EXIT are checked and acknowledged
    /// (every one, duplicates too: the process resends until it hears the ACK).
    pub(crate) fn handle_msg(
        &mut self,
        now: Millis,
        from: Option<PeerId>,
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
        let known = self.seen.iter().position(|e| e.id == id);
        match known.map(|i| self.seen[i].inc) {
            Some(k) if inc < k => {
                self.stale += 1;
                return Ok(Use::Stale {
                    id,
                    inc,
                    kind: msg.kind(),
                });
            }
            Some(k) if inc == k => {}
            previous => {
                let ended = self.new_incarnation(id, inc, previous.is_some());
                if let Msg::Hello { .. } = msg {
                    return Ok(Use::Hello { id, inc, ended });
                }
                if ended.is_some() || previous.is_some() {
                    // The restart is news: say it before the ENTER or EXIT (the caller prints
                    // both when `restart_news` says so).
                    self.news = Some(Use::Hello { id, inc, ended });
                }
            }
        }
        match msg {
            Msg::Hello { .. } => {
                self.duplicates += 1;
                Ok(Use::HelloAgain { id, inc })
            }
            Msg::Enter { t, clock, text, .. } => Ok(Use::Enter {
                id,
                inc,
                t: *t,
                clock: *clock,
                text: text.clone(),
                entry: self.handle_enter(now, id, inc, *t),
            }),
            Msg::Exit { t, clock, .. } => Ok(Use::Exit {
                id,
                inc,
                t: *t,
                clock: *clock,
                exit: self.handle_exit(now, id, inc, *t),
            }),
            _ => Err(Refused::NotForResource),
        }
    }

    /// A restart seen with the message just handled (its first message was an ENTER or
    /// EXIT rather than a HELLO), to be reported before it.
    pub(crate) fn poll_news(&mut self) -> Option<Use> {
        self.news.take()
    }

    /// The acknowledgement to send back to the sender of the last message.
    pub(crate) fn poll_transmit(&mut self) -> Option<Msg> {
        self.ack.take()
    }

    /// Process `id` speaks as a new incarnation `inc`: forget its previous life; a CS that
    /// life held is over. Returns that CS.
    fn new_incarnation(&mut self, id: PeerId, inc: Inc, restart: bool) -> Option<Priority> {
        let fresh = Seen {
            id,
            inc,
            entered: 0,
            exited: 0,
            // A first start or a restart: either way its clock started at 0 (it may have
            // started after the others), so its first entry is not held to the order of
            // the entries before it.
            fresh: true,
        };
        match self.seen.iter_mut().find(|e| e.id == id) {
            Some(e) => *e = fresh,
            // Ids beyond the table (more than MAX_PROCESSES senders) are not tracked; their
            // entries are still checked for overlap and order.
            None => {
                let _ = self.seen.push(fresh);
            }
        }
        if !restart {
            return None;
        }
        self.restarts += 1;
        let ended = self.inside.filter(|h| h.p.id == id && h.inc != inc);
        if let Some(h) = ended {
            self.inside = None;
            self.ended_by_restart += 1;
            return Some(h.p);
        }
        None
    }

    /// An ENTER from `id` (incarnation `inc`) for its request `t`.
    pub(crate) fn handle_enter(&mut self, now: Millis, id: PeerId, inc: Inc, t: u64) -> Entry {
        let me = Priority { t, id };
        if self.entered(id).is_some_and(|last| last >= t) {
            self.duplicates += 1;
            return Entry::Duplicate;
        }
        let overlap = self.inside.filter(|h| h.p != me).map(|h| h.p);
        let fresh = self.seen.iter().any(|e| e.id == id && e.fresh);
        let out_of_order = self.last.filter(|p| *p >= me && !fresh);
        self.violations += u64::from(overlap.is_some()) + u64::from(out_of_order.is_some());
        self.inside = Some(Holder {
            p: me,
            inc,
            since: now,
        });
        self.last = Some(me);
        self.entries += 1;
        self.record(id, inc, |e| {
            e.entered = t;
            e.fresh = false;
        });
        Entry::New {
            overlap,
            out_of_order,
        }
    }

    /// An EXIT from `id` (incarnation `inc`) for its request `t`.
    pub(crate) fn handle_exit(&mut self, now: Millis, id: PeerId, inc: Inc, t: u64) -> Exit {
        if let Some(h) = self
            .inside
            .filter(|h| h.p == Priority { t, id } && h.inc == inc)
        {
            self.inside = None;
            self.record(id, inc, |e| e.exited = t);
            return Exit::Left {
                held: now - h.since,
            };
        }
        if self.exited(id).is_some_and(|last| last >= t)
            || self.entered(id).is_some_and(|last| last > t)
        {
            self.duplicates += 1;
            return Exit::Duplicate;
        }
        self.unknown_exits += 1;
        self.record(id, inc, |e| e.exited = t);
        Exit::Unknown
    }

    /// Who is inside.
    pub fn inside(&self) -> Option<Priority> {
        self.inside.map(|h| h.p)
    }

    fn entered(&self, id: PeerId) -> Option<u64> {
        self.seen.iter().find(|e| e.id == id).map(|e| e.entered)
    }

    fn exited(&self, id: PeerId) -> Option<u64> {
        self.seen.iter().find(|e| e.id == id).map(|e| e.exited)
    }

    fn record(&mut self, id: PeerId, inc: Inc, f: impl FnOnce(&mut Seen)) {
        if let Some(e) = self.seen.iter_mut().find(|e| e.id == id) {
            f(e);
        } else {
            let mut e = Seen {
                id,
                inc,
                entered: 0,
                exited: 0,
                fresh: false,
            };
            f(&mut e);
            let _ = self.seen.push(e);
        }
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
        c.handle_msg(now, Some(PeerId(1)), &enter(1, 10, 5))
            .unwrap();
        let hello = Msg::Hello {
            id: PeerId(1),
            inc: Inc(11),
        };
        assert_eq!(
            c.handle_msg(now, Some(PeerId(1)), &hello),
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
        c.handle_msg(now, Some(PeerId(2)), &enter(2, 20, 7))
            .unwrap();
        assert_eq!(c.violations, 0);
        let exit = Msg::Exit {
            id: PeerId(2),
            inc: Inc(20),
            t: 7,
            clock: 8,
        };
        c.handle_msg(now, Some(PeerId(2)), &exit).unwrap();
        // p1's new life enters with T=1 (its clock started over): not out of order.
        c.handle_msg(now, Some(PeerId(1)), &enter(1, 11, 1))
            .unwrap();
        assert_eq!(c.violations, 0);
        // p2 enters while p1 is inside: a real overlap, still reported.
        c.handle_msg(now, Some(PeerId(2)), &enter(2, 20, 9))
            .unwrap();
        assert_eq!(c.violations, 1);
    }

    /// Issue 1 at the resource: the same (id, T) from a new incarnation is a new entry, not a
    /// duplicate; the old incarnation's late messages are stale.
    #[test]
    fn a_new_incarnation_is_not_a_duplicate_and_an_old_one_is_stale() {
        let mut c = Checker::by_address();
        let now = Millis(0);
        c.handle_msg(now, Some(PeerId(2)), &enter(2, 10, 1))
            .unwrap();
        let exit = Msg::Exit {
            id: PeerId(2),
            inc: Inc(10),
            t: 1,
            clock: 2,
        };
        c.handle_msg(now, Some(PeerId(2)), &exit).unwrap();
        c.handle_msg(now, Some(PeerId(1)), &enter(1, 10, 3))
            .unwrap();
        let again = c
            .handle_msg(now, Some(PeerId(2)), &enter(2, 11, 1))
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
            .handle_msg(now, Some(PeerId(2)), &enter(2, 10, 1))
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
            c.handle_msg(Millis(0), Some(PeerId(1)), &forged),
            Err(Refused::FutureIncarnation { .. })
        ));
        let hello = Msg::Hello {
            id: PeerId(1),
            inc: Inc(5),
        };
        assert!(matches!(
            c.handle_msg(Millis(0), Some(PeerId(1)), &hello),
            Ok(Use::Hello { .. })
        ));
        assert_eq!(
            c.handle_msg(Millis(0), Some(PeerId(1)), &hello),
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
            c.handle_msg(Millis(0), Some(PeerId(2)), &forged),
            Err(Refused::WrongAddress { id: PeerId(1) })
        );
        assert_eq!(
            c.handle_msg(Millis(0), None, &forged),
            Err(Refused::WrongAddress { id: PeerId(1) })
        );
        assert_eq!((c.entries, c.violations), (0, 0));
        assert!(c.poll_transmit().is_none());
        c.handle_msg(Millis(0), Some(PeerId(1)), &enter(1, 1, 2))
            .unwrap();
        assert_eq!(c.entries, 1);
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
