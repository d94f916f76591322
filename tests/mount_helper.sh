#!/bin/bash
# SPDX-License-Identifier: MIT
# mount -t fuse.daxfs POOL MNT -o allow_other works with daxfs on PATH, and
# umount(8) ends the daemon.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON"
command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ] || dx_skip "mount.fuse3 missing"
dx_watchdog 120

mkdir "$DX_TMP/bin"
ln -s "$DX_DAEMON" "$DX_TMP/bin/daxfs"
dx_mkfs 64M
PATH="$DX_TMP/bin:$PATH" mount -t fuse.daxfs "$DX_POOL" "$DX_MNT" -o allow_other ||
	dx_fail "mount -t fuse.daxfs failed"
dx_mounted "$DX_MNT" || dx_fail "mount returned 0 but nothing is mounted"
line=$(awk -v m="$DX_MNT" '$2 == m' /proc/mounts)
dx_log "mounted: $line"
[ "$(echo "$line" | awk '{ print $3 }')" = fuse.daxfs ] || dx_fail "type is not fuse.daxfs"
echo "$line" | awk '{ print $4 }' | grep -q allow_other || dx_fail "allow_other not in effect"
[ -n "$(dx_daemon_pids)" ] || dx_fail "no daemon process serving the pool"
echo hello >"$DX_MNT/f" && [ "$(cat "$DX_MNT/f")" = hello ] || dx_fail "I/O on the mount"
# other users reach it (allow_other)
setpriv --reuid=1001 --regid=1001 --clear-groups stat "$DX_MNT/f" >/dev/null ||
	dx_fail "another user cannot stat a file on an allow_other mount"
umount "$DX_MNT" || dx_fail "umount failed"
dx_mounted "$DX_MNT" && dx_fail "still mounted after umount"
for i in $(seq 1 100); do
	[ -z "$(dx_daemon_pids)" ] && break
	sleep 0.1
done
[ -z "$(dx_daemon_pids)" ] || dx_fail "daemon still running 10 s after umount"
dx_pass
