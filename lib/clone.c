/* SPDX-License-Identifier: MIT */
/*
 * clone.c - sharing a file's blocks with another file (reflink).
 *
 * A clone walks the source range in steps, each one transaction: the
 * destination's blocks of the step are removed (a shared one only loses a
 * reference), the source's are added to its map with one more reference
 * each, and the destination's size moves up to the step's end.  So a crash
 * leaves a prefix of the range cloned, each block old or new, and the
 * counts in step with the maps (as XFS's reflink, which is not atomic over
 * the whole range either).
 *
 * A source block that a mapping pins is copied instead of shared: a device
 * may be writing it, and a shared block must never change in place (the
 * fork-time copy of DMA-pinned pages, page_needs_cow_for_dma()).  So is a
 * block already shared DX_REFC_MAX times over.  The source's lock is held
 * throughout, and a pin needs it, so the test cannot go stale.
 *
 * The destination's range is a layout change: blocks pinned there are
 * never replaced.  A clone over them breaks the leases in the way and
 * fails with EBUSY, to be retried once they are released.
 *
 * Tokens: a FUSE ioctl carries no file descriptor, so the source is named
 * by a random 64-bit token bound to one open file (DAXFS_IOC_CLONE_SRC),
 * valid until that file is released.  Only an opener allowed to read gets
 * one: holding a token is as good as holding a readable descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include "core.h"

#define BLK DX_BLOCK_SIZE
/* Blocks one step shares at most (its counts log 2 bytes each). */
#define CLONE_STEP 16384u

struct clone {
	struct dx_ino *in, *out;
	uint64_t sb, db; /* first source and destination block */
	uint64_t nb;	 /* blocks */
	uint64_t end;	 /* destination byte where the range ends */
	uint64_t shared, copied;
	uint64_t recs; /* record slots to reserve before the first step */
	uint64_t done; /* blocks cloned (a prefix, on failure) */
};

/* Can source block p be shared (not pinned, not shared too often)? */
static bool can_share(struct daxfs *fs, uint64_t p)
{
	return dx_refc(fs, p) < DX_REFC_MAX - 1 && !dx_pin_count(fs, p);
}

/* Blocks from p (at most n) that can all be shared, or none can. */
static uint64_t share_run(struct daxfs *fs, uint64_t p, uint64_t n, bool share)
{
	uint64_t i = 0;

	while (i < n && can_share(fs, p + i) == share)
		i++;
	return i;
}

/* Worst-case new blocks of one step: extent blocks for its records, and
 * the copies. */
static uint64_t step_need(struct daxfs *fs, struct clone *c, uint64_t sb, uint64_t n,
			  uint64_t *copies)
{
	const struct dx_xmap *m = &c->in->xmap;
	/* The removal may split the destination's extents at both ends of
	 * each step. */
	uint64_t recs = 2 * (n / CLONE_STEP + 1), cp = 0, runs = 0;

	for (size_t i = dx_xmap_find(m, sb); i < m->n && m->v[i].lblk < sb + n; i++) {
		uint64_t es = m->v[i].lblk, ee = es + m->v[i].len;
		uint64_t cs = es > sb ? es : sb, ce = ee < sb + n ? ee : sb + n;
		uint64_t p = m->v[i].pblk + (cs - es);

		for (uint64_t b = 0; b < ce - cs;) {
			bool share = can_share(fs, p + b);
			uint64_t k = share_run(fs, p + b, ce - cs - b, share);

			if (!share)
				cp += k;
			recs++;
			runs++;
			b += k;
		}
	}
	*copies = cp;
	/* The slots to reserve: a record per run, two for the splits at
	 * the range's ends (the removal frees the rest it needs). */
	c->recs = runs + 2;
	return cp + dx_xmap_meta_need(c->out, recs);
}

/* A run of a step's source: shared as it is, or copied to np. */
struct cpiece {
	uint64_t lblk, p, k, np;
	bool share;
};

struct cpieces {
	struct cpiece *v;
	size_t n, cap;
};

static int cpieces_add(struct cpieces *pc, struct cpiece x)
{
	if (pc->n == pc->cap) {
		size_t nc = pc->cap ? pc->cap * 2 : 16;
		struct cpiece *v = realloc(pc->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pc->v = v;
		pc->cap = nc;
	}
	pc->v[pc->n++] = x;
	return 0;
}

/* The source runs of [sb, sb + n), and a copy of each that may not be
 * shared, allocated now; on failure every copy is given back. */
static int step_plan(struct daxfs *fs, struct clone *c, uint64_t sb, uint64_t n, struct cpieces *pc)
{
	const struct dx_xmap *m = &c->in->xmap;
	int ret = 0;

	for (size_t i = dx_xmap_find(m, sb); i < m->n && m->v[i].lblk < sb + n && !ret; i++) {
		uint64_t es = m->v[i].lblk, ee = es + m->v[i].len;
		uint64_t cs = es > sb ? es : sb, ce = ee < sb + n ? ee : sb + n;
		uint64_t p = m->v[i].pblk + (cs - es);

		for (uint64_t b = 0; b < ce - cs && !ret;) {
			bool share = can_share(fs, p + b);
			uint64_t k = share_run(fs, p + b, ce - cs - b, share);

			for (uint64_t d = 0; d < k && !ret;) {
				struct cpiece x = {cs + b + d, p + b + d, k - d, p + b + d, share};

				if (!share && !(x.k = dx_alloc_blocks(fs, x.p, k - d, &x.np))) {
					ret = -ENOSPC;
					break;
				}
				ret = cpieces_add(pc, x);
				if (ret && !share)
					dx_free_blocks(fs, x.np, x.k);
				d += x.k;
			}
			b += k;
		}
	}
	if (ret)
		for (size_t i = 0; i < pc->n; i++)
			if (!pc->v[i].share)
				dx_free_blocks(fs, pc->v[i].np, pc->v[i].k);
	return ret;
}

/*
 * One step in the open transaction: destination blocks [db, db + n) get
 * the source's blocks [sb, sb + n).  Everything that can fail (the copies'
 * blocks, the record slots) is taken before the first change, so a
 * failure changes nothing; after it nothing fails for want of space.
 */
static int clone_step(struct daxfs *fs, struct clone *c, uint64_t sb, uint64_t db, uint64_t n)
{
	struct cpieces pc = {NULL, 0, 0};
	int ret = step_plan(fs, c, sb, n, &pc);

	bool copies = false;

	for (size_t i = 0; i < pc.n; i++)
		copies |= !pc.v[i].share;
	/* The slots reserved before the first step hold a record per
	 * source run and the splits at the range's ends (shared pieces of
	 * one run are contiguous, so the later ones extend the record of
	 * the first).  Copies may come in more pieces: a slot each, and one
	 * for a split. */
	if (!ret && copies && (ret = dx_xmap_reserve(fs, c->out, pc.n + 1)) != 0)
		for (size_t i = 0; i < pc.n; i++)
			if (!pc.v[i].share)
				dx_free_blocks(fs, pc.v[i].np, pc.v[i].k);
	if (ret) {
		free(pc.v);
		return ret;
	}
	/* The inode's fields a step stores: one entry, sealed below. */
	dx_log_inode(fs, c->out, true);
	/*
	 * The step was sized to fit the journal (clone_locked), so only an
	 * injected failure finds it short midway: what is removed commits
	 * and the removal goes on in a new transaction.  (The oracle of the
	 * crash tester does not accept that state; no real run reaches it.)
	 */
	while ((ret = dx_xmap_remove(fs, c->out, db, db + n, false)) == -EAGAIN) {
		dx_tx_commit(fs);
		dx_tx_begin(fs);
		dx_log_inode(fs, c->out, true);
	}
	for (size_t i = 0; i < pc.n && !ret; i++) {
		const struct cpiece *x = &pc.v[i];

		if (x->share) {
			dx_refc_get(fs, x->p, x->k);
			c->shared += x->k;
		} else {
			dx_memcpy_nodrain(&fs->pc, dx_blk(fs, x->np), dx_blk(fs, x->p), x->k * BLK);
			c->copied += x->k;
		}
		ret = dx_xmap_insert(fs, c->out, (uint32_t)(db + (x->lblk - sb)), x->np,
				     (uint32_t)x->k);
		if (!ret)
			dx_add_blocks(fs, c->out, x->k);
	}
	free(pc.v);
	return ret;
}

/* The journal one step of n blocks from sb to db may take: the counts,
 * the bitmap words and a record per extent on either side. */
static size_t step_room(const struct clone *c, uint64_t sb, uint64_t db, uint64_t n)
{
	size_t cost = 65536 + dx_tx_cost(n * 2) * 2 + n / 4;
	const struct dx_xmap *in = &c->in->xmap, *out = &c->out->xmap;

	for (size_t i = dx_xmap_find(in, sb); i < in->n && in->v[i].lblk < sb + n; i++)
		cost += 2 * dx_tx_cost(sizeof(struct dx_extent)) + 64;
	for (size_t i = dx_xmap_find(out, db); i < out->n && out->v[i].lblk < db + n; i++)
		cost += 256 + dx_tx_cost(sizeof(struct dx_extent)) + dx_tx_cost(2 * 8) + 64;
	return cost;
}

/*
 * The whole clone, the inode locks held and the arguments checked.  What
 * the pool must give (copies, extent blocks) is found and taken out of
 * free_blocks before the first step, so that ENOSPC comes before anything
 * changed and never midway; each step puts the reservation back for its
 * own allocations and takes the rest out again.
 */
static int clone_locked(struct daxfs *fs, struct clone *c)
{
	struct dx_inode *d = c->out->d;
	uint64_t done = 0, resv, copies, tail_need = 0, before, used;
	bool tail = c->db * BLK > d->size && d->size % BLK;
	int ret = 0;

	dx_tx_begin(fs);
	resv = step_need(fs, c, c->sb, c->nb, &copies);
	if (tail && dx_range_shared(fs, c->out, d->size / BLK, d->size / BLK + 1))
		tail_need = 1 + dx_xmap_meta_need(c->out, 2);
	dx_space_grow(fs, resv + tail_need + 1);
	ret = resv + tail_need > fs->free_blocks ? -ENOSPC : 0;
	dx_tx_commit(fs);
	if (ret)
		return ret;
	/* Bytes past the destination's end in its last block read as zero
	 * once the end moves over them: make that block its own first. */
	if (tail_need) {
		ret = dx_cow_break(fs, c->out, d->size / BLK, d->size / BLK + 1);
		if (ret)
			return ret;
	}
	dx_tx_begin(fs);
	/* Another file may have taken the space since (then the tail's
	 * copy stays: the same bytes). */
	if (resv > fs->free_blocks) {
		dx_tx_commit(fs);
		return -ENOSPC;
	}
	/* The record slots of every step, now: a later step then needs no
	 * block but the copies it takes before it changes anything. */
	before = fs->free_blocks;
	ret = dx_xmap_reserve(fs, c->out, c->recs);
	/* The extent blocks it chained were part of the reservation. */
	used = before - fs->free_blocks;
	resv = resv > used ? resv - used : 0;
	if (resv > fs->free_blocks)
		resv = fs->free_blocks; /* taken since the check: see above */
	if (!ret)
		fs->free_blocks -= resv;
	dx_tx_commit(fs);
	if (ret)
		return ret;
	while (done < c->nb) {
		uint64_t n = c->nb - done < CLONE_STEP ? c->nb - done : CLONE_STEP;
		uint64_t nsize;
		struct dx_time now;

		dx_tx_begin(fs);
		fs->free_blocks += resv;
		before = fs->free_blocks;
		/* A nearly full journal, or fragmented files, take a
		 * smaller step. */
		while (n > 1 && dx_tx_room(fs) < step_room(c, c->sb + done, c->db + done, n))
			n /= 2;
		if (!done && d->size % BLK && c->db * BLK > d->size) {
			/* The stale tail (its block is the file's own now):
			 * past the end, so nobody reads it before the commit. */
			void *b = dx_xmap_addr(fs, c->out, d->size / BLK);

			if (b)
				dx_memset_nodrain(&fs->pc, (char *)b + d->size % BLK, 0,
						  BLK - d->size % BLK);
		}
		ret = clone_step(fs, c, c->sb + done, c->db + done, n);
		if (ret) {
			/* Nothing of this step changed (clone_step); the
			 * steps before it stay, a prefix of the range. */
			dx_tx_commit(fs); /* the reservation is back already */
			return ret;
		}
		used = before - fs->free_blocks;
		resv = resv > used ? resv - used : 0;
		if (resv > fs->free_blocks)
			resv = fs->free_blocks;
		fs->free_blocks -= resv;
		done += n;
		c->done = done;
		nsize = done == c->nb ? c->end : (c->db + done) * BLK;
		dx_now(&now);
		dx_tx_add(fs, &d->size, sizeof(d->size));
		if (nsize > d->size)
			d->size = nsize;
		dx_touch_time(fs, &d->mtime, &now);
		dx_touch_time(fs, &d->ctime, &now);
		dx_tx_commit(fs);
	}
	if (resv) {
		dx_tx_begin(fs);
		fs->free_blocks += resv;
		dx_tx_commit(fs);
	}
	return 0;
}

/* The checks of FICLONERANGE, as the kernel's generic_remap_checks()
 * makes them; fills c's range.  Inode locks held. */
static int clone_check(struct clone *c, uint64_t off_in, uint64_t off_out, uint64_t *len)
{
	uint64_t isize = c->in->d->size, osize = c->out->d->size, l = *len;

	if (off_in % BLK || off_out % BLK)
		return -EINVAL;
	if (off_in >= isize)
		return l || off_in > isize ? -EINVAL : 0;
	if (!l || l > isize - off_in)
		l = isize - off_in;
	if (l % BLK && off_in + l != isize)
		return -EINVAL; /* a partial block only at the source's end */
	if (off_out > DX_MAX_FILE_SIZE || l > DX_MAX_FILE_SIZE - off_out)
		return -EFBIG;
	/* The source's last block holds bytes past its end: they may not
	 * land inside the destination. */
	if (l % BLK && off_out + l < osize)
		return -EINVAL;
	c->sb = off_in / BLK;
	c->db = off_out / BLK;
	c->nb = (l + BLK - 1) / BLK;
	c->end = off_out + l;
	if (c->in == c->out && c->sb < c->db + c->nb && c->db < c->sb + c->nb)
		return -EINVAL;
	*len = l;
	return 0;
}

/* Is a block of the destination's range pinned?  Then break the leases
 * over it; EBUSY (or ETXTBSY under an exclusive lease). */
static int clone_busy(struct daxfs *fs, struct clone *c)
{
	int ret = 0;

	dx_mutex_lock(&fs->pin_lock);
	if (dx_inode_busy(c->out, c->db, c->db + c->nb)) {
		ret = dx_lease_check(fs, c->out, c->db, c->db + c->nb);
		if (!ret)
			ret = -EBUSY;
	}
	dx_mutex_unlock(&fs->pin_lock);
	return ret;
}

/*
 * copy_file_range's share of the work (file.c): with both inode locks
 * held, share the blocks of [off_in, off_in + len) into out at off_out
 * when both offsets are block aligned and nothing pins the destination's
 * range: the whole blocks, and a partial last one as a clone would (at
 * the source's end, over the destination's).  Returns the bytes shared,
 * 0 when the range does not qualify (the caller copies), or -errno.
 */
ssize_t dx_clone_copy(struct daxfs *fs, struct dx_ino *in, uint64_t off_in, struct dx_ino *out,
		      uint64_t off_out, uint64_t len)
{
	struct clone c = {.in = in, .out = out};
	int ret;

	if (!fs->refc || off_in % BLK || off_out % BLK)
		return 0;
	/* A partial last block only at the source's end, and over the
	 * destination's (clone_check's rule); else it is copied. */
	if (len % BLK && !(off_in + len == in->d->size && off_out + len >= out->d->size))
		len -= len % BLK;
	if (!len || clone_check(&c, off_in, off_out, &len) || !c.nb || clone_busy(fs, &c))
		return 0;
	ret = clone_locked(fs, &c);
	__atomic_add_fetch(&fs->stats.clone_shared, c.shared, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fs->stats.clone_copied, c.copied, __ATOMIC_RELAXED);
	/* A failure after some steps is a short copy of those. */
	if (ret && c.done)
		return (ssize_t)(c.done * BLK < len ? c.done * BLK : len);
	return ret ? ret : (ssize_t)len;
}

static int clone_inodes(struct daxfs *fs, struct dx_ino *in, struct dx_ino *out, uint64_t off_in,
			uint64_t off_out, uint64_t len, uint64_t *shared, uint64_t *copied)
{
	struct clone c = {.in = in, .out = out};
	struct dx_ino *v[2] = {in, out};
	int ret;

	dx_lock_inodes(v, 2);
	ret = clone_check(&c, off_in, off_out, &len);
	if (!ret && c.nb)
		ret = clone_busy(fs, &c);
	if (!ret && c.nb)
		ret = clone_locked(fs, &c);
	dx_unlock_inodes(v, 2);
	__atomic_add_fetch(&fs->stats.clone_shared, c.shared, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fs->stats.clone_copied, c.copied, __ATOMIC_RELAXED);
	if (shared)
		*shared = c.shared;
	if (copied)
		*copied = c.copied;
	return ret;
}

DX_EXPORT int daxfs_clone_range(struct daxfs *fs, uint64_t ino_in, uint64_t off_in,
				uint64_t ino_out, uint64_t off_out, uint64_t len, uint64_t *shared,
				uint64_t *copied)
{
	struct dx_ino *in, *out;
	int ret;

	if (shared)
		*shared = 0;
	if (copied)
		*copied = 0;
	if (!fs->refc)
		return -EOPNOTSUPP;
	if (fs->readonly)
		return -EROFS;
	ret = dx_iget_loaded(fs, ino_in, S_IFREG, &in);
	if (ret)
		return ret;
	ret = dx_iget_loaded(fs, ino_out, S_IFREG, &out);
	if (ret) {
		dx_iput(fs, in);
		return ret;
	}
	ret = clone_inodes(fs, in, out, off_in, off_out, len, shared, copied);
	dx_iput(fs, out);
	dx_iput(fs, in);
	return ret;
}

/* ---- tokens ---- */

#define TOKEN_BUCKETS 256u

static size_t token_bucket(uint64_t t)
{
	return (size_t)((t * 0x9e3779b97f4a7c15ULL) >> 56);
}

DX_EXPORT int daxfs_clone_token(struct daxfs *fs, struct daxfs_file *f, uint64_t *token)
{
	uint64_t t = 0;
	int ret = 0;

	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (f->ip->type != S_IFREG)
		return -EXDEV;
	dx_mutex_lock(&fs->icache_lock);
	if (!fs->tokens)
		fs->tokens = calloc(TOKEN_BUCKETS, sizeof(*fs->tokens));
	if (!fs->tokens)
		ret = -ENOMEM;
	while (!ret && !f->token) {
		bool taken = false;

		if (getrandom(&t, sizeof(t), 0) != sizeof(t)) {
			ret = -EAGAIN;
			break;
		}
		for (struct daxfs_file *g = fs->tokens[token_bucket(t)]; g; g = g->tnext)
			taken |= g->token == t;
		if (t && !taken) {
			f->token = t;
			f->tnext = fs->tokens[token_bucket(t)];
			fs->tokens[token_bucket(t)] = f;
		}
	}
	*token = f->token;
	dx_mutex_unlock(&fs->icache_lock);
	return ret;
}

/* At release: the token dies with its open file. */
void dx_clone_token_drop(struct daxfs *fs, struct daxfs_file *f)
{
	if (!f->token)
		return;
	dx_mutex_lock(&fs->icache_lock);
	for (struct daxfs_file **pp = &fs->tokens[token_bucket(f->token)]; *pp; pp = &(*pp)->tnext)
		if (*pp == f) {
			*pp = f->tnext;
			break;
		}
	f->token = 0;
	dx_mutex_unlock(&fs->icache_lock);
}

/* The inode of the open file that token names, with a reference (its
 * open file keeps it alive while the lock is held), or NULL. */
static struct dx_ino *token_inode(struct daxfs *fs, uint64_t token)
{
	struct dx_ino *ip = NULL;

	if (!token)
		return NULL;
	dx_mutex_lock(&fs->icache_lock);
	if (fs->tokens)
		for (struct daxfs_file *g = fs->tokens[token_bucket(token)]; g; g = g->tnext)
			if (g->token == token) {
				ip = g->ip;
				ip->refs++;
				break;
			}
	dx_mutex_unlock(&fs->icache_lock);
	return ip;
}

DX_EXPORT int daxfs_clone_ioctl(struct daxfs *fs, struct daxfs_file *dst,
				struct daxfs_ioc_clone *req)
{
	struct dx_ino *in;
	int ret;

	req->shared = req->copied = 0;
	if (req->flags || req->pad)
		return -EINVAL;
	if (!fs->refc)
		return -EOPNOTSUPP;
	if ((dst->flags & O_ACCMODE) == O_RDONLY || (dst->flags & O_APPEND))
		return -EBADF;
	if (dst->ip->type != S_IFREG)
		return -EXDEV;
	if (fs->readonly)
		return -EROFS;
	in = token_inode(fs, req->src);
	if (!in)
		return -EBADF;
	ret = dx_iload(fs, in);
	if (!ret)
		ret = clone_inodes(fs, in, dst->ip, req->src_offset, req->dest_offset,
				   req->src_length, &req->shared, &req->copied);
	dx_iput(fs, in);
	return ret;
}
