// What an NVMe controller bound to the nvme driver reports and registers (Linux 6.1,
// drivers/nvme/host/core.c): its Identify strings, its subsystem, and one block device
// (gendisk) plus one generic character device per namespace. Sizes, models and serials come
// from the topology's `nvme` mapping, else from the defaults below.

import type { PciFunction } from '../pci/enumerate';
import { Errno } from './errno';
import { NVME_CLASS } from '../topology/nvme-fields';
import type { NamespaceSpec } from '../topology/model';

/** QEMU's emulated controller (hw/nvme/ctrl.c): no namespace unless a drive is attached, which
 * the recordings never do [rec: sriov.json binds nvme to it with no drive]. */
const QEMU_NVME = { vendor: 0x1b36, device: 0x0010 };

/** Any other NVMe function without `nvme.namespaces`: one namespace of 1 TB (10^12 bytes,
 * 1,953,125,000 512-byte blocks), a plausible consumer drive. */
export const DEFAULT_NAMESPACE: NamespaceSpec = { bytes: 1e12, lba: 512 };

/** The char majors the nvme core's alloc_chrdev_region calls got. Dynamic majors count down from
 * 254 in registration order (fs/char_dev.c find_dynamic_major); these are plausible for a
 * Debian 6.1 guest, where the recorded machine gave vfio 246. */
export const CHAR_MAJOR = { nvme: 243, 'nvme-generic': 242, ptp: 249, drm: 226 } as const;

/** Block devices without a fixed major get BLOCK_EXT_MAJOR and a minor from the ext devt IDA
 * (block/genhd.c blk_alloc_ext_minor). */
export const BLOCK_EXT_MAJOR = 259;

export interface NvmeIdentity {
  model: string;
  serial: string;
  firmware: string;
  /** Identify VID and SSVID: the PCI vendor and subsystem vendor. */
  vid: number;
  ssvid: number;
  /** The controller's subsystem NQN (Identify SUBNQN, or nvme_init_subnqn's made-up one). */
  subnqn: string;
  /** cntrltype_show: QEMU 7.2 reports an I/O controller; so do NVMe 2.0 drives. */
  cntrltype: 'io';
}

const isQemu = (f: PciFunction): boolean => f.id.vendor === QEMU_NVME.vendor && f.id.device === QEMU_NVME.device;

/** Whether the function is an NVMe controller at all: the nvme driver also binds by ID, but a
 * controller of another class reports nothing here. */
export function isNvmeController(f: PciFunction): boolean {
  return f.classCode === NVME_CLASS;
}

/** The namespaces the controller reports to nvme_scan_work. A VF's secondary controller has
 * none attached by default (NVMe namespace management attaches them explicitly). */
export function namespacesOf(f: PciFunction): readonly NamespaceSpec[] {
  if (!isNvmeController(f) || f.physfn) return [];
  if (f.spec.nvme?.namespaces) return f.spec.nvme.namespaces;
  return isQemu(f) ? [] : [DEFAULT_NAMESPACE];
}

function pad(text: string, width: number): string {
  return text.padEnd(width, ' ').slice(0, width);
}

/** Identify Controller strings; the defaults are QEMU's for its controller (hw/nvme/ctrl.c
 * nvme_init_ctrl: "QEMU NVMe Ctrl", firmware "1.0", subnqn nqn.2019-08.org.qemu:<serial>),
 * else a made-up serial unique per function. */
export function nvmeIdentity(f: PciFunction): NvmeIdentity {
  const own = f.spec.nvme;
  const qemu = isQemu(f);
  const serial = (f.physfn ? undefined : own?.serial) ?? `IOMMUFS${f.name.replace(/[:.]/g, '').toUpperCase()}`;
  const model = own?.model ?? (qemu ? 'QEMU NVMe Ctrl' : 'NVMe SSD');
  const firmware = own?.firmware ?? '1.0';
  const vid = f.id.vendor;
  const ssvid = f.subsystem?.vendor ?? f.id.vendor;
  // nvme_init_subnqn: a controller that reports no SUBNQN gets "nqn.2014.08.org.nvmexpress:"
  // VID SSVID, then the serial (20) and model (40) fields as they are, space padded.
  const subnqn = qemu ? `nqn.2019-08.org.qemu:${serial}` : `nqn.2014.08.org.nvmexpress:${hex4(vid)}${hex4(ssvid)}${pad(serial, 20)}${pad(model, 40)}`;
  return { model, serial, firmware, vid, ssvid, subnqn, cntrltype: 'io' };
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** wwid_show without UUID, NGUID or EUI-64: "nvme.VVVV-<serial hex>-<model hex>-NSID", the
 * strings with trailing blanks dropped. */
export function namespaceWwid(id: NvmeIdentity, nsid: number): string {
  const bytes = (s: string): string => Buffer.from(s.replace(/[ \0]+$/, ''), 'latin1').toString('hex');
  return `nvme.${hex4(id.vid)}-${bytes(id.serial)}-${bytes(id.model)}-${nsid.toString(16).padStart(8, '0')}`;
}

/** Identify strings as the controller's sysfs shows them: the whole field, blank padded
 * (nvme_show_str_function prints sizeof(field) bytes). */
export function identityField(id: NvmeIdentity, field: 'model' | 'serial' | 'firmware'): string {
  return pad(id[field], field === 'model' ? 40 : field === 'serial' ? 20 : 8);
}

/** The subsystem's I/O policy (nvme_subsys_iopolicy_store: "numa", the default, or
 * "round-robin"; anything else EINVAL), kept per controller class device. */
const iopolicies = new WeakMap<object, string>();

export function iopolicy(subsys: object): string {
  return iopolicies.get(subsys) ?? 'numa';
}

export function setIopolicy(subsys: object, text: string): void {
  const v = text.trim();
  if (v !== 'numa' && v !== 'round-robin') throw new Errno('EINVAL', `no I/O policy "${v}"`);
  iopolicies.set(subsys, v);
}

/** The temperatures nvme's hwmon device reports (drivers/nvme/host/hwmon.c), in kelvins as
 * the controller reports them: the SMART log's composite temperature and the Identify
 * WCTEMP and CCTEMP thresholds (QEMU's hw/nvme/ctrl.c: 323, 343, 373 K, the figures used
 * for every controller here); the under-temperature threshold reads 0 K on most drives. */
export const NVME_TEMPS = { composite: 323, warning: 343, critical: 373, under: 0 } as const;

/** Temperature thresholds as Set Features wrote them (temp1_max, temp1_min), per controller. */
const thresholds = new WeakMap<object, { max: number; min: number }>();

export function temperatureThresholds(ctrl: object): { max: number; min: number } {
  return thresholds.get(ctrl) ?? { max: NVME_TEMPS.warning, min: NVME_TEMPS.under };
}

/** nvme_hwmon_write: millidegrees Celsius, rounded to whole kelvins and clamped to 0..0xffff
 * (a threshold is a 16-bit kelvin field); kstrtol refuses anything else (EINVAL). */
export function setTemperatureThreshold(ctrl: object, which: 'max' | 'min', text: string): void {
  const t = text.trim();
  if (!/^[+-]?[0-9]+$/.test(t)) throw new Errno('EINVAL', `"${t}" is not a temperature`);
  const kelvin = Math.min(Math.max(Math.round((Number(t) + 273150) / 1000), 0), 0xffff);
  thresholds.set(ctrl, { ...temperatureThresholds(ctrl), [which]: kelvin });
}

/** What was written to a controller and its subsystem, for --state: iopolicy and the
 * thresholds in kelvins. */
export function controllerSettings(ctrl: object): Record<string, string | number> | undefined {
  const out: Record<string, string | number> = {};
  const policy = iopolicies.get(ctrl);
  if (policy !== undefined) out.iopolicy = policy;
  const t = thresholds.get(ctrl);
  if (t) {
    out.temp1_max = t.max;
    out.temp1_min = t.min;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Puts saved controller settings back (throws Errno on a value the stores refuse). */
export function restoreControllerSettings(ctrl: object, s: Record<string, string | number>): void {
  if (s.iopolicy !== undefined) setIopolicy(ctrl, String(s.iopolicy));
  const kelvin = (v: string | number | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new Errno('EINVAL', `threshold ${v} is not 0..65535 K`);
    return v;
  };
  if (s.temp1_max !== undefined || s.temp1_min !== undefined) {
    thresholds.set(ctrl, { max: kelvin(s.temp1_max, NVME_TEMPS.warning), min: kelvin(s.temp1_min, NVME_TEMPS.under) });
  }
}

/** kelvin_to_millicelsius. */
export function millicelsius(kelvin: number): number {
  return kelvin * 1000 - 273150;
}
