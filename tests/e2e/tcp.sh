#!/bin/bash
# tests/e2e/tcp.sh - DNS over TCP (RFC 7766): dig and kdig, large answers,
# pipelined queries answered in order, a query split across segments, the
# idle timeout (tcp_idle_timeout) and the connection cap
# (tcp_max_connections: the least recently active connection makes room).
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need kdig knot-dnsutils

# config IDLE MAXCONN
config() {
	cat <<EOF
listen: ["127.0.0.1:0"]
tcp_idle_timeout: $1
tcp_max_connections: $2
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80}
          - {id: b, address: 127.0.0.12, port: 80}
      big:
        instances:
EOF
	for i in $(seq 1 60); do
		echo "          - {id: i$i, address: 127.0.2.$i, port: 80}"
	done
}

# ---- idle timeout 0.5 s ----
config 0.5 100 >"$T/idle.yaml"
start_meshdns "$T/idle.yaml" "$T/meshdns-idle.log"
IDLE_PORT=$PORT

check "dig +tcp" eval '[ "$(short +tcp payments-v1.local A | sort | tr "\n" " ")" = "127.0.0.11 127.0.0.12 " ]'
check "dig +tcp: 60 SRV records with their glue" \
	eval '[ "$(q +tcp big.local SRV +noall +answer | grep -c SRV)" = 60 ] && [ "$(q +tcp big.local SRV +noall +additional | grep -c -w A)" = 60 ]'
check "dig +tcp: flags qr aa, no tc" eval 'q +tcp big.local SRV | grep -q "flags: qr aa rd;"'
check "kdig +tcp" eval '[ "$(kdig @127.0.0.1 -p "$PORT" +tcp +short payments-v1.local A | sort | tr "\n" " ")" = "127.0.0.11 127.0.0.12 " ]'
check "kdig +tcp: 60 SRV records" \
	eval '[ "$(kdig @127.0.0.1 -p "$PORT" +tcp +short big.local SRV | wc -l)" = 60 ]'
check "kdig over UDP falls back to TCP for a truncated answer" \
	eval '[ "$(kdig @127.0.0.1 -p "$PORT" +short big.local SRV 2>/dev/null | grep -c "^0 ")" = 60 ]'

py_checks - "$PORT" <<'EOF'
import socket, struct, sys, time
port = int(sys.argv[1])

def ok(c, what):
    print(("ok - " if c else "not ok - ") + what, flush=True)

def name(t):
    return b"".join(bytes([len(l)]) + l.encode() for l in t.split(".")) + b"\0"

def query(qid, qname, qtype):
    m = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name(qname) + struct.pack("!HH", qtype, 1)
    return struct.pack("!H", len(m)) + m

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("EOF after %d of %d bytes" % (len(b), n))
        b += c
    return b

def read_msg(s):
    n = struct.unpack("!H", recv_exact(s, 2))[0]
    return recv_exact(s, n)

# Pipelining: ten queries in one write, ten answers in order.
qs = [(0x1000 + i, ("big.local", 33) if i % 3 == 0 else ("payments-v1.local", 1)) for i in range(10)]
s = socket.create_connection(("127.0.0.1", port), timeout=3)
s.sendall(b"".join(query(qid, n, t) for qid, (n, t) in qs))
ids, sizes, err = [], [], None
try:
    for _ in qs:
        m = read_msg(s)
        ids.append(struct.unpack("!H", m[:2])[0])
        sizes.append((struct.unpack("!H", m[6:8])[0], struct.unpack("!H", m[2:4])[0] & 0x20F))
except Exception as e:
    err = e
ok(err is None and len(ids) == 10, "pipelining: 10 answers to 10 queries in one write (%s)" % (err or "ok"))
ok(ids == [qid for qid, _ in qs], "pipelining: answers in order with matching IDs (%s)" % " ".join("%x" % i for i in ids))
ok(all(an == (60 if i % 3 == 0 else 2) and fl == 0 for i, (an, fl) in enumerate(sizes)),
   "pipelining: full answers, no TC, NOERROR (%s)" % sizes)

# The same connection keeps working; a query split across segments is answered.
q = query(0x2222, "payments-v1.local", 1)
s.sendall(q[:1]); time.sleep(0.05); s.sendall(q[1:9]); time.sleep(0.05); s.sendall(q[9:])
m = read_msg(s)
ok(struct.unpack("!H", m[:2])[0] == 0x2222, "query split across three segments answered")

# Activity keeps a connection open past the idle timeout (0.5 s).
good = True
for i in range(5):
    time.sleep(0.25)
    s.sendall(query(0x3000 + i, "payments-v1.local", 1))
    try:
        good = good and struct.unpack("!H", read_msg(s)[:2])[0] == 0x3000 + i
    except Exception:
        good = False
ok(good, "a connection with a query every 0.25 s stays open for 1.25 s")
s.close()

# Half-close: queries, then FIN. The answers come, and the server closes at
# once, not at the idle timeout (0.5 s).
s = socket.create_connection(("127.0.0.1", port), timeout=3)
s.sendall(b"".join(query(0x5000 + i, "payments-v1.local", 1) for i in range(3)))
s.shutdown(socket.SHUT_WR)
t0 = time.monotonic()
got, err, tail = 0, None, None
try:
    for _ in range(3):
        read_msg(s)
        got += 1
    tail = s.recv(100)
except Exception as e:
    err = e
el = time.monotonic() - t0
ok(got == 3 and tail == b"" and el < 0.3,
   "half-closed after 3 queries: 3 answers, closed after %.3f s (%s)" % (el, err or "ok"))
s.close()

# Idle: connect, say nothing; the server closes within the timeout.
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t0 = time.monotonic()
time.sleep(1.5)
try:
    data = s.recv(100)
except OSError as e:
    data = e
ok(data == b"", "idle connection closed by the server after 1.5 s (recv: %r)" % (data,))
s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
t0 = time.monotonic()
try:
    data = s.recv(100)
except OSError as e:
    data = e
el = time.monotonic() - t0
ok(data == b"" and 0.3 <= el <= 1.5, "idle timeout 0.5 s: closed after %.2f s" % el)
s.close()

# Idle after an answer: closed too.
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(query(0x4444, "payments-v1.local", 1))
read_msg(s)
time.sleep(1.5)
try:
    data = s.recv(100)
except OSError as e:
    data = e
ok(data == b"", "connection idle after an answer closed (recv: %r)" % (data,))
s.close()
EOF
stop_meshdns

# ---- at most 2 connections ----
config 10 2 >"$T/max.yaml"
start_meshdns "$T/max.yaml" "$T/meshdns-max.log"
py_checks - "$PORT" <<'EOF'
import socket, struct, sys, time
port = int(sys.argv[1])

def ok(c, what):
    print(("ok - " if c else "not ok - ") + what, flush=True)

def query(qid):
    m = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x0bpayments-v1\x05local\x00" + struct.pack("!HH", 1, 1)
    return struct.pack("!H", len(m)) + m

def ask(s, qid):
    try:
        s.sendall(query(qid))
        b = b""
        while len(b) < 2:
            c = s.recv(2 - len(b))
            if not c:
                return "EOF"
            b += c
        n = struct.unpack("!H", b)[0]
        m = b""
        while len(m) < n:
            c = s.recv(n - len(m))
            if not c:
                return "EOF"
            m += c
        return "ok" if struct.unpack("!H", m[:2])[0] == qid else "bad id"
    except OSError as e:
        return str(e)

def eof_within(s, secs):
    s.settimeout(secs)
    try:
        return s.recv(100) == b""
    except OSError:
        return False

c1 = socket.create_connection(("127.0.0.1", port), timeout=3)
ok(ask(c1, 1) == "ok", "max 2: first connection answered")
time.sleep(0.05)
c2 = socket.create_connection(("127.0.0.1", port), timeout=3)
ok(ask(c2, 2) == "ok", "max 2: second connection answered")
time.sleep(0.05)
c3 = socket.create_connection(("127.0.0.1", port), timeout=3)
ok(ask(c3, 3) == "ok", "max 2: third connection answered")
ok(eof_within(c1, 2), "max 2: the oldest idle connection was closed (EOF)")
c2.settimeout(3)
ok(ask(c2, 4) == "ok", "max 2: the second connection still works")
ok(ask(c3, 5) == "ok", "max 2: the third connection still works")
# c2 is now less recently used than c3: a fourth connection closes c2.
time.sleep(0.05)
ok(ask(c3, 6) == "ok", "max 2: third connection used again")
c4 = socket.create_connection(("127.0.0.1", port), timeout=3)
ok(ask(c4, 7) == "ok", "max 2: fourth connection answered")
ok(eof_within(c2, 2), "max 2: the least recently active connection (second) was closed")
c3.settimeout(3)
ok(ask(c3, 8) == "ok", "max 2: the recently active connection (third) kept")
for c in (c1, c2, c3, c4):
    c.close()
# Many connections in a row: the cap never stops new clients.
good = 0
for i in range(20):
    c = socket.create_connection(("127.0.0.1", port), timeout=3)
    good += ask(c, 100 + i) == "ok"
    c.close()
ok(good == 20, "max 2: 20 connections in a row all answered (%d)" % good)
EOF
check "max 2: dig +tcp still works" eval '[ "$(short +tcp payments-v1.local A | wc -l)" = 2 ]'
check "server still running" kill -0 "$MESHDNS_PID"
stop_meshdns

# ---- IPv4 and IPv6 listeners, each on its own free port ----
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	config 10 100 | sed 's/^listen: .*/listen: ["127.0.0.1:0", "[::1]:0"]/' >"$T/v6.yaml"
	start_meshdns "$T/v6.yaml" "$T/meshdns-v6.log"
	P6=$(printf '%s\n' "$LISTENS" | sed -n 's/^\[::1\]:\([0-9]*\)$/\1/p')
	check "two listeners in the serving line ($(echo $LISTENS))" [ -n "$P6" ]
	check "[::1] over UDP" eval '[ "$(dig @::1 -p "$P6" +tries=1 +time=2 +short payments-v1.local A | wc -l)" = 2 ]'
	check "[::1] over TCP" eval '[ "$(dig @::1 -p "$P6" +tries=1 +time=2 +tcp +short big.local SRV | wc -l)" = 60 ]'
	check "127.0.0.1 next to it" eval '[ "$(short +tcp payments-v1.local A | wc -l)" = 2 ]'
else
	echo "# no IPv6 loopback: IPv6 listener not tested"
fi

done_testing
