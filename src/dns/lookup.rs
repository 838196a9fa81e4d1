//! One lookup, sans IO: a state machine that says what to send and when it wants to be woken,
//! and takes the answers and the time as arguments. It never reads a clock or a socket, so
//! tests drive it with real DNS messages and made-up instants.
//!
//! How it asks, as glibc's resolver does:
//! - the names to try come from the search list: a name with at least `ndots` dots is tried as
//!   it is first, then with each search domain; one with fewer, the search domains first and
//!   as it is last; a name ending in a dot only as it is;
//! - for each name, a *try* sends the queries still unanswered (A and AAAA, in parallel, each
//!   with a fresh random id, EDNS0 with a 4096-byte UDP size) to one nameserver and waits
//!   `timeout`; the next try goes to the next nameserver, for `attempts` rounds;
//! - NXDOMAIN or an answer without addresses moves on to the next name; SERVFAIL, REFUSED and
//!   the like move on to the next nameserver at once; a name for which no nameserver answered
//!   ends the lookup (timed out, as glibc: the search list would only wait longer);
//! - a truncated answer (TC) asks the adapter for a TCP exchange with the same server
//!   ([`Proto::Tcp`], 2-byte length framing), keeping the truncated answer's addresses in
//!   case TCP fails.
//!
//! Answers are trusted only if they come from the nameserver of the current try, carry the id
//! of an outstanding query, are responses with exactly that query's question, and parse;
//! anything else is counted ([`Ignored`]) and changes nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, OPCODE, QCLASS, QTYPE, RCODE, TYPE};

use super::conf::{DomainName, ResolvConf, MAX_SEARCH};
use super::{Addrs, Error, Family, Servers, Trouble};

/// The UDP payload size announced with EDNS0 (RFC 6891's usual value).
pub(crate) const EDNS_UDP_SIZE: u16 = 4096;

/// Largest query: header, a name of at most 255 bytes on the wire, the question's type and
/// class, and the OPT record.
const QUERY_MAX: usize = 12 + 255 + 4 + 11;

/// How a query goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// A datagram to the nameserver's port 53.
    Udp,
    /// A TCP exchange with the nameserver: the payload with a 2-byte length before it, then
    /// one answer framed the same way, handed to [`Lookup::handle_tcp_response`] with this
    /// `stream`. A new exchange on the same stream replaces the previous one.
    Tcp {
        /// Which exchange (one per query: 0 or 1).
        stream: usize,
    },
}

/// Something to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transmit<'a> {
    /// Over UDP or TCP.
    pub(crate) proto: Proto,
    /// The nameserver.
    pub(crate) to: SocketAddr,
    /// The DNS message (without TCP's length prefix).
    pub(crate) payload: &'a [u8],
}

/// Answers that were not trusted, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ignored {
    /// From an address that is not the nameserver of the current try. (The adapter's UDP
    /// socket is connected to that nameserver, so the kernel drops such datagrams first.)
    pub(crate) source: u32,
    /// With an id no outstanding query has (a late answer to an earlier try, or a forgery).
    pub(crate) id: u32,
    /// Not a response, or not to the question asked; also an answer that carried address
    /// records for another name (neither the question's nor one its CNAME chain reaches):
    /// those records are dropped, the rest of the answer is taken.
    pub(crate) question: u32,
    /// Not a DNS message, or a broken one (a truncated TCP answer, bad counts, an A record
    /// whose data is not 4 bytes or an AAAA not 16). A UDP answer bigger than the 4096 bytes
    /// announced is not counted: it is asked again over TCP.
    pub(crate) malformed: u32,
}

impl Ignored {
    /// All of them.
    pub(crate) fn total(&self) -> u32 {
        self.source + self.id + self.question + self.malformed
    }
}

impl core::ops::AddAssign for Ignored {
    fn add_assign(&mut self, o: Ignored) {
        self.source += o.source;
        self.id += o.id;
        self.question += o.question;
        self.malformed += o.malformed;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not sent in this try.
    Idle,
    /// Sent over UDP, waiting.
    Udp,
    /// Truncated over UDP: waiting for the TCP exchange.
    Tcp,
    /// The server failed it (SERVFAIL, REFUSED, TCP failed): the next try asks the next one.
    Failed,
    /// Answered: addresses, or none.
    Done(Outcome),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Addrs,
    NoData,
    NxDomain,
}

#[derive(Debug)]
struct Query {
    qtype: TYPE,
    id: u16,
    state: State,
    /// Addresses the truncated UDP answer carried (kept if TCP fails).
    partial: usize,
    buf: [u8; QUERY_MAX],
    len: usize,
}

/// One lookup of one name. `R` gives random query ids (the adapter's is the kernel's
/// getrandom; tests use a counter).
#[derive(Debug)]
pub(crate) struct Lookup<R: FnMut() -> u16> {
    names: heapless::Vec<DomainName, { MAX_SEARCH + 1 }>,
    name_idx: usize,
    servers: Servers,
    timeout: Duration,
    /// Tries per name: rounds times servers.
    tries_max: u16,
    /// Tries so far for the current name.
    tries: u16,
    /// Tries so far, every name.
    tries_total: u16,
    /// The server of the current try.
    server: SocketAddr,
    deadline: Option<Instant>,
    queries: heapless::Vec<Query, 2>,
    /// What to send: (proto, query index).
    outbox: heapless::Deque<(Proto, usize), 4>,
    addrs: Addrs,
    /// Names that gave NOERROR without an address.
    nodata: bool,
    /// Names that gave NXDOMAIN.
    nxdomain: usize,
    /// The last server failure (rcode, server).
    failure: Option<(u8, SocketAddr)>,
    /// The current try ended by a server failure rather than silence.
    failed_this_name: bool,
    /// What went wrong in this name's tries besides silence (for the error).
    trouble: Trouble,
    /// The current try had trouble (a refusal, a malformed answer, TCP failed).
    try_trouble: bool,
    /// A try is under way (sent, not yet over).
    try_open: bool,
    ignored: Ignored,
    result: Option<Result<(), Error>>,
    ids: R,
}

/// The names to try for `name`, in order (see the module's documentation).
pub(crate) fn search_names(
    name: &str,
    conf: &ResolvConf,
) -> heapless::Vec<DomainName, { MAX_SEARCH + 1 }> {
    let mut out = heapless::Vec::new();
    if let Some(abs) = name.strip_suffix('.') {
        if let Ok(n) = DomainName::try_from(abs) {
            let _ = out.push(n);
        }
        return out;
    }
    let as_is = DomainName::try_from(name).ok();
    let dots = name.bytes().filter(|&b| b == b'.').count();
    let first = dots >= usize::from(conf.ndots);
    if first {
        if let Some(n) = &as_is {
            let _ = out.push(n.clone());
        }
    }
    for d in &conf.search {
        let mut n = DomainName::new();
        if n.push_str(name).is_ok() && n.push('.').is_ok() && n.push_str(d).is_ok() {
            let _ = out.push(n);
        }
    }
    if !first {
        if let Some(n) = as_is {
            let _ = out.push(n);
        }
    }
    out
}

impl<R: FnMut() -> u16> Lookup<R> {
    /// Starts looking up `name` (without a port) for `family` at `now`, keeping up to
    /// `capacity` addresses. The first queries are ready in [`Lookup::poll_transmit`].
    pub(crate) fn new(
        name: &str,
        family: Family,
        conf: &ResolvConf,
        capacity: usize,
        now: Instant,
        ids: R,
    ) -> Self {
        let mut queries = heapless::Vec::new();
        for (t, wanted) in [
            (TYPE::A, family != Family::V6),
            (TYPE::AAAA, family != Family::V4),
        ] {
            if wanted {
                let _ = queries.push(Query {
                    qtype: t,
                    id: 0,
                    state: State::Idle,
                    partial: 0,
                    buf: [0; QUERY_MAX],
                    len: 0,
                });
            }
        }
        let servers = conf.nameservers.clone();
        let mut l = Lookup {
            names: search_names(name, conf),
            name_idx: 0,
            tries_max: u16::from(conf.attempts.max(1)) * servers.len().max(1) as u16,
            server: servers
                .first()
                .copied()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 53))),
            servers,
            timeout: conf.timeout,
            tries: 0,
            tries_total: 0,
            deadline: None,
            queries,
            outbox: heapless::Deque::new(),
            addrs: Addrs::with_capacity(capacity),
            nodata: false,
            nxdomain: 0,
            failure: None,
            failed_this_name: false,
            trouble: Trouble::default(),
            try_trouble: false,
            try_open: false,
            ignored: Ignored::default(),
            result: None,
            ids,
        };
        l.start_name(now);
        l
    }

    /// The next query to send, if any.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        let (proto, i) = self.outbox.pop_front()?;
        let q = &self.queries[i];
        Some(Transmit {
            proto,
            to: self.server,
            payload: &q.buf[..q.len],
        })
    }

    /// When [`Lookup::handle_timeout`] must be called (`None` once finished).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.result.is_some() {
            None
        } else {
            self.deadline
        }
    }

    /// The outcome, once there is one: `Ok` with at least one address in
    /// [`Lookup::addrs`], or why none.
    pub(crate) fn result(&self) -> Option<&Result<(), Error>> {
        self.result.as_ref()
    }

    /// The addresses found so far (all of them once the result is `Ok`).
    pub(crate) fn addrs(&self) -> &Addrs {
        &self.addrs
    }

    /// Answers that were ignored.
    pub(crate) fn ignored(&self) -> Ignored {
        self.ignored
    }

    /// The error to report if the caller gives up now (its own deadline passed): no
    /// nameserver answered the tries so far.
    pub(crate) fn timed_out(&self) -> Error {
        let mut trouble = self.trouble;
        if self.try_open && !self.try_trouble {
            trouble.silent = true;
        }
        let all_refused = Trouble {
            refused: self.tries,
            ..Trouble::default()
        };
        if self.tries > 0 && trouble == all_refused {
            return Error::Refused {
                tries: self.tries_total,
                servers: self.servers.clone(),
            };
        }
        Error::TimedOut {
            tries: self.tries_total,
            servers: self.servers.clone(),
            trouble,
        }
    }

    /// Which try the queries of [`Lookup::poll_transmit`] belong to: a new number is a new
    /// try (the adapter opens a fresh socket, connected to the try's server).
    pub(crate) fn try_number(&self) -> u16 {
        self.tries_total
    }

    /// The current try's server refused the query (ICMP port unreachable, seen as
    /// `ECONNREFUSED` on a socket connected to it): nothing will answer, the next server is
    /// asked at once (glibc does the same).
    pub(crate) fn handle_refused(&mut self, now: Instant) {
        if self.result.is_some() || !self.try_open {
            return;
        }
        let mut any = false;
        for q in &mut self.queries {
            if q.state == State::Udp {
                q.state = State::Failed;
                any = true;
            }
        }
        if any {
            self.trouble.refused += 1;
            self.try_trouble = true;
            self.advance(now);
        }
    }

    /// An answer from the server asked, with a query's id, that cannot be used.
    fn malformed(&mut self) {
        self.ignored.malformed += 1;
        self.trouble.malformed = self.trouble.malformed.saturating_add(1);
        self.try_trouble = true;
    }

    /// Whether the outcome is known.
    pub(crate) fn is_done(&self) -> bool {
        self.result.is_some()
    }

    /// A datagram arrived on the lookup's UDP socket.
    pub(crate) fn handle_response(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.result.is_some() {
            return;
        }
        if from != self.server {
            self.ignored.source += 1;
            return;
        }
        let Some(i) = self.check(bytes, State::Udp) else {
            return;
        };
        // Bigger than the size announced (the adapter reads one byte more to see it): cut by
        // the adapter's buffer, so nothing of it is read; as a truncated answer, it is asked
        // again over TCP (as glibc does).
        if bytes.len() > usize::from(EDNS_UDP_SIZE) {
            let q = &mut self.queries[i];
            q.partial = 0;
            q.state = State::Tcp;
            let _ = self.outbox.push_back((Proto::Tcp { stream: i }, i));
            return;
        }
        let Ok(p) = Packet::parse(bytes) else {
            self.malformed();
            return;
        };
        if !address_lengths_ok(bytes) {
            self.malformed();
            return;
        }
        if !self.question_matches(&p, i) {
            self.ignored.question += 1;
            return;
        }
        if p.has_flags(PacketFlag::TRUNCATION) {
            // Keep what fitted, ask again over TCP.
            let before = self.addrs.len();
            self.take_addresses(&p, i);
            let q = &mut self.queries[i];
            q.partial = self.addrs.len() - before;
            q.state = State::Tcp;
            let _ = self.outbox.push_back((Proto::Tcp { stream: i }, i));
            return;
        }
        self.apply(now, &p, i);
    }

    /// The TCP exchange on `stream` brought this answer (without its length prefix).
    pub(crate) fn handle_tcp_response(&mut self, now: Instant, stream: usize, bytes: &[u8]) {
        if self.result.is_some() {
            return;
        }
        let Some(i) = self.check(bytes, State::Tcp) else {
            return;
        };
        if i != stream {
            self.ignored.id += 1;
            return;
        }
        let Ok(p) = Packet::parse(bytes) else {
            self.malformed();
            return;
        };
        if !address_lengths_ok(bytes) {
            self.malformed();
            return;
        }
        if !self.question_matches(&p, i) {
            self.ignored.question += 1;
            return;
        }
        // Truncated even over TCP: a broken server; take what came.
        self.apply(now, &p, i);
    }

    /// The TCP exchange on `stream` failed (refused, reset, closed early): the truncated
    /// answer's addresses are taken if there were any, else the next try asks again.
    pub(crate) fn handle_tcp_failed(&mut self, now: Instant, stream: usize) {
        let Some(q) = self.queries.get_mut(stream) else {
            return;
        };
        if self.result.is_some() || q.state != State::Tcp {
            return;
        }
        self.trouble.tcp_failed = self.trouble.tcp_failed.saturating_add(1);
        self.try_trouble = true;
        q.state = if q.partial > 0 {
            State::Done(Outcome::Addrs)
        } else {
            State::Failed
        };
        self.advance(now);
    }

    /// Call at or after [`Lookup::poll_timeout`]: the current try is over.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.result.is_some() || self.deadline.is_none_or(|d| now < d) {
            return;
        }
        for q in &mut self.queries {
            match q.state {
                State::Tcp if q.partial > 0 => q.state = State::Done(Outcome::Addrs),
                State::Udp | State::Tcp => q.state = State::Failed,
                _ => {}
            }
        }
        if !self.try_trouble {
            self.trouble.silent = true;
        }
        self.next_try_or_name(now);
    }

    /// The index of the outstanding query (in `state`) this message answers, checking what the
    /// header alone can tell; counts and returns `None` otherwise.
    fn check(&mut self, bytes: &[u8], state: State) -> Option<usize> {
        if bytes.len() < 12 {
            self.ignored.malformed += 1;
            return None;
        }
        let id = u16::from_be_bytes([bytes[0], bytes[1]]);
        let Some(i) = self
            .queries
            .iter()
            .position(|q| q.state == state && q.id == id)
        else {
            // A copy of an answer already taken (a server or network that repeats): its id is
            // right, it is just not needed. Not counted: it is not an attack on the id.
            let asked = |q: &Query| q.id == id && q.state != State::Idle;
            if !self.queries.iter().any(asked) {
                self.ignored.id += 1;
            }
            return None;
        };
        // QR set, a standard query's answer.
        if bytes[2] & 0x80 == 0 || (bytes[2] >> 3) & 0x0f != 0 {
            self.ignored.question += 1;
            return None;
        }
        // Counts that cannot fit (each question is at least 5 bytes, each record 11): refused
        // before the parser reserves room for them.
        let count = |k: usize| usize::from(u16::from_be_bytes([bytes[k], bytes[k + 1]]));
        let need = 5 * count(4) + 11 * (count(6) + count(8) + count(10));
        if need > bytes.len() - 12 {
            self.malformed();
            return None;
        }
        Some(i)
    }

    fn question_matches(&self, p: &Packet<'_>, i: usize) -> bool {
        let [q] = p.questions.as_slice() else {
            return false;
        };
        let want = &self.names[self.name_idx];
        let mut text: heapless::String<{ 4 * 256 }> = heapless::String::new();
        let _ = core::fmt::write(&mut text, format_args!("{}", q.qname));
        p.opcode() == OPCODE::StandardQuery
            && q.qtype == QTYPE::TYPE(self.queries[i].qtype)
            && q.qclass == QCLASS::CLASS(CLASS::IN)
            && text.trim_end_matches('.').eq_ignore_ascii_case(want)
    }

    fn take_addresses(&mut self, p: &Packet<'_>, i: usize) -> usize {
        let want = self.queries[i].qtype;
        // The names whose addresses answer the question: its own, and those its CNAMEs reach
        // in this answer (any order; a chain longer than the set's room is cut there).
        let mut owners: heapless::Vec<NameText, MAX_CHAIN> = heapless::Vec::new();
        let _ = owners.push(text_of(&self.names[self.name_idx]));
        let mut grew = true;
        while grew {
            grew = false;
            for rr in &p.answers {
                let simple_dns::rdata::RData::CNAME(c) = &rr.rdata else {
                    continue;
                };
                let target = name_text(&c.0);
                if owners.contains(&name_text(&rr.name))
                    && !owners.contains(&target)
                    && owners.push(target).is_ok()
                {
                    grew = true;
                }
            }
        }
        let mut n = 0;
        let mut foreign = false;
        for rr in &p.answers {
            if rr.class != CLASS::IN {
                continue;
            }
            let ip = match &rr.rdata {
                simple_dns::rdata::RData::A(a) if want == TYPE::A => {
                    IpAddr::V4(Ipv4Addr::from(a.address))
                }
                simple_dns::rdata::RData::AAAA(a) if want == TYPE::AAAA => {
                    IpAddr::V6(Ipv6Addr::from(a.address))
                }
                _ => continue,
            };
            if !owners.contains(&name_text(&rr.name)) {
                // Another name's address (cache poisoning tries this): not ours to take.
                foreign = true;
                continue;
            }
            self.addrs.push(ip);
            n += 1;
        }
        if foreign {
            self.ignored.question += 1;
        }
        n
    }

    fn apply(&mut self, now: Instant, p: &Packet<'_>, i: usize) {
        let state = match p.rcode() {
            RCODE::NoError => {
                if self.take_addresses(p, i) + self.queries[i].partial > 0 {
                    State::Done(Outcome::Addrs)
                } else {
                    State::Done(Outcome::NoData)
                }
            }
            RCODE::NameError => State::Done(Outcome::NxDomain),
            other => {
                self.failure = Some((other as u8, self.server));
                self.failed_this_name = true;
                State::Failed
            }
        };
        self.queries[i].state = state;
        self.advance(now);
    }

    /// After a query's state changed: the name is finished, or the try is (every query
    /// failed by the server: the next one is asked now), or there is more to wait for.
    fn advance(&mut self, now: Instant) {
        if self
            .queries
            .iter()
            .all(|q| matches!(q.state, State::Done(_)))
        {
            self.finish_name(now);
        } else if self
            .queries
            .iter()
            .all(|q| matches!(q.state, State::Done(_) | State::Failed))
        {
            self.next_try_or_name(now);
        }
    }

    fn finish_name(&mut self, now: Instant) {
        if !self.addrs.is_empty() {
            self.finish(Ok(()));
            return;
        }
        for q in &self.queries {
            match q.state {
                State::Done(Outcome::NoData) => self.nodata = true,
                State::Done(Outcome::NxDomain) => {}
                _ => {}
            }
        }
        if self
            .queries
            .iter()
            .any(|q| q.state == State::Done(Outcome::NxDomain))
        {
            self.nxdomain += 1;
        }
        self.next_name(now);
    }

    fn next_try_or_name(&mut self, now: Instant) {
        self.try_open = false;
        if self.tries < self.tries_max {
            self.begin_try(now);
            return;
        }
        // Every try of this name is used up.
        if !self.addrs.is_empty() {
            self.finish(Ok(()));
        } else if self.failed_this_name {
            // The servers answered, with errors: the next name may fare better (glibc goes on
            // after SERVFAIL).
            self.next_name(now);
        } else {
            let e = self.timed_out();
            self.finish(Err(e));
        }
    }

    fn next_name(&mut self, now: Instant) {
        self.name_idx += 1;
        if self.name_idx < self.names.len() {
            self.start_name(now);
            return;
        }
        let err = if self.nodata {
            Error::NoAnswer
        } else if let Some((rcode, server)) = self.failure {
            Error::Failed { rcode, server }
        } else {
            Error::NxDomain {
                names: self.nxdomain.max(1),
            }
        };
        self.finish(Err(err));
    }

    fn start_name(&mut self, now: Instant) {
        if self.name_idx >= self.names.len() || self.servers.is_empty() {
            self.finish(Err(Error::BadName));
            return;
        }
        self.tries = 0;
        self.failed_this_name = false;
        self.trouble = Trouble::default();
        for q in &mut self.queries {
            q.state = State::Idle;
            q.partial = 0;
        }
        self.begin_try(now);
    }

    /// Sends every query not answered yet to the next server, with fresh ids.
    fn begin_try(&mut self, now: Instant) {
        self.server = self.servers[usize::from(self.tries) % self.servers.len()];
        self.tries += 1;
        self.tries_total = self.tries_total.saturating_add(1);
        self.deadline = Some(now + self.timeout);
        self.try_open = true;
        self.try_trouble = false;
        self.outbox.clear();
        let name = self.names[self.name_idx].clone();
        let mut last_id = None;
        for i in 0..self.queries.len() {
            if matches!(self.queries[i].state, State::Done(_)) {
                continue;
            }
            // Two queries in flight never share an id.
            let mut id = (self.ids)();
            if Some(id) == last_id {
                id = id.wrapping_add(1);
            }
            last_id = Some(id);
            let q = &mut self.queries[i];
            q.id = id;
            q.partial = 0;
            match build_query(&name, q.qtype, id, &mut q.buf) {
                Some(len) => {
                    q.len = len;
                    q.state = State::Udp;
                    let _ = self.outbox.push_back((Proto::Udp, i));
                }
                None => {
                    self.finish(Err(Error::BadName));
                    return;
                }
            }
        }
    }

    fn finish(&mut self, r: Result<(), Error>) {
        self.try_open = false;
        self.outbox.clear();
        self.deadline = None;
        self.result = Some(r);
    }
}

/// Longest CNAME chain followed in an answer (names, the question's included); glibc
/// follows at most 16 in a row, but a peer's name is a name or two away from its address.
const MAX_CHAIN: usize = 8;

/// A domain name as text, lowercase, without a trailing dot, for comparisons.
type NameText = heapless::String<{ 4 * 256 }>;

fn text_of(s: &str) -> NameText {
    let mut t = NameText::new();
    for c in s.trim_end_matches('.').chars() {
        let _ = t.push(c.to_ascii_lowercase());
    }
    t
}

fn name_text(n: &Name<'_>) -> NameText {
    let mut raw = NameText::new();
    let _ = core::fmt::write(&mut raw, format_args!("{n}"));
    text_of(&raw)
}

/// Whether every A record of the message's sections has 4 bytes of data and every AAAA 16
/// (the parser reads the first bytes of a longer one and skips the rest: an A record of 16
/// bytes would give an address made of whatever its first 4 are). `bytes` has parsed.
fn address_lengths_ok(bytes: &[u8]) -> bool {
    let count = |k: usize| usize::from(u16::from_be_bytes([bytes[k], bytes[k + 1]]));
    let (qd, records) = (count(4), count(6) + count(8) + count(10));
    let mut at = 12;
    for _ in 0..qd {
        let Some(end) = skip_name(bytes, at) else {
            return false;
        };
        at = end + 4;
    }
    for _ in 0..records {
        let Some(end) = skip_name(bytes, at) else {
            return false;
        };
        let Some(h) = bytes.get(end..end + 10) else {
            return false;
        };
        let rtype = u16::from_be_bytes([h[0], h[1]]);
        let rdlen = usize::from(u16::from_be_bytes([h[8], h[9]]));
        match rtype {
            1 if rdlen != 4 => return false,
            28 if rdlen != 16 => return false,
            _ => {}
        }
        at = end + 10 + rdlen;
    }
    true
}

/// The offset after the name at `at` (labels up to a zero byte, or a 2-byte pointer).
fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *bytes.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// Writes a recursive query for `name` and `qtype` with EDNS0 into `buf`; its length, or `None`
/// if `name` is not a valid domain name.
pub(crate) fn build_query(name: &str, qtype: TYPE, id: u16, buf: &mut [u8]) -> Option<usize> {
    let qname = Name::new(name).ok()?;
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    p.questions.push(Question::new(
        qname,
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    *p.opt_mut() = Some(simple_dns::rdata::OPT {
        opt_codes: Vec::new(),
        udp_packet_size: EDNS_UDP_SIZE,
        version: 0,
    });
    let total = buf.len();
    let mut w: &mut [u8] = buf;
    p.write_to(&mut w).ok()?;
    Some(total - w.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{RData, A, AAAA};
    use simple_dns::ResourceRecord;

    const NS1: &str = "10.0.0.53:53";
    const NS2: &str = "10.0.1.53:53";

    fn conf(text: &str) -> ResolvConf {
        ResolvConf::parse(text)
    }

    fn counter() -> impl FnMut() -> u16 {
        let mut n = 1000u16;
        move || {
            n += 7;
            n
        }
    }

    struct Sent {
        proto: Proto,
        to: SocketAddr,
        bytes: Vec<u8>,
    }

    fn sent<R: FnMut() -> u16>(l: &mut Lookup<R>) -> Vec<Sent> {
        let mut v = Vec::new();
        while let Some(t) = l.poll_transmit() {
            v.push(Sent {
                proto: t.proto,
                to: t.to,
                bytes: t.payload.to_vec(),
            });
        }
        v
    }

    /// A real answer to `query`: the addresses of the query's type among `ips`.
    fn answer(query: &[u8], rcode: RCODE, ips: &[IpAddr], tc: bool) -> Vec<u8> {
        let q = Packet::parse(query).unwrap();
        let mut r = Packet::new_reply(q.id());
        r.questions.push(q.questions[0].clone());
        *r.rcode_mut() = rcode;
        if tc {
            r.set_flags(PacketFlag::TRUNCATION);
        }
        let qtype = q.questions[0].qtype;
        for ip in ips {
            let rdata = match ip {
                IpAddr::V4(a) if qtype == QTYPE::TYPE(TYPE::A) => RData::A(A {
                    address: u32::from(*a),
                }),
                IpAddr::V6(a) if qtype == QTYPE::TYPE(TYPE::AAAA) => RData::AAAA(AAAA {
                    address: u128::from(*a),
                }),
                _ => continue,
            };
            r.answers.push(ResourceRecord::new(
                q.questions[0].qname.clone(),
                CLASS::IN,
                60,
                rdata,
            ));
        }
        r.build_bytes_vec().unwrap()
    }

    fn qname(bytes: &[u8]) -> String {
        Packet::parse(bytes).unwrap().questions[0].qname.to_string()
    }

    fn v4s(n: usize) -> Vec<IpAddr> {
        (0..n)
            .map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, (i / 250) as u8, (i % 250) as u8 + 1)))
            .collect()
    }

    fn ns(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn queries_are_real_dns_with_edns0_and_distinct_ids() {
        let t = Instant::now();
        let mut l = Lookup::new(
            "p2.lab",
            Family::Any,
            &conf("nameserver 10.0.0.53"),
            8,
            t,
            counter(),
        );
        let s = sent(&mut l);
        assert_eq!(s.len(), 2, "A and AAAA in parallel");
        let mut ids = Vec::new();
        for (x, want) in s.iter().zip([TYPE::A, TYPE::AAAA]) {
            assert_eq!((x.proto, x.to), (Proto::Udp, ns(NS1)));
            let p = Packet::parse(&x.bytes).unwrap();
            assert!(p.has_flags(PacketFlag::RECURSION_DESIRED));
            assert_eq!(p.questions[0].qtype, QTYPE::TYPE(want));
            assert_eq!(p.opt().map(|o| o.udp_packet_size), Some(EDNS_UDP_SIZE));
            ids.push(p.id());
        }
        assert_ne!(ids[0], ids[1]);
        assert_eq!(l.poll_timeout(), Some(t + Duration::from_secs(5)));
    }

    #[test]
    fn every_address_of_a_large_answer_is_returned() {
        let t = Instant::now();
        let mut l = Lookup::new(
            "peer",
            Family::V4,
            &conf("nameserver 10.0.0.53"),
            128,
            t,
            counter(),
        );
        let q = sent(&mut l).remove(0);
        l.handle_response(
            t,
            ns(NS1),
            &answer(&q.bytes, RCODE::NoError, &v4s(60), false),
        );
        assert_eq!(l.result(), Some(&Ok(())));
        assert_eq!(l.addrs().len(), 60);
        assert_eq!(l.addrs().as_slice(), v4s(60).as_slice(), "in answer order");
        assert_eq!(l.poll_timeout(), None);
    }

    #[test]
    fn capacity_is_fixed_and_the_rest_counted() {
        let t = Instant::now();
        let mut l = Lookup::new("peer", Family::V4, &conf(""), 10, t, counter());
        let q = sent(&mut l).remove(0);
        assert_eq!(
            q.to,
            ns("127.0.0.1:53"),
            "the C libraries' default nameserver"
        );
        l.handle_response(t, q.to, &answer(&q.bytes, RCODE::NoError, &v4s(60), false));
        assert_eq!((l.addrs().len(), l.addrs().left_out()), (10, 50));
    }

    #[test]
    fn both_families_are_waited_for() {
        let t = Instant::now();
        let mut l = Lookup::new(
            "p2",
            Family::Any,
            &conf("nameserver 10.0.0.53"),
            8,
            t,
            counter(),
        );
        let s = sent(&mut l);
        let ips: Vec<IpAddr> = vec!["10.1.1.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        l.handle_response(
            t,
            ns(NS1),
            &answer(&s[1].bytes, RCODE::NoError, &ips, false),
        );
        assert!(!l.is_done(), "the A answer is still to come");
        l.handle_response(
            t,
            ns(NS1),
            &answer(&s[0].bytes, RCODE::NoError, &ips, false),
        );
        assert_eq!(l.result(), Some(&Ok(())));
        let got: Vec<String> = l.addrs().as_slice().iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["fd00::1", "10.1.1.1"]);
    }

    #[test]
    fn silence_moves_to_the_next_server_then_times_out_naming_them() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\nnameserver 10.0.1.53\noptions timeout:1 attempts:2\n");
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let mut now = t;
        let mut to = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..4 {
            let s = sent(&mut l);
            assert_eq!(s.len(), 1);
            to.push(s[0].to);
            ids.push(Packet::parse(&s[0].bytes).unwrap().id());
            let d = l.poll_timeout().unwrap();
            assert_eq!(d, now + Duration::from_secs(1));
            l.handle_timeout(d - Duration::from_millis(1));
            assert!(sent(&mut l).is_empty(), "not before the deadline");
            now = d;
            l.handle_timeout(now);
        }
        assert_eq!(to, [ns(NS1), ns(NS2), ns(NS1), ns(NS2)]);
        ids.dedup();
        assert_eq!(ids.len(), 4, "a fresh id for every try");
        let err = l.result().unwrap().clone().unwrap_err();
        assert!(matches!(err, Error::TimedOut { tries: 4, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "no answer from 10.0.0.53, 10.0.1.53 after 4 tries (timed out)"
        );
        assert_eq!(l.poll_timeout(), None);
    }

    #[test]
    fn bad_answers_are_counted_and_ignored() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\nnameserver 10.0.1.53\n");
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        let good = answer(&q.bytes, RCODE::NoError, &v4s(1), false);
        let evil = answer(
            &q.bytes,
            RCODE::NoError,
            &["6.6.6.6".parse().unwrap()],
            false,
        );
        // From another address (even the other nameserver: it was not asked).
        l.handle_response(t, ns(NS2), &evil);
        l.handle_response(t, ns("10.0.0.53:5353"), &evil);
        // Wrong id.
        let mut wrong_id = evil.clone();
        wrong_id[1] ^= 0x55;
        l.handle_response(t, ns(NS1), &wrong_id);
        // Not a response (the query itself, reflected).
        l.handle_response(t, ns(NS1), &q.bytes);
        // Another question.
        let mut other = Lookup::new("p3", Family::V4, &c, 8, t, counter());
        let oq = sent(&mut other).remove(0);
        let mut wrong_q = answer(&oq.bytes, RCODE::NoError, &v4s(1), false);
        wrong_q[..2].copy_from_slice(&good[..2]);
        l.handle_response(t, ns(NS1), &wrong_q);
        // AAAA answer to the A query (same id).
        let mut aaaa = Lookup::new("p2", Family::V6, &c, 8, t, counter());
        let aq = sent(&mut aaaa).remove(0);
        let mut wrong_type = answer(
            &aq.bytes,
            RCODE::NoError,
            &["fd00::6".parse().unwrap()],
            false,
        );
        wrong_type[..2].copy_from_slice(&good[..2]);
        l.handle_response(t, ns(NS1), &wrong_type);
        // Malformed: short, cut in the middle, impossible counts.
        l.handle_response(t, ns(NS1), &good[..7]);
        l.handle_response(t, ns(NS1), &good[..good.len() - 3]);
        let mut counts = good.clone();
        counts[6] = 0xff;
        l.handle_response(t, ns(NS1), &counts);
        assert!(!l.is_done(), "nothing trusted");
        assert_eq!(
            l.ignored(),
            Ignored {
                source: 2,
                id: 1,
                question: 3,
                malformed: 3
            }
        );
        l.handle_response(t, ns(NS1), &good);
        assert_eq!(l.addrs().as_slice(), v4s(1).as_slice());
        // After the end, nothing changes.
        l.handle_response(t, ns(NS1), &evil);
        assert_eq!(l.addrs().as_slice(), v4s(1).as_slice());
    }

    #[test]
    fn a_late_answer_to_an_earlier_try_is_not_taken() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\noptions timeout:1\n");
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let first = sent(&mut l).remove(0);
        l.handle_timeout(t + Duration::from_secs(1));
        let second = sent(&mut l).remove(0);
        l.handle_response(
            t,
            ns(NS1),
            &answer(&first.bytes, RCODE::NoError, &v4s(1), false),
        );
        assert_eq!(l.ignored().id, 1);
        assert!(!l.is_done());
        l.handle_response(
            t,
            ns(NS1),
            &answer(&second.bytes, RCODE::NoError, &v4s(2), false),
        );
        assert_eq!(l.addrs().len(), 2);
    }

    #[test]
    fn truncation_asks_for_tcp_and_takes_its_answer() {
        let t = Instant::now();
        let mut l = Lookup::new(
            "peer",
            Family::V4,
            &conf("nameserver 10.0.0.53"),
            128,
            t,
            counter(),
        );
        let q = sent(&mut l).remove(0);
        let all = v4s(60);
        l.handle_response(
            t,
            ns(NS1),
            &answer(&q.bytes, RCODE::NoError, &all[..24], true),
        );
        assert!(!l.is_done());
        let tcp = sent(&mut l);
        assert_eq!(tcp.len(), 1);
        assert_eq!(
            (tcp[0].proto, tcp[0].to),
            (Proto::Tcp { stream: 0 }, ns(NS1))
        );
        assert_eq!(tcp[0].bytes, q.bytes, "the same query, over TCP");
        // A UDP copy is no longer wanted; a TCP answer with the wrong id is not taken.
        let mut wrong = answer(&q.bytes, RCODE::NoError, &all, false);
        wrong[0] ^= 1;
        l.handle_tcp_response(t, 0, &wrong);
        assert_eq!(l.ignored().id, 1);
        l.handle_tcp_response(t, 0, &answer(&q.bytes, RCODE::NoError, &all, false));
        assert_eq!(l.result(), Some(&Ok(())));
        assert_eq!(l.addrs().as_slice(), all.as_slice());
    }

    #[test]
    fn when_tcp_fails_the_truncated_answer_is_used() {
        let t = Instant::now();
        let mut l = Lookup::new(
            "peer",
            Family::V4,
            &conf("nameserver 10.0.0.53"),
            128,
            t,
            counter(),
        );
        let q = sent(&mut l).remove(0);
        l.handle_response(
            t,
            ns(NS1),
            &answer(&q.bytes, RCODE::NoError, &v4s(24), true),
        );
        let _ = sent(&mut l);
        l.handle_tcp_failed(t, 0);
        assert_eq!(l.result(), Some(&Ok(())));
        assert_eq!(l.addrs().len(), 24);
    }

    #[test]
    fn search_list_and_ndots_as_glibc() {
        let c = conf("search a.example b.example\nnameserver 10.0.0.53\n");
        let names = |n: &str, c: &ResolvConf| -> Vec<String> {
            search_names(n, c).iter().map(|s| s.to_string()).collect()
        };
        assert_eq!(names("p2", &c), ["p2.a.example", "p2.b.example", "p2"]);
        assert_eq!(
            names("p2.lab", &c),
            ["p2.lab", "p2.lab.a.example", "p2.lab.b.example"]
        );
        assert_eq!(names("p2.lab.", &c), ["p2.lab"]);
        let k8s = conf("search ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n");
        assert_eq!(
            names("web.ns", &k8s),
            [
                "web.ns.ns.svc.cluster.local",
                "web.ns.svc.cluster.local",
                "web.ns"
            ]
        );
        let docker = conf("search corp\noptions ndots:0\n");
        assert_eq!(names("p2", &docker), ["p2", "p2.corp"]);

        // Driven: NXDOMAIN, then no address, then the bare name answers.
        let t = Instant::now();
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        assert_eq!(qname(&q.bytes), "p2.a.example");
        l.handle_response(t, ns(NS1), &answer(&q.bytes, RCODE::NameError, &[], false));
        let q = sent(&mut l).remove(0);
        assert_eq!(qname(&q.bytes), "p2.b.example");
        l.handle_response(t, ns(NS1), &answer(&q.bytes, RCODE::NoError, &[], false));
        let q = sent(&mut l).remove(0);
        assert_eq!(qname(&q.bytes), "p2");
        l.handle_response(
            t,
            ns(NS1),
            &answer(&q.bytes, RCODE::NoError, &v4s(1), false),
        );
        assert_eq!(l.result(), Some(&Ok(())));
    }

    #[test]
    fn nxdomain_and_no_answer_are_told_apart() {
        let t = Instant::now();
        let c = conf("search a.example\nnameserver 10.0.0.53\n");
        let mut l = Lookup::new("p2", Family::Any, &c, 8, t, counter());
        for _ in 0..2 {
            for q in sent(&mut l) {
                l.handle_response(t, ns(NS1), &answer(&q.bytes, RCODE::NameError, &[], false));
            }
        }
        let err = l.result().unwrap().clone().unwrap_err();
        assert_eq!(err, Error::NxDomain { names: 2 });
        assert!(err.to_string().contains("NXDOMAIN"), "{err}");

        let mut l = Lookup::new("p2.", Family::V6, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        l.handle_response(
            t,
            ns(NS1),
            &answer(&q.bytes, RCODE::NoError, &v4s(3), false),
        );
        assert_eq!(l.result(), Some(&Err(Error::NoAnswer)));
    }

    #[test]
    fn servfail_and_refused_go_to_the_next_server_at_once() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\nnameserver 10.0.1.53\noptions attempts:1\n");
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        l.handle_response(
            t,
            ns(NS1),
            &answer(&q.bytes, RCODE::ServerFailure, &[], false),
        );
        let q = sent(&mut l).remove(0);
        assert_eq!(q.to, ns(NS2), "without waiting for the timeout");
        l.handle_response(t, ns(NS2), &answer(&q.bytes, RCODE::Refused, &[], false));
        let err = l.result().unwrap().clone().unwrap_err();
        assert_eq!(err.to_string(), "10.0.1.53 answered REFUSED (rcode 5)");
    }

    /// An answer to `query` with the given records (owner, data).
    fn answer_with(query: &[u8], records: &[(&str, RData<'static>)]) -> Vec<u8> {
        let q = Packet::parse(query).unwrap();
        let mut r = Packet::new_reply(q.id());
        r.questions.push(q.questions[0].clone());
        for (owner, rdata) in records {
            r.answers.push(ResourceRecord::new(
                Name::new_unchecked(owner),
                CLASS::IN,
                60,
                rdata.clone(),
            ));
        }
        r.build_bytes_vec().unwrap()
    }

    fn a(ip: &str) -> RData<'static> {
        RData::A(A {
            address: u32::from(ip.parse::<Ipv4Addr>().unwrap()),
        })
    }

    fn cname(to: &'static str) -> RData<'static> {
        RData::CNAME(simple_dns::rdata::CNAME(Name::new_unchecked(to)))
    }

    /// A UDP answer bigger than the 4096 bytes announced (cut by the adapter's buffer) is
    /// not read: it is asked again over TCP, as a truncated one (glibc does the same).
    #[test]
    fn an_oversized_udp_answer_is_asked_again_over_tcp() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\noptions timeout:1 attempts:1\n");
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        let mut huge = answer(&q.bytes, RCODE::NoError, &v4s(1), false);
        huge.resize(usize::from(EDNS_UDP_SIZE) + 1, 0);
        l.handle_response(t, ns(NS1), &huge);
        assert_eq!(l.ignored().malformed, 0);
        assert!(l.addrs().is_empty(), "nothing of the cut answer is taken");
        let tcp = sent(&mut l);
        assert_eq!(tcp.len(), 1);
        assert_eq!(
            (tcp[0].proto, tcp[0].to),
            (Proto::Tcp { stream: 0 }, ns(NS1))
        );
        l.handle_tcp_response(t, 0, &answer(&q.bytes, RCODE::NoError, &v4s(3), false));
        assert_eq!(
            l.result().unwrap().as_ref().map(|_| l.addrs().len()).ok(),
            Some(3)
        );
    }

    #[test]
    fn an_address_record_of_the_wrong_length_makes_the_answer_malformed() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\noptions timeout:1 attempts:1\n");
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        // An A record of 16 bytes: the parser alone would take its first 4.
        let mut long = answer(&q.bytes, RCODE::NoError, &v4s(1), false);
        let n = long.len();
        long[n - 6..n - 4].copy_from_slice(&16u16.to_be_bytes());
        long.extend_from_slice(&[7; 12]);
        assert!(Packet::parse(&long).is_ok(), "the parser takes it");
        l.handle_response(t, ns(NS1), &long);
        assert!(!l.is_done());
        assert_eq!(l.ignored().malformed, 1);
        assert!(l.addrs().is_empty());
        // The same again: still malformed.
        l.handle_response(t, ns(NS1), &long);
        assert_eq!(l.ignored().malformed, 2);
        l.handle_timeout(t + Duration::from_secs(1));
        let err = l.result().unwrap().clone().unwrap_err();
        assert_eq!(
            err.to_string(),
            "no usable answer from 10.0.0.53 after 1 tries (2 malformed answer(s))"
        );
        // AAAA: 16 bytes, not 4.
        let mut l = Lookup::new("p2", Family::V6, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        let ip: IpAddr = "fd00::1".parse().unwrap();
        let mut short = answer(&q.bytes, RCODE::NoError, &[ip], false);
        let n = short.len();
        short[n - 18..n - 16].copy_from_slice(&4u16.to_be_bytes());
        short.truncate(n - 12);
        l.handle_response(t, ns(NS1), &short);
        assert_eq!((l.ignored().malformed, l.is_done()), (1, false));
        l.handle_response(t, ns(NS1), &answer(&q.bytes, RCODE::NoError, &[ip], false));
        assert_eq!(l.addrs().as_slice(), &[ip]);
    }

    #[test]
    fn only_the_questions_name_and_its_cname_chain_give_addresses() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\n");
        let mut l = Lookup::new("p2.lab", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        let ans = answer_with(
            &q.bytes,
            &[
                ("evil.example", a("6.6.6.6")),
                ("web.lab", a("10.0.0.3")),
                ("P2.Lab", cname("alias.lab")),
                ("alias.lab", cname("web.lab")),
                ("p2.lab", a("10.0.0.2")),
                ("other.lab", cname("p2.lab")),
            ],
        );
        l.handle_response(t, ns(NS1), &ans);
        assert_eq!(l.result(), Some(&Ok(())));
        let got: Vec<String> = l.addrs().as_slice().iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["10.0.0.3", "10.0.0.2"], "chain followed in any order");
        assert_eq!(
            l.ignored().question,
            1,
            "evil.example's record dropped, counted"
        );

        // Only another name's address: nothing taken, the name has no address.
        let mut l = Lookup::new("p2.lab.", Family::V4, &c, 8, t, counter());
        let q = sent(&mut l).remove(0);
        l.handle_response(
            t,
            ns(NS1),
            &answer_with(&q.bytes, &[("evil.example", a("6.6.6.6"))]),
        );
        assert_eq!(l.result(), Some(&Err(Error::NoAnswer)));
        assert!(l.addrs().is_empty());
    }

    #[test]
    fn a_refusal_moves_on_at_once_and_all_refused_says_refused() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\nnameserver 10.0.1.53\noptions attempts:1\n");
        let mut l = Lookup::new("p2", Family::Any, &c, 8, t, counter());
        assert_eq!(sent(&mut l).len(), 2);
        let first = l.try_number();
        l.handle_refused(t);
        let s = sent(&mut l);
        assert_eq!(s.len(), 2, "both queries again");
        assert_eq!(s[0].to, ns(NS2), "without waiting for the timeout");
        assert_ne!(l.try_number(), first, "a new try: a new socket");
        l.handle_response(
            t,
            ns(NS2),
            &answer(&s[0].bytes, RCODE::NoError, &v4s(1), false),
        );
        l.handle_response(t, ns(NS2), &answer(&s[1].bytes, RCODE::NoError, &[], false));
        assert_eq!(l.result(), Some(&Ok(())));

        let mut l = Lookup::new("p2", Family::Any, &c, 8, t, counter());
        let _ = sent(&mut l);
        l.handle_refused(t);
        l.handle_refused(t); // a second ICMP error of the same try changes nothing
        let _ = sent(&mut l);
        l.handle_refused(t);
        let err = l.result().unwrap().clone().unwrap_err();
        assert!(matches!(err, Error::Refused { tries: 2, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "10.0.0.53, 10.0.1.53 refused all 2 tries (port unreachable: nothing listens on port 53)"
        );

        // One refused, one silent: both said.
        let mut l = Lookup::new("p2", Family::V4, &c, 8, t, counter());
        let _ = sent(&mut l);
        l.handle_refused(t);
        let _ = sent(&mut l);
        l.handle_timeout(t + Duration::from_secs(5));
        let err = l.result().unwrap().clone().unwrap_err();
        assert_eq!(
            err.to_string(),
            "no usable answer from 10.0.0.53, 10.0.1.53 after 2 tries (1 refused, timed out)"
        );
    }

    #[test]
    fn copies_of_an_answer_are_not_wrong_ids() {
        let t = Instant::now();
        let c = conf("nameserver 10.0.0.53\n");
        let mut l = Lookup::new("p2", Family::Any, &c, 8, t, counter());
        let s = sent(&mut l);
        let a4 = answer(&s[0].bytes, RCODE::NoError, &v4s(1), false);
        for _ in 0..5 {
            l.handle_response(t, ns(NS1), &a4);
        }
        assert!(!l.is_done(), "AAAA still to come");
        assert_eq!(l.ignored(), Ignored::default(), "copies are not counted");
        let mut forged = a4.clone();
        forged[0] ^= 0x40;
        l.handle_response(t, ns(NS1), &forged);
        assert_eq!(l.ignored().id, 1);
    }

    #[test]
    fn an_invalid_name_is_refused_before_asking() {
        let t = Instant::now();
        let long = "x".repeat(64);
        let mut l = Lookup::new(&long, Family::V4, &conf(""), 8, t, counter());
        assert!(sent(&mut l).is_empty());
        assert_eq!(l.result(), Some(&Err(Error::BadName)));
    }
}
