/* SPDX-License-Identifier: MIT */
/*
 * unit_validate.c - the verifiers of lib/validate.c one by one, and what a
 * mounted pool does when one fails: EUCLEAN, the message, the needs-fsck
 * mark, errors=remount-ro, and fsck clearing the mark.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check.h"
#include "core.h"
#include "csum.h"
#include "unit.h"
#include "validate.h"

#define POOL_SIZE (16ULL << 20)

static struct dx_super good;

static void load_super(void)
{
	size_t len;
	void *p;

	T_EQ(t_mkfs(t_path("sb"), POOL_SIZE, 0), 0, "mkfs");
	p = t_read_file(t_path("sb"), &len);
	memcpy(&good, p, sizeof(good));
	free(p);
}

static void test_super(void)
{
	struct dx_super sb;

	T(!dx_v_super_geometry(&good, POOL_SIZE), "mkfs's geometry is accepted");
	T(dx_v_super_geometry(&good, POOL_SIZE - 4096) != NULL, "a truncated pool is refused");
	sb = good;
	sb.nblocks = (1ULL << 52) + 4096; /* n * 4096 wraps to 16 MiB */
	sb.bitmap_blocks = (1ULL << 37) + 1;
	sb.data_blk = sb.bitmap_blk + sb.bitmap_blocks;
	T(dx_v_super_geometry(&sb, POOL_SIZE) != NULL, "2^52+4096 blocks: the overflow is caught");
	sb = good;
	sb.nblocks = UINT64_MAX;
	T(dx_v_super_geometry(&sb, UINT64_MAX) != NULL, "2^64-1 blocks");
	sb = good;
	sb.journal_blk = UINT64_MAX - 1;
	T(dx_v_super_geometry(&sb, POOL_SIZE) != NULL, "journal start near 2^64");
	sb = good;
	sb.journal_blocks = 1;
	sb.maprec_blk = 2;
	T(dx_v_super_geometry(&sb, POOL_SIZE) != NULL, "a one-block journal");
	sb = good;
	sb.bitmap_blocks++;
	sb.data_blk++;
	T(dx_v_super_geometry(&sb, POOL_SIZE) != NULL, "a bitmap larger than the pool needs");
	sb = good;
	sb.ninodes = UINT64_MAX & ~15ULL;
	T(dx_v_super_geometry(&sb, POOL_SIZE) != NULL, "2^64 inodes");
	sb = good;
	sb.maprec_blocks = UINT64_MAX / 2;
	T(dx_v_super_geometry(&sb, POOL_SIZE) != NULL, "a record table past the end");
	sb = good;
	sb.flags = 0x80;
	sb.csum = dx_super_csum(&sb);
	T_EQ(dx_super_check(&sb, POOL_SIZE), -EUCLEAN, "unknown superblock flags are refused");
	sb.flags = DX_SB_NEEDS_FSCK;
	sb.csum = dx_super_csum(&sb);
	T_EQ(dx_super_check(&sb, POOL_SIZE), 0, "the needs-fsck flag is accepted");
}

static void test_inode_extent(void)
{
	struct dx_inode d;
	struct dx_extent e;

	memset(&d, 0, sizeof(d));
	d.mode = S_IFREG | 0644;
	d.nlink = 1;
	T(!dx_v_inode(&good, &d), "a plain file");
	d.mode = 0170644;
	T(dx_v_inode(&good, &d) != NULL, "an unknown file type");
	d.mode = S_IFREG | 0644;
	d.size = DX_MAX_FILE_SIZE + 1;
	T(dx_v_inode(&good, &d) != NULL, "a size past the largest file");
	d.size = 0;
	d.nlink = DX_LINK_MAX + 1;
	T(dx_v_inode(&good, &d) != NULL, "too many links");
	d.nlink = 1;
	d.xattr_blk = good.nblocks;
	T(dx_v_inode(&good, &d) != NULL, "an xattr block past the pool");
	d.xattr_blk = good.itable_blk;
	T(dx_v_inode(&good, &d) != NULL, "an xattr block in the inode table");
	d.xattr_blk = 0;
	d.mode = S_IFDIR | 0755;
	d.size = 100;
	T(dx_v_inode(&good, &d) != NULL, "a directory size that is not whole blocks");
	d.mode = S_IFLNK | 0777;
	d.size = DX_SYMLINK_MAX + 1;
	T(dx_v_inode(&good, &d) != NULL, "a symlink target too long");
	d.size = 0;
	T(dx_v_inode(&good, &d) != NULL, "an empty symlink target");

	e = (struct dx_extent){0, 1, good.data_blk};
	T(!dx_v_extent(&good, &e, S_IFREG), "an extent at the first data block");
	e.pblk = good.data_blk - 1;
	T(dx_v_extent(&good, &e, S_IFREG) != NULL, "an extent over the bitmap");
	e.pblk = good.nblocks - 1;
	e.len = 2;
	T(dx_v_extent(&good, &e, S_IFREG) != NULL, "an extent running off the pool");
	e.pblk = UINT64_MAX;
	e.len = 2;
	T(dx_v_extent(&good, &e, S_IFREG) != NULL, "an extent whose end wraps");
	e = (struct dx_extent){0, DX_EXTENT_MAX_LEN + 1, good.data_blk};
	T(dx_v_extent(&good, &e, S_IFREG) != NULL, "an extent longer than allowed");
	e = (struct dx_extent){UINT32_MAX, 2, good.data_blk};
	T(dx_v_extent(&good, &e, S_IFREG) != NULL, "an extent past the largest file");
	e = (struct dx_extent){0, 1, good.data_blk};
	T(dx_v_extent(&good, &e, S_IFIFO) != NULL, "a FIFO with an extent");
}

static void test_xmap(void)
{
	struct dx_xent v[3] = {{0, 2, 0, NULL}, {2, 1, 0, NULL}, {5, 1, 0, NULL}};
	struct dx_inode d;

	memset(&d, 0, sizeof(d));
	d.mode = S_IFREG;
	T(!dx_v_xmap(v, 3, &d), "sorted disjoint extents of a file");
	v[1].lblk = 1;
	T(dx_v_xmap(v, 3, &d) != NULL, "two extents mapping block 1");
	v[1].lblk = 2;
	d.mode = S_IFDIR;
	d.size = 6 * DX_BLOCK_SIZE;
	T(dx_v_xmap(v, 3, &d) != NULL, "a directory with a hole");
	d.size = 3 * DX_BLOCK_SIZE;
	T(!dx_v_xmap(v, 2, &d), "a directory of three blocks");
	d.size = 4 * DX_BLOCK_SIZE;
	T(dx_v_xmap(v, 2, &d) != NULL, "a directory larger than its blocks");
	d.mode = S_IFLNK;
	d.size = 5;
	T(dx_v_xmap(v, 0, &d) != NULL, "a symlink without a block");
	T(!dx_v_symlink("abcde", 5), "a symlink target");
	T(dx_v_symlink("ab\0de", 5) != NULL, "a NUL in a symlink target");
}

static void test_dirent_xattr_maprec(void)
{
	struct dx_dirent de;
	struct dx_maprec r;
	char blk[DX_BLOCK_SIZE];
	struct dx_xattr_rec *x = (void *)blk;

	memset(&de, 0, sizeof(de));
	de.ino = 2;
	de.type = DT_REG;
	de.name_len = 3;
	memcpy(de.name, "abc", 3);
	T(!dx_v_dirent(&good, &de), "an entry");
	de.ino = good.ninodes + 1;
	T(dx_v_dirent(&good, &de) != NULL, "an entry past the inode table");
	de.ino = 2;
	de.type = 3;
	T(dx_v_dirent(&good, &de) != NULL, "an entry of an unknown type");
	de.type = DT_REG;
	de.name[1] = '/';
	T(dx_v_dirent(&good, &de) != NULL, "a slash in a name");
	de.name_len = 0;
	T(dx_v_dirent(&good, &de) != NULL, "an empty name");
	de.name_len = 2;
	memcpy(de.name, "..", 2);
	T(dx_v_dirent(&good, &de) != NULL, "an entry named ..");

	memset(blk, 0, sizeof(blk));
	T(!dx_v_xattr_block(blk), "an empty xattr block");
	x->name_len = 6;
	x->value_len = 3;
	memcpy(x->data, "user.aabc", 9);
	T(!dx_v_xattr_block(blk), "one xattr");
	x->value_len = 65535;
	T(dx_v_xattr_block(blk) != NULL, "an xattr value past the block");
	x->value_len = 3;
	memcpy(x->data, "nope.a", 6);
	T(dx_v_xattr_block(blk) != NULL, "an xattr name without a known prefix");

	memset(&r, 0, sizeof(r));
	r = (struct dx_maprec){.kind = DX_MAPREC_QUARANTINE, .pblk = good.data_blk, .nblocks = 4};
	T(!dx_v_maprec(&good, &r), "a quarantine record");
	r.nblocks = 1ULL << 40;
	T(dx_v_maprec(&good, &r) != NULL, "a quarantine record 2^40 blocks long");
	r.nblocks = 4;
	r.pblk = 0;
	T(dx_v_maprec(&good, &r) != NULL, "a record over the superblock");
	r.pblk = good.data_blk;
	r.kind = DX_MAPREC_MAP;
	r.ino = 0;
	T(dx_v_maprec(&good, &r) != NULL, "a mapping of inode 0");
	r.ino = 1;
	T(!dx_v_maprec(&good, &r), "a mapping record");
	r.kind = 9;
	T(dx_v_maprec(&good, &r) != NULL, "an unknown kind");
}

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

/* Through a mounted pool: the damaged file fails, the rest goes on. */
static void test_mounted(void)
{
	const char *pool = t_path("mounted");
	struct daxfs_check_opts co = {.mode = DAXFS_CHECK_REPAIR, .report = report};
	struct daxfs_check_result cr;
	struct daxfs *fs;
	struct stat st;
	char buf[16];
	uint64_t free_before;
	struct dx_inode *d;

	T_EQ(t_mkfs(pool, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(pool);
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "f", S_IFREG | 0644, 0, &t_cred, &st), 0, "create f");
	T_EQ(daxfs_write(fs, st.st_ino, "hello", 5, 0, 0), 5, "write f");
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "d", 0755, &t_cred, &st), 0, "mkdir d");
	daxfs_close(fs);

	fs = t_open(pool);
	/* A wild run from the pool is refused by the allocator itself. */
	free_before = fs->free_blocks;
	dx_tx_begin(fs);
	dx_free_blocks(fs, fs->sb.nblocks + 100, 5);
	dx_free_blocks(fs, UINT64_MAX - 1, 3);
	dx_free_blocks(fs, 0, 1);
	T_EQ(fs->jr.nfrees, 0, "wild block runs are not queued for freeing");
	dx_tx_commit(fs);
	T_EQ(fs->free_blocks, free_before, "and nothing was freed");
	T(fs->readonly, "the wild free made the mount read-only (errors=remount-ro)");
	daxfs_close(fs);
	T_EQ(daxfs_check(pool, &co, &cr), 0, "fsck -y");
	{
		size_t len;
		struct dx_super *sb = t_read_file(pool, &len);
		T_EQ(sb->flags, 0, "fsck cleared the mark");
		free(sb);
	}

	fs = t_open(pool);
	T_EQ(daxfs_lookup(fs, DX_ROOT_INO, "f", &st), 0, "lookup f");
	d = &fs->itable[st.st_ino - 1];
	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		d->ext[i] = (struct dx_extent){0, 1, 1ULL << 40};
	/* A crafted pool, its crc made to match: the verifier must catch it. */
	d->csum = dx_csum_inode(fs->csum_seed, st.st_ino, d);
	T_EQ(daxfs_pread(fs, st.st_ino, buf, sizeof(buf), 0), -EUCLEAN,
	     "reading a file whose extent points past the pool");
	T(strstr(daxfs_errormsg(), "inode") && strstr(daxfs_errormsg(), "extent"),
	  "the message names the inode and the structure: %s", daxfs_errormsg());
	T(((struct dx_super *)(void *)fs->base)->flags & DX_SB_NEEDS_FSCK, "the pool is marked");
	T_EQ(dx_super_csum((struct dx_super *)(void *)fs->base),
	     ((struct dx_super *)(void *)fs->base)->csum, "and its checksum still matches");
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "e", 0755, &t_cred, &st), -EROFS,
	     "changes are refused after the error");
	T_EQ(daxfs_lookup(fs, DX_ROOT_INO, "d", &st), 0, "reads go on");
	daxfs_close(fs);
	memset(&cr, 0, sizeof(cr));
	co.mode = DAXFS_CHECK_ONLY;
	T_EQ(daxfs_check(pool, &co, &cr), 0, "fsck -n");
	T(cr.uncorrected > 0, "fsck -n reports the marked, damaged pool");
}

static void body(void)
{
	load_super();
	test_super();
	test_inode_extent();
	test_xmap();
	test_dirent_xattr_maprec();
	test_mounted();
}

int main(void)
{
	return t_run("validate", body);
}
