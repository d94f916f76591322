/* SPDX-License-Identifier: MIT */
/*
 * poollock.c - the one lock on a pool that its daemon, fsck and mkfs take.
 *
 * A flock on the pool file: exclusive for a read-write mount, fsck -y and
 * mkfs, shared for read-only mounts (several may share a pool).  The lock
 * belongs to the open file description, so it is held as long as the
 * caller keeps the descriptor open and dies with a crashed holder.  When it
 * is refused, the message names the processes holding it (from /proc/locks)
 * and, when a daxfs mount of the pool is listed in /proc/mounts, where it
 * is mounted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "core.h"

/* Append the pids that hold a flock on (dev, ino) to buf, comma-separated. */
static void lock_holders(dev_t dev, ino_t ino, char *buf, size_t len, int *count)
{
	char line[256];
	FILE *f = fopen("/proc/locks", "re");
	size_t used = 0;

	*count = 0;
	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long i;
		long pid;
		char kind[16];

		/* "1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF"; waiters
		 * have a "->" after the number and hold nothing. */
		if (strstr(line, "->"))
			continue;
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &i) != 5)
			continue;
		if (strcmp(kind, "FLOCK") || maj != major(dev) || min != minor(dev) ||
		    i != (unsigned long long)ino || pid <= 0)
			continue;
		if (used + 24 < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%ld", *count ? ", " : "",
						 pid);
		(*count)++;
	}
	fclose(f);
}

/* Undo the octal escapes of /proc/mounts (\040 for a space ...) in place. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* The mountpoint of a daxfs mount of real (a resolved path), if the daemon
 * named the pool in the mount's source ("daxfs:POOL", its default). */
static void mountpoint_of(const char *real, char *buf, size_t len)
{
	char line[8192];
	FILE *f = fopen("/proc/mounts", "re");

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *src = strtok(line, " "), *mnt = strtok(NULL, " "), *type = strtok(NULL, " ");

		if (!src || !mnt || !type || strncmp(type, "fuse", 4))
			continue;
		unescape(src);
		if (strncmp(src, "daxfs:", 6) || strcmp(src + 6, real))
			continue;
		unescape(mnt);
		if (buf[0]) {
			/* More than one (read-only mounts share a pool). */
			size_t u = strlen(buf);
			snprintf(buf + u, len - u, ", %s", mnt);
		} else {
			snprintf(buf, len, "%s", mnt);
		}
	}
	fclose(f);
}

int dx_pool_lock(int fd, const char *path, bool shared)
{
	char pids[128], mnt[512], *real;
	struct stat st;
	int n = 0;

	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return dx_err(-errno, "cannot lock %s: %s", path, strerror(errno));
	pids[0] = mnt[0] = '\0';
	if (fstat(fd, &st) == 0)
		lock_holders(st.st_dev, st.st_ino, pids, sizeof(pids), &n);
	real = realpath(path, NULL);
	if (real) {
		mountpoint_of(real, mnt, sizeof(mnt));
		free(real);
	}
	if (n && mnt[0])
		return dx_err(-EBUSY, "%s is in use by daxfs (pid%s %s, mounted on %s); unmount it first",
			      path, n > 1 ? "s" : "", pids, mnt);
	if (n)
		return dx_err(-EBUSY, "%s is in use (locked by pid%s %s)", path, n > 1 ? "s" : "",
			      pids);
	return dx_err(-EBUSY, "%s is in use by another process (it holds its lock)", path);
}
