#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/setup.sh - from a fresh Debian 12 machine to a mounted daxfs.
#
# Installs the packages, builds, installs (daxfs, mkfs.daxfs, ... under
# /usr/local so "mount -t fuse.daxfs" finds the daemon), creates a default
# pool and mounts it on /mnt/daxfs.  Safe to run again: every step that is
# already done is skipped, and an existing pool is never reformatted.
#
# Environment (all optional):
#   DAXFS_POOL        pool file            (default /var/lib/daxfs/default.pool)
#   DAXFS_MOUNTPOINT  where to mount it    (default /mnt/daxfs)
#   DAXFS_POOL_SIZE   size of a new pool   (default 4G; the file is sparse)

set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/common.sh

if ((EUID != 0)); then
	command -v sudo >/dev/null || die "run this as root"
	exec sudo --preserve-env=DAXFS_POOL,DAXFS_MOUNTPOINT,DAXFS_POOL_SIZE bash "$0" "$@"
fi

pool=${DAXFS_POOL:-/var/lib/daxfs/default.pool}
mnt=${DAXFS_MOUNTPOINT:-/mnt/daxfs}
pool_size=${DAXFS_POOL_SIZE:-4G}

install_packages

log "building"
[[ -f build/meson-private/coredata.dat ]] || meson setup build
ninja -C build

log "installing"
meson install -C build --no-rebuild
# meson does not refresh the linker cache, and daxfsctl needs the
# libdaxfs-client it just installed.
ldconfig

# Where meson put the programs (prefix/sbindir, /usr/local/sbin by default).
sbin=$(meson introspect --buildoptions build | python3 -c '
import json, os, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(os.path.join(opts["prefix"], opts["sbindir"]))')
[[ -x $sbin/daxfs && -x $sbin/mkfs.daxfs ]] || die "daxfs was not installed into $sbin"
export PATH=$sbin:$PATH
if [[ -x $sbin/daxfsctl ]] && ! daxfsctl --version >/dev/null 2>&1; then
	echo "warning: $sbin/daxfsctl cannot run (libdaxfs-client not in the linker's path?)" >&2
fi

# fstype and source of the mount on $1, if any.
mount_of() {
	awk -v m="$1" '$2 == m { t = $3; s = $1 } END { if (t) print t, s }' /proc/mounts
}

show_result() {
	echo
	echo "daxfs pool $pool is mounted on $mnt"
	echo "  unmount:  fusermount3 -u $mnt   (or: umount $mnt)"
	echo "  mount:    mount -t fuse.daxfs $pool $mnt -o allow_other"
	echo "  fstab:    $pool $mnt fuse.daxfs defaults,allow_other 0 0"
}

read -r cur_type cur_src < <(mount_of "$mnt") || true
if [[ -n ${cur_type:-} ]]; then
	# The daemon names the source "daxfs:<absolute pool path>".
	if [[ $cur_type == fuse.daxfs && $cur_src == "daxfs:$(realpath -m "$pool")" ]]; then
		log "$mnt is already mounted"
		show_result
		exit 0
	fi
	die "$mnt is already in use ($cur_type from $cur_src); set DAXFS_MOUNTPOINT"
fi

mkdir -p "$(dirname "$pool")"
if [[ ! -s $pool ]]; then
	log "creating a $pool_size pool in $pool"
	mkfs.daxfs -s "$pool_size" -L default "$pool"
elif command -v fsck.daxfs >/dev/null; then
	# An existing pool is data: check it read-only, never reformat it.
	log "checking the existing pool $pool"
	rc=0
	fsck.daxfs -n "$pool" || rc=$?
	case $rc in
	0) ;;
	8)
		# fsck has said why (in use, not a daxfs pool, ...) just above.
		die "fsck.daxfs could not check $pool (see above); if it is not a" \
			"daxfs pool, move it away or format it with mkfs.daxfs -f" \
			"(destroys its contents)"
		;;
	*) die "$pool has errors (fsck.daxfs -n exit $rc); repair it with: fsck.daxfs -y $pool" ;;
	esac
else
	log "using the existing pool $pool"
fi

mkdir -p "$mnt"
log "mounting $pool on $mnt"
# mount(8) runs mount.fuse3 with no PATH at all, so /bin/sh finds "daxfs"
# only in its built-in list of system directories.  For another prefix, start
# the daemon directly; it is the same thing without the detour.
case $sbin in
/usr/local/sbin | /usr/local/bin | /usr/sbin | /usr/bin | /sbin | /bin)
	mount -t fuse.daxfs "$pool" "$mnt" -o allow_other
	;;
*)
	"$sbin/daxfs" -o allow_other "$pool" "$mnt"
	;;
esac
read -r cur_type _ < <(mount_of "$mnt") || true
[[ ${cur_type:-} == fuse.daxfs ]] || die "mount did not take effect on $mnt"
show_result
