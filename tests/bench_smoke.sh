#!/bin/bash
# SPDX-License-Identifier: MIT
# daxfs-bench --smoke: every filesystem it can run here, with its CSV and
# JSON (and the PNG chart when gnuplot is installed): each measured
# filesystem has a positive figure for every job, the JSON holds the CSV's
# figures, and the chart is a PNG.  It asserts no speed.
. "$(dirname "$0")/lib.sh"
dx_need_root
BENCH=$DAXFS_BUILD/tools/bench/daxfs-bench
dx_need "$BENCH" "$DX_MKFS" "$DX_DAEMON"
command -v fio >/dev/null || dx_skip "fio is not installed"
command -v jq >/dev/null || dx_skip "jq is not installed"
dx_watchdog 280

csv=$DX_TMP/out.csv json=$DX_TMP/out.json png=
command -v gnuplot >/dev/null && png=$DX_TMP/out.png
if ! bash "$BENCH" --smoke --csv "$csv" --json "$json" ${png:+--png "$png"} \
	>"$DX_TMP/out" 2>"$DX_TMP/err"; then
	cat "$DX_TMP/out" "$DX_TMP/err"
	dx_fail "daxfs-bench --smoke failed"
fi
cat "$DX_TMP/out"
measured=$(sed -n 's/^measured: //p' "$DX_TMP/out")
[ -n "$measured" ] || dx_fail "the benchmark measured nothing"
jobs=$(awk -F, 'NR > 1 && $1 != "disk-create" { print $1 }' "$csv" | sort -u | wc -l)
[ "$jobs" -ge 9 ] || dx_fail "$jobs jobs in the CSV, not at least 9"
for fs in $measured; do
	if [ "$fs" = disk ]; then
		# ext4+fsync, daxfs-msync, daxfs-pmem-shm
		n=$(awk -F, 'NR > 1 && $1 == "disk-create"' "$csv" | wc -l)
		[ "$n" = 3 ] || dx_fail "the disk job has $n figures in the CSV, not 3"
		continue
	fi
	n=$(awk -F, -v f="$fs" 'NR > 1 && $3 == f' "$csv" | wc -l)
	[ "$n" = "$jobs" ] || dx_fail "$fs has $n figures in the CSV, not $jobs"
done
awk -F, 'NR == 1 && $0 != "job,unit,filesystem,value" { bad = 1 }
	NR > 1 && !($4 + 0 > 0) { bad = 1 } END { exit bad }' "$csv" ||
	dx_fail "the CSV has a bad header or a figure that is not positive"
rows=$(($(wc -l <"$csv") - 1))
[ "$(jq '.results | length' "$json")" = "$rows" ] ||
	dx_fail "the JSON does not have the CSV's $rows results"
[ "$(jq -r '.results[0] | "\(.job),\(.unit),\(.filesystem)"' "$json")" = \
	"$(sed -n 2p "$csv" | cut -d, -f1-3)" ] || dx_fail "the JSON and the CSV disagree"
if [ -n "$png" ]; then
	[ "$(head -c 4 "$png" | od -An -tx1 | tr -d ' ')" = 89504e47 ] ||
		dx_fail "$png is not a PNG"
else
	dx_log "no gnuplot: the chart is not drawn"
fi
dx_log "measured $measured; $rows figures in CSV and JSON"
dx_pass
