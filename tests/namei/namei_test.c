// SPDX-License-Identifier: MIT
/*
 * namei_test.c - namespace changes through a daxfs mount at the edges:
 *
 *   namei-test link-race MNT SECS   link/unlink of a file against writes
 *                                   into its holes (the lock order of link)
 *   namei-test small-files MNT      what 100 two-byte files cost
 *   namei-test enospc MNT           symlink and link on a pool filled to
 *                                   0..3 free blocks: each either works
 *                                   or fails with ENOSPC changing nothing
 *
 * Prints ok/FAIL lines and "N passed, M failed"; exits 1 on a failure.
 */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include "mount_test.h"

#define BLK 4096

static long long bfree(void)
{
	struct statvfs sv;

	if (statvfs(mnt, &sv) < 0)
		return -1;
	return (long long)sv.f_bfree;
}

static long long ffree(void)
{
	struct statvfs sv;

	if (statvfs(mnt, &sv) < 0)
		return -1;
	return (long long)sv.f_ffree;
}

/* ---- link-race ---- */

/* Per child: iterations done, in shared memory for the parent's watch. */
static volatile unsigned long *progress;

/* A child that fails says which call and why before it exits. */
static void die(const char *what, const char *file, int code)
{
	fprintf(stderr, "namei-test: child %d: %s %s: %s\n", (int)getpid(), what, file,
		strerror(errno));
	_exit(code);
}

static void writer(const char *file, size_t chunk, int slot)
{
	int fd = open(file, O_RDWR | O_CREAT, 0644);
	char *buf = malloc(chunk);

	if (fd < 0 || !buf)
		die("open", file, 2);
	memset(buf, 'w', chunk);
	for (unsigned long i = 0;; i++) {
		/* Every other chunk: each write lands in a hole and allocates. */
		ssize_t n = pwrite(fd, buf, chunk, (off_t)((i % 64) * 2 * chunk));
		if (n != (ssize_t)chunk) {
			if (n >= 0)
				errno = 0;
			die("pwrite", file, 3);
		}
		if (i % 64 == 63 && ftruncate(fd, 0) < 0)
			die("ftruncate", file, 4);
		progress[slot]++;
	}
}

/*
 * Stores through a shared mapping, written back with sync_file_range():
 * the kernel sends that write-back without the inode lock it holds for
 * write(2) and link(2), so only daxfs's own lock order keeps the two apart.
 */
static void mmap_writer(const char *file, int slot)
{
	enum { PAGES = 32 };
	int fd = open(file, O_RDWR);

	if (fd < 0)
		die("open", file, 2);
	for (;;) {
		char *p;
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, PAGES * BLK) < 0)
			die("ftruncate", file, 4);
		p = mmap(NULL, PAGES * BLK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap", file, 6);
		for (int i = 0; i < PAGES; i++) {
			p[i * BLK] = 'm';
			if (sync_file_range(fd, i * BLK, BLK,
					    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) < 0)
				die("sync_file_range", file, 7);
		}
		munmap(p, PAGES * BLK);
		progress[slot]++;
	}
}

/*
 * Two linkers of one file race in the kernel, not in daxfs: FUSE drops its
 * cached link count on each unlink reply and drops a link reply that
 * arrives after that, so the cache can reach 0 while daxfs counts 1, and
 * link(2) then fails ENOENT without asking the daemon.  A stat refreshes
 * the count (the unlink invalidated it); only an ENOENT that outlives 100
 * refreshes in a row is daxfs's.
 */
static void linker(const char *file, const char *name, int slot)
{
	for (int stale = 0;;) {
		struct stat st;

		if (link(file, name) < 0) {
			if (errno != ENOENT || ++stale > 100)
				die("link", name, 5);
			if (stat(file, &st) < 0)
				die("stat", file, 5);
			progress[slot + 8]++; /* refreshes, reported */
			continue;
		}
		stale = 0;
		if (unlink(name) < 0)
			die("unlink", name, 5);
		progress[slot]++;
	}
}

static int link_race(int secs)
{
	enum { N = 6 };
	pid_t pid[N];
	unsigned long last[N] = {0};
	int stalled = 0, dead = 0, rounds = secs * 10;

	progress = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED)
		return 1;
	close(make_file("f", 1, 'x'));
	close(make_file("h", 1, 'x'));
	for (int i = 0; i < N; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			if (i == 0)
				writer(path("f"), BLK, i);
			else if (i == 1)
				linker(path("f"), path("f.link"), i);
			else if (i == 2)
				/* Long hole writes to another file keep the
				 * journal busy, so the writer of f waits for it
				 * holding f's lock. */
				writer(path("g"), 256 * 1024, i);
			else if (i == 3)
				linker(path("f"), path("f.link2"), i);
			else if (i == 4)
				mmap_writer(path("h"), i);
			else
				linker(path("h"), path("h.link"), i);
		}
	}
	/*
	 * Watch that every child keeps making progress: a deadlock stops the
	 * writer of f and both linkers for good.  The bound is generous (a
	 * child is stalled only after 3 s without one iteration).
	 */
	for (int r = 0, quiet = 0; r < rounds && !stalled && !dead; r++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		int moved = 0;

		nanosleep(&ts, NULL);
		for (int i = 0; i < N; i++) {
			moved += progress[i] != last[i];
			last[i] = progress[i];
			int st;
			if (waitpid(pid[i], &st, WNOHANG) == pid[i]) {
				fprintf(stderr, "namei-test: child %d (%d) ended, status %#x\n", i,
					(int)pid[i], st);
				dead = 1;
				pid[i] = 0;
			}
		}
		quiet = moved ? 0 : quiet + 1;
		stalled = quiet >= 30;
	}
	/* A child stuck in a deadlocked request (a write-back wait cannot be
	 * killed) goes when the script stops the daemon: do not wait then. */
	for (int i = 0; i < N; i++)
		if (pid[i]) {
			kill(pid[i], SIGKILL);
			if (!stalled)
				waitpid(pid[i], NULL, 0);
		}
	check(!dead, "no child failed a write, link or unlink");
	check(!stalled,
	      "link/unlink against hole writes made progress for %d s (writes %lu + %lu, "
	      "links %lu + %lu, mapped write-backs %lu, links %lu; stale link counts %lu)",
	      secs, last[0], last[2], last[1], last[3], last[4], last[5],
	      progress[9] + progress[11] + progress[13]);
	check(last[0] > 0 && last[1] > 0 && last[4] > 0 && last[5] > 0,
	      "the writes, write-backs and links all ran");
	if (stalled)
		return report(); /* the mount no longer answers */
	unlink(path("f.link"));
	unlink(path("f.link2"));
	unlink(path("h.link"));
	return report();
}

/* ---- small-files ---- */

static int small_files(void)
{
	enum { NF = 100 };
	long long before, after, blocks = 0;
	char name[64];

	if (mkdir(path("small"), 0755) < 0) {
		perror("mkdir");
		return 1;
	}
	/* Names first (their directory blocks and inodes), then the data. */
	for (int i = 0; i < NF; i++) {
		snprintf(name, sizeof(name), "small/f%03d", i);
		close(make_file(name, 0, 0));
	}
	before = bfree();
	for (int i = 0; i < NF; i++) {
		int fd;
		snprintf(name, sizeof(name), "small/f%03d", i);
		fd = open(path(name), O_WRONLY);
		if (fd < 0 || pwrite(fd, "hi", 2, 0) != 2) {
			perror(name);
			return 1;
		}
		close(fd);
	}
	after = bfree();
	for (int i = 0; i < NF; i++) {
		struct stat st;
		snprintf(name, sizeof(name), "small/f%03d", i);
		if (stat(path(name), &st) == 0)
			blocks += st.st_blocks;
	}
	check(blocks == NF * (BLK / 512), "100 two-byte files have %lld 512-byte blocks (want %d)",
	      blocks, NF * (BLK / 512));
	check(before - after == NF,
	      "their first bytes took %lld blocks of the pool (want %d: one data block each, "
	      "no extent block)",
	      before - after, NF);
	return report();
}

/* ---- enospc ---- */

static int bulk = -1;
static off_t bulk_size;

/* Fill the pool with one file, written in big then small pieces. */
static void fill_pool(void)
{
	static char buf[1 << 20];
	size_t chunk = sizeof(buf);

	bulk = open(path("bulk"), O_RDWR | O_CREAT, 0644);
	if (bulk < 0)
		exit(1);
	memset(buf, 'b', sizeof(buf));
	while (chunk >= BLK) {
		ssize_t r = pwrite(bulk, buf, chunk, bulk_size);
		if (r > 0)
			bulk_size += r & ~(ssize_t)(BLK - 1);
		if (r < (ssize_t)chunk)
			chunk /= 2;
		if (r > 0 && r % BLK) {
			/* keep the file block-aligned */
			if (ftruncate(bulk, bulk_size) < 0)
				exit(1);
		}
	}
}

/* Leave exactly k free blocks by shrinking or growing the bulk file. */
static bool set_free(long long k)
{
	static char buf[64 * BLK];

	memset(buf, 'b', sizeof(buf));
	for (int tries = 0; tries < 64; tries++) {
		long long f = bfree();
		if (f == k)
			return true;
		if (f < k) {
			bulk_size -= (off_t)(k - f) * BLK;
			if (ftruncate(bulk, bulk_size) < 0)
				return false;
		} else {
			size_t n = (size_t)(f - k) * BLK;
			ssize_t r = pwrite(bulk, buf, n < sizeof(buf) ? n : sizeof(buf), bulk_size);
			if (r > 0)
				bulk_size += r;
		}
	}
	return false;
}

/* Names of a directory, sorted, as one string. */
static char *listing(const char *dir)
{
	DIR *d = opendir(path(dir));
	struct dirent *e;
	char **v = NULL, *s;
	size_t n = 0, len = 1;

	if (!d)
		return strdup("<opendir failed>");
	while ((e = readdir(d))) {
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strdup(e->d_name);
		len += strlen(e->d_name) + 1;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(v[i], v[j]) > 0) {
				char *t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	s = calloc(1, len);
	for (size_t i = 0; i < n; i++) {
		strcat(s, v[i]);
		strcat(s, "\n");
		free(v[i]);
	}
	free(v);
	return s;
}

/* Directory "full": every slot of its blocks in use, so that one more
 * entry needs a new block.  Its size grows a block at a time; slots per
 * block are measured as the entries between two growths. */
static int dpb, nfull;
static unsigned npad;

static off_t dir_size(void)
{
	struct stat st;

	return stat(path("full"), &st) == 0 ? st.st_size : -1;
}

static bool add_full(void)
{
	char name[64];

	snprintf(name, sizeof(name), "full/pad%05u", npad++);
	if (link(path("target"), path(name)) < 0)
		return false;
	nfull++;
	return true;
}

/* Fill the free slots of full/'s blocks (needs no block). */
static bool refill(void)
{
	while (nfull < dir_size() / BLK * dpb)
		if (!add_full())
			return false;
	return nfull == dir_size() / BLK * dpb;
}

static void make_full_dir(void)
{
	off_t size0;
	int growths = 0, at = 0;

	if (mkdir(path("full"), 0755) < 0)
		exit(1);
	close(make_file("target", 1, 't'));
	size0 = dir_size();
	while (growths < 2) {
		if (!add_full()) {
			perror("link");
			exit(1);
		}
		if (dir_size() != size0) {
			size0 = dir_size();
			if (++growths == 1)
				at = nfull;
			else
				dpb = nfull - at;
		}
	}
	check(refill(), "directory full/ has all %d slots of its %lld blocks in use (%d per block)",
	      nfull, (long long)(dir_size() / BLK), dpb);
}

static bool alive(void)
{
	return bfree() >= 0;
}

/* One attempt: either it works (verified by verify) or fails with ENOSPC
 * and changes nothing in dir (names, free blocks and inodes). */
static bool attempt(const char *what, long long k, const char *dir, int (*op)(const char *),
		    bool (*verify)(const char *), const char *name)
{
	char *before, *after;
	long long b0, i0;
	int r, err;

	if (!set_free(k)) {
		check(0, "%s: leave exactly %lld free blocks (have %lld)", what, k, bfree());
		return false;
	}
	before = listing(dir);
	b0 = bfree();
	i0 = ffree();
	r = op(path(name));
	err = errno;
	if (!alive()) {
		check(0, "%s with %lld free blocks: the daemon is gone", what, k);
		exit(report());
	}
	if (r == 0) {
		check(verify(path(name)), "%s with %lld free blocks worked and is complete", what, k);
	} else {
		after = listing(dir);
		check(err == ENOSPC, "%s with %lld free blocks fails with ENOSPC (%s)", what, k,
		      strerror(err));
		check(!strcmp(before, after) && bfree() == b0 && ffree() == i0,
		      "%s: the failure changed nothing (blocks %lld -> %lld, inodes %lld -> %lld)",
		      what, b0, bfree(), i0, ffree());
		free(after);
	}
	free(before);
	return r == 0;
}

static char long_target[4001];

static int do_symlink(const char *p)
{
	return symlink(long_target, p);
}

static bool symlink_ok(const char *p)
{
	static char buf[8192];
	ssize_t n = readlink(p, buf, sizeof(buf));

	return n == (ssize_t)strlen(long_target) && !memcmp(buf, long_target, (size_t)n);
}

static int do_link(const char *p)
{
	return link(path("target"), p);
}

static bool link_ok(const char *p)
{
	struct stat a, b;

	return stat(p, &a) == 0 && stat(path("target"), &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_nlink == b.st_nlink;
}

static int enospc(void)
{
	char name[64];

	memset(long_target, 'L', sizeof(long_target) - 1);
	make_full_dir();
	fill_pool();
	check(bfree() == 0, "the pool is full (%lld free blocks)", bfree());
	for (long long k = 0; k <= 3; k++) {
		/* a directory with free slots: the target's block only */
		snprintf(name, sizeof(name), "s%lld", k);
		attempt("symlink with a 4000-byte target", k, ".", do_symlink, symlink_ok, name);
		/* a full directory: it must grow as well */
		snprintf(name, sizeof(name), "full/s%lld", k);
		nfull += attempt("symlink into a full directory", k, "full", do_symlink, symlink_ok,
				 name);
		snprintf(name, sizeof(name), "full/l%lld", k);
		nfull += attempt("link into a full directory", k, "full", do_link, link_ok, name);
		/* what worked in full/ added an entry: fill it up again */
		if (!refill())
			check(0, "refill full/ after round %lld", k);
	}
	check(alive(), "the daemon is still serving the mount");
	close(bulk);
	return report();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "link-race")) {
		mnt = argv[2];
		return link_race(argc > 3 ? atoi(argv[3]) : 10);
	}
	if (argc == 3 && !strcmp(argv[1], "small-files")) {
		mnt = argv[2];
		return small_files();
	}
	if (argc == 3 && !strcmp(argv[1], "enospc")) {
		mnt = argv[2];
		return enospc();
	}
	fprintf(stderr, "usage: namei-test link-race|small-files|enospc MNT [SECS]\n");
	return 2;
}
