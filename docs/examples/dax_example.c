/* SPDX-License-Identifier: MIT */
/*
 * dax_example.c - a complete libdaxfs-client program: direct access to a
 * file on a daxfs mount, first with a short-term mapping, then with a
 * long-term one under a layout lease that it gives back when the lease is
 * broken.
 *
 * Build it against the installed library:
 *
 *     cc -o dax_example dax_example.c $(pkg-config --cflags --libs daxfs-client)
 *
 * and run it, as a user with direct access on the mount (root, the pool
 * file's owner or a member of the mount's dax_group):
 *
 *     ./dax_example /mnt/daxfs/example 30
 *
 * Then, from another shell, change the file's layout, for example
 * "truncate -s 64K /mnt/daxfs/example": the truncate breaks the lease, the
 * program unmaps and releases, and the truncate goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <daxfs/daxfs_client.h>

#define CHUNK (64 * 1024)

static int fail(const char *what)
{
	/* The library's message says more than strerror(errno). */
	fprintf(stderr, "dax_example: %s: %s\n", what, daxfs_client_errormsg());
	return 1;
}

/* Part 1: map, store through the pointer, persist, unmap; read(2) sees it. */
static int short_term(struct daxfs_client *c, int fd)
{
	static const char msg[] = "written through a direct mapping";
	struct daxfs_mapping *m;
	char back[sizeof(msg)];
	char *p;

	/* The file's first 64 KiB; holes in it are backed with zeroed blocks. */
	p = daxfs_map(c, fd, 0, CHUNK, DAXFS_MAP_READ | DAXFS_MAP_WRITE, &m);
	if (!p)
		return fail("map");
	memcpy(p, msg, sizeof(msg));
	/* Flush the stores: persistent, and visible to read(2) on the mount. */
	if (daxfs_persist(m, p, sizeof(msg)) < 0)
		return fail("persist");
	/* Drops the pins: the filesystem may move or free the blocks again. */
	if (daxfs_unmap(m) < 0)
		return fail("unmap");
	if (pread(fd, back, sizeof(back), 0) != (ssize_t)sizeof(back) ||
	    memcmp(back, msg, sizeof(msg))) {
		fprintf(stderr, "dax_example: read(2) does not see the stored bytes\n");
		return 1;
	}
	printf("short-term: stored %zu bytes through the mapping; read(2) sees them\n",
	       sizeof(msg));
	return 0;
}

/*
 * Part 2: a long-term mapping needs a layout lease.  Hold it until the
 * lease is broken (a truncate, punch or collapse of the file wants the
 * blocks) or wait_s passes; on a break, stop using the memory, unmap and
 * release within the mount's lease_break_time, or the daemon revokes the
 * lease and the blocks go to quarantine.
 */
static int long_term(struct daxfs_client *c, int fd, int wait_s)
{
	struct daxfs_ioc_lease st;
	struct daxfs_mapping *m;
	int r, ret = 0;
	char *p;

	if (daxfs_lease_take(fd, DAXFS_LEASE_WRITE) < 0)
		return fail("lease");
	p = daxfs_map(c, fd, CHUNK, CHUNK, DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM,
		      &m);
	if (!p) {
		daxfs_lease_release(fd);
		return fail("long-term map");
	}
	memset(p, 'L', daxfs_mapping_length(m));
	if (daxfs_persist(m, p, daxfs_mapping_length(m)) < 0)
		ret = fail("persist");
	printf("long-term: mapped %zu bytes under a lease; waiting for a break\n",
	       daxfs_mapping_length(m));
	fflush(stdout);
	/* Blocks this thread until a break: a program with an event loop
	 * runs it on a thread of its own; this one just waits. */
	r = daxfs_lease_wait_break(fd, wait_s * 1000, &st);
	if (r < 0) {
		ret = fail("wait for a break");
	} else if (r == 0) {
		printf("no break within %d s\n", wait_s);
	} else if (st.state == DAXFS_LEASE_REVOKED) {
		/* Too late: the mapping's blocks are no longer the file's. */
		printf("lease revoked\n");
	} else {
		printf("lease broken (%.1f s to give it back): unmapping\n", st.deadline_ns / 1e9);
	}
	/* The order matters: mappings made under the lease first. */
	if (daxfs_unmap(m) < 0)
		ret = fail("unmap");
	if (daxfs_lease_release(fd) < 0)
		ret = fail("release the lease");
	else
		printf("released\n");
	return ret;
}

int main(int argc, char **argv)
{
	struct daxfs_client *c;
	int fd, wait_s, ret;

	if (argc != 3 || (wait_s = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: dax_example FILE WAIT-SECONDS (FILE on a daxfs mount)\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, 2 * CHUNK) < 0) {
		fprintf(stderr, "dax_example: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* Attaches to the mount of fd and maps its pool (EPERM for a user
	 * without direct access: such a user keeps read(2) and write(2)). */
	c = daxfs_client_open(fd);
	if (!c)
		return fail("attach");
	ret = short_term(c, fd);
	if (!ret)
		ret = long_term(c, fd, wait_s);
	daxfs_client_close(c);
	close(fd);
	return ret;
}
