/* SPDX-License-Identifier: MIT */
/*
 * csum.h - metadata checksums (the metadata_csum feature, format.h).
 *
 * Every checksum is a crc32c seeded with the superblock's csum_seed (the crc
 * of the uuid mkfs made, kept when tune.daxfs changes the uuid) and then
 * the object's number (inode number, record slot or pool block), so that an
 * object copied to another place or another pool does not verify.  What
 * each covers:
 *
 *   inode             the slot but wtime and csum (xattr_csum included)
 *   extent block      the block but csum
 *   directory block   per slot: a live entry's ino, type, name_len, pad and
 *                     name; a free slot's ino
 *   xattr block       the record list up to and with its end marker;
 *                     stored in the inode (xattr_csum)
 *   mapping record    the record but csum
 *
 * A transaction keeps the set of objects it changed (dx_csum_note*); the
 * first time an object joins the set its csum field is logged, and at
 * commit, before the commit's flushes, each one's crc is recomputed and
 * stored.  A rollback restores old bytes and old crc together.
 */
#ifndef DAXFS_CSUM_H
#define DAXFS_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "format.h"

struct daxfs;

enum dx_csum_kind { DX_CS_INODE, DX_CS_MAPREC, DX_CS_EXTBLK, DX_CS_DIRBLK, DX_CS_NKINDS };

static inline bool dx_csum_enabled(const struct dx_super *sb)
{
	return sb->features & DX_FEATURE_METADATA_CSUM;
}

uint32_t dx_csum_seed(const struct dx_super *sb);
uint32_t dx_csum_inode(uint32_t seed, uint64_t ino, const struct dx_inode *d);
uint32_t dx_csum_extblk(uint32_t seed, uint64_t pblk, const struct dx_extent_block *eb);
uint32_t dx_csum_dirblk(uint32_t seed, uint64_t pblk, const void *blk);
uint32_t dx_csum_xattr(uint32_t seed, uint64_t pblk, const void *blk);
uint32_t dx_csum_maprec(uint32_t seed, uint64_t slot, const struct dx_maprec *r);

/* In a transaction: [p, p+len) is about to change (dx_tx_add, logged, and
 * dx_tx_touch call this): the inodes and records it covers join the set. */
void dx_csum_note(struct daxfs *fs, const void *p, size_t len, bool logged);
/* In a transaction: an extent or directory block (blk: its first byte)
 * is about to change. */
void dx_csum_note_block(struct daxfs *fs, enum dx_csum_kind kind, const void *blk);
/* At commit: recompute and store the crcs of the set, and empty it. */
void dx_csum_commit(struct daxfs *fs);
void dx_csum_fini(struct daxfs *fs);

/* Verifiers of a loaded object (true: fine, or the feature is off). */
bool dx_csum_inode_ok(struct daxfs *fs, uint64_t ino, const struct dx_inode *d);
bool dx_csum_extblk_ok(struct daxfs *fs, uint64_t pblk, const struct dx_extent_block *eb);
bool dx_csum_dirblk_ok(struct daxfs *fs, uint64_t pblk, const void *blk);
bool dx_csum_xattr_ok(struct daxfs *fs, const struct dx_inode *d, uint64_t pblk,
		      const void *blk);
bool dx_csum_maprec_ok(struct daxfs *fs, uint64_t slot, const struct dx_maprec *r);

/*
 * Walk every checksummed object of an unmounted pool image [base, base+len)
 * that the rules of validate.h let a mount reach.  With fix, store each crc
 * that does not match; either way then call bad (when not NULL) for each
 * one that did not.  Returns the number of mismatches, or -EINVAL when the
 * superblock is not one a mount accepts.  Persists nothing: bad gets the
 * field, for the caller to flush.
 */
struct dx_csum_bad {
	enum dx_csum_kind kind;	/* DX_CS_NKINDS: an xattr block */
	uint64_t ino;		/* 0 for a mapping record */
	uint64_t blk;		/* pool block, or the record slot */
	uint64_t lblk;		/* directory blocks: the file block */
	uint32_t *field;	/* the stored crc */
	uint32_t want;		/* what it should be */
};
long dx_csum_walk(void *base, size_t len, bool fix,
		  void (*bad)(void *ctx, const struct dx_csum_bad *b), void *ctx);
/*
 * For fuzzers and tests that change an unmounted image in memory: make
 * every checksum match again, the superblock's first.  Returns the number
 * of metadata crcs rewritten, or -EINVAL (superblock not acceptable).
 */
long dx_csum_rewrite_image(void *base, size_t len);

#endif
