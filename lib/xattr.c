/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes: one block per inode, copy on write.
 *
 * A change builds the new list in a fresh block, and one transaction swaps
 * the inode's pointer and frees the old block, so a crash shows the old
 * list or the new one.  Guarded by the inode lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include "core.h"
#include "csum.h"
#include "validate.h"

#define REC_HDR 8
#define ROUND8(x) (((x) + 7) & ~(size_t)7)

static size_t rec_size(size_t nlen, size_t vlen)
{
	return REC_HDR + ROUND8(nlen + vlen);
}

static int check_xname(const char *name)
{
	static const char *const ok[] = {"user.", "trusted.", "security."};
	size_t len = strlen(name);

	if (len > DX_NAME_MAX)
		return -ERANGE;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strncmp(name, ok[i], strlen(ok[i])) && len > strlen(ok[i]))
			return 0;
	return -EOPNOTSUPP;
}

/* Iterate the records of a block; returns NULL at the end. */
static struct dx_xattr_rec *rec_next(char *blk, size_t *pos)
{
	struct dx_xattr_rec *r;

	if (!blk || *pos + REC_HDR > DX_XATTR_SPACE)
		return NULL;
	r = (struct dx_xattr_rec *)(blk + *pos);
	if (!r->name_len || *pos + rec_size(r->name_len, r->value_len) > DX_XATTR_SPACE)
		return NULL;
	*pos += rec_size(r->name_len, r->value_len);
	return r;
}

static struct dx_xattr_rec *find(char *blk, const char *name)
{
	size_t pos = 0, len = strlen(name);
	struct dx_xattr_rec *r;

	while ((r = rec_next(blk, &pos)))
		if (r->name_len == len && !memcmp(r->data, name, len))
			return r;
	return NULL;
}

/* The inode's xattr block (NULL: none), validated: 0 or -EUCLEAN. */
static int xblock(struct daxfs *fs, struct dx_ino *ip, char **blkp)
{
	uint64_t b = ip->d->xattr_blk;
	const char *why;

	*blkp = NULL;
	if (!b)
		return 0;
	if (!dx_v_data_range(&fs->sb, b, 1))
		return dx_corrupt(fs, ip->ino, "xattr block", "block %llu is outside the data area",
				  (unsigned long long)b);
	why = dx_csum_xattr_ok(fs, ip->d, b, dx_blk(fs, b)) ? dx_v_xattr_block(dx_blk(fs, b))
							    : "checksum mismatch";
	if (why)
		return dx_corrupt(fs, ip->ino, "xattr block", "%s (block %llu)", why,
				  (unsigned long long)b);
	*blkp = dx_blk(fs, b);
	return 0;
}

DX_EXPORT ssize_t daxfs_getxattr(struct daxfs *fs, uint64_t ino, const char *name, void *value,
				 size_t size)
{
	struct dx_ino *ip;
	struct dx_xattr_rec *r;
	ssize_t ret = check_xname(name);
	char *blk;

	if (ret)
		return ret == -ERANGE ? -ENODATA : ret;
	ip = dx_iget(fs, ino);
	if (!ip)
		return -ENOENT;
	dx_rdlock(&ip->lock);
	ret = xblock(fs, ip, &blk);
	if (!ret) {
		r = find(blk, name);
		if (!r)
			ret = -ENODATA;
		else if (size && size < r->value_len)
			ret = -ERANGE;
		else {
			if (size)
				memcpy(value, r->data + r->name_len, r->value_len);
			ret = r->value_len;
		}
	}
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return ret;
}

DX_EXPORT ssize_t daxfs_listxattr(struct daxfs *fs, uint64_t ino, char *list, size_t size)
{
	struct dx_ino *ip = dx_iget(fs, ino);
	struct dx_xattr_rec *r;
	size_t pos = 0, need = 0;
	char *blk;
	int ret;

	if (!ip)
		return -ENOENT;
	dx_rdlock(&ip->lock);
	ret = xblock(fs, ip, &blk);
	while (!ret && (r = rec_next(blk, &pos))) {
		if (size && need + r->name_len + 1 <= size) {
			memcpy(list + need, r->data, r->name_len);
			list[need + r->name_len] = '\0';
		}
		need += r->name_len + 1u;
	}
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	if (ret)
		return ret;
	if (size && need > size)
		return -ERANGE;
	return (ssize_t)need;
}

/*
 * Write the inode's list, minus name and plus (name, value) when value is
 * given, into a new block and swap it in.
 */
static int rewrite(struct daxfs *fs, struct dx_ino *ip, char *old, const char *name,
		   const void *value, size_t vlen)
{
	char *buf;
	size_t pos = 0, out = 0, nlen = strlen(name);
	struct dx_xattr_rec *r;
	struct dx_time now;
	uint64_t nb = 0;
	int ret = 0;

	buf = calloc(1, DX_XATTR_SPACE);
	if (!buf)
		return -ENOMEM;
	while ((r = rec_next(old, &pos))) {
		size_t rs = rec_size(r->name_len, r->value_len);
		if (r->name_len == nlen && !memcmp(r->data, name, nlen))
			continue;
		memcpy(buf + out, r, rs);
		out += rs;
	}
	if (value) {
		struct dx_xattr_rec *n = (struct dx_xattr_rec *)(buf + out);
		/* Keep room for the terminating empty header. */
		if (vlen > UINT16_MAX || out + rec_size(nlen, vlen) + REC_HDR > DX_XATTR_SPACE) {
			free(buf);
			return -ENOSPC;
		}
		n->name_len = (uint8_t)nlen;
		n->value_len = (uint16_t)vlen;
		memcpy(n->data, name, nlen);
		memcpy(n->data + nlen, value, vlen);
		out += rec_size(nlen, vlen);
	}
	dx_now(&now);
	dx_tx_begin(fs);
	/* The inode's entries ahead, fenced with the allocation's. */
	dx_tx_log(fs, &ip->d->xattr_blk, sizeof(ip->d->xattr_blk));
	dx_tx_log(fs, &ip->d->ctime, sizeof(ip->d->ctime));
	if (out && !dx_alloc_blocks(fs, 0, 1, &nb)) {
		ret = -ENOSPC;
	} else {
		if (out)
			dx_memcpy_nodrain(&fs->pc, dx_blk(fs, nb), buf, DX_XATTR_SPACE);
		if (ip->d->xattr_blk)
			dx_free_blocks(fs, ip->d->xattr_blk, 1);
		dx_tx_add(fs, &ip->d->xattr_blk, sizeof(ip->d->xattr_blk));
		ip->d->xattr_blk = nb;
		/* Logged with the inode's crc by the dx_tx_add above (csum.c). */
		if (fs->csum)
			ip->d->xattr_csum = out ? dx_csum_xattr(fs->csum_seed, nb, buf) : 0;
		dx_touch_time(fs, &ip->d->ctime, &now);
	}
	dx_tx_commit(fs);
	free(buf);
	return ret;
}

DX_EXPORT int daxfs_setxattr(struct daxfs *fs, uint64_t ino, const char *name, const void *value,
			     size_t size, int flags)
{
	struct dx_ino *ip;
	int ret = check_xname(name);
	char *blk;

	if (ret)
		return ret;
	if (fs->readonly)
		return -EROFS;
	ip = dx_iget(fs, ino);
	if (!ip)
		return -ENOENT;
	dx_wrlock(&ip->lock);
	ret = xblock(fs, ip, &blk);
	if (!ret && find(blk, name)) {
		if (flags & XATTR_CREATE)
			ret = -EEXIST;
	} else if (!ret && (flags & XATTR_REPLACE)) {
		ret = -ENODATA;
	}
	if (!ret)
		ret = rewrite(fs, ip, blk, name, value ? value : "", size);
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return ret;
}

DX_EXPORT int daxfs_removexattr(struct daxfs *fs, uint64_t ino, const char *name)
{
	struct dx_ino *ip;
	int ret = check_xname(name);
	char *blk;

	if (ret)
		return ret == -ERANGE ? -ENODATA : ret;
	if (fs->readonly)
		return -EROFS;
	ip = dx_iget(fs, ino);
	if (!ip)
		return -ENOENT;
	dx_wrlock(&ip->lock);
	ret = xblock(fs, ip, &blk);
	if (!ret)
		ret = find(blk, name) ? rewrite(fs, ip, blk, name, NULL, 0) : -ENODATA;
	dx_rwunlock(&ip->lock);
	dx_iput(fs, ip);
	return ret;
}

void dx_xattr_release(struct daxfs *fs, struct dx_ino *ip)
{
	if (!ip->d->xattr_blk)
		return;
	/* dx_free_blocks refuses (and reports) a block outside the data area. */
	dx_free_blocks(fs, ip->d->xattr_blk, 1);
	dx_tx_add(fs, &ip->d->xattr_blk, sizeof(ip->d->xattr_blk));
	ip->d->xattr_blk = 0;
}
