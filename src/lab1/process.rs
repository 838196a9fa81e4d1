//! Lab 1's process: the [`ra`] core on the shared driver, with the keyboard (`x`
//! asks for the critical section, the own id is an internal event), an optional `--auto`
//! timer that asks at random moments, and the shared resource as one more connected peer.
//!
//! This module only translates: datagrams to [`Msg`]s for the core, the core's transmits to
//! datagrams, its events to lines. The protocol itself lives in the core; the check that every
//! process was given the same list (ROSTER, which the core never sees) in `roster`.

use std::io::Write;
use std::time::{Duration, Instant};

use mio::Poll;

use crate::io::driver::{open_mesh, App, Datagram, Driver};
use crate::io::mesh::peer::Link;
use crate::values::addr::AddrSpec;
use crate::values::limits::{MAX_PROCESSES, RESOURCE_PATIENCE, RETRY_EVERY};
use crate::values::time::{DisplayDuration, Millis};

use crate::io::mesh::{Mesh, StartError};
use crate::lab1::auth::{Auth, To};
use crate::lab1::events::{Hint, LabLine, MutexListening, MutexSummary, StillWaiting};
use crate::lab1::ra::{self, ConfigError, Event, Key, Party, Ra, Roster};
use crate::lab1::roster::{self, Finding, RosterCheck};
use crate::lab1::wire::{Inc, LabWireError, Msg, PeerId, Why, MAX_TEXT};
use crate::metrics::expo::{Expo, Kind, Value};
use crate::metrics::Buckets;
use crate::output::{Output, Verb};

/// Who an address is in this process's list, as a ROSTER line says it.
struct ListPos(Option<u16>);

impl core::fmt::Display for ListPos {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(k) => write!(f, "process {k}'s address in this list"),
            None => f.write_str("an address not in this list"),
        }
    }
}

/// While WANTED, how often a line says who has not replied yet.
const WAITING_LINE_EVERY: Duration = Duration::from_secs(3);

/// What a Lab 1 process needs to start.
#[derive(Debug, Clone)]
pub struct MutexConfig {
    /// Own id, 1-based position in `addrs`.
    pub id: u16,
    /// Every process's address, in id order (own included).
    pub addrs: Vec<AddrSpec>,
    /// The shared resource.
    pub resource: AddrSpec,
    /// Time inside the CS.
    pub cs_time: Duration,
    /// Ask for the CS at random moments around this period.
    pub auto: Option<Duration>,
    /// Text sent to the resource on entry.
    pub text: heapless::String<MAX_TEXT>,
    /// Seed for `auto`'s randomness.
    pub seed: u64,
    /// This run's incarnation: larger than any earlier run's (the program uses its start
    /// time in milliseconds since the UNIX epoch).
    pub inc: u64,
    /// Read stdin (off for in-process tests, which must not touch the test runner's stdin).
    pub keyboard: bool,
    /// The shared key (`--key-file`), or none.
    pub auth: Auth,
}

/// Why a Lab 1 process could not start.
#[derive(Debug)]
pub enum MutexStartError {
    /// The sockets could not be opened (the own address, the event loop).
    Start(StartError),
    /// Id or group size.
    Config(ConfigError),
}

impl std::error::Error for MutexStartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MutexStartError::Start(e) => Some(e),
            MutexStartError::Config(e) => Some(e),
        }
    }
}

impl core::fmt::Display for MutexStartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MutexStartError::Start(e) => e.fmt(f),
            MutexStartError::Config(e) => e.fmt(f),
        }
    }
}

/// The Lab 1 process on the driver.
#[derive(Debug)]
pub struct LabProcess {
    ra: Ra,
    roster: Roster,
    start: Instant,
    auto: Option<Duration>,
    next_auto: Option<Instant>,
    rng: u64,
    /// Datagrams that are not Lab 1 messages.
    malformed: u64,
    /// Messages the core refused (wrong id, not for a process) or that lie about their sender.
    rejected: u64,
    keyboard: bool,
    /// When to say again who has not replied (while WANTED).
    next_waiting_line: Option<Instant>,
    /// The loop has run a turn: what the core queued at start (the HELLO) has left.
    running: bool,
    /// Whether the other processes were given the same address list.
    lists: RosterCheck,
    /// This run's incarnation (for ROSTER).
    inc: Inc,
    /// When a failing MAC from a process's address may be explained again.
    mac_hint_quiet: Millis,
    /// When the resource's word that another address claims this id may be said again.
    claimed_quiet: Millis,
    /// Since when the shared resource has not acknowledged what it was sent (given up on it,
    /// `None` once it answers): said again every 30 s.
    resource_unheard: Option<Instant>,
    /// Seals what is sent and checks what arrives (the shared key, if any).
    auth: Auth,
    /// Each entry's wait, from request to entry (`--metrics`).
    waits: Buckets,
}

/// Opens the sockets (the other processes, then the resource), prints the start line and
/// returns the loop, ready to run.
#[inline(never)]
pub fn start<W: Write>(
    cfg: &MutexConfig,
    mut out: Output<W>,
) -> Result<Box<Driver<LabProcess, W>>, MutexStartError> {
    let n = u16::try_from(cfg.addrs.len())
        .map_err(|_| MutexStartError::Config(ConfigError::TooMany))?;
    let ra = Ra::new(ra::Config {
        id: PeerId(cfg.id),
        n,
        cs_time: Millis::from_duration(cfg.cs_time),
        retry: Millis::from_duration(RETRY_EVERY),
        resource_patience: Millis::from_duration(RESOURCE_PATIENCE),
        text: cfg.text.clone(),
        inc: Inc(cfg.inc),
    })
    .map_err(MutexStartError::Config)?;
    let own = &cfg.addrs[usize::from(cfg.id) - 1];
    // Peers in id order without ourselves, then the resource: the `Roster`'s layout.
    let mut peers: Vec<AddrSpec> = cfg
        .addrs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i + 1 != usize::from(cfg.id))
        .map(|(_, a)| a.clone())
        .collect();
    peers.push(cfg.resource.clone());
    let poll = Poll::new().map_err(|e| MutexStartError::Start(StartError::Poll(e)))?;
    let mesh = open_mesh(&poll, own, &peers, &mut out).map_err(MutexStartError::Start)?;
    out.emit(&MutexListening {
        id: PeerId(cfg.id),
        n,
        addr: mesh.local_addr(),
        resource: &cfg.resource.text,
        cs_time: cfg.cs_time,
        auto: cfg.auto.is_some(),
    });
    if cfg.auth.is_keyed() {
        out.notice(format_args!(
            "every message is authenticated with HMAC-SHA256 (--key-file): messages without the right mac= are rejected"
        ));
    }
    let now = Instant::now();
    let mut app = LabProcess {
        roster: Roster::new(ra.id(), n),
        ra,
        start: now,
        auto: cfg.auto,
        next_auto: None,
        rng: cfg.seed | 1,
        malformed: 0,
        rejected: 0,
        keyboard: cfg.keyboard,
        next_waiting_line: None,
        running: false,
        lists: RosterCheck::new(PeerId(cfg.id), n, roster::digest(&cfg.addrs)),
        inc: Inc(cfg.inc),
        mac_hint_quiet: Millis(0),
        claimed_quiet: Millis(0),
        resource_unheard: None,
        waits: Buckets::default(),
        auth: cfg.auth.clone(),
    };
    app.schedule_auto(now);
    // HELLO to the resource: a CS an earlier run of this process held is over.
    let ms = app.now_ms(now);
    app.ra.start(ms);
    Driver::new(poll, mesh, app, out).map_err(MutexStartError::Start)
}

impl LabProcess {
    /// The core, for tests and the summary.
    pub fn core(&self) -> &Ra {
        &self.ra
    }

    fn now_ms(&self, now: Instant) -> Millis {
        Millis::since(self.start, now)
    }

    /// `ROSTER` to the processes that have not yet answered with the same list.
    fn tell_lists(&mut self, ms: Millis, now: Instant, mesh: &mut Mesh) {
        let due: heapless::Vec<PeerId, MAX_PROCESSES> = self.lists.due(ms).collect();
        let text = roster::encode(self.ra.id(), self.inc, self.lists.digest());
        let wall = crate::values::time::wall_us();
        for j in due {
            let i = self.roster.slot(Party::Process(j));
            mesh.send(
                i,
                &self.auth.seal(text.as_bytes(), To::Process(j), wall),
                now,
            );
        }
    }

    /// What a ROSTER showed, in the words a student needs.
    fn say_lists_differ<W: Write>(&self, out: &mut Output<W>, f: Finding) {
        let whose = |at: Option<Party>| match at {
            Some(Party::Process(k)) => ListPos(Some(k.0)),
            _ => ListPos(None),
        };
        match f {
            Finding::OtherList { id, from, at } => out.notice(format_args!(
                "process {} at {from} ({}) was given another address list than this one (or the same addresses written otherwise, a name for an IP): every process needs the same list, written the same, in id order (the rotated lists, own address first, are the counter exercise's)",
                id.0,
                whose(at)
            )),
            Finding::NotItsAddress { id, from, at } => out.notice(format_args!(
                "{from} ({}) says it is process {}, whose address in this list is another: is the same id given to two processes?",
                whose(at),
                id.0
            )),
            Finding::NoSuchId { id, from } => out.notice(format_args!(
                "{from} says it is process {}, an id this list of {} (this process is {}) does not give it: every process needs the same list, in id order, and its own position in it as its id",
                id.0,
                self.lists.n(),
                self.ra.id().0
            )),
        }
    }

    /// A bad MAC from a process's address: with one key for all, the MAC binds the receiver's
    /// id, so that is what a process given another list (or id) sends. Said at most every 30 s.
    fn explain_mac<W: Write>(
        &mut self,
        now: Instant,
        out: &mut Output<W>,
        d: &Datagram<'_>,
        e: &crate::lab1::auth::AuthError,
    ) {
        let from_a_process = matches!(
            d.peer.and_then(|i| self.roster.party(i)),
            Some(Party::Process(_))
        );
        let ms = self.now_ms(now);
        if from_a_process && *e == crate::lab1::auth::AuthError::Bad && ms >= self.mac_hint_quiet {
            self.mac_hint_quiet = ms + Millis(30_000);
            out.notice(format_args!(
                "a MAC from {} fails: with the same key, that is most likely a process given another address list or id (the MAC names the receiver's id): every process needs the same list, in id order",
                d.from
            ));
        }
    }

    /// `CLAIMED`: the shared resource hears this process's id from another address too. Only
    /// the resource's address says it; said at most every 30 s.
    fn claimed<W: Write>(
        &mut self,
        now: Instant,
        out: &mut Output<W>,
        d: &Datagram<'_>,
        c: Result<(PeerId, Inc, std::net::SocketAddr), ()>,
    ) {
        let from_resource = d.peer.and_then(|i| self.roster.party(i)) == Some(Party::Resource);
        match c {
            Ok((id, inc, other)) if from_resource && id == self.ra.id() => {
                let ms = self.now_ms(now);
                if ms >= self.claimed_quiet {
                    self.claimed_quiet = ms + Millis(30_000);
                    out.notice(format_args!(
                        "the shared resource hears process {} from {other} too (incarnation {}; this one is {}): is the same id given to two processes? Every process needs its own id, its position in the list",
                        id.0, inc.0, self.inc.0
                    ));
                }
            }
            Ok(_) => self.reject(
                out,
                d,
                &"CLAIMED not from the shared resource's address, or not about this process's id",
            ),
            Err(()) => {
                self.malformed += 1;
                out.refused(Verb::Ignored, d.from, d.bytes, &LabWireError::Fields);
            }
        }
    }

    /// The HELLO queued at start leaves on the loop's first turn, which can come as late as
    /// its first resend is due (the first lookups, or the resend's own deadline): its resends
    /// count from this turn, or it would go out twice at once.
    fn first_turn(&mut self, now: Millis) {
        if !self.running {
            self.running = true;
            self.ra.first_sent(now);
        }
    }

    /// While WANTED, every [`WAITING_LINE_EVERY`]: who has not replied yet, and whether they
    /// are down.
    fn say_who_is_missing<W: Write>(&mut self, now: Instant, mesh: &Mesh, out: &mut Output<W>) {
        let Some((mine, since, resends)) = self.ra.waiting() else {
            self.next_waiting_line = None;
            return;
        };
        let due = *self
            .next_waiting_line
            .get_or_insert(since.to_instant(self.start) + WAITING_LINE_EVERY);
        if now < due {
            return;
        }
        self.next_waiting_line = Some(now + WAITING_LINE_EVERY);
        let mut missing: heapless::Vec<(PeerId, bool, Option<Why>), MAX_PROCESSES> =
            heapless::Vec::new();
        for j in self.ra.missing() {
            let down = mesh.peer(self.roster.slot(Party::Process(j))).link == Link::Down;
            // Cannot overflow: at most n - 1 <= MAX_PROCESSES others.
            let _ = missing.push((j, down, self.ra.deferral(j)));
        }
        out.emit(&StillWaiting {
            me: self.ra.id(),
            clock: self.ra.clock(),
            t: mine.t,
            waited: self.now_ms(now) - since,
            resends,
            missing: &missing,
        });
    }

    fn schedule_auto(&mut self, now: Instant) {
        let Some(period) = self.auto else { return };
        // xorshift64: uniform in [0.5, 1.5) periods.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let f = 512 + (self.rng >> 54) as u32; // 512..1536, in 1024ths
        self.next_auto = Some(now + period * f / 1024);
    }

    fn reject<W: Write>(
        &mut self,
        out: &mut Output<W>,
        d: &Datagram<'_>,
        why: &dyn core::fmt::Display,
    ) {
        self.rejected += 1;
        out.refused(Verb::Rejected, d.from, d.bytes, why);
    }

    /// Prints what the core logged, then sends what it queued. In that order: an event is
    /// stamped (`ts_us`) before the messages it caused leave, so no receiver's event can
    /// carry an earlier time than its cause (a `left` stamped after the deferred REPLY had
    /// gone let the next holder's `entered` look earlier: a false overlap by wall clock).
    fn flush<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>) {
        let me = self.ra.id();
        while let Some(logged) = self.ra.poll_event() {
            match logged.event {
                Event::ResourceSilent { .. } => {
                    self.resource_unheard.get_or_insert(now);
                }
                Event::Acked { .. } => self.resource_unheard = None,
                Event::Entered { waited, .. } => self.waits.observe(waited),
                _ => {}
            }
            out.emit(&LabLine { me, logged });
        }
        let wall = crate::values::time::wall_us();
        while let Some(t) = self.ra.poll_transmit() {
            let i = self.roster.slot(t.to);
            let to = match t.to {
                Party::Process(j) => To::Process(j),
                Party::Resource => To::Resource,
            };
            mesh.send(i, &self.auth.seal(t.msg.encode().as_bytes(), to, wall), now);
        }
    }
}

impl App for LabProcess {
    /// With a key every message carries its MAC; the driver's goodbye carries none.
    fn bare_goodbye(&self) -> bool {
        !self.auth.is_keyed()
    }
    fn mode(&self) -> &'static str {
        "mutex"
    }

    fn metrics(&self, _now: Instant, _mesh: &Mesh, e: &mut Expo<'_>) {
        let s = self.ra.stats();
        let c = |n: u64| Value::Count(n);
        for (name, help, v) in [
            (
                "peerlab_lab1_requests_total",
                "Times this process asked for the critical section.",
                s.requests,
            ),
            (
                "peerlab_lab1_entries_total",
                "Entries into the critical section.",
                s.entries,
            ),
            (
                "peerlab_lab1_messages_sent_total",
                "REQUEST and REPLY messages sent to the other processes, resends included.",
                s.sent,
            ),
            (
                "peerlab_lab1_resends_total",
                "Of those, resends (no answer in time: a lost message or a process down).",
                s.resent,
            ),
            (
                "peerlab_lab1_deferrals_total",
                "Requests of others this process deferred (answered after its own exit).",
                s.deferred_sent,
            ),
            (
                "peerlab_lab1_resource_messages_sent_total",
                "HELLO, ENTER and EXIT sent to the shared resource, resends included.",
                s.resource_sent,
            ),
            (
                "peerlab_lab1_resource_resends_total",
                "Of those, resends.",
                s.resource_resent,
            ),
            (
                "peerlab_lab1_duplicates_total",
                "Duplicate or stale messages received and ignored.",
                s.duplicates,
            ),
        ] {
            e.single(name, Kind::Counter, help, c(v));
        }
        e.single(
            "peerlab_lab1_clock",
            Kind::Gauge,
            "This process's Lamport clock.",
            c(self.ra.clock()),
        );
        e.single(
            "peerlab_lab1_state",
            Kind::Gauge,
            "0 released, 1 wanted (waiting for replies), 2 held (inside the critical section).",
            c(match self.ra.state().as_str() {
                "RELEASED" => 0,
                "WANTED" => 1,
                _ => 2,
            }),
        );
        e.family(
            "peerlab_lab1_wait_seconds",
            Kind::Histogram,
            "Time from a request to the entry into the critical section.",
        );
        let buckets: heapless::Vec<(u64, u64), 16> = self.waits.buckets().collect();
        e.histogram(
            "peerlab_lab1_wait_seconds",
            &[],
            &buckets,
            Value::Millis(self.waits.sum().0),
            self.waits.count(),
        );
        e.counts(
            "peerlab_datagrams_refused_total",
            "Datagrams not taken, by reason: malformed (not a Lab 1 message), rejected (not from the address that speaks for the id it names, a wrong or replayed MAC, refused by the core).",
            "reason",
            &[("malformed", self.malformed), ("rejected", self.rejected)],
        );
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let core = self.ra.poll_timeout().map(|m| m.to_instant(self.start));
        // The first turn at once: the HELLO is queued.
        let first = (!self.running).then_some(self.start);
        let lists = self.lists.poll_timeout().map(|m| m.to_instant(self.start));
        [first, core, lists, self.next_auto, self.next_waiting_line]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>) {
        let ms = self.now_ms(now);
        self.first_turn(ms);
        self.tell_lists(ms, now, mesh);
        self.ra.handle_timeout(ms);
        if self.next_auto.is_some_and(|a| a <= now) {
            self.ra.request(ms); // ignored unless RELEASED
            self.schedule_auto(now);
        }
        // "connection refused" from the resource: do not wait out its patience for an ACK.
        let slot = self.roster.slot(Party::Resource);
        if mesh.take_refused(slot) {
            self.ra.handle_resource_refused(ms);
        }
        self.flush(now, mesh, out);
        self.say_who_is_missing(now, mesh, out);
    }

    fn handle_datagram<W: Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        self.first_turn(self.now_ms(now));
        // The key first (I/O framing): a message without the right tag is not looked at.
        let wall = crate::values::time::wall_us();
        let text = match self.auth.open(d.bytes, To::Process(self.ra.id()), wall) {
            Ok(t) => t,
            Err(e) => {
                use crate::lab1::auth::AuthError as A;
                let fresh_only = matches!(
                    e,
                    A::Replayed | A::Forgotten | A::BeforeStart | A::OutsideWindow
                );
                if fresh_only && d.bytes.starts_with(b"ROSTER ") {
                    // A genuine ROSTER (its MAC is right) that is late: sealed while this
                    // process was starting, or a network copy. It changes nothing and comes
                    // again in 2 s: counted among the rejected, not said.
                    self.rejected += 1;
                    return;
                }
                self.reject(out, &d, &e);
                self.explain_mac(now, out, &d, &e);
                return;
            }
        };
        if let Some(c) = roster::decode_claimed(text) {
            self.claimed(now, out, &d, c);
            return;
        }
        if let Some(r) = roster::decode(text) {
            match r {
                Ok((id, _inc, digest)) => {
                    let at = d.peer.and_then(|i| self.roster.party(i));
                    let ms = self.now_ms(now);
                    if let Some(f) = self.lists.handle(ms, d.from, at, id, digest) {
                        self.say_lists_differ(out, f);
                    }
                    let text = roster::encode(self.ra.id(), self.inc, self.lists.digest());
                    match at {
                        Some(Party::Process(k)) => {
                            if self.lists.answer(ms, k) {
                                let seal = self.auth.seal(text.as_bytes(), To::Process(k), wall);
                                mesh.send(self.roster.slot(Party::Process(k)), &seal, now);
                            }
                        }
                        // Not a process of this list (its own address differs in its list):
                        // answered too, so that it learns its list differs.
                        _ => {
                            if self.lists.answer_stranger(ms) {
                                let seal = self.auth.seal(text.as_bytes(), To::Process(id), wall);
                                mesh.send_to(d.from, &seal);
                            }
                        }
                    }
                }
                Err(()) => {
                    self.malformed += 1;
                    out.refused(Verb::Ignored, d.from, d.bytes, &LabWireError::Fields);
                }
            }
            return;
        }
        let msg = match Msg::decode(text) {
            Ok(m) => m,
            Err(e) => {
                self.malformed += 1;
                out.refused(Verb::Ignored, d.from, d.bytes, &e);
                return;
            }
        };
        // Who sent it, by source address; the core decides whether that sender may speak
        // for the id in the message.
        let from = d.peer.and_then(|i| self.roster.party(i));
        self.ra
            .limit_incarnations(crate::lab1::wire::incarnation_limit());
        if let Err(r) = self.ra.handle_msg(self.now_ms(now), from, &msg) {
            self.reject(out, &d, &r);
        }
        self.flush(now, mesh, out);
    }

    fn wants_keyboard(&self) -> bool {
        self.keyboard
    }

    fn remind<W: Write>(&self, now: Instant, mesh: &Mesh, out: &mut Output<W>) {
        let Some(since) = self.resource_unheard else {
            return;
        };
        let at = &mesh.peer(self.roster.slot(Party::Resource)).spec;
        out.notice(format_args!(
            "the shared resource {}:{} has still not answered (given up {} ago): is it running (`process shared-resource`, started before the processes) and is --resource its address? Said again every 30s while it lasts",
            at.host(),
            at.port,
            DisplayDuration(now - since)
        ));
    }

    fn no_keyboard<W: Write>(&self, out: &mut Output<W>) {
        if self.auto.is_some() {
            out.notice(format_args!(
                "no keyboard (stdin is /dev/null or closed): the CS is asked for automatically (--auto)"
            ));
        } else {
            out.notice(format_args!(
                "no keyboard: stdin is /dev/null or closed, so nothing can be typed and this process will never ask for the CS; attach a terminal or a pipe (docker: stdin_open and tty), or run with --auto 3s to ask at random moments"
            ));
        }
    }

    fn handle_line<W: Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        line: &[u8],
    ) {
        let line = line.trim_ascii();
        let own = crate::values::decimal::encode_counter(u64::from(self.ra.id().0));
        let key = if line == b"x" || line == b"X" {
            Some(Key::Request)
        } else if line == &own[..] {
            Some(Key::Internal)
        } else {
            None
        };
        match key {
            Some(k) => self.ra.handle_key(self.now_ms(now), k),
            None if line.is_empty() => {}
            None => {
                out.emit(&Hint {
                    id: self.ra.id(),
                    input: line,
                });
            }
        }
        self.flush(now, mesh, out);
    }

    fn stop<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>) -> bool {
        // Stopping inside the CS: it leaves (the EXIT acknowledged), and the deferred requests
        // are answered, so neither the resource nor the others wait for a process that is gone.
        let done = self.ra.stop(self.now_ms(now));
        self.flush(now, mesh, out);
        done
    }

    fn finish<W: Write>(&mut self, mesh: &mut Mesh, out: &mut Output<W>) {
        let down = (0..mesh.len())
            .filter(|&i| mesh.peer(i).link == Link::Down)
            .count();
        out.emit(&MutexSummary {
            id: self.ra.id(),
            ran: self.start.elapsed(),
            stats: self.ra.stats(),
            malformed: self.malformed,
            rejected: self.rejected,
            clock: self.ra.clock(),
            state: self.ra.state().as_str(),
            down,
            lists_differ: self.lists.differ(),
        });
    }
}
