// SPDX-License-Identifier: MIT
/*
 * metabench - small-file metadata benchmark for daxfs-bench.
 *
 * Three timed phases over N files in one directory:
 *   create: open(O_CREAT|O_EXCL) + write 4 KiB + close
 *   stat:   stat() every file
 *   unlink: unlink() every file
 * Each phase touches every file once, in the same order, so the rates of
 * different filesystems are directly comparable.  fio's filecreate/filestat
 * engines exist too, but they hide what is timed; this is easier to trust.
 *
 * With -b B the three phases run on B files at a time (create B, stat B,
 * unlink B, next B), with each phase's time summed.  That exists because
 * passthrough_ll keeps a descriptor open per inode the kernel remembers, and
 * a hard RLIMIT_NOFILE below N would otherwise break it.
 *
 * With -F every created file is fsync()ed before its close: what a program
 * that wants each file on disk does on a block filesystem, and the fair
 * baseline for daxfs, whose calls are persistent when they return.
 *
 * Output is one line per phase, "PHASE OPS_PER_SEC SECONDS", so that a
 * shell script can read it without a JSON parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE 4096

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [-n NFILES] [-s FILESIZE] [-b BATCH] [-F] DIR\n"
		"  Create, stat and unlink NFILES files (default 20000) of FILESIZE\n"
		"  bytes (default 4096) in DIR and print ops/s for each phase.\n"
		"  -b: run the phases on BATCH files at a time (default: all).\n"
		"  -F: fsync each file after its write.\n",
		prog);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Names are short and fixed-width so every filesystem hashes the same work. */
static void name_of(char *buf, size_t len, const char *dir, long i)
{
	snprintf(buf, len, "%s/m%08ld", dir, i);
}

static void report(const char *phase, long n, double secs)
{
	/* A phase can be faster than the clock on tiny N; avoid dividing by 0. */
	if (secs < 1e-9)
		secs = 1e-9;
	printf("%s %.0f %.6f\n", phase, n / secs, secs);
}

/* Each phase handles files [first, last) and adds its run time to *secs. */
static int do_fsync;

static int do_create(const char *dir, long first, long last, const char *buf, size_t fsize,
		     double *secs)
{
	char path[4096];
	double t0 = now();

	for (long i = first; i < last; i++) {
		name_of(path, sizeof(path), dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			fprintf(stderr, "metabench: create %s: %s\n", path, strerror(errno));
			return -1;
		}
		ssize_t w = write(fd, buf, fsize);
		if (w != (ssize_t)fsize) {
			fprintf(stderr, "metabench: write %s: %s\n", path,
				w < 0 ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		if (do_fsync && fsync(fd) < 0) {
			fprintf(stderr, "metabench: fsync %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (close(fd) < 0) {
			fprintf(stderr, "metabench: close %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	*secs += now() - t0;
	return 0;
}

static int do_stat(const char *dir, long first, long last, size_t fsize, double *secs)
{
	char path[4096];
	struct stat st;
	double t0 = now();

	for (long i = first; i < last; i++) {
		name_of(path, sizeof(path), dir, i);
		if (stat(path, &st) < 0) {
			fprintf(stderr, "metabench: stat %s: %s\n", path, strerror(errno));
			return -1;
		}
		/* A wrong size means the create phase did not really happen. */
		if ((size_t)st.st_size != fsize) {
			fprintf(stderr, "metabench: %s has size %lld, expected %zu\n", path,
				(long long)st.st_size, fsize);
			return -1;
		}
	}
	*secs += now() - t0;
	return 0;
}

static int do_unlink(const char *dir, long first, long last, double *secs)
{
	char path[4096];
	double t0 = now();

	for (long i = first; i < last; i++) {
		name_of(path, sizeof(path), dir, i);
		if (unlink(path) < 0) {
			fprintf(stderr, "metabench: unlink %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	*secs += now() - t0;
	return 0;
}

int main(int argc, char **argv)
{
	long n = 20000;
	long fsize = FILE_SIZE;
	long batch = 0;
	char *end;
	int c;

	while ((c = getopt(argc, argv, "n:s:b:Fh")) != -1) {
		switch (c) {
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || n <= 0) {
				fprintf(stderr, "metabench: bad file count '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			errno = 0;
			fsize = strtol(optarg, &end, 10);
			if (errno || *end || fsize < 0 || fsize > (1L << 24)) {
				fprintf(stderr, "metabench: bad file size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'b':
			errno = 0;
			batch = strtol(optarg, &end, 10);
			if (errno || *end || batch < 0) {
				fprintf(stderr, "metabench: bad batch size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'F':
			do_fsync = 1;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr, argv[0]);
		return 2;
	}

	const char *dir = argv[optind];
	char *buf = malloc(fsize ? fsize : 1);

	if (!buf) {
		perror("metabench: malloc");
		return 1;
	}
	/* Non-zero data, so no filesystem can store it as a hole. */
	memset(buf, 0xa5, fsize);

	double t_create = 0, t_stat = 0, t_unlink = 0;
	int ret = 0;

	if (batch == 0 || batch > n)
		batch = n;
	for (long first = 0; first < n && ret == 0; first += batch) {
		long last = first + batch < n ? first + batch : n;

		if (do_create(dir, first, last, buf, fsize, &t_create) < 0 ||
		    do_stat(dir, first, last, fsize, &t_stat) < 0 ||
		    do_unlink(dir, first, last, &t_unlink) < 0)
			ret = 1;
	}
	if (ret == 0) {
		report("create", n, t_create);
		report("stat", n, t_stat);
		report("unlink", n, t_unlink);
	}
	fflush(stdout);
	free(buf);
	return ret;
}
