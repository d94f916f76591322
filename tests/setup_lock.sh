#!/bin/bash
# SPDX-License-Identifier: MIT
# scripts/setup.sh and .ci/run wait for another apt or dpkg's lock (as
# unattended-upgrades holds it on a fresh cloud machine) instead of failing.
#
# Offline: the install step is run for a package that is already installed,
# which needs the dpkg lock but no download.  The package lists' lock (which
# apt 2.6 does not wait for) is exercised against a stand-in apt-get.
. "$(dirname "$0")/lib.sh"
dx_need_root
HOLD=$DAXFS_BUILD/tests/hold-lock
dx_need "$HOLD"
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || dx_skip "no apt-get"
PKG=fuse3
[ "$(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null)" = "install ok installed" ] ||
	dx_skip "$PKG is not installed"
dx_watchdog 600

T=$DX_TMP
# shellcheck source=../scripts/common.sh
. "$DX_SRC/scripts/common.sh"
set +e

# hold FILE SECONDS MARKER: take FILE's lock in the background, return
# once it is held
hold() {
	rm -f "$3"
	"$HOLD" "$1" "$2" "$3" >"$T/hold.out" 2>&1 &
	HPID=$!
	for _ in $(seq 100); do
		grep -q locked "$T/hold.out" && return 0
		kill -0 "$HPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/hold.out"
	dx_fail "could not take the lock on $1"
}

# Every apt-get call of the scripts goes through common.sh's apt_get.
bare=$(grep -nE '(^|[;&|(]|then|do|sudo)[[:space:]]*apt-get[[:space:]]' "$DX_SRC/scripts/setup.sh" \
	"$DX_SRC/scripts/test.sh" "$DX_SRC/.ci/run" "$DX_SRC/scripts/common.sh" |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' | grep -v 'DPkg::Lock::Timeout')
[ -z "$bare" ] || dx_fail "apt-get called without the lock timeout: $bare"
dx_log "ok: every apt-get call waits for the lock"

# .ci/run spells out the package list: it must be common.sh's.
ci_list=$(sed -n '/install -y/,/[^\\]$/p' "$DX_SRC/.ci/run" | sed 's/.*install -y//; s/-o [^ ]*//g; s/\\//g' |
	tr -s ' \t\n' '\n' | grep -v '^$' | sort)
common_list=$(bash -c 'source "$1"; printf "%s\n" "${DAXFS_PACKAGES[@]}"' _ \
	"$DX_SRC/scripts/common.sh" | sort)
[ -n "$ci_list" ] && [ "$ci_list" = "$common_list" ] ||
	dx_fail ".ci/run installs other packages than scripts/common.sh lists:" \
		"$(diff <(echo "$common_list") <(echo "$ci_list") | tr '\n' ' ')"
dx_log "ok: .ci/run installs the packages scripts/common.sh lists"

# The lock is real: apt-get without the timeout gives up at once.
hold /var/lib/dpkg/lock-frontend 30 "$T/released"
DEBIAN_FRONTEND=noninteractive apt-get install -y "$PKG" >"$T/plain.out" 2>&1
rc=$?
kill "$HPID"
wait "$HPID" 2>/dev/null
[ "$rc" != 0 ] && grep -q 'lock' "$T/plain.out" ||
	{ cat "$T/plain.out"; dx_fail "apt-get install did not fail on a held dpkg lock"; }
dx_log "ok: plain apt-get fails on the held lock: $(grep -m1 'E:' "$T/plain.out")"

# The install step waits for the holder and then succeeds.
hold /var/lib/dpkg/lock-frontend 4 "$T/released"
apt_install "$PKG" >"$T/install.out" 2>&1
rc=$?
wait "$HPID"
[ "$rc" = 0 ] || { cat "$T/install.out"; dx_fail "apt_install failed (status $rc) on a held lock"; }
[ -e "$T/released" ] || dx_fail "apt_install finished before the lock holder let go"
dx_log "ok: apt_install waited for the dpkg lock, then succeeded"

# apt_update retries while the package lists' lock is held: a stand-in
# apt-get that fails as apt 2.6 does while the lock is taken.
mkdir "$T/bin"
cat >"$T/bin/apt-get" <<EOS
#!/bin/bash
if [ ! -e "$T/lists-released" ]; then
	echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1 (apt-get)" >&2
	echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
	exit 100
fi
echo "stand-in apt-get: \$*"
EOS
chmod +x "$T/bin/apt-get"
hold "$T/lists-lock" 6 "$T/lists-released"
PATH=$T/bin:$PATH apt_update >"$T/update.out" 2>&1
rc=$?
wait "$HPID"
[ "$rc" = 0 ] && grep -q 'stand-in apt-get: -o DPkg::Lock::Timeout=[0-9]* update' "$T/update.out" ||
	{ cat "$T/update.out"; dx_fail "apt_update did not wait for the lists lock (status $rc)"; }
dx_log "ok: apt_update waited for the package lists lock"
dx_pass
