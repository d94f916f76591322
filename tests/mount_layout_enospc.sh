#!/bin/bash
# SPDX-License-Identifier: MIT
# Layout changes on a full pool through the mount: a zero range or a
# collapse that cannot get the blocks it needs fails with ENOSPC and leaves
# the file byte for byte as it was (issue 11, defects 4 and 5).  (The
# deterministic split cases, punch and insert included, are in unit-journal.)
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL"
command -v fallocate >/dev/null || dx_skip "util-linux fallocate is not installed"
dx_watchdog 300

dx_mkfs 16M
dx_mount
m=$DX_MNT
# z: two blocks, a four-block hole, two blocks.
head -c 8192 /dev/urandom >"$DX_TMP/z1"
head -c 8192 /dev/urandom >"$DX_TMP/z2"
dd if="$DX_TMP/z1" of="$m/z" bs=4096 status=none || dx_fail "write z"
dd if="$DX_TMP/z2" of="$m/z" bs=4096 seek=6 conv=notrunc status=none || dx_fail "write z"
# c: one 16-block extent and three single blocks, so that its four inline
# extent records are used and splitting the big one needs a new block.
head -c 65536 /dev/urandom >"$DX_TMP/c1"
dd if="$DX_TMP/c1" of="$m/c" bs=65536 status=none || dx_fail "write c"
for i in 20 22 24; do
	head -c 4096 /dev/urandom | dd of="$m/c" bs=4096 seek=$i conv=notrunc status=none ||
		dx_fail "write c block $i"
done
dx_umount
# Remounted, the files' free record slots are known; fill every block.
dx_mount
dd if=/dev/zero of="$m/filler" bs=1M status=none 2>/dev/null
dd if=/dev/zero of="$m/filler" bs=4096 oflag=append conv=notrunc status=none 2>/dev/null
free=$(stat -f -c %f "$m")
dx_log "free blocks after filling: $free"
[ "$free" -le 1 ] || dx_fail "the pool did not fill ($free blocks free)"

cp "$m/z" "$DX_TMP/z.before" && cp "$m/c" "$DX_TMP/c.before" || dx_fail "copy the files"
zs=$(stat -c '%s %b' "$m/z")
cs=$(stat -c '%s %b' "$m/c")

# expect_enospc FILE DESCRIPTION FALLOCATE-ARGS...
expect_enospc() {
	local f=$1 what=$2 out
	shift 2
	if out=$(fallocate "$@" "$m/$f" 2>&1); then
		dx_fail "$what on a full pool succeeded"
	fi
	case $out in
	*"No space left"*) ;;
	*) dx_fail "$what: expected ENOSPC, got: $out" ;;
	esac
	cmp -s "$m/$f" "$DX_TMP/$f.before" || dx_fail "$what failed but changed the bytes of $f"
	dx_log "ok: $what fails with ENOSPC and changes nothing"
}

expect_enospc z "zero range over blocks and a hole" -z -o 0 -l 32768
[ "$(stat -c '%s %b' "$m/z")" = "$zs" ] || dx_fail "zero range changed the size or blocks of z"
# Collapse needs one block only when it splits an extent and no record
# slot is free (which slots are free depends on how c's records were
# laid out): either it fails with ENOSPC having changed nothing, or it is
# done exactly.  Linux's FUSE module refuses collapse: daxfsctl's ioctl.
if out=$("$DX_CTL" collapse "$m/c" 16384 16384 2>&1); then
	{ head -c 16384 "$DX_TMP/c.before"; tail -c +32769 "$DX_TMP/c.before"; } >"$DX_TMP/c.want"
	cmp -s "$m/c" "$DX_TMP/c.want" || dx_fail "collapse on a full pool succeeded with wrong bytes"
	dx_log "ok: collapse on a full pool found a free record slot and moved the rest"
else
	case $out in
	*"No space left"*) ;;
	*) dx_fail "collapse: expected ENOSPC or success, got: $out" ;;
	esac
	cmp -s "$m/c" "$DX_TMP/c.before" || dx_fail "collapse failed but changed the bytes of c"
	[ "$(stat -c '%s %b' "$m/c")" = "$cs" ] || dx_fail "a failed collapse altered the size of c"
	dx_log "ok: collapse on a full pool fails with ENOSPC and changes nothing"
fi
[ "$(stat -f -c %f "$m")" -ge "$free" ] || dx_fail "the changes took blocks they did not give back"
dx_umount
dx_fsck
dx_pass
