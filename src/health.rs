//! `process health ADDR`: the container health check of a `FROM scratch` image (no shell, no
//! curl). It sends [`HEALTH_PROBE`] to a running peer or shared resource and succeeds only if
//! [`HEALTH_OK`] comes back within the time limit. A short-lived blocking helper: no poll loop.

use core::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use argh::FromArgs;

use crate::cli::{parse_spec, AddrSpec};
use crate::dns::resolver::resolve_blocking;
use crate::net::resolve;
use crate::wire::{HEALTH_OK, HEALTH_PROBE};

/// Checks that a peer or shared resource answers on ADDR (exit status 0), else exit status 1.
#[derive(FromArgs, Debug, PartialEq)]
pub struct HealthArgs {
    /// how long to wait for the answer, e.g. 1s (default 1s)
    #[argh(
        option,
        default = "Duration::from_secs(1)",
        from_str_fn(crate::cli::parse_timeout)
    )]
    pub timeout: Duration,

    /// address of the process to check, host:port or :port
    #[argh(positional, from_str_fn(parse_spec))]
    pub addr: AddrSpec,
}

/// Why a health check failed.
#[derive(Debug)]
pub enum HealthError {
    /// The name did not resolve.
    Resolve(io::Error),
    /// A local socket error, or the probe was refused (nothing listens there).
    Io(io::Error),
    /// No answer in time.
    Timeout(Duration),
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            HealthError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                f.write_str("connection refused (nothing listens there)")
            }
            HealthError::Io(e) => write!(f, "{e}"),
            HealthError::Timeout(t) => {
                write!(f, "no answer within {}", crate::cli::DisplayDuration(*t))
            }
        }
    }
}

impl std::error::Error for HealthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HealthError::Resolve(e) | HealthError::Io(e) => Some(e),
            HealthError::Timeout(_) => None,
        }
    }
}

/// Where to send the probe: ADDR, or, when its name does not resolve, this host's own
/// addresses on ADDR's port. Docker Swarm adds a task's name to its DNS only once the task is
/// healthy, so a health check must not depend on its own name.
/// The second value says whether this host's addresses were probed instead of ADDR's.
///
/// Each lookup waits at most a fraction of the check's `timeout` (half for ADDR, a quarter for
/// the host's own name), so a nameserver that does not answer (a Swarm task's own name before
/// it is healthy) cannot stretch the check past its deadline.
fn targets(spec: &AddrSpec, timeout: Duration) -> Result<(Vec<SocketAddr>, bool), HealthError> {
    match resolve(spec, None, timeout / 2) {
        Ok(a) => Ok((vec![a], false)),
        Err(e) => {
            let mut own = Vec::new();
            let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            let host = hostname.trim();
            if !host.is_empty() {
                let found = resolve_blocking(host, crate::dns::Family::V4, 16, timeout / 4);
                if let Ok(addrs) = found {
                    own.extend(addrs.iter().map(|ip| SocketAddr::new(*ip, spec.port)));
                }
            }
            own.push(SocketAddr::from(([127, 0, 0, 1], spec.port)));
            own.dedup();
            if own.is_empty() {
                Err(HealthError::Resolve(e))
            } else {
                Ok((own, true))
            }
        }
    }
}

/// A health check's answer.
#[derive(Debug, Clone, Copy)]
pub struct Healthy {
    /// Round-trip time.
    pub rtt: Duration,
    /// Who answered.
    pub from: SocketAddr,
}

/// A health check's outcome, and what was probed: ADDR's name did not resolve, so this
/// host's own addresses on its port were probed instead (`fallback`). Never to be reported
/// as ADDR's health without saying so.
#[derive(Debug)]
pub struct Probed {
    /// This host's addresses were probed instead of ADDR.
    pub fallback: bool,
    /// The answer, or why none came.
    pub result: Result<Healthy, HealthError>,
}

/// Probes `spec`.
pub fn probe(spec: &AddrSpec, timeout: Duration) -> Probed {
    match targets(spec, timeout) {
        Ok((targets, fallback)) => Probed {
            fallback,
            result: probe_targets(&targets, timeout),
        },
        Err(e) => Probed {
            fallback: false,
            result: Err(e),
        },
    }
}

fn probe_targets(targets: &[SocketAddr], timeout: Duration) -> Result<Healthy, HealthError> {
    let local: SocketAddr = if targets[0].is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(local).map_err(HealthError::Io)?;
    // One target: connect, so "connection refused" is reported instead of a timeout.
    if let [only] = *targets {
        sock.connect(only).map_err(HealthError::Io)?;
    }
    let start = Instant::now();
    let mut buf = [0u8; 64];
    // Resend a few times within the limit: a single lost datagram must not fail the check.
    let tries = 3u32;
    for i in 0..tries {
        for t in targets {
            match sock.send_to(HEALTH_PROBE, t) {
                Ok(_) => {}
                Err(e) if targets.len() == 1 => return Err(HealthError::Io(e)),
                Err(_) => {} // another target may answer
            }
        }
        let until = start + timeout * (i + 1) / tries;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left)).map_err(HealthError::Io)?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if &buf[..n] == HEALTH_OK && targets.contains(&from) => {
                    return Ok(Healthy {
                        rtt: start.elapsed(),
                        from,
                    })
                }
                Ok(_) => {} // a counter or anything else: not the answer
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HealthError::Io(e)),
            }
        }
    }
    Err(HealthError::Timeout(timeout))
}
