/* SPDX-License-Identifier: MIT */
/*
 * intent.c - layout changes that are atomic across a crash, whatever their
 * size.
 *
 * Truncate down, punch, zero range, collapse, insert and preallocation may
 * need more transactions than one journal holds.  Each records its intent in the
 * inode (format.h, struct dx_intent) in its first transaction, together
 * with every check that can fail (ENOSPC, a split that needs a block) and
 * the final size and times; from that commit on nothing can fail, and the
 * change is driven to its end by dx_intent_run(), committing whenever the
 * journal fills.  A mount that finds an intent set runs the same code from
 * the last committed step: every step is either idempotent (removing a
 * range, zeroing bytes, backing holes) or records its progress in the
 * intent within the transaction that makes it (the phases and cursor of
 * collapse and insert).  So a crash before the first commit rolls back to
 * the old state and a crash after it rolls forward to the new one.
 *
 * Bytes changed in place (the partial blocks of a punch, the whole range
 * of a zero range) are written only after the intent is durable, so that a
 * crash before it leaves them untouched and recovery can redo them.
 *
 * The busy check for pins is made once, by dx_layout_submit(), before the
 * first transaction; the whole change then runs under the inode lock.
 * Recovery runs before any mapping exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

#define BLK DX_BLOCK_SIZE

static inline uint64_t blk_up(uint64_t off)
{
	return (off + BLK - 1) / BLK;
}

/* Journal bytes kept for the last transaction's intent, size and times. */
#define CLOSE_ROOM 512

void dx_intent_set(struct daxfs *fs, struct dx_ino *ip, const struct dx_intent *in)
{
	dx_tx_add(fs, &ip->d->intent, sizeof(ip->d->intent));
	ip->d->intent = *in;
}

const char *dx_intent_invalid(const struct dx_intent *in)
{
	if (!in->kind)
		return in->phase || in->cursor || in->off || in->end || in->size
			   ? "an empty intent with non-zero fields"
			   : NULL;
	if (in->kind > DX_INTENT_MAX)
		return "unknown kind";
	if (in->off > in->end || in->end > DX_MAX_FILE_SIZE + 1 || in->size > DX_MAX_FILE_SIZE)
		return "range out of bounds";
	if (in->cursor > DX_MAX_FILE_BLOCKS)
		return "cursor out of bounds";
	switch (in->kind) {
	case DX_INTENT_TRUNCATE:
		if (in->off || in->end || in->phase || in->cursor)
			return "truncate with a range";
		break;
	case DX_INTENT_PUNCH:
	case DX_INTENT_ZERO:
	case DX_INTENT_PREALLOC:
		if (in->phase || in->cursor || in->off == in->end)
			return "bad punch or zero range";
		break;
	case DX_INTENT_COLLAPSE:
	case DX_INTENT_INSERT:
		if (in->off % BLK || in->end % BLK || in->off == in->end)
			return "collapse or insert range not in whole blocks";
		if (in->kind == DX_INTENT_COLLAPSE && (in->phase > 1 || (!in->phase && in->cursor)))
			return "bad collapse phase";
		if (in->kind == DX_INTENT_INSERT && in->phase)
			return "bad insert phase";
		break;
	}
	return NULL;
}

/* Commit the open transaction and open the next one. */
static void next_tx(struct daxfs *fs)
{
	dx_tx_commit(fs);
	dx_tx_begin(fs);
}

/* A transaction that has logged nothing yet cannot make room by
 * committing: the step does not fit in the journal at all. */
static bool fresh(struct daxfs *fs)
{
	return fs->jr.tail == 0;
}

/* Remove [s, e), committing as the journal fills.  Never needs a split:
 * the caller made one where an extent covered both ends. */
static int remove_range(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e)
{
	for (;;) {
		int ret = dx_xmap_remove(fs, ip, s, e, false);

		if (ret != -EAGAIN)
			return ret;
		if (fresh(fs))
			return -ENOSPC;
		next_tx(fs);
	}
}

/* Move the extents of [from, to) by delta, recording the progress in the
 * intent with each transaction's share. */
static int shift_range(struct daxfs *fs, struct dx_ino *ip, uint64_t from, uint64_t to,
		       int64_t delta)
{
	struct dx_inode *d = ip->d;

	for (;;) {
		uint64_t next;
		int ret = dx_xmap_shift(fs, ip, from, to, delta, &next);

		if (!ret) {
			/* Done: the cursor says so in the same transaction,
			 * or a crash after a commit that the closing steps
			 * may still need (run_steps) would shift the last
			 * share again.  (dx_xmap_shift left room for this.) */
			dx_tx_add(fs, &d->intent.cursor, sizeof(d->intent.cursor));
			d->intent.cursor = delta < 0 ? to : from;
		}
		if (ret != -EAGAIN)
			return ret;
		if (fresh(fs))
			return -ENOSPC;
		dx_tx_add(fs, &d->intent.cursor, sizeof(d->intent.cursor));
		d->intent.cursor = next;
		next_tx(fs);
		if (delta < 0)
			from = next;
		else
			to = next;
	}
}

/*
 * Back the holes of [s, e) with zeroed blocks.  *resv blocks were taken
 * out of the free count for this at run time (so that no other file can
 * take them between two of our transactions): they are handed back for
 * the length of each transaction and what is left is taken again.
 */
static int fill_range(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e, uint64_t *resv)
{
	while (s < e) {
		uint64_t allocated = 0, before, stop, used;

		fs->free_blocks += *resv;
		before = fs->free_blocks;
		stop = dx_fill_holes(fs, ip, s, e, 0, 0, &allocated);
		used = before - fs->free_blocks;
		*resv = used < *resv ? *resv - used : 0;
		fs->free_blocks -= *resv;
		dx_add_blocks(fs, ip, allocated);
		if (stop >= e)
			break;
		if (stop == s && fresh(fs))
			return -ENOSPC;
		s = stop;
		next_tx(fs);
	}
	return 0;
}

/* The steps after the first commit.  A transaction is open. */
static int run_steps(struct daxfs *fs, struct dx_ino *ip, uint64_t *resv)
{
	struct dx_inode *d = ip->d;
	struct dx_intent in = d->intent;
	uint64_t ob = in.off / BLK, eb = in.end / BLK, fb = blk_up(in.off);
	int ret = 0;

	switch (in.kind) {
	case DX_INTENT_TRUNCATE:
		ret = remove_range(fs, ip, blk_up(in.size), DX_MAX_FILE_BLOCKS);
		/* An empty map needs no extent blocks. */
		if (!ret && !ip->xmap.n)
			dx_xmap_release_blocks(fs, ip);
		break;
	case DX_INTENT_PUNCH:
		/* The intent is durable before a byte changes in place. */
		next_tx(fs);
		if (fb > eb) { /* within one block */
			dx_zero_backed(fs, ip, in.off, in.end);
		} else {
			dx_zero_backed(fs, ip, in.off, fb * BLK);
			dx_zero_backed(fs, ip, eb * BLK, in.end);
		}
		dx_drain(&fs->pc);
		if (fb < eb)
			ret = remove_range(fs, ip, fb, eb);
		break;
	case DX_INTENT_ZERO:
		next_tx(fs);
		dx_zero_backed(fs, ip, in.off, in.end);
		dx_drain(&fs->pc);
		ret = fill_range(fs, ip, ob, blk_up(in.end), resv);
		break;
	case DX_INTENT_PREALLOC:
		ret = fill_range(fs, ip, ob, blk_up(in.end), resv);
		break;
	case DX_INTENT_COLLAPSE:
		if (in.phase == 0) {
			ret = remove_range(fs, ip, ob, eb);
			if (ret)
				break;
			/* Removed: from now on only the shift is left. */
			dx_tx_add(fs, &d->intent, sizeof(d->intent));
			d->intent.phase = 1;
			d->intent.cursor = eb;
		}
		ret =
		    shift_range(fs, ip, d->intent.cursor, DX_MAX_FILE_BLOCKS, -(int64_t)(eb - ob));
		break;
	case DX_INTENT_INSERT:
		ret = shift_range(fs, ip, ob, in.cursor, (int64_t)(eb - ob));
		break;
	default:
		ret = -EUCLEAN;
	}
	if (ret)
		return ret;
	if (dx_tx_room(fs) < CLOSE_ROOM)
		next_tx(fs);
	if (d->size != in.size) {
		dx_tx_add(fs, &d->size, sizeof(d->size));
		d->size = in.size;
	}
	dx_tx_add(fs, &d->intent, sizeof(d->intent));
	d->intent = (struct dx_intent){0};
	return 0;
}

int dx_intent_run(struct daxfs *fs, struct dx_ino *ip, uint64_t resv)
{
	int ret = run_steps(fs, ip, &resv);

	if (ret && !fs->recovering) {
		/* ENOSPC was ruled out before the first commit, so this is a
		 * bug; abort inside the open transaction, and the next mount
		 * rolls it back and retries from the last commit. */
		dx_log(fs, DAXFS_LOG_ERR, "inode %llu: layout change %u cannot go on (%d)",
		       (unsigned long long)ip->ino, ip->d->intent.kind, ret);
		abort();
	}
	fs->free_blocks += resv; /* what the reservation did not need */
	dx_tx_commit(fs);
	return ret;
}

int dx_intents_recover(struct daxfs *fs)
{
	int ret = 0;

	fs->recovering = true;
	for (uint64_t i = 0; i < fs->imark && !ret; i++) {
		struct dx_inode *d = &fs->itable[i];
		const char *why;
		struct dx_ino *ip;

		if (!d->mode || !d->intent.kind)
			continue;
		why = !S_ISREG(d->mode) ? "intent on a non-regular file"
					: dx_intent_invalid(&d->intent);
		if (why) {
			ret = dx_err(-EUCLEAN,
				     "inode %llu: damaged layout intent (%s); run fsck.daxfs",
				     (unsigned long long)i + 1, why);
			break;
		}
		if (fs->readonly) {
			ret =
			    dx_err(-EROFS,
				   "inode %llu has an interrupted layout change; mount read-write "
				   "once (or run fsck.daxfs) to complete it",
				   (unsigned long long)i + 1);
			break;
		}
		ip = dx_iget(fs, i + 1);
		if (!ip) {
			ret = dx_err(-ENOMEM, "out of memory completing a layout change");
			break;
		}
		ret = dx_iload(fs, ip);
		if (!ret) {
			dx_wrlock(&ip->lock);
			dx_tx_begin(fs);
			ret = dx_intent_run(fs, ip, 0);
			dx_rwunlock(&ip->lock);
			if (ret)
				dx_err(
				    ret,
				    "inode %llu: cannot complete an interrupted layout change: %s",
				    (unsigned long long)i + 1, strerror(-ret));
		}
		dx_iput(fs, ip);
	}
	fs->recovering = false;
	return ret;
}
