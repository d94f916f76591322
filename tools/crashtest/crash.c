/* SPDX-License-Identifier: MIT */
/*
 * crash.c - crash states of a workload, built at every fence that the
 * recorder (lib/persist_record.h) saw, and what each must recover to.
 *
 * At a fence, the lines in flight are split into units (a data line as a
 * whole, a metadata line word by word) and each unit takes one of its
 * values: old (the fenced image), as flushed, or current.  With at most
 * six units every combination is tried; beyond that every single unit
 * alone, every unit left out of the completed fence, and seeded random
 * combinations.  Each image is recovered (daxfs_open), checked
 * (daxfs_check, as fsck -n), compared with the logical state before or
 * after the operation in flight, and then emptied: every file deleted and
 * every block and inode free again.  For a sample of images the recovery
 * is recorded as well and crashed at each of its own fences.
 *
 * Reflink: a clone may stop after any of its steps (each dst block old or
 * the source's, in order), so the states after each step are accepted
 * too; the files an op does not write must keep their bytes (isolation);
 * and every recovered pool's reference counts are counted again from its
 * extents (rawpool.c) besides the checker's own pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "check.h"
#include "daxfs.h"
#include "fault.h"
#include "format.h"
#include "persist.h"
#include "persist_record.h"
#include "crashtest.h"
#include "oracle.h"
#include "rawpool.h"

#define PAGE	       4096u
#define MAX_EXHAUSTIVE 6
#define MAX_UNITS      4096

/* ---- the pool a hook sees being mapped ---- */

static struct {
	struct dx_pctx *pc;
	char *base;
	size_t len;
	struct dx_recorder *rec; /* recording a recovery */
	const char *initial;	 /* the image being recovered (== the file) */
	bool record;
} mapped;

static void map_hook(struct dx_pctx *pc, void *base, size_t len)
{
	mapped.pc = pc;
	mapped.base = base;
	mapped.len = len;
	if (mapped.record)
		mapped.rec = dx_record_start(pc, base, len, mapped.initial);
}

static const struct dx_inject journal_room = {.room_cap = WL_JOURNAL_ROOM};

/* ---- writing an image ---- */

/*
 * The crash pool keeps its pages between images (allocating them again on
 * each mapping's page faults costs more than everything else).  Pages
 * outside the metadata region and outside the pages the last image had
 * non-zero are zero in the file, and daxfs writes (recovery, deletion)
 * only into those, so an image is written as: the metadata region, and
 * the data pages that are non-zero in it or in the last one.
 */
static struct {
	uint8_t *nz; /* data pages the file may hold non-zero */
	size_t npages, meta_pages;
	bool valid;
} cfile;

static int write_image(const char *buf, size_t len, const uint8_t *nz)
{
	static const char zero[PAGE];
	int fd = open(ct.crash, O_RDWR | O_CREAT, 0600);
	size_t np = len / PAGE;
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (!cfile.valid || cfile.npages != np) {
		free(cfile.nz);
		cfile.nz = calloc(np, 1);
		cfile.npages = np;
		cfile.meta_pages = ((const struct dx_super *)buf)->data_blk;
		if (!cfile.nz || ftruncate(fd, 0) || ftruncate(fd, (off_t)len))
			ret = -errno;
		cfile.valid = !ret;
	}
	for (size_t p = 0; !ret && p < np;) {
		size_t q = p;
		bool want = p < cfile.meta_pages || cfile.nz[p] || !nz || nz[p];
		if (!want) {
			p++;
			continue;
		}
		while (q < np && (q < cfile.meta_pages || cfile.nz[q] || !nz || nz[q]))
			q++;
		if (pwrite(fd, buf + p * PAGE, (q - p) * PAGE, (off_t)(p * PAGE)) !=
		    (ssize_t)((q - p) * PAGE))
			ret = -EIO;
		for (size_t i = p; i < q; i++)
			cfile.nz[i] = memcmp(buf + i * PAGE, zero, PAGE) != 0;
		p = q;
	}
	close(fd);
	if (ret)
		cfile.valid = false;
	return ret;
}

/* ---- checking a recovered image ---- */

struct expect {
	const struct ostate *before, *after; /* before NULL: only after */
	const struct orelax *rx;
	const struct ostate *mid; /* after each step of a compound op */
	size_t nmid;
	const struct ostate *cmid; /* after each step of a clone */
	size_t ncmid;
	/* Isolation (NULL: none): the files of iso but those of the inodes
	 * in iso_skip keep their bytes. */
	const struct ostate *iso;
	const uint64_t *iso_skip;
	size_t niso_skip;
};

struct ckmsg {
	char first[256];
};

static void ck_report(void *ctx, const char *msg)
{
	struct ckmsg *m = ctx;

	if (!m->first[0])
		snprintf(m->first, sizeof(m->first), "%s", msg);
}

static int run_check(char *why, size_t wl)
{
	struct ckmsg m = {{0}};
	struct daxfs_check_opts o = {.mode = DAXFS_CHECK_ONLY, .report = ck_report, .ctx = &m};
	struct daxfs_check_result r;
	int ret = daxfs_check(ct.crash, &o, &r);

	if (ret) {
		snprintf(why, wl, "the checker cannot run: %s", daxfs_errormsg());
		return 1;
	}
	if (r.errors) {
		snprintf(why, wl, "the checker finds %" PRIu64 " problems: %s", r.errors, m.first);
		return 1;
	}
	return 0;
}

/* The reference counts of the recovered pool, counted from its extents. */
static int audit(char *why, size_t wl)
{
	int ret = raw_refc_audit(ct.crash, why, wl);

	if (ret < 0)
		snprintf(why, wl, "the pool cannot be read for the reference counts: %s",
			 strerror(-ret));
	return ret != 0;
}

/*
 * Quarantine at recovery: while the holder of an op's mapping lives, the
 * recovered pools that quarantined blocks are kept (a few per op), to
 * test the reaping on them once the holder is gone.
 */
#define Q_KEEP 2
static struct {
	bool collect; /* keep pools that recovery quarantined blocks in */
	bool reap;    /* run the reaper after recovery, recorded too */
	size_t n;
	char *pool[Q_KEEP];
	struct ostate st[Q_KEEP];
} q;

/* Open (recover) the image in ct.crash and describe it. */
static int recover(struct ostate *got, char *why, size_t wl)
{
	struct daxfs *fs;
	struct daxfs_stats st = {0};
	char w2[512];
	int ret = daxfs_open(ct.crash, NULL, &fs);

	/* Holders gone: the reaper frees their quarantine (recorded with
	 * the recovery, so that it is crashed too). */
	if (!ret && q.reap)
		daxfs_tick(fs);
	/* The recovery is over: stop recording while the pool is open. */
	if (mapped.rec)
		dx_record_pause(mapped.rec);
	if (ret) {
		snprintf(why, wl, "does not open: %s", daxfs_errormsg());
		return 1;
	}
	ret = ostate_take(fs, got, w2, sizeof(w2));
	daxfs_get_stats(fs, &st);
	daxfs_close(fs);
	if (ret) {
		snprintf(why, wl, "after recovery: %s", w2);
		return 1;
	}
	if (q.reap && st.quarantined_blocks) {
		snprintf(why, wl, "%llu blocks stay in quarantine after their holder exited",
			 (unsigned long long)st.quarantined_blocks);
		return 1;
	}
	ret = run_check(why, wl);
	if (!ret)
		ret = audit(why, wl);
	/* (A crashed snapshot's held blocks, DX_MAPREC_HELD, count as
	 * quarantine: both wait for the reaper.) */
	ct.quarantined += !ret && q.collect && st.quarantined_blocks;
	if (!ret && q.collect && st.quarantined_blocks && q.n < Q_KEEP) {
		struct stat sb;
		int fd = open(ct.crash, O_RDONLY);
		char *p = NULL;
		if (fd >= 0 && !fstat(fd, &sb) && (p = malloc((size_t)sb.st_size)) &&
		    pread(fd, p, (size_t)sb.st_size, 0) == sb.st_size) {
			q.pool[q.n] = p;
			ostate_copy(&q.st[q.n], got);
			q.n++;
		} else {
			free(p);
		}
		if (fd >= 0)
			close(fd);
	}
	return ret;
}

/* Delete everything: the pool must end as empty as mkfs left it. */
static int delete_all(char *why, size_t wl)
{
	struct daxfs *fs;
	struct daxfs_stats qs = {0};
	struct statvfs sv;
	struct stat root;
	char w2[512];
	int ret = daxfs_open(ct.crash, NULL, &fs);

	if (ret) {
		snprintf(why, wl, "does not open a second time: %s", daxfs_errormsg());
		return 1;
	}
	/* Quarantine of holders that are gone is freed now; that of a
	 * holder still alive stays allocated. */
	daxfs_tick(fs);
	ret = ostate_delete_all(fs, w2, sizeof(w2));
	daxfs_statfs(fs, &sv);
	daxfs_get_stats(fs, &qs);
	sv.f_bfree += qs.quarantined_blocks;
	/* An empty directory keeps its blocks. */
	if (!daxfs_getattr(fs, 1, &root))
		sv.f_bfree += (uint64_t)root.st_blocks / (DX_BLOCK_SIZE / 512);
	daxfs_close(fs);
	if (ret) {
		snprintf(why, wl, "the tree cannot be deleted: %s", w2);
		return 1;
	}
	if (sv.f_bfree != ct.empty_bfree || sv.f_ffree != ct.empty_ffree) {
		snprintf(why, wl,
			 "after deleting everything %llu blocks and %llu inodes are free, not "
			 "%" PRIu64 " and %" PRIu64,
			 (unsigned long long)sv.f_bfree, (unsigned long long)sv.f_ffree,
			 ct.empty_bfree, ct.empty_ffree);
		return 1;
	}
	return run_check(why, wl) || audit(why, wl);
}

static int match(const struct expect *e, const struct ostate *got, char *why, size_t wl)
{
	char wa[400], wb[400] = "";

	/* First, with its own message: a file that shares blocks with the
	 * one written must not have changed with it. */
	if (e->iso && !ostate_isolated(e->iso, got, e->iso_skip, e->niso_skip, why, wl))
		return 1;
	if (ostate_equal(e->after, got, e->rx, wa, sizeof(wa)))
		return 0;
	if (e->before && ostate_equal(e->before, got, e->rx, wb, sizeof(wb)))
		return 0;
	for (size_t i = 0; e->before && i < e->nmid; i++)
		if (ostate_equal(&e->mid[i], got, e->rx, wb, sizeof(wb)))
			return 0;
	for (size_t i = 0; e->before && i < e->ncmid; i++)
		if (ostate_equal(&e->cmid[i], got, e->rx, wb, sizeof(wb)))
			return 0;
	if (e->before)
		snprintf(why, wl, "neither the state before (%s) nor after (%s)", wb, wa);
	else
		snprintf(why, wl, "the completed operation is not all there: %s", wa);
	return 1;
}

static bool rec_crash_images(const struct ostate *once, uint8_t *nz, char *why, size_t wl);

/* Recover, check, compare and delete the image buf; 0 when all is well. */
static int eval_image(const char *buf, size_t len, uint8_t *nz, const struct expect *e,
		      bool crash_recovery, bool del, char *why, size_t wl)
{
	struct ostate got;
	bool replaced = false;
	int bad;

	ct.states++;
	if (write_image(buf, len, nz)) {
		snprintf(why, wl, "cannot write the image");
		return 1;
	}
	mapped.record = crash_recovery;
	mapped.initial = buf;
	dx_persist_map_hook = map_hook;
	bad = recover(&got, why, wl);
	dx_persist_map_hook = NULL;
	mapped.record = false;
	mapped.initial = NULL;
	if (!bad)
		bad = match(e, &got, why, wl);
	if (!bad && mapped.rec && dx_record_npoints(mapped.rec)) {
		replaced = true;
		bad = rec_crash_images(&got, nz, why, wl);
	}
	dx_record_free(mapped.rec);
	mapped.rec = NULL;
	ostate_free(&got);
	if (!bad && del && !ct.no_delete) {
		/* The file holds the recovered image, unless the crash images
		 * of the recovery replaced it: then the image again. */
		if (replaced && write_image(buf, len, nz)) {
			snprintf(why, wl, "cannot write the image");
			return 1;
		}
		bad = delete_all(why, wl);
	}
	return bad;
}

/* ---- units and their combinations ---- */

struct unit {
	uint64_t off;
	unsigned size;
	int nv, fence;	  /* values; the one the fence makes durable */
	const char *v[3]; /* old first */
};

struct units {
	struct unit u[MAX_UNITS];
	size_t n;
};

static void add_unit(struct units *us, uint64_t off, unsigned size, const char *old, const char *fl,
		     const char *cur, bool flushed)
{
	struct unit *u;

	if (us->n == MAX_UNITS)
		return;
	u = &us->u[us->n];
	u->off = off;
	u->size = size;
	u->nv = 1;
	u->v[0] = old;
	u->fence = 0;
	if (flushed && memcmp(fl, old, size) && memcmp(fl, cur, size)) {
		u->fence = u->nv;
		u->v[u->nv++] = fl;
	}
	if (memcmp(cur, old, size)) {
		if (flushed && !memcmp(fl, cur, size))
			u->fence = u->nv;
		u->v[u->nv++] = cur;
	}
	if (u->nv > 1)
		us->n++;
}

static void build_units(const struct dx_rec_point *pt, uint64_t meta_end, struct units *us)
{
	us->n = 0;
	for (size_t i = 0; i < pt->n; i++) {
		const struct dx_rec_line *l = &pt->lines[i];
		if (l->off < meta_end) {
			/* Metadata: each 8-byte word may reach the media alone. */
			for (unsigned w = 0; w < DX_REC_LINE; w += 8)
				add_unit(us, l->off + w, 8, l->old + w, l->fl + w, l->cur + w,
					 l->flushed);
		} else {
			add_unit(us, l->off, DX_REC_LINE, l->old, l->fl, l->cur, l->flushed);
		}
	}
}

static void apply(char *img, const struct units *us, const uint8_t *choice)
{
	for (size_t i = 0; i < us->n; i++)
		memcpy(img + us->u[i].off, us->u[i].v[choice[i]], us->u[i].size);
}

/* Combinations already tried at this point (a small hash set). */
#define SEEN_SLOTS 8192
struct seen {
	uint64_t h[SEEN_SLOTS];
};

static bool seen_add(struct seen *s, const uint8_t *c, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ULL;
	h |= 1;
	for (size_t i = h % SEEN_SLOTS, k = 0; k < SEEN_SLOTS; i = (i + 1) % SEEN_SLOTS, k++) {
		if (s->h[i] == h)
			return false;
		if (!s->h[i]) {
			s->h[i] = h;
			return true;
		}
	}
	return true;
}

/* ---- saving a failure ---- */

struct where {
	const struct workload *w;
	size_t opi;   /* the operation in flight */
	size_t point; /* its fence */
	bool final;   /* the point after it returned */
};

static void save_failure(const struct where *at, const char *buf, size_t len, const char *why)
{
	char path[512];
	FILE *f;

	ct.failed++;
	if (ct.failed <= ct.max_failures_shown)
		fprintf(stderr, "FAIL %s: op %zu (%s) fence %zu%s: %s\n", at->w->name, at->opi,
			wl_kind_name(at->w->ops[at->opi].kind), at->point,
			at->final ? " (after it returned)" : "", why);
	if (!ct.save || ct.failed > 50)
		return;
	mkdir(ct.save, 0755);
	snprintf(path, sizeof(path), "%s/fail-%" PRIu64 ".img", ct.save, ct.failed);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
			fprintf(stderr, "daxfs-crashtest: cannot save %s\n", path);
		if (fd >= 0)
			close(fd);
	}
	snprintf(path, sizeof(path), "%s/fail-%" PRIu64 ".replay", ct.save, ct.failed);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "# daxfs-crashtest --replay %s\n# %s\n", path, why);
	fprintf(f, "variant %d\nfsync %d\nfinal %d\ntarget %zu\nimage fail-%" PRIu64 ".img\n",
		(int)at->w->variant, (int)at->w->fsync, (int)at->final, at->opi, ct.failed);
	for (size_t i = 0; i <= at->opi; i++) {
		char line[160];
		wl_format_op(&at->w->ops[i], line, sizeof(line));
		fprintf(f, "op %s\n", line);
	}
	fclose(f);
	if (ct.failed <= ct.max_failures_shown)
		fprintf(stderr, "     saved: daxfs-crashtest --replay %s\n", path);
}

/* ---- the states of one fence ---- */

struct point_ctx {
	const struct expect *e;
	const struct where *at;
	char *img; /* fenced image at this point */
	size_t len;
	uint8_t *nz;
	uint64_t rng;
	int rec_samples; /* recovery crashes still to sample here */
	bool failed;
	unsigned tried;
};

static void try_combo(struct point_ctx *pc, const struct units *us, const uint8_t *choice,
		      struct seen *seen)
{
	static char saved[MAX_UNITS * DX_REC_LINE];
	char why[1024];
	bool rec, del;

	if (pc->failed || !seen_add(seen, choice, us->n))
		return;
	for (size_t i = 0; i < us->n; i++)
		memcpy(saved + i * DX_REC_LINE, pc->img + us->u[i].off, us->u[i].size);
	apply(pc->img, us, choice);
	rec = pc->rec_samples > 0;
	/* The deletion check on the first images of each fence and on every
	 * delete_every-th after them (it doubles the cost of an image). */
	del = pc->tried < 2 || pc->tried % ct.delete_every == 0;
	pc->tried++;
	if (eval_image(pc->img, pc->len, pc->nz, pc->e, rec, del, why, sizeof(why))) {
		save_failure(pc->at, pc->img, pc->len, why);
		pc->failed = true; /* one failure per fence is enough */
	}
	if (rec)
		pc->rec_samples--;
	for (size_t i = 0; i < us->n; i++)
		memcpy(pc->img + us->u[i].off, saved + i * DX_REC_LINE, us->u[i].size);
}

static void point_states(struct point_ctx *pc, const struct units *us, bool skip_old)
{
	static uint8_t c[MAX_UNITS];
	static struct seen seen;
	size_t n = us->n;

	memset(&seen, 0, sizeof(seen));
	memset(c, 0, n);
	if (skip_old)
		seen_add(&seen, c, n); /* the last fence's completed state: tried */
	if (n <= MAX_EXHAUSTIVE) {
		/* Every combination (a mixed-radix counter). */
		for (;;) {
			size_t i;
			try_combo(pc, us, c, &seen);
			for (i = 0; i < n && ++c[i] == us->u[i].nv; i++)
				c[i] = 0;
			if (i == n)
				break;
		}
		return;
	}
	/* The fence completed, and everything current. */
	for (size_t i = 0; i < n; i++)
		c[i] = (uint8_t)us->u[i].fence;
	try_combo(pc, us, c, &seen);
	for (size_t i = 0; i < n; i++)
		c[i] = (uint8_t)(us->u[i].nv - 1);
	try_combo(pc, us, c, &seen);
	/* Each unit alone, at each of its new values. */
	for (size_t u = 0; u < n; u++) {
		memset(c, 0, n);
		for (int v = 1; v < us->u[u].nv; v++) {
			c[u] = (uint8_t)v;
			try_combo(pc, us, c, &seen);
		}
	}
	/* The completed fence without one unit. */
	for (size_t u = 0; u < n; u++) {
		for (size_t i = 0; i < n; i++)
			c[i] = (uint8_t)us->u[i].fence;
		if (!c[u])
			continue;
		c[u] = 0;
		try_combo(pc, us, c, &seen);
	}
	for (int r = 0; r < ct.random_subsets; r++) {
		for (size_t i = 0; i < n; i++)
			c[i] = (uint8_t)(wl_rand(&pc->rng) % (uint64_t)us->u[i].nv);
		try_combo(pc, us, c, &seen);
	}
}

/* ---- crashing the recovery ---- */

/* Every fence of the recorded recovery: recovering from there again must
 * end where one recovery ended. */
static bool rec_crash_images(const struct ostate *once, uint8_t *nz, char *why, size_t wl)
{
	struct dx_recorder *r = mapped.rec;
	size_t len = mapped.len, np = dx_record_npoints(r);
	static char *img; /* kept: fresh pages cost more than the copy */
	static size_t img_len;
	struct expect e = {.after = once};
	static struct units us;
	uint64_t meta_end = 0;
	bool bad = false;

	if (img_len != len) {
		free(img);
		img_len = 0;
		if (!(img = malloc(len)))
			return false;
		img_len = len;
	}
	memcpy(img, dx_record_window_start(r), len);
	/* The pages the recovery stores into may be non-zero in the images. */
	for (size_t k = 0; nz && k < np; k++) {
		const struct dx_rec_point *pt = dx_record_point(r, k);
		for (size_t i = 0; i < pt->n; i++)
			nz[pt->lines[i].off / PAGE] = 1;
	}
	meta_end = ((const struct dx_super *)img)->data_blk * DX_BLOCK_SIZE;
	for (size_t k = 0; k < np && !bad; k++) {
		const struct dx_rec_point *pt = dx_record_point(r, k);
		static uint8_t c[MAX_UNITS];
		build_units(pt, meta_end, &us);
		/* Nothing of this fence, all of it, and everything current. */
		for (int which = 0; which < 3 && !bad && us.n; which++) {
			struct ostate got;
			char w2[800];
			for (size_t i = 0; i < us.n; i++)
				c[i] = (uint8_t)(which == 0   ? 0
						 : which == 1 ? us.u[i].fence
							      : us.u[i].nv - 1);
			apply(img, &us, c);
			ct.states++;
			ct.rec_states++;
			if (write_image(img, len, nz)) {
				bad = true;
				snprintf(why, wl, "cannot write an image");
				break;
			}
			if (recover(&got, w2, sizeof(w2)) || match(&e, &got, w2, sizeof(w2))) {
				snprintf(why, wl, "recovery crashed at its fence %zu of %zu: %s", k,
					 np, w2);
				bad = true;
			}
			ostate_free(&got);
			for (size_t i = 0; i < us.n; i++)
				c[i] = 0;
			apply(img, &us, c);
		}
		for (size_t i = 0; i < pt->n; i++)
			if (pt->lines[i].flushed)
				memcpy(img + pt->lines[i].off, pt->lines[i].fl, DX_REC_LINE);
	}
	return bad;
}

/* ---- one workload ---- */

struct live {
	struct wl_run run;
	struct dx_recorder *rec;
	size_t len;
	uint64_t meta_end;
	struct ostate mid[4];
	size_t nmid;
	size_t first_new; /* points before it were tested by another workload */
};

/* Between the steps of a compound op: its state so far is one a crash
 * may end in too. */
static void live_step(void *ctx)
{
	struct live *lv = ctx;
	char why[256];

	if (lv->nmid == 4)
		return;
	dx_record_pause(lv->rec);
	ostate_take(lv->run.fs, &lv->mid[lv->nmid++], why, sizeof(why));
	dx_record_resume(lv->rec);
}

static void live_free_steps(struct live *lv)
{
	for (size_t i = 0; i < lv->nmid; i++)
		ostate_free(&lv->mid[i]);
	lv->nmid = 0;
}

static int live_open(struct live *lv, const struct workload *w)
{
	int ret;

	memset(lv, 0, sizeof(*lv));
	if ((ret = ct_fresh_pool(w->variant, ct.live)))
		return ret;
	dx_persist_map_hook = map_hook;
	ret = daxfs_open(ct.live, &wl_open_opts, &lv->run.fs);
	dx_persist_map_hook = NULL;
	if (ret)
		return ret;
	lv->len = mapped.len;
	lv->meta_end = ((const struct dx_super *)mapped.base)->data_blk * DX_BLOCK_SIZE;
	lv->run.dead_pid = 0x3ffffff0; /* above pid_max: never a live process */
	lv->run.step = live_step;
	lv->run.step_ctx = lv;
	lv->rec = dx_record_start(mapped.pc, mapped.base, mapped.len, NULL);
	dx_record_pause(lv->rec);
	return 0;
}

/* Run op i on the live pool; its points stay in the recorder. */
static long live_op(struct live *lv, const struct workload *w, size_t i)
{
	long ret;

	dx_record_clear(lv->rec);
	dx_record_resume(lv->rec);
	if (w->variant == V_FULL_JOURNAL)
		dx_inject_hook = &journal_room;
	ret = wl_run_op(&lv->run, &w->ops[i]);
	lv->first_new = 0;
	if (w->fsync && w->ops[i].a[0]) {
		/* fsync only fences.  A one-op workload is the same as without
		 * fsync up to it, so only the points from it on are new. */
		struct op f = w->ops[i];
		f.kind = OP_FSYNC;
		if (w->nops == 1)
			lv->first_new = dx_record_npoints(lv->rec);
		(void)wl_run_op(&lv->run, &f);
	}
	dx_inject_hook = NULL;
	dx_record_pause(lv->rec);
	dx_record_point_now(lv->rec);
	return ret;
}

static void mark_nz(uint8_t *nz, const char *img, size_t len)
{
	static const char zero[PAGE];

	for (size_t p = 0; p < len / PAGE; p++)
		nz[p] = memcmp(img + p * PAGE, zero, PAGE) != 0;
}

/* ---- what one op must leave ---- */

/* File blocks of a clone's source and destination whose maps are read. */
#define CLONE_MAP 1024

struct opcheck {
	struct orelax rx;
	uint64_t skip[2]; /* the inodes the op writes */
	size_t nskip;
	uint8_t smap[CLONE_MAP], dmap[CLONE_MAP];
	struct ostate *cmid; /* after each step of a clone */
	size_t ncmid;
	struct daxfs_stats st0;
	bool cow, clone; /* it broke a sharing, it cloned */
};

/* Before op o on the live pool, whose state is before. */
static void op_before(struct live *lv, const struct op *o, const struct ostate *before,
		      struct opcheck *oc)
{
	const char *ip = wl_inplace(o), *p[2];

	memset(oc, 0, sizeof(*oc));
	if (ip) {
		const struct ofile *f = ostate_find(before, ip);
		oc->rx.path = ip;
		oc->rx.group = f ? f->group : NULL;
		oc->rx.old = f ? f->content : "";
		oc->rx.old_size = f && f->content ? f->clen : 0;
	}
	wl_changes(o, &p[0], &p[1]);
	for (int k = 0; k < 2; k++) {
		const struct ofile *f = p[k] ? ostate_find(before, p[k]) : NULL;
		if (f)
			oc->skip[oc->nskip++] = f->ino;
	}
	if (o->kind == OP_CLONE || o->kind == OP_COPY) {
		/* Which blocks each side maps, for the block counts of the
		 * clone's steps (lib/ has no call that tells). */
		const struct ofile *s = ostate_find(before, o->a), *d = ostate_find(before, o->b);
		if (s && d) {
			raw_file_map(ct.live, s->ino, oc->smap, CLONE_MAP);
			raw_file_map(ct.live, d->ino, oc->dmap, CLONE_MAP);
		}
	}
	daxfs_get_stats(lv->run.fs, &oc->st0);
}

/* After it returned ret, with the live pool's state after. */
static void op_after(struct live *lv, const struct op *o, long ret, const struct ostate *before,
		     const struct ostate *after, struct opcheck *oc)
{
	const struct ofile *s = ostate_find(before, o->a);
	struct daxfs_stats st;
	struct wl_clone c;

	daxfs_get_stats(lv->run.fs, &st);
	oc->cow = st.cow_blocks > oc->st0.cow_blocks;
	oc->clone = st.clone_shared + st.clone_copied > oc->st0.clone_shared + oc->st0.clone_copied;
	if (oc->rx.path) {
		const struct ofile *f = ostate_find(after, oc->rx.path);
		oc->rx.new = f && f->content ? f->content : "";
		oc->rx.new_size = f && f->content ? f->clen : 0;
	}
	if (!s || !wl_clone_of(o, ret, s->size, &c))
		return;
	/* Whole blocks change in transactions: no byte of them is torn. */
	oc->rx.path = NULL;
	oc->clone = true;
	oc->cmid = calloc(c.nb, sizeof(*oc->cmid));
	if (!oc->cmid)
		return;
	/* Steps 1 .. nb-1: step 0 is before, step nb after. */
	for (uint64_t k = 1; k < c.nb; k++) {
		struct ostate_clone oc1 = {c.src, c.dst,    c.sb,     c.db,
					   k,	  oc->smap, oc->dmap, CLONE_MAP};
		if (ostate_clone_step(before, &oc1, &oc->cmid[oc->ncmid]))
			oc->ncmid++;
	}
}

static void op_free(struct opcheck *oc)
{
	for (size_t i = 0; i < oc->ncmid; i++)
		ostate_free(&oc->cmid[i]);
	free(oc->cmid);
	oc->cmid = NULL;
	oc->ncmid = 0;
}

/* The expectations of op i at its fences (final: the point after it
 * returned, where only the state after it is right). */
static struct expect op_expect(const struct live *lv, const struct opcheck *oc,
			       const struct ostate *before, const struct ostate *after, bool final)
{
	struct expect e = {final ? NULL : before,
			   after,
			   &oc->rx,
			   final ? NULL : lv->mid,
			   final ? 0 : lv->nmid,
			   final ? NULL : oc->cmid,
			   final ? 0 : oc->ncmid,
			   before,
			   oc->skip,
			   oc->nskip};

	return e;
}

static void crash_op(struct live *lv, const struct workload *w, size_t i,
		     const struct ostate *before, const struct ostate *after,
		     const struct opcheck *oc)
{
	struct dx_recorder *r = lv->rec;
	size_t np = dx_record_npoints(r);
	char *img = malloc(lv->len);
	uint8_t *nz = malloc(lv->len / PAGE);
	static struct units us;
	struct expect e = op_expect(lv, oc, before, after, false),
		      ef = op_expect(lv, oc, before, after, true);

	if (!img || !nz) {
		fprintf(stderr, "daxfs-crashtest: out of memory\n");
		exit(2);
	}
	memcpy(img, dx_record_window_start(r), lv->len);
	mark_nz(nz, img, lv->len);
	for (size_t k = 0; k < np; k++) {
		const struct dx_rec_point *pt = dx_record_point(r, k);
		bool final = k + 1 == np;
		struct where at = {w, i, k, final};
		struct point_ctx pc = {
		    final ? &ef : &e, &at,   img,
		    lv->len,	      nz,    ct.seed ^ (i * 1000003 + k) ^ (uint64_t)w->nops << 40,
		    ct.rec_samples,   false, 0};

		for (size_t j = 0; j < pt->n; j++)
			nz[pt->lines[j].off / PAGE] = 1;
		build_units(pt, lv->meta_end, &us);
		if (k < lv->first_new)
			goto next;
		if (final && us.n) {
			/* Stores still in flight after the call returned. */
			char why[256];
			snprintf(why, sizeof(why),
				 "%zu units (first at pool offset %" PRIu64
				 ") were not persistent when the call returned",
				 us.n, us.u[0].off);
			save_failure(&at, img, lv->len, why);
		}
		point_states(&pc, &us, k > 0 && !final);
	next:
		for (size_t j = 0; j < pt->n; j++)
			if (pt->lines[j].flushed)
				memcpy(img + pt->lines[j].off, pt->lines[j].fl, DX_REC_LINE);
	}
	free(img);
	free(nz);
}

/* ---- quarantine at recovery, and its reaping ---- */

/* A process that lives until killed: the holder of a mapping that
 * outlives the crash images of an op. */
static pid_t holder_spawn(void)
{
	pid_t p;

	fflush(NULL);
	p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return p;
}

/*
 * The holder has exited: each kept pool (recovered with blocks in
 * quarantine) must, at its next open, have the reaper free them, also when
 * a crash interrupts the reaping at any of its fences, and then delete
 * down to an empty pool.
 */
static void reap_kept(const struct workload *w, size_t opi, size_t len)
{
	uint8_t *nz = malloc(len / PAGE);

	for (size_t i = 0; i < q.n; i++) {
		struct expect e = {.after = &q.st[i]};
		struct where at = {w, opi, 0, false};
		char why[1024], w2[1100];

		if (!nz)
			break;
		mark_nz(nz, q.pool[i], len);
		q.reap = true;
		ct.reaped++;
		if (eval_image(q.pool[i], len, nz, &e, true, true, why, sizeof(why))) {
			snprintf(w2, sizeof(w2),
				 "reaping the quarantine after its holder exited: %s", why);
			save_failure(&at, q.pool[i], len, w2);
		}
		q.reap = false;
	}
	for (size_t i = 0; i < q.n; i++) {
		free(q.pool[i]);
		ostate_free(&q.st[i]);
	}
	q.n = 0;
	free(nz);
}

void ct_crash_workload(const struct workload *w)
{
	struct live lv;
	char why[512];
	int ret;

	ct.workloads++;
	if ((ret = live_open(&lv, w))) {
		fprintf(stderr, "daxfs-crashtest: %s: cannot open the pool: %s\n", w->name,
			daxfs_errormsg());
		ct.failed++;
		return;
	}
	for (size_t i = 0; i < w->nops; i++) {
		struct ostate before, after;
		struct opcheck oc;
		uint64_t f0 = ct.failed, s0 = ct.states, snaps;
		long ret;

		if (ostate_take(lv.run.fs, &before, why, sizeof(why))) {
			fprintf(stderr, "daxfs-crashtest: %s: op %zu: %s\n", w->name, i, why);
			ct.failed++;
			ostate_free(&before);
			break;
		}
		op_before(&lv, &w->ops[i], &before, &oc);
		if (w->ops[i].kind == OP_QMAP || w->ops[i].kind == OP_SNAP) {
			lv.run.live_pid = holder_spawn();
			q.collect = lv.run.live_pid > 0;
		}
		snaps = lv.run.snapshots;
		ret = live_op(&lv, w, i);
		if (ostate_take(lv.run.fs, &after, why, sizeof(why))) {
			fprintf(stderr, "daxfs-crashtest: %s: after op %zu: %s\n", w->name, i, why);
			ct.failed++;
		} else {
			op_after(&lv, &w->ops[i], ret, &before, &after, &oc);
			/* At run time, crash or not: a file the op does not write
			 * (one sharing blocks with it above all) kept its bytes. */
			if (!ostate_isolated(&before, &after, oc.skip, oc.nskip, why,
					     sizeof(why))) {
				ct.failed++;
				if (ct.failed <= ct.max_failures_shown)
					fprintf(stderr,
						"FAIL %s: op %zu (%s) at run time: %s\n     again: "
						"daxfs-crashtest --only '%s' --no-inject\n",
						w->name, i, wl_kind_name(w->ops[i].kind), why,
						w->name);
			}
			if (i >= w->first_crashed) {
				size_t np = dx_record_npoints(lv.rec);
				crash_op(&lv, w, i, &before, &after, &oc);
				if (oc.cow) {
					ct.cow_ops++;
					ct.cow_points += np;
					ct.cow_states += ct.states - s0;
				}
				if (oc.clone) {
					ct.clone_ops++;
					ct.clone_points += np;
					ct.clone_states += ct.states - s0;
				}
				if (lv.run.snapshots > snaps) {
					ct.snap_ops++;
					ct.snap_points += np;
					ct.snap_states += ct.states - s0;
				}
			}
		}
		if (lv.run.live_pid > 0) {
			q.collect = false;
			kill(lv.run.live_pid, SIGKILL);
			waitpid(lv.run.live_pid, NULL, 0);
			lv.run.live_pid = 0;
			reap_kept(w, i, lv.len);
		}
		ostate_free(&before);
		ostate_free(&after);
		op_free(&oc);
		live_free_steps(&lv);
		if (ct.verbose > 1)
			fprintf(stderr, "  op %zu %s: %" PRIu64 " states so far%s\n", i,
				wl_kind_name(w->ops[i].kind), ct.states,
				ct.failed > f0 ? " FAILED" : "");
	}
	dx_record_free(lv.rec);
	daxfs_close(lv.run.fs);
}

/* ---- replaying a saved failure ---- */

int ct_replay(const char *file)
{
	FILE *f = fopen(file, "r");
	struct workload w = {0};
	struct op ops[600];
	char line[512], image[800] = "", dir[400];
	int final = 0, v = 0, fs_ = 0;
	size_t target = 0;
	struct live lv;
	int bad = 1;

	if (!f) {
		fprintf(stderr, "daxfs-crashtest: %s: %s\n", file, strerror(errno));
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", file);
	*(strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir) = '\0';
	while (fgets(line, sizeof(line), f)) {
		char s[300];
		if (line[0] == '#')
			continue;
		if (sscanf(line, "variant %d", &v) == 1 || sscanf(line, "fsync %d", &fs_) == 1 ||
		    sscanf(line, "final %d", &final) == 1 ||
		    sscanf(line, "target %zu", &target) == 1)
			continue;
		if (sscanf(line, "image %299s", s) == 1)
			snprintf(image, sizeof(image), "%s%s", s[0] == '/' ? "" : dir, s);
		else if (!strncmp(line, "op ", 3) && w.nops < 600 &&
			 !wl_parse_op(line + 3, &ops[w.nops]))
			w.nops++;
	}
	fclose(f);
	w.ops = ops;
	w.variant = (enum variant)v;
	w.fsync = fs_;
	snprintf(w.name, sizeof(w.name), "replay");
	if (target >= w.nops || !image[0] || v < 0 || v >= V_NVARIANTS) {
		fprintf(stderr, "daxfs-crashtest: %s: not a replay file\n", file);
		return 2;
	}
	if (live_open(&lv, &w)) {
		fprintf(stderr, "daxfs-crashtest: cannot open the pool: %s\n", daxfs_errormsg());
		return 2;
	}
	for (size_t i = 0; i <= target; i++) {
		struct ostate before, after;
		struct opcheck oc;
		char why[1024];
		long ret;

		ostate_take(lv.run.fs, &before, why, sizeof(why));
		op_before(&lv, &w.ops[i], &before, &oc);
		ret = live_op(&lv, &w, i);
		printf("op %zu: %s -> %ld\n", i, wl_kind_name(w.ops[i].kind), ret);
		ostate_take(lv.run.fs, &after, why, sizeof(why));
		op_after(&lv, &w.ops[i], ret, &before, &after, &oc);
		if (i == target) {
			size_t len;
			char *buf = NULL;
			int fd = open(image, O_RDONLY);
			struct stat st;
			struct expect e = op_expect(&lv, &oc, &before, &after, final);
			if (fd >= 0 && !fstat(fd, &st) && (buf = malloc((size_t)st.st_size)) &&
			    read(fd, buf, (size_t)st.st_size) == st.st_size) {
				len = (size_t)st.st_size;
				bad = eval_image(buf, len, NULL, &e, true, true, why, sizeof(why));
				printf("%s: %s\n", image, bad ? why : "recovers correctly");
			} else {
				fprintf(stderr, "daxfs-crashtest: cannot read %s\n", image);
				bad = 2;
			}
			if (fd >= 0)
				close(fd);
			free(buf);
		}
		ostate_free(&before);
		ostate_free(&after);
		op_free(&oc);
		live_free_steps(&lv);
	}
	dx_record_free(lv.rec);
	daxfs_close(lv.run.fs);
	return bad;
}
