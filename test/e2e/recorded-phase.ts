// A mounted tree compared with one phase a kernel recording dumped (test/fixtures/reference):
// `ls -la` of every group and device directory (names, modes, sizes, nlink, link targets)
// and of each device's recorded subdirectories, each group's type and reserved regions, the
// bus link, and the text of every recorded attribute, read with real `ls`, `cat` and
// `readlink` on the mount. Entries whose content comes from firmware are left out; what else
// is left out is each caller's documented skip list.

import { q, sh } from './harness';
import type { RecordedPhase } from '../helpers/reference';

/** Entries that come from ACPI, not from the kernel's rules. (resourceN, resourceN_wc and
 * rom are compared: the assignment reproduces SeaBIOS's, pci/resources/assign.ts.) */
const FIRMWARE_ENTRY = /^(firmware_node|waiting_for_supplier)$/;
/** Attribute values that are the firmware's (IRQ routing, CPU masks); `resource` is compared. */
const FIRMWARE_VALUE = new Set(['irq', 'local_cpus', 'local_cpulist', 'waiting_for_supplier']);

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

/**
 * msi_irqs holds one file per vector named by its Linux IRQ number, which the interrupt
 * allocator hands out (and which an asynchronous nvme probe races for): the number of
 * vectors and the modes are compared, not the numbers.
 */
function compareMsiIrqs(where: string, theirs: string[], ours: string[], problems: string[]): void {
  const shape = (lines: string[], dateFields: number): string[] =>
    [...parseLs(lines, dateFields).values()].filter((e) => e.name !== '.' && e.name !== '..').map((e) => `${e.perms} ${e.size}`);
  const a = shape(theirs, 3);
  const b = shape(ours, 1);
  if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${where}: kernel ${a.length} vectors ${JSON.stringify(a)} | ours ${b.length} ${JSON.stringify(b)}`);
}

/** The config space registers a driver's probe and remove set, as text: command bus master
 * (compared only on bridges and on devices the recording shows bound: firmware may leave it
 * on an unbound device, as SeaBIOS does on the NVMe it booted from), INTx disable, the MSI and MSI-X
 * enable bits and the PMCSR power state. */
export function driverRegisters(b: Uint8Array, withBusMaster: boolean): string {
  const u16 = (o: number): number => (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
  const caps = new Map<number, number>();
  if (u16(6) & 0x10) for (let p = (b[0x34] ?? 0) & 0xfc, ttl = 48; p >= 0x40 && ttl > 0; p = (b[p + 1] ?? 0) & 0xfc, ttl--) if (!caps.has(b[p]!)) caps.set(b[p]!, p);
  const out = [`INTxDisable=${(u16(4) >> 10) & 1}`];
  if (withBusMaster) out.push(`BusMaster=${(u16(4) >> 2) & 1}`);
  const msi = caps.get(0x05);
  if (msi !== undefined) out.push(`MSI=${u16(msi + 2) & 1}`);
  const msix = caps.get(0x11);
  if (msix !== undefined) out.push(`MSI-X=${u16(msix + 2) >> 15}`);
  const pm = caps.get(0x01);
  if (pm !== undefined) out.push(`D${u16(pm + 4) & 3}`);
  return out.join(' ');
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

/** Every difference between the mount at `mnt` and the recorded phase, one line each. */
export async function comparePhase(mnt: string, rec: RecordedPhase): Promise<string[]> {
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
    // Subdirectories the kernel has and we may lack (or the reverse) are listed either way.
    lines.push(`for s in power msi_irqs; do [ -d ${dir}/$s ] && { echo "@@ sub ${bdf} $s"; ls -la --time-style=+T ${dir}/$s; }; done`);
    for (const attr of Object.keys(dev.attrs)) lines.push(`echo '@@ attr ${bdf} ${attr}'; cat ${dir}/${attr}`);
    lines.push(`echo '@@ config ${bdf}'; od -An -tx1 -v ${dir}/config | tr -s ' \\n' '  '; echo`);
  }
  // The IOMMU units' attributes the dump printed as "path: value" (classiommu section).
  const unitAttrs = (rec.sections['classiommu'] ?? []).map((l) => /^\/sys\/(class\/iommu\/\S+): (.*)$/.exec(l)).filter((x): x is RegExpExecArray => x !== null);
  for (const [, path] of unitAttrs) lines.push(`echo '@@ unit ${path}'; cat ${path}`);
  const got = await sections(lines.join('\n'));
  for (const [, path, value] of unitAttrs) {
    const ours = (got.get(`unit ${path}`) ?? [])[0];
    if (ours !== value) problems.push(`${path}: kernel ${value} | ours ${ours}`);
  }
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
    for (const sub of ['power', 'msi_irqs']) {
      const theirs = dev.sub_ls[sub];
      const ours = got.get(`sub ${bdf} ${sub}`);
      if (theirs === undefined && ours === undefined) continue;
      if (theirs === undefined || ours === undefined) {
        problems.push(`${bdf}/${sub}: kernel ${theirs ? 'has it' : 'has none'} | ours ${ours ? 'has it' : 'has none'}`);
        continue;
      }
      if (sub === 'msi_irqs') compareMsiIrqs(`${bdf}/${sub}`, theirs, ours, problems);
      else compareLs(`${bdf}/${sub}`, theirs, ours, problems);
    }
    const bound = dev.links.driver !== undefined;
    const theirCfg = Uint8Array.from(dev.config_hex.trim().split(/\s+/).map((h) => parseInt(h, 16)));
    const ourCfg = Uint8Array.from((got.get(`config ${bdf}`) ?? [''])[0]!.trim().split(/\s+/).filter(Boolean).map((h) => parseInt(h, 16)));
    // Bridges too: pci_enable_bridges makes them bus masters whatever is bound.
    const master = bound || (theirCfg[0x0e]! & 0x7f) === 1;
    const a = driverRegisters(theirCfg, master);
    const b = driverRegisters(ourCfg, master);
    if (a !== b) problems.push(`${bdf}/config: kernel ${a} | ours ${b}`);
    for (const [attr, value] of Object.entries(dev.attrs)) {
      if (FIRMWARE_VALUE.has(attr)) continue;
      const ours = got.get(`attr ${bdf} ${attr}`) ?? [];
      // cat prints the file as is; the recording kept its lines without the final newline.
      if (ours[ours.length - 1] === '') ours.pop();
      if (ours.join('\n') !== value.join('\n')) problems.push(`${bdf}/${attr}: kernel ${JSON.stringify(value)} | ours ${JSON.stringify(ours)}`);
    }
  }
  return problems;
}
