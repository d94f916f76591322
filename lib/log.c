/* SPDX-License-Identifier: MIT */
/*
 * log.c - the one way lib/ reports what no caller asked about: corruption
 * found in a mounted pool, a refused free of a pinned block, a journal
 * overflow.  lib/ does not know where the report goes; the daemon sends it
 * to syslog or stderr (fs/log.c), the tools leave it on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include "core.h"

static daxfs_log_fn log_fn;
static void *log_arg;

DX_EXPORT void daxfs_set_log(daxfs_log_fn fn, void *arg)
{
	log_fn = fn;
	log_arg = arg;
}

void dx_log(const struct daxfs *fs, int level, const char *fmt, ...)
{
	const char *pool = fs ? fs->path : NULL;
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_fn)
		log_fn(level, pool, msg, log_arg);
	else if (pool)
		fprintf(stderr, "daxfs: %s: %s\n", pool, msg);
	else
		fprintf(stderr, "daxfs: %s\n", msg);
}
