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
