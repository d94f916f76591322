/* SPDX-License-Identifier: MIT */
/*
 * unit_holder.c - the holder of a mapping record (issue 10, defect 7): a
 * map records the process of the calling thread, its start time and the
 * boot id, and recovery after a crash takes only a record of a live
 * process of this boot for a live holder.  A reboot cannot be made here,
 * so the records of "another boot" are written by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core.h"
#include "csum.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

/* A pool with one two-block file; its ino and first pool block. */
static struct daxfs *make_pool(const char *name, uint64_t *ino, uint64_t *pblk)
{
	const char *p = t_path(name);
	char buf[8192];
	struct stat st;
	struct daxfs *fs;
	struct dx_ino *ip;

	T_EQ(t_mkfs(p, POOL_SIZE, 0), 0, "mkfs %s", name);
	fs = t_open(p);
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, "f", S_IFREG | 0644, 0, &t_cred, &st), 0, "create");
	memset(buf, 'h', sizeof(buf));
	T_EQ(daxfs_write(fs, st.st_ino, buf, sizeof(buf), 0, 0), sizeof(buf), "write");
	ip = dx_iget(fs, st.st_ino);
	T(ip && !dx_iload(fs, ip), "load the inode");
	*pblk = dx_off(fs, dx_xmap_addr(fs, ip, 0)) / DX_BLOCK_SIZE;
	dx_iput(fs, ip);
	*ino = st.st_ino;
	return fs;
}

/* Write a live-mapping record of the file by hand, as a crashed daemon
 * would have left it, then reopen and say how many blocks are quarantined. */
static uint64_t crash_with_record(const char *name, uint64_t pid, uint64_t start, uint64_t boot)
{
	uint64_t ino, pblk;
	struct daxfs *fs = make_pool(name, &ino, &pblk);
	struct dx_maprec *r = &fs->maprecs[0];
	struct daxfs_stats s;

	memset(r, 0, sizeof(*r));
	r->flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE;
	r->ino = ino;
	r->pblk = pblk;
	r->nblocks = 2;
	r->holder_pid = (uint32_t)pid;
	r->holder_start = start;
	r->holder_boot = boot;
	r->id = 1;
	r->kind = DX_MAPREC_MAP;
	r->csum = dx_csum_maprec(fs->csum_seed, 0, r); /* as rec_write makes it */
	dx_persist(&fs->pc, r, sizeof(*r));
	daxfs_close(fs);
	fs = t_open(t_path(name));
	daxfs_get_stats(fs, &s);
	T(t_fsck(fs, false) == 0, "%s: the pool is consistent after recovery", name);
	daxfs_close(fs);
	return s.quarantined_blocks;
}

struct idle {
	sem_t ready, done;
	pid_t tid;
};

static void *idle_thread(void *arg)
{
	struct idle *t = arg;

	t->tid = (pid_t)syscall(SYS_gettid);
	sem_post(&t->ready);
	sem_wait(&t->done);
	return NULL;
}

static void test_record_names_process(void)
{
	uint64_t ino, pblk, start = 0;
	struct daxfs *fs = make_pool("tgid", &ino, &pblk);
	struct daxfs_file *f = NULL;
	struct daxfs_ioc_map m;
	struct daxfs_cred c = t_cred;
	struct idle t;
	pthread_t th;
	int ret;

	sem_init(&t.ready, 0, 0);
	sem_init(&t.done, 0, 0);
	pthread_create(&th, NULL, idle_thread, &t);
	sem_wait(&t.ready);
	T(t.tid != getpid(), "a second thread has its own tid");
	T_EQ(daxfs_open_file(fs, ino, O_RDWR, &f), 0, "open");
	memset(&m, 0, sizeof(m));
	m.length = 8192;
	m.flags = DAXFS_MAP_READ;
	/* FUSE would name the thread; the record must name the process. */
	c.pid = t.tid;
	ret = daxfs_mapping_create(fs, f, &m, &c);
	T_EQ(ret, 0, "map as the thread");
	dx_holder_start(getpid(), &start);
	{
		const struct dx_maprec *r = NULL;
		size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(*r);

		for (size_t i = 0; i < nrec && !r; i++)
			if (fs->maprecs[i].kind == DX_MAPREC_MAP)
				r = &fs->maprecs[i];
		T(r != NULL, "the mapping has a record");
		if (r) {
			T_EQ(r->holder_pid, getpid(),
			     "the record names the process, not the thread");
			T_EQ(r->holder_start, start, "... with the process's start time");
			T(r->holder_boot != 0 && r->holder_boot == dx_boot_id(),
			  "... and this boot's id");
		}
	}
	sem_post(&t.done);
	pthread_join(th, NULL);
	daxfs_release(fs, f);
	daxfs_close(fs);
}

/*
 * The identity cache (holder.c): a leader's identity is remembered, and
 * forgotten once the process is reaped, when its pid may go to anyone.
 * Without the pidfd check the dead child's start time would come back.
 */
static void test_cache(void)
{
	struct daxfs *fs;
	uint64_t ino, pblk, start, mine = 0, child_start = 0;
	pid_t pid, child;
	int status;

	fs = make_pool("cache", &ino, &pblk);
	dx_holder_start(getpid(), &mine);
	for (int i = 0; i < 3; i++) {
		dx_holder_identify(fs, getpid(), &pid, &start);
		T(pid == getpid() && start == mine, "our identity, lookup %d", i + 1);
	}
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	T(child > 0, "fork");
	dx_holder_start(child, &child_start);
	dx_holder_identify(fs, child, &pid, &start);
	T(pid == child && start == child_start && start != 0, "the child's identity");
	dx_holder_identify(fs, child, &pid, &start);
	T(pid == child && start == child_start, "... again, from the cache");
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	dx_holder_identify(fs, child, &pid, &start);
	T(start == 0, "a reaped child's start time is not served from the cache");
	/* More holders than entries: each still comes out right. */
	for (int i = 0; i < DX_HOLDER_CACHE + 4; i++) {
		pid_t c = fork();
		uint64_t want = 0;

		if (c == 0) {
			pause();
			_exit(0);
		}
		dx_holder_start(c, &want);
		dx_holder_identify(fs, c, &pid, &start);
		T(pid == c && start == want, "holder %d of %d", i + 1, DX_HOLDER_CACHE + 4);
		kill(c, SIGKILL);
		waitpid(c, &status, 0);
	}
	dx_holder_identify(fs, getpid(), &pid, &start);
	T(pid == getpid() && start == mine, "our identity after the evictions");
	daxfs_close(fs);
}

static void body(void)
{
	uint64_t start = 0, boot = dx_boot_id();

	T(boot != 0, "the boot id is readable");
	T_EQ(dx_holder_start(getpid(), &start), 0, "our start time");
	T(dx_holder_alive((uint64_t)getpid(), start, boot), "we are alive");
	T(dx_holder_alive((uint64_t)getpid(), start, 0), "... also for an old record (boot 0)");
	T(!dx_holder_alive((uint64_t)getpid(), start, boot ^ 1),
	  "our pid, recorded in another boot, is not us");
	T(!dx_holder_alive((uint64_t)getpid(), start + 1, boot), "another start time is not us");
	T(!dx_holder_alive(0, 0, 0), "pid 0 is nobody");

	test_record_names_process();
	test_cache();
	T_EQ(crash_with_record("live", (uint64_t)getpid(), start, boot), 2,
	     "a live holder of this boot: its blocks are quarantined");
	T_EQ(crash_with_record("old", (uint64_t)getpid(), start, 0), 2,
	     "a record without a boot id (older daemon): the same");
	T_EQ(crash_with_record("reboot", (uint64_t)getpid(), start, boot ^ 1), 0,
	     "the same pid and start time in another boot: not quarantined");
}

int main(void)
{
	return t_run("holder", body);
}
