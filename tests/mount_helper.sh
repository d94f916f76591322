#!/bin/bash
# SPDX-License-Identifier: MIT
# "mount -t fuse.daxfs POOL MNT -o allow_other" works once daxfs is on the
# helper's PATH, and umount(8) ends the daemon.
#
# mount(8) drops PATH from the environment of its helpers, so mount.fuse3's
# "sh -c 'daxfs ...'" searches only the shell's default path; a directory
# prepended to our PATH is never seen.  So the test runs its mount in a
# private mount namespace in which /usr/local/sbin is a directory holding a
# symlink to the build's daxfs: nothing outside the test sees either.

if [ "${1:-}" = --inner ]; then
	# in the namespace; the outer script owns cleanup of daemons and files
	set -u
	fail() { echo "[mount_helper] FAIL: $*"; umount "$DX_MNT" 2>/dev/null; exit 1; }
	mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }
	mount --bind "$DX_TMP/bin" /usr/local/sbin || fail "bind mount over /usr/local/sbin"
	mount -t fuse.daxfs "$DX_POOL" "$DX_MNT" -o allow_other || fail "mount -t fuse.daxfs failed"
	mounted "$DX_MNT" || fail "mount returned 0 but nothing is mounted"
	line=$(awk -v m="$DX_MNT" '$2 == m' /proc/mounts)
	echo "[mount_helper] mounted: $line"
	[ "$(echo "$line" | awk '{ print $3 }')" = fuse.daxfs ] || fail "type is not fuse.daxfs"
	echo "$line" | awk '{ print $4 }' | grep -q allow_other || fail "allow_other not in effect"
	{ echo hello >"$DX_MNT/f" && [ "$(cat "$DX_MNT/f")" = hello ]; } || fail "I/O on the mount"
	setpriv --reuid=1001 --regid=1001 --clear-groups stat "$DX_MNT/f" >/dev/null ||
		fail "another user cannot stat a file on an allow_other mount"
	umount "$DX_MNT" || fail "umount failed"
	mounted "$DX_MNT" && fail "still mounted after umount"
	exit 0
fi

. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON"
[ -x /sbin/mount.fuse3 ] || dx_skip "mount.fuse3 missing"
command -v unshare >/dev/null || dx_skip "unshare missing"
dx_watchdog 120

dx_mkfs 64M
mkdir "$DX_TMP/bin"
ln -s "$DX_DAEMON" "$DX_TMP/bin/daxfs"
DX_TMP=$DX_TMP DX_POOL=$DX_POOL DX_MNT=$DX_MNT \
	unshare --mount --propagation private "$0" --inner || dx_fail "see above"
# the daemon notices the unmount and exits by itself
for i in $(seq 1 100); do
	[ -z "$(dx_daemon_pids)" ] && break
	sleep 0.1
done
[ -z "$(dx_daemon_pids)" ] || dx_fail "daemon still running 10 s after umount"
dx_pass
