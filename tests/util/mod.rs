//! Helpers for tests that run the real `process` binary: start it, read its lines as they
//! come, wait for a line, stop it with a real signal, read its `--json` events (most tests)
//! or its text summary table (the tests that pin the text format).
//!
//! No test leaves a process behind. Every program a test starts runs in its own process
//! group, and the whole group is killed when its [`Proc`] is dropped or killed (a `sh -c`
//! forks the command, which survives the shell otherwise), or when the test binary is stopped
//! by SIGINT, SIGTERM or SIGHUP (Ctrl-C on `cargo test` reaches only the terminal's foreground
//! group, which these groups are not part of). At exit, the test binary fails if any process
//! it started, or any descendant of one, is still running ([`check_nothing_left`]).
#![allow(dead_code)] // each test file uses a different part

use std::io::Write as _;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Once};
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

/// The path of strace, for the tests of the full suite that count or delay system calls.
pub fn strace() -> &'static str {
    ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("strace is needed for this test: scripts/setup/setup-tools.sh installs it")
}

/// strace attached to a running process for `secs` seconds (then SIGINT), tracing `calls`.
pub struct Attached {
    child: Child,
    out: std::path::PathBuf,
}

impl Attached {
    /// Starts tracing `pid`; give it a moment to attach before what it should see.
    pub fn start(pid: u32, secs: u32, calls: &str) -> Attached {
        static N: AtomicI32 = AtomicI32::new(0);
        let out = std::env::temp_dir().join(format!(
            "peerlab-strace-{}-{}.txt",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let child = Command::new("timeout")
            .args(["-s", "INT", &secs.to_string(), strace(), "-o"])
            .arg(&out)
            .args(["-e", &format!("trace={calls}"), "-p", &pid.to_string()])
            .spawn()
            .expect("timeout and strace run");
        Attached { child, out }
    }

    /// Waits for strace to end and returns its trace, one line a call.
    pub fn finish(mut self) -> String {
        let status = self.child.wait().expect("strace ran");
        assert!(status.code().is_some(), "{status:?}");
        let trace = std::fs::read_to_string(&self.out).unwrap_or_default();
        let _ = std::fs::remove_file(&self.out);
        trace
    }
}

/// The value each traced call returned, for the lines of `name` in an strace trace
/// ("recvmmsg(5, [...], 2, MSG_DONTWAIT, NULL) = 1", "... = -1 EAGAIN ...").
pub fn strace_returns(trace: &str, name: &str) -> Vec<i64> {
    trace
        .lines()
        .filter(|l| l.starts_with(&format!("{name}(")))
        .filter_map(|l| l.rsplit_once(") = ")?.1.split(' ').next()?.parse().ok())
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
    /// Its group was killed and the child reaped: nothing left to clean up.
    reaped: bool,
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
        guard_this_binary();
        let mut child = Command::new(program)
            .args(args)
            // Inherited by everything it starts: how the check at exit recognises them.
            .env(OWNER_VAR, std::process::id().to_string())
            // Its own process group (pgid = its pid), killed as a whole.
            .process_group(0)
            .stdin(if piped { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn process");
        track_group(child.id() as i32);
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
            reaped: false,
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

    /// Waits (up to [`PATIENCE`]) for an event named `name` that matches `pred`; panics with
    /// what it waited for and the output if none.
    pub fn wait_event_named(&self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_event_named_within(PATIENCE, name, pred)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no matching {name:?} event in {PATIENCE:?}; output:\n{}\nstderr:\n{}",
                    self.label,
                    self.lines().join("\n"),
                    self.stderr()
                )
            })
    }

    /// Like [`Proc::wait_event_named`], up to `limit`, `None` if none came.
    pub fn wait_event_named_within(
        &self,
        limit: Duration,
        name: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        eventually(limit, || {
            self.events()
                .into_iter()
                .find(|v| v["event"] == name && pred(v))
        })
    }

    /// The position of the first event named `name` that matches `pred` among all the events
    /// ([`Proc::events`]), waiting (up to [`PATIENCE`]) for it: lines are read by another
    /// thread, so an event another process's output implies may not be here yet.
    pub fn index_of_event(&self, name: &str, pred: impl Fn(&Value) -> bool) -> usize {
        eventually(PATIENCE, || {
            self.events()
                .iter()
                .position(|v| v["event"] == name && pred(v))
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: no {name:?} event such as the test waits for:\n{}",
                self.label,
                self.lines().join("\n")
            )
        })
    }

    /// How many events named `name` match `pred` so far.
    pub fn count_events(&self, name: &str, pred: impl Fn(&Value) -> bool) -> usize {
        self.events_named(name).iter().filter(|v| pred(v)).count()
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

    /// The summary rows of senders that are not configured peers (strangers).
    pub fn stranger_rows(&self) -> Vec<Value> {
        self.summary_json()
            .into_iter()
            .filter(|v| v["peer"].is_null())
            .collect()
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

    /// Waits for the process to exit on its own. Whatever it leaves in its process group
    /// (e.g. what a shell started in the background) is killed with it.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        eventually(limit, || (self.reaped || self.exited()).then_some(()))?;
        // Reaping after the group kill: until then the exited child (a zombie) keeps its pid,
        // so the group's number cannot have been reused.
        self.kill_group();
        let s = self.child.wait().expect("wait for the child");
        self.reaped = true;
        untrack_group(self.child.id() as i32);
        // Let the readers collect the last lines.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Some(s)
    }

    /// Whether the child has exited, without reaping it (`waitid` with `WNOWAIT`).
    fn exited(&self) -> bool {
        // SAFETY: a zeroed siginfo_t is valid; waitid only writes it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: plain system call on our own child, with a valid out-pointer.
        let r = unsafe { libc::waitid(libc::P_PID, self.child.id(), &mut info, flags) };
        // SAFETY: waitid filled `info` (si_pid stays 0 while the child runs).
        r == 0 && unsafe { info.si_pid() } != 0
    }

    /// SIGKILL to the process and everything in its process group.
    fn kill_group(&self) {
        if !self.reaped {
            // SAFETY: kill(2) has no memory effects. Not reaped yet, so the group's number
            // is still ours.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        }
    }

    /// Kills the process and its whole process group, and waits for it.
    pub fn kill9(&mut self) {
        self.kill_group();
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
        // A row is one line (name and counts), after a line of its own for a long name, and
        // before `  at ADDR` when the address is not the name as written.
        let mut rows: Vec<Row> = Vec::new();
        let body = &lines[h + 1..];
        for (k, l) in body.iter().enumerate() {
            if let Some(a) = l.strip_prefix("  at ") {
                if let Some(r) = rows.last_mut() {
                    r.addr = a.to_string();
                }
            } else if let Some(mut r) = Row::parse(l) {
                if r.name.is_empty() && k > 0 {
                    r.name = body[k - 1].trim().to_string();
                }
                if r.addr.is_empty() {
                    r.addr = r.name.clone();
                }
                rows.push(r);
            }
        }
        rows
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
        if !self.reaped {
            self.kill_group();
            let _ = self.child.wait();
            untrack_group(self.child.id() as i32);
        }
    }
}

/// Set on every program a test starts (to the test binary's pid); inherited by descendants.
const OWNER_VAR: &str = "PEERLAB_TEST_OWNER";

/// Process groups of the live [`Proc`]s, for the signal handler (which may not lock or
/// allocate: fixed slots, 0 = free).
static GROUPS: [AtomicI32; 512] = [const { AtomicI32::new(0) }; 512];

fn track_group(pgid: i32) {
    // Best effort: with every slot taken, Drop still kills the group.
    let _ = GROUPS.iter().find(|s| {
        s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
}

fn untrack_group(pgid: i32) {
    let _ = GROUPS.iter().find(|s| {
        s.compare_exchange(pgid, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
}

/// SIGINT, SIGTERM or SIGHUP to the test binary: kill every live group, then die of the
/// signal as before. Async-signal-safe: atomics, kill, signal, raise.
extern "C" fn kill_groups_and_die(sig: libc::c_int) {
    for s in &GROUPS {
        let g = s.load(Ordering::SeqCst);
        if g > 0 {
            // SAFETY: async-signal-safe system calls.
            unsafe { libc::kill(-g, libc::SIGKILL) };
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Once per test binary: the signal handlers and the check at exit.
fn guard_this_binary() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let handler = kill_groups_and_die as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: installs a handler that is async-signal-safe; a signal that was
            // ignored (nohup) stays ignored.
            unsafe {
                if libc::signal(sig, handler) == libc::SIG_IGN {
                    libc::signal(sig, libc::SIG_IGN);
                }
            }
        }
        // SAFETY: registers a plain function that never unwinds.
        unsafe { libc::atexit(check_nothing_left) };
    });
}

/// At exit (after every test has dropped its processes): if any process this binary started,
/// or any descendant of one, is still running, lists and kills them and fails the binary
/// (exit status 101, as for a failed test).
extern "C" fn check_nothing_left() {
    // SIGKILL takes effect at once, but a terminal's hang-up (script(1)) may take a moment.
    let t = Instant::now();
    let mut left = left_behind();
    while !left.is_empty() && t.elapsed() < Duration::from_secs(2) {
        thread::sleep(Duration::from_millis(20));
        left = left_behind();
    }
    if left.is_empty() {
        return;
    }
    // Never panic here (no unwinding out of an exit handler): write errors are ignored.
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "error: {} process(es) started by this test binary outlived their test (killed now):",
        left.len()
    );
    for (pid, cmd) in &left {
        let _ = writeln!(err, "  {pid} {cmd}");
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    // SAFETY: ends the process at once, without running further exit handlers.
    unsafe { libc::_exit(101) };
}

/// Running processes (not zombies) that carry this binary's [`OWNER_VAR`], with their command
/// lines.
pub fn left_behind() -> Vec<(i32, String)> {
    let me = format!("{OWNER_VAR}={}", std::process::id());
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if running(pid) && env.split(|&b| b == 0).any(|v| v == me.as_bytes()) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            found.push((pid, cmd.trim_end().to_string()));
        }
    }
    found
}

/// Whether `pid` is a live process (a zombie is not: it runs nothing, and an init that
/// does not reap, as in some sandboxes, may keep it for ever).
pub fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold any byte.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The number `key` of event `v`; panics with the event if it has none.
pub fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {key:?} in the event {v}"))
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
        if t.len() < 8 {
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
        let sent = match t.pop()? {
            "-" => None,
            n => Some(n.parse().ok()?),
        };
        Some(Row {
            name: t.join(" "),
            addr: String::new(),
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
            "iptables {args:?}: {} (install iptables; scripts/setup/setup-docker.sh does)",
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
        // Its hosts and resolv.conf, if a test wrote them.
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
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

impl Netns {
    /// Writes the namespace's own /etc/resolv.conf (`ip netns exec` shows
    /// /etc/netns/NAME/resolv.conf as /etc/resolv.conf to what it runs).
    pub fn resolv_conf(&self, content: &str) {
        let dir = format!("/etc/netns/{}", self.name);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME (needs root)");
        std::fs::write(format!("{dir}/resolv.conf"), content).expect("write resolv.conf");
    }

    /// Runs `f` on a thread that has entered the namespace (setns(2)): the sockets it opens
    /// belong to the namespace for their whole life, whichever thread uses them afterwards.
    pub fn inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        use std::os::fd::AsRawFd as _;
        let path = format!("/var/run/netns/{}", self.name);
        thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open the namespace");
            // SAFETY: setns(2) on a valid descriptor; it changes only this thread's network
            // namespace.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("the thread inside the namespace")
    }
}
