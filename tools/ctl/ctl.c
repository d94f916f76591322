/* SPDX-License-Identifier: MIT */
/*
 * daxfsctl - control and observe a mounted daxfs through its ioctls.
 *
 * It reaches the filesystem only through include/daxfs/daxfs_ioctl.h and
 * libdaxfs-client, as any other program may.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libaio.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "daxfs/daxfs_client.h"
#include "daxfs/daxfs_ioctl.h"
#include "size_arg.h"

static const char *prog = "daxfsctl";
/* --json: info, pins, stats, leases and the clones print one JSON object
 * instead. */
static int json;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s COMMAND [ARGS]\n"
		"Commands:\n"
		"  collapse FILE OFFSET LENGTH   remove a block-aligned range, shifting the rest down\n"
		"  insert FILE OFFSET LENGTH     insert a block-aligned hole, shifting the rest up\n"
		"  info PATH                     show the pool behind the mount of PATH\n"
		"  map FILE OFFSET LENGTH [--write] [--hold SECONDS]\n"
		"                                map a range, print its pool extents, hold the pins\n"
		"                                (SECONDS 0: until interrupted; no --hold: unmap at once)\n"
		"  pins MOUNT|FILE               list mappings and their pins (of FILE only, for a file)\n"
		"  stats MOUNT                   show pin, deferral, lease and clone counters\n"
		"  lease FILE [--exclusive] [--ignore-break] [--map OFFSET LENGTH] [--hold SECONDS]\n"
		"                                take a layout lease (and a long-term mapping under\n"
		"                                it), then hold: on a break, unmap and release, or\n"
		"                                with --ignore-break wait to be revoked\n"
		"  leases MOUNT|FILE             list layout leases\n"
		"  dma FILE OFFSET LENGTH (--from SRC | --to DST) [--bs SIZE] [--depth N]\n"
		"                                O_DIRECT transfers between SRC/DST and the mapped\n"
		"                                range with libaio; each block is pinned exactly while\n"
		"                                its I/O is in flight\n"
		"  clone SRC DST                 make DST (created or cut) share all of SRC's blocks:\n"
		"                                a copy that costs no space until either changes\n"
		"  clone-range SRC SRC_OFFSET LENGTH DST DST_OFFSET\n"
		"                                share a block-aligned range of SRC into DST\n"
		"                                (LENGTH 0: to SRC's end)\n"
		"Sizes take K, M, G or T suffixes.  Options: -h/--help, -V/--version,\n"
		"--json (anywhere on the line: info, pins, stats, leases, clone and\n"
		"clone-range print one JSON object, with times in nanoseconds and sizes\n"
		"in bytes).\n",
		prog);
}

static int die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
	return 1;
}

static int parse_u64(const char *s, const char *what, uint64_t *v)
{
	if (dx_parse_size(s, v)) {
		fprintf(stderr, "%s: invalid %s '%s'\n", prog, what, s);
		return -1;
	}
	return 0;
}

/* The ioctl that works only on daxfs failed on PATH with ENOTTY. */
static int not_daxfs(const char *path)
{
	fprintf(stderr, "%s: %s: not on a daxfs mount\n", prog, path);
	return 1;
}

/*
 * Collapse or insert on fd (FILE) failed with EINVAL: say which rule the
 * range broke, as the kernel's fallocate rules have it.
 */
static int falloc_einval(int fd, const char *file, const struct daxfs_ioc_falloc *fa)
{
	int collapse = fa->mode == FALLOC_FL_COLLAPSE_RANGE;
	struct stat st;
	uint64_t bs;

	if (fstat(fd, &st) < 0)
		return die(file, EINVAL);
	bs = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	if (!fa->length)
		fprintf(stderr, "%s: %s: the length is 0\n", prog, file);
	else if (fa->offset % bs || fa->length % bs)
		fprintf(stderr,
			"%s: %s: %s %" PRIu64 " is not a multiple of the block size (%" PRIu64
			"); %s works on whole blocks\n",
			prog, file, fa->offset % bs ? "offset" : "length",
			fa->offset % bs ? fa->offset : fa->length, bs,
			collapse ? "collapse" : "insert");
	else if (collapse && fa->offset + fa->length >= (uint64_t)st.st_size)
		fprintf(stderr,
			"%s: %s: the range %" PRIu64 "+%" PRIu64
			" reaches the end of the file (%jd bytes); collapse removes a range "
			"that ends before it (to cut the tail, truncate the file)\n",
			prog, file, fa->offset, fa->length, (intmax_t)st.st_size);
	else if (!collapse && fa->offset >= (uint64_t)st.st_size)
		fprintf(stderr,
			"%s: %s: offset %" PRIu64
			" is at or past the end of the file (%jd bytes); insert works inside the "
			"file (to add at the end, extend it with truncate -s)\n",
			prog, file, fa->offset, (intmax_t)st.st_size);
	else
		return die(file, EINVAL);
	return 1;
}

static int cmd_falloc(int argc, char **argv, uint32_t mode)
{
	struct daxfs_ioc_falloc fa = {.mode = mode};
	int fd, ret = 0;

	if (argc != 4) {
		usage(stderr);
		return 2;
	}
	if (parse_u64(argv[2], "offset", &fa.offset) || parse_u64(argv[3], "length", &fa.length))
		return 2;
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		return die(argv[1], errno);
	if (ioctl(fd, DAXFS_IOC_FALLOCATE, &fa) < 0) {
		int e = errno;

		ret = e == ENOTTY   ? not_daxfs(argv[1])
		      : e == EINVAL ? falloc_einval(fd, argv[1], &fa)
				    : die(argv[1], e);
	}
	close(fd);
	return ret;
}

static int open_any(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
	return fd;
}

/* "COMMAND PATH": one ioctl on PATH into arg.  Returns the exit status. */
static int ioctl_path(int argc, char **argv, unsigned long cmd, void *arg)
{
	int fd, e;

	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	fd = open_any(argv[1]);
	if (fd < 0)
		return 1;
	if (ioctl(fd, cmd, arg) < 0) {
		e = errno;
		close(fd);
		return e == ENOTTY ? not_daxfs(argv[1]) : die(argv[1], e);
	}
	close(fd);
	return 0;
}

static void print_uuid(const uint8_t *u)
{
	for (int i = 0; i < 16; i++)
		printf("%02x%s", u[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
}

static void uuid_str(const uint8_t *u, char *buf)
{
	for (int i = 0; i < 16; i++)
		buf += sprintf(buf, "%02x%s", u[i], i == 3 || i == 5 || i == 7 || i == 9 ? "-" : "");
}

static void put_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void put_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void put_bool(json_object *o, const char *key, int v)
{
	json_object_object_add(o, key, json_object_new_boolean(v != 0));
}

/* Print o and free it; returns the exit status. */
static int json_print(json_object *o)
{
	int ret = 0;

	if (!o || puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_NOSLASHESCAPE)) < 0) {
		fprintf(stderr, "%s: cannot write the JSON output\n", prog);
		ret = 1;
	}
	json_object_put(o);
	return ret;
}

/* The pool's features by name, as mkfs.daxfs -O takes them. */
static const struct {
	uint32_t bit;
	const char *name;
} features[] = {
    {DAXFS_FEATURE_METADATA_CSUM, "metadata_csum"},
    {DAXFS_FEATURE_REFLINK, "reflink"},
};

static int cmd_info(int argc, char **argv)
{
	struct daxfs_ioc_pool_info pi;
	int ret = ioctl_path(argc, argv, DAXFS_IOC_POOL_INFO, &pi);

	if (ret)
		return ret;
	pi.path[sizeof(pi.path) - 1] = pi.label[sizeof(pi.label) - 1] = '\0';
	if (json) {
		json_object *o = json_object_new_object();
		char u[37];

		uuid_str(pi.uuid, u);
		/* null: the daemon names the pool only to those allowed direct access */
		put_str(o, "pool", pi.path[0] ? pi.path : NULL);
		put_u64(o, "size", pi.size);
		put_u64(o, "block_size", pi.block_size);
		put_str(o, "uuid", u);
		put_str(o, "label", pi.label);
		put_str(o, "persistence", pi.is_pmem ? "pmem" : "msync");
		put_bool(o, "needs_fsck", pi.state & DAXFS_POOL_NEEDS_FSCK);
		put_bool(o, "readonly", pi.state & DAXFS_POOL_READONLY);
		json_object *f = json_object_new_array();
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			if (pi.features & features[i].bit)
				json_object_array_add(f, json_object_new_string(features[i].name));
		json_object_object_add(o, "features", f);
		return json_print(o);
	}
	printf("pool:        %s\nsize:        %" PRIu64 " bytes\nblock size:  %u\nUUID:        ",
	       /* The daemon names the pool only to those allowed direct access. */
	       pi.path[0] ? pi.path : "(not shown: no direct access for this user)", pi.size,
	       pi.block_size);
	print_uuid(pi.uuid);
	printf("\nlabel:       %s\npersistence: %s\n", pi.label,
	       pi.is_pmem ? "pmem (cache flushes)" : "page cache (msync)");
	printf("state:       %s%s\n",
	       pi.state & DAXFS_POOL_NEEDS_FSCK ? "needs fsck (a mount found a damaged structure)"
						: "clean",
	       pi.state & DAXFS_POOL_READONLY ? ", read-only" : "");
	printf("features:   ");
	if (!pi.features)
		printf(" (none)");
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (pi.features & features[i].bit)
			printf(" %s", features[i].name);
	printf("\n");
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_map(int argc, char **argv)
{
	static const struct option lo[] = {{"write", no_argument, NULL, 'w'},
					   {"hold", required_argument, NULL, 'H'},
					   {NULL, 0, NULL, 0}};
	struct daxfs_ioc_map m;
	uint64_t hold = 0;
	int c, fd, write = 0, holding = 0;

	memset(&m, 0, sizeof(m));
	optind = 1;
	while ((c = getopt_long(argc, argv, "wH:", lo, NULL)) != -1) {
		if (c == 'w') {
			write = 1;
		} else if (c == 'H') {
			holding = 1;
			if (parse_u64(optarg, "seconds", &hold))
				return 2;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 3) {
		usage(stderr);
		return 2;
	}
	if (parse_u64(argv[optind + 1], "offset", &m.offset) ||
	    parse_u64(argv[optind + 2], "length", &m.length))
		return 2;
	fd = open(argv[optind], write ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return die(argv[optind], errno);
	m.flags = DAXFS_MAP_READ | (write ? DAXFS_MAP_WRITE : 0);
	if (ioctl(fd, DAXFS_IOC_MAP, &m) < 0) {
		int e = errno;
		close(fd);
		return e == ENOTTY ? not_daxfs(argv[optind]) : die("map", e);
	}
	printf("mapping %" PRIu64 ": %" PRIu64 " bytes at %" PRIu64 " in %u extent%s\n", m.id,
	       m.length, m.offset, m.nextents, m.nextents == 1 ? "" : "s");
	for (uint32_t i = 0; i < m.nextents; i++)
		printf("  file %" PRIu64 "+%" PRIu64 " -> pool %" PRIu64 "\n", m.ext[i].file_off,
		       m.ext[i].len, m.ext[i].pool_off);
	fflush(stdout);
	if (holding) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		for (uint64_t t = 0; !stop && (hold == 0 || t < hold * 10); t++)
			usleep(100000);
	}
	{
		struct daxfs_ioc_unmap u = {m.id};
		if (ioctl(fd, DAXFS_IOC_UNMAP, &u) < 0) {
			int e = errno;
			close(fd);
			return die("unmap", e);
		}
	}
	close(fd);
	return 0;
}

/*
 * The PATH of "pins PATH" and "leases PATH": a mount (all of it) or a file
 * (only that file).  Returns the descriptor, or minus the exit status.
 */
static int open_listing(int argc, char **argv, uint32_t *flags)
{
	struct stat st;
	int fd;

	if (argc != 2) {
		usage(stderr);
		return -2;
	}
	fd = open_any(argv[1]);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		*flags = DAXFS_PINS_THIS_FILE;
	return fd;
}

static const char *kind(uint32_t flags, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%s%s%s", flags & DAXFS_MAP_READ ? "r" : "-",
		 flags & DAXFS_MAP_WRITE ? "w" : "-", flags & DAXFS_MAP_LONGTERM ? " longterm" : "",
		 flags & DAXFS_MAP_SNAPSHOT ? " snapshot" : "",
		 flags & DAXFS_PIN_REVOKED ? " revoked" : "");
	return buf;
}

static json_object *pin_json(const struct daxfs_pin_info *q)
{
	json_object *o = json_object_new_object();

	put_u64(o, "id", q->id);
	put_u64(o, "ino", q->ino);
	put_u64(o, "offset", q->offset);
	put_u64(o, "length", q->length);
	put_u64(o, "pid", q->holder_pid);
	put_u64(o, "age_ns", q->age_ns);
	put_u64(o, "extents", q->nextents);
	put_bool(o, "read", q->flags & DAXFS_MAP_READ);
	put_bool(o, "write", q->flags & DAXFS_MAP_WRITE);
	put_bool(o, "longterm", q->flags & DAXFS_MAP_LONGTERM);
	put_bool(o, "revoked", q->flags & DAXFS_PIN_REVOKED);
	put_bool(o, "snapshot", q->flags & DAXFS_MAP_SNAPSHOT);
	return o;
}

static int cmd_pins(int argc, char **argv)
{
	struct daxfs_ioc_pins p;
	json_object *arr = NULL;
	int fd, n = 0;

	memset(&p, 0, sizeof(p));
	fd = open_listing(argc, argv, &p.flags);
	if (fd < 0)
		return -fd;
	if (json)
		arr = json_object_new_array();
	else
		printf("%-8s %-10s %-14s %-12s %-8s %-10s %s\n", "ID", "INODE", "OFFSET", "LENGTH",
		       "PID", "AGE", "KIND");
	do {
		if (ioctl(fd, DAXFS_IOC_PINS, &p) < 0) {
			int e = errno;
			close(fd);
			json_object_put(arr);
			return e == ENOTTY ? not_daxfs(argv[1]) : die("pins", e);
		}
		for (uint32_t i = 0; i < p.count; i++) {
			const struct daxfs_pin_info *q = &p.pin[i];
			char k[40];

			p.cursor = q->id;
			n++;
			if (json) {
				json_object_array_add(arr, pin_json(q));
				continue;
			}
			printf("%-8" PRIu64 " %-10" PRIu64 " %-14" PRIu64 " %-12" PRIu64
			       " %-8u %-10.3f %s\n",
			       q->id, q->ino, q->offset, q->length, q->holder_pid, q->age_ns / 1e9,
			       kind(q->flags, k, sizeof(k)));
		}
	} while (p.count == DAXFS_PINS_MAX);
	close(fd);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "mappings", arr);
		put_u64(o, "count", (uint64_t)n);
		return json_print(o);
	}
	printf("%d mapping%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct daxfs_stats s;
	int ret = ioctl_path(argc, argv, DAXFS_IOC_STATS, &s);

	if (ret)
		return ret;
	if (json) {
		json_object *o = json_object_new_object();

		/* The field names of struct daxfs_stats, so scripts and the
		 * header say the same. */
		put_u64(o, "maps", s.maps);
		put_u64(o, "unmaps", s.unmaps);
		put_u64(o, "mappings", s.mappings);
		put_u64(o, "pins_taken", s.pins_taken);
		put_u64(o, "pins_dropped", s.pins_dropped);
		put_u64(o, "pinned_blocks", s.pinned_blocks);
		put_u64(o, "deferrals", s.deferrals);
		put_u64(o, "deferred_now", s.deferred_now);
		put_u64(o, "deferral_total_ns", s.deferral_total_ns);
		put_u64(o, "deferral_max_ns", s.deferral_max_ns);
		put_u64(o, "ebusy", s.ebusy);
		put_u64(o, "quarantined_blocks", s.quarantined_blocks);
		put_u64(o, "quarantine_total", s.quarantine_total);
		put_u64(o, "busy_timeout_s", s.busy_timeout_s);
		put_u64(o, "leases", s.leases);
		put_u64(o, "lease_breaks", s.lease_breaks);
		put_u64(o, "lease_revokes", s.lease_revokes);
		put_u64(o, "etxtbsy", s.etxtbsy);
		put_u64(o, "lease_break_time_s", s.lease_break_time_s);
		put_u64(o, "pin_lock_max_hold_ns", s.pin_lock_max_hold_ns);
		put_u64(o, "pin_lock_max_cpu_ns", s.pin_lock_max_cpu_ns);
		put_u64(o, "cow_blocks", s.cow_blocks);
		put_u64(o, "clone_shared", s.clone_shared);
		put_u64(o, "clone_copied", s.clone_copied);
		put_u64(o, "snapshot_blocks", s.snapshot_blocks);
		return json_print(o);
	}
	printf("mappings made:            %" PRIu64 "\n", s.maps);
	printf("mappings dropped:         %" PRIu64 "\n", s.unmaps);
	printf("live mappings:            %" PRIu64 "\n", s.mappings);
	printf("block pins taken:         %" PRIu64 "\n", s.pins_taken);
	printf("block pins dropped:       %" PRIu64 "\n", s.pins_dropped);
	printf("pinned blocks now:        %" PRIu64 "\n", s.pinned_blocks);
	printf("deferred layout changes:  %" PRIu64 "\n", s.deferrals);
	printf("requests waiting now:     %" PRIu64 "\n", s.deferred_now);
	printf("total deferral:           %.6f s\n", s.deferral_total_ns / 1e9);
	printf("longest deferral:         %.6f s\n", s.deferral_max_ns / 1e9);
	printf("failed with EBUSY:        %" PRIu64 "\n", s.ebusy);
	printf("quarantined blocks now:   %" PRIu64 "\n", s.quarantined_blocks);
	printf("blocks ever quarantined:  %" PRIu64 "\n", s.quarantine_total);
	printf("busy_timeout:             %" PRIu64 " s%s\n", s.busy_timeout_s,
	       s.busy_timeout_s ? "" : " (wait for ever)");
	printf("leases now:               %" PRIu64 "\n", s.leases);
	printf("leases broken:            %" PRIu64 "\n", s.lease_breaks);
	printf("leases revoked:           %" PRIu64 "\n", s.lease_revokes);
	printf("refused with ETXTBSY:     %" PRIu64 "\n", s.etxtbsy);
	printf("lease_break_time:         %" PRIu64 " s\n", s.lease_break_time_s);
	if (s.pin_lock_max_cpu_ns)
		printf("longest pin_lock hold:    %" PRIu64 " ns (%" PRIu64 " ns of CPU)\n",
		       s.pin_lock_max_hold_ns, s.pin_lock_max_cpu_ns);
	else
		printf("longest pin_lock hold:    %" PRIu64 " ns (CPU time: mount with -o lock_stat)\n",
		       s.pin_lock_max_hold_ns);
	printf("blocks shared by clones:  %" PRIu64 "\n", s.clone_shared);
	printf("blocks clones copied:     %" PRIu64 "\n", s.clone_copied);
	printf("copied on write (blocks): %" PRIu64 "\n", s.cow_blocks);
	printf("held by snapshots now:    %" PRIu64 "\n", s.snapshot_blocks);
	return 0;
}

static const char *lease_state(uint32_t s)
{
	static const char *const n[] = {"none", "active", "breaking", "revoked"};
	return s < 4 ? n[s] : "?";
}

/* Seconds on the monotonic clock. */
static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int cmd_lease(int argc, char **argv)
{
	static const struct option lo[] = {{"exclusive", no_argument, NULL, 'x'},
					   {"ignore-break", no_argument, NULL, 'i'},
					   {"map", required_argument, NULL, 'm'},
					   {"hold", required_argument, NULL, 'H'},
					   {NULL, 0, NULL, 0}};
	uint64_t moff = 0, mlen = 0, hold = 0;
	int c, fd, excl = 0, ignore = 0, map = 0, ret = 0;
	struct daxfs_mapping *m = NULL;
	struct daxfs_client *cl = NULL;
	double waited = 0, start;

	optind = 1;
	while ((c = getopt_long(argc, argv, "xim:H:", lo, NULL)) != -1) {
		switch (c) {
		case 'x':
			excl = 1;
			break;
		case 'i':
			ignore = 1;
			break;
		case 'm':
			/* --map OFFSET LENGTH: the length is the next word;
			 * step over it before getopt sees it. */
			map = 1;
			if (parse_u64(optarg, "offset", &moff) || optind >= argc ||
			    parse_u64(argv[optind], "length", &mlen))
				return 2;
			optind++;
			break;
		case 'H':
			if (parse_u64(optarg, "seconds", &hold))
				return 2;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return 2;
	}
	fd = open(argv[optind], O_RDWR);
	if (fd < 0)
		return die(argv[optind], errno);
	if (daxfs_lease_take(fd, DAXFS_LEASE_WRITE | (excl ? DAXFS_LEASE_EXCLUSIVE : 0)) < 0) {
		int e = errno;

		if (e == ENOTTY)
			ret = not_daxfs(argv[optind]);
		else
			ret = (fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg()), 1);
		close(fd);
		return ret;
	}
	printf("lease taken%s\n", excl ? " (exclusive)" : "");
	if (map) {
		cl = daxfs_client_open(fd);
		if (!cl || !daxfs_map(cl, fd, (off_t)moff, mlen,
				      DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM, &m)) {
			fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
			daxfs_lease_release(fd);
			close(fd);
			return 1;
		}
		printf("mapped %" PRIu64 "+%zu long-term\n", moff, daxfs_mapping_length(m));
	}
	fflush(stdout);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start = mono_s();
	while (!stop && (hold == 0 || waited < hold)) {
		struct daxfs_ioc_lease st;
		int r = daxfs_lease_wait_break(fd, 100, &st);

		/* By the clock: the daemon may answer a wait up to 100 ms late. */
		waited = mono_s() - start;
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
			ret = 1;
			break;
		}
		if (r == 0)
			continue;
		if (st.state == DAXFS_LEASE_REVOKED) {
			printf("lease revoked\n");
			break;
		}
		if (ignore) {
			printf("break ignored (%.1f s left)\n", st.deadline_ns / 1e9);
			fflush(stdout);
			/* A wait answers at once while breaking: do not spin. */
			while (!stop && daxfs_lease_query(fd, &st) == 0 &&
			       st.state == DAXFS_LEASE_BREAKING)
				usleep(100000);
			continue;
		}
		printf("break: releasing\n");
		break;
	}
	if (m && daxfs_unmap(m) < 0) {
		fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
		ret = 1;
	}
	if (daxfs_lease_release(fd) < 0) {
		fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
		ret = 1;
	}
	printf("lease released\n");
	daxfs_client_close(cl);
	close(fd);
	return ret;
}

static json_object *lease_json(const struct daxfs_lease_info *q)
{
	json_object *o = json_object_new_object();

	put_u64(o, "id", q->id);
	put_u64(o, "ino", q->ino);
	put_u64(o, "pid", q->holder_pid);
	put_u64(o, "uid", q->holder_uid);
	put_bool(o, "write", q->flags & DAXFS_LEASE_WRITE);
	put_bool(o, "exclusive", q->flags & DAXFS_LEASE_EXCLUSIVE);
	put_str(o, "state", lease_state(q->state));
	put_u64(o, "age_ns", q->age_ns);
	/* Time left before revocation; meaningful while breaking. */
	put_u64(o, "deadline_ns", q->deadline_ns);
	put_u64(o, "longterm_mappings", q->mappings);
	return o;
}

static int cmd_leases(int argc, char **argv)
{
	struct daxfs_ioc_leases l;
	json_object *arr = NULL;
	int fd, n = 0;

	memset(&l, 0, sizeof(l));
	fd = open_listing(argc, argv, &l.flags);
	if (fd < 0)
		return -fd;
	if (json)
		arr = json_object_new_array();
	else
		printf("%-6s %-10s %-8s %-6s %-16s %-9s %-9s %s\n", "ID", "INODE", "PID", "UID", "KIND",
	       "STATE", "AGE", "LONG-TERM MAPS");
	do {
		if (ioctl(fd, DAXFS_IOC_LEASES, &l) < 0) {
			int e = errno;
			close(fd);
			json_object_put(arr);
			return e == ENOTTY ? not_daxfs(argv[1]) : die("leases", e);
		}
		for (uint32_t i = 0; i < l.count; i++) {
			const struct daxfs_lease_info *q = &l.lease[i];
			char kind[32];

			l.cursor = q->id;
			n++;
			if (json) {
				json_object_array_add(arr, lease_json(q));
				continue;
			}
			snprintf(kind, sizeof(kind), "%s%s",
				 q->flags & DAXFS_LEASE_WRITE ? "write" : "read",
				 q->flags & DAXFS_LEASE_EXCLUSIVE ? ",exclusive" : "");
			printf("%-6" PRIu64 " %-10" PRIu64 " %-8u %-6u %-16s %-9s %-9.3f %" PRIu64 "\n",
			       q->id, q->ino, q->holder_pid, q->holder_uid, kind,
			       lease_state(q->state), q->age_ns / 1e9, q->mappings);
		}
	} while (l.count == DAXFS_LEASES_MAX);
	close(fd);
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "leases", arr);
		put_u64(o, "count", (uint64_t)n);
		return json_print(o);
	}
	printf("%d lease%s\n", n, n == 1 ? "" : "s");
	return 0;
}

/* ---- dma: the transient pinner ---- */

struct dma_slot {
	struct iocb cb;
	struct daxfs_mapping *m;
	uint64_t len;
	int busy;
};

static int cmd_dma(int argc, char **argv)
{
	static const struct option lo[] = {{"from", required_argument, NULL, 'f'},
					   {"to", required_argument, NULL, 't'},
					   {"bs", required_argument, NULL, 'b'},
					   {"depth", required_argument, NULL, 'd'},
					   {NULL, 0, NULL, 0}};
	const char *from = NULL, *to = NULL;
	uint64_t off, len, bs = 1 << 20, depth = 4, pos = 0, done = 0;
	struct daxfs_client *cl;
	struct dma_slot *slots;
	io_context_t ctx = 0;
	struct stat st;
	int c, fd, xfd, ret = 0, inflight = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:t:b:d:", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'b':
			if (parse_u64(optarg, "block size", &bs))
				return 2;
			break;
		case 'd':
			if (parse_u64(optarg, "depth", &depth))
				return 2;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 3 || !from == !to || !bs || bs % 4096 || !depth || depth > 256) {
		fprintf(stderr, "%s: dma needs FILE OFFSET LENGTH, one of --from/--to, a block size "
				"that is a multiple of 4096 and a depth of 1-256\n", prog);
		return 2;
	}
	if (parse_u64(argv[optind + 1], "offset", &off) ||
	    parse_u64(argv[optind + 2], "length", &len))
		return 2;
	fd = open(argv[optind], from ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return die(argv[optind], errno);
	xfd = from ? open(from, O_RDONLY | O_DIRECT) : open(to, O_WRONLY | O_CREAT | O_DIRECT, 0644);
	if (xfd < 0) {
		ret = die(from ? from : to, errno);
		close(fd);
		return ret;
	}
	/* Every chunk must map: a range past the end would fail half-way,
	 * after the first chunks had moved. */
	if (fstat(fd, &st) < 0) {
		ret = die(argv[optind], errno);
	} else if (off > (uint64_t)st.st_size || len > (uint64_t)st.st_size - off) {
		fprintf(stderr,
			"%s: %s: the range %" PRIu64 "+%" PRIu64
			" reaches past the end of the file (%jd bytes); dma moves data within "
			"the file: extend it first (truncate -s)\n",
			prog, argv[optind], off, len, (intmax_t)st.st_size);
		ret = 1;
	}
	if (ret) {
		close(fd);
		close(xfd);
		return ret;
	}
	cl = daxfs_client_open(fd);
	if (!cl) {
		fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
		close(fd);
		close(xfd);
		return 1;
	}
	slots = calloc(depth, sizeof(*slots));
	if (!slots || io_setup((int)depth, &ctx) < 0) {
		fprintf(stderr, "%s: io_setup failed\n", prog);
		return 1;
	}
	while ((pos < len || inflight) && !ret) {
		struct io_event ev[256];
		int n;

		/* Fill the queue: pin a chunk, then start its I/O. */
		for (uint64_t i = 0; i < depth && pos < len; i++) {
			struct dma_slot *s = &slots[i];
			struct iocb *cbs[1] = {&s->cb};
			uint64_t want = len - pos < bs ? len - pos : bs;
			void *p;

			if (s->busy)
				continue;
			p = daxfs_map(cl, fd, (off_t)(off + pos), want,
				      DAXFS_MAP_READ | (from ? DAXFS_MAP_WRITE : 0), &s->m);
			if (!p) {
				fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
				ret = 1;
				break;
			}
			s->len = daxfs_mapping_length(s->m) < want ? daxfs_mapping_length(s->m) : want;
			if (from)
				io_prep_pread(&s->cb, xfd, p, s->len, (long long)pos);
			else
				io_prep_pwrite(&s->cb, xfd, p, s->len, (long long)pos);
			s->cb.data = s;
			if (io_submit(ctx, 1, cbs) != 1) {
				fprintf(stderr, "%s: io_submit failed\n", prog);
				daxfs_unmap(s->m);
				ret = 1;
				break;
			}
			s->busy = 1;
			inflight++;
			pos += s->len;
		}
		if (!inflight)
			break;
		n = io_getevents(ctx, 1, (long)depth, ev, NULL);
		for (int i = 0; i < n; i++) {
			struct dma_slot *s = ev[i].data;
			long res = (long)ev[i].res;

			if (res < 0 || (uint64_t)res != s->len) {
				fprintf(stderr, "%s: I/O failed: %s\n", prog,
					res < 0 ? strerror((int)-res) : "short transfer");
				ret = 1;
			} else {
				done += s->len;
			}
			/* The transfer is over: the pin goes with it. */
			if (daxfs_unmap(s->m) < 0) {
				fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
				ret = 1;
			}
			s->busy = 0;
			inflight--;
		}
	}
	io_destroy(ctx);
	free(slots);
	daxfs_client_close(cl);
	close(xfd);
	close(fd);
	if (!ret)
		printf("%" PRIu64 " bytes transferred\n", done);
	return ret;
}

/* ---- clone: block sharing ---- */

/*
 * Open DST for writing, creating it if missing (*created then says so, for
 * the undo of a failed clone).  Not O_TRUNC: DST may name SRC.
 */
static int open_dst(const char *dst, int *created)
{
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0666);

	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(dst, O_WRONLY);
	if (fd < 0)
		die(dst, errno);
	return fd;
}

/* A clone from src into dst failed with errno e: say why, with a hint
 * where the errno alone would puzzle. */
static int clone_failed(const char *src, const char *dst, int e)
{
	switch (e) {
	case ENOTTY:
		return not_daxfs(src);
	case EOPNOTSUPP:
		fprintf(stderr,
			"%s: %s: the pool cannot share blocks (made without the reflink "
			"feature: mkfs.daxfs -O ^reflink); copy the file instead\n",
			prog, src);
		return 1;
	case EINVAL:
		fprintf(stderr,
			"%s: %s: %s\n%s: offsets must be multiples of 4096, and the length too "
			"unless the range ends at the source's end (then past the "
			"destination's); ranges of one file may not overlap\n",
			prog, dst, daxfs_client_errormsg(), prog);
		return 1;
	case EBUSY:
		fprintf(stderr,
			"%s: %s: a mapping pins blocks of the destination range; its "
			"leases were broken: try again once it is unmapped\n",
			prog, dst);
		return 1;
	default:
		fprintf(stderr, "%s: %s\n", prog, daxfs_client_errormsg());
		return 1;
	}
}

/*
 * Before clone cuts DST: both regular files on one daxfs mount whose pool
 * shares blocks.  0, or the exit status after a message.
 */
static int clone_precheck(const char *src, int sfd, const struct stat *ss, const char *dst,
			  const struct stat *ds)
{
	struct daxfs_ioc_pool_info pi;

	if (!S_ISREG(ss->st_mode) || !S_ISREG(ds->st_mode)) {
		fprintf(stderr, "%s: %s: not a regular file\n", prog, S_ISREG(ss->st_mode) ? dst : src);
		return 1;
	}
	if (ss->st_dev != ds->st_dev) {
		fprintf(stderr, "%s: '%s' and '%s' are on different mounts\n", prog, src, dst);
		return 1;
	}
	if (ioctl(sfd, DAXFS_IOC_POOL_INFO, &pi) < 0)
		return errno == ENOTTY || errno == ENOSYS ? not_daxfs(src) : die(src, errno);
	if (!(pi.features & DAXFS_FEATURE_REFLINK))
		return clone_failed(src, dst, EOPNOTSUPP);
	return 0;
}

static int clone_report(const struct daxfs_reflink_stats *st)
{
	if (json) {
		json_object *o = json_object_new_object();

		put_u64(o, "shared", st->shared);
		put_u64(o, "copied", st->copied);
		return json_print(o);
	}
	printf("shared %" PRIu64 " block%s, copied %" PRIu64 "\n", st->shared,
	       st->shared == 1 ? "" : "s", st->copied);
	return 0;
}

/*
 * clone SRC DST (whole: range 0) or clone-range SRC SRC_OFF LEN DST
 * DST_OFF.  Returns the exit status.
 */
static int cmd_clone(int argc, char **argv, int range)
{
	const char *src, *dst;
	uint64_t soff = 0, len = 0, doff = 0;
	struct daxfs_reflink_stats st;
	struct stat ss, ds;
	int sfd, dfd, created, ret, r;

	if (argc != (range ? 6 : 3)) {
		usage(stderr);
		return 2;
	}
	src = argv[1];
	dst = argv[range ? 4 : 2];
	if (range &&
	    (parse_u64(argv[2], "source offset", &soff) || parse_u64(argv[3], "length", &len) ||
	     parse_u64(argv[5], "destination offset", &doff)))
		return 2;
	sfd = open(src, O_RDONLY);
	if (sfd < 0)
		return die(src, errno);
	dfd = open_dst(dst, &created);
	if (dfd < 0) {
		close(sfd);
		return 1;
	}
	if (fstat(sfd, &ss) < 0 || fstat(dfd, &ds) < 0) {
		ret = die(dst, errno);
	} else if (!range && ss.st_dev == ds.st_dev && ss.st_ino == ds.st_ino) {
		/* As cp: the clone would replace the file by itself. */
		fprintf(stderr, "%s: '%s' and '%s' are the same file\n", prog, src, dst);
		ret = 1;
	} else if (!range && (ret = clone_precheck(src, sfd, &ss, dst, &ds)) != 0) {
		/* Refused before DST is cut. */
	} else if (!range && ds.st_size && ftruncate(dfd, 0) < 0) {
		ret = die(dst, errno);
	} else {
		/* clone, as cp --reflink=always: DST is cut, then shares all of
		 * SRC; what could be refused was refused above. */
		r = range ? daxfs_reflink_range(dfd, doff, sfd, soff, len, &st)
			  : daxfs_reflink(dfd, sfd, &st);
		ret = r < 0 ? clone_failed(src, dst, errno) : clone_report(&st);
	}
	/* A file this command made and could not fill is not left behind. */
	if (ret && created)
		unlink(dst);
	close(dfd);
	close(sfd);
	return ret;
}

/* Take --json out of argv wherever it is (up to a "--"). */
static int take_json(int argc, char **argv)
{
	int n = 0, operands = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			operands = 1;
		if (!operands && !strcmp(argv[i], "--json")) {
			json = 1;
			continue;
		}
		argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	const char *cmd;

	argc = take_json(argc, argv);
	cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("daxfsctl %s\n", DAXFS_VERSION);
		return 0;
	}
	argc--;
	argv++;
	if (json && strcmp(cmd, "info") && strcmp(cmd, "pins") && strcmp(cmd, "stats") &&
	    strcmp(cmd, "leases") && strcmp(cmd, "clone") && strcmp(cmd, "clone-range")) {
		fprintf(stderr,
			"%s: --json is for info, pins, stats, leases, clone and clone-range, "
			"not '%s'\n",
			prog, cmd);
		return 2;
	}
	if (!strcmp(cmd, "collapse"))
		return cmd_falloc(argc, argv, FALLOC_FL_COLLAPSE_RANGE);
	if (!strcmp(cmd, "insert"))
		return cmd_falloc(argc, argv, FALLOC_FL_INSERT_RANGE);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "map"))
		return cmd_map(argc, argv);
	if (!strcmp(cmd, "pins"))
		return cmd_pins(argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc, argv);
	if (!strcmp(cmd, "dma"))
		return cmd_dma(argc, argv);
	if (!strcmp(cmd, "lease"))
		return cmd_lease(argc, argv);
	if (!strcmp(cmd, "leases"))
		return cmd_leases(argc, argv);
	if (!strcmp(cmd, "clone"))
		return cmd_clone(argc, argv, 0);
	if (!strcmp(cmd, "clone-range"))
		return cmd_clone(argc, argv, 1);
	fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
	usage(stderr);
	return 2;
}
