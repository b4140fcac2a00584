#!/bin/bash
# tests/e2e/forward_faults.sh - meshdns-forward when backends misbehave:
#   - a backend that accepts and never reads while the client sends 200 MiB:
#     the client blocks (back-pressure) and the forwarder's RSS stays within
#     256 KiB of its idle value. README: a busy connection holds at most two
#     16 KiB relay buffers beside its ~1.8 KiB of state, 34 KiB in all; the
#     bound is that with room for the allocator's page granularity, and
#     still 800 times less than the bytes the client tried to send;
#   - a backend that never accepts (listen(1), its backlog filled first, so
#     the kernel drops further SYNs): each connection costs one connect
#     timeout (0.5 s) and is then served by the other endpoint; after
#     --consecutive-failures 3 the dead endpoint is ejected and connections
#     are served at once.
# Environment: MESHDNS and MESHDNS_FORWARD (the binaries), SRCDIR.
. "$(dirname "$0")/lib.sh"

if [ -z "${MESHDNS_FORWARD:-}" ] || [ ! -x "$MESHDNS_FORWARD" ]; then
	echo "error: MESHDNS_FORWARD=${MESHDNS_FORWARD:-} is not an executable file:" \
	     "run with MESHDNS_FORWARD=/path/to/build/forwarder/meshdns-forward (make check sets it)" >&2
	exit 99
fi

MIB=1048576

cat >"$T/ff.py" <<'EOF'
"""ff.py sink ADDR | hole ADDR: backends (print their port first).
sink: accepts and never reads. hole: listen(1), never accepts, and fills
its own backlog (prints "full N" once a connect no longer completes).
ff.py send PORT N OUT: sends up to N bytes until a send blocks for 2 s,
writes "sent" to OUT, tries 3 s more and writes "extra", then waits for
OUT.release. ff.py get PORT: one HTTP GET, prints "status ms"."""
import os, socket, sys, time

def sink(addr):
    s = socket.socket()
    s.bind((addr, 0))
    s.listen(16)
    print(s.getsockname()[1], flush=True)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)

def hole(addr):
    s = socket.socket()
    s.bind((addr, 0))
    s.listen(1)
    port = s.getsockname()[1]
    print(port, flush=True)
    held = []
    while True:
        c = socket.socket()
        c.settimeout(0.3)
        try:
            c.connect((addr, port))
        except socket.timeout:
            break
        held.append(c)
    print("full", len(held), flush=True)
    while True:
        time.sleep(3600)

def send(port, n, out):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    b, sent = b"z" * 65536, 0
    while sent < n:
        try:
            sent += s.send(b)
        except socket.timeout:
            break
    with open(out + ".tmp", "w") as f:
        f.write("sent %d\n" % sent)
    os.rename(out + ".tmp", out)
    s.settimeout(0.5)
    extra, end = 0, time.monotonic() + 3
    while time.monotonic() < end:
        try:
            extra += s.send(b)
        except socket.timeout:
            pass
    with open(out, "a") as f:
        f.write("extra %d\n" % extra)
    end = time.monotonic() + 60
    while not os.path.exists(out + ".release") and time.monotonic() < end:
        time.sleep(0.05)
    s.close()

def get(port):
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        status = data.split(b"\r\n", 1)[0].decode(errors="replace").replace(" ", "_") or "closed"
    except OSError as e:
        status = type(e).__name__
    print(status, int((time.monotonic() - t) * 1000))

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "sink":
    sink(a[0])
elif cmd == "hole":
    hole(a[0])
elif cmd == "send":
    send(int(a[0]), int(a[1]), a[2])
elif cmd == "get":
    get(int(a[0]))
EOF

# ffbackend KIND ADDR: starts a backend; sets FB_PID, FB_PORT.
ffbackend() {
	spawn_port "backend $1" python3 "$T/ff.py" "$1" "$2"
	FB_PID=$SPAWN_PID
	FB_PORT=$SPAWN_PORT
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

ffbackend sink 127.0.0.51
SINK_PORT=$FB_PORT
ffbackend hole 127.0.0.52
HOLE_PORT=$FB_PORT
HOLE_OUT=$SPAWN_OUT
wait_until 15 grep -q '^full [0-9]' "$HOLE_OUT"
check "the never-accepting backend's backlog is full ($(sed -n "s/^full //p" "$HOLE_OUT") connections held)" \
	grep -q '^full [0-9]' "$HOLE_OUT"
start_backend 127.0.0.53
GOOD_PORT=$BACKEND_PORT

cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
namespaces:
  - name: local
    ttl: 1
    services:
      sink:
        instances:
          - {id: s, address: 127.0.0.51, port: $SINK_PORT}
      mixed:
        instances:
          - {id: hole, address: 127.0.0.52, port: $HOLE_PORT, weight: 65535}
          - {id: good, address: 127.0.0.53, port: $GOOD_PORT, weight: 1}
EOF
start_meshdns "$T/meshdns.yaml"

FLOG=$T/meshdns-forward.log
"$MESHDNS_FORWARD" --dns "127.0.0.1:$PORT" --listen 127.0.0.1:0=sink.local \
	--listen 127.0.0.1:0=mixed.local --connect-timeout 0.5 --retries 2 \
	--consecutive-failures 3 --ejection-time 60 --drain-timeout 2 2>"$FLOG" >/dev/null &
FWD=$!
PIDS="$PIDS $FWD"
wait_until 10 grep -q 'info forward: serving listen=' "$FLOG" || bail "meshdns-forward starts"
fport() {
	grep -m1 'info forward: serving' "$FLOG" | grep -o "listen=[^ ]*=$1\\b" | head -n1 |
		sed 's/^listen=[^=]*:\([0-9]*\)=.*/\1/'
}
P_SINK=$(fport sink.local)
P_MIXED=$(fport mixed.local)
wait_until 5 eval 'grep -q "sink.local: 1 endpoints" "$FLOG" && grep -q "mixed.local: 2 endpoints" "$FLOG"' ||
	bail "the forwarder finds the endpoints"

# ---- a backend that never reads, a client that sends 200 MiB ----
BASE=$(rss_kb "$FWD")
python3 "$T/ff.py" send "$P_SINK" $((200 * MIB)) "$T/send.out" &
SENDER=$!
PIDS="$PIDS $SENDER"
if wait_until 30 grep -qs '^extra ' "$T/send.out"; then
	SENT=$(awk '$1 == "sent" { print $2 }' "$T/send.out")
	EXTRA=$(awk '$1 == "extra" { print $2 }' "$T/send.out")
	RSS=$(rss_kb "$FWD")
	echo "# sent $SENT bytes before blocking, $EXTRA in the 3 s after; forwarder VmRSS $BASE -> $RSS KiB"
	check "back-pressure: the client blocks after $((SENT / 1024)) KiB of 200 MiB (< 64 MiB: socket buffers only)" \
		[ "$SENT" -lt $((64 * MIB)) ]
	check "back-pressure: it stays blocked (3 s more took $EXTRA bytes, < 1 MiB)" [ "$EXTRA" -lt "$MIB" ]
	check "the forwarder's RSS stays within 256 KiB of idle ($BASE -> $RSS KiB)" \
		[ "$RSS" -le $((BASE + 256)) ]
else
	fail "back-pressure: the sender blocks within 30 s"
fi
touch "$T/send.out.release"
wait "$SENDER"
PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$SENDER" | tr '\n' ' ')

# ---- a backend that never accepts ----
for i in 1 2 3; do
	read -r status ms < <(python3 "$T/ff.py" get "$P_MIXED")
	check "connection $i: the dead endpoint costs one connect timeout, then the other serves it ($status in $ms ms; 450..1500)" \
		eval '[ "$status" = HTTP/1.0_200_OK ] && [ "$ms" -ge 450 ] && [ "$ms" -le 1500 ]'
done
check "after 3 connect timeouts the endpoint is ejected" \
	wait_until 2 grep -q "endpoint 127.0.0.52:$HOLE_PORT ejected" "$FLOG"
read -r status ms < <(python3 "$T/ff.py" get "$P_MIXED")
check "then connections are served at once ($status in $ms ms; < 400)" \
	eval '[ "$status" = HTTP/1.0_200_OK ] && [ "$ms" -lt 400 ]'
kill -USR1 "$FWD"
EP="endpoint=127.0.0.52:$HOLE_PORT "
wait_until 5 grep -q "stats: .*$EP" "$FLOG"
line=$(grep "stats: .*$EP" "$FLOG" | tail -n1)
echo "# $line"
check "SIGUSR1: the dead endpoint has 3 connect failures, 1 ejection, 0 connections served" \
	eval '[[ "$line" =~ connect_failures=3\  ]] && [[ "$line" =~ \ ejections=1\  ]] && [[ "$line" =~ \ connections=0\  ]]'

kill -TERM "$FWD"
wait "$FWD"
rc=$?
PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$FWD" | tr '\n' ' ')
check "the forwarder exits 0 on SIGTERM (rc $rc)" [ "$rc" -eq 0 ]

done_testing
