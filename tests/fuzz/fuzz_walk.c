/* SPDX-License-Identifier: MIT */
/* fuzz_walk.c - target: read every inode of an opened pool (readdir,
 * lookup, getattr, read, readlink, listxattr/getxattr). */
#include "core.h"
#include "fuzz.h"

void fuzz_target(const char *path)
{
	struct daxfs *fs = fuzz_open(path);

	if (!fs)
		return;
	fuzz_walk(fs);
	daxfs_close(fs);
}
