/* SPDX-License-Identifier: MIT */
/*
 * daxfs-crashtest - crash-state and error-path tester of the daxfs core.
 *
 * Runs workloads in process through lib/ (no FUSE) on small pools in
 * /dev/shm, and tests every crash state the persistence recorder finds
 * (crash.c) and every injected allocation or journal-room failure
 * (inject.c).  Each workload runs in a child process, so that an abort in
 * the core counts as a failure instead of ending the run.  The last line is
 *
 *   crashtest: W workloads, S crash states, F failed
 *
 * See docs/crash-consistency.md, "The crash tester".
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
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ftw.h>
#include "daxfs.h"
#include "crashtest.h"

struct ct ct;

/* Workloads the run has (counted first), and a progress line every
 * progress-th one done (0: none). */
static uint64_t planned, progress;

/*
 * Workloads left out while another change fixes what they find.  Each
 * entry names the pending fix; remove it when that fix is on main.
 */
enum { SKIP_CRASH = 1, SKIP_INJECT = 2 };
/* clang-format off */
static const struct {
	const char *match; /* substring of the workload name */
	int what;
	const char *why;
} skip_list[] = {
	{NULL, 0, NULL},
};
/* clang-format on */

static int skipped(const char *name)
{
	int what = 0;

	for (size_t i = 0; skip_list[i].match; i++)
		if (strstr(name, skip_list[i].match))
			what |= skip_list[i].what;
	return what;
}

int ct_copy(const char *from, const char *to)
{
	char buf[1 << 16];
	int in = open(from, O_RDONLY),
	    out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;
	int ret = 0;

	if (in < 0 || out < 0)
		ret = -errno;
	while (!ret && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			ret = -EIO;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

int ct_fresh_pool(enum variant v, const char *path)
{
	return ct_copy(ct.tmpl[v], path);
}

static int make_templates(void)
{
	/* Few inodes: a smaller table to read at every recovery. */
	struct daxfs_mkfs_opts mo = {
	    .size = CT_POOL_SIZE, .force = 1, .bytes_per_inode = 128 << 10};
	struct daxfs *fs;
	struct statvfs sv;
	char empty[200];
	int ret;

	snprintf(empty, sizeof(empty), "%s/empty.pool", ct.dir);
	if ((ret = daxfs_mkfs(empty, &mo, NULL)) || (ret = daxfs_open(empty, NULL, &fs)))
		return ret;
	daxfs_statfs(fs, &sv);
	ct.empty_bfree = sv.f_bfree;
	ct.empty_ffree = sv.f_ffree;
	daxfs_close(fs);
	for (int v = 0; v < V_NVARIANTS; v++) {
		struct wl_run r = {0};
		snprintf(ct.tmpl[v], sizeof(ct.tmpl[v]), "%s/tree-%d.pool", ct.dir, v);
		if ((ret = ct_copy(empty, ct.tmpl[v])) ||
		    (ret = daxfs_open(ct.tmpl[v], NULL, &r.fs)))
			return ret;
		ret = wl_setup(&r, (enum variant)v);
		daxfs_close(r.fs);
		if (ret) {
			fprintf(stderr, "daxfs-crashtest: setup of variant %d: %s\n", v,
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* ---- running a workload in a child ---- */

struct counts {
	uint64_t states, failed, rec_states, inject_runs, quarantined, reaped;
	uint64_t cow_ops, cow_points, cow_states, clone_ops, clone_points, clone_states;
	uint64_t snap_ops, snap_points, snap_states;
};

/* Children running workloads (ct.jobs at once). */
static struct child {
	pid_t pid;
	int fd;
	char name[96];
} kids[16];
static int nkids;

static void reap_one(void)
{
	struct counts c = {0};
	int status, i;
	pid_t pid = wait(&status);

	for (i = 0; i < nkids && kids[i].pid != pid; i++)
		;
	if (pid < 0) {
		nkids = 0; /* no child left to wait for */
		return;
	}
	if (i == nkids)
		return;
	if (read(kids[i].fd, &c, sizeof(c)) != sizeof(c))
		memset(&c, 0, sizeof(c));
	close(kids[i].fd);
	ct.workloads++;
	ct.states += c.states;
	ct.failed += c.failed;
	ct.rec_states += c.rec_states;
	ct.inject_runs += c.inject_runs;
	ct.quarantined += c.quarantined;
	ct.reaped += c.reaped;
	ct.cow_ops += c.cow_ops;
	ct.cow_points += c.cow_points;
	ct.cow_states += c.cow_states;
	ct.clone_ops += c.clone_ops;
	ct.clone_points += c.clone_points;
	ct.clone_states += c.clone_states;
	ct.snap_ops += c.snap_ops;
	ct.snap_points += c.snap_points;
	ct.snap_states += c.snap_states;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char p[200];
		/* A child that died left its pools behind. */
		snprintf(p, sizeof(p), "%s/live-%d.pool", ct.dir, (int)pid);
		unlink(p);
		snprintf(p, sizeof(p), "%s/crash-%d.pool", ct.dir, (int)pid);
		unlink(p);
		ct.failed++;
		fprintf(stderr, "FAIL %s: the tester died (%s %d) in it\n", kids[i].name,
			WIFSIGNALED(status) ? "signal" : "exit",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	if (ct.verbose)
		fprintf(stderr, "%-44s %8" PRIu64 " states %s\n", kids[i].name, c.states,
			c.failed ? "FAILED" : "ok");
	if (progress && ct.workloads % progress == 0) {
		printf("crashtest: progress: %" PRIu64 " of %" PRIu64 " workloads, %" PRIu64
		       " crash states, %" PRIu64 " failed\n",
		       ct.workloads, planned, ct.states, ct.failed);
		fflush(stdout);
	}
	kids[i] = kids[--nkids];
}

static void run_isolated(const struct workload *w, bool crash, bool inject)
{
	int fd[2];
	pid_t pid;
	struct counts c = {0};

	while (nkids >= ct.jobs)
		reap_one();
	fflush(NULL);
	if (pipe(fd) || (pid = fork()) < 0) {
		perror("daxfs-crashtest: fork");
		exit(2);
	}
	if (pid == 0) {
		close(fd[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		nkids = 0;
		/* Pools of its own; the templates are only read. */
		snprintf(ct.live, sizeof(ct.live), "%s/live-%d.pool", ct.dir, (int)getpid());
		snprintf(ct.crash, sizeof(ct.crash), "%s/crash-%d.pool", ct.dir, (int)getpid());
		ct.states = ct.failed = ct.rec_states = ct.inject_runs = ct.quarantined =
		    ct.reaped = 0;
		ct.cow_ops = ct.cow_points = ct.cow_states = 0;
		ct.clone_ops = ct.clone_points = ct.clone_states = 0;
		ct.snap_ops = ct.snap_points = ct.snap_states = 0;
		if (crash)
			ct_crash_workload(w);
		if (inject)
			ct_inject_workload(w);
		unlink(ct.live);
		unlink(ct.crash);
		c = (struct counts){ct.states,	    ct.failed,	     ct.rec_states,
				    ct.inject_runs, ct.quarantined,  ct.reaped,
				    ct.cow_ops,	    ct.cow_points,   ct.cow_states,
				    ct.clone_ops,   ct.clone_points, ct.clone_states,
				    ct.snap_ops,    ct.snap_points,  ct.snap_states};
		if (write(fd[1], &c, sizeof(c)) != sizeof(c))
			_exit(3);
		fflush(NULL);
		_exit(0);
	}
	close(fd[1]);
	kids[nkids].pid = pid;
	kids[nkids].fd = fd[0];
	snprintf(kids[nkids].name, sizeof(kids[nkids].name), "%s", w->name);
	nkids++;
}

static void reap_all(void)
{
	while (nkids)
		reap_one();
}

static const char *const vname[V_NVARIANTS] = {"plain", "fullpool", "fulljournal"};

static void name_seq(struct workload *w, const struct op *const *ops, const size_t *idx)
{
	int n = snprintf(w->name, sizeof(w->name), "seq%zu", w->nops);

	for (size_t i = 0; i < w->nops; i++)
		n += snprintf(w->name + n, sizeof(w->name) - (size_t)n, "%s%zu-%s", i ? "+" : ":",
			      idx[i], wl_kind_name(ops[i]->kind));
	snprintf(w->name + n, sizeof(w->name) - (size_t)n, "/%s%s", vname[w->variant],
		 w->fsync ? "/fsync" : "");
}

static void cleanup_dir(void)
{
	char p[300];

	reap_all();
	for (int v = 0; v < V_NVARIANTS; v++)
		unlink(ct.tmpl[v]);
	snprintf(p, sizeof(p), "%s/empty.pool", ct.dir);
	unlink(p);
	unlink(ct.live);
	unlink(ct.crash);
	rmdir(ct.dir);
}

/*
 * Interrupted (a time limit): the workloads in flight are killed and not
 * counted, and the counts of those done are the last line.
 */
static void on_signal(int sig)
{
	char line[200];
	int n;

	for (int i = 0; i < nkids; i++)
		kill(kids[i].pid, SIGKILL);
	for (int i = 0; i < nkids; i++) {
		waitpid(kids[i].pid, NULL, 0);
		close(kids[i].fd);
		snprintf(line, sizeof(line), "%s/live-%d.pool", ct.dir, (int)kids[i].pid);
		unlink(line);
		snprintf(line, sizeof(line), "%s/crash-%d.pool", ct.dir, (int)kids[i].pid);
		unlink(line);
	}
	nkids = 0;
	n = snprintf(line, sizeof(line),
		     "crashtest: interrupted: %" PRIu64 " workloads, %" PRIu64
		     " crash states, %" PRIu64 " failed\n",
		     ct.workloads, ct.states, ct.failed);
	if (write(1, line, (size_t)n) != n)
		n = 0;
	cleanup_dir();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *f, int status)
{
	fprintf(
	    f,
	    "usage: daxfs-crashtest [--full] [--seed N] [--seq2 N] [--random N] [--ops N]\n"
	    "                       [--subsets N] [--only SUBSTR] [--no-inject] [--inject-only]\n"
	    "                       [--save DIR] [--replay FILE] [--jobs N] [--rec-samples N]\n"
	    "                       [--delete-every N] [--no-delete] [--expect-failures]\n"
	    "                       [--progress N] [-v]\n"
	    "Crash states at every fence of ACE-style workloads, and injected\n"
	    "allocation and journal-room failures; see docs/crash-consistency.md.\n");
	exit(status);
}

/* What a run covers (see usage() and docs/crash-consistency.md). */
struct plan {
	bool full, crash, inject;
	const char *only;
	long seq2, nrandom, maxops;
};

/* Start w, or only count it when dry; returns the count (1). */
static uint64_t start(const struct workload *w, bool crash, bool inject, bool dry)
{
	if (!dry)
		run_isolated(w, crash, inject);
	return 1;
}

/* A seq-2 workload of pair p on pool v, first_crashed as given. */
static void make_pair(struct workload *w, const struct op *fixed, size_t nfixed, size_t pair,
		      enum variant v, size_t first_crashed, struct op *o)
{
	size_t idx[2] = {pair / nfixed, pair % nfixed};
	const struct op *po[2] = {&fixed[idx[0]], &fixed[idx[1]]};

	o[0] = fixed[idx[0]];
	o[1] = fixed[idx[1]];
	*w = (struct workload){v, false, 2, o, "", first_crashed};
	name_seq(w, po, idx);
}

/*
 * Every workload of the plan, in order: started (or only counted when
 * nskipped is NULL).  Returns how many, UINT64_MAX when out of memory.
 */
static uint64_t schedule(const struct plan *pl, uint64_t *nskipped)
{
	const struct op *fixed;
	size_t nfixed = wl_fixed_ops(&fixed), npairs = nfixed * nfixed;
	bool dry = !nskipped, crash = pl->crash, inject = pl->inject;
	const char *only = pl->only;
	uint64_t n = 0, rng = 0x5eed2;
	uint8_t *sampled = calloc(npairs, 1);

	if (!sampled)
		return UINT64_MAX;
	/* seq-1: every operation, on every variant, with and without fsync. */
	for (size_t i = 0; i < nfixed; i++)
		for (int v = 0; v < V_NVARIANTS; v++)
			for (int fs = 0; fs < 2; fs++) {
				struct op o = fixed[i];
				const struct op *po = &fixed[i];
				struct workload w = {(enum variant)v, fs, 1, &o, "", 0};
				name_seq(&w, &po, &i);
				if (only && !strstr(w.name, only))
					continue;
				int sk = skipped(w.name);
				if (!dry)
					*nskipped += sk != 0;
				/* Errors do not depend on fsync: inject once. */
				if ((crash && !(sk & SKIP_CRASH)) ||
				    (inject && !fs && !(sk & SKIP_INJECT)))
					n += start(&w, crash && !(sk & SKIP_CRASH),
						   inject && !fs && !(sk & SKIP_INJECT), dry);
			}
	/* seq-2, the default's fixed sample (the same every run), each pair
	 * on one of the pools, both ops crashed; --full runs it too. */
	for (long k = 0; pl->seq2 >= 0 && k < pl->seq2; k++) {
		size_t pair = wl_rand(&rng) % npairs;
		struct op o[2];
		struct workload w;

		make_pair(&w, fixed, nfixed, pair, (enum variant)(pair % V_NVARIANTS), 0, o);
		if (w.variant == V_PLAIN)
			sampled[pair] = 1;
		if ((only && !strstr(w.name, only)) || (skipped(w.name) & SKIP_CRASH)) {
			if (!dry)
				*nskipped += !only;
			continue;
		}
		n += start(&w, crash, false, dry);
	}
	/* --full: every ordered pair on the plain pool (those the sample ran
	 * there aside), crashing the second op only: the first op's states
	 * are seq-1's (the same tree, the same op, the same pool). */
	for (size_t pair = 0; pl->full && pair < npairs; pair++) {
		struct op o[2];
		struct workload w;

		if (sampled[pair])
			continue;
		make_pair(&w, fixed, nfixed, pair, V_PLAIN, 1, o);
		if ((only && !strstr(w.name, only)) || (skipped(w.name) & SKIP_CRASH)) {
			if (!dry)
				*nskipped += !only;
			continue;
		}
		n += start(&w, crash, false, dry);
	}
	free(sampled);
	/* Seeded random workloads of 50..maxops operations. */
	for (long r = 0; r < pl->nrandom; r++) {
		uint64_t rr = ct.seed * 7919 + (uint64_t)r;
		size_t nops =
		    50 + (pl->maxops > 50 ? wl_rand(&rr) % (uint64_t)(pl->maxops - 49) : 0);
		struct op *ops = calloc(nops, sizeof(*ops));
		struct workload w = {(enum variant)(r % V_NVARIANTS), r % 2 == 1, nops, ops, "", 0};
		if (!ops)
			return UINT64_MAX;
		for (size_t i = 0; i < nops; i++)
			wl_random_op(&rr, &ops[i]);
		snprintf(w.name, sizeof(w.name), "random:seed=%" PRIu64 ",n=%ld,ops=%zu/%s",
			 ct.seed, r, nops, vname[w.variant]);
		if ((!only || strstr(w.name, only)) && !(skipped(w.name) & SKIP_CRASH))
			n += start(&w, crash, false, dry);
		free(ops);
	}
	if (!dry)
		reap_all();
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"full", no_argument, 0, 'F'},
					   {"seed", required_argument, 0, 's'},
					   {"seq2", required_argument, 0, '2'},
					   {"random", required_argument, 0, 'r'},
					   {"ops", required_argument, 0, 'o'},
					   {"subsets", required_argument, 0, 'S'},
					   {"only", required_argument, 0, 'O'},
					   {"no-inject", no_argument, 0, 'N'},
					   {"inject-only", no_argument, 0, 'I'},
					   {"save", required_argument, 0, 'd'},
					   {"replay", required_argument, 0, 'R'},
					   {"no-delete", no_argument, 0, 'D'},
					   {"verbose", no_argument, 0, 'v'},
					   {"help", no_argument, 0, 'h'},
					   {"jobs", required_argument, 0, 'j'},
					   {"expect-failures", no_argument, 0, 'X'},
					   {"rec-samples", required_argument, 0, 'C'},
					   {"delete-every", required_argument, 0, 'E'},
					   {"progress", required_argument, 0, 'P'},
					   {0, 0, 0, 0}};
	struct plan pl;
	/* 115 pairs keep the default above 100,000 crash states since the
	 * journal fences a transaction's undo entries together (fewer fences,
	 * fewer states per workload: 40 pairs gave 59,848). */
	long seq2 = 115, nrandom = 1, maxops = 60;
	bool full = false, inject = true, crash = true, expect_failures = false;
	const char *only = NULL, *replay = NULL;
	uint64_t nskipped = 0;
	int c, ret;

	ct.seed = 1;
	ct.random_subsets = 8;
	ct.rec_samples = 1;
	ct.delete_every = 4;
	ct.jobs = 2;
	ct.max_failures_shown = 40;
	ct.save = "crashtest-failures";
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'F':
			/* What the default runs, every other pair on the
			 * plain pool, five more random workloads. */
			full = true;
			nrandom = 6;
			if (!progress)
				progress = 100;
			break;
		case 's':
			ct.seed = strtoull(optarg, NULL, 0);
			break;
		case '2':
			seq2 = strtol(optarg, NULL, 0);
			break;
		case 'r':
			nrandom = strtol(optarg, NULL, 0);
			break;
		case 'o':
			maxops = strtol(optarg, NULL, 0);
			break;
		case 'S':
			ct.random_subsets = atoi(optarg);
			break;
		case 'O':
			only = optarg;
			break;
		case 'N':
			inject = false;
			break;
		case 'I':
			crash = false;
			break;
		case 'd':
			ct.save = optarg;
			break;
		case 'R':
			replay = optarg;
			break;
		case 'D':
			ct.no_delete = true;
			break;
		case 'v':
			ct.verbose++;
			break;
		case 'j':
			ct.jobs = atoi(optarg);
			break;
		case 'X':
			expect_failures = true;
			break;
		case 'C':
			ct.rec_samples = atoi(optarg);
			break;
		case 'E':
			ct.delete_every = atoi(optarg);
			break;
		case 'P':
			progress = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout, 0);
			break;
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc || maxops < 1 || ct.jobs < 1 || ct.jobs > 16 || ct.delete_every < 1)
		usage(stderr, 2);
	setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	snprintf(ct.dir, sizeof(ct.dir), "/dev/shm/daxfs-crashtest.XXXXXX");
	if (!mkdtemp(ct.dir)) {
		perror("daxfs-crashtest: mkdtemp");
		return 2;
	}
	snprintf(ct.live, sizeof(ct.live), "%s/live.pool", ct.dir);
	snprintf(ct.crash, sizeof(ct.crash), "%s/crash.pool", ct.dir);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if ((ret = make_templates())) {
		fprintf(stderr, "daxfs-crashtest: cannot make the pools: %s\n", daxfs_errormsg());
		cleanup_dir();
		return 2;
	}
	if (replay) {
		ct.save = NULL;
		ret = ct_replay(replay);
		cleanup_dir();
		return ret;
	}

	pl.full = full;
	pl.crash = crash;
	pl.inject = inject;
	pl.only = only;
	pl.seq2 = seq2;
	pl.nrandom = nrandom;
	pl.maxops = maxops;
	/* A dry pass counts the workloads, for the progress lines. */
	planned = schedule(&pl, NULL);
	if (progress)
		printf("crashtest: %" PRIu64 " workloads to run\n", planned);
	fflush(stdout);
	if (schedule(&pl, &nskipped) == UINT64_MAX)
		return 2;
	reap_all();
	cleanup_dir();
	if (nskipped)
		printf("crashtest: %" PRIu64
		       " workloads (partly) skipped: skip list of pending fixes\n",
		       nskipped);
	printf("crashtest: %" PRIu64 " fault-injection runs, %" PRIu64
	       " of the crash states crash the recovery, %" PRIu64
	       " recover into quarantine (%" PRIu64 " reaped after the holder exited)\n",
	       ct.inject_runs, ct.rec_states, ct.quarantined, ct.reaped);
	printf("crashtest: reflink: %" PRIu64 " ops cloned (%" PRIu64 " fences, %" PRIu64
	       " crash states), %" PRIu64 " broke a sharing (%" PRIu64 " fences, %" PRIu64
	       " crash states)\n",
	       ct.clone_ops, ct.clone_points, ct.clone_states, ct.cow_ops, ct.cow_points,
	       ct.cow_states);
	printf("crashtest: snapshots: %" PRIu64
	       " ops held shared blocks under a snapshot map (%" PRIu64 " fences, %" PRIu64
	       " crash states)\n",
	       ct.snap_ops, ct.snap_points, ct.snap_states);
	printf("crashtest: %" PRIu64 " workloads, %" PRIu64 " crash states, %" PRIu64 " failed\n",
	       ct.workloads, ct.states, ct.failed);
	if (expect_failures) {
		/* A mutation test: the planted bug must be caught. */
		printf("crashtest: the planted bug was %s\n", ct.failed ? "caught" : "NOT caught");
		return ct.failed ? 0 : 1;
	}
	return ct.failed ? 1 : 0;
}
