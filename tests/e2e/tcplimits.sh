#!/bin/bash
# tests/e2e/tcplimits.sh - TCP limits against abuse (issue 8): the read
# timeout against slowloris (tcp_read_timeout), eviction of idle connections
# under pressure while a good client still gets answers (RFC 7766 6.2.3),
# the per-address cap (tcp_max_connections_per_client), connections with a
# query in progress that are not evicted, and max_message_size.
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

# config EXTRA_LINES...: a small namespace plus the lines given.
config() {
	printf '%s\n' "listen: [\"127.0.0.1:0\"]" "$@"
	cat <<EOF
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80}
EOF
}

# The helpers every python check below uses.
cat >"$T/tcpc.py" <<'EOF'
import socket, struct, time

def ok(c, what):
    print(("ok - " if c else "not ok - ") + what, flush=True)

def query(qid, qname="payments-v1.local", qtype=1):
    n = b"".join(bytes([len(l)]) + l.encode() for l in qname.split(".")) + b"\0"
    m = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + n + struct.pack("!HH", qtype, 1)
    return struct.pack("!H", len(m)) + m

def recv_msg(s):
    b = b""
    while len(b) < 2:
        c = s.recv(2 - len(b))
        if not c:
            return None
        b += c
    n = struct.unpack("!H", b)[0]
    m = b""
    while len(m) < n:
        c = s.recv(n - len(m))
        if not c:
            return None
        m += c
    return m

def ask(s, qid, qname="payments-v1.local"):
    """'ok', 'EOF' or the error."""
    try:
        s.sendall(query(qid, qname))
        m = recv_msg(s)
        if m is None:
            return "EOF"
        return "ok" if struct.unpack("!H", m[:2])[0] == qid else "bad id"
    except OSError as e:
        return "EOF" if isinstance(e, (ConnectionResetError, BrokenPipeError)) else str(e)

def closed(s, secs):
    """True when the server closes s (EOF or reset) within secs."""
    s.settimeout(secs)
    try:
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError:
        return False

def connect(port, src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(3)
    s.connect(("127.0.0.1", port))
    return s
EOF
export PYTHONPATH="$T"

# ---- slowloris: read timeout 1 s, at most 8 connections ----
config "tcp_max_connections: 8" "tcp_max_connections_per_client: 100" \
	"tcp_read_timeout: 1" "tcp_idle_timeout: 5" >"$T/slow.yaml"
start_meshdns "$T/slow.yaml" "$T/meshdns-slow.log"
py_checks - "$PORT" <<'EOF'
import socket, sys, threading, time
from tcpc import *
port = int(sys.argv[1])

# One slow client alone: a byte every 0.2 s does not keep the message alive.
s = connect(port)
q = query(0x77)
t0 = time.monotonic()
closed_at = None
for i in range(len(q)):
    try:
        s.sendall(q[i:i + 1])
    except OSError:
        closed_at = time.monotonic() - t0
        break
    s.settimeout(0.2)
    try:
        if s.recv(100) == b"":
            closed_at = time.monotonic() - t0
            break
    except socket.timeout:
        pass
    except OSError:
        closed_at = time.monotonic() - t0
        break
ok(closed_at is not None and 0.8 <= closed_at <= 1.8,
   "a query trickled a byte per 0.2 s is cut off by the 1 s read timeout (%s s)" %
   (None if closed_at is None else "%.2f" % closed_at))
s.close()

# 30 slow clients (twice they send one more byte of a half message) against
# a cap of 8: every one is closed within the read timeout (or evicted
# sooner), and a good client gets every answer meanwhile.
slow, start, end = [], {}, {}
for i in range(30):
    c = connect(port)
    c.sendall(b"\x00")
    start[c] = time.monotonic()
    slow.append(c)
def watch(c):
    c.settimeout(0.3)
    sent = 1
    while time.monotonic() - start[c] < 4:
        try:
            if c.recv(100) == b"":
                break
        except socket.timeout:
            if sent < 3:
                try:
                    c.sendall(b"\x30" if sent == 1 else b"\x00")
                    sent += 1
                except OSError:
                    break
            continue
        except OSError:
            break
    end[c] = time.monotonic()
th = [threading.Thread(target=watch, args=(c,)) for c in slow]
for t in th:
    t.start()
good = 0
for i in range(10):
    g = connect(port)
    good += ask(g, 0x100 + i) == "ok"
    g.close()
    time.sleep(0.05)
for t in th:
    t.join()
longest = max(end[c] - start[c] for c in slow)
ok(good == 10, "under a slowloris flood a good client gets 10 of 10 answers (%d)" % good)
ok(longest <= 1.8, "every one of 30 slow connections closed within the read timeout (longest %.2f s)" % longest)
for c in slow:
    c.close()
EOF
check "dig +tcp after the flood" eval '[ "$(short +tcp payments-v1.local A)" = 127.0.0.11 ]'
check "server still running" kill -0 "$MESHDNS_PID"
stop_meshdns

# ---- per-address cap: 3 ----
config "tcp_max_connections: 100" "tcp_max_connections_per_client: 3" >"$T/per.yaml"
start_meshdns "$T/per.yaml" "$T/meshdns-per.log"
py_checks - "$PORT" <<'EOF'
import sys, time
from tcpc import *
port = int(sys.argv[1])
cs = [connect(port) for i in range(3)]
ok(all(ask(c, 1 + i) == "ok" for i, c in enumerate(cs)), "per client 3: three connections answered")
c4 = connect(port)
ok(closed(c4, 2), "per client 3: a fourth from 127.0.0.1 is closed at once")
try:
    other = connect(port, "127.0.0.2")
    ok(ask(other, 9) == "ok", "per client 3: 127.0.0.2 is still served")
    other.close()
except OSError as e:
    print("# no 127.0.0.2 source address: %s" % e)
ok(all(ask(c, 20 + i) == "ok" for i, c in enumerate(cs)), "per client 3: the first three still work")
cs[0].close()
time.sleep(0.2)
c5 = connect(port)
ok(ask(c5, 30) == "ok", "per client 3: after one closed, a new one is admitted")
for c in cs[1:] + [c4, c5]:
    c.close()
EOF
stop_meshdns

# ---- a connection with a query in progress is not evicted ----
# The upstream is a UDP socket that never answers: a forwarded query stays in
# progress until upstream_timeout (2 s) answers it SERVFAIL.
python3 - "$T/hole.port" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    s.recv(4096)
EOF
HOLE_PID=$!
PIDS="$PIDS $HOLE_PID"
wait_until 5 test -s "$T/hole.port" || bail "black-hole upstream starts"
config "upstream: [\"127.0.0.1:$(cat "$T/hole.port")\"]" "upstream_timeout: 2" \
	"tcp_max_connections: 2" >"$T/busy.yaml"
start_meshdns "$T/busy.yaml" "$T/meshdns-busy.log"
py_checks - "$PORT" <<'EOF'
import struct, sys, time
from tcpc import *
port = int(sys.argv[1])
a = connect(port)
a.sendall(query(0xA, "example.com"))       # forwarded: in progress for 2 s
time.sleep(0.1)
b = connect(port)
ok(ask(b, 0xB) == "ok", "busy: second connection answered (now idle)")
time.sleep(0.1)
c = connect(port)
ok(ask(c, 0xC) == "ok", "busy: third connection answered")
ok(closed(b, 1), "busy: the idle connection was evicted, not the older busy one")
c.sendall(query(0xD, "example.net"))       # now both held are busy
time.sleep(0.1)
d = connect(port)
ok(closed(d, 1), "busy: with every connection busy, a new one is closed")
a.settimeout(4)
m = recv_msg(a)
ok(m is not None and struct.unpack("!H", m[:2])[0] == 0xA and (m[3] & 0xF) == 2,
   "busy: the busy connection got its answer (SERVFAIL from the silent upstream)")
c.settimeout(4)
m = recv_msg(c)
ok(m is not None and struct.unpack("!H", m[:2])[0] == 0xD, "busy: the other busy one too")
for s in (a, b, c, d):
    s.close()
EOF
stop_meshdns

# ---- max_message_size: 1024 ----
config "max_message_size: 1024" >"$T/size.yaml"
start_meshdns "$T/size.yaml" "$T/meshdns-size.log"
py_checks - "$PORT" <<'EOF'
import socket, struct, sys
from tcpc import *
port = int(sys.argv[1])
s = connect(port)
s.sendall(struct.pack("!H", 2000) + b"\0" * 100)
ok(closed(s, 2), "max 1024: a TCP length prefix of 2000 closes the connection")
s.close()
s = connect(port)
q = query(0x55)[2:]
pad = q + b"\0" * 0
ok(ask(s, 0x56) == "ok", "max 1024: a normal TCP query is answered")
s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1)
big = q + b"\0" * 1500
u.sendto(big, ("127.0.0.1", port))
try:
    u.recv(4096)
    got = True
except socket.timeout:
    got = False
ok(not got, "max 1024: a 1.5 KB UDP datagram gets no answer")
u.sendto(q, ("127.0.0.1", port))
try:
    got = struct.unpack("!H", u.recv(4096)[:2])[0] == 0x55
except socket.timeout:
    got = False
ok(got, "max 1024: a normal UDP query is answered")
EOF
check "udp_payload stays the EDNS answer cap: dig +bufsize=4096 sees 1232" \
	eval 'q +bufsize=4096 payments-v1.local | grep -q "udp: 1232"'
stop_meshdns

done_testing
