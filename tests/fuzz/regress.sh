#!/bin/bash
# SPDX-License-Identifier: MIT
# fuzz_regress: every image under tests/fuzz/regress/ (*.pool.xz, made from
# crashes and hangs the fuzzers found, see regress/README) goes through the
# four fuzz targets (open, walk, free, fsck, run once on the image as it
# is), fsck.daxfs -n and the real mount (walked and modified,
# fuzz/mount_lib.sh).  Any crash, sanitizer report or hang fails.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mount_lib.sh"
dx_need_root
F=$DAXFS_BUILD/tests/fuzz
dx_need "$DX_DAEMON" "$DX_FSCK" "$FZ_FSWALK" "$F/fuzz-open" "$F/fuzz-walk" "$F/fuzz-free" "$F/fuzz-fsck"
command -v xz >/dev/null || dx_skip "xz is missing"
dx_watchdog 900
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1:abort_on_error=1

mkdir "$DX_TMP/img"
n=0 bad=0
for x in "$DX_SRC"/tests/fuzz/regress/*.pool.xz; do
	[ -e "$x" ] || continue
	xz -dc "$x" >"$DX_TMP/img/$(basename "$x" .xz)" || dx_fail "cannot decompress $x"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || dx_fail "no regression images found"
# Each target once over all the images (as libFuzzer replays a list of
# inputs): the target reads each image and writes its own pool, so the
# images stay as they are.  The last "Running:" line names a crashing one.
for t in open walk free fsck; do
	if ! DAXFS_FUZZ_RAW=1 timeout 300 "$F/fuzz-$t" "$DX_TMP"/img/*.pool >"$DX_TMP/t.log" 2>&1; then
		dx_log "fuzz-$t failed on $(grep '^Running:' "$DX_TMP/t.log" | tail -n 1)"
		grep -E 'ERROR|SUMMARY|^ +#[0-9] ' "$DX_TMP/t.log" | head -n 12
		bad=$((bad + 1))
	fi
done
IMG=$DX_TMP/image.pool
for x in "$DX_TMP"/img/*.pool; do
	name=$(basename "$x" .pool)
	# fsck.daxfs itself: any answer but a crash
	cp "$x" "$IMG"
	timeout 120 "$DX_FSCK" -n -f "$IMG" >"$DX_TMP/t.log" 2>&1
	rc=$?
	if [ "$rc" -ge 124 ]; then
		dx_log "$name: fsck.daxfs -n: exit status $rc"
		grep -E 'ERROR|SUMMARY|^ +#[0-9] ' "$DX_TMP/t.log" | head -n 12
		bad=$((bad + 1))
	fi
	fz_try "$IMG"
	dx_log "$name: fsck -n: $rc, mount: $FZ_VERDICT${FZ_WHY:+: $FZ_WHY}"
	case $FZ_VERDICT in
	crashed | hung)
		grep -E 'ERROR|SUMMARY|#[0-9] ' "$DX_TMP/fz-daemon.log" | head -n 12
		bad=$((bad + 1))
		;;
	esac
done
DX_POOL=
[ "$bad" = 0 ] || dx_fail "$bad failures in the runs on $n images"
dx_log "$n images through 4 targets, fsck.daxfs -n and the mount"
dx_pass
