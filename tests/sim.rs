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

use peerlab::lab1::harness::{Group, Packet};
use peerlab::lab1::ra::{self, Key, Party, State};
use peerlab::lab1::wire::{Inc, Kind, Msg, PeerId};
use peerlab::values::time::Millis;

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

/// A message on the simulated wire: (arrival, sequence number for a stable order, from, to,
/// encoded bytes).
type InFlight = (Millis, u64, Party, Party, String);

#[derive(Debug)]
struct Net {
    loss: f64,
    dup: f64,
    max_delay: u64,
    /// Chance that a scheduled keyboard event is a `kill -9` and restart instead.
    restart: f64,
}

/// The shared harness (the cores' rules and the safety checks) on a seeded network.
struct Sim {
    seed: u64,
    rng: Rng,
    g: Group,
    wire: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    net: Net,
    delivered: u64,
    dropped: u64,
    restarts: u64,
    /// DEFERRED acknowledgements: (put on the wire, lost, sent twice).
    deferred: (u64, u64, u64),
}

impl Sim {
    fn new(seed: u64, n: u16, net: Net) -> Sim {
        let mut g = Group::with(n, |id, n| ra::Config {
            id: PeerId(id),
            n,
            cs_time: Millis(30),
            retry: Millis(20),
            resource_patience: Millis(60_000),
            text: heapless::String::try_from("Oi").unwrap(),
            inc: Inc(1),
        });
        g.record = false;
        Sim {
            seed,
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            g,
            wire: BinaryHeap::new(),
            seq: 0,
            net,
            delivered: 0,
            dropped: 0,
            restarts: 0,
            deferred: (0, 0, 0),
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "seed {}: {what} (replay: SIM_SEED={} cargo test --test sim)",
            self.seed, self.seed
        )
    }

    /// Moves what the group sent onto the simulated wire: maybe lost, maybe twice, each copy
    /// with its own delay (so messages overtake each other). Encoded, to be decoded on
    /// arrival, as on a real network. Then checks the group's safety claims.
    fn drain(&mut self) {
        self.g.drain();
        if !self.g.faults.is_empty() {
            self.fail(&format!("at {:?}: {:?}", self.g.now, self.g.faults));
        }
        for p in std::mem::take(&mut self.g.wire) {
            let copies = if self.rng.chance(self.net.dup) { 2 } else { 1 };
            let ack = p.msg.kind() == Kind::Deferred;
            if ack {
                self.deferred.0 += 1;
                self.deferred.2 += copies - 1;
            }
            for _ in 0..copies {
                if self.rng.chance(self.net.loss) {
                    self.dropped += 1;
                    self.deferred.1 += u64::from(ack);
                    continue;
                }
                let at = self.g.now + Millis(1 + self.rng.below(self.net.max_delay));
                self.seq += 1;
                self.wire.push(Reverse((
                    at,
                    self.seq,
                    p.from,
                    p.to,
                    p.msg.encode().to_string(),
                )));
            }
        }
    }

    fn deliver(&mut self, from: Party, to: Party, bytes: &str) {
        let msg =
            Msg::decode(bytes.as_bytes()).unwrap_or_else(|e| self.fail(&format!("{e}: {bytes}")));
        self.delivered += 1;
        if let Err(e) = self.g.deliver(Packet { from, to, msg }) {
            self.fail(&format!("{to:?} rejected {bytes}: {e}"));
        }
        self.drain();
    }

    /// Runs until `until` (virtual), with a request every so often while `requests` last.
    fn run(&mut self, until: Millis, mut requests: u32, gap: u64) {
        let mut next_request = Millis(self.rng.below(gap));
        loop {
            let arrival = self.wire.peek().map(|Reverse((at, ..))| *at);
            let req = (requests > 0).then_some(next_request);
            let Some(next) = [arrival, self.g.next_timeout(), req]
                .into_iter()
                .flatten()
                .min()
            else {
                return; // nothing left to happen
            };
            if next > until {
                return;
            }
            self.g.now = next;
            while let Some(Reverse((at, ..))) = self.wire.peek() {
                if *at > self.g.now {
                    break;
                }
                let Reverse((_, _, from, to, bytes)) = self.wire.pop().unwrap();
                self.deliver(from, to, &bytes);
            }
            self.g.advance(0);
            self.drain();
            let now = self.g.now;
            if requests > 0 && next_request <= now {
                let who = self.rng.below(self.g.ps.len() as u64) as u16 + 1;
                if self.rng.chance(self.net.restart) {
                    self.g.restart(who);
                    self.restarts += 1;
                } else {
                    let key = if self.rng.chance(0.2) {
                        Key::Internal
                    } else {
                        Key::Request
                    };
                    self.g.key(who, key);
                }
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
            restart: 0.0,
        };
        let limit = self.g.now + Millis(600_000);
        self.run(limit, 0, 1);
        for p in &self.g.ps {
            let s = p.stats();
            if p.state() != State::Released || s.requests != s.entries {
                if std::env::var("SIM_DEBUG").is_ok() {
                    for q in &self.g.ps {
                        eprintln!("{q:?}");
                    }
                }
                self.fail(&format!(
                    "process {} not served: {:?}, {} requests, {} entries",
                    p.id(),
                    p.state(),
                    s.requests,
                    s.entries
                ));
            }
        }
        // A restarted process's core starts its statistics over: the resource saw at least
        // what the current incarnations entered (exactly that without restarts).
        let entries: u64 = self.g.ps.iter().map(|p| p.stats().entries).sum();
        let seen = self.g.resource.entries;
        let agrees = if self.restarts == 0 {
            seen == entries
        } else {
            seen >= entries
        };
        if !agrees || self.g.resource.inside().is_some() {
            self.fail(&format!(
                "resource saw {} entries of {entries}",
                self.g.resource.entries
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
/// events, or with chance `restart` a `kill -9` and restart) over 5 s of virtual time, then
/// settling; prints the totals. The DEFERRED acknowledgements go through the same network:
/// asserted to have been lost and duplicated where the network does that.
fn random_schedules(loss: f64, dup: f64, restart: f64) {
    let (mut entries, mut delivered, mut dropped, mut restarts) = (0u64, 0u64, 0u64, 0u64);
    let mut deferred = (0u64, 0u64, 0u64);
    for seed in schedules() {
        let net = Net {
            loss,
            dup,
            max_delay: 40,
            restart,
        };
        let mut sim = Sim::new(seed, group_size(seed), net);
        sim.run(Millis(5_000), 25, 60);
        sim.settle();
        entries += sim.g.resource.entries;
        restarts += sim.restarts;
        delivered += sim.delivered;
        dropped += sim.dropped;
        deferred.0 += sim.deferred.0;
        deferred.1 += sim.deferred.1;
        deferred.2 += sim.deferred.2;
    }
    println!(
        "{entries} entries, {delivered} messages delivered, {dropped} dropped, {restarts} restarts; {} DEFERRED sent, {} lost, {} duplicated",
        deferred.0, deferred.1, deferred.2
    );
    if schedules().len() > 100 {
        assert!(deferred.0 > 0, "no deferral acknowledged");
        assert!(loss == 0.0 || deferred.1 > 0, "no DEFERRED lost");
        assert!(dup == 0.0 || deferred.2 > 0, "no DEFERRED duplicated");
    }
}

#[test]
fn safe_ordered_and_live_on_a_reordering_duplicating_network() {
    random_schedules(0.0, 0.1, 0.0);
}

#[test]
fn safe_ordered_and_live_with_20_percent_loss() {
    random_schedules(0.2, 0.05, 0.0);
}

/// Processes killed (`kill -9`: no EXIT, no goodbye) and started again with the clock back at
/// 0, at random moments, inside the CS or not, while their old messages are still in flight.
#[test]
fn safe_ordered_and_live_with_restarts() {
    random_schedules(0.1, 0.05, 0.15);
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
                restart: 0.0,
            },
        );
        for round in 0..3 {
            sim.g.now = Millis(round * 2_000);
            for id in 1..=n {
                sim.g.key(id, Key::Request);
            }
            sim.drain();
            sim.run(Millis((round + 1) * 2_000 - 1), 0, 1);
        }
        sim.settle();
        assert_eq!(sim.g.resource.entries, 3 * u64::from(n), "seed {seed}");
    }
}
