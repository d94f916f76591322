/* SPDX-License-Identifier: MIT */
/* csum.c - metadata checksums; see csum.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "crc32c.h"
#include "csum.h"
#include "validate.h"

#define OFF(t, f) __builtin_offsetof(t, f)

/* ---- the checksums ---- */

uint32_t dx_csum_seed(const struct dx_super *sb)
{
	/* Fixed by mkfs: tune.daxfs may change the UUID (lib/ident.c). */
	return sb->csum_seed;
}

static uint32_t crc_num(uint32_t seed, uint64_t n)
{
	return dx_crc32c(seed, &n, sizeof(n));
}

uint32_t dx_csum_inode(uint32_t seed, uint64_t ino, const struct dx_inode *d)
{
	uint32_t c = crc_num(seed, ino);

	c = dx_crc32c(c, d, OFF(struct dx_inode, wtime));
	return dx_crc32c(c, &d->xattr_csum, sizeof(d->xattr_csum));
}

uint32_t dx_csum_extblk(uint32_t seed, uint64_t pblk, const struct dx_extent_block *eb)
{
	uint32_t c = crc_num(seed, pblk);
	size_t after = OFF(struct dx_extent_block, csum) + sizeof(eb->csum);

	c = dx_crc32c(c, eb, OFF(struct dx_extent_block, csum));
	return dx_crc32c(c, (const char *)eb + after, sizeof(*eb) - after);
}

uint32_t dx_csum_dirblk(uint32_t seed, uint64_t pblk, const void *blk)
{
	const struct dx_dirent *de = blk;
	uint32_t c = crc_num(seed, pblk);

	for (size_t i = 0; i < DX_DIRENTS_PER_BLOCK; i++, de++)
		c = de->ino ? dx_crc32c(c, de, OFF(struct dx_dirent, name) + de->name_len)
			    : dx_crc32c(c, &de->ino, sizeof(de->ino));
	return c;
}

uint32_t dx_csum_xattr(uint32_t seed, uint64_t pblk, const void *blk)
{
	const char *b = blk;
	size_t pos = 0;

	/* To the end marker, or the end of the block (dx_v_xattr_block's walk). */
	while (pos + sizeof(struct dx_xattr_rec) <= DX_XATTR_SPACE) {
		const struct dx_xattr_rec *r = (const void *)(b + pos);
		size_t rs = sizeof(*r) + ((r->name_len + (size_t)r->value_len + 7) & ~(size_t)7);

		if (!r->name_len || rs > DX_XATTR_SPACE - pos) {
			pos += sizeof(*r);
			break;
		}
		pos += rs;
	}
	if (pos > DX_XATTR_SPACE)
		pos = DX_XATTR_SPACE;
	return dx_crc32c(crc_num(seed, pblk), b, pos);
}

uint32_t dx_csum_maprec(uint32_t seed, uint64_t slot, const struct dx_maprec *r)
{
	uint32_t c = crc_num(seed, slot);
	size_t after = OFF(struct dx_maprec, csum) + sizeof(r->csum);

	c = dx_crc32c(c, r, OFF(struct dx_maprec, csum));
	return dx_crc32c(c, (const char *)r + after, sizeof(*r) - after);
}

/* ---- verifiers ---- */

bool dx_csum_inode_ok(struct daxfs *fs, uint64_t ino, const struct dx_inode *d)
{
	return !fs->csum || dx_csum_inode(fs->csum_seed, ino, d) == d->csum;
}

bool dx_csum_extblk_ok(struct daxfs *fs, uint64_t pblk, const struct dx_extent_block *eb)
{
	return !fs->csum || dx_csum_extblk(fs->csum_seed, pblk, eb) == eb->csum;
}

static struct dx_dir_tail *dir_tail(const void *blk)
{
	return (struct dx_dir_tail *)((char *)blk + DX_DIR_TAIL_OFF);
}

bool dx_csum_dirblk_ok(struct daxfs *fs, uint64_t pblk, const void *blk)
{
	return !fs->csum || dx_csum_dirblk(fs->csum_seed, pblk, blk) == dir_tail(blk)->csum;
}

bool dx_csum_xattr_ok(struct daxfs *fs, const struct dx_inode *d, uint64_t pblk,
		      const void *blk)
{
	return !fs->csum || dx_csum_xattr(fs->csum_seed, pblk, blk) == d->xattr_csum;
}

bool dx_csum_maprec_ok(struct daxfs *fs, uint64_t slot, const struct dx_maprec *r)
{
	return !fs->csum || dx_csum_maprec(fs->csum_seed, slot, r) == r->csum;
}

/* ---- the set of objects a transaction changes ---- */

/*
 * Objects are at least 64-byte aligned, so an entry is the object's
 * address with its kind in the low bits.  The hash table holds entry
 * index + 1 tagged with the transaction's generation, so that emptying
 * the set at commit is a counter increment.
 */
#define KIND_MASK 3u
_Static_assert(DX_CS_NKINDS - 1 <= KIND_MASK, "kinds fit in the low bits");

static size_t hash_ptr(uintptr_t e, size_t mask)
{
	return (size_t)(((uint64_t)e * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

static uint64_t *probe(struct dx_journal *jr, uintptr_t e)
{
	size_t i = hash_ptr(e, jr->cs_mask);

	for (;; i = (i + 1) & jr->cs_mask) {
		uint64_t t = jr->cs_tab[i];
		if ((uint32_t)(t >> 32) != jr->cs_gen || !(uint32_t)t)
			return &jr->cs_tab[i];
		if (jr->cs[(uint32_t)t - 1] == e)
			return &jr->cs_tab[i];
	}
}

static void oom(void)
{
	/* A half-done transaction can't be abandoned at run time. */
	fprintf(stderr, "daxfs: out of memory inside a transaction\n");
	abort();
}

static void rehash(struct dx_journal *jr)
{
	size_t n = jr->cs_mask ? (jr->cs_mask + 1) * 2 : 64;
	uint64_t *t = calloc(n, sizeof(*t));

	if (!t)
		oom();
	free(jr->cs_tab);
	jr->cs_tab = t;
	jr->cs_mask = n - 1;
	for (size_t i = 0; i < jr->ncs; i++)
		*probe(jr, jr->cs[i]) = (uint64_t)jr->cs_gen << 32 | (uint32_t)(i + 1);
}

/* Add an object; true if it was not in the set yet. */
static bool set_add(struct dx_journal *jr, uintptr_t e)
{
	uint64_t *slot;

	if ((jr->ncs + 1) * 2 > jr->cs_mask + 1)
		rehash(jr);
	slot = probe(jr, e);
	if ((uint32_t)(*slot >> 32) == jr->cs_gen && (uint32_t)*slot)
		return false;
	if (jr->ncs == jr->cs_cap) {
		size_t nc = jr->cs_cap ? jr->cs_cap * 2 : 64;
		uintptr_t *v = realloc(jr->cs, nc * sizeof(*v));
		if (!v)
			oom();
		jr->cs = v;
		jr->cs_cap = nc;
	}
	jr->cs[jr->ncs++] = e;
	*slot = (uint64_t)jr->cs_gen << 32 | (uint32_t)jr->ncs;
	return true;
}

/* The crc field(s) of an object, which its first change logs. */
static void csum_field(struct daxfs *fs, enum dx_csum_kind kind, const void *obj, void **p,
		       size_t *len)
{
	(void)fs;
	switch (kind) {
	case DX_CS_INODE:
		/* With xattr_csum, which changes with xattr_blk. */
		*p = &((struct dx_inode *)obj)->csum;
		*len = 2 * sizeof(uint32_t);
		break;
	case DX_CS_MAPREC:
		*p = &((struct dx_maprec *)obj)->csum;
		*len = sizeof(uint32_t);
		break;
	case DX_CS_EXTBLK:
		*p = &((struct dx_extent_block *)obj)->csum;
		*len = sizeof(uint32_t);
		break;
	default:
		*p = &dir_tail(obj)->csum;
		*len = sizeof(uint32_t);
		break;
	}
}

static void note_obj(struct daxfs *fs, enum dx_csum_kind kind, const void *obj, const char *lp,
		     size_t llen, bool touched)
{
	void *f;
	size_t flen;

	if (!set_add(&fs->jr, (uintptr_t)obj | kind))
		return;
	csum_field(fs, kind, obj, &f, &flen);
	/* The range being logged saves the old crc already. */
	if (lp && lp <= (char *)f && (char *)f + flen <= lp + llen)
		return;
	/* The crc field changes only at commit, which seals first, or by a
	 * store of a range that contains it.  Logged with a range (dx_tx_log)
	 * or named as a block (whose writers log or touch what they change,
	 * never the crc): unsealed, fenced with the rest.  Touched: the
	 * caller may store into the field with no seal before, so seal now. */
	if (lp || !touched)
		dx_tx_log(fs, f, flen);
	else
		dx_tx_add(fs, f, flen);
}

/* Objects of size osize from pool byte table on, count of them, that
 * [p, p+len) overlaps. */
static void note_table(struct daxfs *fs, enum dx_csum_kind kind, uint64_t table, uint64_t count,
		       size_t osize, const char *p, size_t len, bool logged)
{
	uint64_t off = dx_off(fs, p), end = table + count * osize;

	if (off + len <= table || off >= end)
		return;
	for (uint64_t o = off < table ? table : off - (off - table) % osize; o < off + len && o < end;
	     o += osize)
		note_obj(fs, kind, fs->base + o, logged ? p : NULL, len, !logged);
}

void dx_csum_note(struct daxfs *fs, const void *p, size_t len, bool logged)
{
	if (!fs->csum || !len)
		return;
	note_table(fs, DX_CS_INODE, fs->sb.itable_blk * DX_BLOCK_SIZE, fs->sb.ninodes,
		   sizeof(struct dx_inode), p, len, logged);
	note_table(fs, DX_CS_MAPREC, fs->sb.maprec_blk * DX_BLOCK_SIZE,
		   fs->sb.maprec_blocks * (DX_BLOCK_SIZE / sizeof(struct dx_maprec)),
		   sizeof(struct dx_maprec), p, len, logged);
}

void dx_csum_note_block(struct daxfs *fs, enum dx_csum_kind kind, const void *blk)
{
	if (fs->csum)
		note_obj(fs, kind, blk, NULL, 0, false);
}

void dx_csum_commit(struct daxfs *fs)
{
	struct dx_journal *jr = &fs->jr;
	uint32_t seed = fs->csum_seed;

	for (size_t i = 0; i < jr->ncs; i++) {
		char *obj = (char *)(jr->cs[i] & ~(uintptr_t)KIND_MASK);
		uint64_t off = dx_off(fs, obj);

		switch ((enum dx_csum_kind)(jr->cs[i] & KIND_MASK)) {
		case DX_CS_INODE: {
			struct dx_inode *d = (void *)obj;
			uint64_t ino = (off - fs->sb.itable_blk * DX_BLOCK_SIZE) / sizeof(*d) + 1;
			/* A free slot is nobody's: no crc to keep. */
			if (d->mode)
				d->csum = dx_csum_inode(seed, ino, d);
			break;
		}
		case DX_CS_MAPREC: {
			struct dx_maprec *r = (void *)obj;
			uint64_t slot = (off - fs->sb.maprec_blk * DX_BLOCK_SIZE) / sizeof(*r);
			if (r->kind)
				r->csum = dx_csum_maprec(seed, slot, r);
			break;
		}
		case DX_CS_EXTBLK: {
			struct dx_extent_block *eb = (void *)obj;
			eb->csum = dx_csum_extblk(seed, off / DX_BLOCK_SIZE, eb);
			break;
		}
		default:
			dir_tail(obj)->csum = dx_csum_dirblk(seed, off / DX_BLOCK_SIZE, obj);
			break;
		}
	}
	jr->ncs = 0;
	if (!++jr->cs_gen) {
		/* Generation wrapped: old tags would match again. */
		if (jr->cs_tab)
			memset(jr->cs_tab, 0, (jr->cs_mask + 1) * sizeof(*jr->cs_tab));
		jr->cs_gen = 1;
	}
}

void dx_csum_fini(struct daxfs *fs)
{
	free(fs->jr.cs);
	free(fs->jr.cs_tab);
	fs->jr.cs = NULL;
	fs->jr.cs_tab = NULL;
}

/* ---- every checksum of an unmounted image ---- */

struct walk {
	char *base;
	const struct dx_super *sb;
	uint32_t seed;
	bool fix;
	long bad;
	void (*cb)(void *ctx, const struct dx_csum_bad *b);
	void *ctx;
};

static void mismatch(struct walk *w, enum dx_csum_kind kind, uint64_t ino, uint64_t b,
		     uint64_t lblk, uint32_t *field, uint32_t want)
{
	struct dx_csum_bad x = {kind, ino, b, lblk, field, want};

	if (*field == want)
		return;
	w->bad++;
	if (w->fix)
		*field = want;
	if (w->cb)
		w->cb(w->ctx, &x);
}

static void walk_dir_extent(struct walk *w, uint64_t ino, const struct dx_inode *d,
			    const struct dx_extent *e)
{
	uint64_t nb = d->size / DX_BLOCK_SIZE;

	if (!e->len || dx_v_extent(w->sb, e, d->mode) || e->lblk >= nb)
		return;
	for (uint64_t i = 0; i < e->len && e->lblk + i < nb; i++) {
		char *blk = w->base + (e->pblk + i) * DX_BLOCK_SIZE;
		mismatch(w, DX_CS_DIRBLK, ino, e->pblk + i, e->lblk + i, &dir_tail(blk)->csum,
			 dx_csum_dirblk(w->seed, e->pblk + i, blk));
	}
}

static void walk_inode(struct walk *w, uint64_t ino, struct dx_inode *d)
{
	uint64_t guard = w->sb->nblocks - w->sb->data_blk;
	bool dir = S_ISDIR(d->mode) && !dx_v_inode(w->sb, d);

	if (d->xattr_blk && dx_v_data_range(w->sb, d->xattr_blk, 1)) {
		char *xb = w->base + d->xattr_blk * DX_BLOCK_SIZE;
		mismatch(w, DX_CS_NKINDS, ino, d->xattr_blk, 0, &d->xattr_csum,
			 dx_csum_xattr(w->seed, d->xattr_blk, xb));
	}
	for (int i = 0; dir && i < DX_INLINE_EXTENTS; i++)
		walk_dir_extent(w, ino, d, &d->ext[i]);
	/* The chain as far as a mount would follow it, and no further than
	 * the data area has blocks (a loop ends there). */
	for (uint64_t b = d->ext_next; b && guard--;) {
		struct dx_extent_block *eb = NULL;

		/* No pointer to a block outside the pool, not even unused. */
		if (dx_v_data_range(w->sb, b, 1))
			eb = (void *)(w->base + b * DX_BLOCK_SIZE);
		if (dx_v_extent_block(w->sb, b, eb, ino))
			break;
		mismatch(w, DX_CS_EXTBLK, ino, b, 0, &eb->csum, dx_csum_extblk(w->seed, b, eb));
		for (int i = 0; dir && i < DX_EXTENTS_PER_BLOCK; i++)
			walk_dir_extent(w, ino, d, &eb->ext[i]);
		b = eb->next;
	}
	/* Last: the inode's crc covers xattr_csum. */
	mismatch(w, DX_CS_INODE, ino, 0, 0, &d->csum, dx_csum_inode(w->seed, ino, d));
}

long dx_csum_walk(void *base, size_t len, bool fix,
		  void (*bad)(void *ctx, const struct dx_csum_bad *b), void *ctx)
{
	const struct dx_super *sb = base;
	struct walk w = {base, sb, 0, fix, 0, bad, ctx};
	struct dx_inode *itable;
	struct dx_maprec *recs;
	size_t nrec;
	uint64_t nino;

	if (len < sizeof(*sb) || dx_super_check(sb, len))
		return -EINVAL;
	if (!dx_csum_enabled(sb))
		return 0;
	w.seed = dx_csum_seed(sb);
	itable = (void *)(w.base + sb->itable_blk * DX_BLOCK_SIZE);
	/* Slots above the lazy table's mark are free whatever they hold. */
	if (dx_v_imark(sb, sb->itable_mark, &nino))
		nino = sb->ninodes;
	for (uint64_t i = 0; i < nino; i++)
		if (itable[i].mode)
			walk_inode(&w, i + 1, &itable[i]);
	recs = (void *)(w.base + sb->maprec_blk * DX_BLOCK_SIZE);
	nrec = sb->maprec_blocks * DX_BLOCK_SIZE / sizeof(*recs);
	for (size_t i = 0; i < nrec; i++)
		if (recs[i].kind)
			mismatch(&w, DX_CS_MAPREC, 0, i, 0, &recs[i].csum,
				 dx_csum_maprec(w.seed, i, &recs[i]));
	return w.bad;
}

long dx_csum_rewrite_image(void *base, size_t len)
{
	struct dx_super *sb = base;

	if (len < sizeof(*sb))
		return -EINVAL;
	sb->csum = dx_super_csum(sb);
	return dx_csum_walk(base, len, true, NULL, NULL);
}
