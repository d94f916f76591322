#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs-bench | head: the reader goes away while a daxfs mount of the
# benchmark is up.  The benchmark must end (SIGPIPE) and still unmount,
# stop its daemon and remove its scratch directory.
. "$(dirname "$0")/lib.sh"
dx_need_root
BENCH=$DAXFS_BUILD/tools/bench/daxfs-bench
dx_need "$BENCH" "$DX_MKFS" "$DX_DAEMON"
command -v fio >/dev/null || dx_skip "fio is not installed"
dx_watchdog 240

# Line 3 says the daxfs mount is up; head exits after it, and the next
# line the benchmark prints meets a closed pipe.
DAXFS_BUILD=$DAXFS_BUILD bash "$BENCH" --smoke --only daxfs 2>"$DX_TMP/err" |
	head -n 3 >"$DX_TMP/out"
work=$(sed -n 's/.*scratch in \(\/dev\/shm\/daxfs-bench\.[A-Za-z0-9]*\)$/\1/p' "$DX_TMP/out")
[ -n "$work" ] || dx_fail "no scratch directory in the output: $(cat "$DX_TMP/out")"
grep -q "mounted on" "$DX_TMP/out" || dx_fail "the mount was not up yet: $(cat "$DX_TMP/out")"
# The pipeline waited for the benchmark: whatever it left is left.
left=$(awk -v w="$work" 'index($2, w) == 1 { print $2 }' /proc/mounts)
if [ -n "$left" ]; then
	for m in $left; do fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"; done
	dx_fail "the benchmark left $left mounted"
fi
if [ -e "$work" ]; then
	rm -rf "$work"
	dx_fail "the benchmark left $work behind"
fi
dx_log "ended with the pipe, unmounted and removed $work"
dx_pass
