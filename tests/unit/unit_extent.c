/* SPDX-License-Identifier: MIT */
/*
 * unit_extent.c - a regular file's block map, through the public calls
 * (write, fallocate, lseek, pread, setattr) checked against a model buffer,
 * with a look at the internal extent map where the layout matters.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "core.h"
#include "csum.h"
#include "unit.h"

#define POOL_SIZE (32ULL << 20)
#define BLK	  ((off_t)DX_BLOCK_SIZE)
#define TiB	  (1ULL << 40)

static struct daxfs *fs;

static uint64_t mkfile(const char *name)
{
	struct stat st;
	int ret = daxfs_mknod(fs, DX_ROOT_INO, name, S_IFREG | 0644, 0, &t_cred, &st);

	if (!T_EQ(ret, 0, "create %s", name))
		return 0;
	daxfs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static uint64_t free_blocks(void)
{
	struct statvfs sv;

	daxfs_statfs(fs, &sv);
	return sv.f_bfree;
}

static off_t fsize(uint64_t ino)
{
	struct stat st;

	return daxfs_getattr(fs, ino, &st) ? -1 : st.st_size;
}

static long long fblocks(uint64_t ino)
{
	struct stat st;

	return daxfs_getattr(fs, ino, &st) ? -1 : (long long)st.st_blocks / 8;
}

/* The number of extents in the DRAM map, and that it is sorted, disjoint
 * and mirrors the records in the pool. */
static long nextents(uint64_t ino)
{
	struct dx_ino *ip = dx_iget(fs, ino);
	long n = -1;

	if (!ip)
		return -1;
	if (!dx_iload(fs, ip)) {
		const struct dx_xmap *m = &ip->xmap;
		bool ok = true;
		for (size_t i = 0; i < m->n; i++) {
			const struct dx_xent *e = &m->v[i];
			ok &= e->len > 0 && e->pblk >= fs->sb.data_blk &&
			      e->pblk + e->len <= fs->sb.nblocks;
			ok &= e->slot->lblk == e->lblk && e->slot->len == e->len &&
			      e->slot->pblk == e->pblk;
			if (i)
				ok &= (uint64_t)m->v[i - 1].lblk + m->v[i - 1].len <= e->lblk;
		}
		if (!ok)
			t_note("extent map of %llu is not sorted/disjoint/mirrored",
			       (unsigned long long)ino);
		n = ok ? (long)m->n : -2;
	}
	dx_iput(fs, ip);
	return n;
}

static bool matches(uint64_t ino, const unsigned char *model, size_t size)
{
	unsigned char *buf = malloc(size + 1);
	ssize_t got;
	bool ok;

	got = daxfs_pread(fs, ino, buf, size + 1, 0);
	ok = got == (ssize_t)size && !memcmp(buf, model, size) && fsize(ino) == (off_t)size;
	if (!ok) {
		t_note("read %zd bytes, want %zu; size %lld", got, size, (long long)fsize(ino));
		for (size_t i = 0; got > 0 && i < (size_t)got && i < size; i++)
			if (buf[i] != model[i]) {
				t_note("first difference at %zu: %02x, want %02x", i, buf[i],
				       model[i]);
				break;
			}
	}
	free(buf);
	return ok;
}

static void test_append_merge(void)
{
	uint64_t ino = mkfile("seq");
	unsigned char *model = calloc(1, 64 * BLK + 10 * 1000);
	size_t size = 0;
	bool ok = true;

	for (int i = 0; i < 64; i++) {
		t_pattern(model + size, BLK, (uint64_t)i);
		ok &= daxfs_write(fs, ino, model + size, BLK, 0, 1) == BLK;
		size += BLK;
	}
	for (int i = 0; i < 10; i++) {
		t_pattern(model + size, 1000, 100 + (uint64_t)i);
		ok &= daxfs_write(fs, ino, model + size, 1000, 0, 1) == 1000;
		size += 1000;
	}
	T(ok, "74 appends write in full");
	T_EQ(nextents(ino), 1, "  sequential appends merge into one extent");
	T(matches(ino, model, size), "  content and size");
	T_EQ(fblocks(ino), (size + BLK - 1) / BLK, "  st_blocks counts what is backed");
	free(model);
}

static void test_random_writes(void)
{
	const size_t span = 4 << 20;
	uint64_t ino = mkfile("random");
	unsigned char *model = calloc(1, span), *buf = malloc(65536);
	size_t size = 0;
	bool ok = true;

	t_srand(42);
	for (int i = 0; i < 400; i++) {
		size_t len = 1 + t_rand() % 65536, off = t_rand() % (span - len);
		t_pattern(buf, len, (uint64_t)i);
		ok &= daxfs_write(fs, ino, buf, len, (off_t)off, 0) == (ssize_t)len;
		memcpy(model + off, buf, len);
		if (off + len > size)
			size = off + len;
		if (i % 100 == 99)
			ok &= matches(ino, model, size);
	}
	T(ok, "400 random writes (and overwrites) match the model as they go");
	T(matches(ino, model, size), "  final content, holes read as zeros");
	T(nextents(ino) > 0, "  the extent map is sorted, disjoint and mirrors the pool");
	{
		long long backed = 0;
		for (off_t b = 0; b < (off_t)((size + BLK - 1) / BLK); b++)
			backed += daxfs_lseek(fs, ino, b * BLK, SEEK_DATA) == b * BLK;
		T_EQ(fblocks(ino), backed, "  st_blocks equals the blocks SEEK_DATA reports");
	}
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	free(buf);
	free(model);
}

static void test_punch(void)
{
	uint64_t ino = mkfile("punch");
	size_t size = 16 * BLK;
	unsigned char *model = malloc(size);
	uint64_t before;
	struct {
		off_t off, len;
		long extents;
		long long blocks;
		const char *what;
	} steps[] = {
	    {4 * BLK, 4 * BLK, 2, 12, "punch 4 blocks in the middle splits the extent in two"},
	    {BLK + 100, 100, 2, 12, "punch inside one block zeroes bytes, keeps the block"},
	    {2 * BLK + 10, BLK, 2, 12, "punch across a block boundary keeps both blocks"},
	    {12 * BLK, 100 * BLK, 2, 8, "punch past EOF removes the tail blocks, keeps size"},
	    {9 * BLK, BLK, 3, 7, "another punch makes three extents"},
	    {0, 16 * BLK, 0, 0, "punch everything"},
	};

	t_pattern(model, size, 7);
	T_EQ(daxfs_write(fs, ino, model, size, 0, 0), (ssize_t)size, "write 16 blocks at once");
	T_EQ(nextents(ino), 1, "  one extent");
	before = free_blocks();
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		off_t end = steps[i].off + steps[i].len;
		if ((size_t)end > size)
			end = (off_t)size;
		T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     steps[i].off, steps[i].len),
		     0, "%s", steps[i].what);
		memset(model + steps[i].off, 0, (size_t)(end - steps[i].off));
		T(matches(ino, model, size), "  content (zeros in the hole) and size");
		T_EQ(nextents(ino), steps[i].extents, "  extents");
		T_EQ(fblocks(ino), steps[i].blocks, "  blocks");
		T_EQ(free_blocks(), before + 16 - (uint64_t)steps[i].blocks,
		     "  statfs: removed blocks are free");
	}
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE, 0, BLK), -EOPNOTSUPP,
	     "punch without KEEP_SIZE: EOPNOTSUPP");

	/* Zero range: fresh zeroed blocks, size grows unless KEEP_SIZE. */
	t_pattern(model, size, 8);
	daxfs_write(fs, ino, model, size, 0, 0);
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_ZERO_RANGE, 3 * BLK + 7, 2 * BLK), 0,
	     "zero range in the middle");
	memset(model + 3 * BLK + 7, 0, 2 * BLK);
	T(matches(ino, model, size), "  content");
	T_EQ(fblocks(ino), 16, "  every block still backed");
	T_EQ(
	    daxfs_fallocate(fs, ino, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 15 * BLK, 4 * BLK),
	    0, "zero range past EOF with KEEP_SIZE");
	memset(model + 15 * BLK, 0, BLK);
	T(matches(ino, model, size), "  size kept");
	T_EQ(fblocks(ino), 19, "  blocks allocated past EOF");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_ZERO_RANGE, 18 * BLK, 100), 0,
	     "zero range past EOF without KEEP_SIZE");
	model = realloc(model, 18 * BLK + 100);
	memset(model + size, 0, 18 * BLK + 100 - size);
	size = 18 * BLK + 100;
	T(matches(ino, model, size), "  grows the file with zeros");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	free(model);
}

/* Model of collapse/insert: shift the tail of buf. */
static void collapse_model(unsigned char *m, size_t *size, size_t off, size_t len)
{
	memmove(m + off, m + off + len, *size - off - len);
	*size -= len;
}

static void insert_model(unsigned char *m, size_t *size, size_t off, size_t len)
{
	memmove(m + off + len, m + off, *size - off);
	memset(m + off, 0, len);
	*size += len;
}

static void test_collapse_insert(void)
{
	const size_t cap = 2 << 20;
	uint64_t ino = mkfile("shift");
	unsigned char *model = calloc(1, cap + 64 * BLK);
	size_t size = 64 * BLK + 123;
	bool ok = true;
	int ops = 0;

	t_pattern(model, size, 9);
	daxfs_write(fs, ino, model, size, 0, 0);
	/* Some holes, so shifts move holes and several extents. */
	for (off_t b = 5; b < 60; b += 11)
		daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b * BLK, BLK);
	for (off_t b = 5; b < 60; b += 11)
		memset(model + b * BLK, 0, BLK);
	T(matches(ino, model, size), "a 64-block file with holes");

	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_COLLAPSE_RANGE, 100, BLK), -EINVAL,
	     "collapse at an unaligned offset: EINVAL");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_COLLAPSE_RANGE, BLK, 100), -EINVAL,
	     "collapse of an unaligned length: EINVAL");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_COLLAPSE_RANGE, 60 * BLK, 8 * BLK), -EINVAL,
	     "collapse reaching EOF: EINVAL");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_INSERT_RANGE, 70 * BLK, BLK), -EINVAL,
	     "insert past EOF: EINVAL");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_INSERT_RANGE | FALLOC_FL_KEEP_SIZE, 0, BLK),
	     -EINVAL, "insert with KEEP_SIZE: EINVAL");
	T(matches(ino, model, size), "  the refused calls changed nothing");

	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_COLLAPSE_RANGE, 2 * BLK, 3 * BLK), 0,
	     "collapse 3 blocks at block 2");
	collapse_model(model, &size, 2 * BLK, 3 * BLK);
	T(matches(ino, model, size), "  data after the range moved down");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_INSERT_RANGE, 3 * BLK, 2 * BLK), 0,
	     "insert 2 blocks at block 3 (inside an extent)");
	insert_model(model, &size, 3 * BLK, 2 * BLK);
	T(matches(ino, model, size), "  data after the range moved up, a hole between");
	T_EQ(daxfs_lseek(fs, ino, 3 * BLK, SEEK_DATA), 5 * BLK, "  SEEK_DATA skips the hole");

	t_srand(77);
	for (ops = 0; ops < 300 && ok; ops++) {
		size_t nb = size / BLK, off, len;
		if (t_rand() % 2 && nb > 2) {
			size_t room;
			off = (t_rand() % (nb - 1)) * BLK;
			room = (size - off - 1) / BLK; /* whole blocks that leave a tail */
			if (!room)
				continue;
			len = (1 + t_rand() % (room < 8 ? room : 8)) * BLK;
			ok &= daxfs_fallocate(fs, ino, FALLOC_FL_COLLAPSE_RANGE, (off_t)off,
					      (off_t)len) == 0;
			collapse_model(model, &size, off, len);
		} else {
			len = (1 + t_rand() % 8) * BLK;
			if (size + len > cap)
				continue;
			off = (t_rand() % (nb ? nb : 1)) * BLK;
			if (off >= size)
				continue;
			ok &= daxfs_fallocate(fs, ino, FALLOC_FL_INSERT_RANGE, (off_t)off,
					      (off_t)len) == 0;
			insert_model(model, &size, off, len);
		}
		if (t_rand() % 4 == 0) {
			/* Refill part of a hole, so extents keep changing. */
			size_t o = t_rand() % size, l = 1 + t_rand() % (2 * BLK);
			if (o + l > size)
				l = size - o;
			t_pattern(model + o, l, (uint64_t)ops + 1000);
			ok &= daxfs_write(fs, ino, model + o, l, (off_t)o, 0) == (ssize_t)l;
		}
		ok &= matches(ino, model, size);
	}
	T(ok, "300 random collapse/insert/write steps match the model (stopped at %d)", ops);
	T(nextents(ino) >= 0, "  the extent map stays sorted and mirrored");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	free(model);
}

static void test_seek(void)
{
	uint64_t ino = mkfile("seek");
	char buf[2 * BLK];
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 14 * BLK};

	memset(buf, 'd', sizeof(buf));
	T_EQ(daxfs_lseek(fs, ino, 0, SEEK_DATA), -ENXIO, "SEEK_DATA in an empty file: ENXIO");
	T_EQ(daxfs_lseek(fs, ino, 0, SEEK_HOLE), -ENXIO, "SEEK_HOLE in an empty file: ENXIO");
	daxfs_write(fs, ino, buf, sizeof(buf), 0, 0);
	daxfs_write(fs, ino, buf, sizeof(buf), 10 * BLK, 0);
	daxfs_setattr(fs, ino, &sa, &t_cred, NULL);
	/* Layout: data [0,2) hole [2,10) data [10,12) hole [12,14). */
	T_EQ(daxfs_lseek(fs, ino, 0, SEEK_DATA), 0, "SEEK_DATA at data");
	T_EQ(daxfs_lseek(fs, ino, 5000, SEEK_DATA), 5000, "SEEK_DATA inside data stays");
	T_EQ(daxfs_lseek(fs, ino, 0, SEEK_HOLE), 2 * BLK, "SEEK_HOLE finds the first hole");
	T_EQ(daxfs_lseek(fs, ino, 3 * BLK, SEEK_HOLE), 3 * BLK, "SEEK_HOLE inside a hole stays");
	T_EQ(daxfs_lseek(fs, ino, 2 * BLK, SEEK_DATA), 10 * BLK, "SEEK_DATA skips a hole");
	T_EQ(daxfs_lseek(fs, ino, 11 * BLK + 5, SEEK_HOLE), 12 * BLK, "SEEK_HOLE after data");
	T_EQ(daxfs_lseek(fs, ino, 12 * BLK, SEEK_DATA), -ENXIO,
	     "SEEK_DATA in the tail hole: ENXIO");
	T_EQ(daxfs_lseek(fs, ino, 14 * BLK, SEEK_HOLE), -ENXIO, "SEEK_HOLE at EOF: ENXIO");
	T_EQ(daxfs_lseek(fs, ino, 14 * BLK - 1, SEEK_HOLE), 14 * BLK - 1,
	     "SEEK_HOLE in the tail hole stays");
	T_EQ(daxfs_lseek(fs, ino, -1, SEEK_DATA), -ENXIO, "negative offset: ENXIO");
	/* Blocks past EOF (KEEP_SIZE) are not data. */
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 14 * BLK, 4 * BLK), 0,
	     "preallocate past EOF");
	T_EQ(daxfs_lseek(fs, ino, 12 * BLK, SEEK_DATA), -ENXIO, "  still no data after 12");
	T_EQ(daxfs_lseek(fs, ino, 11 * BLK, SEEK_HOLE), 12 * BLK, "  hole still at 12");
	T_EQ(fsize(ino), 14 * BLK, "  size kept");
	T_EQ(daxfs_fallocate(fs, ino, 0, 12 * BLK, 2 * BLK), 0, "preallocate the tail hole");
	T_EQ(daxfs_lseek(fs, ino, 11 * BLK, SEEK_HOLE), 14 * BLK, "  SEEK_HOLE is now EOF");
	{
		char z[BLK], zero[BLK] = {0};
		T(daxfs_pread(fs, ino, z, BLK, 12 * BLK) == BLK && !memcmp(z, zero, BLK),
		  "  preallocated blocks read as zeros");
	}
}

/* > 255 * 3 extents: the inline slots and several extent blocks. */
static void test_many_extents(const char *pool)
{
	const int n = 800;
	uint64_t ino = mkfile("many"), nblk;
	size_t size = (size_t)(2 * n - 1) * BLK;
	unsigned char *model = calloc(1, size), *after;
	uint64_t chain = 0, b;
	bool ok = true;
	uint64_t base_free;

	base_free = free_blocks();
	for (int i = 0; i < n; i++) {
		t_pattern(model + 2 * i * BLK, BLK, (uint64_t)i + 5000);
		ok &= daxfs_write(fs, ino, model + 2 * i * BLK, BLK, 2 * i * BLK, 0) == BLK;
	}
	T(ok, "write every other block, %d times", n);
	T_EQ(nextents(ino), n, "  %d extents", n);
	{
		struct dx_ino *ip = dx_iget(fs, ino);
		for (b = ip->d->ext_next; b && chain < 100;
		     b = ((struct dx_extent_block *)dx_blk(fs, b))->next)
			chain++;
		dx_iput(fs, ip);
	}
	nblk = (uint64_t)(n - DX_INLINE_EXTENTS + DX_EXTENTS_PER_BLOCK - 1) / DX_EXTENTS_PER_BLOCK;
	T_EQ(chain, nblk, "  a chain of %llu extent blocks", (unsigned long long)nblk);
	T_EQ(free_blocks(), base_free - (uint64_t)n - nblk,
	     "  statfs counts data and extent blocks");
	T(matches(ino, model, size), "  content");

	daxfs_close(fs);
	fs = t_open(pool);
	T_EQ(nextents(ino), n, "after close/reopen: %d extents", n);
	T(matches(ino, model, size), "  identical content");
	ok = true;
	for (int i = 0; i < n && ok; i++)
		ok &= daxfs_lseek(fs, ino, (2 * i + 1) * BLK - 1, SEEK_HOLE) == (2 * i + 1) * BLK;
	T(ok, "  every hole where it was");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");

	/* Fill the holes: the count can only go down, content stays. */
	after = malloc(BLK);
	for (int i = 0; i < n - 1; i += 2) {
		t_pattern(after, BLK, (uint64_t)i + 9000);
		memcpy(model + (2 * i + 1) * BLK, after, BLK);
		daxfs_write(fs, ino, after, BLK, (2 * i + 1) * BLK, 0);
	}
	free(after);
	{
		long x = nextents(ino);
		/* Goal-directed allocation puts most new blocks right after
		 * their left neighbour, where they merge into its extent. */
		T(x >= 0 && x <= n + n / 2, "filling %d holes adds at most one extent each (%ld)",
		  n / 2, x);
		T(x < n + n / 8, "  and most new blocks merge with their neighbour");
	}
	T(matches(ino, model, size), "  content");
	daxfs_close(fs);
	fs = t_open(pool);
	T(matches(ino, model, size), "  content after reopen");

	{
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 0};
		T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate to 0");
	}
	T_EQ(nextents(ino), 0, "  no extents");
	T_EQ(fblocks(ino), 0, "  no blocks");
	{
		struct dx_ino *ip = dx_iget(fs, ino);
		T_EQ(free_blocks(), base_free - (ip->d->ext_next ? nblk : 0),
		     "  all data blocks are free");
		T_EQ(ip->d->ext_next, 0, "  and the empty extent blocks are released");
		dx_iput(fs, ip);
	}
	T_EQ(free_blocks(), base_free, "  statfs: every block is back");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	free(model);
}

static void test_sparse_1tib(const char *pool)
{
	uint64_t ino = mkfile("sparse"), base_free = free_blocks();
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = TiB};
	char a[BLK], b[BLK], r[BLK], zero[BLK] = {0};

	t_pattern(a, BLK, 1);
	t_pattern(b, BLK, 2);
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate up to 1 TiB");
	T_EQ(fsize(ino), (off_t)TiB, "  size is 1 TiB");
	T_EQ(fblocks(ino), 0, "  no blocks");
	T_EQ(daxfs_write(fs, ino, a, BLK, (off_t)(TiB / 2), 0), BLK, "write 4 KiB at 512 GiB");
	T_EQ(daxfs_write(fs, ino, b, BLK, (off_t)(TiB - BLK), 0), BLK, "write the last 4 KiB");
	T_EQ(fsize(ino), (off_t)TiB, "  size still 1 TiB");
	T_EQ(fblocks(ino), 2, "  two blocks");
	T_EQ(free_blocks(), base_free - 2, "  statfs: two blocks used");
	T(daxfs_pread(fs, ino, r, BLK, (off_t)(TiB / 4)) == BLK && !memcmp(r, zero, BLK),
	  "  a hole reads zeros");
	T(daxfs_pread(fs, ino, r, BLK, (off_t)(TiB / 2)) == BLK && !memcmp(r, a, BLK),
	  "  data at 512 GiB");
	T_EQ(daxfs_lseek(fs, ino, 0, SEEK_DATA), (off_t)(TiB / 2), "  SEEK_DATA from 0");
	T_EQ(daxfs_lseek(fs, ino, (off_t)(TiB / 2), SEEK_HOLE), (off_t)(TiB / 2) + BLK,
	     "  SEEK_HOLE after it");
	T_EQ(daxfs_pread(fs, ino, r, BLK, (off_t)TiB), 0, "  read at EOF: 0");
	T_EQ(daxfs_write(fs, ino, a, 10, (off_t)TiB, 1), 10, "append 10 bytes");
	T_EQ(fsize(ino), (off_t)TiB + 10, "  size 1 TiB + 10");
	daxfs_close(fs);
	fs = t_open(pool);
	T_EQ(fsize(ino), (off_t)TiB + 10, "after reopen: size");
	T(daxfs_pread(fs, ino, r, BLK, (off_t)(TiB - BLK)) == BLK && !memcmp(r, b, BLK),
	  "  last block of the first TiB");
	T(daxfs_pread(fs, ino, r, BLK, (off_t)TiB) == 10 && !memcmp(r, a, 10),
	  "  the appended bytes");
	sa.size = 0;
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate to 0");
	T_EQ(free_blocks(), base_free, "  frees the blocks");
}

static void test_efbig(void)
{
	uint64_t ino = mkfile("big");
	const off_t max = (off_t)DX_MAX_FILE_SIZE;
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE};
	char buf[16] = "0123456789abcdef", r[16];

	T_EQ(daxfs_write(fs, ino, buf, 1, (off_t)(16 * TiB), 0), -EFBIG, "write at 16 TiB: EFBIG");
	T_EQ(daxfs_write(fs, ino, buf, 1, max, 0), -EFBIG, "write at the maximum size: EFBIG");
	T_EQ(fsize(ino), 0, "  size unchanged");
	T_EQ(daxfs_write(fs, ino, buf, 10, max - 4, 0), 4, "write across the limit is short");
	T_EQ(fsize(ino), max, "  size is the maximum");
	T_EQ(daxfs_pread(fs, ino, r, 16, max - 4), 4, "  the 4 bytes read back");
	T(!memcmp(r, buf, 4), "  with the right content");
	T_EQ(daxfs_lseek(fs, ino, 0, SEEK_DATA), max - (max % BLK),
	     "  SEEK_DATA finds the last block");
	sa.size = (uint64_t)max + 1;
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), -EFBIG,
	     "truncate past the maximum: EFBIG");
	T_EQ(daxfs_fallocate(fs, ino, 0, max - BLK, 2 * BLK), -EFBIG,
	     "fallocate past the maximum: EFBIG");
	T_EQ(daxfs_fallocate(fs, ino, FALLOC_FL_INSERT_RANGE, 0, BLK), -EFBIG,
	     "insert range beyond the maximum: EFBIG");
	T_EQ(fsize(ino), max, "  size unchanged");
	sa.size = 0;
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate to 0");
	T_EQ(fblocks(ino), 0, "  no blocks left");
}

static void test_truncate(void)
{
	uint64_t ino = mkfile("trunc"), base = free_blocks();
	size_t size = 1 << 20;
	unsigned char *model = malloc(size);
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE};

	t_pattern(model, size, 11);
	T_EQ(daxfs_write(fs, ino, model, size, 0, 0), (ssize_t)size, "write 1 MiB");
	T_EQ(free_blocks(), base - 256, "  statfs: 256 blocks used");
	sa.size = 100000;
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate to 100000");
	T_EQ(free_blocks(), base - 25, "  blocks past the new end are free");
	T_EQ(fblocks(ino), 25, "  st_blocks");
	T(matches(ino, model, 100000), "  the kept bytes are intact");
	sa.size = size;
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate up to 1 MiB again");
	memset(model + 100000, 0, size - 100000);
	T(matches(ino, model, size), "  the old tail reads as zeros");
	T_EQ(fblocks(ino), 25, "  no blocks allocated by growing");
	sa.size = 50000;
	daxfs_setattr(fs, ino, &sa, &t_cred, NULL);
	T_EQ(daxfs_write(fs, ino, "x", 1, 60000, 0), 1, "write past EOF inside the last block");
	memset(model + 50000, 0, 10000);
	model[60000] = 'x';
	T(matches(ino, model, 60001), "  bytes between the old EOF and the write are zeros");
	sa.size = 0;
	T_EQ(daxfs_setattr(fs, ino, &sa, &t_cred, NULL), 0, "truncate to 0");
	T_EQ(free_blocks(), base, "  every block is free again");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	free(model);
}

static void test_enospc(const char *pool)
{
	uint64_t big, small, empty, holes, base;
	char *buf = malloc(1 << 20), *snap1, *snap2, blk[BLK];
	ssize_t r;
	off_t off = 0;
	int guard = 0;

	t_mkfs(pool, POOL_SIZE, 0);
	fs = t_open(pool);
	base = free_blocks();
	small = mkfile("small");
	empty = mkfile("empty");
	big = mkfile("big");
	holes = mkfile("holes");
	t_pattern(blk, BLK, 3);
	/* holes: one block, then holes up to 5 blocks. */
	daxfs_write(fs, holes, blk, BLK, 0, 0);
	daxfs_write(fs, holes, blk, 1, 2 * BLK - 1, 0);
	daxfs_setattr(fs, holes, &(struct daxfs_setattr){.valid = DX_SET_SIZE, .size = 5 * BLK},
		      &t_cred, NULL);
	for (int i = 0; i < 4; i++)
		daxfs_write(fs, small, blk, BLK, i * BLK, 0);
	t_pattern(buf, 1 << 20, 4);
	do {
		r = daxfs_write(fs, big, buf, 1 << 20, off, 0);
		if (r > 0)
			off += r;
	} while (r == 1 << 20 && guard++ < 100);
	T(r == -ENOSPC || (r > 0 && r < (1 << 20)),
	  "filling the pool ends in a short write or ENOSPC (%zd)", r);
	T_EQ(fsize(big), off, "  size is what was written");
	T_EQ(free_blocks(), 0, "  statfs: no block free");
	if (r > 0) {
		r = daxfs_write(fs, big, buf, 1 << 20, off, 0);
		T_EQ(r, -ENOSPC, "  the next write: ENOSPC");
	}
	{
		char *rb = malloc((size_t)off);
		bool ok = daxfs_pread(fs, big, rb, (size_t)off, 0) == off;
		for (off_t o = 0; ok && o < off; o += 1 << 20)
			ok &= !memcmp(rb + o, buf,
				      (size_t)(off - o < (1 << 20) ? off - o : (1 << 20)));
		T(ok, "  everything written reads back");
		free(rb);
	}

	snap1 = t_snapshot(fs);
	T_EQ(daxfs_write(fs, empty, buf, 100, 0, 0), -ENOSPC, "write into an empty file: ENOSPC");
	T_EQ(daxfs_write(fs, small, buf, 100, 100 * BLK, 0), -ENOSPC,
	     "write into a hole past EOF: ENOSPC");
	T_EQ(daxfs_fallocate(fs, empty, 0, 0, BLK), -ENOSPC, "fallocate: ENOSPC");
	T_EQ(daxfs_copy_file_range(fs, small, 0, empty, 0, 2 * BLK, 0), -ENOSPC,
	     "copy_file_range into an empty file: ENOSPC");
	T_EQ(daxfs_copy_file_range(fs, holes, BLK, empty, 0, 2 * BLK, 0), -ENOSPC,
	     "copy_file_range of data and holes into an empty file: ENOSPC");
	snap2 = t_snapshot(fs);
	T(!strcmp(snap1, snap2), "  the failed calls changed nothing");
	if (strcmp(snap1, snap2))
		t_snapshot_diff(snap1, snap2);
	free(snap2);

	/* Over existing blocks and into a hole: short at the first hole. */
	t_pattern(blk, BLK, 5);
	memcpy(buf, blk, BLK);
	memcpy(buf + BLK, blk, BLK);
	r = daxfs_write(fs, small, buf, 6 * BLK, 2 * BLK, 0);
	T_EQ(r, 2 * BLK, "a write over 2 backed blocks and into holes is short at the first hole");
	T_EQ(fsize(small), 4 * BLK, "  size covers only what was written");
	{
		char rb[2 * BLK];
		T(daxfs_pread(fs, small, rb, 2 * BLK, 2 * BLK) == 2 * BLK &&
		      !memcmp(rb, buf, 2 * BLK),
		  "  the backed part was written");
	}
	T_EQ(daxfs_write(fs, small, buf, BLK, 0, 0), BLK, "overwrites still work when full");
	T_EQ(daxfs_copy_file_range(fs, holes, 2 * BLK, empty, 0, 3 * BLK, 0), 3 * BLK,
	     "copy_file_range of holes only, when full");
	T(fsize(empty) == 3 * BLK && fblocks(empty) == 0, "  the size grew, no block taken");
	T_EQ(daxfs_copy_file_range(fs, small, 0, holes, BLK, 2 * BLK, 0), BLK,
	     "copy_file_range over a backed block and into a hole: short at the hole");
	{
		char rb[BLK];
		T(daxfs_pread(fs, holes, rb, BLK, BLK) == BLK && !memcmp(rb, buf, BLK),
		  "  the backed block was written");
	}
	T_EQ(daxfs_copy_file_range(fs, empty, 0, empty, 3 * BLK, 10, 0), 10,
	     "a hole onto the end of the same file, when full");
	T_EQ(t_fsck(fs, false), 0, "  the full pool is consistent");

	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "big"), 0, "unlink the big file");
	T_EQ(free_blocks(), base - 4 - 2 - 1,
	     "  its blocks are free (4 of small, 2 of holes, 1 directory block)");
	T_EQ(daxfs_write(fs, empty, buf, 100, 0, 0), 100, "  writes work again");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	free(snap1);
	free(buf);
	daxfs_close(fs);
	fs = NULL;
}

/*
 * Freeing a chain of extent blocks too long for one transaction (issue 11
 * #7): an inode is given thousands of (empty) extent blocks, the journal is
 * made small, as a very large pool's is against its largest files, and the
 * file is deleted.  The release must go in chunks, not overflow the journal
 * (which aborts), and leave every block free and the pool consistent.
 */
static void test_release_long_chain(const char *pool)
{
	enum { CHAIN = 6000 };
	struct daxfs *save = fs;
	uint64_t ino, before, made = 0;
	struct dx_ino *ip;
	size_t jsize;

	T_EQ(t_mkfs(pool, 64ULL << 20, 0), 0, "mkfs for a long extent chain");
	fs = t_open(pool);
	ino = mkfile("chain");
	before = free_blocks();
	ip = dx_iget(fs, ino);
	T(ip && dx_iload(fs, ip) == 0, "load the inode");
	dx_wrlock(&ip->lock);
	dx_tx_begin(fs);
	for (; made < CHAIN; made++) {
		struct dx_extent_block *eb;
		uint64_t b;

		if (dx_tx_room(fs) < 16384) {
			dx_tx_commit(fs);
			dx_tx_begin(fs);
		}
		if (!dx_alloc_blocks(fs, 0, 1, &b))
			break;
		eb = dx_blk(fs, b);
		dx_tx_touch(fs, eb, sizeof(*eb));
		dx_csum_note_block(fs, DX_CS_EXTBLK, eb);
		memset(eb, 0, sizeof(*eb));
		eb->next = ip->d->ext_next;
		eb->owner = (uint32_t)ino;
		dx_tx_add(fs, &ip->d->ext_next, sizeof(ip->d->ext_next));
		ip->d->ext_next = b;
	}
	dx_tx_commit(fs);
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	T_EQ(made, CHAIN, "chained %d extent blocks to one inode", CHAIN);
	T_EQ(before - free_blocks(), CHAIN, "  they are allocated");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent with the long chain");

	/* Their frees log ~32 bytes each: 6000 of them do not fit in 64 KiB. */
	jsize = fs->jr.size;
	fs->jr.size = 64 * 1024;
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "chain"), 0, "delete the file (a small journal)");
	fs->jr.size = jsize;
	T_EQ(free_blocks(), before, "  every extent block is free again");
	T(fs->itable[ino - 1].mode == 0, "  the inode slot is free");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	daxfs_close(fs);
	fs = save;
}

/*
 * copy_file_range: one gathered write of the destination (file.c).  Holes
 * of the source stay holes where the destination has them, read as zeros
 * where it has blocks; a source in more pieces than one read's iovecs is
 * copied in several calls; same-file overlaps are refused.
 */
static void test_copy(void)
{
	enum { PIECES = 600 };
	uint64_t src = mkfile("copy-src"), dst = mkfile("copy-dst"), frag = mkfile("copy-frag");
	uint64_t dst2 = mkfile("copy-dst2");
	size_t size = 4 * BLK + 100, fsz = 2 * PIECES * BLK;
	unsigned char *model = calloc(1, fsz), *m2 = calloc(1, fsz), blk[BLK];
	char *snap1, *snap2;
	struct stat st;
	ssize_t r;
	size_t done;

	/* src: a block, three holes, 100 bytes. */
	t_pattern(model, BLK, 21);
	t_pattern(model + 4 * BLK, 100, 22);
	T_EQ(daxfs_write(fs, src, model, BLK, 0, 0), BLK, "copy: write the source's first block");
	T_EQ(daxfs_write(fs, src, model + 4 * BLK, 100, 4 * BLK, 0), 100, "  and its tail");
	T_EQ(daxfs_copy_file_range(fs, src, 0, dst, 0, SIZE_MAX, 0), (ssize_t)size,
	     "copy a sparse file whole (len SIZE_MAX: to the source's end)");
	T(matches(dst, model, size), "  content, holes as zeros");
	T_EQ(fblocks(dst), 2, "  the holes stayed holes: 2 blocks");
	T(nextents(dst) >= 0, "  the extent map is sound");

	/* Over a destination that has every block: zeros land in them. */
	t_pattern(m2, 5 * BLK, 23);
	T_EQ(daxfs_write(fs, dst2, m2, 5 * BLK, 0, 0), 5 * BLK, "a destination of 5 blocks");
	T_EQ(daxfs_copy_file_range(fs, src, 0, dst2, 0, size, 0), (ssize_t)size,
	     "copy the sparse file over it");
	memcpy(m2, model, size);
	T(matches(dst2, m2, 5 * BLK), "  the source's holes read as zeros, the rest kept");
	T_EQ(fblocks(dst2), 5, "  no block added or removed");

	/* A hole onto a hole past the end: only the size grows. */
	T_EQ(daxfs_copy_file_range(fs, src, BLK, dst, 8 * BLK, 2 * BLK, 0), 2 * BLK,
	     "copy a hole past the destination's end");
	T_EQ(fsize(dst), 10 * BLK, "  the size grows");
	T_EQ(fblocks(dst), 2, "  no block allocated");
	memset(model + size, 0, 10 * BLK - size);
	T(matches(dst, model, 10 * BLK), "  reads as zeros");

	/* The same file. */
	T_EQ(daxfs_copy_file_range(fs, src, 0, src, BLK / 2, BLK, 0), -EINVAL,
	     "same file, overlapping ranges: EINVAL");
	T_EQ(daxfs_copy_file_range(fs, src, 4 * BLK, src, 4 * BLK + 100, BLK, 0), 100,
	     "same file, touching after the shortening to its end: copied");
	memcpy(model + 4 * BLK + 100, model + 4 * BLK, 100);
	T_EQ(daxfs_copy_file_range(fs, src, 0, src, 2 * BLK, BLK, 0), BLK,
	     "same file, into its own hole");
	memcpy(model + 2 * BLK, model, BLK);
	T(matches(src, model, 4 * BLK + 200), "  content");
	T_EQ(fblocks(src), 3, "  one block added");

	/* Refusals change nothing. */
	snap1 = t_snapshot(fs);
	T_EQ(daxfs_copy_file_range(fs, src, 0, dst, 0, BLK, 1), -EINVAL, "flags: EINVAL");
	T_EQ(daxfs_copy_file_range(fs, src, -1, dst, 0, BLK, 0), -EINVAL, "off_in < 0: EINVAL");
	T_EQ(daxfs_copy_file_range(fs, src, 0, dst, -1, BLK, 0), -EINVAL, "off_out < 0: EINVAL");
	T_EQ(daxfs_copy_file_range(fs, src, 0, DX_ROOT_INO, 0, BLK, 0), -EISDIR,
	     "into a directory: EISDIR");
	T_EQ(daxfs_copy_file_range(fs, src, 1 << 20, dst, 0, BLK, 0), 0, "at the source's end: 0");
	T_EQ(daxfs_copy_file_range(fs, src, 0, dst, 0, 0, 0), 0, "len 0: 0");
	snap2 = t_snapshot(fs);
	T(!strcmp(snap1, snap2), "  none of them changed anything");
	free(snap1);
	free(snap2);

	/* 2 x 600 pieces, more than one read's iovecs: short copies. */
	memset(model, 0, fsz);
	for (size_t i = 0; i < PIECES; i++) {
		t_pattern(blk, BLK, 100 + i);
		memcpy(model + 2 * i * BLK, blk, BLK);
		daxfs_write(fs, frag, blk, BLK, (off_t)(2 * i * BLK), 0);
		/* Something else between, so no two blocks are adjacent. */
		daxfs_write(fs, dst2, blk, 1, 5 * BLK + (off_t)i * BLK, 0);
	}
	daxfs_setattr(fs, frag, &(struct daxfs_setattr){.valid = DX_SET_SIZE, .size = fsz}, &t_cred,
		      &st);
	r = daxfs_copy_file_range(fs, frag, 0, dst, 0, fsz, 0);
	T(r > 0 && (size_t)r < fsz, "a source of %d pieces: the first call is short (%zd)",
	  2 * PIECES, r);
	for (done = r > 0 ? (size_t)r : fsz; done < fsz; done += (size_t)r) {
		r = daxfs_copy_file_range(fs, frag, (off_t)done, dst, (off_t)done, fsz - done, 0);
		if (r <= 0)
			break;
	}
	T_EQ(done, fsz, "  the calls copy all of it");
	T(matches(dst, model, fsz), "  content");
	T_EQ(fblocks(dst), PIECES, "  one block per data piece");
	T(nextents(dst) >= 0, "  the extent map is sound");
	free(model);
	free(m2);
}

static void body(void)
{
	/* The copy path of copy_file_range and the extent map alone: block
	 * sharing, which would share instead, is unit-clone's. */
	t_no_reflink = true;
	const char *pool = t_path("pool");

	T_EQ(t_mkfs(pool, POOL_SIZE, 0), 0, "mkfs");
	fs = t_open(pool);
	test_append_merge();
	test_truncate(); /* before the pool is fragmented: one extent per write */
	test_random_writes();
	test_punch();
	test_collapse_insert();
	test_seek();
	test_many_extents(pool);
	test_sparse_1tib(pool);
	test_efbig();
	test_copy();
	T_EQ(t_fsck(fs, false), 0, "pool consistent at the end");
	daxfs_close(fs);
	test_enospc(t_path("full"));
	test_release_long_chain(t_path("chain"));
}

int main(void)
{
	return t_run("extent", body);
}
