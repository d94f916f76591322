/* SPDX-License-Identifier: MIT */
/*
 * unit_dir.c - directories: a large directory (lookup, readdir, resumed
 * readdir, unlink, reopen), rename in its variants, name lengths and link
 * counts.
 */
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include "core.h"
#include "unit.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define NENT 100000

static struct daxfs *fs;
static uint64_t *inos;

static void ename(char *buf, size_t len, int i)
{
	snprintf(buf, len, "entry-%06d", i);
}

static int eindex(const char *name)
{
	char *end;
	long i;

	if (strncmp(name, "entry-", 6))
		return -1;
	i = strtol(name + 6, &end, 10);
	return *end || i < 0 || i >= NENT ? -1 : (int)i;
}

/* ---- the large directory ---- */

/* The large directory is a subdirectory with a lookup reference held, as
 * the kernel holds one on every directory it has looked up (but never on
 * the root). */
static uint64_t bigdir;

struct rd {
	uint8_t *seen;
	long count, dups, bad, dots;
	long limit;	      /* accept at most this many per call (0 = all) */
	long accepted;	      /* in this call */
	off_t next;	      /* where to resume */
	uint64_t refused_ino; /* the entry refused for lack of room */
	bool plus;
	/* readdirplus references to drop once the call has returned (the
	 * reference is taken after the callback accepts). */
	uint64_t *forget;
	size_t nforget;
};

static int rd_fill(void *ctx, const char *name, const struct stat *st, off_t next)
{
	struct rd *r = ctx;
	int i;

	if (r->limit && r->accepted == r->limit) {
		r->refused_ino = st->st_ino;
		return 1;
	}
	r->accepted++;
	r->next = next;
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		r->dots++;
		if (st->st_ino != (name[1] ? DX_ROOT_INO : bigdir) || !S_ISDIR(st->st_mode))
			r->bad++;
		return 0;
	}
	i = eindex(name);
	if (i < 0 || st->st_ino != inos[i] || !S_ISREG(st->st_mode)) {
		r->bad++;
		if (r->bad < 4)
			t_note("readdir: unexpected %s ino %llu mode %o", name,
			       (unsigned long long)st->st_ino, st->st_mode);
		return 0;
	}
	if (r->seen[i])
		r->dups++;
	r->seen[i]++;
	r->count++;
	if (r->plus) {
		if (st->st_nlink != 1)
			r->bad++;
		r->forget[r->nforget++] = st->st_ino;
	}
	return 0;
}

/* Read the whole directory in calls of at most limit entries. */
static void read_all(struct rd *r, long limit, bool plus, long *calls)
{
	off_t off = 0;

	memset(r->seen, 0, NENT);
	r->count = r->dups = r->bad = r->dots = 0;
	r->limit = limit;
	r->plus = plus;
	r->next = 0;
	*calls = 0;
	for (;;) {
		r->accepted = 0;
		r->refused_ino = 0;
		r->nforget = 0;
		daxfs_readdir(fs, bigdir, off, plus, rd_fill, r);
		++*calls;
		for (size_t k = 0; k < r->nforget; k++)
			daxfs_forget(fs, r->forget[k], 1);
		if (!r->accepted)
			break;
		off = r->next;
		if (plus && r->refused_ino) {
			/* The refused entry must not have taken a reference. */
			struct dx_ino *ip = dx_iget(fs, r->refused_ino);
			if (ip && ip->nlookup)
				r->bad++;
			dx_iput(fs, ip);
		}
		if (*calls > 10 * NENT)
			break;
	}
}

static bool check_present(int parity, const char *what)
{
	char name[32];
	struct stat st;
	long bad = 0;

	for (int i = 0; i < NENT; i++) {
		bool want = parity < 0 || (i & 1) == parity;
		int ret;
		ename(name, sizeof(name), i);
		ret = daxfs_lookup(fs, bigdir, name, &st);
		if (!ret)
			daxfs_forget(fs, st.st_ino, 1);
		if (want ? (ret || st.st_ino != inos[i]) : ret != -ENOENT) {
			if (bad++ < 3)
				t_note("%s: lookup %s = %d", what, name, ret);
		}
	}
	return T_EQ(bad, 0, "%s", what);
}

static void check_readdir(long want, int parity, const char *what)
{
	struct rd r = {.seen = calloc(NENT, 1)};
	long calls, missing = 0;

	read_all(&r, 0, false, &calls);
	T_EQ(r.count, want, "%s: readdir returns every entry", what);
	T(!r.dups && !r.bad && r.dots == 2, "  each once, right inode and type, . and .. once");
	for (int i = 0; i < NENT; i++)
		if ((parity < 0 || (i & 1) == parity) && !r.seen[i])
			missing++;
	T_EQ(missing, 0, "  none missing");

	read_all(&r, 777, false, &calls);
	T_EQ(r.count, want, "%s: readdir resumed every 777 entries (%ld calls)", what, calls);
	T(!r.dups && !r.bad && r.dots == 2, "  gives each entry once");
	free(r.seen);
}

static void test_large(const char *pool)
{
	char name[32];
	struct stat st;
	struct statvfs sv0, sv;
	bool ok = true;
	uint64_t dsize;
	int i;

	T_EQ(t_mkfs(pool, 128ULL << 20, 1024), 0, "mkfs 128 MiB, an inode per KiB");
	fs = t_open(pool);
	daxfs_statfs(fs, &sv0);
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "big", 0755, &t_cred, &st), 0,
	     "mkdir big (keep its reference)");
	bigdir = st.st_ino;
	sv0.f_ffree--;
	inos = calloc(NENT, sizeof(*inos));
	for (i = 0; i < NENT && ok; i++) {
		ename(name, sizeof(name), i);
		ok = daxfs_mknod(fs, bigdir, name, S_IFREG | 0644, 0, &t_cred, &st) == 0;
		inos[i] = st.st_ino;
		daxfs_forget(fs, st.st_ino, 1);
	}
	if (!T(ok, "create %d entries in one directory", NENT)) {
		t_note("stopped at %d", i - 1);
		daxfs_close(fs);
		return;
	}
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, sv0.f_ffree - NENT, "  statfs: %d inodes used", NENT);
	daxfs_getattr(fs, bigdir, &st);
	dsize = (NENT + DX_DIRENTS_PER_BLOCK - 1) / DX_DIRENTS_PER_BLOCK * DX_BLOCK_SIZE;
	T_EQ(st.st_size, dsize, "  the directory is as large as its slots need");
	T_EQ(st.st_nlink, 2, "  files do not change the directory's link count");
	ename(name, sizeof(name), 5);
	T_EQ(daxfs_mknod(fs, bigdir, name, S_IFREG | 0644, 0, &t_cred, &st), -EEXIST,
	     "  a duplicate name: EEXIST");
	check_present(-1, "lookup of every entry");
	T_EQ(daxfs_lookup(fs, bigdir, "entry-x", &st), -ENOENT, "  a missing name: ENOENT");
	check_readdir(NENT, -1, "full directory");

	/* readdirplus references: accepted entries take one, the refused
	 * one does not. */
	{
		struct rd r = {.seen = calloc(NENT, 1), .forget = calloc(5000, sizeof(uint64_t))};
		long calls, held = 0;
		read_all(&r, 5000, true, &calls);
		T_EQ(r.count, NENT, "readdirplus resumed every 5000 entries");
		T(!r.dups && !r.bad, "  each once, nlink 1, refused entries took no reference");
		for (int i = 0; i < NENT; i++) {
			struct dx_ino *ip = dx_iget(fs, inos[i]);
			held += ip && ip->nlookup;
			dx_iput(fs, ip);
		}
		T_EQ(held, 0, "  after forgetting the accepted entries no reference is left");
		free(r.seen);
		free(r.forget);
	}

	ok = true;
	for (i = 0; i < NENT; i += 2) {
		ename(name, sizeof(name), i);
		ok &= daxfs_unlink(fs, bigdir, name) == 0;
	}
	T(ok, "unlink every even entry");
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, sv0.f_ffree - NENT / 2, "  their inodes are free");
	check_present(1, "after unlink: odd entries found, even ones ENOENT");
	check_readdir(NENT / 2, 1, "half directory");

	daxfs_close(fs);
	fs = t_open(pool);
	T_EQ(daxfs_lookup(fs, DX_ROOT_INO, "big", &st), 0, "reopen, look up big again");
	check_present(1, "after reopen: odd entries found, even ones ENOENT");
	check_readdir(NENT / 2, 1, "after reopen");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");

	/* Freed slots are reused: the directory does not grow. */
	ok = true;
	for (i = 0; i < NENT; i += 2) {
		ename(name, sizeof(name), i);
		ok &= daxfs_mknod(fs, bigdir, name, S_IFREG | 0644, 0, &t_cred, &st) == 0;
		inos[i] = st.st_ino;
		daxfs_forget(fs, st.st_ino, 1);
	}
	T(ok, "create the even entries again");
	daxfs_getattr(fs, bigdir, &st);
	T_EQ(st.st_size, dsize, "  into the freed slots: the directory did not grow");
	check_readdir(NENT, -1, "refilled directory");
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");

	/* Resume after entries were removed and added between calls: what
	 * stayed is seen exactly once. */
	{
		struct rd r = {.seen = calloc(NENT, 1), .limit = 1000};
		off_t off = 0;
		long stayed_missing = 0, calls = 0;
		int next_unlink = 0;

		for (;;) {
			r.accepted = 0;
			daxfs_readdir(fs, bigdir, off, 0, rd_fill, &r);
			if (!r.accepted || ++calls > 1000)
				break;
			off = r.next;
			/* Remove 50 entries at multiples of 7 and re-create 20. */
			for (int k = 0; k < 50 && next_unlink < NENT; next_unlink += 7, k++) {
				ename(name, sizeof(name), next_unlink);
				daxfs_unlink(fs, bigdir, name);
			}
			for (int k = 0; k < 20; k++) {
				int j = (int)(t_rand() % (uint64_t)(next_unlink ? next_unlink : 1));
				j -= j % 7;
				ename(name, sizeof(name), j);
				if (!daxfs_mknod(fs, bigdir, name, S_IFREG | 0644, 0, &t_cred,
						 &st)) {
					inos[j] = st.st_ino;
					daxfs_forget(fs, st.st_ino, 1);
				}
			}
		}
		/* Entries that were re-created may show up again in another
		 * slot; the untouched ones must come exactly once. */
		for (i = 0; i < NENT; i++)
			if (i % 7 && r.seen[i] != 1)
				stayed_missing++;
		T_EQ(stayed_missing, 0,
		     "readdir while the directory changes: each untouched entry exactly once");
		T_EQ(r.bad, 0, "  with the right inode");
		free(r.seen);
	}
	T_EQ(t_fsck(fs, false), 0, "  pool consistent");
	daxfs_forget(fs, bigdir, 1);
	daxfs_close(fs);
	free(inos);
	inos = NULL;
}

/* ---- rename ---- */

static uint64_t ino_of(uint64_t dir, const char *name)
{
	struct stat st;

	if (daxfs_lookup(fs, dir, name, &st))
		return 0;
	daxfs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static unsigned nlink_of(uint64_t ino)
{
	struct stat st;

	return daxfs_getattr(fs, ino, &st) ? 0 : (unsigned)st.st_nlink;
}

static uint64_t mk(uint64_t dir, const char *name, bool is_dir)
{
	struct stat st;
	int ret = is_dir ? daxfs_mkdir(fs, dir, name, 0755, &t_cred, &st)
			 : daxfs_mknod(fs, dir, name, S_IFREG | 0644, 0, &t_cred, &st);

	if (ret) {
		T_EQ(ret, 0, "create %s", name);
		return 0;
	}
	daxfs_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static void test_rename(const char *pool)
{
	uint64_t A, B, a, b, c, d1, d2, x, e, empty, nw;
	struct stat st;
	struct statvfs sv0, sv;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	A = mk(DX_ROOT_INO, "A", true);
	B = mk(DX_ROOT_INO, "B", true);
	a = mk(A, "a", false);
	b = mk(A, "b", false);
	c = mk(B, "c", false);
	d1 = mk(A, "d1", true);
	d2 = mk(A, "d2", true);
	x = mk(d2, "x", false);
	e = mk(B, "e", true);
	T_EQ(nlink_of(DX_ROOT_INO), 4, "root: 2 + two subdirectories");
	T_EQ(nlink_of(A), 4, "A: 2 + d1, d2");
	T_EQ(nlink_of(B), 3, "B: 2 + e");

	T_EQ(daxfs_rename(fs, A, "a", A, "a2", 0), 0, "rename within a directory");
	T(!ino_of(A, "a") && ino_of(A, "a2") == a, "  old name gone, new name is the same inode");
	T_EQ(daxfs_rename(fs, A, "a2", B, "a3", 0), 0, "rename a file across directories");
	T(!ino_of(A, "a2") && ino_of(B, "a3") == a, "  moved");
	T_EQ(nlink_of(a), 1, "  its link count is unchanged");

	T_EQ(daxfs_rename(fs, B, "a3", B, "c", RENAME_NOREPLACE), -EEXIST,
	     "RENAME_NOREPLACE over an existing name: EEXIST");
	T(ino_of(B, "a3") == a && ino_of(B, "c") == c, "  both names unchanged");
	T_EQ(daxfs_rename(fs, B, "a3", B, "new", RENAME_NOREPLACE), 0,
	     "RENAME_NOREPLACE to a free name");
	T(!ino_of(B, "a3") && ino_of(B, "new") == a, "  moved");
	nw = a;

	/* Over an existing file: the target inode loses its name. */
	daxfs_statfs(fs, &sv0);
	T_EQ(daxfs_lookup(fs, B, "c", &st), 0, "hold a reference on B/c");
	T_EQ(daxfs_rename(fs, A, "b", B, "c", 0), 0, "rename over an existing file");
	T(!ino_of(A, "b") && ino_of(B, "c") == b, "  the name now means the source inode");
	T_EQ(nlink_of(c), 0, "  the replaced inode has no links but lives while referenced");
	daxfs_forget(fs, c, 1);
	T_EQ(daxfs_getattr(fs, c, &st), -ENOENT, "  and is freed with its last reference");
	daxfs_statfs(fs, &sv);
	T_EQ(sv.f_ffree, sv0.f_ffree + 1, "  statfs: one inode freed");

	T_EQ(daxfs_rename(fs, B, "c", B, "new", RENAME_EXCHANGE), 0,
	     "RENAME_EXCHANGE of two files");
	T(ino_of(B, "c") == nw && ino_of(B, "new") == b, "  swapped");
	T_EQ(daxfs_rename(fs, B, "c", B, "nothing", RENAME_EXCHANGE), -ENOENT,
	     "RENAME_EXCHANGE with a missing target: ENOENT");
	T_EQ(daxfs_rename(fs, B, "c", B, "new", RENAME_EXCHANGE | RENAME_NOREPLACE), -EINVAL,
	     "EXCHANGE and NOREPLACE together: EINVAL");
	T_EQ(daxfs_rename(fs, B, "c", A, "d1", RENAME_EXCHANGE), 0,
	     "RENAME_EXCHANGE of a file and a directory across directories");
	T(ino_of(B, "c") == d1 && ino_of(A, "d1") == nw, "  swapped");
	T_EQ(nlink_of(A), 3, "  A lost a subdirectory");
	T_EQ(nlink_of(B), 4, "  B gained one");
	T_EQ(ino_of(d1, ".."), B, "  the moved directory's .. is its new parent");
	T_EQ(daxfs_rename(fs, B, "c", A, "d1", RENAME_EXCHANGE), 0, "  exchange back");
	T(ino_of(A, "d1") == d1 && ino_of(B, "c") == nw && ino_of(d1, "..") == A &&
	      nlink_of(A) == 4 && nlink_of(B) == 3,
	  "  everything as before");

	T_EQ(daxfs_rename(fs, DX_ROOT_INO, "A", d2, "sub", 0), -EINVAL,
	     "a directory into its own subtree: EINVAL");
	T_EQ(daxfs_rename(fs, DX_ROOT_INO, "A", A, "self", 0), -EINVAL,
	     "a directory into itself: EINVAL");
	T_EQ(daxfs_rename(fs, DX_ROOT_INO, "A", d2, "x", RENAME_EXCHANGE), -EINVAL,
	     "EXCHANGE of a directory with an entry below it: EINVAL");
	T(ino_of(DX_ROOT_INO, "A") == A && ino_of(d2, "x") == x, "  nothing moved");

	T_EQ(daxfs_rename(fs, B, "e", A, "d2", 0), -ENOTEMPTY,
	     "a directory over a non-empty directory: ENOTEMPTY");
	empty = mk(A, "empty", true);
	T_EQ(nlink_of(A), 5, "mkdir A/empty: A has 3 subdirectories");
	T_EQ(daxfs_lookup(fs, A, "empty", &st), 0, "hold a reference on A/empty");
	T_EQ(daxfs_rename(fs, B, "e", A, "empty", 0), 0, "a directory over an empty directory");
	T(ino_of(A, "empty") == e && !ino_of(B, "e"), "  moved");
	T_EQ(nlink_of(A), 5, "  A: lost one subdirectory, gained one");
	T_EQ(nlink_of(B), 2, "  B: lost one");
	T_EQ(nlink_of(empty), 0, "  the replaced directory has no links");
	T_EQ(ino_of(e, ".."), A, "  .. of the moved directory");
	daxfs_forget(fs, empty, 1);

	T_EQ(daxfs_rename(fs, B, "c", A, "d1", 0), -EISDIR, "a file over a directory: EISDIR");
	T_EQ(daxfs_rename(fs, A, "d1", B, "c", 0), -ENOTDIR, "a directory over a file: ENOTDIR");
	T_EQ(daxfs_rename(fs, A, "nope", B, "c", 0), -ENOENT, "a missing source: ENOENT");
	T_EQ(daxfs_rename(fs, A, "d1", x, "c", 0), -ENOTDIR, "a target parent that is a file");

	T_EQ(daxfs_link(fs, x, d2, "y", &st), 0, "link d2/x to d2/y");
	daxfs_forget(fs, x, 1);
	T_EQ(nlink_of(x), 2, "  nlink 2");
	T_EQ(daxfs_rename(fs, d2, "x", d2, "y", 0), 0, "rename between two links of one inode");
	T(ino_of(d2, "x") == x && ino_of(d2, "y") == x, "  does nothing: both names stay");
	T_EQ(daxfs_rename(fs, A, "d1", A, "d1", 0), 0, "rename a name onto itself");
	T_EQ(ino_of(A, "d1"), d1, "  the name stays");

	T_EQ(daxfs_rename(fs, A, "d2", B, "d2", 0), 0, "move a non-empty directory across");
	T(nlink_of(A) == 4 && nlink_of(B) == 3 && ino_of(d2, "..") == B && ino_of(d2, "x") == x,
	  "  link counts, .., and its content follow");
	T_EQ(t_fsck(fs, false), 0, "tree consistent after the renames");
	daxfs_close(fs);
	fs = t_open(pool);
	T(ino_of(B, "d2") == d2 && ino_of(d2, "..") == B && ino_of(A, "empty") == e,
	  "after reopen the tree is as left");
	T_EQ(t_fsck(fs, false), 0, "  consistent");
	daxfs_close(fs);
}

/* ---- name lengths ---- */

struct find_name {
	const char *want;
	int found;
};

static int find_fill(void *ctx, const char *name, const struct stat *st, off_t next)
{
	struct find_name *f = ctx;

	(void)st;
	(void)next;
	f->found += !strcmp(name, f->want);
	return 0;
}

static void test_names(const char *pool)
{
	char n255[257], n256[257], n255b[257];
	struct stat st;
	uint64_t f;
	struct find_name fn;

	memset(n255, 'a', 255);
	n255[255] = '\0';
	memset(n256, 'b', 256);
	n256[256] = '\0';
	memset(n255b, 'c', 255);
	n255b[255] = '\0';
	n255[0] = 'Z';

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, n255, S_IFREG | 0644, 0, &t_cred, &st), 0,
	     "a 255-byte name");
	f = st.st_ino;
	daxfs_forget(fs, f, 1);
	T_EQ(ino_of(DX_ROOT_INO, n255), f, "  lookup finds it");
	fn = (struct find_name){n255, 0};
	daxfs_readdir(fs, DX_ROOT_INO, 0, 0, find_fill, &fn);
	T_EQ(fn.found, 1, "  readdir returns it whole");
	T_EQ(daxfs_mknod(fs, DX_ROOT_INO, n256, S_IFREG | 0644, 0, &t_cred, &st), -ENAMETOOLONG,
	     "mknod of a 256-byte name: ENAMETOOLONG");
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, n256, 0755, &t_cred, &st), -ENAMETOOLONG, "  mkdir");
	T_EQ(daxfs_symlink(fs, DX_ROOT_INO, n256, "t", &t_cred, &st), -ENAMETOOLONG, "  symlink");
	T_EQ(daxfs_link(fs, f, DX_ROOT_INO, n256, &st), -ENAMETOOLONG, "  link");
	T_EQ(daxfs_lookup(fs, DX_ROOT_INO, n256, &st), -ENAMETOOLONG, "  lookup");
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, n256), -ENAMETOOLONG, "  unlink");
	T_EQ(daxfs_rmdir(fs, DX_ROOT_INO, n256), -ENAMETOOLONG, "  rmdir");
	T_EQ(daxfs_rename(fs, DX_ROOT_INO, n255, DX_ROOT_INO, n256, 0), -ENAMETOOLONG,
	     "  rename to it");
	T_EQ(daxfs_rename(fs, DX_ROOT_INO, n256, DX_ROOT_INO, "x", 0), -ENAMETOOLONG,
	     "  rename from it");
	T_EQ(daxfs_rename(fs, DX_ROOT_INO, n255, DX_ROOT_INO, n255b, 0), 0,
	     "rename to another 255-byte name");
	T_EQ(daxfs_link(fs, f, DX_ROOT_INO, n255, &st), 0, "link with a 255-byte name");
	daxfs_forget(fs, f, 1);
	T_EQ(daxfs_mkdir(fs, DX_ROOT_INO, "", 0755, &t_cred, &st) < 0, 1, "an empty name fails");
	daxfs_close(fs);
	fs = t_open(pool);
	T(ino_of(DX_ROOT_INO, n255) == f && ino_of(DX_ROOT_INO, n255b) == f,
	  "after reopen both 255-byte names lead to the file");
	T_EQ(nlink_of(f), 2, "  nlink 2");
	T_EQ(t_fsck(fs, false), 0, "  consistent");
	daxfs_close(fs);
}

/* ---- link counts ---- */

static void test_links(const char *pool)
{
	uint64_t d, sub, f;
	struct stat st;

	t_mkfs(pool, 16ULL << 20, 0);
	fs = t_open(pool);
	T_EQ(nlink_of(DX_ROOT_INO), 2, "root starts with nlink 2");
	d = mk(DX_ROOT_INO, "d", true);
	T_EQ(nlink_of(d), 2, "a new directory has nlink 2");
	T_EQ(nlink_of(DX_ROOT_INO), 3, "  and its parent gains one");
	sub = mk(d, "sub", true);
	T_EQ(nlink_of(d), 3, "a subdirectory adds one");
	f = mk(d, "f", false);
	T_EQ(nlink_of(f), 1, "a new file has nlink 1");
	T_EQ(nlink_of(d), 3, "  and does not change its directory's");
	T_EQ(daxfs_link(fs, f, DX_ROOT_INO, "f2", &st), 0, "link");
	daxfs_forget(fs, f, 1);
	T_EQ(st.st_nlink, 2, "  the returned stat has nlink 2");
	T_EQ(nlink_of(f), 2, "  getattr agrees");
	T_EQ(daxfs_link(fs, sub, DX_ROOT_INO, "dl", &st), -EPERM, "link to a directory: EPERM");
	T_EQ(daxfs_link(fs, f, DX_ROOT_INO, "f2", &st), -EEXIST,
	     "link to an existing name: EEXIST");
	T_EQ(daxfs_rmdir(fs, DX_ROOT_INO, "d"), -ENOTEMPTY, "rmdir of a non-empty directory");
	T_EQ(daxfs_unlink(fs, DX_ROOT_INO, "d"), -EISDIR, "unlink of a directory: EISDIR");
	T_EQ(daxfs_rmdir(fs, DX_ROOT_INO, "f2"), -ENOTDIR, "rmdir of a file: ENOTDIR");
	T_EQ(daxfs_unlink(fs, d, "f"), 0, "unlink one link");
	T_EQ(nlink_of(f), 1, "  nlink 1");
	T_EQ(daxfs_lookup(fs, d, "sub", &st), 0, "hold a reference on d/sub");
	T_EQ(daxfs_rmdir(fs, d, "sub"), 0, "rmdir");
	T_EQ(nlink_of(d), 2, "  the parent loses one");
	T_EQ(nlink_of(sub), 0, "  the removed directory has nlink 0");
	T_EQ(daxfs_mknod(fs, sub, "in-dead", S_IFREG | 0644, 0, &t_cred, &st), -ENOENT,
	     "  creating inside it: ENOENT");
	daxfs_forget(fs, sub, 1);
	T_EQ(daxfs_rmdir(fs, DX_ROOT_INO, "d"), 0, "rmdir the emptied directory");
	T_EQ(nlink_of(DX_ROOT_INO), 2, "  root is back to 2");
	T_EQ(t_fsck(fs, false), 0, "consistent");

	/*
	 * The kernel never holds a lookup reference on the root, so nothing
	 * keeps the root's in-memory inode alive between calls.  If it is
	 * dropped, every call in the root rebuilds the directory's whole hash
	 * index: each lookup costs O(entries), a large root O(n^2).
	 */
	{
		struct dx_ino *ip;
		T_EQ(daxfs_lookup(fs, DX_ROOT_INO, "f2", &st), 0, "lookup in the root");
		daxfs_forget(fs, st.st_ino, 1);
		ip = dx_iget(fs, DX_ROOT_INO);
		T(ip && ip->loaded, "  the root's directory index stays loaded between calls");
		dx_iput(fs, ip);
	}
	daxfs_close(fs);
}

static void body(void)
{
	test_links(t_path("links"));
	test_names(t_path("names"));
	test_rename(t_path("rename"));
	test_large(t_path("large"));
}

int main(void)
{
	return t_run("dir", body);
}
