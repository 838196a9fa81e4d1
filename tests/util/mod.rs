//! Helpers for tests that run the real `process` binary: start it, read its lines as they
//! come, wait for a line, stop it with a real signal, read its `--json` events (most tests)
//! or its text summary table (the tests that pin the text format).
#![allow(dead_code)] // each test file uses a different part

use std::io::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Generous liveness bound for "eventually" (not a performance threshold).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Calls `f` until it returns `Some` (its value is returned) or `limit` has passed (`None`).
/// `f` is always called at least once, and once more after the limit, so a condition that
/// became true while the last poll slept is not missed. The pause between calls starts at
/// 1 ms and doubles up to 20 ms: quick for a line just printed, gentle on a slow `f` (a
/// `docker logs` call).
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let expired = t.elapsed() > limit;
        if let Some(v) = f() {
            return Some(v);
        }
        if expired {
            return None;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// `n` distinct loopback addresses `127.0.net.2:10002`, `127.0.net.3:10003`, ...: each test
/// takes its own `net`, so tests run in parallel without sharing ports.
pub fn addrs(net: u8, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("127.0.{net}.{}:{}", 2 + i, 10002 + i))
        .collect()
}

/// A running `process`, with everything it printed so far.
pub struct Proc {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
    readers: Vec<thread::JoinHandle<()>>,
}

fn pump(
    stream: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<Vec<String>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut r = BufReader::new(stream);
        let mut buf = Vec::new();
        while r
            .read_until(b'\n', &mut buf)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            // Lossy on purpose: a test must be able to see (and reject) invalid output.
            // A terminal (script, docker attach) ends lines with \r\n.
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            sink.lock().unwrap().push(line);
            buf.clear();
        }
    })
}

impl Proc {
    /// Starts `process ARGS...`.
    pub fn start(label: &str, args: &[&str]) -> Proc {
        Proc::start_cmd(label, env!("CARGO_BIN_EXE_process"), args)
    }

    /// Starts any program (e.g. `unshare ... process ...`) with its output collected and
    /// stdin from /dev/null.
    pub fn start_cmd(label: &str, program: &str, args: &[&str]) -> Proc {
        Proc::spawn(label, program, args, false)
    }

    /// Starts any program with a pipe on its stdin, for [`Proc::type_line`].
    pub fn start_piped(label: &str, program: &str, args: &[&str]) -> Proc {
        Proc::spawn(label, program, args, true)
    }

    fn spawn(label: &str, program: &str, args: &[&str], piped: bool) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn process");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            pump(child.stdout.take().unwrap(), out.clone()),
            pump(child.stderr.take().unwrap(), err.clone()),
        ];
        let stdin = child.stdin.take();
        Proc {
            label: label.to_string(),
            child,
            stdin,
            out,
            err,
            readers,
        }
    }

    /// Starts any program and waits for a line containing `listening`.
    pub fn start_listening_cmd(label: &str, program: &str, args: &[&str]) -> Proc {
        let p = Proc::start_cmd(label, program, args);
        p.wait_for(|l| l.contains("listening"));
        p
    }

    /// Starts it and waits for its `listening on` line.
    pub fn start_listening(label: &str, args: &[&str]) -> Proc {
        let p = Proc::start(label, args);
        p.wait_for(|l| l.starts_with("listening on") || l.contains("\"event\":\"listening\""));
        p
    }

    /// Writes one line to the process's stdin (as if typed).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started with start_piped");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Writes bytes to stdin as they are (no newline added).
    pub fn type_raw(&mut self, bytes: &str) {
        let stdin = self.stdin.as_mut().expect("started with start_piped");
        stdin.write_all(bytes.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Closes stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines().iter().filter(|l| pred(l)).count()
    }

    /// Waits (up to [`PATIENCE`]) for a line matching `pred`; panics with the output if none.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(PATIENCE, pred).unwrap_or_else(|| {
            panic!(
                "{}: no matching line in {PATIENCE:?}; output:\n{}\nstderr:\n{}",
                self.label,
                self.lines().join("\n"),
                self.stderr()
            )
        })
    }

    pub fn wait_for_within(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        eventually(limit, || self.lines().into_iter().find(|l| pred(l)))
    }

    /// Waits (up to [`PATIENCE`]) for a JSON event matching `pred`; panics with the output
    /// if none.
    pub fn wait_event(&self, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(PATIENCE, || self.events().into_iter().find(|v| pred(v))).unwrap_or_else(|| {
            panic!(
                "{}: no matching event in {PATIENCE:?}; output:\n{}\nstderr:\n{}",
                self.label,
                self.lines().join("\n"),
                self.stderr()
            )
        })
    }

    /// Every stdout line so far that is a JSON object (`--json`), parsed. A line that starts
    /// with `{` but does not parse fails the test.
    pub fn events(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}: invalid JSON line ({e}): {l}", self.label))
            })
            .collect()
    }

    /// The events named `name` (`received`, `peer_down`, `summary`, ...).
    pub fn events_named(&self, name: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|v| v["event"] == name)
            .collect()
    }

    /// How many `name` events about peer `peer` (`peer_down`, `peer_up`, ...).
    pub fn peer_events(&self, name: &str, peer: &str) -> usize {
        self.events_named(name)
            .iter()
            .filter(|v| v["peer"] == peer)
            .count()
    }

    /// The `summary` events (one per peer, then one per stranger), once the process has
    /// exited: `peer` (null for a stranger), `addr` (null while unresolved), `sent` (null for a
    /// stranger), `received`, `lost`, `duplicated`, `reordered`, `restarts`, `foreign`, `errors`.
    pub fn summary_json(&self) -> Vec<Value> {
        let rows = self.events_named("summary");
        assert!(
            !rows.is_empty(),
            "{}: no summary events in:\n{}",
            self.label,
            self.lines().join("\n")
        );
        rows
    }

    /// The `summary` event of the configured peer `peer`, as written on the command line.
    pub fn summary_of(&self, peer: &str) -> Summary {
        let v = self
            .summary_json()
            .into_iter()
            .find(|v| v["peer"] == peer)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no summary event for {peer}:\n{}",
                    self.label,
                    self.lines().join("\n")
                )
            });
        Summary::from_json(&v)
    }

    /// Sends a real signal with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// SIGTERM, then waits for exit: returns the time from signal to exit and the status.
    pub fn term(&mut self) -> (Duration, ExitStatus) {
        let t = Instant::now();
        self.signal("TERM");
        let status = self.wait_exit(PATIENCE).expect("exits after SIGTERM");
        (t.elapsed(), status)
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let s = eventually(limit, || self.child.try_wait().unwrap())?;
        // Let the readers collect the last lines.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Some(s)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.wait_exit(PATIENCE);
    }

    /// Counters received from `from` (the peer as written, or a stranger's address), in
    /// arrival order: from the `received` events with `--json`, else from the text lines.
    pub fn counters_from(&self, from: &str) -> Vec<u64> {
        let lines = self.lines();
        if lines.iter().any(|l| l.starts_with('{')) {
            return self
                .events_named("received")
                .iter()
                .filter(|v| v["from"] == from || (v["from"].is_null() && v["addr"] == from))
                .filter_map(|v| v["counter"].as_u64())
                .collect();
        }
        lines
            .iter()
            .filter_map(|l| {
                let (n, tail) = l.strip_prefix("Received ")?.split_once(' ')?;
                let who = tail.strip_prefix("from ")?.split(' ').next()?;
                if who == from {
                    n.parse().ok()
                } else {
                    None
                }
            })
            .collect()
    }

    /// The text summary table's rows, once the process has exited (the tests that pin the
    /// text format; the others use [`Proc::summary_of`] with `--json`).
    pub fn summary(&self) -> Vec<Row> {
        let lines = self.lines();
        let Some(h) = lines
            .iter()
            .position(|l| l.starts_with("peer ") && l.contains("received"))
        else {
            panic!("{}: no summary table in:\n{}", self.label, lines.join("\n"));
        };
        lines[h + 1..]
            .iter()
            .filter_map(|l| Row::parse(l))
            .collect()
    }

    pub fn row(&self, name: &str) -> Row {
        self.summary()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no summary row {name}:\n{}",
                    self.label,
                    self.lines().join("\n")
                )
            })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One peer's summary, from a `summary` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub addr: Option<String>,
    pub sent: Option<u64>,
    pub received: u64,
    pub lost: u64,
    pub dup: u64,
    pub reordered: u64,
    pub restarts: u64,
    pub foreign: u64,
    pub errors: u64,
}

impl Summary {
    pub fn from_json(v: &Value) -> Summary {
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("summary without a number {k}: {v}"))
        };
        Summary {
            addr: v["addr"].as_str().map(str::to_string),
            sent: v["sent"].as_u64(),
            received: n("received"),
            lost: n("lost"),
            dup: n("duplicated"),
            reordered: n("reordered"),
            restarts: n("restarts"),
            foreign: n("foreign"),
            errors: n("errors"),
        }
    }
}

/// One row of the text summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub addr: String,
    pub sent: Option<u64>,
    pub received: u64,
    pub lost: u64,
    pub dup: u64,
    pub reordered: u64,
    pub restarts: u64,
    pub foreign: u64,
    pub errors: u64,
}

impl Row {
    fn parse(l: &str) -> Option<Row> {
        let mut t: Vec<&str> = l.split_whitespace().collect();
        if t.len() < 10 {
            return None;
        }
        let mut num = || t.pop().and_then(|x| x.parse::<u64>().ok());
        let errors = num()?;
        let foreign = num()?;
        let restarts = num()?;
        let reordered = num()?;
        let dup = num()?;
        let lost = num()?;
        let received = num()?;
        let sent = t.pop()?.parse().ok();
        let addr = t.pop()?.to_string();
        Some(Row {
            name: t.join(" "),
            addr,
            sent,
            received,
            lost,
            dup,
            reordered,
            restarts,
            foreign,
            errors,
        })
    }
}

/// Runs `process ARGS...` and insists on a usage error: exit status 2, a message on stderr
/// that points to `--help`, and no panic.
/// Returns the message.
pub fn assert_usage_error(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_process"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(err.contains("--help"), "{args:?}: {err}");
    err.into_owned()
}

/// A network namespace made by the test (needs root), deleted when dropped. Processes run in
/// it with `ip netns exec`; its loopback is private, so iptables rules there touch nothing else.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("peerlab-{}-{tag}", std::process::id());
        let ok = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("run ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {} (these tests need root and iproute2)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(&["netns", "add", &name]);
        let ns = Netns { name };
        ok(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs iptables in the namespace; panics with its message on failure.
    pub fn iptables(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "iptables"])
            .args(args)
            .output()
            .expect("run iptables");
        assert!(
            out.status.success(),
            "iptables {args:?}: {} (install iptables; scripts/setup-docker.sh does)",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Drops about `probability` of the incoming packets that also match `only` (iptables
    /// match arguments, e.g. `-p udp --dport 10003`), at random: the kernel's own loss.
    pub fn drop_randomly(&self, probability: &str, only: &[&str]) {
        let mut args = vec!["-A", "INPUT"];
        args.extend_from_slice(only);
        args.extend([
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            probability,
            "-j",
            "DROP",
        ]);
        self.iptables(&args);
    }

    /// Packets dropped so far by the first rule of INPUT.
    pub fn dropped(&self) -> u64 {
        let out = self.iptables(&["-L", "INPUT", "-v", "-n", "-x"]);
        out.lines()
            .find(|l| l.contains("DROP"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("a DROP rule")
    }

    /// Starts `process ARGS...` inside the namespace.
    pub fn start(&self, label: &str, args: &[&str]) -> Proc {
        let mut a = vec!["netns", "exec", &self.name, env!("CARGO_BIN_EXE_process")];
        a.extend_from_slice(args);
        Proc::start_cmd(label, "ip", &a)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Netns {
    /// Writes the namespace's own /etc/hosts (`ip netns exec` shows /etc/netns/NAME/hosts as
    /// /etc/hosts to what it runs). Rewritten in place, so running processes see new entries.
    pub fn hosts(&self, content: &str) {
        let dir = format!("/etc/netns/{}", self.name);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME (needs root)");
        let path = format!("{dir}/hosts");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .expect("write the namespace's hosts file");
        f.write_all(content.as_bytes()).unwrap();
    }
}
