#!/bin/bash
# tests/e2e/upstream.sh - meshdns as a container's only resolver: glibc
# (getent) through a resolv.conf that names it, names outside the namespaces
# forwarded to an upstream and cached, and what happens when that upstream
# dies or stops answering.
#
# Runs in private network and mount namespaces (unshare -n -m): meshdns on
# 127.0.0.1:53, a dnsmasq on 127.0.0.2:53 serving example.com as the
# upstream (its query log counts what reached it), and a resolv.conf and an
# nsswitch.conf bind-mounted over /etc for getent.
. "$(dirname "$0")/lib.sh"
need unshare util-linux
need ip iproute2
need mount mount
need getent libc-bin
need dnsmasq dnsmasq-base
need dig bind9-dnsutils

if [ -z "${MESHDNS_IN_NETNS:-}" ]; then
	if ! unshare -n -m true 2>/dev/null; then
		echo "SKIP: cannot create network and mount namespaces (unshare -n -m needs root or CAP_SYS_ADMIN)"
		exit 77
	fi
	MESHDNS_IN_NETNS=1 exec unshare -n -m "$BASH" "$0" "$@"
fi
mount --make-rprivate / || bail "cannot make mounts private in the namespace"
ip link set lo up || bail "cannot bring up lo in the namespace"
ip addr add 127.0.0.2/8 dev lo 2>/dev/null # inside 127/8 already; harmless

printf 'nameserver 127.0.0.1\nsearch local\noptions ndots:1 timeout:1 attempts:2\n' >"$T/resolv.conf"
printf 'hosts: files dns\n' >"$T/nsswitch.conf"
: >"$T/hosts"
mount --bind "$T/resolv.conf" /etc/resolv.conf || bail "cannot bind-mount resolv.conf"
mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf || bail "cannot bind-mount nsswitch.conf"
mount --bind "$T/hosts" /etc/hosts || bail "cannot bind-mount an empty /etc/hosts"

# The upstream: dnsmasq, authoritative-like for example.com (names it does
# not know are NXDOMAIN), TTL 300, every query logged.
DNSMASQ_LOG=$T/dnsmasq.log
start_upstream() {
	: >"$DNSMASQ_LOG"
	dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
		--listen-address=127.0.0.2 --bind-interfaces --port=53 --user=root --pid-file= \
		--local=/example.com/ --local-ttl=300 --neg-ttl=300 \
		--address=/www.example.com/192.0.2.80 --address=/burst.example.com/192.0.2.81 \
		--address=/cached.example.com/192.0.2.82 --address=/later.example.com/192.0.2.83 \
		--log-queries --log-facility="$DNSMASQ_LOG" 2>"$T/dnsmasq.err" &
	UPSTREAM_PID=$!
	PIDS="$PIDS $UPSTREAM_PID"
	wait_until 5 eval "dig @127.0.0.2 +tries=1 +time=1 +short www.example.com A | grep -qx 192.0.2.80"
}
# upstream_saw NAME: how many A queries for NAME reached the upstream.
upstream_saw() {
	grep -c "query\[A\] $1 from" "$DNSMASQ_LOG"
}

check "the upstream dnsmasq serves example.com on 127.0.0.2:53" start_upstream

cat >"$T/meshdns.yaml" <<'YAML'
listen: ["127.0.0.1:53"]
upstream: ["127.0.0.2"]
upstream_timeout: 1.5
serve_stale: 600
namespaces:
  - name: local
    ttl: 5
    services:
      payments:
        instances:
          - {id: a, address: 10.1.0.1, port: 8080}
          - {id: b, address: 10.1.0.2, port: 8080}
YAML
start_meshdns "$T/meshdns.yaml"
[ "$PORT" = 53 ] || bail "meshdns listens on port 53 (got $PORT)"

# getent_has NAME ADDR: glibc resolves NAME and ADDR is among the answers.
getent_has() {
	getent ahostsv4 "$1" | awk '{ print $1 }' | grep -qx "$2"
}

# ---- glibc through resolv.conf ----
check "getent hosts payments.local resolves (a namespace name)" getent_has payments.local 10.1.0.1
check "getent hosts payments resolves through 'search local'" getent_has payments 10.1.0.2
check "getent hosts www.example.com resolves (forwarded upstream)" getent_has www.example.com 192.0.2.80
out=$(dig @127.0.0.1 +tries=1 +time=2 www.example.com A)
check "a forwarded answer has RA set" eval "printf '%s\n' \"\$out\" | grep -Eq '^;; flags:.* ra'"
check "a forwarded answer carries the upstream's address" \
	eval "printf '%s\n' \"\$out\" | grep -Eq 'www\\.example\\.com\\..*IN	A	192\\.0\\.2\\.80'"
out=$(dig @127.0.0.1 +tries=1 +time=2 +norecurse later.example.com A)
check "RD clear and not cached: REFUSED, nothing forwarded" \
	eval "printf '%s\n' \"\$out\" | grep -q 'status: REFUSED' && [ \$(upstream_saw later.example.com) = 0 ]"

# ---- the cache ----
dig @127.0.0.1 +tries=1 +time=2 +short cached.example.com A >/dev/null
n1=$(upstream_saw cached.example.com)
for i in 1 2 3 4 5; do dig @127.0.0.1 +tries=1 +time=2 +short cached.example.com A >/dev/null; done
check "five more queries for a cached name reach the upstream 0 times (saw $n1 then $(upstream_saw cached.example.com))" \
	[ "$(upstream_saw cached.example.com)" = "$n1" ]
ttl=$(dig @127.0.0.1 +tries=1 +time=2 +noall +answer cached.example.com A | awk '{ print $2 }')
check "a cached answer's TTL counts down from 300 (got $ttl)" eval "[ -n '$ttl' ] && [ '$ttl' -le 300 ] && [ '$ttl' -ge 290 ]"
out=$(dig @127.0.0.1 +tries=1 +time=2 CaChEd.ExAmPlE.cOm A)
check "a cache hit restores the question's case (0x20)" \
	eval "printf '%s\n' \"\$out\" | grep -q '^;CaChEd\\.ExAmPlE\\.cOm\\.'"

dig @127.0.0.1 +tries=1 +time=2 nothere.example.com A >"$T/nx1"
dig @127.0.0.1 +tries=1 +time=2 nothere.example.com A >"$T/nx2"
check "NXDOMAIN from the upstream is passed on" grep -q 'status: NXDOMAIN' "$T/nx1"
# dnsmasq's NXDOMAIN carries no SOA, and RFC 2308 (section 5) says a negative
# answer without one is not cached: both queries must reach it. (Negative
# caching with an SOA is in tests/unit/test_cache.c.)
check "an NXDOMAIN without an SOA is not cached: the upstream saw both ($(upstream_saw nothere.example.com))" \
	eval "grep -q 'status: NXDOMAIN' '$T/nx2' && wait_until 2 eval '[ \$(upstream_saw nothere.example.com) = 2 ]'"

# ---- coalescing: 100 identical questions at once, one upstream query ----
python3 - "$T/burst.out" <<'PY'
import random, socket, struct, sys, time
name = b"".join(bytes([len(l)]) + l for l in b"burst.example.com".split(b".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
ids = random.sample(range(65536), 100)
for i in ids:
    s.sendto(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1),
             ("127.0.0.1", 53))
got, ok = set(), 0
s.settimeout(0.2)
end = time.time() + 5
while len(got) < len(ids) and time.time() < end:
    try:
        m = s.recv(4096)
    except socket.timeout:
        continue
    qid, flags, qd, an = struct.unpack(">HHHH", m[:8])
    if qid in ids and qid not in got:
        got.add(qid)
        if flags & 0xF == 0 and an == 1 and m.endswith(bytes([192, 0, 2, 81])):
            ok += 1
open(sys.argv[1], "w").write("%d %d\n" % (len(got), ok))
PY
read -r answered correct <"$T/burst.out"
check "a burst of 100 identical queries: all 100 answered with the address (answered=$answered correct=$correct)" \
	[ "$correct" = 100 ]
sleep 0.5 # dnsmasq writes its log lines asynchronously
check "the burst reached the upstream as one query (saw $(upstream_saw burst.example.com))" \
	[ "$(upstream_saw burst.example.com)" = 1 ]

# ---- the upstream dies ----
kill_pid "$UPSTREAM_PID"
check "with the upstream dead, a cached name still answers (getent)" getent_has cached.example.com 192.0.2.82
check "with the upstream dead, a local name is unaffected (getent)" getent_has payments.local 10.1.0.1
start=$(date +%s%N)
out=$(dig @127.0.0.1 +tries=1 +time=5 uncached1.example.com A)
ms=$(elapsed_ms "$start")
check "with the upstream dead, an uncached name gets SERVFAIL, in ${ms} ms (<= 2000)" \
	eval "printf '%s\n' \"\$out\" | grep -q 'status: SERVFAIL' && [ $ms -le 2000 ]"

# An upstream that takes queries and never answers: SERVFAIL after
# upstream_timeout (1.5 s), never silence.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 53))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.2", 53)); t.listen(16)
open(sys.argv[1], "w").close()  # bound: ready
end = time.time() + 60
s.settimeout(0.5)
while time.time() < end:
    try: s.recv(4096)
    except socket.timeout: pass
' "$T/sink.ready" &
SINK=$!
PIDS="$PIDS $SINK"
# Until the sink is bound, a query would meet a closed port: an ICMP error
# and a quick SERVFAIL, not the timeout this part is about.
wait_until 10 test -e "$T/sink.ready" || bail "the silent upstream binds 127.0.0.2:53"
start=$(date +%s%N)
out=$(dig @127.0.0.1 +tries=1 +time=5 uncached2.example.com A)
ms=$(elapsed_ms "$start")
check "an upstream that never answers: SERVFAIL in ${ms} ms (timeout 1.5 s; <= 2000)" \
	eval "printf '%s\n' \"\$out\" | grep -q 'status: SERVFAIL' && [ $ms -ge 1000 ] && [ $ms -le 2000 ]"
check "the SERVFAIL says why (Extended DNS Error)" eval "printf '%s\n' \"\$out\" | grep -q 'EDE: 2[23]'"
check "a cached name still answers while the upstream is silent" getent_has www.example.com 192.0.2.80
check "payments resolves through the search list while the upstream is silent" getent_has payments 10.1.0.2

done_testing
