//! The handout's peer: every interval, send the counter to every peer, then increment it;
//! print and account every datagram received. Runs on the shared [`driver`](crate::driver).

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Poll;

use crate::account::{Counts, Sequence, Verdict};
use crate::cli::{AddrSpec, DisplayDuration};
use crate::driver::{App, Datagram, Driver};
use crate::limits::MAX_STRANGERS;
use crate::mesh::{Mesh, StartError};
use crate::output::{Output, Payload, Row, Who};
use crate::wire::{encode_counter, parse_counter};

/// What the peer needs to start: the parsed command line.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Own address.
    pub addr: AddrSpec,
    /// The peers, in the order given.
    pub peers: Vec<AddrSpec>,
    /// Time between broadcasts.
    pub interval: Duration,
    /// Drop datagrams from addresses that are not peers.
    pub strict: bool,
}

/// A running counter peer.
pub type Node<W> = Driver<Counter, W>;

/// Opens the sockets, prints the start line and returns the loop, ready to
/// [`run`](Driver::run) (or to [`turn`](Driver::turn) by hand, as tests do). The first
/// broadcast is due at once.
pub fn start<W: Write>(cfg: &PeerConfig, mut out: Output<W>) -> Result<Node<W>, StartError> {
    let poll = Poll::new().map_err(StartError::Poll)?;
    let mesh = Mesh::open(poll.registry(), &cfg.addr, &cfg.peers, &mut out)?;
    out.listening(mesh.local_addr(), mesh.len(), cfg.interval);
    let app = Counter::new(cfg, mesh.len(), Instant::now());
    Ok(Driver::new(poll, mesh, app, out))
}

/// What a peer sent us, by sequence.
#[derive(Debug, Default)]
struct Tally {
    seq: Sequence,
    /// Datagrams that were not counters.
    foreign: u64,
}

/// Parses and accounts one datagram. Senders beyond the stranger table (no tally) get no
/// sequence notes.
fn classify<'a>(d: &Datagram<'a>, tally: Option<&mut Tally>) -> Payload<'a> {
    if d.truncated {
        if let Some(t) = tally {
            t.foreign += 1;
        }
        return Payload::Truncated(d.bytes);
    }
    match parse_counter(d.bytes) {
        Ok(c) => Payload::Counter(c, tally.map_or(Verdict::InOrder, |t| t.seq.record(c))),
        Err(e) => {
            if let Some(t) = tally {
                t.foreign += 1;
            }
            Payload::Foreign(d.bytes, e)
        }
    }
}

/// A sender that is not a configured peer: accounted by its address.
#[derive(Debug)]
struct Stranger {
    addr: SocketAddr,
    tally: Tally,
}

/// The counter application.
#[derive(Debug)]
pub struct Counter {
    /// The next counter to send.
    counter: u64,
    deadline: Instant,
    interval: Duration,
    started: Instant,
    fell_behind_said: bool,
    strict: bool,
    /// One per peer, in the mesh's order (allocated once at start).
    peers: Vec<Tally>,
    /// At most MAX_STRANGERS, allocated once at start.
    strangers: Vec<Stranger>,
    /// Datagrams from senders that did not fit in `strangers`.
    others: u64,
    /// Datagrams dropped by `--strict`.
    dropped: u64,
}

impl Counter {
    fn new(cfg: &PeerConfig, peers: usize, now: Instant) -> Self {
        let tallies = (0..peers).map(|_| Tally::default()).collect();
        Counter {
            counter: 0,
            deadline: now,
            interval: cfg.interval,
            started: now,
            fell_behind_said: false,
            strict: cfg.strict,
            peers: tallies,
            strangers: Vec::with_capacity(MAX_STRANGERS),
            others: 0,
            dropped: 0,
        }
    }

    /// The accounting of what peer `i` sent us.
    pub fn counts(&self, i: usize) -> Option<Counts> {
        self.peers.get(i).map(|t| t.seq.counts())
    }

    /// Sends the counter to every resolved peer and schedules the next deadline.
    fn broadcast<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>) {
        mesh.poll_up(out);
        let msg = encode_counter(self.counter);
        for i in 0..mesh.len() {
            mesh.send(i, &msg, now, out);
        }
        self.counter += 1;
        // Deadlines advance by whole intervals from the start, so the rate does not drift.
        self.deadline += self.interval;
        if now >= self.deadline {
            let behind = now.duration_since(self.deadline);
            let skipped = (behind.as_nanos() / self.interval.as_nanos()) as u32 + 1;
            self.deadline += self.interval * skipped;
            if !self.fell_behind_said {
                self.fell_behind_said = true;
                out.notice(format_args!(
                    "the loop fell behind by {}: skipping {skipped} broadcast(s) (said once)",
                    DisplayDuration(behind)
                ));
            }
        }
    }

    /// The stranger row for `from`, made on first sight (`None` when the table is full).
    fn stranger<W: Write>(&mut self, from: SocketAddr, out: &mut Output<W>) -> Option<usize> {
        if let Some(i) = self.strangers.iter().position(|s| s.addr == from) {
            return Some(i);
        }
        let new = Stranger {
            addr: from,
            tally: Tally::default(),
        };
        if self.strangers.len() == MAX_STRANGERS {
            return None;
        }
        self.strangers.push(new);
        if self.strict {
            out.notice(format_args!(
                "dropping datagrams from {from}: not a configured peer (--strict)"
            ));
        }
        Some(self.strangers.len() - 1)
    }
}

impl App for Counter {
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.deadline)
    }

    fn handle_timeout<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>) {
        if now >= self.deadline {
            self.broadcast(now, mesh, out);
        }
    }

    fn handle_datagram<W: Write>(
        &mut self,
        _now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        let (name, tally) = match d.peer {
            Some(i) => (Some(mesh.peer(i).name()), self.peers.get_mut(i)),
            None => {
                let row = self.stranger(d.from, out);
                if self.strict {
                    self.dropped += 1;
                    return;
                }
                if row.is_none() {
                    self.others += 1;
                }
                (None, row.map(|r| &mut self.strangers[r].tally))
            }
        };
        let payload = classify(&d, tally);
        out.received(Who { name, addr: d.from }, payload);
    }

    fn finish<W: Write>(&mut self, mesh: &mut Mesh, out: &mut Output<W>) {
        out.summary_header(self.started.elapsed(), self.counter);
        for (i, tally) in self.peers.iter().enumerate() {
            let st = mesh.peer(i);
            out.summary_row(Row {
                name: Some(st.name()),
                addr: st.addr,
                sent: Some(st.sent),
                errors: st.errors,
                counts: tally.seq.counts(),
                foreign: tally.foreign,
            });
        }
        if !self.strict {
            for s in &self.strangers {
                out.summary_row(Row {
                    name: None,
                    addr: Some(s.addr),
                    sent: None,
                    errors: 0,
                    counts: s.tally.seq.counts(),
                    foreign: s.tally.foreign,
                });
            }
        }
        if self.others > 0 {
            out.notice(format_args!(
                "{} datagram(s) from further senders (more than {MAX_STRANGERS} addresses that are not peers)",
                self.others
            ));
        }
        if self.dropped > 0 {
            out.notice(format_args!(
                "{} datagram(s) dropped from {} address(es) that are not peers (--strict)",
                self.dropped,
                self.strangers.len()
            ));
        }
    }
}
