//! The message path allocates nothing: two real peers on loopback exchange thousands of
//! counters in this process while a counting global allocator watches. Start-up (argh, the
//! poll's event list, the first write to the output) may allocate; after a warm-up, every
//! format, send, poll, receive, parse, account and print must not.
//!
//! This file holds one test on purpose: the allocator counts every thread of the binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use peerlab::cli::parse_spec;
use peerlab::counter::{self, Node, PeerConfig};
use peerlab::output::Output;

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

fn node(me: &str, peer: &str, json: bool) -> Node<io::Sink> {
    let cfg = PeerConfig {
        addr: parse_spec(me).unwrap(),
        peers: vec![parse_spec(peer).unwrap()],
        interval: Duration::from_millis(1),
        strict: false,
    };
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

#[test]
fn message_path_allocates_nothing() {
    for (net, json) in [(11, false), (12, true)] {
        let (pa, pb) = (
            format!("127.0.{net}.2:10002"),
            format!("127.0.{net}.3:10003"),
        );
        let mut a = node(&pa, &pb, json);
        let mut b = node(&pb, &pa, json);
        run_until(&mut a, &mut b, 50);
        let before = ALLOCS.load(Ordering::Relaxed);
        let (ra, rb) = (received(&a), received(&b));
        run_until(&mut a, &mut b, 2_050);
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let messages = received(&a) - ra + received(&b) - rb;
        println!("json={json}: {allocs} allocations over {messages} messages");
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
