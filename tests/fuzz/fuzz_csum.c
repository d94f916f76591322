/* SPDX-License-Identifier: MIT */
/*
 * fuzz_csum.c - the fuzzers' checksum fix-up after a mutation (fuzz.h).
 *
 * With metadata checksums (lib/csum.h, the metadata_csum feature) almost
 * every mutation is refused at the first checksum check, and the code
 * behind it is never reached.  So the fuzzers rewrite the checksums of a
 * damaged image through lib/'s own helper before the mount sees it.
 * Built before that feature too: then there is nothing to fix.
 */
#include <stddef.h>
#include "core.h"
#include "fuzz.h"
#if __has_include("csum.h")
#include "csum.h"
#endif

long fuzz_fix_csums(void *base, size_t len)
{
#ifdef DX_FEATURE_METADATA_CSUM
	struct dx_super *sb = base;
	long n;

	if (len < DX_BLOCK_SIZE || !dx_csum_enabled(sb))
		return 0;
	n = dx_csum_rewrite_image(base, len);
	return n < 0 ? 0 : n;
#else
	(void)base;
	(void)len;
	return 0;
#endif
}
