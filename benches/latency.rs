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

    /// `(cpu_ns, wall_ns)` of `n` round trips of `round`, after `n / 10` to warm up.
    fn measure(n: u64, mut round: impl FnMut()) -> (u64, u64) {
        for _ in 0..n / 10 {
            round();
        }
        let (c0, w0) = (process_cpu_ns(), Instant::now());
        for _ in 0..n {
            round();
        }
        let wall = w0.elapsed().as_nanos() as u64;
        (process_cpu_ns() - c0, wall)
    }

    fn peerlab(n: u64) -> (u64, u64) {
        let mut pair = PeerlabPair::new("127.0.236.2:10002", "127.0.236.3:10003");
        measure(n, || pair.round_trip())
    }

    fn mio_bare(n: u64) -> (u64, u64) {
        let mut pair = MioPair::new("127.0.237.2:10002", "127.0.237.3:10003");
        measure(n, || {
            pair.round_trip();
        })
    }

    /// One line per path: `cpu_round_trip path=NAME cpu_ns=.. wall_ns=.. rounds=N`.
    pub(super) fn report(n: u64) {
        for (name, f) in [
            ("peerlab", peerlab as fn(u64) -> (u64, u64)),
            ("mio_bare", mio_bare),
        ] {
            let (cpu, wall) = f(n);
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
    Driver::new(poll, mesh, app, out)
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
                while !stop.load(Ordering::Relaxed) {
                    d.turn(Some(Duration::from_millis(20))).unwrap();
                }
            })
        };
        let ping = driver(a, b, Ping::default());
        up.recv().unwrap(); // the echo's sockets are up
        PeerlabPair {
            ping,
            sent: 0,
            stop,
            echo: Some(echo),
        }
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
        if let Some(echo) = self.echo.take() {
            echo.join().unwrap();
        }
    }
}

/// The same readiness loop without peerlab (mio poll, drain to `WouldBlock`, echo), to tell
/// the cost of the epoll wake-up hop from the cost of our code.
struct MioPair {
    a: mio::net::UdpSocket,
    poll: Poll,
    events: mio::Events,
    buf: [u8; 2048],
    echo: Option<thread::JoinHandle<()>>,
}

impl MioPair {
    fn new(a: &str, b: &str) -> MioPair {
        use mio::{net::UdpSocket as MioUdp, Events, Interest, Token};
        let a_addr: SocketAddr = a.parse().unwrap();
        let b_addr: SocketAddr = b.parse().unwrap();
        let (up_tx, up) = std::sync::mpsc::channel();
        let echo = thread::spawn(move || {
            let mut b = MioUdp::bind(b_addr).unwrap();
            b.connect(a_addr).unwrap();
            let mut poll = Poll::new().unwrap();
            poll.registry()
                .register(&mut b, Token(0), Interest::READABLE)
                .unwrap();
            let mut events = Events::with_capacity(4);
            let mut buf = [0u8; 2048];
            up_tx.send(()).unwrap();
            loop {
                let n = round_trip::mio_wait_one(&mut poll, &mut events, &b, &mut buf);
                if &buf[..n] == b"stop" {
                    return;
                }
                b.send(&buf[..n]).unwrap();
            }
        });
        up.recv().unwrap(); // the echo's socket is up
        let mut a = MioUdp::bind(a_addr).unwrap();
        a.connect(b_addr).unwrap();
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut a, Token(0), Interest::READABLE)
            .unwrap();
        MioPair {
            a,
            poll,
            events: Events::with_capacity(4),
            buf: [0; 2048],
            echo: Some(echo),
        }
    }

    fn round_trip(&mut self) -> usize {
        self.a.send(b"12345").unwrap();
        round_trip::mio_wait_one(&mut self.poll, &mut self.events, &self.a, &mut self.buf)
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

    /// One datagram through the bare readiness loop: poll, drain to `WouldBlock`.
    pub(super) fn mio_wait_one(
        poll: &mut Poll,
        events: &mut mio::Events,
        s: &mio::net::UdpSocket,
        buf: &mut [u8],
    ) -> usize {
        loop {
            poll.poll(events, None).unwrap();
            let mut got = 0;
            loop {
                match s.recv(buf) {
                    Ok(n) => got = n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            if got > 0 {
                return got;
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
        let mut pair = MioPair::new("127.0.244.2:10002", "127.0.244.3:10003");
        bencher.bench_local(|| pair.round_trip());
    }

    /// Diagnostics for the two shapes issue 12 asked about, on the bare mio loop (no peerlab
    /// code): (a) `recvmmsg` for two datagrams, so a drain that gets one knows the queue is
    /// empty without the trailing read that returns EAGAIN; (b) after each send, poll with a
    /// zero timeout for a budget before blocking (busy-poll). Both were also tried in the
    /// driver, side by side with it (BENCHMARKS.md says what they did).
    fn mio_variant(bencher: Bencher, mmsg: bool, spin: Duration, port: u8) {
        use mio::{net::UdpSocket as MioUdp, Events, Interest, Token};
        use std::os::fd::AsRawFd;
        fn read_all(s: &MioUdp, buf: &mut [u8], buf2: &mut [u8], mmsg: bool) -> usize {
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
                            libc::MSG_DONTWAIT,
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
        fn wait_one(
            poll: &mut Poll,
            events: &mut Events,
            s: &MioUdp,
            buf: &mut [u8],
            buf2: &mut [u8],
            mmsg: bool,
            spin: Duration,
        ) -> usize {
            let start = Instant::now();
            loop {
                let t = if !spin.is_zero() && start.elapsed() < spin {
                    Some(Duration::ZERO)
                } else {
                    None
                };
                poll.poll(events, t).unwrap();
                if events.is_empty() {
                    continue;
                }
                let got = read_all(s, buf, buf2, mmsg);
                if got > 0 {
                    return got;
                }
            }
        }
        let a_addr: SocketAddr = format!("127.0.{port}.2:10002").parse().unwrap();
        let b_addr: SocketAddr = format!("127.0.{port}.3:10003").parse().unwrap();
        let (up_tx, up) = std::sync::mpsc::channel();
        let echo = thread::spawn(move || {
            let mut b = MioUdp::bind(b_addr).unwrap();
            b.connect(a_addr).unwrap();
            let mut poll = Poll::new().unwrap();
            poll.registry()
                .register(&mut b, Token(0), Interest::READABLE)
                .unwrap();
            let mut events = Events::with_capacity(4);
            let (mut buf, mut buf2) = ([0u8; 2048], [0u8; 2048]);
            up_tx.send(()).unwrap();
            loop {
                let n = wait_one(&mut poll, &mut events, &b, &mut buf, &mut buf2, mmsg, spin);
                if &buf[..n] == b"stop" {
                    return;
                }
                b.send(&buf[..n]).unwrap();
            }
        });
        up.recv().unwrap(); // the echo's socket is up
        let mut a = MioUdp::bind(a_addr).unwrap();
        a.connect(b_addr).unwrap();
        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut a, Token(0), Interest::READABLE)
            .unwrap();
        let mut events = Events::with_capacity(4);
        let (mut buf, mut buf2) = ([0u8; 2048], [0u8; 2048]);
        bencher.bench_local(|| {
            a.send(b"12345").unwrap();
            wait_one(&mut poll, &mut events, &a, &mut buf, &mut buf2, mmsg, spin)
        });
        a.send(b"stop").unwrap();
        echo.join().unwrap();
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
