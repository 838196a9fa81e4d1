//! Socket set-up and name resolution: the only code that creates sockets.
//!
//! Every socket of a peer is bound to the same local address with `SO_REUSEPORT`: the server
//! socket is unconnected, and each peer gets one socket connected to it. So every datagram
//! leaves from the well-known port (the receiver can tell who sent it), and the kernel hands
//! each peer's datagrams to that peer's socket, with ICMP errors ("connection refused") on it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};

use mio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};

use crate::dns::{self, Family};
use crate::values::addr::AddrSpec;
use crate::values::limits::MAX_DGRAM;

/// Why the server socket could not be opened.
#[derive(Debug)]
pub enum BindError {
    /// Another program already uses the port (a second peer with the same ADDR?).
    InUse(SocketAddr),
    /// Another process holds the address's lock (see [`lock`]): a second process started
    /// for the same ADDR, or anything else that took that name.
    Locked(SocketAddr),
    /// Any other error from the OS.
    Io(SocketAddr, io::Error),
}

impl core::fmt::Display for BindError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BindError::InUse(a) => write!(f, "cannot listen on {a}: the port is already in use"),
            BindError::Locked(a) => write!(
                f,
                "cannot listen on {a}: already in use by another process (it holds @peerlab/{a}: see `ss -xlp`)"
            ),
            BindError::Io(a, e) => write!(f, "cannot listen on {a}: {e}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::InUse(_) | BindError::Locked(_) => None,
            BindError::Io(_, e) => Some(e),
        }
    }
}

/// The server socket and how it came to be.
#[derive(Debug)]
pub(crate) struct Server {
    /// The socket, non-blocking, not bound yet (see [`listen`]).
    pub(crate) socket: UdpSocket,
    /// The address it is bound to by [`listen`].
    pub(crate) local: SocketAddr,
    /// Why it is bound to the wildcard address instead of ADDR, if it is.
    pub(crate) fallback: Option<&'static str>,
    /// The address's lock, held for the process's life (see [`lock`]).
    pub(crate) lock: UnixDatagram,
}

/// How long the own address may take to resolve at start, before the loop runs (then the
/// wildcard address is bound, and said).
pub(crate) const RESOLVE_OWN_LIMIT: Duration = Duration::from_secs(3);

/// Resolves a `host:port` spec, preferring the address family `want_v6` says, waiting at most
/// `limit` (the resolver of [`crate::dns`], with its own short poll: for the own address at
/// start and `process health`, never inside the loop, where peers are resolved without
/// waiting).
pub(crate) fn resolve(
    spec: &AddrSpec,
    want_v6: Option<bool>,
    limit: Duration,
) -> io::Result<SocketAddr> {
    let port = spec.port;
    // An IP literal needs no resolver.
    if let Ok(a) = spec.resolver_form().parse::<SocketAddr>() {
        return Ok(a);
    }
    let addrs = dns::resolver::resolve_blocking(spec.host(), Family::Any, 16, limit)?;
    pick(addrs.as_slice(), want_v6)
        .map(|ip| SocketAddr::new(ip, port))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
}

/// The first address of the family `want_v6` says, else the first.
pub(crate) fn pick(addrs: &[IpAddr], want_v6: Option<bool>) -> Option<IpAddr> {
    addrs
        .iter()
        .find(|a| want_v6.is_none_or(|v6| a.is_ipv6() == v6))
        .or(addrs.first())
        .copied()
}

/// Opens the server socket on ADDR. If ADDR does not resolve or is not an address of this
/// host (a Swarm service name resolves to a virtual IP), binds the wildcard address on its
/// port instead and says why in `fallback`.
pub(crate) fn bind_server(spec: &AddrSpec) -> Result<Server, BindError> {
    let (want, mut fallback) = match resolve(spec, None, RESOLVE_OWN_LIMIT) {
        Ok(a) => (a, None),
        Err(_) => (
            wildcard(false, spec.port),
            Some("the name does not resolve here"),
        ),
    };
    let bound = match bind_shared(want) {
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
            fallback = Some("the address is not one of this host's");
            bind_shared(wildcard(want.is_ipv6(), spec.port))
        }
        r => r,
    };
    // Said with the address tried: the wildcard's, after a fallback.
    let tried = match fallback {
        Some(_) => wildcard(want.is_ipv6(), spec.port),
        None => want,
    };
    let (socket, lock, local) = bound.map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => BindError::InUse(tried),
        // The lock's name is taken (see `lock`).
        io::ErrorKind::AlreadyExists => BindError::Locked(tried),
        _ => BindError::Io(tried, e),
    })?;
    let local = local.map_err(|e| BindError::Io(tried, e))?;
    Ok(Server {
        socket,
        local,
        fallback,
        lock,
    })
}

/// A socket bound to `local` (the server's address) and connected to `peer`.
///
/// Between its bind and its connect a socket on the shared port takes datagrams from anyone.
/// Once the process listens that is harmless (what it takes is attributed by address). Before
/// (`starting`), it is not: with the server socket not bound yet, a stray counter from a peer
/// whose socket comes later would be the first one accounted, and the ones refused until that
/// socket is connected would read as lost. So while starting, the socket takes nothing until
/// it is connected (a socket filter that keeps no datagram), as a process not started.
pub(crate) fn connect_peer(
    local: SocketAddr,
    peer: SocketAddr,
    starting: bool,
) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    // Classic BPF `ret #0`: keep 0 bytes of every datagram, i.e. drop it.
    const KEEP_NONE: [socket2::SockFilter; 1] = [socket2::SockFilter::new(0x06, 0, 0, 0)];
    let filtered = starting && s.attach_filter(&KEEP_NONE).is_ok();
    s.bind(&local.into())?;
    s.connect(&peer.into())?;
    if filtered {
        s.detach_filter()?;
    }
    Ok(UdpSocket::from_std(s.into()))
}

fn wildcard(v6: bool, port: u16) -> SocketAddr {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    SocketAddr::new(ip, port)
}

/// Claims ADDR for the server socket. `SO_REUSEPORT` would let a second peer started with the
/// same ADDR share the port silently, each getting half the datagrams, so: first the address's
/// lock (two of our processes started at the same instant: only one gets it), then a plain
/// bind (any other program on the port). The shared socket is made but bound by [`listen`],
/// once the peers' sockets are connected: until then what the peers send would queue on it,
/// and a process that starts while a 200-peer mesh loads both cores can be held long enough
/// for that queue to overflow (seen as counters lost at start).
fn bind_shared(addr: SocketAddr) -> io::Result<(UdpSocket, UnixDatagram, io::Result<SocketAddr>)> {
    let lock = lock(addr)?;
    let local = plain_bind(addr)?
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable));
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    // Until a peer's socket is connected, what it sends comes here: a process that starts in
    // a running 200-peer mesh gets 199 datagrams at once each second (the broadcasts share a
    // phase), and the default buffer holds about 256 small ones. Asked for more, the kernel
    // gives at most twice `net.core.rmem_max` (425,984 bytes by default); memory is used
    // only by what waits. Best effort.
    let _ = s.set_recv_buffer_size(SERVER_RCVBUF);
    Ok((UdpSocket::from_std(s.into()), lock, local))
}

/// Binds the server socket made by [`bind_server`] to its address.
pub(crate) fn listen(server: &UdpSocket, local: SocketAddr) -> io::Result<()> {
    socket2::SockRef::from(server).bind(&local.into())
}

/// An exclusive lock on `addr` among the processes of this network namespace, for as long as
/// the returned socket is open: a datagram socket bound to the abstract Unix address
/// `\0peerlab/ADDR`. The kernel lets only one socket hold a name and frees it when the
/// process ends, however it ends (no file to clean up, nothing left after a SIGKILL), and
/// binding is atomic, unlike the plain-bind check followed by the `SO_REUSEPORT` bind (two
/// processes could both pass the check before either bound). Abstract names are per network
/// namespace, like ports, so containers do not see each other's. A name already held is
/// reported as `AlreadyExists` (to tell it from a port in use).
fn lock(addr: SocketAddr) -> io::Result<UnixDatagram> {
    let mut name: heapless::String<64> = heapless::String::new();
    // Cannot fail: "peerlab/" and an IPv6 socket address fit in 64 bytes.
    core::fmt::write(&mut name, format_args!("peerlab/{addr}")).expect("fits");
    let unix = UnixAddr::from_abstract_name(name.as_bytes())?;
    UnixDatagram::bind_addr(&unix).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => io::ErrorKind::AlreadyExists.into(),
        _ => e,
    })
}

fn plain_bind(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// The server socket's receive buffer asked for (the kernel caps it, see `bind_shared`).
const SERVER_RCVBUF: usize = 1 << 20;

/// The addresses of this host's interfaces (this network namespace's), read once: to tell
/// the own address among a group's when the process listens on the wildcard address. From
/// `/proc/net/fib_trie` (IPv4: the `/32 host LOCAL` entries) and `/proc/net/if_inet6`, not by
/// binding, since every address of 127.0.0.0/8 can be bound but only 127.0.0.1 is an
/// interface's. Read once per lookup of a group, never on the message path.
#[derive(Debug, Default)]
pub(crate) struct HostAddrs {
    fib_trie: String,
    if_inet6: String,
}

impl HostAddrs {
    /// Reads them now (what cannot be read counts as none).
    pub(crate) fn read() -> HostAddrs {
        HostAddrs {
            fib_trie: std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default(),
            if_inet6: std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default(),
        }
    }

    /// Whether `ip` is one of them.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => fib_trie_has_local(&self.fib_trie, v4),
            IpAddr::V6(v6) => self.if_inet6.lines().any(|l| {
                l.get(..32)
                    .and_then(|h| u128::from_str_radix(h, 16).ok())
                    .is_some_and(|a| a == u128::from(v6))
            }),
        }
    }
}

impl HostAddrs {
    /// Whether a datagram to `ip` is delivered to this host: one of its addresses, or inside
    /// a local route (all of 127.0.0.0/8; a prefix given to `lo`, e.g. 10.9.0.2/24 makes all
    /// of 10.9.0.0/24 this host's), or `::1`. A socket on the wildcard address gets it.
    pub(crate) fn delivers_here(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => fib_trie_local_route(&self.fib_trie, v4),
            IpAddr::V6(v6) => v6.is_loopback() || self.contains(ip),
        }
    }
}

/// Whether `/proc/net/fib_trie`'s text has a local route (`host LOCAL`) that holds `ip`.
fn fib_trie_local_route(text: &str, ip: Ipv4Addr) -> bool {
    let mut last = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.trim().parse::<Ipv4Addr>().ok();
        } else if let Some(rest) = t.strip_prefix('/') {
            let Some((len, kind)) = rest.split_once(' ') else {
                continue;
            };
            let (Some(net), Ok(len)) = (last, len.parse::<u32>()) else {
                continue;
            };
            if kind.trim() != "host LOCAL" || len > 32 {
                continue;
            }
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            if u32::from(ip) & mask == u32::from(net) & mask {
                return true;
            }
        }
    }
    false
}

/// Whether `/proc/net/fib_trie`'s text has `ip` as a local host address.
fn fib_trie_has_local(text: &str, ip: Ipv4Addr) -> bool {
    let mut last = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(a) = t.strip_prefix("|-- ") {
            last = a.trim().parse::<Ipv4Addr>().ok();
        } else if t.starts_with("/32 host LOCAL") && last == Some(ip) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbox_that_moved_reads_into_itself() {
        let rx = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let read = |inbox: &mut Inbox| {
            for _ in 0..1000 {
                match recv_batch(&rx, inbox, None) {
                    Ok(n) => return n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            panic!("nothing came");
        };
        let mut first = Inbox::boxed();
        tx.send_to(b"12", to).unwrap();
        assert_eq!(read(&mut first), 1);
        assert_eq!(first.bytes(0), b"12");
        assert_eq!(first.got[0].from, tx.local_addr().unwrap());
        // Moved to another place: its headers must point at the new buffers, not the old.
        let mut moved = Box::new(*first);
        tx.send_to(b"345", to).unwrap();
        assert_eq!(read(&mut moved), 1);
        assert_eq!(moved.bytes(0), b"345");
    }

    #[test]
    fn local_addresses_from_the_fib_trie() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     +-- 127.0.0.0/8 2 0 2\n\
            \x20       +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n\
            \x20          |-- 127.0.0.1\n              /32 host LOCAL\n\
            \x20       |-- 127.255.255.255\n           /32 link BROADCAST\n\
            \x20             |-- 172.18.0.0\n                 /16 link UNICAST\n\
            \x20             |-- 172.18.0.5\n                 /32 host LOCAL\n";
        let local = |a: &str| fib_trie_has_local(trie, a.parse().unwrap());
        assert!(local("127.0.0.1") && local("172.18.0.5"));
        assert!(!local("127.0.0.2") && !local("127.0.0.0") && !local("172.18.0.6"));
        // Delivered here: all of 127/8 (a local route), the own addresses; not a neighbour.
        let here = |a: &str| fib_trie_local_route(trie, a.parse().unwrap());
        assert!(here("127.0.0.1") && here("127.77.1.2") && here("172.18.0.5"));
        assert!(!here("172.18.0.6") && !here("10.0.0.1"));
        assert!(!local("127.255.255.255") && !local("172.18.0.0"));
        // This host's own, read for real.
        let host = HostAddrs::read();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
    }
}

/// Datagrams one read takes at most: two, so that a read that gets one knows the socket's
/// queue was empty, and no second read that returns EAGAIN is needed (one system call per
/// datagram instead of two; a datagram that comes after it is a new readiness event).
pub(crate) const BATCH: usize = 2;

/// One datagram of a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Got {
    /// Its length, cut to `MAX_DGRAM`.
    pub(crate) len: usize,
    pub(crate) from: SocketAddr,
    /// The peer it is from, when it came on that peer's socket from that peer's address
    /// (set by the mesh).
    pub(crate) peer: Option<usize>,
}

/// The receive buffers of one batch, allocated once at start, with the `recvmmsg` headers
/// that describe them: built once, not zeroed and filled on every read (that was about 130
/// instructions of a 1,600-instruction turn).
pub(crate) struct Inbox {
    pub(crate) data: [[u8; MAX_DGRAM]; BATCH],
    pub(crate) got: [Got; BATCH],
    names: [libc::sockaddr_storage; BATCH],
    iov: [libc::iovec; BATCH],
    msgs: [libc::mmsghdr; BATCH],
}

// SAFETY: the raw pointers in `iov` and `msgs` point into the same `Inbox` (checked, and set
// again if it moved, before every read in `recv_batch`) and are not dereferenced anywhere
// else: moving an `Inbox` to another thread shares nothing.
#[allow(unsafe_code)]
unsafe impl Send for Inbox {}

impl core::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inbox")
            .field("got", &self.got)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// Boxed and zeroed at once (the 4 KiB never pass through the stack).
    pub(crate) fn boxed() -> Box<Inbox> {
        let none = Got {
            len: 0,
            from: SocketAddr::from(([0, 0, 0, 0], 0)),
            peer: None,
        };
        let mut b: Box<core::mem::MaybeUninit<Inbox>> = Box::new_uninit();
        let p = b.as_mut_ptr();
        #[allow(unsafe_code)]
        // SAFETY: every field is written before `assume_init`; `p` points into the box.
        // All-zero is a valid `sockaddr_storage`, `iovec` and `mmsghdr` (null pointers, zero
        // lengths).
        unsafe {
            core::ptr::addr_of_mut!((*p).data).write_bytes(0, 1);
            core::ptr::addr_of_mut!((*p).got).write([none; BATCH]);
            core::ptr::addr_of_mut!((*p).names).write_bytes(0, 1);
            core::ptr::addr_of_mut!((*p).iov).write_bytes(0, 1);
            core::ptr::addr_of_mut!((*p).msgs).write_bytes(0, 1);
            b.assume_init()
        }
    }

    /// Datagram `k` of the last batch.
    #[inline(always)]
    pub(crate) fn bytes(&self, k: usize) -> &[u8] {
        &self.data[k][..self.got[k].len]
    }
}

/// Reads up to [`BATCH`] datagrams from `sock` in one non-blocking `recvmmsg`. `Ok(k)`:
/// `k >= 1` datagrams, in `inbox`; fewer than `BATCH`: the queue was empty, or (rarely) an
/// error came within the call. An error (an ICMP error on a connected socket) is returned as
/// `recv` returns it; one met after the first datagram is kept by the kernel and returned by
/// the next call. `from`: the sender,
/// when it is known (a connected socket that can hold nothing else): the kernel is not asked.
#[inline]
pub(crate) fn recv_batch(
    sock: &UdpSocket,
    inbox: &mut Inbox,
    from: Option<SocketAddr>,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // Pointed at this inbox on the first read and again if it moved, so that nothing
    // depends on where it lives.
    if inbox.msgs[0].msg_hdr.msg_iov != core::ptr::addr_of_mut!(inbox.iov[0]) {
        for k in 0..BATCH {
            inbox.iov[k].iov_base = inbox.data[k].as_mut_ptr().cast();
            inbox.iov[k].iov_len = MAX_DGRAM;
            let h = &mut inbox.msgs[k].msg_hdr;
            h.msg_iov = &mut inbox.iov[k];
            h.msg_iovlen = 1;
        }
    }
    // No name buffer at all when the sender is known: given one, even of length 0, the
    // kernel fills in the address and writes its length back.
    for k in 0..BATCH {
        let h = &mut inbox.msgs[k].msg_hdr;
        (h.msg_name, h.msg_namelen) = match from {
            Some(_) => (core::ptr::null_mut(), 0),
            None => (
                core::ptr::addr_of_mut!(inbox.names[k]).cast(),
                core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
            ),
        };
    }
    #[allow(unsafe_code)]
    // SAFETY: `inbox.msgs` holds BATCH headers whose buffers and names (or none), checked or
    // set just above, are valid for writing with their true lengths, and no control buffer.
    let r = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            inbox.msgs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT as _, // an int for glibc, an unsigned int for musl
            core::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = (r as usize).min(BATCH);
    if n == 0 {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    for k in 0..n {
        let m = &inbox.msgs[k];
        inbox.got[k] = Got {
            len: (m.msg_len as usize).min(MAX_DGRAM),
            // A UDP socket always says who sent; "nobody" is accounted as a stranger.
            from: from
                .or_else(|| socket_addr(&inbox.names[k], m.msg_hdr.msg_namelen))
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            peer: None,
        };
    }
    Ok(n)
}

/// Whether anything waits in `sock`'s receive queue (a datagram, even an empty one), found
/// without reading it or the socket's pending error: the memory the kernel counts for the
/// queue (`SO_MEMINFO`). When that cannot be asked (a kernel before 4.12): true.
pub(crate) fn queue_holds_any(sock: &UdpSocket) -> bool {
    use std::os::fd::AsRawFd;
    // SK_MEMINFO_VARS: the kernel fills at most this many and says how many.
    let mut info = [0u32; 9];
    let mut len = core::mem::size_of_val(&info) as libc::socklen_t;
    #[allow(unsafe_code)]
    // SAFETY: the kernel writes at most `len` bytes into `info` and the length into `len`.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    r != 0 || info[libc::SK_MEMINFO_RMEM_ALLOC as usize] != 0
}

/// Whether `addr` is `to`, as `==` says, but inlined for the usual IPv4 case: it is asked
/// for every datagram, and at the size optimisation level `==` on an optional address is a
/// call of about 20 instructions.
#[inline(always)]
pub(crate) fn is_addr(addr: Option<SocketAddr>, to: &SocketAddr) -> bool {
    match (addr, to) {
        (Some(SocketAddr::V4(a)), SocketAddr::V4(b)) => {
            a.ip().to_bits() == b.ip().to_bits() && a.port() == b.port()
        }
        (Some(a), b) => a == *b,
        (None, _) => false,
    }
}

/// The address in a `sockaddr_storage` the kernel filled (IPv4 or IPv6).
fn socket_addr(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET if len >= core::mem::size_of::<libc::sockaddr_in>() => {
            #[allow(unsafe_code)]
            // SAFETY: the family says the storage holds a `sockaddr_in`, which it is large
            // and aligned enough for.
            let a = unsafe { &*core::ptr::from_ref(s).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::from((
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= core::mem::size_of::<libc::sockaddr_in6>() => {
            #[allow(unsafe_code)]
            // SAFETY: as above, for `sockaddr_in6`.
            let a = unsafe { &*core::ptr::from_ref(s).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
