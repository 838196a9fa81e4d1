//! What a student sees in Lab 1 when something is missing: who has not replied, a resource
//! that is down, no keyboard, commands from a file. Real processes on 127.0.5x.x.

mod util;

use std::time::{Duration, Instant};

use util::{addrs, Proc, PATIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_process");

/// While WANTED, a line every few seconds says, for each process whose REPLY is missing,
/// why: deferred by it (and what it waits for, from its DEFERRED), or no answer yet, and
/// whether it is down. A deferred request is not resent at the fast pace.
#[test]
fn a_waiting_process_says_who_has_not_replied_and_why() {
    let all = addrs(51, 3);
    // The resource and process 3 are not running: 3 is down; 2 holds the CS for 5 s.
    let args = |id: &'static str| {
        vec![
            "mutex",
            "--json",
            "--cs-time",
            "5s",
            "--resource",
            "127.0.51.1:10001",
            id,
            &all[0],
            &all[1],
            &all[2],
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let (a1, a2) = (args("1"), args("2"));
    fn v(a: &[String]) -> Vec<&str> {
        a.iter().map(String::as_str).collect()
    }
    let mut p1 = Proc::start_piped("p1", BIN, &v(&a1));
    let mut p2 = Proc::start_piped("p2", BIN, &v(&a2));
    p1.wait_event_named("mutex_listening", |_| true);
    p2.wait_event_named("mutex_listening", |_| true);
    p2.type_line("x");
    // p2 needs 1's REPLY and 3's: 3 is down, so p2 does not enter; p1 then asks with a later
    // T and is deferred by p2 (its T comes first).
    p2.wait_event_named("requested", |_| true);
    p1.wait_event_named("request", |v| v["from"] == 2);
    p1.type_line("x");
    let w = p1.wait_event_named("still_waiting", |v| {
        v["deferred_by"] == serde_json::json!([2])
    });
    assert_eq!(w["missing"], serde_json::json!([2, 3]), "{w}");
    assert_eq!(w["down"], serde_json::json!([3]), "{w}");
    // Its text form, from the same fields.
    let d = p1.wait_event_named("deferred_by", |v| v["from"] == 2);
    assert_eq!(d["why"], "first", "{d}");
    // The reason in the waiting line's JSON too: 2's own T, a number.
    assert_eq!(w["deferred_why"], serde_json::json!([d["their_t"]]), "{w}");
    // Over the wait (3 s) the REQUEST went to 2 at most 4 times (the first, and a slow ask
    // every second); to 3, which never answers, at the fast pace (after 100, 200, 400 ms ...,
    // backing off to 1 s): the deferral saves the resends of the first second.
    let to = |j: u64| {
        p1.events_named("sent")
            .iter()
            .filter(|v| v["kind"] == "REQUEST" && v["to"] == j)
            .count()
    };
    assert!(to(2) <= 4, "{} REQUESTs to 2", to(2));
    assert!(
        to(3) >= to(2) + 2,
        "{} REQUESTs to 3, {} to 2",
        to(3),
        to(2)
    );
}

/// The waiting line in text, with each of its reasons.
#[test]
fn the_waiting_line_names_the_reasons() {
    let all = addrs(77, 2);
    let a = |id: &'static str| {
        vec![
            "mutex",
            "--cs-time",
            "4s",
            "--resource",
            "127.0.77.1:10001",
            id,
            all[0].as_str(),
            all[1].as_str(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let (a1, a2) = (a("1"), a("2"));
    fn v(a: &[String]) -> Vec<&str> {
        a.iter().map(String::as_str).collect()
    }
    let mut p1 = Proc::start_piped("p1", BIN, &v(&a1));
    let mut p2 = Proc::start_piped("p2", BIN, &v(&a2));
    p1.wait_for(|l| l.contains("listening on"));
    p2.wait_for(|l| l.contains("listening on"));
    p1.type_line("x");
    p1.wait_for(|l| l.contains("Entrei na CS"));
    p2.type_line("x");
    let line = p2.wait_for(|l| l.contains("still waiting for T="));
    assert!(
        line.ends_with(": deferred by 1 (it holds the CS)"),
        "{line}"
    );
    p1.wait_for(|l| l.contains("Sai da CS"));
    p2.wait_for(|l| l.contains("Entrei na CS"));
}

/// With the resource down, "connection refused" ends the wait for its ACK at once: a CS takes
/// about its CS time, not CS time plus twice the resource's patience (3 s each).
#[test]
fn a_resource_that_is_down_does_not_slow_the_cs() {
    let all = addrs(52, 2);
    let args = |id: &str| {
        vec![
            "mutex".to_string(),
            "--cs-time".into(),
            "300ms".into(),
            "--resource".into(),
            "127.0.52.1:10001".into(),
            id.into(),
            all[0].clone(),
            all[1].clone(),
        ]
    };
    let a1 = args("1");
    let a2 = args("2");
    let mut p1 = Proc::start_piped(
        "p1",
        BIN,
        &a1.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let p2 = Proc::start_piped(
        "p2",
        BIN,
        &a2.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    p1.wait_for(|l| l.contains("listening on"));
    p2.wait_for(|l| l.contains("listening on"));
    // Let both learn that nothing listens at the resource's address.
    std::thread::sleep(Duration::from_millis(300));
    p1.type_line("x");
    p1.wait_for(|l| l.contains("Entrei na CS"));
    let t = Instant::now();
    p1.wait_for(|l| l.contains("released:"));
    let cs = t.elapsed();
    assert!(
        cs < Duration::from_millis(2500),
        "the CS took {cs:?} with the resource down (300 ms asked)"
    );
    assert!(p1.count(|l| l.contains("did not acknowledge")) >= 1);
}

/// A resource not heard is said again every 30 s while it lasts (the "did not acknowledge"
/// line came once, at start, before a student attached), and no more once it answers.
#[test]
fn a_resource_not_heard_is_said_again_every_30_seconds_until_it_answers() {
    let all = addrs(76, 2);
    let res = "127.0.76.1:10001";
    let p1 = Proc::start_piped(
        "p1",
        BIN,
        &["mutex", "--resource", res, "1", &all[0], &all[1]],
    );
    p1.wait_for(|l| l.contains("did not acknowledge HELLO"));
    let line = p1
        .wait_for_within(Duration::from_secs(40), |l| {
            l.contains("has still not answered")
        })
        .expect("said again within 30 s");
    assert!(
        line.starts_with(&format!("the shared resource {res} has still not answered (given up "))
            && line.ends_with("ago): is it running (`process shared-resource`, started before the processes) and is --resource its address? Said again every 30s while it lasts"),
        "{line}"
    );
    // Started now, it hears the HELLO that is still resent (slowly): not said again.
    let resource = Proc::start_cmd("shared", BIN, &["shared-resource", "--listen", res]);
    resource.wait_for(|l| l.starts_with("shared resource: process 1 started"));
    let said = p1.count(|l| l.contains("has still not answered"));
    std::thread::sleep(Duration::from_secs(32));
    assert_eq!(
        p1.count(|l| l.contains("has still not answered")),
        said,
        "{:#?}",
        p1.lines()
    );
}

/// Stdin at /dev/null: one clear line that nothing can be typed, mentioning --auto.
#[test]
fn no_keyboard_is_said_clearly() {
    let all = addrs(53, 2);
    let p = Proc::start_cmd(
        "p1",
        "sh",
        &[
            "-c",
            &format!(
                "exec {BIN} mutex --resource 127.0.53.1:10001 1 {} {} </dev/null",
                all[0], all[1]
            ),
        ],
    );
    let l = p.wait_for(|l| l.starts_with("no keyboard"));
    assert!(l.contains("--auto"), "{l}");
}

/// A file on stdin is a keyboard too: its lines are typed at start.
#[test]
fn a_file_on_stdin_is_typed() {
    let all = addrs(54, 1);
    let dir = std::env::temp_dir().join(format!("peerlab-stdin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.txt");
    std::fs::write(&file, "1\nx\n").unwrap();
    let p = Proc::start_cmd(
        "p1",
        "sh",
        &[
            "-c",
            &format!(
                "exec {BIN} mutex --resource 127.0.54.1:10001 1 {} < {}",
                all[0],
                file.display()
            ),
        ],
    );
    p.wait_for(|l| l.contains("internal event"));
    let l = p.wait_for(|l| l.contains("requesting the CS with T=2"));
    assert!(l.contains("no other process to ask"), "{l}");
    p.wait_for_within(PATIENCE, |l| l.contains("Entrei na CS"))
        .expect("alone, it enters at once");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-h` is `--help` in every mode: usage on stdout, status 0.
#[test]
fn dash_h_is_help() {
    for args in [
        &["-h"][..],
        &["mutex", "-h"],
        &["shared-resource", "-h"],
        &["health", "-h"],
    ] {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("Usage: process"), "{args:?}: {text}");
    }
}

/// Waits for the exact line `want` (a golden line: the text form of an event whose fields
/// tests/lab.rs checks in JSON).
fn line(p: &Proc, want: &str) {
    p.wait_for(|l| l == want);
}

/// A line that starts with `head` and, after a part that varies (a duration, an
/// incarnation), ends with `tail`.
fn line_around(p: &Proc, head: &str, tail: &str) -> String {
    p.wait_for(|l| l.starts_with(head) && l.ends_with(tail) && l.len() > head.len() + tail.len())
}

/// The course's lines, as a student's terminal shows them, in a run of two processes and the
/// resource: the start lines, an internal event, a request and its REPLY, `Entrei na CS` and
/// `Sai da CS`, `x ignorado`, the hint, a deferred REQUEST, refused datagrams (escaped), the
/// resource's uses and both summaries.
#[test]
fn the_course_lines_of_a_run() {
    let all = addrs(55, 2);
    let res = "127.0.55.1:10001";
    let mut resource = Proc::start_cmd("shared", BIN, &["shared-resource", "--listen", res]);
    line(&resource, &format!("shared resource listening on {res}"));
    let start = |id: &str| {
        let a = [
            "mutex",
            "--resource",
            res,
            "--cs-time",
            "1s",
            id,
            &all[0],
            &all[1],
        ];
        Proc::start_piped(&format!("p{id}"), BIN, &a)
    };
    let mut p1 = start("1");
    let mut p2 = start("2");
    for (p, id) in [(&p1, 1), (&p2, 2)] {
        line(
            p,
            &format!(
                "process {id} of 2 listening on {}; shared resource {res}; CS time 1s; type x to ask for the CS",
                all[id - 1]
            ),
        );
    }
    p1.type_line("1");
    line(&p1, "[clock=1 RELEASED] internal event");
    p1.type_line("x");
    line(
        &p1,
        "[clock=2 WANTED] requesting the CS with T=2: waiting for 1 reply",
    );
    line(&p2, "[clock=3 RELEASED] REQUEST from 1 (T=2): replied");
    line(&p1, "[clock=4 WANTED] REPLY from 2 (1/1)");
    line_around(&p1, "[clock=4 HELD] Entrei na CS (T=2, waited ", ")");
    line(
        &resource,
        "shared resource: process 1 entered (T=2, clock=4): \"Oi\"",
    );
    p1.type_line("x");
    line(&p1, "[clock=4 HELD] x ignorado");
    p1.type_line("hello\x1b[2J");
    line(
        &p1,
        "\"hello\\x1b[2J\"? type x to ask for the critical section, or 1 for an internal event",
    );
    p2.type_line("x");
    line(
        &p2,
        "[clock=4 WANTED] requesting the CS with T=4: waiting for 1 reply",
    );
    line(&p1, "[clock=5 HELD] REQUEST from 2 (T=4): deferred");
    // The deferral is acknowledged: p2 knows why it waits, and its clock does not move.
    line(&p2, "[clock=4 WANTED] deferred by 1 (T=4): it holds the CS");
    let s = std::net::UdpSocket::bind("127.0.55.9:0").unwrap();
    let src = s.local_addr().unwrap();
    for bad in [
        &b"REQUEST 9 1 1"[..],
        b"ENTER 2 1 1 1 hi",
        b"garbage\x1b[31m",
        b"REPLY 2 5",
    ] {
        s.send_to(bad, &all[0]).unwrap();
    }
    s.send_to(b"\xff\xfe junk", res).unwrap();
    for want in [
        "rejected from SRC: \"REQUEST 9 1 1\" (not from a configured process's address, 13 bytes)",
        "rejected from SRC: \"ENTER 2 1 1 1 hi\" (meant for the shared resource, 16 bytes)",
        "ignored from SRC: \"garbage\\x1b[31m\" (not printable ASCII, 12 bytes)",
        "ignored from SRC: \"REPLY 2 5\" (wrong number of fields, 9 bytes)",
    ] {
        line(&p1, &want.replace("SRC", &src.to_string()));
    }
    line(
        &resource,
        &format!("ignored from {src}: \"\\xff\\xfe junk\" (not printable ASCII, 7 bytes)"),
    );
    line(&p1, "[clock=5 HELD] Sai da CS (T=2)");
    line(
        &p1,
        "[clock=5 RELEASED] released: answered 1 deferred request(s)",
    );
    line_around(
        &resource,
        "shared resource: process 1 left (T=2, clock=5) after ",
        "s",
    );
    line(&p2, "[clock=6 WANTED] REPLY from 1 (1/1)");
    line_around(&p2, "[clock=6 HELD] Entrei na CS (T=4, waited ", ")");
    line(&p2, "[clock=6 HELD] Sai da CS (T=4)");
    line(
        &p2,
        "[clock=6 RELEASED] released: answered 0 deferred request(s)",
    );
    line_around(
        &resource,
        "shared resource: process 2 left (T=4, clock=6) after ",
        "s",
    );
    for p in [&mut p1, &mut p2] {
        let (_, st) = p.term();
        assert!(st.success(), "{}: {st}", p.label);
    }
    let s1 = line_around(
        &p1,
        "process 1 summary after ",
        " peer(s) down at exit, 1 DEFERRED sent",
    );
    for part in [
        ": 1 requests, 1 CS entries, 2 REQUEST/REPLY sent (",
        " per entry), ",
        " HELLO/ENTER/EXIT sent (",
        " duplicates ignored, 2 malformed, 2 rejected, wait worst ",
        " average ",
        ", final clock 5 RELEASED, ",
    ] {
        assert!(s1.contains(part), "{part:?} not in: {s1}");
    }
    resource.term();
    let s = line_around(
        &resource,
        "shared resource summary after ",
        ", 1 malformed datagrams, 0 rejected",
    );
    assert!(
        s.contains(": 2 entries, 0 violations, ")
            && s.contains(" exits without entry, 0 restarts (0 inside the CS), 0 stale"),
        "{s}"
    );
}

/// The lines of restarts: a process that learns another restarted and asks it again
/// (`regranted`), and the resource that learns a process died inside the CS.
#[test]
fn the_lines_of_restarts() {
    let all = addrs(56, 3);
    let res = "127.0.56.1:10001";
    let resource = Proc::start_cmd("shared", BIN, &["shared-resource", "--listen", res]);
    line(&resource, &format!("shared resource listening on {res}"));
    let start = |id: usize, cs: &str| {
        let id_s = id.to_string();
        let a = [
            "mutex",
            "--resource",
            res,
            "--cs-time",
            cs,
            &id_s,
            &all[0],
            &all[1],
            &all[2],
        ];
        let p = Proc::start_piped(&format!("p{id}"), BIN, &a);
        p.wait_for(|l| l.starts_with(&format!("process {id} of 3 listening on ")));
        p
    };
    let mut p1 = start(1, "60s");
    let mut p2 = start(2, "300ms");
    let mut p3 = start(3, "300ms");
    p1.type_line("x");
    p1.wait_for(|l| l.contains("HELD] Entrei na CS (T=1,"));
    line_around(
        &resource,
        "shared resource: process 1 started (incarnation ",
        ")",
    );
    p2.type_line("x");
    p2.wait_for(|l| l.ends_with("WANTED] REPLY from 3 (1/2)"));
    p1.wait_for(|l| l.ends_with("HELD] REQUEST from 2 (T=3): deferred"));
    // p3 restarts and asks: p2 learns it from the new incarnation, and asks it again.
    p3.kill9();
    let mut p3 = start(3, "300ms");
    p3.type_line("x");
    let l = p2.wait_for(|l| l.contains("] process 3 restarted"));
    assert!(l.starts_with("[clock="), "{l}");
    assert!(
        l.ends_with(" WANTED] process 3 restarted: what it asked before is forgotten; its grant to our request is void, asked again (regranted)"),
        "{l}"
    );
    // p1 dies inside the CS and comes back: the resource says the CS is free.
    p1.kill9();
    let _p1 = start(1, "300ms");
    let l = resource.wait_for(|l| l.contains("died inside"));
    let tail = ": its previous incarnation died inside the CS (T=1) without EXIT; the CS is free";
    assert!(
        l.starts_with("shared resource: process 1 started (incarnation ") && l.ends_with(tail),
        "{l}"
    );
    p2.wait_for(|l| l.contains("HELD] Entrei na CS"));
}
