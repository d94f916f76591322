#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemon maps a data granule (2 MiB) of a pmem-mode pool when it first
# hands out a block of it, reads it or overwrites it (lib/prefault.c), so
# writing a file does not take a page fault per 4 KiB; in msync mode it
# does not, since populating would dirty the whole granule.  Asserts what
# the daemon's page table holds of its pool (/proc/PID/pagemap), not a time.
. "$(dirname "$0")/lib.sh"
dx_need_root
PAGEMAP=$DAXFS_BUILD/tests/pagemap-count
TUNE=$DAXFS_BUILD/tools/tune/tune.daxfs
dx_need "$DX_MKFS" "$DX_DAEMON" "$PAGEMAP" "$TUNE"
command -v jq >/dev/null || dx_skip "jq is not installed"
dx_watchdog 150

dx_mkfs 64M
geometry=$("$TUNE" -l --json "$DX_POOL") || dx_fail "tune.daxfs -l --json failed"
data_blk=$(jq -r .data_blk <<<"$geometry")
nblocks=$(jq -r .blocks <<<"$geometry")
[[ $data_blk =~ ^[0-9]+$ && $nblocks =~ ^[0-9]+$ ]] ||
	dx_fail "tune.daxfs -l --json gives no geometry: $geometry"
data_off=$((data_blk * 4096))
data_len=$(((nblocks - data_blk) * 4096))
# What one granule leaves after the data area's first block, at least.
granule_left=$((512 - data_blk % 512))

# present: the daemon's mapped pages of the pool's data area
present() { "$PAGEMAP" "$DX_PID" "$DX_POOL" "$data_off" "$data_len"; }

# write4k NAME: a new file of one block, fsync()ed
write4k() { dd if=/dev/zero of="$DX_MNT/$1" bs=4096 count=1 conv=fsync status=none; }

# granule_mapped WHAT: after WHAT, the pmem-mode daemon maps the rest of
# the granule, not only the block it touched
granule_mapped() {
	local after
	after=$(present)
	dx_log "pmem mode: $after pages of the data area mapped after a 4 KiB $1"
	[ "$after" -ge "$granule_left" ] ||
		dx_fail "pmem mode: a $1 does not map its granule ahead ($after pages, want >= $granule_left)"
}

dx_mount
dx_log "pmem mode: $(present) pages of the data area mapped after the mount"
write4k f
granule_mapped write
dx_umount
dx_fsck

# After a remount, a read and an overwrite of a file map its granule too.
dx_mount
cat "$DX_MNT/f" >/dev/null || dx_fail "read f"
granule_mapped read
dx_umount
dx_mount
dd if=/dev/zero of="$DX_MNT/f" bs=4096 count=1 conv=notrunc,fsync status=none ||
	dx_fail "overwrite of f"
granule_mapped overwrite
dx_umount
dx_fsck

# msync mode (libpmem's check of a tmpfs mapping fails without the
# override): the granule is left alone, and only what is stored is mapped.
PMEM_IS_PMEM_FORCE=0
dx_mount
write4k h
after=$(present)
dx_log "msync mode: $after pages of the data area mapped after a 4 KiB write"
[ "$after" -lt 64 ] ||
	dx_fail "msync mode: $after pages mapped after a 4 KiB write; populating dirties a granule"
cmp -n 4096 /dev/zero "$DX_MNT/f" || dx_fail "f does not read back as zeros"
dx_umount
dx_fsck
dx_pass
