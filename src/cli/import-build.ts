// Turning what import-read.ts found into a topology (docs/topology-format.md): one entry per
// PCI function in the shape the loader reads, keys left out where their default gives the
// same, and a reason for every function that cannot be described (written as a comment).

import { decodeConfig, topologyType } from '../pci/config-decode';
import type { DecodedConfig } from '../pci/config-decode';
import type { PciType } from '../topology/model';
import { PCI_TYPES } from '../topology/device-fields';
import { ACS_FLAGS, acsBit, hex2, hex4 } from '../topology/values';
import { X86_BUILTIN_DRIVERS } from '../engine/drivers';
import { ALWAYS_REGISTERED } from '../engine/driver-traits';
import type { SysFunction, SysMachine, SysUnit } from './import-read';

/** A number written in hexadecimal with `width` digits (import-yaml.ts). */
export class Hex {
  constructor(
    readonly value: number,
    readonly width: number,
  ) {}
}

export type Out = { [key: string]: unknown };

export interface BuiltDevice {
  fn: SysFunction;
  out: Out;
  type: PciType;
}

export interface Built {
  topo: Out;
  /** Comments written after a `devices` map: functions it cannot describe. */
  notes: Map<Out, string[]>;
  /** Every described function by name. */
  devices: Map<string, BuiltDevice>;
  /** Facts the header states (partial config space, guesses). */
  caveats: string[];
}

const pciId = (vendor: number, device: number): string => `${hex4(vendor)}:${hex4(device)}`;

/** The unit type from the attribute group its driver adds, else from the name the driver gives it. */
function unitType(u: SysUnit): string | undefined {
  if (u.groups.includes('intel-iommu')) return 'intel-vtd';
  if (u.groups.includes('amd-iommu')) return 'amd-vi';
  if (/^smmu3\./.test(u.name)) return 'arm-smmu-v3';
  if (/^smmu\./.test(u.name)) return 'arm-smmu';
  if (/virtio/.test(u.name)) return 'virtio-iommu';
  return undefined;
}

/** VT-d ECAP (intel-iommu/ecap): IR is bit 3; PASID bit 40 with PSS (bits 39:35) = width - 1. */
function intelUnitFacts(u: SysUnit): { interruptRemapping: boolean; pasid: number } {
  const ecap = BigInt(`0x${u.attrs.get('intel-iommu/ecap') ?? '0'}`);
  const pasid = (ecap >> 40n) & 1n ? Number((ecap >> 35n) & 0x1fn) + 1 : 0;
  return { interruptRemapping: ((ecap >> 3n) & 1n) === 1n, pasid };
}

function acsList(cap: number): string[] {
  return ACS_FLAGS.filter((f) => (cap & (acsBit(f) ?? 0)) !== 0);
}

interface Ctx {
  rootBus: boolean;
  conventional: boolean;
  parentType?: PciType;
}

/** Without capabilities (a non-root reader sees 64 bytes), the type follows the position. */
function guessType(f: SysFunction, ctx: Ctx): PciType {
  const bridge = f.config.length > 0x0e ? (f.config[0x0e]! & 0x7f) === 1 : f.secondaryBus !== undefined;
  if (f.classCode >> 8 === 0x0600 && !bridge) return 'host-bridge';
  if (!f.pcieAttrs) return bridge ? 'pci-bridge' : 'endpoint';
  if (!bridge) return ctx.rootBus ? 'rc-endpoint' : 'endpoint';
  if (ctx.rootBus) return 'root-port';
  if (ctx.parentType === 'upstream-port') return 'downstream-port';
  return 'upstream-port';
}

export function buildTopology(sys: SysMachine): Built {
  const notes = new Map<Out, string[]>();
  const devices = new Map<string, BuiltDevice>();
  const caveats: string[] = [];
  const byParent = new Map<string, SysFunction[]>();
  const vfsOf = new Map<string, SysFunction[]>();
  for (const f of sys.functions) {
    if (f.physfn !== undefined) {
      vfsOf.set(f.physfn, [...(vfsOf.get(f.physfn) ?? []), f]);
      continue;
    }
    const key = f.parent ?? f.host;
    byParent.set(key, [...(byParent.get(key) ?? []), f]);
  }
  if (sys.functions.some((f) => f.config.length > 0 && f.config.length < 256)) {
    caveats.push(
      'config space was readable only in part (64 bytes: Linux shows the rest to root only), so PCIe types are guessed from',
      'where each function sits, and ACS, ARI, PASID and SR-IOV capabilities are unknown (none written); run as root for all of it.',
    );
  }

  const note = (map: Out, text: string): void => {
    notes.set(map, [...(notes.get(map) ?? []), text]);
  };

  const describe = (f: SysFunction, ctx: Ctx, map: Out, slotCount: number, ari: boolean): boolean => {
    const d: DecodedConfig = decodeConfig(f.config);
    let type: PciType;
    if (d.complete) {
      const t = topologyType(d, f.classCode);
      if ('reason' in t) {
        note(map, `${f.name} [${pciId(f.vendor, f.device)}] left out: ${t.reason}${byParent.has(f.name) ? ' (with everything below it)' : ''}`);
        return false;
      }
      type = t.type;
    } else type = guessType(f, ctx);
    if (PCI_TYPES[type].onRootBus && !ctx.rootBus) {
      // A root-complex type below a bridge: what Linux does with it follows the header and
      // position (a bridge is still walked, an endpoint still grouped), so say it as that.
      const as: PciType | undefined = type === 'root-port' ? 'downstream-port' : type === 'rc-endpoint' ? 'endpoint' : undefined;
      if (as === undefined) {
        note(map, `${f.name} [${pciId(f.vendor, f.device)}] left out: a ${type} below a bridge`);
        return false;
      }
      note(map, `${f.name}: its PCIe type says ${type}, which sits on a root bus; written as ${as}`);
      type = as;
    }
    const info = PCI_TYPES[type];
    const pcie = d.complete ? d.pcieType !== null : f.pcieAttrs && type !== 'host-bridge' && type !== 'pci-bridge';
    if (ctx.conventional && pcie) {
      note(map, `${f.name} [${pciId(f.vendor, f.device)}] left out: a PCI Express function below a conventional bus`);
      return false;
    }
    const out: Out = { id: pciId(f.vendor, f.device) };
    const defaultType: PciType = pcie && ctx.rootBus ? 'rc-endpoint' : 'endpoint';
    if (type !== defaultType) out.type = type;
    const defaultPcie = type === 'host-bridge' || type === 'pci-bridge' ? false : !ctx.conventional;
    if (pcie !== defaultPcie) out.pcie = pcie;
    if (info.defaultClass !== f.classCode) out.class = new Hex(f.classCode, 6);
    if (f.revision !== 0) out.revision = new Hex(f.revision, 2);
    if (f.subsystem) {
      const bridge = info.bridge;
      const dflt = bridge ? { vendor: 0, device: 0 } : { vendor: f.vendor, device: f.device };
      if (f.subsystem.vendor !== dflt.vendor || f.subsystem.device !== dflt.device) out.subsystem = pciId(f.subsystem.vendor, f.subsystem.device);
    }
    // read-devices.ts: function 0 of a slot with others defaults to the bit, the rest to none.
    const mfDefault = (ari ? f.devfn === 0 : (f.devfn & 7) === 0) && slotCount > 1;
    // Function 0 without the bit while its slot has others cannot be (Linux would not have
    // scanned them, probe.c next_fn): the bit was cleared after the scan; the default stands.
    if (f.config.length > 0x0e && d.multifunctionBit !== mfDefault && !(mfDefault && !d.multifunctionBit)) out.multifunction = d.multifunctionBit;
    if (d.acsCap !== null) out.acs = acsList(d.acsCap);
    if (info.bridge ? d.ariForwarding : d.ari) out.ari = true;
    if (d.pasidBits > 0) out.pasid = d.pasidBits;
    const sriov = f.sriov ?? (d.sriov ? { ...d.sriov } : undefined);
    // TotalVFs, First VF Offset and VF Stride as the format takes them (iov.c sriov_init
    // refuses a PF whose offset or stride places no VF).
    const sriovUsable = sriov !== undefined && sriov.offset >= 1 && (sriov.stride >= 1 || sriov.total === 1) && sriov.num <= sriov.total;
    if (sriov && !sriovUsable) note(map, `${f.name}: SR-IOV capability left out (total ${sriov.total}, offset ${sriov.offset}, stride ${sriov.stride}, num ${sriov.num} place no VF)`);
    if (sriov && sriovUsable && !info.bridge && pcie) {
      const vfDriver = (vfsOf.get(f.name) ?? []).find((v) => v.driver !== undefined)?.driver;
      out.sriov = {
        total: sriov.total,
        offset: sriov.offset,
        stride: sriov.stride,
        'vf-id': pciId(f.vendor, sriov.vfDevice),
        ...(vfDriver !== undefined ? { 'vf-driver': vfDriver } : {}),
        ...(sriov.num > 0 ? { num: sriov.num } : {}),
      };
    }
    // SLTCAP as the device model's keys, so that bus/pci/slots is the machine's too (the
    // link and other model keys are written after a boot, import-model-keys.ts).
    if (d.slot && (type === 'root-port' || type === 'downstream-port')) out.slot = { number: d.slot.number, ...(d.slot.hotplug ? { hotplug: true } : {}) };
    if (f.driver !== undefined) out.driver = f.driver;
    if (f.numaNode !== -1) out['numa-node'] = f.numaNode;
    devices.set(f.name, { fn: f, out, type });
    if (info.bridge) {
      const below: Out = {};
      const conventional = info.conventionalBelow || !pcie;
      fill(f.name, { rootBus: false, conventional, parentType: type }, below, out.ari === true);
      if (Object.keys(below).length > 0 || notes.has(below)) out.devices = below;
    } else if (byParent.has(f.name)) {
      note(map, `${f.name}: functions below a function that is not a bridge left out`);
    }
    map[keyOf(f, ari)] = out;
    return true;
  };

  const keyOf = (f: SysFunction, ari: boolean): string => (ari && f.devfn > 7 ? `00.${hex2(f.devfn)}` : `${hex2(f.devfn >> 3)}.${f.devfn & 7}`);

  const fill = (parentKey: string, ctx: Ctx, map: Out, ari: boolean): void => {
    const fns = byParent.get(parentKey) ?? [];
    const slotOf = (f: SysFunction): number => (ari ? 0 : f.devfn >> 3);
    /** Slots whose function 0 is described: the others' functions cannot be. */
    const slotsWithFn0 = new Set<number>();
    for (const f of fns) {
      const slotFns = fns.filter((g) => slotOf(g) === slotOf(f));
      const isFn0 = (f.devfn & (ari ? 0xff : 7)) === 0;
      if (!isFn0 && !slotsWithFn0.has(slotOf(f))) {
        note(map, `${f.name} [${pciId(f.vendor, f.device)}] left out: function 0 of its slot is not described, and Linux scans a slot from function 0`);
        continue;
      }
      const oneChild = ctx.parentType === 'root-port' || ctx.parentType === 'downstream-port';
      if (oneChild && !ari && f.devfn >> 3 !== 0) {
        note(map, `${f.name} [${pciId(f.vendor, f.device)}] left out: Linux scans only device 00 below a PCIe port (only_one_child)`);
        continue;
      }
      if (describe(f, ctx, map, slotFns.length, ari) && isFn0) slotsWithFn0.add(slotOf(f));
    }
  };

  const pci = sys.hostBridges.map((h) => {
    const map: Out = {};
    fill(h.dirName, { rootBus: true, conventional: false }, map, false);
    return { segment: new Hex(h.segment, 4), bus: new Hex(h.bus, 2), devices: map } as Out;
  });

  const units = unitsOut(sys, devices, pci);
  const arch = units.some((u) => String(u.type).startsWith('arm-smmu')) ? 'arm64' : 'x86';
  const topo: Out = { version: 1, name: 'imported', ...(arch !== 'x86' ? { arch } : {}) };
  if (units.length > 0) topo.iommus = units;
  topo.pci = pci;
  const drivers = extraDrivers(sys, devices, arch);
  if (drivers.length > 0) topo.drivers = drivers.map((name) => ({ name, ids: [] }));
  for (const dir of sys.unplaced) caveats.push(`${dir} left out: no host bridge directory pciSSSS:BB above it (a segment beyond 16 bits, such as a VMD domain)`);
  for (const f of sys.functions) {
    if (f.physfn !== undefined && !devices.has(f.physfn)) caveats.push(`VF ${f.name} left out: its PF ${f.physfn} is not described`);
  }
  for (const p of sys.platformWithGroups) caveats.push(`platform device ${p} has an IOMMU group but is not described (its stream IDs are not in sysfs)`);
  return { topo, notes, devices, caveats };
}

/** class/iommu units. A root bus all of whose functions link to one unit names it
 * (`iommu: <unit>`, when there are several units), or `none` when none of them has a unit;
 * on the other buses the unit covering most functions takes `scope: all` and the others
 * list the topmost functions they cover (a listed bridge brings everything below it). */
function unitsOut(sys: SysMachine, devices: Map<string, BuiltDevice>, pci: Out[]): Out[] {
  const known = sys.units.filter((u) => unitType(u) !== undefined);
  const described = [...devices.values()].map((d) => d.fn);
  const rest: SysFunction[] = [];
  sys.hostBridges.forEach((h, i) => {
    const onBus = described.filter((f) => f.host === h.dirName);
    const units = new Set(onBus.map((f) => f.iommu));
    const only = units.size === 1 ? [...units][0] : null;
    if (known.length > 0 && onBus.length > 0 && only === undefined && sys.groups.length > 0) pci[i]!.iommu = 'none';
    else if (known.length > 1 && typeof only === 'string' && known.some((u) => u.name === only)) pci[i]!.iommu = only;
    else rest.push(...onBus);
  });
  const linked = rest.filter((f) => f.iommu !== undefined);
  const unlinked = rest.length > linked.length;
  const count = (u: SysUnit): number => linked.filter((f) => f.iommu === u.name).length;
  // Nothing links to any unit (no groups): every unit as `all`, as the format's default reads.
  const widest = linked.length === 0 ? undefined : unlinked ? null : [...known].sort((a, b) => count(b) - count(a))[0];
  const out: Out[] = [];
  for (const u of known) {
    const type = unitType(u)!;
    const mine = linked.filter((f) => f.iommu === u.name);
    const names = new Set(mine.map((f) => f.name));
    const scope = widest === undefined || u === widest ? 'all' : mine.filter((f) => f.parent === null || !names.has(f.parent)).map((f) => f.name);
    const intel = type === 'intel-vtd' ? intelUnitFacts(u) : undefined;
    out.push({
      name: u.name,
      type,
      scope,
      'interrupt-remapping': intel ? intel.interruptRemapping : true,
      ...(intel && intel.pasid > 0 ? { pasid: intel.pasid } : {}),
    });
  }
  // The first unit whose scope holds a device covers it: `all` goes after any list.
  const allAt = out.findIndex((u) => u.scope === 'all');
  const listAfter = out.findIndex((u, i) => i > allAt && u.scope !== 'all');
  if (widest && allAt >= 0 && listAfter >= 0) out.push(...out.splice(allAt, 1));
  return out;
}

/** Drivers registered on the machine that no `driver` key names and the engine does not
 * register by itself: `drivers:` entries, so their modules are loaded as on the machine. */
function extraDrivers(sys: SysMachine, devices: Map<string, BuiltDevice>, arch: string): string[] {
  const named = new Set<string>([...ALWAYS_REGISTERED, ...(arch === 'x86' ? X86_BUILTIN_DRIVERS : [])]);
  for (const d of devices.values()) {
    if (d.fn.driver) named.add(d.fn.driver);
    const s = d.out.sriov as Out | undefined;
    if (s && typeof s['vf-driver'] === 'string') named.add(s['vf-driver']);
  }
  return sys.drivers.filter((n) => !named.has(n));
}
