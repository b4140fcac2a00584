#!/bin/bash
# bench/forward.sh - meshdns-forward against HAProxy (mode tcp), same machine,
# same run, same backends, same load.
#
# Backend: one nginx (1 worker) listening on two loopback addresses,
# 127.0.0.71 and 127.0.0.72, serving a 1 KiB and a 1 MiB file. meshdns
# publishes them as two equal instances of web.local (SRV weights equal), so
# meshdns-forward's weighted pick and HAProxy's `balance roundrobin` with
# `weight 1` on both servers spread the load the same way. HAProxy runs one
# thread (nbthread 1), like meshdns-forward's single event loop.
#
# Client: wrk, 10 s per run (DURATION), bounded by timeout. Rows:
#   rps 1 KiB, Connection: close   wrk -c 50 -H 'Connection: close'
#   rps 1 KiB, keep-alive          wrk -c 50
#   MiB/s, 1 MiB bodies            wrk -c 16 (requests/s x 1 MiB, bodies only)
#   p50 / p99 latency, 1 KiB       wrk -c 1 --latency (one request at a time,
#                                  so the latency is the proxy's added hop, not
#                                  queueing); "added" = proxy - direct nginx
#   RSS per 1000 idle connections  VmRSS of the proxy before and after 1000
#                                  idle TCP connections through it (python)
#   proxy CPU %                    the proxy's utime+stime over each wrk run
# plus the direct nginx column for reference.
#
# CPU placement (PIN=1, the default, needs 2 cores): wrk, nginx and the
# resolver share core 0 (CLIENT_CPU); the proxy under test has core 1
# (PROXY_CPU) to itself. The rps rows may therefore hit core 0's limit for
# both proxies (then the CPU % row tells which proxy spent less); PIN=0 lets
# the scheduler place everything.
#
# Usage: bench/forward.sh [BUILD_DIR]    (default: the current directory)
# Environment: MESHDNS, MESHDNS_FORWARD (binaries; default BUILD_DIR/resolver/
# meshdns and BUILD_DIR/forwarder/meshdns-forward), DURATION (10), RUNS (3:
# the table gives medians), PIN (1), CLIENT_CPU (0), PROXY_CPU (1).
# Takes about RUNS x 12 x DURATION seconds (6 minutes by default).
set -u

BUILD=${1:-.}
MESHDNS=${MESHDNS:-$BUILD/resolver/meshdns}
MESHDNS_FORWARD=${MESHDNS_FORWARD:-$BUILD/forwarder/meshdns-forward}
DURATION=${DURATION:-10}
PIN=${PIN:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
RUNS=${RUNS:-3}

die() {
	echo "forward.sh: $*" >&2
	exit 1
}

[ -x "$MESHDNS" ] || die "$MESHDNS is not an executable (build it, or pass the build dir)"
[ -x "$MESHDNS_FORWARD" ] || die "$MESHDNS_FORWARD is not an executable"

# Tools, installed once (Debian package names), only when missing.
missing=""
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v taskset >/dev/null 2>&1 || missing="$missing util-linux"
command -v ss >/dev/null 2>&1 || missing="$missing iproute2"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "# installing:$missing"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } \
			>/dev/null 2>&1 || die "apt-get install$missing failed"
	else
		die "missing tools; run: apt-get install$missing"
	fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	ON_CLIENT="taskset -c $CLIENT_CPU"
	ON_PROXY="taskset -c $PROXY_CPU"
else
	PIN=0
	ON_CLIENT=""
	ON_PROXY=""
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null
# Each proxied connection takes two descriptors.
MAXCONN=$(( ($(ulimit -n) - 100) / 2 ))
[ "$MAXCONN" -le 50000 ] || MAXCONN=50000

T=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-fwdbench.XXXXXX") || die "cannot create a temp dir"
chmod 755 "$T"      # nginx's worker may run as nobody
PIDS=""
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS COMMAND...: polls every 50 ms.
wait_for() {
	local n=$(( $1 * 20 ))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

# ---- nginx on 127.0.0.71 and 127.0.0.72 ----
NP=$(free_port)
mkdir -p "$T/www" "$T/nginx"
head -c 1024 /dev/urandom >"$T/www/1k.bin"
head -c 1048576 /dev/urandom >"$T/www/1m.bin"
chmod -R a+rX "$T/www"
cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.71:$NP;
        listen 127.0.0.72:$NP;
        root $T/www;
    }
}
EOF
$ON_CLIENT "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;' 2>"$T/nginx/stderr" &
NGINX_PID=$!
PIDS="$PIDS $NGINX_PID"
wait_for 10 curl -sf -o /dev/null "http://127.0.0.72:$NP/1k.bin" ||
	{ cat "$T/nginx/stderr" "$T/nginx/error.log" >&2; die "nginx does not start"; }

# ---- the resolver: web.local = two equal instances ----
DP=$(free_port)
cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:$DP"]
upstream: []
namespaces:
  - name: local
    ttl: 5
    services:
      web:
        instances:
          - {id: a, address: 127.0.0.71, port: $NP}
          - {id: b, address: 127.0.0.72, port: $NP}
EOF
$ON_CLIENT "$MESHDNS" -c "$T/meshdns.yaml" 2>"$T/meshdns.log" >/dev/null &
PIDS="$PIDS $!"
wait_for 10 grep -q 'serving listen=' "$T/meshdns.log" || { cat "$T/meshdns.log" >&2; die "meshdns does not start"; }

# ---- meshdns-forward ----
FP=$(free_port)
$ON_PROXY "$MESHDNS_FORWARD" --dns "127.0.0.1:$DP" --listen "127.0.0.1:$FP=web.local" \
	--max-connections "$MAXCONN" 2>"$T/forward.log" >/dev/null &
FWD_PID=$!
PIDS="$PIDS $FWD_PID"
wait_for 10 grep -q 'web.local: 2 endpoints' "$T/forward.log" ||
	{ cat "$T/forward.log" >&2; die "meshdns-forward does not find web.local's 2 endpoints"; }

# ---- HAProxy ----
HP=$(free_port)
cat >"$T/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $MAXCONN
defaults
    mode tcp
    timeout connect 1s
    timeout client 300s
    timeout server 300s
frontend web
    bind 127.0.0.1:$HP
    default_backend web
backend web
    balance roundrobin
    server a 127.0.0.71:$NP weight 1
    server b 127.0.0.72:$NP weight 1
EOF
$ON_PROXY "$HAPROXY" -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
HAP_PID=$!
PIDS="$PIDS $HAP_PID"
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$HP/1k.bin" ||
	{ cat "$T/haproxy.log" >&2; die "haproxy does not start"; }
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$FP/1k.bin" || die "meshdns-forward does not relay"

# ---- measuring ----
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
TICK=$(getconf CLK_TCK)

# to_us VALUE: wrk's "123.45us" / "1.20ms" / "2.00s" in microseconds.
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		printf "%.0f", u == "us" ? n : u == "ms" ? n * 1000 : u == "s" ? n * 1e6 : n * 6e7 }'
}

# wrkrun NAME HOST:PORT PID CONNS PATH [HEADER]: one wrk run; sets RPS, P50, P99
# (us), CPU (% of one core used by PID, or "-"), ERRS.
wrkrun() {
	local name=$1 hostport=$2 pid=$3 conns=$4 path=$5 out="$T/wrk.$1" c0 c1 t0 t1
	shift 5
	c0=$( [ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
	t0=$(date +%s%N)
	timeout $((DURATION + 20)) $ON_CLIENT wrk -t1 -c"$conns" -d"${DURATION}s" --latency \
		${1:+-H "$1"} "http://$hostport$path" >"$out" 2>&1
	t1=$(date +%s%N)
	c1=$( [ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
	RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	P50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$out")")
	P99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
	ERRS=$(awk '/Socket errors|Non-2xx/ { sub(/^ +/, ""); printf "%s; ", $0 }' "$out")
	if [ "$pid" = - ]; then
		CPU=-
	else
		CPU=$(awk -v c=$((c1 - c0)) -v hz="$TICK" -v ns=$((t1 - t0)) \
			'BEGIN { printf "%.0f", 100 * c / hz / (ns / 1e9) }')
	fi
	[ -n "$RPS" ] || { cat "$out" >&2; die "wrk run $name gave no result"; }
	[ -z "$ERRS" ] || echo "# $name: $ERRS" >&2
}

# idle_rss PORT PID: KiB of RSS that 1000 idle connections through PID add.
idle_rss() {
	local port=$1 pid=$2 before after
	before=$(rss_kb "$pid")
	python3 - "$port" "$T/idle.ready" "$T/idle.release" <<'EOF' &
import os, socket, sys, time
port, ready, release = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(1000)]
open(ready, "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
EOF
	local cl=$!
	# Ready when the client has its 1000 and the proxy has connected all of them to nginx.
	wait_for 30 eval "[ -e '$T/idle.ready' ] && [ \"\$(ss -Htn state established '( dport = :$NP )' | wc -l)\" -ge 1000 ]" ||
		echo "# idle connections through port $port: not all reached nginx" >&2
	after=$(rss_kb "$pid")
	touch "$T/idle.release"
	wait "$cl"
	rm -f "$T/idle.ready" "$T/idle.release"
	wait_for 30 eval "[ \"\$(ss -Htn state established '( dport = :$NP )' | wc -l)\" -lt 10 ]"
	echo $((after - before))
}

# Runs interleave the targets metric by metric (direct, forward, haproxy, then
# the next metric), RUNS times; the table gives each value's median, so a
# neighbour's burst on a shared machine hits all three alike or is voted out.
declare -A R
# put KEY VALUE: appends a run's value to R[KEY] (space-separated).
put() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; }
# med KEY: the median of R[KEY] ("-" stays "-").
med() {
	echo "${R[$1]:--}" | tr ' ' '\n' | sort -n |
		awk '{ v[NR] = $1 } END { if (v[1] == "-") print "-"; else print v[int((NR + 1) / 2)] }'
}
target_of() {
	case $1 in
	direct) host=127.0.0.71 port=$NP pid=- ;;
	forward) host=127.0.0.1 port=$FP pid=$FWD_PID ;;
	haproxy) host=127.0.0.1 port=$HP pid=$HAP_PID ;;
	esac
}
echo "# nginx 127.0.0.71/72:$NP, meshdns-forward :$FP (pid $FWD_PID), haproxy :$HP (pid $HAP_PID)," \
     "${DURATION}s per wrk run, $RUNS runs, pinning: $([ "$PIN" = 1 ] && echo "wrk+nginx+resolver on cpu $CLIENT_CPU, proxy on cpu $PROXY_CPU" || echo off)" >&2
# Idle RSS first, on fresh processes: memory freed later stays in RSS, so a
# second measurement would reuse it and show less than a connection costs.
for target in forward haproxy; do
	target_of "$target"
	echo "# $target: RSS of 1000 idle connections" >&2
	put "$target,rss" "$(idle_rss "$port" "$pid")"
done
for run in $(seq "$RUNS"); do
	for metric in close ka mib lat; do
		for target in direct forward haproxy; do
			target_of "$target"
			echo "# run $run: $target $metric" >&2
			case $metric in
			close) wrkrun "$target-close" "$host:$port" "$pid" 50 /1k.bin 'Connection: close' ;;
			ka) wrkrun "$target-ka" "$host:$port" "$pid" 50 /1k.bin ;;
			mib) wrkrun "$target-1m" "$host:$port" "$pid" 16 /1m.bin ;;
			lat) wrkrun "$target-lat" "$host:$port" "$pid" 1 /1k.bin ;;
			esac
			if [ "$metric" = lat ]; then
				put "$target,p50" "$P50"
				put "$target,p99" "$P99"
			else
				put "$target,$metric" "$RPS"
				put "$target,cpu_$metric" "$CPU"
			fi
		done
	done
done
for k in $(printf '%s\n' "${!R[@]}" | sort); do
	echo "# $k: ${R[$k]}" >&2
	R[$k]=$(med "$k")
done
R[direct,rss]=-

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
added() { echo $(( $1 - $2 )); }

echo
echo "| metric | nginx direct | meshdns-forward | haproxy | forward/haproxy |"
echo "|---|---:|---:|---:|---:|"
row() { echo "| $1 | $2 | $3 | $4 | $(ratio "$3" "$4") |"; }
row "rps, 1 KiB, Connection: close (c50)" "${R[direct,close]}" "${R[forward,close]}" "${R[haproxy,close]}"
row "rps, 1 KiB, keep-alive (c50)" "${R[direct,ka]}" "${R[forward,ka]}" "${R[haproxy,ka]}"
row "MiB/s, 1 MiB bodies (c16)" "${R[direct,mib]}" "${R[forward,mib]}" "${R[haproxy,mib]}"
row "p50 latency, 1 KiB (c1), us" "${R[direct,p50]}" "${R[forward,p50]}" "${R[haproxy,p50]}"
row "added p50 vs direct, us" 0 "$(added "${R[forward,p50]}" "${R[direct,p50]}")" \
	"$(added "${R[haproxy,p50]}" "${R[direct,p50]}")"
row "p99 latency, 1 KiB (c1), us" "${R[direct,p99]}" "${R[forward,p99]}" "${R[haproxy,p99]}"
row "added p99 vs direct, us" 0 "$(added "${R[forward,p99]}" "${R[direct,p99]}")" \
	"$(added "${R[haproxy,p99]}" "${R[direct,p99]}")"
row "RSS per 1000 idle connections, KiB" - "${R[forward,rss]}" "${R[haproxy,rss]}"
row "proxy CPU %, close run" - "${R[forward,cpu_close]}" "${R[haproxy,cpu_close]}"
row "proxy CPU %, keep-alive run" - "${R[forward,cpu_ka]}" "${R[haproxy,cpu_ka]}"
row "proxy CPU %, 1 MiB run" - "${R[forward,cpu_mib]}" "${R[haproxy,cpu_mib]}"
echo
echo "Higher is better for rps and MiB/s; lower for latency, RSS and CPU."
