/* SPDX-License-Identifier: MIT */
/*
 * unit_alloc.c - the block and inode allocators, through the internal API
 * (dx_tx_*, dx_alloc_*, dx_free_blocks) and through the public calls that
 * use them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "core.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

struct run {
	uint64_t b, n;
};

static bool bit(const uint64_t *map, uint64_t b)
{
	return map[b >> 6] >> (b & 63) & 1;
}

static uint64_t statfs_free(struct daxfs *fs)
{
	struct statvfs sv;

	daxfs_statfs(fs, &sv);
	return sv.f_bfree;
}

/* Keep a long allocation loop inside the journal's room. */
static void tx_roll(struct daxfs *fs)
{
	if (dx_tx_room(fs) < 16384) {
		dx_tx_commit(fs);
		dx_tx_begin(fs);
	}
}

static void test_until_full(void)
{
	const char *pool = t_path("full");
	struct daxfs *fs;
	uint64_t nb, lo, initial, total = 0, half = 0;
	struct run *runs;
	size_t nruns = 0;
	uint8_t *owner;
	bool dup = false, range = false, over = false, ok;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	nb = fs->sb.nblocks;
	lo = fs->sb.data_blk;
	initial = fs->free_blocks;
	T_EQ(initial, nb - lo, "a fresh pool has every data block free");
	T_EQ(statfs_free(fs), initial, "statfs agrees");
	owner = calloc(nb, 1);
	runs = calloc(nb, sizeof(*runs));

	t_srand(1);
	dx_tx_begin(fs);
	for (;;) {
		uint64_t want = 1 + t_rand() % 9, b = 0, n;

		tx_roll(fs);
		n = dx_alloc_blocks(fs, 0, want, &b);
		if (!n)
			break;
		over |= n > want;
		if (b < lo || b + n > nb) {
			range = true;
			continue;
		}
		for (uint64_t i = b; i < b + n; i++) {
			dup |= owner[i];
			owner[i] = 1;
		}
		runs[nruns++] = (struct run){b, n};
		total += n;
	}
	T_EQ(fs->free_blocks, 0, "allocate until full: free count reaches 0");
	dx_tx_commit(fs);
	T_EQ(total, initial, "  every free block was handed out");
	T(!dup, "  no block was handed out twice");
	T(!range, "  none below data_blk %llu or past the end", (unsigned long long)lo);
	T(!over, "  no run is longer than asked for");
	T_EQ(statfs_free(fs), 0, "  statfs f_bfree is 0");
	ok = true;
	for (uint64_t b = 0; b < nb; b++)
		ok &= bit(fs->bitmap, b);
	T(ok, "  the persistent bitmap is all ones");
	{
		uint64_t b;
		dx_tx_begin(fs);
		T_EQ(dx_alloc_blocks(fs, 0, 1, &b), 0, "  a full pool allocates nothing");
		dx_tx_commit(fs);
	}

	/* Frees wait for commit: a full pool stays full inside the
	 * transaction that frees. */
	dx_tx_begin(fs);
	for (size_t i = 0; i < nruns / 2; i++) {
		dx_free_blocks(fs, runs[i].b, runs[i].n);
		half += runs[i].n;
	}
	{
		uint64_t b;
		T_EQ(dx_alloc_blocks(fs, runs[0].b, 1, &b), 0,
		     "a block freed in a transaction is not handed out in it");
		T_EQ(fs->free_blocks, 0, "  the free count moves only at commit");
		ok = true;
		for (size_t i = 0; i < nruns / 2; i++)
			ok &= bit(fs->bitmap, runs[i].b);
		T(ok, "  and so does the bitmap");
	}
	dx_tx_commit(fs);
	T_EQ(fs->free_blocks, half, "after commit the freed blocks count as free");
	T_EQ(statfs_free(fs), half, "  statfs agrees");
	ok = true;
	for (size_t i = 0; i < nruns / 2; i++)
		for (uint64_t b = runs[i].b; b < runs[i].b + runs[i].n; b++)
			ok &= !bit(fs->bitmap, b);
	T(ok, "  their bits are clear");

	/* With room in the pool: free the second half and allocate in the
	 * same transaction; only the first half may come back. */
	memset(owner, 0, nb);
	dx_tx_begin(fs);
	for (size_t i = nruns / 2; i < nruns; i++) {
		tx_roll(fs);
		dx_free_blocks(fs, runs[i].b, runs[i].n);
		for (uint64_t b = runs[i].b; b < runs[i].b + runs[i].n; b++)
			owner[b] = 2;
	}
	total = 0;
	dup = false;
	for (;;) {
		uint64_t b, n = dx_alloc_blocks(fs, runs[nruns - 1].b, 64, &b);
		if (!n)
			break;
		for (uint64_t i = b; i < b + n; i++)
			dup |= owner[i] == 2;
		total += n;
	}
	T(!dup, "blocks freed earlier in a transaction are never handed out in it");
	T_EQ(total, half, "  the blocks freed by an earlier transaction are");
	dx_tx_commit(fs);
	T_EQ(fs->free_blocks, initial - half, "  after commit the count is right");
	T_EQ(statfs_free(fs), initial - half, "  statfs agrees");

	/* Give everything back. */
	dx_tx_begin(fs);
	for (size_t i = 0; i < nruns / 2; i++) {
		tx_roll(fs);
		dx_free_blocks(fs, runs[i].b, runs[i].n);
	}
	dx_tx_commit(fs);
	T_EQ(fs->free_blocks, initial, "freeing every run restores the free count");
	T_EQ(t_fsck(fs, false), 0, "  bitmap and counts are consistent");
	daxfs_close(fs);
	fs = t_open(pool);
	T_EQ(fs->free_blocks, initial, "  and it survives close/reopen");
	T_EQ(statfs_free(fs), initial, "  statfs after reopen");
	daxfs_close(fs);
	free(owner);
	free(runs);
}

static void test_goal(void)
{
	const char *pool = t_path("goal");
	struct daxfs *fs;
	uint64_t lo, nb, g, b, n, prev;
	bool contig = true;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	lo = fs->sb.data_blk;
	nb = fs->sb.nblocks;
	g = lo + 1000;

	dx_tx_begin(fs);
	n = dx_alloc_blocks(fs, g, 100, &b);
	T(n == 100 && b == g, "goal-directed: 100 blocks at the goal (got %llu at %llu)",
	  (unsigned long long)n, (unsigned long long)b);
	prev = g + 99;
	for (int i = 0; i < 50; i++) {
		n = dx_alloc_blocks(fs, prev + 1, 1, &b);
		contig &= n == 1 && b == prev + 1;
		prev = b;
	}
	T(contig, "  one block at a time with goal = last + 1 gives a contiguous run");
	dx_tx_commit(fs);

	/* A hole inside used blocks bounds the run. */
	dx_tx_begin(fs);
	dx_free_blocks(fs, g + 10, 10);
	dx_tx_commit(fs);
	dx_tx_begin(fs);
	n = dx_alloc_blocks(fs, g + 10, 50, &b);
	T(n == 10 && b == g + 10, "  a run stops at the next used block (got %llu at %llu)",
	  (unsigned long long)n, (unsigned long long)b);
	n = dx_alloc_blocks(fs, g + 5, 4, &b);
	T(n == 4 && b == g + 150, "  a used goal gives the next free block (got %llu at %llu)",
	  (unsigned long long)n, (unsigned long long)b);
	n = dx_alloc_blocks(fs, 3, 1, &b);
	T(n == 1 && b >= lo, "  a goal below the data area is ignored (got %llu)",
	  (unsigned long long)b);
	n = dx_alloc_blocks(fs, nb + 5, 1, &b);
	T(n == 1 && b >= lo && b < nb, "  a goal past the end is ignored (got %llu)",
	  (unsigned long long)b);
	dx_tx_commit(fs);

	/* Everything after the goal used: the search wraps to the start. */
	dx_tx_begin(fs);
	while (dx_alloc_blocks(fs, nb - 100, 1 << 20, &b))
		if (b < nb - 100)
			break;
	T(b < g, "  the search wraps around past the end (got %llu)", (unsigned long long)b);
	dx_tx_commit(fs);
	{
		uint64_t free_before = fs->free_blocks;
		dx_tx_begin(fs);
		n = dx_alloc_blocks(fs, 0, free_before + 1000, &b);
		dx_tx_commit(fs);
		T(n <= free_before, "  a request larger than the free count is capped");
	}
	daxfs_close(fs);
}

static void test_inodes_internal(void)
{
	const char *pool = t_path("ialloc");
	struct daxfs *fs;
	uint64_t nino, initial, count = 0, i;
	uint8_t *seen;
	bool dup = false, range = false;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	nino = fs->sb.ninodes;
	initial = fs->free_inodes;
	T_EQ(initial, nino - 1, "every inode but root is free");
	seen = calloc(nino + 1, 1);
	dx_tx_begin(fs);
	while ((i = dx_alloc_inode(fs))) {
		if (i < 2 || i > nino) {
			range = true;
			break;
		}
		dup |= seen[i];
		seen[i] = 1;
		count++;
	}
	T_EQ(fs->free_inodes, 0, "inode alloc until full: free count 0");
	dx_tx_commit(fs);
	T_EQ(count, initial, "  every free slot handed out once");
	T(!dup, "  no slot twice");
	T(!range, "  never root, never past ninodes");
	free(seen);
	daxfs_close(fs);
	/* Nothing was written to the slots: the DRAM state is rebuilt. */
	fs = t_open(pool);
	T_EQ(fs->free_inodes, initial, "  reopen rebuilds the free inodes from the table");
	daxfs_close(fs);
}

static void test_inodes_public(void)
{
	const char *pool = t_path("ipub");
	struct daxfs *fs;
	struct statvfs sv;
	struct stat st;
	uint64_t nino, made = 0, *inos;
	char name[32], *before, *after;
	int ret = 0;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	nino = fs->sb.ninodes;
	inos = calloc(nino, sizeof(*inos));
	for (;;) {
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)made);
		ret = daxfs_mknod(fs, DX_ROOT_INO, name, S_IFREG | 0644, 0, &t_cred, &st);
		if (ret)
			break;
		inos[made++] = st.st_ino;
		daxfs_forget(fs, st.st_ino, 1);
	}
	T_EQ(ret, -ENOSPC, "mknod until the inode table is full ends in ENOSPC");
	T_EQ(made, nino - 1, "  after ninodes - 1 files");
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, 0, "  statfs f_ffree is 0");
	before = t_snapshot(fs);
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "d", 0755, &t_cred, &st), -ENOSPC, "  mkdir: ENOSPC too");
	T_EQ(daxfs_symlink(fs, DX_ROOT_INO, "s", "target", &t_cred, &st), -ENOSPC,
	     "  symlink: ENOSPC too");
	after = t_snapshot(fs);
	T(!strcmp(before, after), "  the failed calls changed nothing");
	if (strcmp(before, after))
		t_snapshot_diff(before, after);
	free(after);
	T_EQ(t_fsck(fs, false), 0, "  the full pool is consistent");

	/* An unlinked inode is free only when its last reference goes. */
	T_EQ(daxfs_lookup(fs, DX_ROOT_INO, "f1", &st), 0, "lookup f1 (a reference)");
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "f1"), 0, "unlink f1");
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, 0, "  its slot stays in use while referenced");
	T_EQ(daxfs_getattr(fs, st.st_ino, &st), 0, "  and getattr still works");
	T_EQ(st.st_nlink, 0, "  with nlink 0");
	daxfs_forget(fs, st.st_ino, 1);
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, 1, "  forgetting the last reference frees the slot");
	T_EQ(daxfs_getattr(fs, st.st_ino, &st), -ENOENT, "  and the inode is gone");
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "again", S_IFREG | 0644, 0, &t_cred, &st), 0,
	     "  mknod works again");
	T_EQ(st.st_ino, inos[1], "  and reuses the freed slot");
	daxfs_forget(fs, st.st_ino, 1);
	T_EQ(t_fsck(fs, false), 0, "  consistent");
	daxfs_close(fs);

	fs = t_open(pool);
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, 0, "reopen: still full");
	for (uint64_t i = 2; i < made; i++) {
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		daxfs_unlink(fs, DX_ROOT_INO, name);
	}
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, made - 2, "unlinking unreferenced files frees their slots at once");
	T_EQ(t_fsck(fs, false), 0, "  consistent");
	daxfs_close(fs);
	free(before);
	free(inos);
}

/* When the blocks run out, calls that need one fail whole. */
static void test_block_enospc_meta(void)
{
	const char *pool = t_path("bfull");
	struct daxfs *fs;
	struct stat st;
	char name[32], *before, *after, buf[4096];
	uint64_t filler;
	int i;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	/* 15 entries fill the root's first directory block. */
	for (i = 0; i < (int)DX_DIRENTS_PER_BLOCK - 1; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		daxfs_mknod(fs, DX_ROOT_INO, name, S_IFREG | 0644, 0, &t_cred, &st);
		daxfs_forget(fs, st.st_ino, 1);
	}
	daxfs_mknod(fs, DX_ROOT_INO, "filler", S_IFREG | 0644, 0, &t_cred, &st);
	filler = st.st_ino;
	memset(buf, 0xab, sizeof(buf));
	for (off_t off = 0; daxfs_write(fs, filler, buf, sizeof(buf), off, 0) > 0;
	     off += (off_t)sizeof(buf))
		;
	T_EQ(fs->free_blocks, 0, "a file filled the pool");
	T_EQ(statfs_free(fs), 0, "  statfs f_bfree 0");
	before = t_snapshot(fs);
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "x", S_IFREG | 0644, 0, &t_cred, &st), -ENOSPC,
	     "mknod needing a new directory block: ENOSPC");
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "x", 0755, &t_cred, &st), -ENOSPC, "mkdir: ENOSPC");
	T_EQ(daxfs_link(fs, filler, DX_ROOT_INO, "x", &st), -ENOSPC, "link: ENOSPC");
	T_EQ(daxfs_setxattr(fs, filler, "user.a", "v", 1, 0), -ENOSPC,
	     "setxattr needing a block: ENOSPC");
	after = t_snapshot(fs);
	T(!strcmp(before, after), "  the failed calls changed nothing");
	if (strcmp(before, after))
		t_snapshot_diff(before, after);
	free(after);
	/* A rename inside a full directory frees a slot as it takes one;
	 * whether it may succeed is the core's choice, but it must be whole. */
	{
		int r = daxfs_rename(fs, DX_ROOT_INO, "n0", DX_ROOT_INO, "x", 0);
		T(r == 0 || r == -ENOSPC, "rename inside a full directory: 0 or ENOSPC (%d)", r);
		if (r == 0) {
			T_EQ(daxfs_lookup(fs, DX_ROOT_INO, "n0", &st), -ENOENT, "  n0 is gone");
			T_EQ(daxfs_rename(fs, DX_ROOT_INO, "x", DX_ROOT_INO, "n0", 0), 0,
			     "  and back");
		} else {
			after = t_snapshot(fs);
			T(!strcmp(before, after), "  the failed rename changed nothing");
			free(after);
		}
	}
	T_EQ(fs->free_blocks, 0, "  nothing allocated");
	T_EQ(t_fsck(fs, false), 0, "  consistent");
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "filler"), 0, "unlink the filler");
	daxfs_forget(fs, filler, 1);
	T_EQ(statfs_free(fs), fs->sb.nblocks - fs->sb.data_blk - 1,
	     "  frees every block but the root's directory block");
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "x", S_IFREG | 0644, 0, &t_cred, &st), 0,
	     "  mknod works again");
	daxfs_forget(fs, st.st_ino, 1);
	T_EQ(t_fsck(fs, false), 0, "  consistent");
	free(before);
	daxfs_close(fs);
}

static void body(void)
{
	test_until_full();
	test_goal();
	test_inodes_internal();
	test_inodes_public();
	test_block_enospc_meta();
}

int main(void)
{
	return t_run("alloc", body);
}
