#!/bin/bash
# SPDX-License-Identifier: MIT
# kill -9 the daemon while several processes at once are creating, writing,
# renaming (also into each other's directories), truncating and removing
# files.  After each crash fsck.daxfs -n must find the pool clean as the
# next mount's recovery will leave it (exit 0) before anything mounts it;
# then the pool must mount, a tree built before the workload must be
# exactly as it was, everything the workload left must be readable, and
# removing it must give back every block and inode.
#   DX_KILL9_ROUNDS   crashes (default 6; the soak test runs 40)
#   DX_KILL9_WORKERS  workload processes at once (default 3)
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK"

T=$DX_TMP
ROUNDS=${DX_KILL9_ROUNDS:-6}
WORKERS=${DX_KILL9_WORKERS:-3}
dx_watchdog $((480 + ROUNDS * 60))

# workload DIR SHARED: run until the filesystem goes away under it
workload() {
	local d=$1 s=$2 i=0 n
	mkdir -p "$d" "$s" || return
	while :; do
		i=$((i + 1))
		n=$((i % 50))
		head -c $(((RANDOM % 64) * 1024 + RANDOM)) /dev/urandom >"$d/f$n" || return
		mkdir -p "$d/dir$((i % 7))" || return
		mv "$d/f$n" "$d/dir$((i % 7))/g$((i % 13))" || return
		ln -sf "target-$i" "$d/l$((i % 11))" || return
		setfattr -n user.i -v "$i" "$d/dir$((i % 7))" || return
		truncate -s $((RANDOM * 7)) "$d/dir$(((i + 1) % 7))/g$((i % 13))" 2>/dev/null
		fallocate -p -o 4096 -l 8192 "$d/dir$(((i + 2) % 7))/g$((i % 13))" 2>/dev/null
		[ $((i % 10)) = 0 ] && { ln "$d/l$((i % 11))" "$d/hard$((i % 4))" 2>/dev/null; }
		# the other workers rename into and remove from the same directory
		[ $((i % 5)) = 0 ] && { mv "$d/dir$((i % 7))/g$((i % 13))" "$s/s$((i % 17))" 2>/dev/null; }
		[ $((i % 9)) = 0 ] && rm -f "$s/s$(((i + 5) % 17))"
		[ $((i % 25)) = 0 ] && { rm -rf "$d/dir$(((i + 3) % 7))" || return; }
	done
}

dx_mkfs 256M
dx_mount
base=$(dx_baseline "$DX_MNT" tree)
mkdir "$DX_MNT/tree"
R=$DX_MNT/tree
dx_tree_build "$R"
dx_tree_list "$R" >"$T/list"
dx_tree_content "$R" "$T/list" >"$T/content.before"
dx_tree_settimes "$R" "$T/list"
dx_tree_meta "$R" "$T/list" >"$T/meta.before"
with_tree=$(dx_baseline "$DX_MNT" work)

for round in $(seq 1 "$ROUNDS"); do
	pids=
	for w in $(seq 1 "$WORKERS"); do
		workload "$DX_MNT/work/w$w" "$DX_MNT/work/shared" >/dev/null 2>&1 &
		pids="$pids $!"
	done
	# kill at a different point of the workload each round
	sleep "$((round % 3)).$((RANDOM % 10))"
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || dx_fail "round $round: a workload stopped before the crash"
	done
	dx_kill9
	# shellcheck disable=SC2086 # a list of pids
	wait $pids
	# the pool as the crash left it: clean once recovery has run
	"$DX_FSCK" -n -f "$DX_POOL" >"$T/fsck.out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || { cat "$T/fsck.out"; dx_fail "round $round: fsck.daxfs -n after kill -9 exits $rc"; }
	dx_log "round $round: fsck -n after the crash: clean"
	dx_mount
	dx_tree_meta "$R" "$T/list" >"$T/meta.after"
	dx_tree_content "$R" "$T/list" >"$T/content.after"
	dx_compare "round $round: metadata of the tree" "$T/meta.before" "$T/meta.after"
	dx_compare "round $round: content of the tree" "$T/content.before" "$T/content.after"
	# what the workload left behind must be readable (a crash very early
	# may come before its mkdir)
	mkdir -p "$DX_MNT/work" || dx_fail "round $round: mkdir work"
	n=$(find "$DX_MNT/work" | wc -l)
	find "$DX_MNT/work" -type f -exec cat {} + >/dev/null ||
		dx_fail "round $round: files left by the workload are not readable"
	ls -lR "$DX_MNT/work" >/dev/null || dx_fail "round $round: ls -lR of the workload failed"
	getfattr -R -d "$DX_MNT/work" >/dev/null 2>&1
	dx_log "round $round: $n objects left by the workload"
	rm -rf "$DX_MNT/work" || dx_fail "round $round: removing the workload's files failed"
	dx_expect_free "$DX_MNT" "$with_tree"
	dx_umount
	dx_fsck
	dx_mount
done
rm -rf "$R"
dx_expect_free "$DX_MNT" "$base"
dx_umount
dx_fsck
dx_pass
