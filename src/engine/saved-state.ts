// What users wrote, kept across restarts (`iommufs mount --state FILE`), so that a restart
// serves exactly the tree that was served before it: the present PCI devices with their add
// sequence, driver, override, NUMA node, SR-IOV count and autoprobe switch and the config
// bytes that differ from a fresh image; every group with its number, members (in join order)
// and type; dynamic IDs; drivers_autoprobe; mdevs. The engine turns a machine into this plain
// value and back; reading and writing the file is the command line's job.
//
// Left out on purpose: DMA ownership, user domains, PASIDs and leave-host requests
// (kernel/debug/iommufs). Linux ties them to the user's open file (a VFIO group or iommufd
// descriptor): when that file closes the kernel releases the group back to its default
// domain and frees the user's domains. A daemon restart ends every such user, so the groups
// come back unowned on their default domain and domain ids start again at 1, as after the
// owners exit.
//
// Group numbers depend on history (an IDA hands out the lowest free number, and removals
// free numbers), so they are saved as served and put back as they were; the allocator is
// then exactly as it was, since an IDA's next number depends only on the numbers in use.

import { createHash } from 'node:crypto';
import { hex4 } from '../pci/address';
import { WRITABLE_CONFIG } from './config';
import { defaultTypeFor } from './domain-type';
import type { DomainType } from './domain-type';
import { probeKeeps } from './drivers';
import { isErrno } from './errno';
import { removeSubtree } from './hotplug';
import type { Machine } from './machine';
import { enableVfs } from './sriov';
import { jsonPath, StateError, STATE_VERSION } from './state-shape';
import type { SavedDevice, SavedGroup, SavedState } from './state-shape';
import type { Device, IommuGroup, PciDevice } from './types';

export { checkStateShape, StateError, STATE_VERSION } from './state-shape';
export type { SavedState } from './state-shape';

export function topologyFingerprint(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function isSriovPf(d: PciDevice): boolean {
  return d.fn.spec.sriov !== undefined && d.fn.physfn === undefined;
}

/** The config bytes users wrote (the image itself is made from the device's state). */
function writtenConfig(m: Machine, d: PciDevice): Record<string, number> | undefined {
  const written = m.writtenConfig(d);
  return written.size === 0 ? undefined : Object.fromEntries([...written].sort((x, y) => x[0] - y[0]).map(([at, v]) => [String(at), v]));
}

function saveDevice(m: Machine, d: PciDevice, bootSeq: number): SavedDevice {
  const s: SavedDevice = { seq: d.seq, driver: d.driver };
  if (d.driverOverride !== null) s.override = d.driverOverride;
  if (d.numaNode !== d.fn.spec.numaNode) s.numaNode = d.numaNode;
  if (isSriovPf(d)) {
    s.numvfs = m.vfCount(d);
    s.sriovAutoprobe = d.sriovAutoprobe;
  }
  const config = writtenConfig(m, d);
  if (config) s.config = config;
  if (d.seq >= bootSeq) s.steps = d.steps.map((x) => ({ ...x }));
  return s;
}

export function captureState(m: Machine, fingerprint: string): SavedState {
  const devices: Record<string, SavedDevice> = {};
  for (const d of m.pciDevicesInOrder()) devices[d.name] = saveDevice(m, d, m.bootSeq);
  const dynIds: SavedState['dynIds'] = {};
  for (const drv of m.drivers.values()) if (drv.dynIds.length > 0) dynIds[drv.name] = drv.dynIds.map((x) => ({ ...x }));
  return {
    version: STATE_VERSION,
    topology: fingerprint,
    driversAutoprobe: m.driversAutoprobe,
    nextSeq: m.nextSeq,
    devices,
    groups: m.sortedGroups().map((g) => ({ id: g.id, type: g.defaultType, devices: g.devices.map((d) => d.name) })),
    dynIds,
    mdevs: m.mdev.all().map((x) => ({ uuid: x.name, parent: x.parent.name, type: x.type, seq: x.seq })),
  };
}

function fail(path: string, what: string): never {
  throw new StateError(`${path}: ${what}`);
}

const $ = '$';
const DEVICES = jsonPath($, 'devices');

function deviceAt(name: string, key?: string): string {
  const at = jsonPath(DEVICES, name);
  return key === undefined ? at : jsonPath(at, key);
}

function pciNamed(m: Machine, name: string): PciDevice | undefined {
  const d = m.devices.get(name);
  return d && d.kind === 'pci' ? d : undefined;
}

/** sriov_numvfs as saved: VFs enabled (or not) as the PF had them; removed VFs go in step 2. */
function restoreVfCounts(m: Machine, s: SavedState): void {
  for (const [name, sd] of Object.entries(s.devices)) {
    if (sd.numvfs === undefined && sd.sriovAutoprobe === undefined) continue;
    const key = sd.numvfs !== undefined ? 'numvfs' : 'sriovAutoprobe';
    const d = pciNamed(m, name);
    if (!d || !isSriovPf(d)) fail(deviceAt(name, key), `${name} is not an SR-IOV physical function on this machine`);
    const total = d.fn.spec.sriov!.total;
    if ((sd.numvfs ?? 0) > total) fail(deviceAt(name, 'numvfs'), `${sd.numvfs} is more than sriov_totalvfs (${total})`);
  }
  for (const pf of m.pciDevicesInOrder().filter(isSriovPf)) {
    const want = s.devices[pf.name]?.numvfs ?? 0;
    if (m.vfCount(pf) === want) continue;
    m.disableVfs(pf);
    if (want === 0) continue;
    try {
      enableVfs(m, pf, want);
    } catch (e) {
      if (isErrno(e)) fail(deviceAt(pf.name, 'numvfs'), e.message);
      throw e;
    }
  }
}

/** Removes what is not listed; refuses names the machine does not have, and orphans. */
function restoreDeviceSet(m: Machine, s: SavedState): void {
  for (const name of Object.keys(s.devices)) {
    const d = pciNamed(m, name);
    if (!d) fail(deviceAt(name), 'no such PCI device on this machine (VFs count as far as their PF\'s numvfs goes)');
    const up = d.fn.physfn ?? d.fn.bus.bridge;
    if (up && !(up.name in s.devices)) fail(deviceAt(name), `present while ${up.name} above it is not (a removal takes everything below)`);
  }
  for (const d of m.pciDevicesInOrder().reverse()) if (!(d.name in s.devices)) removeSubtree(m, d);
}

/** NUMA nodes a numa_node write could ever have been accepted for: -1 and every node of the topology. */
function possibleNodes(m: Machine): Set<number> {
  const nodes = new Set<number>([-1, 0]);
  for (const f of m.pci.addOrder) if (f.spec.numaNode >= 0) nodes.add(f.spec.numaNode);
  return nodes;
}

function restoreDevices(m: Machine, s: SavedState, bootSeqs: ReadonlyMap<string, number>): void {
  for (const [name, dyn] of Object.entries(s.dynIds)) {
    const drv = m.drivers.get(name);
    if (!drv) fail(jsonPath(jsonPath($, 'dynIds'), name), `no driver ${name} on this machine`);
    drv.dynIds.push(...dyn.map((x) => ({ ...x })));
  }
  const nodes = possibleNodes(m);
  for (const [name, sd] of Object.entries(s.devices)) {
    const d = pciNamed(m, name)!;
    if (sd.driver !== null) {
      const drv = m.drivers.get(sd.driver);
      if (!drv) fail(deviceAt(name, 'driver'), `no driver ${sd.driver} on this machine`);
      // The drivers whose probe keeps this device (drivers.ts probeKeeps): any other one fails.
      if (!probeKeeps(drv, d.fn)) fail(deviceAt(name, 'driver'), `${sd.driver} cannot bind ${name} [${hex4(d.fn.id.vendor)}:${hex4(d.fn.id.device)}]`);
    }
    if (sd.numaNode !== undefined && !nodes.has(sd.numaNode)) {
      fail(deviceAt(name, 'numaNode'), `node ${sd.numaNode} does not exist (nodes: ${[...nodes].sort((a, b) => a - b).join(', ')})`);
    }
    // Add sequence numbers are never reused: one below the boot's end is that boot device's.
    if (sd.seq < m.bootSeq && bootSeqs.get(name) !== sd.seq) fail(deviceAt(name, 'seq'), `${sd.seq} is not ${name}'s number from boot (${bootSeqs.get(name) ?? 'none'}), and later ones start at ${m.bootSeq}`);
    if (sd.steps && sd.seq < m.bootSeq) fail(deviceAt(name, 'steps'), 'only devices added after boot keep their grouping steps');
    if (sd.steps) d.steps = sd.steps.map((x) => ({ ...x }));
    d.driver = sd.driver;
    d.driverOverride = sd.override ?? null;
    d.numaNode = sd.numaNode ?? d.fn.spec.numaNode;
    if (isSriovPf(d)) d.sriovAutoprobe = sd.sriovAutoprobe ?? true;
    d.seq = sd.seq;
  }
  m.driversAutoprobe = s.driversAutoprobe;
}

/** mdevs in creation order, each checked as its `create` write was (mdev_device_create). */
function restoreMdevs(m: Machine, s: SavedState): void {
  s.mdevs.forEach((x, i) => {
    const at = jsonPath(jsonPath($, 'mdevs'), i);
    const parent = pciNamed(m, x.parent);
    if (!parent) fail(jsonPath(at, 'parent'), `no PCI device ${x.parent} present`);
    try {
      m.mdev.create(parent, x.type, x.uuid).seq = x.seq;
    } catch (e) {
      if (isErrno(e)) fail(at, e.message);
      throw e;
    }
  });
}

/** Every add sequence number is distinct and below nextSeq. */
function checkSeqs(m: Machine, s: SavedState): void {
  const owner = new Map<number, string>();
  const take = (seq: number, path: string): void => {
    if (seq >= s.nextSeq) fail(path, `${seq} is not below nextSeq (${s.nextSeq})`);
    const other = owner.get(seq);
    if (other !== undefined) fail(path, `${seq} is also the add sequence of ${other}`);
    owner.set(seq, path);
  };
  for (const d of m.devices.values()) if (d.kind === 'platform') take(d.seq, `platform device ${d.name}`);
  for (const [name, sd] of Object.entries(s.devices)) take(sd.seq, deviceAt(name, 'seq'));
  s.mdevs.forEach((x, i) => take(x.seq, jsonPath(jsonPath(jsonPath($, 'mdevs'), i), 'seq')));
}

/** The type a group may have: none for emulated and power-tce groups, else one `type` accepts. */
function typeProblem(g: SavedGroup, members: Device[], m: Machine): string | undefined {
  const first = members[0]!;
  const none = first.kind === 'mdev' || (first.unit !== null && defaultTypeFor(first.unit.spec.type, m.topology.arch, m.topology.cmdline) === 'unknown');
  if (none) return g.type === 'unknown' ? undefined : `must be "unknown": the group has no default domain`;
  return g.type === 'unknown' ? 'must be identity, DMA or DMA-FQ: the group has a default domain' : undefined;
}

/**
 * The saved groups against the machine: every grouped device in exactly one group, members of
 * one unit, an mdev alone, and no group splitting devices that the grouping rules tie
 * together (a fresh grouping in add order, which `regroupInAddOrder` just made: served groups
 * can only be coarser, when a device that tied members together was removed since).
 */
function restoreGroups(m: Machine, s: SavedState): void {
  const GROUPS = jsonPath($, 'groups');
  const seen = new Map<string, number>();
  const ids = new Set<number>();
  const layout: { id: number; type: DomainType; members: Device[] }[] = [];
  s.groups.forEach((g, i) => {
    const at = jsonPath(GROUPS, i);
    if (ids.has(g.id)) fail(jsonPath(at, 'id'), `group ${g.id} is listed twice`);
    ids.add(g.id);
    const members = g.devices.map((name, j) => {
      const where = jsonPath(jsonPath(at, 'devices'), j);
      const d = m.devices.get(name);
      if (!d) fail(where, `no device ${name} present`);
      if (!d.group) fail(where, `${name} has no IOMMU group on this machine`);
      if (seen.has(name)) fail(where, `${name} is also in $.groups[${seen.get(name)}]`);
      seen.set(name, i);
      return d;
    });
    const first = members[0]!;
    const stranger = members.find((d) => d.unit !== first.unit || (d !== first && (d.kind === 'mdev' || first.kind === 'mdev')));
    if (stranger) fail(jsonPath(at, 'devices'), `${stranger.name} cannot share a group with ${first.name} (another IOMMU unit, or an mdev, which is alone in its group)`);
    const problem = typeProblem(g, members, m);
    if (problem) fail(jsonPath(at, 'type'), problem);
    layout.push({ id: g.id, type: g.type, members });
  });
  const fresh = new Map<IommuGroup, Device>();
  for (const d of m.devices.values()) {
    if (!d.group) continue;
    if (!seen.has(d.name)) fail(GROUPS, `${d.name} is in no group`);
    const other = fresh.get(d.group);
    if (!other) fresh.set(d.group, d);
    else if (seen.get(other.name) !== seen.get(d.name)) {
      fail(jsonPath(GROUPS, seen.get(d.name)!), `${d.name} and ${other.name} are in different groups, but the grouping rules put them in one`);
    }
  }
  m.restoreGroups(s.nextSeq, layout);
}

/** Devices by add sequence, as they were created (the order of m.devices). */
function reorderDevices(m: Machine): void {
  const all = [...m.devices.values()].sort((a, b) => a.seq - b.seq);
  m.devices.clear();
  for (const d of all) m.devices.set(d.name, d);
}

/** Config writes again, each as `setpci` made it: only registers a user may write. */
function restoreConfig(m: Machine, s: SavedState): void {
  for (const [name, sd] of Object.entries(s.devices)) {
    if (!sd.config) continue;
    const d = pciNamed(m, name)!;
    const size = m.configBytes(d).length;
    for (const [k, v] of Object.entries(sd.config)) {
      const at = Number(k);
      if (at >= size || !WRITABLE_CONFIG.has(at)) {
        fail(jsonPath(deviceAt(name, 'config'), k), `not a register a user may write in the ${size}-byte config space of ${name} (only ${[...WRITABLE_CONFIG].join(', ')})`);
      }
      m.writeConfig(d, at, Buffer.from([v]));
    }
  }
}

/**
 * Puts a checked state (checkStateShape) on a freshly booted machine, checking it against the
 * machine as it goes; throws StateError naming the first thing that does not fit. The machine
 * is half restored then and must be dropped.
 */
export function restoreState(m: Machine, s: SavedState): void {
  const bootSeqs = new Map(m.pciDevicesInOrder().map((d) => [d.name, d.seq]));
  restoreVfCounts(m, s);
  restoreDeviceSet(m, s);
  restoreDevices(m, s, bootSeqs);
  m.regroupInAddOrder();
  restoreMdevs(m, s);
  checkSeqs(m, s);
  restoreGroups(m, s);
  reorderDevices(m);
  restoreConfig(m, s);
}
