/* SPDX-License-Identifier: MIT */
/*
 * unit_format.c - mkfs geometry and the checks daxfs_open makes before it
 * touches a pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

static bool bit(const uint64_t *map, uint64_t b)
{
	return map[b >> 6] >> (b & 63) & 1;
}

static int read_super(const char *path, struct dx_super *sb)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, sb, sizeof(*sb), 0);
	close(fd);
	return n == (ssize_t)sizeof(*sb) ? 0 : -EIO;
}

static int write_super(const char *path, const struct dx_super *sb)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pwrite(fd, sb, sizeof(*sb), 0);
	close(fd);
	return n == (ssize_t)sizeof(*sb) ? 0 : -EIO;
}

static bool same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = t_read_file(a, &la), *y = t_read_file(b, &lb);
	bool same = x && y && la == lb && !memcmp(x, y, la);

	free(x);
	free(y);
	return same;
}

static void test_geometry(void)
{
	const char *pool = t_path("geo");
	struct daxfs_mkfs_opts o = {.size = POOL_SIZE, .label = "unit-label"};
	struct daxfs_mkfs_info info;
	struct dx_super sb;
	uint64_t *bm;
	size_t len;
	char *img;
	struct dx_inode *root;
	struct daxfs *fs;
	struct statvfs sv;
	struct stat st;
	struct daxfs_pool_info pi;
	bool ok;

	T_EQ(daxfs_mkfs(pool, &o, &info), 0, "mkfs of a new %llu-byte pool",
	     (unsigned long long)POOL_SIZE);
	T_EQ(read_super(pool, &sb), 0, "read the superblock back");
	T_EQ(sb.magic, DX_MAGIC, "magic");
	T_EQ(sb.version, DX_VERSION, "version");
	T_EQ(sb.csum, dx_super_csum(&sb), "superblock checksum is valid");
	T_EQ(sb.nblocks, POOL_SIZE / DX_BLOCK_SIZE, "nblocks covers the pool");
	T_EQ(info.nblocks, sb.nblocks, "info.nblocks");
	T_EQ(info.ninodes, sb.ninodes, "info.ninodes");
	T_EQ(info.data_blocks, sb.nblocks - sb.data_blk, "info.data_blocks");
	T(!memcmp(info.uuid, sb.uuid, 16), "info.uuid matches the superblock");
	T(!strcmp(sb.label, "unit-label"), "label stored");
	T(sb.journal_blk == 1 && sb.journal_blocks > 0, "journal right after the superblock");
	T(sb.maprec_blk == sb.journal_blk + sb.journal_blocks && sb.maprec_blocks > 0,
	  "mapping records follow the journal");
	T(sb.itable_blk == sb.maprec_blk + sb.maprec_blocks, "inode table follows");
	T(sb.ninodes % DX_INODES_PER_BLOCK == 0 && sb.ninodes >= 64, "ninodes %llu whole blocks",
	  (unsigned long long)sb.ninodes);
	T(sb.bitmap_blk == sb.itable_blk + sb.ninodes / DX_INODES_PER_BLOCK, "bitmap follows");
	T((sb.features & DX_FEATURE_REFLINK) && sb.refc_blk == sb.bitmap_blk + sb.bitmap_blocks &&
	      sb.refc_blocks == (sb.nblocks + DX_REFC_PER_BLOCK - 1) / DX_REFC_PER_BLOCK,
	  "reference counts follow, a word per pool block");
	T(sb.data_blk == sb.refc_blk + sb.refc_blocks && sb.data_blk < sb.nblocks,
	  "data area follows and is not empty");
	T(sb.bitmap_blocks * DX_BLOCK_SIZE * 8 >= sb.nblocks &&
	      (sb.bitmap_blocks - 1) * DX_BLOCK_SIZE * 8 < sb.nblocks,
	  "bitmap covers nblocks and no more than needed");

	img = t_read_file(pool, &len);
	T_EQ(len, POOL_SIZE, "pool file has the requested size");
	if (img && len == POOL_SIZE) {
		bm = (uint64_t *)(img + sb.bitmap_blk * DX_BLOCK_SIZE);
		ok = true;
		for (uint64_t b = 0; b < sb.data_blk; b++)
			ok &= bit(bm, b);
		T(ok, "metadata blocks [0, %llu) are marked in use",
		  (unsigned long long)sb.data_blk);
		ok = true;
		for (uint64_t b = sb.data_blk; b < sb.nblocks; b++)
			ok &= !bit(bm, b);
		T(ok, "data blocks are free");
		root = (struct dx_inode *)(img + sb.itable_blk * DX_BLOCK_SIZE);
		T(S_ISDIR(root->mode), "root inode is a directory");
		T_EQ(root->nlink, 2, "root nlink");
		T_EQ(root->parent, DX_ROOT_INO, "root is its own parent");
		ok = true;
		for (uint64_t i = 1; i < sb.ninodes; i++)
			ok &= root[i].mode == 0;
		T(ok, "every other inode slot is free");
	}
	free(img);

	fs = t_open(pool);
	T_EQ(daxfs_getattr(fs, DX_ROOT_INO, &st), 0, "getattr root");
	T(S_ISDIR(st.st_mode) && st.st_nlink == 2, "root: dir, nlink 2");
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_blocks, sb.nblocks - sb.data_blk, "statfs f_blocks");
	T_EQ(sv.f_bfree, sb.nblocks - sb.data_blk, "statfs f_bfree: all data blocks free");
	T_EQ(sv.f_files, sb.ninodes, "statfs f_files");
	T_EQ(sv.f_ffree, sb.ninodes - 1, "statfs f_ffree: all but root");
	T_EQ(sv.f_namemax, DX_NAME_MAX, "statfs f_namemax");
	daxfs_pool_info(fs, &pi);
	T(!strcmp(pi.label, "unit-label") && !memcmp(pi.uuid, sb.uuid, 16) && pi.size == POOL_SIZE,
	  "pool_info: label, uuid, size");
	T_EQ(t_fsck(fs, false), 0, "fresh pool is consistent");
	daxfs_close(fs);
}

static void test_mkfs_refusals(void)
{
	const char *pool = t_path("refuse"), *copy = t_path("refuse.copy");
	struct daxfs_mkfs_opts o = {.size = POOL_SIZE};
	struct daxfs_mkfs_info i1, i2;
	char label[80];
	int fd, ret;

	T_EQ(daxfs_mkfs(pool, &o, &i1), 0, "mkfs");
	t_copy_file(pool, copy);
	ret = daxfs_mkfs(pool, &o, &i2);
	T_EQ(ret, -EEXIST, "mkfs over a daxfs pool without force: EEXIST");
	T(strstr(daxfs_errormsg(), "daxfs") != NULL, "  and says so: \"%s\"", daxfs_errormsg());
	T(same_file(pool, copy), "  the pool is unchanged");
	o.force = 1;
	T_EQ(daxfs_mkfs(pool, &o, &i2), 0, "mkfs with force over a daxfs pool");
	T(memcmp(i1.uuid, i2.uuid, 16) != 0, "  gives a new uuid");

	/* A file holding anything else. */
	unlink(pool);
	fd = open(pool, O_RDWR | O_CREAT, 0600);
	T(fd >= 0 && ftruncate(fd, (off_t)POOL_SIZE) == 0 && pwrite(fd, "data", 4, 5000) == 4,
	  "a non-empty, non-daxfs file");
	if (fd >= 0)
		close(fd);
	o.force = 0;
	T_EQ(daxfs_mkfs(pool, &o, NULL), -EEXIST, "mkfs over a file with data: EEXIST");
	T(strstr(daxfs_errormsg(), "data") != NULL, "  and says so: \"%s\"", daxfs_errormsg());
	o.force = 1;
	T_EQ(daxfs_mkfs(pool, &o, NULL), 0, "mkfs with force over a file with data");

	/* An existing empty file is not "in use". */
	unlink(pool);
	fd = open(pool, O_RDWR | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	o.force = 0;
	T_EQ(daxfs_mkfs(pool, &o, NULL), 0, "mkfs into an existing empty file without force");

	o.force = 1;
	o.size = DX_MIN_POOL_SIZE - DX_BLOCK_SIZE;
	unlink(pool);
	T_EQ(daxfs_mkfs(pool, &o, NULL), -EINVAL, "size below the minimum: EINVAL");
	T(daxfs_errormsg()[0] != '\0', "  with a message: \"%s\"", daxfs_errormsg());
	o.size = 0;
	unlink(pool);
	fd = open(pool, O_RDWR | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	T_EQ(daxfs_mkfs(pool, &o, NULL), -EINVAL, "no size and an empty file: EINVAL");
	o.size = DX_MIN_POOL_SIZE;
	T_EQ(daxfs_mkfs(pool, &o, NULL), 0, "exactly the minimum size works");

	memset(label, 'L', sizeof(label));
	label[64] = '\0';
	o.label = label;
	o.size = POOL_SIZE;
	T_EQ(daxfs_mkfs(pool, &o, NULL), -EINVAL, "64-byte label: EINVAL");
	T(strstr(daxfs_errormsg(), "label") != NULL, "  and says so: \"%s\"", daxfs_errormsg());
	label[63] = '\0';
	T_EQ(daxfs_mkfs(pool, &o, NULL), 0, "63-byte label works");
	{
		struct daxfs *fs = t_open(pool);
		struct daxfs_pool_info pi;
		daxfs_pool_info(fs, &pi);
		T(!strcmp(pi.label, label), "  and reads back whole");
		daxfs_close(fs);
	}
	o.label = NULL;
	o.bytes_per_inode = 100;
	T_EQ(daxfs_mkfs(pool, &o, NULL), -EINVAL, "bytes per inode below 1 KiB: EINVAL");
	o.bytes_per_inode = 1024;
	{
		struct daxfs_mkfs_info in;
		T_EQ(daxfs_mkfs(pool, &o, &in), 0, "bytes per inode 1 KiB");
		T_EQ(in.ninodes, POOL_SIZE / 1024, "  gives one inode per KiB");
	}
	T_EQ(daxfs_mkfs(t_path("nodir/x"), &o, NULL) < 0, 1, "mkfs in a missing directory fails");
	unlink(copy);
}

/* Damage the superblock with fn, then check daxfs_open refuses with want
 * and leaves every byte of the pool as it was. */
static void refuse_case(const char *what, void (*fn)(struct dx_super *sb, const char *pool),
			int want, const char *msg_word)
{
	const char *pool = t_path("open"), *copy = t_path("open.copy");
	struct dx_super sb;
	struct daxfs *fs = NULL;
	int ret;

	t_mkfs(pool, POOL_SIZE, 0);
	read_super(pool, &sb);
	fn(&sb, pool);
	t_copy_file(pool, copy);
	ret = daxfs_open(pool, NULL, &fs);
	T_EQ(ret, want, "open refuses %s", what);
	T(fs == NULL || ret == 0, "  and returns no handle");
	if (!ret)
		daxfs_close(fs);
	T(strstr(daxfs_errormsg(), msg_word) != NULL, "  message says \"%s\": \"%s\"", msg_word,
	  daxfs_errormsg());
	T(same_file(pool, copy), "  the pool is unchanged");
	fs = NULL;
	{
		struct daxfs_open_opts ro = {.readonly = 1};
		T_EQ(daxfs_open(pool, &ro, &fs), want, "  read-only open refuses it too");
	}
	T(same_file(pool, copy), "  still unchanged");
	unlink(copy);
}

static void bad_magic(struct dx_super *sb, const char *pool)
{
	sb->magic ^= 1;
	sb->csum = dx_super_csum(sb);
	write_super(pool, sb);
}

static void bad_version(struct dx_super *sb, const char *pool)
{
	sb->version = DX_VERSION + 1;
	sb->csum = dx_super_csum(sb);
	write_super(pool, sb);
}

/* A pool made before layout intents (format version 1). */
static void old_version(struct dx_super *sb, const char *pool)
{
	sb->version = 1;
	sb->csum = dx_super_csum(sb);
	write_super(pool, sb);
}

static void bad_csum(struct dx_super *sb, const char *pool)
{
	sb->label[3] ^= 0x20; /* a change the checksum does not cover */
	write_super(pool, sb);
}

static void bad_geometry(struct dx_super *sb, const char *pool)
{
	sb->data_blk -= 1; /* inside the bitmap, with a valid checksum */
	sb->csum = dx_super_csum(sb);
	write_super(pool, sb);
}

static void bad_refc(struct dx_super *sb, const char *pool)
{
	sb->refc_blocks -= 1; /* too short for the pool, with a valid checksum */
	sb->csum = dx_super_csum(sb);
	write_super(pool, sb);
}

static void refc_without_feature(struct dx_super *sb, const char *pool)
{
	sb->features &= ~DX_FEATURE_REFLINK; /* the table stays named */
	sb->csum = dx_super_csum(sb);
	write_super(pool, sb);
}

static void truncated(struct dx_super *sb, const char *pool)
{
	(void)sb;
	if (truncate(pool, (off_t)(POOL_SIZE / 2)))
		t_note("truncate: %s", strerror(errno));
}

static void tiny(struct dx_super *sb, const char *pool)
{
	(void)sb;
	if (truncate(pool, 100))
		t_note("truncate: %s", strerror(errno));
}

static void bad_journal(struct dx_super *sb, const char *pool)
{
	int fd = open(pool, O_WRONLY);
	uint64_t zero = 0;

	if (fd < 0 || pwrite(fd, &zero, 8, (off_t)(sb->journal_blk * DX_BLOCK_SIZE)) != 8)
		t_note("cannot damage the journal");
	if (fd >= 0)
		close(fd);
}

static void test_open_refusals(void)
{
	refuse_case("a wrong magic", bad_magic, -EINVAL, "no daxfs superblock");
	refuse_case("another version", bad_version, -EPROTONOSUPPORT, "version");
	refuse_case("a version-1 pool", old_version, -EPROTONOSUPPORT, "version 1 is not supported");
	refuse_case("a bad checksum", bad_csum, -EUCLEAN, "checksum");
	refuse_case("inconsistent geometry", bad_geometry, -EUCLEAN, "geometry");
	refuse_case("a short reference-count table", bad_refc, -EUCLEAN, "reference-count table");
	refuse_case("a reference-count table without reflink", refc_without_feature, -EUCLEAN,
		    "without the reflink feature");
	refuse_case("a truncated pool file", truncated, -EUCLEAN, "smaller");
	refuse_case("a file shorter than a superblock", tiny, -EINVAL, "short");
	refuse_case("a damaged journal header", bad_journal, -EUCLEAN, "journal");
}

static void test_busy(void)
{
	const char *pool = t_path("busy");
	struct daxfs *fs, *fs2 = NULL;
	struct daxfs_open_opts ro = {.readonly = 1};
	struct stat st;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	T_EQ(daxfs_open(pool, NULL, &fs2), -EBUSY, "second open of an open pool: EBUSY");
	T(strstr(daxfs_errormsg(), "in use") != NULL, "  message: \"%s\"", daxfs_errormsg());
	T_EQ(daxfs_open(pool, &ro, &fs2), -EBUSY,
	     "read-only open of a pool open read-write: EBUSY");
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "f", S_IFREG | 0644, 0, &t_cred, &st), 0,
	     "the first handle still works");
	daxfs_forget(fs, st.st_ino, 1);
	daxfs_close(fs);

	T_EQ(daxfs_open(pool, NULL, &fs2), 0, "open again after close");
	if (fs2) {
		T_EQ(daxfs_lookup(fs2, DX_ROOT_INO, "f", &st), 0, "  the file is there");
		daxfs_forget(fs2, st.st_ino, 1);
		daxfs_close(fs2);
	}

	/* Two read-only opens share the pool; writes are refused. */
	fs = fs2 = NULL;
	T_EQ(daxfs_open(pool, &ro, &fs), 0, "read-only open");
	T_EQ(daxfs_open(pool, &ro, &fs2), 0, "a second read-only open");
	if (fs) {
		struct statvfs sv;
		T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "g", S_IFREG | 0644, 0, &t_cred, &st), -EROFS,
		     "  mknod on a read-only pool: EROFS");
		daxfs_statfs(fs, &sv);
		T(sv.f_flag & ST_RDONLY, "  statfs says ST_RDONLY");
	}
	daxfs_close(fs);
	daxfs_close(fs2);
	T_EQ(daxfs_open(t_path("missing"), NULL, &fs), -ENOENT, "open of a missing file: ENOENT");
	T(daxfs_errormsg()[0] != '\0', "  with a message: \"%s\"", daxfs_errormsg());
}

static void body(void)
{
	test_geometry();
	test_mkfs_refusals();
	test_open_refusals();
	test_busy();
}

int main(void)
{
	return t_run("format", body);
}
