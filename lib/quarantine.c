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

/* Is pool block b held by a live quarantine record other than skip? */
static bool held_elsewhere(struct daxfs *fs, uint64_t b, size_t nrec, size_t skip)
{
	for (size_t i = 0; i < nrec; i++) {
		const struct dx_maprec *r = &fs->maprecs[i];
		if (i != skip && r->kind == DX_MAPREC_QUARANTINE && b >= r->pblk &&
		    b < r->pblk + r->nblocks)
			return true;
	}
	return false;
}

/* Does ip map file blocks [lblk, lblk+n) to pool blocks [pblk, pblk+n)? */
static bool maps_exactly(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t n,
			 uint64_t pblk)
{
	for (uint64_t b = 0; b < n; b++)
		if (dx_xmap_addr(fs, ip, lblk + b) != dx_blk(fs, pblk + b))
			return false;
	return true;
}

/*
 * In a transaction, with ip->lock held: take file blocks [lblk, lblk+n),
 * which live at pblk, out of ip without freeing them, and put copies of
 * their bytes in their place where the pool has room.
 */
static void swap_out(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t n, uint64_t pblk)
{
	uint64_t allocated = 0, stop;

	if (dx_xmap_remove(fs, ip, lblk, lblk + n, true))
		return;
	if (ip->d->nlink == 0)
		return; /* an orphan: nobody will read a copy */
	stop = dx_fill_holes(fs, ip, lblk, lblk + n, lblk * DX_BLOCK_SIZE,
			     (lblk + n) * DX_BLOCK_SIZE, &allocated);
	for (uint64_t b = lblk; b < stop; b++)
		dx_memcpy_nodrain(&fs->pc, dx_xmap_addr(fs, ip, b), dx_blk(fs, pblk + (b - lblk)),
				  DX_BLOCK_SIZE);
	dx_add_blocks(fs, ip, allocated);
	if (stop < lblk + n)
		fprintf(stderr,
			"daxfs: inode %llu: no room to copy blocks %llu-%llu out of quarantine; "
			"they read as zeros\n",
			(unsigned long long)ip->ino, (unsigned long long)stop,
			(unsigned long long)(lblk + n - 1));
}

int dx_maprecs_recover(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);

	for (size_t i = 0; i < nrec; i++) {
		struct dx_maprec *r = &fs->maprecs[i];
		struct dx_ino *ip;

		if (r->kind == DX_MAPREC_QUARANTINE) {
			fs->stats.quarantined_blocks += r->nblocks;
			continue; /* the reaper frees it when its holder is gone */
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
		/* A crash after an earlier swap leaves the blocks owned by
		 * nobody: then only the record changes. */
		if (ip && maps_exactly(fs, ip, r->lblk, r->nblocks, r->pblk))
			swap_out(fs, ip, r->lblk, r->nblocks, r->pblk);
		dx_tx_add(fs, &r->kind, sizeof(r->kind));
		if (ip) {
			r->kind = DX_MAPREC_QUARANTINE;
			fs->stats.quarantined_blocks += r->nblocks;
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

/* Free quarantine record i and the blocks no other record holds; in a tx,
 * pin_lock held. */
static void rec_free_quarantine(struct daxfs *fs, size_t i, size_t nrec)
{
	struct dx_maprec *r = &fs->maprecs[i];
	uint64_t run = 0;

	for (uint64_t b = r->pblk; b <= r->pblk + r->nblocks; b++) {
		if (b < r->pblk + r->nblocks && !held_elsewhere(fs, b, nrec, i)) {
			run++;
			continue;
		}
		dx_free_blocks(fs, b - run, run);
		run = 0;
	}
	dx_tx_add(fs, &r->kind, sizeof(r->kind));
	r->kind = 0;
	fs->rec_free[fs->nrec_free++] = (uint32_t)i;
	fs->stats.quarantined_blocks -= r->nblocks;
}

static bool rec_in_qruns(struct daxfs *fs, size_t i)
{
	for (struct dx_qrun *q = fs->qruns; q; q = q->next)
		if (q->rec == i)
			return true;
	return false;
}

/* Records left by a crashed daemon: free once their holder has exited. */
void dx_quarantine_reap(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);

	if (!__atomic_load_n(&fs->stats.quarantined_blocks, __ATOMIC_RELAXED) || fs->readonly)
		return;
	dx_mutex_lock(&fs->pin_lock);
	dx_tx_begin(fs);
	for (size_t i = 0; i < nrec && dx_tx_room(fs) > 65536; i++) {
		struct dx_maprec *r = &fs->maprecs[i];

		/* A revocation's runs go when their pins drop, not here. */
		if (r->kind != DX_MAPREC_QUARANTINE || rec_in_qruns(fs, i) ||
		    dx_holder_alive(r->holder_pid, r->holder_start, r->holder_boot) ||
		    dx_pinned_range(fs, r->pblk, r->nblocks))
			continue;
		rec_free_quarantine(fs, i, nrec);
	}
	dx_tx_commit(fs);
	dx_mutex_unlock(&fs->pin_lock);
}

void dx_quarantine_mapping(struct daxfs *fs, struct dx_mapping *m)
{
	struct dx_ino *ip = m->ip;

	dx_tx_begin(fs);
	for (uint32_t i = 0; i < m->next; i++) {
		struct dx_map_ext *e = &m->ext[i];
		struct dx_maprec *r = &fs->maprecs[e->rec];
		struct dx_qrun *q = malloc(sizeof(*q));

		if (!q)
			abort(); /* inside a transaction */
		if (maps_exactly(fs, ip, e->lblk, e->len, e->pblk))
			swap_out(fs, ip, e->lblk, e->len, e->pblk);
		/* The record now stands for the quarantine, in the same
		 * transaction as the swap. */
		dx_tx_add(fs, &r->kind, sizeof(r->kind));
		r->kind = DX_MAPREC_QUARANTINE;
		*q = (struct dx_qrun){e->pblk, e->len, e->rec, fs->qruns};
		fs->qruns = q;
		e->rec = DX_NO_REC;
		fs->stats.quarantined_blocks += e->len;
		fs->stats.quarantine_total += e->len;
	}
	dx_tx_commit(fs);
}

void dx_quarantine_release(struct daxfs *fs)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);
	struct dx_qrun **pp;

	if (!__atomic_load_n(&fs->qruns, __ATOMIC_RELAXED))
		return;
	dx_mutex_lock(&fs->pin_lock);
	dx_tx_begin(fs);
	for (pp = &fs->qruns; *pp;) {
		struct dx_qrun *q = *pp;

		if (dx_pinned_range(fs, q->pblk, q->len) || dx_tx_room(fs) < 65536) {
			pp = &q->next;
			continue;
		}
		rec_free_quarantine(fs, q->rec, nrec);
		*pp = q->next;
		free(q);
	}
	dx_tx_commit(fs);
	dx_mutex_unlock(&fs->pin_lock);
}
