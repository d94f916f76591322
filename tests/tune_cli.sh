#!/bin/bash
# SPDX-License-Identifier: MIT
# tune.daxfs: the superblock of an unmounted pool in text and JSON (label,
# UUID, geometry (with the reference counts of reflink), state, features and
# the checksum seed, free counts as the mount's statfs has them, the
# needs-fsck mark), label and UUID changes that the mount then shows, and
# every refusal changing nothing: a pool mounted read-write or read-only,
# a bad UUID, a label too long.  The crash safety of a change is
# unit-tune's.
. "$(dirname "$0")/lib.sh"
dx_need_root
DX_TUNE=$DAXFS_BUILD/tools/tune/tune.daxfs
POKE=$DAXFS_BUILD/tests/dx-poke
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_TUNE" "$DX_CTL" "$DX_FSCK" "$POKE"
command -v jq >/dev/null || dx_skip "jq missing (scripts/common.sh installs it)"
dx_watchdog 180

T=$DX_TMP
j() {
	jq -r "$1" "$T/sb.json" || dx_fail "jq '$1' on $(cat "$T/sb.json")"
}
expect() {
	[ "$2" = "$3" ] || dx_fail "$1: '$2', expected '$3'"
	dx_log "ok: $1 = $3"
}
dump() {
	"$DX_TUNE" --json "$DX_POOL" >"$T/sb.json" || dx_fail "tune.daxfs --json failed"
}
# refused WHAT STATUS ARGS...: tune.daxfs ARGS fails with STATUS, pool unchanged
refused() {
	local what=$1 want=$2 rc
	shift 2
	cp --sparse=always "$DX_POOL" "$T/before"
	"$DX_TUNE" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = "$want" ] || dx_fail "$what: status $rc, expected $want ($(cat "$T/err"))"
	cmp -s "$T/before" "$DX_POOL" || dx_fail "$what changed the pool"
	dx_log "ok: $what refused ($rc): $(cat "$T/err")"
}

dx_mkfs 64M -L first >"$T/mkfs.out"
uuid=$(awk '/UUID/ { print $2 }' "$T/mkfs.out")
"$DX_TUNE" "$DX_POOL" >"$T/sb.txt" || dx_fail "tune.daxfs POOL"
grep -q "^Label: *first$" "$T/sb.txt" || dx_fail "text: no label line: $(cat "$T/sb.txt")"
grep -q "^UUID: *$uuid$" "$T/sb.txt" || dx_fail "text: no UUID line"
grep -q "^State: *clean$" "$T/sb.txt" || dx_fail "text: not clean"
grep -q "^Features: *metadata_csum,reflink$" "$T/sb.txt" ||
	dx_fail "text: not the default features: $(grep Features "$T/sb.txt")"
grep -q "^Checksum type: *crc32c$" "$T/sb.txt" || dx_fail "text: no checksum type"
grep -q "^  features: *metadata_csum,reflink$" "$T/mkfs.out" || dx_fail "mkfs: no features line"
dump
expect features "$(jq -c .features "$T/sb.json")" '["metadata_csum","reflink"]'
# the reference counts (reflink) sit between the bitmap and the data
expect refc_blk "$(j .refc_blk)" $(($(j .bitmap_blk) + $(j .bitmap_blocks)))
expect refc_blocks "$(j .refc_blocks)" 8
expect "data_blk after the reference counts" "$(j .data_blk)" $(($(j .refc_blk) + 8))
grep -q "^Reference counts: *$(j .refc_blk)-$(($(j .refc_blk) + 7)) (8 blocks)$" "$T/sb.txt" ||
	dx_fail "text: no reference-count line: $(grep -i reference "$T/sb.txt")"
seed=$(j .csum_seed)
[ "$seed" != null ] || dx_fail "no csum_seed with metadata_csum"
grep -q "^Checksum seed: *$(printf '0x%08x' "$seed")$" "$T/sb.txt" ||
	dx_fail "text: checksum seed is not $seed"
expect label "$(j .label)" first
expect uuid "$(j .uuid)" "$uuid"
expect size "$(j .size)" $((64 << 20))
expect block_size "$(j .block_size)" 4096
expect blocks "$(j .blocks)" 16384
expect state "$(j .state)" clean
expect in_use "$(j .in_use)" false
expect needs_fsck "$(j .needs_fsck)" false
expect last_mount_time "$(jq -c .last_mount_time "$T/sb.json")" null
[ "$(j .mkfs_time)" -gt 1600000000 ] || dx_fail "mkfs_time $(j .mkfs_time)"
inodes=$(j .inodes)

# the counts are those the mount's statfs shows
dx_mount
mkdir "$DX_MNT/d"
head -c 300000 /dev/urandom >"$DX_MNT/d/f"
touch "$DX_MNT/e" "$DX_MNT/d/g"
read -r bfree ffree < <(stat -f -c '%f %d' "$DX_MNT")
# read while mounted: allowed, marked in use
dump
expect "in_use while mounted" "$(j .in_use)" true
refused "a change while mounted read-write" 1 -L nope "$DX_POOL"
grep -q "in use" "$T/err" || dx_fail "no 'in use' in the refusal"
dx_umount
dump
expect free_blocks "$(j .free_blocks)" "$bfree"
expect free_inodes "$(j .free_inodes)" "$ffree"
expect "used inodes" $((inodes - $(j .free_inodes))) 5

# a read-only mount shares the pool with a reader, not with a change
dx_mount ro
refused "a change while mounted read-only" 1 -U random "$DX_POOL"
dx_umount

# changes, then the mount shows them
new=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0
"$DX_TUNE" -L "label two" -U "$new" "$DX_POOL" >"$T/out" || dx_fail "tune -L -U"
dump
expect "label after -L" "$(j .label)" "label two"
expect "uuid after -U" "$(j .uuid)" "$new"
# the checksums' seed is fixed by mkfs: a new UUID leaves every crc valid
expect "csum_seed after -U" "$(j .csum_seed)" "$seed"
"$DX_FSCK" -n "$DX_POOL" >/dev/null || dx_fail "fsck -n after the change"
dx_mount
"$DX_CTL" info --json "$DX_MNT" >"$T/info.json" || dx_fail "daxfsctl info"
expect "mount's label" "$(jq -r .label "$T/info.json")" "label two"
expect "mount's uuid" "$(jq -r .uuid "$T/info.json")" "$new"
[ "$(cat "$DX_MNT/d/f" | wc -c)" = 300000 ] || dx_fail "data after the change"
dx_umount
"$DX_TUNE" -U random "$DX_POOL" || dx_fail "-U random"
dump
v=$(j .uuid)
[ "${v:14:1}" = 4 ] && [ "$v" != "$new" ] || dx_fail "-U random gave $v"
"$DX_TUNE" -U time -L "" "$DX_POOL" || dx_fail "-U time"
dump
v=$(j .uuid)
[ "${v:14:1}" = 1 ] || dx_fail "-U time gave $v (not version 1)"
expect "label after -L ''" "$(j .label)" ""
"$DX_TUNE" -l -L back "$DX_POOL" | grep -q "^Label: *back$" || dx_fail "-l after a change"

# hostile arguments
refused "a bad UUID" 2 -U 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fZ "$DX_POOL"
refused "a short UUID" 2 -U 0f1e2d3c "$DX_POOL"
refused "a 64-byte label" 2 -L "$(head -c 64 /dev/zero | tr '\0' x)" "$DX_POOL"
refused "no pool" 2 -L x
refused "a missing pool" 1 -L x "$T/none"
echo "not a pool" >"$T/junk"
"$DX_TUNE" "$T/junk" 2>"$T/err" && dx_fail "tune.daxfs on a non-pool succeeded"
dx_log "non-pool: $(cat "$T/err")"

# mkfs -f over a used pool: slots above the inode table's high-water mark
# still hold the old inodes; they are free and not counted as used
dx_mount
mkdir "$DX_MNT/many" && for i in $(seq 1 200); do : >"$DX_MNT/many/f$i"; done ||
	dx_fail "creating 200 files"
dx_umount
dx_mkfs 64M -q
dump
expect "free_inodes after mkfs -f over 200 files" "$(j .free_inodes)" $(($(j .inodes) - 1))
[ "$(j .inodes_initialised)" -lt 200 ] || dx_fail "inodes_initialised $(j .inodes_initialised)"
dx_mount
expect "statfs free inodes" "$(stat -f -c %d "$DX_MNT")" "$(j .free_inodes)"
dx_umount

# a pool made without checksums says so
dx_mkfs 64M -O ^metadata_csum >"$T/mkfs.out"
grep -q "^  features: *reflink$" "$T/mkfs.out" || dx_fail "mkfs -O ^metadata_csum: features"
"$DX_TUNE" "$DX_POOL" | grep -q "^Features: *reflink$" || dx_fail "text: features without csums"
"$DX_TUNE" "$DX_POOL" | grep -q "^Checksum" && dx_fail "text: a checksum line without the feature"
dump
expect "features without metadata_csum" "$(jq -c .features "$T/sb.json")" '["reflink"]'
expect "csum_seed without metadata_csum" "$(j .csum_seed)" null
# and without reference counts, or without either
dx_mkfs 64M -O ^reflink >"$T/mkfs.out"
grep -q "^  features: *metadata_csum$" "$T/mkfs.out" || dx_fail "mkfs -O ^reflink: features"
"$DX_TUNE" "$DX_POOL" >"$T/sb.txt"
grep -q "^Features: *metadata_csum$" "$T/sb.txt" || dx_fail "text: features without reflink"
grep -q "^Reference counts" "$T/sb.txt" && dx_fail "text: reference counts without reflink"
dump
expect "features without reflink" "$(jq -c .features "$T/sb.json")" '["metadata_csum"]'
expect "refc_blk without reflink" "$(jq -c 'has("refc_blk")' "$T/sb.json")" false
expect "data_blk without reflink" "$(j .data_blk)" $(($(j .bitmap_blk) + $(j .bitmap_blocks)))
dx_mkfs 64M -O ^metadata_csum,^reflink >"$T/mkfs.out"
grep -q "^  features: *(none)$" "$T/mkfs.out" || dx_fail "mkfs -O ^metadata_csum,^reflink"
"$DX_TUNE" "$DX_POOL" | grep -q "^Features: *(none)$" || dx_fail "text: features of a plain pool"
dump
expect "features of a plain pool" "$(jq -c .features "$T/sb.json")" '[]'

# the needs-fsck mark shows, and fsck -y clears it
"$POKE" "$DX_POOL" set sb.flags 1 || dx_fail "dx-poke"
dump
expect "state when marked" "$(j .state)" needs_fsck
expect needs_fsck "$(j .needs_fsck)" true
"$DX_FSCK" -y "$DX_POOL" >/dev/null
dump
expect "state after fsck -y" "$(j .state)" clean
dx_pass
