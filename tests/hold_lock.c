/* SPDX-License-Identifier: MIT */
/*
 * hold-lock FILE SECONDS MARKER - hold a write lock on FILE the way apt
 * and dpkg take theirs (fcntl, not flock), print "locked", wait SECONDS,
 * create MARKER and only then let go (by exiting), so a waiter that got
 * the lock can tell it came after MARKER.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct flock l;
	int fd, m;

	if (argc != 4) {
		fprintf(stderr, "usage: hold-lock FILE SECONDS MARKER\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	memset(&l, 0, sizeof(l));
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLKW, &l) < 0) {
		perror("fcntl F_SETLKW");
		return 1;
	}
	printf("locked\n");
	fflush(stdout);
	sleep((unsigned)atoi(argv[2]));
	m = open(argv[3], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (m < 0) {
		perror(argv[3]);
		return 1;
	}
	close(m);
	return 0;
}
