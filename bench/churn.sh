#!/bin/bash
# bench/churn.sh - what registrations cost the queries: meshdns's CPU per
# query at 50k QPS, alone and while REG_RATE TSIG-signed registrations a
# second arrive (the target: 1,000 registrations/s cost <= 10% more CPU per
# query, and no query is lost).
#
# The names are bench/run's (SERVICES services x 4 instances, a 90/10
# router, 10% NXDOMAIN). The registrations are bench/regload.c at a paced
# REG_RATE, re-registering IDS ids of one service in turn (up to 1024 in
# flight: each agent has one), in two kinds of runs:
#   changes   every registration changes the instance's SRV port (regload
#             -c): journaled, fsync'd, and its answer waits for a view that
#             shows it (views are rebuilt, paced). The target's figure.
#   renewals  the same records with a 60 s lease (regload -L 60), as agents
#             renew: journaled and fsync'd, no answer changes, no rebuild.
# dnsperf and regload share core 0; meshdns has core 1. Server CPU per
# query = utime+stime over the dnsperf run / queries completed, so the
# registrations' cost is in it. Runs alternate: quiet, changes, renewals...
#
# Usage: bench/churn.sh [MESHDNS_BINARY]
# Environment: RUNS (3), DURATION (8), RATE (50000), REG_RATE (1000), IDS (1000),
# SERVICES (1000), COMMIT_DELAY (seconds; the config's default when unset)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
MESHDNS=$(readlink -f "${1:-${MESHDNS:-./build/resolver/meshdns}}")
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
RATE=${RATE:-50000}
REG_RATE=${REG_RATE:-1000}
IDS=${IDS:-1000}
SERVICES=${SERVICES:-1000}
PORT=${PORT:-5398}
. "$HERE/lib.sh"

[ -x "$MESHDNS" ] || die "$MESHDNS is not an executable (build it, or pass its path)"
for t in dnsperf dig taskset pkg-config; do
	command -v $t >/dev/null || die "$t missing (apt-get install dnsperf bind9-dnsutils util-linux pkg-config)"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-churn.XXXXXX") || die "no temp dir"
QUERIES=$W/queries.txt
SRV_PID=""
cleanup() {
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cc -O2 -Wall "$HERE/regload.c" $(pkg-config --cflags --libs ldns) -o "$W/regload" ||
	die "cannot compile regload.c"
python3 "$HERE/dataset.py" "$W" "$SERVICES" 4 200000 "$PORT" >/dev/null || die "dataset.py failed"
SECRET=$(head -c32 /dev/urandom | base64)
# svc5 holds its 4 config instances and the IDS registered ones.
sed -i "s/^  - name: local$/&\n    max_instances_per_service: $((IDS + 100))/" "$W/meshdns.yaml"
cat >>"$W/meshdns.yaml" <<EOF
state_dir: $W/state
update_rate: 0${COMMIT_DELAY:+
commit_delay: $COMMIT_DELAY}
keys:
  - {name: churn, algorithm: hmac-sha256, secret: "$SECRET", allow: [svc5.local]}
EOF

(cd "$W" && exec taskset -c 1 "$MESHDNS" -q -c meshdns.yaml) 2>"$W/meshdns.log" &
SRV_PID=$!
wait_answers "$SRV_PID" "$PORT" svc7.local "$W/meshdns.log" meshdns
pin_server
# The ids exist before the first measured run: every later one replaces.
taskset -c 0 "$W/regload" -p "$PORT" -y "hmac-sha256:churn:$SECRET" -S svc5 -P r \
	-r "$REG_RATE" -m "$IDS" -w 1024 -d 2 >/dev/null || die "regload failed"

echo "# $(nproc) cores, $(uname -r); dnsperf (and regload) on core 0, meshdns on core 1"
echo "# $SERVICES services x 4 instances + $IDS registered in svc5; $RATE QPS x ${DURATION}s; $RUNS runs"
REG=(taskset -c 0 "$W/regload" -p "$PORT" -y "hmac-sha256:churn:$SECRET" -S svc5 -P r -m "$IDS" -w 1024)
# reg_run KIND ARGS...: one measured run with registrations of KIND.
reg_run() {
	local kind=$1 reg
	shift
	"${REG[@]}" -r "$REG_RATE" -d "$DURATION" "$@" >"$W/reg.out" &
	reg=$!
	measure "$kind" udp
	wait "$reg"
	echo "# run $r $kind: $(tail -1 "$W/$kind.udp") | regload $(cut -d' ' -f1-6 "$W/reg.out")"
	awk '{ sub(/ok=/, "", $1); print $1 }' "$W/reg.out" >>"$W/$kind.ok"
}
for ((r = 1; r <= RUNS; r++)); do
	measure quiet udp
	echo "# run $r quiet: $(tail -1 "$W/quiet.udp")"
	reg_run changes -c
	# Every id back to the base records, with a lease: what follows renews.
	"${REG[@]}" -r 5000 -d 1 -L 60 >/dev/null || die "regload failed"
	reg_run renewals -L 60
done

q=$(median "$W/quiet.udp" 1)
lost=$(awk '{ s += $5 } END { print s }' "$W/quiet.udp" "$W/changes.udp" "$W/renewals.udp")
printf '\n%-34s %9s %9s %8s %8s %7s %9s\n' "" "us/query" "user_us/q" "p50_us" "p99_us" "ratio" "acked/run"
row() {
	printf '%-34s %9s %9s %8s %8s %7s %9s\n' "$1" "$(median "$W/$2.udp" 1)" "$(median "$W/$2.udp" 7)" \
		"$(median "$W/$2.udp" 2)" "$(median "$W/$2.udp" 3)" "$(ratio "$(median "$W/$2.udp" 1)" "$q")" \
		"$([ -s "$W/$2.ok" ] && sort -n "$W/$2.ok" | awk '{v[NR] = $1} END { print v[int((NR + 1) / 2)] }' || echo -)"
}
row "queries alone" quiet
row "+ $REG_RATE changing registrations/s" changes
row "+ $REG_RATE renewals/s" renewals
echo "# churn/quiet CPU per query (changing registrations): $(ratio "$(median "$W/changes.udp" 1)" "$q") (target <= 1.10); queries lost in all runs: $lost (target 0)"
