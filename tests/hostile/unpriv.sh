#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# unpriv.sh - an unprivileged mount end to end: user nobody makes a pool it
# owns, mounts it with daxfs (through the setuid fusermount3), maps, pins
# and leases in it, unmounts it and checks it, without root's help.
DX_NAME=unpriv_mount
. "$(dirname "$0")/../lib.sh"
dx_need_root # only to become nobody
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$DX_FSCK" "$HOSTILE_TEST"
dx_watchdog 300

NOBODY=65534
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }

# What a user mount needs of the machine; nothing else is a reason to skip.
fm=$(command -v fusermount3) || dx_skip "no fusermount3"
[ -u "$fm" ] || dx_skip "$fm is not setuid root: users cannot mount FUSE filesystems"
# libfuse opens /dev/fuse itself before it falls back to fusermount3, so a
# device closed to users (some containers make it 0600) stops every user
# mount.
as_nobody sh -c 'exec 3<>/dev/fuse' 2>/dev/null ||
	dx_skip "user nobody cannot open /dev/fuse ($(stat -c %A /dev/fuse)): no user may mount FUSE here"
as_nobody test -x "$DX_DAEMON" || dx_skip "user nobody cannot run $DX_DAEMON (build tree not readable)"

# nobody's own directory holds its pool and mountpoint; lib.sh's cleanup
# finds the daemon and the mount through DX_POOL and DX_MNT.
home=$DX_TMP/nobody
mkdir "$home" && chown $NOBODY:$NOBODY "$home" && chmod 700 "$home" || dx_fail "mkdir $home"
DX_POOL=$home/pool
DX_MNT=$home/mnt
as_nobody mkdir "$DX_MNT" || dx_fail "nobody cannot make its mountpoint"
as_nobody "$DX_MKFS" -s 64M "$DX_POOL" >/dev/null || dx_fail "nobody's mkfs.daxfs failed"

# dx_mount, with the daemon started as nobody.
cat >"$DX_TMP/daxfs-as-nobody" <<EOS
#!/bin/sh
exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$DX_DAEMON" "\$@"
EOS
chmod 755 "$DX_TMP/daxfs-as-nobody"
DX_DAEMON=$DX_TMP/daxfs-as-nobody dx_mount
awk -v m="$DX_MNT" '$2 == m && $3 == "fuse.daxfs" && /user_id=65534/ { ok = 1 } END { exit !ok }' \
	/proc/mounts || dx_fail "the mount is not nobody's"

"$HOSTILE_TEST" owner "$DX_MNT" 2>/dev/null && dx_fail "hostile-test as root on nobody's private mount"
as_nobody "$HOSTILE_TEST" owner "$DX_MNT" || dx_fail "hostile-test owner on nobody's own mount"
# daxfsctl as nobody: a held map is listed, a lease is taken and listed.
as_nobody sh -c "head -c 65536 /dev/zero >'$DX_MNT/ctl'" || dx_fail "write as nobody"
# (setpriv itself, not the function, in the background: $! is then daxfsctl.)
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	"$DX_CTL" map "$DX_MNT/ctl" 0 64K --write --hold 0 >"$DX_TMP/map.out" &
holder=$!
for _ in $(seq 50); do grep -q extent "$DX_TMP/map.out" 2>/dev/null && break; sleep 0.1; done
as_nobody "$DX_CTL" pins "$DX_MNT" | grep -q "^1 mapping$" || dx_fail "nobody's pins does not list its map"
as_nobody "$DX_CTL" info "$DX_MNT" | grep -q "^pool: *$DX_POOL" || dx_fail "the owner is not shown its pool"
kill -TERM "$holder"
wait "$holder"
# FUSE sends the release after daxfsctl exits: poll for it.
for _ in $(seq 50); do
	as_nobody "$DX_CTL" stats "$DX_MNT" | grep -q "pinned blocks now: *0" && break
	sleep 0.1
done
as_nobody "$DX_CTL" stats "$DX_MNT" | grep -q "pinned blocks now: *0" || dx_fail "pins left"

# nobody unmounts its own mount; the daemon exits cleanly.
as_nobody fusermount3 -u "$DX_MNT" || dx_fail "nobody cannot unmount"
for _ in $(seq 100); do kill -0 "$DX_PID" 2>/dev/null || break; sleep 0.1; done
wait "$DX_PID"
rc=$?
DX_PID=
[ "$rc" = 0 ] || dx_fail "nobody's daemon exited with status $rc"
as_nobody "$DX_FSCK" -n "$DX_POOL" || dx_fail "fsck.daxfs -n by nobody reports problems"
dx_pass
