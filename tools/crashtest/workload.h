/* SPDX-License-Identifier: MIT */
/*
 * workload.h - the operations daxfs-crashtest replays, and its workloads.
 *
 * Operations name files by path, so that any sequence of them is valid: an
 * operation whose file is missing fails (and so must change nothing).
 * Every workload starts from the same small tree:
 *
 *   /A/f1  (2 blocks + 100 bytes, xattr user.a)   /A/f2 (300 bytes)
 *   /A/sd/ (empty)   /B/g1 (1 block, 3 more preallocated past its end)
 *   /B/g2  (5000 bytes)   /E/ (empty)   /big (8 one-block extents)
 *   /C/s   (3 blocks + 100 bytes)   /C/d (a clone of /C/s, its first 100
 *          bytes rewritten, cut to 3 blocks + 50: block 0 its own, blocks
 *          1-3 shared, the last one holding 50 bytes past its end)
 */
#ifndef CRASHTEST_WORKLOAD_H
#define CRASHTEST_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daxfs;
struct daxfs_file;

enum op_kind {
	OP_CREATE,
	OP_MKDIR,
	OP_WRITE,
	OP_APPEND,
	OP_LINK,
	OP_UNLINK,
	OP_RMDIR,
	OP_RENAME,
	OP_SYMLINK,
	OP_TRUNCATE,
	OP_FALLOC,
	OP_SETXATTR,
	OP_REMOVEXATTR,
	OP_COPY,
	OP_UNLINK_OPEN, /* open, unlink, write to it, release */
	OP_MAP,		/* map a range (backing holes), then unmap */
	OP_LEASE,	/* take a lease, map, a truncate breaks it, unmap */
	OP_QMAP,	/* map for a live holder (a crash quarantines), unmap */
	OP_REVOKE,	/* lease, map, a truncate breaks it, revoked: quarantine */
	OP_CLONE,	/* daxfs_clone_range of a at off2 into b at off, len (0: to EOF) */
	OP_FSYNC,	/* the random ops are drawn from the kinds before it */
	OP_SNAP,	/* a live holder's snapshot map of o->a, a write COWs away, unmap */
	OP_NKINDS
};

struct op {
	enum op_kind kind;
	char a[24], b[24]; /* paths */
	uint64_t off, len;
	uint64_t off2;	/* clone: the source offset */
	uint32_t flags; /* rename flags, fallocate mode, xattr flags */
	uint32_t seed;	/* data pattern */
};

/* Pool variants: plain, nearly full (a few blocks free), nearly full
 * journal (transactions get little room, so long changes split). */
enum variant { V_PLAIN, V_FULL_POOL, V_FULL_JOURNAL, V_NVARIANTS };

struct workload {
	enum variant variant;
	bool fsync; /* an fsync of the touched file after each op */
	size_t nops;
	struct op *ops;
	char name[96];
	/* Ops before it run without their crash states tested: another
	 * workload tests the same states (--full's seq-2: seq-1's). */
	size_t first_crashed;
};

struct wl_run {
	struct daxfs *fs;
	pid_t dead_pid; /* a holder that has exited, for mappings */
	pid_t live_pid; /* a holder that outlives a crash (0: this process) */
	/* Called between the steps of an operation made of several calls
	 * (each step is a completed call whose effect may be seen). */
	void (*step)(void *ctx);
	void *step_ctx;
	uint64_t snapshots; /* OP_SNAP maps that came back DAXFS_MAP_SNAPSHOT */
};

/* The fixed operations of seq-1 (the seq-2 pairs are drawn from them). */
size_t wl_fixed_ops(const struct op **ops);
const char *wl_kind_name(enum op_kind k);
/* A random operation over the tree's names. */
void wl_random_op(uint64_t *rng, struct op *o);
/* Build the tree and apply the variant. */
int wl_setup(struct wl_run *r, enum variant v);
/* Run one operation; returns its result (>= 0 or -errno). */
long wl_run_op(struct wl_run *r, const struct op *o);
/* The path whose data o writes in place without a transaction, or NULL. */
const char *wl_inplace(const struct op *o);
/*
 * The paths whose file's bytes o may change (NULL: none): every other
 * file must keep its bytes, above all one that shares blocks with them.
 */
void wl_changes(const struct op *o, const char **p1, const char **p2);

/*
 * The blocks o shared into a file, when it cloned: OP_CLONE, or an
 * OP_COPY of whole blocks at block-aligned offsets, which the core shares
 * instead of copying (and then returns the bytes shared).  ret is what o
 * returned, src_size the source's size before it.  Source blocks
 * [sb, sb + nb) went to destination blocks [db, db + nb); end is the
 * destination byte the range ends at.
 */
struct wl_clone {
	const char *src, *dst;
	uint64_t sb, db, nb, end;
};
bool wl_clone_of(const struct op *o, long ret, uint64_t src_size, struct wl_clone *c);
/* How every pool of a workload is opened: a lease is revoked 1 s after
 * its break. */
extern const struct daxfs_open_opts wl_open_opts;
/* Room cap of the nearly-full-journal variant. */
#define WL_JOURNAL_ROOM 1500

/* Text form (for --replay files): one line per op. */
void wl_format_op(const struct op *o, char *buf, size_t len);
int wl_parse_op(const char *line, struct op *o);
uint64_t wl_rand(uint64_t *s);
#endif
