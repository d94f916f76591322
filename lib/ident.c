/* SPDX-License-Identifier: MIT */
/*
 * ident.c - the identity of an unmounted pool, as dumpe2fs and tune2fs
 * see a disk: read its superblock with the counts behind it, and change
 * its label and UUID.
 *
 * A change of label or UUID rewrites most of the superblock's checksummed
 * block, which no single atomic store covers.  So it is a journalled
 * transaction like any metadata change: the old bytes are logged, then the
 * new ones stored, then the commit.  A crash in between leaves a
 * superblock that is new, old, or a torn mix whose checksum fails, and, in
 * the journal, the bytes that undo it; every reader of a superblock goes
 * through dx_super_read(), which applies those bytes to its copy (never
 * to the pool) before it judges the block, and the rollback of a mount or
 * fsck -y then puts the old block back in the pool.  The fields that
 * locate the journal are never changed here, so a torn block still names
 * its journal correctly, and the undone copy must pass the checksum to be
 * believed.
 *
 * Nothing else in the pool may depend on the UUID: a checksum of other
 * metadata seeded with it would fail everywhere after a change.  Such a
 * seed belongs in a superblock field of its own, fixed by mkfs (as ext4's
 * metadata_csum_seed), or this change would have to rewrite every
 * checksum.  tune_cli's fsck -n after a UUID change catches the mistake.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libpmem.h>
#include "core.h"
#include "crc32c.h"
#include "validate.h"

static uint32_t entry_crc(const struct dx_journal_entry *e, const void *data)
{
	struct dx_journal_entry h = *e;

	h.crc = 0;
	return dx_crc32c(dx_crc32c(0, &h, sizeof(h)), data, e->len);
}

/*
 * Apply to *sb the journal's saved bytes of block 0, read from fd with the
 * same walk as dx_journal_recover() (entries of the header's seq, crc
 * checked, up to the first that is not).  Oldest saved bytes win, as in a
 * rollback.  Returns true when some bytes of block 0 were restored.
 */
static bool undo_super(int fd, struct dx_super *sb)
{
	struct dx_journal_hdr h;
	uint8_t *img = (uint8_t *)sb, done[DX_BLOCK_SIZE];
	uint64_t jbase, jsize, pos = 0, pool;
	struct dx_journal_entry e;
	void *data = NULL;
	bool any = false;

	if (sb->journal_blocks < 1 || sb->journal_blocks > (1ULL << 20) ||
	    __builtin_mul_overflow(sb->journal_blk, (uint64_t)DX_BLOCK_SIZE, &jbase) ||
	    __builtin_mul_overflow(sb->nblocks, (uint64_t)DX_BLOCK_SIZE, &pool))
		return false;
	jsize = sb->journal_blocks * DX_BLOCK_SIZE - sizeof(h);
	if (pread(fd, &h, sizeof(h), (off_t)jbase) != (ssize_t)sizeof(h) ||
	    h.magic != DX_JOURNAL_MAGIC)
		return false;
	memset(done, 0, sizeof(done));
	while (pos + sizeof(e) <= jsize) {
		off_t at = (off_t)(jbase + sizeof(h) + pos);
		void *nd;

		if (pread(fd, &e, sizeof(e), at) != (ssize_t)sizeof(e) || e.seq != h.seq ||
		    e.len == 0 || e.len > jsize - pos - sizeof(e) || e.off >= pool ||
		    e.len > pool - e.off)
			break;
		nd = realloc(data, e.len);
		if (!nd)
			break;
		data = nd;
		if (pread(fd, data, e.len, at + (off_t)sizeof(e)) != (ssize_t)e.len ||
		    entry_crc(&e, data) != e.crc)
			break;
		for (uint64_t i = e.off; i < e.off + e.len && i < DX_BLOCK_SIZE; i++) {
			if (!done[i]) {
				img[i] = ((const uint8_t *)data)[i - e.off];
				done[i] = 1;
				any = true;
			}
		}
		pos += dx_tx_cost(e.len);
	}
	free(data);
	return any;
}

int dx_super_read(int fd, const char *pool, struct dx_super *sb)
{
	ssize_t n = pread(fd, sb, sizeof(*sb), 0);
	struct dx_super copy;

	if (n != (ssize_t)sizeof(*sb))
		return dx_err(n < 0 ? -errno : -EINVAL, "%s: too short to be a daxfs pool", pool);
	/*
	 * A label or UUID change that a crash interrupted: torn (the
	 * checksum fails) or whole but uncommitted.  Either way the rollback
	 * brings the old block back, so that is the superblock.
	 */
	if (sb->magic == DX_MAGIC && sb->version == DX_VERSION) {
		copy = *sb;
		if (undo_super(fd, &copy) && dx_super_csum(&copy) == copy.csum)
			*sb = copy;
	}
	return dx_super_check(sb, UINT64_MAX);
}

static uint64_t file_size(int fd)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	end = lseek(fd, 0, SEEK_END);
	return end < 0 ? 0 : (uint64_t)end;
}

/* Entries of an interrupted transaction, as the rollback would count them. */
static uint64_t journal_pending(const char *base, const struct dx_super *sb)
{
	const struct dx_journal_hdr *h = (const void *)(base + sb->journal_blk * DX_BLOCK_SIZE);
	const char *area = (const char *)(h + 1);
	uint64_t size = sb->journal_blocks * DX_BLOCK_SIZE - sizeof(*h);
	uint64_t pool = sb->nblocks * DX_BLOCK_SIZE, pos = 0, n = 0;

	while (pos + sizeof(struct dx_journal_entry) <= size) {
		const struct dx_journal_entry *e = (const void *)(area + pos);

		if (e->seq != h->seq || e->len == 0 || e->len > size - pos - sizeof(*e) ||
		    e->off >= pool || e->len > pool - e->off || entry_crc(e, e + 1) != e->crc)
			break;
		n++;
		pos += dx_tx_cost(e->len);
	}
	return n;
}

DX_EXPORT int daxfs_read_super(const char *pool, struct daxfs_pool_super *ps)
{
	const struct dx_inode *itable;
	const struct dx_maprec *rec;
	const uint64_t *bitmap;
	struct dx_super sb;
	uint64_t used = 0, nrec;
	char *base = NULL;
	size_t len = 0;
	int fd, ret;

	memset(ps, 0, sizeof(*ps));
	fd = open(pool, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dx_err(-errno, "cannot open %s: %s", pool, strerror(errno));
	/*
	 * Shared, so that no mkfs, label change or read-write mount starts
	 * while we read; a pool that one of those holds is read anyway (as
	 * dumpe2fs reads a mounted disk), and the counts are then a snapshot
	 * of a live filesystem.
	 */
	ps->in_use = flock(fd, LOCK_SH | LOCK_NB) < 0;
	ps->file_size = file_size(fd);
	ret = dx_super_read(fd, pool, &sb);
	if (!ret)
		ret = dx_super_check(&sb, ps->file_size);
	if (ret)
		goto out;
	len = (size_t)(sb.nblocks * DX_BLOCK_SIZE);
	base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		base = NULL;
		ret = dx_err(-errno, "cannot map %s: %s", pool, strerror(errno));
		goto out;
	}
	ps->version = sb.version;
	ps->block_size = sb.block_size;
	memcpy(ps->uuid, sb.uuid, sizeof(ps->uuid));
	memcpy(ps->label, sb.label, sizeof(sb.label));
	ps->size = sb.nblocks * DX_BLOCK_SIZE;
	ps->nblocks = sb.nblocks;
	ps->journal_blk = sb.journal_blk;
	ps->journal_blocks = sb.journal_blocks;
	ps->maprec_blk = sb.maprec_blk;
	ps->maprec_blocks = sb.maprec_blocks;
	ps->itable_blk = sb.itable_blk;
	ps->ninodes = sb.ninodes;
	ps->bitmap_blk = sb.bitmap_blk;
	ps->bitmap_blocks = sb.bitmap_blocks;
	ps->data_blk = sb.data_blk;
	ps->mkfs_time = sb.mkfs_time;
	ps->needs_fsck = !!(sb.flags & DX_SB_NEEDS_FSCK);
	ps->features = sb.features;
	ps->csum_seed = sb.features & DX_FEATURE_METADATA_CSUM ? sb.csum_seed : 0;
	ps->refc_blk = sb.refc_blk;
	ps->refc_blocks = sb.refc_blocks;
	/* The same counts as the mount's allocators start from. */
	bitmap = (const void *)(base + sb.bitmap_blk * DX_BLOCK_SIZE);
	for (uint64_t w = 0; w < sb.nblocks / 64; w++)
		used += (uint64_t)__builtin_popcountll(bitmap[w]);
	for (uint64_t b = sb.nblocks & ~63ULL; b < sb.nblocks; b++)
		used += bitmap[b >> 6] >> (b & 63) & 1;
	ps->free_blocks = sb.nblocks - used;
	/* Slots above the inode table's high-water mark are free and may
	 * hold anything (lazy table, format.h): not read.  A damaged mark:
	 * every slot counts, as fsck sees them. */
	if (dx_v_imark(&sb, sb.itable_mark, &ps->inodes_initialised))
		ps->inodes_initialised = sb.ninodes;
	ps->free_inodes = sb.ninodes - ps->inodes_initialised;
	itable = (const void *)(base + sb.itable_blk * DX_BLOCK_SIZE);
	for (uint64_t i = 0; i < ps->inodes_initialised; i++)
		ps->free_inodes += itable[i].mode == 0;
	rec = (const void *)(base + sb.maprec_blk * DX_BLOCK_SIZE);
	nrec = sb.maprec_blocks * DX_BLOCK_SIZE / sizeof(*rec);
	ps->map_records = nrec;
	for (uint64_t i = 0; i < nrec; i++) {
		ps->map_records_live += rec[i].kind == DX_MAPREC_MAP;
		ps->map_records_quarantine += rec[i].kind == DX_MAPREC_QUARANTINE;
	}
	ps->journal_pending = journal_pending(base, &sb);
out:
	if (base)
		munmap(base, len);
	close(fd);
	return ret;
}

DX_EXPORT int daxfs_tune(const char *pool, const struct daxfs_tune_opts *o)
{
	struct daxfs *fs = NULL;
	struct dx_super sb, *psb;
	struct dx_super next;
	uint64_t *word;
	int fd, ret;

	if (o->label && strlen(o->label) > sizeof(sb.label) - 1)
		return dx_err(-EINVAL, "label is longer than %zu bytes", sizeof(sb.label) - 1);
	fd = open(pool, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return dx_err(-errno, "cannot open %s: %s", pool, strerror(errno));
	/* As mkfs and fsck -y: never under a mount or another tool. */
	ret = dx_pool_lock(fd, pool, false);
	if (ret)
		goto out;
	ret = dx_super_read(fd, pool, &sb);
	if (!ret)
		ret = dx_super_check(&sb, file_size(fd));
	if (ret)
		goto out;
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		ret = dx_err(-ENOMEM, "out of memory");
		goto out;
	}
	fs->fd = -1;
	fs->base = pmem_map_file(pool, 0, 0, 0, &fs->mapped_len, &fs->is_pmem);
	if (!fs->base) {
		ret = dx_err(errno ? -errno : -EIO, "cannot map %s: %s", pool, pmem_errormsg());
		goto out;
	}
	fs->sb = sb;
	dx_persist_init(&fs->pc, fs->is_pmem);
	/* As daxfs_open does: a crash-replay test may watch this pool. */
	dx_persist_mapped(&fs->pc, fs->base, fs->mapped_len);
	ret = dx_journal_init(fs);
	if (ret)
		goto out;
	/* A transaction a crash interrupted (maybe an earlier change of
	 * ours) is rolled back first, as a mount would: the journal is ours
	 * next. */
	ret = dx_journal_recover(fs);
	if (ret < 0)
		goto out;
	psb = (struct dx_super *)(void *)fs->base;
	next = *psb;
	if (dx_super_csum(&next) != next.csum) {
		ret = dx_err(-EUCLEAN,
			     "%s: superblock checksum mismatch after the rollback; "
			     "run fsck.daxfs",
			     pool);
		goto out;
	}
	if (o->label) {
		memset(next.label, 0, sizeof(next.label));
		memcpy(next.label, o->label, strlen(o->label));
	}
	if (o->set_uuid)
		memcpy(next.uuid, o->uuid, sizeof(next.uuid));
	next.csum = dx_super_csum(&next);
	if (!memcmp(&next, psb, sizeof(next))) {
		ret = 0;
		goto out;
	}
	_Static_assert(__builtin_offsetof(struct dx_super, label) ==
			   __builtin_offsetof(struct dx_super, uuid) + 16,
		       "uuid and label are one range");
	dx_tx_begin(fs);
	dx_tx_add(fs, psb->uuid, sizeof(psb->uuid) + sizeof(psb->label));
	dx_tx_add(fs, &psb->flags, sizeof(uint64_t));
	memcpy(psb->uuid, next.uuid, sizeof(next.uuid));
	memcpy(psb->label, next.label, sizeof(next.label));
	/* flags and csum: one aligned word, as dx_super_update_flags does */
	word = (uint64_t *)(void *)&psb->flags;
	*word = (uint64_t)next.csum << 32 | next.flags;
	dx_tx_commit(fs);
	ret = 0;
out:
	if (fs) {
		if (fs->jr.hdr)
			dx_journal_fini(fs);
		if (fs->base)
			pmem_unmap(fs->base, fs->mapped_len);
		free(fs);
	}
	close(fd);
	return ret;
}
