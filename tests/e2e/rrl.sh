#!/bin/bash
# tests/e2e/rrl.sh - response rate limiting per client prefix (rrl_rate,
# off by default): a UDP flood from one /24 gets about rrl_rate full answers
# a second, every rrl_slip-th limited answer truncated (TC=1, for a TCP
# retry) and the rest dropped; another /24, TCP, and clients with a valid
# DNS cookie are not limited; without rrl_rate nothing is.
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

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

cat >"$T/flood.py" <<'EOF'
"""flood.py PORT SRC N [cookie]: N UDP queries from SRC back to back, then
the answers collected; prints "full=F tc=T none=D secs=S" (S: sending time)."""
import os, socket, struct, sys, time
port, src, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
use_cookie = len(sys.argv) > 4
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.settimeout(0.1)
name = b"\x0bpayments-v1\x05local\x00"
def query(qid, cookie):
    opt = b""
    ar = 0
    if cookie is not None:
        opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(cookie)) + struct.pack("!HH", 10, len(cookie)) + cookie
        ar = 1
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, ar) + name + struct.pack("!HH", 1, 1) + opt
def cookie_in(m):
    i = m.find(b"\x00\x0a\x00\x18")
    return m[i + 4:i + 28] if i >= 0 else None
cookie = None
if use_cookie:
    s.sendto(query(1, os.urandom(8)), ("127.0.0.1", port))
    cookie = cookie_in(s.recv(4096))
full = tc = 0
t0 = time.monotonic()
for i in range(n):
    s.sendto(query((i + 2) & 0xFFFF, cookie), ("127.0.0.1", port))
secs = time.monotonic() - t0
seen = set()
s.settimeout(1.0)
try:
    while len(seen) < n:
        m = s.recv(4096)
        qid = struct.unpack("!H", m[:2])[0]
        if qid < 2 or qid in seen:
            continue
        seen.add(qid)
        if m[2] & 0x02:
            tc += 1
        elif struct.unpack("!H", m[6:8])[0] >= 1:
            full += 1
except socket.timeout:
    pass
none = n - len(seen)
print("full=%d tc=%d none=%d secs=%.2f" % (full, tc, none, secs))
EOF
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# ---- rate 10 a second per /24, slip 2 ----
config "rrl_rate: 10" "rrl_slip: 2" >"$T/rrl.yaml"
start_meshdns "$T/rrl.yaml"
# 120 back to back: well inside a socket buffer, so the kernel drops none.
out=$(python3 "$T/flood.py" "$PORT" 127.0.0.1 120)
echo "# 127.0.0.1, 120 queries: $out"
full=$(field "$out" full) tc=$(field "$out" tc) none=$(field "$out" none) secs=$(field "$out" secs)
maxfull=$(awk -v s="$secs" 'BEGIN { printf "%d", 10 + 10 * s + 2 }')
check "flood: at most rate x time + burst full answers ($full <= $maxfull)" [ "$full" -le "$maxfull" ]
check "flood: some full answers still go out ($full)" [ "$full" -ge 10 ]
limited=$((120 - full))
check "flood: about every 2nd limited answer slips with TC ($tc of $limited)" \
	eval '[ $((tc * 2)) -ge $((limited - 4)) ] && [ $((tc * 2)) -le $((limited + 4)) ]'
check "flood: the other limited answers are dropped ($none)" [ "$none" -ge $((limited / 2 - 4)) ]
out=$(python3 "$T/flood.py" "$PORT" 127.0.1.1 10)
check "another /24 (127.0.1.1) is not limited: $out" [ "$(field "$out" full)" = 10 ]
check "TCP is not limited" eval '[ "$(short +tcp payments-v1.local A)" = 127.0.0.11 ]'
out=$(python3 "$T/flood.py" "$PORT" 127.0.0.1 50 cookie)
check "a client with a valid server cookie is not limited: $out" [ "$(field "$out" full)" = 50 ]
check "server still running" kill -0 "$MESHDNS_PID"
stop_meshdns

# ---- rrl_slip 0: limited answers are all dropped ----
config "rrl_rate: 10" "rrl_slip: 0" >"$T/drop.yaml"
start_meshdns "$T/drop.yaml" "$T/meshdns-drop.log"
out=$(python3 "$T/flood.py" "$PORT" 127.0.0.1 60)
check "slip 0: no TC, the limited answers dropped ($out)" \
	eval '[ "$(field "$out" tc)" = 0 ] && [ "$(field "$out" none)" -ge 30 ]'
stop_meshdns

# ---- off by default ----
config >"$T/off.yaml"
start_meshdns "$T/off.yaml" "$T/meshdns-off.log"
out=$(python3 "$T/flood.py" "$PORT" 127.0.0.1 120)
check "without rrl_rate every query is answered ($out)" [ "$(field "$out" full)" = 120 ]
stop_meshdns
done_testing
