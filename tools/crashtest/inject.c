/* SPDX-License-Identifier: MIT */
/*
 * inject.c - error paths: for each operation, fail its k-th allocation
 * (blocks or inode), then separately its k-th journal-room check, for
 * k = 1, 2, ... until the operation no longer gets that far.  Each time the
 * operation must either have fully happened (as without the failure) or
 * changed nothing: the same tree, sizes, contents, block counts and free
 * counts as before, a clean check, and the same tree after a remount.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include "check.h"
#include "daxfs.h"
#include "fault.h"
#include "crashtest.h"
#include "oracle.h"

#define MAX_K 64

static struct {
	bool room; /* failing room checks (else allocations) */
	uint64_t k, count;
	struct dx_inject hook;
} inj;

/*
 * Inode allocations are not failed: every caller checks the free inode
 * count first, after which dx_alloc_inode cannot fail, and the callers
 * rely on that.  Block allocations can fail after such a check (a
 * contiguous run, the extent block of a split), so they are failed.
 */
static bool inj_fail(enum dx_inject_site s)
{
	if (s == DX_INJECT_ALLOC_INODE || (s == DX_INJECT_TX_ROOM) != inj.room)
		return false;
	return ++inj.count == inj.k;
}

struct run {
	struct ostate st;
	struct statvfs sv;
	long ret;
};

/* Fresh tree, ops[0..i), then op i with the hook set (k == 0: none). */
static int run_to(const struct workload *w, size_t i, bool room, uint64_t k, struct run *before,
		  struct run *after, char *why, size_t wl)
{
	struct wl_run r = {0};
	int ret;

	if ((ret = ct_fresh_pool(w->variant, ct.live)) ||
	    (ret = daxfs_open(ct.live, &wl_open_opts, &r.fs))) {
		snprintf(why, wl, "cannot open the pool: %s", daxfs_errormsg());
		return 1;
	}
	r.dead_pid = 0x3ffffff0;
	inj.hook.fail = NULL;
	inj.hook.room_cap = w->variant == V_FULL_JOURNAL ? WL_JOURNAL_ROOM : 0;
	dx_inject_hook = &inj.hook;
	for (size_t j = 0; j < i; j++)
		wl_run_op(&r, &w->ops[j]);
	dx_inject_hook = NULL;
	ostate_take(r.fs, &before->st, why, wl);
	daxfs_statfs(r.fs, &before->sv);
	inj.room = room;
	inj.k = k;
	inj.count = 0;
	inj.hook.fail = k ? inj_fail : NULL;
	dx_inject_hook = &inj.hook;
	after->ret = wl_run_op(&r, &w->ops[i]);
	dx_inject_hook = NULL;
	ret = ostate_take(r.fs, &after->st, why, wl);
	daxfs_statfs(r.fs, &after->sv);
	daxfs_close(r.fs);
	return ret ? 1 : 0;
}

static void first_problem(void *ctx, const char *msg)
{
	char *first = ctx;

	if (!first[0])
		snprintf(first, 256, "%s", msg);
}

static int check_live(char *why, size_t wl)
{
	char first[256] = "";
	struct daxfs_check_opts o = {
	    .mode = DAXFS_CHECK_ONLY, .report = first_problem, .ctx = first};
	struct daxfs_check_result r;

	if (daxfs_check(ct.live, &o, &r) || r.errors) {
		snprintf(why, wl, "the checker finds %" PRIu64 " problems: %s", r.errors, first);
		return 1;
	}
	return 0;
}

static int remount_same(const struct ostate *want, char *why, size_t wl)
{
	struct daxfs *fs;
	struct ostate got;
	char w2[400];
	int bad;

	if (daxfs_open(ct.live, &wl_open_opts, &fs)) {
		snprintf(why, wl, "does not open again: %s", daxfs_errormsg());
		return 1;
	}
	bad = ostate_take(fs, &got, w2, sizeof(w2)) != 0 ||
	      !ostate_equal(want, &got, NULL, w2, sizeof(w2));
	daxfs_close(fs);
	ostate_free(&got);
	if (bad)
		snprintf(why, wl, "after a remount: %s", w2);
	return bad;
}

static void one_op(const struct workload *w, size_t i)
{
	struct run b0, ref;
	char why[1024];

	if (run_to(w, i, false, 0, &b0, &ref, why, sizeof(why))) {
		fprintf(stderr, "FAIL inject %s op %zu: %s\n", w->name, i, why);
		ct.failed++;
		return;
	}
	for (int room = 0; room < 2; room++) {
		for (uint64_t k = 1; k <= MAX_K; k++) {
			struct run b, a;
			char w2[400];
			int bad;

			ct.inject_runs++;
			*why = '\0';
			bad = run_to(w, i, room, k, &b, &a, why, sizeof(why));
			if (!bad && inj.count < k) {
				/* The op no longer reaches a k-th one: done. */
				ostate_free(&b.st);
				ostate_free(&a.st);
				break;
			}
			if (!bad && a.ret == ref.ret) {
				if (!ostate_equal(&ref.st, &a.st, NULL, w2, sizeof(w2))) {
					snprintf(why, sizeof(why),
						 "it succeeded but differs from a run without the "
						 "failure: %s",
						 w2);
					bad = 1;
				}
			} else if (!bad && a.ret < 0) {
				if (!ostate_equal(&b.st, &a.st, NULL, w2, sizeof(w2))) {
					snprintf(why, sizeof(why), "it failed (%s) but changed %s",
						 strerror((int)-a.ret), w2);
					bad = 1;
				} else if (a.sv.f_bfree != b.sv.f_bfree ||
					   a.sv.f_ffree != b.sv.f_ffree) {
					snprintf(why, sizeof(why),
						 "it failed (%s) but the free blocks/inodes went "
						 "from %llu/%llu to %llu/%llu",
						 strerror((int)-a.ret),
						 (unsigned long long)b.sv.f_bfree,
						 (unsigned long long)b.sv.f_ffree,
						 (unsigned long long)a.sv.f_bfree,
						 (unsigned long long)a.sv.f_ffree);
					bad = 1;
				}
			}
			if (!bad)
				bad = check_live(why, sizeof(why)) ||
				      remount_same(&a.st, why, sizeof(why));
			if (bad) {
				ct.failed++;
				if (ct.failed <= ct.max_failures_shown)
					fprintf(stderr,
						"FAIL inject %s op %zu (%s): %s %" PRIu64
						" failed -> %ld: %s\n     again: daxfs-crashtest "
						"--only '%s' --inject-only\n",
						w->name, i, wl_kind_name(w->ops[i].kind),
						room ? "journal-room check" : "allocation", k,
						a.ret, why, w->name);
			}
			ostate_free(&b.st);
			ostate_free(&a.st);
			if (bad)
				break;
		}
	}
	ostate_free(&b0.st);
	ostate_free(&ref.st);
}

void ct_inject_workload(const struct workload *w)
{
	for (size_t i = 0; i < w->nops; i++)
		one_op(w, i);
}
