//! `process health ADDR` and `process health --self PORT`: the container health check of a
//! `FROM scratch` image (no shell, no curl). It sends `HEALTH_PROBE` to a running peer or
//! shared resource and succeeds only if `HEALTH_OK` comes back within the time limit. A
//! short-lived helper, outside any peer's loop.
//!
//! `--self PORT` looks up no name at all: it probes this host's own addresses on PORT (those
//! a socket is bound to on it, loopback, every interface's), for the health check of a
//! container whose own name is not in DNS yet (a Swarm task's, until it is healthy).

use core::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::io::net::resolve;
use crate::io::{HEALTH_OK, HEALTH_PROBE};
use crate::values::addr::AddrSpec;

/// Why a health check failed.
#[derive(Debug)]
pub enum HealthError {
    /// The name did not resolve.
    Resolve(io::Error),
    /// A local socket error, or the probe was refused (nothing listens there).
    Io(io::Error),
    /// No answer in time.
    Timeout(Duration),
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            HealthError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                f.write_str("connection refused (nothing listens there)")
            }
            HealthError::Io(e) => write!(f, "{e}"),
            HealthError::Timeout(t) => {
                write!(
                    f,
                    "no answer within {}",
                    crate::values::time::DisplayDuration(*t)
                )
            }
        }
    }
}

impl std::error::Error for HealthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HealthError::Resolve(e) | HealthError::Io(e) => Some(e),
            HealthError::Timeout(_) => None,
        }
    }
}

/// Where to send the probe: ADDR's address. A name that does not resolve is an error, never
/// a reason to probe something else: this host's own port answering says nothing about ADDR
/// (`--self PORT` is the check of this host's own port, and looks up no name).
///
/// The lookup waits at most half the check's `timeout`, so a nameserver that does not answer
/// cannot stretch the check past its deadline.
fn target(spec: &AddrSpec, timeout: Duration) -> Result<SocketAddr, HealthError> {
    resolve(spec, None, timeout / 2).map_err(HealthError::Resolve)
}

/// A health check's answer.
#[derive(Debug, Clone, Copy)]
pub struct Healthy {
    /// Round-trip time.
    pub rtt: Duration,
    /// Who answered.
    pub from: SocketAddr,
}

/// Probes `spec`: its name must resolve.
pub fn probe(spec: &AddrSpec, timeout: Duration) -> Result<Healthy, HealthError> {
    probe_all(&[target(spec, timeout)?], timeout)
}

/// How many addresses `--self` probes at most (this host's own addresses on the port).
pub(crate) const MAX_SELF_TARGETS: usize = 32;

/// The addresses `process health --self PORT` probes, without any name lookup: first every
/// local address a UDP socket is bound to on PORT in this network namespace
/// (`/proc/net/udp` and `/proc/net/udp6`; a wildcard binding is reached through loopback),
/// then 127.0.0.1, then every address of this host's interfaces (getifaddrs(3), `::1`
/// included when it exists). So a peer bound to its container's address (its own name
/// resolved at start), to the wildcard address (its name did not resolve) or to any
/// loopback address is reached, and nothing waits on DNS.
pub(crate) fn self_targets(port: u16) -> Vec<SocketAddr> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for (file, v6) in [("/proc/net/udp", false), ("/proc/net/udp6", true)] {
        if let Ok(text) = std::fs::read_to_string(file) {
            for ip in bound_on(&text, v6, port) {
                if ip.is_unspecified() {
                    // [::] takes IPv4 too unless IPV6_V6ONLY: 127.0.0.1 reaches both.
                    ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
                    if v6 {
                        ips.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
                    }
                } else {
                    ips.push(ip);
                }
            }
        }
    }
    ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    ips.extend(interface_addresses());
    let mut out: Vec<SocketAddr> = Vec::new();
    for ip in ips {
        // A v4-mapped binding is the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // Link-local IPv6 needs a scope: left out (a peer never binds one by its name).
        if matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()) {
            continue;
        }
        let a = SocketAddr::new(ip, port);
        if !out.contains(&a) && out.len() < MAX_SELF_TARGETS {
            out.push(a);
        }
    }
    out
}

/// The local addresses of the UDP sockets bound on `port` in a `/proc/net/udp` (`v6`
/// false) or `/proc/net/udp6` text. Each line's local address is the kernel's 32-bit words
/// printed as hex in this machine's byte order, then `:PORT` in hex.
pub(crate) fn bound_on(text: &str, v6: bool, port: u16) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let Some(local) = line.split_whitespace().nth(1) else {
            continue;
        };
        let Some((addr, p)) = local.split_once(':') else {
            continue;
        };
        if u16::from_str_radix(p, 16).ok() != Some(port) {
            continue;
        }
        let words: Option<Vec<u32>> = (0..addr.len() / 8)
            .map(|i| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok())
            .collect();
        let ip = match (v6, words.as_deref()) {
            (false, Some(&[w])) => IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes())),
            (true, Some(&[a, b, c, d])) => {
                let mut bytes = [0u8; 16];
                for (i, w) in [a, b, c, d].into_iter().enumerate() {
                    bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
                }
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => continue,
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// Every IPv4 and IPv6 address of this host's interfaces (getifaddrs(3)), loopback first as
/// the kernel lists them; empty if the call fails.
#[allow(unsafe_code)]
pub(crate) fn interface_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = core::ptr::null_mut();
    // SAFETY: getifaddrs(3) fills `head` with a list it allocated, or fails and leaves it
    // alone; each node's `ifa_addr` is null or points to a sockaddr of the family its
    // `sa_family` says (sockaddr_in or sockaddr_in6, read with read_unaligned); the list is
    // freed once, with freeifaddrs(3), after the last read.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut node = head;
        while !node.is_null() {
            let sa = (*node).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let sin = core::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>());
                        out.push(IpAddr::V4(Ipv4Addr::from(
                            sin.sin_addr.s_addr.to_ne_bytes(),
                        )));
                    }
                    libc::AF_INET6 => {
                        let sin6 = core::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>());
                        out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            node = (*node).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// `process health --self PORT`: what was probed, and the outcome.
#[derive(Debug)]
pub struct SelfProbed {
    /// The addresses probed (see `self_targets`).
    pub targets: Vec<SocketAddr>,
    /// The first answer, or why none came: connection refused on every address, a timeout,
    /// or a local socket error.
    pub result: Result<Healthy, HealthError>,
}

/// Probes this host's own `port` on every address of `self_targets` at once: succeeds on
/// the first `HEALTH_OK`, fails at once when every address refused. No name is looked up.
pub fn probe_self(port: u16, timeout: Duration) -> SelfProbed {
    let targets = self_targets(port);
    let result = probe_all(&targets, timeout);
    SelfProbed { targets, result }
}

/// The one probe loop: sends [`HEALTH_PROBE`] to every target at once, each from its own
/// connected socket (so a refusal is told from silence), resending a few times within
/// `timeout` (a single lost datagram must not fail the check), and succeeds on the first
/// [`HEALTH_OK`].
///
/// With one target (`process health ADDR`) its first error is the answer. With several
/// (`--self PORT`) another may still answer: a refused target is dropped (all refused is
/// "connection refused" at once) and other errors are retried with the next try.
fn probe_all(targets: &[SocketAddr], timeout: Duration) -> Result<Healthy, HealthError> {
    use mio::net::UdpSocket as MioUdp;
    use mio::{Events, Interest, Poll, Token};

    let one = targets.len() == 1;
    let mut poll = Poll::new().map_err(HealthError::Io)?;
    let mut socks: Vec<(SocketAddr, MioUdp, bool)> = Vec::new();
    let mut last_err = None;
    for &t in targets {
        let local = if t.is_ipv6() {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        };
        let open = MioUdp::bind(local).and_then(|s| s.connect(t).map(|()| s));
        match open {
            Ok(mut s) => {
                let token = Token(socks.len());
                if let Err(e) = poll.registry().register(&mut s, token, Interest::READABLE) {
                    last_err = Some(e);
                    continue;
                }
                socks.push((t, s, false));
            }
            // e.g. ::1 where IPv6 is off: the other addresses may answer.
            Err(e) => last_err = Some(e),
        }
    }
    if socks.is_empty() {
        return Err(HealthError::Io(last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address to probe")
        })));
    }
    let start = Instant::now();
    let mut events = Events::with_capacity(MAX_SELF_TARGETS);
    let mut buf = [0u8; 64];
    let tries = 3u32;
    for i in 0..tries {
        for (_, s, refused) in socks.iter_mut() {
            if *refused {
                continue;
            }
            match s.send(HEALTH_PROBE) {
                Ok(_) => {}
                Err(e) if one && e.kind() != io::ErrorKind::WouldBlock => {
                    return Err(HealthError::Io(e))
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => *refused = true,
                // Queue full or the like: the next try resends.
                Err(_) => {}
            }
        }
        let until = start + timeout * (i + 1) / tries;
        loop {
            if socks.iter().all(|(_, _, refused)| *refused) {
                return Err(HealthError::Io(io::ErrorKind::ConnectionRefused.into()));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match poll.poll(&mut events, Some(left)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HealthError::Io(e)),
            }
            for ev in events.iter() {
                let Some((target, s, refused)) = socks.get_mut(ev.token().0) else {
                    continue;
                };
                // Edge-triggered: read until there is nothing left.
                loop {
                    match s.recv(&mut buf) {
                        Ok(n) if &buf[..n] == HEALTH_OK => {
                            return Ok(Healthy {
                                rtt: start.elapsed(),
                                from: *target,
                            })
                        }
                        Ok(_) => {} // a counter or anything else: not the answer
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if one => return Err(HealthError::Io(e)),
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            *refused = true;
                        }
                        Err(_) => break, // an error the next try may clear
                    }
                }
            }
        }
    }
    Err(HealthError::Timeout(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::thread;

    /// A socket that answers every probe with [`HEALTH_OK`] (as a peer's loop does), for
    /// `answers` probes.
    fn answering(addr: &str, answers: usize) -> (u16, thread::JoinHandle<()>) {
        let s = UdpSocket::bind(addr).unwrap();
        let port = s.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..answers {
                let (n, from) = s.recv_from(&mut buf).unwrap();
                if &buf[..n] == HEALTH_PROBE {
                    s.send_to(HEALTH_OK, from).unwrap();
                }
            }
        });
        (port, h)
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn proc_net_udp_lines_parse() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
             1234: 0200127F:2712 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n\
             1235: 00000000:2712 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n\
             1236: 0200127F:2712 0300127F:2713 01 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n\
             1237: 0100007F:2713 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n";
        // 127.18.0.2 and the wildcard on 10002, once each (a connected peer socket shares
        // the server's local address); 10003 is another port.
        assert_eq!(
            bound_on(v4, false, 10002),
            [
                "127.18.0.2".parse::<IpAddr>().unwrap(),
                "0.0.0.0".parse().unwrap()
            ]
        );
        let v6 = "  sl  local_address                         remote_address                        st\n\
             10: 00000000000000000000000001000000:2712 00000000000000000000000000000000:0000 07\n\
             11: 0000000000000000FFFF00000200A8C0:2712 00000000000000000000000000000000:0000 07\n\
             12: garbage\n";
        assert_eq!(
            bound_on(v6, true, 10002),
            [
                "::1".parse::<IpAddr>().unwrap(),
                "::ffff:192.168.0.2".parse().unwrap()
            ]
        );
        assert!(bound_on(v6, true, 10003).is_empty());
    }

    #[test]
    fn targets_include_the_bound_address_and_loopback_without_dns() {
        let s = UdpSocket::bind("127.0.0.77:0").unwrap();
        let port = s.local_addr().unwrap().port();
        let t = self_targets(port);
        // The bound address first (read from /proc/net/udp), then loopback; no duplicates.
        assert_eq!(t[0], SocketAddr::from(([127, 0, 0, 77], port)), "{t:?}");
        assert!(
            t.contains(&SocketAddr::from(([127, 0, 0, 1], port))),
            "{t:?}"
        );
        assert!(t.iter().all(|a| a.port() == port));
        let mut d = t.clone();
        d.dedup();
        assert_eq!(d.len(), t.len());
        assert!(t.len() <= MAX_SELF_TARGETS);
        // The wildcard address is reached through loopback.
        let w = UdpSocket::bind("0.0.0.0:0").unwrap();
        let wport = w.local_addr().unwrap().port();
        assert_eq!(
            self_targets(wport)[0],
            SocketAddr::from(([127, 0, 0, 1], wport))
        );
        assert!(interface_addresses().contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn probe_self_finds_a_peer_bound_to_one_address() {
        // Bound to 127.0.0.78 only: 127.0.0.1 refuses, 127.0.0.78 answers.
        let (port, h) = answering("127.0.0.78:0", 1);
        let p = probe_self(port, Duration::from_secs(2));
        let ok = p.result.expect("healthy");
        assert_eq!(ok.from, SocketAddr::from(([127, 0, 0, 78], port)));
        assert!(ok.rtt < Duration::from_secs(1), "{:?}", ok.rtt);
        h.join().unwrap();
    }

    #[test]
    fn probe_self_fails_at_once_when_every_address_refuses() {
        // A port nothing is bound to: every address refuses, long before the timeout.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        let p = probe_self(port, Duration::from_secs(5));
        match p.result {
            Err(HealthError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // A socket that reads nothing: silence, so the whole timeout.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let t = Instant::now();
        let p = probe_self(port, Duration::from_millis(300));
        assert!(matches!(p.result, Err(HealthError::Timeout(_))), "{p:?}");
        assert!(t.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn probe_of_one_address_answers_refuses_or_times_out() {
        let spec =
            |port: u16| crate::values::addr::parse_spec(&format!("127.0.0.1:{port}")).unwrap();
        let (port, h) = answering("127.0.0.1:0", 1);
        let ok = probe(&spec(port), Duration::from_secs(2)).expect("healthy");
        assert_eq!(ok.from, SocketAddr::from(([127, 0, 0, 1], port)));
        h.join().unwrap();
        // Nothing bound: refused, long before the timeout.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        match probe(&spec(port), Duration::from_secs(5)) {
            Err(HealthError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        // Bound but silent: the whole timeout.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let t = Instant::now();
        let r = probe(&spec(port), Duration::from_millis(300));
        assert!(matches!(r, Err(HealthError::Timeout(_))), "{r:?}");
        assert!(t.elapsed() >= Duration::from_millis(300));
    }
}
