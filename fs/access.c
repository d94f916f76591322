// SPDX-License-Identifier: MIT
/*
 * access.c - who may use direct access on this mount.
 *
 * A mapping hands its holder pool blocks, and the client maps them by
 * opening the pool file itself: direct access is as good as access to the
 * raw pool.  So DAXFS_IOC_MAP and DAXFS_IOC_LEASE are answered only for
 * root, the owner of the pool file and the members of the group named by
 * -o dax_group=NAME (a root-equivalent group, like "disk"); everyone else
 * gets EPERM and keeps the ordinary POSIX path.  The same callers see
 * every user's mappings and leases and the pool's path; the others see
 * only their own entries and no path.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"

int dfs_access_setup(struct dfs_opts *o, const char *progname)
{
	if (o->dax_group) {
		struct group gr, *res = NULL;
		long max = sysconf(_SC_GETGR_R_SIZE_MAX);
		size_t len = max > 0 ? (size_t)max : 16384;
		char *buf = NULL;
		int err;

		/* Entries with many members need more than the hint. */
		for (;;) {
			char *nb = realloc(buf, len);

			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
			err = getgrnam_r(o->dax_group, &gr, buf, len, &res);
			if (err != ERANGE || len >= (1u << 24))
				break;
			len *= 2;
		}
		free(buf);
		if (err || !res) {
			fprintf(stderr, "%s: dax_group=%s: %s\n", progname, o->dax_group,
				err ? strerror(err) : "no such group");
			return -1;
		}
		o->dax_gid = gr.gr_gid;
		o->have_dax_gid = 1;
	}
	return 0;
}

int dfs_access_pool_owner(struct dfs_opts *o, const char *progname)
{
	struct stat st;

	if (stat(o->pool_abs, &st) < 0) {
		fprintf(stderr, "%s: %s: %s\n", progname, o->pool, strerror(errno));
		return -1;
	}
	o->pool_uid = st.st_uid;
	return 0;
}

/* Is gid among the caller's groups?  Unreadable groups: no. */
static int in_group(fuse_req_t req, gid_t gid)
{
	gid_t small[64], *list = small;
	int n = fuse_req_getgroups(req, 64, small), found = 0;

	if (n > 64) {
		list = calloc((size_t)n, sizeof(*list));
		if (!list)
			return 0;
		n = fuse_req_getgroups(req, n, list);
	}
	for (int i = 0; i < n && i >= 0; i++)
		found |= list[i] == gid;
	if (list != small)
		free(list);
	return found;
}

int dfs_direct_allowed(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	const struct dfs_opts *o = dfs_ctx(req)->opts;

	if (c->uid == 0 || c->uid == o->pool_uid)
		return 1;
	return o->have_dax_gid && (c->gid == o->dax_gid || in_group(req, o->dax_gid));
}
