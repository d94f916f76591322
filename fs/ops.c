// SPDX-License-Identifier: MIT
/*
 * ops.c - the FUSE low-level request handlers.
 *
 * Each handler turns one request into a lib/ call and answers it on every
 * path.  lib/ calls return -errno, hence fuse_reply_err(req, -ret).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static inline struct daxfs *req_fs(fuse_req_t req)
{
	return dfs_ctx(req)->fs;
}

/* ---- credentials ---- */

#define DFS_CRED_GROUPS 32

struct dfs_cred {
	struct daxfs_cred c;
	gid_t small[DFS_CRED_GROUPS];
	gid_t *big;
};

/*
 * The caller's fsuid/fsgid/pid and supplementary groups, which lib/ needs
 * for the owner of new inodes and the setgid rules of chmod/chown.
 * Reading the groups can fail (the caller may be gone); lib/ then sees
 * only the primary group, which is the conservative answer.
 */
static void cred_get(fuse_req_t req, struct dfs_cred *dc)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	int n;

	memset(&dc->c, 0, sizeof(dc->c));
	dc->big = NULL;
	dc->c.uid = fc->uid;
	dc->c.gid = fc->gid;
	dc->c.pid = fc->pid;

	n = fuse_req_getgroups(req, DFS_CRED_GROUPS, dc->small);
	if (n <= 0)
		return;
	if (n <= DFS_CRED_GROUPS) {
		dc->c.groups = dc->small;
		dc->c.ngroups = n;
		return;
	}
	dc->big = calloc(n, sizeof(gid_t));
	if (!dc->big)
		return;
	/* The set may change between the calls; take what the second says. */
	int m = fuse_req_getgroups(req, n, dc->big);
	if (m <= 0)
		return;
	dc->c.groups = dc->big;
	dc->c.ngroups = m < n ? m : n;
}

static void cred_put(struct dfs_cred *dc)
{
	free(dc->big);
}

/* ---- set-id bits after a modification ---- */

/* The rules are lib/'s (daxfs_drop_privs); the daemon supplies the caller
 * and tells the kernel its cached mode is stale. */
void dfs_drop_privs(fuse_req_t req, fuse_ino_t ino, int all)
{
	struct dfs_ctx *ctx = dfs_ctx(req);
	struct dfs_cred dc;
	struct stat st;

	/* Every write comes here: skip reading the caller's groups (a read
	 * of /proc) unless there is a set-id bit to clear. */
	if (fuse_req_ctx(req)->uid == 0 || daxfs_getattr(ctx->fs, ino, &st) < 0 ||
	    !(st.st_mode & (S_ISUID | S_ISGID)))
		return;
	cred_get(req, &dc);
	if (daxfs_drop_privs(ctx->fs, ino, &dc.c, all) > 0)
		/* Attributes only: takes no lock the request may hold. */
		fuse_lowlevel_notify_inval_inode(ctx->se, ino, -1, 0);
	cred_put(&dc);
}

/* ---- replies ---- */

static void fill_attr(struct stat *st)
{
	st->st_blksize = DFS_BLKSIZE;
}

static void fill_entry(struct fuse_entry_param *e, const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->attr = *st;
	fill_attr(&e->attr);
	e->attr_timeout = DFS_ATTR_TIMEOUT;
	e->entry_timeout = DFS_ENTRY_TIMEOUT;
}

/*
 * Answer a request that took a lookup reference on st->st_ino.  If the
 * kernel no longer waits for the answer (interrupted), it will never send
 * the matching forget, so drop the reference here.
 */
static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e;

	fill_entry(&e, st);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		daxfs_forget(req_fs(req), e.ino, 1);
}

static void reply_attr(fuse_req_t req, struct stat *st)
{
	fill_attr(st);
	fuse_reply_attr(req, st, DFS_ATTR_TIMEOUT);
}

/* ---- session ---- */

static void dfs_init(void *userdata, struct fuse_conn_info *conn)
{
	const struct dfs_ctx *ctx = userdata;

	conn->max_write = DFS_MAX_WRITE;
	/* libfuse refuses an init() that disagrees with -o max_read=. */
	if (ctx->opts->max_read)
		conn->max_read = ctx->opts->max_read;

	/* Data must be persistent when write returns: no kernel write-back. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * Let the kernel clear setuid/setgid with an explicit setattr on
	 * write and truncate rather than expecting lib/ to do it.
	 */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/*
	 * With atomic O_TRUNC the kernel skips that setattr for
	 * open(O_TRUNC), and the setuid/setgid bits would survive; without
	 * it the kernel truncates with a setattr that also clears them.
	 */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/*
	 * Reads reply with iovecs that point into the pool; splicing them
	 * would let the kernel see the pages after daxfs_read_end().
	 */
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* No getlk/setlk/flock: locks stay local to the kernel. */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);

	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
}

static void dfs_destroy(void *userdata)
{
	/*
	 * Nothing to do: the kernel has dropped all its references, and
	 * main() closes the pool once the session is gone.
	 */
	(void)userdata;
}

/* ---- names and attributes ---- */

static void dfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int ret = daxfs_lookup(req_fs(req), parent, name, &st);

	if (ret == -ENOENT) {
		/* A negative entry: every create goes through this mount. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = DFS_ENTRY_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_entry(req, &st);
}

static void dfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	daxfs_forget(req_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void dfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct daxfs *fs = req_fs(req);

	for (size_t i = 0; i < count; i++)
		daxfs_forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void dfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	(void)fi;
	ret = daxfs_getattr(req_fs(req), ino, &st);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_attr(req, &st);
}

/* A setattr in flight: it may wait for pinned blocks (docs/pins.md). */
struct setattr_req {
	struct dfs_wait w;
	fuse_req_t req;
	struct daxfs *fs;
	fuse_ino_t ino;
	int size_change;
	struct dfs_cred dc;
	struct stat st;
};

static void setattr_done(void *p, int err)
{
	struct setattr_req *r = p;

	/* Truncation also clears the set-id bits the kernel leaves. */
	if (!err && r->size_change && daxfs_drop_privs(r->fs, r->ino, &r->dc.c, 0) > 0)
		err = daxfs_getattr(r->fs, r->ino, &r->st);
	dfs_wait_answering(&r->w);
	if (err < 0)
		fuse_reply_err(r->req, -err);
	else
		reply_attr(r->req, &r->st);
	cred_put(&r->dc);
	if (dfs_wait_put(&r->w))
		free(r);
}

static void dfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct daxfs *fs = req_fs(req);
	struct setattr_req *r;
	struct daxfs_setattr sa;
	struct stat st;
	int ret;

	(void)fi;
	memset(&sa, 0, sizeof(sa));
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= DX_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= DX_SET_UID;
		sa.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= DX_SET_GID;
		sa.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		sa.valid |= DX_SET_SIZE;
		sa.size = attr->st_size;
	}
	/*
	 * The kernel sends *_NOW together with the plain bit.  Pass both and
	 * a current timestamp, so lib/ gets "now" whichever bit it honours.
	 */
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa.valid |= DX_SET_ATIME | DX_SET_ATIME_NOW;
		clock_gettime(CLOCK_REALTIME, &sa.atime);
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa.valid |= DX_SET_ATIME;
		sa.atime = attr->st_atim;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa.valid |= DX_SET_MTIME | DX_SET_MTIME_NOW;
		clock_gettime(CLOCK_REALTIME, &sa.mtime);
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa.valid |= DX_SET_MTIME;
		sa.mtime = attr->st_mtim;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa.valid |= DX_SET_CTIME;
		sa.ctime = attr->st_ctim;
	}

	/* Nothing daxfs stores was asked for: do not touch ctime. */
	if (!sa.valid) {
		ret = daxfs_getattr(fs, ino, &st);
		if (ret < 0)
			fuse_reply_err(req, -ret);
		else
			reply_attr(req, &st);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r->req = req;
	r->fs = fs;
	r->ino = ino;
	r->size_change = !!(sa.valid & DX_SET_SIZE);
	cred_get(req, &r->dc);
	/* A truncate may have to wait for pinned blocks: it replies from
	 * setattr_done, maybe later and from another thread, or EINTR if
	 * interrupted meanwhile. */
	dfs_wait_arm(&r->w, req, ino, r);
	daxfs_setattr_async(fs, ino, &sa, &r->dc.c, &r->st, setattr_done, r);
	if (dfs_wait_submitted(&r->w))
		free(r);
}

static void dfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct daxfs *fs = req_fs(req);
	char small[PATH_MAX + 1];
	char *buf = small;
	size_t size = sizeof(small);
	ssize_t n;

	n = daxfs_readlink(fs, ino, buf, size);
	if (n >= 0 && (size_t)n >= size) {
		/* Longer than PATH_MAX: should not exist, but answer it whole. */
		size = (size_t)n + 1;
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = daxfs_readlink(fs, ino, buf, size);
		if (n >= 0 && (size_t)n >= size)
			n = -ENAMETOOLONG; /* grew in between */
	}
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
	} else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
	if (buf != small)
		free(buf);
}

static void dfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct dfs_cred dc;
	struct stat st;
	int ret;

	cred_get(req, &dc);
	ret = daxfs_mknod(req_fs(req), parent, name, mode, rdev, &dc.c, &st);
	cred_put(&dc);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_entry(req, &st);
}

static void dfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct dfs_cred dc;
	struct stat st;
	int ret;

	cred_get(req, &dc);
	ret = daxfs_mkdir(req_fs(req), parent, name, mode, &dc.c, &st);
	cred_put(&dc);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_entry(req, &st);
}

static void dfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct dfs_cred dc;
	struct stat st;
	int ret;

	cred_get(req, &dc);
	ret = daxfs_symlink(req_fs(req), parent, name, link, &dc.c, &st);
	cred_put(&dc);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_entry(req, &st);
}

static void dfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct stat st;
	int ret = daxfs_link(req_fs(req), ino, newparent, newname, &st);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	reply_entry(req, &st);
}

static void dfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -daxfs_unlink(req_fs(req), parent, name));
}

static void dfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -daxfs_rmdir(req_fs(req), parent, name));
}

static void dfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -daxfs_rename(req_fs(req), parent, name, newparent, newname, flags));
}

/* ---- open files ---- */

/* Every open file (open_lock), so that a stop can free what is left. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dfs_file *open_files;

void dfs_forget_files(struct daxfs *fs)
{
	pthread_mutex_lock(&open_lock);
	while (open_files) {
		struct dfs_file *h = open_files;

		open_files = h->next;
		daxfs_file_forget(fs, h->file);
		free(h);
	}
	pthread_mutex_unlock(&open_lock);
}

/* Open ino for fi->flags and store the handle in fi->fh. */
static int open_handle(struct daxfs *fs, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_file *h = malloc(sizeof(*h));
	int ret;

	if (!h)
		return -ENOMEM;
	ret = daxfs_open_file(fs, ino, fi->flags, &h->file);
	if (ret < 0) {
		free(h);
		return ret;
	}
	h->flags = fi->flags;
	h->ino = ino;
	h->mapped_write = 0;
	pthread_mutex_lock(&open_lock);
	h->prev = NULL;
	h->next = open_files;
	if (open_files)
		open_files->prev = h;
	open_files = h;
	pthread_mutex_unlock(&open_lock);
	fi->fh = (uintptr_t)h;
	return 0;
}

static void close_handle(struct daxfs *fs, struct fuse_file_info *fi)
{
	struct dfs_file *h = dfs_file(fi);

	if (!h)
		return;
	pthread_mutex_lock(&open_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		open_files = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&open_lock);
	/* Drops the file's mappings and lease; what waited for them runs. */
	daxfs_release(fs, h->file);
	free(h);
	fi->fh = 0;
}

static void dfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct daxfs *fs = req_fs(req);
	int ret;

	ret = open_handle(fs, ino, fi);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	/*
	 * The kernel passes O_TRUNC only with atomic O_TRUNC, which init
	 * turns off; stay correct should it ever be passed.
	 */
	if (fi->flags & O_TRUNC) {
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 0};
		struct dfs_cred dc;
		struct stat st;

		cred_get(req, &dc);
		ret = daxfs_setattr(fs, ino, &sa, &dc.c, &st);
		cred_put(&dc);
		if (ret < 0) {
			close_handle(fs, fi);
			fuse_reply_err(req, -ret);
			return;
		}
	}
	/* An interrupted open never gets its release. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		close_handle(fs, fi);
}

static void dfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct daxfs *fs = req_fs(req);
	struct fuse_entry_param e;
	struct dfs_cred dc;
	struct stat st;
	int ret;

	cred_get(req, &dc);
	ret = daxfs_mknod(fs, parent, name, S_IFREG | (mode & ~S_IFMT), 0, &dc.c, &st);
	cred_put(&dc);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	ret = open_handle(fs, st.st_ino, fi);
	if (ret < 0) {
		/* The name stays, as after a failed open(O_CREAT) elsewhere. */
		daxfs_forget(fs, st.st_ino, 1);
		fuse_reply_err(req, -ret);
		return;
	}
	fill_entry(&e, &st);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		close_handle(fs, fi);
		daxfs_forget(fs, e.ino, 1);
	}
}

static void dfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct daxfs *fs = req_fs(req);
	struct iovec iov[DX_READ_IOV_MAX];
	struct daxfs_read_ref ref = {NULL};
	int iovcnt = 0;
	ssize_t n;

	(void)fi;
	/* Single copy: the kernel copies straight out of the pool. */
	n = daxfs_read_begin(fs, ino, off, size, iov, &iovcnt, &ref);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (n == 0)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_iov(req, iov, iovcnt);
	daxfs_read_end(fs, &ref);
}

static void dfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	ssize_t n;

	/*
	 * Write-back of a shared mapping sends whole pages; it never extends
	 * a file, but after a collapse the kernel's size can still be the
	 * larger old one, so clip such writes at the real end.
	 */
	if (fi && fi->writepage) {
		struct stat st;

		if (daxfs_getattr(req_fs(req), ino, &st) == 0) {
			if (off >= st.st_size) {
				fuse_reply_write(req, size);
				return;
			}
			if ((off_t)size > st.st_size - off)
				size = (size_t)(st.st_size - off);
		}
	}
	/* The kernel resolves O_APPEND into off itself. */
	n = daxfs_write(req_fs(req), ino, buf, size, off, 0);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (n > 0)
		dfs_drop_privs(req, ino, 0);
	fuse_reply_write(req, (size_t)n);
}

static void dfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Writes are persistent when they return: nothing to flush. */
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void dfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfs_file *h = dfs_file(fi);
	struct fuse_session *se = dfs_ctx(req)->se;
	int inval = h && h->mapped_write;

	close_handle(req_fs(req), fi);
	fuse_reply_err(req, 0);
	/* A holder that wrote through a mapping and went without unmapping
	 * (kill -9) left bytes the kernel's page cache has not seen. */
	if (inval)
		fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
}

static void dfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)fi;
	fuse_reply_err(req, -daxfs_fsync(req_fs(req), ino, datasync));
}

struct falloc_req {
	struct dfs_wait w;
	fuse_req_t req;
	fuse_ino_t ino;
};

static void falloc_done(void *p, int err)
{
	struct falloc_req *r = p;

	if (err == 0)
		dfs_drop_privs(r->req, r->ino, 0);
	dfs_wait_answering(&r->w);
	fuse_reply_err(r->req, -err);
	if (dfs_wait_put(&r->w))
		free(r);
}

static void dfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			  struct fuse_file_info *fi)
{
	struct falloc_req *r = malloc(sizeof(*r));

	(void)fi;
	if (!r) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r->req = req;
	r->ino = ino;
	/* Punch and zero range may wait for pinned blocks: no thread waits
	 * with them; falloc_done replies. */
	dfs_wait_arm(&r->w, req, ino, r);
	daxfs_fallocate_async(req_fs(req), ino, mode, offset, length, falloc_done, r);
	if (dfs_wait_submitted(&r->w))
		free(r);
}

static void dfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	off_t ret;

	(void)fi;
	/* Only these reach us; ENOSYS would disable lseek for good. */
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = daxfs_lseek(req_fs(req), ino, off, whence);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_lseek(req, ret);
}

static void dfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len, int flags)
{
	ssize_t n;

	(void)fi_in;
	(void)fi_out;
	n = daxfs_copy_file_range(req_fs(req), ino_in, off_in, ino_out, off_out, len,
				  (unsigned)flags);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	if (n > 0)
		dfs_drop_privs(req, ino_out, 0);
	fuse_reply_write(req, (size_t)n);
}

/* ---- directories ---- */

static void dfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Directories need no per-open state: offsets come from lib/. */
	(void)ino;
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

struct dfs_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t pos;
	/* readdirplus: the inodes that took a lookup reference */
	fuse_ino_t *refs;
	size_t nrefs;
	size_t maxrefs;
};

static int fill_dir(void *ctx, const char *name, const struct stat *st, off_t next_off)
{
	struct dfs_dirbuf *d = ctx;
	size_t len;

	len = fuse_add_direntry(d->req, d->buf + d->pos, d->size - d->pos, name, st, next_off);
	if (len > d->size - d->pos)
		return 1;
	d->pos += len;
	return 0;
}

static int is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int fill_dir_plus(void *ctx, const char *name, const struct stat *st, off_t next_off)
{
	struct dfs_dirbuf *d = ctx;
	struct fuse_entry_param e;
	int ref = !is_dot_or_dotdot(name);
	size_t len;

	if (ref && d->nrefs == d->maxrefs)
		return 1;
	fill_entry(&e, st);
	/*
	 * lib/ takes no reference for "." and ".."; a zero node id tells
	 * the kernel not to instantiate (and later forget) them.
	 */
	if (!ref)
		e.ino = 0;
	len = fuse_add_direntry_plus(d->req, d->buf + d->pos, d->size - d->pos, name, &e, next_off);
	if (len > d->size - d->pos)
		return 1;
	d->pos += len;
	if (ref)
		d->refs[d->nrefs++] = st->st_ino;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct daxfs *fs = req_fs(req);
	struct dfs_dirbuf d;
	int ret;

	memset(&d, 0, sizeof(d));
	d.req = req;
	d.size = size;
	d.buf = malloc(size ? size : 1);
	if (plus) {
		/* A plus entry takes well over 64 bytes, so this never binds. */
		d.maxrefs = size / 64 + 1;
		d.refs = calloc(d.maxrefs, sizeof(*d.refs));
	}
	if (!d.buf || (plus && !d.refs)) {
		fuse_reply_err(req, ENOMEM);
		goto out;
	}

	ret = daxfs_readdir(fs, ino, off, plus, plus ? fill_dir_plus : fill_dir, &d);
	/*
	 * Entries already in the buffer hold lookup references: they must be
	 * delivered, so an error can only be reported on an empty buffer.
	 */
	if (ret < 0 && d.pos == 0) {
		fuse_reply_err(req, -ret);
		goto out;
	}
	if (fuse_reply_buf(req, d.buf, d.pos) == -ENOENT) {
		for (size_t i = 0; i < d.nrefs; i++)
			daxfs_forget(fs, d.refs[i], 1);
	}
out:
	free(d.refs);
	free(d.buf);
}

static void dfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void dfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void dfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void dfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)fi;
	fuse_reply_err(req, -daxfs_fsync(req_fs(req), ino, datasync));
}

/* ---- filesystem ---- */

static void dfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int ret;

	(void)ino;
	ret = daxfs_statfs(req_fs(req), &sv);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ---- */

static void dfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	fuse_reply_err(req, -daxfs_setxattr(req_fs(req), ino, name, value, size, flags));
}

static void dfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct daxfs *fs = req_fs(req);
	ssize_t n;
	char *buf;

	if (size == 0) {
		n = daxfs_getxattr(fs, ino, name, NULL, 0);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_xattr(req, (size_t)n);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = daxfs_getxattr(fs, ino, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void dfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct daxfs *fs = req_fs(req);
	ssize_t n;
	char *buf;

	if (size == 0) {
		n = daxfs_listxattr(fs, ino, NULL, 0);
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_xattr(req, (size_t)n);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = daxfs_listxattr(fs, ino, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void dfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -daxfs_removexattr(req_fs(req), ino, name));
}

/*
 * No access(): with default_permissions the kernel checks permissions
 * itself.  No getlk/setlk/flock: locks stay local to the kernel.
 */
const struct fuse_lowlevel_ops dfs_ops = {
    .init = dfs_init,
    .destroy = dfs_destroy,
    .lookup = dfs_lookup,
    .forget = dfs_forget,
    .forget_multi = dfs_forget_multi,
    .getattr = dfs_getattr,
    .setattr = dfs_setattr,
    .readlink = dfs_readlink,
    .mknod = dfs_mknod,
    .mkdir = dfs_mkdir,
    .unlink = dfs_unlink,
    .rmdir = dfs_rmdir,
    .symlink = dfs_symlink,
    .rename = dfs_rename,
    .link = dfs_link,
    .open = dfs_open,
    .read = dfs_read,
    .write = dfs_write,
    .flush = dfs_flush,
    .release = dfs_release,
    .fsync = dfs_fsync,
    .opendir = dfs_opendir,
    .readdir = dfs_readdir,
    .readdirplus = dfs_readdirplus,
    .releasedir = dfs_releasedir,
    .fsyncdir = dfs_fsyncdir,
    .statfs = dfs_statfs,
    .setxattr = dfs_setxattr,
    .getxattr = dfs_getxattr,
    .listxattr = dfs_listxattr,
    .removexattr = dfs_removexattr,
    .create = dfs_create,
    .ioctl = dfs_ioctl,
    .fallocate = dfs_fallocate,
    .copy_file_range = dfs_copy_file_range,
    .lseek = dfs_lseek,
    /* No .poll: libfuse answers ENOSYS, and the kernel then stops asking
     * on every poll() of every file (lease breaks: DAXFS_LEASE_WAIT). */
};
