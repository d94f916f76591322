#!/bin/bash
# SPDX-License-Identifier: MIT
# mount_reflink.sh - shared blocks through a real mount: daxfsctl clone and
# cp (copy_file_range) share without taking space, a write to either side
# never shows in the other, hostile clone arguments and user nobody on an
# allow_other mount change nothing they may not, a nearly full pool refuses
# the copy on write with ENOSPC and keeps both files, the sharing survives
# a remount and fsck finds the counts right; a pool without reflink refuses
# the clone without cutting the destination.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$DX_FSCK"
[ -x /usr/bin/python3 ] || dx_skip "/usr/bin/python3 missing (user nobody runs it)"
dx_watchdog 240

T=$DX_TMP
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
# CT ARGS / CT_NOBODY ARGS: the clone tool, its text on stdin (user nobody
# may not be able to read the source tree)
CT() { python3 - "$@" <"$DX_SRC/tests/clone_tool.py"; }
CT_NOBODY() { $NOBODY /usr/bin/python3 - "$@" <"$DX_SRC/tests/clone_tool.py"; }
M=$DX_MNT
# free_blocks: the mount's free 4 KiB blocks
free_blocks() { stat -f -c %f "$M"; }
# stat_of NAME: one counter of daxfsctl stats --json
stat_of() { "$DX_CTL" --json stats "$M" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
same() { cmp -s "$1" "$2" || dx_fail "$3: $1 and $2 differ"; }
expect() {
	[ "$2" = "$3" ] || dx_fail "$1: got '$2', expected '$3'"
	dx_log "ok: $1 = $3"
}

dx_mkfs 64M -q
dx_mount allow_other

# ---- clone: shares, costs no data blocks, copy on write ----
head -c $((8 << 20)) /dev/urandom >"$T/a.ref"
printf 'tail of 123 bytes%0106d' 0 >>"$T/a.ref"
cp "$T/a.ref" "$M/a" || dx_fail "write a"
f0=$(free_blocks)
"$DX_CTL" clone "$M/a" "$M/b" >"$T/clone.out" || dx_fail "daxfsctl clone: $(cat "$T/clone.out")"
grep -q '^shared 2049 blocks, copied 0$' "$T/clone.out" || dx_fail "clone said: $(cat "$T/clone.out")"
f1=$(free_blocks)
[ $((f0 - f1)) -le 2 ] || dx_fail "the clone took $((f0 - f1)) blocks"
dx_log "ok: clone of 2049 blocks took $((f0 - f1)) blocks"
same "$M/a" "$M/b" "after the clone"
cow0=$(stat_of cow_blocks)
printf 'ZZZZZZZZZZZZZZZZ' | dd of="$M/b" bs=1 seek=5000 conv=notrunc status=none || dx_fail "write into b"
same "$M/a" "$T/a.ref" "a after a write into its clone"
cmp -s "$M/a" "$M/b" && dx_fail "the write into b is not in b"
expect "blocks copied on write" "$(($(stat_of cow_blocks) - cow0))" 1
printf 'YYYYYYYYYYYYYYYY' | dd of="$M/a" bs=1 seek=9000 conv=notrunc status=none || dx_fail "write into a"
cp "$M/b" "$T/b.ref"
cp "$T/a.ref" "$T/a.ref2" && printf 'YYYYYYYYYYYYYYYY' | dd of="$T/a.ref2" bs=1 seek=9000 conv=notrunc status=none
same "$M/a" "$T/a.ref2" "a after its own write"
cmp -s "$M/b" <(head -c 5000 "$T/a.ref"; printf ZZZZZZZZZZZZZZZZ; tail -c +5017 "$T/a.ref") ||
	dx_fail "b after a write into a"
cp "$T/a.ref2" "$T/a.ref"
# punch and truncate one side
fallocate -p -o 4096 -l 8192 "$M/b" || dx_fail "punch b"
truncate -s 100000 "$M/b" || dx_fail "truncate b"
same "$M/a" "$T/a.ref" "a after b was punched and cut"
head -c 100000 "$T/b.ref" >"$T/b.ref2"
dd if=/dev/zero of="$T/b.ref2" bs=4096 seek=1 count=2 conv=notrunc status=none
same "$M/b" "$T/b.ref2" "b after its punch and cut"
cp "$T/b.ref2" "$T/b.ref"

# ---- cp: copy_file_range shares whole blocks ----
sh0=$(stat_of clone_shared)
f0=$(free_blocks)
cp "$M/a" "$M/c" || dx_fail "cp a c"
same "$M/a" "$M/c" "cp"
[ $(($(stat_of clone_shared) - sh0)) -ge 2048 ] || dx_fail "cp did not share"
[ $((f0 - $(free_blocks))) -le 2 ] || dx_fail "cp took $((f0 - $(free_blocks))) blocks"
dx_log "ok: cp shares"
# unaligned: copied, and right
python3 -c "
import os, sys
s = os.open(sys.argv[1], os.O_RDONLY); d = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
n = os.copy_file_range(s, d, 50000, 1000, 777)
assert n == 50000, n" "$M/a" "$M/u" || dx_fail "unaligned copy_file_range"
cmp -s <(tail -c +778 "$M/u") <(tail -c +1001 "$T/a.ref" | head -c 50000) || dx_fail "unaligned copy's bytes"

# ---- hostile arguments: each refused, nothing changed ----
cp "$M/c" "$T/c.ref"
for args in "--src-off 1|EINVAL" "--dst-off 100|EINVAL" "--len 5000|EINVAL" "--flags 1|EINVAL" \
	"--pad 7|EINVAL" "--token 12345|EBADF" "--dst-mode r|EBADF" "--dst-mode a|EBADF" \
	"--src-off 16777216 --len 4096|EINVAL"; do
	IFS='|' read -r a want <<<"$args"
	# shellcheck disable=SC2086 # a is a list of options
	got=$(CT "$M/a" "$M/c" $a)
	expect "clone $a" "$got" "$want"
done
expect "overlapping ranges of one file" "$(CT "$M/c" "$M/c" --dst-off 4096 --len 8192)" EINVAL
expect "a directory" "$(CT "$M/a" "$M" 2>&1 | tail -1)" EISDIR
same "$M/a" "$T/a.ref" "a after the refused clones"
same "$M/c" "$T/c.ref" "c after the refused clones"

# ---- user nobody on an allow_other mount ----
mkdir -m 1777 "$M/pub"
cp "$T/a.ref" "$M/secret" && chmod 600 "$M/secret"
cp "$T/a.ref" "$M/rootfile" && chmod 644 "$M/rootfile"
$NOBODY "$DX_CTL" clone "$M/a" "$M/pub/mine" >/dev/null || dx_fail "nobody: clone of a readable file"
same "$M/pub/mine" "$T/a.ref" "nobody's clone"
printf 'N' | $NOBODY dd of="$M/pub/mine" bs=1 seek=3 conv=notrunc status=none ||
	dx_fail "nobody writes its clone"
same "$M/a" "$T/a.ref" "root's file after nobody wrote its clone"
$NOBODY "$DX_CTL" clone "$M/secret" "$M/pub/s" 2>/dev/null && dx_fail "nobody cloned an unreadable file"
[ -e "$M/pub/s" ] && dx_fail "the refused clone left its destination behind"
expect "nobody: a token of a file it cannot read" "$(CT_NOBODY "$M/secret" "$M/pub/mine")" EACCES
$NOBODY "$DX_CTL" clone "$M/a" "$M/rootfile" 2>/dev/null && dx_fail "nobody cloned into root's file"
expect "nobody: into root's file" "$(CT_NOBODY "$M/a" "$M/rootfile")" EACCES
expect "nobody: a guessed token" "$(CT_NOBODY "$M/a" "$M/pub/mine" --token 1)" EBADF
same "$M/rootfile" "$T/a.ref" "root's file after nobody's attempts"
same "$M/secret" "$T/a.ref" "the unreadable file after nobody's attempts"

# Direct access is the mount's privilege (docs/pins.md): nobody may not
# make a snapshot of root's shared blocks either ...
cp "$T/a.ref" "$M/shared" && chmod 644 "$M/shared"
"$DX_CTL" clone "$M/shared" "$M/shared2" >/dev/null || dx_fail "clone shared"
$NOBODY "$DX_CTL" map "$M/shared" 0 65536 >"$T/nmap.out" 2>&1 && dx_fail "nobody mapped root's file"
grep -q "not permitted" "$T/nmap.out" || dx_fail "nobody's map: $(cat "$T/nmap.out")"
expect "blocks held after nobody's refused map" "$(stat_of snapshot_blocks)" 0
# ... and a careless holder's read mapping of shared blocks is a snapshot:
# it holds them, yet writes, truncate and unlink of both files do not wait
# for it, and the blocks come back when the holder goes
"$DX_CTL" map "$M/shared" 0 65536 --hold 0 >"$T/nmap.out" 2>&1 &
npid=$!
for _ in $(seq 100); do
	"$DX_CTL" pins "$M/shared" 2>/dev/null | grep -q snapshot && break
	sleep 0.1
done
"$DX_CTL" pins "$M/shared" | grep -q "r- snapshot" ||
	dx_fail "a read mapping of shared blocks is no snapshot: $("$DX_CTL" pins "$M/shared"; cat "$T/nmap.out")"
expect "blocks held by the snapshot" "$(stat_of snapshot_blocks)" 16
d0=$(stat_of deferrals)
printf 'R' | dd of="$M/shared" bs=1 seek=5 conv=notrunc status=none || dx_fail "write shared"
timeout 60 truncate -s 0 "$M/shared" || dx_fail "truncate under a snapshot"
rm -f "$M/shared" "$M/shared2" || dx_fail "unlink under a snapshot"
expect "changes deferred by the snapshot" "$(($(stat_of deferrals) - d0))" 0
expect "blocks still held by the snapshot" "$(stat_of snapshot_blocks)" 16
f0=$(free_blocks)
kill "$npid"
wait "$npid" 2>/dev/null
expect "blocks held once the holder is gone" "$(stat_of snapshot_blocks)" 0
[ "$(free_blocks)" -ge $((f0 + 16)) ] || dx_fail "the snapshot's 16 blocks did not come back: $f0 -> $(free_blocks) free"
dx_log "ok: nobody may not map; a snapshot held 16 blocks, delayed nothing, freed them on exit"

# ---- a clone of holes: the kernel's cached size and pages are stale ----
# (daxfs-fsx op 2077 of seed 1 found it: a clone that shared no block
# left the kernel with the old size, so read(2) of the grown file saw EOF)
truncate -s 8192 "$M/h" || dx_fail "make h"
head -c 4096 /dev/urandom >"$T/d.ref"
cp "$T/d.ref" "$M/d" && cat "$M/d" >/dev/null # the kernel caches d's page
"$DX_CTL" clone-range "$M/h" 0 4096 "$M/d" 0 >/dev/null || dx_fail "clone a hole over d"
"$DX_CTL" clone-range "$M/h" 4096 4096 "$M/d" 65536 >/dev/null || dx_fail "clone a hole past d's EOF"
expect "d's size after a clone of holes past its EOF" "$(stat -c %s "$M/d")" 69632
cmp -s "$M/d" <(head -c 69632 /dev/zero) || dx_fail "d is not all zeroes after clones of holes over it"
expect "bytes read(2) returns of d" "$(cat "$M/d" | wc -c)" 69632
rm -f "$M/h" "$M/d"

# ---- a nearly full pool ----
dd if=/dev/zero of="$M/filler" bs=1M status=none 2>/dev/null
[ "$(free_blocks)" -lt 64 ] || dx_fail "the filler left $(free_blocks) blocks"
# a few blocks back: the clone's records may need an extent block
truncate -s -64K "$M/filler" || dx_fail "truncate the filler"
"$DX_CTL" clone "$M/a" "$M/full" >"$T/full.out" 2>&1 || dx_fail "a clone on a full pool (it needs no data block): $(cat "$T/full.out"), $(free_blocks) free"
same "$M/full" "$T/a.ref" "the clone made on a full pool"
# fill the rest, then a copy on write has no room
dd if=/dev/zero of="$M/filler2" bs=4k status=none 2>/dev/null
expect "free blocks" "$(free_blocks)" 0
if head -c 4096 /dev/zero | dd of="$M/full" bs=4096 seek=10 conv=notrunc status=none 2>"$T/dd.err"; then
	dx_fail "a write into shared blocks succeeded on a full pool"
fi
grep -q "No space left" "$T/dd.err" || dx_fail "not ENOSPC: $(cat "$T/dd.err")"
same "$M/full" "$T/a.ref" "the clone after the refused write"
same "$M/a" "$T/a.ref" "its source after the refused write"
rm -f "$M/filler" "$M/filler2" "$M/full"

# ---- persistence and fsck ----
dx_umount
dx_fsck
dx_mount allow_other
same "$M/a" "$T/a.ref" "a after a remount"
same "$M/b" "$T/b.ref" "b after a remount"
same "$M/c" "$T/a.ref" "c after a remount"
dx_umount

# ---- a pool without reflink ----
dx_mkfs 64M -q -O ^reflink
dx_mount
cp "$T/a.ref" "$M/a"
echo keep >"$M/x"
"$DX_CTL" clone "$M/a" "$M/x" 2>"$T/err" && dx_fail "a clone on a pool without reflink"
grep -q "reflink" "$T/err" || dx_fail "no hint at the feature: $(cat "$T/err")"
expect "x untouched" "$(cat "$M/x")" keep
expect "the ioctl" "$(CT "$M/a" "$M/x")" ENOTSUP # EOPNOTSUPP on Linux
cp "$M/a" "$M/y" && same "$M/y" "$T/a.ref" "cp on a pool without reflink"
dx_umount
dx_fsck
dx_pass
