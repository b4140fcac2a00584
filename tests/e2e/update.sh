#!/bin/bash
# tests/e2e/update.sh - registration by signed DNS UPDATE (RFC 2136 + TSIG):
# nsupdate and knsupdate register, set health and deregister in the Cloud Map
# layout and dig sees it at once; unsigned, badly signed, out-of-scope and
# malformed updates are refused with the RFC's rcodes and change nothing; a
# message applies whole or not at all; leases (RFC 9664) are granted within
# min_lease..max_lease and end the instance on time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

write_update_config "$T/meshdns.yaml" "$T/state"
start_meshdns "$T/meshdns.yaml"

# ---- registration, nsupdate and knsupdate ----

expect_rcode "nsupdate registers task-1 in payments-v1" NOERROR <<'EOF'
update delete task-1.payments-v1.local. ANY
update add task-1.payments-v1.local. 5 A 10.0.0.5
update add task-1.payments-v1.local. 5 TXT "health=healthy" "az=a"
update add payments-v1.local. 5 SRV 0 100 5000 task-1.payments-v1.local.
EOF
expect_eq "payments-v1.local A is task-1's address" "$(a_set payments-v1.local)" "10.0.0.5"
expect_eq "payments-v1.local SRV points to task-1" "$(srv_set payments-v1.local)" \
	"0 65535 5000 task-1.payments-v1.local."
expect_eq "task-1.payments-v1.local TXT has its attributes and health" \
	"$(txt_of task-1.payments-v1.local)" '"az=a" "health=healthy"'
expect_eq "task-1.payments-v1.local A" "$(a_set task-1.payments-v1.local)" "10.0.0.5"

# knsupdate has no "delete NAME ANY" (ANY reads as a class): "delete NAME"
# deletes every RRset at the name, the same RFC 2136 2.5.3 record.
expect_rcode "knsupdate registers task-2 in payments-v1" NOERROR -k <<'EOF'
update delete task-2.payments-v1.local.
update add task-2.payments-v1.local. 5 A 10.0.0.6
update add task-2.payments-v1.local. 5 TXT "health=healthy" "az=b"
update add payments-v1.local. 5 SRV 0 100 5001 task-2.payments-v1.local.
EOF
expect_eq "payments-v1.local A has both instances" "$(a_set payments-v1.local)" "10.0.0.5 10.0.0.6"
expect_eq "payments-v1.local SRV has both instances" "$(srv_set payments-v1.local)" \
	"0 65535 5000 task-1.payments-v1.local. 0 65535 5001 task-2.payments-v1.local."

expect_rcode "an hmac-sha512 key registers in payments-v2" NOERROR -y "hmac-sha512:$V2_KEY:$V2_SECRET" <<'EOF'
update add v2a.payments-v2.local. 5 A 10.0.2.1
update add payments-v2.local. 5 SRV 0 100 6000 v2a.payments-v2.local.
EOF
expect_eq "payments-v2.local A is v2a" "$(a_set payments-v2.local)" "10.0.2.1"

expect_rcode "registering task-3 again with a new address replaces it" NOERROR <<'EOF'
update add task-3.payments-v2.local. 5 A 10.0.3.1
update add payments-v2.local. 5 SRV 0 100 6000 task-3.payments-v2.local.
EOF
expect_rcode "(second registration of task-3)" NOERROR <<'EOF'
update delete task-3.payments-v2.local. ANY
update add task-3.payments-v2.local. 5 A 10.0.3.2
update add payments-v2.local. 5 SRV 0 100 6001 task-3.payments-v2.local.
EOF
expect_eq "task-3 has only its new address and port" \
	"$(a_set task-3.payments-v2.local) / $(srv_set payments-v2.local | tr ' ' '\n' | grep -c 'task-3')" \
	"10.0.3.2 / 1"
check "task-3's SRV has the new port" sh -c "dig @127.0.0.1 -p $PORT +short payments-v2.local SRV | grep -q '6001 task-3.payments-v2.local.'"
expect_rcode "(task-3 deregistered)" NOERROR <<'EOF'
update delete task-3.payments-v2.local. ANY
EOF

# ---- health ----

expect_rcode "task-1 set unhealthy" NOERROR <<'EOF'
update delete task-1.payments-v1.local. TXT
update add task-1.payments-v1.local. 5 TXT "health=unhealthy"
EOF
expect_eq "unhealthy task-1 leaves the A answers" "$(a_set payments-v1.local)" "10.0.0.6"
expect_eq "unhealthy task-1 leaves the SRV answers" "$(srv_set payments-v1.local)" \
	"0 65535 5001 task-2.payments-v1.local."
expect_eq "task-1 TXT says health=unhealthy" "$(txt_of task-1.payments-v1.local)" '"health=unhealthy"'

expect_rcode "task-1 set warning" NOERROR <<'EOF'
update delete task-1.payments-v1.local. TXT
update add task-1.payments-v1.local. 5 TXT "health=warning" "az=a"
EOF
expect_eq "task-1 (warning) is back in the A answers" "$(a_set payments-v1.local)" "10.0.0.5 10.0.0.6"
expect_eq "task-1 (warning) has half of task-2's SRV weight" "$(srv_set payments-v1.local)" \
	"0 32768 5000 task-1.payments-v1.local. 0 65535 5001 task-2.payments-v1.local."
# Weights 50:100: task-1 comes first in about a third of the A answers.
count_first payments-v1.local 600 >"$T/counts"
pm=$(permille_of 10.0.0.5 "$T/counts" 600)
check "task-1 (warning) is first in ~1/3 of 600 A answers (got $pm/1000)" in_range "$pm" 250 420
expect_eq "task-1 TXT says health=warning" "$(txt_of task-1.payments-v1.local)" '"az=a" "health=warning"'

expect_rcode "task-1 set healthy" NOERROR <<'EOF'
update delete task-1.payments-v1.local. TXT
update add task-1.payments-v1.local. 5 TXT "health=healthy" "az=a"
EOF
expect_eq "task-1 (healthy) has its full SRV weight again" "$(srv_set payments-v1.local)" \
	"0 65535 5000 task-1.payments-v1.local. 0 65535 5001 task-2.payments-v1.local."

# ---- refusals that change nothing ----

state() {
	for n in payments-v1.local payments-v2.local other.local; do
		echo "$n SRV: $(srv_set $n)"
		echo "$n A: $(a_set $n)"
	done
	echo "task-1 A: $(a_set task-1.payments-v1.local) TXT: $(txt_of task-1.payments-v1.local)"
	echo "task-9 A: $(a_set task-9.payments-v1.local)"
	echo "foo A: $(a_set foo.local)"
}
state >"$T/state.before"
unchanged() {
	state >"$T/state.after"
	if cmp -s "$T/state.before" "$T/state.after"; then
		pass "$1: the registry is unchanged"
	else
		fail "$1: the registry changed"
		diff "$T/state.before" "$T/state.after" | sed 's/^/#   /'
	fi
}
# alive WHAT: the server must survive WHAT; when it did not, the failure is
# counted and it is started again on the same state_dir, so the checks after
# this one still run (and the restart replays the journal).
RESTARTS=0
alive() {
	if kill -0 "$MESHDNS_PID" 2>/dev/null; then
		pass "meshdns survives $1"
		return 0
	fi
	wait "$MESHDNS_PID" 2>/dev/null
	fail "meshdns survives $1 (it died with status $?; restarted)"
	RESTARTS=$((RESTARTS + 1))
	start_meshdns "$T/meshdns.yaml" "$T/meshdns-restart$RESTARTS.log"
}
REG9='update add task-9.payments-v1.local. 5 A 10.0.0.9
update add payments-v1.local. 5 SRV 0 100 5009 task-9.payments-v1.local.
update delete task-1.payments-v1.local. ANY'

expect_rcode "an unsigned update is REFUSED" REFUSED -n <<<"$REG9"
unchanged "unsigned update"
expect_rcode "a wrong secret is NOTAUTH (BADSIG)" "NOTAUTH(BADSIG)" \
	-y "hmac-sha256:$UPD_KEY:$(head -c32 /dev/urandom | base64)" <<<"$REG9"
unchanged "wrong secret"
expect_rcode "an unknown key name is NOTAUTH (BADKEY)" "NOTAUTH(BADKEY)" \
	-y "hmac-sha256:nobody-key:$UPD_SECRET" <<<"$REG9"
unchanged "unknown key"
expect_rcode "a known key with the wrong algorithm is NOTAUTH (BADKEY)" "NOTAUTH(BADKEY)" \
	-y "hmac-sha512:$UPD_KEY:$UPD_SECRET" <<<"$REG9"
unchanged "wrong algorithm"
out=$(upd --time-offset -1000 <<<'add task-9.payments-v1.local. 5 A 10.0.0.9')
expect_eq "a TSIG time 1000 s off is NOTAUTH (BADTIME)" "$out" "rcode=NOTAUTH(BADTIME) lease=none"
unchanged "stale TSIG time"
# RFC 8945 5.2.3: the BADTIME answer is signed with the request's key, over
# the request's MAC, and carries the server's time; BADSIG (5.3.2) is not.
out=$(upd --time-offset -1000 --tsig-answer <<<'add task-9.payments-v1.local. 5 A 10.0.0.9')
expect_eq "the BADTIME answer's MAC verifies in dnspython, with the request's time and the server's" \
	"$out" "rcode=NOTAUTH tsig_error=BADTIME mac=verified other_len=6 time_signed=request"
out=$("$PYDNS" "$T/upd.py" --port "$PORT" --tsig-answer \
	--key "hmac-sha256:$UPD_KEY:$(head -c32 /dev/urandom | base64)" \
	<<<'add task-9.payments-v1.local. 5 A 10.0.0.9')
expect_eq "the BADSIG answer is unsigned" "$out" \
	"rcode=NOTAUTH tsig_error=BADSIG mac=empty other_len=0 time_signed=request"
unchanged "BADTIME and BADSIG answers"
# A TSIG record whose class is not ANY (RFC 8945 4.2): the MAC would verify
# (it is computed as if the class were ANY), but the record is malformed.
tsig_class_in() {
	"$PYDNS" - "$PORT" "$UPD_KEY" "$UPD_SECRET" <<'PYEOF'
import socket, struct, sys
import dns.message, dns.name, dns.rcode, dns.tsigkeyring, dns.update
port, name, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
u = dns.update.UpdateMessage("local.")
u.add("task-9.payments-v1.local.", 5, "A", "10.0.0.9")
u.use_tsig(dns.tsigkeyring.from_text({name: secret}), algorithm="hmac-sha256")
wire = bytearray(u.to_wire())
owner = dns.name.from_text(name).to_wire()
at = wire.rfind(owner + b"\x00\xfa\x00\xff")
assert at > 0, "no TSIG record"
wire[at + len(owner) + 2:at + len(owner) + 4] = b"\x00\x01"   # class IN
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(bytes(wire), ("127.0.0.1", port))
a = s.recv(4096)
print(dns.rcode.to_text(a[3] & 15))
PYEOF
}
expect_eq "a TSIG record of class IN (not ANY) is FORMERR" "$(tsig_class_in)" "FORMERR"
unchanged "TSIG of class IN"
expect_rcode "payments-key may not register in other.local (REFUSED)" REFUSED <<'EOF'
update add t1.other.local. 5 A 10.0.9.1
update add other.local. 5 SRV 0 100 5000 t1.other.local.
EOF
unchanged "out-of-scope service"
expect_rcode "v2-key may not touch payments-v1 (REFUSED)" REFUSED -y "hmac-sha512:$V2_KEY:$V2_SECRET" <<'EOF'
update delete task-1.payments-v1.local. ANY
EOF
unchanged "v2-key on payments-v1"
expect_rcode "an A at foo.local (not <id>.<service>) is REFUSED" REFUSED <<'EOF'
update add foo.local. 5 A 1.2.3.4
EOF
unchanged "A at a bare name"
expect_rcode "an A at the service name itself is REFUSED" REFUSED <<'EOF'
update add payments-v1.local. 5 A 1.2.3.4
EOF
unchanged "A at the service name"
expect_rcode "an SRV pointing outside its service is REFUSED" REFUSED <<'EOF'
update add payments-v1.local. 5 SRV 0 100 5000 task-1.payments-v2.local.
EOF
alive "an SRV pointing to another service"
unchanged "SRV to another service"
expect_rcode "an SRV pointing to a name that is no instance is REFUSED" REFUSED <<'EOF'
update add payments-v1.local. 5 SRV 0 100 5000 foo.local.
EOF
alive "an SRV pointing to a non-instance"
unchanged "SRV to a non-instance"
expect_rcode "deleting an SRV that points to another service is REFUSED" REFUSED <<'EOF'
update delete payments-v1.local. SRV 0 100 5000 task-1.payments-v2.local.
EOF
alive "deleting an SRV pointing to another service"
unchanged "delete of an SRV to another service"
expect_rcode "an instance without an address is REFUSED" REFUSED <<'EOF'
update add task-9.payments-v1.local. 5 TXT "health=healthy"
EOF
unchanged "TXT-only instance"
expect_rcode "a bad health value is REFUSED" REFUSED <<'EOF'
update delete task-1.payments-v1.local. TXT
update add task-1.payments-v1.local. 5 TXT "health=great"
EOF
unchanged "health=great"
expect_rcode "zone example.com is NOTAUTH" NOTAUTH -z example.com <<<"$REG9"
unchanged "foreign zone"

# ---- all or nothing ----

expect_rcode "one message registering in payments-v1 and other.local is REFUSED" REFUSED <<'EOF'
update add task-a.payments-v1.local. 5 A 10.0.0.10
update add payments-v1.local. 5 SRV 0 100 5000 task-a.payments-v1.local.
update add task-b.other.local. 5 A 10.0.0.11
update add other.local. 5 SRV 0 100 5000 task-b.other.local.
EOF
check "task-a (the in-scope half) is not registered" is_gone task-a.payments-v1.local
unchanged "half out-of-scope message"
expect_rcode "a message whose last instance has no address is REFUSED" REFUSED <<'EOF'
update add task-a.payments-v1.local. 5 A 10.0.0.10
update add payments-v1.local. 5 SRV 0 100 5000 task-a.payments-v1.local.
update delete task-1.payments-v1.local. ANY
update add task-c.payments-v1.local. 5 TXT "az=c"
EOF
check "task-a is not registered, task-1 not deleted" is_gone task-a.payments-v1.local
unchanged "message with an address-less instance"

# ---- leases (RFC 9664) ----

t0=$(date +%s%N)
out=$(upd --lease 2 <<'EOF'
add lease-1.payments-v1.local. 5 A 10.0.0.21
add payments-v1.local. 5 SRV 0 100 5000 lease-1.payments-v1.local.
EOF
)
expect_eq "a registration with a 2 s lease is granted 2 s" "$out" "rcode=NOERROR lease=2"
check "the leased instance answers at once" is_present lease-1.payments-v1.local
if wait_until 3.5 is_gone lease-1.payments-v1.local; then
	pass "the leased instance is gone $(elapsed_ms "$t0") ms after registering (bound 3500)"
else
	fail "the leased instance is still there $(elapsed_ms "$t0") ms after a 2 s lease"
fi
check "the expired instance left the SRV answers" \
	sh -c "! dig @127.0.0.1 -p $PORT +short +tcp payments-v1.local SRV | grep -q lease-1"
check "the expiry is logged" grep -q 'lease of lease-1.payments-v1 ended' "$MESHDNS_LOG"

# A renewal changes no answer, so its answer does not wait for a view; the
# lease left that the CH TXT listing shows catches up within a second.
lease_left() {
	dig @127.0.0.1 -p "$PORT" +short CH TXT payments-v1.local |
		sed -n 's/.*lease-7\.payments-v1\.local\..* lease=\([0-9]*\)s.*/\1/p'
}
renew7() { upd --lease 60 <<'EOF'
add lease-7.payments-v1.local. 5 A 10.0.0.27
add payments-v1.local. 5 SRV 0 100 5000 lease-7.payments-v1.local.
EOF
}
out=$(renew7)
expect_eq "lease-7 registers for 60 s" "$out" "rcode=NOERROR lease=60"
sleep 3
left=$(lease_left)
check "3 s later the listing shows its lease running down (${left}s left)" \
	[ -n "$left" ] && [ "$left" -le 58 ]
out=$(renew7)
expect_eq "lease-7 renews for 60 s" "$out" "rcode=NOERROR lease=60"
check "the renewal is logged as one" grep -q 'accepted changes=1 lease=60 (renewal)' "$MESHDNS_LOG"
sleep 1.5
left=$(lease_left)
check "1.5 s after the renewal the listing shows the new lease (${left}s left)" \
	[ -n "$left" ] && [ "$left" -ge 58 ]
expect_rcode "(lease-7 deregistered)" NOERROR <<'EOF'
update delete lease-7.payments-v1.local. ANY
EOF

# The lease ends at its expiry even when other updates come meanwhile (each
# one re-arms the expiry timer): register early in second F (expiry F+2),
# send an unrelated update at F+1.9; the instance must be gone by F+2.6.
# upd aligns and times the exchange itself, after python's start-up; when it
# still straddles a second boundary (a busy machine), F is unknown: register
# again, aligned anew (at most 3 tries).
upd_in_second 50 250 --lease 2 <<<'add lease-8.payments-v1.local. 5 A 10.0.0.28'
F=$UPD_SEC
expect_eq "a 2 s lease registered early in a second (at +$((UPD_B % 1000))..$((UPD_A - F * 1000)) ms)" \
	"$UPD_OUT $UPD_SPLIT" "rcode=NOERROR lease=2 0"
sleep "$(secs_until $(( F * 1000 + 1900 )))"
expect_rcode "an unrelated update 0.1 s before that lease ends" NOERROR <<'EOF'
update add tick.payments-v2.local. 5 A 10.0.2.99
EOF
if wait_until "$(secs_until $(( F * 1000 + 2600 )))" is_gone lease-8.payments-v1.local; then
	pass "the lease still ends on time ($(( $(wall_ms) - F * 1000 - 2000 )) ms after its expiry second)"
else
	wait_until 2 is_gone lease-8.payments-v1.local
	fail "the lease ends on time after an unrelated update: still there 600 ms after its" \
	     "expiry second; gone at +$(( $(wall_ms) - F * 1000 - 2000 )) ms"
fi
expect_rcode "(tick deregistered)" NOERROR <<'EOF'
update delete tick.payments-v2.local. ANY
EOF

out=$(upd --lease 100000 <<<'add lease-2.payments-v1.local. 5 A 10.0.0.22')
expect_eq "a 100000 s lease is clamped to max_lease (86400)" "$out" "rcode=NOERROR lease=86400"
out=$(upd --lease 0 <<<'add lease-3.payments-v1.local. 5 A 10.0.0.23')
expect_eq "a 0 s lease is raised to min_lease (1)" "$out" "rcode=NOERROR lease=1"
out=$(upd <<<'add lease-4.payments-v1.local. 5 A 10.0.0.24')
expect_eq "no lease option asked, none in the answer" "$out" "rcode=NOERROR lease=none"
out=$(upd --lease 30 --unsigned <<<'add lease-5.payments-v1.local. 5 A 10.0.0.25')
expect_eq "a refused update grants no lease" "$out" "rcode=REFUSED lease=none"
out=$(upd --lease 60 --tcp <<<'add lease-6.payments-v1.local. 5 A 10.0.0.26')
expect_eq "UPDATE over TCP with a lease" "$out" "rcode=NOERROR lease=60"
check "lease-2 (a day) is still there" is_present lease-2.payments-v1.local
out=$(upd <<'EOF'
delete lease-2.payments-v1.local.
delete lease-4.payments-v1.local.
delete lease-6.payments-v1.local.
EOF
)
expect_eq "dnspython deletes three instances in one message" "$out" "rcode=NOERROR lease=none"

# ---- deregistration ----

expect_rcode "task-1 deregisters (delete NAME ANY)" NOERROR <<'EOF'
update delete task-1.payments-v1.local. ANY
EOF
expect_eq "task-1 left A" "$(a_set payments-v1.local)" "10.0.0.6"
expect_eq "task-1 left SRV" "$(srv_set payments-v1.local)" "0 65535 5001 task-2.payments-v1.local."
check "task-1.payments-v1.local has no A any more" is_gone task-1.payments-v1.local
expect_rcode "task-2 deregisters (delete its SRV record)" NOERROR <<'EOF'
update delete payments-v1.local. SRV 0 100 5001 task-2.payments-v1.local.
EOF
check "task-2.payments-v1.local has no A any more" is_gone task-2.payments-v1.local
check "payments-v1.local A is NODATA with the SOA" is_nodata payments-v1.local A
check "payments-v1.local SRV is NODATA with the SOA" is_nodata payments-v1.local SRV
expect_rcode "deleting every SRV of payments-v2 deregisters all its instances" NOERROR <<'EOF'
update delete payments-v2.local. SRV
EOF
check "payments-v2.local SRV is NODATA" is_nodata payments-v2.local SRV
expect_rcode "deleting what is not there is NOERROR" NOERROR <<'EOF'
update delete task-1.payments-v1.local. ANY
EOF
check "meshdns is still running" kill -0 "$MESHDNS_PID"

done_testing
