#!/bin/bash
# SPDX-License-Identifier: MIT
# fsx_soak.sh - long daxfs-fsx runs on daxfs (minutes): a million ops on one
# file, then four processes sharing a larger file, then fsck.  Registered
# only with -Dsoak=true.  FSX_SOAK_OPS scales the op counts.

. "$(dirname "$0")/fsx_common.sh"

dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$FSX"
dx_watchdog 7000

ops=${FSX_SOAK_OPS:-1000000}
seed=${FSX_SOAK_SEED:-0}	# 0: a new seed each time; the log shows it

dx_mkfs 1G
dx_mount busy_timeout=0
fsx_run "$DX_MNT/single" -S "$seed" -N "$ops" -l 1M -o 128K -p 100000
fsx_run "$DX_MNT/shared" -S "$seed" -N $((ops / 4)) -P 4 -l 4M -o 256K -p 100000
fsx_run "$DX_MNT/nommap" -S "$seed" -N $((ops / 4)) -R -W -p 100000
dx_umount
dx_fsck
dx_pass
