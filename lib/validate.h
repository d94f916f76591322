/* SPDX-License-Identifier: MIT */
/*
 * validate.h - verifiers of the structures read from the pool.
 *
 * Nothing read from the pool is trusted: whoever can write the pool file
 * (or a bad medium, or a bug) controls every byte.  Each structure has one
 * verifier here, called by its loader at the point where it is read and
 * before any value in it is used as an address, a length or a loop bound.
 * A verifier is pure: it returns NULL when the structure is sound, or a
 * short description of what is wrong, which the loader reports through
 * dx_corrupt() (errormsg.c) with the inode and structure named.
 *
 * All arithmetic on pool values is overflow-safe.  A later metadata
 * checksum belongs in the same verifier, checked first.
 */
#ifndef DAXFS_VALIDATE_H
#define DAXFS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "format.h"

struct daxfs;
struct dx_xent;

/* Smallest journal a mount accepts (mkfs makes at least 256 blocks): the
 * largest single step of a transaction must always fit. */
#define DX_JOURNAL_MIN_BLOCKS 16

/* Is [pblk, pblk + len), len >= 1, inside the data area? */
bool dx_v_data_range(const struct dx_super *sb, uint64_t pblk, uint64_t len);

/* Superblock geometry against the size of the pool (bytes). */
const char *dx_v_super_geometry(const struct dx_super *sb, uint64_t pool_size);
/*
 * The inode table's high-water mark word (format.h, itable_mark) of a pool
 * with this geometry: NULL and *count, the slots initialised, or what is
 * wrong with it.
 */
const char *dx_v_imark(const struct dx_super *sb, uint64_t word, uint64_t *count);
/* Is the file-type part of mode one daxfs knows? */
bool dx_v_type(uint32_t mode);
/* An inode's own fields: type, size, link count, xattr pointer. */
const char *dx_v_inode(const struct dx_super *sb, const struct dx_inode *d);
/* One live extent record (len != 0) of an inode of the given mode. */
const char *dx_v_extent(const struct dx_super *sb, const struct dx_extent *e, uint32_t mode);
/* A link of an inode's extent chain: block b, which ino must own. */
const char *dx_v_extent_block(const struct dx_super *sb, uint64_t b,
			      const struct dx_extent_block *eb, uint64_t ino);
/* The extents of an inode sorted by lblk: no file block mapped twice; a
 * directory maps exactly blocks [0, size / 4096); a symlink block 0. */
const char *dx_v_xmap(const struct dx_xent *v, size_t n, const struct dx_inode *d);
/* A live directory entry (ino != 0). */
const char *dx_v_dirent(const struct dx_super *sb, const struct dx_dirent *de);
/* An xattr block's record list. */
const char *dx_v_xattr_block(const char *blk);
/* A symlink's target bytes (size already checked by dx_v_inode). */
const char *dx_v_symlink(const char *target, uint64_t size);
/* A mapping or quarantine record in use (kind != 0). */
const char *dx_v_maprec(const struct dx_super *sb, const struct dx_maprec *r);
/* The journal header. */
const char *dx_v_journal_hdr(const struct dx_journal_hdr *h);

#endif
