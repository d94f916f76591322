// SPDX-License-Identifier: MIT
/*
 * log.c - where the daemon's messages go, and lib/'s and libfuse's with
 * them: stderr while the daemon runs in the foreground (and until it
 * daemonizes), syslog (LOG_DAEMON, ident "daxfs", with the pid) once it
 * has, when stderr is /dev/null.  Every line names the pool, so the log of
 * a machine with several pools says which one.  -o log_level= drops the
 * messages less severe than the level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"

static const char *log_pool = "?";
static int log_level = DAXFS_LOG_NOTICE;
static int to_syslog;

static const struct {
	const char *name;
	int level;
} level_names[] = {
    {"err", DAXFS_LOG_ERR},   {"warning", DAXFS_LOG_WARNING}, {"notice", DAXFS_LOG_NOTICE},
    {"info", DAXFS_LOG_INFO}, {"debug", DAXFS_LOG_DEBUG},
};

int dfs_log_parse_level(const char *name, int *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(name, level_names[i].name)) {
			*level = level_names[i].level;
			return 0;
		}
	}
	return -1;
}

static void emit(int level, const char *msg)
{
	size_t n = strlen(msg);

	if (level > log_level)
		return;
	/* libfuse ends its messages with a newline; the line adds its own. */
	while (n && msg[n - 1] == '\n')
		n--;
	if (to_syslog)
		syslog(level, "%s: %.*s", log_pool, (int)n, msg);
	else
		fprintf(stderr, "daxfs: %s: %.*s\n", log_pool, (int)n, msg);
}

void dfs_vlog(int level, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(level, msg);
}

void dfs_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dfs_vlog(level, fmt, ap);
	va_end(ap);
}

/* lib/ names the pool too; the daemon serves one and names it itself. */
static void lib_log(int level, const char *pool, const char *msg, void *arg)
{
	(void)pool;
	(void)arg;
	emit(level, msg);
}

static void fuse_log_cb(enum fuse_log_level level, const char *fmt, va_list ap)
{
	/* fuse_log_level has syslog's numbering. */
	dfs_vlog(level < FUSE_LOG_ERR ? DAXFS_LOG_ERR : (int)level, fmt, ap);
}

void dfs_log_init(const char *pool, int level)
{
	log_pool = pool;
	log_level = level;
	daxfs_set_log(lib_log, NULL);
	fuse_set_log_func(fuse_log_cb);
}

void dfs_log_to_syslog(void)
{
	/* LOG_NDELAY: connect now, not in the middle of the first report. */
	openlog("daxfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = 1;
}
