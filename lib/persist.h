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
 * flushes; otherwise the pool is a page-cache mapping and a flush is msync.
 */
#ifndef DAXFS_PERSIST_H
#define DAXFS_PERSIST_H
#include <stddef.h>
#include <stdint.h>

/* Set once when a pool is mapped. */
void dx_persist_init(int is_pmem);

/* Write back the cache lines of [p, p+len); ordered only by the next drain. */
void dx_flush(const void *p, size_t len);
/* Wait until every earlier flush and non-temporal store is persistent. */
void dx_drain(void);
/* dx_flush + dx_drain. */
void dx_persist(const void *p, size_t len);
/* Copy/fill with non-temporal stores (no fence); a dx_drain() must follow. */
void dx_memcpy_nodrain(void *dst, const void *src, size_t len);
void dx_memset_nodrain(void *dst, int c, size_t len);
/* An 8-byte store that is atomic with respect to a crash, then persisted. */
void dx_store64_persist(uint64_t *p, uint64_t v);

/*
 * Optional observer for tests that replay crashes: told about every flush
 * and drain.  NULL when nobody listens (the default).
 */
struct dx_persist_observer {
	void (*flush)(const void *p, size_t len);
	void (*drain)(void);
};
void dx_persist_set_observer(const struct dx_persist_observer *obs);
#endif
