/* SPDX-License-Identifier: MIT */
/*
 * unit_qrelease.c - revocations against unmaps of other files.  An unmap
 * peeks at the list of quarantined runs without pin_lock, to skip the lock
 * when nothing is quarantined; a revocation adds a run under pin_lock.  The
 * stores into the list were plain, so the ThreadSanitizer tree reported a
 * data race (pins_pairs, CI of stop 17).  One thread here maps a block of
 * one file, revokes the mapping (its block goes to quarantine) and unmaps
 * it (the block is freed); another maps and unmaps a block of a second
 * file, as fast as it can; a third runs the tick (its reaper peeks at
 * the quarantined count without the lock).  The TSan tree runs it (suite concurrency);
 * every tree checks that every quarantined block was freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "unit.h"

#define ROUNDS 300

static struct daxfs *fs;
static uint64_t ino[2];
static int stop, errors;

static void error(const char *what, int err)
{
	if (!__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED))
		t_note("%s: %s", what, strerror(-err));
}

static int map_one(struct daxfs_file *f, uint64_t *id)
{
	struct daxfs_ioc_map m = {.length = DX_BLOCK_SIZE,
				  .flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE};
	int ret = daxfs_mapping_create(fs, f, &m, &t_cred);

	*id = m.id;
	return ret;
}

/* Map, revoke (as lease.c's revoke() does, under the same locks), unmap. */
static void *revoker(void *arg)
{
	struct daxfs_file *f;
	uint64_t id;
	int ret;

	(void)arg;
	if ((ret = daxfs_open_file(fs, ino[0], O_RDWR, &f))) {
		error("open", ret);
		return NULL;
	}
	for (int i = 0; i < ROUNDS; i++) {
		char b = (char)i;

		/* a block for the next map to pin: the revocation took it */
		if ((ret = (int)daxfs_write(fs, ino[0], &b, 1, 0, 0)) != 1) {
			error("write", ret < 0 ? ret : -EIO);
			break;
		}
		if ((ret = map_one(f, &id))) {
			error("map", ret);
			break;
		}
		dx_wrlock(&f->ip->lock);
		dx_mutex_lock(&fs->pin_lock);
		f->maps->flags |= DAXFS_PIN_REVOKED;
		dx_quarantine_mapping(fs, f->maps);
		dx_mutex_unlock(&fs->pin_lock);
		dx_rwunlock(&f->ip->lock);
		if ((ret = daxfs_mapping_drop(fs, f, id))) {
			error("unmap", ret);
			break;
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	daxfs_release(fs, f);
	return NULL;
}

static void *unmapper(void *arg)
{
	struct daxfs_file *f;
	uint64_t id;
	int ret;

	(void)arg;
	if ((ret = daxfs_open_file(fs, ino[1], O_RDWR, &f))) {
		error("open", ret);
		return NULL;
	}
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if ((ret = map_one(f, &id)) || (ret = daxfs_mapping_drop(fs, f, id))) {
			error("map/unmap", ret);
			break;
		}
	}
	daxfs_release(fs, f);
	return NULL;
}

static void *ticker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		daxfs_tick(fs);
	return NULL;
}

static void body(void)
{
	const char *p = t_path("qrelease");
	struct daxfs_stats s;
	pthread_t th[3];
	struct stat st;

	T_EQ(t_mkfs(p, 32ULL << 20, 0), 0, "mkfs");
	fs = t_open(p);
	for (int i = 0; i < 2; i++) {
		char name[] = {'f', (char)('0' + i), 0}, b = 1;

		T_EQ(daxfs_mknod(fs, DX_ROOT_INO, name, S_IFREG | 0644, 0, &t_cred, &st), 0,
		     "create %s", name);
		ino[i] = st.st_ino;
		T_EQ(daxfs_write(fs, ino[i], &b, 1, 0, 0), 1, "write %s", name);
	}
	pthread_create(&th[0], NULL, revoker, NULL);
	pthread_create(&th[1], NULL, unmapper, NULL);
	pthread_create(&th[2], NULL, ticker, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	T_EQ(errors, 0, "no call failed");
	daxfs_get_stats(fs, &s);
	T_EQ(s.quarantine_total, ROUNDS, "every revoked block went to quarantine");
	T_EQ(s.quarantined_blocks, 0, "... and was freed at its unmap");
	T_EQ(t_fsck(fs, false), 0, "the pool is consistent");
	daxfs_close(fs);
}

int main(void)
{
	return t_run("qrelease", body);
}
