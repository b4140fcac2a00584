#!/bin/bash
# tests/e2e/clients.sh - every client the users name agrees on what meshdns
# serves: dig and kdig (UDP and TCP), c-ares (tests/e2e/ares_query:
# ares_getaddrinfo for addresses, ares_query + ares_parse_srv_reply for SRV,
# UDP and TCP) and dnspython (UDP and TCP) each see
#   - the A set of a service (two static instances),
#   - the SRV set of a 90/10 router over two services, with the weights and
#     ports the README's "How answers are made" gives (lround(share / max
#     share x 65535): 0.675 -> 65535, 0.225 -> 21845, 0.1 -> 9709),
#   - NXDOMAIN for an unknown name, NODATA for a declared service with no
#     instance,
# and after each registration and deregistration, by nsupdate, by knsupdate
# and by a dnspython UPDATE (TSIG signed), every client sees the same new
# instance set (A and SRV).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"
need kdig knot-dnsutils

if [ -z "${ARES_QUERY:-}" ] || [ ! -x "$ARES_QUERY" ]; then
	echo "error: ARES_QUERY=${ARES_QUERY:-} is not the built tests/e2e/ares_query (make check sets it)" >&2
	exit 99
fi

mkdir -p "$T/state"
cat >"$T/meshdns.yaml" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
state_dir: $T/state
namespaces:
  - name: local
    ttl: 5
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 5001, weight: 100}
          - {id: b, address: 127.0.0.12, port: 5002, weight: 300}
      payments-v2:
        instances:
          - {id: c, address: 127.0.0.13, port: 5003, weight: 100}
      products: {}
    routers:
      payments:
        routes:
          - {target: payments-v1, weight: 90}
          - {target: payments-v2, weight: 10}
keys:
  - {name: $UPD_KEY, algorithm: hmac-sha256, secret: "$UPD_SECRET", allow: [payments-v1.local, payments-v2.local]}
EOF
start_meshdns "$T/meshdns.yaml"

# dnspython's query: answers of the asked type one a line (rdata text, as
# dig +short prints it), or "status=RCODE" and exit 2.
cat >"$T/dq.py" <<'EOF'
import sys
import dns.message, dns.query, dns.rcode, dns.rdatatype
port, name, qtype = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tcp = len(sys.argv) > 4 and sys.argv[4] == "tcp"
q = dns.message.make_query(name, qtype)
send = dns.query.tcp if tcp else dns.query.udp
r = send(q, "127.0.0.1", port=port, timeout=3)
if r.rcode() != dns.rcode.NOERROR:
    print("status=" + dns.rcode.to_text(r.rcode()))
    sys.exit(2)
for rrset in r.answer:
    if rrset.rdtype == dns.rdatatype.from_text(qtype):
        for rd in rrset:
            print(rd.to_text())
EOF

# The clients: each CLIENT NAME TYPE prints the answers one a line.
CLIENTS="dig dig+tcp kdig kdig+tcp c-ares c-ares+tcp dnspython dnspython+tcp"
ask() {
	local client=$1 name=$2 type=$3
	case $client in
	dig) short "$name" "$type" ;;
	dig+tcp) short +tcp "$name" "$type" ;;
	kdig) kdig @127.0.0.1 -p "$PORT" +short +timeout=2 +retry=1 "$name" "$type" ;;
	kdig+tcp) kdig @127.0.0.1 -p "$PORT" +short +timeout=2 +retry=1 +tcp "$name" "$type" ;;
	c-ares) "$ARES_QUERY" "127.0.0.1:$PORT" "$name" "$type" ;;
	c-ares+tcp) "$ARES_QUERY" --tcp "127.0.0.1:$PORT" "$name" "$type" ;;
	dnspython) "$PYDNS" "$T/dq.py" "$PORT" "$name" "$type" ;;
	dnspython+tcp) "$PYDNS" "$T/dq.py" "$PORT" "$name" "$type" tcp ;;
	esac
}

# sorted_line: stdin's lines sorted, on one line.
sorted_line() { sort | tr '\n' ' ' | sed 's/ $//'; }

# agree WHAT NAME TYPE WANT...: every client's answer set is exactly the
# WANT lines (in any order).
agree() {
	local what=$1 name=$2 type=$3 want client got
	shift 3
	want=$(printf '%s\n' "$@" | sorted_line)
	for client in $CLIENTS; do
		got=$(ask "$client" "$name" "$type" 2>&1 | sorted_line)
		expect_eq "$what: $client" "$got" "$want"
	done
}

# ---- queries ----
agree "service A: the two static instances" payments-v1.local A 127.0.0.11 127.0.0.12
agree "router SRV: 90/10 over v1 (100 + 300) and v2 (100)" _payments._tcp.local SRV \
	"0 21845 5001 a.payments-v1.local." \
	"0 65535 5002 b.payments-v1.local." \
	"0 9709 5003 c.payments-v2.local."
agree "router SRV at the plain name too" payments.local SRV \
	"0 21845 5001 a.payments-v1.local." \
	"0 65535 5002 b.payments-v1.local." \
	"0 9709 5003 c.payments-v2.local."

# Negative answers: every client tells NXDOMAIN from NODATA.
out=$(q nope.local A)
check "dig: unknown name is NXDOMAIN" eval 'printf "%s\n" "$out" | grep -q "status: NXDOMAIN"'
out=$(kdig @127.0.0.1 -p "$PORT" +timeout=2 nope.local A 2>&1)
check "kdig: unknown name is NXDOMAIN" eval 'printf "%s\n" "$out" | grep -q "status: NXDOMAIN"'
out=$(kdig @127.0.0.1 -p "$PORT" +timeout=2 +tcp nope.local A 2>&1)
check "kdig +tcp: unknown name is NXDOMAIN" eval 'printf "%s\n" "$out" | grep -q "status: NXDOMAIN"'
for t in A SRV; do
	out=$("$ARES_QUERY" "127.0.0.1:$PORT" nope.local "$t" 2>&1)
	rc=$?
	check "c-ares $t: unknown name is ENOTFOUND (NXDOMAIN), exit 2 ($out)" \
		eval '[ $rc -eq 2 ] && printf "%s\n" "$out" | grep -q "^status=ENOTFOUND"'
done
out=$("$PYDNS" "$T/dq.py" "$PORT" nope.local A 2>&1)
check "dnspython: unknown name is NXDOMAIN" eval '[ "$out" = status=NXDOMAIN ]'
check "dig: declared service without instances is NODATA" is_nodata products.local SRV
out=$("$ARES_QUERY" "127.0.0.1:$PORT" products.local SRV 2>&1)
rc=$?
check "c-ares SRV: declared service without instances is ENODATA, exit 2 ($out)" \
	eval '[ $rc -eq 2 ] && printf "%s\n" "$out" | grep -q "^status=ENODATA"'
out=$("$PYDNS" "$T/dq.py" "$PORT" products.local SRV 2>&1)
check "dnspython: declared service without instances is NOERROR, no answer" eval '[ -z "$out" ]'

# ---- registrations: each tool registers an instance, then removes it ----
BASE_SRV=("0 21845 5001 a.payments-v1.local." "0 65535 5002 b.payments-v1.local.")

# registered TOOL ID ADDR PORT: every client sees payments-v1 with ID added
# (weight 100, like a: 21845 beside b's 65535).
registered() {
	agree "after $1 registers $2: A" payments-v1.local A 127.0.0.11 127.0.0.12 "$3"
	agree "after $1 registers $2: SRV" _payments-v1._tcp.local SRV "${BASE_SRV[@]}" \
		"0 21845 $4 $2.payments-v1.local."
}
# deregistered TOOL ID: every client sees payments-v1 as configured again.
deregistered() {
	agree "after $1 deregisters $2: A" payments-v1.local A 127.0.0.11 127.0.0.12
	agree "after $1 deregisters $2: SRV" _payments-v1._tcp.local SRV "${BASE_SRV[@]}"
}

# register_lines ID ADDR PORT [ANY]: the Cloud Map layout, as README shows
# it. knsupdate has no "delete NAME ANY" (it reads ANY as a class): without
# the fourth argument, "delete NAME", the same RFC 2136 2.5.3 record.
register_lines() {
	cat <<EOF
update delete $1.payments-v1.local. ${4:-}
update add $1.payments-v1.local. 5 A $2
update add $1.payments-v1.local. 5 TXT "health=healthy" "via=$1"
update add payments-v1.local. 5 SRV 0 100 $3 $1.payments-v1.local.
EOF
}

register_lines n1 127.0.0.21 7001 ANY | expect_rcode "nsupdate registers n1" NOERROR
registered nsupdate n1 127.0.0.21 7001
echo "update delete n1.payments-v1.local. ANY" | expect_rcode "nsupdate deregisters n1" NOERROR
deregistered nsupdate n1

register_lines k1 127.0.0.22 7002 | expect_rcode "knsupdate registers k1" NOERROR -k
registered knsupdate k1 127.0.0.22 7002
echo "update delete k1.payments-v1.local." | expect_rcode "knsupdate deregisters k1" NOERROR -k
deregistered knsupdate k1

out=$(upd <<'EOF'
delete p1.payments-v1.local.
add p1.payments-v1.local. 5 A 127.0.0.23
add p1.payments-v1.local. 5 TXT "health=healthy" "via=p1"
add payments-v1.local. 5 SRV 0 100 7003 p1.payments-v1.local.
EOF
)
expect_eq "dnspython UPDATE registers p1" "$out" "rcode=NOERROR lease=none"
registered dnspython p1 127.0.0.23 7003
out=$(echo "delete p1.payments-v1.local." | upd)
expect_eq "dnspython UPDATE deregisters p1" "$out" "rcode=NOERROR lease=none"
deregistered dnspython p1

done_testing
