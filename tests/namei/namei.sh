#!/bin/bash
# SPDX-License-Identifier: MIT
# namei.sh CASE: one case of namei-test through a fresh mount, then an
# unmount (the daemon must exit 0) and fsck.daxfs -n (must be clean).
#   link-race    link/unlink against hole writes (issue 10 #9)
#   small-files  100 two-byte files cost 100 blocks (issue 11 #2)
#   enospc       symlink/link on a full pool (issue 11 #3)
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$NAMEI_TEST"
case=${1:?usage: namei.sh CASE}
DX_NAME=namei-$case
dx_watchdog 240

case $case in
link-race) dx_mkfs 256M ;;
small-files) dx_mkfs 64M ;;
enospc) dx_mkfs 16M ;;
*) dx_fail "unknown case $case" ;;
esac
dx_mount
if [ "$case" = link-race ]; then "$NAMEI_TEST" "$case" "$DX_MNT" 10; else "$NAMEI_TEST" "$case" "$DX_MNT"; fi
rc=$?
if [ "$rc" != 0 ] && [ "$case" = link-race ] && [ -n "$DX_PID" ]; then
	# A deadlocked daemon keeps the test's children in uninterruptible
	# waits (and /proc reads of them blocked): stop it before cleaning up.
	kill -KILL "$DX_PID"
	wait "$DX_PID" 2>/dev/null
	DX_PID=
	sleep 1
fi
[ "$rc" = 0 ] || dx_fail "namei-test $case reported failures (status $rc)"
dx_umount
dx_fsck
dx_pass
