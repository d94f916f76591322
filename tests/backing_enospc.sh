#!/bin/bash
# SPDX-License-Identifier: MIT
# A sparse pool larger than the free space of the filesystem holding it
# (issue 14, 2): a 256 MiB pool on a 32 MiB tmpfs.  The daemon died of
# SIGBUS on the first large write once the tmpfs filled; now the write gets
# ENOSPC, the mount stays up and serves reads and writes into freed space,
# statfs reports no more than the tmpfs can give, and fsck is clean.  mkfs
# warns, and -P reserves the whole pool or fails leaving nothing.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK"
dx_watchdog 300

B=$DX_TMP/back
mkdir "$B"
mount -t tmpfs -o size=32m daxfs-test-back "$B" || dx_skip "cannot mount a tmpfs"
DX_BACKING_MOUNT=$B
DX_POOL=$B/pool

# mkfs: a warning that names both sizes
"$DX_MKFS" -s 256M "$DX_POOL" >"$DX_TMP/out" 2>"$DX_TMP/err" || dx_fail "mkfs: $(cat "$DX_TMP/err")"
dx_log "mkfs: $(cat "$DX_TMP/err")"
grep -q "warning: the pool (256 MiB) is larger than the free space" "$DX_TMP/err" ||
	dx_fail "mkfs does not warn of the over-committed pool"
grep -q -- "-P" "$DX_TMP/err" || dx_fail "the warning does not offer -P"

dx_mount
echo hello >"$DX_MNT/small" || dx_fail "small write"
head -c $((4 << 20)) /dev/urandom >"$DX_TMP/data4"
cp "$DX_TMP/data4" "$DX_MNT/keep" || dx_fail "4 MiB write"
# statfs: no more than the tmpfs can still give (plus what is reserved)
avail=$(stat -f -c '%a' "$DX_MNT")
back=$(stat -f -c '%a' "$B")
dx_log "statfs: daxfs $((avail * 4 / 1024)) MiB available, the tmpfs $((back * $(stat -f -c %S "$B") >> 20)) MiB"
[ $((avail * 4096)) -le $((back * $(stat -f -c %S "$B") + (16 << 20))) ] ||
	dx_fail "statfs reports $avail blocks, more than the backing tmpfs has"
# the big write: ENOSPC, not a dead daemon
dd if=/dev/zero of="$DX_MNT/big" bs=1M count=64 2>"$DX_TMP/dd.err"
rc=$?
dx_log "64 MiB write: status $rc: $(tail -n 3 "$DX_TMP/dd.err" | tr '\n' ' ')"
[ "$rc" != 0 ] || dx_fail "a 64 MiB write into a 32 MiB tmpfs succeeded"
grep -q "No space left on device" "$DX_TMP/dd.err" || dx_fail "the big write did not fail with ENOSPC"
kill -0 "$DX_PID" 2>/dev/null || dx_fail "the daemon died"
dx_mounted "$DX_MNT" || dx_fail "the mount is gone"
[ "$(cat "$DX_MNT/small")" = hello ] || dx_fail "small file unreadable after ENOSPC"
cmp -s "$DX_TMP/data4" "$DX_MNT/keep" || dx_fail "4 MiB file differs after ENOSPC"
# more small files and a fallocate: ENOSPC or success, never a crash
for i in $(seq 1 50); do echo "$i" >"$DX_MNT/f$i" 2>/dev/null || break; done
fallocate -l 64M "$DX_MNT/falloc" 2>/dev/null && dx_fail "fallocate of 64 MiB succeeded"
kill -0 "$DX_PID" 2>/dev/null || dx_fail "the daemon died after creates and fallocate"
# space freed in the pool is written again
rm -f "$DX_MNT/big" "$DX_MNT/falloc"
head -c $((4 << 20)) /dev/urandom >"$DX_TMP/data4b"
cp "$DX_TMP/data4b" "$DX_MNT/again" || dx_fail "write into freed space"
cmp -s "$DX_TMP/data4b" "$DX_MNT/again" || dx_fail "rewritten file differs"
dx_umount
dx_fsck
# and it mounts again
dx_mount
cmp -s "$DX_TMP/data4" "$DX_MNT/keep" || dx_fail "4 MiB file differs after a remount"
dx_umount
rm -f "$DX_POOL"

# -P: the whole pool reserved, or a failure that leaves nothing
"$DX_MKFS" -q -P -s 16M "$DX_POOL" 2>"$DX_TMP/err" || dx_fail "mkfs -P -s 16M: $(cat "$DX_TMP/err")"
[ -s "$DX_TMP/err" ] && dx_fail "mkfs -P warned: $(cat "$DX_TMP/err")"
[ $(($(stat -c %b "$DX_POOL") * 512)) -ge $((16 << 20)) ] || dx_fail "mkfs -P did not reserve the pool"
rm -f "$DX_POOL"
"$DX_MKFS" -q -P -s 256M "$DX_POOL" 2>"$DX_TMP/err" && dx_fail "mkfs -P of 256 MiB on 32 MiB succeeded"
dx_log "mkfs -P -s 256M: $(cat "$DX_TMP/err")"
grep -q "free" "$DX_TMP/err" || dx_fail "mkfs -P does not say how much is free"
[ -e "$DX_POOL" ] && dx_fail "failed mkfs -P left the pool file"
dx_pass
