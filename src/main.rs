//! `process`: the command-line entry. It only picks the mode and hands over to the library.

#![warn(unreachable_pub)]

mod cli;

use std::io;
use std::process::ExitCode;

use crate::cli::{HealthArgs, HealthTarget, MutexArgs, PeerArgs, ResourceArgs, TimelineArgs};
use argh::FromArgs;
use peerlab::counter::{self, PeerConfig};
use peerlab::health;
use peerlab::lab1::process::{self, MutexConfig};
use peerlab::lab1::resource;
use peerlab::output::Output;

fn main() -> ExitCode {
    // args_os: `std::env::args` panics on an argument that is not UTF-8.
    let mut args: Vec<String> = Vec::new();
    for a in std::env::args_os() {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!(
                    "process: argument {bad:?} is not valid UTF-8\nRun with --help for more information."
                );
                return ExitCode::from(2);
            }
        }
    }
    let cmd = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_else(|| "process".into());
    // argh knows only `--help`; `-h` is what people type first.
    let rest: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| if a == "-h" { "--help" } else { a.as_str() })
        .collect();
    // The peer's arguments are free-form addresses, so the other modes are picked by the
    // first word rather than by argh subcommands.
    match rest.first().copied() {
        Some("health") => {
            return match HealthArgs::from_args(&[&cmd, "health"], &rest[1..]) {
                Ok(a) => run_health(a),
                Err(early) => early_exit(early),
            }
        }
        Some("mutex") => {
            return match MutexArgs::from_args(&[&cmd, "mutex"], &rest[1..]) {
                Ok(a) => run_mutex(a),
                Err(early) => early_exit(early),
            }
        }
        // The handout's Lab 1 form: `Process 1 p1:10004 p2:10003 p3:10002` (an address always
        // has a colon, an id never does).
        Some(first) if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) => {
            return match MutexArgs::from_args(&[&cmd, "mutex"], &rest) {
                Ok(a) => run_mutex(a),
                Err(early) => early_exit(early),
            }
        }
        Some("timeline") => {
            // argh takes a lone `-` for an unknown option: as an input it means stdin.
            let mut args: Vec<&str> = Vec::new();
            for a in &rest[1..] {
                let value = matches!(args.last(), Some(&("-o" | "--output")));
                args.push(if *a == "-" && !value { "/dev/stdin" } else { a });
            }
            return match TimelineArgs::from_args(&[&cmd, "timeline"], &args) {
                Ok(a) if a.inputs.is_empty() => {
                    eprintln!("process timeline: give trace files, a directory, or - for stdin\nRun with --help for more information.");
                    ExitCode::from(2)
                }
                Ok(a) => run_timeline(a),
                Err(early) => early_exit(early),
            };
        }
        Some("shared-resource") => {
            return match ResourceArgs::from_args(&[&cmd, "shared-resource"], &rest[1..]) {
                Ok(a) => run_resource(a),
                Err(early) => early_exit(early),
            }
        }
        _ => {}
    }
    let peer = match PeerArgs::from_args(&[&cmd], &rest) {
        Ok(a) => a,
        Err(early) => return early_exit(early),
    };
    run_peer(peer)
}

// Not inlined into `main`: each mode's locals then live in its own frame, so a peer does not
// touch (make resident) the stack pages that only Lab 1's modes need.
#[inline(never)]
fn run_timeline(a: TimelineArgs) -> ExitCode {
    ExitCode::from(peerlab::timeline::run(
        &a.inputs,
        a.output.as_deref(),
        a.x,
        a.format,
        a.check,
    ))
}

/// argh's `--help` (status 0, stdout) or a usage error (status 2, stderr).
fn early_exit(early: argh::EarlyExit) -> ExitCode {
    match early.status {
        Ok(()) => {
            println!("{}", early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            eprintln!(
                "{}\nRun with --help for more information.",
                early.output.trim_end()
            );
            ExitCode::from(2)
        }
    }
}

// Not inlined into `main`: each mode's locals then live in its own frame, so a peer does not
// touch (make resident) the stack pages that only Lab 1's modes need.
#[inline(never)]
fn run_peer(a: PeerArgs) -> ExitCode {
    if let Err(e) = cli::check_peer_args(&a) {
        eprintln!("process: {e}\nRun with --help for more information.");
        return ExitCode::from(2);
    }
    let cfg = PeerConfig {
        discovery: cli::discovery(&a),
        addr: a.addr,
        peers: a.peers,
        interval: a.interval,
        strict: a.strict,
    };
    let Some(out) = stdout(a.json) else {
        return ExitCode::FAILURE;
    };
    // Opening the own address may wait for its name: a stop meanwhile is still a stop.
    peerlab::io::driver::stop_while_starting();
    let mut node = match counter::start(&cfg, out) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("process: {e}");
            return ExitCode::FAILURE;
        }
    };
    match node.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("process: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

// Not inlined into `main`: each mode's locals then live in its own frame, so a peer does not
// touch (make resident) the stack pages that only Lab 1's modes need.
#[inline(never)]
fn run_health(a: HealthArgs) -> ExitCode {
    let addr = match a.target() {
        Ok(HealthTarget::Addr(addr)) => addr,
        Ok(HealthTarget::OwnPort(port)) => return run_health_self(port, a.timeout),
        Err(e) => {
            eprintln!("process health: {e}\nRun with --help for more information.");
            return ExitCode::from(2);
        }
    };
    // A name that does not resolve fails the check: whatever else answered would not be
    // ADDR (a container's check of its own port is `--self PORT`, which looks up no name).
    match health::probe(addr, a.timeout) {
        Ok(h) => {
            println!("{} is healthy ({} us)", addr.text, h.rtt.as_micros() as u64);
            ExitCode::SUCCESS
        }
        Err(health::HealthError::Resolve(e)) => {
            println!(
                "{} is not healthy: the name {} does not resolve ({e}); to check this host's own port: process health --self {}",
                addr.text,
                addr.host(),
                addr.port
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("{} is not healthy: {e}", addr.text);
            ExitCode::FAILURE
        }
    }
}

/// `process health --self PORT`: this host's own port, no name looked up.
fn run_health_self(port: u16, timeout: std::time::Duration) -> ExitCode {
    let probed = health::probe_self(port, timeout);
    match probed.result {
        Ok(h) => {
            println!(
                "port {port} of this host is healthy: {} answered ({} us)",
                h.from,
                h.rtt.as_micros() as u64
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut probed_list = String::new();
            for (i, t) in probed.targets.iter().enumerate() {
                if i > 0 {
                    probed_list.push_str(", ");
                }
                probed_list.push_str(&t.ip().to_string());
            }
            println!("port {port} of this host is not healthy: {e} (probed {probed_list})");
            ExitCode::FAILURE
        }
    }
}

// Not inlined into `main`: each mode's locals then live in its own frame, so a peer does not
// touch (make resident) the stack pages that only Lab 1's modes need.
#[inline(never)]
fn run_mutex(a: MutexArgs) -> ExitCode {
    if let Err(e) = cli::check_mutex(&a) {
        eprintln!("process mutex: {e}\nRun with --help for more information.");
        return ExitCode::from(2);
    }
    let auth = match cli::load_key(a.key_file.as_deref(), std::env::var_os(cli::KEY_FILE_ENV)) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("process mutex: {e}\nRun with --help for more information.");
            return ExitCode::from(2);
        }
    };
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        t ^ u64::from(std::process::id()).rotate_left(32)
    });
    let cfg = MutexConfig {
        id: a.id,
        addrs: a.addrs,
        resource: a.resource,
        cs_time: a.cs_time,
        auto: a.auto,
        text: a.text,
        seed,
        inc: incarnation(),
        keyboard: true,
        auth,
    };
    let Some(mut out) = stdout(a.json) else {
        return ExitCode::FAILURE;
    };
    if let Some(path) = &a.trace {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: a FIFO without a reader is refused here rather than stalling later.
        // Appended, never replaced: a restarted process (a container restarted with the same
        // path) adds its new life after the old one, and processes sharing a file interleave
        // whole lines (each line is one write).
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
        match file {
            Ok(f) => out = out.with_trace(f, &path.display().to_string()),
            Err(e) => {
                eprintln!(
                    "process mutex: --trace `{}`: cannot open: {e}\nRun with --help for more information.",
                    path.display()
                );
                return ExitCode::from(2);
            }
        }
    }
    // Opening the own address may wait for its name: a stop meanwhile is still a stop.
    peerlab::io::driver::stop_while_starting();
    let mut node = match process::start(&cfg, out) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("process mutex: {e}");
            return ExitCode::FAILURE;
        }
    };
    finish(node.run())
}

// Not inlined into `main`: each mode's locals then live in its own frame, so a peer does not
// touch (make resident) the stack pages that only Lab 1's modes need.
#[inline(never)]
fn run_resource(a: ResourceArgs) -> ExitCode {
    if let Err(e) = cli::check_peers(a.processes.len()) {
        eprintln!("process shared-resource: {e}");
        return ExitCode::from(2);
    }
    let auth = match cli::load_key(a.key_file.as_deref(), std::env::var_os(cli::KEY_FILE_ENV)) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("process shared-resource: {e}\nRun with --help for more information.");
            return ExitCode::from(2);
        }
    };
    let Some(out) = stdout(a.json) else {
        return ExitCode::FAILURE;
    };
    // Opening the own address may wait for its name: a stop meanwhile is still a stop.
    peerlab::io::driver::stop_while_starting();
    let mut node = match resource::start(&a.listen, &a.processes, auth, out) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("process shared-resource: {e}");
            return ExitCode::FAILURE;
        }
    };
    finish(node.run())
}

/// This run's incarnation for Lab 1: the start time in milliseconds since the UNIX epoch, so
/// a process started again (a container restart) is always a newer one.
fn incarnation() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64)
}

/// Standard output, opened so that a reader that stops reading cannot stall the loop.
fn stdout(json: bool) -> Option<Output<peerlab::output::stdout::Stdout>> {
    match Output::stdout(json) {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("process: cannot use stdout: {e}");
            None
        }
    }
}

fn finish(r: io::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("process: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}
