//! The event loop shared by every mode: the only code that polls.
//!
//! One thread and one `mio::Poll`. Registered sources: the mesh's sockets (the server socket
//! `SERVER` and one connected socket per peer, `Token(1 + i)`; then the
//! sockets of the peers' name lookups, from `DNS_TOKENS`), the
//! SIGINT/SIGTERM self-pipe (`SIGNALS`) and, for modes that read the keyboard, stdin (`STDIN`). Timers
//! are deadlines, not sleeps: the earliest (the application's next deadline, the next name
//! resolution, the once-a-second checks) arms a timerfd in the same poll ([`ALARM`]), set again
//! only when the earliest moves earlier, and the clock is read again after every wake-up.
//! Readiness is edge-triggered, so every ready source is drained until its queue is known to be
//! empty: a socket is read two datagrams at a time (`recvmmsg`), and a read that gets fewer
//! says so without another that returns `WouldBlock` (a socket whose drain gives up on errors
//! first is drained again on the next turn, without waiting).
//!
//! What happens to a datagram is the [`App`]'s business; the driver answers health probes,
//! notes goodbyes, and attributes each datagram to a peer by its source address first.
//! Everything on the message path uses buffers owned here (`tests/alloc.rs` proves it).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::io::alarm::{Alarm, ALARM};
use crate::io::http::MetricsServer;
use crate::io::mesh::events::PeerLine;
use crate::io::mesh::peer::{Link, PeerState};
use crate::io::mesh::{Discovery, Mesh, Recv, StartError, MAX_TOKENS};
use crate::io::net::{Got, Inbox, BATCH};
use crate::io::{BYE, HEALTH_OK, HEALTH_PROBE};
use crate::metrics::expo::{Expo, Kind, Value};
use crate::output::{Line, Output};
use crate::values::addr::AddrSpec;
use crate::values::limits::{MAX_DGRAM, MAX_PEERS, UP_AFTER};

/// The own address is being opened (its name looked up): a stop ends the process at once.
static STARTING: AtomicBool = AtomicBool::new(false);
/// A stop came after the own address was open, before the loop listened to signals.
static STOP_PENDING: AtomicBool = AtomicBool::new(false);
/// A SIGUSR1 (print the summary so far) came before the loop listened to signals: its
/// default action would have killed the process (seen when the listening line was out and
/// the loop not yet running, on a loaded machine).
static USR1_PENDING: AtomicBool = AtomicBool::new(false);
/// The loop listens to signals itself (from then on `USR1_PENDING` is not set).
static LOOP_HEARS_SIGNALS: AtomicBool = AtomicBool::new(false);

/// Until [`Driver::run`] listens to signals: while the own address is opened (which may wait
/// up to `RESOLVE_OWN_LIMIT` for its name; a `docker stop`
/// then would otherwise kill the process without a word), SIGINT, SIGTERM or SIGHUP end it at
/// once with a line on stderr and status 0, as a stop does later (nothing was sent, so no
/// summary); after that, the stop is kept for the loop, which then stops at once as usual.
pub fn stop_while_starting() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    STARTING.store(true, Ordering::SeqCst);
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // SAFETY: the action only reads an atomic, write(2)s a static buffer and _exit(2)s,
        // all async-signal-safe; it allocates and locks nothing.
        #[allow(unsafe_code)]
        let _ = unsafe {
            signal_hook::low_level::register(sig, || {
                if STARTING.load(Ordering::SeqCst) {
                    const LINE: &[u8] =
                        b"process: stopped by a signal while starting (looking up the own address); nothing was sent\n";
                    // SAFETY: a valid buffer of that length.
                    let _ = libc::write(2, LINE.as_ptr().cast(), LINE.len());
                    signal_hook::low_level::exit(0);
                }
                STOP_PENDING.store(true, Ordering::SeqCst);
            })
        };
    }
    // SAFETY: the action only stores to an atomic: async-signal-safe.
    #[allow(unsafe_code)]
    let _ = unsafe {
        signal_hook::low_level::register(signal_hook::consts::SIGUSR1, || {
            if !LOOP_HEARS_SIGNALS.load(Ordering::SeqCst) {
                USR1_PENDING.store(true, Ordering::SeqCst);
            }
        })
    };
}

/// How long the application's first timers wait for the peers' first lookups.
pub(crate) const FIRST_LOOKUPS_WAIT: Duration = Duration::from_millis(500);

/// The signal pipe's token (the mesh uses `0..MAX_TOKENS`).
pub(crate) const SIGNALS: Token = Token(usize::MAX - 1);
/// Standard input's token.
pub(crate) const STDIN: Token = Token(usize::MAX - 2);
/// Standard output's token (writable readiness, when lines wait for a slow reader).
pub(crate) const STDOUT: Token = Token(usize::MAX - 3);

/// At exit, how long the summary may wait for a slow reader of stdout before it is given up.
const EXIT_FLUSH: Duration = Duration::from_millis(200);

/// At a stop, how long the application may keep the loop running to finish (Lab 1: an EXIT
/// waits for its ACK at most the resource's patience).
const STOP_WAIT: Duration = Duration::from_secs(4);

/// Longest keyboard line kept; longer lines are dropped with a notice.
const MAX_LINE: usize = 256;

/// Most of a file on stdin that is read as typed lines.
const MAX_FILE_INPUT: usize = 64 * 1024;

/// How often problems that last (peers down, names that do not resolve) are said again.
const REMIND_EVERY: Duration = Duration::from_secs(30);

/// Most bytes of stdin read in one turn, and in one second: a flood (`yes x |`, megabytes
/// pasted at once) cannot hold the loop, and beyond the second's bytes stdin is left unread
/// until the next second (its writer waits).
const KEY_BYTES_PER_TURN: usize = 4096;
const KEY_BYTES_PER_SECOND: usize = 64 * 1024;
/// Lines taken as typed in one second (far above any typist); the rest are dropped, counted
/// and said.
const KEY_LINES_PER_SECOND: u32 = 20;

/// A datagram handed to the application.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The configured peer it came from (by source address), if any.
    pub(crate) peer: Option<usize>,
    /// Its source address.
    pub(crate) from: SocketAddr,
    /// Its bytes (at most the receive buffer).
    pub bytes: &'a [u8],
    /// It filled the whole receive buffer: it was larger and has been cut.
    pub(crate) truncated: bool,
}

/// What runs on top of the loop: the counter peer, the Lab 1 process, the shared resource.
/// Handlers get `now` and the mesh to send with; they never block and never sleep.
pub trait App {
    /// The next time [`App::handle_timeout`] has work to do.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Called after every wake-up; does whatever is due at `now` (a spurious call is a no-op).
    fn handle_timeout<W: Write>(&mut self, now: Instant, mesh: &mut Mesh, out: &mut Output<W>);
    /// One datagram (health probes never reach the application; goodbyes only where
    /// [`App::bare_goodbye`] is false).
    fn handle_datagram<W: Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        out: &mut Output<W>,
        dgram: Datagram<'_>,
    );
    /// Configured peer `i` said goodbye (it is stopping): whatever it sends next starts anew.
    fn handle_bye(&mut self, _i: usize) {}
    /// Whether the driver's goodbye (`peerlab:bye`, which carries no MAC) is sent at stop and
    /// taken from peers. Not where every message must be authenticated (Lab 1 with a key):
    /// anyone who can forge a peer's address could say it stopped. There a goodbye reaches the
    /// application as data (refused, and counted), and peers learn of a stop from the
    /// kernel's errors instead.
    fn bare_goodbye(&self) -> bool {
        true
    }
    /// How long to let datagrams gather before handling them while many peers send (see
    /// [`Gather`]); `None`: every datagram is handled as soon as it comes (Lab 1, the shared
    /// resource, anything that answers).
    fn gather(&self) -> Option<Duration> {
        None
    }
    /// The mode's name in `peerlab_build_info` (`--metrics`).
    fn mode(&self) -> &'static str;
    /// Its metrics (`--metrics`), after the process's and the peers' own.
    fn metrics(&self, _now: Instant, _mesh: &Mesh, _e: &mut Expo<'_>) {}
    /// Whether the application reads the keyboard.
    fn wants_keyboard(&self) -> bool {
        false
    }
    /// Stdin cannot be read (`/dev/null`, closed): say what that means for this mode.
    fn no_keyboard<W: Write>(&self, out: &mut Output<W>) {
        out.notice(format_args!(
            "no keyboard: stdin is /dev/null or closed, nothing typed here is read"
        ));
    }
    /// One line typed on stdin, without its newline.
    fn handle_line<W: Write>(
        &mut self,
        _now: Instant,
        _mesh: &mut Mesh,
        _out: &mut Output<W>,
        _line: &[u8],
    ) {
    }
    /// Peer `i` had left and a new peer takes its slot (a full table): `old` is its state
    /// until now; whatever the application keeps about slot `i` is the old peer's.
    fn peer_replaced<W: Write>(&mut self, _i: usize, _old: &PeerState, _out: &mut Output<W>) {}

    /// Every [`REMIND_EVERY`], with the mesh's own reminders: what of the app's lasts and
    /// should be said again for whoever attached later.
    fn remind<W: Write>(&self, _now: Instant, _mesh: &Mesh, _out: &mut Output<W>) {}
    /// The process is stopping (before the goodbye): last words to the peers. Returns whether
    /// it is done; if not, the loop runs on (at most [`STOP_WAIT`], ended early by another
    /// SIGINT, SIGTERM or SIGHUP) and this is called again after each turn.
    fn stop<W: Write>(&mut self, _now: Instant, _mesh: &mut Mesh, _out: &mut Output<W>) -> bool {
        true
    }
    /// The process is stopping: print the summary.
    fn finish<W: Write>(&mut self, mesh: &mut Mesh, out: &mut Output<W>);
}

/// Stdin as a non-blocking poll source, assembling lines, at a bounded rate.
#[derive(Debug)]
struct Keyboard {
    file: File,
    line: heapless::Vec<u8, MAX_LINE>,
    /// The current line overflowed: drop it up to its newline.
    skipping: bool,
    /// The current one-second window: when it ends, the lines taken and bytes read in it,
    /// the lines dropped in it (beyond [`KEY_LINES_PER_SECOND`]).
    window_end: Instant,
    lines: u32,
    bytes: usize,
    dropped: u64,
    /// All lines dropped so far.
    dropped_total: u64,
    /// A bound was reached with stdin not drained: read again then.
    resume: Option<Instant>,
}

impl Keyboard {
    /// Opens stdin again as a new, non-blocking open file description and registers it, if
    /// it can be polled (a terminal or a pipe; not /dev/null or a file). A new description,
    /// because on a terminal stdin, stdout and stderr share one: making stdin non-blocking in
    /// place would make our own output (and the shell's, after us) non-blocking too. And
    /// non-blocking from the `open` on, so that reopening a pipe whose writer is gone cannot
    /// block.
    fn open(poll: &Poll) -> Result<Keyboard, io::Error> {
        use std::os::fd::AsFd;
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let is_socket =
            std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.file_type().is_socket());
        let file = if is_socket {
            // A socket cannot be opened again through /proc: use it as it is, non-blocking.
            let file = File::from(io::stdin().as_fd().try_clone_to_owned()?);
            socket2::SockRef::from(&file).set_nonblocking(true)?;
            file
        } else {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open("/proc/self/fd/0")?
        };
        poll.registry()
            .register(&mut SourceFd(&file.as_raw_fd()), STDIN, Interest::READABLE)?;
        Ok(Keyboard {
            file,
            line: heapless::Vec::new(),
            skipping: false,
            window_end: Instant::now(),
            lines: 0,
            bytes: 0,
            dropped: 0,
            dropped_total: 0,
            resume: None,
        })
    }
}

/// Every source that can be ready at once: the mesh's, signals, stdin, stdout, a spare, the
/// metrics listener and its connections.
const MAX_EVENTS: usize = MAX_TOKENS + 5 + crate::io::http::MAX_CONNS;

/// Peers heard from in a second at or above which datagrams are let gather.
const GATHER_PEERS: usize = 16;

/// Ready sources in one wake-up at or above which the lines of the turn go out in one write
/// (below, a write a line costs as little and needs no buffer: a 3-peer mesh never fills one).
const BATCH_FROM: usize = 3;

/// Letting datagrams gather while many peers send. A mesh of N peers at 1 Hz brings each peer
/// N - 1 datagrams a second; woken for each, a peer pays a wake-up per datagram (most of what a
/// datagram costs). While at least [`GATHER_PEERS`] peers were heard in the last second, after
/// a turn that handled datagrams the loop waits out the app's window before it looks at the
/// sockets again, on a second poll that hears only signals, so arrivals do not wake it: the
/// next turn takes all that came meanwhile. Timers are not delayed (the wait ends at the next
/// deadline), signals end it at once, and nothing that answers (Lab 1, health probes from
/// one prober) ever turns it on.
#[derive(Debug)]
struct Gather {
    window: Duration,
    /// The peers heard from in the current second, one bit each.
    heard: [u64; MAX_PEERS.div_ceil(64)],
    /// At least [`GATHER_PEERS`] were heard in the last whole second.
    on: bool,
    /// Until then the sockets are left alone (set after a turn that handled datagrams).
    until: Option<Instant>,
    /// The poll that hears only the signals, and the pipe they write to.
    quiet: Option<(Poll, Events, std::os::unix::net::UnixStream)>,
}

impl Gather {
    fn new(window: Duration) -> Gather {
        Gather {
            window,
            heard: [0; MAX_PEERS.div_ceil(64)],
            on: false,
            until: None,
            quiet: None,
        }
    }

    /// The quiet poll: the stop and summary signals also write a byte to a pipe it watches.
    /// Without it (it could not be made) nothing gathers.
    fn open_quiet(&mut self) -> io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
        use std::os::unix::net::UnixStream;
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let poll = Poll::new()?;
        poll.registry().register(
            &mut SourceFd(&read.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )?;
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGUSR1] {
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
        }
        self.quiet = Some((poll, Events::with_capacity(1), read));
        Ok(())
    }

    fn note(&mut self, i: usize) {
        if let Some(w) = self.heard.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Once a second: whether enough peers were heard to let datagrams gather.
    fn second(&mut self) {
        let n: u32 = self.heard.iter().map(|w| w.count_ones()).sum();
        self.on = n as usize >= GATHER_PEERS && self.quiet.is_some();
        self.heard = [0; MAX_PEERS.div_ceil(64)];
        if !self.on {
            self.until = None;
        }
    }

    /// Waits, hearing only signals, until the window is over or `deadline` comes.
    fn wait(&mut self, deadline: Option<Instant>) {
        let Some(until) = self.until.take() else {
            return;
        };
        let Some((poll, events, pipe)) = &mut self.quiet else {
            return;
        };
        let end = deadline.map_or(until, |d| d.min(until));
        // Whole milliseconds, rounded down: epoll's timeout is in milliseconds (mio rounds
        // up), and the window must not outlast what the app asked for (under 1 ms: no wait).
        let left = end.saturating_duration_since(Instant::now()).as_millis();
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
        if left.is_zero() {
            return;
        }
        // An error or EINTR only ends the wait early: the next turn polls as usual.
        let _ = poll.poll(events, Some(left));
        if !events.is_empty() {
            // Edge-triggered: empty the pipe so that the next signal wakes it again.
            let mut sink = [0u8; 64];
            while matches!(pipe.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

/// Opens the mesh on `poll`'s registry and says so if the own address could not be bound
/// (the wildcard is used instead: a Swarm service name resolves to a virtual IP).
pub(crate) fn open_mesh<W: Write>(
    poll: &Poll,
    addr: &AddrSpec,
    peers: &[AddrSpec],
    out: &mut Output<W>,
) -> Result<Mesh, StartError> {
    open_mesh_with(poll, addr, peers, &Discovery::default(), out)
}

/// [`open_mesh`] with groups of peers found by DNS (`--discover`).
pub(crate) fn open_mesh_with<W: Write>(
    poll: &Poll,
    addr: &AddrSpec,
    peers: &[AddrSpec],
    discovery: &Discovery,
    out: &mut Output<W>,
) -> Result<Mesh, StartError> {
    let mut mesh = Mesh::open_with(poll.registry(), addr, peers, discovery)?;
    // The peers whose addresses are known are connected first, then the own address is
    // bound (see `Mesh::listen`), before the start line says it listens.
    mesh.resolve_due(poll.registry(), Instant::now());
    mesh.listen()?;
    // The own address is open: from now on a stop is left to the loop (with its summary).
    STARTING.store(false, Ordering::SeqCst);
    if let Some(why) = mesh.fallback() {
        out.notice(format_args!(
            "cannot bind {} ({why}): listening on {} instead",
            addr.text,
            mesh.local_addr()
        ));
    }
    Ok(mesh)
}

/// What the driver knows of the process, for its metrics.
struct ProcessFacts {
    mode: &'static str,
    started_ms: u64,
    datagrams: u64,
    /// Lines lost: stdout not read, refusals not shown, trace not written, stdin flooded.
    lines: [u64; 4],
}

/// The metrics every mode has: the build, the start, the lines lost, and the mesh's (its
/// lookups, and per peer whether it is up and what was sent to it).
fn write_process_metrics(e: &mut Expo<'_>, p: &ProcessFacts, mesh: &Mesh) {
    e.family(
        "peerlab_build_info",
        Kind::Gauge,
        "Always 1: the version and the mode of this process.",
    );
    e.sample(
        "peerlab_build_info",
        &[("version", &env!("CARGO_PKG_VERSION")), ("mode", &p.mode)],
        Value::Count(1),
    );
    e.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since the Unix epoch, in seconds.",
        Value::Millis(p.started_ms),
    );
    e.single(
        "peerlab_datagrams_received_total",
        Kind::Counter,
        "Datagrams handed to the mode (health probes and goodbyes not included).",
        Value::Count(p.datagrams),
    );
    let [stdout, rate_limit, trace, stdin] = p.lines;
    e.counts(
        "peerlab_lines_dropped_total",
        "Lines lost, by reason: stdout not read fast enough, refusals beyond the per-source limit, trace file not written, stdin lines beyond 20 a second.",
        "reason",
        &[("stdout", stdout), ("rate_limit", rate_limit), ("trace", trace), ("stdin", stdin)],
    );
    mesh.write_metrics(e);
}

/// The names of the peers `pick` chooses, the first eight of them, then how many more.
struct Names<'a> {
    mesh: &'a Mesh,
    pick: &'a dyn Fn(usize) -> bool,
}

impl Names<'_> {
    fn count(&self) -> usize {
        (0..self.mesh.len()).filter(|&i| (self.pick)(i)).count()
    }
}

impl core::fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const SHOWN: usize = 8;
        let picked = (0..self.mesh.len()).filter(|&i| (self.pick)(i));
        for (k, i) in picked.clone().take(SHOWN).enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            // Names come from the command line or DNS: escaped as every name is.
            let mut l = Line::new();
            let _ = crate::output::escape::push_name(&mut l, self.mesh.peer(i).name());
            f.write_str(l.as_str())?;
        }
        let more = picked.count().saturating_sub(SHOWN);
        if more > 0 {
            write!(f, " and {more} more")?;
        }
        Ok(())
    }
}

/// Mesh sockets (tokens `0..=MAX_PEERS`) to drain again in the next turn, a bit each: a
/// list of tokens would make the driver 2 KiB larger (every copy of it, and every frame that
/// holds one, touches stack pages that stay resident).
/// It keeps its count: asked twice a turn, scanning the words cost 100 instructions a turn.
#[derive(Debug, Default, Clone, Copy)]
struct Redrain {
    bits: [u64; (MAX_PEERS + 1).div_ceil(64)],
    len: u16,
}

impl Redrain {
    fn insert(&mut self, t: Token) {
        if let Some(w) = self.bits.get_mut(t.0 / 64).filter(|_| t.0 <= MAX_PEERS) {
            self.len += u16::from(*w & (1 << (t.0 % 64)) == 0);
            *w |= 1 << (t.0 % 64);
        }
    }

    /// Takes `t` out; whether it was in.
    fn remove(&mut self, t: Token) -> bool {
        if self.len == 0 {
            return false;
        }
        match self.bits.get_mut(t.0 / 64) {
            Some(w) if *w & (1 << (t.0 % 64)) != 0 => {
                *w &= !(1 << (t.0 % 64));
                self.len -= 1;
                true
            }
            _ => false,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn tokens(self) -> impl Iterator<Item = Token> {
        self.bits.into_iter().enumerate().flat_map(|(k, mut w)| {
            core::iter::from_fn(move || {
                let bit = (w != 0).then(|| w.trailing_zeros() as usize)?;
                w &= w - 1;
                Some(Token(k * 64 + bit))
            })
        })
    }
}

/// The poll's timeout to wake at `until`: none when the alarm is set for it. (Free
/// functions here are the driver's parts that do not depend on the application: one copy in
/// the binary, not one per application.)
fn wait_until(alarm: &mut Option<Alarm>, until: Option<Instant>, now: Instant) -> Option<Duration> {
    let t = until?;
    if t <= now {
        return Some(Duration::ZERO);
    }
    if let Some(a) = alarm {
        if a.covers(t) || a.set(t).is_ok() {
            return None;
        }
        *alarm = None; // it cannot be set: timeouts from now on
        return Some(t.saturating_duration_since(Instant::now()));
    }
    Some(t - now)
}

/// Prints what happened to the peers (down, up, resolved) since the last call.
fn print_peer_events<W: Write>(mesh: &mut Mesh, out: &mut Output<W>) {
    while let Some(ev) = mesh.poll_event() {
        let (name, group) = mesh.describe(&ev);
        let other = mesh.other_of(&ev);
        out.emit(&PeerLine {
            name,
            group,
            other,
            event: &ev,
        });
    }
}

/// Starts a new one-second window of stdin if the last one is over, saying how many lines
/// it dropped.
fn key_window<W: Write>(keyboard: &mut Option<Keyboard>, out: &mut Output<W>, now: Instant) {
    let Some(k) = keyboard else { return };
    if now < k.window_end {
        return;
    }
    let dropped = core::mem::take(&mut k.dropped);
    k.window_end = now + Duration::from_secs(1);
    k.lines = 0;
    k.bytes = 0;
    if dropped > 0 {
        out.notice(format_args!(
            "stdin: {dropped} line(s) dropped in the last second (at most {KEY_LINES_PER_SECOND} a second are taken as typed)"
        ));
    }
}

/// What a received datagram is for, once the driver did its own part.
enum Intake {
    /// The driver's own (a health probe, answered): nothing for the application.
    Own,
    /// Peer `i` said goodbye.
    Bye(usize),
    /// Data for the application, from this peer if known.
    Data(Option<usize>),
}

/// The driver's part of a received datagram, the same whatever the application: answers a
/// health probe, takes a peer's goodbye (when `goodbye`), attributes it to a peer and marks
/// that peer heard. Not generic, so that each application's loop does not carry a copy.
fn intake(
    mesh: &mut Mesh,
    gather: Option<&mut Gather>,
    goodbye: bool,
    got: &Got,
    bytes: &[u8],
    now: Instant,
) -> Intake {
    // Both of the driver's own messages start with `p`, and no counter does: one byte
    // spares most datagrams the two comparisons.
    let ours = bytes.first() == Some(&b'p');
    if ours && bytes == HEALTH_PROBE {
        // Best effort: the prober retries if this answer is lost.
        mesh.send_to(got.from, HEALTH_OK);
        mesh.health_probes += 1;
        return Intake::Own;
    }
    // A `match`, not `or_else`: at the size optimisation level that is a call.
    let peer = match got.peer {
        Some(i) => Some(i),
        None => mesh.attribute(got.from),
    };
    if ours && goodbye && bytes == BYE {
        // Part of our protocol, not data: a peer stopping. From anyone else (a process the
        // shared resource was not given, a stranger) it says nothing, and is counted.
        let Some(i) = peer else {
            mesh.stray_goodbyes += 1;
            return Intake::Own;
        };
        mesh.bye(i, got.from, now);
        return Intake::Bye(i);
    }
    if let Some(i) = peer {
        mesh.heard(i, got.from);
        if let Some(g) = gather {
            g.note(i);
        }
    }
    Intake::Data(peer)
}

/// The earlier of two deadlines, if any.
#[inline(always)]
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The loop, with its mesh, application and output.
#[derive(Debug)]
pub struct Driver<A, W: Write> {
    poll: Poll,
    /// Readiness from the last wait; `None` while it is handled (handlers borrow the
    /// driver). Making an empty `Events` to stand in cost 115 instructions a turn.
    events: Option<Events>,
    /// The sockets.
    pub mesh: Mesh,
    /// What runs on top.
    pub app: A,
    /// Where lines go.
    pub(crate) out: Output<W>,
    keyboard: Option<Keyboard>,
    /// Sockets whose last drain gave up (too many errors in a row) before `WouldBlock`: no new
    /// readiness event is guaranteed for what they still hold, so the next turn drains them
    /// again and does not wait.
    redrain: Redrain,
    quit: bool,
    /// When to look at the peers' up/down state again (for every mode, once a second).
    next_link_check: Instant,
    /// When to say again which peers are still down or unresolved (a student who attaches
    /// late sees what was said once at start).
    next_reminder: Instant,
    /// DNS answers ignored as of the last line that said so.
    dns_ignored_said: u32,
    /// Until then, while the peers' first lookups are in flight, the application's timers
    /// wait: the first broadcast (counter 0) goes to every peer whose name answers quickly,
    /// as when names were resolved before the loop started. A dead nameserver delays it by
    /// this much at most, once.
    settle_until: Option<Instant>,
    /// The clock at the last wake-up.
    clock: Instant,
    /// The receive buffers, allocated once (boxed so the driver is cheap to move).
    inbox: Box<Inbox>,
    /// The signal pipe was ready in the last turn (`run` reads it only then).
    signals_ready: bool,
    /// Datagrams handed to the app so far (wrapping): whether a turn handled any.
    datagrams: u64,
    /// Letting datagrams gather while many peers send (apps that ask for it).
    gather: Option<Box<Gather>>,
    /// Goodbyes are sent and taken ([`App::bare_goodbye`]).
    goodbye: bool,
    /// `--metrics`: the HTTP endpoint.
    metrics: Option<Box<MetricsServer>>,
    /// The wall clock at start, in milliseconds since the epoch.
    started_ms: u64,
    /// The timer the loop waits on (without it, a timeout on every wait).
    alarm: Option<Alarm>,
}

impl<A: App, W: Write> Driver<A, W> {
    /// Takes a mesh opened on `poll`'s registry; resolves the peers that resolve now and, if
    /// the application wants it, opens the keyboard.
    /// Boxed: built once, then only its address moves (copies of a driver on the stack touch
    /// stack pages that stay resident).
    ///
    /// The server socket is bound by [`open_mesh`], once the peers whose addresses are known
    /// are connected, or else here ([`Mesh::listen`]); that can fail (another program took the
    /// port meanwhile).
    pub fn new(poll: Poll, mesh: Mesh, app: A, out: Output<W>) -> Result<Box<Self>, StartError> {
        let mut d = Box::new(Driver {
            poll,
            events: Some(Events::with_capacity(MAX_EVENTS)),
            mesh,
            app,
            out,
            keyboard: None,
            redrain: Redrain::default(),
            quit: false,
            next_link_check: Instant::now() + UP_AFTER,
            next_reminder: Instant::now() + REMIND_EVERY,
            dns_ignored_said: 0,
            settle_until: Some(Instant::now() + FIRST_LOOKUPS_WAIT),
            clock: Instant::now(),
            inbox: Inbox::boxed(),
            signals_ready: false,
            datagrams: 0,
            gather: None,
            goodbye: true,
            metrics: None,
            started_ms: crate::values::time::wall_us() / 1000,
            alarm: None,
        });
        d.alarm = Alarm::open(d.poll.registry()).ok();
        d.gather = d.app.gather().map(|w| Box::new(Gather::new(w)));
        d.goodbye = d.app.bare_goodbye();
        if d.app.wants_keyboard() {
            match Keyboard::open(&d.poll) {
                Ok(k) => d.keyboard = Some(k),
                // A file cannot be polled, but it can be read: its lines are typed at once.
                Err(_) if Self::stdin_is_file() => d.type_file(),
                Err(_) => d.app.no_keyboard(&mut d.out),
            }
        }
        if let Some(fd) = d.out.watch_fd() {
            // Edge-triggered: an event each time a full pipe has room again.
            if d.poll
                .registry()
                .register(&mut SourceFd(&fd), STDOUT, Interest::WRITABLE)
                .is_err()
            {
                d.out.notice(format_args!(
                    "stdout cannot be polled: a reader that stops reading may stall this process"
                ));
            }
        }
        d.mesh.resolve_due(d.poll.registry(), Instant::now());
        d.mesh.listen()?;
        d.retire_peers();
        d.print_peer_events();
        Ok(d)
    }

    /// Serves the metrics from this loop on `listener` (`--metrics`, bound by the caller
    /// before the mesh opened), and says where.
    pub fn serve_metrics(&mut self, listener: std::net::TcpListener) -> io::Result<()> {
        let server = MetricsServer::open(self.poll.registry(), listener)?;
        self.out.notice(format_args!(
            "metrics at http://{}/metrics (Prometheus text format)",
            server.local_addr()
        ));
        self.metrics = Some(Box::new(server));
        Ok(())
    }

    /// The metrics endpoint: a readiness event for `token`, or its deadlines (`None`).
    fn serve(&mut self, token: Option<Token>, now: Instant) {
        let Some(server) = &mut self.metrics else {
            return;
        };
        let (app, mesh, out) = (&self.app, &self.mesh, &self.out);
        let stdin_dropped = self.keyboard.as_ref().map_or(0, |k| k.dropped_total);
        let started = self.started_ms;
        let datagrams = self.datagrams;
        server.handle(self.poll.registry(), token, now, &mut |e| {
            let losses = out.losses();
            let p = ProcessFacts {
                mode: app.mode(),
                started_ms: started,
                datagrams,
                lines: [losses.0, losses.1, losses.2, stdin_dropped],
            };
            write_process_metrics(e, &p, mesh);
            app.metrics(now, mesh, e);
        });
        if let Some(why) = server.take_accept_trouble() {
            self.out.notice(format_args!(
                "--metrics: cannot accept connections ({why}; out of file descriptors? see ulimit -n): they wait and are tried again every 100 ms"
            ));
        }
    }

    fn stdin_is_file() -> bool {
        std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| m.is_file())
    }

    /// Stdin is a regular file (`< commands.txt`): its lines (at most [`MAX_FILE_INPUT`]
    /// bytes) are typed now, one after the other.
    fn type_file(&mut self) {
        let mut text = Vec::new();
        let read = io::stdin()
            .lock()
            .take(MAX_FILE_INPUT as u64 + 1)
            .read_to_end(&mut text);
        if let Err(e) = read {
            self.out
                .notice(format_args!("stdin is a file that cannot be read: {e}"));
            return;
        }
        if text.len() > MAX_FILE_INPUT {
            text.truncate(MAX_FILE_INPUT);
            self.out.notice(format_args!(
                "stdin is a file longer than {MAX_FILE_INPUT} bytes: only its first {MAX_FILE_INPUT} bytes are typed (use a pipe for more)"
            ));
        }
        let now = Instant::now();
        for line in text.split(|&b| b == b'\n') {
            let l = line.strip_suffix(b"\r").unwrap_or(line);
            if l.len() <= MAX_LINE {
                self.app.handle_line(now, &mut self.mesh, &mut self.out, l);
            }
        }
    }

    /// Hands the application the peers whose slots new peers took.
    fn retire_peers(&mut self) {
        while let Some((i, old)) = self.mesh.poll_retired() {
            self.app.peer_replaced(i, &old, &mut self.out);
        }
    }

    /// Prints what happened to the peers (down, up, resolved) since the last call.
    fn print_peer_events(&mut self) {
        print_peer_events(&mut self.mesh, &mut self.out);
    }

    /// Runs until SIGINT, SIGTERM or SIGHUP (a closed terminal), or until nobody reads stdout
    /// any more (EPIPE); then says goodbye to the peers and prints the summary. SIGUSR1
    /// prints the summary so far and goes on.
    #[inline(never)]
    pub fn run(&mut self) -> io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
        let mut signals = signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1])?;
        LOOP_HEARS_SIGNALS.store(true, Ordering::SeqCst);
        // From here the loop hears them; one that came after the own address was open and
        // before now is a stop all the same (see `stop_while_starting`).
        if STOP_PENDING.swap(false, Ordering::SeqCst) {
            self.quit = true;
        }
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        if let Some(g) = &mut self.gather {
            if let Err(e) = g.open_quiet() {
                self.out.notice(format_args!(
                    "cannot wait for signals alone ({e}): every datagram is handled as it comes"
                ));
            }
        }
        // Once stopping, how long the app may still run (Lab 1 inside the CS: its EXIT
        // acknowledged before its REPLYs, see `Ra::stop`); another SIGINT, SIGTERM or SIGHUP ends it.
        let mut stopping: Option<Instant> = None;
        'run: loop {
            if self.quit {
                let now = Instant::now();
                let since = *stopping.get_or_insert(now);
                // A broken stdout does not end it: the peers still need the stop done.
                if self.app.stop(now, &mut self.mesh, &mut self.out)
                    || now.duration_since(since) >= STOP_WAIT
                {
                    break;
                }
            }
            // While stopping, the app's own deadlines wake the loop (Lab 1 resends its EXIT).
            self.turn(None)?;
            if USR1_PENDING.swap(false, Ordering::SeqCst) {
                self.app.finish(&mut self.mesh, &mut self.out);
            }
            // The signal pipe is read only when it was ready: reading it every turn cost an
            // empty read a wake-up.
            let ready = std::mem::take(&mut self.signals_ready);
            for sig in ready.then(|| signals.pending()).into_iter().flatten() {
                if sig == SIGUSR1 {
                    self.app.finish(&mut self.mesh, &mut self.out);
                } else if stopping.is_some() {
                    break 'run;
                } else {
                    self.quit = true;
                }
            }
            if self.out.is_broken() {
                self.quit = true;
            }
        }
        if self.goodbye {
            self.mesh.say_to_all(BYE);
        }
        self.print_peer_events();
        self.app.finish(&mut self.mesh, &mut self.out);
        self.out.trace_report();
        if let Some(k) = &self.keyboard {
            if k.dropped_total > 0 {
                self.out.notice(format_args!(
                    "stdin: {} line(s) dropped in all (more than {KEY_LINES_PER_SECOND} a second)",
                    k.dropped_total
                ));
            }
        }
        let (probes, byes) = (self.mesh.health_probes, self.mesh.stray_goodbyes);
        if probes + byes > 0 {
            self.out.notice(format_args!(
                "{probes} health probe(s) answered, {byes} goodbye(s) from non-peers"
            ));
        }
        let limited = self.out.lines_limited();
        if limited > 0 {
            self.out.notice(format_args!(
                "{limited} line(s) about datagrams that were not taken were not shown (at most {} at once and one every {} ms per address)",
                crate::output::limit::BURST,
                crate::output::limit::EVERY_MS
            ));
        }
        self.flush_at_exit();
        Ok(())
    }

    /// Gives a slow reader of stdout a short while to take the summary.
    fn flush_at_exit(&mut self) {
        let until = Instant::now() + EXIT_FLUSH;
        while self.out.pending() > 0 && !self.out.is_broken() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let events = self
                .events
                .get_or_insert_with(|| Events::with_capacity(MAX_EVENTS));
            let _ = self.poll.poll(events, Some(left));
            self.out.flush_pending();
        }
    }

    /// One pass of the loop: waits for readiness or the next deadline (at most `max_wait`),
    /// handles what is ready, then whatever timer is due.
    #[inline(never)]
    pub fn turn(&mut self, max_wait: Option<Duration>) -> io::Result<()> {
        // The clock as the last wake-up read it (one read a turn): the alarm is set in
        // absolute time, so a clock that is late can only make the wait shorter (a deadline
        // it takes to be ahead, but past, fires at once). Without the alarm the wait is a
        // timeout from now: read now.
        let now = if self.alarm.is_some() {
            self.clock
        } else {
            Instant::now()
        };
        if self
            .settle_until
            .is_some_and(|t| now >= t || !self.mesh.first_lookups_pending())
        {
            self.settle_until = None;
        }
        // Folded by hand: an iterator's `min` over these cost 275 instructions a turn.
        let mut wake = earliest(
            self.settle_until.or(self.app.poll_timeout()),
            self.mesh.next_resolve(),
        );
        wake = earliest(wake, Some(self.next_link_check));
        wake = earliest(wake, self.keyboard.as_ref().and_then(|k| k.resume));
        wake = earliest(wake, self.metrics.as_ref().and_then(|m| m.next_deadline()));
        let until = earliest(wake, max_wait.map(|m| now + m));
        let timeout = if !self.redrain.is_empty() {
            // Poll the other sources and timers too, but come straight back.
            Some(Duration::ZERO)
        } else if let Some(g) = &mut self.gather {
            // Let datagrams gather (until the window ends, a deadline comes or a signal).
            g.wait(until);
            wait_until(&mut self.alarm, until, Instant::now())
        } else {
            wait_until(&mut self.alarm, until, now)
        };
        let events = self
            .events
            .get_or_insert_with(|| Events::with_capacity(MAX_EVENTS));
        match self.poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        // Handlers borrow the driver: the events are taken out while they run and put back
        // after. Readiness is a hint (spurious events happen): every handler drains to
        // WouldBlock.
        let events = self
            .events
            .take()
            .unwrap_or_else(|| Events::with_capacity(0));
        // The sockets left to drain again, taken out (handlers may leave new ones); none
        // most turns, and then nothing is copied.
        let mut again = (!self.redrain.is_empty()).then(|| core::mem::take(&mut self.redrain));
        let mut ready = again.as_ref().map_or(0, Redrain::len);
        for e in events.iter() {
            // The reader of stdout went away (`| head -1`): stop now, not at the next line.
            if e.token() == STDOUT && (e.is_write_closed() || e.is_error()) {
                self.out.mark_broken();
            }
            let redrained = again.as_mut().is_some_and(|a| a.remove(e.token()));
            ready += usize::from(!redrained);
        }
        // One clock read for this wake-up: for what arrived and for the timers due after it
        // (a timer a handler's microseconds later than this is the next turn's, at once).
        let now = Instant::now();
        self.clock = now;
        let batch = ready >= BATCH_FROM;
        if batch {
            self.out.hold();
        }
        let handled = self.datagrams;
        for e in events.iter() {
            self.handle_ready(e.token(), now);
        }
        if let Some(again) = again {
            for token in again.tokens() {
                self.handle_ready(token, now);
            }
        }
        // It was `None` while taken: nothing to drop (`forget` spares the call that would).
        core::mem::forget(self.events.replace(events));
        if self
            .keyboard
            .as_ref()
            .and_then(|k| k.resume)
            .is_some_and(|t| now >= t)
        {
            self.drain_keyboard(now);
        }
        if self
            .metrics
            .as_ref()
            .and_then(|m| m.next_deadline())
            .is_some_and(|t| now >= t)
        {
            self.serve(None, now);
        }
        // "Up again" is a while after a send without an error: look once a second, not at
        // every wake-up, for every mode.
        if now >= self.next_link_check {
            if let Some(g) = &mut self.gather {
                g.second();
            }
            self.key_window(now);
            self.mesh.poll_up(now);
            self.next_link_check = now + Duration::from_secs(1);
            if now >= self.next_reminder {
                self.next_reminder = now + REMIND_EVERY;
                self.remind();
                self.app.remind(now, &self.mesh, &mut self.out);
            }
            // /etc/hosts or /etc/resolv.conf partly or wholly ignored: said once per reason.
            while let Some(n) = crate::dns::sysfile::take_notes() {
                self.out.notice(format_args!("{n}"));
            }
            // Untrusted DNS answers: said at most once a second, and only when there are more.
            let ig = self.mesh.dns_ignored();
            if ig.total() > self.dns_ignored_said {
                self.dns_ignored_said = ig.total();
                self.out.notice(format_args!(
                    "{} DNS answer(s) ignored so far: {} from an address not asked, {} with a wrong id, {} to another question, {} malformed",
                    ig.total(),
                    ig.source,
                    ig.id,
                    ig.question,
                    ig.malformed
                ));
            }
        }
        let settled = self
            .settle_until
            .is_none_or(|t| now >= t || !self.mesh.first_lookups_pending());
        if settled {
            self.settle_until = None;
            self.app.handle_timeout(now, &mut self.mesh, &mut self.out);
        }
        // Each a call only when it has work: most turns have none.
        if self.mesh.lookup_due(now) {
            self.mesh.resolve_due(self.poll.registry(), now);
        }
        if self.mesh.has_news() {
            self.retire_peers();
            self.print_peer_events();
        }
        if batch {
            self.out.release();
        }
        if let Some(g) = &mut self.gather {
            if g.on && self.datagrams != handled {
                g.until = Some(now + g.window);
            }
        }
        Ok(())
    }

    /// Handles one ready source.
    fn handle_ready(&mut self, token: Token, now: Instant) {
        match token {
            ALARM => {
                if let Some(a) = &mut self.alarm {
                    a.fired();
                }
            }
            SIGNALS => self.signals_ready = true, // read by `run`, which owns the signals
            STDIN => self.drain_keyboard(now),
            STDOUT => self.out.flush_pending(),
            t if MetricsServer::owns(t) => self.serve(Some(t), now),
            t if self.mesh.owns_dns(t) => {
                self.mesh.handle_dns(self.poll.registry(), t, now);
                // Before anything the new peers send.
                self.retire_peers();
            }
            t => {
                if !self.drain_socket(t, now) {
                    self.redrain.insert(t);
                }
            }
        }
    }

    /// Reads the socket behind `token` until `WouldBlock` (true), or gives up after a few
    /// errors in a row (false: it must be drained again, see `redrain`).
    fn drain_socket(&mut self, token: Token, now: Instant) -> bool {
        // Edge-triggered: read until WouldBlock. Errors are retried a few times in a row (a
        // connected socket reports each ICMP error once), then left for the next turn.
        let mut errors = 0;
        while errors < 8 {
            match self.mesh.recv(token, &mut self.inbox) {
                Recv::Datagrams(n) => {
                    errors = 0;
                    for k in 0..n {
                        self.dispatch(now, k);
                    }
                    if n < BATCH {
                        return true; // the queue was empty (or, rarely, an error came within the read: it is read next time)
                    }
                }
                Recv::Again => errors += 1,
                Recv::Empty => return true,
            }
        }
        false
    }

    /// Hands datagram `k` of the inbox to the application (or answers it, for the driver's own
    /// probes and goodbyes).
    fn dispatch(&mut self, now: Instant, k: usize) {
        let got = self.inbox.got[k];
        let bytes = self.inbox.bytes(k);
        let gather = self.gather.as_deref_mut();
        match intake(&mut self.mesh, gather, self.goodbye, &got, bytes, now) {
            Intake::Own => {}
            Intake::Bye(i) => self.app.handle_bye(i),
            Intake::Data(peer) => {
                self.datagrams = self.datagrams.wrapping_add(1);
                let dgram = Datagram {
                    peer,
                    from: got.from,
                    bytes,
                    truncated: got.len == MAX_DGRAM,
                };
                self.app
                    .handle_datagram(now, &mut self.mesh, &mut self.out, dgram);
            }
        }
    }

    /// Says again, in one line each, which peers are still down and which still do not
    /// resolve: said once when it happened, and lost from view for whoever attached later.
    fn remind(&mut self) {
        let mesh = &self.mesh;
        let active = |i: usize| !mesh.peer(i).left;
        let down =
            |i: usize| active(i) && mesh.peer(i).addr.is_some() && mesh.peer(i).link == Link::Down;
        let unresolved = |i: usize| active(i) && mesh.peer(i).addr.is_none();
        for (what, pick) in [
            ("still down", &down as &dyn Fn(usize) -> bool),
            ("still not resolving", &unresolved),
        ] {
            let names = Names { mesh, pick };
            if names.count() > 0 {
                self.out.notice(format_args!(
                    "{what}: {names} (said again every {}s while it lasts)",
                    REMIND_EVERY.as_secs()
                ));
            }
        }
    }

    fn key_window(&mut self, now: Instant) {
        key_window(&mut self.keyboard, &mut self.out, now);
    }

    fn drain_keyboard(&mut self, now: Instant) {
        let mut chunk = [0u8; 512];
        self.key_window(now);
        let mut this_turn = 0;
        loop {
            let Some(k) = &mut self.keyboard else { return };
            k.resume = None;
            let room = chunk
                .len()
                .min(KEY_BYTES_PER_TURN - this_turn)
                .min(KEY_BYTES_PER_SECOND - k.bytes);
            if room == 0 {
                // More may be waiting: after the other sources (this turn's bound), or in the
                // next window (this second's).
                k.resume = Some(if k.bytes >= KEY_BYTES_PER_SECOND {
                    k.window_end
                } else {
                    now
                });
                return;
            }
            let n = match k.file.read(&mut chunk[..room]) {
                Ok(0) => {
                    // End of input (Ctrl-D, or the pipe closed): a last line without its
                    // newline still counts; then run on without a keyboard.
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&k.file.as_raw_fd()));
                    if !k.line.is_empty() {
                        self.key_byte(b'\n', now);
                    }
                    self.key_window(now + Duration::from_secs(1)); // says this window's drops
                    if let Some(total) = self.keyboard.as_ref().map(|k| k.dropped_total) {
                        if total > 0 {
                            self.out.notice(format_args!(
                                "stdin: {total} line(s) dropped in all (more than {KEY_LINES_PER_SECOND} a second)"
                            ));
                        }
                    }
                    self.keyboard = None;
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // WouldBlock, or a transient error: wait for the next event
            };
            k.bytes += n;
            this_turn += n;
            for &b in &chunk[..n] {
                self.key_byte(b, now);
            }
        }
    }

    fn key_byte(&mut self, b: u8, now: Instant) {
        let Some(k) = &mut self.keyboard else { return };
        if b != b'\n' {
            if !k.skipping && k.line.push(b).is_err() {
                k.skipping = true;
                k.line.clear();
                self.out.notice(format_args!(
                    "keyboard line longer than {MAX_LINE} bytes: ignored"
                ));
            }
            return;
        }
        let skipped = std::mem::replace(&mut k.skipping, false);
        let line = k.line.clone();
        k.line.clear();
        if !skipped && k.lines >= KEY_LINES_PER_SECOND {
            k.dropped += 1;
            k.dropped_total += 1;
        } else if !skipped {
            k.lines += 1;
            let l = line.strip_suffix(b"\r").unwrap_or(&line);
            self.app.handle_line(now, &mut self.mesh, &mut self.out, l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redrain_set_gives_back_what_went_in_once_each() {
        let mut r = Redrain::default();
        assert!(r.is_empty());
        for t in [0, 1, 63, 64, 200, MAX_PEERS, 1, 64] {
            r.insert(Token(t));
        }
        r.insert(Token(MAX_PEERS + 1)); // not a mesh socket: ignored
        assert_eq!(r.len(), 6);
        assert!(r.remove(Token(200)));
        assert!(!r.remove(Token(200)));
        assert_eq!(r.len(), 5);
        let got: Vec<usize> = r.tokens().map(|t| t.0).collect();
        assert_eq!(got, [0, 1, 63, 64, MAX_PEERS]);
        assert!(!core::mem::take(&mut r).is_empty());
        assert!(r.is_empty());
    }
}
