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
 *   missing-drain    a transaction's undo entry is not fenced before the
 *                    range it saves is changed (for daxfs-crashtest)
 *   late-store       the undo bytes are stored after their flush, so the
 *                    fence that follows does not cover them (daxfs-crashtest)
 *   cow-skip         a write through the mount to a shared block stores
 *                    into it in place: the other files sharing it see it
 *   cow-map-skip     a direct-access mapping of a shared block does not
 *                    break COW at map time (daxfs-fsx)
 *   refc-skip        a reference-count change is stored without its undo
 *                    entry, so a crash can tear it from its extent
 *                    (daxfs-crashtest, fsck)
 *   snap-ref-skip    a snapshot read mapping of shared blocks takes no
 *                    references of its own: once the other files let go
 *                    of the blocks, a write lands under it (daxfs-fsx)
 *
 * Apart from those, every build has one test hook that costs a predicted
 * branch on a NULL pointer: dx_inject_hook, through which daxfs-crashtest
 * fails the k-th allocation or journal-room check of an operation (and
 * makes the journal look nearly full).
 */
#ifndef DAXFS_FAULT_H
#define DAXFS_FAULT_H

#include <stdbool.h>

enum dx_fault {
	DX_FAULT_SKIP_BUSY_CHECK = 1 << 0,
	DX_FAULT_DROP_PERSIST = 1 << 1,
	DX_FAULT_STALE_READ = 1 << 2,
	DX_FAULT_EARLY_FREE = 1 << 3,
	DX_FAULT_MISSING_DRAIN = 1 << 4,
	DX_FAULT_LATE_STORE = 1 << 5,
	DX_FAULT_COW_SKIP = 1 << 6,
	DX_FAULT_COW_MAP_SKIP = 1 << 7,
	DX_FAULT_REFC_SKIP = 1 << 8,
	DX_FAULT_SNAP_REF_SKIP = 1 << 9,
};

#include <stddef.h>

/* Where an injected failure can strike. */
enum dx_inject_site {
	DX_INJECT_ALLOC_BLOCKS, /* dx_alloc_blocks finds nothing */
	DX_INJECT_ALLOC_INODE,	/* dx_alloc_inode finds nothing */
	DX_INJECT_TX_ROOM,	/* dx_tx_room reports no room */
};

/* A test's hook (NULL: none, the default).  fail() is asked at each site
 * (DX_INJECT_TX_ROOM only once the transaction has logged or freed
 * something: an empty one has the whole journal, so cannot be short);
 * room_cap, when non-zero, caps what dx_tx_room reports (a nearly full
 * journal).  Process-wide: only single-threaded test programs set it. */
struct dx_inject {
	bool (*fail)(enum dx_inject_site site);
	size_t room_cap;
};
extern const struct dx_inject *dx_inject_hook;

static inline bool dx_inject_fail(enum dx_inject_site site)
{
	return __builtin_expect(dx_inject_hook != NULL, 0) && dx_inject_hook->fail &&
	       dx_inject_hook->fail(site);
}

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
