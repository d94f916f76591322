/* SPDX-License-Identifier: MIT */
/*
 * crashtest.h - shared state of daxfs-crashtest (see docs/crash-consistency.md,
 * "The crash tester").
 */
#ifndef CRASHTEST_H
#define CRASHTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "workload.h"

#define CT_POOL_SIZE (8ULL << 20)

struct ct {
	char dir[128];		     /* private directory of pools (on /dev/shm) */
	char live[160];		     /* the pool the workload runs on */
	char crash[160];	     /* crash images are recovered here */
	char tmpl[V_NVARIANTS][160]; /* the tree after setup, per variant */
	const char *save;	     /* where failing images and workloads go */
	uint64_t seed;
	int random_subsets; /* per fence, beyond the exhaustive limit */
	int delete_every;   /* the deletion check on every n-th image */
	int jobs;	    /* workloads run at once */
	int rec_samples;    /* images per fence whose recovery is crashed too */
	int verbose;
	bool no_delete;			   /* skip the deletion check (speed, for debugging) */
	uint64_t empty_bfree, empty_ffree; /* free counts of an empty pool */
	/* Counts. */
	uint64_t workloads, states, failed, rec_states, inject_runs;
	uint64_t quarantined; /* states whose recovery quarantined blocks */
	uint64_t reaped;      /* of those, reaped after the holder exited */
	/* Ops that broke a block's sharing (copy on write) and that cloned,
	 * with their fences and crash states. */
	uint64_t cow_ops, cow_points, cow_states;
	uint64_t clone_ops, clone_points, clone_states;
	uint64_t snap_ops, snap_points, snap_states;
	uint64_t max_failures_shown;
};
extern struct ct ct;

/* Make a fresh tree of the variant in ct.live (a copy of its template). */
int ct_fresh_pool(enum variant v, const char *path);
/* Copy a file. */
int ct_copy(const char *from, const char *to);

/* Run a workload under the recorder and test every crash state of it. */
void ct_crash_workload(const struct workload *w);
/* Fail the k-th allocation / room check of each op of a seq-1 workload. */
void ct_inject_workload(const struct workload *w);
/* Replay a saved failure; returns 0 if it passes now, 1 if it still fails. */
int ct_replay(const char *file);

void ct_fail(const struct workload *w, size_t opi, const char *what, const char *image);
#endif
