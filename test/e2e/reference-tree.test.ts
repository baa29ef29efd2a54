// The mounted tree against what Linux 6.1 showed, machine by machine: `ls -la` of every
// group directory and every PCI device directory (names, modes, sizes, nlink, link
// targets), the links, and the text of every attribute, read with real `ls`, `cat` and
// `readlink` on a real mount. Entries whose content comes from firmware are left out.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertNothingMounted, q, sh, withDaemon } from './harness';
import { TOPOLOGIES } from '../helpers/paths';
import { MACHINES, recording } from '../helpers/reference';

/** Entries that come from ACPI or the firmware's resource assignment, not from the kernel's rules. */
const FIRMWARE_ENTRY = /^(firmware_node|resource\d+(_wc)?|rom|waiting_for_supplier)$/;
/** Attribute values that are the firmware's (addresses, IRQ routing, CPU masks) or MSI vector numbers. */
const FIRMWARE_VALUE = new Set(['irq', 'resource', 'local_cpus', 'local_cpulist', 'waiting_for_supplier']);

interface Entry {
  perms: string;
  nlink: string;
  size: string;
  name: string;
  target?: string;
}

function parseLs(lines: string[], dateFields: number): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const line of lines) {
    if (line.startsWith('total ') || line.trim() === '') continue;
    const parts = line.trim().split(/\s+/);
    const name = parts[5 + dateFields];
    if (name === undefined) continue;
    const arrow = parts.indexOf('->');
    const entry: Entry = { perms: parts[0]!, nlink: parts[1]!, size: parts[4]!, name };
    if (arrow > 0) entry.target = parts[arrow + 1];
    if (!FIRMWARE_ENTRY.test(name)) out.set(name, entry);
  }
  return out;
}

function fmt(e: Entry | undefined): string {
  if (!e) return '(missing)';
  return `${e.perms} ${e.nlink} ${e.size} ${e.name}${e.target ? ' -> ' + e.target : ''}`;
}

/**
 * The host bridge directory (devices/pci0000:00) holds one more subdirectory on the recorded
 * machines than its PCI devices, pci_bus and power: a child the ACPI firmware creates. Its
 * `..` link count, as seen from a root-bus device, is therefore the firmware's and skipped.
 */
function compareLs(where: string, theirs: string[], ours: string[], problems: string[], skipParent = false): void {
  const t = parseLs(theirs, 3);
  const o = parseLs(ours, 1);
  if (skipParent) {
    t.delete('..');
    o.delete('..');
  }
  for (const name of new Set([...t.keys(), ...o.keys()])) {
    const a = fmt(t.get(name));
    const b = fmt(o.get(name));
    if (a !== b) problems.push(`${where}: kernel ${a} | ours ${b}`);
  }
}

/** Runs one script that prints `@@ <key>` before each command's output; returns the sections. */
async function sections(script: string): Promise<Map<string, string[]>> {
  const r = await sh(script, { timeoutMs: 60_000 });
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('@@ ')) {
      current = [];
      out.set(line.slice(3), current);
    } else current?.push(line);
  }
  return out;
}

after(assertNothingMounted);

describe('the mount equals the kernel recordings', () => {
  for (const name of MACHINES) {
    it(`qemu-${name}: every group and device directory, link and attribute`, async () => {
      const rec = recording(name).phases.boot;
      await withDaemon(join(TOPOLOGIES, `qemu-${name}.yaml`), async (mnt) => {
        const problems: string[] = [];
        const lines: string[] = [`cd ${q(mnt)}`, `echo '@@ groups_root'; ls -la --time-style=+T kernel/iommu_groups`];
        for (const id of Object.keys(rec.groups)) {
          lines.push(`echo '@@ g ${id}'; ls -la --time-style=+T kernel/iommu_groups/${id}`);
          lines.push(`echo '@@ gd ${id}'; ls -la --time-style=+T kernel/iommu_groups/${id}/devices`);
          lines.push(`echo '@@ gt ${id}'; cat kernel/iommu_groups/${id}/type`);
          lines.push(`echo '@@ gr ${id}'; cat kernel/iommu_groups/${id}/reserved_regions`);
        }
        for (const [bdf, dev] of Object.entries(rec.devices)) {
          const dir = dev.realpath.replace(/^\/sys\//, '');
          lines.push(`echo '@@ bus ${bdf}'; readlink bus/pci/devices/${bdf}`);
          lines.push(`echo '@@ ls ${bdf}'; ls -la --time-style=+T ${dir}`);
          for (const sub of Object.keys(dev.sub_ls)) lines.push(`echo '@@ sub ${bdf} ${sub}'; ls -la --time-style=+T ${dir}/${sub}`);
          for (const attr of Object.keys(dev.attrs)) lines.push(`echo '@@ attr ${bdf} ${attr}'; cat ${dir}/${attr}`);
        }
        const got = await sections(lines.join('\n'));
        compareLs('kernel/iommu_groups', rec.groups_root_ls, got.get('groups_root') ?? [], problems);
        for (const [id, g] of Object.entries(rec.groups)) {
          compareLs(`group ${id}`, g.ls, got.get(`g ${id}`) ?? [], problems);
          compareLs(`group ${id}/devices`, g.devices_ls, got.get(`gd ${id}`) ?? [], problems);
          if ((got.get(`gt ${id}`) ?? [])[0] !== g.attrs.type) problems.push(`group ${id}/type: ${g.attrs.type} | ${got.get(`gt ${id}`)?.[0]}`);
          const rr = (got.get(`gr ${id}`) ?? []).filter((l) => l !== '');
          if (rr.join('\n') !== g.reserved_regions.join('\n')) problems.push(`group ${id}/reserved_regions differ`);
        }
        for (const [bdf, dev] of Object.entries(rec.devices)) {
          const bus = (got.get(`bus ${bdf}`) ?? [])[0];
          if (bus !== dev.bus_link) problems.push(`${bdf}: bus link ${dev.bus_link} | ${bus}`);
          const onRootBus = dev.realpath.split('/').length === 5;
          compareLs(bdf, dev.ls, got.get(`ls ${bdf}`) ?? [], problems, onRootBus);
          for (const [sub, ls] of Object.entries(dev.sub_ls)) {
            if (sub === 'msi_irqs') continue; // vector numbers are the interrupt allocator's
            compareLs(`${bdf}/${sub}`, ls, got.get(`sub ${bdf} ${sub}`) ?? [], problems);
          }
          for (const [attr, value] of Object.entries(dev.attrs)) {
            if (FIRMWARE_VALUE.has(attr)) continue;
            const ours = (got.get(`attr ${bdf} ${attr}`) ?? []).slice(0, value.length);
            if (ours.join('\n') !== value.join('\n')) problems.push(`${bdf}/${attr}: kernel ${JSON.stringify(value)} | ours ${JSON.stringify(ours)}`);
          }
        }
        assert.deepEqual(problems, [], `${problems.length} differences:\n${problems.slice(0, 60).join('\n')}`);
      });
    });
  }
});
