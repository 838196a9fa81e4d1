//! The handout's peer: every interval, send the counter to every peer, then increment it;
//! print and account every datagram received. Runs on the shared [`driver`](crate::io::driver).

pub mod account;
pub mod events;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Poll;

use crate::counter::account::{Counts, Sequence, Verdict};
use crate::counter::events::{Listening, Payload, Received, Retired, Row, SummaryStart, Who};
use crate::io::driver::{open_mesh_with, App, Datagram, Driver};
use crate::io::mesh::events::{PeerEvent, PeerLine};
use crate::io::mesh::peer::PeerState;
use crate::io::mesh::{Discovery, Mesh, StartError};
use crate::metrics::expo::{Expo, Kind, OrEmpty, Value};
use crate::output::Output;
use crate::values::addr::AddrSpec;
use crate::values::decimal::{encode_counter, parse_counter};
use crate::values::limits::{MAX_ADDRS_PER_NAME, MAX_STRANGERS};
use crate::values::time::DisplayDuration;

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
    /// Groups of peers found by DNS, and the peer table's capacity.
    pub discovery: Discovery,
}

/// A running counter peer.
pub type Node<W> = Driver<Counter, W>;

/// Opens the sockets, prints the start line and returns the loop, ready to
/// [`run`](Driver::run) (or to [`turn`](Driver::turn) by hand, as tests do). The first
/// broadcast is due at once.
#[inline(never)]
pub fn start<W: Write>(cfg: &PeerConfig, mut out: Output<W>) -> Result<Box<Node<W>>, StartError> {
    let poll = Poll::new().map_err(StartError::Poll)?;
    let mesh = open_mesh_with(&poll, &cfg.addr, &cfg.peers, &cfg.discovery, &mut out)?;
    let groups: Vec<&str> = mesh.group_specs().map(|g| g.text.as_str()).collect();
    let groups = groups.join(" ");
    out.emit(&Listening {
        addr: mesh.local_addr(),
        peers: mesh.len(),
        interval: cfg.interval,
        discover: (!groups.is_empty()).then_some((groups.as_str(), mesh.capacity())),
    });
    let app = Counter::new(cfg, mesh.capacity(), Instant::now());
    Driver::new(poll, mesh, app, out)
}

/// The broadcast schedule, sans-IO: deadlines advance by whole intervals from the start, so
/// the rate does not drift; a loop that fell behind (a stopped container, a suspended laptop)
/// skips the ticks it missed instead of sending them in a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticker {
    deadline: Instant,
    interval: Duration,
    /// The second tick, when it is not one interval after the first (aligned tickers).
    second: Option<Instant>,
}

/// A broadcast is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick {
    /// Ticks skipped because the loop fell behind (0 normally), and by how much it was late.
    pub(crate) skipped: u32,
    /// How late the tick that is sent now was (zero when `skipped` is 0).
    pub(crate) behind: Duration,
}

impl Ticker {
    /// First tick at `start`, then every `interval` (which must not be zero).
    #[cfg(test)]
    pub(crate) fn new(start: Instant, interval: Duration) -> Ticker {
        Ticker {
            deadline: start,
            interval,
            second: None,
        }
    }

    /// First tick at `start`, the next ones where the wall clock (`since_epoch` at `start`) is
    /// a whole number of intervals since the epoch, the first of them at most one interval
    /// after `start` (never later: a peer whose ticks came further apart would look late). Every peer of a mesh then broadcasts at the same phase, so what it
    /// receives comes in one burst a second instead of one datagram at a time, and is taken
    /// in a few wake-ups (see the driver's `Gather`); each peer still sends once an interval.
    pub(crate) fn aligned(start: Instant, interval: Duration, since_epoch: Duration) -> Ticker {
        let phase = since_epoch.as_nanos() % interval.as_nanos().max(1);
        // Below one interval, so it fits in a u64 of nanoseconds.
        let to_next = interval.saturating_sub(Duration::from_nanos(phase as u64));
        Ticker {
            deadline: start,
            interval,
            second: Some(start + to_next),
        }
    }

    /// When the next tick is due.
    pub(crate) fn poll_timeout(&self) -> Instant {
        self.deadline
    }

    /// A tick if one is due at `now` (a spurious call gives `None`).
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Tick> {
        if now < self.deadline {
            return None;
        }
        let due = self.deadline;
        self.deadline = match self.second.take() {
            Some(second) => second,
            None => self.deadline + self.interval,
        };
        if now < self.deadline {
            return Some(Tick {
                skipped: 0,
                behind: Duration::ZERO,
            });
        }
        let past_next = now.duration_since(self.deadline);
        let skipped = (past_next.as_nanos() / self.interval.as_nanos()) as u32 + 1;
        self.deadline += self.interval * skipped;
        Some(Tick {
            skipped,
            behind: now.duration_since(due),
        })
    }
}

/// What a peer sent us, by sequence.
#[derive(Debug, Default)]
struct Tally {
    seq: Sequence,
    /// Datagrams that were not counters.
    foreign: u64,
    /// When its last counter came.
    last: Option<Instant>,
}

/// Parses and accounts one datagram. Senders beyond the stranger table (no tally) get no
/// sequence notes.
fn classify<'a>(d: &Datagram<'a>, tally: Option<&mut Tally>, now: Instant) -> Payload<'a> {
    if d.truncated {
        if let Some(t) = tally {
            t.foreign += 1;
        }
        return Payload::Truncated(d.bytes);
    }
    match parse_counter(d.bytes) {
        Ok(c) => Payload::Counter(
            c,
            tally.map_or(Verdict::InOrder, |t| {
                t.last = Some(now);
                t.seq.record(c)
            }),
        ),
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
    ticker: Ticker,
    started: Instant,
    fell_behind_said: bool,
    strict: bool,
    /// One per slot of the peer table, in the mesh's order (allocated once at start, for its
    /// whole capacity).
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
            ticker: Ticker::aligned(now, cfg.interval, since_epoch()),
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

    /// Sends the counter to every resolved peer; says once if the loop fell behind.
    fn broadcast<W: Write>(
        &mut self,
        now: Instant,
        tick: Tick,
        mesh: &mut Mesh,
        out: &mut Output<W>,
    ) {
        let msg = encode_counter(self.counter);
        for i in 0..mesh.len() {
            mesh.send(i, &msg, now);
        }
        self.counter += 1;
        if tick.skipped > 0 && !self.fell_behind_said {
            self.fell_behind_said = true;
            out.notice(format_args!(
                "the loop fell behind by {}: skipping {} broadcast(s) (said once)",
                DisplayDuration(tick.behind),
                tick.skipped
            ));
        }
    }

    /// The first datagram of peer `i`: if it sent from `from` before it was a peer (a
    /// discovered peer heard before its group's lookup found it), its stranger row becomes
    /// its own. Once per peer: afterwards its tally is not empty.
    fn adopt(&mut self, i: usize, from: SocketAddr) {
        let Some(t) = self.peers.get_mut(i) else {
            return;
        };
        if t.seq.counts().received > 0 || t.foreign > 0 {
            return;
        }
        if let Some(k) = self.strangers.iter().position(|s| s.addr == from) {
            *t = self.strangers.swap_remove(k).tally;
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

/// The wall clock, as a duration since the epoch (zero if it is set before 1970).
fn since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// How long datagrams may gather while many peers send (an eighth of the interval at most):
/// nobody sees 25 ms at 1 Hz, and a 200-peer mesh is woken a few times a second instead of
/// 199 times.
const GATHER: Duration = Duration::from_millis(25);

impl App for Counter {
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.ticker.poll_timeout())
    }

    fn gather(&self) -> Option<Duration> {
        Some(GATHER.min(self.ticker.interval / 8))
    }

    fn mode(&self) -> &'static str {
        "peer"
    }

    fn metrics(&self, now: Instant, mesh: &Mesh, e: &mut Expo<'_>) {
        self.write_metrics(now, mesh, e);
    }

    fn handle_timeout<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>) {
        if self.counter == 0 && now > self.ticker.poll_timeout() {
            // The first broadcast waited for the first lookups (the driver holds the timers
            // up to half a second for them): the schedule starts now, or a slow nameserver
            // would read as a loop that fell behind and skip the first intervals.
            self.ticker = Ticker::aligned(now, self.ticker.interval, since_epoch());
        }
        if let Some(tick) = self.ticker.handle_timeout(now) {
            self.broadcast(now, tick, mesh, out);
        }
    }

    fn handle_datagram<W: Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        // Not from a peer's address, but from the IP of exactly one peer (the course's Go
        // program sends from a random port): that peer's, said once.
        let by_ip = match d.peer {
            None if !self.strict => mesh.attribute_by_ip(d.from),
            _ => None,
        };
        if let Some((i, first)) = by_ip {
            // Not `heard`: a datagram from another port proves the host is there, not that
            // the peer's own port is (a peer whose port refuses would flap down/up).
            if first {
                let st = mesh.peer(i);
                let port = st.addr.map_or(0, |a| a.port());
                out.emit(&PeerLine {
                    name: st.name(),
                    group: st.group.map(|g| mesh.group_name(g)),
                    other: None,
                    event: &PeerEvent::OtherPort {
                        i,
                        from: d.from,
                        port,
                    },
                });
            }
        }
        let peer = d.peer.or(by_ip.map(|(i, _)| i));
        if let Some(i) = peer {
            self.adopt(i, d.from);
        }
        let (name, tally) = match peer {
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
        let payload = classify(&d, tally, now);
        let line = Received {
            who: Who { name, addr: d.from },
            payload,
        };
        match payload {
            // Counters are what the peer is for: every one is shown.
            Payload::Counter(..) => out.emit(&line),
            // Garbage is shown too, but a flood of it must not drown the counters.
            Payload::Foreign(..) | Payload::Truncated(_) => out.emit_limited(d.from, &line),
        }
    }

    fn peer_replaced<W: Write>(&mut self, i: usize, old: &PeerState, out: &mut Output<W>) {
        if let Some(t) = self.peers.get_mut(i) {
            let t = std::mem::take(t);
            out.emit(&Retired(Row {
                name: Some(old.name()),
                addr: old.addr,
                sent: Some(old.sent),
                errors: old.errors,
                counts: t.seq.counts(),
                foreign: t.foreign,
                left: true,
            }));
        }
    }

    fn handle_bye(&mut self, i: usize) {
        if let Some(t) = self.peers.get_mut(i) {
            t.seq.handle_bye();
        }
    }

    fn finish<W: Write>(&mut self, mesh: &mut Mesh, out: &mut Output<W>) {
        self.summary(mesh, out);
    }
}

impl Counter {
    /// Per peer, what its counters said; per process, the broadcasts and what was refused.
    fn write_metrics(&self, now: Instant, mesh: &Mesh, e: &mut Expo<'_>) {
        e.single(
            "peerlab_broadcasts_total",
            Kind::Counter,
            "Counters sent to every peer (one broadcast an interval).",
            Value::Count(self.counter),
        );
        let foreign: u64 = self.peers.iter().map(|t| t.foreign).sum::<u64>()
            + self.strangers.iter().map(|s| s.tally.foreign).sum::<u64>();
        e.counts(
            "peerlab_datagrams_refused_total",
            "Datagrams not counted, by reason: not a counter (garbage, a cut datagram), not from a peer (--strict), from more senders than the table holds.",
            "reason",
            &[
                ("not_a_counter", foreign),
                ("not_a_peer", self.dropped),
                ("too_many_senders", self.others),
            ],
        );
        let strangers: u64 = self
            .strangers
            .iter()
            .map(|s| s.tally.seq.counts().received)
            .sum();
        e.single(
            "peerlab_stranger_counters_received_total",
            Kind::Counter,
            "Counters received from addresses that are not peers (the course's Go program sends from a random port).",
            Value::Count(strangers),
        );
        type Pick = fn(&Tally, Instant) -> Option<Value>;
        let families: [(&str, Kind, &str, Pick); 7] = [
            (
                "peerlab_peer_counters_received_total",
                Kind::Counter,
                "Counters received from the peer, duplicates included.",
                |t, _| Some(Value::Count(t.seq.counts().received)),
            ),
            (
                "peerlab_peer_counters_lost",
                Kind::Gauge,
                "Counters missing between the lowest and the highest received from the peer (a late one takes one back).",
                |t, _| Some(Value::Count(t.seq.counts().lost)),
            ),
            (
                "peerlab_peer_counters_duplicated_total",
                Kind::Counter,
                "Counters received more than once.",
                |t, _| Some(Value::Count(t.seq.counts().duplicated)),
            ),
            (
                "peerlab_peer_counters_out_of_order_total",
                Kind::Counter,
                "Counters received after a higher one.",
                |t, _| Some(Value::Count(t.seq.counts().reordered)),
            ),
            (
                "peerlab_peer_restarts_total",
                Kind::Counter,
                "Times the peer's counter started over (it restarted).",
                |t, _| Some(Value::Count(t.seq.counts().restarts)),
            ),
            (
                "peerlab_peer_foreign_datagrams_total",
                Kind::Counter,
                "Datagrams from the peer that were not counters.",
                |t, _| Some(Value::Count(t.foreign)),
            ),
            (
                "peerlab_peer_received_age_seconds",
                Kind::Gauge,
                "Seconds since the peer's last counter (no sample before the first).",
                |t, now| {
                    let age = now.saturating_duration_since(t.last?);
                    Some(Value::Millis(age.as_millis() as u64))
                },
            ),
        ];
        for (name, kind, help, pick) in families {
            e.family(name, kind, help);
            for (i, t) in self.peers.iter().enumerate().take(mesh.len()) {
                let st = mesh.peer(i);
                if let Some(v) = pick(t, now) {
                    e.sample_of(
                        i,
                        name,
                        &[("peer", &st.name()), ("address", &OrEmpty(st.addr))],
                        v,
                    );
                }
            }
        }
    }

    /// A stranger that sent counters from the IP of configured peers that sent none from
    /// their own port: on one host (every peer on 127.0.0.1) that is the course's Go program,
    /// which sends from a random port, beside its silent row. Said, so that nobody takes the
    /// Go peer for broken.
    fn say_likely_go_programs<W: Write>(&self, mesh: &Mesh, out: &mut Output<W>) {
        for s in &self.strangers {
            if s.tally.seq.counts().received == 0 {
                continue;
            }
            let silent = (0..mesh.len()).filter(|&i| {
                let st = mesh.peer(i);
                st.addr.is_some_and(|a| a.ip() == s.addr.ip())
                    && self
                        .peers
                        .get(i)
                        .is_some_and(|t| t.seq.counts().received == 0)
            });
            let mut names: heapless::Vec<&str, 3> = heapless::Vec::new();
            let mut more = 0;
            for i in silent {
                if names.push(mesh.peer(i).name()).is_err() {
                    more += 1;
                }
            }
            let Some(first) = names.first() else { continue };
            let or = |k: usize| {
                names
                    .get(k)
                    .map_or("", |_| if k == 1 { " (or " } else { ", " })
            };
            let nth = |k: usize| names.get(k).copied().unwrap_or("");
            let close = if names.len() > 1 { ")" } else { "" };
            out.notice(format_args!(
                "(not a peer) {} sent counters from the IP of {first}{}{}{}{}{}{close}, which sent none from its own port: likely the course's Go program, which sends from a random port; where each peer has its own IP (containers) it is taken as that peer's",
                s.addr,
                or(1),
                nth(1),
                or(2),
                nth(2),
                if more > 0 { " and more" } else { "" },
            ));
        }
    }

    fn summary<W: Write>(&mut self, mesh: &mut Mesh, out: &mut Output<W>) {
        out.emit(&SummaryStart {
            ran: self.started.elapsed(),
            broadcasts: self.counter,
        });
        for (i, tally) in self.peers.iter().enumerate().take(mesh.len()) {
            let st = mesh.peer(i);
            out.emit(&Row {
                name: Some(st.name()),
                addr: st.addr,
                sent: Some(st.sent),
                errors: st.errors,
                counts: tally.seq.counts(),
                foreign: tally.foreign,
                left: st.left,
            });
        }
        if !self.strict {
            for s in &self.strangers {
                out.emit(&Row {
                    name: None,
                    addr: Some(s.addr),
                    sent: None,
                    errors: 0,
                    counts: s.tally.seq.counts(),
                    foreign: s.tally.foreign,
                    left: false,
                });
            }
        }
        if !self.strict {
            self.say_likely_go_programs(mesh, out);
        }
        let left_out = mesh.left_out();
        if left_out > 0 {
            out.notice(format_args!(
                "up to {left_out} discovered address(es) at once were left out: the peer table holds {} (--max-peers), and a lookup keeps at most {MAX_ADDRS_PER_NAME} addresses",
                mesh.capacity()
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ticks_every_interval_without_drift() {
        let t0 = Instant::now();
        let mut t = Ticker::new(t0, S);
        let due = Tick {
            skipped: 0,
            behind: Duration::ZERO,
        };
        assert_eq!(
            t.handle_timeout(t0),
            Some(due),
            "the first tick is due at once"
        );
        assert_eq!(t.poll_timeout(), t0 + S);
        assert_eq!(t.handle_timeout(t0 + S / 2), None, "a spurious wake-up");
        // Woken 30 ms late: the next deadline still counts from the start.
        assert_eq!(
            t.handle_timeout(t0 + S + Duration::from_millis(30)),
            Some(due)
        );
        assert_eq!(t.poll_timeout(), t0 + 2 * S);
    }

    #[test]
    fn aligned_ticks_fall_on_whole_intervals_of_the_wall_clock() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Started 300 ms into a second: the second tick at the next whole second (700 ms
        // later), then every second.
        let mut t = Ticker::aligned(t0, S, Duration::from_secs(1_700_000_000) + ms(300));
        assert!(
            t.handle_timeout(t0).is_some(),
            "the first tick is due at once"
        );
        assert_eq!(t.poll_timeout(), t0 + ms(700));
        assert!(t.handle_timeout(t0 + ms(700)).is_some());
        assert_eq!(t.poll_timeout(), t0 + ms(1700));
        // Started 800 ms into a second: the next whole second, 200 ms later (never more than
        // an interval between two ticks).
        let mut t = Ticker::aligned(t0, S, Duration::from_secs(5) + ms(800));
        t.handle_timeout(t0);
        assert_eq!(t.poll_timeout(), t0 + ms(200));
        // On a whole second: one interval.
        let mut t = Ticker::aligned(t0, ms(250), Duration::from_secs(9));
        t.handle_timeout(t0);
        assert_eq!(t.poll_timeout(), t0 + ms(250));
        // Late past the second tick: skipped like any other.
        let mut t = Ticker::aligned(t0, S, Duration::from_secs(5) + ms(300));
        t.handle_timeout(t0);
        let r = t.handle_timeout(t0 + ms(1800)).unwrap();
        assert_eq!((r.skipped, t.poll_timeout()), (1, t0 + ms(2700)));
        assert_eq!(r.behind, ms(1100), "how late the tick due at 700 ms was");
    }

    #[test]
    fn a_loop_that_fell_behind_skips_the_missed_ticks() {
        let t0 = Instant::now();
        let mut t = Ticker::new(t0, S);
        t.handle_timeout(t0);
        // Suspended for 3.5 s: ticks at 1 s (due now, 2.5 s late), 2 s, 3 s and 4 s... 2 s
        // and 3 s are skipped, the next is at 4 s.
        let late = t0 + Duration::from_millis(3500);
        assert_eq!(
            t.handle_timeout(late),
            Some(Tick {
                skipped: 2,
                behind: Duration::from_millis(2500)
            })
        );
        assert_eq!(t.poll_timeout(), t0 + 4 * S);
        // Exactly on a later deadline: that one is skipped too (it would be sent late).
        let mut t = Ticker::new(t0, S);
        t.handle_timeout(t0);
        let r = t.handle_timeout(t0 + 2 * S).unwrap();
        assert_eq!((r.skipped, t.poll_timeout()), (1, t0 + 3 * S));
    }
}
