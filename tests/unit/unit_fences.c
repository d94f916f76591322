/* SPDX-License-Identifier: MIT */
/*
 * unit_fences.c - how many fences the common operations cost.
 *
 * In msync mode (a pool that is a file on a disk) every fence that follows
 * a flush is one msync, an fdatasync of the pool file: milliseconds.  So
 * the count of such fences per operation is what a small-file workload
 * pays, and an undo-log transaction needs three at least: its undo
 * entries, its in-place ranges, its commit record.  The persistence
 * observer counts the drains that follow a flush (an empty drain costs no
 * msync), per operation, and each is held to its bound; the counts are
 * printed as notes (UNIT_VERBOSE=1 prints them all).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "persist.h"
#include "unit.h"

static struct {
	bool flushed;	 /* a flush since the last drain */
	unsigned fences; /* drains that followed a flush */
} ob;

static void ob_flush(const void *p, size_t len)
{
	(void)p;
	if (len)
		ob.flushed = true;
}

static void ob_drain(void)
{
	if (ob.flushed)
		ob.fences++;
	ob.flushed = false;
}

static const struct dx_persist_observer observer = {ob_flush, ob_drain};

static void map_hook(struct dx_pctx *pc, void *base, size_t len)
{
	(void)base;
	(void)len;
	dx_persist_set_observer(pc, &observer);
}

static bool verbose;

/* Check that the operation just run (ret) succeeded within max fences. */
static void fenced(const char *what, long long ret, unsigned max)
{
	unsigned n = ob.fences;

	ob.fences = 0;
	ob.flushed = false;
	if (!T(ret >= 0, "%s succeeds (%lld)", what, ret))
		return;
	T(n <= max, "%s costs %u fences (at most %u)", what, n, max);
	if (verbose || n > max)
		t_note("%s: %u fences", what, n);
}

static uint64_t ino_of(struct daxfs *fs, uint64_t dir, const char *name)
{
	struct stat st;

	return daxfs_lookup(fs, dir, name, &st) ? 0 : st.st_ino;
}

static void body(void)
{
	const char *pool = t_path("pool");
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 0};
	struct daxfs_setattr chmod = {.valid = DX_SET_MODE, .mode = 0600};
	struct daxfs *fs;
	struct stat st;
	char buf[64];
	uint64_t f, d;

	verbose = getenv("UNIT_VERBOSE") != NULL;
	memset(buf, 'x', sizeof(buf));
	if (!T_EQ(t_mkfs(pool, 64 << 20, 0), 0, "mkfs"))
		return;
	dx_persist_map_hook = map_hook;
	fs = t_open(pool);
	dx_persist_map_hook = NULL;
	ob.fences = 0;

	/* The small-file create of daxfs-bench: create, write, fsync.  The
	 * first name grows the root directory by a block. */
	fenced("create (the directory grows)",
	       daxfs_mknod(fs, DX_ROOT_INO, "e", S_IFREG | 0644, 0, &t_cred, &st), 4);
	fenced("create", daxfs_mknod(fs, DX_ROOT_INO, "f", S_IFREG | 0644, 0, &t_cred, &st), 3);
	f = st.st_ino;
	fenced("first write (allocates)", daxfs_write(fs, f, buf, sizeof(buf), 0, 0), 3);
	fenced("fsync", daxfs_fsync(fs, f, 0), 0);
	fenced("append within the block", daxfs_write(fs, f, buf, sizeof(buf), 0, 1), 3);
	fenced("overwrite", daxfs_write(fs, f, buf, sizeof(buf), 0, 0), 1);
	fenced("write over a hole", daxfs_write(fs, f, buf, sizeof(buf), 8 * 4096, 0), 3);
	/* Two transactions: the intent, then the blocks (intent.c). */
	fenced("fallocate", daxfs_fallocate(fs, f, 0, 4096, 4 * 4096), 6);
	fenced("mkdir", daxfs_mkdir(fs, DX_ROOT_INO, "d", 0755, &t_cred, &st), 3);
	d = st.st_ino;
	fenced("create in a new directory (grows it)",
	       daxfs_mknod(fs, d, "g", S_IFREG | 0644, 0, &t_cred, &st), 4);
	/* Its block's allocation fences apart from the new inode's mode. */
	fenced("symlink", daxfs_symlink(fs, DX_ROOT_INO, "s", "target", &t_cred, &st), 4);
	fenced("link", daxfs_link(fs, f, d, "l", &st), 3);
	fenced("rename", daxfs_rename(fs, d, "l", DX_ROOT_INO, "m", 0), 3);
	fenced("unlink of a link", daxfs_unlink(fs, DX_ROOT_INO, "m"), 3);
	fenced("setxattr", daxfs_setxattr(fs, f, "user.a", "v", 1, 0), 3);
	fenced("chmod", daxfs_setattr(fs, f, &chmod, &t_cred, &st), 3);
	fenced("truncate to 0", daxfs_setattr(fs, f, &sa, &t_cred, &st), 4);
	/* The last name of a closed file: the inode and its block go too. */
	daxfs_forget(fs, f, 2); /* the create's lookup and the link's */
	fenced("unlink (frees the inode and its blocks)", daxfs_unlink(fs, DX_ROOT_INO, "f"), 6);
	fenced("rmdir", daxfs_unlink(fs, d, "g") || daxfs_rmdir(fs, DX_ROOT_INO, "d") ? -1 : 0, 6);
	T(!ino_of(fs, DX_ROOT_INO, "f"), "/f is gone");
	T_EQ(t_fsck(fs, true), 0, "the pool is consistent");
	daxfs_close(fs);
}

int main(void)
{
	return t_run("fences", body);
}
