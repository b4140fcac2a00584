#!/bin/bash
# bench/threads.sh - how meshdns scales with `threads: N`: the same names and
# query mix as bench/run, meshdns with threads 1 and 2, side by side.
#
# Method:
# - dnsperf gets the first LOADER_CORES cores (-T one thread a core, -c 64
#   sockets: SO_REUSEPORT spreads clients over the threads by address and
#   port, so one socket would reach one thread); meshdns with N threads gets
#   the next N cores. A machine with fewer cores than LOADER_CORES + 2 cannot
#   give the second thread a core of its own: the table then says "shared",
#   and the second thread competes with dnsperf, so its figure shows the
#   cost of threads, not their gain.
# - Max QPS: dnsperf unpaced (-q 1000 in flight) for DURATION s, the median
#   of RUNS runs.
# - CPU per query: dnsperf paced at RATE for DURATION s; the server's
#   utime+stime from /proc over the run per completed query.
# - Thread share: meshdns-ctl stats, queries answered per thread.
# - CAP=F (a fraction of a core, e.g. 0.25) emulates a machine with a core
#   per thread where there are not enough cores: meshdns runs in a cgroup
#   (v1 cpu controller) with a CPU quota of N x F cores, each of its N
#   threads pinned to a core of its own, dnsperf on core 0 beside the worker
#   (F is chosen so that dnsperf and F fit on core 0). Twice the quota for
#   two threads can only give twice the queries if the threads do not wait
#   for each other (locks, shared cache lines, the main loop), which is what
#   the target is about; it does not show what a second real core's caches
#   and memory bandwidth add.
#
# Usage: bench/threads.sh [MESHDNS_BINARY]
# Environment: RUNS (3), DURATION (5), RATE (50000), SERVICES (1000),
# LOADER_CORES (1 on up to 3 cores, else 2), THREADS ("1 2"), CAP (off).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
MESHDNS=${1:-${MESHDNS:-./build/resolver/meshdns}}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
RATE=${RATE:-50000}
SERVICES=${SERVICES:-1000}
THREADS=${THREADS:-1 2}
CAP=${CAP:-}
PORT=${PORT:-5398}
NCPU=$(nproc)
if [ "$NCPU" -ge 4 ]; then LOADER_CORES=${LOADER_CORES:-2}; else LOADER_CORES=${LOADER_CORES:-1}; fi

. "$HERE/lib.sh"

[ -x "$MESHDNS" ] || die "$MESHDNS is not an executable (build it, or pass its path)"
MESHDNS=$(readlink -f "$MESHDNS")
CTL=$(dirname "$MESHDNS")/meshdns-ctl
[ -x "$CTL" ] || die "meshdns-ctl not found next to $MESHDNS"
command -v dnsperf >/dev/null 2>&1 || die "dnsperf not found: apt-get install dnsperf"
[ "$NCPU" -ge 2 ] || die "needs 2 cores"

W=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-threads.XXXXXX")
QUERIES=$W/queries.txt
SRV_PID=""
CG=""
cleanup() {
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	[ -n "$CG" ] && rmdir "$CG" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

python3 "$HERE/dataset.py" "$W" "$SERVICES" 4 200000 "$PORT" || die "dataset.py failed"
LOADER="0-$((LOADER_CORES - 1))"

if [ -n "$CAP" ]; then
	CG=/sys/fs/cgroup/cpu/meshdns-bench.$$
	mkdir "$CG" 2>/dev/null && [ -w "$CG/cpu.cfs_quota_us" ] ||
		die "CAP needs the cgroup v1 cpu controller at /sys/fs/cgroup/cpu (and root)"
	echo 100000 >"$CG/cpu.cfs_period_us"
fi

# cores N: the cores meshdns with N threads runs on, and whether dnsperf
# shares them.
cores() {
	local first=$LOADER_CORES last=$((LOADER_CORES + $1 - 1)) shared=""
	if [ -n "$CAP" ] && [ "$1" -le "$NCPU" ]; then
		first=$((NCPU - $1))
		last=$((NCPU - 1))
		[ "$first" -lt "$LOADER_CORES" ] && shared=" (capped, dnsperf beside)"
		[ "$first" -ge "$LOADER_CORES" ] && shared=" (capped)"
	elif [ "$last" -ge "$NCPU" ]; then
		last=$((NCPU - 1))
		first=$((last - $1 + 1))
		[ "$first" -lt 0 ] && first=0
		shared=" (shared with dnsperf)"
	fi
	echo "$first-$last$shared"
}

start_threads() {
	local n=$1 set
	set=$(cores "$n" | awk '{print $1}')
	{ echo "threads: $n"; echo "control_socket: \"$W/ctl.sock\""; cat "$W/meshdns.yaml"; } \
		>"$W/threads.yaml"
	(cd "$W" && exec taskset -c "$set" "$MESHDNS" -q -c threads.yaml) 2>"$W/meshdns.log" &
	SRV_PID=$!
	wait_answers "$SRV_PID" "$PORT" svc7.local "$W/meshdns.log" meshdns
	taskset -a -p -c "$set" "$SRV_PID" >/dev/null || die "cannot pin meshdns"
	[ -n "$CAP" ] && cap "$n"
	return 0
}

# cap N: meshdns into the cgroup with N x CAP cores; the main loop on the
# last core, worker k on the core k below it.
cap() {
	local t name core
	awk -v n="$1" -v c="$CAP" 'BEGIN { printf "%d\n", n * c * 100000 }' >"$CG/cpu.cfs_quota_us"
	echo "$SRV_PID" >"$CG/cgroup.procs" || die "cannot move meshdns into $CG"
	for t in /proc/"$SRV_PID"/task/*; do
		name=$(cat "$t/comm")
		case $name in
		meshdns-udp*) core=$((NCPU - 1 - ${name#meshdns-udp})) ;;
		*) core=$((NCPU - 1)) ;;
		esac
		taskset -p -c "$core" "${t##*/}" >/dev/null || die "cannot pin thread ${t##*/}"
	done
}

perf() {
	taskset -c "$LOADER" dnsperf -s 127.0.0.1 -p "$PORT" -d "$QUERIES" -T "$LOADER_CORES" \
		-c 64 -l "$DURATION" "$@" 2>&1
}

echo "# $NCPU cores, $(uname -r); dnsperf on cores $LOADER (-T $LOADER_CORES -c 64);" \
	"$RATE QPS paced, unpaced for max QPS; ${DURATION}s; $RUNS runs${CAP:+; CAP $CAP core per thread}"
for run in $(seq "$RUNS"); do
	for n in $THREADS; do
		start_threads "$n"
		perf -q 1000 | awk '/Queries per second:/ {printf "%.0f\n", $4}' >>"$W/$n.max"
		t0=$(cpu_ticks)
		perf -Q "$RATE" >"$W/paced.out"
		t1=$(cpu_ticks)
		done_q=$(awk '/Queries completed:/ {print $3}' "$W/paced.out")
		awk -v d=$((t1 - t0)) -v hz="$HZ" -v c="$done_q" \
			'BEGIN { printf "%.2f\n", d * 1e6 / hz / c }' >>"$W/$n.cpu"
		"$CTL" -s "$W/ctl.sock" stats | sed -n 's/^thread_queries: //p' >"$W/$n.share"
		stop
		echo "# run $run threads $n: max $(tail -1 "$W/$n.max") QPS," \
			"$(tail -1 "$W/$n.cpu") us/query at $RATE; per thread: $(cat "$W/$n.share")" >&2
	done
done

printf '\n%-8s %-28s %10s %11s %s\n' threads cores max_qps "us/query" "share per thread"
for n in $THREADS; do
	printf '%-8s %-28s %10s %11s %s\n' "$n" "$(cores "$n")" "$(median "$W/$n.max" 1)" \
		"$(median "$W/$n.cpu" 1)" "$(awk '{ t = 0; for (i = 1; i <= NF; i++) t += $i;
			for (i = 1; i <= NF; i++) printf "%s%.0f%%", (i > 1 ? "/" : ""), 100 * $i / t }' \
			"$W/$n.share")"
done
set -- $THREADS
if [ $# -ge 2 ]; then
	echo "# max QPS, threads $2 / threads $1: $(ratio "$(median "$W/$2.max" 1)" "$(median "$W/$1.max" 1)")" \
		"(target >= 1.7 where each thread has a core of its own)"
	echo "# CPU per query, threads $2 / threads $1: $(ratio "$(median "$W/$2.cpu" 1)" "$(median "$W/$1.cpu" 1)")"
fi
