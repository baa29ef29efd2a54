// `iommufs run --host-sys`: the host's real /sys with only the simulated parts placed over
// it, in the run's private mount namespace (the rest of the namespace is run-namespace.ts).
//
// What is simulated (bound from the FUSE mount, so reads and writes go to the daemon):
// bus/pci, bus/pci_express, the simulation's host bridges devices/pci<seg>:<bus> (whole),
// devices/virtual/iommu, kernel/iommu_groups, kernel/debug/iommufs (the simulator's control
// files, which the run's modprobe uses), class/iommu, class/pci_bus, module (whole: the
// simulated kernel's modules, as /proc/modules, lsmod and modprobe show them under run),
// firmware/acpi/tables/DMAR or IVRS, bus/mdev and class/mdev_bus when the machine has mdev
// parents, and each simulated platform device's devices/platform/<name>. Everything else is
// the host's.
//
// Mechanism. sysfs refuses mkdir, so a simulated entry the host lacks (devices/pci0000:17,
// devices/virtual/iommu on a host without an IOMMU) cannot get a mount point. Its parent is
// then "shadowed": a tmpfs over the parent holding a bind mount (--rbind, carrying
// submounts) of each host entry, a copy of each host symlink, and mount points for the
// simulated ones; the tmpfs is made read-only once filled. The set of names in a shadowed
// directory is fixed at start (host bridges, /sys/class's classes and /sys/devices/virtual's
// kinds do not come and go); each entry's content stays live. overlayfs accepts sysfs as a
// lower layer (tried on 6.18; 6.1 refuses only "weird" lower dentries, fs/overlayfs/util.c
// ovl_dentry_weird: automount, d_hash, d_compare, none of which kernfs has; its
// d_revalidate only makes the layer "remote") but was not used: a lower-only overlay is
// read-only, so writes to simulated files could not reach the daemon; overlayfs leaves
// changes to its layers undefined while mounted, and the simulated tree changes on every
// bind and VF; and it merges same-named directories of both layers.
//
// Links. The simulated host bridges replace the host's of the same name, so host devices
// below them (typically its disks and NICs) are not reachable, and their links in the
// index directories (class/*, block, dev/block, dev/char, bus/*/devices, and the drivers'
// bus/*/drivers/*) would dangle or, worse, resolve into a simulated device of the same
// address (clients.md: hwloc showed the host's vda under a simulated GPU). Such a directory
// is replaced by a "view": a directory of the run, bound read-only, holding the host's links
// except those that lead into a simulated part, and mount points on which its other entries
// (a driver's bind, unbind, uevent) are bound from the host. The classes the simulated drivers create devices in (net, ptp, vfio-dev,
// nvme, drm, sound, wakeup) always get a view, kept in step by the daemon after every write:
// the host's links plus the simulation's, whose name wins when both have it; so does
// bus/platform/devices when the machine has platform devices. The host side of a view is
// read once at start.
//
// Nothing on the host changes: the namespace is private, the host's /sys is remounted
// read-only in it (so `udevadm trigger` cannot reach the host's devices; its submounts, such
// as /sys/fs/cgroup, stay as they are), and views live in the run's directory.

import { lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, unlinkSync, writeFileSync, rmdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { CLASS_DEVICE_NAMING } from '../engine/driver-traits';
import type { Node, SysfsTree } from '../sysfs/node';

/** The simulated parts placed when the simulated tree has them (besides the host bridges). */
const SIM_PARTS = [
  'bus/mdev',
  'bus/pci',
  'bus/pci_express',
  'class/iommu',
  'class/mdev_bus',
  'class/pci_bus',
  'devices/virtual/iommu',
  'firmware/acpi/tables/DMAR',
  'firmware/acpi/tables/IVRS',
  // The simulator's control files: the run's modprobe and rmmod load modules through them.
  'kernel/debug/iommufs',
  'kernel/iommu_groups',
  'module',
];

/** Host entries hidden when the simulation lacks them: its ACPI tables would claim an IOMMU
 * the simulated machine does not have (virt-host-validate reads them). */
const HIDDEN_UNLESS_SIMULATED = ['firmware/acpi/tables/DMAR', 'firmware/acpi/tables/IVRS'];

/** The classes simulated drivers put class devices in (driver-traits.ts). */
const DRIVER_CLASSES = [...new Set(Object.values(CLASS_DEVICE_NAMING).map((n) => n.dir))].sort();

/** Index directories of the devices a bound nvme driver adds below its PCI device (its disks,
 * their `ng` char devices, its hwmon): their links lead into a simulated host bridge, so they
 * follow binds like the classes above. `class/bdi` and `class/nvme-subsystem` are not among
 * them: their devices live in `devices/virtual`, which stays the host's. */
const DEVICE_INDEXES = ['block', 'class/block', 'class/hwmon', 'class/nvme-generic', 'dev/block', 'dev/char'];

/** The host's directories of links that tools enumerate (libudev, hwloc, lsblk), and
 * its drivers' directories (bus/<bus>/drivers/<driver>/<device> links). */
function indexDirs(host: HostSysProbe): string[] {
  const buses = host.list('bus');
  return [
    'block',
    ...['class', 'dev'].flatMap((p) => host.list(p).map((n) => `${p}/${n}`)),
    ...buses.map((b) => `bus/${b}/devices`),
    ...buses.flatMap((b) => host.list(`bus/${b}/drivers`).map((d) => `bus/${b}/drivers/${d}`)),
  ];
}

/** Read access to the host's /sys, relative paths ('' is the root). */
export interface HostSysProbe {
  kind(rel: string): 'dir' | 'file' | 'link' | undefined;
  list(rel: string): string[];
  readlink(rel: string): string;
}

export function hostSysProbe(root = '/sys'): HostSysProbe {
  const at = (rel: string): string => (rel === '' ? root : join(root, rel));
  return {
    kind(rel) {
      try {
        const st = lstatSync(at(rel));
        return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
      } catch {
        return undefined;
      }
    },
    list(rel) {
      try {
        return readdirSync(at(rel));
      } catch {
        return [];
      }
    },
    readlink: (rel) => readlinkSync(at(rel)),
  };
}

export interface HostSysView {
  /** Where it goes under /sys. */
  rel: string;
  /** The host's links kept (name → target as the host has it). */
  host: Map<string, string>;
  /** The host's other entries (a driver's bind, unbind, uevent), bound in from the host. */
  carried: Array<{ name: string; dir: boolean }>;
  /** Also holds the simulated tree's links at the same path, kept in step. */
  live: boolean;
}

export interface HostSysPlan {
  /** Host directories covered by a tmpfs of their entries, shallowest first; `skip` are
   * the names not carried over (they are placed, or hidden). */
  shadows: Array<{ rel: string; skip: string[] }>;
  /** Directories created inside a shadow, shallowest first. */
  mkdirs: string[];
  /** Simulated parts, bound from the FUSE mount. */
  sim: string[];
  /** Views, bound read-only from the run's directory (index i at views/<i>), each
   * followed by its carried entries. */
  views: HostSysView[];
}

function parentOf(rel: string): string {
  const at = rel.lastIndexOf('/');
  return at < 0 ? '' : rel.slice(0, at);
}

function depth(rel: string): number {
  return rel.split('/').length;
}

/** The node at a path of the simulated tree. */
function simNode(tree: SysfsTree, rel: string): Node | undefined {
  let node: Node | undefined = tree.root;
  for (const name of rel.split('/')) {
    if (node?.kind !== 'dir') return undefined;
    node = node.lookup(name);
  }
  return node;
}

/** The simulated tree's links in a directory, name → target. */
function simLinks(tree: SysfsTree, rel: string): Map<string, string> {
  const out = new Map<string, string>();
  const d = simNode(tree, rel);
  if (d?.kind !== 'dir') return out;
  for (const name of d.list()) {
    const n = d.lookup(name);
    if (n?.kind === 'link') out.set(name, n.target);
  }
  return out;
}

/** What to place where, from the simulated tree and the host's /sys as it is now. */
export function hostSysPlan(tree: SysfsTree, host: HostSysProbe): HostSysPlan {
  const listed = (rel: string): string[] => {
    const d = simNode(tree, rel);
    return d?.kind === 'dir' ? d.list().map((n) => `${rel}/${n}`) : [];
  };
  // drivers/pci/probe.c pci_register_host_bridge: "pci%04x:%02x".
  const bridges = listed('devices').filter((p) => /^devices\/pci[0-9a-f]{4,}:[0-9a-f]{2}$/.test(p));
  const platform = listed('devices/platform');
  const sim = [...bridges, ...platform, ...SIM_PARTS.filter((p) => simNode(tree, p) !== undefined)];
  const hidden = HIDDEN_UNLESS_SIMULATED.filter((p) => !sim.includes(p) && host.kind(p) !== undefined);
  const covered = [...sim, ...hidden];
  const intoCovered = (fromDir: string, target: string): boolean => {
    const rel = posix.relative('/sys', posix.resolve('/sys', fromDir, target));
    return covered.some((p) => rel === p || rel.startsWith(`${p}/`));
  };
  /** The host's entries of a directory, less the links into a covered part. */
  const hostSide = (rel: string, live: boolean): HostSysView => {
    const view: HostSysView = { rel, host: new Map(), carried: [], live };
    for (const name of host.list(rel)) {
      const kind = host.kind(`${rel}/${name}`);
      if (kind !== 'link') view.carried.push({ name, dir: kind === 'dir' });
      else {
        const target = host.readlink(`${rel}/${name}`);
        if (!intoCovered(rel, target)) view.host.set(name, target);
      }
    }
    return view;
  };

  const views: HostSysView[] = [];
  for (const rel of [...DRIVER_CLASSES.map((c) => `class/${c}`), ...DEVICE_INDEXES]) {
    views.push(hostSide(rel, true));
  }
  if (platform.length > 0) views.push(hostSide('bus/platform/devices', true));
  for (const rel of indexDirs(host)) {
    if (covered.some((p) => rel === p || rel.startsWith(`${p}/`)) || views.some((v) => v.rel === rel)) continue;
    if (host.kind(rel) !== 'dir') continue;
    const view = hostSide(rel, false);
    // Only where a link is left out; else the host's own directory stays.
    if (view.host.size + view.carried.length < host.list(rel).length) views.push(view);
  }

  // Where a target has no host entry to mount on, or a host entry is hidden, its parent
  // becomes a shadow (or, if the host lacks the parent too, a directory made in one).
  const shadows = new Map<string, Set<string>>();
  const mkdirs = new Set<string>();
  const writable = (rel: string, target: string): void => {
    if (shadows.has(rel) || mkdirs.has(rel)) return;
    // /sys itself is not shadowed: its top-level directories are the kernel's own.
    if (rel === '') throw new Error(`the host's /sys has no ${target.split('/')[0]} to place ${target} in`);
    if (host.kind(rel) === 'dir') shadows.set(rel, new Set());
    else {
      writable(parentOf(rel), target);
      mkdirs.add(rel);
    }
  };
  const targets = [...sim, ...views.map((v) => v.rel)];
  for (const rel of targets) if (host.kind(rel) === undefined) writable(parentOf(rel), rel);
  for (const rel of hidden) writable(parentOf(rel), rel);
  for (const rel of [...targets, ...hidden, ...mkdirs]) shadows.get(parentOf(rel))?.add(rel.slice(rel.lastIndexOf('/') + 1));
  const byDepth = (a: string, b: string): number => depth(a) - depth(b) || (a < b ? -1 : 1);
  return {
    shadows: [...shadows].sort((a, b) => byDepth(a[0], b[0])).map(([rel, skip]) => ({ rel, skip: [...skip].sort() })),
    mkdirs: [...mkdirs].sort(byDepth),
    sim: sim.sort(byDepth),
    views,
  };
}

/** The plan as the namespace script reads it: one tab-separated operation a line. */
export function planText(plan: HostSysPlan): string {
  const lines = [
    ...plan.shadows.map((s) => `shadow\t${s.rel}\t${s.skip.join('/')}`),
    ...plan.mkdirs.map((rel) => `mkdir\t${rel}`),
    ...plan.sim.map((rel) => `sim\t${rel}`),
    ...plan.views.flatMap((v, i) => [`view\t${v.rel}\t${i}`, ...v.carried.map((c) => `carry\t${v.rel}/${c.name}`)]),
  ];
  return lines.map((l) => `${l}\n`).join('');
}

/** Makes `dir` hold exactly the links of `want`, touching only what differs and no entry
 * other than a link (the mount points of carried entries). Synchronous: a write's effect
 * must show before the writer's next command runs. */
function syncLinks(dir: string, want: Map<string, string>): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (!lstatSync(p).isSymbolicLink()) continue;
    const target = want.get(name);
    if (target !== undefined && readlinkSync(p) === target) continue;
    unlinkSync(p);
  }
  const have = new Set(readdirSync(dir));
  for (const [name, target] of want) if (!have.has(name)) symlinkSync(target, join(dir, name));
}

/** The views of one run: written at start, the live ones rewritten by `sync`. */
export class HostSysViews {
  constructor(
    private readonly base: string,
    private readonly plan: HostSysPlan,
    private readonly tree: SysfsTree,
  ) {}

  /** Writes the plan and every view into `<base>` (made here, emptied by `clear`). */
  write(): void {
    mkdirSync(join(this.base, 'host'), { recursive: true });
    mkdirSync(join(this.base, 'views'), { recursive: true });
    this.plan.views.forEach((v, i) => {
      const dir = join(this.base, 'views', String(i));
      mkdirSync(dir);
      for (const c of v.carried) {
        if (c.dir) mkdirSync(join(dir, c.name));
        else writeFileSync(join(dir, c.name), '', { mode: 0o444 });
      }
    });
    writeFileSync(join(this.base, 'plan'), planText(this.plan));
    this.sync(true);
  }

  sync(all = false): void {
    this.plan.views.forEach((v, i) => {
      if (!v.live && !all) return;
      const want = new Map(v.host);
      if (v.live) for (const [name, target] of simLinks(this.tree, v.rel)) want.set(name, target);
      syncLinks(join(this.base, 'views', String(i)), want);
    });
  }

  /** Removes what `write` made; never recursively, so that nothing mounted is walked into. */
  clear(): void {
    const quiet = (f: () => void): void => {
      try {
        f();
      } catch {
        // already gone, or (for a directory) still in use: left for the user to see
      }
    };
    this.plan.views.forEach((v, i) => {
      const dir = join(this.base, 'views', String(i));
      quiet(() => syncLinks(dir, new Map()));
      for (const c of v.carried) quiet(() => (c.dir ? rmdirSync : unlinkSync)(join(dir, c.name)));
      quiet(() => rmdirSync(dir));
    });
    for (const p of ['plan']) quiet(() => unlinkSync(join(this.base, p)));
    for (const d of ['views', 'host', '']) quiet(() => rmdirSync(join(this.base, d)));
  }
}

/** The plan for the host's /sys as it is now, written with its views into `base` (the
 * namespace script finds it there). Throws, having removed what it wrote, when it cannot. */
export function startHostSys(tree: SysfsTree, base: string): HostSysViews {
  const views = new HostSysViews(base, hostSysPlan(tree, hostSysProbe()), tree);
  try {
    views.write();
  } catch (e) {
    views.clear();
    throw e;
  }
  return views;
}

/** The namespace script's part for --host-sys (a shell function, run instead of binding the
 * whole mount over /sys when $d/hostsys/plan exists). `fail` is the script's. */
export const HOST_SYS_SCRIPT = `
host_sys() {
  hs="$d/hostsys"
  shadows=""
  mount -o remount,bind,ro /sys || fail "cannot make the host's /sys read-only"
  mount --rbind /sys "$hs/host" || fail "cannot reach the host's /sys"
  # Views are bound from a read-only bind of their directory, so each is read-only at once.
  mount --bind "$hs/views" "$hs/views" && mount -o remount,bind,ro "$hs/views" || fail "cannot make the views read-only"
  while IFS='	' read -r op rel arg; do
    t="/sys/$rel"
    case $op in
    shadow)
      mount -t tmpfs -o "mode=$(stat -c %a "$t")" iommufs-sys "$t" || fail "cannot cover $t"
      # The mount points first, all directories with one mkdir: a process per entry is
      # what this costs, so one mount each and nothing more.
      (cd "$hs/host/$rel" && for n in *; do
        case "/$arg/" in */"$n"/*) continue ;; esac
        [ -d "$n" ] && [ ! -L "$n" ] && printf '%s\\0' "$t/$n"
      done) | xargs -0r mkdir || fail "cannot fill $t"
      for e in "$hs/host/$rel"/*; do
        n=\${e##*/}
        case "/$arg/" in */"$n"/*) continue ;; esac
        if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$t/$n"
        elif [ -d "$e" ]; then mount --rbind "$e" "$t/$n"
        elif [ -e "$e" ]; then : > "$t/$n" && mount --bind "$e" "$t/$n"
        fi || fail "cannot carry $t/$n over"
      done
      shadows="$shadows $t" ;;
    mkdir) mkdir "$t" || fail "cannot create $t" ;;
    sim | view)
      if [ "$op" = sim ]; then s="$d/sys/$rel"; else s="$hs/views/$arg"; fi
      if [ ! -e "$t" ] && [ ! -L "$t" ]; then
        if [ -d "$s" ]; then mkdir "$t"; else : > "$t"; fi || fail "cannot create $t"
      fi
      mount --bind "$s" "$t" || fail "cannot place $t" ;;
    carry) mount --rbind "$hs/host/$rel" "$t" || fail "cannot carry $t over" ;;
    esac
  done < "$hs/plan"
  for t in $shadows; do mount -o remount,bind,ro "$t" || fail "cannot make $t read-only"; done
  umount -l "$hs/host"
  umount -l "$hs/views"
}
`;
