/* SPDX-License-Identifier: MIT */
/* persist_record.c - see persist_record.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"
#include "persist.h"
#include "persist_record.h"

struct dx_recorder {
	struct dx_pctx *pc;
	char *base;
	size_t len, nlines;
	char *fenced;	/* the pool as a crash after the last fence leaves it */
	char *wstart;	/* fenced image at the last clear */
	uint32_t *slot; /* line -> index + 1 into snap, 0 = not flushed */
	char *snap;	/* snapshots of the lines flushed since the last fence */
	uint64_t *snapline;
	size_t nsnap, snapcap;
	struct dx_rec_point *pts;
	size_t npts, ptcap;
	bool observing;
};

static struct dx_recorder *active;

/*
 * The buffers of the last recorder freed, for the next one of the same
 * size: a tester starts one per crash image it recovers, and faulting in
 * fresh pages for two pool-sized copies costs more than the recovery.
 */
static struct {
	size_t len;
	char *fenced, *wstart;
	uint32_t *slot; /* all zero */
} spare;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "persist_record: out of memory\n");
		abort();
	}
	return p;
}

static void rec_flush(const void *p, size_t len)
{
	struct dx_recorder *r = active;
	const char *c = p;
	size_t first, last;

	if (!r || c < r->base || c >= r->base + r->len || !len)
		return;
	if (len > (size_t)(r->base + r->len - c))
		len = (size_t)(r->base + r->len - c);
	first = (size_t)(c - r->base) / DX_REC_LINE;
	last = ((size_t)(c - r->base) + len - 1) / DX_REC_LINE;
	for (size_t l = first; l <= last; l++) {
		uint32_t i = r->slot[l];
		if (!i) {
			if (r->nsnap == r->snapcap) {
				r->snapcap = r->snapcap ? r->snapcap * 2 : 256;
				r->snap = xrealloc(r->snap, r->snapcap * DX_REC_LINE);
				r->snapline = xrealloc(r->snapline, r->snapcap * sizeof(uint64_t));
			}
			r->snapline[r->nsnap] = l;
			i = r->slot[l] = (uint32_t)++r->nsnap;
		}
		/* The bytes as they are now: a later store is not covered. */
		memcpy(r->snap + (size_t)(i - 1) * DX_REC_LINE, r->base + l * DX_REC_LINE,
		       DX_REC_LINE);
	}
}

static void add_line(struct dx_rec_point *pt, size_t *cap, struct dx_recorder *r, size_t l)
{
	struct dx_rec_line *x;
	size_t o = l * DX_REC_LINE;

	if (pt->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		pt->lines = xrealloc(pt->lines, *cap * sizeof(*pt->lines));
	}
	x = &pt->lines[pt->n++];
	x->off = o;
	x->flushed = r->slot[l] != 0;
	memcpy(x->old, r->fenced + o, DX_REC_LINE);
	memcpy(x->fl, x->flushed ? r->snap + (size_t)(r->slot[l] - 1) * DX_REC_LINE : x->old,
	       DX_REC_LINE);
	memcpy(x->cur, r->base + o, DX_REC_LINE);
}

static int cmp_line(const void *a, const void *b)
{
	const struct dx_rec_line *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static void take_point(struct dx_recorder *r)
{
	struct dx_rec_point pt = {0};
	size_t cap = 0;
	bool extra = false;

	/* Lines whose bytes changed since the fence (flushed or not). */
	for (size_t pg = 0; pg < r->len; pg += DX_BLOCK_SIZE) {
		size_t end = pg + DX_BLOCK_SIZE < r->len ? pg + DX_BLOCK_SIZE : r->len;
		if (!memcmp(r->base + pg, r->fenced + pg, end - pg))
			continue;
		for (size_t o = pg; o + DX_REC_LINE <= end; o += DX_REC_LINE)
			if (memcmp(r->base + o, r->fenced + o, DX_REC_LINE))
				add_line(&pt, &cap, r, o / DX_REC_LINE);
	}
	/* Lines flushed with other bytes than they hold now and in the
	 * fenced image (a store flushed, then undone before the fence). */
	for (size_t i = 0; i < r->nsnap; i++) {
		size_t o = r->snapline[i] * DX_REC_LINE;
		if (!memcmp(r->base + o, r->fenced + o, DX_REC_LINE) &&
		    memcmp(r->snap + i * DX_REC_LINE, r->fenced + o, DX_REC_LINE)) {
			add_line(&pt, &cap, r, r->snapline[i]);
			extra = true;
		}
	}
	if (extra)
		qsort(pt.lines, pt.n, sizeof(*pt.lines), cmp_line);
	if (r->npts == r->ptcap) {
		r->ptcap = r->ptcap ? r->ptcap * 2 : 64;
		r->pts = xrealloc(r->pts, r->ptcap * sizeof(*r->pts));
	}
	r->pts[r->npts++] = pt;
}

static void rec_drain(void)
{
	struct dx_recorder *r = active;

	if (!r)
		return;
	take_point(r);
	/* The fence: what was flushed before it is durable now. */
	for (size_t i = 0; i < r->nsnap; i++) {
		memcpy(r->fenced + r->snapline[i] * DX_REC_LINE, r->snap + i * DX_REC_LINE,
		       DX_REC_LINE);
		r->slot[r->snapline[i]] = 0;
	}
	r->nsnap = 0;
}

static const struct dx_persist_observer rec_observer = {rec_flush, rec_drain};

struct dx_recorder *dx_record_start(struct dx_pctx *pc, void *base, size_t len, const void *initial)
{
	struct dx_recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->pc = pc;
	r->base = base;
	r->len = len;
	r->nlines = len / DX_REC_LINE;
	if (spare.fenced && spare.len == len) {
		r->fenced = spare.fenced;
		r->wstart = spare.wstart;
		r->slot = spare.slot;
		spare.fenced = NULL;
	} else {
		r->fenced = malloc(len);
		r->wstart = malloc(len);
		r->slot = calloc(r->nlines + 1, sizeof(*r->slot));
	}
	if (!r->fenced || !r->wstart || !r->slot) {
		dx_record_free(r);
		return NULL;
	}
	memcpy(r->fenced, initial ? initial : base, len);
	memcpy(r->wstart, r->fenced, len);
	dx_record_resume(r);
	return r;
}

void dx_record_pause(struct dx_recorder *r)
{
	if (active == r)
		active = NULL;
	if (r->observing && r->pc)
		dx_persist_set_observer(r->pc, NULL);
	r->observing = false;
}

void dx_record_resume(struct dx_recorder *r)
{
	active = r;
	r->observing = true;
	dx_persist_set_observer(r->pc, &rec_observer);
}

void dx_record_point_now(struct dx_recorder *r)
{
	take_point(r);
}

size_t dx_record_npoints(const struct dx_recorder *r)
{
	return r->npts;
}

const struct dx_rec_point *dx_record_point(const struct dx_recorder *r, size_t i)
{
	return &r->pts[i];
}

void dx_record_clear(struct dx_recorder *r)
{
	for (size_t i = 0; i < r->npts; i++)
		free(r->pts[i].lines);
	r->npts = 0;
	memcpy(r->wstart, r->fenced, r->len);
}

const char *dx_record_window_start(const struct dx_recorder *r)
{
	return r->wstart;
}

const char *dx_record_fenced(const struct dx_recorder *r)
{
	return r->fenced;
}

void dx_record_free(struct dx_recorder *r)
{
	if (!r)
		return;
	dx_record_pause(r);
	for (size_t i = 0; i < r->npts; i++)
		free(r->pts[i].lines);
	free(r->pts);
	if (r->fenced && r->wstart && r->slot) {
		/* Keep the buffers for the next recorder (slot cleared). */
		for (size_t i = 0; i < r->nsnap; i++)
			r->slot[r->snapline[i]] = 0;
		if (spare.fenced) {
			free(spare.fenced);
			free(spare.wstart);
			free(spare.slot);
		}
		spare.len = r->len;
		spare.fenced = r->fenced;
		spare.wstart = r->wstart;
		spare.slot = r->slot;
	} else {
		free(r->fenced);
		free(r->wstart);
		free(r->slot);
	}
	free(r->snap);
	free(r->snapline);
	free(r);
}
