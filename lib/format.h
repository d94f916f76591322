/* SPDX-License-Identifier: MIT */
/*
 * format.h - the daxfs on-media format.
 *
 * Everything in the pool is little-endian and addressed in 4 KiB blocks.
 * The regions, in pool order (all sizes fixed by mkfs and recorded in the
 * superblock):
 *
 *   block 0            superblock (crc32c protected; after mkfs only its
 *                      flags word, and label and UUID through tune.daxfs)
 *
 * With the metadata_csum feature (DX_FEATURE_METADATA_CSUM, set by mkfs
 * unless turned off) every inode, extent block, directory block, xattr
 * block and mapping record carries a crc32c too (lib/csum.c says what each
 * one covers); pools without it are read as before, unchecked.
 *   journal            undo log for multi-store metadata transactions
 *   mapping records    direct-access mappings and quarantined block runs
 *                      that outlive a daemon crash (see docs/pins.md)
 *   inode table        fixed-size inode slots; ino N lives in slot N - 1
 *   block bitmap       one bit per pool block, 1 = in use
 *   reference counts   with the reflink feature only: one 16-bit count per
 *                      pool block of the file extents that share it
 *   data               file data, directory blocks, extent blocks, xattrs
 *
 * Free-inode state is not stored: an inode slot whose mode is 0 is free,
 * and an inode with mode != 0 and nlink == 0 is an orphan that the next
 * mount reclaims (unlinked while open, then a crash).  The inode table is
 * initialised lazily (as ext4's lazy_itable_init): only the slots below the
 * superblock's high-water mark (itable_mark) have been written; those above
 * it are free whatever they hold, and are zeroed when the mark passes them.
 */
#ifndef DAXFS_FORMAT_H
#define DAXFS_FORMAT_H

#include <stdint.h>

#define DX_MAGIC	   0x3130534658414444ULL /* "DDAXFS01" */
#define DX_VERSION	   2
#define DX_BLOCK_SIZE	   4096u
#define DX_BLOCK_SHIFT	   12
#define DX_INODE_SIZE	   256u
#define DX_INODES_PER_BLOCK (DX_BLOCK_SIZE / DX_INODE_SIZE)
#define DX_ROOT_INO	   1ULL
#define DX_NAME_MAX	   255
#define DX_SYMLINK_MAX	   4095
#define DX_LINK_MAX	   65000u
#define DX_MIN_POOL_SIZE   (8ULL << 20)
/* Logical block numbers are 32-bit: a file ends before 16 TiB. */
#define DX_MAX_FILE_BLOCKS (1ULL << 32)
#define DX_MAX_FILE_SIZE   (DX_MAX_FILE_BLOCKS * DX_BLOCK_SIZE - 1)
/* One extent covers at most this many blocks (256 MiB). */
#define DX_EXTENT_MAX_LEN  65536u

/*
 * Superblock: block 0.  Written by mkfs; afterwards only flags and
 * itable_mark change (a mount that finds corruption sets DX_SB_NEEDS_FSCK,
 * fsck clears it), and flags and csum share one aligned 8-byte word, so both
 * change in a single atomic persistent store.  tune.daxfs changes label and
 * UUID on an unmounted pool in a journalled transaction; a reader puts the
 * journal's saved bytes of this block back in its copy first (lib/ident.c).
 *
 * itable_mark, the inode table's high-water mark, is advanced inside the
 * transaction that allocates an inode above it, so a crash cannot tear it
 * from a superblock checksum: csum leaves it out (as it leaves itself out)
 * and the word carries its own check.  Low half: the number of initialised
 * slots (a multiple of DX_IMARK_GRANULE, or ninodes); high half: the crc32c
 * of the low half.  0 (pools made before the mark): every slot initialised.
 */
struct dx_super {
	uint64_t magic;
	uint32_t version;
	uint32_t block_size;
	uint8_t uuid[16];
	char label[64];		/* NUL-padded */
	uint64_t nblocks;	/* pool blocks covered by the filesystem */
	uint64_t journal_blk;	/* first block of the journal */
	uint64_t journal_blocks;
	uint64_t maprec_blk;	/* first block of the mapping-record table */
	uint64_t maprec_blocks;
	uint64_t itable_blk;	/* first block of the inode table */
	uint64_t ninodes;
	uint64_t bitmap_blk;
	uint64_t bitmap_blocks;
	uint64_t data_blk;	/* first data block; blocks below it are metadata */
	uint64_t mkfs_time;	/* seconds since the epoch */
	uint32_t features;	/* DX_FEATURE_*: a mount refuses bits it does not know */
	uint32_t csum_seed;	/* metadata_csum: crc32c of the uuid at mkfs (tune may change the uuid) */
	uint64_t refc_blk;	/* reflink: first block of the reference counts, 0 = none */
	uint64_t refc_blocks;
	uint8_t reserved[3872];
	uint64_t itable_mark;	/* inode slots initialised, with a check (above) */
	uint32_t flags;		/* DX_SB_* state bits */
	uint32_t csum;		/* crc32c of the block with csum = 0 */
};
_Static_assert(sizeof(struct dx_super) == DX_BLOCK_SIZE, "superblock is one block");
_Static_assert(__builtin_offsetof(struct dx_super, flags) % 8 == 0 &&
		       __builtin_offsetof(struct dx_super, csum) ==
			   __builtin_offsetof(struct dx_super, flags) + 4,
	       "flags and csum are one 8-byte word");
/* The inode table's high-water mark moves in steps of this many slots
 * (16 KiB of table). */
#define DX_IMARK_GRANULE 64u
/* A mount found a damaged structure: run fsck.daxfs (it clears the bit). */
#define DX_SB_NEEDS_FSCK 0x1u
#define DX_SB_KNOWN_FLAGS DX_SB_NEEDS_FSCK

/*
 * Features, fixed by mkfs (features was zero before there were any).
 * metadata_csum: every inode, extent block, directory block, xattr block
 * and mapping record carries a crc32c seeded with the pool's uuid and the
 * object's number (lib/csum.c), updated in the transaction that changes
 * the object and verified where it is read.
 */
#define DX_FEATURE_METADATA_CSUM 0x1u
/*
 * reflink: file extents may share pool blocks (clone, copy_file_range).
 * The reference-count table follows the bitmap: a 16-bit word per pool
 * block holding how many extents beyond the first map the block (0 for a
 * block of one file, as for every block of a pool without the feature).
 * A word changes in the transaction that adds or removes the extent, so a
 * crash cannot tear it from the extent maps; like the bitmap it has no crc
 * of its own, since fsck can rebuild it from the extent maps.  A block is
 * never shared more than DX_REFC_MAX times over: a clone past that copies.
 */
#define DX_FEATURE_REFLINK 0x2u
#define DX_FEATURES_KNOWN (DX_FEATURE_METADATA_CSUM | DX_FEATURE_REFLINK)
#define DX_REFC_PER_BLOCK (DX_BLOCK_SIZE / sizeof(uint16_t))
#define DX_REFC_MAX	  UINT16_MAX

struct dx_time {
	int64_t sec;
	uint32_t nsec;
	uint32_t pad;
};

/*
 * An extent record: file blocks [lblk, lblk + len) live at pool blocks
 * [pblk, pblk + len).  len == 0 marks a free record slot.
 */
struct dx_extent {
	uint32_t lblk;
	uint32_t len;
	uint64_t pblk;
};
_Static_assert(sizeof(struct dx_extent) == 16, "extent record size");

#define DX_INLINE_EXTENTS 4

/*
 * Layout intent (new in format version 2): a change of a file's block map
 * that may need more than one transaction (truncate down, punch, zero
 * range, collapse, insert, preallocation).  The first transaction of the change sets it,
 * together with the change's first steps; the last one clears it.  A mount that finds it set rolls the
 * change forward to its end (docs/crash-consistency.md, "Recovery"), so a
 * crash shows either no change (the first transaction rolled back) or all
 * of it.  off and end are byte offsets of the range; size is the file's
 * size once the change is done.  Collapse and insert move extents in
 * order and keep their progress in cursor, a file block number in the
 * extents' original positions:
 *   collapse  phase 0: [off, end) is being removed; phase 1: extents that
 *             start at or after cursor still have to move down
 *   insert    extents that start in [off, cursor) still have to move up
 */
#define DX_INTENT_NONE	   0
#define DX_INTENT_TRUNCATE 1 /* remove every block from size on */
#define DX_INTENT_PUNCH	   2 /* zero [off, end): partial blocks, remove whole ones */
#define DX_INTENT_ZERO	   3 /* zero [off, end) in place and back its holes */
#define DX_INTENT_COLLAPSE 4
#define DX_INTENT_INSERT   5
#define DX_INTENT_PREALLOC 6 /* back the holes of [off, end) */
#define DX_INTENT_MAX	   6
struct dx_intent {
	uint16_t kind;
	uint16_t phase;
	uint32_t pad;
	uint64_t cursor;
	uint64_t off;
	uint64_t end;
	uint64_t size;
};
_Static_assert(sizeof(struct dx_intent) == 40, "intent size");

/*
 * Inode slot.  Extent records of a file are unordered: the four in the
 * inode, then those in the chain of extent blocks starting at ext_next.
 * The in-memory extent map is rebuilt from them when the inode is loaded.
 *
 * wtime is the time of the last write that changed bytes in place without
 * a transaction (nanoseconds since the epoch, 0 = none): one 8-byte store,
 * so a crash keeps it whole or not at all.  The file's mtime and ctime are
 * each the later of their own field and wtime.
 *
 * metadata_csum (0 without the feature): csum covers the slot except wtime
 * (stored without a transaction) and csum itself; xattr_csum is the crc of
 * the xattr block, kept here because that block is copied on write and
 * swapped in by this inode's xattr_blk.
 */
struct dx_inode {
	uint32_t mode;		/* 0 = free slot */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint64_t blocks;	/* data blocks held (in 4 KiB units) */
	uint64_t rdev;
	uint64_t parent;	/* directories: the ino of "..";  else 0 */
	uint32_t generation;
	uint32_t flags;
	struct dx_time atime;
	struct dx_time mtime;
	struct dx_time ctime;
	struct dx_time btime;
	uint64_t ext_next;	/* first extent block, 0 = none */
	uint64_t xattr_blk;	/* xattr block, 0 = none */
	struct dx_extent ext[DX_INLINE_EXTENTS];
	struct dx_intent intent;
	uint64_t wtime;
	uint32_t csum;
	uint32_t xattr_csum;
};
_Static_assert(sizeof(struct dx_inode) == DX_INODE_SIZE, "inode slot size");

/* Extent block: a header and 255 extent record slots.  owner was 64 bits
 * before metadata_csum (inode numbers are 32-bit, so its high half was 0). */
struct dx_extent_block {
	uint64_t next;		/* next extent block of this inode, 0 = last */
	uint32_t owner;		/* ino, for fsck */
	uint32_t csum;		/* metadata_csum: the block but this field */
	struct dx_extent ext[255];
};
_Static_assert(sizeof(struct dx_extent_block) == DX_BLOCK_SIZE, "extent block size");
#define DX_EXTENTS_PER_BLOCK 255

/*
 * Directory entry slot.  A directory's data is an array of these, 15 per
 * block; ino == 0 marks a free slot.  "." and ".." are not stored.
 */
struct dx_dirent {
	uint64_t ino;
	uint8_t type;		/* DT_* */
	uint8_t name_len;
	uint8_t pad[6];
	char name[256];		/* not NUL-terminated when name_len == 255 */
};
_Static_assert(sizeof(struct dx_dirent) == 272, "dirent slot size");
#define DX_DIRENTS_PER_BLOCK (DX_BLOCK_SIZE / sizeof(struct dx_dirent))

/*
 * The 16 bytes after the 15 slots of a directory block (zero before
 * metadata_csum).  csum covers the live entries (ino, type, name_len and
 * the name) and the ino field of the free ones: the rest of a free slot is
 * nobody's, and is written without being logged when the slot is reused.
 */
struct dx_dir_tail {
	uint32_t csum;
	uint32_t pad;
	uint64_t pad2;
};
#define DX_DIR_TAIL_OFF (DX_DIRENTS_PER_BLOCK * sizeof(struct dx_dirent))
_Static_assert(DX_DIR_TAIL_OFF + sizeof(struct dx_dir_tail) == DX_BLOCK_SIZE,
	       "directory tail fills the block");

/*
 * Xattr block: a packed list of records, each 8-byte aligned:
 * { u8 name_len; u8 pad; u16 value_len; u32 pad; name; value }.
 * The list ends at a record with name_len == 0.  An xattr block is never
 * changed in place: a new one is written and swapped in (copy on write).
 */
struct dx_xattr_rec {
	uint8_t name_len;
	uint8_t pad;
	uint16_t value_len;
	uint32_t pad2;
	char data[];
};
#define DX_XATTR_SPACE DX_BLOCK_SIZE

/*
 * Journal: an undo log.  Header in the first 64 bytes of the first journal
 * block; entries follow from byte 64.  An entry is valid for recovery when
 * its seq equals the header's seq and its crc matches; recovery copies the
 * saved bytes of all valid entries back, newest first.  Commit is a single
 * 8-byte store that increments the header's seq.
 */
struct dx_journal_hdr {
	uint64_t magic;
	uint64_t seq;
	uint8_t pad[48];
};
#define DX_JOURNAL_MAGIC 0x4c4e524a53465844ULL /* "DXFSJRNL" */

struct dx_journal_entry {
	uint64_t seq;
	uint64_t off;		/* pool byte offset of the saved range */
	uint32_t len;		/* bytes saved, followed by the data padded to 8 */
	uint32_t crc;		/* crc32c of seq, off, len and the data */
};

/*
 * Mapping record: pool blocks that a process outside the daemon may be
 * writing into, so that a daemon crash cannot forget them.
 *   DX_MAPREC_MAP         a live direct-access mapping of file ino's blocks
 *                         [lblk, lblk + nblocks) at [pblk, ...): the blocks
 *                         belong to the file, the record only pins them.
 *   DX_MAPREC_QUARANTINE  blocks taken out of every file but not yet free:
 *                         they are in use in the bitmap and owned by no
 *                         inode until the holder is gone.
 *   DX_MAPREC_SNAP        a live snapshot (read) mapping of shared blocks:
 *                         as DX_MAPREC_MAP, but the record holds a reference
 *                         of its own on each block (counted in the refcount
 *                         table, DX_FEATURE_REFLINK only), so the blocks keep
 *                         their bytes while the files move away from them.
 *   DX_MAPREC_HELD        a SNAP record left by a crashed daemon whose holder
 *                         still runs: its references are dropped once the
 *                         holder is gone; the blocks may still be in files.
 * The holder is a process: its thread group id, that process's start time
 * (/proc/PID/stat field 22) and the first 8 bytes of the boot id
 * (/proc/sys/kernel/random/boot_id); holder_boot 0 (records written before
 * it was recorded) means "this boot".
 * A slot is free when kind == 0.  See docs/pins.md.
 */
#define DX_MAPREC_MAP	     1
#define DX_MAPREC_QUARANTINE 2
#define DX_MAPREC_SNAP	     3
#define DX_MAPREC_HELD	     4
struct dx_maprec {
	uint16_t kind;
	uint16_t flags;		/* DAXFS_MAP_* of the mapping */
	uint32_t lblk;
	uint64_t ino;
	uint64_t pblk;
	uint64_t nblocks;
	uint32_t holder_pid;	/* thread group id (64 bits before metadata_csum) */
	uint32_t csum;		/* metadata_csum: the record but this field */
	uint64_t holder_start;	/* process start time, /proc/PID/stat field 22 */
	uint64_t id;		/* mapping id */
	uint64_t holder_boot;	/* boot id of the holder, 0 = unknown */
};
_Static_assert(sizeof(struct dx_maprec) == 64, "mapping record size");

#endif
