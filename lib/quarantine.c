/* SPDX-License-Identifier: MIT */
/*
 * quarantine.c - blocks that an outside holder may still write into, kept
 * out of every file and out of the free pool until that holder is gone.
 *
 * A client's mapping of the pool outlives a crash of the daemon, so the
 * pins that lived in the daemon's memory are gone but the holder may still
 * be writing.  At open, every mapping record whose holder process still
 * lives (same process, start time and boot) has its blocks taken out of the file:
 * a copy of their bytes takes their place in the file (a hole if the pool
 * is full), and the originals become a quarantine record.  Records of dead
 * holders are dropped: their blocks simply stay with the file.  Quarantine
 * records are freed by daxfs_tick() once their holder has exited.
 *
 * Each record change is logged in the same transaction as the block map
 * change it goes with, so a crash in between cannot free a block twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

/* Set bits [s, e) of v, a word at a time. */
static void mark_bits(uint64_t *v, uint64_t s, uint64_t e)
{
	while (s < e) {
		uint64_t b = s % 64, n = 64 - b < e - s ? 64 - b : e - s;

		v[s / 64] |= (n == 64 ? ~0ULL : ((1ULL << n) - 1) << b);
		s += n;
	}
}

/*
 * The blocks of [p, p + n), n <= DX_REAP_BLOCKS, that a live quarantine
 * record other than skip holds, as bits of held: one pass over the table,
 * whatever the records' lengths.
 */
static void held_elsewhere(struct daxfs *fs, uint64_t p, uint64_t n, size_t nrec, size_t skip,
			   uint64_t *held)
{
	memset(held, 0, DX_REAP_BLOCKS / 8);
	for (size_t i = 0; i < nrec; i++) {
		const struct dx_maprec *r = &fs->maprecs[i];
		uint64_t s, e;

		if (i == skip || r->kind != DX_MAPREC_QUARANTINE)
			continue;
		/* records are inside the data area (checked at open) */
		s = r->pblk > p ? r->pblk : p;
		e = r->pblk + r->nblocks < p + n ? r->pblk + r->nblocks : p + n;
		if (s < e)
			mark_bits(held, s - p, e - p);
	}
}

/* Does ip map file block lblk + b to pool block pblk + b? */
static bool maps_block(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t pblk,
		       uint64_t b)
{
	return dx_xmap_addr(fs, ip, lblk + b) == dx_blk(fs, pblk + b);
}

/*
 * In a transaction, with ip->lock held: take the blocks of file blocks
 * [lblk, lblk+n) that still live at the record's pool blocks [pblk, pblk+n)
 * out of ip without freeing them, and put copies of their bytes in their
 * place where the pool has room.
 *
 * Returns 0 once no block of the range maps to the record any more, or
 * -ENOSPC (a split needs an extent block and the pool is full) with the
 * file unchanged since the last commit.  The caller must not count the
 * blocks as quarantined unless this returned 0: a quarantine over blocks
 * a file still maps would free them under the file (issue 11, defect 1).
 *
 * A removal larger than the journal commits in chunks while the record is
 * still a mapping record; a crash in between leaves some blocks out of the
 * file and the rest in it, and recovery takes out the rest (only runs that
 * still map to the record are removed, so a retry is harmless).
 */
static int swap_out(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t n, uint64_t pblk)
{
	uint64_t stop, b = 0;

	while (b < n) {
		uint64_t s, e;
		int ret;

		if (!maps_block(fs, ip, lblk, pblk, b)) {
			b++;
			continue;
		}
		for (s = b; b < n && maps_block(fs, ip, lblk, pblk, b); b++)
			;
		e = b;
		while ((ret = dx_xmap_remove(fs, ip, lblk + s, lblk + e, true)) == -EAGAIN) {
			dx_tx_commit(fs);
			dx_tx_begin(fs);
		}
		if (ret)
			return ret;
	}
	if (ip->d->nlink == 0)
		return 0; /* an orphan: nobody will read a copy */
	/* Back each hole of the range with a copy.  Only holes: a block of
	 * the range that the file maps elsewhere keeps its own bytes. */
	for (uint64_t c = lblk; c < lblk + n;) {
		uint64_t hs, he;

		if (dx_xmap_addr(fs, ip, c)) {
			c++;
			continue;
		}
		for (hs = c; c < lblk + n && !dx_xmap_addr(fs, ip, c); c++)
			;
		for (he = c; hs < he;) {
			uint64_t allocated = 0;

			stop = dx_fill_holes(fs, ip, hs, he, hs * DX_BLOCK_SIZE, he * DX_BLOCK_SIZE,
					     &allocated);
			/* The blocks just taken out stay allocated (the record
			 * keeps them), so their bytes are safe to copy from. */
			for (uint64_t d = hs; d < stop; d++)
				dx_memcpy_nodrain(&fs->pc, dx_xmap_addr(fs, ip, d),
						  dx_blk(fs, pblk + (d - lblk)), DX_BLOCK_SIZE);
			dx_add_blocks(fs, ip, allocated);
			if (stop == hs || stop == he) {
				if (stop < he)
					dx_log(fs, DAXFS_LOG_WARNING,
					       "inode %llu: no room to copy blocks "
					       "%llu-%llu out of quarantine; they read as zeros",
					       (unsigned long long)ip->ino,
					       (unsigned long long)stop,
					       (unsigned long long)(he - 1));
				break;
			}
			/* The journal ran short: the copies so far are made
			 * durable before the commit that exposes them. */
			dx_drain(&fs->pc);
			dx_tx_commit(fs);
			dx_tx_begin(fs);
			hs = stop;
		}
	}
	return 0;
}

int dx_maprecs_recover(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);

	for (size_t i = 0; i < nrec; i++) {
		struct dx_maprec *r = &fs->maprecs[i];
		struct dx_ino *ip;

		if (r->kind == DX_MAPREC_QUARANTINE) {
			__atomic_add_fetch(&fs->stats.quarantined_blocks, r->nblocks,
					   __ATOMIC_RELAXED);
			continue; /* the reaper frees it when its holder is gone */
		}
		if (r->kind == DX_MAPREC_SNAP || r->kind == DX_MAPREC_HELD) {
			int err = dx_snap_recover(fs, i);

			if (err)
				return err;
			continue;
		}
		if (r->kind != DX_MAPREC_MAP)
			continue;
		if (fs->readonly)
			return dx_err(-EROFS, "the pool holds mappings of a crashed daemon; "
					      "mount read-write once to recover them");
		ip = dx_holder_alive(r->holder_pid, r->holder_start, r->holder_boot)
			     ? dx_iget(fs, r->ino)
			     : NULL;
		if (ip && dx_iload(fs, ip)) {
			dx_iput(fs, ip);
			return dx_err(-ENOMEM, "out of memory recovering mappings");
		}
		/* The inode lock before the transaction (core.h). */
		if (ip)
			dx_wrlock(&ip->lock);
		dx_tx_begin(fs);
		if (ip) {
			/* A crash during an earlier swap leaves some or all of
			 * the blocks out of the file already: swap_out takes out
			 * only what still maps to the record. */
			int err = swap_out(fs, ip, r->lblk, r->nblocks, r->pblk);

			if (err) {
				/* The record stays a mapping record and the blocks
				 * stay in the file: nothing can free them under the
				 * live holder, because no mount goes on. */
				dx_tx_commit(fs);
				dx_rwunlock(&ip->lock);
				dx_iput(fs, ip);
				return dx_err(err, "no room to take blocks %llu-%llu of inode %llu out "
						   "of the file for live holder pid %llu; free space "
						   "with fsck.daxfs or end that process, then mount again",
					      (unsigned long long)r->pblk,
					      (unsigned long long)(r->pblk + r->nblocks - 1),
					      (unsigned long long)r->ino,
					      (unsigned long long)r->holder_pid);
			}
		}
		dx_tx_add(fs, &r->kind, sizeof(r->kind));
		if (ip) {
			r->kind = DX_MAPREC_QUARANTINE;
			__atomic_add_fetch(&fs->stats.quarantined_blocks, r->nblocks,
					   __ATOMIC_RELAXED);
			fs->stats.quarantine_total += r->nblocks;
		} else {
			r->kind = 0; /* holder gone: the blocks stay the file's */
		}
		dx_tx_commit(fs);
		if (ip)
			dx_rwunlock(&ip->lock);
		if (!r->kind)
			fs->rec_free[fs->nrec_free++] = (uint32_t)i;
		dx_iput(fs, ip);
	}
	return 0;
}

/*
 * In the open transaction: take the first n blocks off mapping record i,
 * or free the record when that is all of it.  A record of a file's blocks
 * (a snapshot's) moves its file offset along; a quarantine record has none.
 */
void dx_maprec_trim(struct daxfs *fs, size_t i, uint64_t n)
{
	struct dx_maprec *r = &fs->maprecs[i];

	if (n < r->nblocks) {
		_Static_assert(__builtin_offsetof(struct dx_maprec, nblocks) ==
				       __builtin_offsetof(struct dx_maprec, pblk) + 8,
			       "pblk and nblocks are adjacent");
		if (r->kind != DX_MAPREC_QUARANTINE) {
			dx_tx_add(fs, &r->lblk, sizeof(r->lblk));
			r->lblk += (uint32_t)n;
		}
		dx_tx_add(fs, &r->pblk, 2 * sizeof(uint64_t));
		r->pblk += n;
		r->nblocks -= n;
		return;
	}
	dx_tx_add(fs, &r->kind, sizeof(r->kind));
	r->kind = 0;
	fs->rec_free[fs->nrec_free++] = (uint32_t)i;
}

/*
 * Free the first blocks of quarantine record i, at most max (at most
 * DX_REAP_BLOCKS), but those another record holds: the record shrinks by
 * what it gives up, in the same transaction, and goes once nothing is left.
 * So a long record, or a damaged one, is freed over several lock holds, and
 * a crash between them leaves a shorter record.  In a tx, pin_lock held.
 * Returns the number of blocks taken off the record.
 */
static uint64_t rec_free_quarantine(struct daxfs *fs, size_t i, size_t nrec, uint64_t max)
{
	struct dx_maprec *r = &fs->maprecs[i];
	uint64_t held[DX_REAP_BLOCKS / 64];
	uint64_t n = r->nblocks < max ? r->nblocks : max, run = 0;

	held_elsewhere(fs, r->pblk, n, nrec, i, held);
	for (uint64_t b = 0; b <= n; b++) {
		if (b < n && !(held[b / 64] >> (b % 64) & 1)) {
			run++;
			continue;
		}
		dx_free_blocks(fs, r->pblk + b - run, run);
		run = 0;
	}
	__atomic_sub_fetch(&fs->stats.quarantined_blocks, n, __ATOMIC_RELAXED);
	dx_maprec_trim(fs, i, n);
	return n;
}

static bool rec_in_qruns(struct daxfs *fs, size_t i)
{
	for (struct dx_qrun *q = fs->qruns; q; q = q->next)
		if (q->rec == i)
			return true;
	return false;
}

/*
 * Records left by a crashed daemon: free once their holder has exited.
 * pin_lock and the transaction are held for a bounded piece of work at a
 * time (DX_REAP_RECORDS holder checks, DX_REAP_BLOCKS blocks freed): a long
 * record, or many, must not keep every mapping and every change waiting.
 */
void dx_quarantine_reap(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec), i = 0;

	/* An unlocked peek, so every update of the count is atomic. */
	if (!__atomic_load_n(&fs->stats.quarantined_blocks, __ATOMIC_RELAXED) || fs->readonly)
		return;
	while (i < nrec) {
		uint64_t freed = 0;
		unsigned checked = 0;
		size_t from = i;

		dx_mutex_lock(&fs->pin_lock);
		dx_tx_begin(fs);
		while (i < nrec && checked < DX_REAP_RECORDS && freed < DX_REAP_BLOCKS &&
		       dx_tx_room(fs) > 65536) {
			struct dx_maprec *r = &fs->maprecs[i];
			uint64_t n;

			if (r->kind != DX_MAPREC_QUARANTINE && r->kind != DX_MAPREC_HELD) {
				i++;
				continue;
			}
			checked++;
			n = r->nblocks < DX_REAP_BLOCKS - freed ? r->nblocks : DX_REAP_BLOCKS - freed;
			/* A revocation's runs go when their pins drop, not here.
			 * A HELD record's blocks may be in files, and pinned by
			 * their mappings: it only drops its references. */
			if ((r->kind == DX_MAPREC_QUARANTINE &&
			     (rec_in_qruns(fs, i) || dx_pinned_range(fs, r->pblk, n))) ||
			    dx_holder_alive(r->holder_pid, r->holder_start, r->holder_boot)) {
				i++;
				continue;
			}
			freed += r->kind == DX_MAPREC_HELD ? dx_snap_release(fs, i, n)
							   : rec_free_quarantine(fs, i, nrec, n);
			if (!r->kind)
				i++; /* else the rest of it in the next hold */
		}
		dx_tx_commit(fs);
		dx_mutex_unlock(&fs->pin_lock);
		if (i == from && !freed)
			break; /* no room in the journal for even one step */
	}
}

void dx_quarantine_mapping(struct daxfs *fs, struct dx_mapping *m)
{
	struct dx_ino *ip = m->ip;

	for (uint32_t i = 0; i < m->next; i++) {
		struct dx_map_ext *e = &m->ext[i];
		struct dx_maprec *r = &fs->maprecs[e->rec];
		struct dx_qrun *q;
		int err;

		/* A snapshot keeps its blocks by its own references: the
		 * file may change without taking them away from it. */
		if (e->claim)
			continue;
		q = malloc(sizeof(*q));
		if (!q)
			abort(); /* nothing open yet, but no way to report it */
		dx_tx_begin(fs);
		err = swap_out(fs, ip, e->lblk, e->len, e->pblk);
		if (err) {
			/* The blocks stay in the file, pinned, and the extent
			 * keeps its mapping record: the layout change keeps
			 * waiting for it (dx_inode_busy) until the holder
			 * unmaps, or gives up with EBUSY. */
			dx_tx_commit(fs);
			free(q);
			dx_log(fs, DAXFS_LOG_WARNING,
			       "inode %llu: no room to quarantine revoked blocks %llu-%llu; "
			       "they stay pinned in the file until unmapped",
			       (unsigned long long)ip->ino, (unsigned long long)e->pblk,
			       (unsigned long long)(e->pblk + e->len - 1));
			continue;
		}
		/* The record now stands for the quarantine, in the same
		 * transaction as the last step of the swap. */
		dx_tx_add(fs, &r->kind, sizeof(r->kind));
		r->kind = DX_MAPREC_QUARANTINE;
		dx_tx_commit(fs);
		*q = (struct dx_qrun){e->pblk, e->len, e->rec, fs->qruns};
		/* Atomic: dx_quarantine_release peeks at the head unlocked. */
		__atomic_store_n(&fs->qruns, q, __ATOMIC_RELAXED);
		e->rec = DX_NO_REC;
		__atomic_add_fetch(&fs->stats.quarantined_blocks, e->len, __ATOMIC_RELAXED);
		fs->stats.quarantine_total += e->len;
	}
}

void dx_quarantine_release(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);
	uint64_t freed = DX_REAP_BLOCKS;

	/* An unlocked peek, so stores to the list are atomic.  A run added
	 * just after it is still pinned by its own mapping, whose unmap
	 * comes here again. */
	if (!__atomic_load_n(&fs->qruns, __ATOMIC_RELAXED))
		return;
	/* As the reaper: at most DX_REAP_BLOCKS freed per hold of the locks;
	 * another hold only when this one ran out of that budget. */
	while (freed >= DX_REAP_BLOCKS) {
		struct dx_qrun **pp;

		freed = 0;
		dx_mutex_lock(&fs->pin_lock);
		dx_tx_begin(fs);
		for (pp = &fs->qruns; *pp && freed < DX_REAP_BLOCKS;) {
			struct dx_qrun *q = *pp;
			uint64_t got;

			if (dx_pinned_range(fs, q->pblk, q->len) || dx_tx_room(fs) < 65536) {
				pp = &q->next;
				continue;
			}
			got = rec_free_quarantine(fs, q->rec, nrec, DX_REAP_BLOCKS - freed);
			freed += got;
			if (fs->maprecs[q->rec].kind) {
				q->pblk += got; /* the record shrank: the rest next time */
				q->len -= got;
				continue;
			}
			/* *pp may be the head, which is peeked at unlocked. */
			__atomic_store_n(pp, q->next, __ATOMIC_RELAXED);
			free(q);
		}
		dx_tx_commit(fs);
		dx_mutex_unlock(&fs->pin_lock);
	}
}
