#!/bin/bash
# tests/e2e/ctl.sh - meshdns-ctl over the control socket: status, list,
# stats, drain/undrain (a drained instance leaves the A answers and comes
# back; a drain of a registered instance survives its renewal and a
# restart), reload (a broken config is reported with file:line:col, exit 1,
# and the server keeps serving), exit statuses and the socket's rules
# (mode 0600, a stale socket is replaced, a live one stops a second meshdns).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_update.sh"

CTL=${MESHDNS_CTL:-$(dirname "$MESHDNS")/meshdns-ctl}
[ -x "$CTL" ] || bail "meshdns-ctl not found at $CTL (set MESHDNS_CTL)"
N=200
CFG="$T/meshdns.yaml"
SOCK="$T/ctl.sock"
write_update_config "$CFG" "$T/state"
cat >>"$CFG" <<EOF
control_socket: $SOCK
EOF
# A config service with two static instances.
sed -i 's/^      other: {}$/      other: {}\n      web:\n        instances:\n          - {id: a, address: 127.0.0.51, port: 80}\n          - {id: b, address: 127.0.0.52, port: 81, weight: 50}/' "$CFG"
start_meshdns "$CFG"

ctl() { "$CTL" -s "$SOCK" "$@"; }

# --- exit statuses and the socket ---
check "--help exits 0" eval '"$CTL" --help | grep -q "drain ID.SERVICE.NAMESPACE"'
check "--version names the version" eval '"$CTL" --version | grep -q "^meshdns-ctl [0-9]"'
"$CTL" >/dev/null 2>&1; check "no command: exit 2" [ $? -eq 2 ]
"$CTL" -s "$T/nothing.sock" status >/dev/null 2>"$T/err"; rc=$?
check "no server: exit 2 ($rc)" [ $rc -eq 2 ]
check "no server: the message names the socket" grep -q "cannot connect to $T/nothing.sock" "$T/err"
check "socket is mode 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
ctl bogus >/dev/null 2>"$T/err"; rc=$?
check "unknown command: exit 1 ($rc)" [ $rc -eq 1 ]
check "unknown command: says so" grep -q 'unknown command' "$T/err"

# --- status ---
out=$(ctl status); rc=$?
check "status exits 0" [ $rc -eq 0 ]
for k in "version: " "uptime: " "config: $CFG" "namespaces: 1" "services: 4" "instances: 2" \
	 "journal_bytes: " "tcp_connections: 0" "listen: 127.0.0.1:$PORT"; do
	check "status shows '$k'" grep -qF "$k" <<<"$out"
done

# --- registration, list ---
expect_rcode "register t1" NOERROR <<EOF
update add t1.payments-v1.local. 5 A 127.0.0.61
update add payments-v1.local. 5 SRV 0 100 7000 t1.payments-v1.local.
EOF
expect_rcode "register t2" NOERROR <<EOF
update add t2.payments-v1.local. 5 A 127.0.0.62
update add payments-v1.local. 5 SRV 0 100 7000 t2.payments-v1.local.
EOF
out=$(ctl list)
check "list has 4 instances" [ "$(grep -c ' health=' <<<"$out")" -eq 4 ]
check "list: config instance line" grep -qx 'b.web.local. health=healthy weight=50 effective_weight=50 drained=no lease=none origin=config address=127.0.0.52:81' <<<"$out"
check "list: UPDATE instance line" grep -qx 't1.payments-v1.local. health=healthy weight=100 effective_weight=100 drained=no lease=none origin=update address=127.0.0.61:7000' <<<"$out"
out=$(ctl list web.local)
check "list SERVICE: only its instances" [ "$(grep -c ' health=' <<<"$out")" -eq 2 ]
ctl list nosuch.local >/dev/null 2>&1; rc=$?
check "list of an unknown service: exit 1" [ $rc -eq 1 ]

# share_of ADDR NAME: how many of N first A answers go to ADDR.
share_of() {
	count_first "$2" "$N" >"$T/counts"
	awk -v a="$1" '$1 == a { c = $2 } END { print c + 0 }' "$T/counts"
}

# --- drain a config instance ---
check "before the drain a gets answers" [ "$(share_of 127.0.0.51 web.local)" -gt 0 ]
out=$(ctl drain a.web.local); rc=$?
check "drain exits 0 ($out)" [ $rc -eq 0 ]
check "drained a: in none of $N A answers" [ "$(share_of 127.0.0.51 web.local)" -eq 0 ]
check "drained a: b in all $N" [ "$(share_of 127.0.0.52 web.local)" -eq "$N" ]
check "drained a: not in the SRV answer" eval '! short web.local SRV | grep -q "a.web.local"'
check "list shows a drained" eval 'ctl list web.local | grep -q "^a.web.local. .*effective_weight=0 drained=yes"'
check "CH TXT listing shows a drained" eval 'short web.local CH TXT | grep "a.web.local" | grep -q drained'
check "status counts the drain" eval 'ctl status | grep -qx "drained: 1"'
check "a drained instance still answers by name" eval '[ "$(short a.web.local A)" = 127.0.0.51 ]'
out=$(ctl undrain a.web.local); rc=$?
check "undrain exits 0" [ $rc -eq 0 ]
check "undrained a: back in the A answers" [ "$(share_of 127.0.0.51 web.local)" -gt 0 ]
ctl drain zz.web.local >/dev/null 2>&1; rc=$?
check "drain of an unknown instance: exit 1" [ $rc -eq 1 ]

# --- drain a registered instance: renewals and restarts keep it ---
check "drain t1" eval 'ctl drain t1.payments-v1.local >/dev/null'
check "drained t1: in none of $N A answers" [ "$(share_of 127.0.0.61 payments-v1.local)" -eq 0 ]
expect_rcode "t1 renews (delete + add, as the agent does)" NOERROR <<EOF
update delete t1.payments-v1.local. ANY
update add t1.payments-v1.local. 5 A 127.0.0.61
update add payments-v1.local. 5 SRV 0 100 7000 t1.payments-v1.local.
EOF
check "after the renewal t1 is still drained" eval 'ctl list payments-v1.local | grep -q "^t1.* drained=yes"'
check "after the renewal: in none of $N A answers" [ "$(share_of 127.0.0.61 payments-v1.local)" -eq 0 ]
check "stats count the accepted updates" eval 'ctl stats | grep -qx "updates_accepted: 3"'
stop_meshdns
start_meshdns "$CFG"
check "after a restart t1 is still drained" eval 'ctl list payments-v1.local | grep -q "^t1.* drained=yes"'
check "after a restart: in none of $N A answers" [ "$(share_of 127.0.0.61 payments-v1.local)" -eq 0 ]
check "after a restart a (config) is not drained" eval 'ctl list web.local | grep -q "^a.* drained=no"'
check "undrain t1" eval 'ctl undrain t1.payments-v1.local >/dev/null'
stop_meshdns
start_meshdns "$CFG"
check "after undrain and restart t1 is not drained" eval 'ctl list payments-v1.local | grep -q "^t1.* drained=no"'
check "t1 back in the A answers" [ "$(share_of 127.0.0.61 payments-v1.local)" -gt 0 ]

# --- the protocol: a line in pieces, two commands on one connection ---
py_checks - "$SOCK" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"sta")
time.sleep(0.2)
s.sendall(b"tus\nlist web.local\n")
buf = b""
while buf.count(b"\nok\n") < 2:
    d = s.recv(65536)
    if not d:
        break
    buf += d
replies = buf.decode().split("\nok\n")
print(("ok - " if buf.count(b"\nok\n") == 2 else "not ok - ") + "two commands on one connection, the first sent in two pieces, get two replies")
print(("ok - " if replies[0].startswith("version: ") else "not ok - ") + "the first reply is status's")
print(("ok - " if replies[1].startswith("a.web.local. ") else "not ok - ") + "the second reply is list's")
s.sendall(b"x" * 2000)
try:
    closed = s.recv(100) == b""
except OSError:
    closed = True
print(("ok - " if closed else "not ok - ") + "a request line over 1024 bytes closes the connection")
EOF

# --- stats ---
q web.local A >/dev/null
out=$(ctl stats)
for k in queries noerror nxdomain refused cache_hits cache_misses updates_accepted updates_refused; do
	check "stats has $k" grep -q "^$k: [0-9]*$" <<<"$out"
done
check "stats counted queries" [ "$(sed -n 's/^queries: //p' <<<"$out")" -ge 1 ]

# --- reload ---
ctl drain b.web.local >/dev/null
sed -i 's/weight: 50}/weight: 70}/' "$CFG"
out=$(ctl reload); rc=$?
check "reload exits 0 ($out)" [ $rc -eq 0 ]
check "reload applied the new weight" eval 'ctl list web.local | grep -q "^b.web.local. .* weight=70 "'
check "a reload keeps a config instance's drain" eval 'ctl list web.local | grep -q "^b.* drained=yes"'
cp "$CFG" "$T/good.yaml"
printf 'namespaces:\n  - name: local\n    ttl: [\n' >>"$CFG"
ctl reload >/dev/null 2>"$T/err"; rc=$?
check "reload of a broken config: exit 1 ($rc)" [ $rc -eq 1 ]
check "reload of a broken config: file:line:col in the error" grep -q "$CFG:[0-9]*:[0-9]*: " "$T/err"
check "still serving after the failed reload" eval '[ "$(short a.web.local A)" = 127.0.0.51 ]'
cp "$T/good.yaml" "$CFG"

# --- a live socket stops a second meshdns; a stale one is replaced ---
cat >"$T/second.yaml" <<EOF
listen: ["127.0.0.1:0"]
upstream: []
state_dir: $T/state2
control_socket: $SOCK
namespaces: [{name: local}]
EOF
timeout 10 "$MESHDNS" -c "$T/second.yaml" >/dev/null 2>"$T/second.err"; rc=$?
check "a second meshdns on the same socket exits 1 ($rc)" [ $rc -eq 1 ]
check "...saying another meshdns holds it" grep -q "another meshdns is running" "$T/second.err"
check "the first one still answers" eval 'ctl status >/dev/null'
kill -9 "$MESHDNS_PID"; wait "$MESHDNS_PID" 2>/dev/null
PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$MESHDNS_PID" | tr '\n' ' ')
check "kill -9 leaves the socket" [ -S "$SOCK" ]
start_meshdns "$CFG"
check "a stale socket is replaced" grep -q "removed a stale control socket" "$MESHDNS_LOG"
check "ctl works after the restart" eval 'ctl status >/dev/null'
stop_meshdns
check "a stop removes the socket" [ ! -e "$SOCK" ]
done_testing
