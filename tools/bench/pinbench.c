/* SPDX-License-Identifier: MIT */
/*
 * daxfs-pinbench - what pins cost.
 *
 *  1. map + unmap of one block through the core API, in process;
 *  2. the same through the ioctl path of a mount, next to a stat() round
 *     trip through the same mount (the floor of any FUSE request);
 *  3. the busy check: a layout change that frees nothing (a punch over a
 *     hole) on a 4 KiB file and on a 100 GiB sparse file without pins, and
 *     on a file with P mappings elsewhere, P = 0, 1, 10, 100, 1000;
 *  4. direct access through libdaxfs-client: writing a file 2 MiB at a
 *     time through its own mapping of the pool, with a map, a persist and
 *     an unmap per 2 MiB, next to the same memcpy and persist into
 *     mappings made once (the speed of the memory, with nothing of daxfs).
 *
 * Every figure is a median of several runs, printed with its ratio to the
 * baseline of the same run.  It is a benchmark: it asserts nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "daxfs.h"
#include "daxfs/daxfs_client.h"
#include "daxfs/daxfs_ioctl.h"

#define RUNS 5

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static void die(const char *what, int err)
{
	fprintf(stderr, "daxfs-pinbench: %s: %s (%s)\n", what, strerror(err < 0 ? -err : err),
		daxfs_errormsg());
	exit(1);
}

static struct daxfs_cred root_cred = {0, 0, NULL, 0, 0};

static uint64_t mkfile(struct daxfs *fs, const char *name, uint64_t size)
{
	struct stat st;
	int ret = daxfs_mknod(fs, 1 /* the root */, name, S_IFREG | 0644, 0, &root_cred, &st);
	char blk[4096];

	if (ret)
		die("mknod", ret);
	memset(blk, 'p', sizeof(blk));
	if (daxfs_write(fs, st.st_ino, blk, sizeof(blk), 0, 0) != sizeof(blk))
		die("write", EIO);
	if (size > 4096) {
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = size};
		ret = daxfs_setattr(fs, st.st_ino, &sa, &root_cred, NULL);
		if (ret)
			die("setattr", ret);
		if (daxfs_write(fs, st.st_ino, blk, sizeof(blk), (off_t)(size - 4096), 0) !=
		    sizeof(blk))
			die("write", EIO);
	}
	return st.st_ino;
}

/* ns per punch of one hole block at off (nothing to free: the cost is the
 * busy check plus the transaction that updates the times). */
static double punch_ns(struct daxfs *fs, uint64_t ino, off_t off, int iters)
{
	double r[RUNS];

	for (int k = 0; k < RUNS; k++) {
		double t = now_ns();
		for (int i = 0; i < iters; i++) {
			int ret = daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						  off, 4096);
			if (ret)
				die("punch", ret);
		}
		r[k] = (now_ns() - t) / iters;
	}
	return median(r, RUNS);
}

static void core_bench(const char *dir, int iters)
{
	char pool[4096];
	struct daxfs_mkfs_opts mo = {.size = 512ULL << 20};
	struct daxfs_open_opts oo = {0};
	struct daxfs *fs = NULL;
	struct daxfs_file *f;
	uint64_t small, big, pinned;
	double r[RUNS], map_ns, s_ns, b_ns, p0 = 0;
	int ret;

	snprintf(pool, sizeof(pool), "%s/daxfs-pinbench.%d.pool", dir, (int)getpid());
	setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	if ((ret = daxfs_mkfs(pool, &mo, NULL)) || (ret = daxfs_open(pool, &oo, &fs)))
		die(pool, ret);
	unlink(pool); /* the mapping keeps it until close */

	small = mkfile(fs, "small", 4096);
	if ((ret = daxfs_open_file(fs, small, O_RDWR, &f)))
		die("open", ret);
	for (int k = 0; k < RUNS; k++) {
		double t = now_ns();
		for (int i = 0; i < iters; i++) {
			struct daxfs_ioc_map m = {.offset = 0, .length = 4096, .flags = DAXFS_MAP_READ};
			if ((ret = daxfs_mapping_create(fs, f, &m, &root_cred)))
				die("map", ret);
			if ((ret = daxfs_mapping_drop(fs, f, m.id)))
				die("unmap", ret);
		}
		r[k] = (now_ns() - t) / iters;
	}
	map_ns = median(r, RUNS);
	printf("core API, in process\n");
	printf("  %-46s %10.0f ns\n", "map + unmap of one block", map_ns);

	/* The busy check without pins: O(1) whatever the file's size. */
	big = mkfile(fs, "big", 100ULL << 30);
	s_ns = punch_ns(fs, small, 0 + 8192, iters / 4);
	b_ns = punch_ns(fs, big, (off_t)(50ULL << 30), iters / 4);
	printf("\nbusy check, no pins (punch of a hole block)\n");
	printf("  %-46s %10.0f ns\n", "4 KiB file", s_ns);
	printf("  %-46s %10.0f ns   ratio %.2f\n", "100 GiB sparse file", b_ns, b_ns / s_ns);

	/* With P mappings elsewhere in the file: O(P). */
	pinned = mkfile(fs, "pinned", 64ULL << 20);
	daxfs_release(fs, f);
	if ((ret = daxfs_open_file(fs, pinned, O_RDWR, &f)))
		die("open", ret);
	printf("\nbusy check with P mappings elsewhere in the file\n");
	printf("  %-8s %12s %12s %14s\n", "P", "ns", "vs P=0", "P log2 P");
	for (int p = 0, made = 0; p <= 1000; p = p ? p * 10 : 1) {
		double ns;

		for (; made < p; made++) {
			struct daxfs_ioc_map m = {.offset = (uint64_t)made * 4096, .length = 4096,
						  .flags = DAXFS_MAP_READ};
			if ((ret = daxfs_mapping_create(fs, f, &m, &root_cred)))
				die("map", ret);
		}
		ns = punch_ns(fs, pinned, (off_t)(32ULL << 20), iters / 4);
		if (!p)
			p0 = ns;
		printf("  %-8d %12.0f %12.2f %14.0f\n", p, ns, ns / p0, p > 1 ? p * log2(p) : p);
	}
	daxfs_release(fs, f);
	daxfs_close(fs);
}

/* ---- through a mount ---- */

static int mounted(const char *mnt)
{
	char line[8192];
	FILE *f = fopen("/proc/mounts", "r");
	int found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ' ');
		if (p && !strncmp(p + 1, mnt, strlen(mnt)) && p[1 + strlen(mnt)] == ' ')
			found = 1;
	}
	if (f)
		fclose(f);
	return found;
}

#define CHUNK	 (2u << 20)
#define DIRECT_MB 256u

/* Map [off, off + CHUNK) of fd for writing, in as many mappings as it
 * takes (a mapping may come back shorter); returns how many. */
static int map_chunk(struct daxfs_client *cl, int fd, off_t off, struct daxfs_mapping **m,
		     char **p, size_t *len)
{
	size_t done = 0;
	int n = 0;

	while (done < CHUNK) {
		if (n == 32) {
			fprintf(stderr, "daxfs-pinbench: 2 MiB took more than 32 mappings\n");
			exit(1);
		}
		p[n] = daxfs_map(cl, fd, off + (off_t)done, CHUNK - done, DAXFS_MAP_WRITE, &m[n]);
		if (!p[n]) {
			fprintf(stderr, "daxfs-pinbench: daxfs_map: %s\n", daxfs_client_errormsg());
			exit(1);
		}
		len[n] = daxfs_mapping_length(m[n]);
		done += len[n++];
	}
	return n;
}

/* Copy src into the n mappings of one chunk and persist them. */
static void fill_chunk(struct daxfs_mapping **m, char **p, const size_t *len, int n,
		       const char *src)
{
	for (int j = 0, at = 0; j < n; at += (int)len[j++]) {
		memcpy(p[j], src + at, len[j]);
		if (daxfs_persist(m[j], p[j], len[j]) < 0) {
			fprintf(stderr, "daxfs-pinbench: daxfs_persist: %s\n",
				daxfs_client_errormsg());
			exit(1);
		}
	}
}

static void direct_bench(const char *file)
{
	enum { NCHUNK = DIRECT_MB * (1u << 20) / CHUNK };
	static struct daxfs_mapping *held[NCHUNK][32];
	static char *hp[NCHUNK][32];
	static size_t hl[NCHUNK][32];
	static int hn[NCHUNK];
	double r[RUNS], once, each, moved;
	struct daxfs_client *cl;
	char *src = aligned_alloc(4096, CHUNK);
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (!src || fd < 0)
		die(file, errno);
	memset(src, 'd', CHUNK);
	/* Blocks first: the figures are of the direct path, not allocation. */
	for (unsigned i = 0; i < NCHUNK; i++)
		if (pwrite(fd, src, CHUNK, (off_t)i * CHUNK) != CHUNK)
			die("pwrite", errno);
	cl = daxfs_client_open(fd);
	if (!cl) {
		fprintf(stderr, "daxfs-pinbench: %s\n", daxfs_client_errormsg());
		exit(1);
	}
	/* Baseline: every chunk mapped once, then only memcpy and persist. */
	for (unsigned i = 0; i < NCHUNK; i++)
		hn[i] = map_chunk(cl, fd, (off_t)i * CHUNK, held[i], hp[i], hl[i]);
	for (int k = 0; k < RUNS; k++) {
		double t = now_ns();
		for (unsigned i = 0; i < NCHUNK; i++)
			fill_chunk(held[i], hp[i], hl[i], hn[i], src);
		r[k] = (now_ns() - t) / 1e9;
	}
	once = DIRECT_MB / 1024.0 / median(r, RUNS);
	for (unsigned i = 0; i < NCHUNK; i++)
		for (int j = 0; j < hn[i]; j++)
			daxfs_unmap(held[i][j]);
	/* The direct path as a client uses it: map, write, persist, unmap. */
	for (int k = 0; k < RUNS; k++) {
		double t = now_ns();
		for (unsigned i = 0; i < NCHUNK; i++) {
			struct daxfs_mapping *m[32];
			char *p[32];
			size_t len[32];
			int n = map_chunk(cl, fd, (off_t)i * CHUNK, m, p, len);

			fill_chunk(m, p, len, n, src);
			for (int j = 0; j < n; j++)
				if (daxfs_unmap(m[j]) < 0)
					die("daxfs_unmap", errno);
		}
		r[k] = (now_ns() - t) / 1e9;
	}
	each = DIRECT_MB / 1024.0 / median(r, RUNS);
	/* One mapping moved along the file: a daxfs_remap per window, one
	 * request to the daemon instead of a map and an unmap. */
	for (int k = 0; k < RUNS; k++) {
		struct daxfs_mapping *m = NULL;
		uint64_t off = 0, end = (uint64_t)DIRECT_MB << 20;
		double t = now_ns();

		while (off < end) {
			size_t want = CHUNK - off % CHUNK, len;
			char *p = m ? daxfs_remap(m, (off_t)off, want)
				    : daxfs_map(cl, fd, (off_t)off, want, DAXFS_MAP_WRITE, &m);

			if (!p) {
				fprintf(stderr, "daxfs-pinbench: %s\n", daxfs_client_errormsg());
				exit(1);
			}
			len = daxfs_mapping_length(m);
			fill_chunk(&m, &p, &len, 1, src + off % CHUNK);
			off += len;
		}
		if (daxfs_unmap(m) < 0)
			die("daxfs_unmap", errno);
		r[k] = (now_ns() - t) / 1e9;
	}
	moved = DIRECT_MB / 1024.0 / median(r, RUNS);
	daxfs_client_close(cl);
	close(fd);
	unlink(file);
	free(src);
	printf("\ndirect access through libdaxfs-client, %u MiB written 2 MiB at a time\n",
	       DIRECT_MB);
	printf("  %-46s %10.2f GiB/s (baseline)\n", "memcpy + persist, mapped once", once);
	printf("  %-46s %10.2f GiB/s ratio %.2f\n", "map + memcpy + persist + unmap per 2 MiB",
	       each, each / once);
	printf("  %-46s %10.2f GiB/s ratio %.2f\n", "remap + memcpy + persist per 2 MiB", moved,
	       moved / once);
}

static void mount_bench(const char *daemon, const char *mkfs, const char *dir, int iters)
{
	char pool[4096], mnt[4096], file[8192];
	double r[RUNS], stat_ns, trip_ns, map_ns, move_ns;
	pid_t pid;
	int fd, st;

	snprintf(pool, sizeof(pool), "%s/daxfs-pinbench.%d.mpool", dir, (int)getpid());
	snprintf(mnt, sizeof(mnt), "%s/daxfs-pinbench.%d.mnt", dir, (int)getpid());
	mkdir(mnt, 0755);
	pid = fork();
	if (!pid) {
		execl(mkfs, mkfs, "-q", "-s", "1G", pool, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("mkfs", EIO);
	pid = fork();
	if (!pid) {
		execl(daemon, daemon, "-f", pool, mnt, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !mounted(mnt); i++)
		usleep(50000);
	if (!mounted(mnt)) {
		kill(pid, SIGKILL);
		die("mount", EIO);
	}
	snprintf(file, sizeof(file), "%s/f", mnt);
	fd = open(file, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || pwrite(fd, "x", 1, 0) != 1)
		die(file, errno);
	/* AT_STATX_FORCE_SYNC: a GETATTR to the daemon every time, not the
	 * kernel's cached attributes. */
	for (int k = 0; k < RUNS; k++) {
		struct statx sx;
		double t = now_ns();
		for (int i = 0; i < iters; i++)
			if (statx(AT_FDCWD, file, AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) < 0)
				die("statx", errno);
		r[k] = (now_ns() - t) / iters;
	}
	stat_ns = median(r, RUNS);
	/* An ioctl that only reads counters: one FUSE round trip, uncached. */
	for (int k = 0; k < RUNS; k++) {
		struct daxfs_stats ds;
		double t = now_ns();
		for (int i = 0; i < iters; i++)
			if (ioctl(fd, DAXFS_IOC_STATS, &ds) < 0)
				die("DAXFS_IOC_STATS", errno);
		r[k] = (now_ns() - t) / iters;
	}
	trip_ns = median(r, RUNS);
	for (int k = 0; k < RUNS; k++) {
		double t = now_ns();
		for (int i = 0; i < iters; i++) {
			struct daxfs_ioc_map m = {.offset = 0, .length = 4096, .flags = DAXFS_MAP_READ};
			struct daxfs_ioc_unmap u;
			if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0)
				die("DAXFS_IOC_MAP", errno);
			u.id = m.id;
			if (ioctl(fd, DAXFS_IOC_UNMAP, &u) < 0)
				die("DAXFS_IOC_UNMAP", errno);
		}
		r[k] = (now_ns() - t) / iters;
	}
	map_ns = median(r, RUNS);
	/* A window moved with DAXFS_MAP_REPLACE: one round trip a move. */
	{
		struct daxfs_ioc_map m = {.offset = 0, .length = 4096, .flags = DAXFS_MAP_READ};
		struct daxfs_ioc_unmap u;

		if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0)
			die("DAXFS_IOC_MAP", errno);
		for (int k = 0; k < RUNS; k++) {
			double t = now_ns();
			for (int i = 0; i < iters; i++) {
				m.offset = 0;
				m.length = 4096;
				m.flags = DAXFS_MAP_READ | DAXFS_MAP_REPLACE;
				if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0)
					die("DAXFS_IOC_MAP (replace)", errno);
			}
			r[k] = (now_ns() - t) / iters;
		}
		u.id = m.id;
		if (ioctl(fd, DAXFS_IOC_UNMAP, &u) < 0)
			die("DAXFS_IOC_UNMAP", errno);
	}
	move_ns = median(r, RUNS);
	close(fd);
	printf("\nthrough the mount (FUSE)\n");
	printf("  %-46s %10.0f ns   (baseline)\n", "stat() round trip (statx, FORCE_SYNC)", stat_ns);
	printf("  %-46s %10.0f ns   ratio %.2f\n", "ioctl that only reads counters", trip_ns,
	       trip_ns / stat_ns);
	printf("  %-46s %10.0f ns   ratio %.2f (%.2f per ioctl)\n",
	       "ioctl map + ioctl unmap of one block", map_ns, map_ns / stat_ns,
	       map_ns / stat_ns / 2);
	printf("  %-46s %10.0f ns   ratio %.2f\n",
	       "ioctl map with DAXFS_MAP_REPLACE (window moved)", move_ns, move_ns / stat_ns);
	snprintf(file, sizeof(file), "%s/direct", mnt);
	direct_bench(file);
	pid_t u = fork();
	if (!u) {
		execlp("fusermount3", "fusermount3", "-u", mnt, (char *)NULL);
		_exit(127);
	}
	waitpid(u, NULL, 0);
	waitpid(pid, NULL, 0);
	rmdir(mnt);
	unlink(pool);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"iterations", required_argument, NULL, 'n'},
					   {"dir", required_argument, NULL, 'D'},
					   {"daemon", required_argument, NULL, 'd'},
					   {"mkfs", required_argument, NULL, 'm'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	const char *dir = "/dev/shm", *daemon = NULL, *mkfs = NULL;
	int c, iters = 20000;

	while ((c = getopt_long(argc, argv, "n:D:d:m:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			iters = atoi(optarg);
			break;
		case 'D':
			dir = optarg;
			break;
		case 'd':
			daemon = optarg;
			break;
		case 'm':
			mkfs = optarg;
			break;
		case 'h':
			printf("Usage: daxfs-pinbench [-n ITERATIONS] [-D DIR] [--daemon DAXFS --mkfs "
			       "MKFS.DAXFS]\nMeasures pins in process; with --daemon and --mkfs also "
			       "through a mount (as root).\n");
			return 0;
		default:
			return 2;
		}
	}
	if (iters < 100) {
		fprintf(stderr, "daxfs-pinbench: at least 100 iterations\n");
		return 2;
	}
	core_bench(dir, iters);
	if (daemon && mkfs)
		mount_bench(daemon, mkfs, dir, iters / 4);
	return 0;
}
