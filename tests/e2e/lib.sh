# tests/e2e/lib.sh - shared helpers of the end-to-end tests (sourced, bash).
#
# Each test sources this file, starts meshdns (and HTTP/TCP backends) on
# loopback ports picked by the kernel, talks to it with dig, kdig and python3,
# and prints "ok - <what>" / "not ok - <what>" per check. The EXIT trap kills
# every process started here (by PID), prints the meshdns log when a check
# failed, removes the temp dir, and the script exits 1 if any check failed.
#
# Environment: MESHDNS (the binary, required), SRCDIR (the source tree;
# default: two levels above this file), MESHDNS_VALGRIND=1 (run every meshdns
# started through start_meshdns under valgrind memcheck; any error or
# definite leak it reports fails the test), MESHDNS_THREADS=N (every config
# gets threads: N unless it sets threads itself), MESHDNS_TSAN=1 (MESHDNS is
# a ThreadSanitizer build: any report it writes fails the test).

set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${SRCDIR:-$(cd "$E2E_DIR/../.." && pwd)}
export SRCDIR

if [ -z "${MESHDNS:-}" ]; then
	echo "error: MESHDNS is not set: run with MESHDNS=/path/to/build/resolver/meshdns" \
	     "(make check sets it)" >&2
	exit 99
fi
if [ ! -x "$MESHDNS" ]; then
	echo "error: MESHDNS=$MESHDNS is not an executable file (build it first)" >&2
	exit 99
fi

# need TOOL PACKAGE: skips the test (77) when TOOL is missing.
need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "SKIP: $1 not found: apt-get install $2"
		exit 77
	fi
}
need python3 python3

T=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-e2e.XXXXXX")
PIDS=""
FAILED=0
PASSED=0
MESHDNS_PID=""
PORT=""
MESHDNS_LOG="$T/meshdns.log"

# meshdns_run ARGS...: execs meshdns (under valgrind with MESHDNS_VALGRIND=1,
# each process logging to its own $T/valgrind.PID.log). Run it in a subshell.
meshdns_run() {
	if [ "${MESHDNS_VALGRIND:-0}" = 1 ]; then
		exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
			--show-leak-kinds=definite --log-file="$T/valgrind.%p.log" "$MESHDNS" "$@"
	fi
	exec "$MESHDNS" "$@"
}
if [ "${MESHDNS_VALGRIND:-0}" = 1 ]; then
	need valgrind valgrind
fi

# valgrind_verdict: one check over every valgrind log (after all stopped).
valgrind_verdict() {
	local f bad=""
	for f in "$T"/valgrind.*.log; do
		[ -e "$f" ] || continue
		if [ -s "$f" ]; then
			bad="$bad $(basename "$f")"
			sed 's/^/# /' "$f"
		fi
	done
	if [ -n "$bad" ]; then
		fail "valgrind memcheck: errors or definite leaks in$bad"
	elif ls "$T"/valgrind.*.log >/dev/null 2>&1; then
		pass "valgrind memcheck: no errors, no definite leaks ($(ls "$T"/valgrind.*.log | wc -l) runs)"
	fi
}

# MESHDNS_TSAN=1: every process of the build writes its reports to
# $T/tsan.PID; one check over them at the end.
if [ "${MESHDNS_TSAN:-0}" = 1 ]; then
	export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS }log_path=$T/tsan second_deadlock_stack=1"
fi
tsan_verdict() {
	local f bad=""
	for f in "$T"/tsan.*; do
		[ -s "$f" ] || continue
		bad="$bad $(basename "$f")"
		sed 's/^/# /' "$f" | head -n 80
	done
	if [ -n "$bad" ]; then
		fail "ThreadSanitizer: reports in$bad"
	else
		pass "ThreadSanitizer: no report"
	fi
}

cleanup() {
	local rc=$? p
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	if [ "${MESHDNS_VALGRIND:-0}" = 1 ] && [ "$rc" -ne 77 ]; then
		valgrind_verdict
		[ "$FAILED" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
	fi
	if [ "${MESHDNS_TSAN:-0}" = 1 ] && [ "$rc" -ne 77 ]; then
		tsan_verdict
		[ "$FAILED" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
	fi
	if [ "$FAILED" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; }; then
		for f in "$T"/meshdns*.log; do
			[ -s "$f" ] || continue
			echo "# ---- $(basename "$f") ----"
			sed 's/^/# /' "$f"
		done
	fi
	rm -rf "$T"
	if [ "$rc" -eq 0 ] && [ "$FAILED" -gt 0 ]; then
		rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() {
	PASSED=$((PASSED + 1))
	echo "ok - $*"
}

fail() {
	FAILED=$((FAILED + 1))
	echo "not ok - $*"
}

# check WHAT COMMAND...: ok when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# expect_eq WHAT GOT WANT: ok when the strings are equal; else shows both.
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: expected [$3], got [$2]"
	fi
}

# bail MESSAGE: a failure after which the test cannot go on.
bail() {
	fail "$*"
	exit 1
}

# done_testing: prints the summary; the EXIT trap sets the exit status.
done_testing() {
	echo "# $PASSED passed, $FAILED failed"
	if [ "$FAILED" -gt 0 ]; then exit 1; fi
	exit 0
}

# wait_until SECONDS COMMAND...: polls COMMAND every 100 ms until it
# succeeds (0) or SECONDS (may be fractional) have passed (1).
wait_until() {
	local limit_ms start
	limit_ms=$(awk -v l="$1" 'BEGIN { printf "%d", l * 1000 }')
	shift
	start=$(date +%s%N)
	while :; do
		if "$@"; then return 0; fi
		if [ "$(elapsed_ms "$start")" -ge "$limit_ms" ]; then
			return 1
		fi
		sleep 0.1
	done
}

# elapsed_ms START_NS: milliseconds since START_NS (date +%s%N).
elapsed_ms() {
	echo $(( ($(date +%s%N) - $1) / 1000000 ))
}

# start_meshdns CONFIG [LOG]: runs meshdns -c CONFIG in the background, waits
# (up to 30 s: valgrind is slow) for its "serving listen=" line; sets MESHDNS_PID, PORT (of the
# first listen address) and LISTENS (every address:port, one a line).
#
# A config that does not choose an upstream gets `upstream: []`: meshdns's
# default forwards to the host's resolv.conf, and tests send traffic only to
# loopback, to upstreams they start themselves. One without control_socket
# gets CONFIG.ctl, so tests never share /var/lib/meshdns/control.sock.
start_meshdns() {
	local cfg=$1
	MESHDNS_LOG=${2:-$T/meshdns.log}
	: >"$MESHDNS_LOG"
	grep -q '^upstream:' "$cfg" || sed -i '1i upstream: []' "$cfg"
	# meshdns-ctl's socket: beside the config, not in the default state_dir.
	grep -q '^control_socket:' "$cfg" || sed -i "1i control_socket: \"$cfg.ctl\"" "$cfg"
	# MESHDNS_THREADS=N: every test runs with worker threads (CI does so
	# under ThreadSanitizer); a config that sets threads keeps its own.
	if [ -n "${MESHDNS_THREADS:-}" ] && ! grep -q '^threads:' "$cfg"; then
		sed -i "1i threads: $MESHDNS_THREADS" "$cfg"
	fi
	(meshdns_run -c "$cfg") 2>"$MESHDNS_LOG" >/dev/null &
	MESHDNS_PID=$!
	PIDS="$PIDS $MESHDNS_PID"
	local i line
	for i in $(seq 300); do
		line=$(grep -m1 'serving listen=' "$MESHDNS_LOG" 2>/dev/null)
		if [ -n "$line" ]; then
			# The first listen= address is the one q and dig use.
			LISTENS=$(printf '%s\n' "$line" | grep -o 'listen=[^ ]*' | sed 's/^listen=//')
			PORT=$(printf '%s\n' "$LISTENS" | head -n1 | sed -n 's/.*:\([0-9][0-9]*\)$/\1/p')
			if [ -z "$PORT" ]; then
				bail "cannot parse the port from: $line"
			fi
			return 0
		fi
		if ! kill -0 "$MESHDNS_PID" 2>/dev/null; then
			bail "meshdns starts with $cfg (it exited before serving; its log follows)"
		fi
		sleep 0.1
	done
	bail "meshdns printed no 'serving listen=' line within 30 s"
}

# stop_meshdns: SIGTERM, waits for the exit; returns its exit status.
stop_meshdns() {
	local rc
	kill -TERM "$MESHDNS_PID" 2>/dev/null
	wait "$MESHDNS_PID"
	rc=$?
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$MESHDNS_PID" | tr '\n' ' ')
	return "$rc"
}

# start_backend ADDR [PORT] [--tcp]: runs backend.py on ADDR (port 0 = any);
# sets BACKEND_PID and BACKEND_PORT.
start_backend() {
	local addr=$1 port=${2:-0}
	shift
	[ $# -gt 0 ] && shift
	spawn_port "backend on $addr:$port" python3 "$E2E_DIR/backend.py" --bind "$addr" \
		--port "$port" "$@"
	BACKEND_PID=$SPAWN_PID
	BACKEND_PORT=$SPAWN_PORT
}

# spawn_port WHAT CMD...: runs CMD in the background (killed at exit), a
# helper server that prints the port it bound as its first line; waits up
# to 10 s for it. Sets SPAWN_PID, SPAWN_PORT and SPAWN_OUT (the file with
# CMD's output); bails, with that output, when CMD exits first.
spawn_port() {
	local what=$1 out="$T/spawn.$RANDOM.$RANDOM" i
	shift
	SPAWN_OUT=$out
	"$@" >"$out" 2>&1 &
	SPAWN_PID=$!
	PIDS="$PIDS $SPAWN_PID"
	for i in $(seq 100); do
		SPAWN_PORT=$(head -n1 "$out" 2>/dev/null | grep -E '^[0-9]+$')
		[ -n "$SPAWN_PORT" ] && return 0
		if ! kill -0 "$SPAWN_PID" 2>/dev/null; then
			sed 's/^/# /' "$out"
			bail "$what starts"
		fi
		sleep 0.1
	done
	bail "$what printed no port within 10 s"
}

# kill_pid PID: kills one process started here and waits for it.
kill_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
	return 0
}

# q ARGS...: dig against the server under test.
q() {
	dig @127.0.0.1 -p "$PORT" +tries=1 +time=2 "$@"
}

# short ARGS...: dig +short, one record a line.
short() {
	q +short "$@"
}

# count_first NAME N [TYPE]: sends N UDP queries for NAME and prints
# "<first answer's address> <count>" lines (python3, raw sockets).
count_first() {
	python3 - "$PORT" "$1" "$2" "${3:-A}" <<'EOF'
import socket, struct, sys, collections, random
port, name, n, qt = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
qtype = {"A": 1, "AAAA": 28}[qt]
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("127.0.0.1", port))
def skip_name(m, p):
    while True:
        l = m[p]
        if l == 0: return p + 1
        if l & 0xC0 == 0xC0: return p + 2
        p += 1 + l
counts = collections.Counter()
errors = 0
for i in range(n):
    qid = random.randrange(65536)
    s.send(struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1))
    while True:
        try:
            m = s.recv(65535)
        except socket.timeout:
            m = None
            break
        if struct.unpack("!H", m[:2])[0] == qid:
            break
    if m is None or struct.unpack("!H", m[6:8])[0] == 0:
        errors += 1
        continue
    p = skip_name(m, 12) + 4
    p = skip_name(m, p)
    t, c, ttl, rdlen = struct.unpack("!HHIH", m[p:p + 10])
    rd = m[p + 10:p + 10 + rdlen]
    counts[socket.inet_ntop(socket.AF_INET if t == 1 else socket.AF_INET6, rd)] += 1
for k, v in sorted(counts.items()):
    print(k, v)
if errors:
    print("errors", errors)
EOF
}

# permille_of ADDR COUNTS_FILE N: thousandths of the N answers that ADDR got.
permille_of() {
	awk -v a="$1" -v n="$3" '$1 == a { c = $2 } END { printf "%d\n", (c + 0) * 1000 / n }' "$2"
}

# in_range VALUE LOW HIGH
in_range() {
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# py_checks ARGS...: runs python3 ARGS ($PYDNS, the one with dnspython, when
# lib_update.sh set it; a script printing "ok - " and
# "not ok - " lines, e.g. `py_checks - "$PORT" <<'EOF'`) and counts its checks.
py_checks() {
	local rc py=${PYDNS:-python3}
	"$py" "$@" >"$T/py.out" 2>&1
	rc=$?
	cat "$T/py.out"
	PASSED=$((PASSED + $(grep -c '^ok - ' "$T/py.out")))
	FAILED=$((FAILED + $(grep -c '^not ok - ' "$T/py.out")))
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$T/py.out"; then
		fail "$py $* exited $rc"
	fi
}
