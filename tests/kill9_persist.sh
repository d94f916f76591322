#!/bin/bash
# SPDX-License-Identifier: MIT
# Like remount_persist, but the daemon dies by SIGKILL instead of
# unmounting; then an unlinked-but-open file must not leak its space.
. "$(dirname "$0")/lib.sh"
dx_need_root
dx_need "$DX_MKFS" "$DX_DAEMON"
dx_watchdog 500

T=$DX_TMP
dx_mkfs 256M
dx_mount
base=$(dx_baseline "$DX_MNT" tree)
mkdir "$DX_MNT/tree"
R=$DX_MNT/tree
dx_tree_build "$R"
dx_tree_list "$R" >"$T/list.before"
dx_tree_content "$R" "$T/list.before" >"$T/content.before"
dx_tree_settimes "$R" "$T/list.before"
dx_tree_meta "$R" "$T/list.before" >"$T/meta.before"
dx_kill9
dx_fsck

dx_mount
dx_tree_meta "$R" "$T/list.before" >"$T/meta.after"
dx_tree_list "$R" >"$T/list.after"
dx_tree_content "$R" "$T/list.before" >"$T/content.after"
dx_compare "the list of paths after kill -9" "$T/list.before" "$T/list.after"
dx_compare "metadata after kill -9" "$T/meta.before" "$T/meta.after"
dx_compare "content and xattrs after kill -9" "$T/content.before" "$T/content.after"

# an open, unlinked file at the time of the crash is an orphan that the
# next mount must reclaim
before=$(dx_free "$DX_MNT")
free0=$(stat -f -c %f "$DX_MNT")
head -c $((16 << 20)) /dev/urandom >"$DX_MNT/orphan" || dx_fail "writing 16 MiB"
exec 3<"$DX_MNT/orphan"
rm "$DX_MNT/orphan" || dx_fail "unlink of the open file"
free1=$(stat -f -c %f "$DX_MNT")
bs=$(stat -f -c %S "$DX_MNT")
need=$(((16 << 20) / bs))
dx_log "free blocks: $free0 before, $free1 with the unlinked file open"
[ "$free1" -le $((free0 - need)) ] ||
	dx_fail "space of an unlinked but open file was released early ($free0 -> $free1)"
dx_kill9
exec 3<&-
dx_mount
dx_log "after the crash and remount: $(dx_free "$DX_MNT")"
dx_expect_free "$DX_MNT" "$before"
rm -rf "$R" || dx_fail "rm -rf of the tree"
dx_expect_free "$DX_MNT" "$base"
dx_umount
dx_fsck
dx_pass
