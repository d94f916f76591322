/* SPDX-License-Identifier: MIT */
/*
 * tune.daxfs - show and change the identity of an unmounted daxfs pool,
 * as dumpe2fs -h and tune2fs -L/-U do for ext4: the superblock (geometry,
 * label, UUID, state, counts) in text or JSON, a new label, a new UUID.
 *
 * It reaches the pool only through lib/ (daxfs_read_super, daxfs_tune).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <json-c/json.h>
#include "daxfs.h"

static const char *prog = "tune.daxfs";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-l] [--json] [-L LABEL] [-U UUID|random|time] POOL\n"
		"Show or change the identity of an unmounted daxfs pool.\n\n"
		"  -l, --list            show the superblock (the default without -L and -U;\n"
		"                        after a change, shows the result)\n"
		"  -j, --json            show it as one JSON object\n"
		"  -L, --label LABEL     set the label (up to 63 bytes; \"\" clears it)\n"
		"  -U, --uuid UUID       set the UUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx,\n"
		"                        random (version 4) or time (version 1)\n"
		"  -h, --help            show this help\n"
		"  -V, --version         show the version\n\n"
		"A change needs the pool unmounted (it takes the pool's lock, as mkfs.daxfs\n"
		"and fsck.daxfs -y do); showing works on a mounted pool too.\n"
		"Exit status: 0 done, 1 failed, 2 usage error.\n",
		prog);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 36-character form, dashes after 8, 12, 16 and 20 hex digits. */
static int parse_uuid(const char *s, uint8_t u[16])
{
	int n = 0;

	if (strlen(s) != 36)
		return -1;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		if (hexval(s[i]) < 0 || hexval(s[i + 1]) < 0)
			return -1;
		u[n++] = (uint8_t)(hexval(s[i]) << 4 | hexval(s[i + 1]));
		i++;
	}
	return n == 16 ? 0 : -1;
}

static int random_bytes(uint8_t *p, size_t n)
{
	return getrandom(p, n, 0) == (ssize_t)n ? 0 : -1;
}

/* RFC 4122 version 4: random. */
static int uuid_random(uint8_t u[16])
{
	if (random_bytes(u, 16) < 0)
		return -1;
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	return 0;
}

/* RFC 4122 version 1: 100 ns ticks since 1582-10-15, a random clock
 * sequence and a random node with the multicast bit set (no MAC address,
 * so nothing about the machine leaks into the pool). */
static int uuid_time(uint8_t u[16])
{
	struct timespec ts;
	uint64_t t;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || random_bytes(u + 8, 8) < 0)
		return -1;
	t = (uint64_t)ts.tv_sec * 10000000 + (uint64_t)ts.tv_nsec / 100 + 0x01B21DD213814000ULL;
	u[0] = (uint8_t)(t >> 24);
	u[1] = (uint8_t)(t >> 16);
	u[2] = (uint8_t)(t >> 8);
	u[3] = (uint8_t)t;
	u[4] = (uint8_t)(t >> 40);
	u[5] = (uint8_t)(t >> 32);
	u[6] = (uint8_t)((t >> 56 & 0x0f) | 0x10);
	u[7] = (uint8_t)(t >> 48);
	u[8] = (u[8] & 0x3f) | 0x80;
	u[10] |= 0x01;
	return 0;
}

static void uuid_str(const uint8_t *u, char *buf)
{
	for (int i = 0; i < 16; i++)
		buf +=
		    sprintf(buf, "%02x%s", u[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
}

static const char *state(const struct daxfs_pool_super *ps)
{
	if (ps->needs_fsck)
		return "needs fsck";
	if (ps->journal_pending)
		return "interrupted transaction (the next mount or fsck.daxfs -y rolls it back)";
	return "clean";
}

static void put_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static int show_json(const char *pool, const struct daxfs_pool_super *ps)
{
	json_object *o = json_object_new_object(), *feats;
	char u[37];
	int ret = 0;

	uuid_str(ps->uuid, u);
	json_object_object_add(o, "pool", json_object_new_string(pool));
	json_object_object_add(o, "label", json_object_new_string(ps->label));
	json_object_object_add(o, "uuid", json_object_new_string(u));
	put_u64(o, "version", ps->version);
	json_object_object_add(o, "state",
			       json_object_new_string(ps->needs_fsck	    ? "needs_fsck"
						      : ps->journal_pending ? "journal_pending"
									    : "clean"));
	json_object_object_add(o, "needs_fsck", json_object_new_boolean(ps->needs_fsck));
	json_object_object_add(o, "in_use", json_object_new_boolean(ps->in_use));
	feats = json_object_new_array();
	for (uint32_t bit = 1; bit; bit <<= 1) {
		char hex[16];
		if (!(ps->features & bit))
			continue;
		snprintf(hex, sizeof(hex), "0x%x", bit);
		json_object_array_add(feats, json_object_new_string(daxfs_feature_name(bit)
									  ? daxfs_feature_name(bit)
									  : hex));
	}
	json_object_object_add(o, "features", feats);
	json_object_object_add(o, "csum_seed",
			       ps->features & DAXFS_FEATURE_METADATA_CSUM
				   ? json_object_new_uint64(ps->csum_seed)
				   : NULL);
	put_u64(o, "block_size", ps->block_size);
	put_u64(o, "size", ps->size);
	put_u64(o, "file_size", ps->file_size);
	put_u64(o, "blocks", ps->nblocks);
	put_u64(o, "data_blk", ps->data_blk);
	put_u64(o, "data_blocks", ps->nblocks - ps->data_blk);
	put_u64(o, "free_blocks", ps->free_blocks);
	put_u64(o, "inodes", ps->ninodes);
	put_u64(o, "free_inodes", ps->free_inodes);
	put_u64(o, "inodes_initialised", ps->inodes_initialised);
	put_u64(o, "journal_blk", ps->journal_blk);
	put_u64(o, "journal_blocks", ps->journal_blocks);
	put_u64(o, "journal_pending", ps->journal_pending);
	put_u64(o, "maprec_blk", ps->maprec_blk);
	put_u64(o, "maprec_blocks", ps->maprec_blocks);
	put_u64(o, "map_records", ps->map_records);
	put_u64(o, "map_records_live", ps->map_records_live);
	put_u64(o, "map_records_quarantine", ps->map_records_quarantine);
	put_u64(o, "itable_blk", ps->itable_blk);
	put_u64(o, "bitmap_blk", ps->bitmap_blk);
	put_u64(o, "bitmap_blocks", ps->bitmap_blocks);
	/* Only on a pool that has the table (reflink). */
	if (ps->features & DAXFS_FEATURE_REFLINK) {
		put_u64(o, "refc_blk", ps->refc_blk);
		put_u64(o, "refc_blocks", ps->refc_blocks);
	}
	put_u64(o, "mkfs_time", ps->mkfs_time);
	/* Not recorded by this format: null rather than a made-up value. */
	json_object_object_add(o, "last_mount_time", NULL);
	json_object_object_add(o, "last_check_time", NULL);
	if (puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		ret = -1;
	json_object_put(o);
	return ret;
}

static void range(const char *what, uint64_t blk, uint64_t n)
{
	printf("%-26s%" PRIu64 "-%" PRIu64 " (%" PRIu64 " block%s)\n", what, blk, blk + n - 1, n,
	       n == 1 ? "" : "s");
}

static int show_text(const char *pool, const struct daxfs_pool_super *ps)
{
	time_t t = (time_t)ps->mkfs_time;
	char u[37], when[64], feats[128];
	struct tm tm;

	uuid_str(ps->uuid, u);
	if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm))
		snprintf(when, sizeof(when), "%" PRIu64, ps->mkfs_time);
	printf("%-26s%s\n", "Pool:", pool);
	printf("%-26s%s\n", "Label:", ps->label[0] ? ps->label : "<none>");
	printf("%-26s%s\n", "UUID:", u);
	printf("%-26s%u\n", "Format version:", ps->version);
	printf("%-26s%s\n", "State:", state(ps));
	printf("%-26s%s\n", "In use:",
	       ps->in_use ? "yes (a read-write mount, mkfs, fsck -y or tune holds it; counts are a "
			    "snapshot)"
			  : "no read-write user");
	daxfs_feature_list(ps->features, feats, sizeof(feats));
	printf("%-26s%s\n", "Features:", feats);
	if (ps->features & DAXFS_FEATURE_METADATA_CSUM) {
		/* dumpe2fs's lines; the seed stays when -U changes the UUID. */
		printf("%-26s%s\n", "Checksum type:", "crc32c");
		printf("%-26s0x%08" PRIx32 "\n", "Checksum seed:", ps->csum_seed);
	}
	printf("%-26s%u\n", "Block size:", ps->block_size);
	printf("%-26s%" PRIu64 " bytes (%" PRIu64 " MiB); file %" PRIu64 " bytes\n",
	       "Size:", ps->size, ps->size >> 20, ps->file_size);
	printf("%-26s%" PRIu64 "\n", "Blocks:", ps->nblocks);
	printf("%-26s%" PRIu64 " (from block %" PRIu64 ")\n",
	       "Data blocks:", ps->nblocks - ps->data_blk, ps->data_blk);
	printf("%-26s%" PRIu64 "\n", "Free blocks:", ps->free_blocks);
	printf("%-26s%" PRIu64 "\n", "Inodes:", ps->ninodes);
	printf("%-26s%" PRIu64 "\n", "Free inodes:", ps->free_inodes);
	printf("%-26s%" PRIu64 "\n", "Inodes initialised:", ps->inodes_initialised);
	range("Journal:", ps->journal_blk, ps->journal_blocks);
	printf("%-26s%" PRIu64 "\n", "Journal entries pending:", ps->journal_pending);
	range("Mapping records:", ps->maprec_blk, ps->maprec_blocks);
	printf("%-26s%" PRIu64 " slots, %" PRIu64 " mappings, %" PRIu64 " quarantined runs\n",
	       "Mapping records in use:", ps->map_records, ps->map_records_live,
	       ps->map_records_quarantine);
	range("Inode table:", ps->itable_blk, ps->ninodes / (4096 / 256));
	range("Block bitmap:", ps->bitmap_blk, ps->bitmap_blocks);
	if (ps->features & DAXFS_FEATURE_REFLINK)
		range("Reference counts:", ps->refc_blk, ps->refc_blocks);
	printf("%-26s%s\n", "Created:", when);
	printf("%-26s%s\n", "Last mount time:", "not recorded");
	printf("%-26s%s\n", "Last checked:", "not recorded");
	return fflush(stdout) == EOF ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"list", no_argument, NULL, 'l'},
	    {"json", no_argument, NULL, 'j'},
	    {"label", required_argument, NULL, 'L'},
	    {"uuid", required_argument, NULL, 'U'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct daxfs_tune_opts t = {0};
	struct daxfs_pool_super ps;
	int c, list = 0, as_json = 0;
	const char *pool, *uuid = NULL;

	while ((c = getopt_long(argc, argv, "ljL:U:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			list = 1;
			break;
		case 'j':
			as_json = list = 1;
			break;
		case 'L':
			t.label = optarg;
			break;
		case 'U':
			uuid = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tune.daxfs %s\n", DAXFS_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", prog);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: %s\n", prog,
			optind == argc ? "no pool given" : "too many arguments");
		fprintf(stderr, "Try '%s --help' for more information.\n", prog);
		return 2;
	}
	pool = argv[optind];
	if (t.label && strlen(t.label) > 63) {
		fprintf(stderr, "%s: label '%s' is longer than 63 bytes\n", prog, t.label);
		return 2;
	}
	if (uuid) {
		t.set_uuid = 1;
		if (!strcmp(uuid, "random") ? uuid_random(t.uuid) < 0
		    : !strcmp(uuid, "time") ? uuid_time(t.uuid) < 0
					    : parse_uuid(uuid, t.uuid) < 0) {
			fprintf(stderr,
				"%s: invalid UUID '%s': give xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx "
				"(hex), random or time\n",
				prog, uuid);
			return 2;
		}
	}
	if (t.label || t.set_uuid) {
		if (daxfs_tune(pool, &t) < 0) {
			fprintf(stderr, "%s: %s\n", prog, daxfs_errormsg());
			return 1;
		}
	} else {
		list = 1;
	}
	if (!list)
		return 0;
	if (daxfs_read_super(pool, &ps) < 0) {
		fprintf(stderr, "%s: %s\n", prog, daxfs_errormsg());
		return 1;
	}
	if ((as_json ? show_json(pool, &ps) : show_text(pool, &ps)) < 0) {
		fprintf(stderr, "%s: writing the output: %s\n", prog, strerror(errno));
		return 1;
	}
	return 0;
}
