/* SPDX-License-Identifier: MIT */
/*
 * pin.c - direct-access mappings and the block pins they hold.
 *
 * A pin is not a reference.  Transient references (a FUSE read replying
 * straight from the pool, a write copying in) are the inode lock held
 * across the request; they end with the request.  A pin is taken by a
 * mapping for an outside holder and lasts until that holder unmaps or its
 * open file is released, however long that is.  Pins are counted per block
 * (so the allocator can refuse to free a pinned block whatever went wrong)
 * and recorded per mapping (so an unmap drops exactly its own pins), and a
 * record of each mapping is persisted in the pool before the holder learns
 * where the blocks are (so a daemon crash cannot forget them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core.h"
#include "csum.h"
#include "fault.h"

uint64_t dx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int dx_pins_init(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);

	dx_mutex_init(&fs->pin_lock, DX_LC_PIN);
	dx_holders_init(fs);
	dx_mutex_time(&fs->pin_lock, fs->lock_stat);
	fs->npin_chunks = (fs->sb.nblocks >> DX_PIN_CHUNK_SHIFT) + 1;
	fs->pins = calloc(fs->npin_chunks, sizeof(*fs->pins));
	fs->rec_free = calloc(nrec, sizeof(*fs->rec_free));
	/* Every mapping holds a record, so a bucket per record keeps the
	 * chains of the id hash at about one. */
	fs->mhash_mask = 1023;
	while (fs->mhash_mask + 1 < nrec)
		fs->mhash_mask = fs->mhash_mask * 2 + 1;
	fs->mhash = calloc(fs->mhash_mask + 1, sizeof(*fs->mhash));
	if (!fs->pins || !fs->rec_free || !fs->mhash)
		return dx_err(-ENOMEM, "out of memory for the pin table");
	/* Lowest slots on top of the stack. */
	for (size_t i = nrec; i-- > 0;)
		if (!fs->maprecs[i].kind)
			fs->rec_free[fs->nrec_free++] = (uint32_t)i;
	/* An eighth of the table is root's alone, so that no other user,
	 * nor all of them together, can keep root from mapping. */
	fs->nrec_root = nrec / 8;
	/* 0 is the default, UINT_MAX none (daxfs.h). */
	if (!fs->max_mappings)
		fs->max_mappings = DX_DEFAULT_MAX_MAPPINGS;
	if (!fs->max_records)
		fs->max_records = (unsigned)(nrec / 8);
	if (fs->max_mappings == UINT_MAX)
		fs->max_mappings = 0;
	if (fs->max_records == UINT_MAX)
		fs->max_records = 0;
	fs->next_map_id = 1;
	return 0;
}

void dx_pins_fini(struct daxfs *fs)
{
	struct dx_mapping *m, *next;

	dx_holders_fini(fs);
	for (m = fs->mhead; m; m = next) {
		next = m->gnext;
		free(m);
	}
	while (fs->qruns) {
		struct dx_qrun *q = fs->qruns;
		fs->qruns = q->next;
		free(q);
	}
	while (fs->usage) {
		struct dx_usage *u = fs->usage;
		fs->usage = u->next;
		free(u);
	}
	if (fs->pins)
		for (size_t i = 0; i < fs->npin_chunks; i++)
			free(fs->pins[i]);
	free(fs->pins);
	free(fs->rec_free);
	free(fs->mhash);
	dx_mutex_destroy(&fs->pin_lock);
}

/* Atomic loads: the allocator reads these without pin_lock (core.h). */
uint32_t dx_pin_count(struct daxfs *fs, uint64_t pblk)
{
	uint32_t *c = __atomic_load_n(&fs->pins[pblk >> DX_PIN_CHUNK_SHIFT], __ATOMIC_ACQUIRE);

	return c ? __atomic_load_n(&c[pblk & ((1u << DX_PIN_CHUNK_SHIFT) - 1)], __ATOMIC_RELAXED)
		 : 0;
}

bool dx_pinned_range(struct daxfs *fs, uint64_t pblk, uint64_t len)
{
	if (!__atomic_load_n(&fs->stats.pinned_blocks, __ATOMIC_RELAXED))
		return false;
	for (uint64_t b = pblk; b < pblk + len;) {
		uint64_t chunk = b >> DX_PIN_CHUNK_SHIFT;
		uint64_t cend = (chunk + 1) << DX_PIN_CHUNK_SHIFT;

		if (!__atomic_load_n(&fs->pins[chunk], __ATOMIC_ACQUIRE)) {
			b = cend;
			continue;
		}
		for (; b < pblk + len && b < cend; b++)
			if (dx_pin_count(fs, b))
				return true;
	}
	return false;
}

static int pin_blocks(struct daxfs *fs, uint64_t pblk, uint64_t len, int delta)
{
	for (uint64_t b = pblk; b < pblk + len; b++) {
		uint32_t **c = &fs->pins[b >> DX_PIN_CHUNK_SHIFT];
		uint32_t *cnt;

		if (!*c) {
			uint32_t *n = calloc(1u << DX_PIN_CHUNK_SHIFT, sizeof(uint32_t));
			if (!n)
				return -ENOMEM;
			__atomic_store_n(c, n, __ATOMIC_RELEASE);
		}
		cnt = &(*c)[b & ((1u << DX_PIN_CHUNK_SHIFT) - 1)];
		if (delta > 0 && __atomic_fetch_add(cnt, 1, __ATOMIC_RELAXED) == 0)
			__atomic_fetch_add(&fs->stats.pinned_blocks, 1, __ATOMIC_RELAXED);
		if (delta < 0 && __atomic_sub_fetch(cnt, 1, __ATOMIC_RELAXED) == 0)
			__atomic_fetch_sub(&fs->stats.pinned_blocks, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

/*
 * The busy check of a layout change: cost O(1) for a file without
 * mappings, whatever its size, and O(P) for P mappings.
 */
bool dx_inode_busy(struct dx_ino *ip, uint64_t start, uint64_t end)
{
	for (struct dx_mapping *m = ip->maps; m; m = m->inext) {
		if (m->lblk >= end || (uint64_t)m->lblk + m->nblk <= start)
			continue;
		if (!(m->flags & DAXFS_PIN_REVOKED) && !m->nclaim)
			return true;
		/* A revoked extent that could not be quarantined is still
		 * in the file (dx_quarantine_mapping); a snapshot's blocks
		 * are kept by its own references, whatever the file does. */
		for (uint32_t i = 0; i < m->next; i++)
			if (!m->ext[i].claim &&
			    (!(m->flags & DAXFS_PIN_REVOKED) || m->ext[i].rec != DX_NO_REC) &&
			    m->ext[i].lblk < end && (uint64_t)m->ext[i].lblk + m->ext[i].len > start)
				return true;
	}
	return false;
}

/* Persist one mapping record: contents first, then the kind that makes
 * the slot live, so recovery never sees a half-written record. */
static void rec_write(struct daxfs *fs, uint32_t slot, const struct dx_mapping *m,
		      const struct dx_map_ext *e, uint64_t start, uint64_t boot)
{
	struct dx_maprec *r = &fs->maprecs[slot];

	r->flags = (uint16_t)m->flags;
	r->lblk = e->lblk;
	r->ino = m->ip->ino;
	r->pblk = e->pblk;
	r->nblocks = e->len;
	r->holder_pid = (uint32_t)m->pid;
	r->holder_start = start;
	r->id = m->id;
	r->holder_boot = boot;
	/* The crc of the record as it will be once live; a crash before the
	 * kind store leaves a free slot, whose crc nobody reads. */
	if (fs->csum) {
		struct dx_maprec live = *r;
		live.kind = e->claim ? DX_MAPREC_SNAP : DX_MAPREC_MAP;
		r->csum = dx_csum_maprec(fs->csum_seed, slot, &live);
	}
	dx_flush(&fs->pc, r, sizeof(*r));
	dx_drain(&fs->pc);
	/* A snapshot's record goes live with its references (snapshot.c). */
	if (e->claim)
		return;
	r->kind = DX_MAPREC_MAP;
	dx_persist(&fs->pc, &r->kind, sizeof(r->kind));
}

static void rec_clear(struct daxfs *fs, uint32_t slot)
{
	fs->maprecs[slot].kind = 0;
	dx_persist(&fs->pc, &fs->maprecs[slot].kind, sizeof(fs->maprecs[slot].kind));
	fs->rec_free[fs->nrec_free++] = slot;
}

static struct dx_mapping **mhash_slot(struct daxfs *fs, uint64_t id)
{
	return &fs->mhash[(id * 0x9e3779b97f4a7c15ULL >> 32) & fs->mhash_mask];
}

/* The mapping id of f, or NULL (pin_lock held). */
static struct dx_mapping *mapping_find(struct daxfs *fs, struct daxfs_file *f, uint64_t id)
{
	struct dx_mapping *m;

	for (m = *mhash_slot(fs, id); m && m->id != id; m = m->hnext)
		;
	return m && m->f == f ? m : NULL;
}

static void mapping_link(struct daxfs *fs, struct dx_mapping *m)
{
	struct dx_mapping **h = mhash_slot(fs, m->id);

	m->iprev = NULL;
	m->inext = m->ip->maps;
	if (m->inext)
		m->inext->iprev = m;
	m->ip->maps = m;
	m->ip->nmaps++;
	m->fprev = NULL;
	m->fnext = m->f->maps;
	if (m->fnext)
		m->fnext->fprev = m;
	m->f->maps = m;
	if (m->flags & DAXFS_MAP_LONGTERM)
		m->f->nlongterm++;
	m->gprev = fs->mtail;
	m->gnext = NULL;
	if (fs->mtail)
		fs->mtail->gnext = m;
	else
		fs->mhead = m;
	fs->mtail = m;
	m->hnext = *h;
	*h = m;
	fs->stats.mappings++;
}

/* O(1) but for the id's hash chain, which stays about one long. */
static void mapping_unlink(struct daxfs *fs, struct dx_mapping *m)
{
	struct dx_mapping **pp;

	if (m->iprev)
		m->iprev->inext = m->inext;
	else
		m->ip->maps = m->inext;
	if (m->inext)
		m->inext->iprev = m->iprev;
	m->ip->nmaps--;
	if (m->fprev)
		m->fprev->fnext = m->fnext;
	else
		m->f->maps = m->fnext;
	if (m->fnext)
		m->fnext->fprev = m->fprev;
	if (m->flags & DAXFS_MAP_LONGTERM)
		m->f->nlongterm--;
	if (m->gprev)
		m->gprev->gnext = m->gnext;
	else
		fs->mhead = m->gnext;
	if (m->gnext)
		m->gnext->gprev = m->gprev;
	else
		fs->mtail = m->gprev;
	for (pp = mhash_slot(fs, m->id); *pp != m; pp = &(*pp)->hnext)
		;
	*pp = m->hnext;
	fs->stats.mappings--;
}

/*
 * What a map of file blocks [s, e) will cover: the first
 * DAXFS_MAP_MAX_EXTENTS pieces (extents or holes) of the range, as it is
 * before holes are backed.
 */
struct map_plan {
	uint64_t end;		/* the mapping covers [s, end) */
	uint32_t pieces;
	uint64_t hole_blocks;	/* blocks of holes in [s, end) */
	bool full;		/* a shared block cannot take one more reference */
};

/*
 * The piece of a map that starts at file block b (< e): a hole, or part of
 * one extent.  A snapshot map (snap) also splits an extent where its blocks
 * start or stop being shared, and shared runs at DX_SNAP_RUN_MAX blocks:
 * each shared piece is a record holding references (snapshot.c).
 */
static uint64_t map_piece(const struct daxfs *fs, const struct dx_xmap *xm, uint64_t b,
			  uint64_t e, bool snap, bool *hole, bool *shared, uint64_t *pblk)
{
	size_t i = dx_xmap_find(xm, b);
	uint64_t n;

	*hole = i == xm->n || xm->v[i].lblk > b;
	*shared = false;
	n = *hole ? (i == xm->n ? e : xm->v[i].lblk) - b
		  : (uint64_t)xm->v[i].lblk + xm->v[i].len - b;
	if (n > e - b)
		n = e - b;
	if (*hole)
		return n;
	*pblk = xm->v[i].pblk + (b - xm->v[i].lblk);
	if (!snap)
		return n;
	*shared = dx_refc(fs, *pblk) != 0;
	n = dx_refc_run(fs, *pblk, n, *shared);
	return *shared && n > DX_SNAP_RUN_MAX ? DX_SNAP_RUN_MAX : n;
}

static void map_plan(const struct daxfs *fs, const struct dx_xmap *xm, uint64_t s, uint64_t e,
		     bool snap, struct map_plan *p)
{
	uint64_t b = s;

	memset(p, 0, sizeof(*p));
	while (b < e && p->pieces < DAXFS_MAP_MAX_EXTENTS) {
		bool hole, shared;
		uint64_t pb = 0, n = map_piece(fs, xm, b, e, snap, &hole, &shared, &pb);

		if (hole)
			p->hole_blocks += n;
		/* A block one more reference would overflow (an adversary
		 * can share one DX_REFC_MAX - 1 times over) cannot be held. */
		for (uint64_t k = 0; shared && k < n && !p->full; k++)
			p->full = dx_refc(fs, pb + k) >= DX_REFC_MAX - 1;
		b += n;
		p->pieces++;
	}
	p->end = b;
}

/*
 * Reserve, under pin_lock, what a map may use: one mapping, nrec records
 * (of the table and of the user's cap) and nblk pinned blocks.  Root is
 * exempt from the per-user caps, and only root may take the last
 * fs->nrec_root free records.  Returns 0 or -errno, having changed
 * nothing.
 */
static int map_reserve(struct daxfs *fs, uid_t uid, uint32_t nrec, uint64_t nblk)
{
	size_t avail = fs->nrec_free - fs->nrec_reserved;
	struct dx_usage *u = dx_usage_get(fs, uid);

	if (!u)
		return -ENOMEM;
	if (avail < nrec || (uid != 0 && avail - nrec < fs->nrec_root))
		return dx_err(-ENOSPC, "mapping-record table is full");
	if (uid != 0 && ((fs->max_mappings && u->mappings >= fs->max_mappings) ||
			 (fs->max_records && u->records + nrec > fs->max_records) ||
			 (fs->max_pinned && u->pinned + nblk > fs->max_pinned)))
		return -ENOLCK;
	fs->nrec_reserved += nrec;
	u->mappings++;
	u->records += nrec;
	u->pinned += nblk;
	return 0;
}

/* Give back what map_reserve took and a mapping does not use (pin_lock). */
static void map_unreserve(struct daxfs *fs, uid_t uid, uint32_t nrec, uint64_t nblk,
			  bool mapping)
{
	struct dx_usage *u = dx_usage_get(fs, uid);

	fs->nrec_reserved -= nrec;
	if (u) {
		u->records -= nrec;
		u->pinned -= nblk;
		u->mappings -= mapping;
	}
}

/* Free blocks now, reserving backing for need first (tx_lock: the
 * allocator's counter). */
static uint64_t free_blocks(struct daxfs *fs, uint64_t need)
{
	uint64_t n;

	dx_mutex_lock(&fs->tx_lock);
	dx_space_grow(fs, need);
	n = fs->free_blocks;
	dx_mutex_unlock(&fs->tx_lock);
	return n;
}

int dx_map_check(const struct daxfs_file *f, const struct daxfs_ioc_map *req)
{
	int acc = f->flags & O_ACCMODE;
	uint32_t known = DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM | DAXFS_MAP_REPLACE |
			 DAXFS_MAP_COHERENT;

	if (!(req->flags & ~(uint32_t)DAXFS_MAP_REPLACE) || req->flags & ~known)
		return -EINVAL;
	if (((req->flags & DAXFS_MAP_READ) && acc == O_WRONLY) ||
	    ((req->flags & DAXFS_MAP_WRITE) && acc == O_RDONLY))
		return -EACCES;
	/* Both ends inside the largest file, so that nothing below wraps:
	 * an offset past it would make DX_MAX_FILE_SIZE - offset huge. */
	if (req->offset % DX_BLOCK_SIZE || !req->length || req->offset >= DX_MAX_FILE_SIZE ||
	    req->length > DX_MAX_FILE_SIZE - req->offset)
		return -EINVAL;
	return 0;
}

int dx_map_locked(struct daxfs *fs, struct dx_ino *ip, struct daxfs_file *f,
		  struct daxfs_ioc_map *req, pid_t pid, uid_t uid)
{
	uint64_t s, e, fsize_blocks = (ip->d->size + DX_BLOCK_SIZE - 1) / DX_BLOCK_SIZE, start = 0;
	uint64_t boot = dx_boot_id(), planned;
	struct dx_xmap *xm = &ip->xmap;
	struct dx_mapping *m;
	struct map_plan plan;
	int acc = f->flags & O_ACCMODE, ret;
	uint32_t nrec;
	bool snap, claims;

	if ((ret = dx_map_check(f, req)))
		return ret;
	req->flags &= ~(uint32_t)(DAXFS_MAP_BACKED | DAXFS_MAP_SNAPSHOT);
	s = req->offset / DX_BLOCK_SIZE;
	e = (req->offset + req->length + DX_BLOCK_SIZE - 1) / DX_BLOCK_SIZE;
	if (e > fsize_blocks || s >= e)
		return -EINVAL; /* like a fault past EOF: nothing to map */
	if (fs->readonly)
		return -EROFS;
	if (req->flags & DAXFS_MAP_LONGTERM) {
		/* The mirror of FOLL_LONGTERM on fs-dax: only under a lease,
		 * and never while a break is pending (it must not starve). */
		int err = 0;

		dx_mutex_lock(&fs->pin_lock);
		if (!f->lease)
			err = -EPERM;
		else if (f->lease->state == DAXFS_LEASE_REVOKED)
			err = -ENOLINK;
		else if (f->lease->state == DAXFS_LEASE_BREAKING || ip->nbreaking)
			err = -EAGAIN;
		dx_mutex_unlock(&fs->pin_lock);
		if (err)
			return err;
	}
	/*
	 * COW is broken at map time for a mapping that may store, or must
	 * see later stores (seed 001's enforced COW for FOLL_PIN): it then
	 * points only at blocks of this file alone, so a store through it
	 * never shows in another file, and since a clone copies pinned
	 * blocks instead of sharing them, they stay unshared while pinned
	 * (cow.c).  A plain read mapping is a snapshot of the shared blocks
	 * instead: its records hold references on them (snapshot.c), unless
	 * one of them is shared too often to take one more.
	 */
	snap = dx_snap_wanted(fs, req->flags);
	if (snap) {
		map_plan(fs, xm, s, e, true, &plan);
		if (plan.full)
			snap = false;
	}
	if (fs->refc && !snap && !dx_fault(fs, DX_FAULT_COW_MAP_SKIP)) {
		ret = dx_cow_break(fs, ip, s, e);
		if (ret)
			return ret;
	}
	/*
	 * Holes are backed with zeroed blocks, read mappings too (a hole
	 * mapped to a shared zero block would not see a later write(2) fill
	 * it), but only for an opener that may write: a read-only opener
	 * may not allocate pool space, so a hole in its range is ENODATA.
	 */
	map_plan(fs, xm, s, e, snap, &plan);
	claims = snap && !dx_fault(fs, DX_FAULT_SNAP_REF_SKIP);
	if (plan.hole_blocks && acc == O_RDONLY)
		return -ENODATA;
	planned = plan.end - s;
	/* Backing may split a hole into several extents. */
	nrec = plan.pieces;
	if (plan.hole_blocks) {
		uint64_t most = plan.pieces + plan.hole_blocks;
		nrec = most < DAXFS_MAP_MAX_EXTENTS ? (uint32_t)most : DAXFS_MAP_MAX_EXTENTS;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	/* Everything the map may use is counted before any block is
	 * allocated: a map over the caps fails having changed nothing. */
	dx_mutex_lock(&fs->pin_lock);
	ret = map_reserve(fs, uid, nrec, planned);
	dx_mutex_unlock(&fs->pin_lock);
	if (ret) {
		free(m);
		return ret;
	}
	if (plan.hole_blocks) {
		uint64_t before = ip->d->blocks;

		/* The pool must hold the holes (and some extent blocks):
		 * checked first, so that a full pool does not leave part of
		 * the range backed. */
		if (plan.hole_blocks + dx_xmap_meta_need(ip, nrec) >
		    free_blocks(fs, plan.hole_blocks + dx_xmap_meta_need(ip, nrec)))
			ret = -ENOSPC;
		else
			ret = dx_prealloc(fs, ip, s * DX_BLOCK_SIZE, plan.end * DX_BLOCK_SIZE, true);
		if (ip->d->blocks != before)
			req->flags |= DAXFS_MAP_BACKED;
		if (ret) {
			dx_mutex_lock(&fs->pin_lock);
			map_unreserve(fs, uid, nrec, planned, true);
			dx_mutex_unlock(&fs->pin_lock);
			free(m);
			return ret;
		}
	}
	dx_holder_identify(fs, pid, &pid, &start);
	m->ip = ip;
	m->f = f;
	m->flags = req->flags & ~(uint32_t)(DAXFS_MAP_BACKED | DAXFS_MAP_REPLACE);
	m->pid = pid;
	m->uid = uid;
	m->lblk = (uint32_t)s;
	m->created_ns = dx_now_ns();
	for (uint64_t b = s; b < plan.end && m->next < nrec;) {
		bool hole, shared;
		uint64_t pb = 0, n = map_piece(fs, xm, b, plan.end, claims, &hole, &shared, &pb);

		if (hole)
			break; /* not backed after all: map up to here */
		m->ext[m->next++] = (struct dx_map_ext){(uint32_t)b, (uint32_t)n, pb, 0, shared};
		m->nclaim += shared;
		b += n;
		m->nblk = (uint32_t)(b - s);
	}

	dx_mutex_lock(&fs->pin_lock);
	if (!m->next) {
		map_unreserve(fs, uid, nrec, planned, true);
		dx_mutex_unlock(&fs->pin_lock);
		free(m);
		return -ENOSPC;
	}
	/* Keep what the mapping uses of the reservation; records are taken
	 * from the free stack now. */
	map_unreserve(fs, uid, nrec - m->next, planned - m->nblk, false);
	fs->nrec_reserved -= m->next;
	m->id = fs->next_map_id++;
	for (uint32_t i = 0; i < m->next; i++) {
		if (pin_blocks(fs, m->ext[i].pblk, m->ext[i].len, +1)) {
			for (uint32_t j = 0; j < i; j++)
				pin_blocks(fs, m->ext[j].pblk, m->ext[j].len, -1);
			fs->nrec_reserved += m->next;
			map_unreserve(fs, uid, m->next, m->nblk, true);
			dx_mutex_unlock(&fs->pin_lock);
			free(m);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < m->next; i++) {
		m->ext[i].rec = fs->rec_free[--fs->nrec_free];
		rec_write(fs, m->ext[i].rec, m, &m->ext[i], start, boot);
		fs->stats.pins_taken += m->ext[i].len;
	}
	if (m->nclaim) {
		dx_snap_claim(fs, m);
		req->flags |= DAXFS_MAP_SNAPSHOT;
	}
	mapping_link(fs, m);
	fs->stats.maps++;
	dx_mutex_unlock(&fs->pin_lock);

	req->id = m->id;
	req->length = (uint64_t)m->nblk * DX_BLOCK_SIZE;
	req->nextents = m->next;
	for (uint32_t i = 0; i < m->next; i++) {
		req->ext[i].file_off = (uint64_t)m->ext[i].lblk * DX_BLOCK_SIZE;
		req->ext[i].pool_off = m->ext[i].pblk * DX_BLOCK_SIZE;
		req->ext[i].len = (uint64_t)m->ext[i].len * DX_BLOCK_SIZE;
	}
	return 0;
}

/* Drop a mapping's pins and records (pin_lock held).  The caller frees m
 * after it lets go of pin_lock: free() can take long (a sanitizer's
 * quarantine recycles in it), and nobody else should wait for that. */
static void mapping_drop(struct daxfs *fs, struct dx_mapping *m)
{
	struct dx_usage *u = dx_usage_get(fs, m->uid);

	mapping_unlink(fs, m);
	for (uint32_t i = 0; i < m->next; i++) {
		/* A revoked mapping's blocks are in quarantine: they keep
		 * their pins until here, and the quarantine frees them once
		 * no pin is left (dx_quarantine_release). */
		pin_blocks(fs, m->ext[i].pblk, m->ext[i].len, -1);
		fs->stats.pins_dropped += m->ext[i].len;
		if (m->ext[i].rec != DX_NO_REC && !m->ext[i].claim)
			rec_clear(fs, m->ext[i].rec);
	}
	/* After the pins: the last reference frees the block. */
	if (m->nclaim)
		dx_snap_drop(fs, m);
	if (u) {
		u->pinned -= m->nblk;
		u->records -= m->next;
		u->mappings--;
	}
	fs->stats.unmaps++;
}

DX_EXPORT int daxfs_mapping_drop(struct daxfs *fs, struct daxfs_file *f, uint64_t id)
{
	struct dx_mapping *m;

	dx_mutex_lock(&fs->pin_lock);
	m = mapping_find(fs, f, id);
	if (m)
		mapping_drop(fs, m);
	dx_mutex_unlock(&fs->pin_lock);
	if (!m)
		return -EINVAL;
	free(m);
	dx_quarantine_release(fs);
	/* The last pin in the way of a waiting layout change may just have
	 * gone: run what can run now, on this thread. */
	dx_layout_run(fs, f->ip);
	return 0;
}

/* Mappings a release drops per hold of pin_lock: other users of the mount
 * wait for one batch, not for everything one holder has mapped. */
#define DX_UNMAP_BATCH 64

bool dx_unmap_file(struct daxfs *fs, struct daxfs_file *f)
{
	bool any = false, more = true;

	/* Nothing maps through f any more (it is being released), so the
	 * list only shrinks between the batches. */
	while (more) {
		struct dx_mapping *gone[DX_UNMAP_BATCH];
		int n = 0;

		dx_mutex_lock(&fs->pin_lock);
		while (f->maps && n < DX_UNMAP_BATCH) {
			gone[n] = f->maps;
			mapping_drop(fs, gone[n++]);
		}
		more = f->maps != NULL;
		dx_mutex_unlock(&fs->pin_lock);
		for (int i = 0; i < n; i++)
			free(gone[i]);
		any |= n > 0;
	}
	if (any)
		dx_quarantine_release(fs);
	return any;
}

DX_EXPORT int daxfs_mapping_range(struct daxfs *fs, struct daxfs_file *f, uint64_t id, uint64_t *off,
			      uint64_t *len)
{
	struct dx_mapping *m;
	uint64_t ms, me, s = *off, e = *off + *len;
	int ret = -EINVAL;

	if (*len > UINT64_MAX - *off)
		return -EINVAL; /* the range would wrap */
	dx_mutex_lock(&fs->pin_lock);
	m = mapping_find(fs, f, id);
	if (m) {
		ms = (uint64_t)m->lblk * DX_BLOCK_SIZE;
		me = ms + (uint64_t)m->nblk * DX_BLOCK_SIZE;
		if (!*len) {
			s = ms;
			e = me;
		}
		if (s < ms)
			s = ms;
		if (e > me)
			e = me;
		*off = s;
		*len = e > s ? e - s : 0;
		/* Planted bug: nothing for the daemon to drop from the
		 * kernel's cache after a direct write. */
		if (dx_fault(fs, DX_FAULT_STALE_READ))
			*len = 0;
		ret = (m->flags & DAXFS_PIN_REVOKED) ? -ENOLINK : 0;
	}
	dx_mutex_unlock(&fs->pin_lock);
	return ret;
}

DX_EXPORT int daxfs_mapping_list(struct daxfs *fs, uint64_t cursor, uint64_t ino,
				 const uid_t *owner, struct daxfs_pin_info *out, int max)
{
	uint64_t now = dx_now_ns();
	int n = 0;

	dx_mutex_lock(&fs->pin_lock);
	for (struct dx_mapping *m = fs->mhead; m && n < max; m = m->gnext) {
		if (m->id <= cursor || (ino && m->ip->ino != ino) || (owner && m->uid != *owner))
			continue;
		out[n] = (struct daxfs_pin_info){
			.id = m->id,
			.ino = m->ip->ino,
			.offset = (uint64_t)m->lblk * DX_BLOCK_SIZE,
			.length = (uint64_t)m->nblk * DX_BLOCK_SIZE,
			.age_ns = now - m->created_ns,
			.holder_pid = (uint32_t)m->pid,
			.flags = m->flags | (m->nclaim ? DAXFS_MAP_SNAPSHOT : 0),
			.nextents = m->next,
		};
		n++;
	}
	dx_mutex_unlock(&fs->pin_lock);
	return n;
}

DX_EXPORT void daxfs_get_stats(struct daxfs *fs, struct daxfs_stats *st)
{
	dx_mutex_lock(&fs->pin_lock);
	*st = fs->stats;
	st->busy_timeout_s = fs->busy_timeout;
	st->lease_break_time_s = fs->lease_break_time;
	st->pin_lock_max_hold_ns = fs->pin_lock.max_hold_ns;
	st->pin_lock_max_cpu_ns = fs->pin_lock.max_hold_cpu_ns;
	dx_mutex_unlock(&fs->pin_lock);
}
