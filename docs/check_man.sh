#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check_man.sh BUILD_ROOT DOCS_DIR - the manual pages mention every option
# the programs' --help lists.
#
# The pages are written by hand, so nothing else notices when a program
# grows an option.  This catches the omission; it cannot check that what a
# page says about the option is true.

set -euo pipefail

build=$1
docs=$2
failed=0
checked=0

# Words of the page as a reader sees them: roff's "\-" is a plain "-".
page_text() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$1"
}

# check PROGRAM PAGE: each --long option and each key= mount option in
# PROGRAM --help must occur in PAGE and in PAGE.md.
check() {
	local prog=$1 page=$2 help opts o f text
	if [[ ! -x $prog ]]; then
		echo "skip: $prog not built"
		return
	fi
	if [[ ! -f $docs/$page ]]; then
		echo "FAIL: $prog has no manual page $page"
		failed=1
		return
	fi
	help=$("$prog" --help 2>&1) || true
	opts=$(grep -oE -- '--[a-z][a-z-]+|\b[a-z_]+=' <<<"$help" | sort -u)
	for f in "$docs/$page" "$docs/$page.md"; do
		[[ -f $f ]] || continue
		text=$(page_text "$f")
		for o in $opts; do
			if [[ $text != *"$o"* ]]; then
				echo "FAIL: ${f##*/} does not mention $o (from ${prog##*/} --help)"
				failed=1
			fi
		done
	done
	checked=$((checked + 1))
}

check "$build/fs/daxfs" daxfs.8
check "$build/tools/mkfs/mkfs.daxfs" mkfs.daxfs.8
check "$build/tools/fsck/fsck.daxfs" fsck.daxfs.8
check "$build/tools/tune/tune.daxfs" tune.daxfs.8
check "$build/tools/ctl/daxfsctl" daxfsctl.8
check "$build/tools/rdma-sim/daxfs-rdma-sim" daxfs-rdma-sim.1

if ((checked == 0)); then
	echo "no program built to check"
	exit 77
fi
if ((failed)); then
	exit 1
fi
echo "ok: $checked manual pages cover their programs' options"
