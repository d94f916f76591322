/* SPDX-License-Identifier: MIT */
/*
 * ioctl-fuzz - random daxfs ioctls against a mount, from root and from
 * user nobody at once, for a bounded time.
 *
 *   ioctl-fuzz MNT SECONDS [SEED]
 *
 * Workers (three as root, two as nobody) keep a few descriptors of a few
 * shared files open in random modes and send random commands: the daxfs
 * ones with random and hostile fields (ranges that wrap, offsets past the
 * largest file, zero lengths, stale and made-up mapping ids, maps that
 * replace a window by a live, stale or another descriptor's id, unknown
 * lease ops and flags, lease waits of up to 30 ms), unknown numbers and
 * sizes in the daxfs and other ioctl spaces, bad pointers, and between
 * them truncates, punches, writes and closes that meet the pins the maps
 * left.  What must hold:
 *
 *   - the daemon answers every call (no ENOTCONN, no ECONNABORTED);
 *   - nobody, who has no direct access on the mount, gets EPERM for every
 *     well-formed MAP and LEASE;
 *   - a map that succeeds returns 1..32 extents inside the pool and the
 *     asked range, whole blocks, and a non-zero length;
 *   - a map with DAXFS_MAP_REPLACE that succeeds has dropped the mapping
 *     it named (an unmap of that id gives EINVAL);
 *   - once every descriptor is closed no mapping and no pin is left.
 *
 * The pool is checked (fsck.daxfs -n) by the script after the unmount.
 * The seed is printed, and the same seed makes the same calls (their
 * interleaving across workers, and so some results, differ).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
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

#define NOBODY	 65534
#define NFILES	 8
#define NFDS	 6
#define NWORKERS 5
#define NROOT	 3
#define ARGBUF	 (1 << 14) /* the largest _IOC_SIZE */

static const char *mnt;
static uint64_t rng;
static uint64_t pool_size;
static int is_root;
static unsigned long calls, maps_ok, replaces, eperm, problems;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* A value a hostile caller would try for an offset, length or id. */
static uint64_t hostile(void)
{
	static const uint64_t v[] = {
	    0,
	    1,
	    4095,
	    4096,
	    4097,
	    8192,
	    65536,
	    1ULL << 20,
	    1ULL << 32,
	    (1ULL << 44) - 4096,
	    (1ULL << 44) - 1,
	    1ULL << 44,
	    (1ULL << 44) + 4096,
	    (uint64_t)INT64_MAX,
	    (uint64_t)INT64_MAX + 1,
	    UINT64_MAX - 8191,
	    UINT64_MAX - 4095,
	    UINT64_MAX,
	};

	switch (below(4)) {
	case 0:
		return v[below(sizeof(v) / sizeof(v[0]))];
	case 1:
		return rnd();
	default: /* plausible: a block-aligned offset in the first 4 MiB */
		return below(1024) * 4096;
	}
}

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
	va_list ap;

	if (problems++ >= 20)
		return;
	printf("FAIL - [%s %d] ", is_root ? "root" : "nobody", (int)getpid());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Did the daemon answer?  (It is gone if the kernel says so.) */
static void answered(int ret, const char *what)
{
	if (ret < 0 && (errno == ENOTCONN || errno == ECONNABORTED))
		problem("%s: %s: the daemon is gone", what, strerror(errno));
}

struct fds {
	int fd[NFDS];
	uint64_t ids[64]; /* mapping ids seen, for unmap and sync */
	int idfd[64];	  /* ... and the descriptor each was made through */
	int nids;
};

static char *file_path(int k)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/fuzz%d", mnt, k);
	return buf;
}

static void reopen(struct fds *s, int i)
{
	static const int modes[] = {O_RDONLY, O_RDWR, O_WRONLY, O_RDWR};

	if (s->fd[i] >= 0)
		close(s->fd[i]);
	s->fd[i] = open(file_path((int)below(NFILES)), modes[below(4)]);
	if (s->fd[i] < 0)
		answered(-1, "open");
}

static uint64_t some_id(const struct fds *s)
{
	return s->nids && below(3) ? s->ids[below((uint64_t)s->nids)] : hostile();
}

/* The newest id made through fd, the likeliest to be live (else as
 * some_id); it leaves the list, as a replace that works ends it. */
static uint64_t own_id(struct fds *s, int fd)
{
	for (int i = s->nids - 1; i >= 0; i--)
		if (s->idfd[i] == fd) {
			uint64_t id = s->ids[i];

			s->ids[i] = s->ids[--s->nids];
			s->idfd[i] = s->idfd[s->nids];
			return id;
		}
	return some_id(s);
}

static void check_map(const struct daxfs_ioc_map *in, const struct daxfs_ioc_map *m)
{
	uint64_t end = in->offset + ((in->length + 4095) & ~4095ULL);

	maps_ok++;
	if (!m->length || m->length % 4096 || m->nextents == 0 ||
	    m->nextents > DAXFS_MAP_MAX_EXTENTS || m->offset != in->offset ||
	    m->length > end - in->offset) {
		problem("map %#llx+%#llx gave %#llx bytes in %u extents",
			(unsigned long long)in->offset, (unsigned long long)in->length,
			(unsigned long long)m->length, m->nextents);
		return;
	}
	for (uint32_t i = 0; i < m->nextents; i++) {
		const struct daxfs_map_extent *e = &m->ext[i];
		if (!e->len || e->len % 4096 || e->pool_off % 4096 || e->pool_off >= pool_size ||
		    e->len > pool_size - e->pool_off || e->file_off < m->offset ||
		    e->file_off + e->len > m->offset + m->length)
			problem("map extent %u: file %#llx pool %#llx len %#llx", i,
				(unsigned long long)e->file_off, (unsigned long long)e->pool_off,
				(unsigned long long)e->len);
	}
}

/* One well-formed daxfs command with random, often hostile, fields. */
static void daxfs_cmd(struct fds *s, int fd, void *buf)
{
	int which = (int)below(9), ret;

	memset(buf, 0, ARGBUF);
	if (!below(8)) /* random bytes in every field, reserved ones too */
		for (size_t i = 0; i < sizeof(struct daxfs_ioc_map); i++)
			((unsigned char *)buf)[i] = (unsigned char)rnd();
	switch (which) {
	case 0: {
		struct daxfs_ioc_map *m = buf, in;

		if (below(8)) {
			/* Mostly ranges that may map, to hold pins; else hostile. */
			m->offset = below(4) ? below(256) * 4096 : hostile();
			m->length = below(4) ? below(64) * 4096 + below(2) : hostile();
			m->flags = (uint32_t)(below(4) ? 1 + below(3) : rnd() & 0x1ff);
			/* A window moved: from a live, stale or hostile id. */
			if (!below(4)) {
				m->flags |= DAXFS_MAP_REPLACE;
				m->id = below(4) ? own_id(s, fd) : some_id(s);
			}
		}
		in = *m;
		ret = ioctl(fd, DAXFS_IOC_MAP, m);
		answered(ret, "MAP");
		if (!is_root && (ret == 0 || errno != EPERM))
			problem("nobody's MAP: %s, not EPERM", ret ? strerror(errno) : "success");
		if (ret == 0 && (in.flags & DAXFS_MAP_REPLACE)) {
			struct daxfs_ioc_unmap old = {in.id};

			/* The window it named is gone. */
			replaces++;
			if (ioctl(fd, DAXFS_IOC_UNMAP, &old) == 0 || errno != EINVAL)
				problem("MAP_REPLACE of %#llx left it mapped",
					(unsigned long long)in.id);
		}
		if (ret == 0) {
			check_map(&in, m);
			/* Half are dropped at once, so that not every change
			 * waits for busy_timeout. */
			if (below(2)) {
				struct daxfs_ioc_unmap u = {m->id};
				answered(ioctl(fd, DAXFS_IOC_UNMAP, &u), "UNMAP");
				break;
			}
			{
				int k = s->nids < 64 ? s->nids++ : (int)below(64);

				s->ids[k] = m->id;
				s->idfd[k] = fd;
			}
		}
		eperm += ret < 0 && errno == EPERM;
		break;
	}
	case 1: {
		struct daxfs_ioc_unmap *u = buf;
		u->id = some_id(s);
		answered(ioctl(fd, DAXFS_IOC_UNMAP, u), "UNMAP");
		break;
	}
	case 2: {
		struct daxfs_ioc_sync *y = buf;
		y->id = some_id(s);
		y->offset = hostile();
		y->length = hostile();
		answered(ioctl(fd, DAXFS_IOC_SYNC, y), "SYNC");
		break;
	}
	case 3: {
		struct daxfs_ioc_falloc *f = buf;
		f->offset = hostile();
		f->length = hostile();
		f->mode = below(4) ? (below(2) ? FALLOC_FL_COLLAPSE_RANGE : FALLOC_FL_INSERT_RANGE)
				   : (uint32_t)rnd();
		f->reserved = below(8) ? 0 : (uint32_t)rnd();
		answered(ioctl(fd, DAXFS_IOC_FALLOCATE, f), "FALLOCATE");
		break;
	}
	case 4: {
		struct daxfs_ioc_lease *l = buf;

		if (below(8)) {
			l->op = (uint32_t)(below(6) ? 1 + below(4) : rnd());
			l->flags = (uint32_t)(below(4) ? 1 + below(2) + 0x10 * below(2) : rnd());
			l->reserved = below(8) ? 0 : (uint32_t)rnd();
		}
		/* A WAIT on an active lease blocks for its whole timeout (or
		 * until another worker's truncate breaks the lease): keep it
		 * short, whatever the buffer held. */
		if (l->op == DAXFS_LEASE_WAIT)
			l->deadline_ns = below(4) * 10000000ULL;
		ret = ioctl(fd, DAXFS_IOC_LEASE, l);
		answered(ret, "LEASE");
		if (!is_root && (ret == 0 || errno != EPERM))
			problem("nobody's LEASE: %s, not EPERM", ret ? strerror(errno) : "success");
		eperm += ret < 0 && errno == EPERM;
		/* A long-term map under it, to meet breaks and revocations. */
		if (!ret && is_root) {
			struct daxfs_ioc_map m = {.offset = 0,
						  .length = below(16) * 4096 + 4096,
						  .flags = DAXFS_MAP_READ | DAXFS_MAP_LONGTERM};
			if (!ioctl(fd, DAXFS_IOC_MAP, &m) && s->nids < 64)
				s->ids[s->nids++] = m.id;
		}
		break;
	}
	case 5: {
		struct daxfs_ioc_pins *p = buf;
		p->cursor = below(2) ? 0 : hostile();
		p->flags = (uint32_t)(below(4) ? below(2) : rnd());
		ret = ioctl(fd, DAXFS_IOC_PINS, p);
		answered(ret, "PINS");
		if (!ret && p->count > DAXFS_PINS_MAX)
			problem("PINS count %u", p->count);
		break;
	}
	case 6: {
		struct daxfs_ioc_leases *l = buf;
		l->cursor = below(2) ? 0 : hostile();
		l->flags = (uint32_t)(below(4) ? below(2) : rnd());
		ret = ioctl(fd, DAXFS_IOC_LEASES, l);
		answered(ret, "LEASES");
		if (!ret && l->count > DAXFS_LEASES_MAX)
			problem("LEASES count %u", l->count);
		break;
	}
	case 7: {
		struct daxfs_ioc_pool_info *pi = buf;
		ret = ioctl(fd, DAXFS_IOC_POOL_INFO, pi);
		answered(ret, "POOL_INFO");
		if (!ret && !is_root && pi->path[0])
			problem("POOL_INFO shows nobody the path");
		break;
	}
	default:
		answered(ioctl(fd, DAXFS_IOC_STATS, buf), "STATS");
	}
}

/* A command the daemon does not know, or a known one with the wrong size,
 * direction or a bad pointer. */
static void odd_cmd(int fd, void *buf)
{
	unsigned dir = (unsigned)below(4), nr = (unsigned)below(16), size = (unsigned)below(ARGBUF);
	/* The daxfs magic and two unused ones: not the generic numbers the
	 * VFS acts on itself (FIFREEZE would freeze the mount). */
	static const unsigned magics[] = {DAXFS_IOC_MAGIC, DAXFS_IOC_MAGIC, 0xdd, 0x42};
	unsigned long cmd = _IOC(dir, magics[below(4)], nr, size);
	void *arg = buf;

	switch (below(6)) {
	case 0:
		arg = NULL;
		break;
	case 1:
		arg = (void *)(uintptr_t)(1 + below(4096));
		break;
	case 2: /* the buffer ends in an unmapped page */
		arg = (char *)buf + ARGBUF - below(64);
		break;
	default:
		for (unsigned i = 0; i < size && i < ARGBUF; i += 8) {
			uint64_t v = below(2) ? hostile() : rnd();
			memcpy((char *)buf + i, &v, size - i < 8 ? size - i : 8);
		}
	}
	answered(ioctl(fd, cmd, arg), "odd ioctl");
}

/* The POSIX path, meeting the pins. */
static void posix_op(struct fds *s, int i)
{
	int fd = s->fd[i];
	char data[8192];

	/* Changes that meet a pin wait for busy_timeout (and hold the
	 * kernel's inode lock meanwhile): rarer than the rest. */
	switch (below(10)) {
	case 0:
		answered(ftruncate(fd, (off_t)(below(8) ? below(1024) * 4096 + below(4096)
							: (int64_t)(hostile() &
								    (((uint64_t)1 << 40) - 1)))),
			 "ftruncate");
		break;
	case 1:
		answered(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   (off_t)(below(1024) * 4096), (off_t)(below(16) * 4096 + 1)),
			 "punch");
		break;
	case 2:
		memset(data, (int)rnd(), sizeof(data));
		answered((int)pwrite(fd, data, sizeof(data), (off_t)(below(1024) * 4096)),
			 "pwrite");
		break;
	case 3:
		answered((int)pread(fd, data, sizeof(data), (off_t)(below(1024) * 4096)), "pread");
		break;
	default:
		reopen(s, i);
	}
}

static int worker(int idx, uint64_t seed, int seconds)
{
	struct fds s;
	struct timespec now, end;
	char *buf =
	    mmap(NULL, ARGBUF + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	rng = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)idx * 7919 + 1;
	is_root = idx < NROOT;
	if (!is_root && (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)))
		return 99;
	if (buf == MAP_FAILED)
		return 98;
	/* The page after the argument buffer faults. */
	mprotect(buf + ARGBUF, 4096, PROT_NONE);
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < NFDS; i++) {
		s.fd[i] = -1;
		reopen(&s, i);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	now = end;
	now.tv_sec -= seconds;
	while (!problems && now.tv_sec < end.tv_sec) {
		int i = (int)below(NFDS), fd = s.fd[i];

		if (fd < 0) {
			reopen(&s, i);
			continue;
		}
		switch (below(10)) {
		case 0:
		case 1:
		case 2:
		case 3:
			daxfs_cmd(&s, fd, buf);
			break;
		case 4:
		case 5:
			odd_cmd(fd, buf);
			break;
		case 6:
			if (below(4) == 0) { /* a directory: no open file behind it */
				int d = open(mnt, O_RDONLY | O_DIRECTORY);
				if (d >= 0) {
					daxfs_cmd(&s, d, buf);
					close(d);
				}
			} else {
				daxfs_cmd(&s, fd, buf);
			}
			break;
		default:
			posix_op(&s, i);
		}
		if (!(++calls & 63))
			clock_gettime(CLOCK_MONOTONIC, &now);
	}
	for (int i = 0; i < NFDS; i++)
		if (s.fd[i] >= 0)
			close(s.fd[i]);
	printf("# worker %d (%s): %lu calls, %lu maps (%lu replacing one), %lu EPERM, "
	       "%lu problems\n",
	       idx, is_root ? "root" : "nobody", calls, maps_ok, replaces, eperm, problems);
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed;
	int seconds, bad = 0, fd;
	pid_t kids[NWORKERS];
	struct daxfs_ioc_pool_info pi;
	struct daxfs_stats st;

	if (argc < 3) {
		fprintf(stderr, "usage: ioctl-fuzz MNT SECONDS [SEED]\n");
		return 2;
	}
	mnt = argv[1];
	seconds = atoi(argv[2]);
	seed = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# ioctl-fuzz %s %d %llu\n", mnt, seconds, (unsigned long long)seed);
	for (int k = 0; k < NFILES; k++) {
		fd = open(file_path(k), O_RDWR | O_CREAT | O_TRUNC, 0666);
		/* Data, then holes; 0666 so that nobody may write too. */
		static char data[256 << 10];

		memset(data, 'f', sizeof(data));
		if (fd < 0 || fchmod(fd, 0666) || ftruncate(fd, (off_t)(k + 1) << 20) ||
		    pwrite(fd, data, sizeof(data), 0) != (ssize_t)sizeof(data)) {
			perror(file_path(k));
			return 1;
		}
		if (k == 0 && ioctl(fd, DAXFS_IOC_POOL_INFO, &pi) == 0)
			pool_size = pi.size;
		close(fd);
	}
	if (!pool_size) {
		fprintf(stderr, "ioctl-fuzz: %s is not on a daxfs mount\n", mnt);
		return 1;
	}
	for (int w = 0; w < NWORKERS; w++) {
		kids[w] = fork();
		if (kids[w] == 0)
			_exit(worker(w, seed, seconds));
	}
	for (int w = 0; w < NWORKERS; w++) {
		int status;

		if (kids[w] < 0 || waitpid(kids[w], &status, 0) != kids[w] || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			printf("FAIL - worker %d ended badly\n", w);
			bad++;
		}
	}
	/* Every descriptor is closed: the releases drop every mapping.  FUSE
	 * sends them after the exits, so wait (a liveness bound). */
	fd = open(file_path(0), O_RDONLY);
	memset(&st, 0, sizeof(st));
	for (int i = 0; i < 300; i++) {
		if (ioctl(fd, DAXFS_IOC_STATS, &st) < 0) {
			printf("FAIL - STATS after the run: %s\n", strerror(errno));
			bad++;
			break;
		}
		if (!st.mappings && !st.pinned_blocks)
			break;
		usleep(100000);
	}
	printf("%s - no mapping or pin is left (%llu mappings, %llu pinned blocks; %llu maps, %llu "
	       "lease breaks, %llu revokes in all)\n",
	       st.mappings || st.pinned_blocks ? "FAIL" : "ok", (unsigned long long)st.mappings,
	       (unsigned long long)st.pinned_blocks, (unsigned long long)st.maps,
	       (unsigned long long)st.lease_breaks, (unsigned long long)st.lease_revokes);
	bad += st.mappings || st.pinned_blocks;
	close(fd);
	printf("%s - the daemon answered every call of %d workers for %d s (seed %llu)\n",
	       bad ? "FAIL" : "ok", NWORKERS, seconds, (unsigned long long)seed);
	return bad ? 1 : 0;
}
