/* SPDX-License-Identifier: MIT */
/*
 * check.h - offline consistency check and repair of an unmounted pool
 * (the engine of fsck.daxfs).
 *
 * The check reads the pool without daxfs_open(), which would roll back the
 * journal and reclaim orphans before anything could be looked at.  A pool
 * that a daemon holds is refused.
 */
#ifndef DAXFS_CHECK_H
#define DAXFS_CHECK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum daxfs_check_mode {
	DAXFS_CHECK_ONLY = 0, /* -n: change nothing */
	DAXFS_CHECK_REPAIR,   /* -y: fix everything that can be fixed */
	DAXFS_CHECK_PREEN,    /* -p: fix what is safe, stop at the first problem that is not */
};

struct daxfs_check_opts {
	enum daxfs_check_mode mode;
	int verbose; /* also report each pass as it starts */
	/* One line per problem found (and per note); msg has no newline. */
	void (*report)(void *ctx, const char *msg);
	void *ctx;
};

struct daxfs_check_result {
	uint64_t errors;      /* problems found */
	uint64_t fixed;	      /* changes made to the pool (fixes, orphans freed) */
	uint64_t uncorrected; /* problems left as they were */
	uint64_t info;	      /* notes that are not errors (e.g. orphans) */
	int preen_stopped;    /* -p met a problem it must not fix alone */
	/* The state of the pool at the end (after repairs). */
	uint64_t ninodes, inodes_used;
	uint64_t data_blocks, data_blocks_used;
};

/*
 * Check (and with a repair mode, fix) the pool at path.  Returns 0 when the
 * check ran, whatever it found, with the counts in *r; or -errno when it
 * could not run (cannot open, bad superblock, in use, out of memory), with
 * the reason in daxfs_errormsg().
 */
int daxfs_check(const char *pool, const struct daxfs_check_opts *o, struct daxfs_check_result *r);

#ifdef __cplusplus
}
#endif
#endif
