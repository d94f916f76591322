// SPDX-License-Identifier: MIT
/*
 * daxfs-csumbench - what the metadata_csum feature costs per operation.
 *
 * Runs the same metadata operations through the core (no FUSE, whose
 * round trips would hide a cost of this size) on two pools made alike but
 * for the feature, in alternating rounds so that both see the same machine,
 * and prints the median time per operation of each and their ratio.
 *
 *   create    mknod + write 4 KiB (inode, directory block, extents)
 *   setxattr  a 16-byte user xattr (a new xattr block, the inode)
 *   getxattr  read it back (the xattr block's crc checked every time)
 *   cold      lookup + read 4 KiB after a remount: the inode and the
 *             directory loaded, so checked, for the first time
 *   rename    within the directory (two directory blocks' crcs)
 *   unlink    (inode freed, directory block, bitmap)
 *
 * Run with PMEM_IS_PMEM_FORCE=1 on /dev/shm for the flush costs of pmem.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "daxfs.h"

enum { OP_CREATE, OP_SETX, OP_GETX, OP_COLD, OP_RENAME, OP_UNLINK, NOPS };
static const char *const op_names[NOPS] = {"create", "setxattr", "getxattr",
					   "cold",   "rename",	 "unlink"};

static const struct daxfs_cred cred = {.uid = 0, .gid = 0};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "daxfs-csumbench: %s: %s (%s)\n", what, strerror(-err), daxfs_errormsg());
	exit(1);
}

static struct daxfs *mount_pool(const char *pool)
{
	struct daxfs *fs = NULL;
	int ret = daxfs_open(pool, NULL, &fs);

	if (ret)
		die("open", ret);
	return fs;
}

/* One round on a fresh pool: ns per operation of each kind in ns[]. */
static void round_on(const char *pool, bool csum, long n, double *ns)
{
	struct daxfs_mkfs_opts mo = {.size = 256ULL << 20, .force = 1, .no_metadata_csum = !csum};
	static char buf[4096];
	char name[32], name2[32], val[16];
	struct daxfs *fs;
	struct stat st;
	uint64_t *ino = calloc((size_t)n, sizeof(*ino)), dir;
	double t;
	int ret;

	if (!ino)
		die("memory", -ENOMEM);
	if ((ret = daxfs_mkfs(pool, &mo, NULL)))
		die("mkfs", ret);
	fs = mount_pool(pool);
	if ((ret = daxfs_mkdir(fs, 1, "d", 0755, &cred, &st)))
		die("mkdir", ret);
	dir = st.st_ino;
	memset(buf, 'x', sizeof(buf));
	memset(val, 'v', sizeof(val));

	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%08ld", i);
		if ((ret = daxfs_mknod(fs, dir, name, S_IFREG | 0644, 0, &cred, &st)))
			die("create", ret);
		ino[i] = st.st_ino;
		if (daxfs_write(fs, ino[i], buf, sizeof(buf), 0, 0) != (ssize_t)sizeof(buf))
			die("write", -EIO);
	}
	ns[OP_CREATE] = (now() - t) * 1e9 / (double)n;

	t = now();
	for (long i = 0; i < n; i++)
		if ((ret = daxfs_setxattr(fs, ino[i], "user.a", val, sizeof(val), 0)))
			die("setxattr", ret);
	ns[OP_SETX] = (now() - t) * 1e9 / (double)n;

	t = now();
	for (long i = 0; i < n; i++)
		if (daxfs_getxattr(fs, ino[i], "user.a", val, sizeof(val)) != (ssize_t)sizeof(val))
			die("getxattr", -EIO);
	ns[OP_GETX] = (now() - t) * 1e9 / (double)n;

	/* A remount empties the inode cache: every inode is loaded again. */
	daxfs_close(fs);
	fs = mount_pool(pool);
	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%08ld", i);
		if ((ret = daxfs_lookup(fs, dir, name, &st)))
			die("lookup", ret);
		if (daxfs_pread(fs, st.st_ino, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			die("read", -EIO);
		daxfs_forget(fs, st.st_ino, 1);
	}
	ns[OP_COLD] = (now() - t) * 1e9 / (double)n;

	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%08ld", i);
		snprintf(name2, sizeof(name2), "g%08ld", i);
		if ((ret = daxfs_rename(fs, dir, name, dir, name2, 0)))
			die("rename", ret);
	}
	ns[OP_RENAME] = (now() - t) * 1e9 / (double)n;

	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(name2, sizeof(name2), "g%08ld", i);
		if ((ret = daxfs_unlink(fs, dir, name2)))
			die("unlink", ret);
	}
	ns[OP_UNLINK] = (now() - t) * 1e9 / (double)n;
	daxfs_close(fs);
	free(ino);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	long n = 10000;
	int rounds = 5, c;
	const char *dir = "/dev/shm";
	char pool[4096];
	double (*on)[NOPS], (*off)[NOPS];

	while ((c = getopt(argc, argv, "n:r:d:h")) != -1) {
		switch (c) {
		case 'n':
			n = strtol(optarg, NULL, 0);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: %s [-n FILES] [-r ROUNDS] [-d DIR]\n"
				"  Time metadata operations with and without metadata_csum\n"
				"  (FILES files, default 10000; ROUNDS rounds of each, default 5;\n"
				"  the pool in DIR, default /dev/shm) and print ns per operation.\n",
				argv[0]);
			return c == 'h' ? 0 : 1;
		}
	}
	if (n < 1 || n > 15000 || rounds < 1 || rounds > 99) {
		fprintf(stderr, "daxfs-csumbench: FILES must be 1..15000, ROUNDS 1..99\n");
		return 1;
	}
	snprintf(pool, sizeof(pool), "%s/daxfs-csumbench.%d", dir, (int)getpid());
	on = calloc((size_t)rounds, sizeof(*on));
	off = calloc((size_t)rounds, sizeof(*off));
	if (!on || !off)
		return 1;
	for (int r = 0; r < rounds; r++) {
		/* Alternate which goes first, so neither always gets a warm cache. */
		round_on(pool, r % 2 == 0, n, r % 2 == 0 ? on[r] : off[r]);
		round_on(pool, r % 2 != 0, n, r % 2 != 0 ? on[r] : off[r]);
	}
	unlink(pool);
	printf("%-10s %12s %12s %8s\n", "op", "csum ns/op", "plain ns/op", "ratio");
	for (int o = 0; o < NOPS; o++) {
		double a[99], b[99], ma, mb;
		for (int r = 0; r < rounds; r++) {
			a[r] = on[r][o];
			b[r] = off[r][o];
		}
		ma = median(a, rounds);
		mb = median(b, rounds);
		printf("%-10s %12.0f %12.0f %8.3f\n", op_names[o], ma, mb, ma / mb);
	}
	printf("(%ld files, median of %d rounds, %s)\n", n, rounds,
	       getenv("PMEM_IS_PMEM_FORCE") ? "PMEM_IS_PMEM_FORCE set" : "msync mode");
	free(on);
	free(off);
	return 0;
}
