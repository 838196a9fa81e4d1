//! Nothing outside the process can stall its loop or end it without a summary: a stdout that
//! nobody reads, a reader that goes away, signals from a terminal that closed. Real processes
//! and real pipes on loopback (127.0.9x.x).

mod util;

use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use util::{eventually, Proc, PATIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_process");

/// A process whose stdout is a pipe that the test reads only when it wants to.
struct Piped {
    child: Child,
    reader: Option<std::io::PipeReader>,
}

impl Piped {
    fn start(args: &[&str]) -> Piped {
        let (reader, writer) = std::io::pipe().unwrap();
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        Piped {
            child,
            reader: Some(reader),
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Starts reading the pipe in the background; what arrives collects in the result.
    fn read_from_now_on(&mut self) -> Arc<Mutex<String>> {
        let text = Arc::new(Mutex::new(String::new()));
        let mut r = self.reader.take().unwrap();
        let t = text.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                t.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        text
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        eventually(limit, || self.child.try_wait().unwrap())
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// Counters that arrive on `s` within `window`, and the longest gap between two of them.
fn counters_within(s: &UdpSocket, window: Duration) -> (usize, Duration) {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (mut n, mut worst) = (0, Duration::ZERO);
    let start = Instant::now();
    let mut last = start;
    let mut buf = [0u8; 64];
    while start.elapsed() < window {
        if let Ok((k, _)) = s.recv_from(&mut buf) {
            if buf[..k].iter().all(u8::is_ascii_digit) {
                n += 1;
                worst = worst.max(last.elapsed());
                last = Instant::now();
            }
        }
    }
    (n, worst.max(last.elapsed()))
}

fn healthy(addr: &str) -> bool {
    Command::new(BIN)
        .args(["health", addr])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// `process ... | sleep 40` with a few thousand datagrams: the pipe fills, and still the
/// broadcasts keep their pace, the health probe is answered and SIGTERM stops the process at
/// once; when the reader comes back, one line says how many lines it did not see.
#[test]
fn an_unread_stdout_never_stalls_the_loop() {
    let peer = UdpSocket::bind("127.0.90.3:10003").unwrap();
    let mut p = Piped::start(&[
        "--interval",
        "100ms",
        "127.0.90.2:10002",
        "127.0.90.3:10003",
    ]);
    // Wait for the first broadcast, then flood: every datagram is a line of about 60 bytes,
    // far more than the pipe (64 KiB) and the process's own buffer (64 KiB) hold.
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.recv_from(&mut [0u8; 64]).expect("the first broadcast");
    for i in 0..20_000u32 {
        peer.send_to(i.to_string().as_bytes(), "127.0.90.2:10002")
            .unwrap();
        if i % 500 == 0 {
            thread::sleep(Duration::from_millis(2)); // let the receive buffer drain
        }
    }
    // Nobody reads stdout. The broadcasts go on every 100 ms.
    let (n, worst) = counters_within(&peer, Duration::from_millis(1500));
    assert!(n >= 10, "{n} broadcasts in 1.5 s with stdout unread");
    assert!(
        worst < Duration::from_millis(500),
        "a gap of {worst:?} between broadcasts"
    );
    assert!(healthy("127.0.90.2:10002"), "the health probe is answered");
    // The reader comes back: what waited is written, then how much was not.
    let text = p.read_from_now_on();
    let said = eventually(PATIENCE, || {
        let t = text.lock().unwrap();
        t.lines()
            .find(|l| l.ends_with("line(s) not shown: stdout was not read fast enough"))
            .map(str::to_string)
    })
    .expect("a line says how many lines were dropped");
    let dropped: u64 = said.split(' ').next().unwrap().parse().unwrap();
    assert!(dropped > 1000, "{said}");
    let t = Instant::now();
    p.signal("TERM");
    let status = p.wait_exit(PATIENCE).expect("exits on SIGTERM");
    assert!(status.success());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "SIGTERM took {:?}",
        t.elapsed()
    );
    let out = text.lock().unwrap().clone();
    // Every line that was written is whole.
    for l in out.lines() {
        assert!(
            l.starts_with("Received ")
                || l.starts_with("listening on")
                || l.contains("not shown")
                || l.starts_with("summary after")
                || l.starts_with("peer ")
                || l.starts_with("127.0.90.3:10003")
                || l.starts_with("(not a peer)")
                || l.ends_with("health probe(s) answered, 0 goodbye(s) from non-peers")
                || l.starts_with("  at "),
            "a cut line: {l:?}"
        );
    }
    eventually(PATIENCE, || {
        text.lock()
            .unwrap()
            .lines()
            .any(|l| l.starts_with("127.0.90.3:10003   ") && l.ends_with(" 0"))
            .then_some(())
    })
    .expect("the summary reaches a reader that reads");
}

/// `process ... | head -1`: once the reader is gone, the process stops (EPIPE) rather than
/// run on unseen.
#[test]
fn a_reader_that_goes_away_stops_the_process() {
    let peer = UdpSocket::bind("127.0.91.3:10003").unwrap();
    let mut p = Piped::start(&[
        "--interval",
        "100ms",
        "127.0.91.2:10002",
        "127.0.91.3:10003",
    ]);
    let mut r = p.reader.take().unwrap();
    let mut first = [0u8; 16];
    r.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"listening on 127");
    drop(r);
    // Lines to write: each meets a closed pipe.
    for i in 0..5u32 {
        peer.send_to(i.to_string().as_bytes(), "127.0.91.2:10002")
            .unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let status = p.wait_exit(PATIENCE).expect("stops once nobody reads");
    assert!(status.success(), "{status:?}");
}

/// SIGHUP (the terminal closed, `docker attach` gone) stops the process like SIGTERM, with its
/// summary and a goodbye; SIGUSR1 prints the summary so far and goes on.
#[test]
fn sighup_stops_with_a_summary_and_sigusr1_prints_one() {
    let peer = UdpSocket::bind("127.0.92.3:10003").unwrap();
    let mut p = Proc::start_listening("p", &["127.0.92.2:10002", "127.0.92.3:10003"]);
    p.signal("USR1");
    p.wait_for(|l| l.starts_with("summary after"));
    thread::sleep(Duration::from_millis(200));
    assert!(
        p.wait_exit(Duration::ZERO).is_none(),
        "still running after SIGUSR1"
    );
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    p.signal("HUP");
    let status = p.wait_exit(PATIENCE).expect("exits on SIGHUP");
    assert!(status.success(), "{status:?}");
    assert_eq!(p.count(|l| l.starts_with("summary after")), 2);
    // The goodbye reached the peer.
    let mut buf = [0u8; 64];
    let bye = eventually(PATIENCE, || {
        let (n, _) = peer.recv_from(&mut buf).ok()?;
        (buf[..n] == *b"peerlab:bye").then_some(())
    });
    assert!(bye.is_some(), "no goodbye after SIGHUP");
}

/// A flood of garbage from one address prints a few lines, then one now and then saying how
/// many were not shown; the counters of a real peer still show, every one.
#[test]
fn a_flood_of_garbage_does_not_drown_the_protocol() {
    let mut p1 = Proc::start_listening(
        "p1",
        &[
            "--interval",
            "100ms",
            "127.0.93.2:10002",
            "127.0.93.3:10003",
        ],
    );
    let _p2 = Proc::start_listening(
        "p2",
        &[
            "--interval",
            "100ms",
            "127.0.93.3:10003",
            "127.0.93.2:10002",
        ],
    );
    p1.wait_for(|l| l.starts_with("Received 1 from 127.0.93.3:10003"));
    let flood = UdpSocket::bind("127.0.93.9:0").unwrap();
    let t = Instant::now();
    let mut sent = 0u64;
    while t.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            let _ = flood.send_to(b"garbage\x1b[2J", "127.0.93.2:10002");
            sent += 1;
        }
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(600));
    flood.send_to(b"one more", "127.0.93.2:10002").unwrap();
    p1.wait_for(|l| l.starts_with("Received \"one more\" from 127.0.93.9"));
    let flood_lines = p1.count(|l| l.starts_with("Received \"garbage"));
    // A burst of 10, then one every 500 ms.
    assert!(
        (10..=10 + 3).contains(&flood_lines),
        "{flood_lines} lines for {sent} datagrams from one address"
    );
    let hidden: u64 = p1
        .lines()
        .iter()
        .filter_map(|l| {
            let (_, note) = l.rsplit_once(" [")?;
            note.strip_suffix(" more from this address not shown]")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    // Every datagram that arrived is shown or counted (the kernel may drop some of a flood
    // before the process sees them: /proc/net/udp counts those).
    let seen = hidden + flood_lines as u64;
    assert!(
        seen <= sent && seen >= sent / 2,
        "{seen} of {sent} shown or counted"
    );
    // The real peer's counters kept coming, in order, none hidden.
    let last = p1.counters_from("127.0.93.3:10003");
    assert!(last.len() >= 15, "{} counters from p2", last.len());
    assert!(last.windows(2).all(|w| w[1] == w[0] + 1), "{last:?}");
    p1.term();
    p1.wait_for(|l| l.contains("line(s) about datagrams that were not taken were not shown"));
}

/// `process mutex ... | head -1` with nothing more to say: the process stops once the reader
/// is gone (the pipe reports it), not at its next line.
#[test]
fn an_idle_process_stops_when_its_reader_goes_away() {
    // A live resource, so that after its start lines the process has nothing more to say.
    let resource = Proc::start(
        "shared",
        &["shared-resource", "--listen", "127.0.94.1:10001"],
    );
    resource.wait_for(|l| l.starts_with("shared resource listening"));
    let mut p = Piped::start(&[
        "mutex",
        "--resource",
        "127.0.94.1:10001",
        "1",
        "127.0.94.2:10002",
    ]);
    let mut r = p.reader.take().unwrap();
    let mut first = [0u8; 7];
    r.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"process");
    // Its start lines are written by now (the HELLO is acknowledged): it is idle.
    resource.wait_for(|l| l.starts_with("shared resource: process 1 started"));
    thread::sleep(Duration::from_millis(200));
    drop(r);
    let status = p.wait_exit(PATIENCE).expect("stops once nobody reads");
    assert!(status.success(), "{status:?}");
}

/// `yes 1 | process mutex ...`: a stdin that never stops (or megabytes pasted at once) is read
/// a bounded amount per turn and per second, so the health probe is answered, the resource
/// hears the process, SIGTERM stops it at once, and the lines beyond 20 a second are dropped
/// and said, not silently lost.
#[test]
fn a_flooded_stdin_never_stalls_the_loop() {
    let mut resource = Proc::start(
        "resource",
        &["shared-resource", "--listen", "127.0.97.1:10001"],
    );
    let cmd = format!(
        "yes 1 | exec {BIN} mutex --resource 127.0.97.1:10001 1 127.0.97.2:10002 127.0.97.3:10003"
    );
    let mut p = Proc::start_cmd("flooded", "sh", &["-c", &cmd]);
    p.wait_for(|l| l.contains("line(s) dropped in the last second"));
    for _ in 0..3 {
        assert!(
            healthy("127.0.97.2:10002"),
            "the flooded process answers its health probe"
        );
    }
    resource.wait_for(|l| l.contains("process 1 started"));
    // SIGTERM to the process itself (the shell's child), then the pipeline ends with it.
    let pgrep = Command::new("pgrep")
        .args(["-P", &p.pid().to_string(), "-x", "process"])
        .output()
        .expect("run pgrep");
    let pid = String::from_utf8_lossy(&pgrep.stdout).trim().to_string();
    assert!(!pid.is_empty(), "no process under the shell");
    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    p.wait_exit(PATIENCE).expect("the pipeline ends");
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
    p.wait_for(|l| l.contains("process 1 summary"));
    let internal = p.count(|l| l.contains("internal event"));
    assert!(internal > 0, "some of the lines are typed: {:?}", p.lines());
    resource.term();
}
