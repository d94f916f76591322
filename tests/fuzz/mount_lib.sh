# SPDX-License-Identifier: MIT
# fuzz/mount_lib.sh - sourced after lib.sh by the tests that mount damaged
# pools (mount_fuzz.sh, fuzz/regress.sh).
#
#   fz_try POOL    mount POOL with the daemon, walk and modify the tree,
#                  unmount.  Sets FZ_VERDICT to refused (the daemon exited
#                  with a message and a status < 128 before mounting), fine
#                  (mounted, walked, unmounted, exit status 0), crashed (a
#                  signal, a sanitizer report, or the daemon died while
#                  mounted) or hung (no mount, no walk end or no daemon exit
#                  within the limits), and FZ_WHY to a short reason.  Stops
#                  the daemon and unmounts on every path.

FZ_MOUNT_SECS=${FZ_MOUNT_SECS:-20}
FZ_WALK_SECS=${FZ_WALK_SECS:-60}
# A sanitizer report must abort the daemon (status >= 128), not exit 1
# like a refusal.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

# fz_walk DIR: everything a user does with a tree, reads first, then
# changes, then removal (fuzz-fswalk, one process).  Reads are bounded so
# that a file claiming a huge size is not a hang.  Errors are expected.
FZ_FSWALK=$DAXFS_BUILD/tests/fuzz/fuzz-fswalk
fz_walk() {
	"$FZ_FSWALK" "$1" >/dev/null 2>&1
}

# fz_mounted DIR: dx_mounted without starting a process (it is polled)
fz_mounted() {
	local dev m rest
	while read -r dev m rest; do
		[ "$m" = "$1" ] && return 0
	done </proc/mounts
	return 1
}

fz_sanitizer_report() {
	grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$1"
}

# fz_stop: the daemon hangs or we gave up on it: kill it, detach the mount
fz_stop() {
	[ -n "$DX_PID" ] && kill -KILL "$DX_PID" 2>/dev/null
	dx_mounted "$DX_MNT" && { fusermount3 -uz "$DX_MNT" 2>/dev/null || umount -l "$DX_MNT"; }
	[ -n "$DX_PID" ] && wait "$DX_PID" 2>/dev/null
	DX_PID=
}

fz_try() {
	local pool=$1 log=$DX_TMP/fz-daemon.log i rc wpid
	FZ_VERDICT=
	FZ_WHY=
	DX_POOL=$pool
	"$DX_DAEMON" -f "$pool" "$DX_MNT" >"$log" 2>&1 &
	DX_PID=$!
	i=0
	while ! fz_mounted "$DX_MNT"; do
		if ! kill -0 "$DX_PID" 2>/dev/null; then
			wait "$DX_PID"
			rc=$?
			DX_PID=
			if [ "$rc" -ge 128 ] || fz_sanitizer_report "$log"; then
				FZ_VERDICT=crashed
				FZ_WHY="at mount, exit status $rc"
			elif [ "$rc" = 0 ]; then
				FZ_VERDICT=crashed
				FZ_WHY="exit status 0 without mounting"
			else
				FZ_VERDICT=refused
				FZ_WHY=$(grep -v '^\s*$' "$log" | head -n 1 | cut -c1-120)
			fi
			return
		fi
		i=$((i + 1))
		if [ $i -gt $((FZ_MOUNT_SECS * 50)) ]; then
			fz_stop
			FZ_VERDICT=hung
			FZ_WHY="no mount within $FZ_MOUNT_SECS s"
			return
		fi
		sleep 0.02
	done
	fz_walk "$DX_MNT" &
	wpid=$!
	for i in $(seq 1 $((FZ_WALK_SECS * 50))); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$wpid" 2>/dev/null; then
		if kill -0 "$DX_PID" 2>/dev/null; then
			FZ_VERDICT=hung
			FZ_WHY="walk still running after $FZ_WALK_SECS s"
		fi
		fz_stop
		wait "$wpid" 2>/dev/null
		[ -n "$FZ_VERDICT" ] || { FZ_VERDICT=crashed; FZ_WHY="daemon died during the walk"; }
		return
	fi
	wait "$wpid" 2>/dev/null
	if ! kill -0 "$DX_PID" 2>/dev/null; then
		wait "$DX_PID"
		rc=$?
		DX_PID=
		fz_stop
		FZ_VERDICT=crashed
		FZ_WHY="daemon died during the walk, exit status $rc"
		return
	fi
	for i in 1 2 3 4 5 6 7 8 9 10; do
		fusermount3 -u "$DX_MNT" 2>/dev/null && break
		sleep 0.3
	done
	for i in $(seq 1 $((FZ_MOUNT_SECS * 50))); do
		kill -0 "$DX_PID" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$DX_PID" 2>/dev/null; then
		fz_stop
		FZ_VERDICT=hung
		FZ_WHY="daemon did not exit within $FZ_MOUNT_SECS s of the unmount"
		return
	fi
	wait "$DX_PID"
	rc=$?
	DX_PID=
	fz_stop
	if [ "$rc" = 0 ] && ! fz_sanitizer_report "$log"; then
		FZ_VERDICT=fine
	else
		FZ_VERDICT=crashed
		FZ_WHY="exit status $rc after the unmount"
	fi
}
