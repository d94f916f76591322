/* SPDX-License-Identifier: MIT */
/* rawpool.c - see rawpool.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "format.h"
#include "rawpool.h"

struct raw {
	const uint8_t *base;
	size_t len;
	const struct dx_super *sb;
	uint64_t nslots; /* inode slots initialised */
};

static int raw_open(const char *pool, struct raw *r)
{
	struct stat st;
	int fd = open(pool, O_RDONLY), ret = 0;
	void *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || (size_t)st.st_size < DX_BLOCK_SIZE) {
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	r->base = p;
	r->len = (size_t)st.st_size;
	r->sb = p;
	if (r->sb->magic != DX_MAGIC || r->sb->block_size != DX_BLOCK_SIZE ||
	    r->sb->nblocks > r->len / DX_BLOCK_SIZE ||
	    r->sb->itable_blk +
		    (r->sb->ninodes * DX_INODE_SIZE + DX_BLOCK_SIZE - 1) / DX_BLOCK_SIZE >
		r->sb->nblocks)
		ret = -EUCLEAN;
	/* The inode table's high-water mark (format.h): 0 = all slots. */
	r->nslots = (uint32_t)r->sb->itable_mark;
	if (!r->nslots || r->nslots > r->sb->ninodes)
		r->nslots = r->sb->ninodes;
	if (ret)
		munmap((void *)r->base, r->len);
	return ret;
}

static void raw_close(struct raw *r)
{
	munmap((void *)r->base, r->len);
}

static const struct dx_inode *raw_inode(const struct raw *r, uint64_t ino)
{
	return (const struct dx_inode *)(r->base + r->sb->itable_blk * DX_BLOCK_SIZE +
					 (ino - 1) * DX_INODE_SIZE);
}

/* Call fn for each extent record of d: the inode's four, then its chain
 * (bounded by the pool's size, so a looped chain ends). */
static int each_extent(const struct raw *r, const struct dx_inode *d,
		       void (*fn)(void *ctx, const struct dx_extent *e), void *ctx)
{
	uint64_t next = d->ext_next, hops = 0;

	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		if (d->ext[i].len)
			fn(ctx, &d->ext[i]);
	while (next) {
		const struct dx_extent_block *eb;
		if (next < r->sb->data_blk || next >= r->sb->nblocks || ++hops > r->sb->nblocks)
			return -EUCLEAN;
		eb = (const struct dx_extent_block *)(r->base + next * DX_BLOCK_SIZE);
		for (int i = 0; i < DX_EXTENTS_PER_BLOCK; i++)
			if (eb->ext[i].len)
				fn(ctx, &eb->ext[i]);
		next = eb->next;
	}
	return 0;
}

struct map_ctx {
	uint8_t *map;
	size_t n;
};

static void mark_map(void *ctx, const struct dx_extent *e)
{
	struct map_ctx *m = ctx;

	for (uint64_t b = e->lblk; b < (uint64_t)e->lblk + e->len && b < m->n; b++)
		m->map[b] = 1;
}

int raw_file_map(const char *pool, uint64_t ino, uint8_t *map, size_t n)
{
	struct map_ctx m = {map, n};
	struct raw r;
	int ret = raw_open(pool, &r);

	if (ret)
		return ret;
	memset(map, 0, n);
	if (!ino || ino > r.nslots)
		ret = -ENOENT;
	else
		ret = each_extent(&r, raw_inode(&r, ino), mark_map, &m);
	raw_close(&r);
	return ret;
}

struct claim_ctx {
	uint32_t *claims;
	uint64_t nblocks;
	bool bad; /* an extent past the pool's end */
};

static void claim(void *ctx, const struct dx_extent *e)
{
	struct claim_ctx *c = ctx;

	if (e->pblk >= c->nblocks || e->len > c->nblocks - e->pblk) {
		c->bad = true;
		return;
	}
	for (uint64_t b = e->pblk; b < e->pblk + e->len; b++)
		c->claims[b]++;
}

int raw_refc_audit(const char *pool, char *why, size_t whylen)
{
	struct claim_ctx c = {0};
	const uint16_t *refc;
	uint64_t wrong = 0, first = 0;
	struct raw r;
	int ret = raw_open(pool, &r);

	if (ret)
		return ret;
	if (!(r.sb->features & DX_FEATURE_REFLINK)) {
		raw_close(&r);
		return 0;
	}
	if (r.sb->refc_blk < 1 || r.sb->refc_blk + r.sb->refc_blocks > r.sb->data_blk ||
	    r.sb->refc_blocks * DX_REFC_PER_BLOCK < r.sb->nblocks) {
		snprintf(why, whylen,
			 "reference counts: the table (blocks %" PRIu64 "+%" PRIu64
			 ") does not fit the pool",
			 r.sb->refc_blk, r.sb->refc_blocks);
		raw_close(&r);
		return 1;
	}
	refc = (const uint16_t *)(r.base + r.sb->refc_blk * DX_BLOCK_SIZE);
	c.nblocks = r.sb->nblocks;
	c.claims = calloc(c.nblocks, sizeof(*c.claims));
	if (!c.claims) {
		raw_close(&r);
		return -ENOMEM;
	}
	/* Only regular files share blocks; every other block counts 0. */
	for (uint64_t ino = 1; ino <= r.nslots && !ret; ino++) {
		const struct dx_inode *d = raw_inode(&r, ino);
		if (d->mode && S_ISREG(d->mode))
			ret = each_extent(&r, d, claim, &c);
	}
	/* A snapshot's record holds a reference of its own on each block. */
	if (r.sb->maprec_blk + r.sb->maprec_blocks > r.sb->nblocks)
		c.bad = true;
	for (uint64_t i = 0;
	     !ret && !c.bad && i < r.sb->maprec_blocks * (DX_BLOCK_SIZE / sizeof(struct dx_maprec));
	     i++) {
		const struct dx_maprec *m =
		    (const struct dx_maprec *)(r.base + r.sb->maprec_blk * DX_BLOCK_SIZE) + i;
		struct dx_extent e = {.pblk = m->pblk, .len = (uint32_t)m->nblocks};

		if (m->kind == DX_MAPREC_SNAP || m->kind == DX_MAPREC_HELD) {
			if (m->nblocks > UINT32_MAX)
				c.bad = true;
			else
				claim(&c, &e);
		}
	}
	if (ret || c.bad) {
		snprintf(why, whylen,
			 "reference counts: an extent chain or record is out of the pool");
		ret = 1;
	}
	for (uint64_t b = 0; !ret && b < c.nblocks; b++) {
		uint32_t want = c.claims[b] ? c.claims[b] - 1 : 0;
		if (refc[b] != want && !wrong++)
			first = b;
	}
	if (wrong) {
		uint32_t n = c.claims[first];
		snprintf(why, whylen,
			 "reference counts: block %" PRIu64 " counts %u, but %u extents of regular "
			 "files and snapshot records claim it (%" PRIu64 " blocks wrong)",
			 first, refc[first], n, wrong);
		ret = 1;
	}
	free(c.claims);
	raw_close(&r);
	return ret;
}
