/* SPDX-License-Identifier: MIT */
/*
 * backing.c - reserving the backing store of a sparse pool file.
 *
 * A pool file is sparse: its blocks are allocated by the filesystem holding
 * it when they are first written.  A store into a hole of a mapped file
 * whose filesystem is full raises SIGBUS, which would kill the daemon; so
 * no block is handed out before its backing is reserved (fallocate), and a
 * reservation that fails is an ENOSPC the operation sees before its first
 * store.
 *
 *  - The metadata (superblock, journal, mapping records, bitmap, and the
 *    inode table up to one granule past its high-water mark) are reserved
 *    at mount, which is refused when they cannot be.
 *  - The data area is reserved in granules of DX_BACK_GRANULE blocks.  Every
 *    granule holding a block in use is reserved at mount.  The allocator
 *    takes blocks of reserved granules only, and fs->free_blocks counts the
 *    free blocks in them, so the space checks the operations make before
 *    their first store (against free_blocks) stay exact.  unbacked_free
 *    counts the free blocks of the other granules.
 *  - More is reserved when the reserved free blocks run short: at the start
 *    of each transaction up to DX_BACK_HEADROOM, and for a larger change
 *    (a write, fallocate, a map that backs holes) what it needs, through
 *    dx_space_grow(), before its space check.
 *  - The inode table the same way: free_inodes counts the free slots below
 *    the mark plus the reserved ones above it.
 *
 * Nothing is reserved for a device (DAX devices are memory), a read-only
 * mount, a file without holes, or a filesystem that cannot fallocate.
 * statfs reports the smaller of the pool's free space and what the backing
 * filesystem can still give (daxfs_statfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "core.h"

static uint64_t count_free(const struct daxfs *fs, uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	for (uint64_t b = from; b < to;) {
		if (!(b & 63) && b + 64 <= to) {
			n += 64 - (uint64_t)__builtin_popcountll(fs->bitmap[b >> 6]);
			b += 64;
		} else {
			n += !(fs->bitmap[b >> 6] >> (b & 63) & 1);
			b++;
		}
	}
	return n;
}

void dx_granule_range(const struct daxfs *fs, uint64_t g, uint64_t *from, uint64_t *to)
{
	*from = g * DX_BACK_GRANULE;
	*to = *from + DX_BACK_GRANULE;
	if (*from < fs->sb.data_blk)
		*from = fs->sb.data_blk;
	if (*to > fs->sb.nblocks)
		*to = fs->sb.nblocks;
}

/* fallocate [off, off + len); 0, or -errno. */
static int reserve(struct daxfs *fs, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	return fallocate(fs->fd, 0, (off_t)off, (off_t)len) == 0 ? 0 : -errno;
}

/* Reserve granule g and count its free blocks as allocatable. */
static bool back_granule(struct daxfs *fs, uint64_t g)
{
	uint64_t from, to, n;

	dx_granule_range(fs, g, &from, &to);
	if (reserve(fs, from * DX_BLOCK_SIZE, (to - from) * DX_BLOCK_SIZE))
		return false;
	fs->backed[g >> 6] |= 1ULL << (g & 63);
	n = count_free(fs, from, to);
	fs->free_blocks += n;
	fs->unbacked_free -= n;
	return true;
}

void dx_space_grow(struct daxfs *fs, uint64_t need)
{
	uint64_t g = fs->grow_hint, tried = 0;

	if (!fs->backed)
		return;
	/* Next-fit over the granules not reserved yet; one failure ends it
	 * (the backing filesystem is full). */
	while (fs->free_blocks < need && fs->unbacked_free && tried < fs->ngranules) {
		if (g >= fs->ngranules)
			g = 0;
		if (!(fs->backed[g >> 6] >> (g & 63) & 1)) {
			if (!back_granule(fs, g))
				break;
		}
		g++;
		tried++;
	}
	fs->grow_hint = g;
}

bool dx_backing_inodes(struct daxfs *fs)
{
	uint64_t from = fs->imark_backed, to = from + DX_IMARK_GRANULE;

	if (from >= fs->sb.ninodes)
		return false;
	if (to > fs->sb.ninodes)
		to = fs->sb.ninodes;
	if (fs->backing_on &&
	    reserve(fs, fs->sb.itable_blk * DX_BLOCK_SIZE + from * DX_INODE_SIZE,
		    (to - from) * DX_INODE_SIZE))
		return false;
	fs->free_inodes += to - from;
	fs->imark_backed = to;
	return true;
}

void dx_backing_tx_begin(struct daxfs *fs)
{
	if (fs->backed && fs->free_blocks < DX_BACK_HEADROOM)
		dx_space_grow(fs, DX_BACK_HEADROOM);
	if (fs->backing_on && !fs->free_inodes)
		dx_backing_inodes(fs);
}

int dx_backing_init(struct daxfs *fs)
{
	struct stat st;
	uint64_t itable_end;
	char need[32];
	int ret;

	/* Without reservations every slot and block counts (dx_alloc_init). */
	fs->imark_backed = fs->sb.ninodes;
	if (fs->readonly || fstat(fs->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size)
		return 0;
	itable_end = fs->imark + DX_IMARK_GRANULE < fs->sb.ninodes ? fs->imark + DX_IMARK_GRANULE
								    : fs->sb.ninodes;
	ret = reserve(fs, 0,
		      fs->sb.itable_blk * DX_BLOCK_SIZE + itable_end * DX_INODE_SIZE);
	if (ret == -EOPNOTSUPP)
		return 0; /* nothing to be done: as before reservations */
	if (!ret)
		ret = reserve(fs, fs->sb.bitmap_blk * DX_BLOCK_SIZE,
			      (fs->sb.data_blk - fs->sb.bitmap_blk) * DX_BLOCK_SIZE);
	if (ret) {
		dx_fmt_size(need, sizeof(need), fs->sb.data_blk * DX_BLOCK_SIZE);
		return dx_err(ret,
			      "cannot reserve the space of %s's metadata (up to %s) on the filesystem "
			      "holding it: %s; free space there, or mount read-only",
			      fs->path, need, strerror(-ret));
	}
	fs->backing_on = true;
	fs->free_inodes -= fs->sb.ninodes - itable_end;
	fs->imark_backed = itable_end;

	fs->ngranules = (fs->sb.nblocks + DX_BACK_GRANULE - 1) / DX_BACK_GRANULE;
	fs->backed = calloc((fs->ngranules + 63) / 64, sizeof(uint64_t));
	if (!fs->backed)
		return dx_err(-ENOMEM, "out of memory");
	fs->unbacked_free = 0;
	for (uint64_t g = 0; g < fs->ngranules; g++) {
		uint64_t from, to, nfree;

		dx_granule_range(fs, g, &from, &to);
		if (from >= to)
			continue;
		nfree = count_free(fs, from, to);
		fs->free_blocks -= nfree;
		fs->unbacked_free += nfree;
		/* Blocks in use are (almost always) written already; what
		 * cannot be reserved stays unreserved, its free blocks unused. */
		if (nfree < to - from)
			back_granule(fs, g);
	}
	fs->grow_hint = fs->sb.data_blk / DX_BACK_GRANULE;
	dx_space_grow(fs, DX_BACK_HEADROOM);
	return 0;
}

uint64_t dx_backing_free_blocks(struct daxfs *fs)
{
	struct statvfs sv;

	if (!fs->backing_on || fstatvfs(fs->fd, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize / DX_BLOCK_SIZE;
}
