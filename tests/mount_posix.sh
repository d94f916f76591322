#!/bin/bash
# SPDX-License-Identifier: MIT
# mkfs, mount, run posix-test on the mount, unmount cleanly, fsck.  Every
# block and inode the test used must be free again afterwards, before and
# after a remount.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_POSIX_TEST"
dx_watchdog 1700

# 4 GiB (sparse) gives enough inodes for the 100,000-entry directory
dx_mkfs 4G
dx_mount
base=$(dx_baseline "$DX_MNT" work)
mkdir "$DX_MNT/work"
"$DX_POSIX_TEST" "$DX_MNT/work"
rc=$?
rmdir "$DX_MNT/work" || dx_fail "posix-test left files behind"
[ "$rc" = 0 ] || { dx_umount; dx_fail "posix-test reported failures (status $rc)"; }
dx_expect_free "$DX_MNT" "$base"
dx_umount
dx_fsck
dx_mount
dx_expect_free "$DX_MNT" "$base"
dx_umount
dx_pass
