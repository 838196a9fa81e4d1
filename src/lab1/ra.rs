//! The Ricart–Agrawala core with Lamport clocks: a sans-IO state machine. It never touches a
//! socket or reads a clock, so tests, the simulation (`tests/sim.rs`) and the model check
//! (`src/lab1/model_check.rs`) drive the same code the process runs.
//!
//! Inputs, each with the current time: `Ra::handle_key` (the keyboard: `x` or the own id),
//! `Ra::request`, `Ra::handle_msg` (a decoded datagram and who sent it) and
//! `Ra::handle_timeout`. Outputs, drained after every input: `Ra::poll_transmit`
//! (messages to send), `Ra::poll_event` (what happened, with the clock and state: one event
//! per message sent and received, so a trace can be drawn) and `Ra::poll_timeout` (when to
//! call `handle_timeout` next).
//!
//! # The algorithm (Coulouris; the course's LAB1-SPEC §3–5)
//! States RELEASED → WANTED → HELD → RELEASED. Clock rules: an internal event ticks; a request
//! ticks once and every REQUEST carries that T; receiving a REQUEST or a REPLY sets
//! `clock = max(clock, msg) + 1` (before deciding); sending a REPLY does not tick; entering,
//! leaving and talking to the shared resource do not tick. A REQUEST (T, j) is deferred while
//! HELD, or while WANTED with own (T, i) < (T, j) (lexicographic: smaller T, then smaller id).
//!
//! # Who may speak for whom
//! Only process j's address speaks for process j, and only the resource's address
//! acknowledges: the adapter says who sent a datagram (by its source address, see `Roster`)
//! and `Ra::handle_msg` refuses a REQUEST or REPLY whose id is not its sender's, and an ACK
//! that does not come from the resource. Anyone else could forge a REPLY (two inside).
//!
//! # Restarts
//! Every process has an incarnation ([`Inc`], chosen at start, larger after each restart),
//! carried in every message. A message from an older incarnation than the last one seen is
//! stale (its sender is gone) and changes nothing. A newer one means the process restarted,
//! its clock back at 0: what was known of its previous life is forgotten (its requests, so
//! that its new T=1 is not taken for a resend; the grant it gave to our current request,
//! which is void, so the REQUEST goes to the new incarnation again). A REPLY names the
//! requester's incarnation, so a grant to a process's previous life is never counted by the
//! new one. At start a process says HELLO to the shared resource, so the resource knows a CS
//! its previous life held has ended, and answers REQUESTs only once the resource knows (or
//! stayed silent for `resource_patience`); a process that stops inside the CS sends its EXIT
//! first (`Ra::stop`).
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

use crate::lab1::wire::{AckOf, Inc, Kind, Msg, PeerId, Why, MAX_TEXT};
use crate::values::limits::MAX_PROCESSES;
use crate::values::time::Millis;

/// The largest timestamp or clock taken from the network: 2^53 (the integers a JSON reader
/// keeps exact). An honest clock ticks a few times per message and never gets near it; a
/// larger one is forged (or a bug) and is refused, never saturated: a clock stuck at the
/// maximum would make every new REQUEST look like a resend.
pub(crate) const MAX_CLOCK: u64 = 1 << 53;

/// A request's priority: its timestamp, then the requester's id (smaller wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    /// Request timestamp.
    pub(crate) t: u64,
    /// The requester: the smaller id wins a tie of timestamps.
    pub(crate) id: PeerId,
}

/// The process's state, as the course names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    pub(crate) fn as_str(self) -> &'static str {
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

/// A member of the group other than ourselves: where a message goes, or who sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    /// Another process.
    Process(PeerId),
    /// The shared resource.
    Resource,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[must_use]
pub(crate) struct Transmit {
    /// Its destination.
    pub(crate) to: Party,
    /// The message.
    pub(crate) msg: Msg,
}

/// The mesh layout of a Lab 1 process: the other processes in id order (without ourselves),
/// then the shared resource. It turns a destination into a mesh slot and a datagram's slot
/// (found by its source address) into the [`Party`] that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Roster {
    me: PeerId,
    n: u16,
}

impl Roster {
    /// The layout for process `me` in a group of `n` (`me` in 1..=n).
    pub(crate) fn new(me: PeerId, n: u16) -> Roster {
        Roster { me, n }
    }

    /// The mesh slot of `to` (never ourselves).
    pub(crate) fn slot(&self, to: Party) -> usize {
        match to {
            Party::Resource => usize::from(self.n) - 1,
            Party::Process(j) if j < self.me => usize::from(j.0) - 1,
            Party::Process(j) => usize::from(j.0) - 2,
        }
    }

    /// Who is behind mesh slot `i`; `None` for a slot beyond the group.
    pub(crate) fn party(&self, i: usize) -> Option<Party> {
        let me = usize::from(self.me.0);
        let n = usize::from(self.n);
        match i + 1 {
            k if k < me => Some(Party::Process(PeerId(k as u16))),
            k if k < n => Some(Party::Process(PeerId((k + 1) as u16))),
            k if k == n => Some(Party::Resource),
            _ => None,
        }
    }
}

/// What the process did with a REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// Replied at once.
    Replied,
    /// Queued until release.
    Deferred,
}

/// Something that happened, worth a line in the log or a mark in a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// A message went out (REPLY and resends do not tick: the clock is the sender's).
    Sent {
        /// Where it went: a process or the resource.
        to: Party,
        /// Message type.
        kind: Kind,
        /// The request it is about.
        t: u64,
        /// A resend of a message that may have been lost.
        resend: bool,
    },
    /// A new REQUEST arrived (the clock ticked).
    Request {
        /// The process asking.
        from: PeerId,
        /// Its timestamp.
        t: u64,
        /// What we did.
        answer: Answer,
    },
    /// A DEFERRED for our current request arrived: `from` holds it until `why` is over, so
    /// it is asked again only slowly. No tick.
    Deferred {
        /// Who deferred it.
        from: PeerId,
        /// The request.
        t: u64,
        /// Why it waits.
        why: Why,
    },
    /// A REPLY to our current request arrived (the clock ticked).
    Reply {
        /// Who granted it.
        from: PeerId,
        /// The request it answers.
        t: u64,
        /// Replies so far.
        got: u16,
        /// Replies needed.
        need: u16,
    },
    /// The resource acknowledged ENTER or EXIT.
    Acked {
        /// ENTER or EXIT.
        of: AckOf,
        /// For which request.
        t: u64,
    },
    /// A message that changes nothing arrived: a duplicate, or a REPLY/ACK for an older
    /// request. No tick.
    Stale {
        /// Its sender.
        from: Party,
        /// Message type.
        kind: Kind,
        /// The request it names.
        t: u64,
    },
    /// A process is seen with a newer incarnation: it restarted (clock back at 0). What it
    /// asked and granted before is void.
    Restarted {
        /// The process.
        from: PeerId,
        /// Its grant to our current request was void, and the REQUEST went to it again.
        regranted: bool,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Logged {
    /// Lamport clock.
    pub(crate) clock: u64,
    pub(crate) state: State,
    /// What happened.
    pub(crate) event: Event,
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
    /// A REQUEST or REPLY from an address that is no process's.
    NotFromAProcess,
    /// A REQUEST or REPLY whose id is not the one its sender's address speaks for.
    FromAnotherProcess,
    /// An ACK that does not come from the resource's address.
    NotFromResource,
    /// A timestamp or clock above `MAX_CLOCK`: forged.
    TooLarge(u64),
    /// An incarnation (a start time) in the future: forged.
    FutureIncarnation(Inc),
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Rejected::UnknownId(id) => write!(f, "unknown process id {id}"),
            Rejected::FromSelf => f.write_str("claims to come from this process"),
            Rejected::NotForProcess => f.write_str("meant for the shared resource"),
            Rejected::NotOurs => f.write_str("an ACK for another process"),
            Rejected::NotFromAProcess => f.write_str("not from a configured process's address"),
            Rejected::FromAnotherProcess => f.write_str("comes from another process's address"),
            Rejected::NotFromResource => f.write_str("not from the shared resource's address"),
            Rejected::TooLarge(v) => write!(f, "timestamp {v} is beyond any honest clock"),
            Rejected::FutureIncarnation(i) => {
                write!(f, "incarnation {i} is a start time in the future")
            }
        }
    }
}

impl std::error::Error for Rejected {}

/// How a core is made: its place in the group, its times, its text and incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// This process's incarnation (the start time in milliseconds, in the program).
    pub inc: Inc,
}

/// Why a configuration is impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The id is not in 1..=n.
    IdOutOfRange,
    /// More than [`MAX_PROCESSES`].
    TooMany,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::IdOutOfRange => "the id must be between 1 and the number of addresses",
            ConfigError::TooMany => "too many processes",
        })
    }
}

impl std::error::Error for ConfigError {}

/// Totals for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Requests made.
    pub requests: u64,
    /// CS entries.
    pub entries: u64,
    /// REQUEST and REPLY messages sent (resends included).
    pub sent: u64,
    /// Of those, resends.
    pub(crate) resent: u64,
    /// DEFERRED sent (not counted in `sent`: they grant nothing).
    pub(crate) deferred_sent: u64,
    /// HELLO/ENTER/EXIT sent to the resource (resends included).
    pub(crate) resource_sent: u64,
    /// Of those, resends.
    pub(crate) resource_resent: u64,
    /// Duplicate or stale messages received and ignored.
    pub(crate) duplicates: u64,
    /// Longest time from request to entry.
    pub(crate) worst_wait: Millis,
    /// Sum of the waits (for the average).
    pub(crate) total_wait: Millis,
    /// Times the resource did not acknowledge.
    pub(crate) resource_silent: u64,
    /// Events lost because the caller did not drain them (a bug in the caller: reported in
    /// the summary when not zero).
    pub(crate) events_dropped: u64,
}

/// The processes that granted the current request: bit j−1 for process j (the group has at
/// most [`MAX_PROCESSES`] = 127 members).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Grants(u128);

impl Grants {
    fn has(self, j: PeerId) -> bool {
        self.0 & (1 << idx(j)) != 0
    }
    fn add(&mut self, j: PeerId) {
        self.0 |= 1 << idx(j);
    }
    fn remove(&mut self, j: PeerId) {
        self.0 &= !(1 << idx(j));
    }
    fn count(self) -> u16 {
        self.0.count_ones() as u16
    }
}

/// The next resend of an unanswered REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Retry {
    at: Millis,
    /// Doubles after each resend, up to ten `retry`s: a deferred request waits for a whole
    /// critical section, and resending it every `retry` would only add traffic.
    wait: Millis,
}

/// Waiting for the replies to `mine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Wanted {
    mine: Priority,
    since: Millis,
    granted: Grants,
    retry: Retry,
    /// Resend rounds so far (for the "still waiting" line).
    resends: u32,
    /// The processes that acknowledged deferring this request (DEFERRED): asked again only
    /// every [`Ra::slow`], so a lost REPLY or a restarted deferrer is still found out.
    deferred: Grants,
    /// The next slow ask of those.
    slow_at: Millis,
}

/// Inside the CS of `mine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Held {
    mine: Priority,
    /// `Some(until)` while inside; `None` once left (`Sai da CS`), while the EXIT waits for
    /// its ACK.
    until: Option<Millis>,
}

/// The state with the data each state has: "HELD implies a request" is a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Released,
    Wanted(Wanted),
    Held(Held),
}

/// What the process knows of another's latest request (in its latest incarnation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Seen {
    t: u64,
    answered: bool,
}

/// A request to answer at release: whose, and which incarnation asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Deferred {
    p: Priority,
    inc: Inc,
}

/// ENTER or EXIT waiting for the resource's ACK.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Pending {
    msg: Msg,
    of: AckOf,
    t: u64,
    next: Millis,
    give_up: Millis,
}

/// One process's Ricart–Agrawala state machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ra {
    cfg: Config,
    clock: u64,
    phase: Phase,
    // The tables below are allocated once, for the group's size, and never grow.
    /// Requests to answer at release: one per other process, or two when an older T came
    /// after a newer one (a late duplicate).
    deferred: Vec<Deferred>,
    /// `seen[j - 1]`: the last request from j's latest incarnation.
    seen: Vec<Option<Seen>>,
    /// `known[j - 1]`: j's latest incarnation.
    known: Vec<Option<Inc>>,
    /// `why[j - 1]`: why j defers our current request, as its last DEFERRED said.
    why: Vec<Option<Why>>,
    /// Incarnations above this are refused ([`Ra::limit_incarnations`]).
    inc_limit: Option<Inc>,
    /// The resource has heard our HELLO (or stayed silent): until then REQUESTs wait, so that
    /// nobody enters on our REPLY before the resource knows we restarted.
    joined: bool,
    /// [`Ra::stop`] was called: no new request; done once RELEASED with nobody waiting.
    stopping: bool,
    pending: Option<Pending>,
    /// What one input produces (at most 2(N−1) messages and one to the resource); the caller
    /// drains it after every input, so it never grows.
    transmits: VecDeque<Transmit>,
    /// The same for events: capacity fixed at start; beyond it events are counted as dropped.
    events: VecDeque<Logged>,
    stats: Stats,
    /// The model check's negative control (src/lab1/model_check.rs): a WANTED process replies to
    /// every REQUEST, as if it compared requests without their timestamps.
    #[cfg(test)]
    no_timestamps: bool,
    /// The restart model's negative control: incarnations are ignored (every message is
    /// taken as from the one life a process has ever had).
    #[cfg(test)]
    no_incarnations: bool,
    /// The deferral model's negative control: a DEFERRED is taken for the current request
    /// whatever request it names.
    #[cfg(test)]
    any_deferral: bool,
    /// The stop's negative control: a process stopped inside the CS sends its EXIT once and
    /// answers the deferred requests at once, without waiting for the EXIT's ACK.
    #[cfg(test)]
    stop_without_waiting: bool,
}

impl Ra {
    /// A process in state RELEASED with clock 0.
    pub(crate) fn new(cfg: Config) -> Result<Ra, ConfigError> {
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
            phase: Phase::Released,
            deferred: Vec::with_capacity(2 * n),
            seen: vec![None; n],
            known: vec![None; n],
            why: vec![None; n],
            inc_limit: None,
            // Until `start`: a core that never says HELLO (a unit test) answers at once.
            joined: true,
            stopping: false,
            pending: None,
            transmits: VecDeque::with_capacity(2 * n + 2),
            events: VecDeque::with_capacity(Self::event_capacity(n)),
            stats: Stats::default(),
            #[cfg(test)]
            no_timestamps: false,
            #[cfg(test)]
            no_incarnations: false,
            #[cfg(test)]
            any_deferral: false,
            #[cfg(test)]
            stop_without_waiting: false,
        })
    }

    /// Most events one input can log: a release answers up to 2(N−1) deferred requests, each
    /// with its `Sent`, plus a few state events.
    fn event_capacity(n: usize) -> usize {
        3 * n + 8
    }

    /// The Lamport clock.
    pub(crate) fn clock(&self) -> u64 {
        self.clock
    }

    /// The state.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Released => State::Released,
            Phase::Wanted(_) => State::Wanted,
            Phase::Held(_) => State::Held,
        }
    }

    /// Own id.
    pub fn id(&self) -> PeerId {
        self.cfg.id
    }

    /// The settings it was made with.
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn config(&self) -> &Config {
        &self.cfg
    }

    /// What it did so far: requests, entries, messages sent and ignored.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The current request, if WANTED or HELD.
    pub fn current(&self) -> Option<Priority> {
        match self.phase {
            Phase::Released => None,
            Phase::Wanted(w) => Some(w.mine),
            Phase::Held(h) => Some(h.mine),
        }
    }

    /// While WANTED: the request, since when, and how many times it was resent.
    pub(crate) fn waiting(&self) -> Option<(Priority, Millis, u32)> {
        match self.phase {
            Phase::Wanted(w) => Some((w.mine, w.since, w.resends)),
            _ => None,
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

    /// The shared resource refused a datagram (ICMP "port unreachable": nothing listens
    /// there): whatever waits for its ACK is given up now rather than after
    /// `resource_patience` (said as a [`Event::ResourceSilent`]).
    pub(crate) fn handle_resource_refused(&mut self, now: Millis) {
        match &mut self.pending {
            // Already given up on (its slow resends are refused too): nothing new.
            Some(p) if p.of == AckOf::Hello && p.give_up == Millis(u64::MAX) => {}
            // Go on, but keep saying HELLO slowly, as after the patience: a resource started
            // after this process hears it then.
            Some(p) if p.of == AckOf::Hello => {
                p.give_up = Millis(u64::MAX);
                p.next = now + Millis(self.cfg.retry.0 * 10);
                self.stats.resource_silent += 1;
                self.log(Event::ResourceSilent { of: AckOf::Hello });
                self.after_ack(now, AckOf::Hello);
            }
            Some(_) => {
                if let Some(p) = self.pending.take() {
                    self.stats.resource_silent += 1;
                    self.log(Event::ResourceSilent { of: p.of });
                    self.after_ack(now, p.of);
                }
            }
            None => {}
        }
    }

    /// The processes that have not yet granted the current request (empty unless WANTED).
    pub(crate) fn missing(&self) -> impl Iterator<Item = PeerId> + '_ {
        let granted = match self.phase {
            Phase::Wanted(w) => Some(w.granted),
            _ => None,
        };
        self.others()
            .filter(move |j| granted.is_some_and(|g| !g.has(*j)))
    }

    /// The next message to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub(crate) fn poll_event(&mut self) -> Option<Logged> {
        self.events.pop_front()
    }

    /// When [`Ra::handle_timeout`] has work next.
    pub(crate) fn poll_timeout(&self) -> Option<Millis> {
        let phase = match self.phase {
            Phase::Released => None,
            Phase::Wanted(w) => {
                let unanswered = |j: &PeerId| !w.granted.has(*j);
                let fast = self.others().filter(unanswered).any(|j| !w.deferred.has(j));
                let slow = self.others().filter(unanswered).any(|j| w.deferred.has(j));
                [fast.then_some(w.retry.at), slow.then_some(w.slow_at)]
                    .into_iter()
                    .flatten()
                    .min()
            }
            Phase::Held(h) => h.until,
        };
        [phase, self.pending.as_ref().map(|p| p.next)]
            .into_iter()
            .flatten()
            .min()
    }

    /// A keyboard command.
    pub(crate) fn handle_key(&mut self, now: Millis, key: Key) {
        match key {
            Key::Internal => {
                self.clock = self.clock.saturating_add(1);
                self.log(Event::Internal);
            }
            Key::Request if self.phase == Phase::Released => self.request(now),
            Key::Request => self.log(Event::Ignored),
        }
    }

    /// Asks for the CS (ignored unless RELEASED: use [`Ra::handle_key`] to get `x ignorado`).
    pub(crate) fn request(&mut self, now: Millis) {
        if self.phase != Phase::Released || self.stopping {
            return;
        }
        self.clock += 1;
        let t = self.clock;
        let mine = Priority { t, id: self.cfg.id };
        self.phase = Phase::Wanted(Wanted {
            mine,
            since: now,
            granted: Grants::default(),
            retry: Retry {
                at: now + self.cfg.retry,
                wait: self.cfg.retry,
            },
            resends: 0,
            deferred: Grants::default(),
            slow_at: now + self.slow(),
        });
        self.why.iter_mut().for_each(|w| *w = None);
        self.stats.requests += 1;
        let need = self.cfg.n - 1;
        self.log(Event::Requested { t, need });
        for j in self.others() {
            self.send_request(j, t, false);
        }
        if need == 0 {
            self.enter(now, mine, now);
        }
    }

    /// Call once, at start: says HELLO to the shared resource (resent until acknowledged),
    /// so it knows that a CS this process's previous incarnation held has ended. REQUESTs
    /// are answered once it has (or stayed silent for `resource_patience`).
    pub(crate) fn start(&mut self, now: Millis) {
        if self.pending.is_none() && self.phase == Phase::Released {
            self.joined = false;
            let msg = Msg::Hello {
                id: self.cfg.id,
                inc: self.cfg.inc,
            };
            self.start_pending(now, msg, AckOf::Hello, 0);
        }
    }

    /// What `Ra::start` queued leaves only now (the adapter's loop runs its first turn): its
    /// resends count from `now`.
    pub fn first_sent(&mut self, now: Millis) {
        let retry = self.cfg.retry;
        if let Some(p) = &mut self.pending {
            p.next = p.next.max(now + retry);
        }
    }

    /// The process is stopping (SIGTERM): it asks for nothing more, and answers every
    /// deferred request, as it no longer competes. Inside the CS it leaves as at the end of its
    /// CS time: the EXIT is resent until the resource acknowledges it (or its patience runs
    /// out), and only then go the REPLYs, as always. Answering first would let the next
    /// process in while a lost EXIT left the resource thinking this one inside (a false
    /// VIOLATION). Returns whether it is done: the adapter runs its loop, calling this again,
    /// until then.
    pub(crate) fn stop(&mut self, now: Millis) -> bool {
        if !self.stopping {
            self.stopping = true;
            match self.phase {
                #[cfg(test)]
                Phase::Held(h) if self.stop_without_waiting => {
                    self.log(Event::Left { t: h.mine.t });
                    self.start_exit(now, h.mine);
                    self.pending = None;
                    self.release();
                }
                // Its CS time ends now: the next `handle_timeout` leaves, as it would then.
                Phase::Held(h @ Held { until: Some(_), .. }) => {
                    self.phase = Phase::Held(Held {
                        until: Some(now),
                        ..h
                    })
                }
                // Until the resource heard our HELLO, the deferred requests wait for it.
                Phase::Wanted(_) if self.joined => self.release(),
                Phase::Wanted(_) => self.phase = Phase::Released,
                _ => {}
            }
        }
        self.phase == Phase::Released && self.deferred.is_empty()
    }

    /// A decoded message and who sent it, as the adapter knows it from the source address
    /// (`None`: an address that is neither a process of the group nor the resource).
    pub(crate) fn handle_msg(
        &mut self,
        now: Millis,
        from: Option<Party>,
        msg: &Msg,
    ) -> Result<(), Rejected> {
        match *msg {
            Msg::Enter { .. } | Msg::Exit { .. } | Msg::Hello { .. } => {
                Err(Rejected::NotForProcess)
            }
            Msg::Request { id, .. } | Msg::Reply { id, .. } => {
                match from {
                    Some(Party::Process(j)) if j == id => {}
                    Some(Party::Process(_)) => return Err(Rejected::FromAnotherProcess),
                    _ => return Err(Rejected::NotFromAProcess),
                }
                self.check_peer(id)?;
                let clock = match *msg {
                    Msg::Reply { clock, .. } => clock,
                    _ => 0,
                };
                for v in [msg.t(), clock] {
                    if v > MAX_CLOCK {
                        return Err(Rejected::TooLarge(v));
                    }
                }
                if self.inc_limit.is_some_and(|l| msg.inc() > l) {
                    return Err(Rejected::FutureIncarnation(msg.inc()));
                }
                if !self.note_incarnation(id, msg.inc()) {
                    self.stale(Party::Process(id), msg.kind(), msg.t());
                    return Ok(());
                }
                match *msg {
                    Msg::Request { inc, t, .. } => self.on_request(id, inc, t),
                    Msg::Reply { clock, t, to, .. } => self.on_reply(now, id, clock, t, to),
                    _ => {}
                }
                Ok(())
            }
            Msg::Deferred {
                id,
                inc,
                t,
                to,
                why,
            } => {
                // The rules of REQUEST and REPLY: only id's address speaks for id.
                match from {
                    Some(Party::Process(j)) if j == id => {}
                    Some(Party::Process(_)) => return Err(Rejected::FromAnotherProcess),
                    _ => return Err(Rejected::NotFromAProcess),
                }
                self.check_peer(id)?;
                let theirs = match why {
                    Why::First(v) => v,
                    _ => 0,
                };
                for v in [t, theirs] {
                    if v > MAX_CLOCK {
                        return Err(Rejected::TooLarge(v));
                    }
                }
                if self.inc_limit.is_some_and(|l| inc > l) {
                    return Err(Rejected::FutureIncarnation(inc));
                }
                if !self.note_incarnation(id, inc) {
                    self.stale(Party::Process(id), Kind::Deferred, t);
                    return Ok(());
                }
                self.on_deferred(id, t, to, why);
                Ok(())
            }
            Msg::Ack { of, id, inc, t } => {
                if from != Some(Party::Resource) {
                    return Err(Rejected::NotFromResource);
                }
                if id != self.cfg.id {
                    return Err(Rejected::NotOurs);
                }
                if inc != self.cfg.inc {
                    // An ACK for our previous life.
                    self.stale(Party::Resource, Kind::Ack, t);
                    return Ok(());
                }
                self.on_ack(now, of, t);
                Ok(())
            }
        }
    }

    /// Does whatever is due at `now`: resends, leaving the CS, giving up on the resource.
    /// A call with nothing due is a no-op.
    pub(crate) fn handle_timeout(&mut self, now: Millis) {
        if let Phase::Wanted(mut w) = self.phase {
            // Those that acknowledged deferring it are asked again only slowly: a lost REPLY,
            // or a restarted or crashed deferrer, is still found out.
            if w.slow_at <= now {
                for j in self.others() {
                    if w.deferred.has(j) && !w.granted.has(j) {
                        self.send_request(j, w.mine.t, true);
                    }
                }
                w.slow_at = now + self.slow();
                self.phase = Phase::Wanted(w);
            }
            if w.retry.at <= now {
                let mut sent = false;
                for j in self.others() {
                    if !w.granted.has(j) && !w.deferred.has(j) {
                        self.send_request(j, w.mine.t, true);
                        sent = true;
                    }
                }
                let wait = Millis((w.retry.wait.0 * 2).min(self.cfg.retry.0 * 10));
                self.phase = Phase::Wanted(Wanted {
                    retry: Retry {
                        at: now + wait,
                        wait,
                    },
                    resends: w.resends.saturating_add(u32::from(sent)),
                    ..w
                });
            }
        }
        if let Some(p) = &mut self.pending {
            if p.next <= now {
                if now >= p.give_up && p.of == AckOf::Hello {
                    // Go on without the resource (answer the REQUESTs that waited), but keep
                    // saying HELLO, more slowly, until it hears: until then it may still take
                    // our previous life for inside the CS.
                    p.give_up = Millis(u64::MAX);
                    p.next = now + Millis(self.cfg.retry.0 * 10);
                    self.stats.resource_silent += 1;
                    self.log(Event::ResourceSilent { of: AckOf::Hello });
                    self.after_ack(now, AckOf::Hello);
                } else if now >= p.give_up {
                    let of = p.of;
                    self.pending = None;
                    self.stats.resource_silent += 1;
                    self.log(Event::ResourceSilent { of });
                    self.after_ack(now, of);
                } else {
                    // A HELLO given up on goes on at a tenth of the pace (it went back to
                    // ten a second after its first slow resend).
                    let slow = p.give_up == Millis(u64::MAX);
                    p.next = now
                        + if slow {
                            Millis(self.cfg.retry.0 * 10)
                        } else {
                            self.cfg.retry
                        };
                    let msg = p.msg.clone();
                    self.send(Party::Resource, msg, true);
                }
            }
        }
        if let Phase::Held(h @ Held { until: Some(u), .. }) = self.phase {
            if u <= now {
                self.phase = Phase::Held(Held { until: None, ..h });
                self.log(Event::Left { t: h.mine.t });
                if self.pending.is_none() {
                    self.start_exit(now, h.mine);
                }
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

    /// Notes that `j` speaks as incarnation `inc`; false if that is an older one than known
    /// (the message is from a life that is over). A newer one is a restart: forget what its
    /// previous life asked, and take back the grant it gave to our current request.
    fn note_incarnation(&mut self, j: PeerId, inc: Inc) -> bool {
        #[cfg(test)]
        if self.no_incarnations {
            return true;
        }
        let known = &mut self.known[idx(j)];
        match *known {
            Some(k) if inc < k => return false,
            Some(k) if inc == k => return true,
            None => {
                *known = Some(inc);
                return true;
            }
            Some(_) => *known = Some(inc),
        }
        self.seen[idx(j)] = None;
        self.deferred.retain(|d| d.p.id != j);
        let mut regranted = false;
        self.why[idx(j)] = None;
        if let Phase::Wanted(mut w) = self.phase {
            // Its previous life's deferral is over too: asked at the fast pace again.
            w.deferred.remove(j);
            if w.granted.has(j) {
                w.granted.remove(j);
                regranted = true;
            }
            self.phase = Phase::Wanted(w);
        }
        self.log(Event::Restarted { from: j, regranted });
        if let (true, Phase::Wanted(w)) = (regranted, self.phase) {
            self.send_request(j, w.mine.t, false);
        }
        true
    }

    fn send_request(&mut self, j: PeerId, t: u64, resend: bool) {
        let msg = Msg::Request {
            id: self.cfg.id,
            inc: self.cfg.inc,
            t,
        };
        self.send(Party::Process(j), msg, resend);
    }

    fn on_request(&mut self, from: PeerId, inc: Inc, t: u64) {
        let last = self.seen[idx(from)];
        if let Some(last) = last {
            if t == last.t {
                // A resend: our REPLY may have been lost. Not a new event: no tick.
                self.stats.duplicates += 1;
                self.log(Event::Stale {
                    from: Party::Process(from),
                    kind: Kind::Request,
                    t,
                });
                if last.answered {
                    let reply = self.reply_to(t, inc);
                    self.send(Party::Process(from), reply, true);
                } else if self
                    .deferred
                    .iter()
                    .any(|d| d.p == Priority { t, id: from })
                {
                    // Still deferred: said again (the requester asks slowly once it knows).
                    let deferred = self.deferred_msg(t, inc);
                    self.send(Party::Process(from), deferred, true);
                }
                return;
            }
        }
        // A T below the last one seen from this incarnation is a late duplicate: it gets the
        // usual answer (its sender ignores a REPLY for a T it no longer waits for), but never
        // replaces what we know of the newer request.
        let older = last.is_some_and(|l| t < l.t);
        // Cannot overflow: t <= MAX_CLOCK, and the clock only grows by one per event.
        self.clock = self.clock.max(t) + 1;
        let theirs = Priority { t, id: from };
        let defer = match self.phase {
            Phase::Held(_) => true,
            Phase::Wanted(w) => w.mine < theirs,
            // Until the resource knows we (re)started, nobody enters on our REPLY.
            Phase::Released => !self.joined,
        };
        #[cfg(test)]
        let defer = defer && !(self.no_timestamps && matches!(self.phase, Phase::Wanted(_)));
        if defer {
            if older {
                // Kept beside the newer one (at most one older per process): at release both
                // are answered.
                let newest = last.map(|l| l.t);
                self.deferred
                    .retain(|d| d.p.id != from || Some(d.p.t) == newest);
            } else {
                // A newer request replaces the older ones of that process.
                self.deferred.retain(|d| d.p.id != from);
                self.seen[idx(from)] = Some(Seen { t, answered: false });
            }
            self.deferred.push(Deferred { p: theirs, inc });
            self.log(Event::Request {
                from,
                t,
                answer: Answer::Deferred,
            });
            if !older {
                // Acknowledged, so the requester stops its fast resends (a late duplicate's
                // older T is not: its requester no longer waits for it).
                let deferred = self.deferred_msg(t, inc);
                self.send(Party::Process(from), deferred, false);
            }
        } else {
            if !older {
                self.seen[idx(from)] = Some(Seen { t, answered: true });
            }
            self.log(Event::Request {
                from,
                t,
                answer: Answer::Replied,
            });
            let reply = self.reply_to(t, inc);
            self.send(Party::Process(from), reply, false);
        }
    }

    /// `DEFERRED` for request `t` of incarnation `to`, with why it waits now.
    fn deferred_msg(&self, t: u64, to: Inc) -> Msg {
        let why = match self.phase {
            Phase::Held(Held { until: Some(_), .. }) => Why::Held,
            Phase::Held(_) => Why::Exit,
            Phase::Wanted(w) => Why::First(w.mine.t),
            Phase::Released => Why::Join,
        };
        Msg::Deferred {
            id: self.cfg.id,
            inc: self.cfg.inc,
            t,
            to,
            why,
        }
    }

    /// A DEFERRED from `from` for request `t` of incarnation `to`: taken only for the current
    /// request and only before `from`'s REPLY counted, so a stale, duplicated or reordered one
    /// can neither stop the resends of a newer request nor take back a grant. It changes the
    /// pace of the resends to `from`, nothing else: no tick, no grant.
    fn on_deferred(&mut self, from: PeerId, t: u64, to: Inc, why: Why) {
        let Phase::Wanted(mut w) = self.phase else {
            return self.stale(Party::Process(from), Kind::Deferred, t);
        };
        let current = to == self.cfg.inc && w.mine.t == t;
        #[cfg(test)]
        let current = current || self.any_deferral;
        if !current || w.granted.has(from) {
            return self.stale(Party::Process(from), Kind::Deferred, t);
        }
        let before = self.why[idx(from)].replace(why);
        if w.deferred.has(from) {
            // Said again (an answer to a slow ask, or a copy): logged only if the reason
            // changed (`T=7 comes first`, then `held` once it entered), so that a JSON reader
            // knows the reason now.
            if before == Some(why) {
                return self.stale(Party::Process(from), Kind::Deferred, t);
            }
            return self.log(Event::Deferred { from, t, why });
        }
        w.deferred.add(from);
        self.phase = Phase::Wanted(w);
        self.log(Event::Deferred { from, t, why });
    }

    /// How often a request that was acknowledged as deferred is asked again: ten resend
    /// periods (1 s with the default 100 ms), the pace the unacknowledged resends slow down
    /// to. At 2 s the worst entry wait at 20% loss grew by 1.6 s (a lost REPLY is found out
    /// only by the next ask): `scripts/lab/deferral-cost.sh`.
    fn slow(&self) -> Millis {
        Millis(self.cfg.retry.0 * 10)
    }

    /// The processes that said they defer our current request and whose REPLY has not come:
    /// asked again only slowly (for the model check's invariant).
    #[cfg(test)]
    pub(crate) fn deferred_by(&self) -> impl Iterator<Item = PeerId> + '_ {
        let w = match self.phase {
            Phase::Wanted(w) => Some(w),
            _ => None,
        };
        self.others()
            .filter(move |&j| w.is_some_and(|w| w.deferred.has(j) && !w.granted.has(j)))
    }

    /// Whether the request `p` of incarnation `inc` waits here for our release.
    #[cfg(test)]
    pub(crate) fn holds_deferred(&self, p: Priority, inc: Inc) -> bool {
        self.deferred.iter().any(|d| d.p == p && d.inc == inc)
    }

    /// The incarnation of `j` this process knows.
    #[cfg(test)]
    pub(crate) fn known_inc(&self, j: PeerId) -> Option<Inc> {
        self.known[idx(j)]
    }

    /// Why `j` defers our current request, if it said so (and its REPLY has not come).
    pub(crate) fn deferral(&self, j: PeerId) -> Option<Why> {
        match self.phase {
            Phase::Wanted(w) if w.deferred.has(j) && !w.granted.has(j) => self.why[idx(j)],
            _ => None,
        }
    }

    fn reply_to(&self, t: u64, to: Inc) -> Msg {
        Msg::Reply {
            id: self.cfg.id,
            inc: self.cfg.inc,
            clock: self.clock,
            t,
            to,
        }
    }

    fn on_reply(&mut self, now: Millis, from: PeerId, clock: u64, t: u64, to: Inc) {
        let Phase::Wanted(mut w) = self.phase else {
            return self.stale(Party::Process(from), Kind::Reply, t);
        };
        // A grant to our previous life, for another request, or already counted.
        #[cfg(test)]
        let to = if self.no_incarnations {
            self.cfg.inc
        } else {
            to
        };
        if to != self.cfg.inc || w.mine.t != t || w.granted.has(from) {
            return self.stale(Party::Process(from), Kind::Reply, t);
        }
        w.granted.add(from);
        self.phase = Phase::Wanted(w);
        // Cannot overflow: clock <= MAX_CLOCK.
        self.clock = self.clock.max(clock) + 1;
        let (got, need) = (w.granted.count(), self.cfg.n - 1);
        self.log(Event::Reply { from, t, got, need });
        if got == need {
            self.enter(now, w.mine, w.since);
        }
    }

    fn on_ack(&mut self, now: Millis, of: AckOf, t: u64) {
        match &self.pending {
            Some(p) if p.of == of && p.t == t => {
                self.pending = None;
                self.log(Event::Acked { of, t });
                self.after_ack(now, of);
            }
            _ => self.stale(Party::Resource, Kind::Ack, t),
        }
    }

    fn stale(&mut self, from: Party, kind: Kind, t: u64) {
        self.stats.duplicates += 1;
        self.log(Event::Stale { from, kind, t });
    }

    fn enter(&mut self, now: Millis, mine: Priority, since: Millis) {
        self.phase = Phase::Held(Held {
            mine,
            until: Some(now + self.cfg.cs_time),
        });
        // The ENTER tells the resource of this incarnation as a HELLO would.
        self.joined = true;
        let waited = now - since;
        self.stats.entries += 1;
        self.stats.total_wait = self.stats.total_wait + waited;
        self.stats.worst_wait = self.stats.worst_wait.max(waited);
        self.log(Event::Entered { t: mine.t, waited });
        let msg = Msg::Enter {
            id: self.cfg.id,
            inc: self.cfg.inc,
            t: mine.t,
            clock: self.clock,
            text: self.cfg.text.clone(),
        };
        self.start_pending(now, msg, AckOf::Enter, mine.t);
    }

    fn start_exit(&mut self, now: Millis, mine: Priority) {
        let msg = Msg::Exit {
            id: self.cfg.id,
            inc: self.cfg.inc,
            t: mine.t,
            clock: self.clock,
        };
        self.start_pending(now, msg, AckOf::Exit, mine.t);
    }

    fn start_pending(&mut self, now: Millis, msg: Msg, of: AckOf, t: u64) {
        self.send(Party::Resource, msg.clone(), false);
        self.pending = Some(Pending {
            msg,
            of,
            t,
            next: now + self.cfg.retry,
            give_up: now + self.cfg.resource_patience,
        });
    }

    /// The resource acknowledged `of` (or stayed silent): go on.
    fn after_ack(&mut self, now: Millis, of: AckOf) {
        match (of, self.phase) {
            // Joined: the requests that waited only for it get the usual rule now.
            (AckOf::Hello, Phase::Released) => {
                self.joined = true;
                if !self.deferred.is_empty() {
                    self.release();
                }
            }
            (AckOf::Hello, Phase::Wanted(w)) => {
                self.joined = true;
                self.answer_deferred_before(w.mine);
            }
            // A HELLO superseded by our ENTER (which tells the resource the same).
            (AckOf::Hello, Phase::Held(_)) => self.joined = true,
            // Left while the ENTER was unacknowledged: the EXIT goes now.
            (AckOf::Enter, Phase::Held(h @ Held { until: None, .. })) => {
                self.start_exit(now, h.mine)
            }
            (AckOf::Enter, _) => {}
            (AckOf::Exit, _) => self.release(),
        }
    }

    /// Answers the deferred requests that come before `mine` (a WANTED process defers only
    /// the later ones; these waited for the resource to hear our HELLO).
    fn answer_deferred_before(&mut self, mine: Priority) {
        let mut i = 0;
        while i < self.deferred.len() {
            let d = self.deferred[i];
            if d.p < mine {
                self.deferred.swap_remove(i);
                if let Some(s) = &mut self.seen[idx(d.p.id)] {
                    if s.t == d.p.t {
                        s.answered = true;
                    }
                }
                let reply = self.reply_to(d.p.t, d.inc);
                self.send(Party::Process(d.p.id), reply, false);
            } else {
                i += 1;
            }
        }
    }

    fn release(&mut self) {
        self.phase = Phase::Released;
        let mut replied = 0;
        while let Some(d) = self.deferred.pop() {
            if let Some(s) = &mut self.seen[idx(d.p.id)] {
                if s.t == d.p.t {
                    s.answered = true;
                }
            }
            let reply = self.reply_to(d.p.t, d.inc);
            self.send(Party::Process(d.p.id), reply, false);
            replied += 1;
        }
        self.log(Event::Released { replied });
    }

    fn send(&mut self, to: Party, msg: Msg, resend: bool) {
        match (to, resend) {
            _ if msg.kind() == Kind::Deferred => self.stats.deferred_sent += 1,
            (Party::Process(_), false) => self.stats.sent += 1,
            (Party::Process(_), true) => {
                self.stats.sent += 1;
                self.stats.resent += 1;
            }
            (Party::Resource, false) => self.stats.resource_sent += 1,
            (Party::Resource, true) => {
                self.stats.resource_sent += 1;
                self.stats.resource_resent += 1;
            }
        }
        self.log(Event::Sent {
            to,
            kind: msg.kind(),
            t: msg.t(),
            resend,
        });
        self.transmits.push_back(Transmit { to, msg });
    }

    fn log(&mut self, event: Event) {
        // Against the configured bound, not `capacity()`: a clone of a `VecDeque` (the model
        // check clones cores) has no spare capacity.
        if self.events.len() >= Self::event_capacity(usize::from(self.cfg.n)) {
            self.stats.events_dropped += 1;
            return;
        }
        self.events.push_back(Logged {
            clock: self.clock,
            state: self.state(),
            event,
        });
    }

    /// For the model check (src/lab1/model_check.rs): everything that decides what this process does
    /// next, as a value whose equality is the model's "same state". Left out: the statistics
    /// (they only grow), the drained queues, the fixed configuration, and absolute instants.
    /// WANTED's resend schedule and `since` go entirely (its only timer always resends to the
    /// processes still missing, and `since` is only for statistics); HELD's deadlines are kept
    /// relative to the earliest of them (the core only compares them with each other and with
    /// `now`, and sets new ones only when none is live).
    #[cfg(test)]
    pub(crate) fn protocol_view(&self) -> impl core::hash::Hash + Eq + core::fmt::Debug + '_ {
        let until = match self.phase {
            Phase::Held(h) => h.until,
            _ => None,
        };
        let p = self.pending.as_ref();
        let base = [until, p.map(|p| p.next), p.map(|p| p.give_up)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_default();
        let rel = move |m: Millis| (m - base).0;
        let phase = match self.phase {
            Phase::Released => (None, 0, None),
            Phase::Wanted(w) => (Some(w.mine), w.granted.0 | (w.deferred.0 << 64), None),
            Phase::Held(h) => (Some(h.mine), 0, Some(h.until.map(rel))),
        };
        let pending = p.map(|p| (&p.msg, p.of, p.t, rel(p.next), rel(p.give_up)));
        let knob = (self.no_timestamps, self.any_deferral);
        let lives = (self.cfg.inc, &self.known, self.joined, self.stopping);
        let knob = (knob, self.no_incarnations, self.stop_without_waiting);
        (
            self.clock,
            phase,
            pending,
            &self.deferred,
            &self.seen,
            lives,
            knob,
        )
    }

    /// The restart model's negative control (see `no_incarnations`).
    #[cfg(test)]
    pub(crate) fn disable_incarnations(&mut self) {
        self.no_incarnations = true;
    }

    /// The deferral model's negative control (see `any_deferral`).
    #[cfg(test)]
    pub(crate) fn accept_any_deferral(&mut self) {
        self.any_deferral = true;
    }

    /// The negative control's knob (see `no_timestamps`).
    #[cfg(test)]
    pub(crate) fn disable_timestamps(&mut self) {
        self.no_timestamps = true;
    }

    /// The stop's negative control (see `stop_without_waiting`).
    #[cfg(test)]
    pub(crate) fn stop_without_waiting(&mut self) {
        self.stop_without_waiting = true;
    }
}

fn idx(id: PeerId) -> usize {
    usize::from(id.0) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab1::harness::Group;

    fn peer(id: u16) -> Party {
        Party::Process(PeerId(id))
    }

    fn cfg(id: u16, n: u16) -> Config {
        crate::lab1::harness::config(id, n)
    }

    /// Delivers the oldest message from `from` to `to`; returns the receiver's clock.
    fn deliver(g: &mut Group, from: u16, to: Party) -> u64 {
        g.deliver_first(peer(from), to)
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
        assert_eq!(deliver(&mut g, 1, peer(2)), 3);
        assert_eq!(deliver(&mut g, 1, peer(3)), 3);
        // P1 goes to 4, then 5, and enters; then an internal event (6).
        assert_eq!(deliver(&mut g, 2, peer(1)), 4);
        assert_eq!(deliver(&mut g, 3, peer(1)), 5);
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
        assert_eq!(deliver(&mut g, 2, peer(1)), 7);
        assert_eq!(deliver(&mut g, 2, peer(3)), 5);
        assert_eq!(deliver(&mut g, 1, peer(2)), 8);
        assert_eq!(deliver(&mut g, 3, peer(2)), 9);
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
        assert_eq!(deliver(&mut g, 3, peer(1)), 8);
        assert_eq!(deliver(&mut g, 3, peer(2)), 11);
        assert_eq!(deliver(&mut g, 1, peer(3)), 9);
        assert_eq!(deliver(&mut g, 2, peer(3)), 12);
        assert_eq!(g.p(3).state(), State::Held);
        g.key(3, Key::Internal);
        assert_eq!(g.p(3).clock(), 13);
    }

    // ---------------------------------------------------------------- RELEASED

    #[test]
    fn released_replies_at_once_and_replying_does_not_tick() {
        let mut g = Group::new(3);
        g.key(2, Key::Request);
        assert_eq!(deliver(&mut g, 2, peer(1)), 2);
        let p = g
            .wire
            .iter()
            .find(|p| p.from == peer(1) && p.to == peer(2))
            .unwrap();
        assert_eq!(
            p.msg,
            Msg::Reply {
                id: PeerId(1),
                inc: Inc(1),
                to: Inc(1),
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
        deliver(&mut g, 3, peer(1));
        assert!(!g
            .wire
            .iter()
            .any(|p| p.from == peer(1) && p.to == peer(3) && matches!(p.msg, Msg::Reply { .. })));
        // P3 gets P1's request: (1,3) > (1,1): reply.
        deliver(&mut g, 1, peer(3));
        assert!(g
            .wire
            .iter()
            .any(|p| p.from == peer(3) && p.to == peer(1) && matches!(p.msg, Msg::Reply { .. })));
    }

    #[test]
    fn comparison_uses_own_t_not_the_current_clock() {
        let mut g = Group::new(2);
        g.key(1, Key::Request); // T=1
        for _ in 0..10 {
            g.key(1, Key::Internal); // clock 11, T still 1
        }
        g.key(2, Key::Request); // T=1 for P2: (1,1) < (1,2): P1 defers
        deliver(&mut g, 2, peer(1));
        assert!(!g
            .wire
            .iter()
            .any(|p| p.from == peer(1) && matches!(p.msg, Msg::Reply { .. })));
        // P2 gets P1's (1,1) while wanting (1,2): replies, P1 enters.
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        assert_eq!(g.p(2).state(), State::Wanted);
    }

    /// The REQUESTs sent to process `to` since the wire was last cleared.
    fn requests_to(g: &Group, to: u16) -> usize {
        g.wire
            .iter()
            .filter(|p| p.to == peer(to) && matches!(p.msg, Msg::Request { .. }))
            .count()
    }

    /// Issue 20: a deferral is acknowledged; the requester then stops its fast resends to
    /// that process and asks it again only every second; the DEFERRED neither ticks nor
    /// grants.
    #[test]
    fn a_deferral_is_acknowledged_and_asked_again_only_slowly() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        g.key(2, Key::Request);
        deliver(&mut g, 2, peer(1)); // deferred: DEFERRED goes back
        let clock = g.p(2).clock();
        deliver(&mut g, 1, peer(2));
        assert_eq!(g.p(2).clock(), clock, "a DEFERRED does not tick");
        assert_eq!(g.p(2).deferral(PeerId(1)), Some(Why::Held));
        assert_eq!(g.p(2).state(), State::Wanted);
        g.wire.clear();
        // 0.9 s: no resend (before, 4 in that time); at 1 s (ten retry intervals) one slow
        // ask.
        for _ in 0..9 {
            g.advance(100);
            g.wire.retain(|p| p.from != peer(1));
        }
        assert_eq!(requests_to(&g, 1), 0, "{:?}", g.wire);
        g.advance(100);
        g.wire.retain(|p| p.from != peer(1));
        assert_eq!(requests_to(&g, 1), 1, "{:?}", g.wire);
        // Answered with DEFERRED again (still inside, or its EXIT not yet acknowledged).
        g.deliver_first(peer(2), peer(1));
        assert!(
            g.wire
                .iter()
                .any(|p| p.from == peer(1) && matches!(p.msg, Msg::Deferred { .. })),
            "{:?}",
            g.wire
        );
        assert_eq!(g.p(1).stats().deferred_sent, 2);
    }

    /// A deferrer whose reason changed (its own T came first, then it entered) says so, and
    /// the requester logs the new reason (a JSON reader knows the reason now); the same
    /// reason again is a copy.
    #[test]
    fn a_changed_reason_is_logged_a_repeated_one_is_a_copy() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        p.start(Millis(0));
        p.request(Millis(0)); // T=1
        let inc = cfg(1, 2).inc;
        let deferred = |why| Msg::Deferred {
            id: PeerId(2),
            inc: Inc(1),
            t: 1,
            to: inc,
            why,
        };
        while p.poll_event().is_some() {}
        let mut logged = Vec::new();
        for why in [
            Why::First(1),
            Why::First(1),
            Why::Held,
            Why::Held,
            Why::Exit,
        ] {
            p.handle_msg(Millis(1), Some(peer(2)), &deferred(why))
                .unwrap();
            while let Some(l) = p.poll_event() {
                logged.push(l.event);
            }
        }
        let d = |why| Event::Deferred {
            from: PeerId(2),
            t: 1,
            why,
        };
        let copy = Event::Stale {
            from: peer(2),
            kind: Kind::Deferred,
            t: 1,
        };
        assert_eq!(
            logged,
            [d(Why::First(1)), copy, d(Why::Held), copy, d(Why::Exit)]
        );
        assert_eq!(p.deferral(PeerId(2)), Some(Why::Exit));
    }

    /// The traps: a DEFERRED for another request (an older T, a previous life), one that
    /// arrives after the REPLY counted, or one from another process's address changes
    /// nothing; a restart of the deferrer puts it back on the fast pace.
    #[test]
    fn a_stale_late_or_forged_deferral_stops_nothing() {
        let mut p = Ra::new(cfg(1, 3)).unwrap();
        p.start(Millis(0));
        p.handle_msg(
            Millis(0),
            Some(Party::Resource),
            &Msg::Ack {
                of: AckOf::Hello,
                id: PeerId(1),
                inc: cfg(1, 3).inc,
                t: 0,
            },
        )
        .unwrap();
        p.request(Millis(0)); // T=1
        let inc = cfg(1, 3).inc;
        let deferred = |id: u16, t: u64, to: Inc| Msg::Deferred {
            id: PeerId(id),
            inc: Inc(1),
            t,
            to,
            why: Why::Held,
        };
        for stale in [deferred(2, 0, inc), deferred(2, 1, Inc(inc.0 + 1))] {
            p.handle_msg(Millis(1), Some(peer(2)), &stale).unwrap();
            assert_eq!(p.deferral(PeerId(2)), None, "{stale:?}");
        }
        assert_eq!(
            p.handle_msg(Millis(1), Some(peer(3)), &deferred(2, 1, inc)),
            Err(Rejected::FromAnotherProcess)
        );
        assert_eq!(
            p.handle_msg(Millis(1), None, &deferred(2, 1, inc)),
            Err(Rejected::NotFromAProcess)
        );
        assert_eq!(p.deferral(PeerId(2)), None);
        // Process 3 grants, then a late DEFERRED from it: still granted, not deferred.
        let reply = Msg::Reply {
            id: PeerId(3),
            inc: Inc(1),
            clock: 2,
            t: 1,
            to: inc,
        };
        p.handle_msg(Millis(2), Some(peer(3)), &reply).unwrap();
        p.handle_msg(Millis(3), Some(peer(3)), &deferred(3, 1, inc))
            .unwrap();
        assert_eq!(p.deferral(PeerId(3)), None);
        assert_eq!(p.missing().collect::<Vec<_>>(), [PeerId(2)]);
        // The genuine one from process 2, then process 2 restarts: fast again.
        p.handle_msg(Millis(4), Some(peer(2)), &deferred(2, 1, inc))
            .unwrap();
        assert_eq!(p.deferral(PeerId(2)), Some(Why::Held));
        let again = Msg::Request {
            id: PeerId(2),
            inc: Inc(9),
            t: 1,
        };
        p.handle_msg(Millis(5), Some(peer(2)), &again).unwrap();
        assert_eq!(p.deferral(PeerId(2)), None, "its new life must be asked");
        assert_eq!(p.state(), State::Wanted);
    }

    #[test]
    fn lost_requests_and_replies_are_resent_and_duplicates_ignored() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.wire.clear(); // the REQUEST is lost
        g.advance(100);
        deliver(&mut g, 1, peer(2)); // the resend arrives: P2 replies (clock 2)
        g.wire.clear(); // the REPLY is lost
        g.advance(100);
        assert!(g.wire.is_empty(), "the second resend waits twice as long");
        g.advance(100);
        let clock2 = g.p(2).clock();
        deliver(&mut g, 1, peer(2)); // a duplicate REQUEST: no tick, the REPLY again
        assert_eq!(g.p(2).clock(), clock2);
        assert_eq!(g.p(2).stats().duplicates, 1);
        deliver(&mut g, 2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        let clock1 = g.p(1).clock();
        // A late duplicate REPLY changes nothing.
        g.p(1)
            .handle_msg(
                Millis(0),
                Some(peer(2)),
                &Msg::Reply {
                    id: PeerId(2),
                    inc: Inc(1),
                    to: Inc(1),
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
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        g.key(2, Key::Request);
        deliver(&mut g, 2, peer(1)); // deferred, and acknowledged as such
        let to2: Vec<_> = g
            .wire
            .iter()
            .filter(|p| p.from == peer(1) && p.to == peer(2))
            .map(|p| p.msg.clone())
            .collect();
        assert!(
            matches!(
                to2[..],
                [Msg::Deferred {
                    t: 3,
                    why: Why::Held,
                    ..
                }]
            ),
            "{to2:?}"
        );
        deliver(&mut g, 1, peer(2));
        assert_eq!(g.p(2).deferral(PeerId(1)), Some(Why::Held));
        g.advance(1000); // leaves; the ENTER is not acknowledged yet, so no EXIT yet
        assert_eq!(g.p(1).state(), State::Held);
        g.ack_resource(); // ENTER acknowledged: EXIT goes out, still HELD
        assert_eq!(g.p(1).state(), State::Held);
        g.ack_resource(); // EXIT acknowledged: RELEASED, the deferred REPLY goes out
        assert_eq!(g.p(1).state(), State::Released);
        deliver(&mut g, 1, peer(2));
        assert_eq!(g.p(2).state(), State::Held);
    }

    #[test]
    fn a_silent_resource_delays_the_release_but_does_not_block_it() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        for _ in 0..80 {
            g.advance(100);
            g.wire.retain(|p| p.to != Party::Resource); // the resource never answers
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
                Some(peer(1)),
                &Msg::Request {
                    id: PeerId(1),
                    inc: Inc(1),
                    t: 1
                }
            ),
            Err(Rejected::FromSelf)
        );
        assert_eq!(
            p.handle_msg(
                Millis(0),
                Some(peer(4)),
                &Msg::Request {
                    id: PeerId(4),
                    inc: Inc(1),
                    t: 1
                }
            ),
            Err(Rejected::UnknownId(PeerId(4)))
        );
        assert_eq!(
            p.handle_msg(
                Millis(0),
                Some(peer(2)),
                &Msg::Exit {
                    id: PeerId(2),
                    inc: Inc(1),
                    t: 1,
                    clock: 1
                }
            ),
            Err(Rejected::NotForProcess)
        );
        assert_eq!(
            p.handle_msg(
                Millis(0),
                Some(Party::Resource),
                &Msg::Ack {
                    of: AckOf::Exit,
                    id: PeerId(2),
                    inc: Inc(1),
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
    fn timestamps_beyond_any_honest_clock_are_refused() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        let huge = Msg::Request {
            id: PeerId(2),
            inc: Inc(1),
            t: u64::MAX,
        };
        assert_eq!(
            p.handle_msg(Millis(0), Some(peer(2)), &huge),
            Err(Rejected::TooLarge(u64::MAX))
        );
        let reply = Msg::Reply {
            id: PeerId(2),
            inc: Inc(1),
            clock: MAX_CLOCK + 1,
            t: 1,
            to: Inc(1),
        };
        assert!(p.handle_msg(Millis(0), Some(peer(2)), &reply).is_err());
        assert_eq!(p.clock(), 0, "nothing refused moves the clock");
        // The largest accepted one leaves room: the clock still counts, and the next REQUEST
        // of that process is a new one, not taken for a resend.
        let big = Msg::Request {
            id: PeerId(2),
            inc: Inc(1),
            t: MAX_CLOCK,
        };
        p.handle_msg(Millis(0), Some(peer(2)), &big).unwrap();
        assert_eq!(p.clock(), MAX_CLOCK + 1);
        p.handle_key(Millis(0), Key::Request);
        assert_eq!(p.current().unwrap().t, MAX_CLOCK + 2);
    }

    #[test]
    fn a_peer_killed_and_restarted_without_goodbye_is_served_again() {
        let mut g = Group::new(2);
        for _ in 0..5 {
            g.key(2, Key::Internal);
        }
        g.key(2, Key::Request); // T=6
        deliver(&mut g, 2, peer(1));
        g.wire.clear();
        g.ps[1] = Ra::new(cfg(2, 2)).unwrap(); // no goodbye
        g.key(2, Key::Request); // T=1 < 6
        deliver(&mut g, 2, peer(1));
        deliver(&mut g, 1, peer(2));
        assert_eq!(g.p(2).state(), State::Held);
    }

    #[test]
    fn a_late_duplicate_does_not_displace_a_deferred_request() {
        let mut g = Group::new(2);
        g.key(2, Key::Request); // T=1
        deliver(&mut g, 2, peer(1));
        deliver(&mut g, 1, peer(2)); // P1 replied; P2 enters and leaves
        g.advance(1000);
        g.ack_resource();
        g.ack_resource();
        g.key(1, Key::Request); // P1 asks (T=3)
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1)); // P1 is HELD
        g.key(2, Key::Request); // P2 asks again: deferred by P1
        let t2 = g.p(2).current().unwrap().t;
        deliver(&mut g, 2, peer(1));
        // A late copy of P2's first REQUEST (T=1) arrives while P1 is HELD.
        g.p(1)
            .handle_msg(
                Millis(0),
                Some(peer(2)),
                &Msg::Request {
                    id: PeerId(2),
                    inc: Inc(1),
                    t: 1,
                },
            )
            .unwrap();
        g.drain();
        g.advance(1000);
        g.ack_resource();
        g.ack_resource(); // P1 releases: REPLY for t2 (and the harmless one for T=1)
        let replies: Vec<u64> = g
            .wire
            .iter()
            .filter_map(|p| match p.msg {
                Msg::Reply { t, .. } if p.from == peer(1) => Some(t),
                _ => None,
            })
            .collect();
        assert!(replies.contains(&t2) && replies.contains(&1), "{replies:?}");
        while g.wire.iter().any(|p| p.from == peer(1)) {
            deliver(&mut g, 1, peer(2));
        }
        assert_eq!(g.p(2).state(), State::Held);
    }

    #[test]
    fn only_a_process_own_address_speaks_for_it() {
        let mut p = Ra::new(cfg(1, 3)).unwrap();
        let req = Msg::Request {
            id: PeerId(2),
            inc: Inc(1),
            t: 1,
        };
        let reply = Msg::Reply {
            id: PeerId(2),
            inc: Inc(1),
            to: Inc(1),
            clock: 5,
            t: 1,
        };
        let ack = Msg::Ack {
            of: AckOf::Enter,
            id: PeerId(1),
            inc: Inc(1),
            t: 1,
        };
        assert_eq!(
            p.handle_msg(Millis(0), None, &req),
            Err(Rejected::NotFromAProcess)
        );
        assert_eq!(
            p.handle_msg(Millis(0), Some(Party::Resource), &reply),
            Err(Rejected::NotFromAProcess)
        );
        assert_eq!(
            p.handle_msg(Millis(0), Some(peer(3)), &req),
            Err(Rejected::FromAnotherProcess)
        );
        assert_eq!(
            p.handle_msg(Millis(0), Some(peer(2)), &ack),
            Err(Rejected::NotFromResource)
        );
        assert_eq!(
            p.handle_msg(Millis(0), None, &ack),
            Err(Rejected::NotFromResource)
        );
        assert_eq!(p.clock(), 0, "nothing refused ticks the clock");
        assert!(p.poll_transmit().is_none());
        assert_eq!(p.handle_msg(Millis(0), Some(peer(2)), &req), Ok(()));
        assert_eq!(p.clock(), 2);
    }

    #[test]
    fn roster_maps_ids_to_mesh_slots_and_back() {
        for n in 1..=7u16 {
            for me in 1..=n {
                let r = Roster::new(PeerId(me), n);
                assert_eq!(r.n, n);
                let mut slots: Vec<usize> = (1..=n)
                    .filter(|j| *j != me)
                    .map(|j| r.slot(peer(j)))
                    .collect();
                slots.push(r.slot(Party::Resource));
                // Every slot used once, in id order, the resource last.
                assert_eq!(
                    slots,
                    (0..usize::from(n)).collect::<Vec<_>>(),
                    "me={me} n={n}"
                );
                for (i, s) in slots.iter().enumerate() {
                    let back = r.party(*s).unwrap();
                    assert_eq!(r.slot(back), i, "me={me} n={n}");
                    assert_ne!(back, peer(me));
                }
                assert_eq!(r.party(usize::from(n)), None);
            }
        }
    }

    #[test]
    fn one_event_per_message_sent_and_received() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        let e1 = g.events_of(1);
        let e2 = g.events_of(2);
        let sent = |to, kind, t| Event::Sent {
            to,
            kind,
            t,
            resend: false,
        };
        assert_eq!(
            e1[..4],
            [
                Event::Requested { t: 1, need: 1 },
                sent(peer(2), Kind::Request, 1),
                Event::Reply {
                    from: PeerId(2),
                    t: 1,
                    got: 1,
                    need: 1
                },
                Event::Entered {
                    t: 1,
                    waited: Millis(0)
                },
            ]
        );
        assert_eq!(e1[4], sent(Party::Resource, Kind::Enter, 1));
        assert_eq!(
            e2,
            [
                Event::Request {
                    from: PeerId(1),
                    t: 1,
                    answer: Answer::Replied
                },
                sent(peer(1), Kind::Reply, 1),
            ]
        );
        // The REPLY is sent with the clock of the receive: sending it does not tick.
        let clocks: Vec<u64> = g
            .log
            .iter()
            .filter(|(p, _)| p.0 == 2)
            .map(|(_, l)| l.clock)
            .collect();
        assert_eq!(clocks, [2, 2]);
    }

    #[test]
    fn the_harness_finds_two_processes_inside() {
        // A forged grant accepted as if from process 2 (the negative control of the checks
        // the simulation relies on): both enter, and the harness says so.
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.key(2, Key::Request);
        g.p(1)
            .handle_msg(
                Millis(0),
                Some(peer(2)),
                &Msg::Reply {
                    id: PeerId(2),
                    inc: Inc(1),
                    to: Inc(1),
                    clock: 9,
                    t: 1,
                },
            )
            .unwrap();
        g.p(2)
            .handle_msg(
                Millis(0),
                Some(peer(1)),
                &Msg::Reply {
                    id: PeerId(1),
                    inc: Inc(1),
                    to: Inc(1),
                    clock: 9,
                    t: 1,
                },
            )
            .unwrap();
        g.drain();
        assert!(
            g.faults
                .iter()
                .any(|f| matches!(f, crate::lab1::harness::Fault::TwoHeld(_))),
            "{:?}",
            g.faults
        );
    }

    // ---------------------------------------------------------------- restarts

    /// Issue 1 of the restart report: p2 restarts with the same T as its previous life's
    /// last request while p1 is HELD. Its new REQUEST is not a resend: it is deferred.
    #[test]
    fn a_restarted_process_with_the_same_t_is_deferred_while_held() {
        let mut g = Group::new(2);
        g.key(2, Key::Request); // T=1
        deliver(&mut g, 2, peer(1));
        deliver(&mut g, 1, peer(2)); // p1 replied; p2 enters and leaves
        g.advance(1000);
        g.ack_resource();
        g.ack_resource();
        g.key(1, Key::Request);
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        assert_eq!(g.p(1).state(), State::Held);
        g.wire.clear();
        g.restart(2);
        g.ack_resource(); // HELLO acknowledged
        g.key(2, Key::Request); // T=1 again, new incarnation
        assert_eq!(g.p(2).current().unwrap().t, 1);
        deliver(&mut g, 2, peer(1));
        assert!(
            !g.wire
                .iter()
                .any(|p| p.from == peer(1) && matches!(p.msg, Msg::Reply { .. })),
            "p1 is inside: no REPLY to the new p2 {:?}",
            g.wire
        );
        assert!(g.events_of(1).contains(&Event::Restarted {
            from: PeerId(2),
            regranted: false
        }));
        assert!(g.faults.is_empty(), "{:?}", g.faults);
    }

    /// Issue 2: a grant given before a restart no longer counts. p3 is HELD; p1 requests,
    /// p2 replies, p3 defers; p2 restarts and requests (T=1); p1 replies to it (smaller T)
    /// and takes back p2's old grant; when p3 leaves, only p2 enters.
    #[test]
    fn a_grant_from_a_previous_life_is_void() {
        let mut g = Group::new(3);
        g.key(3, Key::Request);
        deliver(&mut g, 3, peer(1));
        deliver(&mut g, 3, peer(2));
        deliver(&mut g, 1, peer(3));
        deliver(&mut g, 2, peer(3));
        assert_eq!(g.p(3).state(), State::Held);
        g.key(1, Key::Request); // T=3
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1)); // p2's grant
        deliver(&mut g, 1, peer(3)); // deferred by p3
        g.wire.retain(|p| p.from != peer(2));
        g.restart(2);
        g.ack_resource();
        g.key(2, Key::Request); // T=1
        deliver(&mut g, 2, peer(1)); // p1: (1,2) < (3,1): replies, and voids the old grant
        assert!(g.events_of(1).contains(&Event::Restarted {
            from: PeerId(2),
            regranted: true
        }));
        deliver(&mut g, 1, peer(2)); // p1's REPLY to the new p2
        deliver(&mut g, 2, peer(3)); // deferred by p3
                                     // p1 asks the new p2 again; p2 (WANTED, T=1) defers it.
        deliver(&mut g, 1, peer(2));
        // p3 leaves and answers both.
        g.advance(1000);
        g.ack_resource();
        g.ack_resource();
        while let Some(i) = g.wire.iter().position(|p| p.from == peer(3)) {
            g.deliver_at(i).unwrap();
        }
        assert_eq!(g.p(2).state(), State::Held);
        assert_eq!(g.p(1).state(), State::Wanted, "p1 waits for the new p2");
        assert!(g.faults.is_empty(), "{:?}", g.faults);
    }

    /// A forged huge incarnation (one datagram from a process's address while it is down)
    /// must not make the real process's messages stale forever.
    #[test]
    fn an_incarnation_from_the_future_is_refused() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        p.limit_incarnations(Inc(1000));
        let forged = Msg::Request {
            id: PeerId(2),
            inc: Inc(u64::MAX),
            t: 1,
        };
        assert_eq!(
            p.handle_msg(Millis(0), Some(peer(2)), &forged),
            Err(Rejected::FutureIncarnation(Inc(u64::MAX)))
        );
        let real = Msg::Request {
            id: PeerId(2),
            inc: Inc(999),
            t: 1,
        };
        p.handle_msg(Millis(0), Some(peer(2)), &real).unwrap();
        assert!(matches!(
            p.poll_transmit(),
            Some(Transmit {
                msg: Msg::Reply { .. },
                ..
            })
        ));
    }

    #[test]
    fn messages_from_a_gone_incarnation_change_nothing() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        let new = Msg::Request {
            id: PeerId(2),
            inc: Inc(5),
            t: 3,
        };
        p.handle_msg(Millis(0), Some(peer(2)), &new).unwrap();
        let clock = p.clock();
        while p.poll_transmit().is_some() {}
        let old = Msg::Request {
            id: PeerId(2),
            inc: Inc(4),
            t: 9,
        };
        p.handle_msg(Millis(0), Some(peer(2)), &old).unwrap();
        assert_eq!(p.clock(), clock);
        assert!(p.poll_transmit().is_none());
        // A REPLY to our own previous life does not count either.
        p.handle_key(Millis(0), Key::Request);
        let t = p.current().unwrap().t;
        let stale = Msg::Reply {
            id: PeerId(2),
            inc: Inc(5),
            clock: 1,
            t,
            to: Inc(0),
        };
        p.handle_msg(Millis(0), Some(peer(2)), &stale).unwrap();
        assert_eq!(p.state(), State::Wanted);
    }

    /// Issue 5: a process stopped inside the CS sends its EXIT, and answers who waits, once
    /// the resource has acknowledged the EXIT (resent while it is lost).
    #[test]
    fn stopping_inside_answers_who_waits_once_the_exit_is_acknowledged() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        g.ack_resource();
        g.key(2, Key::Request);
        deliver(&mut g, 2, peer(1)); // deferred
        deliver(&mut g, 1, peer(2)); // the DEFERRED
        assert!(!g.stop(1), "done while inside the CS");
        g.advance(0); // its CS time ends now: it leaves at its next timeout, at once
        let to = |g: &Group, who: Party| g.wire.iter().filter(|p| p.to == who).count();
        assert_eq!(to(&g, Party::Resource), 1, "{:?}", g.wire);
        assert!(matches!(g.wire[0].msg, Msg::Exit { .. }), "{:?}", g.wire);
        assert_eq!(
            to(&g, peer(2)),
            0,
            "a REPLY before the EXIT's ACK: {:?}",
            g.wire
        );
        // The EXIT lost: resent, still no REPLY; a request typed meanwhile is not made.
        g.wire.clear();
        g.key(1, Key::Request);
        g.advance(100);
        assert_eq!(to(&g, Party::Resource), 1, "{:?}", g.wire);
        assert_eq!(to(&g, peer(2)), 0, "{:?}", g.wire);
        g.ack_resource();
        assert_eq!(g.resource.inside(), None);
        assert_eq!(to(&g, peer(2)), 1, "{:?}", g.wire);
        assert!(g.stop(1), "not done once RELEASED");
        assert_eq!(g.p(1).state(), State::Released);
        deliver(&mut g, 1, peer(2));
        assert_eq!(g.p(2).state(), State::Held);
        assert!(g.faults.is_empty(), "{:?}", g.faults);
    }

    /// A stopping process whose resource stays silent answers who waits after its patience.
    #[test]
    fn stopping_inside_with_a_silent_resource_answers_after_its_patience() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        deliver(&mut g, 1, peer(2));
        deliver(&mut g, 2, peer(1));
        g.ack_resource();
        g.key(2, Key::Request);
        deliver(&mut g, 2, peer(1));
        g.stop(1);
        g.advance(0);
        for _ in 0..29 {
            g.wire.retain(|p| p.to != Party::Resource);
            g.advance(100);
            assert!(!g.stop(1));
        }
        g.wire.retain(|p| p.to != Party::Resource);
        g.advance(100);
        assert!(g.stop(1), "still waiting after 3 s");
        assert!(replied_to(&g, 2), "{:?}", g.wire);
    }

    /// Whether a REPLY to process `id` is on the wire.
    fn replied_to(g: &Group, id: u16) -> bool {
        g.wire
            .iter()
            .any(|p| p.to == peer(id) && matches!(p.msg, Msg::Reply { .. }))
    }

    /// Stopped while asking, a process answers at once (it no longer competes).
    #[test]
    fn stopping_while_wanted_answers_at_once() {
        let mut g = Group::new(2);
        g.key(1, Key::Request);
        g.key(2, Key::Request);
        deliver(&mut g, 2, peer(1)); // 1 (T=1, id 1) defers 2 (T=1, id 2)
        assert!(g.stop(1));
        assert_eq!(g.p(1).state(), State::Released);
        assert!(replied_to(&g, 2), "{:?}", g.wire);
    }

    /// A restarted process answers REQUESTs only once the resource heard its HELLO.
    #[test]
    fn a_restarted_process_waits_for_the_resource_before_replying() {
        let mut g = Group::new(2);
        g.restart(1);
        g.key(2, Key::Request);
        deliver(&mut g, 2, peer(1));
        assert!(!g
            .wire
            .iter()
            .any(|p| p.from == peer(1) && matches!(p.msg, Msg::Reply { .. })));
        deliver(&mut g, 1, peer(2)); // DEFERRED: it is rejoining
        assert_eq!(g.p(2).deferral(PeerId(1)), Some(Why::Join));
        g.ack_resource();
        deliver(&mut g, 1, peer(2));
        assert_eq!(g.p(2).state(), State::Held);
    }

    /// A restarted process whose HELLO is not heard goes on after its patience, but keeps
    /// saying HELLO until the resource hears it (until then the resource may take its
    /// previous life for inside the CS).
    /// The HELLO queued at start leaves when the adapter's loop first runs, which may be as
    /// late as its resend was due: its resends count from there (it went out twice at once).
    #[test]
    fn the_hello_is_resent_a_retry_after_it_first_left() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        p.start(Millis(0));
        let retry = cfg(1, 2).retry;
        p.first_sent(retry);
        p.handle_timeout(retry);
        let hellos = std::iter::from_fn(|| p.poll_transmit())
            .filter(|t| matches!(t.msg, Msg::Hello { .. }))
            .count();
        assert_eq!(
            hellos, 1,
            "sent once at its first turn, not resent in the same turn"
        );
        assert_eq!(p.poll_timeout(), Some(Millis(retry.0 * 2)));
    }

    /// A resource that refuses (nothing listens yet: the student starts it second) is given
    /// up on at once, but the HELLO is still said, slowly, so that it hears it once started.
    #[test]
    fn a_refused_hello_is_still_said_slowly() {
        let mut p = Ra::new(cfg(1, 2)).unwrap();
        p.start(Millis(0));
        p.first_sent(Millis(0));
        while p.poll_transmit().is_some() {}
        p.handle_resource_refused(Millis(5));
        p.handle_resource_refused(Millis(6));
        assert_eq!(p.stats().resource_silent, 1, "given up on once");
        let slow = Millis(cfg(1, 2).retry.0 * 10);
        let mut last = Millis(5);
        for _ in 0..3 {
            let at = p.poll_timeout().expect("the HELLO is still due");
            assert_eq!(at, last + slow, "at a tenth of the pace, every time");
            p.handle_timeout(at);
            assert!(
                std::iter::from_fn(|| p.poll_transmit())
                    .any(|t| matches!(t.msg, Msg::Hello { .. })),
                "resent at {at:?}"
            );
            last = at;
        }
    }

    #[test]
    fn hello_is_said_until_the_resource_hears_it() {
        let mut g = Group::new(2);
        g.restart(1);
        for _ in 0..40 {
            g.advance(100);
            g.wire.retain(|p| p.to != Party::Resource);
        }
        assert!(g
            .events_of(1)
            .contains(&Event::ResourceSilent { of: AckOf::Hello }));
        g.advance(1000);
        assert!(
            g.wire
                .iter()
                .any(|p| p.to == Party::Resource && matches!(p.msg, Msg::Hello { .. })),
            "HELLO resent after the patience: {:?}",
            g.wire
        );
        g.ack_resource();
        g.advance(2000);
        assert!(
            !g.wire.iter().any(|p| matches!(p.msg, Msg::Hello { .. })),
            "heard: no more HELLO"
        );
    }

    #[test]
    fn alone_enters_at_once() {
        let mut p = Ra::new(cfg(1, 1)).unwrap();
        p.handle_key(Millis(0), Key::Request);
        assert_eq!(p.state(), State::Held);
    }
}
