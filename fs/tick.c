// SPDX-License-Identifier: MIT
/*
 * tick.c - the housekeeping thread: daxfs_tick() ten times a second, and
 * at once when a lease breaks.
 *
 * lib/ never blocks a thread on a busy range or a dead mapping holder; it
 * relies on the daemon to call daxfs_tick() now and then to expire waits
 * past busy_timeout and free quarantined blocks (docs/pins.md).  It also
 * answers the DAXFS_LEASE_WAITs of a broken lease (lib/lease_wait.c): lib/
 * tells us of the break with its locks held, so the answer comes from here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

#define DFS_TICK_NS 100000000L /* 100 ms */

static pthread_t tick_thread;
static pthread_mutex_t tick_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cond;
static int tick_stop;
static int tick_kicked; /* a lease broke: tick now */
static int tick_running;

static void *tick_main(void *arg)
{
	struct daxfs *fs = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&tick_lock);
	while (!tick_stop) {
		next.tv_nsec += DFS_TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		/* Sleep unless told to stop or kicked; both wake us at once. */
		while (!tick_stop && !tick_kicked &&
		       pthread_cond_timedwait(&tick_cond, &tick_lock, &next) != ETIMEDOUT)
			;
		if (tick_stop)
			break;
		if (tick_kicked) {
			/* An extra tick: the next one stays on its schedule. */
			tick_kicked = 0;
			next.tv_nsec -= DFS_TICK_NS;
			if (next.tv_nsec < 0) {
				next.tv_nsec += 1000000000L;
				next.tv_sec--;
			}
		}
		pthread_mutex_unlock(&tick_lock);
		daxfs_tick(fs);
		pthread_mutex_lock(&tick_lock);
	}
	pthread_mutex_unlock(&tick_lock);
	return NULL;
}

/* Start after fuse_daemonize(): a thread does not survive the fork. */
int dfs_tick_start(struct daxfs *fs)
{
	pthread_condattr_t ca;
	int ret;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = pthread_cond_init(&tick_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ret)
		return -ret;
	tick_stop = 0;
	ret = pthread_create(&tick_thread, NULL, tick_main, fs);
	if (ret) {
		pthread_cond_destroy(&tick_cond);
		return -ret;
	}
	pthread_mutex_lock(&tick_lock);
	tick_running = 1;
	pthread_mutex_unlock(&tick_lock);
	return 0;
}

/*
 * lib/'s lease-break notifier: called with core locks held, so it only
 * wakes the tick thread, whose daxfs_tick() answers the lease's waits.
 * Lock order: core locks, then tick_lock (the tick thread holds tick_lock
 * only while it sleeps).
 */
void dfs_lease_notify(void *ctx, struct daxfs_file *f)
{
	(void)ctx;
	(void)f;
	pthread_mutex_lock(&tick_lock);
	tick_kicked = 1;
	if (tick_running)
		pthread_cond_signal(&tick_cond);
	pthread_mutex_unlock(&tick_lock);
}

/* Stop before daxfs_close(). */
void dfs_tick_stop(void)
{
	pthread_mutex_lock(&tick_lock);
	if (!tick_running) {
		pthread_mutex_unlock(&tick_lock);
		return;
	}
	tick_stop = 1;
	pthread_cond_signal(&tick_cond);
	pthread_mutex_unlock(&tick_lock);
	pthread_join(tick_thread, NULL);
	pthread_mutex_lock(&tick_lock);
	tick_running = 0;
	pthread_mutex_unlock(&tick_lock);
	pthread_cond_destroy(&tick_cond);
}
