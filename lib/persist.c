/* SPDX-License-Identifier: MIT */
/*
 * persist.c - see persist.h.  Thin on purpose: one call per ordering point.
 *
 * On pmem a flush is a cache flush and a drain a fence, as libpmem does.
 * In msync mode every msync is an fdatasync of the pool file (milliseconds
 * on a disk), so a flush only widens this thread's pending span and the
 * next drain msyncs that span once.  That is all a fence promises: the
 * flushed bytes are durable when the drain returns.  Writing back more
 * than was flushed (the clean or foreign pages inside the span) is allowed,
 * as a store may always reach the media early.  The span is per thread
 * because a fence orders only the flushes of the thread that issues it,
 * as sfence does on pmem.
 */
#include <stdint.h>
#include <string.h>
#include <libpmem.h>
#include "persist.h"

/* The bytes this thread has flushed in msync mode since its last drain. */
static __thread struct {
	const struct dx_pctx *pc; /* NULL: nothing pending */
	uintptr_t lo, hi;
} pending;

static void msync_pending(void)
{
	if (!pending.pc)
		return;
	/* pmem_msync rounds to pages; an error (the pool was unmapped) has
	 * nobody left to tell. */
	(void)pmem_msync((const void *)pending.lo, pending.hi - pending.lo);
	pending.pc = NULL;
}

static void msync_later(const struct dx_pctx *pc, const void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + len;

	if (!len)
		return;
	if (pending.pc != pc) {
		/* Another pool's span: write it back now, as early as allowed. */
		msync_pending();
		pending.pc = pc;
		pending.lo = lo;
		pending.hi = hi;
		return;
	}
	if (lo < pending.lo)
		pending.lo = lo;
	if (hi > pending.hi)
		pending.hi = hi;
}

void dx_persist_init(struct dx_pctx *pc, int is_pmem)
{
	pc->is_pmem = is_pmem;
	pc->observer = NULL;
}

void dx_persist_set_observer(struct dx_pctx *pc, const struct dx_persist_observer *obs)
{
	pc->observer = obs;
}

void (*dx_persist_map_hook)(struct dx_pctx *pc, void *base, size_t len);

void dx_persist_mapped(struct dx_pctx *pc, void *base, size_t len)
{
	if (dx_persist_map_hook)
		dx_persist_map_hook(pc, base, len);
}

void dx_flush(const struct dx_pctx *pc, const void *p, size_t len)
{
	if (pc->observer)
		pc->observer->flush(p, len);
	if (pc->is_pmem)
		pmem_flush(p, len);
	else
		msync_later(pc, p, len);
}

void dx_drain(const struct dx_pctx *pc)
{
	if (pc->observer)
		pc->observer->drain();
	if (pc->is_pmem)
		pmem_drain();
	else
		msync_pending();
}

void dx_persist(const struct dx_pctx *pc, const void *p, size_t len)
{
	dx_flush(pc, p, len);
	dx_drain(pc);
}

void dx_memcpy_nodrain(const struct dx_pctx *pc, void *dst, const void *src, size_t len)
{
	if (pc->is_pmem) {
		pmem_memcpy(dst, src, len, PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL);
		if (pc->observer)
			pc->observer->flush(dst, len);
	} else {
		memcpy(dst, src, len);
		dx_flush(pc, dst, len);
	}
}

void dx_memset_nodrain(const struct dx_pctx *pc, void *dst, int c, size_t len)
{
	if (pc->is_pmem) {
		pmem_memset(dst, c, len, PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL);
		if (pc->observer)
			pc->observer->flush(dst, len);
	} else {
		memset(dst, c, len);
		dx_flush(pc, dst, len);
	}
}

void dx_store64_persist(const struct dx_pctx *pc, uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	dx_persist(pc, p, sizeof(*p));
}
