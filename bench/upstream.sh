#!/bin/bash
# bench/upstream.sh - meshdns as a caching forwarder, against dnsmasq and
# Unbound doing the same job in the same run on the same machine.
#
# An NSD on 127.0.0.1:5354 (core 0) serves example.com: NAMES names
# n<i>.example.com A, TTL 3600. Each server under test runs alone on core 1
# with one thread, forwarding everything to that NSD with a cache big enough
# for every name. A warm-up pass asks each name once; then dnsperf (core 0)
# sends RATE QPS for DURATION seconds over the same names, so nearly every
# answer is a cache hit: that is the figure that matters for a container's
# resolv.conf, where the same few hundred names are asked again and again.
# Reported: server CPU µs per query (utime+stime from /proc), p50/p99
# latency, max QPS (dnsperf unpaced; dnsperf's one core caps it), RSS; the
# median of RUNS runs, servers alternating; and the ratios.
#
# Usage: bench/upstream.sh [MESHDNS_BINARY]
# Environment: MESHDNS, RUNS (3), DURATION (8), RATE (50000), NAMES (10000),
# SERVERS ("meshdns dnsmasq unbound").
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
MESHDNS=${1:-${MESHDNS:-./build/resolver/meshdns}}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
RATE=${RATE:-50000}
NAMES=${NAMES:-10000}
SERVERS=${SERVERS:-meshdns dnsmasq unbound}
PORT=${PORT:-5399}
UP_PORT=${UP_PORT:-5354}

. "$HERE/lib.sh"

[ -x "$MESHDNS" ] || die "$MESHDNS is not an executable (build it, or pass its path)"
MESHDNS=$(readlink -f "$MESHDNS")

missing=""
command -v dnsperf >/dev/null 2>&1 || missing="$missing dnsperf"
command -v nsd >/dev/null 2>&1 || missing="$missing nsd"
command -v unbound >/dev/null 2>&1 || missing="$missing unbound"
command -v dnsmasq >/dev/null 2>&1 || missing="$missing dnsmasq-base"
command -v dig >/dev/null 2>&1 || missing="$missing bind9-dnsutils"
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "missing tools; apt-get install$missing"
	echo "# installing:$missing"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } \
		>/dev/null 2>&1 || die "apt-get install$missing failed"
fi
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (dnsperf on core 0, the server on core 1)"

W=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-bench-upstream.XXXXXX")
QUERIES=$W/queries.txt
SRV_PID=""
UP_PID=""
cleanup() {
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	[ -n "$UP_PID" ] && kill "$UP_PID" 2>/dev/null && wait "$UP_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The zone and the queries: every name once in the warm-up file, then the
# measured file in a random order.
{
	printf '$ORIGIN example.com.\n$TTL 3600\n'
	printf '@ IN SOA ns hostmaster 1 3600 600 86400 3600\n@ IN NS ns\nns IN A 127.0.0.1\n'
	for i in $(seq 0 $((NAMES - 1))); do
		printf 'n%d IN A 10.%d.%d.1\n' "$i" $((i / 256 % 256)) $((i % 256))
	done
} >"$W/example.com.zone"
seq 0 $((NAMES - 1)) | awk '{ printf "n%d.example.com A\n", $1 }' >"$W/warm.txt"
seq 0 $((NAMES - 1)) | shuf --random-source=<(yes) | awk '{ printf "n%d.example.com A\n", $1 }' >"$QUERIES"

mkdir -p "$W/nsd"
cat >"$W/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$UP_PORT
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$W"
    database: ""
    zonelistfile: "$W/nsd/zone.list"
    xfrdfile: "$W/nsd/xfrd.state"
    pidfile: "$W/nsd/nsd.pid"
    xfrdir: "$W/nsd"
    verbosity: 0
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: example.com.
    zonefile: example.com.zone
EOF
taskset -c 0 nsd -d -c "$W/nsd.conf" 2>"$W/nsd.log" &
UP_PID=$!

cat >"$W/meshdns.yaml" <<EOF
listen: ["127.0.0.1:$PORT"]
upstream: ["127.0.0.1:$UP_PORT"]
cache_size: $((NAMES * 2))
namespaces:
  - name: local
    services:
      web: {instances: [{id: a, address: 10.0.0.1, port: 80}]}
EOF

cat >"$W/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@$PORT
    port: $PORT
    num-threads: 1
    so-reuseport: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$W"
    pidfile: "$W/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    module-config: "iterator"
    msg-cache-size: 32m
    rrset-cache-size: 64m
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$UP_PORT
EOF

wait_answers "$UP_PID" "$UP_PORT" n7.example.com "$W/nsd.log" "the upstream NSD"

# start SERVER: runs it pinned to core 1; sets SRV_PID; waits for answers.
start() {
	case $1 in
	meshdns)
		taskset -c 1 "$MESHDNS" -q -c "$W/meshdns.yaml" 2>"$W/$1.log" &
		;;
	dnsmasq)
		taskset -c 1 dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts \
			--server="127.0.0.1#$UP_PORT" --cache-size=$((NAMES * 2)) -p "$PORT" \
			--listen-address=127.0.0.1 --bind-interfaces --user=root --pid-file= 2>"$W/$1.log" &
		;;
	unbound)
		taskset -c 1 unbound -d -c "$W/unbound.conf" 2>"$W/$1.log" &
		;;
	esac
	SRV_PID=$!
	wait_answers "$SRV_PID" "$PORT" n7.example.com "$W/$1.log" "$1"
	pin_server
}

# warm: every name once, so the measured run is cache hits.
warm() {
	taskset -c 0 dnsperf -s 127.0.0.1 -p "$PORT" -d "$W/warm.txt" -n 1 -q 100 -t 5 >"$W/warm.out" 2>&1
	awk '/Queries completed:/ { print $3 }' "$W/warm.out"
}

echo "# $(nproc) cores, $(uname -r); dnsperf on core 0, server on core 1; $RATE QPS x ${DURATION}s; $RUNS runs"
echo "# $NAMES names, cache hits after one warm-up pass; upstream NSD $(nsd -v 2>&1 | awk 'NR==1 {print $NF}');" \
	"dnsmasq $(dnsmasq -v 2>&1 | awk 'NR==1 {print $3}'), unbound $(unbound -V 2>&1 | awk 'NR==1 {print $2}')"
for run in $(seq "$RUNS"); do
	for s in $SERVERS; do
		start "$s"
		warmed=$(warm)
		measure "$s" udp
		[ "$run" = 1 ] && maxqps "$s"
		rss_kib >>"$W/$s.rss"
		stop
		echo "# run $run $s (warm-up answered $warmed of $NAMES): $(tail -1 "$W/$s.udp")" >&2
	done
done

printf '\n%-8s %9s %9s %8s %8s %6s %9s %8s\n' server "us/query" "user_us/q" "p50_us" "p99_us" "lost" \
	"max_qps" "rss_KiB"
for s in $SERVERS; do
	printf '%-8s %9s %9s %8s %8s %6s %9s %8s\n' "$s" "$(median "$W/$s.udp" 1)" "$(median "$W/$s.udp" 7)" \
		"$(median "$W/$s.udp" 2)" "$(median "$W/$s.udp" 3)" \
		"$(awk '{s += $5} END {print s}' "$W/$s.udp")" "$(median "$W/$s.max" 1)" \
		"$(median "$W/$s.rss" 1)"
done
echo
for s in $SERVERS; do
	[ "$s" = meshdns ] && continue
	echo "# $s/meshdns CPU per query: $(ratio "$(median "$W/$s.udp" 1)" "$(median "$W/meshdns.udp" 1)")x" \
		"(user space alone: $(ratio "$(median "$W/$s.udp" 7)" "$(median "$W/meshdns.udp" 7)")x);" \
		"meshdns/$s max QPS: $(ratio "$(median "$W/meshdns.max" 1)" "$(median "$W/$s.max" 1)")x"
done
echo "# us/query: utime+stime per query, most of it the kernel's loopback UDP path that every"
echo "# server pays alike; user_us/q: utime alone, the part the server's own code decides."
