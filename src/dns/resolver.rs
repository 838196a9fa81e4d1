//! The mio adapter around `Lookup`: it owns the sockets, registered on the loop's own poll,
//! and moves bytes between them and the state machines. Nothing here waits: a nameserver that
//! never answers costs a registered socket and a deadline, not a stalled loop.
//!
//! Each lookup gets fresh sockets (the kernel picks a random source port for each), at most
//! four tokens from `token_base + 4 * slot`: UDP over IPv4 and over IPv6 (opened when a
//! nameserver of that family is asked), and one TCP exchange per query when an answer comes
//! back truncated. Everything is closed when the lookup ends.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Registry, Token};

use super::conf::ResolvConf;
use super::lookup::{Ignored, Lookup, Proto};
use super::{hosts, random_u16, Addrs, Error, Family};

/// Tokens per lookup slot.
pub(crate) const TOKENS_PER_SLOT: usize = 4;

/// Largest UDP answer taken whole (the EDNS0 size we announce).
const UDP_MAX: usize = super::lookup::EDNS_UDP_SIZE as usize;

/// A finished lookup: the slot it ran in and its outcome.
pub(crate) type Done = (usize, Result<Addrs, Error>);

#[derive(Debug)]
struct TcpExchange {
    stream: TcpStream,
    /// The query with its 2-byte length prefix.
    out: Vec<u8>,
    written: usize,
    /// The answer as it comes: its 2-byte length, then the message.
    input: Vec<u8>,
    got: usize,
}

#[derive(Debug)]
struct Active {
    lookup: Lookup<fn() -> u16>,
    /// UDP sockets: IPv4, IPv6, each connected to the server of the try it was opened for.
    udp: [Option<UdpSocket>; 2],
    /// The try the UDP sockets were opened for ([`Lookup::try_number`]).
    udp_try: u16,
    tcp: [Option<TcpExchange>; 2],
}

/// What `/etc/hosts` gave a slot's name, and the file's stamp then. A peer whose port refuses
/// is looked up again every 2 s (its container may be back elsewhere): with a 1 MiB hosts file
/// and 250 such peers, scanning the file for each took most of a core. While the file has the
/// same inode, size and times, its answer for the name stands.
#[derive(Debug)]
struct HostsMemo {
    stamp: FileStamp,
    name: heapless::String<{ crate::values::limits::MAX_NAME }>,
    family: Family,
    /// None: the file does not give the name (DNS is asked).
    addrs: Option<Addrs>,
}

/// Device, inode, size, modification and change times (seconds, nanoseconds).
type FileStamp = (u64, u64, u64, i64, i64, i64, i64);

/// `/etc/hosts`'s stamp (a `stat`, which never blocks on what the file is), if it has one.
fn hosts_stamp() -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(super::sysfile::Which::Hosts.path()).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// Lookups in flight, one per slot (a slot is whatever the caller numbers: the mesh uses its
/// peer index).
#[derive(Debug)]
pub(crate) struct Resolver {
    /// Boxed: a lookup is 3 KiB, and a mesh of 200 named peers would otherwise keep (and
    /// make resident) 600 KiB of idle slots. One allocation per lookup, off the message path.
    slots: Vec<Option<Box<Active>>>,
    /// Per slot: what `/etc/hosts` said of its name last time, and the file's stamp then.
    hosts_memo: Vec<Option<Box<HostsMemo>>>,
    token_base: usize,
    capacity: usize,
    done: VecDeque<Done>,
    ignored: Ignored,
    buf: Vec<u8>,
}

impl Resolver {
    /// Room for `slots` lookups at once, each keeping up to `capacity` addresses, using the
    /// tokens from `token_base` to `token_base + 4 * slots` (exclusive).
    pub(crate) fn new(slots: usize, capacity: usize, token_base: usize) -> Resolver {
        Resolver {
            slots: (0..slots).map(|_| None).collect(),
            hosts_memo: (0..slots).map(|_| None).collect(),
            token_base,
            capacity,
            done: VecDeque::with_capacity(slots),
            ignored: Ignored::default(),
            buf: Vec::new(),
        }
    }

    /// Whether a lookup runs in `slot`.
    pub(crate) fn is_busy(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(Option::is_some)
    }

    /// Whether `token` is one of the resolver's.
    pub(crate) fn owns(&self, token: Token) -> bool {
        token.0 >= self.token_base && token.0 < self.token_base + TOKENS_PER_SLOT * self.slots.len()
    }

    /// Answers ignored so far (wrong source, id or question, malformed), every lookup.
    pub(crate) fn ignored(&self) -> Ignored {
        let mut t = self.ignored;
        for a in self.slots.iter().flatten() {
            t += a.lookup.ignored();
        }
        t
    }

    /// Starts looking up `name` (a host, without port or brackets) in `slot`, replacing any
    /// lookup there. An IP address, or a name `/etc/hosts` gives, is done at once; otherwise
    /// the queries go out now. The outcome comes from [`Resolver::poll_done`].
    pub(crate) fn start(
        &mut self,
        registry: &Registry,
        slot: usize,
        name: &str,
        family: Family,
        now: Instant,
    ) {
        // The hosts file (or an IP address) first: resolv.conf is read only when DNS is asked.
        if !self.answer_locally(registry, slot, name, family) {
            self.ask_dns(registry, slot, name, family, &ResolvConf::load(), now);
        }
    }

    /// An IP address, or a name `/etc/hosts` gives: done at once (true). The file is searched
    /// again only when it changed since it last gave (or did not give) this slot's name.
    fn answer_locally(
        &mut self,
        registry: &Registry,
        slot: usize,
        name: &str,
        family: Family,
    ) -> bool {
        self.cancel(registry, slot);
        let mut addrs = Addrs::with_capacity(self.capacity);
        if let Ok(ip) = name.parse::<IpAddr>() {
            addrs.push(ip);
            self.done.push_back((slot, Ok(addrs)));
            return true;
        }
        let stamp = hosts_stamp();
        let memo = self.hosts_memo.get(slot).and_then(Option::as_ref);
        let found = match memo
            .filter(|m| stamp.is_some_and(|s| s == m.stamp) && m.family == family && m.name == name)
        {
            Some(m) => m.addrs.clone(),
            None => {
                let found = hosts::lookup_file(name, family, &mut addrs).then_some(addrs);
                if let (Some(stamp), Some(entry), Ok(name)) = (
                    stamp,
                    self.hosts_memo.get_mut(slot),
                    heapless::String::try_from(name),
                ) {
                    *entry = Some(Box::new(HostsMemo {
                        stamp,
                        name,
                        family,
                        addrs: found.clone(),
                    }));
                }
                found
            }
        };
        match found {
            Some(addrs) => {
                self.done.push_back((slot, Ok(addrs)));
                true
            }
            None => false,
        }
    }

    /// [`Resolver::start`] with the nameservers and options of `conf` instead of
    /// `/etc/resolv.conf`'s.
    pub(crate) fn start_with(
        &mut self,
        registry: &Registry,
        slot: usize,
        name: &str,
        family: Family,
        conf: &ResolvConf,
        now: Instant,
    ) {
        if !self.answer_locally(registry, slot, name, family) {
            self.ask_dns(registry, slot, name, family, conf, now);
        }
    }

    /// The queries of a lookup for `name` in `slot` go out now (after [`Self::answer_locally`]).
    fn ask_dns(
        &mut self,
        registry: &Registry,
        slot: usize,
        name: &str,
        family: Family,
        conf: &ResolvConf,
        now: Instant,
    ) {
        let lookup = Lookup::new(
            name,
            family,
            conf,
            self.capacity,
            now,
            random_u16 as fn() -> u16,
        );
        if self.buf.len() < UDP_MAX + 1 {
            self.buf = vec![0; UDP_MAX + 1];
        }
        self.slots[slot] = Some(Box::new(Active {
            lookup,
            udp: [None, None],
            udp_try: 0,
            tcp: [None, None],
        }));
        self.flush(registry, slot, now);
    }

    /// Stops the lookup in `slot`, if any, without an outcome.
    pub(crate) fn cancel(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut a) = self.slots.get_mut(slot).and_then(Option::take) {
            self.ignored += a.lookup.ignored();
            close(registry, &mut a);
        }
    }

    /// Gives up the lookup in `slot` now (the caller's own deadline passed): its outcome is
    /// "timed out" with the tries so far.
    pub(crate) fn give_up(&mut self, registry: &Registry, slot: usize) {
        if let Some(Some(a)) = self.slots.get(slot) {
            let e = a.lookup.timed_out();
            self.cancel(registry, slot);
            self.done.push_back((slot, Err(e)));
        }
    }

    /// The next finished lookup.
    pub(crate) fn poll_done(&mut self) -> Option<Done> {
        self.done.pop_front()
    }

    /// The earliest deadline of the lookups in flight.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|a| a.lookup.poll_timeout())
            .min()
    }

    /// Passes `now` to every lookup whose deadline has come.
    pub(crate) fn handle_timeout(&mut self, registry: &Registry, now: Instant) {
        for slot in 0..self.slots.len() {
            let due = self.slots[slot]
                .as_ref()
                .and_then(|a| a.lookup.poll_timeout())
                .is_some_and(|d| d <= now);
            if due {
                if let Some(a) = &mut self.slots[slot] {
                    a.lookup.handle_timeout(now);
                }
                self.flush(registry, slot, now);
            }
        }
    }

    /// One of the resolver's sockets is ready: reads what it holds (until `WouldBlock`),
    /// writes what waits, and hands the answers to the lookup.
    pub(crate) fn handle_ready(&mut self, registry: &Registry, token: Token, now: Instant) {
        if !self.owns(token) {
            return;
        }
        let k = token.0 - self.token_base;
        let (slot, which) = (k / TOKENS_PER_SLOT, k % TOKENS_PER_SLOT);
        let Some(a) = self.slots[slot].as_mut() else {
            return; // a late event for a closed socket
        };
        if which < 2 {
            let Some(sock) = &a.udp[which] else { return };
            loop {
                match sock.recv_from(&mut self.buf) {
                    Ok((n, from)) => a.lookup.handle_response(now, from, &self.buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // The socket is connected to the try's server: its ICMP port unreachable
                    // comes back as this. The next server is asked now, not after the timeout.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        a.lookup.handle_refused(now);
                        break;
                    }
                    // WouldBlock, or another error: the deadline covers whatever was lost.
                    Err(_) => break,
                }
                if a.lookup.is_done() {
                    break;
                }
            }
        } else {
            let stream = which - 2;
            match tcp_progress(&mut a.tcp[stream]) {
                Ok(None) => {}
                Ok(Some(ex)) => {
                    a.lookup
                        .handle_tcp_response(now, stream, &ex.input[2..ex.got]);
                    close_tcp(registry, ex);
                }
                Err(()) => {
                    if let Some(ex) = a.tcp[stream].take() {
                        close_tcp(registry, ex);
                    }
                    a.lookup.handle_tcp_failed(now, stream);
                }
            }
        }
        self.flush(registry, slot, now);
    }

    /// Sends what the lookup in `slot` has to send; if it is finished, closes its sockets and
    /// queues its outcome.
    fn flush(&mut self, registry: &Registry, slot: usize, now: Instant) {
        let base = self.token_base + TOKENS_PER_SLOT * slot;
        let Some(a) = self.slots[slot].as_mut() else {
            return;
        };
        let mut failed_tcp: heapless::Vec<usize, 4> = heapless::Vec::new();
        loop {
            let mut refused = false;
            // Everything in the outbox belongs to the current try.
            let this_try = a.lookup.try_number();
            while let Some(tx) = a.lookup.poll_transmit() {
                match tx.proto {
                    Proto::Udp => {
                        let fam = usize::from(tx.to.is_ipv6());
                        if a.udp_try != this_try {
                            // A fresh socket (a new random port) for every try, connected to
                            // its server: a refusal is then reported, and only that server's
                            // datagrams reach it.
                            a.udp_try = this_try;
                            for s in a.udp.iter_mut().filter_map(Option::take) {
                                let mut s = s;
                                let _ = registry.deregister(&mut s);
                            }
                        }
                        if a.udp[fam].is_none() {
                            a.udp[fam] = open_udp(registry, tx.to, Token(base + fam)).ok();
                        }
                        if let Some(s) = &a.udp[fam] {
                            // Another send error (no route) is a try without an answer: the
                            // deadline moves on to the next server.
                            if let Err(e) = s.send(tx.payload) {
                                refused |= e.kind() == io::ErrorKind::ConnectionRefused;
                            }
                        }
                    }
                    Proto::Tcp { stream } => {
                        if let Some(old) = a.tcp[stream].take() {
                            close_tcp(registry, old);
                        }
                        match open_tcp(registry, tx.to, tx.payload, Token(base + 2 + stream)) {
                            Ok(ex) => a.tcp[stream] = Some(ex),
                            Err(_) => {
                                let _ = failed_tcp.push(stream);
                            }
                        }
                    }
                }
            }
            if refused {
                a.lookup.handle_refused(now);
                continue;
            }
            let Some(stream) = failed_tcp.pop() else {
                break;
            };
            a.lookup.handle_tcp_failed(now, stream);
        }
        if let Some(r) = a.lookup.result() {
            let r = r.clone().map(|()| a.lookup.addrs().clone());
            self.cancel(registry, slot);
            self.done.push_back((slot, r));
        }
    }
}

fn close(registry: &Registry, a: &mut Active) {
    for s in a.udp.iter_mut().filter_map(Option::take) {
        let mut s = s;
        let _ = registry.deregister(&mut s);
    }
    for ex in a.tcp.iter_mut().filter_map(Option::take) {
        close_tcp(registry, ex);
    }
}

fn close_tcp(registry: &Registry, mut ex: TcpExchange) {
    let _ = registry.deregister(&mut ex.stream);
}

fn open_udp(registry: &Registry, to: SocketAddr, token: Token) -> io::Result<UdpSocket> {
    let any: SocketAddr = if to.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    // Port 0: the kernel picks a random ephemeral port.
    let mut s = UdpSocket::bind(any)?;
    s.connect(to)?;
    registry.register(&mut s, token, Interest::READABLE)?;
    Ok(s)
}

fn open_tcp(
    registry: &Registry,
    to: SocketAddr,
    payload: &[u8],
    token: Token,
) -> io::Result<TcpExchange> {
    let mut stream = TcpStream::connect(to)?;
    registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(TcpExchange {
        stream,
        out,
        written: 0,
        input: vec![0; 2],
        got: 0,
    })
}

/// Moves a TCP exchange along: `Ok(Some)` with the whole answer, `Ok(None)` to wait for the
/// next readiness, `Err` when it failed (refused, reset, closed before the end).
fn tcp_progress(slot: &mut Option<TcpExchange>) -> Result<Option<TcpExchange>, ()> {
    let Some(ex) = slot.as_mut() else {
        return Ok(None);
    };
    while ex.written < ex.out.len() {
        match ex.stream.write(&ex.out[ex.written..]) {
            Ok(0) => return Err(()),
            Ok(n) => ex.written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Still connecting.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) =>
            {
                return Ok(None)
            }
            Err(_) => return Err(()),
        }
    }
    loop {
        if ex.got == ex.input.len() {
            if ex.got == 2 {
                let len = usize::from(u16::from_be_bytes([ex.input[0], ex.input[1]]));
                if len == 0 {
                    return Err(());
                }
                ex.input.resize(2 + len, 0);
            } else {
                return Ok(slot.take());
            }
        }
        match ex.stream.read(&mut ex.input[ex.got..]) {
            Ok(0) => return Err(()),
            Ok(n) => ex.got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(_) => return Err(()),
        }
    }
}

/// Resolves `name` the same way, but waits for the answer (its own poll, not the loop's), at
/// most `limit`: for short-lived commands (`process health`) and the own address at start,
/// before the loop runs. A nameserver that does not answer costs `limit`, not its timeouts.
pub(crate) fn resolve_blocking(
    name: &str,
    family: Family,
    capacity: usize,
    limit: Duration,
) -> Result<Addrs, Error> {
    resolve_blocking_with(&ResolvConf::load(), name, family, capacity, limit)
}

/// `resolve_blocking` with the nameservers and options of `conf`.
pub fn resolve_blocking_with(
    conf: &ResolvConf,
    name: &str,
    family: Family,
    capacity: usize,
    limit: Duration,
) -> Result<Addrs, Error> {
    let io_err = |e: io::Error| Error::Io(e.kind());
    let mut poll = Poll::new().map_err(io_err)?;
    let mut events = Events::with_capacity(8);
    let mut r = Resolver::new(1, capacity, 0);
    let start = Instant::now();
    let until = start + limit;
    r.start_with(poll.registry(), 0, name, family, conf, start);
    loop {
        if let Some((_, result)) = r.poll_done() {
            return result;
        }
        let now = Instant::now();
        if now >= until {
            r.give_up(poll.registry(), 0);
            continue;
        }
        let wake = r.poll_timeout().map_or(until, |t| t.min(until));
        match poll.poll(&mut events, Some(wake.saturating_duration_since(now))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
        let now = Instant::now();
        for e in events.iter() {
            r.handle_ready(poll.registry(), e.token(), now);
        }
        r.handle_timeout(poll.registry(), now);
    }
}
