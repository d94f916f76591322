#!/bin/bash
# SPDX-License-Identifier: MIT
# fsx_daxfs.sh - daxfs-fsx on a daxfs mount, with the daxfs ops (direct
# mappings held across ops, leases, layout changes deferred by pins, lease
# breaks, DMA, clones and snapshots): several seeds with and without mmap, two processes on one
# file, larger ops with more mappings held, a record/replay round trip;
# then revocations on a mount with a short lease_break_time; fsck after
# each mount.  lib.sh's EXIT trap unmounts on every path.

. "$(dirname "$0")/fsx_common.sh"

dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$FSX"
dx_watchdog 1700

dx_mkfs 256M
dx_mount busy_timeout=0
m=$DX_MNT

for seed in 1 2 3; do
	fsx_run "$m/mmap-$seed" -S "$seed" -N 10000
done
for seed in 4 5; do
	fsx_run "$m/nommap-$seed" -S "$seed" -N 10000 -R -W
done
fsx_run "$m/multi" -S 6 -N 10000 -P 2
fsx_run "$m/big" -S 9 -N 3000 -l 4M -o 1M --hold-maps 8
# Pins across a clone storm: two processes clone within the file and from
# the copy file under up to 16 held mappings each (whose blocks a clone
# must copy, not share), with snapshot maps and writes on both sides.
fsx_run "$m/storm" -S 11 -N 20000 -P 2 --hold-maps 16 \
	-x lease,pinned-change,break,revoke,dma,copy,collapse,insert

fsx_run "$m/orig" -S 7 -N 3000 --record "$DX_TMP/orig.ops"
fsx_run "$m/copy" --replay "$DX_TMP/orig.ops"
[ "$(fsx_md5 "$m/orig")" = "$(fsx_md5 "$m/copy")" ] ||
	dx_fail "replayed file differs from the recorded run"
grep -qE '^[0-9]+ (map|pin_|break_|dma_)' "$DX_TMP/orig.ops" ||
	dx_fail "the recorded run has no daxfs ops"
grep -qE '^[0-9]+ (clone|clonex) ' "$DX_TMP/orig.ops" && grep -qE '^[0-9]+ snapshot ' "$DX_TMP/orig.ops" ||
	dx_fail "the recorded run has no clone or snapshot ops"
dx_log "ok: replay on daxfs gives identical content"

dx_umount
dx_fsck

# Revocation: each takes lease_break_time, so few ops, and a short time.
dx_mount busy_timeout=0,lease_break_time=1
fsx_run "$DX_MNT/revoke" -S 8 -N 1000 --lease-break-time 1
dx_umount
dx_fsck
dx_pass
