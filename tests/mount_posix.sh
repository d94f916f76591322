#!/bin/bash
# SPDX-License-Identifier: MIT
# mkfs, mount, run posix-test on the mount, unmount cleanly, fsck.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_POSIX_TEST"
dx_watchdog 1700

# 4 GiB (sparse) gives enough inodes for the 100,000-entry directory
dx_mkfs 4G
dx_mount
"$DX_POSIX_TEST" "$DX_MNT"
rc=$?
dx_umount
[ "$rc" = 0 ] || dx_fail "posix-test reported failures (status $rc)"
dx_fsck
dx_pass
