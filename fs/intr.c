// SPDX-License-Identifier: MIT
/*
 * intr.c - FUSE interrupts of requests that wait in lib/ for pins.
 *
 * A truncate, fallocate or map that waits is answered later, from another
 * thread.  If its caller is interrupted (any signal, SIGKILL included) the
 * kernel sends FUSE_INTERRUPT and then, for SIGKILL, waits uninterruptibly
 * for our reply: so the request must be taken out of lib/'s queue and
 * answered with EINTR, nothing changed (docs/pins.md).
 *
 * libfuse calls the interrupt handler with the request's own lock held,
 * possibly at the moment the request is answered on another thread.  So
 * the request's context is counted: one reference for the submitting
 * thread, one for the answer, and the answer first unregisters the handler
 * (which waits for a running one) before it replies.  The handler never
 * replies itself: lib/ answers an interrupted request from daxfs_tick().
 */
#include "daemon.h"

static void on_interrupt(fuse_req_t req, void *data)
{
	struct dfs_wait *w = data;

	(void)req;
	__atomic_store_n(&w->interrupted, 1, __ATOMIC_SEQ_CST);
	daxfs_interrupt(w->fs, w->ino, w->ctx);
}

void dfs_wait_arm(struct dfs_wait *w, fuse_req_t req, uint64_t ino, void *ctx)
{
	w->req = req;
	w->fs = dfs_ctx(req)->fs;
	w->ino = ino;
	w->ctx = ctx;
	w->interrupted = 0;
	w->refs = 2;
	/* Calls on_interrupt at once if the interrupt came first. */
	fuse_req_interrupt_func(req, on_interrupt, w);
}

int dfs_wait_put(struct dfs_wait *w)
{
	return __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0;
}

int dfs_wait_submitted(struct dfs_wait *w)
{
	/* An interrupt that arrived before the request was queued found
	 * nothing to take out: look again now that it may wait. */
	if (__atomic_load_n(&w->interrupted, __ATOMIC_SEQ_CST))
		daxfs_interrupt(w->fs, w->ino, w->ctx);
	return dfs_wait_put(w);
}

void dfs_wait_answering(struct dfs_wait *w)
{
	fuse_req_interrupt_func(w->req, NULL, NULL);
}
