//! Lab 1 with real processes on loopback: the course's three report scenarios, the keyboard
//! (from a pipe, a terminal and /dev/null), bad input, and a 30 s soak with 20% of datagrams
//! dropped for real by iptables in a network namespace.
//!
//! Every process here runs with `--json`, and the tests wait on its events and read their
//! fields (docs/lab1.md's table; src/lab1/events.rs). The text form of the same lines (the
//! course's `Entrei na CS`, the hint, the summaries) has its golden tests in tests/lab_lines.rs.

mod util;

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{addrs, num, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_process");

/// A core event logged while HELD (`Entrei na CS`, a deferred REQUEST, ...).
fn held(v: &Value) -> bool {
    v["state"] == "HELD"
}

/// `shared-resource --json ARGS...`, once it listens.
fn start_resource(args: &[&str]) -> Proc {
    let mut a = vec!["shared-resource", "--json"];
    a.extend_from_slice(args);
    let p = Proc::start_cmd("shared", BIN, &a);
    if p.wait_event_named_within(Duration::from_secs(10), "resource_listening", |_| true)
        .is_none()
    {
        // Who holds the address (CI saw "already in use" once, for an address only one test
        // uses): the sockets and their processes, for the next time.
        let ss = std::process::Command::new("ss").args(["-uanp"]).output();
        let ss = ss.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        panic!(
            "the shared resource did not start: {}
{:#?}
UDP sockets now:
{}",
            p.stderr(),
            p.lines(),
            ss.unwrap_or_default()
        );
    }
    p
}

/// `process mutex --json ARGS...` as process `id` of `n`, stdin a pipe, once it listens (so
/// an address it took is its own, not a previous life's).
fn start_process(id: usize, n: usize, args: &[&str]) -> Proc {
    let mut a = vec!["mutex", "--json"];
    a.extend_from_slice(args);
    let p = Proc::start_piped(&format!("p{id}"), BIN, &a);
    p.wait_event_named("mutex_listening", |v| v["id"] == id && v["n"] == n);
    p
}

/// The resource's `resource_enter` events as (id, T), in order.
fn entries_of(resource: &Proc) -> Vec<(u16, u64)> {
    resource
        .events_named("resource_enter")
        .iter()
        .map(|v| (num(v, "id") as u16, num(v, "t")))
        .collect()
}

/// A resource and `n` processes on 127.0.`net`.x, each reading its stdin from a pipe.
struct Lab {
    resource: Proc,
    ps: Vec<Proc>,
}

impl Lab {
    fn start(net: u8, n: usize, extra: &[&str]) -> Lab {
        let res = format!("127.0.{net}.1:10001");
        let resource = start_resource(&["--listen", &res]);
        let all = addrs(net, n);
        let ps = (1..=n)
            .map(|id| {
                let id_s = id.to_string();
                let mut a = vec!["--resource", &res, "--cs-time", "700ms"];
                a.extend_from_slice(extra);
                a.push(&id_s);
                a.extend(all.iter().map(String::as_str));
                start_process(id, n, &a)
            })
            .collect();
        Lab { resource, ps }
    }

    fn p(&mut self, id: usize) -> &mut Proc {
        &mut self.ps[id - 1]
    }

    /// The resource's entries as (id, T), in order.
    fn entries(&self) -> Vec<(u16, u64)> {
        entries_of(&self.resource)
    }

    fn no_violations(&self) {
        assert_eq!(
            self.resource.events_named("violation").len(),
            0,
            "{:#?}",
            self.resource.lines()
        );
    }
}

#[test]
fn scenario_1_one_uses_the_cs_then_another() {
    let mut lab = Lab::start(20, 3, &[]);
    lab.p(1).type_line("x");
    lab.p(1)
        .wait_event_named("entered", |v| held(v) && v["t"] == 1 && v["clock"].is_u64());
    lab.p(1)
        .wait_event_named("released", |v| v["state"] == "RELEASED");
    lab.p(2).type_line("x");
    lab.p(2).wait_event_named("entered", held);
    lab.p(2)
        .wait_event_named("released", |v| v["state"] == "RELEASED");
    lab.resource
        .wait_event_named("resource_exit", |v| v["id"] == 2);
    // P1: T=1; P2 and P3 went to 2 replying; P1 went to 3, then 4. P2 then asks with T=3.
    assert_eq!(lab.entries(), [(1, 1), (2, 3)]);
    lab.no_violations();
    // The resource reported who, with which clock and text.
    lab.resource.wait_event_named("resource_enter", |v| {
        v["id"] == 1 && v["t"] == 1 && v["clock"] == 4 && v["text"] == "Oi"
    });
}

#[test]
fn scenario_2_a_request_while_another_is_inside_is_deferred() {
    let mut lab = Lab::start(21, 3, &[]);
    lab.p(1).type_line("x");
    lab.p(1).wait_event_named("entered", held);
    lab.p(2).type_line("x");
    lab.p(1).wait_event_named("request", |v| {
        held(v) && v["from"] == 2 && v["t"].is_u64() && v["answer"] == "deferred"
    });
    lab.p(2).wait_event_named("entered", held);
    // P2 entered only after P1 left and answered it.
    let left = lab.ps[0].index_of_event("left", |_| true);
    let answered = lab.ps[0].index_of_event("released", |v| v["replied"] == 1);
    assert!(left < answered);
    lab.resource
        .wait_event_named("resource_enter", |v| v["id"] == 2);
    let p1_left = lab
        .resource
        .index_of_event("resource_exit", |v| v["id"] == 1);
    let p2_in = lab
        .resource
        .index_of_event("resource_enter", |v| v["id"] == 2);
    assert!(p1_left < p2_in, "{:#?}", lab.resource.lines());
    lab.no_violations();
}

#[test]
fn scenario_3_concurrent_requests_the_earlier_timestamp_wins() {
    let mut lab = Lab::start(22, 3, &[]);
    // P2 skews its clock with internal events: its request will carry T=4.
    for _ in 0..3 {
        lab.p(2).type_line("2");
    }
    lab.p(2)
        .wait_event_named("internal", |v| v["clock"] == 3 && v["state"] == "RELEASED");
    // Both ask at once: P3 with T=1 beats P2 with T=4, though 3 > 2. (P3 types first: had
    // P2's REQUEST reached P3 before P3's own `x`, P3 would rightly have replied.)
    lab.p(3).type_line("x");
    lab.p(2).type_line("x");
    lab.resource
        .wait_event_named("resource_enter", |v| v["id"] == 2);
    let e = lab.entries();
    assert_eq!(e[0].0, 3, "{e:?}");
    assert_eq!(e[1].0, 2, "{e:?}");
    assert!(e[0].1 < e[1].1);
    lab.no_violations();
}

/// A tie needs both to ask before hearing the other, a race on a loaded machine (p2 may read
/// p3's REQUEST before its own `x`, and rightly reply): a run that lost it (a `requested`
/// event with T other than 1) is run again, up to 5 times.
#[test]
fn a_tie_on_t_goes_to_the_smaller_id() {
    for attempt in 1..=5 {
        let mut lab = Lab::start(23, 3, &[]);
        lab.p(3).type_line("x");
        lab.p(2).type_line("x");
        let t2 = num(&lab.p(2).wait_event_named("requested", |_| true), "t");
        let t3 = num(&lab.p(3).wait_event_named("requested", |_| true), "t");
        if (t2, t3) != (1, 1) {
            eprintln!("run {attempt}: p2 asked with T={t2}, p3 with T={t3}: no tie, again");
            continue;
        }
        lab.resource
            .wait_event_named("resource_enter", |v| v["id"] == 3);
        assert_eq!(lab.entries(), [(2, 1), (3, 1)]);
        lab.no_violations();
        return;
    }
    panic!("in 5 runs, p2 and p3 never both asked before hearing the other");
}

#[test]
fn keyboard_x_while_busy_own_id_and_anything_else() {
    let mut lab = Lab::start(24, 2, &[]);
    let p = lab.p(1);
    p.type_line("1");
    p.wait_event_named("internal", |v| v["clock"] == 1 && v["state"] == "RELEASED");
    p.type_line("x");
    p.wait_event_named("entered", held);
    p.type_line("x");
    p.wait_event_named("ignored_key", held);
    // The hint's text (escaped) is pinned in tests/lab_lines.rs.
    p.type_line("hello\x1b[2J");
    p.wait_event_named("hint", |v| v["input"] == "hello\x1b[2J" && v["id"] == 1);
    p.type_line("");
    // End of input: the process goes on (and still answers the others).
    p.close_stdin();
    lab.p(1)
        .wait_event_named("released", |v| v["state"] == "RELEASED");
    lab.p(2).type_line("x");
    lab.p(2).wait_event_named("entered", held);
    lab.no_violations();
}

#[test]
fn a_last_line_without_newline_counts_at_end_of_input() {
    // `printf x | process mutex ...`
    let mut lab = Lab::start(29, 2, &[]);
    lab.p(1).type_raw("x");
    lab.p(1).close_stdin();
    lab.p(1).wait_event_named("entered", held);
}

#[test]
fn without_a_keyboard_auto_still_works() {
    // stdin is /dev/null: not pollable, so no keyboard; --auto drives the requests.
    let res = "127.0.25.1:10001";
    let resource = start_resource(&["--listen", res]);
    let all = addrs(25, 2);
    let ps: Vec<Proc> = (1..=2)
        .map(|id| {
            Proc::start_cmd(
                &format!("p{id}"),
                BIN,
                &[
                    "mutex",
                    "--json",
                    "--resource",
                    res,
                    "--cs-time",
                    "100ms",
                    "--auto",
                    "300ms",
                    &id.to_string(),
                    &all[0],
                    &all[1],
                ],
            )
        })
        .collect();
    for p in &ps {
        p.wait_event_named("notice", |v| {
            v["text"]
                == "no keyboard (stdin is /dev/null or closed): the CS is asked for automatically (--auto)"
        });
    }
    resource.wait_event_named("resource_enter", |v| v["id"] == 1);
    resource.wait_event_named("resource_enter", |v| v["id"] == 2);
    assert_eq!(resource.events_named("violation").len(), 0);
}

#[test]
fn keyboard_on_a_terminal() {
    // script(1) gives the process a pseudo-terminal, as `docker attach` does.
    let res = "127.0.26.1:10001";
    let resource = start_resource(&["--listen", res]);
    let all = addrs(26, 2);
    let cmd = |id: u16| {
        format!(
            "{BIN} mutex --json --resource {res} --cs-time 200ms {id} {} {}",
            all[0], all[1]
        )
    };
    let mut p1 = Proc::start_piped("p1 on a tty", "script", &["-qfec", &cmd(1), "/dev/null"]);
    // Through a shell, which forks it: Drop must stop it too (util kills the process group).
    let p2 = Proc::start_cmd("p2", "sh", &["-c", &cmd(2)]);
    p1.wait_event_named("mutex_listening", |_| true);
    // p2 must be ours: p1's REPLY has to come from it, not from whatever holds its address.
    p2.wait_event_named("mutex_listening", |v| v["id"] == 2 && v["n"] == 2);
    p1.type_line("x");
    resource.wait_event_named("resource_enter", |v| v["id"] == 1);
}

/// No test leaves a process behind: dropping a `Proc` kills what it started too, here what a
/// shell forked (`keyboard_on_a_terminal` used to leave its `sh -c` process running) and what
/// runs on script(1)'s terminal (its own session: the terminal's hang-up stops it).
#[test]
fn dropping_a_proc_stops_what_it_started() {
    // `child=PID` is the shell's own line (`echo`), not the program's: text.
    let child_pid = |p: &Proc| -> i32 {
        let l = p.wait_for(|l| l.starts_with("child="));
        l["child=".len()..].trim().parse().unwrap()
    };
    let sh = Proc::start_cmd(
        "sh",
        "sh",
        &[
            "-c",
            &format!("{BIN} --json 127.0.29.2:10002 & echo child=$!; wait"),
        ],
    );
    let tty = Proc::start_cmd(
        "script",
        "script",
        &[
            "-qfec",
            &format!("{BIN} --json 127.0.29.3:10003 & echo child=$!; wait"),
            "/dev/null",
        ],
    );
    let pids = [child_pid(&sh), child_pid(&tty)];
    sh.wait_event_named("listening", |_| true);
    tty.wait_event_named("listening", |_| true);
    assert!(pids.iter().all(|&p| util::running(p)));
    drop(sh);
    drop(tty);
    let t = Instant::now();
    while pids.iter().any(|&p| util::running(p)) {
        assert!(
            t.elapsed() < util::PATIENCE,
            "still running after Drop: {:?}",
            util::left_behind()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A `rejected` or `ignored` event: from `from` (an address, or `host:` for any port of it),
/// with exactly `payload`, whose error contains `why`.
fn refused(v: &Value, from: &str, payload: &str, why: &str) -> bool {
    let f = v["from"].as_str().unwrap_or("");
    let from_ok = if from.ends_with(':') {
        f.starts_with(from)
    } else {
        f == from
    };
    from_ok && v["payload"] == payload && v["error"].as_str().is_some_and(|e| e.contains(why))
}

#[test]
fn bad_datagrams_and_arguments_are_refused_clearly() {
    let mut lab = Lab::start(27, 2, &[]);
    let s = std::net::UdpSocket::bind("127.0.27.9:0").unwrap();
    for bad in [
        &b"REQUEST 9 1 1"[..],
        b"REQUEST 0 1 1",
        b"ENTER 2 1 1 1 hi",
        b"garbage\x1b[31m",
        b"",
        b"REPLY 2 5",
    ] {
        s.send_to(bad, "127.0.27.2:10002").unwrap();
    }
    lab.p(1).wait_event_named("rejected", |v| {
        refused(v, "127.0.27.9:", "REQUEST 9 1 1", "")
            && v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("not from a configured process's address"))
    });
    lab.p(1).wait_event(|v| {
        (v["event"] == "ignored" || v["event"] == "rejected")
            && v["error"] == "meant for the shared resource"
            && v["bytes"] == 16
    });
    // The escaped text of the payload is pinned in tests/lab_lines.rs.
    lab.p(1).wait_event_named("ignored", |v| {
        refused(v, "127.0.27.9:", "garbage\x1b[31m", "")
    });
    lab.p(1).wait_event(|v| {
        (v["event"] == "ignored" || v["event"] == "rejected")
            && v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("wrong number of fields"))
    });
    s.send_to(b"\xff\xfe junk", "127.0.27.1:10001").unwrap();
    lab.resource.wait_event_named("ignored", |v| {
        v["from"]
            .as_str()
            .is_some_and(|f| f.starts_with("127.0.27.9:"))
            && v["error"]
                .as_str()
                .is_some_and(|e| e.contains("not printable ASCII"))
    });
    // Still works.
    lab.p(1).type_line("x");
    lab.p(1).wait_event_named("entered", held);
    // Usage errors are text on stderr (no events: the process never starts).
    for args in [
        &["mutex"][..],
        &["mutex", "4", ":1", ":2", ":3"],
        &["mutex", "0", ":1"],
        &["mutex", "--cs-time", "x", "1", ":1"],
        &["mutex", "--text", "tab\there", "1", ":1"],
        &["shared-resource", "--listen", "nope"],
    ] {
        util::assert_usage_error(args);
    }
    // Each duration error names its option; the id and group errors say the range.
    for (args, want) in [
        (
            &["mutex", "--cs-time", "0", "1", ":1"][..],
            "`0`: --cs-time must be between 1ms and 24h",
        ),
        (
            &["mutex", "--auto", "25h", "1", ":1"],
            "`25h`: --auto must be between 1ms and 24h",
        ),
        (
            &["mutex", "4", ":1", ":2", ":3"],
            "the id must be between 1 and 3 (the number of addresses), got 4",
        ),
        (&["mutex", "1"], "give every process's address"),
    ] {
        let err = util::assert_usage_error(args);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("interval"), "{args:?}: {err}");
    }
}

#[test]
fn the_handout_form_without_the_mutex_word_works() {
    let res = "127.0.28.1:10001";
    let resource = start_resource(&["--listen", res]);
    let mut p = Proc::start_piped(
        "p1",
        BIN,
        &["1", "127.0.28.2:10002", "--resource", res, "--json"],
    );
    p.wait_event_named("mutex_listening", |v| v["id"] == 1 && v["n"] == 1);
    p.type_line("x");
    resource.wait_event_named("resource_enter", |v| {
        v["id"] == 1 && v["t"] == 1 && v["clock"] == 1
    });
}

/// The soak: three `--auto` processes and the resource for 30 s, with 20% of all
/// datagrams dropped by the kernel (iptables `statistic` in a network namespace).
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn soak_30s_with_20_percent_loss() {
    let ns = util::Netns::new("soak");
    ns.drop_randomly("0.2", &[]);
    let mut resource = ns.start(
        "shared",
        &["shared-resource", "--json", "--listen", "127.0.0.1:10001"],
    );
    resource.wait_event_named("resource_listening", |_| true);
    let all = ["127.0.0.2:10002", "127.0.0.3:10003", "127.0.0.4:10004"];
    let mut ps: Vec<Proc> = (1..=3)
        .map(|id| {
            let id_s = id.to_string();
            let mut a = vec![
                "mutex",
                "--json",
                "--cs-time",
                "100ms",
                "--auto",
                "400ms",
                "--seed",
                &id_s,
                &id_s,
            ];
            a.extend(all);
            ns.start(&format!("p{id}"), &a)
        })
        .collect();
    let t = Instant::now();
    thread::sleep(Duration::from_secs(30));
    for p in &mut ps {
        let (_, st) = p.term();
        assert!(st.success());
    }
    let dropped = ns.dropped();
    resource.term();
    let summary = resource.wait_event_named("resource_summary", |_| true);
    if num(&summary, "violations") > 0 {
        // What the resource saw, and each process's lines around it, for the next time.
        let dir = std::env::temp_dir().join(format!("peerlab-soak-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for p in ps.iter().chain([&resource]) {
            let _ = std::fs::write(dir.join(&p.label), p.lines().join("\n"));
        }
        panic!(
            "{summary}\n{:#?}\nevery line in {}",
            resource.events_named("violation"),
            dir.display()
        );
    }
    let mut entries = 0;
    let mut sent = 0;
    let mut worst = 0;
    for p in &ps {
        let v = p.wait_event_named("mutex_summary", |_| true);
        let e = num(&v, "entries");
        assert!(e >= 5, "{} was served only {e} times: {v}", p.label);
        entries += e;
        sent += num(&v, "sent");
        worst = worst.max(num(&v, "worst_wait_ms"));
    }
    let res_entries = num(&summary, "entries");
    println!(
        "soak {:?}: {entries} CS entries ({res_entries} seen by the resource), 0 violations, \
         {:.1} REQUEST/REPLY per entry, worst wait {worst} ms, {dropped} datagrams dropped by iptables",
        t.elapsed(),
        sent as f64 / entries as f64
    );
    assert!(
        res_entries + 3 >= entries && res_entries <= entries,
        "{res_entries} vs {entries}"
    );
}

// ---------------------------------------------------------------------------------------------
// Restarts and strangers (docs/lab1.md, "Restarts and strangers"): one test per reported
// problem, each run with real processes. Each doc comment says what the binary before the fix
// (the wire format without incarnations, kept as /tmp/attack8/process-old when these tests were
// written) did in the same scenario, run by hand with shell scripts on 127.0.49.x.
// Nets 127.0.40.x to 127.0.44.x are these tests' own.

/// The shared resource on 127.0.`net`.1:10001; `extra` (the processes' addresses) follows.
fn resource_on(net: u8, extra: &[&str]) -> Proc {
    let res = format!("127.0.{net}.1:10001");
    let mut a = vec!["--listen", &res];
    a.extend_from_slice(extra);
    start_resource(&a)
}

/// Process `id` of `n` on 127.0.`net`.x with its own `--cs-time` and options, stdin a pipe;
/// returns once it listens (so an address it took is its own, not a previous life's).
fn process_on(net: u8, id: usize, n: usize, cs_time: &str, extra: &[&str]) -> Proc {
    let res = format!("127.0.{net}.1:10001");
    let id_s = id.to_string();
    let all = addrs(net, n);
    let mut a = vec!["--resource", &res, "--cs-time", cs_time];
    a.extend_from_slice(extra);
    a.push(&id_s);
    a.extend(all.iter().map(String::as_str));
    start_process(id, n, &a)
}

/// Replays the resource's events and fails if two processes are ever inside at once by its
/// account (an entry while another has neither left nor been declared dead inside), or if it
/// reported a violation. Returns the entries as (id, T), in order.
fn one_inside_at_a_time(resource: &Proc) -> Vec<(u16, u64)> {
    let events = resource.events();
    let mut inside: Option<u16> = None;
    let mut entries = Vec::new();
    for v in &events {
        assert_ne!(v["event"], "violation", "{v}\n{:#?}", resource.lines());
        let Some(id) = v["id"].as_u64().map(|id| id as u16) else {
            continue;
        };
        match v["event"].as_str() {
            Some("resource_enter") => {
                assert_eq!(
                    inside,
                    None,
                    "{id} entered while {inside:?} was inside:\n{:#?}",
                    resource.lines()
                );
                inside = Some(id);
                entries.push((id, num(v, "t")));
            }
            // Left, with or without a known entry; or its previous life died inside.
            Some("resource_exit" | "resource_unknown_exit") if inside == Some(id) => inside = None,
            Some("resource_hello") if !v["ended_t"].is_null() && inside == Some(id) => {
                inside = None
            }
            _ => {}
        }
    }
    entries
}

/// Problem 1: a process restarted by `kill -9` asks again with the same T=1 as its previous
/// life, while another process is inside. The REQUEST carries the new incarnation, so p1 (held)
/// sees a restart, not a resend, and defers it; the new p2 enters only after p1 has left, and
/// the resource counts its entry as a new one.
///
/// The old binary (no incarnations), same scenario: p1, inside for 20 s, took the new p2's
/// `REQUEST 2 1` for a resend of the one it had answered and re-sent its REPLY; the new p2
/// entered (T=1) while p1 was inside, and the resource took its ENTER for a duplicate of the
/// first life's (T=1): no line, no VIOLATION, an overlap nobody saw ("2 duplicates
/// acknowledged again").
#[test]
fn restart_with_the_same_t_does_not_enter_while_another_is_inside() {
    let net = 40;
    let resource = resource_on(net, &[]);
    let mut p1 = process_on(net, 1, 2, "5s", &[]);
    let mut p2 = process_on(net, 2, 2, "300ms", &[]);
    p2.type_line("x");
    p2.wait_event_named("entered", |v| held(v) && v["t"] == 1);
    resource.wait_event_named("resource_exit", |v| v["id"] == 2 && v["t"] == 1);
    p1.type_line("x");
    p1.wait_event_named("entered", |v| held(v) && v["t"] == 3);
    resource.wait_event_named("resource_enter", |v| v["id"] == 1 && v["t"] == 3);

    p2.kill9();
    let mut p2 = process_on(net, 2, 2, "300ms", &[]);
    p2.type_line("x");
    p2.wait_event_named("requested", |v| v["state"] == "WANTED" && v["t"] == 1);
    // p1, still inside, knows it is a new life, and defers the request.
    p1.wait_event_named("restarted", |v| held(v) && v["from"] == 2);
    p1.wait_event_named("request", |v| {
        held(v) && v["from"] == 2 && v["t"] == 1 && v["answer"] == "deferred"
    });
    let in_again = p2
        .wait_event_named_within(Duration::from_secs(5) + util::PATIENCE, "entered", |v| {
            held(v) && v["t"] == 1
        })
        .unwrap_or_else(|| panic!("the new p2 never entered:\n{}", p2.lines().join("\n")));
    assert!(in_again["clock"].is_u64(), "{in_again}");
    // p1's lines are read by another thread: wait for them rather than look at once.
    p1.wait_event_named("released", |v| v["replied"] == 1);
    let left = p1.index_of_event("left", |v| held(v) && v["t"] == 3);
    let answered = p1.index_of_event("released", |v| v["replied"] == 1);
    assert!(left < answered);
    // The resource: the new life said HELLO (its second), and its entry (T=1 again) is a new
    // entry, after p1 left.
    util::eventually(util::PATIENCE, || {
        (resource.count_events("resource_hello", |v| v["id"] == 2 && v["inc"].is_u64()) >= 2)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no HELLO from the new p2:\n{}", resource.lines().join("\n")));
    eventually_entries(&resource, 3);
    let p1_left = resource.index_of_event("resource_exit", |v| v["id"] == 1);
    let r = resource.events();
    let p2_again = r
        .iter()
        .enumerate()
        .filter(|(_, v)| v["event"] == "resource_enter" && v["id"] == 2 && v["t"] == 1)
        .map(|(i, _)| i)
        .nth(1)
        .unwrap_or_else(|| panic!("{:#?}", resource.lines()));
    assert!(p1_left < p2_again, "{:#?}", resource.lines());
    assert_eq!(one_inside_at_a_time(&resource), [(2, 1), (1, 3), (2, 1)]);
}

/// Waits (up to 10 s more than PATIENCE: a CS may be held that long) until the resource has
/// reported `n` entries.
fn eventually_entries(resource: &Proc, n: usize) {
    let limit = Duration::from_secs(10) + util::PATIENCE;
    util::eventually(limit, || {
        (resource.events_named("resource_enter").len() >= n).then_some(())
    })
    .unwrap_or_else(|| panic!("fewer than {n} entries:\n{}", resource.lines().join("\n")));
}

/// Problem 2: a grant given before a restart does not count. p3 is inside (5 s); p1 asks, p2
/// replies, p3 defers; p2 is killed and restarted and asks too. p1 learns that p2 restarted,
/// drops p2's old grant and asks the new p2 again (`regranted`); when p3 leaves, p1 and the new
/// p2 enter one after the other, never together.
///
/// The old binary, same scenario: p1 kept the old p2's REPLY, the new p2 (T=1) got p1's reply
/// (T=1 beats p1's T=3), and when p3 left and answered both, both entered: the resource printed
/// `VIOLATION: process 2 (T=1) entered while process 1 (T=3) is inside` (and an order
/// violation).
#[test]
fn a_grant_from_before_a_restart_does_not_count() {
    let net = 41;
    let resource = resource_on(net, &[]);
    let mut p1 = process_on(net, 1, 3, "1s", &[]);
    let p2 = process_on(net, 2, 3, "1s", &[]);
    let mut p3 = process_on(net, 3, 3, "5s", &[]);
    p3.type_line("x");
    p3.wait_event_named("entered", |v| held(v) && v["t"] == 1);
    p1.type_line("x");
    p1.wait_event_named("reply", |v| {
        v["state"] == "WANTED" && v["from"] == 2 && v["got"] == 1 && v["need"] == 2
    });
    p3.wait_event_named("request", |v| {
        held(v) && v["from"] == 1 && v["t"] == 3 && v["answer"] == "deferred"
    });

    let mut p2 = {
        let mut old = p2;
        old.kill9();
        process_on(net, 2, 3, "1s", &[])
    };
    p2.type_line("x");
    p2.wait_event_named("requested", |v| v["state"] == "WANTED" && v["t"] == 1);
    // p1 forgets the old grant and asks the new p2 again.
    p1.wait_event_named("restarted", |v| {
        v["state"] == "WANTED" && v["from"] == 2 && v["regranted"] == true
    });
    p3.wait_event_named("request", |v| {
        held(v) && v["from"] == 2 && v["t"] == 1 && v["answer"] == "deferred"
    });
    // p3 still held the CS all along (both requests reached it while inside).
    assert_eq!(
        p3.events_named("left").len(),
        0,
        "{}",
        p3.lines().join("\n")
    );

    // p3 leaves and answers both; the new p2 (T=1) goes first, then p1 (T=3).
    eventually_entries(&resource, 3);
    p1.wait_event_named_within(Duration::from_secs(10) + util::PATIENCE, "released", |v| {
        v["state"] == "RELEASED"
    })
    .unwrap_or_else(|| panic!("p1 never left:\n{}", p1.lines().join("\n")));
    let e = one_inside_at_a_time(&resource);
    assert_eq!(e, [(3, 1), (2, 1), (1, 3)], "{:#?}", resource.lines());
    // p1 entered only with a REPLY from the new p2 (it needed 2: p3's and the new p2's).
    let regranted = p1.index_of_event("restarted", |v| v["regranted"] == true);
    let entered = p1.index_of_event("entered", |v| held(v) && v["t"] == 3);
    assert!(regranted < entered);
    assert_eq!(
        p1.events()[regranted..entered]
            .iter()
            .filter(|v| v["event"] == "reply")
            .count(),
        2,
        "{}",
        p1.lines().join("\n")
    );
}

/// Whether event `v` (of a process's core, the ones with a clock) holds the number `n` in any
/// field.
fn clocked_event_holds(v: &Value, n: u64) -> bool {
    v.get("clock").is_some()
        && v.as_object()
            .is_some_and(|o| o.values().any(|x| x.as_u64() == Some(n)))
}

/// Problem 3: REQUESTs with T = 2^64−1 and T = 2^53+1, sent from p3's configured address
/// before p3 runs (the test binds it), are refused by p1 and p2 (`beyond any honest clock`) and
/// change no clock; then p3 starts there, and the three take turns (`--auto`) with small
/// clocks, one at a time, no VIOLATION.
///
/// The old binary, same scenario (`REQUEST 3 <T>` in its format): with 2^64−1 every clock
/// saturated at 18446744073709551615 for good (every later request had that T, so (T, id)
/// decided nothing), and the resource printed two VIOLATIONs within 8 s (an order violation and
/// `process 3 ... entered while process 1 ... is inside`); with 2^53+1 the clocks jumped to
/// 9007199254740994 and beyond (past what a JSON reader holds exactly), "0 rejected".
#[test]
fn forged_huge_timestamps_are_refused_and_clocks_stay_small() {
    let net = 42;
    let resource = resource_on(net, &[]);
    let auto = ["--auto", "300ms"];
    let mut ps = vec![
        process_on(net, 1, 3, "100ms", &auto),
        process_on(net, 2, 3, "100ms", &auto),
    ];
    let p3_addr = addrs(net, 3)[2].clone();
    {
        let s = std::net::UdpSocket::bind(&p3_addr).unwrap();
        for t in ["18446744073709551615", "9007199254740993"] {
            for to in &addrs(net, 2) {
                s.send_to(format!("REQUEST 3 1 {t}").as_bytes(), to)
                    .unwrap();
            }
        }
        for p in &ps {
            for t in ["18446744073709551615", "9007199254740993"] {
                p.wait_event_named("rejected", |v| {
                    refused(
                        v,
                        &p3_addr,
                        &format!("REQUEST 3 1 {t}"),
                        &format!("timestamp {t} is beyond any honest clock"),
                    )
                });
            }
        }
    } // the socket is closed: p3 can have its address.
    ps.push(process_on(net, 3, 3, "100ms", &auto));
    // Every process enters a few times.
    for id in 1..=3u16 {
        util::eventually(Duration::from_secs(20), || {
            (resource.count_events("resource_enter", |v| v["id"] == id) >= 3).then_some(())
        })
        .unwrap_or_else(|| panic!("{id} entered < 3 times:\n{}", resource.lines().join("\n")));
    }
    for p in &mut ps {
        let (_, st) = p.term();
        assert!(st.success(), "{}: {st}", p.label);
        let s = p.wait_event_named("mutex_summary", |_| true);
        let fin = num(&s, "clock");
        // An honest clock here: a few ticks per entry of a short run.
        assert!(fin < 10_000, "{}: final clock {fin}", p.label);
        let worst = p
            .events()
            .iter()
            .filter_map(|v| v["clock"].as_u64())
            .max()
            .unwrap();
        assert!(worst < 10_000, "{}: clock {worst}", p.label);
        assert!(!p
            .events()
            .iter()
            .any(|v| clocked_event_holds(v, 9007199254740993)));
    }
    let e = one_inside_at_a_time(&resource);
    assert!(e.iter().all(|&(_, t)| t < 10_000), "{e:?}");
}

/// Problem 4: the resource, given the processes' addresses, refuses an ENTER naming process 1
/// (with T = 2^64−1) from another address: no entry, no VIOLATION; process 1's real entry is
/// shown afterwards, and the resource's summary counts only the real entries.
///
/// The old binary took no addresses (`Unrecognized argument: 127.0.49.2:10002`); without them
/// it printed the forged `process 1 entered (T=18446744073709551615, clock=0): "forged"` and then
/// took process 1's real ENTER (T=1) and EXIT for duplicates of it: the real use was never
/// shown ("1 entries, 0 violations, 2 duplicates acknowledged again"), and the resource believed
/// process 1 inside for good.
#[test]
fn the_resource_refuses_an_enter_from_another_address() {
    let net = 43;
    let all = addrs(net, 3);
    let a: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut resource = resource_on(net, &a);
    let s = std::net::UdpSocket::bind(format!("127.0.{net}.9:0")).unwrap();
    s.send_to(
        b"ENTER 1 1 18446744073709551615 0 forged",
        format!("127.0.{net}.1:10001"),
    )
    .unwrap();
    resource.wait_event_named("rejected", |v| {
        refused(
            v,
            &format!("127.0.{net}.9:"),
            "ENTER 1 1 18446744073709551615 0 forged",
            "",
        ) && v["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("not from process 1's address"))
    });
    assert_eq!(one_inside_at_a_time(&resource), []);

    let mut p1 = process_on(net, 1, 3, "200ms", &[]);
    let _p2 = process_on(net, 2, 3, "200ms", &[]);
    let _p3 = process_on(net, 3, 3, "200ms", &[]);
    p1.type_line("x");
    p1.wait_event_named("entered", |v| held(v) && v["t"] == 1);
    resource.wait_event_named("resource_enter", |v| {
        v["id"] == 1 && v["t"] == 1 && v["clock"].is_u64() && v["text"] == "Oi"
    });
    resource.wait_event_named("resource_exit", |v| v["id"] == 1 && v["t"] == 1);
    assert_eq!(one_inside_at_a_time(&resource), [(1, 1)]);
    // Nothing but the rejection mentions the forged text.
    let mentions_forged = |v: &Value| {
        v.as_object().is_some_and(|o| {
            o.values()
                .any(|x| x.as_str().is_some_and(|s| s.contains("forged")))
        })
    };
    assert!(!resource
        .events()
        .iter()
        .any(|v| mentions_forged(v) && v["event"] != "rejected"));
    resource.term();
    let summary = resource.wait_event_named("resource_summary", |_| true);
    assert!(
        num(&summary, "entries") == 1 && num(&summary, "violations") == 0,
        "{summary}"
    );
}

/// Two processes on `net` and the resource: p1 inside the CS for 60 s (the resource saw it
/// enter), p2 asking and deferred by p1.
fn p1_inside_p2_deferred(net: u8) -> (Proc, Proc, Proc) {
    let resource = resource_on(net, &[]);
    let mut p1 = process_on(net, 1, 2, "60s", &[]);
    let mut p2 = process_on(net, 2, 2, "300ms", &[]);
    p1.type_line("x");
    p1.wait_event_named("entered", |v| held(v) && v["t"] == 1);
    resource.wait_event_named("resource_enter", |v| v["id"] == 1 && v["t"] == 1);
    p2.type_line("x");
    p1.wait_event_named("request", |v| {
        held(v) && v["from"] == 2 && v["t"] == 3 && v["answer"] == "deferred"
    });
    (resource, p1, p2)
}

/// Problem 5a: SIGTERM while inside the CS. p1 sends its EXIT and answers the request it
/// deferred before it goes: the resource reports p1 left, then p2 enters; no VIOLATION.
///
/// The old binary, same scenario: p1 exited at once without EXIT and without answering p2;
/// the resource believed p1 inside for good, and p2 never entered (`0 CS entries`, 8 resends
/// of its REQUEST to nobody).
#[test]
fn sigterm_inside_the_cs_sends_exit_and_lets_the_next_in() {
    let (resource, mut p1, p2) = p1_inside_p2_deferred(44);
    let (_, st) = p1.term();
    assert!(st.success(), "{st}");
    // Before it went: left, and answered p2.
    let left = p1.index_of_event("left", |v| v["t"] == 1);
    let answered = p1.index_of_event("released", |v| v["replied"] == 1);
    assert!(left < answered, "{}", p1.lines().join("\n"));
    p2.wait_event_named("entered", |v| held(v) && v["t"] == 3);
    resource.wait_event_named("resource_exit", |v| v["id"] == 2 && v["t"] == 3);
    let p1_left = resource.index_of_event("resource_exit", |v| v["id"] == 1 && v["t"] == 1);
    let p2_in = resource.index_of_event("resource_enter", |v| v["id"] == 2);
    assert!(p1_left < p2_in, "{:#?}", resource.lines());
    assert_eq!(one_inside_at_a_time(&resource), [(1, 1), (2, 3)]);
}

/// A process stopped inside the CS answers who waits only once the resource has acknowledged
/// its EXIT: with the resource frozen (SIGSTOP) the stopping process waits and p2 stays out;
/// once it runs again, p1 is acknowledged, answers and exits, and p2 enters after p1's exit
/// by the resource's account. (Before, the REPLY went with the EXIT: a lost EXIT let p2 in
/// while the resource thought p1 inside, a false VIOLATION.)
#[test]
fn sigterm_inside_the_cs_answers_only_once_the_exit_is_acknowledged() {
    let (resource, mut p1, p2) = p1_inside_p2_deferred(47);
    resource.signal("STOP");
    p1.signal("TERM");
    p1.wait_event_named("left", |v| v["t"] == 1);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        p1.wait_exit(Duration::ZERO).is_none(),
        "p1 exited without its ACK"
    );
    assert_eq!(
        p1.count_events("released", |_| true),
        0,
        "{:#?}",
        p1.lines()
    );
    assert_eq!(p2.count_events("entered", |_| true), 0, "{:#?}", p2.lines());
    resource.signal("CONT");
    let st = p1
        .wait_exit(Duration::from_secs(10))
        .expect("p1 exits once acknowledged");
    assert!(st.success(), "{st}");
    let acked = p1.index_of_event("acked", |v| v["of"] == "EXIT" && v["t"] == 1);
    let answered = p1.index_of_event("released", |v| v["replied"] == 1);
    assert!(acked < answered, "{}", p1.lines().join("\n"));
    p2.wait_event_named("entered", held);
    resource.wait_event_named("resource_enter", |v| v["id"] == 2);
    assert_eq!(one_inside_at_a_time(&resource).len(), 2);
}

/// A resource that stays silent is waited for at most its patience (3 s): then the stopping
/// process answers who waits all the same. A second SIGTERM ends the wait at once, without
/// the answers.
#[test]
fn a_stop_waits_for_a_silent_resource_at_most_its_patience_and_not_after_a_second_sigterm() {
    let net = 48;
    let resource = resource_on(net, &[]);
    let mut ps: Vec<Proc> = (1..=3)
        .map(|id| process_on(net, id, 3, "60s", &[]))
        .collect();
    ps[0].type_line("x");
    ps[0].wait_event_named("entered", held);
    resource.wait_event_named("resource_enter", |v| v["id"] == 1);
    ps[1].type_line("x");
    ps[0].wait_event_named("request", |v| held(v) && v["from"] == 2);
    resource.signal("STOP");
    // Once: p1 waits out the resource's patience, then answers p2 and goes.
    let t = Instant::now();
    ps[0].signal("TERM");
    let st = ps[0].wait_exit(Duration::from_secs(10)).expect("exits");
    let took = t.elapsed();
    assert!(st.success(), "{st}");
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    let silent = ps[0].index_of_event("resource_silent", |v| v["unacknowledged"] == "EXIT");
    let answered = ps[0].index_of_event("released", |v| v["replied"] == 1);
    assert!(silent < answered, "{}", ps[0].lines().join("\n"));
    // p2 gets in (p3 answered at once); p3 asks and is deferred by p2.
    ps[1].wait_event_named("entered", held);
    ps[2].type_line("x");
    ps[1].wait_event_named("request", |v| held(v) && v["from"] == 3);
    // Twice: p2 goes at once, without answering p3.
    let t = Instant::now();
    ps[1].signal("TERM");
    ps[1].wait_event_named("left", |_| true);
    ps[1].signal("TERM");
    let st = ps[1].wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{st}");
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        ps[1].count_events("released", |_| true),
        0,
        "{:#?}",
        ps[1].lines()
    );
    // The resource, running again, takes what waited in order: no overlap. p2 went without
    // its EXIT (its ENTER was never acknowledged, so the EXIT had not gone yet): the resource
    // thinks it inside, and p3, never answered, stays out.
    resource.signal("CONT");
    resource.wait_event_named("resource_enter", |v| v["id"] == 2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(one_inside_at_a_time(&resource).len(), 2);
    assert_eq!(ps[2].count_events("entered", |_| true), 0);
}

/// Problem 5b: `kill -9` while inside the CS, then a restart. The new p1 says HELLO to the
/// resource, which reports that p1's previous incarnation died inside the CS (the CS is free);
/// p2, which was waiting, enters after that; no VIOLATION. (The line's text is pinned in
/// tests/lab_lines.rs.)
///
/// The old binary, same scenario: the restarted p1 answered p2, p2 entered, and the resource,
/// still believing the dead p1 inside, printed `VIOLATION: process 2 (T=3) entered while
/// process 1 (T=1) is inside`.
#[test]
fn kill9_inside_the_cs_then_restart_frees_it_without_a_violation() {
    let net = 45;
    let resource = resource_on(net, &[]);
    let mut p1 = process_on(net, 1, 2, "60s", &[]);
    let mut p2 = process_on(net, 2, 2, "300ms", &[]);
    p1.type_line("x");
    p1.wait_event_named("entered", |v| held(v) && v["t"] == 1);
    resource.wait_event_named("resource_enter", |v| v["id"] == 1 && v["t"] == 1);
    p2.type_line("x");
    p1.wait_event_named("request", |v| {
        held(v) && v["from"] == 2 && v["t"] == 3 && v["answer"] == "deferred"
    });
    p1.kill9();
    // Dead inside: nobody lets p2 in until p1 comes back.
    let _p1 = process_on(net, 1, 2, "300ms", &[]);
    let died = |v: &Value| v["id"] == 1 && v["inc"].is_u64() && v["ended_t"] == 1;
    resource.wait_event_named("resource_hello", died);
    p2.wait_event_named("entered", |v| held(v) && v["t"] == 3);
    resource.wait_event_named("resource_exit", |v| v["id"] == 2 && v["t"] == 3);
    let died_at = resource.index_of_event("resource_hello", died);
    let p2_in = resource.index_of_event("resource_enter", |v| v["id"] == 2);
    assert!(died_at < p2_in, "{:#?}", resource.lines());
    assert_eq!(one_inside_at_a_time(&resource), [(1, 1), (2, 3)]);
}

/// Problem 3, the incarnation field: one REQUEST with incarnation 2^64−1 (and an honest T=1),
/// sent from p3's configured address before p3 runs, must not lock the real p3 out. Expected:
/// refused like a timestamp beyond any honest clock (or otherwise forgotten), and the three
/// processes take turns afterwards.
///
/// Found while writing these tests (program as of 4e3913e): the incarnation is not bounded, so
/// p1 and p2 record 18446744073709551615 for p3; every message of the real p3 (a smaller,
/// honest incarnation) is then stale, its REPLYs never count, and nobody enters (here: 0 entries
/// in 20 s, p1 and p2 WANTED for good; by hand, 9 s:
/// 0 entries at the resource, p1 "31 duplicates ignored", all three WANTED until stopped).
/// Fixed since: incarnations beyond the wall clock plus 2 s are refused.
#[test]
fn a_forged_huge_incarnation_does_not_lock_a_process_out() {
    let net = 46;
    let resource = resource_on(net, &[]);
    let auto = ["--auto", "300ms"];
    let mut ps = vec![
        process_on(net, 1, 3, "100ms", &auto),
        process_on(net, 2, 3, "100ms", &auto),
    ];
    let p3_addr = addrs(net, 3)[2].clone();
    {
        let s = std::net::UdpSocket::bind(&p3_addr).unwrap();
        for to in &addrs(net, 2) {
            s.send_to(b"REQUEST 3 18446744073709551615 1", to).unwrap();
        }
        // Both have read it (taken or refused) before p3 starts.
        for p in &ps {
            p.wait_event(|v| {
                (v["event"] == "request" && v["from"] == 3 && v["t"] == 1)
                    || v["payload"] == "REQUEST 3 18446744073709551615 1"
            });
        }
    }
    ps.push(process_on(net, 3, 3, "100ms", &auto));
    for id in 1..=3u16 {
        util::eventually(Duration::from_secs(20), || {
            (resource.count_events("resource_enter", |v| v["id"] == id) >= 2).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "process {id} entered < 2 times in 20 s:\n{}\n{}",
                resource.lines().join("\n"),
                ps.iter()
                    .map(|p| format!("{}:\n{}", p.label, p.lines().join("\n")))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    }
    one_inside_at_a_time(&resource);
}

/// A key file for one test: `key` in a file of its own (with a newline, as `echo` writes it).
fn key_file(net: u8, key: &str) -> String {
    let p = std::env::temp_dir().join(format!("peerlab-key-{}-{net}", std::process::id()));
    std::fs::write(&p, format!("{key}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

/// The resource (knowing every address) and processes on 127.0.`net`.x, process `id` with the
/// key file `keys[id - 1]` (`None`: no key); the resource with `resource_key`.
fn keyed_lab(net: u8, resource_key: &str, keys: &[Option<&str>]) -> Lab {
    let res = format!("127.0.{net}.1:10001");
    let all = addrs(net, keys.len());
    let mut ra = vec!["--listen", &res, "--key-file", resource_key];
    ra.extend(all.iter().map(String::as_str));
    let resource = start_resource(&ra);
    let ps = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let id_s = (i + 1).to_string();
            let mut a = vec!["--resource", &res, "--cs-time", "300ms"];
            if let Some(k) = key {
                a.extend(["--key-file", k]);
            }
            a.push(&id_s);
            a.extend(all.iter().map(String::as_str));
            start_process(i + 1, keys.len(), &a)
        })
        .collect();
    Lab { resource, ps }
}

/// The start-up notice that messages are authenticated.
fn authenticated(v: &Value) -> bool {
    v["text"]
        .as_str()
        .is_some_and(|t| t.contains("authenticated with HMAC-SHA256"))
}

#[test]
fn with_the_same_key_file_everyone_enters() {
    let k = key_file(61, "lab1 group secret");
    let mut lab = keyed_lab(61, &k, &[Some(&k), Some(&k), Some(&k)]);
    lab.resource.wait_event_named("notice", authenticated);
    lab.p(1).wait_event_named("notice", authenticated);
    for id in 1..=3 {
        lab.p(id).type_line("x");
    }
    lab.resource
        .wait_event_named("resource_exit", |v| v["id"] == 3);
    lab.resource
        .wait_event_named("resource_exit", |v| v["id"] == 1);
    lab.resource
        .wait_event_named("resource_exit", |v| v["id"] == 2);
    assert_eq!(lab.entries().len(), 3, "{:#?}", lab.resource.lines());
    lab.no_violations();
    for p in lab.ps.iter().chain([&lab.resource]) {
        assert_eq!(p.events_named("rejected").len(), 0, "{:#?}", p.lines());
    }
}

#[test]
fn a_process_with_another_key_or_none_cannot_enter() {
    let k = key_file(62, "the group's key");
    let other = key_file(63, "a guess");
    for (net, third) in [(62, Some(other.as_str())), (63, None)] {
        let mut lab = keyed_lab(net, &k, &[Some(&k), Some(&k), third]);
        lab.p(3).type_line("x");
        lab.p(3)
            .wait_event_named("requested", |v| v["state"] == "WANTED");
        let from3 = format!("127.0.{net}.4:10004");
        let bad_mac = |v: &Value| {
            v["from"] == from3.as_str()
                && v["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("bad or missing MAC"))
        };
        for id in [1, 2] {
            lab.p(id).wait_event_named("rejected", bad_mac);
        }
        // Its REQUESTs are resent and rejected again; it never gets a grant.
        thread::sleep(Duration::from_millis(1500));
        assert_eq!(lab.p(3).events_named("reply").len(), 0);
        assert_eq!(lab.p(3).events_named("entered").len(), 0);
        assert!(lab.entries().is_empty(), "{:#?}", lab.resource.lines());
        // The resource rejected its HELLO.
        lab.resource.wait_event_named("rejected", bad_mac);
        // The other way round, it takes nothing from the others and says why.
        lab.p(1).type_line("x");
        let why = if third.is_some() {
            "bad or missing MAC: wrong key"
        } else {
            "has a MAC but this process has no key"
        };
        let from1 = format!("127.0.{net}.2:10002");
        lab.p(3).wait_event_named("rejected", |v| {
            v["from"] == from1.as_str() && v["error"].as_str().is_some_and(|e| e.contains(why))
        });
        lab.no_violations();
    }
}

#[test]
fn a_forged_reply_or_enter_from_the_right_address_is_rejected() {
    use peerlab::lab1::auth::{Auth, To};
    use peerlab::lab1::wire::PeerId;
    let net = 64;
    let k = key_file(net, "secret");
    let res = format!("127.0.{net}.1:10001");
    let all = addrs(net, 2);
    // Process 2's address is the forger's: it sees process 1's REQUEST and answers by hand.
    let forger = std::net::UdpSocket::bind(&all[1]).unwrap();
    forger
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let resource = start_resource(&["--listen", &res, "--key-file", &k, &all[0], &all[1]]);
    let mut p1 = start_process(
        1,
        2,
        &["--resource", &res, "--key-file", &k, "1", &all[0], &all[1]],
    );
    p1.type_line("x");
    // The wire format (datagrams, not output): text by nature.
    let mut buf = [0u8; 512];
    let request = loop {
        let (n, _) = forger.recv_from(&mut buf).unwrap();
        let s = String::from_utf8_lossy(&buf[..n]).into_owned();
        if s.starts_with("REQUEST 1 ") {
            break s;
        }
    };
    // REQUEST 1 <inc> <T> at=<ms> mac=<64 hex>
    let f: Vec<&str> = request.split(' ').collect();
    assert!(
        f[4].starts_with("at=") && f[5].starts_with("mac=") && f[5].len() == 4 + 64,
        "{request}"
    );
    let (inc, t) = (f[2], f[3]);
    let reply = format!("REPLY 2 7 {t} {t} {inc}");
    forger.send_to(reply.as_bytes(), &all[0]).unwrap();
    let zeros = format!("{reply} mac={}", "0".repeat(64));
    forger.send_to(zeros.as_bytes(), &all[0]).unwrap();
    // A right MAC on another text (the REQUEST's own tag moved onto the REPLY).
    let moved = format!("{reply} {} {}", f[4], f[5]);
    forger.send_to(moved.as_bytes(), &all[0]).unwrap();
    let from2 = |why: &'static str| {
        let from = all[1].clone();
        move |v: &Value| {
            v["from"] == from.as_str() && v["error"].as_str().is_some_and(|e| e.contains(why))
        }
    };
    p1.wait_event_named("rejected", from2("bad or missing MAC: none"));
    p1.wait_event_named("rejected", from2("bad or missing MAC: wrong key"));
    let forged_enter = "ENTER 2 7 1 1 forged";
    forger.send_to(forged_enter.as_bytes(), &res).unwrap();
    resource.wait_event_named("rejected", from2("bad or missing MAC"));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        p1.count_events("reply", |v| v["from"] == 2),
        0,
        "{:#?}",
        p1.lines()
    );
    assert_eq!(p1.events_named("entered").len(), 0);
    assert_eq!(resource.events_named("resource_enter").len(), 0);
    // The driver's goodbye carries no MAC: with a key it is not believed (the peer is not
    // said down), it is refused like any message without one.
    forger.send_to(b"peerlab:bye", &all[0]).unwrap();
    let from = all[1].clone();
    p1.wait_event_named("rejected", |v| {
        refused(v, &from, "peerlab:bye", "bad or missing MAC: none")
    });
    assert_eq!(p1.events_named("peer_down").len(), 0, "{:#?}", p1.lines());
    // The control: the same REPLY with the key's tag for process 1 is taken.
    let mut key = Auth::with_key(b"secret", peerlab::values::time::wall_us()).unwrap();
    let sealed = key.seal(
        reply.as_bytes(),
        To::Process(PeerId(1)),
        peerlab::values::time::wall_us(),
    );
    forger.send_to(&sealed, &all[0]).unwrap();
    p1.wait_event_named("entered", held);
    resource.wait_event_named("resource_enter", |v| v["id"] == 1);
    assert_eq!(resource.events_named("violation").len(), 0);
    // The same datagram again (captured and replayed): refused as a copy.
    forger.send_to(&sealed, &all[0]).unwrap();
    p1.wait_event_named(
        "rejected",
        from2("replayed: a copy of a message already taken"),
    );
    p1.term();
    let summary = p1.wait_event_named("mutex_summary", |_| true);
    assert_eq!(num(&summary, "rejected"), 5, "{summary}");
    // Nor does a keyed process send one when it stops.
    forger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while let Ok((n, _)) = forger.recv_from(&mut buf) {
        assert_ne!(
            &buf[..n],
            b"peerlab:bye",
            "a keyed process said a bare goodbye"
        );
    }
}

/// A capture replayed to a resource that restarted since (its memory of what it took is
/// gone): refused because it was sealed before the resource started. Without the time in the
/// tag (before the replay window), the new resource took it as a new use.
#[test]
fn a_capture_replayed_to_a_restarted_resource_is_refused() {
    let net = 66;
    let k = key_file(net, "secret");
    let res = format!("127.0.{net}.1:10001");
    let all = addrs(net, 1);
    // The resource's address, listened on by the test: it sees process 1's HELLO and ENTER.
    let sniffer = std::net::UdpSocket::bind(&res).unwrap();
    sniffer
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut p1 = start_process(
        1,
        1,
        &[
            "--resource",
            &res,
            "--key-file",
            &k,
            "--cs-time",
            "200ms",
            "1",
            &all[0],
        ],
    );
    p1.type_line("x");
    let mut buf = [0u8; 512];
    let enter = loop {
        let (n, _) = sniffer.recv_from(&mut buf).unwrap();
        if buf[..n].starts_with(b"ENTER 1 ") {
            break buf[..n].to_vec();
        }
    };
    p1.kill9();
    drop(sniffer);
    // A new resource on that address (as after `docker restart shared`).
    let resource = start_resource(&["--listen", &res, "--key-file", &k]);
    let replayer = std::net::UdpSocket::bind(format!("127.0.{net}.9:0")).unwrap();
    replayer.send_to(&enter, &res).unwrap();
    resource.wait_event_named("rejected", |v| {
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("replayed: sealed before this process started"))
    });
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        resource.events_named("resource_enter").len(),
        0,
        "{:#?}",
        resource.lines()
    );
    assert_eq!(resource.events_named("violation").len(), 0);
}

#[test]
fn an_empty_or_missing_key_file_is_a_usage_error() {
    let empty = key_file(65, "");
    for args in [
        &["mutex", "--key-file", "/nonexistent/key", "1", ":1"][..],
        &["mutex", "--key-file", &empty, "1", ":1"],
        &["shared-resource", "--key-file", "/nonexistent/key"],
        &["shared-resource", "--key-file", &empty],
    ] {
        let err = util::assert_usage_error(args);
        assert!(err.contains("--key-file `"), "{args:?}: {err}");
    }
}

/// The counter exercise's rotated lists (own address first) given to Lab 1: every process
/// finds out within two seconds that another was given another list, and says so plainly
/// (before: each saw the others' REQUESTs "from another process's address" and waited for
/// ever). The same list gives no such line.
#[test]
fn processes_given_different_lists_say_so_within_two_seconds() {
    let res = "127.0.67.1:10001";
    let _resource = start_resource(&["--listen", res]);
    let all = addrs(67, 3);
    let rotated = [all[1].as_str(), all[2].as_str(), all[0].as_str()];
    let t = Instant::now();
    // Process 1 with the list in id order; process 2 with the rotated list (its own first,
    // so it takes position 1 as its own: it must be told it is process 1 of that list).
    let p1 = start_process(1, 3, &["--resource", res, "1", &all[0], &all[1], &all[2]]);
    let p2 = start_process(
        1,
        3,
        &["--resource", res, "1", rotated[0], rotated[1], rotated[2]],
    );
    let said = |p: &Proc| {
        p.wait_event_named("notice", |v| {
            v["text"]
                .as_str()
                .is_some_and(|t| t.contains("was given another address list than this one (or the same addresses written otherwise, a name for an IP): every process needs the same list, written the same, in id order"))
        })
    };
    let n1 = said(&p1);
    let n2 = said(&p2);
    let took = t.elapsed();
    // The bound (measured: about 11 ms after the second process started).
    assert!(took < Duration::from_secs(2), "said after {took:?}");
    // p1 hears "process 1" from its process 2's address, and p2 the reverse.
    assert!(
        n1["text"].as_str().unwrap().starts_with(&format!(
            "process 1 at {} (process 2's address in this list)",
            all[1]
        )),
        "{n1}"
    );
    assert!(
        n2["text"]
            .as_str()
            .unwrap()
            .contains(&format!("at {}", all[0])),
        "{n2}"
    );
    println!("different lists said {took:?} after start");

    // The same list: no such line.
    let lab = Lab::start(68, 3, &[]);
    thread::sleep(Duration::from_millis(2500));
    for p in &lab.ps {
        assert!(
            !p.events_named("notice")
                .iter()
                .any(|v| v["text"].as_str().is_some_and(|t| t.contains("list"))),
            "{:?}",
            p.events_named("notice")
        );
    }
}

/// The same id started twice (a copied compose service) with a resource that was not given
/// the list: before, from the copy's HELLO on, the real process 1's ENTER and EXIT were
/// "stale" and its uses invisible to the check. Now the resource says the conflict loudly,
/// tells both, and goes on checking the real one's uses.
#[test]
fn a_copy_of_process_1_is_a_conflict_the_resource_says_and_checks_through() {
    let res = "127.0.69.1:10001";
    let resource = start_resource(&["--listen", res]);
    let all = addrs(69, 2);
    let mut p1 = start_process(
        1,
        2,
        &[
            "--resource",
            res,
            "--cs-time",
            "300ms",
            "1",
            &all[0],
            &all[1],
        ],
    );
    let _p2 = start_process(2, 2, &["--resource", res, "2", &all[0], &all[1]]);
    resource.wait_event_named("resource_hello", |v| v["id"] == 1);
    // The copy: process 1 again, at its own address (its list's first entry is where it
    // listens), started after the real one, so its incarnation is the later.
    thread::sleep(Duration::from_millis(5));
    let copy_addr = "127.0.69.9:10002";
    let copy = start_process(1, 2, &["--resource", res, "1", copy_addr, &all[1]]);
    resource.wait_event_named("resource_hello", |v| {
        v["id"] == 1 && v["inc"] != resource.events_named("resource_hello")[0]["inc"]
    });
    p1.type_line("x");
    p1.wait_event_named("released", |v| v["state"] == "RELEASED");
    let conflict = resource.wait_event_named("resource_conflict", |v| v["id"] == 1);
    let mut pair = [
        conflict["addr"].as_str().unwrap(),
        conflict["other_addr"].as_str().unwrap(),
    ];
    pair.sort();
    assert_eq!(pair, [all[0].as_str(), copy_addr], "{conflict}");
    // Its use is seen, not stale.
    resource.wait_event_named("resource_exit", |v| v["id"] == 1);
    assert_eq!(
        resource.events_named("resource_stale").len(),
        0,
        "{:#?}",
        resource.lines()
    );
    // Both claimants are told, each of the other.
    let told = |p: &Proc, other: &str| {
        p.wait_event_named("notice", |v| {
            v["text"].as_str().is_some_and(|t| {
                t.starts_with(&format!(
                    "the shared resource hears process 1 from {other} too"
                ))
            })
        })
    };
    told(&p1, copy_addr);
    told(&copy, &all[0]);
    assert_eq!(resource.events_named("violation").len(), 0);
}

/// What an outside attack found in the list check: a stranger's forged ROSTER claiming id 2 hid
/// the real process 2's different list for 30 s (the quiet was per claimed id, now per sender),
/// and a process with a typo in its own address was never told (nobody answered an address not
/// in their list; now it is answered, and learns within two seconds).
#[test]
fn a_forged_roster_hides_nothing_and_a_typo_in_the_own_address_is_told() {
    let res = "127.0.75.1:10001";
    let _resource = start_resource(&["--listen", res]);
    let all = addrs(75, 3);
    let says_other_list = |p: &Proc, who: &str| {
        let who = who.to_string();
        p.wait_event_named("notice", move |v| {
            v["text"].as_str().is_some_and(|t| {
                t.starts_with(&who) && t.contains("was given another address list than this one")
            })
        })
    };
    let mut p3 = start_process(3, 3, &["--resource", res, "3", &all[0], &all[1], &all[2]]);
    let forger = std::net::UdpSocket::bind("127.0.75.50:0").unwrap();
    forger.send_to(b"ROSTER 2 1 5", &all[2]).unwrap();
    says_other_list(&p3, "process 2 at 127.0.75.50:");
    // The real process 2, with the list reversed (its own address still second).
    let _p2 = start_process(2, 3, &["--resource", res, "2", &all[2], &all[1], &all[0]]);
    let t = Instant::now();
    says_other_list(
        &p3,
        &format!("process 2 at {} (process 2's address in this list)", all[1]),
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Process 1 with a typo in its own address: it listens there, nobody sends to it.
    let typo = "127.0.75.9:10002";
    let t = Instant::now();
    let p1 = start_process(1, 3, &["--resource", res, "1", typo, &all[1], &all[2]]);
    says_other_list(&p1, "process ");
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the typo's process told after {took:?}"
    );
    println!("a typo in the own address told after {took:?}");
    p3.term();
    let summary = p3.wait_event_named("mutex_summary", |_| true);
    assert!(
        num(&summary, "lists_differ") >= 2,
        "counted, said or not: {summary}"
    );
}

/// A firewall's "permission denied" on the way to the resource is not its "connection
/// refused": a process stopped inside the CS keeps resending its EXIT (the outside attack of
/// issue 22 found it gave up after 50 ms, answered, and the resource printed a false
/// VIOLATION). The rule lifted within the patience, the EXIT gets through before the REPLY.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn a_firewall_refusing_the_exit_is_waited_out_not_taken_for_a_dead_resource() {
    let ns = util::Netns::new("eperm");
    let resource = ns.start(
        "shared",
        &["shared-resource", "--json", "--listen", "127.0.0.1:10001"],
    );
    resource.wait_event_named("resource_listening", |_| true);
    let all = ["127.0.0.2:10002", "127.0.0.3:10003"];
    let mut ps: Vec<Proc> = (1..=2)
        .map(|id| {
            let id_s = id.to_string();
            let mut a = vec!["netns", "exec", &ns.name, BIN];
            a.extend(["mutex", "--json", "--cs-time", "60s", &id_s]);
            a.extend(all);
            Proc::start_piped(&format!("p{id}"), "ip", &a)
        })
        .collect();
    for p in &mut ps {
        p.wait_event_named("mutex_listening", |_| true);
    }
    ps[0].type_line("x");
    ps[0].wait_event_named("entered", held);
    resource.wait_event_named("resource_enter", |v| v["id"] == 1);
    ps[1].type_line("x");
    ps[0].wait_event_named("request", |v| held(v) && v["from"] == 2);
    let rule = [
        "OUTPUT",
        "-s",
        "127.0.0.2",
        "-d",
        "127.0.0.1",
        "-p",
        "udp",
        "--dport",
        "10001",
        "-j",
        "DROP",
    ];
    ns.iptables(&[&["-I"][..], &rule[..]].concat());
    ps[0].signal("TERM");
    thread::sleep(Duration::from_millis(1000));
    assert!(
        ps[0].count_events("released", |_| true) == 0,
        "answered while the EXIT could not go:\n{}",
        ps[0].lines().join("\n")
    );
    ns.iptables(&[&["-D"][..], &rule[..]].concat());
    let st = ps[0].wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{st}");
    ps[1].wait_event_named("entered", held);
    resource.wait_event_named("resource_enter", |v| v["id"] == 2);
    assert_eq!(one_inside_at_a_time(&resource).len(), 2);
}
