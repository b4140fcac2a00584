#!/bin/bash
# tests/e2e/xfr.sh - replication to stock secondaries (issue 9): meshdns is
# the primary of `local.`, NSD and Knot run unprivileged on loopback as its
# secondaries with a TSIG transfer key, and meshdns NOTIFYs them. A
# registration by nsupdate reaches both within a few seconds, a
# deregistration leaves them, the SOA serial rises each time; an unsigned
# or badly signed AXFR is refused, a signed one lists the records, and an
# IXFR from an older serial is a difference (RFC 1995), not the whole zone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

need nsd nsd
need knotd knot
need kdig knot-dnsutils

XFR_KEY=xfr-key
XFR_SECRET=$(head -c32 /dev/urandom | base64)

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
NSD_PORT=$(free_port)
KNOT_PORT=$(free_port)
while [ "$KNOT_PORT" = "$NSD_PORT" ]; do KNOT_PORT=$(free_port); done

# Secondaries need an NS record at the apex (Knot refuses a zone without).
cat >"$T/local.zone" <<'EOF'
$ORIGIN local.
$TTL 5
@	IN SOA	ns.local. hostmaster.local. 1 3600 600 86400 5
@	IN NS	ns.local.
ns	IN A	127.0.0.1
EOF
write_update_config "$T/meshdns.yaml" "$T/state" "    zone: $T/local.zone
    max_instances_per_service: 5000
    allow_transfer: [$XFR_KEY]
    notify: [\"127.0.0.1:$NSD_PORT\", \"127.0.0.1:$KNOT_PORT\"]"
# 1,500 static instances of `other`: a transfer of several messages, each
# signed with the running MAC (RFC 8945 5.3.1), which both secondaries check.
awk 'BEGIN { print "      other:"; print "        instances:"
	for (i = 0; i < 1500; i++)
		printf "          - {id: s%d, address: 10.1.%d.%d, port: 80}\n", i, i / 250, i % 250 + 1 }' \
	>"$T/other.yaml"
sed -i -e "/^      other: {}$/r $T/other.yaml" -e '/^      other: {}$/d' "$T/meshdns.yaml"
echo "  - {name: $XFR_KEY, algorithm: hmac-sha256, secret: \"$XFR_SECRET\"}" >>"$T/meshdns.yaml"
mkdir -p "$T/state"
start_meshdns "$T/meshdns.yaml"

# ---- the secondaries ----

mkdir -p "$T/nsd" "$T/knot"
cat >"$T/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$T/nsd"
    database: ""
    zonelistfile: "$T/nsd/zone.list"
    xfrdfile: "$T/nsd/xfrd.state"
    pidfile: "$T/nsd/nsd.pid"
    xfrdir: "$T/nsd"
    verbosity: 2
remote-control:
    control-enable: no
key:
    name: "$XFR_KEY"
    algorithm: hmac-sha256
    secret: "$XFR_SECRET"
zone:
    name: local.
    zonefile: local.zone
    allow-notify: 127.0.0.1 NOKEY
    request-xfr: 127.0.0.1@$PORT $XFR_KEY
EOF
cat >"$T/knot.conf" <<EOF
server:
    rundir: "$T/knot"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$T/knot"
log:
  - target: stderr
    any: info
key:
  - id: $XFR_KEY
    algorithm: hmac-sha256
    secret: $XFR_SECRET
remote:
  - id: primary
    address: 127.0.0.1@$PORT
    key: $XFR_KEY
acl:
  - id: notify-from-primary
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "$T/knot"
    zonefile-sync: -1
zone:
  - domain: local.
    master: primary
    acl: notify-from-primary
EOF
nsd -d -c "$T/nsd.conf" 2>"$T/nsd.log" &
PIDS="$PIDS $!"
knotd -c "$T/knot.conf" 2>"$T/knot.log" &
PIDS="$PIDS $!"

# serial_at PORT: the SOA serial a server answers for local.
serial_at() { dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 local SOA 2>/dev/null | awk '{print $3}'; }
# a_at PORT NAME: the sorted A records a server answers.
a_at() { dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
secondaries_at() {
	local s
	s=$(serial_at "$PORT")
	[ -n "$s" ] && [ "$(serial_at "$NSD_PORT")" = "$s" ] && [ "$(serial_at "$KNOT_PORT")" = "$s" ]
}
# serial_lt A B: A < B in RFC 1982 arithmetic.
serial_lt() {
	case "$1$2" in *[!0-9]* | "") return 1 ;; esac
	local d=$(( ($2 - $1) & 0xffffffff ))
	[ "$d" -gt 0 ] && [ "$d" -lt 2147483648 ]
}
has_a() { [ "$(a_at "$1" "$2")" = "$3" ]; }
no_a() { [ -z "$(a_at "$1" "$2")" ] && dig +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null | grep -q 'status: NXDOMAIN'; }

if ! wait_until 20 secondaries_at; then
	sed 's/^/# nsd: /' "$T/nsd.log" | tail -n 20
	sed 's/^/# knot: /' "$T/knot.log" | tail -n 20
	bail "NSD and Knot load local. from meshdns (serials: meshdns $(serial_at "$PORT")," \
	     "nsd $(serial_at "$NSD_PORT"), knot $(serial_at "$KNOT_PORT"))"
fi
pass "NSD and Knot transferred local. from meshdns (serial $(serial_at "$PORT"))"
check "NSD has the last of 1,500 static instances (a multi-message AXFR)" \
	has_a "$NSD_PORT" s1499.other.local 10.1.5.250
check "Knot has it too" has_a "$KNOT_PORT" s1499.other.local 10.1.5.250
check "NSD has all 1,500 in other.local's SRV set" \
	[ "$(dig +short +tcp -p "$NSD_PORT" @127.0.0.1 other.local SRV | grep -c .)" = 1500 ]
check "the static NS record reached NSD" \
	[ "$(dig +short -p "$NSD_PORT" @127.0.0.1 local NS)" = "ns.local." ]

# ---- a registration reaches both secondaries ----

S0=$(serial_at "$PORT")
expect_rcode "nsupdate registers task-1" NOERROR <<'EOF'
update delete task-1.payments-v1.local. ANY
update add task-1.payments-v1.local. 5 A 10.0.0.5
update add task-1.payments-v1.local. 5 TXT "health=healthy" "az=a"
update add payments-v1.local. 5 SRV 0 100 5000 task-1.payments-v1.local.
EOF
S1=$(serial_at "$PORT")
check "the serial rose with the registration ($S0 -> $S1)" serial_lt "$S0" "$S1"
check "NSD answers task-1 within 5 s (NOTIFY, then IXFR)" \
	wait_until 5 has_a "$NSD_PORT" task-1.payments-v1.local 10.0.0.5
check "Knot answers task-1 within 5 s" \
	wait_until 5 has_a "$KNOT_PORT" task-1.payments-v1.local 10.0.0.5
check "NSD answers payments-v1.local A with task-1" \
	has_a "$NSD_PORT" payments-v1.local 10.0.0.5
check "Knot answers the SRV record with its port" \
	[ "$(dig +short -p "$KNOT_PORT" @127.0.0.1 payments-v1.local SRV)" = \
	  "0 65535 5000 task-1.payments-v1.local." ]

expect_rcode "nsupdate registers task-2" NOERROR <<'EOF'
update add task-2.payments-v1.local. 5 A 10.0.0.6
update add task-2.payments-v1.local. 5 TXT "health=healthy"
update add payments-v1.local. 5 SRV 0 100 5000 task-2.payments-v1.local.
EOF
check "both secondaries list both instances within 5 s" \
	wait_until 5 has_a "$NSD_PORT" payments-v1.local "10.0.0.5 10.0.0.6"
check "... Knot too" wait_until 5 has_a "$KNOT_PORT" payments-v1.local "10.0.0.5 10.0.0.6"

# ---- a deregistration leaves them ----

S2=$(serial_at "$PORT")
expect_rcode "nsupdate deregisters task-1" NOERROR <<'EOF'
update delete task-1.payments-v1.local. ANY
update delete payments-v1.local. SRV 0 100 5000 task-1.payments-v1.local.
EOF
S3=$(serial_at "$PORT")
check "the serial rose with the deregistration ($S2 -> $S3)" serial_lt "$S2" "$S3"
check "task-1 is gone from NSD within 5 s" wait_until 5 no_a "$NSD_PORT" task-1.payments-v1.local
check "task-1 is gone from Knot within 5 s" wait_until 5 no_a "$KNOT_PORT" task-1.payments-v1.local
check "NSD still has task-2 in payments-v1.local" has_a "$NSD_PORT" payments-v1.local 10.0.0.6
check "both secondaries are at meshdns's serial" wait_until 5 secondaries_at

# ---- transfers by hand: the ACL, AXFR, IXFR ----

dig +comments -p "$PORT" @127.0.0.1 local AXFR >"$T/axfr.unsigned" 2>&1
check "an unsigned AXFR is REFUSED" grep -q 'status: REFUSED' "$T/axfr.unsigned"
check "... and lists no records" bash -c "! grep -q 'IN[[:space:]]A' '$T/axfr.unsigned'"
dig -p "$PORT" @127.0.0.1 -y "hmac-sha256:$XFR_KEY:$(head -c32 /dev/urandom | base64)" \
	local AXFR >"$T/axfr.badsig" 2>&1
check "an AXFR with a wrong secret lists no records" \
	bash -c "! grep -q 'IN[[:space:]]A' '$T/axfr.badsig'"
dig -p "$PORT" @127.0.0.1 -y "hmac-sha256:$UPD_KEY:$UPD_SECRET" local AXFR >"$T/axfr.other" 2>&1
check "an AXFR signed with a key allow_transfer does not list is REFUSED" \
	bash -c "! grep -q 'IN[[:space:]]A' '$T/axfr.other'"
dig -p "$PORT" @127.0.0.1 -y "hmac-sha256:$XFR_KEY:$XFR_SECRET" local AXFR >"$T/axfr" 2>&1
check "a signed AXFR lists task-2's A, TXT and SRV records" \
	bash -c "grep -q '^task-2.payments-v1.local.*A.*10.0.0.6' '$T/axfr' &&
		 grep -q '^task-2.payments-v1.local.*TXT.*health=healthy' '$T/axfr' &&
		 grep -q '^payments-v1.local.*SRV.*5000 task-2.payments-v1.local.' '$T/axfr'"
check "... begins and ends with the SOA at the current serial" \
	[ "$(grep -v '^;' "$T/axfr" | grep -c "SOA.* $S3 ")" = 2 ]
check "... in several messages" \
	bash -c "grep -q 'XFR size: .*messages \\([2-9]\\|[1-9][0-9]\\)' '$T/axfr'"
check "... and is signed (dig verified the TSIG)" \
	bash -c "grep -q 'TSIG' '$T/axfr' && ! grep -qi 'tsig.*fail\|failure' '$T/axfr'"
check "... and has no trace of task-1" bash -c "! grep -q task-1 '$T/axfr'"
dig -p "$PORT" @127.0.0.1 -y "hmac-sha256:$XFR_KEY:$XFR_SECRET" local "IXFR=$S2" >"$T/ixfr" 2>&1
grep -v '^;' "$T/ixfr" | grep -v '^$' | grep -v TSIG >"$T/ixfr.rr"
check "IXFR=$S2 answers a difference: SOA $S3, SOA $S2, removals, SOA $S3, SOA $S3" \
	bash -c "awk '\$4 == \"SOA\" {print \$7}' '$T/ixfr.rr' | tr '\n' ' ' | grep -qx '$S3 $S2 $S3 $S3 '"
check "... removing task-1's records" grep -q '^task-1.payments-v1.local.*10.0.0.5' "$T/ixfr.rr"
check "... and not listing task-2 (unchanged)" bash -c "! grep -q '^task-2' '$T/ixfr.rr'"
dig -p "$PORT" @127.0.0.1 -y "hmac-sha256:$XFR_KEY:$XFR_SECRET" local "IXFR=$S3" >"$T/ixfr.now" 2>&1
check "IXFR at the current serial answers the SOA alone" \
	[ "$(grep -v '^;' "$T/ixfr.now" | grep -c 'SOA')" = 1 ]

done_testing
