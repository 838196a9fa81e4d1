//! `--metrics ADDR`: the HTTP listener and its connections, served from the driver's poll
//! loop like every other socket. Whatever a client does (connects and says nothing, sends a
//! byte a second, never reads, floods, opens hundreds of connections), the loop never waits
//! for it: every socket is non-blocking; at most [`MAX_CONNS`] connections are open at once
//! (a connection beyond them is answered 503 and closed); a request head must arrive whole,
//! in at most [`REQUEST_LIMIT`] bytes, within [`REQUEST_TIME`], and the answer be taken
//! within [`ANSWER_TIME`], else the connection is cut; each is counted and exported.
//! (An accept, read or write of a non-blocking TCP socket never waits, so it never fails with
//! EINTR: there is no arm for it.)
//!
//! Memory is fixed at start: one [`REQUEST_LIMIT`]-byte buffer per connection slot, which
//! holds the request and then each part of the answer (the exposition is written a part at a
//! time, see [`crate::metrics::expo`]). Reserved zeroed and untouched, it costs no resident
//! memory until connections use it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::metrics::expo::{Expo, Kind, Pos, Value};
use crate::metrics::http::{self, Route, Status};

/// Connections open at once (the open-file limit must also hold up to 256 peer sockets).
pub(crate) const MAX_CONNS: usize = 16;
/// Longest request head, and the size of each part of an answer.
pub(crate) const REQUEST_LIMIT: usize = 8 * 1024;
/// Time from accept to a whole request head.
pub(crate) const REQUEST_TIME: Duration = Duration::from_secs(2);
/// Time from the request to the last byte of the answer taken by the client.
pub(crate) const ANSWER_TIME: Duration = Duration::from_secs(5);
/// Connections accepted in one turn: the rest wait in the listen queue for the next turn, so
/// a flood of connects cannot hold the loop.
const ACCEPTS_PER_TURN: usize = 64;
/// The kernel's send buffer of a connection, fixed: the answer of a large table goes out in a
/// few parts rather than into megabytes of kernel memory that a client which never reads would
/// hold (16 of them), and such a client is seen and cut at [`ANSWER_TIME`].
const SEND_BUFFER: usize = 64 * 1024;
/// Parts of an answer (8 KiB each) written to one connection in one turn: each part is a pass
/// over every metric, so a turn that wrote whole answers of a large table to every scraper
/// that reads fast could last longer than a broadcast interval. The rest goes on the next
/// turn, after the timers and signals.
const PARTS_PER_TURN: usize = 2;
/// Most bytes a client may send after its request head (a body nobody asked for): they are
/// read and dropped while the answer goes out, so that closing does not reset the connection
/// under the answer's end; beyond this the connection is cut.
const DISCARD_LIMIT: usize = 1024 * 1024;
/// After the answer's last byte, how long the client has to end the connection: what it still
/// sends meanwhile (the end of a body) is dropped, as closing with it unread would reset the
/// connection and could destroy the answer's end before the client read it.
const LINGER: Duration = Duration::from_secs(2);
/// How often failures to accept are said again while they last.
const SAY_ACCEPT_TROUBLE_EVERY: Duration = Duration::from_secs(30);
/// After `accept` failed for want of file descriptors, when to try again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The listener's token.
pub(crate) const LISTENER: Token = Token(usize::MAX - 4);
/// Connection `k`'s token is `Token(FIRST_CONN - k)`.
const FIRST_CONN: usize = usize::MAX - 5;

/// Why connections ended before their answer was taken, and the answers given.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HttpCounts {
    /// Connections accepted.
    accepted: u64,
    /// Answers by status: 200 (metrics), 200 (index), 400, 404, 405, 431, 503.
    scrapes: u64,
    index: u64,
    bad_request: u64,
    not_found: u64,
    method: u64,
    too_large: u64,
    busy: u64,
    /// Cut: no whole request within [`REQUEST_TIME`].
    slow_request: u64,
    /// Cut: the answer not taken within [`ANSWER_TIME`].
    slow_reader: u64,
    /// Closed by the client (or an error) before the answer was written.
    gone: u64,
    /// Cut: more than [`DISCARD_LIMIT`] bytes sent after the request head.
    flood: u64,
    /// `accept` failed (out of file descriptors, or another error).
    accept_errors: u64,
    /// Exposition lines left out for being too long.
    too_long: u64,
}

#[derive(Debug)]
enum Phase {
    /// Reading the request head (`len` bytes so far).
    Reading { len: usize },
    /// Writing `buf[at..end]`; after it, the exposition's part starting at `next` (if any), in
    /// a chunk if `chunked`.
    Writing {
        at: usize,
        end: usize,
        next: Option<Pos>,
        chunked: bool,
    },
    /// The answer written whole and our side shut: waiting for the client's end (or
    /// [`LINGER`]), dropping what it sends.
    Lingering,
}

/// Room before a part for its chunk's size line (`2000\r\n` at most: 8 KiB parts).
const CHUNK_HEAD: usize = 8;
/// Room after it for the chunk's end and the last chunk (`\r\n0\r\n\r\n`).
const CHUNK_TAIL: usize = 7;

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    deadline: Instant,
    phase: Phase,
    /// The turn's share of parts was written and the socket may take more: go on then (no
    /// readiness event will come for a socket that is still writable).
    resume_at: Option<Instant>,
    /// Bytes received after the request head and dropped.
    discarded: usize,
}

/// The listener and its connections.
#[derive(Debug)]
pub(crate) struct MetricsServer {
    listener: TcpListener,
    local: SocketAddr,
    conns: [Option<Conn>; MAX_CONNS],
    /// [`MAX_CONNS`] buffers of [`REQUEST_LIMIT`] bytes, one per slot.
    bufs: Box<[u8]>,
    /// Connections may wait in the listen queue: accept again then (a full table freed, a
    /// turn's share used, or `accept` out of file descriptors).
    accept_at: Option<Instant>,
    counts: HttpCounts,
    /// Why `accept` fails, for the driver to say ([`MetricsServer::take_accept_trouble`]), at
    /// most once every [`SAY_ACCEPT_TROUBLE_EVERY`] (until `accept_trouble_quiet`).
    accept_trouble: Option<io::Error>,
    accept_trouble_quiet: Option<Instant>,
}

impl MetricsServer {
    /// Registers `listener` (bound before the process said it listens, so that whoever waits
    /// for that line can scrape at once).
    pub(crate) fn open(
        registry: &Registry,
        listener: std::net::TcpListener,
    ) -> io::Result<MetricsServer> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        let local = listener.local_addr()?;
        Ok(MetricsServer {
            listener,
            local,
            conns: Default::default(),
            // Zeroed by the allocator (fresh pages): no page is resident until it is used.
            bufs: vec![0u8; MAX_CONNS * REQUEST_LIMIT].into_boxed_slice(),
            accept_at: None,
            counts: HttpCounts::default(),
            accept_trouble: None,
            accept_trouble_quiet: None,
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `accept` fails (out of file descriptors, most likely): why, at most once every 30 s.
    pub(crate) fn take_accept_trouble(&mut self) -> Option<io::Error> {
        self.accept_trouble.take()
    }

    /// Whether `token` is one of its sockets.
    pub(crate) fn owns(token: Token) -> bool {
        token == LISTENER || (FIRST_CONN + 1 - MAX_CONNS..=FIRST_CONN).contains(&token.0)
    }

    /// The next time something is due: a connection's deadline or the rest of its answer, or
    /// accepting again.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.iter().flatten();
        let resume = conns.clone().filter_map(|c| c.resume_at);
        conns
            .map(|c| c.deadline)
            .chain(resume)
            .chain(self.accept_at)
            .min()
    }

    /// A readiness event for `token`, or a due deadline (`token` `None`): accepts, reads,
    /// answers, cuts. `render` writes the exposition.
    pub(crate) fn handle(
        &mut self,
        registry: &Registry,
        token: Option<Token>,
        now: Instant,
        render: &mut dyn FnMut(&mut Expo<'_>),
    ) {
        match token {
            Some(LISTENER) => self.accept(registry, now, render),
            Some(Token(t)) => {
                if let Some(k) = FIRST_CONN.checked_sub(t).filter(|&k| k < MAX_CONNS) {
                    self.progress(registry, k, now, render);
                }
            }
            None => {
                for k in 0..MAX_CONNS {
                    let resume = self.conns[k]
                        .as_mut()
                        .and_then(|c| c.resume_at.take_if(|t| now >= *t));
                    if resume.is_some() {
                        self.progress(registry, k, now, render);
                    }
                    if self.conns[k].as_ref().is_some_and(|c| now >= c.deadline) {
                        let Some(c) = &self.conns[k] else { continue };
                        match c.phase {
                            Phase::Reading { .. } => self.counts.slow_request += 1,
                            Phase::Writing { .. } => self.counts.slow_reader += 1,
                            // Answered; the client kept the connection open.
                            Phase::Lingering => {
                                self.close(registry, k, now);
                                continue;
                            }
                        }
                        // Cut: a reset, so that what it did not take is not kept for it.
                        let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                        self.close(registry, k, now);
                    }
                }
                if self.accept_at.is_some_and(|t| now >= t) {
                    self.accept(registry, now, render);
                }
            }
        }
    }

    /// Accepts what waits, up to a turn's share.
    fn accept(&mut self, registry: &Registry, now: Instant, render: &mut dyn FnMut(&mut Expo<'_>)) {
        self.accept_at = None;
        for _ in 0..ACCEPTS_PER_TURN {
            let (mut stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: the connection stays queued; try again a
                    // little later (no readiness event will say so).
                    self.counts.accept_errors += 1;
                    if self.accept_trouble_quiet.is_none_or(|t| now >= t) {
                        self.accept_trouble_quiet = Some(now + SAY_ACCEPT_TROUBLE_EVERY);
                        self.accept_trouble = Some(e);
                    }
                    self.accept_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            };
            self.counts.accepted += 1;
            let Some(k) = self.conns.iter().position(Option::is_none) else {
                // Every slot taken: one short answer, best effort, and closed.
                self.counts.busy += 1;
                let mut head = heapless::String::new();
                let body = http::answer(Route::Error(Status::Busy), false, &mut head).unwrap_or("");
                let _ = stream
                    .write(head.as_bytes())
                    .and_then(|_| stream.write(body.as_bytes()));
                continue;
            };
            let token = Token(FIRST_CONN - k);
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
            if registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                self.counts.accept_errors += 1;
                continue;
            }
            self.conns[k] = Some(Conn {
                stream,
                deadline: now + REQUEST_TIME,
                phase: Phase::Reading { len: 0 },
                resume_at: None,
                discarded: 0,
            });
            // The request is often there already: an edge that came before registering is
            // not reported again.
            self.progress(registry, k, now, render);
        }
        // A turn's share used: the rest on the next turn.
        self.accept_at = Some(now);
    }

    /// Reads what the connection sent, or writes what it may take; closes it when done.
    fn progress(
        &mut self,
        registry: &Registry,
        k: usize,
        now: Instant,
        render: &mut dyn FnMut(&mut Expo<'_>),
    ) {
        let buf = &mut self.bufs[k * REQUEST_LIMIT..(k + 1) * REQUEST_LIMIT];
        let Some(conn) = &mut self.conns[k] else {
            return;
        };
        if let Phase::Reading { len } = &mut conn.phase {
            let mut closed = false;
            while *len < buf.len() {
                match conn.stream.read(&mut buf[*len..]) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => *len += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            let mut request = http::parse(&buf[..*len], *len == buf.len());
            if request.is_none() && closed {
                if *len == 0 {
                    self.counts.gone += 1;
                    self.close(registry, k, now);
                    return;
                }
                // A head cut short by the client's end of stream: that is not a request.
                request = Some(http::Request {
                    route: Route::Error(Status::BadRequest),
                    head_only: false,
                    http11: false,
                });
            }
            let Some(req) = request else {
                return; // more to come
            };
            match req.route {
                Route::Metrics => self.counts.scrapes += 1,
                Route::Index => self.counts.index += 1,
                Route::Error(s) => {
                    *match s {
                        Status::BadRequest => &mut self.counts.bad_request,
                        Status::NotFound => &mut self.counts.not_found,
                        Status::MethodNotAllowed => &mut self.counts.method,
                        Status::TooLarge => &mut self.counts.too_large,
                        Status::Busy => &mut self.counts.busy,
                    } += 1
                }
            }
            // The head, then a fixed body or the exposition's first part, from the buffer.
            // HEAD says what GET would (chunks), and sends no body.
            let chunked = req.http11;
            let mut head = heapless::String::new();
            let body = http::answer(req.route, chunked, &mut head);
            let mut end = head.len();
            buf[..end].copy_from_slice(head.as_bytes());
            let mut next = None;
            if !req.head_only {
                match body {
                    Some(b) => {
                        buf[end..end + b.len()].copy_from_slice(b.as_bytes());
                        end += b.len();
                    }
                    None => next = Some(Pos::default()),
                }
            }
            conn.deadline = now + ANSWER_TIME;
            conn.phase = Phase::Writing {
                at: 0,
                end,
                next,
                chunked,
            };
        }
        // What the client sends meanwhile (a body) is read and dropped: closing with it
        // unread would reset the connection under the answer's end.
        let mut sink = [0u8; 1024];
        let mut ended = false;
        while conn.discarded <= DISCARD_LIMIT {
            match conn.stream.read(&mut sink) {
                Ok(n) if n > 0 => conn.discarded += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                _ => {
                    // Its end, or an error: nothing more will come.
                    ended = true;
                    break;
                }
            }
        }
        if conn.discarded > DISCARD_LIMIT {
            self.counts.flood += 1;
            let _ = socket2::SockRef::from(&conn.stream).set_linger(Some(Duration::ZERO));
            self.close(registry, k, now);
            return;
        }
        let Phase::Writing {
            at,
            end,
            next,
            chunked,
        } = &mut conn.phase
        else {
            // Lingering: done when the client ends.
            if ended {
                self.close(registry, k, now);
            }
            return;
        };
        let mut parts = 0;
        loop {
            if *at == *end {
                if next.is_some() && parts == PARTS_PER_TURN {
                    // The turn's share: the rest after the timers and signals.
                    conn.resume_at = Some(now);
                    return;
                }
                let Some(from) = *next else {
                    // All written (the last chunk too): the stream ends, and the connection
                    // with the client's end (see LINGER).
                    let _ = conn.stream.shutdown(Shutdown::Write);
                    conn.phase = Phase::Lingering;
                    conn.deadline = now + LINGER;
                    if ended {
                        self.close(registry, k, now);
                    }
                    return;
                };
                let (head, tail) = if *chunked {
                    (CHUNK_HEAD, CHUNK_TAIL)
                } else {
                    (0, 0)
                };
                let room = buf.len() - tail;
                let mut e = Expo::part(&mut buf[head..room], from);
                render(&mut e);
                write_counts(&self.counts, &mut e);
                self.counts.too_long += e.too_long();
                let part = e.finish();
                parts += 1;
                *next = part.next;
                (*at, *end) = (head, head + part.len);
                if *chunked {
                    (*at, *end) = frame_chunk(buf, head, part.len, part.next.is_none());
                }
                continue;
            }
            match conn.stream.write(&buf[*at..*end]) {
                Ok(0) => break,
                Ok(n) => *at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.counts.gone += 1;
        self.close(registry, k, now);
    }

    fn close(&mut self, registry: &Registry, k: usize, now: Instant) {
        if let Some(mut c) = self.conns[k].take() {
            let _ = registry.deregister(&mut c.stream);
        }
        // A slot is free: whatever waits in the listen queue may come in now.
        if self.accept_at.is_none() {
            self.accept_at = Some(now);
        }
    }
}

/// Frames the `len` bytes of a part written at `buf[head..]` as a chunk (its size line before
/// it, its end after it) and, after the `last` part, the last chunk; returns what to write.
fn frame_chunk(buf: &mut [u8], head: usize, len: usize, last: bool) -> (usize, usize) {
    let mut at = head;
    let mut end = head + len;
    if len > 0 {
        let mut size: heapless::String<CHUNK_HEAD> = heapless::String::new();
        // Cannot fail: a part is at most 8 KiB, `2000\r\n` in hex.
        let _ = core::fmt::write(&mut size, format_args!("{len:x}\r\n"));
        at = head - size.len();
        buf[at..head].copy_from_slice(size.as_bytes());
        buf[end..end + 2].copy_from_slice(b"\r\n");
        end += 2;
    }
    if last {
        buf[end..end + 5].copy_from_slice(b"0\r\n\r\n");
        end += 5;
    }
    (at, end)
}

/// The endpoint's own metrics.
fn write_counts(c: &HttpCounts, e: &mut Expo<'_>) {
    e.family(
        "peerlab_http_responses_total",
        Kind::Counter,
        "HTTP answers begun by the metrics endpoint, by status code and path (a connection cut later is also in peerlab_http_connections_cut_total).",
    );
    for (code, path, n) in [
        ("200", "/metrics", c.scrapes),
        ("200", "/", c.index),
        ("400", "", c.bad_request),
        ("404", "", c.not_found),
        ("405", "", c.method),
        ("431", "", c.too_large),
        ("503", "", c.busy),
    ] {
        e.sample(
            "peerlab_http_responses_total",
            &[("code", &code), ("path", &path)],
            Value::Count(n),
        );
    }
    e.single(
        "peerlab_http_connections_total",
        Kind::Counter,
        "Connections accepted by the metrics endpoint.",
        Value::Count(c.accepted),
    );
    e.counts(
        "peerlab_http_connections_cut_total",
        "Connections closed before their answer was taken, by reason.",
        "reason",
        &[
            ("slow_request", c.slow_request),
            ("slow_reader", c.slow_reader),
            ("closed_by_client", c.gone),
            ("flood", c.flood),
        ],
    );
    e.single(
        "peerlab_http_accept_errors_total",
        Kind::Counter,
        "Failed accepts (e.g. out of file descriptors); the connection waits and is tried again.",
        Value::Count(c.accept_errors),
    );
    e.single(
        "peerlab_http_lines_too_long_total",
        Kind::Counter,
        "Exposition lines left out for being longer than 1 KiB.",
        Value::Count(c.too_long),
    );
}
