//! `process`: the command-line entry. It only picks the mode and hands over to the library.

use std::io;
use std::process::ExitCode;

use argh::FromArgs;
use peerlab::cli::{self, PeerArgs};
use peerlab::counter::{self, PeerConfig};
use peerlab::health::{self, HealthArgs};
use peerlab::output::Output;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_else(|| "process".into());
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    // The peer's arguments are free-form addresses, so the other modes are picked by the
    // first word rather than by argh subcommands.
    if rest.first() == Some(&"health") {
        return match HealthArgs::from_args(&[&cmd, "health"], &rest[1..]) {
            Ok(a) => run_health(a),
            Err(early) => early_exit(early),
        };
    }
    let peer = match PeerArgs::from_args(&[&cmd], &rest) {
        Ok(a) => a,
        Err(early) => return early_exit(early),
    };
    run_peer(peer)
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

fn run_peer(a: PeerArgs) -> ExitCode {
    if let Err(e) = cli::check_peers(a.peers.len()) {
        eprintln!("process: {e}");
        return ExitCode::from(2);
    }
    let cfg = PeerConfig {
        addr: a.addr,
        peers: a.peers,
        interval: a.interval,
        strict: a.strict,
    };
    let out = Output::new(io::stdout(), a.json);
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

fn run_health(a: HealthArgs) -> ExitCode {
    match health::probe(&a.addr, a.timeout) {
        Ok(rtt) => {
            println!("{} is healthy ({} us)", a.addr.text, rtt.as_micros());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{} is not healthy: {e}", a.addr.text);
            ExitCode::FAILURE
        }
    }
}
