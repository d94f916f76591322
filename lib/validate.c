/* SPDX-License-Identifier: MIT */
/*
 * validate.c - one verifier per on-media structure (see validate.h).
 *
 * The rules are the ones fsck.daxfs repairs (check.c), so that a pool fsck
 * calls clean is one every verifier accepts.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include "crc32c.h"
#include "validate.h"
#include "core.h"

bool dx_v_data_range(const struct dx_super *sb, uint64_t pblk, uint64_t len)
{
	uint64_t end;

	return len && pblk >= sb->data_blk && !__builtin_add_overflow(pblk, len, &end) &&
	       end <= sb->nblocks;
}

/* [start, start + len), len >= 1, inside [lo, hi); *end gets its end. */
static bool region(uint64_t start, uint64_t len, uint64_t lo, uint64_t hi, uint64_t *end)
{
	return len && start >= lo && start < hi && len <= hi - start && (*end = start + len, true);
}

const char *dx_v_super_geometry(const struct dx_super *sb, uint64_t pool_size)
{
	uint64_t n = sb->nblocks, bytes, jend, mend, iend, bend, bits;

	if (__builtin_mul_overflow(n, (uint64_t)DX_BLOCK_SIZE, &bytes) || n < 2)
		return "block count is impossible";
	if (bytes > pool_size)
		return "pool is smaller than the filesystem: truncated?";
	if (!region(sb->journal_blk, sb->journal_blocks, 1, n, &jend))
		return "journal lies outside the pool";
	if (sb->journal_blocks < DX_JOURNAL_MIN_BLOCKS || sb->journal_blocks > (1ULL << 20))
		return "journal size is impossible";
	if (!region(sb->maprec_blk, sb->maprec_blocks, jend, n, &mend))
		return "mapping-record table lies outside the pool or over the journal";
	if (sb->maprec_blocks > UINT32_MAX / (DX_BLOCK_SIZE / sizeof(struct dx_maprec)))
		return "mapping-record table is too large";
	if (sb->ninodes < 1 || sb->ninodes > UINT32_MAX || sb->ninodes % DX_INODES_PER_BLOCK)
		return "inode count is impossible";
	if (!region(sb->itable_blk, sb->ninodes / DX_INODES_PER_BLOCK, mend, n, &iend))
		return "inode table lies outside the pool or over the record table";
	if (!region(sb->bitmap_blk, sb->bitmap_blocks, iend, n, &bend))
		return "block bitmap lies outside the pool or over the inode table";
	/* Exactly the bitmap mkfs makes: one bit per pool block, rounded up. */
	bits = DX_BLOCK_SIZE * 8;
	if (sb->bitmap_blocks != n / bits + (n % bits != 0))
		return "block bitmap size does not match the pool";
	if (sb->features & DX_FEATURE_REFLINK) {
		if (sb->refc_blk != bend ||
		    sb->refc_blocks != n / DX_REFC_PER_BLOCK + (n % DX_REFC_PER_BLOCK != 0))
			return "reference-count table does not follow the bitmap or does not match the pool";
		bend += sb->refc_blocks;
	} else if (sb->refc_blk || sb->refc_blocks) {
		return "reference-count table without the reflink feature";
	}
	if (sb->data_blk != bend || sb->data_blk >= n)
		return "data area does not follow the bitmap and reference counts";
	return NULL;
}

const char *dx_v_imark(const struct dx_super *sb, uint64_t word, uint64_t *count)
{
	uint32_t lo = (uint32_t)word;

	if (!word) {
		*count = sb->ninodes; /* made before the mark: all initialised */
		return NULL;
	}
	if (word >> 32 != dx_crc32c(0, &lo, sizeof(lo)))
		return "inode table high-water mark fails its check";
	if (lo < 1 || lo > sb->ninodes || (lo % DX_IMARK_GRANULE && lo != sb->ninodes))
		return "inode table high-water mark is outside the table";
	*count = lo;
	return NULL;
}

bool dx_v_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		return true;
	}
	return false;
}

const char *dx_v_inode(const struct dx_super *sb, const struct dx_inode *d)
{
	if (!dx_v_type(d->mode))
		return "invalid file type";
	if (d->nlink > DX_LINK_MAX)
		return "link count is past the limit";
	if (S_ISREG(d->mode) && d->size > DX_MAX_FILE_SIZE)
		return "size is past the largest file";
	/* Directory slots are numbered in 32 bits. */
	if (S_ISDIR(d->mode) &&
	    (d->size % DX_BLOCK_SIZE || d->size / DX_BLOCK_SIZE > UINT32_MAX / DX_DIRENTS_PER_BLOCK))
		return "directory size is not a whole number of blocks";
	if (S_ISLNK(d->mode) && (d->size == 0 || d->size > DX_SYMLINK_MAX))
		return "symlink target length is invalid";
	if (d->xattr_blk && !dx_v_data_range(sb, d->xattr_blk, 1))
		return "xattr block lies outside the data area";
	if (d->ext_next && !dx_v_data_range(sb, d->ext_next, 1))
		return "extent block lies outside the data area";
	return NULL;
}

const char *dx_v_extent(const struct dx_super *sb, const struct dx_extent *e, uint32_t mode)
{
	if (e->len > DX_EXTENT_MAX_LEN)
		return "extent is longer than an extent may be";
	if ((uint64_t)e->lblk + e->len > DX_MAX_FILE_BLOCKS)
		return "extent ends past the largest file";
	if (!dx_v_data_range(sb, e->pblk, e->len))
		return "extent lies outside the data area";
	if (!S_ISREG(mode) && !S_ISDIR(mode) && !S_ISLNK(mode))
		return "a device, FIFO or socket has an extent";
	return NULL;
}

const char *dx_v_extent_block(const struct dx_super *sb, uint64_t b,
			      const struct dx_extent_block *eb, uint64_t ino)
{
	if (!dx_v_data_range(sb, b, 1))
		return "extent block lies outside the data area";
	if (eb->owner != ino)
		return "extent block belongs to another inode";
	return NULL;
}

const char *dx_v_xmap(const struct dx_xent *v, size_t n, const struct dx_inode *d)
{
	uint64_t end = 0;

	for (size_t i = 0; i < n; i++) {
		if (i && v[i].lblk < end)
			return "two extents map the same file block";
		if (S_ISDIR(d->mode) && v[i].lblk != end)
			return "directory has a hole";
		end = (uint64_t)v[i].lblk + v[i].len;
	}
	if (S_ISDIR(d->mode) && end * DX_BLOCK_SIZE != d->size)
		return "directory size does not match its blocks";
	if (S_ISLNK(d->mode) && (!n || v[0].lblk != 0))
		return "symlink has no data block";
	return NULL;
}

static bool valid_dtype(uint8_t t)
{
	switch (t) {
	case DT_FIFO:
	case DT_CHR:
	case DT_DIR:
	case DT_BLK:
	case DT_REG:
	case DT_LNK:
	case DT_SOCK:
		return true;
	}
	return false;
}

const char *dx_v_dirent(const struct dx_super *sb, const struct dx_dirent *de)
{
	if (de->ino > sb->ninodes)
		return "entry names an inode number past the inode table";
	if (!de->name_len || memchr(de->name, '/', de->name_len) ||
	    memchr(de->name, '\0', de->name_len))
		return "entry has an invalid name";
	if (de->name[0] == '.' && (de->name_len == 1 || (de->name_len == 2 && de->name[1] == '.')))
		return "entry is named . or ..";
	if (!valid_dtype(de->type))
		return "entry has an invalid file type";
	return NULL;
}

const char *dx_v_xattr_block(const char *blk)
{
	static const char *const prefixes[] = {"user.", "trusted.", "security."};
	size_t pos = 0;

	while (pos + sizeof(struct dx_xattr_rec) <= DX_XATTR_SPACE) {
		const struct dx_xattr_rec *r = (const void *)(blk + pos);
		size_t rs = sizeof(*r) + ((r->name_len + (size_t)r->value_len + 7) & ~(size_t)7);
		bool prefix_ok = false;

		if (!r->name_len)
			return NULL;
		if (rs > DX_XATTR_SPACE - pos)
			return "xattr record runs past the end of the block";
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			size_t pl = strlen(prefixes[i]);
			if (r->name_len > pl && !memcmp(r->data, prefixes[i], pl))
				prefix_ok = true;
		}
		if (!prefix_ok || memchr(r->data, '\0', r->name_len))
			return "xattr record has an invalid name";
		pos += rs;
	}
	return NULL;
}

const char *dx_v_symlink(const char *target, uint64_t size)
{
	if (!size || size > DX_SYMLINK_MAX)
		return "symlink target length is invalid";
	if (memchr(target, '\0', size))
		return "symlink target holds a NUL byte";
	return NULL;
}

const char *dx_v_maprec(const struct dx_super *sb, const struct dx_maprec *r)
{
	if (r->kind != DX_MAPREC_MAP && r->kind != DX_MAPREC_QUARANTINE &&
	    r->kind != DX_MAPREC_SNAP && r->kind != DX_MAPREC_HELD)
		return "record has an unknown kind";
	/* A record stands for one extent of one mapping. */
	if (!r->nblocks || r->nblocks > DX_EXTENT_MAX_LEN)
		return "record length is impossible";
	if (!dx_v_data_range(sb, r->pblk, r->nblocks))
		return "record lies outside the data area";
	/* Only a pool whose blocks may be shared counts references. */
	if ((r->kind == DX_MAPREC_SNAP || r->kind == DX_MAPREC_HELD) &&
	    !(sb->features & DX_FEATURE_REFLINK))
		return "record holds references on a pool without reflink";
	if ((r->kind == DX_MAPREC_MAP || r->kind == DX_MAPREC_SNAP) &&
	    (r->ino < 1 || r->ino > sb->ninodes || (uint64_t)r->lblk + r->nblocks > DX_MAX_FILE_BLOCKS))
		return "record names an impossible inode or file range";
	return NULL;
}

const char *dx_v_journal_hdr(const struct dx_journal_hdr *h)
{
	if (h->magic != DX_JOURNAL_MAGIC)
		return "journal header is damaged (bad magic)";
	return NULL;
}
