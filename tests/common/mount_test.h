/* SPDX-License-Identifier: MIT */
/*
 * mount_test.h - the small kit the C tests that drive a daxfs mount share:
 * ok/FAIL lines with a final "N passed, M failed", paths under the mount,
 * files with known bytes, and the mount's counters.
 */
#ifndef DAXFS_MOUNT_TEST_H
#define DAXFS_MOUNT_TEST_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

static inline int report(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
#endif
