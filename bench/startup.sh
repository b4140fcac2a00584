#!/bin/bash
# bench/startup.sh - how long meshdns takes to replay a long journal, and the
# memory it then holds (the targets: a 1,000,000-record journal in <= 2 s; RSS
# with 100,000 instances <= 64 MiB).
#
# bench/journalgen.c writes RECORDS journal records through the resolver's
# own journal code: INSTANCES registered instances over SERVICES services,
# each registered RECORDS/INSTANCES times (the history of renewals and
# re-registrations a server that crashed before compacting would replay).
# meshdns then starts on it RUNS times; each start is timed from exec to its
# ready line ("serving ..."), and RSS is read once the first answer is out.
# A baseline start with no journal at all shows the fixed cost.
#
# Usage: bench/startup.sh [BUILD_DIR]   (default: ./build)
# Environment: RECORDS (1000000), INSTANCES (100000), SERVICES (1000), RUNS (3)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
BUILD=$(readlink -f "${1:-./build}")
RECORDS=${RECORDS:-1000000}
INSTANCES=${INSTANCES:-100000}
SERVICES=${SERVICES:-1000}
RUNS=${RUNS:-3}
. "$HERE/lib.sh"

MESHDNS=$BUILD/resolver/meshdns
[ -x "$MESHDNS" ] || die "$MESHDNS is not built (make -C $BUILD)"
command -v dig >/dev/null || die "dig missing: apt-get install bind9-dnsutils"

W=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-startup.XXXXXX") || die "no temp dir"
SRV_PID=""
cleanup() {
	[ -n "$SRV_PID" ] && stop
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cc -O2 -Wall -I"$TOP/resolver" -I"$TOP/lib" -I"$BUILD" "$HERE/journalgen.c" \
	"$BUILD/resolver/libresolver.a" "$BUILD/lib/libmeshdns.a" \
	$(pkg-config --libs ldns libuv libcares yaml-0.1) -o "$W/journalgen" ||
	die "cannot build journalgen.c against $BUILD"

# config STATE_DIR: the SERVICES services and a key (the journal opens only
# when registrations are possible, i.e. a key exists).
config() {
	echo 'listen: ["127.0.0.1:0"]'
	echo 'upstream: []'
	echo "state_dir: $1"
	echo 'namespaces:'
	echo '  - name: local'
	echo '    services:'
	for ((i = 0; i < SERVICES; i++)); do echo "      svc$i: {}"; done
	echo 'keys:'
	echo "  - {name: k, algorithm: hmac-sha256, secret: \"$(head -c32 /dev/urandom | base64)\", allow: [svc0.local]}"
}

# start STATE_DIR: prints "ms rss_kib instances"
start() {
	local log=$W/log t0 t1 port n i
	config "$1" >"$W/meshdns.yaml"
	: >"$log"
	t0=$(date +%s%N)
	"$MESHDNS" -c "$W/meshdns.yaml" 2>"$log" >/dev/null &
	SRV_PID=$!
	for ((i = 0; i < 6000; i++)); do
		grep -q 'serving listen=' "$log" && break
		kill -0 "$SRV_PID" 2>/dev/null || die "meshdns exited: $(cat "$log")"
		sleep 0.005
	done
	t1=$(date +%s%N)
	port=$(grep -m1 -o 'listen=127.0.0.1:[0-9]*' "$log" | cut -d: -f2)
	n=$(grep -m1 -o 'instances=[0-9]*' "$log" | cut -d= -f2)
	if [ "$n" -gt 0 ] && ! dig @127.0.0.1 -p "$port" svc1.local +short +tries=1 +time=2 | grep -q .; then
		stop
		die "no answer for svc1.local after the replay"
	fi
	echo "$(((t1 - t0) / 1000000)) $(rss_kib) $n"
	stop
}

mkdir -p "$W/empty"
base=$(start "$W/empty")
echo "# baseline (no journal, $SERVICES services): ready ${base%% *} ms, RSS $(echo "$base" | cut -d' ' -f2) KiB"

t0=$(date +%s%N)
"$W/journalgen" "$W/state" "$RECORDS" "$INSTANCES" "$SERVICES" || die "journalgen failed"
t1=$(date +%s%N)
echo "# journal: $RECORDS records, $(($(stat -c %s "$W/state/journal") / 1048576)) MiB, $INSTANCES instances, written in $(((t1 - t0) / 1000000)) ms"
cp "$W/state/journal" "$W/journal.orig"
for ((r = 1; r <= RUNS; r++)); do
	# Each start may compact; every run replays the same uncompacted journal.
	cp "$W/journal.orig" "$W/state/journal"
	out=$(start "$W/state")
	echo "# run $r: ready $(echo "$out" | cut -d' ' -f1) ms, RSS $(echo "$out" | cut -d' ' -f2) KiB, instances $(echo "$out" | cut -d' ' -f3)"
	echo "$out" >>"$W/runs"
done
m=$(median "$W/runs" 1)
k=$(median "$W/runs" 2)
printf 'replay of %d records (%d instances): %d ms (target <= 2000), RSS %d KiB = %.1f MiB (target <= 64 MiB)\n' \
	"$RECORDS" "$INSTANCES" "$m" "$k" "$(awk -v k="$k" 'BEGIN { print k / 1024 }')"
