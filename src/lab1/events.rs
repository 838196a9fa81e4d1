//! Lab 1's events: the process's (one per state change and per message sent and received,
//! from the [`ra`](crate::lab1::ra) core) and the shared resource's (each use of the CS, each
//! violation). The text form is the course's (`[clock=3 WANTED] ...`, `Entrei na CS`); the
//! per-message events (`sent`, `stale`, `acked`) are in the JSON log only, for traces and
//! timelines.

use std::net::SocketAddr;
use std::time::Duration;

use crate::lab1::checker::{Checker, Conflict, Entry, Exit, Use, Violation};
use crate::lab1::ra::{Answer, Event, Logged, Party, Stats};
use crate::lab1::wire::{AckOf, PeerId, Why};
use crate::output::escape::{self, Esc};
use crate::output::{Line, LineFull, Obj, Render};
use crate::values::limits::SHOW_MAX;
use crate::values::time::DisplayDuration;
use crate::values::time::Millis;

fn ack_name(of: AckOf) -> &'static str {
    match of {
        AckOf::Hello => "HELLO",
        AckOf::Enter => "ENTER",
        AckOf::Exit => "EXIT",
    }
}

fn ms(m: Millis) -> Duration {
    Duration::from_millis(m.0)
}

/// `"to":2` for a process, `"to":"resource"` for the resource.
fn party(o: &mut Obj<'_>, key: &str, p: Party) -> Result<(), LineFull> {
    match p {
        Party::Process(j) => o.num(key, u64::from(j.0))?,
        Party::Resource => o.str(key, "resource")?,
    };
    Ok(())
}

/// One event of process `me`'s core.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabLine {
    /// The process that logged it.
    pub(crate) me: PeerId,
    /// The event, with the clock and state right after it.
    pub(crate) logged: Logged,
}

impl Render for LabLine {
    fn name(&self) -> &'static str {
        match self.logged.event {
            Event::Internal => "internal",
            Event::Ignored => "ignored_key",
            Event::Requested { .. } => "requested",
            Event::Sent { .. } => "sent",
            Event::Request { .. } => "request",
            Event::Reply { .. } => "reply",
            Event::Deferred { .. } => "deferred_by",
            Event::Acked { .. } => "acked",
            Event::Stale { .. } => "stale",
            Event::Restarted { .. } => "restarted",
            Event::Entered { .. } => "entered",
            Event::Left { .. } => "left",
            Event::Released { .. } => "released",
            Event::ResourceSilent { .. } => "resource_silent",
        }
    }

    fn in_text(&self) -> bool {
        !matches!(
            self.logged.event,
            Event::Sent { .. } | Event::Acked { .. } | Event::Stale { .. }
        )
    }

    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        let Logged {
            clock,
            state,
            event,
        } = self.logged;
        l.push_fmt(format_args!("[clock={clock} {}] ", state.as_str()))?;
        match event {
            Event::Internal => l.push_str("internal event"),
            Event::Ignored => l.push_str("x ignorado"),
            Event::Requested { t, need: 0 } => l.push_fmt(format_args!(
                "requesting the CS with T={t}: no other process to ask, entering"
            )),
            Event::Requested { t, need } => l.push_fmt(format_args!(
                "requesting the CS with T={t}: waiting for {need} repl{}",
                if need == 1 { "y" } else { "ies" }
            )),
            Event::Sent {
                to,
                kind,
                t,
                resend,
            } => {
                l.push_fmt(format_args!("sent {} (T={t}) to ", kind.as_str()))?;
                match to {
                    Party::Process(j) => l.push_fmt(format_args!("{j}"))?,
                    Party::Resource => l.push_str("resource")?,
                }
                if resend {
                    l.push_str(" (resend)")?;
                }
                Ok(())
            }
            Event::Request { from, t, answer } => l.push_fmt(format_args!(
                "REQUEST from {from} (T={t}): {}",
                answer_name(answer)
            )),
            Event::Reply {
                from, got, need, ..
            } => l.push_fmt(format_args!("REPLY from {from} ({got}/{need})")),
            Event::Deferred { from, t, why } => {
                l.push_fmt(format_args!("deferred by {from} (T={t}): {}", WhyText(why)))
            }
            Event::Acked { of, t } => {
                l.push_fmt(format_args!("ACK {} (T={t}) from resource", ack_name(of)))
            }
            Event::Stale { from, kind, t } => {
                l.push_fmt(format_args!("stale {} (T={t}) from ", kind.as_str()))?;
                match from {
                    Party::Process(j) => l.push_fmt(format_args!("{j}")),
                    Party::Resource => l.push_str("resource"),
                }
            }
            Event::Restarted { from, regranted } => l.push_fmt(format_args!(
                "process {from} restarted: what it asked before is forgotten{}",
                if regranted {
                    "; its grant to our request is void, asked again (regranted)"
                } else {
                    ""
                }
            )),
            Event::Entered { t, waited } => l.push_fmt(format_args!(
                "Entrei na CS (T={t}, waited {})",
                DisplayDuration(ms(waited))
            )),
            Event::Left { t } => l.push_fmt(format_args!("Sai da CS (T={t})")),
            Event::Released { replied } => l.push_fmt(format_args!(
                "released: answered {replied} deferred request(s)"
            )),
            Event::ResourceSilent { of } => l.push_fmt(format_args!(
                "the shared resource did not acknowledge {}: going on without it",
                ack_name(of)
            )),
        }
    }

    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        let Logged {
            clock,
            state,
            event,
        } = self.logged;
        o.num("id", u64::from(self.me.0))?
            .num("clock", clock)?
            .str("state", state.as_str())?;
        match event {
            Event::Internal | Event::Ignored => {}
            Event::Requested { t, need } => {
                o.num("t", t)?.num("need", u64::from(need))?;
            }
            Event::Sent {
                to,
                kind,
                t,
                resend,
            } => {
                o.str("kind", kind.as_str())?;
                party(o, "to", to)?;
                o.num("t", t)?.bool("resend", resend)?;
            }
            Event::Request { from, t, answer } => {
                o.num("from", u64::from(from.0))?
                    .num("t", t)?
                    .str("answer", answer_name(answer))?;
            }
            Event::Reply { from, t, got, need } => {
                o.num("from", u64::from(from.0))?
                    .num("t", t)?
                    .num("got", u64::from(got))?
                    .num("need", u64::from(need))?;
            }
            Event::Deferred { from, t, why } => {
                o.num("from", u64::from(from.0))?.num("t", t)?;
                why_json(o, why)?;
            }
            Event::Acked { of, t } => {
                o.str("of", ack_name(of))?.num("t", t)?;
            }
            Event::Stale { from, kind, t } => {
                o.str("kind", kind.as_str())?;
                party(o, "from", from)?;
                o.num("t", t)?;
            }
            Event::Restarted { from, regranted } => {
                o.num("from", u64::from(from.0))?
                    .bool("regranted", regranted)?;
            }
            Event::Entered { t, waited } => {
                o.num("t", t)?.num("waited_ms", waited.0)?;
            }
            Event::Left { t } => {
                o.num("t", t)?;
            }
            Event::Released { replied } => {
                o.num("replied", u64::from(replied))?;
            }
            Event::ResourceSilent { of } => {
                o.str("unacknowledged", ack_name(of))?;
            }
        }
        Ok(())
    }
}

/// Why a process defers a request, in words: the waiting line's and the `deferred_by` line's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WhyText(pub(crate) Why);

impl core::fmt::Display for WhyText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Why::Held => f.write_str("it holds the CS"),
            Why::Exit => f.write_str("its EXIT is not yet acknowledged"),
            Why::Join => f.write_str("it is rejoining after a restart"),
            Why::First(t) => write!(f, "its T={t} comes first"),
        }
    }
}

/// `"why":"held"|"exit"|"join"|"first"` and, for `first`, `"their_t"`.
fn why_json(o: &mut Obj<'_>, why: Why) -> Result<(), LineFull> {
    match why {
        Why::Held => o.str("why", "held")?,
        Why::Exit => o.str("why", "exit")?,
        Why::Join => o.str("why", "join")?,
        Why::First(t) => o.str("why", "first")?.num("their_t", t)?,
    };
    Ok(())
}

fn answer_name(a: Answer) -> &'static str {
    match a {
        Answer::Replied => "replied",
        Answer::Deferred => "deferred",
    }
}

/// While WANTED, every few seconds: who has not replied yet, for how long, and whether they
/// are down, so a student sees why the CS does not come.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StillWaiting<'a> {
    /// Own id.
    pub(crate) me: PeerId,
    /// Clock now.
    pub(crate) clock: u64,
    /// The request's timestamp.
    pub(crate) t: u64,
    /// Time since the request.
    pub(crate) waited: Millis,
    /// Times the REQUEST was resent to those missing.
    pub(crate) resends: u32,
    /// The processes whose REPLY is missing: whether each is down (sends to it fail), and
    /// why it defers the request if it said so (DEFERRED).
    pub(crate) missing: &'a [(PeerId, bool, Option<Why>)],
}

impl Render for StillWaiting<'_> {
    fn name(&self) -> &'static str {
        "still_waiting"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_fmt(format_args!(
            "[clock={} WANTED] still waiting for T={} after {}: ",
            self.clock,
            self.t,
            DisplayDuration(ms(self.waited)),
        ))?;
        for (i, (j, down, why)) in self.missing.iter().enumerate() {
            if i > 0 {
                l.push_str("; ")?;
            }
            match why {
                Some(why) => l.push_fmt(format_args!("deferred by {j} ({})", WhyText(*why)))?,
                None => l.push_fmt(format_args!(
                    "no answer from {j} yet ({} resends)",
                    self.resends
                ))?,
            }
            if *down {
                l.push_str(", down")?;
            }
        }
        Ok(())
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.num("id", u64::from(self.me.0))?
            .num("clock", self.clock)?
            .num("t", self.t)?
            .num("waited_ms", self.waited.0)?
            .num("resends", u64::from(self.resends))?
            .nums(
                "missing",
                self.missing.iter().map(|(j, _, _)| u64::from(j.0)),
            )?
            .nums(
                "down",
                self.missing
                    .iter()
                    .filter(|(_, d, _)| *d)
                    .map(|(j, _, _)| u64::from(j.0)),
            )?
            .nums(
                "deferred_by",
                self.missing
                    .iter()
                    .filter(|(_, _, w)| w.is_some())
                    .map(|(j, _, _)| u64::from(j.0)),
            )?
            // Each one's reason now, in the same order, as on the wire: `held`, `exit`,
            // `join`, or its own T that comes first (a number).
            .mixed(
                "deferred_why",
                self.missing.iter().filter_map(|(_, _, w)| {
                    w.map(|w| match w {
                        Why::First(t) => Ok(t),
                        Why::Held => Err("held"),
                        Why::Exit => Err("exit"),
                        Why::Join => Err("join"),
                    })
                }),
            )?;
        Ok(())
    }
}

/// The Lab 1 process's start line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MutexListening<'a> {
    /// Own id.
    pub(crate) id: PeerId,
    /// Group size.
    pub(crate) n: u16,
    /// The server socket's address.
    pub(crate) addr: SocketAddr,
    /// The resource's address as given.
    pub(crate) resource: &'a str,
    /// Time inside the CS.
    pub(crate) cs_time: Duration,
    /// Requests come from `--auto`, not the keyboard.
    pub(crate) auto: bool,
}

impl Render for MutexListening<'_> {
    fn name(&self) -> &'static str {
        "mutex_listening"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_fmt(format_args!(
            "process {} of {} listening on {}; shared resource {}; CS time {}{}",
            self.id,
            self.n,
            self.addr,
            Esc(self.resource.as_bytes()),
            DisplayDuration(self.cs_time),
            if self.auto {
                "; automatic requests"
            } else {
                "; type x to ask for the CS"
            }
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.num("id", u64::from(self.id.0))?
            .num("n", u64::from(self.n))?
            .addr("addr", Some(self.addr))?
            .str("resource", self.resource)?
            .num("cs_ms", self.cs_time.as_millis() as u64)?
            .bool("automatic_requests", self.auto)?;
        Ok(())
    }
}

/// A keyboard line that is neither `x` nor the own id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hint<'a> {
    /// Own id.
    pub(crate) id: PeerId,
    /// What was typed.
    pub(crate) input: &'a [u8],
}

impl Render for Hint<'_> {
    fn name(&self) -> &'static str {
        "hint"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push('"')?;
        escape::push_text(l, escape::cut(self.input, SHOW_MAX))?;
        l.push_fmt(format_args!(
            "\"? type x to ask for the critical section, or {} for an internal event",
            self.id
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.bytes("input", escape::cut(self.input, SHOW_MAX))?
            .num("id", u64::from(self.id.0))?;
        Ok(())
    }
}

/// The Lab 1 process's summary when it stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MutexSummary {
    /// Own id.
    pub(crate) id: PeerId,
    /// Time since start.
    pub(crate) ran: Duration,
    /// The core's totals.
    pub(crate) stats: Stats,
    /// Datagrams that were not Lab 1 messages.
    pub(crate) malformed: u64,
    /// Messages refused for what they claim.
    pub(crate) rejected: u64,
    /// Final clock.
    pub(crate) clock: u64,
    /// Final state.
    pub(crate) state: &'static str,
    /// Peers (and the resource) down at exit.
    pub(crate) down: usize,
    /// ROSTERs that showed another list (or a claim from another address), said or not.
    pub(crate) lists_differ: u64,
}

impl Render for MutexSummary {
    fn name(&self) -> &'static str {
        "mutex_summary"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        let s = self.stats;
        // Tenths, in integers (no float formatting in the binary).
        let per_entry = (s.sent * 10).checked_div(s.entries).unwrap_or(0);
        let avg = s.total_wait.0.checked_div(s.entries).unwrap_or(0);
        l.push_fmt(format_args!(
            "process {} summary after {}: {} requests, {} CS entries, {} REQUEST/REPLY sent ({} resends, {}.{} per entry), {} HELLO/ENTER/EXIT sent ({} resends, {} unacknowledged), {} duplicates ignored, {} malformed, {} rejected, wait worst {} average {}, final clock {} {}, {} peer(s) down at exit",
            self.id, DisplayDuration(self.ran), s.requests, s.entries, s.sent, s.resent,
            per_entry / 10, per_entry % 10, s.resource_sent, s.resource_resent, s.resource_silent,
            s.duplicates, self.malformed, self.rejected, DisplayDuration(ms(s.worst_wait)),
            DisplayDuration(Duration::from_millis(avg)), self.clock, self.state, self.down
        ))?;
        if s.deferred_sent > 0 {
            l.push_fmt(format_args!(", {} DEFERRED sent", s.deferred_sent))?;
        }
        if self.lists_differ > 0 {
            l.push_fmt(format_args!(
                ", {} ROSTER showing another list",
                self.lists_differ
            ))?;
        }
        if s.events_dropped > 0 {
            l.push_fmt(format_args!(
                ", {} events dropped (a bug: please report)",
                s.events_dropped
            ))?;
        }
        Ok(())
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        let s = self.stats;
        let avg = s.total_wait.0.checked_div(s.entries).unwrap_or(0);
        o.num("id", u64::from(self.id.0))?
            .num("ran_ms", self.ran.as_millis() as u64)?
            .num("requests", s.requests)?
            .num("entries", s.entries)?
            .num("sent", s.sent)?
            .num("resent", s.resent)?
            .num("resource_sent", s.resource_sent)?
            .num("resource_resent", s.resource_resent)?
            .num("resource_silent", s.resource_silent)?
            .num("deferred_sent", s.deferred_sent)?
            .num("duplicates", s.duplicates)?
            .num("malformed", self.malformed)?
            .num("rejected", self.rejected)?
            .num("lists_differ", self.lists_differ)?
            .num("worst_wait_ms", s.worst_wait.0)?
            .num("avg_wait_ms", avg)?
            .num("clock", self.clock)?
            .str("state", self.state)?
            .num("down", self.down as u64)?
            .num("events_dropped", s.events_dropped)?;
        Ok(())
    }
}

/// The shared resource's start line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceListening {
    /// The server socket's address.
    pub(crate) addr: SocketAddr,
}

impl Render for ResourceListening {
    fn name(&self) -> &'static str {
        "resource_listening"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        l.push_fmt(format_args!("shared resource listening on {}", self.addr))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        o.addr("addr", Some(self.addr))?;
        Ok(())
    }
}

/// A use of the CS as the resource saw it (duplicates are not printed: see [`UseLine::shown`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UseLine<'a>(pub(crate) &'a Use);

impl UseLine<'_> {
    /// Whether the use is worth a line (a duplicate is acknowledged again, silently).
    pub(crate) fn shown(&self) -> bool {
        !matches!(
            self.0,
            Use::Enter {
                entry: Entry::Duplicate,
                ..
            } | Use::Exit {
                exit: Exit::Duplicate,
                ..
            } | Use::HelloAgain { .. }
        )
    }
}

impl Render for UseLine<'_> {
    fn name(&self) -> &'static str {
        match self.0 {
            Use::Hello { .. } => "resource_hello",
            Use::HelloAgain { .. } => "resource_hello_again",
            Use::Enter { .. } => "resource_enter",
            Use::Exit {
                exit: Exit::Unknown,
                ..
            } => "resource_unknown_exit",
            Use::Exit { .. } => "resource_exit",
            Use::Stale { .. } => "resource_stale",
        }
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        match self.0 {
            Use::Hello { id, inc, ended } => {
                l.push_fmt(format_args!(
                    "shared resource: process {id} started (incarnation {inc})"
                ))?;
                match ended {
                    Some(p) => l.push_fmt(format_args!(
                        ": its previous incarnation died inside the CS (T={}) without EXIT; the CS is free",
                        p.t
                    )),
                    None => Ok(()),
                }
            }
            Use::Enter {
                id, t, clock, text, ..
            } => l.push_fmt(format_args!(
                "shared resource: process {id} entered (T={t}, clock={clock}): \"{}\"",
                Esc(text.as_bytes())
            )),
            Use::Exit {
                id,
                t,
                clock,
                exit: Exit::Left { held },
                ..
            } => l.push_fmt(format_args!(
                "shared resource: process {id} left (T={t}, clock={clock}) after {}",
                DisplayDuration(ms(*held))
            )),
            Use::Exit { id, t, clock, .. } => l.push_fmt(format_args!(
                "shared resource: process {id} left (T={t}, clock={clock}) but its entry never arrived"
            )),
            Use::HelloAgain { id, inc } => l.push_fmt(format_args!(
                "shared resource: HELLO again from process {id} (incarnation {inc})"
            )),
            Use::Stale { id, inc, kind } => l.push_fmt(format_args!(
                "shared resource: {} from process {id}'s earlier incarnation {inc} ignored",
                kind.as_str()
            )),
        }
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        match self.0 {
            Use::Hello { id, inc, ended } => {
                o.num("id", u64::from(id.0))?.num("inc", inc.0)?;
                o.opt_num("ended_t", ended.map(|p| p.t))?;
            }
            Use::Enter {
                id,
                inc,
                t,
                clock,
                text,
                ..
            } => {
                o.num("id", u64::from(id.0))?
                    .num("inc", inc.0)?
                    .num("t", *t)?
                    .num("clock", *clock)?
                    .str("text", text)?;
            }
            Use::Exit {
                id,
                inc,
                t,
                clock,
                exit,
            } => {
                o.num("id", u64::from(id.0))?
                    .num("inc", inc.0)?
                    .num("t", *t)?
                    .num("clock", *clock)?;
                if let Exit::Left { held } = exit {
                    o.num("held_ms", held.0)?;
                }
            }
            Use::HelloAgain { id, inc } => {
                o.num("id", u64::from(id.0))?.num("inc", inc.0)?;
            }
            Use::Stale { id, inc, kind } => {
                o.num("id", u64::from(id.0))?
                    .num("inc", inc.0)?
                    .str("kind", kind.as_str())?;
            }
        }
        Ok(())
    }
}

impl Render for Violation {
    fn name(&self) -> &'static str {
        "violation"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        match self {
            Violation::Overlap { entry: e, inside: p } => l.push_fmt(format_args!(
                "VIOLATION: process {} (T={}) entered while process {} (T={}) is inside",
                e.id, e.t, p.id, p.t
            )),
            Violation::Order { entry: e, previous: p } => l.push_fmt(format_args!(
                "VIOLATION: process {} entered with (T={}, id={}) after (T={}, id={}): not in timestamp order",
                e.id, e.t, e.id, p.t, p.id
            )),
        }
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        match self {
            Violation::Overlap {
                entry: e,
                inside: p,
            } => {
                o.str("kind", "overlap")?
                    .num("id", u64::from(e.id.0))?
                    .num("t", e.t)?
                    .num("inside_id", u64::from(p.id.0))?
                    .num("inside_t", p.t)?;
            }
            Violation::Order {
                entry: e,
                previous: p,
            } => {
                o.str("kind", "order")?
                    .num("id", u64::from(e.id.0))?
                    .num("t", e.t)?
                    .num("previous_id", u64::from(p.id.0))?
                    .num("previous_t", p.t)?;
            }
        }
        Ok(())
    }
}

/// Two addresses claim one id (the resource was not given the list).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimedTwice<'a>(pub(crate) &'a Conflict);

impl Render for ClaimedTwice<'_> {
    fn name(&self) -> &'static str {
        "resource_conflict"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        let c = self.0;
        l.push_fmt(format_args!(
            "shared resource: CONFLICT: process {} is claimed by two addresses, {} (incarnation {}) and {} (incarnation {}): is the same id given to two processes (a copied service)? Both are told and both are checked: an overlap between them is a VIOLATION",
            c.id, c.at, c.inc, c.other, c.other_inc
        ))
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        let c = self.0;
        o.num("id", u64::from(c.id.0))?
            .addr("addr", Some(c.at))?
            .num("inc", c.inc.0)?
            .addr("other_addr", Some(c.other))?
            .num("other_inc", c.other_inc.0)?;
        Ok(())
    }
}

/// The resource's summary when it stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceSummary<'a> {
    /// Time since start.
    pub(crate) ran: Duration,
    /// Its findings.
    pub(crate) checker: &'a Checker,
    /// Datagrams that were not HELLO, ENTER or EXIT.
    pub(crate) malformed: u64,
    /// Messages from an address that does not speak for the process they name.
    pub(crate) rejected: u64,
}

impl Render for ResourceSummary<'_> {
    fn name(&self) -> &'static str {
        "resource_summary"
    }
    fn text(&self, l: &mut Line) -> Result<(), LineFull> {
        let c = self.checker;
        l.push_fmt(format_args!(
            "shared resource summary after {}: {} entries, {} violations, {} duplicates acknowledged again, {} exits without entry, {} restarts ({} inside the CS), {} stale, {} malformed datagrams, {} rejected",
            DisplayDuration(self.ran), c.entries, c.violations, c.duplicates, c.unknown_exits,
            c.restarts, c.ended_by_restart, c.stale, self.malformed, self.rejected
        ))?;
        if c.contested > 0 {
            l.push_fmt(format_args!(
                ", {} from an id two addresses claim",
                c.contested
            ))?;
        }
        Ok(())
    }
    fn json(&self, o: &mut Obj<'_>) -> Result<(), LineFull> {
        let c = self.checker;
        o.num("ran_ms", self.ran.as_millis() as u64)?
            .num("entries", c.entries)?
            .num("violations", c.violations)?
            .num("duplicates", c.duplicates)?
            .num("unknown_exits", c.unknown_exits)?
            .num("restarts", c.restarts)?
            .num("ended_by_restart", c.ended_by_restart)?
            .num("stale", c.stale)?
            .num("contested", c.contested)?
            .num("malformed", self.malformed)?
            .num("rejected", self.rejected)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab1::ra::{Priority, State};
    use crate::lab1::wire::{Inc, Kind};
    use crate::output::tests::{assert_same_fields, both};

    fn line(event: Event) -> LabLine {
        LabLine {
            me: PeerId(1),
            logged: Logged {
                clock: 41,
                state: State::Wanted,
                event,
            },
        }
    }

    #[test]
    fn text_and_json_carry_the_same_fields() {
        let p = PeerId(3);
        for (e, skip) in [
            (Event::Internal, &[][..]),
            (Event::Ignored, &[]),
            (Event::Requested { t: 12, need: 6 }, &[]),
            (
                Event::Request {
                    from: p,
                    t: 13,
                    answer: Answer::Deferred,
                },
                &[],
            ),
            // The T of a REPLY is the current request's, in the `requested` line.
            (
                Event::Reply {
                    from: p,
                    t: 14,
                    got: 5,
                    need: 6,
                },
                &["t"],
            ),
            (
                Event::Entered {
                    t: 15,
                    waited: Millis(1500),
                },
                &["waited_ms"],
            ),
            (Event::Left { t: 16 }, &[]),
            (Event::Released { replied: 7 }, &[]),
            (Event::ResourceSilent { of: AckOf::Exit }, &[]),
            (
                Event::Sent {
                    to: Party::Process(p),
                    kind: Kind::Reply,
                    t: 17,
                    resend: true,
                },
                &[],
            ),
            (
                Event::Sent {
                    to: Party::Resource,
                    kind: Kind::Enter,
                    t: 18,
                    resend: false,
                },
                &[],
            ),
            (
                Event::Stale {
                    from: Party::Process(p),
                    kind: Kind::Request,
                    t: 19,
                },
                &[],
            ),
            (
                Event::Acked {
                    of: AckOf::Enter,
                    t: 20,
                },
                &[],
            ),
        ] {
            // The id is the process's own: its log is its own.
            let mut skip = skip.to_vec();
            skip.push("id");
            assert_same_fields(&line(e), &skip);
        }
        let s = Stats {
            requests: 101,
            entries: 102,
            sent: 1030,
            resent: 104,
            resource_sent: 105,
            resource_resent: 106,
            duplicates: 107,
            worst_wait: Millis(1200),
            total_wait: Millis(2040),
            resource_silent: 109,
            events_dropped: 110,
            deferred_sent: 115,
        };
        assert_same_fields(
            &MutexSummary {
                id: PeerId(2),
                ran: Duration::from_secs(9),
                stats: s,
                malformed: 111,
                rejected: 112,
                clock: 113,
                state: "HELD",
                down: 3,
                lists_differ: 114,
            },
            &["ran_ms", "worst_wait_ms", "avg_wait_ms"],
        );
        let u = Use::Enter {
            id: PeerId(2),
            inc: Inc(77),
            t: 5,
            clock: 9,
            text: heapless::String::try_from("Oi \"x\"").unwrap(),
            entry: Entry::New {
                overlap: Some(Priority {
                    t: 3,
                    id: PeerId(1),
                }),
                out_of_order: Some(Priority {
                    t: 7,
                    id: PeerId(3),
                }),
            },
        };
        // The incarnation is in the `resource_hello` line.
        assert_same_fields(&UseLine(&u), &["inc"]);
        let vs: Vec<Violation> = Violation::of(&u).collect();
        assert_eq!(vs.len(), 2);
        for v in &vs {
            assert_same_fields(v, &["kind"]);
        }
        let exit = Use::Exit {
            id: PeerId(2),
            inc: Inc(77),
            t: 5,
            clock: 11,
            exit: Exit::Left { held: Millis(250) },
        };
        assert_same_fields(&UseLine(&exit), &["held_ms", "inc"]);
        for u in [
            Use::Hello {
                id: PeerId(2),
                inc: Inc(77),
                ended: Some(Priority {
                    t: 31,
                    id: PeerId(2),
                }),
            },
            Use::Stale {
                id: PeerId(2),
                inc: Inc(76),
                kind: Kind::Enter,
            },
        ] {
            assert_same_fields(&UseLine(&u), &[]);
        }
        assert_same_fields(
            &line(Event::Restarted {
                from: PeerId(3),
                regranted: true,
            }),
            &["id"],
        );
        assert_same_fields(
            &MutexListening {
                id: PeerId(1),
                n: 3,
                addr: "127.0.0.2:10002".parse().unwrap(),
                resource: "shared:10001",
                cs_time: Duration::from_secs(5),
                auto: true,
            },
            &["cs_ms"],
        );
        assert_same_fields(
            &Hint {
                id: PeerId(4),
                input: b"y\x1b",
            },
            &["input"],
        );
        let missing = [
            (PeerId(2), false, None),
            (PeerId(5), true, None),
            (PeerId(3), false, Some(Why::Held)),
            (PeerId(4), false, Some(Why::First(2))),
            (PeerId(6), false, Some(Why::Join)),
            (PeerId(7), false, Some(Why::Exit)),
        ];
        let waiting = StillWaiting {
            me: PeerId(1),
            clock: 17,
            t: 12,
            waited: Millis(6500),
            resends: 9,
            missing: &missing,
        };
        let (text, v) = both(&waiting);
        assert_eq!(
            text,
            "[clock=17 WANTED] still waiting for T=12 after 6.5s: no answer from 2 yet (9 resends); no answer from 5 yet (9 resends), down; deferred by 3 (it holds the CS); deferred by 4 (its T=2 comes first); deferred by 6 (it is rejoining after a restart); deferred by 7 (its EXIT is not yet acknowledged)"
        );
        assert_eq!(v["missing"], serde_json::json!([2, 5, 3, 4, 6, 7]));
        assert_eq!(v["down"], serde_json::json!([5]));
        assert_eq!(v["deferred_by"], serde_json::json!([3, 4, 6, 7]));
        assert_eq!(
            v["deferred_why"],
            serde_json::json!(["held", 2, "join", "exit"])
        );
        assert_eq!(
            both(&line(Event::Requested { t: 1, need: 0 })).0,
            "[clock=41 WANTED] requesting the CS with T=1: no other process to ask, entering"
        );
    }

    /// Golden: the course's lines.
    #[test]
    fn course_lines() {
        let text = |e| both(&line(e)).0;
        assert_eq!(
            text(Event::Left { t: 2 }),
            "[clock=41 WANTED] Sai da CS (T=2)"
        );
        assert_eq!(
            text(Event::Entered {
                t: 2,
                waited: Millis(1500)
            }),
            "[clock=41 WANTED] Entrei na CS (T=2, waited 1.5s)"
        );
        assert_eq!(
            text(Event::Requested { t: 2, need: 2 }),
            "[clock=41 WANTED] requesting the CS with T=2: waiting for 2 replies"
        );
        assert!(!line(Event::Acked {
            of: AckOf::Exit,
            t: 1
        })
        .in_text());
    }

    /// The line docs/lab1.md and the README quote.
    #[test]
    fn a_conflict_reads_as_the_docs_say_and_carries_its_fields() {
        let c = Conflict {
            id: PeerId(1),
            at: "172.18.0.5:10002".parse().unwrap(),
            inc: Inc(10),
            other: "172.18.0.7:10002".parse().unwrap(),
            other_inc: Inc(20),
        };
        let text = assert_same_fields(&ClaimedTwice(&c), &[]);
        assert_eq!(
            text,
            "shared resource: CONFLICT: process 1 is claimed by two addresses, 172.18.0.5:10002 (incarnation 10) and 172.18.0.7:10002 (incarnation 20): is the same id given to two processes (a copied service)? Both are told and both are checked: an overlap between them is a VIOLATION"
        );
    }
}
