#!/bin/bash
# tests/e2e/examples.sh - the shipped examples work as written: every
# meshdns config under examples/ passes `meshdns -t -c` (configs that name
# zones/local.zone beside them are checked in the installed layout,
# $(sysconfdir)/meshdns/ with zones/local.zone), meshdns-forward starts with
# every forward.yaml, the ECS task definitions
# are JSON whose MESHDNS_* variables are all agent flags, docker-compose.yaml
# is YAML, and the agent accepts the docker example's key file.
. "$(dirname "$0")/lib.sh"
need python3 python3

EX="$SRCDIR/examples"
mkdir -p "$T/etc/meshdns/zones"
cp "$SRCDIR/zones/local.zone" "$T/etc/meshdns/zones/local.zone"

# Every YAML under examples/ is a meshdns config except these.
n=0
while IFS= read -r f; do
	case "$(basename "$f")" in
	forward.yaml | docker-compose.yaml) continue ;;
	esac
	n=$((n + 1))
	rel=${f#"$SRCDIR"/}
	zone=$(sed -n 's/^ *zone: *\([^ #]*\).*/\1/p' "$f" | head -n 1)
	cfg=$f
	if [ -n "$zone" ] && [ "${zone#/}" = "$zone" ] && [ ! -e "$(dirname "$f")/$zone" ]; then
		cfg="$T/etc/meshdns/$(basename "$f")"
		cp "$f" "$cfg"
	fi
	if out=$("$MESHDNS" -t -c "$cfg" 2>&1); then
		pass "$rel: meshdns -t accepts it ($(sed 's/.*configuration OK //' <<<"$out"))"
	else
		fail "$rel: meshdns -t: $out"
	fi
done < <(find "$EX" -name '*.yaml' | sort)
[ "$n" -ge 4 ] || fail "found only $n meshdns configs under examples/"

# forward.yaml files: meshdns-forward starts with each (its listeners moved
# to port 0 and its DNS server to a dead port, so nothing here is taken).
for f in $(find "$EX" -name 'forward.yaml' | sort); do
	rel=${f#"$SRCDIR"/}
	sed 's/:[0-9]*=/:0=/g; s/^dns: .*/dns: "127.0.0.1:9"/' "$f" >"$T/forward.yaml"
	"$MESHDNS_FORWARD" -c "$T/forward.yaml" >"$T/forward.log" 2>&1 &
	fpid=$!
	PIDS="$PIDS $fpid"
	if wait_until 5 grep -q 'serving listen=' "$T/forward.log"; then
		pass "$rel: meshdns-forward serves it"
	else
		fail "$rel: meshdns-forward serves it ($(cat "$T/forward.log"))"
	fi
	kill "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
done

# The agent's flags, as MESHDNS_* names.
vars=$("$MESHDNS_AGENT" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u |
	sed 's/^--//; s/-/_/g; s/^/MESHDNS_/' | tr 'a-z' 'A-Z')
for f in "$EX"/ecs/*.json; do
	rel=${f#"$SRCDIR"/}
	if ! out=$(python3 - "$f" <<'PY' 2>&1
import json, sys
td = json.load(open(sys.argv[1]))
assert td["containerDefinitions"], "no containers"
for c in td["containerDefinitions"]:
    assert c.get("dnsServers"), c["name"] + ": no dnsServers"
    for e in c.get("environment", []):
        print(e["name"])
PY
	); then
		fail "$rel: a task definition with dnsServers: $out"
		continue
	fi
	pass "$rel: JSON, every container has dnsServers"
	bad=""
	for v in $(grep '^MESHDNS_' <<<"$out"); do
		grep -qxF "$v" <<<"$vars" || bad="$bad $v"
	done
	if [ -z "$bad" ]; then
		pass "$rel: every MESHDNS_* variable is an agent flag"
	else
		fail "$rel: not agent flags:$bad"
	fi
done

# Agent environment files (systemd EnvironmentFile=).
for f in "$EX"/*/*.env; do
	bad=""
	for v in $(sed -n 's/^\(MESHDNS_[A-Z_]*\)=.*/\1/p' "$f"); do
		grep -qxF "$v" <<<"$vars" || bad="$bad $v"
	done
	if [ -z "$bad" ]; then
		pass "${f#"$SRCDIR"/}: every MESHDNS_* variable is an agent flag"
	else
		fail "${f#"$SRCDIR"/}: not agent flags:$bad"
	fi
done

if python3 -c 'import yaml' 2>/dev/null; then
	check "examples/docker/docker-compose.yaml is YAML with services" python3 -c '
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
assert {"meshdns", "payments-v1", "payments-v2", "products"} <= set(d["services"])' \
		"$EX/docker/docker-compose.yaml"
else
	echo "SKIP: python3 yaml module not found: apt-get install python3-yaml"
	exit 77
fi

# The docker example's key file loads (the agent exits 2 on a bad one
# before it sends anything; here it starts and is stopped).
"$MESHDNS_AGENT" --server 127.0.0.1:9 --key-file "$EX/docker/payments.key" \
	--service payments-v1.local --port 5000 >"$T/agent.log" 2>&1 &
apid=$!
PIDS="$PIDS $apid"
if wait_until 5 grep -q 'starting id=' "$T/agent.log"; then
	pass "examples/docker/payments.key: the agent loads it"
else
	fail "examples/docker/payments.key: the agent loads it ($(cat "$T/agent.log"))"
fi
kill "$apid" 2>/dev/null

done_testing
