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
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <libpmem.h>
#include "core.h"
#include "validate.h"
#include "crc32c.h"
#include "csum.h"

#define DX_DEFAULT_BYTES_PER_INODE (16 * 1024)

/* Does the file already hold something: a daxfs pool or any data? */
static int pool_in_use(int fd, int *is_daxfs)
{
	char buf[65536];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	*is_daxfs = 0;
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

/* Inode slots mkfs initialises and reserves, as a mount does (backing.c):
 * the first granule of the table, and the next. */
static uint64_t first_mark(const struct dx_super *sb)
{
	return DX_IMARK_GRANULE < sb->ninodes ? DX_IMARK_GRANULE : sb->ninodes;
}

static uint64_t reserved_itable_end(const struct dx_super *sb)
{
	uint64_t m = first_mark(sb) + DX_IMARK_GRANULE;

	return sb->itable_blk * DX_BLOCK_SIZE + (m < sb->ninodes ? m : sb->ninodes) * DX_INODE_SIZE;
}

/*
 * Reserve the backing of a pool file's metadata (backing.c) before anything
 * is written, so that a full filesystem fails mkfs with the old pool intact
 * rather than a later store with SIGBUS; or all of it with -P.
 */
static int reserve_backing(int fd, const char *pool, const struct dx_super *sb, bool all)
{
	uint64_t size = sb->nblocks * DX_BLOCK_SIZE, end = reserved_itable_end(sb);
	uint64_t bm = sb->bitmap_blk * DX_BLOCK_SIZE, de = sb->data_blk * DX_BLOCK_SIZE;
	char want[32], have[32];
	struct statvfs sv;
	int ret = 0;

	if (all ? fallocate(fd, 0, 0, (off_t)size) < 0
		: fallocate(fd, 0, 0, (off_t)end) < 0 || fallocate(fd, 0, (off_t)bm, (off_t)(de - bm)) < 0)
		ret = -errno;
	if (!ret || (ret == -EOPNOTSUPP && !all))
		return 0; /* a filesystem that cannot reserve: as before */
	dx_fmt_size(want, sizeof(want), all ? size : end + (de - bm));
	if (ret == -ENOSPC && fstatvfs(fd, &sv) == 0) {
		dx_fmt_size(have, sizeof(have), (uint64_t)sv.f_bavail * sv.f_frsize);
		return dx_err(ret,
			      "cannot reserve %s for %s %s: the filesystem holding it has %s free",
			      want, all ? "all of" : "the metadata of", pool, have);
	}
	return dx_err(ret, "cannot reserve %s for %s %s: %s", want, all ? "all of" : "the metadata of",
		      pool, strerror(-ret));
}

/*
 * Zero the old metadata of a reused pool: the journal (an old entry could
 * match the new sequence number), the mapping records, the bitmap and the
 * table below the first mark.  The table above it is never read: a pool
 * file gets a hole punched there (no memory or disk), a device keeps its
 * bytes until the mark passes them.
 */
static void clear_metadata(const struct dx_pctx *pc, int fd, bool is_file, char *base,
			   const struct dx_super *sb)
{
	uint64_t from = sb->journal_blk * DX_BLOCK_SIZE, to = sb->data_blk * DX_BLOCK_SIZE;
	uint64_t iend = sb->itable_blk * DX_BLOCK_SIZE + first_mark(sb) * DX_INODE_SIZE;
	uint64_t bm = sb->bitmap_blk * DX_BLOCK_SIZE, rend = reserved_itable_end(sb);

	dx_memset_nodrain(pc, base + from, 0, iend - from);
	dx_memset_nodrain(pc, base + bm, 0, to - bm);
	/* The reserved granule past the mark stays; the rest goes. */
	if (is_file && bm > rend)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)rend,
			  (off_t)(bm - rend));
}

static void set_bits(uint64_t *map, uint64_t from, uint64_t to)
{
	for (uint64_t b = from; b < to; b++)
		map[b >> 6] |= 1ULL << (b & 63);
}

/*
 * A failing mkfs leaves the pool as it found it where it can: a file it
 * created is removed, a file it grew from empty is truncated back.
 */
struct mkfs_undo {
	const char *path;
	int fd;
	bool created, grown;
};

static int undo(struct mkfs_undo *u, int ret)
{
	if (u->grown && ftruncate(u->fd, 0) < 0)
		fprintf(stderr, "mkfs.daxfs: cannot truncate %s back to empty: %s\n", u->path,
			strerror(errno));
	if (u->created && unlink(u->path) < 0)
		fprintf(stderr, "mkfs.daxfs: cannot remove %s: %s\n", u->path, strerror(errno));
	if (u->fd >= 0)
		close(u->fd);
	return ret;
}

/* The pool file, created (sparse) when missing, and locked. */
static int open_pool(const char *pool, bool *exists, struct stat *st, struct mkfs_undo *u)
{
	int ret;

	u->fd = open(pool, O_RDWR | O_CLOEXEC);
	if (u->fd < 0 && errno == ENOENT) {
		/* O_EXCL: only what this call created is removed on failure. */
		u->fd = open(pool, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		u->created = u->fd >= 0;
	}
	if (u->fd < 0)
		return dx_err(-errno, "cannot %s %s: %s", *exists ? "open" : "create", pool,
			      strerror(errno));
	/* The lock of the daemon and fsck: a served pool is never formatted,
	 * whatever -f says. */
	ret = dx_pool_lock(u->fd, pool, false);
	if (ret)
		return ret;
	if (fstat(u->fd, st) < 0)
		return dx_err(-errno, "cannot stat %s: %s", pool, strerror(errno));
	*exists = !u->created;
	return 0;
}

DX_EXPORT int daxfs_mkfs(const char *pool, const struct daxfs_mkfs_opts *o,
			 struct daxfs_mkfs_info *info)
{
	struct stat st;
	struct mkfs_undo u = {.path = pool, .fd = -1};
	bool exists = stat(pool, &st) == 0, fresh;
	int is_daxfs, is_pmem, ret;
	struct dx_pctx pc;
	uint64_t bpi = o->bytes_per_inode ? o->bytes_per_inode : DX_DEFAULT_BYTES_PER_INODE;
	size_t mapped;
	char *base;
	struct dx_super sb;
	uint64_t n, itable_blocks;
	struct dx_inode *root;

	if (exists && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		return dx_err(-EINVAL, "%s is not a regular file or a device", pool);
	if (o->label && strlen(o->label) > 63)
		return dx_err(-EINVAL, "label is longer than 63 bytes");
	if (bpi < DX_INODE_SIZE * 4 || bpi > (1ULL << 30))
		return dx_err(-EINVAL, "bytes per inode must be between 1 KiB and 1 GiB");
	if (!o->size && !exists)
		return dx_err(-EINVAL, "%s does not exist: give its size with -s SIZE", pool);
	if (o->size && o->size < DX_MIN_POOL_SIZE && (!exists || S_ISREG(st.st_mode)))
		return dx_err(-EINVAL, "pool size %llu is below the minimum of %llu bytes",
			      (unsigned long long)o->size, (unsigned long long)DX_MIN_POOL_SIZE);

	ret = open_pool(pool, &exists, &st, &u);
	if (ret)
		return undo(&u, ret);
	if (exists && !o->force && pool_in_use(u.fd, &is_daxfs))
		return undo(&u, dx_err(-EEXIST,
				       is_daxfs ? "%s already contains a daxfs filesystem (use -f to "
						  "overwrite)"
						: "%s contains data (use -f to overwrite)",
				       pool));
	/* A file created (or grown from empty) here reads as zeros already:
	 * writing them would only allocate the sparse pool. */
	fresh = S_ISREG(st.st_mode) && st.st_size == 0;

	if (S_ISREG(st.st_mode)) {
		uint64_t size = o->size ? o->size : (uint64_t)st.st_size;
		char sz[32];

		if (!size)
			return undo(&u, dx_err(-EINVAL, "%s is empty: give the pool's size with -s SIZE",
					       pool));
		if (size < DX_MIN_POOL_SIZE)
			return undo(&u, dx_err(-EINVAL,
					       "%s (%llu bytes) is below the minimum pool size of "
					       "%llu bytes",
					       pool, (unsigned long long)size,
					       (unsigned long long)DX_MIN_POOL_SIZE));
		/* Sparse: blocks are allocated as the filesystem uses them. */
		u.grown = fresh && !u.created;
		if (ftruncate(u.fd, (off_t)(size & ~(uint64_t)(DX_BLOCK_SIZE - 1))) < 0) {
			int e = errno;
			dx_fmt_size(sz, sizeof(sz), size);
			if (e == EFBIG || e == EINVAL)
				return undo(&u, dx_err(-e,
						       "cannot make %s %s long: the filesystem "
						       "holding it allows no file that large (%s)",
						       pool, sz, strerror(e)));
			return undo(&u, dx_err(-e, "cannot size %s: %s", pool, strerror(e)));
		}
	}
	base = pmem_map_file(pool, 0, 0, 0, &mapped, &is_pmem);
	if (!base) {
		uint64_t len = S_ISREG(st.st_mode) ? (o->size ? o->size : (uint64_t)st.st_size)
						   : (uint64_t)lseek(u.fd, 0, SEEK_END);
		return undo(&u, dx_map_error(errno ? -errno : -EIO, pool, len, pmem_errormsg()));
	}
	if (o->size && !S_ISREG(st.st_mode) && o->size < mapped)
		mapped = o->size;
	dx_persist_init(&pc, is_pmem);

	memset(&sb, 0, sizeof(sb));
	n = sb.nblocks = mapped / DX_BLOCK_SIZE;
	if (n * DX_BLOCK_SIZE < DX_MIN_POOL_SIZE) {
		pmem_unmap(base, mapped);
		return undo(&u, dx_err(-EINVAL, "%s is smaller than the minimum pool size", pool));
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
	/* The reference counts sit between the bitmap and the data, so that
	 * what clears and reserves [bitmap, data) covers them too. */
	if (!o->no_reflink) {
		sb.features |= DX_FEATURE_REFLINK;
		sb.refc_blk = sb.data_blk;
		sb.refc_blocks = (n + DX_REFC_PER_BLOCK - 1) / DX_REFC_PER_BLOCK;
		sb.data_blk += sb.refc_blocks;
	}
	sb.mkfs_time = (uint64_t)time(NULL);
	/* Lazy inode table: only the root's granule is initialised. */
	sb.itable_mark = dx_imark_word(first_mark(&sb));
	if (!o->no_metadata_csum) {
		sb.features |= DX_FEATURE_METADATA_CSUM;
		sb.csum_seed = dx_crc32c(0, sb.uuid, sizeof(sb.uuid));
	}
	if (sb.data_blk + 16 > n) {
		pmem_unmap(base, mapped);
		return undo(&u, dx_err(-EINVAL, "pool too small for its metadata"));
	}
	if (S_ISREG(st.st_mode)) {
		ret = reserve_backing(u.fd, pool, &sb, o->preallocate);
		if (ret) {
			pmem_unmap(base, mapped);
			return undo(&u, ret);
		}
	} else if (o->preallocate) {
		pmem_unmap(base, mapped);
		return undo(&u, dx_err(-EINVAL, "%s is a device: there is nothing to preallocate",
				       pool));
	}

	/* Invalidate any old filesystem first. */
	dx_memset_nodrain(&pc, base, 0, DX_BLOCK_SIZE);
	dx_drain(&pc);

	if (!fresh)
		clear_metadata(&pc, u.fd, S_ISREG(st.st_mode), base, &sb);
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
		if (dx_csum_enabled(&sb))
			root->csum = dx_csum_inode(dx_csum_seed(&sb), DX_ROOT_INO, root);
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
		info->features = sb.features;
		info->unreserved = info->backing_free = 0;
		if (S_ISREG(st.st_mode)) {
			struct statvfs sv;
			if (fstat(u.fd, &st) == 0 && (uint64_t)st.st_blocks * 512 < info->size)
				info->unreserved = info->size - (uint64_t)st.st_blocks * 512;
			if (fstatvfs(u.fd, &sv) == 0)
				info->backing_free = (uint64_t)sv.f_bavail * sv.f_frsize;
		}
	}
	pmem_unmap(base, mapped);
	/* Success: keep what was made, and the lock until here. */
	close(u.fd);
	return 0;
}
