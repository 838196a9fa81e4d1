//! The shared resource of Lab 1: a UDP server that prints every use of the critical section
//! (who, request timestamp, clock, text) and checks the lab's claim while doing so. It reports
//! a VIOLATION if two processes are ever inside at once, or if successive entries are not in
//! increasing (timestamp, id) order of their requests, which Ricart–Agrawala guarantees.
//!
//! `Checker` is the sans-IO part; `Resource` puts it on the shared driver. Every ENTER
//! and EXIT is acknowledged (processes resend until it is), and duplicates are recognised by
//! (id, T), so a lossy network neither hides a use nor invents a violation.

use std::io::Write;
use std::time::Instant;

use mio::Poll;

use crate::io::driver::{open_mesh, App, Datagram, Driver};
use crate::io::mesh::{Mesh, StartError};
use crate::lab1::auth::{Auth, To};
use crate::lab1::checker::{Checker, Conflict, Refused, Violation};
use crate::lab1::events::{ClaimedTwice, ResourceListening, ResourceSummary, UseLine};
use crate::lab1::roster;
use crate::lab1::wire::{Msg, PeerId};
use crate::metrics::expo::{Expo, Kind, Value};
use crate::output::{Output, Verb};
use crate::values::addr::AddrSpec;
use crate::values::limits::MAX_PROCESSES;
use crate::values::time::Millis;

/// The shared resource on the driver: decode, feed the `Checker`, send its ACK back, print.
#[derive(Debug)]
pub struct Resource {
    checker: Checker,
    started: Instant,
    malformed: u64,
    /// Messages from an address that does not speak for the process they name, or without
    /// the right MAC.
    rejected: u64,
    /// Seals the ACKs and checks what arrives (the shared key, if any).
    auth: Auth,
    /// Per id (index id - 1; the last for the ids beyond): when a conflict about it may be
    /// said again.
    conflict_quiet: [Millis; MAX_PROCESSES + 1],
}

/// How often a conflict that lasts is said again (and its claimants told).
const SAY_CONFLICT_EVERY: Millis = Millis(30_000);

/// Opens the server socket and returns the loop, ready to run.
///
/// `processes`: every process's address in id order, as the processes are given it (may be
/// empty: then HELLO, ENTER and EXIT are taken from any address, and a notice says so).
/// `auth`: the shared key (`--key-file`), or [`Auth::none`].
#[inline(never)]
pub fn start<W: Write>(
    listen: &AddrSpec,
    processes: &[AddrSpec],
    auth: Auth,
    mut out: Output<W>,
) -> Result<Box<Driver<Resource, W>>, StartError> {
    let poll = Poll::new().map_err(StartError::Poll)?;
    let mesh = open_mesh(&poll, listen, processes, &mut out)?;
    out.emit(&ResourceListening {
        addr: mesh.local_addr(),
    });
    if auth.is_keyed() {
        out.notice(format_args!(
            "every message is authenticated with HMAC-SHA256 (--key-file): messages without the right mac= are rejected"
        ));
    }
    let checker = if processes.is_empty() {
        out.notice(format_args!(
            "no process addresses given: HELLO, ENTER and EXIT are taken from any address (list them to check who speaks for whom)"
        ));
        Checker::default()
    } else {
        Checker::by_address()
    };
    let app = Resource {
        checker,
        started: Instant::now(),
        malformed: 0,
        rejected: 0,
        auth,
        conflict_quiet: [Millis(0); MAX_PROCESSES + 1],
    };
    Driver::new(poll, mesh, app, out)
}

impl Resource {
    /// The checker's findings so far.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Two addresses claim one id: said loudly, and each claimant is told of the other (at
    /// most every 30 s per id while it lasts).
    fn say_conflict<W: Write>(
        &mut self,
        now: Millis,
        c: Conflict,
        wall: u64,
        mesh: &mut Mesh,
        out: &mut Output<W>,
    ) {
        let slot = usize::from(c.id.0).saturating_sub(1).min(MAX_PROCESSES);
        if now < self.conflict_quiet[slot] {
            return;
        }
        self.conflict_quiet[slot] = now + SAY_CONFLICT_EVERY;
        out.emit(&ClaimedTwice(&c));
        for (to, other, inc) in [(c.at, c.other, c.other_inc), (c.other, c.at, c.inc)] {
            let text = roster::encode_claimed(c.id, inc, other);
            mesh.send_to(
                to,
                &self.auth.seal(text.as_bytes(), To::Process(c.id), wall),
            );
        }
    }
}

impl App for Resource {
    /// With a key every message carries its MAC; the driver's goodbye carries none.
    fn bare_goodbye(&self) -> bool {
        !self.auth.is_keyed()
    }
    fn mode(&self) -> &'static str {
        "shared-resource"
    }

    fn metrics(&self, _now: Instant, _mesh: &Mesh, e: &mut Expo<'_>) {
        let k = &self.checker;
        for (name, help, v) in [
            (
                "peerlab_resource_uses_total",
                "Entries into the critical section (new ENTERs, not their resends).",
                k.entries,
            ),
            (
                "peerlab_resource_violations_total",
                "Times two processes were inside at once (mutual exclusion broken).",
                k.violations,
            ),
            (
                "peerlab_resource_duplicates_total",
                "Resent messages acknowledged again.",
                k.duplicates,
            ),
            (
                "peerlab_resource_unknown_exits_total",
                "EXITs with no entry.",
                k.unknown_exits,
            ),
            (
                "peerlab_resource_restarts_total",
                "Restarts seen (a new incarnation of a known process).",
                k.restarts,
            ),
        ] {
            e.single(name, Kind::Counter, help, Value::Count(v));
        }
        e.single(
            "peerlab_resource_inside",
            Kind::Gauge,
            "1 while a process is inside the critical section.",
            Value::from(k.inside().is_some()),
        );
        e.counts(
            "peerlab_datagrams_refused_total",
            "Datagrams not taken, by reason: malformed (not a Lab 1 message), rejected (not from the address that speaks for the id it names, or without the right MAC).",
            "reason",
            &[("malformed", self.malformed), ("rejected", self.rejected)],
        );
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn handle_timeout<W: Write>(&mut self, _: Instant, _: &mut Mesh, _: &mut Output<W>) {}

    fn handle_datagram<W: Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        // Mesh slot i is process i + 1 (the processes in id order).
        let from = d.peer.and_then(|i| u16::try_from(i + 1).ok()).map(PeerId);
        self.checker
            .limit_incarnations(crate::lab1::wire::incarnation_limit());
        // The key first (I/O framing): a message without the right tag is not looked at.
        let wall = crate::values::time::wall_us();
        let text = match self.auth.open(d.bytes, To::Resource, wall) {
            Ok(t) => t,
            Err(e) => {
                self.rejected += 1;
                out.refused(Verb::Rejected, d.from, d.bytes, &e);
                return;
            }
        };
        let ms = Millis::since(self.started, now);
        let used = match Msg::decode(text) {
            Ok(m) => self.checker.handle_msg(ms, from, d.from, &m),
            Err(e) => {
                self.malformed += 1;
                out.refused(Verb::Ignored, d.from, d.bytes, &e);
                return;
            }
        };
        let used = match used {
            Ok(u) => u,
            Err(e @ Refused::NotForResource) => {
                self.malformed += 1;
                out.refused(Verb::Ignored, d.from, d.bytes, &e);
                return;
            }
            Err(e @ (Refused::WrongAddress { .. } | Refused::FutureIncarnation { .. })) => {
                self.rejected += 1;
                out.refused(Verb::Rejected, d.from, d.bytes, &e);
                return;
            }
        };
        if let Some(ack) = self.checker.poll_transmit() {
            let sealed = self
                .auth
                .seal(ack.encode().as_bytes(), To::Process(ack.id()), wall);
            mesh.send_to(d.from, &sealed);
        }
        if let Some(news) = self.checker.poll_news() {
            out.emit(&UseLine(&news));
        }
        if let Some(c) = self.checker.poll_conflict() {
            self.say_conflict(ms, c, wall, mesh, out);
        }
        let line = UseLine(&used);
        if line.shown() {
            out.emit(&line);
        }
        for v in Violation::of(&used) {
            out.emit(&v);
        }
    }

    fn finish<W: Write>(&mut self, _: &mut Mesh, out: &mut Output<W>) {
        out.emit(&ResourceSummary {
            ran: self.started.elapsed(),
            checker: &self.checker,
            malformed: self.malformed,
            rejected: self.rejected,
        });
    }
}
