/* SPDX-License-Identifier: MIT */
/*
 * refcount.c - reference counts of shared pool blocks (DX_FEATURE_REFLINK).
 *
 * A block's word counts the file extents that map it beyond the first, so
 * a pool that shares nothing has a table of zeros and every path that
 * never shares (directories, extent blocks, xattrs) needs no change.  The
 * words change only inside a transaction, each logged before it changes,
 * in the transaction that adds or removes the extent: a crash keeps the
 * counts and the extent maps in step.  Readers outside tx_lock see each
 * word whole (atomic loads); a count read under the lock of an inode that
 * maps the block can only fall, never rise, while that lock is held (a
 * clone of the block needs it), so "not shared" read there stays true.
 */
#include "core.h"
#include "fault.h"

uint64_t dx_refc_run(const struct daxfs *fs, uint64_t b, uint64_t n, bool shared)
{
	uint64_t i = 0;

	if (!fs->refc)
		return shared ? 0 : n;
	while (i < n && (dx_refc(fs, b + i) != 0) == shared)
		i++;
	return i;
}

/* Log the words of [b, b+n) (or, planted bug, only mark them for the
 * commit's flush: a crash then keeps a count its extent lost). */
static void refc_log(struct daxfs *fs, uint64_t b, uint64_t n)
{
	if (dx_fault(fs, DX_FAULT_REFC_SKIP))
		dx_tx_touch(fs, &fs->refc[b], n * sizeof(uint16_t));
	else
		dx_tx_add(fs, &fs->refc[b], n * sizeof(uint16_t));
}

void dx_refc_get(struct daxfs *fs, uint64_t b, uint64_t n)
{
	refc_log(fs, b, n);
	for (uint64_t i = 0; i < n; i++)
		__atomic_store_n(&fs->refc[b + i], (uint16_t)(fs->refc[b + i] + 1),
				 __ATOMIC_RELAXED);
}

void dx_refc_drop(struct daxfs *fs, uint64_t b, uint64_t n)
{
	refc_log(fs, b, n);
	for (uint64_t i = 0; i < n; i++)
		__atomic_store_n(&fs->refc[b + i], (uint16_t)(fs->refc[b + i] - 1),
				 __ATOMIC_RELAXED);
}

bool dx_range_shared(const struct daxfs *fs, const struct dx_ino *ip, uint64_t s, uint64_t e)
{
	const struct dx_xmap *m = &ip->xmap;

	if (!fs->refc)
		return false;
	for (size_t i = dx_xmap_find(m, s); i < m->n && m->v[i].lblk < e; i++) {
		uint64_t es = m->v[i].lblk, ee = es + m->v[i].len;
		uint64_t cs = es > s ? es : s, ce = ee < e ? ee : e;
		uint64_t p = m->v[i].pblk + (cs - es);

		if (dx_refc_run(fs, p, ce - cs, false) < ce - cs)
			return true;
	}
	return false;
}
