#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz_regress: every image under tests/fuzz/regress/ (*.pool.xz, made from
# crashes the fuzzers found) goes through the four fuzz targets (open,
# walk, free, fsck, run once on the image as it is) and through the real
# mount (walked and modified, fuzz/mount_lib.sh).  Any crash, sanitizer
# report or hang fails.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mount_lib.sh"
dx_need_root
F=$DAXFS_BUILD/tests/fuzz
dx_need "$DX_DAEMON" "$FZ_FSWALK" "$F/fuzz-open" "$F/fuzz-walk" "$F/fuzz-free" "$F/fuzz-fsck"
command -v xz >/dev/null || dx_skip "xz is missing"
dx_watchdog 900
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1:abort_on_error=1

IMG=$DX_TMP/image.pool
n=0 bad=0
for x in "$DX_SRC"/tests/fuzz/regress/*.pool.xz; do
	[ -e "$x" ] || continue
	name=$(basename "$x" .pool.xz)
	n=$((n + 1))
	xz -dc "$x" >"$IMG" || dx_fail "cannot decompress $x"
	for t in open walk free fsck; do
		if ! DAXFS_FUZZ_RAW=1 timeout 120 "$F/fuzz-$t" "$IMG" >"$DX_TMP/t.log" 2>&1; then
			dx_log "$name: fuzz-$t failed:"
			grep -E 'ERROR|SUMMARY|^ +#[0-9] ' "$DX_TMP/t.log" | head -n 12
			bad=$((bad + 1))
		fi
	done
	xz -dc "$x" >"$IMG"
	fz_try "$IMG"
	dx_log "$name: mount: $FZ_VERDICT${FZ_WHY:+: $FZ_WHY}"
	case $FZ_VERDICT in
	crashed | hung)
		grep -E 'ERROR|SUMMARY|#[0-9] ' "$DX_TMP/fz-daemon.log" | head -n 12
		bad=$((bad + 1))
		;;
	esac
done
DX_POOL=
[ "$n" -gt 0 ] || dx_fail "no regression images found"
[ "$bad" = 0 ] || dx_fail "$bad of $((n * 5)) runs on $n images failed"
dx_log "$n images, each through 4 targets and the mount"
dx_pass
