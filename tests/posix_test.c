// SPDX-License-Identifier: MIT
/*
 * posix_test.c - conformance checks of the daxfs foundation syscalls.
 *
 *   posix-test DIR          run every section in a scratch directory in DIR
 *   posix-test --fill DIR   fill a small filesystem and check ENOSPC handling
 *
 * The reference is Linux's own behaviour: the test must pass on tmpfs and on
 * a daxfs mount alike.  Checks that only make sense on one of them say so
 * with a "skip" line.  Every check prints one "ok" or "FAIL" line, and the
 * last line is "N passed, M failed".
 *
 * Run as root (chown, mknod of device nodes, trusted.* xattrs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "daxfs/daxfs_ioctl.h"

#define KiB (1024LL)
#define MiB (1024LL * KiB)
#define GiB (1024LL * MiB)
#define TiB (1024LL * GiB)

static int npass, nfail;
static int basefd = -1;		/* the DIR argument */
static char basepath[PATH_MAX];
static int D = -1;		/* scratch directory of the running section */
static char dpath[PATH_MAX];
static int is_daxfs;
static uint64_t pool_size;

/* ---- reporting ---- */

static void report(int ok, const char *detail, const char *fmt, va_list ap)
{
	char desc[512];

	vsnprintf(desc, sizeof(desc), fmt, ap);
	if (ok) {
		npass++;
		printf("ok   %s\n", desc);
	} else {
		nfail++;
		printf("FAIL %s: %s\n", desc, detail);
	}
	fflush(stdout);
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";

	return n ? n : "E?";
}

static int __attribute__((format(printf, 2, 3))) check(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(cond, "condition false", fmt, ap);
	va_end(ap);
	return cond;
}

/* r is a syscall result: success is anything but -1. */
static int __attribute__((format(printf, 2, 3))) check_ok(long long r, const char *fmt, ...)
{
	int e = errno;
	char detail[128];
	va_list ap;

	snprintf(detail, sizeof(detail), "failed with %s (%s)", ename(e), strerror(e));
	va_start(ap, fmt);
	report(r != -1, detail, fmt, ap);
	va_end(ap);
	errno = e;
	return r != -1;
}

static int __attribute__((format(printf, 3, 4))) check_err(long long r, int want, const char *fmt,
							     ...)
{
	int e = errno;
	char detail[128];
	va_list ap;
	int ok = r == -1 && e == want;

	if (r != -1)
		snprintf(detail, sizeof(detail), "expected %s, got success (%lld)", ename(want), r);
	else
		snprintf(detail, sizeof(detail), "expected %s, got %s", ename(want), ename(e));
	va_start(ap, fmt);
	report(ok, detail, fmt, ap);
	va_end(ap);
	return ok;
}

static int __attribute__((format(printf, 3, 4))) check_eq(long long got, long long want,
							    const char *fmt, ...)
{
	char detail[128];
	va_list ap;

	snprintf(detail, sizeof(detail), "expected %lld, got %lld", want, got);
	va_start(ap, fmt);
	report(got == want, detail, fmt, ap);
	va_end(ap);
	return got == want;
}

static void skip(const char *what, const char *why)
{
	printf("skip %s: %s\n", what, why);
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "posix-test: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* ---- data patterns ---- */

/* A byte that depends on (seed, offset), so data can be verified without a copy. */
static inline unsigned char pat(uint64_t seed, uint64_t off)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (off >> 3);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return (unsigned char)(x >> (8 * (off & 7)));
}

static void fill_pat(unsigned char *b, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(seed, off + i);
}

/* Returns the index of the first mismatch, or -1. */
static long long cmp_pat(const unsigned char *b, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pat(seed, off + i))
			return (long long)i;
	return -1;
}

static long long first_nonzero(const unsigned char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b[i])
			return (long long)i;
	return -1;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("malloc");
	return p;
}

/* pread/pwrite until done, EOF or error; returns bytes moved or -1. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static ssize_t pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);

		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* Write len pattern bytes at off. */
static int write_pat(int fd, off_t off, size_t len, uint64_t seed)
{
	unsigned char *b = xmalloc(len);
	ssize_t r;

	fill_pat(b, len, seed, (uint64_t)off);
	r = pwrite_full(fd, b, len, off);
	free(b);
	return r == (ssize_t)len ? 0 : -1;
}

/* Check [off, off+len) holds the pattern (seed != 0) or zeros (seed == 0). */
static int __attribute__((format(printf, 5, 6))) check_data(int fd, off_t off, size_t len,
							      uint64_t seed, const char *fmt, ...)
{
	unsigned char *b = xmalloc(len);
	ssize_t r = pread_full(fd, b, len, off);
	char detail[160];
	long long bad = -1;
	int ok;
	va_list ap;

	if (r < 0)
		snprintf(detail, sizeof(detail), "pread failed with %s", ename(errno));
	else if ((size_t)r != len)
		snprintf(detail, sizeof(detail), "short read %zd of %zu", r, len);
	else {
		bad = seed ? cmp_pat(b, len, seed, (uint64_t)off) : first_nonzero(b, len);
		snprintf(detail, sizeof(detail), "wrong byte at offset %lld (0x%02x)",
			 (long long)off + bad, bad >= 0 ? b[bad] : 0);
	}
	ok = r == (ssize_t)len && bad < 0;
	free(b);
	va_start(ap, fmt);
	report(ok, detail, fmt, ap);
	va_end(ap);
	return ok;
}

static struct stat xfstat(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		memset(&st, 0xff, sizeof(st));
	return st;
}

static struct stat xstatat(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		memset(&st, 0xff, sizeof(st));
	return st;
}

static int create_file(const char *name)
{
	return openat(D, name, O_CREAT | O_TRUNC | O_RDWR, 0644);
}

/* ---- scratch directories ---- */

static void rm_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *de;

		if (!d) {
			close(fd);
			return;
		}
		/* unlink while reading: restart until a pass removes nothing */
		for (;;) {
			int removed = 0;

			rewinddir(d);
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
					continue;
				if (unlinkat(fd, de->d_name, 0) == 0) {
					removed++;
					continue;
				}
				if (errno == EISDIR || errno == EPERM || errno == ENOTEMPTY) {
					rm_tree_at(fd, de->d_name);
					removed++;
				}
			}
			if (!removed)
				break;
		}
		closedir(d);
		unlinkat(dfd, name, AT_REMOVEDIR);
	} else {
		unlinkat(dfd, name, 0);
	}
}

static void section(const char *name)
{
	printf("# %s\n", name);
	fflush(stdout);
	if (D >= 0)
		close(D);
	rm_tree_at(basefd, name);
	if (mkdirat(basefd, name, 0755) < 0)
		die(name);
	D = openat(basefd, name, O_RDONLY | O_DIRECTORY);
	if (D < 0)
		die(name);
	if (snprintf(dpath, sizeof(dpath), "%s/%s", basepath, name) >= (int)sizeof(dpath)) {
		errno = ENAMETOOLONG;
		die(name);
	}
}

static void section_end(const char *name)
{
	if (D >= 0)
		close(D);
	D = -1;
	rm_tree_at(basefd, name);
}

/* Free blocks as statvfs reports them (in f_frsize units). */
static long long bfree_now(void)
{
	struct statvfs sv;

	if (fstatvfs(basefd, &sv) < 0)
		return -1;
	return (long long)sv.f_bfree;
}

/*
 * Space of unlinked inodes comes back when the kernel's last reference
 * goes, which on FUSE arrives asynchronously (RELEASE and FORGET are
 * queued).  Poll for a while instead of expecting it at once.
 */
static long long wait_bfree_at_least(long long want)
{
	long long f = bfree_now();

	for (int i = 0; i < 200 && f < want; i++) {
		usleep(50 * 1000);
		f = bfree_now();
	}
	return f;
}

/* ---- sections ---- */

static void t_create_rw(void)
{
	const size_t model_len = 64 * KiB;
	unsigned char *model, *buf;
	int fd;

	section("rw");
	fd = openat(D, "f", O_CREAT | O_EXCL | O_RDWR, 0644);
	if (!check_ok(fd, "open O_CREAT|O_EXCL new file"))
		return;
	check_err(openat(D, "f", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST,
		  "open O_CREAT|O_EXCL existing file");
	check_err(openat(D, "nonexistent", O_RDONLY), ENOENT, "open missing file");
	check_eq(xfstat(fd).st_size, 0, "new file size 0");
	check(S_ISREG(xfstat(fd).st_mode), "new file is S_IFREG");

	check_eq(write(fd, "hello", 5), 5, "write 5 bytes");
	check_eq(lseek(fd, 0, SEEK_CUR), 5, "file offset advanced");
	{
		char b[16] = { 0 };

		check_eq(pread(fd, b, sizeof(b), 0), 5, "pread returns short count at EOF");
		check(!memcmp(b, "hello", 5), "pread sees written bytes");
		check_eq(pread(fd, b, sizeof(b), 5), 0, "pread at EOF returns 0");
		check_eq(pread(fd, b, sizeof(b), 100), 0, "pread beyond EOF returns 0");
		check_eq(lseek(fd, 0, SEEK_SET), 0, "lseek SEEK_SET");
		check_eq(read(fd, b, 2), 2, "read 2");
		check_eq(read(fd, b + 2, 10), 3, "read rest");
		check(!memcmp(b, "hello", 5), "read sees written bytes");
	}

	/* Mixed aligned and unaligned writes, checked against a model. */
	model = calloc(1, model_len);
	buf = xmalloc(model_len);
	memcpy(model, "hello", 5);
	{
		static const struct {
			off_t off;
			size_t len;
		} w[] = {
			{ 4096, 4096 },	 /* one whole block */
			{ 3000, 5000 },	 /* crosses a block boundary */
			{ 8190, 4 },	 /* tiny, straddles a boundary */
			{ 12288, 8192 }, /* two aligned blocks */
			{ 1, 1 },	 /* single byte */
			{ 20000, 30000 },/* several blocks, unaligned both ends */
			{ 60000, 5536 }, /* extends the file to 64 KiB */
		};
		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
			fill_pat(model + w[i].off, w[i].len, 100 + i, 0);
			check_eq(pwrite(fd, model + w[i].off, w[i].len, w[i].off), (long long)w[i].len,
				 "pwrite %zu bytes at %lld", w[i].len, (long long)w[i].off);
		}
		check_eq(xfstat(fd).st_size, (long long)model_len, "size after pwrites");
		memset(buf, 0xaa, model_len);
		check_eq(pread_full(fd, buf, model_len, 0), (long long)model_len, "read back 64 KiB");
		check(!memcmp(buf, model, model_len), "content matches model after mixed writes");
		/* reads that start and end inside blocks */
		memset(buf, 0, model_len);
		check_eq(pread(fd, buf, 10000, 4095), 10000, "unaligned pread across blocks");
		check(!memcmp(buf, model + 4095, 10000), "unaligned pread content");
	}
	free(model);
	free(buf);
	close(fd);

	/* 8 MiB in one write and one read */
	fd = create_file("big");
	if (check_ok(fd, "create big")) {
		size_t n = 8 * MiB;
		unsigned char *b = xmalloc(n);

		fill_pat(b, n, 7, 0);
		check_eq(write(fd, b, n), (long long)n, "write 8 MiB in one call");
		memset(b, 0, n);
		check_eq(pread_full(fd, b, n, 0), (long long)n, "read 8 MiB");
		check_eq(cmp_pat(b, n, 7, 0), -1, "8 MiB content (first bad offset)");
		check_data(fd, 1 * MiB - 1, 123457, 7, "8 MiB file: unaligned pread in the middle");
		check_eq(xfstat(fd).st_size, (long long)n, "8 MiB size");
		check(xfstat(fd).st_blocks >= (blkcnt_t)(n / 512), "8 MiB st_blocks >= size/512");
		free(b);
		close(fd);
	}

	/* O_APPEND */
	fd = openat(D, "app", O_CREAT | O_RDWR | O_APPEND, 0644);
	if (check_ok(fd, "open O_APPEND")) {
		char b[16] = { 0 };

		check_eq(write(fd, "abc", 3), 3, "append write 1");
		check_eq(lseek(fd, 0, SEEK_SET), 0, "lseek to 0 on O_APPEND fd");
		check_eq(write(fd, "def", 3), 3, "append write 2 after lseek 0");
		check_eq(lseek(fd, 0, SEEK_CUR), 6, "offset is at EOF after append");
		/* Linux appends with pwrite on O_APPEND descriptors too */
		check_eq(pwrite(fd, "gh", 2, 0), 2, "pwrite on O_APPEND fd");
		check_eq(pread(fd, b, sizeof(b), 0), 8, "append file size by read");
		check(!memcmp(b, "abcdefgh", 8), "appended content in order");
		close(fd);
	}

	/* O_TRUNC */
	fd = openat(D, "f", O_RDWR | O_TRUNC);
	if (check_ok(fd, "open O_TRUNC")) {
		check_eq(xfstat(fd).st_size, 0, "O_TRUNC empties the file");
		check_eq(xfstat(fd).st_blocks, 0, "O_TRUNC frees the blocks");
		close(fd);
	}
	section_end("rw");
}

static void t_truncate(void)
{
	int fd;

	section("trunc");
	fd = create_file("t");
	if (!check_ok(fd, "create"))
		return;
	check_ok(write_pat(fd, 0, 3 * 4096, 11), "write 3 blocks");
	check_ok(ftruncate(fd, 5000), "ftruncate down to 5000");
	check_eq(xfstat(fd).st_size, 5000, "size after truncate down");
	check_data(fd, 0, 5000, 11, "data below the new size kept");
	{
		char b[8];

		check_eq(pread(fd, b, sizeof(b), 5000), 0, "nothing beyond new EOF");
	}
	check_ok(ftruncate(fd, 20000), "ftruncate up to 20000");
	check_eq(xfstat(fd).st_size, 20000, "size after truncate up");
	check_data(fd, 0, 5000, 11, "old data kept after extension");
	/* the tail of the partial block must not resurrect old bytes */
	check_data(fd, 5000, 15000, 0, "re-extended range reads as zeros");
	{
		char p[PATH_MAX + 8];

		snprintf(p, sizeof(p), "%s/t", dpath);
		check_ok(truncate(p, 4096), "truncate(path) to 4096");
	}
	check_eq(xfstat(fd).st_size, 4096, "size after truncate(path)");
	check_ok(ftruncate(fd, 0), "ftruncate to 0");
	check_eq(xfstat(fd).st_blocks, 0, "no blocks after truncate to 0");
	check_err(ftruncate(fd, -1), EINVAL, "ftruncate negative");
	close(fd);
	fd = openat(D, "t", O_RDONLY);
	check_err(ftruncate(fd, 0), EINVAL, "ftruncate on read-only fd");
	close(fd);
	section_end("trunc");
}

static void t_sparse(void)
{
	const off_t big = 1 * TiB;
	int fd;

	section("sparse");
	fd = create_file("s");
	if (!check_ok(fd, "create"))
		return;
	check_ok(ftruncate(fd, big), "ftruncate to 1 TiB");
	check_eq(xfstat(fd).st_size, big, "size is 1 TiB");
	check_ok(write_pat(fd, big - 4096, 4096, 21), "write last 4 KiB of 1 TiB file");
	check_eq(xfstat(fd).st_size, big, "size still 1 TiB");
	check(xfstat(fd).st_blocks <= 64, "st_blocks small (%lld)", (long long)xfstat(fd).st_blocks);
	check_data(fd, 0, 8192, 0, "hole at 0 reads zero");
	check_data(fd, 512 * GiB - 100, 300, 0, "hole at 512 GiB reads zero");
	check_data(fd, big - 8192, 4096, 0, "hole just before data reads zero");
	check_data(fd, big - 4096, 4096, 21, "data at 1 TiB - 4096");

	check_eq(lseek(fd, 0, SEEK_DATA), big - 4096, "SEEK_DATA from 0 finds the last block");
	check_eq(lseek(fd, 0, SEEK_HOLE), 0, "SEEK_HOLE from 0 is 0");
	check_eq(lseek(fd, big - 4096, SEEK_HOLE), big, "SEEK_HOLE in data block finds EOF");
	check_eq(lseek(fd, big - 4096 + 10, SEEK_DATA), big - 4096 + 10,
		 "SEEK_DATA inside data returns the same offset");
	check_err(lseek(fd, big, SEEK_DATA), ENXIO, "SEEK_DATA at EOF");
	check_err(lseek(fd, big + 1, SEEK_HOLE), ENXIO, "SEEK_HOLE past EOF");
	close(fd);

	/* data, hole, data, hole at the end */
	fd = create_file("h");
	if (check_ok(fd, "create h")) {
		check_ok(write_pat(fd, 0, 4096, 22), "write block 0");
		check_ok(write_pat(fd, 4 * 4096, 4096, 23), "write block 4");
		check_ok(ftruncate(fd, 8 * 4096), "extend to 8 blocks");
		check_eq(lseek(fd, 0, SEEK_HOLE), 4096, "SEEK_HOLE after first block");
		check_eq(lseek(fd, 4096, SEEK_DATA), 4 * 4096, "SEEK_DATA finds block 4");
		check_eq(lseek(fd, 4 * 4096, SEEK_HOLE), 5 * 4096, "SEEK_HOLE after block 4");
		check_err(lseek(fd, 5 * 4096, SEEK_DATA), ENXIO, "SEEK_DATA in trailing hole");
		check_eq(lseek(fd, 6 * 4096, SEEK_HOLE), 6 * 4096, "SEEK_HOLE in trailing hole");
		check_data(fd, 4096, 3 * 4096, 0, "middle hole reads zero");
		check_data(fd, 4 * 4096, 4096, 23, "block 4 data");
		check_data(fd, 5 * 4096, 3 * 4096, 0, "trailing hole reads zero");
		close(fd);
	}
	section_end("sparse");
}

static void t_fallocate(void)
{
	struct stat st;
	int fd;

	section("falloc");
	fd = create_file("a");
	if (!check_ok(fd, "create"))
		return;
	check_ok(fallocate(fd, 0, 0, 1 * MiB), "fallocate mode 0, 1 MiB");
	st = xfstat(fd);
	check_eq(st.st_size, 1 * MiB, "fallocate mode 0 sets the size");
	check(st.st_blocks >= 2048, "fallocate mode 0 allocates (st_blocks %lld)",
	      (long long)st.st_blocks);
	check_data(fd, 0, 1 * MiB, 0, "preallocated range reads zero");

	check_ok(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 * MiB, 1 * MiB), "fallocate KEEP_SIZE past EOF");
	st = xfstat(fd);
	check_eq(st.st_size, 1 * MiB, "KEEP_SIZE leaves the size");
	check(st.st_blocks >= 4096, "KEEP_SIZE allocates (st_blocks %lld)", (long long)st.st_blocks);
	{
		char b[4];

		check_eq(pread(fd, b, sizeof(b), 1 * MiB + 10), 0,
			 "no data readable beyond EOF after KEEP_SIZE");
	}

	/* punch a hole into written data */
	check_ok(write_pat(fd, 0, 1 * MiB, 31), "write 1 MiB of data");
	{
		blkcnt_t before = xfstat(fd).st_blocks;

		check_err(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 256 * KiB, 256 * KiB), EOPNOTSUPP,
			  "PUNCH_HOLE without KEEP_SIZE");
		check_ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 256 * KiB,
				   256 * KiB),
			 "PUNCH_HOLE|KEEP_SIZE 256 KiB");
		st = xfstat(fd);
		check(st.st_blocks <= before - 512, "punch frees blocks (%lld -> %lld)",
		      (long long)before, (long long)st.st_blocks);
		check_eq(st.st_size, 1 * MiB, "punch keeps the size");
		check_data(fd, 256 * KiB, 256 * KiB, 0, "punched range reads zero");
		check_data(fd, 0, 256 * KiB, 31, "data before the hole intact");
		check_data(fd, 512 * KiB, 512 * KiB, 31, "data after the hole intact");
		/* unaligned punch zeroes partial blocks without freeing them */
		check_ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 600000, 5000),
			 "unaligned PUNCH_HOLE");
		check_data(fd, 600000, 5000, 0, "unaligned punched range reads zero");
		check_data(fd, 600000 - 1000, 1000, 31, "bytes before unaligned punch intact");
		check_data(fd, 605000, 1000, 31, "bytes after unaligned punch intact");
		check_eq(lseek(fd, 256 * KiB, SEEK_HOLE), 256 * KiB, "SEEK_HOLE finds the punched hole");
	}

	/* ZERO_RANGE: tmpfs does not implement it */
	{
		int r = fallocate(fd, FALLOC_FL_ZERO_RANGE, 700000, 100000);

		if (r < 0 && errno == EOPNOTSUPP && !is_daxfs) {
			skip("ZERO_RANGE", "not supported by this filesystem");
		} else {
			check_ok(r, "ZERO_RANGE inside the file");
			check_data(fd, 700000, 100000, 0, "zeroed range reads zero");
			check_data(fd, 700000 - 4000, 4000, 31, "bytes before zeroed range intact");
			check_data(fd, 800000, 4000, 31, "bytes after zeroed range intact");
			check_eq(xfstat(fd).st_size, 1 * MiB, "ZERO_RANGE inside keeps the size");
			check_ok(fallocate(fd, FALLOC_FL_ZERO_RANGE, 1 * MiB - 100, 8192),
				 "ZERO_RANGE across EOF");
			check_eq(xfstat(fd).st_size, 1 * MiB - 100 + 8192,
				 "ZERO_RANGE without KEEP_SIZE extends the size");
			check_data(fd, 1 * MiB - 100, 8192, 0, "extended zero range reads zero");
			check_ok(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 2 * MiB,
					   4096),
				 "ZERO_RANGE|KEEP_SIZE past EOF");
			check_eq(xfstat(fd).st_size, 1 * MiB - 100 + 8192,
				 "ZERO_RANGE|KEEP_SIZE leaves the size");
		}
	}
	check_err(fallocate(fd, 0, 0, 0), EINVAL, "fallocate length 0");
	check_err(fallocate(fd, 0, -1, 4096), EINVAL, "fallocate negative offset");
	close(fd);

	/* COLLAPSE_RANGE / INSERT_RANGE */
	fd = create_file("c");
	if (check_ok(fd, "create c")) {
		struct daxfs_ioc_falloc fa = { 0 };
		int r;

		for (int i = 0; i < 8; i++)
			write_pat(fd, i * 4096, 4096, 40 + i);
		r = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 8192, 8192);
		if (is_daxfs)
			check_err(r, EOPNOTSUPP, "fallocate(2) COLLAPSE_RANGE is refused by FUSE");
		else if (r < 0 && errno == EOPNOTSUPP)
			skip("fallocate(2) COLLAPSE_RANGE", "not supported by this filesystem");
		else
			check_ok(r, "fallocate(2) COLLAPSE_RANGE");
		if (!is_daxfs) {
			skip("COLLAPSE/INSERT via DAXFS_IOC_FALLOCATE", "not a daxfs mount");
			check_err(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), ENOTTY,
				  "DAXFS_IOC_FALLOCATE on a foreign filesystem");
		} else {
			fa.mode = FALLOC_FL_COLLAPSE_RANGE;
			fa.offset = 8192;
			fa.length = 8192;
			check_ok(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), "ioctl COLLAPSE_RANGE blocks 2-3");
			check_eq(xfstat(fd).st_size, 6 * 4096, "collapse shrinks the size");
			check_data(fd, 0, 4096, 40, "collapse: block 0 unchanged");
			check_data(fd, 4096, 4096, 41, "collapse: block 1 unchanged");
			{
				/* blocks 4..7 moved down by two; check them by content */
				unsigned char *b = xmalloc(4096);
				int good = 1;

				for (int i = 2; i < 6; i++) {
					if (pread_full(fd, b, 4096, i * 4096) != 4096 ||
					    cmp_pat(b, 4096, 40 + i + 2, (uint64_t)(i + 2) * 4096) >= 0)
						good = 0;
				}
				check(good, "collapse: later blocks shifted down");
				fa.mode = FALLOC_FL_INSERT_RANGE;
				fa.offset = 4096;
				fa.length = 4096;
				check_ok(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), "ioctl INSERT_RANGE at block 1");
				check_eq(xfstat(fd).st_size, 7 * 4096, "insert grows the size");
				check_data(fd, 0, 4096, 40, "insert: block 0 unchanged");
				check_data(fd, 4096, 4096, 0, "insert: inserted block is a hole");
				good = pread_full(fd, b, 4096, 2 * 4096) == 4096 &&
				       cmp_pat(b, 4096, 41, 4096) < 0;
				check(good, "insert: old block 1 shifted up");
				free(b);
			}
			fa.mode = FALLOC_FL_COLLAPSE_RANGE;
			fa.offset = 100;
			fa.length = 4096;
			check_err(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), EINVAL, "unaligned COLLAPSE");
			fa.offset = 4096;
			fa.length = 7 * 4096;
			check_err(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), EINVAL,
				  "COLLAPSE reaching EOF");
			fa.mode = FALLOC_FL_INSERT_RANGE;
			fa.offset = 7 * 4096;
			fa.length = 4096;
			check_err(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), EINVAL, "INSERT at EOF");
			fa.offset = 0;
			fa.reserved = 1;
			check_err(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), EINVAL, "reserved field set");
			fa.reserved = 0;
			fa.mode = FALLOC_FL_PUNCH_HOLE;
			check_err(ioctl(fd, DAXFS_IOC_FALLOCATE, &fa), EINVAL,
				  "ioctl with a mode other than COLLAPSE/INSERT");
			check_eq(xfstat(fd).st_size, 7 * 4096, "failed calls leave the size");
		}
		close(fd);
	}
	section_end("falloc");
}

static void t_copy_range(void)
{
	const size_t n = 1 * MiB + 123;
	int src, dst;

	section("copy");
	src = create_file("src");
	dst = create_file("dst");
	if (!check_ok(src, "create src") || !check_ok(dst, "create dst"))
		return;
	check_ok(write_pat(src, 0, n, 51), "write source");
	{
		size_t total = 0;
		ssize_t r = 1;

		while (total < n && r > 0) {
			r = copy_file_range(src, NULL, dst, NULL, n - total, 0);
			if (r > 0)
				total += (size_t)r;
		}
		check_eq(r < 0 ? -1 : (long long)total, (long long)n, "copy_file_range whole file");
		check_eq(xfstat(dst).st_size, (long long)n, "copy size");
		check_data(dst, 0, n, 51, "copied content");
		check_eq(lseek(src, 0, SEEK_CUR), (long long)n, "source offset advanced");
	}
	{
		int d2 = create_file("dst2");
		loff_t in = 5000, out = 7000;
		size_t total = 0;
		ssize_t r = 1;

		while (total < 10000 && r > 0) {
			r = copy_file_range(src, &in, d2, &out, 10000 - total, 0);
			if (r > 0)
				total += (size_t)r;
		}
		check_eq(r < 0 ? -1 : (long long)total, 10000, "copy_file_range partial with offsets");
		check_eq(in, 15000, "off_in updated");
		check_eq(out, 17000, "off_out updated");
		check_eq(xfstat(d2).st_size, 17000, "partial copy size");
		check_data(d2, 0, 7000, 0, "hole before copied range");
		{
			unsigned char *b = xmalloc(10000);

			check(pread_full(d2, b, 10000, 7000) == 10000 && cmp_pat(b, 10000, 51, 5000) < 0,
			      "partial copy content");
			free(b);
		}
		close(d2);
	}
	{
		loff_t in = 0, out = 4096;

		check_err(copy_file_range(src, &in, src, &out, 8192, 0), EINVAL,
			  "copy_file_range overlapping ranges in the same file");
		in = 0;
		out = 2 * MiB;
		check_eq(copy_file_range(src, &in, src, &out, 4096, 0), 4096,
			 "copy_file_range non-overlapping in the same file");
		{
			unsigned char b[4096];

			check(pread_full(src, b, 4096, 2 * MiB) == 4096 && cmp_pat(b, 4096, 51, 0) < 0,
			      "same-file copy content");
		}
	}
	{
		loff_t in = xfstat(src).st_size, out = 0;

		check_eq(copy_file_range(src, &in, dst, &out, 100, 0), 0,
			 "copy_file_range at source EOF returns 0");
	}
	if (is_daxfs) {
		/* daxfs keeps a source hole a hole in the copy (tmpfs, through
		 * the kernel's splice fallback, writes zeros). */
		int sp = create_file("sparse"), d3 = create_file("dst3");
		loff_t in = 0, out = 0;
		ssize_t r = 1;

		check_ok(write_pat(sp, 0, 64 * 1024, 52), "sparse source: 64 KiB");
		check_ok(write_pat(sp, 2 * MiB, 4096, 53), "  a hole of 2 MiB, 4 KiB");
		while (in < 2 * MiB + 4096 && r > 0)
			r = copy_file_range(sp, &in, d3, &out, 2 * MiB + 4096 - (size_t)in, 0);
		check_eq(in, 2 * MiB + 4096, "copy_file_range of a sparse file");
		check_eq(xfstat(d3).st_blocks, xfstat(sp).st_blocks, "  the hole stays a hole");
		check_data(d3, 0, 64 * 1024, 52, "  content before the hole");
		check_data(d3, 64 * 1024, 2 * MiB - 64 * 1024, 0, "  the hole reads as zeros");
		check_data(d3, 2 * MiB, 4096, 53, "  content after the hole");
		close(sp);
		close(d3);
	}
	check_ok(fsync(dst), "fsync");
	check_ok(fdatasync(dst), "fdatasync");
	check_ok(fsync(D), "fsync on a directory");
	close(src);
	close(dst);
	section_end("copy");
}

static int dir_nlink(int dfd, const char *name)
{
	return (int)xstatat(dfd, name).st_nlink;
}

static void t_dirs(void)
{
	int fd;

	section("dirs");
	check_eq(dir_nlink(D, "."), 2, "empty dir nlink 2");
	check_ok(mkdirat(D, "a", 0755), "mkdir");
	check(S_ISDIR(xstatat(D, "a").st_mode), "mkdir makes a directory");
	check_eq(xstatat(D, "a").st_mode & 07777, 0755, "mkdir mode (umask 0)");
	check_err(mkdirat(D, "a", 0755), EEXIST, "mkdir existing");
	check_eq(dir_nlink(D, "."), 3, "parent nlink 3 with one subdir");
	for (int i = 0; i < 3; i++) {
		char n[16];

		snprintf(n, sizeof(n), "a/s%d", i);
		check_ok(mkdirat(D, n, 0700), "mkdir %s", n);
	}
	check_eq(dir_nlink(D, "a"), 5, "dir nlink 2 + 3 subdirs");
	fd = openat(D, "a/file", O_CREAT | O_WRONLY, 0644);
	close(fd);
	check_eq(dir_nlink(D, "a"), 5, "a file does not change dir nlink");
	check_err(unlinkat(D, "a", AT_REMOVEDIR), ENOTEMPTY, "rmdir non-empty");
	check_err(unlinkat(D, "a/file", AT_REMOVEDIR), ENOTDIR, "rmdir of a file");
	check_err(unlinkat(D, "a/s0", 0), EISDIR, "unlink of a directory");
	check_err(openat(D, "a/file/x", O_RDONLY), ENOTDIR, "path through a file");
	check_err(mkdirat(D, "a/file/x", 0755), ENOTDIR, "mkdir under a file");
	check_err(openat(D, "a", O_WRONLY), EISDIR, "open a directory for writing");
	check_err(openat(D, "a/file", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file");
	check_err(mkdirat(D, "nope/x", 0755), ENOENT, "mkdir with missing parent");
	check_ok(unlinkat(D, "a/s2", AT_REMOVEDIR), "rmdir empty subdir");
	check_eq(dir_nlink(D, "a"), 4, "nlink drops after rmdir");
	check_err(unlinkat(D, "a/s2", AT_REMOVEDIR), ENOENT, "rmdir again");
	check_err(unlinkat(D, "a/.", AT_REMOVEDIR), EINVAL, "rmdir .");
	{
		struct stat a = xstatat(D, "a"), dd = xstatat(D, "a/s0/..");

		check(a.st_ino == dd.st_ino, "a/s0/.. is a");
	}
	section_end("dirs");
}

/* Readdir of directory fd into a name callback; returns entries or -1. */
struct seen {
	int n;
	unsigned char *count;	/* per index */
	int dups, strays, dots, dotdot_ok;
	ino_t parent_ino;
};

static void t_readdir(void)
{
	const int n = 3000;
	struct seen s = { 0 };
	DIR *d;
	struct dirent *de;
	int fd;

	section("readdir");
	check_ok(mkdirat(D, "r", 0755), "mkdir r");
	fd = openat(D, "r", O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < n; i++) {
		char name[32];
		int f;

		snprintf(name, sizeof(name), "entry-%05d", i);
		if (i % 10 == 0)
			f = mkdirat(fd, name, 0755);
		else
			f = openat(fd, name, O_CREAT | O_WRONLY, 0644);
		if (f < 0) {
			check_ok(f, "create %s", name);
			break;
		}
		if (i % 10)
			close(f);
	}
	s.count = calloc(n, 1);
	s.parent_ino = xstatat(D, ".").st_ino;
	d = fdopendir(dup(fd));
	{
		int bad_type = 0;

		while ((de = readdir(d))) {
			int i;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
				s.dots++;
				if (!strcmp(de->d_name, "..") && de->d_ino == s.parent_ino)
					s.dotdot_ok = 1;
				continue;
			}
			if (sscanf(de->d_name, "entry-%05d", &i) != 1 || i < 0 || i >= n) {
				s.strays++;
				continue;
			}
			if (s.count[i]++)
				s.dups++;
			if (de->d_type != DT_UNKNOWN && de->d_type != (i % 10 ? DT_REG : DT_DIR))
				bad_type++;
		}
		check_eq(bad_type, 0, "readdir d_type matches");
	}
	{
		int missing = 0;

		for (int i = 0; i < n; i++)
			missing += !s.count[i];
		check_eq(missing, 0, "readdir lists every entry");
		check_eq(s.dups, 0, "readdir lists no entry twice");
		check_eq(s.strays, 0, "readdir lists no unknown entries");
		check_eq(s.dots, 2, "readdir lists . and ..");
		check(s.dotdot_ok, "readdir .. has the parent's inode number");
	}

	/* iterate again and unlink every entry right after it was returned */
	memset(s.count, 0, n);
	s.dups = s.strays = 0;
	rewinddir(d);
	{
		int unlink_fail = 0;

		while ((de = readdir(d))) {
			int i;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (sscanf(de->d_name, "entry-%05d", &i) != 1 || i < 0 || i >= n) {
				s.strays++;
				continue;
			}
			if (s.count[i]++)
				s.dups++;
			if (unlinkat(fd, de->d_name, i % 10 ? 0 : AT_REMOVEDIR) < 0)
				unlink_fail++;
		}
		check_eq(unlink_fail, 0, "unlink during readdir");
	}
	{
		int missing = 0;

		for (int i = 0; i < n; i++)
			missing += !s.count[i];
		check_eq(missing, 0, "readdir while unlinking still lists every entry once");
		check_eq(s.dups, 0, "readdir while unlinking lists no entry twice");
	}
	rewinddir(d);
	{
		int left = 0;

		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				left++;
		check_eq(left, 0, "directory empty after unlinking everything");
	}
	closedir(d);
	close(fd);
	check_eq(dir_nlink(D, "r"), 2, "emptied dir nlink back to 2");
	check_ok(unlinkat(D, "r", AT_REMOVEDIR), "rmdir the emptied directory");
	free(s.count);
	section_end("readdir");
}

static void drop_kernel_caches(void)
{
	/* Forces later lookups to reach the filesystem instead of the dcache. */
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		sync();
		if (write(fd, "2", 1) != 1)
			fprintf(stderr, "posix-test: drop_caches: %s\n", strerror(errno));
		close(fd);
	}
}

static void t_bigdir(void)
{
	const int n = 100000;
	unsigned char *count;
	int fd, fails = 0, first_err = 0, first_i = -1;
	char name[32];

	section("bigdir");
	mkdirat(D, "b", 0755);
	fd = openat(D, "b", O_RDONLY | O_DIRECTORY);
	if (!check_ok(fd, "open big directory"))
		return;
	for (int i = 0; i < n; i++) {
		int f;

		snprintf(name, sizeof(name), "file-with-a-longish-name-%06d", i);
		f = openat(fd, name, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (f < 0) {
			if (!fails++) {
				first_err = errno;
				first_i = i;
			}
			if (fails > 100)
				break;
			continue;
		}
		close(f);
	}
	check(fails == 0, "create %d files in one directory (%d failed, first #%d: %s)", n, fails,
	      first_i, ename(first_err));
	if (is_daxfs)
		drop_kernel_caches();
	fails = 0;
	for (int i = 0; i < n; i++) {
		struct stat st;

		snprintf(name, sizeof(name), "file-with-a-longish-name-%06d", i);
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_nlink != 1) {
			if (!fails++) {
				first_err = errno;
				first_i = i;
			}
		}
	}
	check(fails == 0, "stat each of %d entries by name (%d failed, first #%d: %s)", n, fails,
	      first_i, ename(first_err));
	check_err(fstatat(fd, "file-with-a-longish-name-x", &(struct stat){ 0 }, 0), ENOENT,
		  "lookup of a missing name in a big directory");
	count = calloc(n, 1);
	{
		DIR *d = fdopendir(dup(fd));
		struct dirent *de;
		int total = 0, dups = 0, strays = 0, missing = 0;

		while ((de = readdir(d))) {
			int i;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			total++;
			if (sscanf(de->d_name, "file-with-a-longish-name-%06d", &i) != 1 || i < 0 ||
			    i >= n) {
				strays++;
				continue;
			}
			if (count[i]++)
				dups++;
		}
		closedir(d);
		for (int i = 0; i < n; i++)
			missing += !count[i];
		check_eq(total, n, "readdir count of the big directory");
		check(!dups && !strays && !missing, "readdir of big dir: %d dups, %d strays, %d missing",
		      dups, strays, missing);
	}
	free(count);
	fails = 0;
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "file-with-a-longish-name-%06d", i);
		if (unlinkat(fd, name, 0) < 0 && !fails++) {
			first_err = errno;
			first_i = i;
		}
	}
	check(fails == 0, "unlink all %d entries (%d failed, first #%d: %s)", n, fails, first_i,
	      ename(first_err));
	{
		DIR *d = fdopendir(dup(fd));
		int left = 0;
		struct dirent *de;

		while ((de = readdir(d)))
			left += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
		closedir(d);
		check_eq(left, 0, "big directory empty afterwards");
	}
	close(fd);
	check_ok(unlinkat(D, "b", AT_REMOVEDIR), "rmdir the former big directory");
	section_end("bigdir");
}

static void t_symlink(void)
{
	char target[4097], buf[4200];
	ssize_t r;

	section("symlink");
	for (int i = 0; i < 4095; i++)
		target[i] = (i % 64 == 63) ? '/' : 'a' + i % 26;
	target[4095] = 0;
	check_ok(symlinkat(target, D, "long"), "symlink with a 4095-byte target");
	r = readlinkat(D, "long", buf, sizeof(buf));
	check_eq(r, 4095, "readlink length of 4095-byte target");
	check(r == 4095 && !memcmp(buf, target, 4095), "readlink returns the 4095-byte target");
	check(S_ISLNK(xstatat(D, "long").st_mode), "lstat says symlink");
	check_eq(xstatat(D, "long").st_size, 4095, "symlink st_size is target length");
	memset(target, 'b', 4096);
	target[4096] = 0;
	check_err(symlinkat(target, D, "toolong"), ENAMETOOLONG, "symlink target of 4096 bytes");
	check_err(symlinkat("", D, "empty"), ENOENT, "symlink with an empty target");

	{
		int fd = create_file("file");

		write(fd, "data", 4);
		close(fd);
	}
	check_ok(symlinkat("file", D, "ln"), "symlink to a file");
	check_err(symlinkat("other", D, "ln"), EEXIST, "symlink over an existing name");
	check_eq(readlinkat(D, "ln", buf, 2), 2, "readlink truncates to the buffer");
	check(!memcmp(buf, "fi", 2), "truncated readlink content");
	check_err(readlinkat(D, "file", buf, sizeof(buf)), EINVAL, "readlink of a regular file");
	{
		int fd = openat(D, "ln", O_RDONLY);
		char b[8] = { 0 };

		check_ok(fd, "open through a symlink");
		check_eq(read(fd, b, sizeof(b)), 4, "read through a symlink");
		close(fd);
		check_err(openat(D, "ln", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink");
	}
	check_ok(symlinkat("missing", D, "dangling"), "dangling symlink");
	check_err(fstatat(D, "dangling", &(struct stat){ 0 }, 0), ENOENT, "stat of a dangling symlink");
	check_ok(fstatat(D, "dangling", &(struct stat){ 0 }, AT_SYMLINK_NOFOLLOW),
		 "lstat of a dangling symlink");
	check_ok(symlinkat("file", D, "../symlink/rel"), "symlink via a relative path");
	check_ok(unlinkat(D, "ln", 0), "unlink a symlink");
	check_ok(faccessat(D, "file", F_OK, 0), "target survives unlink of the symlink");
	section_end("symlink");
}

static void t_hardlink(void)
{
	struct stat a, b;
	int fd;

	section("link");
	fd = create_file("f");
	write_pat(fd, 0, 10000, 61);
	close(fd);
	check_ok(linkat(D, "f", D, "g", 0), "link");
	check_ok(mkdirat(D, "sub", 0755), "mkdir sub");
	check_ok(linkat(D, "f", D, "sub/h", 0), "link into a subdirectory");
	a = xstatat(D, "f");
	b = xstatat(D, "g");
	check_eq(a.st_nlink, 3, "nlink 3 after two links");
	check(a.st_ino == b.st_ino, "links share the inode number");
	check_eq(b.st_nlink, 3, "nlink seen through the other name");
	check_err(linkat(D, "f", D, "g", 0), EEXIST, "link onto an existing name");
	check_err(linkat(D, "sub", D, "subl", 0), EPERM, "link to a directory");
	check_err(linkat(D, "missing", D, "x", 0), ENOENT, "link of a missing file");
	check_ok(unlinkat(D, "f", 0), "unlink one name");
	check_eq(xstatat(D, "g").st_nlink, 2, "nlink drops on unlink");
	fd = openat(D, "sub/h", O_RDONLY);
	check_data(fd, 0, 10000, 61, "data kept through the remaining links");
	close(fd);
	check_ok(unlinkat(D, "g", 0), "unlink second name");
	check_eq(xstatat(D, "sub/h").st_nlink, 1, "nlink 1 with one name left");
	section_end("link");
}

static int mkfile(const char *name, const char *data)
{
	int fd = openat(D, name, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	ssize_t n = (ssize_t)strlen(data);

	if (fd < 0)
		return -1;
	if (write(fd, data, n) != n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int has_content(const char *name, const char *data)
{
	char b[256] = { 0 };
	int fd = openat(D, name, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return 0;
	r = read(fd, b, sizeof(b) - 1);
	close(fd);
	return r == (ssize_t)strlen(data) && !memcmp(b, data, r);
}

static ino_t dotdot_by_readdir(const char *dir)
{
	int fd = openat(D, dir, O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;
	ino_t ino = 0;

	if (fd < 0 || !(d = fdopendir(fd)))
		return 0;
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, ".."))
			ino = de->d_ino;
	closedir(d);
	return ino;
}

static void t_rename(void)
{
	struct stat st, st2;

	section("rename");
	mkfile("a", "A");
	st = xstatat(D, "a");
	check_ok(renameat(D, "a", D, "b"), "rename plain");
	check_err(faccessat(D, "a", F_OK, 0), ENOENT, "old name gone");
	check(has_content("b", "A") && xstatat(D, "b").st_ino == st.st_ino, "new name has the inode");

	mkfile("c", "C");
	st = xstatat(D, "c");
	check_ok(renameat(D, "c", D, "b"), "rename over an existing file");
	check(has_content("b", "C") && xstatat(D, "b").st_ino == st.st_ino,
	      "target replaced by the source");
	check_err(faccessat(D, "c", F_OK, 0), ENOENT, "source name gone");

	/* rename onto another name of the same inode does nothing */
	linkat(D, "b", D, "b2", 0);
	check_ok(renameat(D, "b", D, "b2"), "rename onto a hard link of the same inode");
	check(faccessat(D, "b", F_OK, 0) == 0 && faccessat(D, "b2", F_OK, 0) == 0,
	      "both names still exist");
	check_ok(renameat(D, "b", D, "b"), "rename onto itself");

	mkdirat(D, "d1", 0755);
	mkdirat(D, "d2", 0755);
	mkdirat(D, "full", 0755);
	mkfile("full/x", "x");
	st = xstatat(D, "d1");
	{
		nlink_t before = xstatat(D, ".").st_nlink;

		check_ok(renameat(D, "d1", D, "d2"), "rename dir over an empty dir");
		check(xstatat(D, "d2").st_ino == st.st_ino, "empty target dir replaced");
		check_eq(xstatat(D, ".").st_nlink, (long long)before - 1, "parent nlink drops by one");
	}
	check_err(renameat(D, "d2", D, "full"), ENOTEMPTY, "rename dir over a non-empty dir");
	check_err(renameat(D, "d2", D, "b"), ENOTDIR, "rename dir over a file");
	check_err(renameat(D, "b", D, "d2"), EISDIR, "rename file over a dir");
	check_err(renameat(D, "missing", D, "zz"), ENOENT, "rename of a missing name");

	mkfile("n1", "1");
	mkfile("n2", "2");
	check_err(renameat2(D, "n1", D, "n2", RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE onto existing");
	check(has_content("n1", "1") && has_content("n2", "2"), "failed NOREPLACE changes nothing");
	check_ok(renameat2(D, "n1", D, "n3", RENAME_NOREPLACE), "RENAME_NOREPLACE to a new name");
	check_err(renameat2(D, "n3", D, "n2", RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL,
		  "NOREPLACE|EXCHANGE");

	/* exchange a file and a directory across two directories */
	mkdirat(D, "A", 0755);
	mkdirat(D, "B", 0755);
	mkfile("A/x", "file-x");
	mkdirat(D, "B/y", 0755);
	mkfile("B/y/z", "zz");
	st = xstatat(D, "A/x");
	st2 = xstatat(D, "B/y");
	{
		nlink_t na = xstatat(D, "A").st_nlink, nb = xstatat(D, "B").st_nlink;

		check_ok(renameat2(D, "A/x", D, "B/y", RENAME_EXCHANGE), "RENAME_EXCHANGE file<->dir");
		check(xstatat(D, "A/x").st_ino == st2.st_ino && S_ISDIR(xstatat(D, "A/x").st_mode),
		      "A/x is now the directory");
		check(xstatat(D, "B/y").st_ino == st.st_ino && has_content("B/y", "file-x"),
		      "B/y is now the file");
		check(has_content("A/x/z", "zz"), "moved directory keeps its content");
		check_eq(xstatat(D, "A").st_nlink, (long long)na + 1, "A gained a subdirectory link");
		check_eq(xstatat(D, "B").st_nlink, (long long)nb - 1, "B lost a subdirectory link");
		check(xstatat(D, "A/x/..").st_ino == xstatat(D, "A").st_ino, "stat A/x/.. is A");
		check_eq((long long)dotdot_by_readdir("A/x"), (long long)xstatat(D, "A").st_ino,
			 "readdir .. of the exchanged dir is A");
	}
	check_err(renameat2(D, "A/x", D, "nothere", RENAME_EXCHANGE), ENOENT,
		  "RENAME_EXCHANGE with a missing target");
	check_ok(renameat2(D, "n2", D, "n3", RENAME_EXCHANGE), "RENAME_EXCHANGE two files");
	check(has_content("n2", "1") && has_content("n3", "2"), "exchanged file contents");

	/* moving a directory to another parent updates .. */
	mkdirat(D, "A/m", 0755);
	{
		nlink_t na = xstatat(D, "A").st_nlink, nb = xstatat(D, "B").st_nlink;

		check_ok(renameat(D, "A/m", D, "B/m"), "move a dir to another parent");
		check_eq(xstatat(D, "A").st_nlink, (long long)na - 1, "old parent nlink -1");
		check_eq(xstatat(D, "B").st_nlink, (long long)nb + 1, "new parent nlink +1");
		check_eq((long long)dotdot_by_readdir("B/m"), (long long)xstatat(D, "B").st_ino,
			 "readdir .. of the moved dir is the new parent");
	}
	mkdirat(D, "p", 0755);
	mkdirat(D, "p/q", 0755);
	check_err(renameat(D, "p", D, "p/q/r"), EINVAL, "move a dir into its own subtree");
	check_err(renameat(D, "p", D, "p/q"), EINVAL, "move a dir onto its own child");
	check_err(renameat2(D, "p", D, "p/q", RENAME_EXCHANGE), EINVAL,
		  "exchange a dir with its own child");
	section_end("rename");
}

static void t_unlink_open(void)
{
	long long f0, f1, f2, f3;
	const size_t n = 4 * MiB;
	struct statvfs sv;
	int fd;

	section("unlink-open");
	fstatvfs(basefd, &sv);
	fd = create_file("f");
	if (!check_ok(fd, "create"))
		return;
	check_ok(write_pat(fd, 0, n, 71), "write 4 MiB");
	fsync(fd);
	f0 = bfree_now();
	check_ok(unlinkat(D, "f", 0), "unlink while open");
	check_err(faccessat(D, "f", F_OK, 0), ENOENT, "name gone");
	check_eq(xfstat(fd).st_nlink, 0, "fstat nlink 0");
	check_data(fd, 0, n, 71, "data readable through the fd after unlink");
	check_ok(write_pat(fd, n, 1 * MiB, 72), "write through the fd after unlink");
	check_data(fd, n, 1 * MiB, 72, "read back data written after unlink");
	f1 = bfree_now();
	check(f1 < f0 + (long long)(n / sv.f_frsize) / 2,
	      "space not released while the file is open (bfree %lld -> %lld)", f0, f1);
	close(fd);
	f2 = wait_bfree_at_least(f1 + (long long)(n / sv.f_frsize));
	check(f2 >= f1 + (long long)(n / sv.f_frsize),
	      "space released after close (bfree %lld -> %lld)", f1, f2);
	(void)f3;
	section_end("unlink-open");
}

static int ts_eq(struct timespec a, long long sec, long nsec)
{
	return a.tv_sec == sec && a.tv_nsec == nsec;
}

static void t_attrs(void)
{
	struct timespec ts[2];
	struct stat st;
	time_t t0;
	int fd;

	section("attrs");
	fd = create_file("f");
	check_ok(fchmodat(D, "f", 04751, 0), "chmod 4751");
	check_eq(xstatat(D, "f").st_mode & 07777, 04751, "mode after chmod");
	check_ok(fchmod(fd, 0600), "fchmod 0600");
	check_eq(xfstat(fd).st_mode & 07777, 0600, "mode after fchmod");
	check_ok(fchownat(D, "f", 1234, 5678, 0), "chown 1234:5678");
	st = xstatat(D, "f");
	check(st.st_uid == 1234 && st.st_gid == 5678, "owner after chown (%u:%u)", st.st_uid,
	      st.st_gid);
	check_ok(fchown(fd, -1, 42), "fchown -1:42 changes only the group");
	st = xfstat(fd);
	check(st.st_uid == 1234 && st.st_gid == 42, "owner after fchown (%u:%u)", st.st_uid,
	      st.st_gid);
	fchmod(fd, 06755);
	check_ok(fchown(fd, 0, 0), "root chown of a setuid/setgid file");
	check_eq(xfstat(fd).st_mode & 07777, 0755, "chown cleared setuid and setgid");
	symlinkat("f", D, "sl");
	check_ok(fchownat(D, "sl", 77, 88, AT_SYMLINK_NOFOLLOW), "lchown a symlink");
	st = xstatat(D, "sl");
	check(st.st_uid == 77 && st.st_gid == 88, "symlink owner changed");
	check(xstatat(D, "f").st_uid == 0, "symlink target owner unchanged");

	ts[0] = (struct timespec){ 1000000000, 123456789 };
	ts[1] = (struct timespec){ 1500000000, 987654321 };
	check_ok(utimensat(D, "f", ts, 0), "utimensat with nanoseconds");
	st = xstatat(D, "f");
	check(ts_eq(st.st_atim, 1000000000, 123456789), "atime with ns (%lld.%09ld)",
	      (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	check(ts_eq(st.st_mtim, 1500000000, 987654321), "mtime with ns (%lld.%09ld)",
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ts[0] = (struct timespec){ 0, UTIME_OMIT };
	ts[1] = (struct timespec){ 1600000000, 1 };
	check_ok(utimensat(D, "f", ts, 0), "utimensat atime UTIME_OMIT");
	st = xstatat(D, "f");
	check(ts_eq(st.st_atim, 1000000000, 123456789), "UTIME_OMIT keeps atime");
	check(ts_eq(st.st_mtim, 1600000000, 1), "mtime set alongside UTIME_OMIT");
	t0 = time(NULL);
	ts[0] = (struct timespec){ 0, UTIME_NOW };
	ts[1] = (struct timespec){ 0, UTIME_OMIT };
	check_ok(futimens(fd, ts), "futimens atime UTIME_NOW");
	st = xfstat(fd);
	check(st.st_atim.tv_sec >= t0 - 2 && st.st_atim.tv_sec <= time(NULL) + 2,
	      "UTIME_NOW sets atime to the current time");
	check(ts_eq(st.st_mtim, 1600000000, 1), "UTIME_OMIT keeps mtime");
	check_ok(utimensat(D, "f", NULL, 0), "utimensat NULL (both now)");
	st = xstatat(D, "f");
	check(st.st_mtim.tv_sec >= t0 - 2, "mtime now");
	ts[0] = (struct timespec){ 2000000000, 5 };
	ts[1] = (struct timespec){ 1000, 999999999 };
	check_ok(utimensat(D, "sl", ts, AT_SYMLINK_NOFOLLOW), "utimensat on a symlink itself");
	st = xstatat(D, "sl");
	check(ts_eq(st.st_mtim, 1000, 999999999), "symlink mtime set");
	ts[1] = (struct timespec){ 0, 1000000000 };
	check_err(utimensat(D, "f", ts, 0), EINVAL, "tv_nsec out of range");

	/* writes and truncation update mtime/ctime */
	ts[0] = ts[1] = (struct timespec){ 1000000000, 0 };
	utimensat(D, "f", ts, 0);
	check_eq(pwrite(fd, "x", 1, 0), 1, "write");
	st = xfstat(fd);
	check(st.st_mtim.tv_sec >= t0 - 2, "write updates mtime");
	check(st.st_ctim.tv_sec >= t0 - 2, "write updates ctime");
	utimensat(D, "f", ts, 0);
	check_ok(ftruncate(fd, 100), "ftruncate");
	check(xfstat(fd).st_mtim.tv_sec >= t0 - 2, "truncate updates mtime");
	{
		struct stat before, after;

		mkdirat(D, "d", 0755);
		utimensat(D, "d", ts, 0);
		before = xstatat(D, "d");
		mkfile("d/new", "n");
		after = xstatat(D, "d");
		check(after.st_mtim.tv_sec >= t0 - 2 && before.st_mtim.tv_sec == 1000000000,
		      "creating an entry updates the directory mtime");
	}
	close(fd);
	section_end("attrs");
}

static void t_statfs(void)
{
	struct statvfs sv, sv2;
	long long b0, b1, b2;
	int fd, ok = 0;

	section("statfs");
	check_ok(fstatvfs(D, &sv), "statvfs");
	check_eq((long long)sv.f_bsize, 4096, "f_bsize 4096");
	check_eq((long long)sv.f_namemax, 255, "f_namemax 255");
	check(sv.f_bfree <= sv.f_blocks && sv.f_bavail <= sv.f_blocks, "free <= total");
	if (is_daxfs) {
		unsigned long long total = (unsigned long long)sv.f_blocks * sv.f_frsize;

		check(total <= pool_size && total >= pool_size / 10 * 8,
		      "f_blocks*f_frsize (%llu) near the pool size (%llu)", total,
		      (unsigned long long)pool_size);
	}
	fd = create_file("ten");
	b0 = bfree_now();
	check_ok(write_pat(fd, 0, 10 * MiB, 81), "write 10 MiB");
	fsync(fd);
	close(fd);
	b1 = bfree_now();
	check(b0 - b1 >= 2560 && b0 - b1 <= 2560 + 256,
	      "f_bfree drops by about 10 MiB (%lld blocks)", b0 - b1);
	unlinkat(D, "ten", 0);
	b2 = wait_bfree_at_least(b0 - 16);
	check(b2 >= b0 - 16, "f_bfree rises after unlink (%lld -> %lld, was %lld)", b1, b2, b0);

	/* inode counts; retry a little in case someone else shares the filesystem */
	for (int i = 0; i < 5 && !ok; i++) {
		char name[16];
		int f;

		fstatvfs(D, &sv);
		snprintf(name, sizeof(name), "i%d", i);
		f = create_file(name);
		close(f);
		fstatvfs(D, &sv2);
		ok = sv2.f_files == sv.f_files && sv2.f_ffree + 1 == sv.f_ffree;
		if (i == 4 || ok)
			check(ok, "create takes one inode (f_files %llu -> %llu, f_ffree %llu -> %llu)",
			      (unsigned long long)sv.f_files, (unsigned long long)sv2.f_files,
			      (unsigned long long)sv.f_ffree, (unsigned long long)sv2.f_ffree);
	}
	section_end("statfs");
}

static void t_special(void)
{
	struct stat st;
	char sp[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int s;

	section("special");
	check_ok(mkfifoat(D, "fifo", 0640), "mkfifo");
	st = xstatat(D, "fifo");
	check(S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640, "FIFO type and mode");
	check_err(mkfifoat(D, "fifo", 0640), EEXIST, "mkfifo over existing name");
	{
		int r = openat(D, "fifo", O_RDONLY | O_NONBLOCK);
		int w = openat(D, "fifo", O_WRONLY | O_NONBLOCK);
		char b[4] = { 0 };

		check_ok(r, "open FIFO for reading");
		check_ok(w, "open FIFO for writing");
		check_eq(write(w, "abc", 3), 3, "write into the FIFO");
		check_eq(read(r, b, sizeof(b)), 3, "read from the FIFO");
		close(r);
		close(w);
	}
	check_ok(mknodat(D, "chr", S_IFCHR | 0600, makedev(1, 3)), "mknod char device");
	st = xstatat(D, "chr");
	check(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "char device st_rdev 1:3");
	check_ok(mknodat(D, "blk", S_IFBLK | 0600, makedev(259, 65537)), "mknod block device");
	st = xstatat(D, "blk");
	check(S_ISBLK(st.st_mode) && st.st_rdev == makedev(259, 65537),
	      "block device st_rdev 259:65537 (got %u:%u)", major(st.st_rdev), minor(st.st_rdev));
	check_ok(mknodat(D, "reg", S_IFREG | 0644, 0), "mknod regular file");
	check(S_ISREG(xstatat(D, "reg").st_mode) && xstatat(D, "reg").st_size == 0,
	      "mknod regular file is empty");

	if (snprintf(sp, sizeof(sp), "%s/sock", dpath) >= (int)sizeof(sp)) {
		skip("unix socket", "path too long for sun_path");
	} else {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		int c;

		memcpy(a.sun_path, sp, sizeof(sp));
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		check_ok(bind(s, (struct sockaddr *)&a, sizeof(a)), "bind a unix socket");
		check(S_ISSOCK(xstatat(D, "sock").st_mode), "socket node is S_IFSOCK");
		check_ok(listen(s, 1), "listen");
		c = socket(AF_UNIX, SOCK_STREAM, 0);
		check_ok(connect(c, (struct sockaddr *)&a, sizeof(a)), "connect through the node");
		close(c);
		close(s);
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		check_err(bind(s, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE,
			  "bind to an existing node");
		close(s);
		check_ok(unlinkat(D, "sock", 0), "unlink socket node");
	}
	section_end("special");
}

static void t_xattr(void)
{
	char list[65536];
	char big[2000];
	ssize_t r;

	section("xattr");
	mkfile("f", "x");
	{
		char p[PATH_MAX + 8];

		snprintf(p, sizeof(p), "%s/f", dpath);
		char v[64];

		check_ok(setxattr(p, "user.a", "v1", 2, 0), "setxattr user.a");
		check_eq(getxattr(p, "user.a", v, sizeof(v)), 2, "getxattr user.a length");
		check(!memcmp(v, "v1", 2), "getxattr user.a value");
		check_eq(getxattr(p, "user.a", NULL, 0), 2, "getxattr size query");
		check_err(getxattr(p, "user.a", v, 1), ERANGE, "getxattr with a small buffer");
		check_err(setxattr(p, "user.a", "v2", 2, XATTR_CREATE), EEXIST,
			  "XATTR_CREATE on existing");
		check_err(setxattr(p, "user.b", "v2", 2, XATTR_REPLACE), ENODATA,
			  "XATTR_REPLACE on missing");
		check_ok(setxattr(p, "user.a", "value-2", 7, XATTR_REPLACE), "XATTR_REPLACE existing");
		check(getxattr(p, "user.a", v, sizeof(v)) == 7 && !memcmp(v, "value-2", 7),
		      "replaced value");
		check_ok(setxattr(p, "user.empty", "", 0, XATTR_CREATE), "xattr with an empty value");
		check_eq(getxattr(p, "user.empty", v, sizeof(v)), 0, "empty value length 0");
		check_ok(setxattr(p, "trusted.t", "tv", 2, 0), "setxattr trusted.t");
		check_eq(getxattr(p, "trusted.t", v, sizeof(v)), 2, "getxattr trusted.t");
		check_err(getxattr(p, "user.none", v, sizeof(v)), ENODATA, "getxattr missing");
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)pat(91, i);
		check_ok(setxattr(p, "user.big", big, sizeof(big), 0), "2000-byte value");
		{
			char g[2100];

			check(getxattr(p, "user.big", g, sizeof(g)) == 2000 && !memcmp(g, big, 2000),
			      "2000-byte value read back");
		}
		r = listxattr(p, list, sizeof(list));
		{
			int seen = 0;

			for (ssize_t o = 0; o < r; o += (ssize_t)strlen(list + o) + 1) {
				seen |= !strcmp(list + o, "user.a") << 0;
				seen |= !strcmp(list + o, "user.empty") << 1;
				seen |= !strcmp(list + o, "trusted.t") << 2;
				seen |= !strcmp(list + o, "user.big") << 3;
			}
			check(r > 0 && seen == 15, "listxattr lists all names (seen 0x%x)", seen);
			check_eq(listxattr(p, NULL, 0), r, "listxattr size query");
			check_err(listxattr(p, list, 3), ERANGE, "listxattr with a small buffer");
		}
		check_ok(removexattr(p, "user.a"), "removexattr");
		check_err(getxattr(p, "user.a", v, sizeof(v)), ENODATA, "removed xattr is gone");
		check_err(removexattr(p, "user.a"), ENODATA, "removexattr again");
		check_err(setxattr(p, "bogus.x", "1", 1, 0), EOPNOTSUPP, "unknown namespace");
		check(getxattr(p, "user.big", big, sizeof(big)) == 2000, "others survive removal");
	}
	/* on a directory and on a symlink */
	mkdirat(D, "d", 0755);
	symlinkat("f", D, "sl");
	{
		char p[PATH_MAX + 8], v[8];

		snprintf(p, sizeof(p), "%s/d", dpath);
		check_ok(setxattr(p, "user.d", "dv", 2, 0), "xattr on a directory");
		check_eq(getxattr(p, "user.d", v, sizeof(v)), 2, "xattr on a directory read back");
		snprintf(p, sizeof(p), "%s/sl", dpath);
		check_err(lsetxattr(p, "user.s", "1", 1, 0), EPERM, "user.* on a symlink");
		check_ok(lsetxattr(p, "trusted.s", "1", 1, 0), "trusted.* on a symlink");
		check_eq(lgetxattr(p, "trusted.s", v, sizeof(v)), 1, "trusted.* on a symlink read back");
	}
	/* many xattrs: must end in a clean error, or not at all */
	{
		char p[PATH_MAX + 8], name[32], v[100];
		int i, err = 0, set = 0;

		mkfile("many", "");
		snprintf(p, sizeof(p), "%s/many", dpath);
		memset(v, 'v', sizeof(v));
		for (i = 0; i < 2000; i++) {
			snprintf(name, sizeof(name), "user.many.%05d", i);
			if (setxattr(p, name, v, sizeof(v), XATTR_CREATE) < 0) {
				err = errno;
				break;
			}
			set++;
		}
		if (err)
			check(err == ENOSPC || err == E2BIG,
			      "adding xattrs stops with ENOSPC or E2BIG after %d (got %s)", set,
			      ename(err));
		else
			printf("# no xattr limit reached after %d xattrs\n", set);
		{
			char g[128];
			ssize_t lr = listxattr(p, list, sizeof(list));
			int cnt = 0;

			for (ssize_t o = 0; lr > 0 && o < lr; o += (ssize_t)strlen(list + o) + 1)
				cnt += !strncmp(list + o, "user.many.", 10);
			check_eq(cnt, set, "listxattr lists every xattr that was set");
			check(set == 0 || getxattr(p, "user.many.00000", g, sizeof(g)) == 100,
			      "first xattr still readable");
		}
		for (int j = 0; j < set; j++) {
			snprintf(name, sizeof(name), "user.many.%05d", j);
			if (removexattr(p, name) < 0) {
				check_ok(-1, "remove %s", name);
				break;
			}
		}
		check_eq(listxattr(p, NULL, 0), 0, "no xattrs left after removing them all");
		if (err)
			check_ok(setxattr(p, "user.after", v, sizeof(v), 0),
				 "setxattr works again after freeing space");
	}
	section_end("xattr");
}

static void t_names(void)
{
	char n255[256], n256[257];

	section("names");
	memset(n255, 'n', 255);
	n255[255] = 0;
	memset(n256, 'm', 256);
	n256[256] = 0;
	check_err(openat(D, n256, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "create 256-byte name");
	check_err(mkdirat(D, n256, 0755), ENAMETOOLONG, "mkdir 256-byte name");
	check_err(fstatat(D, n256, &(struct stat){ 0 }, 0), ENAMETOOLONG, "lookup 256-byte name");
	check_err(symlinkat("x", D, n256), ENAMETOOLONG, "symlink 256-byte name");
	mkfile("short", "s");
	check_err(renameat(D, "short", D, n256), ENAMETOOLONG, "rename to a 256-byte name");
	check_err(linkat(D, "short", D, n256, 0), ENAMETOOLONG, "link to a 256-byte name");
	{
		int fd = openat(D, n255, O_CREAT | O_WRONLY, 0644);
		DIR *d;
		struct dirent *de;
		int found = 0;

		check_ok(fd, "create 255-byte name");
		close(fd);
		check_ok(fstatat(D, n255, &(struct stat){ 0 }, 0), "stat 255-byte name");
		d = fdopendir(dup(D));
		while ((de = readdir(d)))
			found += !strcmp(de->d_name, n255);
		closedir(d);
		check_eq(found, 1, "readdir returns the 255-byte name");
		check_ok(renameat(D, n255, D, "renamed"), "rename away from a 255-byte name");
		check_ok(renameat(D, "renamed", D, n255), "rename to a 255-byte name");
		check_ok(unlinkat(D, n255, 0), "unlink 255-byte name");
	}
	section_end("names");
}

static void t_efbig(void)
{
	int fd;

	section("efbig");
	if (!is_daxfs) {
		skip("EFBIG at 16 TiB", "only daxfs has a 16 TiB file size limit");
		section_end("efbig");
		return;
	}
	fd = create_file("f");
	check_err(pwrite(fd, "x", 1, 16 * TiB), EFBIG, "write at 16 TiB");
	check_err(pwrite(fd, "x", 1, 17 * TiB), EFBIG, "write at 17 TiB");
	check_eq(pwrite(fd, "x", 1, 16 * TiB - 8192), 1, "write just below 16 TiB");
	check_eq(xfstat(fd).st_size, 16 * TiB - 8191, "size after write below the limit");
	check_ok(ftruncate(fd, 0), "truncate the huge file away");
	close(fd);
	section_end("efbig");
}

/* Many small extents: more than fit in the inode, so extent blocks chain. */
static void t_fragmented(void)
{
	const int nblk = 2000;
	const size_t len = (size_t)nblk * 4096;
	unsigned char *b = xmalloc(len);
	int fd, bad;

	section("frag");
	fd = create_file("f");
	if (!check_ok(fd, "create")) {
		free(b);
		return;
	}
	bad = 0;
	for (int i = 0; i < nblk; i += 2)
		bad += write_pat(fd, (off_t)i * 4096, 4096, 501) < 0;
	check_eq(bad, 0, "write every other block of %d", nblk);
	check_eq(xfstat(fd).st_size, (long long)(nblk - 1) * 4096, "size after sparse writes");
	check_eq(xfstat(fd).st_blocks, (long long)nblk / 2 * 8, "st_blocks counts only data blocks");
	bad = pread_full(fd, b, len, 0) != (ssize_t)len - 4096;
	for (int i = 0; !bad && i < nblk - 1; i++) {
		const unsigned char *blk = b + (size_t)i * 4096;

		bad = (i % 2) ? first_nonzero(blk, 4096) >= 0
			      : cmp_pat(blk, 4096, 501, (uint64_t)i * 4096) >= 0;
		if (bad)
			printf("# first bad block %d\n", i);
	}
	check(!bad, "alternating data and holes read back");
	check_eq(lseek(fd, 0, SEEK_HOLE), 4096, "SEEK_HOLE in a fragmented file");
	check_eq(lseek(fd, 4096, SEEK_DATA), 8192, "SEEK_DATA in a fragmented file");
	check_eq(lseek(fd, 1000 * 4096 + 1, SEEK_DATA), 1000 * 4096 + 1, "SEEK_DATA inside a data block");
	check_eq(lseek(fd, 1001 * 4096 + 7, SEEK_DATA), 1002 * 4096, "SEEK_DATA from a hole");
	check_eq(lseek(fd, 1998 * 4096, SEEK_HOLE), 1999 * 4096, "SEEK_HOLE at the last block is EOF");

	/* fill the gaps: neighbouring extents now touch */
	bad = 0;
	for (int i = 1; i < nblk; i += 2)
		bad += write_pat(fd, (off_t)i * 4096, 4096, 501) < 0;
	check_eq(bad, 0, "fill the holes");
	check_eq(xfstat(fd).st_blocks, (long long)nblk * 8, "st_blocks after filling the holes");
	check_data(fd, 0, len, 501, "filled file reads back whole");
	check_eq(lseek(fd, 0, SEEK_HOLE), (long long)len, "no hole left");

	/* punch every third block, then cut the file in the middle of a block */
	bad = 0;
	for (int i = 0; i < nblk; i += 3)
		bad += fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)i * 4096,
				 4096) < 0;
	check_eq(bad, 0, "punch every third block");
	check_eq(xfstat(fd).st_blocks, (long long)(nblk - (nblk + 2) / 3) * 8,
		 "st_blocks after punching");
	bad = pread_full(fd, b, len, 0) != (ssize_t)len;
	for (int i = 0; !bad && i < nblk; i++) {
		const unsigned char *blk = b + (size_t)i * 4096;

		bad = (i % 3 == 0) ? first_nonzero(blk, 4096) >= 0
				   : cmp_pat(blk, 4096, 501, (uint64_t)i * 4096) >= 0;
	}
	check(!bad, "punched blocks read zero, the others keep their data");
	check_ok(ftruncate(fd, 1000 * 4096 + 123), "truncate into the middle of a block");
	check_ok(ftruncate(fd, (off_t)len), "extend again");
	check_data(fd, 1000 * 4096 + 123, len - 1000 * 4096 - 123, 0,
		   "everything past the cut reads zero after re-extension");
	check_data(fd, 1000 * 4096 + 1, 122, 501, "bytes before the cut kept");
	close(fd);
	free(b);
	section_end("frag");
}

/* Unlinked-but-open objects that are not plain unlinks. */
static void t_orphans(void)
{
	const size_t n = 2 * MiB;
	struct statvfs sv;
	long long f0, f1;
	int fd, dfd;

	section("orphans");
	fstatvfs(D, &sv);
	fd = create_file("victim");
	write_pat(fd, 0, n, 111);
	fsync(fd);
	mkfile("newer", "replacement");
	f0 = bfree_now();
	check_ok(renameat(D, "newer", D, "victim"), "rename over a file that is open");
	check(has_content("victim", "replacement"), "the name shows the new file");
	check_eq(xfstat(fd).st_nlink, 0, "replaced open file has nlink 0");
	check_data(fd, 0, n, 111, "replaced file still readable through its fd");
	check_ok(write_pat(fd, 0, 4096, 112), "replaced file still writable through its fd");
	usleep(200 * 1000);
	f1 = bfree_now();
	check(f1 < f0 + (long long)(n / sv.f_frsize), "replaced file keeps its space while open");
	close(fd);
	f1 = wait_bfree_at_least(f0 + (long long)(n / sv.f_frsize));
	check(f1 >= f0 + (long long)(n / sv.f_frsize),
	      "replaced file's space comes back after close (%lld -> %lld)", f0, f1);

	check_ok(mkdirat(D, "gone", 0755), "mkdir");
	dfd = openat(D, "gone", O_RDONLY | O_DIRECTORY);
	check_ok(unlinkat(D, "gone", AT_REMOVEDIR), "rmdir of a directory that is open");
	check_eq(xfstat(dfd).st_nlink, 0, "removed open directory has nlink 0");
	check_err(openat(dfd, "x", O_CREAT | O_WRONLY, 0644), ENOENT,
		  "create inside a removed directory");
	{
		char buf[4096];

		check_err(getdents64(dfd, buf, sizeof(buf)), ENOENT, "getdents of a removed directory");
		close(dfd);
	}
	section_end("orphans");
}

/* Several threads at once: the daemon and the core must keep them apart. */
#define NTHREADS 4
#define NOPS 400

struct worker {
	int id;
	int errors;
	int shared_fd;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[64], name2[64], content[64];

	for (int k = 0; k < NOPS; k++) {
		int fd;

		snprintf(name, sizeof(name), "tmp-%d-%d", w->id, k);
		snprintf(name2, sizeof(name2), "final-%d-%d", w->id, k);
		snprintf(content, sizeof(content), "thread %d op %d", w->id, k);
		fd = openat(D, name, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
			w->errors++;
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		if (renameat(D, name, D, name2) < 0)
			w->errors++;
		if (k % 2 && unlinkat(D, name2, 0) < 0)
			w->errors++;
		/* each thread owns a 1 MiB region of the shared file */
		if (write_pat(w->shared_fd, (off_t)w->id * MiB + (k % 256) * 4096, 4096, 900) < 0)
			w->errors++;
	}
	return NULL;
}

static void t_threads(void)
{
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	int fd, errors = 0, missing = 0, wrong = 0, extra = 0;

	section("threads");
	fd = create_file("shared");
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i, .shared_fd = fd };
		if (pthread_create(&th[i], NULL, worker_main, &w[i]))
			die("pthread_create");
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
	}
	check_eq(errors, 0, "%d threads creating, renaming, unlinking and writing", NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		for (int k = 0; k < NOPS; k++) {
			char name[64], content[64];

			snprintf(name, sizeof(name), "final-%d-%d", i, k);
			snprintf(content, sizeof(content), "thread %d op %d", i, k);
			if (k % 2)
				extra += faccessat(D, name, F_OK, 0) == 0;
			else if (faccessat(D, name, F_OK, 0) < 0)
				missing++;
			else
				wrong += !has_content(name, content);
		}
	}
	check(!missing && !wrong && !extra, "files after the threads: %d missing, %d wrong, %d extra",
	      missing, wrong, extra);
	{
		DIR *d = fdopendir(dup(D));
		struct dirent *de;
		int n = 0;

		while ((de = readdir(d)))
			n += !strncmp(de->d_name, "final-", 6) || !strncmp(de->d_name, "tmp-", 4);
		closedir(d);
		check_eq(n, NTHREADS * NOPS / 2, "readdir after the threads");
	}
	check_data(fd, 0, NTHREADS * MiB, 900, "shared file written by all threads");
	close(fd);
	section_end("threads");
}

/* Files larger than one extent can describe (256 MiB on daxfs). */
static void t_large(void)
{
	const size_t chunk = 8 * MiB;
	const off_t total = 300 * MiB;
	unsigned char *b = xmalloc(chunk);
	long long before, after;
	int fd, bad = 0;

	section("large");
	fd = create_file("big");
	if (!check_ok(fd, "create")) {
		free(b);
		return;
	}
	before = bfree_now();
	for (off_t o = 0; o < total && !bad; o += (off_t)chunk) {
		size_t n = (size_t)(total - o) < chunk ? (size_t)(total - o) : chunk;

		fill_pat(b, n, 1201, (uint64_t)o);
		bad = pwrite_full(fd, b, n, o) != (ssize_t)n;
	}
	check(!bad, "write 300 MiB sequentially");
	check_eq(xfstat(fd).st_size, total, "size 300 MiB");
	check_eq(xfstat(fd).st_blocks, total / 512, "st_blocks of a 300 MiB file");
	for (off_t o = 0; o < total && !bad; o += (off_t)chunk) {
		size_t n = (size_t)(total - o) < chunk ? (size_t)(total - o) : chunk;

		bad = pread_full(fd, b, n, o) != (ssize_t)n || cmp_pat(b, n, 1201, (uint64_t)o) >= 0;
		if (bad)
			printf("# first bad chunk at %lld\n", (long long)o);
	}
	check(!bad, "300 MiB read back");
	check_data(fd, 256 * MiB - 5000, 10000, 1201, "read across the 256 MiB mark");
	/* a hole straddling 256 MiB, then data written into part of it */
	check_ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 255 * MiB, 2 * MiB),
		 "punch 2 MiB around the 256 MiB mark");
	check_data(fd, 255 * MiB, 2 * MiB, 0, "punched range reads zero");
	check_data(fd, 255 * MiB - 4096, 4096, 1201, "data before the punched range");
	check_data(fd, 257 * MiB, 4096, 1201, "data after the punched range");
	check_ok(write_pat(fd, 256 * MiB - 4096, 8192, 1201), "rewrite 8 KiB in the middle of the hole");
	check_data(fd, 256 * MiB - 4096, 8192, 1201, "rewritten blocks");
	check_data(fd, 255 * MiB, 1 * MiB - 4096, 0, "rest of the hole still zero (before)");
	check_data(fd, 256 * MiB + 4096, 1 * MiB - 4096, 0, "rest of the hole still zero (after)");
	check_eq(lseek(fd, 255 * MiB, SEEK_DATA), 256 * MiB - 4096, "SEEK_DATA finds the rewritten blocks");
	check_eq(lseek(fd, 256 * MiB - 4096, SEEK_HOLE), 256 * MiB + 4096,
		 "SEEK_HOLE after the rewritten blocks");
	close(fd);

	/* a large preallocation that is never written */
	fd = create_file("prealloc");
	check_ok(fallocate(fd, 0, 0, 600 * MiB), "fallocate 600 MiB");
	check(xfstat(fd).st_blocks >= 600 * MiB / 512, "600 MiB preallocated");
	check_data(fd, 300 * MiB - 1000, 2000, 0, "preallocated space reads zero");
	check_ok(ftruncate(fd, 0), "truncate the preallocated file to 0");
	check_eq(xfstat(fd).st_blocks, 0, "no blocks left");
	close(fd);
	unlinkat(D, "big", 0);
	unlinkat(D, "prealloc", 0);
	/* only a private filesystem gives exact figures */
	if (is_daxfs) {
		after = wait_bfree_at_least(before);
		check(after >= before, "all space back after removing the large files (%lld -> %lld)",
		      before, after);
	}
	free(b);
	section_end("large");
}

static void t_mmap(void)
{
	const size_t n = 3 * 4096;
	unsigned char *m;
	char b[16];
	int fd;

	section("mmap");
	fd = create_file("m");
	write_pat(fd, 0, n, 101);
	m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!check(m != MAP_FAILED, "mmap MAP_SHARED read/write (%s)", ename(errno))) {
		close(fd);
		section_end("mmap");
		return;
	}
	check_eq(cmp_pat(m, n, 101, 0), -1, "mapping shows file data");
	memcpy(m + 4000, "MAPPED-WRITE", 12);
	check(pread(fd, b, 12, 4000) == 12 && !memcmp(b, "MAPPED-WRITE", 12),
	      "read(2) sees a store through the mapping");
	check_ok(msync(m, n, MS_SYNC), "msync MS_SYNC");
	check(pread(fd, b, 12, 4000) == 12 && !memcmp(b, "MAPPED-WRITE", 12),
	      "read(2) sees the store after msync");
	check_eq(pwrite(fd, "FROM-WRITE", 10, 9000), 10, "pwrite into the mapped range");
	check(!memcmp(m + 9000, "FROM-WRITE", 10), "existing mapping sees write(2)");
	check_ok(msync(m, n, MS_ASYNC), "msync MS_ASYNC");
	munmap(m, n);
	close(fd);
	fd = openat(D, "m", O_RDONLY);
	check(pread(fd, b, 12, 4000) == 12 && !memcmp(b, "MAPPED-WRITE", 12),
	      "mapped store persists after munmap and reopen");
	close(fd);
	section_end("mmap");
}

/* ---- --fill mode ---- */

static void fill_mode(void)
{
	const size_t chunk = 1 * MiB;
	unsigned char *b = xmalloc(chunk);
	struct statvfs sv;
	int nfiles = 0, err = 0, fd;
	long long last_len = 0;
	char name[32];

	section("fill");
	fstatvfs(D, &sv);
	if ((unsigned long long)sv.f_blocks * sv.f_frsize > 1 * GiB) {
		fprintf(stderr, "posix-test: --fill refuses to fill a filesystem above 1 GiB\n");
		exit(2);
	}
	/* files of 4 MiB until one write fails */
	while (!err) {
		snprintf(name, sizeof(name), "f%03d", nfiles);
		fd = create_file(name);
		if (fd < 0) {
			err = errno;
			break;
		}
		nfiles++;
		last_len = 0;
		for (int c = 0; c < 4 && !err; c++) {
			ssize_t r;

			fill_pat(b, chunk, 200 + (uint64_t)nfiles, (uint64_t)last_len);
			r = write(fd, b, chunk);
			if (r < 0)
				err = errno;
			else
				last_len += r;
			if (r >= 0 && (size_t)r < chunk) {
				/* a short write: the next one must fail */
				r = write(fd, b + r, chunk - (size_t)r);
				err = r < 0 ? errno : -1;
			}
		}
		close(fd);
	}
	check(nfiles > 1, "wrote %d files before running out of space", nfiles);
	check(err == ENOSPC, "write fails with ENOSPC when full (got %s)",
	      err > 0 ? ename(err) : "no error");
	check_eq(xstatat(D, name).st_size, last_len, "partly written file has the written size");
	{
		int bad = 0;

		for (int i = 0; i < nfiles - 1; i++) {
			snprintf(name, sizeof(name), "f%03d", i);
			fd = openat(D, name, O_RDONLY);
			for (int c = 0; c < 4; c++) {
				if (pread_full(fd, b, chunk, c * (off_t)chunk) != (ssize_t)chunk ||
				    cmp_pat(b, chunk, 200 + (uint64_t)i + 1, c * chunk) >= 0) {
					bad++;
					break;
				}
			}
			close(fd);
		}
		check_eq(bad, 0, "earlier files intact after ENOSPC");
	}
	check_ok(fsync(D), "fsync of the directory on a full filesystem");
	{
		long long before = bfree_now();
		long long after;

		check_ok(unlinkat(D, "f000", 0), "delete a file on the full filesystem");
		after = wait_bfree_at_least(before + 1024);
		check(after >= before + 1024, "space comes back after delete (%lld -> %lld)", before,
		      after);
	}
	fd = create_file("again");
	check_ok(fd, "create after delete");
	fill_pat(b, chunk, 300, 0);
	check_eq(write(fd, b, chunk), (long long)chunk, "1 MiB write succeeds after delete");
	check_data(fd, 0, chunk, 300, "new data readable");
	close(fd);
	free(b);
	section_end("fill");
}

static void probe_daxfs(void)
{
	struct daxfs_ioc_pool_info pi;
	int fd = openat(basefd, ".posix-test-probe", O_CREAT | O_RDWR, 0600);

	if (fd < 0)
		die("create probe file");
	memset(&pi, 0, sizeof(pi));
	if (ioctl(fd, DAXFS_IOC_POOL_INFO, &pi) == 0) {
		is_daxfs = 1;
		pool_size = pi.size;
		printf("# daxfs mount: pool %.64s, %" PRIu64 " bytes, block size %u, is_pmem %u\n",
		       pi.path, pi.size, pi.block_size, pi.is_pmem);
	} else {
		printf("# not a daxfs mount (DAXFS_IOC_POOL_INFO: %s)\n", ename(errno));
	}
	close(fd);
	unlinkat(basefd, ".posix-test-probe", 0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "rw", t_create_rw },	     { "trunc", t_truncate },  { "sparse", t_sparse },
	{ "falloc", t_fallocate },   { "copy", t_copy_range }, { "dirs", t_dirs },
	{ "readdir", t_readdir },    { "bigdir", t_bigdir },   { "symlink", t_symlink },
	{ "link", t_hardlink },	     { "rename", t_rename },   { "unlink-open", t_unlink_open },
	{ "attrs", t_attrs },	     { "statfs", t_statfs },   { "special", t_special },
	{ "xattr", t_xattr },	     { "names", t_names },     { "efbig", t_efbig },
	{ "mmap", t_mmap },	     { "frag", t_fragmented }, { "orphans", t_orphans },
	{ "threads", t_threads },	     { "large", t_large },
};

static void usage(void)
{
	fprintf(stderr, "usage: posix-test [--fill] [--only SECTION[,SECTION...]] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int fill = 0, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--fill"))
			fill = 1;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else
			usage();
	}
	if (i != argc - 1)
		usage();
	if (!realpath(argv[i], basepath))
		die(argv[i]);
	basefd = open(basepath, O_RDONLY | O_DIRECTORY);
	if (basefd < 0)
		die(basepath);
	umask(0);
	/* EFBIG checks must see the error, not die of SIGXFSZ */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	probe_daxfs();

	if (fill) {
		fill_mode();
	} else {
		for (size_t t = 0; t < sizeof(tests) / sizeof(tests[0]); t++) {
			if (only) {
				char list[256];
				int hit = 0;

				snprintf(list, sizeof(list), "%s", only);
				for (char *s = strtok(list, ","); s; s = strtok(NULL, ","))
					hit |= !strcmp(s, tests[t].name);
				if (!hit)
					continue;
			}
			tests[t].fn();
		}
	}
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
