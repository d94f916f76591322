/* SPDX-License-Identifier: MIT */
/*
 * fault.h - planted bugs, for proving that daxfs-fsx finds them.
 *
 * Only a build with -Dfault_injection=true has them; there the environment
 * variable DAXFS_FAULT=name[,name...] switches them on when a pool is
 * opened.  A release build refuses to open a pool while DAXFS_FAULT is set,
 * so a stray variable can never go unnoticed.  Names:
 *
 *   skip-busy-check  layout changes ignore pins (and the allocator's
 *                    pinned-block check is off): truncate frees pinned blocks
 *   drop-persist     the data of the 20th write is never copied to the pool
 *   stale-read       after a direct write, the kernel's cached pages are
 *                    not dropped (read(2) returns stale bytes)
 *   early-free       punch frees the block after the hole while the file
 *                    still maps it
 */
#ifndef DAXFS_FAULT_H
#define DAXFS_FAULT_H

#include <stdbool.h>

enum dx_fault {
	DX_FAULT_SKIP_BUSY_CHECK = 1 << 0,
	DX_FAULT_DROP_PERSIST = 1 << 1,
	DX_FAULT_STALE_READ = 1 << 2,
	DX_FAULT_EARLY_FREE = 1 << 3,
};

struct daxfs;

/* Parse DAXFS_FAULT at open; -EINVAL (with a message) when it is set in a
 * build without fault injection or names an unknown fault. */
int dx_fault_init(struct daxfs *fs);

#ifdef DAXFS_FAULT_INJECTION
bool dx_fault(struct daxfs *fs, enum dx_fault f);
#else
static inline bool dx_fault(struct daxfs *fs, enum dx_fault f)
{
	(void)fs;
	(void)f;
	return false;
}
#endif
#endif
