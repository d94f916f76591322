# SPDX-License-Identifier: MIT
# Shared by scripts/setup.sh and scripts/test.sh (sourced, not run).

# Everything daxfs needs to build, test and benchmark on Debian 12.
DAXFS_PACKAGES=(
	libfuse3-dev fuse3
	libpmem-dev libpmem2-dev libaio-dev
	meson ninja-build pkg-config
	fio attr
	gcc clang
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
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y "${DAXFS_PACKAGES[@]}"
}
