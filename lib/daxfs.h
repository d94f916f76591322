/* SPDX-License-Identifier: MIT */
/*
 * daxfs.h - the core filesystem API (libdaxfs-core).
 *
 * No FUSE here: the daemon in fs/ translates requests into these calls, and
 * the tools in tools/ use them on unmounted pools.  Inodes are named by
 * number as in the FUSE low-level API; the root is DX_ROOT_INO (1).
 *
 * Every call returns 0 (or a non-negative count) on success and -errno on
 * failure.  When a call returns, everything it changed is persistent.
 * A failed call changes nothing.  Calls may be made from many threads.
 */
#ifndef DAXFS_DAXFS_H
#define DAXFS_DAXFS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <daxfs/daxfs_ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

struct daxfs;
struct daxfs_file;

/* Last error message of this thread, for the failed open/mkfs/check call. */
const char *daxfs_errormsg(void);
/*
 * The same, naming path once: "PATH: message", or the message alone when
 * it names path already.  For the tools' "prog: ..." lines.
 */
const char *daxfs_errormsg_for(const char *path);

/* Severities of the messages below: syslog(3)'s levels. */
enum {
	DAXFS_LOG_ERR = 3,
	DAXFS_LOG_WARNING = 4,
	DAXFS_LOG_NOTICE = 5,
	DAXFS_LOG_INFO = 6,
	DAXFS_LOG_DEBUG = 7,
};
/* pool: the path of the pool the message is about, or NULL. */
typedef void (*daxfs_log_fn)(int level, const char *pool, const char *msg, void *arg);
/*
 * Where the messages that no call returns go (corruption found in a
 * mounted pool, a refused free of a pinned block, a journal overflow ...).
 * NULL (the default): stderr, as "daxfs: POOL: message".  Process-wide:
 * set it before opening a pool.
 */
void daxfs_set_log(daxfs_log_fn fn, void *arg);

/* ---- formatting and opening pools ---- */

struct daxfs_mkfs_opts {
	uint64_t size;		/* bytes; 0 = size of the existing file/device */
	const char *label;	/* may be NULL */
	uint64_t bytes_per_inode; /* 0 = default (16 KiB) */
	int force;		/* overwrite an existing filesystem or data */
	int preallocate;	/* a pool file: reserve all of its blocks now */
	int no_metadata_csum;	/* leave out the metadata_csum feature (on by default) */
	int no_reflink;		/* leave out the reflink feature (on by default) */
};

struct daxfs_mkfs_info {
	uint64_t size;
	uint64_t nblocks;
	uint64_t ninodes;
	uint64_t data_blocks;
	uint8_t uuid[16];
	int is_pmem;
	/* A pool file: bytes it does not hold yet, and the free space of the
	 * filesystem holding it (0 and 0 for a device). */
	uint64_t unreserved;
	uint64_t backing_free;
	uint32_t features;	/* DAXFS_FEATURE_* the pool was made with */
};

/* The name of one optional format feature bit (a DAXFS_FEATURE_* of
 * daxfs_ioctl.h, which are the superblock's features word, lib/format.h):
 * "metadata_csum", or NULL for a bit this build does not know. */
const char *daxfs_feature_name(uint32_t bit);
/* The features on, comma-separated as mkfs.daxfs -O takes them (a bit
 * without a name in hex), or "(none)". */
void daxfs_feature_list(uint32_t features, char *buf, size_t len);

/* Create (sparse) or reuse POOL and write an empty filesystem into it. */
int daxfs_mkfs(const char *pool, const struct daxfs_mkfs_opts *o, struct daxfs_mkfs_info *info);

/* ---- pool identity (dumpe2fs, tune2fs): unmounted pools ---- */

struct daxfs_pool_super {
	uint32_t version, block_size;
	uint8_t uuid[16];
	char label[65];
	uint64_t size;		/* bytes the filesystem covers */
	uint64_t file_size;	/* bytes of the file or device */
	uint64_t nblocks;	/* geometry, in blocks (lib/format.h) */
	uint64_t journal_blk, journal_blocks;
	uint64_t maprec_blk, maprec_blocks;
	uint64_t itable_blk, ninodes;
	uint64_t bitmap_blk, bitmap_blocks;
	uint64_t data_blk;
	uint64_t mkfs_time;	/* seconds since the epoch */
	int needs_fsck;		/* a mount found damage; fsck.daxfs clears it */
	int in_use;		/* a read-write mount, mkfs, fsck -y or tune holds it */
	uint64_t journal_pending; /* saved ranges of an interrupted transaction */
	uint64_t free_blocks, free_inodes;
	uint64_t inodes_initialised; /* the inode table's high-water mark */
	uint64_t map_records, map_records_live, map_records_quarantine;
	uint32_t features;	/* DAXFS_FEATURE_* */
	uint32_t csum_seed;	/* metadata_csum: the checksums' seed (0 without) */
	uint64_t refc_blk;	/* reflink: the reference counts (0 without) */
	uint64_t refc_blocks;
};
/* The superblock of POOL and the counts behind it, read without mounting
 * or writing (also from a pool in use: then a snapshot). */
int daxfs_read_super(const char *pool, struct daxfs_pool_super *ps);

struct daxfs_tune_opts {
	const char *label;	/* NULL: keep; at most 63 bytes */
	int set_uuid;		/* replace the UUID with uuid */
	uint8_t uuid[16];
};
/* Change label and UUID of an unmounted pool, atomically across a crash
 * (-EBUSY while anyone holds the pool). */
int daxfs_tune(const char *pool, const struct daxfs_tune_opts *o);

/* A pin that outlives this is not transient (SCSI's own command timeout is
 * 30 s); the daemon's default too. */
#define DAXFS_DEFAULT_BUSY_TIMEOUT 30

/* What a mount does when it finds a damaged structure (as ext4's errors=):
 * the call that found it fails with EUCLEAN and the pool is marked as
 * needing fsck in every case; then */
enum daxfs_errors {
	DAXFS_ERRORS_REMOUNT_RO = 0,	/* refuse every later change (EROFS) */
	DAXFS_ERRORS_CONTINUE,		/* carry on */
	DAXFS_ERRORS_PANIC,		/* abort the process */
};

struct daxfs_open_opts {
	int readonly;
	/* Seconds a layout change waits for pinned blocks before it fails
	 * with EBUSY; 0 waits for ever.  Without options:
	 * DAXFS_DEFAULT_BUSY_TIMEOUT (docs/pins.md says why). */
	unsigned busy_timeout;
	/* Seconds a broken layout lease has to be released before it is
	 * revoked (0 = 45, as /proc/sys/fs/lease-break-time). */
	unsigned lease_break_time;
	/* Per-user caps: leases, and blocks under mappings (0 = none). */
	unsigned max_leases_per_user;
	uint64_t max_pinned_per_user;
	/* Per-user caps on live mappings and on the mapping records they
	 * use (0 = the default: DX_DEFAULT_MAX_MAPPINGS, an eighth of the
	 * record table; UINT_MAX = none).  Root is exempt from every
	 * per-user cap, and the last eighth of the table is root's. */
	unsigned max_mappings_per_user;
	unsigned max_records_per_user;
	int errors;		/* enum daxfs_errors */
	/* Time pin_lock's holds in the holder's CPU time too (two system
	 * calls per hold); the wall-clock figure is always kept. */
	int lock_stat;
};
#define DX_DEFAULT_MAX_MAPPINGS 4096

/*
 * Map and mount a pool: validates the superblock (magic, version, checksum,
 * geometry) without writing, then recovers an interrupted transaction and
 * reclaims orphans.  The pool is locked against a second opener.
 */
int daxfs_open(const char *pool, const struct daxfs_open_opts *o, struct daxfs **fsp);
void daxfs_close(struct daxfs *fs);

/* ---- credentials of the caller (from the FUSE request context) ---- */

struct daxfs_cred {
	uid_t uid;		/* fsuid */
	gid_t gid;		/* fsgid */
	const gid_t *groups;	/* supplementary groups, may be NULL */
	int ngroups;
	pid_t pid;
};

/* ---- inode references ----
 * Calls that return a struct stat for a new name (lookup, mknod, mkdir,
 * symlink, link, readdirplus entries) take one lookup reference on that
 * inode, as FUSE expects; daxfs_forget() drops n of them.  An unlinked
 * inode is freed once it has no lookup references and no open files.
 */
int daxfs_lookup(struct daxfs *fs, uint64_t parent, const char *name, struct stat *st);
void daxfs_forget(struct daxfs *fs, uint64_t ino, uint64_t nlookup);
int daxfs_getattr(struct daxfs *fs, uint64_t ino, struct stat *st);

/* setattr: which fields to change (DX_SET_* bits). */
#define DX_SET_MODE	  (1 << 0)
#define DX_SET_UID	  (1 << 1)
#define DX_SET_GID	  (1 << 2)
#define DX_SET_SIZE	  (1 << 3)
#define DX_SET_ATIME	  (1 << 4)
#define DX_SET_MTIME	  (1 << 5)
#define DX_SET_ATIME_NOW  (1 << 6)
#define DX_SET_MTIME_NOW  (1 << 7)
#define DX_SET_CTIME	  (1 << 8)

struct daxfs_setattr {
	unsigned valid;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
};

/*
 * Permission checks are the kernel's (daxfs mounts with default_permissions);
 * the core applies POSIX side effects: chown clears setuid/setgid on
 * non-directories, new inodes take the caller's fsuid/fsgid or the group of
 * a setgid parent.
 */
int daxfs_setattr(struct daxfs *fs, uint64_t ino, const struct daxfs_setattr *sa,
		  const struct daxfs_cred *cred, struct stat *st);

/*
 * After cred's caller modified ino (wrote, truncated, fallocated, or with
 * all != 0 a change the kernel does not see as a modification, such as the
 * collapse/insert ioctl), clear the set-id bits Linux clears: setuid, and
 * setgid if the group may execute or the caller is not in the file's group;
 * never for root (CAP_FSETID).  all == 0 clears only what the kernel's FUSE
 * module leaves: setgid without group exec (it drops the rest itself
 * through setattr).  Returns 1 if the mode changed, 0 if not, or -errno.
 */
int daxfs_drop_privs(struct daxfs *fs, uint64_t ino, const struct daxfs_cred *cred, int all);

/* mknod: S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK in mode. */
int daxfs_mknod(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		const struct daxfs_cred *cred, struct stat *st);
int daxfs_mkdir(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode,
		const struct daxfs_cred *cred, struct stat *st);
int daxfs_symlink(struct daxfs *fs, uint64_t parent, const char *name, const char *target,
		  const struct daxfs_cred *cred, struct stat *st);
/* Returns the target length; buf is NUL-terminated when it fits. */
ssize_t daxfs_readlink(struct daxfs *fs, uint64_t ino, char *buf, size_t size);
int daxfs_link(struct daxfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
	       struct stat *st);
int daxfs_unlink(struct daxfs *fs, uint64_t parent, const char *name);
int daxfs_rmdir(struct daxfs *fs, uint64_t parent, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE (linux/fs.h values). */
int daxfs_rename(struct daxfs *fs, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags);

/* ---- directories ----
 * The callback returns 0 to accept an entry and non-zero when it has no
 * room (the entry is then not consumed and no reference is taken).
 * next_off is the offset to resume after this entry.  With plus != 0 the
 * stat is complete and an accepted entry (other than "." and "..") takes
 * a lookup reference; otherwise only st_ino and the type bits of st_mode
 * are set.
 */
typedef int (*daxfs_filldir_t)(void *ctx, const char *name, const struct stat *st,
			       off_t next_off);
int daxfs_readdir(struct daxfs *fs, uint64_t ino, off_t off, int plus, daxfs_filldir_t fill,
		  void *ctx);

/* ---- open files ----
 * An open file keeps an unlinked inode (and its blocks) alive.  flags are
 * the open(2) flags; O_TRUNC is applied by the caller through setattr.
 */
int daxfs_open_file(struct daxfs *fs, uint64_t ino, int flags, struct daxfs_file **fp);
void daxfs_release(struct daxfs *fs, struct daxfs_file *f);
/*
 * A stop with f still open (its RELEASE will never come): free f without
 * releasing it.  Its mappings stay recorded in the pool, as after a crash,
 * so the next mount keeps their blocks from other files while the holder
 * lives; an unlinked inode is left to the next mount's orphan pass.  Only
 * between the end of the session and daxfs_close(), waits cancelled.
 */
void daxfs_file_forget(struct daxfs *fs, struct daxfs_file *f);
uint64_t daxfs_file_ino(const struct daxfs_file *f);

/*
 * Single-copy read: fills iov with pointers straight into the pool (holes
 * point at a shared zero page).  The data stay valid until
 * daxfs_read_end(), which must follow on every path.  Returns the number of
 * bytes (0 at EOF); *iovcnt gets the entries used (at most DX_READ_IOV_MAX;
 * the read is shortened to fit).
 */
#define DX_READ_IOV_MAX 512
struct daxfs_read_ref {
	void *inode;
};
ssize_t daxfs_read_begin(struct daxfs *fs, uint64_t ino, off_t off, size_t size,
			 struct iovec *iov, int *iovcnt, struct daxfs_read_ref *ref);
void daxfs_read_end(struct daxfs *fs, struct daxfs_read_ref *ref);
/* Copying read, for tools and tests. */
ssize_t daxfs_pread(struct daxfs *fs, uint64_t ino, void *buf, size_t size, off_t off);

/*
 * Write: copies buf into the pool with non-temporal stores and makes it
 * persistent before returning.  Returns bytes written (short when the pool
 * fills up; -ENOSPC when nothing fits).  append != 0 writes at end of file.
 */
ssize_t daxfs_write(struct daxfs *fs, uint64_t ino, const void *buf, size_t size, off_t off,
		    int append);
ssize_t daxfs_writev(struct daxfs *fs, uint64_t ino, const struct iovec *iov, int iovcnt,
		     off_t off);

/*
 * fallocate: modes 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE (with
 * KEEP_SIZE), FALLOC_FL_ZERO_RANGE (optionally KEEP_SIZE),
 * FALLOC_FL_COLLAPSE_RANGE and FALLOC_FL_INSERT_RANGE (block aligned).
 * Each is all or nothing: -ENOSPC is found before anything changes, and
 * a crash leaves the file as before or as after, however large the
 * range (docs/crash-consistency.md).
 */
int daxfs_fallocate(struct daxfs *fs, uint64_t ino, int mode, off_t off, off_t len);
/* SEEK_DATA / SEEK_HOLE (and SEEK_SET/CUR/END are the caller's). */
off_t daxfs_lseek(struct daxfs *fs, uint64_t ino, off_t off, int whence);
ssize_t daxfs_copy_file_range(struct daxfs *fs, uint64_t ino_in, off_t off_in, uint64_t ino_out,
			      off_t off_out, size_t len, unsigned flags);
/*
 * Share blocks of [off_in, off_in + len) of ino_in into ino_out at off_out
 * (DAXFS_IOC_CLONE_RANGE says the rules; len 0: to the source's end).
 * *shared and *copied (may be NULL) count the blocks shared and those
 * copied instead.  0 or -errno; on an error nothing was changed.
 */
int daxfs_clone_range(struct daxfs *fs, uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
		      uint64_t off_out, uint64_t len, uint64_t *shared, uint64_t *copied);
/* The token of an open file for DAXFS_IOC_CLONE_SRC; -EBADF unless it is
 * open for reading. */
int daxfs_clone_token(struct daxfs *fs, struct daxfs_file *f, uint64_t *token);
/* DAXFS_IOC_CLONE_RANGE on dst, an open file, with uid the caller's. */
int daxfs_clone_ioctl(struct daxfs *fs, struct daxfs_file *dst, struct daxfs_ioc_clone *req);
/* Everything is persistent at return of each call; fsync only fences. */
int daxfs_fsync(struct daxfs *fs, uint64_t ino, int datasync);

/* ---- extended attributes (user.*, trusted.*, security.*) ---- */
/* flags: XATTR_CREATE / XATTR_REPLACE. */
int daxfs_setxattr(struct daxfs *fs, uint64_t ino, const char *name, const void *value,
		   size_t size, int flags);
/* size 0: return the needed size.  Returns the value length. */
ssize_t daxfs_getxattr(struct daxfs *fs, uint64_t ino, const char *name, void *value, size_t size);
ssize_t daxfs_listxattr(struct daxfs *fs, uint64_t ino, char *list, size_t size);
int daxfs_removexattr(struct daxfs *fs, uint64_t ino, const char *name);

/* ---- requests that may have to wait ----
 * A layout change (truncate, fallocate modes that free or move blocks,
 * collapse/insert) waits while blocks it affects are pinned, and a map
 * waits behind a pending layout change of its file.  The _async forms never
 * block the calling thread on that: done(ctx, -errno or 0) is called exactly
 * once, either before the call returns or later from the thread that drops
 * the last pin in the way (or from daxfs_tick() when busy_timeout expires).
 * Output structures passed in must stay valid until then.  The plain forms
 * (daxfs_setattr, daxfs_fallocate) wait on the calling thread.
 */
typedef void (*daxfs_done_t)(void *ctx, int err);

void daxfs_setattr_async(struct daxfs *fs, uint64_t ino, const struct daxfs_setattr *sa,
			 const struct daxfs_cred *cred, struct stat *st, daxfs_done_t done, void *ctx);
void daxfs_fallocate_async(struct daxfs *fs, uint64_t ino, int mode, off_t off, off_t len,
			   daxfs_done_t done, void *ctx);
/*
 * The caller of a waiting request on inode ino (a layout change or a map,
 * submitted with this ctx) was interrupted: take it out of the queue.  Its
 * done(ctx, -EINTR) then comes from the next daxfs_tick(), never from this
 * call, and nothing has changed.  Returns false if the request is not
 * waiting (it has not been queued yet, is running or has been answered).
 */
bool daxfs_interrupt(struct daxfs *fs, uint64_t ino, void *ctx);

/* ---- direct access: mappings and pins (docs/pins.md) ----
 * A mapping pins the pool blocks of a file range for a client that reads or
 * writes them through its own mapping of the pool.  It belongs to the open
 * file f and is dropped by daxfs_mapping_drop() or daxfs_release(f).  cred->pid
 * is the holder (cred->uid is charged for the blocks), recorded in the pool so that recovery after a daemon crash keeps
 * the blocks out of every file while the holder lives.
 */
void daxfs_mapping_create_async(struct daxfs *fs, struct daxfs_file *f, struct daxfs_ioc_map *m,
				const struct daxfs_cred *cred, daxfs_done_t done, void *ctx);
int daxfs_mapping_create(struct daxfs *fs, struct daxfs_file *f, struct daxfs_ioc_map *m,
			 const struct daxfs_cred *cred);
int daxfs_mapping_drop(struct daxfs *fs, struct daxfs_file *f, uint64_t id);
/* The file range of mapping id of f, clipped to [off, off+len) (len 0 =
 * whole mapping), for cache invalidation after a direct write. */
int daxfs_mapping_range(struct daxfs *fs, struct daxfs_file *f, uint64_t id, uint64_t *off,
		    uint64_t *len);
/* Mappings with id > cursor (of inode ino, or all when ino == 0; only
 * those made by *owner unless owner is NULL). */
int daxfs_mapping_list(struct daxfs *fs, uint64_t cursor, uint64_t ino, const uid_t *owner,
		       struct daxfs_pin_info *out, int max);
void daxfs_get_stats(struct daxfs *fs, struct daxfs_stats *st);
/* Housekeeping: expire waits past busy_timeout, free quarantined blocks
 * whose holder is gone.  Call a few times a second. */
void daxfs_tick(struct daxfs *fs);

/* ---- layout leases (docs/leases.md) ----
 * A lease belongs to an open file and covers the whole file; long-term
 * mappings need one.  cred decides who may take it (the owner, or root as
 * CAP_LEASE).  l->op selects set, release or get, as for DAXFS_IOC_LEASE.
 */
int daxfs_lease(struct daxfs *fs, struct daxfs_file *f, struct daxfs_ioc_lease *l,
		const struct daxfs_cred *cred);
/* As daxfs_mapping_list, for leases. */
int daxfs_lease_list(struct daxfs *fs, uint64_t cursor, uint64_t ino, const uid_t *owner,
		     struct daxfs_lease_info *out, int max);
/* Called (from any thread, with core locks held: do not call back into
 * the core) when f's lease is broken or revoked.  Its waits are answered
 * by the next daxfs_tick(): the daemon runs one soon. */
typedef void (*daxfs_lease_notify_t)(void *ctx, struct daxfs_file *f);
void daxfs_set_lease_notify(struct daxfs *fs, daxfs_lease_notify_t fn, void *ctx);
/*
 * DAXFS_LEASE_WAIT on f: done(ctx, 0) with *req filled as for
 * DAXFS_LEASE_GET once f's lease is not ACTIVE (broken, revoked, released,
 * or there was none), or req->deadline_ns nanoseconds have passed (0: at
 * once; UINT64_MAX: no limit; checked by daxfs_tick(), so up to one tick
 * late).  done(ctx, -EINTR) after daxfs_interrupt(fs, ino, ctx).  done may
 * run on this thread before the call returns.  *req must stay valid until
 * done.
 */
void daxfs_lease_wait_async(struct daxfs *fs, struct daxfs_file *f, struct daxfs_ioc_lease *req,
			    daxfs_done_t done, void *ctx);
/* Answer every queued wait with err; before the daemon's session goes. */
void daxfs_lease_wait_cancel(struct daxfs *fs, int err);

/* ---- filesystem ---- */
int daxfs_statfs(struct daxfs *fs, struct statvfs *sv);

/* Pool identity, for clients that map the pool themselves. */
struct daxfs_pool_info {
	uint8_t uuid[16];
	char label[65];
	uint64_t size;
	int is_pmem;
	const char *path;
	int needs_fsck; /* the superblock's DX_SB_NEEDS_FSCK, or found damage */
	int readonly;	/* changes are refused (ro, or errors=remount-ro) */
	uint32_t features; /* the superblock's DX_FEATURE_* bits */
};
void daxfs_pool_info(struct daxfs *fs, struct daxfs_pool_info *pi);

#ifdef __cplusplus
}
#endif
#endif
