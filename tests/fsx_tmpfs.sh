#!/bin/bash
# SPDX-License-Identifier: MIT
# fsx_tmpfs.sh - daxfs-fsx on tmpfs, a filesystem taken to be right: checks
# the tester itself (its model, its SEEK_DATA/SEEK_HOLE rules) before its
# verdicts on daxfs are trusted.

. "$(dirname "$0")/fsx_common.sh"

dx_need "$FSX"
[ "$(stat -f -c %T "$DX_TMP")" = tmpfs ] || dx_skip "$DX_TMP is not on tmpfs"
dx_watchdog 540

for seed in 1 2; do
	fsx_run "$DX_TMP/mmap-$seed" -S "$seed" -N 20000
	fsx_run "$DX_TMP/nommap-$seed" -S "$seed" -N 20000 -R -W
done
# odd alignments and several processes, briefly
fsx_run "$DX_TMP/aligned" -S 3 -N 5000 -r 512 -w 4096 -t 1000 -l 1M -o 128K
fsx_run "$DX_TMP/multi" -S 4 -N 5000 -P 2
dx_pass
