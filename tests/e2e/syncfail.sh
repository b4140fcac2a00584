#!/bin/bash
# tests/e2e/syncfail.sh - the journal's fdatasync fails (a disk reporting
# write errors; here an LD_PRELOAD shim, failsync.so, fails fsync and
# fdatasync while a flag file exists):
#   - the update whose sync failed is answered SERVFAIL;
#   - later updates are answered SERVFAIL and NOT applied (what reached the
#     disk is unknown, so nothing more is appended) while queries go on;
#   - a retry of an update whose sync failed is SERVFAIL too, though it
#     changes nothing in memory;
#   - once a sync works again, the next update writes a snapshot of the
#     registry, succeeds, and everything acknowledged survives kill -9.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

if [ -z "${FAILSYNC_SO:-}" ] || [ ! -f "$FAILSYNC_SO" ]; then
	echo "error: FAILSYNC_SO=${FAILSYNC_SO:-} is not a file: run with" \
	     "FAILSYNC_SO=/path/to/build/tests/e2e/failsync.so (make check builds and sets it)" >&2
	exit 99
fi

FLAG=$T/failsync.on
export FAILSYNC_FLAG=$FLAG
# The shim comes before an AddressSanitizer runtime in the library list.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
# Preloaded into meshdns alone (a wrapper that execs it), not into the
# tools this script runs.
printf '#!/bin/sh\nLD_PRELOAD=%s exec %s "$@"\n' "$FAILSYNC_SO" "$MESHDNS" >"$T/meshdns-failsync"
chmod +x "$T/meshdns-failsync"
MESHDNS=$T/meshdns-failsync
CFG=$T/meshdns.yaml
write_update_config "$CFG" "$T/state"
start_meshdns "$CFG"
check "meshdns runs with the shim preloaded" grep -q failsync "/proc/$MESHDNS_PID/maps"

out=$(upd --bulk 3 --prefix ok)
expect_eq "3 registrations while syncs work" "$out" "registered=3"

touch "$FLAG"
out=$(upd <<<'add bad0.payments-v1.local. 5 A 10.0.9.1')
expect_eq "the update whose fdatasync fails is answered SERVFAIL" "$out" "rcode=SERVFAIL lease=none"
check "the failed sync is logged" grep -q 'fdatasync failed' "$MESHDNS_LOG"
out=$(upd <<<'add bad1.payments-v1.local. 5 A 10.0.9.2')
expect_eq "the next update, syncs still failing, is answered SERVFAIL" "$out" "rcode=SERVFAIL lease=none"
check "and is not applied (bad1 is not in the answers)" is_gone bad1.payments-v1.local
check "meshdns says why" grep -q 'a sync failed and no snapshot could be written' "$MESHDNS_LOG"
out=$(upd <<<'delete ok1.payments-v1.local.')
expect_eq "a deregistration meanwhile is refused too" "$out" "rcode=SERVFAIL lease=none"
check "and ok1 stays" is_present ok1.payments-v1.local
# bad0 is in the registry (applied before its sync failed) but maybe not
# on disk: a retry of the same records changes nothing in memory, yet must
# not be acknowledged before a snapshot is durable.
out=$(upd <<<'add bad0.payments-v1.local. 5 A 10.0.9.1')
expect_eq "bad0 retried with the same records, syncs still failing: SERVFAIL" "$out" \
	"rcode=SERVFAIL lease=none"
check "queries are answered all along (ok0)" is_present ok0.payments-v1.local

rm -f "$FLAG"
out=$(upd <<<'add good1.payments-v1.local. 5 A 10.0.9.3')
expect_eq "syncs work again: the next update succeeds" "$out" "rcode=NOERROR lease=none"
check "after a durable snapshot (logged)" grep -q 'durable again' "$MESHDNS_LOG"
check "and it is visible" is_present good1.payments-v1.local
out=$(upd <<<'add bad0.payments-v1.local. 5 A 10.0.9.1')
expect_eq "bad0 retried once syncs work: NOERROR (the snapshot holds it)" "$out" \
	"rcode=NOERROR lease=none"

kill9_meshdns
start_meshdns "$CFG" "$T/meshdns-2.log"
check "after kill -9 and a restart: ok0, ok1, ok2 and good1 are there" \
	eval 'is_present ok0.payments-v1.local && is_present ok1.payments-v1.local &&
	      is_present ok2.payments-v1.local && is_present good1.payments-v1.local'
check "the refused bad1 is not" is_gone bad1.payments-v1.local
check "and bad0, acknowledged on its retry" is_present bad0.payments-v1.local
stop_meshdns
check "meshdns stops cleanly" [ $? -eq 0 ]

done_testing
