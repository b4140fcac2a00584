#!/bin/bash
# tests/e2e/metrics.sh - GET /metrics of meshdns (metrics_listen) and of
# meshdns-forward (--metrics), scraped with curl: the exposition is valid
# (promcheck.py: sample syntax, HELP/TYPE, cumulative histograms ending in
# +Inf = _count), and the counters move by exactly what the test sent:
# dig queries by type and rcode, the latency histogram's count, a TCP
# connection, UPDATEs accepted and refused by reason (nsupdate), the
# instances gauge following a registration and a health change, the
# journal; the forwarder's listener and endpoint counters follow N
# connections through it. Other paths get 404, POST 405.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"
need curl curl

if [ -z "${MESHDNS_FORWARD:-}" ] || [ ! -x "$MESHDNS_FORWARD" ]; then
	echo "error: MESHDNS_FORWARD=${MESHDNS_FORWARD:-} is not an executable file" >&2
	exit 99
fi

PROMCHECK="$E2E_DIR/promcheck.py"
NSCRAPE=0

# scrape URL: saves GET URL into $T/scrape.N (sets LAST) and checks it.
scrape() {
	NSCRAPE=$((NSCRAPE + 1))
	LAST="$T/scrape.$NSCRAPE"
	if ! curl -sS --max-time 10 -o "$LAST" -w '%{http_code} %{content_type}\n' "$1" \
		>"$T/curl.out" 2>&1; then
		fail "GET $1: $(cat "$T/curl.out")"
		return 1
	fi
	case $(cat "$T/curl.out") in
	"200 text/plain; version=0.0.4"*) ;;
	*) fail "GET $1: status and type: $(cat "$T/curl.out")"; return 1 ;;
	esac
	py_checks "$PROMCHECK" check "$LAST"
}

# val NAME [K=V...] / sumof NAME [K=V...]: from the last scrape.
val() { python3 "$PROMCHECK" get "$LAST" "$@"; }
sumof() { python3 "$PROMCHECK" sum "$LAST" "$@"; }

# delta WHAT WANT BEFORE AFTER
delta() {
	local got=$(( ${4:-0} - ${3:-0} ))
	if [ "$got" -eq "$2" ]; then
		pass "$1 (+$got)"
	else
		fail "$1: expected +$2, got +$got ($3 -> $4)"
	fi
}

# The checker itself finds what it must: a histogram whose buckets fall and
# whose +Inf bucket is not _count, a line that is no sample, a counter
# without _total.
printf '%s\n' '# TYPE x_seconds histogram' 'x_seconds_bucket{le="1"} 2' \
	'x_seconds_bucket{le="+Inf"} 1' 'x_seconds_sum 1' 'x_seconds_count 3' 'bad line' \
	'# TYPE c counter' 'c 1' >"$T/bad.prom"
expect_eq "promcheck.py finds the 4 faults of a broken exposition" \
	"$(python3 "$PROMCHECK" check "$T/bad.prom" | grep -c '^not ok')" 4

# ---- meshdns ----

write_update_config "$T/meshdns.yaml" "$T/state"
sed -i '1i metrics_listen: "127.0.0.1:0"' "$T/meshdns.yaml"
start_meshdns "$T/meshdns.yaml"
MURL=http://$(grep -m1 -o 'metrics=[^ ]*' "$MESHDNS_LOG" | cut -d= -f2)/metrics
check "the ready line names the metrics address" grep -q 'serving listen=.* metrics=127.0.0.1:[0-9]' "$MESHDNS_LOG"

# A bad address is a config error at its line; a port in use stops the start.
cat >"$T/bad.yaml" <<'EOF2'
upstream: []
metrics_listen: "nowhere:80"
namespaces:
  - name: local
EOF2
"$MESHDNS" -t -c "$T/bad.yaml" >/dev/null 2>"$T/bad.err"
check "metrics_listen: a bad address exits 1" test $? -eq 1
check "metrics_listen: a bad address is named at file:2:col" grep -q "^$T/bad.yaml:2:[0-9]*: metrics_listen" "$T/bad.err"
# Its own state_dir and control socket: only the metrics port is taken.
sed -e "s/^metrics_listen: .*/metrics_listen: \"127.0.0.1:$PORT\"/" -e "s|^state_dir: .*|state_dir: $T/state2|" \
	-e "s|^control_socket: .*|control_socket: \"$T/inuse.ctl\"|" "$T/meshdns.yaml" >"$T/inuse.yaml"
timeout 10 "$MESHDNS" -c "$T/inuse.yaml" >/dev/null 2>"$T/inuse.err"
check "metrics_listen on a port in use: meshdns exits 1" test $? -eq 1
check "metrics_listen on a port in use: the log says so" grep -q "metrics: cannot listen on 127.0.0.1:$PORT" "$T/inuse.err"

scrape "$MURL"
check "meshdns_process_start_time_seconds is this process's start" \
	python3 -c "import sys,time; v=float(sys.argv[1]); sys.exit(not time.time()-600 < v <= time.time())" "$(val meshdns_process_start_time_seconds)"
a0=$(val meshdns_queries_total type=A rcode=NOERROR)
nx0=$(val meshdns_queries_total type=AAAA rcode=NXDOMAIN); nx0=${nx0:-0}
srv0=$(val meshdns_queries_total type=SRV rcode=NOERROR); srv0=${srv0:-0}
recv0=$(val meshdns_queries_received_total)
lat0=$(val meshdns_query_duration_seconds_count)
tcp0=$(val meshdns_tcp_connections_accepted_total)

for i in 1 2 3; do q +short payments-v1.local A >/dev/null; done
for i in 1 2; do q +short nope.payments-v1.local AAAA >/dev/null; done
q +tcp +short payments-v1.local SRV >/dev/null

scrape "$MURL"
delta "queries_total{type=A,rcode=NOERROR} counts 3 A queries" 3 "$a0" "$(val meshdns_queries_total type=A rcode=NOERROR)"
delta "queries_total{type=AAAA,rcode=NXDOMAIN} counts 2 NXDOMAIN answers" 2 "$nx0" "$(val meshdns_queries_total type=AAAA rcode=NXDOMAIN)"
delta "queries_total{type=SRV,rcode=NOERROR} counts the TCP query" 1 "$srv0" "$(val meshdns_queries_total type=SRV rcode=NOERROR)"
delta "queries_received_total counts all 6" 6 "$recv0" "$(val meshdns_queries_received_total)"
delta "query_duration_seconds_count counts all 6 answers" 6 "$lat0" "$(val meshdns_query_duration_seconds_count)"
delta "tcp_connections_accepted_total counts dig +tcp" 1 "$tcp0" "$(val meshdns_tcp_connections_accepted_total)"
expect_eq "queries_total sums to the answers sent" "$(sumof meshdns_queries_total)" "$(val meshdns_query_duration_seconds_count)"

# ---- UPDATEs ----
acc0=$(val meshdns_updates_accepted_total)
tsig0=$(val meshdns_updates_refused_total reason=tsig)
scope0=$(val meshdns_updates_refused_total reason=scope)
fs0=$(val meshdns_journal_fsync_duration_seconds_count)
expect_eq "no payments-v1 instance yet" "$(val meshdns_instances namespace=local service=payments-v1 health=healthy)" 0
recs0=$(val meshdns_journal_records)
builds0=$(val meshdns_view_builds_total)
check "view_builds_total counted the start-up build ($builds0)" test "${builds0:-0}" -ge 1

expect_rcode "nsupdate registers task-1" NOERROR <<'EOF2'
update delete task-1.payments-v1.local. ANY
update add task-1.payments-v1.local. 5 A 10.0.0.5
update add task-1.payments-v1.local. 5 TXT "health=healthy"
update add payments-v1.local. 5 SRV 0 100 5000 task-1.payments-v1.local.
EOF2
expect_rcode "an unsigned UPDATE is refused" REFUSED -n <<'EOF2'
update add task-9.payments-v1.local. 5 A 10.0.0.9
EOF2
expect_rcode "a badly signed UPDATE is refused" "NOTAUTH(BADSIG)" -y "hmac-sha256:$UPD_KEY:$(head -c32 /dev/urandom | base64)" <<'EOF2'
update add task-9.payments-v1.local. 5 A 10.0.0.9
EOF2
expect_rcode "v2-key may not change payments-v1" REFUSED -y "hmac-sha512:$V2_KEY:$V2_SECRET" <<'EOF2'
update add task-9.payments-v1.local. 5 A 10.0.0.9
EOF2

content0=$(val meshdns_updates_refused_total reason=content)
zone0=$(val meshdns_updates_refused_total reason=zone)
expect_rcode "a TXT that is not key=value is refused" REFUSED <<'EOF2'
update add task-9.payments-v1.local. 5 A 10.0.0.9
update add task-9.payments-v1.local. 5 TXT "nokv"
EOF2
expect_rcode "an UPDATE for a zone we do not serve is refused" NOTAUTH -z example.org <<'EOF2'
update add task-9.example.org. 5 A 10.0.0.9
EOF2

scrape "$MURL"
delta "updates_accepted_total counts the registration" 1 "$acc0" "$(val meshdns_updates_accepted_total)"
delta "updates_refused_total{reason=tsig} counts unsigned and bad signature" 2 "$tsig0" "$(val meshdns_updates_refused_total reason=tsig)"
delta "updates_refused_total{reason=scope} counts the out-of-scope key" 1 "$scope0" "$(val meshdns_updates_refused_total reason=scope)"
delta "updates_refused_total{reason=content} counts the bad TXT" 1 "$content0" "$(val meshdns_updates_refused_total reason=content)"
delta "updates_refused_total{reason=zone} counts the foreign zone" 1 "$zone0" "$(val meshdns_updates_refused_total reason=zone)"
expect_eq "no other refusal reason moved" "$(sumof meshdns_updates_refused_total)" 5
expect_eq "instances{payments-v1,healthy} is 1 after the registration" "$(val meshdns_instances namespace=local service=payments-v1 health=healthy)" 1
delta "journal_records grows by the registration's record" 1 "$recs0" "$(val meshdns_journal_records)"
check "journal_size_bytes is above the header" test "$(val meshdns_journal_size_bytes)" -gt 12
check "journal_fsync_duration_seconds counted a sync" test "$(val meshdns_journal_fsync_duration_seconds_count)" -gt "$fs0"
check "view_builds_total counted the registration's build" \
	test "$(val meshdns_view_builds_total)" -gt "$builds0"
check "view_build_seconds_total is positive" \
	python3 -c "import sys; sys.exit(not float(sys.argv[1]) > 0)" "$(val meshdns_view_build_seconds_total)"

expect_rcode "task-1 turns unhealthy" NOERROR <<'EOF2'
update delete task-1.payments-v1.local. TXT
update add task-1.payments-v1.local. 5 TXT "health=unhealthy"
EOF2
scrape "$MURL"
expect_eq "instances{healthy} is 0 after the health change" "$(val meshdns_instances namespace=local service=payments-v1 health=healthy)" 0
expect_eq "instances{unhealthy} is 1 after the health change" "$(val meshdns_instances namespace=local service=payments-v1 health=unhealthy)" 1

expect_rcode "task-1 deregisters" NOERROR <<'EOF2'
update delete task-1.payments-v1.local. ANY
update delete payments-v1.local. SRV 0 100 5000 task-1.payments-v1.local.
EOF2
scrape "$MURL"
expect_eq "instances of payments-v1 is 0 after deregistration" "$(sumof meshdns_instances service=payments-v1)" 0
delta "updates_accepted_total counts all three" 3 "$acc0" "$(val meshdns_updates_accepted_total)"

# A reload keeps the listener and its counters; changing metrics_listen
# needs a restart, and the log says so.
before=$(val meshdns_queries_received_total)
sed -i 's/^metrics_listen: .*/metrics_listen: "127.0.0.1:1"/' "$T/meshdns.yaml"
kill -HUP "$MESHDNS_PID"
wait_until 5 grep -q 'reloaded namespaces=' "$MESHDNS_LOG" || fail "meshdns reloads"
check "a reload that changes metrics_listen says it applies after a restart" \
	grep -q 'metrics_listen changed: it applies after a restart' "$MESHDNS_LOG"
scrape "$MURL"
check "after the reload the same listener serves the same counters" test "$(val meshdns_queries_received_total)" -ge "$before"

check "GET /other is 404" test "$(curl -s -o /dev/null -w '%{http_code}' "${MURL%/metrics}/other")" = 404
check "POST /metrics is 405" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$MURL")" = 405
check "meshdns stops cleanly with the metrics listener" stop_meshdns

# ---- meshdns-forward ----

start_backend 127.0.0.1
cat >"$T/fwd.yaml" <<EOF2
listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    ttl: 1
    services:
      web:
        instances:
          - {id: a, address: 127.0.0.1, port: $BACKEND_PORT}
EOF2
start_meshdns "$T/fwd.yaml"
FLOG=$T/meshdns-forward.log
"$MESHDNS_FORWARD" --dns "127.0.0.1:$PORT" --listen 127.0.0.1:0=web.local --metrics 127.0.0.1:0 \
	2>"$FLOG" >/dev/null &
FPID=$!
PIDS="$PIDS $FPID"
wait_until 10 grep -q 'info forward: serving listen=.* metrics=' "$FLOG" || bail "meshdns-forward serves (log: $(cat "$FLOG"))"
FLISTEN=$(grep -m1 -o 'listen=[^=]*' "$FLOG" | cut -d= -f2)
FURL=http://$(grep -m1 -o 'metrics=[^ ]*' "$FLOG" | cut -d= -f2)/metrics
# The first connection may come before the SRV set: wait until one goes through.
wait_until 10 curl -sf --max-time 2 -o /dev/null "http://$FLISTEN/" || bail "a connection through the forwarder"
wait_until 5 sh -c "curl -s '$FURL' | grep -q '^meshdns_forward_connections_active{.*} 0$'"
scrape "$FURL"
LBL="listener=$FLISTEN name=web.local"
EP="endpoint=127.0.0.1:$BACKEND_PORT"
c0=$(val meshdns_forward_connections_total $LBL)
e0=$(val meshdns_forward_endpoint_connections_total $LBL $EP)
up0=$(val meshdns_forward_received_bytes_total $LBL)
for i in 1 2 3 4 5; do curl -sf --max-time 5 -o /dev/null "http://$FLISTEN/x$i" || fail "connection $i through the forwarder"; done
wait_until 5 sh -c "curl -s '$FURL' | grep -q '^meshdns_forward_connections_active{.*} 0$'"
scrape "$FURL"
delta "forward connections_total counts 5 connections" 5 "$c0" "$(val meshdns_forward_connections_total $LBL)"
delta "forward endpoint_connections_total counts 5 connections" 5 "$e0" "$(val meshdns_forward_endpoint_connections_total $LBL $EP)"
expect_eq "forward connections_active is 0 when they closed" "$(val meshdns_forward_connections_active $LBL)" 0
check "forward received_bytes_total grew by 5 requests" test $(( $(val meshdns_forward_received_bytes_total $LBL) - up0 )) -gt 100
expect_eq "forward endpoint sent = listener received" "$(val meshdns_forward_endpoint_sent_bytes_total $LBL $EP)" "$(val meshdns_forward_received_bytes_total $LBL)"
expect_eq "forward endpoint received = listener sent" "$(val meshdns_forward_endpoint_received_bytes_total $LBL $EP)" "$(val meshdns_forward_sent_bytes_total $LBL)"
expect_eq "forward no connect failures" "$(val meshdns_forward_endpoint_connect_failures_total $LBL $EP)" 0
expect_eq "forward endpoint weight from the SRV" "$(val meshdns_forward_endpoint_weight $LBL $EP)" 65535
check "forwarder GET /other is 404" test "$(curl -s -o /dev/null -w '%{http_code}' "${FURL%/metrics}/other")" = 404
kill -TERM "$FPID"
wait "$FPID"
check "meshdns-forward exits 0 with the metrics listener" test $? -eq 0
PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$FPID" | tr '\n' ' ')

# The config file's key does the same as the flag.
printf 'metrics: "127.0.0.1:0"\n' >"$T/fwd-opts.yaml"
"$MESHDNS_FORWARD" -c "$T/fwd-opts.yaml" --dns "127.0.0.1:$PORT" --listen 127.0.0.1:0=web.local \
	2>"$T/fwd2.log" >/dev/null &
FPID=$!
PIDS="$PIDS $FPID"
if wait_until 10 grep -q 'info forward: serving listen=.* metrics=127.0.0.1:[0-9]' "$T/fwd2.log"; then
	scrape "http://$(grep -m1 -o 'metrics=[^ ]*' "$T/fwd2.log" | cut -d= -f2)/metrics"
else
	fail "meshdns-forward with metrics: in its config file serves metrics ($(cat "$T/fwd2.log"))"
fi
kill_pid "$FPID"

done_testing
