/* SPDX-License-Identifier: MIT */
/* superblock.c - superblock checksum, validation and its flags word. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "core.h"
#include "crc32c.h"
#include "validate.h"

uint32_t dx_super_csum(const struct dx_super *sb)
{
	struct dx_super tmp;

	memcpy(&tmp, sb, sizeof(tmp));
	tmp.csum = 0;
	/* Changed in transactions, with a check of its own (format.h). */
	tmp.itable_mark = 0;
	return dx_crc32c(0, &tmp, sizeof(tmp));
}

uint64_t dx_imark_word(uint64_t count)
{
	uint32_t lo = (uint32_t)count;

	return (uint64_t)dx_crc32c(0, &lo, sizeof(lo)) << 32 | lo;
}

/*
 * Validate a superblock against the size of the pool it came from.  Every
 * check names what is wrong, so that a refused mount tells the user why.
 */
int dx_super_check(const struct dx_super *sb, uint64_t pool_size)
{
	const char *why;

	if (sb->magic != DX_MAGIC)
		return dx_err(-EINVAL, "not a daxfs pool (no daxfs superblock); mkfs.daxfs makes one "
				       "(erasing what is there)");
	if (sb->version != DX_VERSION)
		return dx_err(-EPROTONOSUPPORT,
			      "daxfs format version %u is not supported (this build reads version %u)",
			      sb->version, DX_VERSION);
	if (dx_super_csum(sb) != sb->csum)
		return dx_err(-EUCLEAN, "superblock checksum mismatch (corrupt superblock)");
	if (sb->block_size != DX_BLOCK_SIZE)
		return dx_err(-EUCLEAN, "unsupported block size %u", sb->block_size);
	if (sb->flags & ~DX_SB_KNOWN_FLAGS)
		return dx_err(-EUCLEAN, "superblock has unknown flags 0x%x", sb->flags);
	/* As ext4's incompat features: a pool with a feature this build does
	 * not know would be misread, or damaged by the first change. */
	if (sb->features & ~DX_FEATURES_KNOWN)
		return dx_err(-EPROTONOSUPPORT,
			      "the pool uses features this build does not know (0x%x); "
			      "use a newer daxfs",
			      sb->features & ~DX_FEATURES_KNOWN);
	why = dx_v_super_geometry(sb, pool_size);
	if (why)
		return dx_err(-EUCLEAN, "superblock geometry is inconsistent: %s (%llu blocks)", why,
			      (unsigned long long)sb->nblocks);
	return 0;
}

void dx_super_update_flags(const struct dx_pctx *pc, struct dx_super *sb, uint32_t set,
			   uint32_t clear)
{
	struct dx_super tmp;
	uint64_t word;

	memcpy(&tmp, sb, sizeof(tmp));
	tmp.flags = (tmp.flags | set) & ~clear;
	if (tmp.flags == sb->flags)
		return;
	tmp.csum = dx_super_csum(&tmp);
	/* Little-endian: flags is the low half of the word, csum the high. */
	word = (uint64_t)tmp.csum << 32 | tmp.flags;
	dx_store64_persist(pc, (uint64_t *)(void *)&sb->flags, word);
}

/* daxfs_pool_info and the ioctl pass the on-media bits as they are. */
_Static_assert(DAXFS_FEATURE_METADATA_CSUM == DX_FEATURE_METADATA_CSUM, "public feature bit");
_Static_assert(DAXFS_FEATURE_REFLINK == DX_FEATURE_REFLINK, "public feature bit");
_Static_assert(DX_FEATURES_KNOWN == (DAXFS_FEATURE_METADATA_CSUM | DAXFS_FEATURE_REFLINK),
	       "every known feature has a public DAXFS_FEATURE_* bit");

DX_EXPORT const char *daxfs_feature_name(uint32_t bit)
{
	/* As mke2fs -O and dumpe2fs name them. */
	switch (bit) {
	case DX_FEATURE_METADATA_CSUM:
		return "metadata_csum";
	case DX_FEATURE_REFLINK:
		return "reflink";
	default:
		return NULL;
	}
}

DX_EXPORT void daxfs_feature_list(uint32_t features, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (uint32_t bit = 1; bit && n < len; bit <<= 1) {
		const char *name = daxfs_feature_name(bit);
		char hex[16];

		if (!(features & bit))
			continue;
		if (!name) {
			snprintf(hex, sizeof(hex), "0x%x", bit);
			name = hex;
		}
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", name);
	}
	if (!buf[0])
		snprintf(buf, len, "(none)");
}
