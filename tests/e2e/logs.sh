#!/bin/bash
# tests/e2e/logs.sh - --log-format json for meshdns, meshdns-agent and
# meshdns-forward: every stderr line is one JSON object (python's json) with
# ts (RFC 3339 UTC, milliseconds), level, component, msg and the key=value
# pairs as fields; and meshdns's query log: with query_log {sample: 1} each
# of N dig queries gets one line with client, qname, qtype, rcode, answers
# and latency_us; with sample 0 none does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"
for v in MESHDNS_AGENT MESHDNS_FORWARD; do
	[ -x "${!v:-}" ] || bail "$v is not set to the binary (make check sets it)"
done
N=20

# start_json CONFIG LOG: meshdns --log-format json; sets MESHDNS_PID, PORT.
start_json() {
	local i
	grep -q '^control_socket:' "$1" || sed -i "1i control_socket: \"\"" "$1"
	(meshdns_run --log-format json -c "$1") 2>"$2" >/dev/null &
	MESHDNS_PID=$!
	PIDS="$PIDS $MESHDNS_PID"
	MESHDNS_LOG=$2
	for i in $(seq 300); do
		PORT=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("msg") == "serving":
        l = o["listen"]
        print((l[0] if isinstance(l, list) else l).rsplit(":", 1)[1])
        break' "$2" 2>/dev/null)
		[ -n "$PORT" ] && return 0
		kill -0 "$MESHDNS_PID" 2>/dev/null || bail "meshdns --log-format json starts"
		sleep 0.1
	done
	bail "meshdns --log-format json printed no serving object within 30 s"
}

# json_ok WHAT LOG [REQUIRED_FIELD=VALUE...]: every line of LOG is a JSON
# object with the common fields; prints "ok -"/"not ok -" lines.
json_ok() {
	py_checks - "$@" <<'EOF'
import json, re, sys
what, log, want = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = open(log).read().splitlines()
bad = []
objs = []
for l in lines:
    try:
        o = json.loads(l)
    except ValueError as e:
        bad.append("not JSON: %r (%s)" % (l, e))
        continue
    objs.append(o)
    if not isinstance(o, dict):
        bad.append("not an object: %r" % l); continue
    for k in ("ts", "level", "component", "msg"):
        if not isinstance(o.get(k), str):
            bad.append("no %s: %r" % (k, l))
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o.get("ts", "")):
        bad.append("ts not RFC 3339 UTC with ms: %r" % l)
    if o.get("level") not in ("error", "warning", "info", "debug"):
        bad.append("bad level: %r" % l)
print(("ok - " if lines and not bad else "not ok - ") + "%s: %d lines, each a JSON object with ts, level, component, msg" % (what, len(lines)))
for b in bad[:5]:
    print("#", b)
for w in want:
    k, v = w.split("=", 1)
    hit = [o for o in objs if isinstance(o, dict) and (o.get(k) == v or (isinstance(o.get(k), list) and v in o[k]))]
    print(("ok - " if hit else "not ok - ") + "%s: a line has %s=%s" % (what, k, v))
EOF
}

# --- meshdns, with the query log on every query ---
CFG="$T/meshdns.yaml"
write_update_config "$CFG" "$T/state"
cat >>"$CFG" <<EOF
query_log: {sample: 1}
EOF
start_json "$CFG" "$T/meshdns.json.log"
for i in $(seq "$N"); do
	q "q$i.payments-v1.local" A >/dev/null
done
q payments-v1.local SRV >/dev/null
wait_until 5 eval '[ "$(grep -c "\"component\":\"query\"" "$MESHDNS_LOG")" -ge $((N + 1)) ]'
json_ok "meshdns" "$MESHDNS_LOG" component=meshdns msg=serving namespaces=1 component=query \
	qname=q1.payments-v1.local. qtype=A rcode=NXDOMAIN qtype=SRV msg=answered proto=udp
py_checks - "$MESHDNS_LOG" "$N" <<'EOF'
import json, sys
qs = [o for o in map(json.loads, open(sys.argv[1])) if o["component"] == "query"]
n = int(sys.argv[2])
names = sorted(o["qname"] for o in qs if o["qname"].startswith("q"))
want = sorted("q%d.payments-v1.local." % i for i in range(1, n + 1))
print(("ok - " if names == want else "not ok - ") + "sample 1: one query line per query (%d of %d)" % (len(names), n))
keys = {"client", "qname", "qtype", "rcode", "answers", "latency_us", "proto"}
print(("ok - " if all(keys <= set(o) for o in qs) else "not ok - ") + "query lines carry " + ", ".join(sorted(keys)))
print(("ok - " if all(o["level"] == "info" for o in qs) else "not ok - ") + "query lines are info")
srv = [o for o in qs if o["qtype"] == "SRV"]
print(("ok - " if srv and srv[0]["rcode"] == "NOERROR" and srv[0]["answers"] == "0" else "not ok - ") + "the SRV query: NOERROR, 0 answers")
print(("ok - " if all(o["latency_us"].isdigit() for o in qs) else "not ok - ") + "latency_us is a number")
print(("ok - " if all(o["client"].startswith("127.0.0.1:") for o in qs) else "not ok - ") + "client is the dig's address:port")
EOF

# --- the agent registers with --log-format json ---
printf 'hmac-sha256:%s:%s\n' "$UPD_KEY" "$UPD_SECRET" >"$T/key"
"$MESHDNS_AGENT" --log-format json --server "127.0.0.1:$PORT" --key-file "$T/key" \
	--service payments-v1.local --port 7000 --address 127.0.0.9 --id j1 --lease 0 \
	2>"$T/agent.log" &
APID=$!
PIDS="$PIDS $APID"
check "the agent registers" wait_until 10 eval '[ "$(short j1.payments-v1.local A)" = 127.0.0.9 ]'
kill_pid "$APID"
json_ok "meshdns-agent" "$T/agent.log" component=agent
stop_meshdns

# --- the forwarder ---
start_json "$CFG" "$T/meshdns2.json.log"
"$MESHDNS_FORWARD" --log-format json --dns "127.0.0.1:$PORT" \
	--listen 127.0.0.1:0=payments-v1.local 2>"$T/fwd.log" >/dev/null &
FPID=$!
PIDS="$PIDS $FPID"
check "the forwarder serves" wait_until 10 grep -q '"msg":"serving"' "$T/fwd.log"
kill_pid "$FPID"
json_ok "meshdns-forward" "$T/fwd.log" component=forward msg=serving
stop_meshdns

# --- sample 0: no query lines ---
sed -i 's/sample: 1}/sample: 0}/' "$CFG"
start_json "$CFG" "$T/meshdns3.json.log"
for i in $(seq "$N"); do
	q "q$i.payments-v1.local" A >/dev/null
done
check "sample 0: the server answered" eval '[ -n "$(short local SOA)" ]'
check "sample 0: no query lines" eval '! grep -q "\"component\":\"query\"" "$MESHDNS_LOG"'
stop_meshdns

# --- text stays the default ---
sed -i 's/sample: 0}/sample: 1}/' "$CFG"
sed -i '/^control_socket:/d' "$CFG"
start_meshdns "$CFG"
q text.payments-v1.local A >/dev/null
check "text format: the query line" wait_until 5 grep -q '^info query: answered client=127.0.0.1:[0-9]* qname=text.payments-v1.local. qtype=A rcode=NXDOMAIN answers=0 latency_us=[0-9]* proto=udp$' "$MESHDNS_LOG"
check "--log-format xml: exit 2" eval '"$MESHDNS" --log-format xml -t -c "$CFG" >/dev/null 2>&1; [ $? -eq 2 ]'
stop_meshdns
done_testing
