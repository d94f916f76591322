/* SPDX-License-Identifier: MIT */
/*
 * syslog-listen SOCKET OUT - a stand-in syslog daemon for the tests: bind a
 * unix datagram socket at SOCKET (as /dev/log is), print "ready", and append
 * every message received to OUT as one line, as it arrives, until killed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char buf[4096];
	int s, out;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: syslog-listen SOCKET OUT\n");
		return 2;
	}
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (s < 0 || out < 0) {
		perror("syslog-listen");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(argv[1]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);

		if (n < 0)
			continue;
		/* glibc's syslog sends no newline; some senders end with one. */
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
			n--;
		buf[n++] = '\n';
		if (write(out, buf, (size_t)n) != n) {
			perror(argv[2]);
			return 1;
		}
	}
}
