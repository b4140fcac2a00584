#!/bin/bash
# tests/e2e/threads.sh - `threads: 2`: a worker thread answers UDP beside the
# main loop (SO_REUSEPORT), and everything a client can see stays the same.
# Clients send from a fresh source port per query, so the kernel spreads them
# over both threads; the checks then cover what each thread does alone
# (answers from the view), what a worker hands to the main loop (UPDATEs,
# names for the upstream), views replaced under the workers' feet (a
# registration storm during a query storm), settings a reload changes
# (cookies), and a clean stop. CI also runs this under ThreadSanitizer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"
CTL=${MESHDNS_CTL:-$(dirname "$MESHDNS")/meshdns-ctl}
[ -x "$CTL" ] || bail "meshdns-ctl not found at $CTL (set MESHDNS_CTL)"

# An upstream: a second meshdns, authoritative for ext.
cat >"$T/up.yaml" <<EOF
listen: ["127.0.0.1:0"]
namespaces:
  - name: ext
    ttl: 60
    services:
      web:
        instances:
          - {id: w1, address: 10.7.0.1, port: 80}
EOF
start_meshdns "$T/up.yaml" "$T/up.log"
UP_PORT=$PORT
UP_PID=$MESHDNS_PID

write_update_config "$T/meshdns.yaml" "$T/state"
sed -i "s/^upstream: \[\]/upstream: [\"127.0.0.1:$UP_PORT\"]/" "$T/meshdns.yaml"
sed -i '1i threads: 2' "$T/meshdns.yaml"
# Four static instances in payments-v1 (the namespace block of the config).
sed -i 's/^      payments-v1: {}$/      payments-v1:\n        instances:\n          - {id: s1, address: 10.0.0.1, port: 80}\n          - {id: s2, address: 10.0.0.2, port: 80}\n          - {id: s3, address: 10.0.0.3, port: 80}\n          - {id: s4, address: 10.0.0.4, port: 80}/' "$T/meshdns.yaml"
start_meshdns "$T/meshdns.yaml"
CTLSOCK="$T/meshdns.yaml.ctl"

stats() { "$CTL" -s "$CTLSOCK" stats; }
expect_eq "meshdns-ctl stats reports 2 threads" "$(stats | sed -n 's/^threads: //p')" 2

cat >"$T/spread.py" <<'EOF'
# Queries from a fresh socket each (a fresh source port), in parallel.
import sys, threading
import dns.message, dns.query, dns.rcode, dns.edns

port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
bad, good = [], [0]
lock = threading.Lock()
want = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}

def one(i):
    if mode == "a":
        q = dns.message.make_query("payments-v1.local", "A")
    elif mode == "nx":
        q = dns.message.make_query("nope%d.local" % i, "A")
    elif mode == "ext":
        q = dns.message.make_query("w1.web.ext", "A")
    elif mode == "cookie":
        q = dns.message.make_query("payments-v1.local", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(10, b"\x01" * 8)])
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3)
    except Exception as e:
        return "%d: %r" % (i, e)
    addrs = {rd.address for rr in r.answer for rd in rr if hasattr(rd, "address")}
    if mode == "a" and (r.rcode() != 0 or not addrs or not addrs <= want):
        return "%d: %s %s" % (i, dns.rcode.to_text(r.rcode()), addrs)
    if mode == "nx" and r.rcode() != dns.rcode.NXDOMAIN:
        return "%d: %s" % (i, dns.rcode.to_text(r.rcode()))
    if mode == "ext" and addrs != {"10.7.0.1"}:
        return "%d: %s %s" % (i, dns.rcode.to_text(r.rcode()), addrs)
    if mode == "cookie":
        cookies = [o for o in r.options if o.otype == 10]
        has = bool(cookies) and len(cookies[0].to_wire()) > 8
        if has != (sys.argv[4] == "on"):
            return "%d: server cookie %s" % (i, "present" if has else "missing")
    return None

def worker(k):
    for i in range(k, n, 8):
        e = one(i)
        with lock:
            if e: bad.append(e)
            else: good[0] += 1

ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
for e in bad[:5]:
    print("# " + e)
print(("ok" if good[0] == n else "not ok") +
      " - %s: %d of %d queries from fresh ports answered right" % (mode, good[0], n))
EOF
py_checks "$T/spread.py" "$PORT" a 400
py_checks "$T/spread.py" "$PORT" nx 100
line=$(stats | sed -n 's/^thread_queries: //p')
t0=${line%% *}
t1=${line##* }
echo "# queries per thread: $line"
check "the main loop answered queries ($t0)" test "${t0:-0}" -gt 20
check "the worker thread answered queries ($t1)" test "${t1:-0}" -gt 20
expect_eq "per-thread counts add up to the total" "$((t0 + t1))" \
	"$(stats | sed -n 's/^queries: //p')"

# Names outside our namespaces: a worker hands them to the main loop, which
# has the cache and the upstream.
py_checks "$T/spread.py" "$PORT" ext 100

# UPDATEs over UDP from fresh ports (nsupdate binds a new one each run):
# those that reach the worker's socket are handed on, and all are answered.
ok=0
for i in $(seq 1 24); do
	rc=$(printf 'update add u%d.payments-v1.local 60 A 10.5.0.%d\n' "$i" "$i" | nsu)
	[ "$rc" = NOERROR ] && ok=$((ok + 1))
done
expect_eq "24 UPDATEs from fresh ports all answered NOERROR" "$ok" 24
cat >"$T/seen.py" <<'EOF'
import sys
import dns.message, dns.query
port = int(sys.argv[1])
miss = 0
for i in range(1, 25):
    for k in range(4):   # four fresh ports per name: both threads, very likely
        r = dns.query.udp(dns.message.make_query("u%d.payments-v1.local" % i, "A"),
                          "127.0.0.1", port=port, timeout=3)
        if [rd.address for rr in r.answer for rd in rr] != ["10.5.0.%d" % i]:
            miss += 1
print(("ok" if miss == 0 else "not ok") +
      " - every registered name is answered by whichever thread gets it (%d misses)" % miss)
EOF
py_checks "$T/seen.py" "$PORT"

# A registration storm during a query storm: views are replaced hundreds of
# times while both threads read them; with a freed view read, ASan or TSan
# would stop the server. Every query must still be answered.
cat >"$T/storm.py" <<'EOF'
import sys, threading, time
import dns.message, dns.query, dns.tsigkeyring, dns.update, dns.rcode

port, key, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ring = dns.tsigkeyring.from_text({key: secret})
stop, acked, answered, lost = [False], [0], [0], [0]
lock = threading.Lock()

def register(c):
    for k in range(60):
        u = dns.update.UpdateMessage("local", keyring=ring, keyname=key,
                                     keyalgorithm="hmac-sha256")
        u.add("st%d-%d.payments-v2" % (c, k), 5, "A", "10.6.%d.%d" % (c, k + 1))
        u.add("payments-v2", 5, "SRV", "0 100 80 st%d-%d.payments-v2.local." % (c, k))
        try:
            r = dns.query.udp(u, "127.0.0.1", port=port, timeout=5)
            if r.rcode() == dns.rcode.NOERROR:
                with lock: acked[0] += 1
        except Exception:
            pass

def query():
    while not stop[0]:
        try:
            r = dns.query.udp(dns.message.make_query("payments-v2.local", "SRV"),
                              "127.0.0.1", port=port, timeout=3)
            with lock: answered[0] += 1
        except Exception:
            with lock: lost[0] += 1

qs = [threading.Thread(target=query) for _ in range(4)]
rs = [threading.Thread(target=register, args=(c,)) for c in range(4)]
for t in qs + rs: t.start()
for t in rs: t.join()
stop[0] = True
for t in qs: t.join()
print("# %d registrations acknowledged, %d queries answered, %d lost" %
      (acked[0], answered[0], lost[0]))
print(("ok" if acked[0] == 240 else "not ok") + " - 240 registrations acknowledged during queries")
print(("ok" if lost[0] == 0 and answered[0] > 0 else "not ok") +
      " - every query during the registrations answered (%d, %d lost)" % (answered[0], lost[0]))
EOF
py_checks "$T/storm.py" "$PORT" "$UPD_KEY" "$UPD_SECRET"
expect_eq "payments-v2.local SRV lists the 240 instances" "$(srv_count payments-v2.local)" 240
check "the server is still running after the storm" kill -0 "$MESHDNS_PID"

# A reload reaches the worker: both threads return server cookies by
# default, and none does once a reload turned cookies off.
py_checks "$T/spread.py" "$PORT" cookie 100 on
sed -i '1i cookies: false' "$T/meshdns.yaml"
kill -HUP "$MESHDNS_PID"
check "SIGHUP: 'reloaded' logged" wait_until 10 grep -q 'meshdns: reloaded' "$MESHDNS_LOG"
py_checks "$T/spread.py" "$PORT" cookie 100 off

# A clean stop joins the worker.
check "SIGTERM stops the server with status 0" stop_meshdns
check "the log says it stopped" grep -q 'stopped' "$MESHDNS_LOG"
kill_pid "$UP_PID"
done_testing
