/* SPDX-License-Identifier: MIT */
/*
 * dx_poke.c - read or change one field of an unmounted pool, for the tests
 * that craft damaged images (tests/bad_media.sh).
 *
 *   dx-poke POOL get LOC          print the field's value
 *   dx-poke POOL set LOC VALUE    store VALUE (decimal or 0x hex), then make
 *                                 every checksum match: a crafted pool
 *   dx-poke POOL rot LOC VALUE    store VALUE and leave the checksums: a
 *                                 damaged medium
 *   dx-poke POOL flip LOC         rot the field with its lowest bit flipped
 *   dx-poke POOL lookup PATH      print the inode number of PATH
 *
 * LOC is one of
 *   sb.FIELD                      (the checksum is fixed up after a set)
 *   inode.INO.FIELD               mode nlink uid size blocks parent ext_next
 *                                 xattr_blk csum extN.lblk extN.len extN.pblk
 *   extent.INO.FIELD              the first live extent record of INO
 *                                 (inline or in the chain): lblk len pblk
 *   chain.INO.K.FIELD             extent block K (0 = first) of INO:
 *                                 next owner
 *   dirent.DIRINO.NAME.FIELD      ino type name_len
 *   maprec.I.FIELD                kind ino lblk pblk nblocks holder_pid
 *   blk.B.OFF                     the byte at OFF of pool block B
 *   fblk.INO.LBLK.OFF             the byte at OFF of file block LBLK of INO
 *
 * The pool is written in place with no journal: it must not be mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core.h"
#include "csum.h"

static char *base;
static struct dx_super *sb;
static uint64_t pool_blocks; /* of the file, whatever the superblock says */

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "dx-poke: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

static void *blk(uint64_t b)
{
	if (b >= pool_blocks)
		die("block %s is outside the pool file", "");
	return base + b * DX_BLOCK_SIZE;
}

static struct dx_inode *inode(uint64_t ino)
{
	if (ino < 1 || ino > sb->ninodes)
		die("no inode %s", "");
	return (struct dx_inode *)blk(sb->itable_blk) + (ino - 1);
}

/* Pool block of file block lblk of ino (0: a hole), from all its extents. */
static uint64_t fblock(uint64_t ino, uint64_t lblk)
{
	struct dx_inode *d = inode(ino);
	uint64_t b = d->ext_next;

	for (int i = 0; i < DX_INLINE_EXTENTS; i++)
		if (d->ext[i].len && lblk >= d->ext[i].lblk && lblk < d->ext[i].lblk + d->ext[i].len)
			return d->ext[i].pblk + (lblk - d->ext[i].lblk);
	for (int guard = 0; b && guard < 1 << 20; guard++) {
		struct dx_extent_block *eb = blk(b);
		for (int i = 0; i < DX_EXTENTS_PER_BLOCK; i++)
			if (eb->ext[i].len && lblk >= eb->ext[i].lblk &&
			    lblk < eb->ext[i].lblk + eb->ext[i].len)
				return eb->ext[i].pblk + (lblk - eb->ext[i].lblk);
		b = eb->next;
	}
	return 0;
}

static struct dx_dirent *dirent(uint64_t dino, const char *name, size_t len)
{
	struct dx_inode *d = inode(dino);

	for (uint64_t lb = 0; lb < d->size / DX_BLOCK_SIZE; lb++) {
		uint64_t pb = fblock(dino, lb);
		struct dx_dirent *de = pb ? blk(pb) : NULL;
		for (size_t i = 0; de && i < DX_DIRENTS_PER_BLOCK; i++)
			if (de[i].ino && de[i].name_len == len && !memcmp(de[i].name, name, len))
				return &de[i];
	}
	die("no entry %s", name);
	return NULL;
}

static uint64_t lookup(const char *path)
{
	uint64_t ino = DX_ROOT_INO;

	while (*path) {
		size_t len;
		while (*path == '/')
			path++;
		len = strcspn(path, "/");
		if (len)
			ino = dirent(ino, path, len)->ino;
		path += len;
	}
	return ino;
}

/* A field: its address and width in bytes. */
struct field {
	void *p;
	int width;
};

#define F(s, name)                                                                                 \
	if (!strcmp(f, #name))                                                                     \
	return (struct field)                                                                      \
	{                                                                                          \
		&(s)->name, sizeof((s)->name)                                                      \
	}

static struct field super_field(const char *f)
{
	F(sb, magic);
	F(sb, version);
	F(sb, block_size);
	F(sb, nblocks);
	F(sb, journal_blk);
	F(sb, journal_blocks);
	F(sb, maprec_blk);
	F(sb, maprec_blocks);
	F(sb, itable_blk);
	F(sb, ninodes);
	F(sb, bitmap_blk);
	F(sb, bitmap_blocks);
	F(sb, data_blk);
	F(sb, itable_mark);
	F(sb, flags);
	F(sb, features);
	F(sb, csum);
	die("no superblock field %s", f);
	return (struct field){NULL, 0};
}

static struct field inode_field(struct dx_inode *d, const char *f)
{
	F(d, mode);
	F(d, nlink);
	F(d, uid);
	F(d, size);
	F(d, blocks);
	F(d, parent);
	F(d, ext_next);
	F(d, xattr_blk);
	F(d, csum);
	if (!strncmp(f, "ext", 3) && f[3] >= '0' && f[3] < '0' + DX_INLINE_EXTENTS && f[4] == '.') {
		struct dx_extent *e = &d->ext[f[3] - '0'];
		f += 5;
		F(e, lblk);
		F(e, len);
		F(e, pblk);
	}
	die("no inode field %s", f);
	return (struct field){NULL, 0};
}

static struct field locate(char *loc)
{
	char *save, *kind = strtok_r(loc, ".", &save);

	if (!kind)
		die("empty location%s", "");
	if (!strcmp(kind, "sb"))
		return super_field(save);
	if (!strcmp(kind, "inode")) {
		uint64_t ino = strtoull(strtok_r(NULL, ".", &save), NULL, 0);
		return inode_field(inode(ino), save);
	}
	if (!strcmp(kind, "extent")) {
		uint64_t ino = strtoull(strtok_r(NULL, ".", &save), NULL, 0);
		struct dx_inode *d = inode(ino);
		struct dx_extent *e = NULL;
		uint64_t b = d->ext_next;
		const char *f = save;
		for (int i = 0; i < DX_INLINE_EXTENTS && !e; i++)
			if (d->ext[i].len)
				e = &d->ext[i];
		for (int guard = 0; !e && b && guard < 1 << 20; guard++) {
			struct dx_extent_block *eb = blk(b);
			for (int i = 0; i < DX_EXTENTS_PER_BLOCK && !e; i++)
				if (eb->ext[i].len)
					e = &eb->ext[i];
			b = eb->next;
		}
		if (!e)
			die("inode has no extent%s", "");
		F(e, lblk);
		F(e, len);
		F(e, pblk);
		die("no extent field %s", f);
	}
	if (!strcmp(kind, "chain")) {
		uint64_t ino = strtoull(strtok_r(NULL, ".", &save), NULL, 0);
		unsigned k = (unsigned)strtoul(strtok_r(NULL, ".", &save), NULL, 0);
		uint64_t b = inode(ino)->ext_next;
		struct dx_extent_block *eb;
		const char *f = save;
		for (; k && b; k--)
			b = ((struct dx_extent_block *)blk(b))->next;
		if (!b)
			die("the extent chain is shorter%s", "");
		eb = blk(b);
		F(eb, next);
		F(eb, owner);
		die("no extent block field %s", f);
	}
	if (!strcmp(kind, "dirent")) {
		uint64_t dino = strtoull(strtok_r(NULL, ".", &save), NULL, 0);
		char *name = strtok_r(NULL, ".", &save);
		struct dx_dirent *de = dirent(dino, name, strlen(name));
		const char *f = save;
		F(de, ino);
		F(de, type);
		F(de, name_len);
		die("no dirent field %s", f);
	}
	if (!strcmp(kind, "maprec")) {
		uint64_t i = strtoull(strtok_r(NULL, ".", &save), NULL, 0);
		struct dx_maprec *r = (struct dx_maprec *)blk(sb->maprec_blk) + i;
		const char *f = save;
		if (i >= sb->maprec_blocks * DX_BLOCK_SIZE / sizeof(*r))
			die("no mapping record %s", "");
		F(r, kind);
		F(r, ino);
		F(r, lblk);
		F(r, pblk);
		F(r, nblocks);
		F(r, holder_pid);
		die("no mapping record field %s", f);
	}
	if (!strcmp(kind, "blk") || !strcmp(kind, "fblk")) {
		uint64_t b = strtoull(strtok_r(NULL, ".", &save), NULL, 0), off;
		if (!strcmp(kind, "fblk")) {
			b = fblock(b, strtoull(strtok_r(NULL, ".", &save), NULL, 0));
			if (!b)
				die("no such file block%s", "");
		}
		off = strtoull(save, NULL, 0);
		if (off >= DX_BLOCK_SIZE)
			die("offset %s is past the block", save);
		return (struct field){(char *)blk(b) + off, 1};
	}
	die("unknown location kind %s", kind);
	return (struct field){NULL, 0};
}

int main(int argc, char **argv)
{
	struct stat st;
	struct field f;
	uint64_t v = 0;
	int fd, fix_csum;

	if (argc < 4)
		die("usage: dx-poke POOL get LOC | set LOC VALUE | lookup PATH%s", "");
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < DX_BLOCK_SIZE)
		die("cannot open %s", argv[1]);
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		die("cannot map %s", argv[1]);
	sb = (struct dx_super *)(void *)base;
	pool_blocks = (uint64_t)st.st_size / DX_BLOCK_SIZE;
	if (!strcmp(argv[2], "lookup")) {
		printf("%llu\n", (unsigned long long)lookup(argv[3]));
		return 0;
	}
	fix_csum = !strncmp(argv[3], "sb.", 3) && strcmp(argv[3], "sb.csum");
	f = locate(argv[3]);
	if (!strcmp(argv[2], "get")) {
		memcpy(&v, f.p, (size_t)f.width); /* little-endian */
		printf("%llu\n", (unsigned long long)v);
		return 0;
	}
	if (!strcmp(argv[2], "flip")) {
		memcpy(&v, f.p, (size_t)f.width);
		v ^= 1;
	} else if ((strcmp(argv[2], "set") && strcmp(argv[2], "rot")) || argc < 5) {
		die("unknown command %s", argv[2]);
	} else {
		errno = 0;
		v = strtoull(argv[4], NULL, 0);
		if (errno)
			die("bad value %s", argv[4]);
	}
	memcpy(f.p, &v, (size_t)f.width);
	if (fix_csum)
		sb->csum = dx_super_csum(sb);
	/* A crafted pool has matching metadata checksums (a pool whose
	 * superblock no mount accepts is left as it is). */
	if (!strcmp(argv[2], "set"))
		dx_csum_walk(base, (size_t)st.st_size, true, NULL, NULL);
	if (msync(base, (size_t)st.st_size, MS_SYNC) < 0)
		die("msync failed on %s", argv[1]);
	return 0;
}
