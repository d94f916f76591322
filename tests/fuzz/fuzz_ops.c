/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ops.c - what the targets do with an opened pool: read everything,
 * or remove everything.  Results are ignored: on a damaged pool any error
 * is fine, a crash, a hang or a sanitizer report is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core.h"
#include "fuzz.h"

static const struct daxfs_cred cred = {.uid = 0, .gid = 0, .pid = 1};

/* Bounds that keep one run short whatever the image claims. */
#define MAX_ENTRIES 2048 /* per directory */
#define MAX_DEPTH   32
#define MAX_READ    (1u << 20) /* bytes per file */

struct entry {
	char name[DX_NAME_MAX + 1];
	uint64_t ino;
	mode_t type;
};

struct dirlist {
	struct entry *v;
	size_t n;
	int plus;
};

static int collect(void *ctx, const char *name, const struct stat *st, off_t next_off)
{
	struct dirlist *l = ctx;

	(void)next_off;
	if (l->n == MAX_ENTRIES)
		return 1;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	l->v[l->n].ino = (uint64_t)st->st_ino;
	l->v[l->n].type = st->st_mode & S_IFMT;
	l->n++;
	return 0;
}

/* The entries of directory ino (plus: with the lookup references that
 * readdirplus takes, dropped again here). */
static struct entry *list_dir(struct daxfs *fs, uint64_t ino, int plus, size_t *n)
{
	struct dirlist l = {.v = calloc(MAX_ENTRIES, sizeof(struct entry)), .plus = plus};

	*n = 0;
	if (!l.v)
		return NULL;
	if (daxfs_readdir(fs, ino, 0, plus, collect, &l) < 0)
		l.n = 0;
	if (plus)
		for (size_t i = 0; i < l.n; i++)
			daxfs_forget(fs, l.v[i].ino, 1);
	*n = l.n;
	return l.v;
}

static volatile uint8_t sink;

static void read_file(struct daxfs *fs, uint64_t ino, uint64_t size)
{
	static struct iovec iov[DX_READ_IOV_MAX];
	static char buf[65536];
	struct daxfs_file *f;
	uint64_t off = 0;

	if (daxfs_open_file(fs, ino, O_RDONLY, &f) < 0)
		return;
	while (off < size && off < MAX_READ) {
		struct daxfs_read_ref ref;
		int cnt = DX_READ_IOV_MAX;
		ssize_t n = daxfs_read_begin(fs, ino, (off_t)off, 128 << 10, iov, &cnt, &ref);
		if (n <= 0)
			break;
		/* touch every byte the reply would send */
		for (int i = 0; i < cnt; i++)
			for (size_t k = 0; k < iov[i].iov_len; k += 64)
				sink ^= ((const uint8_t *)iov[i].iov_base)[k];
		daxfs_read_end(fs, &ref);
		off += (uint64_t)n;
	}
	daxfs_pread(fs, ino, buf, sizeof(buf), size > 100 ? (off_t)(size - 100) : 0);
	daxfs_lseek(fs, ino, 0, SEEK_DATA);
	daxfs_lseek(fs, ino, 0, SEEK_HOLE);
	daxfs_release(fs, f);
}

static void read_xattrs(struct daxfs *fs, uint64_t ino)
{
	static char list[65536], val[65536];
	ssize_t n = daxfs_listxattr(fs, ino, NULL, 0);

	if (n <= 0)
		return;
	n = daxfs_listxattr(fs, ino, list, sizeof(list));
	for (ssize_t i = 0; i < n;) {
		size_t l = strnlen(list + i, (size_t)(n - i));
		if ((ssize_t)(i + l) >= n)
			break;
		daxfs_getxattr(fs, ino, list + i, NULL, 0);
		daxfs_getxattr(fs, ino, list + i, val, sizeof(val));
		i += (ssize_t)l + 1;
	}
}

/* Everything a reader can do with one inode. */
static void read_inode(struct daxfs *fs, uint64_t ino)
{
	static char link[DX_SYMLINK_MAX + 2];
	struct stat st;

	if (daxfs_getattr(fs, ino, &st) < 0)
		return;
	if (S_ISREG(st.st_mode))
		read_file(fs, ino, (uint64_t)st.st_size);
	else if (S_ISLNK(st.st_mode))
		daxfs_readlink(fs, ino, link, sizeof(link));
	read_xattrs(fs, ino);
}

static void walk_dir(struct daxfs *fs, uint64_t ino, int depth, uint8_t *seen)
{
	size_t n;
	struct entry *v;

	if (depth > MAX_DEPTH || ino > fs->sb.ninodes || seen[ino])
		return;
	seen[ino] = 1;
	v = list_dir(fs, ino, depth & 1, &n);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (daxfs_lookup(fs, ino, v[i].name, &st) < 0)
			continue;
		daxfs_forget(fs, (uint64_t)st.st_ino, 1);
		read_inode(fs, (uint64_t)st.st_ino);
		if (S_ISDIR(st.st_mode))
			walk_dir(fs, (uint64_t)st.st_ino, depth + 1, seen);
	}
	free(v);
}

void fuzz_walk(struct daxfs *fs)
{
	uint8_t *seen = calloc(fs->sb.ninodes + 1, 1);
	struct statvfs sv;

	if (!seen)
		return;
	daxfs_statfs(fs, &sv);
	read_inode(fs, DX_ROOT_INO);
	walk_dir(fs, DX_ROOT_INO, 0, seen);
	/* and the slots no directory reaches */
	for (uint64_t ino = 1; ino <= fs->sb.ninodes; ino++)
		if (fs->itable[ino - 1].mode)
			read_inode(fs, ino);
	free(seen);
}

static void truncate_file(struct daxfs *fs, uint64_t ino, uint64_t size)
{
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = size};
	struct stat st;

	daxfs_setattr(fs, ino, &sa, &cred, &st);
}

static void remove_xattrs(struct daxfs *fs, uint64_t ino)
{
	static char list[65536];
	ssize_t n = daxfs_listxattr(fs, ino, list, sizeof(list));

	for (ssize_t i = 0; i < n;) {
		size_t l = strnlen(list + i, (size_t)(n - i));
		if ((ssize_t)(i + l) >= n)
			break;
		daxfs_removexattr(fs, ino, list + i);
		i += (ssize_t)l + 1;
	}
}

static void remove_dir(struct daxfs *fs, uint64_t dino, int depth, uint8_t *seen)
{
	size_t n;
	struct entry *v;

	if (depth > MAX_DEPTH || dino > fs->sb.ninodes || seen[dino])
		return;
	seen[dino] = 1;
	v = list_dir(fs, dino, 0, &n);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (daxfs_lookup(fs, dino, v[i].name, &st) < 0)
			continue;
		daxfs_forget(fs, (uint64_t)st.st_ino, 1);
		remove_xattrs(fs, (uint64_t)st.st_ino);
		if (S_ISDIR(st.st_mode)) {
			remove_dir(fs, (uint64_t)st.st_ino, depth + 1, seen);
			daxfs_rmdir(fs, dino, v[i].name);
		} else {
			if (S_ISREG(st.st_mode)) {
				/* shrink in two steps: a partial and a full free */
				truncate_file(fs, (uint64_t)st.st_ino, (uint64_t)st.st_size / 2);
				truncate_file(fs, (uint64_t)st.st_ino, 0);
			}
			daxfs_unlink(fs, dino, v[i].name);
		}
	}
	free(v);
}

void fuzz_free_all(struct daxfs *fs)
{
	uint8_t *seen = calloc(fs->sb.ninodes + 1, 1);
	static char buf[3 * 4096];
	struct stat st;

	if (!seen)
		return;
	/* allocation on the damaged pool first, then every free path */
	if (daxfs_mknod(fs, DX_ROOT_INO, "fuzz-new", S_IFREG | 0644, 0, &cred, &st) == 0) {
		memset(buf, 'n', sizeof(buf));
		daxfs_write(fs, (uint64_t)st.st_ino, buf, sizeof(buf), 0, 0);
		daxfs_setxattr(fs, (uint64_t)st.st_ino, "user.new", "v", 1, 0);
		daxfs_forget(fs, (uint64_t)st.st_ino, 1);
	}
	remove_xattrs(fs, DX_ROOT_INO);
	remove_dir(fs, DX_ROOT_INO, 0, seen);
	for (uint64_t ino = 2; ino <= fs->sb.ninodes; ino++)
		if (fs->itable[ino - 1].mode && S_ISREG(fs->itable[ino - 1].mode))
			truncate_file(fs, ino, 0);
	free(seen);
}

struct daxfs *fuzz_open(const char *path)
{
	struct daxfs_open_opts o = {.busy_timeout = 1};
	struct daxfs *fs;

	return daxfs_open(path, &o, &fs) == 0 ? fs : NULL;
}
