#!/bin/bash
# tests/e2e/bindretry.sh - listen port 0 when the TCP side of the port UDP
# picked is taken: meshdns must retry on another port, serve, and stop
# cleanly. Run in a private network namespace whose ephemeral port range is
# eight ports, four of them held by TCP listeners, so each start retries
# with probability 1/2; four starts miss the retry path 1 time in 16.
# (It once reused a listener's memory while libuv was still closing it.)
. "$(dirname "$0")/lib.sh"
need unshare util-linux
need ip iproute2
need python3 python3

if [ -z "${MESHDNS_IN_NETNS:-}" ]; then
	MESHDNS_IN_NETNS=1 exec unshare -n "$BASH" "$0" "$@"
fi
ip link set lo up || bail "cannot bring up lo in the namespace"
echo "40000 40007" > /proc/sys/net/ipv4/ip_local_port_range ||
	bail "cannot set the port range in the namespace"

python3 - <<'PY' &
import socket, time
socks = []
for port in (40000, 40001, 40002, 40003):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(1); socks.append(s)
open("/dev/shm/.meshdns-bindretry-ready-%d" % __import__("os").getpid(), "w").close()
time.sleep(60)
PY
HOLDER=$!
PIDS="$PIDS $HOLDER"
check "TCP ports 40000-40003 held" wait_until 5 eval "[ -e /dev/shm/.meshdns-bindretry-ready-$HOLDER ]"
rm -f "/dev/shm/.meshdns-bindretry-ready-$HOLDER"

cat >"$T/meshdns.yaml" <<'YAML'
listen: ["127.0.0.1:0"]
namespaces:
  - name: local
    services:
      web: {instances: [{id: a, address: 10.0.0.1, port: 80}]}
YAML
for run in 1 2 3 4; do
	echo "40000 40007" > /proc/sys/net/ipv4/ip_local_port_range
	start_meshdns "$T/meshdns.yaml" "$T/meshdns-$run.log"
	# Clients need ephemeral ports of their own from here on.
	echo "40000 60000" > /proc/sys/net/ipv4/ip_local_port_range
	check "start $run: served on a port free for UDP and TCP (got $PORT)" \
		[ "$PORT" -ge 40004 ] && [ "$PORT" -le 40007 ]
	check "start $run: UDP answers" [ "$(q web.local +short)" = 10.0.0.1 ]
	check "start $run: TCP answers" [ "$(q web.local +short +tcp)" = 10.0.0.1 ]
	kill -TERM "$MESHDNS_PID"
	wait "$MESHDNS_PID"
	rc=$?
	check "start $run: SIGTERM, exit status 0 (got $rc)" [ "$rc" = 0 ]
	check "start $run: no libuv assertion in the log" \
		eval '! grep -q Assertion "$MESHDNS_LOG"'
done
done_testing
