// The kernel recordings copied from the team's reference into test/fixtures/reference.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './paths';

export interface RecordedGroup {
  attrs: { type: string; name?: string };
  reserved_regions: string[];
  ls: string[];
  devices_ls: string[];
  devices: string[];
}

export interface RecordedDevice {
  bus_link: string;
  realpath: string;
  ls: string[];
  links: Record<string, string>;
  attrs: Record<string, string[]>;
  attr_errors: Record<string, string>;
  sub_ls: Record<string, string[]>;
  config_hex: string;
}

export interface RecordedPhase {
  groups_root_ls: string[];
  groups: Record<string, RecordedGroup>;
  devices: Record<string, RecordedDevice>;
  sections: Record<string, string[]>;
}

export interface Recording {
  cmdline: string;
  qemu_devices: string[];
  phases: { boot: RecordedPhase; after?: RecordedPhase };
  experiments: { cmd: string; output: string[] }[] | null;
  dmesg: string[] | string;
}

/** The eight machines recorded in the common format (sriov.json has a format of its own). */
export const MACHINES = ['flat', 'rootports', 'switch', 'pcibridge', 'noiommu', 'passthrough', 'strict', 'writes'] as const;

export function recording(name: string): Recording {
  return JSON.parse(readFileSync(join(FIXTURES, 'reference', `${name}.json`), 'utf8')) as Recording;
}

interface SriovDevice {
  realpath: string;
  bus_link: string;
  links: Record<string, string>;
  attrs: Record<string, string>;
  config_hex: string;
}

interface SriovGroup {
  devices: string[];
  type: string;
  reserved_regions: string;
}

interface SriovPhase {
  pci_devices: Record<string, SriovDevice>;
  groups: Record<string, SriovGroup>;
  iommu_units: Record<string, Record<string, unknown>>;
}

/** The phases sriov.json recorded (its own format: see test/fixtures/reference/README.md). */
export const SRIOV_PHASES = ['boot', 'after_sriov_numvfs_2', 'after_vfio_bind', 'final'] as const;

/**
 * One phase of sriov.json in the common format, as far as a rebuilt tree needs it: device
 * links, attributes and config space, groups with their type and reserved regions, and the
 * class/iommu section (unit links and intel-iommu/ values).
 */
export function sriovPhase(phase: (typeof SRIOV_PHASES)[number]): RecordedPhase {
  const doc = JSON.parse(readFileSync(join(FIXTURES, 'reference', 'sriov.json'), 'utf8')) as { phases: Record<string, SriovPhase> };
  const p = doc.phases[phase]!;
  const lines = (text: string): string[] => text.replace(/\n$/, '').split('\n');
  const devices: Record<string, RecordedDevice> = {};
  for (const [bdf, d] of Object.entries(p.pci_devices)) {
    devices[bdf] = {
      bus_link: d.bus_link,
      realpath: d.realpath,
      ls: [],
      links: d.links,
      attrs: Object.fromEntries(Object.entries(d.attrs).map(([k, v]) => [k, lines(v)])),
      attr_errors: {},
      sub_ls: {},
      config_hex: (d.config_hex.match(/../g) ?? []).join(' '),
    };
  }
  const groups: Record<string, RecordedGroup> = {};
  for (const [id, g] of Object.entries(p.groups)) {
    groups[id] = { attrs: { type: g.type.trim() }, reserved_regions: lines(g.reserved_regions), ls: [], devices_ls: [], devices: g.devices };
  }
  const classiommu: string[] = [];
  for (const [unit, u] of Object.entries(p.iommu_units)) {
    classiommu.push(`lrwxrwxrwx    1 0        0                0 Jan  1 00:00 ${unit} -> ../../devices/virtual/iommu/${unit}`);
    for (const [k, v] of Object.entries(u)) {
      if (/^[a-z-]+-iommu\/[a-z_]+$/.test(k) && typeof v === 'string') classiommu.push(`/sys/class/iommu/${unit}/${k}: ${v.trim()}`);
    }
  }
  return { groups_root_ls: [], groups, devices, sections: { classiommu } };
}
