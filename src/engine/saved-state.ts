// What users wrote, kept across restarts (`iommufs mount --state FILE`), so that a restart
// serves exactly the tree that was served before it: the present PCI devices with their add
// sequence, driver, override, NUMA node, SR-IOV count and autoprobe switch and the config
// bytes that differ from a fresh image; every group with its number, members (in join order)
// and type; dynamic IDs; drivers_autoprobe; mdevs; the PCI flags users write
// (broken_parity_status, d3cold_allowed, msi_bus, enable, reset_method, rom), platform devices'
// driver_override, resource_alignment, the rescans that placed resources afresh, the mdev bus's drivers_autoprobe, power/ settings (control, async, wakeup) of every
// device that has them, and the loaded modules with their parameters and the PCI drivers'
// registration order, and what drivers left on each device (driver-effects.ts: masks, vectors,
// class devices, wake-up sources), which depends on the history of binds. The engine turns a machine into this plain value and back; reading and
// writing the file is the command line's job.
//
// Module loads are kept although a reboot of a real machine would forget them: the saved
// bindings and dynamic IDs name drivers, and a driver whose module is not loaded is not
// registered, so restoring bindings without the modules would serve a tree Linux cannot
// have (or refuse the state). The restart of the daemon is a restart of the server, not of
// the simulated machine: what `modprobe`/`rmmod` and parameters/ writes did stays.
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
import type { HostBridge } from '../pci/enumerate';
import { configWriteMask } from './config';
import { defaultTypeFor } from './domain-type';
import type { DomainType } from './domain-type';
import { probeKeeps } from './drivers';
import { enableCount, supportedResetMethods } from './pci-attrs';
import type { DevicePm } from './power';
import { isErrno } from './errno';
import { removeSubtree } from './hotplug';
import { busName } from './paths';
import type { Machine } from './machine';
import { enableVfs } from './sriov';
import { jsonPath, StateError, STATE_VERSION } from './state-shape';
import type { SavedDevice, SavedEffects, SavedGroup, SavedState } from './state-shape';
import type { Device, IommuGroup, IommuUnit, PciDevice } from './types';

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
  if (d.seq >= bootSeq) s.steps = m.groupSteps(d).map((x) => ({ ...x }));
  if (d.brokenParity) s.brokenParity = true;
  if (d.romEnabled) s.romEnabled = true;
  if (d.d3coldAllowed !== null) s.d3coldAllowed = d.d3coldAllowed;
  if (d.noMsi) s.noMsi = true;
  if (d.userEnables !== 0) s.enables = d.userEnables;
  if (d.resetMethods !== null) s.resetMethods = [...d.resetMethods];
  const effects = m.driverEffects.snapshot(d);
  if (effects) s.effects = effects;
  return s;
}

/** The power/ key of the bus behind a bridge or host bridge. */
function busKey(segment: number, bus: number): string {
  return `pci_bus/${busName(segment, bus)}`;
}

/** Everything with a power/ directory, by its kernel name: devices, IOMMU units, host bridges.
 * A PCI device's port services are kept under the device, by their own names. */
function powerOwners(m: Machine): Map<string, Device | IommuUnit | HostBridge> {
  const out = new Map<string, Device | IommuUnit | HostBridge>();
  for (const d of m.devices.values()) out.set(d.name, d);
  for (const u of m.units) out.set(u.name, u);
  for (const h of m.pci.hostBridges) out.set(h.dirName, h);
  return out;
}

function capturePower(m: Machine): Record<string, Record<string, DevicePm>> {
  const out: Record<string, Record<string, DevicePm>> = {};
  for (const [name, owner] of powerOwners(m)) {
    const written = m.power.written(owner);
    if ('kind' in owner && owner.kind === 'pci') written.push(...m.power.written(m.binding(owner)));
    if (written.length > 0) out[name] = Object.fromEntries(written);
  }
  return out;
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
    ...(m.mdev.autoprobe ? {} : { mdevAutoprobe: false }),
    ...(m.resourceAlignment !== null ? { resourceAlignment: m.resourceAlignment } : {}),
    ...(m.resources.rescans().length > 0 ? { rescans: m.resources.rescans() } : {}),
    platformOverrides: Object.fromEntries([...m.devices.values()].flatMap((d) => (d.kind === 'platform' && d.driverOverride !== null ? [[d.name, d.driverOverride]] : []))),
    power: capturePower(m),
    modules: m.modules.saved(),
    drivers: [...m.drivers.keys()],
    ...(m.driverEffects.lastDiskseq > 0 ? { diskseq: m.driverEffects.lastDiskseq } : {}),
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
  // The saved lists are whole (boot's ids= entries included).
  for (const drv of m.drivers.values()) drv.dynIds = [];
  for (const [name, dyn] of Object.entries(s.dynIds)) {
    const drv = m.drivers.get(name);
    if (!drv) fail(jsonPath(jsonPath($, 'dynIds'), name), `no driver ${name} registered on this machine (is its module loaded?)`);
    drv.dynIds.push(...dyn.map((x) => ({ ...x })));
  }
  const nodes = possibleNodes(m);
  for (const [name, sd] of Object.entries(s.devices)) {
    const d = pciNamed(m, name)!;
    if (sd.driver !== null) {
      const drv = m.drivers.get(sd.driver);
      if (!drv) fail(deviceAt(name, 'driver'), `no driver ${sd.driver} registered on this machine (is its module loaded?)`);
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
    d.brokenParity = sd.brokenParity ?? false;
    d.romEnabled = sd.romEnabled ?? false;
    d.d3coldAllowed = sd.d3coldAllowed ?? null;
    d.noMsi = sd.noMsi ?? false;
    d.userEnables = sd.enables ?? 0;
    // enable_cnt never goes below 0 (enable_store answers EIO instead).
    if (enableCount(m, d) < 0) fail(deviceAt(name, 'enables'), `${sd.enables} would make enable_cnt of ${name} negative`);
    d.resetMethods = sd.resetMethods ? [...sd.resetMethods] : null;
  }
  m.driversAutoprobe = s.driversAutoprobe;
  for (const [name, text] of Object.entries(s.platformOverrides ?? {})) {
    const d = m.devices.get(name);
    if (!d || d.kind !== 'platform') fail(jsonPath(jsonPath($, 'platformOverrides'), name), `no platform device ${name} on this machine`);
    d.driverOverride = text;
  }
  m.resourceAlignment = s.resourceAlignment ?? null;
  m.resources.replay(s.rescans ?? []);
  m.mdev.autoprobe = s.mdevAutoprobe ?? true;
}

/** Module loads and driver registration as saved (a file without them keeps boot's). */
function restoreModules(m: Machine, s: SavedState): void {
  if (s.modules === undefined) {
    if (s.drivers !== undefined) fail(jsonPath($, 'drivers'), 'only with "modules"');
    return;
  }
  m.modules.restore(s.modules, s.drivers, (at, what) => {
    const base = at[0] === 'drivers' ? jsonPath($, 'drivers') : jsonPath(jsonPath($, 'modules'), at[0]!);
    fail(at.slice(1).reduce<string>((p, k) => jsonPath(p, k), base), what);
  });
}

/** The owner of a saved power/ key: the device, unit or host bridge itself, the bus behind
 * it, or one of a pcieport-bound port's services. */
function powerOwner(m: Machine, owner: Device | IommuUnit | HostBridge, key: string): object | string {
  if (key === '') return owner;
  if (key.startsWith('pci_bus/')) {
    const bus = 'dirName' in owner ? busKey(owner.segment, owner.busNumber) : 'kind' in owner && owner.kind === 'pci' && owner.fn.secondary ? busKey(owner.fn.segment, owner.fn.secondary.number) : undefined;
    return key === bus ? owner : `not the bus behind it (${bus ?? 'none'})`;
  }
  if (!('kind' in owner) || owner.kind !== 'pci' || owner.driver !== 'pcieport' || !key.startsWith(`${owner.name}:`)) return 'not a port service of it (a port bound to pcieport)';
  return m.binding(owner);
}

/** Driver effects as served; a file that has none (written before they were kept) gets those
 * of the drivers bound now. */
function restoreEffects(m: Machine, s: SavedState): void {
  const saved = new Map<PciDevice, SavedEffects>();
  for (const [name, sd] of Object.entries(s.devices)) if (sd.effects) saved.set(pciNamed(m, name)!, sd.effects);
  if (saved.size === 0) {
    m.driverEffects.rebuild();
    return;
  }
  try {
    m.driverEffects.restore(saved, s.diskseq ?? 0);
  } catch (e) {
    fail(jsonPath($, 'devices'), e instanceof Error ? e.message : String(e));
  }
}

/** power/ settings as written, put back before any view asks for them. */
function restorePower(m: Machine, s: SavedState): void {
  const owners = powerOwners(m);
  for (const [name, keys] of Object.entries(s.power ?? {})) {
    const at = jsonPath(jsonPath($, 'power'), name);
    const owner = owners.get(name);
    if (!owner) fail(at, `no device, IOMMU unit or host bridge ${name} present`);
    for (const [key, pm] of Object.entries(keys)) {
      const o = powerOwner(m, owner, key);
      if (typeof o === 'string') fail(jsonPath(at, key), o);
      m.power.preset(o, key, pm);
      // A PCI device's power/wakeup is its wakeup source (driver-effects.ts).
      if (key === '' && 'kind' in owner && owner.kind === 'pci' && m.driverEffects.wakeupCapable(owner)) m.driverEffects.setWakeup(owner, pm.wakeupEnabled);
    }
  }
}

/** reset_method: only methods the device supports (reset_method_store). */
function checkResetMethods(m: Machine, s: SavedState): void {
  for (const [name, sd] of Object.entries(s.devices)) {
    if (!sd.resetMethods) continue;
    const supported = supportedResetMethods(m, pciNamed(m, name)!);
    sd.resetMethods.forEach((x, i) => {
      if (!supported.includes(x)) fail(jsonPath(deviceAt(name, 'resetMethods'), i), `${name} does not support ${x} (only ${supported.join(', ') || 'none'})`);
    });
  }
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
    const writable = configWriteMask(d.fn);
    for (const [k, v] of Object.entries(sd.config)) {
      const at = Number(k);
      if (at >= size || !writable.has(at)) {
        fail(jsonPath(deviceAt(name, 'config'), k), `not a register a user may write in the ${size}-byte config space of ${name} (only ${[...writable.keys()].sort((a, b) => a - b).join(', ')})`);
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
  restoreModules(m, s);
  restoreDevices(m, s, bootSeqs);
  m.regroupInAddOrder();
  restoreMdevs(m, s);
  checkSeqs(m, s);
  restoreGroups(m, s);
  reorderDevices(m);
  // Drivers were set directly above: what they leave (masks, vectors, class devices, wake-up
  // sources) is made again for the drivers bound now, before the config image and power/.
  restoreEffects(m, s);
  m.changes.note();
  restoreConfig(m, s);
  checkResetMethods(m, s);
  restorePower(m, s);
}
