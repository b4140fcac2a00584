#!/bin/bash
# tests/e2e/health.sh - active health checks: an instance whose HTTP backend
# dies or answers 503, or whose TCP port closes, leaves the A/SRV answers
# within interval x unhealthy_threshold (+1 s) and comes back when it
# recovers; its TXT says health=unhealthy meanwhile. When every instance is
# unhealthy, on_all_unhealthy decides: all (every instance) or none (NODATA).
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

# interval 0.2 s, thresholds 2: a change must show within 0.4 s + 1 s.
BOUND=1.4

start_backend 127.0.0.21; H1_PID=$BACKEND_PID; H1_PORT=$BACKEND_PORT
start_backend 127.0.0.22; H2_PID=$BACKEND_PID; H2_PORT=$BACKEND_PORT
start_backend 127.0.0.23 0 --tcp; T1_PID=$BACKEND_PID; T1_PORT=$BACKEND_PORT
start_backend 127.0.0.24 0 --tcp; T2_PORT=$BACKEND_PORT
start_backend 127.0.0.25; L1_PID=$BACKEND_PID; L1_PORT=$BACKEND_PORT
start_backend 127.0.0.26; N1_PID=$BACKEND_PID; N1_PORT=$BACKEND_PORT

HC='interval: 0.2, timeout: 0.2, healthy_threshold: 2, unhealthy_threshold: 2'
cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    ttl: 5
    on_all_unhealthy: all
    services:
      web:
        health_check: {protocol: http, path: /health, $HC}
        instances:
          - {id: h1, address: 127.0.0.21, port: $H1_PORT, attributes: {az: a}}
          - {id: h2, address: 127.0.0.22, port: $H2_PORT}
      plain:
        health_check: {protocol: tcp, $HC}
        instances:
          - {id: t1, address: 127.0.0.23, port: $T1_PORT}
          - {id: t2, address: 127.0.0.24, port: $T2_PORT}
      lone:
        health_check: {protocol: http, $HC}
        instances:
          - {id: l1, address: 127.0.0.25, port: $L1_PORT}
  - name: strict
    on_all_unhealthy: none
    services:
      lone:
        health_check: {protocol: http, $HC}
        instances:
          - {id: n1, address: 127.0.0.26, port: $N1_PORT}
EOF
start_meshdns "$T/meshdns.yaml"
check "serving line counts the checks" grep -q 'checks=6' "$MESHDNS_LOG"

a_has() { short "$1" A | grep -qx "$2"; }
a_lacks() { local r; r=$(short "$1" A) && [ -n "$r" ] && ! grep -qx "$2" <<<"$r"; }
srv_lacks() { local r; r=$(short "$1" SRV) && [ -n "$r" ] && ! grep -q " $2\$" <<<"$r"; }
txt_says() { short "$1" TXT | grep -q "\"health=$2\""; }
nodata() {
	local r
	r=$(q "$1" A +noall +comments +authority)
	grep -q 'status: NOERROR' <<<"$r" && grep -q 'ANSWER: 0,' <<<"$r" && grep -qw SOA <<<"$r"
}

# timed WHAT BOUND COMMAND...: ok when COMMAND becomes true within BOUND s.
timed() {
	local what=$1 bound=$2 t0
	shift 2
	t0=$(date +%s%N)
	if wait_until "$bound" "$@"; then
		pass "$what ($(elapsed_ms "$t0") ms)"
	else
		fail "$what (not within $bound s)"
	fi
}

# Every instance starts healthy; the first checks keep it so.
check "http: both instances answered at start" eval 'a_has web.local 127.0.0.21 && a_has web.local 127.0.0.22'
check "tcp: both instances answered at start" eval 'a_has plain.local 127.0.0.23 && a_has plain.local 127.0.0.24'
check "instance TXT: health=healthy" txt_says h1.web.local healthy

# ---- HTTP backend killed, then restarted on the same port ----
kill_pid "$H1_PID"
timed "http: killed backend leaves the A answers" "$BOUND" a_lacks web.local 127.0.0.21
check "http: the healthy instance is still answered" a_has web.local 127.0.0.22
check "http: killed backend leaves the SRV answers" srv_lacks web.local h1.web.local.
check "http: unhealthy instance's TXT says health=unhealthy (attributes kept)" \
	eval '[ "$(short h1.web.local TXT)" = "\"az=a\" \"health=unhealthy\"" ]'
check "http: unhealthy instance still answers its own A" eval '[ "$(short h1.web.local A)" = 127.0.0.21 ]'
check "log names the unhealthy instance" grep -q 'h1\.web\.local.* unhealthy' "$MESHDNS_LOG"
start_backend 127.0.0.21 "$H1_PORT"; H1_PID=$BACKEND_PID
timed "http: restarted backend comes back" "$BOUND" a_has web.local 127.0.0.21
check "http: TXT says health=healthy again" txt_says h1.web.local healthy

# ---- HTTP 503 ----
kill -USR1 "$H2_PID"
timed "http: 503 leaves the A answers" "$BOUND" a_lacks web.local 127.0.0.22
check "http: 503 instance TXT health=unhealthy" txt_says h2.web.local unhealthy
kill -USR1 "$H2_PID"
timed "http: 200 again comes back" "$BOUND" a_has web.local 127.0.0.22

# ---- TCP check ----
kill_pid "$T1_PID"
timed "tcp: closed port leaves the A answers" "$BOUND" a_lacks plain.local 127.0.0.23
check "tcp: TXT health=unhealthy" txt_says t1.plain.local unhealthy
start_backend 127.0.0.23 "$T1_PORT" --tcp
timed "tcp: listener back, instance comes back" "$BOUND" a_has plain.local 127.0.0.23

# ---- every instance unhealthy ----
kill_pid "$L1_PID"
timed "all unhealthy: TXT says unhealthy" "$BOUND" txt_says l1.lone.local unhealthy
check "on_all_unhealthy all: every instance still answered" eval '[ "$(short lone.local A)" = 127.0.0.25 ]'
check "on_all_unhealthy all: SRV still answered" eval 'short lone.local SRV | grep -q " l1.lone.local.$"'
kill_pid "$N1_PID"
timed "on_all_unhealthy none: NODATA" "$BOUND" nodata lone.strict
check "on_all_unhealthy none: TXT still says unhealthy" txt_says n1.lone.strict unhealthy
start_backend 127.0.0.26 "$N1_PORT"
timed "on_all_unhealthy none: answered again on recovery" "$BOUND" a_has lone.strict 127.0.0.26

# A reload keeps what the checks found: an unhealthy instance stays out.
kill_pid "$H2_PID"
timed "http: second backend killed leaves" "$BOUND" a_lacks web.local 127.0.0.22
kill -HUP "$MESHDNS_PID"
check "SIGHUP: reloaded" wait_until 5 grep -q 'info meshdns: reloaded' "$MESHDNS_LOG"
check "SIGHUP: the unhealthy instance stays out of the answers" a_lacks web.local 127.0.0.22
check "SIGHUP: its TXT still says unhealthy" txt_says h2.web.local unhealthy
start_backend 127.0.0.22 "$H2_PORT"
timed "after SIGHUP: checks run again, the instance comes back" "$BOUND" a_has web.local 127.0.0.22

done_testing
