/* SPDX-License-Identifier: MIT */
/*
 * journal.c - undo-log transactions for multi-store metadata updates.
 *
 * A transaction saves the old bytes of each range before the caller changes
 * it in place.  Ordering, which recovery relies on:
 *
 *   1. the undo entry is persistent (flush + drain) before the first store
 *      to its range, so a crash can always roll that store back.  Not
 *      merely before the commit: a cache line (pmem) or a dirty page
 *      (msync mode) may be written back at any moment after the store;
 *   2. at commit every changed range is flushed and drained before the
 *      header's seq moves on, so a committed transaction is wholly in place;
 *   3. the seq increment is a single 8-byte persistent store: the commit.
 *
 * Each fence is an msync (milliseconds) when the pool is not pmem, so rule
 * 1 is kept with as few as the caller allows: dx_tx_log writes and flushes
 * an entry, dx_tx_seal fences every entry written since the last one, and
 * dx_tx_add is the two together.  A caller that knows the ranges of a step
 * logs them all first and the first dx_tx_add (or a seal) fences them at
 * once; it stores into none of them before that.  A range inside one this
 * transaction logged or touched lately needs no entry.  So a transaction
 * costs three fences at best (its entries, its ranges, its commit record),
 * and one more for each step whose ranges are found only after a store
 * (a block allocation's bitmap words, say).
 *
 * Entries carry the seq of their transaction and a crc, so a stale entry of
 * an older transaction or a torn entry ends the scan at recovery.
 * One transaction runs at a time (tx_lock), which also serialises the
 * allocators.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "crc32c.h"
#include "csum.h"
#include "fault.h"

#define ROUND8(x) (((x) + 7) & ~(size_t)7)

size_t dx_tx_cost(size_t len)
{
	return sizeof(struct dx_journal_entry) + ROUND8(len);
}

int dx_journal_init(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;

	jr->hdr = dx_blk(fs, fs->sb.journal_blk);
	jr->area = (char *)jr->hdr + sizeof(struct dx_journal_hdr);
	jr->size = fs->sb.journal_blocks * DX_BLOCK_SIZE - sizeof(struct dx_journal_hdr);
	if (jr->hdr->magic != DX_JOURNAL_MAGIC)
		return dx_err(-EUCLEAN, "journal header is damaged (bad magic)");
	dx_mutex_init(&fs->tx_lock, DX_LC_TX);
	return 0;
}

void dx_journal_fini(struct daxfs *fs)
{
	free(fs->jr.flush);
	free(fs->jr.frees);
	free(fs->jr.ifrees);
	dx_csum_fini(fs);
	dx_mutex_destroy(&fs->tx_lock);
}

static uint32_t entry_crc(const struct dx_journal_entry *e, const void *data)
{
	struct dx_journal_entry h = *e;

	h.crc = 0;
	return dx_crc32c(dx_crc32c(0, &h, sizeof(h)), data, e->len);
}

/*
 * Roll back the transaction that was open at a crash.  Runs before anything
 * else touches the pool.  Returns the number of ranges restored.
 */
int dx_journal_recover(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;
	uint64_t seq = jr->hdr->seq;
	uint64_t pool = fs->sb.nblocks * DX_BLOCK_SIZE;
	size_t *offs = NULL, n = 0, cap = 0, pos = 0;

	while (pos + sizeof(struct dx_journal_entry) <= jr->size) {
		struct dx_journal_entry *e = (void *)(jr->area + pos);

		if (e->seq != seq || e->len == 0 || e->len > jr->size - pos - sizeof(*e) ||
		    e->off >= pool || e->len > pool - e->off)
			break;
		if (entry_crc(e, e + 1) != e->crc)
			break;
		if (n == cap) {
			size_t *o = realloc(offs, (cap = cap ? cap * 2 : 64) * sizeof(*o));
			if (!o) {
				free(offs);
				return dx_err(-ENOMEM, "out of memory replaying the journal");
			}
			offs = o;
		}
		offs[n++] = pos;
		pos += dx_tx_cost(e->len);
	}
	if (n && fs->readonly) {
		free(offs);
		return dx_err(-EROFS, "the journal holds an interrupted transaction; "
				      "mount read-write once (or run fsck.daxfs) to roll it back");
	}
	/* Newest first, so the oldest saved bytes of a range win. */
	for (size_t i = n; i-- > 0;) {
		struct dx_journal_entry *e = (void *)(jr->area + offs[i]);
		dx_memcpy_nodrain(&fs->pc, fs->base + e->off, e + 1, e->len);
	}
	free(offs);
	if (n) {
		dx_drain(&fs->pc);
		/* Rolled back: retire the entries. */
		dx_store64_persist(&fs->pc, &jr->hdr->seq, seq + 1);
	}
	return (int)n;
}

static void push_range(struct dx_range **v, size_t *n, size_t *cap, void *p, size_t len)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct dx_range *nv = realloc(*v, nc * sizeof(**v));
		if (!nv) {
			/* A half-done transaction can't be abandoned at run time. */
			dx_log(NULL, DAXFS_LOG_ERR, "out of memory inside a transaction");
			abort();
		}
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = (struct dx_range){p, len};
}

void dx_tx_begin(struct daxfs *fs)
{
	dx_mutex_lock(&fs->tx_lock);
	fs->jr.open = true;
	fs->jr.tail = 0;
	fs->jr.seq = fs->jr.hdr->seq;
	fs->jr.nflush = 0;
	fs->jr.nfrees = 0;
	fs->jr.nifrees = 0;
	fs->jr.unsealed = false;
	fs->jr.nrecent = 0;
	fs->jr.recent_next = 0;
	dx_backing_tx_begin(fs);
}

size_t dx_tx_room(struct daxfs *fs)
{
	/* Keep a little room for the inode and time stores that close most
	 * operations (the frees log their bitmap words as they are made). */
	size_t reserve = 8192;
	size_t used = fs->jr.tail + reserve, room;
	size_t size = fs->jr.limit && fs->jr.limit < fs->jr.size ? fs->jr.limit : fs->jr.size;

	room = used >= size ? 0 : size - used;
	if (__builtin_expect(dx_inject_hook != NULL, 0)) {
		/* A transaction that holds nothing has the whole journal
		 * (mkfs makes it >= 1 MiB, and no single step needs more than
		 * a few KiB), so its check cannot fail: only checks after
		 * something was logged or freed are failed. */
		if (fs->jr.tail && dx_inject_fail(DX_INJECT_TX_ROOM))
			return 0;
		if (dx_inject_hook->room_cap) {
			/* A smaller journal: what this one would leave of the cap. */
			size_t cap = dx_inject_hook->room_cap, small;
			small = used - reserve >= cap ? 0 : cap - (used - reserve);
			if (small < room)
				room = small;
		}
	}
	return room;
}

/* Remember a range logged or touched, for covered(). */
static void remember(struct dx_journal *jr, const void *p, size_t len)
{
	jr->recent[jr->recent_next] = (struct dx_range){(void *)p, len};
	jr->recent_next = (jr->recent_next + 1) % DX_TX_RECENT;
	if (jr->nrecent < DX_TX_RECENT)
		jr->nrecent++;
}

/*
 * Is [p, p+len) inside a range this transaction logged or touched lately?
 * Then it needs no entry: a logged range's entry already holds the bytes
 * as they were before the transaction (recovery restores newest first, so
 * the oldest entry of a byte wins), and a touched range's bytes need not
 * come back at all (those logged before the touch have their own entry).
 * Only the last few are searched: a miss costs an entry, never safety.
 */
static bool covered(const struct dx_journal *jr, const void *p, size_t len)
{
	const char *c = p;

	for (unsigned i = 0; i < jr->nrecent; i++) {
		const struct dx_range *r =
		    &jr->recent[(jr->recent_next + DX_TX_RECENT - 1 - i) % DX_TX_RECENT];
		if (c >= (const char *)r->p && len <= r->len &&
		    (size_t)(c - (const char *)r->p) <= r->len - len)
			return true;
	}
	return false;
}

void dx_tx_log(struct daxfs *fs, const void *p, size_t len)
{
	struct dx_journal *jr = &fs->jr;
	struct dx_journal_entry e;
	char *dst;

	if (!len || covered(jr, p, len))
		return;
	/* Before the range's own entry: may log the crc field of its object. */
	dx_csum_note(fs, p, len, true);
	if (jr->tail + dx_tx_cost(len) > jr->size) {
		dx_log(fs, DAXFS_LOG_ERR,
		       "journal overflow (%zu bytes); a caller skipped dx_tx_room()", len);
		abort();
	}
	dst = jr->area + jr->tail;
	e.seq = jr->seq;
	e.off = dx_off(fs, p);
	e.len = (uint32_t)len;
	e.crc = 0;
	e.crc = entry_crc(&e, p);
	dx_memcpy_nodrain(&fs->pc, dst, &e, sizeof(e));
	if (dx_fault(fs, DX_FAULT_LATE_STORE)) {
		/* Planted: the flush runs before the store it should cover. */
		dx_flush(&fs->pc, dst + sizeof(e), len);
		memcpy(dst + sizeof(e), p, len);
	} else {
		dx_memcpy_nodrain(&fs->pc, dst + sizeof(e), p, len);
	}
	jr->unsealed = true;
	jr->tail += dx_tx_cost(len);
	push_range(&jr->flush, &jr->nflush, &jr->flush_cap, (void *)p, len);
	remember(jr, p, len);
}

void dx_tx_seal(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;

	if (!jr->unsealed)
		return;
	/* Ordering 1: the undo bytes are durable before the range changes. */
	if (!dx_fault(fs, DX_FAULT_MISSING_DRAIN))
		dx_drain(&fs->pc);
	jr->unsealed = false;
}

void dx_tx_add(struct daxfs *fs, const void *p, size_t len)
{
	dx_tx_log(fs, p, len);
	dx_tx_seal(fs);
}

void dx_tx_touch(struct daxfs *fs, const void *p, size_t len)
{
	dx_csum_note(fs, p, len, false);
	push_range(&fs->jr.flush, &fs->jr.nflush, &fs->jr.flush_cap, (void *)p, len);
	remember(&fs->jr, p, len);
}

void dx_tx_commit(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;

	dx_alloc_apply_frees(fs);
	/* The crcs of what changed, each field logged when its object first
	 * changed, flushed below with the rest; their undo entries are
	 * durable before the crcs are stored (ordering 1). */
	if (fs->jr.ncs)
		dx_tx_seal(fs);
	dx_csum_commit(fs);
	if (jr->tail || jr->nflush) {
		for (size_t i = 0; i < jr->nflush; i++)
			dx_flush(&fs->pc, jr->flush[i].p, jr->flush[i].len);
		/* Ordering 2: everything the transaction wrote is durable
		 * (and any entry logged but never sealed: its range was not
		 * stored to) ... */
		dx_drain(&fs->pc);
		jr->unsealed = false;
		/* ... before the commit record (ordering 3). */
		if (jr->tail)
			dx_store64_persist(&fs->pc, &jr->hdr->seq, jr->seq + 1);
	}
	dx_alloc_apply_ifrees(fs);
	jr->open = false;
	dx_mutex_unlock(&fs->tx_lock);
}
