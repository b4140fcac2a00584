#!/bin/bash
# tests/e2e/haproxy.sh - HAProxy takes its servers from meshdns's SRV records.
#
# meshdns serves a router web.local, 90/10 over web-v1 (instances a, weight
# 100, and b, weight 300) and web-v2 (c, weight 100), all three real HTTP
# backends (backend.py). HAProxy (unprivileged, foreground, one thread) has
# a `resolvers` section pointing at meshdns and a backend
#     server-template srv 4 _web._tcp.local resolvers mesh resolve-prefer ipv4 init-addr none check
# Read through its stats socket (`show servers state`, `show stat`):
#   - HAProxy's servers are exactly our SRV targets (glue address + SRV
#     port), three of its four slots;
#   - each server's weight is (SRV weight + 255) / 256 (integer division:
#     rounded up, so SRV weight 0 stays 0), the mapping HAProxy 2.6's
#     resolvers apply when they fill a slot and when a weight changes:
#     65535 -> 256 (HAProxy's maximum), 21845 -> 86, 9709 -> 38, and the
#     ratio of every weight to the heaviest matches ours within 2/256. A
#     second backend over a service whose SRV weights are multiples of 256
#     (65535, 256, 512 -> 256, 1, 2; then 1024 -> 4) pins rounding up against
#     the "/ 256 + 1" of older HAProxy versions (which gives 2, 3 and 5);
#   - one full round-robin cycle of HTTP requests (the sum of the weights)
#     through HAProxy all succeed and each server gets its weight's share;
#   - after a SIGHUP with a's weight changed to 300 (SRV 65535, 65535, 14563;
#     and edge's e2 to 1024), HAProxy's weights follow within 5 s (hold valid 500 ms, timeout
#     resolve 250 ms: about one second).
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ ! -x "$HAPROXY" ]; then
	echo "SKIP: haproxy not found: apt-get install haproxy"
	exit 77
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_backend 127.0.0.51; A_PORT=$BACKEND_PORT
start_backend 127.0.0.52; B_PORT=$BACKEND_PORT
start_backend 127.0.0.53; C_PORT=$BACKEND_PORT

# write_config A_WEIGHT E2_WEIGHT
write_config() {
	cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
control_socket: "$T/meshdns.ctl"
namespaces:
  - name: local
    services:
      web-v1:
        instances:
          - {id: a, address: 127.0.0.51, port: $A_PORT, weight: $1}
          - {id: b, address: 127.0.0.52, port: $B_PORT, weight: 300}
      web-v2:
        instances:
          - {id: c, address: 127.0.0.53, port: $C_PORT, weight: 100}
      edge:
        instances:
          - {id: e1, address: 127.0.0.51, port: $A_PORT, weight: 65535}
          - {id: e2, address: 127.0.0.52, port: $B_PORT, weight: $2}
          - {id: e3, address: 127.0.0.53, port: $C_PORT, weight: 512}
    routers:
      web:
        routes:
          - {target: web-v1, weight: 90}
          - {target: web-v2, weight: 10}
EOF
}
write_config 100 256
start_meshdns "$T/meshdns.yaml"

# hap.py SOCKET servers BACKEND: "addr:port weight" of each server with an
# address (a slot no SRV record filled has none); every row of `show servers
# state` goes to stderr as a comment.
# hap.py SOCKET stot BACKEND: "name addr:port sessions" per server (show stat).
cat >"$T/hap.py" <<'EOF'
import socket, sys

def ask(path, cmd):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall((cmd + "\n").encode())
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    return data.decode()

path, mode, backend = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "servers":
    cols = None
    for line in ask(path, "show servers state " + backend).splitlines():
        if line.startswith("# "):
            cols = line[2:].split()
            continue
        f = line.split()
        if cols is None or len(f) < len(cols):
            continue
        r = dict(zip(cols, f))
        sys.stderr.write("# %s\n" % line)
        if r["srv_addr"] in ("0.0.0.0", "::", "-") or r["srv_port"] == "0":
            continue
        print("%s:%s %s" % (r["srv_addr"], r["srv_port"], r["srv_uweight"]))
elif mode == "stot":
    lines = ask(path, "show stat").splitlines()
    cols = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        r = dict(zip(cols, line.split(",")))
        if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND", None):
            print("%s %s %s" % (r["svname"], r.get("addr", "-"), r["stot"]))
EOF
hap() { python3 "$T/hap.py" "$T/haproxy.sock" "$@"; }

# srv_expect [SERVICE]: from dig, "addr:port haproxy_weight srv_weight" per
# SRV record of _SERVICE._tcp.local (default web; address from the glue),
# sorted.
srv_expect() {
	q "_${1:-web}._tcp.local" SRV +noall +answer +additional | awk '
		$4 == "SRV" { w[$8] = $6; p[$8] = $7 }
		$4 == "A" { a[$1] = $5 }
		END { for (t in w) printf "%s:%s %d %d\n", a[t], p[t], int((w[t] + 255) / 256), w[t] }' | sort
}
# hap_servers [BACKEND]: HAProxy's "addr:port weight" lines, sorted.
hap_servers() { hap servers "${1:-web}" 2>>"$T/hap.rows" | sort; }

# same_as_srv [NAME]: HAProxy's servers of backend NAME (default web;
# address:port weight) are exactly srv_expect NAME's, with the weight mapped.
same_as_srv() {
	[ "$(hap_servers "${1:-web}")" = "$(srv_expect "${1:-web}" | cut -d' ' -f1,2)" ]
}

HP=$(free_port)
cat >"$T/haproxy.cfg" <<EOF
global
    nbthread 1
    stats socket $T/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
resolvers mesh
    nameserver meshdns 127.0.0.1:$PORT
    accepted_payload_size 1232
    resolve_retries 2
    timeout resolve 250ms
    timeout retry 250ms
    hold valid 500ms
    hold obsolete 1s
    hold nx 500ms
    hold other 500ms
    hold refused 500ms
    hold timeout 500ms
frontend web
    bind 127.0.0.1:$HP
    default_backend web
backend web
    balance roundrobin
    server-template srv 4 _web._tcp.local resolvers mesh resolve-prefer ipv4 init-addr none check inter 200ms
backend edge
    server-template e 3 _edge._tcp.local resolvers mesh resolve-prefer ipv4 init-addr none
EOF
"$HAPROXY" -c -f "$T/haproxy.cfg" >"$T/haproxy-check.log" 2>&1 ||
	{ sed 's/^/# /' "$T/haproxy-check.log"; bail "haproxy -c accepts the config"; }
"$HAPROXY" -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
HAP_PID=$!
PIDS="$PIDS $HAP_PID"
check "haproxy's stats socket answers" wait_until 10 eval '[ -S "$T/haproxy.sock" ] && hap servers web >/dev/null 2>&1'

# ---- the servers are our SRV targets, weights mapped ----
EXPECT=$(srv_expect)
check "meshdns's SRV weights: 90/10 router over 100/300 and 100 (65535 21845 9709)" \
	eval '[ "$(echo "$EXPECT" | cut -d" " -f3 | sort -n | tr "\n" " ")" = "9709 21845 65535 " ]'
check "haproxy fills 3 of 4 slots with our SRV targets and weights within 10 s" \
	wait_until 10 same_as_srv
got=$(hap_servers)
echo "# haproxy servers: $(echo "$got" | tr '\n' ';')  srv: $(echo "$EXPECT" | tr '\n' ';')"
expect_eq "haproxy's servers are exactly the SRV targets (address:port)" \
	"$(echo "$got" | cut -d' ' -f1 | tr '\n' ' ')" \
	"$(printf '%s\n' "127.0.0.51:$A_PORT" "127.0.0.52:$B_PORT" "127.0.0.53:$C_PORT" | sort | tr '\n' ' ')"
expect_eq "haproxy weight = (SRV weight + 255) / 256 (21845 -> 86, 65535 -> 256, 9709 -> 38)" \
	"$(echo "$got" | sort -t' ' -k2n | cut -d' ' -f2 | tr '\n' ' ')" "38 86 256 "
# ratio_ok: each weight over the heaviest, HAProxy's against ours, within 2/256.
ratio_ok() {
	join <(echo "$got") <(echo "$EXPECT" | cut -d' ' -f1,3) | awk '
		{ hw[$1] = $2; sw[$1] = $3; if ($2 > hm) hm = $2; if ($3 > sm) sm = $3 }
		END { for (k in hw) { d = hw[k] / hm - sw[k] / sm; if (d < 0) d = -d
			printf "# %s haproxy %d/%d srv %d/%d diff %.4f\n", k, hw[k], hm, sw[k], sm, d
			if (d > 2 / 256) bad = 1 }
			exit bad || hm == 0 }'
}
check "haproxy's weight ratios equal the SRV weight ratios within 2/256" ratio_ok

# SRV weights that are multiples of 256 tell rounding up from "/ 256 + 1"
# (256 -> 1, not 2).
check "edge: SRV weights 65535 256 512 become haproxy weights 256 1 2 ((w + 255) / 256)" \
	wait_until 10 eval '[ "$(hap_servers edge | sort -t" " -k2n | cut -d" " -f2 | tr "\n" " ")" = "1 2 256 " ] &&
		[ "$(srv_expect edge | sort -t" " -k3n | cut -d" " -f3 | tr "\n" " ")" = "256 512 65535 " ] &&
		same_as_srv edge'

# ---- traffic: one weighted round-robin cycle through HAProxy ----
CYCLE=380   # 256 + 86 + 38
ok=$(python3 - "$HP" "$CYCLE" <<'EOF'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ok = 0
for i in range(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        if r.status == 200 and r.read() == b"ok\n":
            ok += 1
    except OSError:
        pass
    c.close()
print(ok)
EOF
)
expect_eq "$CYCLE HTTP requests through haproxy get 200 ok from a backend" "$ok" "$CYCLE"
hap stot web >"$T/stot"
sed 's/^/# stot: /' "$T/stot"
total=$(awk '{ s += $3 } END { print s + 0 }' "$T/stot")
expect_eq "haproxy counts $CYCLE sessions over its servers" "$total" "$CYCLE"
# sessions_of ADDR:PORT
sessions_of() { awk -v a="$1" '$2 == a { print $3 }' "$T/stot"; }
sa=$(sessions_of "127.0.0.51:$A_PORT"); sb=$(sessions_of "127.0.0.52:$B_PORT"); sc=$(sessions_of "127.0.0.53:$C_PORT")
check "one cycle follows the weights: a 86, b 256, c 38 requests (+-4) (got a=$sa b=$sb c=$sc)" \
	eval 'in_range "${sa:-0}" 82 90 && in_range "${sb:-0}" 252 260 && in_range "${sc:-0}" 34 42'

# ---- a weight changes in meshdns: HAProxy follows ----
write_config 300 1024
before=$(grep -c 'reloaded' "$MESHDNS_LOG")
kill -HUP "$MESHDNS_PID"
check "meshdns reloads the config with a's weight 300" \
	wait_until 5 eval '[ "$(grep -c reloaded "$MESHDNS_LOG")" -gt "$before" ]'
t0=$(date +%s%N)
EXPECT=$(srv_expect)
check "meshdns's SRV weights after the reload: 65535 65535 14563" \
	eval '[ "$(echo "$EXPECT" | cut -d" " -f3 | sort -n | tr "\n" " ")" = "14563 65535 65535 " ]'
if wait_until 5 same_as_srv; then
	pass "haproxy's weights follow the new SRV weights within 5 s ($(elapsed_ms "$t0") ms)"
else
	fail "haproxy's weights follow the new SRV weights within 5 s"
fi
got=$(hap_servers)
expect_eq "after the reload: haproxy weights 57 256 256 ((14563 + 255) / 256, (65535 + 255) / 256)" \
	"$(echo "$got" | sort -t' ' -k2n | cut -d' ' -f2 | tr '\n' ' ')" "57 256 256 "
check "after the reload: edge's e2, SRV weight 1024, becomes 4 (not 5)" \
	wait_until 5 eval '[ "$(hap_servers edge | sort -t" " -k2n | cut -d" " -f2 | tr "\n" " ")" = "2 4 256 " ] &&
		[ "$(srv_expect edge | sort -t" " -k3n | cut -d" " -f3 | tr "\n" " ")" = "512 1024 65535 " ] &&
		same_as_srv edge'
check "after the reload: ratios still equal within 2/256" ratio_ok

if [ "$FAILED" -gt 0 ]; then
	echo "# ---- haproxy.log ----"
	sed 's/^/# /' "$T/haproxy.log"
	echo "# ---- show servers state rows ----"
	tail -n 20 "$T/hap.rows" 2>/dev/null
fi
done_testing
