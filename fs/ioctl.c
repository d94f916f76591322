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
};

struct dfs_ioc_call {
	fuse_req_t req;
	fuse_ino_t ino;
	struct dfs_file *file; /* NULL on a directory */
	const union dfs_ioc_arg *in;
	union dfs_ioc_arg *out;
};

struct dfs_ioc_cmd {
	unsigned int cmd;
	int (*handler)(const struct dfs_ioc_call *call);
};

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

static int ioc_fallocate(const struct dfs_ioc_call *call)
{
	const struct daxfs_ioc_falloc *a = &call->in->falloc;
	struct dfs_ctx *ctx = dfs_ctx(call->req);
	int ret;

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

	ret = daxfs_fallocate(ctx->fs, call->ino, (int)a->mode, (off_t)a->offset, (off_t)a->length);
	if (ret < 0)
		return ret;

	kernel_size_changed(ctx, call->ino, (off_t)a->offset);
	/* As fallocate(2) would; the kernel does not see a modification. */
	dfs_drop_privs(call->req, call->ino, 1);
	return 0;
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

static int ioc_pool_info(const struct dfs_ioc_call *call)
{
	struct daxfs_ioc_pool_info *o = &call->out->pool_info;
	struct daxfs_pool_info pi;

	memset(&pi, 0, sizeof(pi));
	daxfs_pool_info(dfs_ctx(call->req)->fs, &pi);
	memcpy(o->uuid, pi.uuid, sizeof(o->uuid));
	o->size = pi.size;
	o->block_size = DFS_BLKSIZE;
	o->is_pmem = pi.is_pmem ? 1 : 0;
	/* The on-media label is NUL-padded and may fill all 64 bytes. */
	copy_field(o->label, sizeof(o->label), pi.label, 0);
	copy_field(o->path, sizeof(o->path), pi.path, 1);
	return 0;
}

static const struct dfs_ioc_cmd dfs_ioc_cmds[] = {
    {DAXFS_IOC_FALLOCATE, ioc_fallocate},
    {DAXFS_IOC_POOL_INFO, ioc_pool_info},
};

void dfs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	       struct fuse_file_info *fi, unsigned flags, const void *in_buf, size_t in_bufsz,
	       size_t out_bufsz)
{
	const struct dfs_ioc_cmd *c = NULL;
	union dfs_ioc_arg in, out;
	struct dfs_ioc_call call;
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

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	if (dir & _IOC_WRITE)
		memcpy(&in, in_buf, size);

	call.req = req;
	call.ino = ino;
	/* Directories are opened without a handle (fh 0). */
	call.file = (flags & FUSE_IOCTL_DIR) ? NULL : dfs_file(fi);
	call.in = &in;
	call.out = &out;
	ret = c->handler(&call);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (dir & _IOC_READ)
		fuse_reply_ioctl(req, 0, &out, size);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}
