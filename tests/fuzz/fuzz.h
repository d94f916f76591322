/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - shared parts of the libFuzzer targets (see docs/fuzzing.md).
 *
 * A fuzzer input is, by default, a list of mutations of one of the seed
 * pools that fuzz-mkseed wrote into $DAXFS_FUZZ_SEEDS:
 *   byte 0     which seed (modulo their number)
 *   byte 1     flags: bit 0 = recompute the superblock checksum afterwards,
 *              bit 1 = recompute every checksum (metadata_csum: inodes,
 *              extent, directory and xattr blocks, mapping records, and the
 *              superblock's), so that the damage reaches past them
 *   then records { u16 block; u16 offset; u8 len; len bytes } (little
 *   endian), each overwriting bytes of one block: block < 0x8000 picks one
 *   of the seed's non-zero blocks (its metadata and data), otherwise
 *   (block & 0x7fff) is a pool block number.  len is 1..32.
 * With DAXFS_FUZZ_RAW=1 the input is a whole pool image instead (the
 * regression images are run that way).  Either way the target gets the
 * pool as a file on /dev/shm, rewritten before every run.
 * With DAXFS_FUZZ_DUMP=FILE each run first copies its pool to FILE, to
 * turn a crashing input into a regression image.
 */
#ifndef DAXFS_FUZZ_H
#define DAXFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct daxfs;

#define FUZZ_FIX_SUPER 0x1u
#define FUZZ_FIX_ALL   0x2u

/* fuzz_csum.c: make every checksum of the pool image [base, base + len)
 * match again (the superblock's first); nothing without metadata_csum.
 * Returns the number of checksums rewritten. */
long fuzz_fix_csums(void *base, size_t len);

/* Implemented by each target: run it on the pool file at path. */
void fuzz_target(const char *path);

/* fuzz_ops.c: read every object reachable from the root and every inode
 * slot; remove every file and directory (truncating files first). */
void fuzz_walk(struct daxfs *fs);
void fuzz_free_all(struct daxfs *fs);
/* daxfs_open of path, NULL when it is refused. */
struct daxfs *fuzz_open(const char *path);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
