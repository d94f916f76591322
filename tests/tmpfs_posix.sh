#!/bin/bash
# SPDX-License-Identifier: MIT
# posix-test against tmpfs: the reference its checks are written for.  If
# this fails, the test (or the kernel) changed, not daxfs.
. "$(dirname "$0")/lib.sh"
dx_need "$DX_POSIX_TEST"
[ "$(id -u)" = 0 ] || dx_skip "must run as root"
dx_watchdog 300
# a private tmpfs: the statfs checks need a filesystem nobody else uses
mkdir "$DX_TMP/ref"
DX_EXTRA_MOUNTS=$DX_TMP/ref
mount -t tmpfs -o size=2g,nr_inodes=400k,mode=0755 daxfs-test "$DX_TMP/ref" ||
	dx_skip "cannot mount a tmpfs"
"$DX_POSIX_TEST" "$DX_TMP/ref" || dx_fail "posix-test fails on tmpfs"
dx_pass
