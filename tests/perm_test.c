// SPDX-License-Identifier: MIT
/*
 * perm_test.c - permission scenarios run as several users.
 *
 *   perm-test DIR
 *
 * Must run as root.  Each scenario forks a child that takes on a user's
 * uid, gid and supplementary groups, does one operation in DIR/perm and
 * reports its result.  Every outcome is printed as one line in a stable
 * form (no inode numbers, no clock times), so that the output on tmpfs and
 * on a daxfs mount can be compared with diff.
 *
 * Each scenario also carries the outcome Linux gives on a local filesystem;
 * an outcome that differs from it is noted on stderr and makes the exit
 * status 1, but the line on stdout is the same either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <unistd.h>

struct user {
	const char *name;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[4];
};

/* 2000 is a shared group: alice and carol are members, bob is not. */
static const struct user ROOT = { "root", 0, 0, 1, { 0 } };
static const struct user ALICE = { "alice", 1001, 1001, 2, { 1001, 2000 } };
static const struct user BOB = { "bob", 1002, 1002, 1, { 1002 } };
static const struct user CAROL = { "carol", 1003, 1003, 2, { 1003, 2000 } };
static const struct user DAVE = { "dave", 1004, 2000, 1, { 2000 } };

enum op {
	OP_CREATE,	/* open(p, O_CREAT|O_WRONLY|a, b) */
	OP_OPEN,	/* open(p, a) */
	OP_WRITE,	/* open(p, O_WRONLY) and write one byte */
	OP_MKDIR,	/* mkdir(p, a) */
	OP_MKFIFO,	/* mkfifo(p, a) */
	OP_SYMLINK,	/* symlink(q, p) */
	OP_ACCESS,	/* faccessat(p, a, AT_EACCESS) */
	OP_STAT,	/* stat(p) */
	OP_READDIR,	/* opendir(p) + readdir */
	OP_UNLINK,
	OP_RMDIR,
	OP_RENAME,	/* rename(p, q) */
	OP_CHMOD,	/* chmod(p, a) */
	OP_CHOWN,	/* chown(p, a, b) */
	OP_TRUNCATE,	/* truncate(p, a) */
	OP_FTRUNCATE,	/* open(p, O_WRONLY) + ftruncate(a) */
	OP_OTRUNC,	/* open(p, O_WRONLY|O_TRUNC) */
	OP_UTIMES_NOW,	/* utimensat(p, NULL) */
	OP_UTIMES_SET,	/* utimensat(p, {a, a}) */
	OP_UTIMES_NOW_OMIT, /* utimensat(p, {NOW, OMIT}) */
	OP_SETXATTR,	/* setxattr(p, q, "v") */
	OP_GETXATTR,	/* getxattr(p, q) */
	OP_LINK,	/* link(p, q) */
};

static char *shared;		/* result of the child, in shared memory */
static int unexpected, scenarios;

static void die(const char *what)
{
	fprintf(stderr, "perm-test: %s: %s\n", what, strerror(errno));
	exit(2);
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

static int do_op(enum op op, const char *p, const char *q, long a, long b)
{
	struct timespec ts[2];
	int fd, r;
	char v[64];

	switch (op) {
	case OP_CREATE:
		fd = open(p, O_CREAT | O_WRONLY | (int)a, (mode_t)b);
		return fd < 0 ? -1 : close(fd);
	case OP_OPEN:
		fd = open(p, (int)a);
		return fd < 0 ? -1 : close(fd);
	case OP_WRITE:
		fd = open(p, O_WRONLY);
		if (fd < 0)
			return -1;
		r = write(fd, "w", 1) == 1 ? 0 : -1;
		close(fd);
		return r;
	case OP_MKDIR:
		return mkdir(p, (mode_t)a);
	case OP_MKFIFO:
		return mkfifo(p, (mode_t)a);
	case OP_SYMLINK:
		return symlink(q, p);
	case OP_ACCESS:
		return faccessat(AT_FDCWD, p, (int)a, AT_EACCESS);
	case OP_STAT: {
		struct stat st;

		return stat(p, &st);
	}
	case OP_READDIR: {
		DIR *d = opendir(p);

		if (!d)
			return -1;
		errno = 0;
		while (readdir(d))
			;
		r = errno ? -1 : 0;
		closedir(d);
		return r;
	}
	case OP_UNLINK:
		return unlink(p);
	case OP_RMDIR:
		return rmdir(p);
	case OP_RENAME:
		return rename(p, q);
	case OP_CHMOD:
		return chmod(p, (mode_t)a);
	case OP_CHOWN:
		return chown(p, (uid_t)a, (gid_t)b);
	case OP_TRUNCATE:
		return truncate(p, a);
	case OP_FTRUNCATE:
		fd = open(p, O_WRONLY);
		if (fd < 0)
			return -1;
		r = ftruncate(fd, a);
		close(fd);
		return r;
	case OP_OTRUNC:
		fd = open(p, O_WRONLY | O_TRUNC);
		return fd < 0 ? -1 : close(fd);
	case OP_UTIMES_NOW:
		return utimensat(AT_FDCWD, p, NULL, 0);
	case OP_UTIMES_SET:
		ts[0] = ts[1] = (struct timespec){ a, 500 };
		return utimensat(AT_FDCWD, p, ts, 0);
	case OP_UTIMES_NOW_OMIT:
		ts[0] = (struct timespec){ 0, UTIME_NOW };
		ts[1] = (struct timespec){ 0, UTIME_OMIT };
		return utimensat(AT_FDCWD, p, ts, 0);
	case OP_SETXATTR:
		return setxattr(p, q, "v", 1, 0);
	case OP_GETXATTR:
		r = (int)getxattr(p, q, v, sizeof(v));
		return r < 0 ? -1 : 0;
	case OP_LINK:
		return link(p, q);
	}
	errno = EINVAL;
	return -1;
}

/* Run one operation as user u with umask m; returns "0" or an errno name. */
static const char *as(const struct user *u, mode_t m, enum op op, const char *p, const char *q,
		      long a, long b)
{
	pid_t pid;
	int status;

	memset(shared, 0, 64);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int r;

		if (setgroups((size_t)u->ngroups, u->groups) < 0 ||
		    setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0) {
			snprintf(shared, 64, "setid failed: %s", ename(errno));
			_exit(1);
		}
		umask(m);
		r = do_op(op, p, q, a, b);
		snprintf(shared, 64, "%s", r < 0 ? ename(errno) : "0");
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "perm-test: child failed: %s\n", shared);
		exit(2);
	}
	return shared;
}

/* The stable description of a file: "mode=0644 uid=1 gid=2" or "absent". */
static const char *desc(const char *p, char *buf, size_t n)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		snprintf(buf, n, "absent");
	else
		snprintf(buf, n, "%s mode=%04o uid=%u gid=%u",
			 S_ISDIR(st.st_mode) ? "dir" :
			 S_ISREG(st.st_mode) ? "file" :
			 S_ISLNK(st.st_mode) ? "symlink" :
			 S_ISFIFO(st.st_mode) ? "fifo" : "other",
			 st.st_mode & 07777, st.st_uid, st.st_gid);
	return buf;
}

/*
 * Print a scenario's outcome: the result of the operation and, when show
 * is given, the state of that path afterwards.  want is what Linux does
 * on a local filesystem.
 */
static void outcome(const char *name, const char *rc, const char *show, const char *want)
{
	char line[512], d[128];

	if (show)
		snprintf(line, sizeof(line), "%s %s", rc, desc(show, d, sizeof(d)));
	else
		snprintf(line, sizeof(line), "%s", rc);
	printf("%-58s %s\n", name, line);
	scenarios++;
	if (want && strcmp(want, line)) {
		fprintf(stderr, "perm-test: unexpected: %s: got \"%s\", Linux gives \"%s\"\n", name,
			line, want);
		unexpected++;
	}
}

#define RUN(name, want, show, u, m, op, p, q, a, b) \
	outcome(name, as(&(u), m, op, p, q, a, b), show, want)

/* Root sets up a node with an exact owner and mode (chmod last: chown clears set-id bits). */
static void mk(const char *type, const char *p, mode_t mode, uid_t uid, gid_t gid)
{
	int fd;

	if (!strcmp(type, "d")) {
		if (mkdir(p, 0700) < 0)
			die(p);
	} else {
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
		if (fd < 0)
			die(p);
		if (write(fd, "content\n", 8) != 8)
			die(p);
		close(fd);
	}
	if (chown(p, uid, gid) < 0 || chmod(p, mode) < 0)
		die(p);
}

static void setmode(const char *p, mode_t mode)
{
	if (chmod(p, mode) < 0)
		die(p);
}

static int protected_hardlinks(void)
{
	FILE *f = fopen("/proc/sys/fs/protected_hardlinks", "r");
	int v = 0;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

static void rm_tree(const char *p)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(p);
		struct dirent *de;
		char sub[4096];

		if (!d)
			return;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (snprintf(sub, sizeof(sub), "%s/%s", p, de->d_name) < (int)sizeof(sub))
				rm_tree(sub);
		}
		closedir(d);
		rmdir(p);
	} else {
		unlink(p);
	}
}

static void t_create(void)
{
	mk("d", "c", 0777, 0, 0);
	RUN("create file, umask 022, mode 0666", "0 file mode=0644 uid=1001 gid=1001", "c/f1", ALICE,
	    022, OP_CREATE, "c/f1", NULL, 0, 0666);
	RUN("create file, umask 077, mode 0666", "0 file mode=0600 uid=1002 gid=1002", "c/f2", BOB,
	    077, OP_CREATE, "c/f2", NULL, 0, 0666);
	RUN("create file, umask 000, mode 0777", "0 file mode=0777 uid=1003 gid=1003", "c/f3", CAROL,
	    0, OP_CREATE, "c/f3", NULL, 0, 0777);
	RUN("create file with primary group 2000", "0 file mode=0644 uid=1004 gid=2000", "c/f4", DAVE,
	    022, OP_CREATE, "c/f4", NULL, 0, 0666);
	RUN("create setuid file, umask 022", "0 file mode=4755 uid=1001 gid=1001", "c/f5", ALICE,
	    022, OP_CREATE, "c/f5", NULL, 0, 04777);
	RUN("mkdir, umask 027", "0 dir mode=0750 uid=1001 gid=1001", "c/d1", ALICE, 027, OP_MKDIR,
	    "c/d1", NULL, 0777, 0);
	RUN("mkdir with sticky bit", "0 dir mode=1755 uid=1002 gid=1002", "c/d2", BOB, 022, OP_MKDIR,
	    "c/d2", NULL, 01777, 0);
	RUN("mkfifo, umask 022", "0 fifo mode=0644 uid=1003 gid=1003", "c/p1", CAROL, 022,
	    OP_MKFIFO, "c/p1", NULL, 0666, 0);
	RUN("symlink", "0 symlink mode=0777 uid=1002 gid=1002", "c/l1", BOB, 022, OP_SYMLINK,
	    "c/l1", "f1", 0, 0);
	RUN("O_CREAT on an existing file owned by another", "EACCES file mode=0644 uid=1001 gid=1001",
	    "c/f1", BOB, 022, OP_CREATE, "c/f1", NULL, 0, 0666);
	RUN("O_CREAT|O_EXCL on an existing file", "EEXIST", NULL, ALICE, 022, OP_CREATE, "c/f1",
	    NULL, O_EXCL, 0666);
}

static void t_access(void)
{
	mk("d", "a", 0755, 0, 0);
	mk("f", "a/f", 0640, ALICE.uid, 2000);
	RUN("0640 owner read/write", "0", NULL, ALICE, 022, OP_OPEN, "a/f", NULL, O_RDWR, 0);
	RUN("0640 group member read", "0", NULL, CAROL, 022, OP_OPEN, "a/f", NULL, O_RDONLY, 0);
	RUN("0640 group member write", "EACCES", NULL, CAROL, 022, OP_OPEN, "a/f", NULL, O_WRONLY,
	    0);
	RUN("0640 other read", "EACCES", NULL, BOB, 022, OP_OPEN, "a/f", NULL, O_RDONLY, 0);
	setmode("a/f", 0604);
	RUN("0604 group member read (group bits rule)", "EACCES", NULL, CAROL, 022, OP_OPEN, "a/f",
	    NULL, O_RDONLY, 0);
	RUN("0604 other read", "0", NULL, BOB, 022, OP_OPEN, "a/f", NULL, O_RDONLY, 0);
	setmode("a/f", 0460);
	RUN("0460 owner write (owner bits rule)", "EACCES", NULL, ALICE, 022, OP_OPEN, "a/f", NULL,
	    O_WRONLY, 0);
	RUN("0460 group member write", "0", NULL, CAROL, 022, OP_OPEN, "a/f", NULL, O_WRONLY, 0);
	RUN("0460 owner read", "0", NULL, ALICE, 022, OP_OPEN, "a/f", NULL, O_RDONLY, 0);
	setmode("a/f", 0750);
	RUN("0750 owner exec", "0", NULL, ALICE, 022, OP_ACCESS, "a/f", NULL, X_OK, 0);
	RUN("0750 group exec", "0", NULL, CAROL, 022, OP_ACCESS, "a/f", NULL, X_OK, 0);
	RUN("0750 other exec", "EACCES", NULL, BOB, 022, OP_ACCESS, "a/f", NULL, X_OK, 0);
	setmode("a/f", 0701);
	RUN("0701 other exec", "0", NULL, BOB, 022, OP_ACCESS, "a/f", NULL, X_OK, 0);
	RUN("0701 group exec", "EACCES", NULL, CAROL, 022, OP_ACCESS, "a/f", NULL, X_OK, 0);
	RUN("0701 other read+write access", "EACCES", NULL, BOB, 022, OP_ACCESS, "a/f", NULL,
	    R_OK | W_OK, 0);
	setmode("a/f", 0000);
	RUN("0000 owner read", "EACCES", NULL, ALICE, 022, OP_OPEN, "a/f", NULL, O_RDONLY, 0);
	RUN("0000 root read", "0", NULL, ROOT, 022, OP_OPEN, "a/f", NULL, O_RDONLY, 0);
	RUN("0000 root exec", "EACCES", NULL, ROOT, 022, OP_ACCESS, "a/f", NULL, X_OK, 0);
}

static void t_dirperm(void)
{
	mk("d", "s", 0700, ALICE.uid, ALICE.gid);
	mk("f", "s/f", 0644, ALICE.uid, ALICE.gid);
	mk("f", "s/g", 0644, ALICE.uid, ALICE.gid);
	RUN("dir 0700: owner stat inside", "0", NULL, ALICE, 022, OP_STAT, "s/f", NULL, 0, 0);
	RUN("dir 0700: other stat inside", "EACCES", NULL, BOB, 022, OP_STAT, "s/f", NULL, 0, 0);
	RUN("dir 0700: other readdir", "EACCES", NULL, BOB, 022, OP_READDIR, "s", NULL, 0, 0);
	setmode("s", 0711);
	RUN("dir 0711: other stat inside", "0", NULL, BOB, 022, OP_STAT, "s/f", NULL, 0, 0);
	RUN("dir 0711: other readdir", "EACCES", NULL, BOB, 022, OP_READDIR, "s", NULL, 0, 0);
	RUN("dir 0711: other create", "EACCES absent", "s/b1", BOB, 022, OP_CREATE, "s/b1", NULL, 0, 0644);
	setmode("s", 0755);
	RUN("dir 0755: other readdir", "0", NULL, BOB, 022, OP_READDIR, "s", NULL, 0, 0);
	RUN("dir 0755: other create", "EACCES absent", "s/b2", BOB, 022, OP_CREATE, "s/b2", NULL, 0, 0644);
	RUN("dir 0755: other unlink", "EACCES file mode=0644 uid=1001 gid=1001", "s/f", BOB, 022, OP_UNLINK, "s/f", NULL, 0, 0);
	RUN("dir 0755: other mkdir", "EACCES absent", "s/bd", BOB, 022, OP_MKDIR, "s/bd", NULL, 0755, 0);
	RUN("dir 0755: other rename inside", "EACCES file mode=0644 uid=1001 gid=1001", "s/f", BOB, 022, OP_RENAME, "s/f", "s/f2", 0,
	    0);
	setmode("s", 0766);
	RUN("dir 0766: other readdir", "0", NULL, BOB, 022, OP_READDIR, "s", NULL, 0, 0);
	RUN("dir 0766: other stat inside", "EACCES", NULL, BOB, 022, OP_STAT, "s/f", NULL, 0, 0);
	RUN("dir 0766: other create", "EACCES", NULL, BOB, 022, OP_CREATE, "s/b3", NULL, 0, 0644);
	setmode("s", 0733);
	RUN("dir 0733: other create", "0 file mode=0644 uid=1002 gid=1002", "s/b4", BOB, 022,
	    OP_CREATE, "s/b4", NULL, 0, 0666);
	RUN("dir 0733: other unlinks owner's file", "0 absent", "s/f", BOB, 022, OP_UNLINK, "s/f",
	    NULL, 0, 0);
	RUN("dir 0733: other renames owner's file", "0 file mode=0644 uid=1001 gid=1001", "s/g2", BOB,
	    022, OP_RENAME, "s/g", "s/g2", 0, 0);
	setmode("s", 0700);
	RUN("rmdir of own dir in a parent without write", "EACCES", NULL, ALICE, 022, OP_RMDIR,
	    "s", NULL, 0, 0);

	/* moving a directory to another parent needs write access to it (for ..) */
	mk("d", "mv", 0777, 0, 0);
	mk("d", "mv2", 0777, 0, 0);
	mk("d", "mv/ad", 0755, ALICE.uid, ALICE.gid);
	RUN("rename other's dir within the same parent", "0 dir mode=0755 uid=1001 gid=1001",
	    "mv/ad2", BOB, 022, OP_RENAME, "mv/ad", "mv/ad2", 0, 0);
	RUN("move other's dir to another parent", "EACCES dir mode=0755 uid=1001 gid=1001",
	    "mv/ad2", BOB, 022, OP_RENAME, "mv/ad2", "mv2/ad", 0, 0);
	RUN("owner moves own dir to another parent", "0 dir mode=0755 uid=1001 gid=1001", "mv2/ad",
	    ALICE, 022, OP_RENAME, "mv/ad2", "mv2/ad", 0, 0);
	mk("f", "mv/af", 0600, ALICE.uid, ALICE.gid);
	/* fs.protected_hardlinks decides; both runs see the same sysctl */
	RUN("hard link to other's unreadable file", protected_hardlinks() ? "EPERM" : "0", NULL, BOB,
	    022, OP_LINK, "mv/af", "mv/bl", 0, 0);
}

static void t_sticky(void)
{
	mk("d", "t", 01777, 0, 0);
	RUN("sticky: alice creates", "0", NULL, ALICE, 022, OP_CREATE, "t/af", NULL, 0, 0644);
	RUN("sticky: bob creates", "0", NULL, BOB, 022, OP_CREATE, "t/bf", NULL, 0, 0644);
	RUN("sticky: alice mkdir", "0", NULL, ALICE, 022, OP_MKDIR, "t/ad", NULL, 0777, 0);
	RUN("sticky: bob unlinks alice's file", "EPERM file mode=0644 uid=1001 gid=1001", "t/af",
	    BOB, 022, OP_UNLINK, "t/af", NULL, 0, 0);
	RUN("sticky: bob renames alice's file", "EPERM file mode=0644 uid=1001 gid=1001", "t/af",
	    BOB, 022, OP_RENAME, "t/af", "t/x", 0, 0);
	RUN("sticky: bob renames over alice's file", "EPERM file mode=0644 uid=1001 gid=1001",
	    "t/af", BOB, 022, OP_RENAME, "t/bf", "t/af", 0, 0);
	RUN("sticky: bob removes alice's empty dir", "EPERM dir mode=0755 uid=1001 gid=1001",
	    "t/ad", BOB, 022, OP_RMDIR, "t/ad", NULL, 0, 0);
	RUN("sticky: alice unlinks bob's file", "EPERM file mode=0644 uid=1002 gid=1002", "t/bf",
	    ALICE, 022, OP_UNLINK, "t/bf", NULL, 0, 0);
	RUN("sticky: alice renames her file", "0 file mode=0644 uid=1001 gid=1001", "t/af2", ALICE,
	    022, OP_RENAME, "t/af", "t/af2", 0, 0);
	RUN("sticky: alice unlinks her file", "0 absent", "t/af2", ALICE, 022, OP_UNLINK, "t/af2",
	    NULL, 0, 0);
	RUN("sticky: root unlinks bob's file", "0 absent", "t/bf", ROOT, 022, OP_UNLINK, "t/bf", NULL,
	    0, 0);
	RUN("sticky: bob setxattr user.* on the sticky dir", "EPERM", NULL, BOB, 022, OP_SETXATTR,
	    "t", "user.x", 0, 0);
	mk("d", "t2", 01777, CAROL.uid, CAROL.gid);
	RUN("sticky: alice creates in carol's sticky dir", "0", NULL, ALICE, 022, OP_CREATE, "t2/af",
	    NULL, 0, 0644);
	RUN("sticky: dir owner unlinks alice's file", "0 absent", "t2/af", CAROL, 022, OP_UNLINK,
	    "t2/af", NULL, 0, 0);
}

static void t_setgid(void)
{
	mk("d", "g", 02777, 0, 2000);
	mk("d", "plain", 0777, 0, 0);
	RUN("setgid dir: member creates file", "0 file mode=0644 uid=1001 gid=2000", "g/af", ALICE,
	    022, OP_CREATE, "g/af", NULL, 0, 0666);
	RUN("setgid dir: non-member creates file", "0 file mode=0644 uid=1002 gid=2000", "g/bf",
	    BOB, 022, OP_CREATE, "g/bf", NULL, 0, 0666);
	RUN("setgid dir: member mkdir inherits setgid", "0 dir mode=2755 uid=1001 gid=2000", "g/ad",
	    ALICE, 022, OP_MKDIR, "g/ad", NULL, 0777, 0);
	RUN("setgid dir: non-member mkdir inherits setgid", "0 dir mode=2755 uid=1002 gid=2000",
	    "g/bd", BOB, 022, OP_MKDIR, "g/bd", NULL, 0777, 0);
	RUN("setgid dir: grandchild dir inherits again", "0 dir mode=2700 uid=1002 gid=2000",
	    "g/bd/x", BOB, 077, OP_MKDIR, "g/bd/x", NULL, 0777, 0);
	RUN("setgid dir: non-member creates setgid file", "0 file mode=0755 uid=1002 gid=2000",
	    "g/bsg", BOB, 022, OP_CREATE, "g/bsg", NULL, 0, 02755);
	RUN("setgid dir: member creates setgid file", "0 file mode=2755 uid=1001 gid=2000", "g/asg",
	    ALICE, 022, OP_CREATE, "g/asg", NULL, 0, 02755);
	RUN("setgid dir: non-member mkfifo", "0 fifo mode=0644 uid=1002 gid=2000", "g/bp", BOB, 022,
	    OP_MKFIFO, "g/bp", NULL, 0666, 0);
	RUN("setgid dir: non-member symlink", "0 symlink mode=0777 uid=1002 gid=2000", "g/bl", BOB,
	    022, OP_SYMLINK, "g/bl", "bf", 0, 0);
	RUN("plain dir: creates setgid file in own group", "0 file mode=2755 uid=1002 gid=1002",
	    "plain/bsg", BOB, 022, OP_CREATE, "plain/bsg", NULL, 0, 02755);
	RUN("plain dir: mkdir does not get setgid", "0 dir mode=0755 uid=1002 gid=1002", "plain/bd",
	    BOB, 022, OP_MKDIR, "plain/bd", NULL, 0777, 0);
}

static void t_chmod_chown(void)
{
	mk("d", "o", 0777, 0, 0);
	mk("f", "o/m", 0644, ALICE.uid, ALICE.gid);
	RUN("chmod by non-owner", "EPERM file mode=0644 uid=1001 gid=1001", "o/m", BOB, 022,
	    OP_CHMOD, "o/m", NULL, 0777, 0);
	RUN("chmod by owner", "0 file mode=0600 uid=1001 gid=1001", "o/m", ALICE, 022, OP_CHMOD,
	    "o/m", NULL, 0600, 0);
	RUN("chmod by root", "0 file mode=0640 uid=1001 gid=1001", "o/m", ROOT, 022, OP_CHMOD, "o/m",
	    NULL, 0640, 0);
	RUN("chmod g+s by owner, member of the group", "0 file mode=2750 uid=1001 gid=1001", "o/m",
	    ALICE, 022, OP_CHMOD, "o/m", NULL, 02750, 0);
	mk("f", "o/n", 0755, ALICE.uid, BOB.gid);
	RUN("chmod g+s by owner, not in the group", "0 file mode=0755 uid=1001 gid=1002", "o/n",
	    ALICE, 022, OP_CHMOD, "o/n", NULL, 02755, 0);
	RUN("chmod u+s by owner", "0 file mode=4755 uid=1001 gid=1002", "o/n", ALICE, 022, OP_CHMOD,
	    "o/n", NULL, 04755, 0);
	mk("d", "o/dn", 0755, ALICE.uid, BOB.gid);
	RUN("chmod g+s on a dir by owner, not in the group", "0 dir mode=0755 uid=1001 gid=1002",
	    "o/dn", ALICE, 022, OP_CHMOD, "o/dn", NULL, 02755, 0);

	mk("f", "o/c", 0644, ALICE.uid, ALICE.gid);
	RUN("chown to another user by owner", "EPERM file mode=0644 uid=1001 gid=1001", "o/c", ALICE,
	    022, OP_CHOWN, "o/c", NULL, BOB.uid, -1);
	RUN("chown to self by owner", "0 file mode=0644 uid=1001 gid=1001", "o/c", ALICE, 022,
	    OP_CHOWN, "o/c", NULL, ALICE.uid, -1);
	RUN("chgrp to a member group by owner", "0 file mode=0644 uid=1001 gid=2000", "o/c", ALICE,
	    022, OP_CHOWN, "o/c", NULL, -1, 2000);
	RUN("chgrp to a non-member group by owner", "EPERM file mode=0644 uid=1001 gid=2000", "o/c",
	    ALICE, 022, OP_CHOWN, "o/c", NULL, -1, BOB.gid);
	RUN("chgrp by non-owner", "EPERM file mode=0644 uid=1001 gid=2000", "o/c", CAROL, 022,
	    OP_CHOWN, "o/c", NULL, -1, 2000);
	RUN("chown by root", "0 file mode=0644 uid=1002 gid=1003", "o/c", ROOT, 022, OP_CHOWN, "o/c",
	    NULL, BOB.uid, CAROL.gid);
	mk("f", "o/s", 06755, ALICE.uid, ALICE.gid);
	RUN("chgrp by owner clears setuid and setgid", "0 file mode=0755 uid=1001 gid=2000", "o/s",
	    ALICE, 022, OP_CHOWN, "o/s", NULL, -1, 2000);
	mk("f", "o/s2", 02644, ALICE.uid, ALICE.gid);
	RUN("chgrp by owner of setgid without group exec", "0 file mode=2644 uid=1001 gid=2000",
	    "o/s2", ALICE, 022, OP_CHOWN, "o/s2", NULL, -1, 2000);
	mk("f", "o/s3", 06755, ALICE.uid, ALICE.gid);
	RUN("chown by root clears setuid and setgid", "0 file mode=0755 uid=1002 gid=1002", "o/s3",
	    ROOT, 022, OP_CHOWN, "o/s3", NULL, BOB.uid, BOB.gid);
	mk("d", "o/sd", 02755, ALICE.uid, ALICE.gid);
	RUN("chgrp of a setgid dir keeps setgid", "0 dir mode=2755 uid=1001 gid=2000", "o/sd", ALICE,
	    022, OP_CHOWN, "o/sd", NULL, -1, 2000);
}

static void t_killpriv(void)
{
	mk("d", "k", 0777, 0, 0);
	mk("f", "k/w1", 06777, ALICE.uid, 2000);
	RUN("write by non-owner clears setuid+setgid", "0 file mode=0777 uid=1001 gid=2000", "k/w1",
	    BOB, 022, OP_WRITE, "k/w1", NULL, 0, 0);
	mk("f", "k/w2", 04666, ALICE.uid, 2000);
	RUN("write by non-owner clears setuid without exec", "0 file mode=0666 uid=1001 gid=2000",
	    "k/w2", BOB, 022, OP_WRITE, "k/w2", NULL, 0, 0);
	mk("f", "k/w3", 02666, ALICE.uid, 2000);
	RUN("write by non-member clears setgid without group exec",
	    "0 file mode=0666 uid=1001 gid=2000", "k/w3", BOB, 022, OP_WRITE, "k/w3", NULL, 0, 0);
	mk("f", "k/w6", 02666, ALICE.uid, 2000);
	RUN("write by member keeps setgid without group exec", "0 file mode=2666 uid=1001 gid=2000",
	    "k/w6", CAROL, 022, OP_WRITE, "k/w6", NULL, 0, 0);
	mk("f", "k/w4", 06777, ALICE.uid, 2000);
	RUN("write by the owner clears setuid+setgid", "0 file mode=0777 uid=1001 gid=2000", "k/w4",
	    ALICE, 022, OP_WRITE, "k/w4", NULL, 0, 0);
	mk("f", "k/w5", 06777, ALICE.uid, 2000);
	RUN("write by root keeps setuid+setgid", "0 file mode=6777 uid=1001 gid=2000", "k/w5", ROOT,
	    022, OP_WRITE, "k/w5", NULL, 0, 0);
	mk("f", "k/t1", 06777, ALICE.uid, 2000);
	RUN("truncate by non-owner clears setuid+setgid", "0 file mode=0777 uid=1001 gid=2000",
	    "k/t1", BOB, 022, OP_TRUNCATE, "k/t1", NULL, 3, 0);
	mk("f", "k/t2", 06777, ALICE.uid, 2000);
	RUN("ftruncate by non-owner clears setuid+setgid", "0 file mode=0777 uid=1001 gid=2000",
	    "k/t2", BOB, 022, OP_FTRUNCATE, "k/t2", NULL, 0, 0);
	mk("f", "k/t3", 06777, ALICE.uid, 2000);
	RUN("O_TRUNC by non-owner clears setuid+setgid", "0 file mode=0777 uid=1001 gid=2000",
	    "k/t3", BOB, 022, OP_OTRUNC, "k/t3", NULL, 0, 0);
	mk("f", "k/t4", 06755, ALICE.uid, 2000);
	RUN("truncate without write permission", "EACCES file mode=6755 uid=1001 gid=2000", "k/t4",
	    BOB, 022, OP_TRUNCATE, "k/t4", NULL, 0, 0);
}

static void t_times(void)
{
	mk("d", "u", 0777, 0, 0);
	mk("f", "u/w", 0666, ALICE.uid, ALICE.gid);
	mk("f", "u/r", 0644, ALICE.uid, ALICE.gid);
	RUN("utimensat NOW by a non-owner writer", "0", NULL, BOB, 022, OP_UTIMES_NOW, "u/w", NULL,
	    0, 0);
	RUN("utimensat explicit times by a non-owner writer", "EPERM", NULL, BOB, 022,
	    OP_UTIMES_SET, "u/w", NULL, 1234567890, 0);
	RUN("utimensat {NOW, OMIT} by a non-owner writer", "EPERM", NULL, BOB, 022,
	    OP_UTIMES_NOW_OMIT, "u/w", NULL, 0, 0);
	RUN("utimensat NOW by a non-owner without write", "EACCES", NULL, BOB, 022, OP_UTIMES_NOW,
	    "u/r", NULL, 0, 0);
	RUN("utimensat explicit times by the owner", "0", NULL, ALICE, 022, OP_UTIMES_SET, "u/r",
	    NULL, 1234567890, 0);
	{
		struct stat st;
		char line[64];

		lstat("u/r", &st);
		snprintf(line, sizeof(line), "mtime=%lld.%09ld atime=%lld.%09ld",
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
		outcome("times set by the owner", line, NULL,
			"mtime=1234567890.000000500 atime=1234567890.000000500");
	}
	RUN("utimensat NOW by the owner of a read-only file", "0", NULL, ALICE, 022, OP_UTIMES_NOW,
	    "u/r", NULL, 0, 0);
}

static void t_xattr(void)
{
	mk("d", "x", 0777, 0, 0);
	mk("f", "x/f", 0644, ALICE.uid, ALICE.gid);
	RUN("setxattr user.* by non-owner without write", "EACCES", NULL, BOB, 022, OP_SETXATTR,
	    "x/f", "user.a", 0, 0);
	RUN("setxattr user.* by owner", "0", NULL, ALICE, 022, OP_SETXATTR, "x/f", "user.a", 0, 0);
	RUN("getxattr user.* by non-owner with read", "0", NULL, BOB, 022, OP_GETXATTR, "x/f",
	    "user.a", 0, 0);
	setmode("x/f", 0600);
	RUN("getxattr user.* by non-owner without read", "EACCES", NULL, BOB, 022, OP_GETXATTR,
	    "x/f", "user.a", 0, 0);
	setmode("x/f", 0444);
	RUN("setxattr user.* by owner without write bit", "EACCES", NULL, ALICE, 022, OP_SETXATTR,
	    "x/f", "user.b", 0, 0);
	setmode("x/f", 0666);
	RUN("setxattr user.* by non-owner writer", "0", NULL, BOB, 022, OP_SETXATTR, "x/f", "user.c",
	    0, 0);
	RUN("setxattr trusted.* by non-root", "EPERM", NULL, ALICE, 022, OP_SETXATTR, "x/f",
	    "trusted.a", 0, 0);
	RUN("getxattr trusted.* by non-root", "ENODATA", NULL, ALICE, 022, OP_GETXATTR, "x/f",
	    "trusted.a", 0, 0);
	if (mkfifo("x/p", 0666) < 0 || chown("x/p", ALICE.uid, ALICE.gid) < 0)
		die("x/p");
	RUN("setxattr user.* on a fifo by its owner", "EPERM", NULL, ALICE, 022, OP_SETXATTR, "x/p",
	    "user.a", 0, 0);
}

int main(int argc, char **argv)
{
	char work[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: perm-test DIR\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "perm-test: must run as root\n");
		return 2;
	}
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (snprintf(work, sizeof(work), "%s/perm", argv[1]) >= (int)sizeof(work)) {
		fprintf(stderr, "perm-test: path too long\n");
		return 2;
	}
	/*
	 * Work below a directory that everyone may enter, and let children
	 * use paths relative to it, so the modes above DIR do not matter.
	 */
	rm_tree(work);
	if (mkdir(work, 0755) < 0 || chmod(work, 0755) < 0 || chdir(work) < 0)
		die(work);
	umask(0);

	t_create();
	t_access();
	t_dirperm();
	t_sticky();
	t_setgid();
	t_chmod_chown();
	t_killpriv();
	t_times();
	t_xattr();

	if (chdir("/") < 0)
		die("/");
	rm_tree(work);
	fprintf(stderr, "perm-test: %d scenarios, %d unlike local Linux\n", scenarios, unexpected);
	return unexpected ? 1 : 0;
}
