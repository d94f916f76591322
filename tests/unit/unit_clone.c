/* SPDX-License-Identifier: MIT */
/*
 * unit_clone.c - block sharing (lib/clone.c), copy on write (lib/cow.c)
 * and the reference counts (lib/refcount.c), through the public calls,
 * with the independent checker (check.c) comparing the counts with the
 * extent maps after each step: on a roomy pool, a nearly full pool, a
 * nearly full journal, with pins on either side, and across a reopen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "core.h"
#include "check.h"
#include "csum.h"
#include "fault.h"
#include "unit.h"

#define BLK DX_BLOCK_SIZE

static uint64_t mkfile(struct daxfs *fs, const char *name)
{
	struct stat st;

	if (!T_EQ(daxfs_mknod(fs, DX_ROOT_INO, name, S_IFREG | 0644, 0, &t_cred, &st), 0,
		  "create %s", name))
		exit(1);
	/* No kernel here to keep a lookup reference: an unlink frees. */
	daxfs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static uint64_t nfree(struct daxfs *fs)
{
	struct statvfs sv;

	daxfs_statfs(fs, &sv);
	return sv.f_bfree;
}

static bool same(struct daxfs *fs, uint64_t ino, const char *want, size_t len, uint64_t off)
{
	char *got = malloc(len);
	ssize_t n = daxfs_pread(fs, ino, got, len, (off_t)off);
	bool ok = n == (ssize_t)len && !memcmp(got, want, len);

	free(got);
	return ok;
}

static int daxfs_truncate(struct daxfs *fs, uint64_t ino, off_t size)
{
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = (uint64_t)size};
	struct stat st;

	return daxfs_setattr(fs, ino, &sa, &t_cred, &st);
}

/* The pool byte offset of file block off / BLK of ino (0: a hole). */
static uint64_t daxfs_pool_offset_of(struct daxfs *fs, uint64_t ino, uint64_t off)
{
	struct dx_ino *ip = dx_iget(fs, ino);
	void *p;

	dx_iload(fs, ip);
	p = dx_xmap_addr(fs, ip, off / BLK);
	dx_iput(fs, ip);
	return p ? dx_off(fs, p) : 0;
}

static uint64_t blocks(struct daxfs *fs, uint64_t ino)
{
	struct stat st;

	daxfs_getattr(fs, ino, &st);
	return (uint64_t)st.st_blocks / 8;
}

/* Clone, COW by write, truncate and punch, delete: the counts follow, the
 * other file never changes, and every block comes back. */
static void test_basic(void)
{
	const char *pool = t_path("basic");
	size_t len = 256 * BLK;
	char *a = malloc(len), *b = malloc(len);
	uint64_t f0, ia, ib, sh, cp;
	struct daxfs *fs;

	t_mkfs(pool, 32ULL << 20, 0);
	fs = t_open(pool);
	T(fs->refc, "a new pool has the reflink feature");
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	f0 = nfree(fs);
	t_pattern(a, len, 1);
	T_EQ(daxfs_write(fs, ia, a, len, 0, 0), (ssize_t)len, "write a");
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, &cp), 0, "clone a to b");
	T_EQ(sh, 256, "every block shared");
	T_EQ(cp, 0, "none copied");
	T_EQ(f0 - nfree(fs), 256, "the clone took no block");
	T_EQ(blocks(fs, ib), 256, "b's st_blocks counts its shared blocks");
	T(same(fs, ib, a, len, 0), "b reads a's bytes");
	T_EQ(t_fsck(fs, false), 0, "counts match the extent maps after the clone");

	memcpy(b, a, len);
	b[5000] ^= 0x5a;
	T_EQ(daxfs_write(fs, ib, b + 5000, 1, 5000, 0), 1, "write one byte of b");
	T(same(fs, ia, a, len, 0), "a did not change");
	T(same(fs, ib, b, len, 0), "b has the byte");
	T_EQ(f0 - nfree(fs), 257, "the write copied one block");
	T_EQ(fs->stats.cow_blocks, 1, "one COW break counted");
	T_EQ(t_fsck(fs, false), 0, "counts after the COW write");

	/* Unaligned clone of the tail: a's last partial block, b grows. */
	T_EQ(daxfs_truncate(fs, ia, (off_t)(len - 100)), 0, "shorten a");
	T_EQ(daxfs_clone_range(fs, ia, len - BLK, ib, len, 0, &sh, &cp), 0,
	     "clone a's partial last block past b's end");
	T_EQ(sh, 1, "one block shared");
	T(same(fs, ib, a + len - BLK, BLK - 100, len), "b's new tail is a's");
	T_EQ(daxfs_write(fs, ia, "zz", 2, (off_t)(len - 100), 0), 2,
	     "extend a over its stale tail");
	T(same(fs, ib, a + len - BLK, BLK - 100, len), "b's tail did not change");
	T_EQ(t_fsck(fs, false), 0, "counts after the tail clone");

	T_EQ(daxfs_fallocate(fs, ia, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 3 * BLK), 0,
	     "punch a's shared range, partial blocks at both ends");
	T(same(fs, ib, b, len, 0), "b did not change");
	T_EQ(daxfs_truncate(fs, ib, 10), 0, "truncate b");
	T(same(fs, ia, a + 3 * BLK + 100, len - 4 * BLK, 3 * BLK + 100),
	  "a past the punch did not change");
	T_EQ(t_fsck(fs, false), 0, "counts after punch and truncate");

	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "a"), 0, "unlink a");
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "b"), 0, "unlink b");
	T_EQ(nfree(fs), f0, "every block came back");
	T_EQ(dx_refc_run(fs, fs->sb.data_blk, fs->sb.nblocks - fs->sb.data_blk, false),
	     fs->sb.nblocks - fs->sb.data_blk, "every count is zero again");
	T_EQ(t_fsck(fs, false), 0, "clean after the deletes");
	daxfs_close(fs);
	free(a);
	free(b);
}

/* The rules of FICLONERANGE, and nothing changes on an error. */
static void test_errors(void)
{
	const char *pool = t_path("errors");
	char buf[3 * BLK];
	uint64_t ia, ib, f0, sh;
	struct daxfs *fs;
	struct stat st;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(buf, sizeof(buf), 2);
	daxfs_write(fs, ia, buf, sizeof(buf), 0, 0);
	daxfs_write(fs, ib, buf, sizeof(buf), 0, 0);
	f0 = nfree(fs);
	T_EQ(daxfs_clone_range(fs, ia, 1, ib, 0, BLK, &sh, NULL), -EINVAL, "unaligned source");
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 512, BLK, &sh, NULL), -EINVAL, "unaligned dest");
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 100, &sh, NULL), -EINVAL,
	     "unaligned length short of the end");
	T_EQ(daxfs_clone_range(fs, ia, 0, ia, BLK, 2 * BLK, &sh, NULL), -EINVAL,
	     "overlapping ranges of one file");
	T_EQ(daxfs_clone_range(fs, ia, 4 * BLK, ib, 0, BLK, &sh, NULL), -EINVAL,
	     "source range past the end");
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, DX_MAX_FILE_SIZE & ~(uint64_t)(BLK - 1), 2 * BLK, &sh,
			       NULL),
	     -EFBIG, "past the largest file");
	T_EQ(daxfs_clone_range(fs, ia, 0, DX_ROOT_INO, 0, BLK, &sh, NULL), -EISDIR, "a directory");
	T_EQ(daxfs_truncate(fs, ia, 2 * BLK + 10), 0, "a ends inside a block");
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, NULL), -EINVAL,
	     "a partial last block may not land inside the destination");
	T_EQ(nfree(fs), f0, "no error took or gave a block");
	daxfs_getattr(fs, ib, &st);
	T_EQ(st.st_size, sizeof(buf), "b's size did not change");
	T(same(fs, ib, buf, sizeof(buf), 0), "b's bytes did not change");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
}

/* A full pool: a clone takes nothing; overwriting the clone runs out of
 * space with ENOSPC, having stored nothing wrong in either file. */
static void test_full(void)
{
	const char *pool = t_path("full");
	uint64_t ia, ib, len, sh;
	struct daxfs *fs;
	char *a, *z;
	ssize_t n;
	size_t done = 0;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	len = (nfree(fs) - 64) * BLK;
	a = malloc(len);
	z = calloc(1, len);
	t_pattern(a, len, 3);
	T_EQ(daxfs_write(fs, ia, a, len, 0, 0), (ssize_t)len, "fill the pool but 64 blocks");
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, NULL), 0, "clone on a nearly full pool");
	T_EQ(sh, len / BLK, "all shared");
	while (done < len && (n = daxfs_write(fs, ib, z, len - done, (off_t)done, 0)) > 0)
		done += (size_t)n;
	T(done < len, "overwriting the clone runs out of space (%zu of %llu)", done,
	  (unsigned long long)len);
	T_EQ(daxfs_write(fs, ib, z, BLK, (off_t)(len - BLK), 0), -ENOSPC, "with ENOSPC");
	T(same(fs, ia, a, len, 0), "a is intact");
	T(!memcmp(z, z, done) && same(fs, ib, z, done, 0) &&
	      same(fs, ib, a + done, len - done, done),
	  "b holds the zeros written and a's bytes after them");
	T_EQ(t_fsck(fs, false), 0, "clean on a full pool");
	/* Free space again: the rest of the overwrite works. */
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "a"), 0, "unlink a");
	T_EQ(daxfs_write(fs, ib, z, len - done, (off_t)done, 0), (ssize_t)(len - done),
	     "the rest of the overwrite");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
	free(a);
	free(z);
}

static bool fail_never(enum dx_inject_site s)
{
	(void)s;
	return false;
}

/* A nearly full journal: a clone and a COW break take small steps. */
static void test_journal(void)
{
	const char *pool = t_path("journal");
	static const struct dx_inject small = {fail_never, 80 * 1024};
	size_t len = 4096 * BLK;
	char *a = malloc(len);
	uint64_t ia, ib, sh;
	struct daxfs *fs;

	t_mkfs(pool, 64ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(a, len, 4);
	T_EQ(daxfs_write(fs, ia, a, len, 0, 0), (ssize_t)len, "write 16 MiB");
	dx_inject_hook = &small;
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, NULL), 0, "clone with 80 KiB of journal");
	T_EQ(sh, 4096, "all shared");
	memset(a + 8 * BLK, 7, 2000 * BLK);
	T_EQ(daxfs_write(fs, ia, a + 8 * BLK, 2000 * BLK, 8 * BLK, 0), 2000 * BLK,
	     "overwrite 2000 shared blocks");
	dx_inject_hook = NULL;
	T(same(fs, ia, a, len, 0), "a has the overwrite");
	t_pattern(a, len, 4);
	T(same(fs, ib, a, len, 0), "b does not");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
	fs = t_open(pool);
	T(same(fs, ib, a, len, 0), "b after a reopen");
	T_EQ(t_fsck(fs, false), 0, "clean after a reopen");
	daxfs_close(fs);
	free(a);
}

/* Pins: a pinned source block is copied, a pinned destination refuses
 * with EBUSY, and a mapping of a shared block gets one of its own. */
static void test_pins(void)
{
	const char *pool = t_path("pins");
	char buf[4 * BLK];
	uint64_t ia, ib, ic, sh, cp, f0;
	struct daxfs_file *fa, *fb;
	struct daxfs *fs;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	ic = mkfile(fs, "c");
	t_pattern(buf, sizeof(buf), 5);
	daxfs_write(fs, ia, buf, sizeof(buf), 0, 0);
	T_EQ(daxfs_open_file(fs, ia, O_RDWR, &fa), 0, "open a");
	{
		struct daxfs_ioc_map m = {.length = BLK, .flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE};

		T_EQ(daxfs_mapping_create(fs, fa, &m, &t_cred), 0, "map a's first block");
	}
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, &cp), 0, "clone a mapped file");
	T_EQ(cp, 1, "the pinned block was copied");
	T_EQ(sh, 3, "the others shared");
	T(same(fs, ib, buf, sizeof(buf), 0), "b reads a's bytes");
	T_EQ(dx_refc(fs, daxfs_pool_offset_of(fs, ia, 0) / BLK), 0,
	     "the pinned block is not shared");
	T_EQ(t_fsck(fs, false), 0, "clean");

	/* b's blocks 1-3 are shared with a; mapping them breaks that. */
	T_EQ(daxfs_open_file(fs, ib, O_RDWR, &fb), 0, "open b");
	f0 = nfree(fs);
	{
		struct daxfs_ioc_map m = {
		    .offset = BLK, .length = 2 * BLK, .flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE};

		T_EQ(daxfs_mapping_create(fs, fb, &m, &t_cred), 0, "map two shared blocks of b");
	}
	T_EQ(f0 - nfree(fs), 2, "the map copied them");
	T_EQ(dx_refc(fs, daxfs_pool_offset_of(fs, ib, BLK) / BLK), 0,
	     "b's mapped block is its own");
	T(daxfs_pool_offset_of(fs, ib, BLK) != daxfs_pool_offset_of(fs, ia, BLK), "and not a's");
	T(same(fs, ib, buf, sizeof(buf), 0), "b's bytes are the same");
	T_EQ(daxfs_clone_range(fs, ic, 0, ib, 0, 0, &sh, NULL), 0,
	     "an empty source clones nothing");
	daxfs_write(fs, ic, buf, sizeof(buf), 0, 0);
	f0 = nfree(fs);
	T_EQ(daxfs_clone_range(fs, ic, 0, ib, 0, 0, &sh, NULL), -EBUSY,
	     "a clone over b's mapped blocks");
	T_EQ(nfree(fs), f0, "took nothing");
	T(same(fs, ib, buf, sizeof(buf), 0), "and changed nothing");
	daxfs_release(fs, fb);
	T_EQ(daxfs_clone_range(fs, ic, 0, ib, 0, 0, &sh, NULL), 0, "after the unmap it works");
	daxfs_release(fs, fa);
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
}

/* A block already shared DX_REFC_MAX - 1 times over is copied. */
static void test_refc_max(void)
{
	const char *pool = t_path("max");
	char buf[BLK];
	uint64_t ia, ib, sh, cp, p;
	struct daxfs *fs;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(buf, sizeof(buf), 6);
	daxfs_write(fs, ia, buf, sizeof(buf), 0, 0);
	p = daxfs_pool_offset_of(fs, ia, 0) / BLK;
	fs->refc[p] = DX_REFC_MAX - 1; /* as if shared that often */
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, &cp), 0, "clone");
	T_EQ(cp, 1, "copied");
	T_EQ(sh, 0, "not shared");
	T_EQ(fs->refc[p], DX_REFC_MAX - 1, "the count did not overflow");
	fs->refc[p] = 0;
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
}

/* Without the feature: EOPNOTSUPP, and copy_file_range copies. */
static void test_no_reflink(void)
{
	const char *pool = t_path("noreflink");
	struct daxfs_mkfs_opts o = {.size = 16ULL << 20, .force = 1, .no_reflink = 1};
	char buf[2 * BLK];
	uint64_t ia, ib, f0;
	struct daxfs *fs;

	T_EQ(daxfs_mkfs(pool, &o, NULL), 0, "mkfs -O ^reflink");
	fs = t_open(pool);
	T(!fs->refc, "no table");
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(buf, sizeof(buf), 7);
	daxfs_write(fs, ia, buf, sizeof(buf), 0, 0);
	f0 = nfree(fs);
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, NULL, NULL), -EOPNOTSUPP, "no clone");
	T_EQ(daxfs_copy_file_range(fs, ia, 0, ib, 0, sizeof(buf), 0), (ssize_t)sizeof(buf),
	     "copy_file_range");
	T_EQ(f0 - nfree(fs), 2, "copied, not shared");
	T(same(fs, ib, buf, sizeof(buf), 0), "the copy");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
}

/* copy_file_range shares aligned whole blocks and copies the rest. */
static void test_copy_range(void)
{
	const char *pool = t_path("cfr");
	size_t len = 64 * BLK + 300;
	char *a = malloc(len);
	uint64_t ia, ib, f0;
	size_t done = 0;
	struct daxfs *fs;
	ssize_t n;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(a, len, 8);
	daxfs_write(fs, ia, a, len, 0, 0);
	f0 = nfree(fs);
	/* From byte 100, as cp would after a short first call. */
	while (done < len - 100 &&
	       (n = daxfs_copy_file_range(fs, ia, (off_t)(100 + done), ib, (off_t)(100 + done),
					  len - 100 - done, 0)) > 0)
		done += (size_t)n;
	T_EQ(done, len - 100, "copied it all");
	T_EQ(f0 - nfree(fs), 1,
	     "only the partial first block took space (the last is shared at a's end)");
	T(same(fs, ib, a + 100, len - 100, 100), "the bytes");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
	free(a);
}

/*
 * A break of two shared runs with room for one copy: a punch that needs
 * both fails with ENOSPC having changed nothing, not even the free count
 * (the runs used to be copied one transaction each, so the first stayed
 * copied); a write stores the prefix it could make private.
 */
static void test_atomic(void)
{
	const char *pool = t_path("atomic");
	char a[3 * BLK], bb[3 * BLK], one[BLK], x[2 * BLK];
	uint64_t ia, ib, ifill, f0, sz;
	struct daxfs *fs;
	ssize_t n;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	ifill = mkfile(fs, "fill");
	t_pattern(a, sizeof(a), 7);
	T_EQ(daxfs_write(fs, ia, a, sizeof(a), 0, 0), (ssize_t)sizeof(a), "write a");
	/* b: a's first and last blocks, a hole between: two shared runs,
	 * two records (two inline slots free). */
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, BLK, NULL, NULL), 0, "clone a's block 0");
	T_EQ(daxfs_clone_range(fs, ia, 2 * BLK, ib, 2 * BLK, BLK, NULL, NULL), 0,
	     "clone a's block 2");
	memcpy(bb, a, sizeof(bb));
	memset(bb + BLK, 0, BLK);
	memset(one, 1, sizeof(one));
	for (sz = 0; (n = daxfs_write(fs, ifill, one, BLK, (off_t)sz, 0)) == BLK;)
		sz += BLK;
	T_EQ(n, -ENOSPC, "the filler fills the pool");
	T_EQ(daxfs_truncate(fs, ifill, (off_t)(sz - BLK)), 0, "one block back");
	f0 = nfree(fs);
	T_EQ(f0, 1, "one block free");
	T_EQ(daxfs_fallocate(fs, ib, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 2 * BLK),
	     -ENOSPC, "a punch that must copy two shared blocks");
	T_EQ(nfree(fs), f0, "the failed punch took no block");
	T(same(fs, ib, bb, sizeof(bb), 0) && same(fs, ia, a, sizeof(a), 0), "nor changed a byte");
	memset(x, 9, sizeof(x));
	/* Block 0 can be made private, then the hole finds no block. */
	T_EQ(daxfs_write(fs, ib, x, sizeof(x), 100, 0), BLK - 100,
	     "a write over both stores the prefix it could make private");
	T(same(fs, ib, x, BLK - 100, 100) && same(fs, ib, bb + BLK, 2 * BLK, BLK),
	  "b: the prefix written, the rest as before");
	T(same(fs, ia, a, sizeof(a), 0), "a unchanged");
	T_EQ(daxfs_write(fs, ib, x, BLK, 2 * BLK, 0), -ENOSPC, "then ENOSPC");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
}

/* A file sharing a block with itself: a write over both of its places
 * copies one, and the other is then its own (a one-transaction break that
 * planned two copies of the block dropped its count below zero). */
static void test_self(void)
{
	const char *pool = t_path("self");
	char a[4 * BLK], x[4 * BLK];
	struct daxfs *fs;
	uint64_t ia, f0;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	t_pattern(a, sizeof(a), 9);
	T_EQ(daxfs_write(fs, ia, a, sizeof(a), 0, 0), (ssize_t)sizeof(a), "write a");
	T_EQ(daxfs_clone_range(fs, ia, 0, ia, 2 * BLK, BLK, NULL, NULL), 0,
	     "block 0 shared into block 2 of the same file");
	f0 = nfree(fs);
	memset(x, 5, sizeof(x));
	T_EQ(daxfs_write(fs, ia, x, sizeof(x), 0, 0), (ssize_t)sizeof(x), "overwrite all of it");
	T(same(fs, ia, x, sizeof(x), 0), "the overwrite is there");
	T_EQ(f0 - nfree(fs), 1, "one block copied");
	T_EQ(t_fsck(fs, false), 0, "clean: the count did not wrap");
	daxfs_close(fs);
}

/* ---- snapshot read mappings of shared blocks (lib/snapshot.c) ---- */

static struct daxfs_ioc_map snap_map(struct daxfs *fs, struct daxfs_file *f, uint64_t off,
				     uint64_t len, uint32_t flags, int want)
{
	struct daxfs_ioc_map m = {.offset = off, .length = len, .flags = flags};

	T_EQ(daxfs_mapping_create(fs, f, &m, &t_cred), want, "map [%llu, +%llu) flags %#x",
	     (unsigned long long)off, (unsigned long long)len, flags);
	return m;
}

/* The bytes a mapping's extent i shows at its block k. */
static const char *mapped(struct daxfs *fs, const struct daxfs_ioc_map *m, uint32_t i, uint64_t k)
{
	return (const char *)dx_blk(fs, m->ext[i].pool_off / BLK + k);
}

/* The first record slot of kind, or -1. */
static long rec_of_kind(struct daxfs *fs, uint16_t kind)
{
	size_t nrec = fs->sb.maprec_blocks * BLK / sizeof(struct dx_maprec);

	for (size_t i = 0; i < nrec; i++)
		if (fs->maprecs[i].kind == kind)
			return (long)i;
	return -1;
}

/*
 * A plain read mapping of shared blocks keeps their bytes: writes to
 * either file, the mapped one last (when only the mapping still shares
 * the blocks with it), go to copies; truncates do not wait for it; the
 * blocks come back at unmap.  Without the mapping's own references the
 * last write would land in place, under the mapping.
 */
static void test_snapshot(void)
{
	const char *pool = t_path("snap");
	char old[4 * BLK], neu[BLK];
	uint64_t ia, ib, f0, f1, sh;
	struct daxfs_file *fa;
	struct daxfs_ioc_map m;
	struct daxfs_stats st;
	struct daxfs *fs;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(old, sizeof(old), 11);
	t_pattern(neu, sizeof(neu), 12);
	f0 = nfree(fs);
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, &sh, NULL), 0, "clone a to b");
	T_EQ(sh, 4, "all shared");
	T_EQ(daxfs_open_file(fs, ia, O_RDONLY, &fa), 0, "open a read-only");
	f1 = nfree(fs);
	m = snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ, 0);
	T(m.flags & DAXFS_MAP_SNAPSHOT, "a snapshot");
	T_EQ(m.nextents, 1, "one extent");
	T_EQ(nfree(fs), f1, "nothing copied");
	T_EQ(m.ext[0].pool_off, daxfs_pool_offset_of(fs, ib, 0), "b's blocks, still shared");
	T_EQ(dx_refc(fs, m.ext[0].pool_off / BLK), 2, "a, b and the mapping");
	T(rec_of_kind(fs, DX_MAPREC_SNAP) >= 0, "its record holds references");
	daxfs_get_stats(fs, &st);
	T_EQ(st.snapshot_blocks, 4, "stats count them");
	T_EQ(t_fsck(fs, false), 0, "clean with the mapping");

	T_EQ(daxfs_write(fs, ib, neu, BLK, 0, 0), BLK, "write b block 0");
	T_EQ(daxfs_write(fs, ia, neu, BLK, 0, 0), BLK, "then a block 0");
	T(same(fs, ia, neu, BLK, 0) && same(fs, ib, neu, BLK, 0), "both files changed");
	T(!memcmp(mapped(fs, &m, 0, 0), old, BLK), "the mapping kept the old bytes");
	T_EQ(dx_refc(fs, m.ext[0].pool_off / BLK), 0, "held by the mapping alone");
	T(same(fs, ia, old + BLK, 3 * BLK, BLK), "a's other blocks unchanged");
	T_EQ(t_fsck(fs, false), 0, "clean");

	T_EQ(daxfs_truncate(fs, ia, 0), 0, "truncate a under the mapping: no wait");
	T_EQ(daxfs_truncate(fs, ib, 0), 0, "and b");
	T(!memcmp(mapped(fs, &m, 0, 1), old + BLK, 3 * BLK), "the mapping still reads");
	T_EQ(f0 - nfree(fs), 4, "its four blocks are all that is in use");
	T_EQ(t_fsck(fs, false), 0, "clean");
	T_EQ(daxfs_mapping_drop(fs, fa, m.id), 0, "unmap");
	T_EQ(nfree(fs), f0, "every block is back");
	T_EQ(rec_of_kind(fs, DX_MAPREC_SNAP), -1, "no record left");
	daxfs_get_stats(fs, &st);
	T_EQ(st.snapshot_blocks, 0, "stats too");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_release(fs, fa);
	daxfs_close(fs);
}

/*
 * Which read mappings are snapshots: a coherent, write or long-term one
 * breaks the sharing at map time; blocks that were not shared are mapped
 * in place and see later writes; a mixed range has both; a block shared
 * too often for one more reference is copied instead.
 */
static void test_snapshot_kinds(void)
{
	const char *pool = t_path("snapk");
	char old[4 * BLK], neu[BLK];
	uint64_t ia, ib, ic, f1, p;
	struct daxfs_file *fa;
	struct daxfs_ioc_map m;
	struct daxfs *fs;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	ic = mkfile(fs, "c");
	t_pattern(old, sizeof(old), 13);
	t_pattern(neu, sizeof(neu), 14);
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_open_file(fs, ia, O_RDWR, &fa), 0, "open a");

	/* Only blocks 1-2 shared: three extents, the middle one held. */
	T_EQ(daxfs_clone_range(fs, ia, BLK, ib, 0, 2 * BLK, NULL, NULL), 0, "clone a's 1-2");
	m = snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ, 0);
	T(m.flags & DAXFS_MAP_SNAPSHOT, "a snapshot");
	T_EQ(m.nextents, 3, "split where sharing starts and stops");
	T_EQ(daxfs_write(fs, ia, neu, BLK, 0, 0), BLK, "write a block 0 (its own)");
	T(!memcmp(mapped(fs, &m, 0, 0), neu, BLK), "seen through the mapping");
	T_EQ(daxfs_write(fs, ia, neu, BLK, BLK, 0), BLK, "write a block 1 (shared)");
	T(!memcmp(mapped(fs, &m, 1, 0), old + BLK, BLK), "not seen: a snapshot");
	T_EQ(daxfs_write(fs, ia, neu, BLK, 3 * BLK, 0), BLK, "write a block 3 (its own)");
	T(!memcmp(mapped(fs, &m, 2, 0), neu, BLK), "seen through the mapping");
	T_EQ(t_fsck(fs, false), 0, "clean");
	T_EQ(daxfs_mapping_drop(fs, fa, m.id), 0, "unmap");
	T_EQ(t_fsck(fs, false), 0, "clean");

	/* Coherent: a copy at map time, and later writes show. */
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_clone_range(fs, ia, 0, ic, 0, 0, NULL, NULL), 0, "clone a to c");
	f1 = nfree(fs);
	m = snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ | DAXFS_MAP_COHERENT, 0);
	T(!(m.flags & DAXFS_MAP_SNAPSHOT), "coherent: no snapshot");
	T_EQ(f1 - nfree(fs), 4, "the blocks were copied at map time");
	T_EQ(daxfs_write(fs, ia, neu, BLK, 0, 0), BLK, "write a");
	T(!memcmp(mapped(fs, &m, 0, 0), neu, BLK), "seen through the mapping");
	T(same(fs, ic, old, sizeof(old), 0), "c unchanged");
	T_EQ(daxfs_mapping_drop(fs, fa, m.id), 0, "unmap");

	/* A write mapping breaks the sharing too. */
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_clone_range(fs, ia, 0, ic, 0, 0, NULL, NULL), 0, "clone a to c again");
	m = snap_map(fs, fa, 0, BLK, DAXFS_MAP_READ | DAXFS_MAP_WRITE, 0);
	T(!(m.flags & DAXFS_MAP_SNAPSHOT), "write: no snapshot");
	T(m.ext[0].pool_off != daxfs_pool_offset_of(fs, ic, 0), "a has its own block");
	T_EQ(daxfs_mapping_drop(fs, fa, m.id), 0, "unmap");

	/* Shared DX_REFC_MAX - 1 times over: copied, and mapped as a's own. */
	p = daxfs_pool_offset_of(fs, ia, BLK) / BLK;
	T_EQ(dx_refc(fs, p), 1, "a's block 1 shared with c");
	fs->refc[p] = DX_REFC_MAX - 1; /* as if shared that often */
	f1 = nfree(fs);
	m = snap_map(fs, fa, BLK, BLK, DAXFS_MAP_READ, 0);
	T(!(m.flags & DAXFS_MAP_SNAPSHOT), "too shared: no snapshot");
	T_EQ(fs->refc[p], DX_REFC_MAX - 2, "the count fell by a's reference, not rose");
	T_EQ(f1 - nfree(fs), 1, "a got a copy");
	fs->refc[p] = 0;
	T_EQ(daxfs_mapping_drop(fs, fa, m.id), 0, "unmap");
	T_EQ(t_fsck(fs, false), 0, "clean");

	/* A pool without reflink has no snapshots to make. */
	T(dx_snap_wanted(fs, DAXFS_MAP_READ), "reflink pool: wanted");
	T(!dx_snap_wanted(fs, DAXFS_MAP_READ | DAXFS_MAP_LONGTERM), "long-term: not");
	daxfs_release(fs, fa);
	daxfs_close(fs);
}

/*
 * A snapshot needs no pool space: it maps on a full pool, where a coherent
 * map of the same blocks fails with ENOSPC having changed nothing; a write
 * to the shared blocks then fails the same way, and the mapping keeps its
 * bytes.
 */
static void test_snapshot_full(void)
{
	const char *pool = t_path("snapf");
	char old[4 * BLK], neu[BLK];
	uint64_t ia, ib, ifill, f1;
	struct daxfs_file *fa;
	struct daxfs_ioc_map m;
	struct daxfs *fs;
	char *fill = calloc(1, BLK);

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	ifill = mkfile(fs, "fill");
	t_pattern(old, sizeof(old), 15);
	t_pattern(neu, sizeof(neu), 16);
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, NULL, NULL), 0, "clone");
	for (off_t o = 0; daxfs_write(fs, ifill, fill, BLK, o, 0) == BLK; o += BLK)
		;
	T_EQ(daxfs_open_file(fs, ia, O_RDONLY, &fa), 0, "open a");
	f1 = nfree(fs);
	snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ | DAXFS_MAP_COHERENT, -ENOSPC);
	T_EQ(nfree(fs), f1, "the failed coherent map took nothing");
	T_EQ(dx_refc(fs, daxfs_pool_offset_of(fs, ia, 0) / BLK), 1, "and broke no sharing");
	m = snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ, 0);
	T(m.flags & DAXFS_MAP_SNAPSHOT, "the snapshot maps on a full pool");
	T_EQ(daxfs_write(fs, ib, neu, BLK, 0, 0), -ENOSPC, "a write to b: no room to copy");
	T(same(fs, ib, old, sizeof(old), 0), "b unchanged");
	T(!memcmp(mapped(fs, &m, 0, 0), old, sizeof(old)), "the mapping unchanged");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_release(fs, fa);
	T_EQ(t_fsck(fs, false), 0, "clean after the release");
	free(fill);
	daxfs_close(fs);
}

/* Poke record i's holder start time: a different process, long gone. */
static void holder_gone(struct daxfs *fs, long i)
{
	struct dx_maprec *r = &fs->maprecs[i];

	r->holder_start++;
	if (fs->csum)
		r->csum = dx_csum_maprec(fs->csum_seed, (uint64_t)i, r);
	dx_persist(&fs->pc, r, sizeof(*r));
}

/*
 * Across a crash: a snapshot record of a live holder is kept (HELD) with
 * its references until that holder is gone, then the reaper lets go; a
 * dead holder's references go at open.  fsck counts them either way.
 */
static void test_snapshot_crash(void)
{
	const char *pool = t_path("snapc");
	struct daxfs_check_opts co = {.mode = DAXFS_CHECK_ONLY};
	struct daxfs_check_result cr;
	char old[4 * BLK];
	uint64_t ia, ib, f0, p;
	struct daxfs_file *fa;
	long i;
	struct daxfs *fs;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	ia = mkfile(fs, "a");
	ib = mkfile(fs, "b");
	t_pattern(old, sizeof(old), 17);
	f0 = nfree(fs);
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, NULL, NULL), 0, "clone");
	T_EQ(daxfs_open_file(fs, ia, O_RDONLY, &fa), 0, "open a");
	snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ, 0);
	p = daxfs_pool_offset_of(fs, ia, 0) / BLK;
	/* The daemon dies with the mapping live. */
	daxfs_file_forget(fs, fa);
	daxfs_close(fs);
	T_EQ(daxfs_check(pool, &co, &cr), 0, "fsck -n of the crashed pool");
	T_EQ(cr.errors, 0, "counts the record's references");

	fs = t_open(pool);
	i = rec_of_kind(fs, DX_MAPREC_HELD);
	T(i >= 0, "the live holder's record is held");
	T_EQ(dx_refc(fs, p), 2, "with its references");
	T_EQ(daxfs_truncate(fs, ia, 0), 0, "truncate a");
	T_EQ(daxfs_truncate(fs, ib, 0), 0, "truncate b");
	T_EQ(f0 - nfree(fs), 4, "the held blocks stay in use");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_tick(fs);
	T_EQ(f0 - nfree(fs), 4, "the holder lives: kept");
	holder_gone(fs, i);
	daxfs_tick(fs);
	T_EQ(nfree(fs), f0, "the holder is gone: the reaper let go");
	T_EQ(rec_of_kind(fs, DX_MAPREC_HELD), -1, "no record left");
	T_EQ(t_fsck(fs, false), 0, "clean");

	/* A dead holder's snapshot record goes at open. */
	daxfs_write(fs, ia, old, sizeof(old), 0, 0);
	T_EQ(daxfs_clone_range(fs, ia, 0, ib, 0, 0, NULL, NULL), 0, "clone again");
	T_EQ(daxfs_open_file(fs, ia, O_RDONLY, &fa), 0, "open a");
	snap_map(fs, fa, 0, sizeof(old), DAXFS_MAP_READ, 0);
	p = daxfs_pool_offset_of(fs, ia, 0) / BLK;
	i = rec_of_kind(fs, DX_MAPREC_SNAP);
	T(i >= 0, "a snapshot record");
	holder_gone(fs, i);
	daxfs_file_forget(fs, fa);
	daxfs_close(fs);
	fs = t_open(pool);
	T_EQ(rec_of_kind(fs, DX_MAPREC_SNAP) + rec_of_kind(fs, DX_MAPREC_HELD), -2,
	     "the dead holder's record is gone");
	T_EQ(dx_refc(fs, p), 1, "and its references: a and b remain");
	T(same(fs, ia, old, sizeof(old), 0) && same(fs, ib, old, sizeof(old), 0), "bytes kept");
	T_EQ(t_fsck(fs, false), 0, "clean");
	daxfs_close(fs);
}

static void body(void)
{
	test_basic();
	test_errors();
	test_full();
	test_journal();
	test_pins();
	test_refc_max();
	test_no_reflink();
	test_copy_range();
	test_atomic();
	test_self();
	test_snapshot();
	test_snapshot_kinds();
	test_snapshot_full();
	test_snapshot_crash();
}

int main(void)
{
	return t_run("clone", body);
}
