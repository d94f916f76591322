#!/bin/bash
# SPDX-License-Identifier: MIT
# Run perm-test on tmpfs and on daxfs and diff the two outputs.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_PERM_TEST"
dx_watchdog 300

# the reference: a directory on /dev/shm, which is tmpfs
mkdir "$DX_TMP/ref"
[ "$(stat -f -c %T "$DX_TMP/ref")" = tmpfs ] || dx_skip "/dev/shm is not tmpfs"
"$DX_PERM_TEST" "$DX_TMP/ref" >"$DX_TMP/perm.tmpfs" ||
	dx_fail "perm-test on tmpfs does not give the expected outcomes (status $?)"

dx_mkfs 64M
dx_mount allow_other,default_permissions
"$DX_PERM_TEST" "$DX_MNT" >"$DX_TMP/perm.daxfs"
rc=$?
dx_umount
dx_compare "perm-test output of daxfs against tmpfs" "$DX_TMP/perm.tmpfs" "$DX_TMP/perm.daxfs"
[ "$rc" = 0 ] || dx_fail "perm-test on daxfs exited with status $rc"
dx_fsck
dx_pass
