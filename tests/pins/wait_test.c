/* SPDX-License-Identifier: MIT */
/*
 * wait-test - layout changes and maps that wait for pins must end: by
 * busy_timeout, by an interrupt, or by the death of the waiter, and a
 * mount that has seen any of them keeps working.  Driven through a real
 * mount with the ioctls.
 *
 *   wait-test expire MNT    the mount has busy_timeout=1
 *   wait-test intr MNT      the mount has busy_timeout=0 (wait for ever)
 *
 * No durations are asserted: a waiter is observed through the mount's
 * counters and /proc, with generous bounds that only catch a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "daxfs/daxfs_ioctl.h"

#include "mount_test.h"

/* Map [off, off+len) of fd for reading; returns the id, 0 on failure. */
static uint64_t map(int fd, uint64_t off, uint64_t len)
{
	struct daxfs_ioc_map m;

	memset(&m, 0, sizeof(m));
	m.offset = off;
	m.length = len;
	m.flags = DAXFS_MAP_READ;
	if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0) {
		perror("DAXFS_IOC_MAP");
		return 0;
	}
	return m.id;
}

static int unmap(int fd, uint64_t id)
{
	struct daxfs_ioc_unmap u = {id};

	return ioctl(fd, DAXFS_IOC_UNMAP, &u);
}

static uint64_t free_blocks(void)
{
	struct statvfs sv;

	return statvfs(mnt, &sv) ? 0 : sv.f_bfree;
}

/* Poll until cond(fd) holds, up to secs seconds (a hang bound only). */
static int wait_until(int (*cond)(int), int fd, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (cond(fd))
			return 1;
		usleep(50000);
	}
	return cond(fd);
}

static int one_waiting(int fd)
{
	return stats(fd).deferred_now == 1;
}

static int two_waiting(int fd)
{
	return stats(fd).deferred_now == 2;
}

static int none_waiting(int fd)
{
	return stats(fd).deferred_now == 0;
}

/* Has pid exited (reaped here)?  Polls /proc up to secs seconds. */
static int gone(pid_t pid, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return 1;
		usleep(50000);
	}
	return 0;
}

static int same_bytes(int fd, size_t size, int c)
{
	char *buf = malloc(size);
	int ok = pread(fd, buf, size, 0) == (ssize_t)size;
	struct stat st;

	for (size_t i = 0; ok && i < size; i++)
		ok = buf[i] == c;
	free(buf);
	return ok && fstat(fd, &st) == 0 && st.st_size == (off_t)size;
}

/*
 * busy_timeout=1: an expiry must leave the mount usable (defect: the
 * inode stayed on the pending list, the next deferral made it point to
 * itself and the tick thread spun holding pin_lock) and must not keep the
 * inode (defect: the queue's reference leaked, so a deleted file's blocks
 * stayed allocated until the next mount).
 */
static void run_expire(void)
{
	int fd, err = 0, done;
	uint64_t id, free0;
	struct bg g;

	/* The reference, once the root directory has its block: a deleted
	 * file's space comes back at once. */
	close(make_file("warm", 4096, 'w'));
	unlink(path("warm"));
	free0 = free_blocks();
	fd = make_file("big", 20 << 20, 'b');
	id = map(fd, 0, 4096);
	check(id != 0, "map one block of a 20 MiB file");
	g = bg_start(path("big"), BG_TRUNC, 0, 0);
	done = bg_done(&g, 30000, &err);
	check(done && err == EBUSY, "truncate under the pin: EBUSY (%d)", err);
	check(unmap(fd, id) == 0, "unmap");
	close(fd);
	check(unlink(path("big")) == 0, "unlink");
	for (int i = 0; i < 100 && free_blocks() < free0; i++)
		usleep(100000);
	check(free_blocks() >= free0,
	      "the deleted file's blocks are free again without a remount (%llu of %llu)",
	      (unsigned long long)free_blocks(), (unsigned long long)free0);

	fd = make_file("tmo", 64 * 1024, 't');
	id = map(fd, 0, 4096);
	check(id != 0, "map one block");
	g = bg_start(path("tmo"), BG_TRUNC, 0, 0);
	done = bg_done(&g, 30000, &err);
	check(done && err == EBUSY, "first truncate: EBUSY (%d)", err);
	g = bg_start(path("tmo"), BG_TRUNC, 0, 0);
	if (!bg_done(&g, 30000, &err)) {
		check(0, "second truncate: EBUSY, not a hang");
		exit(report()); /* the mount is wedged: nothing else can run */
	}
	check(err == EBUSY, "second truncate: EBUSY again (%d)", err);
	g = bg_start(path("tmo"), BG_PUNCH, 0, 4096);
	done = bg_done(&g, 30000, &err);
	check(done && err == EBUSY, "a punch of the pinned block: EBUSY (%d)",
	      err);
	check(none_waiting(fd) && stats(fd).ebusy >= 3, "stats answer: nothing waits, %llu EBUSY",
	      (unsigned long long)stats(fd).ebusy);
	check(same_bytes(fd, 64 * 1024, 't'), "the file is unchanged");
	check(unmap(fd, id) == 0, "unmap");
	check(ftruncate(fd, 0) == 0, "once unmapped the truncate works");
	close(fd);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A child that truncates file to 0 after installing a handler for
 * SIGUSR1 without SA_RESTART; reports the errno on a pipe. */
static struct bg trunc_interruptible(const char *file)
{
	struct bg g;
	int p[2];

	if (pipe(p) < 0)
		exit(1);
	g.pid = fork();
	if (!g.pid) {
		struct sigaction sa;
		int fd = open(file, O_RDWR), err;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		sigaction(SIGUSR1, &sa, NULL);
		close(p[0]);
		err = ftruncate(fd, 0) ? errno : 0;
		if (write(p[1], &err, sizeof(err)) != sizeof(err))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	g.rfd = p[0];
	return g;
}

/* A child that maps block 1 of file for reading; reports the errno. */
static struct bg map_child(const char *file)
{
	struct bg g;
	int p[2];

	if (pipe(p) < 0)
		exit(1);
	g.pid = fork();
	if (!g.pid) {
		int fd = open(file, O_RDWR), err;
		struct daxfs_ioc_map m = {.offset = 4096, .length = 4096, .flags = DAXFS_MAP_READ};

		close(p[0]);
		err = ioctl(fd, DAXFS_IOC_MAP, &m) ? errno : 0;
		if (write(p[1], &err, sizeof(err)) != sizeof(err))
			_exit(2);
		pause(); /* keep the mapping until killed */
		_exit(0);
	}
	close(p[1]);
	g.rfd = p[0];
	return g;
}

/*
 * busy_timeout=0: a waiter is still never stuck.  An interrupt takes its
 * request out of the queue and the call fails with EINTR having changed
 * nothing; SIGKILL ends it.
 */
static void run_intr(void)
{
	int fd = make_file("k", 64 * 1024, 'k'), err = 0, done;
	uint64_t id = map(fd, 0, 4096);
	struct bg t, m;
	pid_t self;

	check(id != 0, "map block 0");

	t = bg_start(path("k"), BG_TRUNC, 0, 0);
	check(wait_until(one_waiting, fd, 20), "a truncate waits for the pin");
	kill(t.pid, SIGKILL);
	check(gone(t.pid, 20), "the SIGKILLed truncater is gone");
	close(t.rfd);
	check(wait_until(none_waiting, fd, 20), "its request left the queue");
	check(same_bytes(fd, 64 * 1024, 'k'), "the file is unchanged");

	t = trunc_interruptible(path("k"));
	check(wait_until(one_waiting, fd, 20), "a truncate waits again");
	kill(t.pid, SIGUSR1);
	done = bg_done(&t, 20000, &err);
	check(done && err == EINTR, "a signal makes it fail with EINTR (%d)",
	      err);
	check(same_bytes(fd, 64 * 1024, 'k'), "the file is unchanged");

	/* A map queued behind a waiting change is interrupted too. */
	t = bg_start(path("k"), BG_TRUNC, 0, 0);
	check(wait_until(one_waiting, fd, 20), "a truncate waits");
	m = map_child(path("k"));
	check(wait_until(two_waiting, fd, 20), "a map queues behind it");
	kill(m.pid, SIGKILL);
	check(gone(m.pid, 20), "the SIGKILLed mapper is gone");
	close(m.rfd);
	check(wait_until(one_waiting, fd, 20), "its map left the queue");
	check(stats(fd).mappings == 1, "and made no mapping");
	kill(t.pid, SIGKILL);
	check(gone(t.pid, 20), "the SIGKILLed truncater is gone");
	close(t.rfd);
	check(wait_until(none_waiting, fd, 20) && same_bytes(fd, 64 * 1024, 'k'),
	      "nothing waits, the file is unchanged");
	check(unmap(fd, id) == 0, "unmap");

	/* A process that maps its own file and then truncates it waits for
	 * itself; it must still die. */
	self = fork();
	if (!self) {
		int sfd = open(path("k"), O_RDWR);

		if (!map(sfd, 0, 4096))
			_exit(1);
		ftruncate(sfd, 0);
		_exit(0);
	}
	check(wait_until(one_waiting, fd, 20), "a self-pinned truncate waits");
	kill(self, SIGKILL);
	check(gone(self, 20), "the SIGKILLed self-pinner is gone");
	check(wait_until(none_waiting, fd, 20) && stats(fd).mappings == 0,
	      "nothing waits, its mapping went with its file");
	check(ftruncate(fd, 0) == 0, "the truncate works now");
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: wait-test expire|intr MNT\n");
		return 2;
	}
	mnt = argv[2];
	if (!strcmp(argv[1], "expire"))
		run_expire();
	else if (!strcmp(argv[1], "intr"))
		run_intr();
	else
		return 2;
	return report();
}
