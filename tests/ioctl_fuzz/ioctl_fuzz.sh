#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ioctl_fuzz.sh - random ioctls from root and from nobody against an
# allow_other mount (ioctl-fuzz), then: the daemon is still up and answers,
# it leaves no sanitizer report, it unmounts cleanly, and fsck.daxfs -n
# finds the unmounted pool clean.
#   IOCTL_FUZZ_SECONDS  how long the workers run (default 30)
#   IOCTL_FUZZ_SEED     replay a seed the failure printed
DX_NAME=ioctl_fuzz
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_FSCK" "$IOCTL_FUZZ"
secs=${IOCTL_FUZZ_SECONDS:-30}
dx_watchdog $((secs + 240))

dx_mkfs 256M
# Short waits, so that a worker that truncates a file it maps, or a lease
# it ignores, costs a second and not the defaults.
dx_mount allow_other,busy_timeout=1,lease_break_time=1
nice -n 10 "$IOCTL_FUZZ" "$DX_MNT" "$secs" ${IOCTL_FUZZ_SEED:-} || dx_fail "ioctl-fuzz"
kill -0 "$DX_PID" 2>/dev/null || dx_fail "the daemon is gone"
stat "$DX_MNT/fuzz0" >/dev/null || dx_fail "the mount does not answer"
dx_umount
if grep -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|WARNING: ThreadSanitizer" \
	"$DX_TMP/daemon.log"; then
	dx_fail "the daemon reported a sanitizer error"
fi
dx_fsck
dx_pass
