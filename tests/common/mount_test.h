/* SPDX-License-Identifier: MIT */
/*
 * mount_test.h - the small kit the C tests that drive a daxfs mount share:
 * ok/FAIL lines with a final "N passed, M failed", paths under the mount,
 * files with known bytes, and the mount's counters.
 */
#ifndef DAXFS_MOUNT_TEST_H
#define DAXFS_MOUNT_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daxfs/daxfs_ioctl.h"

static int passed, failed;
static const char *mnt;

static inline void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

/* name under the mount; the last eight results stay valid. */
static inline char *path(const char *name)
{
	static char buf[8][4096];
	static int i;
	char *p = buf[i++ % 8];

	snprintf(p, 4096, "%s/%s", mnt, name);
	return p;
}

/* A new file of size bytes of c, open read-write. */
static inline int make_file(const char *name, size_t size, int c)
{
	int fd = open(path(name), O_RDWR | O_CREAT | O_TRUNC, 0666);
	char *buf = malloc(size);

	memset(buf, c, size);
	if (fd < 0 || pwrite(fd, buf, size, 0) != (ssize_t)size) {
		perror(name);
		exit(1);
	}
	free(buf);
	return fd;
}

static inline struct daxfs_stats stats(int fd)
{
	struct daxfs_stats s;

	memset(&s, 0, sizeof(s));
	if (ioctl(fd, DAXFS_IOC_STATS, &s) < 0)
		perror("DAXFS_IOC_STATS");
	return s;
}

/* A child that runs one layout change and reports its errno on a pipe. */
struct bg {
	pid_t pid;
	int rfd;
};

enum { BG_TRUNC, BG_PUNCH, BG_COLLAPSE };

static inline struct bg bg_start(const char *file, int what, uint64_t a, uint64_t b)
{
	struct bg g;
	int p[2];

	if (pipe(p) < 0)
		exit(1);
	g.pid = fork();
	if (!g.pid) {
		int fd = open(file, O_RDWR), err = 0;
		close(p[0]);
		if (what == BG_TRUNC) {
			err = ftruncate(fd, (off_t)a) ? errno : 0;
		} else if (what == BG_PUNCH) {
			if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a,
				      (off_t)b))
				err = errno;
		} else {
			struct daxfs_ioc_falloc fa = {a, b, FALLOC_FL_COLLAPSE_RANGE, 0};
			err = ioctl(fd, DAXFS_IOC_FALLOCATE, &fa) ? errno : 0;
		}
		if (write(p[1], &err, sizeof(err)) != sizeof(err))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	g.rfd = p[0];
	return g;
}

/* Has the child finished?  Waits up to ms for it (a liveness bound, not
 * a timing assertion). */
static inline int bg_done(struct bg *g, int ms, int *err)
{
	struct pollfd p = {.fd = g->rfd, .events = POLLIN};

	if (poll(&p, 1, ms) <= 0)
		return 0;
	if (read(g->rfd, err, sizeof(*err)) != sizeof(*err))
		*err = -1;
	close(g->rfd);
	waitpid(g->pid, NULL, 0);
	return 1;
}

static inline int report(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
#endif
