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

/*
 * Isolation: every regular file of ref, other than the inodes in skip,
 * that got has too (looked up by inode: a rename may move it) has the
 * same size and bytes.  An op on one file of a set sharing blocks must
 * never show up in another (the classic reflink bug).
 */
bool ostate_isolated(const struct ostate *ref, const struct ostate *got, const uint64_t *skip,
		     size_t nskip, char *why, size_t whylen);

/*
 * A clone after its first k steps: destination blocks [db, db + k) hold
 * source blocks [sb, sb + k) of before, the size is the old one or the
 * end of block db + k if that is larger, and the block count moved by
 * the source blocks mapped less the destination blocks unmapped
 * (smap/dmap: which file blocks of each were mapped before, nmap of
 * them).  Every link of the destination shows it.  Returns false (and
 * leaves out is unset) when the maps do not reach the range.
 */
struct ostate_clone {
	const char *src, *dst;
	uint64_t sb, db, k;
	const uint8_t *smap, *dmap;
	size_t nmap;
};
bool ostate_clone_step(const struct ostate *before, const struct ostate_clone *c,
		       struct ostate *out);

/* Unlink and rmdir everything, deepest first; 0 or -errno (*why). */
int ostate_delete_all(struct daxfs *fs, char *why, size_t whylen);
#endif
