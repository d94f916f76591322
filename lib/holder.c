/* SPDX-License-Identifier: MIT */
/*
 * holder.c - who holds a mapping: the process of the calling thread, named
 * for good by its pid, its start time and the boot.  A mapping record
 * carries the three, so that after a daemon crash the pins of a holder
 * that still lives are kept and those of a dead one are freed.
 *
 * Working that out from /proc costs two procfs reads (the thread's status
 * for its thread group, the process's stat for its start time): the most
 * expensive part of a map through the mount on this VM.  So the last few
 * holders are cached, each with a pidfd.  A cached entry is used only
 * while its pidfd says the process still exists (alive or a zombie not yet
 * reaped): until it is reaped its pid cannot be given to anyone else, so a
 * request from that pid comes from that process.  The check is one signal
 * 0 through the pidfd.  Only thread-group leaders are cached, as
 * pidfd_open() without PIDFD_THREAD opens nothing else; other threads go
 * to /proc each time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core.h"

/* Read a small /proc file into buf as a string; its length, or -errno. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return n;
}

/* Field 22 of /proc/PID/stat: with the pid, it names one process for good. */
int dx_holder_start(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_proc(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EIO;
	/* The command name may hold spaces and parentheses: skip to the
	 * last ')', which the space before field 3 follows. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

/*
 * The process of thread tid.  FUSE names the calling thread, which may
 * exit while its process (and its mapping of the pool) lives on, so the
 * holder is the thread group.  /proc/TID/ exists for every thread even
 * though readdir of /proc lists only processes.
 */
static pid_t holder_tgid(pid_t tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (read_proc(path, buf, sizeof(buf)) <= 0)
		return tid;
	p = strstr(buf, "\nTgid:");
	return p ? (pid_t)strtol(p + 6, NULL, 10) : tid;
}

uint64_t dx_boot_id(void)
{
	static uint64_t cached;
	uint64_t id = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	char buf[64];
	ssize_t n;
	int digits = 0;

	if (id)
		return id;
	n = read_proc("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	for (ssize_t i = 0; i < n && digits < 16; i++) {
		char c = buf[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			continue; /* the dashes */
		id = id << 4 | (uint64_t)v;
		digits++;
	}
	if (digits < 16)
		return 0;
	__atomic_store_n(&cached, id, __ATOMIC_RELAXED);
	return id;
}

bool dx_holder_alive(uint64_t pid, uint64_t start, uint64_t boot)
{
	uint64_t now;

	/* A record of an earlier boot: its holder died with that boot,
	 * whatever process has the pid now. */
	if (boot && boot != dx_boot_id())
		return false;
	if (!pid || pid > INT32_MAX || dx_holder_start((pid_t)pid, &now))
		return false;
	return !start || now == start;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Does the process of pidfd still hold its pid (alive or a zombie)? */
static bool pidfd_holds_pid(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno == EPERM;
}

void dx_holders_init(struct daxfs *fs)
{
	dx_mutex_init(&fs->holder_lock, DX_LC_HOLDER);
	for (int i = 0; i < DX_HOLDER_CACHE; i++)
		fs->holders[i].pidfd = -1;
}

void dx_holders_fini(struct daxfs *fs)
{
	for (int i = 0; i < DX_HOLDER_CACHE; i++)
		if (fs->holders[i].pidfd >= 0)
			close(fs->holders[i].pidfd);
	dx_mutex_destroy(&fs->holder_lock);
}

/* A cached leader pid's start time, or false (holder_lock held). */
static bool cache_find(struct daxfs *fs, pid_t pid, uint64_t *start)
{
	for (int i = 0; i < DX_HOLDER_CACHE; i++) {
		struct dx_holder *h = &fs->holders[i];

		if (h->pidfd < 0 || h->pid != pid)
			continue;
		if (pidfd_holds_pid(h->pidfd)) {
			*start = h->start;
			h->used = ++fs->holder_clock;
			return true;
		}
		/* Reaped: the pid may be anyone's now. */
		close(h->pidfd);
		h->pidfd = -1;
		return false;
	}
	return false;
}

/* Remember a leader, evicting the least recently used (holder_lock). */
static void cache_add(struct daxfs *fs, pid_t pid, int pidfd, uint64_t start)
{
	struct dx_holder *v = &fs->holders[0];

	for (int i = 0; i < DX_HOLDER_CACHE; i++) {
		struct dx_holder *h = &fs->holders[i];

		if (h->pidfd < 0) {
			v = h;
			break;
		}
		if (h->used < v->used)
			v = h;
	}
	if (v->pidfd >= 0)
		close(v->pidfd);
	*v = (struct dx_holder){pid, pidfd, start, ++fs->holder_clock};
}

void dx_holder_identify(struct daxfs *fs, pid_t tid, pid_t *pid, uint64_t *start)
{
	int pidfd;

	*pid = tid;
	*start = 0;
	if (tid <= 0)
		return;
	dx_mutex_lock(&fs->holder_lock);
	if (cache_find(fs, tid, start)) {
		dx_mutex_unlock(&fs->holder_lock);
		return;
	}
	dx_mutex_unlock(&fs->holder_lock);
	pidfd = pidfd_open(tid);
	if (pidfd < 0) {
		/* Not a leader (or no pidfds here): the long way, uncached. */
		*pid = holder_tgid(tid);
		if (dx_holder_start(*pid, start))
			*start = 0;
		return;
	}
	/* The start time is read between two looks through the pidfd: if
	 * the process still holds its pid after the read, the start time
	 * is its own and not a successor's.  Else it is unknown (0). */
	if (dx_holder_start(tid, start) || !pidfd_holds_pid(pidfd)) {
		*start = 0;
		close(pidfd);
		return;
	}
	dx_mutex_lock(&fs->holder_lock);
	cache_add(fs, tid, pidfd, *start);
	dx_mutex_unlock(&fs->holder_lock);
}
