/* SPDX-License-Identifier: MIT */
/*
 * errormsg.c - per-thread message of the last failed call, as libpmem does;
 * and the report of a damaged structure found in a mounted pool.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

static __thread char msg[512];
static __thread char named[4096 + sizeof(msg)];

/* Corruption messages a mount prints before it only counts them. */
#define CORRUPT_LOG_MAX 100

const char *daxfs_errormsg(void)
{
	return msg;
}

const char *daxfs_errormsg_for(const char *path)
{
	if (!path || !*path || strstr(msg, path))
		return msg;
	snprintf(named, sizeof(named), "%s: %s", path, msg);
	return named;
}

int dx_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err;
}

int dx_corrupt(struct daxfs *fs, uint64_t ino, const char *what, const char *fmt, ...)
{
	static const char *const policy[] = {"remounting read-only", "continuing",
					     "stopping the daemon"};
	char detail[256];
	unsigned n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (ino)
		dx_err(-EUCLEAN, "inode %llu: corrupt %s: %s", (unsigned long long)ino, what, detail);
	else
		dx_err(-EUCLEAN, "corrupt %s: %s", what, detail);
	n = __atomic_fetch_add(&fs->corrupt_logged, 1, __ATOMIC_RELAXED);
	if (n < CORRUPT_LOG_MAX)
		dx_log(fs, DAXFS_LOG_ERR, "%s; run fsck.daxfs", msg);
	else if (n == CORRUPT_LOG_MAX)
		dx_log(fs, DAXFS_LOG_ERR, "more corruption found; no more messages");

	/* Once: persist the mark (a read-only mapping cannot), then the
	 * errors= policy. */
	if (!__atomic_exchange_n(&fs->corrupt_marked, 1, __ATOMIC_ACQ_REL)) {
		int e = fs->errors >= 0 && fs->errors <= DAXFS_ERRORS_PANIC ? fs->errors : 0;

		if (!fs->map_ro)
			dx_super_update_flags(&fs->pc, (struct dx_super *)(void *)fs->base,
					      DX_SB_NEEDS_FSCK, 0);
		dx_log(fs, e == DAXFS_ERRORS_PANIC ? DAXFS_LOG_ERR : DAXFS_LOG_WARNING,
		       "%s as needing fsck; %s",
		       fs->map_ro ? "cannot mark the pool (read-only)" : "pool marked",
		       fs->readonly && e == DAXFS_ERRORS_REMOUNT_RO ? "read-only already"
								    : policy[e]);
		if (e == DAXFS_ERRORS_PANIC)
			abort();
		if (e == DAXFS_ERRORS_REMOUNT_RO)
			fs->readonly = 1;
	}
	return -EUCLEAN;
}
