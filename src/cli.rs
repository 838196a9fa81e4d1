//! The command line. One binary, `process`, with the handout's peer as its default mode:
//! `process ADDR PEER...`. Later modes are subcommands chosen by the first word (see
//! `main.rs`), because the peer's own arguments are free-form addresses.
//!
//! argh prints `--help` from these doc comments and exits with status 2 on bad arguments.

use std::time::Duration;

use argh::FromArgs;

use peerlab::values::addr::{parse_spec, AddrSpec};
use peerlab::values::limits::{DEFAULT_INTERVAL, DEFAULT_MAX_PEERS, MAX_GROUPS, MAX_PEERS};

/// A UDP peer: listens on ADDR and every interval sends its counter (0, 1, 2, ...) to every
/// PEER, printing each datagram it receives. Addresses are host:port; :port means
/// 127.0.0.1:port. Stop with Ctrl-C (or SIGTERM) to see the per-peer summary. Lab 1
/// (Ricart–Agrawala): `process shared-resource`, then `process mutex ID ADDR...` in each
/// terminal (`process mutex --help`).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    example = "{command_name} 127.0.0.1:10002 127.0.0.1:10003 127.0.0.1:10004",
    example = "{command_name} --interval 250ms p1:10002 p2:10003 p3:10004",
    example = "{command_name} 0.0.0.0:10002 --discover peer:10002",
    note = "Other modes: `{command_name} health ADDR` or `{command_name} health --self PORT` (a container health check), `{command_name} mutex ...` and `{command_name} shared-resource ...` (Lab 1), `{command_name} timeline TRACE...` (Lab 1 figures)."
)]
pub(crate) struct PeerArgs {
    /// time between two broadcasts, e.g. 1s, 250ms, 1.5s (default 1s)
    #[argh(option, default = "DEFAULT_INTERVAL", from_str_fn(parse_interval))]
    pub interval: Duration,

    /// print one JSON object per event instead of text lines
    #[argh(switch)]
    pub json: bool,

    /// serve Prometheus metrics over HTTP at ADDR (GET /metrics), e.g. 0.0.0.0:9464; :PORT
    /// listens on every interface (off by default)
    #[argh(option, from_str_fn(parse_metrics_addr))]
    pub metrics: Option<std::net::SocketAddr>,

    /// drop (and count) datagrams from addresses that are not configured peers
    #[argh(switch)]
    pub strict: bool,

    /// a group of peers found by DNS: every address NAME resolves to, but this process's own,
    /// is a peer on PORT; looked up again every few seconds, so peers join and leave
    /// (repeatable; e.g. peer:10002, Swarm's tasks.peer:10002, a Kubernetes headless Service)
    #[argh(option, from_str_fn(parse_spec))]
    pub discover: Vec<AddrSpec>,

    /// room in the peer table, named and discovered peers together, fixed at start (with
    /// --discover; default 64, at most 256)
    #[argh(option)]
    pub max_peers: Option<usize>,

    /// mean time between two lookups of a --discover group (default 5s; each wait +-20% at
    /// random)
    #[argh(option, from_str_fn(parse_discover_every))]
    pub discover_every: Option<Duration>,

    /// this process's own address, host:port or :port
    #[argh(positional, from_str_fn(parse_spec))]
    pub addr: AddrSpec,

    /// the other processes' addresses, host:port or :port
    #[argh(positional, from_str_fn(parse_spec))]
    pub peers: Vec<AddrSpec>,
}

/// The longest duration any option takes.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// `--interval`: `250ms`, `1s`, `1.5s`, `2m` or `1h` (a number needs its unit).
pub(crate) fn parse_interval(s: &str) -> Result<Duration, String> {
    parse_duration(s, "--interval")
}

/// The shortest `--discover-every`: each lookup is a query (or two: A and AAAA) to a
/// nameserver that every replica shares, up to [`MAX_GROUPS`] groups each. At 100 ms a
/// process asks at most 10 times a second per group (1 ms gave 13,393 queries in 8 s with 8
/// groups), and a leave (2 lookups in a row) is still seen within a quarter second, which the
/// tests use to run quickly.
pub(crate) const MIN_DISCOVER_EVERY: Duration = Duration::from_millis(100);

/// `--discover-every`, in the same forms as `--interval`, at least [`MIN_DISCOVER_EVERY`].
pub(crate) fn parse_discover_every(s: &str) -> Result<Duration, String> {
    // The shared parser's range says 1ms; this option's floor is higher.
    let d = parse_duration(s, "--discover-every")
        .map_err(|e| e.replace("between 1ms and", "between 100ms and"))?;
    if d < MIN_DISCOVER_EVERY {
        return Err(format!(
            "`{s}`: --discover-every must be at least 100ms (each lookup is a query to a nameserver every replica shares)"
        ));
    }
    Ok(d)
}

/// `--cs-time`, in the same forms as `--interval`.
pub(crate) fn parse_cs_time(s: &str) -> Result<Duration, String> {
    parse_duration(s, "--cs-time")
}

/// `--auto`, in the same forms as `--interval`.
pub(crate) fn parse_auto(s: &str) -> Result<Duration, String> {
    parse_duration(s, "--auto")
}

/// `--metrics`: `IP:PORT`, `[IPv6]:PORT`, or `:PORT` for every interface (as exporters and
/// Go's `net.Listen` read it: the endpoint is meant to be reached from outside the host or
/// container).
pub(crate) fn parse_metrics_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{Ipv4Addr, SocketAddr};
    let addr = match s.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p))),
        None => s.parse::<SocketAddr>().ok(),
    };
    // Port 0 (any free port) is refused as for the peer's own address: a scraper must know it.
    addr.filter(|a| a.port() != 0).ok_or_else(|| {
        format!(
            "`{s}`: --metrics takes IP:PORT (e.g. 0.0.0.0:9464, 127.0.0.1:9464, [::]:9464) or :PORT for every interface, with a port from 1 to 65535"
        )
    })
}

/// `--timeout` (of `health`), in the same forms as `--interval`.
pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s, "--timeout")
}

/// Lab 1's first argument, the process's id. An address there is the usual slip (the id
/// forgotten): say what the argument is.
fn parse_id(s: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|_| {
        "the first argument is this process's id, 1 to N (its position in the address list): \
         `process mutex 1 :10002 :10003 :10004`"
            .to_string()
    })
}

/// `--self` (of `health`): a port number from 1 to 65535 (`:10002` is taken too).
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    match s.strip_prefix(':').unwrap_or(s).parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("`{s}`: the port must be a number from 1 to 65535")),
    }
}

/// Parses `250ms`, `1s`, `1.5s`, `2m` or `1h`, between 1ms and
/// [`MAX_DURATION`] (argh prefixes errors with the option and value; the range error names
/// `option` too, since it is shared by several options). Integer arithmetic only: float parsing and printing
/// would add tens of kilobytes to a half-megabyte binary.
fn parse_duration(s: &str, option: &str) -> Result<Duration, String> {
    let (num, unit_ns) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000_000u128)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000_000_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000_000_000)
    } else if !s.is_empty() && s.bytes().all(|b| b == b'0' || b == b'.') {
        (s, 1) // zero in any unit: the range error says what is allowed
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // `--interval 250` meant 250 ms as often as 250 s: a number needs its unit.
        return Err(format!(
            "`{s}` has no unit: write {s}ms, {s}s, {s}m or {s}h"
        ));
    } else {
        return Err(format!("`{s}` is not a duration like 1s, 250ms or 1.5s"));
    };
    let bad = || format!("`{s}` is not a duration like 1s, 250ms or 1.5s");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |d: &str| !d.is_empty() && d.len() <= 12 && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !(frac.is_empty() || digits(frac)) {
        return Err(bad());
    }
    let int: u128 = int.parse().map_err(|_| bad())?;
    let scale = 10u128.pow(frac.len() as u32);
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let ns = (int * scale + frac) * unit_ns / scale;
    if !(1_000_000..=MAX_DURATION.as_nanos()).contains(&ns) {
        return Err(format!("`{s}`: {option} must be between 1ms and 24h"));
    }
    Ok(Duration::from_nanos(ns as u64))
}

/// Checks what argh cannot for the peer mode: the number of peers (at most [`MAX_PEERS`]).
pub(crate) fn check_peers(n: usize) -> Result<(), String> {
    if n > MAX_PEERS {
        return Err(format!("at most {MAX_PEERS} peers are supported, got {n}"));
    }
    Ok(())
}

/// Checks the peer mode's arguments: the number of peers, no peer twice and not the own
/// address as a peer (a peer that cannot work: its datagrams would come back to ourselves
/// or be counted twice).
pub(crate) fn check_peer_args(a: &PeerArgs) -> Result<(), String> {
    check_peers(a.peers.len())?;
    if a.discover.is_empty() {
        if a.max_peers.is_some() || a.discover_every.is_some() {
            return Err("--max-peers and --discover-every go with --discover".into());
        }
    } else {
        if a.discover.len() > MAX_GROUPS {
            return Err(format!(
                "at most {MAX_GROUPS} --discover groups are supported, got {}",
                a.discover.len()
            ));
        }
        let max = a.max_peers.unwrap_or(DEFAULT_MAX_PEERS.max(a.peers.len()));
        if max == 0 || max > MAX_PEERS || max < a.peers.len() {
            return Err(format!(
                "--max-peers must be between the number of named peers ({}) and {MAX_PEERS}, and at least 1; got {max}",
                a.peers.len()
            ));
        }
        for (i, g) in a.discover.iter().enumerate() {
            if let Some(q) = a.discover[..i].iter().find(|q| q.same_as(g)) {
                return Err(format!(
                    "group `{}` is given twice (`{}` is the same)",
                    q.text, g.text
                ));
            }
        }
    }
    for (i, p) in a.peers.iter().enumerate() {
        if p.same_as(&a.addr) {
            return Err(format!(
                "peer `{}` is this process's own address `{}`: list only the other processes",
                p.text, a.addr.text
            ));
        }
        if let Some(q) = a.peers[..i].iter().find(|q| q.same_as(p)) {
            return Err(format!(
                "peer `{}` is given twice (`{}` is the same address)",
                q.text, p.text
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` leads a student to Lab 1, and Lab 1's says to start the resource first.
    #[test]
    fn help_points_to_lab_1_and_the_resource() {
        use argh::FromArgs;
        let peer = PeerArgs::from_args(&["process"], &["--help"])
            .unwrap_err()
            .output;
        assert!(peer.contains("Lab 1 (Ricart–Agrawala): `process shared-resource`, then `process mutex ID ADDR...`"), "{peer}");
        let mutex = MutexArgs::from_args(&["process", "mutex"], &["--help"])
            .unwrap_err()
            .output;
        assert!(
            mutex.contains("start it first (`process shared-resource`"),
            "{mutex}"
        );
    }

    /// The id forgotten (`process mutex :10002 :10003 :10004`) is said as what it is.
    #[test]
    fn a_missing_lab_id_is_explained() {
        use argh::FromArgs;
        let e = MutexArgs::from_args(&["mutex"], &[":10002", ":10003", ":10004"]).unwrap_err();
        assert!(
            e.output
                .contains("the first argument is this process's id, 1 to N"),
            "{}",
            e.output
        );
    }

    #[test]
    fn lookups_of_a_group_are_at_least_100ms_apart() {
        assert_eq!(parse_discover_every("100ms"), Ok(MIN_DISCOVER_EVERY));
        for zero in ["0", "0s", "0.0001ms"] {
            let e = parse_discover_every(zero).unwrap_err();
            assert!(e.contains("between 100ms and 24h"), "{e}");
        }
        let e = parse_discover_every("99ms").unwrap_err();
        assert!(e.contains("at least 100ms"), "{e}");
        assert!(parse_discover_every("1ms").is_err());
        let e = PeerArgs::from_args(
            &["process"],
            &["--discover-every", "1ms", "--discover", "p:1", ":2"],
        )
        .unwrap_err();
        assert!(e.output.contains("at least 100ms"), "{}", e.output);
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(
            parse_interval("250").unwrap_err(),
            "`250` has no unit: write 250ms, 250s, 250m or 250h"
        );
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_interval("1.5h"), Ok(Duration::from_secs(5400)));
        // The bound the message names is accepted, and the next millisecond is not.
        assert_eq!(parse_interval("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_interval("24h"), Ok(MAX_DURATION));
        assert_eq!(parse_interval("86400s"), Ok(MAX_DURATION));
        for bad in [
            "",
            "0",
            "-1s",
            "fast",
            "1d",
            "NaNs",
            "0.0001s",
            "24.001h",
            "86400.001s",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_interval("25h").unwrap_err(),
            "`25h`: --interval must be between 1ms and 24h"
        );
        // Each option's error names that option.
        for (parse, option) in [
            (
                parse_interval as fn(&str) -> Result<Duration, String>,
                "--interval",
            ),
            (parse_cs_time, "--cs-time"),
            (parse_auto, "--auto"),
            (parse_timeout, "--timeout"),
        ] {
            let e = parse("0").unwrap_err();
            assert_eq!(e, format!("`0`: {option} must be between 1ms and 24h"));
            assert!(parse("x").is_err());
        }
    }

    #[test]
    fn peer_count() {
        assert!(check_peers(0).is_ok());
        assert!(check_peers(MAX_PEERS).is_ok());
        assert_eq!(
            check_peers(MAX_PEERS + 1).unwrap_err(),
            format!(
                "at most {MAX_PEERS} peers are supported, got {}",
                MAX_PEERS + 1
            )
        );
    }

    #[test]
    fn group_and_id() {
        use peerlab::values::limits::MAX_PROCESSES;
        assert!(check_group(1, 1).is_ok());
        assert!(check_group(3, 3).is_ok());
        let max = u16::try_from(MAX_PROCESSES).unwrap();
        assert!(check_group(max, MAX_PROCESSES).is_ok());
        assert!(check_group(1, 0)
            .unwrap_err()
            .contains("every process's address"));
        assert_eq!(
            check_group(1, MAX_PROCESSES + 1).unwrap_err(),
            format!(
                "at most {MAX_PROCESSES} processes are supported, got {}",
                MAX_PROCESSES + 1
            )
        );
        for (id, n) in [(0, 3), (4, 3), (u16::MAX, 3)] {
            assert_eq!(
                check_group(id, n).unwrap_err(),
                format!("the id must be between 1 and {n} (the number of addresses), got {id}")
            );
        }
        let a = MutexArgs::from_args(&["process", "mutex"], &["4", ":1", ":2", ":3"]).unwrap();
        assert!(check_mutex(&a).is_err());
        let a = MutexArgs::from_args(&["process", "mutex"], &["3", ":1", ":2", ":3"]).unwrap();
        assert!(check_mutex(&a).is_ok());
        let a = MutexArgs::from_args(&["process", "mutex"], &["1", ":2", "127.0.0.1:2"]).unwrap();
        assert!(check_mutex(&a).unwrap_err().contains("processes 1 and 2"));
        let a = MutexArgs::from_args(
            &["process", "mutex"],
            &["--resource", ":2", "1", ":2", ":3"],
        )
        .unwrap();
        assert!(check_mutex(&a).unwrap_err().contains("--resource"));
        let p = |args: &[&str]| check_peer_args(&PeerArgs::from_args(&["process"], args).unwrap());
        assert!(p(&[":1", ":2", ":3"]).is_ok());
        assert!(p(&[":1", ":2", "127.0.0.1:2"])
            .unwrap_err()
            .contains("twice"));
        assert!(p(&[":1", "127.0.0.1:1"])
            .unwrap_err()
            .contains("own address"));
    }

    #[test]
    fn argh_parses_the_handout_form() {
        let a =
            PeerArgs::from_args(&["process"], &[":10002", "127.0.0.1:10003", "p3:10004"]).unwrap();
        assert_eq!(a.addr.port, 10002);
        assert_eq!(a.peers.len(), 2);
        assert_eq!(a.interval, DEFAULT_INTERVAL);
        let a = PeerArgs::from_args(&["process"], &["--interval", "250ms", "--json", ":1", ":2"])
            .unwrap();
        assert!(a.json && a.interval == Duration::from_millis(250));
        assert!(PeerArgs::from_args(&["process"], &[]).is_err());
        assert!(PeerArgs::from_args(&["process"], &["nope"]).is_err());
    }
}

/// Lab 1 (Ricart–Agrawala with Lamport clocks): process ID of the group whose addresses are
/// ADDR... (every process's, in id order, this one's included). Type x to ask for the critical
/// section, or the own id for an internal event. Inside, it tells the shared resource: start
/// it first (`process shared-resource`, on 127.0.0.1:10001 unless --resource says where).
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    example = "{command_name} 1 :10002 :10003 :10004",
    example = "{command_name} --resource shared:10001 1 p1:10004 p2:10003 p3:10002",
    example = "{command_name} --auto 3s --cs-time 500ms 2 :10002 :10003 :10004"
)]
pub(crate) struct MutexArgs {
    /// the shared resource, host:port (default 127.0.0.1:10001)
    #[argh(option, default = "default_resource()", from_str_fn(parse_spec))]
    pub resource: AddrSpec,

    /// time inside the critical section (default 5s)
    #[argh(
        option,
        default = "peerlab::values::limits::DEFAULT_CS_TIME",
        from_str_fn(parse_cs_time)
    )]
    pub cs_time: Duration,

    /// ask for the critical section by itself at random moments around this period
    #[argh(option, from_str_fn(parse_auto))]
    pub auto: Option<Duration>,

    /// text sent to the shared resource on entry (default Oi)
    #[argh(option, default = "default_text()", from_str_fn(parse_text))]
    pub text: heapless::String<{ peerlab::lab1::wire::MAX_TEXT }>,

    /// seed for --auto's random moments (default: from the clock and the pid)
    #[argh(option)]
    pub seed: Option<u64>,

    /// print one JSON object per event instead of text lines
    #[argh(switch)]
    pub json: bool,

    /// serve Prometheus metrics over HTTP at ADDR (GET /metrics), e.g. 0.0.0.0:9464; :PORT
    /// listens on every interface (off by default)
    #[argh(option, from_str_fn(parse_metrics_addr))]
    pub metrics: Option<std::net::SocketAddr>,

    /// also write every event as a JSON line (the --json trace) to this file, appended (a
    /// restart adds its new life), while stdout keeps its own form: for `process timeline`
    #[argh(option)]
    pub trace: Option<std::path::PathBuf>,

    /// authenticate every message with HMAC-SHA256 under the key in this file (its bytes,
    /// trailing newline trimmed; the same file for every process and the shared resource,
    /// e.g. a Docker or Kubernetes secret); default: $PEERLAB_KEY_FILE if set
    #[argh(option)]
    pub key_file: Option<std::path::PathBuf>,

    /// this process's id: its position in the address list, from 1
    #[argh(positional, from_str_fn(parse_id))]
    pub id: u16,

    /// every process's address in id order, host:port or :port
    #[argh(positional, from_str_fn(parse_spec))]
    pub addrs: Vec<AddrSpec>,
}

/// Lab 1's shared resource: prints every use of the critical section and reports a VIOLATION
/// if two processes are ever inside at once or entries are out of timestamp order.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    example = "{command_name}",
    example = "{command_name} --listen 127.0.0.1:10001"
)]
pub(crate) struct ResourceArgs {
    /// address to listen on (default 0.0.0.0:10001)
    #[argh(option, default = "default_listen()", from_str_fn(parse_spec))]
    pub listen: AddrSpec,

    /// print one JSON object per event instead of text lines
    #[argh(switch)]
    pub json: bool,

    /// serve Prometheus metrics over HTTP at ADDR (GET /metrics), e.g. 0.0.0.0:9464; :PORT
    /// listens on every interface (off by default)
    #[argh(option, from_str_fn(parse_metrics_addr))]
    pub metrics: Option<std::net::SocketAddr>,

    /// authenticate every message with HMAC-SHA256 under the key in this file (the
    /// processes' file); default: $PEERLAB_KEY_FILE if set
    #[argh(option)]
    pub key_file: Option<std::path::PathBuf>,

    /// every process's address in id order, as the processes are given them: then each
    /// process's HELLO, ENTER and EXIT are taken only from its own address
    #[argh(positional, from_str_fn(parse_spec))]
    pub processes: Vec<AddrSpec>,
}

fn default_resource() -> AddrSpec {
    parse_spec("127.0.0.1:10001").expect("a valid literal")
}

fn default_listen() -> AddrSpec {
    parse_spec("0.0.0.0:10001").expect("a valid literal")
}

fn default_text() -> heapless::String<{ peerlab::lab1::wire::MAX_TEXT }> {
    heapless::String::try_from("Oi").expect("short")
}

/// ENTER's text: printable ASCII, at most 64 bytes.
pub(crate) fn parse_text(
    s: &str,
) -> Result<heapless::String<{ peerlab::lab1::wire::MAX_TEXT }>, String> {
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("the text must be printable ASCII".into());
    }
    heapless::String::try_from(s).map_err(|_| {
        format!(
            "the text is longer than {} bytes",
            peerlab::lab1::wire::MAX_TEXT
        )
    })
}

/// The environment variable that names the key file when `--key-file` is not given.
pub(crate) const KEY_FILE_ENV: &str = "PEERLAB_KEY_FILE";

/// Lab 1's shared key: read once from `--key-file`, else from the file `$PEERLAB_KEY_FILE`
/// names (an empty variable is unset), else none. The error is a usage error's text.
pub(crate) fn load_key(
    key_file: Option<&std::path::Path>,
    env: Option<std::ffi::OsString>,
) -> Result<peerlab::lab1::auth::Auth, String> {
    use peerlab::lab1::auth::Auth;
    let (path, from) = match (key_file, env.filter(|v| !v.is_empty())) {
        (Some(p), _) => (p.to_path_buf(), "--key-file"),
        (None, Some(v)) => (std::path::PathBuf::from(v), KEY_FILE_ENV),
        (None, None) => return Ok(Auth::none()),
    };
    Auth::from_file(&path).map_err(|e| format!("{from} `{}` {e}", path.display()))
}

/// Checks what argh cannot for Lab 1: the group's size and the id in it. The only place
/// they are checked before the sockets are opened (see [`check_group`]).
pub(crate) fn check_mutex(a: &MutexArgs) -> Result<(), String> {
    check_group(a.id, a.addrs.len())?;
    for (i, p) in a.addrs.iter().enumerate() {
        if let Some(j) = a.addrs[..i].iter().position(|q| q.same_as(p)) {
            return Err(format!(
                "processes {} and {} have the same address (`{}` and `{}`): every process needs its own",
                j + 1,
                i + 1,
                a.addrs[j].text,
                p.text
            ));
        }
        if a.resource.same_as(p) {
            return Err(format!(
                "--resource `{}` is the address of process {} (`{}`): the shared resource needs its own address",
                a.resource.text,
                i + 1,
                p.text
            ));
        }
    }
    Ok(())
}

/// Process `id` of a group of `n` (every process's address, this one's included): `n` from 1
/// to [`peerlab::values::limits::MAX_PROCESSES`], `id` from 1 to `n`.
pub(crate) fn check_group(id: u16, n: usize) -> Result<(), String> {
    if n == 0 {
        return Err("give every process's address (this one's included), in id order".into());
    }
    if n > peerlab::values::limits::MAX_PROCESSES {
        return Err(format!(
            "at most {} processes are supported, got {n}",
            peerlab::values::limits::MAX_PROCESSES
        ));
    }
    if id == 0 || usize::from(id) > n {
        return Err(format!(
            "the id must be between 1 and {n} (the number of addresses), got {id}"
        ));
    }
    Ok(())
}

/// The peer mode's discovery settings from its (checked) arguments.
pub(crate) fn discovery(a: &PeerArgs) -> peerlab::io::mesh::Discovery {
    let mut d = peerlab::io::mesh::Discovery {
        groups: a.discover.clone(),
        ..Default::default()
    };
    if !a.discover.is_empty() {
        d.capacity = a.max_peers.unwrap_or(DEFAULT_MAX_PEERS.max(a.peers.len()));
    }
    if let Some(every) = a.discover_every {
        d.every = every;
    }
    d
}

/// Lab 1's space-time figure from JSON traces (`process mutex --json`, or `--trace FILE`):
/// one line per process, messages as arrows labelled REQ(T=..) and REPLY, Lamport clocks at
/// every event, the critical section as a thick bar. Inputs are files, directories (every
/// *.jsonl and *.log file in them) or - for stdin; lines that are not Lab 1 events are
/// skipped and counted.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    example = "{command_name} p1.log p2.log p3.log -o scenario1.svg",
    example = "{command_name} --x real traces/ -o run.svg",
    example = "docker compose -f docker-compose.lab1.yml -f docker-compose.lab1-timeline.yml run --rm -T timeline > run.svg",
    example = "{command_name} --check p1.log p2.log p3.log",
    example = "{command_name} --check class/        # every run under it, one line each"
)]
pub(crate) struct TimelineArgs {
    /// where to write (default, or -: stdout)
    #[argh(option, short = 'o')]
    pub output: Option<String>,

    /// x axis: lamport (by Lamport clock, the default) or real (wall clock, to scale)
    #[argh(
        option,
        default = "peerlab::timeline::Layout::Lamport",
        from_str_fn(parse_layout)
    )]
    pub x: peerlab::timeline::Layout,

    /// svg (the figure, the default) or shiviz (a log for ShiViz, with vector clocks)
    #[argh(
        option,
        default = "peerlab::timeline::Format::Svg",
        from_str_fn(parse_format)
    )]
    pub format: peerlab::timeline::Format,

    /// draw every copy of a message: resends and duplicates dashed (by default one arrow per
    /// message, `×N` on it when N copies were sent)
    #[argh(switch)]
    pub resends: bool,

    /// draw the DEFERRED acknowledgements (a deferral said to the requester) as dotted arrows
    #[argh(switch)]
    pub deferrals: bool,

    /// draw a lane for the shared resource: the ENTER and EXIT each process sent it, and the
    /// uses they make, stacked where two overlap
    #[argh(switch)]
    pub resource: bool,

    /// check the Lamport rules, causality, mutual exclusion and (T, id) order instead of
    /// drawing: prints each violation with its events and what could not be checked; exits 0
    /// if the rules hold, 1 if one is broken, 3 if not everything could be checked. Several
    /// directories (or one holding runs in subdirectories): one verdict line per run
    #[argh(switch)]
    pub check: bool,

    /// trace files, directories, or - for stdin
    #[argh(positional)]
    pub inputs: Vec<String>,
}

fn parse_layout(s: &str) -> Result<peerlab::timeline::Layout, String> {
    match s {
        "lamport" => Ok(peerlab::timeline::Layout::Lamport),
        "real" => Ok(peerlab::timeline::Layout::Real),
        _ => Err(format!("`{s}`: --x is lamport or real")),
    }
}

fn parse_format(s: &str) -> Result<peerlab::timeline::Format, String> {
    match s {
        "svg" => Ok(peerlab::timeline::Format::Svg),
        "shiviz" => Ok(peerlab::timeline::Format::Shiviz),
        _ => Err(format!("`{s}`: --format is svg or shiviz")),
    }
}

/// Checks that a peer or shared resource answers on ADDR, or on this host's own PORT with
/// --self (exit status 0), else exit status 1.
#[derive(FromArgs, Debug, PartialEq)]
pub(crate) struct HealthArgs {
    /// how long to wait for the answer, e.g. 1s (default 1s)
    #[argh(option, default = "Duration::from_secs(1)", from_str_fn(parse_timeout))]
    pub timeout: Duration,

    /// probe this host's own PORT instead of ADDR, looking up no name: every local address
    /// bound on it, loopback and each interface's address (a container's own health check)
    #[argh(option, long = "self", arg_name = "port", from_str_fn(parse_port))]
    pub self_port: Option<u16>,

    /// address of the process to check, host:port or :port (or --self PORT)
    #[argh(positional, from_str_fn(parse_spec))]
    pub addr: Option<AddrSpec>,
}

/// What `process health` checks: ADDR, or this host's own port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HealthTarget<'a> {
    /// ADDR as given (its name must resolve).
    Addr(&'a AddrSpec),
    /// `--self PORT`: this host's own port, no name looked up.
    OwnPort(u16),
}

impl HealthArgs {
    /// The one target the arguments name: ADDR or `--self PORT`, not both, not neither (the
    /// error is a usage error's text).
    pub(crate) fn target(&self) -> Result<HealthTarget<'_>, String> {
        match (&self.addr, self.self_port) {
            (Some(a), None) => Ok(HealthTarget::Addr(a)),
            (None, Some(p)) => Ok(HealthTarget::OwnPort(p)),
            (Some(a), Some(p)) => Err(format!(
                "give ADDR or --self PORT, not both (`{}` and --self {p})",
                a.text
            )),
            (None, None) => Err("give the address to check (host:port) or --self PORT".to_string()),
        }
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    #[test]
    fn args_name_one_target() {
        let a = |args: &[&str]| HealthArgs::from_args(&["process", "health"], args);
        assert_eq!(
            a(&["--self", "10002"]).unwrap().target(),
            Ok(HealthTarget::OwnPort(10002))
        );
        assert_eq!(
            a(&["--self", ":10002"]).unwrap().target(),
            Ok(HealthTarget::OwnPort(10002))
        );
        assert!(matches!(
            a(&["p1:10002"]).unwrap().target(),
            Ok(HealthTarget::Addr(s)) if s.port == 10002
        ));
        assert!(a(&["--self", "10002", "p1:10002"])
            .unwrap()
            .target()
            .unwrap_err()
            .contains("not both"));
        assert!(a(&[]).unwrap().target().is_err());
        for bad in ["0", "65536", "x", "p1:10002"] {
            assert!(a(&["--self", bad]).is_err(), "{bad}");
        }
    }
}
