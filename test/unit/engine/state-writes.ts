// Writes for the saved-state tests, made as a shell's `echo ... > /sys/...` would make them:
// through the store() of the simulated tree's node at that path (links followed). And a
// seeded random writer over every attribute a write can change state through.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../../../src/engine/errno';
import { Machine } from '../../../src/engine/machine';
import type { Node } from '../../../src/sysfs/node';
import { sysfsTree } from '../../../src/sysfs/tree';
import { loadTopology } from '../../../src/topology/load';
import { TOPOLOGIES } from '../../helpers/paths';
import { mulberry32 } from '../../helpers/mulberry32';

/** An arm64 server (topologies/arm-smmuv3-server.yaml) with two platform devices behind its
 * first SMMU, for their driver_override and power/. */
export function armPlatformTopology(): string {
  return `${readFileSync(join(TOPOLOGIES, 'arm-smmuv3-server.yaml'), 'utf8')}
platform:
  - { name: 1c00000.gpu, iommu: smmu3.0x0000000148000000, stream-ids: [0x70000] }
  - { name: 1d00000.dma, iommu: smmu3.0x0000000148000000, stream-ids: [0x70010] }
`;
}

export function bootText(text: string, file = 'machine.yaml'): Machine {
  const r = loadTopology(text, file);
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

function joinPath(parts: string[], rel: string): string[] {
  const out = [...parts];
  for (const p of rel.split('/')) {
    if (p === '..') out.pop();
    else if (p !== '.' && p !== '') out.push(p);
  }
  return out;
}

/** The node at a path, following links as the kernel's path walk does. */
export function nodeAt(m: Machine, path: string): Node | undefined {
  const root = sysfsTree(m).root;
  let parts: string[] = [];
  const todo = path.split('/').filter(Boolean);
  let node: Node = root;
  let hops = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (node.kind !== 'dir') return undefined;
    const next = node.lookup(name);
    if (!next) return undefined;
    if (next.kind === 'link' && (todo.length > 0 || hops > 0)) {
      if (++hops > 40) return undefined;
      const target = joinPath(parts, next.target);
      todo.unshift(...target);
      parts = [];
      node = root;
      continue;
    }
    parts.push(name);
    node = next;
  }
  return node;
}

/** `echo -n text > path` (or at an offset for binary attributes); throws the write's Errno. */
export function write(m: Machine, path: string, text: string | Buffer, offset = 0): void {
  const node = nodeAt(m, path);
  assert.ok(node && node.kind === 'attr' && node.store, `${path} is not writable`);
  node.store(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, offset);
}

export function read(m: Machine, path: string): string {
  const node = nodeAt(m, path);
  assert.ok(node && node.kind === 'attr', `${path} is not an attribute`);
  return node.show().toString('latin1');
}

/** mulberry32: small, seedable, replayable. */
export const rng = mulberry32;

export interface RandomWrite {
  path: string;
  text: string;
  offset?: number;
}

const UUIDS = ['11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-666666666666', 'a0a0a0a0-b1b1-4c2c-8d3d-e4e4e4e4e4e4'];

/** Names in a directory of the tree ([] when it is not one). */
function listing(m: Machine, path: string): string[] {
  const node = nodeAt(m, path);
  return node && node.kind === 'dir' ? node.list() : [];
}

/** Every power/ directory of the machine's devices: PCI devices, the buses behind bridges and
 * host bridges, port services, host bridges, IOMMU units, platform devices, mdevs. */
function powerDirs(m: Machine): string[] {
  const out: string[] = [];
  for (const d of m.pciDevicesInOrder()) {
    // The device's real directory: a path ending in a link names the link itself.
    const dev = d.fn.sysfsPath;
    out.push(dev);
    for (const name of listing(m, dev)) if (name.startsWith(`${d.name}:pcie`)) out.push(`${dev}/${name}`);
    for (const bus of listing(m, `${dev}/pci_bus`)) out.push(`${dev}/pci_bus/${bus}`);
  }
  for (const host of m.pci.hostBridges) {
    out.push(`devices/${host.dirName}`);
    for (const bus of listing(m, `devices/${host.dirName}/pci_bus`)) out.push(`devices/${host.dirName}/pci_bus/${bus}`);
  }
  for (const unit of listing(m, 'devices/virtual/iommu')) out.push(`devices/virtual/iommu/${unit}`);
  for (const p of listing(m, 'devices/platform')) out.push(`devices/platform/${p}`);
  for (const x of m.mdev.all()) out.push(`bus/mdev/devices/${x.name}`);
  return out.map((x) => `${x}/power`);
}

/** Modules a load or unload may name: VFIO's, the stubs', and those of the topology's drivers. */
function moduleNames(m: Machine): string[] {
  const mods = new Set(['vfio_pci', 'pci_stub', 'vfio_iommu_type1', 'vfio', 'vfio_pci_core']);
  for (const drv of m.drivers.values()) if (drv.traits.module) mods.add(drv.traits.module);
  for (const spec of m.topology.pci.flatMap((r) => r.devices)) if (spec.driver) mods.add(spec.driver.replace(/-/g, '_'));
  mods.add('ixgbevf');
  mods.add('iavf');
  return [...mods];
}

/**
 * One random write the machine can take now (or refuse): remove/rescan, SR-IOV count and
 * autoprobe, bind/unbind/driver_override/drivers_probe, new_id/remove_id, drivers_autoprobe,
 * group type, numa_node, config, mdev create/remove, the PCI flags (broken_parity_status,
 * d3cold_allowed, msi_bus, enable, reset_method), power/ control, async and wakeup of every
 * device, resource_alignment, platform driver_override, module loads, unloads and
 * parameters. `read` entries read a device's config, as lspci does between writes (the
 * image is made at the first read).
 */
export function randomWrite(m: Machine, r: () => number): RandomWrite | { read: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const pcis = m.pciDevicesInOrder();
  const d = pick(pcis);
  const dev = `bus/pci/devices/${d.name}`;
  const drivers = [...m.drivers.keys()].filter((n) => n !== 'pcieport' || r() < 0.2);
  const drv = pick(drivers);
  const hex = (n: number): string => n.toString(16).padStart(4, '0');
  const pfs = pcis.filter((x) => x.fn.spec.sriov && !x.fn.physfn);
  const parents = pcis.filter((x) => x.fn.spec.mdev.length > 0);
  const groups = m.sortedGroups();
  switch (Math.floor(r() * 23)) {
    case 0:
      return d.fn.bus.parent === null && r() < 0.7 ? { read: d.name } : { path: `${dev}/remove`, text: '1\n' };
    case 1:
      return r() < 0.5 ? { path: 'bus/pci/rescan', text: '1\n' } : { path: `${dev}/rescan`, text: '1\n' };
    case 2:
      return pfs.length > 0 ? { path: `bus/pci/devices/${pick(pfs).name}/sriov_numvfs`, text: `${Math.floor(r() * 5)}\n` } : { read: d.name };
    case 3:
      return pfs.length > 0 ? { path: `bus/pci/devices/${pick(pfs).name}/sriov_drivers_autoprobe`, text: r() < 0.5 ? '0\n' : '1\n' } : { read: d.name };
    case 4:
      return { path: `bus/pci/drivers/${drv}/bind`, text: `${d.name}\n` };
    case 5:
      return { path: `bus/pci/drivers/${d.driver ?? drv}/unbind`, text: `${d.name}\n` };
    case 6:
      return { path: `${dev}/driver_override`, text: r() < 0.3 ? '\n' : `${drv}\n` };
    case 7:
      return { path: 'bus/pci/drivers_probe', text: `${d.name}\n` };
    case 8:
      return { path: `bus/pci/drivers/${pick(['vfio-pci', 'pci-stub', drv])}/new_id`, text: `${hex(d.fn.id.vendor)} ${hex(d.fn.id.device)}\n` };
    case 9:
      return { path: `bus/pci/drivers/${pick(['vfio-pci', 'pci-stub', drv])}/remove_id`, text: `${hex(d.fn.id.vendor)} ${hex(d.fn.id.device)}\n` };
    case 10:
      return { path: 'bus/pci/drivers_autoprobe', text: r() < 0.7 ? '1\n' : '0\n' };
    case 11:
      return groups.length > 0 ? { path: `kernel/iommu_groups/${pick(groups).id}/type`, text: `${pick(['identity', 'DMA', 'DMA-FQ', 'auto'])}\n` } : { read: d.name };
    case 12:
      return { path: `${dev}/numa_node`, text: `${pick([-1, 0, 1])}\n` };
    case 13:
      return { path: `${dev}/config`, text: String.fromCharCode(Math.floor(r() * 256)), offset: pick([0x04, 0x05, 0x0c, 0x0d, 0x3c]) };
    case 14:
      if (parents.length === 0) return { read: d.name };
      {
        const p = pick(parents);
        return { path: `bus/pci/devices/${p.name}/mdev_supported_types/${pick(p.fn.spec.mdev).type}/create`, text: `${pick(UUIDS)}\n` };
      }
    case 15: {
      const x = m.mdev.all();
      return x.length > 0 ? { path: `bus/mdev/devices/${pick(x).name}/remove`, text: '1\n' } : { read: d.name };
    }
    case 17: {
      const flag = pick(['broken_parity_status', 'd3cold_allowed', 'msi_bus', 'enable']);
      return { path: `${dev}/${flag}`, text: `${pick([0, 1])}\n` };
    }
    case 18:
      return { path: `${dev}/reset_method`, text: `${pick(['', 'default', 'flr', 'pm', 'bus', 'bus flr', 'flr pm', 'pm bus flr'])}\n` };
    case 19: {
      const attr = pick([['control', 'auto', 'on'], ['async', 'enabled', 'disabled'], ['wakeup', 'enabled', 'disabled']] as const);
      return { path: `${pick(powerDirs(m))}/${attr[0]}`, text: `${r() < 0.5 ? attr[1] : attr[2]}\n` };
    }
    case 20: {
      if (r() < 0.2) return { path: 'bus/mdev/drivers_autoprobe', text: r() < 0.5 ? '0\n' : '1\n' };
      const platform = listing(m, 'devices/platform');
      if (r() < 0.5 || platform.length === 0) return { path: 'bus/pci/resource_alignment', text: pick(['\n', '20@0000:02:00.0\n', '16@pci:8086:10d3\nrest']) };
      return { path: `devices/platform/${pick(platform)}/driver_override`, text: r() < 0.3 ? '\n' : `${pick(['vfio-platform', 'arm-smmu'])}\n` };
    }
    case 21:
      return { path: `kernel/debug/iommufs/${r() < 0.5 ? 'load_module' : 'unload_module'}`, text: `${pick(moduleNames(m))}\n` };
    case 22: {
      const p = pick(['allow_unsafe_interrupts', 'disable_hugepages', 'dma_entry_limit']);
      return { path: `module/vfio_iommu_type1/parameters/${p}`, text: p === 'dma_entry_limit' ? `${pick([100, 65535])}\n` : `${pick(['Y', 'N', '1'])}\n` };
    }
    default:
      return { read: d.name };
  }
}

/** Applies one random write (a refusal is fine: it changes nothing); says what it did. */
export function applyRandom(m: Machine, w: RandomWrite | { read: string }): string {
  if ('read' in w) {
    const d = m.devices.get(w.read);
    if (d && d.kind === 'pci') m.configBytes(d);
    return `read ${w.read}/config`;
  }
  try {
    write(m, w.path, w.text, w.offset ?? 0);
    return `${JSON.stringify(w.text)} > ${w.path}${w.offset ? ` @${w.offset}` : ''}`;
  } catch (e) {
    if (!isErrno(e) && !(e instanceof assert.AssertionError)) throw e;
    return `${JSON.stringify(w.text)} > ${w.path}: ${isErrno(e) ? e.code : 'not writable'}`;
  }
}
