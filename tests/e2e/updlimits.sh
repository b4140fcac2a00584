#!/bin/bash
# tests/e2e/updlimits.sh - limits on registrations (issue 8): instances per
# service and per namespace, attributes per instance and their size. An
# UPDATE over a limit is REFUSED with an Extended DNS Error naming the limit,
# and changes nothing. Driven by dnspython (it reads the EDE text).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"


# The dnspython helpers of the checks below (imported as upc).
cat >"$T/upc.py" <<'EOF'
import sys
import dns.edns, dns.message, dns.query, dns.rcode, dns.tsig, dns.update

PORT = int(sys.argv[1])
KEY = dns.tsig.Key(sys.argv[2], sys.argv[3], "hmac-sha256")

def ok(c, what):
    print(("ok - " if c else "not ok - ") + what, flush=True)

def update(ops, key=KEY):
    """ops: list of ("add", name, type, rdata) / ("delete", name[, type]).
    Returns (rcode text, EDE text or "")."""
    m = dns.update.UpdateMessage("local.")
    m.use_edns(0)
    if key:
        m.use_tsig(key, algorithm=key.algorithm)
    for op in ops:
        if op[0] == "add":
            m.add(op[1], 5, op[2], op[3])
        else:
            m.delete(*op[1:])
    r = dns.query.udp(m, "127.0.0.1", port=PORT, timeout=5)
    ede = ""
    for o in r.options:
        if o.otype == 15:
            ede = getattr(o, "text", None) or o.to_wire()[2:].decode(errors="replace")
    return dns.rcode.to_text(r.rcode()), ede

def register(svc, iid, addr, txt='"health=healthy"'):
    name = "%s.%s.local." % (iid, svc)
    return update([("delete", name), ("add", name, "A", addr), ("add", name, "TXT", txt),
                   ("add", "%s.local." % svc, "SRV", "0 100 80 " + name)])

def answers(name, rdtype):
    q = dns.message.make_query(name, rdtype)
    r = dns.query.udp(q, "127.0.0.1", port=PORT, timeout=3)
    return sorted(rd.to_text() for rrs in r.answer for rd in rrs)
EOF
export PYTHONPATH="$T"

write_update_config "$T/lim.yaml" "$T/state" "    max_instances_per_service: 2
    max_instances: 3
    max_attributes: 2
    max_attribute_size: 20"
start_meshdns "$T/lim.yaml"

py_checks - "$PORT" "$UPD_KEY" "$UPD_SECRET" <<'EOF'
from upc import *

ok(register("payments-v1", "i1", "10.0.0.1")[0] == "NOERROR", "instance 1 of payments-v1")
ok(register("payments-v1", "i2", "10.0.0.2", '"az=a" "health=warning"')[0] == "NOERROR",
   "instance 2 of payments-v1")
rc, ede = register("payments-v1", "i3", "10.0.0.3")
ok(rc == "REFUSED" and "max_instances_per_service=2" in ede,
   "a third instance: REFUSED, EDE names the limit (%s: %s)" % (rc, ede))
ok(answers("i3.payments-v1.local.", "A") == [], "the refused instance is not registered")
ok(answers("payments-v1.local.", "A") == ["10.0.0.1", "10.0.0.2"], "the service still has its two")
ok(register("payments-v1", "i1", "10.0.0.11")[0] == "NOERROR",
   "registering an existing id again is not a new instance")
rc, ede = update([("delete", "i1.payments-v1.local."),
                  ("add", "i3.payments-v1.local.", "A", "10.0.0.3"),
                  ("add", "payments-v1.local.", "SRV", "0 100 80 i3.payments-v1.local.")])
ok(rc == "NOERROR", "one message that removes one and adds one stays within the limit (%s %s)" % (rc, ede))
ok(register("payments-v2", "j1", "10.0.1.1")[0] == "NOERROR", "payments-v2: instance 3 of the namespace")
rc, ede = register("payments-v2", "j2", "10.0.1.2")
ok(rc == "REFUSED" and "max_instances=3" in ede,
   "a fourth instance in the namespace: REFUSED, EDE names the limit (%s: %s)" % (rc, ede))
ok(answers("j2.payments-v2.local.", "A") == [], "it is not registered")
rc, ede = update([("add", "i2.payments-v1.local.", "TXT", '"a=1" "b=2" "c=3" "health=healthy"')])
ok(rc == "REFUSED" and "max_attributes=2" in ede,
   "three attributes: REFUSED, EDE names the limit (%s: %s)" % (rc, ede))
rc, ede = update([("add", "i2.payments-v1.local.", "TXT", '"k=%s"' % ("x" * 30))])
ok(rc == "REFUSED" and "max_attribute_size=20" in ede,
   "a 32-byte attribute: REFUSED, EDE names the limit (%s: %s)" % (rc, ede))
ok(answers("i2.payments-v1.local.", "TXT") == ['"az=a" "health=warning"'],
   "the refused attribute changes left the instance as it was (%s)" % answers("i2.payments-v1.local.", "TXT"))
rc, ede = update([("delete", "i2.payments-v1.local.", "TXT"),
                  ("add", "i2.payments-v1.local.", "TXT", '"a=1" "b=2" "health=unhealthy"')])
ok(rc == "NOERROR", "two attributes and health=: within the limit (health= does not count)")
EOF
check "server still running" kill -0 "$MESHDNS_PID"
stop_meshdns

# ---- update_rate: 5 a second per key, burst 5 ----
write_update_config "$T/rate.yaml" "$T/state-rate"
sed -i '1i update_rate: 5\nupdate_burst: 5' "$T/rate.yaml"
start_meshdns "$T/rate.yaml" "$T/meshdns-rate.log"
py_checks - "$PORT" "$UPD_KEY" "$UPD_SECRET" "$V2_KEY" "$V2_SECRET" <<'EOF2'
import sys, time
from upc import *
V2 = dns.tsig.Key(sys.argv[4], sys.argv[5], "hmac-sha512")

t0 = time.monotonic()
res = [register("payments-v1", "r%d" % i, "10.0.2.%d" % i) for i in range(20)]
el = time.monotonic() - t0
codes = [rc for rc, _ in res]
ok(codes[:5] == ["NOERROR"] * 5, "burst of 20: the first 5 accepted (%s)" % codes[:5])
n_ok = codes.count("NOERROR")
ok(n_ok <= 5 + int(el * 5) + 1, "burst of 20 in %.2f s: %d accepted, at most burst + rate x time" % (el, n_ok))
refused = [e for rc, e in res if rc == "REFUSED"]
ok(len(refused) >= 20 - n_ok and all("update_rate=5" in e for e in refused),
   "the rest REFUSED, EDE names the limit (%s)" % (refused[0] if refused else "none"))
missing = [i for i, (rc, _) in enumerate(res) if rc == "REFUSED" and answers("r%d.payments-v1.local." % i, "A")]
ok(not missing, "refused registrations changed nothing (%s)" % missing)
ok(update([("add", "v.payments-v2.local.", "A", "10.0.3.1")], key=V2)[0] == "NOERROR",
   "another key is not limited by the first key's burst")
time.sleep(0.5)
ok(register("payments-v1", "late", "10.0.2.99")[0] == "NOERROR", "0.5 s later the key may update again")
EOF2
check "server still running" kill -0 "$MESHDNS_PID"
stop_meshdns

# ---- TSIG replay and the server's maximum fudge; no secret in the log ----
write_update_config "$T/replay.yaml" "$T/state-replay"
start_meshdns_args "$T/replay.yaml" "$T/meshdns-replay.log" -v || bail "meshdns -v starts"
py_checks - "$PORT" "$UPD_KEY" "$UPD_SECRET" <<'EOF2'
import socket, struct, time
from upc import *

def raw(wire, tcp=False):
    """Sends wire as it is; returns (rcode text, EDE text)."""
    if tcp:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(struct.pack("!H", len(wire)) + wire)
        n = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
        data = s.recv(n, socket.MSG_WAITALL)
        s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(wire, ("127.0.0.1", PORT))
        data = s.recv(65535)
    r = dns.message.from_wire(data, keyring={KEY.name: KEY}, request_mac=captured_mac)
    ede = "".join(getattr(o, "text", "") or "" for o in r.options if o.otype == 15)
    return dns.rcode.to_text(r.rcode()), ede

name = "rp.payments-v1.local."
m = dns.update.UpdateMessage("local.")
m.use_edns(0)
m.use_tsig(KEY, algorithm=KEY.algorithm)
m.add(name, 5, "A", "10.0.9.9")
m.add("payments-v1.local.", 5, "SRV", "0 100 80 " + name)
wire = m.to_wire()
captured_mac = m.mac
ok(raw(wire)[0] == "NOERROR", "a signed UPDATE sent as captured: accepted")
ok(answers(name, "A") == ["10.0.9.9"], "it registered rp")
ok(update([("delete", name)])[0] == "NOERROR", "a later UPDATE deregisters rp")
rc, ede = raw(wire)
ok(rc == "REFUSED" and "replay" in ede, "the captured UPDATE sent again: REFUSED, EDE says replay (%s: %s)" % (rc, ede))
rc, ede = raw(wire, tcp=True)
ok(rc == "REFUSED" and "replay" in ede, "and again over TCP: REFUSED (%s)" % rc)
ok(answers(name, "A") == [], "the replays changed nothing: rp stays deregistered")

real = time.time
def skewed(offset, fudge):
    time.time = lambda: real() + offset
    try:
        m = dns.update.UpdateMessage("local.")
        m.use_tsig(KEY, algorithm=KEY.algorithm, fudge=fudge)
        m.add("sk.payments-v1.local.", 5, "A", "10.0.9.10")
        m.add("payments-v1.local.", 5, "SRV", "0 100 80 sk.payments-v1.local.")
        try:
            r = dns.query.udp(m, "127.0.0.1", port=PORT, timeout=5)
            return dns.rcode.to_text(r.rcode())
        except dns.tsig.PeerBadTime:
            return "BADTIME"
    finally:
        time.time = real
ok(skewed(-1000, 65535) == "BADTIME",
   "signed 1000 s ago with fudge 65535: BADTIME (tsig_fudge_max 300 wins)")
ok(answers("sk.payments-v1.local.", "A") == [], "and nothing registered")
ok(skewed(-200, 300) == "NOERROR", "signed 200 s ago with fudge 300: accepted")
EOF2
check "server still running" kill -0 "$MESHDNS_PID"
WRONG_SECRET=$(head -c32 /dev/urandom | base64)
nsu -y "hmac-sha256:$UPD_KEY:$WRONG_SECRET" <<<"update add x.payments-v1.local. 5 A 10.0.0.1" >/dev/null
check "the -v log has the refusals (replay, BADSIG)" \
	eval 'grep -q "why=\"replay" "$T/meshdns-replay.log" && grep -q "does not verify" "$T/meshdns-replay.log"'
check "the -v log contains no key secret" eval '! grep -F -e "$UPD_SECRET" -e "$V2_SECRET" -e "$WRONG_SECRET" "$T/meshdns-replay.log"'
check "no secret in any log line of the code: log calls never name ->secret" \
	eval '! grep -rnE "log_[a-z]+\(.*(->|\.)secret" "$SRCDIR/resolver" "$SRCDIR/lib" "$SRCDIR/agent" "$SRCDIR/forwarder"'
done_testing
