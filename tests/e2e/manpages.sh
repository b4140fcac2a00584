#!/bin/bash
# tests/e2e/manpages.sh - the manual pages in man/ are clean roff and say
# what the code does: `groff -man -ww -z` prints no warning for any page,
# every long flag a program prints in --help or declares in its getopt table
# is in its page, and every key the config loaders accept (the keys[] lists
# of resolver/config.c, file_keys[] of forwarder/opts.c) has an entry
# (".B key") in meshdns.yaml.5 or meshdns-forward.8. Adding a flag or a key
# without documenting it fails here.
. "$(dirname "$0")/lib.sh"
need groff groff-base

MAN="$SRCDIR/man"
PAGES="meshdns.8 meshdns-agent.8 meshdns-forward.8 meshdns-ctl.8 meshdns.yaml.5"

for p in $PAGES; do
	if [ ! -f "$MAN/$p" ]; then
		fail "$p exists"
		continue
	fi
	out=$(groff -man -ww -z "$MAN/$p" 2>&1)
	if [ -z "$out" ]; then
		pass "$p: groff -man -ww -z prints no warning"
	else
		fail "$p: groff -man -ww -z: $out"
	fi
	if command -v man >/dev/null 2>&1; then
		out=$(man --warnings -l "$MAN/$p" 2>&1 >/dev/null)
		if [ -z "$out" ]; then
			pass "$p: man --warnings prints no warning"
		else
			fail "$p: man --warnings: $out"
		fi
	fi
done

# plain PAGE: the page's source with \- made -, for grepping.
plain() {
	sed 's/\\-/-/g' "$MAN/$1"
}

# flags_of BINARY SOURCE: long flags in BINARY --help and in SOURCE's
# getopt_long table ({ "name", required_argument, ... }).
flags_of() {
	{
		"$1" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*'
		grep -oE '\{ *"[a-z][a-z0-9-]*", *(no|required|optional)_argument' "$2" |
			sed -E 's/^\{ *"([^"]*)".*/--\1/'
	} | sort -u
}

# keys_of SOURCE: the quoted names in every `static const char *const
# ...keys[] = { ... NULL };` list of SOURCE.
keys_of() {
	awk '/static const char \*const [a-z_]*keys\[\] *=/ { on = 1 }
	     on { print }
	     on && /NULL *};/ { on = 0 }' "$1" | grep -oE '"[a-z_]+"' | tr -d '"'
}

check_flags() {
	local bin=$1 src=$2 page=$3 flags f missing="" n=0
	if [ ! -x "$bin" ]; then
		fail "$page: $bin is built"
		return
	fi
	flags=$(flags_of "$bin" "$src")
	for f in $flags; do
		n=$((n + 1))
		plain "$page" | grep -qE -- "(^|[^a-z0-9-])$f([^a-z0-9-]|\$)" || missing="$missing $f"
	done
	if [ "$n" -lt 3 ]; then
		fail "$page: found only $n long flags of $(basename "$bin") (does flags_of still match $src?)"
	elif [ -z "$missing" ]; then
		pass "$page: all $n long flags of $(basename "$bin") are described"
	else
		fail "$page: long flags of $(basename "$bin") missing from the page:$missing"
	fi
}

check_flags "$MESHDNS" "$SRCDIR/resolver/main.c" meshdns.8
check_flags "$MESHDNS_AGENT" "$SRCDIR/agent/opts.c" meshdns-agent.8
check_flags "$MESHDNS_FORWARD" "$SRCDIR/forwarder/opts.c" meshdns-forward.8
check_flags "${MESHDNS_CTL:-$(dirname "$MESHDNS")/meshdns-ctl}" "$SRCDIR/resolver/ctl_main.c" meshdns-ctl.8

# check_keys SOURCE PAGE MIN: every key of SOURCE has a ".B key" line in PAGE;
# fewer than MIN keys found means the extraction no longer fits the source.
check_keys() {
	local src=$1 page=$2 min=$3 keys k missing="" n
	keys=$(keys_of "$src" | sort -u)
	n=$(wc -w <<<"$keys")
	if [ "$n" -lt "$min" ]; then
		fail "$page: found only $n config keys in $(basename "$src"), expected $min or more (does keys_of still match it?)"
		return
	fi
	for k in $keys; do
		plain "$page" | grep -qxF ".B $k" || missing="$missing $k"
	done
	if [ -z "$missing" ]; then
		pass "$page: all $n keys of $(basename "$src") have an entry"
	else
		fail "$page: keys of $(basename "$src") without an entry (.B key):$missing"
	fi
}

check_keys "$SRCDIR/resolver/config.c" meshdns.yaml.5 35
check_keys "$SRCDIR/forwarder/opts.c" meshdns-forward.8 11

done_testing
