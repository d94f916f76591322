/* SPDX-License-Identifier: MIT */
/* size_arg.h - parse "4G"-style sizes for the command-line tools. */
#ifndef DAXFS_SIZE_ARG_H
#define DAXFS_SIZE_ARG_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Decimal number with an optional K/M/G/T (powers of 1024) suffix. */
static inline int dx_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}
#endif
