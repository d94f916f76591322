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
	char label[64];
	char path[4096];	/* the pool as the daemon opened it */
};
#define DAXFS_IOC_POOL_INFO _IOR(DAXFS_IOC_MAGIC, 2, struct daxfs_ioc_pool_info)

#endif
