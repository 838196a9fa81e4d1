//! The message path's pure parts, alone: formatting and parsing a counter and a Lab 1 message,
//! accounting a counter, and building an output line (into a sink). No allocation anywhere
//! (`tests/alloc.rs` proves it); these say how many nanoseconds each step costs.

use std::io;
use std::net::SocketAddr;

use divan::black_box;
use peerlab::counter::account::{Sequence, Verdict};
use peerlab::counter::events::{Payload, Received, Who};
use peerlab::lab1::wire::{Inc, Msg, PeerId};
use peerlab::output::Output;
use peerlab::values::decimal::{encode_counter, parse_counter};

fn main() {
    divan::main();
}

#[divan::bench]
fn encode_counter_5_digits() -> usize {
    encode_counter(black_box(12_345)).len()
}

#[divan::bench]
fn parse_counter_5_digits() -> u64 {
    parse_counter(black_box(b"12345")).unwrap()
}

#[divan::bench]
fn account_in_order(bencher: divan::Bencher) {
    let mut s = Sequence::default();
    let mut n = 0;
    bencher.bench_local(|| {
        n += 1;
        s.record(black_box(n))
    });
}

#[divan::bench]
fn lab_encode_reply() -> usize {
    Msg::Reply {
        id: PeerId(2),
        inc: Inc(1_795_766_400_123),
        clock: black_box(1234),
        t: 1200,
        to: Inc(1_795_766_400_456),
    }
    .encode()
    .len()
}

#[divan::bench]
fn lab_decode_reply(bencher: divan::Bencher) {
    // What `lab_encode_reply` builds (the wire format carries incarnations now).
    let bytes = Msg::Reply {
        id: PeerId(2),
        inc: Inc(1_795_766_400_123),
        clock: 1234,
        t: 1200,
        to: Inc(1_795_766_400_456),
    }
    .encode();
    bencher.bench_local(|| Msg::decode(black_box(bytes.as_bytes())).unwrap());
}

/// One `Received 12345 from p2:10003 (172.18.0.3:10003)` line, built and written to a sink.
fn received_line(bencher: divan::Bencher, json: bool) {
    let mut out = Output::new(io::sink(), json);
    let addr: SocketAddr = "172.18.0.3:10003".parse().unwrap();
    let who = Who {
        name: Some("p2:10003"),
        addr,
    };
    bencher.bench_local(|| {
        out.emit(&Received {
            who,
            payload: Payload::Counter(black_box(12_345), Verdict::InOrder),
        })
    });
}

#[divan::bench]
fn received_line_text(bencher: divan::Bencher) {
    received_line(bencher, false);
}

#[divan::bench]
fn received_line_json(bencher: divan::Bencher) {
    received_line(bencher, true);
}

#[divan::bench]
fn clock_now() -> std::time::Instant {
    std::time::Instant::now()
}
