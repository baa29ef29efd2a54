#!/usr/bin/env bash
# Everything iommufs needs on a fresh Debian 12 machine with Node 20: the system FUSE 2
# library and fusermount (fuse-native links against libfuse.so.2), npm packages, the build.
# With --test, also the real tools the end-to-end tests drive: lspci (pciutils), lstopo
# (hwloc), virt-host-validate (libvirt-clients); unshare, mount and find are in Debian's
# essential set (util-linux, mount, findutils) but are checked all the same; driverctl and
# dpdk-devbind.py (Debian's `dpdk` package ships /usr/bin/dpdk-devbind.py) for the binding
# tools test. `dpdk` is installed without its recommends: those are the DPDK runtime
# libraries (librte-*, rdma-core, ~50 packages) that dpdk-devbind.py, a python3 script
# needing only lspci and ip, never loads. driverctl pulls in udev (it calls udevadm);
# python3-pyudev is the libudev client the run tests use.
set -euo pipefail
cd "$(dirname "$0")/.."

want_pkgs=()
want_dpdk=0
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libfuse.so.2' || want_pkgs+=(libfuse2)
command -v fusermount >/dev/null 2>&1 || want_pkgs+=(fuse)
if [ "${1:-}" = "--test" ]; then
  command -v lspci >/dev/null 2>&1 || want_pkgs+=(pciutils)
  command -v lstopo >/dev/null 2>&1 || want_pkgs+=(hwloc)
  command -v virt-host-validate >/dev/null 2>&1 || want_pkgs+=(libvirt-clients)
  command -v unshare >/dev/null 2>&1 || want_pkgs+=(util-linux)
  command -v mount >/dev/null 2>&1 || want_pkgs+=(mount)
  command -v find >/dev/null 2>&1 || want_pkgs+=(findutils)
  command -v diff >/dev/null 2>&1 || want_pkgs+=(diffutils)
  command -v python3 >/dev/null 2>&1 || want_pkgs+=(python3)
  command -v ip >/dev/null 2>&1 || want_pkgs+=(iproute2)
  [ -x /usr/sbin/driverctl ] || want_pkgs+=(driverctl)
  /usr/bin/python3 -c 'import pyudev' >/dev/null 2>&1 || want_pkgs+=(python3-pyudev)
  [ -x /usr/bin/dpdk-devbind.py ] || want_dpdk=1
fi

if [ "${#want_pkgs[@]}" -gt 0 ] || [ "$want_dpdk" -eq 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${want_pkgs[*]}$([ "$want_dpdk" -eq 1 ] && echo ' dpdk'); run as root or: sudo apt-get install -y ${want_pkgs[*]}$([ "$want_dpdk" -eq 1 ] && echo '; sudo apt-get install -y --no-install-recommends dpdk')" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  if [ "${#want_pkgs[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${want_pkgs[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want_pkgs[@]}" >/dev/null
  fi
  if [ "$want_dpdk" -eq 1 ]; then
    echo "setup: apt-get install --no-install-recommends dpdk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpdk >/dev/null
  fi
fi

# npm ci only when the installed tree is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The build only when a source is newer than the last one (npm start must not rebuild an
# up-to-date tree): dist/.build-stamp is touched after each successful tsc.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src test scripts -name '*.ts' -newer "$stamp" -print -quit)" ] ||
   [ tsconfig.json -nt "$stamp" ] || [ node_modules/.package-lock.json -nt "$stamp" ]; then
  npx --no-install tsc -p tsconfig.json
  touch "$stamp"
fi
