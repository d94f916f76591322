/* SPDX-License-Identifier: MIT */
/*
 * daxfs_ioctl.h - the public ioctl interface of a mounted daxfs.
 *
 * Issue these on a file descriptor of a file on a daxfs mount.  They are
 * "restricted" FUSE ioctls: the argument size is encoded in the command,
 * so the kernel copies the argument in and out and any process that may
 * open the file may use them.
 */
#ifndef DAXFS_IOCTL_H
#define DAXFS_IOCTL_H

#include <stdint.h>
#include <linux/ioctl.h>

#define DAXFS_IOC_MAGIC 0xdf

/*
 * Layout changes that Linux's FUSE module refuses to forward as
 * fallocate(2) modes.  mode is FALLOC_FL_COLLAPSE_RANGE or
 * FALLOC_FL_INSERT_RANGE; offset and length must be multiples of 4096.
 * Errors are those of fallocate(2) on ext4/xfs.
 */
struct daxfs_ioc_falloc {
	uint64_t offset;
	uint64_t length;
	uint32_t mode;
	uint32_t reserved;	/* must be 0 */
};
#define DAXFS_IOC_FALLOCATE _IOW(DAXFS_IOC_MAGIC, 1, struct daxfs_ioc_falloc)

/* Identity of the pool behind the mount. */
struct daxfs_ioc_pool_info {
	uint8_t uuid[16];
	uint64_t size;		/* bytes */
	uint32_t block_size;
	uint32_t is_pmem;
	uint32_t state;		/* DAXFS_POOL_* bits */
	uint32_t features;	/* DAXFS_FEATURE_* bits (0 from an older daemon) */
	char label[64];
	char path[4096];	/* the pool as the daemon opened it */
};
#define DAXFS_IOC_POOL_INFO _IOR(DAXFS_IOC_MAGIC, 2, struct daxfs_ioc_pool_info)
/* The superblock says the pool needs fsck: this mount or an earlier one
 * found a damaged structure (fsck.daxfs clears it). */
#define DAXFS_POOL_NEEDS_FSCK 0x1u
/* The mount refuses changes (-o ro, or errors=remount-ro after damage). */
#define DAXFS_POOL_READONLY   0x2u
/* Features mkfs.daxfs turned on (mkfs.daxfs(8) -O). */
#define DAXFS_FEATURE_METADATA_CSUM 0x1u	/* crc32c of every metadata structure */
#define DAXFS_FEATURE_REFLINK	    0x2u	/* files may share blocks (DAXFS_IOC_CLONE_RANGE) */


/* ---- direct access: mappings and pins (docs/pins.md) ---- */

#define DAXFS_MAP_READ	   0x1	/* file open for reading */
#define DAXFS_MAP_WRITE	   0x2	/* file open for writing; holes are backed and zeroed */
#define DAXFS_MAP_LONGTERM 0x4	/* needs a layout lease (EPERM without one) */
#define DAXFS_MAP_BACKED   0x8	/* out: holes in the range were backed with blocks */
#define DAXFS_MAP_REPLACE  0x10	/* in: drop mapping id first (see below) */
#define DAXFS_MAP_COHERENT 0x20	/* in: a read mapping that sees later writes */
#define DAXFS_MAP_SNAPSHOT 0x40	/* out: shared blocks in it are a snapshot */

#define DAXFS_MAP_MAX_EXTENTS 32

struct daxfs_map_extent {
	uint64_t file_off;	/* offset in the file */
	uint64_t pool_off;	/* offset in the pool: mmap the pool here */
	uint64_t len;		/* bytes, a multiple of 4096 */
};

/*
 * Map [offset, offset + length) of the file: offset must be a multiple of
 * 4096 and the range must lie within the file's size rounded up to a block.
 * The blocks are pinned until DAXFS_IOC_UNMAP or the release of the file
 * descriptor's open file.  When the range needs more than
 * DAXFS_MAP_MAX_EXTENTS extents, the mapping is shortened: length on return
 * says how much was mapped.  The call waits behind a pending layout change
 * of the same file.
 *
 * With DAXFS_MAP_REPLACE, id names a mapping made through the same open
 * file, and the call drops it and then maps the new range: a window moved
 * in one round trip instead of two.  As with mmap(2) MAP_FIXED, the old
 * mapping is gone even if the new map then fails; but arguments the call
 * refuses outright (EINVAL for an unknown id, bad flags or an unaligned
 * offset, EACCES for the open mode, EAGAIN for a long-term map during a
 * lease break) leave it in place.  Stop using the old range first.
 *
 * Shared blocks (DAXFS_IOC_CLONE_RANGE, copy_file_range): a write or
 * DAXFS_MAP_LONGTERM mapping, or a read mapping with DAXFS_MAP_COHERENT,
 * first gives the file its own copy of them, so that stores through it
 * reach this file only and it sees every later write.  A plain read
 * mapping is a snapshot of the shared blocks instead (DAXFS_MAP_SNAPSHOT
 * on return): later writes to any file that shares them go to copies, the
 * mapping keeps the bytes it had, and it holds up no truncate or punch of
 * them.  Blocks of the range that were not shared are mapped as they are,
 * and see later writes, as in a file that shares nothing.
 */
struct daxfs_ioc_map {
	uint64_t offset;	/* in */
	uint64_t length;	/* in: wanted; out: mapped */
	uint32_t flags;		/* in: DAXFS_MAP_*; out: _BACKED, _SNAPSHOT added */
	uint32_t nextents;	/* out */
	uint64_t id;		/* out: the mapping (in: DAXFS_MAP_REPLACE's) */
	struct daxfs_map_extent ext[DAXFS_MAP_MAX_EXTENTS];
};
#define DAXFS_IOC_MAP _IOWR(DAXFS_IOC_MAGIC, 3, struct daxfs_ioc_map)

/* Drop a mapping made through the same open file (EINVAL otherwise). */
struct daxfs_ioc_unmap {
	uint64_t id;
};
#define DAXFS_IOC_UNMAP _IOW(DAXFS_IOC_MAGIC, 4, struct daxfs_ioc_unmap)

/*
 * After writing through a mapping and flushing it to the pool: make the
 * mount's readers see the bytes (drops the kernel's cached pages of the
 * range).  length 0 means the whole mapping.
 */
struct daxfs_ioc_sync {
	uint64_t id;
	uint64_t offset;	/* file offset */
	uint64_t length;
};
#define DAXFS_IOC_SYNC _IOW(DAXFS_IOC_MAGIC, 5, struct daxfs_ioc_sync)

/* One mapping as listed by DAXFS_IOC_PINS. */
struct daxfs_pin_info {
	uint64_t id;
	uint64_t ino;
	uint64_t offset;	/* file range */
	uint64_t length;
	uint64_t age_ns;	/* since the mapping was made */
	uint32_t holder_pid;
	uint32_t flags;		/* DAXFS_MAP_*, DAXFS_PIN_REVOKED */
	uint32_t nextents;
	uint32_t reserved;
};
#define DAXFS_PIN_REVOKED 0x100

#define DAXFS_PINS_MAX 32
/*
 * List the mount's mappings (all files, or with DAXFS_PINS_THIS_FILE the
 * file the ioctl is issued on) with ids greater than cursor; call again
 * with cursor = the last id returned until count < DAXFS_PINS_MAX.
 */
#define DAXFS_PINS_THIS_FILE 0x1
struct daxfs_ioc_pins {
	uint64_t cursor;	/* in */
	uint32_t flags;		/* in */
	uint32_t count;		/* out */
	struct daxfs_pin_info pin[DAXFS_PINS_MAX];
};
#define DAXFS_IOC_PINS _IOWR(DAXFS_IOC_MAGIC, 6, struct daxfs_ioc_pins)

/* Counters of the mount since it was mounted. */
struct daxfs_stats {
	uint64_t maps;			/* mappings made */
	uint64_t unmaps;		/* mappings dropped (unmap, release, revoke) */
	uint64_t pins_taken;		/* block pins taken */
	uint64_t pins_dropped;		/* block pins dropped */
	uint64_t pinned_blocks;		/* blocks with a pin now */
	uint64_t mappings;		/* live mappings now */
	uint64_t deferrals;		/* layout changes that had to wait */
	uint64_t deferred_now;		/* requests waiting now */
	uint64_t deferral_total_ns;
	uint64_t deferral_max_ns;
	uint64_t ebusy;			/* layout changes failed by busy_timeout */
	uint64_t quarantined_blocks;	/* held in quarantine now */
	uint64_t quarantine_total;	/* blocks ever quarantined */
	uint64_t busy_timeout_s;	/* the mount's busy_timeout */
	uint64_t leases;		/* live leases now */
	uint64_t lease_breaks;		/* leases broken */
	uint64_t lease_revokes;		/* leases revoked after lease_break_time */
	uint64_t etxtbsy;		/* layout changes refused by exclusive leases */
	uint64_t lease_break_time_s;	/* the mount's lease_break_time */
	uint64_t pin_lock_max_hold_ns;	/* longest single hold of pin_lock */
	uint64_t pin_lock_max_cpu_ns;	/* ... in its CPU time (-o lock_stat; else 0) */
	uint64_t cow_blocks;		/* shared blocks copied before a change (COW breaks) */
	uint64_t clone_shared;		/* blocks shared by clones and copy_file_range */
	uint64_t clone_copied;		/* blocks a clone copied instead (pinned, or too shared) */
	uint64_t snapshot_blocks;	/* shared blocks held by snapshot read mappings now */
	uint64_t reserved[7];
};
#define DAXFS_IOC_STATS _IOR(DAXFS_IOC_MAGIC, 7, struct daxfs_stats)

/* ---- layout leases (docs/leases.md) ---- */

#define DAXFS_LEASE_READ      0x1
#define DAXFS_LEASE_WRITE     0x2	/* the file must be open for writing */
#define DAXFS_LEASE_EXCLUSIVE 0x10	/* layout changes under it fail: ETXTBSY */

enum daxfs_lease_state {
	DAXFS_LEASE_NONE = 0,
	DAXFS_LEASE_ACTIVE = 1,
	DAXFS_LEASE_BREAKING = 2,	/* unmap and release before the deadline */
	DAXFS_LEASE_REVOKED = 3,	/* mappings revoked, blocks quarantined */
};

enum daxfs_lease_op {
	DAXFS_LEASE_SET = 1,	/* take a lease through this open file */
	DAXFS_LEASE_RELEASE = 2,	/* EBUSY while long-term mappings remain */
	DAXFS_LEASE_GET = 3,	/* state and break event */
	DAXFS_LEASE_WAIT = 4,	/* GET, once the lease is no longer ACTIVE */
};

/*
 * One lease per open file, covering the whole file.  DAXFS_LEASE_GET says
 * whether it is broken, which range the layout change needs and how long
 * is left before revocation.  DAXFS_LEASE_WAIT is how a holder hears of a
 * break: it answers as GET does, but only once the lease is no longer
 * ACTIVE (at once if it is broken, revoked or not held), or when
 * deadline_ns, given in as a timeout in nanoseconds (0: at once;
 * UINT64_MAX: none), has passed, up to 100 ms late; EINTR if the caller
 * takes a signal; EAGAIN if 16 waits of the open file are queued already.
 * poll(2) on daxfs files says nothing of leases.
 */
struct daxfs_ioc_lease {
	uint32_t op;		/* in: enum daxfs_lease_op */
	uint32_t flags;		/* in (SET): DAXFS_LEASE_*; out (GET): the lease's */
	uint32_t state;		/* out: enum daxfs_lease_state */
	uint32_t reserved;	/* must be 0 */
	uint64_t break_offset;	/* out: file range the pending change affects */
	uint64_t break_length;	/* (UINT64_MAX: to the end of the file) */
	uint64_t deadline_ns;	/* out: time left before revocation; in (WAIT): timeout */
	uint64_t mappings;	/* out: long-term mappings made under the lease */
};
#define DAXFS_IOC_LEASE _IOWR(DAXFS_IOC_MAGIC, 8, struct daxfs_ioc_lease)

struct daxfs_lease_info {
	uint64_t id;
	uint64_t ino;
	uint32_t holder_pid;
	uint32_t holder_uid;
	uint32_t flags;
	uint32_t state;
	uint64_t age_ns;
	uint64_t deadline_ns;	/* while breaking */
	uint64_t mappings;
};

#define DAXFS_LEASES_MAX 32
/* List leases with ids greater than cursor, as DAXFS_IOC_PINS does. */
struct daxfs_ioc_leases {
	uint64_t cursor;
	uint32_t flags;		/* DAXFS_PINS_THIS_FILE */
	uint32_t count;
	struct daxfs_lease_info lease[DAXFS_LEASES_MAX];
};
#define DAXFS_IOC_LEASES _IOWR(DAXFS_IOC_MAGIC, 9, struct daxfs_ioc_leases)

/*
 * Block sharing (reflink; pools with DAXFS_FEATURE_REFLINK).  A FUSE ioctl
 * cannot carry a file descriptor, so the source is named by a token:
 * DAXFS_IOC_CLONE_SRC on an open file readable by its opener returns one
 * (the same for the life of that open file, unguessable, valid until it is
 * released); DAXFS_IOC_CLONE_RANGE on the destination, opened for writing
 * and not for appending, shares the source's blocks of
 * [src_offset, src_offset + src_length) into it at dest_offset, as
 * FICLONERANGE does.  Offsets are block aligned; so is the length unless
 * the range ends at the source's end (src_length 0: up to it), and then it
 * must end at or past the destination's end too.  The destination grows to
 * cover the range.  Blocks that a mapping pins are copied rather than
 * shared (a device may be writing them), and so are blocks already shared
 * too often; a later write to either file copies the block it writes
 * first (copy on write).  Errors: EOPNOTSUPP (no reflink feature), EBADF
 * (a bad token, or a file open in the wrong mode), EINVAL (unaligned, or
 * overlapping ranges of one file), EXDEV (not a regular file), EFBIG,
 * ENOSPC (nothing was changed), EBUSY (a mapping pins a block of the
 * destination's range: the leases over it are broken; try again once they
 * are released).  A crash leaves a prefix of the range cloned: each step
 * is atomic, the whole range is not (as on XFS).
 */
#define DAXFS_IOC_CLONE_SRC _IOR(DAXFS_IOC_MAGIC, 10, uint64_t)
struct daxfs_ioc_clone {
	uint64_t src;		/* in: the source's DAXFS_IOC_CLONE_SRC token */
	uint64_t src_offset;
	uint64_t src_length;	/* 0: to the source's end */
	uint64_t dest_offset;
	uint32_t flags;		/* must be 0 */
	uint32_t pad;
	uint64_t shared;	/* out: blocks shared */
	uint64_t copied;	/* out: blocks copied instead (pinned, or shared too often) */
};
#define DAXFS_IOC_CLONE_RANGE _IOWR(DAXFS_IOC_MAGIC, 11, struct daxfs_ioc_clone)

#endif
