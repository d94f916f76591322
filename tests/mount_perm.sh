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

# Scenarios where Linux's FUSE module itself differs from a local
# filesystem, whatever the daemon does.  Each is listed with its reason; the
# lines are still printed, but only these exact scenarios may differ.
#
# - Without FUSE_CAP_HANDLE_KILLPRIV the kernel clears S_ISGID on write only
#   when S_IXGRP is set (fuse_setattr), and libfuse 3.14 cannot ask for
#   HANDLE_KILLPRIV_V2, where a local filesystem also clears it for a
#   writer outside the file's group.
known='write by non-member clears setgid without group exec'

strip_known() {
	grep -vF "$known" "$1"
}
grep -F "$known" "$DX_TMP/perm.daxfs" | sed 's/^/[mount_perm] known FUSE difference: /'
strip_known "$DX_TMP/perm.tmpfs" >"$DX_TMP/perm.tmpfs.cmp"
strip_known "$DX_TMP/perm.daxfs" >"$DX_TMP/perm.daxfs.cmp"
dx_compare "perm-test output of daxfs against tmpfs" "$DX_TMP/perm.tmpfs.cmp" "$DX_TMP/perm.daxfs.cmp"
dx_fsck
dx_pass
