#!/bin/bash
# SPDX-License-Identifier: MIT
# fsx_replay.sh - an op log recorded with --record, replayed with --replay,
# must leave exactly the same file: the log alone, without the random
# generator, reproduces a run.  Runs on tmpfs.

. "$(dirname "$0")/fsx_common.sh"

dx_need "$FSX"
dx_watchdog 300
d=$DX_TMP

# one process, with every op class tmpfs has; the sizes are not the
# defaults, so the replay must take them from the log's header
fsx_run "$d/orig" -S 77 -N 5000 -l 1M -o 200K --record "$d/orig.ops"
fsx_run "$d/copy" --replay "$d/orig.ops"
[ "$(fsx_md5 "$d/orig")" = "$(fsx_md5 "$d/copy")" ] ||
	dx_fail "replayed file differs from the recorded run"
dx_log "ok: replay gives identical content ($(fsx_md5 "$d/copy"))"

# the log is complete: replaying it again gives the same log back
fsx_run "$d/again" --replay "$d/orig.ops" --record "$d/again.ops"
cmp "$d/orig.ops" "$d/again.ops" || dx_fail "a replay's own log differs from its input"

# with -P each process logs its own ops; replaying one process's log alone
# must rebuild that process's region byte for byte
fsx_run "$d/multi" -S 78 -N 3000 -P 2 -l 256K --record "$d/multi.ops"
for i in 0 1; do
	[ -f "$d/multi.ops.$i" ] || dx_fail "no op log $d/multi.ops.$i"
	fsx_run "$d/part$i" --replay "$d/multi.ops.$i"
	a=$(dd if="$d/multi" bs=128K skip=$i count=1 status=none | md5sum | cut -d' ' -f1)
	b=$(dd if="$d/part$i" bs=128K skip=$i count=1 status=none | md5sum | cut -d' ' -f1)
	[ "$a" = "$b" ] || dx_fail "region $i of the -P run differs from its replay"
done
dx_log "ok: each -P region replays identically"

# usage errors exit with 2, not with the failure status 1
"$FSX" --replay "$d/nonexistent.ops" "$d/x" >/dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || dx_fail "missing replay file: status $rc, expected 2"
"$FSX" -x nosuchop "$d/x" >/dev/null 2>&1
rc=$?
[ "$rc" = 2 ] || dx_fail "unknown op class: status $rc, expected 2"
dx_pass
