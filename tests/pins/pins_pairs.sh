#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pins_pairs.sh - every pair of multi-lock operations at once through a
# mount (pairs-test): a deadlock fails on the monitor, a lock-order
# violation aborts a debug tree's daemon.  Then the pool must be clean.
#   --soak   run for 5 minutes instead of 25 seconds
DX_NAME=pins_pairs
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$PAIRS_TEST"
secs=25
[ "${1:-}" = --soak ] && secs=300
dx_watchdog $((secs + 200))

dx_mkfs 256M
dx_mount busy_timeout=1,lease_break_time=1
"$PAIRS_TEST" "$DX_MNT" "$secs" || dx_fail "pairs-test"
dx_umount
dx_fsck
dx_pass
