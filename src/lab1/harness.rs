//! A Lab 1 group on a hand-driven network: N [`Ra`] cores and the shared resource's
//! [`Checker`], with every message held in flight until the caller delivers, drops or
//! duplicates it. One harness for the unit tests in `ra.rs`, the seeded simulation
//! (`tests/sim.rs`), the allocation test (`tests/alloc.rs`) and the model check
//! (`src/lab1/model_check.rs`): each decides the schedule, the harness applies the cores' rules.
//!
//! After every input the harness drains the cores' outputs and checks the safety claims of the
//! lab: at most one process HELD, entries in increasing (T, id), and the resource saw no
//! overlap or disorder. What it finds is kept in [`Group::faults`], never panicked on, so a
//! simulation can print its seed and a model checker can report a counterexample.

use crate::lab1::checker::{Checker, Use};
use crate::lab1::ra::{self, Event, Key, Logged, Party, Priority, Ra, Rejected, State};
use crate::lab1::wire::{Inc, Msg, PeerId};
use crate::values::time::Millis;

/// A message in flight.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Its sender.
    pub from: Party,
    /// Its destination.
    pub to: Party,
    /// The message.
    pub msg: Msg,
}

/// A broken safety claim, found after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// More than one process HELD at once.
    TwoHeld(Vec<PeerId>),
    /// An entry whose (T, id) is not above the previous entry's.
    Order {
        /// The previous entry.
        before: Priority,
        /// This one.
        after: Priority,
    },
    /// The resource saw an overlap, disorder or an exit without entry.
    Resource(Use),
}

/// The settings every process of a test group gets: CS time 1 s, retry 100 ms, patience 3 s.
pub(crate) fn config(id: u16, n: u16) -> ra::Config {
    ra::Config {
        id: PeerId(id),
        n,
        cs_time: Millis(1000),
        retry: Millis(100),
        resource_patience: Millis(3000),
        text: heapless::String::try_from("Oi").expect("two ASCII bytes fit MAX_TEXT"),
        inc: Inc(1),
    }
}

/// N processes, the resource and the messages between them.
#[derive(Debug, Clone)]
pub struct Group {
    /// Process j is `ps[j - 1]`.
    pub ps: Vec<Ra>,
    /// The shared resource.
    pub resource: Checker,
    /// Virtual time.
    pub now: Millis,
    /// Messages sent and not yet delivered, oldest first.
    pub wire: Vec<Packet>,
    /// Every event of every process, in order, if [`Group::record`] is on.
    pub(crate) log: Vec<(PeerId, Logged)>,
    /// Keep events in `log` (off: events are checked and dropped, nothing grows).
    pub record: bool,
    /// Broken claims found so far.
    pub faults: Vec<Fault>,
    last_entry: Option<Priority>,
    /// Processes restarted and not entered since: their first entry is not held to the order
    /// of the entries before (their clock started over).
    fresh: Vec<PeerId>,
}

impl Group {
    /// `n` processes with [`config`], clocks at 0, nothing in flight.
    pub fn new(n: u16) -> Group {
        Group::with(n, config)
    }

    /// `n` processes with the settings `cfg(id, n)`.
    ///
    /// # Panics
    /// If `cfg` gives an impossible configuration (a bug in the caller).
    pub fn with(n: u16, cfg: impl Fn(u16, u16) -> ra::Config) -> Group {
        Group {
            ps: (1..=n)
                .map(|i| Ra::new(cfg(i, n)).expect("a valid test configuration"))
                .collect(),
            resource: Checker::by_address(),
            now: Millis(0),
            wire: Vec::with_capacity(64),
            log: Vec::new(),
            record: true,
            faults: Vec::new(),
            last_entry: None,
            fresh: Vec::new(),
        }
    }

    /// Process `id`.
    pub(crate) fn p(&mut self, id: u16) -> &mut Ra {
        &mut self.ps[usize::from(id) - 1]
    }

    /// A keyboard command to process `id`.
    pub fn key(&mut self, id: u16, k: Key) {
        let now = self.now;
        self.p(id).handle_key(now, k);
        self.drain();
    }

    /// Delivers `p`: to a process, as from its real sender; to the resource, whose ACK goes
    /// back on the wire.
    pub fn deliver(&mut self, p: Packet) -> Result<(), Rejected> {
        let now = self.now;
        let r = match p.to {
            Party::Process(j) => self.p(j.0).handle_msg(now, Some(p.from), &p.msg),
            Party::Resource => {
                let from = match p.from {
                    Party::Process(j) => Some(j),
                    Party::Resource => None,
                };
                // Each process's one address (the checker keys lives by it without a list).
                let at =
                    std::net::SocketAddr::from(([127, 0, 0, 1], 10_001 + from.map_or(0, |j| j.0)));
                if let Ok(u) = self.resource.handle_msg(now, from, at, &p.msg) {
                    if u.is_fault() {
                        self.faults.push(Fault::Resource(u));
                    }
                }
                if let Some(ack) = self.resource.poll_transmit() {
                    self.wire.push(Packet {
                        from: Party::Resource,
                        to: p.from,
                        msg: ack,
                    });
                }
                Ok(())
            }
        };
        self.drain();
        r
    }

    /// Takes the `i`th message in flight off the wire and delivers it.
    pub fn deliver_at(&mut self, i: usize) -> Result<(), Rejected> {
        let p = self.wire.remove(i);
        self.deliver(p)
    }

    /// Delivers the oldest message in flight from `from` to `to`; returns the receiver's
    /// clock afterwards (0 for the resource).
    ///
    /// # Panics
    /// If there is no such message or the receiver rejects it (a broken test).
    pub fn deliver_first(&mut self, from: Party, to: Party) -> u64 {
        let i = self
            .wire
            .iter()
            .position(|p| p.from == from && p.to == to)
            .unwrap_or_else(|| panic!("nothing from {from:?} to {to:?}: {:?}", self.wire));
        self.deliver_at(i).expect("accepted");
        match to {
            Party::Process(j) => self.p(j.0).clock(),
            Party::Resource => 0,
        }
    }

    /// Delivers what is in flight to the resource now, then the ACKs it sends back (what the
    /// processes send in turn stays in flight).
    pub fn ack_resource(&mut self) {
        let (to_resource, rest): (Vec<Packet>, Vec<Packet>) =
            self.wire.drain(..).partition(|p| p.to == Party::Resource);
        self.wire = rest;
        for p in to_resource {
            // Not checked: the resource takes every ENTER and EXIT.
            let _ = self.deliver(p);
        }
        while let Some(i) = self.wire.iter().position(|p| p.from == Party::Resource) {
            // Not checked: ACKs go back to the process that sent the ENTER or EXIT.
            let _ = self.deliver_at(i);
        }
    }

    /// Process `id` is killed (`kill -9`: no EXIT, no goodbye) and started again with the
    /// next incarnation, its clock back at 0; it says HELLO to the resource. What it sent
    /// before stays in flight, as on a real network.
    pub fn restart(&mut self, id: u16) {
        let old = &self.ps[usize::from(id) - 1];
        let mut cfg = old.config().clone();
        cfg.inc = Inc(cfg.inc.0 + 1);
        self.ps[usize::from(id) - 1] = Ra::new(cfg).expect("the same configuration");
        self.fresh.push(PeerId(id));
        let now = self.now;
        self.p(id).start(now);
        self.drain();
    }

    /// Process `id` is stopped (SIGTERM): inside the CS it leaves, and answers who waits once
    /// its EXIT is acknowledged ([`Ra::stop`] says when it is done; until then it runs on).
    /// [`Group::restart`] brings it back.
    pub fn stop(&mut self, id: u16) -> bool {
        let now = self.now;
        let done = self.p(id).stop(now);
        self.drain();
        done
    }

    /// Moves virtual time `ms` forward and lets every process do what is due.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now + Millis(ms);
        let now = self.now;
        for p in &mut self.ps {
            p.handle_timeout(now);
        }
        self.drain();
    }

    /// The earliest time a process has work to do.
    pub fn next_timeout(&self) -> Option<Millis> {
        self.ps.iter().filter_map(Ra::poll_timeout).min()
    }

    /// Processes in state HELD.
    pub(crate) fn held(&self) -> Vec<PeerId> {
        self.ps
            .iter()
            .filter(|p| p.state() == State::Held)
            .map(Ra::id)
            .collect()
    }

    /// Moves every process's transmits to the wire and checks its events and the group's
    /// state. Called after every input by the methods above; call it after driving a core
    /// directly.
    pub fn drain(&mut self) {
        for p in &mut self.ps {
            let me = Party::Process(p.id());
            while let Some(t) = p.poll_transmit() {
                self.wire.push(Packet {
                    from: me,
                    to: t.to,
                    msg: t.msg,
                });
            }
            while let Some(l) = p.poll_event() {
                if let Event::Entered { t, .. } = l.event {
                    let e = Priority { t, id: p.id() };
                    let fresh = self.fresh.contains(&p.id());
                    self.fresh.retain(|f| *f != p.id());
                    if let Some(before) = self.last_entry.filter(|b| *b >= e && !fresh) {
                        self.faults.push(Fault::Order { before, after: e });
                    }
                    self.last_entry = Some(e);
                }
                if self.record {
                    self.log.push((p.id(), l));
                }
            }
        }
        if self.ps.iter().filter(|p| p.state() == State::Held).count() > 1 {
            let held = self.held();
            self.faults.push(Fault::TwoHeld(held));
        }
    }

    /// The events of process `id` so far (with [`Group::record`] on).
    pub fn events_of(&self, id: u16) -> Vec<Event> {
        self.log
            .iter()
            .filter(|(p, _)| p.0 == id)
            .map(|(_, l)| l.event)
            .collect()
    }
}
