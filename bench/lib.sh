# bench/lib.sh - what bench/run and bench/upstream.sh share (sourced, bash):
# measuring one server process tree pinned to core 1 while dnsperf, pinned to
# core 0, sends a fixed rate.
#
# The caller sets W (work dir), PORT, RATE, DURATION, QUERIES (dnsperf's
# query file) and SRV_PID (the server, once started).

die() {
	echo "bench: $*" >&2
	exit 1
}

# pin_server: Knot pins UDP worker N to CPU N itself, overriding taskset: its
# worker would share core 0 with dnsperf (and its wake-ups would be cheap
# same-core switches). Pins every thread of every process of the server to
# core 1 again, once they all exist.
pin_server() {
	local p
	for p in $(tree "$SRV_PID"); do
		taskset -a -p -c 1 "$p" >/dev/null || die "cannot pin pid $p to core 1"
	done
}

# wait_answers PID PORT NAME LOG WHAT: waits (10 s) until the server PID
# answers NAME A on PORT with a 10.x address; dies with LOG when it exits
# first or never answers.
wait_answers() {
	local i
	for i in $(seq 100); do
		dig @127.0.0.1 -p "$2" +tries=1 +time=1 +short "$3" A 2>/dev/null | grep -q '^10\.' &&
			return 0
		kill -0 "$1" 2>/dev/null || { cat "$4" >&2; die "$5 exited at start"; }
		sleep 0.1
	done
	die "$5 does not answer $3 within 10 s"
}

stop() {
	kill "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=""
}

# tree PID: PID and all its descendants (NSD forks main, then server).
tree() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1"); do tree "$c"; done
}

# cpu_ticks [user]: the server's CPU (utime+stime, or utime alone), NSD's
# serving grandchild included.
cpu_ticks() {
	local p t=0 f='$12 + $13'
	[ "${1:-}" = user ] && f='$12'
	for p in $(tree "$SRV_PID"); do
		# Fields after the ")" of comm, which may hold spaces ("nsd: main").
		t=$((t + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk "{print $f}" || echo 0)))
	done
	echo "$t"
}

# Busy ticks of core 1, where only the server runs: its own time and the
# kernel's work on its behalf that /proc/PID/stat does not charge to it (the
# loopback receive path run by ksoftirqd/1, interrupts).
core_ticks() {
	awk '$1 == "cpu1" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

rss_kib() {
	local p r=0
	for p in $(tree "$SRV_PID"); do
		r=$((r + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
	done
	echo "$r"
}

HZ=$(getconf CLK_TCK)

# measure NAME MODE: one paced dnsperf run; appends "cpu_us p50_us p99_us
# completed lost core_us user_us" to $W/NAME.MODE.
measure() {
	local name=$1 mode=$2 t0 t1 c0 c1 u0 u1 out=$W/dnsperf.out args
	args=(-s 127.0.0.1 -p "$PORT" -d "$QUERIES" -Q "$RATE" -l "$DURATION" -v)
	[ "$mode" = tcp ] && args+=(-m tcp -c 10)
	t0=$(cpu_ticks)
	u0=$(cpu_ticks user)
	c0=$(core_ticks)
	taskset -c 0 dnsperf "${args[@]}" >"$out" 2>&1
	c1=$(core_ticks)
	u1=$(cpu_ticks user)
	t1=$(cpu_ticks)
	local completed lost
	completed=$(awk '/Queries completed:/ {print $3}' "$out")
	lost=$(awk '/Queries lost:/ {print $3}' "$out")
	[ -n "$completed" ] && [ "$completed" -gt 0 ] || { tail -5 "$out" >&2; die "$name $mode: dnsperf completed nothing"; }
	grep '^> ' "$out" | awk '{print $NF * 1e6}' | sort -n >"$W/lat"
	local n p50 p99
	n=$(wc -l <"$W/lat")
	p50=$(sed -n "$(( (n + 1) / 2 ))p" "$W/lat")
	p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$W/lat")
	awk -v d=$((t1 - t0)) -v cd=$((c1 - c0)) -v ud=$((u1 - u0)) -v hz="$HZ" -v c="$completed" \
		-v p50="$p50" -v p99="$p99" -v l="$lost" \
		'BEGIN { printf "%.2f %.0f %.0f %d %d %.2f %.2f\n", d * 1e6 / hz / c, p50, p99, c, l,
			 cd * 1e6 / hz / c, ud * 1e6 / hz / c }' \
		>>"$W/$name.$mode"
}

maxqps() {
	taskset -c 0 dnsperf -s 127.0.0.1 -p "$PORT" -d "$QUERIES" -q 500 -l 5 2>&1 |
		awk '/Queries per second:/ {printf "%.0f\n", $4}' >>"$W/$1.max"
}


# median FILE COLUMN
median() {
	awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR] = $1} END { print v[int((NR + 1) / 2)] }'
}

# ratio A B: A / B to two places.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

