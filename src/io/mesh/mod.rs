//! The set of sockets every mode shares: the server socket on the process's own address and
//! one connected socket per peer, all bound to that address with `SO_REUSEPORT` (see `net`),
//! plus each peer's name resolution and up/down state (`PeerState`).
//!
//! Applications (the counter peer, the Lab 1 process, the shared resource) never touch a
//! socket: they call [`Mesh::send`] / `Mesh::send_to` and get datagrams from the driver,
//! already attributed to a peer by source address.

pub(crate) mod events;
pub(crate) mod membership;
mod metrics;
pub(crate) mod peer;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use crate::dns::{self, Family, Resolver};
use crate::io::mesh::events::{Down, PeerEvent, Unusable};
use crate::io::mesh::membership::{short_name, unusable_why, Change, Lookup, Member, Membership};
use crate::io::mesh::peer::{PeerState, Resolved};
use crate::io::net::{self, BindError, Inbox};
use crate::values::addr::AddrSpec;
use crate::values::limits::{DISCOVER_EVERY, MAX_ADDRS_PER_NAME, MAX_GROUPS, MAX_NAME, MAX_PEERS};

/// The server socket's token; peer `i` is `Token(1 + i)`.
pub(crate) const SERVER: Token = Token(0);

/// The first of the resolver's tokens (after the peers'): peer `i`'s lookup uses
/// `DNS_TOKENS + 4 * i` to `DNS_TOKENS + 4 * i + 3` (see [`dns::resolver`]).
pub(crate) const DNS_TOKENS: usize = MAX_PEERS + 1;

/// Every token the mesh may register (server, peers, lookups of the named peers and of the
/// groups).
pub(crate) const MAX_TOKENS: usize =
    DNS_TOKENS + dns::resolver::TOKENS_PER_SLOT * (MAX_PEERS + MAX_GROUPS);

/// Peers found by DNS (`--discover`): the groups, and the table's capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// `name:port` groups: every address `name` resolves to, but the own, is a peer on `port`.
    pub groups: Vec<AddrSpec>,
    /// The peer table's capacity, named and discovered peers together (0: exactly the
    /// named peers).
    pub capacity: usize,
    /// Mean time between two lookups of a group (each wait drawn within +-20%).
    pub every: Duration,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            groups: Vec::new(),
            capacity: 0,
            every: DISCOVER_EVERY,
        }
    }
}

/// One `--discover` group.
#[derive(Debug)]
struct Group {
    spec: AddrSpec,
    /// Its members' names start with this ([`short_name`]).
    short: heapless::String<MAX_NAME>,
    /// When to look it up again.
    next: Instant,
    /// Peers found so far (their names count from 1 in order of discovery).
    found: usize,
    /// Its first lookup ended.
    looked_up: bool,
    /// "Does not resolve" was said for the current failure streak.
    unresolved_said: bool,
    /// A lookup of it gave addresses once (a failure then "no longer resolves").
    resolved_once: bool,
    /// New addresses of its latest lookup that found no room in the table (or that the
    /// resolver did not keep).
    left_out: usize,
    /// "Addresses no peer can have were left out" was said (once per group).
    unusable_said: bool,
}

/// A wait of `every` +-20%, at random (getrandom, as the query ids).
fn jittered(every: Duration) -> Duration {
    let ms = every.as_millis() as u64;
    let r = u64::from(dns::random_u16());
    Duration::from_millis(ms * 8 / 10 + r * (ms * 4 / 10) / u64::from(u16::MAX))
}

/// Whether `addr` is the own (`local`): that address, or, bound to the wildcard (`host`
/// then holds this host's addresses), one of this host's addresses on its port.
fn is_own(local: SocketAddr, addr: SocketAddr, host: Option<&net::HostAddrs>) -> bool {
    // On the wildcard, every address delivered to this host (all of 127.0.0.0/8, a prefix on
    // lo) reaches this socket: a "peer" there would be this process itself.
    addr == local || host.is_some_and(|h| addr.port() == local.port() && h.delivers_here(addr.ip()))
}

/// Why the sockets could not be opened.
#[derive(Debug)]
pub enum StartError {
    /// The server socket.
    Bind(BindError),
    /// `mio::Poll` or a registration failed.
    Poll(io::Error),
    /// More peers than [`MAX_PEERS`] (or than the table's capacity).
    TooManyPeers(usize),
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Bind(e) => Some(e),
            StartError::Poll(e) => Some(e),
            StartError::TooManyPeers(_) => None,
        }
    }
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
    /// The socket's queue may still hold datagrams from anyone, taken between its bind and
    /// its connect (it shares the server's port): until the queue is seen empty at least
    /// [`STRAYS_SETTLE`] after the connect, each datagram's sender is asked for and checked.
    /// After that, the kernel gives a connected socket only what comes from its peer, and the
    /// sender is not asked for (it costs the kernel a copy and us a comparison on every
    /// datagram). `Some(when the socket was connected)` while strays may be left.
    strays: Option<Instant>,
}

/// How long after a connect a datagram the kernel routed to the socket just before it may
/// still be on its way into the queue: the kernel picks the socket, then queues the datagram
/// (on Linux 6.18 through a per-CPU list the queue's count does not show yet). That path is
/// one run of the network's receive work, microseconds; this is far longer.
const STRAYS_SETTLE: Duration = Duration::from_secs(1);

impl Slot {
    fn new(state: PeerState) -> Slot {
        Slot {
            state,
            socket: None,
            strays: None,
        }
    }

    /// Puts a newly connected socket in.
    fn attach(&mut self, socket: UdpSocket) {
        self.socket = Some(socket);
        self.strays = Some(Instant::now());
    }
}

/// The result of one receive attempt.
#[derive(Debug)]
pub(crate) enum Recv {
    /// This many datagrams (1 to `net::BATCH`) in the inbox; fewer than `BATCH`: the
    /// socket's queue is empty.
    Datagrams(usize),
    /// Nothing more to read on this socket.
    Empty,
    /// Try again: EINTR, an error that was handled (reported, peer marked down), or a
    /// transient error on the server socket.
    Again,
}

/// The server socket and the peers' sockets.
#[derive(Debug)]
pub struct Mesh {
    server: UdpSocket,
    local: SocketAddr,
    /// The server socket is bound ([`Mesh::listen`]).
    listening: bool,
    /// Allocated once at start for exactly the configured peers; never grows.
    peers: Vec<Slot>,
    /// What happened to the peers since the driver last looked ([`Mesh::poll_event`]);
    /// capacity fixed at start, drained after every handler.
    events: VecDeque<PeerEvent>,
    /// The address could not be bound and the wildcard was used instead: why.
    fallback: Option<&'static str>,
    /// The own address's lock (one process per address), held until the mesh is dropped.
    _lock: std::os::unix::net::UnixDatagram,
    /// Peer names being looked up, one lookup per named peer (slot `i`) and per group (slot
    /// `statics + g`), on the loop's own poll.
    resolver: Resolver,
    /// Peers named on the command line: the table's first slots.
    statics: usize,
    /// Room in the table (`peers` never grows beyond it).
    capacity: usize,
    /// The `--discover` groups.
    groups: Vec<Group>,
    every: Duration,
    /// What a group's lookup changes in the table (no I/O: the mesh applies it).
    membership: Membership,
    /// "The table is full" was said.
    full_said: bool,
    /// Most new addresses left out by the groups' latest lookups at any time.
    left_out_max: usize,
    /// Peers that had left and whose slot a new peer took (the table being full), for the
    /// application to account before anything of the new peer arrives; capacity fixed at
    /// start.
    retired: VecDeque<(usize, PeerState)>,
    /// The earliest lookup deadline as of the last look at every peer (after
    /// [`Mesh::resolve_due`] or [`Mesh::handle_dns`] did some work), brought forward by
    /// whatever brings one closer (a send error, a goodbye): the loop reads it every turn,
    /// and a turn before it needs no look at every peer (200 of them, a few times a second).
    next_lookup: Option<Instant>,
    /// Lookups started, and those that gave no usable address (for `--metrics`).
    lookups: u64,
    lookup_failures: u64,
    /// Health probes received (each answered), and goodbyes from senders that are not peers:
    /// said at exit, they are in no row.
    pub(crate) health_probes: u64,
    pub(crate) stray_goodbyes: u64,
}

impl Mesh {
    /// Binds the server socket on `addr` and registers it; peers are connected by
    /// `Mesh::resolve_due` as their names resolve. Prints the fallback notice if the
    /// wildcard address had to be used.
    pub fn open(
        registry: &Registry,
        addr: &AddrSpec,
        peers: &[AddrSpec],
    ) -> Result<Mesh, StartError> {
        Mesh::open_with(registry, addr, peers, &Discovery::default())
    }

    /// [`Mesh::open`] with groups of peers found by DNS, in a table of a fixed capacity
    /// (allocated now, never grown).
    pub(crate) fn open_with(
        registry: &Registry,
        addr: &AddrSpec,
        peers: &[AddrSpec],
        discovery: &Discovery,
    ) -> Result<Mesh, StartError> {
        let capacity = discovery.capacity.max(peers.len());
        if capacity > MAX_PEERS {
            return Err(StartError::TooManyPeers(capacity));
        }
        let groups = discovery.groups.len().min(MAX_GROUPS);
        let server = net::bind_server(addr).map_err(StartError::Bind)?;
        let now = Instant::now();
        let mut mesh = Mesh {
            local: server.local,
            server: server.socket,
            listening: false,
            peers: Vec::with_capacity(capacity),
            // Each peer can go down, be resolved (or join, or leave) and come up in one turn.
            events: VecDeque::with_capacity(4 * capacity + 2 * groups + 1),
            fallback: server.fallback,
            _lock: server.lock,
            resolver: Resolver::new(peers.len() + groups, MAX_ADDRS_PER_NAME, DNS_TOKENS),
            statics: peers.len(),
            capacity,
            groups: discovery.groups[..groups]
                .iter()
                .map(|spec| Group {
                    short: short_name(spec, &discovery.groups[..groups]),
                    spec: spec.clone(),
                    next: now,
                    found: 0,
                    looked_up: false,
                    unresolved_said: false,
                    resolved_once: false,
                    left_out: 0,
                    unusable_said: false,
                })
                .collect(),
            every: discovery.every,
            membership: Membership::new(peers.len(), capacity, server.local.is_ipv6()),
            full_said: false,
            left_out_max: 0,
            retired: VecDeque::with_capacity(capacity),
            next_lookup: Some(now),
            lookups: 0,
            health_probes: 0,
            stray_goodbyes: 0,
            lookup_failures: 0,
        };
        registry
            .register(&mut mesh.server, SERVER, Interest::READABLE)
            .map_err(StartError::Poll)?;
        for spec in peers {
            mesh.peers
                .push(Slot::new(PeerState::new(spec.clone(), now)));
        }
        Ok(mesh)
    }

    /// Binds the server socket (made, not bound, by `open`): called once the peers whose
    /// addresses are known are connected, so that what they send never waits for a process
    /// still starting (see `net::bind_shared`). Until then they are refused, as by a process
    /// not started yet.
    pub fn listen(&mut self) -> Result<(), StartError> {
        if self.listening {
            return Ok(());
        }
        net::listen(&self.server, self.local).map_err(|e| {
            StartError::Bind(match e.kind() {
                io::ErrorKind::AddrInUse => net::BindError::InUse(self.local),
                _ => net::BindError::Io(self.local, e),
            })
        })?;
        self.listening = true;
        Ok(())
    }

    /// The address the server socket is bound to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many peers: the named ones, then those discovered so far (left ones included).
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// The table's capacity, fixed at start.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The `--discover` groups, as written.
    pub(crate) fn group_specs(&self) -> impl Iterator<Item = &AddrSpec> {
        self.groups.iter().map(|g| &g.spec)
    }

    /// Group `g`'s argument as written.
    pub(crate) fn group_name(&self, g: usize) -> &str {
        &self.groups[g].spec.text
    }

    /// New addresses the table had no room for: the most left out by the groups' lookups at
    /// any one time.
    pub(crate) fn left_out(&self) -> usize {
        self.left_out_max
    }

    /// Whether the driver has something to take: peer events to print or slots a new peer
    /// took. Asked on every turn, so it is cheap and inlined.
    #[inline]
    pub(crate) fn has_news(&self) -> bool {
        !self.events.is_empty() || !self.retired.is_empty()
    }

    /// Whether [`Mesh::resolve_due`] has anything to do at `now`. Asked on every turn.
    #[inline]
    pub(crate) fn lookup_due(&self, now: Instant) -> bool {
        self.next_lookup.is_none_or(|t| now >= t)
    }

    /// The next peer whose slot a new peer took (slot, its state until then).
    pub(crate) fn poll_retired(&mut self) -> Option<(usize, PeerState)> {
        self.retired.pop_front()
    }

    /// Who an event is about: the peer's (or the group's) name, and the peer's group.
    pub(crate) fn describe(&self, ev: &PeerEvent) -> (&str, Option<&str>) {
        if let Some(g) = ev.group_event() {
            return (self.group_name(g), None);
        }
        let st = &self.peers[ev.slot()].state;
        (st.name(), st.group.map(|g| self.group_name(g)))
    }

    /// The other peer an event names (`PeerEvent::NowNamed`'s named peer).
    pub(crate) fn other_of(&self, ev: &PeerEvent) -> Option<&str> {
        match ev {
            PeerEvent::NowNamed { named, .. } => Some(self.peers[*named].state.name()),
            _ => None,
        }
    }

    /// Peer `i`'s state.
    ///
    /// # Panics
    /// If `i >= self.len()`: peer indices come from this mesh.
    pub(crate) fn peer(&self, i: usize) -> &PeerState {
        &self.peers[i].state
    }

    /// Whether a send to peer `i` was refused since the last call.
    pub(crate) fn take_refused(&mut self, i: usize) -> bool {
        self.peers
            .get_mut(i)
            .is_some_and(|p| std::mem::take(&mut p.state.refused))
    }

    /// The peer whose current address is `addr`, if any.
    pub(crate) fn attribute(&self, addr: SocketAddr) -> Option<usize> {
        self.peers.iter().position(|p| p.state.addr == Some(addr))
    }

    /// The peer a datagram from `from` (not a peer's address) belongs to by its IP alone:
    /// the only peer at that IP, when the own address is not at that IP too (the course's Go
    /// program sends from a random port). `None` when no peer or several share the IP. The
    /// `bool` is true the first time for that peer (worth a note).
    pub(crate) fn attribute_by_ip(&mut self, from: SocketAddr) -> Option<(usize, bool)> {
        if from.ip() == self.local.ip() {
            return None;
        }
        let mut found = None;
        for (i, p) in self.peers.iter().enumerate() {
            // A peer that left, said goodbye or is gone from DNS is not there any more:
            // whoever sends from its IP is not it (a new container may have that IP now).
            if p.state.may_send_from_another_port()
                && p.state.addr.is_some_and(|a| a.ip() == from.ip())
            {
                if found.is_some() {
                    return None;
                }
                found = Some(i);
            }
        }
        let i = found?;
        let first = !std::mem::replace(&mut self.peers[i].state.other_port_said, true);
        Some((i, first))
    }

    /// Sends `bytes` to peer `i` on its connected socket. Returns whether it went out; an
    /// error marks the peer down (said once) and schedules a new lookup of its name.
    pub fn send(&mut self, i: usize, bytes: &[u8], now: Instant) -> bool {
        let Some(slot) = self.peers.get_mut(i) else {
            return false;
        };
        let Some(sock) = &slot.socket else {
            return false; // not resolved yet: nothing to send to
        };
        match sock.send(bytes) {
            Ok(_) => {
                slot.state.handle_sent(now);
                true
            }
            // No EINTR arm: a non-blocking socket never sleeps, so it is never interrupted.
            Err(e) => {
                let down = slot
                    .state
                    .handle_error(now, e.kind() == io::ErrorKind::ConnectionRefused);
                let (retry, addr) = (slot.state.next_resolve, slot.state.addr);
                self.lookup_by(retry);
                if down {
                    let ev = PeerEvent::Down {
                        i,
                        addr,
                        why: Down::Error(e),
                    };
                    self.push(ev);
                }
                false
            }
        }
    }

    /// Sends `bytes` to any address from the server socket (answers to strangers: health
    /// probes, the shared resource's acknowledgements). Best effort.
    pub(crate) fn send_to(&self, addr: SocketAddr, bytes: &[u8]) -> bool {
        self.server.send_to(bytes, addr).is_ok()
    }

    /// Tells every peer we are stopping (best effort: one datagram each).
    pub(crate) fn say_to_all(&self, bytes: &[u8]) {
        for slot in &self.peers {
            if let Some(s) = &slot.socket {
                let _ = s.send(bytes);
            }
        }
    }

    /// Notes the peers that came back up (sends without an error for
    /// [`UP_AFTER`](crate::values::limits::UP_AFTER)); the driver calls it once a second.
    pub(crate) fn poll_up(&mut self, now: Instant) {
        for i in 0..self.peers.len() {
            let st = &mut self.peers[i].state;
            if st.poll_up(now) {
                if let Some(addr) = st.addr {
                    self.push(PeerEvent::Up { i, addr });
                }
            }
        }
    }

    /// Call when a datagram came from peer `i`: it is up. (One caller, for every datagram.)
    #[inline(always)]
    pub(crate) fn heard(&mut self, i: usize, from: SocketAddr) {
        // A peer that left has no socket and gets nothing: not "up" again until it joins.
        let Some(slot) = self.peers.get_mut(i) else {
            return;
        };
        if slot.state.left {
            return;
        }
        if slot.state.handle_heard(from) {
            self.push(PeerEvent::Up { i, addr: from });
        }
    }

    /// Call when peer `i` said goodbye: it is down until heard from again.
    pub(crate) fn bye(&mut self, i: usize, from: SocketAddr, now: Instant) {
        let down = self.peers[i].state.handle_bye(now);
        self.lookup_by(self.peers[i].state.next_resolve);
        if down {
            self.push(PeerEvent::Down {
                i,
                addr: Some(from),
                why: Down::Stopped,
            });
        }
    }

    /// The next thing that happened to a peer, to print.
    pub(crate) fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Why the own address could not be bound (and the wildcard was used instead).
    pub(crate) fn fallback(&self) -> Option<&'static str> {
        self.fallback
    }

    fn push(&mut self, ev: PeerEvent) {
        // At capacity only if the driver stopped draining (a bug): the line is lost, the
        // peer's state is not.
        if self.events.len() < self.events.capacity() {
            self.events.push_back(ev);
        }
    }

    /// Reads one datagram from the socket behind `token` into `buf`.
    pub(crate) fn recv(&mut self, token: Token, inbox: &mut Inbox) -> Recv {
        let (sock, known, peer) = if token == SERVER {
            (&self.server, None, None)
        } else {
            let i = token.0.wrapping_sub(1);
            match self.peers.get(i) {
                Some(Slot {
                    socket: Some(sock),
                    state,
                    strays,
                }) => {
                    let known = if strays.is_some() { None } else { state.addr };
                    (sock, known, Some((i, state.addr)))
                }
                _ => return Recv::Empty, // not ours, or deregistered: ignore
            }
        };
        // One call site: the read is inlined here.
        match net::recv_batch(sock, inbox, known) {
            // A peer's socket shares the server's port (`SO_REUSEPORT`) and, between its bind
            // and its connect, the kernel may give it datagrams from anyone: they stay in its
            // queue after the connect. Only what comes from the peer's address is the
            // peer's; the rest is attributed by address, as on the server socket (seen in a
            // 200-peer mesh at start: other peers' counters counted as this one's restarts,
            // duplicates and losses). Once the queue was found empty, there are no more.
            Ok(n) => {
                for got in &mut inbox.got[..n] {
                    got.peer = peer
                        .filter(|&(_, a)| net::is_addr(a, &got.from))
                        .map(|p| p.0);
                }
                self.settle(peer);
                Recv::Datagrams(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.settle(peer);
                Recv::Empty
            }
            Err(e) => match peer.map(|p| p.0) {
                // The ICMP error of an earlier send (e.g. connection refused): the peer is
                // not listening. Transient by nature; reading the error consumes it.
                Some(i) => {
                    let st = &mut self.peers[i].state;
                    let down = st
                        .handle_error(Instant::now(), e.kind() == io::ErrorKind::ConnectionRefused);
                    let retry = st.next_resolve;
                    self.lookup_by(retry);
                    let st = &mut self.peers[i].state;
                    if down {
                        let addr = st.addr;
                        self.push(PeerEvent::Down {
                            i,
                            addr,
                            why: Down::Error(e),
                        });
                    }
                    Recv::Again
                }
                // An unconnected socket reports no ICMP errors; anything else (ENOBUFS...)
                // is transient: try again (the driver bounds the retries).
                None => Recv::Again,
            },
        }
    }

    /// After a read of a peer's socket that may hold strays: none are left once its queue
    /// is seen empty, [`STRAYS_SETTLE`] after the connect (a read that gets fewer than it
    /// asked for does not say the queue is empty: an ICMP error ends a batch too).
    fn settle(&mut self, peer: Option<(usize, Option<SocketAddr>)>) {
        if let Some(slot) = peer.and_then(|(i, _)| self.peers.get_mut(i)) {
            let settled = slot.strays.is_some_and(|t| t.elapsed() >= STRAYS_SETTLE);
            if settled && !slot.socket.as_ref().is_none_or(net::queue_holds_any) {
                slot.strays = None;
            }
        }
    }

    /// When the next peer name is due for (re)resolution, or a lookup in flight for its next
    /// deadline (or earlier).
    pub(crate) fn next_resolve(&self) -> Option<Instant> {
        self.next_lookup
    }

    /// A lookup may be due by `t`.
    fn lookup_by(&mut self, t: Instant) {
        self.next_lookup = Some(self.next_lookup.map_or(t, |n| n.min(t)));
    }

    /// [`Mesh::next_resolve`], from every peer, group and lookup in flight.
    fn scan_next_lookup(&self) -> Option<Instant> {
        let due = (0..self.statics)
            .filter(|&i| !self.resolver.is_busy(i))
            .map(|i| self.peers[i].state.next_resolve)
            .min();
        let group = (0..self.groups.len())
            .filter(|&g| !self.resolver.is_busy(self.statics + g))
            .map(|g| self.groups[g].next)
            .min();
        [due, group, self.resolver.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether some peer's first lookup is still in flight (its name has never resolved and a
    /// lookup for it waits for an answer).
    pub(crate) fn first_lookups_pending(&self) -> bool {
        (0..self.statics).any(|i| self.peers[i].state.addr.is_none() && self.resolver.is_busy(i))
            || (0..self.groups.len())
                .any(|g| !self.groups[g].looked_up && self.resolver.is_busy(self.statics + g))
    }

    /// DNS answers the lookups ignored so far (wrong source, id or question, malformed).
    pub(crate) fn dns_ignored(&self) -> dns::lookup::Ignored {
        self.resolver.ignored()
    }

    /// Whether `token` is one of the resolver's sockets.
    pub(crate) fn owns_dns(&self, token: Token) -> bool {
        self.resolver.owns(token)
    }

    /// One of the resolver's sockets is ready: answers are read, and peers whose lookup
    /// ended are (re)connected or said to be unresolved.
    pub(crate) fn handle_dns(&mut self, registry: &Registry, token: Token, now: Instant) {
        self.resolver.handle_ready(registry, token, now);
        self.apply_lookups(registry, now);
        self.next_lookup = self.scan_next_lookup();
    }

    /// Starts a lookup for every peer whose time has come (an IP address is taken at once),
    /// passes the time to the lookups in flight, and (re)connects the peers whose lookup
    /// ended. Never waits: the answers come through [`Mesh::handle_dns`].
    pub(crate) fn resolve_due(&mut self, registry: &Registry, now: Instant) {
        if !self.lookup_due(now) {
            return; // nothing is due yet
        }
        self.resolver.handle_timeout(registry, now);
        for g in 0..self.groups.len() {
            let slot = self.statics + g;
            if self.groups[g].next > now || self.resolver.is_busy(slot) {
                continue;
            }
            // Until the next lookup is started (an answer, or a failure, sets it again).
            self.groups[g].next = now + jittered(self.every);
            let host = self.groups[g].spec.host();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            self.resolver.start(registry, slot, host, Family::Any, now);
            self.lookups += 1;
        }
        for i in 0..self.statics {
            if self.peers[i].state.next_resolve > now || self.resolver.is_busy(i) {
                continue;
            }
            let spec = &self.peers[i].state.spec;
            if let Ok(addr) = spec.resolver_form().parse::<SocketAddr>() {
                self.resolved(registry, now, i, Ok(addr));
                continue;
            }
            self.resolver
                .start(registry, i, spec.host(), Family::Any, now);
            self.lookups += 1;
        }
        self.apply_lookups(registry, now);
        self.next_lookup = self.scan_next_lookup();
    }

    /// Lookups that ended: a result for their peer.
    fn apply_lookups(&mut self, registry: &Registry, now: Instant) {
        let want_v6 = Some(self.local.is_ipv6());
        // This host's addresses, read once and only when needed (bound to the wildcard).
        let mut host: Option<Option<net::HostAddrs>> = None;
        while let Some((i, result)) = self.resolver.poll_done() {
            if i >= self.statics {
                self.discovered(registry, now, i - self.statics, result);
                continue;
            }
            let port = self.peers[i].state.spec.port;
            let result = result.map_err(io::Error::from).and_then(|addrs| {
                // As for a group: never an address no peer can have, nor this process's own
                // (a hosts line `0.0.0.0 p2`, as ad-blocking lists write, would make it its
                // own peer).
                let mut usable: heapless::Vec<IpAddr, 8> = heapless::Vec::new();
                for ip in addrs.as_slice().iter().map(|ip| ip.to_canonical()) {
                    let addr = SocketAddr::new(ip, port);
                    if unusable_why(ip, self.local.is_ipv6()).is_none()
                        && !is_own(
                            self.local,
                            addr,
                            host.get_or_insert_with(|| self.wildcard_host()).as_ref(),
                        )
                    {
                        let _ = usable.push(ip);
                    }
                }
                if usable.is_empty() && !addrs.as_slice().is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        "it resolves only to this process's own address, or to none a peer can have",
                    ));
                }
                net::pick(usable.as_slice(), want_v6)
                    .map(|ip| SocketAddr::new(ip, port))
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
            });
            self.resolved(registry, now, i, result);
        }
    }

    /// Peer `i`'s name resolved to `result`: (re)connects its socket when the address is new,
    /// or says (once per streak) that it does not resolve.
    fn resolved(
        &mut self,
        registry: &Registry,
        now: Instant,
        i: usize,
        result: io::Result<SocketAddr>,
    ) {
        // An IP address given as a peer passes here directly: the same rule as for names.
        if let Ok(a) = &result {
            let a = SocketAddr::new(a.ip().to_canonical(), a.port());
            if unusable_why(a.ip(), self.local.is_ipv6()) == Some(Unusable::NotUnicast)
                || is_own(self.local, a, self.wildcard_host().as_ref())
            {
                if self.peers[i].state.handle_unreachable(now) {
                    let local = self.local;
                    self.push(PeerEvent::Unreachable {
                        i,
                        addr: a,
                        local,
                        why: io::Error::new(
                            io::ErrorKind::AddrNotAvailable,
                            "that is this process's own address, or one no peer can have",
                        ),
                    });
                }
                return;
            }
        }
        let slot = &mut self.peers[i];
        let addr = match result {
            Ok(a) => a,
            Err(why) => {
                self.lookup_failures += 1;
                if slot.state.handle_unresolved(now) {
                    let before = slot.state.addr.is_some();
                    self.push(PeerEvent::Unresolved { i, why, before });
                }
                return;
            }
        };
        let outcome = slot.state.handle_resolved(now, addr);
        if outcome == Resolved::Same && slot.socket.is_some() {
            return;
        }
        self.named_takes(registry, now, i, addr);
        let slot = &mut self.peers[i];
        if let Some(mut old) = slot.socket.take() {
            let _ = registry.deregister(&mut old);
        }
        let connected = net::connect_peer(self.local, addr, !self.listening).and_then(|mut s| {
            registry
                .register(&mut s, Token(1 + i), Interest::READABLE)
                .map(|()| s)
        });
        match connected {
            Ok(s) => {
                slot.attach(s);
                slot.state.handle_connected(now);
                if outcome != Resolved::Same && !slot.state.spec.is_literal() {
                    let moved = outcome == Resolved::Moved;
                    self.push(PeerEvent::Resolved { i, addr, moved });
                }
            }
            Err(why) => {
                // The name resolved, the connect failed (e.g. an IPv6 peer of an IPv4
                // process, no route): said once, retried with backoff.
                if slot.state.handle_unreachable(now) {
                    let local = self.local;
                    self.push(PeerEvent::Unreachable {
                        i,
                        addr,
                        local,
                        why,
                    });
                }
            }
        }
    }
}

impl Mesh {
    /// This host's addresses when bound to the wildcard (else none are needed).
    fn wildcard_host(&self) -> Option<net::HostAddrs> {
        self.local.ip().is_unspecified().then(net::HostAddrs::read)
    }

    /// Named peer `named` is now at `addr`: a group member there (found while the name did
    /// not resolve) is that named peer, so it is retired at once (its row stays, marked left)
    /// rather than sending everything twice and later "leaving" for a false reason. Its group
    /// skips the address while the named peer holds it ([`Mesh::attribute`] finds the named
    /// peer first).
    fn named_takes(&mut self, registry: &Registry, now: Instant, named: usize, addr: SocketAddr) {
        for i in self.statics..self.peers.len() {
            let slot = &mut self.peers[i];
            if slot.state.left || slot.state.addr != Some(addr) {
                continue;
            }
            slot.state.left = true;
            slot.state.left_at = Some(now);
            if let Some(mut s) = slot.socket.take() {
                let _ = registry.deregister(&mut s);
            }
            self.push(PeerEvent::NowNamed { i, addr, named });
        }
    }

    /// Connects peer `i`'s socket to `addr` and registers it.
    fn connect(&mut self, registry: &Registry, i: usize, addr: SocketAddr) -> io::Result<()> {
        let mut s = net::connect_peer(self.local, addr, !self.listening)?;
        registry.register(&mut s, Token(1 + i), Interest::READABLE)?;
        self.peers[i].attach(s);
        Ok(())
    }

    /// A lookup of group `g` ended: a failure is said (once per streak), and the table's
    /// changes that [`Membership::decide`] finds are applied (sockets opened and closed,
    /// events said), then what was left out is said.
    fn discovered(
        &mut self,
        registry: &Registry,
        now: Instant,
        g: usize,
        result: Result<dns::Addrs, dns::Error>,
    ) {
        self.groups[g].looked_up = true;
        self.groups[g].next = now + jittered(self.every);
        let addrs = match result {
            Ok(a) => {
                self.groups[g].unresolved_said = false;
                self.groups[g].resolved_once = true;
                a
            }
            Err(why) => {
                self.lookup_failures += 1;
                if !std::mem::replace(&mut self.groups[g].unresolved_said, true) {
                    self.push(PeerEvent::GroupUnresolved {
                        g,
                        why: io::Error::from(why.clone()),
                        before: self.groups[g].resolved_once,
                    });
                }
                if !matches!(why, dns::Error::NxDomain { .. } | dns::Error::NoAnswer) {
                    // The nameserver is in trouble: that says nothing about the members.
                    // Try again sooner.
                    self.groups[g].next = now + jittered(self.every.min(Duration::from_secs(1)));
                    return;
                }
                // The name is gone: every member is missing from this lookup.
                dns::Addrs::with_capacity(0)
            }
        };
        let host = self.wildcard_host();
        let local = self.local;
        let lookup = Lookup {
            group: g,
            port: self.groups[g].spec.port,
            addrs: addrs.as_slice(),
            // The resolver keeps at most MAX_ADDRS_PER_NAME addresses: the rest are left out.
            not_kept: addrs.left_out(),
            found: self.groups[g].found,
        };
        let members = self.peers.iter().map(|p| Member {
            addr: p.state.addr,
            group: p.state.group,
            left: p.state.left,
            left_at: p.state.left_at,
            missing: p.state.missing,
            connected: p.socket.is_some(),
        });
        self.membership
            .decide(&lookup, members, |a| is_own(local, a, host.as_ref()));
        let d = std::mem::take(&mut self.membership.decision);
        for &change in &d.changes {
            self.apply(registry, now, g, change);
        }
        self.groups[g].found = d.found;
        if let Some((ip, why)) = d.first_unusable {
            if !std::mem::replace(&mut self.groups[g].unusable_said, true) {
                self.push(PeerEvent::GroupUnusable {
                    g,
                    ip,
                    why,
                    count: d.unusable,
                });
            }
        }
        self.groups[g].left_out = d.left_out;
        let total: usize = self.groups.iter().map(|g| g.left_out).sum();
        self.left_out_max = self.left_out_max.max(total);
        if let Some(addr) = d.first_left_out {
            if !std::mem::replace(&mut self.full_said, true) {
                let capacity = self.capacity;
                self.push(PeerEvent::TableFull { g, addr, capacity });
            }
        }
        self.membership.decision = d;
    }

    /// Applies one change of group `g`'s lookup: opens or closes the socket, says it.
    fn apply(&mut self, registry: &Registry, now: Instant, g: usize, change: Change) {
        match change {
            Change::Found {
                i,
                addr,
                connect,
                again,
            } => {
                self.peers[i].state.missing = 0;
                if connect && self.connect(registry, i, addr).is_ok() {
                    self.peers[i].state.left = false;
                    self.push(PeerEvent::Joined { i, addr, again });
                }
            }
            Change::Join { i, addr, n, reuse } => {
                let group = &self.groups[g];
                let name = membership::member_name(&group.short, n);
                let spec = AddrSpec {
                    text: name,
                    port: group.spec.port,
                };
                let state = PeerState::discovered(spec, addr, g, now);
                if reuse {
                    let old = std::mem::replace(&mut self.peers[i].state, state);
                    if let Some(mut s) = self.peers[i].socket.take() {
                        let _ = registry.deregister(&mut s);
                    }
                    // Cannot be full: the driver drains it after every lookup that ended, and a
                    // slot is taken at most once per lookup (its new peer has not left).
                    if self.retired.len() < self.retired.capacity() {
                        self.retired.push_back((i, old));
                    }
                } else {
                    // Within the capacity reserved at start: no allocation.
                    self.peers.push(Slot::new(state));
                }
                match self.connect(registry, i, addr) {
                    Ok(()) => self.push(PeerEvent::Joined {
                        i,
                        addr,
                        again: false,
                    }),
                    Err(why) => {
                        let local = self.local;
                        self.push(PeerEvent::Unreachable {
                            i,
                            addr,
                            local,
                            why,
                        });
                    }
                }
            }
            Change::Missing { i, lookups } => self.peers[i].state.missing = lookups,
            Change::Leave { i, lookups } => {
                let slot = &mut self.peers[i];
                slot.state.missing = lookups;
                slot.state.left = true;
                slot.state.left_at = Some(now);
                if let Some(mut s) = slot.socket.take() {
                    let _ = registry.deregister(&mut s);
                }
                if let Some(addr) = slot.state.addr {
                    self.push(PeerEvent::Left { i, addr, lookups });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::addr::parse_spec;

    /// A mesh on `own` with named peers `peers` and one group `grp:PORT` (PORT: the own).
    fn mesh(poll: &mio::Poll, own: &str, peers: &[&str], capacity: usize) -> Mesh {
        let own = parse_spec(own).unwrap();
        let group = parse_spec(&format!("grp:{}", own.port)).unwrap();
        let peers: Vec<AddrSpec> = peers.iter().map(|p| parse_spec(p).unwrap()).collect();
        let discovery = Discovery {
            groups: vec![group],
            capacity,
            every: DISCOVER_EVERY,
        };
        let mut m = Mesh::open_with(poll.registry(), &own, &peers, &discovery).unwrap();
        m.listen().unwrap();
        m
    }

    fn answer(ips: &[&str]) -> Result<dns::Addrs, dns::Error> {
        let mut a = dns::Addrs::with_capacity(MAX_ADDRS_PER_NAME);
        for ip in ips {
            a.push(ip.parse().unwrap());
        }
        Ok(a)
    }

    fn events(m: &mut Mesh) -> Vec<PeerEvent> {
        std::iter::from_fn(|| m.poll_event()).collect()
    }

    #[test]
    fn a_datagram_from_another_address_on_a_peers_socket_is_not_the_peers() {
        let poll = mio::Poll::new().unwrap();
        let mut m = mesh(&poll, "127.0.91.2:10002", &["127.0.91.3:10002"], 4);
        let peer: SocketAddr = "127.0.91.3:10002".parse().unwrap();
        let peer_sock = std::net::UdpSocket::bind(peer).unwrap();
        let stranger = std::net::UdpSocket::bind("127.0.91.4:0").unwrap();
        // A socket that got a stranger's datagram before it was connected to the peer, as a
        // peer's socket can between its bind and its connect.
        let s = std::net::UdpSocket::bind("127.0.91.2:0").unwrap();
        stranger.send_to(b"7", s.local_addr().unwrap()).unwrap();
        peer_sock.send_to(b"8", s.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        s.connect(peer).unwrap();
        s.set_nonblocking(true).unwrap();
        let at = s.local_addr().unwrap();
        m.peers[0].state.addr = Some(peer);
        m.peers[0].attach(UdpSocket::from_std(s));
        let mut inbox = Inbox::boxed();
        let got = match m.recv(Token(1), &mut inbox) {
            Recv::Datagrams(n) => (0..n)
                .map(|k| {
                    (
                        inbox.bytes(k).to_vec(),
                        inbox.got[k].from,
                        inbox.got[k].peer,
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(
            got,
            [
                (b"7".to_vec(), stranger.local_addr().unwrap(), None),
                (b"8".to_vec(), peer, Some(0)),
            ]
        );
        // Both read, but a stray may still be on its way in the kernel just after the
        // connect: the sender is asked for a while yet.
        assert!(m.peers[0].strays.is_some());
        // Later, with the queue empty, only the peer's datagrams can come: read without
        // asking who sent them.
        if let Some(t) = &mut m.peers[0].strays {
            *t -= STRAYS_SETTLE;
        }
        assert!(matches!(m.recv(Token(1), &mut inbox), Recv::Empty));
        assert!(m.peers[0].strays.is_none());
        peer_sock.send_to(b"9", at).unwrap();
        stranger.send_to(b"10", at).unwrap(); // refused by the connected socket
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(m.recv(Token(1), &mut inbox), Recv::Datagrams(1)));
        assert_eq!(
            (inbox.bytes(0), inbox.got[0].from, inbox.got[0].peer),
            (&b"9"[..], peer, Some(0))
        );
    }

    #[test]
    fn what_the_resolver_left_out_is_counted_with_what_the_table_had_no_room_for() {
        let poll = mio::Poll::new().unwrap();
        let mut m = mesh(
            &poll,
            "127.0.150.2:10002",
            &["127.0.150.3:10003", "127.0.150.4:10004"],
            MAX_PEERS,
        );
        // 300 addresses: the resolver keeps 256, the table has room for 254 of them.
        let mut a = dns::Addrs::with_capacity(MAX_ADDRS_PER_NAME);
        for n in 0..300u32 {
            a.push(std::net::Ipv4Addr::from(0x7f01_0001 + n).into());
        }
        assert_eq!(a.left_out(), 44);
        m.discovered(poll.registry(), Instant::now(), 0, Ok(a));
        assert_eq!(m.len(), MAX_PEERS);
        assert_eq!(m.left_out(), 46);
    }

    #[test]
    fn a_named_peer_that_resolves_to_a_members_address_takes_it_over() {
        let poll = mio::Poll::new().unwrap();
        let r = poll.registry();
        let mut m = mesh(&poll, "127.0.151.2:10002", &["p2:10002"], 8);
        let t = Instant::now();
        // p2 does not resolve yet; the group finds its address first.
        m.discovered(r, t, 0, answer(&["127.0.151.3"]));
        let addr: SocketAddr = "127.0.151.3:10002".parse().unwrap();
        assert_eq!(m.attribute(addr), Some(1));
        events(&mut m);
        // p2 resolves to it: the member is retired at once, its row kept.
        m.resolved(r, t, 0, Ok(addr));
        let ev = events(&mut m);
        assert!(
            matches!(
                ev[..],
                [
                    PeerEvent::NowNamed { i: 1, named: 0, .. },
                    PeerEvent::Resolved { i: 0, .. }
                ]
            ),
            "{ev:?}"
        );
        assert!(m.peer(1).left && m.peers[1].socket.is_none());
        assert_eq!(m.attribute(addr), Some(0), "the named peer's");
        // The group goes on finding the address: skipped, no false "left", no second row.
        for _ in 0..4 {
            m.discovered(r, t, 0, answer(&["127.0.151.3"]));
        }
        assert!(events(&mut m).is_empty());
        assert_eq!(m.len(), 2);
        // p2 moves away: the address is the member's again, which joins again.
        m.resolved(r, t, 0, Ok("127.0.151.9:10002".parse().unwrap()));
        m.discovered(r, t, 0, answer(&["127.0.151.3"]));
        let ev = events(&mut m);
        assert!(
            ev.iter().any(|e| matches!(
                e,
                PeerEvent::Joined {
                    i: 1,
                    again: true,
                    ..
                }
            )),
            "{ev:?}"
        );
    }

    #[test]
    fn a_peer_that_left_is_not_found_by_its_ip_nor_up_again() {
        let poll = mio::Poll::new().unwrap();
        let r = poll.registry();
        let mut m = mesh(&poll, "127.0.152.2:10002", &[], 8);
        let t = Instant::now();
        m.discovered(r, t, 0, answer(&["127.0.152.3"]));
        let other: SocketAddr = "127.0.152.3:40000".parse().unwrap();
        assert_eq!(m.attribute_by_ip(other), Some((0, true)));
        m.discovered(r, t, 0, answer(&[]));
        m.discovered(r, t, 0, answer(&[]));
        assert!(m.peer(0).left);
        events(&mut m);
        assert_eq!(m.attribute_by_ip(other), None);
        m.peers[0].state.handle_error(t, true);
        m.heard(0, "127.0.152.3:10002".parse().unwrap());
        assert!(events(&mut m).is_empty(), "no `up` after `left`");
    }

    /// The student walk's bug: p2 stopped (its goodbye) and its name gone, a new container
    /// got its IP and sent from another port: that was taken as p2's counters.
    #[test]
    fn a_peer_that_said_goodbye_or_is_gone_from_dns_is_not_found_by_its_ip() {
        let poll = mio::Poll::new().unwrap();
        let mut m = mesh(&poll, "127.0.153.2:10002", &[], 8);
        let t = Instant::now();
        m.discovered(poll.registry(), t, 0, answer(&["127.0.153.3"]));
        let stranger: SocketAddr = "127.0.153.3:40000".parse().unwrap();
        assert_eq!(m.attribute_by_ip(stranger), Some((0, true)));
        m.bye(0, "127.0.153.3:10002".parse().unwrap(), t);
        assert_eq!(m.attribute_by_ip(stranger), None, "after its goodbye");
        m.heard(0, "127.0.153.3:10002".parse().unwrap());
        let mut again = mesh(&poll, "127.0.154.2:10002", &[], 8);
        again.discovered(poll.registry(), t, 0, answer(&["127.0.154.3"]));
        again.peers[0].state.handle_unresolved(t);
        assert_eq!(
            again.attribute_by_ip("127.0.154.3:40000".parse().unwrap()),
            None,
            "gone from DNS"
        );
    }

    #[test]
    fn lookups_are_spread_within_twenty_percent() {
        let every = Duration::from_secs(5);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(every)).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= Duration::from_secs(4) && *w <= Duration::from_secs(6)));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "random: {} distinct", distinct.len());
    }
}
