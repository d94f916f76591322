#!/bin/bash
# SPDX-License-Identifier: MIT
# fsx_faults.sh - daxfs-fsx must find each bug planted in lib/ (lib/fault.h).
# For every run below: a fresh pool mounted with DAXFS_FAULT=name in the
# daemon's environment, and daxfs-fsx with ops that reach the bug, which
# must fail (status 1) within MAXOPS ops; the test prints which op caught
# it.  Then the same seeds and options on a clean mount must pass, over
# the ops that caught the bugs and well beyond.  Registered only with
# -Dfault_injection=true (a release daemon refuses DAXFS_FAULT).

. "$(dirname "$0")/fsx_common.sh"

dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$FSX"
dx_watchdog 840

MAXOPS=20000
# fault | what the run uses | daxfs-fsx options
runs=(
	"skip-busy-check|pinned-change as the only daxfs op|-S 1 -x map,lease,break,dma"
	"skip-busy-check|all ops|-S 2"
	"drop-persist|all ops|-S 1"
	"drop-persist|no daxfs ops|-S 2 --no-daxfs-ops"
	"stale-read|map as the only daxfs op|-S 1 -x lease,pinned-change,break,dma"
	"stale-read|all ops|-S 2"
	"early-free|all ops|-S 1"
	"early-free|no daxfs ops|-S 2 --no-daxfs-ops"
	"cow-skip|all ops (aligned copies share blocks, writes must copy them)|-S 2"
	"cow-map-skip|all ops (a map of shared blocks must copy them)|-S 2"
	"cow-map-skip|clone and snapshot as the only daxfs ops, no copy (a coherent map must copy)|-S 1 -x map,lease,pinned-change,break,revoke,dma,copy"
	"cow-skip|clone as the only daxfs op, no copy and no mmap (the model's shared blocks must be copied)|-S 2 -x map,lease,pinned-change,break,revoke,dma,snapshot,copy,mapwrite"
	"snap-ref-skip|clone and snapshot as the only daxfs ops, no copy|-S 1 -x map,lease,pinned-change,break,revoke,dma,copy"
)

# fault_umount: unmount a faulty mount; the daemon's status is only shown
# (a planted bug may well upset it), but it must go away
fault_umount() {
	local rc
	fusermount3 -u "$DX_MNT" || dx_fail "fusermount3 -u $DX_MNT failed"
	wait "$DX_PID"
	rc=$?
	DX_PID=
	[ "$rc" = 0 ] || dx_log "note: the daemon with a planted bug exited with status $rc"
}

declare -a caught
i=0
for r in "${runs[@]}"; do
	IFS='|' read -r fault label args <<<"$r"
	dx_mkfs 64M -q
	export DAXFS_FAULT=$fault
	dx_mount busy_timeout=0
	unset DAXFS_FAULT
	out=$DX_TMP/fault-$i.out
	# shellcheck disable=SC2086 # args is a list of options
	"$FSX" -q -N "$MAXOPS" $args "$DX_MNT/f" >"$out" 2>&1
	rc=$?
	fault_umount
	line=$(grep -m1 -o 'FAILURE at op .*' "$out")
	if [ "$rc" != 1 ] || [ -z "$line" ]; then
		tail -n 20 "$out"
		dx_fail "$fault ($label, $args): daxfs-fsx exited with $rc, not 1 with a FAILURE line"
	fi
	n=$(sed -E 's/^FAILURE at op ([0-9]+).*/\1/' <<<"$line")
	[ "$n" -le "$MAXOPS" ] || dx_fail "$fault caught only at op $n"
	caught[i]=$n
	dx_log "$fault ($label; $args): caught at ${line#FAILURE at }"
	i=$((i + 1))
done

# The same seeds and options on a clean mount: the op sequences are the
# same up to where each bug was caught, and must pass there and beyond.
dx_mkfs 64M -q
dx_mount busy_timeout=0
i=0
for r in "${runs[@]}"; do
	IFS='|' read -r fault label args <<<"$r"
	n=$((caught[i] + 1000))
	# shellcheck disable=SC2086
	fsx_run "$DX_MNT/clean-$i" -q -N "$n" $args
	dx_log "clean mount: $args passes $n ops (the $fault run failed at op ${caught[i]})"
	i=$((i + 1))
done
dx_umount
dx_fsck
dx_pass
