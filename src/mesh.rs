//! The set of sockets every mode shares: the server socket on the process's own address and
//! one connected socket per peer, all bound to that address with `SO_REUSEPORT` (see [`net`]),
//! plus each peer's name resolution and up/down state ([`PeerState`]).
//!
//! Applications (the counter peer, the Lab 1 process, the shared resource) never touch a
//! socket: they call [`Mesh::send`] / [`Mesh::send_to`] and get datagrams from the driver,
//! already attributed to a peer by source address.
//!
//! [`net`]: crate::net

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

use crate::cli::AddrSpec;
use crate::dns::{self, Family, Resolver};
use crate::limits::{MAX_ADDRS_PER_NAME, MAX_PEERS};
use crate::net::{self, BindError};
use crate::output::peer::{Down, PeerEvent};
use crate::peer::{PeerState, Resolved};

/// The server socket's token; peer `i` is `Token(1 + i)`.
pub const SERVER: Token = Token(0);

/// The first of the resolver's tokens (after the peers'): peer `i`'s lookup uses
/// `DNS_TOKENS + 4 * i` to `DNS_TOKENS + 4 * i + 3` (see [`dns::resolver`]).
pub const DNS_TOKENS: usize = MAX_PEERS + 1;

/// Every token the mesh may register (server, peers, lookups).
pub const MAX_TOKENS: usize = DNS_TOKENS + dns::resolver::TOKENS_PER_SLOT * MAX_PEERS;

/// Why the sockets could not be opened.
#[derive(Debug)]
pub enum StartError {
    /// The server socket.
    Bind(BindError),
    /// `mio::Poll` or a registration failed.
    Poll(io::Error),
    /// More peers than [`MAX_PEERS`].
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
}

/// The result of one receive attempt.
#[derive(Debug)]
pub enum Recv {
    /// A datagram of this many bytes from this address, on this peer's socket (or `None`:
    /// the server socket).
    Datagram(usize, SocketAddr, Option<usize>),
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
    /// Allocated once at start for exactly the configured peers; never grows.
    peers: Vec<Slot>,
    /// What happened to the peers since the driver last looked ([`Mesh::poll_event`]);
    /// capacity fixed at start, drained after every handler.
    events: VecDeque<PeerEvent>,
    /// The address could not be bound and the wildcard was used instead: why.
    fallback: Option<&'static str>,
    /// The own address's lock (one process per address), held until the mesh is dropped.
    _lock: std::os::unix::net::UnixDatagram,
    /// Peer names being looked up, one lookup per peer, on the loop's own poll.
    resolver: Resolver,
}

impl Mesh {
    /// Binds the server socket on `addr` and registers it; peers are connected by
    /// [`Mesh::resolve_due`] as their names resolve. Prints the fallback notice if the
    /// wildcard address had to be used.
    pub fn open(
        registry: &Registry,
        addr: &AddrSpec,
        peers: &[AddrSpec],
    ) -> Result<Mesh, StartError> {
        if peers.len() > MAX_PEERS {
            return Err(StartError::TooManyPeers(peers.len()));
        }
        let server = net::bind_server(addr).map_err(StartError::Bind)?;
        let now = Instant::now();
        let mut mesh = Mesh {
            local: server.local,
            server: server.socket,
            peers: Vec::with_capacity(peers.len()),
            // Each peer can go down, be resolved and come up in one turn.
            events: VecDeque::with_capacity(3 * peers.len() + 1),
            fallback: server.fallback,
            _lock: server.lock,
            resolver: Resolver::new(peers.len(), MAX_ADDRS_PER_NAME, DNS_TOKENS),
        };
        registry
            .register(&mut mesh.server, SERVER, Interest::READABLE)
            .map_err(StartError::Poll)?;
        for spec in peers {
            let slot = Slot {
                state: PeerState::new(spec.clone(), now),
                socket: None,
            };
            mesh.peers.push(slot);
        }
        Ok(mesh)
    }

    /// The address the server socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers (the shared resource).
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Peer `i`'s state.
    ///
    /// # Panics
    /// If `i >= self.len()`: peer indices come from this mesh.
    pub fn peer(&self, i: usize) -> &PeerState {
        &self.peers[i].state
    }

    /// The peer whose current address is `addr`, if any.
    pub fn attribute(&self, addr: SocketAddr) -> Option<usize> {
        self.peers.iter().position(|p| p.state.addr == Some(addr))
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
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => {
                if slot.state.handle_error(now) {
                    let ev = PeerEvent::Down {
                        i,
                        addr: slot.state.addr,
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
    pub fn send_to(&self, addr: SocketAddr, bytes: &[u8]) -> bool {
        self.server.send_to(bytes, addr).is_ok()
    }

    /// Tells every peer we are stopping (best effort: one datagram each).
    pub fn say_to_all(&self, bytes: &[u8]) {
        for slot in &self.peers {
            if let Some(s) = &slot.socket {
                let _ = s.send(bytes);
            }
        }
    }

    /// Notes the peers that came back up (sends without an error for
    /// [`UP_AFTER`](crate::limits::UP_AFTER)); the driver calls it once a second.
    pub fn poll_up(&mut self, now: Instant) {
        for i in 0..self.peers.len() {
            let st = &mut self.peers[i].state;
            if st.poll_up(now) {
                if let Some(addr) = st.addr {
                    self.push(PeerEvent::Up { i, addr });
                }
            }
        }
    }

    /// Call when a datagram came from peer `i`: it is up.
    pub fn heard(&mut self, i: usize, from: SocketAddr) {
        if self.peers[i].state.handle_heard() {
            self.push(PeerEvent::Up { i, addr: from });
        }
    }

    /// Call when peer `i` said goodbye: it is down until heard from again.
    pub fn bye(&mut self, i: usize, from: SocketAddr, now: Instant) {
        if self.peers[i].state.handle_bye(now) {
            self.push(PeerEvent::Down {
                i,
                addr: Some(from),
                why: Down::Stopped,
            });
        }
    }

    /// The next thing that happened to a peer, to print.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Why the own address could not be bound (and the wildcard was used instead).
    pub fn fallback(&self) -> Option<&'static str> {
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
    pub fn recv(&mut self, token: Token, buf: &mut [u8]) -> Recv {
        let (result, peer) = if token == SERVER {
            (self.server.recv_from(buf), None)
        } else {
            let i = token.0.wrapping_sub(1);
            match self.peers.get(i).and_then(|s| s.socket.as_ref()) {
                Some(sock) => (sock.recv_from(buf), Some(i)),
                None => return Recv::Empty, // not ours, or deregistered: ignore
            }
        };
        match result {
            Ok((n, from)) => Recv::Datagram(n, from, peer),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Recv::Empty,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Recv::Again,
            Err(e) => match peer {
                // The ICMP error of an earlier send (e.g. connection refused): the peer is
                // not listening. Transient by nature; reading the error consumes it.
                Some(i) => {
                    let st = &mut self.peers[i].state;
                    if st.handle_error(Instant::now()) {
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

    /// When the next peer name is due for (re)resolution, or a lookup in flight for its next
    /// deadline.
    pub fn next_resolve(&self) -> Option<Instant> {
        let due = (0..self.peers.len())
            .filter(|&i| !self.resolver.is_busy(i))
            .map(|i| self.peers[i].state.next_resolve)
            .min();
        [due, self.resolver.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether some peer's first lookup is still in flight (its name has never resolved and a
    /// lookup for it waits for an answer).
    pub fn first_lookups_pending(&self) -> bool {
        (0..self.peers.len())
            .any(|i| self.peers[i].state.addr.is_none() && self.resolver.is_busy(i))
    }

    /// DNS answers the lookups ignored so far (wrong source, id or question, malformed).
    pub fn dns_ignored(&self) -> dns::lookup::Ignored {
        self.resolver.ignored()
    }

    /// Whether `token` is one of the resolver's sockets.
    pub fn owns_dns(&self, token: Token) -> bool {
        self.resolver.owns(token)
    }

    /// One of the resolver's sockets is ready: answers are read, and peers whose lookup
    /// ended are (re)connected or said to be unresolved.
    pub fn handle_dns(&mut self, registry: &Registry, token: Token, now: Instant) {
        self.resolver.handle_ready(registry, token, now);
        self.apply_lookups(registry, now);
    }

    /// Starts a lookup for every peer whose time has come (an IP address is taken at once),
    /// passes the time to the lookups in flight, and (re)connects the peers whose lookup
    /// ended. Never waits: the answers come through [`Mesh::handle_dns`].
    pub fn resolve_due(&mut self, registry: &Registry, now: Instant) {
        self.resolver.handle_timeout(registry, now);
        for i in 0..self.peers.len() {
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
        }
        self.apply_lookups(registry, now);
    }

    /// Lookups that ended: a result for their peer.
    fn apply_lookups(&mut self, registry: &Registry, now: Instant) {
        let want_v6 = Some(self.local.is_ipv6());
        while let Some((i, result)) = self.resolver.poll_done() {
            let port = self.peers[i].state.spec.port;
            let result = result.map_err(io::Error::from).and_then(|addrs| {
                net::pick(addrs.as_slice(), want_v6)
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
        let slot = &mut self.peers[i];
        let addr = match result {
            Ok(a) => a,
            Err(why) => {
                if slot.state.handle_unresolved(now) {
                    self.push(PeerEvent::Unresolved { i, why });
                }
                return;
            }
        };
        let outcome = slot.state.handle_resolved(now, addr);
        if outcome == Resolved::Same && slot.socket.is_some() {
            return;
        }
        if let Some(mut old) = slot.socket.take() {
            let _ = registry.deregister(&mut old);
        }
        let connected = net::connect_peer(self.local, addr).and_then(|mut s| {
            registry
                .register(&mut s, Token(1 + i), Interest::READABLE)
                .map(|()| s)
        });
        match connected {
            Ok(s) => {
                slot.socket = Some(s);
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
