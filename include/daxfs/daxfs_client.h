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

/* Attach to the mount of fd (any open file on it): opens its pool. */
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

uint64_t daxfs_mapping_id(const struct daxfs_mapping *m);
size_t daxfs_mapping_length(const struct daxfs_mapping *m);
void *daxfs_mapping_addr(const struct daxfs_mapping *m);

const char *daxfs_client_errormsg(void);

#ifdef __cplusplus
}
#endif
#endif
