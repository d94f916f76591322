#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs -o ro: everything reads, every change fails with EROFS, and the
# pool is byte for byte the same afterwards.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON"
dx_watchdog 200

T=$DX_TMP
dx_mkfs 64M
dx_mount
(
	set -e
	cd "$DX_MNT"
	mkdir d
	head -c 100000 /dev/urandom >d/file
	ln -s file d/link
	setfattr -n user.x -v 1 d/file
	mkfifo d/fifo
) || dx_fail "setting up the pool"
sum=$(sha256sum <"$DX_MNT/d/file")
dx_umount
cp --sparse=always "$DX_POOL" "$T/orig"

dx_mount ro
awk -v m="$DX_MNT" '$2 == m { print $4 }' /proc/mounts | grep -qE '(^|,)ro(,|$)' ||
	dx_fail "the mount is not read-only in /proc/mounts"
[ "$(sha256sum <"$DX_MNT/d/file")" = "$sum" ] || dx_fail "file content on the ro mount"
[ "$(readlink "$DX_MNT/d/link")" = file ] || dx_fail "readlink on the ro mount"
[ "$(getfattr --only-values -n user.x "$DX_MNT/d/file")" = 1 ] || dx_fail "getxattr on the ro mount"
ls -la "$DX_MNT/d" >/dev/null || dx_fail "readdir on the ro mount"
stat -f "$DX_MNT" >/dev/null || dx_fail "statfs on the ro mount"

# erofs NAME CMD...: CMD must fail with "Read-only file system"
erofs() {
	local name=$1
	shift
	if "$@" 2>"$T/err"; then
		dx_fail "$name succeeded on a read-only mount"
	fi
	grep -q 'Read-only file system' "$T/err" ||
		dx_fail "$name failed, but not with EROFS: $(cat "$T/err")"
	dx_log "ok: $name gives EROFS"
}
cd "$DX_MNT/d" || dx_fail "cd"
erofs "create" touch new
erofs "write" sh -c 'echo x >>file'
erofs "truncate" truncate -s 0 file
erofs "mkdir" mkdir sub
erofs "unlink" rm -f file
erofs "rmdir" rmdir "$DX_MNT/d"
erofs "rename" mv file file2
erofs "link" ln file hard
erofs "symlink" ln -s file link2
erofs "mknod" mkfifo fifo2
erofs "chmod" chmod 600 file
erofs "chown" chown 1:1 file
erofs "utimens" touch -d @1000000000 file
erofs "setxattr" setfattr -n user.y -v 2 file
erofs "removexattr" setfattr -x user.x file
erofs "fallocate" fallocate -l 1M file
cd / || dx_fail "cd /"
dx_umount
cmp -s "$T/orig" "$DX_POOL" || dx_fail "a read-only mount changed the pool"
dx_log "ok: pool unchanged by the read-only mount"
dx_pass
