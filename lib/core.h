/* SPDX-License-Identifier: MIT */
/*
 * core.h - internal structures of the daxfs core, shared by the lib/ sources only.
 *
 * Lock order (outermost first):
 *
 *   fs->ns_lock        namespace: directory contents and the tree shape.
 *                      Shared for lookup/readdir, exclusive for changes.
 *   dx_ino->lock       per inode: size, extent map, data, attributes.
 *                      Several at once only in ascending ino order.
 *   dx_ino->load_mu    first load of an inode's extent map / dir index.
 *   fs->pin_lock       mappings, block pin counts, mapping records, leases,
 *                      quarantine runs, the per-inode queues of waiting
 *                      layout changes, stats.
 *   fs->tx_lock        the journal: one transaction at a time.  The block
 *                      and inode allocators are used only inside a
 *                      transaction and so need no lock of their own.
 *   fs->icache_lock    the inode cache and reference counts (a leaf).
 *   fs->holder_lock    the cache of holder identities (holder.c; a leaf).
 *
 * Debug builds check this order at run time (lockdep.h): each of these is
 * a dx_mutex_t or dx_rwlock_t whose class carries its rank here.
 *
 * The allocator's pinned-block check reads pin counts without pin_lock
 * (the counts are read atomically, and a pin cannot be added to blocks a
 * layout change is freeing, since that needs the inode lock it holds).
 *
 * A layout change holds its inode's lock while it checks for pins and
 * while it runs; a map holds it while it backs holes and pins.  So no pin
 * can appear between the busy check and the change (the role of the
 * kernel's MMAPLOCK / i_mmap_lock in dax_layout_busy_page()).
 */
#ifndef DAXFS_CORE_H
#define DAXFS_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "daxfs.h"
#include "format.h"
#include "persist.h"
#include "lockdep.h"

#define DX_EXPORT __attribute__((visibility("default")))

int dx_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message for the log (log.c); fs may be NULL.  level: DAXFS_LOG_*. */
void dx_log(const struct daxfs *fs, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * A structure read from the pool failed its verifier (validate.h): log it
 * naming the inode (0: none) and the structure, mark the pool as needing
 * fsck, apply the errors= policy, and return -EUCLEAN for the caller.
 */
int dx_corrupt(struct daxfs *fs, uint64_t ino, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Take the pool's lock (poollock.c) on fd: shared for a read-only mount,
 * else exclusive.  -EBUSY, with a message naming the holders' pids and
 * mountpoint, when another process holds it.
 */
int dx_pool_lock(int fd, const char *path, bool shared);

/* "100 TiB", "1.5 GiB": a size for a message (maplimit.c). */
void dx_fmt_size(char *buf, size_t len, uint64_t bytes);
/*
 * A failed mapping of size bytes of path: err (-errno) with a message that
 * names the limit hit when it was the address space (maplimit.c); detail is
 * the mapping call's own wording.  Returns err.
 */
int dx_map_error(int err, const char *path, uint64_t size, const char *detail);

/* ---- backing reservations (backing.c) ---- */
/* Data-area reservations: granules of 2 MiB; and the reserved free blocks a
 * transaction starts with when the backing store allows. */
#define DX_BACK_GRANULE	 512u
#define DX_BACK_HEADROOM 1024u
/* The data-area blocks [*from, *to) of granule g: the first granule starts
 * at data_blk, the last ends at nblocks. */
void dx_granule_range(const struct daxfs *fs, uint64_t g, uint64_t *from, uint64_t *to);
/* At open, after dx_alloc_init: reserve the metadata and every granule in
 * use, and take the free blocks of the others out of free_blocks. */
int dx_backing_init(struct daxfs *fs);
/* Reserve granules until free_blocks >= need or the backing store is full
 * (tx_lock).  An operation calls it before it checks free_blocks. */
void dx_space_grow(struct daxfs *fs, uint64_t need);
/* Reserve the next granule of the inode table above imark_backed. */
bool dx_backing_inodes(struct daxfs *fs);
/* dx_tx_begin: keep some blocks and an inode slot reserved. */
void dx_backing_tx_begin(struct daxfs *fs);
/* Blocks the backing filesystem can still give (UINT64_MAX: no limit). */
uint64_t dx_backing_free_blocks(struct daxfs *fs);

/* ---- mapping granules ahead of use (prefault.c) ---- */
/* At open: in pmem mode, track the granules populated so far. */
int dx_prefault_init(struct daxfs *fs);
/* [pblk, pblk+len) is about to be stored to or read (the allocator hands
 * it out, a write or read reaches it): populate the daemon's mapping of
 * each granule of it not yet populated.  Any thread. */
void dx_prefault(struct daxfs *fs, uint64_t pblk, uint64_t len);

/* ---- journal (journal.c) ---- */
struct dx_range {
	void *p;
	size_t len;
};

#define DX_TX_RECENT 16
/* Holders whose identity is cached (holder.c): a pidfd each. */
#define DX_HOLDER_CACHE 16

struct dx_journal {
	struct dx_journal_hdr *hdr;
	char *area;		/* entries start here */
	size_t size;		/* bytes available for entries */
	size_t tail;		/* bytes used by the open transaction */
	size_t limit;		/* tests: pretend the journal is this small (0: off) */
	uint64_t seq;		/* seq of the open transaction */
	bool open;
	/* Ranges to flush at commit: logged ones and touched ones. */
	struct dx_range *flush;
	size_t nflush, flush_cap;
	/* Undo entries written and flushed but not fenced yet (dx_tx_log):
	 * the next dx_tx_seal or dx_tx_add fences them. */
	bool unsealed;
	/* The last ranges logged or touched, newest at recent_next - 1: a
	 * range inside one of them needs no entry of its own. */
	struct dx_range recent[DX_TX_RECENT];
	unsigned nrecent, recent_next;
	/* Frees are applied at commit so that no block freed by a
	 * transaction is handed out again before that transaction commits. */
	struct dx_range *frees;	/* p = (void *)pblk, len = nblocks */
	size_t nfrees, frees_cap;
	/* Inode slots freed by this transaction, released at commit. */
	uint64_t *ifrees;
	size_t nifrees, ifrees_cap;
	/* metadata_csum: the objects this transaction changes (csum.c). */
	uintptr_t *cs;
	size_t ncs, cs_cap;
	uint64_t *cs_tab;	/* hash: generation << 32 | index + 1 */
	size_t cs_mask;
	uint32_t cs_gen;
};

/* ---- in-memory extent map (extent.c) ---- */
struct dx_xent {
	uint32_t lblk;
	uint32_t len;
	uint64_t pblk;
	struct dx_extent *slot;	/* the record in the pool */
};

struct dx_xmap {
	struct dx_xent *v;	/* sorted by lblk, non-overlapping */
	size_t n, cap;
	struct dx_extent **free;	/* unused record slots */
	size_t nfree, free_cap;
};

/* ---- in-memory directory index (dir.c) ---- */
struct dx_dirindex {
	struct dx_dirent **blocks;	/* slot block pointers, by dir block */
	size_t nblocks, blocks_cap;
	uint32_t *hash_head;	/* bucket -> slot + 1, 0 = empty */
	uint32_t *hash_next;	/* slot -> next slot + 1 in its bucket */
	size_t nbuckets;
	size_t slots_cap;	/* size of hash_next */
	uint32_t *free;		/* free slot numbers (a stack) */
	size_t nfree, free_cap;
	uint64_t count;		/* live entries */
};

/* ---- mappings and pins (pin.c) ---- */
struct dx_map_ext {
	uint32_t lblk, len;
	uint64_t pblk;
	uint32_t rec;		/* mapping-record slot, DX_NO_REC once quarantined */
	bool claim;		/* a snapshot: the record holds a reference (SNAP) */
};
#define DX_NO_REC UINT32_MAX

struct dx_mapping {
	uint64_t id;
	struct dx_ino *ip;
	struct daxfs_file *f;
	uint32_t lblk, nblk;
	uint32_t flags;		/* DAXFS_MAP_*, DAXFS_PIN_REVOKED */
	pid_t pid;
	uid_t uid;
	uint64_t created_ns;
	uint32_t next;
	uint32_t nclaim;	/* extents with claim set */
	struct dx_map_ext ext[DAXFS_MAP_MAX_EXTENTS];
	/* Doubly linked, so that dropping one mapping is O(1) whatever
	 * else its file, inode or user has mapped. */
	struct dx_mapping *iprev, *inext;	/* this inode's mappings */
	struct dx_mapping *fprev, *fnext;	/* this open file's mappings */
	struct dx_mapping *gprev, *gnext;	/* all, in id order */
	struct dx_mapping *hnext;		/* fs->mhash bucket, by id */
};

/* ---- requests waiting for a layout change (layout.c) ---- */
enum dx_lop_kind { DX_LOP_SETATTR, DX_LOP_FALLOC, DX_LOP_MAP };

struct dx_lop {
	enum dx_lop_kind kind;
	uint64_t start, end;	/* blocks the change affects */
	struct daxfs_setattr sa;
	struct stat *st;
	int mode;
	uint64_t off, len;
	struct daxfs_file *f;
	struct daxfs_ioc_map *map;
	pid_t pid;
	uid_t uid;
	daxfs_done_t done;
	void *ctx;
	uint64_t queued_ns;	/* 0: ran without waiting */
	int result;
	struct dx_ino *ip;	/* while queued or cancelled */
	struct dx_lop *next;
};

/* ---- layout leases (lease.c) ---- */
struct dx_lease {
	uint64_t id;
	struct daxfs_file *f;
	uint32_t flags;		/* DAXFS_LEASE_* */
	uint32_t state;		/* enum daxfs_lease_state */
	uid_t uid;
	pid_t pid;
	uint64_t created_ns;
	uint64_t deadline_ns;	/* BREAKING: when it is revoked */
	uint64_t brk_start, brk_end;	/* BREAKING: file blocks wanted */
	struct dx_lease *inext;		/* this inode's leases */
	struct dx_lease *bnext;		/* fs->breaking */
};

/* A DAXFS_LEASE_WAIT not yet answered (lease_wait.c). */
struct dx_lwait {
	struct dx_lwait *next;		/* fs->lwaits or fs->lwaits_done */
	struct daxfs_file *f;
	uint64_t deadline_ns;		/* UINT64_MAX: none */
	struct daxfs_ioc_lease *out;
	daxfs_done_t done;
	void *ctx;
	int err;
};

/* Blocks taken out of their file by a revocation, freed once unpinned. */
struct dx_qrun {
	uint64_t pblk, len;
	uint32_t rec;
	struct dx_qrun *next;
};

/* Per-user use of leases, mappings, mapping records and mapped blocks,
 * for the mount's caps.  A map in progress counts what it may use. */
struct dx_usage {
	uid_t uid;
	uint32_t leases;
	uint32_t mappings;
	uint32_t records;
	uint64_t pinned;
	struct dx_usage *next;
};

struct daxfs_file {
	struct dx_ino *ip;
	int flags;
	uid_t uid;		/* who opened it */
	struct dx_mapping *maps;	/* pin_lock */
	uint64_t nlongterm;		/* pin_lock: DAXFS_MAP_LONGTERM ones */
	struct dx_lease *lease;		/* pin_lock */
	uint32_t nlwaits;		/* pin_lock: its queued DAXFS_LEASE_WAITs */
	uint64_t token;			/* icache_lock: DAXFS_IOC_CLONE_SRC's, 0 = none */
	struct daxfs_file *tnext;	/* icache_lock: fs->tokens bucket */
};

/* ---- in-memory inode (inode.c) ---- */
struct dx_ino {
	uint64_t ino;
	struct dx_inode *d;	/* the slot in the pool */
	/* d->mode & S_IFMT, which never changes: read without the lock
	 * (a chmod rewrites the whole mode field under it). */
	mode_t type;
	dx_rwlock_t lock;
	dx_mutex_t load_mu;
	bool loaded;		/* xmap (and dir index) built */
	struct dx_xmap xmap;
	struct dx_dirindex *dir;
	/* Guarded by fs->pin_lock: */
	struct dx_mapping *maps;
	uint32_t nmaps;
	struct dx_lease *leases;
	uint32_t nbreaking;			/* leases being broken */
	struct dx_lop *lq_head, *lq_tail;	/* waiting, in order */
	/* In fs->pending exactly while lq_head is set; the queue then
	 * holds a reference on the inode. */
	struct dx_ino *pend_next, *pend_prev;
	/* Guarded by fs->icache_lock: */
	uint64_t nlookup;	/* kernel references */
	uint32_t nopen;		/* open files */
	uint32_t refs;		/* core-internal references */
	struct dx_ino *hnext;
};

/* ---- the mounted pool ---- */
struct daxfs {
	char *path;
	int fd;			/* holds the flock for the mount's life */
	char *base;		/* the pool mapping */
	size_t mapped_len;
	int is_pmem;
	struct dx_pctx pc;	/* flush mode of this pool (persist.h) */
	/* Set at open, or at run time by errors=remount-ro (so atomic). */
	_Atomic int readonly;
	bool map_ro;		/* the mapping is PROT_READ */
	int errors;		/* enum daxfs_errors */
	bool lock_stat;		/* pin_lock holds timed in CPU time too */
	int corrupt_marked;	/* the needs-fsck flag has been set */
	unsigned corrupt_logged;	/* messages printed, for the cap */
	struct dx_super sb;	/* validated copy (its itable_mark is stale: imark) */
	bool csum;		/* metadata_csum (csum.h) */
	uint32_t csum_seed;
	struct dx_inode *itable;
	uint64_t *bitmap;
	uint16_t *refc;		/* reference counts (format.h); NULL without reflink */
	struct dx_maprec *maprecs;

	dx_rwlock_t ns_lock;

	dx_mutex_t tx_lock;
	struct dx_journal jr;

	/* Allocators (tx_lock). */
	uint64_t free_blocks;
	uint64_t block_hint;
	uint64_t *ibitmap;	/* DRAM: 1 = inode slot in use */
	uint64_t free_inodes;
	uint64_t inode_hint;
	/* Inode slots initialised (the superblock's itable_mark): written
	 * under tx_lock, read atomically by dx_iget. */
	uint64_t imark;
	/* Backing reservations of a sparse pool file (backing.c; tx_lock). */
	bool backing_on;	/* fallocate before use */
	uint64_t *backed;	/* one bit per granule: reserved (NULL: all are) */
	uint64_t ngranules;
	uint64_t unbacked_free;	/* free blocks of granules not reserved */
	uint64_t grow_hint;
	uint64_t imark_backed;	/* inode slots whose table bytes are reserved */
	/* Granules mapped ahead of use (prefault.c; atomic bits; NULL:
	 * none are), and prefault_off once madvise turned out to be missing. */
	uint64_t *populated;
	bool prefault_off;

	/* The last holders of mappings (holder.c; holder_lock). */
	dx_mutex_t holder_lock;
	struct dx_holder {
		pid_t pid;	/* a thread-group leader */
		int pidfd;	/* -1: a free entry */
		uint64_t start;	/* its start time (/proc/PID/stat field 22) */
		uint64_t used;	/* holder_clock at the last use */
	} holders[DX_HOLDER_CACHE];
	uint64_t holder_clock;

	/* Inode cache (icache_lock), and the clone tokens of open files. */
	dx_mutex_t icache_lock;
	struct daxfs_file **tokens;
	struct dx_ino **ihash;
	size_t ihash_size;
	size_t icount;

	const char *zero;	/* DX_ZERO_LEN bytes of zeros for holes */
	struct dx_ino *root;	/* held for the mount's life */

	/* Pins (pin_lock). */
	dx_mutex_t pin_lock;
	uint32_t **pins;	/* per-block pin counts, 64Ki-block chunks */
	size_t npin_chunks;
	uint32_t *rec_free;	/* free mapping-record slots */
	size_t nrec_free;
	size_t nrec_reserved;	/* of those, promised to maps in progress */
	size_t nrec_root;	/* the last free records, for root only */
	struct dx_mapping *mhead, *mtail;
	struct dx_mapping **mhash;	/* live mappings by id */
	size_t mhash_mask;
	uint64_t next_map_id;
	struct dx_ino *pending;	/* inodes with waiting requests */
	struct dx_lop *cancelled;	/* interrupted, for daxfs_tick() to answer */
	unsigned busy_timeout;
	struct daxfs_stats stats;

	/* Leases (pin_lock). */
	unsigned lease_break_time;
	unsigned max_leases;	/* per user, 0 = no cap */
	uint64_t max_pinned;	/* blocks per user, 0 = no cap */
	unsigned max_mappings;	/* per user, 0 = no cap */
	unsigned max_records;	/* mapping records per user, 0 = no cap */
	uint64_t next_lease_id;
	struct dx_lease *breaking;	/* leases in BREAKING state */
	struct dx_usage *usage;
	struct dx_qrun *qruns;
	daxfs_lease_notify_t lease_notify;
	void *lease_notify_ctx;
	struct dx_lwait *lwaits;	/* queued DAXFS_LEASE_WAITs */
	struct dx_lwait *lwaits_done;	/* ended, to be answered */

	bool recovering;	/* completing interrupted layout changes at open */
	unsigned faults;	/* planted bugs (fault.h); 0 outside tests */
	uint64_t nwrites;	/* for drop-persist */
};

#define DX_PIN_CHUNK_SHIFT 16

#define DX_ZERO_LEN (1u << 20)

/* The superblock in the pool (fs->sb is a validated copy). */
static inline struct dx_super *dx_super(struct daxfs *fs)
{
	return (struct dx_super *)(void *)fs->base;
}

static inline void *dx_blk(struct daxfs *fs, uint64_t pblk)
{
	return fs->base + (pblk << DX_BLOCK_SHIFT);
}

static inline uint64_t dx_off(struct daxfs *fs, const void *p)
{
	return (uint64_t)((const char *)p - fs->base);
}

/* journal.c */
int dx_journal_init(struct daxfs *fs);
void dx_journal_fini(struct daxfs *fs);
int dx_journal_recover(struct daxfs *fs);
void dx_tx_begin(struct daxfs *fs);
/* Save the old bytes of [p, p+len) before changing them (dx_tx_log, then
 * dx_tx_seal: the entry is durable when it returns). */
void dx_tx_add(struct daxfs *fs, const void *p, size_t len);
/* Save the old bytes of [p, p+len), not fenced yet: nothing may be stored
 * into the range before the next dx_tx_seal (or a dx_tx_add, which seals).
 * Logging the ranges an operation will change first and sealing once costs
 * one fence where a dx_tx_add per range costs one each.  Logging a range
 * that is not changed after all is harmless. */
void dx_tx_log(struct daxfs *fs, const void *p, size_t len);
/* Fence the entries dx_tx_log wrote (nothing to do if none). */
void dx_tx_seal(struct daxfs *fs);
/* [p, p+len) will be written and must be persistent at commit, but its old
 * bytes need not come back on a rollback (e.g. a slot being brought to life:
 * the field that marks it live is logged, the rest is touched). */
void dx_tx_touch(struct daxfs *fs, const void *p, size_t len);
/* Bytes of journal still free in the open transaction. */
size_t dx_tx_room(struct daxfs *fs);
void dx_tx_commit(struct daxfs *fs);
/* Journal bytes that logging len bytes costs. */
size_t dx_tx_cost(size_t len);

/* alloc.c */
int dx_alloc_init(struct daxfs *fs);
/* Allocate up to want contiguous blocks near goal; returns the count (0 =
 * pool full) and the first block in *pblk.  In a transaction. */
uint64_t dx_alloc_blocks(struct daxfs *fs, uint64_t goal, uint64_t want, uint64_t *pblk);
/* Free at commit of the open transaction. */
void dx_free_blocks(struct daxfs *fs, uint64_t pblk, uint64_t len);
/* Apply deferred frees; called by dx_tx_commit. */
void dx_alloc_apply_frees(struct daxfs *fs);
uint64_t dx_alloc_inode(struct daxfs *fs);	/* 0 = none free */
void dx_alloc_apply_ifrees(struct daxfs *fs);

/* refcount.c: pool blocks shared by several extents (DX_FEATURE_REFLINK).
 * Each count is "extents beyond the first": 0 for a block of one file. */
static inline uint16_t dx_refc(const struct daxfs *fs, uint64_t b)
{
	return fs->refc ? __atomic_load_n(&fs->refc[b], __ATOMIC_RELAXED) : 0;
}
/* Blocks from b (at most n) that are all shared, or all not (shared). */
uint64_t dx_refc_run(const struct daxfs *fs, uint64_t b, uint64_t n, bool shared);
/* In a transaction: one more extent maps [b, b+n); each count must be
 * below DX_REFC_MAX. */
void dx_refc_get(struct daxfs *fs, uint64_t b, uint64_t n);
/* In a transaction: one extent fewer maps each block of [b, b+n), all of
 * them shared (dx_free_blocks calls it for the shared runs it is given). */
void dx_refc_drop(struct daxfs *fs, uint64_t b, uint64_t n);
/* Does any extent of ip's file blocks [s, e) map a shared block? */
bool dx_range_shared(const struct daxfs *fs, const struct dx_ino *ip, uint64_t s, uint64_t e);
/* cow.c: give ip a block of its own, with the same bytes, for every shared
 * one of the file blocks of ranges r[0..nr) ([s, e) each; they may
 * overlap).  ip->lock held for writing, no transaction open; commits its
 * own.  0, or -ENOSPC when the pool cannot hold the copies: then nothing
 * changed, unless the break was too large for one transaction; *done (may
 * be NULL) then says below which file block everything is private.  The
 * file's bytes are the same either way. */
struct dx_brange {
	uint64_t s, e;
};
int dx_cow_break_ranges(struct daxfs *fs, struct dx_ino *ip, const struct dx_brange *r, int nr,
			uint64_t *done);
/* The file block up to which [s, e) could be made private from the free
 * space now, extra blocks kept back (a write then stores a prefix). */
uint64_t dx_cow_fit(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e, uint64_t extra);
static inline int dx_cow_break(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e)
{
	struct dx_brange r = {s, e};

	return dx_cow_break_ranges(fs, ip, &r, 1, NULL);
}

/* clone.c: copy_file_range's sharing of whole blocks (both locks held):
 * bytes shared, 0 when it does not apply, or -errno. */
ssize_t dx_clone_copy(struct daxfs *fs, struct dx_ino *in, uint64_t off_in, struct dx_ino *out,
		      uint64_t off_out, uint64_t len);
/* clone.c: forget f's clone token (at release). */
void dx_clone_token_drop(struct daxfs *fs, struct daxfs_file *f);

/* superblock.c */
int dx_super_check(const struct dx_super *sb, uint64_t pool_size);
/* The itable_mark word for count initialised inode slots (format.h). */
uint64_t dx_imark_word(uint64_t count);
/* Change the flags word of the superblock in the pool (with its csum, in
 * one atomic persistent store). */
void dx_super_update_flags(const struct dx_pctx *pc, struct dx_super *sb, uint32_t set,
			   uint32_t clear);
uint32_t dx_super_csum(const struct dx_super *sb);

/* ident.c */
/* Read and check the superblock of the pool open on fd.  Bytes of it that
 * an interrupted transaction saved in the journal (a label or UUID change
 * a crash cut short) are first put back in the copy, as the rollback
 * will put them back in the pool; the pool is not written. */
int dx_super_read(int fd, const char *pool, struct dx_super *sb);

/* inode.c */
int dx_icache_init(struct daxfs *fs);
void dx_icache_fini(struct daxfs *fs);
struct dx_ino *dx_iget(struct daxfs *fs, uint64_t ino);	/* NULL: not in use */
void dx_iput(struct daxfs *fs, struct dx_ino *ip);
int dx_iload(struct daxfs *fs, struct dx_ino *ip);	/* build xmap / dir index */
/* dx_iget + dx_iload of an inode of the given type (S_IFDIR: -ENOTDIR
 * otherwise; S_IFREG: -EISDIR for a directory, -EINVAL for the rest). */
int dx_iget_loaded(struct daxfs *fs, uint64_t ino, mode_t type, struct dx_ino **ipp);
bool dx_cred_in_group(const struct daxfs_cred *c, gid_t gid);
void dx_fill_stat(struct daxfs *fs, struct dx_ino *ip, struct stat *st);
void dx_now(struct dx_time *t);
/* ip's mtime or ctime as a user sees it: the later of t and ip's wtime. */
struct dx_time dx_inode_time(const struct dx_inode *d, const struct dx_time *t);
/* In a transaction: set and log a timestamp. */
void dx_touch_time(struct daxfs *fs, struct dx_time *t, const struct dx_time *now);
/* In a transaction: dx_tx_log (unsealed) the fields of ip that a namespace
 * change stores, nlink through ctime, and with map also its inline extent
 * slots and ext_next (a directory about to grow by a block). */
void dx_log_inode(struct daxfs *fs, struct dx_ino *ip, bool map);
/* In a transaction: a new inode with mode/owner; returns NULL when full. */
struct dx_ino *dx_inode_create(struct daxfs *fs, mode_t mode, uid_t uid, gid_t gid, dev_t rdev);
/* Open-file references (an open file keeps an unlinked inode alive). */
void dx_open_ref(struct daxfs *fs, struct dx_ino *ip);
void dx_open_unref(struct daxfs *fs, struct dx_ino *ip);
/* Take a lookup reference for the kernel. */
void dx_ilookup_ref(struct daxfs *fs, struct dx_ino *ip);
/* Free an inode's blocks and slot (nlink == 0, unreferenced).  Own txs. */
void dx_inode_destroy(struct daxfs *fs, struct dx_ino *ip);
void dx_inode_destroy_slot(struct daxfs *fs, uint64_t ino);
uint64_t dx_inode_count_used(struct daxfs *fs);
/* The most inodes one change locks: rename's two directories and two
 * inodes. */
#define DX_LOCK_MAX 4
void dx_lock_inodes(struct dx_ino *const *v, int n);
void dx_unlock_inodes(struct dx_ino *const *v, int n);

/* extent.c */
int dx_xmap_load(struct daxfs *fs, struct dx_ino *ip);
/* The empty map of a new inode: every inline slot free. */
int dx_xmap_init(struct dx_ino *ip);
void dx_xmap_free(struct dx_xmap *m);
/* Index of the first extent that ends after lblk (n if none). */
size_t dx_xmap_find(const struct dx_xmap *m, uint64_t lblk);
/* Map [lblk, lblk+len) (a hole) to pblk.  In a transaction. */
int dx_xmap_insert(struct daxfs *fs, struct dx_ino *ip, uint32_t lblk, uint64_t pblk, uint32_t len);
/* Unmap [start, end) and free its blocks (keep_blocks: leave them
 * allocated, for quarantine), from the end backwards.  In a
 * transaction.  Returns 0 when done, or -EAGAIN when the journal is nearly
 * full: [x, end) is done, commit and call again.  -ENOSPC when a split
 * needs a new extent block and the pool is full (nothing changed). */
int dx_xmap_remove(struct daxfs *fs, struct dx_ino *ip, uint64_t start, uint64_t end,
		   bool keep_blocks);
/* Move the extents that start in [from, to) by delta blocks (lowest first
 * when delta < 0, highest first otherwise).  In a tx.  0 when all moved;
 * -EAGAIN when the journal is nearly full: the extents still to move are
 * those that start in [*next, to) (delta < 0) or [from, *next). */
int dx_xmap_shift(struct daxfs *fs, struct dx_ino *ip, uint64_t from, uint64_t to, int64_t delta,
		  uint64_t *next);
/* At least n free record slots, chaining extent blocks as needed.  In a
 * tx; -ENOSPC when the pool is full, and then nothing changed. */
int dx_xmap_reserve(struct daxfs *fs, struct dx_ino *ip, uint64_t n);
/* Map file blocks [lblk, lblk+n), all inside one extent, to pool blocks
 * from pblk instead (splitting it: up to two slots, see dx_xmap_reserve).
 * In a tx; the old blocks keep their bitmap bits and counts. */
int dx_xmap_repoint(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk, uint64_t n, uint64_t pblk);
/* File blocks of [start, end) that are backed. */
uint64_t dx_xmap_mapped(const struct dx_ino *ip, uint64_t start, uint64_t end);
/* Split the extent containing lblk so that an extent starts at lblk. */
int dx_xmap_split(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk);
/* Release every extent block of the inode (the map must be empty).  In a
 * transaction; a long chain commits and begins new ones between chunks. */
void dx_xmap_release_blocks(struct daxfs *fs, struct dx_ino *ip);
/* Pool address of file block lblk, or NULL for a hole. */
void *dx_xmap_addr(struct daxfs *fs, struct dx_ino *ip, uint64_t lblk);
/* Worst-case metadata blocks for inserting n extents. */
uint64_t dx_xmap_meta_need(struct dx_ino *ip, uint64_t n);

/* dir.c */
int dx_dir_load(struct daxfs *fs, struct dx_ino *dp);
void dx_dir_free(struct dx_dirindex *d);
/* The entry and its slot number, or NULL. */
struct dx_dirent *dx_dir_find(struct daxfs *fs, struct dx_ino *dp, const char *name, size_t len,
			      uint32_t *slot);
/* Blocks dx_dir_add may need (checked before a transaction starts). */
uint64_t dx_dir_add_need(struct dx_ino *dp);
/* Make sure the directory has a free slot, growing it by a block if not.
 * In a tx; on failure (-ENOSPC, -ENOMEM) nothing of it changed.  After it,
 * dx_dir_add cannot fail. */
int dx_dir_reserve(struct daxfs *fs, struct dx_ino *dp);
/* In a transaction. */
int dx_dir_add(struct daxfs *fs, struct dx_ino *dp, const char *name, size_t len, uint64_t ino,
	       uint8_t type);
void dx_dir_remove(struct daxfs *fs, struct dx_ino *dp, uint32_t slot);
/* After dx_dir_reserve: the slot the next dx_dir_add fills (to log it
 * ahead, with the other entries of its transaction). */
struct dx_dirent *dx_dir_next_slot(struct dx_ino *dp);
/* In a transaction: dx_tx_log (unsealed) [de, de+len) of a directory block,
 * with the block's crc field (metadata_csum) ahead of it, so that the seal
 * before the store fences both and the commit needs no fence of its own. */
void dx_dir_log(struct daxfs *fs, const struct dx_dirent *de, size_t len);
/* In a transaction: point an existing entry at another inode. */
void dx_dir_retarget(struct daxfs *fs, struct dx_dirent *de, uint64_t ino, uint8_t type);
uint8_t dx_mode_to_dtype(uint32_t mode);

/* file.c */
/* Back holes of file blocks [start, end) with new blocks, zeroing what
 * [zstart, zend) will not overwrite (whole blocks when zstart == zend).  In
 * a tx; stops early when the pool or journal runs short and returns the
 * first block not backed.  *allocated counts the new blocks. */
uint64_t dx_fill_holes(struct daxfs *fs, struct dx_ino *ip, uint64_t start, uint64_t end,
		       uint64_t zstart, uint64_t zend, uint64_t *allocated);
/* Back [off, end) with zeroed blocks, in as many transactions as needed;
 * -ENOSPC when the pool fills (earlier chunks stay, as on ext4).  Unless
 * keep, the size grows to end.  ip->lock held. */
int dx_prealloc(struct daxfs *fs, struct dx_ino *ip, uint64_t off, uint64_t end, bool keep);
/* In a tx: account n more data blocks to ip. */
void dx_add_blocks(struct daxfs *fs, struct dx_ino *ip, uint64_t n);
/* Zero [from, to) of the file where it is backed (no drain). Lock held. */
void dx_zero_backed(struct daxfs *fs, struct dx_ino *ip, uint64_t from, uint64_t to);
/* Remove [start, end), committing as the journal fills; returns with the
 * last transaction still open (also on error), for the caller to finish. */
int dx_remove_blocks_open(struct daxfs *fs, struct dx_ino *ip, uint64_t start, uint64_t end);

/* pin.c */
int dx_pins_init(struct daxfs *fs);
void dx_pins_fini(struct daxfs *fs);
/* Pin count of one block (pin_lock). */
uint32_t dx_pin_count(struct daxfs *fs, uint64_t pblk);
/* Does any pinned block lie in pool blocks [pblk, pblk+len)? (pin_lock) */
bool dx_pinned_range(struct daxfs *fs, uint64_t pblk, uint64_t len);
/* Is any of file blocks [start, end) of ip pinned by a live mapping? */
bool dx_inode_busy(struct dx_ino *ip, uint64_t start, uint64_t end);
/* The checks of a map request that need no lock: -errno or 0. */
int dx_map_check(const struct daxfs_file *f, const struct daxfs_ioc_map *req);
/* Execute a map with ip->lock held; returns -errno or 0. */
int dx_map_locked(struct daxfs *fs, struct dx_ino *ip, struct daxfs_file *f,
		  struct daxfs_ioc_map *m, pid_t pid, uid_t uid);
/* Drop every mapping of f; returns true if any was dropped. */
bool dx_unmap_file(struct daxfs *fs, struct daxfs_file *f);
uint64_t dx_now_ns(void);
int dx_holder_start(pid_t pid, uint64_t *start);
void dx_holders_init(struct daxfs *fs);
void dx_holders_fini(struct daxfs *fs);
/* The holder of a map by thread tid: its process and that process's start
 * time (0 if unreadable; tid <= 0 gives pid tid, start 0). */
void dx_holder_identify(struct daxfs *fs, pid_t tid, pid_t *pid, uint64_t *start);
/* The first 8 bytes of this boot's /proc/sys/kernel/random/boot_id (0 if
 * unreadable), recorded with a holder so a pid of an earlier boot is not
 * taken for it. */
uint64_t dx_boot_id(void);
/* Does the holder a mapping record names (thread group id, its start
 * time, the boot; 0 = unknown) still live? */
bool dx_holder_alive(uint64_t pid, uint64_t start, uint64_t boot);

/* lease.c */
/*
 * The lease side of a layout change's busy check (pin_lock and ip->lock
 * held): -ETXTBSY if an exclusive lease pins a block of [s, e); else breaks
 * every active lease whose mappings pin one.
 */
int dx_lease_check(struct daxfs *fs, struct dx_ino *ip, uint64_t s, uint64_t e);
/* Revoke the leases whose break time is over, and run what waited. */
void dx_lease_expire(struct daxfs *fs);
/* Drop f's lease at release (its mappings are gone). */
void dx_lease_drop(struct daxfs *fs, struct daxfs_file *f);
struct dx_usage *dx_usage_get(struct daxfs *fs, uid_t uid);
/* f's lease as DAXFS_LEASE_GET reports it (pin_lock held). */
void dx_lease_state(struct daxfs_file *f, struct daxfs_ioc_lease *req);

/* lease_wait.c */
/* End f's waits: its lease left ACTIVE (pin_lock held). */
void dx_lease_wake(struct daxfs *fs, struct daxfs_file *f);
/* End the wait submitted with ctx with EINTR, if queued (pin_lock held). */
bool dx_lease_wait_interrupt(struct daxfs *fs, void *ctx);
/* End the waits whose timeout has passed. */
void dx_lease_wait_expire(struct daxfs *fs);
/* Answer the waits that ended; no core lock held. */
void dx_lease_answer(struct daxfs *fs);
/* Free what is left at close, unanswered. */
void dx_lease_wait_fini(struct daxfs *fs);

/* quarantine.c */
/* Take a revoked mapping's blocks out of its file and into quarantine
 * (ip->lock held, no pin_lock). */
void dx_quarantine_mapping(struct daxfs *fs, struct dx_mapping *m);
/* Free quarantine runs that no pin holds any more (pin_lock not held). */
void dx_quarantine_release(struct daxfs *fs);
/* Take n blocks off the front of mapping record i (in a transaction). */
void dx_maprec_trim(struct daxfs *fs, size_t i, uint64_t n);

/* snapshot.c: read mappings of shared blocks (DX_MAPREC_SNAP) */
/* Is a mapping with these DAXFS_MAP_* flags a snapshot of shared blocks? */
bool dx_snap_wanted(const struct daxfs *fs, uint32_t flags);
/* Extents of a snapshot run at most this long: one record's references
 * fit in any journal. */
#define DX_SNAP_RUN_MAX 4096u
/* Make m's claim extents' records live, each with its references (pin_lock
 * held, no transaction open; the records' other fields written). */
void dx_snap_claim(struct daxfs *fs, struct dx_mapping *m);
/* Drop m's claim extents' references and records, once m's pins are gone
 * (pin_lock held, no transaction open). */
void dx_snap_drop(struct daxfs *fs, struct dx_mapping *m);
/* In a transaction: drop the references of record i's first blocks, at
 * most max; the record shrinks by as many and goes once empty. */
uint64_t dx_snap_release(struct daxfs *fs, size_t i, uint64_t max);
/* At open: a SNAP record of a live holder becomes HELD; a dead holder's
 * references go. */
int dx_snap_recover(struct daxfs *fs, size_t i);

/* quarantine.c */
int dx_maprecs_recover(struct daxfs *fs);
/* Free the quarantine records whose holder is gone (pin_lock not held).
 * Each hold of pin_lock and the transaction does at most DX_REAP_RECORDS
 * holder checks and frees at most DX_REAP_BLOCKS blocks (a multiple of
 * 64); dx_quarantine_release frees at most DX_REAP_BLOCKS per hold too. */
void dx_quarantine_reap(struct daxfs *fs);
#define DX_REAP_RECORDS 64u
#define DX_REAP_BLOCKS	1024u

/* layout.c */
/* Run op now if nothing is queued and no pin is in its way, else queue it
 * behind the inode's waiting requests.  Takes over op and a reference on
 * ip; calls op->done exactly once. */
void dx_layout_submit(struct daxfs *fs, struct dx_ino *ip, struct dx_lop *op);
/* A request of kind for ip, or NULL after dropping ip and answering
 * done(ctx, -ENOMEM). */
struct dx_lop *dx_lop_alloc(struct daxfs *fs, struct dx_ino *ip, enum dx_lop_kind kind,
			    daxfs_done_t done, void *ctx);
/* Run the waiting requests of ip that no pin holds back any more. */
void dx_layout_run(struct daxfs *fs, struct dx_ino *ip);
void dx_layout_expire(struct daxfs *fs);

/* Locked executors of layout changes (ip->lock held for writing). */
int dx_setattr_locked(struct daxfs *fs, struct dx_ino *ip, const struct daxfs_setattr *sa,
		      struct stat *st);
int dx_fallocate_locked(struct daxfs *fs, struct dx_ino *ip, int mode, uint64_t off,
			uint64_t len);
/* The file blocks a fallocate would free, move or zero ([*s, *e)). */
void dx_fallocate_range(struct dx_ino *ip, int mode, uint64_t off, uint64_t len, uint64_t *s,
			uint64_t *e);

/* intent.c: layout changes that may span several transactions */
/* In a transaction: record ip's layout change (format.h, struct dx_intent). */
void dx_intent_set(struct daxfs *fs, struct dx_ino *ip, const struct dx_intent *in);
/*
 * Run ip's recorded layout change to its end.  Called in the transaction
 * that set it (or, at recovery, in a fresh one); commits that one and as
 * many more as the change needs.  resv: blocks the caller took out of
 * fs->free_blocks for it (zero range's holes), given back at the end.
 * Returns 0, or -errno at recovery when the change cannot be completed
 * (at run time that cannot happen: ENOSPC was excluded before the first
 * commit, so a failure there aborts inside the open transaction).
 */
int dx_intent_run(struct daxfs *fs, struct dx_ino *ip, uint64_t resv);
/* At mount: complete every interrupted layout change. */
int dx_intents_recover(struct daxfs *fs);
/* Why an intent record is malformed, or NULL if it is well formed. */
const char *dx_intent_invalid(const struct dx_intent *in);

/* xattr.c */
void dx_xattr_release(struct daxfs *fs, struct dx_ino *ip);

#endif
