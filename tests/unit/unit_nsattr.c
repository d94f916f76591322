/* SPDX-License-Identifier: MIT */
/*
 * unit_nsattr.c - namespace changes against readers of the attributes they
 * change.  Creates, links, renames and unlinks in a directory change its
 * times and link count (and the inodes' ctimes and link counts) while other
 * threads stat and chmod the same inodes holding only their locks, as
 * getattr and setattr do.  The ThreadSanitizer tree runs it (suite
 * concurrency): a namespace change that stores into an inode without that
 * inode's lock is a data race there.  Every tree checks the counts after.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"
#include "unit.h"

#define ROUNDS 2000

static struct daxfs *fs;
static uint64_t dir_ino, sub_ino, file_ino;
static int stop;
static int changer_errors, reader_errors;

static void *changer(void *arg)
{
	struct stat st;
	char a[32], b[32];
	int w = (int)(long)arg;

	for (int i = 0; i < ROUNDS; i++) {
		snprintf(a, sizeof(a), "a%d", w);
		snprintf(b, sizeof(b), "b%d", w);
		/* Each create, link and mkdir takes a lookup reference for
		 * the kernel; forget it as the kernel would. */
		int r[8];

		r[0] = daxfs_mknod(fs, dir_ino, a, S_IFREG | 0644, 0, &t_cred, &st);
		if (!r[0])
			daxfs_forget(fs, st.st_ino, 1);
		r[1] = daxfs_rename(fs, dir_ino, a, sub_ino, b, 0);
		r[2] = daxfs_rename(fs, sub_ino, b, dir_ino, b, 0);
		r[3] = daxfs_unlink(fs, dir_ino, b);
		r[4] = daxfs_link(fs, file_ino, dir_ino, a, &st);
		if (!r[4])
			daxfs_forget(fs, file_ino, 1);
		r[5] = daxfs_unlink(fs, dir_ino, a);
		r[6] = daxfs_mkdir(fs, dir_ino, b, 0755, &t_cred, &st);
		if (!r[6])
			daxfs_forget(fs, st.st_ino, 1);
		r[7] = daxfs_rmdir(fs, dir_ino, b);

		for (unsigned k = 0; k < sizeof(r) / sizeof(r[0]); k++)
			if (r[k] && !__atomic_fetch_add(&changer_errors, 1, __ATOMIC_RELAXED))
				t_note("thread %d round %d step %u: %s", w, i, k, strerror(-r[k]));
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct daxfs_setattr sa = {.valid = DX_SET_MODE, .mode = 0755};
	struct stat st;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (daxfs_getattr(fs, dir_ino, &st) || daxfs_getattr(fs, sub_ino, &st) ||
		    daxfs_getattr(fs, file_ino, &st) ||
		    daxfs_setattr(fs, dir_ino, &sa, &t_cred, &st) ||
		    daxfs_setattr(fs, file_ino, &sa, &t_cred, &st))
			__atomic_add_fetch(&reader_errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void body(void)
{
	pthread_t ch[2], rd;
	struct stat st;
	const char *pool = t_path("pool");

	if (!T(t_mkfs(pool, 32 << 20, 0) == 0, "mkfs"))
		return;
	fs = t_open(pool);
	T(daxfs_mkdir(fs, DX_ROOT_INO, "d", 0755, &t_cred, &st) == 0, "mkdir d");
	dir_ino = st.st_ino;
	T(daxfs_mkdir(fs, dir_ino, "sub", 0755, &t_cred, &st) == 0, "mkdir d/sub");
	sub_ino = st.st_ino;
	T(daxfs_mknod(fs, DX_ROOT_INO, "f", S_IFREG | 0644, 0, &t_cred, &st) == 0, "create f");
	file_ino = st.st_ino;

	pthread_create(&rd, NULL, reader, NULL);
	for (long w = 0; w < 2; w++)
		pthread_create(&ch[w], NULL, changer, (void *)w);
	for (int w = 0; w < 2; w++)
		pthread_join(ch[w], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(rd, NULL);

	T_EQ(changer_errors, 0,
	     "%d rounds of create, rename across, link, unlink, mkdir, rmdir in "
	     "two threads: no error",
	     ROUNDS);
	T_EQ(reader_errors, 0, "getattr and chmod of the same inodes meanwhile: no error");
	T(daxfs_getattr(fs, dir_ino, &st) == 0, "getattr d");
	T_EQ(st.st_nlink, 3, "the directory's link count is back to 3");
	T(daxfs_getattr(fs, file_ino, &st) == 0, "getattr f");
	T_EQ(st.st_nlink, 1, "the file's link count is back to 1");
	T_EQ(t_fsck(fs, false), 0, "the pool is consistent");
	daxfs_close(fs);
}

int main(void)
{
	return t_run("nsattr", body);
}
