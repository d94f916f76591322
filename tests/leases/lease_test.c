/* SPDX-License-Identifier: MIT */
/*
 * lease-test - layout leases through a real daxfs mount, one check per row
 * of the semantics table in docs/leases.md.
 *
 *   lease-test basic MNT    the mount has lease_break_time=2, max_leases=2
 *   lease-test wait FILE    take a lease, wait for a break with no limit;
 *                           prints "waiting", then the wait's outcome
 *   lease-test poll FILE N  poll(2) FILE N times: always readable and
 *                           writable, never POLLPRI
 *
 * Waiting is observed as state (a child's layout change or a thread's
 * DAXFS_LEASE_WAIT has not returned yet), never asserted as a duration.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daxfs/daxfs_client.h"
#include "daxfs/daxfs_ioctl.h"

#include "mount_test.h"

static int lease_errno(int fd, unsigned flags)
{
	return daxfs_lease_take(fd, flags) < 0 ? errno : 0;
}

static void test_refusals(struct daxfs_client *c)
{
	int fd = make_file("refuse", 65536, 'r'), rfd, fd2;
	struct daxfs_mapping *m;
	char *p;

	check(!daxfs_map(c, fd, 0, 4096, DAXFS_MAP_READ | DAXFS_MAP_LONGTERM, &m) && errno == EPERM,
	      "long-term map without a lease: EPERM");
	rfd = open(path("refuse"), O_RDONLY);
	check(lease_errno(rfd, DAXFS_LEASE_WRITE) == EBADF, "write lease on a read-only fd: EBADF");
	check(lease_errno(fd, 0) == EINVAL, "lease without a type: EINVAL");
	check(lease_errno(fd, DAXFS_LEASE_READ | DAXFS_LEASE_WRITE) == EINVAL, "two types: EINVAL");
	check(lease_errno(rfd, DAXFS_LEASE_READ) == 0, "read lease on a read-only fd");
	fd2 = open(path("refuse"), O_RDWR);
	check(lease_errno(fd2, DAXFS_LEASE_WRITE | DAXFS_LEASE_EXCLUSIVE) == EAGAIN,
	      "exclusive lease while another lease exists: EAGAIN");
	check(lease_errno(fd, DAXFS_LEASE_WRITE) == 0, "a second, shared lease");
	p = daxfs_map(c, fd, 0, 4096, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM, &m);
	check(p != NULL, "long-term map under the lease");
	check(daxfs_lease_release(fd) < 0 && errno == EBUSY,
	      "releasing a lease with long-term mappings: EBUSY");
	if (p)
		daxfs_unmap(m);
	check(daxfs_lease_release(fd) == 0 && daxfs_lease_release(rfd) == 0, "released after unmap");
	/* Non-owners may not lease (as F_SETLEASE). */
	{
		pid_t k = fork();
		if (!k) {
			int cfd;
			if (setgid(65534) || setuid(65534))
				_exit(9);
			cfd = open(path("refuse"), O_RDONLY);
			_exit(cfd < 0 ? 8 : lease_errno(cfd, DAXFS_LEASE_READ) == EACCES ? 0 : 1);
		}
		int st;
		waitpid(k, &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a non-owner may not lease: EACCES");
	}
	/* max_leases=2 caps a user (root is exempt). */
	if (fchown(fd, 65534, 65534) == 0) {
		pid_t k = fork();
		if (!k) {
			int f[3];
			if (setgid(65534) || setuid(65534))
				_exit(9);
			for (int i = 0; i < 3; i++)
				f[i] = open(path("refuse"), O_RDONLY);
			_exit(lease_errno(f[0], DAXFS_LEASE_READ) == 0 &&
					      lease_errno(f[1], DAXFS_LEASE_READ) == 0 &&
					      lease_errno(f[2], DAXFS_LEASE_READ) == ENOLCK
				      ? 0
				      : 1);
		}
		int st;
		waitpid(k, &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "max_leases=2: a third lease is ENOLCK");
	}
	close(fd2);
	close(rfd);
	close(fd);
}

static void test_exclusive(struct daxfs_client *c)
{
	int fd = make_file("excl", 65536, 'x'), err = 0;
	struct daxfs_mapping *m;
	struct bg g;
	struct stat st;
	char *p;

	check(lease_errno(fd, DAXFS_LEASE_WRITE | DAXFS_LEASE_EXCLUSIVE) == 0, "exclusive lease");
	p = daxfs_map(c, fd, 0, 65536, DAXFS_MAP_READ | DAXFS_MAP_LONGTERM, &m);
	g = bg_start(path("excl"), BG_TRUNC, 0, 0);
	check(bg_done(&g, 10000, &err) && err == ETXTBSY,
	      "a change under an exclusive lease fails at once: ETXTBSY");
	fstat(fd, &st);
	check(st.st_size == 65536 && p && p[100] == 'x', "... and nothing changed");
	check(stats(fd).etxtbsy == 1, "stats count it");
	g = bg_start(path("excl"), BG_TRUNC, 128 * 1024, 0);
	check(bg_done(&g, 10000, &err) && err == 0, "growing the file is no layout change: runs");
	if (p)
		daxfs_unmap(m);
	daxfs_lease_release(fd);
	close(fd);
}

static void test_break_honoured(struct daxfs_client *c)
{
	int fd = make_file("brk", 1 << 20, 'b'), fd2, err = 0;
	struct daxfs_mapping *m, *m2;
	struct daxfs_ioc_lease st;
	struct bg g;
	char *p;

	check(lease_errno(fd, DAXFS_LEASE_WRITE) == 0, "shared lease");
	p = daxfs_map(c, fd, 512 * 1024, 65536, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM,
		      &m);
	check(p != NULL, "long-term map [512K, 576K)");
	if (!p)
		return;
	check(daxfs_lease_wait_break(fd, 0, NULL) == 0, "no break yet");
	g = bg_start(path("brk"), BG_TRUNC, 4096, 0);
	check(daxfs_lease_wait_break(fd, 10000, &st) == 1, "the truncate breaks the lease: a blocked wait returns");
	check(st.state == DAXFS_LEASE_BREAKING && st.break_offset == 4096 &&
		      st.break_length == UINT64_MAX && st.deadline_ns > 0 && st.mappings == 1,
	      "the break event: range from 4096 to the end, a deadline, one mapping");
	check(!bg_done(&g, 300, &err), "the truncate waits for the holder");
	/* A pending break is never starved. */
	fd2 = open(path("brk"), O_RDWR);
	check(lease_errno(fd2, DAXFS_LEASE_READ) == EAGAIN, "new lease during a break: EAGAIN");
	check(!daxfs_map(c, fd, 0, 4096, DAXFS_MAP_READ | DAXFS_MAP_LONGTERM, &m2) && errno == EAGAIN,
	      "new long-term map during a break: EAGAIN");
	close(fd2);
	memset(p, 'H', 65536);
	check(daxfs_unmap(m) == 0 && daxfs_lease_release(fd) == 0, "holder unmaps and releases");
	check(bg_done(&g, 10000, &err) && err == 0, "the truncate completes");
	check(stats(fd).lease_breaks >= 1 && stats(fd).lease_revokes == 0, "broken, not revoked");
	close(fd);
}

static void test_revoke(struct daxfs_client *c)
{
	int fd = make_file("rev", 1 << 20, 'v'), err = 0;
	struct daxfs_mapping *m;
	struct daxfs_stats s0, s1;
	struct statvfs v0, v1;
	struct bg g;
	char *p;
	int fd_other;

	fsync(fd);
	statvfs(mnt, &v0);
	s0 = stats(fd);
	check(lease_errno(fd, DAXFS_LEASE_WRITE) == 0, "lease for the revocation test");
	p = daxfs_map(c, fd, 0, 65536, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM, &m);
	if (!p)
		return;
	/* The holder ignores the break; after lease_break_time (2 s) the
	 * lease is revoked and the truncate completes. */
	g = bg_start(path("rev"), BG_TRUNC, 0, 0);
	check(bg_done(&g, 30000, &err) && err == 0, "an ignored break ends in revocation; truncate done");
	s1 = stats(fd);
	check(s1.lease_revokes == s0.lease_revokes + 1, "stats count the revocation");
	check(s1.quarantined_blocks == 16, "the 16 pinned blocks are in quarantine (%llu)",
	      (unsigned long long)s1.quarantined_blocks);
	{
		struct daxfs_ioc_lease st;
		daxfs_lease_query(fd, &st);
		check(st.state == DAXFS_LEASE_REVOKED, "the lease reads as revoked");
	}
	check(daxfs_persist(m, p, 4096) < 0 && errno == ENOLINK,
	      "calls on a revoked mapping fail: ENOLINK");
	/* A stray write by the holder lands in no file. */
	memset(p, 'S', 65536);
	fd_other = make_file("after-revoke", 1 << 20, 'n');
	{
		char *buf = malloc(1 << 20);
		int clean = pread(fd_other, buf, 1 << 20, 0) == 1 << 20;
		for (int i = 0; clean && i < 1 << 20; i++)
			clean = buf[i] == 'n';
		check(clean, "a file written after the revocation holds none of the stray bytes");
		free(buf);
	}
	close(fd_other);
	unlink(path("after-revoke"));
	check(daxfs_unmap(m) == 0, "the revoked mapping can be unmapped");
	check(stats(fd).quarantined_blocks == 0, "unmapping frees the quarantine");
	check(daxfs_lease_release(fd) == 0, "and the lease can be released");
	fsync(fd);
	statvfs(mnt, &v1);
	/* All 256 data blocks come back; a fragmented pool may also have
	 * needed an extent block or two, which a truncate to 0 frees too. */
	check(v1.f_bfree >= v0.f_bfree + 256 && v1.f_bfree <= v0.f_bfree + 260,
	      "space returned: %llu free blocks, %llu before + 256",
	      (unsigned long long)v1.f_bfree, (unsigned long long)v0.f_bfree);
	close(fd);
}

static void test_holder_killed(void)
{
	int fd = make_file("killed", 1 << 20, 'k'), ready[2], err = 0;
	struct bg g;
	pid_t h;
	char x;

	if (pipe(ready) < 0)
		return;
	h = fork();
	if (!h) {
		int hfd = open(path("killed"), O_RDWR);
		struct daxfs_client *hc = daxfs_client_open(hfd);
		struct daxfs_mapping *m;
		if (!hc || daxfs_lease_take(hfd, DAXFS_LEASE_WRITE) < 0 ||
		    !daxfs_map(hc, hfd, 0, 65536, DAXFS_MAP_READ | DAXFS_MAP_LONGTERM, &m))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	check(read(ready[0], &x, 1) == 1, "holder took a lease and a long-term map");
	close(ready[0]);
	g = bg_start(path("killed"), BG_TRUNC, 0, 0);
	check(!bg_done(&g, 300, &err), "the truncate breaks the lease and waits");
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	check(bg_done(&g, 10000, &err) && err == 0,
	      "kill -9 of the holder releases lease and pins; the truncate completes");
	check(stats(fd).leases == 0 && stats(fd).mappings == 0, "no lease or mapping is left");
	close(fd);
}

/*
 * The reference pinner wrote record k to slot k % nslots of its region up
 * to LAST: every slot must hold the newest such record, wherever the
 * layout change moved the region to.
 */
static int verify(const char *file, uint64_t off, uint64_t len, uint64_t last)
{
	struct rec {
		uint64_t magic, seq;
	} *r = malloc(len);
	uint64_t nslots = len / sizeof(*r), bad = 0;
	int fd = open(file, O_RDONLY);

	if (fd < 0 || pread(fd, r, len, (off_t)off) != (ssize_t)len) {
		perror(file);
		return 1;
	}
	for (uint64_t i = 0; i < nslots && i <= last; i++) {
		uint64_t want = last - ((last - i) % nslots);
		if (r[i].seq != want)
			bad++;
	}
	printf("%s - %llu slots hold the newest record up to %llu (%llu wrong)\n",
	       bad ? "FAIL" : "ok", (unsigned long long)nslots, (unsigned long long)last,
	       (unsigned long long)bad);
	printf("%d passed, %d failed\n", !bad, !!bad);
	free(r);
	close(fd);
	return bad ? 1 : 0;
}

/* ---- DAXFS_LEASE_WAIT ---- */

/* One raw wait on a thread of its own. */
struct waiter {
	pthread_t th;
	int fd;
	uint64_t timeout_ns;
	struct daxfs_ioc_lease st;
	int ret, err;
	int done; /* atomic */
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	memset(&w->st, 0, sizeof(w->st));
	w->st.op = DAXFS_LEASE_WAIT;
	w->st.deadline_ns = w->timeout_ns;
	w->ret = ioctl(w->fd, DAXFS_IOC_LEASE, &w->st);
	w->err = w->ret < 0 ? errno : 0;
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void waiter_start(struct waiter *w, int fd, uint64_t timeout_ns)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->timeout_ns = timeout_ns;
	if (pthread_create(&w->th, NULL, waiter_main, w)) {
		perror("lease-test: pthread_create");
		exit(1);
	}
}

/* Has the wait returned?  Looks for up to ms. */
static int waiter_done(struct waiter *w, int ms)
{
	for (int t = 0; !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && t < ms; t += 10)
		usleep(10000);
	return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

/* Join a wait that returned, or give up on one that never will. */
static void waiter_join(struct waiter *w)
{
	if (waiter_done(w, 10000))
		pthread_join(w->th, NULL);
	else
		pthread_detach(w->th);
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void test_wait(void)
{
	int fd = make_file("wait", 65536, 'w');
	struct daxfs_ioc_lease l;
	struct waiter w, many[17];
	struct sigaction sa;
	int queued = 0, full = 0;

	memset(&l, 0, sizeof(l));
	l.op = DAXFS_LEASE_WAIT;
	l.reserved = 1;
	check(ioctl(fd, DAXFS_IOC_LEASE, &l) < 0 && errno == EINVAL, "wait, reserved set: EINVAL");

	waiter_start(&w, fd, UINT64_MAX);
	check(waiter_done(&w, 10000) && w.ret == 0 && w.st.state == DAXFS_LEASE_NONE,
	      "wait with no limit on a file without a lease: answered at once, no lease");
	waiter_join(&w);

	check(lease_errno(fd, DAXFS_LEASE_WRITE) == 0, "a lease to wait on");
	/* Another user's open file holds no lease of its own: its wait with
	 * no limit is answered at once, not tied to root's lease. */
	{
		pid_t k = fork();
		if (!k) {
			int cfd;
			if (setgid(65534) || setuid(65534))
				_exit(9);
			alarm(10); /* a wait that blocks is the failure */
			cfd = open(path("wait"), O_RDONLY);
			memset(&l, 0, sizeof(l));
			l.op = DAXFS_LEASE_WAIT;
			l.deadline_ns = UINT64_MAX;
			_exit(cfd < 0 ? 8
			      : ioctl(cfd, DAXFS_IOC_LEASE, &l) == 0 && l.state == DAXFS_LEASE_NONE
				  ? 0
				  : 1);
		}
		int st;
		waitpid(k, &st, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "user nobody's wait with no limit on its own open file: no lease, at once");
	}
	waiter_start(&w, fd, 50 * 1000000ULL);
	check(waiter_done(&w, 10000) && w.ret == 0 && w.st.state == DAXFS_LEASE_ACTIVE,
	      "a 50 ms wait times out: the lease still active");
	waiter_join(&w);
	check(daxfs_lease_wait_break(fd, 50, NULL) == 0, "daxfs_lease_wait_break times out: 0");

	/* A signal ends a wait with EINTR, and the daemon forgets it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	waiter_start(&w, fd, UINT64_MAX);
	check(!waiter_done(&w, 300), "a wait with no limit blocks while the lease is active");
	for (int t = 0; t < 100 && !waiter_done(&w, 100); t++)
		pthread_kill(w.th, SIGUSR1);
	check(waiter_done(&w, 0) && w.ret < 0 && w.err == EINTR, "a signal ends the wait: EINTR");
	waiter_join(&w);

	/* At most 16 waits queue per open file (the interrupted one is not
	 * counted any more): of 17, whichever comes last is refused. */
	for (int i = 0; i < 17; i++)
		waiter_start(&many[i], fd, UINT64_MAX);
	for (int t = 0; t < 1000 && !full; t += 10, usleep(10000))
		for (int i = 0; i < 17; i++)
			if (waiter_done(&many[i], 0) && many[i].ret < 0 && many[i].err == EAGAIN)
				full = 1;
	check(full, "a 17th wait on one open file: EAGAIN");
	for (int i = 0; i < 17; i++)
		queued += !waiter_done(&many[i], 0);
	check(queued == 16, "16 waits queued on one open file (%d still waiting)", queued);

	/* A release answers every wait: no lease left. */
	check(daxfs_lease_release(fd) == 0, "release while 16 wait");
	queued = 0;
	for (int i = 0; i < 17; i++) {
		queued += waiter_done(&many[i], 10000) && many[i].ret == 0 &&
			  many[i].st.state == DAXFS_LEASE_NONE;
		waiter_join(&many[i]);
	}
	check(queued == 16, "the release answers all 16 waits: no lease (%d did)", queued);
	signal(SIGUSR1, SIG_DFL);
	close(fd);
}

/* lease-test wait FILE: hold a lease and wait with no limit. */
static int wait_mode(const char *file)
{
	struct daxfs_ioc_lease st;
	int fd = open(file, O_RDWR), r;

	if (fd < 0 || daxfs_lease_take(fd, DAXFS_LEASE_WRITE) < 0) {
		fprintf(stderr, "lease-test: %s: %s\n", file, strerror(errno));
		return 1;
	}
	printf("waiting\n");
	fflush(stdout);
	r = daxfs_lease_wait_break(fd, -1, &st);
	if (r < 0)
		printf("error %s\n", strerror(errno));
	else
		printf("%s\n", r ? "broken" : "not broken");
	return 0;
}

/* lease-test poll FILE N */
static int poll_mode(const char *file, int n)
{
	int fd = open(file, O_RDWR);

	if (fd < 0) {
		fprintf(stderr, "lease-test: %s: %s\n", file, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT | POLLPRI};

		if (poll(&p, 1, 0) != 1 || (p.revents & (POLLIN | POLLOUT | POLLPRI)) !=
						   (POLLIN | POLLOUT)) {
			fprintf(stderr, "lease-test: poll %d of %s: revents %#x\n", i, file,
				p.revents);
			return 1;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct daxfs_client *c;
	int fd;

	if (argc == 6 && !strcmp(argv[1], "verify"))
		return verify(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
			      strtoull(argv[5], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "wait"))
		return wait_mode(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "poll"))
		return poll_mode(argv[2], atoi(argv[3]));
	if (argc != 3 || strcmp(argv[1], "basic")) {
		fprintf(stderr, "usage: lease-test basic MNT | wait FILE | poll FILE N\n"
				"       lease-test verify FILE OFFSET LENGTH LAST\n");
		return 2;
	}
	mnt = argv[2];
	fd = make_file("client", 4096, 'c');
	c = daxfs_client_open(fd);
	if (!c) {
		fprintf(stderr, "lease-test: %s\n", daxfs_client_errormsg());
		return 1;
	}
	test_refusals(c);
	test_exclusive(c);
	test_break_honoured(c);
	test_wait();
	test_revoke(c);
	test_holder_killed();
	daxfs_client_close(c);
	close(fd);
	return report();
}
