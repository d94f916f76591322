#!/bin/bash
# SPDX-License-Identifier: MIT
# fsck.daxfs from the command line: the e2fsck exit codes (0 clean, 1 fixed,
# 4 left uncorrected, 8 operational error, 16 usage), -n changing nothing,
# -p stopping where it must, a mounted pool refused; -n on a read-only
# mounted pool allowed; on a reflink pool, a wrong reference count of a
# block shared through copy_file_range or of a free block.
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK"
dx_watchdog 240

T=$DX_TMP

# fsck WANT ARGS...: run fsck.daxfs and expect exit status WANT
fsck() {
	local want=$1 rc
	shift
	"$DX_FSCK" "$@" >"$T/fsck.out" 2>"$T/fsck.err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		cat "$T/fsck.out" "$T/fsck.err"
		dx_fail "fsck.daxfs $*: exit status $rc, expected $want"
	fi
	dx_log "ok: fsck.daxfs $* -> $rc"
}

# u64 OFFSET: the little-endian 64-bit number at OFFSET of the pool
u64() {
	od -An -tu8 -j "$1" -N8 "$DX_POOL" | tr -d ' '
}

# put32 OFFSET VALUE: store a little-endian 32-bit number into the pool
put32() {
	local v=$2
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((v & 255)) $((v >> 8 & 255)) \
		$((v >> 16 & 255)) $((v >> 24 & 255)))" |
		dd of="$DX_POOL" bs=1 seek="$1" conv=notrunc status=none
}

# put8 OFFSET VALUE
put8() {
	printf "$(printf '\\%03o' "$2")" | dd of="$DX_POOL" bs=1 seek="$1" conv=notrunc status=none
}

# put16 OFFSET VALUE
put16() {
	printf "$(printf '\\%03o\\%03o' $(($2 & 255)) $(($2 >> 8 & 255)))" |
		dd of="$DX_POOL" bs=1 seek="$1" conv=notrunc status=none
}

# Superblock fields (lib/format.h, struct dx_super).
sb_field() {
	case $1 in
	nblocks) u64 96 ;;
	itable_blk) u64 136 ;;
	bitmap_blk) u64 152 ;;
	refc_blk) u64 192 ;;
	esac
}

# refc_off BLOCK: pool offset of the block's reference count (reflink)
refc_off() {
	echo $(($(sb_field refc_blk) * 4096 + $1 * 2))
}

# refc BLOCK: the block's reference count
refc() {
	od -An -tu2 -j "$(refc_off "$1")" -N2 "$DX_POOL" | tr -d ' '
}

# first_shared: the first block with a reference count, if any
first_shared() {
	od -An -tu2 -v -w2 -j "$(refc_off 0)" -N $(($(sb_field nblocks) * 2)) "$DX_POOL" |
		awk '$1 != 0 { print NR - 1; exit }'
}

# inode_off INO: pool offset of the inode slot
inode_off() {
	echo $(($(sb_field itable_blk) * 4096 + ($1 - 1) * 256))
}

# Mark the pool's last block (free on a fresh pool) in use in the bitmap.
leak_last_block() {
	local last byte off
	last=$(($(sb_field nblocks) - 1))
	off=$(($(sb_field bitmap_blk) * 4096 + last / 8))
	byte=$(od -An -tu1 -j "$off" -N1 "$DX_POOL" | tr -d ' ')
	put8 "$off" $((byte | 1 << (last % 8)))
}

# ---- usage errors: 16; help and version: 0 ----
fsck 16
fsck 16 -n -y "$T/x"
fsck 16 -p -n "$T/x"
fsck 16 -Q "$T/x"
fsck 16 -n "$T/x" "$T/y"
fsck 0 -h
grep -q "Usage" "$T/fsck.out" || dx_fail "-h prints no usage"
fsck 0 -V
grep -q "fsck.daxfs" "$T/fsck.out" || dx_fail "-V prints no version"

# ---- operational errors: 8 ----
fsck 8 -n "$T/does-not-exist"
head -c 1048576 /dev/zero >"$T/zeros"
fsck 8 -n "$T/zeros"
grep -q "not a daxfs pool" "$T/fsck.err" || dx_fail "no reason given for a foreign file"

# ---- a fresh pool is clean in every mode ----
dx_mkfs 64M -q
cp "$DX_POOL" "$T/orig"
fsck 0 -n "$DX_POOL"
grep -q "; clean$" "$T/fsck.out" || dx_fail "no 'clean' summary: $(cat "$T/fsck.out")"
fsck 0 -n -f -v "$DX_POOL"
grep -q "pass 5" "$T/fsck.out" || dx_fail "-v shows no passes"
fsck 0 -y "$DX_POOL"
fsck 0 -p "$DX_POOL"
fsck 0 -a -f "$DX_POOL"
cmp -s "$T/orig" "$DX_POOL" || dx_fail "checking a clean pool changed it"

# a damaged superblock: operational error, pool untouched
put8 40 65
cp "$DX_POOL" "$T/orig"
fsck 8 -y "$DX_POOL"
grep -q "checksum" "$T/fsck.err" || dx_fail "no checksum message: $(cat "$T/fsck.err")"
cmp -s "$T/orig" "$DX_POOL" || dx_fail "fsck -y wrote to a pool with a bad superblock"

# ---- a used pool, and the same pool while mounted ----
dx_mkfs 64M -q
dx_mount
dx_tree_build "$DX_MNT"
file_ino=$(stat -c %i "$DX_MNT/a/hello.txt")
fsck 8 -n "$DX_POOL"
grep -q "in use" "$T/fsck.err" || dx_fail "mounted pool: no 'in use' message: $(cat "$T/fsck.err")"
fsck 8 -y "$DX_POOL"
dx_umount
# read-only mounted: -n checks it (as e2fsck -n does), a repair is refused
dx_mount ro
fsck 0 -n "$DX_POOL"
grep -q clean "$T/fsck.out" || dx_fail "fsck -n on a read-only mount: $(cat "$T/fsck.out")"
fsck 8 -y "$DX_POOL"
grep -q "in use" "$T/fsck.err" || dx_fail "ro-mounted pool: -y gives no 'in use' message"
fsck 8 -p "$DX_POOL"
dx_umount
cp "$DX_POOL" "$T/orig"
fsck 0 -n "$DX_POOL"
fsck 0 -y "$DX_POOL"
cmp -s "$T/orig" "$DX_POOL" || dx_fail "fsck -y changed a clean used pool"

# ---- a safe problem: 4 with -n (no change), 1 with -y and with -p ----
leak_last_block
cp "$DX_POOL" "$T/orig"
fsck 4 -n "$DX_POOL"
grep -q "free blocks are marked in use" "$T/fsck.out" || dx_fail "-n did not name the problem"
cmp -s "$T/orig" "$DX_POOL" || dx_fail "fsck -n changed the pool"
fsck 1 -y "$DX_POOL"
fsck 0 -n "$DX_POOL"
leak_last_block
put32 $(($(inode_off 1) + 4)) 42	# the root's link count
fsck 1 -p "$DX_POOL"
fsck 0 -n "$DX_POOL"

# ---- a problem preen must not fix alone: 4 with -p (no change), then -y ----
put32 "$(inode_off "$file_ino")" $((0170000 | 0644))	# no such file type
cp "$DX_POOL" "$T/orig"
fsck 4 -p "$DX_POOL"
grep -q "UNEXPECTED INCONSISTENCY" "$T/fsck.out" || dx_fail "-p did not say why it stopped"
cmp -s "$T/orig" "$DX_POOL" || dx_fail "fsck -p changed the pool before stopping"
fsck 1 -y "$DX_POOL"
fsck 0 -n "$DX_POOL"

# the repaired pool mounts, and the lost file's name is gone
dx_mount
[ -e "$DX_MNT/a/hello.txt" ] && dx_fail "the cleared inode still has its name"
[ -f "$DX_MNT/pieces" ] || dx_fail "the rest of the tree is gone"
dx_umount
fsck 0 -n "$DX_POOL"

# ---- reflink: blocks shared through copy_file_range, and their counts ----
dx_mkfs 64M -q
[ "$(sb_field refc_blk)" != 0 ] || dx_fail "a default pool has no reference-count table"
dx_mount
head -c 65536 /dev/urandom >"$DX_MNT/orig"
python3 - "$DX_MNT/orig" "$DX_MNT/copy" <<'PY' || dx_fail "copy_file_range through the mount failed"
import os, sys
i = os.open(sys.argv[1], os.O_RDONLY)
o = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
n, off = os.fstat(i).st_size, 0
while off < n:
    off += os.copy_file_range(i, o, n - off, off, off)
PY
cmp -s "$DX_MNT/orig" "$DX_MNT/copy" || dx_fail "the copy differs"
orig_ino=$(stat -c %i "$DX_MNT/orig")
dx_umount
fsck 0 -n "$DX_POOL"
shared=$(first_shared)
[ -n "$shared" ] && [ "$(refc "$shared")" = 1 ] ||
	dx_fail "copy_file_range shared no block (first count at '${shared}')"
# the count zeroed: 4 with -n (no change), 1 with -y, then clean
put16 "$(refc_off "$shared")" 0
cp "$DX_POOL" "$T/orig"
fsck 4 -n "$DX_POOL"
grep -q "block $shared: reference count 0, but 2 extents share it (inode $orig_ino and others)" \
	"$T/fsck.out" || dx_fail "-n did not name the shared block: $(cat "$T/fsck.out")"
cmp -s "$T/orig" "$DX_POOL" || dx_fail "fsck -n changed the pool"
fsck 1 -y "$DX_POOL"
fsck 0 -n "$DX_POOL"
[ "$(refc "$shared")" = 1 ] || dx_fail "fsck -y did not restore the count"
# a count on a free block: preen fixes it
last=$(($(sb_field nblocks) - 1))
put16 "$(refc_off "$last")" 7
fsck 4 -n "$DX_POOL"
grep -q "block $last: reference count 7, but it is free" "$T/fsck.out" ||
	dx_fail "-n did not name the free block: $(cat "$T/fsck.out")"
fsck 1 -p "$DX_POOL"
fsck 0 -n "$DX_POOL"
[ "$(refc "$last")" = 0 ] || dx_fail "fsck -p did not clear the count"
dx_mount
cmp -s "$DX_MNT/orig" "$DX_MNT/copy" || dx_fail "the copy differs after the repairs"
dx_umount
dx_pass
