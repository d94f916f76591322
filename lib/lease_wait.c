/* SPDX-License-Identifier: MIT */
/*
 * lease_wait.c - DAXFS_LEASE_WAIT: how a holder learns that its lease is
 * being broken.
 *
 * The request is kept, unanswered, until the lease of its open file leaves
 * ACTIVE (broken, revoked or released), its timeout passes, or its caller
 * is interrupted.  This replaces POLLPRI from poll(): a FUSE daemon that
 * answers POLL is asked on every poll() of every file of the mount (io_uring
 * polls each file it submits to), while one that answers ENOSYS is never
 * asked again, and only lease holders need to hear of breaks.
 *
 * A wait is queued under pin_lock, where breaks happen, but answered
 * without it (dx_lease_answer): the answer goes back through the daemon,
 * whose interrupt handler takes pin_lock.  So a wait that ends is moved to
 * fs->lwaits_done and answered by the next caller of dx_lease_answer:
 * daxfs_tick() (which the daemon runs at once when told of a break), or
 * the release that ended it.
 */
#include <errno.h>
#include <stdlib.h>
#include "core.h"

/* Waits one open file may have queued: each is a caller's blocked thread,
 * and a few are enough for any holder. */
#define DX_LWAITS_PER_FILE 16

/* Take *pp off fs->lwaits and queue it to be answered (pin_lock held). */
static void lwait_end(struct daxfs *fs, struct dx_lwait **pp, int err)
{
	struct dx_lwait *w = *pp;

	*pp = w->next;
	w->f->nlwaits--;
	w->err = err;
	if (!err)
		dx_lease_state(w->f, w->out);
	w->next = fs->lwaits_done;
	/* Atomic: dx_lease_answer() peeks without pin_lock. */
	__atomic_store_n(&fs->lwaits_done, w, __ATOMIC_RELEASE);
}

/* End the waits of f (of every file if NULL) whose deadline is at or
 * before due (pin_lock held). */
static void lwaits_end(struct daxfs *fs, const struct daxfs_file *f, uint64_t due, int err)
{
	struct dx_lwait **pp = &fs->lwaits;

	while (*pp)
		if ((!f || (*pp)->f == f) && (*pp)->deadline_ns <= due)
			lwait_end(fs, pp, err);
		else
			pp = &(*pp)->next;
}

DX_EXPORT void daxfs_lease_wait_async(struct daxfs *fs, struct daxfs_file *f,
				      struct daxfs_ioc_lease *req, daxfs_done_t done, void *ctx)
{
	uint64_t timeout = req->deadline_ns, now;
	struct dx_lwait *w;
	int err = 0;

	if (req->reserved) {
		done(ctx, -EINVAL);
		return;
	}
	dx_mutex_lock(&fs->pin_lock);
	dx_lease_state(f, req);
	/* Nothing to wait for: no lease, or one already broken or revoked. */
	if (!timeout || req->state != DAXFS_LEASE_ACTIVE)
		goto answer;
	if (f->nlwaits >= DX_LWAITS_PER_FILE) {
		err = -EAGAIN;
		goto answer;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		err = -ENOMEM;
		goto answer;
	}
	now = dx_now_ns();
	w->f = f;
	w->out = req;
	w->done = done;
	w->ctx = ctx;
	w->deadline_ns = timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
	w->next = fs->lwaits;
	fs->lwaits = w;
	f->nlwaits++;
	dx_mutex_unlock(&fs->pin_lock);
	return;
answer:
	dx_mutex_unlock(&fs->pin_lock);
	done(ctx, err);
}

void dx_lease_wake(struct daxfs *fs, struct daxfs_file *f)
{
	if (f->nlwaits)
		lwaits_end(fs, f, UINT64_MAX, 0);
}

bool dx_lease_wait_interrupt(struct daxfs *fs, void *ctx)
{
	for (struct dx_lwait **pp = &fs->lwaits; *pp; pp = &(*pp)->next)
		if ((*pp)->ctx == ctx) {
			lwait_end(fs, pp, -EINTR);
			return true;
		}
	return false;
}

void dx_lease_wait_expire(struct daxfs *fs)
{
	uint64_t now = dx_now_ns();

	dx_mutex_lock(&fs->pin_lock);
	lwaits_end(fs, NULL, now, 0);
	dx_mutex_unlock(&fs->pin_lock);
}

void dx_lease_answer(struct daxfs *fs)
{
	struct dx_lwait *list;

	if (!__atomic_load_n(&fs->lwaits_done, __ATOMIC_ACQUIRE))
		return;
	dx_mutex_lock(&fs->pin_lock);
	list = fs->lwaits_done;
	__atomic_store_n(&fs->lwaits_done, NULL, __ATOMIC_RELAXED);
	dx_mutex_unlock(&fs->pin_lock);
	while (list) {
		struct dx_lwait *w = list;

		list = w->next;
		w->done(w->ctx, w->err);
		free(w);
	}
}

DX_EXPORT void daxfs_lease_wait_cancel(struct daxfs *fs, int err)
{
	dx_mutex_lock(&fs->pin_lock);
	lwaits_end(fs, NULL, UINT64_MAX, err);
	dx_mutex_unlock(&fs->pin_lock);
	dx_lease_answer(fs);
}

static void lwaits_free(struct dx_lwait *l)
{
	for (struct dx_lwait *n; l; l = n) {
		n = l->next;
		free(l);
	}
}

void dx_lease_wait_fini(struct daxfs *fs)
{
	/* Nobody is left to answer: the daemon cancels its waits first. */
	lwaits_free(fs->lwaits);
	lwaits_free(fs->lwaits_done);
	fs->lwaits = fs->lwaits_done = NULL;
}
