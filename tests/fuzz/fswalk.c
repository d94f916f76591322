/* SPDX-License-Identifier: MIT */
/*
 * fswalk.c - fuzz-fswalk DIR: everything a user does with a tree on a
 * mount of a damaged pool, in one process (the mount fuzzer's walk, see
 * fuzz/mount_lib.sh).  Reads first (every entry: lstat, a bounded read and
 * the tail of a file, readlink, every xattr), then changes (create, write,
 * append, overwrite, truncate, mkdir, symlink, rename, xattrs), then the
 * removal of everything.  Every error is expected and ignored: on a
 * damaged pool the answer may be anything but a crash or a hang of the
 * daemon.  Bounded whatever the pool claims (depth, entries, bytes read).
 *
 * One process instead of a shell pipeline of find, head, tail, getfattr
 * and rm: the walk used to start about a hundred processes a round, most
 * of a round's time on a loaded machine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_DEPTH   32
#define MAX_ENTRIES 4096   /* per directory */
#define MAX_READ    (1 << 20) /* bytes read from the start of a file */

static char buf[1 << 16];
static volatile unsigned char sink;

static void read_file(int dfd, const char *name, off_t size)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n;
	off_t got = 0;

	if (fd < 0)
		return;
	while (got < MAX_READ && (n = read(fd, buf, sizeof(buf))) > 0) {
		sink ^= (unsigned char)buf[n - 1];
		got += n;
	}
	if (size > 4096)
		(void)!pread(fd, buf, 4096, size - 4096);
	lseek(fd, 0, SEEK_DATA);
	lseek(fd, 0, SEEK_HOLE);
	close(fd);
}

static void read_xattrs(const char *path)
{
	static char list[65536], val[65536];
	ssize_t n = llistxattr(path, list, sizeof(list));

	for (ssize_t i = 0; i < n;) {
		size_t l = strnlen(list + i, (size_t)(n - i));
		if (i + (ssize_t)l >= n)
			break;
		lgetxattr(path, list + i, val, sizeof(val));
		i += (ssize_t)l + 1;
	}
}

/* The names in directory path, "." and ".." left out (at most MAX_ENTRIES). */
static char **list_dir(const char *path, size_t *n)
{
	char **v = calloc(MAX_ENTRIES, sizeof(*v));
	DIR *d = opendir(path);
	struct dirent *de;

	*n = 0;
	if (!d || !v) {
		if (d)
			closedir(d);
		return v;
	}
	while (*n < MAX_ENTRIES && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			v[(*n)++] = strdup(de->d_name);
	closedir(d);
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void walk(const char *path, int depth)
{
	char sub[4096], link[4097];
	size_t n;
	char **v;
	int dfd;

	if (depth > MAX_DEPTH)
		return;
	v = list_dir(path, &n);
	dfd = open(path, O_RDONLY | O_DIRECTORY);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (!v[i] || snprintf(sub, sizeof(sub), "%s/%s", path, v[i]) >= (int)sizeof(sub))
			continue;
		if (lstat(sub, &st) < 0)
			continue;
		if (S_ISREG(st.st_mode) && dfd >= 0)
			read_file(dfd, v[i], st.st_size);
		else if (S_ISLNK(st.st_mode))
			(void)!readlink(sub, link, sizeof(link));
		read_xattrs(sub);
		if (S_ISDIR(st.st_mode))
			walk(sub, depth + 1);
	}
	if (dfd >= 0)
		close(dfd);
	free_list(v, n);
}

static void remove_all(const char *path, int depth)
{
	char sub[4096];
	size_t n;
	char **v;

	if (depth > MAX_DEPTH)
		return;
	v = list_dir(path, &n);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (!v[i] || snprintf(sub, sizeof(sub), "%s/%s", path, v[i]) >= (int)sizeof(sub))
			continue;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
			remove_all(sub, depth + 1);
			rmdir(sub);
		} else {
			unlink(sub);
		}
	}
	free_list(v, n);
}

static void write_at(const char *path, int flags, const void *p, size_t len, off_t off)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | flags, 0644);

	if (fd < 0)
		return;
	if (flags & O_APPEND)
		(void)!write(fd, p, len);
	else
		(void)!pwrite(fd, p, len, off);
	close(fd);
}

int main(int argc, char **argv)
{
	static const char zero[20000];
	struct statvfs sv;
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-fswalk DIR\n");
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		fprintf(stderr, "fuzz-fswalk: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* reads */
	walk(".", 0);
	read_xattrs(".");
	statvfs(".", &sv);
	/* changes, on the names the seed pools have (tests/fuzz/mkseed.c) */
	write_at("new-file", O_TRUNC, "new\n", 4, 0);
	lsetxattr("new-file", "user.new", "value", 5, 0);
	write_at("dir/sub/small", O_APPEND, zero, sizeof(zero), 0);
	write_at("extents", 0, zero, 9000, 3 * 4096);
	truncate("extents", 5000);
	truncate("interleaved", 0);
	mkdir("newdir", 0755);
	mkdir("newdir/deeper", 0755);
	symlink("target", "newdir/link");
	rename("dir/sub", "dir/moved");
	/* removal, and what is left */
	remove_all(".", 0);
	char **left = list_dir(".", &n);
	free_list(left, n);
	return 0;
}
