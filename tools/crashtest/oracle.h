/* SPDX-License-Identifier: MIT */
/*
 * oracle.h - the logical state of a filesystem, as a user sees it through
 * lib/: every path with its type, permissions, owner, size, block count,
 * link count and hard-link group, contents (or symlink target) and xattrs.
 * Times are left out (docs/crash-consistency.md says what is atomic about
 * them); so are free counts, which the deletion check covers.
 */
#ifndef CRASHTEST_ORACLE_H
#define CRASHTEST_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daxfs;

struct ofile {
	char *path;
	uint32_t mode;
	uint32_t uid, gid, nlink;
	uint64_t size, blocks;
	char *content; /* regular file: size bytes; symlink: the target */
	size_t clen;
	char *xattrs; /* "name=hex;..." sorted by name */
	char *group;  /* first path of the same inode (hard links) */
	uint64_t ino;
};

struct ostate {
	size_t n;
	struct ofile *f; /* sorted by path */
};

/* Walk fs; 0 or -errno (with a message in *why). */
int ostate_take(struct daxfs *fs, struct ostate *s, char *why, size_t whylen);
void ostate_free(struct ostate *s);
/* A deep copy of src. */
void ostate_copy(struct ostate *dst, const struct ostate *src);
const struct ofile *ostate_find(const struct ostate *s, const char *path);

/*
 * Data that an operation writes in place, without a transaction: a crash
 * may keep any mix of old and new bytes below the old size (as on other
 * filesystems without data journalling).
 */
struct orelax {
	const char *path;  /* NULL: none */
	const char *group; /* its hard-link group (ofile.group): every link of it */
	uint64_t old_size, new_size;
	const char *old; /* content before (old_size bytes) */
	const char *new; /* content after (new_size bytes) */
};

/* Does got equal want (with relax)?  On a mismatch *why says where. */
bool ostate_equal(const struct ostate *want, const struct ostate *got, const struct orelax *rx,
		  char *why, size_t whylen);

/* Unlink and rmdir everything, deepest first; 0 or -errno (*why). */
int ostate_delete_all(struct daxfs *fs, char *why, size_t whylen);
#endif
