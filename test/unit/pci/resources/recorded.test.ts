// The assignment against SeaBIOS's and Linux's on the recorded QEMU machines: every
// device's `resource` file and its BAR, ROM and window registers, exactly as recorded, and
// the resourceN/rom files the kernel created, with their sizes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resourceText } from '../../../../src/sysfs/pci-resources';
import { rescanAll, removeSubtree } from '../../../../src/engine/hotplug';
import { enableVfs } from '../../../../src/engine/sriov';
import { bootShipped, pciDevice } from '../../../helpers/machines';
import { FIXTURES } from '../../../helpers/paths';
import { MACHINES, recording } from '../../../helpers/reference';
import { resourceProblems } from '../../../helpers/resources';

interface Rec {
  resource: string[];
  config: Uint8Array;
  files: string[];
}

const bytes = (hex: string): Uint8Array => Uint8Array.from((hex.replace(/\s+/g, '').match(/../g) ?? []).map((h) => parseInt(h, 16)));
/** `ls -la` lines → "name size" of the resource files. */
const resourceFiles = (ls: string[]): string[] =>
  ls
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => /^(resource\d+(_wc)?|rom)$/.test(w[w.length - 1]!))
    .map((w) => `${w[0]} ${w[w.length - 1]} ${w[4]}`)
    .sort();

function recorded(name: string): Map<string, Rec> {
  const out = new Map<string, Rec>();
  if (name === 'sriov') {
    const j = JSON.parse(readFileSync(join(FIXTURES, 'reference', 'sriov.json'), 'utf8')) as {
      phases: Record<string, { pci_devices: Record<string, { attrs: Record<string, string>; config_hex: string; ls: { name: string; perm: string; size: number }[] }> }>;
    };
    // After sriov_numvfs = 2: the PF's SR-IOV BARs, the VFs' slices of them.
    for (const [bdf, d] of Object.entries(j.phases['after_sriov_numvfs_2']!.pci_devices)) {
      const files = d.ls.filter((e) => /^(resource\d+(_wc)?|rom)$/.test(e.name)).map((e) => `${e.perm} ${e.name} ${e.size}`);
      out.set(bdf, { resource: d.attrs['resource']!.replace(/\n$/, '').split('\n'), config: bytes(d.config_hex), files: files.sort() });
    }
    return out;
  }
  for (const [bdf, d] of Object.entries(recording(name).phases.boot.devices)) out.set(bdf, { resource: d.attrs['resource']!, config: bytes(d.config_hex), files: resourceFiles(d.ls) });
  return out;
}

/** BARs (0x10-0x27 or 0x10-0x17), ROM BAR and a bridge's window registers, as hex. */
function resourceRegisters(c: Uint8Array): string {
  const hex = (from: number, to: number): string => Array.from(c.subarray(from, to), (b) => b.toString(16).padStart(2, '0')).join('');
  const bridge = (c[0x0e]! & 0x7f) === 1;
  return bridge ? `bars ${hex(0x10, 0x18)} windows ${hex(0x1c, 0x1e)} ${hex(0x20, 0x34)} rom ${hex(0x38, 0x3c)}` : `bars ${hex(0x10, 0x28)} rom ${hex(0x30, 0x34)}`;
}

describe('resources on the recorded machines (SeaBIOS, then Linux)', () => {
  for (const name of [...MACHINES, 'sriov']) {
    it(`qemu-${name}: resource, BAR/ROM/window registers, resource files`, () => {
      const m = bootShipped(`qemu-${name}`);
      // The recording's second phase: sriov_numvfs = 2 (with the PF's driver bound).
      if (name === 'sriov') enableVfs(m, pciDevice(m, '0000:01:00.0'), 2);
      const problems: string[] = [];
      for (const [bdf, rec] of recorded(name)) {
        const d = m.devices.get(bdf);
        if (!d || d.kind !== 'pci') {
          problems.push(`${bdf}: missing`);
          continue;
        }
        const view = m.resources.view(d.fn);
        const ours = resourceText(view.lines).split('\n');
        if (ours.join('\n') !== rec.resource.join('\n')) problems.push(`${bdf} resource:\n  kernel ${rec.resource.join('\n         ')}\n  ours   ${ours.join('\n         ')}`);
        const a = resourceRegisters(rec.config);
        const b = resourceRegisters(m.configBytes(d));
        if (a !== b) problems.push(`${bdf} registers: kernel ${a} | ours ${b}`);
        const files = [
          ...view.files.flatMap((f) => [`-rw------- resource${f.index} ${f.size}`, ...(f.prefetch ? [`-rw------- resource${f.index}_wc ${f.size}`] : [])]),
          ...(view.romSize ? [`-rw------- rom ${view.romSize}`] : []),
        ].sort();
        if (files.join() !== rec.files.join()) problems.push(`${bdf} files: kernel ${rec.files.join(', ')} | ours ${files.join(', ')}`);
      }
      assert.deepEqual(problems, [], problems.join('\n'));
    });
  }
});

describe('a rescan places what it finds again as Linux does', () => {
  it('qemu-writes: 00:05.1 removed and rescanned gets the windows and BARs of the recording\'s after phase', () => {
    const m = bootShipped('qemu-writes');
    const rec = recording('writes').phases.after!.devices;
    removeSubtree(m, pciDevice(m, '0000:00:05.1'));
    rescanAll(m, '1');
    for (const bdf of ['0000:00:05.1', '0000:05:00.0']) {
      assert.deepEqual(resourceText(m.resources.view(pciDevice(m, bdf).fn).lines).split('\n'), rec[bdf]!.attrs['resource'], bdf);
    }
    assert.deepEqual(resourceProblems(m), []);
  });
});
