#!/bin/bash
# tests/e2e/answers.sh - what meshdns answers (DESIGN.md "Answers"): service
# A/AAAA/SRV, instance A/TXT, routers, NODATA/NXDOMAIN with the SOA, REFUSED
# outside the namespaces, static zone records and CNAMEs, EDNS and truncation,
# header flags, letter case, CH version.bind, NOTIMP and BADVERS.
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

cat >"$T/local.zone" <<'EOF'
$ORIGIN local.
$TTL 300
@	3600 IN SOA	ns.local. hostmaster.local. 1 3600 600 86400 7
	IN NS	ns.local.
ns	IN A	127.0.0.1
gateway	IN A	10.0.0.1
gateway	IN TXT	"static record"
www	IN CNAME gateway
alias	IN CNAME payments-v1
dangling IN CNAME nothere
EOF

{
	cat <<'EOF'
listen: ["127.0.0.1:0"]
upstream: []            # no forwarding: names outside the namespaces are refused
namespaces:
  - name: local
    zone: local.zone
    ttl: 5
    max_answers: 8
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 18081, weight: 100, attributes: {az: a, version: "1.2"}}
          - {id: b, address: [127.0.0.12, "fd00::12"], port: 18082, weight: 50}
      payments-v2: {}
      solo:
        instances:
          - {id: s, address: 127.0.0.13, port: 18083, weight: 100}
      zw:
        instances:
          - {id: w1, address: 127.0.0.14, port: 1, weight: 100}
          - {id: w0, address: 127.0.0.15, port: 1, weight: 0}
      twelve:
        instances:
EOF
	for i in $(seq 1 12); do
		echo "          - {id: t$i, address: 127.0.1.$i, port: 80}"
	done
	echo "      big:"
	echo "        instances:"
	for i in $(seq 1 60); do
		echo "          - {id: i$i, address: 127.0.2.$i, port: 80}"
	done
	cat <<'EOF'
    routers:
      payments:
        routes:
          - {target: payments-v1, weight: 90}
          - {target: payments-v2, weight: 10}
      mixed:
        routes:
          - {target: payments-v1, weight: 3}
          - {target: solo, weight: 1}
  - name: other
    ttl: 30
    negative_ttl: 4
    services:
      empty: {}
EOF
} >"$T/meshdns.yaml"

start_meshdns "$T/meshdns.yaml"
VERSION=$("$MESHDNS" -V | awk '{ print $2 }')

# Helpers over one dig answer kept in $R.
ask() { R=$(q "$@" 2>&1); }
status() { printf '%s\n' "$R" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n1; }
flags() { printf '%s\n' "$R" | sed -n 's/.*;; flags: \([^;]*\);.*/\1/p' | head -n1; }
has_flag() { flags | tr ' ' '\n' | grep -qx "$1"; }
section() { # section ANSWER|AUTHORITY|ADDITIONAL: the records of that section
	printf '%s\n' "$R" | awk -v s=";; $1 SECTION:" '$0 == s { on = 1; next } /^$/ { on = 0 } on && !/^;/'
}
count() { printf '%s\n' "$R" | sed -n "s/.*[ ,]$1: \([0-9]*\).*/\1/p" | head -n1; }
rdata_of() { section ANSWER | awk -v t="$1" '$4 == t { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' | sort; }
is() { [ "$1" = "$2" ] || { echo "#   got: [$1]"; echo "#   expected: [$2]"; return 1; }; }

# ---- service A / AAAA ----
ask payments-v1.local A
check "service A: NOERROR" is "$(status)" NOERROR
check "service A: both IPv4 addresses" is "$(rdata_of A | tr '\n' ' ')" "127.0.0.11 127.0.0.12 "
check "service A: TTL is the namespace ttl (5)" is "$(section ANSWER | awk '{ print $2 }' | sort -u)" 5
check "service A: flags qr aa rd, no ra" is "$(flags)" "qr aa rd"
ask payments-v1.local A +norecurse
check "service A: RD not set when the query has none" is "$(flags)" "qr aa"
ask payments-v1.local AAAA
check "service AAAA: the IPv6 address" is "$(rdata_of AAAA)" "fd00::12"
ask big.local A
check "service A: at most max_answers (8) of 60" is "$(section ANSWER | grep -c .)" 8
ask zw.local A
check "service A: weight-0 instance excluded" is "$(rdata_of A)" 127.0.0.14
ask zw.local SRV
check "service SRV: weight-0 instance excluded" is "$(rdata_of SRV)" "0 65535 1 w1.zw.local."

# weighted-random order: a (weight 100) first about 2/3 of the time, b 1/3
count_first payments-v1.local 600 >"$T/counts"
pm=$(permille_of 127.0.0.11 "$T/counts" 600)
check "service A: first address follows the weights (a: $pm/1000, want 667 +- 80)" in_range "$pm" 587 747

# ---- SRV ----
ask payments-v1.local SRV
check "service SRV: one per instance, weights scaled to 65535, ports, targets" \
	is "$(rdata_of SRV | tr '\n' '|')" "0 32768 18082 b.payments-v1.local.|0 65535 18081 a.payments-v1.local.|"
check "service SRV: targets' A/AAAA in additional" \
	is "$(section ADDITIONAL | awk '{ print $1, $4, $5 }' | sort | tr '\n' '|')" \
	"a.payments-v1.local. A 127.0.0.11|b.payments-v1.local. A 127.0.0.12|b.payments-v1.local. AAAA fd00::12|"
ask _payments-v1._tcp.local SRV
check "_svc._tcp SRV: same records" \
	is "$(rdata_of SRV | tr '\n' '|')" "0 32768 18082 b.payments-v1.local.|0 65535 18081 a.payments-v1.local.|"
check "_svc._tcp SRV: aa" has_flag aa

# ---- instances ----
ask a.payments-v1.local A
check "instance A" is "$(rdata_of A)" 127.0.0.11
ask a.payments-v1.local TXT
check "instance TXT: attributes then health" is "$(rdata_of TXT)" '"az=a" "version=1.2" "health=healthy"'
ask b.payments-v1.local AAAA
check "instance AAAA" is "$(rdata_of AAAA)" fd00::12
ask b.payments-v1.local TXT
check "instance TXT without attributes" is "$(rdata_of TXT)" '"health=healthy"'
ask c.payments-v1.local A
check "unknown instance: NXDOMAIN" is "$(status)" NXDOMAIN

# ---- routers ----
ask payments.local A
check "router A: an empty route gives its share away" is "$(rdata_of A | tr '\n' ' ')" "127.0.0.11 127.0.0.12 "
ask payments.local SRV
check "router SRV: members of the non-empty route" \
	is "$(rdata_of SRV | tr '\n' '|')" "0 32768 18082 b.payments-v1.local.|0 65535 18081 a.payments-v1.local.|"
ask mixed.local SRV
check "router SRV: instance weight x route share (3:1)" \
	is "$(rdata_of SRV | tr '\n' '|')" "0 32768 18082 b.payments-v1.local.|0 32768 18083 s.solo.local.|0 65535 18081 a.payments-v1.local.|"
check "router SRV: glue for every target" is "$(section ADDITIONAL | grep -c -w A)" 3
ask _mixed._tcp.local SRV
check "router _svc._tcp SRV" is "$(rdata_of SRV | wc -l)" 3

# ---- negative answers ----
ask payments-v2.local A
check "service without instances: NOERROR" is "$(status)" NOERROR
check "service without instances: empty answer" is "$(count ANSWER)" 0
check "service without instances: SOA in authority, TTL = min(3600, minimum 7)" \
	is "$(section AUTHORITY | awk '{ print $1, $2, $4 }')" "local. 7 SOA"
check "service without instances: aa" has_flag aa
ask payments-v1.local MX
check "existing name, other type: NODATA with SOA" is "$(status) $(count ANSWER) $(section AUTHORITY | awk '{ print $4 }')" "NOERROR 0 SOA"
ask nothere.local A
check "missing name: NXDOMAIN" is "$(status)" NXDOMAIN
check "missing name: SOA in authority, negative TTL" is "$(section AUTHORITY | awk '{ print $1, $2, $4 }')" "local. 7 SOA"
check "missing name: aa" has_flag aa
ask deep.nothere.payments-v1.local A
check "missing name under a service: NXDOMAIN" is "$(status)" NXDOMAIN
ask local SOA
check "SOA from the zone file, own TTL" is "$(section ANSWER | awk '{ print $2, $5, $6, $NF }')" "3600 ns.local. hostmaster.local. 7"
ask empty.other A
check "synthesised SOA: NODATA with SOA, TTL = negative_ttl (4)" \
	is "$(status) $(section AUTHORITY | awk '{ print $1, $2, $4 }')" "NOERROR other. 4 SOA"
ask nothing.other A
check "synthesised SOA: NXDOMAIN" is "$(status) $(count AUTHORITY)" "NXDOMAIN 1"
ask other SOA
check "synthesised SOA record" is "$(section ANSWER | awk '{ print $2, $5, $6, $NF }')" "30 ns.other. hostmaster.other. 4"

# ---- outside every namespace ----
ask example.com A
check "outside the namespaces: REFUSED" is "$(status)" REFUSED
check "outside the namespaces: EDE 20 with EDNS" grep -q 'EDE: 20' <<<"$R"
check "outside the namespaces: no aa" eval '! has_flag aa'
ask example.com A +noedns
check "outside the namespaces without EDNS: REFUSED, no OPT" \
	is "$(status) $(grep -c 'OPT PSEUDOSECTION' <<<"$R")" "REFUSED 0"

# ---- static zone records ----
ask gateway.local A
check "static A from the zone, aa" is "$(rdata_of A) $(flags)" "10.0.0.1 qr aa rd"
check "static A keeps the zone TTL" is "$(section ANSWER | awk '{ print $2 }')" 300
ask gateway.local TXT
check "static TXT" is "$(rdata_of TXT)" '"static record"'
ask www.local A
check "CNAME in the zone is followed" is "$(rdata_of CNAME) $(rdata_of A)" "gateway.local. 10.0.0.1"
ask alias.local A
check "CNAME to a service is followed" is "$(rdata_of CNAME) $(rdata_of A | tr '\n' ' ')" "payments-v1.local. 127.0.0.11 127.0.0.12 "
ask dangling.local A
check "CNAME to a missing name: NXDOMAIN with the CNAME" is "$(status) $(rdata_of CNAME)" "NXDOMAIN nothere.local."
ask www.local CNAME
check "CNAME query returns the CNAME itself" is "$(status) $(rdata_of CNAME) $(count ANSWER)" "NOERROR gateway.local. 1"

# ---- EDNS, sizes, truncation ----
ask payments-v1.local A
check "EDNS: OPT advertises 1232" grep -q 'udp: 1232' <<<"$R"
ask payments-v1.local A +bufsize=4096
check "EDNS: advertises 1232 whatever the client's size" grep -q 'udp: 1232' <<<"$R"
ask payments-v1.local A +edns=1 +noednsnegotiation
check "EDNS version 1: BADVERS" is "$(status)" BADVERS
ask big.local SRV +ignore
check "SRV of 60 over UDP with EDNS: TC=1, empty answer" is "$(has_flag tc && echo tc) $(count ANSWER)" "tc 0"
ask big.local SRV +ignore +noedns
check "SRV of 60 over UDP without EDNS: TC=1, empty answer" is "$(has_flag tc && echo tc) $(count ANSWER)" "tc 0"
check "SRV of 60 over UDP without EDNS: at most 512 bytes" \
	in_range "$(sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$R")" 12 512
ask big.local SRV +tcp
check "SRV of 60 over TCP: all 60, no TC" is "$(count ANSWER) $(has_flag tc && echo tc)" "60 "
ask big.local SRV
check "dig retries over TCP after TC: all 60" is "$(count ANSWER)" 60
ask twelve.local SRV +noedns +ignore
size=$(sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$R")
check "SRV of 12 without EDNS: answer fits, glue dropped first, no TC (size $size)" \
	is "$(count ANSWER) $(has_flag tc && echo tc)" "12 "
check "SRV of 12 without EDNS: at most 512 bytes, some glue dropped" \
	eval '[ "$size" -le 512 ] && [ "$(count ADDITIONAL)" -lt 12 ]'
ask twelve.local SRV +bufsize=1232
check "SRV of 12 with EDNS 1232: all glue" is "$(count ANSWER) $(section ADDITIONAL | grep -c -w A)" "12 12"

# ---- header ----
ask PaYmEnTs-V1.LoCaL A +nocmd
check "question echoed with the client's letter case" \
	grep -q '^;PaYmEnTs-V1\.LoCaL\.[[:space:]]*IN[[:space:]]*A$' <<<"$R"
check "mixed-case query answered" is "$(rdata_of A | tr '\n' ' ')" "127.0.0.11 127.0.0.12 "
python3 - "$PORT" >"$T/hdr" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
q = b"\x0bpayments-v1\x05local\x00" + struct.pack("!HH", 1, 1)
for qid, flags in ((0xBEEF, 0x0100), (0x1234, 0x0000), (0x0000, 0x0110)):
    s.sendto(struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + q, ("127.0.0.1", int(sys.argv[1])))
    m = s.recv(65535)
    rid, rfl = struct.unpack("!HH", m[:4])
    print("%04x %04x" % (rid, rfl))
EOF
check "ID echoed, RD and CD copied, RA never set" is "$(tr '\n' ' ' <"$T/hdr")" "beef 8500 1234 8400 0000 8510 "

# ---- CH, opcodes ----
ask version.bind TXT CH
check "CH TXT version.bind" is "$(rdata_of TXT)" "\"meshdns $VERSION\""
ask version.server TXT CH
check "CH TXT version.server" is "$(rdata_of TXT)" "\"meshdns $VERSION\""
ask payments-v1.local A +opcode=status
check "opcode STATUS: NOTIMP" is "$(status)" NOTIMP
ask payments-v1.local A +opcode=notify
check "opcode NOTIFY: NOTIMP" is "$(status)" NOTIMP

# ---- kdig agrees ----
if command -v kdig >/dev/null 2>&1; then
	check "kdig: service A" is "$(kdig @127.0.0.1 -p "$PORT" +short payments-v1.local A | sort | tr '\n' ' ')" \
		"127.0.0.11 127.0.0.12 "
fi

# ---- a name both a set and an instance claim ----
# Service "_tcp" may have an instance "_web", whose name _web._tcp.local is
# also service web's RFC 2782 SRV name: that name answers web's SRV, and
# _tcp's SRV still points at its instance, whichever service the config
# lists first.
stop_meshdns
for order in "web _tcp" "_tcp web"; do
	{
		printf 'listen: ["127.0.0.1:0"]\nnamespaces:\n  - name: local\n    ttl: 5\n    services:\n'
		for svc in $order; do
			if [ "$svc" = web ]; then
				printf '      web:\n        instances:\n          - {id: a, address: 10.0.1.1, port: 8080}\n'
			else
				printf '      _tcp:\n        instances:\n          - {id: _web, address: 10.0.2.1, port: 9090}\n'
			fi
		done
	} >"$T/clash.yaml"
	start_meshdns "$T/clash.yaml" "$T/clash.log"
	check "services $order: _web._tcp.local SRV is web's" \
		is "$(short _web._tcp.local SRV)" "0 65535 8080 a.web.local."
	check "services $order: _tcp.local SRV points at its instance, with its address as glue" \
		is "$(q +noall +answer +additional _tcp.local SRV | awk '{ print $4, $NF }' | tr '\n' ' ')" \
		"SRV _web._tcp.local. A 10.0.2.1 "
	stop_meshdns
done

done_testing
