// SPDX-License-Identifier: MIT
/*
 * tick.c - the housekeeping thread: daxfs_tick() ten times a second.
 *
 * lib/ never blocks a thread on a busy range or a dead mapping holder; it
 * relies on the daemon to call daxfs_tick() now and then to expire waits
 * past busy_timeout and free quarantined blocks (docs/pins.md).
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
		/* Sleep unless told to stop; a stop wakes us at once. */
		while (!tick_stop &&
		       pthread_cond_timedwait(&tick_cond, &tick_lock, &next) != ETIMEDOUT)
			;
		if (tick_stop)
			break;
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
	tick_running = 1;
	return 0;
}

/* Stop before daxfs_close(). */
void dfs_tick_stop(void)
{
	if (!tick_running)
		return;
	pthread_mutex_lock(&tick_lock);
	tick_stop = 1;
	pthread_cond_signal(&tick_cond);
	pthread_mutex_unlock(&tick_lock);
	pthread_join(tick_thread, NULL);
	pthread_cond_destroy(&tick_cond);
	tick_running = 0;
}
