/* SPDX-License-Identifier: MIT */
/*
 * check.c - an independent consistency check of a pool, and a snapshot of
 * what a user can observe in it.  See unit.h.
 *
 * The check reads the on-media format (format.h) itself rather than lib/'s
 * extent maps and directory indexes, so that a bug in those cannot hide
 * from it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "core.h"
#include "unit.h"

/* ---- consistency check ---- */

struct rec {
	uint64_t lblk, len, pblk;
};

struct fck {
	struct daxfs *fs;
	uint64_t *want;	   /* blocks that something owns */
	uint32_t *dclaims; /* reflink pools: file extents that map each block */
	uint32_t *refs;	   /* directory entries naming each inode */
	uint32_t *subdirs; /* subdirectories of each directory */
	uint64_t *seen_in; /* the directory that names each directory */
	int problems;
	bool allow_orphans;
};

static void problem(struct fck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fck *c, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	if (c->problems++ >= 12)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t_note("fsck: %s", msg);
}

static void mark(struct fck *c, uint64_t b, uint64_t len, uint64_t ino, const char *what)
{
	const struct dx_super *sb = &c->fs->sb;

	if (b < sb->data_blk || b >= sb->nblocks || len > sb->nblocks - b) {
		problem(c, "ino %llu: %s blocks [%llu, +%llu) outside the data area",
			(unsigned long long)ino, what, (unsigned long long)b,
			(unsigned long long)len);
		return;
	}
	for (uint64_t i = b; i < b + len; i++) {
		/* File data may be shared between extents (reflink); the
		 * counts are checked against the table at the end. */
		if (c->dclaims && !strcmp(what, "data") && c->dclaims[i]++)
			continue;
		if (c->want[i >> 6] >> (i & 63) & 1) {
			problem(c, "ino %llu: %s block %llu is owned twice",
				(unsigned long long)ino, what, (unsigned long long)i);
			continue;
		}
		c->want[i >> 6] |= 1ULL << (i & 63);
	}
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

/* The inode's extent records, sorted by file block; marks what they own. */
static struct rec *collect(struct fck *c, uint64_t ino, const struct dx_inode *d, size_t *np)
{
	struct daxfs *fs = c->fs;
	struct rec *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t b = d->ext_next, guard = fs->sb.nblocks, sum = 0;
	const struct dx_extent *slots = d->ext;
	int nslots = DX_INLINE_EXTENTS;

	for (;;) {
		for (int i = 0; i < nslots; i++) {
			if (!slots[i].len)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = realloc(v, cap * sizeof(*v));
				if (!v)
					abort();
			}
			v[n++] = (struct rec){slots[i].lblk, slots[i].len, slots[i].pblk};
		}
		if (!b)
			break;
		if (b < fs->sb.data_blk || b >= fs->sb.nblocks || !guard--) {
			problem(c, "ino %llu: bad extent block %llu", (unsigned long long)ino,
				(unsigned long long)b);
			break;
		}
		mark(c, b, 1, ino, "extent-block");
		{
			const struct dx_extent_block *eb = dx_blk(fs, b);
			if (eb->owner != ino)
				problem(c, "ino %llu: extent block %llu says owner %llu",
					(unsigned long long)ino, (unsigned long long)b,
					(unsigned long long)eb->owner);
			slots = eb->ext;
			nslots = DX_EXTENTS_PER_BLOCK;
			b = eb->next;
		}
	}
	if (n) /* qsort wants a non-NULL base even for no elements */
		qsort(v, n, sizeof(*v), rec_cmp);
	for (size_t i = 0; i < n; i++) {
		if (v[i].len > DX_EXTENT_MAX_LEN || v[i].lblk + v[i].len > DX_MAX_FILE_BLOCKS)
			problem(c, "ino %llu: extent [%llu, +%llu) too long",
				(unsigned long long)ino, (unsigned long long)v[i].lblk,
				(unsigned long long)v[i].len);
		if (i && v[i - 1].lblk + v[i - 1].len > v[i].lblk)
			problem(c, "ino %llu: extents overlap at file block %llu",
				(unsigned long long)ino, (unsigned long long)v[i].lblk);
		mark(c, v[i].pblk, v[i].len, ino, "data");
		sum += v[i].len;
	}
	if (sum != d->blocks)
		problem(c, "ino %llu: blocks field %llu, extents hold %llu",
			(unsigned long long)ino, (unsigned long long)d->blocks,
			(unsigned long long)sum);
	*np = n;
	return v;
}

static const struct rec *rec_find(const struct rec *v, size_t n, uint64_t lblk)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].lblk + v[mid].len <= lblk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].lblk <= lblk ? &v[lo] : NULL;
}

static int dirent_cmp(const void *a, const void *b)
{
	const struct dx_dirent *x = *(const struct dx_dirent *const *)a;
	const struct dx_dirent *y = *(const struct dx_dirent *const *)b;
	size_t l = x->name_len < y->name_len ? x->name_len : y->name_len;
	int r = memcmp(x->name, y->name, l);

	return r ? r : (int)x->name_len - (int)y->name_len;
}

static void check_dir(struct fck *c, uint64_t ino, const struct dx_inode *d, const struct rec *v,
		      size_t n)
{
	struct daxfs *fs = c->fs;
	uint64_t nb = d->size / DX_BLOCK_SIZE;
	const struct dx_dirent **names = NULL;
	size_t nn = 0, cap = 0;

	if (d->size % DX_BLOCK_SIZE)
		problem(c, "dir %llu: size %llu is not whole blocks", (unsigned long long)ino,
			(unsigned long long)d->size);
	for (uint64_t lb = 0; lb < nb; lb++) {
		const struct rec *r = rec_find(v, n, lb);
		const struct dx_dirent *de;

		if (!r) {
			problem(c, "dir %llu: block %llu is missing", (unsigned long long)ino,
				(unsigned long long)lb);
			continue;
		}
		de = dx_blk(fs, r->pblk + (lb - r->lblk));
		for (size_t s = 0; s < DX_DIRENTS_PER_BLOCK; s++, de++) {
			const struct dx_inode *t;

			if (!de->ino)
				continue;
			if (de->ino > fs->sb.ninodes || !fs->itable[de->ino - 1].mode) {
				problem(c, "dir %llu: entry %.*s names free inode %llu",
					(unsigned long long)ino, de->name_len, de->name,
					(unsigned long long)de->ino);
				continue;
			}
			t = &fs->itable[de->ino - 1];
			if (!de->name_len || memchr(de->name, '/', de->name_len) ||
			    memchr(de->name, '\0', de->name_len) ||
			    (de->name_len == 1 && de->name[0] == '.') ||
			    (de->name_len == 2 && !memcmp(de->name, "..", 2)))
				problem(c, "dir %llu: bad name in slot %llu",
					(unsigned long long)ino,
					(unsigned long long)(lb * DX_DIRENTS_PER_BLOCK + s));
			if (de->type != ((t->mode & S_IFMT) >> 12))
				problem(c, "dir %llu: entry %.*s type %u, inode mode %o",
					(unsigned long long)ino, de->name_len, de->name, de->type,
					t->mode);
			c->refs[de->ino - 1]++;
			if (S_ISDIR(t->mode)) {
				c->subdirs[ino - 1]++;
				if (c->seen_in[de->ino - 1])
					problem(c, "dir %llu has two names",
						(unsigned long long)de->ino);
				c->seen_in[de->ino - 1] = ino;
			}
			if (nn == cap) {
				cap = cap ? cap * 2 : 64;
				names = realloc(names, cap * sizeof(*names));
				if (!names)
					abort();
			}
			names[nn++] = de;
		}
	}
	if (nn)
		qsort(names, nn, sizeof(*names), dirent_cmp);
	for (size_t i = 1; i < nn; i++)
		if (!dirent_cmp(&names[i - 1], &names[i]))
			problem(c, "dir %llu: name %.*s appears twice", (unsigned long long)ino,
				names[i]->name_len, names[i]->name);
	free(names);
}

int t_fsck(struct daxfs *fs, bool allow_orphans)
{
	const struct dx_super *sb = &fs->sb;
	uint64_t words = (sb->nblocks + 63) / 64, free_slots = 0, free_bits = 0;
	uint64_t leaked = 0, lost = 0;
	struct fck c = {.fs = fs, .allow_orphans = allow_orphans};

	c.want = calloc(words, sizeof(uint64_t));
	c.refs = calloc(sb->ninodes, sizeof(uint32_t));
	c.subdirs = calloc(sb->ninodes, sizeof(uint32_t));
	c.seen_in = calloc(sb->ninodes, sizeof(uint64_t));
	if (fs->refc)
		c.dclaims = calloc(sb->nblocks, sizeof(uint32_t));
	if (!c.want || !c.refs || !c.subdirs || !c.seen_in || (fs->refc && !c.dclaims))
		abort();
	for (uint64_t b = 0; b < sb->data_blk; b++)
		c.want[b >> 6] |= 1ULL << (b & 63);

	for (uint64_t i = 0; i < sb->ninodes; i++) {
		const struct dx_inode *d = &fs->itable[i];
		struct rec *v;
		size_t n;

		if (!d->mode) {
			free_slots++;
			continue;
		}
		if (!d->nlink && !allow_orphans)
			problem(&c, "ino %llu: orphan (mode %o, nlink 0)",
				(unsigned long long)i + 1, d->mode);
		v = collect(&c, i + 1, d, &n);
		if (d->xattr_blk)
			mark(&c, d->xattr_blk, 1, i + 1, "xattr");
		if (S_ISDIR(d->mode))
			check_dir(&c, i + 1, d, v, n);
		else if (S_ISLNK(d->mode) &&
			 (d->size == 0 || d->size > DX_SYMLINK_MAX || !rec_find(v, n, 0)))
			problem(&c, "symlink %llu: size %llu or block missing",
				(unsigned long long)i + 1, (unsigned long long)d->size);
		else if (!S_ISREG(d->mode) && !S_ISLNK(d->mode) && n)
			problem(&c, "ino %llu: a special file with blocks",
				(unsigned long long)i + 1);
		free(v);
	}

	/* Quarantined runs are in use and owned by no inode (format.h). */
	for (uint64_t i = 0; i < sb->maprec_blocks * DX_BLOCK_SIZE / sizeof(struct dx_maprec);
	     i++) {
		const struct dx_maprec *r = &fs->maprecs[i];
		if (r->kind == DX_MAPREC_QUARANTINE)
			mark(&c, r->pblk, r->nblocks, 0, "quarantine");
		else if (r->kind == DX_MAPREC_SNAP || r->kind == DX_MAPREC_HELD)
			/* One reference each, as one more data extent. */
			mark(&c, r->pblk, r->nblocks, 0, c.dclaims ? "data" : "snapshot");
		else if (r->kind && r->kind != DX_MAPREC_MAP)
			problem(&c, "mapping record %llu: unknown kind %u", (unsigned long long)i,
				r->kind);
	}

	/* Link counts and the tree, from the entries counted above. */
	for (uint64_t i = 0; i < sb->ninodes; i++) {
		const struct dx_inode *d = &fs->itable[i];
		uint64_t want;

		if (!d->mode || (!d->nlink && allow_orphans))
			continue;
		if (i == 0) {
			if (!S_ISDIR(d->mode) || d->parent != DX_ROOT_INO || c.refs[0])
				problem(&c, "root: mode %o parent %llu, named %u times", d->mode,
					(unsigned long long)d->parent, c.refs[0]);
		} else if (!c.refs[i]) {
			problem(&c, "ino %llu: live (nlink %u) but in no directory",
				(unsigned long long)i + 1, d->nlink);
			continue;
		}
		want = S_ISDIR(d->mode) ? 2 + c.subdirs[i] : c.refs[i];
		if (d->nlink != want)
			problem(&c, "ino %llu: nlink %u, want %llu", (unsigned long long)i + 1,
				d->nlink, (unsigned long long)want);
		if (S_ISDIR(d->mode) && i && d->parent != c.seen_in[i])
			problem(&c, "dir %llu: parent %llu, but it is named in %llu",
				(unsigned long long)i + 1, (unsigned long long)d->parent,
				(unsigned long long)c.seen_in[i]);
		if (!S_ISDIR(d->mode) && d->parent)
			problem(&c, "ino %llu: a non-directory with a parent field",
				(unsigned long long)i + 1);
	}

	/* The bitmap against what the inodes own. */
	for (uint64_t b = 0; b < sb->nblocks; b++) {
		bool have = fs->bitmap[b >> 6] >> (b & 63) & 1,
		     want = c.want[b >> 6] >> (b & 63) & 1;
		free_bits += !have;
		if (have && !want)
			leaked++;
		if (!have && want)
			lost++;
	}
	for (uint64_t b = 0; c.dclaims && b < sb->nblocks; b++) {
		uint32_t want = c.dclaims[b] ? c.dclaims[b] - 1 : 0;

		if (fs->refc[b] != want)
			problem(&c, "block %llu: reference count %u, %u extents map it",
				(unsigned long long)b, fs->refc[b], c.dclaims[b]);
	}
	if (leaked)
		problem(&c, "%llu blocks marked in use that nothing owns",
			(unsigned long long)leaked);
	if (lost)
		problem(&c, "%llu owned blocks marked free", (unsigned long long)lost);
	/* Free blocks of granules not reserved yet are counted apart, as are
	 * slots past the reserved part of the table (lib/backing.c). */
	if (free_bits != fs->free_blocks + fs->unbacked_free)
		problem(&c, "free block count %llu (+%llu unreserved), bitmap says %llu",
			(unsigned long long)fs->free_blocks, (unsigned long long)fs->unbacked_free,
			(unsigned long long)free_bits);
	if (free_slots != fs->free_inodes + (fs->sb.ninodes - fs->imark_backed))
		problem(&c, "free inode count %llu, inode table says %llu",
			(unsigned long long)fs->free_inodes, (unsigned long long)free_slots);
	if (fs->jr.hdr->magic != DX_JOURNAL_MAGIC)
		problem(&c, "journal header magic is gone");

	free(c.want);
	free(c.dclaims);
	free(c.refs);
	free(c.subdirs);
	free(c.seen_in);
	return c.problems;
}

/* ---- snapshot ---- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (b->s && (size_t)n < room)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	b->len += (size_t)n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

struct names {
	char **v;
	size_t n, cap;
};

static int collect_name(void *ctx, const char *name, const struct stat *st, off_t next)
{
	struct names *nm = ctx;

	(void)st;
	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 32;
		nm->v = realloc(nm->v, nm->cap * sizeof(*nm->v));
		if (!nm->v)
			abort();
	}
	nm->v[nm->n++] = strdup(name);
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Content checksum of a file: its data segments with their offsets. */
static uint64_t content_hash(struct daxfs *fs, uint64_t ino, uint64_t size)
{
	static char buf[1 << 16];
	uint64_t h = 0xcbf29ce484222325ULL;
	off_t pos = 0;

	while ((uint64_t)pos < size) {
		off_t data = daxfs_lseek(fs, ino, pos, SEEK_DATA), hole;
		if (data < 0)
			break;
		hole = daxfs_lseek(fs, ino, data, SEEK_HOLE);
		if (hole < 0)
			break;
		h = fnv(h, &data, sizeof(data));
		for (pos = data; pos < hole;) {
			size_t want =
			    (size_t)(hole - pos) < sizeof(buf) ? (size_t)(hole - pos) : sizeof(buf);
			ssize_t got = daxfs_pread(fs, ino, buf, want, pos);
			if (got <= 0)
				return h ^ 1;
			h = fnv(h, buf, (size_t)got);
			pos += got;
		}
	}
	return h;
}

static void describe(struct daxfs *fs, struct sbuf *b, const char *path, const struct stat *st)
{
	char list[4096];
	ssize_t ll;

	sb_printf(b,
		  "%s ino=%llu mode=%o nlink=%lu uid=%u gid=%u size=%lld blocks=%lld "
		  "mtime=%lld.%09ld ctime=%lld.%09ld",
		  path, (unsigned long long)st->st_ino, st->st_mode, (unsigned long)st->st_nlink,
		  st->st_uid, st->st_gid, (long long)st->st_size, (long long)st->st_blocks,
		  (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
		  st->st_ctim.tv_nsec);
	if (S_ISREG(st->st_mode))
		sb_printf(b, " data=%016llx",
			  (unsigned long long)content_hash(fs, st->st_ino, (uint64_t)st->st_size));
	if (S_ISLNK(st->st_mode)) {
		char t[DX_SYMLINK_MAX + 1];
		ssize_t n = daxfs_readlink(fs, st->st_ino, t, sizeof(t));
		sb_printf(b, " target=%.*s", n > 0 ? (int)n : 0, t);
	}
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		sb_printf(b, " rdev=%llx", (unsigned long long)st->st_rdev);
	ll = daxfs_listxattr(fs, st->st_ino, list, sizeof(list));
	if (ll > 0) {
		char *names[256];
		size_t n = 0;
		for (char *p = list; p < list + ll && n < 256; p += strlen(p) + 1)
			names[n++] = p;
		qsort(names, n, sizeof(*names), str_cmp);
		for (size_t i = 0; i < n; i++) {
			char v[65536];
			ssize_t vl = daxfs_getxattr(fs, st->st_ino, names[i], v, sizeof(v));
			sb_printf(b, " x:%s=%016llx", names[i],
				  (unsigned long long)(vl < 0 ? (uint64_t)vl
							      : fnv(0xcbf29ce484222325ULL, v,
								    (size_t)vl)));
		}
	}
	sb_printf(b, "\n");
}

static void walk(struct daxfs *fs, struct sbuf *b, uint64_t dir, const char *path)
{
	struct names nm = {0};
	char *sub;

	daxfs_readdir(fs, dir, 0, 0, collect_name, &nm);
	if (nm.n)
		qsort(nm.v, nm.n, sizeof(*nm.v), str_cmp);
	for (size_t i = 0; i < nm.n; i++) {
		struct stat st;
		int ret = daxfs_lookup(fs, dir, nm.v[i], &st);

		if (asprintf(&sub, "%s/%s", path, nm.v[i]) < 0)
			abort();
		if (ret) {
			sb_printf(b, "%s lookup=%d\n", sub, ret);
		} else {
			describe(fs, b, sub, &st);
			if (S_ISDIR(st.st_mode))
				walk(fs, b, st.st_ino, sub);
			daxfs_forget(fs, st.st_ino, 1);
		}
		free(sub);
		free(nm.v[i]);
	}
	free(nm.v);
}

char *t_snapshot(struct daxfs *fs)
{
	struct sbuf b = {0};
	struct statvfs sv;
	struct stat st;

	daxfs_statfs(fs, &sv);
	sb_printf(&b, "free blocks=%llu inodes=%llu\n", (unsigned long long)sv.f_bfree,
		  (unsigned long long)sv.f_ffree);
	if (daxfs_getattr(fs, DX_ROOT_INO, &st) == 0)
		describe(fs, &b, "/", &st);
	walk(fs, &b, DX_ROOT_INO, "");
	return b.s;
}

void t_snapshot_diff(const char *a, const char *b)
{
	while (*a && *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t la = ea ? (size_t)(ea - a) : strlen(a),
		       lb = eb ? (size_t)(eb - b) : strlen(b);

		if (la != lb || memcmp(a, b, la)) {
			t_note("  %.*s", (int)la, a);
			t_note("  %.*s", (int)lb, b);
			return;
		}
		a += la + (ea != NULL);
		b += lb + (eb != NULL);
	}
	if (*a || *b)
		t_note("  one snapshot is longer: %.80s", *a ? a : b);
}
