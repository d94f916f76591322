/* SPDX-License-Identifier: MIT */
/*
 * dir.c - directories.
 *
 * In the pool a directory is an array of fixed 272-byte entry slots, 15 per
 * block, in the directory's own extent map; a slot with ino 0 is free.
 * Slots never move, so a readdir offset (slot number + 3) stays valid while
 * entries come and go.  In DRAM a chained hash table over the slots makes
 * lookup O(1) however large the directory is; it is built on first use.
 * Directory contents are guarded by fs->ns_lock.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "csum.h"
#include "validate.h"

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

uint8_t dx_mode_to_dtype(uint32_t mode)
{
	return (uint8_t)((mode & S_IFMT) >> 12);
}

static struct dx_dirent *slot_ptr(struct dx_dirindex *d, uint32_t s)
{
	return &d->blocks[s / DX_DIRENTS_PER_BLOCK][s % DX_DIRENTS_PER_BLOCK];
}

static int push_free(struct dx_dirindex *d, uint32_t s)
{
	if (d->nfree == d->free_cap) {
		size_t nc = d->free_cap ? d->free_cap * 2 : 64;
		uint32_t *v = realloc(d->free, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->free = v;
		d->free_cap = nc;
	}
	d->free[d->nfree++] = s;
	return 0;
}

static void hash_link(struct dx_dirindex *d, uint32_t s)
{
	struct dx_dirent *de = slot_ptr(d, s);
	size_t b = name_hash(de->name, de->name_len) & (d->nbuckets - 1);

	d->hash_next[s] = d->hash_head[b];
	d->hash_head[b] = s + 1;
}

static void hash_unlink(struct dx_dirindex *d, uint32_t s)
{
	struct dx_dirent *de = slot_ptr(d, s);
	uint32_t *pp = &d->hash_head[name_hash(de->name, de->name_len) & (d->nbuckets - 1)];

	while (*pp != s + 1)
		pp = &d->hash_next[*pp - 1];
	*pp = d->hash_next[s];
}

/* Make room in the index for nblocks blocks of slots. */
static int index_reserve(struct dx_dirindex *d, size_t nblocks)
{
	size_t slots = nblocks * DX_DIRENTS_PER_BLOCK;

	if (nblocks > d->blocks_cap) {
		size_t nc = d->blocks_cap ? d->blocks_cap * 2 : 4;
		struct dx_dirent **v;
		while (nc < nblocks)
			nc *= 2;
		v = realloc(d->blocks, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->blocks = v;
		d->blocks_cap = nc;
	}
	if (slots > d->slots_cap) {
		size_t nc = d->slots_cap ? d->slots_cap * 2 : 64;
		uint32_t *v;
		while (nc < slots)
			nc *= 2;
		v = realloc(d->hash_next, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->hash_next = v;
		d->slots_cap = nc;
	}
	/* Rehash when the chains would average more than two. */
	if (slots > d->nbuckets * 2) {
		size_t nb = d->nbuckets ? d->nbuckets : 16;
		uint32_t *h;
		while (slots > nb * 2)
			nb *= 2;
		h = calloc(nb, sizeof(*h));
		if (!h)
			return -ENOMEM;
		free(d->hash_head);
		d->hash_head = h;
		d->nbuckets = nb;
		for (size_t s = 0; s < d->nblocks * DX_DIRENTS_PER_BLOCK; s++)
			if (slot_ptr(d, (uint32_t)s)->ino)
				hash_link(d, (uint32_t)s);
	}
	return 0;
}

/* Add block b (already in the index's blocks array) to the free/hash sets. */
static int index_block(struct dx_dirindex *d, size_t b)
{
	for (int i = DX_DIRENTS_PER_BLOCK - 1; i >= 0; i--) {
		uint32_t s = (uint32_t)(b * DX_DIRENTS_PER_BLOCK + (size_t)i);
		if (slot_ptr(d, s)->ino) {
			hash_link(d, s);
			d->count++;
		} else if (push_free(d, s)) {
			return -ENOMEM;
		}
	}
	return 0;
}

/* An entry changes: so does its block's crc. */
static void note_dirent(struct daxfs *fs, const struct dx_dirent *de)
{
	dx_csum_note_block(fs, DX_CS_DIRBLK,
			   (const void *)((uintptr_t)de & ~(uintptr_t)(DX_BLOCK_SIZE - 1)));
}

void dx_dir_log(struct daxfs *fs, const struct dx_dirent *de, size_t len)
{
	/* Its block's crc entry first, so that one seal fences both. */
	note_dirent(fs, de);
	dx_tx_log(fs, de, len);
}

int dx_dir_load(struct daxfs *fs, struct dx_ino *dp)
{
	struct dx_dirindex *d = dp->dir;
	size_t nblocks = dp->d->size / DX_BLOCK_SIZE; /* matches the extents (validate.c) */

	if (!d) {
		d = dp->dir = calloc(1, sizeof(*d));
		if (!d)
			return dx_err(-ENOMEM, "out of memory");
	}
	dx_dir_free(d); /* a failed load is retried from nothing */
	if (index_reserve(d, nblocks ? nblocks : 1))
		return dx_err(-ENOMEM, "out of memory loading directory %llu",
			      (unsigned long long)dp->ino);
	for (size_t b = 0; b < nblocks; b++) {
		d->blocks[b] = dx_xmap_addr(fs, dp, b);
		if (!d->blocks[b])
			return dx_corrupt(fs, dp->ino, "directory", "block %zu is missing", b);
		if (!dx_csum_dirblk_ok(fs, dx_off(fs, d->blocks[b]) / DX_BLOCK_SIZE, d->blocks[b]))
			return dx_corrupt(fs, dp->ino, "directory block",
					  "checksum mismatch (file block %zu, pool block %llu)", b,
					  (unsigned long long)(dx_off(fs, d->blocks[b]) / DX_BLOCK_SIZE));
		for (size_t i = 0; i < DX_DIRENTS_PER_BLOCK; i++) {
			const struct dx_dirent *de = &d->blocks[b][i];
			const char *why = de->ino ? dx_v_dirent(&fs->sb, de) : NULL;
			if (why)
				return dx_corrupt(fs, dp->ino, "directory entry",
						  "%s (slot %zu, inode %llu, name length %u)", why,
						  b * DX_DIRENTS_PER_BLOCK + i,
						  (unsigned long long)de->ino, de->name_len);
		}
	}
	d->nblocks = nblocks;
	/* Free slots are popped from the top: push high blocks first. */
	for (size_t b = nblocks; b-- > 0;)
		if (index_block(d, b))
			return dx_err(-ENOMEM, "out of memory");
	return 0;
}

void dx_dir_free(struct dx_dirindex *d)
{
	free(d->blocks);
	free(d->hash_head);
	free(d->hash_next);
	free(d->free);
	memset(d, 0, sizeof(*d));
}

struct dx_dirent *dx_dir_find(struct daxfs *fs, struct dx_ino *dp, const char *name, size_t len,
			      uint32_t *slotp)
{
	struct dx_dirindex *d = dp->dir;
	uint32_t s;

	(void)fs;
	if (!d->nbuckets)
		return NULL;
	s = d->hash_head[name_hash(name, len) & (d->nbuckets - 1)];
	for (; s; s = d->hash_next[s - 1]) {
		struct dx_dirent *de = slot_ptr(d, s - 1);
		if (de->name_len == len && !memcmp(de->name, name, len)) {
			if (slotp)
				*slotp = s - 1;
			return de;
		}
	}
	return NULL;
}

uint64_t dx_dir_add_need(struct dx_ino *dp)
{
	return dp->dir->nfree ? 0 : 1 + dx_xmap_meta_need(dp, 1);
}

int dx_dir_reserve(struct daxfs *fs, struct dx_ino *dp)
{
	struct dx_dirindex *d = dp->dir;
	size_t nb = d->nblocks;
	uint64_t pblk, goal;
	char *blk;
	int ret;

	if (d->nfree)
		return 0;
	goal = nb ? dx_off(fs, d->blocks[nb - 1]) / DX_BLOCK_SIZE + 1 : 0;
	if (index_reserve(d, nb + 1))
		return -ENOMEM;
	if (!dx_alloc_blocks(fs, goal, 1, &pblk))
		return -ENOSPC;
	blk = dx_blk(fs, pblk);
	dx_tx_touch(fs, blk, DX_BLOCK_SIZE);
	dx_csum_note_block(fs, DX_CS_DIRBLK, blk);
	memset(blk, 0, DX_BLOCK_SIZE);
	ret = dx_xmap_insert(fs, dp, (uint32_t)nb, pblk, 1);
	if (ret) {
		/* Nothing of the directory changed: give the block back
		 * (freed at commit, so the bitmap ends as it was). */
		dx_free_blocks(fs, pblk, 1);
		return ret;
	}
	dx_tx_add(fs, &dp->d->size, 2 * sizeof(uint64_t)); /* size, blocks */
	dp->d->size += DX_BLOCK_SIZE;
	dp->d->blocks += 1;
	d->blocks[nb] = (struct dx_dirent *)blk;
	d->nblocks = nb + 1;
	if (index_block(d, nb))
		abort(); /* inside a transaction */
	return 0;
}

int dx_dir_add(struct daxfs *fs, struct dx_ino *dp, const char *name, size_t len, uint64_t ino,
	       uint8_t type)
{
	struct dx_dirindex *d = dp->dir;
	struct dx_dirent *de;
	uint32_t s;
	int ret = dx_dir_reserve(fs, dp);

	if (ret)
		return ret;
	s = d->free[--d->nfree];
	de = slot_ptr(d, s);
	/* The ino field brings the slot to life: it is what a rollback must
	 * restore; the name bytes of a free slot are nobody's. */
	note_dirent(fs, de);
	dx_tx_add(fs, &de->ino, sizeof(de->ino));
	dx_tx_touch(fs, de, sizeof(*de));
	de->type = type;
	de->name_len = (uint8_t)len;
	memcpy(de->name, name, len);
	if (len < sizeof(de->name))
		de->name[len] = '\0';
	de->ino = ino;
	hash_link(d, s);
	d->count++;
	return 0;
}

struct dx_dirent *dx_dir_next_slot(struct dx_ino *dp)
{
	struct dx_dirindex *d = dp->dir;

	return slot_ptr(d, d->free[d->nfree - 1]);
}

void dx_dir_remove(struct daxfs *fs, struct dx_ino *dp, uint32_t s)
{
	struct dx_dirindex *d = dp->dir;
	struct dx_dirent *de = slot_ptr(d, s);

	hash_unlink(d, s);
	note_dirent(fs, de);
	dx_tx_add(fs, &de->ino, sizeof(de->ino));
	de->ino = 0;
	d->count--;
	if (push_free(d, s))
		abort(); /* inside a transaction */
}

void dx_dir_retarget(struct daxfs *fs, struct dx_dirent *de, uint64_t ino, uint8_t type)
{
	note_dirent(fs, de);
	dx_tx_add(fs, de, 16);
	de->ino = ino;
	de->type = type;
}

DX_EXPORT int daxfs_readdir(struct daxfs *fs, uint64_t ino, off_t off, int plus,
			    daxfs_filldir_t fill, void *ctx)
{
	struct dx_ino *dp;
	struct dx_dirindex *d;
	struct stat st;
	int ret = dx_iget_loaded(fs, ino, S_IFDIR, &dp);

	if (ret)
		return ret;
	dx_rdlock(&fs->ns_lock);
	d = dp->dir;
	memset(&st, 0, sizeof(st));
	if (off < 1) {
		dx_rdlock(&dp->lock);
		dx_fill_stat(fs, dp, &st);
		dx_rwunlock(&dp->lock);
		if (fill(ctx, ".", &st, 1))
			goto out;
		off = 1;
	}
	if (off < 2) {
		struct dx_ino *pp = dx_iget(fs, dp->d->parent);
		memset(&st, 0, sizeof(st));
		if (pp) {
			dx_rdlock(&pp->lock);
			dx_fill_stat(fs, pp, &st);
			dx_rwunlock(&pp->lock);
			dx_iput(fs, pp);
		} else {
			st.st_ino = dp->d->parent;
			st.st_mode = S_IFDIR;
		}
		if (fill(ctx, "..", &st, 2))
			goto out;
		off = 2;
	}
	for (uint64_t s = (uint64_t)off - 2; s < d->nblocks * DX_DIRENTS_PER_BLOCK; s++) {
		struct dx_dirent *de = slot_ptr(d, (uint32_t)s);
		char name[DX_NAME_MAX + 1];
		struct dx_ino *ip = NULL;

		if (!de->ino)
			continue;
		memcpy(name, de->name, de->name_len);
		name[de->name_len] = '\0';
		memset(&st, 0, sizeof(st));
		if (plus) {
			ip = dx_iget(fs, de->ino);
			if (!ip)
				continue; /* a damaged entry: skip it rather than fail */
			dx_rdlock(&ip->lock);
			dx_fill_stat(fs, ip, &st);
			dx_rwunlock(&ip->lock);
		} else {
			st.st_ino = de->ino;
			st.st_mode = (mode_t)de->type << 12;
		}
		if (fill(ctx, name, &st, (off_t)(s + 3))) {
			dx_iput(fs, ip);
			break;
		}
		if (ip) {
			dx_ilookup_ref(fs, ip);
			dx_iput(fs, ip);
		}
	}
out:
	dx_rwunlock(&fs->ns_lock);
	dx_iput(fs, dp);
	return 0;
}
