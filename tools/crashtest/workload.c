/* SPDX-License-Identifier: MIT */
/* workload.c - see workload.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "daxfs.h"
#include "fault.h"
#include "workload.h"

#define BLK  4096ULL
#define ROOT 1

static const struct daxfs_cred cred = {.uid = 0, .gid = 0, .pid = 1};

/* clang-format off */
static const char *const kind_names[OP_NKINDS] = {
	"create", "mkdir",    "write",	    "append", "link",	    "unlink", "rmdir",
	"rename", "symlink",  "truncate",   "falloc", "setxattr",   "removexattr",
	"copy",	  "unlink-open", "map",	    "lease",  "qmap",	"revoke", "clone",
	"fsync",  "snap",
};
/* clang-format on */

const struct daxfs_open_opts wl_open_opts = {.busy_timeout = DAXFS_DEFAULT_BUSY_TIMEOUT,
					     .lease_break_time = 1};

const char *wl_kind_name(enum op_kind k)
{
	return k < OP_NKINDS ? kind_names[k] : "?";
}

/* clang-format off */
#define OPA(k, a_) {.kind = k, .a = a_}
#define OPAB(k, a_, b_, fl) {.kind = k, .a = a_, .b = b_, .flags = fl}
#define OPW(k, a_, o, l, s) {.kind = k, .a = a_, .off = o, .len = l, .seed = s}
#define OPF(a_, m, o, l) {.kind = OP_FALLOC, .a = a_, .off = o, .len = l, .flags = m}
#define OPC(a_, o2, b_, o, l) {.kind = OP_CLONE, .a = a_, .b = b_, .off = o, .len = l, .off2 = o2}

static const struct op fixed[] = {
	OPA(OP_CREATE, "/A/new"),
	OPA(OP_MKDIR, "/B/nd"),
	OPW(OP_APPEND, "/A/f1", 0, 100, 1),		   /* append, unaligned */
	OPW(OP_WRITE, "/A/f1", 0, BLK, 2),		   /* overwrite a block */
	OPW(OP_WRITE, "/A/f2", 100, 300, 3),		   /* overwrite and extend, unaligned */
	OPW(OP_WRITE, "/big", BLK + 10, 2 * BLK, 4),	   /* into a hole */
	OPW(OP_WRITE, "/B/g1", BLK - 8, 2 * BLK, 5),	   /* extend into preallocated blocks */
	OPW(OP_WRITE, "/B/g2", 3 * BLK, 2 * BLK, 6),	   /* past the end, leaving a hole */
	OPAB(OP_LINK, "/A/f1", "/B/l1", 0),
	OPA(OP_UNLINK, "/A/f2"),
	OPA(OP_UNLINK, "/big"),				   /* frees a multi-extent file */
	OPA(OP_RMDIR, "/E"),
	OPAB(OP_RENAME, "/A/f1", "/A/f1r", 0),		   /* plain */
	OPAB(OP_RENAME, "/A/f2", "/B/g1", 0),		   /* over a file */
	OPAB(OP_RENAME, "/A/sd", "/E", 0),		   /* over an empty dir */
	OPAB(OP_RENAME, "/A/f1", "/B/f1x", 0),		   /* across dirs */
	OPAB(OP_RENAME, "/A/sd", "/B/sd2", 0),		   /* a dir across dirs */
	OPAB(OP_RENAME, "/A/f2", "/B/new", RENAME_NOREPLACE),
	OPAB(OP_RENAME, "/A/f2", "/B/g2", RENAME_NOREPLACE), /* EEXIST */
	OPAB(OP_RENAME, "/A/f1", "/B/g1", RENAME_EXCHANGE),
	OPAB(OP_RENAME, "/A", "/B", RENAME_EXCHANGE),	   /* two dirs */
	OPAB(OP_SYMLINK, "/B/sym", "../A/f1", 0),
	OPW(OP_TRUNCATE, "/big", 0, 3 * BLK + 5, 0),	   /* down, frees extents */
	OPW(OP_TRUNCATE, "/A/f2", 0, 5 * BLK, 0),	   /* up */
	OPW(OP_TRUNCATE, "/A/f1", 0, 10, 0),		   /* down inside a block */
	OPF("/A/f2", 0, 0, 3 * BLK),			   /* allocate, extend */
	OPF("/A/f1", FALLOC_FL_KEEP_SIZE, 2 * BLK, 4 * BLK),
	OPF("/big", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * BLK, 6 * BLK),
	OPF("/A/f1", FALLOC_FL_ZERO_RANGE, 100, BLK),
	OPF("/A/f1", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 2 * BLK, 3 * BLK),
	OPF("/big", FALLOC_FL_COLLAPSE_RANGE, 2 * BLK, 4 * BLK),
	OPF("/big", FALLOC_FL_INSERT_RANGE, BLK, 2 * BLK),
	{.kind = OP_SETXATTR, .a = "/A/f2", .b = "user.n", .len = 40, .seed = 7},
	{.kind = OP_SETXATTR, .a = "/A/f1", .b = "user.a", .len = 300, .seed = 8,
	 .flags = XATTR_REPLACE},
	{.kind = OP_REMOVEXATTR, .a = "/A/f1", .b = "user.a"},
	{.kind = OP_COPY, .a = "/A/f1", .b = "/B/g2", .off = 0, .len = 2 * BLK},
	{.kind = OP_COPY, .a = "/big", .b = "/A/f2", .off = 0, .len = 5 * BLK},
	OPA(OP_UNLINK_OPEN, "/B/g2"),
	OPW(OP_MAP, "/big", BLK, 3 * BLK, 0), /* backs the hole it covers */
	OPW(OP_LEASE, "/big", 0, 2 * BLK, 0),
	OPW(OP_QMAP, "/big", BLK, 3 * BLK, 0),	/* recovery quarantines, the reaper frees */
	OPW(OP_REVOKE, "/big", 0, 2 * BLK, 0), /* quarantine at run time */
	/* Reflink.  Appended, so that the names above (seq1:12-rename of the
	 * mutation tests) keep their numbers. */
	OPC("/A/f1", 0, "/B/g2", 0, 2 * BLK),		   /* between files, over blocks, grows */
	OPC("/A/f1", BLK, "/B/g1", BLK, 0),		   /* to the source's EOF, over prealloc */
	OPC("/big", 0, "/big", 8 * BLK, 4 * BLK),	   /* within one file, holes too */
	OPC("/C/s", 0, "/A/f2", 0, 0),			   /* blocks shared a third time */
	OPC("/big", 0, "/big", 2 * BLK, 4 * BLK),	   /* overlapping: EINVAL */
	OPW(OP_WRITE, "/C/d", BLK, BLK, 30),		   /* COW: a whole shared block */
	OPW(OP_WRITE, "/C/d", 2 * BLK - 50, 100, 31),	   /* COW: parts of two shared blocks */
	OPW(OP_WRITE, "/C/d", 3 * BLK + 100, 200, 32),	   /* COW: past a shared, stale tail */
	OPW(OP_WRITE, "/C/s", BLK + 10, 100, 33),	   /* COW on the source side */
	OPF("/C/d", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BLK + 100, 2 * BLK),
	OPW(OP_TRUNCATE, "/C/d", 0, BLK + 10, 0),	   /* down through shared blocks */
	OPW(OP_TRUNCATE, "/C/d", 0, 5 * BLK, 0),	   /* up: zeroes a shared, stale tail */
	OPF("/C/d", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 100, BLK), /* own + shared */
	OPA(OP_UNLINK, "/C/d"),				   /* drops the shared blocks' counts */
	OPW(OP_SNAP, "/C/s", 0, 2 * BLK, 34),		   /* one block shared with /C/d, one not */
};
/* clang-format on */

size_t wl_fixed_ops(const struct op **ops)
{
	*ops = fixed;
	return sizeof(fixed) / sizeof(fixed[0]);
}

uint64_t wl_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static const char *const rnd_files[] = {"/A/f1", "/A/f2", "/B/g1",   "/B/g2", "/big", "/A/x",
					"/B/y",	 "/E/z",  "/A/sd/w", "/C/s",  "/C/d"};
static const char *const rnd_dirs[] = {"/A/sd", "/E", "/B/d", "/A/sd/e", "/E/q"};

void wl_random_op(uint64_t *rng, struct op *o)
{
	static const int modes[] = {0,
				    FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_ZERO_RANGE,
				    FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				    FALLOC_FL_COLLAPSE_RANGE,
				    FALLOC_FL_INSERT_RANGE};
	size_t nf = sizeof(rnd_files) / sizeof(*rnd_files);
	size_t nd = sizeof(rnd_dirs) / sizeof(*rnd_dirs);
	const char *f = rnd_files[wl_rand(rng) % nf], *g = rnd_files[wl_rand(rng) % nf];
	const char *d = rnd_dirs[wl_rand(rng) % nd];
	uint64_t r = wl_rand(rng);

	memset(o, 0, sizeof(*o));
	o->kind = (enum op_kind)(wl_rand(rng) % OP_FSYNC);
	/* A revocation waits a second for the lease to time out. */
	if (o->kind == OP_REVOKE)
		o->kind = OP_LEASE;
	o->seed = (uint32_t)r;
	o->off = r % 2 ? (r >> 8) % (12 * BLK) : ((r >> 8) % 12) * BLK;
	o->len = r % 4 ? (r >> 20) % (3 * BLK) + 1 : ((r >> 20) % 4 + 1) * BLK;
	snprintf(o->a, sizeof(o->a), "%s", f);
	snprintf(o->b, sizeof(o->b), "%s", g);
	switch (o->kind) {
	case OP_MKDIR:
	case OP_RMDIR:
		snprintf(o->a, sizeof(o->a), "%s", d);
		break;
	case OP_RENAME:
		if (r % 5 == 0) {
			snprintf(o->a, sizeof(o->a), "%s", d);
			snprintf(o->b, sizeof(o->b), "%s", rnd_dirs[(r >> 4) % nd]);
		}
		o->flags = r % 7 == 1 ? RENAME_NOREPLACE : r % 7 == 2 ? RENAME_EXCHANGE : 0;
		break;
	case OP_FALLOC:
		o->flags = (uint32_t)modes[(r >> 40) % (sizeof(modes) / sizeof(*modes))];
		if (o->flags & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
			o->off &= ~(BLK - 1);
			o->len = (o->len + BLK - 1) & ~(BLK - 1);
		}
		break;
	case OP_SETXATTR:
	case OP_REMOVEXATTR:
		snprintf(o->b, sizeof(o->b), "user.%c", 'a' + (int)(r % 3));
		o->len %= 600;
		break;
	case OP_SYMLINK:
		snprintf(o->b, sizeof(o->b), "t%" PRIu64, r % 1000);
		break;
	case OP_TRUNCATE:
		o->len = o->off;
		break;
	case OP_CLONE:
		/* Aligned mostly (else EINVAL), to the source's EOF a third
		 * of the time; the same file now and then. */
		o->off &= ~(BLK - 1);
		o->off2 = ((r >> 44) % 8) * BLK;
		o->len = r % 3 == 0 ? 0 : o->len & ~(BLK - 1);
		if (r % 11 == 0)
			o->off2 += 100;
		if (r % 5 == 0)
			snprintf(o->b, sizeof(o->b), "%s", f);
		break;
	default:
		break;
	}
}

/* ---- resolving paths ---- */

/* The inode of path (and of its parent, and the last name), or -errno. */
static int resolve(struct daxfs *fs, const char *path, uint64_t *parent, const char **name,
		   uint64_t *ino)
{
	char buf[64], *save = NULL, *t, *next;
	uint64_t cur = ROOT, par = ROOT;
	int ret;

	snprintf(buf, sizeof(buf), "%s", path);
	if (name)
		*name = strrchr(path, '/') + 1;
	t = strtok_r(buf, "/", &save);
	while (t) {
		struct stat st;
		next = strtok_r(NULL, "/", &save);
		par = cur;
		if (!next && !ino)
			break;
		ret = daxfs_lookup(fs, cur, t, &st);
		if (ret)
			return ret;
		daxfs_forget(fs, st.st_ino, 1);
		cur = st.st_ino;
		t = next;
	}
	if (parent)
		*parent = par;
	if (ino)
		*ino = cur;
	return 0;
}

static int ino_of(struct daxfs *fs, const char *path, uint64_t *ino)
{
	return resolve(fs, path, NULL, NULL, ino);
}

static void pattern(char *buf, size_t len, uint32_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			wl_rand(&s);
		buf[i] = (char)(s >> (i % 8 * 8)) | 1; /* never 0: a hole reads as 0 */
	}
}

static long write_at(struct daxfs *fs, const char *path, uint64_t off, uint64_t len, uint32_t seed,
		     int append)
{
	uint64_t ino;
	int ret = ino_of(fs, path, &ino);
	char *buf;
	long n;

	if (ret)
		return ret;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	pattern(buf, len, seed);
	n = daxfs_write(fs, ino, buf, len, (off_t)off, append);
	free(buf);
	return n;
}

static long mk(struct daxfs *fs, const char *path, mode_t mode, const char *target)
{
	uint64_t parent;
	const char *name;
	struct stat st;
	int ret = resolve(fs, path, &parent, &name, NULL);

	if (ret)
		return ret;
	if (target)
		ret = daxfs_symlink(fs, parent, name, target, &cred, &st);
	else if (S_ISDIR(mode))
		ret = daxfs_mkdir(fs, parent, name, mode & 07777, &cred, &st);
	else
		ret = daxfs_mknod(fs, parent, name, mode, 0, &cred, &st);
	if (!ret)
		daxfs_forget(fs, st.st_ino, 1);
	return ret;
}

/* ---- the tree ---- */

int wl_setup(struct wl_run *r, enum variant v)
{
	struct daxfs *fs = r->fs;
	static const char *const dirs[] = {"/A", "/B", "/E", "/A/sd", "/C"};
	static const char *const files[] = {"/A/f1", "/A/f2", "/B/g1", "/B/g2",
					    "/big",  "/C/s",  "/C/d"};
	uint64_t ino, s;
	long ret = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs) && !ret; i++)
		ret = mk(fs, dirs[i], S_IFDIR | 0755, NULL);
	for (size_t i = 0; i < sizeof(files) / sizeof(*files) && !ret; i++)
		ret = mk(fs, files[i], S_IFREG | 0644, NULL);
	if (ret)
		return (int)ret;
	if (write_at(fs, "/A/f1", 0, 2 * BLK + 100, 11, 0) != 2 * BLK + 100 ||
	    write_at(fs, "/A/f2", 0, 300, 12, 0) != 300 ||
	    write_at(fs, "/B/g1", 0, BLK, 13, 0) != BLK ||
	    write_at(fs, "/B/g2", 0, 5000, 14, 0) != 5000)
		return -EIO;
	for (int i = 0; i < 8; i++)
		if (write_at(fs, "/big", 2 * (uint64_t)i * BLK, BLK, 20 + (uint32_t)i, 0) != BLK)
			return -EIO;
	if (ino_of(fs, "/B/g1", &ino) ||
	    daxfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, (off_t)BLK, 3 * (off_t)BLK) ||
	    ino_of(fs, "/A/f1", &ino) || daxfs_setxattr(fs, ino, "user.a", "one", 3, 0))
		return -EIO;
	/* Shared blocks for the copy-on-write ops: /C/d clones all of /C/s,
	 * a write makes its first block its own again, and it ends 50 bytes
	 * before /C/s does: its last block, still shared, holds bytes of
	 * /C/s past its end, which extending it must not zero in place. */
	if (write_at(fs, "/C/s", 0, 3 * BLK + 100, 15, 0) != 3 * BLK + 100 ||
	    ino_of(fs, "/C/s", &s) || ino_of(fs, "/C/d", &ino) ||
	    daxfs_clone_range(fs, s, 0, ino, 0, 0, NULL, NULL) ||
	    write_at(fs, "/C/d", 0, 100, 16, 0) != 100)
		return -EIO;
	{
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = 3 * BLK + 50};
		struct stat st;
		if (daxfs_setattr(fs, ino, &sa, &cred, &st))
			return -EIO;
	}
	if (v == V_FULL_POOL) {
		struct statvfs sv;
		/* Preallocated (zeroed) blocks fill the pool; then give back
		 * a few, so that operations run into ENOSPC part way. */
		if (mk(fs, "/fill", S_IFREG | 0600, NULL) || ino_of(fs, "/fill", &ino))
			return -EIO;
		ret = daxfs_fallocate(fs, ino, 0, 0, (off_t)(1ULL << 40));
		if (ret != -ENOSPC)
			return ret ? (int)ret : -EIO;
		daxfs_statfs(fs, &sv);
		ret = daxfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				      (off_t)(3 * BLK));
		if (ret)
			return (int)ret;
	}
	return 0;
}

/* ---- running operations ---- */

static long op_falloc(struct daxfs *fs, const struct op *o)
{
	uint64_t ino;
	int ret = ino_of(fs, o->a, &ino);

	return ret ? ret : daxfs_fallocate(fs, ino, (int)o->flags, (off_t)o->off, (off_t)o->len);
}

static long op_truncate(struct daxfs *fs, const struct op *o)
{
	struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = o->len};
	struct stat st;
	uint64_t ino;
	int ret = ino_of(fs, o->a, &ino);

	return ret ? ret : daxfs_setattr(fs, ino, &sa, &cred, &st);
}

static long op_setxattr(struct daxfs *fs, const struct op *o)
{
	char v[1024];
	uint64_t ino;
	int ret = ino_of(fs, o->a, &ino);

	if (ret)
		return ret;
	pattern(v, o->len, o->seed);
	return daxfs_setxattr(fs, ino, o->b, v, o->len, (int)o->flags);
}

static long op_link(struct daxfs *fs, const struct op *o)
{
	uint64_t ino, parent;
	const char *name;
	struct stat st;
	int ret = ino_of(fs, o->a, &ino);

	if (!ret)
		ret = resolve(fs, o->b, &parent, &name, NULL);
	if (!ret)
		ret = daxfs_link(fs, ino, parent, name, &st);
	if (!ret)
		daxfs_forget(fs, st.st_ino, 1);
	return ret;
}

static long op_remove(struct daxfs *fs, const struct op *o, bool dir)
{
	uint64_t parent;
	const char *name;
	int ret = resolve(fs, o->a, &parent, &name, NULL);

	if (ret)
		return ret;
	return dir ? daxfs_rmdir(fs, parent, name) : daxfs_unlink(fs, parent, name);
}

static long op_rename(struct daxfs *fs, const struct op *o)
{
	uint64_t p1, p2;
	const char *n1, *n2;
	int ret = resolve(fs, o->a, &p1, &n1, NULL);

	if (!ret)
		ret = resolve(fs, o->b, &p2, &n2, NULL);
	return ret ? ret : daxfs_rename(fs, p1, n1, p2, n2, o->flags);
}

static long op_copy(struct daxfs *fs, const struct op *o)
{
	uint64_t a, b;
	int ret = ino_of(fs, o->a, &a);

	if (!ret)
		ret = ino_of(fs, o->b, &b);
	return ret ? ret : daxfs_copy_file_range(fs, a, 0, b, (off_t)o->off, o->len, 0);
}

static long op_clone(struct daxfs *fs, const struct op *o)
{
	uint64_t a, b;
	int ret = ino_of(fs, o->a, &a);

	if (!ret)
		ret = ino_of(fs, o->b, &b);
	return ret ? ret : daxfs_clone_range(fs, a, o->off2, b, o->off, o->len, NULL, NULL);
}

static long op_unlink_open(struct wl_run *r, const struct op *o)
{
	struct daxfs_file *f;
	uint64_t ino;
	long ret = ino_of(r->fs, o->a, &ino);

	if (ret || (ret = daxfs_open_file(r->fs, ino, O_RDWR, &f)))
		return ret;
	ret = op_remove(r->fs, o, false);
	if (!ret && r->step)
		r->step(r->step_ctx);
	if (!ret) {
		char buf[100];
		pattern(buf, sizeof(buf), 99);
		if (daxfs_write(r->fs, ino, buf, sizeof(buf), 0, 1) != (ssize_t)sizeof(buf))
			ret = -EIO;
	}
	daxfs_release(r->fs, f);
	return ret;
}

struct done {
	int called, err;
};

static void on_done(void *ctx, int err)
{
	struct done *d = ctx;

	d->called++;
	d->err = err;
}

/*
 * Map [off, off+len) of o->a and unmap it.  OP_QMAP: for a live holder, so
 * that a crash in between leaves a mapping record that recovery must
 * quarantine.  OP_LEASE: under a layout lease that a truncate breaks; the
 * unmap lets it run.  OP_REVOKE: the same, but the lease is not released
 * in time: it is revoked, the mapped blocks go to quarantine, the truncate
 * runs, and the unmap frees them.
 */
static long op_map(struct wl_run *r, const struct op *o)
{
	bool lease = o->kind == OP_LEASE || o->kind == OP_REVOKE;
	struct daxfs_cred c = cred;
	struct daxfs_ioc_map m = {.offset = o->off, .length = o->len};
	struct daxfs_file *f;
	uint64_t ino;
	long ret = ino_of(r->fs, o->a, &ino);

	c.pid = o->kind == OP_QMAP ? (r->live_pid ? r->live_pid : getpid()) : r->dead_pid;
	if (ret || (ret = daxfs_open_file(r->fs, ino, O_RDWR, &f)))
		return ret;
	m.flags = DAXFS_MAP_READ | DAXFS_MAP_WRITE;
	if (lease) {
		struct daxfs_ioc_lease l = {.op = DAXFS_LEASE_SET, .flags = DAXFS_LEASE_WRITE};
		ret = daxfs_lease(r->fs, f, &l, &c);
		m.flags |= DAXFS_MAP_LONGTERM;
	}
	if (!ret)
		ret = daxfs_mapping_create(r->fs, f, &m, &c);
	if (!ret && r->step)
		r->step(r->step_ctx); /* the map backed holes */
	if (!ret && lease) {
		/* A truncate over the mapping breaks the lease and waits for
		 * the unmap (or the revocation), which then runs it. */
		struct daxfs_setattr sa = {.valid = DX_SET_SIZE, .size = o->off};
		struct daxfs_ioc_lease g = {.op = DAXFS_LEASE_GET};
		struct stat st;
		struct done d = {0};
		daxfs_setattr_async(r->fs, ino, &sa, &cred, &st, on_done, &d);
		if (daxfs_lease(r->fs, f, &g, &c) ||
		    (d.called == 0 && g.state != DAXFS_LEASE_BREAKING))
			ret = -EPROTO;
		if (!ret && d.called == 0 && o->kind == OP_REVOKE) {
			/* Past the break deadline the tick revokes the lease:
			 * the blocks are swapped out into quarantine and the
			 * truncate runs while the mapping still exists. */
			struct timespec ts = {0, 0};
			uint64_t wait = g.deadline_ns + 20000000ULL;
			ts.tv_sec = (time_t)(wait / 1000000000ULL);
			ts.tv_nsec = (long)(wait % 1000000000ULL);
			nanosleep(&ts, NULL);
			daxfs_tick(r->fs);
			g = (struct daxfs_ioc_lease){.op = DAXFS_LEASE_GET};
			if (daxfs_lease(r->fs, f, &g, &c) || g.state != DAXFS_LEASE_REVOKED)
				ret = -EPROTO;
			/* Without room to quarantine them the blocks stay pinned
			 * in the file and the truncate waits for the unmap. */
			if (!ret && d.called && r->step)
				r->step(r->step_ctx); /* revoked and truncated */
		}
		daxfs_mapping_drop(r->fs, f, m.id);
		if (!ret && d.called != 1)
			ret = -EPROTO;
		if (!ret)
			ret = d.err;
	} else if (!ret) {
		ret = daxfs_mapping_drop(r->fs, f, m.id);
	}
	daxfs_release(r->fs, f);
	return ret;
}

/*
 * OP_SNAP: a plain read map of [off, off+len) of o->a, whose blocks it
 * shares in part, for a live holder: the map's transaction gives the
 * record a reference on each shared block (a crash then leaves it HELD
 * until the holder exits).  A write of the range then copies the shared
 * blocks away from the snapshot, and the unmap drops its references (the
 * last ones of a block that no file still shares).
 */
static long op_snap(struct wl_run *r, const struct op *o)
{
	struct daxfs_cred c = cred;
	struct daxfs_ioc_map m = {.offset = o->off, .length = o->len, .flags = DAXFS_MAP_READ};
	struct daxfs_file *f;
	uint64_t ino;
	long ret = ino_of(r->fs, o->a, &ino);

	c.pid = r->live_pid ? r->live_pid : getpid();
	if (ret || (ret = daxfs_open_file(r->fs, ino, O_RDONLY, &f)))
		return ret;
	ret = daxfs_mapping_create(r->fs, f, &m, &c);
	/* (A pair of ops may have unshared the range: then a plain map.) */
	if (!ret && (m.flags & DAXFS_MAP_SNAPSHOT))
		r->snapshots++;
	if (!ret && r->step)
		r->step(r->step_ctx); /* the snapshot holds its references */
	if (!ret) {
		long n = write_at(r->fs, o->a, o->off, o->len, o->seed, false);

		ret = n == (long)o->len ? 0 : n < 0 ? n : -EIO;
	}
	if (!ret && r->step)
		r->step(r->step_ctx); /* written: the file moved away from them */
	if (m.id)
		daxfs_mapping_drop(r->fs, f, m.id);
	daxfs_release(r->fs, f);
	return ret;
}

const char *wl_inplace(const struct op *o)
{
	switch (o->kind) {
	case OP_WRITE:
	case OP_APPEND:
	case OP_SNAP:
		return o->a;
	case OP_FALLOC:
		return o->flags & FALLOC_FL_ZERO_RANGE ? o->a : NULL;
	case OP_COPY:
		return o->b;
	default:
		return NULL;
	}
}

void wl_changes(const struct op *o, const char **p1, const char **p2)
{
	*p1 = *p2 = NULL;
	switch (o->kind) {
	case OP_WRITE:
	case OP_APPEND:
	case OP_SNAP:
	case OP_TRUNCATE:
	case OP_FALLOC:
	case OP_UNLINK_OPEN:
	case OP_MAP:
	case OP_LEASE:
	case OP_QMAP:
	case OP_REVOKE:
		*p1 = o->a;
		break;
	case OP_COPY:
	case OP_CLONE:
		*p1 = o->b; /* never the source */
		break;
	default:
		break; /* names and attributes only: no file's bytes */
	}
}

bool wl_clone_of(const struct op *o, long ret, uint64_t src_size, struct wl_clone *c)
{
	uint64_t off_in = o->kind == OP_CLONE ? o->off2 : 0, len;

	if (ret < 0 || (o->kind != OP_CLONE && o->kind != OP_COPY))
		return false;
	if (o->kind == OP_CLONE) {
		if (off_in >= src_size)
			return false; /* nothing to share */
		len = !o->len || o->len > src_size - off_in ? src_size - off_in : o->len;
	} else {
		/* copy_file_range shares whole blocks at aligned offsets and
		 * returns just those (lib/file.c); anything else is a write. */
		if (o->off % BLK || ret < (long)BLK || ret % (long)BLK)
			return false;
		len = (uint64_t)ret;
	}
	c->src = o->a;
	c->dst = o->b;
	c->sb = off_in / BLK;
	c->db = o->off / BLK;
	c->nb = (len + BLK - 1) / BLK;
	c->end = o->off + len;
	return c->nb != 0;
}

long wl_run_op(struct wl_run *r, const struct op *o)
{
	struct daxfs *fs = r->fs;
	uint64_t ino;

	switch (o->kind) {
	case OP_CREATE:
		return mk(fs, o->a, S_IFREG | 0644, NULL);
	case OP_MKDIR:
		return mk(fs, o->a, S_IFDIR | 0755, NULL);
	case OP_SYMLINK:
		return mk(fs, o->a, 0, o->b);
	case OP_WRITE:
	case OP_APPEND:
		return write_at(fs, o->a, o->off, o->len, o->seed, o->kind == OP_APPEND);
	case OP_LINK:
		return op_link(fs, o);
	case OP_UNLINK:
		return op_remove(fs, o, false);
	case OP_RMDIR:
		return op_remove(fs, o, true);
	case OP_RENAME:
		return op_rename(fs, o);
	case OP_TRUNCATE:
		return op_truncate(fs, o);
	case OP_FALLOC:
		return op_falloc(fs, o);
	case OP_SETXATTR:
		return op_setxattr(fs, o);
	case OP_REMOVEXATTR: {
		int ret = ino_of(fs, o->a, &ino);
		return ret ? ret : daxfs_removexattr(fs, ino, o->b);
	}
	case OP_COPY:
		return op_copy(fs, o);
	case OP_CLONE:
		return op_clone(fs, o);
	case OP_UNLINK_OPEN:
		return op_unlink_open(r, o);
	case OP_MAP:
	case OP_LEASE:
	case OP_QMAP:
	case OP_REVOKE:
		return op_map(r, o);
	case OP_FSYNC: {
		int ret = ino_of(fs, o->a, &ino);
		return ret ? ret : daxfs_fsync(fs, ino, 0);
	}
	case OP_SNAP:
		return op_snap(r, o);
	default:
		return -EINVAL;
	}
}

/* The eighth field, off2, came with OP_CLONE: older replay files have
 * seven, which still parse (off2 0). */
void wl_format_op(const struct op *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s %s %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32 " %" PRIu64,
		 wl_kind_name(o->kind), o->a[0] ? o->a : "-", o->b[0] ? o->b : "-", o->off, o->len,
		 o->flags, o->seed, o->off2);
}

int wl_parse_op(const char *line, struct op *o)
{
	char k[32], a[64], b[64];
	int i, n;

	memset(o, 0, sizeof(*o));
	n = sscanf(line, "%31s %63s %63s %" SCNu64 " %" SCNu64 " %" SCNu32 " %" SCNu32 " %" SCNu64,
		   k, a, b, &o->off, &o->len, &o->flags, &o->seed, &o->off2);
	if (n != 7 && n != 8)
		return -EINVAL;
	for (i = 0; i < OP_NKINDS && strcmp(k, kind_names[i]); i++)
		;
	if (i == OP_NKINDS || strlen(a) >= sizeof(o->a) || strlen(b) >= sizeof(o->b))
		return -EINVAL;
	o->kind = (enum op_kind)i;
	if (strcmp(a, "-"))
		strcpy(o->a, a);
	if (strcmp(b, "-"))
		strcpy(o->b, b);
	return 0;
}
