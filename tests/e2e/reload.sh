#!/bin/bash
# tests/e2e/reload.sh - SIGHUP reloads the config and zones: new weights,
# routes, services and static records show in the answers; a broken config
# is refused ("reload failed") and the server keeps answering with the
# previous one; SIGTERM stops it with status 0.
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

N=2000
CFG="$T/meshdns.yaml"

# config WEIGHT_Y ROUTE1 ROUTE2 EXTRA_SERVICE
config() {
	cat >"$CFG.new" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
tcp_idle_timeout: 0.5
namespaces:
  - name: local
    zone: local.zone
    services:
      web:
        instances:
          - {id: x, address: 127.0.0.51, port: 80, weight: 100}
          - {id: y, address: 127.0.0.52, port: 80, weight: $1}
      p1:
        instances:
          - {id: i1, address: 127.0.0.53, port: 80}
      p2:
        instances:
          - {id: i2, address: 127.0.0.54, port: 80}
      $4: {instances: [{id: e, address: 127.0.0.55, port: 80}]}
    routers:
      r:
        routes:
          - {target: p1, weight: $2}
          - {target: p2, weight: $3}
EOF
	mv "$CFG.new" "$CFG"
}

zone() {
	cat >"$T/local.zone" <<EOF
\$ORIGIN local.
\$TTL 5
@ IN SOA ns.local. hostmaster.local. $1 3600 600 86400 5
  IN NS ns.local.
ns IN A 127.0.0.1
static IN A $2
EOF
}

# share WHAT NAME ADDR LOW HIGH: permille of first A answers to ADDR.
share() {
	local pm
	count_first "$2" "$N" >"$T/counts"
	pm=$(permille_of "$3" "$T/counts" "$N")
	if grep -q '^errors' "$T/counts"; then
		fail "$1: queries unanswered: $(grep '^errors' "$T/counts")"
	elif in_range "$pm" "$4" "$5"; then
		pass "$1 ($pm/1000)"
	else
		sed 's/^/#   /' "$T/counts"
		fail "$1 ($pm/1000, want $4..$5)"
	fi
}

reloads() { grep -c "$1" "$MESHDNS_LOG"; }

# hup WHAT PATTERN: SIGHUP, then waits (5 s) for one more log line matching PATTERN.
hup() {
	local pat=$2 before
	before=$(reloads "$pat")
	kill -HUP "$MESHDNS_PID"
	check "$1" wait_until 5 eval '[ "$(reloads "$pat")" -gt "$before" ]'
}

config 100 90 10 first
zone 1 10.0.0.1
start_meshdns "$CFG"

share "before: web instances 100/100, x first in ~50%" web.local 127.0.0.51 430 570
share "before: router 90/10" r.local 127.0.0.53 870 930
check "before: service 'first' exists" eval '[ "$(short first.local A)" = 127.0.0.55 ]'
check "before: static record" eval '[ "$(short static.local A)" = 10.0.0.1 ]'

config 0 50 50 second
zone 2 10.0.0.2
hup "SIGHUP with a new config: 'reloaded' logged" 'info meshdns: reloaded'
check "after: weight 0 instance left the answers" eval '[ "$(short web.local A)" = 127.0.0.51 ]'
check "after: weight 0 instance left the SRV answers" \
	eval '[ "$(short web.local SRV)" = "0 65535 80 x.web.local." ]'
# 50/50 over 1000 draws: sd 1.6 points, so +-5 is 3.2 sd (90/10 keeps +-3: 3.2 sd too).
share "after: router 50/50" r.local 127.0.0.53 450 550
check "after: service 'second' added" eval '[ "$(short second.local A)" = 127.0.0.55 ]'
check "after: service 'first' removed (NXDOMAIN)" eval 'q first.local A | grep -q "status: NXDOMAIN"'
check "after: zone reloaded" eval '[ "$(short static.local A)" = 10.0.0.2 ]'
check "after: zone serial" eval '[ "$(short local SOA | awk "{ print \$3 }")" = 2 ]'

# A broken config is refused, the previous one keeps serving.
printf 'listen: ["127.0.0.1:0"]\nnamespaces:\n  - name: local\n    bogus_key: 1\n' >"$CFG"
hup "SIGHUP with a broken config: 'reload failed' logged" 'error meshdns: reload failed'
check "reload failed: the message names file:line:col" \
	grep -q "reload failed.*meshdns.yaml:4:[0-9]*:" "$MESHDNS_LOG"
check "broken config: still serving" kill -0 "$MESHDNS_PID"
check "broken config: previous weights kept" eval '[ "$(short web.local A)" = 127.0.0.51 ]'
check "broken config: previous services kept" eval '[ "$(short second.local A)" = 127.0.0.55 ]'
share "broken config: previous routes kept (50/50)" r.local 127.0.0.53 450 550

# A broken zone is refused the same way.
config 100 90 10 third
printf '$ORIGIN local.\n@ IN SOA ns.local. hostmaster.local. 3 3600 600 86400 5\nbad IN A not-an-address\n' \
	>"$T/local.zone"
hup "SIGHUP with a broken zone: 'reload failed' logged" 'error meshdns: reload failed'
check "broken zone: message names local.zone:3" grep -q 'reload failed.*local\.zone:3:' "$MESHDNS_LOG"
check "broken zone: previous config kept" eval '[ "$(short second.local A)" = 127.0.0.55 ]'

# Fixed again: everything of the new config applies.
zone 4 10.0.0.4
hup "SIGHUP after the fix: 'reloaded' logged" 'info meshdns: reloaded'
share "fixed: router 90/10 again" r.local 127.0.0.53 870 930
check "fixed: zone served" eval '[ "$(short static.local A)" = 10.0.0.4 ]'

stop_meshdns
rc=$?
check "SIGTERM: exit status 0 (got $rc)" [ "$rc" -eq 0 ]
check "SIGTERM: 'stopped' logged" grep -q 'info meshdns: stopped' "$MESHDNS_LOG"

done_testing
