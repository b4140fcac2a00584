#!/bin/bash
# tests/e2e/units.sh - the systemd units in examples/systemd/ are valid:
# filled in as make does (here with the built programs and this test's temp
# dir as the install paths), `systemd-analyze verify` finds nothing wrong,
# including their Documentation= man pages, and the resolver's unit keeps
# the sandbox the README promises. Starting them needs a running systemd,
# which tests do not have; verify loads them offline.
. "$(dirname "$0")/lib.sh"
need systemd-analyze systemd
need man man-db

for b in "$MESHDNS" "$MESHDNS_AGENT" "$MESHDNS_FORWARD"; do
	[ -x "$b" ] || bail "$b is built"
done
mkdir -p "$T/sbin" "$T/bin" "$T/etc/meshdns" "$T/units" "$T/man/man5" "$T/man/man8"
ln -s "$MESHDNS" "$T/sbin/meshdns"
ln -s "$MESHDNS_AGENT" "$T/bin/meshdns-agent"
ln -s "$MESHDNS_FORWARD" "$T/bin/meshdns-forward"
for p in "$SRCDIR"/man/*.[58]; do
	ln -s "$p" "$T/man/man${p##*.}/$(basename "$p")"
done

for in in "$SRCDIR"/examples/systemd/*.service.in; do
	u="$T/units/$(basename "$in" .in)"
	sed -e "s|@sbindir@|$T/sbin|g" -e "s|@bindir@|$T/bin|g" -e "s|@sysconfdir@|$T/etc|g" \
		"$in" >"$u"
	if grep -q '@[a-z]*@' "$u"; then
		fail "$(basename "$u"): no @variable@ left after make's substitutions ($(grep -o '@[a-z]*@' "$u" | sort -u | tr '\n' ' '))"
	fi
	out=$(MANPATH="$T/man" SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$u" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
		pass "$(basename "$u"): systemd-analyze verify is clean"
	else
		fail "$(basename "$u"): systemd-analyze verify (rc $rc): $out"
	fi
	score=$(systemd-analyze security --offline=true "$u" 2>/dev/null | tail -n 1)
	[ -n "$score" ] && echo "# $(basename "$u"): $score"
done

# The resolver's unit: port 53 and nothing more, its state dir, reload.
u="$T/units/meshdns.service"
for want in 'AmbientCapabilities=CAP_NET_BIND_SERVICE' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' \
	'DynamicUser=yes' 'StateDirectory=meshdns' 'ExecReload=/bin/kill -HUP $MAINPID' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
	check "meshdns.service has $want" grep -qxF "$want" "$u"
done
# The state dir the unit gives is the one the resolver uses by default.
check "meshdns.service: StateDirectory is the default state_dir /var/lib/meshdns" \
	grep -q "state_dir: /var/lib/meshdns" "$SRCDIR/resolver/config.c"

done_testing
