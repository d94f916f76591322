// SPDX-License-Identifier: MIT
/*
 * main.c - the daxfs FUSE daemon: command line, pool, session, mount loop.
 *
 *   daxfs [-f] [-d] [-s] [-o OPTS] POOL MOUNTPOINT
 *
 * mount.fuse3 runs "daxfs POOL MOUNTPOINT -o OPTS" for "mount -t
 * fuse.daxfs" and fstab, so options may come before or after the
 * arguments, and fstab-only options are accepted and ignored.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "daemon.h"

#ifndef DAXFS_VERSION
#define DAXFS_VERSION "unknown"
#endif

#define DFS_DEFAULT_LEASE_BREAK_TIME 45

static const char *progname = "daxfs";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [options] POOL MOUNTPOINT\n"
		"Mount the daxfs filesystem in POOL (made by mkfs.daxfs) on MOUNTPOINT.\n"
		"Unmount with: fusermount3 -u MOUNTPOINT\n"
		"\n"
		"Options:\n"
		"  -h, --help            show this help and exit\n"
		"  -V, --version         show the version and exit\n"
		"  -f, --foreground      do not daemonize\n"
		"  -d, --debug           print every FUSE request (implies -f)\n"
		"  -s, --single-thread   serve requests in one thread\n"
		"  -o OPT[,OPT...]       mount options:\n"
		"      ro, rw                   mount read-only (opens the pool read-only) or\n"
		"                               read-write (default)\n"
		"      allow_other              let other users access the mount\n"
		"      allow_root               let root (and the mounting user) access it\n"
		"      auto_unmount             unmount when the daemon exits, even killed\n"
		"      max_read=BYTES           largest read request the kernel sends\n"
		"      sync, async, dirsync     as for mount(8)\n"
		"      context=, fscontext=, defcontext=, rootcontext=\n"
		"                               SELinux labels, as for mount(8)\n"
		"      default_permissions      always on: the kernel checks permissions\n"
		"      dev, nodev, suid, nosuid, exec, noexec, atime, noatime\n"
		"                               as for mount(8)\n"
		"      fsname=NAME              source shown in /proc/mounts\n"
		"                               (default daxfs:<absolute pool path>)\n"
		"      subtype=NAME             filesystem subtype (default daxfs)\n"
		"      busy_timeout=SECONDS     how long a change waits for busy mapped\n"
		"                               ranges before failing (default %d; 0: no\n"
		"                               limit)\n"
		"      lease_break_time=SECONDS time a lease holder has to give up a\n"
		"                               mapping (default %d)\n"
		"      max_leases=N             layout leases one user may hold (root\n"
		"                               exempt; default 0: no cap)\n"
		"      max_pinned_mb=MIB        MiB one user may hold mapped (root exempt;\n"
		"                               default 0: no cap)\n"
		"      max_mappings=N           mappings one user may hold (root exempt;\n"
		"                               default %d, 0: no cap)\n"
		"      max_map_records=N        mapping records one user may hold (root\n"
		"                               exempt; default an eighth of the table, 0: no cap)\n"
		"      dax_group=NAME           members of group NAME may map and lease\n"
		"                               (besides root and the pool's owner): the\n"
		"                               group is root-equivalent\n"
		"      errors=remount-ro|continue|panic\n"
		"                               on finding a damaged structure: refuse\n"
		"                               further changes (default), carry on, or\n"
		"                               stop the daemon\n"
		"      log_level=err|warning|notice|info|debug\n"
		"                               the least severe messages logged (default\n"
		"                               notice; debug with -d): to stderr with -f,\n"
		"                               else to syslog (LOG_DAEMON, ident daxfs)\n"
		"      lock_stat                also time pin_lock's holds in CPU time\n"
		"                               (daxfsctl stats; two system calls a hold)\n"
		"      auto, noauto, _netdev, defaults, nofail, x-*, comment=*\n"
		"                               fstab options, ignored\n",
		progname, DAXFS_DEFAULT_BUSY_TIMEOUT, DFS_DEFAULT_LEASE_BREAK_TIME,
		DX_DEFAULT_MAX_MAPPINGS);
}

static void try_help(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n", progname);
}

static void version(void)
{
	printf("daxfs version %s\n", DAXFS_VERSION);
	printf("FUSE library version %s\n", fuse_pkgversion());
	/* The next line comes from a child process: keep the order. */
	fflush(stdout);
	fuse_lowlevel_version();
}

/* A whole decimal number of seconds. */
static int parse_number(const char *opt, const char *val, unsigned *out, const char *what)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (*val < '0' || *val > '9')
		goto bad;
	v = strtoul(val, &end, 10);
	if (errno || *end || v > UINT_MAX)
		goto bad;
	*out = (unsigned)v;
	return 0;
bad:
	fprintf(stderr, "%s: invalid value in option '%s': expected %s\n", progname, opt, what);
	return -1;
}

static int parse_count(const char *opt, const char *val, unsigned *out)
{
	return parse_number(opt, val, out, "a number");
}

static int parse_seconds(const char *opt, const char *val, unsigned *out)
{
	return parse_number(opt, val, out, "seconds");
}

/* errors=: the names ext4 uses. */
static int parse_errors(const char *opt, const char *val, int *out)
{
	static const char *const names[] = {"remount-ro", "continue", "panic"};
	static const int modes[] = {DAXFS_ERRORS_REMOUNT_RO, DAXFS_ERRORS_CONTINUE,
				    DAXFS_ERRORS_PANIC};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(val, names[i])) {
			*out = modes[i];
			return 0;
		}
	}
	fprintf(stderr, "%s: invalid value in option '%s': expected remount-ro, continue or panic\n",
		progname, opt);
	return -1;
}

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Options handed on to libfuse unchanged: the mount options its low-level
 * session takes (fuse_session_new(), as mount.fuse3 users know them), less
 * those that make no sense for a pool: blkdev/blksize= (a pool is not a
 * block device served as fuseblk).
 */
static const char *const fuse_passthrough_opts[] = {
    "allow_other", "allow_root", "auto_unmount", "dev", "nodev", "suid", "nosuid", "exec",
    "noexec", "sync", "async", "dirsync", NULL,
};

/* The same, with a value: max_read= bounds the kernel's read requests;
 * the *context= ones are SELinux labels. */
static const char *const fuse_passthrough_prefixes[] = {
    "max_read=", "context=", "fscontext=", "defcontext=", "rootcontext=", NULL,
};

/* Options that only mean something to mount(8) and fstab. */
static const char *const ignored_opts[] = {
    "auto", "noauto", "_netdev", "defaults", "nofail", NULL,
};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static int prefix_in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (has_prefix(s, *list))
			return 1;
	return 0;
}

/*
 * One -o option.  fuse_o collects what libfuse gets; the flags that can
 * be given both ways (ro/rw, atime/noatime) are settled at the end so the
 * last one wins.
 */
static int parse_one(struct dfs_opts *o, char **fuse_o, const char *opt)
{
	if (!*opt || in_list(ignored_opts, opt) || has_prefix(opt, "x-") ||
	    has_prefix(opt, "comment="))
		return 0;
	if (!strcmp(opt, "ro")) {
		o->readonly = 1;
		return 0;
	}
	if (!strcmp(opt, "rw")) {
		o->readonly = 0;
		return 0;
	}
	if (!strcmp(opt, "atime")) {
		o->noatime = 0;
		return 0;
	}
	if (!strcmp(opt, "noatime")) {
		o->noatime = 1;
		return 0;
	}
	if (!strcmp(opt, "default_permissions"))
		return 0; /* always added */
	if (!strcmp(opt, "lock_stat")) {
		o->lock_stat = 1;
		return 0;
	}
	if (!strcmp(opt, "debug")) {
		o->debug = 1;
		return 0;
	}
	if (has_prefix(opt, "busy_timeout="))
		return parse_seconds(opt, opt + strlen("busy_timeout="), &o->busy_timeout);
	if (has_prefix(opt, "lease_break_time="))
		return parse_seconds(opt, opt + strlen("lease_break_time="), &o->lease_break_time);
	if (has_prefix(opt, "max_leases="))
		return parse_count(opt, opt + strlen("max_leases="), &o->max_leases);
	if (has_prefix(opt, "max_pinned_mb="))
		return parse_count(opt, opt + strlen("max_pinned_mb="), &o->max_pinned_mb);
	if (has_prefix(opt, "max_mappings=")) {
		o->have_max_mappings = 1;
		return parse_count(opt, opt + strlen("max_mappings="), &o->max_mappings);
	}
	if (has_prefix(opt, "max_map_records=")) {
		o->have_max_map_records = 1;
		return parse_count(opt, opt + strlen("max_map_records="), &o->max_map_records);
	}
	if (has_prefix(opt, "dax_group=")) {
		const char *name = opt + strlen("dax_group=");

		if (!*name) {
			fprintf(stderr, "%s: option '%s' needs a group name\n", progname, opt);
			return -1;
		}
		free(o->dax_group);
		o->dax_group = strdup(name);
		if (!o->dax_group) {
			fprintf(stderr, "%s: out of memory\n", progname);
			return -1;
		}
		return 0;
	}
	if (has_prefix(opt, "errors="))
		return parse_errors(opt, opt + strlen("errors="), &o->errors);
	if (has_prefix(opt, "log_level=")) {
		if (dfs_log_parse_level(opt + strlen("log_level="), &o->log_level) < 0) {
			fprintf(stderr,
				"%s: invalid value in option '%s': expected err, warning, notice, "
				"info or debug\n",
				progname, opt);
			return -1;
		}
		o->have_log_level = 1;
		return 0;
	}
	/* libfuse would take "max_read=x" as 0 without a word. */
	if (has_prefix(opt, "max_read=") &&
	    parse_count(opt, opt + strlen("max_read="), &o->max_read) < 0)
		return -1;
	if (has_prefix(opt, "fsname="))
		o->have_fsname = 1;
	else if (has_prefix(opt, "subtype="))
		o->have_subtype = 1;
	else if (!in_list(fuse_passthrough_opts, opt) &&
		 !prefix_in_list(fuse_passthrough_prefixes, opt)) {
		fprintf(stderr, "%s: unknown option '%s'\n", progname, opt);
		return -1;
	}
	if (fuse_opt_add_opt_escaped(fuse_o, opt) < 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return -1;
	}
	return 0;
}

/* Split an -o argument at commas; "\," and "\\" escape as in libfuse. */
static int parse_o(struct dfs_opts *o, char **fuse_o, const char *arg)
{
	char *opt = malloc(strlen(arg) + 1);
	size_t n = 0;
	int ret = 0;

	if (!opt) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return -1;
	}
	for (const char *s = arg;; s++) {
		if (*s == '\\' && s[1]) {
			opt[n++] = *++s;
			continue;
		}
		if (*s && *s != ',') {
			opt[n++] = *s;
			continue;
		}
		opt[n] = '\0';
		ret = parse_one(o, fuse_o, opt);
		if (ret < 0 || !*s)
			break;
		n = 0;
	}
	free(opt);
	return ret;
}

static int add_fuse_arg(struct dfs_opts *o, const char *arg)
{
	if (fuse_opt_add_arg(&o->fuse_args, arg) < 0) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return -1;
	}
	return 0;
}

/*
 * The mountpoint cannot be reached.  ENOTCONN is a FUSE mount whose daemon
 * is gone (killed, crashed): it stays until someone detaches it.
 */
static void dead_mount_hint(const char *mnt, int err)
{
	if (err == ENOTCONN)
		fprintf(stderr,
			"%s: %s: a FUSE mount whose daemon is gone is still there; detach it with "
			"'fusermount3 -u %s' (or umount -l), then mount again\n",
			progname, mnt, mnt);
	else
		fprintf(stderr, "%s: %s: %s\n", progname, mnt, strerror(err));
}

/*
 * Fill o from the command line.  Returns -1 to exit with status 1, 1 to
 * exit with status 0 (help, version), 0 to go on and mount.
 */
static int parse_cmdline(int argc, char **argv, struct dfs_opts *o)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},	       {"version", no_argument, NULL, 'V'},
	    {"foreground", no_argument, NULL, 'f'},    {"debug", no_argument, NULL, 'd'},
	    {"single-thread", no_argument, NULL, 's'}, {NULL, 0, NULL, 0},
	};
	const char *args[2];
	char *fuse_o = NULL;
	int nargs = 0;
	int ret = -1;
	struct statvfs sv;
	int c;

	/* A leading '-': positionals come back in order, wherever they are. */
	while ((c = getopt_long(argc, argv, "-hVfdso:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			ret = 1;
			goto out;
		case 'V':
			version();
			ret = 1;
			goto out;
		case 'f':
			o->foreground = 1;
			break;
		case 'd':
			o->debug = 1;
			break;
		case 's':
			o->single_thread = 1;
			break;
		case 'o':
			if (parse_o(o, &fuse_o, optarg) < 0)
				goto out;
			break;
		case 1:
			if (nargs == 2) {
				fprintf(stderr, "%s: unexpected argument '%s'\n", progname, optarg);
				try_help();
				goto out;
			}
			args[nargs++] = optarg;
			break;
		default:
			/* getopt has said what was wrong */
			try_help();
			goto out;
		}
	}
	if (nargs < 2) {
		fprintf(stderr, "%s: missing %s\n", progname,
			nargs == 0 ? "POOL and MOUNTPOINT" : "MOUNTPOINT");
		try_help();
		goto out;
	}
	o->pool = args[0];

	/*
	 * fuse_daemonize() changes to "/", and the unmount after a signal
	 * uses the stored mountpoint: both paths must be absolute.
	 */
	o->mountpoint = realpath(args[1], NULL);
	if (!o->mountpoint) {
		dead_mount_hint(args[1], errno);
		goto out;
	}
	/* statfs always asks the filesystem, where stat may be answered
	 * from the kernel's attribute cache for a second after a daemon died. */
	if (statvfs(o->mountpoint, &sv) < 0) {
		dead_mount_hint(o->mountpoint, errno);
		goto out;
	}
	o->pool_abs = realpath(o->pool, NULL);
	if (!o->pool_abs)
		o->pool_abs = strdup(o->pool); /* daxfs_open() will say why */
	if (!o->pool_abs) {
		fprintf(stderr, "%s: out of memory\n", progname);
		goto out;
	}
	if (o->debug)
		o->foreground = 1;

	/* Permission checks are the kernel's, always. */
	if (fuse_opt_add_opt(&fuse_o, "default_permissions") < 0)
		goto nomem;
	if (o->readonly && fuse_opt_add_opt(&fuse_o, "ro") < 0)
		goto nomem;
	if (o->noatime && fuse_opt_add_opt(&fuse_o, "noatime") < 0)
		goto nomem;
	if (!o->have_subtype && fuse_opt_add_opt(&fuse_o, "subtype=daxfs") < 0)
		goto nomem;
	if (!o->have_fsname) {
		char *fsname;

		if (asprintf(&fsname, "fsname=daxfs:%s", o->pool_abs) < 0)
			goto nomem;
		c = fuse_opt_add_opt_escaped(&fuse_o, fsname);
		free(fsname);
		if (c < 0)
			goto nomem;
	}

	if (add_fuse_arg(o, progname) < 0 || add_fuse_arg(o, "-o") < 0 ||
	    add_fuse_arg(o, fuse_o) < 0 || (o->debug && add_fuse_arg(o, "-d") < 0))
		goto out;
	ret = 0;
	goto out;
nomem:
	fprintf(stderr, "%s: out of memory\n", progname);
out:
	free(fuse_o);
	return ret;
}

static int serve(struct fuse_session *se, const struct dfs_opts *o)
{
	struct fuse_loop_config *cfg;
	int ret;

	if (o->single_thread)
		return fuse_session_loop(se);

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		fprintf(stderr, "%s: out of memory\n", progname);
		return -ENOMEM;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return ret;
}

int main(int argc, char **argv)
{
	struct dfs_opts o;
	struct dfs_ctx ctx;
	struct daxfs_open_opts oo;
	struct fuse_session *se;
	int status = 1;
	int ret;

	memset(&o, 0, sizeof(o));
	memset(&ctx, 0, sizeof(ctx));
	o.busy_timeout = DAXFS_DEFAULT_BUSY_TIMEOUT;
	o.lease_break_time = DFS_DEFAULT_LEASE_BREAK_TIME;
	o.fuse_args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);

	ret = parse_cmdline(argc, argv, &o);
	if (ret) {
		status = ret > 0 ? 0 : 1;
		goto out_args;
	}
	/* From here lib/'s and libfuse's messages, too, name the pool. */
	if (!o.have_log_level)
		o.log_level = o.debug ? DAXFS_LOG_DEBUG : DAXFS_LOG_NOTICE;
	dfs_log_init(o.pool_abs, o.log_level);

	/* Before the pool is opened: a bad group name fails the mount. */
	if (dfs_access_setup(&o, progname) < 0)
		goto out_args;
	/* Open before daemonizing, so a bad pool fails here, unmounted. */
	memset(&oo, 0, sizeof(oo));
	oo.readonly = o.readonly;
	oo.busy_timeout = o.busy_timeout;
	oo.lease_break_time = o.lease_break_time;
	oo.max_leases_per_user = o.max_leases;
	oo.max_pinned_per_user = (uint64_t)o.max_pinned_mb * (1 << 20) / 4096;
	/* Unset: the core's defaults (0); set to 0: no cap (UINT_MAX). */
	if (o.have_max_mappings)
		oo.max_mappings_per_user = o.max_mappings ? o.max_mappings : UINT_MAX;
	if (o.have_max_map_records)
		oo.max_records_per_user = o.max_map_records ? o.max_map_records : UINT_MAX;
	oo.errors = o.errors;
	oo.lock_stat = o.lock_stat;
	ret = daxfs_open(o.pool_abs, &oo, &ctx.fs);
	if (ret < 0) {
		const char *msg = daxfs_errormsg();

		if (msg && *msg)
			fprintf(stderr, "%s: %s%s\n", progname, daxfs_errormsg_for(o.pool_abs),
				ret == -ENOENT ? "; mkfs.daxfs -s SIZE makes a pool" : "");
		else
			fprintf(stderr, "%s: %s: %s\n", progname, o.pool, strerror(-ret));
		goto out_args;
	}
	if (dfs_access_pool_owner(&o, progname) < 0)
		goto out_close;
	ctx.opts = &o;
	daxfs_set_lease_notify(ctx.fs, dfs_lease_notify, &ctx);

	se = fuse_session_new(&o.fuse_args, &dfs_ops, sizeof(dfs_ops), &ctx);
	if (!se)
		goto out_close;
	ctx.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(o.foreground) != 0)
		goto out_unmount;
	/* stderr is /dev/null now. */
	if (!o.foreground)
		dfs_log_to_syslog();
	/* Even read-only: lease waits time out. */
	ret = dfs_tick_start(ctx.fs);
	if (ret < 0) {
		dfs_log(DAXFS_LOG_ERR, "cannot start housekeeping: %s", strerror(-ret));
		goto out_unmount;
	}
	dfs_log(DAXFS_LOG_NOTICE, "mounted on %s (%s)", o.mountpoint,
		o.readonly ? "read-only" : "read-write");

	ret = serve(se, &o);
	/* 0: unmounted; > 0: the signal that ended us, a clean stop too. */
	status = ret < 0 ? 1 : 0;
	dfs_tick_stop();
	/* While the session can still take the answers. */
	daxfs_lease_wait_cancel(ctx.fs, -ENOTCONN);
	dfs_forget_files(ctx.fs);
	if (ret < 0)
		dfs_log(DAXFS_LOG_ERR, "serving %s failed: %s; unmounting", o.mountpoint,
			strerror(-ret));
	else if (ret > 0)
		dfs_log(DAXFS_LOG_NOTICE, "signal %d: unmounting %s", ret, o.mountpoint);
	else
		dfs_log(DAXFS_LOG_NOTICE, "unmounted from %s", o.mountpoint);

out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_close:
	daxfs_close(ctx.fs);
out_args:
	fuse_opt_free_args(&o.fuse_args);
	free(o.mountpoint);
	free(o.pool_abs);
	free(o.dax_group);
	return status;
}
