#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfsctl --json: info, pins, stats and leases print JSON that jq parses,
# with the values the mount has (a label that needs escaping, the map a
# holder keeps, a lease being broken, the mount's timeouts), and null for
# the pool path of a user without direct access.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL"
command -v jq >/dev/null || dx_skip "jq missing (scripts/common.sh installs it)"
dx_watchdog 180

T=$DX_TMP
# j FILE FILTER: one value out of a JSON document; fails on bad JSON
j() {
	jq -er "$2" "$1" || dx_fail "jq '$2' on $(cat "$1")"
}
# expect WHAT GOT WANT
expect() {
	[ "$2" = "$3" ] || dx_fail "$1: '$2', expected '$3'"
	dx_log "ok: $1 = $3"
}

label='a"b\c/d'
dx_mkfs 64M -L "$label" >"$T/mkfs.out"
uuid=$(awk '/UUID/ { print $2 }' "$T/mkfs.out")
dx_mount allow_other,busy_timeout=7,lease_break_time=3

"$DX_CTL" info --json "$DX_MNT" >"$T/info.json" || dx_fail "info --json"
expect "info.label" "$(j "$T/info.json" .label)" "$label"
expect "info.uuid" "$(j "$T/info.json" .uuid)" "$uuid"
expect "info.size" "$(j "$T/info.json" .size)" $((64 << 20))
expect "info.block_size" "$(j "$T/info.json" .block_size)" 4096
expect "info.pool" "$(j "$T/info.json" .pool)" "$DX_POOL"
expect "info.persistence" "$(j "$T/info.json" .persistence)" pmem
expect "info.needs_fsck" "$(jq -r .needs_fsck "$T/info.json")" false
expect "info.readonly" "$(jq -r .readonly "$T/info.json")" false
expect "info.features" "$(jq -c .features "$T/info.json")" '["metadata_csum","reflink"]'
"$DX_CTL" info "$DX_MNT" >"$T/info.txt" || dx_fail "info"
grep -qx 'features:    metadata_csum reflink' "$T/info.txt" ||
	dx_fail "info does not list the features: $(cat "$T/info.txt")"
# no direct access for nobody: no pool path
setpriv --reuid=65534 --regid=65534 --clear-groups "$DX_CTL" --json info "$DX_MNT" \
	>"$T/info.nobody.json" || dx_fail "info --json as nobody"
expect "info.pool for nobody" "$(jq -c .pool "$T/info.nobody.json")" null

"$DX_CTL" stats --json "$DX_MNT" >"$T/stats.json" || dx_fail "stats --json"
expect "stats.busy_timeout_s" "$(j "$T/stats.json" .busy_timeout_s)" 7
expect "stats.lease_break_time_s" "$(j "$T/stats.json" .lease_break_time_s)" 3
expect "stats.mappings" "$(j "$T/stats.json" .mappings)" 0

# a held map: pins and stats show it
head -c 1048576 /dev/urandom >"$DX_MNT/f"
"$DX_CTL" map "$DX_MNT/f" 64K 128K --hold 0 >"$T/map.out" &
holder=$!
for _ in $(seq 100); do grep -q extent "$T/map.out" 2>/dev/null && break; sleep 0.1; done
"$DX_CTL" --json pins "$DX_MNT" >"$T/pins.json" || dx_fail "pins --json"
expect "pins.count" "$(j "$T/pins.json" .count)" 1
expect "pins[0].pid" "$(j "$T/pins.json" '.mappings[0].pid')" "$holder"
expect "pins[0].offset" "$(j "$T/pins.json" '.mappings[0].offset')" 65536
expect "pins[0].length" "$(j "$T/pins.json" '.mappings[0].length')" 131072
expect "pins[0].ino" "$(j "$T/pins.json" '.mappings[0].ino')" "$(stat -c %i "$DX_MNT/f")"
expect "pins[0] read,write,longterm" \
	"$(jq -r '.mappings[0] | "\(.read),\(.write),\(.longterm)"' "$T/pins.json")" "true,false,false"
"$DX_CTL" stats --json "$DX_MNT" >"$T/stats.json"
expect "stats.mappings while held" "$(j "$T/stats.json" .mappings)" 1
expect "stats.pinned_blocks while held" "$(j "$T/stats.json" .pinned_blocks)" 32
kill -TERM "$holder"
wait "$holder"
"$DX_CTL" pins --json "$DX_MNT/f" >"$T/pins.json"
expect "pins.count after unmap" "$(j "$T/pins.json" .count)" 0
expect "pins.mappings after unmap" "$(jq -c .mappings "$T/pins.json")" "[]"

# a lease that ignores its break: leases shows it breaking, then revoked
"$DX_CTL" lease "$DX_MNT/f" --ignore-break --map 0 64K >"$T/lease.out" &
lholder=$!
for _ in $(seq 100); do grep -q long-term "$T/lease.out" 2>/dev/null && break; sleep 0.1; done
"$DX_CTL" leases --json "$DX_MNT" >"$T/leases.json" || dx_fail "leases --json"
expect "leases.count" "$(j "$T/leases.json" .count)" 1
expect "leases[0].pid" "$(j "$T/leases.json" '.leases[0].pid')" "$lholder"
expect "leases[0].state" "$(j "$T/leases.json" '.leases[0].state')" active
expect "leases[0].write,exclusive" \
	"$(jq -r '.leases[0] | "\(.write),\(.exclusive)"' "$T/leases.json")" "true,false"
expect "leases[0].longterm_mappings" "$(j "$T/leases.json" '.leases[0].longterm_mappings')" 1
truncate -s 0 "$DX_MNT/f" &
trunc=$!
for _ in $(seq 100); do grep -q "break ignored" "$T/lease.out" && break; sleep 0.1; done
"$DX_CTL" leases --json "$DX_MNT/f" >"$T/leases.json"
state=$(j "$T/leases.json" '.leases[0].state')
# revoked already if the machine is slow; either way a break happened
case $state in breaking | revoked) dx_log "ok: leases[0].state = $state" ;;
*) dx_fail "leases[0].state '$state' during a break" ;; esac
wait "$trunc" || dx_fail "the truncate behind the break failed"
wait "$lholder"
"$DX_CTL" stats --json "$DX_MNT" >"$T/stats.json"
expect "stats.lease_breaks" "$(j "$T/stats.json" .lease_breaks)" 1
expect "stats.lease_revokes" "$(j "$T/stats.json" .lease_revokes)" 1
expect "leases.count at the end" "$("$DX_CTL" leases --json "$DX_MNT" | jq .count)" 0

# --json where there is no JSON output is refused
"$DX_CTL" map --json "$DX_MNT/f" 0 4K 2>"$T/err" && dx_fail "map --json accepted"
grep -q -- "--json" "$T/err" || dx_fail "map --json: $(cat "$T/err")"
dx_umount
dx_pass
