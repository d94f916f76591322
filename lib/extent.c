/* SPDX-License-Identifier: MIT */
/*
 * extent.c - a file's block map.
 *
 * In the pool, extent records are unordered slots: four in the inode and
 * 255 in each block of a chain.  In DRAM, a sorted array indexes them, so
 * lookups, SEEK_DATA/SEEK_HOLE and the busy checks of later work are
 * binary searches.  Every change to a record is logged (dx_tx_add) before
 * it is made; the DRAM array is changed alongside and never rolled back,
 * because transactions never abort at run time (callers check space first).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "csum.h"
#include "validate.h"

static int xent_cmp(const void *a, const void *b)
{
	const struct dx_xent *x = a, *y = b;

	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

static int push_free(struct dx_xmap *m, struct dx_extent *slot)
{
	if (m->nfree == m->free_cap) {
		size_t nc = m->free_cap ? m->free_cap * 2 : 16;
		struct dx_extent **v = realloc(m->free, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->free = v;
		m->free_cap = nc;
	}
	m->free[m->nfree++] = slot;
	return 0;
}

static int grow(struct dx_xmap *m, size_t n)
{
	if (n > m->cap) {
		size_t nc = m->cap ? m->cap : 8;
		struct dx_xent *v;
		while (nc < n)
			nc *= 2;
		v = realloc(m->v, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->v = v;
		m->cap = nc;
	}
	return 0;
}

static int load_slot(struct daxfs *fs, struct dx_ino *ip, struct dx_extent *slot)
{
	struct dx_xmap *m = &ip->xmap;
	const char *why;

	if (!slot->len)
		return push_free(m, slot);
	why = dx_v_extent(&fs->sb, slot, ip->d->mode);
	if (why)
		return dx_corrupt(fs, ip->ino, "extent", "%s (file block %u, %u blocks at %llu)", why,
				  slot->lblk, slot->len, (unsigned long long)slot->pblk);
	if (grow(m, m->n + 1))
		return -ENOMEM;
	m->v[m->n++] = (struct dx_xent){slot->lblk, slot->len, slot->pblk, slot};
	return 0;
}

/*
 * The next link of an inode's extent chain after block b (0: the inode's
 * own ext_next), validated.  *slow trails at half speed (Floyd), so a cycle
 * is found after at most twice its length in steps whatever its shape.
 */
static int chain_next(struct daxfs *fs, struct dx_ino *ip, uint64_t b, uint64_t *slow,
		      uint64_t step, uint64_t *next)
{
	uint64_t n = b ? ((struct dx_extent_block *)dx_blk(fs, b))->next : ip->d->ext_next;
	const char *why;

	*next = 0;
	if (!n)
		return 0;
	why = dx_v_extent_block(&fs->sb, n, dx_v_data_range(&fs->sb, n, 1) ? dx_blk(fs, n) : NULL,
				ip->ino);
	if (!why && step % 2)
		*slow = *slow ? ((struct dx_extent_block *)dx_blk(fs, *slow))->next : ip->d->ext_next;
	if (!why && n == *slow)
		why = "extent chain loops";
	if (!why && !dx_csum_extblk_ok(fs, n, dx_blk(fs, n)))
		why = "extent block checksum mismatch";
	if (why)
		return dx_corrupt(fs, ip->ino, "extent chain", "%s (block %llu)", why,
				  (unsigned long long)n);
	*next = n;
	return 0;
}

int dx_xmap_load(struct daxfs *fs, struct dx_ino *ip)
{
	struct dx_xmap *m = &ip->xmap;
	uint64_t b = 0, slow = 0, step = 0;
	const char *why = dx_v_inode(&fs->sb, ip->d);
	int ret;

	/* A load that failed half-way (or a directory whose entries failed)
	 * is retried from nothing. */
	dx_xmap_free(m);
	if (!why && !dx_csum_inode_ok(fs, ip->ino, ip->d))
		why = "checksum mismatch";
	if (why)
		return dx_corrupt(fs, ip->ino, "inode", "%s (mode 0%o, size %llu)", why,
				  ip->d->mode, (unsigned long long)ip->d->size);
	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		if ((ret = load_slot(fs, ip, &ip->d->ext[i])))
			goto fail;
	for (;;) {
		struct dx_extent_block *eb;
		if ((ret = chain_next(fs, ip, b, &slow, step++, &b)))
			goto fail;
		if (!b)
			break;
		eb = dx_blk(fs, b);
		for (int i = 0; i < DX_EXTENTS_PER_BLOCK; i++)
			if ((ret = load_slot(fs, ip, &eb->ext[i])))
				goto fail;
	}
	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), xent_cmp);
	why = dx_v_xmap(m->v, m->n, ip->d);
	if (why) {
		ret = dx_corrupt(fs, ip->ino, "extent map", "%s", why);
		goto fail;
	}
	if (S_ISLNK(ip->d->mode) && (why = dx_v_symlink(dx_blk(fs, m->v[0].pblk), ip->d->size))) {
		ret = dx_corrupt(fs, ip->ino, "symlink", "%s", why);
		goto fail;
	}
	return 0;
fail:
	/* Leave nothing half-loaded: a later load starts afresh. */
	dx_xmap_free(m);
	if (ret == -ENOMEM)
		return dx_err(-ENOMEM, "out of memory loading inode %llu",
			      (unsigned long long)ip->ino);
	return ret;
}

int dx_xmap_init(struct dx_ino *ip)
{
	dx_xmap_free(&ip->xmap);
	/* In the order dx_xmap_load pushes them. */
	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		if (push_free(&ip->xmap, &ip->d->ext[i]))
			return -ENOMEM;
	return 0;
}

void dx_xmap_free(struct dx_xmap *m)
{
	free(m->v);
	free(m->free);
	memset(m, 0, sizeof(*m));
}

size_t dx_xmap_find(const struct dx_xmap *m, uint64_t lblk)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if ((uint64_t)m->v[mid].lblk + m->v[mid].len <= lblk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void *dx_xmap_addr(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk)
{
	const struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, lblk);

	if (i == m->n || m->v[i].lblk > lblk)
		return NULL;
	return dx_blk(fs, m->v[i].pblk + (lblk - m->v[i].lblk));
}

uint64_t dx_xmap_meta_need(struct dx_ino *ip, uint64_t n)
{
	uint64_t nfree = ip->xmap.nfree;

	return n <= nfree ? 0 : (n - nfree + DX_EXTENTS_PER_BLOCK - 1) / DX_EXTENTS_PER_BLOCK;
}

/* Chain a new extent block to ip's map: DX_EXTENTS_PER_BLOCK more free
 * slots.  In a tx; -ENOSPC (nothing changed) when the pool is full. */
static int chain_block(struct daxfs *fs, struct dx_ino *ip)
{
	struct dx_xmap *m = &ip->xmap;
	struct dx_extent_block *eb;
	uint64_t b;

	if (!dx_alloc_blocks(fs, 0, 1, &b))
		return -ENOSPC;
	eb = dx_blk(fs, b);
	/* A fresh block: nothing to roll back inside it. */
	dx_tx_touch(fs, eb, sizeof(*eb));
	dx_csum_note_block(fs, DX_CS_EXTBLK, eb);
	memset(eb, 0, sizeof(*eb));
	eb->next = ip->d->ext_next;
	eb->owner = (uint32_t)ip->ino;
	dx_tx_add(fs, &ip->d->ext_next, sizeof(ip->d->ext_next));
	ip->d->ext_next = b;
	for (int i = DX_EXTENTS_PER_BLOCK - 1; i >= 0; i--)
		if (push_free(m, &eb->ext[i]))
			abort(); /* inside a transaction */
	return 0;
}

/* A free record slot, chaining a new extent block when none is left. */
static struct dx_extent *get_slot(struct daxfs *fs, struct dx_ino *ip)
{
	struct dx_xmap *m = &ip->xmap;

	if (!m->nfree && chain_block(fs, ip))
		return NULL;
	return m->free[--m->nfree];
}

int dx_xmap_reserve(struct daxfs *fs, struct dx_ino *ip, uint64_t n)
{
	struct dx_xmap *m = &ip->xmap;
	uint64_t first = ip->d->ext_next;

	while (m->nfree < n) {
		if (!chain_block(fs, ip))
			continue;
		/* Unchain what this call chained (each block's slots are the
		 * last pushed, all still free): nothing changed. */
		while (ip->d->ext_next != first) {
			uint64_t b = ip->d->ext_next;
			struct dx_extent_block *eb = dx_blk(fs, b);

			m->nfree -= DX_EXTENTS_PER_BLOCK;
			dx_tx_add(fs, &ip->d->ext_next, sizeof(ip->d->ext_next));
			ip->d->ext_next = eb->next;
			dx_free_blocks(fs, b, 1);
		}
		return -ENOSPC;
	}
	return 0;
}

/* A record in an extent block changes: so does the block's crc (the
 * inode's own slots are noted by dx_tx_add). */
static void note_slot(struct daxfs *fs, struct dx_ino *ip, const struct dx_extent *slot)
{
	if (slot < ip->d->ext || slot >= ip->d->ext + DX_INLINE_EXTENTS)
		dx_csum_note_block(fs, DX_CS_EXTBLK,
				   (const void *)((uintptr_t)slot & ~(uintptr_t)(DX_BLOCK_SIZE - 1)));
}

static void slot_set(struct daxfs *fs, struct dx_ino *ip, struct dx_xent *e)
{
	note_slot(fs, ip, e->slot);
	dx_tx_add(fs, e->slot, sizeof(*e->slot));
	e->slot->lblk = e->lblk;
	e->slot->len = e->len;
	e->slot->pblk = e->pblk;
}

static void slot_clear(struct daxfs *fs, struct dx_ino *ip, struct dx_extent *slot)
{
	struct dx_xmap *m = &ip->xmap;

	note_slot(fs, ip, slot);
	dx_tx_add(fs, &slot->len, sizeof(slot->len));
	slot->len = 0;
	if (push_free(m, slot))
		abort();
}

static int insert_at(struct daxfs *fs, struct dx_ino *ip, size_t i, struct dx_xent e)
{
	struct dx_xmap *m = &ip->xmap;

	if (grow(m, m->n + 1))
		return -ENOMEM;
	e.slot = get_slot(fs, ip);
	if (!e.slot)
		return -ENOSPC;
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
	m->v[i] = e;
	m->n++;
	slot_set(fs, ip, &m->v[i]);
	return 0;
}

int dx_xmap_insert(struct daxfs *fs, struct dx_ino *ip, uint32_t lblk, uint64_t pblk, uint32_t len)
{
	struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, lblk);

	/* Appending to the previous extent keeps sequential files one
	 * record long. */
	if (i > 0) {
		struct dx_xent *p = &m->v[i - 1];
		if ((uint64_t)p->lblk + p->len == lblk && p->pblk + p->len == pblk &&
		    (uint64_t)p->len + len <= DX_EXTENT_MAX_LEN) {
			p->len += len;
			slot_set(fs, ip, p);
			return 0;
		}
	}
	return insert_at(fs, ip, i, (struct dx_xent){lblk, len, pblk, NULL});
}

int dx_xmap_split(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk)
{
	struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, lblk);
	struct dx_xent *e, tail;

	if (i == m->n || m->v[i].lblk >= lblk)
		return 0;
	e = &m->v[i];
	tail.lblk = (uint32_t)lblk;
	tail.len = (uint32_t)(e->lblk + e->len - lblk);
	tail.pblk = e->pblk + (lblk - e->lblk);
	if (!m->nfree && !fs->free_blocks)
		return -ENOSPC;
	e->len = (uint32_t)(lblk - e->lblk);
	slot_set(fs, ip, e);
	return insert_at(fs, ip, i + 1, tail);
}

static void remove_at(struct dx_xmap *m, size_t i)
{
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
	m->n--;
}

int dx_xmap_remove(struct daxfs *fs, struct dx_ino *ip, uint64_t start, uint64_t end,
		   bool keep_blocks)
{
	struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, start);
	size_t j = dx_xmap_find(m, end);
	uint64_t freed = 0;
	int ret = 0;

	if (end <= start)
		return 0;
	/* An extent that covers both ends needs one more record: split it
	 * first, so the loop below only trims or drops. */
	if (i < m->n && m->v[i].lblk < start && (uint64_t)m->v[i].lblk + m->v[i].len > end) {
		ret = dx_xmap_split(fs, ip, end);
		if (ret)
			return ret;
		j = dx_xmap_find(m, end);
	}
	if (j < m->n && m->v[j].lblk < end)
		j++; /* j: one past the last extent that overlaps */
	while (j > i) {
		struct dx_xent *e = &m->v[j - 1];
		uint64_t es = e->lblk, ee = (uint64_t)e->lblk + e->len;
		uint64_t cs = es > start ? es : start, ce = ee < end ? ee : end;

		/* Its bitmap words, and its reference counts if it may share. */
		if (dx_tx_room(fs) < 256 + dx_tx_cost(((ce - cs) / 64 + 2) * 8) +
					 (fs->refc ? dx_tx_cost((ce - cs) * 2) : 0)) {
			/* Nothing logged yet and still no room: a retry cannot
			 * do better, so fail instead of looping. */
			if (!fs->jr.tail && !freed)
				return dx_corrupt(fs, ip->ino, "extent",
						  "%llu blocks at file block %llu do not fit in "
						  "the journal",
						  (unsigned long long)(ce - cs), (unsigned long long)cs);
			ret = -EAGAIN;
			break;
		}
		if (!keep_blocks)
			dx_free_blocks(fs, e->pblk + (cs - es), ce - cs);
		freed += ce - cs;
		if (cs == es && ce == ee) {
			slot_clear(fs, ip, e->slot);
			remove_at(m, j - 1);
		} else if (cs == es) {
			e->pblk += ce - es;
			e->lblk = (uint32_t)ce;
			e->len = (uint32_t)(ee - ce);
			slot_set(fs, ip, e);
		} else {
			e->len = (uint32_t)(cs - es);
			slot_set(fs, ip, e);
		}
		j--;
	}
	if (freed) {
		dx_tx_add(fs, &ip->d->blocks, sizeof(ip->d->blocks));
		ip->d->blocks -= freed;
	}
	return ret;
}

int dx_xmap_shift(struct daxfs *fs, struct dx_ino *ip, uint64_t from, uint64_t to, int64_t delta,
		  uint64_t *next)
{
	struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, from), j;
	size_t cost = dx_tx_cost(sizeof(struct dx_extent));

	/* i: the first extent that starts at or after from. */
	if (i < m->n && m->v[i].lblk < from)
		i++;
	for (j = i; j < m->n && m->v[j].lblk < to; j++)
		;
	/* Down: lowest first; up: highest first.  Either way the array stays
	 * sorted and no moved extent overlaps one still to move. */
	while (i < j) {
		struct dx_xent *e = &m->v[delta < 0 ? i : j - 1];

		if (dx_tx_room(fs) < cost + 256) {
			*next = delta < 0 ? e->lblk : (uint64_t)e->lblk + 1;
			return -EAGAIN;
		}
		e->lblk = (uint32_t)((int64_t)e->lblk + delta);
		slot_set(fs, ip, e);
		if (delta < 0)
			i++;
		else
			j--;
	}
	return 0;
}

int dx_xmap_repoint(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t n, uint64_t pblk)
{
	struct dx_xmap *m = &ip->xmap;
	struct dx_xent *e;
	size_t i;
	int ret = dx_xmap_split(fs, ip, lblk);

	if (!ret)
		ret = dx_xmap_split(fs, ip, lblk + n);
	if (ret)
		return ret;
	i = dx_xmap_find(m, lblk);
	if (i == m->n || m->v[i].lblk != lblk || m->v[i].len != n)
		abort(); /* the caller's range is not inside one extent */
	e = &m->v[i];
	e->pblk = pblk;
	slot_set(fs, ip, e);
	return 0;
}

uint64_t dx_xmap_mapped(const struct dx_ino *ip, uint64_t start, uint64_t end)
{
	const struct dx_xmap *m = &ip->xmap;
	uint64_t n = 0;

	for (size_t i = dx_xmap_find(m, start); i < m->n && m->v[i].lblk < end; i++) {
		uint64_t s = m->v[i].lblk > start ? m->v[i].lblk : start;
		uint64_t e = (uint64_t)m->v[i].lblk + m->v[i].len;

		n += (e < end ? e : end) - s;
	}
	return n;
}

void dx_xmap_release_blocks(struct daxfs *fs, struct dx_ino *ip)
{
	/* One freed block logs one bitmap word at commit; the chain head once
	 * per transaction. */
	const size_t per_block = dx_tx_cost(sizeof(uint64_t));
	uint64_t guard = fs->sb.nblocks - fs->sb.data_blk;
	bool head_logged = false;

	/* Only the inline slots stay usable; the chain's slots go first, as
	 * its blocks may be handed out again once a chunk commits. */
	ip->xmap.nfree = 0;
	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		if (!ip->d->ext[i].len && push_free(&ip->xmap, &ip->d->ext[i]))
			abort();
	/*
	 * A very large file's chain does not fit in one transaction: free it
	 * from the head in journal-sized chunks.  Each chunk commits a shorter
	 * chain with its blocks freed, so a crash in between leaves a
	 * consistent inode (an orphan or a truncated file) that reclaim at
	 * mount, or the intent's completion, finishes.
	 */
	while (ip->d->ext_next) {
		uint64_t b = ip->d->ext_next;
		struct dx_extent_block *eb = dx_v_data_range(&fs->sb, b, 1) ? dx_blk(fs, b) : NULL;
		const char *why = dx_v_extent_block(&fs->sb, b, eb, ip->ino);

		/* Validated at load; checked again, and bounded, so that a bad
		 * link cuts the chain (leaking the rest) instead of a wild
		 * free or an endless loop. */
		if (!why && !guard--)
			why = "extent chain loops";
		if (why) {
			dx_corrupt(fs, ip->ino, "extent chain", "%s (block %llu)", why,
				   (unsigned long long)b);
			if (!head_logged)
				dx_tx_add(fs, &ip->d->ext_next, sizeof(ip->d->ext_next));
			ip->d->ext_next = 0;
			break;
		}
		if (dx_tx_room(fs) < per_block + dx_tx_cost(sizeof(ip->d->ext_next))) {
			dx_tx_commit(fs);
			dx_tx_begin(fs);
			head_logged = false;
		}
		if (!head_logged) {
			dx_tx_add(fs, &ip->d->ext_next, sizeof(ip->d->ext_next));
			head_logged = true;
		}
		ip->d->ext_next = eb->next;
		dx_free_blocks(fs, b, 1);
	}
}
