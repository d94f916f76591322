#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pins_wait.sh - waits for pins end, through real mounts: busy_timeout
# expiries leave the mount working and leak nothing, interrupts and SIGKILL
# take waiting truncates and maps out of the queue, a process that waits
# for its own pin can be killed and the mount unmounted, and the default
# busy_timeout is not "for ever".
DX_NAME=pins_wait
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$WAIT_TEST"
dx_watchdog 300

dx_mkfs 256M
dx_mount busy_timeout=1
"$WAIT_TEST" expire "$DX_MNT" || dx_fail "wait-test expire"
dx_umount

dx_mount busy_timeout=0
"$WAIT_TEST" intr "$DX_MNT" || dx_fail "wait-test intr"
dx_umount

dx_mount
"$DX_CTL" stats "$DX_MNT" | grep -q "busy_timeout: *30 s" ||
	{ "$DX_CTL" stats "$DX_MNT"; dx_fail "the default busy_timeout is not 30 s"; }
dx_umount
dx_fsck
dx_pass
