#!/bin/bash
# SPDX-License-Identifier: MIT
# The error messages of daxfs, mkfs.daxfs, fsck.daxfs and daxfsctl name the
# object once, say what is wrong and, where there is something to do, what
# (issue 14, defect 5).  A refused command also changes nothing.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK" "$DX_CTL"
dx_watchdog 240

T=$DX_TMP

# expect NAME OBJECT TEXT CMD...: CMD fails (not by a signal), its stderr
# has TEXT, and names OBJECT exactly once
expect() {
	local name=$1 obj=$2 text=$3 rc n
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" != 0 ] || dx_fail "$name: accepted"
	[ "$rc" -lt 128 ] || dx_fail "$name: died by signal $((rc - 128))"
	grep -qF -- "$text" "$T/err" || { cat "$T/err"; dx_fail "$name: no '$text'"; }
	n=$(grep -oF -- "$obj" "$T/err" | wc -l)
	[ "$n" = 1 ] || { cat "$T/err"; dx_fail "$name: $obj named $n times"; }
	dx_log "ok: $name: $(head -n 1 "$T/err")"
}

# daxfs on a missing pool: the path once, and how to make one.
expect "missing pool" "$T/nopool" "$T/nopool: No such file or directory; mkfs.daxfs -s SIZE makes a pool" \
	"$DX_DAEMON" -f "$T/nopool" "$DX_MNT"

# Not a pool: daxfs and fsck.daxfs name it and point at mkfs.daxfs.
head -c 1M /dev/zero >"$T/zero"
expect "daxfs, bad magic" "$T/zero" "$T/zero: not a daxfs pool (no daxfs superblock); mkfs.daxfs makes one" \
	"$DX_DAEMON" -f "$T/zero" "$DX_MNT"
expect "fsck, bad magic" "$T/zero" "fsck.daxfs: $T/zero: not a daxfs pool" "$DX_FSCK" -n "$T/zero"
cmp -s "$T/zero" <(head -c 1M /dev/zero) || dx_fail "the refused file changed"

# mkfs.daxfs on a missing file without -s: what to give.
expect "mkfs, missing file" "$T/missing" "$T/missing does not exist: give its size with -s SIZE" \
	"$DX_MKFS" "$T/missing"
[ ! -e "$T/missing" ] || dx_fail "mkfs.daxfs left $T/missing behind"

dx_mkfs 64M
dx_mount
# A second daxfs and fsck on the pool in use: who holds it, where.
mkdir "$T/mnt2"
expect "daxfs, in use" "$DX_POOL" "$DX_POOL is in use by daxfs (pid $DX_PID, mounted on $DX_MNT)" \
	"$DX_DAEMON" -f "$DX_POOL" "$T/mnt2"
expect "fsck, in use" "$DX_POOL" "fsck.daxfs: $DX_POOL is in use by daxfs (pid $DX_PID" \
	"$DX_FSCK" -y "$DX_POOL"

# collapse and insert: which rule the range breaks.
F=$DX_MNT/f
head -c 100000 /dev/urandom >"$F"
sum=$(sha256sum <"$F")
expect "collapse, unaligned" "$F" "$F: offset 100 is not a multiple of the block size (4096)" \
	"$DX_CTL" collapse "$F" 100 4096
expect "collapse, unaligned length" "$F" "$F: length 100 is not a multiple of the block size" \
	"$DX_CTL" collapse "$F" 0 100
expect "collapse, past EOF" "$F" "$F: the range 4096+1048576 reaches the end of the file (100000 bytes)" \
	"$DX_CTL" collapse "$F" 4096 1M
expect "insert, past EOF" "$F" "$F: offset 200704 is at or past the end of the file (100000 bytes)" \
	"$DX_CTL" insert "$F" 200704 4096
# not a daxfs file: the same words as info
echo x >"$T/plain"
expect "collapse, not daxfs" "$T/plain" "daxfsctl: $T/plain: not on a daxfs mount" \
	"$DX_CTL" collapse "$T/plain" 0 4096
expect "info, not daxfs" "$T/plain" "daxfsctl: $T/plain: not on a daxfs mount" \
	"$DX_CTL" info "$T/plain"
for c in pins leases stats; do
	expect "$c, not daxfs" "$T/plain" "daxfsctl: $T/plain: not on a daxfs mount" \
		"$DX_CTL" "$c" "$T/plain"
done
expect "map, not daxfs" "$T/plain" "daxfsctl: $T/plain: not on a daxfs mount" \
	"$DX_CTL" map "$T/plain" 0 4096
expect "lease, not daxfs" "$T/plain" "daxfsctl: $T/plain: not on a daxfs mount" \
	"$DX_CTL" lease --hold 0 "$T/plain"

# dma past the end: refused before anything moves (with 1 MiB chunks the
# first two would fit in this 2.5 MiB file).
head -c $((2560 * 1024)) /dev/urandom >"$F"
sum=$(sha256sum <"$F")
head -c 4M /dev/urandom >"$T/src"
expect "dma past EOF" "$F" "$F: the range 0+4194304 reaches past the end of the file (2621440 bytes)" \
	"$DX_CTL" dma "$F" 0 4M --from "$T/src"
[ "$(sha256sum <"$F")" = "$sum" ] || dx_fail "dma past EOF changed the file"

# A mount whose daemon died: the hint to detach it, which then works.  (At
# once after the kill, while the kernel may still answer stat from its
# cache; a daemon that mounted over the dead mount is stopped by timeout.)
kill -KILL "$DX_PID"
wait "$DX_PID" 2>/dev/null
DX_PID=
expect "dead mount" "fusermount3 -u $DX_MNT" "$DX_MNT: a FUSE mount whose daemon is gone is still there; detach it with 'fusermount3 -u $DX_MNT'" \
	timeout 30 "$DX_DAEMON" -f "$DX_POOL" "$DX_MNT"
fusermount3 -u "$DX_MNT" || dx_fail "the hinted fusermount3 -u failed"
dx_mount
dx_umount
dx_pass
