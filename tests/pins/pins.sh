#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# pins.sh - direct-access mappings, pins and deferred layout changes through
# real mounts: the pins-test scenarios, busy_timeout, the DMA engine, and a
# live holder across a kill -9 of the daemon (quarantine).
#   --soak   run the stress test for 5 minutes instead of 8 seconds
DX_NAME=pins
. "$(dirname "$0")/../lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$PINS_TEST"
stress_secs=8
[ "${1:-}" = --soak ] && stress_secs=300
dx_watchdog $((stress_secs + 420))

dx_mkfs 256M
dx_mount busy_timeout=0
"$PINS_TEST" basic "$DX_MNT" || dx_fail "pins-test basic"
"$PINS_TEST" stress "$DX_MNT" "$stress_secs" || dx_fail "pins-test stress"

# The DMA engine: O_DIRECT from an ordinary file into a mapped range, and
# back out, with each chunk pinned only while in flight.
src=$DX_TMP/dma.src
head -c $((4 << 20)) /dev/urandom >"$src"
truncate -s 4M "$DX_MNT/dma"
"$DX_CTL" dma "$DX_MNT/dma" 0 4M --from "$src" --bs 256K --depth 4 ||
	dx_fail "daxfsctl dma --from"
cmp "$src" "$DX_MNT/dma" || dx_fail "dma --from: file differs from the source"
"$DX_CTL" dma "$DX_MNT/dma" 0 4M --to "$DX_TMP/dma.out" --bs 1M ||
	dx_fail "daxfsctl dma --to"
cmp "$src" "$DX_TMP/dma.out" || dx_fail "dma --to: output differs"
"$DX_CTL" stats "$DX_MNT" | grep -q "pinned blocks now: *0" ||
	dx_fail "pins left after dma"
"$DX_CTL" pins "$DX_MNT" | grep -q "^0 mappings" || dx_fail "daxfsctl pins lists leftovers"

# daxfsctl map holds pins; pins lists them.
"$DX_CTL" map "$DX_MNT/dma" 0 64K --hold 0 >"$DX_TMP/map.out" &
holder=$!
for _ in $(seq 50); do grep -q extent "$DX_TMP/map.out" 2>/dev/null && break; sleep 0.1; done
"$DX_CTL" pins "$DX_MNT/dma" | grep -q "^1 mapping" || dx_fail "daxfsctl pins does not list the held map"
kill -TERM "$holder"; wait "$holder"
dx_umount

# busy_timeout: a change that waits too long fails with EBUSY, unchanged.
dx_mount busy_timeout=1
"$PINS_TEST" timeout "$DX_MNT" || dx_fail "pins-test timeout"

# A live holder across a daemon crash: its blocks go to quarantine.  Twice:
# the map made by the main thread, then by a thread that has exited since
# (the holder is the process, not the thread FUSE names).
for mode in hold hold-thread; do
	f=$DX_MNT/held-$mode
	head -c 65536 /dev/zero | tr '\0' 'z' >"$f"
	free0=$(stat -f -c %f "$DX_MNT")
	coproc HOLD { exec "$PINS_TEST" "$mode" "$f"; }
	read -r -u "${HOLD[0]}" line && [ "$line" = ready ] || dx_fail "$mode: holder did not map"
	listed=$("$DX_CTL" pins "$f" | awk 'NR == 2 { print $5 }')
	dx_kill9
	dx_mount busy_timeout=0
	cmp -s <(head -c 65536 /dev/zero | tr '\0' 'A') "$f" ||
		dx_fail "$mode: after the crash the file lost the holder's persisted bytes"
	"$DX_CTL" stats "$DX_MNT" | grep -q "quarantined blocks now: *16" ||
		{ "$DX_CTL" stats "$DX_MNT"; dx_fail "$mode: the holder's 16 blocks are not in quarantine"; }
	[ "$listed" = "$HOLD_PID" ] || dx_fail "$mode: the holder listed was $listed, not process $HOLD_PID"
	echo B >&"${HOLD[1]}"
	read -r -u "${HOLD[0]}" line && [ "$line" = "wrote B" ] || dx_fail "$mode: holder did not write"
	cmp -s <(head -c 65536 /dev/zero | tr '\0' 'A') "$f" ||
		dx_fail "$mode: a write by the holder after the crash reached the file"
	exec {HOLD[1]}>&-
	wait "$HOLD_PID"
	for _ in $(seq 50); do
		"$DX_CTL" stats "$DX_MNT" | grep -q "quarantined blocks now: *0" && break
		sleep 0.2
done
"$DX_CTL" stats "$DX_MNT" | grep -q "quarantined blocks now: *0" ||
	dx_fail "$mode: quarantine not freed after the holder exited"
# The copies took the quarantined blocks' place in the file, so the free
# count is back where it was (less an extent block the copies may need).
free1=$(stat -f -c %f "$DX_MNT")
[ "$free1" -le "$free0" ] && [ "$free1" -ge $((free0 - 2)) ] ||
	dx_fail "$mode: free blocks $free1 after the quarantine, $free0 before"
done
dx_umount
dx_pass
