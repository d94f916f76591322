/* SPDX-License-Identifier: MIT */
/*
 * unit_journal.c - crash atomicity, replayed at every drain point.
 *
 * The recorder of lib/persist_record.h watches one operation.  It keeps the
 * fenced image, the pool as a crash would find it: a cache line reaches it
 * only as it was when flushed, and only when a drain followed (a store
 * after the flush is not durable at that drain).  At each drain the lines
 * in flight are those whose bytes now, or as flushed, differ from the
 * fenced image; a crash then may have persisted each as it was, as flushed
 * or as it is now.  For each drain point the test builds crash images from
 * the fenced image plus none of them, the drain completed, all current,
 * and random choices, opens each with daxfs_open (which rolls the journal
 * back and reclaims orphans), checks it with an independent consistency
 * check, and compares what a user sees with the state before and after
 * the operation: it must be one of the two.
 *
 * The recorder also tells whether every store of the operation was flushed
 * and fenced by the time it returned, since daxfs.h promises that
 * everything a call changed is persistent at return.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "check.h"
#include "core.h"
#include "csum.h"
#include "crc32c.h"
#include "persist_record.h"
#include "unit.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define POOL_SIZE (16ULL << 20)
#define LINE	  64
#define BLK	  ((off_t)DX_BLOCK_SIZE)
#define FRAG	  40 /* extents of the fragmented files */
/* Random subsets of the unpersisted lines tried at each drain point
 * (UNIT_CRASH_TRIALS overrides, for soak runs). */
static int random_trials = 2;

/* ---- the recorder ---- */

/*
 * lib/persist_record.h watches the operation: every flush snapshots the
 * lines it covers as they are then, every drain makes those snapshots
 * durable.  A store that lands after its flush and before the drain is
 * therefore not durable at that drain (it stays in flight until a later
 * flush and drain cover it); reading the lines at the drain instead would
 * count it as durable.
 */
static struct {
	size_t len;
	struct dx_recorder *rec;
	size_t npts;
	const char *start; /* the pool when the operation began */
} ob;

static void ob_start(struct daxfs *fs)
{
	/* Everything before the operation is durable (each call persisted
	 * its stores before returning). */
	ob.len = fs->mapped_len;
	ob.rec = dx_record_start(&fs->pc, fs->base, fs->mapped_len, NULL);
	if (!ob.rec)
		abort();
	ob.start = dx_record_window_start(ob.rec);
	ob.npts = 0;
}

static void ob_stop(void)
{
	dx_record_pause(ob.rec);
	/* A final point: what a crash right after the call returned finds. */
	dx_record_point_now(ob.rec);
	ob.npts = dx_record_npoints(ob.rec);
}

static void ob_free_points(void)
{
	dx_record_free(ob.rec);
	ob.rec = NULL;
	ob.start = NULL;
	ob.npts = 0;
}

/* ---- crash images ---- */

static char *img, *img2; /* crash images being built */
static const char *crash_pool;

/*
 * Writes of data into blocks a file already owns are made in place, with no
 * transaction (file.c): a crash may leave any mix of old and new bytes
 * there, as on other filesystems without data journaling.  For operations
 * that do that, the data of one file is compared byte by byte against its
 * old and new content, and everything else strictly.
 */
static struct {
	uint64_t ino; /* 0: the operation writes no data in place */
	char *old, *new;
	size_t old_size, new_size;
} mixed;

static char *read_all(struct daxfs *fs, uint64_t ino, size_t *size)
{
	struct stat st;
	char *buf;

	if (daxfs_getattr(fs, ino, &st))
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	*size = (size_t)st.st_size;
	if (buf && daxfs_pread(fs, ino, buf, *size, 0) != (ssize_t)*size) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Each byte of the file in the image is an old byte or a new one. */
static bool mixed_ok(struct daxfs *fs)
{
	size_t size, i;
	char *cur = read_all(fs, mixed.ino, &size);
	bool ok = cur != NULL;

	for (i = 0; ok && i < size; i++) {
		char o = i < mixed.old_size ? mixed.old[i] : 0;
		char n = i < mixed.new_size ? mixed.new[i] : 0;
		ok = cur[i] == o || cur[i] == n;
	}
	if (!ok && cur)
		t_note("  byte %zu of inode %llu is neither old nor new", i - 1,
		       (unsigned long long)mixed.ino);
	free(cur);
	return ok;
}

/* The snapshot without the content checksums, for the mixed comparison. */
static char *strip_data(const char *snap)
{
	char *out = malloc(strlen(snap) + 1), *o = out;

	while (*snap) {
		if (!strncmp(snap, " data=", 6)) {
			snap += 6;
			while (*snap && *snap != ' ' && *snap != '\n')
				snap++;
			continue;
		}
		*o++ = *snap++;
	}
	*o = '\0';
	return out;
}

static int write_image(const char *path, const char *buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < ob.len) {
		ssize_t n = pwrite(fd, buf + done, ob.len - done, (off_t)done);
		if (n <= 0) {
			close(fd);
			return -EIO;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

/*
 * Open the image (recovery), check it and describe it.  NULL when it does
 * not open.  *problems: inconsistencies found; *mix: the mixed-data check.
 */
static char *recover(const char *path, int *problems, bool *mix)
{
	struct daxfs *fs = NULL;
	char *snap;
	int ret = daxfs_open(path, NULL, &fs);

	if (ret) {
		t_note("crash image does not open: %s (%s)", strerror(-ret), daxfs_errormsg());
		*problems = -1;
		return NULL;
	}
	*problems = t_fsck(fs, false);
	snap = t_snapshot(fs);
	if (mix)
		*mix = mixed.ino && mixed_ok(fs);
	daxfs_close(fs);
	return snap;
}

/*
 * A crash during recovery: recovery copies the saved bytes of every valid
 * journal entry back (newest first) and only then retires the entries.  Put
 * a random part of those copies into image, as a crash in the middle of
 * recovery would leave it, so that recovering again can be checked to end
 * in the same state.  Returns the number of valid entries (0: nothing to
 * roll back, the image is unchanged).
 */
static size_t interrupt_recovery(char *image)
{
	const struct dx_super *sb = (const void *)image;
	const struct dx_journal_hdr *h = (const void *)(image + sb->journal_blk * DX_BLOCK_SIZE);
	const char *area = (const char *)(h + 1);
	size_t size = sb->journal_blocks * DX_BLOCK_SIZE - sizeof(*h), pos = 0, n = 0;
	size_t offs[4096];

	while (pos + sizeof(struct dx_journal_entry) <= size && n < 4096) {
		const struct dx_journal_entry *e = (const void *)(area + pos);
		struct dx_journal_entry hd = *e;

		if (e->seq != h->seq || !e->len || e->len > size - pos - sizeof(*e) ||
		    e->off + e->len > ob.len)
			break;
		hd.crc = 0;
		if (dx_crc32c(dx_crc32c(0, &hd, sizeof(hd)), e + 1, e->len) != e->crc)
			break;
		offs[n++] = pos;
		pos += sizeof(*e) + ((e->len + 7) & ~7u);
	}
	for (size_t i = n; i-- > 0;) {
		const struct dx_journal_entry *e = (const void *)(area + offs[i]);
		if (t_rand() % 2)
			memcpy(image + e->off, e + 1, e->len);
	}
	return n;
}

static long rec_tried, rec_bad;
/* Tear lines word by word in the random images (8-byte stores are the
 * only ones a crash keeps whole). */
static bool words;

struct op_result {
	long images, before, after, mixed, bad;
};

struct states {
	const char *before, *after;
	char *sbefore, *safter; /* without data checksums */
};

/* Build and check one image of drain point k (the fenced image before it
 * is in img); which: 0 none of its lines in flight, 1 the drain completed
 * (the flushed lines as flushed), 2 every line as it is now, 3+ each line
 * (or word) at random old, as flushed or current. */
static void try_point(const struct dx_rec_point *pt, int which, const struct states *s,
		      struct op_result *res, size_t k)
{
	char *saved = malloc(pt->n * LINE + 1), *snap;
	int problems;
	bool mix = false;

	for (size_t i = 0; i < pt->n; i++) {
		const struct dx_rec_line *l = &pt->lines[i];
		char *dst = img + l->off;
		memcpy(saved + i * LINE, dst, LINE);
		if (which == 1) {
			memcpy(dst, l->fl, LINE);
		} else if (which == 2) {
			memcpy(dst, l->cur, LINE);
		} else if (which >= 3) {
			for (size_t w = 0; w < LINE; w += words ? 8 : LINE) {
				unsigned r = t_rand() % 3;
				memcpy(dst + w,
				       (r == 0	 ? l->old
					: r == 1 ? l->fl
						 : l->cur) +
					   w,
				       words ? 8 : LINE);
			}
		}
	}
	write_image(crash_pool, img);
	snap = recover(crash_pool, &problems, &mix);
	res->images++;
	if (snap && !problems && !strcmp(snap, s->before)) {
		res->before++;
	} else if (snap && !problems && !strcmp(snap, s->after)) {
		res->after++;
	} else {
		char *st = snap && mix ? strip_data(snap) : NULL;
		if (st && !problems && (!strcmp(st, s->sbefore) || !strcmp(st, s->safter))) {
			res->mixed++;
		} else if (res->bad++ < 3) {
			t_note("drain point %zu of %zu, %s of %zu unpersisted lines: %s", k,
			       ob.npts,
			       which == 0   ? "none"
			       : which == 1 ? "the drain completed, with"
			       : which == 2 ? "all current"
					    : "a random subset",
			       pt->n,
			       !snap	  ? "does not open"
			       : problems ? "inconsistent"
					  : "neither before nor after");
			if (snap && !problems) {
				t_note(" against before:");
				t_snapshot_diff(s->before, snap);
				t_note(" against after:");
				t_snapshot_diff(s->after, snap);
			}
		}
		free(st);
	}
	if (snap && which == 2) {
		/* The same image, with recovery cut short once: recovering
		 * again must give what one recovery gave. */
		memcpy(img2, img, ob.len);
		if (interrupt_recovery(img2)) {
			char *again;
			int p2;
			write_image(crash_pool, img2);
			again = recover(crash_pool, &p2, NULL);
			rec_tried++;
			if ((!again || p2 || strcmp(again, snap)) && rec_bad++ < 3) {
				t_note("drain point %zu: recovery after an interrupted recovery "
				       "differs",
				       k);
				if (again)
					t_snapshot_diff(snap, again);
			}
			free(again);
		}
	}
	free(snap);
	for (size_t i = 0; i < pt->n; i++)
		memcpy(img + pt->lines[i].off, saved + i * LINE, LINE);
	free(saved);
}

struct crash_op {
	const char *name;
	long (*fn)(struct daxfs *fs);
	uint64_t *mixed_ino; /* file whose data the op writes in place */
	bool same;	     /* recovery makes before and after look alike */
	bool words;	     /* tear the random images word by word */
};

/* Run op on fs under the observer and replay a crash at each drain point. */
static void crash_test(struct daxfs *fs, const struct crash_op *op)
{
	struct op_result res = {0};
	struct states s = {0};
	char *before, *after;
	bool changed = true;
	int problems;
	long ret;

	mixed.ino = op->mixed_ino ? *op->mixed_ino : 0;
	words = op->words;
	if (mixed.ino)
		mixed.old = read_all(fs, mixed.ino, &mixed.old_size);
	ob_start(fs);
	ret = op->fn(fs);
	ob_stop();
	if (!T(ret >= 0, "%s: the operation succeeds", op->name))
		t_note("it returned %ld (%s)", ret, strerror((int)-ret));
	if (mixed.ino)
		mixed.new = read_all(fs, mixed.ino, &mixed.new_size);

	/* The states a crash may end in, as recovery presents them. */
	memcpy(img, ob.start, ob.len);
	write_image(crash_pool, img);
	before = recover(crash_pool, &problems, NULL);
	T(before && !problems, "  the state before is consistent");
	memcpy(img, fs->base, ob.len);
	write_image(crash_pool, img);
	after = recover(crash_pool, &problems, NULL);
	T(after && !problems, "  the state after is consistent");
	if (!before || !after)
		goto out;
	if (op->same ? !T(!strcmp(before, after), "  and, after recovery, equals the state before")
		     : !T(strcmp(before, after) != 0, "  and differs from the state before"))
		goto out;
	s = (struct states){before, after, strip_data(before), strip_data(after)};
	{
		/* The final point holds what was stored and not yet durable. */
		const struct dx_rec_point *last = dx_record_point(ob.rec, ob.npts - 1);
		if (!T_EQ(last->n, 0,
			  "  every store was flushed and fenced before the call returned"))
			for (size_t i = 0; i < last->n && i < 4; i++)
				t_note("  line at pool offset %llu was %s",
				       (unsigned long long)last->lines[i].off,
				       last->lines[i].flushed ? "flushed, not fenced"
							      : "never flushed");
	}

	/* Replay: img follows the fenced image's history from the start. */
	memcpy(img, ob.start, ob.len);
	for (size_t k = 0; k < ob.npts; k++) {
		const struct dx_rec_point *pt = dx_record_point(ob.rec, k);

		if (changed || pt->n)
			try_point(pt, 0, &s, &res, k);
		if (pt->n) {
			try_point(pt, 1, &s, &res, k);
			try_point(pt, 2, &s, &res, k);
			/* One random image fewer than random_trials asks for: the
			 * completed drain took its place. */
			for (int t = 1; t < random_trials * (words ? 4 : 1); t++)
				try_point(pt, 2 + t, &s, &res, k);
		}
		changed = false;
		for (size_t i = 0; i < pt->n; i++)
			if (pt->lines[i].flushed) {
				memcpy(img + pt->lines[i].off, pt->lines[i].fl, LINE);
				changed = true;
			}
	}
	if (mixed.ino)
		T(res.bad == 0 && res.before && res.after,
		  "  %ld crash images at %zu drain points all recover to before (%ld), after (%ld) "
		  "or, in the data written in place, a mix of old and new bytes (%ld)",
		  res.images, ob.npts, res.before, res.after, res.mixed);
	else
		T(res.bad == 0 && res.before && (res.after || op->same),
		  "  %ld crash images at %zu drain points all recover to before (%ld) or after "
		  "(%ld)",
		  res.images, ob.npts, res.before, res.after);
out:
	ob_free_points();
	free(before);
	free(after);
	free(s.sbefore);
	free(s.safter);
	free(mixed.old);
	free(mixed.new);
	mixed.old = mixed.new = NULL;
}

/* ---- the operations ---- */

static uint64_t d1, d2, d3, fa, fb, fc, big, fx, ftr, fhole, fopen_ino;
static uint64_t frag, frag2, frag3, frag5, fpre;
static struct daxfs_file *held;

static uint64_t mk(struct daxfs *fs, uint64_t dir, const char *name, mode_t mode)
{
	struct stat st;
	int ret = S_ISDIR(mode) ? daxfs_mkdir(fs, dir, name, mode & 07777, &t_cred, &st)
				: daxfs_mknod(fs, dir, name, mode, 0, &t_cred, &st);

	if (!T_EQ(ret, 0, "setup: create %s", name))
		exit(1);
	daxfs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static void fill(struct daxfs *fs, uint64_t ino, off_t off, size_t len, uint64_t seed)
{
	char *buf = malloc(len);

	t_pattern(buf, len, seed);
	if (daxfs_write(fs, ino, buf, len, off, 0) != (ssize_t)len)
		T(0, "setup: write %zu bytes at %lld", len, (long long)off);
	free(buf);
}

static void setup(struct daxfs *fs)
{
	char name[16];

	d1 = mk(fs, DX_ROOT_INO, "d1", S_IFDIR | 0755);
	d2 = mk(fs, DX_ROOT_INO, "d2", S_IFDIR | 0755);
	d3 = mk(fs, DX_ROOT_INO, "d3", S_IFDIR | 0755);
	fa = mk(fs, d1, "a", S_IFREG | 0644);
	fill(fs, fa, 0, 3 * BLK + 100, 1);
	fb = mk(fs, d1, "b", S_IFREG | 0644);
	fill(fs, fb, 0, BLK - 100, 2);
	fc = mk(fs, d2, "c", S_IFREG | 0644);
	fill(fs, fc, 0, 2 * BLK, 3);
	/* A full directory block: the next entry needs a new one. */
	for (int i = 0; i < (int)DX_DIRENTS_PER_BLOCK; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		mk(fs, d3, name, S_IFREG | 0600);
	}
	/* Twenty extents, so freeing it takes several records. */
	big = mk(fs, DX_ROOT_INO, "big", S_IFREG | 0644);
	for (int i = 0; i < 20; i++)
		fill(fs, big, 2 * i * BLK, BLK, 10 + (uint64_t)i);
	fx = mk(fs, d1, "x", S_IFREG | 0644);
	T_EQ(daxfs_setxattr(fs, fx, "user.a", "one", 3, 0), 0, "setup: setxattr");
	ftr = mk(fs, DX_ROOT_INO, "tr", S_IFREG | 0644);
	fill(fs, ftr, 0, 30 * BLK, 4);
	fhole = mk(fs, DX_ROOT_INO, "hole", S_IFREG | 0644);
	fill(fs, fhole, 0, 4 * BLK, 5);
	fill(fs, fhole, 10 * BLK, 4 * BLK, 6);
	/* Files of FRAG one-block extents (written last block first, so that
	 * no two merge): removing or moving them takes many records.  frag2
	 * has a hole after every block. */
	frag = mk(fs, DX_ROOT_INO, "frag", S_IFREG | 0644);
	frag2 = mk(fs, DX_ROOT_INO, "frag2", S_IFREG | 0644);
	frag3 = mk(fs, DX_ROOT_INO, "frag3", S_IFREG | 0644);
	frag5 = mk(fs, DX_ROOT_INO, "frag5", S_IFREG | 0644);
	for (int i = FRAG / 2 - 1; i >= 0; i--)
		fill(fs, frag5, 2 * i * BLK, BLK, 500 + (uint64_t)i);
	for (int i = FRAG - 1; i >= 0; i--) {
		fill(fs, frag, i * BLK, BLK, 100 + (uint64_t)i);
		fill(fs, frag2, 2 * i * BLK, BLK, 200 + (uint64_t)i);
		fill(fs, frag3, i * BLK, BLK, 300 + (uint64_t)i);
	}
	/* Written up to 2.5 blocks, preallocated up to 8. */
	fpre = mk(fs, DX_ROOT_INO, "pre", S_IFREG | 0644);
	fill(fs, fpre, 0, 2 * BLK + BLK / 2, 8);
	T_EQ(daxfs_fallocate(fs, fpre, FALLOC_FL_KEEP_SIZE, 0, 8 * BLK), 0, "setup: preallocate");
	fopen_ino = mk(fs, DX_ROOT_INO, "open", S_IFREG | 0644);
	fill(fs, fopen_ino, 0, 4 * BLK, 7);
	T_EQ(daxfs_open_file(fs, fopen_ino, O_RDWR, &held), 0, "setup: open a file and keep it");
}

static long op_mknod(struct daxfs *fs)
{
	struct stat st;
	long r = daxfs_mknod(fs, d3, "n-new", S_IFREG | 0644, 0, &t_cred, &st);

	if (!r)
		daxfs_forget(fs, st.st_ino, 1);
	return r;
}

static long op_mkdir(struct daxfs *fs)
{
	struct stat st;
	long r = daxfs_mkdir(fs, d1, "sub", 0755, &t_cred, &st);

	if (!r)
		daxfs_forget(fs, st.st_ino, 1);
	return r;
}

static long op_symlink(struct daxfs *fs)
{
	struct stat st;
	long r = daxfs_symlink(fs, d2, "sym", "some/target/path", &t_cred, &st);

	if (!r)
		daxfs_forget(fs, st.st_ino, 1);
	return r;
}

static long op_link(struct daxfs *fs)
{
	struct stat st;
	long r = daxfs_link(fs, fa, d2, "a-link", &st);

	if (!r)
		daxfs_forget(fs, st.st_ino, 1);
	return r;
}

static long op_rename(struct daxfs *fs)
{
	return daxfs_rename(fs, d1, "a", d2, "a2", 0);
}

/* Replaces d2/c, whose inode has no other link or reference and so is
 * freed in further transactions of the same call. */
static long op_rename_replace(struct daxfs *fs)
{
	return daxfs_rename(fs, d1, "b", d2, "c", 0);
}

static long op_exchange(struct daxfs *fs)
{
	return daxfs_rename(fs, d1, "sub", d2, "a2", RENAME_EXCHANGE);
}

/* At EOF, into the rest of the last block and new blocks: nothing a user
 * can see is written in place. */
static long op_append(struct daxfs *fs)
{
	char buf[2 * BLK + 500];

	t_pattern(buf, sizeof(buf), 19);
	return daxfs_write(fs, fa, buf, sizeof(buf), 0, 1) == (ssize_t)sizeof(buf) ? 0 : -EIO;
}

/* From inside the last partial block into new blocks: size grows. */
static long op_write_extend(struct daxfs *fs)
{
	char buf[3 * BLK];

	t_pattern(buf, sizeof(buf), 20);
	return daxfs_write(fs, fb, buf, sizeof(buf), BLK - 300, 0) == (ssize_t)sizeof(buf) ? 0
											   : -EIO;
}

static long op_write_hole(struct daxfs *fs)
{
	char buf[2 * BLK];

	t_pattern(buf, sizeof(buf), 21);
	return daxfs_write(fs, fhole, buf, sizeof(buf), 5 * BLK + 10, 0) == (ssize_t)sizeof(buf)
		   ? 0
		   : -EIO;
}

static long op_overwrite(struct daxfs *fs)
{
	char buf[100];

	t_pattern(buf, sizeof(buf), 22);
	return daxfs_write(fs, fhole, buf, sizeof(buf), 50, 0) == (ssize_t)sizeof(buf) ? 0 : -EIO;
}

static long op_collapse(struct daxfs *fs)
{
	return daxfs_fallocate(fs, fhole, FALLOC_FL_COLLAPSE_RANGE, BLK, 2 * BLK);
}

static long op_insert(struct daxfs *fs)
{
	return daxfs_fallocate(fs, fhole, FALLOC_FL_INSERT_RANGE, 2 * BLK, 2 * BLK);
}

static long op_punch(struct daxfs *fs)
{
	return daxfs_fallocate(fs, fhole, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BLK / 2,
			       3 * BLK);
}

static long op_prealloc(struct daxfs *fs)
{
	return daxfs_fallocate(fs, fhole, 0, 20 * BLK, 3 * BLK);
}

/* An overwrite that moves the end of the file into preallocated blocks:
 * no block is allocated, but size and times must commit together. */
static long op_extend_prealloc(struct daxfs *fs)
{
	char buf[2 * BLK];

	t_pattern(buf, sizeof(buf), 23);
	return daxfs_write(fs, fpre, buf, sizeof(buf), 2 * BLK, 0) == (ssize_t)sizeof(buf) ? 0
											   : -EIO;
}

/* ---- layout changes bigger than one transaction ---- */

/* Each big change runs with the journal pretending to hold this much
 * (journal.c's reserve plus a little), so that it needs several
 * transactions; recovery of the crash images runs with the whole one. */
#define SMALL_JOURNAL (8192 + 1200)

static long big_change_in(struct daxfs *fs, const char *what, long (*fn)(struct daxfs *fs),
			  size_t limit)
{
	uint64_t seq = fs->jr.hdr->seq;
	long ret;

	fs->jr.limit = limit;
	ret = fn(fs);
	fs->jr.limit = 0;
	T(fs->jr.hdr->seq - seq >= 2, "  %s takes %llu transactions", what,
	  (unsigned long long)(fs->jr.hdr->seq - seq));
	return ret;
}

static long big_change(struct daxfs *fs, const char *what, long (*fn)(struct daxfs *fs))
{
	return big_change_in(fs, what, fn, SMALL_JOURNAL);
}

static long do_big_truncate(struct daxfs *fs)
{
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 3 * BLK + 7};

	return daxfs_setattr(fs, frag2, &sa, &t_cred, NULL);
}

static long op_big_truncate(struct daxfs *fs)
{
	return big_change(fs, "the truncate", do_big_truncate);
}

static long do_big_punch(struct daxfs *fs)
{
	return daxfs_fallocate(fs, frag, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BLK / 2,
			       (FRAG - 8) * BLK);
}

static long op_big_punch(struct daxfs *fs)
{
	return big_change(fs, "the punch", do_big_punch);
}

/* Over frag after the punch: blocks, then holes, then blocks again and
 * past the end of the file. */
static long do_big_zero(struct daxfs *fs)
{
	return daxfs_fallocate(fs, frag, FALLOC_FL_ZERO_RANGE, BLK / 3, (FRAG + 4) * BLK);
}

static long op_big_zero(struct daxfs *fs)
{
	return big_change(fs, "the zero range", do_big_zero);
}

static long do_big_collapse(struct daxfs *fs)
{
	return daxfs_fallocate(fs, frag3, FALLOC_FL_COLLAPSE_RANGE, 2 * BLK, 10 * BLK);
}

static long op_big_collapse(struct daxfs *fs)
{
	return big_change(fs, "the collapse", do_big_collapse);
}

/* A journal size at which (with today's entry sizes) the shift of a
 * collapse ends just short of the room its closing steps need, so that
 * these commit apart from it: the commit of the shift must already say
 * that it is done, or a crash before the closing commit shifts the last
 * share twice. */
#define CLOSE_APART_JOURNAL (8192 + 1108)

static long do_collapse_close_apart(struct daxfs *fs)
{
	return daxfs_fallocate(fs, frag3, FALLOC_FL_COLLAPSE_RANGE, 2 * BLK, 2 * BLK);
}

static long op_collapse_close_apart(struct daxfs *fs)
{
	return big_change_in(fs, "the collapse", do_collapse_close_apart, CLOSE_APART_JOURNAL);
}

static long do_big_insert(struct daxfs *fs)
{
	return daxfs_fallocate(fs, frag3, FALLOC_FL_INSERT_RANGE, BLK, 3 * BLK);
}

static long op_big_insert(struct daxfs *fs)
{
	return big_change(fs, "the insert", do_big_insert);
}

/* Backs the holes between frag5's blocks and past its end, one extent
 * each, and grows the size. */
static long do_big_prealloc(struct daxfs *fs)
{
	return daxfs_fallocate(fs, frag5, 0, BLK / 2, (FRAG + 6) * BLK);
}

static long op_big_prealloc(struct daxfs *fs)
{
	return big_change(fs, "the preallocation", do_big_prealloc);
}

static long op_setxattr(struct daxfs *fs)
{
	return daxfs_setxattr(fs, fx, "user.a", "two-two", 7, XATTR_REPLACE);
}

static long op_removexattr(struct daxfs *fs)
{
	return daxfs_removexattr(fs, fx, "user.a");
}

static long op_chmod(struct daxfs *fs)
{
	struct daxfs_setattr sa = {.valid = DX_SET_MODE, .mode = 0600};

	return daxfs_setattr(fs, fx, &sa, &t_cred, NULL);
}

static long op_truncate(struct daxfs *fs)
{
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 5000};

	return daxfs_setattr(fs, ftr, &sa, &t_cred, NULL);
}

static long op_unlink_big(struct daxfs *fs)
{
	return daxfs_unlink(fs, DX_ROOT_INO, "big");
}

/* The file stays open: an orphan that recovery must reclaim. */
static long op_unlink_open(struct daxfs *fs)
{
	return daxfs_unlink(fs, DX_ROOT_INO, "open");
}

static long op_rmdir(struct daxfs *fs)
{
	/* After the exchange, d2/a2 is the directory made by op_mkdir. */
	return daxfs_rmdir(fs, d2, "a2");
}

static long op_release(struct daxfs *fs)
{
	daxfs_release(fs, held);
	held = NULL;
	return 0;
}

/* ---- layout changes on a full pool: all or nothing ---- */

static char *en_before;
static uint64_t en_free;

static void en_start(struct daxfs *fs)
{
	free(en_before);
	en_before = t_snapshot(fs);
	en_free = fs->free_blocks;
}

static void en_check(struct daxfs *fs, const char *what, long ret)
{
	char *after = t_snapshot(fs);

	T_EQ(ret, -ENOSPC, "%s on a full pool fails with ENOSPC", what);
	if (!T(!strcmp(en_before, after), "  and changes nothing (bytes, sizes, times, blocks)"))
		t_snapshot_diff(en_before, after);
	T_EQ(fs->free_blocks, en_free, "  the free block count is unchanged");
	T_EQ(t_fsck(fs, false), 0, "  the pool is consistent");
	free(after);
}

static void test_full_pool(void)
{
	const char *pool = t_path("full");
	struct daxfs *fs;
	uint64_t zf, cf, f4, filler, last, end = 0;
	char *buf = malloc(1 << 20), *got, *want;
	ssize_t w;

	T_EQ(t_mkfs(pool, POOL_SIZE, 0), 0, "mkfs a pool to fill");
	fs = t_open(pool);
	/* Two blocks, a four-block hole, two blocks. */
	zf = mk(fs, DX_ROOT_INO, "z", S_IFREG | 0644);
	fill(fs, zf, 0, 2 * BLK, 40);
	fill(fs, zf, 6 * BLK, 2 * BLK, 41);
	/* One 16-block extent and three more: the four inline records are
	 * used, so a split needs a new extent block. */
	cf = mk(fs, DX_ROOT_INO, "c", S_IFREG | 0644);
	fill(fs, cf, 0, 16 * BLK, 42);
	for (int i = 0; i < 3; i++)
		fill(fs, cf, (20 + 2 * i) * BLK, BLK, 43 + (uint64_t)i);
	f4 = mk(fs, DX_ROOT_INO, "frag4", S_IFREG | 0644);
	for (int i = FRAG - 1; i >= 0; i--)
		fill(fs, f4, i * BLK, BLK, 400 + (uint64_t)i);
	filler = mk(fs, DX_ROOT_INO, "filler", S_IFREG | 0644);
	last = mk(fs, DX_ROOT_INO, "last", S_IFREG | 0644);
	fill(fs, last, 0, 1, 49);
	/* Reopened, the files' free inline record slots are known. */
	daxfs_close(fs);
	fs = t_open(pool);
	memset(buf, 'f', 1 << 20);
	while ((w = daxfs_write(fs, filler, buf, 1 << 20, (off_t)end, 0)) > 0)
		end += (uint64_t)w;
	while (daxfs_write(fs, filler, buf, BLK, (off_t)end, 0) == BLK)
		end += BLK;
	/* The last blocks go where a free inline slot takes them. */
	for (off_t o = 2 * BLK; daxfs_write(fs, last, buf, BLK, o, 0) == BLK; o += 2 * BLK)
		;
	T_EQ(fs->free_blocks, 0, "the pool is full");

	en_start(fs);
	en_check(fs, "zero range over blocks and a hole",
		 daxfs_fallocate(fs, zf, FALLOC_FL_ZERO_RANGE, 0, 8 * BLK));
	en_start(fs);
	en_check(fs, "collapse inside an extent (a split)",
		 daxfs_fallocate(fs, cf, FALLOC_FL_COLLAPSE_RANGE, 4 * BLK, 4 * BLK));
	en_start(fs);
	en_check(fs, "punch inside an extent (a split)",
		 daxfs_fallocate(fs, cf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * BLK + 100,
				 4 * BLK));
	en_start(fs);
	en_check(fs, "insert inside an extent (a split)",
		 daxfs_fallocate(fs, cf, FALLOC_FL_INSERT_RANGE, 4 * BLK, 2 * BLK));

	/* A few blocks free, far too few for the preallocation. */
	{
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = end - 3 * BLK};
		T_EQ(daxfs_setattr(fs, filler, &sa, &t_cred, NULL), 0, "free a few blocks");
	}
	en_start(fs);
	T(en_free > 0 && en_free < 100, "  %llu blocks are free", (unsigned long long)en_free);
	en_check(fs, "preallocation of 100 blocks",
		 daxfs_fallocate(fs, zf, FALLOC_FL_KEEP_SIZE, 100 * BLK, 100 * BLK));
	en_start(fs);
	en_check(fs, "zero range over 100 blocks of holes",
		 daxfs_fallocate(fs, zf, FALLOC_FL_ZERO_RANGE, 4 * BLK, 100 * BLK));

	/* Moving extents needs no block, however many transactions it takes. */
	fs->jr.limit = SMALL_JOURNAL;
	T_EQ(daxfs_fallocate(fs, f4, FALLOC_FL_COLLAPSE_RANGE, BLK, 2 * BLK), 0,
	     "collapse of a file of %d extents on a full pool, small journal: done", FRAG);
	fs->jr.limit = 0;
	want = malloc((FRAG - 2) * BLK);
	got = malloc((FRAG - 2) * BLK);
	for (int i = 0, j = 0; i < FRAG; i++)
		if (i < 1 || i > 2)
			t_pattern(want + (j++) * BLK, BLK, 400 + (uint64_t)i);
	T_EQ(daxfs_pread(fs, f4, got, (FRAG - 2) * BLK + 1, 0), (FRAG - 2) * BLK,
	     "  the file is two blocks shorter");
	T(!memcmp(got, want, (FRAG - 2) * BLK), "  and holds the blocks after the range, moved");
	T_EQ(t_fsck(fs, false), 0, "  the pool is consistent");

	{
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = BLK};
		T_EQ(daxfs_setattr(fs, filler, &sa, &t_cred, NULL), 0,
		     "truncate on a nearly full pool works");
		T_EQ(t_fsck(fs, false), 0, "  the pool is consistent");
	}
	daxfs_close(fs);
	free(en_before);
	en_before = NULL;
	free(buf);
	free(got);
	free(want);
}

/* ---- an intent left by a crash: fsck, a read-only and a read-write mount ---- */

static void ck_run(const char *pool, enum daxfs_check_mode mode, struct daxfs_check_result *r)
{
	struct daxfs_check_opts o = {.mode = mode};

	memset(r, 0, sizeof(*r));
	T_EQ(daxfs_check(pool, &o, r), 0, "  the check runs");
}

/*
 * The recorder's rule: a flush makes a line durable as it was at the flush,
 * and only at the next drain.  A store after the flush (and before the
 * drain) is not durable: it stays in flight until a later flush and drain.
 */
static void test_recorder(void)
{
	const char *pool = t_path("recorder");
	struct daxfs *fs;
	struct dx_recorder *r;
	const struct dx_rec_point *pt;
	char *a, *b, *c;
	size_t oa;

	T_EQ(t_mkfs(pool, POOL_SIZE, 0), 0, "mkfs a pool for the recorder");
	fs = t_open(pool);
	/* Three lines of the last (free) block. */
	oa = (size_t)(fs->sb.nblocks - 1) * DX_BLOCK_SIZE;
	a = (char *)fs->base + oa;
	b = a + LINE;
	c = a + 2 * LINE;
	r = dx_record_start(&fs->pc, fs->base, fs->mapped_len, NULL);
	T(r != NULL, "the recorder starts");
	if (!r) {
		daxfs_close(fs);
		return;
	}
	memset(a, 'A', LINE);
	dx_flush(&fs->pc, a, LINE);
	memset(a, 'B', LINE); /* after its flush, before the fence */
	memset(b, 'N', LINE); /* never flushed */
	memset(c, 'D', LINE);
	dx_flush(&fs->pc, c, LINE);
	memset(c, 0, LINE); /* flushed, then undone before the fence */
	dx_drain(&fs->pc);
	pt = dx_record_point(r, 0);
	T(dx_record_npoints(r) == 1 && pt->n == 3 && pt->lines[0].off == oa &&
	      pt->lines[0].flushed && pt->lines[0].fl[0] == 'A' && pt->lines[0].cur[0] == 'B' &&
	      pt->lines[0].old[0] == 0,
	  "at the fence: the late store's line is in flight, as flushed (A) and as now (B)");
	T(pt->n == 3 && !pt->lines[1].flushed && pt->lines[1].cur[0] == 'N' &&
	      pt->lines[2].flushed && pt->lines[2].fl[0] == 'D' && pt->lines[2].cur[0] == 0,
	  "  and so are the line never flushed and the one flushed, then undone");
	T(dx_record_fenced(r)[oa] == 'A' && dx_record_fenced(r)[oa + LINE] == 0 &&
	      dx_record_fenced(r)[oa + 2 * LINE] == 'D',
	  "after the fence the late store is not durable: the line holds what was flushed");
	dx_drain(&fs->pc);
	pt = dx_record_point(r, 1);
	T(pt->n == 3 && !pt->lines[0].flushed && pt->lines[0].old[0] == 'A' &&
	      pt->lines[0].cur[0] == 'B' && dx_record_fenced(r)[oa] == 'A',
	  "a fence without a flush leaves the late store in flight");
	dx_flush(&fs->pc, a, 3 * LINE);
	dx_drain(&fs->pc);
	dx_record_point_now(r);
	T(dx_record_fenced(r)[oa] == 'B' && dx_record_fenced(r)[oa + LINE] == 'N' &&
	      dx_record_fenced(r)[oa + 2 * LINE] == 0 && dx_record_point(r, 3)->n == 0,
	  "a flush and a fence after it make every store durable, nothing is left in flight");
	dx_record_free(r);
	memset(a, 0, 3 * LINE);
	dx_persist(&fs->pc, a, 3 * LINE);
	daxfs_close(fs);
}

static void test_pending_intent(void)
{
	const char *pool = t_path("intent");
	struct daxfs_open_opts ro = {.readonly = 1};
	struct daxfs_check_result r;
	struct daxfs *fs;
	struct dx_ino *ip;
	uint64_t f, freeb;
	struct stat st;
	char *buf;

	T_EQ(t_mkfs(pool, POOL_SIZE, 0), 0, "mkfs a pool for a pending intent");
	fs = t_open(pool);
	f = mk(fs, DX_ROOT_INO, "f", S_IFREG | 0644);
	for (int i = FRAG - 1; i >= 0; i--)
		fill(fs, f, 2 * i * BLK, BLK, 500 + (uint64_t)i);
	freeb = fs->free_blocks;
	/* The state a crash right after a truncate's first commit leaves:
	 * the size and the intent are set, no block is removed yet. */
	ip = dx_iget(fs, f);
	dx_tx_begin(fs);
	dx_tx_add(fs, &ip->d->size, sizeof(ip->d->size));
	ip->d->size = BLK + 1;
	dx_intent_set(fs, ip, &(struct dx_intent){.kind = DX_INTENT_TRUNCATE, .size = BLK + 1});
	dx_tx_commit(fs);
	dx_iput(fs, ip);
	daxfs_close(fs);

	ck_run(pool, DAXFS_CHECK_ONLY, &r);
	T(r.errors == 0 && r.info >= 1,
	  "fsck -n: a pending intent is a note, not a problem (%llu errors, %llu notes)",
	  (unsigned long long)r.errors, (unsigned long long)r.info);
	T_EQ(daxfs_open(pool, &ro, &fs), -EROFS, "a read-only mount refuses a pending intent");
	fs = t_open(pool);
	T_EQ(fs->itable[f - 1].intent.kind, 0, "a read-write mount completes it");
	T_EQ(daxfs_getattr(fs, f, &st), 0, "  stat");
	T(st.st_size == BLK + 1 && st.st_blocks == BLK / 512,
	  "  size %lld, blocks %lld: only the first block is left", (long long)st.st_size,
	  (long long)st.st_blocks);
	T_EQ(fs->free_blocks, freeb + FRAG - 1, "  the blocks past the end are free");
	buf = malloc(BLK + 1);
	t_pattern(buf, BLK, 500);
	T(daxfs_pread(fs, f, buf + BLK, 1, BLK) == 1 && buf[BLK] == 0, "  the last byte reads 0");
	T_EQ(t_fsck(fs, false), 0, "  the pool is consistent");

	/* A damaged intent: the mount refuses it, fsck clears it. */
	fs->itable[f - 1].intent.kind = 77;
	/* Crafted, its crc made to match: the structural check must see it. */
	fs->itable[f - 1].csum = dx_csum_inode(fs->csum_seed, f, &fs->itable[f - 1]);
	dx_persist(&fs->pc, &fs->itable[f - 1], sizeof(fs->itable[f - 1]));
	daxfs_close(fs);
	T(daxfs_open(pool, NULL, &fs) == -EUCLEAN, "a damaged intent refuses the mount");
	ck_run(pool, DAXFS_CHECK_ONLY, &r);
	T(r.errors == 1, "fsck -n reports the damaged intent (%llu errors)",
	  (unsigned long long)r.errors);
	ck_run(pool, DAXFS_CHECK_REPAIR, &r);
	T(r.fixed >= 1, "fsck -y clears it");
	fs = t_open(pool);
	T_EQ(t_fsck(fs, false), 0, "  and the pool mounts, consistent");
	daxfs_close(fs);
	free(buf);
}

static void body(void)
{
	const char *pool = t_path("pool");
	struct daxfs *fs;
	static const struct crash_op ops[] = {
	    {.name = "mknod that needs a new directory block", .fn = op_mknod},
	    {.name = "mkdir", .fn = op_mkdir},
	    {.name = "symlink", .fn = op_symlink},
	    {.name = "link", .fn = op_link},
	    {.name = "rename across directories", .fn = op_rename},
	    {.name = "rename over an existing file (freeing it)", .fn = op_rename_replace},
	    {.name = "rename exchange of a directory and a file", .fn = op_exchange},
	    {.name = "append into new blocks", .fn = op_append},
	    {.name = "write over the last block and on into new ones",
	     .fn = op_write_extend,
	     .mixed_ino = &fb},
	    {.name = "write into a hole", .fn = op_write_hole},
	    {.name = "overwrite in place (torn word by word)",
	     .fn = op_overwrite,
	     .mixed_ino = &fhole,
	     .words = true},
	    {.name = "overwrite that extends into preallocated blocks",
	     .fn = op_extend_prealloc,
	     .mixed_ino = &fpre,
	     .words = true},
	    {.name = "collapse range", .fn = op_collapse},
	    {.name = "insert range", .fn = op_insert},
	    /* The partial blocks are zeroed only once the intent is
	     * durable, and recovery zeroes them again: no mix. */
	    {.name = "punch hole", .fn = op_punch},
	    {.name = "preallocate past EOF", .fn = op_prealloc},
	    {.name = "setxattr (replace)", .fn = op_setxattr},
	    {.name = "removexattr", .fn = op_removexattr},
	    {.name = "chmod", .fn = op_chmod},
	    {.name = "truncate down", .fn = op_truncate},
	    {.name = "truncate down over many transactions", .fn = op_big_truncate},
	    {.name = "punch over many transactions", .fn = op_big_punch},
	    {.name = "zero range over many transactions", .fn = op_big_zero},
	    {.name = "collapse over many transactions", .fn = op_big_collapse},
	    {.name = "collapse whose closing steps commit apart", .fn = op_collapse_close_apart},
	    {.name = "insert over many transactions", .fn = op_big_insert},
	    {.name = "preallocation over many transactions", .fn = op_big_prealloc},
	    {.name = "unlink of a file with 20 extents", .fn = op_unlink_big},
	    {.name = "unlink of an open file", .fn = op_unlink_open},
	    {.name = "rmdir", .fn = op_rmdir},
	};
	/* The last close of an unlinked file frees it; recovery of a crash
	 * at any point of it reclaims the orphan, so all look the same. */
	static const struct crash_op release = {
	    .name = "release of an unlinked open file", .fn = op_release, .same = true};

	if (getenv("UNIT_CRASH_TRIALS"))
		random_trials = atoi(getenv("UNIT_CRASH_TRIALS"));
	crash_pool = t_path("crash");
	T_EQ(t_mkfs(pool, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(pool);
	img = malloc(fs->mapped_len);
	img2 = malloc(fs->mapped_len);
	setup(fs);
	T_EQ(t_fsck(fs, true), 0, "setup: consistent");
	t_srand(2024);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		crash_test(fs, &ops[i]);
		if (!T_EQ(t_fsck(fs, true), 0, "  the live pool is consistent afterwards"))
			break;
	}
	crash_test(fs, &release);
	T_EQ(t_fsck(fs, false), 0, "the live pool is consistent at the end (no orphans)");
	daxfs_close(fs);
	test_recorder();
	test_full_pool();
	test_pending_intent();
	T(rec_tried > 0 && rec_bad == 0,
	  "a crash during recovery: recovering again gives the same state (%ld cases)", rec_tried);
	free(img);
	free(img2);
}

int main(void)
{
	return t_run("journal", body);
}
