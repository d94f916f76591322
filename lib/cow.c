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
 * The break is one transaction when it is small (a write's or a punch's
 * blocks, up to COW_ONE_TX blocks in up to COW_PIECES runs), so that it
 * is all done or not at all: the copies are allocated first (given back
 * if the pool runs out), the record slots reserved, and only then does
 * each run's extent point at its copy and the old blocks lose a
 * reference.  Nothing after the first change can fail, and the commit
 * drains the copies before the extents that expose them.  A crash shows
 * the old shared blocks or the private copies, whose bytes are the same.
 * A larger break (a mapping of many shared blocks) goes run by run, each
 * run its own transaction: a failure midway leaves some runs private,
 * which changes no byte of any file, only where they live.
 *
 * Pins: a mapping that may store breaks the sharing of its range when it
 * is made (dx_map_locked), and a clone copies pinned blocks instead of
 * sharing them, so a write-pinned block is never shared and this never
 * moves one (the rule the kernel's gup_must_unshare() keeps for FOLL_PIN
 * pages).  The one pinned block this does move a file away from is a
 * snapshot read mapping's, which its own reference keeps (snapshot.c);
 * see docs/pins.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* A small break in one transaction: at most this many blocks ... */
#define COW_ONE_TX 4096u
/* ... in at most this many runs (two record slots each, one extent
 * block's worth). */
#define COW_PIECES 64u

struct cow_piece {
	uint64_t lblk, old, n, np;
};

/* Sort and merge the ranges in place; returns how many remain. */
static int merge_ranges(struct dx_brange *r, int nr)
{
	int k = 0;

	for (int i = 1; i < nr; i++)
		for (int j = i; j > 0 && r[j].s < r[j - 1].s; j--) {
			struct dx_brange t = r[j];
			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	for (int i = 0; i < nr; i++) {
		if (r[i].s >= r[i].e)
			continue;
		if (k && r[i].s <= r[k - 1].e) {
			if (r[i].e > r[k - 1].e)
				r[k - 1].e = r[i].e;
		} else {
			r[k++] = r[i];
		}
	}
	return k;
}

/*
 * Call fn for each shared run of [s, e) (inside one extent each: file
 * block, pool block, length), in file order; stops at fn's nonzero return.
 */
static int each_shared(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e,
		       int (*fn)(void *arg, uint64_t lblk, uint64_t pblk, uint64_t n), void *arg)
{
	struct dx_xmap *m = &ip->xmap;
	uint64_t pos = s;

	while (pos < e) {
		size_t i = dx_xmap_find(m, pos);
		uint64_t es, ee, p, n, k;
		int ret;

		if (i == m->n || m->v[i].lblk >= e)
			break;
		es = m->v[i].lblk;
		ee = es + m->v[i].len;
		if (es > pos)
			pos = es;
		n = (ee < e ? ee : e) - pos;
		p = m->v[i].pblk + (pos - es);
		k = dx_refc_run(fs, p, n, false);
		if (!k) {
			k = dx_refc_run(fs, p, n, true);
			ret = fn(arg, pos, p, k);
			if (ret)
				return ret;
		}
		pos += k;
	}
	return 0;
}

struct cow_count {
	uint64_t blocks, runs;
};

static int count_run(void *arg, uint64_t lblk, uint64_t pblk, uint64_t n)
{
	struct cow_count *c = arg;

	(void)lblk;
	(void)pblk;
	c->blocks += n;
	c->runs++;
	return 0;
}

struct cow_plan {
	struct daxfs *fs;
	struct cow_piece v[2 * COW_PIECES];
	size_t n, max; /* two pieces per run: what the journal check allowed */
};

/* Allocate a copy of one shared run, in as many pieces as it takes. */
static int plan_run(void *arg, uint64_t lblk, uint64_t pblk, uint64_t n)
{
	struct cow_plan *pl = arg;

	/* Two runs of the range on the same pool blocks (a file sharing
	 * blocks with itself): the first copy makes the second run the
	 * file's own, which only the run-by-run path sees. */
	for (size_t i = 0; i < pl->n; i++)
		if (pblk < pl->v[i].old + pl->v[i].n && pl->v[i].old < pblk + n)
			return -E2BIG;
	while (n) {
		uint64_t np, got;

		if (pl->n == pl->max)
			return -E2BIG;
		got = dx_alloc_blocks(pl->fs, pblk, n, &np);
		if (!got)
			return -ENOSPC;
		pl->v[pl->n++] = (struct cow_piece){lblk, pblk, got, np};
		lblk += got;
		pblk += got;
		n -= got;
	}
	return 0;
}

/* The journal a one-transaction break of pieces pieces takes: per piece
 * up to five record writes (two splits and the new pointer), a bitmap
 * word and its counts; an extent block's link. */
static size_t cow_room(uint64_t pieces, uint64_t blocks)
{
	return 256 + dx_tx_cost(sizeof(uint64_t)) + dx_tx_cost(blocks * 2) +
	       dx_tx_cost(blocks / 8 + 8) +
	       pieces * (5 * dx_tx_cost(sizeof(struct dx_extent)) + dx_tx_cost(16) + dx_tx_cost(2));
}

/*
 * The break of runs shared runs of blocks blocks in one transaction: 0
 * when done, -ENOSPC or -E2BIG (too many pieces: go run by run) with
 * nothing changed.
 */
static int cow_one_tx(struct daxfs *fs, struct dx_ino *ip, const struct dx_brange *r, int nr,
		      const struct cow_count *cnt)
{
	struct cow_plan *pl = malloc(sizeof(*pl));
	int ret = 0;

	if (!pl)
		return -ENOMEM;
	pl->fs = fs;
	pl->n = 0;
	pl->max = 2 * cnt->runs;
	dx_tx_begin(fs);
	/* Its journal: each copy's bitmap words, the old blocks' counts,
	 * three records per piece and an extent block; an empty journal
	 * holds that many times over. */
	if (dx_tx_room(fs) < cow_room(cnt->runs, cnt->blocks)) {
		ret = -E2BIG;
		goto out;
	}
	for (int i = 0; i < nr && !ret; i++)
		ret = each_shared(fs, ip, r[i].s, r[i].e, plan_run, pl);
	/* A fragmented pool gave more pieces than runs: do they fit? */
	if (!ret && pl->n > cnt->runs && dx_tx_room(fs) < cow_room(pl->n, cnt->blocks))
		ret = -E2BIG;
	if (!ret)
		ret = dx_xmap_reserve(fs, ip, 2 * pl->n);
	if (ret) {
		/* Before any record changed: the copies go back. */
		for (size_t i = 0; i < pl->n; i++)
			dx_free_blocks(fs, pl->v[i].np, pl->v[i].n);
		goto out;
	}
	for (size_t i = 0; i < pl->n; i++) {
		const struct cow_piece *c = &pl->v[i];

		dx_memcpy_nodrain(&fs->pc, dx_blk(fs, c->np), dx_blk(fs, c->old),
				  c->n * DX_BLOCK_SIZE);
		/* Slots reserved, so the splits cannot fail. */
		if (dx_xmap_repoint(fs, ip, c->lblk, c->n, c->np))
			abort();
		dx_refc_drop(fs, c->old, c->n);
	}
	__atomic_add_fetch(&fs->stats.cow_blocks, cnt->blocks, __ATOMIC_RELAXED);
out:
	dx_tx_commit(fs);
	free(pl);
	return ret;
}

int dx_cow_break_ranges(struct daxfs *fs, struct dx_ino *ip, const struct dx_brange *in, int nr,
			uint64_t *done)
{
	struct dx_brange r[4];
	struct cow_count cnt = {0, 0};
	uint64_t need;
	int ret;

	if (done)
		*done = 0;
	if (!fs->refc || dx_fault(fs, DX_FAULT_COW_SKIP))
		return 0;
	if (nr > 4)
		abort();
	memcpy(r, in, (size_t)nr * sizeof(*r));
	nr = merge_ranges(r, nr);
	for (int i = 0; i < nr; i++)
		each_shared(fs, ip, r[i].s, r[i].e, count_run, &cnt);
	if (!cnt.blocks)
		return 0;
	/* Room for every copy and a record pair per run, or nothing. */
	need = cnt.blocks + dx_xmap_meta_need(ip, 2 * cnt.runs);
	dx_tx_begin(fs);
	dx_space_grow(fs, need + 1);
	ret = fs->free_blocks < need ? -ENOSPC : 0;
	dx_tx_commit(fs);
	if (ret)
		return ret;
	if (cnt.blocks <= COW_ONE_TX && cnt.runs <= COW_PIECES) {
		ret = cow_one_tx(fs, ip, r, nr, &cnt);
		if (ret != -E2BIG)
			return ret;
	}
	/* Large, or too fragmented a pool for one transaction. */
	for (int i = 0; i < nr; i++) {
		uint64_t pos = r[i].s;

		while (pos < r[i].e) {
			struct dx_xmap *m = &ip->xmap;
			size_t j = dx_xmap_find(m, pos);
			uint64_t es, ee, p, n, k;
			int64_t got;

			if (j == m->n || m->v[j].lblk >= r[i].e)
				break;
			es = m->v[j].lblk;
			ee = es + m->v[j].len;
			if (es > pos)
				pos = es;
			n = (ee < r[i].e ? ee : r[i].e) - pos;
			p = m->v[j].pblk + (pos - es);
			k = dx_refc_run(fs, p, n, false);
			if (k) {
				pos += k; /* not shared: nothing to do */
				continue;
			}
			k = dx_refc_run(fs, p, n, true);
			got = cow_run(fs, ip, pos, p, k);
			if (got <= 0) {
				/* Everything before pos is the file's own. */
				if (done)
					*done = pos;
				return got ? (int)got : -ENOSPC;
			}
			pos += (uint64_t)got;
		}
	}
	return 0;
}

struct cow_fit {
	struct dx_ino *ip;
	uint64_t budget, used, runs, stop;
};

static int fit_run(void *arg, uint64_t lblk, uint64_t pblk, uint64_t n)
{
	struct cow_fit *f = arg;
	/* Two record slots per run, as dx_cow_break_ranges counts them. */
	uint64_t meta = dx_xmap_meta_need(f->ip, 2 * (f->runs + 1));

	(void)pblk;
	if (f->used + meta >= f->budget) {
		f->stop = lblk;
		return 1;
	}
	if (f->used + meta + n > f->budget) {
		f->stop = lblk + (f->budget - f->used - meta);
		return 1;
	}
	f->used += n;
	f->runs++;
	return 0;
}

uint64_t dx_cow_fit(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e, uint64_t extra)
{
	uint64_t free_now = __atomic_load_n(&fs->free_blocks, __ATOMIC_RELAXED);
	struct cow_fit f = {ip, free_now > extra ? free_now - extra : 0, 0, 0, e};

	each_shared(fs, ip, s, e, fit_run, &f);
	return f.stop;
}
