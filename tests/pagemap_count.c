/* SPDX-License-Identifier: MIT */
/*
 * pagemap-count PID FILE OFF LEN: how many pages of [OFF, OFF+LEN) of FILE
 * are present in PID's page table, from /proc/PID/maps and
 * /proc/PID/pagemap (bit 63 of an entry: present).  For mount_prefault,
 * which asks what the daemon has mapped of its pool.  Needs root (or the
 * same user) to read another process's pagemap.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[64], line[PATH_MAX + 128], file[PATH_MAX];
	uint64_t off, len, present = 0;
	long pg = sysconf(_SC_PAGESIZE);
	FILE *maps;
	int fd;

	if (argc != 5 || !realpath(argv[2], file)) {
		fprintf(stderr, "usage: pagemap-count PID FILE OFF LEN\n");
		return 2;
	}
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if (!(maps = fopen(path, "r"))) {
		perror(path);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%s/pagemap", argv[1]);
	if ((fd = open(path, O_RDONLY)) < 0) {
		perror(path);
		return 1;
	}
	while (fgets(line, sizeof(line), maps)) {
		uint64_t lo, hi, foff;
		char name[PATH_MAX];

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64 " %*s %*s %s", &lo, &hi,
			   &foff, name) != 4 ||
		    strcmp(name, file))
			continue;
		/* The part of this mapping inside [off, off+len) of the file. */
		for (uint64_t o = off; o < off + len; o += (uint64_t)pg) {
			uint64_t e;

			if (o < foff || o >= foff + (hi - lo))
				continue;
			if (pread(fd, &e, sizeof(e), (off_t)((lo + o - foff) / pg * 8)) !=
			    sizeof(e)) {
				perror("pagemap");
				return 1;
			}
			present += e >> 63;
		}
	}
	printf("%" PRIu64 "\n", present);
	return 0;
}
