/* SPDX-License-Identifier: MIT */
/*
 * daxfs_client.h - libdaxfs-client: direct access to the blocks of files on
 * a daxfs mount.
 *
 * The client maps the pool itself (it must be able to open the pool file,
 * as a driver doing DMA can reach all memory; see docs/pins.md for the
 * trust model) and asks the daemon, through ioctls on an open file, which
 * pool blocks hold a file range.  While a mapping exists its blocks are
 * pinned: the filesystem neither frees nor moves them.
 *
 * Functions return NULL or -1 with errno set on failure;
 * daxfs_client_errormsg() says more.
 */
#ifndef DAXFS_CLIENT_H
#define DAXFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <daxfs/daxfs_ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

struct daxfs_client;
struct daxfs_mapping;

/*
 * Attach to the mount of fd (any open file on it): opens its pool,
 * read-write if the caller may, else read-only (then only read mappings
 * work: a write mapping fails with EACCES).  Fails with EPERM for a
 * caller the mount does not allow direct access (docs/pins.md).
 */
struct daxfs_client *daxfs_client_open(int fd);
void daxfs_client_close(struct daxfs_client *c);

/*
 * Map [off, off+len) of the file open as fd (off a multiple of 4096).
 * flags: DAXFS_MAP_READ and/or DAXFS_MAP_WRITE (and DAXFS_MAP_LONGTERM
 * with a layout lease).  Returns a pointer to the file's bytes at off; the
 * mapping may be shorter than asked (daxfs_mapping_length()).  fd must stay
 * open while the mapping exists: closing the last descriptor of the open
 * file drops its pins.
 */
void *daxfs_map(struct daxfs_client *c, int fd, off_t off, size_t len, unsigned flags,
		struct daxfs_mapping **m);
/* Make stores to [addr, addr+len) persistent and visible to read(2)
 * through the mount. */
int daxfs_persist(struct daxfs_mapping *m, const void *addr, size_t len);
/* Persist a write mapping, stop using it, and drop its pins. */
int daxfs_unmap(struct daxfs_mapping *m);
/*
 * Move m to [off, off+len) of the same file, with the same flags, in one
 * request to the daemon instead of an unmap and a map: persist the old
 * window (a write mapping), stop using it, and map the new one, at the
 * same address when the length is the same.  Returns the new address, or
 * NULL; after a failure nothing is mapped and m may only be passed to
 * daxfs_unmap().
 */
void *daxfs_remap(struct daxfs_mapping *m, off_t off, size_t len);

/*
 * Layout leases (docs/leases.md).  A lease belongs to the open file of fd
 * and covers the whole file; DAXFS_MAP_LONGTERM mappings need one.  flags:
 * DAXFS_LEASE_READ or DAXFS_LEASE_WRITE, optionally DAXFS_LEASE_EXCLUSIVE.
 */
int daxfs_lease_take(int fd, unsigned flags);
/* Fails with EBUSY while long-term mappings made under it remain. */
int daxfs_lease_release(int fd);
int daxfs_lease_query(int fd, struct daxfs_ioc_lease *state);
/*
 * Wait until fd's lease is broken or revoked, at most timeout_ms (-1: no
 * limit; 0: just look; the daemon may answer up to 100 ms late).  Returns
 * 1 when broken or revoked (the state and break range are then in *state
 * if given), 0 on timeout or when fd holds no lease, -1 on error.  It
 * blocks the calling thread (DAXFS_LEASE_WAIT): an event loop runs it on
 * a thread of its own; poll(2) on fd says nothing of leases.
 */
int daxfs_lease_wait_break(int fd, int timeout_ms, struct daxfs_ioc_lease *state);

/*
 * Block sharing (reflink; since 0.3.0), on pools with the reflink feature.
 * Share the blocks of [src_off, src_off+len) of the file open as src_fd
 * (open for reading) into the file open as dst_fd (open for writing, not
 * O_APPEND) at dst_off, as FICLONERANGE does (DAXFS_IOC_CLONE_SRC, then
 * DAXFS_IOC_CLONE_RANGE; the header says the rules).  len 0: to the
 * source's end.  Both files must be on the same mount (EXDEV).  st (may be
 * NULL) gets the blocks shared and those copied instead (pinned by a
 * mapping, or shared too often).
 */
struct daxfs_reflink_stats {
	uint64_t shared;
	uint64_t copied;
};
int daxfs_reflink_range(int dst_fd, uint64_t dst_off, int src_fd, uint64_t src_off, uint64_t len,
			struct daxfs_reflink_stats *st);
/*
 * The whole of src_fd into dst_fd at offset 0, as FICLONE, with its rules:
 * a source whose size is not a multiple of 4096 needs a destination no
 * longer than it (EINVAL otherwise; cut the destination first, as
 * cp --reflink does).  A clone that fails leaves the destination as it was.
 */
int daxfs_reflink(int dst_fd, int src_fd, struct daxfs_reflink_stats *st);

uint64_t daxfs_mapping_id(const struct daxfs_mapping *m);
size_t daxfs_mapping_length(const struct daxfs_mapping *m);
void *daxfs_mapping_addr(const struct daxfs_mapping *m);
/* The flags the daemon answered the map with: those asked for, plus
 * DAXFS_MAP_BACKED and DAXFS_MAP_SNAPSHOT where they apply. */
unsigned daxfs_mapping_flags(const struct daxfs_mapping *m);

const char *daxfs_client_errormsg(void);

#ifdef __cplusplus
}
#endif
#endif
