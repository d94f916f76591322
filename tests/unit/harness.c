/* SPDX-License-Identifier: MIT */
/* harness.c - see unit.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"

const struct daxfs_cred t_cred = {.uid = 0, .gid = 0, .groups = NULL, .ngroups = 0, .pid = 1};

/* Shared with the parent, so it can count a child that died. */
struct counts {
	int pass, fail;
};
static struct counts *cnt;
static char tmpdir[128];
static volatile pid_t child;

static void vreport(bool ok, const char *file, int line, const char *fmt, va_list ap)
{
	fputs(ok ? "ok - " : "FAIL - ", stdout);
	vprintf(fmt, ap);
	if (!ok)
		printf(" (%s:%d)", file, line);
	putchar('\n');
	__atomic_add_fetch(ok ? &cnt->pass : &cnt->fail, 1, __ATOMIC_RELAXED);
}

bool t_check(bool cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cond, file, line, fmt, ap);
	va_end(ap);
	return cond;
}

bool t_check_eq(long long got, long long want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(got == want, file, line, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("# got %lld, want %lld\n", got, want);
	return got == want;
}

void t_note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void remove_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* In the parent: a timeout or ^C ends the child; cleanup follows. */
static void on_signal(int sig)
{
	(void)sig;
	if (child > 0)
		kill(child, SIGKILL);
}

static int finish(int status_ok, const char *why)
{
	if (!status_ok) {
		printf("FAIL - %s\n", why);
		cnt->fail++;
	}
	printf("%d passed, %d failed\n", cnt->pass, cnt->fail);
	fflush(stdout);
	return cnt->fail ? 1 : 0;
}

int t_run(const char *name, void (*body)(void))
{
	struct sigaction sa;
	char why[128];
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/dev/shm/daxfs-unit-%s-XXXXXX", name);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		tmpdir[0] = '\0';
		return 1;
	}
	if (getenv("UNIT_NOFORK")) {
		atexit(remove_tmpdir);
		body();
		return finish(1, "");
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		remove_tmpdir();
		return 1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		body();
		/* exit, not _exit: a sanitizer's leak check runs at exit. */
		exit(0);
	}
	child = pid;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	child = 0;
	remove_tmpdir();
	if (status == -1)
		return finish(0, "lost the test process");
	if (WIFSIGNALED(status)) {
		snprintf(why, sizeof(why), "test process died of signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return finish(0, why);
	}
	if (WEXITSTATUS(status)) {
		snprintf(why, sizeof(why), "test process exited with status %d",
			 WEXITSTATUS(status));
		return finish(0, why);
	}
	return finish(1, "");
}

const char *t_path(const char *name)
{
	static struct {
		char name[64];
		char path[256];
	} tab[64];
	int i;

	for (i = 0; i < 64 && tab[i].name[0]; i++)
		if (!strcmp(tab[i].name, name))
			return tab[i].path;
	if (i == 64 || strlen(name) >= sizeof(tab[i].name)) {
		fprintf(stderr, "t_path: too many or too long names\n");
		abort();
	}
	strcpy(tab[i].name, name);
	snprintf(tab[i].path, sizeof(tab[i].path), "%s/%s", tmpdir, name);
	return tab[i].path;
}

bool t_no_reflink;

int t_mkfs(const char *path, uint64_t size, uint64_t bpi)
{
	/* Preallocated: the allocator's counts are then the pool's alone
	 * (lib/backing.c reserves nothing); backing_enospc tests a sparse one. */
	struct daxfs_mkfs_opts o = {.size = size, .bytes_per_inode = bpi, .force = 1,
				    .preallocate = 1, .no_reflink = t_no_reflink};

	return daxfs_mkfs(path, &o, NULL);
}

struct daxfs *t_open(const char *path)
{
	struct daxfs *fs = NULL;
	int ret = daxfs_open(path, NULL, &fs);

	if (!T(ret == 0, "open %s", path)) {
		t_note("daxfs_open: %s (%s)", strerror(-ret), daxfs_errormsg());
		/* Everything after needs the pool; the parent reports the exit. */
		exit(1);
	}
	return fs;
}

int t_copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = -1, ret = 0;
	static char buf[1 << 20];
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			ret = -EIO;
			break;
		}
	if (n < 0)
		ret = -errno;
	close(in);
	close(out);
	return ret;
}

void *t_read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	char *buf;
	size_t done = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && done < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	*len = done;
	return buf;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

void t_srand(uint64_t seed)
{
	rng = seed ? seed : 1;
}

uint64_t t_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

void t_pattern(void *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		p[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> (8 * (i % 8)));
	}
}
