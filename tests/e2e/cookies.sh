#!/bin/bash
# tests/e2e/cookies.sh - DNS Cookies (RFC 7873, server cookies per RFC
# 9018): dig +cookie and kdig +cookie get a server cookie and retry after
# BADCOOKIE; a dnspython client checks the rules one by one: UDP answers
# without a valid server cookie are capped at udp_payload_without_cookie
# (TC, or BADCOOKIE when the client sent a client cookie), a valid cookie
# lifts the cap, bad cookie lengths are FORMERR, TCP is never capped, and a
# SIGHUP rotates the secret while the one before stays valid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"    # for PYDNS
need kdig knot-dnsutils

{
	cat <<EOF
listen: ["127.0.0.1:0"]
udp_payload_without_cookie: 512
namespaces:
  - name: local
    services:
      mid:
        instances:
EOF
	for i in $(seq 1 14); do
		echo "          - {id: instance-$i, address: 127.0.3.$i, port: 80}"
	done
} >"$T/ck.yaml"
start_meshdns "$T/ck.yaml"

out=$(q +cookie mid.local SRV)
check "dig +cookie: 14 SRV over UDP after a BADCOOKIE retry" \
	eval 'printf "%s\n" "$out" | grep -q "ANSWER: 14," && ! printf "%s\n" "$out" | grep -q "Truncated"'
check "dig +cookie: the server cookie is good (RFC 9018 layout: 8 + 16 bytes)" \
	eval 'printf "%s\n" "$out" | grep -Eq "^; COOKIE: [0-9a-f]{16}01000000[0-9a-f]{24} \(good\)"'
out=$(kdig @127.0.0.1 -p "$PORT" +cookie mid.local SRV 2>&1)
check "kdig +cookie: BADCOOKIE first, then the answer with the cookie" \
	eval 'printf "%s\n" "$out" | grep -q "status: BADCOOKIE" && printf "%s\n" "$out" | grep -q "status: NOERROR" && printf "%s\n" "$out" | grep -q "ANSWER: 14"'
check "kdig +cookie: a COOKIE of 24 bytes in the answer" \
	eval 'printf "%s\n" "$out" | grep -Eq "COOKIE: [0-9A-F]{48}"'
out=$(kdig @127.0.0.1 -p "$PORT" +nocookie +bufsize=1232 +notcp +ignore mid.local SRV 2>&1)
check "kdig without a cookie, 1232-byte buffer: TC (capped at 512)" \
	eval 'printf "%s\n" "$out" | grep -q "Flags: qr aa tc"'

cat >"$T/ck.py" <<'EOF'
import os, socket, sys
import dns.edns, dns.flags, dns.message, dns.query, dns.rcode
port, state = int(sys.argv[1]), sys.argv[2]

def ok(c, what):
    print(("ok - " if c else "not ok - ") + what, flush=True)

def ask(name, rdtype, cookie=None, tcp=False):
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232,
                               options=[dns.edns.GenericOption(10, cookie)] if cookie is not None else [])
    f = dns.query.tcp if tcp else dns.query.udp
    return f(q, "127.0.0.1", port=port, timeout=3)

def cookie_of(r):
    for o in r.options:
        if o.otype == 10:
            return o.to_wire()
    return None

cc = os.urandom(8)
if sys.argv[3] == "first":
    r = ask("mid.local.", "SRV", cc)
    sc = cookie_of(r)
    ok(r.rcode() == dns.rcode.BADCOOKIE and not r.answer and not (r.flags & dns.flags.TC),
       "client cookie only, answer over 512: BADCOOKIE, no answer, no TC (%s)" % dns.rcode.to_text(r.rcode()))
    ok(sc is not None and len(sc) == 24 and sc[:8] == cc and sc[8] == 1,
       "BADCOOKIE carries our client cookie and a version-1 server cookie")
    r = ask("mid.local.", "SRV", sc)
    ok(r.rcode() == 0 and len(r.answer[0]) == 14 and not (r.flags & dns.flags.TC)
       and len(r.to_wire()) > 512, "with the server cookie: all 14 over UDP (%d bytes)" % len(r.to_wire()))
    ok(cookie_of(r)[:8] == cc, "the answer carries a fresh cookie for our client cookie")
    r = ask("mid.local.", "SRV")
    ok(r.flags & dns.flags.TC and not r.answer, "no cookie at all, 1232-byte buffer: TC (capped at 512)")
    r = ask("instance-1.mid.local.", "A", cc)
    ok(r.rcode() == 0 and len(r.answer) == 1 and len(cookie_of(r) or b"") == 24,
       "client cookie only, a small answer: answered, with a server cookie")
    r = ask("mid.local.", "SRV", cc + bytes([1, 0, 0, 0]) + os.urandom(12))
    ok(r.rcode() == dns.rcode.BADCOOKIE, "a forged server cookie: BADCOOKIE")
    r = ask("mid.local.", "SRV", sc[:8] + os.urandom(2))
    ok(r.rcode() == dns.rcode.FORMERR, "a 10-byte cookie option: FORMERR (RFC 7873 5.2.2)")
    r = ask("mid.local.", "SRV", b"\1" * 7)
    ok(r.rcode() == dns.rcode.FORMERR, "a 7-byte cookie option: FORMERR")
    r = ask("mid.local.", "SRV", tcp=True)
    ok(r.rcode() == 0 and len(r.answer[0]) == 14, "TCP without a cookie: not capped")
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.2", 0))
    q = dns.message.make_query("mid.local.", "SRV", use_edns=0, payload=1232,
                               options=[dns.edns.GenericOption(10, sc)])
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=3, sock=other)
        ok(r.rcode() == dns.rcode.BADCOOKIE, "the cookie from another client address: BADCOOKIE")
    except OSError as e:
        print("# no 127.0.0.2 source: %s" % e)
    open(state, "wb").write(sc)
else:
    sc = open(state, "rb").read()
    r = ask("mid.local.", "SRV", sc)
    want = 0 if sys.argv[3] == "rotated-once" else dns.rcode.BADCOOKIE
    ok(r.rcode() == want, "after %s: the first cookie gets %s (%s)" %
       (sys.argv[3], dns.rcode.to_text(want), dns.rcode.to_text(r.rcode())))
EOF
py_checks "$T/ck.py" "$PORT" "$T/cookie" first
rotations() { grep -c "cookie secret rotated" "$MESHDNS_LOG"; }
kill -HUP "$MESHDNS_PID"
wait_until 10 eval '[ "$(rotations)" -ge 1 ]' || fail "SIGHUP rotates the cookie secret"
py_checks "$T/ck.py" "$PORT" "$T/cookie" rotated-once
kill -HUP "$MESHDNS_PID"
wait_until 10 eval '[ "$(rotations)" -ge 2 ]' || fail "a second SIGHUP rotates it again"
py_checks "$T/ck.py" "$PORT" "$T/cookie" rotated-twice
check "the log does not show the secret's bytes" eval '! grep -qi "secret=" "$MESHDNS_LOG"'
stop_meshdns

# cookies: false: no COOKIE option back, no cap beyond udp_payload.
sed -i 's/^udp_payload_without_cookie: 512/cookies: false/' "$T/ck.yaml"
start_meshdns "$T/ck.yaml" "$T/meshdns-off.log"
out=$(q +cookie mid.local SRV)
check "cookies: false: dig +cookie gets the answer with no COOKIE" \
	eval 'printf "%s\n" "$out" | grep -q "ANSWER: 14," && ! printf "%s\n" "$out" | grep -q "COOKIE:"'
done_testing
