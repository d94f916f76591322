#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# leases.sh - layout leases through a real mount: the semantics table
# (lease-test), the reference pinner honouring a break with none of its
# writes lost, and an ignored break ending in revocation and quarantine.
DX_NAME=leases
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$LEASE_TEST" "$RDMA_SIM"
dx_watchdog 400

# sim_start NAME ARGS...: run the pinner in the background, its events on
# fd SIM_FD (a FIFO: unlike a coproc, it stays readable after the pinner
# exits), its errors in $DX_TMP/NAME.err.
sim_start() {
	local name=$1
	shift
	mkfifo "$DX_TMP/$name.out"
	"$RDMA_SIM" "$@" >"$DX_TMP/$name.out" 2>"$DX_TMP/$name.err" &
	SIM_PID=$!
	exec {SIM_FD}<"$DX_TMP/$name.out"
}
# sim_event WORDS...: read the next event line into the named variables.
sim_event() {
	read -r -u "$SIM_FD" "$@" || { cat "$DX_TMP"/*.err >&2; return 1; }
}

dx_mkfs 256M
# nobody (uid 65534) is let in to direct access through its group, for the
# owner and cap checks of lease-test.
dx_mount allow_other,lease_break_time=2,max_leases=2,dax_group=nogroup
"$LEASE_TEST" basic "$DX_MNT" || dx_fail "lease-test basic"

# A break the reference pinner honours: an insert before its region moves
# the region; every record written before the break is there, moved.
f=$DX_MNT/rdma
head -c $((256 << 10)) /dev/zero >"$f"
sim_start sim1 --offset 64K --length 64K --reregister 1 "$f"
sim_event ev o l && [ "$ev" = registered ] || dx_fail "pinner did not register"
sleep 0.3
"$DX_CTL" insert "$f" 0 64K || dx_fail "insert under a lease"
sim_event ev o l && [ "$ev" = break ] || dx_fail "pinner saw no break ($ev)"
sim_event ev last && [ "$ev" = released ] || dx_fail "pinner did not release ($ev)"
sim_event ev o l && [ "$ev" = registered ] || dx_fail "pinner did not re-register"
"$LEASE_TEST" verify "$f" $((128 << 10)) $((64 << 10)) "$last" ||
	dx_fail "records written before the break were lost"
kill -TERM "$SIM_PID"; wait "$SIM_PID"; exec {SIM_FD}<&-
[ "$(stat -c %s "$f")" = $((320 << 10)) ] || dx_fail "insert did not grow the file"

# An ignored break: revoked after lease_break_time, blocks quarantined
# until the pinner goes, then the space comes back.
g=$DX_MNT/ignored
head -c $((1 << 20)) /dev/zero >"$g"
sync
free0=$(stat -f -c %f "$DX_MNT")
revoked0=$("$DX_CTL" stats "$DX_MNT" | awk '/leases revoked:/ { print $3 }')
sim_start sim2 --ignore-break --length 64K "$g"
sim_event ev o l && [ "$ev" = registered ] || dx_fail "pinner 2 did not register"
truncate -s 0 "$g" || dx_fail "truncate under an ignored lease failed"
sim_event ev last && [ "$ev" = revoked ] || dx_fail "pinner 2 was not revoked ($ev)"
wait "$SIM_PID" || dx_fail "pinner 2 failed"
exec {SIM_FD}<&-
"$DX_CTL" stats "$DX_MNT" | grep -q "leases revoked: *$((revoked0 + 1))$" ||
	dx_fail "revocation not counted"
"$DX_CTL" stats "$DX_MNT" | grep -q "quarantined blocks now: *0" ||
	dx_fail "quarantine kept after the pinner went"
free1=$(stat -f -c %f "$DX_MNT")
[ "$free1" -ge $((free0 + 256)) ] && [ "$free1" -le $((free0 + 260)) ] ||
	dx_fail "space not returned: $free1 free, $free0 before + 256"

# daxfsctl lease and leases.
"$DX_CTL" lease "$f" --map 0 64K --hold 0 >"$DX_TMP/lease.out" &
holder=$!
for _ in $(seq 50); do grep -q "long-term" "$DX_TMP/lease.out" 2>/dev/null && break; sleep 0.1; done
"$DX_CTL" leases "$DX_MNT" | grep -q "^1 lease$" || dx_fail "daxfsctl leases does not list it"
truncate -s 4096 "$f" || dx_fail "truncate under daxfsctl's lease"
wait "$holder" || dx_fail "daxfsctl lease failed"
grep -q "break: releasing" "$DX_TMP/lease.out" || dx_fail "daxfsctl lease did not see the break"
"$DX_CTL" leases "$DX_MNT" | grep -q "^0 leases$" || dx_fail "a lease is left"

# A daemon told to stop answers a wait that would have no end, and exits 0.
mkfifo "$DX_TMP/wait.out"
"$LEASE_TEST" wait "$f" >"$DX_TMP/wait.out" &
waiter=$!
exec {W_FD}<"$DX_TMP/wait.out"
read -r -u "$W_FD" line && [ "$line" = waiting ] || dx_fail "lease-test wait did not start"
sleep 0.5
kill -0 "$waiter" || dx_fail "a wait with no limit returned with no break"
kill -TERM "$DX_PID"
for _ in $(seq 100); do kill -0 "$DX_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DX_PID" 2>/dev/null && dx_fail "daxfs did not stop while a lease wait was pending"
wait "$DX_PID" || dx_fail "daxfs exited with status $? after SIGTERM with a pending wait"
DX_PID=
read -r -u "$W_FD" line; exec {W_FD}<&-
wait "$waiter"
case $line in "error "*) ;; *) dx_fail "the pending wait ended with '$line', not an error" ;; esac
dx_log "stop with a pending wait: the waiter got '$line'"
dx_mounted "$DX_MNT" && fusermount3 -u "$DX_MNT"

# poll() on a daxfs file is not a FUSE request: the daemon answers the
# first POLL with ENOSYS and the kernel asks no more (lease breaks come
# through DAXFS_LEASE_WAIT).  Counted in libfuse's debug output.
dx_mount debug
head -c 4096 /dev/zero >"$DX_MNT/polled"
"$LEASE_TEST" poll "$DX_MNT/polled" 200 || dx_fail "lease-test poll"
polls=$(grep -c "opcode: POLL " "$DX_TMP/daemon.log")
dx_log "200 poll() calls sent $polls POLL requests"
[ "$polls" -le 1 ] || dx_fail "200 poll() calls sent $polls POLL requests to the daemon"
dx_umount
dx_pass
