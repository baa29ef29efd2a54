// Turns a topology into PCI buses and functions as Linux would find them: bus numbers
// assigned depth first in address order (what firmware does before Linux scans), functions
// listed per bus in devfn order, and the order in which Linux adds devices
// (drivers/pci/bus.c pci_bus_add_devices: every device of a bus, then each bridge's bus).

import { secondaryBusNumber } from '../topology/bus-numbers';
import { PCI_TYPES } from '../topology/device-fields';
import type { BusCounter } from '../topology/bus-numbers';
import type { DeviceSpec, PciId, RootBusSpec, Topology } from '../topology/model';
import { fnOf, hostBridgeDirName, pciName } from './address';
import { pcieTypeCode, PCI_EXP_TYPE } from './pcie-type';

export interface HostBridge {
  index: number;
  segment: number;
  busNumber: number;
  /** "pci0000:00" */
  dirName: string;
  spec: RootBusSpec;
  rootBus: PciBus;
}

export interface PciBus {
  segment: number;
  number: number;
  /** The bridge whose secondary bus this is; null for a root bus and for a VF's virtual bus. */
  bridge: PciFunction | null;
  parent: PciBus | null;
  hostBridge: HostBridge;
  /** Functions present on this bus, in devfn order. */
  devices: PciFunction[];
  /** The highest bus number routed below this bus (the bridge's subordinate number). */
  subordinate: number;
}

export interface PciFunction {
  name: string;
  segment: number;
  bus: PciBus;
  devfn: number;
  /** The topology entry; for a VF, the PF's entry (class, revision, subsystem come from it). */
  spec: DeviceSpec;
  id: PciId;
  subsystem?: PciId;
  classCode: number;
  revision: number;
  pcie: boolean;
  /** PCI_EXP_TYPE_* code, null for conventional functions. */
  pcieType: number | null;
  headerType: 0 | 1;
  multifunctionBit: boolean;
  /** As Linux sees it: the header bit, or forced on for every function > 0 (probe.c pci_scan_slot). */
  multifunction: boolean;
  /** The bus behind a bridge. */
  secondary?: PciBus;
  acsCap: number | null;
  ari: boolean;
  pasidBits: number;
  physfn?: PciFunction;
  vfIndex?: number;
  /** Where the device directory sits: "devices/pci0000:00/0000:00:1c.0/0000:01:00.0". */
  sysfsPath: string;
  /** The directory it sits in (sysfsPath without its last name): the parent's own path
   * string, shared, which the engine's index of directories hashes once. */
  parentDir: string;
}

/** A type 1 header with a secondary bus (the topology's type table says which types). */
export function isBridgeType(spec: DeviceSpec): boolean {
  return PCI_TYPES[spec.type].bridge;
}

export function isRootBus(bus: PciBus): boolean {
  return bus.parent === null;
}

export interface PciTopology {
  hostBridges: HostBridge[];
  /** Every function found at boot, in the order Linux adds them. */
  addOrder: PciFunction[];
}

export function enumerate(topology: Topology): PciTopology {
  const hostBridges: HostBridge[] = [];
  topology.pci.forEach((spec, index) => {
    const host: HostBridge = {
      index,
      segment: spec.segment,
      busNumber: spec.bus,
      dirName: hostBridgeDirName(spec.segment, spec.bus),
      spec,
      rootBus: undefined as unknown as PciBus,
    };
    const rootBus: PciBus = {
      segment: spec.segment,
      number: spec.bus,
      bridge: null,
      parent: null,
      hostBridge: host,
      devices: [],
      subordinate: spec.bus,
    };
    host.rootBus = rootBus;
    const next = { value: spec.bus + 1 };
    scanBus(rootBus, spec.devices, `devices/${host.dirName}`, next);
    rootBus.subordinate = Math.max(spec.bus, next.value - 1);
    hostBridges.push(host);
  });
  const addOrder: PciFunction[] = [];
  for (const host of hostBridges) collectAddOrder(host.rootBus, addOrder);
  return { hostBridges, addOrder };
}

function scanBus(bus: PciBus, specs: DeviceSpec[], parentDir: string, next: BusCounter): void {
  const sorted = [...specs].sort((a, b) => a.devfn - b.devfn);
  const ariBus = bus.bridge?.ari ?? false;
  for (const spec of sorted) {
    bus.devices.push(makeFunction(bus, spec, parentDir, ariBus));
  }
  for (const f of bus.devices) {
    if (!isBridgeType(f.spec)) continue;
    const number = secondaryBusNumber(f.spec, next);
    const child: PciBus = {
      segment: bus.segment,
      number,
      bridge: f,
      parent: bus,
      hostBridge: bus.hostBridge,
      devices: [],
      subordinate: number,
    };
    f.secondary = child;
    scanBus(child, f.spec.devices, f.sysfsPath, next);
    child.subordinate = Math.max(number, next.value - 1);
  }
}

function makeFunction(bus: PciBus, spec: DeviceSpec, parentDir: string, ariBus: boolean): PciFunction {
  const name = pciName(bus.segment, bus.number, spec.devfn);
  // With ARI forwarding the whole devfn is the function number (probe.c pci_scan_slot + next_fn).
  const fnNumber = ariBus ? spec.devfn : fnOf(spec.devfn);
  return {
    name,
    segment: bus.segment,
    bus,
    devfn: spec.devfn,
    spec,
    id: spec.id,
    ...(spec.subsystem ? { subsystem: spec.subsystem } : {}),
    classCode: spec.classCode,
    revision: spec.revision,
    pcie: spec.pcie,
    pcieType: spec.pcie ? pcieTypeCode(spec.type) : null,
    headerType: isBridgeType(spec) ? 1 : 0,
    multifunctionBit: spec.multifunctionBit,
    multifunction: spec.multifunctionBit || fnNumber > 0,
    acsCap: spec.acsCap,
    ari: spec.ari,
    pasidBits: spec.pasidBits,
    sysfsPath: `${parentDir}/${name}`,
    parentDir,
  };
}

function collectAddOrder(bus: PciBus, out: PciFunction[]): void {
  for (const f of bus.devices) out.push(f);
  for (const f of bus.devices) if (f.secondary) collectAddOrder(f.secondary, out);
}

/** The bus a VF lands on: the PF's bus, or a virtual bus below the same parent (iov.c virtfn_add_bus). */
export function vfBus(pf: PciFunction, busNumber: number): PciBus {
  if (busNumber === pf.bus.number) return pf.bus;
  return {
    segment: pf.segment,
    number: busNumber,
    bridge: null,
    parent: pf.bus,
    hostBridge: pf.bus.hostBridge,
    devices: [],
    subordinate: busNumber,
  };
}

/** Routing ID of the i-th VF (drivers/pci/iov.c pci_iov_virtfn_bus / pci_iov_virtfn_devfn). */
export function vfRoutingId(pf: PciFunction, index: number): number {
  const sriov = pf.spec.sriov;
  if (!sriov) throw new Error(`${pf.name} has no SR-IOV capability`);
  return ((pf.bus.number << 8) | pf.devfn) + sriov.offset + index * sriov.stride;
}

/**
 * The last bus number a VF of this PF may use: the end of the PF's bus range, the bridge's
 * subordinate number, or 0xff on a root bus (drivers/pci/iov.c sriov_enable checks
 * pci_iov_virtfn_bus of the last VF against dev->bus->busn_res.end and fails with ENOMEM).
 */
export function vfBusLimit(pf: PciFunction): number {
  return pf.bus.parent === null ? 0xff : pf.bus.subordinate;
}

/** The bus of the last of n VFs when it is beyond the PF's bus range, else undefined. */
export function vfBusOutOfRange(pf: PciFunction, n: number): number | undefined {
  const lastBus = vfRoutingId(pf, n - 1) >> 8;
  return lastBus > vfBusLimit(pf) ? lastBus : undefined;
}

/** A VF function object: vendor from the PF, device from the VF Device ID, the rest from the PF. */
export function makeVf(pf: PciFunction, index: number, bus: PciBus): PciFunction {
  const sriov = pf.spec.sriov!;
  const rid = vfRoutingId(pf, index);
  const devfn = rid & 0xff;
  const name = pciName(pf.segment, bus.number, devfn);
  const parentDir = pf.parentDir;
  return {
    name,
    segment: pf.segment,
    bus,
    devfn,
    spec: pf.spec,
    id: { vendor: pf.id.vendor, device: sriov.vfId.device },
    ...(pf.subsystem ? { subsystem: pf.subsystem } : {}),
    classCode: pf.classCode,
    revision: pf.revision,
    pcie: pf.pcie,
    pcieType: pf.pcie ? PCI_EXP_TYPE.ENDPOINT : null,
    headerType: 0,
    multifunctionBit: false,
    multifunction: false,
    acsCap: null,
    ari: pf.ari,
    pasidBits: pf.pasidBits,
    physfn: pf,
    vfIndex: index,
    sysfsPath: `${parentDir}/${name}`,
    parentDir,
  };
}
