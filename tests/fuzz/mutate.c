/* SPDX-License-Identifier: MIT */
/*
 * mutate.c - fuzz-mutate POOL CLASS SEED: damage one structure of an
 * unmounted pool, for the mount fuzzer (tests/mount_fuzz.sh).
 *
 * CLASS picks the structure, SEED (any number) everything else, so a round
 * is repeatable.  The target is found through the layout of lib/format.h:
 * a field of a live record of that structure gets an interesting value
 * (0, all ones, the pool size, a metadata block, a flipped bit, ...).
 * On a pool with metadata checksums, most rounds then rewrite the
 * checksums to match (fuzz_csum.c).
 * Prints one line saying what was changed.  Exit status 3 when the pool
 * has no structure of that class (nothing changed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core.h"
#include "crc32c.h"
#include "fuzz.h"

enum {
	C_SUPER,      /* a superblock field, checksum left stale */
	C_SUPER_CSUM, /* a superblock field, checksum fixed up */
	C_JOURNAL,
	C_INODE,
	C_BITMAP,
	C_EXTENT,
	C_DIR,
	C_XATTR,
	C_SYMLINK,
	C_MAPREC,
	C_COUNT
};
static const char *class_name[C_COUNT] = {"superblock", "superblock+csum", "journal",	"inode",
					  "bitmap",	"extent",	   "directory", "xattr",
					  "symlink",	"maprec"};

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* splitmix64: deterministic from the seed */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static char *base;
static struct dx_super *sb;
static uint64_t nblocks;

static void *blk(uint64_t b)
{
	return b < nblocks ? base + b * DX_BLOCK_SIZE : NULL;
}

struct field {
	const char *name;
	size_t off, width;
};
#define F(type, member)                                                                            \
	{                                                                                          \
#member, offsetof(type, member), sizeof(((type *)0)->member)                       \
	}

/* An interesting value for a field that holds old. */
static uint64_t pick_value(uint64_t old, size_t width)
{
	uint64_t v;

	switch (below(12)) {
	case 0:
		v = 0;
		break;
	case 1:
		v = ~0ULL;
		break;
	case 2:
		v = nblocks;
		break;
	case 3:
		v = nblocks - 1;
		break;
	case 4:
		v = sb->data_blk - 1;
		break; /* a metadata block */
	case 5:
		v = below(64);
		break;
	case 6:
		v = old ^ (1ULL << below(width * 8));
		break;
	case 7:
		v = old + 1;
		break;
	case 8:
		v = old - 1;
		break;
	case 9:
		v = 1ULL << 32;
		break;
	case 10:
		v = (1ULL << 52) + 4096;
		break;
	default:
		v = rnd();
		break;
	}
	return v;
}

static void set_field(void *rec, const struct field *f, const char *what)
{
	char *p = (char *)rec + f->off;
	uint64_t old = 0, v;

	memcpy(&old, p, f->width);
	v = pick_value(old, f->width);
	memcpy(p, &v, f->width);
	if (f->width < 8)
		v &= (1ULL << (f->width * 8)) - 1;
	printf("%s %s at byte %llu: %#llx -> %#llx\n", what, f->name,
	       (unsigned long long)(p - base), (unsigned long long)old, (unsigned long long)v);
}

static void set_byte(void *p, const char *what)
{
	uint8_t old = *(uint8_t *)p, v = (uint8_t)(below(2) ? rnd() : old ^ (1u << below(8)));

	*(uint8_t *)p = v;
	printf("%s byte at %llu: %#x -> %#x\n", what, (unsigned long long)((char *)p - base), old,
	       v);
}

/* Live inodes whose mode matches type (0 = any). */
static size_t inodes_of(mode_t type, uint64_t *out, size_t max)
{
	struct dx_inode *it = blk(sb->itable_blk);
	size_t n = 0;

	for (uint64_t i = 0; i < sb->ninodes && n < max; i++)
		if (it[i].mode && (!type || (it[i].mode & S_IFMT) == type))
			out[n++] = i;
	return n;
}

/* The extent records of inode slot i: inline ones and those in its chain. */
static size_t extents_of(uint64_t i, struct dx_extent **out, size_t max)
{
	struct dx_inode *d = (struct dx_inode *)blk(sb->itable_blk) + i;
	size_t n = 0;
	uint64_t next = d->ext_next;

	for (int k = 0; k < DX_INLINE_EXTENTS && n < max; k++)
		if (d->ext[k].len)
			out[n++] = &d->ext[k];
	for (int hops = 0; next && hops < 64; hops++) {
		struct dx_extent_block *eb = blk(next);
		if (!eb || next < sb->data_blk)
			break;
		for (int k = 0; k < DX_EXTENTS_PER_BLOCK && n < max; k++)
			if (eb->ext[k].len)
				out[n++] = &eb->ext[k];
		next = eb->next;
	}
	return n;
}

static int mut_super(int fix)
{
	static const struct field f[] = {
	    F(struct dx_super, version),	F(struct dx_super, block_size),
	    F(struct dx_super, nblocks),	F(struct dx_super, journal_blk),
	    F(struct dx_super, journal_blocks), F(struct dx_super, maprec_blk),
	    F(struct dx_super, maprec_blocks),	F(struct dx_super, itable_blk),
	    F(struct dx_super, ninodes),	F(struct dx_super, bitmap_blk),
	    F(struct dx_super, bitmap_blocks),	F(struct dx_super, data_blk),
	};
	set_field(sb, &f[below(sizeof(f) / sizeof(f[0]))], "superblock");
	if (fix)
		sb->csum = dx_super_csum(sb);
	return 0;
}

static uint32_t jcrc(const struct dx_journal_entry *e)
{
	struct dx_journal_entry h = *e;

	h.crc = 0;
	return dx_crc32c(dx_crc32c(0, &h, sizeof(h)), e + 1, e->len);
}

static int mut_journal(void)
{
	static const struct field hf[] = {F(struct dx_journal_hdr, magic),
					  F(struct dx_journal_hdr, seq)};
	static const struct field ef[] = {
	    F(struct dx_journal_entry, seq), F(struct dx_journal_entry, off),
	    F(struct dx_journal_entry, len), F(struct dx_journal_entry, crc)};
	struct dx_journal_hdr *h = blk(sb->journal_blk);
	char *area = (char *)h + 64;
	size_t size = sb->journal_blocks * DX_BLOCK_SIZE - 64, pos = 0, n = 0;
	struct dx_journal_entry *ents[64];

	/* the entries of the current transaction, as recovery finds them */
	while (n < 64 && pos + sizeof(struct dx_journal_entry) <= size) {
		struct dx_journal_entry *e = (void *)(area + pos);
		if (e->seq != h->seq || !e->len || e->len > size - pos - sizeof(*e))
			break;
		ents[n++] = e;
		pos += sizeof(*e) + ((e->len + 7) & ~7u);
	}
	if (!n || below(4) == 0) {
		set_field(h, &hf[below(2)], "journal header");
		return 0;
	}
	struct dx_journal_entry *e = ents[below(n)];
	if (below(3) == 0) {
		set_byte((char *)(e + 1) + below(e->len), "journal entry data");
	} else {
		const struct field *f = &ef[below(4)];
		set_field(e, f, "journal entry");
		/* a crafted entry passes the crc; a damaged one does not */
		if (f->off != offsetof(struct dx_journal_entry, crc) && below(2) &&
		    e->len <= size) {
			e->crc = jcrc(e);
			printf("journal entry crc fixed up\n");
		}
	}
	return 0;
}

static int mut_inode(void)
{
	static const struct field f[] = {
	    F(struct dx_inode, mode),	     F(struct dx_inode, nlink),
	    F(struct dx_inode, size),	     F(struct dx_inode, blocks),
	    F(struct dx_inode, parent),	     F(struct dx_inode, flags),
	    F(struct dx_inode, ext_next),    F(struct dx_inode, xattr_blk),
	    F(struct dx_inode, rdev),	     F(struct dx_inode, ext[0].len),
	    F(struct dx_inode, ext[0].pblk), F(struct dx_inode, ext[0].lblk),
	};
	uint64_t v[4096];
	size_t n = inodes_of(0, v, 4096);
	char what[64];

	if (!n)
		return 3;
	uint64_t i = v[below(n)];
	snprintf(what, sizeof(what), "inode %llu", (unsigned long long)i + 1);
	set_field((struct dx_inode *)blk(sb->itable_blk) + i, &f[below(sizeof(f) / sizeof(f[0]))],
		  what);
	return 0;
}

static int mut_bitmap(void)
{
	uint64_t *bm = blk(sb->bitmap_blk);
	uint64_t words = (nblocks + 63) / 64, lo = sb->data_blk / 64;
	/* mostly the words of the data area in use, where a wrong bit hurts */
	uint64_t w = below(4) ? lo + below(2) : below(sb->bitmap_blocks * DX_BLOCK_SIZE / 8);
	uint64_t old = bm[w];

	if (w >= words && below(2))
		w = words - 1;
	old = bm[w];
	switch (below(4)) {
	case 0:
		bm[w] = 0;
		break;
	case 1:
		bm[w] = ~0ULL;
		break;
	default:
		bm[w] ^= 1ULL << below(64);
		break;
	}
	printf("bitmap word %llu (blocks %llu-%llu): %#llx -> %#llx\n", (unsigned long long)w,
	       (unsigned long long)w * 64, (unsigned long long)w * 64 + 63, (unsigned long long)old,
	       (unsigned long long)bm[w]);
	return 0;
}

static int mut_extent(void)
{
	static const struct field f[] = {F(struct dx_extent, lblk), F(struct dx_extent, len),
					 F(struct dx_extent, pblk)};
	static const struct field hf[] = {F(struct dx_extent_block, next),
					  F(struct dx_extent_block, owner)};
	uint64_t v[4096];
	size_t n = inodes_of(S_IFREG, v, 4096);
	struct dx_extent *e[256];
	size_t ne = 0;
	uint64_t i = 0;
	char what[64];

	/* prefer the file with an extent block */
	for (size_t k = 0; k < n; k++) {
		struct dx_inode *d = (struct dx_inode *)blk(sb->itable_blk) + v[k];
		if (d->ext_next && below(2)) {
			i = v[k];
			break;
		}
		if (d->ext[0].len && (!i || below(3) == 0))
			i = v[k];
	}
	ne = extents_of(i, e, 256);
	struct dx_inode *d = (struct dx_inode *)blk(sb->itable_blk) + i;
	if (d->ext_next && blk(d->ext_next) && below(5) == 0) {
		snprintf(what, sizeof(what), "extent block of inode %llu",
			 (unsigned long long)i + 1);
		set_field(blk(d->ext_next), &hf[below(2)], what);
		return 0;
	}
	if (!ne)
		return 3;
	snprintf(what, sizeof(what), "extent of inode %llu", (unsigned long long)i + 1);
	set_field(e[below(ne)], &f[below(3)], what);
	return 0;
}

static int mut_dir(void)
{
	static const struct field f[] = {F(struct dx_dirent, ino), F(struct dx_dirent, type),
					 F(struct dx_dirent, name_len)};
	uint64_t v[4096];
	size_t n = inodes_of(S_IFDIR, v, 4096), ne;
	struct dx_extent *e[64];
	char what[64];

	for (int tries = 0; tries < 16; tries++) {
		uint64_t i = v[below(n)];
		ne = extents_of(i, e, 64);
		if (!ne)
			continue;
		struct dx_extent *x = e[below(ne)];
		struct dx_dirent *de = blk(x->pblk + below(x->len));
		if (!de)
			continue;
		/* a live entry when there is one */
		int s = (int)below(DX_DIRENTS_PER_BLOCK);
		for (int k = 0; k < (int)DX_DIRENTS_PER_BLOCK && !de[s].ino; k++)
			s = (s + 1) % (int)DX_DIRENTS_PER_BLOCK;
		snprintf(what, sizeof(what), "dirent %d of directory %llu", s,
			 (unsigned long long)i + 1);
		if (below(4) == 0)
			set_byte(de[s].name + below(de[s].name_len + 1u), what);
		else
			set_field(&de[s], &f[below(3)], what);
		return 0;
	}
	return 3;
}

static int mut_xattr(void)
{
	uint64_t v[4096];
	size_t n = inodes_of(0, v, 4096), m = 0;
	uint64_t with[4096];
	char what[64];

	for (size_t k = 0; k < n; k++)
		if (((struct dx_inode *)blk(sb->itable_blk) + v[k])->xattr_blk)
			with[m++] = v[k];
	if (!m)
		return 3;
	uint64_t i = with[below(m)];
	char *xb = blk(((struct dx_inode *)blk(sb->itable_blk) + i)->xattr_blk);
	if (!xb)
		return 3;
	/* the records, to hit a header rather than a random byte */
	size_t offs[256], nr = 0, pos = 0;
	while (nr < 256 && pos + sizeof(struct dx_xattr_rec) <= DX_XATTR_SPACE) {
		struct dx_xattr_rec *r = (void *)(xb + pos);
		offs[nr++] = pos;
		if (!r->name_len)
			break;
		pos += (sizeof(*r) + r->name_len + r->value_len + 7) & ~7ul;
	}
	snprintf(what, sizeof(what), "xattr block of inode %llu", (unsigned long long)i + 1);
	struct dx_xattr_rec *r = (void *)(xb + offs[below(nr)]);
	static const struct field f[] = {F(struct dx_xattr_rec, name_len),
					 F(struct dx_xattr_rec, value_len)};
	if (below(4) == 0)
		set_byte(r->data + below(r->name_len + 1u), what);
	else
		set_field(r, &f[below(2)], what);
	return 0;
}

static int mut_symlink(void)
{
	static const struct field f[] = {F(struct dx_inode, size), F(struct dx_inode, ext[0].len),
					 F(struct dx_inode, ext[0].pblk)};
	uint64_t v[4096];
	size_t n = inodes_of(S_IFLNK, v, 4096);
	char what[64];

	if (!n)
		return 3;
	uint64_t i = v[below(n)];
	struct dx_inode *d = (struct dx_inode *)blk(sb->itable_blk) + i;
	snprintf(what, sizeof(what), "symlink inode %llu", (unsigned long long)i + 1);
	if (d->ext[0].len && blk(d->ext[0].pblk) && below(3) == 0) {
		char *t = blk(d->ext[0].pblk);
		set_byte(t + below(d->size < DX_BLOCK_SIZE ? d->size + 1 : DX_BLOCK_SIZE), what);
	} else {
		set_field(d, &f[below(3)], what);
	}
	return 0;
}

static int mut_maprec(void)
{
	static const struct field f[] = {
	    F(struct dx_maprec, kind),	     F(struct dx_maprec, flags),
	    F(struct dx_maprec, lblk),	     F(struct dx_maprec, ino),
	    F(struct dx_maprec, pblk),	     F(struct dx_maprec, nblocks),
	    F(struct dx_maprec, holder_pid), F(struct dx_maprec, holder_start),
	};
	struct dx_maprec *r = blk(sb->maprec_blk);
	uint64_t nrec = sb->maprec_blocks * DX_BLOCK_SIZE / sizeof(*r), s = below(nrec);
	char what[64];

	for (uint64_t k = 0; k < nrec; k++)
		if (r[k].kind) {
			s = k;
			break;
		}
	/* a live record, or a free slot brought to life */
	if (!r[s].kind || below(4) == 0) {
		r[s].kind = (uint16_t)(1 + below(2));
		r[s].ino = below(4) ? 1 + below(sb->ninodes) : rnd();
		r[s].pblk = below(4) ? sb->data_blk + below(nblocks - sb->data_blk) : rnd();
		r[s].nblocks = below(2) ? 1 + below(8) : rnd();
		r[s].holder_pid = below(2) ? 1 : rnd();
	}
	snprintf(what, sizeof(what), "mapping record %llu", (unsigned long long)s);
	set_field(&r[s], &f[below(sizeof(f) / sizeof(f[0]))], what);
	return 0;
}

int main(int argc, char **argv)
{
	struct stat st;
	int fd, cls, ret;

	if (argc != 4) {
		fprintf(stderr, "usage: fuzz-mutate POOL CLASS SEED\n");
		return 2;
	}
	cls = atoi(argv[2]) % C_COUNT;
	rng_state = strtoull(argv[3], NULL, 0) * 1000003ULL + (uint64_t)cls;
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)DX_MIN_POOL_SIZE) {
		fprintf(stderr, "fuzz-mutate: %s: not a pool\n", argv[1]);
		return 2;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		fprintf(stderr, "fuzz-mutate: mmap: %s\n", strerror(errno));
		return 2;
	}
	sb = (struct dx_super *)base;
	if (dx_super_check(sb, (uint64_t)st.st_size)) {
		fprintf(stderr, "fuzz-mutate: %s: %s\n", argv[1], daxfs_errormsg());
		return 2;
	}
	nblocks = sb->nblocks;
	printf("%s: ", class_name[cls]);
	switch (cls) {
	case C_SUPER:
		ret = mut_super(0);
		break;
	case C_SUPER_CSUM:
		ret = mut_super(1);
		break;
	case C_JOURNAL:
		ret = mut_journal();
		break;
	case C_INODE:
		ret = mut_inode();
		break;
	case C_BITMAP:
		ret = mut_bitmap();
		break;
	case C_EXTENT:
		ret = mut_extent();
		break;
	case C_DIR:
		ret = mut_dir();
		break;
	case C_XATTR:
		ret = mut_xattr();
		break;
	case C_SYMLINK:
		ret = mut_symlink();
		break;
	default:
		ret = mut_maprec();
		break;
	}
	if (ret)
		printf("nothing of that kind\n");
	/* metadata_csum: three rounds in four make the checksums match the
	 * damage, to reach the loaders and verifiers behind them; the others
	 * check that a stale checksum is refused. */
	if (!ret && cls > C_SUPER_CSUM && below(4)) {
		long n = fuzz_fix_csums(base, (size_t)st.st_size);
		if (n > 0)
			printf("%ld checksums fixed up\n", n);
	}
	munmap(base, (size_t)st.st_size);
	close(fd);
	return ret;
}
