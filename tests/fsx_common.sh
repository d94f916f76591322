# SPDX-License-Identifier: MIT
# fsx_common.sh - sourced by the fsx_*.sh tests, on top of lib.sh (which
# gives the private directory under /dev/shm, the mount helpers and the
# EXIT trap that always unmounts and cleans up).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${FSX:=$DAXFS_BUILD/tools/fsx/daxfs-fsx}"

# fsx_keep FILE: save FILE's replay file(s) where meson keeps its logs, since
# the private directory goes away with the test
fsx_keep() {
	local f keep=$DAXFS_BUILD/meson-logs
	[ -d "$keep" ] || keep=$DAXFS_BUILD
	for f in "$1".fsxops "$1".fsxops.*; do
		[ -f "$f" ] || continue
		cp "$f" "$keep/$DX_NAME-$(basename "$f")" &&
			dx_log "replay file kept: $keep/$DX_NAME-$(basename "$f")"
	done
}

# fsx_run FILE ARGS...: one daxfs-fsx run on FILE; any failure fails the test
fsx_run() {
	local file=$1 rc
	shift
	dx_log "daxfs-fsx $* $file"
	"$FSX" "$@" "$file"
	rc=$?
	if [ "$rc" != 0 ]; then
		fsx_keep "$file"
		dx_fail "daxfs-fsx $* $file exited with status $rc"
	fi
}

# fsx_md5 FILE: checksum of FILE's content
fsx_md5() {
	md5sum <"$1" | cut -d' ' -f1
}
