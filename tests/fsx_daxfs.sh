#!/bin/bash
# SPDX-License-Identifier: MIT
# fsx_daxfs.sh - daxfs-fsx on a daxfs mount: several seeds with and without
# mmap, two processes on one file, a record/replay round trip, then an
# offline fsck of the pool.  lib.sh's EXIT trap unmounts on every path.

. "$(dirname "$0")/fsx_common.sh"

dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$FSX"
dx_watchdog 1700

dx_mkfs 256M
dx_mount
m=$DX_MNT

for seed in 1 2 3; do
	fsx_run "$m/mmap-$seed" -S "$seed" -N 10000
done
for seed in 4 5; do
	fsx_run "$m/nommap-$seed" -S "$seed" -N 10000 -R -W
done
fsx_run "$m/multi" -S 6 -N 10000 -P 2

fsx_run "$m/orig" -S 7 -N 3000 --record "$DX_TMP/orig.ops"
fsx_run "$m/copy" --replay "$DX_TMP/orig.ops"
[ "$(fsx_md5 "$m/orig")" = "$(fsx_md5 "$m/copy")" ] ||
	dx_fail "replayed file differs from the recorded run"
dx_log "ok: replay on daxfs gives identical content"

dx_umount
dx_fsck
dx_pass
