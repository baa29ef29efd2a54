// Reading a Linux /sys (the real one, an `iommufs export`, or a recording rebuilt as files)
// into plain facts for `iommufs import`: every PCI function with its config space, links and
// attributes, the IOMMU units of class/iommu, the groups of kernel/iommu_groups and the
// drivers of bus/pci/drivers. Only reads; what it finds is turned into a topology elsewhere.

import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CliError } from './errors';

export interface SysFunction {
  name: string;
  segment: number;
  bus: number;
  devfn: number;
  /** The PCI function whose secondary bus this one is on, or null on a root bus. */
  parent: string | null;
  /** `pciSSSS:BB` of the host bridge above. */
  host: string;
  config: Buffer;
  vendor: number;
  device: number;
  classCode: number;
  revision: number;
  subsystem: { vendor: number; device: number } | null;
  driver?: string;
  /** Name of the IOMMU unit its `iommu` link points to. */
  iommu?: string;
  numaNode: number;
  /** The PF of a VF (`physfn` link). */
  physfn?: string;
  /** SR-IOV attributes of a PF (sriov_totalvfs & co.), when present. */
  sriov?: { total: number; offset: number; stride: number; vfDevice: number; num: number };
  /** A bridge's secondary bus number (config 0x19 or secondary_bus_number). */
  secondaryBus?: number;
  /** Has the link attributes pci-sysfs.c shows only for PCI Express functions (pcie_dev_attrs). */
  pcieAttrs: boolean;
  /** An NVMe controller's namespaces (nvme/nvmeN/nvmeNnM: `size` in 512-byte sectors,
   * queue/logical_block_size), when the tree has the controller. */
  namespaces?: { bytes: number; lba: number }[];
  /** The `resource` file's lines (resource_show: start, end, flags), when the tree has it. */
  resources?: { start: bigint; end: bigint; flags: number }[];
}

export interface SysUnit {
  name: string;
  /** Subdirectories that name the driver's attribute group: intel-iommu, amd-iommu. */
  groups: string[];
  /** `<group>/<attr>` → text. */
  attrs: Map<string, string>;
}

export interface SysGroup {
  id: number;
  type?: string;
  devices: string[];
  /** Lines of reserved_regions; undefined when the tree has no such file. */
  reservedRegions?: string[];
}

export interface SysMachine {
  root: string;
  hostBridges: { dirName: string; segment: number; bus: number }[];
  /** In address order (segment, bus, devfn). */
  functions: SysFunction[];
  units: SysUnit[];
  groups: SysGroup[];
  /** bus/pci/drivers. */
  drivers: string[];
  /** Platform devices that have an IOMMU group (not described; listed as comments). */
  platformWithGroups: string[];
  /** Function directories found where no PCI function or host bridge directory is above
   * them (a VMD domain `pci10000:00`, say): not described. */
  unplaced: string[];
}

const BDF = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;
const HOST = /^pci([0-9a-f]{4}):([0-9a-f]{2})$/;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function readNumber(path: string, radix: 10 | 16): number | undefined {
  const t = readText(path);
  if (t === undefined || t === '') return undefined;
  const n = radix === 16 ? parseInt(t.replace(/^0x/, ''), 16) : parseInt(t, 10);
  return Number.isNaN(n) ? undefined : n;
}

function linkName(path: string): string | undefined {
  try {
    return basename(readlinkSync(path));
  } catch {
    return undefined;
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The function directories: bus/pci/devices links resolved, else a walk of devices/pci*. */
function functionDirs(sys: string): string[] {
  const links = join(sys, 'bus', 'pci', 'devices');
  if (existsSync(links)) {
    return listDir(links)
      .filter((n) => BDF.test(n))
      .map((n) => {
        try {
          return realpathSync(join(links, n));
        } catch {
          return '';
        }
      })
      .filter((p) => p !== '');
  }
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const n of listDir(dir)) {
      if (!BDF.test(n)) continue;
      const p = join(dir, n);
      if (!isDir(p)) continue;
      out.push(p);
      walk(p);
    }
  };
  for (const h of listDir(join(sys, 'devices')).filter((n) => HOST.test(n))) walk(join(sys, 'devices', h));
  return out;
}

function readFunction(dir: string): SysFunction | undefined {
  const name = basename(dir);
  const m = BDF.exec(name);
  if (!m) return undefined;
  const parentDir = dirname(dir);
  const parentName = basename(parentDir);
  let parent: string | null;
  let host: string;
  if (BDF.test(parentName)) {
    parent = parentName;
    host = dir.split('/').find((p) => HOST.test(p)) ?? '';
  } else if (HOST.test(parentName)) {
    parent = null;
    host = parentName;
  } else return undefined;
  let config: Buffer;
  try {
    config = readFileSync(join(dir, 'config'));
  } catch {
    config = Buffer.alloc(0);
  }
  const cfg16 = (off: number): number | undefined => (config.length >= off + 2 ? config.readUInt16LE(off) : undefined);
  const vendor = readNumber(join(dir, 'vendor'), 16) ?? cfg16(0) ?? 0xffff;
  const device = readNumber(join(dir, 'device'), 16) ?? cfg16(2) ?? 0xffff;
  const classCode = readNumber(join(dir, 'class'), 16) ?? (config.length >= 12 ? config.readUIntLE(9, 3) : 0);
  const revision = readNumber(join(dir, 'revision'), 16) ?? config[8] ?? 0;
  const sv = readNumber(join(dir, 'subsystem_vendor'), 16);
  const sd = readNumber(join(dir, 'subsystem_device'), 16);
  const f: SysFunction = {
    name,
    segment: parseInt(m[1]!, 16),
    bus: parseInt(m[2]!, 16),
    devfn: (parseInt(m[3]!, 16) << 3) | parseInt(m[4]!, 16),
    parent,
    host,
    config,
    vendor,
    device,
    classCode,
    revision,
    subsystem: sv !== undefined && sd !== undefined ? { vendor: sv, device: sd } : null,
    numaNode: readNumber(join(dir, 'numa_node'), 10) ?? -1,
    pcieAttrs: existsSync(join(dir, 'max_link_speed')),
  };
  const driver = linkName(join(dir, 'driver'));
  if (driver !== undefined) f.driver = driver;
  const iommu = linkName(join(dir, 'iommu'));
  if (iommu !== undefined) f.iommu = iommu;
  const physfn = linkName(join(dir, 'physfn'));
  if (physfn !== undefined) f.physfn = physfn;
  const total = readNumber(join(dir, 'sriov_totalvfs'), 10);
  if (total !== undefined && total > 0) {
    f.sriov = {
      total,
      offset: readNumber(join(dir, 'sriov_offset'), 10) ?? 0,
      stride: readNumber(join(dir, 'sriov_stride'), 10) ?? 0,
      vfDevice: readNumber(join(dir, 'sriov_vf_device'), 16) ?? 0,
      num: readNumber(join(dir, 'sriov_numvfs'), 10) ?? 0,
    };
  }
  const secondary = readNumber(join(dir, 'secondary_bus_number'), 10) ?? (config.length > 0x19 && (config[0x0e]! & 0x7f) === 1 ? config[0x19] : undefined);
  if (secondary !== undefined) f.secondaryBus = secondary;
  const namespaces = readNamespaces(dir);
  if (namespaces) f.namespaces = namespaces;
  const resources = readText(join(dir, 'resource'));
  if (resources !== undefined) {
    f.resources = resources.split('\n').map((l) => {
      const [start, end, flags] = l.trim().split(/\s+/).map(hexBig);
      return { start: start ?? 0n, end: end ?? 0n, flags: Number((flags ?? 0n) & 0xffffffffn) };
    });
  }
  return f;
}

/** The namespaces below the first nvme controller directory, by namespace number
 * (nvme_alloc_ns names them nvme<ctrl>n<nsid>; multipath's nvme<s>c<c>n<n> are skipped). */
function readNamespaces(dir: string): SysFunction['namespaces'] {
  const ctrl = listDir(join(dir, 'nvme')).find((n) => /^nvme\d+$/.test(n));
  if (ctrl === undefined) return undefined;
  const nsid = (n: string): number => Number(/n(\d+)$/.exec(n)![1]);
  return listDir(join(dir, 'nvme', ctrl))
    .filter((n) => new RegExp(`^${ctrl}n\\d+$`).test(n))
    .sort((a, b) => nsid(a) - nsid(b))
    .map((n) => ({
      bytes: (readNumber(join(dir, 'nvme', ctrl, n, 'size'), 10) ?? 0) * 512,
      lba: readNumber(join(dir, 'nvme', ctrl, n, 'queue', 'logical_block_size'), 10) ?? 512,
    }));
}

/** resource_show's "0x%016llx": 0 for anything else. */
const hexBig = (t: string): bigint => (/^0x[0-9a-f]{1,16}$/i.test(t) ? BigInt(t) : 0n);

function readUnit(sys: string, name: string): SysUnit {
  const dir = join(sys, 'class', 'iommu', name);
  const groups = listDir(dir).filter((n) => /-iommu$/.test(n) && isDir(join(dir, n)));
  const attrs = new Map<string, string>();
  for (const g of groups) for (const a of listDir(join(dir, g))) attrs.set(`${g}/${a}`, readText(join(dir, g, a)) ?? '');
  return { name, groups, attrs };
}

function readGroups(sys: string): SysGroup[] {
  const root = join(sys, 'kernel', 'iommu_groups');
  return listDir(root)
    .filter((n) => /^\d+$/.test(n))
    .map((n) => {
      const dir = join(root, n);
      const type = readText(join(dir, 'type'));
      const regions = readText(join(dir, 'reserved_regions'));
      return {
        id: Number(n),
        ...(type !== undefined ? { type } : {}),
        devices: listDir(join(dir, 'devices')),
        ...(regions !== undefined ? { reservedRegions: regions === '' ? [] : regions.split('\n') } : {}),
      };
    })
    .sort((a, b) => a.id - b.id);
}

/** Reads the tree at `sys`; a directory that is not laid out like /sys is refused (exit 2). */
export function readSysfs(sys: string): SysMachine {
  if (!isDir(sys)) throw new CliError(`import: ${sys}: not a directory`, 2);
  const hostDirs = listDir(join(sys, 'devices')).filter((n) => HOST.test(n));
  if (!existsSync(join(sys, 'bus', 'pci', 'devices')) && hostDirs.length === 0) {
    throw new CliError(`import: ${sys} is not a sysfs: it has neither bus/pci/devices nor devices/pci<segment>:<bus> (give the directory that holds devices/ and bus/, like /sys)`, 2);
  }
  const unplaced: string[] = [];
  const functions = functionDirs(sys)
    .map((dir) => {
      const f = readFunction(dir);
      if (f === undefined) unplaced.push(dir);
      return f;
    })
    .filter((f): f is SysFunction => f !== undefined)
    .sort((a, b) => a.segment - b.segment || a.bus - b.bus || a.devfn - b.devfn);
  const hosts = new Set([...hostDirs, ...functions.map((f) => f.host)]);
  const hostBridges = [...hosts]
    .map((dirName) => {
      const m = HOST.exec(dirName)!;
      return { dirName, segment: parseInt(m[1]!, 16), bus: parseInt(m[2]!, 16) };
    })
    .sort((a, b) => a.segment - b.segment || a.bus - b.bus);
  const platform = join(sys, 'devices', 'platform');
  return {
    root: sys,
    hostBridges,
    functions,
    units: listDir(join(sys, 'class', 'iommu')).map((n) => readUnit(sys, n)),
    groups: readGroups(sys),
    drivers: listDir(join(sys, 'bus', 'pci', 'drivers')),
    platformWithGroups: listDir(platform).filter((n) => existsSync(join(platform, n, 'iommu_group'))),
    unplaced,
  };
}
