/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode cache, inode life cycle and attributes.
 *
 * An in-memory inode lives while the kernel holds lookup references, a
 * file is open, or a core call is using it.  When the last of these goes
 * and the inode has no links, its blocks and slot are freed: this is where
 * "space is freed at last close" happens.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core.h"
#include "csum.h"
#include "validate.h"

#define IHASH_INIT 4096

int dx_icache_init(struct daxfs *fs)
{
	fs->ihash_size = IHASH_INIT;
	fs->ihash = calloc(fs->ihash_size, sizeof(*fs->ihash));
	if (!fs->ihash)
		return dx_err(-ENOMEM, "out of memory for the inode cache");
	dx_mutex_init(&fs->icache_lock, DX_LC_ICACHE);
	return 0;
}

static void ino_free_mem(struct dx_ino *ip)
{
	dx_xmap_free(&ip->xmap);
	if (ip->dir) {
		dx_dir_free(ip->dir);
		free(ip->dir);
	}
	dx_rwlock_destroy(&ip->lock);
	dx_mutex_destroy(&ip->load_mu);
	free(ip);
}

void dx_icache_fini(struct daxfs *fs)
{
	for (size_t i = 0; i < fs->ihash_size; i++) {
		struct dx_ino *ip = fs->ihash[i], *next;
		for (; ip; ip = next) {
			next = ip->hnext;
			ino_free_mem(ip);
		}
	}
	free(fs->ihash);
	fs->ihash = NULL;
	free(fs->tokens);
	fs->tokens = NULL;
	dx_mutex_destroy(&fs->icache_lock);
}

static size_t ihash_fn(struct daxfs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 20) & (fs->ihash_size - 1);
}

/* Keep chains short as the cache grows (icache_lock held). */
static void ihash_grow(struct daxfs *fs)
{
	size_t nsize = fs->ihash_size * 2;
	struct dx_ino **nh = calloc(nsize, sizeof(*nh));
	struct dx_ino **old = fs->ihash;
	size_t osize = fs->ihash_size;

	if (!nh)
		return;
	fs->ihash = nh;
	fs->ihash_size = nsize;
	for (size_t i = 0; i < osize; i++) {
		struct dx_ino *ip = old[i], *next;
		for (; ip; ip = next) {
			size_t h = ihash_fn(fs, ip->ino);
			next = ip->hnext;
			ip->hnext = nh[h];
			nh[h] = ip;
		}
	}
	free(old);
}

static struct dx_ino *ihash_find(struct daxfs *fs, uint64_t ino)
{
	struct dx_ino *ip = fs->ihash[ihash_fn(fs, ino)];

	while (ip && ip->ino != ino)
		ip = ip->hnext;
	return ip;
}

static struct dx_ino *ino_new(struct daxfs *fs, uint64_t ino)
{
	struct dx_ino *ip = calloc(1, sizeof(*ip));
	size_t h;

	if (!ip)
		return NULL;
	ip->ino = ino;
	ip->d = &fs->itable[ino - 1];
	ip->type = ip->d->mode & S_IFMT;
	dx_rwlock_init(&ip->lock, DX_LC_INODE, ino);
	dx_mutex_init(&ip->load_mu, DX_LC_LOAD);
	if (fs->icount >= fs->ihash_size)
		ihash_grow(fs);
	h = ihash_fn(fs, ino);
	ip->hnext = fs->ihash[h];
	fs->ihash[h] = ip;
	fs->icount++;
	return ip;
}

static void ihash_remove(struct daxfs *fs, struct dx_ino *ip)
{
	struct dx_ino **pp = &fs->ihash[ihash_fn(fs, ip->ino)];

	while (*pp != ip)
		pp = &(*pp)->hnext;
	*pp = ip->hnext;
	fs->icount--;
}

struct dx_ino *dx_iget(struct daxfs *fs, uint64_t ino)
{
	struct dx_ino *ip;

	/* Slots above the inode table's high-water mark are free. */
	if (ino < 1 || ino > __atomic_load_n(&fs->imark, __ATOMIC_ACQUIRE))
		return NULL;
	dx_mutex_lock(&fs->icache_lock);
	ip = ihash_find(fs, ino);
	if (!ip && fs->itable[ino - 1].mode) {
		const char *why = dx_v_inode(&fs->sb, &fs->itable[ino - 1]);
		if (!why && !dx_csum_inode_ok(fs, ino, &fs->itable[ino - 1]))
			why = "checksum mismatch";
		/* Report a damaged inode where it is first read; the loaders
		 * (dx_iload) refuse to use it. */
		if (why)
			dx_corrupt(fs, ino, "inode", "%s (mode 0%o)", why, fs->itable[ino - 1].mode);
		ip = ino_new(fs, ino);
	}
	if (ip)
		ip->refs++;
	dx_mutex_unlock(&fs->icache_lock);
	return ip;
}

/* Drop the cache entry if nothing holds it; free the inode if unlinked. */
static void ino_maybe_evict(struct daxfs *fs, struct dx_ino *ip)
{
	bool evict = !ip->refs && !ip->nlookup && !ip->nopen;

	if (evict)
		ihash_remove(fs, ip);
	dx_mutex_unlock(&fs->icache_lock);
	if (!evict)
		return;
	if (ip->d->nlink == 0 && !fs->readonly)
		dx_inode_destroy(fs, ip);
	ino_free_mem(ip);
}

void dx_iput(struct daxfs *fs, struct dx_ino *ip)
{
	if (!ip)
		return;
	dx_mutex_lock(&fs->icache_lock);
	ip->refs--;
	ino_maybe_evict(fs, ip);
}

void dx_open_ref(struct daxfs *fs, struct dx_ino *ip)
{
	dx_mutex_lock(&fs->icache_lock);
	ip->nopen++;
	dx_mutex_unlock(&fs->icache_lock);
}

void dx_open_unref(struct daxfs *fs, struct dx_ino *ip)
{
	dx_mutex_lock(&fs->icache_lock);
	ip->nopen--;
	ino_maybe_evict(fs, ip);
}

void dx_ilookup_ref(struct daxfs *fs, struct dx_ino *ip)
{
	dx_mutex_lock(&fs->icache_lock);
	ip->nlookup++;
	dx_mutex_unlock(&fs->icache_lock);
}

DX_EXPORT void daxfs_forget(struct daxfs *fs, uint64_t ino, uint64_t nlookup)
{
	struct dx_ino *ip;

	dx_mutex_lock(&fs->icache_lock);
	ip = ino >= 1 && ino <= fs->sb.ninodes ? ihash_find(fs, ino) : NULL;
	if (!ip) {
		dx_mutex_unlock(&fs->icache_lock);
		return;
	}
	ip->nlookup = nlookup > ip->nlookup ? 0 : ip->nlookup - nlookup;
	ino_maybe_evict(fs, ip);
}

void dx_inode_destroy_slot(struct daxfs *fs, uint64_t ino)
{
	dx_iput(fs, dx_iget(fs, ino));
}

int dx_iload(struct daxfs *fs, struct dx_ino *ip)
{
	int ret = 0;

	if (__atomic_load_n(&ip->loaded, __ATOMIC_ACQUIRE))
		return 0;
	dx_mutex_lock(&ip->load_mu);
	if (!ip->loaded) {
		ret = dx_xmap_load(fs, ip);
		if (!ret && S_ISDIR(ip->type))
			ret = dx_dir_load(fs, ip);
		if (!ret)
			__atomic_store_n(&ip->loaded, true, __ATOMIC_RELEASE);
	}
	dx_mutex_unlock(&ip->load_mu);
	return ret;
}

int dx_iget_loaded(struct daxfs *fs, uint64_t ino, mode_t type, struct dx_ino **ipp)
{
	struct dx_ino *ip = dx_iget(fs, ino);
	mode_t mode;
	int ret = 0;

	if (!ip)
		return -ENOENT;
	mode = ip->type;
	if (type == S_IFDIR && !S_ISDIR(mode))
		ret = -ENOTDIR;
	else if (type == S_IFREG && !S_ISREG(mode))
		ret = S_ISDIR(mode) ? -EISDIR : -EINVAL;
	if (!ret)
		ret = dx_iload(fs, ip);
	if (ret) {
		dx_iput(fs, ip);
		return ret;
	}
	*ipp = ip;
	return 0;
}

void dx_now(struct dx_time *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = (uint32_t)ts.tv_nsec;
	t->pad = 0;
}

void dx_touch_time(struct daxfs *fs, struct dx_time *t, const struct dx_time *now)
{
	dx_tx_add(fs, t, sizeof(*t));
	*t = *now;
}

void dx_log_inode(struct daxfs *fs, struct dx_ino *ip, bool map)
{
	size_t from = offsetof(struct dx_inode, nlink);
	size_t to = map ? offsetof(struct dx_inode, intent) : offsetof(struct dx_inode, btime);

	dx_tx_log(fs, (char *)ip->d + from, to - from);
}

static void to_ts(struct timespec *ts, const struct dx_time *t)
{
	ts->tv_sec = t->sec;
	ts->tv_nsec = t->nsec;
}

struct dx_time dx_inode_time(const struct dx_inode *d, const struct dx_time *t)
{
	uint64_t w = d->wtime;
	struct dx_time wt = {.sec = (int64_t)(w / 1000000000u),
			     .nsec = (uint32_t)(w % 1000000000u)};

	if (!w || t->sec > wt.sec || (t->sec == wt.sec && t->nsec >= wt.nsec))
		return *t;
	return wt;
}

void dx_fill_stat(struct daxfs *fs, struct dx_ino *ip, struct stat *st)
{
	struct dx_time mt, ct;
	const struct dx_inode *d = ip->d;

	(void)fs;
	memset(st, 0, sizeof(*st));
	st->st_ino = ip->ino;
	st->st_mode = d->mode;
	st->st_nlink = d->nlink;
	st->st_uid = d->uid;
	st->st_gid = d->gid;
	st->st_rdev = d->rdev;
	st->st_size = (off_t)d->size;
	st->st_blksize = DX_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)(d->blocks * (DX_BLOCK_SIZE / 512));
	to_ts(&st->st_atim, &d->atime);
	mt = dx_inode_time(d, &d->mtime);
	ct = dx_inode_time(d, &d->ctime);
	to_ts(&st->st_mtim, &mt);
	to_ts(&st->st_ctim, &ct);
}

struct dx_ino *dx_inode_create(struct daxfs *fs, mode_t mode, uid_t uid, gid_t gid, dev_t rdev)
{
	uint64_t ino = dx_alloc_inode(fs);
	struct dx_inode *d;
	struct dx_ino *ip;
	uint32_t gen;

	if (!ino)
		return NULL;
	d = &fs->itable[ino - 1];
	gen = d->generation + 1;
	/* Under the cache lock until the inode is cached: a dx_iget that
	 * saw the mode before would check a crc that only the commit sets. */
	dx_mutex_lock(&fs->icache_lock);
	/* The mode marks the slot live; the rest of a free slot is garbage. */
	dx_tx_add(fs, &d->mode, sizeof(d->mode));
	dx_tx_touch(fs, d, sizeof(*d));
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->uid = uid;
	d->gid = gid;
	d->rdev = rdev;
	d->generation = gen;
	dx_now(&d->atime);
	d->mtime = d->ctime = d->btime = d->atime;
	ip = ino_new(fs, ino);
	if (ip)
		ip->refs = 1;
	dx_mutex_unlock(&fs->icache_lock);
	if (!ip)
		abort(); /* inside a transaction; see journal.c */
	/* An empty map whose inline extent slots are free to use: the first
	 * extents of a new file cost no extent block.  (Not dx_xmap_load:
	 * the slot is not a valid inode until the caller fills it.) */
	if (dx_xmap_init(ip))
		abort(); /* out of memory inside a transaction */
	ip->loaded = true;
	if (S_ISDIR(mode)) {
		ip->dir = calloc(1, sizeof(*ip->dir));
		if (!ip->dir || dx_dir_load(fs, ip))
			abort();
	}
	return ip;
}

/*
 * Called with no references left and nlink == 0.  The blocks go first, in
 * as many transactions as the journal needs; each commit leaves a valid
 * orphan (a directory's size follows its blocks, and a symlink keeps its
 * one block until the transaction that frees the slot), which the next
 * mount frees if a crash comes first.  If the blocks cannot be removed
 * the inode stays an orphan rather than being freed over blocks it maps.
 */
void dx_inode_destroy(struct daxfs *fs, struct dx_ino *ip)
{
	struct dx_inode *d = ip->d;
	int ret;

	if (dx_iload(fs, ip))
		return; /* out of memory: the orphan is reclaimed at next mount */
	dx_wrlock(&ip->lock);
	for (;;) {
		dx_tx_begin(fs);
		/* The whole slot ahead, unsealed: the first dx_tx_add below
		 * fences it, and the inline extent slots, size and mode then
		 * need no entries of their own. */
		dx_tx_log(fs, d, sizeof(*d));
		ret = dx_xmap_remove(fs, ip, 0, DX_MAX_FILE_BLOCKS, false);
		if (S_ISDIR(d->mode)) {
			/* Blocks go from the end: the ones left are 0..n. */
			const struct dx_xmap *m = &ip->xmap;
			uint64_t size =
			    m->n ? ((uint64_t)m->v[m->n - 1].lblk + m->v[m->n - 1].len) * DX_BLOCK_SIZE
				 : 0;

			if (size != d->size) {
				dx_tx_add(fs, &d->size, sizeof(d->size));
				d->size = size;
			}
		}
		if (ret != -EAGAIN)
			break;
		dx_tx_commit(fs);
	}
	if (ret) {
		dx_tx_commit(fs);
		dx_rwunlock(&ip->lock);
		return; /* kept as an orphan: the next mount frees it */
	}
	dx_xattr_release(fs, ip);
	dx_xmap_release_blocks(fs, ip);
	dx_tx_add(fs, &d->mode, sizeof(d->mode));
	d->mode = 0;
	{
		struct dx_journal *jr = &fs->jr;
		if (jr->nifrees == jr->ifrees_cap) {
			size_t nc = jr->ifrees_cap ? jr->ifrees_cap * 2 : 16;
			uint64_t *v = realloc(jr->ifrees, nc * sizeof(*v));
			if (!v)
				abort();
			jr->ifrees = v;
			jr->ifrees_cap = nc;
		}
		jr->ifrees[jr->nifrees++] = ip->ino;
	}
	dx_tx_commit(fs);
	dx_rwunlock(&ip->lock);
}

/*
 * Write-lock the inodes of v[0..n) in ascending ino order (core.h), each
 * once: NULL entries and repeats are skipped.  A namespace change locks
 * every inode whose attributes it changes, the directories too, so that a
 * reader holding only an inode's lock (getattr) sees no half-made change.
 */
void dx_lock_inodes(struct dx_ino *const *v, int n)
{
	struct dx_ino *s[DX_LOCK_MAX];
	int k = 0;

	assert(n <= DX_LOCK_MAX);
	for (int i = 0; i < n; i++) {
		struct dx_ino *ip = v[i];
		int j;

		if (!ip)
			continue;
		for (j = 0; j < k && s[j] != ip; j++)
			;
		if (j < k)
			continue;
		for (j = k++; j > 0 && s[j - 1]->ino > ip->ino; j--)
			s[j] = s[j - 1];
		s[j] = ip;
	}
	for (int i = 0; i < k; i++)
		dx_wrlock(&s[i]->lock);
}

void dx_unlock_inodes(struct dx_ino *const *v, int n)
{
	for (int i = 0; i < n; i++) {
		int j;

		if (!v[i])
			continue;
		for (j = 0; j < i && v[j] != v[i]; j++)
			;
		if (j == i)
			dx_rwunlock(&v[i]->lock);
	}
}

bool dx_cred_in_group(const struct daxfs_cred *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

DX_EXPORT int daxfs_drop_privs(struct daxfs *fs, uint64_t ino, const struct daxfs_cred *cred,
			       int all)
{
	struct dx_ino *ip;
	uint32_t mode, drop = 0;

	if (cred->uid == 0 || fs->readonly)
		return 0;
	ip = dx_iget(fs, ino);
	if (!ip)
		return -ENOENT;
	dx_wrlock(&ip->lock);
	mode = ip->d->mode;
	if (S_ISREG(mode)) {
		if (all && (mode & S_ISUID))
			drop |= S_ISUID;
		if ((mode & S_ISGID) &&
		    ((mode & S_IXGRP) ? all : !dx_cred_in_group(cred, ip->d->gid)))
			drop |= S_ISGID;
	}
	if (drop) {
		struct dx_time now;

		dx_now(&now);
		dx_tx_begin(fs);
		dx_tx_add(fs, &ip->d->mode, sizeof(ip->d->mode));
		ip->d->mode = mode & ~drop;
		dx_touch_time(fs, &ip->d->ctime, &now);
		dx_tx_commit(fs);
	}
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return drop ? 1 : 0;
}

DX_EXPORT int daxfs_getattr(struct daxfs *fs, uint64_t ino, struct stat *st)
{
	struct dx_ino *ip = dx_iget(fs, ino);

	if (!ip)
		return -ENOENT;
	dx_rdlock(&ip->lock);
	dx_fill_stat(fs, ip, st);
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return 0;
}

static struct dx_time from_ts(const struct timespec *ts)
{
	struct dx_time t = {.sec = ts->tv_sec, .nsec = (uint32_t)ts->tv_nsec};
	return t;
}

int dx_setattr_locked(struct daxfs *fs, struct dx_ino *ip, const struct daxfs_setattr *sa,
		      struct stat *st)
{
	struct dx_inode *d = ip->d;
	struct dx_time now;
	bool shrink;

	/* Growing zeroes the old last block's tail in place (below): it
	 * must be the file's own first. */
	if ((sa->valid & DX_SET_SIZE) && sa->size > d->size && d->size % DX_BLOCK_SIZE) {
		int ret = dx_cow_break(fs, ip, d->size / DX_BLOCK_SIZE, d->size / DX_BLOCK_SIZE + 1);

		if (ret)
			return ret;
	}
	dx_now(&now);
	dx_tx_begin(fs);
	dx_tx_add(fs, d, sizeof(*d));
	/* Fold the time of in-place writes into mtime and ctime, so that the
	 * times set below are what the inode reports. */
	if (d->wtime) {
		d->mtime = dx_inode_time(d, &d->mtime);
		d->ctime = dx_inode_time(d, &d->ctime);
		d->wtime = 0;
	}
	shrink = (sa->valid & DX_SET_SIZE) && sa->size < d->size;
	if (sa->valid & DX_SET_SIZE) {
		if (sa->size > d->size && d->size % DX_BLOCK_SIZE) {
			/* Bytes past the old end in its last block must read as
			 * zero once the file grows over them. */
			void *b = dx_xmap_addr(fs, ip, d->size / DX_BLOCK_SIZE);
			if (b) {
				size_t o = d->size % DX_BLOCK_SIZE;
				dx_memset_nodrain(&fs->pc, (char *)b + o, 0, DX_BLOCK_SIZE - o);
			}
		}
		if (sa->size != d->size || !(sa->valid & (DX_SET_MTIME | DX_SET_MTIME_NOW)))
			d->mtime = now;
		d->size = sa->size;
	}
	if (sa->valid & DX_SET_MODE)
		d->mode = (d->mode & S_IFMT) | (sa->mode & 07777);
	if (sa->valid & (DX_SET_UID | DX_SET_GID)) {
		if (sa->valid & DX_SET_UID)
			d->uid = sa->uid;
		if (sa->valid & DX_SET_GID)
			d->gid = sa->gid;
		/* As chown(2) on Linux: a non-directory loses setuid, and
		 * setgid when it means "group executable" rather than locking. */
		if (!S_ISDIR(d->mode) && !(sa->valid & DX_SET_MODE)) {
			d->mode &= ~S_ISUID;
			if (d->mode & S_IXGRP)
				d->mode &= ~S_ISGID;
		}
	}
	if (sa->valid & DX_SET_ATIME_NOW)
		d->atime = now;
	else if (sa->valid & DX_SET_ATIME)
		d->atime = from_ts(&sa->atime);
	if (sa->valid & DX_SET_MTIME_NOW)
		d->mtime = now;
	else if (sa->valid & DX_SET_MTIME)
		d->mtime = from_ts(&sa->mtime);
	d->ctime = (sa->valid & DX_SET_CTIME) ? from_ts(&sa->ctime) : now;
	if (shrink) {
		/* The new size and attributes commit with the intent to free
		 * the blocks past the end; a crash after that commit is rolled
		 * forward (intent.c), however many transactions it takes. */
		struct dx_intent in = {.kind = DX_INTENT_TRUNCATE, .size = d->size};

		dx_intent_set(fs, ip, &in);
		dx_intent_run(fs, ip, 0);
	} else {
		dx_tx_commit(fs);
	}
	if (st)
		dx_fill_stat(fs, ip, st);
	return 0;
}

DX_EXPORT void daxfs_setattr_async(struct daxfs *fs, uint64_t ino, const struct daxfs_setattr *sa,
				   const struct daxfs_cred *cred, struct stat *st,
				   daxfs_done_t done, void *ctx)
{
	struct dx_ino *ip;
	struct dx_inode *d;
	struct dx_lop *op;
	int ret = 0;

	(void)cred;
	if (fs->readonly) {
		done(ctx, -EROFS);
		return;
	}
	ip = dx_iget(fs, ino);
	if (!ip) {
		done(ctx, -ENOENT);
		return;
	}
	d = ip->d;
	if (sa->valid & DX_SET_SIZE) {
		if (S_ISDIR(d->mode))
			ret = -EISDIR;
		else if (!S_ISREG(d->mode))
			ret = -EINVAL;
		else if (sa->size > DX_MAX_FILE_SIZE)
			ret = -EFBIG;
	}
	if (!ret)
		ret = dx_iload(fs, ip);
	if (ret) {
		dx_iput(fs, ip);
		done(ctx, ret);
		return;
	}
	if (!(sa->valid & DX_SET_SIZE)) {
		/* Attributes only: no layout change, nothing to wait for. */
		dx_wrlock(&ip->lock);
		ret = dx_setattr_locked(fs, ip, sa, st);
		dx_rwunlock(&ip->lock);
		dx_iput(fs, ip);
		done(ctx, ret);
		return;
	}
	op = dx_lop_alloc(fs, ip, DX_LOP_SETATTR, done, ctx);
	if (!op)
		return;
	op->sa = *sa;
	op->st = st;
	dx_layout_submit(fs, ip, op);
}
