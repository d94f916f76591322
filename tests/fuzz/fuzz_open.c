/* SPDX-License-Identifier: MIT */
/* fuzz_open.c - target: opening a pool (validation, recovery, orphans),
 * read-only, then read-write twice (recovery must leave a pool that opens
 * again). */
#include "core.h"
#include "fuzz.h"

void fuzz_target(const char *path)
{
	struct daxfs_open_opts ro = {.readonly = 1};
	struct daxfs *fs;
	struct stat st;

	if (daxfs_open(path, &ro, &fs) == 0) {
		daxfs_getattr(fs, DX_ROOT_INO, &st);
		daxfs_close(fs);
	}
	for (int i = 0; i < 2; i++) {
		fs = fuzz_open(path);
		if (!fs)
			return;
		daxfs_getattr(fs, DX_ROOT_INO, &st);
		daxfs_close(fs);
	}
}
