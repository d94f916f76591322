/* SPDX-License-Identifier: MIT */
/* fuzz_free.c - target: allocate, then truncate and unlink every file and
 * directory of an opened pool (the block and inode freeing paths); then
 * open what is left again and read it. */
#include "core.h"
#include "fuzz.h"

void fuzz_target(const char *path)
{
	struct daxfs *fs = fuzz_open(path);

	if (!fs)
		return;
	fuzz_free_all(fs);
	daxfs_close(fs);
	fs = fuzz_open(path);
	if (!fs)
		return;
	fuzz_walk(fs);
	daxfs_close(fs);
}
