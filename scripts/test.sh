#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/test.sh - the whole test suite, as CI runs it (.ci/run).
#
# Installs the build dependencies, builds four trees and runs meson test in
# each:
#   build       debugoptimized, the configuration users get: every test but
#               the mount fuzzer (its findings are the ASan tree's)
#   build-asan  debug, AddressSanitizer + UBSan, fault injection enabled:
#               every test but the crash tests and the benchmark smoke test
#   build-tsan  debug, ThreadSanitizer: the concurrency tests
#   build-fuzz  clang, ASan + UBSan, -Dfuzz=true: only the libFuzzer
#               targets are built, and run 10 s each (docs/fuzzing.md)
# and ends with one line "N passed, M failed" summed over all.  A tree
# that fails to build counts as one failure.  Exit status 0 only if
# nothing failed.

set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/common.sh

start=$SECONDS
elapsed() {
	echo "$(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s"
}
install_packages

# Sanitizer settings for every instrumented process the tests start,
# daemons included.  Leaks are errors; UBSan findings are fatal rather than
# a line in a log nobody reads.  LeakSanitizer and FUSE get on: a daemon
# that forks to the background (fuse_daemonize) leaves its parent through
# _exit(), so only the real daemon checks, when it exits after an unmount
# or SIGTERM.  A daemon killed with SIGKILL checks nothing, which is what
# the crash tests want.  LSan needs ptrace-like access to its own threads;
# as root on Debian it has it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1}

passed=0
failed=0
skipped=0

root=$(pwd -P)

# PIDs of processes running a program of build tree $1: after a suite,
# those are daemons that a test forgot.  (Matching on the executable, not
# on mounts, keeps other people's FUSE mounts on the machine out of it.)
tree_processes() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$root/$1/"* ]] && echo "${p#/proc/}"
	done
	return 0
}

# Unmount whatever FUSE mount daemon $1 serves (its last argument that is
# a mountpoint), then stop it.
stop_stray() {
	local pid=$1 arg m
	while IFS= read -r -d '' arg; do
		m=$(awk -v m="$arg" '$2 == m && $3 ~ /^fuse/ { print $2 }' /proc/mounts)
		[[ -n $m ]] && { fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" || true; }
	done <"/proc/$pid/cmdline"
	kill "$pid" 2>/dev/null || true
	sleep 1
	kill -9 "$pid" 2>/dev/null || true
}

# setup DIR meson-args...: configure DIR, or reconfigure it if it exists.
setup() {
	local dir=$1
	shift
	if [[ -f $dir/meson-private/coredata.dat ]]; then
		meson setup --reconfigure "$dir" "$@"
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}

# count DIR: add the results in DIR's testlog.json to the totals.
count() {
	local log=$1/meson-logs/testlog.json p f s
	if [[ ! -s $log ]]; then
		echo "no test log in $1: counting the suite as one failure"
		failed=$((failed + 1))
		return
	fi
	# One JSON object per line, one line per test.
	if ! read -r p f s < <(python3 - "$log" <<'EOF'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r == "SKIP":
        skip += 1
    else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS
        bad += 1
print(ok, bad, skip)
EOF
	); then
		echo "cannot read $log: counting the suite as one failure"
		failed=$((failed + 1))
		return
	fi
	echo "$1: $p passed, $f failed, $s skipped"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

# suite DIR TEST-ARGS SETUP-ARGS...: configure, build and test one tree.
# With build_targets set, only those are built (and meson test does not
# rebuild the rest).
build_targets=
suite() {
	local dir=$1 test_args=$2 strays p t0
	shift 2
	log "configuring $dir"
	if ! setup "$dir" "$@"; then
		echo "$dir: meson setup failed: counting it as one failure"
		failed=$((failed + 1))
		return
	fi
	rm -f "$dir/meson-logs/testlog.json"
	log "building $dir"
	# shellcheck disable=SC2086 # build_targets is a list of words
	if ! ninja -C "$dir" $build_targets; then
		echo "$dir: build failed: counting it as one failure"
		failed=$((failed + 1))
		return
	fi
	log "testing $dir ($(elapsed) into the run)"
	t0=$SECONDS
	# shellcheck disable=SC2086 # test_args is a list of words
	meson test -C "$dir" --print-errorlogs ${build_targets:+--no-rebuild} $test_args || true
	count "$dir"
	# Where the time goes, tree by tree: the run has a budget (README).
	echo "$dir: tests took $(((SECONDS - t0) / 60))m$(((SECONDS - t0) % 60))s"

	# Tests must clean up after themselves: a daemon (and so a mount)
	# left behind is a bug in a test.  Count it, then remove it so that
	# it cannot disturb the next suite.
	strays=$(tree_processes "$dir")
	if [[ -n $strays ]]; then
		echo "$dir: tests left processes behind (counted as one failure):"
		# shellcheck disable=SC2086
		ps -o pid=,args= -p $(echo $strays | tr ' ' ,) || true
		failed=$((failed + 1))
		for p in $strays; do
			stop_stray "$p"
		done
	fi
}

suite build "--no-suite mount-fuzz" --buildtype=debugoptimized
# Instrumented code runs a few times slower; give its tests more time
# rather than fail on a timeout that means nothing.
# The crash tests (kill -9 of the daemon, then remount) check persistence,
# which instrumentation does not change, and the benchmark's smoke test
# checks a script: both run in the plain tree only, to keep the whole run
# within its time budget.
suite build-asan "--timeout-multiplier 2 --no-suite crash --no-suite bench" --buildtype=debug \
	-Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true

# ThreadSanitizer on the concurrency tests: the daemon's request threads,
# the pin/lease machinery and the deferred layout changes under load.  A
# race report aborts the daemon, which fails the test.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:second_deadlock_stack=1}
suite build-tsan "--timeout-multiplier 3 --suite concurrency" --buildtype=debug \
	-Db_sanitize=thread -Db_lundef=false

# libFuzzer needs clang (scripts/common.sh installs it); the mount fuzzer
# and the regression images already ran in build-asan.  Only what the
# libFuzzer tests run is built: a whole fourth tree would cost minutes.
export CC=clang
build_targets="tests/fuzz/fuzz-open tests/fuzz/fuzz-walk tests/fuzz/fuzz-free tests/fuzz/fuzz-fsck
	tests/fuzz/fuzz-mkseed"
suite build-fuzz "--suite libfuzzer" --buildtype=debug \
	-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true
build_targets=
unset CC

echo "total time $(elapsed), $skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
