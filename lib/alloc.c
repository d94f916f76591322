/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - block and inode allocators.
 *
 * Blocks: a persistent bitmap, changed only inside a transaction (each word
 * logged before it changes), with a DRAM free count and a next-fit hint.
 * Frees are deferred to commit, so a block freed by a transaction cannot be
 * handed out again by the same transaction: a rollback would otherwise
 * return it to its old owner with another file's bytes in it.
 *
 * Inodes: a slot is in use when its mode is non-zero; the DRAM bitmap of
 * used slots is rebuilt at mount from the slots below the inode table's
 * high-water mark (format.h); those above it are free and never read, so a
 * sparse pool's table costs memory only as inodes are used.  The mark moves
 * up in the transaction that allocates the first slot above it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "fault.h"
#include "validate.h"

static inline bool bit_test(const uint64_t *map, uint64_t b)
{
	return map[b >> 6] >> (b & 63) & 1;
}

int dx_alloc_init(struct daxfs *fs)
{
	uint64_t used = 0, n = fs->sb.nblocks;
	const char *why;

	for (uint64_t w = 0; w < n / 64; w++)
		used += (uint64_t)__builtin_popcountll(fs->bitmap[w]);
	for (uint64_t b = n & ~63ULL; b < n; b++)
		used += bit_test(fs->bitmap, b);
	fs->free_blocks = n - used;
	fs->block_hint = fs->sb.data_blk;

	/* After recovery: a rollback may have moved the mark back. */
	why = dx_v_imark(&fs->sb, dx_super(fs)->itable_mark, &fs->imark);
	if (why)
		return dx_err(-EUCLEAN, "%s; run fsck.daxfs", why);
	fs->ibitmap = calloc((fs->sb.ninodes + 63) / 64, sizeof(uint64_t));
	if (!fs->ibitmap)
		return dx_err(-ENOMEM, "out of memory for the inode bitmap");
	fs->free_inodes = fs->sb.ninodes - fs->imark;
	for (uint64_t i = 0; i < fs->imark; i++) {
		if (fs->itable[i].mode)
			fs->ibitmap[i >> 6] |= 1ULL << (i & 63);
		else
			fs->free_inodes++;
	}
	fs->inode_hint = 0;
	fs->imark_backed = fs->sb.ninodes; /* backing.c lowers it */
	return 0;
}

/* First clear bit in [from, to), or to. */
static uint64_t find_clear(const uint64_t *map, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t w = ~map[from >> 6] & (~0ULL << (from & 63));
		if (w) {
			uint64_t b = (from & ~63ULL) + (uint64_t)__builtin_ctzll(w);
			return b < to ? b : to;
		}
		from = (from & ~63ULL) + 64;
	}
	return to;
}

/* First set bit in [from, to), or to. */
static uint64_t find_set(const uint64_t *map, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t w = map[from >> 6] & (~0ULL << (from & 63));
		if (w) {
			uint64_t b = (from & ~63ULL) + (uint64_t)__builtin_ctzll(w);
			return b < to ? b : to;
		}
		from = (from & ~63ULL) + 64;
	}
	return to;
}

static bool block_backed(const struct daxfs *fs, uint64_t b)
{
	uint64_t g = b / DX_BACK_GRANULE;
	return !fs->backed || fs->backed[g >> 6] >> (g & 63) & 1;
}

/* First free block in [from, to) of a granule whose backing is reserved
 * (backing.c), or to. */
static uint64_t find_free(const struct daxfs *fs, uint64_t from, uint64_t to)
{
	while (from < to) {
		uint64_t b = find_clear(fs->bitmap, from, to), g;

		if (b == to || block_backed(fs, b))
			return b;
		g = find_set(fs->backed, b / DX_BACK_GRANULE + 1, fs->ngranules);
		from = g * DX_BACK_GRANULE;
	}
	return to;
}

/* End of the run of reserved granules that b is in (bounded by to). */
static uint64_t backed_end(const struct daxfs *fs, uint64_t b, uint64_t to)
{
	uint64_t e;

	if (!fs->backed)
		return to;
	e = find_clear(fs->backed, b / DX_BACK_GRANULE, fs->ngranules) * DX_BACK_GRANULE;
	return e < to ? e : to;
}

/* The bitmap words that hold bits [b, b+len). */
static void *bits_words(struct daxfs *fs, uint64_t b, uint64_t len, size_t *bytes)
{
	uint64_t w0 = b >> 6, w1 = (b + len - 1) >> 6;

	*bytes = (w1 - w0 + 1) * sizeof(uint64_t);
	return &fs->bitmap[w0];
}

/* Set or clear bits [b, b+len), logging the words first unless the
 * caller did (and sealed) that already. */
static void bits_change(struct daxfs *fs, uint64_t b, uint64_t len, bool set, bool logged)
{
	size_t bytes;
	void *w;

	/* Callers pass validated runs; never write outside the bitmap. */
	if (!dx_v_data_range(&fs->sb, b, len)) {
		dx_log(fs, DAXFS_LOG_ERR,
		       "BUG: bitmap change of blocks %llu+%llu outside the data area",
		       (unsigned long long)b, (unsigned long long)len);
		return;
	}
	w = bits_words(fs, b, len, &bytes);
	if (!logged)
		dx_tx_add(fs, w, bytes);
	for (uint64_t i = b; i < b + len;) {
		uint64_t bit = i & 63, n = 64 - bit < b + len - i ? 64 - bit : b + len - i;
		uint64_t mask = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit;
		if (set)
			fs->bitmap[i >> 6] |= mask;
		else
			fs->bitmap[i >> 6] &= ~mask;
		i += n;
	}
}

uint64_t dx_alloc_blocks(struct daxfs *fs, uint64_t goal, uint64_t want, uint64_t *pblk)
{
	uint64_t lo = fs->sb.data_blk, hi = fs->sb.nblocks, b, e;

	if (!want || !fs->free_blocks || dx_inject_fail(DX_INJECT_ALLOC_BLOCKS))
		return 0;
	if (goal < lo || goal >= hi)
		goal = fs->block_hint;
	b = find_free(fs, goal, hi);
	if (b == hi) {
		b = find_free(fs, lo, goal);
		if (b == goal)
			return 0;
	}
	if (want > fs->free_blocks)
		want = fs->free_blocks;
	e = find_set(fs->bitmap, b, backed_end(fs, b, b + want < hi ? b + want : hi));
	bits_change(fs, b, e - b, true, false);
	fs->free_blocks -= e - b;
	fs->block_hint = e < hi ? e : lo;
	dx_prefault(fs, b, e - b);
	*pblk = b;
	return e - b;
}

static void free_run(struct daxfs *fs, uint64_t pblk, uint64_t len);

void dx_free_blocks(struct daxfs *fs, uint64_t pblk, uint64_t len)
{
	if (!len)
		return;
	/* The run came from the pool (an extent, a record): a wild one is
	 * reported, and leaked rather than freed. */
	if (!dx_v_data_range(&fs->sb, pblk, len)) {
		dx_corrupt(fs, 0, "block run", "freeing blocks %llu+%llu outside the data area",
			   (unsigned long long)pblk, (unsigned long long)len);
		return;
	}
	/* A shared block only loses the reference of the extent that lets
	 * go of it; the last extent frees it. */
	while (len) {
		uint64_t n = dx_refc_run(fs, pblk, len, true);

		if (n) {
			dx_refc_drop(fs, pblk, n);
		} else {
			n = dx_refc_run(fs, pblk, len, false);
			free_run(fs, pblk, n);
		}
		pblk += n;
		len -= n;
	}
}

static void free_run(struct daxfs *fs, uint64_t pblk, uint64_t len)
{
	struct dx_journal *jr = &fs->jr;

	if (jr->nfrees == jr->frees_cap) {
		size_t nc = jr->frees_cap ? jr->frees_cap * 2 : 64;
		struct dx_range *v = realloc(jr->frees, nc * sizeof(*v));
		if (!v)
			abort(); /* inside a transaction: nothing sane to unwind */
		jr->frees = v;
		jr->frees_cap = nc;
	}
	jr->frees[jr->nfrees++] = (struct dx_range){(void *)(uintptr_t)pblk, (size_t)len};
	/* The words are logged now, unsealed (the bits change at commit,
	 * after a seal): the transaction's next fence covers them with its
	 * other entries, where logging them at commit would cost one more.
	 * They hold the bytes from before the transaction either way (an
	 * allocation into the same word logged it first, or will find it
	 * logged). */
	{
		size_t bytes;
		void *w = bits_words(fs, pblk, len, &bytes);
		dx_tx_log(fs, w, bytes);
	}
}

/*
 * The last line of defence of the pin invariant: a pinned block is never
 * returned to the free pool.  The layout code waits for pins before it frees
 * anything, so this finds nothing unless that code has a bug; then the
 * block is leaked (fsck reclaims it) rather than handed to another file.
 */
static void free_unpinned(struct daxfs *fs, uint64_t b, uint64_t n)
{
	uint64_t run = 0;

	if (!dx_pinned_range(fs, b, n) || dx_fault(fs, DX_FAULT_SKIP_BUSY_CHECK)) {
		bits_change(fs, b, n, false, true);
		fs->free_blocks += n;
		return;
	}
	for (uint64_t i = b; i <= b + n; i++) {
		uint32_t c = 0;
		if (i < b + n) {
			c = dx_pin_count(fs, i);
			if (!c) {
				run++;
				continue;
			}
			dx_log(fs, DAXFS_LOG_ERR, "BUG: refusing to free pinned block %llu",
			       (unsigned long long)i);
		}
		if (run) {
			bits_change(fs, i - run, run, false, true);
			fs->free_blocks += run;
		}
		run = 0;
	}
}

void dx_alloc_apply_frees(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;

	/* dx_free_blocks logged the words; fence them if nothing did. */
	if (jr->nfrees)
		dx_tx_seal(fs);
	for (size_t i = 0; i < jr->nfrees; i++) {
		uint64_t b = (uint64_t)(uintptr_t)jr->frees[i].p, n = jr->frees[i].len;
		if (fs->pins)
			free_unpinned(fs, b, n);
		else
			bits_change(fs, b, n, false, true);
		if (!fs->pins)
			fs->free_blocks += n;
	}
	jr->nfrees = 0;
}

/*
 * Initialise the next granule of the inode table: zero its slots (they are
 * above the committed mark, so nothing needs their old bytes, and a crash
 * before the commit leaves them above the mark again) and move the mark in
 * this transaction.  The commit's drain orders the zeroes before it.
 */
static bool imark_advance(struct daxfs *fs)
{
	struct dx_super *psb = dx_super(fs);
	uint64_t from = fs->imark, to = from + DX_IMARK_GRANULE;

	if (to > fs->sb.ninodes)
		to = fs->sb.ninodes;
	/* Only over reserved table bytes (backing.c): free_inodes counts them. */
	if (to > fs->imark_backed)
		to = fs->imark_backed;
	if (from >= to)
		return false;
	dx_memset_nodrain(&fs->pc, &fs->itable[from], 0, (to - from) * sizeof(struct dx_inode));
	dx_tx_add(fs, &psb->itable_mark, sizeof(psb->itable_mark));
	psb->itable_mark = dx_imark_word(to);
	__atomic_store_n(&fs->imark, to, __ATOMIC_RELEASE);
	return true;
}

uint64_t dx_alloc_inode(struct daxfs *fs)
{
	uint64_t n = fs->imark, i;

	if (!fs->free_inodes || dx_inject_fail(DX_INJECT_ALLOC_INODE))
		return 0;
	/* Reuse an initialised slot before the table grows. */
	if (fs->inode_hint >= n)
		fs->inode_hint = 0;
	i = find_clear(fs->ibitmap, fs->inode_hint, n);
	if (i == n) {
		i = find_clear(fs->ibitmap, 0, fs->inode_hint);
		if (i == fs->inode_hint) {
			if (!imark_advance(fs))
				return 0;
			i = n;
			n = fs->imark;
		}
	}
	fs->ibitmap[i >> 6] |= 1ULL << (i & 63);
	fs->free_inodes--;
	fs->inode_hint = i + 1 < n ? i + 1 : 0;
	return i + 1;
}

void dx_alloc_apply_ifrees(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;

	for (size_t i = 0; i < jr->nifrees; i++) {
		uint64_t s = jr->ifrees[i] - 1;
		fs->ibitmap[s >> 6] &= ~(1ULL << (s & 63));
		fs->free_inodes++;
	}
	jr->nifrees = 0;
}
