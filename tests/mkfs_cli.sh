#!/bin/bash
# SPDX-License-Identifier: MIT
# The mkfs.daxfs command line: refusals without -f, -f, sizes, features (-O),
# summary, help.
. "$(dirname "$0")/lib.sh"
dx_need "$DX_MKFS"
dx_watchdog 120

T=$DX_TMP
P=$T/p

# expect_fail NAME CMD...: CMD must exit non-zero (and not by a signal)
expect_fail() {
	local name=$1 rc
	shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	dx_log "$name: status $rc: $(head -c 200 "$T/err" | tr '\n' ' ')"
	[ "$rc" != 0 ] || dx_fail "$name: accepted"
	[ "$rc" -lt 128 ] || dx_fail "$name: died by signal $((rc - 128))"
	[ -s "$T/err" ] || dx_fail "$name: no message on stderr"
}

expect_ok() {
	local name=$1 rc
	shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = 0 ] || { cat "$T/err"; dx_fail "$name: status $rc"; }
	dx_log "ok: $name"
}

# a new pool: sparse file of exactly the size, with a summary
expect_ok "mkfs -s 64M on a new file" "$DX_MKFS" -s 64M -L testlabel "$P"
cat "$T/out"
[ -s "$T/out" ] || dx_fail "no summary printed"
grep -q 67108864 "$T/out" || grep -q '64 MiB' "$T/out" || dx_fail "summary does not give the size"
grep -q testlabel "$T/out" || dx_fail "summary does not give the label"
[ "$(stat -c %s "$P")" = 67108864 ] || dx_fail "pool size is $(stat -c %s "$P"), not 64 MiB"
alloc=$(($(stat -c %b "$P") * $(stat -c %B "$P")))
dx_log "64 MiB pool has $alloc bytes allocated"
[ "$alloc" -lt $((32 << 20)) ] || dx_fail "pool is not sparse ($alloc bytes allocated)"

# -q prints nothing
rm "$P"
expect_ok "mkfs -q" "$DX_MKFS" -q -s 16M "$P"
[ -s "$T/out" ] && dx_fail "-q still printed: $(cat "$T/out")"

# refuses an existing daxfs pool without -f, and leaves it alone
cp "$P" "$T/orig"
expect_fail "mkfs on an existing daxfs pool without -f" "$DX_MKFS" -s 16M "$P"
cmp -s "$T/orig" "$P" || dx_fail "refused mkfs modified the pool"
expect_fail "mkfs on an existing daxfs pool without -f or -s" "$DX_MKFS" "$P"
cmp -s "$T/orig" "$P" || dx_fail "refused mkfs modified the pool"
expect_ok "mkfs -f on an existing pool" "$DX_MKFS" -f -s 16M "$P"
cmp -s "$T/orig" "$P" && dx_fail "mkfs -f did not write a new filesystem (same bytes, same UUID?)"
expect_ok "mkfs -f without -s reuses the file size" "$DX_MKFS" -f "$P"
[ "$(stat -c %s "$P")" = $((16 << 20)) ] || dx_fail "mkfs -f without -s changed the size"

# refuses a file with other data without -f
head -c $((1 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$T/orig"
expect_fail "mkfs on a non-empty file without -f" "$DX_MKFS" -s 16M "$T/data"
cmp -s "$T/orig" "$T/data" || dx_fail "refused mkfs modified the data file"
expect_ok "mkfs -f -s 16M on a non-empty file" "$DX_MKFS" -f -s 16M "$T/data"
[ "$(stat -c %s "$T/data")" = $((16 << 20)) ] || dx_fail "mkfs -f -s 16M did not size the file"

# an empty existing file holds no data: formatting it needs no -f
: >"$T/empty"
expect_ok "mkfs -s 16M on an empty file" "$DX_MKFS" -s 16M "$T/empty"

# sizes
for s in 1G:1073741824 2g:2147483648 512MiB:536870912 65536K:67108864 9M:9437184; do
	rm -f "$P"
	expect_ok "size ${s%%:*}" "$DX_MKFS" -q -s "${s%%:*}" "$P"
	[ "$(stat -c %s "$P")" = "${s#*:}" ] ||
		dx_fail "-s ${s%%:*} made a pool of $(stat -c %s "$P") bytes"
done
rm -f "$P"
for s in abc 0 -5M 10Q 1.5G 4K 1M "" 99999999999999999999T; do
	expect_fail "bad size '$s'" "$DX_MKFS" -q -s "$s" "$P"
	[ -e "$P" ] && dx_fail "bad size '$s' left a pool file behind"
done

# A failing mkfs leaves nothing it made and names the limit it hit
# (issue 14, 3).  200 TiB fits in no 47-bit address space; libpmem said only
# "mmap MAP_ANONYMOUS: Cannot allocate memory" and left the sparse file.
rm -f "$P"
expect_fail "a pool larger than the address space" "$DX_MKFS" -q -s 200T "$P"
[ -e "$P" ] && dx_fail "mkfs -s 200T left a $(stat -c %s "$P")-byte file behind"
grep -q "address space" "$T/err" || dx_fail "mkfs -s 200T does not name the limit: $(cat "$T/err")"
grep -q "MAP_ANONYMOUS" "$T/err" && dx_fail "mkfs -s 200T gives libpmem's wording"
# an empty file it did not create stays, empty
: >"$T/keep"
expect_fail "a 200 TiB pool in an existing empty file" "$DX_MKFS" -q -s 200T "$T/keep"
[ -e "$T/keep" ] || dx_fail "mkfs removed a file it did not create"
[ "$(stat -c %s "$T/keep")" = 0 ] || dx_fail "failed mkfs left the empty file $(stat -c %s "$T/keep") bytes long"
# RLIMIT_AS is a limit too, and is named (not under AddressSanitizer,
# whose shadow memory needs terabytes of address space)
if ! ldd "$DX_MKFS" 2>/dev/null | grep -q libasan; then
	expect_fail "a pool over ulimit -v" bash -c "ulimit -v 500000 && exec \"\$0\" -q -s 1G \"\$1\"" "$DX_MKFS" "$P"
	[ -e "$P" ] && dx_fail "mkfs over ulimit -v left a file behind"
	grep -q "RLIMIT_AS" "$T/err" || dx_fail "mkfs over ulimit -v does not name the limit: $(cat "$T/err")"
fi
# a daxfs pool that a failed mkfs -f could not map is refused, not damaged
"$DX_MKFS" -q -s 16M "$P" || dx_fail "mkfs -s 16M"
cp "$P" "$T/orig"
expect_fail "mkfs -f -s 200T over a pool" "$DX_MKFS" -q -f -s 200T "$P"
[ -e "$P" ] || dx_fail "mkfs -f -s 200T removed a pool it did not create"
rm -f "$P" "$T/orig" "$T/keep"
expect_fail "missing file without -s" "$DX_MKFS" -q "$P"
grep -q "does not exist" "$T/err" || dx_fail "missing file without -s: $(cat "$T/err")"
[ -e "$P" ] && dx_fail "mkfs without -s created a file"

# features (-O): all on by default, each off with ^NAME, the summary lists them
rm -f "$P"
expect_ok "default features" "$DX_MKFS" -s 16M "$P"
grep -q "^  features: *metadata_csum,reflink$" "$T/out" ||
	dx_fail "default features: $(grep features "$T/out")"
for f in "reflink:metadata_csum,reflink" "^reflink:metadata_csum" "^metadata_csum:reflink" \
	"^reflink,^metadata_csum:(none)" "^reflink,reflink:metadata_csum,reflink"; do
	expect_ok "-O ${f%%:*}" "$DX_MKFS" -f -s 16M -O "${f%%:*}" "$P"
	grep -qxF "  features:    ${f#*:}" "$T/out" ||
		dx_fail "-O ${f%%:*}: $(grep features "$T/out"), expected ${f#*:}"
done
expect_fail "unknown feature" "$DX_MKFS" -f -s 16M -O reflink,dedup "$P"
grep -q "unknown feature 'dedup' (known: metadata_csum, reflink)" "$T/err" ||
	dx_fail "unknown feature: $(cat "$T/err")"
rm -f "$P"

# usage
expect_ok "--help" "$DX_MKFS" --help
[ -s "$T/out" ] || dx_fail "--help printed nothing on stdout"
grep -q "metadata_csum, reflink" "$T/out" || dx_fail "--help does not list the features"
expect_ok "-h" "$DX_MKFS" -h
expect_fail "no pool argument" "$DX_MKFS" -s 16M
expect_fail "two pool arguments" "$DX_MKFS" -s 16M "$P" "$P.2"
expect_fail "unknown option" "$DX_MKFS" --no-such-option "$P"
expect_fail "pool in a missing directory" "$DX_MKFS" -s 16M "$T/no/such/dir/pool"
expect_fail "label longer than 63 bytes" "$DX_MKFS" -s 16M \
	-L "$(head -c 64 /dev/zero | tr '\0' 'L')" "$P"

# what mkfs wrote mounts, when the daemon is built and we may mount
if [ -x "$DX_DAEMON" ] && [ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	DX_POOL=$P
	dx_mkfs 16M -L mounted
	dx_mount
	touch "$DX_MNT/x" || dx_fail "fresh filesystem not writable"
	dx_umount
fi
dx_pass
