/* SPDX-License-Identifier: MIT */
/*
 * unit_persist.c - the flush mode belongs to each pool, not to the process.
 *
 * Two pools open in one process, one taken for pmem (cache flushes) and one
 * not (msync).  The test decides which by wrapping pmem_map_file() (a pool
 * whose name contains "msync" is reported as not pmem) and counts the
 * msync() calls that land in each pool's mapping.  A change to the pmem pool
 * must never msync, whatever was opened or made after it; a change to the
 * other pool must.
 *
 * In msync mode each msync is an fdatasync of the pool file, so the flushes
 * between two fences must cost one msync at the fence, not one each; and
 * that msync must still cover every byte flushed since the previous fence.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <libpmem.h>
#include "daxfs.h"
#include "format.h"
#include "persist.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

static struct {
	char *base;
	size_t len;
	unsigned long msyncs;
} pools[3];
static int npools;

/* The executable's definitions take precedence over libpmem's and libc's. */
void *pmem_map_file(const char *path, size_t len, int flags, mode_t mode, size_t *mapped_lenp,
		    int *is_pmemp)
{
	static void *(*real)(const char *, size_t, int, mode_t, size_t *, int *);
	void *p;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "pmem_map_file");
	p = real(path, len, flags, mode, mapped_lenp, is_pmemp);
	if (p && is_pmemp)
		*is_pmemp = strstr(path, "msync") ? 0 : 1;
	if (p && npools < 3) {
		pools[npools].base = p;
		pools[npools].len = *mapped_lenp;
		pools[npools].msyncs = 0;
		npools++;
	}
	return p;
}

/*
 * The observer of the msync pool: the ranges flushed in the current epoch
 * (since the last fence), and the msyncs since the last fence.  The ranges
 * of the epoch a fence closed are checked against the msyncs that follow
 * that fence, at the next flush or fence (or the end).
 */
#define MAXR 4096
struct range {
	uintptr_t lo, hi;
};
static struct {
	bool on;
	struct range fl[MAXR], closed[MAXR], ms[MAXR];
	size_t nfl, nclosed, nms;
	unsigned long flushes, drains, uncovered;
	bool overflow;
} ob;

static void note_msync(void *addr, size_t len)
{
	if (!ob.on)
		return;
	if (ob.nms == MAXR) {
		ob.overflow = true;
		return;
	}
	ob.ms[ob.nms++] = (struct range){(uintptr_t)addr, (uintptr_t)addr + len};
}

/* Is [lo, hi) inside the union of the msyncs since the last fence? */
static bool covered(uintptr_t lo, uintptr_t hi)
{
	bool moved = true;

	while (lo < hi && moved) {
		moved = false;
		for (size_t i = 0; i < ob.nms; i++)
			if (ob.ms[i].lo <= lo && lo < ob.ms[i].hi) {
				lo = ob.ms[i].hi;
				moved = true;
			}
	}
	return lo >= hi;
}

static void check_closed(void)
{
	for (size_t i = 0; i < ob.nclosed; i++)
		if (!covered(ob.closed[i].lo, ob.closed[i].hi)) {
			if (!ob.uncovered)
				t_note("flushed [%#lx, %#lx) not msynced at its fence",
				       (unsigned long)ob.closed[i].lo, (unsigned long)ob.closed[i].hi);
			ob.uncovered++;
		}
	ob.nclosed = 0;
}

static void ob_flush(const void *p, size_t len)
{
	check_closed();
	ob.flushes++;
	if (ob.nfl == MAXR) {
		ob.overflow = true;
		return;
	}
	ob.fl[ob.nfl++] = (struct range){(uintptr_t)p, (uintptr_t)p + len};
}

static void ob_drain(void)
{
	check_closed();
	ob.drains++;
	memcpy(ob.closed, ob.fl, ob.nfl * sizeof(ob.fl[0]));
	ob.nclosed = ob.nfl;
	ob.nfl = 0;
	ob.nms = 0;
}

static const struct dx_persist_observer observer = {ob_flush, ob_drain};

/* Attach the observer to the msync pool as daxfs_open maps it. */
static void map_hook(struct dx_pctx *pc, void *base, size_t len)
{
	(void)base;
	(void)len;
	if (!pc->is_pmem)
		dx_persist_set_observer(pc, &observer);
}

int msync(void *addr, size_t len, int flags)
{
	static int (*real)(void *, size_t, int);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "msync");
	for (int i = 0; i < npools; i++)
		if ((char *)addr >= pools[i].base && (char *)addr < pools[i].base + pools[i].len)
			pools[i].msyncs++;
	note_msync(addr, len);
	return real(addr, len, flags);
}

/* One metadata change and one data write in the root of fs. */
static bool change(struct daxfs *fs, const char *name)
{
	struct stat st;
	char buf[100];

	memset(buf, 'x', sizeof(buf));
	if (daxfs_mknod(fs, DX_ROOT_INO, name, S_IFREG | 0644, 0, &t_cred, &st))
		return false;
	return daxfs_write(fs, st.st_ino, buf, sizeof(buf), 0, 0) == (ssize_t)sizeof(buf);
}

static void test_two_pools(void)
{
	const char *pa = t_path("pmem"), *pb = t_path("msync"), *pc = t_path("msync-mkfs");
	struct daxfs *a, *b;
	int ia, ib;

	T_EQ(t_mkfs(pa, POOL_SIZE, 0), 0, "mkfs the pmem pool");
	T_EQ(t_mkfs(pb, POOL_SIZE * 2, 0), 0, "mkfs the msync pool");
	npools = 0; /* only the open pools from here on */
	a = t_open(pa);
	ia = npools - 1;
	b = t_open(pb);
	ib = npools - 1;

	pools[ia].msyncs = pools[ib].msyncs = 0;
	T(change(a, "a1"), "a change in the pmem pool after the msync pool opened");
	T_EQ(pools[ia].msyncs, 0, "the pmem pool is flushed with cache flushes, not msync");

	T(change(b, "b1"), "a change in the msync pool");
	T(pools[ib].msyncs > 0, "the msync pool is flushed with msync (%lu calls)",
	  pools[ib].msyncs);

	/* mkfs of a third pool (not pmem) in the same process. */
	T_EQ(t_mkfs(pc, POOL_SIZE, 0), 0, "mkfs of a non-pmem pool while both are open");
	pools[ia].msyncs = 0;
	T(change(a, "a2"), "a change in the pmem pool after the mkfs");
	T_EQ(pools[ia].msyncs, 0, "still no msync in the pmem pool");

	/* And the other way round: the pmem pool reopened last. */
	daxfs_close(a);
	a = t_open(pa);
	ia = npools - 1;
	pools[ib].msyncs = 0;
	T(change(b, "b2"), "a change in the msync pool after the pmem pool reopened");
	T(pools[ib].msyncs > 0, "the msync pool still msyncs (%lu calls)", pools[ib].msyncs);

	daxfs_close(a);
	daxfs_close(b);
}

static void test_msync_per_fence(void)
{
	const char *pb = t_path("msync-fence");
	struct daxfs *b;
	int ib;

	T_EQ(t_mkfs(pb, POOL_SIZE, 0), 0, "mkfs the msync pool");
	npools = 0;
	dx_persist_map_hook = map_hook;
	b = t_open(pb);
	dx_persist_map_hook = NULL;
	ib = npools - 1;

	memset(&ob, 0, sizeof(ob));
	pools[ib].msyncs = 0;
	ob.on = true;
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		T(change(b, name), "change %d in the msync pool", i);
	}
	check_closed();
	ob.on = false;
	T(!ob.overflow, "the observer kept every range");
	T(ob.flushes > ob.drains, "more flushes (%lu) than fences (%lu): there is something to "
				  "coalesce", ob.flushes, ob.drains);
	T(pools[ib].msyncs > 0, "the msync pool is msynced");
	T(pools[ib].msyncs <= ob.drains, "at most one msync per fence (%lu msyncs, %lu fences, "
					 "%lu flushes)", pools[ib].msyncs, ob.drains, ob.flushes);
	T_EQ(ob.uncovered, 0, "every flushed range is msynced at the next fence");
	daxfs_close(b);
}

static void body(void)
{
	test_two_pools();
	test_msync_per_fence();
}

int main(void)
{
	return t_run("persist", body);
}
