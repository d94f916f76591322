#!/bin/bash
# SPDX-License-Identifier: MIT
# Fill a 64 MiB filesystem: ENOSPC must be clean and recoverable.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_POSIX_TEST"
dx_watchdog 500

dx_mkfs 64M
dx_mount
"$DX_POSIX_TEST" --fill "$DX_MNT"
rc=$?
dx_umount
[ "$rc" = 0 ] || dx_fail "posix-test --fill reported failures (status $rc)"
dx_fsck
# the full-then-freed filesystem must mount again and take writes
dx_mount
head -c 1048576 /dev/urandom >"$DX_MNT/after-remount" || dx_fail "write after remount"
dx_umount
dx_pass
