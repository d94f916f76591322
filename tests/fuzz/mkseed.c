/* SPDX-License-Identifier: MIT */
/*
 * mkseed.c - fuzz-mkseed DIR: write the seed pools of the fuzzers.
 *
 * Each seed is a small pool (DX_MIN_POOL_SIZE) built through lib/, so
 * that the fuzzers start from every structure the format has:
 *   empty.pool   a fresh filesystem
 *   tree.pool    directories (one spanning several directory blocks), files,
 *                a file of many extents (an extent block chain), a sparse
 *                file, short and long symlinks, a hard link, special
 *                files, xattrs (inline-sized and a big one)
 *   maprec.pool  tree.pool plus a live mapping record and an orphan left
 *                behind by a holder that "crashed" (exited without closing)
 *   txn.pool     tree.pool plus a transaction interrupted before its commit
 *   tree-nocsum.pool  (once the format has metadata_csum) tree.pool
 *                without that feature
 * The uuid and mkfs time are fixed so that a seed is the same on every run
 * up to the inode times.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/sysmacros.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core.h"
#include "fuzz.h"

static const struct daxfs_cred cred = {.uid = 0, .gid = 0, .pid = 1};

static void die(const char *what, int err)
{
	fprintf(stderr, "fuzz-mkseed: %s: %s (%s)\n", what, strerror(-err), daxfs_errormsg());
	exit(1);
}

#define CK(call)                                                                                   \
	do {                                                                                       \
		long long ck_ = (call);                                                            \
		if (ck_ < 0)                                                                       \
			die(#call, (int)ck_);                                                      \
	} while (0)

static uint64_t mk(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode)
{
	struct stat st;

	if (S_ISDIR(mode))
		CK(daxfs_mkdir(fs, parent, name, mode, &cred, &st));
	else
		CK(daxfs_mknod(fs, parent, name, mode, S_ISCHR(mode) ? makedev(1, 3) : 0, &cred,
			       &st));
	/* the lookup reference mknod took: without dropping it, an unlink
	 * below would leave an orphan */
	daxfs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static void fill(char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (i * 7 + seed) % 26);
}

static void mkfs_fixed(const char *path, int nocsum)
{
	struct daxfs_mkfs_opts o = {.size = DX_MIN_POOL_SIZE, .label = "fuzz", .force = 1};
	struct dx_super sb;
	void *base;
	int fd;

	unlink(path);
#ifdef DX_FEATURE_METADATA_CSUM
	o.no_metadata_csum = nocsum;
#else
	(void)nocsum; /* no checksums in this format yet */
#endif
	CK(daxfs_mkfs(path, &o, NULL));
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &sb, sizeof(sb), 0) != sizeof(sb))
		die("read superblock", -errno);
	for (int i = 0; i < 16; i++)
		sb.uuid[i] = (uint8_t)(0xd0 + i);
	sb.mkfs_time = 1700000000;
	sb.csum = dx_super_csum(&sb);
	if (pwrite(fd, &sb, sizeof(sb), 0) != sizeof(sb))
		die("write superblock", -errno);
	/* The uuid seeds the metadata checksums: mkfs's objects need new ones. */
	base = mmap(NULL, DX_MIN_POOL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		die("mmap", -errno);
	fuzz_fix_csums(base, DX_MIN_POOL_SIZE);
	munmap(base, DX_MIN_POOL_SIZE);
	close(fd);
}

static void build_tree(const char *path, int nocsum)
{
	struct daxfs *fs;
	char buf[8192], name[32], big[1500];
	uint64_t d1, d2, many, f, a, b, sp;

	mkfs_fixed(path, nocsum);
	CK(daxfs_open(path, NULL, &fs));
	d1 = mk(fs, DX_ROOT_INO, "dir", S_IFDIR | 0755);
	d2 = mk(fs, d1, "sub", S_IFDIR | 02775);
	f = mk(fs, d2, "small", S_IFREG | 0644);
	fill(buf, 100, 1);
	CK(daxfs_write(fs, f, buf, 100, 0, 0));
	CK(daxfs_link(fs, f, DX_ROOT_INO, "hardlink", &(struct stat){0}));
	/* Two files written a block at a time in turn: each gets one extent
	 * per block, more than fit in the inode, so an extent block. */
	a = mk(fs, DX_ROOT_INO, "extents", S_IFREG | 0644);
	b = mk(fs, DX_ROOT_INO, "interleaved", S_IFREG | 0600);
	for (int i = 0; i < 12; i++) {
		fill(buf, 4096, (unsigned)i);
		CK(daxfs_write(fs, a, buf, 4096, (off_t)i * 4096, 0));
		CK(daxfs_write(fs, b, buf, 4096, (off_t)i * 4096, 0));
	}
	CK(daxfs_write(fs, a, buf, 1000, 12 * 4096, 0));
	/* sparse: data, a hole, data */
	sp = mk(fs, d1, "sparse", S_IFREG | 0644);
	CK(daxfs_write(fs, sp, "start", 5, 0, 0));
	CK(daxfs_write(fs, sp, "end", 3, 40 * 4096 + 17, 0));
	/* more entries than one directory block holds */
	many = mk(fs, DX_ROOT_INO, "many", S_IFDIR | 0755);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		f = mk(fs, many, name, S_IFREG | 0644);
		if (i % 4 == 0)
			CK(daxfs_write(fs, f, buf, (size_t)i * 10 + 1, 0, 0));
	}
	CK(daxfs_unlink(fs, many, "f07"));
	CK(daxfs_symlink(fs, DX_ROOT_INO, "link", "dir/sub/small", &cred, &(struct stat){0}));
	memset(buf, 'x', DX_SYMLINK_MAX);
	buf[DX_SYMLINK_MAX] = 0;
	CK(daxfs_symlink(fs, d1, "longlink", buf, &cred, &(struct stat){0}));
	mk(fs, DX_ROOT_INO, "fifo", S_IFIFO | 0620);
	mk(fs, DX_ROOT_INO, "chardev", S_IFCHR | 0640);
	CK(daxfs_setxattr(fs, a, "user.greeting", "hello", 5, 0));
	CK(daxfs_setxattr(fs, a, "trusted.secret", "\0\xff\x10", 3, 0));
	CK(daxfs_setxattr(fs, d1, "user.dir", "on-a-dir", 8, 0));
	memset(big, 'z', sizeof(big));
	CK(daxfs_setxattr(fs, mk(fs, d2, "xattrs", S_IFREG | 0644), "user.big", big, sizeof(big),
			  0));
	daxfs_close(fs);
}

/* Leave the pool as a crash would: in a child that exits without closing. */
static void crash_child(const char *path, void (*fn)(struct daxfs *fs))
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork", -errno);
	if (pid == 0) {
		struct daxfs *fs;
		CK(daxfs_open(path, NULL, &fs));
		fn(fs);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("seed child failed", -EIO);
}

static void live_mapping(struct daxfs *fs)
{
	struct daxfs_cred c = cred;
	struct daxfs_ioc_map m = {
	    .offset = 0, .length = 4 * 4096, .flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE};
	struct daxfs_file *fp;
	struct stat st;
	uint64_t ino;

	c.pid = getpid();
	CK(daxfs_lookup(fs, DX_ROOT_INO, "extents", &st));
	CK(daxfs_open_file(fs, st.st_ino, O_RDWR, &fp));
	CK(daxfs_mapping_create(fs, fp, &m, &c));
	/* and an orphan: open, unlinked, never released */
	ino = mk(fs, DX_ROOT_INO, "orphan", S_IFREG | 0644);
	CK(daxfs_write(fs, ino, "orphan data", 11, 0, 0));
	CK(daxfs_open_file(fs, ino, O_RDWR, &fp));
	CK(daxfs_unlink(fs, DX_ROOT_INO, "orphan"));
}

static void interrupted_tx(struct daxfs *fs)
{
	struct dx_inode *d = &fs->itable[0];

	/* A change of the root's inode and of a bitmap word, logged but not
	 * committed: the next open rolls both back. */
	dx_tx_begin(fs);
	dx_tx_add(fs, d, sizeof(*d));
	d->size += 4096;
	d->nlink += 7;
	dx_tx_add(fs, &fs->bitmap[fs->sb.data_blk / 64 + 1], 8);
	fs->bitmap[fs->sb.data_blk / 64 + 1] = ~0ULL;
	/* No flush: the seed is a file on /dev/shm, where the stores are in
	 * the file as they are made, and the process dies without a commit. */
}

static void copy(const char *from, const char *to)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	if (system(cmd) != 0)
		die("cp", -EIO);
}

int main(int argc, char **argv)
{
	char p[4096], t[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-mkseed DIR\n");
		return 2;
	}
	snprintf(p, sizeof(p), "%s/empty.pool", argv[1]);
	mkfs_fixed(p, 0);
#ifdef DX_FEATURE_METADATA_CSUM
	/* the format as it was before metadata_csum, which stays mountable */
	snprintf(p, sizeof(p), "%s/tree-nocsum.pool", argv[1]);
	build_tree(p, 1);
#endif
	snprintf(t, sizeof(t), "%s/tree.pool", argv[1]);
	build_tree(t, 0);
	snprintf(p, sizeof(p), "%s/maprec.pool", argv[1]);
	copy(t, p);
	crash_child(p, live_mapping);
	snprintf(p, sizeof(p), "%s/txn.pool", argv[1]);
	copy(t, p);
	crash_child(p, interrupted_tx);
	return 0;
}
