/* SPDX-License-Identifier: MIT */
/*
 * pool.c - opening ("mounting") and closing a pool, statfs, pool identity.
 *
 * Opening validates the superblock from a plain read before anything is
 * mapped writable, so a pool that is refused is never written.  Then, in
 * this order: roll back an interrupted transaction, rebuild the allocators'
 * DRAM state, complete interrupted layout changes (intent.c), and reclaim
 * orphans (inodes unlinked while open at a crash).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libpmem.h>
#include "core.h"
#include "csum.h"
#include "fault.h"
#include "validate.h"

static int map_pool(struct daxfs *fs)
{
	if (fs->readonly) {
		struct stat st;
		if (fstat(fs->fd, &st) < 0)
			return dx_err(-errno, "cannot stat %s: %s", fs->path, strerror(errno));
		fs->mapped_len = S_ISREG(st.st_mode) ? (size_t)st.st_size
						     : (size_t)lseek(fs->fd, 0, SEEK_END);
		fs->base = mmap(NULL, fs->mapped_len, PROT_READ, MAP_SHARED, fs->fd, 0);
		if (fs->base == MAP_FAILED) {
			fs->base = NULL;
			return dx_err(-errno, "cannot map %s: %s", fs->path, strerror(errno));
		}
		fs->is_pmem = pmem_is_pmem(fs->base, fs->mapped_len);
		fs->map_ro = true;
		return 0;
	}
	fs->base = pmem_map_file(fs->path, 0, 0, 0, &fs->mapped_len, &fs->is_pmem);
	if (!fs->base)
		return dx_err(errno ? -errno : -EIO, "cannot map %s: %s", fs->path, pmem_errormsg());
	return 0;
}

/*
 * Everything global, before anything is written: the root inode and the
 * mapping-record table (recovery walks it).  A damaged one refuses the
 * mount and leaves the pool as it was; fsck.daxfs repairs it.
 */
static int validate_global(struct daxfs *fs, bool csum)
{
	size_t nrec = fs->sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);
	const char *why = dx_v_inode(&fs->sb, &fs->itable[0]);

	if (!why && csum && !dx_csum_inode_ok(fs, DX_ROOT_INO, &fs->itable[0]))
		why = "checksum mismatch";
	if (fs->itable[0].mode == 0 || !S_ISDIR(fs->itable[0].mode) || why)
		return dx_err(-EUCLEAN, "root directory inode is damaged%s%s; run fsck.daxfs",
			      why ? ": " : "", why ? why : "");
	why = dx_v_journal_hdr(dx_blk(fs, fs->sb.journal_blk));
	if (why)
		return dx_err(-EUCLEAN, "%s; run fsck.daxfs", why);
	for (size_t i = 0; i < nrec; i++) {
		const struct dx_maprec *r = &fs->maprecs[i];
		if (r->kind && csum && !dx_csum_maprec_ok(fs, i, r))
			why = "checksum mismatch";
		else if (r->kind)
			why = dx_v_maprec(&fs->sb, r);
		if (why)
			return dx_err(-EUCLEAN,
				      "mapping record %zu is damaged: %s (kind %u, blocks %llu+%llu); "
				      "run fsck.daxfs",
				      i, why, r->kind, (unsigned long long)r->pblk,
				      (unsigned long long)r->nblocks);
	}
	return 0;
}

/* Free the inodes that were unlinked but still open when the pool was last
 * used: nothing can reach them any more. */
static void reclaim_orphans(struct daxfs *fs)
{
	for (uint64_t i = 0; i < fs->imark; i++)
		if (fs->itable[i].mode && fs->itable[i].nlink == 0)
			dx_inode_destroy_slot(fs, i + 1);
}

DX_EXPORT int daxfs_open(const char *pool, const struct daxfs_open_opts *o, struct daxfs **fsp)
{
	struct daxfs *fs = calloc(1, sizeof(*fs));
	struct dx_super sb;
	int ret;

	if (!fs)
		return dx_err(-ENOMEM, "out of memory");
	fs->readonly = o && o->readonly;
	fs->errors = o ? o->errors : DAXFS_ERRORS_REMOUNT_RO;
	fs->lock_stat = o && o->lock_stat;
	fs->fd = -1;
	ret = dx_fault_init(fs);
	if (ret)
		goto fail;
	fs->path = realpath(pool, NULL);
	if (!fs->path) {
		ret = dx_err(-errno, "%s: %s", pool, strerror(errno));
		goto fail;
	}
	fs->fd = open(fs->path, fs->readonly ? O_RDONLY : O_RDWR);
	if (fs->fd < 0) {
		ret = dx_err(-errno, "cannot open %s: %s", pool, strerror(errno));
		goto fail;
	}
	/* One daemon per pool: two would corrupt each other's allocations. */
	ret = dx_pool_lock(fs->fd, pool, fs->readonly);
	if (ret)
		goto fail;
	ret = dx_super_read(fs->fd, pool, &sb);
	if (ret)
		goto fail;
	ret = map_pool(fs);
	if (ret)
		goto fail;
	ret = dx_super_check(&sb, fs->mapped_len);
	if (ret)
		goto fail;
	fs->sb = sb;
	fs->csum = dx_csum_enabled(&sb);
	fs->csum_seed = dx_csum_seed(&sb);
	dx_persist_init(&fs->pc, fs->is_pmem);
	if (!fs->readonly)
		dx_persist_mapped(&fs->pc, fs->base, fs->mapped_len);
	fs->itable = dx_blk(fs, sb.itable_blk);
	fs->bitmap = dx_blk(fs, sb.bitmap_blk);
	fs->maprecs = dx_blk(fs, sb.maprec_blk);
	fs->refc = sb.features & DX_FEATURE_REFLINK ? dx_blk(fs, sb.refc_blk) : NULL;
	/* Checksums only once the journal is rolled back: an interrupted
	 * transaction leaves the crcs of what it changed stale. */
	ret = validate_global(fs, false);
	if (ret)
		goto fail;
	/* As ext4 does with its error state: mount, but say so. */
	if (sb.flags & DX_SB_NEEDS_FSCK)
		dx_log(fs, DAXFS_LOG_WARNING,
		       "warning: the pool is marked as needing fsck (a mount "
		       "found corruption); run fsck.daxfs");

	ret = dx_journal_init(fs);
	if (ret)
		goto fail;
	ret = dx_journal_recover(fs);
	if (ret < 0)
		goto fail;
	/* A rollback rewrote metadata: check the result again, and now the
	 * checksums too. */
	if ((ret = validate_global(fs, true)))
		goto fail;
	dx_rwlock_init(&fs->ns_lock, DX_LC_NS, 0);
	ret = dx_alloc_init(fs);
	if (ret)
		goto fail;
	/* Before anything allocates: blocks are taken from reserved space. */
	ret = dx_backing_init(fs);
	if (ret)
		goto fail;
	ret = dx_prefault_init(fs);
	if (ret)
		goto fail;
	ret = dx_icache_init(fs);
	if (ret)
		goto fail;
	fs->busy_timeout = o ? o->busy_timeout : DAXFS_DEFAULT_BUSY_TIMEOUT;
	fs->lease_break_time = o && o->lease_break_time ? o->lease_break_time : 45;
	fs->max_leases = o ? o->max_leases_per_user : 0;
	fs->max_pinned = o ? o->max_pinned_per_user : 0;
	fs->max_mappings = o ? o->max_mappings_per_user : 0;
	fs->max_records = o ? o->max_records_per_user : 0;
	ret = dx_pins_init(fs);
	if (ret)
		goto fail;
	/* Untouched anonymous pages read as zero and cost no memory. */
	fs->zero = mmap(NULL, DX_ZERO_LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fs->zero == MAP_FAILED) {
		ret = dx_err(-ENOMEM, "out of memory");
		goto fail;
	}
	/* Layout changes a crash interrupted run to their end, before
	 * anything else looks at a block map (intent.c). */
	ret = dx_intents_recover(fs);
	if (ret)
		goto fail;
	/* Mappings of a crashed daemon first: an orphan's blocks may be
	 * among those a live holder still writes into. */
	ret = dx_maprecs_recover(fs);
	if (ret)
		goto fail;
	if (!fs->readonly)
		reclaim_orphans(fs);
	/* The kernel holds no lookup reference on the root; without this
	 * every call in the root would rebuild its directory index. */
	fs->root = dx_iget(fs, DX_ROOT_INO);
	*fsp = fs;
	return 0;
fail:
	daxfs_close(fs);
	return ret;
}

DX_EXPORT void daxfs_close(struct daxfs *fs)
{
	if (!fs)
		return;
	if (fs->root)
		dx_iput(fs, fs->root);
	dx_lease_wait_fini(fs);
	if (fs->pins)
		dx_pins_fini(fs);
	if (fs->ihash)
		dx_icache_fini(fs);
	if (fs->jr.hdr)
		dx_journal_fini(fs);
	if (fs->zero && fs->zero != MAP_FAILED)
		munmap((void *)fs->zero, DX_ZERO_LEN);
	if (fs->base) {
		if (fs->map_ro)
			munmap(fs->base, fs->mapped_len);
		else
			pmem_unmap(fs->base, fs->mapped_len);
	}
	free(fs->ibitmap);
	free(fs->backed);
	free(fs->populated);
	if (fs->fd >= 0)
		close(fs->fd);
	free(fs->path);
	free(fs);
}

DX_EXPORT int daxfs_statfs(struct daxfs *fs, struct statvfs *sv)
{
	uint64_t back, unbacked_slots;

	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = DX_BLOCK_SIZE;
	sv->f_frsize = DX_BLOCK_SIZE;
	dx_mutex_lock(&fs->tx_lock);
	/* What is reserved, and of the rest what the backing store can give
	 * (backing.c): the smaller of the pool's and the store's free space. */
	back = dx_backing_free_blocks(fs);
	unbacked_slots = fs->sb.ninodes - fs->imark_backed;
	sv->f_blocks = fs->sb.nblocks - fs->sb.data_blk;
	sv->f_bfree = fs->free_blocks + (fs->unbacked_free < back ? fs->unbacked_free : back);
	sv->f_bavail = sv->f_bfree;
	sv->f_files = fs->sb.ninodes;
	back = back == UINT64_MAX ? back : back * (DX_BLOCK_SIZE / DX_INODE_SIZE);
	sv->f_ffree = fs->free_inodes + (unbacked_slots < back ? unbacked_slots : back);
	sv->f_favail = sv->f_ffree;
	dx_mutex_unlock(&fs->tx_lock);
	memcpy(&sv->f_fsid, fs->sb.uuid, sizeof(sv->f_fsid));
	sv->f_namemax = DX_NAME_MAX;
	if (fs->readonly)
		sv->f_flag |= ST_RDONLY;
	return 0;
}

DX_EXPORT void daxfs_pool_info(struct daxfs *fs, struct daxfs_pool_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	memcpy(pi->uuid, fs->sb.uuid, 16);
	memcpy(pi->label, fs->sb.label, sizeof(fs->sb.label));
	pi->size = fs->sb.nblocks * DX_BLOCK_SIZE;
	pi->is_pmem = fs->is_pmem;
	pi->path = fs->path;
	/* The live superblock, not the copy taken at open: the mark may have
	 * been set since.  A read-only mapping cannot store the mark, so the
	 * damage found counts too. */
	pi->needs_fsck = (__atomic_load_n(&((const struct dx_super *)fs->base)->flags,
					  __ATOMIC_RELAXED) &
			  DX_SB_NEEDS_FSCK) ||
			 __atomic_load_n(&fs->corrupt_marked, __ATOMIC_ACQUIRE);
	pi->readonly = fs->readonly != 0;
	pi->features = fs->sb.features;
}
