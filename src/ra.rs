//! The Ricart–Agrawala core with Lamport clocks: a sans-IO state machine. It never touches a
//! socket or reads a clock, so tests (and the simulation in `tests/sim.rs`) drive it directly.
//!
//! Inputs, each with the current time: [`Ra::handle_key`] (the keyboard: `x` or the own id),
//! [`Ra::request`], [`Ra::handle_msg`] (a decoded datagram) and [`Ra::handle_timeout`].
//! Outputs, drained after every input: [`Ra::poll_transmit`] (messages to send),
//! [`Ra::poll_event`] (what to print, with the clock and state) and [`Ra::poll_timeout`]
//! (when to call `handle_timeout` next).
//!
//! # The algorithm (Coulouris; the course's LAB1-SPEC §3–5)
//! States RELEASED → WANTED → HELD → RELEASED. Clock rules: an internal event ticks; a request
//! ticks once and every REQUEST carries that T; receiving a REQUEST or a REPLY sets
//! `clock = max(clock, msg) + 1` (before deciding); sending a REPLY does not tick; entering,
//! leaving and talking to the shared resource do not tick. A REQUEST (T, j) is deferred while
//! HELD, or while WANTED with own (T, i) < (T, j) (lexicographic: smaller T, then smaller id).
//!
//! # Over a lossy network
//! A REQUEST is resent to the processes that have not replied to that T, after `retry`, then
//! after twice as long each time (up to ten `retry`s: a deferred request waits for a whole
//! critical section, and resending it every `retry` would only add traffic). A
//! duplicate REQUEST (same T as the last one seen from that process) is not an event: no tick,
//! and if it was already answered the REPLY is sent again (the first one may have been lost).
//! A REQUEST with an older T than the last one seen (a late duplicate, or a process that
//! restarted) gets the usual answer too, which is safe either way, but never replaces what is
//! known of the newer request. A REPLY counts only
//! for the current request's T and once per process; any other REPLY is a duplicate and
//! changes nothing. ENTER and EXIT go to the shared resource and are resent until
//! acknowledged; the deferred replies go out only after the EXIT is acknowledged (or the
//! resource stayed silent for `resource_patience`), so the resource sees every use in order.

use std::collections::VecDeque;

use crate::clock::Millis;
use crate::limits::MAX_PROCESSES;
use crate::wire::lab::{AckOf, Msg, PeerId, MAX_TEXT};

const EV_CAP: usize = 32;

/// A request's priority: its timestamp, then the requester's id (smaller wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    /// Request timestamp.
    pub t: u64,
    /// Requester.
    pub id: PeerId,
}

/// The process's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not interested in the CS.
    Released,
    /// Waiting for replies.
    Wanted,
    /// In the CS (including the wait for the resource's last ACK before releasing).
    Held,
}

impl State {
    /// As the course writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Released => "RELEASED",
            State::Wanted => "WANTED",
            State::Held => "HELD",
        }
    }
}

/// A keyboard command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `x`: ask for the CS.
    Request,
    /// The own id: an internal event.
    Internal,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Another process.
    Peer(PeerId),
    /// The shared resource.
    Resource,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// To whom.
    pub to: Dest,
    /// What.
    pub msg: Msg,
}

/// What the process did with a REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Replied at once.
    Replied,
    /// Queued until release.
    Deferred,
}

/// Something worth a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The own id was typed: the clock ticked.
    Internal,
    /// `x` while WANTED or HELD (`x ignorado`).
    Ignored,
    /// Asked for the CS with timestamp `t`; waiting for `need` replies.
    Requested {
        /// Request timestamp.
        t: u64,
        /// Replies needed.
        need: u16,
    },
    /// A new REQUEST arrived.
    Request {
        /// From.
        from: PeerId,
        /// Its timestamp.
        t: u64,
        /// What we did.
        answer: Answer,
    },
    /// A REPLY to our current request arrived.
    Reply {
        /// From.
        from: PeerId,
        /// Replies so far.
        got: u16,
        /// Replies needed.
        need: u16,
    },
    /// Entered the CS (`Entrei na CS`).
    Entered {
        /// Request timestamp.
        t: u64,
        /// Time from request to entry.
        waited: Millis,
    },
    /// Left the CS (`Sai da CS`); the release follows the resource's ACK.
    Left {
        /// Request timestamp.
        t: u64,
    },
    /// RELEASED again; the deferred requests were answered.
    Released {
        /// Deferred REPLYs sent.
        replied: u16,
    },
    /// The shared resource did not acknowledge in time; going on without it.
    ResourceSilent {
        /// What was not acknowledged.
        of: AckOf,
    },
}

/// An event with the clock and state right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    /// Lamport clock.
    pub clock: u64,
    /// State.
    pub state: State,
    /// What happened.
    pub event: Event,
}

/// Why a message was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The id is not in 1..=N.
    UnknownId(PeerId),
    /// The message claims to come from ourselves.
    FromSelf,
    /// ENTER or EXIT: meant for the shared resource.
    NotForProcess,
    /// An ACK for another process.
    NotOurs,
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Rejected::UnknownId(id) => write!(f, "unknown process id {id}"),
            Rejected::FromSelf => f.write_str("claims to come from this process"),
            Rejected::NotForProcess => f.write_str("meant for the shared resource"),
            Rejected::NotOurs => f.write_str("an ACK for another process"),
        }
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Own id, 1..=n.
    pub id: PeerId,
    /// Processes in the group.
    pub n: u16,
    /// Time spent inside the CS.
    pub cs_time: Millis,
    /// Resend period for unanswered REQUESTs and unacknowledged ENTER/EXIT.
    pub retry: Millis,
    /// Give up on the resource's ACK after this long.
    pub resource_patience: Millis,
    /// The text sent with ENTER.
    pub text: heapless::String<MAX_TEXT>,
}

/// Why a configuration is impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The id is not in 1..=n.
    IdOutOfRange,
    /// More than [`MAX_PROCESSES`].
    TooMany,
}

/// Totals for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests made.
    pub requests: u64,
    /// CS entries.
    pub entries: u64,
    /// REQUEST and REPLY messages sent (resends included).
    pub sent: u64,
    /// Of those, resends.
    pub resent: u64,
    /// ENTER/EXIT sent to the resource (resends included).
    pub resource_sent: u64,
    /// Of those, resends.
    pub resource_resent: u64,
    /// Duplicate or stale messages received and ignored.
    pub duplicates: u64,
    /// Longest time from request to entry.
    pub worst_wait: Millis,
    /// Sum of the waits (for the average).
    pub total_wait: Millis,
    /// Times the resource did not acknowledge.
    pub resource_silent: u64,
    /// Events lost because the caller did not drain them (a bug: reported).
    pub events_dropped: u64,
}

/// ENTER or EXIT waiting for the resource's ACK.
#[derive(Debug, Clone)]
struct Pending {
    msg: Msg,
    of: AckOf,
    t: u64,
    next: Millis,
    give_up: Millis,
}

/// One process's Ricart–Agrawala state machine.
#[derive(Debug)]
pub struct Ra {
    cfg: Config,
    clock: u64,
    state: State,
    /// The current request (WANTED or HELD).
    mine: Option<Priority>,
    requested_at: Millis,
    // The tables below are allocated once, for the group's size, and never grow.
    /// `granted[j - 1]`: j replied to the current request.
    granted: Vec<bool>,
    got: u16,
    /// Requests to answer at release: one per other process, or two when an older T came
    /// after a newer one (a late duplicate, or a restart).
    deferred: Vec<Priority>,
    /// `seen[j - 1]`: the last request T from j, and whether it was answered.
    seen: Vec<Option<(u64, bool)>>,
    retry_at: Option<Millis>,
    /// The wait before the next resend of REQUEST: doubles up to ten `retry`s, so a request
    /// that is deferred (another process is inside) is not resent every `retry`.
    retry_wait: Millis,
    cs_until: Option<Millis>,
    leaving: bool,
    pending: Option<Pending>,
    /// Holds what one input produces (at most N−1 messages, or N−1 replies and one to the
    /// resource); the caller drains it after every input, so it never grows.
    transmits: VecDeque<Transmit>,
    events: heapless::Deque<Logged, EV_CAP>,
    stats: Stats,
}

impl Ra {
    /// A process in state RELEASED with clock 0.
    pub fn new(cfg: Config) -> Result<Ra, ConfigError> {
        let n = usize::from(cfg.n);
        if n > MAX_PROCESSES {
            return Err(ConfigError::TooMany);
        }
        if cfg.id.0 == 0 || cfg.id.0 > cfg.n {
            return Err(ConfigError::IdOutOfRange);
        }
        Ok(Ra {
            cfg,
            clock: 0,
            state: State::Released,
            mine: None,
            requested_at: Millis(0),
            granted: vec![false; n],
            got: 0,
            deferred: Vec::with_capacity(2 * n),
            seen: vec![None; n],
            retry_at: None,
            retry_wait: Millis(0),
            cs_until: None,
            leaving: false,
            pending: None,
            transmits: VecDeque::with_capacity(2 * n + 2),
            events: heapless::Deque::new(),
            stats: Stats::default(),
        })
    }

    /// The Lamport clock.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Own id.
    pub fn id(&self) -> PeerId {
        self.cfg.id
    }

    /// Totals.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The current request, if WANTED or HELD.
    pub fn current(&self) -> Option<Priority> {
        self.mine
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next line to print.
    pub fn poll_event(&mut self) -> Option<Logged> {
        self.events.pop_front()
    }

    /// When [`Ra::handle_timeout`] has work next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let retry = if self.state == State::Wanted {
            self.retry_at
        } else {
            None
        };
        [retry, self.cs_until, self.pending.as_ref().map(|p| p.next)]
            .into_iter()
            .flatten()
            .min()
    }

    /// A keyboard command.
    pub fn handle_key(&mut self, now: Millis, key: Key) {
        match key {
            Key::Internal => {
                self.clock = self.clock.saturating_add(1);
                self.log(Event::Internal);
            }
            Key::Request if self.state == State::Released => self.request(now),
            Key::Request => self.log(Event::Ignored),
        }
    }

    /// Asks for the CS (ignored unless RELEASED: use [`Ra::handle_key`] to get `x ignorado`).
    pub fn request(&mut self, now: Millis) {
        if self.state != State::Released {
            return;
        }
        self.clock = self.clock.saturating_add(1);
        let t = self.clock;
        self.mine = Some(Priority { t, id: self.cfg.id });
        self.state = State::Wanted;
        self.requested_at = now;
        self.got = 0;
        self.granted.iter_mut().for_each(|g| *g = false);
        self.stats.requests += 1;
        let need = self.cfg.n - 1;
        self.log(Event::Requested { t, need });
        for j in self.others() {
            self.send(Dest::Peer(j), Msg::Request { id: self.cfg.id, t });
        }
        self.retry_wait = self.cfg.retry;
        self.retry_at = Some(now + self.retry_wait);
        if need == 0 {
            self.enter(now);
        }
    }

    /// A decoded message from the network.
    pub fn handle_msg(&mut self, now: Millis, msg: &Msg) -> Result<(), Rejected> {
        match *msg {
            Msg::Request { id, t } => {
                self.check_peer(id)?;
                self.on_request(id, t);
                Ok(())
            }
            Msg::Reply { id, clock, t } => {
                self.check_peer(id)?;
                self.on_reply(now, id, clock, t);
                Ok(())
            }
            Msg::Ack { of, id, t } => {
                if id != self.cfg.id {
                    return Err(Rejected::NotOurs);
                }
                self.on_ack(now, of, t);
                Ok(())
            }
            Msg::Enter { .. } | Msg::Exit { .. } => Err(Rejected::NotForProcess),
        }
    }

    /// Does whatever is due at `now`: resends, leaving the CS, giving up on the resource.
    /// A call with nothing due is a no-op.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.state == State::Wanted && self.retry_at.is_some_and(|r| r <= now) {
            if let Some(mine) = self.mine {
                for j in self.others() {
                    if !self.granted[idx(j)] {
                        self.stats.resent += 1;
                        self.send(
                            Dest::Peer(j),
                            Msg::Request {
                                id: self.cfg.id,
                                t: mine.t,
                            },
                        );
                    }
                }
            }
            self.retry_wait = Millis((self.retry_wait.0 * 2).min(self.cfg.retry.0 * 10));
            self.retry_at = Some(now + self.retry_wait);
        }
        if let Some(p) = &mut self.pending {
            if p.next <= now {
                if now >= p.give_up {
                    let of = p.of;
                    self.pending = None;
                    self.stats.resource_silent += 1;
                    self.log(Event::ResourceSilent { of });
                    self.after_ack(now, of);
                } else {
                    p.next = now + self.cfg.retry;
                    let msg = p.msg.clone();
                    self.stats.resource_resent += 1;
                    self.send(Dest::Resource, msg);
                }
            }
        }
        if self.state == State::Held && !self.leaving && self.cs_until.is_some_and(|u| u <= now) {
            self.cs_until = None;
            self.leaving = true;
            let t = self.mine.map_or(0, |m| m.t);
            self.log(Event::Left { t });
            if self.pending.is_none() {
                self.start_exit(now);
            }
        }
    }

    fn others(&self) -> impl Iterator<Item = PeerId> {
        let me = self.cfg.id;
        (1..=self.cfg.n).map(PeerId).filter(move |j| *j != me)
    }

    fn check_peer(&self, id: PeerId) -> Result<(), Rejected> {
        if id == self.cfg.id {
            Err(Rejected::FromSelf)
        } else if id.0 == 0 || id.0 > self.cfg.n {
            Err(Rejected::UnknownId(id))
        } else {
            Ok(())
        }
    }

    fn on_request(&mut self, from: PeerId, t: u64) {
        let last = self.seen[idx(from)];
        if let Some((last_t, answered)) = last {
            if t == last_t {
                // A resend: our REPLY may have been lost. Not a new event: no tick.
                self.stats.duplicates += 1;
                if answered {
                    self.stats.resent += 1;
                    self.send(
                        Dest::Peer(from),
                        Msg::Reply {
                            id: self.cfg.id,
                            clock: self.clock,
                            t,
                        },
                    );
                }
                return;
            }
        }
        // A T below the last one seen is a late duplicate, or the process restarted without a
        // goodbye (its clock starts over). Both get the usual answer: a late duplicate's REPLY
        // is ignored by its sender, which only counts REPLYs for its current T, and a restarted
        // process is served. But an older T never replaces what we know of the newer request.
        let older = last.is_some_and(|(last_t, _)| t < last_t);
        // Saturating: a forged timestamp near u64::MAX must not wrap the clock to 0.
        self.clock = self.clock.max(t).saturating_add(1);
        let theirs = Priority { t, id: from };
        let defer = match (self.state, self.mine) {
            (State::Held, _) => true,
            (State::Wanted, Some(mine)) => mine < theirs,
            _ => false,
        };
        let answer = if defer {
            if older {
                // Kept beside the newer one (at most one older per process): at release both
                // are answered.
                let newest = last.map(|(last_t, _)| last_t);
                self.deferred
                    .retain(|p| p.id != from || Some(p.t) == newest);
                self.deferred.push(theirs);
            } else {
                // A newer request replaces the older ones of that process.
                self.deferred.retain(|p| p.id != from);
                self.deferred.push(theirs);
                self.seen[idx(from)] = Some((t, false));
            }
            Answer::Deferred
        } else {
            if !older {
                self.seen[idx(from)] = Some((t, true));
            }
            self.send(
                Dest::Peer(from),
                Msg::Reply {
                    id: self.cfg.id,
                    clock: self.clock,
                    t,
                },
            );
            Answer::Replied
        };
        self.log(Event::Request { from, t, answer });
    }

    fn on_reply(&mut self, now: Millis, from: PeerId, clock: u64, t: u64) {
        let current = self.state == State::Wanted && self.mine.is_some_and(|m| m.t == t);
        if !current || self.granted[idx(from)] {
            self.stats.duplicates += 1;
            return;
        }
        self.granted[idx(from)] = true;
        self.got += 1;
        self.clock = self.clock.max(clock).saturating_add(1);
        let need = self.cfg.n - 1;
        self.log(Event::Reply {
            from,
            got: self.got,
            need,
        });
        if self.got == need {
            self.enter(now);
        }
    }

    fn on_ack(&mut self, now: Millis, of: AckOf, t: u64) {
        match &self.pending {
            Some(p) if p.of == of && p.t == t => {
                self.pending = None;
                self.after_ack(now, of);
            }
            _ => self.stats.duplicates += 1,
        }
    }

    fn enter(&mut self, now: Millis) {
        let t = self.mine.map_or(0, |m| m.t);
        self.state = State::Held;
        self.retry_at = None;
        self.cs_until = Some(now + self.cfg.cs_time);
        let waited = now - self.requested_at;
        self.stats.entries += 1;
        self.stats.total_wait = self.stats.total_wait + waited;
        self.stats.worst_wait = self.stats.worst_wait.max(waited);
        self.log(Event::Entered { t, waited });
        let msg = Msg::Enter {
            id: self.cfg.id,
            t,
            clock: self.clock,
            text: self.cfg.text.clone(),
        };
        self.start_pending(now, msg, AckOf::Enter, t);
    }

    fn start_exit(&mut self, now: Millis) {
        let t = self.mine.map_or(0, |m| m.t);
        let msg = Msg::Exit {
            id: self.cfg.id,
            t,
            clock: self.clock,
        };
        self.start_pending(now, msg, AckOf::Exit, t);
    }

    fn start_pending(&mut self, now: Millis, msg: Msg, of: AckOf, t: u64) {
        self.send(Dest::Resource, msg.clone());
        self.pending = Some(Pending {
            msg,
            of,
            t,
            next: now + self.cfg.retry,
            give_up: now + self.cfg.resource_patience,
        });
    }

    /// The resource acknowledged `of` (or stayed silent): go on with the exit.
    fn after_ack(&mut self, now: Millis, of: AckOf) {
        match of {
            AckOf::Enter if self.leaving => self.start_exit(now),
            AckOf::Enter => {}
            AckOf::Exit => self.release(),
        }
    }

    fn release(&mut self) {
        self.state = State::Released;
        self.leaving = false;
        self.mine = None;
        let mut replied = 0;
        while let Some(p) = self.deferred.pop() {
            if self.seen[idx(p.id)].is_some_and(|(t, _)| t == p.t) {
                self.seen[idx(p.id)] = Some((p.t, true));
            }
            self.send(
                Dest::Peer(p.id),
                Msg::Reply {
                    id: self.cfg.id,
                    clock: self.clock,
                    t: p.t,
                },
            );
            replied += 1;
        }
        self.log(Event::Released { replied });
    }

    fn send(&mut self, to: Dest, msg: Msg) {
        match to {
            Dest::Peer(_) => self.stats.sent += 1,
            Dest::Resource => self.stats.resource_sent += 1,
        }
        self.transmits.push_back(Transmit { to, msg });
    }

    fn log(&mut self, event: Event) {
        let l = Logged {
            clock: self.clock,
            state: self.state,
            event,
        };
        if self.events.push_back(l).is_err() {
            self.stats.events_dropped += 1;
        }
    }
}

fn idx(id: PeerId) -> usize {
    usize::from(id.0) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(id: u16, n: u16) -> Config {
        Config {
            id: PeerId(id),
            n,
            cs_time: Millis(1000),
            retry: Millis(100),
            resource_patience: Millis(3000),
            text: heapless::String::try_from("Oi").unwrap(),
        }
    }

    /// N processes and their outgoing messages, delivered by hand.
    struct Group {
        ps: Vec<Ra>,
        /// (from, transmit) not yet delivered.
        wire: Vec<(PeerId, Transmit)>,
        now: Millis,
    }

    impl Group {
        fn new(n: u16) -> Group {
            Group {
                ps: (1..=n).map(|i| Ra::new(cfg(i, n)).unwrap()).collect(),
                wire: Vec::new(),
                now: Millis(0),
            }
        }
        fn p(&mut self, id: u16) -> &mut Ra {
            &mut self.ps[usize::from(id) - 1]
        }
        fn collect(&mut self) {
            for p in &mut self.ps {
                while let Some(t) = p.poll_transmit() {
                    self.wire.push((p.id(), t));
                }
                while p.poll_event().is_some() {}
            }
        }
        fn key(&mut self, id: u16, k: Key) {
            let now = self.now;
            self.p(id).handle_key(now, k);
            self.collect();
        }
        /// Delivers the first pending message from `from` to `to`; returns the receiver's clock.
        fn deliver(&mut self, from: u16, to: Dest) -> u64 {
            let i = self
                .wire
                .iter()
                .position(|(f, t)| f.0 == from && t.to == to)
                .unwrap_or_else(|| panic!("nothing from {from} to {to:?}: {:?}", self.wire));
            let (_, t) = self.wire.remove(i);
            let now = self.now;
            let Dest::Peer(dst) = to else {
                panic!("resource")
            };
            self.p(dst.0).handle_msg(now, &t.msg).unwrap();
            self.collect();
            self.p(dst.0).clock()
        }
        /// Acknowledges everything sent to the resource.
        fn ack_resource(&mut self) {
            let (res, rest): (Vec<_>, Vec<_>) = self
                .wire
                .drain(..)
                .partition(|(_, t)| t.to == Dest::Resource);
            self.wire = rest;
            let now = self.now;
            for (from, t) in res {
                let (of, rt) = match t.msg {
                    Msg::Enter { t, .. } => (AckOf::Enter, t),
                    Msg::Exit { t, .. } => (AckOf::Exit, t),
                    ref m => panic!("{m:?}"),
                };
                self.p(from.0)
                    .handle_msg(
                        now,
                        &Msg::Ack {
                            of,
                            id: from,
                            t: rt,
                        },
                    )
                    .unwrap();
            }
            self.collect();
        }
        fn advance(&mut self, ms: u64) {
            self.now = self.now + Millis(ms);
            let now = self.now;
            for p in &mut self.ps {
                p.handle_timeout(now);
            }
            self.collect();
        }
    }

    fn peer(id: u16) -> Dest {
        Dest::Peer(PeerId(id))
    }

    // ---------------------------------------------------------------- the handout's Figure 1

    #[test]
    fn golden_figure_1() {
        let mut g = Group::new(3);
        // P1: internal event (1), then requests with T=2.
        g.key(1, Key::Internal);
        assert_eq!(g.p(1).clock(), 1);
        g.key(1, Key::Request);
        assert_eq!((g.p(1).clock(), g.p(1).current().unwrap().t), (2, 2));
        // P2 and P3 go to 3 and reply.
        assert_eq!(g.deliver(1, peer(2)), 3);
        assert_eq!(g.deliver(1, peer(3)), 3);
        // P1 goes to 4, then 5, and enters; then an internal event (6).
        assert_eq!(g.deliver(2, peer(1)), 4);
        assert_eq!(g.deliver(3, peer(1)), 5);
        assert_eq!(g.p(1).state(), State::Held);
        g.key(1, Key::Internal);
        assert_eq!(g.p(1).clock(), 6);
        g.advance(1000); // leaves: EXIT to the resource
        g.ack_resource(); // ENTER and EXIT acknowledged: RELEASED
        g.advance(0);
        g.ack_resource();
        assert_eq!(g.p(1).state(), State::Released);

        // P2 requests with T=4. P1 goes to 7, P3 to 5. P2 goes to 8, then 9, enters; internal (10).
        g.key(2, Key::Request);
        assert_eq!(g.p(2).current().unwrap().t, 4);
        assert_eq!(g.deliver(2, peer(1)), 7);
        assert_eq!(g.deliver(2, peer(3)), 5);
        assert_eq!(g.deliver(1, peer(2)), 8);
        assert_eq!(g.deliver(3, peer(2)), 9);
        assert_eq!(g.p(2).state(), State::Held);
        g.key(2, Key::Internal);
        assert_eq!(g.p(2).clock(), 10);
        g.advance(1000);
        g.ack_resource();
        g.advance(0);
        g.ack_resource();

        // P3 requests with T=6. P1 goes to 8, P2 to 11. P3 goes to 9, then 12; internal (13).
        g.key(3, Key::Request);
        assert_eq!(g.p(3).current().unwrap().t, 6);
        assert_eq!(g.deliver(3, peer(1)), 8);
        assert_eq!(g.deliver(3, peer(2)), 11);
        assert_eq!(g.deliver(1, peer(3)), 9);
        assert_eq!(g.deliver(2, peer(3)), 12);
        assert_eq!(g.p(3).state(), State::Held);
        g.key(3, Key::Internal);
        assert_eq!(g.p(3).clock(), 13);
    }

    // ---------------------------------------------------------------- RELEASED

    #[test]
    fn released_replies_at_once_and_replying_does_not_tick() {
        let mut g = Group::new(3);
        g.key(2, Key::Request);
        assert_eq!(g.deliver(2, peer(1)), 2);
        let (_, t) = g
            .wire
            .iter()
            .find(|(f, t)| f.0 == 1 && t.to == peer(2))
            .unwrap();
        assert_eq!(
            t.msg,
            Msg::Reply {
                id: PeerId(1),
                clock: 2,
                t: 1
            }
        );
    }

    #[test]
    fn own_id_ticks_in_any_state_and_keeps_t() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.key(1, Key::Internal);
        assert_eq!((g.p(1).clock(), g.p(1).current().unwrap().t), (2, 1));
    }

    // ---------------------------------------------------------------- WANTED

    #[test]
    fn x_while_wanted_or_held_is_ignored() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        let before = g.p(1).clock();
        g.p(1).handle_key(Millis(0), Key::Request);
        let ev: Vec<Event> = std::iter::from_fn(|| g.p(1).poll_event())
            .map(|l| l.event)
            .collect();
        assert_eq!(ev, [Event::Ignored]);
        assert_eq!(g.p(1).clock(), before);
        assert!(g.p(1).poll_transmit().is_none());
    }

    #[test]
    fn wanted_defers_a_later_request_and_yields_to_an_earlier_one() {
        let mut g = Group::new(3);
        // P3 requests first (T=1), P1 second (T=1 as well: a tie, smaller id wins).
        g.key(3, Key::Request);
        g.key(1, Key::Request);
        // P1 gets P3's request (1,3) while WANTED with (1,1): (1,1) < (1,3): defer.
        g.deliver(3, peer(1));
        assert!(!g
            .wire
            .iter()
            .any(|(f, t)| f.0 == 1 && t.to == peer(3) && matches!(t.msg, Msg::Reply { .. })));
        // P3 gets P1's request: (1,3) > (1,1): reply.
        g.deliver(1, peer(3));
        assert!(g
            .wire
            .iter()
            .any(|(f, t)| f.0 == 3 && t.to == peer(1) && matches!(t.msg, Msg::Reply { .. })));
    }

    #[test]
    fn comparison_uses_own_t_not_the_current_clock() {
        let mut g = Group::new(2);
        g.key(1, Key::Request); // T=1
        for _ in 0..10 {
            g.key(1, Key::Internal); // clock 11, T still 1
        }
        g.key(2, Key::Request); // T=1 for P2: (1,1) < (1,2): P1 defers
        g.deliver(2, peer(1));
        assert!(!g
            .wire
            .iter()
            .any(|(f, t)| f.0 == 1 && matches!(t.msg, Msg::Reply { .. })));
        // P2 gets P1's (1,1) while wanting (1,2): replies, P1 enters.
        g.deliver(1, peer(2));
        g.deliver(2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        assert_eq!(g.p(2).state(), State::Wanted);
    }

    #[test]
    fn lost_requests_and_replies_are_resent_and_duplicates_ignored() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.wire.clear(); // the REQUEST is lost
        g.advance(100);
        g.deliver(1, peer(2)); // the resend arrives: P2 replies (clock 2)
        g.wire.clear(); // the REPLY is lost
        g.advance(100);
        assert!(g.wire.is_empty(), "the second resend waits twice as long");
        g.advance(100);
        let clock2 = g.p(2).clock();
        g.deliver(1, peer(2)); // a duplicate REQUEST: no tick, the REPLY again
        assert_eq!(g.p(2).clock(), clock2);
        assert_eq!(g.p(2).stats().duplicates, 1);
        g.deliver(2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        let clock1 = g.p(1).clock();
        // A late duplicate REPLY changes nothing.
        g.p(1)
            .handle_msg(
                Millis(0),
                &Msg::Reply {
                    id: PeerId(2),
                    clock: 99,
                    t: 1,
                },
            )
            .unwrap();
        assert_eq!(g.p(1).clock(), clock1);
    }

    // ---------------------------------------------------------------- HELD

    #[test]
    fn held_defers_and_answers_after_the_exit_is_acknowledged() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.deliver(1, peer(2));
        g.deliver(2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        g.key(2, Key::Request);
        g.deliver(2, peer(1)); // deferred
        assert!(!g.wire.iter().any(|(f, t)| f.0 == 1 && t.to == peer(2)));
        g.advance(1000); // leaves; the ENTER is not acknowledged yet, so no EXIT yet
        assert_eq!(g.p(1).state(), State::Held);
        g.ack_resource(); // ENTER acknowledged: EXIT goes out, still HELD
        assert_eq!(g.p(1).state(), State::Held);
        g.ack_resource(); // EXIT acknowledged: RELEASED, the deferred REPLY goes out
        assert_eq!(g.p(1).state(), State::Released);
        g.deliver(1, peer(2));
        assert_eq!(g.p(2).state(), State::Held);
    }

    #[test]
    fn a_silent_resource_delays_the_release_but_does_not_block_it() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.deliver(1, peer(2));
        g.deliver(2, peer(1));
        for _ in 0..80 {
            g.advance(100);
            g.wire.retain(|(_, t)| t.to != Dest::Resource); // the resource never answers
        }
        assert_eq!(g.p(1).state(), State::Released);
        assert_eq!(g.p(1).stats().resource_silent, 2); // ENTER, then EXIT
    }

    #[test]
    fn bad_messages_are_rejected() {
        let mut p = Ra::new(cfg(1, 3)).unwrap();
        assert_eq!(
            p.handle_msg(
                Millis(0),
                &Msg::Request {
                    id: PeerId(1),
                    t: 1
                }
            ),
            Err(Rejected::FromSelf)
        );
        assert_eq!(
            p.handle_msg(
                Millis(0),
                &Msg::Request {
                    id: PeerId(4),
                    t: 1
                }
            ),
            Err(Rejected::UnknownId(PeerId(4)))
        );
        assert_eq!(
            p.handle_msg(
                Millis(0),
                &Msg::Exit {
                    id: PeerId(2),
                    t: 1,
                    clock: 1
                }
            ),
            Err(Rejected::NotForProcess)
        );
        assert_eq!(
            p.handle_msg(
                Millis(0),
                &Msg::Ack {
                    of: AckOf::Exit,
                    id: PeerId(2),
                    t: 1
                }
            ),
            Err(Rejected::NotOurs)
        );
        assert_eq!(p.clock(), 0);
        assert!(Ra::new(cfg(4, 3)).is_err());
        assert!(Ra::new(cfg(0, 3)).is_err());
    }

    #[test]
    fn forged_huge_timestamps_saturate_instead_of_wrapping() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        p.handle_msg(
            Millis(0),
            &Msg::Request {
                id: PeerId(2),
                t: u64::MAX,
            },
        )
        .unwrap();
        assert_eq!(p.clock(), u64::MAX);
        p.handle_key(Millis(0), Key::Internal);
        p.handle_key(Millis(0), Key::Request);
        assert_eq!(p.clock(), u64::MAX);
    }

    #[test]
    fn a_peer_killed_and_restarted_without_goodbye_is_served_again() {
        let mut g = Group::new(2);
        for _ in 0..5 {
            g.key(2, Key::Internal);
        }
        g.key(2, Key::Request); // T=6
        g.deliver(2, peer(1));
        g.wire.clear();
        g.ps[1] = Ra::new(cfg(2, 2)).unwrap(); // no goodbye
        g.key(2, Key::Request); // T=1 < 6
        g.deliver(2, peer(1));
        g.deliver(1, peer(2));
        assert_eq!(g.p(2).state(), State::Held);
    }

    #[test]
    fn a_late_duplicate_does_not_displace_a_deferred_request() {
        let mut g = Group::new(2);
        g.key(2, Key::Request); // T=1
        g.deliver(2, peer(1));
        g.deliver(1, peer(2)); // P1 replied; P2 enters and leaves
        g.advance(1000);
        g.ack_resource();
        g.ack_resource();
        g.key(1, Key::Request); // P1 asks (T=3)
        g.deliver(1, peer(2));
        g.deliver(2, peer(1)); // P1 is HELD
        g.key(2, Key::Request); // P2 asks again: deferred by P1
        let t2 = g.p(2).current().unwrap().t;
        g.deliver(2, peer(1));
        // A late copy of P2's first REQUEST (T=1) arrives while P1 is HELD.
        g.p(1)
            .handle_msg(
                Millis(0),
                &Msg::Request {
                    id: PeerId(2),
                    t: 1,
                },
            )
            .unwrap();
        g.collect();
        g.advance(1000);
        g.ack_resource();
        g.ack_resource(); // P1 releases: REPLY for t2 (and the harmless one for T=1)
        let replies: Vec<u64> = g
            .wire
            .iter()
            .filter_map(|(f, t)| match t.msg {
                Msg::Reply { t, .. } if f.0 == 1 => Some(t),
                _ => None,
            })
            .collect();
        assert!(replies.contains(&t2) && replies.contains(&1), "{replies:?}");
        while g.wire.iter().any(|(f, _)| f.0 == 1) {
            g.deliver(1, peer(2));
        }
        assert_eq!(g.p(2).state(), State::Held);
    }

    #[test]
    fn alone_enters_at_once() {
        let mut p = Ra::new(cfg(1, 1)).unwrap();
        p.handle_key(Millis(0), Key::Request);
        assert_eq!(p.state(), State::Held);
    }
}
