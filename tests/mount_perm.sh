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
# its exit status only repeats what the comparison below shows
"$DX_PERM_TEST" "$DX_MNT" >"$DX_TMP/perm.daxfs"
dx_umount

# Every scenario must match tmpfs exactly.  (Without
# FUSE_CAP_HANDLE_KILLPRIV the kernel alone would leave S_ISGID on a file
# without group exec written by a non-member; daxfs_drop_privs() clears it.)
cp "$DX_TMP/perm.tmpfs" "$DX_TMP/perm.tmpfs.cmp"
cp "$DX_TMP/perm.daxfs" "$DX_TMP/perm.daxfs.cmp"
dx_compare "perm-test output of daxfs against tmpfs" "$DX_TMP/perm.tmpfs.cmp" "$DX_TMP/perm.daxfs.cmp"
dx_fsck
dx_pass
