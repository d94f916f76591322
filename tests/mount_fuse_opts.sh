#!/bin/bash
# SPDX-License-Identifier: MIT
# The mount options of libfuse's low-level session are accepted as
# mount.fuse3 users expect, and each has its effect: auto_unmount removes
# the mount of a killed daemon, fsname= and subtype= show in /proc/mounts,
# max_read= reaches the kernel, sync/dirsync set the mount flags,
# allow_root lets root in and keeps other users out.  A bad value and an
# unknown option are still refused.

. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON"
dx_watchdog 180

# mount_line: the /proc/mounts line of our mountpoint
mount_line() {
	awk -v m="$DX_MNT" '$2 == m' /proc/mounts
}

# has_opt OPT: the mount's option field holds OPT
has_opt() {
	mount_line | awk '{ print $4 }' | tr , '\n' | grep -qxF "$1"
}

dx_mkfs 64M

# fsname=, subtype=, max_read=, sync, dirsync
dx_mount fsname=mypool,subtype=dxtest,max_read=65536,sync,dirsync
line=$(mount_line)
dx_log "mounted: $line"
[ "$(echo "$line" | awk '{ print $1 }')" = mypool ] || dx_fail "fsname= not the source"
[ "$(echo "$line" | awk '{ print $3 }')" = fuse.dxtest ] || dx_fail "subtype= not the type"
for o in max_read=65536 sync dirsync; do
	has_opt "$o" || dx_fail "$o not in effect"
done
# reads larger than max_read still come back whole
head -c 1048576 /dev/urandom >"$DX_TMP/data"
cp "$DX_TMP/data" "$DX_MNT/f" || dx_fail "write"
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
cmp "$DX_TMP/data" "$DX_MNT/f" || dx_fail "a 1 MiB read with max_read=65536 differs"
dx_umount

# allow_root: root gets in, another user does not (allow_other would let it)
dx_mount allow_root
echo hi >"$DX_MNT/g" || dx_fail "root cannot write on an allow_root mount"
if setpriv --reuid=65534 --regid=65534 --clear-groups stat "$DX_MNT/g" >/dev/null 2>&1; then
	dx_fail "another user can stat a file on an allow_root mount"
fi
dx_umount

# auto_unmount: a daemon killed with SIGKILL leaves no dead mount behind.
# fusermount3 (libfuse 3.14) watches the daemon through a socket, and on
# its close unmounts only if opening the mountpoint fails with ENOTCONN.
# The dying daemon closes that socket before /dev/fuse, so a watcher whose
# open is already queued when the connection is aborted gets ECONNABORTED
# and leaves the mount (libfuse documents auto_unmount as not race-free;
# seen once on a loaded machine).  One such loss is libfuse's; three in a
# row, or no watcher at all, is ours.
watcher() {
	pgrep -f "fusermount3 .*auto_unmount.* -- $DX_MNT\$" || true
}
lost=0
while :; do
	dx_mount auto_unmount
	stat "$DX_MNT" >/dev/null || dx_fail "auto_unmount: the mount does not answer"
	[ -n "$(watcher)" ] || dx_fail "auto_unmount: no fusermount3 watches the mount"
	kill -KILL "$DX_PID"
	wait "$DX_PID" 2>/dev/null
	DX_PID=
	for i in $(seq 1 100); do
		dx_mounted "$DX_MNT" || break
		sleep 0.1
	done
	dx_mounted "$DX_MNT" || break
	[ -z "$(watcher)" ] ||
		dx_fail "auto_unmount: still mounted 10 s after kill -9 of the daemon, its watcher still there"
	lost=$((lost + 1))
	dx_log "auto_unmount: the watcher left the mount of a killed daemon (lost race $lost)"
	fusermount3 -uz "$DX_MNT" || dx_fail "fusermount3 -uz of the left mount failed"
	[ $lost -lt 3 ] || dx_fail "auto_unmount: the mount of a killed daemon stayed, 3 times in a row"
done
dx_log "ok: auto_unmount removed the mount of the killed daemon"
dx_fsck

# still refused: a value that is not a number, and an unknown option
for o in max_read=lots no_such_option; do
	if "$DX_DAEMON" -f -o "$o" "$DX_POOL" "$DX_MNT" >"$DX_TMP/err" 2>&1; then
		dx_fail "-o $o accepted"
	fi
	dx_log "-o $o: $(cat "$DX_TMP/err")"
	grep -q "$o" "$DX_TMP/err" || dx_fail "-o $o: the message does not name the option"
	dx_mounted "$DX_MNT" && dx_fail "-o $o mounted something"
done
dx_pass
