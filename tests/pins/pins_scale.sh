#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pins_scale.sh - no operation holds the mount-wide pin_lock for a time that
# grows with what one user mapped: the longest hold while releasing N
# mappings must not grow with N (it grew as N^2, issue 10 defect 2).  A
# ratio of two runs in the holder's CPU time (so the mounts have
# -o lock_stat), each the best of two mounts.
DX_NAME=pins_scale
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$SCALE_TEST"
dx_watchdog 300

small=1000
large=16000

# best N: the smallest longest-hold of two fresh mounts
best() {
	local n=$1 b= v r
	for r in 1 2; do
		dx_mkfs 1G -q
		dx_mount lock_stat
		v=$("$SCALE_TEST" release "$DX_MNT" "$n" | tee "$DX_TMP/scale.out" |
			awk '$1 == "max_hold_ns" { print $2 }')
		grep -q "0 failed" "$DX_TMP/scale.out" || { cat "$DX_TMP/scale.out" >&2; dx_umount; return 1; }
		dx_umount
		# 0: no CPU time was taken, and the ratio below would prove nothing
		[ -n "$v" ] && [ "$v" -gt 0 ] || return 1
		if [ -z "$b" ] || [ "$v" -lt "$b" ]; then b=$v; fi
	done
	echo "$b"
}

s=$(best $small) || dx_fail "scale-test release $small"
l=$(best $large) || dx_fail "scale-test release $large"
dx_log "longest pin_lock hold: $s ns releasing $small mappings, $l ns releasing $large"
# 16 times the mappings: O(N^2) would be 256 times the hold, O(N) 16.
[ "$l" -le $((s * 8)) ] ||
	dx_fail "the longest pin_lock hold grows with the mappings released ($s -> $l ns)"
dx_pass
