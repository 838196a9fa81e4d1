//! Deterministic simulation of Lab 1: N = 2..7 Ricart–Agrawala cores and the shared
//! resource's checker over a simulated network that delays, reorders, duplicates and drops
//! messages, on a virtual clock, with requests at random moments. Thousands of seeded
//! schedules per run; every failure names its seed, and `SIM_SEED=<n> cargo test --test sim`
//! replays just that one (`SIM_SCHEDULES=<n>` runs more).
//!
//! Checked after every step:
//! - safety: at most one process is HELD;
//! - order: entries happen in increasing (T, id) of their requests;
//! - the resource's checker agrees (no violation) and saw every entry.
//!
//! And at the end (once the network delivers again, no new requests):
//! - liveness: every request was granted, every process is RELEASED.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use peerlab::clock::Millis;
use peerlab::ra::{self, Dest, Event, Key, Priority, Ra, State};
use peerlab::resource::{Checker, Entry, Exit};
use peerlab::wire::lab::{AckOf, Msg, PeerId};

/// xorshift64*: dependency-free and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    P(u16),
    Resource,
}

/// (arrival, sequence number for a stable order, from, to, encoded message)
type InFlight = (Millis, u64, Node, Node, String);

#[derive(Debug)]
struct Net {
    loss: f64,
    dup: f64,
    max_delay: u64,
}

struct Sim {
    seed: u64,
    rng: Rng,
    now: Millis,
    ps: Vec<Ra>,
    checker: Checker,
    wire: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    net: Net,
    last_entry: Option<Priority>,
    delivered: u64,
    dropped: u64,
}

impl Sim {
    fn new(seed: u64, n: u16, net: Net) -> Sim {
        let ps = (1..=n)
            .map(|i| {
                Ra::new(ra::Config {
                    id: PeerId(i),
                    n,
                    cs_time: Millis(30),
                    retry: Millis(20),
                    resource_patience: Millis(60_000),
                    text: heapless::String::try_from("Oi").unwrap(),
                })
                .unwrap()
            })
            .collect();
        Sim {
            seed,
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            now: Millis(0),
            ps,
            checker: Checker::default(),
            wire: BinaryHeap::new(),
            seq: 0,
            net,
            last_entry: None,
            delivered: 0,
            dropped: 0,
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "seed {}: {what} (replay: SIM_SEED={} cargo test --test sim)",
            self.seed, self.seed
        )
    }

    /// Puts a message on the wire: maybe lost, maybe twice, each copy with its own delay
    /// (so messages overtake each other). Encoded and decoded, as on a real network.
    fn send(&mut self, from: Node, to: Node, msg: &Msg) {
        let copies = if self.rng.chance(self.net.dup) { 2 } else { 1 };
        for _ in 0..copies {
            if self.rng.chance(self.net.loss) {
                self.dropped += 1;
                continue;
            }
            let at = self.now + Millis(1 + self.rng.below(self.net.max_delay));
            self.seq += 1;
            self.wire
                .push(Reverse((at, self.seq, from, to, msg.encode().to_string())));
        }
    }

    /// Moves every process's transmits to the wire and checks its events.
    fn drain(&mut self) {
        for i in 0..self.ps.len() {
            while let Some(t) = self.ps[i].poll_transmit() {
                let from = Node::P(i as u16 + 1);
                let to = match t.to {
                    Dest::Peer(j) => Node::P(j.0),
                    Dest::Resource => Node::Resource,
                };
                self.send(from, to, &t.msg);
            }
            while let Some(l) = self.ps[i].poll_event() {
                if let Event::Entered { t, .. } = l.event {
                    let me = Priority {
                        t,
                        id: PeerId(i as u16 + 1),
                    };
                    if self.last_entry.is_some_and(|p| p >= me) {
                        self.fail(&format!("entry {me:?} after {:?}", self.last_entry));
                    }
                    self.last_entry = Some(me);
                }
            }
        }
        let held = self.ps.iter().filter(|p| p.state() == State::Held).count();
        if held > 1 {
            self.fail(&format!("{held} processes HELD at {:?}", self.now));
        }
    }

    fn deliver(&mut self, to: Node, bytes: &str) {
        let msg =
            Msg::decode(bytes.as_bytes()).unwrap_or_else(|e| self.fail(&format!("{e}: {bytes}")));
        self.delivered += 1;
        match to {
            Node::P(j) => {
                let now = self.now;
                if let Err(e) = self.ps[usize::from(j) - 1].handle_msg(now, &msg) {
                    self.fail(&format!("process {j} rejected {bytes}: {e}"));
                }
            }
            Node::Resource => {
                let (of, id, t) = match msg {
                    Msg::Enter { id, t, .. } => {
                        if let Entry::New {
                            overlap,
                            out_of_order,
                        } = self.checker.handle_enter(id, t)
                        {
                            if overlap.is_some() || out_of_order.is_some() {
                                self.fail(&format!("resource: {bytes}: overlap {overlap:?}, order {out_of_order:?}"));
                            }
                        }
                        (AckOf::Enter, id, t)
                    }
                    Msg::Exit { id, t, .. } => {
                        if self.checker.handle_exit(id, t) == Exit::Unknown {
                            self.fail(&format!("resource: exit without entry: {bytes}"));
                        }
                        (AckOf::Exit, id, t)
                    }
                    _ => self.fail(&format!("resource got {bytes}")),
                };
                self.send(Node::Resource, Node::P(id.0), &Msg::Ack { of, id, t });
            }
        }
    }

    fn next_timer(&self) -> Option<Millis> {
        self.ps.iter().filter_map(Ra::poll_timeout).min()
    }

    /// Runs until `until` (virtual), with a request every so often while `requests` last.
    fn run(&mut self, until: Millis, mut requests: u32, gap: u64) {
        let mut next_request = Millis(self.rng.below(gap));
        loop {
            let arrival = self.wire.peek().map(|Reverse((at, ..))| *at);
            let req = (requests > 0).then_some(next_request);
            let Some(next) = [arrival, self.next_timer(), req]
                .into_iter()
                .flatten()
                .min()
            else {
                return; // nothing left to happen
            };
            if next > until {
                return;
            }
            self.now = next;
            while let Some(Reverse((at, ..))) = self.wire.peek() {
                if *at > self.now {
                    break;
                }
                let Reverse((_, _, _, to, bytes)) = self.wire.pop().unwrap();
                self.deliver(to, &bytes);
                self.drain();
            }
            let now = self.now;
            for p in &mut self.ps {
                if p.poll_timeout().is_some_and(|t| t <= now) {
                    p.handle_timeout(now);
                }
            }
            self.drain();
            if requests > 0 && next_request <= now {
                let who = self.rng.below(self.ps.len() as u64) as usize;
                let key = if self.rng.chance(0.2) {
                    Key::Internal
                } else {
                    Key::Request
                };
                self.ps[who].handle_key(now, key);
                requests -= 1;
                next_request = now + Millis(1 + self.rng.below(gap));
                self.drain();
            }
        }
    }

    /// After the lossy phase: a network that delivers, no new requests, until all is quiet.
    fn settle(&mut self) {
        self.net = Net {
            loss: 0.0,
            dup: 0.0,
            max_delay: 5,
        };
        let limit = self.now + Millis(600_000);
        self.run(limit, 0, 1);
        for p in &self.ps {
            let s = p.stats();
            if p.state() != State::Released || s.requests != s.entries {
                self.fail(&format!(
                    "process {} not served: {:?}, {} requests, {} entries",
                    p.id(),
                    p.state(),
                    s.requests,
                    s.entries
                ));
            }
        }
        let entries: u64 = self.ps.iter().map(|p| p.stats().entries).sum();
        if self.checker.entries != entries || self.checker.inside().is_some() {
            self.fail(&format!(
                "resource saw {} entries of {entries}",
                self.checker.entries
            ));
        }
    }
}

fn schedules() -> Vec<u64> {
    if let Ok(s) = std::env::var("SIM_SEED") {
        return vec![s.parse().expect("SIM_SEED is a number")];
    }
    let n: u64 = std::env::var("SIM_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    (0..n).collect()
}

fn group_size(seed: u64) -> u16 {
    2 + (seed % 6) as u16 // 2..=7
}

/// Every schedule on a network with `loss` and `dup`: 25 random requests (or internal
/// events) over 5 s of virtual time, then settling; prints the totals.
fn random_schedules(loss: f64, dup: f64) {
    let (mut entries, mut delivered, mut dropped) = (0u64, 0u64, 0u64);
    for seed in schedules() {
        let net = Net {
            loss,
            dup,
            max_delay: 40,
        };
        let mut sim = Sim::new(seed, group_size(seed), net);
        sim.run(Millis(5_000), 25, 60);
        sim.settle();
        entries += sim.checker.entries;
        delivered += sim.delivered;
        dropped += sim.dropped;
    }
    println!("{entries} entries, {delivered} messages delivered, {dropped} dropped");
}

#[test]
fn safe_ordered_and_live_on_a_reordering_duplicating_network() {
    random_schedules(0.0, 0.1);
}

#[test]
fn safe_ordered_and_live_with_20_percent_loss() {
    random_schedules(0.2, 0.05);
}

#[test]
fn requests_at_the_same_moment_are_served_in_timestamp_order() {
    // Everyone asks at once, repeatedly: the worst case for ties and deferrals.
    for seed in schedules().into_iter().take(300) {
        let n = group_size(seed);
        let mut sim = Sim::new(
            seed,
            n,
            Net {
                loss: 0.1,
                dup: 0.1,
                max_delay: 20,
            },
        );
        for round in 0..3 {
            let now = Millis(round * 2_000);
            sim.now = now;
            for p in &mut sim.ps {
                p.handle_key(now, Key::Request);
            }
            sim.drain();
            sim.run(Millis((round + 1) * 2_000 - 1), 0, 1);
        }
        sim.settle();
        assert_eq!(sim.checker.entries, 3 * u64::from(n), "seed {seed}");
    }
}
