/* SPDX-License-Identifier: MIT */
/* persist.c - see persist.h.  Thin on purpose: one call per ordering point. */
#include <string.h>
#include <libpmem.h>
#include "persist.h"

static int pool_is_pmem;
static const struct dx_persist_observer *observer;

void dx_persist_init(int is_pmem)
{
	pool_is_pmem = is_pmem;
}

void dx_persist_set_observer(const struct dx_persist_observer *obs)
{
	observer = obs;
}

void dx_flush(const void *p, size_t len)
{
	if (observer)
		observer->flush(p, len);
	if (pool_is_pmem)
		pmem_flush(p, len);
	else
		pmem_msync(p, len);
}

void dx_drain(void)
{
	if (observer)
		observer->drain();
	if (pool_is_pmem)
		pmem_drain();
}

void dx_persist(const void *p, size_t len)
{
	dx_flush(p, len);
	dx_drain();
}

void dx_memcpy_nodrain(void *dst, const void *src, size_t len)
{
	if (pool_is_pmem) {
		pmem_memcpy(dst, src, len, PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL);
		if (observer)
			observer->flush(dst, len);
	} else {
		memcpy(dst, src, len);
		dx_flush(dst, len);
	}
}

void dx_memset_nodrain(void *dst, int c, size_t len)
{
	if (pool_is_pmem) {
		pmem_memset(dst, c, len, PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL);
		if (observer)
			observer->flush(dst, len);
	} else {
		memset(dst, c, len);
		dx_flush(dst, len);
	}
}

void dx_store64_persist(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	dx_persist(p, sizeof(*p));
}
