/* SPDX-License-Identifier: MIT */
/*
 * namei.c - the namespace: lookup, create, link, unlink, rename, readlink.
 *
 * Every change runs with fs->ns_lock held exclusive and is one transaction,
 * so a crash leaves either the old or the new name in place, never both
 * and never neither.  Space is checked inside the transaction before the
 * first store, so a transaction never has to be undone at run time.
 */
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define DX_LINK_MAX 65000u

static int check_name(const char *name, size_t *len)
{
	*len = strlen(name);
	if (*len > DX_NAME_MAX)
		return -ENAMETOOLONG;
	if (!*len || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

DX_EXPORT int daxfs_lookup(struct daxfs *fs, uint64_t parent, const char *name, struct stat *st)
{
	struct dx_ino *dp, *ip;
	struct dx_dirent *de;
	size_t len = strlen(name);
	int ret;

	if (len > DX_NAME_MAX)
		return -ENAMETOOLONG;
	ret = dx_iget_loaded(fs, parent, S_IFDIR, &dp);
	if (ret)
		return ret;
	dx_rdlock(&fs->ns_lock);
	if (!strcmp(name, "."))
		ip = dx_iget(fs, parent);
	else if (!strcmp(name, ".."))
		ip = dx_iget(fs, dp->d->parent);
	else
		ip = (de = dx_dir_find(fs, dp, name, len, NULL)) ? dx_iget(fs, de->ino) : NULL;
	if (ip) {
		dx_rdlock(&ip->lock);
		dx_fill_stat(fs, ip, st);
		dx_rwunlock(&ip->lock);
		dx_ilookup_ref(fs, ip);
	}
	dx_rwunlock(&fs->ns_lock);
	dx_iput(fs, ip);
	dx_iput(fs, dp);
	return ip ? 0 : -ENOENT;
}

/* Create name in parent: regular files, devices, fifos, sockets, dirs,
 * symlinks (target != NULL). */
static int create(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		  const char *target, const struct daxfs_cred *cred, struct stat *st)
{
	struct dx_ino *dp, *ip;
	size_t len, tlen = target ? strlen(target) : 0;
	uint64_t need, tblk = 0;
	gid_t gid = cred->gid;
	struct dx_time now;
	int ret;

	if (fs->readonly)
		return -EROFS;
	ret = check_name(name, &len);
	if (ret)
		return ret == -EINVAL ? -EEXIST : ret;
	if (target && (tlen == 0 || tlen > DX_SYMLINK_MAX))
		return tlen ? -ENAMETOOLONG : -ENOENT;
	ret = dx_iget_loaded(fs, parent, S_IFDIR, &dp);
	if (ret)
		return ret;
	dx_wrlock(&fs->ns_lock);
	/* The directory's own lock too: its times and link count change. */
	dx_wrlock(&dp->lock);
	if (dp->d->nlink == 0) {
		ret = -ENOENT; /* the directory was removed */
		goto out;
	}
	if (dx_dir_find(fs, dp, name, len, NULL)) {
		ret = -EEXIST;
		goto out;
	}
	if (S_ISDIR(mode) && dp->d->nlink >= DX_LINK_MAX) {
		ret = -EMLINK;
		goto out;
	}
	/* BSD group semantics under a setgid directory, as on ext4. */
	if (dp->d->mode & S_ISGID) {
		gid = dp->d->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
		else if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && cred->uid != 0 &&
			 !dx_cred_in_group(cred, gid))
			mode &= ~S_ISGID;
	}
	/*
	 * Every block the change takes: the directory's growth, and for a
	 * symlink the target's block (a new inode maps it in an inline
	 * extent slot, so no extent block).  The count is checked, and the
	 * blocks are taken, before anything else is stored, so that a
	 * failure changes nothing (what was taken is given back at commit).
	 */
	need = dx_dir_add_need(dp) + (target ? 1 : 0);
	dx_now(&now);
	dx_tx_begin(fs);
	if (fs->free_blocks < need || !fs->free_inodes) {
		dx_tx_commit(fs); /* nothing logged: a no-op */
		ret = -ENOSPC;
		goto out;
	}
	/* The undo entries of the parent first, unsealed: the first
	 * dx_tx_add below (the symlink block's bitmap, the directory's
	 * growth, or else the new inode's mode) fences them all at once. */
	dx_log_inode(fs, dp, dx_dir_add_need(dp) != 0);
	if (target && !dx_alloc_blocks(fs, 0, 1, &tblk)) {
		dx_tx_commit(fs); /* only logged: nothing changed */
		ret = -ENOSPC;
		goto out;
	}
	ret = dx_dir_reserve(fs, dp);
	if (ret) {
		if (target)
			dx_free_blocks(fs, tblk, 1);
		dx_tx_commit(fs);
		goto out;
	}
	/* From here on nothing can fail for want of space. */
	dx_dir_log(fs, dx_dir_next_slot(dp), sizeof(uint64_t));
	ip = dx_inode_create(fs, mode, cred->uid, gid, rdev);
	if (!ip)
		abort(); /* a free inode was counted; recovery rolls back */
	ip->d->nlink = S_ISDIR(mode) ? 2 : 1;
	if (S_ISDIR(mode)) {
		ip->d->parent = parent;
		dx_tx_add(fs, &dp->d->nlink, sizeof(dp->d->nlink));
		dp->d->nlink++;
	}
	if (target) {
		char *p = dx_blk(fs, tblk);

		dx_memcpy_nodrain(&fs->pc, p, target, tlen);
		dx_memset_nodrain(&fs->pc, p + tlen, 0, DX_BLOCK_SIZE - tlen);
		/* A new inode's inline slot: only DRAM running out can fail
		 * it, and aborting inside the open transaction lets recovery
		 * roll it back (a commit would keep a symlink without its
		 * target). */
		if (dx_xmap_insert(fs, ip, 0, tblk, 1))
			abort();
		ip->d->size = tlen;
		ip->d->blocks = 1;
	}
	if (dx_dir_add(fs, dp, name, len, ip->ino, dx_mode_to_dtype(mode)))
		abort(); /* the slot was reserved above: only DRAM ran out */
	dx_touch_time(fs, &dp->d->mtime, &now);
	dx_touch_time(fs, &dp->d->ctime, &now);
	dx_tx_commit(fs);
	dx_fill_stat(fs, ip, st);
	dx_ilookup_ref(fs, ip);
	dx_iput(fs, ip);
out:
	dx_rwunlock(&dp->lock);
	dx_rwunlock(&fs->ns_lock);
	dx_iput(fs, dp);
	return ret;
}

DX_EXPORT int daxfs_mknod(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode,
			  dev_t rdev, const struct daxfs_cred *cred, struct stat *st)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	default:
		return -EINVAL;
	}
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return create(fs, parent, name, mode, rdev, NULL, cred, st);
}

DX_EXPORT int daxfs_mkdir(struct daxfs *fs, uint64_t parent, const char *name, mode_t mode,
			  const struct daxfs_cred *cred, struct stat *st)
{
	return create(fs, parent, name, S_IFDIR | (mode & 07777), 0, NULL, cred, st);
}

DX_EXPORT int daxfs_symlink(struct daxfs *fs, uint64_t parent, const char *name,
			    const char *target, const struct daxfs_cred *cred, struct stat *st)
{
	return create(fs, parent, name, S_IFLNK | 0777, 0, target, cred, st);
}

DX_EXPORT ssize_t daxfs_readlink(struct daxfs *fs, uint64_t ino, char *buf, size_t size)
{
	struct dx_ino *ip = dx_iget(fs, ino);
	ssize_t ret;

	if (!ip)
		return -ENOENT;
	if (!S_ISLNK(ip->type)) {
		dx_iput(fs, ip);
		return -EINVAL;
	}
	ret = dx_iload(fs, ip);
	if (!ret) {
		const char *p;
		dx_rdlock(&ip->lock);
		p = dx_xmap_addr(fs, ip, 0);
		ret = (ssize_t)ip->d->size;
		if (!p || ret > DX_SYMLINK_MAX) {
			ret = -EUCLEAN;
		} else {
			memcpy(buf, p, (size_t)ret < size ? (size_t)ret : size);
			if ((size_t)ret < size)
				buf[ret] = '\0';
		}
		dx_rwunlock(&ip->lock);
	}
	dx_iput(fs, ip);
	return ret;
}

DX_EXPORT int daxfs_link(struct daxfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
			 struct stat *st)
{
	struct dx_ino *dp, *ip;
	struct dx_time now;
	size_t len;
	int ret;

	if (fs->readonly)
		return -EROFS;
	ret = check_name(newname, &len);
	if (ret)
		return ret == -EINVAL ? -EEXIST : ret;
	ret = dx_iget_loaded(fs, newparent, S_IFDIR, &dp);
	if (ret)
		return ret;
	ip = dx_iget(fs, ino);
	if (!ip) {
		dx_iput(fs, dp);
		return -ENOENT;
	}
	dx_wrlock(&fs->ns_lock);
	/* Both inodes' locks before the transaction (core.h's order: a
	 * write into a hole holds its inode's lock when it begins one). */
	dx_lock_inodes((struct dx_ino *[]){dp, ip}, 2);
	if (S_ISDIR(ip->type))
		ret = -EPERM;
	else if (ip->d->nlink == 0 || dp->d->nlink == 0)
		ret = -ENOENT;
	else if (ip->d->nlink >= DX_LINK_MAX)
		ret = -EMLINK;
	else if (dx_dir_find(fs, dp, newname, len, NULL))
		ret = -EEXIST;
	if (ret)
		goto out;
	dx_now(&now);
	dx_tx_begin(fs);
	/* The allocator's count is read under the transaction's lock. */
	if (fs->free_blocks < dx_dir_add_need(dp)) {
		dx_tx_commit(fs); /* nothing changed */
		ret = -ENOSPC;
		goto out;
	}
	/* Every undo entry ahead, fenced together (see create()). */
	dx_log_inode(fs, dp, dx_dir_add_need(dp) != 0);
	dx_log_inode(fs, ip, false);
	ret = dx_dir_reserve(fs, dp);
	if (ret) {
		dx_tx_commit(fs); /* only logged: nothing changed */
		goto out;
	}
	dx_dir_log(fs, dx_dir_next_slot(dp), sizeof(uint64_t));
	if (dx_dir_add(fs, dp, newname, len, ip->ino, dx_mode_to_dtype(ip->type)))
		abort(); /* the slot was reserved: only DRAM ran out; recovery rolls back */
	dx_tx_add(fs, &ip->d->nlink, sizeof(ip->d->nlink));
	ip->d->nlink++;
	dx_touch_time(fs, &ip->d->ctime, &now);
	dx_touch_time(fs, &dp->d->mtime, &now);
	dx_touch_time(fs, &dp->d->ctime, &now);
	dx_tx_commit(fs);
	dx_fill_stat(fs, ip, st);
	dx_ilookup_ref(fs, ip);
out:
	dx_unlock_inodes((struct dx_ino *[]){dp, ip}, 2);
	dx_rwunlock(&fs->ns_lock);
	dx_iput(fs, ip);
	dx_iput(fs, dp);
	return ret;
}

/* Drop one link of ip (a directory loses both of its own). In a tx. */
static void drop_link(struct daxfs *fs, struct dx_ino *ip, const struct dx_time *now)
{
	dx_tx_add(fs, &ip->d->nlink, sizeof(ip->d->nlink));
	ip->d->nlink = S_ISDIR(ip->type) ? 0 : ip->d->nlink - 1;
	dx_touch_time(fs, &ip->d->ctime, now);
}

static void nlink_add(struct daxfs *fs, struct dx_ino *ip, int delta)
{
	dx_tx_add(fs, &ip->d->nlink, sizeof(ip->d->nlink));
	ip->d->nlink = (uint32_t)((int)ip->d->nlink + delta);
}

/* Is a a (strict or not) ancestor of ino?  Caller holds ns_lock. */
static bool is_ancestor(struct daxfs *fs, uint64_t a, uint64_t ino)
{
	for (uint64_t guard = 0; guard < fs->sb.ninodes; guard++) {
		if (ino == a)
			return true;
		if (ino == DX_ROOT_INO || ino < 1 || ino > fs->sb.ninodes)
			return false;
		ino = fs->itable[ino - 1].parent;
	}
	return false;
}

static int remove_name(struct daxfs *fs, uint64_t parent, const char *name, bool dir)
{
	struct dx_ino *dp, *ip = NULL;
	struct dx_dirent *de;
	struct dx_time now;
	uint32_t slot;
	size_t len = strlen(name);
	int ret;

	if (fs->readonly)
		return -EROFS;
	if (len > DX_NAME_MAX)
		return -ENAMETOOLONG;
	ret = dx_iget_loaded(fs, parent, S_IFDIR, &dp);
	if (ret)
		return ret;
	dx_wrlock(&fs->ns_lock);
	de = dx_dir_find(fs, dp, name, len, &slot);
	if (!de) {
		ret = dir && (!strcmp(name, ".") || !strcmp(name, "..")) ? -EINVAL : -ENOENT;
		goto out;
	}
	ip = dx_iget(fs, de->ino);
	if (!ip) {
		ret = -EUCLEAN;
		goto out;
	}
	if (dir && !S_ISDIR(ip->type)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (!dir && S_ISDIR(ip->type)) {
		ret = -EISDIR;
		goto out;
	}
	if (dir) {
		ret = dx_iload(fs, ip);
		if (ret)
			goto out;
		if (ip->dir->count) {
			ret = -ENOTEMPTY;
			goto out;
		}
	}
	dx_now(&now);
	dx_lock_inodes((struct dx_ino *[]){dp, ip}, 2);
	dx_tx_begin(fs);
	/* Every undo entry ahead: dx_dir_remove's fences them together. */
	dx_dir_log(fs, de, sizeof(de->ino));
	dx_log_inode(fs, ip, false);
	dx_log_inode(fs, dp, false);
	dx_dir_remove(fs, dp, slot);
	drop_link(fs, ip, &now);
	if (dir)
		nlink_add(fs, dp, -1);
	dx_touch_time(fs, &dp->d->mtime, &now);
	dx_touch_time(fs, &dp->d->ctime, &now);
	dx_tx_commit(fs);
	dx_unlock_inodes((struct dx_ino *[]){dp, ip}, 2);
out:
	dx_rwunlock(&fs->ns_lock);
	/* The last reference of an unlinked, closed inode frees it here. */
	dx_iput(fs, ip);
	dx_iput(fs, dp);
	return ret;
}

DX_EXPORT int daxfs_unlink(struct daxfs *fs, uint64_t parent, const char *name)
{
	return remove_name(fs, parent, name, false);
}

DX_EXPORT int daxfs_rmdir(struct daxfs *fs, uint64_t parent, const char *name)
{
	return remove_name(fs, parent, name, true);
}

/* Exchange two names (RENAME_EXCHANGE). In a tx. */
static void exchange(struct daxfs *fs, struct dx_ino *sdp, struct dx_dirent *sde,
		     struct dx_ino *si, struct dx_ino *ddp, struct dx_dirent *dde,
		     struct dx_ino *di)
{
	dx_dir_retarget(fs, sde, di->ino, dx_mode_to_dtype(di->type));
	dx_dir_retarget(fs, dde, si->ino, dx_mode_to_dtype(si->type));
	if (sdp != ddp) {
		if (S_ISDIR(si->type)) {
			dx_tx_add(fs, &si->d->parent, sizeof(si->d->parent));
			si->d->parent = ddp->ino;
			nlink_add(fs, sdp, -1);
			nlink_add(fs, ddp, 1);
		}
		if (S_ISDIR(di->type)) {
			dx_tx_add(fs, &di->d->parent, sizeof(di->d->parent));
			di->d->parent = sdp->ino;
			nlink_add(fs, ddp, -1);
			nlink_add(fs, sdp, 1);
		}
	}
}

DX_EXPORT int daxfs_rename(struct daxfs *fs, uint64_t parent, const char *name, uint64_t newparent,
			   const char *newname, unsigned flags)
{
	struct dx_ino *sdp = NULL, *ddp = NULL, *si = NULL, *di = NULL;
	struct dx_ino *lk[4];
	bool locked = false;
	struct dx_dirent *sde, *dde;
	uint32_t sslot, dslot;
	size_t slen, dlen;
	struct dx_time now;
	int ret;

	if (fs->readonly)
		return -EROFS;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	slen = strlen(name);
	ret = check_name(newname, &dlen);
	if (ret || slen > DX_NAME_MAX)
		return slen > DX_NAME_MAX || ret == -ENAMETOOLONG ? -ENAMETOOLONG : -EINVAL;
	ret = dx_iget_loaded(fs, parent, S_IFDIR, &sdp);
	if (ret)
		return ret;
	ret = dx_iget_loaded(fs, newparent, S_IFDIR, &ddp);
	if (ret)
		goto put;
	dx_wrlock(&fs->ns_lock);
	sde = dx_dir_find(fs, sdp, name, slen, &sslot);
	if (!sde) {
		ret = -ENOENT;
		goto out;
	}
	dde = dx_dir_find(fs, ddp, newname, dlen, &dslot);
	si = dx_iget(fs, sde->ino);
	di = dde ? dx_iget(fs, dde->ino) : NULL;
	lk[0] = sdp;
	lk[1] = ddp;
	lk[2] = si;
	lk[3] = di;
	if (!si || (dde && !di)) {
		ret = -EUCLEAN;
		goto out;
	}
	/* Every inode whose attributes change, the directories too. */
	dx_lock_inodes(lk, 4);
	locked = true;
	if (ddp->d->nlink == 0) {
		ret = -ENOENT;
		goto out;
	}
	if (flags & RENAME_EXCHANGE) {
		if (!di) {
			ret = -ENOENT;
			goto out;
		}
		if ((S_ISDIR(si->type) && is_ancestor(fs, si->ino, ddp->ino)) ||
		    (S_ISDIR(di->type) && is_ancestor(fs, di->ino, sdp->ino))) {
			ret = -EINVAL;
			goto out;
		}
	} else {
		if (di && (flags & RENAME_NOREPLACE)) {
			ret = -EEXIST;
			goto out;
		}
		if (S_ISDIR(si->type) && is_ancestor(fs, si->ino, ddp->ino)) {
			ret = -EINVAL;
			goto out;
		}
		if (di == si)
			goto out; /* two names of one inode: POSIX says do nothing */
		if (di) {
			if (S_ISDIR(si->type) && !S_ISDIR(di->type)) {
				ret = -ENOTDIR;
				goto out;
			}
			if (!S_ISDIR(si->type) && S_ISDIR(di->type)) {
				ret = -EISDIR;
				goto out;
			}
			if (S_ISDIR(di->type)) {
				ret = dx_iload(fs, di);
				if (!ret && di->dir->count)
					ret = -ENOTEMPTY;
				if (ret)
					goto out;
			}
		} else if (S_ISDIR(si->type) && sdp != ddp && ddp->d->nlink >= DX_LINK_MAX) {
			ret = -EMLINK;
			goto out;
		}
	}
	dx_now(&now);
	dx_tx_begin(fs);
	/* The new name's slot is taken before anything else is stored, so
	 * that a failure changes nothing. */
	if (!di && fs->free_blocks < dx_dir_add_need(ddp)) {
		dx_tx_commit(fs); /* nothing logged: a no-op */
		ret = -ENOSPC;
		goto out;
	}
	/* Every undo entry ahead, fenced together by the first dx_tx_add
	 * (see create()): the four inodes, both names' slots. */
	dx_log_inode(fs, ddp, !di && dx_dir_add_need(ddp) != 0);
	dx_log_inode(fs, sdp, false);
	dx_log_inode(fs, si, false);
	if (di)
		dx_log_inode(fs, di, false);
	dx_dir_log(fs, sde, 16);
	if (dde)
		dx_dir_log(fs, dde, 16);
	if (!di && (ret = dx_dir_reserve(fs, ddp))) {
		dx_tx_commit(fs); /* only logged: nothing changed */
		goto out;
	}
	if (!di)
		dx_dir_log(fs, dx_dir_next_slot(ddp), sizeof(uint64_t));
	if (flags & RENAME_EXCHANGE) {
		exchange(fs, sdp, sde, si, ddp, dde, di);
		dx_touch_time(fs, &di->d->ctime, &now);
	} else {
		if (di) {
			dx_dir_retarget(fs, dde, si->ino, dx_mode_to_dtype(si->type));
			drop_link(fs, di, &now);
			if (S_ISDIR(di->type))
				nlink_add(fs, ddp, -1);
		} else {
			if (dx_dir_add(fs, ddp, newname, dlen, si->ino, dx_mode_to_dtype(si->type)))
				abort(); /* the slot was reserved above */
		}
		dx_dir_remove(fs, sdp, sslot);
		if (S_ISDIR(si->type) && sdp != ddp) {
			dx_tx_add(fs, &si->d->parent, sizeof(si->d->parent));
			si->d->parent = ddp->ino;
			nlink_add(fs, sdp, -1);
			nlink_add(fs, ddp, 1);
		}
	}
	dx_touch_time(fs, &si->d->ctime, &now);
	dx_touch_time(fs, &sdp->d->mtime, &now);
	dx_touch_time(fs, &sdp->d->ctime, &now);
	if (ddp != sdp) {
		dx_touch_time(fs, &ddp->d->mtime, &now);
		dx_touch_time(fs, &ddp->d->ctime, &now);
	}
	dx_tx_commit(fs);
out:
	if (locked)
		dx_unlock_inodes(lk, 4);
	dx_rwunlock(&fs->ns_lock);
	dx_iput(fs, di);
	dx_iput(fs, si);
	dx_iput(fs, ddp);
put:
	dx_iput(fs, sdp);
	return ret;
}
