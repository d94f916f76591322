/* SPDX-License-Identifier: MIT */
/*
 * client.c - libdaxfs-client.
 *
 * A mapping is a run of virtual memory reserved once, into which each pool
 * extent the daemon reports is mapped at its file offset: the client sees
 * the file range contiguously, however the blocks lie in the pool, as a
 * DAX mmap would show it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libpmem.h>
#include "daxfs/daxfs_client.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

struct daxfs_client {
	int pool_fd;
	int readonly;		/* the pool is open read-only: read mappings only */
	int is_pmem;
	uint64_t pool_size;
};

struct daxfs_mapping {
	struct daxfs_client *c;
	int fd;
	uint64_t id;
	uint64_t off;
	size_t len;
	unsigned flags;	 /* as asked for: what a remap asks again */
	unsigned oflags; /* as the daemon answered (DAXFS_MAP_SNAPSHOT...) */
	char *addr;
};

static __thread char errmsg[256];

const char *daxfs_client_errormsg(void)
{
	return errmsg;
}

/* Record a message and leave errno as err; returns -1 for convenience. */
static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	errno = err;
	return -1;
}

struct daxfs_client *daxfs_client_open(int fd)
{
	struct daxfs_ioc_pool_info pi;
	struct daxfs_client *c;
	void *probe;

	if (ioctl(fd, DAXFS_IOC_POOL_INFO, &pi) < 0) {
		int e = errno;
		fail(e == ENOTTY || e == ENOSYS ? ENOTTY : e, "not a file on a daxfs mount: %s",
		     strerror(e));
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fail(ENOMEM, "out of memory");
		return NULL;
	}
	pi.path[sizeof(pi.path) - 1] = '\0';
	/* The daemon names the pool only to callers allowed direct access. */
	if (!pi.path[0]) {
		free(c);
		fail(EPERM, "direct access to this mount is not allowed for this user");
		return NULL;
	}
	/* Read-write if we may, else read-only: enough for read mappings. */
	c->pool_fd = open(pi.path, O_RDWR | O_CLOEXEC);
	if (c->pool_fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		c->pool_fd = open(pi.path, O_RDONLY | O_CLOEXEC);
		c->readonly = 1;
	}
	if (c->pool_fd < 0) {
		int e = errno;
		free(c);
		fail(e, "cannot open the pool %s: %s", pi.path, strerror(e));
		return NULL;
	}
	c->pool_size = pi.size;
	/* Persistence as the daemon does it: cache flushes on pmem (or when
	 * PMEM_IS_PMEM_FORCE says so), msync otherwise. */
	probe = mmap(NULL, 4096, PROT_READ, MAP_SHARED, c->pool_fd, 0);
	c->is_pmem = probe != MAP_FAILED && pmem_is_pmem(probe, 4096);
	if (probe != MAP_FAILED)
		munmap(probe, 4096);
	return c;
}

void daxfs_client_close(struct daxfs_client *c)
{
	if (!c)
		return;
	close(c->pool_fd);
	free(c);
}

/*
 * Map one pool extent at addr; MAP_SYNC where the pool is real DAX.
 *
 * On pmem the page tables are filled at once (MAP_POPULATE): one call
 * instead of a trapped fault per 4 KiB page at first touch, which on this
 * VM cost more than the copy itself (docs/performance.md).  The map has
 * pinned every block of the range already, so this keeps its cost linear
 * in the length, and no data moves.  Not in msync mode, where it would
 * read the whole range from the disk.
 */
static int map_extent(struct daxfs_client *c, void *addr, size_t len, int prot, uint64_t pool_off)
{
	int pop = c->is_pmem ? MAP_POPULATE : 0;
	void *p = mmap(addr, len, prot, MAP_SHARED_VALIDATE | MAP_SYNC | MAP_FIXED | pop,
		       c->pool_fd, (off_t)pool_off);

	if (p == MAP_FAILED)
		p = mmap(addr, len, prot, MAP_SHARED | MAP_FIXED | pop, c->pool_fd, (off_t)pool_off);
	return p == MAP_FAILED ? -1 : 0;
}

/* Map the extents of a map reply into the reservation at base. */
static int map_extents(struct daxfs_client *c, char *base, const struct daxfs_ioc_map *req,
		       int prot)
{
	for (uint32_t i = 0; i < req->nextents; i++)
		if (map_extent(c, base + (req->ext[i].file_off - req->offset), req->ext[i].len,
			       prot, req->ext[i].pool_off) < 0)
			return -1;
	return 0;
}

void *daxfs_map(struct daxfs_client *c, int fd, off_t off, size_t len, unsigned flags,
		struct daxfs_mapping **mp)
{
	struct daxfs_ioc_map req;
	struct daxfs_mapping *m;
	int prot = PROT_READ | ((flags & DAXFS_MAP_WRITE) ? PROT_WRITE : 0);
	char *base;

	if ((flags & DAXFS_MAP_WRITE) && c->readonly) {
		fail(EACCES, "the pool is open read-only: a write mapping needs write access to it");
		return NULL;
	}
	memset(&req, 0, sizeof(req));
	req.offset = (uint64_t)off;
	req.length = len;
	req.flags = flags;
	if (ioctl(fd, DAXFS_IOC_MAP, &req) < 0) {
		int e = errno;
		fail(e, "map of %zu bytes at %lld failed: %s", len, (long long)off, strerror(e));
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	base = mmap(NULL, req.length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!m || base == MAP_FAILED)
		goto undo;
	if (map_extents(c, base, &req, prot) < 0)
		goto undo;
	m->c = c;
	m->fd = fd;
	m->id = req.id;
	m->off = req.offset;
	m->len = req.length;
	m->flags = flags;
	m->oflags = req.flags;
	m->addr = base;
	*mp = m;
	return base;
undo: {
	int e = errno ? errno : ENOMEM;
	struct daxfs_ioc_unmap u = {req.id};

	if (base != MAP_FAILED)
		munmap(base, req.length);
	ioctl(fd, DAXFS_IOC_UNMAP, &u);
	free(m);
	fail(e, "cannot map the pool: %s", strerror(e));
	return NULL;
}
}

int daxfs_persist(struct daxfs_mapping *m, const void *addr, size_t len)
{
	const char *a = addr;
	struct daxfs_ioc_sync s;

	if (a < m->addr || a + len > m->addr + m->len)
		return fail(EINVAL, "range is outside the mapping");
	if (m->c->is_pmem)
		pmem_persist(addr, len);
	else if (pmem_msync(addr, len))
		return fail(errno, "msync: %s", strerror(errno));
	s.id = m->id;
	s.offset = m->off + (uint64_t)(a - m->addr);
	s.length = len;
	if (ioctl(m->fd, DAXFS_IOC_SYNC, &s) < 0)
		return fail(errno, "sync ioctl: %s", strerror(errno));
	return 0;
}

/* Make what was written through a write mapping durable. */
static void persist_all(const struct daxfs_mapping *m)
{
	if (!(m->flags & DAXFS_MAP_WRITE))
		return;
	if (m->c->is_pmem)
		pmem_persist(m->addr, m->len);
	else
		pmem_msync(m->addr, m->len);
}

int daxfs_unmap(struct daxfs_mapping *m)
{
	struct daxfs_ioc_unmap u = {m->id};
	int ret = 0;

	if (!m->id) {
		/* A failed daxfs_remap() left nothing mapped. */
		free(m);
		return 0;
	}
	persist_all(m);
	/* Stop using the blocks before the pins go. */
	munmap(m->addr, m->len);
	if (ioctl(m->fd, DAXFS_IOC_UNMAP, &u) < 0)
		ret = fail(errno, "unmap ioctl: %s", strerror(errno));
	free(m);
	return ret;
}

/* After a failed remap: nothing is mapped, and m can only be unmapped. */
static void *remap_failed(struct daxfs_mapping *m, char *base, size_t len, int e)
{
	struct daxfs_ioc_unmap u = {m->id};

	if (base)
		munmap(base, len);
	/* The daemon keeps the old window when it refuses the request
	 * outright: drop it, so that m is gone either way. */
	if (u.id)
		ioctl(m->fd, DAXFS_IOC_UNMAP, &u);
	m->id = 0;
	m->addr = NULL;
	m->len = 0;
	errno = e;
	return NULL;
}

void *daxfs_remap(struct daxfs_mapping *m, off_t off, size_t len)
{
	struct daxfs_ioc_map req;
	int prot = PROT_READ | ((m->flags & DAXFS_MAP_WRITE) ? PROT_WRITE : 0), e;
	char *base;

	if (!m->id) {
		fail(EINVAL, "the mapping is gone (an earlier remap failed)");
		return NULL;
	}
	persist_all(m);
	/* Stop using the old blocks before their pins go, keeping the
	 * addresses for the new window. */
	if (mmap(m->addr, m->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	    MAP_FAILED) {
		e = errno;
		fail(e, "cannot unmap the old window: %s", strerror(e));
		/* A failed MAP_FIXED may have unmapped part of the range:
		 * end the old window, as every failure here does. */
		return remap_failed(m, m->addr, m->len, e);
	}
	memset(&req, 0, sizeof(req));
	req.offset = (uint64_t)off;
	req.length = len;
	req.flags = m->flags | DAXFS_MAP_REPLACE;
	req.id = m->id;
	if (ioctl(m->fd, DAXFS_IOC_MAP, &req) < 0) {
		e = errno;
		fail(e, "remap to %zu bytes at %lld failed: %s", len, (long long)off, strerror(e));
		return remap_failed(m, m->addr, m->len, e);
	}
	/* The old window is gone: from here m names the new one. */
	m->id = req.id;
	base = m->addr;
	if (req.length != m->len) {
		munmap(m->addr, m->len);
		base = mmap(NULL, req.length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED) {
			e = errno;
			fail(e, "cannot map the pool: %s", strerror(e));
			return remap_failed(m, NULL, 0, e);
		}
	}
	if (map_extents(m->c, base, &req, prot) < 0) {
		e = errno;
		fail(e, "cannot map the pool: %s", strerror(e));
		return remap_failed(m, base, req.length, e);
	}
	m->off = req.offset;
	m->len = req.length;
	m->oflags = req.flags & ~DAXFS_MAP_REPLACE;
	m->addr = base;
	return base;
}

static int lease_op(int fd, uint32_t op, uint32_t flags, struct daxfs_ioc_lease *out)
{
	struct daxfs_ioc_lease l;

	memset(&l, 0, sizeof(l));
	l.op = op;
	l.flags = flags;
	if (ioctl(fd, DAXFS_IOC_LEASE, &l) < 0)
		return fail(errno, "lease: %s", strerror(errno));
	if (out)
		*out = l;
	return 0;
}

int daxfs_lease_take(int fd, unsigned flags)
{
	return lease_op(fd, DAXFS_LEASE_SET, flags, NULL);
}

int daxfs_lease_release(int fd)
{
	return lease_op(fd, DAXFS_LEASE_RELEASE, 0, NULL);
}

int daxfs_lease_query(int fd, struct daxfs_ioc_lease *state)
{
	return lease_op(fd, DAXFS_LEASE_GET, 0, state);
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int daxfs_lease_wait_break(int fd, int timeout_ms, struct daxfs_ioc_lease *state)
{
	uint64_t end = 0, now;
	struct daxfs_ioc_lease l;

	if (timeout_ms > 0)
		end = mono_ns() + (uint64_t)timeout_ms * 1000000ULL;
	for (;;) {
		memset(&l, 0, sizeof(l));
		l.op = DAXFS_LEASE_WAIT;
		if (timeout_ms < 0)
			l.deadline_ns = UINT64_MAX;
		else if (timeout_ms > 0)
			l.deadline_ns = end > (now = mono_ns()) ? end - now : 0;
		/* The daemon answers when the lease breaks (or the time is up). */
		if (ioctl(fd, DAXFS_IOC_LEASE, &l) == 0)
			break;
		/* A signal: as poll(2) was, wait on for what is left. */
		if (errno != EINTR)
			return fail(errno, "lease wait: %s", strerror(errno));
	}
	if (l.state != DAXFS_LEASE_BREAKING && l.state != DAXFS_LEASE_REVOKED)
		return 0;
	if (state)
		*state = l;
	return 1;
}

/* ---- block sharing ---- */

/* Both open files, on one mount.  0 or -1 with errno. */
static int same_mount(int dst_fd, int src_fd, struct stat *ds, struct stat *ss)
{
	if (fstat(src_fd, ss) < 0 || fstat(dst_fd, ds) < 0)
		return fail(errno, "fstat: %s", strerror(errno));
	/* A token means nothing to another mount's daemon: say so, as
	 * FICLONERANGE does, instead of a puzzling EBADF. */
	if (ss->st_dev != ds->st_dev)
		return fail(EXDEV, "the source and the destination are on different mounts");
	return 0;
}

/* A FUSE ioctl carries no descriptor: the source goes by a token. */
static int clone_token(int src_fd, uint64_t *token)
{
	int e;

	if (ioctl(src_fd, DAXFS_IOC_CLONE_SRC, token) == 0)
		return 0;
	e = errno == ENOSYS ? ENOTTY : errno;
	if (e == ENOTTY)
		return fail(e, "the source is not a file on a daxfs mount that can share blocks");
	return fail(e, "clone source: %s", strerror(e));
}

static int clone_ioctl(int dst_fd, uint64_t dst_off, uint64_t token, uint64_t src_off, uint64_t len,
		       struct daxfs_reflink_stats *st)
{
	struct daxfs_ioc_clone req;
	int e;

	memset(&req, 0, sizeof(req));
	req.src = token;
	req.src_offset = src_off;
	req.src_length = len;
	req.dest_offset = dst_off;
	if (ioctl(dst_fd, DAXFS_IOC_CLONE_RANGE, &req) < 0) {
		e = errno == ENOSYS ? ENOTTY : errno;
		return fail(e, "clone of %llu bytes at %llu to %llu failed: %s",
			    (unsigned long long)len, (unsigned long long)src_off,
			    (unsigned long long)dst_off, strerror(e));
	}
	if (st) {
		st->shared = req.shared;
		st->copied = req.copied;
	}
	return 0;
}

int daxfs_reflink_range(int dst_fd, uint64_t dst_off, int src_fd, uint64_t src_off, uint64_t len,
			struct daxfs_reflink_stats *st)
{
	struct stat ss, ds;
	uint64_t token;

	if (st)
		st->shared = st->copied = 0;
	if (same_mount(dst_fd, src_fd, &ds, &ss) < 0 || clone_token(src_fd, &token) < 0)
		return -1;
	return clone_ioctl(dst_fd, dst_off, token, src_off, len, st);
}

int daxfs_reflink(int dst_fd, int src_fd, struct daxfs_reflink_stats *st)
{
	/* As FICLONE: all of the source at offset 0 of the destination. */
	return daxfs_reflink_range(dst_fd, 0, src_fd, 0, 0, st);
}

uint64_t daxfs_mapping_id(const struct daxfs_mapping *m)
{
	return m->id;
}

size_t daxfs_mapping_length(const struct daxfs_mapping *m)
{
	return m->len;
}

void *daxfs_mapping_addr(const struct daxfs_mapping *m)
{
	return m->addr;
}

unsigned daxfs_mapping_flags(const struct daxfs_mapping *m)
{
	return m->oflags;
}
