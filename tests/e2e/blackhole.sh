#!/bin/bash
# tests/e2e/blackhole.sh - an upstream that reads every query and never
# answers, under load: 10,000 queries for distinct uncached names, at most
# 300 in flight, each must get SERVFAIL within upstream_timeout (0.5 s, plus
# 0.5 s of slack for a loaded 2-core machine) and none may go unanswered.
# Afterwards the resolver holds no more file descriptors than before and
# its RSS is within 1 MiB of what it was after a 2,000-query warm-up.
#
# Why 1 MiB: each forwarded question costs a pending entry and a waiter
# (about 300 and 280 bytes) plus c-ares's query state (a few hundred bytes);
# leaking any of them for 10,000 questions would add several MiB, while the
# allocator's own slack after a warm-up is well under 1 MiB.
. "$(dirname "$0")/lib.sh"

# In an AddressSanitizer build freed memory waits in a quarantine (256 MiB
# by default) and RSS grows with every free: without it, RSS means again
# what it means here. (ASan's leak check at exit still runs.)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0

# The black hole: a UDP socket on a kernel-chosen port that reads and drops.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
n = 0
while True:
    s.recv(4096)
    n += 1
    if n % 1000 == 0:
        print(n, flush=True)
' >"$T/hole.out" &
HOLE_PID=$!
PIDS="$PIDS $HOLE_PID"
wait_until 10 eval '[ -s "$T/hole.out" ]' || bail "the black-hole upstream starts"
HOLE_PORT=$(head -n1 "$T/hole.out")

cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
upstream: ["127.0.0.1:$HOLE_PORT"]
upstream_timeout: 0.5
upstream_max_inflight: 1000
namespaces:
  - name: local
    services:
      payments:
        instances:
          - {id: a, address: 10.1.0.1, port: 8080}
EOF
start_meshdns "$T/meshdns.yaml"

fds() { ls "/proc/$MESHDNS_PID/fd" | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MESHDNS_PID/status"; }

# storm FIRST N: N A queries for q<FIRST..>.example.com, at most 300 in
# flight; prints "sent answered servfail other late max_ms" (late: answered
# after 1000 ms; other: any rcode but SERVFAIL).
storm() {
	python3 - "$PORT" "$1" "$2" <<'PY'
import select, socket, struct, sys, time
port, first, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
WINDOW, LIMIT = 300, 3.0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
# Kernel arrival times: a sender starved of CPU for a moment must not make
# the server's answers look late.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.connect(("127.0.0.1", port))
def query(qid, k):
    name = b"".join(bytes([len(l)]) + l for l in (b"q%d" % k, b"example", b"com")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
sent_at, done, outstanding = {}, {}, set()
nxt, servfail, other, late, maxms = 0, 0, 0, 0, 0.0
while len(done) < n:
    while nxt < n and len(outstanding) < WINDOW:
        sent_at[nxt] = time.time()
        outstanding.add(nxt)
        s.send(query(nxt, first + nxt))
        nxt += 1
    # An unanswered query older than LIMIT: stop, it counts as unanswered.
    if outstanding and time.time() - min(sent_at[i] for i in outstanding) > LIMIT:
        break
    if not select.select([s], [], [], 0.2)[0]:
        continue
    while True:
        try:
            m, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16), socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        arrived = time.time()
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = struct.unpack("qq", data[:16])
                arrived = sec + nsec / 1e9
        qid, flags = struct.unpack(">HH", m[:4])
        if qid not in sent_at or qid in done:
            continue
        ms = (arrived - sent_at[qid]) * 1000
        done[qid] = ms
        outstanding.discard(qid)
        maxms = max(maxms, ms)
        if flags & 0xF == 2:
            servfail += 1
        else:
            other += 1
        if ms > 1000:
            late += 1
print(nxt, len(done), servfail, other, late, int(maxms))
PY
}

# Warm-up: the loop, c-ares and the allocator reach their working size.
read -r sent answered servfail other late maxms < <(storm 100000 2000)
check "warm-up: 2000 queries answered SERVFAIL ($answered/$sent, max ${maxms} ms)" \
	[ "$servfail" = 2000 ]
sleep 1 # c-ares gives up on the last tries after the deadline
FD0=$(fds)
RSS0=$(rss)

start=$(date +%s%N)
read -r sent answered servfail other late maxms < <(storm 0 10000)
ms=$(elapsed_ms "$start")
echo "# 10000 queries in $ms ms: sent=$sent answered=$answered servfail=$servfail other=$other late=$late max=${maxms} ms"
check "10000 distinct names through a silent upstream: all sent ($sent)" [ "$sent" = 10000 ]
check "none unanswered ($((sent - answered)) without an answer)" [ "$answered" = "$sent" ]
check "every answer is SERVFAIL ($servfail; other rcodes: $other)" [ "$servfail" = 10000 ]
check "each within 1000 ms (timeout 0.5 s; slowest ${maxms} ms, $late late)" [ "$late" = 0 ]
HOLE_SAW=$(tail -n1 "$T/hole.out")
check "the queries did reach the upstream (it read >= 10000 of them; its count: $HOLE_SAW)" \
	[ "$HOLE_SAW" -ge 10000 ]

# Datagrams the kernel dropped on meshdns's query socket (the last column
# of /proc/net/udp, summed over the sockets of every thread): a full
# receive buffer loses queries before meshdns sees them.
udp_drops() {
	awk -v a="$(printf '0100007F:%04X' "$PORT")" '$2 == a { d += $NF } END { print d + 0 }' \
		/proc/net/udp
}
check "the kernel dropped no query on meshdns's socket (drops=$(udp_drops))" [ "$(udp_drops)" = 0 ]

sleep 1
FD1=$(fds)
RSS1=$(rss)
echo "# fds $FD0 -> $FD1, VmRSS $RSS0 -> $RSS1 KiB"
check "file descriptors after = before ($FD0 -> $FD1)" [ "$FD1" -le "$FD0" ]
check "VmRSS within 1 MiB of the warm-up's ($RSS0 -> $RSS1 KiB)" [ "$RSS1" -le $((RSS0 + 1024)) ]
check "the resolver still answers its own names" eval '[ "$(short payments.local A)" = 10.1.0.1 ]'
stop_meshdns
check "and stops cleanly (exit 0)" [ $? -eq 0 ]

done_testing
