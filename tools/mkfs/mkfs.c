/* SPDX-License-Identifier: MIT */
/* mkfs.daxfs - create a daxfs filesystem in a pool file or device. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daxfs.h"
#include "size_arg.h"

/* "256 MiB", "31.5 MiB" */
static void fmt_bytes(char *buf, size_t len, uint64_t v)
{
	static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	snprintf(buf, len, d == (double)(uint64_t)d ? "%.0f %s" : "%.1f %s", d, unit[u]);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [-s SIZE] [-f] [-P] [-L LABEL] [-i BYTES-PER-INODE] [-O FEATURES] [-q] POOL\n"
		"Create a daxfs filesystem in POOL (a file, created sparse if missing,\n"
		"a file on a DAX filesystem, or a /dev/dax device).\n\n"
		"  -s, --size SIZE        pool size, with an optional K, M, G or T suffix;\n"
		"                         needed when POOL does not exist or is empty\n"
		"  -f, --force            overwrite an existing filesystem or data\n"
		"  -P, --preallocate      reserve all of a pool file's space now\n"
		"  -L, --label LABEL      volume label (up to 63 bytes)\n"
		"  -i, --bytes-per-inode N  one inode per N bytes of pool (default 16K)\n"
		"  -O, --features LIST    comma-separated features to turn on, or off with\n"
		"                         a leading ^: metadata_csum, reflink (both on by\n"
		"                         default)\n"
		"  -q, --quiet            print nothing on success\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n",
		prog);
}

/* -O LIST, as mke2fs: NAME turns a feature on, ^NAME off. */
static int parse_features(const char *arg, struct daxfs_mkfs_opts *o)
{
	char *list = strdup(arg), *save = NULL;

	if (!list) {
		fprintf(stderr, "mkfs.daxfs: out of memory\n");
		return -1;
	}
	for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		int off = *f == '^';
		if (!strcmp(f + off, "metadata_csum")) {
			o->no_metadata_csum = off;
		} else if (!strcmp(f + off, "reflink")) {
			o->no_reflink = off;
		} else {
			fprintf(stderr, "mkfs.daxfs: unknown feature '%s' (known: %s)\n", f + off,
				"metadata_csum, reflink");
			free(list);
			return -1;
		}
	}
	free(list);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"size", required_argument, NULL, 's'},	 {"force", no_argument, NULL, 'f'},
		{"preallocate", no_argument, NULL, 'P'},
		{"label", required_argument, NULL, 'L'}, {"bytes-per-inode", required_argument, NULL, 'i'},
		{"features", required_argument, NULL, 'O'},
		{"quiet", no_argument, NULL, 'q'},	 {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	 {NULL, 0, NULL, 0}};
	struct daxfs_mkfs_opts o = {0};
	struct daxfs_mkfs_info info;
	int c, quiet = 0, ret;

	while ((c = getopt_long(argc, argv, "s:fPL:i:O:qhV", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (dx_parse_size(optarg, &o.size)) {
				fprintf(stderr, "mkfs.daxfs: invalid size '%s'\n", optarg);
				return 1;
			}
			break;
		case 'f':
			o.force = 1;
			break;
		case 'P':
			o.preallocate = 1;
			break;
		case 'L':
			o.label = optarg;
			break;
		case 'i':
			if (dx_parse_size(optarg, &o.bytes_per_inode)) {
				fprintf(stderr, "mkfs.daxfs: invalid bytes-per-inode '%s'\n", optarg);
				return 1;
			}
			break;
		case 'O':
			if (parse_features(optarg, &o))
				return 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		case 'V':
			printf("mkfs.daxfs %s\n", DAXFS_VERSION);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "mkfs.daxfs: %s\n", optind == argc ? "no pool given" : "too many arguments");
		usage(stderr, argv[0]);
		return 1;
	}
	ret = daxfs_mkfs(argv[optind], &o, &info);
	if (ret) {
		fprintf(stderr, "mkfs.daxfs: %s\n", daxfs_errormsg_for(argv[optind]));
		return 1;
	}
	/* A sparse pool the filesystem holding it cannot fill: ENOSPC comes
	 * before the pool is full.  Said even with -q. */
	if (info.unreserved > info.backing_free) {
		char pool[32], fs[32];
		fmt_bytes(pool, sizeof(pool), info.size);
		fmt_bytes(fs, sizeof(fs), info.backing_free);
		fprintf(stderr,
			"mkfs.daxfs: warning: the pool (%s) is larger than the free space of the "
			"filesystem holding it (%s): writes will fail with ENOSPC once that is "
			"used up; -P reserves all of the pool now\n",
			pool, fs);
	}
	if (!quiet) {
		char uuid[37], feats[128];
		const uint8_t *u = info.uuid;
		snprintf(uuid, sizeof(uuid),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
			 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
			 u[13], u[14], u[15]);
		printf("Creating daxfs filesystem in %s\n", argv[optind]);
		printf("  size:        %" PRIu64 " bytes (%" PRIu64 " MiB)\n", info.size,
		       info.size >> 20);
		printf("  block size:  4096\n");
		printf("  blocks:      %" PRIu64 " (%" PRIu64 " for data)\n", info.nblocks,
		       info.data_blocks);
		printf("  inodes:      %" PRIu64 "\n", info.ninodes);
		daxfs_feature_list(info.features, feats, sizeof(feats));
		printf("  features:    %s\n", feats);
		printf("  UUID:        %s\n", uuid);
		if (o.label)
			printf("  label:       %s\n", o.label);
		printf("  persistence: %s\n",
		       info.is_pmem ? "pmem (cache flushes)" : "page cache (msync)");
	}
	return 0;
}
