//! Per-message cost, side by side with the kernel's own in the same run:
//!
//! - `round_trip::peerlab`: one counter through our real path and back (format into the fixed
//!   buffer, send on the peer's connected socket, mio poll wakes the other loop, receive, parse,
//!   account; the echo does the same back), between two loops on loopback, each on its thread.
//! - `round_trip::mio_bare`, `mio_recvmmsg`, `mio_busy_poll_*`: the same readiness loop with no
//!   peerlab code, as it is and in two other shapes (diagnostics).
//! - `syscall_cost::*`: one empty read, one zero-timeout poll, one clock read.
//! - `round_trip::std_blocking`: the baseline, a blocking `std::net::UdpSocket` ping-pong with the
//!   same 5-byte payload between the same two threads.
//! - `throughput::*`: datagrams per second one receiver takes in while a sender thread sends
//!   counters as fast as it can: our loop (the real counter peer: parse, account, print to a
//!   sink) against a bare blocking `recv` loop on a plain socket. After each, the loss accounting
//!   is checked against what was sent and the kernel's own drop count.
//!
//! Round trips are measured in the Go baseline's shape (benches/go): 100 samples of 2,000 round
//! trips, median of the samples.
//!
//! `cargo bench --bench latency`; `scripts/bench/bench-report.sh` turns the output into BENCHMARKS.md.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use divan::counter::ItemsCount;
use divan::Bencher;
use mio::Poll;
use peerlab::counter::account::Sequence;
use peerlab::counter::{self, PeerConfig};
use peerlab::io::driver::{App, Datagram, Driver};
use peerlab::io::mesh::Mesh;
use peerlab::output::Output;
use peerlab::values::addr::{parse_spec, AddrSpec};
use peerlab::values::decimal::{encode_counter, parse_counter};

fn main() {
    // `ROUND_TRIP_CPU=N cargo bench --bench latency`: instead of divan's wall-clock figures,
    // the CPU time per round trip (both threads) over N round trips, ours and bare mio, one
    // after the other (scripts/bench/bench-report.sh runs it beside the Go ping-pong).
    if let Some(n) = std::env::var("ROUND_TRIP_CPU")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cpu::report(n);
        return;
    }
    divan::main();
}

/// CPU time per round trip: on a shared machine the wall-clock round trip is bimodal (a
/// wake-up on an idle core or a busy one), but what a round trip costs in CPU time moves much
/// less. Measured as the sum of every thread's time on a CPU (`/proc/self/task/*/schedstat`,
/// nanoseconds), before and after, with only the two threads of the pair running.
mod cpu {
    use super::*;

    /// Runs the calling thread on that CPU only (where it exists: on one core, nothing).
    fn pin(cpu: usize) {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) <= cpu {
            return;
        }
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }

    /// Every thread's time on a CPU so far, in ns.
    fn process_cpu_ns() -> u64 {
        let mut sum = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) {
                sum += s
                    .split(' ')
                    .next()
                    .and_then(|t| t.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        sum
    }

    /// One line per path: `cpu_round_trip path=NAME cpu_ns=.. wall_ns=.. rounds=N`. The paths
    /// take turns, 500 round trips each (after `n / 10` to warm up), until each made `n`: a
    /// machine that changes speed meanwhile (these VMs are bimodal) weighs on all alike.
    ///
    /// Every echo thread runs on CPU 1 and the pinging thread on CPU 0: a round trip costs
    /// very different CPU time when both ends share a core (a context switch) and when they do
    /// not (a wake-up across cores, an interrupt on a VM), and left to the scheduler each pair
    /// settles on one or the other by chance.
    pub(super) fn report(n: u64) {
        // Threads inherit their creator's CPUs: the echoes are started while this one is on 1.
        pin(0);
        let mut ours = PeerlabPair::new("127.0.236.2:10002", "127.0.236.3:10003");
        let mut bare = MioPair::new("127.0.237.2:10002", "127.0.237.3:10003", BARE);
        // Bare mio reading as our driver does (`recvmmsg` of two): the same system calls.
        let shape = Shape { mmsg: true, ..BARE };
        let mut mmsg = MioPair::new("127.0.238.2:10002", "127.0.238.3:10003", shape);
        // And with the mesh's sockets: the same system calls on the same socket layout.
        let shape = Shape {
            shared: true,
            ..shape
        };
        let mut shared = MioPair::new("127.0.239.2:10002", "127.0.239.3:10003", shape);
        // And waiting with a timeout as our loop does: the kernel's part of our round trip.
        let shape = Shape {
            timer: true,
            ..shape
        };
        let mut timer = MioPair::new("127.0.235.2:10002", "127.0.235.3:10003", shape);
        pin(0);
        let mut paths: [(&str, &mut dyn FnMut(), u64, u64); 5] = [
            ("peerlab", &mut || ours.round_trip(), 0, 0),
            ("mio_bare", &mut || _ = bare.round_trip(), 0, 0),
            ("mio_recvmmsg", &mut || _ = mmsg.round_trip(), 0, 0),
            ("mio_shared", &mut || _ = shared.round_trip(), 0, 0),
            ("mio_shared_timer", &mut || _ = timer.round_trip(), 0, 0),
        ];
        for (_, round, _, _) in paths.iter_mut() {
            for _ in 0..n / 10 {
                round();
            }
        }
        let mut done = 0;
        while done < n {
            let k = (n - done).min(500);
            for (_, round, cpu, wall) in paths.iter_mut() {
                let (c0, w0) = (process_cpu_ns(), Instant::now());
                for _ in 0..k {
                    round();
                }
                *wall += w0.elapsed().as_nanos() as u64;
                *cpu += process_cpu_ns() - c0;
            }
            done += k;
        }
        for (name, _, cpu, wall) in paths {
            println!(
                "cpu_round_trip path={name} cpu_ns={:.1} wall_ns={:.1} rounds={n}",
                cpu as f64 / n as f64,
                wall as f64 / n as f64
            );
        }
    }
}

/// Answers every counter with the same counter, after accounting it.
#[derive(Default)]
struct Echo {
    seq: Sequence,
}

impl App for Echo {
    fn mode(&self) -> &'static str {
        "bench"
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout<W: io::Write>(&mut self, _: Instant, _: &mut Mesh, _: &mut Output<W>) {}
    fn handle_datagram<W: io::Write>(
        &mut self,
        now: Instant,
        mesh: &mut Mesh,
        _: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        if let Ok(c) = parse_counter(d.bytes) {
            self.seq.record(c);
            mesh.send(0, &encode_counter(c), now);
        }
    }
    fn finish<W: io::Write>(&mut self, _: &mut Mesh, _: &mut Output<W>) {}
}

/// Waits for the answer to its last counter.
#[derive(Default)]
struct Ping {
    seq: Sequence,
    waiting: bool,
}

impl App for Ping {
    fn mode(&self) -> &'static str {
        "bench"
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout<W: io::Write>(&mut self, _: Instant, _: &mut Mesh, _: &mut Output<W>) {}
    fn handle_datagram<W: io::Write>(
        &mut self,
        _: Instant,
        _: &mut Mesh,
        _: &mut Output<W>,
        d: Datagram<'_>,
    ) {
        if let Ok(c) = parse_counter(d.bytes) {
            self.seq.record(c);
            self.waiting = false;
        }
    }
    fn finish<W: io::Write>(&mut self, _: &mut Mesh, _: &mut Output<W>) {}
}

fn spec(s: &str) -> AddrSpec {
    parse_spec(s).unwrap()
}

fn driver<A: App>(me: &str, peer: &str, app: A) -> Box<Driver<A, io::Sink>> {
    let poll = Poll::new().unwrap();
    let out = Output::new(io::sink(), false);
    let mesh = Mesh::open(poll.registry(), &spec(me), &[spec(peer)]).unwrap();
    Driver::new(poll, mesh, app, out).unwrap()
}

/// Two of our driver loops on loopback: an echo on its own thread, a pinger here.
struct PeerlabPair {
    ping: Box<Driver<Ping, io::Sink>>,
    sent: u64,
    stop: Arc<AtomicBool>,
    echo: Option<thread::JoinHandle<()>>,
}

impl PeerlabPair {
    fn new(a: &'static str, b: &'static str) -> PeerlabPair {
        let stop = Arc::new(AtomicBool::new(false));
        let (up_tx, up) = std::sync::mpsc::channel();
        let echo = {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut d = driver(b, a, Echo::default());
                up_tx.send(()).unwrap();
                // As the process's loop waits: no timeout (the pinger wakes it to stop).
                while !stop.load(Ordering::Relaxed) {
                    d.turn(None).unwrap();
                }
            })
        };
        let ping = driver(a, b, Ping::default());
        up.recv().unwrap(); // the echo's sockets are up
        let mut pair = PeerlabPair {
            ping,
            sent: 0,
            stop,
            echo: Some(echo),
        };
        // What a running process does: for a second after a peer's socket is connected the
        // sender of each datagram is asked for (a stray from before the connect may still be
        // on its way in the kernel), then no more. Measure that, not the start.
        thread::sleep(Duration::from_millis(1100));
        pair.round_trip();
        pair
    }

    /// One counter there and back (5 bytes, as the baseline).
    fn round_trip(&mut self) {
        self.ping.app.waiting = true;
        let msg = encode_counter(10_000 + self.sent % 90_000);
        self.sent += 1;
        self.ping.mesh.send(0, &msg, Instant::now());
        while self.ping.app.waiting {
            self.ping.turn(None).unwrap();
        }
    }
}

impl Drop for PeerlabPair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A datagram wakes the echo to see the flag (what it answers is not read).
        self.ping.mesh.send(0, b"stop", Instant::now());
        if let Some(echo) = self.echo.take() {
            echo.join().unwrap();
        }
    }
}

/// The same readiness loop without peerlab (mio poll, drain to `WouldBlock`, echo), to tell
/// the cost of the epoll wake-up hop from the cost of our code. Its `Shape` gives the
/// variants issue 12 asked about.
struct MioPair {
    a: mio::net::UdpSocket,
    poll: Poll,
    events: mio::Events,
    buf: [u8; 2048],
    buf2: [u8; 2048],
    shape: Shape,
    _servers: Vec<socket2::Socket>,
    echo: Option<thread::JoinHandle<()>>,
}

/// How the bare loop reads: `mmsg`, `recvmmsg` of two datagrams (a read that gets one knows
/// the queue is empty, as our driver reads); `spin`, after each send, poll with a zero timeout
/// for that long before blocking (busy-poll).
#[derive(Clone, Copy)]
struct Shape {
    mmsg: bool,
    spin: Duration,
    /// Each end as our mesh opens it: an unconnected socket and the connected one sharing the
    /// address with `SO_REUSEPORT` (the kernel then looks a datagram's socket up in a group).
    shared: bool,
    /// Wait with a timeout, as a loop with timers does (the kernel arms and cancels a timer
    /// on every wait).
    timer: bool,
}

const BARE: Shape = Shape {
    mmsg: false,
    spin: Duration::ZERO,
    shared: false,
    timer: false,
};

/// A non-blocking UDP socket bound to `me` and connected to `peer`; with `shared`, also an
/// unconnected socket on `me` before it, both with `SO_REUSEPORT` (kept open in `keep`).
fn bench_socket(
    me: SocketAddr,
    peer: SocketAddr,
    shared: bool,
    keep: &mut Vec<socket2::Socket>,
) -> mio::net::UdpSocket {
    use socket2::{Domain, Socket, Type};
    let open = || {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        s.set_reuse_port(shared).unwrap();
        s.set_nonblocking(true).unwrap();
        s.bind(&me.into()).unwrap();
        s
    };
    if shared {
        keep.push(open());
    }
    let s = open();
    s.connect(&peer.into()).unwrap();
    mio::net::UdpSocket::from_std(s.into())
}

impl MioPair {
    fn new(a: &str, b: &str, shape: Shape) -> MioPair {
        use mio::{Events, Interest, Token};
        let a_addr: SocketAddr = a.parse().unwrap();
        let b_addr: SocketAddr = b.parse().unwrap();
        let (up_tx, up) = std::sync::mpsc::channel();
        let echo = thread::spawn(move || {
            let mut server = Vec::new();
            let mut b = bench_socket(b_addr, a_addr, shape.shared, &mut server);
            let mut poll = Poll::new().unwrap();
            poll.registry()
                .register(&mut b, Token(0), Interest::READABLE)
                .unwrap();
            let mut events = Events::with_capacity(4);
            let (mut buf, mut buf2) = ([0u8; 2048], [0u8; 2048]);
            up_tx.send(()).unwrap();
            loop {
                let n = round_trip::mio_wait_one(
                    &mut poll,
                    &mut events,
                    &b,
                    (&mut buf, &mut buf2),
                    shape,
                );
                if &buf[..n] == b"stop" {
                    return;
                }
                b.send(&buf[..n]).unwrap();
            }
        });
        up.recv().unwrap(); // the echo's socket is up
        let mut servers = Vec::new();
        let mut a = bench_socket(a_addr, b_addr, shape.shared, &mut servers);
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut a, Token(0), Interest::READABLE)
            .unwrap();
        MioPair {
            a,
            poll,
            events: Events::with_capacity(4),
            buf: [0; 2048],
            buf2: [0; 2048],
            shape,
            _servers: servers,
            echo: Some(echo),
        }
    }

    fn round_trip(&mut self) -> usize {
        self.a.send(b"12345").unwrap();
        round_trip::mio_wait_one(
            &mut self.poll,
            &mut self.events,
            &self.a,
            (&mut self.buf, &mut self.buf2),
            self.shape,
        )
    }
}

impl Drop for MioPair {
    fn drop(&mut self) {
        let _ = self.a.send(b"stop");
        if let Some(echo) = self.echo.take() {
            echo.join().unwrap();
        }
    }
}

mod round_trip {
    use super::*;

    /// One datagram through the bare readiness loop: poll, drain (into `bufs.0`).
    pub(super) fn mio_wait_one(
        poll: &mut Poll,
        events: &mut mio::Events,
        s: &mio::net::UdpSocket,
        bufs: (&mut [u8], &mut [u8]),
        shape: Shape,
    ) -> usize {
        let start = Instant::now();
        loop {
            let t =
                (!shape.spin.is_zero() && start.elapsed() < shape.spin).then_some(Duration::ZERO);
            let t = t.or(shape.timer.then_some(Duration::from_secs(1)));
            poll.poll(events, t).unwrap();
            if events.is_empty() {
                continue;
            }
            let got = read_all(s, &mut *bufs.0, &mut *bufs.1, shape.mmsg);
            if got > 0 {
                return got;
            }
        }
    }

    /// Reads until the queue is known empty; the last datagram's length (0: none).
    fn read_all(s: &mio::net::UdpSocket, buf: &mut [u8], buf2: &mut [u8], mmsg: bool) -> usize {
        use std::os::fd::AsRawFd;
        let mut got = 0;
        if mmsg {
            loop {
                let mut iov = [
                    libc::iovec {
                        iov_base: buf.as_mut_ptr().cast(),
                        iov_len: buf.len(),
                    },
                    libc::iovec {
                        iov_base: buf2.as_mut_ptr().cast(),
                        iov_len: buf2.len(),
                    },
                ];
                let mut msgs: [libc::mmsghdr; 2] = unsafe { std::mem::zeroed() };
                for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
                    m.msg_hdr.msg_iov = v;
                    m.msg_hdr.msg_iovlen = 1;
                }
                let r = unsafe {
                    libc::recvmmsg(
                        s.as_raw_fd(),
                        msgs.as_mut_ptr(),
                        2,
                        libc::MSG_DONTWAIT as _,
                        std::ptr::null_mut(),
                    )
                };
                if r <= 0 {
                    return got;
                }
                got = msgs[(r - 1) as usize].msg_len as usize;
                if r == 2 {
                    buf[..got].copy_from_slice(&buf2[..got]);
                    continue;
                }
                return got;
            }
        }
        loop {
            match s.recv(buf) {
                Ok(n) => got = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return got,
                Err(e) => panic!("{e}"),
            }
        }
    }

    // The Go baseline's shape (benches/go): 100 samples of 2,000 round trips each, median.
    #[divan::bench(sample_count = 100, sample_size = 2000)]
    fn peerlab(bencher: Bencher) {
        let mut pair = PeerlabPair::new("127.0.240.2:10002", "127.0.240.3:10003");
        bencher.bench_local(|| pair.round_trip());
    }

    /// Diagnostic: the same readiness loop without peerlab (mio poll, drain to WouldBlock,
    /// echo), to tell the cost of the epoll wake-up hop from the cost of our code.
    #[divan::bench(sample_count = 100, sample_size = 2000)]
    fn mio_bare(bencher: Bencher) {
        let mut pair = MioPair::new("127.0.244.2:10002", "127.0.244.3:10003", BARE);
        bencher.bench_local(|| pair.round_trip());
    }

    /// Diagnostics for the two shapes issue 12 asked about, on the bare mio loop (no peerlab
    /// code): `recvmmsg` of two (the driver reads so since issue 22) and busy-poll (tried in
    /// the driver and not kept: BENCHMARKS.md says what it did).
    fn mio_variant(bencher: Bencher, mmsg: bool, spin: Duration, port: u8) {
        let mut pair = MioPair::new(
            &format!("127.0.{port}.2:10002"),
            &format!("127.0.{port}.3:10003"),
            Shape { mmsg, spin, ..BARE },
        );
        bencher.bench_local(|| pair.round_trip());
    }
    #[divan::bench(sample_count = 100, sample_size = 2000)]
    fn mio_recvmmsg(bencher: Bencher) {
        mio_variant(bencher, true, Duration::ZERO, 50)
    }
    #[divan::bench(sample_count = 100, sample_size = 2000)]
    fn mio_busy_poll_5us(bencher: Bencher) {
        mio_variant(bencher, false, Duration::from_micros(5), 51)
    }
    #[divan::bench(sample_count = 100, sample_size = 2000)]
    fn mio_busy_poll_50us(bencher: Bencher) {
        mio_variant(bencher, false, Duration::from_micros(50), 52)
    }

    #[divan::bench(sample_count = 100, sample_size = 2000)]
    fn std_blocking(bencher: Bencher) {
        let a = UdpSocket::bind("127.0.241.2:10002").unwrap();
        let b = UdpSocket::bind("127.0.241.3:10003").unwrap();
        a.connect("127.0.241.3:10003").unwrap();
        b.connect("127.0.241.2:10002").unwrap();
        let echo = thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                let n = b.recv(&mut buf).unwrap();
                if &buf[..n] == b"stop" {
                    return;
                }
                b.send(&buf[..n]).unwrap();
            }
        });
        let mut buf = [0u8; 2048];
        bencher.bench_local(|| {
            a.send(b"12345").unwrap();
            a.recv(&mut buf).unwrap()
        });
        a.send(b"stop").unwrap();
        echo.join().unwrap();
    }
}

/// Sends counters from `from` to `to` as fast as it can until stopped; returns how many.
fn blaster(
    from: &'static str,
    to: &'static str,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let s = UdpSocket::bind(from).unwrap();
        s.connect(to).unwrap();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if s.send(&encode_counter(n)).is_ok() {
                n += 1;
            }
        }
        sent.store(n, Ordering::Relaxed);
    })
}

/// The kernel's count of datagrams dropped (receive buffer full) for sockets on `addr`.
fn kernel_drops(addr: SocketAddr) -> u64 {
    let SocketAddr::V4(a) = addr else { return 0 };
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(a.ip().octets()),
        a.port()
    );
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

const BATCH: u64 = 1_000;

mod throughput {
    use super::*;

    // The sender thread shares the two cores with the receiver and the scheduler decides a lot:
    // many samples, so the medians of both receivers see the same mix.
    #[divan::bench(sample_count = 400)]
    fn peerlab(bencher: Bencher) {
        let (me, them) = ("127.0.242.2:10002", "127.0.242.3:10003");
        let cfg = PeerConfig {
            addr: spec(me),
            peers: vec![spec(them)],
            interval: Duration::from_secs(3600),
            strict: false,
            discovery: Default::default(),
        };
        let mut node = counter::start(&cfg, Output::new(io::sink(), false)).unwrap();
        let (stop, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let tx = blaster(them, me, stop.clone(), sent.clone());
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            let target = node.app.counts(0).unwrap().received + BATCH;
            while node.app.counts(0).unwrap().received < target {
                node.turn(None).unwrap();
            }
        });
        stop.store(true, Ordering::Relaxed);
        tx.join().unwrap();
        // Drain what is left, then compare the accounting with what was sent.
        for _ in 0..20 {
            node.turn(Some(Duration::from_millis(5))).unwrap();
        }
        let c = node.app.counts(0).unwrap();
        let sent = sent.load(Ordering::Relaxed);
        let drops = kernel_drops(me.parse().unwrap());
        // Counters dropped after the last one received cannot show as gaps. On stderr, so the
        // table on stdout stays whole.
        eprintln!(
            "accounting: sent {sent}, received {}, lost (gaps) {}, duplicated {}, kernel drops {drops}: {}",
            c.received,
            c.lost,
            c.duplicated,
            if c.received + c.lost <= sent && c.lost <= drops && c.duplicated == 0 { "consistent" } else { "INCONSISTENT" }
        );
    }

    #[divan::bench(sample_count = 400)]
    fn bare_recv(bencher: Bencher) {
        let (me, them) = ("127.0.243.2:10002", "127.0.243.3:10003");
        let s = UdpSocket::bind(me).unwrap();
        let (stop, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let tx = blaster(them, me, stop.clone(), sent);
        let mut buf = [0u8; 2048];
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            for _ in 0..BATCH {
                s.recv(&mut buf).unwrap();
            }
        });
        stop.store(true, Ordering::Relaxed);
        tx.join().unwrap();
    }
}

/// What one system call of the loop costs on this machine (no datagram moves).
mod syscall_cost {
    use super::*;
    /// A read of an empty non-blocking socket: the trailing read of every drain.
    #[divan::bench]
    fn eagain_recv(bencher: Bencher) {
        let s = mio::net::UdpSocket::bind("127.0.55.2:10002".parse().unwrap()).unwrap();
        let mut buf = [0u8; 2048];
        bencher.bench_local(|| s.recv(&mut buf).is_err());
    }
    /// `epoll_wait` with a zero timeout: one step of a busy-poll.
    #[divan::bench]
    fn epoll_zero(bencher: Bencher) {
        let mut poll = Poll::new().unwrap();
        let mut ev = mio::Events::with_capacity(4);
        bencher.bench_local(|| poll.poll(&mut ev, Some(Duration::ZERO)).is_ok());
    }
    /// `Instant::now()` (the vDSO clock): the driver reads it about three times per turn.
    #[divan::bench]
    fn clock(bencher: Bencher) {
        bencher.bench_local(Instant::now);
    }
}
