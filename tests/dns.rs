//! The resolver inside the poll loop, against real DNS servers in a network namespace: a tiny
//! one written here (std UDP and TCP sockets, the same `simple-dns` message format) that
//! answers like Docker's (at most 24 records over UDP, the TC bit set beyond, everything over
//! TCP), and a "dead" one (a bound UDP socket that never answers). Needs root (namespaces,
//! port 53); no traffic leaves the namespaces.

mod util;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use peerlab::dns::conf::ResolvConf;
use peerlab::dns::resolver::resolve_blocking_with;
use peerlab::dns::{Error, Family};
use simple_dns::rdata::{RData, A};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};

use util::Netns;

/// Records per UDP answer before the TC bit, as Docker's embedded DNS.
const UDP_RECORDS: usize = 24;

/// A DNS server on 127.0.0.1:53 inside a namespace, answering A queries for its names; every
/// other name is NXDOMAIN, AAAA queries for its names get no answer (NOERROR).
struct DnsServer {
    /// The names it answers, changed by [`DnsServer::set`] as the engine's would be.
    names: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>>,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl DnsServer {
    /// From now on, `name` has these addresses (none: NXDOMAIN).
    fn set(&self, name: &str, addrs: Vec<Ipv4Addr>) {
        let mut names = self.names.lock().unwrap();
        if addrs.is_empty() {
            names.remove(name);
        } else {
            names.insert(name.to_string(), addrs);
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn reply(query: &[u8], names: &HashMap<String, Vec<Ipv4Addr>>, udp: bool) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    let question = q.questions.first()?.clone();
    let mut r = Packet::new_reply(q.id());
    r.set_flags(PacketFlag::RECURSION_AVAILABLE);
    r.questions.push(question.clone());
    let name = question.qname.to_string().to_ascii_lowercase();
    match names.get(&name) {
        None => *r.rcode_mut() = RCODE::NameError,
        Some(ips) if question.qtype == QTYPE::TYPE(TYPE::A) => {
            let mut ips = ips.as_slice();
            if udp && ips.len() > UDP_RECORDS {
                ips = &ips[..UDP_RECORDS];
                r.set_flags(PacketFlag::TRUNCATION);
            }
            for ip in ips {
                r.answers.push(ResourceRecord::new(
                    question.qname.clone(),
                    CLASS::IN,
                    600,
                    RData::A(A {
                        address: u32::from(*ip),
                    }),
                ));
            }
        }
        Some(_) => {} // no AAAA
    }
    r.build_bytes_vec_compressed().ok()
}

fn serve(ns: &Netns, names: &[(&str, Vec<Ipv4Addr>)]) -> DnsServer {
    serve_with(ns, names, false)
}

/// [`serve`]; with `forge`, every UDP answer is preceded by two forgeries pointing the name at
/// 127.0.0.66: one from another address (127.0.0.9:53), one with a wrong id.
fn serve_with(ns: &Netns, names: &[(&str, Vec<Ipv4Addr>)], forge: bool) -> DnsServer {
    let names: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>> = Arc::new(Mutex::new(
        names
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect(),
    ));
    let (udp, tcp, other) = ns.inside(|| {
        (
            UdpSocket::bind("127.0.0.1:53").expect("bind udp 53 in the namespace"),
            TcpListener::bind("127.0.0.1:53").expect("bind tcp 53 in the namespace"),
            UdpSocket::bind("127.0.0.9:53").expect("bind 127.0.0.9:53"),
        )
    });
    let evil: HashMap<String, Vec<Ipv4Addr>> = names
        .lock()
        .unwrap()
        .keys()
        .map(|n| (n.clone(), vec![Ipv4Addr::new(127, 0, 0, 66)]))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let udp_queries = Arc::new(AtomicUsize::new(0));
    let tcp_queries = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    {
        let (stop, count, names) = (stop.clone(), udp_queries.clone(), names.clone());
        udp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        threads.push(thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    count.fetch_add(1, Ordering::SeqCst);
                    if forge {
                        if let Some(mut f) = reply(&buf[..n], &evil, true) {
                            let _ = other.send_to(&f, from);
                            f[1] ^= 0x5a;
                            let _ = udp.send_to(&f, from);
                        }
                    }
                    let a = reply(&buf[..n], &names.lock().unwrap(), true);
                    if let Some(a) = a {
                        let _ = udp.send_to(&a, from);
                    }
                }
            }
        }));
    }
    {
        let (stop, count, names) = (stop.clone(), tcp_queries.clone(), names.clone());
        tcp.set_nonblocking(true).unwrap();
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((mut c, _)) = tcp.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                c.set_nonblocking(false).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut len = [0u8; 2];
                if c.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if c.read_exact(&mut q).is_err() {
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let a = reply(&q, &names.lock().unwrap(), false);
                if let Some(a) = a {
                    let _ = c.write_all(&(a.len() as u16).to_be_bytes());
                    let _ = c.write_all(&a);
                }
            }
        }));
    }
    DnsServer {
        names,
        udp_queries,
        tcp_queries,
        stop,
        threads,
    }
}

/// `n` addresses in 198.18.0.0/15 (benchmarking space), after `first` ones.
fn many(first: &[Ipv4Addr], n: usize) -> Vec<Ipv4Addr> {
    let mut v = first.to_vec();
    v.extend(
        (0..n - first.len()).map(|i| Ipv4Addr::new(198, 18, (i / 200) as u8, (i % 200) as u8 + 1)),
    );
    v
}

/// A name with 60 addresses (beyond musl's 48 and the ~24 of Docker's UDP answers): the
/// truncated UDP answer sends the lookup to TCP, and all 60 come back, through the search
/// list. The resolver and its sockets run here, on a thread inside the namespace.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn sixty_addresses_all_come_back_over_tcp() {
    let ns = Netns::new("dns60");
    let all = many(&[], 60);
    let server = serve(&ns, &[("peers.lab.example", all.clone())]);
    let conf = ResolvConf::parse("nameserver 127.0.0.1\nsearch lab.example\noptions timeout:2\n");
    let t = Instant::now();
    let got = ns
        .inside(move || {
            resolve_blocking_with(&conf, "peers", Family::Any, 128, Duration::from_secs(5))
        })
        .expect("resolves");
    println!(
        "60 addresses in {:?}: {} UDP queries, {} TCP queries",
        t.elapsed(),
        server.udp_queries.load(Ordering::SeqCst),
        server.tcp_queries.load(Ordering::SeqCst)
    );
    let want: Vec<IpAddr> = all.iter().map(|a| IpAddr::V4(*a)).collect();
    assert_eq!(got.as_slice(), want.as_slice(), "all 60, in order");
    assert_eq!(got.left_out(), 0);
    assert!(server.tcp_queries.load(Ordering::SeqCst) >= 1, "over TCP");

    // A capacity chosen below that keeps that many and counts the rest.
    let conf = ResolvConf::parse("nameserver 127.0.0.1\nsearch lab.example\n");
    let got = ns
        .inside(move || {
            resolve_blocking_with(&conf, "peers", Family::V4, 50, Duration::from_secs(5))
        })
        .unwrap();
    assert_eq!((got.len(), got.left_out()), (50, 10));

    // A name nobody has: NXDOMAIN for every name of the search list.
    let conf = ResolvConf::parse("nameserver 127.0.0.1\nsearch lab.example\n");
    let err = ns
        .inside(move || {
            resolve_blocking_with(&conf, "nobody", Family::Any, 8, Duration::from_secs(5))
        })
        .unwrap_err();
    assert_eq!(err, Error::NxDomain { names: 2 });
}

/// A real peer finds its peer through the namespace's resolv.conf and the server above, over
/// TCP for a 60-address name, and exchanges counters with it.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_peer_resolves_its_peer_through_the_dns_server() {
    let ns = Netns::new("dnspeer");
    ns.resolv_conf("nameserver 127.0.0.1\nsearch lab.example\noptions timeout:1\n");
    let server = serve(
        &ns,
        &[("p2.lab.example", many(&[Ipv4Addr::new(127, 0, 0, 3)], 60))],
    );
    let p1 = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "100ms",
            "127.0.0.2:10002",
            "p2:10003",
        ],
    );
    let _p2 = ns.start(
        "p2",
        &[
            "--json",
            "--interval",
            "100ms",
            "127.0.0.3:10003",
            "127.0.0.2:10002",
        ],
    );
    p1.wait_event(|v| v["event"] == "peer_resolved" && v["addr"] == "127.0.0.3:10003");
    p1.wait_for(|_| p1.counters_from("p2:10003").len() >= 3);
    assert!(
        server.tcp_queries.load(Ordering::SeqCst) >= 1,
        "truncated, then TCP"
    );
}

/// Forged answers (from another address, with a wrong id) arrive before the real one: they
/// are ignored, counted, and said in a notice; the real address is taken.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn forged_answers_are_ignored_counted_and_said() {
    let ns = Netns::new("dnsforge");
    ns.resolv_conf("nameserver 127.0.0.1\noptions timeout:1\n");
    let _server = serve_with(&ns, &[("p2", vec![Ipv4Addr::new(127, 0, 0, 3)])], true);
    let p1 = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "100ms",
            "127.0.0.2:10002",
            "p2:10003",
        ],
    );
    let resolved = p1.wait_event(|v| v["event"] == "peer_resolved");
    assert_eq!(resolved["addr"], "127.0.0.3:10003", "{resolved}");
    let notice = p1
        .wait_event(|v| v["event"] == "notice" && v.to_string().contains("DNS answer(s) ignored"));
    // Every lookup met one of each (p2 is down, so it is looked up again with backoff).
    let text = notice["text"].as_str().unwrap().to_string();
    let n: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [total, source, id, question, malformed] = n[..] else {
        panic!("{text}")
    };
    // The socket of a try is connected to its nameserver: the kernel drops the forgery from
    // another address before it is read (nothing to count); the wrong id is read and counted.
    assert!(id >= 1 && source == 0, "{text}");
    assert_eq!((total, question, malformed), (id, 0, 0), "{text}");
    assert_eq!(
        p1.events_named("peer_resolved").len(),
        1,
        "never moved to a forged address"
    );
}

/// The JSON timestamps (µs) of the counters `p` received from `from`.
fn arrivals(p: &util::Proc, from: &str) -> Vec<u64> {
    p.events_named("received")
        .iter()
        .filter(|v| v["addr"] == from)
        .filter_map(|v| v["ts_us"].as_u64())
        .collect()
}

/// A nameserver that never answers delays nothing: the peer keeps its 1 s cadence to its
/// IP-address peers while a peer name waits for DNS (lookups time out and start again), a
/// name in the hosts file is found at once, and SIGTERM stops it at once.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_dead_nameserver_delays_no_broadcast_and_no_sigterm() {
    let ns = Netns::new("deaddns");
    // A bound socket that never reads: queries vanish, nothing answers, nothing refuses.
    let _dead = ns.inside(|| UdpSocket::bind("127.0.0.1:53").expect("bind 53"));
    ns.resolv_conf("nameserver 127.0.0.1\nsearch lab.example\noptions timeout:1 attempts:2\n");
    ns.hosts("127.0.0.1 localhost\n127.0.0.4 fromhosts\n");
    let p2 = ns.start("p2", &["--json", "127.0.0.3:10003", "127.0.0.2:10002"]);
    p2.wait_event(|v| v["event"] == "listening");
    let start = Instant::now();
    let mut p1 = ns.start(
        "p1",
        &[
            "--json",
            "127.0.0.2:10002",
            "127.0.0.3:10003",
            "ghost:10004",
            "fromhosts:10005",
        ],
    );
    // The hosts file is honoured first: found at once, DNS dead or not.
    p1.wait_event(|v| v["event"] == "peer_resolved" && v["peer"] == "fromhosts:10005");
    let hosts_after = start.elapsed();
    assert!(hosts_after < Duration::from_secs(1), "{hosts_after:?}");
    // The lookup of ghost ends (2 names x 2 tries x 1 s) and starts again, over and over.
    let unresolved =
        p1.wait_event(|v| v["event"] == "peer_unresolved" && v["peer"] == "ghost:10004");
    assert_eq!(
        unresolved["error"], "no answer from 127.0.0.1 after 2 tries (timed out)",
        "{unresolved}"
    );
    // `process health` with a name only the dead nameserver could answer: bounded by its
    // own timeout (half of it for the name), then not healthy, pointing at `--self PORT`
    // (never this host probed instead). (glibc waited for the nameserver: 5.05 s on a swarm.)
    let t = Instant::now();
    let health = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_process")])
        .args(["health", "--timeout", "1s", "ghost:10002"])
        .output()
        .unwrap();
    let health_took = t.elapsed();
    let text = String::from_utf8_lossy(&health.stdout);
    assert_eq!(health.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ghost:10002 is not healthy: the name ghost does not resolve")
            && text.contains("process health --self 10002"),
        "{text}"
    );
    assert!(health_took < Duration::from_millis(2500), "{health_took:?}");
    println!(
        "health of a name behind a dead nameserver: {health_took:?}: {}",
        text.trim()
    );
    let run = Duration::from_secs(7);
    thread::sleep(run.saturating_sub(start.elapsed()));
    let (took, status) = p1.term();
    assert!(status.success());
    let times = arrivals(&p2, "127.0.0.2:10002");
    assert!(times.len() >= 6, "{} counters in {run:?}", times.len());
    let worst = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    println!(
        "dead nameserver: {} broadcasts, worst gap {:.3} s (1 s cadence); SIGTERM to exit {:.1} ms; hosts name found after {:?}",
        times.len(),
        worst as f64 / 1e6,
        took.as_secs_f64() * 1e3,
        hosts_after
    );
    assert!(worst < 1_300_000, "worst gap {worst} µs");
    assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    let row = p1.summary_of("ghost:10004");
    assert_eq!((row.addr, row.sent), (None, Some(0)));
}

/// `--discover` through the DNS server: a group name with 60 addresses (a truncated UDP
/// answer, then TCP) gives 59 peers, the own address left out; counters flow with a live one
/// among them; a group nobody has is said once ("does not resolve yet") and retried.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_group_of_sixty_addresses_gives_fifty_nine_peers() {
    let ns = Netns::new("dnsgroup");
    ns.resolv_conf("nameserver 127.0.0.1\nsearch lab.example\noptions timeout:1\n");
    let all: Vec<Ipv4Addr> = (0..60).map(|i| Ipv4Addr::new(127, 0, 1, 2 + i)).collect();
    let server = serve(&ns, &[("peer.lab.example", all.clone())]);
    let t = Instant::now();
    let mut p1 = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "200ms",
            "--discover-every",
            "1s",
            "127.0.1.2:10002",
            "--discover",
            "peer:10002",
            "--discover",
            "nobody:10002",
        ],
    );
    let _p2 = ns.start(
        "p2",
        &[
            "--interval",
            "200ms",
            "127.0.1.3:10002",
            "--discover",
            "peer:10002",
        ],
    );
    p1.wait_event(|v| v["event"] == "peer_joined" && v["peer"] == "peer#59");
    let all_joined = t.elapsed();
    let joined = p1.events_named("peer_joined");
    assert_eq!(joined.len(), 59, "every address but the own");
    for (i, v) in joined.iter().enumerate() {
        assert_eq!(v["peer"], format!("peer#{}", i + 1));
        assert_eq!(v["addr"], format!("{}:10002", all[i + 1]));
    }
    p1.wait_event(|v| v["event"] == "received" && v["from"] == "peer#1" && v["counter"] == 3);
    p1.wait_event(|v| v["event"] == "group_unresolved" && v["group"] == "nobody:10002");
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(p1.events_named("group_unresolved").len(), 1, "said once");
    assert_eq!(p1.events_named("peer_joined").len(), 59, "no joins twice");
    assert_eq!(p1.events_named("peer_left").len(), 0);
    assert!(
        server.tcp_queries.load(Ordering::SeqCst) >= 2,
        "looked up again, over TCP"
    );
    println!(
        "59 peers joined {all_joined:?} after start; {} UDP and {} TCP queries",
        server.udp_queries.load(Ordering::SeqCst),
        server.tcp_queries.load(Ordering::SeqCst)
    );
    p1.term();
    assert_eq!(
        p1.summary_json()
            .iter()
            .filter(|v| !v["peer"].is_null())
            .count(),
        59
    );
}

/// A group follows the DNS answers as a scaled service's would change: two more replicas
/// join, three go (leave after two lookups without them), the name gone altogether
/// (NXDOMAIN, as after `--scale peer=0`) is a lookup without any member. At
/// `--discover-every 1s`; the delays are printed.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_group_follows_the_dns_answers_as_they_change() {
    let ns = Netns::new("dnsscale");
    ns.resolv_conf("nameserver 127.0.0.1\nsearch lab.example\noptions timeout:1\n");
    let ips = |last: &[u8]| -> Vec<Ipv4Addr> {
        last.iter().map(|&n| Ipv4Addr::new(127, 0, 2, n)).collect()
    };
    let server = serve(&ns, &[("peer.lab.example", ips(&[2, 3, 4]))]);
    let p1 = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "200ms",
            "--discover-every",
            "1s",
            "127.0.2.2:10002",
            "--discover",
            "peer:10002",
        ],
    );
    p1.wait_event(|v| v["event"] == "peer_joined" && v["peer"] == "peer#2");
    let count = |name: &str| p1.events_named(name).len();
    let within = |limit: u64, f: &dyn Fn() -> bool| {
        let t = Instant::now();
        util::eventually(Duration::from_secs(limit), || f().then_some(())).expect("in time");
        t.elapsed()
    };
    server.set("peer.lab.example", ips(&[2, 3, 4, 5, 6]));
    let join = within(5, &|| count("peer_joined") == 4);
    server.set("peer.lab.example", ips(&[2, 3]));
    let leave = within(8, &|| count("peer_left") == 3);
    let left: Vec<String> = p1
        .events_named("peer_left")
        .iter()
        .map(|v| v["addr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left.len(), 3);
    for a in ["127.0.2.4:10002", "127.0.2.5:10002", "127.0.2.6:10002"] {
        assert!(left.iter().any(|l| l == a), "{a} in {left:?}");
    }
    server.set("peer.lab.example", vec![]);
    let gone = within(8, &|| count("peer_left") == 4);
    p1.wait_event(|v| v["event"] == "group_unresolved" && v["group"] == "peer:10002");
    println!(
        "DNS answers at --discover-every 1s: join reported {join:?} after the change, leave {leave:?}, the name gone (NXDOMAIN) {gone:?}"
    );
    assert_eq!(count("peer_joined"), 4);
}

/// A nameserver nothing listens on (ICMP port unreachable) is passed at once, as glibc does,
/// not after its timeout; when every one refuses, the error says so (it said "timed out").
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_refusing_nameserver_is_passed_at_once() {
    let ns = Netns::new("dnsref");
    let _server = serve(
        &ns,
        &[("p3.lab.example", vec![Ipv4Addr::new(127, 0, 0, 3)])],
    );
    // 127.0.0.1:53 answers; port 54 of the same address is closed.
    let mut conf = ResolvConf::parse("search lab.example\noptions timeout:5 attempts:2\n");
    conf.nameservers.clear();
    for port in [54, 53] {
        conf.nameservers
            .push(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap();
    }
    let t = Instant::now();
    let got = ns
        .inside(move || resolve_blocking_with(&conf, "p3", Family::V4, 8, Duration::from_secs(9)))
        .expect("resolves through the second nameserver");
    let took = t.elapsed();
    assert_eq!(got.as_slice(), &[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))]);
    assert!(
        took < Duration::from_secs(1),
        "took {took:?} (the timeout is 5 s)"
    );

    let mut conf = ResolvConf::parse("options timeout:5 attempts:2\n");
    conf.nameservers.clear();
    for port in [54, 55, 56] {
        conf.nameservers
            .push(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap();
    }
    let t = Instant::now();
    let err = ns
        .inside(move || resolve_blocking_with(&conf, "p3", Family::Any, 8, Duration::from_secs(9)))
        .unwrap_err();
    let took = t.elapsed();
    println!("a refusing nameserver passed in {took:?}; all refusing: {err}");
    assert!(matches!(err, Error::Refused { tries: 6, .. }), "{err:?}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

/// /etc/hosts as a FIFO without a writer (it used to hang the process before its first
/// broadcast, for good): the peer keeps its cadence, finds its peer through DNS, says once
/// what it ignored, and stops at once. `process health` keeps within its timeout with the
/// FIFO, with /dev/zero (memory grew without end) and with 8 MiB with the name at its end (the
/// loop stalled for every lookup). (`ip netns exec` bind-mounts the file when a process
/// starts: a running process keeps the FIFO whatever the file becomes; each health check is a
/// new process.)
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_hostile_hosts_file_neither_blocks_nor_stalls_the_loop() {
    let ns = Netns::new("dnshosts");
    let _server = serve(&ns, &[("p3", vec![Ipv4Addr::new(127, 0, 0, 3)])]);
    ns.resolv_conf("nameserver 127.0.0.1\noptions timeout:1\n");
    let hosts = format!("/etc/netns/{}/hosts", ns.name);
    let _ = std::fs::remove_file(&hosts);
    let c = std::ffi::CString::new(hosts.as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let p3 = ns.start("p3", &["--json", "127.0.0.3:10003", "127.0.0.2:10002"]);
    p3.wait_event(|v| v["event"] == "listening");
    let mut p2 = ns.start(
        "p2",
        &[
            "--json",
            "127.0.0.2:10002",
            "p3:10003",
            "--discover",
            "p3:10003",
        ],
    );
    p2.wait_event(|v| v["event"] == "peer_resolved" && v["peer"] == "p3:10003");
    p2.wait_event(|v| {
        v["event"] == "notice"
            && v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("/etc/hosts is not a regular file"))
    });

    // `process health` with the FIFO: resolved through DNS, within the timeout.
    let health = |what: &str| {
        let t = Instant::now();
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_process")])
            .args(["health", "--timeout", "1s", "p3:10003"])
            .output()
            .unwrap();
        let took = t.elapsed();
        println!("health with {what} as /etc/hosts: {took:?}");
        assert!(took < Duration::from_millis(1000), "{what}: {took:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!health("a FIFO").contains("does not resolve"));

    std::fs::remove_file(&hosts).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &hosts).unwrap();
    thread::sleep(Duration::from_secs(2));
    assert!(!health("/dev/zero").contains("does not resolve"));

    // 8 MiB of lines, the name at the end: beyond the 1 MiB read, so DNS answers (the hosts
    // file's address would be 127.0.0.9).
    std::fs::remove_file(&hosts).unwrap();
    let line = format!("0.0.0.0 ads.{}.example\n", "x".repeat(70));
    let mut big = line.repeat((8 << 20) / line.len());
    big.push_str("127.0.0.9 p3\n");
    std::fs::write(&hosts, big).unwrap();
    assert!(!health("8 MiB").contains("does not resolve"));
    thread::sleep(Duration::from_secs(3));
    let (took, status) = p2.term();
    assert!(status.success());
    let times = arrivals(&p3, "127.0.0.2:10002");
    let worst = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    println!(
        "hostile hosts files: {} broadcasts, worst gap {:.3} s; SIGTERM to exit {:.1} ms",
        times.len(),
        worst as f64 / 1e6,
        took.as_secs_f64() * 1e3
    );
    assert!(times.len() >= 6, "{} counters", times.len());
    assert!(worst < 1_100_000, "worst gap {worst} µs");
    assert!(took < Duration::from_millis(200), "SIGTERM took {took:?}");
    let notices = p2
        .events_named("notice")
        .iter()
        .filter(|v| {
            v["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("/etc/hosts"))
        })
        .count();
    assert_eq!(notices, 1, "said once");
    assert_eq!(
        p2.summary_of("p3:10003").addr.as_deref(),
        Some("127.0.0.3:10003")
    );
}

/// Named peers whose ports refuse are looked up again every 2 s at most (a container that
/// comes back may be elsewhere). The hosts file is searched again only when it changed: with
/// a 1 MiB file and 250 such peers, searching it on every lookup took most of a core (an
/// outside attack). strace counts the opens of /etc/hosts: one per name while the file stays
/// the same, more once it is rewritten.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn an_unchanged_hosts_file_is_not_searched_again_for_refusing_peers() {
    let strace = util::strace();
    let ns = Netns::new("hostsmemo");
    ns.resolv_conf("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for (i, n) in names.iter().enumerate() {
        hosts.push_str(&format!("127.0.0.{} {n}\n", 10 + i));
    }
    ns.hosts(&hosts);
    let trace =
        std::env::temp_dir().join(format!("peerlab-hostsmemo-{}.strace", std::process::id()));
    let trace_s = trace.to_str().unwrap().to_string();
    let mut args: Vec<String> = [
        "netns",
        "exec",
        &ns.name,
        strace,
        "-f",
        "-qq",
        "-o",
        &trace_s,
        "-e",
        "trace=openat,open",
        env!("CARGO_BIN_EXE_process"),
        "--json",
        "127.0.0.2:10002",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Nothing listens on these ports: every send is refused, every peer down.
    args.extend(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}:{}", 20000 + i)),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = util::Proc::start_cmd("p", "ip", &args);
    p.wait_event(|v| v["event"] == "listening");
    let opens = || {
        std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"/etc/hosts\""))
            .count()
    };
    // Down within a second, then looked up again at 50 ms, 100 ms, ... up to every 2 s.
    thread::sleep(Duration::from_secs(6));
    let down = p.events_named("peer_down").len();
    let same = opens();
    assert!(down >= names.len(), "every peer refuses: {down} down");
    assert!(
        same <= names.len() + 2,
        "{same} opens of an unchanged /etc/hosts for {} names",
        names.len()
    );
    // Rewritten (same content, new times): read again.
    ns.hosts(&hosts);
    thread::sleep(Duration::from_secs(3));
    let after = opens();
    println!("opens of /etc/hosts: {same} in 6 s unchanged, {after} after a rewrite");
    p.kill9();
    let _ = std::fs::remove_file(&trace);
    assert!(
        after > same,
        "a rewritten file is read again ({same} -> {after})"
    );
}

/// A named peer whose name gives only this process's own address, or one no peer can have
/// (`0.0.0.0 p9`, as ad-blocking hosts files write), is never a peer: the process would count
/// its own counters. Said once per name, retried (the name may change).
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces) and strace"
)]
fn a_name_for_the_own_address_or_0_0_0_0_is_no_peer() {
    let ns = Netns::new("ownname");
    ns.resolv_conf("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    ns.hosts("0.0.0.0 p9\n127.0.0.2 me\n::ffff:127.0.0.2 mapped\n");
    let mut p = ns.start(
        "p",
        &[
            "--json",
            "--interval",
            "100ms",
            "127.0.0.2:10002",
            "p9:10002",
            "me:10002",
            "mapped:10002",
        ],
    );
    p.wait_event(|v| v["event"] == "listening");
    thread::sleep(Duration::from_millis(1500));
    let (_, status) = p.term();
    assert!(status.success(), "{}", p.stderr());
    let events = p.events();
    let received: Vec<_> = events.iter().filter(|v| v["event"] == "received").collect();
    assert!(
        received.is_empty(),
        "its own counters came back: {received:?}"
    );
    for peer in ["p9:10002", "me:10002", "mapped:10002"] {
        let said: Vec<_> = events
            .iter()
            .filter(|v| v["peer"] == peer && v["event"] == "peer_unresolved")
            .collect();
        assert_eq!(said.len(), 1, "{peer}: {events:#?}");
        assert!(
            said[0]["error"]
                .as_str()
                .unwrap_or("")
                .contains("own address"),
            "{}",
            said[0]
        );
    }
}

/// A nameserver that never answers holds the first broadcast for the first lookups (at most
/// half a second), and that wait is not a loop that fell behind: no "fell behind" notice, no
/// skipped broadcast, and the broadcasts then keep their interval.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (a network namespace, iptables)"
)]
fn a_silent_nameserver_at_start_is_not_a_loop_that_fell_behind() {
    let ns = Netns::new("dnssilent");
    ns.resolv_conf("nameserver 127.0.0.9\noptions timeout:1\n");
    // The queries are dropped: the nameserver is silent, not refusing.
    ns.iptables(&["-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP"]);
    let mut p1 = ns.start(
        "p1",
        &[
            "--interval",
            "100ms",
            "127.0.0.2:10002",
            "nosuch:10002",
            "127.0.0.3:10002",
        ],
    );
    let p2 = ns.start(
        "p2",
        &[
            "--json",
            "--interval",
            "1s",
            "127.0.0.3:10002",
            "127.0.0.2:10002",
        ],
    );
    p2.wait_for(|_| p2.counters_from("127.0.0.2:10002").len() >= 10);
    p1.term();
    assert_eq!(
        p1.count(|l| l.contains("fell behind")),
        0,
        "{}",
        p1.lines().join("\n")
    );
    let counters = p2.counters_from("127.0.0.2:10002");
    assert_eq!(&counters[..10], &(0..10).collect::<Vec<u64>>()[..]);
}
