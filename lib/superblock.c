/* SPDX-License-Identifier: MIT */
/* superblock.c - superblock checksum and validation (read-only). */
#include <errno.h>
#include <string.h>
#include "core.h"
#include "crc32c.h"

uint32_t dx_super_csum(const struct dx_super *sb)
{
	struct dx_super tmp;

	memcpy(&tmp, sb, sizeof(tmp));
	tmp.csum = 0;
	return dx_crc32c(0, &tmp, sizeof(tmp));
}

static int region_ok(uint64_t start, uint64_t len, uint64_t lo, uint64_t hi)
{
	return len && start >= lo && start < hi && len <= hi - start;
}

/*
 * Validate a superblock against the size of the pool it came from.  Every
 * check names what is wrong, so that a refused mount tells the user why.
 */
int dx_super_check(const struct dx_super *sb, uint64_t pool_size)
{
	uint64_t n = sb->nblocks;

	if (sb->magic != DX_MAGIC)
		return dx_err(-EINVAL, "not a daxfs pool (bad magic)");
	if (sb->version != DX_VERSION)
		return dx_err(-EPROTONOSUPPORT,
			      "daxfs format version %u is not supported (this build reads version %u)",
			      sb->version, DX_VERSION);
	if (dx_super_csum(sb) != sb->csum)
		return dx_err(-EUCLEAN, "superblock checksum mismatch (corrupt superblock)");
	if (sb->block_size != DX_BLOCK_SIZE)
		return dx_err(-EUCLEAN, "unsupported block size %u", sb->block_size);
	if (n * DX_BLOCK_SIZE > pool_size)
		return dx_err(-EUCLEAN,
			      "pool is smaller (%llu bytes) than the filesystem (%llu bytes): truncated?",
			      (unsigned long long)pool_size, (unsigned long long)(n * DX_BLOCK_SIZE));
	if (!region_ok(sb->journal_blk, sb->journal_blocks, 1, n) ||
	    !region_ok(sb->maprec_blk, sb->maprec_blocks, sb->journal_blk + sb->journal_blocks, n) ||
	    !region_ok(sb->itable_blk, (sb->ninodes + DX_INODES_PER_BLOCK - 1) / DX_INODES_PER_BLOCK,
		       sb->maprec_blk + sb->maprec_blocks, n) ||
	    !region_ok(sb->bitmap_blk, sb->bitmap_blocks,
		       sb->itable_blk + sb->ninodes / DX_INODES_PER_BLOCK, n) ||
	    sb->bitmap_blocks * DX_BLOCK_SIZE * 8 < n ||
	    sb->data_blk != sb->bitmap_blk + sb->bitmap_blocks || sb->data_blk >= n ||
	    sb->ninodes < 1 || sb->ninodes > UINT32_MAX || sb->ninodes % DX_INODES_PER_BLOCK)
		return dx_err(-EUCLEAN, "superblock geometry is inconsistent");
	return 0;
}
