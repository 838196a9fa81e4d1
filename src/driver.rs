//! The peer's event loop: the only code that polls, sends and receives.
//!
//! One thread and one `mio::Poll`. Registered sources: the server socket ([`SERVER`]), one
//! connected socket per peer (`Token(1 + i)`), and the SIGINT/SIGTERM self-pipe
//! ([`SIGNALS`]). The broadcast is a deadline, not a sleep: the poll timeout is the time left
//! until the next deadline (or the next name resolution), and the clock is read again after
//! every wake-up. Readiness is edge-triggered, so each readable socket is drained until
//! `WouldBlock`.
//!
//! The message path (format, send, receive, parse, account, print) uses only the fixed
//! buffers owned by [`Node`]; `tests/alloc.rs` counts allocations to prove it.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::account::{Sequence, Verdict};
use crate::cli::{AddrSpec, DisplayDuration};
use crate::limits::{MAX_DGRAM, MAX_PEERS, MAX_STRANGERS};
use crate::net::{self, BindError};
use crate::output::{Down, Output, Payload, Row, Who};
use crate::peer::{PeerState, Resolved};
use crate::wire::{encode_counter, parse_counter, BYE, HEALTH_OK, HEALTH_PROBE};

/// The server socket's token.
pub const SERVER: Token = Token(0);
/// The signal pipe's token (peers use `1..=MAX_PEERS`).
pub const SIGNALS: Token = Token(usize::MAX - 1);

/// What the peer needs to start: the parsed command line.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Own address.
    pub addr: AddrSpec,
    /// The peers, in the order given.
    pub peers: Vec<AddrSpec>,
    /// Time between broadcasts.
    pub interval: Duration,
    /// Drop datagrams from addresses that are not peers.
    pub strict: bool,
}

/// Why the peer could not start.
#[derive(Debug)]
pub enum StartError {
    /// The server socket.
    Bind(BindError),
    /// `mio::Poll` or a registration failed.
    Poll(io::Error),
    /// More peers than [`MAX_PEERS`].
    TooManyPeers(usize),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Bind(e) => e.fmt(f),
            StartError::Poll(e) => write!(f, "cannot set up the event loop: {e}"),
            StartError::TooManyPeers(n) => {
                write!(f, "at most {MAX_PEERS} peers are supported, got {n}")
            }
        }
    }
}

/// A peer and its connected socket (none until its name resolves).
#[derive(Debug)]
struct Slot {
    state: PeerState,
    socket: Option<UdpSocket>,
}

/// A sender that is not a configured peer: accounted by its address.
#[derive(Debug)]
struct Stranger {
    addr: SocketAddr,
    seq: Sequence,
    foreign: u64,
}

/// Who a datagram is attributed to.
#[derive(Debug, Clone, Copy)]
enum Source {
    Peer(usize),
    Stranger(usize),
    /// The stranger table is full: counted in `Node::others`.
    Other,
}

/// One running peer process.
#[derive(Debug)]
pub struct Node<W: Write> {
    poll: Poll,
    events: Events,
    server: UdpSocket,
    local: SocketAddr,
    peers: heapless::Vec<Slot, MAX_PEERS>,
    strangers: heapless::Vec<Stranger, MAX_STRANGERS>,
    /// Datagrams from senders that did not fit in `strangers`.
    others: u64,
    /// Datagrams dropped by `--strict`.
    dropped: u64,
    strict: bool,
    out: Output<W>,
    /// The next counter to send.
    counter: u64,
    deadline: Instant,
    interval: Duration,
    started: Instant,
    fell_behind_said: bool,
    quit: bool,
    buf: [u8; MAX_DGRAM],
}

impl<W: Write> Node<W> {
    /// Binds the server socket, resolves and connects the peers that resolve now, and prints
    /// the start line. The first broadcast is due at once.
    pub fn new(cfg: &PeerConfig, out: Output<W>) -> Result<Self, StartError> {
        if cfg.peers.len() > MAX_PEERS {
            return Err(StartError::TooManyPeers(cfg.peers.len()));
        }
        let server = net::bind_server(&cfg.addr).map_err(StartError::Bind)?;
        let poll = Poll::new().map_err(StartError::Poll)?;
        let now = Instant::now();
        let mut node = Node {
            poll,
            // Every source can be ready at once: server, peers, signals, and a spare.
            events: Events::with_capacity(MAX_PEERS + 4),
            local: server.local,
            server: server.socket,
            peers: heapless::Vec::new(),
            strangers: heapless::Vec::new(),
            others: 0,
            dropped: 0,
            strict: cfg.strict,
            out,
            counter: 0,
            deadline: now,
            interval: cfg.interval,
            started: now,
            fell_behind_said: false,
            quit: false,
            buf: [0; MAX_DGRAM],
        };
        node.poll
            .registry()
            .register(&mut node.server, SERVER, Interest::READABLE)
            .map_err(StartError::Poll)?;
        if let Some(why) = server.fallback {
            node.out.notice(format_args!(
                "cannot bind {} ({why}): listening on {} instead",
                cfg.addr.text, node.local
            ));
        }
        for spec in &cfg.peers {
            let slot = Slot {
                state: PeerState::new(spec.clone(), now),
                socket: None,
            };
            // Cannot fail: checked against MAX_PEERS above.
            node.peers.push(slot).expect("at most MAX_PEERS peers");
        }
        node.out
            .listening(node.local, node.peers.len(), node.interval);
        node.resolve_due(now);
        Ok(node)
    }

    /// The address the server socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Runs until SIGINT or SIGTERM, then prints the summary.
    pub fn run(&mut self) -> io::Result<()> {
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        while !self.quit {
            self.turn(None)?;
            if signals.pending().next().is_some() {
                self.quit = true;
            }
        }
        self.say_bye();
        self.print_summary();
        Ok(())
    }

    /// Tells every peer we are stopping (best effort: it is one datagram each).
    pub fn say_bye(&mut self) {
        for slot in &self.peers {
            if let Some(s) = &slot.socket {
                let _ = s.send(BYE);
            }
        }
    }

    /// One pass of the loop: waits for readiness or the next deadline (at most `max_wait`),
    /// handles what is ready, then whatever timer is due.
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        let now = Instant::now();
        let mut wake = self.deadline;
        for slot in &self.peers {
            wake = wake.min(slot.state.next_resolve);
        }
        let mut timeout = wake.saturating_duration_since(now);
        if let Some(m) = max_wait {
            timeout = timeout.min(m);
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        // Copy the tokens out so handlers can borrow the node. Readiness is a hint (spurious
        // events happen): every handler drains to WouldBlock.
        let mut ready: heapless::Vec<Token, { MAX_PEERS + 4 }> = heapless::Vec::new();
        for e in self.events.iter() {
            // Cannot overflow: `events` holds at most MAX_PEERS + 4.
            let _ = ready.push(e.token());
        }
        for token in ready {
            match token {
                SERVER => self.drain_server(),
                SIGNALS => {} // read by `run`, which owns the signal source
                Token(t) if (1..=self.peers.len()).contains(&t) => self.drain_peer(t - 1),
                Token(_) => {} // not ours: ignore
            }
        }
        let now = Instant::now();
        if now >= self.deadline {
            self.broadcast(now);
        }
        self.resolve_due(now);
        Ok(())
    }

    /// Sends the counter to every resolved peer and schedules the next deadline.
    fn broadcast(&mut self, now: Instant) {
        let msg = encode_counter(self.counter);
        for slot in self.peers.iter_mut() {
            let st = &mut slot.state;
            if st.poll_up() {
                if let Some(a) = st.addr {
                    self.out.peer_up(st.name(), a);
                }
            }
            let Some(sock) = &slot.socket else {
                continue; // not resolved yet: nothing to send to
            };
            match sock.send(&msg) {
                Ok(_) => st.handle_sent(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    // Not sent; the next broadcast tries again.
                }
                Err(e) => {
                    if st.handle_error(now) {
                        self.out.peer_down(st.name(), st.addr, Down::Error(&e));
                    }
                }
            }
        }
        self.counter += 1;
        // Deadlines advance by whole intervals from the start, so the rate does not drift.
        self.deadline += self.interval;
        if now >= self.deadline {
            let behind = now.duration_since(self.deadline);
            let skipped = (behind.as_nanos() / self.interval.as_nanos()) as u32 + 1;
            self.deadline += self.interval * skipped;
            if !self.fell_behind_said {
                self.fell_behind_said = true;
                self.out.notice(format_args!(
                    "the loop fell behind by {}: skipping {skipped} broadcast(s) (said once)",
                    DisplayDuration(behind)
                ));
            }
        }
    }

    fn drain_server(&mut self) {
        loop {
            match self.server.recv_from(&mut self.buf) {
                Ok((n, from)) if &self.buf[..n] == HEALTH_PROBE => {
                    // Best effort: the prober retries if this answer is lost.
                    let _ = self.server.send_to(HEALTH_OK, from);
                }
                Ok((n, from)) => {
                    let source = self.attribute(from);
                    self.account(source, from, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // An unconnected socket reports no ICMP errors; anything else is
                    // transient (e.g. ENOBUFS). Carry on with the next event.
                    return;
                }
            }
        }
    }

    fn drain_peer(&mut self, i: usize) {
        loop {
            let Some(sock) = &self.peers[i].socket else {
                return;
            };
            match sock.recv_from(&mut self.buf) {
                Ok((n, from)) => self.account(Source::Peer(i), from, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The ICMP error of an earlier send (e.g. connection refused): the peer is
                    // not listening. Transient by nature; the error is consumed by reading it.
                    let st = &mut self.peers[i].state;
                    if st.handle_error(Instant::now()) {
                        self.out.peer_down(st.name(), st.addr, Down::Error(&e));
                    }
                }
            }
        }
    }

    /// Finds who sent a datagram that arrived on the server socket.
    fn attribute(&mut self, from: SocketAddr) -> Source {
        if let Some(i) = self.peers.iter().position(|p| p.state.addr == Some(from)) {
            return Source::Peer(i);
        }
        if let Some(i) = self.strangers.iter().position(|s| s.addr == from) {
            return Source::Stranger(i);
        }
        let new = Stranger {
            addr: from,
            seq: Sequence::default(),
            foreign: 0,
        };
        if self.strangers.push(new).is_ok() {
            let i = self.strangers.len() - 1;
            if self.strict {
                self.out.notice(format_args!(
                    "dropping datagrams from {from}: not a configured peer (--strict)"
                ));
            }
            Source::Stranger(i)
        } else {
            Source::Other
        }
    }

    /// Parses, accounts and prints one datagram of `n` bytes in `self.buf`.
    fn account(&mut self, source: Source, from: SocketAddr, n: usize) {
        if &self.buf[..n] == BYE {
            // Part of our protocol, not data: a peer stopping. From anyone else, ignored.
            if let Source::Peer(i) = source {
                let st = &mut self.peers[i].state;
                if st.handle_bye(Instant::now()) {
                    self.out.peer_down(st.name(), Some(from), Down::Stopped);
                }
            }
            return;
        }
        let (name, seq, foreign) = match source {
            Source::Peer(i) => {
                let st = &mut self.peers[i].state;
                if st.handle_heard() {
                    self.out.peer_up(st.name(), from);
                }
                (
                    Some(st.spec.text.as_str()),
                    Some(&mut st.seq),
                    Some(&mut st.foreign),
                )
            }
            Source::Stranger(_) | Source::Other if self.strict => {
                self.dropped += 1;
                return;
            }
            Source::Stranger(i) => {
                let s = &mut self.strangers[i];
                (None, Some(&mut s.seq), Some(&mut s.foreign))
            }
            Source::Other => {
                self.others += 1;
                (None, None, None)
            }
        };
        let bytes = &self.buf[..n];
        let payload = if n == MAX_DGRAM {
            Payload::Truncated(bytes)
        } else {
            match parse_counter(bytes) {
                Ok(c) => Payload::Counter(c, seq.map_or(Verdict::InOrder, |s| s.record(c))),
                Err(e) => Payload::Foreign(bytes, e),
            }
        };
        if let (false, Some(f)) = (matches!(payload, Payload::Counter(..)), foreign) {
            *f += 1;
        }
        self.out.received(Who { name, addr: from }, payload);
    }

    /// Resolves every peer whose time has come, (re)connecting its socket when the address
    /// is new.
    fn resolve_due(&mut self, now: Instant) {
        let want_v6 = Some(self.local.is_ipv6());
        for i in 0..self.peers.len() {
            if self.peers[i].state.next_resolve > now {
                continue;
            }
            let result = net::resolve(&self.peers[i].state.spec, want_v6);
            let slot = &mut self.peers[i];
            let addr = match result {
                Ok(a) => a,
                Err(e) => {
                    if slot.state.handle_unresolved(now) {
                        self.out.peer_unresolved(slot.state.name(), &e);
                    }
                    continue;
                }
            };
            let outcome = slot.state.handle_resolved(now, addr);
            if outcome == Resolved::Same && slot.socket.is_some() {
                continue;
            }
            if let Some(mut old) = slot.socket.take() {
                let _ = self.poll.registry().deregister(&mut old);
            }
            let connected = net::connect_peer(self.local, addr).and_then(|mut s| {
                self.poll
                    .registry()
                    .register(&mut s, Token(1 + i), Interest::READABLE)
                    .map(|()| s)
            });
            match connected {
                Ok(s) => {
                    slot.socket = Some(s);
                    if outcome != Resolved::Same && !slot.state.spec.is_literal() {
                        self.out
                            .peer_resolved(slot.state.name(), addr, outcome == Resolved::Moved);
                    }
                }
                Err(e) => {
                    // E.g. no route to that address: try again later, as for a failed lookup.
                    slot.state.addr = None;
                    if slot.state.handle_unresolved(now) {
                        self.out.peer_unresolved(slot.state.name(), &e);
                    }
                }
            }
        }
    }

    /// Prints the per-peer table (also used by tests to read the accounting).
    pub fn print_summary(&mut self) {
        self.out
            .summary_header(self.started.elapsed(), self.counter);
        for slot in &self.peers {
            let st = &slot.state;
            self.out.summary_row(Row {
                name: Some(st.name()),
                addr: st.addr,
                sent: Some(st.sent),
                errors: st.errors,
                counts: st.seq.counts(),
                foreign: st.foreign,
            });
        }
        if !self.strict {
            for s in &self.strangers {
                self.out.summary_row(Row {
                    name: None,
                    addr: Some(s.addr),
                    sent: None,
                    errors: 0,
                    counts: s.seq.counts(),
                    foreign: s.foreign,
                });
            }
        }
        if self.others > 0 {
            self.out.notice(format_args!(
                "{} datagram(s) from further senders (more than {MAX_STRANGERS} addresses that are not peers)",
                self.others
            ));
        }
        if self.dropped > 0 {
            self.out.notice(format_args!(
                "{} datagram(s) dropped from {} address(es) that are not peers (--strict)",
                self.dropped,
                self.strangers.len()
            ));
        }
    }

    /// Counters sent so far (broadcasts).
    pub fn broadcasts(&self) -> u64 {
        self.counter
    }

    /// Peer `i`'s totals: counters sent to it and the accounting of what it sent us.
    pub fn peer_totals(&self, i: usize) -> Option<(u64, crate::account::Counts)> {
        self.peers
            .get(i)
            .map(|s| (s.state.sent, s.state.seq.counts()))
    }
}
