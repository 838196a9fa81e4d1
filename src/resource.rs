//! The shared resource of Lab 1: a UDP server that prints every use of the critical section
//! (who, request timestamp, clock, text) and checks the lab's claim while doing so. It reports
//! a VIOLATION if two processes are ever inside at once, or if successive entries are not in
//! increasing (timestamp, id) order of their requests, which Ricart–Agrawala guarantees.
//!
//! [`Checker`] is the sans-IO part; [`Resource`] puts it on the shared driver. Every ENTER
//! and EXIT is acknowledged (processes resend until it is), and duplicates are recognised by
//! (id, T), so a lossy network neither hides a use nor invents a violation.

use std::io::Write;
use std::time::Instant;

use mio::Poll;

use crate::cli::AddrSpec;
use crate::clock::Millis;
use crate::driver::{open_mesh, App, Datagram, Driver};
use crate::limits::MAX_PROCESSES;
use crate::mesh::{Mesh, StartError};
use crate::output::lab::{ResourceListening, ResourceSummary, UseLine, Violation};
use crate::output::{Output, Verb};
use crate::ra::Priority;
use crate::wire::lab::{AckOf, Msg, PeerId, MAX_TEXT};

/// What an ENTER meant.
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

/// One use of the resource, as a value: what the checker made of an ENTER or an EXIT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Use {
    /// An ENTER.
    Enter {
        /// The process.
        id: PeerId,
        /// Its request timestamp.
        t: u64,
        /// Its clock at entry.
        clock: u64,
        /// Its text.
        text: heapless::String<MAX_TEXT>,
        /// What the checker found.
        entry: Entry,
    },
    /// An EXIT.
    Exit {
        /// The process.
        id: PeerId,
        /// Its request timestamp.
        t: u64,
        /// Its clock at exit.
        clock: u64,
        /// What the checker found.
        exit: Exit,
    },
}

/// A datagram that is a Lab 1 message but not one for the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotForResource;

impl core::fmt::Display for NotForResource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not ENTER or EXIT")
    }
}

impl std::error::Error for NotForResource {}

/// Checks the uses of the CS (sans-IO): feed it messages with [`Checker::handle_msg`], send
/// what [`Checker::poll_transmit`] gives back to the message's sender.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct Checker {
    inside: Option<Priority>,
    since: Millis,
    last: Option<Priority>,
    /// Latest T entered and latest T exited, per process id.
    seen: heapless::Vec<Seen, MAX_PROCESSES>,
    /// The ACK for the last message, to go back to its sender.
    ack: Option<Msg>,
    /// Entries.
    pub entries: u64,
    /// Violations found.
    pub violations: u64,
    /// Duplicates acknowledged again.
    pub duplicates: u64,
    /// Exits with no entry.
    pub unknown_exits: u64,
}

/// What the checker remembers of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Seen {
    id: PeerId,
    entered: u64,
    exited: u64,
}

impl Checker {
    /// A message from the network: ENTER or EXIT is checked and acknowledged (every one,
    /// duplicates too: the process resends until it hears the ACK).
    pub fn handle_msg(&mut self, now: Millis, msg: &Msg) -> Result<Use, NotForResource> {
        match msg {
            Msg::Enter { id, t, clock, text } => {
                let entry = self.handle_enter(now, *id, *t);
                self.ack = Some(Msg::Ack {
                    of: AckOf::Enter,
                    id: *id,
                    t: *t,
                });
                Ok(Use::Enter {
                    id: *id,
                    t: *t,
                    clock: *clock,
                    text: text.clone(),
                    entry,
                })
            }
            Msg::Exit { id, t, clock } => {
                let exit = self.handle_exit(now, *id, *t);
                self.ack = Some(Msg::Ack {
                    of: AckOf::Exit,
                    id: *id,
                    t: *t,
                });
                Ok(Use::Exit {
                    id: *id,
                    t: *t,
                    clock: *clock,
                    exit,
                })
            }
            _ => Err(NotForResource),
        }
    }

    /// The acknowledgement to send back to the sender of the last message.
    pub fn poll_transmit(&mut self) -> Option<Msg> {
        self.ack.take()
    }

    /// An ENTER from `id` for its request `t`.
    pub fn handle_enter(&mut self, now: Millis, id: PeerId, t: u64) -> Entry {
        let me = Priority { t, id };
        if self.entered(id).is_some_and(|last| last >= t) {
            self.duplicates += 1;
            return Entry::Duplicate;
        }
        let overlap = self.inside.filter(|p| *p != me);
        let out_of_order = self.last.filter(|p| *p >= me);
        self.violations += u64::from(overlap.is_some()) + u64::from(out_of_order.is_some());
        self.inside = Some(me);
        self.since = now;
        self.last = Some(me);
        self.entries += 1;
        self.record(id, |e| e.entered = t);
        Entry::New {
            overlap,
            out_of_order,
        }
    }

    /// An EXIT from `id` for its request `t`.
    pub fn handle_exit(&mut self, now: Millis, id: PeerId, t: u64) -> Exit {
        if self.inside == Some(Priority { t, id }) {
            self.inside = None;
            self.record(id, |e| e.exited = t);
            return Exit::Left {
                held: now - self.since,
            };
        }
        if self.exited(id).is_some_and(|last| last >= t)
            || self.entered(id).is_some_and(|last| last > t)
        {
            self.duplicates += 1;
            return Exit::Duplicate;
        }
        self.unknown_exits += 1;
        self.record(id, |e| e.exited = t);
        Exit::Unknown
    }

    /// Who is inside.
    pub fn inside(&self) -> Option<Priority> {
        self.inside
    }

    fn entered(&self, id: PeerId) -> Option<u64> {
        self.seen.iter().find(|e| e.id == id).map(|e| e.entered)
    }

    fn exited(&self, id: PeerId) -> Option<u64> {
        self.seen.iter().find(|e| e.id == id).map(|e| e.exited)
    }

    fn record(&mut self, id: PeerId, f: impl FnOnce(&mut Seen)) {
        if let Some(e) = self.seen.iter_mut().find(|e| e.id == id) {
            f(e);
        } else {
            let mut e = Seen {
                id,
                entered: 0,
                exited: 0,
            };
            f(&mut e);
            // Ids beyond the table (more than MAX_PROCESSES senders) are not tracked for
            // duplicates; their entries are still checked for overlap and order.
            let _ = self.seen.push(e);
        }
    }
}

/// The shared resource on the driver: decode, feed the [`Checker`], send its ACK back, print.
#[derive(Debug)]
pub struct Resource {
    checker: Checker,
    started: Instant,
    malformed: u64,
}

/// Opens the server socket and returns the loop, ready to run.
pub fn start<W: Write>(
    listen: &AddrSpec,
    mut out: Output<W>,
) -> Result<Driver<Resource, W>, StartError> {
    let poll = Poll::new().map_err(StartError::Poll)?;
    let mesh = open_mesh(&poll, listen, &[], &mut out)?;
    out.emit(&ResourceListening {
        addr: mesh.local_addr(),
    });
    let app = Resource {
        checker: Checker::default(),
        started: Instant::now(),
        malformed: 0,
    };
    Ok(Driver::new(poll, mesh, app, out))
}

impl Resource {
    /// The checker's findings so far.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }
}

impl App for Resource {
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout<W: Write>(&mut self, _: Instant, _: &mut Mesh, _: &mut Output<W>) {}

    fn handle_datagram<W: Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        let used = match Msg::decode(d.bytes) {
            Ok(m) => self
                .checker
                .handle_msg(Millis::since(self.started, now), &m),
            Err(e) => {
                self.malformed += 1;
                out.refused(Verb::Ignored, d.from, d.bytes, &e);
                return;
            }
        };
        let used = match used {
            Ok(u) => u,
            Err(e) => {
                self.malformed += 1;
                out.refused(Verb::Ignored, d.from, d.bytes, &e);
                return;
            }
        };
        if let Some(ack) = self.checker.poll_transmit() {
            mesh.send_to(d.from, ack.encode().as_bytes());
        }
        let line = UseLine(&used);
        if line.shown() {
            out.emit(&line);
        }
        for v in Violation::of(&used) {
            out.emit(&v);
        }
    }

    fn finish<W: Write>(&mut self, _: &mut Mesh, out: &mut Output<W>) {
        out.emit(&ResourceSummary {
            ran: self.started.elapsed(),
            checker: &self.checker,
            malformed: self.malformed,
        });
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
            c.handle_enter(Millis(0), PeerId(1), 2),
            Entry::New {
                overlap: None,
                out_of_order: None
            }
        );
        assert_eq!(c.handle_enter(Millis(0), PeerId(1), 2), Entry::Duplicate);
        assert_eq!(
            c.handle_exit(Millis(0), PeerId(1), 2),
            Exit::Left { held: Millis(0) }
        );
        assert_eq!(c.handle_exit(Millis(0), PeerId(1), 2), Exit::Duplicate);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(1), 2),
            Entry::Duplicate,
            "a late resend of the old ENTER"
        );
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(2), 4),
            Entry::New {
                overlap: None,
                out_of_order: None
            }
        );
        assert_eq!(
            c.handle_exit(Millis(0), PeerId(2), 4),
            Exit::Left { held: Millis(0) }
        );
        assert_eq!((c.entries, c.violations, c.duplicates), (2, 0, 3));
    }

    #[test]
    fn two_inside_is_a_violation() {
        let mut c = Checker::default();
        c.handle_enter(Millis(0), PeerId(1), 2);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(2), 4),
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
        c.handle_enter(Millis(0), PeerId(2), 4);
        c.handle_exit(Millis(0), PeerId(2), 4);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(3), 4),
            Entry::New {
                overlap: None,
                out_of_order: None
            },
            "tie on T: id 3 after 2 is fine"
        );
        c.handle_exit(Millis(0), PeerId(3), 4);
        assert_eq!(
            c.handle_enter(Millis(0), PeerId(1), 4),
            Entry::New {
                overlap: None,
                out_of_order: Some(p(4, 3))
            }
        );
        assert_eq!(c.violations, 1);
    }

    #[test]
    fn exit_without_entry_is_noted_not_a_violation() {
        let mut c = Checker::default();
        assert_eq!(c.handle_exit(Millis(0), PeerId(1), 2), Exit::Unknown);
        assert_eq!((c.violations, c.unknown_exits), (0, 1));
    }
}
