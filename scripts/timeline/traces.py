#!/usr/bin/env python3
# Test traces for `process timeline` (Lab 1 JSON lines, docs/timeline.md "The trace format"),
# written as `process mutex --trace` writes them (same fields, same order), deterministic:
#
#   scripts/timeline/traces.py run MEGABYTES DIR    a valid 3-process run, DIR/p{1,2,3}.jsonl,
#                                                   about MEGABYTES MB (10^6 bytes) in all
#   scripts/timeline/traces.py repeat MEGABYTES DIR docs/interactive's session pasted onto itself
#                                                   (times moved on, clocks starting over), the
#                                                   shape that crowds a figure, DIR/p{1,2,3}.jsonl
#   scripts/timeline/traces.py never-leave N DIR    N processes that enter the CS at once and
#                                                   never leave (everyone inside at once), DIR/all.jsonl
#   scripts/timeline/traces.py lanes N DIR          N processes with 3 internal events each,
#                                                   DIR/all.jsonl
#   scripts/timeline/traces.py resends N DIR        P1's one REQUEST sent N times to P2 and P2's
#                                                   REPLY sent N times back, DIR/p{1,2}.jsonl
#
# DIR is created. `run` is a run of the Ricart-Agrawala core as the course's rules have it
# (`process timeline --check` holds on it): rounds where one process asks alone (some of its
# REQUESTs or REPLYs lost and resent after 1 s, some REPLYs arriving twice), rounds where two
# ask at once (the lower (T, id) enters, the other's REQUEST is deferred, resent every second
# and answered DEFERRED again, the REPLY sent after `left`), rounds where one asks while
# another is inside, internal events now and then; it stops after the whole round that
# reaches the size. Python 3, standard library only; 100 MB take a few seconds.
import os
import random
import sys

SEED = 20261203
T0 = 1796281434000000  # ts_us of the first line (microseconds since the epoch)
SECOND = 1_000_000
CS_US = 2 * SECOND  # cs_ms 2000: a deferred REQUEST is resent once or twice
RESEND_US = SECOND  # a REQUEST not answered is sent again every second


class Run:
    """A 3-process Lab 1 run: one global wall clock (`now`) that only moves forward, so every
    process's ts_us rise and every receive comes after its send."""

    def __init__(self, d, n=3):
        self.n = n
        self.rng = random.Random(SEED)
        self.r = self.rng.random
        self.now = T0
        self.clock = [0] * (n + 1)
        self.state = ["RELEASED"] * (n + 1)
        self.start = [0] * (n + 1)
        self.files = [None] + [open(os.path.join(d, f"p{p}.jsonl"), "w") for p in range(1, n + 1)]
        self.size = 0
        # mutex_summary counters
        self.cnt = [dict(requests=0, entries=0, sent=0, resent=0, resource_sent=0,
                         deferred_sent=0, duplicates=0, worst_wait_ms=0, wait_sum=0)
                    for _ in range(n + 1)]

    # --- writing ------------------------------------------------------------------------
    def raw(self, p, line):
        self.files[p].write(line)
        self.size += len(line)

    def step(self, lo=2, span=40):
        """Local time between two events of a process (µs)."""
        self.now += lo + int(self.r() * span)

    def net(self):
        """One datagram's trip on loopback (µs)."""
        self.now += 60 + int(self.r() * 240)

    def wait_until(self, ts):
        if ts > self.now:
            self.now = ts
        self.step()

    def ev(self, p, event, tail):
        self.step()
        now = self.now
        if tail:
            tail = "," + tail
        self.raw(p, f'{{"event":"{event}","t_ms":{(now - self.start[p]) // 1000},"ts_us":{now},'
                    f'"id":{p},"clock":{self.clock[p]},"state":"{self.state[p]}"{tail}}}\n')

    # --- a process's events -------------------------------------------------------------
    def listen(self, p):
        self.step(100, 1500)
        self.start[p] = self.now
        self.raw(p, f'{{"event":"mutex_listening","t_ms":0,"ts_us":{self.now},"id":{p},"n":{self.n},'
                    f'"addr":"127.0.82.{p + 1}:{10001 + p}","resource":"127.0.82.1:10001",'
                    f'"cs_ms":{CS_US // 1000},"automatic_requests":false}}\n')
        self.sent(p, "HELLO", '"resource"', 0)
        self.net()
        self.ev(p, "acked", '"of":"HELLO","t":0')

    def peer_up(self, p, q):
        self.step()
        self.raw(p, f'{{"event":"peer_up","t_ms":{(self.now - self.start[p]) // 1000},"ts_us":{self.now},'
                    f'"peer":"127.0.82.{q + 1}:{10001 + q}","addr":"127.0.82.{q + 1}:{10001 + q}","group":null}}\n')

    def sent(self, p, kind, to, t, resend=False):
        c = self.cnt[p]
        if to == '"resource"':
            c["resource_sent"] += 1
        elif kind == "DEFERRED":
            c["deferred_sent"] += 1
        else:
            c["sent"] += 1
            if resend:
                c["resent"] += 1
        self.ev(p, "sent", f'"kind":"{kind}","to":{to},"t":{t},"resend":{"true" if resend else "false"}')
        return self.clock[p]

    def internal(self, p):
        self.clock[p] += 1
        self.ev(p, "internal", "")

    def requested(self, p):
        self.clock[p] += 1
        self.state[p] = "WANTED"
        self.cnt[p]["requests"] += 1
        self.ev(p, "requested", f'"t":{self.clock[p]},"need":{self.n - 1}')
        return self.clock[p]

    def request(self, p, frm, t, deferred=False):
        self.clock[p] = max(self.clock[p], t) + 1
        self.ev(p, "request", f'"from":{frm},"t":{t},"answer":"{"deferred" if deferred else "replied"}"')

    def reply(self, p, frm, t, their_clock, got):
        """A REPLY sent by `frm` with clock `their_clock` arrives."""
        self.clock[p] = max(self.clock[p], their_clock) + 1
        self.ev(p, "reply", f'"from":{frm},"t":{t},"got":{got},"need":{self.n - 1}')

    def stale(self, p, kind, frm, t):
        self.cnt[p]["duplicates"] += 1
        self.ev(p, "stale", f'"kind":"{kind}","from":{frm},"t":{t}')

    def deferred_by(self, p, frm, t, their_t=None):
        why = '"why":"held"' if their_t is None else f'"why":"first","their_t":{their_t}'
        self.ev(p, "deferred_by", f'"from":{frm},"t":{t},{why}')

    def enter(self, p, t, asked_at):
        self.state[p] = "HELD"
        waited = (self.now - asked_at) // 1000
        c = self.cnt[p]
        c["entries"] += 1
        c["wait_sum"] += waited
        c["worst_wait_ms"] = max(c["worst_wait_ms"], waited)
        self.ev(p, "entered", f'"t":{t},"waited_ms":{waited}')
        self.sent(p, "ENTER", '"resource"', t)
        self.net()
        self.ev(p, "acked", f'"of":"ENTER","t":{t}')

    def leave(self, p, t, deferred):
        """`left`, EXIT to the resource, then the deferred REPLYs (`deferred`: [(q, T)])."""
        self.ev(p, "left", f'"t":{t}')
        self.sent(p, "EXIT", '"resource"', t)
        self.net()
        self.ev(p, "acked", f'"of":"EXIT","t":{t}')
        self.state[p] = "RELEASED"
        sent_with = [self.sent(p, "REPLY", q, tq) for q, tq in deferred]
        self.ev(p, "released", f'"replied":{len(deferred)}')
        return sent_with

    def summary(self, p):
        self.step()
        c = self.cnt[p]
        avg = c["wait_sum"] // c["entries"] if c["entries"] else 0
        self.raw(p, f'{{"event":"mutex_summary","t_ms":{(self.now - self.start[p]) // 1000},"ts_us":{self.now},'
                    f'"id":{p},"ran_ms":{(self.now - self.start[p]) // 1000},"requests":{c["requests"]},'
                    f'"entries":{c["entries"]},"sent":{c["sent"]},"resent":{c["resent"]},'
                    f'"resource_sent":{c["resource_sent"]},"resource_resent":0,"resource_silent":0,'
                    f'"deferred_sent":{c["deferred_sent"]},"duplicates":{c["duplicates"]},"malformed":0,'
                    f'"rejected":0,"lists_differ":0,"worst_wait_ms":{c["worst_wait_ms"]},"avg_wait_ms":{avg},'
                    f'"clock":{self.clock[p]},"state":"{self.state[p]}","down":0,"events_dropped":0}}\n')

    # --- rounds -------------------------------------------------------------------------
    def idle(self):
        """Time between rounds, with now and then a key typed (an internal event)."""
        self.now += 50_000 + int(self.r() * 1_500_000)
        while self.r() < 0.15:
            self.internal(1 + int(self.r() * self.n))
            self.now += int(self.r() * 200_000)

    def in_cs(self, until):
        """While someone is inside: maybe an internal event somewhere."""
        if self.r() < 0.1:
            self.now += int(self.r() * (until - self.now) * 0.8)
            self.internal(1 + int(self.r() * self.n))

    def others(self, p):
        return [q for q in range(1, self.n + 1) if q != p]

    def solo(self, i):
        """i asks alone. For each peer: delivered (most), the REQUEST lost (resent after 1 s),
        the REPLY lost (the resent REQUEST is a duplicate there, answered with the REPLY
        again), or the REPLY slow (the resend's REPLY arrives first, the slow one after it as
        a duplicate)."""
        self.idle()
        T = self.requested(i)
        asked = self.now
        peers = self.others(i)
        for j in peers:
            self.sent(i, "REQUEST", j, T)
        pat = {}
        for j in peers:
            x = self.r()
            pat[j] = "ok" if x < 0.85 else "lost_req" if x < 0.90 else "lost_reply" if x < 0.95 else "slow_reply"
        got = 0
        cj = {}  # the clock each peer's REPLY was sent with
        for j in peers:
            if pat[j] != "lost_req":
                self.net()
                self.request(j, i, T)
                cj[j] = self.sent(j, "REPLY", i, T)
        for j in peers:
            if pat[j] == "ok":
                self.net()
                got += 1
                self.reply(i, j, T, cj[j], got)
        again = [j for j in peers if pat[j] != "ok"]
        if again:
            self.wait_until(asked + RESEND_US)
            for j in again:
                self.sent(i, "REQUEST", j, T, resend=True)
            for j in again:
                self.net()
                if pat[j] == "lost_req":
                    self.request(j, i, T)
                    cj[j] = self.sent(j, "REPLY", i, T)
                else:
                    # (the slow REPLY's clock is the same: the peer did nothing in between)
                    self.stale(j, "REQUEST", i, T)
                    cj[j] = self.sent(j, "REPLY", i, T, resend=True)
            for j in again:
                self.net()
                got += 1
                self.reply(i, j, T, cj[j], got)
                if pat[j] == "slow_reply":
                    self.net()
                    self.stale(i, "REPLY", j, T)
        self.enter(i, T, asked)
        until = self.now + CS_US
        self.in_cs(until)
        self.wait_until(until)
        self.leave(i, T, [])

    def contended(self, w, l, Tw, Tl, l_asked, until):
        """w is inside until `until`; l's REQUEST was deferred by w (DEFERRED sent and heard)
        and l has the third process's REPLY. l sends its REQUEST to w again every second (a
        duplicate there, answered DEFERRED again) until w leaves and sends its REPLY; then l
        enters."""
        self.in_cs(until)
        k = 1
        while l_asked + k * RESEND_US < until:
            self.wait_until(l_asked + k * RESEND_US)
            self.sent(l, "REQUEST", w, Tl, resend=True)
            self.net()
            self.stale(w, "REQUEST", l, Tl)
            self.sent(w, "DEFERRED", l, Tl, resend=True)
            self.net()
            self.stale(l, "DEFERRED", w, Tl)
            k += 1
        self.wait_until(until)
        (cw,) = self.leave(w, Tw, [(l, Tl)])
        self.net()
        self.reply(l, w, Tl, cw, self.n - 1)
        self.enter(l, Tl, l_asked)
        until = self.now + CS_US
        self.in_cs(until)
        self.wait_until(until)
        self.leave(l, Tl, [])

    def concurrent(self, a, b):
        """a and b ask at once (each before hearing the other's REQUEST): the lower (T, id)
        defers the other's REQUEST and enters first."""
        (c,) = [q for q in range(1, self.n + 1) if q not in (a, b)]
        self.idle()
        Ta = self.requested(a)
        a_asked = self.now
        for q in (b, c):
            self.sent(a, "REQUEST", q, Ta)
        Tb = self.requested(b)
        b_asked = self.now
        for q in (a, c):
            self.sent(b, "REQUEST", q, Tb)
        (w, Tw), (l, Tl) = sorted([(a, Ta), (b, Tb)], key=lambda x: (x[1], x[0]))
        l_asked = b_asked if l == b else a_asked
        # the third answers both
        self.net()
        cc = {}  # the clock of the third's REPLY to each
        for p, T in ((a, Ta), (b, Tb)):
            self.request(c, p, T)
            cc[p] = self.sent(c, "REPLY", p, T)
        # w defers l (it asked first); l answers w
        self.request(w, l, Tl, deferred=True)
        self.sent(w, "DEFERRED", l, Tl)
        self.request(l, w, Tw)
        cl = self.sent(l, "REPLY", w, Tw)
        self.net()
        self.deferred_by(l, w, Tl, their_t=Tw)
        self.reply(l, c, Tl, cc[l], 1)
        first = [(c, cc[w]), (l, cl)]
        if self.r() < 0.5:
            first.reverse()
        for got, (q, cq) in enumerate(first, 1):
            self.reply(w, q, Tw, cq, got)
        self.enter(w, Tw, a_asked if w == a else b_asked)
        self.contended(w, l, Tw, Tl, l_asked, self.now + CS_US)

    def while_inside(self, w, l):
        """w asks alone and enters; l asks while w is inside: deferred ("held") until w leaves."""
        (c,) = [q for q in range(1, self.n + 1) if q not in (w, l)]
        self.idle()
        Tw = self.requested(w)
        w_asked = self.now
        for q in (l, c):
            self.sent(w, "REQUEST", q, Tw)
        self.net()
        cq = {}
        for q in (l, c):
            self.request(q, w, Tw)
            cq[q] = self.sent(q, "REPLY", w, Tw)
        self.net()
        for got, q in enumerate((l, c) if self.r() < 0.5 else (c, l), 1):
            self.reply(w, q, Tw, cq[q], got)
        self.enter(w, Tw, w_asked)
        until = self.now + CS_US
        self.now += int(self.r() * CS_US * 0.6)
        Tl = self.requested(l)
        l_asked = self.now
        for q in (w, c):
            self.sent(l, "REQUEST", q, Tl)
        self.net()
        self.request(w, l, Tl, deferred=True)
        self.sent(w, "DEFERRED", l, Tl)
        self.request(c, l, Tl)
        cc = self.sent(c, "REPLY", l, Tl)
        self.net()
        self.deferred_by(l, w, Tl)
        self.reply(l, c, Tl, cc, 1)
        self.contended(w, l, Tw, Tl, l_asked, until)

    def go(self, target):
        for p in range(1, self.n + 1):
            self.listen(p)
        for p in range(1, self.n + 1):
            for q in self.others(p):
                self.peer_up(p, q)
        # one round of each kind first, so that even a small run has them all
        kinds = [0.1, 0.7, 0.9]
        while True:
            x = kinds.pop(0) if kinds else self.r()
            ps = list(range(1, self.n + 1))
            self.rng.shuffle(ps)
            if x < 0.5:
                self.solo(ps[0])
            elif x < 0.8:
                self.concurrent(ps[0], ps[1])
            else:
                self.while_inside(ps[0], ps[1])
            if self.size >= target:
                break
        for p in range(1, self.n + 1):
            self.summary(p)
        for f in self.files[1:]:
            f.close()


def line(event, ts, start, p, clock, state, tail):
    return (f'{{"event":"{event}","t_ms":{(ts - start) // 1000},"ts_us":{ts},"id":{p},'
            f'"clock":{clock},"state":"{state}"{"," + tail if tail else ""}}}\n')


def listening(ts, p, n):
    return (f'{{"event":"mutex_listening","t_ms":0,"ts_us":{ts},"id":{p},"n":{n},'
            f'"addr":"127.0.90.1:{10001 + p}","resource":"127.0.90.1:10001",'
            f'"cs_ms":1000,"automatic_requests":false}}\n')


def never_leave(n, d):
    ts = T0
    out = []
    for p in range(1, n + 1):
        ts += 17
        start = ts
        out.append(listening(ts, p, n))
        ts += 13
        out.append(line("requested", ts, start, p, 1, "WANTED", f'"t":1,"need":{n - 1}'))
        ts += 11
        out.append(line("entered", ts, start, p, 1, "HELD", '"t":1,"waited_ms":0'))
    # Each then says it is still inside after every entry (an internal event): the overlaps
    # are in the traces, not after their ends.
    for p in range(1, n + 1):
        ts += 7
        out.append(line("internal", ts, T0, p, 2, "HELD", ""))
    with open(os.path.join(d, "all.jsonl"), "w") as f:
        f.write("".join(out))


def lanes(n, d):
    ts = T0
    out = []
    for p in range(1, n + 1):
        ts += 17
        start = ts
        out.append(listening(ts, p, n))
        for c in (1, 2, 3):
            ts += 1000 + (p * 7919 + c * 104729) % 5000
            out.append(line("internal", ts, start, p, c, "RELEASED", ""))
    with open(os.path.join(d, "all.jsonl"), "w") as f:
        f.write("".join(out))


def resends(n, d):
    rng = random.Random(SEED)
    ts = T0
    p1, p2 = [], []
    s1 = ts
    p1.append(listening(ts, 1, 2))
    ts += 1500
    s2 = ts
    p2.append(listening(ts, 2, 2))
    ts += 20_000
    p1.append(line("requested", ts, s1, 1, 1, "WANTED", '"t":1,"need":1'))
    for k in range(n):
        rs = "true" if k else "false"
        ts += 9 + rng.randrange(20)
        # (clock 1 until the REPLY arrives, 3 after)
        p1.append(line("sent", ts, s1, 1, 3 if k else 1, "WANTED", f'"kind":"REQUEST","to":2,"t":1,"resend":{rs}'))
        ts += 60 + rng.randrange(240)
        if k == 0:
            p2.append(line("request", ts, s2, 2, 2, "RELEASED", '"from":1,"t":1,"answer":"replied"'))
        else:
            p2.append(line("stale", ts, s2, 2, 2, "RELEASED", '"kind":"REQUEST","from":1,"t":1'))
        ts += 5 + rng.randrange(20)
        p2.append(line("sent", ts, s2, 2, 2, "RELEASED", f'"kind":"REPLY","to":1,"t":1,"resend":{rs}'))
        ts += 60 + rng.randrange(240)
        if k == 0:
            p1.append(line("reply", ts, s1, 1, 3, "WANTED", '"from":2,"t":1,"got":1,"need":1'))
        else:
            p1.append(line("stale", ts, s1, 1, 3, "WANTED", '"kind":"REPLY","from":2,"t":1'))
        ts += SECOND - 1000 + rng.randrange(2000)  # the next copy a second later
    enter_ts = ts
    p1.append(line("entered", ts, s1, 1, 3, "HELD", f'"t":1,"waited_ms":{(ts - s1 - 20_000) // 1000}'))
    ts += 4
    p1.append(line("sent", ts, s1, 1, 3, "HELD", '"kind":"ENTER","to":"resource","t":1,"resend":false'))
    ts += 120
    p1.append(line("acked", ts, s1, 1, 3, "HELD", '"of":"ENTER","t":1'))
    ts = enter_ts + SECOND
    p1.append(line("left", ts, s1, 1, 3, "HELD", '"t":1'))
    ts += 35
    p1.append(line("sent", ts, s1, 1, 3, "HELD", '"kind":"EXIT","to":"resource","t":1,"resend":false'))
    ts += 130
    p1.append(line("acked", ts, s1, 1, 3, "HELD", '"of":"EXIT","t":1'))
    ts += 3
    p1.append(line("released", ts, s1, 1, 3, "RELEASED", '"replied":0'))
    for name, out in (("p1.jsonl", p1), ("p2.jsonl", p2)):
        with open(os.path.join(d, name), "w") as f:
            f.write("".join(out))


def repeat(mb, d):
    """docs/interactive's recorded session written again and again (its start line once, the
    times moved on by the session's length each copy) until about `mb` MB: one long life per
    process whose clocks start over every copy. Not a valid run (--check finds its clocks
    going back); the shape of a trace made by pasting a run onto itself, which piles events
    of equal clocks onto the same places of a figure."""
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "..", "docs", "interactive")
    lives = {}
    for name in ("p1.jsonl", "p2.jsonl", "p3.jsonl"):
        with open(os.path.join(src, name)) as f:
            lives[name] = f.read().splitlines()
    stamps = [json.loads(l).get("ts_us", 0) for ls in lives.values() for l in ls]
    span = max(stamps) - min(stamps) + 1_000_000
    target = int(mb * 1_000_000)
    outs = {name: open(os.path.join(d, name), "w") for name in lives}
    written, k = 0, 0
    while written < target:
        for name, ls in lives.items():
            for l in ls:
                o = json.loads(l)
                if o.get("event") == "mutex_listening" and k > 0:
                    continue
                if "ts_us" in o:
                    o["ts_us"] += k * span
                text = json.dumps(o, separators=(",", ":"), ensure_ascii=False) + "\n"
                outs[name].write(text)
                written += len(text)
        k += 1
    for f in outs.values():
        f.close()


def usage():
    sys.stderr.write("usage: traces.py run MEGABYTES DIR | repeat MEGABYTES DIR | never-leave N DIR | lanes N DIR | resends N DIR\n")
    sys.exit(2)


def main(argv):
    if len(argv) != 4:
        usage()
    cmd, num, d = argv[1], argv[2], argv[3]
    try:
        x = float(num) if cmd in ("run", "repeat") else int(num)
    except ValueError:
        usage()
    if x <= 0:
        usage()
    os.makedirs(d, exist_ok=True)
    if cmd == "run":
        Run(d).go(int(x * 1_000_000))
    elif cmd == "repeat":
        repeat(x, d)
    elif cmd == "never-leave":
        never_leave(x, d)
    elif cmd == "lanes":
        lanes(x, d)
    elif cmd == "resends":
        resends(x, d)
    else:
        usage()


if __name__ == "__main__":
    main(sys.argv)
