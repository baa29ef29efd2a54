// A plain-file sysfs rebuilt from a kernel recording (test/fixtures/reference/*.json): the
// device directories at their recorded real paths with every recorded attribute, the full
// recorded config space, the recorded links, bus/pci/devices and the group directories.
// Real tools pointed at it (lspci -O sysfs.path, HWLOC_FSROOT, the group loop) print what
// they would have printed on the recorded Linux 6.1 machine, so their output there is the
// oracle for the same tools on our mount.

import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { RecordedPhase } from '../helpers/reference';

export const ORACLE_PREFIX = 'iommufs-oracle-';

/** The recorded config space as bytes ("86 80 d3 10 ..."). */
export function configBytes(hex: string): Buffer {
  return Buffer.from(hex.trim().split(/\s+/).map((h) => parseInt(h, 16)));
}

/** Links whose target is the firmware's (ACPI nodes), which the rebuilt tree does not hold. */
const SKIPPED_LINKS = new Set(['firmware_node']);

/** Writes the recorded tree under `<root>/sys`. */
export async function writeRecordedTree(rec: RecordedPhase, root: string): Promise<void> {
  const sys = join(root, 'sys');
  const targets: string[] = [];
  for (const [bdf, dev] of Object.entries(rec.devices)) {
    const rel = dev.realpath.replace(/^\/sys\//, '');
    const dir = join(sys, rel);
    await mkdir(dir, { recursive: true });
    for (const [attr, lines] of Object.entries(dev.attrs)) await writeFile(join(dir, attr), lines.join('\n') + '\n');
    await writeFile(join(dir, 'config'), configBytes(dev.config_hex));
    for (const [name, target] of Object.entries(dev.links)) {
      if (SKIPPED_LINKS.has(name)) continue;
      await symlink(target, join(dir, name));
      targets.push(posix.join(rel, target));
    }
    await mkdir(join(sys, 'bus', 'pci', 'devices'), { recursive: true });
    await symlink(dev.bus_link, join(sys, 'bus', 'pci', 'devices', bdf));
  }
  for (const [id, g] of Object.entries(rec.groups)) {
    const devDir = join(sys, 'kernel', 'iommu_groups', id, 'devices');
    await mkdir(devDir, { recursive: true });
    await writeFile(join(sys, 'kernel', 'iommu_groups', id, 'type'), g.attrs.type + '\n');
    await writeFile(join(sys, 'kernel', 'iommu_groups', id, 'reserved_regions'), g.reserved_regions.map((l) => l + '\n').join(''));
    for (const bdf of g.devices) {
      const real = rec.devices[bdf]!.realpath.replace(/^\/sys\//, '');
      await symlink(posix.relative(`kernel/iommu_groups/${id}/devices`, real), join(devDir, bdf));
    }
  }
  await mkdir(join(sys, 'kernel', 'iommu_groups'), { recursive: true });
  // Link targets outside the device directories (drivers, IOMMU units) as empty directories.
  for (const t of targets) await mkdir(join(sys, t), { recursive: true });
  await writeClassIommu(rec, sys);
}

/**
 * class/iommu from the recording's `classiommu` section: each unit's link into
 * devices/virtual/iommu, and its driver's attribute directory (intel-iommu/) with the
 * recorded values (`/sys/class/iommu/<unit>/<dir>/<attr>: <value>` lines).
 */
async function writeClassIommu(rec: RecordedPhase, sys: string): Promise<void> {
  const lines = rec.sections.classiommu ?? [];
  await mkdir(join(sys, 'class', 'iommu'), { recursive: true });
  for (const line of lines) {
    const link = /^l\S+\s.*\s(\S+) -> (\.\.\/\.\.\/devices\/virtual\/iommu\/\S+)$/.exec(line);
    if (link) {
      await mkdir(join(sys, 'class', 'iommu', link[2]!), { recursive: true });
      await symlink(link[2]!, join(sys, 'class', 'iommu', link[1]!));
      continue;
    }
    const attr = /^\/sys\/class\/iommu\/([^/]+)\/([^/]+)\/([^/:]+): (.*)$/.exec(line);
    if (attr) {
      const dir = join(sys, 'devices', 'virtual', 'iommu', attr[1]!, attr[2]!);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, attr[3]!), attr[4]! + '\n');
    }
  }
}

/** Runs `fn` with the recorded tree of `rec` at `<root>/sys`, removing it afterwards. */
export async function withRecordedTree(rec: RecordedPhase, fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), ORACLE_PREFIX));
  try {
    await writeRecordedTree(rec, root);
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
