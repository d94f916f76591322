/* SPDX-License-Identifier: MIT */
/*
 * prefault.c - map a data granule into the daemon before its first store.
 *
 * After a mount every first touch of a pool page by the daemon is a page
 * fault, and in a VM a fault costs microseconds: writing a new file ran at
 * a fifth of the speed of overwriting it, with 256 faults per MiB.  So the
 * first time the allocator hands out a block of a granule (DX_BACK_GRANULE
 * blocks, 2 MiB), or a read or overwrite reaches one, the whole granule is
 * populated with one madvise(MADV_POPULATE_WRITE): the kernel fills in its
 * page table without a trap per page, and a 2 MiB-aligned granule of a
 * huge=always tmpfs or a DAX device gets one PMD.
 *
 * Only in pmem mode.  In msync mode a populating write fault dirties every
 * page of the granule, and the next msync would write 2 MiB back.  Best
 * effort: where madvise fails (a kernel before 5.14), the stores fault as
 * before; the space is reserved before it is handed out (backing.c), so
 * populating never allocates backing store and never raises SIGBUS.
 *
 * Reads and overwrites do the same for the granules they touch, so that
 * after a mount the pages of existing files are mapped a granule at a time
 * too.  The bitmap of populated granules is DRAM only; they may call from
 * any thread, so its bits are set atomically.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "core.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int dx_prefault_init(struct daxfs *fs)
{
	uint64_t n = (fs->sb.nblocks + DX_BACK_GRANULE - 1) / DX_BACK_GRANULE;

	if (!fs->is_pmem || fs->readonly)
		return 0;
	fs->populated = calloc((n + 63) / 64, sizeof(uint64_t));
	return fs->populated ? 0 : dx_err(-ENOMEM, "out of memory");
}

void dx_prefault(struct daxfs *fs, uint64_t pblk, uint64_t len)
{
	uint64_t *pop = fs->populated, g, last;

	if (!pop || !len || __atomic_load_n(&fs->prefault_off, __ATOMIC_RELAXED))
		return;
	last = (pblk + len - 1) / DX_BACK_GRANULE;
	for (g = pblk / DX_BACK_GRANULE; g <= last; g++) {
		uint64_t from, to, bit = 1ULL << (g & 63);

		/* Tried once, whatever the outcome, and by one of the threads
		 * that get here at once (a second madvise would only cost). */
		if (__atomic_load_n(&pop[g >> 6], __ATOMIC_RELAXED) & bit ||
		    __atomic_fetch_or(&pop[g >> 6], bit, __ATOMIC_RELAXED) & bit)
			continue;
		/* The data area's part of it: the metadata before it may
		 * include inode table blocks not reserved yet (backing.c). */
		dx_granule_range(fs, g, &from, &to);
		if (madvise(dx_blk(fs, from), (to - from) * DX_BLOCK_SIZE, MADV_POPULATE_WRITE) &&
		    errno == EINVAL) {
			/* Not in this kernel: stop asking. */
			__atomic_store_n(&fs->prefault_off, true, __ATOMIC_RELAXED);
			return;
		}
	}
}
