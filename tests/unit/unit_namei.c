/* SPDX-License-Identifier: MIT */
/*
 * unit_namei.c - a name that needs blocks (a symlink's target, the block a
 * full directory grows by, the extent block that new block may need)
 * either is made or fails with ENOSPC having changed nothing, whichever of
 * its block allocations fails.  The allocations are failed one at a time
 * through dx_inject_hook, as daxfs-crashtest does, but here also into a
 * directory that must grow, with and without a new extent block.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "fault.h"
#include "unit.h"

enum op { OP_SYMLINK, OP_MKDIR, OP_MKNOD, OP_LINK, OP_RENAME, OP_N };
static const char *const op_name[OP_N] = {"symlink", "mkdir", "mknod", "link", "rename"};

static uint64_t fail_k, count;

static bool fail_kth(enum dx_inject_site s)
{
	return s == DX_INJECT_ALLOC_BLOCKS && ++count == fail_k;
}

static const struct dx_inject hook = {.fail = fail_kth};

static uint64_t ino_of(struct daxfs *fs, uint64_t dir, const char *name)
{
	struct stat st;

	return daxfs_lookup(fs, dir, name, &st) ? 0 : st.st_ino;
}

static int run(struct daxfs *fs, enum op op, uint64_t dir)
{
	struct stat st;
	uint64_t src = ino_of(fs, DX_ROOT_INO, "src");

	switch (op) {
	case OP_SYMLINK:
		return daxfs_symlink(fs, dir, "new", "../a/target", &t_cred, &st);
	case OP_MKDIR:
		return daxfs_mkdir(fs, dir, "new", 0755, &t_cred, &st);
	case OP_MKNOD:
		return daxfs_mknod(fs, dir, "new", S_IFREG | 0644, 0, &t_cred, &st);
	case OP_LINK:
		return daxfs_link(fs, src, dir, "new", &st);
	case OP_RENAME:
		return daxfs_rename(fs, DX_ROOT_INO, "src", dir, "new", 0);
	default:
		return -EINVAL;
	}
}

/*
 * Make the template: /src, and /d, a directory whose blocks are all full,
 * and whose blocks are nblk separate extents (a file takes the block after
 * each, so they cannot merge): with 4 or more, the inline extent slots are
 * used up and the next block needs an extent block too.
 */
static void make_template(const char *path, int nblk, uint64_t *dir)
{
	struct daxfs *fs;
	struct stat st;
	struct dx_ino *dp;
	uint64_t spacer;
	char name[32], blk[DX_BLOCK_SIZE];
	int n = 0;

	T_EQ(t_mkfs(path, 64 << 20, 0), 0, "mkfs");
	fs = t_open(path);
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "src", S_IFREG | 0644, 0, &t_cred, &st), 0, "/src");
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "d", 0755, &t_cred, &st), 0, "/d");
	*dir = st.st_ino;
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "spacer", S_IFREG | 0644, 0, &t_cred, &st), 0,
	     "/spacer");
	spacer = st.st_ino;
	memset(blk, 7, sizeof(blk));
	for (int b = 0; b < nblk; b++) {
		for (size_t i = 0; i < DX_DIRENTS_PER_BLOCK; i++, n++) {
			snprintf(name, sizeof(name), "e%d", n);
			T_EQ(daxfs_mknod(fs, *dir, name, S_IFREG | 0644, 0, &t_cred, &st), 0,
			     "entry %s", name);
		}
		T_EQ(daxfs_write(fs, spacer, blk, sizeof(blk), (off_t)b * DX_BLOCK_SIZE, 0),
		     (long long)sizeof(blk), "spacer block %d", b);
	}
	/* The entries' inodes are plain files with no blocks of their own. */
	dp = dx_iget(fs, *dir);
	T(dp && !dx_iload(fs, dp) && dp->dir->nfree == 0 && dp->xmap.n == (size_t)nblk,
	  "directory: %d full blocks in %d extents", nblk, nblk);
	if (dp)
		T_EQ(dx_dir_add_need(dp), nblk >= DX_INLINE_EXTENTS ? 2 : 1,
		     "blocks the next name needs");
	dx_iput(fs, dp);
	daxfs_close(fs);
}

/* Fail each allocation of op in turn; each time op either succeeds as
 * without the failure or fails with ENOSPC and the pool is unchanged. */
static void one(const char *tmpl, uint64_t dir, enum op op, const char *what)
{
	const char *live = t_path("live.pool");
	char *before = NULL, *ref = NULL;
	struct daxfs *fs;
	int want;

	/* The run without a failure. */
	T_EQ(t_copy_file(tmpl, live), 0, "copy");
	fs = t_open(live);
	before = t_snapshot(fs);
	want = run(fs, op, dir);
	T_EQ(want, 0, "%s %s without a failure", op_name[op], what);
	ref = t_snapshot(fs);
	daxfs_close(fs);
	for (fail_k = 1; fail_k < 16; fail_k++) {
		char *after;
		int ret;

		T_EQ(t_copy_file(tmpl, live), 0, "copy");
		fs = t_open(live);
		count = 0;
		dx_inject_hook = &hook;
		ret = run(fs, op, dir);
		dx_inject_hook = NULL;
		if (count < fail_k) {
			daxfs_close(fs);
			break; /* it makes fewer allocations: done */
		}
		after = t_snapshot(fs);
		if (ret == want) {
			if (!T(!strcmp(after, ref), "%s %s, allocation %llu failed: as without it",
			       op_name[op], what, (unsigned long long)fail_k))
				t_snapshot_diff(ref, after);
		} else {
			T_EQ(ret, -ENOSPC, "%s %s, allocation %llu failed: ENOSPC", op_name[op],
			     what, (unsigned long long)fail_k);
			if (!T(!strcmp(after, before), "%s %s, allocation %llu failed: nothing changed",
			       op_name[op], what, (unsigned long long)fail_k))
				t_snapshot_diff(before, after);
		}
		T_EQ(t_fsck(fs, false), 0, "%s %s, allocation %llu failed: consistent", op_name[op],
		     what, (unsigned long long)fail_k);
		free(after);
		daxfs_close(fs);
		/* And so it stays after a remount. */
		fs = t_open(live);
		T_EQ(t_fsck(fs, false), 0, "after a remount");
		daxfs_close(fs);
	}
	T(fail_k > 1, "%s %s makes at least one allocation", op_name[op], what);
	free(before);
	free(ref);
}

static void body(void)
{
	static const struct {
		int nblk;
		const char *what;
	} dirs[] = {
	    {0, "into a directory with no block"},
	    {1, "into a full directory"},
	    {DX_INLINE_EXTENTS, "into a full directory that needs an extent block"},
	};
	char tmpl[256];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		uint64_t dir;

		snprintf(tmpl, sizeof(tmpl), "%s", t_path("tmpl.pool"));
		make_template(tmpl, dirs[i].nblk, &dir);
		for (int op = 0; op < OP_N; op++)
			one(tmpl, dir, (enum op)op, dirs[i].what);
	}
}

int main(void)
{
	return t_run("namei", body);
}
