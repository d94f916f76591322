/* SPDX-License-Identifier: MIT */
/*
 * unit_lockdep - the lock-order checker (lib/lockdep.c) aborts on every kind
 * of violation, naming both locks, and lets the documented order through.
 *
 * Built with DAXFS_LOCKDEP whatever the tree's build type, so the checker
 * is proven in every tree; each scenario runs in a child that must abort
 * (SIGABRT) with the expected message, or exit 0 for the allowed orders.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "lockdep.h"
#include "unit.h"

#ifndef DAXFS_LOCKDEP
#error "unit_lockdep must be built with DAXFS_LOCKDEP"
#endif

static dx_rwlock_t ns, ino3, ino5;
static dx_mutex_t load, pin, tx, icache;

static void init(void)
{
	dx_rwlock_init(&ns, DX_LC_NS, 0);
	dx_rwlock_init(&ino3, DX_LC_INODE, 3);
	dx_rwlock_init(&ino5, DX_LC_INODE, 5);
	dx_mutex_init(&load, DX_LC_LOAD);
	dx_mutex_init(&pin, DX_LC_PIN);
	dx_mutex_init(&tx, DX_LC_TX);
	dx_mutex_init(&icache, DX_LC_ICACHE);
}

/* Run fn in a child; returns its stderr (to free) and status in *st. */
static char *in_child(void (*fn)(void), int *st)
{
	int p[2];
	pid_t pid;
	char *out = calloc(1, 65536);
	size_t n = 0;
	ssize_t r;

	if (pipe(p) < 0)
		abort();
	pid = fork();
	if (!pid) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		fn();
		_exit(0); /* no leak check of a forked child */
	}
	close(p[1]);
	while (n < 65535 && (r = read(p[0], out + n, 65535 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	waitpid(pid, st, 0);
	return out;
}

static void expect_abort(void (*fn)(void), const char *what, const char *m1, const char *m2)
{
	int st = 0;
	char *out = in_child(fn, &st);
	bool aborted = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;

	if (!T(aborted && strstr(out, m1) && strstr(out, m2), "%s: aborts naming \"%s\" and \"%s\"",
	       what, m1, m2))
		t_note("status %#x, stderr: %.300s", st, out);
	free(out);
}

static void expect_ok(void (*fn)(void), const char *what)
{
	int st = 0;
	char *out = in_child(fn, &st);

	if (!T(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: allowed", what))
		t_note("status %#x, stderr: %.300s", st, out);
	free(out);
}

/* The inversion of issue 10 defect 9: link took tx_lock, then the inode. */
static void tx_then_inode(void)
{
	dx_mutex_lock(&tx);
	dx_wrlock(&ino3);
}

static void pin_then_inode(void)
{
	dx_mutex_lock(&pin);
	dx_rdlock(&ino5);
}

static void icache_then_pin(void)
{
	dx_mutex_lock(&icache);
	dx_mutex_lock(&pin);
}

static void inode_then_ns(void)
{
	dx_rdlock(&ino3);
	dx_rdlock(&ns);
}

static void inodes_descending(void)
{
	dx_wrlock(&ino5);
	dx_wrlock(&ino3);
}

static void same_inode_twice(void)
{
	dx_rdlock(&ino3);
	dx_rdlock(&ino3);
}

static void unlock_not_held(void)
{
	dx_mutex_unlock(&pin);
}

/* Every class, outermost first, two inodes ascending; released out of
 * order; then again after release, in another order of the leaves. */
static void documented_order(void)
{
	dx_wrlock(&ns);
	dx_wrlock(&ino3);
	dx_wrlock(&ino5);
	dx_mutex_lock(&load);
	dx_mutex_lock(&pin);
	dx_mutex_lock(&tx);
	dx_mutex_lock(&icache);
	dx_rwunlock(&ino3);
	dx_mutex_unlock(&pin);
	dx_mutex_unlock(&icache);
	dx_mutex_unlock(&tx);
	dx_mutex_unlock(&load);
	dx_rwunlock(&ino5);
	dx_rwunlock(&ns);
	dx_mutex_lock(&pin);
	dx_mutex_lock(&icache);
	dx_mutex_unlock(&icache);
	dx_mutex_unlock(&pin);
	dx_mutex_lock(&tx);
	dx_mutex_unlock(&tx);
}

static void body(void)
{
	init();
	expect_abort(tx_then_inode, "tx_lock then an inode lock", "inode lock (3) while holding tx_lock",
		     "lock order violation");
	expect_abort(pin_then_inode, "pin_lock then an inode lock", "inode lock (5)", "pin_lock");
	expect_abort(icache_then_pin, "icache_lock then pin_lock", "taking pin_lock",
		     "holding icache_lock");
	expect_abort(inode_then_ns, "an inode lock then ns_lock", "taking ns_lock",
		     "holding inode lock (3)");
	expect_abort(inodes_descending, "inode 5 then inode 3", "ascending ino order",
		     "inode lock (3) while holding inode lock (5)");
	expect_abort(same_inode_twice, "one inode lock twice", "taken twice", "inode lock (3)");
	expect_abort(unlock_not_held, "unlock of a lock not held", "does not hold", "lockdep");
	expect_ok(documented_order, "the order of lib/core.h");
}

int main(void)
{
	return t_run("lockdep", body);
}
