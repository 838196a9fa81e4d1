//! The peer with real processes and real sockets on loopback. Each test has its own
//! 127.0.N.x "hosts" (distinct addresses on lo), so tests run in parallel without sharing ports.

mod util;

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use util::{addrs, Proc, PATIENCE};

/// The handout's rotation: process i gets its own address first, then the others.
fn rotation(all: &[String], i: usize) -> Vec<String> {
    let mut v = vec![all[i].clone()];
    v.extend(
        all.iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a.clone()),
    );
    v
}

fn start_peer(label: &str, interval: &str, args: &[String]) -> Proc {
    let mut a: Vec<&str> = vec!["--interval", interval];
    a.extend(args.iter().map(String::as_str));
    Proc::start_listening(label, &a)
}

/// [`start_peer`] with `--json`: the tests that check the accounting read its events.
fn start_json(label: &str, interval: &str, args: &[String]) -> Proc {
    let mut a = vec!["--json".to_string()];
    a.extend_from_slice(args);
    start_peer(label, interval, &a)
}

fn assert_contiguous(label: &str, seq: &[u64]) {
    assert!(
        seq.windows(2).all(|w| w[1] == w[0] + 1),
        "{label}: counters not contiguous: {seq:?}"
    );
}

#[test]
fn three_peers_exchange_counters_and_summaries_match() {
    let all = addrs(1, 3);
    let mut procs: Vec<Proc> = (0..3)
        .map(|i| start_json(&format!("p{}", i + 1), "200ms", &rotation(&all, i)))
        .collect();
    // Every process hears at least 0..=3 from both others.
    for (i, p) in procs.iter().enumerate() {
        for (j, other) in all.iter().enumerate() {
            if i != j {
                p.wait_for(|_| p.counters_from(other).len() >= 4);
            }
        }
    }
    for (i, p) in procs.iter().enumerate() {
        for (j, other) in all.iter().enumerate() {
            if i == j {
                continue;
            }
            let seq = p.counters_from(other);
            assert_contiguous(&p.label, &seq);
            if j > i {
                // Started after us: we heard it from its very first counter.
                assert_eq!(seq[..3], [0, 1, 2], "{} from {other}", p.label);
            }
        }
        // The event shows the name as written and the address it came from.
        for v in p.events_named("received") {
            assert_eq!(v["from"], v["addr"], "{v}");
            assert!(v["addr"].as_str().unwrap().starts_with("127.0.1."), "{v}");
        }
    }
    for p in &mut procs {
        let (took, status) = p.term();
        assert!(status.success(), "{}: {status:?}", p.label);
        assert!(
            took < Duration::from_millis(200),
            "{}: SIGTERM took {took:?}",
            p.label
        );
    }
    // What each sent, minus what bounced (the peer was not up yet), is what the other got;
    // at most the last one can still have been in flight at the end.
    for (i, p) in procs.iter().enumerate() {
        for (j, q) in procs.iter().enumerate() {
            if i == j {
                continue;
            }
            let out = p.summary_of(&all[j]);
            let inn = q.summary_of(&all[i]);
            let delivered = out.sent.unwrap() - out.errors;
            assert!(
                delivered - inn.received <= 1,
                "{} -> {}: sent {out:?}, received {inn:?}",
                p.label,
                q.label
            );
            assert_eq!(
                (inn.lost, inn.dup, inn.reordered, inn.foreign),
                (0, 0, 0, 0),
                "{inn:?}"
            );
            assert_eq!(inn.received, q.counters_from(&all[i]).len() as u64);
        }
    }
}

#[test]
fn late_peer_is_picked_up_and_down_is_said_once() {
    let all = addrs(2, 3);
    let p1 = start_peer("p1", "100ms", &rotation(&all, 0));
    let p2 = start_peer("p2", "100ms", &rotation(&all, 1));
    let down = format!("peer {} down: connection refused", all[2]);
    p1.wait_for(|l| l == down);
    // Ten more broadcasts to an absent peer: still one line.
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(p1.count(|l| l == down), 1, "{:#?}", p1.lines());
    assert_eq!(p2.count(|l| l == down), 1, "{:#?}", p2.lines());
    let mut p3 = start_peer("p3", "100ms", &rotation(&all, 2));
    let up = format!("peer {} up", all[2]);
    for p in [&p1, &p2] {
        p.wait_for(|l| l == up);
        p.wait_for(|_| p.counters_from(&all[2]).len() >= 3);
        assert_eq!(p.counters_from(&all[2])[..3], [0, 1, 2]);
    }
    // A process that is stopped says goodbye: the others know at once.
    p3.term();
    let stopped = format!("peer {} down: stopped", all[2]);
    p1.wait_for(|l| l == stopped);
    p2.wait_for(|l| l == stopped);
}

#[test]
fn killed_peer_is_reported_down_then_up_and_restart_is_counted() {
    let all = addrs(3, 3);
    let mut p1 = start_json("p1", "100ms", &rotation(&all, 0));
    let mut p2 = start_json("p2", "100ms", &rotation(&all, 1));
    let p3 = start_json("p3", "100ms", &rotation(&all, 2));
    p1.wait_for(|_| p1.counters_from(&all[1]).len() >= 5);
    p3.wait_for(|_| p3.counters_from(&all[1]).len() >= 5);
    let down = |p: &Proc| p.peer_events("peer_down", &all[1]);
    let up = |p: &Proc| p.peer_events("peer_up", &all[1]);
    // p1 started before p2, so it may already have seen p2 down and up once.
    let before: Vec<(usize, usize)> = [&p1, &p3].iter().map(|p| (down(p), up(p))).collect();
    p2.kill9();
    for (p, (d, _)) in [&p1, &p3].iter().zip(&before) {
        p.wait_for(|_| down(p) == d + 1);
        let last = p.events_named("peer_down").pop().unwrap();
        assert_eq!(last["error"], "connection refused", "{last}");
    }
    thread::sleep(Duration::from_millis(500));
    let _p2 = start_json("p2 again", "100ms", &rotation(&all, 1));
    for (p, (d, u)) in [&p1, &p3].iter().zip(&before) {
        p.wait_for(|_| up(p) == u + 1);
        // Its 0 may be a late old counter; its 1 continuing from it confirms the restart.
        p.wait_event(|v| {
            v["event"] == "received"
                && v["from"] == all[1].as_str()
                && v["counter"] == 0
                && v["seq"] == "possible_restart"
        });
        p.wait_event(|v| {
            v["event"] == "received"
                && v["from"] == all[1].as_str()
                && v["counter"] == 1
                && v["seq"] == "restart"
        });
        // Five broadcasts into a dead port gave one event each way.
        assert_eq!(down(p), d + 1, "{}", p.lines().join("\n"));
        assert_eq!(up(p), u + 1);
    }
    p1.wait_for(|_| {
        let s = p1.counters_from(&all[1]);
        s.len() >= 4 && s[s.len() - 3..] == [1, 2, 3] && s[s.len() - 4] == 0
    });
    p1.term();
    let row = p1.summary_of(&all[1]);
    assert_eq!((row.restarts, row.lost, row.dup), (1, 0, 0), "{row:?}");
    assert!(row.errors >= 1);
}

/// A relay between p1 and p2 that drops, duplicates and delays counters on purpose, so the
/// receiver's accounting can be checked against exactly what was done.
#[test]
fn loss_duplication_and_reordering_are_counted_exactly() {
    // p1 (127.0.4.2:10002) sends to the relay at 127.0.4.9:10003; the relay forwards from
    // 127.0.4.9:10002 to p2 (127.0.4.3:10003), which knows p1 by the relay's address.
    let relay_in = UdpSocket::bind("127.0.4.9:10003").unwrap();
    let relay_out = UdpSocket::bind("127.0.4.9:10002").unwrap();
    relay_in.set_read_timeout(Some(PATIENCE)).unwrap();
    let p2 = Proc::start_listening(
        "p2",
        &[
            "--json",
            "--interval",
            "1s",
            "127.0.4.3:10003",
            "127.0.4.9:10002",
        ],
    );
    let mut p1 = Proc::start_listening(
        "p1",
        &["--interval", "20ms", "127.0.4.2:10002", "127.0.4.9:10003"],
    );
    let (mut forwarded, mut dropped, mut duplicated, mut reordered) = (0u64, 0u64, 0u64, 0u64);
    let mut held: Option<Vec<u8>> = None;
    let mut buf = [0u8; 64];
    for _ in 0..100 {
        // A receive with a timeout can be interrupted (EINTR) even under SA_RESTART.
        let n = loop {
            match relay_in.recv(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.expect("p1 keeps sending"),
            }
        };
        let c: u64 = std::str::from_utf8(&buf[..n]).unwrap().parse().unwrap();
        let send = |b: &[u8]| relay_out.send_to(b, "127.0.4.3:10003").unwrap();
        match c % 10 {
            3 | 7 => dropped += 1,
            5 => {
                send(&buf[..n]);
                send(&buf[..n]);
                forwarded += 1;
                duplicated += 1;
            }
            8 => held = Some(buf[..n].to_vec()), // sent after the next one
            _ => {
                send(&buf[..n]);
                forwarded += 1;
                if let Some(h) = held.take() {
                    send(&h);
                    forwarded += 1;
                    reordered += 1;
                }
            }
        }
    }
    p1.term();
    // Wait until p2 printed everything the relay forwarded.
    let total = forwarded + duplicated;
    p2.wait_for(|_| p2.counters_from("127.0.4.9:10002").len() as u64 == total);
    let mut p2 = p2;
    p2.term();
    let row = p2.summary_of("127.0.4.9:10002");
    assert_eq!(row.received, total, "{row:?}");
    assert_eq!(row.dup, duplicated, "{row:?}");
    assert_eq!(row.reordered, reordered, "{row:?}");
    // The first counter p2 saw may not be 0 (p1 started after p2 but the relay saw all);
    // every drop lies between the first and the last forwarded counter.
    assert_eq!(row.lost, dropped, "{row:?}");
    assert_eq!(row.foreign, 0);
    let gaps = p2.events_named("received");
    let gaps: Vec<_> = gaps.iter().filter(|v| v["seq"] == "gap").collect();
    assert!(!gaps.is_empty());
    assert!(
        gaps.iter().all(|v| v["missing"].as_u64() >= Some(1)),
        "{gaps:?}"
    );
}

#[test]
fn bad_datagrams_are_escaped_counted_and_survived() {
    let all = addrs(5, 2);
    let mut p1 = start_peer("p1", "100ms", &rotation(&all, 0));
    let _p2 = start_peer("p2", "100ms", &rotation(&all, 1));
    let evil = UdpSocket::bind("127.0.5.9:4000").unwrap();
    let target = &all[0];
    let big = vec![b'7'; 65_000];
    let payloads: Vec<&[u8]> = vec![
        b"hello\x1b[2J\x1b]0;owned\x07",
        &big,
        b"",
        b"\xff\xfe\x00binary",
        "\u{202e}txt.exe".as_bytes(),
        b"12\n", // what `echo 12 | nc -u` sends: a counter
    ];
    for p in &payloads {
        evil.send_to(p, target).unwrap();
    }
    p1.wait_for(|l| l.starts_with("Received 12 from 127.0.5.9:4000"));
    // Still receiving from p2 afterwards.
    let before = p1.counters_from(&all[1]).len();
    p1.wait_for(|_| p1.counters_from(&all[1]).len() >= before + 3);
    let lines = p1.lines();
    for l in &lines {
        assert!(
            !l.chars()
                .any(|c| c.is_control() || c == '\u{202e}' || c == '\u{fffd}'),
            "raw bytes in {l:?}"
        );
    }
    let got = |pat: &str| {
        assert!(
            lines.iter().any(|l| l.contains(pat)),
            "no line with {pat:?}:\n{}",
            lines.join("\n")
        );
    };
    got(r#"Received "hello\x1b[2J\x1b]0;owned\x07" from 127.0.5.9:4000 [not a counter, 19 bytes]"#);
    got(r#"Received "" from 127.0.5.9:4000 [empty, 0 bytes]"#);
    got(r#"Received "\xff\xfe\x00binary" from 127.0.5.9:4000 [not a counter"#);
    got(r#"Received "\u{202e}txt.exe" from"#);
    got("[truncated: 2048 bytes or more]");
    let (_, status) = p1.term();
    assert!(status.success());
    let row = p1.row("(not a peer)");
    assert_eq!(row.addr, "127.0.5.9:4000");
    assert_eq!(
        (row.received, row.foreign, row.sent),
        (1, 5, None),
        "{row:?}"
    );
}

#[test]
fn strict_mode_drops_and_counts_strangers() {
    let all = addrs(6, 2);
    let mut args = vec!["--strict".to_string()];
    args.extend(rotation(&all, 0));
    let mut p1 = start_peer("p1", "100ms", &args);
    let _p2 = start_peer("p2", "100ms", &rotation(&all, 1));
    let s = UdpSocket::bind("127.0.6.9:4000").unwrap();
    for n in 0..3 {
        s.send_to(n.to_string().as_bytes(), &all[0]).unwrap();
    }
    p1.wait_for(|l| l.contains("dropping datagrams from 127.0.6.9:4000"));
    p1.wait_for(|_| p1.counters_from(&all[1]).len() >= 3);
    // SIGINT works like SIGTERM.
    p1.signal("INT");
    assert!(p1.wait_exit(PATIENCE).unwrap().success());
    assert_eq!(
        p1.count(|l| l.starts_with("Received") && l.contains("from 127.0.6.9")),
        0
    );
    p1.wait_for(|l| l.contains("3 datagram(s) dropped from 1 address(es)"));
}

#[test]
fn bad_command_lines_get_usage_and_status_2() {
    for args in [
        &[][..],
        &["nope"],
        &[":99999"],
        &["p1"],
        &[":10002", "p2:0"],
        &["--interval", "fast", ":10002"],
        &["--interval", "0s", ":10002"],
        &["--frobnicate", ":10002"],
    ] {
        util::assert_usage_error(args);
    }
    // A duration error names the option it is about, and the bound it names is the bound.
    let err = util::assert_usage_error(&["--interval", "0", ":10002"]);
    assert!(
        err.contains("`0`: --interval must be between 1ms and 24h"),
        "{err}"
    );
    // Ports without their colon are said as such, not as Lab 1's arguments.
    let err = util::assert_usage_error(&["10002", "10003", "10004"]);
    assert!(
        err.contains("are numbers, not addresses: the peer takes host:port or :port"),
        "{err}"
    );
    // A word that is neither a mode nor an address (`process resource` for shared-resource).
    for word in ["resource", "mutx", "p2"] {
        let err = util::assert_usage_error(&[word, ":10002"]);
        assert!(
            err.contains(&format!("\"{word}\" is neither a mode nor an address: the modes are mutex, shared-resource, timeline and health")),
            "{err}"
        );
    }
    // A mistyped IPv4 address is not taken for a host name (to fail on later, or to make the
    // process listen on the wildcard address).
    let err = util::assert_usage_error(&["300.0.0.1:10002", "127.0.0.3:10003"]);
    assert!(err.contains("`300.0.0.1` is not an IPv4 address"), "{err}");
    // A number without its unit is refused (250 meant ms as often as s).
    let err = util::assert_usage_error(&["--interval", "250", ":10002"]);
    assert!(
        err.contains("`250` has no unit: write 250ms, 250s"),
        "{err}"
    );
    let err = util::assert_usage_error(&["--interval", "24.5h", ":10002"]);
    assert!(
        err.contains("--interval must be between 1ms and 24h"),
        "{err}"
    );
    let err = util::assert_usage_error(&["health", "--timeout", "0", ":10002"]);
    assert!(
        err.contains("`0`: --timeout must be between 1ms and 24h") && !err.contains("interval"),
        "{err}"
    );
    let p = Proc::start_listening("24h", &["--interval", "24h", "127.0.15.2:10002"]);
    p.wait_for(|l| l.ends_with("sending every 86400s"));
    // More peers than supported: a usage error before any socket is opened.
    let many: Vec<String> = (1..=peerlab::values::limits::MAX_PEERS + 1)
        .map(|i| format!(":{}", 20000 + i))
        .collect();
    let mut args = vec![":10002"];
    args.extend(many.iter().map(String::as_str));
    let err = util::assert_usage_error(&args);
    assert!(
        err.contains(&format!(
            "at most {} peers are supported, got {}",
            peerlab::values::limits::MAX_PEERS,
            peerlab::values::limits::MAX_PEERS + 1
        )),
        "{err}"
    );
    // An argument that is not UTF-8 is a usage error too, not a panic.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_process"))
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff:10002"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid UTF-8"));
    for mode in [&[][..], &["mutex"], &["shared-resource"], &["health"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_process"))
            .args(mode)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--help"), "{help}");
        // No internal references (issue numbers) in what users read.
        assert!(!help.contains('#'), "{mode:?}: {help}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_process"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--interval"));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let _p1 = Proc::start_listening("p1", &["127.0.7.2:10002"]);
    let mut again = Proc::start("again", &["127.0.7.2:10002"]);
    let status = again.wait_exit(PATIENCE).expect("exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        again.stderr().contains("already in use"),
        "{}",
        again.stderr()
    );
}

#[test]
fn address_not_on_this_host_falls_back_to_the_wildcard() {
    // 198.18.255.1 is not an address of this host (nothing is sent to it).
    let p1 = Proc::start_listening(
        "p1",
        &[
            "--interval",
            "100ms",
            "198.18.255.1:17002",
            "127.0.8.3:17003",
        ],
    );
    p1.wait_for(|l| l.contains("listening on 0.0.0.0:17002 instead"));
    let p2 = start_peer(
        "p2",
        "100ms",
        &["127.0.8.3:17003".into(), "127.0.0.1:17002".into()],
    );
    p1.wait_for(|_| p1.counters_from("127.0.8.3:17003").len() >= 2);
    p2.wait_for(|_| p2.counters_from("127.0.0.1:17002").len() >= 2);
}

#[test]
fn unresolvable_peer_is_retried_not_fatal() {
    let peer = "no-such-host.invalid:10003";
    let mut p1 = Proc::start_listening(
        "p1",
        &["--json", "--interval", "50ms", "127.0.9.2:10002", peer],
    );
    p1.wait_event(|v| v["event"] == "peer_unresolved" && v["peer"] == peer);
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(p1.peer_events("peer_unresolved", peer), 1);
    let (_, status) = p1.term();
    assert!(status.success());
    let row = p1.summary_of(peer);
    assert_eq!((row.addr, row.sent), (None, Some(0)));
}

#[test]
fn json_lines_are_valid_json() {
    let all = addrs(10, 2);
    let mut a = vec!["--json".to_string()];
    a.extend(rotation(&all, 0));
    let mut p1 = start_peer("p1", "100ms", &a);
    let _p2 = start_peer("p2", "100ms", &rotation(&all, 1));
    UdpSocket::bind("127.0.10.9:0")
        .unwrap()
        .send_to(b"\x1b[31m\"", &all[0])
        .unwrap();
    p1.wait_for(|l| l.contains("\"counter\":2"));
    p1.wait_for(|l| l.contains("\"error\":\"not a counter\""));
    p1.term();
    // Every line is a JSON object with an event name and a time.
    let lines = p1.lines();
    let all_events = p1.events();
    assert_eq!(all_events.len(), lines.len(), "{lines:#?}");
    let mut events = std::collections::BTreeSet::new();
    for v in &all_events {
        events.insert(v["event"].as_str().unwrap().to_string());
        assert!(v["t_ms"].is_u64(), "{v}");
        if v["event"] == "received" && v["from"] == all[1].as_str() {
            assert!(v["counter"].is_u64() && v["addr"] == all[1].as_str(), "{v}");
        }
    }
    assert!(p1.summary_of(&all[1]).received >= 3);
    for e in ["listening", "received", "summary_start", "summary"] {
        assert!(events.contains(e), "no {e} event: {events:?}");
    }
}

/// As PID 1 (what the process is in a container) the kernel drops signals that have no
/// handler; ours has one, so SIGTERM from outside still ends it with a summary. Needs root
/// for the PID namespace (as do the Docker tests).
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (a PID namespace)"
)]
fn sigterm_stops_it_as_pid_1_in_a_pid_namespace() {
    let mut wrapper = Proc::start_cmd(
        "pid1",
        "unshare",
        &[
            "--pid",
            "--fork",
            env!("CARGO_BIN_EXE_process"),
            "127.0.13.2:10002",
            "127.0.13.3:10003",
        ],
    );
    wrapper.wait_for(|l| l.starts_with("listening on"));
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", wrapper.pid()))
        .expect("read the unshare wrapper's children");
    let child = children
        .split_whitespace()
        .next()
        .expect("unshare forked the process");
    let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.trim_end().ends_with("\t1")),
        "not PID 1 inside: {status}"
    );
    let t = std::time::Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", child])
        .status()
        .unwrap()
        .success());
    let st = wrapper.wait_exit(PATIENCE).expect("PID 1 exits on SIGTERM");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "took {:?}",
        t.elapsed()
    );
    assert!(st.success(), "{st:?}: {}", wrapper.stderr());
    wrapper.wait_for(|l| l.starts_with("summary after"));
}

#[test]
fn health_check_answers_only_for_a_live_process() {
    let health = |addr: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_process"))
            .args(["health", addr])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let mut p1 = Proc::start_listening("p1", &["127.0.14.2:10002", "127.0.14.3:10003"]);
    let (code, text) = health("127.0.14.2:10002");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("is healthy"), "{text}");
    let (code, text) = health("127.0.14.2:10009");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    // A name that does not resolve is never healthy, even with a process listening on this
    // host's own port (the check of the own port is `--self PORT`).
    let _local = Proc::start_listening("local", &["127.0.0.1:17010"]);
    let (code, text) = health("no-such-host.invalid:17010");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with(
            "no-such-host.invalid:17010 is not healthy: the name no-such-host.invalid does not resolve ("
        ) && text.ends_with("; to check this host's own port: process health --self 17010\n"),
        "{text}"
    );
    // Probes are answered, not printed one by one, nor counted in the table as a stranger's
    // datagrams; how many there were is said at exit.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(p1.count(|l| l.contains("health")), 0, "{:#?}", p1.lines());
    p1.term();
    let probes = p1.wait_for(|l| l.contains("health probe(s) answered"));
    assert!(
        probes.starts_with(|c: char| c.is_ascii_digit() && c != '0'),
        "{probes}"
    );
    assert!(
        !p1.lines().iter().any(|l| l.starts_with("(not a peer)")),
        "{:#?}",
        p1.lines()
    );
}

/// Real drops: an iptables `statistic` rule in a network namespace drops about 20% of the
/// counters sent to p2, and p2's accounting must match what the kernel says it dropped.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn loss_accounting_matches_real_drops_by_iptables() {
    let ns = util::Netns::new("loss");
    // Only counters (29 to 33 bytes: IP + UDP headers and 1 to 5 digits) to p2's port.
    ns.drop_randomly(
        "0.2",
        &[
            "-p", "udp", "--dport", "10003", "-m", "length", "--length", "29:33",
        ],
    );
    let mut p2 = ns.start(
        "p2",
        &[
            "--json",
            "--interval",
            "1s",
            "127.0.0.3:10003",
            "127.0.0.2:10002",
        ],
    );
    p2.wait_event(|v| v["event"] == "listening");
    let mut p1 = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "10ms",
            "127.0.0.2:10002",
            "127.0.0.3:10003",
        ],
    );
    p1.wait_event(|v| v["event"] == "listening");
    p2.wait_for(|_| p2.counters_from("127.0.0.2:10002").len() >= 200);
    p1.term();
    let sent = p1.summary_of("127.0.0.3:10003").sent.unwrap();
    // Let the last datagrams arrive (or be dropped) before reading the kernel's count.
    thread::sleep(Duration::from_millis(300));
    let dropped = ns.dropped();
    p2.term();
    let row = p2.summary_of("127.0.0.2:10002");
    let seen = p2.counters_from("127.0.0.2:10002");
    let (first, last) = (*seen.iter().min().unwrap(), *seen.iter().max().unwrap());
    println!(
        "sent {sent}, received {}, kernel dropped {dropped}, accounted lost {}",
        row.received, row.lost
    );
    assert!(dropped > 0);
    assert_eq!(
        row.received + dropped,
        sent,
        "every counter was received or dropped: {row:?}"
    );
    // Lost counts the gaps between the first and last counter received.
    let edges = first + (sent - 1 - last);
    assert_eq!(
        row.lost,
        dropped - edges,
        "{row:?}, first {first}, last {last}"
    );
    assert_eq!((row.dup, row.reordered), (0, 0));
}

/// A peer that comes back under a new address (a restarted container with a new IP) is
/// found again: the name is looked up again after errors and every few seconds.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn peer_back_at_a_new_address_is_found_again() {
    let ns = util::Netns::new("moved");
    ns.hosts("127.0.0.1 localhost\n127.0.0.3 p2\n");
    let p1 = ns.start(
        "p1",
        &["--interval", "100ms", "127.0.0.2:10002", "p2:10003"],
    );
    p1.wait_for(|l| l == "peer p2:10003 is at 127.0.0.3:10003");
    let mut p2 = ns.start(
        "p2",
        &["--interval", "100ms", "127.0.0.3:10003", "127.0.0.2:10002"],
    );
    p1.wait_for(|_| p1.counters_from("p2:10003").len() >= 3);
    p2.term();
    p1.wait_for(|l| l == "peer p2:10003 down: stopped");
    // p2 comes back elsewhere, and the name says so.
    ns.hosts("127.0.0.1 localhost\n127.0.0.5 p2\n");
    let _p2 = ns.start(
        "p2 moved",
        &["--interval", "100ms", "127.0.0.5:10003", "127.0.0.2:10002"],
    );
    p1.wait_for(|l| l == "peer p2:10003 moved to 127.0.0.5:10003");
    p1.wait_for(|l| l == "peer p2:10003 up");
    p1.wait_for(|l| l.starts_with("Received") && l.contains("from p2:10003 (127.0.0.5:10003)"));
}

/// The text format, pinned line by line: what a student reads. (The other accounting tests
/// read `--json` events; this one and `bad_datagrams_are_escaped_counted_and_survived` keep
/// the text's `Received` lines and summary table from drifting.)
#[test]
fn text_received_lines_and_summary_table_are_pinned() {
    // The test plays p1's only peer from its address, and a stranger.
    let peer = UdpSocket::bind("127.0.16.3:10003").unwrap();
    let stranger = UdpSocket::bind("127.0.16.9:4000").unwrap();
    // One broadcast (at start), so the table's `sent` is known.
    let mut p1 = Proc::start_listening(
        "p1",
        &["--interval", "1h", "127.0.16.2:10002", "127.0.16.3:10003"],
    );
    for c in ["0", "1", "3", "3", "2", "0", "1"] {
        peer.send_to(c.as_bytes(), "127.0.16.2:10002").unwrap();
    }
    // The peer's datagrams reach its connected socket and the stranger's the server socket:
    // two sockets, read in either order in one wake-up. The stranger speaks after.
    p1.wait_for(|l| l.ends_with("[restarted]"));
    stranger.send_to(b"7", "127.0.16.2:10002").unwrap();
    stranger.send_to(b"hi", "127.0.16.2:10002").unwrap();
    p1.wait_for(|l| l.starts_with("Received \"hi\""));
    let (_, status) = p1.term();
    assert!(status.success());
    let lines = p1.lines();
    // A peer given as its address is not named twice.
    let from = "from 127.0.16.3:10003";
    let expected_head = [
        "listening on 127.0.16.2:10002, 1 peer, sending every 3600s".to_string(),
        format!("Received 0 {from}"),
        format!("Received 1 {from}"),
        format!("Received 3 {from} [1 lost]"),
        format!("Received 3 {from} [duplicate]"),
        format!("Received 2 {from} [late]"),
        format!("Received 0 {from} [possible restart]"),
        format!("Received 1 {from} [restarted]"),
        "Received 7 from 127.0.16.9:4000".to_string(),
        "Received \"hi\" from 127.0.16.9:4000 [not a counter, 2 bytes]".to_string(),
    ];
    assert_eq!(lines[..expected_head.len()], expected_head, "{lines:#?}");
    let tail = &lines[expected_head.len()..];
    assert_eq!(tail.len(), 5, "{lines:#?}");
    assert!(
        tail[0].starts_with("summary after ") && tail[0].ends_with("ms: 1 broadcasts"),
        "{}",
        tail[0]
    );
    assert_eq!(
        tail[1..],
        [
            "peer                 sent received  lost  dup reordered restarts foreign errors",
            "127.0.16.3:10003        1        7     0    1         1        1       0      0",
            "(not a peer)            -        1     0    0         0        0       1      0",
            "  at 127.0.16.9:4000",
        ]
    );
    // It fits an 80-column terminal.
    assert!(tail.iter().all(|l| l.chars().count() < 80), "{tail:#?}");
    // The table parser the text tests use reads it back.
    let row = p1.row("127.0.16.3:10003");
    assert_eq!(
        (row.sent, row.received, row.dup, row.reordered, row.restarts),
        (Some(1), 7, 1, 1, 1)
    );
    let row = p1.row("(not a peer)");
    assert_eq!(
        (row.addr.as_str(), row.sent, row.foreign),
        ("127.0.16.9:4000", None, 1)
    );
}

/// The internet checksum (RFC 1071) of `b`.
fn inet_checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP "port unreachable" as a router or host would send it for a UDP datagram from
/// `local` to `remote`: the kernel hands it to the socket connected from `local` to `remote`.
fn port_unreachable(local: std::net::SocketAddrV4, remote: std::net::SocketAddrV4) -> Vec<u8> {
    let mut inner = vec![0x45, 0, 0, 29, 0, 0, 0x40, 0, 64, 17, 0, 0];
    inner.extend(local.ip().octets());
    inner.extend(remote.ip().octets());
    let csum = inet_checksum(&inner);
    inner[10..12].copy_from_slice(&csum.to_be_bytes());
    inner.extend(local.port().to_be_bytes());
    inner.extend(remote.port().to_be_bytes());
    inner.extend([0, 9, 0, 0]);
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend(inner);
    let csum = inet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());
    icmp
}

/// A connected peer socket hit by bursts of ICMP errors (forged "port unreachable", sent from
/// a raw socket: needs root), with datagrams from that peer in between, never goes deaf:
/// every datagram is printed, also one still queued behind the last error of a burst (the
/// error is reported first, and readiness is edge-triggered: no new event may come for what a
/// drain left behind).
#[test]
fn icmp_error_bursts_never_leave_datagrams_unread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let me: std::net::SocketAddrV4 = "127.0.15.2:10002".parse().unwrap();
    let peer: std::net::SocketAddrV4 = "127.0.15.3:10003".parse().unwrap();
    let p = start_peer("p", "60m", &[me.to_string(), peer.to_string()]);
    let sock = UdpSocket::bind(peer).unwrap();
    let icmp = port_unreachable(me, peer);
    let raw = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::ICMPV4),
    )
    .expect("raw ICMP socket (needs root)");
    let to: socket2::SockAddr = std::net::SocketAddr::from((*me.ip(), 0)).into();
    // One error first, to see that they reach the process's socket at all.
    raw.send_to(&icmp, &to).unwrap();
    p.wait_for(|l| l == "peer 127.0.15.3:10003 down: connection refused");
    let from = peer.to_string();
    let mut sent = 0u64;
    for round in 0..200 {
        let flooding = Arc::new(AtomicBool::new(true));
        let flooders: Vec<_> = (0..2)
            .map(|_| {
                let raw = raw.try_clone().unwrap();
                let (icmp, to, flooding) = (icmp.clone(), to.clone(), flooding.clone());
                thread::spawn(move || {
                    while flooding.load(Ordering::Relaxed) {
                        let _ = raw.send_to(&icmp, &to);
                    }
                })
            })
            .collect();
        for _ in 0..3 {
            thread::sleep(Duration::from_micros(300));
            sock.send_to(sent.to_string().as_bytes(), me).unwrap();
            sent += 1;
        }
        thread::sleep(Duration::from_micros(300));
        flooding.store(false, Ordering::Relaxed);
        for f in flooders {
            f.join().unwrap();
        }
        // Nothing arrives from now on: what is queued must be read anyway.
        let t = std::time::Instant::now();
        while (p.counters_from(&from).len() as u64) < sent {
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "round {round}: {} of {sent} datagrams printed; the rest is left unread",
                p.counters_from(&from).len()
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(p.counters_from(&from), (0..sent).collect::<Vec<_>>());
    // The errors did come between the datagrams: each datagram after an error says "up",
    // each error after a datagram "down".
    let downs = p.count(|l| l == "peer 127.0.15.3:10003 down: connection refused");
    println!("{sent} datagrams, all printed; the peer went down {downs} times on the errors");
    assert!(downs > 10, "{downs}");
}

/// A bare IPv6 address (`::1`) is not host `:` and port 1: a usage error with the form to
/// write instead, as ADDR, as a peer and as `--listen`.
#[test]
fn bare_ipv6_address_is_a_usage_error() {
    for args in [
        &["::1"][..],
        &["127.0.120.2:10002", "::1"],
        &["shared-resource", "--listen", "::1"],
        &["mutex", "--resource", "::1", "1", ":10002"],
    ] {
        let err = util::assert_usage_error(args);
        assert!(err.contains("[::1]:PORT"), "{args:?}: {err}");
    }
}

/// Arguments that cannot work are refused before any socket is opened.
#[test]
fn duplicate_and_own_addresses_are_usage_errors() {
    for (args, says) in [
        (
            &["127.0.120.2:10002", ":10003", "127.0.0.1:10003"][..],
            "twice",
        ),
        (&["127.0.120.2:10002", "127.0.120.2:10002"], "own address"),
        (&[":10002", "127.0.0.1:10002"], "own address"),
        (&["mutex", "1", ":10002", ":10002"], "same address"),
        (
            &["1", ":10002", ":10003", "127.0.0.1:10002"],
            "same address",
        ),
        (
            &["mutex", "--resource", ":10002", "1", ":10002", ":10003"],
            "--resource",
        ),
    ] {
        let err = util::assert_usage_error(args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A peer that said goodbye and came back starts a new sequence: its `0` is a restart, not a
/// late counter, and its `1` is in order, not a duplicate (here a short-lived peer whose `0`
/// we missed the first time).
#[test]
fn a_peer_back_after_its_goodbye_starts_a_new_sequence() {
    let me = "127.0.122.2:10002";
    let peer = "127.0.122.3:10003";
    let sock = UdpSocket::bind(peer).unwrap();
    let mut p1 = Proc::start_listening("p1", &["--json", "--interval", "1s", me, peer]);
    for msg in ["1", "peerlab:bye", "0", "1", "2"] {
        sock.send_to(msg.as_bytes(), me).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    p1.wait_for(|_| p1.counters_from(peer).len() == 4);
    let seqs: Vec<String> = p1
        .events_named("received")
        .iter()
        .map(|v| v["seq"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seqs, ["first", "restart", "in_order", "in_order"]);
    p1.term();
    let row = p1.summary_of(peer);
    assert_eq!(
        (row.restarts, row.dup, row.reordered, row.lost),
        (1, 0, 0, 0),
        "{row:?}"
    );
}

/// "One process per ADDR" holds even for processes started at the same instant: of 20 pairs
/// started together, each on its own address, exactly one of each pair runs and the other
/// exits with status 1, saying the address is in use.
#[test]
fn one_process_per_address_even_when_started_at_the_same_instant() {
    use std::sync::{Arc, Barrier};
    const PAIRS: usize = 20;
    let barrier = Arc::new(Barrier::new(2 * PAIRS));
    let starters: Vec<_> = (0..2 * PAIRS)
        .map(|k| {
            let b = barrier.clone();
            thread::spawn(move || {
                let addr = format!("127.0.123.{}:10002", 2 + k / 2);
                b.wait();
                Proc::start(&format!("{addr} #{}", k % 2), &[&addr])
            })
        })
        .collect();
    let mut procs: Vec<Proc> = starters.into_iter().map(|t| t.join().unwrap()).collect();
    let mut both_ran = Vec::new();
    for pair in procs.chunks_mut(2) {
        let exited = util::eventually(Duration::from_secs(3), || {
            let done: Vec<usize> = (0..2)
                .filter(|&i| pair[i].wait_exit(Duration::ZERO).is_some())
                .collect();
            (!done.is_empty()).then_some(done)
        });
        match exited.as_deref() {
            Some(&[loser]) => {
                let status = pair[loser].wait_exit(Duration::ZERO).unwrap();
                assert_eq!(status.code(), Some(1), "{}", pair[loser].stderr());
                assert!(pair[loser].stderr().contains("already in use"));
                pair[1 - loser].wait_for(|l| l.starts_with("listening on"));
            }
            Some(both) => panic!(
                "{}: both exited ({both:?}): {}",
                pair[0].label,
                pair[0].stderr()
            ),
            None => both_ran.push(pair[0].label.clone()),
        }
    }
    assert!(
        both_ran.is_empty(),
        "both processes of a pair run: {both_ran:?}"
    );
}

/// The same race made certain: strace holds each process for 300 ms just before its second
/// bind, so the second process runs every check while the first sits between them. With the
/// old plain-bind check followed by the `SO_REUSEPORT` bind (no lock), both passed the check
/// and both ran, every time; with the lock (taken by the first bind) the second is refused.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs strace"
)]
fn one_process_per_address_with_a_pause_between_the_binds() {
    let strace = util::strace();
    let addr = "127.0.125.2:10002";
    let args = [
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=bind",
        "-e",
        "inject=bind:delay_enter=300000:when=2",
        env!("CARGO_BIN_EXE_process"),
        addr,
        "127.0.125.3:10002",
    ];
    let mut first = Proc::start_cmd("first", strace, &args);
    thread::sleep(Duration::from_millis(50));
    let mut second = Proc::start_cmd("second", strace, &args);
    let status = second
        .wait_exit(Duration::from_secs(5))
        .expect("the second process runs on an address the first holds");
    assert_eq!(status.code(), Some(1), "{}", second.stderr());
    assert!(
        second.stderr().contains("already in use"),
        "{}",
        second.stderr()
    );
    first.wait_for(|l| l.starts_with("listening on 127.0.125.2:10002"));
    assert!(
        first.wait_exit(Duration::ZERO).is_none(),
        "{}",
        first.stderr()
    );
    // strace and the process under it are one process group.
    first.kill9();
}

/// A peer whose name resolves but whose address cannot be reached from the own address (an
/// IPv6 peer of an IPv4 process) is said once, with the reason, and retried with backoff.
#[test]
fn unreachable_peer_is_said_once_with_its_reason() {
    let me = "127.0.124.2:10002";
    let peer = "[::1]:10003";
    let mut p1 = Proc::start_listening("p1", &["--json", "--interval", "50ms", me, peer]);
    thread::sleep(Duration::from_millis(1500));
    let about: Vec<_> = p1
        .events()
        .into_iter()
        .filter(|v| v["peer"] == peer && v["event"] != "summary")
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert_eq!(about[0]["event"], "peer_unreachable", "{}", about[0]);
    assert_eq!(about[0]["local"], me, "{}", about[0]);
    assert_eq!(
        about[0]["error"], "address family not supported",
        "{}",
        about[0]
    );
    p1.term();
    let mut text = Proc::start("text", &["127.0.124.3:10002", peer]);
    text.wait_for(|l| {
        l == "peer [::1]:10003 cannot be reached from 127.0.124.3:10002: address family not supported; retrying"
    });
    text.term();
}

/// Lines of `p` so far that are JSON events named `name`.
fn named(p: &Proc, name: &str) -> Vec<serde_json::Value> {
    p.events_named(name)
}

/// `--discover`: one name with many addresses (the namespace's hosts file) is a group of
/// peers; an address added to the file joins, one removed leaves after two lookups without
/// it (and keeps its summary row), one put back joins again under its old name. Delays are
/// measured at the default cadence (5 s +-20%) and printed.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn a_group_name_gives_peers_that_join_and_leave_as_the_hosts_file_changes() {
    let ns = util::Netns::new("group");
    let hosts = |last: &[u8]| {
        let mut h = String::from("127.0.0.1 localhost\n");
        for n in last {
            h.push_str(&format!("127.0.0.{n} grp\n"));
        }
        ns.hosts(&h);
    };
    // .6 has no process: a member all the same (said down by its "connection refused").
    hosts(&[2, 3, 4, 5, 6]);
    let own = |n: u8| format!("127.0.0.{n}:10002");
    let a1 = own(2);
    let p1 = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "200ms",
            &a1,
            "--discover",
            "grp:10002",
        ],
    );
    let a2 = own(3);
    let p2 = ns.start(
        "p2",
        &["--interval", "200ms", &a2, "--discover", "grp:10002"],
    );
    let others: Vec<Proc> = [4u8, 5]
        .iter()
        .map(|&n| {
            let a = own(n);
            ns.start(
                &format!("p{}", n - 1),
                &["--interval", "200ms", &a, "--discover", "grp:10002"],
            )
        })
        .collect();
    // p1 finds the four others in file order, itself left out.
    p1.wait_event(|v| v["event"] == "peer_joined" && v["peer"] == "grp#4");
    let joined = named(&p1, "peer_joined");
    let seen: Vec<(String, String)> = joined
        .iter()
        .map(|v| {
            (
                v["peer"].as_str().unwrap().into(),
                v["addr"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [3, 4, 5, 6]
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("grp#{}", i + 1), own(*n)))
            .collect::<Vec<_>>()
    );
    assert!(joined
        .iter()
        .all(|v| v["group"] == "grp:10002" && v["again"] == false));
    // Counters flow both ways, under the readable names, in text too.
    p1.wait_event(|v| v["event"] == "received" && v["from"] == "grp#1" && v["addr"] == own(3));
    p2.wait_for(|l| l == "peer grp#1 joined at 127.0.0.2:10002 (group grp:10002)");
    p2.wait_for(|l| l.starts_with("Received ") && l.ends_with(" from grp#1 (127.0.0.2:10002)"));
    for p in &others {
        p.wait_for(|l| l.starts_with("Received ") && l.ends_with(" from grp#1 (127.0.0.2:10002)"));
    }

    // A restart at the same IP (within the grace) is a restart of the same peer, not a new
    // one: down (stopped), then its counters again, counted as a restart.
    let mut others = others;
    others[1].term();
    p1.wait_event(|v| v["event"] == "peer_down" && v["peer"] == "grp#3");
    let a5 = own(5);
    others[1] = ns.start(
        "p4 again",
        &["--interval", "200ms", &a5, "--discover", "grp:10002"],
    );
    p1.wait_event(|v| v["event"] == "received" && v["from"] == "grp#3" && v["seq"] == "restart");
    assert_eq!(named(&p1, "peer_joined").len(), 4, "no new peer");

    // A new address joins at the next lookup.
    hosts(&[2, 3, 4, 5, 6, 7]);
    let t = std::time::Instant::now();
    let a7 = own(7);
    let _p7 = ns.start(
        "p7",
        &["--interval", "200ms", &a7, "--discover", "grp:10002"],
    );
    let limit = Duration::from_secs(15);
    util::eventually(limit, || {
        named(&p1, "peer_joined")
            .into_iter()
            .find(|v| v["addr"] == own(7))
    })
    .expect("127.0.0.7 joins");
    let join_delay = t.elapsed();
    assert_eq!(
        named(&p1, "peer_joined").last().unwrap()["peer"],
        "grp#5",
        "the next index"
    );
    p1.wait_event(|v| v["event"] == "received" && v["from"] == "grp#5");

    // Two addresses go from the file: .4 (its process still runs) and .6 (none). They leave
    // after two lookups without them.
    hosts(&[2, 3, 5, 7]);
    let t = std::time::Instant::now();
    let limit = Duration::from_secs(25);
    util::eventually(limit, || (named(&p1, "peer_left").len() >= 2).then_some(()))
        .expect("two peers leave");
    let leave_delay = t.elapsed();
    let left: Vec<String> = named(&p1, "peer_left")
        .iter()
        .map(|v| {
            assert_eq!(v["lookups"], 2, "{v}");
            v["peer"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(left.len(), 2, "each left once: {left:?}");
    assert!(
        left.contains(&"grp#2".into()) && left.contains(&"grp#4".into()),
        "{left:?}"
    );

    // .4 comes back at the same IP: the same peer, joined again.
    hosts(&[2, 3, 4, 5, 7]);
    let t = std::time::Instant::now();
    let again = util::eventually(Duration::from_secs(15), || {
        named(&p1, "peer_joined")
            .into_iter()
            .find(|v| v["again"] == true)
    })
    .expect("127.0.0.4 joins again");
    let rejoin_delay = t.elapsed();
    assert_eq!(
        (again["peer"].as_str(), again["addr"].as_str()),
        (Some("grp#2"), Some(own(4).as_str()))
    );
    println!(
        "discovery at the default 5 s +-20%: join reported {join_delay:?} after the hosts file changed, leave {leave_delay:?} (two lookups), join again {rejoin_delay:?}"
    );
    assert_eq!(named(&p1, "peer_table_full").len(), 0);
    let mut p1 = p1;
    p1.term();
    let rows = p1.summary_json();
    let names: Vec<&str> = rows.iter().filter_map(|v| v["peer"].as_str()).collect();
    assert_eq!(
        names,
        ["grp#1", "grp#2", "grp#3", "grp#4", "grp#5"],
        "{rows:?}"
    );
    let gone = rows.iter().find(|v| v["peer"] == "grp#4").unwrap();
    assert_eq!(gone["left"], true, "{gone}");
    assert_eq!(gone["addr"], own(6));
    let restarted = rows.iter().find(|v| v["peer"] == "grp#3").unwrap();
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    let back = rows.iter().find(|v| v["peer"] == "grp#2").unwrap();
    assert!(back.get("left").is_none(), "{back}");
    assert!(back["received"].as_u64().unwrap() > 10, "{back}");
    assert!(
        rows.iter().all(|v| !v["peer"].is_null()),
        "no stranger: {rows:?}"
    );
}

/// The course's Go program sends from a random port: a datagram from another port on the IP
/// of exactly one configured peer is that peer's (a note says so, once). Several peers on one
/// IP (as on loopback) stay ambiguous: "not a peer", as before.
#[test]
fn a_sender_on_a_peers_ip_from_another_port_is_that_peer() {
    let me = "127.0.130.2:10002";
    let go = "127.0.130.3:10003";
    let mut p = Proc::start_listening(
        "p1",
        &[
            "--json",
            "--interval",
            "1s",
            me,
            go,
            "127.0.130.5:10005",
            "127.0.130.5:10006",
        ],
    );
    let go_prog = UdpSocket::bind("127.0.130.3:0").unwrap();
    let port = go_prog.local_addr().unwrap().port();
    let shared = UdpSocket::bind("127.0.130.5:0").unwrap();
    for n in 0..3 {
        go_prog.send_to(n.to_string().as_bytes(), me).unwrap();
        shared.send_to(n.to_string().as_bytes(), me).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let from_go = format!("127.0.130.3:{port}");
    p.wait_event(|v| v["event"] == "received" && v["addr"] == from_go && v["counter"] == 2);
    let shared_from = format!("127.0.130.5:{}", shared.local_addr().unwrap().port());
    p.wait_event(|v| v["event"] == "received" && v["addr"] == shared_from && v["counter"] == 2);
    let notes = named(&p, "peer_other_port");
    assert_eq!(notes.len(), 1, "said once: {notes:?}");
    assert_eq!(
        (
            notes[0]["peer"].as_str(),
            notes[0]["addr"].as_str(),
            notes[0]["port"].as_u64()
        ),
        (Some(go), Some(from_go.as_str()), Some(10003))
    );
    for v in named(&p, "received") {
        if v["addr"] == from_go {
            assert_eq!(v["from"], go, "{v}");
        } else if v["addr"] == shared_from {
            assert!(v["from"].is_null(), "ambiguous: not a peer: {v}");
        }
    }
    p.term();
    let row = p.summary_of(go);
    assert_eq!((row.received, row.lost), (3, 0), "{row:?}");
    let strangers = p.stranger_rows();
    assert_eq!(strangers.len(), 1, "{strangers:?}");
    assert_eq!(strangers[0]["addr"], shared_from.as_str());

    // The same in text: the note once, the datagram under the peer's name.
    let t = Proc::start_listening("p1 text", &["127.0.130.2:10002", go]);
    go_prog.send_to(b"7", me).unwrap();
    go_prog.send_to(b"8", me).unwrap();
    t.wait_for(|l| l == format!("Received 8 from {go} ({from_go})"));
    assert_eq!(
        t.lines()
            .iter()
            .filter(|l| **l
                == format!("peer {go} sends from {from_go}, not from its port 10003: taken as its own (the only peer at that IP; the course's Go program sends from a random port)"))
            .count(),
        1,
        "{:?}",
        t.lines()
    );
}

/// A peer heard from its own port is not the Go program: another sender on its IP is a
/// stranger, not the peer (its counters would read as the peer's duplicates, or as losses and
/// a restart). Found by an outside attack: 10 counters from the peer and 5 from another port
/// of its host gave "received 15, dup 5".
#[test]
fn another_sender_on_a_live_peers_ip_is_a_stranger() {
    let me = "127.0.134.2:10002";
    let peer = "127.0.134.3:10003";
    let mut p = Proc::start_listening("p1", &["--json", "--interval", "1s", me, peer]);
    let real = UdpSocket::bind(peer).unwrap();
    let other = UdpSocket::bind("127.0.134.3:0").unwrap();
    let from_other = other.local_addr().unwrap().to_string();
    for n in 0..10u64 {
        real.send_to(n.to_string().as_bytes(), me).unwrap();
        if n < 5 {
            other.send_to((500 + n).to_string().as_bytes(), me).unwrap();
        }
        thread::sleep(Duration::from_millis(20));
    }
    p.wait_event(|v| v["event"] == "received" && v["addr"] == peer && v["counter"] == 9);
    p.wait_event(|v| v["event"] == "received" && v["addr"] == from_other && v["counter"] == 504);
    p.term();
    let row = p.summary_of(peer);
    assert_eq!(
        (row.received, row.lost, row.dup, row.reordered, row.restarts),
        (10, 0, 0, 0, 0),
        "{row:?}"
    );
    assert!(named(&p, "peer_other_port").is_empty(), "{:#?}", p.lines());
    let strangers = p.stranger_rows();
    assert_eq!(strangers.len(), 1, "{strangers:?}");
    assert_eq!(strangers[0]["addr"], from_other.as_str());
    assert_eq!(strangers[0]["received"], 5, "{strangers:?}");
}

/// A peer whose own port refuses but whose host sends from another port (the Go program's
/// way): its datagrams are its own, but they do not prove its port is there, so it stays
/// down instead of flapping down/up at each send.
#[test]
fn a_sender_on_a_peers_ip_does_not_bring_a_refusing_peer_up() {
    let me = "127.0.133.2:10002";
    let peer = "127.0.133.3:10003";
    let p = Proc::start_listening("p1", &["--json", "--interval", "200ms", me, peer]);
    p.wait_event(|v| v["event"] == "peer_down" && v["peer"] == peer);
    let go_prog = UdpSocket::bind("127.0.133.3:0").unwrap();
    for n in 0..25 {
        go_prog.send_to(n.to_string().as_bytes(), me).unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    p.wait_event(|v| v["event"] == "received" && v["counter"] == 24);
    assert_eq!(named(&p, "peer_down").len(), 1, "{:#?}", p.lines());
    assert_eq!(named(&p, "peer_up").len(), 0, "{:#?}", p.lines());
    assert_eq!(named(&p, "peer_other_port").len(), 1);
}

/// The peer table has the capacity chosen at start (`--max-peers`, named and discovered
/// peers together): a group with more addresses fills it, says so once, and the summary
/// counts what was left out. A peer that left gives its slot to the next new address, its
/// row printed then.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn a_full_peer_table_is_said_once_and_what_is_left_out_is_counted() {
    let ns = util::Netns::new("full");
    let mut h = String::from("127.0.0.1 localhost\n");
    for n in 2..=10 {
        h.push_str(&format!("127.0.0.{n} grp\n"));
    }
    ns.hosts(&h);
    let mut p = ns.start(
        "p1",
        &[
            "--json",
            "--interval",
            "200ms",
            "--max-peers",
            "3",
            "--discover-every",
            "200ms",
            "127.0.0.2:10002",
            "127.0.0.20:10020",
            "--discover",
            "grp:10002",
        ],
    );
    let start = p.wait_event(|v| v["event"] == "listening");
    assert_eq!(
        (start["discover"].as_str(), start["max_peers"].as_u64()),
        (Some("grp:10002"), Some(3))
    );
    let full = p.wait_event(|v| v["event"] == "peer_table_full");
    assert_eq!(
        (
            full["group"].as_str(),
            full["addr"].as_str(),
            full["max_peers"].as_u64()
        ),
        (Some("grp:10002"), Some("127.0.0.5:10002"), Some(3))
    );
    // Several more lookups: said once, the members stay.
    thread::sleep(Duration::from_secs(2));
    assert_eq!(named(&p, "peer_table_full").len(), 1);
    let joined: Vec<_> = named(&p, "peer_joined")
        .iter()
        .map(|v| v["addr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined, ["127.0.0.3:10002", "127.0.0.4:10002"]);
    assert_eq!(named(&p, "peer_left").len(), 0);
    // .3 goes from the file: once it has left, the first address left out takes its slot,
    // and its row so far is printed (it will not be in the summary).
    h = h.replace("127.0.0.3 grp\n", "");
    ns.hosts(&h);
    let retired = p.wait_event(|v| v["event"] == "peer_retired");
    assert_eq!(
        (
            retired["peer"].as_str(),
            retired["addr"].as_str(),
            retired["left"].as_bool()
        ),
        (Some("grp#1"), Some("127.0.0.3:10002"), Some(true))
    );
    assert!(retired["sent"].as_u64().unwrap() > 0, "{retired}");
    let new = p.wait_event(|v| v["event"] == "peer_joined" && v["peer"] == "grp#3");
    assert_eq!(new["addr"], "127.0.0.5:10002");
    assert_eq!(named(&p, "peer_table_full").len(), 1, "still said once");
    p.term();
    let rows = p.summary_json();
    let names: Vec<&str> = rows.iter().filter_map(|v| v["peer"].as_str()).collect();
    assert_eq!(names, ["127.0.0.20:10020", "grp#3", "grp#2"]);
    let note = p.wait_for(|l| l.contains("discovered address(es) at once were left out"));
    assert!(note.contains("up to 6 discovered address(es)"), "{note}");
}

#[test]
fn discovery_options_are_checked() {
    for (args, says) in [
        (&["--max-peers", "5", ":10002"][..], "go with --discover"),
        (
            &["--discover", "g:1", "--max-peers", "257", ":10002"],
            "--max-peers",
        ),
        (
            &["--discover", "g:1", "--discover-every", "1ms", ":10002"],
            "--discover-every must be at least 100ms",
        ),
        (&["--discover", "peer..x:20002", ":10002"], "empty label"),
        (
            &["--discover", "-peer:20002", ":10002"],
            "starts with a hyphen",
        ),
        (&["--discover", "pe#er:20002", ":10002"], "contains '#'"),
        (
            &["--discover", &format!("{}:20002", "a".repeat(64)), ":10002"],
            "a label of 64 bytes",
        ),
        (
            &[
                "--discover",
                "g:1",
                "--max-peers",
                "1",
                ":10002",
                ":10003",
                ":10004",
            ],
            "--max-peers",
        ),
        (
            &["--discover", "g:1", "--discover", "G:1", ":10002"],
            "twice",
        ),
        (&["--discover", "g", ":10002"], "host:port"),
    ] {
        let err = util::assert_usage_error(args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// Listening on the wildcard address (`0.0.0.0:PORT`, as in a container that does not know
/// its own name), every address delivered to this host is the own one: its interfaces'
/// (10.9.0.2), any other in a local route (10.9.0.7 in the 10.9.0.0/24 given to lo, all of
/// 127/8: a datagram there reaches this very socket). Addresses no peer can have (0.0.0.0,
/// multicast, broadcast, the other family) are left out and said once per group.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn on_the_wildcard_address_the_own_address_is_left_out_of_its_group() {
    let ns = util::Netns::new("wild");
    for args in [
        &["ip", "addr", "add", "10.9.0.2/24", "dev", "lo"][..],
        // A route that is not local: 10.10.0.5 is another host's.
        &["ip", "route", "add", "10.10.0.0/16", "dev", "lo"],
    ] {
        let ok = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{args:?}");
    }
    ns.hosts(
        "127.0.0.1 localhost\n10.9.0.2 grp\n0.0.0.0 grp\n10.9.0.7 grp\n127.0.0.3 grp\n\
         224.0.0.1 grp\n255.255.255.255 grp\n10.10.0.5 grp\n::1 grp\n",
    );
    let p1 = ns.start(
        "p1",
        &[
            "--json",
            "--discover-every",
            "100ms",
            "0.0.0.0:10002",
            "--discover",
            "grp:10002",
        ],
    );
    p1.wait_event(|v| v["event"] == "peer_joined");
    thread::sleep(Duration::from_millis(800));
    let joined = p1.events_named("peer_joined");
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(joined[0]["addr"], "10.10.0.5:10002");
    let unusable = p1.events_named("group_unusable");
    assert_eq!(unusable.len(), 1, "said once: {unusable:?}");
    assert_eq!(
        (
            unusable[0]["ip"].as_str(),
            unusable[0]["why"].as_str(),
            unusable[0]["count"].as_u64()
        ),
        (Some("0.0.0.0"), Some("not unicast"), Some(4)),
        "{unusable:?}"
    );
}

/// A group of the other family than the own socket's never gives a peer: said at start.
#[test]
fn a_group_of_the_other_family_is_said_at_start() {
    let p = Proc::start("p1", &["127.0.131.2:10002", "--discover", "[::1]:10002"]);
    p.wait_for(|l| {
        l == "group [::1]:10002: 1 address(es) left out, no peer can be there: ::1 (other family: IPv6, and this process's socket is IPv4) (said once)"
    });
}

/// A stop while the own name is being looked up at start (up to 3 s, behind a nameserver
/// that never answers) ends the process at once, with a line and status 0, not killed
/// silently by the signal.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn a_stop_while_the_own_name_is_looked_up_is_a_stop() {
    let ns = util::Netns::new("stopstart");
    let _dead = ns.inside(|| UdpSocket::bind("127.0.0.1:53").expect("bind 53"));
    ns.resolv_conf("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n");
    ns.hosts("127.0.0.1 localhost\n");
    let mut p = ns.start("me", &["me:10004", "127.0.0.3:10003"]);
    thread::sleep(Duration::from_millis(500));
    assert!(p.lines().is_empty(), "still looking up: {:?}", p.lines());
    let (took, st) = p.term();
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert!(st.success(), "{st:?}");
    assert!(
        p.stderr().contains("stopped by a signal while starting"),
        "{}",
        p.stderr()
    );
}

/// `process health --self PORT` with the real binary (exit status, stdout).
fn health_self(netns: Option<&str>, args: &[&str]) -> (Option<i32>, String, Duration) {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = std::process::Command::new("ip");
            c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_process")]);
            c
        }
        None => std::process::Command::new(env!("CARGO_BIN_EXE_process")),
    };
    let t = std::time::Instant::now();
    let out = cmd.arg("health").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        t.elapsed(),
    )
}

/// `--self PORT` finds a peer bound to a loopback address other than 127.0.0.1, and to the
/// wildcard address; it fails at once on a port nothing listens on, and says what it probed;
/// ADDR and --self together, or neither, are usage errors.
#[test]
fn health_self_probes_the_own_port_on_loopback() {
    let p = Proc::start_listening("p1", &["127.0.140.2:17140", "127.0.140.3:17141"]);
    let (code, text, _) = health_self(None, &["--self", "17140"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with("port 17140 of this host is healthy: 127.0.140.2:17140 answered ("),
        "{text}"
    );
    let _w = Proc::start_listening("wild", &["0.0.0.0:17142"]);
    let (code, text, _) = health_self(None, &["--self", ":17142"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("127.0.0.1:17142 answered"), "{text}");
    // Nothing on the port: every address refuses, so it fails long before --timeout.
    let (code, text, took) = health_self(None, &["--timeout", "5s", "--self", "17143"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with("port 17143 of this host is not healthy: connection refused")
            && text.contains("(probed 127.0.0.1"),
        "{text}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    // Probes are answered, not printed or counted.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(p.count(|l| l.contains("health")), 0, "{:#?}", p.lines());
    let err = util::assert_usage_error(&["health", "--self", "17140", "127.0.140.2:17140"]);
    assert!(err.contains("not both"), "{err}");
    let err = util::assert_usage_error(&["health"]);
    assert!(err.contains("--self PORT"), "{err}");
    let err = util::assert_usage_error(&["health", "--self", "0"]);
    assert!(err.contains("from 1 to 65535"), "{err}");
}

/// The Swarm case, in a network namespace that looks like a container: an eth0-like veth
/// with its own address, and a nameserver that never answers (a task's own name is not in
/// Swarm's DNS until the task is healthy). `--self` reaches a peer bound to the container's
/// address, and one that fell back to the wildcard address because its own name did not
/// resolve, in milliseconds, without asking DNS; then fails at once when the peer is gone.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn health_self_never_waits_on_dns_in_a_container_like_namespace() {
    let ns = util::Netns::new("selfhealth");
    let ip = |args: &[&str]| {
        let st = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "ip"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    ip(&["addr", "add", "198.18.77.2/24", "dev", "eth0"]);
    ip(&["link", "set", "eth0", "up"]);
    ip(&["link", "set", "eth1", "up"]);
    // A nameserver that never answers: any lookup would wait for its timeout.
    let _dead = ns.inside(|| UdpSocket::bind("127.0.0.1:53").expect("bind 53"));
    ns.resolv_conf("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n");
    ns.hosts("127.0.0.1 localhost\n");

    // Bound to the container's address (as when its own name resolved at start).
    let mut p = ns.start("p1", &["--json", "198.18.77.2:10002", "198.18.77.9:10003"]);
    p.wait_event(|v| v["event"] == "listening");
    let (code, text, took) = health_self(Some(&ns.name), &["--self", "10002"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("198.18.77.2:10002 answered"), "{text}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    println!(
        "health --self, peer on the container's address: {took:?}: {}",
        text.trim()
    );
    // The name-based check of a name only DNS could answer waits for the dead nameserver
    // (bounded by half its --timeout), which `--self` never does.
    let (code, text, _) = health_self(Some(&ns.name), &["--timeout", "1s", "me:10002"]);
    assert!(
        code == Some(1) && text.contains("the name me does not resolve"),
        "{code:?} {text}"
    );
    let (took_stop, st) = p.term();
    assert!(st.success(), "{took_stop:?}");
    let (code, text, took) = health_self(Some(&ns.name), &["--timeout", "2s", "--self", "10002"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(text.contains("198.18.77.2"), "{text}");
    assert!(took < Duration::from_millis(500), "{took:?}");

    // Its own name does not resolve (the Swarm task): it binds the wildcard address after
    // its own bounded wait, and `--self` reaches it through loopback.
    let p = ns.start("me", &["--json", "me:10004", "198.18.77.9:10003"]);
    let ev = p.wait_event(|v| v["event"] == "listening");
    println!("own name behind a dead nameserver: {ev}");
    let (code, text, took) = health_self(Some(&ns.name), &["--self", "10004"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    println!(
        "health --self, peer on the wildcard address: {took:?}: {}",
        text.trim()
    );
}

/// On one host every peer is on 127.0.0.1, so the course's Go program (which sends from a
/// random port) cannot be told by its IP: it shows as a stranger beside its silent row. The
/// summary says what that most likely is, rather than leave the Go peer looking broken.
#[test]
fn a_stranger_on_a_silent_peers_ip_is_named_as_the_likely_go_program() {
    let go = UdpSocket::bind("127.0.38.2:0").unwrap();
    let mut p1 = Proc::start_listening(
        "p1",
        &["127.0.38.2:10002", "127.0.38.2:10003", "127.0.38.2:10004"],
    );
    let p3 = Proc::start_listening(
        "p3",
        &["127.0.38.2:10004", "127.0.38.2:10002", "127.0.38.2:10003"],
    );
    for c in 0..3 {
        go.send_to(c.to_string().as_bytes(), "127.0.38.2:10002")
            .unwrap();
    }
    p1.wait_for(|l| l.starts_with("Received 2 from 127.0.38.2:"));
    p1.wait_for(|l| l.contains("from 127.0.38.2:10004"));
    p1.term();
    let port = go.local_addr().unwrap().port();
    let note = p1.wait_for(|l| l.contains("likely the course's Go program"));
    assert!(
        note.contains(&format!(
            "(not a peer) 127.0.38.2:{port} sent counters from the IP of 127.0.38.2:10003,"
        )),
        "{note}"
    );
    assert!(
        !note.contains("10004"),
        "p3 speaks from its own port: not a candidate: {note}"
    );
    println!("{note}");
    drop(p3);
}

/// A peer that stays down is said again every 30 s while it lasts (the `down` line came once,
/// at start, before a student attached), in one line for all such peers.
#[test]
fn a_peer_still_down_is_said_again_every_30_seconds() {
    let mut p1 = Proc::start_listening(
        "p1",
        &["127.0.39.2:10002", "127.0.39.3:10003", "127.0.39.4:10004"],
    );
    p1.wait_for(|l| l.starts_with("peer 127.0.39.3:10003 down"));
    let line = p1
        .wait_for_within(Duration::from_secs(40), |l| l.contains("still down: "))
        .expect("said again within 30 s");
    assert_eq!(
        line,
        "still down: 127.0.39.3:10003, 127.0.39.4:10004 (said again every 30s while it lasts)"
    );
    p1.term();
}

/// Every peer of a mesh broadcasts at the same phase of the wall clock's second (after its
/// first broadcast, at start), so that what a peer receives comes in one burst a second. Here
/// the second peer starts half a second into a second: its counters from 1 on still arrive
/// at the start of a second, as the first peer's do.
#[test]
fn broadcasts_fall_on_whole_seconds_of_the_wall_clock() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let all = addrs(150, 2);
    let mut p1 = Proc::start_listening("p1", &["--json", &all[0], &all[1]]);
    // Wait until half a second past a whole second.
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    thread::sleep(Duration::from_millis(u64::from((1500 - into) % 1000)));
    let mut p2 = Proc::start_listening("p2", &["--json", &all[1], &all[0]]);
    for p in [&p1, &p2] {
        p.wait_event_named("received", |v| v["counter"].as_u64() >= Some(3));
    }
    for p in [&mut p1, &mut p2] {
        let phases: Vec<u64> = p
            .events_named("received")
            .iter()
            .filter(|v| v["counter"].as_u64() >= Some(1))
            .map(|v| v["ts_us"].as_u64().unwrap() % 1_000_000)
            .collect();
        assert!(phases.len() >= 3, "{phases:?}");
        // Sent on the second, received a moment later (a loaded machine: up to 250 ms).
        assert!(
            phases.iter().all(|&us| us < 250_000),
            "{}: microseconds into the second of each arrival: {phases:?}",
            p.label
        );
        p.term();
    }
}

/// A peer of a 20-peer mesh takes what it receives in a few wake-ups a second, not one per
/// datagram: the broadcasts share a phase and, while 16 or more peers are heard, datagrams
/// are let gather before the sockets are looked at again. Counted with strace: the polls
/// (the quiet ones included) against the datagrams received; and every peer's accounting of
/// every other is whole; and one read per datagram (`recvmmsg` of two: a read that gets one
/// needs no second read to learn that the queue is empty). At 20 peers the shared phase alone
/// already batches (this passes with gathering off); what gathering adds shows at 200 peers on
/// two cores, measured by scripts/bench/resources.sh, not here.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs strace"
)]
fn many_peers_are_taken_several_datagrams_a_wake_up() {
    let all = addrs(151, 20);
    let mut peers: Vec<Proc> = (0..all.len())
        .map(|k| {
            let mut args = vec!["--json", all[k].as_str()];
            args.extend(
                all.iter()
                    .enumerate()
                    .filter(|&(j, _)| j != k)
                    .map(|(_, a)| a.as_str()),
            );
            Proc::start_listening(&format!("p{k}"), &args)
        })
        .collect();
    // Every peer heard from every other for a whole second: gathering is on.
    thread::sleep(Duration::from_secs(3));
    let trace = util::Attached::start(
        peers[0].pid(),
        4,
        "recvmmsg,recvfrom,epoll_wait,epoll_pwait",
    )
    .finish();
    let returns = |name: &str| util::strace_returns(&trace, name);
    let reads = returns("recvmmsg");
    let received: i64 = reads.iter().filter(|&&r| r > 0).sum();
    let empty = reads.iter().filter(|&&r| r < 0).count() as i64;
    // glibc's mio calls epoll_wait, musl's epoll_pwait.
    let polls = (returns("epoll_wait").len() + returns("epoll_pwait").len()) as i64;
    let head: String = trace.lines().take(40).collect::<Vec<_>>().join("\n");
    for p in &mut peers {
        p.term();
    }
    // Taken in batches, nothing is lost from the accounting (strace slowed peer 0 too).
    for (k, p) in peers.iter().enumerate() {
        for (j, q) in all.iter().enumerate().filter(|&(j, _)| j != k) {
            let s = p.summary_of(q);
            assert!(
                s.received >= 3
                    && (s.lost, s.dup, s.reordered, s.restarts, s.foreign) == (0, 0, 0, 0, 0),
                "p{k} about p{j}: {s:?}"
            );
        }
    }
    assert!(received >= 40, "19 datagrams a second for 4 s:\n{head}");
    assert!(
        polls * 2 < received,
        "{polls} polls for {received} datagrams:\n{head}"
    );
    // A read that gets fewer datagrams than it asked for knows the queue is empty: no read
    // comes back empty but after a spurious wake-up.
    assert!(
        returns("recvfrom").is_empty() && empty * 10 <= received,
        "{empty} empty reads for {received} datagrams:\n{head}"
    );
}

/// The loop sleeps on a timer the kernel keeps armed (a timerfd), not on a timeout: a wait
/// with a timeout arms and cancels a kernel timer every time it sleeps (about 5 % of a round
/// trip, `ROUND_TRIP_CPU` in benches/latency.rs). Counted with strace over 300 counters a
/// millisecond apart: the waits that sleep have no timeout, and the timer is set a few times
/// a second, not once a datagram. And every counter is accounted.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs strace"
)]
fn the_loop_waits_on_its_timer_not_with_a_timeout() {
    let all = addrs(155, 2);
    let them = UdpSocket::bind(&all[1]).unwrap();
    let mut p = Proc::start_listening("p", &["--json", &all[0], &all[1]]);
    let tracer = util::Attached::start(p.pid(), 3, "epoll_wait,epoll_pwait,timerfd_settime");
    thread::sleep(Duration::from_millis(500)); // attached
    for n in 0..300u32 {
        them.send_to(n.to_string().as_bytes(), &all[0]).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    let trace = tracer.finish();
    p.term();
    let s = p.summary_of(&all[1]);
    assert_eq!((s.received, s.lost), (300, 0), "{s:?}");
    // "epoll_pwait(3, [{...}], 1030, -1, NULL, 8) = 1" (musl); "epoll_wait(3, [...], 1030, -1) = 1".
    let waits: Vec<(i64, i64)> = trace
        .lines()
        .filter(|l| l.contains("epoll_wait(") || l.contains("epoll_pwait("))
        .filter_map(|l| {
            let (call, ret) = l.rsplit_once(") = ")?;
            let timeout = call.rsplit_once(']')?.1.split(", ").nth(2)?;
            let timeout = timeout.trim_end_matches(')').parse().ok()?;
            Some((timeout, ret.split(' ').next()?.parse().ok()?))
        })
        .collect();
    let sets = trace
        .lines()
        .filter(|l| l.contains("timerfd_settime("))
        .count();
    let head: String = trace.lines().take(40).collect::<Vec<_>>().join("\n");
    let forever = waits.iter().filter(|&&(t, _)| t == -1).count();
    let timed = waits.iter().filter(|&&(t, _)| t > 0).count();
    assert!(forever >= 150, "{forever} waits without a timeout:\n{head}");
    // The exit's wait for a slow reader of stdout may use a timeout, once.
    assert!(timed <= 2, "{timed} waits with a timeout:\n{head}");
    // About a second of traffic: the broadcast, the once-a-second checks, the start.
    assert!(sets <= 30, "the timer was set {sets} times:\n{head}");
}

/// A process held while it starts (a 200-peer mesh loading both cores held late starters for
/// seconds) loses nothing of what its peers send meanwhile: its server socket is bound only
/// once its peers' sockets are connected, so until then they are refused, as by a process
/// not started, instead of queueing on one socket for all of them, where the queue
/// overflowed. Here strace holds every bind for 10 ms (2 s for 200 peers) while the 200 peers
/// send 25 counters a second each: 5,000 a second, more than the server socket's receive
/// buffer holds in 2 s (at most 2 MiB with `net.core.rmem_max` at 4 MiB, as here).
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs strace"
)]
fn a_process_held_while_it_starts_loses_nothing_its_peers_send() {
    let strace = util::strace();
    let all = addrs(156, 201);
    let them: Vec<UdpSocket> = all[1..]
        .iter()
        .map(|a| {
            let s = UdpSocket::bind(a).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut args = vec![
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=bind",
        "-e",
        "inject=bind:delay_enter=10000",
        env!("CARGO_BIN_EXE_process"),
        "--json",
    ];
    args.extend(all.iter().map(String::as_str));
    let mut p = Proc::start_cmd("p", strace, &args);
    let t0 = std::time::Instant::now();
    let mut sent = vec![0u32; them.len()];
    let round = |sent: &mut Vec<u32>| {
        for (k, s) in them.iter().enumerate() {
            let _ = s.send_to(sent[k].to_string().as_bytes(), &all[0]);
            sent[k] += 1;
        }
        thread::sleep(Duration::from_millis(40));
    };
    // Until it has listened for a while (it starts after about 2 s), and 2.5 s at least.
    let mut listened = None;
    while (t0.elapsed() < Duration::from_millis(2500)
        || listened.is_none_or(|t: std::time::Instant| t.elapsed() < Duration::from_millis(300)))
        && t0.elapsed() < PATIENCE
    {
        round(&mut sent);
        if listened.is_none() && !p.events_named("listening").is_empty() {
            listened = Some(std::time::Instant::now());
        }
    }
    thread::sleep(Duration::from_millis(200));
    // strace and the process under it are one process group: the signal goes to both.
    let group = format!("-{}", p.pid());
    let killed = std::process::Command::new("kill")
        .args(["-TERM", "--", &group])
        .status();
    assert!(killed.unwrap().success());
    p.wait_exit(PATIENCE).expect("exits after SIGTERM");
    for (k, a) in all[1..].iter().enumerate() {
        let s = p.summary_of(a);
        assert!(s.received >= 5, "{} sent: {s:?}", sent[k]);
        assert_eq!((s.lost, s.dup), (0, 0), "{} sent: {s:?}", sent[k]);
    }
}

/// A loop that was stopped (SIGSTOP: a paused container, a suspended laptop) skips the
/// broadcasts it missed instead of sending them in a burst, and says once how late it was:
/// the broadcast due when it stopped, sent on its return, `behind` late, and the ticks after it
/// that fell in the stop skipped. So the figures agree: skipped × interval ≤ behind <
/// (skipped + 1) × interval. Its peer's counters from it stay contiguous (nothing skipped was
/// ever numbered).
#[test]
fn a_stopped_loop_says_how_late_it_was_and_skips_what_it_missed() {
    let all = addrs(157, 2);
    let mut p1 = start_peer("p1", "500ms", &rotation(&all, 0));
    let mut p2 = start_peer("p2", "500ms", &rotation(&all, 1));
    p2.wait_for(|_| p2.counters_from(&all[0]).len() >= 3);
    p1.signal("STOP");
    thread::sleep(Duration::from_millis(2300));
    p1.signal("CONT");
    let line = p1.wait_for(|l| l.contains("fell behind by"));
    // "the loop fell behind by 2.1s: skipping 4 broadcast(s) (said once)"
    let figures = line
        .strip_prefix("the loop fell behind by ")
        .and_then(|r| r.split_once(": skipping "))
        .and_then(|(d, r)| Some((d, r.split_once(' ')?.0)));
    let Some((behind, skipped)) = figures else {
        panic!("unexpected notice: {line:?}")
    };
    let ms = match behind.strip_suffix("ms") {
        Some(n) => n.parse::<f64>().unwrap(),
        None => behind.strip_suffix('s').unwrap().parse::<f64>().unwrap() * 1000.0,
    };
    let skipped: f64 = skipped.parse().unwrap();
    assert!(skipped >= 1.0, "{line}");
    assert!(
        skipped * 500.0 <= ms && ms < (skipped + 1.0) * 500.0,
        "late by {ms} ms yet {skipped} broadcasts of 500 ms skipped: {line}"
    );
    let before = p2.counters_from(&all[0]).len();
    p2.wait_for(|_| p2.counters_from(&all[0]).len() >= before + 3);
    assert_contiguous("p2 from p1", &p2.counters_from(&all[0]));
    assert_eq!(p1.count(|l| l.contains("fell behind")), 1, "said once");
    p1.term();
    p2.term();
}

/// A goodbye (`peerlab:bye`) says that a peer stops; from a sender that is not a peer it says
/// nothing (a process the shared resource was not given sends one too), and is counted in a
/// line at exit, not dropped unseen.
#[test]
fn a_goodbye_from_a_stranger_is_counted_at_exit() {
    let all = addrs(158, 2);
    let peer = UdpSocket::bind(&all[1]).unwrap();
    let stranger = UdpSocket::bind("127.0.158.9:40000").unwrap();
    let mut p1 = Proc::start_listening("p1", &[&all[0], &all[1]]);
    peer.send_to(b"0", &all[0]).unwrap();
    p1.wait_for(|_| p1.counters_from(&all[1]).len() == 1);
    stranger.send_to(b"peerlab:bye", &all[0]).unwrap();
    stranger.send_to(b"peerlab:bye", &all[0]).unwrap();
    // After them, so that the two were read before the stop.
    peer.send_to(b"1", &all[0]).unwrap();
    p1.wait_for(|_| p1.counters_from(&all[1]).len() == 2);
    p1.term();
    p1.wait_for(|l| l == "0 health probe(s) answered, 2 goodbye(s) from non-peers");
    assert_eq!(p1.count(|l| l.contains("down")), 0, "{:#?}", p1.lines());
}

/// A process that cannot listen says what stood in the way: the address's lock held by
/// another process (naming the lock, so that whoever holds it can be found), or, for an
/// address that is not this host's, the port on the wildcard address it fell back to (it
/// said the own address's port was in use).
#[test]
fn a_process_that_cannot_listen_says_what_it_tried() {
    use std::os::linux::net::SocketAddrExt;
    let name =
        std::os::unix::net::SocketAddr::from_abstract_name(b"peerlab/127.0.159.2:10002").unwrap();
    let _held = std::os::unix::net::UnixDatagram::bind_addr(&name).unwrap();
    let mut p = Proc::start("p", &["127.0.159.2:10002"]);
    assert_eq!(p.wait_exit(PATIENCE).and_then(|s| s.code()), Some(1));
    assert!(
        p.stderr().contains(
            "cannot listen on 127.0.159.2:10002: already in use by another process (it holds @peerlab/127.0.159.2:10002: see `ss -xlp`)"
        ),
        "{}",
        p.stderr()
    );
    // The port taken on one address of this host: the wildcard address cannot have it.
    let _taken = UdpSocket::bind("127.0.159.4:10159").unwrap();
    let mut p = Proc::start("p", &["198.51.100.7:10159"]);
    assert_eq!(p.wait_exit(PATIENCE).and_then(|s| s.code()), Some(1));
    assert!(
        p.stderr()
            .contains("cannot listen on 0.0.0.0:10159: the port is already in use"),
        "{}",
        p.stderr()
    );
}
