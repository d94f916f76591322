/* SPDX-License-Identifier: MIT */
/*
 * unit_tune.c - pool identity (lib/ident.c): daxfs_read_super's view and
 * counts, daxfs_tune's label and UUID change, its refusals (a pool in use,
 * a label too long) changing nothing, and its crash safety: the pool is
 * captured at each fence of a change, the superblock torn in every order
 * its stores can land, and each image must read, check and mount as the
 * old identity, with block 0 byte-identical to before after the rollback.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "core.h"
#include "unit.h"

#define POOL_SIZE (16ULL << 20)

static const uint8_t new_uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef,
				     0x81, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

/* ---- the pool at each fence of one daxfs_tune ---- */

#define MAX_SNAPS 8
static char *snaps[MAX_SNAPS];
static int nsnaps;
static const char *ob_base;
static size_t ob_len;

static void ob_flush(const void *p, size_t len)
{
	(void)p;
	(void)len;
}

static void ob_drain(void)
{
	if (nsnaps < MAX_SNAPS && (snaps[nsnaps] = malloc(ob_len)))
		memcpy(snaps[nsnaps++], ob_base, ob_len);
}

static const struct dx_persist_observer observer = {ob_flush, ob_drain};

static void map_hook(struct dx_pctx *pc, void *base, size_t len)
{
	ob_base = base;
	ob_len = len;
	dx_persist_set_observer(pc, &observer);
}

static int write_image(const char *path, const void *img, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pwrite(fd, img, len, 0);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int check_pool(const char *path, bool repair, struct daxfs_check_result *r)
{
	struct daxfs_check_opts o = {.mode = repair ? DAXFS_CHECK_REPAIR : DAXFS_CHECK_ONLY};

	return daxfs_check(path, &o, r);
}

static void test_read_and_tune(void)
{
	const char *p = t_path("a.pool");
	struct daxfs_mkfs_opts mo = {.size = POOL_SIZE, .label = "old", .force = 1};
	struct daxfs_tune_opts to = {.label = "new label", .set_uuid = 1};
	struct daxfs_mkfs_info mi;
	struct daxfs_pool_super ps;
	struct daxfs_pool_info pi;
	struct daxfs *fs;
	struct statvfs sv;

	T_EQ(daxfs_mkfs(p, &mo, &mi), 0, "mkfs");
	T_EQ(daxfs_read_super(p, &ps), 0, "read_super of a new pool");
	T(!strcmp(ps.label, "old"), "label is mkfs's: '%s'", ps.label);
	T(!memcmp(ps.uuid, mi.uuid, 16), "UUID is mkfs's");
	T_EQ(ps.size, POOL_SIZE, "size");
	T_EQ(ps.nblocks, mi.nblocks, "blocks");
	T_EQ(ps.ninodes, mi.ninodes, "inodes");
	T_EQ(ps.nblocks - ps.data_blk, mi.data_blocks, "data blocks");
	T(!ps.needs_fsck && !ps.in_use && !ps.journal_pending,
	  "clean, not in use, nothing pending");
	/* The counts are the mount's. */
	fs = t_open(p);
	T_EQ(daxfs_statfs(fs, &sv), 0, "statfs");
	T_EQ(ps.free_blocks, sv.f_bfree, "free blocks as statfs says");
	T_EQ(ps.free_inodes, sv.f_ffree, "free inodes as statfs says");
	/* In use: shown, but not changed. */
	T_EQ(daxfs_read_super(p, &ps), 0, "read_super of a mounted pool");
	T(ps.in_use, "a mounted pool is in use");
	T_EQ(daxfs_tune(p, &to), -EBUSY, "tune refuses a mounted pool");
	daxfs_close(fs);
	T_EQ(daxfs_read_super(p, &ps), 0, "read_super");
	T(!strcmp(ps.label, "old") && !memcmp(ps.uuid, mi.uuid, 16),
	  "refused tune changed nothing");

	to.label = "0123456789012345678901234567890123456789012345678901234567890123";
	T_EQ(daxfs_tune(p, &to), -EINVAL, "a 64-byte label is refused");
	T_EQ(daxfs_read_super(p, &ps), 0, "read_super");
	T(!strcmp(ps.label, "old"), "refused label changed nothing");

	to.label = "012345678901234567890123456789012345678901234567890123456789012";
	memcpy(to.uuid, new_uuid, 16);
	T_EQ(daxfs_tune(p, &to), 0, "tune: 63-byte label and a UUID");
	T_EQ(daxfs_read_super(p, &ps), 0, "read_super after tune");
	T(!strcmp(ps.label, to.label), "new label: '%s'", ps.label);
	T(!memcmp(ps.uuid, new_uuid, 16), "new UUID");
	T(!ps.journal_pending, "the change committed");
	fs = t_open(p);
	daxfs_pool_info(fs, &pi);
	T(!strcmp(pi.label, to.label) && !memcmp(pi.uuid, new_uuid, 16), "the mount sees it");
	T_EQ(t_fsck(fs, false), 0, "consistent");
	daxfs_close(fs);

	/* Only the label: the UUID stays. */
	to.label = "";
	to.set_uuid = 0;
	T_EQ(daxfs_tune(p, &to), 0, "tune: clear the label");
	T_EQ(daxfs_read_super(p, &ps), 0, "read_super");
	T(ps.label[0] == 0 && !memcmp(ps.uuid, new_uuid, 16), "label cleared, UUID kept");
}

/* A torn superblock without undo bytes is not made up: it stays refused. */
static void test_corrupt_not_undone(void)
{
	const char *p = t_path("c.pool");
	struct daxfs_pool_super ps;
	struct daxfs *fs = NULL;
	int fd;

	T_EQ(t_mkfs(p, POOL_SIZE, 0), 0, "mkfs");
	fd = open(p, O_WRONLY);
	T(fd >= 0 && pwrite(fd, "X", 1, 40) == 1, "flip a label byte");
	close(fd);
	T_EQ(daxfs_read_super(p, &ps), -EUCLEAN, "read_super refuses a bad checksum");
	T_EQ(daxfs_open(p, NULL, &fs), -EUCLEAN, "open refuses it");
}

static void test_crash(void)
{
	const char *p = t_path("b.pool"), *img = t_path("crash.pool");
	struct daxfs_mkfs_opts mo = {.size = POOL_SIZE, .label = "before", .force = 1};
	struct daxfs_tune_opts to = {.label = "after", .set_uuid = 1};
	size_t len, flen;
	struct daxfs_pool_super ps;
	struct daxfs_mkfs_info mi;
	char *orig, *final, *scratch;
	/* Byte ranges of block 0 that the change stores, in its order. */
	static const struct {
		size_t off, len;
	} part[3] = {
	    {offsetof(struct dx_super, uuid), 16},
	    {offsetof(struct dx_super, label), 64},
	    {offsetof(struct dx_super, flags), 8},
	};

	T_EQ(daxfs_mkfs(p, &mo, &mi), 0, "mkfs");
	orig = t_read_file(p, &len);
	memcpy(to.uuid, new_uuid, 16);
	dx_persist_map_hook = map_hook;
	T_EQ(daxfs_tune(p, &to), 0, "tune under the observer");
	dx_persist_map_hook = NULL;
	final = t_read_file(p, &flen);
	scratch = malloc(len);
	if (!T(orig && final && scratch && len == flen && nsnaps >= 3, "%d fences captured",
	       nsnaps))
		return;

	/*
	 * Every fence but the last (the commit) leaves the change
	 * uncommitted.  In each such image, tear block 0 every way the
	 * stores between that fence and the commit can land (any subset of
	 * the three ranges new, the rest old).
	 */
	for (int s = 0; s < nsnaps - 1; s++) {
		for (int mask = 0; mask < 8; mask++) {
			struct daxfs_check_result r;
			struct daxfs *fs = NULL;
			char *after;
			size_t alen;
			int ret;

			/* The flags word's undo entry is the second: at the
			 * first fence its store cannot have happened. */
			if (s == 0 && mask & 4)
				continue;
			memcpy(scratch, snaps[s], len);
			for (int i = 0; i < 3; i++)
				memcpy(scratch + part[i].off,
				       (mask >> i & 1 ? final : orig) + part[i].off, part[i].len);
			if (!T_EQ(write_image(img, scratch, len), 0, "write image"))
				continue;
			ret = daxfs_read_super(img, &ps);
			if (!T_EQ(ret, 0, "fence %d, torn %d: read_super", s, mask)) {
				t_note("%s", daxfs_errormsg());
				continue;
			}
			T(!strcmp(ps.label, "before") && !memcmp(ps.uuid, mi.uuid, 16),
			  "fence %d, torn %d: the old identity ('%s')", s, mask, ps.label);
			T_EQ(check_pool(img, false, &r), 0, "fence %d, torn %d: fsck -n runs", s,
			     mask);
			T_EQ(r.errors, 0, "fence %d, torn %d: fsck -n finds nothing", s, mask);
			ret = daxfs_open(img, NULL, &fs);
			if (!T_EQ(ret, 0, "fence %d, torn %d: mounts", s, mask)) {
				t_note("%s", daxfs_errormsg());
				continue;
			}
			T_EQ(t_fsck(fs, false), 0, "fence %d, torn %d: consistent", s, mask);
			daxfs_close(fs);
			after = t_read_file(img, &alen);
			T(after && !memcmp(after, orig, DX_BLOCK_SIZE),
			  "fence %d, torn %d: block 0 rolled back byte for byte", s, mask);
			free(after);
		}
	}
	/* The commit's image, and a tune over a torn image (it rolls back,
	 * then changes). */
	T_EQ(write_image(img, snaps[nsnaps - 1], len), 0, "image at the commit");
	T_EQ(daxfs_read_super(img, &ps), 0, "read_super at the commit");
	T(!strcmp(ps.label, "after") && !memcmp(ps.uuid, new_uuid, 16), "committed: new identity");
	memcpy(scratch, snaps[nsnaps - 2], len);
	memcpy(scratch + part[1].off, final + part[1].off, part[1].len);
	T_EQ(write_image(img, scratch, len), 0, "a torn image");
	to.label = "again";
	to.set_uuid = 0;
	T_EQ(daxfs_tune(img, &to), 0, "tune over a torn image");
	T_EQ(daxfs_read_super(img, &ps), 0, "read_super");
	T(!strcmp(ps.label, "again") && !memcmp(ps.uuid, mi.uuid, 16) && !ps.journal_pending,
	  "rolled back, then changed ('%s')", ps.label);
	free(scratch);
	free(orig);
	free(final);
	for (int s = 0; s < nsnaps; s++)
		free(snaps[s]);
}

static void body(void)
{
	test_read_and_tune();
	test_corrupt_not_undone();
	test_crash();
}

int main(void)
{
	return t_run("tune", body);
}
