//! `process`: the command-line entry. It only picks the mode and hands over to the library.

#![warn(unreachable_pub)]

mod cli;

use std::process::ExitCode;

use crate::cli::{HealthArgs, HealthTarget, MutexArgs, PeerArgs, ResourceArgs, TimelineArgs};
use argh::FromArgs;
use peerlab::counter::{self, PeerConfig};
use peerlab::health;
use peerlab::io::driver::{App, Driver};
use peerlab::lab1::process::{self, MutexConfig};
use peerlab::lab1::resource;
use peerlab::output::stdout::Stdout;
use peerlab::output::Output;

fn main() -> ExitCode {
    // args_os: `std::env::args` panics on an argument that is not UTF-8.
    let mut args: Vec<String> = Vec::new();
    for a in std::env::args_os() {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                return usage(
                    "process",
                    format_args!("argument {bad:?} is not valid UTF-8"),
                )
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
        Some("health") => mode(&[&cmd, "health"], &rest[1..], run_health),
        Some("mutex") => mode(&[&cmd, "mutex"], &rest[1..], run_mutex),
        // Only bare numbers (`process 10002 10003 10004`): ports whose colon was forgotten,
        // not a Lab 1 id and its list; say that rather than Lab 1's argument names.
        Some(_) if rest.len() > 1 && rest.iter().all(|a| is_number(a)) => usage(
            &cmd,
            format_args!(
                "`{}` are numbers, not addresses: the peer takes host:port or :port (`{cmd} :{} ...`); a number first starts Lab 1 (`{cmd} mutex ID ADDR...`)",
                rest.join(" "),
                rest[0]
            ),
        ),
        // The handout's Lab 1 form: `Process 1 p1:10004 p2:10003 p3:10002` (an address always
        // has a colon, an id never does).
        Some(first) if is_number(first) => {
            mode(&[&cmd, "mutex"], &rest, run_mutex)
        }
        Some("timeline") => mode(&[&cmd, "timeline"], &stdin_dash(&rest[1..]), run_timeline),
        Some("shared-resource") => mode(&[&cmd, "shared-resource"], &rest[1..], run_resource),
        // Not a mode, and without a colon not an address either (`process resource`, `mutx`).
        Some(first) if !first.contains(':') && !first.starts_with('-') && first != "help" => usage(
            &cmd,
            format_args!(
                "{:?} is neither a mode nor an address: the modes are mutex, shared-resource, timeline and health; the peer takes host:port or :port (`{cmd} :10002 :10003 :10004`)",
                // Quoted and escaped, and cut: it is whatever was typed.
                first.chars().take(40).collect::<String>()
            ),
        ),
        _ => mode(&[&cmd], &rest, run_peer),
    }
}

/// Parses one mode's arguments and runs it, or prints argh's `--help` (status 0, stdout) or
/// usage error (status 2, stderr).
///
/// Each mode's `run_*` is `#[inline(never)]`: its locals then live in its own frame, so a
/// peer does not touch (make resident) the stack pages that only Lab 1's modes need.
fn mode<A: FromArgs>(name: &[&str], args: &[&str], run: fn(A) -> ExitCode) -> ExitCode {
    match A::from_args(name, args) {
        Ok(a) => run(a),
        Err(early) => match early.status {
            Ok(()) => {
                println!("{}", early.output);
                ExitCode::SUCCESS
            }
            Err(()) => {
                // argh repeats what was typed: shown safely (no escape reaches the terminal).
                let said: Vec<String> = early
                    .output
                    .trim_end()
                    .lines()
                    .map(peerlab::timeline::visible)
                    .collect();
                eprintln!("{}\nRun with --help for more information.", said.join("\n"));
                ExitCode::from(2)
            }
        },
    }
}

/// A usage error found after argh (status 2): `PREFIX: WHY` and the hint.
fn usage(prefix: &str, why: impl std::fmt::Display) -> ExitCode {
    let why = peerlab::timeline::visible(&why.to_string());
    eprintln!("{prefix}: {why}\nRun with --help for more information.");
    ExitCode::from(2)
}

fn is_number(a: &str) -> bool {
    !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit())
}

/// `timeline`'s arguments with a lone `-` input as `/dev/stdin` (argh takes it for an
/// unknown option).
fn stdin_dash<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = Vec::new();
    for a in rest {
        let value = matches!(args.last(), Some(&("-o" | "--output")));
        args.push(if *a == "-" && !value { "/dev/stdin" } else { a });
    }
    args
}

/// Opens a mode's sockets with `start` and runs its loop. A start error is status 1 with
/// `PREFIX: WHY`.
#[inline(never)]
fn serve<A: App, E: std::fmt::Display>(
    prefix: &str,
    metrics: Option<std::net::SocketAddr>,
    start: impl FnOnce() -> Result<Box<Driver<A, Stdout>>, E>,
) -> ExitCode {
    // The metrics port first: a port in use stops the process before it says anything to its
    // peers, and whoever waits for the listening line can scrape at once.
    let listener = match metrics.map(std::net::TcpListener::bind).transpose() {
        Ok(l) => l,
        Err(e) => {
            let addr = metrics.map_or(String::new(), |a| a.to_string());
            let why = match e.kind() {
                std::io::ErrorKind::AddrInUse => "the port is already in use".to_string(),
                _ => e.to_string(),
            };
            eprintln!("{prefix}: --metrics {addr}: cannot listen: {why}");
            return ExitCode::FAILURE;
        }
    };
    // Opening the own address may wait for its name: a stop meanwhile is still a stop.
    peerlab::io::driver::stop_while_starting();
    let mut node = match start() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{prefix}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(l) = listener {
        if let Err(e) = node.serve_metrics(l) {
            eprintln!("{prefix}: --metrics: cannot serve: {e}");
            return ExitCode::FAILURE;
        }
    }
    match node.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("process: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output, opened so that a reader that stops reading cannot stall the loop.
fn stdout(json: bool) -> Option<Output<Stdout>> {
    match Output::stdout(json) {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("process: cannot use stdout: {e}");
            None
        }
    }
}

#[inline(never)]
fn run_peer(a: PeerArgs) -> ExitCode {
    if let Err(e) = cli::check_peer_args(&a) {
        return usage("process", e);
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
    serve("process", a.metrics, || counter::start(&cfg, out))
}

#[inline(never)]
fn run_mutex(a: MutexArgs) -> ExitCode {
    if let Err(e) = cli::check_mutex(&a) {
        return usage("process mutex", e);
    }
    let auth = match cli::load_key(a.key_file.as_deref(), std::env::var_os(cli::KEY_FILE_ENV)) {
        Ok(k) => k,
        Err(e) => return usage("process mutex", e),
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
                let why = format!("--trace `{}`: cannot open: {e}", path.display());
                return usage("process mutex", why);
            }
        }
    }
    serve("process mutex", a.metrics, || process::start(&cfg, out))
}

#[inline(never)]
fn run_resource(a: ResourceArgs) -> ExitCode {
    if let Err(e) = cli::check_peers(a.processes.len()) {
        eprintln!("process shared-resource: {e}");
        return ExitCode::from(2);
    }
    let auth = match cli::load_key(a.key_file.as_deref(), std::env::var_os(cli::KEY_FILE_ENV)) {
        Ok(k) => k,
        Err(e) => return usage("process shared-resource", e),
    };
    let Some(out) = stdout(a.json) else {
        return ExitCode::FAILURE;
    };
    serve("process shared-resource", a.metrics, || {
        resource::start(&a.listen, &a.processes, auth, out)
    })
}

#[inline(never)]
fn run_timeline(a: TimelineArgs) -> ExitCode {
    if a.inputs.is_empty() {
        return usage(
            "process timeline",
            "give trace files, a directory, or - for stdin",
        );
    }
    if a.check && a.format != peerlab::timeline::Format::Svg {
        return usage(
            "process timeline",
            "--check checks, --format says what to draw: give one of them",
        );
    }
    ExitCode::from(peerlab::timeline::run(
        &a.inputs,
        a.output.as_deref(),
        peerlab::timeline::Options {
            layout: a.x,
            resends: a.resends,
            deferrals: a.deferrals,
            resource: a.resource,
        },
        a.format,
        a.check,
    ))
}

#[inline(never)]
fn run_health(a: HealthArgs) -> ExitCode {
    let addr = match a.target() {
        Ok(HealthTarget::Addr(addr)) => addr,
        Ok(HealthTarget::OwnPort(port)) => return run_health_self(port, a.timeout),
        Err(e) => return usage("process health", e),
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

/// This run's incarnation for Lab 1: the start time in milliseconds since the UNIX epoch, so
/// a process started again (a container restart) is always a newer one.
fn incarnation() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64)
}
