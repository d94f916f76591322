/* SPDX-License-Identifier: MIT */
/*
 * layout.c - layout changes that wait for pinned blocks.
 *
 * This is daxfs's dax_layout_busy_page(): every operation that frees, moves
 * or zeroes a file's blocks (truncate down, punch, zero range, collapse,
 * insert) comes through dx_layout_submit().  With the inode lock held, so
 * that no map can pin anything meanwhile, it asks whether a live mapping
 * pins a block of the affected range.  If none does and nothing is queued,
 * the change runs at once.  Otherwise it joins the inode's queue and the
 * submitting thread returns: no thread waits.  The queue drains, in order,
 * from whichever thread drops the pin that held it (an unmap, the release of
 * a file), and daxfs_tick() fails a change that waited longer than
 * busy_timeout with EBUSY, having changed nothing.  A map arriving while
 * the queue is non-empty queues too, so new pins cannot starve a change.
 *
 * Transient references (the inode lock held across a FUSE read or write)
 * are not pins: the change simply takes the inode lock after them, as the
 * kernel's truncate waits for i_rwsem.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "fault.h"

/* File blocks op would free, move or zero; empty if none. ip->lock held. */
static void op_range(struct dx_ino *ip, const struct dx_lop *op, uint64_t *s, uint64_t *e)
{
	*s = *e = 0;
	if (op->kind == DX_LOP_SETATTR) {
		if ((op->sa.valid & DX_SET_SIZE) && op->sa.size < ip->d->size) {
			*s = (op->sa.size + DX_BLOCK_SIZE - 1) / DX_BLOCK_SIZE;
			*e = DX_MAX_FILE_BLOCKS;
		}
	} else if (op->kind == DX_LOP_FALLOC) {
		dx_fallocate_range(ip, op->mode, op->off, op->len, s, e);
	}
}

/*
 * The busy check, with pin_lock and ip->lock held: 0 if op may run now,
 * 1 if a pin is in its way (breaking the leases over such pins), -ETXTBSY
 * if an exclusive lease is.  O(1) for an inode without mappings.
 */
static int op_busy(struct daxfs *fs, struct dx_ino *ip, const struct dx_lop *op)
{
	uint64_t s, e;
	int ret;

	if (!ip->nmaps || op->kind == DX_LOP_MAP || dx_fault(fs, DX_FAULT_SKIP_BUSY_CHECK))
		return 0;
	op_range(ip, op, &s, &e);
	if (s >= e || !dx_inode_busy(ip, s, e))
		return 0;
	ret = dx_lease_check(fs, ip, s, e);
	return ret ? ret : 1;
}

static int op_exec(struct daxfs *fs, struct dx_ino *ip, struct dx_lop *op)
{
	switch (op->kind) {
	case DX_LOP_SETATTR:
		return dx_setattr_locked(fs, ip, &op->sa, op->st);
	case DX_LOP_FALLOC:
		return dx_fallocate_locked(fs, ip, op->mode, op->off, op->len);
	case DX_LOP_MAP:
		return dx_map_locked(fs, ip, op->f, op->map, op->pid, op->uid);
	}
	return -EINVAL;
}

/* Account, reply and free.  No lock held: done may reply to FUSE, and the
 * reference dropped last may free the inode. */
static void finish(struct daxfs *fs, struct dx_ino *ip, struct dx_lop *op, int ret)
{
	if (op->queued_ns) {
		uint64_t dt = dx_now_ns() - op->queued_ns;

		dx_mutex_lock(&fs->pin_lock);
		fs->stats.deferred_now--;
		if (op->kind != DX_LOP_MAP) {
			fs->stats.deferral_total_ns += dt;
			if (dt > fs->stats.deferral_max_ns)
				fs->stats.deferral_max_ns = dt;
			if (ret == -EBUSY)
				fs->stats.ebusy++;
		}
		dx_mutex_unlock(&fs->pin_lock);
	}
	op->done(op->ctx, ret);
	free(op);
	dx_iput(fs, ip);
}

static void iref(struct daxfs *fs, struct dx_ino *ip)
{
	dx_mutex_lock(&fs->icache_lock);
	ip->refs++;
	dx_mutex_unlock(&fs->icache_lock);
}

/*
 * The queue of an inode and fs->pending move together (pin_lock held): an
 * inode is on fs->pending exactly while its queue is non-empty, and the
 * queue then holds one inode reference.  Both lists are doubly linked or
 * walked from the inode, so no step costs more than the inode's own queue.
 */
static void queue_add(struct daxfs *fs, struct dx_ino *ip, struct dx_lop *op)
{
	op->next = NULL;
	op->ip = ip;
	if (ip->lq_tail) {
		ip->lq_tail->next = op;
		ip->lq_tail = op;
		return;
	}
	ip->lq_head = ip->lq_tail = op;
	ip->pend_prev = NULL;
	ip->pend_next = fs->pending;
	if (fs->pending)
		fs->pending->pend_prev = ip;
	fs->pending = ip;
	iref(fs, ip);
}

/* Take *pp (an op of ip's queue, prev the op before it or NULL) out of the
 * queue.  Returns true if the queue is now empty: the inode has left
 * fs->pending and the caller owns the queue's reference, to drop with
 * dx_iput() once pin_lock is released. */
static bool queue_del(struct daxfs *fs, struct dx_ino *ip, struct dx_lop *prev, struct dx_lop *op)
{
	if (prev)
		prev->next = op->next;
	else
		ip->lq_head = op->next;
	if (ip->lq_tail == op)
		ip->lq_tail = prev;
	op->next = NULL;
	if (ip->lq_head)
		return false;
	if (ip->pend_prev)
		ip->pend_prev->pend_next = ip->pend_next;
	else
		fs->pending = ip->pend_next;
	if (ip->pend_next)
		ip->pend_next->pend_prev = ip->pend_prev;
	ip->pend_next = ip->pend_prev = NULL;
	return true;
}

struct dx_lop *dx_lop_alloc(struct daxfs *fs, struct dx_ino *ip, enum dx_lop_kind kind,
			    daxfs_done_t done, void *ctx)
{
	struct dx_lop *op = calloc(1, sizeof(*op));

	if (!op) {
		dx_iput(fs, ip);
		done(ctx, -ENOMEM);
		return NULL;
	}
	op->kind = kind;
	op->done = done;
	op->ctx = ctx;
	return op;
}

void dx_layout_submit(struct daxfs *fs, struct dx_ino *ip, struct dx_lop *op)
{
	int ret;

	dx_wrlock(&ip->lock);
	dx_mutex_lock(&fs->pin_lock);
	ret = ip->lq_head ? 1 : op_busy(fs, ip, op);
	if (ret <= 0) {
		dx_mutex_unlock(&fs->pin_lock);
		if (!ret)
			ret = op_exec(fs, ip, op);
		dx_rwunlock(&ip->lock);
		finish(fs, ip, op, ret);
		return;
	}
	op->queued_ns = dx_now_ns();
	queue_add(fs, ip, op);
	fs->stats.deferred_now++;
	if (op->kind != DX_LOP_MAP)
		fs->stats.deferrals++;
	dx_mutex_unlock(&fs->pin_lock);
	dx_rwunlock(&ip->lock);
}

void dx_layout_run(struct daxfs *fs, struct dx_ino *ip)
{
	struct dx_lop *done = NULL, **tail = &done;
	bool drained = false;

	dx_mutex_lock(&fs->pin_lock);
	if (!ip->lq_head) {
		dx_mutex_unlock(&fs->pin_lock);
		return;
	}
	dx_mutex_unlock(&fs->pin_lock);

	dx_wrlock(&ip->lock);
	for (;;) {
		struct dx_lop *op;
		int busy = 0;

		dx_mutex_lock(&fs->pin_lock);
		op = ip->lq_head;
		if (!op || (busy = op_busy(fs, ip, op)) > 0) {
			dx_mutex_unlock(&fs->pin_lock);
			break;
		}
		/* Draining the queue hands its reference to us; a submit
		 * that queues again meanwhile takes a new one. */
		if (queue_del(fs, ip, NULL, op))
			drained = true;
		dx_mutex_unlock(&fs->pin_lock);

		/* busy < 0: refused by an exclusive lease, nothing done. */
		op->result = busy < 0 ? busy : op_exec(fs, ip, op);
		*tail = op;
		tail = &op->next;
	}
	dx_rwunlock(&ip->lock);

	while (done) {
		struct dx_lop *next = done->next;
		finish(fs, ip, done, done->result);
		done = next;
	}
	if (drained)
		dx_iput(fs, ip); /* the queue's reference */
}

/*
 * Fail the changes that waited longer than busy_timeout.  A change whose
 * inode has a lease being broken is left to lease_break_time instead: the
 * revocation that ends that wait lets the change run, and failing it just
 * before would make every lease break fail (docs/pins.md).
 */
void dx_layout_expire(struct daxfs *fs)
{
	uint64_t now = dx_now_ns(), limit = (uint64_t)fs->busy_timeout * 1000000000ULL;
	struct {
		struct dx_ino *ip;
		struct dx_lop *op;
	} exp[64];
	int n = 0;

	if (!fs->busy_timeout)
		return;
	dx_mutex_lock(&fs->pin_lock);
	for (struct dx_ino *ip = fs->pending, *next; ip && n < 64; ip = next) {
		struct dx_lop *op = ip->lq_head;

		next = ip->pend_next;
		if (op->kind == DX_LOP_MAP || ip->nbreaking || now - op->queued_ns < limit)
			continue;
		/* Keep a reference across the unlock: the queue's own if it
		 * drained (then ip has left fs->pending), else a new one. */
		if (!queue_del(fs, ip, NULL, op))
			iref(fs, ip);
		exp[n].ip = ip;
		exp[n].op = op;
		n++;
	}
	dx_mutex_unlock(&fs->pin_lock);
	for (int i = 0; i < n; i++) {
		struct dx_ino *ip = exp[i].ip;

		finish(fs, ip, exp[i].op, -EBUSY); /* drops the op's reference */
		/* What queued behind it may run now. */
		dx_layout_run(fs, ip);
		dx_iput(fs, ip);
	}
}

DX_EXPORT bool daxfs_interrupt(struct daxfs *fs, uint64_t ino, void *ctx)
{
	struct dx_lop *prev = NULL, *op;
	struct dx_ino *ip = dx_iget(fs, ino);
	bool drained = false, found;

	if (!ip)
		return false;
	dx_mutex_lock(&fs->pin_lock);
	for (op = ip->lq_head; op && op->ctx != ctx; op = op->next)
		prev = op;
	if (op) {
		drained = queue_del(fs, ip, prev, op);
		/* Answered by daxfs_tick(): the caller may be FUSE's interrupt
		 * handler, which must not reply itself. */
		op->next = fs->cancelled;
		/* Atomic: daxfs_tick() peeks without pin_lock. */
		__atomic_store_n(&fs->cancelled, op, __ATOMIC_RELAXED);
	}
	/* Not a layout change or a map: a DAXFS_LEASE_WAIT, perhaps. */
	found = op || dx_lease_wait_interrupt(fs, ctx);
	dx_mutex_unlock(&fs->pin_lock);
	if (drained)
		dx_iput(fs, ip); /* the queue's reference; the op keeps its own */
	dx_iput(fs, ip);
	return found;
}

/* Answer the interrupted requests with EINTR: none of them ran. */
static void layout_cancelled(struct daxfs *fs)
{
	struct dx_lop *list;

	if (!__atomic_load_n(&fs->cancelled, __ATOMIC_RELAXED))
		return;
	dx_mutex_lock(&fs->pin_lock);
	list = fs->cancelled;
	__atomic_store_n(&fs->cancelled, NULL, __ATOMIC_RELAXED);
	dx_mutex_unlock(&fs->pin_lock);
	while (list) {
		struct dx_lop *op = list;
		struct dx_ino *ip = op->ip;

		list = op->next;
		/* A map queued behind the cancelled change may run now. */
		dx_layout_run(fs, ip);
		finish(fs, ip, op, -EINTR); /* drops the op's reference */
	}
}

/* ---- blocking forms, for tools and tests that call the core directly ---- */

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
};

static void wake(void *ctx, int err)
{
	struct waiter *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->err = err;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int wait_for(struct waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	return w->err;
}

#define WAITER_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0}

DX_EXPORT int daxfs_setattr(struct daxfs *fs, uint64_t ino, const struct daxfs_setattr *sa,
			    const struct daxfs_cred *cred, struct stat *st)
{
	struct waiter w = WAITER_INIT;

	daxfs_setattr_async(fs, ino, sa, cred, st, wake, &w);
	return wait_for(&w);
}

DX_EXPORT int daxfs_fallocate(struct daxfs *fs, uint64_t ino, int mode, off_t off, off_t len)
{
	struct waiter w = WAITER_INIT;

	daxfs_fallocate_async(fs, ino, mode, off, len, wake, &w);
	return wait_for(&w);
}

DX_EXPORT void daxfs_mapping_create_async(struct daxfs *fs, struct daxfs_file *f,
					  struct daxfs_ioc_map *m, const struct daxfs_cred *cred,
					  daxfs_done_t done, void *ctx)
{
	struct dx_lop *op;
	int busy = 0;

	/* A long-term map during a lease break fails at once rather than
	 * queue behind the change it would hold up (docs/leases.md). */
	if (m->flags & DAXFS_MAP_LONGTERM) {
		dx_mutex_lock(&fs->pin_lock);
		busy = f->ip->nbreaking || (f->lease && f->lease->state == DAXFS_LEASE_BREAKING);
		dx_mutex_unlock(&fs->pin_lock);
	}
	if (busy) {
		done(ctx, -EAGAIN);
		return;
	}
	if (m->flags & DAXFS_MAP_REPLACE) {
		/* Drop the old window before the new one queues: a change
		 * waiting for its pins would otherwise wait for this map,
		 * queued behind it.  Refused arguments leave it in place. */
		int ret = dx_map_check(f, m);

		if (!ret)
			ret = daxfs_mapping_drop(fs, f, m->id);
		if (ret) {
			done(ctx, ret);
			return;
		}
		m->flags &= ~(uint32_t)DAXFS_MAP_REPLACE;
	}
	iref(fs, f->ip);
	op = dx_lop_alloc(fs, f->ip, DX_LOP_MAP, done, ctx);
	if (!op)
		return;
	op->f = f;
	op->map = m;
	op->pid = cred->pid;
	op->uid = cred->uid;
	dx_layout_submit(fs, f->ip, op);
}

DX_EXPORT int daxfs_mapping_create(struct daxfs *fs, struct daxfs_file *f,
				   struct daxfs_ioc_map *m, const struct daxfs_cred *cred)
{
	struct waiter w = WAITER_INIT;

	daxfs_mapping_create_async(fs, f, m, cred, wake, &w);
	return wait_for(&w);
}

DX_EXPORT void daxfs_tick(struct daxfs *fs)
{
	dx_lease_expire(fs);
	layout_cancelled(fs);
	dx_layout_expire(fs);
	dx_quarantine_reap(fs);
	dx_lease_wait_expire(fs);
	dx_lease_answer(fs);
}
