/* SPDX-License-Identifier: MIT */
/*
 * persist_record.h - the recording mode of the persistence layer, for crash
 * testers (tools/crashtest).
 *
 * A recorder watches one mapped pool through the persistence observer.  It
 * keeps the "fenced image": the pool as a power failure right after the
 * last fence would leave it.  Every flush snapshots the cache lines it
 * covers, as they are at that moment; every drain is a fence, which makes
 * those snapshots durable.  At each fence the recorder lists the lines in
 * flight: those whose current bytes or flushed snapshot differ from the
 * fenced image.  A crash at that fence may persist each of them as it was
 * (old), as it was flushed, or as it is now (any store may be written back
 * early).  A store that lands after its flush and before the fence is
 * therefore not durable at that fence: it stays in flight.
 *
 * Stores that were never flushed are found by the diff against the fenced
 * image, so they stay in flight until some flush covers them.
 */
#ifndef DAXFS_PERSIST_RECORD_H
#define DAXFS_PERSIST_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DX_REC_LINE 64

/* One cache line in flight at a fence. */
struct dx_rec_line {
	uint64_t off;	       /* pool offset, a multiple of DX_REC_LINE */
	bool flushed;	       /* flushed since the last fence */
	char old[DX_REC_LINE]; /* the fenced image */
	char fl[DX_REC_LINE];  /* as last flushed (== old when not flushed) */
	char cur[DX_REC_LINE]; /* the mapping now */
};

/* A fence (just before it takes effect) and the lines in flight there. */
struct dx_rec_point {
	size_t n;
	struct dx_rec_line *lines;
};

struct dx_recorder;
struct dx_pctx;

/*
 * Start recording the pool of persistence context pc, mapped at
 * [base, base+len).  The fenced image starts as a copy of the mapping, or
 * of initial when not NULL.  One recorder observes at a time (the
 * observer callbacks carry no context): starting or resuming one makes it
 * the recorder that the callbacks feed.
 */
struct dx_recorder *dx_record_start(struct dx_pctx *pc, void *base, size_t len,
				    const void *initial);
/* Stop observing (the points recorded so far stay). */
void dx_record_pause(struct dx_recorder *r);
void dx_record_resume(struct dx_recorder *r);
/* Add a final point: what a crash right now finds (no fence implied). */
void dx_record_point_now(struct dx_recorder *r);
/* The points recorded since the last dx_record_clear(). */
size_t dx_record_npoints(const struct dx_recorder *r);
const struct dx_rec_point *dx_record_point(const struct dx_recorder *r, size_t i);
/*
 * Forget the points and take a copy of the fenced image as the window's
 * start.  The fenced image at point i is that copy with the flushed
 * snapshots (fl) of the flushed lines of points 0..i-1 applied.
 */
void dx_record_clear(struct dx_recorder *r);
/* The window's start image and the fenced image now (len bytes each). */
const char *dx_record_window_start(const struct dx_recorder *r);
const char *dx_record_fenced(const struct dx_recorder *r);
void dx_record_free(struct dx_recorder *r);
#endif
