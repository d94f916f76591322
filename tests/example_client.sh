#!/bin/bash
# SPDX-License-Identifier: MIT
# docs/examples/dax_example.c, the documented client, against a real mount:
# its store through a short-term mapping reads back through the mount, and
# its long-term mapping under a lease is given back when a truncate breaks
# the lease, so the truncate finishes without a revocation.
. "$(dirname "$0")/lib.sh"
dx_need_root
: "${DAX_EXAMPLE:=$DAXFS_BUILD/docs/examples/dax_example}"
dx_need "$DX_MKFS" "$DX_DAEMON" "$DX_CTL" "$DAX_EXAMPLE"
dx_watchdog 150

T=$DX_TMP
f=$DX_MNT/example
dx_mkfs 64M
# A break time far beyond the test's patience: only a release ends it early.
dx_mount lease_break_time=600
"$DAX_EXAMPLE" "$f" 120 >"$T/out" 2>&1 &
ex=$!
for _ in $(seq 200); do grep -q "waiting for a break" "$T/out" && break; sleep 0.1; done
grep -q "waiting for a break" "$T/out" || { cat "$T/out"; dx_fail "the example did not reach its lease"; }
grep -q "^short-term: stored 33 bytes" "$T/out" || dx_fail "short-term part: $(cat "$T/out")"
[ "$(head -c 32 "$f")" = "written through a direct mapping" ] ||
	dx_fail "read(2) does not see the short-term store: $(head -c 40 "$f" | od -c | head -2)"
[ "$(tail -c 65536 "$f" | tr -d L | wc -c)" = 0 ] || dx_fail "the long-term stores are not in the file"
[ "$("$DX_CTL" leases --json "$DX_MNT" | jq -r '.leases[0].state')" = active ] ||
	dx_fail "no active lease while the example holds it"

truncate -s 4096 "$f" || dx_fail "the truncate that breaks the lease failed"
wait "$ex"
rc=$?
cat "$T/out"
[ "$rc" = 0 ] || dx_fail "the example exited with $rc"
grep -q "^lease broken" "$T/out" || dx_fail "the example did not see the break"
grep -q "^released$" "$T/out" || dx_fail "the example did not release"
"$DX_CTL" stats --json "$DX_MNT" >"$T/stats.json"
[ "$(jq .lease_breaks "$T/stats.json")" = 1 ] || dx_fail "lease_breaks: $(jq .lease_breaks "$T/stats.json")"
[ "$(jq .lease_revokes "$T/stats.json")" = 0 ] || dx_fail "the lease was revoked, not released"
[ "$(jq .mappings "$T/stats.json")" = 0 ] || dx_fail "mappings left behind"
[ "$(stat -c %s "$f")" = 4096 ] || dx_fail "size after the truncate: $(stat -c %s "$f")"
[ "$(head -c 32 "$f")" = "written through a direct mapping" ] || dx_fail "data after the truncate"
dx_umount
dx_fsck
dx_pass
