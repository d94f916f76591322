#!/bin/bash
# SPDX-License-Identifier: MIT
# Crafted images (issue 12): a pool whose metadata points somewhere wild
# must never crash, hang or write out of bounds.  A damaged global
# structure refuses the mount with a message and leaves the pool as it was;
# a damaged per-file structure fails the calls that meet it with EUCLEAN
# (or EIO), logs the inode and structure, marks the pool as needing fsck and
# (errors=remount-ro, the default) refuses later changes with EROFS while
# reads go on.  fsck.daxfs -y then repairs the pool and clears the mark.
. "$(dirname "$0")/lib.sh"
dx_need_root
POKE=$DAXFS_BUILD/tests/dx-poke
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK" "$DX_CTL" "$POKE"
command -v getfattr >/dev/null || dx_skip "getfattr is not installed"
dx_watchdog 840

T=$DX_TMP
GOOD=$T/good
BAD=$T/bad

poke() { "$POKE" "$@" || dx_fail "dx-poke $*"; }

# ---- a small pool with one of each structure ----
DX_POOL=$GOOD
dx_mkfs 16M
dx_mount
(
	set -e
	cd "$DX_MNT"
	mkdir d
	echo hello >d/f
	head -c 16384 /dev/urandom >d/big
	ln -s some-target d/l
	echo x >d/x
	setfattr -n user.colour -v blue d/x
	# every other block: 8 extents, so an extent block in its chain
	for i in 0 1 2 3 4 5 6 7; do
		head -c 4096 /dev/urandom |
			dd of=d/frag bs=4096 seek=$((2 * i)) conv=notrunc status=none
	done
	# two directories grown in turn: neither's blocks are contiguous, so
	# each has more extents than the inode holds
	mkdir d1 d2
	for i in $(seq 1 80); do
		: >"d1/e$i"
		: >"d2/e$i"
	done
) || dx_fail "building the pool failed"
dx_umount
"$DX_FSCK" -n -f "$GOOD" >/dev/null || dx_fail "the good pool is not clean"

F=$("$POKE" "$GOOD" lookup /d/f)
X=$("$POKE" "$GOOD" lookup /d/x)
L=$("$POKE" "$GOOD" lookup /d/l)
FRAG=$("$POKE" "$GOOD" lookup /d/frag)
D=$("$POKE" "$GOOD" lookup /d)
D1=$("$POKE" "$GOOD" lookup /d1)
ITABLE=$("$POKE" "$GOOD" get sb.itable_blk)
DATA=$("$POKE" "$GOOD" get sb.data_blk)
[ "$("$POKE" "$GOOD" get inode.$FRAG.ext_next)" != 0 ] || dx_fail "frag has no extent block"
[ "$("$POKE" "$GOOD" get inode.$D1.ext_next)" != 0 ] || dx_fail "d1 has no extent block"

# refuse NAME: the daemon must refuse $BAD with a message, unchanged
refuse() {
	local name=$1 rc
	cp "$BAD" "$T/orig"
	DX_POOL=$BAD
	dx_refused "$name" "$BAD" "$T/out" "$T/out" "the pool was not refused"
	rc=$DX_RC
	dx_log "$name: refused with status $rc: $(head -c 300 "$T/out" | tr '\n' ' ')"
	[ "$rc" != 0 ] && [ "$rc" -lt 128 ] || dx_fail "$name: exit status $rc"
	grep -q "fsck\|inconsistent\|damaged\|flags" "$T/out" || dx_fail "$name: no clear message"
	cmp -s "$T/orig" "$BAD" || dx_fail "$name: the refused pool was modified"
}

# walk: every kind of access, each bounded in time; output in $T/walk
walk() {
	local m=$DX_MNT
	{
		timeout -s KILL 30 ls -lR "$m"
		timeout -s KILL 30 find "$m" -type f -exec cat {} + >/dev/null
		timeout -s KILL 30 find "$m" -type l -exec readlink {} +
		timeout -s KILL 30 getfattr -R -d "$m"
		timeout -s KILL 30 find "$m" -type f -exec truncate -s 0 {} +
		timeout -s KILL 30 rm -rf "$m/d" "$m/d1"
	} >"$T/walk" 2>&1
	grep -q "Killed" "$T/walk" && return 1
	return 0
}

# info_state STATE WHAT: daxfsctl info on the mount says STATE (its
# "state:" line starts with it: "clean" or "needs fsck")
info_state() {
	"$DX_CTL" info "$DX_MNT" >"$T/info" 2>&1 || dx_fail "$2: daxfsctl info: $(cat "$T/info")"
	grep -q "^state: *$1" "$T/info" ||
		dx_fail "$2: daxfsctl info does not say '$1': $(grep state "$T/info")"
}

# corrupt NAME [OPTS]: mount $BAD, walk it, and check the outcome
corrupt() {
	local name=$1 opts=${2:-} mode
	DX_POOL=$BAD
	: >"$DX_TMP/daemon.log"
	dx_mount "$opts"
	walk || dx_fail "$name: an access hung ($(tail -n 3 "$T/walk" | tr '\n' ' '))"
	kill -0 "$DX_PID" 2>/dev/null || dx_fail "$name: the daemon died"
	stat "$DX_MNT" >/dev/null || dx_fail "$name: the mount stopped answering"
	grep -q "Structure needs cleaning\|Input/output error" "$T/walk" ||
		dx_fail "$name: no access failed with EUCLEAN or EIO"
	grep -q "corrupt" "$DX_TMP/daemon.log" || dx_fail "$name: nothing logged"
	dx_log "$name: $(grep -m1 corrupt "$DX_TMP/daemon.log")"
	mode=${opts#errors=}
	if [ "${mode:-remount-ro}" = remount-ro ]; then
		touch "$DX_MNT/new" 2>"$T/err" && dx_fail "$name: a change was allowed after the error"
		grep -q "Read-only file system" "$T/err" || dx_fail "$name: $(cat "$T/err")"
		ls "$DX_MNT" >/dev/null || dx_fail "$name: reads stopped after the error"
	else
		touch "$DX_MNT/new" || dx_fail "$name: errors=continue refused a change"
	fi
	info_state "needs fsck" "$name"
	dx_umount
	[ "$("$POKE" "$BAD" get sb.flags)" = 1 ] || dx_fail "$name: the pool is not marked as needing fsck"
	"$DX_FSCK" -n -f "$BAD" >/dev/null && dx_fail "$name: fsck -n calls the marked pool clean"
	"$DX_FSCK" -y -f "$BAD" >"$T/fsck" 2>&1
	"$DX_FSCK" -n -f "$BAD" >"$T/fsck" 2>&1 || dx_fail "$name: not clean after fsck -y: $(cat "$T/fsck")"
	[ "$("$POKE" "$BAD" get sb.flags)" = 0 ] || dx_fail "$name: fsck -y left the mark"
}

fresh() { cp "$GOOD" "$BAD"; }

# ---- global structures: refused at mount ----
fresh
poke "$BAD" set sb.nblocks $(((1 << 52) + 4096))
poke "$BAD" set sb.bitmap_blocks $(((1 << 37) + 1))
poke "$BAD" set sb.data_blk $(($("$POKE" "$BAD" get sb.bitmap_blk) + (1 << 37) + 1))
refuse "superblock with 2^52+4096 blocks and a fixed-up checksum"
fresh
poke "$BAD" set sb.journal_blocks 1
poke "$BAD" set sb.maprec_blk 2
refuse "superblock with a one-block journal"
fresh
poke "$BAD" set sb.flags 0x80
refuse "superblock with an unknown flag"
fresh
poke "$BAD" set maprec.0.kind 2
poke "$BAD" set maprec.0.pblk "$DATA"
poke "$BAD" set maprec.0.nblocks $((1 << 40))
refuse "quarantine record 2^40 blocks long"
fresh
poke "$BAD" set maprec.3.kind 1
poke "$BAD" set maprec.3.ino 99999999
poke "$BAD" set maprec.3.pblk "$DATA"
poke "$BAD" set maprec.3.nblocks 1
refuse "mapping record of an inode past the table"
fresh
poke "$BAD" set maprec.5.kind 7
refuse "mapping record of an unknown kind"
fresh
poke "$BAD" set inode.1.mode 0
refuse "free root inode"

# ---- per-file structures: EUCLEAN at the access, the rest served ----
fresh
poke "$BAD" set extent.$F.pblk $((1 << 40))
corrupt "extent past the pool"
fresh
poke "$BAD" set extent.$F.pblk "$ITABLE"
corrupt "extent over the inode table"
fresh
poke "$BAD" set extent.$F.len $((1 << 31))
corrupt "extent too long for the journal"
fresh
poke "$BAD" set inode.$X.xattr_blk $((1 << 40))
corrupt "xattr block pointer past the pool"
fresh
poke "$BAD" set chain.$FRAG.0.next "$("$POKE" "$GOOD" get inode.$FRAG.ext_next)"
corrupt "extent chain looping on itself"
fresh
poke "$BAD" set inode.$FRAG.ext_next $((1 << 50))
corrupt "extent chain pointer past the pool"
fresh
poke "$BAD" set chain.$D1.0.next "$("$POKE" "$GOOD" get inode.$D1.ext_next)"
corrupt "directory extent chain looping on itself"
fresh
poke "$BAD" set dirent.$D.f.ino $((1 << 40))
corrupt "directory entry with an inode number past the table"
fresh
poke "$BAD" set dirent.$D.f.name_len 0
corrupt "directory entry with an empty name"
fresh
poke "$BAD" set inode.$L.size $((1 << 40))
corrupt "symlink 2^40 bytes long"
fresh
poke "$BAD" set inode.$F.mode 0170644
corrupt "inode of an unknown type"
# the other policy: errors=continue keeps accepting changes
fresh
poke "$BAD" set inode.$X.xattr_blk 1
corrupt "xattr block in the journal, errors=continue" errors=continue

# errors=panic stops the daemon at the first damaged structure
fresh
poke "$BAD" set extent.$F.pblk $((1 << 40))
DX_POOL=$BAD
: >"$DX_TMP/daemon.log"
dx_mount errors=panic
getfattr -d "$DX_MNT/d/f" >/dev/null 2>&1
cat "$DX_MNT/d/f" >/dev/null 2>&1 && dx_fail "errors=panic: the damaged file was read"
for i in $(seq 1 100); do
	kill -0 "$DX_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$DX_PID" 2>/dev/null && dx_fail "errors=panic: the daemon kept running"
wait "$DX_PID"
DX_PID=
fusermount3 -uz "$DX_MNT" 2>/dev/null
[ "$("$POKE" "$BAD" get sb.flags)" = 1 ] || dx_fail "errors=panic: the pool is not marked"
dx_log "errors=panic: the daemon stopped, the pool is marked"
# a mount of a marked pool says so before it finds anything itself
dx_mount
info_state "needs fsck" "a marked pool mounted again"
grep -q "read-only" "$T/info" && dx_fail "a marked pool is read-only before any damage is found"
dx_umount

# the good pool is still fine
DX_POOL=$GOOD
dx_mount
[ "$(cat "$DX_MNT/d/f")" = hello ] || dx_fail "the good pool lost d/f"
info_state "clean" "the good pool"
dx_umount
dx_pass
