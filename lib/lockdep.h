/* SPDX-License-Identifier: MIT */
/*
 * lockdep.h - the core's locks, and the check that they are taken in the
 * order core.h documents.
 *
 * Every lock of a class in that order is a dx_mutex or a dx_rwlock, never a
 * bare pthread lock, so a call that bypasses the check does not compile.
 * With DAXFS_LOCKDEP (debug builds: meson -Dlockdep, on by default for
 * buildtype=debug) each thread keeps a stack of the locks it holds, and
 * taking a lock whose rank is not above every held one aborts with both
 * names before it can deadlock.  One rank may be held several times only
 * for inode locks, in ascending inode number.  Without DAXFS_LOCKDEP the
 * wrappers are the pthread calls.
 *
 * A dx_mutex can also time its holds (dx_mutex_time): pin_lock does, for
 * the longest-hold figure in the stats.  Wall-clock time is a vDSO read;
 * the holder's CPU time is a system call (no CPU clock has a vDSO path),
 * two per hold, which doubled the cost of a map, so it is taken only when
 * asked for (the daemon's lock_stat option, as the kernel's lock_stat).
 */
#ifndef DAXFS_LOCKDEP_H
#define DAXFS_LOCKDEP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Ranks, outermost first: the order of core.h. */
enum dx_lock_class {
	DX_LC_NS = 1,	/* fs->ns_lock */
	DX_LC_INODE,	/* dx_ino->lock (several: ascending ino) */
	DX_LC_LOAD,	/* dx_ino->load_mu */
	DX_LC_PIN,	/* fs->pin_lock */
	DX_LC_TX,	/* fs->tx_lock */
	DX_LC_ICACHE,	/* fs->icache_lock */
	DX_LC_HOLDER,	/* fs->holder_lock */
	DX_LC_TEST,	/* above all: for the checker's own test */
};

typedef struct {
	pthread_mutex_t mu;
	uint8_t cls;
	bool timed;
	bool timed_cpu;		/* timed: also in the holder's CPU time */
	uint64_t since_ns;	/* timed: when the holder took it */
	uint64_t since_cpu_ns;	/* ... and its thread's CPU time then */
	uint64_t max_hold_ns;	/* timed: the longest hold (under mu) */
	uint64_t max_hold_cpu_ns;	/* ... in CPU time of the holder */
} dx_mutex_t;

typedef struct {
	pthread_rwlock_t rw;
	uint8_t cls;
	uint64_t sub;		/* the inode number of an inode lock */
} dx_rwlock_t;

#ifdef DAXFS_LOCKDEP
/* Check and record taking lock (class cls, sub-key sub), before it may
 * block; abort on an order violation. */
void dx_lockdep_acquire(const void *lock, unsigned cls, uint64_t sub);
/* Forget it; abort if this thread does not hold it. */
void dx_lockdep_release(const void *lock);
/* Abort unless this thread holds lock. */
void dx_lockdep_assert_held(const void *lock);
#else
static inline void dx_lockdep_acquire(const void *lock, unsigned cls, uint64_t sub)
{
	(void)lock;
	(void)cls;
	(void)sub;
}
static inline void dx_lockdep_release(const void *lock)
{
	(void)lock;
}
static inline void dx_lockdep_assert_held(const void *lock)
{
	(void)lock;
}
#endif

uint64_t dx_now_ns(void);

/* The calling thread's CPU time: a hold measured in it is the work done
 * under the lock, whatever the scheduler did meanwhile. */
static inline uint64_t dx_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void dx_mutex_init(dx_mutex_t *m, unsigned cls)
{
	pthread_mutex_init(&m->mu, NULL);
	m->cls = (uint8_t)cls;
	m->timed = m->timed_cpu = false;
	m->since_ns = m->since_cpu_ns = m->max_hold_ns = m->max_hold_cpu_ns = 0;
}

/* Record the longest hold of m from now on, also in CPU time if cpu. */
static inline void dx_mutex_time(dx_mutex_t *m, bool cpu)
{
	m->timed = true;
	m->timed_cpu = cpu;
}

static inline void dx_mutex_destroy(dx_mutex_t *m)
{
	pthread_mutex_destroy(&m->mu);
}

static inline void dx_mutex_lock(dx_mutex_t *m)
{
	dx_lockdep_acquire(m, m->cls, 0);
	pthread_mutex_lock(&m->mu);
	if (m->timed) {
		m->since_ns = dx_now_ns();
		if (m->timed_cpu)
			m->since_cpu_ns = dx_thread_cpu_ns();
	}
}

static inline void dx_mutex_unlock(dx_mutex_t *m)
{
	if (m->timed) {
		uint64_t held = dx_now_ns() - m->since_ns;

		if (held > m->max_hold_ns)
			m->max_hold_ns = held;
		if (m->timed_cpu) {
			uint64_t cpu = dx_thread_cpu_ns() - m->since_cpu_ns;

			if (cpu > m->max_hold_cpu_ns)
				m->max_hold_cpu_ns = cpu;
		}
	}
	dx_lockdep_release(m);
	pthread_mutex_unlock(&m->mu);
}

static inline void dx_rwlock_init(dx_rwlock_t *l, unsigned cls, uint64_t sub)
{
	pthread_rwlock_init(&l->rw, NULL);
	l->cls = (uint8_t)cls;
	l->sub = sub;
}

static inline void dx_rwlock_destroy(dx_rwlock_t *l)
{
	pthread_rwlock_destroy(&l->rw);
}

static inline void dx_rdlock(dx_rwlock_t *l)
{
	dx_lockdep_acquire(l, l->cls, l->sub);
	pthread_rwlock_rdlock(&l->rw);
}

static inline void dx_wrlock(dx_rwlock_t *l)
{
	dx_lockdep_acquire(l, l->cls, l->sub);
	pthread_rwlock_wrlock(&l->rw);
}

static inline void dx_rwunlock(dx_rwlock_t *l)
{
	dx_lockdep_release(l);
	pthread_rwlock_unlock(&l->rw);
}

#endif
