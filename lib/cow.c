/* SPDX-License-Identifier: MIT */
/*
 * cow.c - breaking the sharing of blocks before they change (copy on write).
 *
 * Every path that stores into a file's existing blocks in place (write,
 * the zeroing of punch, zero range and of a stale tail, a direct-access
 * mapping) calls dx_cow_break() over the blocks it is about to touch,
 * before it opens its own transaction.  After it, no block of the range is
 * shared, so the store cannot show up in another file; and, as the inode
 * lock is held throughout, nothing can share them again before the store
 * (a clone of a block needs the lock of the file it takes it from).
 *
 * Each run is copied into new blocks outside any transaction (nobody sees
 * the new blocks yet), then one transaction swaps them into the extent map
 * and drops the old blocks' reference; its commit drains the copies before
 * the extents that expose them.  A crash shows the old shared block or the
 * private copy, whose bytes are the same.
 *
 * Pins: a mapping breaks the sharing of its range when it is made
 * (dx_map_locked), and a clone copies pinned blocks instead of sharing
 * them, so a pinned block is never shared and this never moves one (the
 * rule the kernel's gup_must_unshare() keeps for FOLL_PIN pages; see
 * docs/pins.md).
 */
#include <errno.h>
#include "core.h"
#include "fault.h"

/* Copy one run in a transaction of its own: at most want blocks of file
 * blocks from lblk, pool blocks from pblk, all shared.  Returns blocks
 * done, 0 when the pool is full, or -errno. */
static int64_t cow_run(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t pblk,
		       uint64_t want)
{
	uint64_t meta, got, np;
	int ret;

	if (want > DX_EXTENT_MAX_LEN)
		want = DX_EXTENT_MAX_LEN;
	dx_tx_begin(fs);
	/* A middle removal splits an extent, and the copy needs a record. */
	meta = dx_xmap_meta_need(ip, 2);
	dx_space_grow(fs, want + meta + 1);
	if (fs->free_blocks <= meta) {
		dx_tx_commit(fs);
		return 0;
	}
	if (want > fs->free_blocks - meta)
		want = fs->free_blocks - meta;
	/* Bound the journal: bitmap words and the counts of the old run. */
	if (dx_tx_room(fs) < 4096 + dx_tx_cost(want * 2) * 2 + dx_tx_cost(want / 32 + 16)) {
		uint64_t fit = dx_tx_room(fs) / 8;

		want = fit < want ? (fit ? fit : 1) : want;
	}
	got = dx_alloc_blocks(fs, pblk, want, &np);
	if (!got) {
		dx_tx_commit(fs);
		return 0;
	}
	dx_memcpy_nodrain(&fs->pc, dx_blk(fs, np), dx_blk(fs, pblk), got * DX_BLOCK_SIZE);
	ret = dx_xmap_remove(fs, ip, lblk, lblk + got, false);
	if (!ret)
		ret = dx_xmap_insert(fs, ip, (uint32_t)lblk, np, (uint32_t)got);
	if (ret) {
		/* Only a short journal or a failed split gets here, before
		 * the map changed: give the new blocks back. */
		dx_free_blocks(fs, np, got);
		dx_tx_commit(fs);
		return ret == -EAGAIN ? -ENOSPC : ret;
	}
	/* The removal took the run's blocks off the count; the copy is
	 * the file's again. */
	dx_add_blocks(fs, ip, got);
	__atomic_add_fetch(&fs->stats.cow_blocks, got, __ATOMIC_RELAXED);
	dx_tx_commit(fs);
	return (int64_t)got;
}

int dx_cow_break(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e)
{
	struct dx_xmap *m = &ip->xmap;
	uint64_t pos = s;

	if (!fs->refc || dx_fault(fs, DX_FAULT_COW_SKIP))
		return 0;
	while (pos < e) {
		size_t i = dx_xmap_find(m, pos);
		uint64_t es, ee, p, n, k;
		int64_t got;

		if (i == m->n || m->v[i].lblk >= e)
			break;
		es = m->v[i].lblk;
		ee = es + m->v[i].len;
		if (es > pos)
			pos = es;
		n = (ee < e ? ee : e) - pos;
		p = m->v[i].pblk + (pos - es);
		k = dx_refc_run(fs, p, n, false);
		if (k) {
			pos += k; /* not shared: nothing to do */
			continue;
		}
		k = dx_refc_run(fs, p, n, true);
		got = cow_run(fs, ip, pos, p, k);
		if (got <= 0)
			return got ? (int)got : -ENOSPC;
		pos += (uint64_t)got;
	}
	return 0;
}
