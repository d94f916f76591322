/* SPDX-License-Identifier: MIT */
/*
 * scale-test - the cost of releasing many mappings under pin_lock.
 *
 *   scale-test release MNT N   map one block N times through each of two
 *                              open files, close the first, and print the
 *                              longest pin_lock hold of the mount
 *                              in CPU time ("max_hold_ns V"); pins_scale.sh compares
 *                              the figure for two N
 *
 * The first file's mappings sit behind the second's in the inode's list,
 * which made each unlink walk it: the release was O(N^2) in one hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daxfs/daxfs_ioctl.h"

#include "mount_test.h"

static int map_n(int fd, long n)
{
	for (long i = 0; i < n; i++) {
		struct daxfs_ioc_map m = {.offset = 0, .length = 4096, .flags = DAXFS_MAP_READ};

		if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0) {
			fprintf(stderr, "map %ld of %ld: %s\n", i, n, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int fd1, fd2, probe;
	long n;
	struct stat st;

	if (argc != 4 || strcmp(argv[1], "release")) {
		fprintf(stderr, "usage: scale-test release MNT N\n");
		return 2;
	}
	mnt = argv[2];
	n = atol(argv[3]);
	fd1 = make_file("f", 4096, 'f');
	fd2 = open(path("f"), O_RDWR);
	probe = open(path("f"), O_RDONLY);
	check(map_n(fd1, n) == 0 && map_n(fd2, n) == 0, "%ld mappings through each of two files",
	      n);
	check(stats(probe).mappings == (uint64_t)(2 * n), "all %ld are live", 2 * n);
	printf("# longest pin_lock hold after mapping: %llu ns of CPU\n",
	       (unsigned long long)stats(probe).pin_lock_max_cpu_ns);
	close(fd1);
	/* The release is asynchronous: an unrelated lookup and the counters
	 * answer while it runs, and it ends (a hang bound only). */
	check(stat(path("."), &st) == 0, "a lookup answers meanwhile");
	for (int i = 0; i < 1200 && stats(probe).mappings != (uint64_t)n; i++)
		usleep(50000);
	check(stats(probe).mappings == (uint64_t)n, "the first file's %ld mappings are gone", n);
	/* CPU time: the work done under the lock, not the scheduling of a
	 * loaded machine (the wall-clock figure is printed too). */
	printf("max_hold_ns %llu\n# wall clock %llu ns\n",
	       (unsigned long long)stats(probe).pin_lock_max_cpu_ns,
	       (unsigned long long)stats(probe).pin_lock_max_hold_ns);
	close(fd2);
	close(probe);
	return report();
}
