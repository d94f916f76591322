/* SPDX-License-Identifier: MIT */
/*
 * hostile-test - direct access against hostile and unprivileged callers,
 * through a real daxfs mount (run by hostile.sh, which says what each
 * mount looks like).  Every scenario runs as root and forks children that
 * drop to user nobody (65534) where it needs one.
 *
 *   hostile-test ranges MNT     ioctl ranges that would wrap are refused and
 *                               leave nothing behind (issue 10, defect 1)
 *   hostile-test holes MNT      a read-only opener allocates nothing; a map
 *                               over max_pinned_mb=1 allocates nothing
 *                               (defect 4; nobody is in the dax_group)
 *   hostile-test records MNT N  nobody (in the dax_group) cannot use up the
 *                               mapping-record table: its cap stops it after
 *                               N single-extent maps, and root still maps
 *                               (defect 6)
 *   hostile-test reserve MNT N  with the per-user caps off, nobody still
 *                               cannot take root's eighth of the table: it
 *                               stops after N
 *   hostile-test shared MNT     nobody, with no direct access on this mount
 *                               (root's pool, allow_other), gets EPERM for
 *                               MAP and LEASE, sees none of root's mappings or
 *                               leases and no pool path (defect 8)
 *   hostile-test owner MNT      run as the pool's owner (not root): maps,
 *                               pins, leases, and lists its own mappings
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daxfs/daxfs_client.h"
#include "daxfs/daxfs_ioctl.h"

#include "mount_test.h"

#define NOBODY	      65534
#define MAX_FILE_SIZE ((1ULL << 44) - 1)

static int map_ioc(int fd, uint64_t off, uint64_t len, uint32_t flags, struct daxfs_ioc_map *out)
{
	struct daxfs_ioc_map m;

	memset(&m, 0, sizeof(m));
	m.offset = off;
	m.length = len;
	m.flags = flags;
	if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0)
		return errno;
	if (out)
		*out = m;
	return 0;
}

/* Map and unmap at once; the errno of the map (0 if it worked). */
static int map_err(int fd, uint64_t off, uint64_t len, uint32_t flags)
{
	struct daxfs_ioc_map m;
	int err = map_ioc(fd, off, len, flags, &m);

	if (!err) {
		struct daxfs_ioc_unmap u = {m.id};
		ioctl(fd, DAXFS_IOC_UNMAP, &u);
	}
	return err;
}

static uint64_t free_blocks(void)
{
	struct statvfs sv;

	return statvfs(mnt, &sv) == 0 ? sv.f_bfree : 0;
}

static long long file_blocks(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (long long)st.st_blocks : -1;
}

/* Run fn as nobody in a child; its exit status (0 = all its checks held). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	pid_t k = fork();
	int st;

	if (k < 0)
		return -1;
	if (!k) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(99);
		_exit(fn(arg));
	}
	if (waitpid(k, &st, 0) != k || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- defect 1: ranges ---- */

static void test_ranges(void)
{
	int fd = make_file("ranges", 65536, 'r');
	struct daxfs_ioc_map m;
	struct daxfs_stats s;
	struct {
		uint64_t off, len;
		const char *what;
	} bad[] = {
	    {UINT64_MAX - 4095, 8192, "offset 2^64-4096, length 8192"},
	    {1ULL << 44, UINT64_MAX - (1ULL << 44) + 4097, "offset 2^44, length 2^64-2^44+4096"},
	    {1ULL << 44, 4096, "offset 2^44 (past the largest file)"},
	    {MAX_FILE_SIZE + 1 - 4096, 8192, "a range ending past the largest file"},
	    {UINT64_MAX & ~4095ULL, UINT64_MAX, "offset and length near 2^64"},
	    {0, UINT64_MAX, "length 2^64-1"},
	    {4096, 0, "zero length"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check(map_err(fd, bad[i].off, bad[i].len, DAXFS_MAP_READ) == EINVAL,
		      "map of %s: EINVAL", bad[i].what);
	s = stats(fd);
	check(s.mappings == 0 && s.pinned_blocks == 0, "no mapping is left (%llu)",
	      (unsigned long long)s.mappings);
	/* A truncate must not wait for anything the refused maps left. */
	check(ftruncate(fd, 0) == 0 && stats(fd).deferrals == 0, "a truncate then runs at once");

	/* DAXFS_IOC_SYNC: a range that wraps is refused, not clipped. */
	close(fd);
	fd = make_file("ranges", 65536, 'r');
	if (map_ioc(fd, 0, 65536, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m) == 0) {
		struct daxfs_ioc_sync sy = {m.id, UINT64_MAX - 4095, 8192};
		struct daxfs_ioc_unmap u = {m.id};

		check(ioctl(fd, DAXFS_IOC_SYNC, &sy) < 0 && errno == EINVAL,
		      "sync of a range that wraps: EINVAL");
		sy.offset = 0;
		sy.length = 4096;
		check(ioctl(fd, DAXFS_IOC_SYNC, &sy) == 0, "sync of a good range works");
		check(ioctl(fd, DAXFS_IOC_UNMAP, &u) == 0, "unmap");
	} else {
		check(0, "map for the sync checks");
	}

	/* DAXFS_IOC_FALLOCATE: fallocate(2)'s answers, nothing changed. */
	{
		struct {
			uint64_t off, len;
			int err;
		} fb[] = {
		    {UINT64_MAX - 4095, 8192, EINVAL},
		    {1ULL << 62, 1ULL << 62, EFBIG},
		    {0, 0, EINVAL},
		    {4096, (uint64_t)INT64_MAX + 1, EINVAL},
		    {1ULL << 44, 4096, EFBIG}, /* past the largest file */
		};
		struct stat st0, st1;

		fstat(fd, &st0);
		for (size_t i = 0; i < sizeof(fb) / sizeof(fb[0]); i++) {
			struct daxfs_ioc_falloc fa = {fb[i].off, fb[i].len,
						      FALLOC_FL_COLLAPSE_RANGE, 0};
			int r = ioctl(fd, DAXFS_IOC_FALLOCATE, &fa) < 0 ? errno : 0;

			check(r == fb[i].err, "collapse at %#llx length %#llx: %s (got %s)",
			      (unsigned long long)fb[i].off, (unsigned long long)fb[i].len,
			      strerror(fb[i].err), strerror(r));
		}
		fstat(fd, &st1);
		check(st0.st_size == st1.st_size && st0.st_blocks == st1.st_blocks,
		      "... and the file is unchanged");
	}
	close(fd);
}

/* ---- defect 4: holes ---- */

static int nobody_big_map(void *arg)
{
	const char *file = arg;
	int fd = open(file, O_RDWR);
	long long b0 = file_blocks(fd);
	uint64_t f0 = free_blocks();
	int err;

	if (fd < 0)
		return 10;
	err = map_err(fd, 0, 100 << 20, DAXFS_MAP_READ | DAXFS_MAP_WRITE);
	printf("%s - nobody's 100 MiB map of holes over max_pinned_mb=1: ENOLCK (%s)\n",
	       err == ENOLCK ? "ok" : "FAIL", strerror(err));
	printf("%s - ... and it allocated nothing (%lld -> %lld blocks, %llu -> %llu free)\n",
	       file_blocks(fd) == b0 && free_blocks() == f0 ? "ok" : "FAIL", b0, file_blocks(fd),
	       (unsigned long long)f0, (unsigned long long)free_blocks());
	fflush(stdout);
	err = err == ENOLCK && file_blocks(fd) == b0 && free_blocks() == f0 ? 0 : 1;
	/* Within the cap a read-write opener's map does back its holes. */
	if (map_err(fd, 0, 256 << 10, DAXFS_MAP_READ) != 0 || file_blocks(fd) != b0 + 512) {
		printf("FAIL - a 256 KiB map within the cap backs its holes (%lld blocks)\n",
		       file_blocks(fd));
		err = 1;
	} else {
		printf("ok - a 256 KiB map within the cap backs its holes\n");
	}
	close(fd);
	return err;
}

static int nobody_ro_map(void *arg)
{
	const char *file = arg;
	int fd = open(file, O_RDONLY), err;
	long long b0 = file_blocks(fd);
	uint64_t f0 = free_blocks();

	if (fd < 0)
		return 10;
	err = map_err(fd, 0, 1 << 20, DAXFS_MAP_READ);
	printf("%s - nobody's read map of root's sparse 0644 file: ENODATA (%s)\n",
	       err == ENODATA ? "ok" : "FAIL", strerror(err));
	printf("%s - ... and nothing was allocated (%lld -> %lld blocks)\n",
	       file_blocks(fd) == b0 && free_blocks() == f0 ? "ok" : "FAIL", b0, file_blocks(fd));
	fflush(stdout);
	err = err == ENODATA && file_blocks(fd) == b0 && free_blocks() == f0 ? 0 : 1;
	close(fd);
	return err;
}

static void test_holes(void)
{
	int fd = open(path("sparse"), O_RDWR | O_CREAT | O_TRUNC, 0644), rfd;
	char *sparse = path("sparse"), *big = path("big");
	long long b0;
	uint64_t f0;

	/* 1 MiB of holes with one block of data in the middle. */
	if (fd < 0 || ftruncate(fd, 1 << 20) || pwrite(fd, "data", 4, 512 << 10) != 4)
		exit(1);
	b0 = file_blocks(fd);
	f0 = free_blocks();
	rfd = open(sparse, O_RDONLY);
	check(map_err(rfd, 0, 1 << 20, DAXFS_MAP_READ) == ENODATA,
	      "root's read map of holes through a read-only descriptor: ENODATA");
	check(file_blocks(fd) == b0 && free_blocks() == f0, "... and nothing was allocated");
	check(map_err(rfd, 512 << 10, 4096, DAXFS_MAP_READ) == 0,
	      "a read-only descriptor maps a range without holes");
	close(rfd);
	check(as_nobody(nobody_ro_map, sparse) == 0,
	      "nobody cannot fill root's file through a map");

	rfd = open(big, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (rfd < 0 || ftruncate(rfd, 200 << 20) || fchown(rfd, NOBODY, NOBODY))
		exit(1);
	close(rfd);
	check(as_nobody(nobody_big_map, big) == 0,
	      "max_pinned_mb is checked before anything is allocated");
	close(fd);
}

/* ---- defect 6: the record table ---- */

struct fill {
	const char *file;
	int want;  /* the errno that must stop nobody */
	int count; /* after this many mappings (0: any) */
	uint64_t root_id; /* a mapping root holds on the same file */
};

/* Map single blocks until refused; report how many and why. */
static int nobody_fill(void *arg)
{
	const struct fill *fl = arg;
	int fd = open(fl->file, O_RDWR), n = 0, err, stolen;
	struct daxfs_ioc_map r;

	if (fd < 0)
		return 10;
	/* Root's window, named by its id, cannot be moved (dropped) through
	 * nobody's open file of the same file. */
	memset(&r, 0, sizeof(r));
	r.length = 4096;
	r.flags = DAXFS_MAP_READ | DAXFS_MAP_REPLACE;
	r.id = fl->root_id;
	stolen = ioctl(fd, DAXFS_IOC_MAP, &r) == 0 || errno != EINVAL;
	printf("%s - nobody's DAXFS_MAP_REPLACE of root's mapping: EINVAL\n",
	       stolen ? "FAIL" : "ok");
	if (stolen)
		return 1;
	while (!(err = map_ioc(fd, (uint64_t)(n % 64) * 4096, 4096, DAXFS_MAP_READ, NULL)))
		n++;
	printf("%s - nobody made %d mappings (want %d), then: %s (want %s)\n",
	       err == fl->want && (!fl->count || n == fl->count) ? "ok" : "FAIL", n, fl->count,
	       strerror(err), strerror(fl->want));
	fflush(stdout);
	/* Hold the mappings while the parent maps as root. */
	kill(getpid(), SIGSTOP);
	close(fd);
	return err == fl->want && (!fl->count || n == fl->count) ? 0 : 1;
}

static void fill_table(int want, int count, const char *what)
{
	struct fill fl = {path("recs"), want, count, 0};
	int fd = make_file("recs", 64 * 4096, 'q'), st;
	struct daxfs_ioc_map rm;
	pid_t k;

	if (fchown(fd, NOBODY, NOBODY))
		exit(1);
	check(map_ioc(fd, 0, 4096, DAXFS_MAP_READ, &rm) == 0, "root holds a mapping of the file");
	fl.root_id = rm.id;
	/* That record comes out of the table nobody fills (not of its cap). */
	if (want == ENOSPC && count)
		fl.count--;
	k = fork();
	if (!k) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			_exit(99);
		_exit(nobody_fill(&fl));
	}
	/* The child stops itself once it is refused, its mappings held. */
	waitpid(k, &st, WUNTRACED);
	check(WIFSTOPPED(st), "nobody filled what it could");
	check(map_err(fd, 0, 4096, DAXFS_MAP_READ) == 0, "%s: root still maps", what);
	kill(k, SIGCONT);
	waitpid(k, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "nobody was stopped by %s after %d",
	      strerror(want), count);
	/* FUSE sends the release after the exit: wait for it (a bound on
	 * liveness, not a timing assertion). */
	for (int i = 0; i < 300 && stats(fd).mappings > 1; i++)
		usleep(100000);
	check(stats(fd).mappings == 1, "nobody's mappings went with its open file");
	check(ioctl(fd, DAXFS_IOC_UNMAP, &(struct daxfs_ioc_unmap){rm.id}) == 0,
	      "root's mapping outlived nobody's attempt to replace it");
	close(fd);
}

/* ---- defect 8 and the privilege ---- */

static int nobody_shared(void *arg)
{
	const char *file = arg;
	int fd = open(file, O_RDWR), bad = 0;
	struct daxfs_ioc_pins pins;
	struct daxfs_ioc_leases leases;
	struct daxfs_ioc_pool_info pi;
	struct daxfs_ioc_lease l;

	if (fd < 0)
		return 10;
	memset(&l, 0, sizeof(l));
	l.op = DAXFS_LEASE_SET;
	l.flags = DAXFS_LEASE_READ;
#define NCHECK(c, ...)                                                                             \
	do {                                                                                       \
		printf("%s - ", (c) ? "ok" : "FAIL");                                              \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		bad |= !(c);                                                                       \
	} while (0)
	NCHECK(map_err(fd, 0, 4096, DAXFS_MAP_READ) == EPERM, "nobody's map: EPERM");
	NCHECK(map_err(fd, 0, 4096, DAXFS_MAP_READ | DAXFS_MAP_WRITE) == EPERM,
	       "nobody's write map: EPERM");
	NCHECK(ioctl(fd, DAXFS_IOC_LEASE, &l) < 0 && errno == EPERM, "nobody's lease: EPERM");
	l.op = DAXFS_LEASE_GET;
	NCHECK(ioctl(fd, DAXFS_IOC_LEASE, &l) < 0 && errno == EPERM, "nobody's lease query: EPERM");
	NCHECK(daxfs_client_open(fd) == NULL && errno == EPERM, "daxfs_client_open: EPERM");
	memset(&pins, 0, sizeof(pins));
	NCHECK(ioctl(fd, DAXFS_IOC_PINS, &pins) == 0 && pins.count == 0,
	       "nobody sees none of root's mappings (%u listed)", pins.count);
	memset(&leases, 0, sizeof(leases));
	NCHECK(ioctl(fd, DAXFS_IOC_LEASES, &leases) == 0 && leases.count == 0,
	       "nobody sees none of root's leases (%u listed)", leases.count);
	memset(&pi, 'x', sizeof(pi));
	NCHECK(ioctl(fd, DAXFS_IOC_POOL_INFO, &pi) == 0 && pi.path[0] == 0 && pi.size > 0,
	       "POOL_INFO gives nobody the size but not the path");
	/* The POSIX path is all there: read, write, truncate. */
	{
		char b[4];
		NCHECK(pread(fd, b, 4, 0) == 4 && pwrite(fd, "posx", 4, 0) == 4 &&
			   ftruncate(fd, 65536) == 0,
		       "nobody reads, writes and truncates as usual");
	}
	fflush(stdout);
	close(fd);
	return bad;
}

static void test_shared(void)
{
	int fd = make_file("shared", 65536, 's'), fd2 = make_file("shared2", 65536, 't');
	struct daxfs_ioc_map m;
	struct daxfs_ioc_lease l;
	struct daxfs_ioc_pins pins;
	struct daxfs_ioc_pool_info pi;
	int mapped;

	if (fchmod(fd, 0666))
		exit(1);
	memset(&l, 0, sizeof(l));
	l.op = DAXFS_LEASE_SET;
	l.flags = DAXFS_LEASE_READ;
	check(ioctl(fd2, DAXFS_IOC_LEASE, &l) == 0, "root takes a lease");
	mapped = map_ioc(fd2, 0, 8192, DAXFS_MAP_READ, &m) == 0;
	check(mapped, "root maps");
	memset(&pins, 0, sizeof(pins));
	check(ioctl(fd, DAXFS_IOC_PINS, &pins) == 0 && pins.count == 1,
	      "root sees its mapping (%u)", pins.count);
	memset(&pi, 0, sizeof(pi));
	check(ioctl(fd, DAXFS_IOC_POOL_INFO, &pi) == 0 && pi.path[0] == '/',
	      "root gets the pool path");
	check(as_nobody(nobody_shared, path("shared")) == 0,
	      "nobody has no direct access and sees nothing of root's");
	if (mapped) {
		struct daxfs_ioc_unmap u = {m.id};
		ioctl(fd2, DAXFS_IOC_UNMAP, &u);
	}
	close(fd2);
	close(fd);
}

/* ---- the pool's owner, not root ---- */

static void test_owner(void)
{
	int fd = make_file("own", 65536, 'o');
	struct daxfs_client *c = daxfs_client_open(fd);
	struct daxfs_mapping *m;
	struct daxfs_ioc_pins pins;
	char *p, buf[8];

	check(getuid() != 0, "running as a user (%d), not root", (int)getuid());
	check(c != NULL, "the owner attaches a client (%s)", c ? "" : daxfs_client_errormsg());
	if (!c)
		return;
	p = daxfs_map(c, fd, 0, 65536, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);
	check(p && p[0] == 'o', "the owner maps for writing");
	if (!p)
		return;
	memcpy(p, "OWNER", 5);
	check(daxfs_persist(m, p, 5) == 0 && pread(fd, buf, 5, 0) == 5 && !memcmp(buf, "OWNER", 5),
	      "a direct write is seen by read(2)");
	memset(&pins, 0, sizeof(pins));
	check(ioctl(fd, DAXFS_IOC_PINS, &pins) == 0 && pins.count == 1 &&
		  pins.pin[0].holder_pid == (uint32_t)getpid(),
	      "the owner lists its mapping");
	{
		struct bg g = bg_start(path("own"), BG_TRUNC, 0, 0);
		int err = 0;

		check(!bg_done(&g, 300, &err), "its pins hold back a truncate");
		daxfs_unmap(m);
		check(bg_done(&g, 10000, &err) && err == 0, "which runs once unmapped");
	}
	close(fd);
	fd = make_file("own-lease", 65536, 'l');
	check(daxfs_lease_take(fd, DAXFS_LEASE_WRITE) == 0, "the owner takes a layout lease");
	p = daxfs_map(c, fd, 0, 65536, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM, &m);
	check(p != NULL, "and a long-term mapping under it");
	if (p)
		daxfs_unmap(m);
	check(daxfs_lease_release(fd) == 0, "and releases the lease");
	daxfs_client_close(c);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: hostile-test ranges|holes|shared|owner MNT\n"
				"       hostile-test records|reserve MNT [COUNT]\n");
		return 2;
	}
	mnt = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "ranges"))
		test_ranges();
	else if (!strcmp(argv[1], "holes"))
		test_holes();
	else if (!strcmp(argv[1], "records"))
		fill_table(ENOLCK, argc > 3 ? atoi(argv[3]) : 0, "nobody at its record cap");
	else if (!strcmp(argv[1], "reserve"))
		fill_table(ENOSPC, argc > 3 ? atoi(argv[3]) : 0, "the table full to root's eighth");
	else if (!strcmp(argv[1], "shared"))
		test_shared();
	else if (!strcmp(argv[1], "owner"))
		test_owner();
	else
		return 2;
	return report();
}
