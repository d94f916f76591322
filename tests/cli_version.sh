#!/bin/bash
# SPDX-License-Identifier: MIT
# Every program that "meson install" installs answers --version and --help
# with status 0 and says something on stdout (as GNU's coding standards ask).
. "$(dirname "$0")/lib.sh"
dx_watchdog 120

T=$DX_TMP
D=$T/dest
meson install -C "$DAXFS_BUILD" --no-rebuild --quiet --destdir "$D" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; dx_fail "meson install --destdir failed"; }

# The installed programs have no rpath into the build tree.
libdir=$(find "$D" -name 'libdaxfs-client.so*' -printf '%h\n' | head -n 1)
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

n=0
for prog in $(find "$D" -type f -perm -u+x \( -path '*/bin/*' -o -path '*/sbin/*' \) | sort); do
	name=${prog##*/}
	for opt in --version --help; do
		"$prog" "$opt" >"$T/out" 2>"$T/err" </dev/null
		rc=$?
		[ "$rc" = 0 ] || { cat "$T/out" "$T/err"; dx_fail "$name $opt: status $rc"; }
		[ -s "$T/out" ] || dx_fail "$name $opt: nothing on stdout"
	done
	"$prog" --version </dev/null 2>/dev/null | head -n 1 | grep -qE '[0-9]+\.[0-9]+' ||
		dx_fail "$name --version: no version number in its first line"
	dx_log "ok: $name --version: $("$prog" --version 2>/dev/null | head -n 1)"
	n=$((n + 1))
done
[ "$n" -ge 6 ] || dx_fail "only $n installed programs found"
dx_pass
