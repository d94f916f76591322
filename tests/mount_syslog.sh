#!/bin/bash
# SPDX-License-Identifier: MIT
# A daemonized daxfs logs to syslog: LOG_DAEMON, ident daxfs with its pid,
# the pool in every line; its own notices and lib/'s reports alike (here a
# damaged extent found at a read).  -o log_level= drops the less severe
# ones; with -f the same lines go to stderr and none to syslog.
#
# The daemon runs in a private mount namespace whose /dev holds what it
# needs of the real one, and /dev/log: the socket of a stand-in syslog daemon owned by
# this test.  Nothing outside the namespace sees the copy or the mount.
. "$(dirname "$0")/lib.sh"
dx_need_root
LISTEN=$DAXFS_BUILD/tests/syslog-listen
POKE=$DAXFS_BUILD/tests/dx-poke
dx_need "$DX_MKFS" "$DX_DAEMON" "$LISTEN" "$POKE"
command -v unshare >/dev/null || dx_skip "no unshare"
unshare -m --propagation private true 2>/dev/null || dx_skip "cannot make a mount namespace"
dx_watchdog 240

T=$DX_TMP
LOG=$T/syslog.out
SOCK=$T/log.sock

# A file whose extent the read will find damaged.
dx_mkfs 64M
dx_mount
head -c 8192 /dev/urandom >"$DX_MNT/f" || dx_fail "write f"
F=$(stat -c %i "$DX_MNT/f")
dx_umount
"$POKE" "$DX_POOL" set extent.$F.pblk $((1 << 40)) || dx_fail "dx-poke"

"$LISTEN" "$SOCK" "$LOG" >"$T/listen.out" 2>&1 &
LPID=$!
for _ in $(seq 100); do
	grep -q ready "$T/listen.out" && break
	sleep 0.1
done
grep -q ready "$T/listen.out" || dx_fail "the syslog stand-in did not start"
trap 'kill $LPID 2>/dev/null; dx_cleanup' EXIT

# in_ns SCRIPT: run SCRIPT (bash) in a private mount namespace with
# /dev/log bound to $SOCK; $1.. are POOL MNT SOCK and the daemon's options.
in_ns() {
	local script=$1
	shift
	unshare -m --propagation private bash -euc '
		pool=$1 mnt=$2 sock=$3 stage=$4
		shift 4
		# the real /dev, seen through $stage while /dev becomes a copy
		mount --rbind /dev "$stage"
		mount -t tmpfs -o mode=755 daxfs-test-dev /dev
		# what the daemon, fusermount3 and the shell use
		for e in null zero full random urandom tty fuse shm pts fd stdin stdout stderr; do
			n=/dev/$e
			e=$stage/$e
			[ -e "$e" ] || [ -L "$e" ] || continue
			if [ -L "$e" ]; then
				cp -P "$e" "$n"
			elif [ -d "$e" ]; then
				mkdir "$n" && mount --rbind "$e" "$n"
			elif [ -c "$e" ] || [ -b "$e" ]; then
				: >"$n" && mount --bind "$e" "$n"
			fi
		done
		: >/dev/log
		mount --bind "$sock" /dev/log
		umount -l "$stage"
		'"$script" in_ns "$@"
}

STAGE=$(mktemp -d /tmp/daxfs-syslog.XXXXXX) || dx_fail "mktemp"
trap 'kill $LPID 2>/dev/null; rmdir "$STAGE" 2>/dev/null; dx_cleanup' EXIT

# Daemonized (no -f): mount, read the damaged file, unmount, wait for the
# daemon to go.
DAEMONIZED='
	daxfs=$1
	shift
	"$daxfs" "$@" "$pool" "$mnt"
	cat "$mnt/f" >/dev/null 2>&1 && { echo "the damaged file was read"; exit 1; }
	fusermount3 -u "$mnt"
'
wait_gone() {
	local i
	# (pgrep: dx_daemon_pids reads every process's cmdline, seconds here)
	for i in $(seq 100); do
		pgrep -f -- "$DX_POOL" >/dev/null || return 0
		sleep 0.1
	done
	dx_fail "the daemon did not exit after its unmount"
}
# lines LEVEL PATTERN: lines of the log at syslog priority LEVEL (facility
# daemon) from a daxfs process that contain PATTERN
lines() {
	grep -E "^<$((3 * 8 + $1))>.* daxfs\[[0-9]+\]: " "$LOG" | grep -F -- "$2"
}

in_ns "$DAEMONIZED" "$DX_POOL" "$DX_MNT" "$SOCK" "$STAGE" "$DX_DAEMON" ||
	dx_fail "the daemonized mount failed"
wait_gone
sleep 0.2 # the last datagrams
dx_log "syslog got: $(tr '\n' '|' <"$LOG" | head -c 900)"
lines 5 "$DX_POOL: mounted on $DX_MNT (read-write)" >/dev/null ||
	dx_fail "no notice of the mount in syslog"
lines 3 "$DX_POOL: inode $F: corrupt extent" | grep -q 'run fsck.daxfs' ||
	dx_fail "lib/'s report of the damaged extent is not in syslog"
lines 4 "$DX_POOL: pool marked as needing fsck" >/dev/null ||
	dx_fail "no warning of the needs-fsck mark in syslog"
lines 5 "$DX_POOL: unmounted from $DX_MNT" >/dev/null ||
	dx_fail "no notice of the unmount in syslog"
dx_log "ok: daemonized: notices and lib/'s report in syslog, LOG_DAEMON, with the pool"

# -o log_level=err: the error only.
: >"$LOG"
in_ns "$DAEMONIZED" "$DX_POOL" "$DX_MNT" "$SOCK" "$STAGE" "$DX_DAEMON" -o log_level=err ||
	dx_fail "the daemonized mount with log_level=err failed"
wait_gone
sleep 0.2
lines 3 "$DX_POOL: inode $F: corrupt extent" >/dev/null ||
	dx_fail "log_level=err: the error is missing"
if grep -vE '^<27>' "$LOG" | grep -q .; then
	dx_fail "log_level=err: less severe lines logged: $(grep -vE '^<27>' "$LOG" | head -n 3)"
fi
dx_log "ok: log_level=err keeps only errors"

# -f: stderr, not syslog.
: >"$LOG"
FOREGROUND='
	daxfs=$1
	shift
	"$daxfs" -f "$@" "$pool" "$mnt" 2>"$pool.stderr" &
	for i in $(seq 100); do
		grep -q " $mnt " /proc/mounts && break
		sleep 0.1
	done
	cat "$mnt/f" >/dev/null 2>&1 && { echo "the damaged file was read"; exit 1; }
	fusermount3 -u "$mnt"
	wait
'
in_ns "$FOREGROUND" "$DX_POOL" "$DX_MNT" "$SOCK" "$STAGE" "$DX_DAEMON" ||
	dx_fail "the foreground mount failed"
sleep 0.2
[ ! -s "$LOG" ] || dx_fail "-f: lines went to syslog: $(head -n 3 "$LOG")"
grep -q "^daxfs: $DX_POOL: mounted on $DX_MNT" "$DX_POOL.stderr" &&
	grep -q "^daxfs: $DX_POOL: inode $F: corrupt extent" "$DX_POOL.stderr" ||
	{ cat "$DX_POOL.stderr"; dx_fail "-f: the lines are not on stderr"; }
dx_log "ok: -f logs to stderr only"
dx_pass
