/* SPDX-License-Identifier: MIT */
/* persist.c - see persist.h.  Thin on purpose: one call per ordering point. */
#include <string.h>
#include <libpmem.h>
#include "persist.h"

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
		pmem_msync(p, len);
}

void dx_drain(const struct dx_pctx *pc)
{
	if (pc->observer)
		pc->observer->drain();
	if (pc->is_pmem)
		pmem_drain();
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
