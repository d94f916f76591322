/* SPDX-License-Identifier: MIT */
/*
 * unit_quarantine.c - recovery quarantines the blocks of a live holder only
 * once they are out of the file (issue 11, defect 1).  Taking them out of
 * the middle of an extent splits it; on a full pool the split has no
 * extent block, and the old code marked the record QUARANTINE anyway, so
 * the reaper later freed blocks the file still mapped.  Now the mount is
 * refused with a message and the pool keeps the record as a mapping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core.h"
#include "csum.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

/* A file with four extents (its inline slots all used): blocks 0-3, 10,
 * 20 and 30.  Returns its ino and the pool block of file block 0. */
static void make_file(struct daxfs *fs, uint64_t *ino, uint64_t *pblk)
{
	static char buf[4 * DX_BLOCK_SIZE];
	struct stat st;
	struct dx_ino *ip;

	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "f", S_IFREG | 0644, 0, &t_cred, &st), 0, "create");
	t_pattern(buf, sizeof(buf), 7);
	T_EQ(daxfs_write(fs, st.st_ino, buf, sizeof(buf), 0, 0), sizeof(buf), "write 0-3");
	for (int b = 10; b <= 30; b += 10)
		T_EQ(daxfs_write(fs, st.st_ino, buf, DX_BLOCK_SIZE, (off_t)b * DX_BLOCK_SIZE, 0),
		     DX_BLOCK_SIZE, "write block %d", b);
	ip = dx_iget(fs, st.st_ino);
	T(ip && !dx_iload(fs, ip), "load the inode");
	T_EQ(ip->xmap.n, 4, "four extents");
	*pblk = dx_off(fs, dx_xmap_addr(fs, ip, 0)) / DX_BLOCK_SIZE;
	dx_iput(fs, ip);
	*ino = st.st_ino;
}

/* A live mapping record of file blocks 1-2, as a crashed daemon leaves it. */
static void plant_record(struct daxfs *fs, uint64_t ino, uint64_t pblk)
{
	struct dx_maprec *r = &fs->maprecs[0];
	uint64_t start = 0;

	dx_holder_start(getpid(), &start);
	memset(r, 0, sizeof(*r));
	r->flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE;
	r->ino = ino;
	r->lblk = 1;
	r->pblk = pblk + 1;
	r->nblocks = 2;
	r->holder_pid = (uint32_t)getpid();
	r->holder_start = start;
	r->holder_boot = dx_boot_id();
	r->id = 1;
	r->kind = DX_MAPREC_MAP;
	r->csum = dx_csum_maprec(fs->csum_seed, 0, r); /* as rec_write makes it */
	dx_persist(&fs->pc, r, sizeof(*r));
}

/* Take every free block (they leak; the test only opens the pool). */
static void fill_pool(struct daxfs *fs)
{
	uint64_t p;

	dx_tx_begin(fs);
	while (fs->free_blocks && dx_alloc_blocks(fs, 0, fs->free_blocks, &p))
		;
	dx_tx_commit(fs);
	T_EQ(fs->free_blocks, 0, "the pool is full");
}

static void test_with_room(void)
{
	const char *p = t_path("room");
	uint64_t ino, pblk;
	struct daxfs *fs;
	struct dx_ino *ip;
	struct daxfs_stats s;
	char want[DX_BLOCK_SIZE * 4];

	T_EQ(t_mkfs(p, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(p);
	make_file(fs, &ino, &pblk);
	plant_record(fs, ino, pblk);
	daxfs_close(fs);

	fs = t_open(p);
	daxfs_get_stats(fs, &s);
	T_EQ(s.quarantined_blocks, 2, "the live holder's two blocks are quarantined");
	ip = dx_iget(fs, ino);
	T(ip && !dx_iload(fs, ip), "load the inode");
	for (uint64_t b = 1; b <= 2; b++)
		T(dx_xmap_addr(fs, ip, b) != dx_blk(fs, pblk + b),
		  "file block %llu no longer maps the quarantined block", (unsigned long long)b);
	dx_iput(fs, ip);
	t_pattern(want, sizeof(want), 7);
	{
		char got[sizeof(want)];

		T_EQ(daxfs_pread(fs, ino, got, sizeof(got), 0), sizeof(got), "read 0-3");
		T(!memcmp(got, want, sizeof(got)), "the copies hold the file's bytes");
	}
	T_EQ(t_fsck(fs, false), 0, "the pool is consistent");
	daxfs_close(fs);
}

static void test_full_pool(void)
{
	const char *p = t_path("full");
	uint64_t ino, pblk;
	struct daxfs *fs;

	T_EQ(t_mkfs(p, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(p);
	make_file(fs, &ino, &pblk);
	fill_pool(fs);
	plant_record(fs, ino, pblk);
	daxfs_close(fs);

	fs = NULL;
	T_EQ(daxfs_open(p, &(struct daxfs_open_opts){0}, &fs), -ENOSPC,
	     "the mount is refused: the split has no room (old code: quarantined anyway)");
	t_note("message: %s", daxfs_errormsg());
	T(strstr(daxfs_errormsg(), "live holder") != NULL, "the message names the holder");
	if (fs)
		daxfs_close(fs);
	/* The record is still a mapping record: a read-only open refuses
	 * the pool for the same reason as before the attempt. */
	T_EQ(daxfs_open(p, &(struct daxfs_open_opts){.readonly = 1}, &fs), -EROFS,
	     "the record is still a live mapping (a read-only open says so)");
	if (fs)
		daxfs_close(fs);
}

static void body(void)
{
	test_with_room();
	test_full_pool();
}

int main(void)
{
	return t_run("quarantine", body);
}
