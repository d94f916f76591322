#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hostile.sh - direct access against hostile and unprivileged callers on
# shared (allow_other) mounts: ioctl ranges that would wrap, read maps that
# would allocate, the mapping-record table, who may map and lease, what
# the listings show, dax_group, and the pool's owner (hostile-test).
DX_NAME=hostile
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$HOSTILE_TEST"
dx_watchdog 400

# as_nobody CMD...: run CMD as user nobody, no supplementary groups
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

dx_mkfs 256M

# A root-owned pool shared with everyone: nobody has no direct access.
dx_mount allow_other
"$HOSTILE_TEST" ranges "$DX_MNT" || dx_fail "hostile-test ranges"
"$HOSTILE_TEST" shared "$DX_MNT" || dx_fail "hostile-test shared"
as_nobody "$DX_CTL" info "$DX_MNT" | grep -q "^pool: *(not shown" ||
	dx_fail "daxfsctl info shows nobody the pool path"
dx_umount

# nobody let in through dax_group, with max_pinned_mb=1.
dx_mount allow_other,dax_group=nogroup,max_pinned_mb=1
"$HOSTILE_TEST" holes "$DX_MNT" || dx_fail "hostile-test holes"
dx_umount

# A 256 MiB pool has 16384 mapping records (mkfs: 1/256 of the pool); by
# default a user may hold an eighth of them, and the last eighth is root's.
dx_mount allow_other,dax_group=nogroup
"$HOSTILE_TEST" records "$DX_MNT" 2048 || dx_fail "hostile-test records"
dx_umount
dx_mount allow_other,dax_group=nogroup,max_mappings=0,max_map_records=0
"$HOSTILE_TEST" reserve "$DX_MNT" $((16384 - 2048)) || dx_fail "hostile-test reserve"
dx_umount

# A group that does not exist is a mount error, said clearly.
if "$DX_DAEMON" -f -o dax_group=no-such-group-here "$DX_POOL" "$DX_MNT" 2>"$DX_TMP/err"; then
	dx_fail "a mount with an unknown dax_group succeeded"
fi
grep -q "dax_group=no-such-group-here: no such group" "$DX_TMP/err" ||
	{ cat "$DX_TMP/err"; dx_fail "no clear message for an unknown dax_group"; }
dx_mounted "$DX_MNT" && dx_fail "the refused mount is mounted"

# The pool's owner has direct access on a shared mount, root or not.
chown 65534:65534 "$DX_POOL"
dx_mount allow_other
mkdir "$DX_MNT/nobody" && chown 65534:65534 "$DX_MNT/nobody"
as_nobody "$HOSTILE_TEST" owner "$DX_MNT/nobody" || dx_fail "hostile-test owner (pool owner)"
dx_umount
dx_fsck
dx_pass
