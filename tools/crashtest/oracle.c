/* SPDX-License-Identifier: MIT */
/* oracle.c - see oracle.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "daxfs.h"
#include "oracle.h"

#define ROOT 1

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "daxfs-crashtest: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

struct names {
	char **v;
	size_t n, cap;
};

static int collect(void *ctx, const char *name, const struct stat *st, off_t next)
{
	struct names *nm = ctx;

	(void)st;
	(void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (nm->n == nm->cap) {
		nm->cap = nm->cap ? nm->cap * 2 : 16;
		nm->v = realloc(nm->v, nm->cap * sizeof(*nm->v));
		if (!nm->v)
			exit(2);
	}
	nm->v[nm->n++] = xstrdup(name);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct walk {
	struct daxfs *fs;
	struct ostate *s;
	size_t cap;
	char *why;
	size_t whylen;
};

static int fail(struct walk *w, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct walk *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->why, w->whylen, fmt, ap);
	va_end(ap);
	return err;
}

/* "name=hexvalue;" for each xattr, sorted by name. */
static char *xattrs_of(struct daxfs *fs, uint64_t ino)
{
	char list[4096], *names[128], *out;
	ssize_t ll = daxfs_listxattr(fs, ino, list, sizeof(list));
	size_t n = 0, pos = 0, cap = 1;
	static char v[65536];

	if (ll <= 0)
		return xstrdup(ll < 0 ? "error" : "");
	for (char *p = list; p < list + ll && n < 128; p += strlen(p) + 1)
		names[n++] = p;
	qsort(names, n, sizeof(*names), cmp_str);
	out = xmalloc(cap);
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = daxfs_getxattr(fs, ino, names[i], v, sizeof(v));
		size_t need = strlen(names[i]) + 24 + (vl > 0 ? 2 * (size_t)vl : 0);
		if (pos + need >= cap) {
			cap = (pos + need) * 2;
			out = realloc(out, cap);
			if (!out)
				exit(2);
		}
		pos += (size_t)sprintf(out + pos, "%s=", names[i]);
		if (vl < 0)
			pos += (size_t)sprintf(out + pos, "E%zd", -vl);
		for (ssize_t j = 0; j < vl; j++)
			pos += (size_t)sprintf(out + pos, "%02x", (unsigned char)v[j]);
		out[pos++] = ';';
	}
	out[pos] = '\0';
	return out;
}

static int add(struct walk *w, const char *path, const struct stat *st)
{
	struct ofile *f;

	if (w->s->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 32;
		w->s->f = realloc(w->s->f, w->cap * sizeof(*w->s->f));
		if (!w->s->f)
			exit(2);
	}
	f = &w->s->f[w->s->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	f->mode = st->st_mode;
	f->uid = st->st_uid;
	f->gid = st->st_gid;
	f->nlink = (uint32_t)st->st_nlink;
	f->ino = st->st_ino;
	if (S_ISREG(st->st_mode)) {
		ssize_t n;
		f->size = (uint64_t)st->st_size;
		f->blocks = (uint64_t)st->st_blocks;
		f->clen = f->size;
		f->content = xmalloc(f->clen);
		n = daxfs_pread(w->fs, st->st_ino, f->content, f->clen, 0);
		if (n != (ssize_t)f->clen)
			return fail(w, n < 0 ? (int)n : -EIO, "%s: read of %zu bytes gave %zd",
				    path, f->clen, n);
	} else if (S_ISLNK(st->st_mode)) {
		char t[4096];
		ssize_t n = daxfs_readlink(w->fs, st->st_ino, t, sizeof(t));
		if (n < 0)
			return fail(w, (int)n, "%s: readlink: %s", path, strerror((int)-n));
		f->size = (uint64_t)st->st_size;
		f->clen = (size_t)n;
		f->content = xmalloc(f->clen);
		memcpy(f->content, t, f->clen);
	}
	f->xattrs = xattrs_of(w->fs, st->st_ino);
	return 0;
}

static int walk_dir(struct walk *w, uint64_t dir, const char *path)
{
	struct names nm = {0};
	int ret = daxfs_readdir(w->fs, dir, 0, 0, collect, &nm);

	if (ret < 0)
		return fail(w, ret, "%s: readdir: %s", path, strerror(-ret));
	if (nm.n)
		qsort(nm.v, nm.n, sizeof(*nm.v), cmp_str);
	for (size_t i = 0; i < nm.n && !ret; i++) {
		char sub[4096];
		struct stat st;

		snprintf(sub, sizeof(sub), "%s/%s", path, nm.v[i]);
		ret = daxfs_lookup(w->fs, dir, nm.v[i], &st);
		if (ret) {
			ret = fail(w, ret, "%s: lookup of a listed name: %s", sub, strerror(-ret));
			break;
		}
		ret = add(w, sub, &st);
		if (!ret && S_ISDIR(st.st_mode))
			ret = walk_dir(w, st.st_ino, sub);
		daxfs_forget(w->fs, st.st_ino, 1);
	}
	for (size_t i = 0; i < nm.n; i++)
		free(nm.v[i]);
	free(nm.v);
	return ret;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct ofile *)a)->path, ((const struct ofile *)b)->path);
}

int ostate_take(struct daxfs *fs, struct ostate *s, char *why, size_t whylen)
{
	struct walk w = {fs, s, 0, why, whylen};
	struct stat st;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = daxfs_getattr(fs, ROOT, &st);
	if (ret)
		return fail(&w, ret, "getattr of the root: %s", strerror(-ret));
	ret = add(&w, "/", &st);
	if (!ret)
		ret = walk_dir(&w, ROOT, "");
	qsort(s->f, s->n, sizeof(*s->f), cmp_path);
	/* Hard links: every path names the first path of its inode. */
	for (size_t i = 0; i < s->n; i++) {
		size_t j;
		for (j = 0; j < i; j++)
			if (s->f[j].ino == s->f[i].ino)
				break;
		s->f[i].group = s->f[j].path;
	}
	return ret;
}

void ostate_free(struct ostate *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->f[i].path);
		free(s->f[i].content);
		free(s->f[i].xattrs);
	}
	free(s->f);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *p, size_t n)
{
	return p ? memcpy(xmalloc(n), p, n) : NULL;
}

void ostate_copy(struct ostate *dst, const struct ostate *src)
{
	dst->n = src->n;
	dst->f = xmalloc(src->n * sizeof(*dst->f));
	for (size_t i = 0; i < src->n; i++) {
		const struct ofile *a = &src->f[i];
		struct ofile *b = &dst->f[i];
		*b = *a;
		b->path = xstrdup(a->path);
		b->content = dup_or_null(a->content, a->clen);
		b->xattrs = a->xattrs ? xstrdup(a->xattrs) : NULL;
	}
	/* The hard-link groups point at paths of the copy. */
	for (size_t i = 0; i < src->n; i++)
		for (size_t j = 0; j <= i; j++)
			if (src->f[i].group == src->f[j].path) {
				dst->f[i].group = dst->f[j].path;
				break;
			}
}

const struct ofile *ostate_find(const struct ostate *s, const char *path)
{
	struct ofile key = {.path = (char *)path};

	return bsearch(&key, s->f, s->n, sizeof(*s->f), cmp_path);
}

static bool content_ok(const struct ofile *w, const struct ofile *g, const struct orelax *rx,
		       char *why, size_t whylen)
{
	/* The bytes written in place show through every link of the file. */
	bool mix = rx && rx->path && S_ISREG(w->mode) &&
		   (!strcmp(rx->path, w->path) || (rx->group && !strcmp(rx->group, w->group)));

	if (w->clen == g->clen && (!w->clen || !memcmp(w->content, g->content, w->clen)))
		return true;
	if (mix && w->clen == g->clen) {
		for (size_t i = 0; i < g->clen; i++) {
			char o = i < rx->old_size ? rx->old[i] : 0;
			char n = i < rx->new_size ? rx->new[i] : 0;
			/* Below the old size: the old byte or the new one;
			 * above it, only what the state compared with has. */
			if (g->content[i] == w->content[i] ||
			    (i < rx->old_size && (g->content[i] == o || g->content[i] == n)))
				continue;
			snprintf(why, whylen,
				 "%s: byte %zu is %#x, neither old (%#x) nor new (%#x)", w->path, i,
				 (unsigned char)g->content[i], (unsigned char)o,
				 (unsigned char)w->content[i]);
			return false;
		}
		return true;
	}
	for (size_t i = 0; i < w->clen && i < g->clen; i++)
		if (w->content[i] != g->content[i]) {
			snprintf(why, whylen, "%s: byte %zu is %#x, want %#x", w->path, i,
				 (unsigned char)g->content[i], (unsigned char)w->content[i]);
			return false;
		}
	snprintf(why, whylen, "%s: %zu bytes of content, want %zu", w->path, g->clen, w->clen);
	return false;
}

bool ostate_equal(const struct ostate *want, const struct ostate *got, const struct orelax *rx,
		  char *why, size_t whylen)
{
	size_t i;

	for (i = 0; i < want->n && i < got->n; i++) {
		const struct ofile *w = &want->f[i], *g = &got->f[i];
		if (strcmp(w->path, g->path)) {
			snprintf(why, whylen, "path %s where %s was expected", g->path, w->path);
			return false;
		}
		if (w->mode != g->mode || w->uid != g->uid || w->gid != g->gid ||
		    w->nlink != g->nlink || w->size != g->size || w->blocks != g->blocks) {
			snprintf(why, whylen,
				 "%s: mode %o uid %u gid %u nlink %u size %llu blocks %llu, want "
				 "mode %o uid %u gid %u nlink %u size %llu blocks %llu",
				 w->path, g->mode, g->uid, g->gid, g->nlink,
				 (unsigned long long)g->size, (unsigned long long)g->blocks,
				 w->mode, w->uid, w->gid, w->nlink, (unsigned long long)w->size,
				 (unsigned long long)w->blocks);
			return false;
		}
		if (strcmp(w->group, g->group)) {
			snprintf(why, whylen, "%s: the same inode as %s, want as %s", w->path,
				 g->group, w->group);
			return false;
		}
		if (!content_ok(w, g, rx, why, whylen))
			return false;
		if (strcmp(w->xattrs, g->xattrs)) {
			snprintf(why, whylen, "%s: xattrs %.60s, want %.60s", w->path, g->xattrs,
				 w->xattrs);
			return false;
		}
	}
	if (i < want->n || i < got->n) {
		snprintf(why, whylen, "%s %s", i < want->n ? "missing:" : "unexpected:",
			 i < want->n ? want->f[i].path : got->f[i].path);
		return false;
	}
	return true;
}

bool ostate_isolated(const struct ostate *ref, const struct ostate *got, const uint64_t *skip,
		     size_t nskip, char *why, size_t whylen)
{
	for (size_t i = 0; i < ref->n; i++) {
		const struct ofile *r = &ref->f[i];
		bool named = false;

		for (size_t j = 0; j < nskip; j++)
			named |= skip[j] == r->ino;
		/* Links of one inode: the first path stands for all. */
		if (!S_ISREG(r->mode) || named || r->group != r->path)
			continue;
		for (size_t j = 0; j < got->n; j++) {
			const struct ofile *g = &got->f[j];
			if (g->ino != r->ino || !S_ISREG(g->mode))
				continue;
			if (g->clen != r->clen ||
			    (r->clen && memcmp(g->content, r->content, r->clen))) {
				size_t b = 0;
				while (b < r->clen && b < g->clen && g->content[b] == r->content[b])
					b++;
				snprintf(
				    why, whylen,
				    "isolation: %s (inode %llu), which the op does not write, "
				    "changed: %zu bytes, was %zu, first difference at byte %zu",
				    g->path, (unsigned long long)r->ino, g->clen, r->clen, b);
				return false;
			}
			break;
		}
	}
	return true;
}

bool ostate_clone_step(const struct ostate *before, const struct ostate_clone *c,
		       struct ostate *out)
{
	const struct ofile *s = ostate_find(before, c->src), *d = ostate_find(before, c->dst);
	const uint64_t B = 4096;
	uint64_t size, nsize, old;
	int64_t dblocks = 0;
	char *buf;

	if (!s || !d || !S_ISREG(s->mode) || !S_ISREG(d->mode) || c->sb + c->k > c->nmap ||
	    c->db + c->k > c->nmap)
		return false;
	old = d->size;
	nsize = (c->db + c->k) * B;
	size = nsize > old ? nsize : old;
	buf = xmalloc(size);
	memset(buf, 0, size);
	memcpy(buf, d->content, old);
	for (uint64_t j = 0; j < c->k; j++) {
		uint64_t from = (c->sb + j) * B, to = (c->db + j) * B;
		/* Zero where the source has no bytes (its holes read as 0 too). */
		memset(buf + to, 0, B);
		if (from < s->size)
			memcpy(buf + to, s->content + from,
			       s->size - from < B ? s->size - from : B);
		dblocks += (int64_t)c->smap[c->sb + j] - (int64_t)c->dmap[c->db + j];
	}
	ostate_copy(out, before);
	for (size_t i = 0; i < out->n; i++) {
		struct ofile *f = &out->f[i];
		if (strcmp(f->group, d->group))
			continue;
		free(f->content);
		f->content = dup_or_null(buf, size);
		f->clen = size;
		f->size = size;
		/* st_blocks counts 512-byte units. */
		f->blocks = (uint64_t)((int64_t)f->blocks + dblocks * (int64_t)(B / 512));
	}
	free(buf);
	return true;
}

static int delete_dir(struct daxfs *fs, uint64_t dir, const char *path, char *why, size_t wl)
{
	struct names nm = {0};
	int ret = daxfs_readdir(fs, dir, 0, 0, collect, &nm);

	for (size_t i = 0; i < nm.n && !ret; i++) {
		struct stat st;
		ret = daxfs_lookup(fs, dir, nm.v[i], &st);
		if (ret) {
			snprintf(why, wl, "%s/%s: lookup: %s", path, nm.v[i], strerror(-ret));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, nm.v[i]);
			ret = delete_dir(fs, st.st_ino, sub, why, wl);
			daxfs_forget(fs, st.st_ino, 1);
			if (!ret && (ret = daxfs_rmdir(fs, dir, nm.v[i])))
				snprintf(why, wl, "rmdir %s: %s", sub, strerror(-ret));
		} else {
			daxfs_forget(fs, st.st_ino, 1);
			if ((ret = daxfs_unlink(fs, dir, nm.v[i])))
				snprintf(why, wl, "unlink %s/%s: %s", path, nm.v[i],
					 strerror(-ret));
		}
	}
	if (ret < 0 && !*why)
		snprintf(why, wl, "%s: readdir: %s", path, strerror(-ret));
	for (size_t i = 0; i < nm.n; i++)
		free(nm.v[i]);
	free(nm.v);
	return ret;
}

int ostate_delete_all(struct daxfs *fs, char *why, size_t whylen)
{
	*why = '\0';
	return delete_dir(fs, ROOT, "", why, whylen);
}
