#!/bin/bash
# bench/scale.sh - does CPU per query grow with the registry? meshdns alone,
# bench/run's method and query mix, with 100 instances (25 services x 4) and
# with 100,000 (25,000 x 4); the target is <= 1.1x.
#
# Usage: bench/scale.sh [MESHDNS_BINARY]   (RUNS, DURATION as bench/run)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
MESHDNS=${1:-${MESHDNS:-./build/resolver/meshdns}}
out=$(mktemp "${TMPDIR:-/tmp}/meshdns-scale.XXXXXX")
trap 'rm -f "$out" "$out".*' EXIT

for s in 25 25000; do
	SERVERS=meshdns SERVICES=$s TCP=0 "$HERE/run" "$MESHDNS" >"$out.$s" 2>&1 ||
		{ cat "$out.$s"; exit 1; }
	grep '^# run' "$out.$s" | sed "s/^# run/# $((s * 4)) instances, run/"
done
row() { grep -E '^meshdns +[0-9]' "$out.$1"; }
printf '\n%-18s %9s %9s %8s %8s %9s %9s\n' instances "us/query" "user_us/q" p50_us p99_us max_qps rss_KiB
for s in 25 25000; do
	row $s | awk -v n=$((s * 4)) '{ printf "%-18s %9s %9s %8s %8s %9s %9s\n", n, $2, $3, $6, $7, $9, $10 }'
done
a=$(row 25 | awk '{print $2}')
b=$(row 25000 | awk '{print $2}')
echo "# CPU per query, 100,000 / 100 instances: $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }') (target <= 1.10)"
