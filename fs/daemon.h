/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - declarations shared by the parts of the daxfs FUSE daemon.
 *
 * The daemon only translates FUSE low-level requests into calls of
 * lib/daxfs.h; everything that is filesystem logic lives in lib/.
 */
#ifndef DAXFS_FS_DAEMON_H
#define DAXFS_FS_DAEMON_H

/* 3.12 brings the loop configuration object and the unsigned ioctl cmd. */
#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stdint.h>

#include "daxfs.h"

/* Reported as st_blksize and in DAXFS_IOC_POOL_INFO: the pool's block. */
#define DFS_BLKSIZE 4096

/*
 * The kernel may cache names and attributes this long.  Every change goes
 * through this mount (the pool is locked against a second opener), so the
 * kernel's cache is only stale after changes it cannot see itself, which
 * the daemon invalidates explicitly.
 */
#define DFS_ENTRY_TIMEOUT 1.0
#define DFS_ATTR_TIMEOUT  1.0

/* Largest write the kernel may send; libfuse derives max_pages from it. */
#define DFS_MAX_WRITE (1u << 20)

/* Command line and -o options. */
struct dfs_opts {
	const char *pool; /* as given on the command line */
	char *pool_abs;	  /* absolute path, used to open and to name */
	char *mountpoint; /* absolute path */
	int foreground;
	int debug;
	int single_thread;
	int readonly;
	int noatime;
	int have_fsname;
	int have_subtype;
	unsigned max_read; /* -o max_read=: init() must agree with libfuse; 0 = none */
	/* daxfs-specific, for the lease and pin machinery */
	unsigned busy_timeout;	   /* seconds, handed to daxfs_open() */
	unsigned lease_break_time; /* seconds */
	unsigned max_leases;	   /* per user, 0 = no cap */
	unsigned max_pinned_mb;	   /* MiB under mappings per user, 0 = no cap */
	unsigned max_mappings;	   /* per user; 0 = no cap */
	unsigned max_map_records;  /* per user; 0 = no cap */
	int have_max_mappings, have_max_map_records;
	int lock_stat;		   /* -o lock_stat */
	/* Who may use direct access (access.c) */
	char *dax_group;	   /* -o dax_group=NAME */
	gid_t dax_gid;
	int have_dax_gid;
	uid_t pool_uid;		   /* owner of the pool file */
	int errors;		   /* enum daxfs_errors: what corruption found does */
	int log_level;		   /* -o log_level=: DAXFS_LOG_* */
	int have_log_level;
	/* options handed on to fuse_session_new() */
	struct fuse_args fuse_args;
};

/* The session's userdata. */
struct dfs_ctx {
	struct daxfs *fs;
	struct fuse_session *se;
	const struct dfs_opts *opts;
};

/*
 * What fi->fh points at for an open regular file.  The open flags are kept
 * here because libfuse does not pass them to ioctl (and lib/ has no
 * accessor for them).
 */
struct dfs_file {
	struct dfs_file *prev, *next; /* every open file, for a stop (ops.c) */
	struct daxfs_file *file;
	int flags;
	fuse_ino_t ino;
	/* A write mapping was made: the kernel's cached pages of the file
	 * may be stale after the holder goes. */
	int mapped_write;
};

static inline struct dfs_ctx *dfs_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct dfs_file *dfs_file(const struct fuse_file_info *fi)
{
	return fi ? (struct dfs_file *)(uintptr_t)fi->fh : NULL;
}

/* ops.c */
extern const struct fuse_lowlevel_ops dfs_ops;
/* At a stop, after the session: free the files the kernel never released. */
void dfs_forget_files(struct daxfs *fs);
/* Clear the set-id bits a modification by req's caller clears on Linux. */
void dfs_drop_privs(fuse_req_t req, fuse_ino_t ino, int all);


/* access.c */
/* Resolve dax_group; -1 after saying why. */
int dfs_access_setup(struct dfs_opts *o, const char *progname);
/* Note the owner of the (opened) pool file; -1 after saying why. */
int dfs_access_pool_owner(struct dfs_opts *o, const char *progname);
/* May req's caller map, lease, and see everyone's entries? */
int dfs_direct_allowed(fuse_req_t req);

/* tick.c */
int dfs_tick_start(struct daxfs *fs);
void dfs_tick_stop(void);
/* Given to lib/ as the lease-break notifier. */
void dfs_lease_notify(void *ctx, struct daxfs_file *f);

/* intr.c: a request that may wait in lib/ and so must answer interrupts.
 * Embed it in the request's context and:
 *   dfs_wait_arm()        before submitting to lib/ (ctx: the done context)
 *   dfs_wait_submitted()  after submitting; true: free the context now
 *   dfs_wait_answering()  in the done callback, before replying
 *   dfs_wait_put()        in the done callback, after; true: free it now */
struct dfs_wait {
	fuse_req_t req;
	struct daxfs *fs;
	uint64_t ino;
	void *ctx;
	int interrupted;
	int refs;
};
void dfs_wait_arm(struct dfs_wait *w, fuse_req_t req, uint64_t ino, void *ctx);
int dfs_wait_submitted(struct dfs_wait *w);
void dfs_wait_answering(struct dfs_wait *w);
int dfs_wait_put(struct dfs_wait *w);

/* ioctl.c */
void dfs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	       struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
	       size_t out_bufsz);

/* ---- log.c: stderr, or syslog once daemonized; every line names the pool ---- */
/* "err", "warning", "notice", "info", "debug": 0, or -1 for another name. */
int dfs_log_parse_level(const char *name, int *level);
/* Route lib/'s and libfuse's messages here too; drop those below level. */
void dfs_log_init(const char *pool, int level);
/* From now on (daemonized: stderr is /dev/null) to syslog, LOG_DAEMON. */
void dfs_log_to_syslog(void);
void dfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dfs_vlog(int level, const char *fmt, va_list ap);

#endif
