/* SPDX-License-Identifier: MIT */
/*
 * unit.h - a small harness for the unit tests of lib/.
 *
 * Each test program prints "ok - ..." or "FAIL - ..." per check and a final
 * "N passed, M failed" line, and exits 1 on any failure.
 *
 * The checks run in a child process.  The parent owns a private temporary
 * directory in /dev/shm that holds every pool the test makes, and removes
 * it however the child ends (exit, abort, crash, a timeout's SIGTERM), so no
 * pool is ever left behind.  The counters live in shared memory so that the
 * parent can still print the final line when the child dies.  Set
 * UNIT_NOFORK=1 to run in one process (for a debugger).
 */
#ifndef DAXFS_UNIT_H
#define DAXFS_UNIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "daxfs.h"

/* Record one check.  Returns cond, so a failed check can skip dependent ones. */
bool t_check(bool cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define T(cond, ...) t_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Equality of two integers, printing both on failure. */
bool t_check_eq(long long got, long long want, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define T_EQ(got, want, ...)                                                                       \
	t_check_eq((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)

/* Extra detail under a failed check; printed as a "#" comment line. */
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Run body (the test's checks) as described above and return the exit
 * code for main().  name is a short tag for the temporary directory.
 */
int t_run(const char *name, void (*body)(void));

/* A path for a file named name in the test's private directory. */
const char *t_path(const char *name);

/* mkfs (with force) a pool of size bytes; bpi 0 = default bytes per inode.
 * With t_no_reflink set, without the reflink feature. */
extern bool t_no_reflink;
int t_mkfs(const char *path, uint64_t size, uint64_t bpi);
/* daxfs_open read-write; aborts the test (a failed check and exit) on error. */
struct daxfs *t_open(const char *path);

/* Copy a whole file (pool images). 0 or -errno. */
int t_copy_file(const char *from, const char *to);
/* Read a whole file into a new buffer; *len gets its size. */
void *t_read_file(const char *path, size_t *len);

/* Credentials of the caller, for the calls that create inodes. */
extern const struct daxfs_cred t_cred;

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
uint64_t t_rand(void);
void t_srand(uint64_t seed);

/* Fill buf with bytes derived from seed (test data that differs by seed). */
void t_pattern(void *buf, size_t len, uint64_t seed);

/* ---- check.c: an independent consistency check and a tree snapshot ---- */

/*
 * Walk the pool's on-media structures directly (not through lib/'s DRAM
 * state) and check them against each other: block ownership against the
 * bitmap, link counts against directory entries, ".." against the tree,
 * free counts against the allocators.  Returns the number of problems and
 * prints the first few as notes.  With allow_orphans, live inodes with
 * nlink 0 (unlinked but open) are accepted.
 */
int t_fsck(struct daxfs *fs, bool allow_orphans);

/*
 * A text description of everything a user can observe: every path with
 * its inode number, attributes, content checksum, symlink target and
 * xattrs, plus the free block and inode counts.  Two pools that give the
 * same snapshot are the same filesystem.  The caller frees the string.
 */
char *t_snapshot(struct daxfs *fs);
/* Print the first line where a and b differ, as a note. */
void t_snapshot_diff(const char *a, const char *b);

#endif
