#!/bin/bash
# tests/e2e/agent.sh - meshdns-agent against the real resolver, with a real
# HTTP server (backend.py) as the task: registration within a second,
# health-check failure and recovery, deregistration on SIGTERM, wrap mode
# (exit status, drain), retrying while the server is away, re-registering
# with a server that lost its state, and the errors no retry can fix.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

if [ -z "${MESHDNS_AGENT:-}" ] || [ ! -x "$MESHDNS_AGENT" ]; then
	echo "error: MESHDNS_AGENT is not set to the agent binary (make check sets it)" >&2
	exit 99
fi

write_update_config "$T/meshdns.yaml" "$T/state"
start_meshdns "$T/meshdns.yaml"
SERVER_PORT=$PORT

# The two key file formats: one line ALG:NAME:SECRET, and what tsig-keygen
# writes (BIND's key statement).
printf 'hmac-sha256:%s:%s\n' "$UPD_KEY" "$UPD_SECRET" >"$T/key.line"
cat >"$T/key.bind" <<EOF
# written by tsig-keygen
key "$UPD_KEY" {
	algorithm hmac-sha256;
	secret "$UPD_SECRET";
};
EOF
printf 'hmac-sha256:%s:%s\n' "$UPD_KEY" "$(head -c32 /dev/urandom | base64)" >"$T/key.wrong"
printf 'hmac-sha256:%s:%s\n' "nosuchkey" "$UPD_SECRET" >"$T/key.unknown"

AGENT_PID=""
AGENT_LOG=""
# agent LOG ARGS...: starts meshdns-agent in the background; AGENT_PID.
agent() {
	AGENT_LOG=$1
	shift
	"$MESHDNS_AGENT" "$@" 2>"$AGENT_LOG" &
	AGENT_PID=$!
	PIDS="$PIDS $AGENT_PID"
}
# agent_exit SECONDS: waits for the agent to exit (at most SECONDS); sets
# RC to its exit status, or "running".
agent_exit() {
	local i
	RC=running
	for i in $(seq "$(( $1 * 10 ))"); do
		if ! kill -0 "$AGENT_PID" 2>/dev/null; then
			wait "$AGENT_PID"
			RC=$?
			PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$AGENT_PID" | tr '\n' ' ')
			return
		fi
		sleep 0.1
	done
}
# srv_has SERVICE PORT: an SRV at SERVICE.local points to port PORT.
srv_has() {
	short +tcp "$1.local" SRV | awk '{ print $3 }' | grep -qx "$2"
}

start_backend 127.0.0.1
WEB_PID=$BACKEND_PID
WEB_PORT=$BACKEND_PORT

# ---- registration within a second ----
start=$(date +%s%N)
agent "$T/agent1.log" --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" \
	--service payments-v1.local --id task-1 --address 127.0.0.1 --port "$WEB_PORT" \
	--lease 30 --check "http://127.0.0.1:$WEB_PORT/health" --interval 0.3 --timeout 0.25 \
	--healthy-threshold 1 --unhealthy-threshold 2 --attr az=b
wait_until 3 is_present task-1.payments-v1.local
ms=$(elapsed_ms "$start")
check "registered and visible in dig ${ms} ms after start (<= 1000)" [ "$ms" -le 1000 ]
check "its SRV at payments-v1.local points to port $WEB_PORT" srv_has payments-v1 "$WEB_PORT"
check "its TXT carries the attribute az=b and health=healthy" \
	eval "txt_of task-1.payments-v1.local | grep -q 'az=b' && txt_of task-1.payments-v1.local | grep -q 'health=healthy'"
check "the agent logs one line per state change (registered)" grep -q 'registered task-1.payments-v1' "$T/agent1.log"

# ---- health: failing, then recovering ----
# A second, healthy instance: with none healthy the server would answer
# with every instance (on_all_unhealthy: all, as Route 53 does).
TASK1_PID=$AGENT_PID
agent "$T/agent0.log" --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" \
	--service payments-v1.local --id task-0 --address 127.0.0.2 --port 7000 --lease 30
TASK0_PID=$AGENT_PID
AGENT_PID=$TASK1_PID
check "a second instance (task-0, no check) registers" wait_until 3 srv_has payments-v1 7000
kill -USR1 "$WEB_PID" # backend.py answers 503 from now on
start=$(date +%s%N)
wait_until 4 eval "! srv_has payments-v1 $WEB_PORT"
ms=$(elapsed_ms "$start")
# interval 0.3 s x unhealthy threshold 2 = 0.6 s; + 1 s allowed.
check "a failing health endpoint removes the instance from payments-v1.local in ${ms} ms (<= 1600)" \
	eval "[ $ms -le 1600 ] && ! a_set payments-v1.local | grep -q 127.0.0.1"
check "the unhealthy instance is still listed in the debug view" \
	eval "dig @127.0.0.1 -p $PORT +short CH TXT payments-v1.local | grep -q 'task-1.*unhealthy'"
kill -USR1 "$WEB_PID"
start=$(date +%s%N)
wait_until 4 srv_has payments-v1 "$WEB_PORT"
ms=$(elapsed_ms "$start")
check "recovery adds it back in ${ms} ms (<= 1300)" [ "$ms" -le 1300 ]

# ---- SIGTERM deregisters before exit ----
kill -TERM "$AGENT_PID"
agent_exit 10; rc=$RC
check "SIGTERM: the agent exits 0 (got $rc)" [ "$rc" = 0 ]
check "SIGTERM: the instance is gone when the agent has exited" is_gone task-1.payments-v1.local
check "SIGTERM: its SRV is gone too" eval "! srv_has payments-v1 $WEB_PORT"
check "the log says it deregistered" grep -q 'deregistered task-1.payments-v1' "$T/agent1.log"

AGENT_PID=$TASK0_PID
kill -TERM "$AGENT_PID"
agent_exit 10
check "task-0 deregisters on SIGTERM (exit $RC)" eval "[ $RC = 0 ] && ! srv_has payments-v1 7000"

# ---- flags from the environment (MESHDNS_<FLAG>) ----
MESHDNS_SERVER="127.0.0.1:$SERVER_PORT" MESHDNS_KEY_FILE="$T/key.bind" MESHDNS_SERVICE=payments-v2.local \
MESHDNS_ID=env-1 MESHDNS_ADDRESS=auto MESHDNS_PORT=7001 MESHDNS_LEASE=30 \
	agent "$T/agent-env.log"
check "flags from MESHDNS_* and a tsig-keygen key file: env-1 registers" \
	wait_until 3 is_present env-1.payments-v2.local
check "--address auto took the local address of the route to the server (127.0.0.1)" \
	eval "[ \"\$(a_set env-1.payments-v2.local)\" = 127.0.0.1 ]"
kill -TERM "$AGENT_PID"
agent_exit 10
check "env-1 deregisters on SIGTERM (exit $RC)" eval "[ $RC = 0 ] && is_gone env-1.payments-v2.local"

# ---- wrap mode ----
# The task: backend.py on a port of our choosing, checked over HTTP.
WRAP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s%N)
agent "$T/wrap1.log" --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" \
	--service payments-v1.local --id wrap-1 --address 127.0.0.1 --port "$WRAP_PORT" --lease 30 \
	--check "http://127.0.0.1:$WRAP_PORT/" --interval 0.2 --timeout 0.2 --healthy-threshold 1 --drain 1 \
	-- python3 "$E2E_DIR/backend.py" --bind 127.0.0.1 --port "$WRAP_PORT"
check "wrap: registered once the task's first check passes" wait_until 5 is_present wrap-1.payments-v1.local
check "wrap: the task answers HTTP" curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$WRAP_PORT/"
kill -TERM "$AGENT_PID"
start=$(date +%s%N)
check "wrap: SIGTERM drains: the instance leaves DNS at once" wait_until 0.8 is_gone wrap-1.payments-v1.local
check "wrap: ...while the task still serves during the drain" curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$WRAP_PORT/"
agent_exit 10; rc=$RC
ms=$(elapsed_ms "$start")
# backend.py exits 0 on SIGTERM.
check "wrap: after --drain 1 the task got SIGTERM; exit ${rc} after ${ms} ms (>= 1000)" \
	eval "[ '$rc' = 0 ] && [ $ms -ge 1000 ]"
check "wrap: the log shows drain, then the signal passed on" \
	eval "grep -q 'draining for' '$T/wrap1.log' && grep -q 'passing signal' '$T/wrap1.log'"

agent "$T/wrap2.log" --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" \
	--service payments-v1.local --id wrap-2 --address 127.0.0.1 --port 7002 --lease 30 \
	-- sh -c 'sleep 1; exit 3'
check "wrap without a check: registered at once" wait_until 1 is_present wrap-2.payments-v1.local
agent_exit 10; rc=$RC
check "wrap: the task's exit status 3 is the agent's (got $rc)" [ "$rc" = 3 ]
check "wrap: the instance is gone after the task exited" is_gone wrap-2.payments-v1.local

agent "$T/wrap3.log" --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" \
	--service payments-v1.local --id wrap-3 --address 127.0.0.1 --port 7003 --lease 30 \
	-- sh -c 'sleep 1; kill -KILL $$'
agent_exit 10; rc=$RC
check "wrap: a task killed by SIGKILL gives 128+9 (got $rc)" [ "$rc" = 137 ]
check "wrap: and its instance is gone" is_gone wrap-3.payments-v1.local

# ---- errors no retry can fix: quick, clear, non-zero ----
# fatal NAME WANT_PATTERN ARGS...: the agent exits non-zero within 5 s and
# its log matches WANT_PATTERN.
fatal() {
	local what=$1 pat=$2 rc
	shift 2
	agent "$T/fatal.log" "$@"
	agent_exit 5; rc=$RC
	if [ "$rc" != running ] && [ "$rc" != 0 ] && grep -Eq "$pat" "$T/fatal.log"; then
		pass "$what: exit $rc, says: $(grep -E "$pat" "$T/fatal.log" | head -n1)"
	else
		fail "$what: exit $rc"
		sed 's/^/#   /' "$T/fatal.log"
	fi
	[ "$rc" = running ] && kill_pid "$AGENT_PID"
}
COMMON=(--server "127.0.0.1:$SERVER_PORT" --address 127.0.0.1 --port 7010 --id bad-1)
fatal "a wrong secret (BADSIG)" 'BADSIG|NOTAUTH' "${COMMON[@]}" --key-file "$T/key.wrong" --service payments-v1.local
fatal "an unknown key (BADKEY)" 'BADKEY|NOTAUTH' "${COMMON[@]}" --key-file "$T/key.unknown" --service payments-v1.local
fatal "a service outside the key's allow list" 'REFUSED|refused' "${COMMON[@]}" --key-file "$T/key.line" --service other.local
fatal "an unreadable key file" 'cannot read' "${COMMON[@]}" --key-file "$T/no-such-file" --service payments-v1.local
fatal "a bad flag value" 'port|PORT' --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" --service payments-v1.local --port 99999
fatal "an unknown flag" 'unknown|unrecognized|usage' --no-such-flag
check "nothing was registered by the failed agents" is_gone bad-1.payments-v1.local

# ---- the server away, then back; then back without its state ----
stop_meshdns
rm -rf "$T/state"
agent "$T/retry.log" --server "127.0.0.1:$SERVER_PORT" --key-file "$T/key.line" \
	--service payments-v1.local --id retry-1 --address 127.0.0.1 --port 7020 --lease 4
sleep 2
check "with the server down the agent keeps retrying (still running after 2 s)" kill -0 "$AGENT_PID"
# Same port as before, so the agent's --server still names it.
sed -i "s/127.0.0.1:0/127.0.0.1:$SERVER_PORT/" "$T/meshdns.yaml"
start_meshdns "$T/meshdns.yaml" "$T/meshdns2.log"
check "once the server is up the agent registers (backoff capped near 30 s; within 10 s here)" \
	wait_until 10 is_present retry-1.payments-v1.local
stop_meshdns
rm -rf "$T/state"
start_meshdns "$T/meshdns.yaml" "$T/meshdns3.log"
check "a server that lost its state gets the instance back at the next renewal" \
	wait_until 8 is_present retry-1.payments-v1.local
kill -TERM "$AGENT_PID"
agent_exit 10
check "retry-1 deregisters on SIGTERM (exit $RC)" eval "[ $RC = 0 ] && is_gone retry-1.payments-v1.local"

done_testing
