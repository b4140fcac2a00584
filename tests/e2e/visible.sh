#!/bin/bash
# tests/e2e/visible.sh - NOERROR to an UPDATE means "durable and visible":
# a client that queries right after its answer sees its change, also while
# many registrations arrive at once and the server paces its view builds
# (each build covers 20,000 instances here, so builds are spaced apart).
# Eight clients register 25 instances each, in parallel, each querying its
# own instance name (A and its service's SRV) the moment NOERROR arrives.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

# 20,000 config instances in namespace bulk make every view build cost
# something.
write_update_config "$T/base.yaml" "$T/state"
{
	sed -n '/^keys:/q;p' "$T/base.yaml"
	echo "  - name: bulk"
	echo "    max_instances: 100000"
	echo "    max_instances_per_service: 100000"
	echo "    services:"
	echo "      many:"
	echo "        instances:"
	for ((i = 0; i < 20000; i++)); do
		echo "          - {id: b$i, address: 10.1.$((i / 250)).$((i % 250 + 1)), port: 80}"
	done
	sed -n '/^keys:/,$p' "$T/base.yaml"
} >"$T/meshdns.yaml"
start_meshdns "$T/meshdns.yaml"

cat >"$T/visible.py" <<'EOF'
import sys, threading, time
import dns.message, dns.query, dns.rcode, dns.tsigkeyring, dns.update, dns.rdatatype

port, key, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ring = dns.tsigkeyring.from_text({key: secret})
CLIENTS, EACH = 8, 25
errors, acked, seen = [], [0], [0]
lock = threading.Lock()

def client(c):
    for k in range(EACH):
        iid = "c%d-%d" % (c, k)
        u = dns.update.UpdateMessage("local", keyring=ring, keyname=key,
                                     keyalgorithm="hmac-sha256")
        u.add("%s.payments-v1" % iid, 5, "A", "10.9.%d.%d" % (c, k + 1))
        u.add("%s.payments-v1" % iid, 5, "TXT", '"health=healthy"')
        u.add("payments-v1", 5, "SRV", "0 100 %d %s.payments-v1.local." % (7000 + k, iid))
        try:
            r = dns.query.udp(u, "127.0.0.1", port=port, timeout=5)
        except Exception as e:
            with lock:
                errors.append("%s: update: %r" % (iid, e))
            continue
        if r.rcode() != dns.rcode.NOERROR:
            with lock:
                errors.append("%s: rcode %s" % (iid, dns.rcode.to_text(r.rcode())))
            continue
        with lock:
            acked[0] += 1
        q = dns.message.make_query("%s.payments-v1.local" % iid, "A")
        a = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
        addrs = [rd.address for rr in a.answer for rd in rr]
        if addrs != ["10.9.%d.%d" % (c, k + 1)]:
            with lock:
                errors.append("%s: A right after NOERROR: %s" % (iid, addrs or a.rcode()))
            continue
        with lock:
            seen[0] += 1

t0 = time.time()
ts = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
for t in ts: t.start()
for t in ts: t.join()
took = time.time() - t0
n = CLIENTS * EACH
print("# %d registrations from %d clients in %.2f s" % (n, CLIENTS, took))
for e in errors[:10]:
    print("# " + e)
print(("ok" if acked[0] == n else "not ok") +
      " - all %d registrations acknowledged (got %d)" % (n, acked[0]))
print(("ok" if seen[0] == acked[0] else "not ok") +
      " - every acknowledged instance answered the query sent right after its NOERROR"
      " (%d of %d)" % (seen[0], acked[0]))
q = dns.message.make_query("payments-v1.local", "SRV")
a = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
srv = sum(len(rr) for rr in a.answer if rr.rdtype == dns.rdatatype.SRV)
print(("ok" if srv == n else "not ok") + " - payments-v1.local SRV lists all %d (got %d)" % (n, srv))
EOF
py_checks "$T/visible.py" "$PORT" "$UPD_KEY" "$UPD_SECRET"
check "the server is still running" kill -0 "$MESHDNS_PID"
done_testing
