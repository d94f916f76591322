# SPDX-License-Identifier: MIT
# Shared by scripts/setup.sh and scripts/test.sh (sourced, not run).

# Everything daxfs needs to build, test and benchmark on Debian 12.
DAXFS_PACKAGES=(
	libfuse3-dev fuse3
	libpmem-dev libpmem2-dev libaio-dev
	meson ninja-build pkg-config
	fio attr jq
	libjson-c-dev
	gcc clang libclang-rt-14-dev xz-utils
)

log() {
	echo "==> $*"
}

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# True when every package in DAXFS_PACKAGES is installed.
packages_present() {
	local p status
	for p in "${DAXFS_PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || return 1
		[[ $status == "install ok installed" ]] || return 1
	done
}

# How long apt waits for another apt or dpkg to let go of its lock, in
# seconds: on a fresh cloud machine unattended-upgrades may hold it for
# many minutes.
: "${DAXFS_APT_LOCK_TIMEOUT:=1800}"

# Every apt-get call goes through here: wait for the dpkg lock instead of
# failing at once.
apt_get() {
	apt-get -o DPkg::Lock::Timeout="$DAXFS_APT_LOCK_TIMEOUT" "$@"
}

# apt-get update, waiting for the package lists' lock as well: apt 2.6
# applies DPkg::Lock::Timeout only to the dpkg lock, and apt's daily update
# holds /var/lib/apt/lists/lock.
apt_update() {
	local err waited=0 rc
	err=$(mktemp) || return 1
	while :; do
		rc=0
		apt_get update 2>"$err" || rc=$?
		cat "$err" >&2
		if ((rc != 0)) && grep -q 'Could not get lock /var/lib/apt/lists/lock' "$err" &&
			((waited < DAXFS_APT_LOCK_TIMEOUT)); then
			log "another apt holds the package lists lock; waiting"
			sleep 5
			waited=$((waited + 5))
			continue
		fi
		rm -f "$err"
		return "$rc"
	done
}

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt_get install -y "$@"
}

# apt-get update + install, only when something is missing: a fresh CI
# machine installs everything, a second run needs no network.
install_packages() {
	if packages_present; then
		log "all required packages are installed"
		return 0
	fi
	command -v apt-get >/dev/null || die "apt-get not found: install ${DAXFS_PACKAGES[*]} by hand"
	((EUID == 0)) || die "installing packages needs root (run with sudo)"
	log "installing packages: ${DAXFS_PACKAGES[*]}"
	apt_update
	apt_install "${DAXFS_PACKAGES[@]}"
}
