/* SPDX-License-Identifier: MIT */
/*
 * lockdep.c - the lock-order check of debug builds (lockdep.h).
 *
 * Per thread, the locks held, in the order taken.  A lock may be taken
 * only if its rank is above that of every lock held, or, for inode locks,
 * equal with a larger inode number.  The check runs before the lock call,
 * so an inversion aborts at once, on its first occurrence, whether or not
 * another thread happens to hold the other lock: the deadlock need not
 * happen to be found.
 */
#ifdef DAXFS_LOCKDEP
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "lockdep.h"

#define DX_LOCKDEP_DEPTH 16

struct held {
	const void *lock;
	unsigned cls;
	uint64_t sub;
};

static __thread struct held held[DX_LOCKDEP_DEPTH];
static __thread int nheld;

static const char *const names[] = {
    [DX_LC_NS] = "ns_lock",	    [DX_LC_INODE] = "inode lock", [DX_LC_LOAD] = "load_mu",
    [DX_LC_PIN] = "pin_lock",	    [DX_LC_TX] = "tx_lock",	  [DX_LC_ICACHE] = "icache_lock",
    [DX_LC_HOLDER] = "holder_lock", [DX_LC_TEST] = "test lock",
};

static const char *name(unsigned cls)
{
	return cls < sizeof(names) / sizeof(names[0]) && names[cls] ? names[cls] : "unknown lock";
}

static void dump_held(void)
{
	void *bt[32];
	int n;

	for (int i = 0; i < nheld; i++)
		fprintf(stderr, "daxfs lockdep:   held #%d: %s (%llu)\n", i, name(held[i].cls),
			(unsigned long long)held[i].sub);
	n = backtrace(bt, 32);
	backtrace_symbols_fd(bt, n, STDERR_FILENO);
}

__attribute__((noreturn)) static void violation(const char *what, unsigned cls, uint64_t sub,
						 const struct held *h)
{
	fprintf(stderr, "daxfs lockdep: %s: taking %s (%llu) while holding %s (%llu)\n", what,
		name(cls), (unsigned long long)sub, h ? name(h->cls) : "-",
		(unsigned long long)(h ? h->sub : 0));
	fprintf(stderr, "daxfs lockdep: the order is ns_lock, inode lock (ascending ino), "
			"load_mu, pin_lock, tx_lock, icache_lock, holder_lock (lib/core.h)\n");
	dump_held();
	abort();
}

void dx_lockdep_acquire(const void *lock, unsigned cls, uint64_t sub)
{
	for (int i = 0; i < nheld; i++) {
		const struct held *h = &held[i];

		if (h->lock == lock)
			violation("lock taken twice", cls, sub, h);
		if (h->cls > cls)
			violation("lock order violation", cls, sub, h);
		if (h->cls == cls && (cls != DX_LC_INODE || h->sub >= sub))
			violation(cls == DX_LC_INODE ? "inode locks not in ascending ino order"
						     : "two locks of one class",
				  cls, sub, h);
	}
	if (nheld == DX_LOCKDEP_DEPTH)
		violation("too many locks held", cls, sub, NULL);
	held[nheld++] = (struct held){lock, cls, sub};
}

void dx_lockdep_release(const void *lock)
{
	for (int i = nheld; i-- > 0;) {
		if (held[i].lock != lock)
			continue;
		for (int j = i; j + 1 < nheld; j++)
			held[j] = held[j + 1];
		nheld--;
		return;
	}
	fprintf(stderr, "daxfs lockdep: unlock of a lock this thread does not hold\n");
	dump_held();
	abort();
}

void dx_lockdep_assert_held(const void *lock)
{
	for (int i = 0; i < nheld; i++)
		if (held[i].lock == lock)
			return;
	fprintf(stderr, "daxfs lockdep: a lock that must be held is not\n");
	dump_held();
	abort();
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int dx_lockdep_unused;
#endif
