#!/bin/bash
# tests/e2e/durability.sh - the registration journal: every acknowledged
# UPDATE survives kill -9 (after the last answer, and in the middle of a
# storm of six concurrent clients) and a clean stop, leases keep their absolute expiry
# across a restart, a renewal is journaled (a re-registration that changes
# nothing is not), a full (or read-only) state_dir makes updates fail with
# SERVFAIL while queries go on, and replay tells a torn tail (cut, start) from
# corruption in the middle (refuse to start, naming the offset; --recover
# starts).
#
# The full-disk part mounts a 64 KiB tmpfs: the script re-runs itself under
# `unshare -m` so the mount is private to it and vanishes with it.
if [ -z "${MESHDNS_E2E_UNSHARED:-}" ] && [ "$(id -u)" = 0 ] &&
   command -v unshare >/dev/null 2>&1 && unshare -m true 2>/dev/null; then
	MESHDNS_E2E_UNSHARED=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

FULL=$T/full
trap 'rc_=$?; umount -l "$FULL" 2>/dev/null; (exit $rc_); cleanup' EXIT

CFG=$T/meshdns.yaml
STATE=$T/state
write_update_config "$CFG" "$STATE" "    max_answers: 64"

# present_count PREFIX FROM TO: how many of PREFIX<k>.payments-v1.local
# (k = FROM..TO) have their address.
present_count() {
	local k n=0
	for k in $(seq "$2" "$3"); do
		[ "$(short "$1$k.payments-v1.local" A)" = "10.$((1 + k / 65536)).$((k / 256 % 256)).$((k % 256))" ] &&
			n=$((n + 1))
	done
	echo "$n"
}

# records FILE: "offset payload_length" of each journal record.
records() {
	python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
o = 12
while o + 8 <= len(d):
    n = struct.unpack("!I", d[o:o + 4])[0]
    if o + 8 + n > len(d):
        break
    print(o, n)
    o += 8 + n
EOF
}

# poke FILE OFFSET XOR: flips bits of one byte in place.
poke() {
	python3 - "$@" <<'EOF'
import sys
f, off, x = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
with open(f, "r+b") as h:
    h.seek(off)
    b = h.read(1)[0]
    h.seek(off)
    h.write(bytes([b ^ x]))
EOF
}

# ---- kill -9 right after the last answer ----

start_meshdns "$CFG"
out=$(upd --bulk 50 --kill "$MESHDNS_PID")
expect_eq "50 registrations acknowledged one by one, then kill -9 at once" "$out" "registered=50"
kill9_meshdns
start_meshdns "$CFG" "$T/meshdns-2.log"
expect_eq "after kill -9 and a restart, all 50 are in the SRV answer (TCP)" \
	"$(srv_count payments-v1.local)" 50
expect_eq "after kill -9, all 50 instance names have their address" "$(present_count i 0 49)" 50
expect_eq "an instance's TXT survives too" "$(short i37.payments-v1.local TXT | grep -o 'n=37')" "n=37"
check "the replay is logged with its record count" grep -q 'replayed .*records=50' "$T/meshdns-2.log"

# ---- clean stop ----

out=$(upd --bulk 5 --start 50)
expect_eq "5 more registrations" "$out" "registered=5"
out=$(upd <<<'delete i3.payments-v1.local.')
expect_eq "i3 deregistered" "$out" "rcode=NOERROR lease=none"
stop_meshdns
check "meshdns exits 0 on SIGTERM" [ $? -eq 0 ]
start_meshdns "$CFG" "$T/meshdns-3.log"
expect_eq "after SIGTERM and a restart, 54 are in the SRV answer" "$(srv_count payments-v1.local)" 54
check "the deregistered i3 stays gone" is_gone i3.payments-v1.local

# ---- a lease keeps its absolute expiry across a restart ----

# Registered early in wall-clock second F, the lease ends at F+4 (whole
# seconds). kill -9 about 1 s after registering, restart: the instance is
# back, still there at F+2.5, and gone by F+4.9 (F+4, plus the timer's
# rounding); a lease counted again from the restart would last past F+5.3.
# upd aligns and times the exchange itself, after python's start-up; one
# that still straddles a second boundary (a busy machine) leaves F unknown:
# register again, aligned anew (at most 3 tries).
upd_in_second 50 250 --lease 4 <<<'add lease-1.payments-v1.local. 5 A 10.9.0.1'
b=$UPD_B a=$UPD_A F=$UPD_SEC
expect_eq "a 4 s lease is granted (registered at F+$((b % 1000))..$((a - F * 1000)) ms)" \
	"$UPD_OUT $UPD_SPLIT" "rcode=NOERROR lease=4 0"
sleep "$(secs_until $((a + 1000)))"
kill9_meshdns
start_meshdns "$CFG" "$T/meshdns-4.log"
RESTART_MS=$(( $(wall_ms) - F * 1000 ))
check "the leased instance is back after a kill -9 and a restart (at F+$RESTART_MS ms)" \
	is_present lease-1.payments-v1.local
sleep "$(secs_until $((F * 1000 + 2500)))"
check "it is still there at F+$(( $(wall_ms) - F * 1000 )) ms" is_present lease-1.payments-v1.local
if wait_until "$(secs_until $((F * 1000 + 4900)))" is_gone lease-1.payments-v1.local; then
	pass "the leased instance is gone at F+$(( $(wall_ms) - F * 1000 )) ms (expiry F+4000, bound F+4900)"
else
	fail "the leased instance is still there at F+$(( $(wall_ms) - F * 1000 )) ms (expiry F+4000)"
	wait_until 3 is_gone lease-1.payments-v1.local
	echo "#   (gone at F+$(( $(wall_ms) - F * 1000 )) ms; restarted at F+$RESTART_MS ms)"
fi
stop_meshdns
start_meshdns "$CFG" "$T/meshdns-5.log"
check "the expiry was journaled: still gone after a restart" is_gone lease-1.payments-v1.local
expect_eq "and the 54 others are there" "$(srv_count payments-v1.local)" 54
# ---- renewals ----

# Registering again exactly what is registered, without a lease, changes
# nothing and writes nothing to the journal. With a lease, only the lease
# moves: that is journaled, and a renewal acknowledged just before kill -9
# holds the instance past the first lease's end. A lease ends a whole number
# of seconds after the second its message arrived in, so the registration
# is aligned as lease-1's above: received in second G with a 6 s lease, it
# ends at G+6 and is removed by G+6.9. Renewed from G+3 (python may take a
# second to start; a renewal must arrive before G+6, or it finds the
# instance expired and registers it anew), the lease ends at G+9 or later:
# after kill -9 and a restart, the instance must still answer at G+7.4.
REG_SAME='add same-1.payments-v2.local. 5 A 10.9.1.1
add payments-v2.local. 5 SRV 0 100 5000 same-1.payments-v2.local.'
out=$(upd <<<"$REG_SAME")
expect_eq "same-1 registers" "$out" "rcode=NOERROR lease=none"
J0=$(stat -c %s "$STATE/journal")
out=$(upd <<<"$REG_SAME")
expect_eq "the same registration again" "$out" "rcode=NOERROR lease=none"
expect_eq "it wrote nothing to the journal ($J0 bytes)" "$(stat -c %s "$STATE/journal")" "$J0"
REG_RENEW='add renew-1.payments-v2.local. 5 A 10.9.1.2
add payments-v2.local. 5 SRV 0 100 5000 renew-1.payments-v2.local.'
upd_in_second 50 250 --lease 6 <<<"$REG_RENEW"
G=$UPD_SEC
expect_eq "renew-1 registers with a 6 s lease (at G+$((UPD_B % 1000))..$((UPD_A - G * 1000)) ms)" \
	"$UPD_OUT $UPD_SPLIT" "rcode=NOERROR lease=6 0"
J1=$(stat -c %s "$STATE/journal")
sleep "$(secs_until $((G * 1000 + 3000)))"
out=$(upd --lease 6 --kill "$MESHDNS_PID" <<<"$REG_RENEW")
expect_eq "renew-1 renews from G+3 s, kill -9 right after the answer (at G+$(( $(wall_ms) - G * 1000 )) ms)" \
	"$out" "rcode=NOERROR lease=6"
check "the renewal was journaled ($J1 bytes before)" [ "$(stat -c %s "$STATE/journal")" -gt "$J1" ]
check "and logged as a renewal" grep -q 'accepted changes=1 lease=6 (renewal)' "$MESHDNS_LOG"
kill9_meshdns
start_meshdns "$CFG" "$T/meshdns-renew.log"
sleep "$(secs_until $((G * 1000 + 7400)))"
check "renew-1 still answers at G+$(( $(wall_ms) - G * 1000 )) ms, after the first lease's end (G+6000)" \
	is_present renew-1.payments-v2.local
check "same-1 is there" is_present same-1.payments-v2.local
expect_rcode "(same-1 and renew-1 deregistered)" NOERROR <<'EOF'
update delete same-1.payments-v2.local. ANY
update delete renew-1.payments-v2.local. ANY
EOF


out=$(upd --bulk 1 --start 100 --prefix last)
expect_eq "one more registration (the journal's last record)" "$out" "registered=1"
stop_meshdns

J=$STATE/journal
check "the journal is $J" [ -s "$J" ]
cp "$J" "$T/journal.good"
records "$J" >"$T/records"
NREC=$(wc -l <"$T/records")
check "the journal holds $NREC records (> 50)" [ "$NREC" -gt 50 ]
MID=$(sed -n "$((NREC / 2))p" "$T/records")
MID_OFF=${MID% *}
MID_LEN=${MID#* }

# ---- corruption in the middle: refuse to start, naming the offset ----

# A length field that is impossible (> the 4096-byte payload limit) can not
# come from a torn write, and good records follow: corruption, not a tail.
poke "$J" "$MID_OFF" 0x40
if start_fails "$CFG" "$T/meshdns-badlen.log"; then
	pass "a bad length in a middle record stops the start (exit $START_RC)"
else
	fail "a bad length in a middle record at offset $MID_OFF stops the start (exit $START_RC)"
	sed 's/^/#   /' "$T/meshdns-badlen.log"
fi
check "its message names offset $MID_OFF" grep -q "offset $MID_OFF" "$T/meshdns-badlen.log"
cp "$T/journal.good" "$J"

poke "$J" $((MID_OFF + 8 + MID_LEN / 2)) 0xff
if start_fails "$CFG" "$T/meshdns-corrupt.log"; then
	pass "a flipped byte in a middle record stops the start (exit $START_RC)"
else
	fail "a flipped byte in a middle record stops the start (exit $START_RC)"
	sed 's/^/#   /' "$T/meshdns-corrupt.log"
fi
check "its message names offset $MID_OFF" grep -q "offset $MID_OFF" "$T/meshdns-corrupt.log"
check "its message tells about --recover" grep -q -- '--recover' "$T/meshdns-corrupt.log"
check "the journal is left as it was" sh -c "! cmp -s '$J' '$T/journal.good' && [ \$(stat -c %s '$J') -eq \$(stat -c %s '$T/journal.good') ]"

if start_meshdns_args "$CFG" "$T/meshdns-recover.log" --recover; then
	pass "meshdns --recover starts on the corrupt journal"
else
	fail "meshdns --recover starts on the corrupt journal"
	sed 's/^/#   /' "$T/meshdns-recover.log"
fi
check "--recover logs what it dropped" grep -q 'dropped' "$T/meshdns-recover.log"
check "registrations before the bad record are there (i0)" is_present i0.payments-v1.local
check "those after it are dropped (last100)" is_gone last100.payments-v1.local
stop_meshdns
check "the journal was cut at offset $MID_OFF" [ "$(stat -c %s "$J")" -eq "$MID_OFF" ]
start_meshdns "$CFG" "$T/meshdns-6.log"
pass "after --recover, a plain start works"
stop_meshdns

# ---- torn tails: cut, and the start goes on ----

cp "$T/journal.good" "$J"
head -c5 /dev/urandom >>"$J"
start_meshdns "$CFG" "$T/meshdns-torn5.log"
pass "5 garbage bytes at the end: meshdns starts"
check "the torn tail is logged" grep -q 'torn record' "$T/meshdns-torn5.log"
expect_eq "every registration is there (54 + last100)" "$(srv_count payments-v1.local)" 55
stop_meshdns
check "the garbage was cut off" cmp -s "$J" "$T/journal.good"

# The last record's write cut short (what a crash mid-write leaves).
truncate -s -10 "$J"
start_meshdns "$CFG" "$T/meshdns-torn-last.log"
pass "a half-written last record: meshdns starts"
check "the half-written registration (last100) is not there" is_gone last100.payments-v1.local
expect_eq "the 54 before it are" "$(srv_count payments-v1.local)" 54
stop_meshdns

# ---- kill -9 during a storm of concurrent registrations ----

# Six clients (three over UDP, three over TCP), each registering its own ids
# back to back and recording every NOERROR as it arrives; kill -9 lands while
# they are all mid-stream. After a restart, every acknowledged id must answer
# with its address. (Ids in flight at the kill may or may not be there: they
# were never acknowledged.)
write_update_config "$T/storm.yaml" "$T/storm-state" "    max_answers: 64"
start_meshdns "$T/storm.yaml" "$T/meshdns-storm.log"
STORM_CLIENTS=""
for c in 0 1 2 3 4 5; do
	tcp=""
	[ "$c" -ge 3 ] && tcp=--tcp
	: >"$T/storm.$c"
	upd --bulk 20000 --start $((c * 20000)) --svc payments-v2 --prefix s --timeout 1 \
		--until-fail --record "$T/storm.$c" $tcp >"$T/storm.$c.out" 2>&1 &
	STORM_CLIENTS="$STORM_CLIENTS $!"
	PIDS="$PIDS $!"
done
storm_acked() { cat "$T"/storm.[0-5] | grep -c .; }
# Kill once every client has been acknowledged at least 50 times and the
# storm is in full flow (or after 20 s, whatever it reached).
storm_flowing() {
	local c
	for c in 0 1 2 3 4 5; do
		[ "$(grep -c . "$T/storm.$c")" -ge 50 ] || return 1
	done
}
wait_until 20 storm_flowing
kill9_meshdns
for p in $STORM_CLIENTS; do
	wait "$p"
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
done
ACKED=$(storm_acked)
check "the storm: each of 6 clients had >= 50 registrations acknowledged before kill -9 ($ACKED in all)" \
	storm_flowing
check "every client saw its server go away (TIMEOUT or NETERR, no other rcode)" \
	eval '[ "$(cat "$T"/storm.[0-5].out | grep -c "^failed=.* rcode=\(TIMEOUT\|NETERR\)$")" = 6 ]'
start_meshdns "$T/storm.yaml" "$T/meshdns-storm2.log"
"$PYDNS" - "$PORT" "$T"/storm.[0-5] >"$T/storm.check" 2>&1 <<'PY'
import sys
import dns.message, dns.query, dns.rcode
port, files = int(sys.argv[1]), sys.argv[2:]
acked = sorted({int(l) for f in files for l in open(f) if l.strip()})
missing, wrong = [], []
for k in acked:
    want = "10.%d.%d.%d" % (1 + k // 65536, k // 256 % 256, k % 256)
    r = dns.query.udp(dns.message.make_query("s%d.payments-v2.local." % k, "A"), "127.0.0.1",
                      port=port, timeout=2)
    got = [rd.address for rr in r.answer for rd in rr]
    if not got:
        missing.append(k)
    elif got != [want]:
        wrong.append((k, got))
print("acked=%d missing=%d wrong=%d" % (len(acked), len(missing), len(wrong)))
if missing or wrong:
    print("# missing:", missing[:20], "wrong:", wrong[:5])
PY
expect_eq "after kill -9 mid-storm and a restart, every acknowledged registration answers with its address" \
	"$(head -n1 "$T/storm.check")" "acked=$ACKED missing=0 wrong=0"
sed -n '2,$s/^/# /p' "$T/storm.check"
n=$(srv_count payments-v2.local)
check "the SRV set holds them all too ($n >= $ACKED; the rest were in flight at the kill)" \
	eval '[ "$n" -ge "$ACKED" ] && [ "$n" -le $((ACKED + 6)) ]'
stop_meshdns

# ---- full and read-only state_dir (tmpfs) ----

mkdir -p "$FULL"
if ! mount -t tmpfs -o size=64k tmpfs "$FULL" 2>"$T/mount.err"; then
	echo "# cannot mount a tmpfs: $(cat "$T/mount.err") (needs root and unshare -m, util-linux)"
	if [ "$FAILED" -gt 0 ]; then exit 1; fi
	echo "SKIP: the full-disk checks need to mount a tmpfs (root, util-linux unshare)"
	exit 77
fi
write_update_config "$T/full.yaml" "$FULL/state" "    max_answers: 64"
start_meshdns "$T/full.yaml" "$T/meshdns-full.log"
out=$(upd --bulk 3 --prefix f)
expect_eq "3 registrations on the small tmpfs" "$out" "registered=3"
dd if=/dev/zero of="$FULL/fill" bs=4k 2>/dev/null
check "the tmpfs is full" [ "$(df --output=avail -k "$FULL" | tail -n1 | tr -d ' ')" -eq 0 ]
# The journal's last page may still have room: register until one fails.
out=$(upd --bulk 200 --start 3 --prefix f --until-fail)
FAIL_AT=$(printf '%s\n' "$out" | sed -n 's/^failed=\([0-9]*\) .*/\1/p')
ACKED=$(printf '%s\n' "$out" | sed -n 's/^registered=//p')
if printf '%s\n' "$out" | grep -q 'rcode=SERVFAIL'; then
	pass "an update on a full disk is answered SERVFAIL (after $ACKED that still fit)"
else
	fail "an update on a full disk is answered SERVFAIL: got [$(echo $out)]"
	FAIL_AT=${FAIL_AT:-203}
fi
check "the refused registration f$FAIL_AT is not there" is_gone "f$FAIL_AT.payments-v1.local"
expect_eq "queries still answer on a full disk" "$(a_set f0.payments-v1.local)" "10.1.0.0"
check "meshdns logs the failed append" grep -q 'cannot append' "$T/meshdns-full.log"
out=$(upd --bulk 1 --start "$FAIL_AT" --prefix f)
expect_eq "a second update while still full fails too" "$out" "failed=$FAIL_AT rcode=SERVFAIL
registered=0"
rm -f "$FULL/fill"
out=$(upd --bulk 1 --start "$FAIL_AT" --prefix f)
expect_eq "after rm of the filler the next update succeeds" "$out" "registered=1"
check "and it is visible (f$FAIL_AT)" is_present "f$FAIL_AT.payments-v1.local"
stop_meshdns
check "meshdns stops cleanly after the full-disk episode" [ $? -eq 0 ]
start_meshdns "$T/full.yaml" "$T/meshdns-full2.log"
expect_eq "after a restart, every acknowledged registration is there" \
	"$(present_count f 0 "$FAIL_AT")" "$((FAIL_AT + 1))"
check "the journal replays without complaint" sh -c "! grep -q 'torn\|corrupt' '$T/meshdns-full2.log'"
stop_meshdns

if mount -o remount,ro "$FULL" 2>"$T/mount.err"; then
	if start_meshdns_args "$T/full.yaml" "$T/meshdns-ro.log"; then
		out=$(upd --bulk 1 --start 300 --prefix f --until-fail)
		check "on a read-only state_dir no update is acknowledged ($(echo $out))" \
			sh -c "echo '$out' | grep -q 'registered=0'"
		check "and queries answer" is_present f0.payments-v1.local
		stop_meshdns
	else
		pass "on a read-only state_dir meshdns refuses to start"
		check "naming the state_dir" grep -q "$FULL/state" "$T/meshdns-ro.log"
		sed 's/^/# /' "$T/meshdns-ro.log"
	fi
else
	fail "remount the tmpfs read-only: $(cat "$T/mount.err")"
fi

done_testing
