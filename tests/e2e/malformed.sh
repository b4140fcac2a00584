#!/bin/bash
# tests/e2e/malformed.sh - broken queries and UPDATEs get FORMERR/NOTIMP or
# no answer as RFC 1035/2136/6891 say, and none of them (nor thousands of
# random packets) stops the server: a good query is answered after each
# (malformed.py).
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils

{
	cat <<'EOF'
listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      payments-v1:
        instances:
          - {id: a, address: 127.0.0.11, port: 80}
      big:
        instances:
EOF
	for i in $(seq 1 60); do
		echo "          - {id: i$i, address: 127.0.2.$i, port: 80}"
	done
	# A key opens the UPDATE path, so that broken UPDATEs reach its reader.
	cat <<EOF
state_dir: $T/state
keys:
  - {name: k, algorithm: hmac-sha256, secret: "$(head -c32 /dev/urandom | base64)", allow: [payments-v1.local]}
EOF
} >"$T/meshdns.yaml"
start_meshdns "$T/meshdns.yaml"

py_checks "$E2E_DIR/malformed.py" "$PORT" cases
py_checks "$E2E_DIR/malformed.py" "$PORT" random 3000

check "server still running" kill -0 "$MESHDNS_PID"
check "dig still answered" eval '[ "$(short payments-v1.local A)" = 127.0.0.11 ]'
check "dig +tcp still answered" eval '[ "$(short +tcp payments-v1.local A)" = 127.0.0.11 ]'
check "no crash or assertion in the log" eval '! grep -Eqi "assert|sanitizer|segv|abort" "$MESHDNS_LOG"'

done_testing
