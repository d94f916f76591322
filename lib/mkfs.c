/* SPDX-License-Identifier: MIT */
/*
 * mkfs.c - write an empty filesystem into a pool.
 *
 * Ordering: the old superblock is invalidated first and the new one is
 * written last, so an interrupted mkfs leaves a pool that no mount accepts
 * rather than a half-initialised filesystem.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <libpmem.h>
#include "core.h"

#define DX_DEFAULT_BYTES_PER_INODE (16 * 1024)

/* Does the file already hold something: a daxfs pool or any data? */
static int pool_in_use(const char *path, int *is_daxfs)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	*is_daxfs = 0;
	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n >= (ssize_t)sizeof(uint64_t) && ((struct dx_super *)buf)->magic == DX_MAGIC) {
		*is_daxfs = 1;
		return 1;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i])
			return 1;
	return 0;
}

static void make_uuid(uint8_t uuid[16])
{
	int fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, uuid, 16) != 16) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (int i = 0; i < 16; i++)
			uuid[i] = (uint8_t)((ts.tv_nsec >> (i % 8)) ^ (getpid() >> (i % 4)) ^ i * 37);
	}
	if (fd >= 0)
		close(fd);
	uuid[6] = (uuid[6] & 0x0f) | 0x40; /* version 4 */
	uuid[8] = (uuid[8] & 0x3f) | 0x80; /* RFC 4122 variant */
}

static void set_bits(uint64_t *map, uint64_t from, uint64_t to)
{
	for (uint64_t b = from; b < to; b++)
		map[b >> 6] |= 1ULL << (b & 63);
}

DX_EXPORT int daxfs_mkfs(const char *pool, const struct daxfs_mkfs_opts *o,
			 struct daxfs_mkfs_info *info)
{
	struct stat st;
	int is_daxfs, exists = stat(pool, &st) == 0, is_pmem;
	struct dx_pctx pc;
	/* A file created (or grown from empty) here reads as zeros already:
	 * writing them would only allocate the sparse pool. */
	bool fresh = !exists || (S_ISREG(st.st_mode) && st.st_size == 0);
	uint64_t bpi = o->bytes_per_inode ? o->bytes_per_inode : DX_DEFAULT_BYTES_PER_INODE;
	size_t mapped;
	char *base;
	struct dx_super sb;
	uint64_t n, itable_blocks;
	struct dx_inode *root;

	if (exists && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		return dx_err(-EINVAL, "%s is not a regular file or a device", pool);
	if (exists && !o->force && pool_in_use(pool, &is_daxfs))
		return dx_err(-EEXIST,
			      is_daxfs ? "%s already contains a daxfs filesystem (use -f to overwrite)"
				       : "%s contains data (use -f to overwrite)",
			      pool);
	if (o->label && strlen(o->label) > 63)
		return dx_err(-EINVAL, "label is longer than 63 bytes");
	if (bpi < DX_INODE_SIZE * 4 || bpi > (1ULL << 30))
		return dx_err(-EINVAL, "bytes per inode must be between 1 KiB and 1 GiB");

	if (!exists || S_ISREG(st.st_mode)) {
		uint64_t size = o->size ? o->size : (exists ? (uint64_t)st.st_size : 0);
		int fd;

		if (!size)
			return dx_err(-EINVAL, "%s: no size given and the file is empty (use -s SIZE)",
				      pool);
		if (size < DX_MIN_POOL_SIZE)
			return dx_err(-EINVAL, "pool size %llu is below the minimum of %llu bytes",
				      (unsigned long long)size, (unsigned long long)DX_MIN_POOL_SIZE);
		fd = open(pool, O_RDWR | O_CREAT, 0600);
		if (fd < 0)
			return dx_err(-errno, "cannot create %s: %s", pool, strerror(errno));
		/* Sparse: blocks are allocated as the filesystem uses them. */
		if (ftruncate(fd, (off_t)(size & ~(uint64_t)(DX_BLOCK_SIZE - 1))) < 0) {
			int e = errno;
			close(fd);
			return dx_err(-e, "cannot size %s: %s", pool, strerror(e));
		}
		close(fd);
	}
	base = pmem_map_file(pool, 0, 0, 0, &mapped, &is_pmem);
	if (!base)
		return dx_err(-errno ? -errno : -EIO, "cannot map %s: %s", pool, pmem_errormsg());
	if (o->size && !S_ISREG(st.st_mode) && exists && o->size < mapped)
		mapped = o->size;
	dx_persist_init(&pc, is_pmem);

	memset(&sb, 0, sizeof(sb));
	n = sb.nblocks = mapped / DX_BLOCK_SIZE;
	if (n * DX_BLOCK_SIZE < DX_MIN_POOL_SIZE) {
		pmem_unmap(base, mapped);
		return dx_err(-EINVAL, "%s is smaller than the minimum pool size", pool);
	}
	sb.magic = DX_MAGIC;
	sb.version = DX_VERSION;
	sb.block_size = DX_BLOCK_SIZE;
	make_uuid(sb.uuid);
	if (o->label)
		strncpy(sb.label, o->label, sizeof(sb.label) - 1);
	sb.journal_blk = 1;
	sb.journal_blocks = n / 64 < 256 ? 256 : n / 64 > 16384 ? 16384 : n / 64;
	sb.maprec_blk = sb.journal_blk + sb.journal_blocks;
	/* Mapping records: 64 per block, 1/256 of the pool, from 64 blocks
	 * (4096 records) up to 1024 (65536 records, 4 MiB, for pools of
	 * 1 GiB and more).  A mapping uses a record per extent, and root
	 * keeps an eighth; older pools keep the 4096 they were made with. */
	sb.maprec_blocks = n / 256 < 64 ? 64 : n / 256 > 1024 ? 1024 : n / 256;
	sb.itable_blk = sb.maprec_blk + sb.maprec_blocks;
	sb.ninodes = (n * DX_BLOCK_SIZE / bpi) & ~(uint64_t)(DX_INODES_PER_BLOCK - 1);
	if (sb.ninodes < 64)
		sb.ninodes = 64;
	if (sb.ninodes > (UINT32_MAX & ~(uint64_t)(DX_INODES_PER_BLOCK - 1)))
		sb.ninodes = UINT32_MAX & ~(uint64_t)(DX_INODES_PER_BLOCK - 1);
	itable_blocks = sb.ninodes / DX_INODES_PER_BLOCK;
	sb.bitmap_blk = sb.itable_blk + itable_blocks;
	sb.bitmap_blocks = (n + DX_BLOCK_SIZE * 8 - 1) / (DX_BLOCK_SIZE * 8);
	sb.data_blk = sb.bitmap_blk + sb.bitmap_blocks;
	sb.mkfs_time = (uint64_t)time(NULL);
	if (sb.data_blk + 16 > n) {
		pmem_unmap(base, mapped);
		return dx_err(-EINVAL, "pool too small for its metadata");
	}

	/* Invalidate any old filesystem first. */
	dx_memset_nodrain(&pc, base, 0, DX_BLOCK_SIZE);
	dx_drain(&pc);

	if (!fresh)
		dx_memset_nodrain(&pc, base + sb.journal_blk * DX_BLOCK_SIZE, 0,
				  (sb.data_blk - sb.journal_blk) * DX_BLOCK_SIZE);
	{
		struct dx_journal_hdr *jh = (void *)(base + sb.journal_blk * DX_BLOCK_SIZE);
		uint64_t *bm = (void *)(base + sb.bitmap_blk * DX_BLOCK_SIZE);
		struct timespec now;

		dx_drain(&pc);
		jh->magic = DX_JOURNAL_MAGIC;
		jh->seq = 1;
		dx_flush(&pc, jh, sizeof(*jh));
		/* Metadata blocks, and the bitmap's tail past the pool, are in use. */
		set_bits(bm, 0, sb.data_blk);
		set_bits(bm, n, sb.bitmap_blocks * DX_BLOCK_SIZE * 8);
		dx_flush(&pc, bm, sb.bitmap_blocks * DX_BLOCK_SIZE);

		clock_gettime(CLOCK_REALTIME, &now);
		root = (void *)(base + sb.itable_blk * DX_BLOCK_SIZE);
		root->mode = S_IFDIR | 0755;
		root->nlink = 2;
		root->uid = getuid();
		root->gid = getgid();
		root->parent = DX_ROOT_INO;
		root->generation = 1;
		root->atime.sec = root->mtime.sec = root->ctime.sec = root->btime.sec = now.tv_sec;
		root->atime.nsec = root->mtime.nsec = root->ctime.nsec = root->btime.nsec =
			(uint32_t)now.tv_nsec;
		dx_flush(&pc, root, sizeof(*root));
	}
	dx_drain(&pc);

	/* Last: the superblock makes the pool a filesystem. */
	sb.csum = dx_super_csum(&sb);
	dx_memcpy_nodrain(&pc, base, &sb, sizeof(sb));
	dx_drain(&pc);

	if (info) {
		info->size = n * DX_BLOCK_SIZE;
		info->nblocks = n;
		info->ninodes = sb.ninodes;
		info->data_blocks = n - sb.data_blk;
		memcpy(info->uuid, sb.uuid, 16);
		info->is_pmem = is_pmem;
	}
	pmem_unmap(base, mapped);
	return 0;
}
