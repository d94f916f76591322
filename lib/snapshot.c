/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - read mappings of shared blocks that keep their bytes.
 *
 * A plain read mapping (no DAXFS_MAP_WRITE, _LONGTERM or _COHERENT) of
 * blocks that files share does not break the sharing, as a write mapping
 * must (seed 001): it is a snapshot, as a read-only pin of a page shared
 * after fork() is (seed 004).  Its record holds a reference of its own on
 * each such block, counted in the refcount table like one more extent.
 * So every file that maps the blocks sees them shared, and a write to any
 * of them, that of the mapping too, goes to a copy (cow.c) and leaves the
 * mapped bytes as they were; a truncate or punch drops only the file's
 * reference and need not wait for the mapping (dx_inode_busy); and the
 * blocks go back to the pool when the last reference goes, the mapping's
 * at unmap.  Blocks of the range that no other file shares are mapped as
 * any file's blocks are, and see later writes.
 *
 * Crash safety: the record becomes live (kind DX_MAPREC_SNAP) in the same
 * transaction that takes its references, and stops being live in the one
 * that drops them, so a crash never leaves a reference without its record
 * or the reverse.  The next open turns the record of a holder that still
 * runs into DX_MAPREC_HELD, whose references the reaper drops once that
 * process is gone, and drops at once those of a dead holder.  A record is
 * let go of in pieces of at most DX_REAP_BLOCKS blocks, each shrinking it
 * in its own transaction, so the journal bounds no record's length.
 */
#include <errno.h>
#include "core.h"

bool dx_snap_wanted(const struct daxfs *fs, uint32_t flags)
{
	return fs->refc && !(flags & (DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM | DAXFS_MAP_COHERENT));
}

/* Room for one piece's words: its counts, bitmap and record fields. */
static size_t piece_cost(uint64_t n)
{
	return dx_tx_cost(n * sizeof(uint16_t)) + dx_tx_cost((n / 64 + 2) * 8) + 4096;
}

void dx_snap_claim(struct daxfs *fs, struct dx_mapping *m)
{
	dx_tx_begin(fs);
	for (uint32_t i = 0; i < m->next; i++) {
		struct dx_map_ext *e = &m->ext[i];
		struct dx_maprec *r = &fs->maprecs[e->rec];

		if (!e->claim)
			continue;
		/* Each record with its references: a commit between two
		 * records leaves each of them whole. */
		if (dx_tx_room(fs) < piece_cost(e->len)) {
			dx_tx_commit(fs);
			dx_tx_begin(fs);
		}
		dx_refc_get(fs, e->pblk, e->len);
		dx_tx_add(fs, &r->kind, sizeof(r->kind));
		r->kind = DX_MAPREC_SNAP;
		fs->stats.snapshot_blocks += e->len;
	}
	dx_tx_commit(fs);
}

uint64_t dx_snap_release(struct daxfs *fs, size_t i, uint64_t max)
{
	struct dx_maprec *r = &fs->maprecs[i];
	uint64_t n = r->nblocks < max ? r->nblocks : max;

	/* One reference fewer on each: the last one frees the block. */
	dx_free_blocks(fs, r->pblk, n);
	if (r->kind == DX_MAPREC_HELD)
		__atomic_sub_fetch(&fs->stats.quarantined_blocks, n, __ATOMIC_RELAXED);
	dx_maprec_trim(fs, i, n);
	return n;
}

void dx_snap_drop(struct daxfs *fs, struct dx_mapping *m)
{
	dx_tx_begin(fs);
	for (uint32_t i = 0; i < m->next; i++) {
		struct dx_map_ext *e = &m->ext[i];

		if (!e->claim)
			continue;
		while (fs->maprecs[e->rec].kind) {
			if (dx_tx_room(fs) < piece_cost(DX_REAP_BLOCKS)) {
				dx_tx_commit(fs);
				dx_tx_begin(fs);
			}
			dx_snap_release(fs, e->rec, DX_REAP_BLOCKS);
		}
		fs->stats.snapshot_blocks -= e->len;
		e->rec = DX_NO_REC;
	}
	dx_tx_commit(fs);
}

int dx_snap_recover(struct daxfs *fs, size_t i)
{
	struct dx_maprec *r = &fs->maprecs[i];

	if (r->kind == DX_MAPREC_HELD) {
		__atomic_add_fetch(&fs->stats.quarantined_blocks, r->nblocks, __ATOMIC_RELAXED);
		return 0; /* the reaper lets go once the holder is gone */
	}
	if (fs->readonly)
		return dx_err(-EROFS, "the pool holds mappings of a crashed daemon; "
				      "mount read-write once to recover them");
	if (dx_holder_alive(r->holder_pid, r->holder_start, r->holder_boot)) {
		/* The holder may still read the blocks: they stay put. */
		dx_tx_begin(fs);
		dx_tx_add(fs, &r->kind, sizeof(r->kind));
		r->kind = DX_MAPREC_HELD;
		dx_tx_commit(fs);
		__atomic_add_fetch(&fs->stats.quarantined_blocks, r->nblocks, __ATOMIC_RELAXED);
		fs->stats.quarantine_total += r->nblocks;
		return 0;
	}
	while (r->kind) {
		dx_tx_begin(fs);
		dx_snap_release(fs, i, DX_REAP_BLOCKS);
		dx_tx_commit(fs);
	}
	return 0;
}
