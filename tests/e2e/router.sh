#!/bin/bash
# tests/e2e/router.sh - weighted routing: a 90/10 router sends 90% of the
# first A answers to the first route (measured over 2000 queries, +-3 points)
# whatever the instance counts are, and a route whose instances are all
# unhealthy gives its share to the others.
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

N=2000
start_backend 127.0.0.31; V1_PORT=$BACKEND_PORT
start_backend 127.0.0.32; V2_PID=$BACKEND_PID; V2_PORT=$BACKEND_PORT

HC='interval: 0.2, timeout: 0.2, healthy_threshold: 2, unhealthy_threshold: 2'
cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        health_check: {protocol: http, $HC}
        instances:
          - {id: a, address: 127.0.0.31, port: $V1_PORT}
      payments-v2:
        health_check: {protocol: http, $HC}
        instances:
          - {id: b, address: 127.0.0.32, port: $V2_PORT}
      many-v1:
        instances:
          - {id: m1, address: 127.0.0.41, port: 80}
          - {id: m2, address: 127.0.0.42, port: 80}
          - {id: m3, address: 127.0.0.43, port: 80}
      many-v2:
        instances:
          - {id: m4, address: 127.0.0.44, port: 80}
    routers:
      payments:
        routes:
          - {target: payments-v1, weight: 90}
          - {target: payments-v2, weight: 10}
      many:
        routes:
          - {target: many-v1, weight: 90}
          - {target: many-v2, weight: 10}
EOF
start_meshdns "$T/meshdns.yaml"

# share WHAT ADDR LOW HIGH: the permille of first answers ADDR got in $T/counts.
share() {
	local pm
	pm=$(permille_of "$2" "$T/counts" "$N")
	if grep -q '^errors' "$T/counts"; then
		fail "$1: queries unanswered: $(grep '^errors' "$T/counts")"
	elif in_range "$pm" "$3" "$4"; then
		pass "$1 ($pm/1000)"
	else
		echo "# counts:"; sed 's/^/#   /' "$T/counts"
		fail "$1 ($pm/1000, want $3..$4)"
	fi
}

check "router answers both routes' instances" \
	eval '[ "$(short payments.local A | sort | tr "\n" " ")" = "127.0.0.31 127.0.0.32 " ]'
check "router SRV weights follow the routes (90 -> 65535, 10 -> 7282)" \
	eval '[ "$(short payments.local SRV | sort | tr "\n" "|")" = "0 65535 $V1_PORT a.payments-v1.local.|0 7282 $V2_PORT b.payments-v2.local.|" ]'

count_first payments.local "$N" >"$T/counts"
share "90/10 router: v1 first in 90% +- 3" 127.0.0.31 870 930
share "90/10 router: v2 first in 10% +- 3" 127.0.0.32 70 130

count_first many.local "$N" >"$T/counts"
m1=$(permille_of 127.0.0.41 "$T/counts" "$N")
m2=$(permille_of 127.0.0.42 "$T/counts" "$N")
m3=$(permille_of 127.0.0.43 "$T/counts" "$N")
total=$((m1 + m2 + m3))
check "3 instances in v1, 1 in v2: v1 gets 90% +- 3 by route ($total/1000)" in_range "$total" 870 930
share "3 instances in v1, 1 in v2: v2 gets 10% +- 3" 127.0.0.44 70 130
check "3 instances in v1: each about 30% ($m1 $m2 $m3 /1000)" \
	eval 'in_range $m1 250 350 && in_range $m2 250 350 && in_range $m3 250 350'
check "3+1 router SRV: 0.3 each -> 65535, 0.1 -> 21845" \
	eval '[ "$(short many.local SRV | awk "{ print \$2 }" | sort -n | tr "\n" " ")" = "21845 65535 65535 65535 " ]'

# v2's only instance goes unhealthy: its route's share goes to v1.
kill_pid "$V2_PID"
check "v2's instance turns unhealthy" wait_until 5 eval 'short b.payments-v2.local TXT | grep -q health=unhealthy'
count_first payments.local "$N" >"$T/counts"
share "v2 unhealthy: v1 first in 100%" 127.0.0.31 1000 1000
check "v2 unhealthy: router A has v1 only" eval '[ "$(short payments.local A)" = 127.0.0.31 ]'
check "v2 unhealthy: router SRV has v1 only" \
	eval '[ "$(short payments.local SRV)" = "0 65535 $V1_PORT a.payments-v1.local." ]'

done_testing
