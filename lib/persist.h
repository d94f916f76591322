/* SPDX-License-Identifier: MIT */
/*
 * persist.h - the one persistence layer of daxfs.
 *
 * Every store that must survive a crash reaches the pool through these
 * calls, and every point where ordering matters is an explicit dx_drain()
 * (a store fence on pmem).  Keeping them in one place lets a test record the
 * flush and fence points and replay crashes at each one.
 *
 * On real pmem (or with PMEM_IS_PMEM_FORCE=1) flushes are CPU cache
 * flushes; otherwise the pool is a page-cache mapping, a flush only notes
 * the range, and the next drain of the same thread msyncs what it noted
 * once (one msync per fence, each an fdatasync of the pool file).
 * That mode belongs to one mapped pool, not to the process: every call
 * takes the pool's context, so a second pool (mkfs, fsck, a tool, a test
 * opening two pools) cannot switch the flush mode of another.
 */
#ifndef DAXFS_PERSIST_H
#define DAXFS_PERSIST_H
#include <stddef.h>
#include <stdint.h>

struct dx_persist_observer;

/* The persistence context of one mapped pool. */
struct dx_pctx {
	int is_pmem;				    /* cache flushes + fences; else msync */
	const struct dx_persist_observer *observer; /* NULL: nobody listens */
};

/* Set when a pool is mapped (no observer). */
void dx_persist_init(struct dx_pctx *pc, int is_pmem);

/* Write back the cache lines of [p, p+len); ordered only by the next drain. */
void dx_flush(const struct dx_pctx *pc, const void *p, size_t len);
/* Wait until every earlier flush and non-temporal store is persistent. */
void dx_drain(const struct dx_pctx *pc);
/* dx_flush + dx_drain. */
void dx_persist(const struct dx_pctx *pc, const void *p, size_t len);
/* Copy/fill with non-temporal stores (no fence); a dx_drain() must follow. */
void dx_memcpy_nodrain(const struct dx_pctx *pc, void *dst, const void *src, size_t len);
void dx_memset_nodrain(const struct dx_pctx *pc, void *dst, int c, size_t len);
/* An 8-byte store that is atomic with respect to a crash, then persisted. */
void dx_store64_persist(const struct dx_pctx *pc, uint64_t *p, uint64_t v);

/*
 * Optional observer of one pool, for tests that replay crashes: told about
 * every flush and drain of that pool.  NULL detaches it.
 */
struct dx_persist_observer {
	void (*flush)(const void *p, size_t len);
	void (*drain)(void);
};
void dx_persist_set_observer(struct dx_pctx *pc, const struct dx_persist_observer *obs);

/*
 * Optional hook for tests: told the context and mapping of every pool that
 * daxfs_open maps read-write, before recovery runs (so that a recorder can
 * attach an observer and watch the recovery).  NULL by default.
 */
extern void (*dx_persist_map_hook)(struct dx_pctx *pc, void *base, size_t len);
void dx_persist_mapped(struct dx_pctx *pc, void *base, size_t len);
#endif
