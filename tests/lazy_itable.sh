#!/bin/bash
# SPDX-License-Identifier: MIT
# The inode table is initialised lazily (issue 14, 9): a large sparse pool
# costs little memory after mkfs, mkfs -f, a mount and fsck; the table's
# high-water mark moves up as inodes are made and survives a remount; a
# damaged mark refuses the mount and fsck -y rebuilds it.  (A 64 GiB pool on
# /dev/shm used to hold 1.1 GiB after mkfs -f or a mount.)
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK" "$DAXFS_BUILD/tests/dx-poke"
dx_watchdog 300
POKE=$DAXFS_BUILD/tests/dx-poke

# The metadata a 64 GiB pool must have backed: a 64 MiB journal, 4 MiB of
# mapping records, a 2 MiB bitmap and (reflink, the default) 32 MiB of
# reference counts, two bytes a block; its 1 GiB inode table is not among
# it.
LIMIT=$(((100 << 20) + (64 << 30) / 4096 * 2))
held() {
	local bytes=$(($(stat -c %b "$DX_POOL") * 512))
	dx_log "$1: the 64 GiB pool holds $((bytes >> 20)) MiB"
	[ "$bytes" -lt "$LIMIT" ] || dx_fail "$1: the pool holds $bytes bytes (limit $LIMIT)"
}

dx_mkfs 64G -q
held "after mkfs"
dx_mkfs 64G -q
held "after mkfs -f"
dx_mount
held "after the mount"
# More inodes than the first granules of the table hold, in three directories
for d in a b c; do
	mkdir "$DX_MNT/$d" || dx_fail "mkdir $d"
	for i in $(seq 1 100); do
		echo "$d$i" >"$DX_MNT/$d/f$i" || dx_fail "create $d/f$i"
	done
done
rm "$DX_MNT"/b/f1* || dx_fail "rm"
used=$(stat -f -c '%c %d' "$DX_MNT" | awk '{ print $1 - $2 }')
dx_umount
held "after 300 creates"
mark=$(($("$POKE" "$DX_POOL" get sb.itable_mark) & 0xffffffff))
dx_log "inodes in use: $used; high-water mark: $mark"
[ "$mark" -ge "$used" ] && [ "$mark" -lt $((used + 128)) ] ||
	dx_fail "high-water mark $mark does not follow the $used inodes in use"
dx_fsck

check_tree() {
	local d i n
	for d in a b c; do
		for i in $(seq 1 100); do
			case "$d$i" in b1 | b1[0-9] | b100) continue ;; esac
			[ "$(cat "$DX_MNT/$d/f$i")" = "$d$i" ] || dx_fail "$1: $d/f$i lost"
		done
	done
	n=$(find "$DX_MNT" | wc -l)
	[ "$n" = $((1 + 3 + 300 - 12)) ] || dx_fail "$1: $n objects in the tree"
}
dx_mount
check_tree "after a remount"
# the freed slots are reused before the table grows
for i in $(seq 1 12); do echo new >"$DX_MNT/b/new$i" || dx_fail "create b/new$i"; done
dx_umount
mark2=$(($("$POKE" "$DX_POOL" get sb.itable_mark) & 0xffffffff))
[ "$mark2" = "$mark" ] || dx_fail "the mark moved from $mark to $mark2 with free slots below it"
dx_fsck
held "after fsck"

# A damaged mark: the mount refuses it, fsck -y rebuilds it
"$POKE" "$DX_POOL" set sb.itable_mark 0x12345 || dx_fail "dx-poke"
"$DX_DAEMON" -f "$DX_POOL" "$DX_MNT" >"$DX_TMP/out" 2>&1 && dx_fail "a damaged mark mounted"
dx_log "damaged mark: $(cat "$DX_TMP/out")"
grep -q "high-water mark" "$DX_TMP/out" || dx_fail "the refusal does not name the mark"
"$DX_FSCK" -n "$DX_POOL" >"$DX_TMP/out" 2>&1
rc=$?
[ "$rc" = 4 ] || dx_fail "fsck -n of a damaged mark: status $rc: $(cat "$DX_TMP/out")"
"$DX_FSCK" -y "$DX_POOL" >"$DX_TMP/out" 2>&1
rc=$?
[ "$rc" = 1 ] || dx_fail "fsck -y of a damaged mark: status $rc: $(cat "$DX_TMP/out")"
dx_log "fsck -y: $(grep -i mark "$DX_TMP/out")"
dx_fsck
dx_mount
rm -f "$DX_MNT"/b/new*
check_tree "after fsck -y rebuilt the mark"
dx_umount
dx_fsck
dx_pass
