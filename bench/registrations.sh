#!/bin/bash
# bench/registrations.sh - registrations per second: meshdns against Knot DNS,
# same machine, same run, same key, same load.
#
# Each registration is one TSIG-signed (hmac-sha256) UPDATE over UDP adding a
# new instance: A at i<N>.payments-v1.local. and an SRV at payments-v1.local.
# pointing to it. bench/regload.c (compiled here against ldns) keeps WINDOW
# updates in flight, because a durable server can only amortise its syncs
# over the updates that wait for the same one, and counts the NOERROR answers
# in DURATION seconds. Runs alternate (meshdns, knot, knot-journal, meshdns,
# ...), each on a fresh state directory; the table gives every run, the
# median and the ratio.
#
# What each server promises when it answers NOERROR:
# - meshdns: the change is in its journal under state_dir and fdatasync()ed
#   (group commit: one fdatasync covers every update appended meanwhile).
# - knot (its defaults): the change is committed to the zone journal, an LMDB
#   database (journal-db-mode: robust, i.e. LMDB synced on every commit), and
#   zonefile-sync: 0 also rewrites the zone file right after every update.
# - knot-journal: the same with zonefile-sync: -1 (journal only, the zone file
#   is never rewritten): the contract closest to meshdns's.
# Both servers' state lives on the same file system (BENCH_DIR, default
# /var/tmp, which is disk-backed where /tmp may be a tmpfs); the script prints
# which one.
#
# Usage: bench/registrations.sh [MESHDNS_BINARY]
# Environment: MESHDNS (binary; default ./resolver/meshdns or the argument),
# DURATION (10), RUNS (3), WINDOW (64), BENCH_DIR (/var/tmp),
# SERVERS ("meshdns knot knot-journal").
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
MESHDNS=${1:-${MESHDNS:-./resolver/meshdns}}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WINDOW=${WINDOW:-64}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
SERVERS=${SERVERS:-meshdns knot knot-journal}

die() {
	echo "registrations.sh: $*" >&2
	exit 1
}

[ -x "$MESHDNS" ] || die "$MESHDNS is not an executable (build it, or pass its path)"

# Tools, installed once (Debian package names).
missing=""
command -v knotd >/dev/null 2>&1 || missing="$missing knot"
command -v dig >/dev/null 2>&1 || missing="$missing bind9-dnsutils"
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
pkg-config --exists ldns 2>/dev/null || missing="$missing libldns-dev"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "# installing:$missing"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } \
			>/dev/null 2>&1 || die "apt-get install$missing failed"
	else
		die "missing tools; run: apt-get install$missing"
	fi
fi

T=$(mktemp -d "$BENCH_DIR/meshdns-bench.XXXXXX") || die "cannot create a directory in $BENCH_DIR"
PIDS=""
cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cc -O2 -Wall "$HERE/regload.c" $(pkg-config --cflags --libs ldns) -o "$T/regload" ||
	die "cannot compile regload.c"

SECRET=$(head -c32 /dev/urandom | base64)
KEY=payments-key

free_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
t = socket.socket()
p = s.getsockname()[1]
t.bind(("127.0.0.1", p))
print(p)'
}

# stop PID: SIGTERM, up to 10 s, then SIGKILL; forgets the PID.
stop() {
	local i
	kill "$1" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# run_meshdns RUN: prints regload's line.
run_meshdns() {
	local d=$T/meshdns-$1 pid port i
	mkdir -p "$d"
	cat >"$d/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
state_dir: $d/state
update_rate: 0   # measure the journal, not the per-key limit
namespaces:
  - name: local
    ttl: 5
    max_instances: 1000000              # the run registers tens of thousands
    max_instances_per_service: 1000000
    services:
      payments-v1: {}
keys:
  - {name: $KEY, algorithm: hmac-sha256, secret: "$SECRET", allow: [payments-v1.local]}
EOF
	"$MESHDNS" -c "$d/meshdns.yaml" 2>"$d/log" >/dev/null &
	pid=$!
	PIDS="$PIDS $pid"
	port=""
	for i in $(seq 100); do
		port=$(grep -m1 -o 'serving listen=127.0.0.1:[0-9]*' "$d/log" | sed 's/.*://')
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$port" ] || { cat "$d/log" >&2; die "meshdns did not start"; }
	timeout $((DURATION + 20)) "$T/regload" -p "$port" -y "hmac-sha256:$KEY:$SECRET" \
		-d "$DURATION" -w "$WINDOW" || echo "ok=0 rate=0/s regload failed"
	stop "$pid"
	rm -rf "$d"
}

# run_knot RUN ZONEFILE_SYNC: prints regload's line.
run_knot() {
	local d=$T/knot-$1 pid port i
	mkdir -p "$d/zones" "$d/db" "$d/run"
	port=$(free_port)
	cat >"$d/zones/local.zone" <<'EOF'
$ORIGIN local.
$TTL 5
@	SOA	ns.local. hostmaster.local. 1 3600 600 86400 5
@	NS	ns.local.
ns	A	127.0.0.1
EOF
	cat >"$d/knot.conf" <<EOF
server:
    rundir: "$d/run"
    listen: 127.0.0.1@$port
log:
  - target: stderr
    any: warning
database:
    storage: "$d/db"
    journal-db-mode: robust
key:
  - id: $KEY
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: registrar
    key: $KEY
    action: update
template:
  - id: default
    storage: "$d/zones"
    journal-content: changes
    zonefile-sync: $2
zone:
  - domain: local
    file: local.zone
    acl: registrar
EOF
	knotd -c "$d/knot.conf" 2>"$d/log" >/dev/null &
	pid=$!
	PIDS="$PIDS $pid"
	for i in $(seq 100); do
		[ -n "$(dig @127.0.0.1 -p "$port" +short +tries=1 +time=1 local SOA 2>/dev/null)" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$(dig @127.0.0.1 -p "$port" +short +tries=1 +time=1 local SOA 2>/dev/null)" ] ||
		{ cat "$d/log" >&2; die "knotd did not start"; }
	timeout $((DURATION + 20)) "$T/regload" -p "$port" -y "hmac-sha256:$KEY:$SECRET" \
		-d "$DURATION" -w "$WINDOW" || echo "ok=0 rate=0/s regload failed"
	stop "$pid"
	rm -rf "$d"
}

rate_of() { sed -n 's/.*rate=\([0-9]*\)\/s.*/\1/p' <<<"$1"; }

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : 0 }'; }

FS=$(findmnt -n -o FSTYPE -T "$T" 2>/dev/null || stat -f -c %T "$T")
echo "# registrations/s: UDP, TSIG hmac-sha256, window $WINDOW, $DURATION s per run, $RUNS runs"
echo "# state of both servers under $BENCH_DIR ($FS); $(nproc) CPUs; $(knotd --version 2>&1 | head -n1)"
declare -A RATES
for run in $(seq "$RUNS"); do
	for s in $SERVERS; do
		case $s in
		meshdns) line=$(run_meshdns "$run") ;;
		knot) line=$(run_knot "$run" 0) ;;
		knot-journal) line=$(run_knot "$run" -1) ;;
		*) die "unknown server $s" ;;
		esac
		echo "# run $run $s: $line"
		RATES[$s]="${RATES[$s]:-} $(rate_of "$line")"
	done
done

echo
printf '%-14s' "server"
for run in $(seq "$RUNS"); do printf '%10s' "run $run"; done
printf '%10s\n' "median"
for s in $SERVERS; do
	printf '%-14s' "$s"
	for r in ${RATES[$s]}; do printf '%10s' "$r"; done
	printf '%10s\n' "$(echo "${RATES[$s]}" | median)"
done
m=$(echo "${RATES[meshdns]:-}" | median)
for s in $SERVERS; do
	[ "$s" = meshdns ] && continue
	k=$(echo "${RATES[$s]}" | median)
	awk -v m="$m" -v k="$k" -v s="$s" 'BEGIN {
		printf "ratio meshdns/%s: %s\n", s, (k > 0 ? sprintf("%.2f", m / k) : "n/a") }'
done
