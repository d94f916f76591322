/* SPDX-License-Identifier: MIT */
/*
 * lease.c - layout leases for long-term pinners.
 *
 * Transient pins (DMA) are waited for.  Long-term pins (an RDMA memory
 * registration) may never go away by themselves, so they need a lease: a
 * promise by the holder to give its pins back when asked.  A layout change
 * that meets blocks pinned under a lease breaks it (the holder's waiting
 * DAXFS_LEASE_WAIT returns, lease_wait.c) and waits; a holder that does
 * not unmap and release within lease_break_time has its lease revoked:
 * its mappings are marked revoked and their blocks go to quarantine, out
 * of the file and out of the free pool, so the change can complete and a
 * late write by the holder lands in no file.  An EXCLUSIVE lease is never
 * broken: changes under it fail with ETXTBSY.  States: ACTIVE -> BREAKING
 * -> (released) or REVOKED.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"

struct dx_usage *dx_usage_get(struct daxfs *fs, uid_t uid)
{
	struct dx_usage *u;

	for (u = fs->usage; u; u = u->next)
		if (u->uid == uid)
			return u;
	u = calloc(1, sizeof(*u));
	if (u) {
		u->uid = uid;
		u->next = fs->usage;
		fs->usage = u;
	}
	return u;
}

DX_EXPORT void daxfs_set_lease_notify(struct daxfs *fs, daxfs_lease_notify_t fn, void *ctx)
{
	dx_mutex_lock(&fs->pin_lock);
	fs->lease_notify = fn;
	fs->lease_notify_ctx = ctx;
	dx_mutex_unlock(&fs->pin_lock);
}

/* l changed state (pin_lock held): its waits are answered, and the daemon told. */
static void notify(struct daxfs *fs, struct dx_lease *l)
{
	dx_lease_wake(fs, l->f);
	if (fs->lease_notify)
		fs->lease_notify(fs->lease_notify_ctx, l->f);
}

/* Long-term mappings made through f (pin_lock held). */
static uint64_t longterm_maps(const struct daxfs_file *f)
{
	return f->nlongterm;
}

static void breaking_remove(struct daxfs *fs, struct dx_lease *l)
{
	struct dx_lease **pp;

	for (pp = &fs->breaking; *pp && *pp != l; pp = &(*pp)->bnext)
		;
	if (*pp)
		*pp = l->bnext;
	l->f->ip->nbreaking--;
}

static void lease_unlink(struct daxfs *fs, struct dx_lease *l)
{
	struct dx_ino *ip = l->f->ip;
	struct dx_lease **pp;
	struct dx_usage *u = dx_usage_get(fs, l->uid);

	for (pp = &ip->leases; *pp != l; pp = &(*pp)->inext)
		;
	*pp = l->inext;
	if (l->state == DAXFS_LEASE_BREAKING)
		breaking_remove(fs, l);
	if (u)
		u->leases--;
	l->f->lease = NULL;
	fs->stats.leases--;
	/* Its waits learn that no lease is left (answered by dx_lease_answer). */
	dx_lease_wake(fs, l->f);
	free(l);
}

static int lease_set(struct daxfs *fs, struct daxfs_file *f, uint32_t flags,
		     const struct daxfs_cred *cred)
{
	struct dx_ino *ip = f->ip;
	uint32_t type = flags & (DAXFS_LEASE_READ | DAXFS_LEASE_WRITE);
	struct dx_usage *u;
	struct dx_lease *l;

	if (flags & ~(uint32_t)(DAXFS_LEASE_READ | DAXFS_LEASE_WRITE | DAXFS_LEASE_EXCLUSIVE) ||
	    (type != DAXFS_LEASE_READ && type != DAXFS_LEASE_WRITE))
		return -EINVAL;
	if (type == DAXFS_LEASE_WRITE && (f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	/* As F_SETLEASE: the owner, or a process with CAP_LEASE (root). */
	if (cred->uid != 0 && cred->uid != ip->d->uid)
		return -EACCES;
	if (f->lease) {
		if (f->lease->state != DAXFS_LEASE_ACTIVE)
			return -EAGAIN;
	} else if (ip->nbreaking) {
		return -EAGAIN; /* a break is pending: it must not be starved */
	}
	for (l = ip->leases; l; l = l->inext) {
		if (l == f->lease)
			continue;
		if ((l->flags & DAXFS_LEASE_EXCLUSIVE) || (flags & DAXFS_LEASE_EXCLUSIVE))
			return -EAGAIN;
	}
	if (f->lease) { /* change the type or flags of our own */
		f->lease->flags = flags;
		return 0;
	}
	u = dx_usage_get(fs, cred->uid);
	if (!u)
		return -ENOMEM;
	if (fs->max_leases && cred->uid != 0 && u->leases >= fs->max_leases)
		return -ENOLCK;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->id = ++fs->next_lease_id;
	l->f = f;
	l->flags = flags;
	l->state = DAXFS_LEASE_ACTIVE;
	l->uid = cred->uid;
	l->pid = cred->pid;
	l->created_ns = dx_now_ns();
	l->inext = ip->leases;
	ip->leases = l;
	f->lease = l;
	u->leases++;
	fs->stats.leases++;
	return 0;
}

/* f's lease as DAXFS_LEASE_GET reports it (pin_lock held). */
void dx_lease_state(struct daxfs_file *f, struct daxfs_ioc_lease *req)
{
	struct dx_lease *l = f->lease;

	memset(&req->break_offset, 0,
	       sizeof(*req) - offsetof(struct daxfs_ioc_lease, break_offset));
	req->state = l ? l->state : DAXFS_LEASE_NONE;
	req->flags = l ? l->flags : 0;
	if (l && l->state == DAXFS_LEASE_BREAKING) {
		uint64_t now = dx_now_ns();
		req->break_offset = l->brk_start * DX_BLOCK_SIZE;
		req->break_length = l->brk_end >= DX_MAX_FILE_BLOCKS
					    ? UINT64_MAX
					    : (l->brk_end - l->brk_start) * DX_BLOCK_SIZE;
		req->deadline_ns = l->deadline_ns > now ? l->deadline_ns - now : 0;
	}
	req->mappings = longterm_maps(f);
}

DX_EXPORT int daxfs_lease(struct daxfs *fs, struct daxfs_file *f, struct daxfs_ioc_lease *req,
			  const struct daxfs_cred *cred)
{
	struct dx_lease *l;
	int ret = 0;
	bool released = false;

	if (req->reserved)
		return -EINVAL;
	dx_mutex_lock(&fs->pin_lock);
	l = f->lease;
	switch (req->op) {
	case DAXFS_LEASE_SET:
		ret = lease_set(fs, f, req->flags, cred);
		break;
	case DAXFS_LEASE_RELEASE:
		/* A lease lives as long as the pins it covers. */
		if (l && longterm_maps(f))
			ret = -EBUSY;
		else if (l) {
			lease_unlink(fs, l);
			released = true;
		}
		break;
	case DAXFS_LEASE_GET:
		dx_lease_state(f, req);
		break;
	default:
		ret = -EINVAL;
	}
	dx_mutex_unlock(&fs->pin_lock);
	if (released) {
		dx_lease_answer(fs);
		dx_layout_run(fs, f->ip);
	}
	return ret;
}

void dx_lease_drop(struct daxfs *fs, struct daxfs_file *f)
{
	dx_mutex_lock(&fs->pin_lock);
	if (f->lease)
		lease_unlink(fs, f->lease);
	dx_mutex_unlock(&fs->pin_lock);
	dx_lease_answer(fs);
}

static bool overlaps(const struct dx_mapping *m, uint64_t s, uint64_t e)
{
	return !(m->flags & DAXFS_PIN_REVOKED) && m->lblk < e && (uint64_t)m->lblk + m->nblk > s;
}

int dx_lease_check(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e)
{
	uint64_t now;

	if (!ip->leases)
		return 0;
	for (struct dx_mapping *m = ip->maps; m; m = m->inext)
		if (overlaps(m, s, e) && m->f->lease &&
		    (m->f->lease->flags & DAXFS_LEASE_EXCLUSIVE)) {
			fs->stats.etxtbsy++;
			return -ETXTBSY;
		}
	now = dx_now_ns();
	for (struct dx_mapping *m = ip->maps; m; m = m->inext) {
		struct dx_lease *l = m->f->lease;

		if (!overlaps(m, s, e) || !l || l->state != DAXFS_LEASE_ACTIVE)
			continue;
		l->state = DAXFS_LEASE_BREAKING;
		l->deadline_ns = now + (uint64_t)fs->lease_break_time * 1000000000ULL;
		l->brk_start = s;
		l->brk_end = e;
		l->bnext = fs->breaking;
		fs->breaking = l;
		ip->nbreaking++;
		fs->stats.lease_breaks++;
		notify(fs, l);
	}
	return 0;
}

/* Revoke one lease: ip->lock held for writing, pin_lock held. */
static void revoke(struct daxfs *fs, struct dx_lease *l)
{
	breaking_remove(fs, l);
	l->state = DAXFS_LEASE_REVOKED;
	fs->stats.lease_revokes++;
	for (struct dx_mapping *m = l->f->maps; m; m = m->fnext) {
		if (m->flags & DAXFS_PIN_REVOKED)
			continue;
		m->flags |= DAXFS_PIN_REVOKED;
		dx_quarantine_mapping(fs, m);
	}
	notify(fs, l);
}

void dx_lease_expire(struct daxfs *fs)
{
	struct dx_ino *todo[64];
	uint64_t now = dx_now_ns();
	int n = 0;

	/* Find the inodes with a lease past its deadline.  The deadline
	 * holds even if the change that broke the lease gave up meanwhile. */
	dx_mutex_lock(&fs->pin_lock);
	for (struct dx_lease *l = fs->breaking; l && n < 64; l = l->bnext) {
		struct dx_ino *ip = l->f->ip;
		bool dup = false;

		if (l->deadline_ns > now)
			continue;
		for (int i = 0; i < n; i++)
			dup |= todo[i] == ip;
		if (dup)
			continue;
		dx_mutex_lock(&fs->icache_lock);
		ip->refs++;
		dx_mutex_unlock(&fs->icache_lock);
		todo[n++] = ip;
	}
	dx_mutex_unlock(&fs->pin_lock);

	for (int i = 0; i < n; i++) {
		struct dx_ino *ip = todo[i];

		/* The inode lock first, as for any layout change: the
		 * blocks move out of the file. */
		dx_wrlock(&ip->lock);
		dx_mutex_lock(&fs->pin_lock);
		for (struct dx_lease *l = ip->leases; l; l = l->inext)
			if (l->state == DAXFS_LEASE_BREAKING && l->deadline_ns <= now)
				revoke(fs, l);
		dx_mutex_unlock(&fs->pin_lock);
		dx_rwunlock(&ip->lock);
		dx_layout_run(fs, ip);
		dx_iput(fs, ip);
	}
}

DX_EXPORT int daxfs_lease_list(struct daxfs *fs, uint64_t cursor, uint64_t ino,
			       const uid_t *owner, struct daxfs_lease_info *out, int max)
{
	uint64_t now = dx_now_ns();
	struct dx_lease **all = NULL;
	size_t nall = 0, cap = 0;
	int n = 0;

	/* Leases hang off inodes; walk the inodes that have mappings or
	 * leases through the open files' mappings is not enough, so walk
	 * the inode cache. */
	dx_mutex_lock(&fs->pin_lock);
	dx_mutex_lock(&fs->icache_lock);
	for (size_t h = 0; h < fs->ihash_size; h++)
		for (struct dx_ino *ip = fs->ihash[h]; ip; ip = ip->hnext) {
			if (ino && ip->ino != ino)
				continue;
			for (struct dx_lease *l = ip->leases; l; l = l->inext) {
				if (l->id <= cursor || (owner && l->uid != *owner))
					continue;
				if (nall == cap) {
					struct dx_lease **v = realloc(all, (cap = cap ? cap * 2 : 64) *
										   sizeof(*v));
					if (!v)
						goto out;
					all = v;
				}
				all[nall++] = l;
			}
		}
	/* In id order, so a cursor resumes where the last call stopped. */
	while (n < max) {
		struct dx_lease *best = NULL;
		for (size_t i = 0; i < nall; i++)
			if (all[i] && (!best || all[i]->id < best->id))
				best = all[i];
		if (!best)
			break;
		for (size_t i = 0; i < nall; i++)
			if (all[i] == best)
				all[i] = NULL;
		out[n++] = (struct daxfs_lease_info){
			.id = best->id,
			.ino = best->f->ip->ino,
			.holder_pid = (uint32_t)best->pid,
			.holder_uid = (uint32_t)best->uid,
			.flags = best->flags,
			.state = best->state,
			.age_ns = now - best->created_ns,
			.deadline_ns = best->state == DAXFS_LEASE_BREAKING && best->deadline_ns > now
					       ? best->deadline_ns - now
					       : 0,
			.mappings = longterm_maps(best->f),
		};
	}
out:
	dx_mutex_unlock(&fs->icache_lock);
	dx_mutex_unlock(&fs->pin_lock);
	free(all);
	return n;
}
