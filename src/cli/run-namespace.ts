// The script `iommufs run` executes inside the new mount namespace, before the command.
// It runs as `sh -c SCRIPT iommufs-run CMD ARGS...` (POSIX sh: /bin/sh is dash on Debian),
// with the run's directory in $IOMMUFS_RUN_DIR. That directory (made by run.ts) holds:
//   sys/      the FUSE mount of the simulated machine, bound over /sys (with --host-sys,
//             only its parts: hostsys/ holds the plan and views of run-host-sys.ts)
//   vfio/     /dev/vfio's entries, kept in step with vfio-pci bindings by the daemon
//   udev/     /run/udev (data/+pci:<BDF> per device), kept in step by the daemon
//   cmdline   the topology's kernel command line, bound over /proc/cmdline
//   modules   /proc/modules of the simulated kernel, kept in step by the daemon (bound
//             when the host kernel has a /proc/modules to cover)
//   cpuinfo   optional, bound over /proc/cpuinfo
//   tools/    modprobe, rmmod, lsmod and insmod of the simulation, laid over /usr/sbin and
//             /usr/bin (and /sbin, /bin where they are not links into /usr) by a read-only
//             overlay, so that neither an absolute /sbin/modprobe (driverctl) nor a PATH
//             lookup ever reaches the host's kmod
//   rw/       empty; a tmpfs is mounted on it inside the namespace only, holding the
//             writable layers of /etc and /run
//
// Nothing the command writes reaches the host: /etc and /run become overlays whose upper
// layers live on that private tmpfs (overlayfs, Documentation/filesystems/overlayfs.rst),
// so driverctl's /etc/driverctl.d, /etc/modprobe.d and /etc/udev/rules.d start as the
// host's and change only inside the run. A file bind-mounted over a path under /etc on the
// host (a container's /etc/hosts, /etc/resolv.conf) would be hidden by the overlay; its
// content is copied into the private layer instead, so it reads the same and a write stays
// private. /run's submounts (/run/lock, /run/user/N) are not carried over: the command
// gets a private view of them. Its unix sockets are: a socket seen through an overlay's
// lower layer refuses connections, so each one is bound over its path. If a private layer cannot be made the run stops (status
// 125) rather than let the command write to the host.

import { HOST_SYS_SCRIPT } from './run-host-sys';
import { UEVENT_SENDER_FILE } from './run-uevents';

/** Status when the namespace could not be set up (not the command's own): the convention
 * of env, chroot and timeout for the wrapper's own failure. */
export const SETUP_FAILED = 125;

export const NAMESPACE_SCRIPT = `
d=$IOMMUFS_RUN_DIR
unset IOMMUFS_RUN_DIR
fail() { echo "iommufs run: $*" >&2; exit ${SETUP_FAILED}; }
warn() { echo "iommufs run: warning: $*" >&2; }
${HOST_SYS_SCRIPT}
if [ -f "$d/hostsys/plan" ]; then host_sys
else mount --bind "$d/sys" /sys || fail "cannot bind the simulated tree over /sys"
fi

# Mount points strictly below $1, in mount order (field 5 of mountinfo; escaped names skipped).
submounts() { awk -v p="$1/" 'index($5, p) == 1 && $5 !~ /\\\\/ { print $5 }' /proc/self/mountinfo; }

mount -t tmpfs -o mode=700 iommufs-rw "$d/rw" || fail "cannot mount a private tmpfs"
# private_layer DIR NAME: DIR becomes an overlay over itself with its upper layer in the tmpfs.
private_layer() {
  mkdir -p "$d/rw/$2/upper" "$d/rw/$2/work" || fail "cannot prepare the private layer of $1"
  o="lowerdir=$1,upperdir=$d/rw/$2/upper,workdir=$d/rw/$2/work"
  mount -t overlay "iommufs-$2" -o "$o" "$1" 2>/dev/null ||
    mount -t overlay "iommufs-$2" -o "$o,userxattr" "$1" ||
    fail "cannot put a private writable layer over $1 (overlayfs)"
}
etc_subs=$(submounts /etc)
if [ -n "$etc_subs" ]; then
  mkdir "$d/rw/etc-host" && mount --rbind /etc "$d/rw/etc-host" || fail "cannot reach /etc"
fi
private_layer /etc etc
for m in $etc_subs; do
  h="$d/rw/etc-host\${m#/etc}"
  if [ -d "$h" ]; then mount --rbind "$h" "$m" || fail "cannot carry $m over"
  elif [ -f "$h" ]; then cat "$h" > "$m" || fail "cannot copy $m"
  fi
done
[ -z "$etc_subs" ] || umount -l "$d/rw/etc-host"
mkdir "$d/rw/run-host" && mount --rbind /run "$d/rw/run-host" || fail "cannot reach /run"
private_layer /run run
# A socket in an overlay's lower layer refuses connections: each of the host's sockets
# (D-Bus, journald, libvirt) is bound in, so the command still reaches those services.
find "$d/rw/run-host" -type s 2>/dev/null | while IFS= read -r s; do
  t="/run\${s#"$d/rw/run-host"}"
  [ -e "$t" ] || { mkdir -p "\${t%/*}" && : > "$t"; } 2>/dev/null || continue
  mount --bind "$s" "$t" 2>/dev/null || true
done
umount -l "$d/rw/run-host"
mkdir -p /run/udev || fail "cannot create /run/udev"
mount --bind "$d/udev" /run/udev || fail "cannot bind /run/udev"

# The simulation's module tools, over every directory a modprobe may be looked up in.
tools_over() {
  [ -d "$1" ] && [ ! -L "$1" ] || return 0
  mount -t overlay iommufs-tools -o "lowerdir=$d/tools:$1" "$1" || fail "cannot lay the module tools over $1"
}
tools_over /usr/sbin
tools_over /usr/bin
tools_over /sbin
tools_over /bin

if [ ! -d /dev/vfio ]; then
  mkdir "$d/hostdev" && mount --rbind /dev "$d/hostdev" || fail "cannot reach /dev"
  mount -t tmpfs -o mode=755,nosuid iommufs-dev /dev || fail "cannot put a tmpfs over /dev"
  for e in "$d"/hostdev/* "$d"/hostdev/.[!.]*; do
    n=\${e##*/}
    if [ -L "$e" ]; then ln -s "$(readlink "$e")" "/dev/$n"
    elif [ -d "$e" ]; then mkdir "/dev/$n" && mount --rbind "$e" "/dev/$n"
    elif [ -e "$e" ]; then : > "/dev/$n" && mount --bind "$e" "/dev/$n"
    fi
  done
  umount -l "$d/hostdev"
  mkdir /dev/vfio || fail "cannot create /dev/vfio"
fi
mount --bind "$d/vfio" /dev/vfio || fail "cannot bind /dev/vfio"

mount --bind "$d/cmdline" /proc/cmdline || warn "/proc/cmdline left as the host's"
# A kernel built without modules has no /proc/modules; then there is nothing to cover.
[ ! -e /proc/modules ] || mount --bind "$d/modules" /proc/modules || warn "/proc/modules left as the host's"
if [ -f "$d/cpuinfo" ]; then
  mount --bind "$d/cpuinfo" /proc/cpuinfo || warn "/proc/cpuinfo left as the host's"
fi
# The uevent sender (run-uevents.ts) reads the daemon's uevents on descriptor 3.
if [ -f "$d/${UEVENT_SENDER_FILE}" ]; then
  if command -v perl >/dev/null; then perl "$d/${UEVENT_SENDER_FILE}" <&3 >/dev/null &
  else warn "no perl: no uevents are sent"
  fi
fi
exec 3<&-
exec "$@"
`;
