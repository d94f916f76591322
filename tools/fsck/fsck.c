/* SPDX-License-Identifier: MIT */
/*
 * fsck.daxfs - check and repair an unmounted daxfs pool.
 *
 * Options and exit status follow e2fsck, so that scripts and fsck(8) can
 * drive it the same way; the exit status is the sum of:
 *   0 no errors, 1 errors corrected, 4 errors left uncorrected,
 *   8 operational error, 16 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daxfs.h"
#include "check.h"

#define FSCK_OK		 0
#define FSCK_NONDESTRUCT 1
#define FSCK_UNCORRECTED 4
#define FSCK_ERROR	 8
#define FSCK_USAGE	 16

struct out {
	const char *prefix; /* "POOL: " in preen mode, as e2fsck -p does */
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [-n|-y|-p] [-f] [-v] POOL\n"
		"Check an unmounted daxfs pool and optionally repair it.\n\n"
		"  -n            check only; open the pool read-only and change nothing\n"
		"                (the default)\n"
		"  -y            repair everything that can be repaired\n"
		"  -p, -a        preen: repair what is safe without asking; stop at a\n"
		"                problem that needs -y\n"
		"  -f            force a full check (every check is full; accepted for fsck(8))\n"
		"  -v            verbose: also show the passes\n"
		"  -h, --help    show this help\n"
		"  -V, --version show the version\n\n"
		"Exit status (a sum): 0 clean, 1 errors corrected, 4 errors left uncorrected,\n"
		"8 operational error, 16 usage error.\n",
		prog);
}

static void report(void *ctx, const char *msg)
{
	const struct out *o = ctx;

	printf("%s%s\n", o->prefix, msg);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {{"help", no_argument, NULL, 'h'},
					      {"version", no_argument, NULL, 'V'},
					      {NULL, 0, NULL, 0}};
	struct daxfs_check_opts o = {.mode = DAXFS_CHECK_ONLY, .report = report};
	struct daxfs_check_result r;
	struct out out = {""};
	char prefix[4096];
	int c, modes = 0, status = FSCK_OK, ret;
	const char *pool;

	while ((c = getopt_long(argc, argv, "nypafvhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.mode = DAXFS_CHECK_ONLY;
			modes |= 1;
			break;
		case 'y':
			o.mode = DAXFS_CHECK_REPAIR;
			modes |= 2;
			break;
		case 'p':
		case 'a':
			o.mode = DAXFS_CHECK_PREEN;
			modes |= 4;
			break;
		case 'f':
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return FSCK_OK;
		case 'V':
			printf("fsck.daxfs %s\n", DAXFS_VERSION);
			return FSCK_OK;
		default:
			usage(stderr, argv[0]);
			return FSCK_USAGE;
		}
	}
	if (modes & (modes - 1)) {
		fprintf(stderr, "fsck.daxfs: only one of -n, -y and -p may be given\n");
		return FSCK_USAGE;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "fsck.daxfs: %s\n",
			optind == argc ? "no pool given" : "too many arguments");
		usage(stderr, argv[0]);
		return FSCK_USAGE;
	}
	pool = argv[optind];
	if (o.mode == DAXFS_CHECK_PREEN) {
		snprintf(prefix, sizeof(prefix), "%s: ", pool);
		out.prefix = prefix;
	}
	o.ctx = &out;

	ret = daxfs_check(pool, &o, &r);
	if (ret) {
		fflush(stdout);
		fprintf(stderr, "fsck.daxfs: %s\n", daxfs_errormsg_for(pool));
		return FSCK_ERROR;
	}
	if (r.fixed)
		status |= FSCK_NONDESTRUCT;
	if (r.uncorrected)
		status |= FSCK_UNCORRECTED;

	if (r.preen_stopped)
		printf("%s: UNEXPECTED INCONSISTENCY; RUN fsck.daxfs -y MANUALLY.\n", pool);
	printf("%s: %llu inodes, %llu blocks used of %llu; ", pool,
	       (unsigned long long)r.inodes_used, (unsigned long long)r.data_blocks_used,
	       (unsigned long long)r.data_blocks);
	if (!r.errors && !r.fixed)
		printf("clean\n");
	else if (!r.errors)
		printf("clean (orphans freed)\n");
	else if (!r.uncorrected)
		printf("%llu error%s found, pool repaired\n", (unsigned long long)r.errors,
		       r.errors == 1 ? "" : "s");
	else
		printf("%llu error%s found, %llu left uncorrected%s\n",
		       (unsigned long long)r.errors, r.errors == 1 ? "" : "s",
		       (unsigned long long)r.uncorrected,
		       o.mode == DAXFS_CHECK_ONLY ? " (checked with -n; repair with -y)" : "");
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "fsck.daxfs: writing the report: %s\n", strerror(errno));
		status |= FSCK_ERROR;
	}
	return status;
}
