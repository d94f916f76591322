#!/bin/bash
# SPDX-License-Identifier: MIT
# mount_fuzz: the mutation fuzzer through the real mount (issue 12).  Each
# round damages one structure of a small pool (fuzz-mutate: superblock,
# journal, inode, bitmap, extent, directory, xattr, symlink, mapping
# record; targeted through lib/format.h's layout), runs fsck.daxfs -n on it,
# then mounts it, walks and modifies it and unmounts (fuzz/mount_lib.sh).
# Rounds are seeded and so repeatable.  Prints the counts of refused /
# fine / crashed / hung; any crash or hang fails the test, and its image
# is kept under $DAXFS_BUILD/mount-fuzz/ (xz) to become a regression image.
#
#   FZ_ROUNDS  rounds (default 150)     FZ_SEED  seed of the run (default 1)
#   FZ_FIRST   number of the first round (default 0): a long run in shards
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mount_lib.sh"
dx_need_root
MKSEED=$DAXFS_BUILD/tests/fuzz/fuzz-mkseed
MUTATE=$DAXFS_BUILD/tests/fuzz/fuzz-mutate
dx_need "$DX_DAEMON" "$DX_FSCK" "$MKSEED" "$MUTATE" "$FZ_FSWALK"

ROUNDS=${FZ_ROUNDS:-150}
SEED=${FZ_SEED:-1}
FIRST=${FZ_FIRST:-0}
# a hang costs FZ_WALK_SECS; the rest is about a second a round
dx_watchdog $((ROUNDS * 8 + 300))

mkdir "$DX_TMP/seeds"
"$MKSEED" "$DX_TMP/seeds" || dx_fail "fuzz-mkseed"
KEEP=$DAXFS_BUILD/mount-fuzz
refused=0 fine=0 crashed=0 hung=0 flagged=0 skipped=0
for r in $(seq "$FIRST" $((FIRST + ROUNDS - 1))); do
	cls=$((r % 10))
	case $cls in
	2) base=txn ;;     # the journal: a transaction to roll back
	9) base=maprec ;;  # mapping records: a live one
	*) [ $((r / 10 % 2)) = 0 ] && base=tree || base=maprec ;;
	esac
	# with metadata_csum, a tenth of the rounds damage a pool without it
	[ "$base" = tree ] && [ $((r / 10 % 10)) = 8 ] && [ -e "$DX_TMP/seeds/tree-nocsum.pool" ] &&
		base=tree-nocsum
	P=$DX_TMP/round.pool
	cp --sparse=always "$DX_TMP/seeds/$base.pool" "$P"
	what=$("$MUTATE" "$P" "$cls" $((SEED * 100000 + r)) | tr '\n' ' ')
	if [ "${PIPESTATUS[0]}" != 0 ]; then
		skipped=$((skipped + 1))
		continue
	fi
	"$DX_FSCK" -n -f "$P" >"$DX_TMP/fsck.out" 2>&1
	frc=$?
	fz_try "$P"
	case $FZ_VERDICT in
	refused) refused=$((refused + 1)) ;;
	fine) fine=$((fine + 1)) ;;
	crashed) crashed=$((crashed + 1)) ;;
	hung) hung=$((hung + 1)) ;;
	esac
	dx_log "round $r ($base) $what| fsck -n: $frc | $FZ_VERDICT${FZ_WHY:+: $FZ_WHY}"
	if [ "$FZ_VERDICT" = crashed ] || [ "$FZ_VERDICT" = hung ]; then
		[ "$frc" != 0 ] && flagged=$((flagged + 1))
		# the damaged image as it was before the mount changed it
		mkdir -p "$KEEP"
		cp --sparse=always "$DX_TMP/seeds/$base.pool" "$KEEP/round-$SEED-$r.pool"
		"$MUTATE" "$KEEP/round-$SEED-$r.pool" "$cls" $((SEED * 100000 + r)) >/dev/null
		xz -f -T1 "$KEEP/round-$SEED-$r.pool"
		dx_log "  image kept in $KEEP/round-$SEED-$r.pool.xz; daemon output:"
		grep -E 'ERROR|SUMMARY|#[0-9] |runtime error' "$DX_TMP/fz-daemon.log" | head -n 12
	fi
done
DX_POOL=
dx_log "$ROUNDS rounds (seed $SEED, from $FIRST): $refused refused, $fine fine, $crashed crashed, $hung hung" \
	"($skipped without a target); fsck -n flagged $flagged of the $((crashed + hung)) crashed or hung"
[ $((crashed + hung)) = 0 ] || dx_fail "$crashed crashed, $hung hung"
dx_pass
