#!/usr/bin/env bash
# npm start: set everything up, then serve the default machine at ./mnt in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
topology="${IOMMUFS_TOPOLOGY:-topologies/qemu-rootports.yaml}"
mnt="$PWD/mnt"
cat >&2 <<MSG
Serving $topology at $mnt (a simulated /sys). In another shell, try:
  ls $mnt/kernel/iommu_groups
  lspci -O sysfs.path=$mnt/bus/pci -nn
  node dist/src/cli/main.js explain $topology 01:00.0
Stop with Ctrl-C (the mount is removed).
MSG
# The young generation the bin gives the daemon (src/cli/main.ts, first line).
exec node --max-semi-space-size=4 dist/src/cli/main.js mount "$topology" "$mnt"
