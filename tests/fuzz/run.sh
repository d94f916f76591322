#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh TARGET SECONDS [LIBFUZZER ARGS...]: run libFuzzer target
# fuzz-TARGET (open, walk, free, fsck) of a -Dfuzz=true tree for SECONDS.
#
# The seed pools (fuzz-mkseed) are kept in $DAXFS_BUILD/fuzz/seeds, the
# corpus grows in
# $DAXFS_BUILD/fuzz/TARGET/corpus across runs, the last run's log is
# $DAXFS_BUILD/fuzz/TARGET/last-run.log, crashes land in
# $DAXFS_BUILD/fuzz/TARGET/crashes together with the pool image each one
# produces (NAME.pool.xz: what a regression image under tests/fuzz/regress
# is made from, see docs/fuzzing.md).  Prints libFuzzer's final line
# (executions, cov:, ft:) and fails on any crash, leak, timeout or
# out-of-memory.
set -u
export LC_ALL=C PMEM_IS_PMEM_FORCE=1
T=${1:?usage: run.sh TARGET SECONDS [ARGS...]}
SECS=${2:?usage: run.sh TARGET SECONDS [ARGS...]}
shift 2
: "${DAXFS_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build-fuzz}"
EXE=$DAXFS_BUILD/tests/fuzz/fuzz-$T
MKSEED=$DAXFS_BUILD/tests/fuzz/fuzz-mkseed
[ -x "$EXE" ] || { echo "run.sh: $EXE is not built (meson setup -Dfuzz=true)"; exit 77; }
W=$DAXFS_BUILD/fuzz/$T
mkdir -p "$W/corpus" "$W/crashes"
TMP=$(mktemp -d /dev/shm/daxfs-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
# The seeds are made once per tree: the corpus and the crash inputs are
# mutations of them and mean something only with the same seeds.
# Targets run in parallel: the first one makes them, under a lock.
SEEDS=$DAXFS_BUILD/fuzz/seeds
mkdir -p "$DAXFS_BUILD/fuzz"
(
	flock 9
	if [ ! -s "$SEEDS/tree.pool" ]; then
		rm -rf "$SEEDS"
		mkdir -p "$SEEDS"
		"$MKSEED" "$SEEDS" || { echo "run.sh: fuzz-mkseed failed"; rm -rf "$SEEDS"; exit 1; }
	fi
) 9>"$DAXFS_BUILD/fuzz/seeds.lock" || exit 1
export DAXFS_FUZZ_SEEDS=$SEEDS
# One input per seed pool, unchanged: the corpus libFuzzer starts from.
n=$(ls "$SEEDS" | grep -c '\.pool$')
for i in $(seq 0 $((n - 1))); do
	printf "\\x$(printf %02x "$i")\\x00" >"$W/corpus/seed-$i"
	# and with every checksum fixed up (fuzz.h): metadata_csum pools
	printf "\\x$(printf %02x "$i")\\x02" >"$W/corpus/seed-$i-csum"
done
# Leaks count; a sanitizer report must end the run as a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1:abort_on_error=1
# Findings are crash-, leak-, timeout- and oom- inputs; slow-unit- ones
# (slower than 10 s, as on a loaded machine) are not.
findings() { ls "$W/crashes" | grep -E '^(crash|leak|timeout|oom)-' | grep -vc '\.pool'; }
before=$(findings)
# libFuzzer's -timeout is wall time: on a loaded machine (or at nice 19) an
# input that runs in 100 ms can be stopped after 20 s.  A timeout input is
# replayed once; one that then runs in under 2 s was the machine, not the
# code: it is kept as slow-unit-*, and fuzzing goes on for the time left.
# One that times out again is a finding.
replay_ms() {
	timeout 60 "$EXE" "$1" 2>&1 | sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' | tail -n 1
}
end=$((SECONDS + SECS))
stalls=0
: >"$TMP/log"
while :; do
	left=$((end - SECONDS))
	[ "$left" -gt 0 ] || left=1
	# Inputs are mutation lists: short ones do (len_control=0: from the start).
	"$EXE" -max_total_time="$left" -timeout=20 -rss_limit_mb=2048 -max_len=192 -len_control=0 \
		-print_final_stats=1 -artifact_prefix="$W/crashes/" "$@" "$W/corpus" >>"$TMP/log" 2>&1
	rc=$?
	[ "$rc" != 0 ] || break
	t=$(ls -t "$W/crashes" | grep -E '^timeout-[0-9a-f]+$' | head -n 1)
	[ -n "$t" ] && [ "$(findings)" = $((before + 1)) ] || break
	ms=$(replay_ms "$W/crashes/$t")
	[ -n "$ms" ] && [ "$ms" -lt 2000 ] || break
	mv "$W/crashes/$t" "$W/crashes/slow-unit-stall-${t#timeout-}"
	stalls=$((stalls + 1))
	echo "fuzz-$T: a timeout that replays in $ms ms (the machine stalled); going on" >&2
	[ $((end - SECONDS)) -gt 5 ] || break
done
# The whole log stays next to the corpus (the last run's).
cp "$TMP/log" "$W/last-run.log" 2>/dev/null
# INITED and DONE (or, with -fork, the last status line): executions,
# cov: (edges) and ft: (features)
{
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$TMP/log"
	grep -E '^#[0-9]+: cov:' "$TMP/log" | tail -n 1
} | sed "s/^/fuzz-$T: /"
# Summed over the runs of the loop above; CPU time as the kernel counts it.
awk '/^stat::number_of_executed_units/ { n += $2 } END { print "executions:", n + 0 }' "$TMP/log" |
	sed "s/^/fuzz-$T: /"
grep -E '^stat::peak_rss' "$TMP/log" | tail -n 1 | sed "s/^/fuzz-$T: /"
times >"$TMP/times"
echo "fuzz-$T: CPU time $(tail -n 1 "$TMP/times") (user, system); $stalls stalls replayed"
new=$(findings)
if [ "$rc" != 0 ] || [ "$new" -gt "$before" ]; then
	grep -E 'ERROR|SUMMARY|^ +#[0-9]+ ' "$TMP/log" | head -n 30
	for c in "$W"/crashes/*; do
		case $c in *.pool | *.pool.xz | */slow-unit-*) continue ;; esac
		[ -e "$c.pool.xz" ] && continue
		DAXFS_FUZZ_DUMP=$c.pool timeout 60 "$EXE" "$c" >/dev/null 2>&1
		[ -e "$c.pool" ] && xz -f -T1 "$c.pool"
		echo "fuzz-$T: crash input $c, its pool image $c.pool.xz"
	done
	echo "fuzz-$T: FAIL (exit status $rc)"
	exit 1
fi
echo "fuzz-$T: PASS, no finding in $SECS s"
