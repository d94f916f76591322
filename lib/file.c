/* SPDX-License-Identifier: MIT */
/*
 * file.c - file data: open/release, read, write, truncate, fallocate,
 * SEEK_DATA/SEEK_HOLE, copy_file_range, fsync.
 *
 * Data ordering: bytes are copied into the pool with non-temporal stores,
 * and a drain makes them persistent before the metadata that exposes them
 * (an extent, a larger size) commits.  Overwrites of blocks a file already
 * owns, inside its size, need no transaction: their only metadata is the
 * inode's wtime, one 8-byte store made durable by the same drain as the
 * bytes.  A write that moves the end commits size and times together.
 * Layout changes that free or move blocks are atomic through a layout
 * intent (intent.c).
 *
 * All of a file's data and block map is guarded by its inode lock: shared
 * for reads (which reply straight from the pool while holding it), exclusive
 * for anything that writes or changes the layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core.h"
#include "fault.h"

#define BLK DX_BLOCK_SIZE

static inline uint64_t blk_down(uint64_t off)
{
	return off / BLK;
}

static inline uint64_t blk_up(uint64_t off)
{
	return (off + BLK - 1) / BLK;
}

/* Get a regular file, loaded. */
static int get_reg(struct daxfs *fs, uint64_t ino, struct dx_ino **ipp)
{
	return dx_iget_loaded(fs, ino, S_IFREG, ipp);
}

DX_EXPORT int daxfs_open_file(struct daxfs *fs, uint64_t ino, int flags, struct daxfs_file **fp)
{
	struct dx_ino *ip = dx_iget(fs, ino);
	struct daxfs_file *f;
	int ret;

	if (!ip)
		return -ENOENT;
	if (fs->readonly && (flags & O_ACCMODE) != O_RDONLY) {
		dx_iput(fs, ip);
		return -EROFS;
	}
	ret = dx_iload(fs, ip);
	f = ret ? NULL : calloc(1, sizeof(*f));
	if (!f) {
		dx_iput(fs, ip);
		return ret ? ret : -ENOMEM;
	}
	f->ip = ip;
	f->flags = flags;
	dx_open_ref(fs, ip);
	dx_iput(fs, ip);
	*fp = f;
	return 0;
}

DX_EXPORT void daxfs_release(struct daxfs *fs, struct daxfs_file *f)
{
	if (!f)
		return;
	/* No pin outlives its holder's open file; what waited for these
	 * pins runs now. */
	if (dx_unmap_file(fs, f))
		dx_layout_run(fs, f->ip);
	dx_lease_drop(fs, f);
	dx_clone_token_drop(fs, f);
	/* The last close of an unlinked file frees its blocks here. */
	dx_open_unref(fs, f->ip);
	free(f);
}

DX_EXPORT void daxfs_file_forget(struct daxfs *fs, struct daxfs_file *f)
{
	if (!f)
		return;
	/* Its lease holds only memory; its mappings stay recorded in the
	 * pool, as after a crash, and daxfs_close() frees their memory. */
	dx_lease_drop(fs, f);
	dx_clone_token_drop(fs, f);
	free(f);
}

DX_EXPORT uint64_t daxfs_file_ino(const struct daxfs_file *f)
{
	return f->ip->ino;
}

/* ---- read ---- */

static int iov_add(struct iovec *iov, int *n, const void *p, size_t len)
{
	if (*n > 0 && (const char *)iov[*n - 1].iov_base + iov[*n - 1].iov_len == p) {
		iov[*n - 1].iov_len += len;
		return 0;
	}
	if (*n == DX_READ_IOV_MAX)
		return -1;
	iov[*n].iov_base = (void *)p;
	iov[*n].iov_len = len;
	(*n)++;
	return 0;
}

/* Map [off, off+size) of ip to iovecs; returns bytes covered. Lock held. */
static size_t map_read(struct daxfs *fs, struct dx_ino *ip, uint64_t off, size_t size,
		       struct iovec *iov, int *iovcnt)
{
	const struct dx_xmap *m = &ip->xmap;
	uint64_t pos = off, end = off + size;
	size_t i = dx_xmap_find(m, blk_down(off));

	*iovcnt = 0;
	while (pos < end) {
		uint64_t seg_end;
		const char *p;

		if (i < m->n && (uint64_t)m->v[i].lblk * BLK <= pos) {
			uint64_t ext_end = ((uint64_t)m->v[i].lblk + m->v[i].len) * BLK;
			seg_end = ext_end < end ? ext_end : end;
			p = (const char *)dx_blk(fs, m->v[i].pblk) + (pos - (uint64_t)m->v[i].lblk * BLK);
			dx_prefault(fs, m->v[i].pblk + (pos / BLK - m->v[i].lblk),
				    blk_up(seg_end) - pos / BLK);
			i++;
		} else {
			uint64_t next = i < m->n ? (uint64_t)m->v[i].lblk * BLK : end;
			seg_end = next < end ? next : end;
			if (seg_end - pos > DX_ZERO_LEN)
				seg_end = pos + DX_ZERO_LEN;
			p = fs->zero;
		}
		if (iov_add(iov, iovcnt, p, seg_end - pos))
			break;
		pos = seg_end;
	}
	return pos - off;
}

/*
 * The kernel copies a read reply straight out of these iovecs; one it
 * cannot read loses the reply and leaves the reader waiting for ever.  The
 * extents were validated at load, so this only catches a bug: every iovec
 * must lie inside the filesystem's part of the mapping or the zero page.
 */
static ssize_t reply_checked(struct daxfs *fs, struct dx_ino *ip, ssize_t n, struct iovec *iov,
			     int *iovcnt)
{
	uintptr_t lo = (uintptr_t)fs->base, hi = lo + fs->sb.nblocks * BLK;
	uintptr_t zlo = (uintptr_t)fs->zero, zhi = zlo + DX_ZERO_LEN;

	for (int i = 0; i < *iovcnt; i++) {
		uintptr_t s = (uintptr_t)iov[i].iov_base, l = iov[i].iov_len;
		if (!((s >= lo && s <= hi && l <= hi - s) || (s >= zlo && s <= zhi && l <= zhi - s))) {
			*iovcnt = 0;
			return dx_corrupt(fs, ip->ino, "read reply",
					  "segment %d (%zu bytes) points outside the pool", i,
					  (size_t)l);
		}
	}
	return n;
}

DX_EXPORT ssize_t daxfs_read_begin(struct daxfs *fs, uint64_t ino, off_t off, size_t size,
				   struct iovec *iov, int *iovcnt, struct daxfs_read_ref *ref)
{
	struct dx_ino *ip;
	uint64_t fsize;
	int ret;

	ref->inode = NULL;
	*iovcnt = 0;
	if (off < 0)
		return -EINVAL;
	ret = get_reg(fs, ino, &ip);
	if (ret)
		return ret;
	ref->inode = ip;
	dx_rdlock(&ip->lock);
	fsize = ip->d->size;
	if ((uint64_t)off >= fsize)
		return 0;
	if (size > fsize - (uint64_t)off)
		size = (size_t)(fsize - (uint64_t)off);
	return reply_checked(fs, ip, (ssize_t)map_read(fs, ip, (uint64_t)off, size, iov, iovcnt),
			     iov, iovcnt);
}

DX_EXPORT void daxfs_read_end(struct daxfs *fs, struct daxfs_read_ref *ref)
{
	struct dx_ino *ip = ref->inode;

	if (!ip)
		return;
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	ref->inode = NULL;
}

DX_EXPORT ssize_t daxfs_pread(struct daxfs *fs, uint64_t ino, void *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		struct iovec iov[DX_READ_IOV_MAX];
		struct daxfs_read_ref ref;
		int n;
		ssize_t got = daxfs_read_begin(fs, ino, off + (off_t)done, size - done, iov, &n, &ref);

		if (got > 0) {
			char *dst = (char *)buf + done;
			for (int i = 0; i < n; i++) {
				memcpy(dst, iov[i].iov_base, iov[i].iov_len);
				dst += iov[i].iov_len;
			}
		}
		daxfs_read_end(fs, &ref);
		if (got < 0)
			return done ? (ssize_t)done : got;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

/* ---- allocation ---- */

/*
 * Back file blocks [start, end) that are holes with new blocks, zeroing the
 * parts that [zstart, zend) says will not be overwritten (whole blocks when
 * zstart == zend).  In a transaction.  Stops early when the pool or the
 * journal runs short; returns the first block not backed (end when all).
 */
uint64_t dx_fill_holes(struct daxfs *fs, struct dx_ino *ip, uint64_t start, uint64_t end,
			   uint64_t zstart, uint64_t zend, uint64_t *allocated)
{
	struct dx_xmap *m = &ip->xmap;
	uint64_t pos = start;

	while (pos < end) {
		size_t i = dx_xmap_find(m, pos);
		uint64_t hole_end, got, pblk, goal = 0, want, meta;

		if (i < m->n && m->v[i].lblk <= pos) {
			pos = (uint64_t)m->v[i].lblk + m->v[i].len;
			continue;
		}
		hole_end = i < m->n && m->v[i].lblk < end ? m->v[i].lblk : end;
		if (i > 0)
			goal = m->v[i - 1].pblk + m->v[i - 1].len + (pos - m->v[i - 1].lblk -
								     m->v[i - 1].len);
		meta = dx_xmap_meta_need(ip, 1);
		want = hole_end - pos;
		if (want > DX_EXTENT_MAX_LEN)
			want = DX_EXTENT_MAX_LEN;
		/* Reserve backing first (backing.c): free_blocks counts only
		 * reserved blocks. */
		dx_space_grow(fs, want + meta + 1);
		if (fs->free_blocks <= meta || dx_tx_room(fs) < 1024)
			break;
		if (want > fs->free_blocks - meta)
			want = fs->free_blocks - meta;
		got = dx_alloc_blocks(fs, goal, want, &pblk);
		if (!got)
			break;
		for (uint64_t b = 0; b < got; b++) {
			char *p = dx_blk(fs, pblk + b);
			uint64_t bs = (pos + b) * BLK, be = bs + BLK;
			uint64_t ws = zstart > bs ? zstart : bs, we = zend < be ? zend : be;

			if (ws >= we) {
				dx_memset_nodrain(&fs->pc, p, 0, BLK);
			} else {
				if (ws > bs)
					dx_memset_nodrain(&fs->pc, p, 0, ws - bs);
				if (we < be)
					dx_memset_nodrain(&fs->pc, p + (we - bs), 0, be - we);
			}
		}
		if (dx_xmap_insert(fs, ip, (uint32_t)pos, pblk, (uint32_t)got))
			abort(); /* the slot's block was reserved above */
		*allocated += got;
		pos += got;
	}
	return pos;
}

void dx_add_blocks(struct daxfs *fs, struct dx_ino *ip, uint64_t n)
{
	if (!n)
		return;
	dx_tx_add(fs, &ip->d->blocks, sizeof(ip->d->blocks));
	ip->d->blocks += n;
}

/* ---- write ---- */

struct src {
	const struct iovec *iov;
	int iovcnt;
	/* Non-NULL for a copy: iovecs into this zero page are holes of the
	 * source, and where the destination has a hole too it stays one. */
	const char *holes;
};

static bool src_hole(const struct src *s, const struct iovec *v)
{
	return s->holes && (const char *)v->iov_base >= s->holes &&
	       (const char *)v->iov_base < s->holes + DX_ZERO_LEN;
}

/* Has ip a hole in file blocks [b, e)?  Lock held. */
static bool has_hole(const struct dx_xmap *m, uint64_t b, uint64_t e)
{
	for (size_t i = dx_xmap_find(m, b); b < e; i++) {
		if (i == m->n || m->v[i].lblk > b)
			return true;
		b = (uint64_t)m->v[i].lblk + m->v[i].len;
	}
	return false;
}

/*
 * Walks the byte ranges of [pos, end) whose blocks a write must back: all
 * of it, or, when the source keeps holes, the ranges not from a hole.
 */
struct data_walk {
	const struct src *s;
	int k;
	uint64_t pos, end;
};

static bool next_data(struct data_walk *w, uint64_t *lo, uint64_t *hi)
{
	const struct src *s = w->s;

	while (w->pos < w->end) {
		uint64_t l = w->end - w->pos;
		bool hole = false;

		if (s->holes) {
			if (w->k == s->iovcnt)
				return false;
			if (s->iov[w->k].iov_len < l)
				l = s->iov[w->k].iov_len;
			hole = src_hole(s, &s->iov[w->k++]);
		}
		*lo = w->pos;
		*hi = w->pos + l;
		w->pos += l;
		if (!hole)
			return true;
	}
	return false;
}

static void copy_in(struct daxfs *fs, char *dst, const struct src *s, size_t skip, size_t len)
{
	for (int i = 0; i < s->iovcnt && len; i++) {
		size_t l = s->iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		dx_memcpy_nodrain(&fs->pc, dst, (const char *)s->iov[i].iov_base + skip, l);
		dst += l;
		len -= l;
		skip = 0;
	}
}

void dx_zero_backed(struct daxfs *fs, struct dx_ino *ip, uint64_t from, uint64_t to)
{
	const struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, blk_down(from));

	for (; i < m->n && (uint64_t)m->v[i].lblk * BLK < to; i++) {
		uint64_t es = (uint64_t)m->v[i].lblk * BLK, ee = es + (uint64_t)m->v[i].len * BLK;
		uint64_t s = es > from ? es : from, e = ee < to ? ee : to;
		if (s < e)
			dx_memset_nodrain(&fs->pc, (char *)dx_blk(fs, m->v[i].pblk) + (s - es), 0,
					  e - s);
	}
}

/*
 * The last block of a file may hold stale bytes past the end (a truncate
 * down keeps the block).  Before the end moves up over them, zero them, up
 * to upto (where new data will be written instead).  Lock held.
 */
static void zero_stale_tail(struct daxfs *fs, struct dx_ino *ip, uint64_t upto)
{
	uint64_t size = ip->d->size, bend = blk_up(size) * BLK;

	if (upto > bend)
		upto = bend;
	if (upto > size)
		dx_zero_backed(fs, ip, size, upto);
}

static ssize_t write_locked(struct daxfs *fs, struct dx_ino *ip, const struct src *s, size_t size,
			    uint64_t off)
{
	struct dx_inode *d = ip->d;
	struct dx_xmap *m = &ip->xmap;
	uint64_t end, allocated = 0, lo, hi;
	bool tx, hole = false;
	struct dx_time now;

	if (off >= DX_MAX_FILE_SIZE)
		return size ? -EFBIG : 0;
	if (size > DX_MAX_FILE_SIZE - off)
		size = (size_t)(DX_MAX_FILE_SIZE - off);
	if (!size)
		return 0;
	end = off + size;

	/* The shared blocks the write stores into, and a stale tail it
	 * zeroes, become the file's own first (cow.c). */
	if (fs->refc) {
		struct dx_brange r[2] = {{blk_down(off), blk_up(end)}, {0, 0}};
		int ret;

		if (off > d->size && d->size % BLK)
			r[1] = (struct dx_brange){blk_down(d->size), blk_down(d->size) + 1};
		uint64_t done;

		ret = dx_cow_break_ranges(fs, ip, r, 2, &done);
		if (ret == -ENOSPC) {
			/* Not room for all of it: a short write of the blocks
			 * that are or can be made the file's own, as over
			 * holes. */
			uint64_t fit = dx_cow_fit(fs, ip, r[0].s, r[0].e, r[1].e > r[1].s ? 2 : 0);

			if (done > fit)
				fit = done;
			if (fit * BLK > off && fit < r[0].e) {
				r[0].e = fit;
				end = fit * BLK;
				size = (size_t)(end - off);
				ret = dx_cow_break_ranges(fs, ip, r, 2, NULL);
			}
		}
		if (ret)
			return ret;
	}

	/* Any hole to back under the write, or a new size?  Then it is a
	 * transaction, so that the size and times commit together. */
	for (struct data_walk w = {s, 0, off, end}; !hole && next_data(&w, &lo, &hi);)
		hole = has_hole(m, blk_down(lo), blk_up(hi));
	tx = hole || end > d->size;
	if (tx) {
		dx_tx_begin(fs);
		/* The inode's undo entry first, unsealed (one entry and one
		 * fence for the inode, whatever fills the holes): size,
		 * blocks, the times, and over a hole the inline extent slots
		 * too.  The block allocation's dx_tx_add, or the one after
		 * the copy, fences it. */
		dx_tx_log(fs, &d->size,
			  (hole ? offsetof(struct dx_inode, intent)
				: offsetof(struct dx_inode, ctime) + sizeof(d->ctime)) -
			      offsetof(struct dx_inode, size));
		for (struct data_walk w = {s, 0, off, end}; next_data(&w, &lo, &hi);) {
			uint64_t stop =
			    dx_fill_holes(fs, ip, blk_down(lo), blk_up(hi), off, end, &allocated);

			if (stop * BLK >= hi)
				continue;
			/* The pool is full: a short write of what is backed
			 * (everything before stop is). */
			if (stop * BLK <= off) {
				dx_tx_commit(fs); /* nothing allocated */
				return -ENOSPC;
			}
			end = stop * BLK;
			size = (size_t)(end - off);
			break;
		}
	}

	zero_stale_tail(fs, ip, off);
	/* Planted bug: the 20th write's bytes never reach the pool. */
	if (dx_fault(fs, DX_FAULT_DROP_PERSIST) &&
	    __atomic_add_fetch(&fs->nwrites, 1, __ATOMIC_RELAXED) == 20)
		goto copied;
	for (uint64_t pos = off; pos < end;) {
		size_t i = dx_xmap_find(m, blk_down(pos));
		uint64_t es = i < m->n ? (uint64_t)m->v[i].lblk * BLK : end;
		uint64_t ee = i < m->n ? es + (uint64_t)m->v[i].len * BLK : end;
		uint64_t e = ee < end ? ee : end;

		if (es > pos) {
			/* A hole left a hole: only a source hole lands here. */
			pos = es < end ? es : end;
			continue;
		}
		dx_prefault(fs, m->v[i].pblk + (pos - es) / BLK, blk_up(e) - pos / BLK);
		copy_in(fs, (char *)dx_blk(fs, m->v[i].pblk) + (pos - es), s, (size_t)(pos - off),
			(size_t)(e - pos));
		pos = e;
	}
copied:
	dx_now(&now);
	if (tx) {
		/* Logged above: this only seals the entry (if nothing did). */
		dx_tx_add(fs, &d->size,
			  offsetof(struct dx_inode, ctime) + sizeof(d->ctime) -
			      offsetof(struct dx_inode, size));
		d->blocks += allocated;
		if (end > d->size)
			d->size = end;
		d->mtime = d->ctime = now;
		/* Commit drains the data before the extents that expose it. */
		dx_tx_commit(fs);
	} else {
		/* An overwrite inside the file: its only metadata is wtime,
		 * one 8-byte store, made durable by the same fence as the
		 * bytes (which may persist in any mix of old and new). */
		uint64_t ns = (uint64_t)now.sec * 1000000000u + now.nsec;

		__atomic_store_n(&d->wtime, ns ? ns : 1, __ATOMIC_RELAXED);
		dx_flush(&fs->pc, &d->wtime, sizeof(d->wtime));
		dx_drain(&fs->pc);
	}
	return (ssize_t)size;
}

DX_EXPORT ssize_t daxfs_writev(struct daxfs *fs, uint64_t ino, const struct iovec *iov, int iovcnt,
			       off_t off)
{
	struct dx_ino *ip;
	struct src s = {iov, iovcnt, NULL};
	size_t size = 0;
	ssize_t ret;

	if (fs->readonly)
		return -EROFS;
	if (off < 0)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		size += iov[i].iov_len;
	ret = get_reg(fs, ino, &ip);
	if (ret)
		return ret;
	dx_wrlock(&ip->lock);
	ret = write_locked(fs, ip, &s, size, (uint64_t)off);
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return ret;
}

DX_EXPORT ssize_t daxfs_write(struct daxfs *fs, uint64_t ino, const void *buf, size_t size,
			      off_t off, int append)
{
	struct iovec iov = {(void *)buf, size};
	struct dx_ino *ip;
	struct src s = {&iov, 1, NULL};
	ssize_t ret;

	if (!append)
		return daxfs_writev(fs, ino, &iov, 1, off);
	if (fs->readonly)
		return -EROFS;
	ret = get_reg(fs, ino, &ip);
	if (ret)
		return ret;
	dx_wrlock(&ip->lock);
	ret = write_locked(fs, ip, &s, size, ip->d->size);
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return ret;
}

/* ---- truncate and fallocate ---- */

int dx_remove_blocks_open(struct daxfs *fs, struct dx_ino *ip, uint64_t start, uint64_t end)
{
	int ret;

	for (;;) {
		dx_tx_begin(fs);
		ret = dx_xmap_remove(fs, ip, start, end, false);
		if (ret != -EAGAIN)
			return ret; /* the last transaction stays open */
		dx_tx_commit(fs);
	}
}

/* Set size/mtime/ctime at the end of a layout change. In a tx. */
static void layout_done(struct daxfs *fs, struct dx_ino *ip, uint64_t size)
{
	struct dx_time now;

	dx_now(&now);
	dx_tx_add(fs, &ip->d->size, sizeof(ip->d->size));
	ip->d->size = size;
	dx_touch_time(fs, &ip->d->mtime, &now);
	dx_touch_time(fs, &ip->d->ctime, &now);
}

int dx_prealloc(struct daxfs *fs, struct dx_ino *ip, uint64_t off, uint64_t end, bool keep)
{
	uint64_t b = blk_down(off), e = blk_up(end);
	int ret = 0;

	while (b < e) {
		uint64_t allocated = 0, stop;

		dx_tx_begin(fs);
		/* The inode's entry ahead (see dx_log_inode): its extent
		 * slots, blocks, size and times share one entry and fence. */
		dx_log_inode(fs, ip, true);
		stop = dx_fill_holes(fs, ip, b, e, 0, 0, &allocated);
		dx_add_blocks(fs, ip, allocated);
		/* stop may pass e: an extent already there ends beyond it. */
		if (stop >= e && !keep && end > ip->d->size)
			layout_done(fs, ip, end);
		dx_tx_commit(fs);
		if (stop == b) {
			ret = -ENOSPC;
			break;
		}
		b = stop;
	}
	return ret;
}

/*
 * Does one extent cover file blocks on both sides of [s, e)?  Then removing
 * the range needs one more extent record, which the first transaction
 * makes (dx_xmap_split) before anything can no longer fail.
 */
static bool covers(struct dx_ino *ip, uint64_t s, uint64_t e)
{
	const struct dx_xmap *m = &ip->xmap;
	size_t i = dx_xmap_find(m, s);

	return i < m->n && m->v[i].lblk < s && (uint64_t)m->v[i].lblk + m->v[i].len > e;
}

/*
 * Start a layout change in the open transaction (where every check that
 * can fail was made): record the intent with the final size and times, and
 * run it to its end (intent.c).  Atomic across a crash, whatever its size.
 */
static int change(struct daxfs *fs, struct dx_ino *ip, uint16_t kind, uint64_t off, uint64_t end,
		  uint64_t size, uint64_t resv)
{
	struct dx_intent in = {.kind = kind, .off = off, .end = end, .size = size};

	if (kind == DX_INTENT_INSERT)
		in.cursor = DX_MAX_FILE_BLOCKS;
	dx_intent_set(fs, ip, &in);
	/* Preallocation changes the times only with the size. */
	if (kind != DX_INTENT_PREALLOC || size != ip->d->size)
		layout_done(fs, ip, size);
	dx_intent_run(fs, ip, resv);
	return 0;
}

/* Zero the bytes of [from, to) in the partial blocks at its ends, and
 * remove the whole blocks between. */
static int punch(struct daxfs *fs, struct dx_ino *ip, uint64_t from, uint64_t to)
{
	uint64_t fb = blk_up(from), tb = blk_down(to);
	int ret;

	/* The partial blocks at the ends are zeroed in place: they must be
	 * the file's own (the whole ones between only lose a reference). */
	{
		struct dx_brange r[2] = {{blk_down(from), fb}, {tb, to % BLK ? tb + 1 : tb}};

		ret = dx_cow_break_ranges(fs, ip, r, 2, NULL);
	}
	if (ret)
		return ret;
	dx_tx_begin(fs);
	if (fb < tb && covers(ip, fb, tb)) {
		int ret = dx_xmap_split(fs, ip, tb);

		if (ret) {
			dx_tx_commit(fs);
			return ret;
		}
	}
	/* Planted bug: free the block after the hole, still mapped. */
	if (fb < tb && dx_fault(fs, DX_FAULT_EARLY_FREE)) {
		void *next = dx_xmap_addr(fs, ip, tb);
		if (next)
			dx_free_blocks(fs, dx_off(fs, next) / BLK, 1);
	}
	return change(fs, ip, DX_INTENT_PUNCH, from, to, ip->d->size, 0);
}

/*
 * Back the holes of [from, to) with zeroed blocks (kind DX_INTENT_PREALLOC)
 * or also zero in place what is backed (DX_INTENT_ZERO); unless keep, the
 * size grows to to.  The blocks for the holes (and the extent blocks they
 * may need) are reserved before the first commit, so the change cannot run
 * out of space midway: it is all done or, with ENOSPC, not at all.
 */
static int fill(struct daxfs *fs, struct dx_ino *ip, uint16_t kind, uint64_t from, uint64_t to,
		bool keep)
{
	uint64_t size = ip->d->size, nsize = !keep && to > size ? to : size;
	uint64_t s = blk_down(from), e = blk_up(to), holes, need;
	int ret = 0;

	/* What is zeroed in place must be the file's own: the stale tail,
	 * and for zero range the range's blocks. */
	{
		struct dx_brange r[2] = {{0, 0}, {0, 0}};

		if (nsize > size && size % BLK)
			r[0] = (struct dx_brange){blk_down(size), blk_down(size) + 1};
		if (kind == DX_INTENT_ZERO)
			r[1] = (struct dx_brange){s, e};
		ret = dx_cow_break_ranges(fs, ip, r, 2, NULL);
	}
	if (ret)
		return ret;
	/* Bytes past the old end read as zero once the end moves over them
	 * (stores past the end, invisible until the size commits). */
	if (nsize > size)
		zero_stale_tail(fs, ip, UINT64_MAX);
	dx_tx_begin(fs);
	holes = (e - s) - dx_xmap_mapped(ip, s, e);
	/* Worst case, every hole block becomes an extent of its own. */
	need = holes ? holes + dx_xmap_meta_need(ip, holes) + 1 : 0;
	dx_space_grow(fs, need);
	if (need > fs->free_blocks) {
		dx_tx_commit(fs);
		return -ENOSPC;
	}
	if (kind == DX_INTENT_PREALLOC && !need && nsize == size) {
		dx_tx_commit(fs); /* nothing to do */
		return 0;
	}
	fs->free_blocks -= need;
	return change(fs, ip, kind, from, to, nsize, need);
}

static int collapse(struct daxfs *fs, struct dx_ino *ip, uint64_t off, uint64_t len)
{
	uint64_t size = ip->d->size;

	if (off % BLK || len % BLK)
		return -EINVAL;
	if (off + len >= size)
		return -EINVAL;
	dx_tx_begin(fs);
	if (covers(ip, off / BLK, (off + len) / BLK)) {
		int ret = dx_xmap_split(fs, ip, (off + len) / BLK);

		if (ret) {
			dx_tx_commit(fs);
			return ret;
		}
	}
	return change(fs, ip, DX_INTENT_COLLAPSE, off, off + len, size - len, 0);
}

static int insert(struct daxfs *fs, struct dx_ino *ip, uint64_t off, uint64_t len)
{
	struct dx_xmap *m = &ip->xmap;
	uint64_t size = ip->d->size;
	int ret;

	if (off % BLK || len % BLK)
		return -EINVAL;
	if (off >= size)
		return -EINVAL;
	if (len > DX_MAX_FILE_SIZE - size ||
	    (m->n && (uint64_t)m->v[m->n - 1].lblk + m->v[m->n - 1].len + len / BLK >
			     DX_MAX_FILE_BLOCKS))
		return -EFBIG;
	dx_tx_begin(fs);
	if (dx_xmap_meta_need(ip, 1) > fs->free_blocks) {
		dx_tx_commit(fs);
		return -ENOSPC;
	}
	ret = dx_xmap_split(fs, ip, off / BLK);
	if (ret) {
		dx_tx_commit(fs);
		return ret;
	}
	return change(fs, ip, DX_INTENT_INSERT, off, off + len, size + len, 0);
}

/* Argument checks of fallocate(2), before anything waits. */
static int falloc_check(int mode, off_t off, off_t len)
{
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
			  FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE;
	uint64_t o = (uint64_t)off, l = (uint64_t)len;

	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~known)
		return -EOPNOTSUPP;
	/* The combinations fallocate(2) accepts, as ext4 checks them. */
	if ((mode & FALLOC_FL_PUNCH_HOLE) && mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if ((mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) &&
	    mode != FALLOC_FL_COLLAPSE_RANGE && mode != FALLOC_FL_INSERT_RANGE)
		return -EINVAL;
	if ((mode & FALLOC_FL_ZERO_RANGE) && (mode & ~(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)))
		return -EINVAL;
	if (o + l > DX_MAX_FILE_SIZE || o + l < o)
		return -EFBIG;
	return 0;
}

void dx_fallocate_range(struct dx_ino *ip, int mode, uint64_t off, uint64_t len, uint64_t *s,
			uint64_t *e)
{
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
		/* Everything from off on moves. */
		*s = blk_down(off);
		*e = DX_MAX_FILE_BLOCKS;
	} else if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/* Freed whole blocks, and the partial ones zeroed in place. */
		*s = blk_down(off);
		*e = blk_up(off + len);
	} else {
		*s = *e = 0; /* only fills holes: frees and moves nothing */
	}
	(void)ip;
}

int dx_fallocate_locked(struct daxfs *fs, struct dx_ino *ip, int mode, uint64_t o, uint64_t l)
{
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	int ret;

	if (mode & FALLOC_FL_PUNCH_HOLE) {
		ret = punch(fs, ip, o, o + l);
	} else if (mode & FALLOC_FL_ZERO_RANGE) {
		ret = fill(fs, ip, DX_INTENT_ZERO, o, o + l, keep);
	} else if (mode & FALLOC_FL_COLLAPSE_RANGE) {
		ret = collapse(fs, ip, o, l);
	} else if (mode & FALLOC_FL_INSERT_RANGE) {
		ret = insert(fs, ip, o, l);
	} else {
		ret = fill(fs, ip, DX_INTENT_PREALLOC, o, o + l, keep);
	}
	return ret;
}

DX_EXPORT void daxfs_fallocate_async(struct daxfs *fs, uint64_t ino, int mode, off_t off,
				     off_t len, daxfs_done_t done, void *ctx)
{
	struct dx_lop *op;
	struct dx_ino *ip;
	int ret = falloc_check(mode, off, len);

	if (!ret && fs->readonly)
		ret = -EROFS;
	if (!ret) {
		ret = get_reg(fs, ino, &ip);
		if (ret == -EINVAL)
			ret = -ENODEV; /* not a regular file */
	}
	if (ret) {
		done(ctx, ret);
		return;
	}
	op = dx_lop_alloc(fs, ip, DX_LOP_FALLOC, done, ctx);
	if (!op)
		return;
	op->mode = mode;
	op->off = (uint64_t)off;
	op->len = (uint64_t)len;
	dx_layout_submit(fs, ip, op);
}

/* ---- seek ---- */

DX_EXPORT off_t daxfs_lseek(struct daxfs *fs, uint64_t ino, off_t off, int whence)
{
	struct dx_ino *ip;
	struct dx_xmap *m;
	uint64_t size, pos = (uint64_t)off;
	off_t ret;
	size_t i;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	ret = get_reg(fs, ino, &ip);
	if (ret)
		return ret;
	dx_rdlock(&ip->lock);
	m = &ip->xmap;
	size = ip->d->size;
	if (pos >= size) {
		ret = -ENXIO;
		goto out;
	}
	i = dx_xmap_find(m, blk_down(pos));
	if (whence == SEEK_DATA) {
		if (i == m->n || (uint64_t)m->v[i].lblk * BLK >= size)
			ret = -ENXIO;
		else
			ret = (off_t)((uint64_t)m->v[i].lblk * BLK > pos ? (uint64_t)m->v[i].lblk * BLK
									 : pos);
	} else {
		while (i < m->n && (uint64_t)m->v[i].lblk * BLK <= pos) {
			pos = ((uint64_t)m->v[i].lblk + m->v[i].len) * BLK;
			i++;
		}
		ret = (off_t)(pos < size ? pos : size);
	}
out:
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return ret;
}

/* ---- copy_file_range ---- */

/* The most one call copies: the caller loops for more, as POSIX allows. */
#define COPY_MAX (64u << 20)

/*
 * One write of the destination, gathered straight from the source's blocks
 * with both inode locks held (ascending ino order, core.h): so a copy is
 * exactly as atomic as a write of the same bytes (docs/crash-consistency.md,
 * "What is atomic"), one transaction when it fills holes or moves the end.
 * A source hole stays a hole where the destination has one.  It may copy
 * less than asked (copy_file_range(2) allows it): up to COPY_MAX, what the
 * iovecs of one read cover, or what the pool and the journal hold; it
 * fails only when it can copy nothing, and then changes nothing.
 */
DX_EXPORT ssize_t daxfs_copy_file_range(struct daxfs *fs, uint64_t ino_in, off_t off_in,
					uint64_t ino_out, off_t off_out, size_t len, unsigned flags)
{
	struct iovec iov[DX_READ_IOV_MAX];
	struct dx_ino *in, *out, *v[2];
	uint64_t size, n;
	ssize_t ret;
	int cnt;

	if (flags)
		return -EINVAL;
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	if (fs->readonly)
		return -EROFS;
	ret = get_reg(fs, ino_in, &in);
	if (ret)
		return ret;
	ret = get_reg(fs, ino_out, &out);
	if (ret) {
		dx_iput(fs, in);
		return ret;
	}
	v[0] = in;
	v[1] = out;
	dx_lock_inodes(v, 2); /* the same inode once */
	size = in->d->size;
	n = (uint64_t)off_in < size ? size - (uint64_t)off_in : 0;
	if (n > len)
		n = len;
	/* Overlapping ranges of one file are refused as Linux does, after
	 * the shortening to the source's end. */
	if (in == out && n && (uint64_t)off_in < (uint64_t)off_out + n &&
	    (uint64_t)off_out < (uint64_t)off_in + n) {
		ret = -EINVAL;
	} else if (n) {
		struct src s = {iov, 0, fs->zero};

		if (n > COPY_MAX)
			n = COPY_MAX;
		/* Whole blocks at matching alignment are shared, not copied
		 * (reflink pools); a misaligned head is copied first, so
		 * that the caller's next call is aligned. */
		if (fs->refc && (uint64_t)off_in % BLK == (uint64_t)off_out % BLK) {
			uint64_t head = (BLK - (uint64_t)off_in % BLK) % BLK;

			if (head && head < n)
				n = head;
			else if (!head && (ret = dx_clone_copy(fs, in, (uint64_t)off_in, out,
							       (uint64_t)off_out, n)) != 0)
				goto out;
		}
		n = map_read(fs, in, (uint64_t)off_in, n, iov, &cnt);
		ret = reply_checked(fs, in, (ssize_t)n, iov, &cnt);
		s.iovcnt = cnt;
		if (ret > 0)
			ret = write_locked(fs, out, &s, (size_t)n, (uint64_t)off_out);
	}
out:
	dx_unlock_inodes(v, 2);
	dx_iput(fs, out);
	dx_iput(fs, in);
	return ret;
}

DX_EXPORT int daxfs_fsync(struct daxfs *fs, uint64_t ino, int datasync)
{
	(void)fs;
	(void)ino;
	(void)datasync;
	/* Every call persisted its stores before returning. */
	dx_drain(&fs->pc);
	return 0;
}
