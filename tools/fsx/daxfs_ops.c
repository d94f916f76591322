// SPDX-License-Identifier: MIT
/*
 * daxfs_ops.c - the op classes only a daxfs mount has: direct-access
 * mappings made with libdaxfs-client, layout leases, layout changes that
 * must wait for pins, lease breaks and revocations, and DMA into pinned
 * ranges (docs/pins.md, docs/daxfs-fsx.md).
 *
 * A mapping shows the pool blocks that hold the file, so the model checks
 * it as it checks read(2).  Up to fx.hold_maps mappings stay alive across
 * ops; a layout change of this process that would meet one of them would
 * wait for an unmap that only this process can do, so every change first
 * unmaps the held mappings it affects.
 *
 * Waiting is judged as state: a deferred change has not returned while
 * its range is pinned (the mount's counters say it is queued), and has
 * returned once the pin is gone.  No duration is asserted; the timeouts
 * below only keep a hang from lasting for ever.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libaio.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <sys/ioctl.h>

#include <daxfs/daxfs_client.h>
#include <daxfs/daxfs_ioctl.h>

#include "fsx.h"

#define DXB	    4096ull    /* what mappings are aligned to */
#define MAX_MAP	    (32 * DXB) /* never shortened: <= 32 extents */
#define MAX_HELD    64
#define DMA_DEPTH   4
#define DMA_MAX	    (256 * 1024ull) /* the longest DMA op */
#define STRAY_SALT  0x57a7ull	    /* bytes written after a revocation */
#define QUEUE_MS    10000	    /* a change must be queued (or done) by then */
#define SETTLE_MS   50		    /* then must still be waiting after this */
#define COMPLETE_MS 30000	    /* ... and done this long after the unmap */
#define SLICE_MS    200		    /* one wait for a lease break blocks this long */
#define RETRY_MS    30000	    /* EAGAIN during another process's break */
#define SNAP_SALT   0x5a9ull	    /* what a snapshot op writes into its clone */

enum { FAM_PIN, FAM_BREAK, FAM_REVOKE };
enum { K_TRUNCATE, K_PUNCH, K_COLLAPSE, K_INSERT, NR_KINDS };

static const char *const kind_name[NR_KINDS] = {"truncate", "punch", "collapse", "insert"};

/* A mapping kept alive across ops. */
struct held {
	struct daxfs_mapping *m;
	uint8_t *p;
	uint64_t off, len; /* the file range mapped */
	uint32_t num;	   /* the map op that made it */
	uint64_t until;	   /* unmapped before any op numbered above this */
	uint64_t ds, de;   /* written through it, not yet persisted */
};

static struct {
	bool ready;
	struct daxfs_client *c;
	struct held held[MAX_HELD];
	unsigned int nheld;
	uint8_t *pat;

	int dma_fd;
	uint8_t *dma_buf; /* aligned, DMA_MAX bytes */
	io_context_t aio;

	int dio_fd; /* the file with O_DIRECT: reads past the page cache */

	/* Sharing (see "sharing" below): a share id per page of the file
	 * and of the copy file. */
	uint64_t *sid, *xsid;
	uint64_t nsid, nxsid;
	uint64_t next_sid;
	uint64_t cow_lb, cow0; /* the op must copy at least cow_lb blocks */
	uint64_t floor_ops, floor_blocks, snaps, snap_blocks; /* for the summary */
	uint64_t clone_pinned;

	int snap_fd;  /* an unlinked file the snapshot ops clone into */
	uint8_t *old; /* what a snapshot mapping must keep showing */
} dx = {.dma_fd = -1, .dio_fd = -1, .snap_fd = -1};

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int op_family(enum opcode c)
{
	return (c - OP_PIN_TRUNCATE) / NR_KINDS;
}

static int op_kind(enum opcode c)
{
	return (c - OP_PIN_TRUNCATE) % NR_KINDS;
}

static bool is_change(enum opcode c)
{
	return c >= OP_PIN_TRUNCATE && c <= OP_REVOKE_INSERT;
}

/* Bytes [off, off + len) of a mapping must be what the model says, up to EOF. */
static void check_map(const char *what, const uint8_t *p, uint64_t off, uint64_t len)
{
	if (off < fx.m.size)
		check_bytes(what, off, p, min_u64(len, fx.m.size - off));
}

/* read(2) through the mount, and through its page cache, against the model. */
static void read_check(const char *what, uint64_t off, uint64_t len)
{
	uint64_t want = off < fx.m.size ? min_u64(len, fx.m.size - off) : 0;
	ssize_t n = pread_full(fx.fd, fx.buf, len, off);

	if (n < 0)
		fail("%s: read 0x%" PRIx64 " len 0x%" PRIx64 ": %s", what, off, len,
		     strerror(errno));
	if ((uint64_t)n != want)
		fail("%s: read 0x%" PRIx64 " len 0x%" PRIx64 " returned 0x%zx bytes, expected "
		     "0x%" PRIx64,
		     what, off, len, n, want);
	check_bytes(what, off, fx.buf, want);
}

/*
 * read(2) past the kernel's page cache (FUSE serves O_DIRECT reads from
 * the daemon, whatever the alignment): what the pool holds.  The cache
 * can hide a write the daemon acknowledged but never stored.
 */
void dx_read_pool(const char *what, uint64_t off, uint64_t len)
{
	uint64_t want = off < fx.m.size ? min_u64(len, fx.m.size - off) : 0;
	ssize_t n;

	if (dx.dio_fd < 0 || !want)
		return;
	n = pread_full(dx.dio_fd, fx.buf, want, off);
	if (n < 0)
		fail("%s: O_DIRECT read 0x%" PRIx64 " len 0x%" PRIx64 ": %s", what, off, want,
		     strerror(errno));
	if ((uint64_t)n != want)
		fail("%s: O_DIRECT read 0x%" PRIx64 " len 0x%" PRIx64 " returned 0x%zx bytes", what,
		     off, want, n);
	check_bytes(what, off, fx.buf, want);
}

/* All of our region, as the pool holds it. */
static void pool_check(const char *what)
{
	if (fx.re > fx.rs)
		dx_read_pool(what, fx.rs, fx.re - fx.rs);
}

static void *map_range(const char *what, uint64_t off, uint64_t len, unsigned int flags,
		       struct daxfs_mapping **m)
{
	uint64_t t0 = now_ms();
	void *p;

	/* Another process's break makes long-term maps EAGAIN for a while. */
	while (!(p = daxfs_map(dx.c, fx.fd, (off_t)off, len, flags, m)) && errno == EAGAIN &&
	       fx.multi && now_ms() - t0 < RETRY_MS)
		sleep_ms(5);
	if (!p)
		fail("%s: daxfs_map 0x%" PRIx64 " len 0x%" PRIx64 " flags 0x%x: %s", what, off, len,
		     flags, daxfs_client_errormsg());
	/* The range is never longer than DAXFS_MAP_MAX_EXTENTS blocks. */
	if (daxfs_mapping_length(*m) != len)
		fail("%s: daxfs_map 0x%" PRIx64 " len 0x%" PRIx64 " mapped only 0x%zx bytes", what,
		     off, len, daxfs_mapping_length(*m));
	/* Holes in it are backed now; SEEK_DATA may see them as data. */
	model_touch_pages(&fx.m, off, len, DXB);
	return p;
}

static void unmap_range(const char *what, struct daxfs_mapping *m)
{
	if (daxfs_unmap(m))
		fail("%s: daxfs_unmap: %s", what, daxfs_client_errormsg());
}

static void lease_take(const char *what)
{
	uint64_t t0 = now_ms();
	int ret;

	while ((ret = daxfs_lease_take(fx.fd, DAXFS_LEASE_WRITE)) && errno == EAGAIN && fx.multi &&
	       now_ms() - t0 < RETRY_MS)
		sleep_ms(5);
	if (ret)
		fail("%s: daxfs_lease_take(WRITE): %s", what, daxfs_client_errormsg());
}

static void lease_release(const char *what)
{
	if (daxfs_lease_release(fx.fd))
		fail("%s: daxfs_lease_release: %s", what, daxfs_client_errormsg());
}

static struct daxfs_stats mount_stats(void)
{
	struct daxfs_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(fx.fd, DAXFS_IOC_STATS, &st))
		fail("DAXFS_IOC_STATS: %s", strerror(errno));
	return st;
}

/* ---- sharing ----
 *
 * What the model knows of shared blocks: a share id per page of the file
 * and of the copy file, 0 when nothing is known.  A clone gives the source
 * page an id if it has none and the destination page the same id, so pages
 * with one id hold one pool block, and a page whose id another page also
 * has certainly shares its block.  Every op that may write, move or free a
 * page forgets its id (so does copy_file_range, which may or may not share):
 * the model only ever knows less sharing than the pool has, never more, and
 * what it knows is a floor the daemon's COW counter must reach.
 */

static uint64_t *sid_of(uint64_t *v, uint64_t n, uint64_t off)
{
	return off / DXB < n ? &v[off / DXB] : NULL;
}

/* How many pages of both files have share id id. */
static uint64_t share_count(uint64_t id)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < dx.nsid; i++)
		n += dx.sid[i] == id;
	for (uint64_t i = 0; i < dx.nxsid; i++)
		n += dx.xsid[i] == id;
	return n;
}

static void share_forget(uint64_t s, uint64_t e)
{
	for (uint64_t i = s / DXB; i < dx.nsid && i * DXB < e; i++)
		dx.sid[i] = 0;
}

/*
 * The fewest blocks a write to every page of [s, e) of the file must copy:
 * each page that certainly shares its block, less one per group of pages
 * sharing one block that lies wholly inside the range (the last of those
 * to be written has the block to itself).
 */
static uint64_t share_cow_floor(uint64_t s, uint64_t e)
{
	uint64_t lb = 0, first = s / DXB, last = min_u64(align_up(e, DXB) / DXB, dx.nsid);

	for (uint64_t i = first; i < last; i++) {
		uint64_t id = dx.sid[i], k = 0, t;
		bool seen = false;

		if (!id)
			continue;
		for (uint64_t j = first; j < i && !seen; j++)
			seen = dx.sid[j] == id;
		if (seen)
			continue;
		for (uint64_t j = i; j < last; j++)
			k += dx.sid[j] == id;
		t = share_count(id);
		if (t >= 2)
			lb += k == t ? k - 1 : k;
	}
	return lb;
}

/* True if a held mapping pins the block of the file at off. */
static bool held_pins(uint64_t off)
{
	for (unsigned int i = 0; i < dx.nheld; i++)
		if (dx.held[i].off <= off && off < dx.held[i].off + dx.held[i].len)
			return true;
	return false;
}

/*
 * A clone of [src, src + len) of the file (or the copy file) to dst: the
 * number of blocks it certainly shares, and in *pinned those it must copy
 * because a held mapping pins them (a device may be writing them).
 */
static uint64_t share_clone(bool scratch, uint64_t src, uint64_t dst, uint64_t len,
			    uint64_t *pinned)
{
	const uint8_t *state = scratch ? fx.scratch_state : fx.m.state;
	uint64_t certain = 0;

	*pinned = 0;
	for (uint64_t o = 0; o < len; o += DXB) {
		uint64_t *sp =
		    scratch ? sid_of(dx.xsid, dx.nxsid, src + o) : sid_of(dx.sid, dx.nsid, src + o);
		uint64_t *dp = sid_of(dx.sid, dx.nsid, dst + o);
		bool data = false;

		/* A page with a written byte has a block: the clone shares it. */
		for (uint64_t i = 0; i < DXB && !data; i++)
			data = state[src + o + i] == SEG_DATA;
		if (!sp || !dp)
			continue;
		if (!scratch && held_pins(src + o)) {
			(*pinned)++;
			*dp = 0;
			continue;
		}
		if (!data) {
			*dp = 0;
			continue;
		}
		if (!*sp)
			*sp = ++dx.next_sid;
		*dp = *sp;
		certain++;
	}
	return certain;
}

/* The ops whose writes must copy the shared blocks they reach. */
static bool share_must_copy(const struct op *op, uint64_t *s, uint64_t *e)
{
	switch (op->code) {
	case OP_WRITE:
	case OP_DXMAP:
	case OP_DMA_IN:
		*s = op->off;
		*e = op->off + op->len;
		return true;
	default:
		return false;
	}
}

/* The ops that keep every page's block where it is (or track it themselves). */
static bool share_kept(enum opcode c)
{
	switch (c) {
	case OP_READ:
	case OP_MAPREAD:
	case OP_SEEK_DATA:
	case OP_SEEK_HOLE:
	case OP_FSYNC:
	case OP_FDATASYNC:
	case OP_REOPEN:
	case OP_DMA_OUT:
	case OP_CLONE:
	case OP_CLONE_SCRATCH:
	case OP_SNAPSHOT:
	case OP_COHERENT:
		return true;
	default:
		return false;
	}
}

static void share_before(const struct op *op)
{
	uint64_t s, e;

	dx.cow_lb = 0;
	if (!dx.nsid || !share_must_copy(op, &s, &e))
		return;
	dx.cow_lb = share_cow_floor(s, e);
	if (dx.cow_lb)
		dx.cow0 = mount_stats().cow_blocks;
}

static void share_after(const struct op *op, uint64_t size_before)
{
	if (dx.cow_lb) {
		uint64_t got = mount_stats().cow_blocks - dx.cow0;

		/* Other processes' copies only add to the count. */
		if (got < dx.cow_lb)
			fail("the op reached %" PRIu64
			     " shared blocks but the mount copied %" PRIu64
			     " (cow_blocks): a write went into a block another file or range "
			     "still shares",
			     dx.cow_lb, got);
		dx.floor_ops++;
		dx.floor_blocks += dx.cow_lb;
		dx.cow_lb = 0;
	}
	if (share_kept(op->code))
		return;
	for (uint64_t i = 0; i < dx.nsid; i++)
		if (dx.sid[i] && op_touches(op, size_before, i * DXB, (i + 1) * DXB))
			dx.sid[i] = 0;
}

/* ---- held mappings ---- */

static void held_drop(unsigned int i)
{
	struct held *h = &dx.held[i];
	char what[64];

	snprintf(what, sizeof(what), "unmap of the mapping held since op %u", h->num);
	/* Persists what was written through it; the daemon drops stale pages. */
	unmap_range(what, h->m);
	memmove(h, h + 1, (dx.nheld - i - 1) * sizeof(*h));
	dx.nheld--;
}

/* Unmap the held mappings that overlap [s, e). */
static void held_drop_range(uint64_t s, uint64_t e)
{
	for (unsigned int i = 0; i < dx.nheld;) {
		struct held *h = &dx.held[i];

		if (h->off < e && h->off + h->len > s)
			held_drop(i);
		else
			i++;
	}
}

static void held_check(const struct held *h, const char *why)
{
	char what[96];

	snprintf(what, sizeof(what), "%s: mapping held since op %u", why, h->num);
	check_map(what, h->p, h->off, h->len);
}

void dx_check_held(const char *why)
{
	for (unsigned int i = 0; i < dx.nheld; i++)
		held_check(&dx.held[i], why);
}

/*
 * Stores through a mapping reach the pool at once, but read(2) may serve
 * the kernel's older copy of those pages until daxfs_persist(); a
 * write(2) or mmap write-back into such a page would even write the old
 * bytes back.  So what was written through held mappings is persisted
 * before anything else touches the file.
 */
void dx_flush_held(void)
{
	for (unsigned int i = 0; i < dx.nheld; i++) {
		struct held *h = &dx.held[i];

		if (h->de <= h->ds)
			continue;
		if (daxfs_persist(h->m, h->p + (h->ds - h->off), h->de - h->ds))
			fail("daxfs_persist 0x%" PRIx64 " len 0x%" PRIx64
			     " of the mapping held since op %u: %s",
			     h->ds, h->de - h->ds, h->num, daxfs_client_errormsg());
		h->ds = h->de = 0;
	}
}

void dx_unmap_all(void)
{
	while (dx.nheld)
		held_drop(0);
}

/* The file blocks a layout change of op may free, move or zero. */
static bool layout_range(const struct op *op, uint64_t *s, uint64_t *e)
{
	*e = UINT64_MAX;
	switch (op->code) {
	case OP_TRUNCATE:
		*s = align_down(op->off, DXB);
		return op->off < fx.m.size;
	case OP_PUNCH:
	case OP_ZERO:
	case OP_ZERO_KEEP:
		*s = align_down(op->off, DXB);
		*e = align_up(op->off + op->len, DXB);
		return true;
	case OP_COLLAPSE:
	case OP_INSERT:
		*s = align_down(op->off, DXB);
		return true;
	case OP_REOPEN: /* closing the file drops its mappings */
		*s = 0;
		return true;
	case OP_CLONE:
	case OP_CLONE_SCRATCH: /* a pinned destination block is EBUSY */
		*s = op->dst;
		*e = op->dst + op->len;
		return true;
	case OP_SNAPSHOT: /* a pinned block would be copied, not shared */
	case OP_COHERENT:
		*s = op->off;
		*e = op->off + op->len;
		return true;
	default:
		break;
	}
	if (!is_change(op->code))
		return false;
	/* A revocation quarantines every mapping of the open file. */
	if (op_family(op->code) == FAM_REVOKE) {
		*s = 0;
		return true;
	}
	*s = align_down(op->dst, DXB);
	if (op_kind(op->code) == K_PUNCH)
		*e = align_up(op->dst + op->len2, DXB);
	return true;
}

void dx_before_op(const struct op *op)
{
	uint64_t s, e;

	if (!dx.ready)
		return;
	dx_flush_held();
	for (unsigned int i = 0; i < dx.nheld;) {
		if (dx.held[i].until < op->num)
			held_drop(i);
		else
			i++;
	}
	if (layout_range(op, &s, &e))
		held_drop_range(s, e);
	share_before(op);
}

/*
 * The kernel's page cache can hide what the pool lacks (a write the
 * daemon acknowledged but never stored): now and then compare what the
 * pool holds, read past the cache.
 */
void dx_pool_check(void)
{
	dx_flush_held();
	pool_check("pool check (O_DIRECT)");
}

void dx_after_op(const struct op *op, uint64_t size_before)
{
	/* daxfs writes are persistent when they return: in the pool by now. */
	switch (op->code) {
	case OP_WRITE:
	case OP_MAPWRITE:
		dx_read_pool("O_DIRECT read after the write", op->off, op->len);
		break;
	case OP_COPY:
	case OP_COPY_SCRATCH:
		dx_read_pool("O_DIRECT read after the copy", op->dst, op->len);
		break;
	case OP_CLONE:
	case OP_CLONE_SCRATCH:
		dx_read_pool("O_DIRECT read after the clone", op->dst, op->len);
		break;
	default:
		break;
	}
	if (dx.ready)
		share_after(op, size_before);
	for (unsigned int i = 0; i < dx.nheld; i++) {
		struct held *h = &dx.held[i];

		if (op_touches(op, size_before, h->off, h->off + h->len))
			held_check(h, "after the op");
	}
}

void dx_fail_info(void)
{
	if (!dx.nheld)
		return;
	prt("held mappings:\n");
	for (unsigned int i = 0; i < dx.nheld; i++) {
		const struct held *h = &dx.held[i];

		prt("  0x%" PRIx64 " .. 0x%" PRIx64 " (id %" PRIu64 ") from op %u%s\n", h->off,
		    h->off + h->len, daxfs_mapping_id(h->m), h->num,
		    h->de > h->ds ? ", written and not persisted" : "");
	}
}

/* ---- setup ---- */

/* What the mount itself says about its timeouts (before the op list is shown). */
void dx_probe(void)
{
	struct daxfs_stats st;

	memset(&st, 0, sizeof(st));
	if (!fx.is_daxfs || ioctl(fx.fd, DAXFS_IOC_STATS, &st))
		return;
	if (fx.lease_break_time && st.lease_break_time_s != fx.lease_break_time) {
		prt("%s: the mount's lease_break_time is %" PRIu64
		    " s, not %u; going by the mount\n",
		    PROG, (uint64_t)st.lease_break_time_s, fx.lease_break_time);
		fx.lease_break_time = st.lease_break_time_s;
	}
	/* A deferred change may fail with EBUSY there: not what is checked. */
	if (st.busy_timeout_s &&
	    !(classes[C_PINNED].off && classes[C_BREAK].off && classes[C_REVOKE].off)) {
		prt("%s: the mount has busy_timeout=%" PRIu64 ": pinned-change, break and revoke "
		    "disabled (they need busy_timeout=0)\n",
		    PROG, (uint64_t)st.busy_timeout_s);
		classes[C_PINNED].off = classes[C_BREAK].off = classes[C_REVOKE].off = true;
	}
}

/* A file for O_DIRECT transfers: tmpfs has O_DIRECT only since Linux 6.6. */
static bool dma_setup(void)
{
	static const char *const dirs[] = {"/dev/shm", "/var/tmp", "/tmp"};
	void *buf;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && dx.dma_fd < 0; i++) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "%s/daxfs-fsx-dma.XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd < 0)
			continue;
		close(fd);
		dx.dma_fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
		unlink(path);
	}
	if (dx.dma_fd < 0) {
		prt("%s: no directory with O_DIRECT for DMA: dma disabled\n", PROG);
		return false;
	}
	if (posix_memalign(&buf, DXB, DMA_MAX))
		setup_error("out of memory for the DMA buffer");
	dx.dma_buf = buf;
	if (io_setup(DMA_DEPTH, &dx.aio) < 0) {
		prt("%s: io_setup failed: dma disabled\n", PROG);
		return false;
	}
	return true;
}

/* The file a snapshot op clones into: beside the file, unlinked at once. */
static bool snap_setup(void)
{
	char *path = xmalloc(strlen(fx.path) + 32);

	sprintf(path, "%s.fsxsnap.%d", fx.path, (int)getpid());
	dx.snap_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dx.snap_fd >= 0)
		unlink(path);
	else
		prt("%s: cannot create %s (%s): snapshot disabled\n", PROG, path, strerror(errno));
	free(path);
	dx.old = xmalloc(MAX_MAP);
	return dx.snap_fd >= 0;
}

void dx_setup(void)
{
	bool any = false;

	if (!fx.is_daxfs)
		return;
	dx.dio_fd = open(fx.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dx.dio_fd < 0)
		prt("%s: no O_DIRECT descriptor (%s): no reads past the page cache\n", PROG,
		    strerror(errno));
	for (int c = 0; c < NR_CLASSES; c++)
		any |= (classes[c].flags & CF_DAXFS) && !classes[c].off;
	if (!any)
		return;
	dx.c = daxfs_client_open(fx.fd);
	if (!dx.c) {
		prt("%s: daxfs ops disabled: %s\n", PROG, daxfs_client_errormsg());
		for (int c = 0; c < NR_CLASSES; c++)
			if (classes[c].flags & CF_DAXFS)
				classes[c].off = true;
		return;
	}
	dx.pat = xmalloc(fx.m.cap + MAX_MAP);
	if (!classes[C_DMA].off && !dma_setup())
		classes[C_DMA].off = true;
	dx.nsid = fx.m.cap / DXB + 1;
	dx.sid = calloc(dx.nsid, sizeof(*dx.sid));
	dx.nxsid = fx.scratch_len / DXB;
	dx.xsid = calloc(dx.nxsid + 1, sizeof(*dx.xsid));
	if (!dx.sid || !dx.xsid)
		setup_error("out of memory for the share ids");
	if (!classes[C_SNAPSHOT].off && !snap_setup())
		classes[C_SNAPSHOT].off = true;
	dx.ready = true;
}

void dx_finish(void)
{
	if (dx.dio_fd >= 0)
		close(dx.dio_fd);
	dx.dio_fd = -1;
	if (!dx.ready)
		return;
	if (!fx.quiet)
		prt("%s: sharing: %" PRIu64 " writes and maps reached %" PRIu64
		    " blocks known to be shared, and copied them; clones copied %" PRIu64
		    " pinned blocks; %" PRIu64 " snapshot mappings kept %" PRIu64
		    " shared blocks\n",
		    PROG, dx.floor_ops, dx.floor_blocks, dx.clone_pinned, dx.snaps, dx.snap_blocks);
	dx_unmap_all();
	if (dx.dma_fd >= 0) {
		io_destroy(dx.aio);
		close(dx.dma_fd);
		dx.dma_fd = -1;
	}
	if (dx.snap_fd >= 0)
		close(dx.snap_fd);
	dx.snap_fd = -1;
	free(dx.old);
	free(dx.sid);
	free(dx.xsid);
	dx.sid = dx.xsid = NULL;
	dx.nsid = dx.nxsid = 0;
	free(dx.dma_buf);
	free(dx.pat);
	daxfs_client_close(dx.c);
	dx.ready = false;
}

/* ---- generators ---- */

/*
 * A block-aligned range of our region inside the file's size rounded up
 * to a block (where a map is allowed), at most maxlen long.
 */
static int pick_map(uint64_t *off, uint64_t *len, uint64_t maxlen)
{
	uint64_t lim = min_u64(fx.m.size, fx.re);
	uint64_t top = min_u64(align_up(lim, DXB), align_up(fx.re, DXB));
	uint64_t first = align_up(fx.rs, DXB), maxb;

	if (lim <= fx.rs || top <= first)
		return -1;
	*off = first + DXB * rnd_below((top - first) / DXB);
	maxb = min_u64((top - *off) / DXB, max_u64(maxlen / DXB, 1));
	*len = DXB * (1 + rnd_below(maxb));
	return 0;
}

static uint64_t map_max(void)
{
	return min_u64(MAX_MAP, max_u64(align_down(fx.maxoplen, DXB), DXB));
}

int gen_dxmap(struct op *op)
{
	uint64_t wend;

	if (!dx.ready || pick_map(&op->off, &op->len, map_max()))
		return -1;
	op->code = OP_DXMAP;
	/* Write part of what is below EOF; now and then all of it. */
	wend = min_u64(op->off + op->len, fx.m.size);
	if (rnd_below(4) == 0) {
		op->dst = op->off;
		op->len2 = wend - op->off;
	} else {
		op->dst = op->off + rnd_below(wend - op->off);
		op->len2 = gen_len(wend - op->dst);
	}
	op->persist = rnd_below(2);
	op->hold = fx.hold_maps && rnd_below(2) ? 1 + rnd_below(8) : 0;
	return 0;
}

int gen_lease(struct op *op)
{
	if (!dx.ready || pick_map(&op->off, &op->len, map_max()))
		return -1;
	op->code = OP_LEASE;
	return 0;
}

int gen_dma(struct op *op)
{
	uint64_t lim = min_u64(fx.m.size, fx.re), top, maxb;
	bool in = rnd_below(2);

	if (!dx.ready)
		return -1;
	/* DMA in writes whole blocks: only below EOF.  Out may read the last
	 * partial block. */
	top = in ? align_down(lim, DXB) : min_u64(align_up(lim, DXB), align_up(fx.re, DXB));
	if (lim <= fx.rs || top < fx.rs + DXB)
		return -1;
	op->code = in ? OP_DMA_IN : OP_DMA_OUT;
	op->off = fx.rs + DXB * rnd_below((top - fx.rs) / DXB);
	maxb = min_u64((top - op->off) / DXB, max_u64(min_u64(fx.maxoplen, DMA_MAX) / DXB, 1));
	op->len = DXB * (1 + rnd_below(maxb));
	op->dst = min_u64(DXB << rnd_below(4), op->len);
	return 0;
}

/* A block-aligned range of our region below EOF (whole blocks of data). */
static int pick_below_eof(uint64_t *off, uint64_t *len, uint64_t maxlen)
{
	uint64_t top = align_down(min_u64(fx.m.size, fx.re), DXB);
	uint64_t first = align_up(fx.rs, DXB), maxb;

	if (top < first + DXB)
		return -1;
	*off = first + DXB * rnd_below((top - first) / DXB);
	maxb = min_u64((top - *off) / DXB, max_u64(maxlen / DXB, 1));
	*len = DXB * (1 + rnd_below(maxb));
	return 0;
}

/*
 * Whole blocks, as a clone wants them: from below EOF of the file (or from
 * the copy file) to a disjoint block-aligned range of our region.
 */
int gen_clone(struct op *op)
{
	uint64_t first = align_up(fx.rs, DXB), top = align_down(fx.re, DXB);
	uint64_t max = max_u64(align_down(fx.maxoplen, DXB), DXB);

	if (!dx.ready || top < first + DXB)
		return -1;
	max = min_u64(max, top - first);
	if (dx.nxsid && rnd_below(3) == 0) {
		op->code = OP_CLONE_SCRATCH;
		op->off = DXB * rnd_below(dx.nxsid);
		op->len = DXB * (1 + rnd_below(min_u64(dx.nxsid - op->off / DXB, max / DXB)));
		op->dst = first + DXB * rnd_below((top - first - op->len) / DXB + 1);
		return 0;
	}
	op->code = OP_CLONE;
	if (pick_below_eof(&op->off, &op->len, max))
		return -1;
	/* Overlapping ranges of one file are EINVAL: find a disjoint one. */
	for (int tries = 0; tries < 8 && op->len <= top - first; tries++) {
		op->dst = first + DXB * rnd_below((top - first - op->len) / DXB + 1);
		if (op->dst + op->len <= op->off || op->off + op->len <= op->dst)
			return 0;
	}
	return -1;
}

int gen_snapshot(struct op *op)
{
	if (!dx.ready || dx.snap_fd < 0 || pick_below_eof(&op->off, &op->len, map_max()))
		return -1;
	op->code = rnd_below(4) ? OP_SNAPSHOT : OP_COHERENT;
	return 0;
}

/* A change of the given kind whose range meets the mapping [op->off, +op->len). */
static int gen_change_kind(struct op *op, int kind)
{
	uint64_t size = fx.m.size, ms = op->off, me = op->off + op->len, x, n;
	uint64_t opmax = max_u64(align_down(fx.maxoplen, DXB), DXB);

	switch (kind) {
	case K_TRUNCATE:
		/* From the new EOF on, rounded up to a block, meets the map. */
		if (rnd_below(4) == 0)
			op->dst = rnd_below(me - DXB + 1);
		else
			op->dst = ms + rnd_below(me - DXB - ms + 1);
		op->dst = align_down(op->dst, fx.talign);
		op->len2 = 0;
		return 0;
	case K_PUNCH:
		x = ms + rnd_below(min_u64(me, size) - ms);
		op->dst = x - rnd_below(min_u64(x - fx.rs, 2 * DXB) + 1);
		n = x - op->dst + 1 + rnd_below(min_u64(fx.maxoplen, fx.re - x));
		op->len2 = min_u64(n, fx.re - op->dst);
		if (rnd_below(2) && align_up(op->dst + op->len2, DXB) <= fx.re) {
			op->len2 = align_up(op->dst + op->len2, DXB) - align_down(op->dst, DXB);
			op->dst = align_down(op->dst, DXB);
		}
		return 0;
	case K_COLLAPSE:
		/* Everything from the offset on moves: at or before the map's end. */
		op->dst = DXB * rnd_below(me / DXB);
		if (op->dst + DXB >= size)
			return -1;
		n = min_u64(align_down(size - 1 - op->dst, DXB), opmax) / DXB;
		op->len2 = DXB * (1 + rnd_below(n));
		return 0;
	case K_INSERT:
		op->dst = DXB * rnd_below(min_u64(me, align_up(size, DXB)) / DXB);
		if (size + DXB > fx.m.maxlen)
			return -1;
		n = min_u64(align_down(fx.m.maxlen - size, DXB), opmax) / DXB;
		op->len2 = DXB * (1 + rnd_below(n));
		return 0;
	}
	return -1;
}

static int gen_change(struct op *op, int family)
{
	static const enum opclass kind_class[NR_KINDS] = {C_TRUNCATE, C_PUNCH, C_COLLAPSE,
							  C_INSERT};
	int kinds[NR_KINDS], n = 0, kind;

	if (!dx.ready)
		return -1;
	/* The changes the run allows (-P, -F and -x take some away). */
	for (int k = 0; k < NR_KINDS; k++)
		if (!classes[kind_class[k]].off)
			kinds[n++] = k;
	if (!n || pick_map(&op->off, &op->len, map_max()))
		return -1;
	kind = kinds[rnd_below(n)];
	op->code = OP_PIN_TRUNCATE + family * NR_KINDS + kind;
	return gen_change_kind(op, kind);
}

int gen_pinned(struct op *op)
{
	return gen_change(op, FAM_PIN);
}

int gen_break(struct op *op)
{
	return gen_change(op, FAM_BREAK);
}

int gen_revoke(struct op *op)
{
	return gen_change(op, FAM_REVOKE);
}

/* ---- validity (replays) and descriptions ---- */

static const char *map_invalid(uint64_t off, uint64_t len)
{
	if (off % DXB || len % DXB || !len)
		return "mapping not block-aligned";
	if (len > MAX_MAP)
		return "mapping too long";
	if (off >= fx.m.size || off + len > align_up(fx.m.size, DXB))
		return "mapping beyond EOF";
	if (off < fx.rs || off + len > align_up(fx.re, DXB))
		return "mapping outside the region";
	return NULL;
}

static const char *change_invalid(const struct op *op)
{
	uint64_t size = fx.m.size, me = op->off + op->len;

	switch (op_kind(op->code)) {
	case K_TRUNCATE:
		return align_up(op->dst, DXB) < me ? NULL : "truncate does not reach the mapping";
	case K_PUNCH:
		if (!op->len2 || op->dst + op->len2 > fx.re)
			return "punch empty or outside the region";
		return op->dst < me && op->dst + op->len2 > op->off ? NULL
								    : "punch misses the mapping";
	case K_COLLAPSE:
		if (op->dst % DXB || op->len2 % DXB || !op->len2)
			return "collapse not block-aligned";
		if (op->dst + op->len2 >= size)
			return "collapse reaching EOF";
		return op->dst < me ? NULL : "collapse after the mapping";
	default:
		if (op->dst % DXB || op->len2 % DXB || !op->len2)
			return "insert not block-aligned";
		if (op->dst >= size || size + op->len2 > fx.m.maxlen)
			return "insert at EOF or beyond maxlen";
		return op->dst < me ? NULL : "insert after the mapping";
	}
}

const char *dx_op_invalid(const struct op *op)
{
	const char *why;

	if (!dx.ready)
		return "daxfs ops not set up";
	switch (op->code) {
	case OP_DXMAP:
		if ((why = map_invalid(op->off, op->len)))
			return why;
		if (op->len2 && (op->dst < op->off ||
				 op->dst + op->len2 > min_u64(op->off + op->len, fx.m.size)))
			return "write outside the mapping or beyond EOF";
		return NULL;
	case OP_LEASE:
		return map_invalid(op->off, op->len);
	case OP_DMA_IN:
	case OP_DMA_OUT:
		if (op->off % DXB || op->len % DXB || !op->len || op->len > DMA_MAX)
			return "DMA range not block-aligned or too long";
		if (op->dst % DXB || !op->dst || op->dst > MAX_MAP)
			return "bad DMA chunk";
		if (op->off < fx.rs || op->off + op->len > align_up(fx.re, DXB))
			return "DMA outside the region";
		if (op->code == OP_DMA_IN)
			return op->off + op->len > fx.m.size ? "DMA in beyond EOF" : NULL;
		return op->off + op->len > align_up(fx.m.size, DXB) ? "DMA out beyond EOF" : NULL;
	case OP_CLONE:
	case OP_CLONE_SCRATCH:
		if (op->off % DXB || op->len % DXB || op->dst % DXB || !op->len)
			return "clone not block-aligned";
		if (op->dst < fx.rs || op->dst + op->len > align_down(fx.re, DXB))
			return "clone outside the region";
		if (op->code == OP_CLONE_SCRATCH)
			return op->off + op->len > dx.nxsid * DXB ? "beyond the source file" : NULL;
		if (op->off + op->len > fx.m.size)
			return "clone source beyond EOF";
		if (op->off < op->dst + op->len && op->dst < op->off + op->len)
			return "overlapping clone";
		return NULL;
	case OP_SNAPSHOT:
	case OP_COHERENT:
		if (dx.snap_fd < 0)
			return "no file to clone into";
		if (op->off % DXB || op->len % DXB || !op->len || op->len > MAX_MAP)
			return "snapshot not block-aligned or too long";
		if (op->off < fx.rs || op->off + op->len > min_u64(fx.m.size, fx.re))
			return "snapshot beyond EOF or outside the region";
		return NULL;
	default:
		if (!is_change(op->code))
			return "not a daxfs op";
		if ((why = map_invalid(op->off, op->len)))
			return why;
		return change_invalid(op);
	}
}

void dx_describe(char *s, size_t n, const struct op *op)
{
	uint64_t me = op->off + op->len;

	if (op->code == OP_DXMAP) {
		int k = snprintf(s, n, "0x%" PRIx64 " .. 0x%" PRIx64, op->off, me);

		if (op->len2)
			k += snprintf(s + k, n - k, ", write 0x%" PRIx64 " .. 0x%" PRIx64 "%s",
				      op->dst, op->dst + op->len2, op->persist ? ", persist" : "");
		if (op->hold)
			snprintf(s + k, n - k, ", hold %" PRIu64 " ops", op->hold);
	} else if (op->code == OP_DMA_IN || op->code == OP_DMA_OUT) {
		snprintf(s, n,
			 "0x%" PRIx64 " .. 0x%" PRIx64 " (0x%" PRIx64 " bytes, chunks of 0x%" PRIx64
			 ")",
			 op->off, me, op->len, op->dst);
	} else if (is_change(op->code) && op_kind(op->code) == K_TRUNCATE) {
		snprintf(s, n, "map 0x%" PRIx64 " .. 0x%" PRIx64 ", truncate to 0x%" PRIx64,
			 op->off, me, op->dst);
	} else if (is_change(op->code)) {
		snprintf(s, n, "map 0x%" PRIx64 " .. 0x%" PRIx64 ", %s 0x%" PRIx64 " .. 0x%" PRIx64,
			 op->off, me, kind_name[op_kind(op->code)], op->dst, op->dst + op->len2);
	} else {
		snprintf(s, n, "?");
	}
}

/* ---- map ---- */

enum run_result run_dxmap(const struct op *op)
{
	struct daxfs_mapping *m;
	struct held *h;
	uint8_t *p, *w;

	if (op->hold && fx.hold_maps)
		while (dx.nheld >= fx.hold_maps)
			held_drop(0); /* the oldest */
	p = map_range("map", op->off, op->len, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);
	check_map("map: bytes seen through the new mapping", p, op->off, op->len);
	if (op->len2) {
		/*
		 * read(2) first, so the kernel caches the pages this write
		 * makes stale: persist and unmap must drop them.
		 */
		read_check("map: read(2) before the write", op->dst, op->len2);
		w = p + (op->dst - op->off);
		fill_pattern(dx.pat, op->dst, op->len2, op->num, fx.salt);
		memcpy(w, dx.pat, op->len2);
		model_write(&fx.m, op->dst, op->len2, dx.pat, op->num);
		if (op->persist) {
			if (daxfs_persist(m, w, op->len2))
				fail("map: daxfs_persist 0x%" PRIx64 " len 0x%" PRIx64 ": %s",
				     op->dst, op->len2, daxfs_client_errormsg());
			read_check("map: read(2) after daxfs_persist", op->dst, op->len2);
		}
	}
	if (!op->hold || !fx.hold_maps) {
		unmap_range("map", m);
		if (op->len2)
			read_check("map: read(2) after daxfs_unmap", op->dst, op->len2);
		return RUN_OK;
	}
	h = &dx.held[dx.nheld++];
	*h = (struct held){
	    .m = m,
	    .p = p,
	    .off = op->off,
	    .len = op->len,
	    .num = op->num,
	    .until = (uint64_t)op->num + op->hold,
	};
	if (op->len2 && !op->persist) {
		h->ds = op->dst;
		h->de = op->dst + op->len2;
	}
	return RUN_OK;
}

/* ---- lease ---- */

enum run_result run_lease(const struct op *op)
{
	uint64_t wlen = min_u64(op->len, fx.m.size - op->off);
	struct daxfs_ioc_lease st;
	struct daxfs_mapping *m;
	uint8_t *p;

	lease_take("lease");
	p = map_range("lease", op->off, op->len,
		      DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM, &m);
	if (daxfs_lease_query(fx.fd, &st))
		fail("lease: daxfs_lease_query: %s", daxfs_client_errormsg());
	if (st.state != DAXFS_LEASE_ACTIVE || st.mappings != 1)
		fail("lease: state %u with %" PRIu64 " long-term mappings, expected active with 1",
		     st.state, st.mappings);
	check_map("lease: bytes seen through the long-term mapping", p, op->off, op->len);
	read_check("lease: read(2) before the write", op->off, wlen);
	fill_pattern(dx.pat, op->off, wlen, op->num, fx.salt);
	memcpy(p, dx.pat, wlen);
	model_write(&fx.m, op->off, wlen, dx.pat, op->num);
	/* A lease lives as long as the long-term pins made under it. */
	if (!daxfs_lease_release(fx.fd) || errno != EBUSY)
		fail("lease: releasing the lease under a long-term mapping: %s, expected EBUSY",
		     errno == EBUSY ? "success" : strerror(errno));
	unmap_range("lease", m);
	lease_release("lease");
	read_check("lease: read(2) after daxfs_unmap", op->off, wlen);
	return RUN_OK;
}

/* ---- layout changes against pins ---- */

/* A layout change run by a helper thread, which may wait in the kernel. */
struct change {
	const struct op *op;
	int kind;
	int pfd[2];
	pthread_t th;
	bool running;
	int err;
};

static void *change_main(void *arg)
{
	struct change *c = arg;
	const struct op *op = c->op;
	int err = 0;

	switch (c->kind) {
	case K_TRUNCATE:
		err = ftruncate(fx.fd, (off_t)op->dst) ? errno : 0;
		break;
	case K_PUNCH:
		err = fallocate(fx.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)op->dst,
				(off_t)op->len2)
			  ? errno
			  : 0;
		break;
	default: {
		struct daxfs_ioc_falloc fa = {
		    .offset = op->dst,
		    .length = op->len2,
		    .mode =
			c->kind == K_COLLAPSE ? FALLOC_FL_COLLAPSE_RANGE : FALLOC_FL_INSERT_RANGE,
		};

		err = ioctl(fx.fd, DAXFS_IOC_FALLOCATE, &fa) ? errno : 0;
		break;
	}
	}
	if (write(c->pfd[1], &err, sizeof(err)) != sizeof(err))
		abort(); /* the main thread could never learn the result */
	return NULL;
}

static void change_start(struct change *c, const struct op *op)
{
	c->op = op;
	c->kind = op_kind(op->code);
	if (pipe2(c->pfd, O_CLOEXEC))
		fail("pipe: %s", strerror(errno));
	errno = pthread_create(&c->th, NULL, change_main, c);
	if (errno)
		fail("pthread_create: %s", strerror(errno));
	c->running = true;
}

/* Has the change returned?  Waits up to ms for it. */
static bool change_done(struct change *c, int ms)
{
	struct pollfd p = {.fd = c->pfd[0], .events = POLLIN};
	int n;

	if (!c->running)
		return true;
	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	if (read(c->pfd[0], &c->err, sizeof(c->err)) != sizeof(c->err))
		fail("reading the change's result: %s", strerror(errno));
	pthread_join(c->th, NULL);
	close(c->pfd[0]);
	close(c->pfd[1]);
	c->running = false;
	return true;
}

static void change_describe(char *s, size_t n, const struct op *op)
{
	if (op_kind(op->code) == K_TRUNCATE)
		snprintf(s, n, "truncate to 0x%" PRIx64, op->dst);
	else
		snprintf(s, n, "%s 0x%" PRIx64 " .. 0x%" PRIx64, kind_name[op_kind(op->code)],
			 op->dst, op->dst + op->len2);
}

/* After the change returned: it must have worked, and the model follows. */
static void change_apply(struct change *c, const char *what)
{
	const struct op *op = c->op;

	if (c->err)
		fail("%s: %s", what, strerror(c->err));
	switch (c->kind) {
	case K_TRUNCATE:
		model_truncate(&fx.m, op->dst, op->num);
		break;
	case K_PUNCH:
		model_punch(&fx.m, op->dst, op->len2, op->num);
		break;
	case K_COLLAPSE:
		model_collapse(&fx.m, op->dst, op->len2, op->num);
		break;
	default:
		model_insert(&fx.m, op->dst, op->len2, op->num);
		break;
	}
}

static void change_finish(struct change *c, const char *what, unsigned int extra_s)
{
	if (!change_done(c, COMPLETE_MS + extra_s * 1000))
		fail("%s still waits %u s after the pins went", what, COMPLETE_MS / 1000 + extra_s);
	change_apply(c, what);
}

/*
 * The change must be waiting: first until the mount counts a deferred
 * request (or the change returns, which is the failure), then a little
 * longer, to see that it stays so.
 */
static void expect_waiting(struct change *c, const char *what, uint64_t ms, uint64_t me)
{
	uint64_t t0 = now_ms();

	for (;;) {
		if (change_done(c, 2))
			fail("%s completed while 0x%" PRIx64 " .. 0x%" PRIx64 " was pinned%s", what,
			     ms, me, c->err ? " (and failed)" : "");
		if (mount_stats().deferred_now)
			break;
		if (now_ms() - t0 > QUEUE_MS)
			fail("%s neither completed nor waits after %u s", what, QUEUE_MS / 1000);
	}
	if (change_done(c, SETTLE_MS))
		fail("%s completed while 0x%" PRIx64 " .. 0x%" PRIx64 " was pinned%s", what, ms, me,
		     c->err ? " (and failed)" : "");
}

/* The range a break of op must report. */
static void break_range(const struct op *op, uint64_t *off, uint64_t *len)
{
	*len = UINT64_MAX;
	switch (op_kind(op->code)) {
	case K_TRUNCATE:
		*off = align_up(op->dst, DXB);
		break;
	case K_PUNCH:
		*off = align_down(op->dst, DXB);
		*len = align_up(op->dst + op->len2, DXB) - *off;
		break;
	default:
		*off = align_down(op->dst, DXB);
		break;
	}
}

/*
 * Wait for the lease on fx.fd to break, watching the change as well: a
 * change that completes without breaking the lease went under the pins.
 */
static void wait_break(const char *what, struct change *c, const struct op *op)
{
	struct daxfs_ioc_lease st;
	uint64_t bo, bl;
	int n = 0;

	/* In slices, to see a change done without a break at once. */
	for (unsigned waited = 0; !n && waited < COMPLETE_MS && !change_done(c, 0);
	     waited += SLICE_MS) {
		n = daxfs_lease_wait_break(fx.fd, SLICE_MS, &st);
		if (n < 0)
			fail("%s: daxfs_lease_wait_break: %s", what, daxfs_client_errormsg());
	}
	if (!n && change_done(c, 0))
		fail("%s completed under the lease, with 0x%" PRIx64 " .. 0x%" PRIx64
		     " mapped long-term, without breaking it%s",
		     what, op->off, op->off + op->len, c->err ? " (and failed)" : "");
	if (!n)
		fail("%s: no lease break within %u s", what, COMPLETE_MS / 1000);
	break_range(op, &bo, &bl);
	if (st.state != DAXFS_LEASE_BREAKING || st.break_offset != bo || st.break_length != bl ||
	    st.mappings != 1)
		fail("%s: break event: state %u, range 0x%" PRIx64 " + 0x%" PRIx64 ", %" PRIu64
		     " mappings; expected breaking, 0x%" PRIx64 " + 0x%" PRIx64 ", 1 mapping",
		     what, st.state, st.break_offset, st.break_length, st.mappings, bo, bl);
}

static void run_pinned(const struct op *op, const char *what)
{
	uint64_t me = op->off + op->len;
	struct change c = {0};
	struct daxfs_mapping *m;
	uint8_t *p;

	p = map_range(what, op->off, op->len, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);
	check_map("pinned-change: bytes seen through the mapping", p, op->off, op->len);
	change_start(&c, op);
	expect_waiting(&c, what, op->off, me);
	check_map("pinned-change: pinned bytes while the change waits", p, op->off, op->len);
	unmap_range(what, m);
	change_finish(&c, what, 0);
}

static void run_break(const struct op *op, const char *what)
{
	uint64_t wlen = min_u64(op->len, fx.m.size - op->off);
	struct change c = {0};
	struct daxfs_mapping *m;
	uint8_t *p;

	lease_take(what);
	p = map_range(what, op->off, op->len, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM,
		      &m);
	check_map("break: bytes seen through the long-term mapping", p, op->off, op->len);
	if (daxfs_lease_wait_break(fx.fd, 0, NULL))
		fail("%s: the lease reads as broken before any change", what);
	change_start(&c, op);
	wait_break(what, &c, op);
	if (change_done(&c, 0))
		fail("%s completed while the lease holder still had 0x%" PRIx64 " .. 0x%" PRIx64
		     " mapped",
		     what, op->off, op->off + op->len);
	/* The holder finishes what it had in flight, then lets go. */
	fill_pattern(dx.pat, op->off, wlen, op->num, fx.salt);
	memcpy(p, dx.pat, wlen);
	model_write(&fx.m, op->off, wlen, dx.pat, op->num);
	if (daxfs_persist(m, p, wlen))
		fail("%s: daxfs_persist during the break: %s", what, daxfs_client_errormsg());
	unmap_range(what, m);
	lease_release(what);
	change_finish(&c, what, 0);
}

static void run_revoke(const struct op *op, const char *what)
{
	uint64_t wlen = min_u64(op->len, fx.m.size - op->off);
	struct change c = {0};
	struct daxfs_ioc_lease st;
	struct daxfs_mapping *m;
	uint8_t *p;

	lease_take(what);
	p = map_range(what, op->off, op->len, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM,
		      &m);
	check_map("revoke: bytes seen through the long-term mapping", p, op->off, op->len);
	fill_pattern(dx.pat, op->off, wlen, op->num, fx.salt);
	memcpy(p, dx.pat, wlen);
	model_write(&fx.m, op->off, wlen, dx.pat, op->num);
	if (daxfs_persist(m, p, wlen))
		fail("%s: daxfs_persist before the break: %s", what, daxfs_client_errormsg());
	change_start(&c, op);
	wait_break(what, &c, op);
	/* Ignore the break: after lease_break_time the change goes ahead. */
	change_finish(&c, what, fx.lease_break_time);
	if (daxfs_lease_query(fx.fd, &st))
		fail("%s: daxfs_lease_query: %s", what, daxfs_client_errormsg());
	if (st.state != DAXFS_LEASE_REVOKED)
		fail("%s: the change completed but the lease is in state %u, not revoked", what,
		     st.state);
	if (!daxfs_persist(m, p, DXB) || errno != ENOLINK)
		fail("%s: daxfs_persist on a revoked mapping: %s, expected ENOLINK", what,
		     errno == ENOLINK ? "success" : strerror(errno));
	/* A late write by the holder must land in no file. */
	fill_pattern(p, op->off, op->len, op->num, fx.salt ^ STRAY_SALT);
	pool_check("revoke: the file after stray writes through the revoked mapping");
	unmap_range(what, m);
	lease_release(what);
}

enum run_result run_change(const struct op *op)
{
	char what[128], chg[80];
	static const char *const fam[] = {"pinned-change", "break", "revoke"};

	change_describe(chg, sizeof(chg), op);
	snprintf(what, sizeof(what), "%s: %s", fam[op_family(op->code)], chg);
	switch (op_family(op->code)) {
	case FAM_PIN:
		run_pinned(op, what);
		break;
	case FAM_BREAK:
		run_break(op, what);
		break;
	default:
		run_revoke(op, what);
		break;
	}
	return RUN_OK;
}

/* ---- DMA ---- */

struct dma_slot {
	struct iocb cb;
	struct daxfs_mapping *m;
	uint64_t len;
	bool busy;
};

/*
 * Move [off, off + len) between the file and the DMA file (at 0) with
 * O_DIRECT, each chunk pinned exactly while its I/O is in flight, as a
 * device would.
 */
static void dma_run(const struct op *op, bool in)
{
	struct dma_slot slot[DMA_DEPTH];
	uint64_t pos = 0;
	int inflight = 0;

	memset(slot, 0, sizeof(slot));
	while (pos < op->len || inflight) {
		struct io_event ev[DMA_DEPTH];
		struct timespec tmo = {COMPLETE_MS / 1000, 0};
		int n;

		for (int i = 0; i < DMA_DEPTH && pos < op->len; i++) {
			struct dma_slot *s = &slot[i];
			struct iocb *cbs[1] = {&s->cb};
			uint8_t *p;

			if (s->busy)
				continue;
			s->len = min_u64(op->dst, op->len - pos);
			p = map_range("dma", op->off + pos, s->len,
				      DAXFS_MAP_READ | (in ? DAXFS_MAP_WRITE : 0), &s->m);
			if (in)
				io_prep_pread(&s->cb, dx.dma_fd, p, s->len, (long long)pos);
			else
				io_prep_pwrite(&s->cb, dx.dma_fd, p, s->len, (long long)pos);
			s->cb.data = s;
			n = io_submit(dx.aio, 1, cbs);
			if (n != 1)
				fail("dma: io_submit: %s", strerror(n < 0 ? -n : EIO));
			s->busy = true;
			inflight++;
			pos += s->len;
		}
		n = io_getevents(dx.aio, 1, DMA_DEPTH, ev, &tmo);
		if (n < 0)
			fail("dma: io_getevents: %s", strerror(-n));
		if (n == 0)
			fail("dma: no transfer completed in %u s", COMPLETE_MS / 1000);
		for (int i = 0; i < n; i++) {
			struct dma_slot *s = ev[i].data;
			long res = (long)ev[i].res;

			if (res < 0 || (uint64_t)res != s->len)
				fail("dma: transfer of 0x%" PRIx64 " bytes: %s", s->len,
				     res < 0 ? strerror((int)-res) : "short");
			/* The transfer is over: so is its pin. */
			unmap_range("dma", s->m);
			s->busy = false;
			inflight--;
		}
	}
}

enum run_result run_dma(const struct op *op)
{
	ssize_t n;

	if (op->code == OP_DMA_IN) {
		/* The device's data: what this op writes at those offsets. */
		fill_pattern(dx.dma_buf, op->off, op->len, op->num, fx.salt);
		n = pwrite(dx.dma_fd, dx.dma_buf, op->len, 0);
		if (n < 0 || (uint64_t)n != op->len)
			fail("dma: writing the source: %s", n < 0 ? strerror(errno) : "short");
		read_check("dma in: read(2) before the transfer", op->off, op->len);
		dma_run(op, true);
		model_write(&fx.m, op->off, op->len, dx.dma_buf, op->num);
		read_check("dma in: read(2) after the transfer", op->off, op->len);
	} else {
		dma_run(op, false);
		n = pread(dx.dma_fd, dx.dma_buf, op->len, 0);
		if (n < 0 || (uint64_t)n != op->len)
			fail("dma: reading back: %s", n < 0 ? strerror(errno) : "short");
		check_map("dma out: bytes the device read from the file", dx.dma_buf, op->off,
			  op->len);
	}
	return RUN_OK;
}

/* ---- clone ---- */

enum run_result run_clone(const struct op *op)
{
	bool scratch = op->code == OP_CLONE_SCRATCH;
	struct daxfs_reflink_stats rs;
	uint64_t certain, pinned, extra;

	/* Before the clone: which source blocks the held mappings pin. */
	certain = share_clone(scratch, op->off, op->dst, op->len, &pinned);
	if (daxfs_reflink_range(fx.fd, op->dst, scratch ? fx.scratch_fd : fx.fd, op->off, op->len,
				&rs)) {
		if (errno == EOPNOTSUPP)
			return RUN_UNSUPPORTED; /* a pool made without reflink */
		fail("clone 0x%" PRIx64 " len 0x%" PRIx64 " to 0x%" PRIx64 ": %s", op->off, op->len,
		     op->dst, daxfs_client_errormsg());
	}
	model_copy_op(op, scratch);
	/*
	 * The blocks our held mappings pin are copied; every other block with
	 * data in it is shared.  With -P, a block shared with the copy file
	 * may also be pinned by another process's snapshot (of a range it
	 * cloned from that file) and be copied too: then which of our pages
	 * share is not known.
	 */
	extra = fx.multi ? rs.copied - min_u64(rs.copied, pinned) : 0;
	if (rs.copied < pinned || rs.copied > pinned + extra || rs.shared + extra < certain ||
	    rs.shared + rs.copied > op->len / DXB)
		fail("clone 0x%" PRIx64 " len 0x%" PRIx64 " to 0x%" PRIx64 ": shared %" PRIu64
		     " blocks and copied %" PRIu64 ", expected at least %" PRIu64
		     " shared and %" PRIu64 " copied (pinned by held mappings)",
		     op->off, op->len, op->dst, rs.shared, rs.copied, certain, pinned);
	if (extra)
		share_forget(op->dst, op->dst + op->len);
	dx.clone_pinned += pinned;
	read_check("clone: read(2) of the destination", op->dst, op->len);
	return RUN_OK;
}

/* ---- snapshot ---- */

/*
 * A snapshot mapping must still show the bytes it was made with in every
 * page that was certainly shared (bit i of shared: page i); a page that
 * may not have been (a hole the map backed, a preallocated block) shows
 * either those bytes or the file's, whole, and never the clone's.
 */
static void check_old(const char *what, const uint8_t *p, uint64_t off, uint64_t len,
		      uint64_t shared)
{
	for (uint64_t o = 0; o < len; o += DXB) {
		const uint8_t *now = fx.m.data + off + o;

		if (!memcmp(p + o, dx.old + o, DXB))
			continue;
		if (!(shared & (1ull << (o / DXB))) && !memcmp(p + o, now, DXB))
			continue;
		for (uint64_t i = o; i < o + DXB; i++)
			if (p[i] != dx.old[i])
				fail("%s: byte 0x%" PRIx64 " is 0x%02x through the mapping, was "
				     "0x%02x when it was made and the file has 0x%02x (a write "
				     "reached a block the snapshot holds)",
				     what, off + i, p[i], dx.old[i], now[i - o]);
	}
}

/*
 * Clone [off, off + len) into the snapshot file, so that its blocks are
 * shared, and map it for reading.  A plain read mapping is a snapshot
 * (DAXFS_MAP_SNAPSHOT): writes to the file and then to the clone both go
 * to copies, and the mapping keeps the old bytes.  With DAXFS_MAP_COHERENT
 * the map first gives the file its own copies (cow_blocks counts them), and
 * the mapping sees the write to the file.
 */
enum run_result run_snapshot(const struct op *op)
{
	bool coherent = op->code == OP_COHERENT;
	const char *what = coherent ? "coherent map" : "snapshot";
	struct daxfs_reflink_stats rs;
	struct daxfs_mapping *m;
	struct daxfs_stats st0, st;
	unsigned int flags;
	uint64_t certain = 0, mask = 0;
	uint8_t *p;
	ssize_t n;

	/* Pages with written data have blocks the clone must share. */
	for (uint64_t o = 0; o < op->len; o += DXB)
		if (model_has_data(&fx.m, op->off + o, DXB)) {
			mask |= 1ull << (o / DXB);
			certain++;
		}
	st0 = mount_stats();
	if (daxfs_reflink_range(dx.snap_fd, op->off, fx.fd, op->off, op->len, &rs)) {
		if (errno == EOPNOTSUPP)
			return RUN_UNSUPPORTED;
		fail("%s: clone of 0x%" PRIx64 " len 0x%" PRIx64 " into the snapshot file: %s",
		     what, op->off, op->len, daxfs_client_errormsg());
	}
	/* (With -P another process's snapshot may pin a block we share with
	 * the copy file: see run_clone.) */
	if ((rs.copied && !fx.multi) || rs.shared + rs.copied < certain)
		fail("%s: the clone shared %" PRIu64 " blocks and copied %" PRIu64
		     ", expected at least %" PRIu64 " shared and none copied",
		     what, rs.shared, rs.copied, certain);
	memcpy(dx.old, fx.m.data + op->off, op->len);
	p = map_range(what, op->off, op->len, DAXFS_MAP_READ | (coherent ? DAXFS_MAP_COHERENT : 0),
		      &m);
	flags = daxfs_mapping_flags(m);
	check_map("snapshot: bytes seen through the new mapping", p, op->off, op->len);
	st = mount_stats();
	if (coherent && (flags & DAXFS_MAP_SNAPSHOT))
		fail("%s: a DAXFS_MAP_COHERENT mapping came back as a snapshot (flags 0x%x)", what,
		     flags);
	if (coherent && st.cow_blocks - st0.cow_blocks < rs.shared)
		fail("%s: %" PRIu64 " blocks shared with the clone, but the map copied %" PRIu64
		     " (cow_blocks)",
		     what, rs.shared, st.cow_blocks - st0.cow_blocks);
	if (!coherent && rs.shared && !(flags & DAXFS_MAP_SNAPSHOT))
		fail("%s: a read mapping of %" PRIu64 " shared blocks is no snapshot (flags 0x%x)",
		     what, rs.shared, flags);
	/* Other processes' snapshots only add to the count. */
	if (!coherent && st.snapshot_blocks < rs.shared)
		fail("%s: the mount counts %" PRIu64
		     " blocks held by snapshots, this one holds %" PRIu64,
		     what, (uint64_t)st.snapshot_blocks, rs.shared);

	/* Write the file's range: a snapshot keeps the old bytes. */
	fill_pattern(dx.pat, op->off, op->len, op->num, fx.salt);
	n = pwrite(fx.fd, dx.pat, op->len, (off_t)op->off);
	if (n < 0 || (uint64_t)n != op->len)
		fail("%s: write 0x%" PRIx64 " len 0x%" PRIx64 ": %s", what, op->off, op->len,
		     n < 0 ? strerror(errno) : "short");
	model_write(&fx.m, op->off, op->len, dx.pat, op->num);
	share_forget(op->off, op->off + op->len);
	read_check("snapshot: read(2) after the write", op->off, op->len);
	if (coherent)
		check_map("coherent map: bytes seen after the write", p, op->off, op->len);
	else
		check_old("snapshot: after a write to the file", p, op->off, op->len, mask);

	/* Write the clone: now only the mapping holds the old blocks. */
	fill_pattern(dx.pat, op->off, op->len, op->num, fx.salt ^ SNAP_SALT);
	n = pwrite(dx.snap_fd, dx.pat, op->len, (off_t)op->off);
	if (n < 0 || (uint64_t)n != op->len)
		fail("%s: write to the snapshot file: %s", what, n < 0 ? strerror(errno) : "short");
	if (coherent)
		check_map("coherent map: after a write to the clone", p, op->off, op->len);
	else
		check_old("snapshot: after a write to the clone", p, op->off, op->len, mask);
	read_check("snapshot: read(2) after the write to the clone", op->off, op->len);

	unmap_range(what, m);
	if (!coherent) {
		dx.snaps++;
		dx.snap_blocks += rs.shared;
	}
	/* Our held mappings are write mappings: none is a snapshot. */
	if (!coherent && !fx.multi && (st = mount_stats()).snapshot_blocks)
		fail("%s: after the unmap the mount still counts %" PRIu64
		     " blocks held by snapshots",
		     what, (uint64_t)st.snapshot_blocks);
	if (ftruncate(dx.snap_fd, 0))
		fail("%s: truncate of the snapshot file: %s", what, strerror(errno));
	return RUN_OK;
}
