# SPDX-License-Identifier: MIT
# lib.sh - sourced by the daxfs mount tests.
#
# Gives each test a private directory under /dev/shm holding its pool and
# mountpoint, helpers to format, mount and unmount, and an EXIT trap that
# always unmounts, stops the daemon and removes the directory.
#
#   DAXFS_BUILD   the meson build directory (meson test sets it)
#
# A test script does:
#   . "$(dirname "$0")/lib.sh"
#   dx_need_root; dx_need "$DX_MKFS" "$DX_DAEMON"
#   dx_watchdog 300
#   dx_mkfs 64M; dx_mount; ...; dx_umount
#   dx_pass

set -u
export LC_ALL=C
# There is no real pmem here; libpmem must still take the pmem paths.
export PMEM_IS_PMEM_FORCE=1

DX_NAME=$(basename "$0" .sh)
DX_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${DAXFS_BUILD:=$DX_SRC/build}"
DX_MKFS=$DAXFS_BUILD/tools/mkfs/mkfs.daxfs
DX_DAEMON=$DAXFS_BUILD/fs/daxfs
DX_FSCK=$DAXFS_BUILD/tools/fsck/fsck.daxfs
DX_CTL=$DAXFS_BUILD/tools/ctl/daxfsctl
DX_POSIX_TEST=$DAXFS_BUILD/tests/posix-test
DX_PERM_TEST=$DAXFS_BUILD/tests/perm-test

DX_TMP=
DX_POOL=
DX_MNT=
DX_PID=
DX_WATCHDOG=
DX_MOUNT_TIMEOUT=${DX_MOUNT_TIMEOUT:-20}

dx_log() { echo "[$DX_NAME] $*"; }
dx_fail() { dx_log "FAIL: $*"; exit 1; }
# meson counts exit status 77 as a skipped test
dx_skip() { dx_log "SKIP: $*"; exit 77; }
dx_pass() { dx_log "PASS"; exit 0; }

dx_need_root() {
	[ "$(id -u)" = 0 ] || dx_skip "must run as root"
	[ -c /dev/fuse ] || dx_skip "no /dev/fuse"
}

# dx_need FILE...: skip the test while a binary is not built yet
dx_need() {
	local f
	for f in "$@"; do
		[ -x "$f" ] || dx_skip "$f is not built"
	done
}

# dx_mounted DIR: is DIR a mountpoint in /proc/mounts?
dx_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# Pids of daemons serving our pool, whoever started them (mount(8) does too).
# Our pool path is unique, so matching it cannot hit anyone else's process.
dx_daemon_pids() {
	local p
	[ -n "$DX_POOL" ] || return 0
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		if tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF "$DX_POOL"; then
			echo "${p#/proc/}"
		fi
	done
}

dx_cleanup() {
	local rc=$? p i
	trap - EXIT INT TERM
	set +e
	if [ -n "$DX_WATCHDOG" ]; then
		kill "$DX_WATCHDOG" 2>/dev/null
		wait "$DX_WATCHDOG" 2>/dev/null
	fi
	for m in ${DX_EXTRA_MOUNTS:-} "$DX_MNT"; do
		[ -n "$m" ] || continue
		if dx_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
				fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"
		fi
	done
	# a daemon that outlived its mount gets TERM, then KILL
	for i in 1 2 3 4 5 6 7 8 9 10; do
		p=$(dx_daemon_pids)
		[ -n "$p" ] || break
		[ "$i" = 1 ] && dx_log "stopping daemon(s) $p"
		if [ "$i" -lt 6 ]; then kill -TERM $p 2>/dev/null; else kill -KILL $p 2>/dev/null; fi
		sleep 0.2
	done
	[ -n "$DX_PID" ] && wait "$DX_PID" 2>/dev/null
	# a filesystem holding the pool goes once no daemon has it open
	if [ -n "${DX_BACKING_MOUNT:-}" ] && dx_mounted "$DX_BACKING_MOUNT"; then
		umount "$DX_BACKING_MOUNT" 2>/dev/null || umount -l "$DX_BACKING_MOUNT"
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "$DX_TMP/daemon.log" ]; then
		dx_log "daemon output (last 40 lines):"
		tail -n 40 "$DX_TMP/daemon.log"
	fi
	if [ -n "$DX_TMP" ]; then
		if grep -qF "$DX_TMP" /proc/mounts; then
			dx_log "a mount is still present below $DX_TMP; not removing it"
			rc=1
		else
			rm -rf "$DX_TMP"
		fi
	fi
	exit "$rc"
}

trap dx_cleanup EXIT
trap 'dx_log "interrupted"; exit 130' INT TERM

DX_TMP=$(mktemp -d /dev/shm/daxfs-test.XXXXXX) || exit 1
chmod 755 "$DX_TMP"
DX_POOL=$DX_TMP/pool
DX_MNT=$DX_TMP/mnt
mkdir "$DX_MNT"

# dx_watchdog SECONDS: if the test is still running then, kill the daemon
# (which fails every pending request on the mount) and the test itself, so
# a hang ends in a failure with cleanup instead of meson's SIGKILL.
dx_watchdog() {
	local secs=$1 main=$$
	(
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		sp=$!
		wait "$sp"
		echo "[$DX_NAME] watchdog: still running after $secs s; killing the daemon" >&2
		for p in $(dx_daemon_pids); do kill -KILL "$p"; done
		kill -TERM "$main"
		sleep 2
		# children of the test that still block the trap
		pkill -TERM -P "$main"
	) &
	DX_WATCHDOG=$!
}

# dx_refused NAME POOL OUT ERR WHAT [MNT]: start the daemon on POOL at MNT
# (default $DX_MNT; stdout to OUT, stderr to ERR, which may be OUT) and wait
# until it gives up; if it mounts or keeps running, stop it and fail NAME
# with WHAT.  DX_RC is then
# its exit status.
dx_refused() {
	local name=$1 pool=$2 out=$3 err=$4 what=$5 mnt=${6:-$DX_MNT} pid i
	if [ "$err" = "$out" ]; then
		"$DX_DAEMON" -f "$pool" "$mnt" >"$out" 2>&1 &
	else
		"$DX_DAEMON" -f "$pool" "$mnt" >"$out" 2>"$err" &
	fi
	pid=$!
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		dx_mounted "$mnt" && break
		sleep 0.1
	done
	if dx_mounted "$mnt" || kill -0 "$pid" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid"
		dx_fail "$name: $what"
	fi
	wait "$pid"
	DX_RC=$?
}

# dx_mkfs [SIZE [MKFS ARGS...]]: format the private pool (default 256M)
dx_mkfs() {
	local size=${1:-256M}
	[ $# -gt 0 ] && shift
	"$DX_MKFS" -s "$size" -f "$@" "$DX_POOL" || dx_fail "mkfs.daxfs -s $size $* failed"
}

# dx_mount [OPTS [MOUNTPOINT]]: start "daxfs -f" in the background and wait
# until the mount shows up in /proc/mounts
dx_mount() {
	local opts=${1:-} mnt=${2:-$DX_MNT} i=0 rc
	[ -z "$DX_PID" ] || dx_fail "dx_mount: a daemon is already running"
	echo "--- daxfs -f ${opts:+-o $opts} $DX_POOL $mnt" >>"$DX_TMP/daemon.log"
	"$DX_DAEMON" -f ${opts:+-o "$opts"} "$DX_POOL" "$mnt" >>"$DX_TMP/daemon.log" 2>&1 &
	DX_PID=$!
	while ! dx_mounted "$mnt"; do
		if ! kill -0 "$DX_PID" 2>/dev/null; then
			wait "$DX_PID"
			rc=$?
			DX_PID=
			tail -n 20 "$DX_TMP/daemon.log"
			dx_fail "daxfs exited with status $rc before the mount appeared"
		fi
		i=$((i + 1))
		[ $i -le $((DX_MOUNT_TIMEOUT * 10)) ] ||
			dx_fail "mount of $mnt did not appear within $DX_MOUNT_TIMEOUT s"
		sleep 0.1
	done
}

# dx_umount [MOUNTPOINT]: unmount and check that the daemon exits with 0
dx_umount() {
	local mnt=${1:-$DX_MNT} i rc
	for i in 1 2 3 4 5 6 7 8 9 10; do
		fusermount3 -u "$mnt" && break
		[ $i = 10 ] && dx_fail "fusermount3 -u $mnt keeps failing"
		sleep 0.5
	done
	[ -n "$DX_PID" ] || return 0
	for i in $(seq 1 $((DX_MOUNT_TIMEOUT * 10))); do
		kill -0 "$DX_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DX_PID" 2>/dev/null; then
		kill -KILL "$DX_PID"
		wait "$DX_PID"
		DX_PID=
		dx_fail "daemon did not exit within $DX_MOUNT_TIMEOUT s of the unmount"
	fi
	wait "$DX_PID"
	rc=$?
	DX_PID=
	[ "$rc" = 0 ] || dx_fail "daemon exited with status $rc after unmount"
}

# dx_kill9 [MOUNTPOINT]: SIGKILL the daemon without unmounting, then detach
# the dead mount
dx_kill9() {
	local mnt=${1:-$DX_MNT}
	[ -n "$DX_PID" ] || dx_fail "dx_kill9: no daemon"
	kill -KILL "$DX_PID"
	wait "$DX_PID" 2>/dev/null
	DX_PID=
	fusermount3 -uz "$mnt" || dx_fail "fusermount3 -uz $mnt failed after kill -9"
}

# dx_fsck: check the unmounted pool with fsck.daxfs -n when it is built
dx_fsck() {
	local rc
	if [ ! -x "$DX_FSCK" ]; then
		dx_log "note: fsck.daxfs not built; pool not checked"
		return 0
	fi
	"$DX_FSCK" -n -f "$DX_POOL"
	rc=$?
	[ "$rc" = 0 ] || dx_fail "fsck.daxfs -n reports status $rc"
}

# ---- a tree with every kind of object, for the persistence tests ----

# dx_tree_build DIR: files, dirs, symlinks, hard links, xattrs, a sparse
# file, a FIFO and device nodes.  Random data comes from /dev/urandom, so
# compare against a manifest of the same tree, not a fixed one.
dx_tree_build() {
	local d=$1 i
	(
		set -e
		cd "$d"
		mkdir -p a/b/c/d e private
		echo "hello, persistent world" >a/hello.txt
		: >empty
		head -c 1048576 /dev/urandom >a/b/random-1M
		head -c 12345 /dev/urandom >a/b/c/odd-size
		head -c 10000 /dev/urandom >a/b/c/d/deep
		# written in pieces: appends and an overwrite in the middle
		head -c 5000 /dev/urandom >pieces
		head -c 7000 /dev/urandom >>pieces
		printf 'MIDDLE' | dd of=pieces bs=1 seek=4090 conv=notrunc status=none
		# truncated down to an unaligned size, then extended again
		head -c 20000 /dev/urandom >trunc
		truncate -s 6000 trunc
		truncate -s 9000 trunc
		# sparse: 1 GiB with data at 0, 512 MiB and the end
		truncate -s 1G sparse
		printf 'start' | dd of=sparse conv=notrunc status=none
		head -c 4096 /dev/urandom | dd of=sparse bs=4096 seek=131072 conv=notrunc status=none
		printf 'end' | dd of=sparse bs=1 seek=$((1073741824 - 3)) conv=notrunc status=none
		# a punched hole
		head -c 65536 /dev/urandom >punched
		fallocate -p -o 8192 -l 16384 punched
		# owners and modes
		chown 1234:5678 a/hello.txt
		chmod 4755 a/hello.txt
		chown 1001:1002 private
		chmod 0700 private
		chmod 2775 e
		chmod 1777 a/b
		# links
		ln pieces a/pieces-link
		ln pieces a/b/c/pieces-link2
		ln -s hello.txt a/rel-link
		ln -s /nonexistent/absolute/target abs-link
		ln -s "$(head -c 4095 /dev/zero | tr '\0' 'x')" long-link
		chown -h 77:88 abs-link
		# special files
		mkfifo -m 0620 fifo
		mknod chardev c 1 3
		mknod blockdev b 7 0
		chmod 0640 chardev
		# xattrs
		setfattr -n user.greeting -v hello a/hello.txt
		setfattr -n user.binary -v 0x00ff10ab00 a/hello.txt
		setfattr -n trusted.secret -v classified a/hello.txt
		setfattr -n user.dir -v on-a-dir a/b
		setfattr -h -n trusted.on-link -v yes a/rel-link
		setfattr -n user.big -v "$(head -c 1500 /dev/zero | tr '\0' 'z')" empty
		# many small files in one directory
		mkdir many
		for i in $(seq 1 300); do
			head -c $((i * 37)) /dev/urandom >"many/f$i"
		done
		# renamed and deleted objects
		echo gone >many/deleted
		rm many/deleted
		echo moved >many/before-rename
		mv many/before-rename a/b/c/after-rename
		mkdir a/moved-dir
		mv a/moved-dir e/
	) || dx_fail "building the test tree failed"
}

# dx_tree_list DIR: all paths, sorted, relative to DIR
dx_tree_list() {
	(cd "$1" && find . -print | sort)
}

# dx_tree_settimes DIR LIST: give every object distinct atime and mtime
# with nanoseconds, so the times can be compared exactly afterwards
dx_tree_settimes() {
	local d=$1 list=$2 i=0 p
	(
		cd "$d" || exit 1
		while read -r p; do
			i=$((i + 1))
			touch -h -a -d "@$((1000000000 + i * 1000)).$(printf %09d $((i * 7919 % 1000000000)))" "$p" &&
				touch -h -m -d "@$((1200000000 + i * 1000)).$(printf %09d $((i * 104729 % 1000000000)))" "$p" ||
				exit 1
		done <"$list"
	) || dx_fail "setting times in the tree failed"
}

# dx_tree_meta DIR LIST: one line of metadata per object (no reads, so no
# atime changes): type, mode, owner, size, links, inode, blocks, rdev, times
dx_tree_meta() {
	(cd "$1" && tr '\n' '\0' <"$2" |
		xargs -0 stat -c '%n|%F|%a|%u:%g|%s|%h|%i|%b|%t:%T|%.9X|%.9Y|%.9Z')
}

# dx_tree_content DIR LIST: checksums of files, symlink targets, xattrs
dx_tree_content() {
	local p
	(
		cd "$1" || exit 1
		while read -r p; do
			if [ -L "$p" ]; then
				echo "$p -> $(readlink "$p" | sha256sum | cut -c1-16)"
			elif [ -f "$p" ]; then
				echo "$p $(sha256sum <"$p" | cut -c1-64)"
			fi
		done <"$2"
		tr '\n' '\0' <"$2" | xargs -0 getfattr -h -d -m - -e hex 2>&1
	)
}

# dx_compare NAME EXPECTED GOT: fail with a diff when the files differ
dx_compare() {
	if ! diff -u "$2" "$3" >"$DX_TMP/diff"; then
		head -n 60 "$DX_TMP/diff"
		dx_fail "$1 differs"
	fi
	dx_log "ok: $1 identical ($(wc -l <"$2") lines)"
}

# ---- leak checks ----

# dx_free DIR: free blocks and inodes of the filesystem holding DIR
dx_free() {
	stat -f -c '%f blocks and %d inodes free' "$1"
}

# dx_expect_free DIR WANT: the free counts must come back to WANT (a
# dx_free line); poll, because FUSE delivers releases and forgets late
dx_expect_free() {
	local i
	for i in $(seq 1 100); do
		[ "$(dx_free "$1")" = "$2" ] && { dx_log "ok: no leak ($2)"; return 0; }
		sleep 0.1
	done
	dx_fail "space or inodes leaked: $(dx_free "$1"), expected $2"
}

# dx_baseline DIR SUB: create and remove SUB once (so the parent directory
# has its block), then print the free counts to compare against later
dx_baseline() {
	mkdir "$1/$2" && rmdir "$1/$2" || dx_fail "mkdir/rmdir $1/$2"
	dx_free "$1"
}
