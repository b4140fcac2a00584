#!/bin/bash
# tests/e2e/badconfig.sh - config and zone errors: `meshdns -t -c FILE`
# exits 1 naming file:line:col (file:line for zone files) of the mistake,
# `meshdns -c FILE` refuses to start, a good file passes -t, and a listen
# port that is already taken stops the start with "address already in use".
. "$(dirname "$0")/lib.sh"

GOOD_NS='namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80}'

# bad NAME LINE COL TEXT: TEXT must be refused at NAME.yaml:LINE:COL
# (COL "" = any column).
bad() {
	local name=$1 line=$2 col=$3 f="$T/$1.yaml" out err rc
	printf '%s\n' "$4" >"$f"
	out=$("$MESHDNS" -t -c "$f" 2>"$T/err")
	rc=$?
	err=$(cat "$T/err")
	if [ "$rc" -ne 1 ]; then
		fail "$name: -t exits 1 (got $rc; stdout: $out; stderr: $err)"
		return
	fi
	if grep -Eq "^$f:$line:${col:-[0-9]+}: [^ ]" <<<"$err"; then
		pass "$name: -t names $line:${col:-col} ($(sed "s|^$T/||" <<<"$err" | head -n1))"
	else
		fail "$name: -t names $(basename "$f"):$line:${col:-col} (stderr: $err)"
	fi
	runs_not "$name" "$f"
}

# runs_not NAME FILE: meshdns -c FILE exits non-zero and never serves.
runs_not() {
	local rc
	timeout 10 "$MESHDNS" -c "$2" >/dev/null 2>"$T/run.err"
	rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! grep -q 'serving' "$T/run.err"; then
		pass "$1: meshdns -c refuses to start (status $rc)"
	else
		fail "$1: meshdns -c refuses to start (status $rc; $(head -n3 "$T/run.err"))"
	fi
}

bad unknown-top-key 2 1 'listen: ["127.0.0.1:0"]
bogus: 1
'"$GOOD_NS"

bad unknown-ns-key 4 5 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    bogus_key: 1'

bad unknown-instance-key 7 52 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80, colour: red}'

bad wrong-type-ttl 4 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    ttl: five'

bad wrong-type-services 4 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services: [a, b]'

bad wrong-type-listen 1 "" 'listen: 53
'"$GOOD_NS"

bad range-threads 2 10 'listen: ["127.0.0.1:0"]
threads: 0
'"$GOOD_NS"

bad wrong-type-threads 2 10 'listen: ["127.0.0.1:0"]
threads: many
'"$GOOD_NS"

bad range-max-answers 4 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    max_answers: 65'

bad range-weight 7 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80, weight: 70000}'

bad range-port 7 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 65536}'

bad range-interval 6 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        health_check: {protocol: http, interval: 0.05}
        instances:
          - {id: a, address: 127.0.0.11, port: 80}'

bad bad-address 7 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.300, port: 80}'

bad bad-protocol 6 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        health_check: {protocol: udp}'

bad duplicate-service 8 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80}
      payments-v1: {}'

bad duplicate-instance 8 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80}
          - {id: a, address: 127.0.0.12, port: 80}'

bad duplicate-namespace 4 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
  - name: local'

bad route-unknown-service 10 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1: {}
    routers:
      payments:
        routes:
          - {target: payments-v1, weight: 90}
          - {target: payments-v3, weight: 10}'

bad yaml-syntax 3 "" 'listen: ["127.0.0.1:0"]
namespaces:
  - name: [local'

# A zone file with a syntax error on line 6.
cat >"$T/broken.zone" <<'EOF'
$ORIGIN local.
$TTL 5
; a comment
@	IN SOA	ns.local. hostmaster.local. 1 3600 600 86400 5
	IN NS	ns.local.
gateway	IN A	10.0.0.300
EOF
printf 'listen: ["127.0.0.1:0"]\nnamespaces:\n  - name: local\n    zone: broken.zone\n' >"$T/zone.yaml"
"$MESHDNS" -t -c "$T/zone.yaml" >/dev/null 2>"$T/err"
rc=$?
check "zone syntax error: -t exits 1 (got $rc)" [ "$rc" -eq 1 ]
check "zone syntax error: names broken.zone:6: ($(head -n1 "$T/err"))" grep -q "broken\.zone:6: " "$T/err"
runs_not "zone syntax error" "$T/zone.yaml"

# A zone file without an SOA.
printf '$ORIGIN local.\n$TTL 5\nns IN A 127.0.0.1\n' >"$T/nosoa.zone"
printf 'listen: ["127.0.0.1:0"]\nnamespaces:\n  - name: local\n    zone: nosoa.zone\n' >"$T/nosoa.yaml"
"$MESHDNS" -t -c "$T/nosoa.yaml" >/dev/null 2>"$T/err"
rc=$?
check "zone without SOA: -t exits 1 naming nosoa.zone ($(head -n1 "$T/err"))" \
	eval '[ "$rc" -eq 1 ] && grep -q "nosoa\.zone" "$T/err"'

# A missing zone file and a missing config file.
printf 'listen: ["127.0.0.1:0"]\nnamespaces:\n  - name: local\n    zone: missing.zone\n' >"$T/missing.yaml"
"$MESHDNS" -t -c "$T/missing.yaml" >/dev/null 2>"$T/err"
rc=$?
check "missing zone file: -t exits 1 naming it ($(head -n1 "$T/err"))" \
	eval '[ "$rc" -eq 1 ] && grep -q "missing\.zone" "$T/err"'
"$MESHDNS" -t -c "$T/nonexistent.yaml" >/dev/null 2>"$T/err"
rc=$?
check "missing config file: -t exits 1 naming it ($(head -n1 "$T/err"))" \
	eval '[ "$rc" -eq 1 ] && grep -q "nonexistent\.yaml" "$T/err"'

# A good config passes -t; the zone path is relative to the config's directory.
mkdir -p "$T/good/zones"
cat >"$T/good/zones/local.zone" <<'EOF'
$ORIGIN local.
$TTL 5
@	IN SOA	ns.local. hostmaster.local. 1 3600 600 86400 5
	IN NS	ns.local.
ns	IN A	127.0.0.1
EOF
cat >"$T/good/meshdns.yaml" <<'EOF'
listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    zone: zones/local.zone
    ttl: 5
    max_answers: 8
    negative_ttl: 5
    on_all_unhealthy: all
    warning_factor: 0.5
    slow_start: 0
    services:
      payments-v1:
        health_check: {protocol: http, path: /, interval: 0.2, timeout: 0.2, healthy_threshold: 2, unhealthy_threshold: 2}
        instances:
          - {id: a, address: 127.0.0.11, port: 18081, weight: 100, attributes: {az: a}}
          - {id: b, address: [127.0.0.12, "fd00::12"], port: 18082, weight: 50}
      payments-v2: {}
    routers:
      payments:
        routes:
          - {target: payments-v1, weight: 90}
          - {target: payments-v2, weight: 10}
EOF
out=$(cd / && "$MESHDNS" -t -c "$T/good/meshdns.yaml" 2>"$T/err")
rc=$?
check "good config: -t exits 0 (got $rc; $(head -n1 "$T/err"))" [ "$rc" -eq 0 ]
check "good config: -t prints 'configuration OK' ($out)" grep -q 'configuration OK' <<<"$out"
if [ -f "$SRCDIR/examples/demo.yaml" ]; then
	check "examples/demo.yaml passes -t" eval '"$MESHDNS" -t -c "$SRCDIR/examples/demo.yaml" >/dev/null 2>&1'
fi

# A port already in use stops the start.
start_meshdns "$T/good/meshdns.yaml"
sed "s/127.0.0.1:0/127.0.0.1:$PORT/" "$T/good/meshdns.yaml" >"$T/good/taken.yaml"
timeout 10 "$MESHDNS" -c "$T/good/taken.yaml" >/dev/null 2>"$T/taken.err"
rc=$?
check "port in use: exits non-zero (got $rc)" eval '[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]'
check "port in use: says 'address already in use' ($(head -n1 "$T/taken.err"))" \
	grep -qi 'address already in use' "$T/taken.err"
check "port in use: never says serving" eval '! grep -q serving "$T/taken.err"'

# Only the TCP port taken (UDP free): still refused.
python3 - >"$T/tcpport" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(30)
EOF
TCPHOLD_PID=$!
PIDS="$PIDS $TCPHOLD_PID"
wait_until 5 test -s "$T/tcpport"
sed "s/127.0.0.1:0/127.0.0.1:$(cat "$T/tcpport")/" "$T/good/meshdns.yaml" >"$T/good/tcptaken.yaml"
timeout 10 "$MESHDNS" -c "$T/good/tcptaken.yaml" >/dev/null 2>"$T/taken.err"
rc=$?
check "TCP port in use: exits non-zero with 'address already in use' ($(head -n1 "$T/taken.err"))" \
	eval '[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qi "address already in use" "$T/taken.err"'
kill_pid "$TCPHOLD_PID"

done_testing
