//! The message path allocates nothing: two real peers on loopback exchange thousands of
//! counters in this process while a counting global allocator watches. Start-up (argh, the
//! poll's event list, the first write to the output) may allocate; after a warm-up, every
//! format, send, poll, receive, parse, account and print must not.
//!
//! This file holds one test on purpose: the allocator counts every thread of the binary.

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use peerlab::counter::{self, Node, PeerConfig};
use peerlab::output::Output;
use peerlab::values::addr::parse_spec;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A peer of `me` and `peer`: named on the command line, or (`discover`) found as the one
/// address of a group (`--discover IP:PORT`, looked up at start only here: lookups are not
/// the message path) in a table of 8.
fn node(me: &str, peer: &str, json: bool, discover: bool) -> Box<Node<io::Sink>> {
    let mut cfg = PeerConfig {
        addr: parse_spec(me).unwrap(),
        peers: vec![parse_spec(peer).unwrap()],
        interval: Duration::from_millis(1),
        strict: false,
        discovery: Default::default(),
    };
    if discover {
        cfg.discovery = peerlab::io::mesh::Discovery {
            groups: std::mem::take(&mut cfg.peers),
            capacity: 8,
            every: Duration::from_secs(24 * 3600),
        };
    }
    counter::start(&cfg, Output::new(io::sink(), json)).expect("bind on loopback")
}

fn received(n: &Node<io::Sink>) -> u64 {
    n.app.counts(0).unwrap().received
}

/// Runs both loops until each has received `target` counters.
fn run_until(a: &mut Node<io::Sink>, b: &mut Node<io::Sink>, target: u64) {
    let t = Instant::now();
    while received(a) < target || received(b) < target {
        a.turn(Some(Duration::from_millis(1))).unwrap();
        b.turn(Some(Duration::from_millis(1))).unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "peers stopped exchanging"
        );
    }
}

/// Scrapes `endpoint` (`GET /metrics`) while both loops turn; the whole answer is read with
/// a fixed buffer. Returns its length.
fn scrape_while_turning(
    a: &mut Node<io::Sink>,
    b: &mut Node<io::Sink>,
    endpoint: std::net::SocketAddr,
) -> usize {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(endpoint).expect("connect to --metrics");
    s.set_nonblocking(true).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut first = [0u8; 15];
    let mut total = 0;
    let t = Instant::now();
    loop {
        a.turn(Some(Duration::from_millis(1))).unwrap();
        b.turn(Some(Duration::from_millis(1))).unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if total < first.len() {
                    let k = n.min(first.len() - total);
                    first[total..total + k].copy_from_slice(&buf[..k]);
                }
                total += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("reading the scrape: {e}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the scrape never ended"
        );
    }
    assert_eq!(&first, b"HTTP/1.1 200 OK", "the scrape's status line");
    total
}

type ResourceLoop = peerlab::io::driver::Driver<peerlab::lab1::resource::Resource, io::Sink>;
type ProcessLoop = peerlab::io::driver::Driver<peerlab::lab1::process::LabProcess, io::Sink>;

fn lab(net: u8, auth: &peerlab::lab1::auth::Auth) -> (Box<ResourceLoop>, Vec<Box<ProcessLoop>>) {
    let res = format!("127.0.{net}.1:10001");
    let addrs: Vec<_> = util::addrs(net, 3)
        .iter()
        .map(|a| parse_spec(a).unwrap())
        .collect();
    // The resource knows the processes' addresses: the by-address path is measured too.
    let r = peerlab::lab1::resource::start(
        &parse_spec(&res).unwrap(),
        &addrs,
        auth.clone(),
        Output::new(io::sink(), false),
    )
    .unwrap();
    let ps = (1..=3)
        .map(|id| {
            let cfg = peerlab::lab1::process::MutexConfig {
                id,
                addrs: addrs.clone(),
                resource: parse_spec(&res).unwrap(),
                cs_time: Duration::from_millis(1),
                auto: Some(Duration::from_millis(3)),
                text: heapless::String::try_from("Oi").unwrap(),
                seed: u64::from(id),
                inc: 1,
                keyboard: false,
                auth: auth.clone(),
            };
            peerlab::lab1::process::start(&cfg, Output::new(io::sink(), false)).unwrap()
        })
        .collect();
    (r, ps)
}

/// Runs the Lab 1 loops until the resource has seen `target` entries.
fn run_lab(r: &mut ResourceLoop, ps: &mut [Box<ProcessLoop>], target: u64) {
    let t = Instant::now();
    while r.app.checker().entries < target {
        r.turn(Some(Duration::ZERO)).unwrap();
        for p in ps.iter_mut() {
            p.turn(Some(Duration::from_millis(1))).unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "Lab 1 loops stopped making progress"
        );
    }
}

/// The Lab 1 cores alone, on the shared harness (no sockets): every process asks for the CS
/// over and over, messages are delivered in order; returns the entries made.
fn run_cores(g: &mut peerlab::lab1::harness::Group, rounds: u32) -> u64 {
    use peerlab::lab1::ra::Key;
    for _ in 0..rounds {
        for id in 1..=3 {
            g.key(id, Key::Request);
        }
        // Deliver everything, letting the CS time pass whenever the wire is quiet.
        for _ in 0..10_000 {
            if g.wire.is_empty() {
                if g.ps.iter().all(|p| p.current().is_none()) {
                    break;
                }
                let next = g.next_timeout().expect("a process inside has a deadline");
                let step = next.0.saturating_sub(g.now.0);
                g.advance(step);
            } else {
                g.deliver_at(0).expect("the harness routes every message");
            }
        }
    }
    assert!(g.faults.is_empty(), "{:?}", g.faults);
    g.ps.iter().map(|p| p.stats().entries).sum()
}

#[test]
fn message_path_allocates_nothing() {
    // The cores: after a warm-up, requests, REQUEST/REPLY, ENTER/EXIT/ACK and every event
    // allocate nothing.
    let mut g = peerlab::lab1::harness::Group::new(3);
    g.record = false;
    run_cores(&mut g, 2);
    let before = ALLOCS.load(Ordering::Relaxed);
    let entries = run_cores(&mut g, 100);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    println!("lab 1 cores: {allocs} allocations over {entries} CS entries (harness)");
    assert_eq!(allocs, 0, "Lab 1 cores: {allocs} allocations");
    assert_eq!(entries, 306);

    // Lab 1: three processes and the resource, requesting every few milliseconds; then the
    // same with a shared key (every message sealed and checked with HMAC-SHA256).
    let keyed =
        peerlab::lab1::auth::Auth::with_key(b"a shared key", peerlab::values::time::wall_us())
            .unwrap();
    for (net, auth) in [(15, peerlab::lab1::auth::Auth::none()), (60, keyed)] {
        let (mut r, mut ps) = lab(net, &auth);
        run_lab(&mut r, &mut ps, 20);
        let before = ALLOCS.load(Ordering::Relaxed);
        let sent_before: u64 = ps.iter().map(|p| p.app.core().stats().sent).sum();
        run_lab(&mut r, &mut ps, 220);
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let sent: u64 = ps.iter().map(|p| p.app.core().stats().sent).sum::<u64>() - sent_before;
        let keyed = auth.is_keyed();
        println!(
            "lab 1 (keyed={keyed}): {allocs} allocations over 200 CS entries, {sent} REQUEST/REPLY sent"
        );
        assert_eq!(
            allocs, 0,
            "Lab 1 (keyed={keyed}): {allocs} allocations over 200 entries"
        );
        assert_eq!(r.app.checker().violations, 0);
    }

    for (net, json, discover, metrics) in [
        (11, false, false, false),
        (12, true, false, false),
        (140, false, true, false),
        (141, false, false, true),
    ] {
        let [pa, pb]: [String; 2] = util::addrs(net, 2).try_into().unwrap();
        let mut a = node(&pa, &pb, json, discover);
        let mut b = node(&pb, &pa, json, discover);
        // --metrics on the first: scraped while the counters flow (the scrape itself, as
        // well as every datagram, must allocate nothing).
        let endpoint: std::net::SocketAddr = format!("127.0.{net}.9:19464").parse().unwrap();
        if metrics {
            a.serve_metrics(std::net::TcpListener::bind(endpoint).unwrap())
                .unwrap();
        }
        run_until(&mut a, &mut b, 50);
        if metrics {
            scrape_while_turning(&mut a, &mut b, endpoint);
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        let (ra, rb) = (received(&a), received(&b));
        let mut scraped = 0;
        for target in [550, 1_050, 1_550, 2_050] {
            run_until(&mut a, &mut b, target);
            if metrics {
                scraped += scrape_while_turning(&mut a, &mut b, endpoint);
            }
        }
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let messages = received(&a) - ra + received(&b) - rb;
        println!(
            "json={json} discovered={discover} metrics={metrics}: {allocs} allocations over {messages} messages ({scraped} bytes scraped)"
        );
        assert_eq!(
            allocs, 0,
            "json={json}: {allocs} allocations over {messages} messages"
        );
        for n in [&a, &b] {
            let c = n.app.counts(0).unwrap();
            assert_eq!((c.lost, c.duplicated), (0, 0), "{c:?}");
        }
    }
}
