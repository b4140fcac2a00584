# tests/e2e/lib_update.sh - helpers of the registration tests (sourced after
# lib.sh, bash): a config with TSIG keys and a state_dir, nsupdate/knsupdate
# wrappers that print the answer's rcode, and a dnspython client (upd.py,
# written into $T) for what nsupdate cannot send: the UPDATE-LEASE option
# (RFC 9664), a skewed TSIG clock, many registrations back to back.
#
# Sets UPD_KEY/UPD_SECRET (hmac-sha256, may change payments-v1 and
# payments-v2), V2_KEY/V2_SECRET (hmac-sha512, payments-v2 only) and PYDNS
# (a python3 that has dnspython).

need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need knsupdate knot-dnsutils

# dnspython: the python3 on PATH may be a private one (pyenv) without the
# Debian package, so fall back to the system interpreter.
PYDNS=""
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import dns.update, dns.tsig, dns.edns' 2>/dev/null; then
		PYDNS=$p
		break
	fi
done
if [ -z "$PYDNS" ]; then
	echo "SKIP: python3 module dns not found: apt-get install python3-dnspython"
	exit 77
fi

UPD_KEY=payments-key
UPD_SECRET=$(head -c32 /dev/urandom | base64)
V2_KEY=v2-key
V2_SECRET=$(head -c64 /dev/urandom | base64 -w0)

# write_update_config FILE STATE_DIR [NAMESPACE_KEY_LINES]: the test config:
# namespace local with services payments-v1, payments-v2 and other, leases
# between 1 s and a day, both keys. Extra lines (indented 4 spaces) go into
# the namespace.
write_update_config() {
	cat >"$1" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
state_dir: $2
namespaces:
  - name: local
    ttl: 5
    default_lease: 0
    min_lease: 1
    max_lease: 86400
${3:-}
    services:
      payments-v1: {}
      payments-v2: {}
      other: {}
keys:
  - {name: $UPD_KEY, algorithm: hmac-sha256, secret: "$UPD_SECRET", allow: [payments-v1.local, payments-v2.local]}
  - {name: $V2_KEY, algorithm: hmac-sha512, secret: "$V2_SECRET", allow: [payments-v2.local]}
EOF
}

# nsu [-k] [-n] [-y ALG:NAME:SECRET] [-z ZONE]: sends the "update ..." lines
# read from stdin as one UPDATE to the server under test with nsupdate (-k:
# knsupdate; -n: unsigned; default key: payments-key) and prints the rcode:
# NOERROR, REFUSED, NOTAUTH(BADSIG), ... or TIMEOUT/ERROR. The tool's output
# is left in $T/nsu.out.
nsu() {
	local tool=nsupdate spec="hmac-sha256:$UPD_KEY:$UPD_SECRET" zone=local o rc
	local OPTIND=1
	while getopts 'kny:z:' o; do
		case $o in
		k) tool=knsupdate ;;
		n) spec="" ;;
		y) spec=$OPTARG ;;
		z) zone=$OPTARG ;;
		*) return 2 ;;
		esac
	done
	{
		echo "server 127.0.0.1 $PORT"
		echo "zone $zone"
		cat
		echo send
		if [ "$tool" = knsupdate ]; then echo answer; fi
	} >"$T/nsu.in"
	timeout 15 "$tool" -t 5 ${spec:+-y "$spec"} "$T/nsu.in" >"$T/nsu.out" 2>&1
	rc=$?
	if [ "$tool" = knsupdate ]; then
		# knsupdate prints the answer (status: X) or its own error line.
		o=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' "$T/nsu.out" | head -n1)
		if [ -z "$o" ]; then
			o=$(grep -o "update failed with error '[^']*'\|failed ([^)]*)" "$T/nsu.out" | head -n1)
		fi
		[ $rc -eq 0 ] && [ "$o" = NOERROR ] && { echo NOERROR; return 0; }
		echo "${o:-ERROR($rc)}"
		return 0
	fi
	if [ $rc -eq 0 ]; then
		echo NOERROR
	elif grep -q 'update failed: ' "$T/nsu.out"; then
		sed -n 's/.*update failed: \([A-Za-z()]*\).*/\1/p' "$T/nsu.out" | head -n1
	elif grep -qi 'timed out\|no servers could be reached' "$T/nsu.out" || [ $rc -eq 124 ]; then
		echo TIMEOUT
	else
		echo "ERROR($rc)"
	fi
}

# expect_rcode WHAT WANT: reads update lines on stdin, sends them with nsu
# (options after WANT are passed on) and checks the rcode.
expect_rcode() {
	local what=$1 want=$2 got
	shift 2
	got=$(nsu "$@")
	if [ "$got" = "$want" ]; then
		pass "$what ($got)"
	else
		fail "$what: expected $want, got $got"
		sed 's/^/#   /' "$T/nsu.out"
	fi
}

# a_set NAME / srv_set NAME / txt_of NAME: sorted answers on one line
# (SRV and TXT over TCP, so big sets are whole).
a_set() { short "$1" A | sort | tr '\n' ' ' | sed 's/ $//'; }
srv_set() { short +tcp "$1" SRV | sort | tr '\n' ' ' | sed 's/ $//'; }
srv_count() { short +tcp "$1" SRV | grep -c .; }
txt_of() { short "$1" TXT | tr '\n' ' ' | sed 's/ $//'; }

# is_nodata NAME TYPE: NOERROR, no answer, the SOA in the authority section.
is_nodata() {
	local out
	out=$(q "$1" "$2")
	printf '%s\n' "$out" | grep -q 'status: NOERROR' &&
		printf '%s\n' "$out" | grep -q 'ANSWER: 0,' &&
		printf '%s\n' "$out" | awk '/AUTHORITY SECTION/ { f = 1; next }
			f && $4 == "SOA" { s = 1 } END { exit !s }'
}

# is_gone NAME: the server answers, without an A record for NAME.
# is_present NAME: the server answers with one. (A dig that gets no answer
# is neither.)
is_gone() {
	local out
	out=$(q "$1" A)
	printf '%s\n' "$out" | grep -q 'status: ' && printf '%s\n' "$out" | grep -q 'ANSWER: 0,'
}
is_present() {
	local out
	out=$(q "$1" A)
	printf '%s\n' "$out" | grep -q 'status: NOERROR' && ! printf '%s\n' "$out" | grep -q 'ANSWER: 0,'
}

# Leases end at whole unix seconds (the server's time(NULL) + lease), so the
# lease checks line up with the wall clock: wall_ms prints it in ms,
# align_second LO HI waits until the fraction of the current second is
# within LO..HI ms, secs_until MS prints the seconds (may be 0) left until
# wall-clock MS, for wait_until.
wall_ms() { echo $(( $(date +%s%N) / 1000000 )); }
align_second() {
	local f
	for _ in $(seq 200); do
		f=$(( $(wall_ms) % 1000 ))
		if [ "$f" -ge "$1" ] && [ "$f" -le "$2" ]; then return 0; fi
		sleep 0.02
	done
	return 1
}
secs_until() {
	awk -v t="$1" -v n="$(wall_ms)" 'BEGIN { d = (t - n) / 1000; printf "%.3f", (d > 0 ? d : 0) }'
}

# upd_aligned LO HI ARGS...: upd --align LO HI ARGS; sets UPD_OUT (its
# first line), UPD_B and UPD_A (wall-clock ms just before the send and
# just after the answer).
upd_aligned() {
	local lo=$1 hi=$2 out
	shift 2
	out=$(upd --align "$lo" "$hi" "$@")
	UPD_OUT=$(printf '%s\n' "$out" | head -n1)
	UPD_B=$(printf '%s\n' "$out" | sed -n 's/^window=\([0-9]*\) .*/\1/p')
	UPD_A=$(printf '%s\n' "$out" | sed -n 's/^window=[0-9]* \([0-9]*\)$/\1/p')
	UPD_B=${UPD_B:-0}
	UPD_A=${UPD_A:-0}
}

# upd_in_second LO HI ARGS... <MESSAGE: upd_aligned, sent again (at most 3
# tries) while the exchange straddles a second boundary (a busy machine),
# so that the second the server received it in is known: UPD_SEC.
# UPD_SPLIT is 0 when the last try fit in one second.
upd_in_second() {
	local msg try
	msg=$(cat)
	for try in 1 2 3; do
		upd_aligned "$@" <<<"$msg"
		UPD_SEC=$((UPD_B / 1000))
		UPD_SPLIT=$((UPD_A / 1000 - UPD_SEC))
		[ "$UPD_SPLIT" = 0 ] && return 0
		echo "# try $try: the exchange took $((UPD_A - UPD_B)) ms across a second boundary; again"
	done
}

# start_meshdns_args CONFIG LOG ARGS...: like start_meshdns, with extra
# arguments for meshdns (e.g. --recover).
start_meshdns_args() {
	local cfg=$1 i line
	MESHDNS_LOG=$2
	shift 2
	: >"$MESHDNS_LOG"
	(meshdns_run -c "$cfg" "$@") 2>"$MESHDNS_LOG" >/dev/null &
	MESHDNS_PID=$!
	PIDS="$PIDS $MESHDNS_PID"
	for i in $(seq 300); do
		line=$(grep -m1 'serving listen=' "$MESHDNS_LOG" 2>/dev/null)
		if [ -n "$line" ]; then
			PORT=$(printf '%s\n' "$line" | grep -o 'listen=[^ ]*' | head -n1 |
			       sed -n 's/.*:\([0-9][0-9]*\)$/\1/p')
			return 0
		fi
		if ! kill -0 "$MESHDNS_PID" 2>/dev/null; then
			wait "$MESHDNS_PID"
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# start_fails CONFIG LOG ARGS...: meshdns must exit non-zero without serving
# (within 10 s). Sets START_RC: its exit status, or "served" when it started
# after all (it is then stopped again).
start_fails() {
	local cfg=$1 log=$2 pid i
	shift 2
	: >"$log"
	"$MESHDNS" -c "$cfg" "$@" 2>"$log" >/dev/null &
	pid=$!
	START_RC=timeout
	for i in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			START_RC=$?
			[ "$START_RC" -ne 0 ]
			return
		fi
		if grep -q 'serving listen=' "$log"; then
			START_RC=served
			break
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

# kill9_meshdns: SIGKILL to the server under test, reaped.
kill9_meshdns() {
	kill -KILL "$MESHDNS_PID" 2>/dev/null
	wait "$MESHDNS_PID" 2>/dev/null
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$MESHDNS_PID" | tr '\n' ' ')
	return 0
}

# upd ARGS...: the dnspython client below against the server under test,
# signed with payments-key unless ARGS say otherwise (--key ALG:NAME:SECRET,
# --unsigned). See its usage for the rest.
upd() {
	"$PYDNS" "$T/upd.py" --port "$PORT" --key "hmac-sha256:$UPD_KEY:$UPD_SECRET" "$@"
}

cat >"$T/upd.py" <<'PYEOF'
"""UPDATE client for the registration tests (dnspython).

One message: operations on stdin, one a line, names absolute:
    add NAME TTL TYPE RDATA...      delete NAME [TYPE [RDATA...]]
prints "rcode=NOERROR lease=N" (lease: the granted UPDATE-LEASE, or none).
--bulk N: registers N instances <prefix><k>.<svc>.local (A, TXT, SRV), one
message each, each waiting for its answer; prints "registered=M" and, on the
first failure, "failed=<k> rcode=X" (--until-fail stops there quietly).
--record FILE appends "<k>" to FILE (flushed) as each NOERROR arrives, so a
client that outlives the server leaves the list of what was acknowledged.
--timeout S: seconds to wait for each answer (default 5).
--align LO HI (one message): after start-up, waits until the wall clock's
fraction of a second is within LO..HI ms, sends, and prints a second line
"window=<ms before send> <ms after answer>" (wall clock), so a test can tell
the second the server saw without counting python's start-up.
--kill PID sends SIGKILL to PID right after the last answer.
--tsig-answer (one message): prints the answer's TSIG instead, whatever its
error: "rcode=R tsig_error=E mac=verified|empty|bad other_len=N
time_signed=request|other". dnspython will not check the MAC of an answer
that carries a TSIG error, so its own digest code checks it here."""
import argparse, os, signal, struct, sys, time
import dns.edns, dns.exception, dns.message, dns.query, dns.rcode, dns.tsig, dns.update

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--key", help="ALG:NAME:SECRET")
ap.add_argument("--unsigned", action="store_true")
ap.add_argument("--zone", default="local.")
ap.add_argument("--lease", type=int)
ap.add_argument("--time-offset", type=int, default=0, help="skew the TSIG clock (s)")
ap.add_argument("--tcp", action="store_true")
ap.add_argument("--bulk", type=int, default=0)
ap.add_argument("--start", type=int, default=0)
ap.add_argument("--svc", default="payments-v1")
ap.add_argument("--prefix", default="i")
ap.add_argument("--until-fail", action="store_true")
ap.add_argument("--kill", type=int)
ap.add_argument("--record")
ap.add_argument("--timeout", type=float, default=5)
ap.add_argument("--align", type=int, nargs=2)
ap.add_argument("--tsig-answer", action="store_true")
a = ap.parse_args()

key = None
if a.key and not a.unsigned:
    alg, name, secret = a.key.split(":", 2)
    key = dns.tsig.Key(name, secret, alg)

if a.time_offset:
    real = time.time
    time.time = lambda: real() + a.time_offset

TSIG_ERRORS = {dns.tsig.PeerBadKey: "BADKEY", dns.tsig.PeerBadSignature: "BADSIG",
               dns.tsig.PeerBadTime: "BADTIME", dns.tsig.PeerBadTruncation: "BADTRUNC"}


def message():
    m = dns.update.UpdateMessage(a.zone)
    if key:
        m.use_tsig(key, algorithm=key.algorithm)
    if a.lease is not None:
        m.use_edns(0, options=[dns.edns.GenericOption(2, struct.pack("!I", a.lease))])
    return m


def send(m):
    """Returns (rcode text, granted lease or None)."""
    try:
        if a.tcp:
            r = dns.query.tcp(m, "127.0.0.1", port=a.port, timeout=a.timeout)
        else:
            r = dns.query.udp(m, "127.0.0.1", port=a.port, timeout=a.timeout)
    except dns.tsig.PeerError as e:
        return "NOTAUTH(%s)" % TSIG_ERRORS.get(type(e), type(e).__name__), None
    except dns.exception.Timeout:
        return "TIMEOUT", None
    except dns.tsig.BadSignature:
        return "ANSWER-MAC-BAD", None  # the server's answer fails TSIG
    except (OSError, EOFError):
        return "NETERR", None    # e.g. the server was killed mid-TCP-exchange
    lease = None
    for o in r.options:
        if o.otype == 2:
            lease = struct.unpack("!I", o.to_wire()[:4])[0]
    return dns.rcode.to_text(r.rcode()), lease


def tsig_answer(m):
    seen = {}

    def capture(wire, key, owner, rdata, now, request_mac, tsig_start, ctx=None, multi=False):
        seen.update(wire=wire, key=key, rdata=rdata, request_mac=request_mac, start=tsig_start)

    real = dns.tsig.validate
    dns.tsig.validate = capture
    try:
        r = dns.query.udp(m, "127.0.0.1", port=a.port, timeout=a.timeout)
    finally:
        dns.tsig.validate = real
    rd, wire = seen["rdata"], seen["wire"]
    mac = "empty"
    if rd.mac:
        (ar,) = struct.unpack("!H", wire[10:12])
        body = wire[:10] + struct.pack("!H", ar - 1) + wire[12:seen["start"]]
        ctx = dns.tsig._digest(body, seen["key"], rd, None, seen["request_mac"], None, False)
        try:
            ctx.verify(rd.mac)
            mac = "verified"
        except dns.tsig.BadSignature:
            mac = "bad"
    return "rcode=%s tsig_error=%s mac=%s other_len=%d time_signed=%s" % (
        dns.rcode.to_text(r.rcode()), {16: "BADSIG", 17: "BADKEY", 18: "BADTIME"}.get(
            rd.error, rd.error), mac, len(rd.other),
        "request" if rd.time_signed == m.tsig[0].time_signed else "other")


def one():
    m = message()
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == "add":
            m.add(f[1], int(f[2]), f[3], " ".join(f[4:]))
        elif f[0] == "delete":
            if len(f) == 2:
                m.delete(f[1])
            elif len(f) == 3:
                m.delete(f[1], f[2])
            else:
                m.delete(f[1], f[2], " ".join(f[3:]))
        else:
            sys.exit("bad operation: " + line)
    if a.align:
        while not a.align[0] <= time.time() * 1000 % 1000 <= a.align[1]:
            time.sleep(0.005)
    if a.tsig_answer:
        print(tsig_answer(m))
        return
    before = int(time.time() * 1000)
    rc, lease = send(m)
    after = int(time.time() * 1000)
    print("rcode=%s lease=%s" % (rc, "none" if lease is None else lease))
    if a.align:
        print("window=%d %d" % (before, after))


def bulk():
    ok = 0
    rec = open(a.record, "a", buffering=1) if a.record else None
    for k in range(a.start, a.start + a.bulk):
        inst = "%s%d.%s.local." % (a.prefix, k, a.svc)
        m = message()
        m.delete(inst)
        m.add(inst, 5, "A", "10.%d.%d.%d" % (1 + k // 65536, k // 256 % 256, k % 256))
        m.add(inst, 5, "TXT", '"health=healthy" "n=%d"' % k)
        m.add("%s.local." % a.svc, 5, "SRV", "0 100 %d %s" % (5000 + k % 1000, inst))
        rc, _ = send(m)
        if rc != "NOERROR":
            print("failed=%d rcode=%s" % (k, rc))
            break
        if rec:
            rec.write("%d\n" % k)
        ok += 1
    if a.kill:
        os.kill(a.kill, signal.SIGKILL)
    print("registered=%d" % ok)
    if ok != a.bulk and not a.until_fail:
        sys.exit(1)


bulk() if a.bulk else one()
PYEOF
