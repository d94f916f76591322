/* SPDX-License-Identifier: MIT */
/*
 * maplimit.c - why a pool could not be mapped, in the user's terms.
 *
 * libpmem reserves the address range for a mapping with an anonymous mmap
 * first, so a pool too large for the process fails with its wording
 * ("mmap MAP_ANONYMOUS: Cannot allocate memory").  This finds the limit
 * that was hit: RLIMIT_AS, or the largest free range of the address space
 * (x86-64 gives a process 128 TiB, in pieces around its libraries).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include "core.h"

void dx_fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned u = 0;
	double v = (double)bytes;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(uint64_t)v)
		snprintf(buf, len, "%.0f %s", v, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* The largest gap between the mappings of this process, from /proc/self/maps. */
static uint64_t largest_free_range(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uint64_t prev = 1ULL << 16, best = 0, lo, hi;
	char line[512];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		/* Past the 47-bit user space only [vsyscall] lies, not mappable. */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi) != 2 || lo >= 1ULL << 47)
			continue;
		if (lo > prev && lo - prev > best)
			best = lo - prev;
		if (hi > prev)
			prev = hi;
	}
	fclose(f);
	return best;
}

int dx_map_error(int err, const char *path, uint64_t size, const char *detail)
{
	char want[32], have[32];
	struct rlimit rl;
	void *p;

	if (err != -ENOMEM)
		return dx_err(err, "cannot map %s: %s", path, detail);
	dx_fmt_size(want, sizeof(want), size);
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && size > rl.rlim_cur) {
		dx_fmt_size(have, sizeof(have), rl.rlim_cur);
		return dx_err(err,
			      "cannot map %s: the pool (%s) is larger than this process may map "
			      "(RLIMIT_AS, ulimit -v: %s)",
			      path, want, have);
	}
	/* Does the range fit in the address space at all? */
	p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		dx_fmt_size(have, sizeof(have), largest_free_range());
		return dx_err(err,
			      "cannot map %s: the pool (%s) does not fit in this process's address "
			      "space (its largest free range is %s; x86-64 gives a process 128 TiB)",
			      path, want, have);
	}
	munmap(p, size);
	return dx_err(err, "cannot map %s (%s): out of memory for the mapping (%s)", path, want,
		      detail);
}
