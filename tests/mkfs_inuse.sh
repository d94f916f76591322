#!/bin/bash
# SPDX-License-Identifier: MIT
# mkfs.daxfs refuses a pool a daemon serves, even with -f, read-write or
# read-only, naming the daemon's pid and mountpoint; the pool is unchanged
# and the mount keeps working (issue 14, 1: it used to format it and the
# next large write killed the daemon).
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK"
dx_watchdog 120

T=$DX_TMP

# refused CMD...: CMD must fail, leave the pool byte-identical and name
# every pid in $want_pids and the mountpoint in the message
refused() {
	local rc before after p
	before=$(sha256sum <"$DX_POOL")
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	after=$(sha256sum <"$DX_POOL")
	dx_log "$*: status $rc: $(tr '\n' ' ' <"$T/err")"
	[ "$rc" != 0 ] || dx_fail "$1 on a pool in use exited 0"
	[ "$rc" -lt 128 ] || dx_fail "$1 died by signal $((rc - 128))"
	[ "$before" = "$after" ] || dx_fail "$1 changed a pool in use"
	for p in $want_pids; do
		grep -qw "$p" "$T/err" || dx_fail "$1 does not name the holder's pid $p"
	done
	grep -qF "$DX_MNT" "$T/err" || dx_fail "$1 does not name the mountpoint $DX_MNT"
}

dx_mkfs 64M
dx_mount
head -c 1048576 /dev/urandom >"$T/data"
cp "$T/data" "$DX_MNT/file" || dx_fail "write before mkfs"
sync
want_pids=$DX_PID
refused "$DX_MKFS" -f "$DX_POOL"
refused "$DX_MKFS" -f -s 64M -q "$DX_POOL"
refused "$DX_FSCK" -y "$DX_POOL"
# the mount still works: the old file reads back, a large write succeeds
cmp -s "$T/data" "$DX_MNT/file" || dx_fail "file changed after the refused mkfs"
head -c $((32 << 20)) /dev/urandom >"$DX_MNT/big" || dx_fail "large write after the refused mkfs"
rm "$DX_MNT/big"
dx_umount
dx_fsck

# two read-only mounts share the pool: both pids are named
dx_mount ro
pid1=$DX_PID
DX_PID=
mkdir "$T/mnt2"
DX_EXTRA_MOUNTS=$T/mnt2
"$DX_DAEMON" -f -o ro "$DX_POOL" "$T/mnt2" >>"$T/daemon.log" 2>&1 &
pid2=$!
for i in $(seq 1 100); do
	dx_mounted "$T/mnt2" && break
	kill -0 "$pid2" 2>/dev/null || dx_fail "second read-only mount failed"
	sleep 0.1
done
dx_mounted "$T/mnt2" || dx_fail "second read-only mount did not appear"
want_pids="$pid1 $pid2"
refused "$DX_MKFS" -f "$DX_POOL"
cmp -s "$T/data" "$T/mnt2/file" || dx_fail "file changed under a read-only mount"
DX_PID=$pid2
dx_umount "$T/mnt2"
DX_PID=$pid1
dx_umount

# once nothing holds it, mkfs -f formats it
"$DX_MKFS" -q -f "$DX_POOL" || dx_fail "mkfs -f of the unmounted pool"
dx_fsck
dx_pass
