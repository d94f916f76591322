/* SPDX-License-Identifier: MIT */
/*
 * daxfs-rdma-sim - a reference long-term pinner, behaving like an RDMA
 * application with a memory registration on a daxfs file.
 *
 * It takes a layout lease, maps ("registers") a region long-term, and
 * serves writes into it continuously: record k goes to slot k % nslots as
 * { magic, k }.  When the lease is broken it stops serving, persists,
 * unmaps, releases the lease, and registers again once the layout change is
 * done.  With --ignore-break it goes on writing until the lease is revoked.
 *
 * It prints one line per event, for people and for tests:
 *   registered OFFSET LENGTH      region mapped
 *   break OFFSET LENGTH           lease broken for that file range
 *   released LAST                 unmapped and released; LAST = last record
 *   revoked LAST                  the lease was revoked (with --ignore-break)
 *   done LAST                     --records or --duration reached
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "daxfs/daxfs_client.h"
#include "size_arg.h"

#define REC_MAGIC 0x5244414d52454331ULL /* "1CERMADR" */

struct rec {
	uint64_t magic;
	uint64_t seq;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: daxfs-rdma-sim [options] FILE\n"
		"A long-term pinner: lease FILE, map a region long-term, write records into it,\n"
		"and give the region back when the lease is broken.\n"
		"  -o, --offset OFFSET     region offset (default 0; a multiple of 4096)\n"
		"  -l, --length LENGTH     region length (default 64K)\n"
		"  -i, --ignore-break      keep writing when the lease is broken (until revoked)\n"
		"  -n, --records N         stop after N records (default: no limit)\n"
		"  -d, --duration SECONDS  stop after SECONDS (default: no limit)\n"
		"  -r, --reregister N      register again at most N times (default: no limit)\n"
		"  -h, --help              show this help and exit\n"
		"  -V, --version           show the version and exit\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"offset", required_argument, NULL, 'o'},   {"length", required_argument, NULL, 'l'},
		{"ignore-break", no_argument, NULL, 'i'},   {"records", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'd'}, {"reregister", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},	    {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	uint64_t off = 0, len = 65536, max_recs = 0, duration = 0, rereg = UINT64_MAX, seq = 0;
	int c, fd, ignore = 0, revoked = 0;
	struct daxfs_client *cl;
	double t0 = now_s();

	while ((c = getopt_long(argc, argv, "o:l:in:d:r:hV", lo, NULL)) != -1) {
		uint64_t *dst = c == 'o' ? &off : c == 'l' ? &len : c == 'n' ? &max_recs
						 : c == 'd' ? &duration : c == 'r' ? &rereg : NULL;
		if (c == 'i') {
			ignore = 1;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else if (c == 'V') {
			printf("daxfs-rdma-sim %s\n", DAXFS_VERSION);
			return 0;
		} else if (!dst || dx_parse_size(optarg, dst)) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(argv[optind], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "daxfs-rdma-sim: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	cl = daxfs_client_open(fd);
	if (!cl) {
		fprintf(stderr, "daxfs-rdma-sim: %s\n", daxfs_client_errormsg());
		return 1;
	}
	for (uint64_t round = 0; !stop; round++) {
		struct daxfs_mapping *m;
		struct daxfs_ioc_lease st;
		struct rec *r;
		size_t nslots;
		int broken = 0;

		/* Register: a lease first (EAGAIN while a break is pending),
		 * then the long-term mapping. */
		while (daxfs_lease_take(fd, DAXFS_LEASE_WRITE) < 0) {
			if (errno != EAGAIN || stop) {
				fprintf(stderr, "daxfs-rdma-sim: %s\n", daxfs_client_errormsg());
				return 1;
			}
			usleep(10000);
		}
		r = daxfs_map(cl, fd, (off_t)off, len,
			      DAXFS_MAP_READ | DAXFS_MAP_WRITE | DAXFS_MAP_LONGTERM, &m);
		if (!r) {
			fprintf(stderr, "daxfs-rdma-sim: %s\n", daxfs_client_errormsg());
			daxfs_lease_release(fd);
			return 1;
		}
		nslots = daxfs_mapping_length(m) / sizeof(*r);
		printf("registered %" PRIu64 " %zu\n", off, daxfs_mapping_length(m));

		/* Serve: write records, and look for a break between batches. */
		while (!stop) {
			for (int i = 0; i < 64; i++, seq++) {
				r[seq % nslots].magic = REC_MAGIC;
				r[seq % nslots].seq = seq;
			}
			if ((max_recs && seq >= max_recs) || (duration && now_s() - t0 >= duration))
				break;
			int w = daxfs_lease_wait_break(fd, 0, &st);

			if (w < 0) {
				/* The mount is gone (or the daemon died). */
				fprintf(stderr, "daxfs-rdma-sim: %s\n", daxfs_client_errormsg());
				return 1;
			}
			if (w == 1) {
				if (st.state == DAXFS_LEASE_REVOKED) {
					revoked = 1;
					break;
				}
				if (!ignore && !broken) {
					broken = 1;
					printf("break %" PRIu64 " %" PRIu64 "\n", st.break_offset,
					       st.break_length);
					break;
				}
			}
		}
		/* Everything written so far must reach the file. */
		if (!revoked && daxfs_persist(m, r, daxfs_mapping_length(m)) < 0)
			revoked = errno == ENOLINK;
		daxfs_unmap(m);
		if (daxfs_lease_release(fd) < 0) {
			fprintf(stderr, "daxfs-rdma-sim: %s\n", daxfs_client_errormsg());
			return 1;
		}
		if (revoked) {
			printf("revoked %" PRIu64 "\n", seq ? seq - 1 : 0);
			break;
		}
		if (!broken || round >= rereg) {
			printf("done %" PRIu64 "\n", seq ? seq - 1 : 0);
			break;
		}
		printf("released %" PRIu64 "\n", seq - 1);
		/* The layout change ran when the lease went; the region may
		 * now be shorter than the file allows. */
		{
			struct stat sb;
			if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size < off + len) {
				if ((uint64_t)sb.st_size <= off) {
					printf("done %" PRIu64 "\n", seq - 1);
					break;
				}
				len = ((uint64_t)sb.st_size - off) & ~4095ULL;
				if (!len) {
					printf("done %" PRIu64 "\n", seq - 1);
					break;
				}
			}
		}
	}
	daxfs_client_close(cl);
	close(fd);
	return 0;
}
