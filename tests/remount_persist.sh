#!/bin/bash
# SPDX-License-Identifier: MIT
# Build a tree of every kind of object, unmount, remount and compare
# content, modes, owners, times (ns), xattrs, link counts and inode numbers.
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
# times last: reading the content above may have moved atimes
dx_tree_settimes "$R" "$T/list.before"
dx_tree_meta "$R" "$T/list.before" >"$T/meta.before"
[ -s "$T/meta.before" ] || dx_fail "no metadata collected"
dx_umount
dx_fsck

for round in 1 2; do
	dx_mount
	# metadata first: nothing has read the tree since the remount
	dx_tree_meta "$R" "$T/list.before" >"$T/meta.after"
	dx_tree_list "$R" >"$T/list.after"
	dx_tree_content "$R" "$T/list.before" >"$T/content.after"
	dx_compare "round $round: the list of paths" "$T/list.before" "$T/list.after"
	dx_compare "round $round: metadata" "$T/meta.before" "$T/meta.after"
	dx_compare "round $round: content and xattrs" "$T/content.before" "$T/content.after"
	# reading may have changed atimes; restore them for the next round
	dx_tree_settimes "$R" "$T/list.before"
	dx_tree_meta "$R" "$T/list.before" >"$T/meta.before"
	dx_umount
	dx_fsck
done
# removing everything gives back every block and inode
dx_mount
rm -rf "$R" || dx_fail "rm -rf of the tree"
dx_expect_free "$DX_MNT" "$base"
dx_umount
dx_fsck
dx_pass
