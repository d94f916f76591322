/* SPDX-License-Identifier: MIT */
/*
 * pins-test - direct-access mappings, pins and deferred layout changes,
 * driven through a real daxfs mount with libdaxfs-client and the ioctls.
 *
 *   pins-test basic MNT      everything that needs a plain mount
 *   pins-test timeout MNT    the mount has busy_timeout=1
 *   pins-test hold FILE      map FILE's first 64 KiB for writing, fill it
 *                            with 'A', print "ready", then on each line of
 *                            stdin fill it with that line's first byte;
 *                            exit at EOF (for the daemon-crash test)
 *   pins-test hold-thread FILE  the same, but the map is made by a thread
 *                            that has exited by the time "ready" is
 *                            printed: the holder is the process
 *
 * Waiting is observed as state, never as a duration: a deferred truncate
 * has not returned while a pin exists, and has once the pin is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "daxfs/daxfs_client.h"
#include "daxfs/daxfs_ioctl.h"

#include "mount_test.h"

static int map_err(int fd, uint64_t off, uint64_t len, uint32_t flags)
{
	struct daxfs_ioc_map m;

	memset(&m, 0, sizeof(m));
	m.offset = off;
	m.length = len;
	m.flags = flags;
	if (ioctl(fd, DAXFS_IOC_MAP, &m) == 0) {
		struct daxfs_ioc_unmap u = {m.id};
		ioctl(fd, DAXFS_IOC_UNMAP, &u);
		return 0;
	}
	return errno;
}

static void test_errors(struct daxfs_client *c)
{
	int fd = make_file("err", 65536, 'e'), rfd;

	(void)c;
	check(map_err(fd, 100, 4096, DAXFS_MAP_READ) == EINVAL, "unaligned offset: EINVAL");
	check(map_err(fd, 0, 0, DAXFS_MAP_READ) == EINVAL, "zero length: EINVAL");
	check(map_err(fd, 65536, 4096, DAXFS_MAP_READ) == EINVAL, "past EOF: EINVAL");
	check(map_err(fd, 0, 4096, 0) == EINVAL, "no flags: EINVAL");
	check(map_err(fd, 0, 4096, 0x80) == EINVAL, "unknown flag: EINVAL");
	check(map_err(fd, 0, 4096, DAXFS_MAP_READ | DAXFS_MAP_LONGTERM) == EPERM,
	      "long-term map without a lease: EPERM");
	rfd = open(path("err"), O_RDONLY);
	check(map_err(rfd, 0, 4096, DAXFS_MAP_WRITE) == EACCES, "write map of a read-only fd: EACCES");
	check(map_err(rfd, 0, 4096, DAXFS_MAP_READ) == 0, "read map of a read-only fd works");
	{
		struct daxfs_ioc_unmap u = {123456789};
		check(ioctl(fd, DAXFS_IOC_UNMAP, &u) < 0 && errno == EINVAL,
		      "unmap of an unknown id: EINVAL");
	}
	{
		/* An id made through another open file is not this file's. */
		struct daxfs_ioc_map m = {.offset = 0, .length = 4096, .flags = DAXFS_MAP_READ};
		struct daxfs_ioc_unmap u;
		int ok = ioctl(fd, DAXFS_IOC_MAP, &m) == 0;
		u.id = m.id;
		check(ok && ioctl(rfd, DAXFS_IOC_UNMAP, &u) < 0 && errno == EINVAL,
		      "unmap through another open file: EINVAL");
		ioctl(fd, DAXFS_IOC_UNMAP, &u);
	}
	close(rfd);
	close(fd);
}

static void test_coherence(struct daxfs_client *c)
{
	int fd = make_file("coh", 3 * 4096 + 100, 'a');
	struct daxfs_mapping *m;
	char *p = daxfs_map(c, fd, 0, 4 * 4096, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);
	char buf[8192];

	check(p != NULL, "map 4 blocks for writing (%s)", p ? "" : daxfs_client_errormsg());
	if (!p)
		return;
	check(daxfs_mapping_length(m) == 4 * 4096, "mapping covers the partial last block");
	check(p[0] == 'a' && p[3 * 4096 + 99] == 'a' && p[3 * 4096 + 100] == 0,
	      "mapping shows the file's bytes, zeros past EOF");
	/* Read through the mount first so the kernel caches the page. */
	check(pread(fd, buf, 10, 0) == 10 && buf[0] == 'a', "read through the mount");
	memset(p, 'Z', 8192);
	check(daxfs_persist(m, p, 8192) == 0, "daxfs_persist");
	check(pread(fd, buf, 8192, 0) == 8192 && buf[0] == 'Z' && buf[8191] == 'Z',
	      "read(2) after persist sees the direct write (no stale page cache)");
	check(pwrite(fd, "WRITE", 5, 4096 * 2 + 10) == 5 && !memcmp(p + 4096 * 2 + 10, "WRITE", 5),
	      "a write(2) through the mount is seen through the mapping");
	{
		struct daxfs_ioc_pins pins;
		memset(&pins, 0, sizeof(pins));
		pins.flags = DAXFS_PINS_THIS_FILE;
		check(ioctl(fd, DAXFS_IOC_PINS, &pins) == 0 && pins.count == 1 &&
			      pins.pin[0].length == 4 * 4096 && pins.pin[0].holder_pid == (uint32_t)getpid() &&
			      (pins.pin[0].flags & DAXFS_MAP_WRITE),
		      "DAXFS_IOC_PINS lists the mapping with its holder");
	}
	memset(p + 4096 * 3, 'Q', 100);
	check(daxfs_unmap(m) == 0, "daxfs_unmap");
	check(pread(fd, buf, 100, 3 * 4096) == 100 && buf[0] == 'Q' && buf[99] == 'Q',
	      "read(2) after unmap sees the direct write");
	close(fd);
}

/* The flags DAXFS_IOC_PINS lists for fd's only mapping (0: none). */
static uint32_t pin_flags(int fd)
{
	struct daxfs_ioc_pins pins;

	memset(&pins, 0, sizeof(pins));
	pins.flags = DAXFS_PINS_THIS_FILE;
	if (ioctl(fd, DAXFS_IOC_PINS, &pins) || pins.count != 1)
		return 0;
	return pins.pin[0].flags;
}

/*
 * A plain read mapping of blocks a clone shares is a snapshot: writes to
 * the clone and then to the mapped file go to copies and the mapping keeps
 * the old bytes; a truncate of both files does not wait for it (busy_timeout
 * is 0 on this mount: a wait would hang the test); the blocks come back at
 * unmap.  A coherent read mapping sees later writes.
 */
static void test_snapshot(struct daxfs_client *c)
{
	int fa = make_file("snapa", 4 * 4096, 'o'), fb = make_file("snapb", 0, 0), ra;
	struct daxfs_stats st0 = stats(fa), st;
	struct daxfs_mapping *m;
	char buf[8], *p;
	uint32_t fl;

	check(daxfs_reflink_range(fb, 0, fa, 0, 4 * 4096, NULL) == 0, "clone snapa to snapb (%s)",
	      daxfs_client_errormsg());
	ra = open(path("snapa"), O_RDONLY);
	p = daxfs_map(c, ra, 0, 4 * 4096, DAXFS_MAP_READ, &m);
	check(p != NULL, "read map of the shared blocks (%s)", p ? "" : daxfs_client_errormsg());
	if (!p)
		return;
	fl = pin_flags(ra);
	check((fl & DAXFS_MAP_SNAPSHOT) && !(fl & DAXFS_MAP_WRITE),
	      "DAXFS_IOC_PINS lists it as a snapshot (flags %#x)", fl);
	st = stats(fa);
	check(st.snapshot_blocks == st0.snapshot_blocks + 4, "stats: 4 snapshot blocks (%llu)",
	      (unsigned long long)st.snapshot_blocks);
	check(pwrite(fb, "BBBB", 4, 0) == 4 && pwrite(fa, "AAAA", 4, 0) == 4,
	      "write the clone, then the mapped file");
	check(pread(fa, buf, 4, 0) == 4 && !memcmp(buf, "AAAA", 4), "snapa reads its write");
	check(pread(fb, buf, 4, 0) == 4 && !memcmp(buf, "BBBB", 4), "snapb reads its write");
	check(!memcmp(p, "oooo", 4), "the mapping kept the old bytes");
	check(ftruncate(fa, 0) == 0 && ftruncate(fb, 0) == 0,
	      "truncating both files does not wait for the snapshot");
	check(p[4096] == 'o' && p[4 * 4096 - 1] == 'o', "the mapping still reads the old bytes");
	check(daxfs_unmap(m) == 0, "daxfs_unmap");
	st = stats(fa);
	check(st.snapshot_blocks == st0.snapshot_blocks && st.pinned_blocks == st0.pinned_blocks,
	      "nothing held after the unmap");

	/* Coherent: the map gives snapa its own blocks, and sees writes. */
	check(pwrite(fa, "oooooooo", 8, 0) == 8, "refill snapa");
	check(daxfs_reflink_range(fb, 0, fa, 0, 4096, NULL) == 0, "clone it again");
	p = daxfs_map(c, ra, 0, 4096, DAXFS_MAP_READ | DAXFS_MAP_COHERENT, &m);
	check(p != NULL, "coherent read map (%s)", p ? "" : daxfs_client_errormsg());
	if (p) {
		check(!(pin_flags(ra) & DAXFS_MAP_SNAPSHOT), "not a snapshot");
		check(pwrite(fa, "CCCC", 4, 0) == 4 && !memcmp(p, "CCCC", 4),
		      "a later write shows through it");
		check(pread(fb, buf, 4, 0) == 4 && !memcmp(buf, "oooo", 4), "and not in snapb");
		daxfs_unmap(m);
	}
	close(ra);
	close(fa);
	close(fb);
	unlink(path("snapa"));
	unlink(path("snapb"));
}

static void test_holes(struct daxfs_client *c)
{
	int fd = open(path("holes"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct daxfs_mapping *m;
	struct stat st;
	char *p;

	if (ftruncate(fd, 1 << 20) < 0)
		perror("ftruncate");
	p = daxfs_map(c, fd, 256 * 1024, 64 * 1024, DAXFS_MAP_READ, &m);
	fstat(fd, &st);
	check(p && st.st_blocks == 64 * 1024 / 512, "a read map backs the holes it covers (%lld)",
	      (long long)st.st_blocks);
	if (p) {
		int zero = 1;
		for (int i = 0; i < 64 * 1024; i++)
			zero &= p[i] == 0;
		check(zero, "backed holes read as zeros");
		check(pwrite(fd, "fill", 4, 256 * 1024 + 4096) == 4 && !memcmp(p + 4096, "fill", 4),
		      "write(2) into a mapped former hole is seen through the mapping");
		daxfs_unmap(m);
	}
	close(fd);
}

static void test_deferral(struct daxfs_client *c)
{
	int fd = make_file("defer", 1 << 20, 'd'), err = 0, other;
	struct daxfs_mapping *m;
	struct daxfs_stats s0 = stats(fd), s1;
	struct bg g;
	struct stat st;
	char *p = daxfs_map(c, fd, 512 * 1024, 64 * 1024, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);

	check(p != NULL, "map [512K, 576K)");
	if (!p)
		return;

	/* Changes that do not touch the pinned range run at once. */
	g = bg_start(path("defer"), BG_PUNCH, 0, 64 * 1024);
	check(bg_done(&g, 10000, &err) && err == 0, "punch outside the pinned range runs at once");
	g = bg_start(path("defer"), BG_TRUNC, 600 * 1024, 0);
	check(bg_done(&g, 10000, &err) && err == 0, "truncate above the pinned range runs at once");

	/* A truncate into it waits for the pin. */
	g = bg_start(path("defer"), BG_TRUNC, 4096, 0);
	check(!bg_done(&g, 500, &err), "truncate into the pinned range waits");
	fstat(fd, &st);
	check(st.st_size == 600 * 1024, "... and has changed nothing yet");
	check(p[0] == 'd' && p[64 * 1024 - 1] == 'd', "... the pinned bytes are intact");
	s1 = stats(fd);
	check(s1.deferrals == s0.deferrals + 1 && s1.deferred_now == 1,
	      "stats count the deferral (%llu waiting)", (unsigned long long)s1.deferred_now);

	/* Other files, and other requests on this file, go on meanwhile. */
	other = make_file("other", 8192, 'o');
	check(other >= 0 && ftruncate(other, 0) == 0, "truncate of another file runs meanwhile");
	close(other);
	{
		char b[4];
		check(pread(fd, b, 4, 0) == 4, "a read of the same file runs meanwhile");
	}

	memset(p, 'X', 4096);
	daxfs_unmap(m);
	check(bg_done(&g, 10000, &err) && err == 0, "the truncate completes once unmapped");
	fstat(fd, &st);
	check(st.st_size == 4096, "size is the truncated one");
	s1 = stats(fd);
	check(s1.deferred_now == 0 && s1.deferral_max_ns > 0 && s1.pinned_blocks == 0,
	      "stats: nothing waits, longest deferral recorded, no pinned blocks");
	close(fd);
}

/* The live mappings made through fd's open file. */
static uint32_t file_pins(int fd, struct daxfs_pin_info *first)
{
	struct daxfs_ioc_pins pins;

	memset(&pins, 0, sizeof(pins));
	pins.flags = DAXFS_PINS_THIS_FILE;
	if (ioctl(fd, DAXFS_IOC_PINS, &pins) < 0)
		return UINT32_MAX;
	if (first && pins.count)
		*first = pins.pin[0];
	return pins.count;
}

/* DAXFS_IOC_MAP with DAXFS_MAP_REPLACE of mapping id; errno or 0. */
static int replace(int fd, uint64_t id, uint64_t off, uint64_t len, uint32_t flags,
		   struct daxfs_ioc_map *out)
{
	struct daxfs_ioc_map m;

	memset(&m, 0, sizeof(m));
	m.offset = off;
	m.length = len;
	m.flags = flags | DAXFS_MAP_REPLACE;
	m.id = id;
	if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0)
		return errno;
	if (out)
		*out = m;
	return 0;
}

/*
 * A window moved in one request (DAXFS_MAP_REPLACE, daxfs_remap): refused
 * arguments leave the old mapping in place; a change waiting for the old
 * window's pins runs, and the new map after it, instead of each waiting
 * for the other.
 */
static void test_remap(struct daxfs_client *c)
{
	int fd = make_file("remap", 64 * 4096, 'r'), rfd = open(path("remap"), O_RDONLY), err = 0;
	struct daxfs_ioc_map m = {.offset = 0, .length = 8192, .flags = DAXFS_MAP_READ}, n, o;
	struct daxfs_pin_info pi;
	struct daxfs_mapping *dm;
	struct bg g;
	struct stat st;
	char buf[4096], *p, *q;

	check(ioctl(fd, DAXFS_IOC_MAP, &m) == 0, "map [0, 8K)");
	check(replace(fd, 987654321, 4096, 4096, DAXFS_MAP_READ, NULL) == EINVAL,
	      "replace of an unknown id: EINVAL");
	check(replace(fd, m.id, 100, 4096, DAXFS_MAP_READ, NULL) == EINVAL,
	      "replace to an unaligned offset: EINVAL");
	check(replace(fd, m.id, 0, 4096, DAXFS_MAP_READ | 0x80, NULL) == EINVAL,
	      "replace with an unknown flag: EINVAL");
	check(replace(fd, m.id, 0, 4096, DAXFS_MAP_REPLACE, NULL) == EINVAL,
	      "replace with no access flag: EINVAL");
	check(replace(rfd, m.id, 0, 4096, DAXFS_MAP_READ, NULL) == EINVAL,
	      "replace of another open file's mapping: EINVAL");
	o = (struct daxfs_ioc_map){.offset = 0, .length = 4096, .flags = DAXFS_MAP_READ};
	check(ioctl(rfd, DAXFS_IOC_MAP, &o) == 0 &&
		  replace(fd, o.id, 0, 4096, DAXFS_MAP_READ, NULL) == EINVAL,
	      "replace through one open file of the other's mapping: EINVAL");
	check(replace(rfd, o.id, 0, 4096, DAXFS_MAP_WRITE, NULL) == EACCES,
	      "replace with a write map on a read-only open file: EACCES");
	check(ioctl(rfd, DAXFS_IOC_UNMAP, &(struct daxfs_ioc_unmap){o.id}) == 0,
	      "... which kept its mapping");
	check(file_pins(fd, &pi) == 1 && pi.id == m.id && pi.offset == 0 && pi.length == 8192,
	      "after the refusals the old mapping is still there, unchanged");
	check(replace(fd, m.id, 16 * 4096, 3 * 4096, DAXFS_MAP_READ, &n) == 0 && n.id != m.id &&
		  n.length == 3 * 4096 && !(n.flags & DAXFS_MAP_REPLACE),
	      "replace moves the window to [64K, 76K)");
	check(file_pins(fd, &pi) == 1 && pi.id == n.id && pi.offset == 16 * 4096,
	      "one mapping is left, the new one");
	check(ioctl(fd, DAXFS_IOC_UNMAP, &(struct daxfs_ioc_unmap){m.id}) < 0 && errno == EINVAL,
	      "the old id is gone");
	check(replace(fd, n.id, 64 * 4096, 4096, DAXFS_MAP_READ, NULL) == EINVAL &&
		  file_pins(fd, NULL) == 0,
	      "a replace past EOF fails, having dropped the old window (as mmap MAP_FIXED)");

	/* A truncate waiting for the window's pins, then the window moved
	 * below it: the drop lets the truncate run, then the map runs. */
	check(ioctl(fd, DAXFS_IOC_MAP, &m) == 0, "map [0, 8K) again");
	g = bg_start(path("remap"), BG_TRUNC, 4096, 0);
	check(!bg_done(&g, 300, &err), "a truncate to 4 KiB waits for the pins");
	check(replace(fd, m.id, 0, 4096, DAXFS_MAP_READ, &o) == 0 && o.length == 4096,
	      "the window moves to [0, 4K), behind the truncate");
	check(bg_done(&g, 10000, &err) && err == 0, "... and the truncate has run");
	fstat(fd, &st);
	check(st.st_size == 4096, "size is the truncated one");
	ioctl(fd, DAXFS_IOC_UNMAP, &(struct daxfs_ioc_unmap){o.id});
	close(fd);
	close(rfd);

	/* daxfs_remap: writes through each window land in the file. */
	fd = make_file("remap2", 64 * 4096, 'r');
	p = daxfs_map(c, fd, 0, 8192, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &dm);
	check(p != NULL, "daxfs_map [0, 8K)");
	if (!p) {
		close(fd);
		return;
	}
	memset(p, 'A', 8192);
	q = daxfs_remap(dm, 8192, 8192);
	check(q == p, "daxfs_remap to [8K, 16K) keeps the address (%s)",
	      q ? "" : daxfs_client_errormsg());
	if (q) {
		memset(q, 'B', 8192);
		q = daxfs_remap(dm, 16 * 4096, 4 * 4096);
		check(q && daxfs_mapping_length(dm) == 4 * 4096 && q[0] == 'r',
		      "daxfs_remap to a longer window [64K, 80K)");
	}
	if (q) {
		memset(q, 'C', 4 * 4096);
		check(file_pins(fd, &pi) == 1 && pi.offset == 16 * 4096, "one mapping, the last");
	}
	check(pread(fd, buf, 4096, 4096) == 4096 && buf[0] == 'A' && buf[4095] == 'A',
	      "the first window's bytes are in the file");
	check(pread(fd, buf, 4096, 12288) == 4096 && buf[0] == 'B', "... the second's");
	check(pread(fd, buf, 4096, 19 * 4096) == 4096 && buf[0] == 'C' && buf[4095] == 'C',
	      "... and the third's, read through the mount");
	q = daxfs_remap(dm, 64 * 4096, 4096);
	check(q == NULL && file_pins(fd, NULL) == 0,
	      "daxfs_remap past EOF fails, and nothing stays mapped");
	check(daxfs_remap(dm, 0, 4096) == NULL, "a failed mapping cannot be remapped");
	check(daxfs_unmap(dm) == 0, "... only unmapped");
	close(fd);
}

static void test_release_drops(struct daxfs_client *c)
{
	int fd = make_file("rel", 256 * 1024, 'r'), err = 0, ready[2];
	struct bg g;
	pid_t holder;
	char x;

	(void)c;
	if (pipe(ready) < 0)
		return;
	holder = fork();
	if (!holder) {
		int hfd = open(path("rel"), O_RDWR);
		struct daxfs_client *hc = daxfs_client_open(hfd);
		struct daxfs_mapping *m;
		close(ready[0]);
		if (!hc || !daxfs_map(hc, hfd, 0, 256 * 1024, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	check(read(ready[0], &x, 1) == 1, "holder process mapped the file");
	close(ready[0]);
	g = bg_start(path("rel"), BG_TRUNC, 0, 0);
	check(!bg_done(&g, 500, &err), "truncate waits for the holder's pins");
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	check(bg_done(&g, 10000, &err) && err == 0,
	      "kill -9 of the holder releases its pins; the truncate completes");
	close(fd);
}

static void test_collapse_waits(struct daxfs_client *c)
{
	int fd = make_file("coll", 1 << 20, 'c'), err = 0;
	struct daxfs_mapping *m;
	char *p = daxfs_map(c, fd, 768 * 1024, 4096, DAXFS_MAP_READ, &m);
	struct bg g;

	if (!p)
		return;
	/* Collapse moves everything after its offset, pinned blocks too. */
	g = bg_start(path("coll"), BG_COLLAPSE, 0, 64 * 1024);
	check(!bg_done(&g, 500, &err), "collapse before a pinned block waits (it moves it)");
	daxfs_unmap(m);
	check(bg_done(&g, 10000, &err) && err == 0, "collapse completes once unmapped");
	close(fd);
}

struct trunc_arg {
	int fd;
	int err;
};

static void *trunc_thread(void *arg)
{
	struct trunc_arg *t = arg;

	t->err = ftruncate(t->fd, 0) ? errno : 0;
	return NULL;
}

/*
 * A thousand waiting truncates hold no worker thread: the unmaps that
 * release them still get through.  One file each, since the kernel lets
 * only one truncate per inode reach the daemon at a time.
 */
static void test_thousand(struct daxfs_client *c)
{
	enum { N = 1000 };
	static pthread_t th[N];
	static struct trunc_arg ta[N];
	static struct daxfs_mapping *m[N];
	int started = 0, ok = 1, mapped = 1;
	pthread_attr_t a;

	if (mkdir(path("many"), 0755) < 0 && errno != EEXIST)
		return;
	for (int i = 0; i < N && mapped; i++) {
		char name[32];
		snprintf(name, sizeof(name), "many/%d", i);
		ta[i].fd = make_file(name, 4096, 'm');
		mapped = daxfs_map(c, ta[i].fd, 0, 4096, DAXFS_MAP_READ, &m[i]) != NULL;
	}
	check(mapped, "%d files mapped", N);
	if (!mapped)
		return;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (int i = 0; i < N; i++)
		if (!pthread_create(&th[i], &a, trunc_thread, &ta[i]))
			started++;
	for (int i = 0; i < 300 && stats(ta[0].fd).deferred_now < (uint64_t)started; i++)
		usleep(100000);
	check(stats(ta[0].fd).deferred_now == (uint64_t)started, "%d truncates wait at once",
	      started);
	for (int i = 0; i < N; i++)
		ok &= daxfs_unmap(m[i]) == 0;
	check(ok, "the %d unmaps are served while they wait", N);
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		ok &= ta[i].err == 0;
	}
	check(ok, "all %d truncates complete", started);
	for (int i = 0; i < N; i++)
		close(ta[i].fd);
}

/*
 * The invariant, under load: bytes written through a pinned mapping never
 * appear in another file.  Workers share the files; each round one maps a
 * range and writes its file's tag through the mapping for a while, or
 * truncates, punches or writes (re-allocating) without holding a mapping,
 * so the changes of one wait for the pins of the others.
 */
static void test_stress(int seconds)
{
	enum { NPROC = 4, NFILES = 4, FSIZE = 256 * 1024 };
	pid_t kids[NPROC];
	int bad = 0;

	for (int k = 0; k < NFILES; k++) {
		char name[32];
		snprintf(name, sizeof(name), "stress%d", k);
		close(make_file(name, FSIZE, 'a' + k));
	}
	for (int w = 0; w < NPROC; w++) {
		kids[w] = fork();
		if (!kids[w]) {
			int fds[NFILES];
			struct daxfs_client *cl;
			time_t end = time(NULL) + seconds;

			for (int k = 0; k < NFILES; k++) {
				char name[32];
				snprintf(name, sizeof(name), "stress%d", k);
				fds[k] = open(path(name), O_RDWR);
			}
			cl = daxfs_client_open(fds[0]);
			srand((unsigned)getpid());
			while (time(NULL) < end && cl) {
				int k = rand() % NFILES, fd = fds[k];
				uint64_t off = (uint64_t)(rand() % (FSIZE / 4096)) * 4096;
				struct daxfs_mapping *m;
				char buf[16384], *p;

				switch (rand() % 5) {
				case 0:
				case 1:
					p = daxfs_map(cl, fd, (off_t)off, 4 * 4096,
						      DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);
					if (!p)
						break; /* past EOF after a truncate */
					for (int r = 0; r < 50; r++)
						for (size_t i = 0; i + 4 <= daxfs_mapping_length(m);
						     i += 64) {
							memcpy(p + i, "TAG", 3);
							p[i + 3] = (char)('0' + k);
						}
					daxfs_unmap(m);
					break;
				case 2:
					if (ftruncate(fd, (off_t)(rand() % FSIZE)) < 0)
						_exit(3);
					break;
				case 3:
					if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						      (off_t)off, 8192) < 0)
						_exit(4);
					break;
				default:
					memset(buf, 'a' + k, sizeof(buf));
					if (pwrite(fd, buf, sizeof(buf), (off_t)off) < 0)
						_exit(5);
					break;
				}
			}
			_exit(cl ? 0 : 6);
		}
	}
	for (int w = 0; w < NPROC; w++) {
		int st;
		waitpid(kids[w], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	check(!bad, "%d stress workers ran %d s without an error", NPROC, seconds);
	for (int k = 0; k < NFILES; k++) {
		char name[32], *buf = malloc(FSIZE);
		int fd;
		ssize_t n;

		snprintf(name, sizeof(name), "stress%d", k);
		fd = open(path(name), O_RDONLY);
		n = pread(fd, buf, FSIZE, 0);
		/* A truncate to an unaligned size may cut a tag after its
		 * "TAG": the tail reads as zeros (POSIX), so "TAG\0" is a cut
		 * tag of this file, not bytes of another. */
		for (ssize_t i = 0; i + 4 <= n; i++)
			if (!memcmp(buf + i, "TAG", 3) && buf[i + 3] != '0' + k && buf[i + 3]) {
				printf("# %s holds TAG followed by byte %d at offset %zd (size %zd)\n",
				       name, buf[i + 3], i, n);
				bad++;
				break;
			}
		close(fd);
		free(buf);
	}
	check(!bad, "no file holds bytes written through another file's mapping");
	{
		int fd = open(path("stress0"), O_RDONLY);
		struct daxfs_stats s = stats(fd);
		check(s.pinned_blocks == 0 && s.mappings == 0 && s.maps > 0,
		      "no pins left after the workers (%llu maps, %llu deferrals)",
		      (unsigned long long)s.maps, (unsigned long long)s.deferrals);
		close(fd);
	}
}

static void test_dma_stats(int fd)
{
	struct daxfs_stats s = stats(fd);

	check(s.maps > 0 && s.maps == s.unmaps && s.pins_taken == s.pins_dropped,
	      "every map was unmapped, every pin dropped (%llu maps)", (unsigned long long)s.maps);
}

static int run_timeout(struct daxfs_client *c)
{
	int fd = make_file("tmo", 64 * 1024, 't'), err = 0;
	struct daxfs_mapping *m;
	char *p = daxfs_map(c, fd, 0, 64 * 1024, DAXFS_MAP_READ, &m);
	struct bg g;
	struct stat st;

	check(p != NULL, "map");
	if (!p)
		return 1;
	g = bg_start(path("tmo"), BG_TRUNC, 0, 0);
	check(bg_done(&g, 30000, &err) && err == EBUSY, "busy_timeout=1: the truncate fails with EBUSY");
	fstat(fd, &st);
	check(st.st_size == 64 * 1024 && p[100] == 't', "... and nothing changed");
	check(stats(fd).ebusy == 1, "stats count the EBUSY");
	daxfs_unmap(m);
	check(ftruncate(fd, 0) == 0, "once unmapped the truncate works");
	close(fd);
	return 0;
}

struct hold_map {
	struct daxfs_client *c;
	int fd;
	struct daxfs_mapping *m;
	char *p;
};

static void *hold_map_thread(void *arg)
{
	struct hold_map *h = arg;

	h->p = daxfs_map(h->c, h->fd, 0, 64 * 1024, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &h->m);
	return NULL;
}

static int run_hold(const char *file, int in_thread)
{
	int fd = open(file, O_RDWR);
	struct daxfs_client *c = fd >= 0 ? daxfs_client_open(fd) : NULL;
	struct hold_map h = {c, fd, NULL, NULL};
	struct daxfs_mapping *m;
	char line[64], *p;

	if (!c) {
		fprintf(stderr, "hold: %s\n", daxfs_client_errormsg());
		return 1;
	}
	if (in_thread) {
		/* FUSE names the thread that asked; it is gone before the
		 * crash, its process and the mapping of the pool are not. */
		pthread_t t;

		if (pthread_create(&t, NULL, hold_map_thread, &h) || pthread_join(t, NULL))
			return 1;
	} else {
		hold_map_thread(&h);
	}
	p = h.p;
	m = h.m;
	if (!p) {
		fprintf(stderr, "hold: %s\n", daxfs_client_errormsg());
		return 1;
	}
	memset(p, 'A', 64 * 1024);
	daxfs_persist(m, p, 64 * 1024);
	printf("ready\n");
	fflush(stdout);
	/* The daemon may die under us: stores go to our own pool mapping. */
	while (fgets(line, sizeof(line), stdin)) {
		memset(p, line[0], 64 * 1024);
		msync(p, 64 * 1024, MS_SYNC);
		printf("wrote %c\n", line[0]);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct daxfs_client *c;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "hold"))
		return run_hold(argv[2], 0);
	if (argc == 3 && !strcmp(argv[1], "hold-thread"))
		return run_hold(argv[2], 1);
	if (argc < 3) {
		fprintf(stderr, "usage: pins-test basic|timeout|stress MNT [SECONDS] | "
				"hold|hold-thread FILE\n");
		return 2;
	}
	mnt = argv[2];
	fd = make_file("client", 4096, 'c');
	c = daxfs_client_open(fd);
	if (!c) {
		fprintf(stderr, "pins-test: %s\n", daxfs_client_errormsg());
		return 1;
	}
	if (!strcmp(argv[1], "basic")) {
		test_errors(c);
		test_coherence(c);
		test_snapshot(c);
		test_holes(c);
		test_deferral(c);
		test_release_drops(c);
		test_remap(c);
		test_collapse_waits(c);
		test_thousand(c);
		test_dma_stats(fd);
	} else if (!strcmp(argv[1], "timeout")) {
		run_timeout(c);
	} else if (!strcmp(argv[1], "stress")) {
		test_stress(argc > 3 ? atoi(argv[3]) : 5);
		test_dma_stats(fd);
	}
	daxfs_client_close(c);
	close(fd);
	return report();
}
