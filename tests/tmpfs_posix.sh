#!/bin/bash
# SPDX-License-Identifier: MIT
# posix-test against tmpfs: the reference its checks are written for.  If
# this fails, the test (or the kernel) changed, not daxfs.
. "$(dirname "$0")/lib.sh"
dx_need "$DX_POSIX_TEST"
[ "$(id -u)" = 0 ] || dx_skip "must run as root"
dx_watchdog 300
mkdir "$DX_TMP/ref"
[ "$(stat -f -c %T "$DX_TMP/ref")" = tmpfs ] || dx_skip "/dev/shm is not tmpfs"
"$DX_POSIX_TEST" "$DX_TMP/ref" || dx_fail "posix-test fails on tmpfs"
dx_pass
