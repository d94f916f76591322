/* SPDX-License-Identifier: MIT */
/*
 * pairs-test - every pair of operations that take more than one core lock,
 * at once, through a real mount: link, rename, writes into holes, truncate,
 * hole punch, map, unmap, layout leases (with long-term maps, so breaks and
 * revocations), and the tick's expiries (the mount has busy_timeout=1 and
 * lease_break_time=1).
 *
 *   pairs-test MNT SECONDS
 *
 * Workers each pick operations at random on shared files and directories,
 * so every pair meets.  A deadlock shows as no progress: a monitor fails the
 * test if no worker finishes an operation for 30 s (a hang bound, not a
 * timing).  A lock-order violation aborts the daemon of a debug tree, and
 * then every operation fails with ENOTCONN, which fails the test too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "daxfs/daxfs_ioctl.h"

#include "mount_test.h"

enum { NWORK = 6, NFILES = 3, FSIZE = 1 << 20, NNAMES = 8 };

/* Operations done, per worker, in shared memory for the monitor. */
static volatile uint64_t *progress;

/* Errors an operation may meet without anything being wrong. */
static int expected(int err)
{
	return err == ENOENT || err == EEXIST || err == EINVAL || err == EBUSY || err == EAGAIN ||
	       err == ETXTBSY || err == ENOLINK || err == ENOSPC || err == EPERM || err == EINTR ||
	       err == ENOLCK;
}

#define TRY(call)                                                                                  \
	do {                                                                                       \
		if ((call) < 0 && !expected(errno)) {                                              \
			fprintf(stderr, "worker %d: %s: %s\n", w, #call, strerror(errno));         \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static void worker(int w, int seconds)
{
	time_t end = time(NULL) + seconds;
	int fds[NFILES];
	char a[64], b[64], buf[4096];

	srand((unsigned)getpid());
	memset(buf, 'a' + w, sizeof(buf));
	for (int k = 0; k < NFILES; k++) {
		snprintf(a, sizeof(a), "f%d", k);
		fds[k] = open(path(a), O_RDWR);
		if (fds[k] < 0)
			_exit(1);
	}
	while (time(NULL) < end) {
		int k = rand() % NFILES, fd = fds[k], j = rand() % NNAMES;
		off_t off = (off_t)(rand() % (FSIZE / 4096)) * 4096;

		switch (rand() % 8) {
		case 0: /* link: ns_lock, inode lock, tx_lock */
			snprintf(a, sizeof(a), "f%d", k);
			snprintf(b, sizeof(b), "d0/l%d", j);
			TRY(link(path(a), path(b)));
			if (rand() % 2)
				TRY(unlink(path(b)));
			break;
		case 1: /* rename across directories, replacing */
			snprintf(a, sizeof(a), "d%d/r%d", rand() % 2, j);
			snprintf(b, sizeof(b), "d%d/r%d", rand() % 2, (j + 1) % NNAMES);
			close(open(path(a), O_CREAT | O_WRONLY, 0644));
			TRY(rename(path(a), path(b)));
			break;
		case 2: /* a write into a hole: inode lock, tx_lock */
			TRY(pwrite(fd, buf, sizeof(buf), off));
			break;
		case 3: /* truncate: a layout change, may wait and expire */
			TRY(ftruncate(fd, (off_t)(rand() % FSIZE)));
			break;
		case 4:
			TRY(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 8192));
			break;
		case 5: { /* map, hold a moment, unmap */
			struct daxfs_ioc_map m = {.offset = (uint64_t)off, .length = 4 * 4096,
						  .flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE};
			if (ioctl(fd, DAXFS_IOC_MAP, &m) == 0) {
				struct daxfs_ioc_unmap u = {m.id};
				/* Now and then past busy_timeout: EBUSY. */
				usleep(rand() % 100 ? rand() % 3000 : 1200000);
				TRY(ioctl(fd, DAXFS_IOC_UNMAP, &u));
			} else {
				TRY(-1);
			}
			break;
		}
		case 6: { /* a lease and a long-term map on a file of our own
			   * opening: breaks, and revocations by the tick */
			int lfd;
			struct daxfs_ioc_lease l = {.op = DAXFS_LEASE_SET, .flags = DAXFS_LEASE_WRITE};
			struct daxfs_ioc_map m = {.offset = (uint64_t)off, .length = 4096,
						  .flags = DAXFS_MAP_READ | DAXFS_MAP_LONGTERM};

			snprintf(a, sizeof(a), "f%d", k);
			lfd = open(path(a), O_RDWR);
			if (lfd < 0)
				break;
			if (ioctl(lfd, DAXFS_IOC_LEASE, &l) == 0 && ioctl(lfd, DAXFS_IOC_MAP, &m) == 0) {
				struct daxfs_ioc_unmap u = {m.id};
				/* Now and then past lease_break_time:
				 * revoked. */
				usleep(rand() % 10 ? rand() % 20000 : 1500000);
				TRY(ioctl(lfd, DAXFS_IOC_UNMAP, &u));
				l.op = DAXFS_LEASE_RELEASE;
				TRY(ioctl(lfd, DAXFS_IOC_LEASE, &l));
			} else if (!expected(errno)) {
				TRY(-1);
			}
			close(lfd); /* release drops what is left */
			break;
		}
		default: { /* the lookups and counters others contend with */
			struct stat st;
			snprintf(a, sizeof(a), "d%d/r%d", rand() % 2, j);
			TRY(stat(path(a), &st));
			/* A directory's attributes, which the renames and
			 * links above change (a getattr holds only the
			 * directory's own lock), and a chmod racing with
			 * the creates that read the directory's mode. */
			snprintf(a, sizeof(a), "d%d", rand() % 2);
			TRY(stat(path(a), &st));
			if (!(rand() % 8))
				TRY(chmod(path(a), 0755));
			(void)stats(fd);
			break;
		}
		}
		progress[w]++;
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	pid_t kids[NWORK];
	uint64_t last = 0, sum;
	int seconds, bad = 0, stuck = 0, done = 0;
	time_t last_change;

	if (argc != 3) {
		fprintf(stderr, "usage: pairs-test MNT SECONDS\n");
		return 2;
	}
	mnt = argv[1];
	seconds = atoi(argv[2]);
	progress = mmap(NULL, NWORK * sizeof(*progress), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED)
		return 1;
	mkdir(path("d0"), 0755);
	mkdir(path("d1"), 0755);
	for (int k = 0; k < NFILES; k++) {
		char name[16];
		snprintf(name, sizeof(name), "f%d", k);
		close(make_file(name, FSIZE, 'A' + k));
	}
	for (int w = 0; w < NWORK; w++) {
		kids[w] = fork();
		if (!kids[w])
			worker(w, seconds);
	}
	/* The monitor: progress, or a deadlock after 30 s without any. */
	last_change = time(NULL);
	while (done < NWORK) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p > 0) {
			done++;
			bad += !WIFEXITED(st) || WEXITSTATUS(st);
			continue;
		}
		sum = 0;
		for (int w = 0; w < NWORK; w++)
			sum += progress[w];
		if (sum != last) {
			last = sum;
			last_change = time(NULL);
		} else if (time(NULL) - last_change > 30) {
			stuck = 1;
			break;
		}
		usleep(100000);
	}
	check(!stuck, "the workers make progress (%llu operations; none for 30 s means a deadlock)",
	      (unsigned long long)last);
	if (stuck) {
		for (int w = 0; w < NWORK; w++)
			kill(kids[w], SIGKILL);
		return report();
	}
	check(!bad, "%d workers, %d s of link, rename, hole writes, truncate, punch, map, unmap, "
		    "leases and expiries: no unexpected error (%llu operations)",
	      NWORK, seconds, (unsigned long long)last);
	{
		int fd = open(path("f0"), O_RDONLY);
		struct daxfs_stats s = stats(fd);

		/* Releases are asynchronous: give them a moment. */
		for (int i = 0; i < 200 && (s.mappings || s.deferred_now); i++) {
			usleep(50000);
			s = stats(fd);
		}

		/* Leases revoked under a worker's open file keep their
		 * mappings until that file closes; all are closed now. */
		check(s.mappings == 0 && s.pinned_blocks == 0 && s.deferred_now == 0,
		      "nothing left mapped, pinned or waiting (%llu maps, %llu deferrals, %llu EBUSY, "
		      "%llu lease breaks, %llu revocations)",
		      (unsigned long long)s.maps, (unsigned long long)s.deferrals,
		      (unsigned long long)s.ebusy, (unsigned long long)s.lease_breaks,
		      (unsigned long long)s.lease_revokes);
		printf("pin_lock longest hold: %llu ns (%llu ns of CPU)\n",
		       (unsigned long long)s.pin_lock_max_hold_ns,
		       (unsigned long long)s.pin_lock_max_cpu_ns);
		close(fd);
	}
	return report();
}
