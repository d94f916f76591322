#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs must refuse damaged or foreign pools with a message and a non-zero
# exit, mount nothing, and leave every byte of the pool as it was.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON"
dx_watchdog 300

T=$DX_TMP
GOOD=$T/good

# flip BYTE_OFFSET FILE: invert one byte in place
flip() {
	local b
	b=$(od -An -tu1 -j "$1" -N1 "$2" | tr -d ' ')
	printf "\\$(printf %03o $((b ^ 0xff)))" |
		dd of="$2" bs=1 seek="$1" conv=notrunc status=none
}

# refuse NAME FILE: start the daemon on FILE and expect a clean refusal
refuse() {
	local name=$1 pool=$2 rc
	cp --sparse=always "$pool" "$T/orig" 2>/dev/null || cp "$pool" "$T/orig" 2>/dev/null ||
		: >"$T/orig"
	dx_refused "$name" "$pool" "$T/out" "$T/err" "daxfs did not refuse the pool (it mounted or kept running)"
	rc=$DX_RC
	dx_log "$name: exit status $rc, message: $(cat "$T/err" "$T/out" | head -c 300 | tr '\n' ' ')"
	[ "$rc" != 0 ] || dx_fail "$name: daxfs exited with status 0"
	[ "$rc" -lt 128 ] || dx_fail "$name: daxfs died by signal $((rc - 128))"
	[ -s "$T/err" ] || [ -s "$T/out" ] || dx_fail "$name: no message"
	dx_mounted "$DX_MNT" && dx_fail "$name: something is mounted"
	if [ -f "$pool" ]; then
		cmp -s "$T/orig" "$pool" || dx_fail "$name: the pool was modified"
	fi
}

"$DX_MKFS" -q -s 64M "$GOOD" >/dev/null || dx_fail "mkfs.daxfs"

# the good pool mounts (so the refusals below are about the damage)
DX_POOL=$GOOD
dx_mount
echo data >"$DX_MNT/file" || dx_fail "write to the good pool"
# a second daemon on a pool in use must be refused
mkdir "$T/mnt2"
DX_EXTRA_MOUNTS=$T/mnt2
dx_refused "pool in use" "$GOOD" "$T/out" "$T/err" \
	"a second daemon mounted a pool already in use" "$T/mnt2"
rc=$DX_RC
dx_log "pool in use: exit status $rc, message: $(head -c 300 "$T/err" | tr '\n' ' ')"
[ "$rc" != 0 ] || dx_fail "second daemon on a pool in use exited with 0"
dx_umount
DX_POOL=$T/pool

cp --sparse=always "$GOOD" "$T/p"; flip 40 "$T/p"
refuse "flipped byte in the superblock label" "$T/p"
cp --sparse=always "$GOOD" "$T/p"; flip 100 "$T/p"
refuse "flipped byte in the superblock geometry" "$T/p"
cp --sparse=always "$GOOD" "$T/p"; flip 4093 "$T/p"
refuse "flipped byte in the superblock checksum" "$T/p"
cp --sparse=always "$GOOD" "$T/p"
printf 'NOTDAXFS' | dd of="$T/p" conv=notrunc status=none
refuse "wrong magic" "$T/p"
cp --sparse=always "$GOOD" "$T/p"; truncate -s 32M "$T/p"
refuse "pool truncated to half" "$T/p"
cp --sparse=always "$GOOD" "$T/p"; truncate -s 2048 "$T/p"
refuse "pool truncated inside the superblock" "$T/p"
: >"$T/p"
refuse "empty file" "$T/p"
truncate -s 64M "$T/zero"
refuse "64 MiB of zeros" "$T/zero"
head -c $((8 << 20)) /dev/urandom >"$T/random"
refuse "8 MiB of random bytes" "$T/random"
seq 1 100000 >"$T/text"
refuse "a text file" "$T/text"
refuse "a directory" "$T/mnt2"
refuse "a missing file" "$T/does-not-exist"
[ -e "$T/does-not-exist" ] && dx_fail "the missing pool was created"

# the good pool is still good after all this
DX_POOL=$GOOD
dx_mount
[ "$(cat "$DX_MNT/file")" = data ] || dx_fail "good pool lost its file"
dx_umount
dx_pass
