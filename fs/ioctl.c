// SPDX-License-Identifier: MIT
/*
 * ioctl.c - the daxfs ioctls of a mounted filesystem.
 *
 * All of them are restricted FUSE ioctls: the kernel copies in and out
 * exactly _IOC_SIZE(cmd) bytes, as the direction bits say.  The table
 * below is the one place that knows the commands; a new ioctl is a new
 * row and a handler.
 */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <linux/ioctl.h>

#include "daemon.h"
#include "daxfs/daxfs_ioctl.h"

/* Big enough for the argument of any command in the table. */
union dfs_ioc_arg {
	struct daxfs_ioc_falloc falloc;
	struct daxfs_ioc_pool_info pool_info;
	struct daxfs_ioc_map map;
	struct daxfs_ioc_unmap unmap;
	struct daxfs_ioc_sync sync;
	struct daxfs_ioc_pins pins;
	struct daxfs_stats stats;
	struct daxfs_ioc_lease lease;
	struct daxfs_ioc_leases leases;
	struct daxfs_ioc_clone clone;
	uint64_t token;
};

/*
 * One ioctl in flight.  It lives on the heap because a map or a layout
 * change may have to wait for pins, and then is answered later, from
 * another thread, by dfs_ioc_finish().
 */
struct dfs_ioc_call {
	fuse_req_t req;
	fuse_ino_t ino;
	struct dfs_file *file; /* NULL on a directory */
	struct daxfs_cred cred;
	size_t out_size;       /* 0: nothing to copy out */
	int waits;             /* submitted to lib/ with w armed */
	struct dfs_wait w;
	union dfs_ioc_arg in;
	union dfs_ioc_arg out;
};

/* A handler's return: answered later through dfs_ioc_finish(). */
#define DFS_IOC_LATER 1

struct dfs_ioc_cmd {
	unsigned int cmd;
	int (*handler)(struct dfs_ioc_call *call);
};

static void dfs_ioc_finish(struct dfs_ioc_call *call, int err)
{
	if (call->waits)
		dfs_wait_answering(&call->w);
	if (err < 0)
		fuse_reply_err(call->req, -err);
	else
		fuse_reply_ioctl(call->req, 0, call->out_size ? &call->out : NULL, call->out_size);
	if (!call->waits || dfs_wait_put(&call->w))
		free(call);
}

/* Before handing call to lib/ for a request that may wait: it answers
 * interrupts (intr.c). */
static void call_may_wait(struct dfs_ioc_call *call)
{
	call->waits = 1;
	dfs_wait_arm(&call->w, call->req, call->ino, call);
}

static struct daxfs *call_fs(const struct dfs_ioc_call *call)
{
	return dfs_ctx(call->req)->fs;
}

/*
 * The kernel did not see a change that moved data from off on and changed
 * the size: tell it before the caller learns the call is done.
 *
 * Invalidation drops the pages and marks the attributes stale, but i_size
 * keeps its old value until the next getattr, and some paths use it
 * without asking (copy_file_range's range checks, page faults: a fault
 * past a stale smaller size is SIGBUS).  Storing the true last page of the
 * file makes the kernel raise i_size at once (a store of nothing does
 * not).  A store cannot lower i_size, so after a collapse the larger size
 * lasts until the next getattr; reads there come back short, not wrong.
 *
 * (With -s and dirty shared mappings of the file the kernel would wait for
 * a write that this thread should serve; the default multithreaded loop
 * has no such problem.)
 */
static void kernel_size_changed(struct dfs_ctx *ctx, fuse_ino_t ino, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	char page[DFS_BLKSIZE];
	struct stat st;
	off_t start;
	ssize_t n;

	fuse_lowlevel_notify_inval_inode(ctx->se, ino, off, 0);
	if (daxfs_getattr(ctx->fs, ino, &st) < 0 || st.st_size == 0)
		return;
	start = (st.st_size - 1) & ~(off_t)(DFS_BLKSIZE - 1);
	n = daxfs_pread(ctx->fs, ino, page, (size_t)(st.st_size - start), start);
	if (n <= 0)
		return;
	bv.buf[0].mem = page;
	bv.buf[0].size = (size_t)n;
	fuse_lowlevel_notify_store(ctx->se, ino, start, &bv, 0);
}

static void falloc_done(void *p, int err)
{
	struct dfs_ioc_call *call = p;

	if (!err) {
		kernel_size_changed(dfs_ctx(call->req), call->ino, (off_t)call->in.falloc.offset);
		/* The kernel does not see this as a write: all the bits. */
		dfs_drop_privs(call->req, call->ino, 1);
	}
	dfs_ioc_finish(call, err);
}

static int ioc_fallocate(struct dfs_ioc_call *call)
{
	const struct daxfs_ioc_falloc *a = &call->in.falloc;

	/* The checks of fallocate(2), in its order. */
	if (a->reserved)
		return -EINVAL;
	if (a->mode != FALLOC_FL_COLLAPSE_RANGE && a->mode != FALLOC_FL_INSERT_RANGE)
		return -EINVAL;
	if (a->offset > INT64_MAX || a->length == 0 || a->length > INT64_MAX)
		return -EINVAL;
	if (!call->file || (call->file->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (a->offset + a->length > INT64_MAX)
		return -EFBIG;
	/* It moves blocks: it may wait for pins (docs/pins.md). */
	call_may_wait(call);
	daxfs_fallocate_async(call_fs(call), call->ino, (int)a->mode, (off_t)a->offset,
			      (off_t)a->length, falloc_done, call);
	return DFS_IOC_LATER;
}

/* Copy a string into a fixed field, NUL-padded, cut off if too long. */
static void copy_field(char *dst, size_t size, const char *src, int need_nul)
{
	size_t len = src ? strnlen(src, size) : 0;

	if (need_nul && len == size)
		len--;
	memset(dst, 0, size);
	if (len)
		memcpy(dst, src, len);
}

static int ioc_pool_info(struct dfs_ioc_call *call)
{
	struct daxfs_ioc_pool_info *o = &call->out.pool_info;
	struct daxfs_pool_info pi;

	memset(&pi, 0, sizeof(pi));
	daxfs_pool_info(call_fs(call), &pi);
	memcpy(o->uuid, pi.uuid, sizeof(o->uuid));
	o->size = pi.size;
	o->block_size = DFS_BLKSIZE;
	o->is_pmem = pi.is_pmem ? 1 : 0;
	o->state = (pi.needs_fsck ? DAXFS_POOL_NEEDS_FSCK : 0) | (pi.readonly ? DAXFS_POOL_READONLY : 0);
	/* The ioctl header's bits are the on-media ones (format.h). */
	o->features = pi.features;
	/* The on-media label is NUL-padded and may fill all 64 bytes. */
	copy_field(o->label, sizeof(o->label), pi.label, 0);
	/* The path only to those who may open the pool anyway (access.c). */
	copy_field(o->path, sizeof(o->path), dfs_direct_allowed(call->req) ? pi.path : NULL, 1);
	return 0;
}

/* ---- direct access (docs/pins.md) ---- */

/* Drop the kernel's cached pages of a range written behind its back. */
static void inval_range(const struct dfs_ioc_call *call, uint64_t off, uint64_t len)
{
	if (len)
		fuse_lowlevel_notify_inval_inode(dfs_ctx(call->req)->se, call->ino, (off_t)off,
						 (off_t)len);
}

static void map_done(void *p, int err)
{
	struct dfs_ioc_call *call = p;

	if (!err && (call->out.map.flags & DAXFS_MAP_WRITE))
		call->file->mapped_write = 1;
	/* Backing holes changed the block count the kernel has cached. */
	if (!err && (call->out.map.flags & DAXFS_MAP_BACKED))
		fuse_lowlevel_notify_inval_inode(dfs_ctx(call->req)->se, call->ino, -1, 0);
	dfs_ioc_finish(call, err);
}

static int ioc_map(struct dfs_ioc_call *call)
{
	if (!dfs_direct_allowed(call->req))
		return -EPERM;
	if (!call->file)
		return -EISDIR;
	call->out.map = call->in.map;
	if (call->in.map.flags & DAXFS_MAP_REPLACE) {
		uint64_t off = 0, len = 0;

		/* What ioc_unmap does for the window the map drops; its
		 * holder has stopped writing through it. */
		if (daxfs_mapping_range(call_fs(call), call->file->file, call->in.map.id, &off,
					&len) == -EINVAL)
			return -EINVAL;
		if (call->file->mapped_write)
			inval_range(call, off, len);
	}
	/* Waits behind a pending layout change of the file, threadless. */
	call_may_wait(call);
	daxfs_mapping_create_async(call_fs(call), call->file->file, &call->out.map, &call->cred,
				   map_done, call);
	return DFS_IOC_LATER;
}

static int ioc_unmap(struct dfs_ioc_call *call)
{
	uint64_t off = 0, len = 0;
	int ret;

	if (!call->file)
		return -EISDIR;
	ret = daxfs_mapping_range(call_fs(call), call->file->file, call->in.unmap.id, &off, &len);
	if (ret == -EINVAL)
		return ret;
	ret = daxfs_mapping_drop(call_fs(call), call->file->file, call->in.unmap.id);
	if (!ret && call->file->mapped_write)
		inval_range(call, off, len);
	return ret;
}

static int ioc_sync(struct dfs_ioc_call *call)
{
	uint64_t off = call->in.sync.offset, len = call->in.sync.length;
	int ret;

	if (!call->file)
		return -EISDIR;
	ret = daxfs_mapping_range(call_fs(call), call->file->file, call->in.sync.id, &off, &len);
	if (ret < 0)
		return ret; /* unknown id, or revoked: ENOLINK */
	inval_range(call, off, len);
	return 0;
}

static int ioc_pins(struct dfs_ioc_call *call)
{
	const struct daxfs_ioc_pins *in = &call->in.pins;
	struct daxfs_ioc_pins *o = &call->out.pins;
	int n;

	if (in->flags & ~(uint32_t)DAXFS_PINS_THIS_FILE)
		return -EINVAL;
	/* Only one's own mappings unless privileged (access.c). */
	n = daxfs_mapping_list(call_fs(call), in->cursor,
			       (in->flags & DAXFS_PINS_THIS_FILE) ? call->ino : 0,
			       dfs_direct_allowed(call->req) ? NULL : &call->cred.uid, o->pin,
			       DAXFS_PINS_MAX);
	o->cursor = in->cursor;
	o->flags = in->flags;
	o->count = (uint32_t)n;
	return 0;
}

static int ioc_stats(struct dfs_ioc_call *call)
{
	daxfs_get_stats(call_fs(call), &call->out.stats);
	return 0;
}

/* ---- layout leases (docs/leases.md) ---- */

static void lease_wait_done(void *p, int err)
{
	dfs_ioc_finish(p, err);
}

static int ioc_lease(struct dfs_ioc_call *call)
{
	if (!dfs_direct_allowed(call->req))
		return -EPERM;
	if (!call->file)
		return -EISDIR;
	call->out.lease = call->in.lease;
	if (call->in.lease.op == DAXFS_LEASE_WAIT) {
		/* Answered when the lease breaks, threadless (lib/lease_wait.c). */
		call_may_wait(call);
		daxfs_lease_wait_async(call_fs(call), call->file->file, &call->out.lease,
				       lease_wait_done, call);
		return DFS_IOC_LATER;
	}
	return daxfs_lease(call_fs(call), call->file->file, &call->out.lease, &call->cred);
}

static int ioc_leases(struct dfs_ioc_call *call)
{
	const struct daxfs_ioc_leases *in = &call->in.leases;
	struct daxfs_ioc_leases *o = &call->out.leases;
	int n;

	if (in->flags & ~(uint32_t)DAXFS_PINS_THIS_FILE)
		return -EINVAL;
	n = daxfs_lease_list(call_fs(call), in->cursor,
			     (in->flags & DAXFS_PINS_THIS_FILE) ? call->ino : 0,
			     dfs_direct_allowed(call->req) ? NULL : &call->cred.uid, o->lease,
			     DAXFS_LEASES_MAX);
	o->cursor = in->cursor;
	o->flags = in->flags;
	o->count = (uint32_t)n;
	return 0;
}

/* ---- block sharing (reflink) ---- */

static int ioc_clone_src(struct dfs_ioc_call *call)
{
	if (!call->file)
		return -EISDIR;
	return daxfs_clone_token(call_fs(call), call->file->file, &call->out.token);
}

static int ioc_clone_range(struct dfs_ioc_call *call)
{
	int ret;

	if (!call->file)
		return -EISDIR;
	call->out.clone = call->in.clone;
	ret = daxfs_clone_ioctl(call_fs(call), call->file->file, &call->out.clone);
	/* The kernel's pages of the range and its size are stale, as after
	 * a layout change it did not see: even when no block was shared or
	 * copied, since a clone of holes punches the destination's range and
	 * may still grow the file. */
	if (!ret)
		kernel_size_changed(dfs_ctx(call->req), call->ino,
				    (off_t)call->in.clone.dest_offset);
	return ret;
}

static const struct dfs_ioc_cmd dfs_ioc_cmds[] = {
    {DAXFS_IOC_CLONE_SRC, ioc_clone_src},
    {DAXFS_IOC_CLONE_RANGE, ioc_clone_range},
    {DAXFS_IOC_FALLOCATE, ioc_fallocate},
    {DAXFS_IOC_POOL_INFO, ioc_pool_info},
    {DAXFS_IOC_MAP, ioc_map},
    {DAXFS_IOC_UNMAP, ioc_unmap},
    {DAXFS_IOC_SYNC, ioc_sync},
    {DAXFS_IOC_PINS, ioc_pins},
    {DAXFS_IOC_STATS, ioc_stats},
    {DAXFS_IOC_LEASE, ioc_lease},
    {DAXFS_IOC_LEASES, ioc_leases},
};
void dfs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	       struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
	       size_t out_bufsz)
{
	const struct dfs_ioc_cmd *c = NULL;
	struct dfs_ioc_call *call;
	size_t size;
	unsigned dir;
	int ret;

	(void)arg;
	/* 32-bit callers would need their own layouts; there are none. */
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	for (size_t i = 0; i < sizeof(dfs_ioc_cmds) / sizeof(dfs_ioc_cmds[0]); i++) {
		if (dfs_ioc_cmds[i].cmd == cmd) {
			c = &dfs_ioc_cmds[i];
			break;
		}
	}
	if (!c) {
		fuse_reply_err(req, ENOTTY);
		return;
	}

	size = _IOC_SIZE(cmd);
	dir = _IOC_DIR(cmd);
	if (size > sizeof(union dfs_ioc_arg) || ((dir & _IOC_WRITE) && in_bufsz < size) ||
	    ((dir & _IOC_READ) && out_bufsz < size)) {
		fuse_reply_err(req, EINVAL);
		return;
	}

	call = calloc(1, sizeof(*call));
	if (!call) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (dir & _IOC_WRITE)
		memcpy(&call->in, in_buf, size);
	call->req = req;
	call->ino = ino;
	/* Directories are opened without a handle (fh 0). */
	call->file = (flags & FUSE_IOCTL_DIR) ? NULL : dfs_file(fi);
	call->cred.uid = fuse_req_ctx(req)->uid;
	call->cred.gid = fuse_req_ctx(req)->gid;
	call->cred.pid = fuse_req_ctx(req)->pid;
	call->out_size = (dir & _IOC_READ) ? size : 0;
	ret = c->handler(call);
	if (ret != DFS_IOC_LATER)
		dfs_ioc_finish(call, ret);
	else if (call->waits && dfs_wait_submitted(&call->w))
		free(call);
}
