/* SPDX-License-Identifier: MIT */
/*
 * rawpool.h - reading an unmounted (or quiescent) pool straight through its
 * on-media format (lib/format.h), for what lib/ has no call for: which
 * file blocks an inode maps, and a count of the extents that map each pool
 * block to hold the reference-count table against.  An independent check
 * beside daxfs_check(): the two are written apart, so one's mistake in
 * reading the table does not hide the other's finding.
 */
#ifndef CRASHTEST_RAWPOOL_H
#define CRASHTEST_RAWPOOL_H

#include <stddef.h>
#include <stdint.h>

/*
 * map[i] = 1 for each file block i < n of inode ino that an extent maps,
 * 0 for a hole; 0 or -errno.
 */
int raw_file_map(const char *pool, uint64_t ino, uint8_t *map, size_t n);

/*
 * Reflink pools: every pool block's reference count must be the number of
 * regular-file extents that map it, less one (0 when none does).  Returns
 * 0 when it is (or the pool has no reflink feature), 1 with the first
 * wrong count in *why, or -errno when the pool cannot be read.
 */
int raw_refc_audit(const char *pool, char *why, size_t whylen);
#endif
