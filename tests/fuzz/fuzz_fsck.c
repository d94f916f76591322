/* SPDX-License-Identifier: MIT */
/* fuzz_fsck.c - target: fsck -n, fsck -y, fsck -n again (lib/check.c),
 * then open and read the repaired pool. */
#include "check.h"
#include "core.h"
#include "fuzz.h"

static void quiet(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

void fuzz_target(const char *path)
{
	struct daxfs_check_opts o = {.mode = DAXFS_CHECK_ONLY, .report = quiet};
	struct daxfs_check_result r;
	struct daxfs *fs;

	if (daxfs_check(path, &o, &r) < 0)
		return;
	o.mode = DAXFS_CHECK_REPAIR;
	if (daxfs_check(path, &o, &r) < 0)
		return;
	o.mode = DAXFS_CHECK_ONLY;
	daxfs_check(path, &o, &r);
	fs = fuzz_open(path);
	if (!fs)
		return;
	fuzz_walk(fs);
	daxfs_close(fs);
}
