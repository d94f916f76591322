// SPDX-License-Identifier: MIT
/*
 * poll.c - poll() on files of the mount: POLLPRI tells a lease holder that
 * its layout lease is being broken (or was revoked).
 *
 * The kernel asks with a poll handle; the daemon keeps the latest one per
 * open file and fires it when lib/ reports a break.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>

#include "daemon.h"

/* Guards dfs_file.ph: lib/ calls the notifier from any thread. */
static pthread_mutex_t dfs_poll_lock = PTHREAD_MUTEX_INITIALIZER;

void dfs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct fuse_pollhandle *ph)
{
	struct dfs_file *h = dfs_file(fi);
	unsigned ev;

	(void)ino;
	if (!h) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, 0);
		return;
	}
	if (ph) {
		pthread_mutex_lock(&dfs_poll_lock);
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		h->ph = ph;
		pthread_mutex_unlock(&dfs_poll_lock);
	}
	/* Regular files are always ready for reading and writing. */
	ev = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | daxfs_file_poll(dfs_ctx(req)->fs, h->file);
	fuse_reply_poll(req, ev);
}

void dfs_lease_notify(void *ctx, struct daxfs_file *f)
{
	struct dfs_file *h = daxfs_file_private(f);

	(void)ctx;
	if (!h)
		return;
	pthread_mutex_lock(&dfs_poll_lock);
	if (h->ph)
		fuse_lowlevel_notify_poll(h->ph);
	pthread_mutex_unlock(&dfs_poll_lock);
}

void dfs_poll_forget(struct dfs_file *h)
{
	pthread_mutex_lock(&dfs_poll_lock);
	if (h->ph)
		fuse_pollhandle_destroy(h->ph);
	h->ph = NULL;
	pthread_mutex_unlock(&dfs_poll_lock);
}
