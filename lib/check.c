/* SPDX-License-Identifier: MIT */
/*
 * check.c - fsck for daxfs: an offline check, and repair, of an unmounted
 * pool.
 *
 * Passes, in order; each works from the decisions of the ones before:
 *
 *   0  superblock and journal: an interrupted transaction is rolled back
 *      before anything else is read, as a mount would;
 *   1  inodes: type, extent records and chains, xattr block.  Every block
 *      is claimed in an owner map as it is met, so a block claimed twice is
 *      caught on the second claim; on a reflink pool, regular-file data
 *      extents may share a block, and their claims are counted instead;
 *   1b blocks claimed twice: the later claimant gets a copy of them;
 *      mapping records (pins and quarantined runs) are noted;
 *   2  directory entries, walked breadth first from the root, which gives
 *      reachability and each directory's one true parent;
 *   3  ".." (parent) fields, orphans, and inodes cut off from the tree,
 *      which go to /lost+found as "#INO" the way e2fsck does it;
 *   4  link counts, and orphans freed;
 *   5  the block bitmap against the owner map;
 *   5b reflink: the reference counts against the claims counted in pass 1.
 *
 * Decisions are kept in DRAM whatever the mode, so -n reports the same
 * cascade of problems that -y goes on to fix.  Repairs are written straight
 * into the pool, one persisted store at a time, without the journal: the
 * checker runs alone, and every step leaves a pool that a second run can
 * finish.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libpmem.h>
#include "core.h"
#include "crc32c.h"
#include "csum.h"
#include "check.h"
#include "validate.h"

#define U(x) ((unsigned long long)(x))

/* Owner map values besides an inode number (ninodes < 0xFFFFFFF0). */
#define OWN_FREE  0u
#define OWN_SNAP  0xFFFFFFFAu /* held only by snapshot mapping records */
#define OWN_SHARE 0xFFFFFFFBu /* file data whose first claimant was freed (pass 4) */
#define OWN_QFREE 0xFFFFFFFCu /* released by a repair; its bit is cleared quietly */
#define OWN_QUAR  0xFFFFFFFDu /* quarantined by a mapping record */
#define OWN_HELD  0xFFFFFFFEu /* in an extent that shares blocks; see pass 1b */
#define OWN_META  0xFFFFFFFFu /* below data_blk */

static inline bool own_used(uint32_t o)
{
	return o != OWN_FREE && o != OWN_QFREE;
}

static inline bool own_ino(uint32_t o)
{
	return o != OWN_FREE && o < OWN_SNAP;
}

/* An extent record as pass 1 accepted it. */
struct xrec {
	uint32_t lblk, len;
	uint64_t pblk;
	struct dx_extent *slot;
};

struct dirinfo {
	uint64_t ino;
	struct xrec *x; /* sorted, mapping blocks 0 .. nblocks-1 */
	size_t n;
	uint64_t nblocks;
	struct dx_dirent *entry; /* the entry that names this directory */
	uint64_t nentries;	 /* live entries kept by pass 2 */
	bool queued;
};

/* Per inode, indexed by ino (slot 0 unused). */
struct ist {
	uint32_t refs;	  /* kept entries naming it */
	uint32_t subdirs; /* directories: kept entries naming directories */
	uint32_t fparent; /* directories: the directory holding its entry */
	uint32_t dir;	  /* directories: index + 1 in ck->dirs */
	uint32_t mark;	  /* pass 3 walk id */
	uint8_t used;	  /* in use after pass 1 */
	uint8_t reach;	  /* reachable from the root */
	uint8_t orphan;
	uint8_t freed;
};

/* Reflink: a data extent of an unlinked regular file, accepted in pass 1,
 * for pass 4 to take back its claims if it frees the file. */
struct oext {
	uint64_t ino;
	uint64_t pblk;
	uint32_t len;
};

/* An extent that shares blocks with an earlier claim. */
struct dupent {
	uint64_t ino;
	struct dx_extent *slot;
	uint32_t lblk, len;
	uint64_t pblk;
	bool fix;
};

struct ck {
	const struct daxfs_check_opts *o;
	struct daxfs_check_result *r;
	const char *pool;
	int fd;
	char *base;
	size_t mapped_len;
	bool pmem_mapped; /* pmem_map_file(): unmap with pmem_unmap */
	struct dx_pctx pc; /* repair: the flush mode of the pool */
	bool repair, preen, stopped;
	bool shadow; /* -n on a private copy-on-write mapping */
	struct dx_super sb;
	uint64_t N, D, I;
	uint64_t M; /* inode slots initialised (the high-water mark); I above */
	struct dx_inode *itable;
	uint64_t *bitmap;
	uint64_t bm_words;
	uint32_t *owner;
	uint64_t *pinned; /* blocks a mapping record may hold */
	struct ist *is;
	struct dirinfo *dirs;
	size_t ndirs, dirs_cap;
	struct dupent *dups;
	size_t ndups, dups_cap;
	/*
	 * Reflink only (NULL without the feature): the pool's reference
	 * counts; per block the regular-file data claims beyond the first,
	 * and whether its first claim was one (only such a block may be
	 * claimed again); the extents of unlinked files.
	 */
	uint16_t *refc;
	uint16_t *extra;
	uint64_t *fdata;
	struct oext *oxs;
	size_t noxs, oxs_cap;
	uint64_t alloc_hint;
	uint64_t lf; /* /lost+found once found or made */
	struct dx_csum_bad *csbad; /* checksums that did not match at the start */
	size_t ncsbad, csbad_cap;
	struct dx_time now;
};

/* ---- messages ---- */

static void vemit(struct ck *ck, const char *suffix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (suffix && n >= 0 && (size_t)n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - (size_t)n, " (%s)", suffix);
	if (ck->o->report)
		ck->o->report(ck->o->ctx, buf);
}

static void __attribute__((format(printf, 2, 3))) say(struct ck *ck, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(ck, NULL, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) verbose(struct ck *ck, const char *fmt, ...)
{
	va_list ap;

	if (!ck->o->verbose)
		return;
	va_start(ap, fmt);
	vemit(ck, NULL, fmt, ap);
	va_end(ap);
}

/* A note that is not an error (an orphan, a pinned range). */
static void __attribute__((format(printf, 2, 3))) note(struct ck *ck, const char *fmt, ...)
{
	va_list ap;

	ck->r->info++;
	va_start(ap, fmt);
	vemit(ck, NULL, fmt, ap);
	va_end(ap);
}

/*
 * Report a problem and decide whether to fix it now: true in a repair mode,
 * unless -p meets a problem that is not safe to fix without a human (then
 * nothing more is changed, as e2fsck -p stops at an unexpected one).
 */
static bool __attribute__((format(printf, 4, 5)))
problem(struct ck *ck, bool preen_ok, const char *action, const char *fmt, ...)
{
	bool fix = ck->repair && !ck->stopped;
	const char *suffix = action;
	va_list ap;

	ck->r->errors++;
	if (fix && ck->preen && !preen_ok) {
		ck->stopped = true;
		ck->r->preen_stopped = 1;
		fix = false;
	}
	if (fix) {
		ck->r->fixed++;
	} else {
		ck->r->uncorrected++;
		suffix = ck->preen && ck->stopped ? "not fixed: needs fsck.daxfs -y" : "not fixed";
	}
	va_start(ap, fmt);
	vemit(ck, suffix, fmt, ap);
	va_end(ap);
	return fix;
}

/* A fix that problem() promised could not be made after all. */
static void __attribute__((format(printf, 2, 3))) fix_failed(struct ck *ck, const char *fmt, ...)
{
	va_list ap;

	ck->r->fixed--;
	ck->r->uncorrected++;
	va_start(ap, fmt);
	vemit(ck, "not fixed", fmt, ap);
	va_end(ap);
}

/* ---- pool access and persistent stores (repair mode only) ---- */

static inline void *blk(struct ck *ck, uint64_t b)
{
	return ck->base + (b << DX_BLOCK_SHIFT);
}

static void put64(struct ck *ck, uint64_t *p, uint64_t v)
{
	dx_store64_persist(&ck->pc, p, v);
}

static void put32(struct ck *ck, uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	dx_persist(&ck->pc, p, sizeof(*p));
}

static void put8(struct ck *ck, uint8_t *p, uint8_t v)
{
	*p = v;
	dx_persist(&ck->pc, p, 1);
}

static inline bool bit(const uint64_t *map, uint64_t b)
{
	return map[b >> 6] >> (b & 63) & 1;
}

static inline void bit_set(uint64_t *map, uint64_t b)
{
	map[b >> 6] |= 1ULL << (b & 63);
}

static inline void bit_clear(uint64_t *map, uint64_t b)
{
	map[b >> 6] &= ~(1ULL << (b & 63));
}

/* Set bitmap bits [b, b+len) in the pool, persisted word by word. */
static void bitmap_set(struct ck *ck, uint64_t b, uint64_t len)
{
	for (uint64_t i = b; i < b + len; i++) {
		ck->bitmap[i >> 6] |= 1ULL << (i & 63);
		if ((i & 63) == 63 || i + 1 == b + len)
			dx_flush(&ck->pc, &ck->bitmap[i >> 6], sizeof(uint64_t));
	}
	dx_drain(&ck->pc);
}

static bool can_alloc(struct ck *ck, uint64_t b)
{
	return ck->owner[b] == OWN_FREE && !bit(ck->pinned, b) && !bit(ck->bitmap, b);
}

/* A free block for a repair, marked in use in the bitmap before it is used. */
static uint64_t alloc_block(struct ck *ck, uint64_t ino)
{
	uint64_t span = ck->N - ck->D, b = ck->alloc_hint;

	for (uint64_t i = 0; i < span; i++, b++) {
		if (b < ck->D || b >= ck->N)
			b = ck->D;
		if (can_alloc(ck, b)) {
			bitmap_set(ck, b, 1);
			ck->owner[b] = (uint32_t)ino;
			ck->alloc_hint = b + 1;
			return b;
		}
	}
	return 0;
}

/* First of len free blocks in a row, or 0. */
static uint64_t find_free_run(struct ck *ck, uint64_t len)
{
	uint64_t run = 0;

	for (uint64_t b = ck->D; b < ck->N; b++) {
		run = can_alloc(ck, b) ? run + 1 : 0;
		if (run == len)
			return b + 1 - len;
	}
	return 0;
}

/* ---- growing tables ---- */

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need > *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *nv;
		while (nc < need)
			nc *= 2;
		nv = realloc(*v, nc * size);
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	return 0;
}

static struct dirinfo *dinfo(struct ck *ck, uint64_t ino)
{
	return ck->is[ino].dir ? &ck->dirs[ck->is[ino].dir - 1] : NULL;
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	}
	return "unknown";
}

/* A directory entry's name, printable, for messages. */
static const char *show_name(const struct dx_dirent *de, char *buf)
{
	size_t n = de->name_len;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)de->name[i];
		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- opening ---- */

static int ck_open(struct ck *ck)
{
	struct stat st;
	uint64_t size;
	int ret;

	ck->fd = open(ck->pool, (ck->repair ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (ck->fd < 0)
		return dx_err(-errno, "cannot open %s: %s", ck->pool, strerror(errno));
	/*
	 * A daemon holds a lock on its pool for as long as it runs: shared
	 * when read-only, exclusive when read-write.  -n writes nothing, so
	 * it shares a pool with read-only mounts (as e2fsck -n checks a
	 * read-only mounted filesystem); a repair needs the pool alone.
	 */
	ret = dx_pool_lock(ck->fd, ck->pool, !ck->repair);
	if (ret)
		return ret;
	if (fstat(ck->fd, &st) < 0)
		return dx_err(-errno, "cannot stat %s: %s", ck->pool, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
		off_t end = lseek(ck->fd, 0, SEEK_END);
		size = end < 0 ? 0 : (uint64_t)end;
	} else {
		return dx_err(-EINVAL, "%s is not a regular file or a device", ck->pool);
	}
	/* An interrupted label change is undone in the copy; pass_journal
	 * rolls it back in the pool. */
	ret = dx_super_read(ck->fd, ck->pool, &ck->sb);
	if (!ret)
		ret = dx_super_check(&ck->sb, size);
	if (ret)
		return ret;

	if (ck->repair) {
		int is_pmem;
		ck->base = pmem_map_file(ck->pool, 0, 0, 0, &ck->mapped_len, &is_pmem);
		if (!ck->base)
			return dx_err(errno ? -errno : -EIO, "cannot map %s: %s", ck->pool,
				      pmem_errormsg());
		ck->pmem_mapped = true;
		dx_persist_init(&ck->pc, is_pmem);
	} else {
		/*
		 * A private mapping of a read-only descriptor: the kernel
		 * cannot write it back, so -n changes no byte, yet the journal
		 * can be rolled back in the copy and the rest checked as a
		 * mount would see it.  A device that only maps shared (devdax)
		 * is checked as it stands.
		 */
		ck->mapped_len = (size_t)(ck->sb.nblocks * DX_BLOCK_SIZE);
		ck->base =
		    mmap(NULL, ck->mapped_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, ck->fd, 0);
		ck->shadow = ck->base != MAP_FAILED;
		if (!ck->shadow)
			ck->base = mmap(NULL, ck->mapped_len, PROT_READ, MAP_SHARED, ck->fd, 0);
		if (ck->base == MAP_FAILED) {
			ck->base = NULL;
			return dx_err(-errno, "cannot map %s: %s", ck->pool, strerror(errno));
		}
	}
	ret = dx_super_check(&ck->sb, ck->mapped_len);
	if (ret)
		return ret;

	ck->N = ck->sb.nblocks;
	ck->D = ck->sb.data_blk;
	ck->I = ck->sb.ninodes;
	ck->itable = blk(ck, ck->sb.itable_blk);
	ck->bitmap = blk(ck, ck->sb.bitmap_blk);
	ck->bm_words = ck->sb.bitmap_blocks * DX_BLOCK_SIZE / sizeof(uint64_t);
	ck->alloc_hint = ck->D;
	ck->owner = calloc(ck->N, sizeof(*ck->owner));
	ck->pinned = calloc((ck->N + 63) / 64, sizeof(uint64_t));
	ck->is = calloc(ck->I + 1, sizeof(*ck->is));
	if (!ck->owner || !ck->pinned || !ck->is)
		return dx_err(-ENOMEM, "out of memory for the block and inode maps of %s",
			      ck->pool);
	if (ck->sb.features & DX_FEATURE_REFLINK) {
		ck->refc = blk(ck, ck->sb.refc_blk);
		ck->extra = calloc(ck->N, sizeof(*ck->extra));
		ck->fdata = calloc((ck->N + 63) / 64, sizeof(uint64_t));
		if (!ck->extra || !ck->fdata)
			return dx_err(-ENOMEM, "out of memory for the reference counts of %s",
				      ck->pool);
	}
	for (uint64_t b = 0; b < ck->D; b++)
		ck->owner[b] = OWN_META;
	dx_now(&ck->now);
	return 0;
}

static void ck_close(struct ck *ck)
{
	if (ck->base) {
		if (ck->pmem_mapped)
			pmem_unmap(ck->base, ck->mapped_len);
		else
			munmap(ck->base, ck->mapped_len);
	}
	if (ck->fd >= 0)
		close(ck->fd);
	for (size_t i = 0; i < ck->ndirs; i++)
		free(ck->dirs[i].x);
	free(ck->dirs);
	free(ck->dups);
	free(ck->extra);
	free(ck->fdata);
	free(ck->oxs);
	free(ck->csbad);
	free(ck->owner);
	free(ck->pinned);
	free(ck->is);
}

/* ---- pass 0: journal ---- */

static uint32_t jentry_crc(const struct dx_journal_entry *e, const void *data)
{
	struct dx_journal_entry h = *e;

	h.crc = 0;
	return dx_crc32c(dx_crc32c(0, &h, sizeof(h)), data, e->len);
}

/*
 * The entries that recovery would roll back (the same walk as
 * dx_journal_recover(), without the writes): their offsets in the entry
 * area, oldest first.  Returns the count or -ENOMEM.
 */
static ssize_t journal_scan(struct ck *ck, size_t **offsp)
{
	struct dx_journal_hdr *h = blk(ck, ck->sb.journal_blk);
	char *area = (char *)h + sizeof(*h);
	size_t size = ck->sb.journal_blocks * DX_BLOCK_SIZE - sizeof(*h);
	uint64_t pool = ck->N * DX_BLOCK_SIZE;
	size_t *offs = NULL, n = 0, cap = 0, pos = 0;

	while (pos + sizeof(struct dx_journal_entry) <= size) {
		struct dx_journal_entry *e = (void *)(area + pos);

		if (e->seq != h->seq || e->len == 0 || e->len > size - pos - sizeof(*e) ||
		    e->off >= pool || e->len > pool - e->off)
			break;
		if (jentry_crc(e, e + 1) != e->crc)
			break;
		if (grow((void **)&offs, &cap, n + 1, sizeof(*offs))) {
			free(offs);
			return -ENOMEM;
		}
		offs[n++] = pos;
		pos += dx_tx_cost(e->len);
	}
	*offsp = offs;
	return (ssize_t)n;
}

static int pass_journal(struct ck *ck)
{
	struct dx_journal_hdr *h = blk(ck, ck->sb.journal_blk);
	char *area = (char *)h + sizeof(*h);
	size_t *offs = NULL;
	ssize_t n;

	if (h->magic != DX_JOURNAL_MAGIC) {
		if (problem(
			ck, false, "journal reset",
			"journal header is damaged (bad magic); an interrupted transaction in it "
			"cannot be rolled back")) {
			/* A new seq first, so that no old entry matches it. */
			put64(ck, &h->seq, h->seq + 1);
			put64(ck, &h->magic, DX_JOURNAL_MAGIC);
		}
		return 0;
	}
	n = journal_scan(ck, &offs);
	if (n < 0)
		return dx_err(-ENOMEM, "out of memory reading the journal");
	if (n == 0) {
		free(offs);
		return 0;
	}
	if (!ck->repair && ck->shadow) {
		/*
		 * -n: what a crash leaves is the state the mount's rollback
		 * will restore, not damage.  Roll back in the private copy
		 * only (newest entry first, as recovery does) and check that
		 * state: a clean result is a clean pool.
		 */
		for (ssize_t i = n; i-- > 0;) {
			struct dx_journal_entry *e = (void *)(area + offs[i]);
			memcpy(ck->base + e->off, e + 1, e->len);
		}
		note(ck,
		     "journal: an interrupted transaction (%zd saved ranges) is pending; the next "
		     "read-write mount rolls it back; checking the pool as the rollback will leave "
		     "it",
		     n);
	} else if (problem(ck, true, "rolled back",
			   "journal: a transaction was interrupted (%zd saved ranges to restore)",
			   n)) {
		struct daxfs *fs = calloc(1, sizeof(*fs));
		int ret;

		if (!fs) {
			free(offs);
			return dx_err(-ENOMEM, "out of memory");
		}
		/* Just what the recovery reads; the same code a mount runs. */
		fs->base = ck->base;
		fs->sb = ck->sb;
		fs->pc = ck->pc;
		fs->jr.hdr = h;
		fs->jr.area = area;
		fs->jr.size = ck->sb.journal_blocks * DX_BLOCK_SIZE - sizeof(*h);
		ret = dx_journal_recover(fs);
		free(fs);
		if (ret < 0) {
			free(offs);
			return ret;
		}
	} else {
		/* A shared read-only mapping (devdax): nothing to roll back in. */
		say(ck, "journal: checking the pool as it is, before the rollback");
	}
	free(offs);
	return 0;
}

/* ---- pass 1: inodes, extents, block ownership ---- */

static bool is_special(uint32_t mode)
{
	return S_ISCHR(mode) || S_ISBLK(mode) || S_ISFIFO(mode) || S_ISSOCK(mode);
}

static int xrec_cmp(const void *a, const void *b)
{
	const struct xrec *x = a, *y = b;

	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

static int push_rec(struct xrec **v, size_t *n, size_t *cap, struct dx_extent *slot)
{
	if (!slot->len)
		return 0;
	if (grow((void **)v, cap, *n + 1, sizeof(**v)))
		return -ENOMEM;
	(*v)[(*n)++] = (struct xrec){slot->lblk, slot->len, slot->pblk, slot};
	return 0;
}

static int new_dirinfo(struct ck *ck, uint64_t ino, struct xrec *x, size_t n, uint64_t nblocks)
{
	if (grow((void **)&ck->dirs, &ck->dirs_cap, ck->ndirs + 1, sizeof(*ck->dirs)))
		return -ENOMEM;
	ck->dirs[ck->ndirs] = (struct dirinfo){.ino = ino, .x = x, .n = n, .nblocks = nblocks};
	ck->is[ino].dir = (uint32_t)++ck->ndirs;
	return 0;
}

/* Write a fresh, empty directory inode into slot ino (the mode last). */
static void write_empty_dir(struct ck *ck, uint64_t ino, uint64_t parent, uint32_t perm)
{
	struct dx_inode *d = &ck->itable[ino - 1], t;

	memset(&t, 0, sizeof(t));
	t.nlink = 2;
	t.parent = parent;
	t.generation = d->generation + 1;
	t.atime = t.mtime = t.ctime = t.btime = ck->now;
	put32(ck, &d->mode, 0);
	memcpy(d, &t, sizeof(t));
	dx_persist(&ck->pc, d, sizeof(*d));
	put32(ck, &d->mode, S_IFDIR | perm);
}

/* Reflink: may one more regular-file data extent map claimed block b? */
static inline bool may_share(const struct ck *ck, uint64_t b)
{
	return ck->fdata && bit(ck->fdata, b) && ck->extra[b] < DX_REFC_MAX;
}

/*
 * Claim an accepted extent's blocks for ino; a shared one waits for 1b.
 * data: a regular file's data extent, which on a reflink pool may share
 * blocks with other such extents (counted in extra).
 */
static int claim(struct ck *ck, uint64_t ino, const struct xrec *x, bool data)
{
	uint64_t first = 0, nbusy = 0, end = x->pblk + x->len;
	uint32_t other = 0;
	char who[64];
	bool fix;

	data = data && ck->fdata;
	for (uint64_t b = x->pblk; b < end; b++) {
		if (ck->owner[b] == OWN_FREE || (data && may_share(ck, b)))
			continue;
		if (!nbusy++) {
			first = b;
			other = ck->owner[b];
		}
	}
	if (!nbusy) {
		for (uint64_t b = x->pblk; b < end; b++) {
			if (ck->owner[b] != OWN_FREE) {
				ck->extra[b]++;
				continue;
			}
			ck->owner[b] = (uint32_t)ino;
			if (data)
				bit_set(ck->fdata, b);
		}
		/* An orphan's claims go if pass 4 frees it. */
		if (data && !ck->itable[ino - 1].nlink) {
			if (grow((void **)&ck->oxs, &ck->oxs_cap, ck->noxs + 1, sizeof(*ck->oxs)))
				return -ENOMEM;
			ck->oxs[ck->noxs++] = (struct oext){ino, x->pblk, x->len};
		}
		return 0;
	}
	for (uint64_t b = x->pblk; b < end; b++)
		if (ck->owner[b] == OWN_FREE)
			ck->owner[b] = OWN_HELD;
	if (own_ino(other))
		snprintf(who, sizeof(who), "inode %u", other);
	else
		snprintf(who, sizeof(who), "another shared extent");
	fix =
	    problem(ck, false, "given a copy",
		    "inode %llu: %llu of the %u blocks of its extent at file block %u (pool block "
		    "%llu) are also used by %s (first: block %llu)",
		    U(ino), U(nbusy), x->len, x->lblk, U(x->pblk), who, U(first));
	if (grow((void **)&ck->dups, &ck->dups_cap, ck->ndups + 1, sizeof(*ck->dups)))
		return -ENOMEM;
	ck->dups[ck->ndups++] = (struct dupent){ino, x->slot, x->lblk, x->len, x->pblk, fix};
	return 0;
}

/* Is the xattr list well formed?  Truncate it at the first bad record. */
static void check_xattrs(struct ck *ck, uint64_t ino, char *xb)
{
	static const char *const prefixes[] = {"user.", "trusted.", "security."};
	size_t pos = 0;
	int idx = 0;

	while (pos + sizeof(struct dx_xattr_rec) <= DX_XATTR_SPACE) {
		struct dx_xattr_rec *r = (void *)(xb + pos);
		size_t rs = sizeof(*r) + ((r->name_len + (size_t)r->value_len + 7) & ~(size_t)7);
		const char *why = NULL;
		bool prefix_ok = false;

		if (!r->name_len)
			return;
		if (pos + rs > DX_XATTR_SPACE) {
			why = "runs past the end of the block";
		} else {
			for (size_t i = 0; i < 3; i++) {
				size_t pl = strlen(prefixes[i]);
				if (r->name_len > pl && !memcmp(r->data, prefixes[i], pl))
					prefix_ok = true;
			}
			if (!prefix_ok || memchr(r->data, '\0', r->name_len))
				why = "has an invalid name";
		}
		if (why) {
			if (problem(ck, false, "list truncated there",
				    "inode %llu: xattr record %d (byte %zu of block %llu) %s",
				    U(ino), idx, pos, U(ck->itable[ino - 1].xattr_blk), why))
				put8(ck, &r->name_len, 0);
			return;
		}
		pos += rs;
		idx++;
	}
}

/* Root is missing or not a directory: the one inode fsck can recreate. */
static int root_bad(struct ck *ck)
{
	struct dx_inode *d = &ck->itable[0];

	if (!problem(ck, false, "recreated empty; its contents go to /lost+found",
		     "root inode is not a directory (mode 0%o)", d->mode))
		return 0;
	write_empty_dir(ck, DX_ROOT_INO, DX_ROOT_INO, 0755);
	ck->is[DX_ROOT_INO].used = 1;
	return new_dirinfo(ck, DX_ROOT_INO, NULL, 0, 0);
}

static int pass1_inode(struct ck *ck, uint64_t ino)
{
	struct dx_inode *d = &ck->itable[ino - 1];
	uint32_t mode = d->mode;
	struct xrec *v = NULL;
	uint64_t *chain = NULL, *link, b, sum = 0, contig = 0;
	size_t n = 0, cap = 0, nchain = 0, chain_cap = 0, k;
	bool clear = false;
	int ret = -ENOMEM;

	if (!dx_v_type(mode)) {
		if (problem(ck, false, "inode cleared", "inode %llu: invalid file type (mode 0%o)",
			    U(ino), mode))
			put32(ck, &d->mode, 0);
		return 0;
	}

	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		if (push_rec(&v, &n, &cap, &d->ext[i]))
			goto out;
	/* The chain: each block in range, met once, and marked as ours. */
	link = &d->ext_next;
	while ((b = *link)) {
		const char *why = NULL;
		struct dx_extent_block *eb;

		if (b < ck->D || b >= ck->N)
			why = "is outside the data region";
		else if (ck->owner[b] == ino)
			why = "loops back into the chain";
		else if (ck->owner[b] != OWN_FREE)
			why = "is already in use";
		else if (((struct dx_extent_block *)blk(ck, b))->owner != ino)
			why = "belongs to another inode (owner field)";
		if (why) {
			if (problem(
				ck, false, "chain cut there",
				"inode %llu: extent block %llu %s; the extents past it are lost",
				U(ino), U(b), why))
				put64(ck, link, 0);
			break;
		}
		eb = blk(ck, b);
		ck->owner[b] = (uint32_t)ino;
		if (grow((void **)&chain, &chain_cap, nchain + 1, sizeof(*chain)))
			goto out;
		chain[nchain++] = b;
		for (int i = 0; i < DX_EXTENTS_PER_BLOCK; i++)
			if (push_rec(&v, &n, &cap, &eb->ext[i]))
				goto out;
		link = &eb->next;
	}

	/* Each record on its own. */
	k = 0;
	for (size_t i = 0; i < n; i++) {
		struct xrec *x = &v[i];
		const char *why = NULL;

		if (x->len > DX_EXTENT_MAX_LEN)
			why = "is longer than an extent may be";
		else if ((uint64_t)x->lblk + x->len > DX_MAX_FILE_BLOCKS)
			why = "ends past the largest file";
		else if (x->pblk < ck->D || x->pblk >= ck->N || x->len > ck->N - x->pblk)
			why = "lies outside the data region";
		else if (is_special(mode))
			why = "belongs to a device, FIFO or socket, which holds no data";
		if (why) {
			if (problem(ck, false, "extent cleared",
				    "inode %llu: extent at file block %u (%u blocks at %llu) %s",
				    U(ino), x->lblk, x->len, U(x->pblk), why))
				put32(ck, &x->slot->len, 0);
			continue;
		}
		v[k++] = *x;
	}
	n = k;
	/* Against each other: no file block mapped twice. */
	if (n)
		qsort(v, n, sizeof(*v), xrec_cmp);
	k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && v[i].lblk < (uint64_t)v[k - 1].lblk + v[k - 1].len) {
			if (problem(
				ck, false, "extent cleared",
				"inode %llu: extent at file block %u (%u blocks at %llu) overlaps "
				"the one at file block %u",
				U(ino), v[i].lblk, v[i].len, U(v[i].pblk), v[k - 1].lblk))
				put32(ck, &v[i].slot->len, 0);
			continue;
		}
		v[k++] = v[i];
	}
	n = k;

	if (S_ISDIR(mode)) {
		/* Slots are addressed by block: blocks 0 .. size/4096 - 1 must
		 * all be there, and nothing past them (the next block added
		 * would land on it). */
		k = 0;
		while (k < n && v[k].lblk == contig)
			contig += v[k++].len;
		for (size_t i = k; i < n; i++)
			if (problem(
				ck, false, "extent cleared",
				"directory %llu: extent at block %u (%u blocks at %llu) lies past "
				"a hole at block %llu",
				U(ino), v[i].lblk, v[i].len, U(v[i].pblk), U(contig)))
				put32(ck, &v[i].slot->len, 0);
		n = k;
		if (d->size != contig * DX_BLOCK_SIZE &&
		    problem(
			ck, false, "fixed",
			"directory %llu: size is %llu, should be %llu (the blocks mapped from 0)",
			U(ino), U(d->size), U(contig * DX_BLOCK_SIZE)))
			put64(ck, &d->size, contig * DX_BLOCK_SIZE);
	} else if (S_ISLNK(mode)) {
		const char *why = NULL;
		if (d->size == 0 || d->size > DX_SYMLINK_MAX)
			why = "has an invalid target length";
		else if (!n || v[0].lblk != 0)
			why = "has no data block";
		else if (memchr(blk(ck, v[0].pblk), '\0', d->size))
			why = "has a NUL byte in its target";
		if (why) {
			if (problem(ck, false, "inode cleared", "symlink %llu %s (size %llu)",
				    U(ino), why, U(d->size)))
				put32(ck, &d->mode, 0);
			clear = true;
		}
	} else if (S_ISREG(mode) && d->size > DX_MAX_FILE_SIZE) {
		uint64_t sz = n ? ((uint64_t)v[n - 1].lblk + v[n - 1].len) * DX_BLOCK_SIZE : 0;
		if (problem(ck, false, "set to the end of its last block",
			    "inode %llu: size %llu is past the largest file", U(ino), U(d->size)))
			put64(ck, &d->size, sz);
	}
	if (clear) {
		/* Nothing of it is kept: its chain blocks are free again. */
		for (size_t i = 0; i < nchain; i++)
			ck->owner[chain[i]] = OWN_FREE;
		ret = 0;
		goto out;
	}
	if (!S_ISDIR(mode) && d->parent &&
	    problem(ck, true, "cleared", "inode %llu (%s): parent field is %llu, should be 0",
		    U(ino), type_name(mode), U(d->parent)))
		put64(ck, &d->parent, 0);

	if (d->intent.kind || dx_intent_invalid(&d->intent)) {
		/* A valid intent is an interrupted layout change that the next
		 * read-write mount completes (intent.c); the state until then
		 * is consistent, so it is not a problem. */
		const char *why = !S_ISREG(mode) ? "on a file that is not regular"
						 : dx_intent_invalid(&d->intent);
		if (!why)
			note(ck,
			     "inode %llu: an interrupted layout change (intent %u) is pending; "
			     "the next read-write mount completes it",
			     U(ino), d->intent.kind);
		else if (problem(ck, false, "cleared", "inode %llu: damaged layout intent (%s)",
				 U(ino), why)) {
			memset(&d->intent, 0, sizeof(d->intent));
			dx_persist(&ck->pc, &d->intent, sizeof(d->intent));
		}
	}

	ck->is[ino].used = 1;
	for (size_t i = 0; i < n; i++) {
		if (claim(ck, ino, &v[i], S_ISREG(mode)))
			goto out;
		sum += v[i].len;
	}
	if (d->blocks != sum &&
	    problem(ck, true, "fixed", "inode %llu: block count is %llu, should be %llu", U(ino),
		    U(d->blocks), U(sum)))
		put64(ck, &d->blocks, sum);

	if (d->xattr_blk) {
		const char *why = NULL;
		b = d->xattr_blk;
		if (b < ck->D || b >= ck->N)
			why = "is outside the data region";
		else if (ck->owner[b] != OWN_FREE)
			why = "is already in use";
		if (why) {
			if (problem(ck, false, "xattrs dropped", "inode %llu: xattr block %llu %s",
				    U(ino), U(b), why))
				put64(ck, &d->xattr_blk, 0);
		} else {
			ck->owner[b] = (uint32_t)ino;
			check_xattrs(ck, ino, blk(ck, b));
		}
	}
	if (S_ISDIR(mode)) {
		if (new_dirinfo(ck, ino, v, n, contig))
			goto out;
		v = NULL;
	}
	ret = 0;
out:
	free(v);
	free(chain);
	return ret ? dx_err(ret, "out of memory checking inode %llu", U(ino)) : 0;
}

/*
 * The inode table's high-water mark, after the journal's rollback (which may
 * move it back).  A damaged one is rebuilt from the whole table: the mark
 * goes above the last slot in use.
 */
static void pass_imark(struct ck *ck)
{
	struct dx_super *sb = (struct dx_super *)(void *)ck->base;
	uint64_t word = sb->itable_mark, last = 1;
	const char *why = dx_v_imark(&ck->sb, word, &ck->M);

	if (!why)
		return;
	for (uint64_t i = 0; i < ck->I; i++)
		if (ck->itable[i].mode)
			last = i + 1;
	ck->M = (last + DX_IMARK_GRANULE - 1) / DX_IMARK_GRANULE * DX_IMARK_GRANULE;
	if (ck->M > ck->I)
		ck->M = ck->I;
	if (problem(ck, false, "rebuilt", "%s (0x%016llx); the last inode slot in use is %llu", why,
		    U(word), U(last)))
		put64(ck, &sb->itable_mark, dx_imark_word(ck->M));
}

static int pass1(struct ck *ck)
{
	int ret;

	verbose(ck, "pass 1: inodes, extents and block ownership");
	for (uint64_t ino = 1; ino <= ck->M; ino++) {
		struct dx_inode *d = &ck->itable[ino - 1];

		if (ino == DX_ROOT_INO && !S_ISDIR(d->mode)) {
			ret = root_bad(ck);
			if (ret)
				return dx_err(ret, "out of memory");
			continue;
		}
		if (!d->mode)
			continue;
		ret = pass1_inode(ck, ino);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- pass 1b: shared blocks; mapping records ---- */

/* Drop directory extents from index i on: the directory ends there. */
static void dir_truncate(struct ck *ck, struct dirinfo *di, size_t i)
{
	struct dx_inode *d = &ck->itable[di->ino - 1];

	for (size_t j = i; j < di->n; j++) {
		struct xrec *x = &di->x[j];
		for (uint64_t b = x->pblk; b < x->pblk + x->len; b++)
			if (ck->owner[b] == di->ino || ck->owner[b] == OWN_HELD)
				ck->owner[b] = OWN_QFREE;
		put32(ck, &x->slot->len, 0);
		put64(ck, &d->blocks, d->blocks - x->len);
	}
	di->n = i;
	di->nblocks = i ? di->x[i - 1].lblk + (uint64_t)di->x[i - 1].len : 0;
	put64(ck, &d->size, di->nblocks * DX_BLOCK_SIZE);
}

static void pass1b(struct ck *ck)
{
	if (ck->ndups)
		verbose(ck, "pass 1b: blocks claimed twice");
	for (size_t i = 0; i < ck->ndups; i++) {
		struct dupent *u = &ck->dups[i];
		struct dx_inode *d = &ck->itable[u->ino - 1];
		struct dirinfo *di = dinfo(ck, u->ino);
		uint64_t nb;
		size_t j = 0;

		if (!u->fix)
			continue;
		if (di) {
			for (j = 0; j < di->n && di->x[j].slot != u->slot; j++)
				;
			if (j == di->n)
				continue; /* dropped with the end of its directory */
		}
		nb = find_free_run(ck, u->len);
		if (nb) {
			/* In use first, then the copy, then the record moves. */
			bitmap_set(ck, nb, u->len);
			for (uint64_t j = 0; j < u->len; j++) {
				ck->owner[nb + j] = (uint32_t)u->ino;
				/* Its own copy: claimed once, by file data. */
				if (ck->fdata && S_ISREG(d->mode))
					bit_set(ck->fdata, nb + j);
			}
			dx_memcpy_nodrain(&ck->pc, blk(ck, nb), blk(ck, u->pblk),
					  (size_t)u->len * DX_BLOCK_SIZE);
			dx_drain(&ck->pc);
			put64(ck, &u->slot->pblk, nb);
			if (di)
				di->x[j].pblk = nb;
		} else {
			say(ck,
			    "inode %llu: no %u free blocks in a row for the copy; extent at file "
			    "block %u dropped instead",
			    U(u->ino), u->len, u->lblk);
			if (di) {
				dir_truncate(ck, di, j);
			} else {
				put32(ck, &u->slot->len, 0);
				put64(ck, &d->blocks, d->blocks - u->len);
			}
		}
		/* The blocks only this extent held are free now. */
		for (uint64_t b = u->pblk; b < u->pblk + u->len; b++)
			if (ck->owner[b] == OWN_HELD)
				ck->owner[b] = OWN_QFREE;
	}
}

/*
 * A snapshot mapping's record (SNAP, or HELD after a crash) holds one
 * reference on each of its blocks, as one more extent would: a block some
 * file's data maps is shared by it once more, and a block no file maps
 * is kept for the record alone (OWN_SNAP; a second record shares it).  A
 * record over anything else (metadata, a directory, quarantine) is
 * damaged: dropping it only drops references the counts never had.
 */
static void snap_claims(struct ck *ck, size_t i, struct dx_maprec *m)
{
	uint64_t end = m->pblk + m->nblocks;

	for (uint64_t b = m->pblk; b < end; b++) {
		uint32_t o = ck->owner[b];

		if (o == OWN_FREE || (bit(ck->fdata, b) && (own_ino(o) || o == OWN_SNAP) &&
				      ck->extra[b] < DX_REFC_MAX))
			continue;
		if (problem(ck, false, "cleared",
			    "mapping record %zu holds references on blocks %llu-%llu, but block "
			    "%llu is not file data",
			    i, U(m->pblk), U(end - 1), U(b))) {
			m->kind = 0;
			dx_persist(&ck->pc, &m->kind, sizeof(m->kind));
		}
		return;
	}
	for (uint64_t b = m->pblk; b < end; b++) {
		if (ck->owner[b] == OWN_FREE) {
			ck->owner[b] = OWN_SNAP;
			bit_set(ck->fdata, b);
		} else {
			ck->extra[b]++;
		}
	}
	if (m->kind == DX_MAPREC_SNAP)
		note(ck,
		     "mapping record %zu: blocks %llu-%llu of inode %llu are a snapshot mapped "
		     "by pid %llu; the next mount drops the record if that process is gone",
		     i, U(m->pblk), U(end - 1), U(m->ino), U(m->holder_pid));
	else
		note(ck,
		     "mapping record %zu: blocks %llu-%llu are held for pid %llu; the next "
		     "mount lets go of them once that process is gone",
		     i, U(m->pblk), U(end - 1), U(m->holder_pid));
}

static void pass_maprecs(struct ck *ck)
{
	size_t nrec = ck->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);
	struct dx_maprec *recs = blk(ck, ck->sb.maprec_blk);

	for (size_t i = 0; i < nrec; i++) {
		struct dx_maprec *m = &recs[i];
		bool ok;

		if (!m->kind)
			continue;
		/* The mount's verifier: what it refuses, fsck clears. */
		ok = !dx_v_maprec(&ck->sb, m);
		if (!ok) {
			if (problem(ck, false, "cleared",
				    "mapping record %zu is damaged (kind %u, blocks %llu+%llu)", i,
				    m->kind, U(m->pblk), U(m->nblocks))) {
				m->kind = 0;
				dx_persist(&ck->pc, &m->kind, sizeof(m->kind));
			}
			continue;
		}
		if (m->kind == DX_MAPREC_SNAP || m->kind == DX_MAPREC_HELD) {
			snap_claims(ck, i, m);
			continue;
		}
		if (m->kind == DX_MAPREC_QUARANTINE) {
			/*
			 * A quarantined block must be out of every file: the
			 * reaper frees it once the holder is gone, and a block
			 * a file still maps would then go to another file.
			 * Dropping the record leaves the blocks with the file
			 * (as when the holder is gone); those of its blocks no
			 * file owns are then reclaimed by the bitmap pass.
			 */
			uint64_t owned = 0, first = 0;
			for (uint64_t b = m->pblk; b < m->pblk + m->nblocks; b++)
				if (own_ino(ck->owner[b]) && !owned++)
					first = b;
			if (owned) {
				if (problem(
					ck, false, "record dropped, blocks left to the file",
					"mapping record %zu: %llu of quarantined blocks %llu-%llu "
					"are still mapped by inode %llu",
					i, U(owned), U(m->pblk), U(m->pblk + m->nblocks - 1),
					U(ck->owner[first]))) {
					m->kind = 0;
					dx_persist(&ck->pc, &m->kind, sizeof(m->kind));
					continue;
				}
				goto mark;
			}
		}
		/* Left for the daemon: it knows whether the holder still runs. */
		if (m->kind == DX_MAPREC_MAP)
			note(ck,
			     "mapping record %zu: blocks %llu-%llu of inode %llu are mapped by "
			     "pid %llu; the next mount drops the record if that process is gone",
			     i, U(m->pblk), U(m->pblk + m->nblocks - 1), U(m->ino),
			     U(m->holder_pid));
		else
			note(ck,
			     "mapping record %zu: blocks %llu-%llu are quarantined for pid %llu; "
			     "the next mount frees them once that process is gone",
			     i, U(m->pblk), U(m->pblk + m->nblocks - 1), U(m->holder_pid));
	mark:
		for (uint64_t b = m->pblk; b < m->pblk + m->nblocks; b++) {
			if (m->kind == DX_MAPREC_QUARANTINE && ck->owner[b] == OWN_FREE)
				ck->owner[b] = OWN_QUAR;
			else
				bit_set(ck->pinned, b);
		}
	}
}

/* ---- pass 2: directory entries ---- */

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

static bool name_ok(const struct dx_dirent *de)
{
	if (!de->name_len)
		return false;
	if (memchr(de->name, '/', de->name_len) || memchr(de->name, '\0', de->name_len))
		return false;
	if (de->name[0] == '.' && (de->name_len == 1 || (de->name_len == 2 && de->name[1] == '.')))
		return false;
	return true;
}

/* Open-addressing set of the names met in one directory. */
struct nameset {
	struct dx_dirent **v;
	size_t mask;
};

/* Insert de; false when the name is there already. */
static bool nameset_add(struct nameset *s, struct dx_dirent *de)
{
	size_t i = name_hash(de->name, de->name_len) & s->mask;

	for (; s->v[i]; i = (i + 1) & s->mask)
		if (s->v[i]->name_len == de->name_len &&
		    !memcmp(s->v[i]->name, de->name, de->name_len))
			return false;
	s->v[i] = de;
	return true;
}

/* A walk over a directory's blocks in order (extents are sorted and
 * contiguous from block 0), without a search per block. */
struct dwalk {
	size_t i;
	uint32_t j;
	uint64_t lb;
};

static struct dx_dirent *dir_next(struct ck *ck, const struct dirinfo *di, struct dwalk *w)
{
	while (w->i < di->n && w->j >= di->x[w->i].len) {
		w->i++;
		w->j = 0;
	}
	if (w->i >= di->n)
		return NULL;
	w->lb = di->x[w->i].lblk + (uint64_t)w->j;
	return blk(ck, di->x[w->i].pblk + w->j++);
}

static int scan_dir(struct ck *ck, uint64_t dino, uint32_t *queue, size_t *tail)
{
	struct dirinfo *di = dinfo(ck, dino);
	uint64_t nslots = di->nblocks * DX_DIRENTS_PER_BLOCK;
	bool reach = ck->is[dino].reach;
	struct dx_dirent *blkp;
	struct nameset set;
	size_t size = 16;
	char name[DX_NAME_MAX + 1];

	while (size < nslots * 2)
		size *= 2;
	set.v = calloc(size, sizeof(*set.v));
	if (!set.v)
		return dx_err(-ENOMEM, "out of memory checking directory %llu", U(dino));
	set.mask = size - 1;

	for (struct dwalk w = {0}; (blkp = dir_next(ck, di, &w));) {
		uint64_t lb = w.lb;

		for (unsigned s = 0; s < DX_DIRENTS_PER_BLOCK; s++) {
			struct dx_dirent *de = &blkp[s];
			uint64_t t = de->ino;
			char why[128] = "";
			uint8_t want;

			if (!t)
				continue;
			if (!name_ok(de))
				snprintf(why, sizeof(why), "has an invalid name");
			else if (t > ck->I)
				snprintf(why, sizeof(why), "names inode %llu, past the inode table",
					 U(t));
			else if (!ck->is[t].used)
				snprintf(why, sizeof(why), "names inode %llu, which is not in use",
					 U(t));
			else if (t == DX_ROOT_INO)
				snprintf(why, sizeof(why), "names the root directory");
			else if (S_ISDIR(ck->itable[t - 1].mode) && ck->is[t].fparent)
				snprintf(why, sizeof(why),
					 "is a second link to directory %llu (the first is in %u)",
					 U(t), ck->is[t].fparent);
			else if (!nameset_add(&set, de))
				snprintf(why, sizeof(why),
					 "repeats a name already in the directory");
			if (why[0]) {
				if (problem(ck, false, "entry cleared",
					    "directory %llu: entry '%s' (slot %llu) %s", U(dino),
					    show_name(de, name), U(lb * DX_DIRENTS_PER_BLOCK + s),
					    why))
					put64(ck, &de->ino, 0);
				continue;
			}
			want = dx_mode_to_dtype(ck->itable[t - 1].mode);
			if (de->type != want &&
			    problem(ck, true, "fixed",
				    "directory %llu: entry '%s' has type %u, inode %llu is a %s",
				    U(dino), show_name(de, name), de->type, U(t),
				    type_name(ck->itable[t - 1].mode)))
				put8(ck, &de->type, want);
			ck->is[t].refs++;
			di->nentries++;
			if (S_ISDIR(ck->itable[t - 1].mode)) {
				struct dirinfo *ci = dinfo(ck, t);
				ck->is[t].fparent = (uint32_t)dino;
				ck->is[dino].subdirs++;
				ci->entry = de;
				if (reach)
					ck->is[t].reach = 1;
				if (!ci->queued) {
					ci->queued = true;
					queue[(*tail)++] = ck->is[t].dir - 1;
				}
			} else if (reach) {
				ck->is[t].reach = 1;
			}
		}
	}
	free(set.v);
	return 0;
}

static int pass2(struct ck *ck)
{
	uint32_t *queue = malloc((ck->ndirs + 1) * sizeof(*queue));
	size_t head = 0, tail = 0;
	int ret = 0;

	verbose(ck, "pass 2: directory entries");
	if (!queue)
		return dx_err(-ENOMEM, "out of memory");
	/* From the root first: whatever that reaches is connected. */
	if (ck->is[DX_ROOT_INO].used) {
		ck->is[DX_ROOT_INO].reach = 1;
		ck->dirs[ck->is[DX_ROOT_INO].dir - 1].queued = true;
		queue[tail++] = ck->is[DX_ROOT_INO].dir - 1;
	}
	for (size_t i = 0;; i++) {
		while (!ret && head < tail)
			ret = scan_dir(ck, ck->dirs[queue[head++]].ino, queue, &tail);
		if (ret || i >= ck->ndirs)
			break;
		/* Then the rest, to count the links they hold. */
		if (!ck->dirs[i].queued) {
			ck->dirs[i].queued = true;
			queue[tail++] = (uint32_t)i;
		}
	}
	free(queue);
	return ret;
}

/* ---- pass 3: parents, orphans, disconnected inodes ---- */

/* Add an entry to directory dino, growing it by a block when it is full. */
static int dir_add(struct ck *ck, uint64_t dino, const char *name, uint64_t ino, uint8_t type,
		   struct dx_dirent **dep)
{
	struct dirinfo *di = dinfo(ck, dino);
	struct dx_inode *d = &ck->itable[dino - 1];
	struct dx_dirent *de = NULL, *bp;
	size_t len = strlen(name);

	for (struct dwalk w = {0}; !de && (bp = dir_next(ck, di, &w));) {
		for (unsigned s = 0; s < DX_DIRENTS_PER_BLOCK && !de; s++)
			if (!bp[s].ino)
				de = &bp[s];
	}
	if (!de) {
		struct dx_extent *slot = NULL;
		struct xrec *last, *nx;
		uint64_t nb = alloc_block(ck, dino);

		if (!nb)
			return -ENOSPC;
		dx_memset_nodrain(&ck->pc, blk(ck, nb), 0, DX_BLOCK_SIZE);
		dx_drain(&ck->pc);
		nx = realloc(di->x, (di->n + 1) * sizeof(*di->x));
		if (!nx)
			return -ENOMEM;
		di->x = nx;
		last = di->n ? &di->x[di->n - 1] : NULL;
		if (last && last->pblk + last->len == nb && last->len < DX_EXTENT_MAX_LEN) {
			/* Right after the last extent: make that one longer. */
			put32(ck, &last->slot->len, last->len + 1);
			last->len++;
		} else {
			for (int i = 0; i < DX_INLINE_EXTENTS && !slot; i++)
				if (!d->ext[i].len)
					slot = &d->ext[i];
			for (uint64_t b = d->ext_next; b && !slot;) {
				struct dx_extent_block *eb = blk(ck, b);
				for (int i = 0; i < DX_EXTENTS_PER_BLOCK && !slot; i++)
					if (!eb->ext[i].len)
						slot = &eb->ext[i];
				b = eb->next;
			}
			if (!slot) {
				uint64_t eb_blk = alloc_block(ck, dino);
				struct dx_extent_block *eb;
				if (!eb_blk)
					return -ENOSPC;
				eb = blk(ck, eb_blk);
				memset(eb, 0, sizeof(*eb));
				eb->owner = dino;
				eb->next = d->ext_next;
				dx_persist(&ck->pc, eb, sizeof(*eb));
				put64(ck, &d->ext_next, eb_blk);
				slot = &eb->ext[0];
			}
			/* The length makes the record live: it goes last. */
			slot->lblk = (uint32_t)di->nblocks;
			slot->pblk = nb;
			dx_persist(&ck->pc, slot, sizeof(*slot));
			put32(ck, &slot->len, 1);
			di->x[di->n++] = (struct xrec){(uint32_t)di->nblocks, 1, nb, slot};
		}
		put64(ck, &d->blocks, d->blocks + 1);
		put64(ck, &d->size, d->size + DX_BLOCK_SIZE);
		de = blk(ck, nb);
		di->nblocks++;
	}
	/* The name first; the ino brings the slot to life. */
	de->type = type;
	de->name_len = (uint8_t)len;
	memcpy(de->name, name, len);
	if (len < sizeof(de->name))
		de->name[len] = '\0';
	dx_persist(&ck->pc, de, sizeof(*de));
	put64(ck, &de->ino, ino);
	di->nentries++;
	if (dep)
		*dep = de;
	return 0;
}

/* Look name up among the kept entries of directory dino. */
static struct dx_dirent *dir_find(struct ck *ck, uint64_t dino, const char *name)
{
	struct dirinfo *di = dinfo(ck, dino);
	size_t len = strlen(name);
	struct dx_dirent *b;

	for (struct dwalk w = {0}; (b = dir_next(ck, di, &w));) {
		for (unsigned s = 0; s < DX_DIRENTS_PER_BLOCK; s++)
			if (b[s].ino && b[s].name_len == len && !memcmp(b[s].name, name, len))
				return &b[s];
	}
	return NULL;
}

/* Initialise the next granule of the inode table and move the mark over it
 * (as the allocator does), for a slot /lost+found needs. */
static void grow_mark(struct ck *ck)
{
	struct dx_super *sb = (struct dx_super *)(void *)ck->base;
	uint64_t to = ck->M + DX_IMARK_GRANULE < ck->I ? ck->M + DX_IMARK_GRANULE : ck->I;

	dx_memset_nodrain(&ck->pc, &ck->itable[ck->M], 0, (to - ck->M) * sizeof(struct dx_inode));
	dx_drain(&ck->pc);
	put64(ck, &sb->itable_mark, dx_imark_word(to));
	ck->M = to;
}

/* Find /lost+found, or make it. */
static int get_lost_found(struct ck *ck, const char **why)
{
	struct dx_dirent *de;
	struct dx_inode *root = &ck->itable[DX_ROOT_INO - 1];
	uint64_t ino = 0;
	int ret;

	if (ck->lf)
		return 0;
	if (!ck->is[DX_ROOT_INO].used) {
		*why = "there is no root directory";
		return -ENOENT;
	}
	de = dir_find(ck, DX_ROOT_INO, "lost+found");
	if (de) {
		if (!S_ISDIR(ck->itable[de->ino - 1].mode)) {
			*why = "/lost+found is not a directory";
			return -ENOTDIR;
		}
		ck->lf = de->ino;
		return 0;
	}
	for (uint64_t i = 2; i <= ck->M && !ino; i++)
		if (!ck->itable[i - 1].mode && !ck->is[i].used)
			ino = i;
	if (!ino && ck->M < ck->I) {
		ino = ck->M + 1;
		grow_mark(ck);
	}
	if (!ino) {
		*why = "no free inode for /lost+found";
		return -ENOSPC;
	}
	write_empty_dir(ck, ino, DX_ROOT_INO, 0700);
	ck->is[ino].used = 1;
	ck->is[ino].reach = 1;
	if (new_dirinfo(ck, ino, NULL, 0, 0)) {
		*why = "out of memory";
		return -ENOMEM;
	}
	ret = dir_add(ck, DX_ROOT_INO, "lost+found", ino, DT_DIR, &de);
	if (ret) {
		*why = "no room in the root directory for /lost+found";
		return ret;
	}
	dinfo(ck, ino)->entry = de;
	ck->is[ino].fparent = DX_ROOT_INO;
	ck->is[ino].refs = 1;
	ck->is[DX_ROOT_INO].subdirs++;
	put32(ck, &root->nlink, root->nlink + 1);
	ck->lf = ino;
	say(ck, "/lost+found created (inode %llu)", U(ino));
	return 0;
}

/* Put ino into /lost+found as "#INO"; cycle: first cut it from its parent. */
static void reconnect(struct ck *ck, uint64_t ino, bool cycle)
{
	struct dx_inode *d = &ck->itable[ino - 1];
	bool dir = S_ISDIR(d->mode);
	const char *why = "";
	struct dx_dirent *de;
	char name[32];
	int ret;

	ret = get_lost_found(ck, &why);
	if (ret) {
		fix_failed(ck, "inode %llu: cannot reconnect it: %s", U(ino), why);
		return;
	}
	snprintf(name, sizeof(name), "#%llu", U(ino));
	for (int i = 1; dir_find(ck, ck->lf, name); i++)
		snprintf(name, sizeof(name), "#%llu.%d", U(ino), i);
	if (cycle) {
		struct dirinfo *di = dinfo(ck, ino);
		uint64_t p = ck->is[ino].fparent;
		/* The old parent's link count is left to pass 4. */
		put64(ck, &di->entry->ino, 0);
		ck->is[p].subdirs--;
		dinfo(ck, p)->nentries--;
		ck->is[ino].refs--;
	}
	ret = dir_add(ck, ck->lf, name, ino, dx_mode_to_dtype(d->mode), &de);
	if (ret) {
		fix_failed(ck,
			   "inode %llu: cannot reconnect it: /lost+found is full and the pool "
			   "has no free block",
			   U(ino));
		return;
	}
	ck->is[ino].refs++;
	ck->is[ino].reach = 1;
	if (dir) {
		struct dx_inode *lfd = &ck->itable[ck->lf - 1];
		put64(ck, &d->parent, ck->lf);
		ck->is[ino].fparent = (uint32_t)ck->lf;
		dinfo(ck, ino)->entry = de;
		ck->is[ck->lf].subdirs++;
		put32(ck, &lfd->nlink, lfd->nlink + 1);
	}
}

static void disconnected(struct ck *ck, uint64_t ino, bool cycle)
{
	struct dx_inode *d = &ck->itable[ino - 1];

	if (problem(ck, false, "reconnected to /lost+found",
		    "inode %llu (%s, %llu bytes) is not connected to the directory tree%s", U(ino),
		    type_name(d->mode), U(d->size), cycle ? " (its directory loop is cut)" : ""))
		reconnect(ck, ino, cycle);
}

static void pass3(struct ck *ck)
{
	uint32_t walk = 0;

	verbose(ck, "pass 3: directory connectivity");
	/* Unlinked while open when the pool was last used: not an error. */
	for (uint64_t ino = 1; ino <= ck->M; ino++) {
		struct ist *s = &ck->is[ino];
		struct dx_inode *d = &ck->itable[ino - 1];
		struct dirinfo *di = dinfo(ck, ino);

		if (s->used && !s->reach && !d->nlink && !s->refs && (!di || !di->nentries))
			s->orphan = 1;
	}

	/*
	 * The tops of what is cut off: a directory no entry names, a
	 * non-directory no entry names (nlink > 0, else it is an orphan),
	 * and one directory of each loop of directories naming each other.
	 * The rest hangs below these and comes back with them.
	 */
	for (uint64_t ino = 1; ino <= ck->M; ino++) {
		struct ist *s = &ck->is[ino];
		uint64_t y;

		if (!s->used || s->reach || s->orphan)
			continue;
		if (!S_ISDIR(ck->itable[ino - 1].mode)) {
			if (!s->refs)
				disconnected(ck, ino, false);
			continue;
		}
		if (!s->fparent) {
			disconnected(ck, ino, false);
			continue;
		}
		if (s->mark)
			continue;
		walk++;
		for (y = ino; y && !ck->is[y].reach && !ck->is[y].mark; y = ck->is[y].fparent)
			ck->is[y].mark = walk;
		if (y && ck->is[y].mark == walk && ck->is[y].fparent && !ck->is[y].reach)
			disconnected(ck, y, true);
	}

	/* After the reconnections, which set the parents they make. */
	for (size_t i = 0; i < ck->ndirs; i++) {
		uint64_t ino = ck->dirs[i].ino, want;
		struct dx_inode *d = &ck->itable[ino - 1];

		if (!ck->is[ino].used)
			continue;
		want = ino == DX_ROOT_INO ? DX_ROOT_INO : ck->is[ino].fparent;
		if (want && d->parent != want &&
		    problem(ck, true, "fixed", "directory %llu: parent is %llu, should be %llu",
			    U(ino), U(d->parent), U(want)))
			put64(ck, &d->parent, want);
	}
}

/* ---- pass 4: link counts, orphans ---- */

/*
 * Reflink: the data extents of the orphans just freed stop counting.  A
 * block that another extent still maps stays in use (OWN_SHARE when the
 * freed inode was its first claimant) and its count drops with the claim,
 * quietly, as the bitmap bits of the freed blocks are cleared: the word is
 * part of freeing the file.  A word that was wrong already is left for
 * pass 5b to report.  The blocks no extent maps any more go with the inode.
 */
static void unshare_freed(struct ck *ck)
{
	for (size_t i = 0; i < ck->noxs; i++) {
		const struct oext *e = &ck->oxs[i];

		if (!ck->is[e->ino].freed)
			continue;
		for (uint64_t b = e->pblk; b < e->pblk + e->len; b++) {
			if (ck->extra[b]) {
				if (ck->refc[b] == ck->extra[b]) {
					__atomic_store_n(&ck->refc[b], (uint16_t)(ck->extra[b] - 1),
							 __ATOMIC_RELAXED);
					dx_flush(&ck->pc, &ck->refc[b], sizeof(ck->refc[b]));
				}
				ck->extra[b]--;
				if (ck->owner[b] == e->ino)
					ck->owner[b] = OWN_SHARE;
			} else if (ck->owner[b] == e->ino || ck->owner[b] == OWN_SHARE) {
				ck->owner[b] = OWN_QFREE;
				bit_clear(ck->fdata, b);
			}
		}
	}
	dx_drain(&ck->pc);
}

static void pass4(struct ck *ck)
{
	bool freed = false;

	verbose(ck, "pass 4: link counts");
	for (uint64_t ino = 1; ino <= ck->M; ino++) {
		struct ist *s = &ck->is[ino];
		struct dx_inode *d = &ck->itable[ino - 1];
		uint64_t want;

		if (!s->used)
			continue;
		if (s->orphan) {
			const char *type = type_name(d->mode);
			if (ck->repair && !ck->stopped) {
				put32(ck, &d->mode, 0);
				s->used = 0;
				s->freed = 1;
				freed = true;
				ck->r->fixed++;
			}
			note(ck,
			     "inode %llu (%s, %llu blocks): orphan, unlinked while open when the "
			     "pool "
			     "was last used; %s",
			     U(ino), type, U(d->blocks),
			     s->freed ? "freed" : "the next mount frees it");
			continue;
		}
		if (!S_ISDIR(d->mode) && !s->refs)
			continue; /* cut off and left so: reported in pass 3 */
		want = S_ISDIR(d->mode) ? 2 + (uint64_t)s->subdirs : s->refs;
		if (d->nlink != want &&
		    problem(ck, true, "fixed", "inode %llu (%s): link count is %u, should be %llu",
			    U(ino), type_name(d->mode), d->nlink, U(want)))
			put32(ck, &d->nlink, (uint32_t)want);
	}
	if (freed && ck->fdata)
		unshare_freed(ck);
	/* Their blocks go with them, without counting as bitmap errors. */
	if (freed)
		for (uint64_t b = ck->D; b < ck->N; b++)
			if (own_ino(ck->owner[b]) && ck->is[ck->owner[b]].freed)
				ck->owner[b] = OWN_QFREE;
}

/* ---- pass 5: block bitmap ---- */

/* What bitmap word w should hold: must-be-set bits, bits that may be
 * either (pinned, unowned), bits that repairs freed. */
static void word_want(struct ck *ck, uint64_t w, uint64_t *set, uint64_t *either, uint64_t *quiet)
{
	*set = *either = *quiet = 0;
	for (unsigned i = 0; i < 64; i++) {
		uint64_t b = w * 64 + i, m = 1ULL << i;
		uint32_t o;

		if (b < ck->D || b >= ck->N) {
			*set |= m;
			continue;
		}
		o = ck->owner[b];
		if (own_used(o))
			*set |= m;
		else if (bit(ck->pinned, b))
			*either |= m;
		else if (o == OWN_QFREE)
			*quiet |= m;
	}
}

static void list_add(char *buf, size_t size, unsigned *n, uint64_t b)
{
	size_t len = strlen(buf);

	if (*n < 8)
		snprintf(buf + len, size - len, "%s%llu", *n ? ", " : "", U(b));
	else if (*n == 8)
		snprintf(buf + len, size - len, ", ...");
	(*n)++;
}

static void pass5(struct ck *ck)
{
	uint64_t nmiss = 0, nextra = 0;
	unsigned lmiss = 0, lextra = 0;
	char miss[256] = "", extra[256] = "";
	bool fix_miss = false, fix_extra = false;

	verbose(ck, "pass 5: block bitmap");
	for (uint64_t w = 0; w < ck->bm_words; w++) {
		uint64_t set, either, quiet, a = ck->bitmap[w], m, x;

		word_want(ck, w, &set, &either, &quiet);
		m = set & ~a;
		x = a & ~set & ~either & ~quiet;
		nmiss += (uint64_t)__builtin_popcountll(m);
		nextra += (uint64_t)__builtin_popcountll(x);
		for (; m && lmiss <= 8; m &= m - 1)
			list_add(miss, sizeof(miss), &lmiss, w * 64 + (uint64_t)__builtin_ctzll(m));
		for (; x && lextra <= 8; x &= x - 1)
			list_add(extra, sizeof(extra), &lextra,
				 w * 64 + (uint64_t)__builtin_ctzll(x));
	}
	if (nmiss)
		fix_miss = problem(ck, true, "fixed",
				   "block bitmap: %llu blocks in use are marked free (%s)",
				   U(nmiss), miss);
	if (nextra)
		fix_extra = problem(ck, true, "fixed",
				    "block bitmap: %llu free blocks are marked in use (%s)",
				    U(nextra), extra);
	if (!ck->repair)
		return;
	for (uint64_t w = 0; w < ck->bm_words; w++) {
		uint64_t set, either, quiet, a = ck->bitmap[w], n = a;

		word_want(ck, w, &set, &either, &quiet);
		if (fix_miss)
			n |= set;
		if (fix_extra)
			n &= set | either | quiet;
		/* Blocks that earlier repairs let go of (orphans, copies). */
		n &= ~quiet;
		if (n != a) {
			ck->bitmap[w] = n;
			dx_flush(&ck->pc, &ck->bitmap[w], sizeof(uint64_t));
		}
	}
	dx_drain(&ck->pc);
}

/* ---- pass 5b: reference counts (reflink) ---- */

/* What a block is, for the reference-count messages; runs of one kind and
 * one wrong count are reported together. */
enum rkind { RK_SHARED, RK_ONE, RK_NOTDATA, RK_META, RK_QUAR, RK_FREE };

struct rrun {
	uint64_t start, n;
	uint16_t want, have;
	enum rkind kind;
	uint32_t owner; /* of the first block */
};

static enum rkind rkind_of(const struct ck *ck, uint64_t b)
{
	uint32_t o = ck->owner[b];

	if (bit(ck->fdata, b) && own_used(o))
		return ck->extra[b] ? RK_SHARED : RK_ONE;
	if (o == OWN_META)
		return RK_META;
	if (o == OWN_QUAR)
		return RK_QUAR;
	if (own_used(o))
		return RK_NOTDATA;
	return RK_FREE;
}

/* Runs reported one by one; the rest in a line of their own. */
#define REFC_REPORT_MAX 32

static void refc_report(struct ck *ck, const struct rrun *u)
{
	bool one = u->n == 1, ino = own_ino(u->owner);
	const char *it = one ? "it" : "each";
	char what[64], who[64] = "";

	if (one)
		snprintf(what, sizeof(what), "block %llu: reference count %u", U(u->start),
			 u->have);
	else
		snprintf(what, sizeof(what), "blocks %llu-%llu: reference counts %u", U(u->start),
			 U(u->start + u->n - 1), u->have);
	switch (u->kind) {
	case RK_SHARED:
		if (ino)
			snprintf(who, sizeof(who), " (inode %u and others)", u->owner);
		problem(ck, true, "fixed", "%s, but %u extents share %s%s", what, u->want + 1U, it,
			who);
		break;
	case RK_ONE:
		if (ino)
			snprintf(who, sizeof(who), " (inode %u)", u->owner);
		problem(ck, true, "fixed", "%s, but only one extent maps %s%s", what, it, who);
		break;
	case RK_NOTDATA:
		problem(ck, true, "fixed",
			"%s, but %s not file data (inode %u), which is never shared", what,
			one ? "it is" : "they are", u->owner);
		break;
	case RK_META:
		problem(ck, true, "fixed", "%s, but %s metadata", what, one ? "it is" : "they are");
		break;
	case RK_QUAR:
		problem(ck, true, "fixed", "%s, but %s quarantined, which is never shared", what,
			one ? "it is" : "they are");
		break;
	case RK_FREE:
		problem(ck, true, "fixed", "%s, but %s free", what, one ? "it is" : "they are");
		break;
	}
}

/*
 * Each block's word against the claims of pass 1 (less those of the
 * orphans pass 4 freed): the regular-file data extents mapping it, less
 * one; 0 for every other block.  The table has no crc of its own: a wrong
 * word is rewritten, word by word, as the bitmap is.
 */
static void pass5b(struct ck *ck)
{
	struct rrun u = {0};
	uint64_t nruns = 0, more = 0;
	bool fix;

	if (!ck->refc)
		return;
	verbose(ck, "pass 5b: block reference counts");
	/* Every report says "fixed" or none does: preen may fix these. */
	fix = ck->repair && !ck->stopped;
	/* One step past the last block, to end the last run. */
	for (uint64_t b = 0; b <= ck->N; b++) {
		uint16_t want = 0, have = 0;
		enum rkind kind = RK_FREE;
		uint32_t owner = OWN_FREE;

		if (b < ck->N) {
			kind = rkind_of(ck, b);
			want = kind == RK_SHARED ? ck->extra[b] : 0;
			have = __atomic_load_n(&ck->refc[b], __ATOMIC_RELAXED);
			owner = ck->owner[b];
		}
		if (u.n && (want == have || want != u.want || have != u.have || kind != u.kind ||
			    owner != u.owner)) {
			if (nruns++ < REFC_REPORT_MAX)
				refc_report(ck, &u);
			else
				more += u.n;
			if (fix) {
				for (uint64_t i = u.start; i < u.start + u.n; i++)
					__atomic_store_n(&ck->refc[i], u.want, __ATOMIC_RELAXED);
				dx_flush(&ck->pc, &ck->refc[u.start], u.n * sizeof(*ck->refc));
			}
			u.n = 0;
		}
		if (want == have)
			continue;
		if (!u.n)
			u = (struct rrun){b, 0, want, have, kind, owner};
		u.n++;
	}
	if (more)
		problem(ck, true, "fixed", "reference counts: %llu more blocks have a wrong count",
			U(more));
	if (fix)
		dx_drain(&ck->pc);
}

/* A mount that found corruption marked the pool; a check that leaves no
 * problem behind clears the mark (as e2fsck resets the error state). */
/* ---- metadata checksums ---- */

static void csum_note(void *ctx, const struct dx_csum_bad *b)
{
	struct ck *ck = ctx;

	if (grow((void **)&ck->csbad, &ck->csbad_cap, ck->ncsbad + 1, sizeof(*b)))
		return; /* out of memory: still fixed at the end, just not named */
	ck->csbad[ck->ncsbad++] = *b;
}

static void csum_report(struct ck *ck, const struct dx_csum_bad *b)
{
	switch ((int)b->kind) {
	case DX_CS_INODE:
		problem(ck, true, "recomputed", "inode %llu: inode checksum mismatch", U(b->ino));
		break;
	case DX_CS_EXTBLK:
		problem(ck, true, "recomputed", "inode %llu: extent block %llu: checksum mismatch",
			U(b->ino), U(b->blk));
		break;
	case DX_CS_DIRBLK:
		problem(ck, true, "recomputed",
			"inode %llu: directory block %llu (file block %llu): checksum mismatch",
			U(b->ino), U(b->blk), U(b->lblk));
		break;
	case DX_CS_MAPREC:
		problem(ck, true, "recomputed", "mapping record %llu: checksum mismatch",
			U(b->blk));
		break;
	default:
		problem(ck, true, "recomputed", "inode %llu: xattr block %llu: checksum mismatch",
			U(b->ino), U(b->blk));
		break;
	}
}

/*
 * Before the other passes (after the journal's rollback): note each
 * checksum that does not match.  They are reported at the end, so that -p
 * stopping at a problem it must not fix alone has changed nothing.
 */
static void pass_csum(struct ck *ck)
{
	if (!dx_csum_enabled(&ck->sb))
		return;
	verbose(ck, "checksums of inodes, extent, directory and xattr blocks, mapping records");
	dx_csum_walk(ck->base, ck->mapped_len, false, csum_note, ck);
}

static void csum_persist(void *ctx, const struct dx_csum_bad *b)
{
	struct ck *ck = ctx;

	dx_persist(&ck->pc, b->field, sizeof(*b->field));
}

/* Last: report the mismatches found at the start; in a repair mode
 * (unless -p stopped) set every crc to what the pool now holds, which
 * also covers the objects the other passes rewrote. */
static void pass_csum_fix(struct ck *ck)
{
	if (!dx_csum_enabled(&ck->sb))
		return;
	for (size_t i = 0; i < ck->ncsbad; i++)
		csum_report(ck, &ck->csbad[i]);
	if (ck->repair && !ck->stopped)
		dx_csum_walk(ck->base, ck->mapped_len, true, csum_persist, ck);
}

static void pass_flags(struct ck *ck)
{
	struct dx_super *sb = (struct dx_super *)(void *)ck->base;

	if (!(ck->sb.flags & DX_SB_NEEDS_FSCK))
		return;
	if (ck->r->uncorrected) {
		say(ck, "the pool stays marked as needing fsck (problems are left)");
		return;
	}
	if (problem(ck, true, "cleared", "the pool is marked as needing fsck (a mount found "
					 "a damaged structure)"))
		dx_super_update_flags(&ck->pc, sb, 0, DX_SB_NEEDS_FSCK);
}

static void stats(struct ck *ck)
{
	struct daxfs_check_result *r = ck->r;

	r->ninodes = ck->I;
	r->data_blocks = ck->N - ck->D;
	r->inodes_used = 0;
	r->data_blocks_used = 0;
	for (uint64_t ino = 1; ino <= ck->M; ino++)
		r->inodes_used += ck->is[ino].used;
	for (uint64_t b = ck->D; b < ck->N; b++)
		if (own_used(ck->owner[b]) || (bit(ck->pinned, b) && bit(ck->bitmap, b)))
			r->data_blocks_used++;
}

DX_EXPORT int daxfs_check(const char *pool, const struct daxfs_check_opts *o,
			  struct daxfs_check_result *r)
{
	struct ck ck = {.o = o, .r = r, .pool = pool, .fd = -1};
	int ret;

	memset(r, 0, sizeof(*r));
	ck.repair = o->mode != DAXFS_CHECK_ONLY;
	ck.preen = o->mode == DAXFS_CHECK_PREEN;
	ret = ck_open(&ck);
	if (!ret)
		ret = pass_journal(&ck);
	if (!ret) {
		pass_imark(&ck);
		pass_csum(&ck);
		ret = pass1(&ck);
	}
	if (!ret) {
		/* Pins first, so that copies do not land on quarantined blocks. */
		pass_maprecs(&ck);
		pass1b(&ck);
		ret = pass2(&ck);
	}
	if (!ret) {
		pass3(&ck);
		pass4(&ck);
		pass5(&ck);
		pass5b(&ck);
		pass_csum_fix(&ck);
		pass_flags(&ck);
		stats(&ck);
	}
	ck_close(&ck);
	return ret;
}
