// A PCI device's directory, as drivers/pci/pci-sysfs.c (pci_dev_attrs, pcie_dev_attrs,
// pci_bridge_attrs, pci_dev_config_attr, reset attrs), drivers/pci/pcie/aer.c,
// drivers/pci/iov.c and the driver core (drivers/base/core.c, dd.c) lay it out.
// Entries that come from ACPI (firmware_node, waiting_for_supplier) are not simulated; the
// resource files are pci-resources.ts.

import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { ariForwardingEnabled, CAP_ID, findCap, linkInfo, EXT_CAP_ID, findExtCap } from '../pci/config-read';
import { PCI_EXP_TYPE } from '../pci/pcie-type';
import { subsystemOf } from '../pci/config-space';
import { dir, emptyDir, owned, relLink, ro, rw, rwRaw, uevent, wo } from './build';
import type { Entries } from './build';
import type { AttrNode, DirNode } from './node';
import { deviceDirPath, driverDirPath, iommuUnitPath } from './paths';
import { groupPath } from './iommu-groups';
import { pciWrites } from './pci-device-writes';
import { pciPower } from '../engine/power';
import { synthPciUevent } from '../engine/uevent';
import { enableCount, resetMethodText, supportedResetMethods } from '../engine/pci-attrs';
import { powerDir } from './power';
import { busName, pciBusDir } from './pci-bus';
import { portServiceEntries } from './port-services';
import { sriovEntries } from './sriov-attrs';
import { resourceEntries } from './pci-resources';
import { mdevChildEntries, mdevParentEntries } from './mdev';
import { classDeviceEntries } from './class-devices';
import { localCpusText } from './system';

const hex = (n: number, w: number): string => '0x' + n.toString(16).padStart(w, '0');
const HEX = (n: number, w: number): string => n.toString(16).toUpperCase().padStart(w, '0');

export function subsystemIds(d: PciDevice): { vendor: number; device: number } {
  const f = d.fn;
  return subsystemOf({ ...f.id, headerType: f.headerType, pcie: f.pcie, pcieType: f.pcieType, classCode: f.classCode, ...(f.subsystem ? { subsystem: f.subsystem } : {}) });
}

/** drivers/pci/pci-driver.c pci_uevent / pci-sysfs.c modalias_show. */
export function modalias(d: PciDevice): string {
  const f = d.fn;
  const s = subsystemIds(d);
  const c = f.classCode;
  return `pci:v${HEX(f.id.vendor, 8)}d${HEX(f.id.device, 8)}sv${HEX(s.vendor, 8)}sd${HEX(s.device, 8)}bc${HEX(c >> 16, 2)}sc${HEX((c >> 8) & 0xff, 2)}i${HEX(c & 0xff, 2)}`;
}

/** dev_uevent's DRIVER= (the bound driver, or `driver` as a uevent names it) and
 * pci_uevent's variables (drivers/pci/pci-driver.c). */
export function ueventVars(d: PciDevice, driver: string | null = d.driver): string[] {
  const f = d.fn;
  const s = subsystemIds(d);
  const lines = [
    ...(driver ? [`DRIVER=${driver}`] : []),
    `PCI_CLASS=${f.classCode.toString(16).toUpperCase()}`,
    `PCI_ID=${HEX(f.id.vendor, 4)}:${HEX(f.id.device, 4)}`,
    `PCI_SUBSYS_ID=${HEX(s.vendor, 4)}:${HEX(s.device, 4)}`,
    `PCI_SLOT_NAME=${d.name}`,
    `MODALIAS=${modalias(d)}`,
  ];
  return lines;
}

function configAttr(m: Machine, d: PciDevice): AttrNode {
  return {
    kind: 'attr',
    mode: 0o644,
    size: d.fn.pcie ? 4096 : 256,
    binary: true,
    show: () => Buffer.from(m.configBytes(d)),
    store: (data, offset) => m.writeConfig(d, offset, data),
  };
}

const deviceDirs = new WeakMap<PciDevice, DirNode>();

/** One directory node per device, its entries recomputed only when the machine changes. */
export function pciDeviceDir(m: Machine, d: PciDevice): DirNode {
  let node = deviceDirs.get(d);
  if (!node) {
    node = buildPciDeviceDir(m, d);
    deviceDirs.set(d, node);
  }
  return node;
}

function buildPciDeviceDir(m: Machine, d: PciDevice): DirNode {
  const here = deviceDirPath(d);
  return owned(d, dir((): Entries => {
    const f = d.fn;
    const cfg = m.configBytes(d);
    const w = pciWrites(m, d);
    const e: Entries = [];
    const s = subsystemIds(d);
    const link = f.pcie ? linkInfo(cfg, f.pcieType) : undefined;
    const aer = findExtCap(cfg, EXT_CAP_ID.AER) !== undefined;
    const bound = d.driver !== null;
    const isBridge = f.headerType === 1;
    const fx = m.driverEffects;
    const traits = fx.traitsOf(d);

    for (const child of m.childDevices(here)) e.push([child.name, pciDeviceDir(m, child)]);
    e.push(...mdevChildEntries(m, d));
    if (bound && traits?.matchesPorts) e.push(...portServiceEntries(m, d, cfg));
    e.push(...classDeviceEntries(m, d));
    if (aer) {
      e.push(['aer_dev_correctable', ro(() => aerCounters(AER_COR, 'TOTAL_ERR_COR'))]);
      e.push(['aer_dev_fatal', ro(() => aerCounters(AER_UNCOR, 'TOTAL_ERR_FATAL'))]);
      e.push(['aer_dev_nonfatal', ro(() => aerCounters(AER_UNCOR, 'TOTAL_ERR_NONFATAL'))]);
      if (f.pcieType === PCI_EXP_TYPE.ROOT_PORT || f.pcieType === PCI_EXP_TYPE.RC_EC) {
        e.push(['aer_rootport_total_err_cor', ro(() => '0')]);
        e.push(['aer_rootport_total_err_fatal', ro(() => '0')]);
        e.push(['aer_rootport_total_err_nonfatal', ro(() => '0')]);
      }
    }
    // pci_ari_enabled(dev->bus): whether the bridge above enabled ARI forwarding.
    const upstream = f.bus.bridge ? m.deviceOf(f.bus.bridge) : undefined;
    e.push(['ari_enabled', ro(() => (upstream && ariForwardingEnabled(m.configBytes(upstream)) ? '1' : '0'))]);
    // pci-sysfs.c boot_vga, on VGA-class devices only: the device vgaarb chose as the default
    // (here the first VGA function Linux added, which firmware initialised).
    if (f.classCode >> 8 === 0x0300) e.push(['boot_vga', ro(() => (m.pci.addOrder.find((x) => x.classCode >> 8 === 0x0300) === f ? '1' : '0'))]);
    e.push(['broken_parity_status', rw(() => (d.brokenParity ? '1' : '0'), w.brokenParity)]);
    e.push(['class', ro(() => hex(f.classCode, 6))]);
    e.push(['config', configAttr(m, d)]);
    e.push(['consistent_dma_mask_bits', ro(() => String(fx.dmaMaskBits(d)))]);
    if (link) {
      e.push(['current_link_speed', ro(() => link.curSpeed)]);
      e.push(['current_link_width', ro(() => String(link.curWidth))]);
    }
    // pci_pm_init sets d3cold_allowed on every device with the PM capability; a store keeps
    // what was written.
    const pm = findCap(cfg, CAP_ID.PM) !== undefined; // not `cfg` itself: no closure keeps the image
    e.push(['d3cold_allowed', rw(() => ((d.d3coldAllowed ?? pm) ? '1' : '0'), w.d3cold)]);
    e.push(['device', ro(() => hex(f.id.device, 4))]);
    e.push(['dma_mask_bits', ro(() => String(fx.dmaMaskBits(d)))]);
    if (d.driver) e.push(['driver', relLink(here, driverDirPath('pci', d.driver))]);
    e.push(['driver_override', rw(() => d.driverOverride ?? '(null)', w.driverOverride)]);
    e.push(['enable', rw(() => String(enableCount(m, d)), w.enable)]);
    if (d.group && d.unit) {
      e.push(['iommu', relLink(here, iommuUnitPath(d.unit.name))]);
      e.push(['iommu_group', relLink(here, groupPath(d.group.id))]);
    }
    e.push(['irq', ro(() => String(legacyIrq(d)))]);
    e.push(['link', emptyDir()]);
    e.push(['local_cpulist', ro(() => localCpusText(m, d).list)]);
    e.push(['local_cpus', ro(() => localCpusText(m, d).mask)]);
    if (link) {
      e.push(['max_link_speed', ro(() => link.maxSpeed)]);
      e.push(['max_link_width', ro(() => String(link.maxWidth))]);
    }
    e.push(...mdevParentEntries(m, d));
    e.push(['modalias', ro(() => modalias(d))]);
    e.push(['msi_bus', rw(() => (d.noMsi ? '0' : '1'), w.msiBus)]);
    // drivers/pci/msi/msi.c msi_sysfs_create_group: one file per vector, named by its IRQ.
    const vectors = fx.vectors(d);
    if (vectors.length > 0) e.push(['msi_irqs', dir(() => vectors.map((v) => [String(v.irq), ro(() => v.kind)]))]);
    e.push(['numa_node', rw(() => String(d.numaNode), w.numaNode)]);
    if (isBridge && f.secondary) e.push(['pci_bus', pciBusDir(m, d, here, busName(f.segment, f.secondary.number), w.rescanBridge, d)]);
    e.push(['power', powerDir(m, pciPower(m, d))]);
    e.push(['power_state', ro(() => fx.powerState(d))]);
    e.push(['remove', wo(w.remove, 0o220)]);
    e.push(['rescan', wo(w.rescan)]);
    const resets = supportedResetMethods(m, d);
    if (resets.length > 0) {
      e.push(['reset', wo(w.reset)]);
      e.push(['reset_method', rwRaw(() => resetMethodText(d, resets), w.resetMethod)]);
    }
    if (isBridge) e.push(['reset_subordinate', wo(w.resetSubordinate)]);
    e.push(...resourceEntries(m, d));
    e.push(['revision', ro(() => hex(f.revision, 2))]);
    if (isBridge && f.secondary) {
      e.push(['secondary_bus_number', ro(() => String(f.secondary!.number))]);
      e.push(['subordinate_bus_number', ro(() => String(f.secondary!.subordinate))]);
    }
    e.push(...sriovEntries(m, d, here));
    e.push(['subsystem', relLink(here, 'bus/pci')]);
    e.push(['subsystem_device', ro(() => hex(s.device, 4))]);
    e.push(['subsystem_vendor', ro(() => hex(s.vendor, 4))]);
    e.push(['uevent', uevent(() => ueventVars(d), (raw) => synthPciUevent(m, d, raw))]);
    e.push(['vendor', ro(() => hex(f.id.vendor, 4))]);
    return e;
  }, 0o755, () => m.generation));
}

/** A plausible legacy IRQ (the real one comes from firmware routing, which is not simulated). */
function legacyIrq(d: PciDevice): number {
  if (d.fn.classCode >> 8 === 0x0600 || d.fn.classCode >> 8 === 0x0601) return 0;
  return 10 + (d.fn.devfn % 2);
}

const AER_COR = ['RxErr', 'BadTLP', 'BadDLLP', 'Rollover', 'Timeout', 'NonFatalErr', 'CorrIntErr', 'HeaderOF'];
const AER_UNCOR = [
  'Undefined', 'DLP', 'SDES', 'TLP', 'FCP', 'CmpltTO', 'CmpltAbrt', 'UnxCmplt', 'RxOF', 'MalfTLP', 'ECRC', 'UnsupReq',
  'ACSViol', 'UncorrIntErr', 'BlockedTLP', 'AtomicOpBlocked', 'TLPBlockedErr', 'PoisonTLPBlocked', 'DMWrReqBlocked',
  'IDECheck', 'MisIDETLP', 'PCRC_CHECK', 'TLPXlatBlocked',
];

/** drivers/pci/pcie/aer.c aer_stats_dev_attr: one "Name count" line per error, then the total. */
function aerCounters(names: string[], total: string): string {
  return [...names.map((n) => `${n} 0`), `${total} 0`].join('\n');
}

