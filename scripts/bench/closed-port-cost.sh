#!/usr/bin/env bash
# What a datagram to an address where nothing listens costs the kernel, by how many sockets are
# bound to that port elsewhere on the host (loopback): a 200-peer mesh on loopback binds 40,000
# sockets to one port, and while it starts every peer sends to the peers not up yet.
#
#   scripts/bench/closed-port-cost.sh        (needs python3; opens up to 10,000 sockets)
#
# For each layout, N sockets bound to port 10002 on 127.63.x.y (SO_REUSEPORT, as a mesh's are;
# "connected" ones also connected to another address), then 2,000 datagrams sent to
# 127.65.0.9:10002, where nothing listens: wall time per send (the delivery, the failed socket
# lookup and the ICMP answer run inline in the sender's system call).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
python3 - <<'PY'
import resource, socket, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def layout(addrs, per, connect):
    socks = []
    for a in range(addrs):
        ip = f"127.63.{a // 250}.{a % 250 + 2}"
        for k in range(per):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((ip, 10002))
            if connect and k > 0:
                b = a + k
                s.connect((f"127.63.{b // 250}.{b % 250 + 2}", 10002))
            socks.append(s)
    return socks

print("| sockets on the port | layout | per send to a closed address, µs |")
print("|---|---|---|")
for addrs, per, connect in [(1, 1, False), (100, 1, False), (100, 50, False), (100, 50, True), (100, 100, True)]:
    if addrs * per + 16 > hard:
        print(f"| {addrs * per} | (over the limit of {hard} open files) | |")
        continue
    socks = layout(addrs, per, connect)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.64.0.1", 10002))
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        tx.sendto(b"x", ("127.65.0.9", 10002))
    per_send = (time.perf_counter() - t0) / n * 1e6
    kind = "connected, a peer each" if connect else "bound"
    print(f"| {len(socks)} | {addrs} addresses x {per}, {kind} | {per_send:.1f} |")
    for s in socks + [tx]:
        s.close()
PY
