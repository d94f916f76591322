/* SPDX-License-Identifier: MIT */
/*
 * unit_csum.c - metadata checksums (the metadata_csum feature, lib/csum.c):
 * every kind of object, a byte of it changed behind the filesystem's back,
 * is refused with EUCLEAN where it is loaded, the message naming it; the
 * checksums stay right through a workload of every kind of change; pools
 * without the feature are read unchecked; an unknown feature is refused;
 * dx_csum_rewrite_image() makes a changed image verify again.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "core.h"
#include "csum.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

static uint64_t ino_f, ino_frag, ino_x, ino_d, ino_l;

static uint64_t mkfile(struct daxfs *fs, uint64_t dir, const char *name)
{
	struct stat st;

	T_EQ(daxfs_mknod(fs, dir, name, S_IFREG | 0644, 0, &t_cred, &st), 0, "create %s", name);
	return st.st_ino;
}

/* A pool with one of each object: an inode with data, an extent block, a
 * directory block, an xattr block, a symlink. */
static void build(const char *pool, bool csum)
{
	struct daxfs_mkfs_opts o = {.size = POOL_SIZE, .force = 1, .no_metadata_csum = !csum};
	char buf[4096];
	struct daxfs *fs;
	struct stat st;

	T_EQ(daxfs_mkfs(pool, &o, NULL), 0, "mkfs %s", csum ? "with metadata_csum" : "without");
	fs = t_open(pool);
	T_EQ(!!fs->csum, csum, "  the mount sees the feature as mkfs set it");
	memset(buf, 'a', sizeof(buf));
	ino_f = mkfile(fs, DX_ROOT_INO, "f");
	T_EQ(daxfs_write(fs, ino_f, buf, sizeof(buf), 0, 0), 4096, "write f");
	/* Every other block: more extents than the inode holds. */
	ino_frag = mkfile(fs, DX_ROOT_INO, "frag");
	for (int i = 0; i < 12; i++)
		T_EQ(daxfs_write(fs, ino_frag, buf, sizeof(buf), (off_t)i * 8192, 0), 4096,
		     "write frag block %d", 2 * i);
	T(fs->itable[ino_frag - 1].ext_next != 0, "frag has an extent block");
	ino_x = mkfile(fs, DX_ROOT_INO, "x");
	T_EQ(daxfs_setxattr(fs, ino_x, "user.a", "hello", 5, 0), 0, "setxattr x");
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "d", 0755, &t_cred, &st), 0, "mkdir d");
	ino_d = st.st_ino;
	mkfile(fs, ino_d, "e");
	T_EQ(daxfs_symlink(fs, DX_ROOT_INO, "l", "target", &t_cred, &st), 0, "symlink l");
	ino_l = st.st_ino;
	daxfs_close(fs);
}

/* Every checksum of the pool file matches. */
static long walk_file(const char *pool)
{
	size_t len;
	void *p = t_read_file(pool, &len);
	long n = p ? dx_csum_walk(p, len, false, NULL, NULL) : -1;

	free(p);
	return n;
}

static void flip(struct daxfs *fs, void *p)
{
	(void)fs;
	*(volatile uint8_t *)p ^= 0x10;
}

static struct daxfs *damaged_copy(const char *from)
{
	T_EQ(t_copy_file(from, t_path("bad")), 0, "copy the pool");
	return t_open(t_path("bad"));
}

static bool says(const char *what)
{
	return strstr(daxfs_errormsg(), what) && strstr(daxfs_errormsg(), "checksum");
}

static bool names_inode(uint64_t ino)
{
	char want[32];

	snprintf(want, sizeof(want), "inode %llu:", (unsigned long long)ino);
	return strstr(daxfs_errormsg(), want) != NULL;
}

static bool marked(struct daxfs *fs)
{
	return ((struct dx_super *)(void *)fs->base)->flags & DX_SB_NEEDS_FSCK;
}

static void test_each_object(const char *pool)
{
	char buf[64], lbuf[16];
	struct daxfs *fs;
	struct stat st;
	void *p;
	size_t len;

	T_EQ(walk_file(pool), 0, "a fresh pool's checksums all match");

	fs = damaged_copy(pool);
	flip(fs, &fs->itable[ino_f - 1].uid);
	T_EQ(daxfs_pread(fs, ino_f, buf, sizeof(buf), 0), -EUCLEAN, "inode: a read fails");
	T(says("inode") && strstr(daxfs_errormsg(), "inode 2"), "  named: %s", daxfs_errormsg());
	T(marked(fs), "  the pool is marked as needing fsck");
	daxfs_close(fs);

	fs = damaged_copy(pool);
	flip(fs, (char *)dx_blk(fs, fs->itable[ino_frag - 1].ext_next) + 4000);
	T_EQ(daxfs_pread(fs, ino_frag, buf, sizeof(buf), 0), -EUCLEAN, "extent block: a read fails");
	T(says("extent") && names_inode(ino_frag), "  named: %s", daxfs_errormsg());
	T(marked(fs), "  the pool is marked as needing fsck");
	daxfs_close(fs);

	fs = damaged_copy(pool);
	{
		struct dx_inode *d = &fs->itable[ino_d - 1];
		struct dx_extent *e = NULL;
		for (int i = 0; i < DX_INLINE_EXTENTS; i++)
			if (d->ext[i].len)
				e = &d->ext[i];
		T(e != NULL, "the directory has its block inline");
		if (e)
			flip(fs, ((struct dx_dirent *)dx_blk(fs, e->pblk))->name);
	}
	T_EQ(daxfs_lookup(fs, ino_d, "e", &st), -EUCLEAN, "directory block: a lookup fails");
	T(says("directory"), "  named: %s", daxfs_errormsg());
	T(names_inode(ino_d), "  with its inode: %s", daxfs_errormsg());
	T(marked(fs), "  the pool is marked as needing fsck");
	daxfs_close(fs);

	fs = damaged_copy(pool);
	flip(fs, (char *)dx_blk(fs, fs->itable[ino_x - 1].xattr_blk) + 14);
	T_EQ(daxfs_getxattr(fs, ino_x, "user.a", buf, sizeof(buf)), -EUCLEAN,
	     "xattr block: getxattr fails");
	T(says("xattr"), "  named: %s", daxfs_errormsg());
	T(names_inode(ino_x), "  with its inode: %s", daxfs_errormsg());
	T(marked(fs), "  the pool is marked as needing fsck");
	T_EQ(daxfs_listxattr(fs, ino_x, buf, sizeof(buf)), -EUCLEAN, "  and listxattr");
	daxfs_close(fs);

	fs = damaged_copy(pool);
	flip(fs, &fs->itable[ino_l - 1].gid);
	T_EQ(daxfs_readlink(fs, ino_l, lbuf, sizeof(lbuf)), -EUCLEAN, "symlink inode: readlink fails");
	T(says("inode") && names_inode(ino_l), "  named: %s", daxfs_errormsg());
	T(marked(fs), "  the pool is marked as needing fsck");
	daxfs_close(fs);

	/* A quarantine record as a crashed daemon leaves one, its crc as
	 * rec_write makes it: mounts; a byte of it changed: refused. */
	fs = damaged_copy(pool);
	{
		struct dx_maprec *r = &fs->maprecs[0];
		memset(r, 0, sizeof(*r));
		r->kind = DX_MAPREC_QUARANTINE;
		r->pblk = fs->sb.data_blk + 100;
		r->nblocks = 1;
		r->holder_pid = 1;
		r->csum = dx_csum_maprec(fs->csum_seed, 0, r);
		dx_persist(&fs->pc, r, sizeof(*r));
	}
	daxfs_close(fs);
	T_EQ(t_copy_file(t_path("bad"), t_path("rec")), 0, "copy the pool with a record");
	fs = NULL;
	T_EQ(daxfs_open(t_path("rec"), NULL, &fs), 0, "a record with its checksum mounts");
	daxfs_close(fs);
	p = t_read_file(t_path("rec"), &len);
	{
		struct dx_super *sb = p;
		struct dx_maprec *r = (void *)((char *)p + sb->maprec_blk * DX_BLOCK_SIZE);
		r->holder_start ^= 1;
	}
	{
		FILE *f = fopen(t_path("rec"), "r+");
		T(f && fwrite(p, 1, len, f) == len, "write the changed record");
		if (f)
			fclose(f);
	}
	fs = NULL;
	T_EQ(daxfs_open(t_path("rec"), NULL, &fs), -EUCLEAN, "mapping record: the mount is refused");
	T(says("mapping record 0"), "  named: %s", daxfs_errormsg());
	daxfs_close(fs);

	/* What the fuzzers do after a mutation: every crc made to match. */
	T(dx_csum_rewrite_image(p, len) == 1, "dx_csum_rewrite_image fixes the one bad crc");
	T_EQ(dx_csum_walk(p, len, false, NULL, NULL), 0, "  then every checksum matches");
	free(p);
}

/*
 * An extent chain that points far past the pool (its byte offset wraps): the walk (fsck's and the
 * fuzzers' crc fix-up) stops there without forming a pointer to the block
 * (UBSan's pointer-overflow check failed it once, fuzz-walk).
 */
static void test_wild_chain(const char *pool)
{
	size_t len;
	struct dx_super *sb = t_read_file(pool, &len);
	struct dx_inode *d;
	long n;

	if (!sb)
		return;
	d = (void *)((char *)sb + sb->itable_blk * DX_BLOCK_SIZE);
	d[ino_frag - 1].ext_next = UINT64_MAX / DX_BLOCK_SIZE;
	n = dx_csum_walk(sb, len, false, NULL, NULL);
	T_EQ(n, 1, "an extent chain at block 2^52 - 1: only the inode's crc is wrong");
	T_EQ(dx_csum_rewrite_image(sb, len), 1, "  and the rewrite fixes just that one");
	free(sb);
}

static void test_unknown_feature(const char *pool)
{
	size_t len;
	struct dx_super *sb = t_read_file(pool, &len);
	struct daxfs *fs = NULL;
	FILE *f;

	sb->features |= 0x80;
	sb->csum = dx_super_csum(sb);
	f = fopen(t_path("feat"), "w");
	T(f && fwrite(sb, 1, len, f) == len, "write a pool with an unknown feature");
	if (f)
		fclose(f);
	free(sb);
	T_EQ(daxfs_open(t_path("feat"), NULL, &fs), -EPROTONOSUPPORT,
	     "an unknown feature refuses the mount");
	T(strstr(daxfs_errormsg(), "features") != NULL, "  saying why: %s", daxfs_errormsg());
	daxfs_close(fs);
}

static void test_without_feature(void)
{
	const char *pool = t_path("plain");
	char buf[64];
	struct daxfs *fs;

	build(pool, false);
	fs = t_open(pool);
	flip(fs, &fs->itable[ino_f - 1].uid);
	flip(fs, (char *)dx_blk(fs, fs->itable[ino_x - 1].xattr_blk) + 14);
	T_EQ(daxfs_pread(fs, ino_f, buf, sizeof(buf), 0), sizeof(buf),
	     "without metadata_csum: the changed inode reads (unchecked)");
	T_EQ(daxfs_getxattr(fs, ino_x, "user.a", buf, sizeof(buf)), 5, "  and the xattr block");
	T(!marked(fs), "  nothing is marked");
	daxfs_close(fs);
}

/* Every kind of change keeps every checksum right. */
static void test_workload(const char *pool)
{
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE};
	char buf[8192];
	struct daxfs *fs;
	struct stat st;
	uint64_t big;
	char name[32];
	struct daxfs_check_opts co = {.mode = DAXFS_CHECK_ONLY};
	struct daxfs_check_result cr;

	T_EQ(t_copy_file(pool, t_path("work")), 0, "copy the pool");
	fs = t_open(t_path("work"));
	memset(buf, 'b', sizeof(buf));
	/* Two directory blocks and more, then most of it removed. */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		mkfile(fs, ino_d, name);
	}
	for (int i = 0; i < 40; i += 3) {
		snprintf(name, sizeof(name), "n%d", i);
		T_EQ(daxfs_unlink(fs, ino_d, name), 0, "unlink %s", name);
	}
	T_EQ(daxfs_rename(fs, ino_d, "n1", DX_ROOT_INO, "moved", 0), 0, "rename across dirs");
	T_EQ(daxfs_rename(fs, ino_d, "n2", ino_d, "n4", 0), 0, "rename over an entry");
	T_EQ(daxfs_link(fs, ino_f, ino_d, "hard", &st), 0, "link");
	T_EQ(daxfs_setxattr(fs, ino_f, "user.b", buf, 100, 0), 0, "setxattr");
	T_EQ(daxfs_setxattr(fs, ino_x, "user.a", "again", 5, 0), 0, "replace an xattr");
	T_EQ(daxfs_removexattr(fs, ino_x, "user.a"), 0, "removexattr");
	/* A file with extent blocks, punched, collapsed, then truncated. */
	big = mkfile(fs, DX_ROOT_INO, "big");
	for (int i = 0; i < 600; i++)
		daxfs_write(fs, big, buf, 4096, (off_t)i * 8192, 0);
	T_EQ(daxfs_fallocate(fs, big, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192 * 100,
			     8192 * 50),
	     0, "punch");
	T_EQ(daxfs_fallocate(fs, big, FALLOC_FL_COLLAPSE_RANGE, 4096 * 10, 4096 * 20), 0,
	     "collapse");
	T_EQ(daxfs_fallocate(fs, big, FALLOC_FL_INSERT_RANGE, 4096 * 30, 4096 * 3), 0, "insert");
	sa.size = 8192 * 200 + 100;
	T_EQ(daxfs_setattr(fs, big, &sa, &t_cred, &st), 0, "truncate down");
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "frag"), 0, "unlink a file with an extent chain");
	T_EQ(daxfs_mkdir(fs, ino_d, "sub", 0755, &t_cred, &st), 0, "mkdir");
	T_EQ(daxfs_rmdir(fs, ino_d, "sub"), 0, "rmdir");
	T_EQ(daxfs_symlink(fs, ino_d, "l2", "somewhere/else", &t_cred, &st), 0, "symlink");
	daxfs_close(fs);
	T_EQ(walk_file(t_path("work")), 0, "after the workload every checksum matches");
	T_EQ(daxfs_check(t_path("work"), &co, &cr), 0, "fsck -n runs");
	T_EQ(cr.errors, 0, "  and finds nothing");
}

static void body(void)
{
	const char *pool = t_path("pool");

	build(pool, true);
	test_each_object(pool);
	test_wild_chain(pool);
	test_unknown_feature(pool);
	test_workload(pool);
	test_without_feature();
}

int main(void)
{
	return t_run("unit-csum", body);
}
