// Real pciutils decodes our images: `lspci -F <dump> -vv` reads the `lspci -xxxx` format that
// formatLspciDump writes. Skipped (not passed) when lspci is not installed.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildConfigSpace, formatLspciDump } from '../../../src/pci/config-space';
import type { ConfigFunction } from '../../../src/pci/config-space';
import { inputFromRecording, QEMU_ROOT_PORT, recordedFunctions } from './config-space-fixtures';

const LSPCI = '/usr/bin/lspci';
const haveLspci = fs.existsSync(LSPCI);
let dir = '';

interface Decoded {
  stdout: string;
  /** stderr lines from lspci, less the host's libkmod notice (it looks up kernel modules, not our dump). */
  warnings: string[];
}

function lspci(name: string, dump: string): Decoded {
  const file = path.join(dir, name);
  fs.writeFileSync(file, dump);
  // Names from pci.ids only: a host with udev's hwdb would otherwise name devices differently.
  const r = spawnSync(LSPCI, ['-O', 'hwdb.disable=1', '-F', file, '-vv'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `lspci failed: ${r.stderr}`);
  const warnings = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/Unable to load libkmod resources/.test(l));
  return { stdout: r.stdout, warnings };
}

/** lspci's text for each function, keyed by the address at the start of its title line. */
function byFunction(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f:.]+) /.exec(line);
    if (m && !line.startsWith('\t')) {
      cur = [line];
      out.set(m[1]!, cur);
    } else if (cur && line !== '') cur.push(line);
  }
  return out;
}

function capabilityNames(lines: string[]): string[] {
  return lines
    .filter((l) => /^\tCapabilities: \[/.test(l))
    .map((l) => {
      const m = /^\tCapabilities: \[([0-9a-f]+)(?: v\d+)?\] (.*)$/.exec(l)!;
      return `[${m[1]}] ${m[2]!.split(/[:,]/)[0]!.trim()}`;
    });
}

/**
 * Lines that depend on firmware's or the kernel's resource assignment (BAR addresses, bridge windows, and the
 * AtomicOps line lspci prints only for functions with a memory BAR) or on the MSI-X table
 * size QEMU's nvme derives from its queue and VF settings; everything else must match.
 */
function normalized(lines: string[]): string[] {
  return lines
    .filter((l) => !/^\t+(Region \d|Expansion ROM|I\/O behind bridge|Memory behind bridge|Prefetchable memory behind bridge)/.test(l))
    .filter((l) => !/^\t\t\t AtomicOpsCap: 32bit/.test(l))
    // The MSI message address is the kernel's interrupt (remapping) choice for this host.
    .filter((l) => !/^\t\tAddress: [0-9a-f]+  Data: /.test(l))
    .map((l) => l.replace(/^(\tCapabilities: \[[0-9a-f]+\] MSI-X: Enable[+-]) Count=\d+/, '$1 Count=n'));
}

const rootPort: ConfigFunction = { ...QEMU_ROOT_PORT, multifunctionBit: false };

describe('lspci -F decodes buildConfigSpace images', { skip: haveLspci ? false : 'lspci not installed' }, () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommufs-lspci-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a root port with ACS: bus numbers, slot, ARI forwarding, the ACS registers', () => {
    const d = lspci('rp.dump', formatLspciDump('00:02.0', buildConfigSpace(rootPort)));
    assert.deepEqual(d.warnings, []);
    assert.match(d.stdout, /Bus: primary=00, secondary=01, subordinate=01/);
    assert.match(d.stdout, /Express \(v2\) Root Port \(Slot\+\)/);
    assert.match(d.stdout, /ARIFwd\+/);
    assert.match(d.stdout, /Access Control Services/);
    assert.ok(d.stdout.includes('ACSCap:\tSrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans+'), d.stdout);
    assert.ok(d.stdout.includes('ACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+'), d.stdout);
    assert.match(d.stdout, /Subsystem: Red Hat, Inc\. Device 0000/);
  });

  it('an SR-IOV PF: total VFs, offset, stride, VF device ID, and ARI', () => {
    const pf: ConfigFunction = {
      vendor: 0x1b36,
      device: 0x0010,
      classCode: 0x010802,
      revision: 2,
      headerType: 0,
      multifunctionBit: false,
      pcie: true,
      pcieType: 0,
      ari: { nextFunction: 1 },
      sriov: { total: 4, initial: 4, num: 2, offset: 1, stride: 1, vfDevice: 0x0010, ariHierarchy: true, vfEnable: true },
    };
    const d = lspci('pf.dump', formatLspciDump('01:00.0', buildConfigSpace(pf)));
    assert.deepEqual(d.warnings, []);
    assert.match(d.stdout, /Capabilities: \[120 v1\] Single Root I\/O Virtualization \(SR-IOV\)/);
    assert.match(d.stdout, /Total VFs: 4/);
    assert.match(d.stdout, /Number of VFs: 2/);
    assert.match(d.stdout, /VF offset: 1, stride: 1, Device ID: 0010/);
    assert.match(d.stdout, /IOVCtl:\tEnable\+ Migration- Interrupt- MSE\+ ARIHierarchy\+/);
    assert.match(d.stdout, /Capabilities: \[100 v1\] Alternative Routing-ID Interpretation \(ARI\)/);
  });

  it('a conventional function: no PCI Express capability', () => {
    const f: ConfigFunction = {
      vendor: 0x8086,
      device: 0x1234,
      classCode: 0x020000,
      revision: 1,
      headerType: 0,
      multifunctionBit: true,
      pcie: false,
      pcieType: null,
    };
    const d = lspci('conv.dump', formatLspciDump('02:01.0', buildConfigSpace(f)));
    assert.deepEqual(d.warnings, []);
    assert.doesNotMatch(d.stdout, /Express/);
    assert.match(d.stdout, /Capabilities: \[40\] Power Management/);
    assert.match(d.stdout, /MSI: Enable- Count=1\/1 Maskable- 64bit\+/);
  });

  it('PASID and a PCI-to-PCI bridge with its bus numbers', () => {
    const f: ConfigFunction = { ...rootPort, device: 0x000e, pcieType: 7, primaryBus: 1, secondaryBus: 2, subordinateBus: 3, pasidBits: 20 };
    delete f.acs;
    const d = lspci('bridge.dump', formatLspciDump('01:00.0', buildConfigSpace(f)));
    assert.deepEqual(d.warnings, []);
    assert.match(d.stdout, /Bus: primary=01, secondary=02, subordinate=03/);
    assert.match(d.stdout, /Express \(v2\) PCI-Express to PCI\/PCI-X Bridge/);
    assert.match(d.stdout, /Process Address Space ID \(PASID\)/);
    assert.match(d.stdout, /PASIDCap: Exec- Priv-, Max PASID Width: 14/);
  });

  it('the QEMU root port at rootports 00:02.0: the same capabilities as the kernel recorded', () => {
    const r = recordedFunctions().find((x) => x.machine === 'rootports' && x.bdf === '0000:00:02.0');
    assert.ok(r);
    const theirs = lspci('rec-rp.dump', formatLspciDump(r.bdf, r.bytes));
    const ours = lspci('ours-rp.dump', formatLspciDump(r.bdf, buildConfigSpace(inputFromRecording(r))));
    assert.deepEqual(ours.warnings, []);
    const names = capabilityNames(ours.stdout.split('\n'));
    assert.deepEqual(names, ['[54] Express (v2) Root Port (Slot+)', '[48] MSI-X', '[40] Subsystem', '[100] Advanced Error Reporting', '[148] Access Control Services']);
    assert.deepEqual(names, capabilityNames(theirs.stdout.split('\n')));
  });

  it('every recorded function decodes as the kernel’s bytes do (resource assignments aside)', () => {
    const seen = new Set<string>();
    let rec = '';
    let ours = '';
    for (const r of recordedFunctions()) {
      // One of each machine's functions per phase is enough; lspci keys output by address.
      const key = `${r.machine}/${r.bdf}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const addr = r.bdf.replace(/^0000:/, '');
      const file = key.replace(/[/:.]/g, '_');
      const a = byFunction(lspci(`${file}.rec`, formatLspciDump(r.bdf, r.bytes)).stdout).get(addr);
      const decoded = lspci(`${file}.ours`, formatLspciDump(r.bdf, buildConfigSpace(inputFromRecording(r))));
      assert.deepEqual(decoded.warnings, [], key);
      const b = byFunction(decoded.stdout).get(addr);
      assert.ok(a && b, key);
      assert.deepEqual(capabilityNames(b), capabilityNames(a), `${key}: capabilities`);
      assert.deepEqual(normalized(b), normalized(a), `${key}: decoded registers`);
      rec += a.join('\n');
      ours += b.join('\n');
    }
    assert.ok(seen.size >= 100);
    assert.match(ours, /Single Root I\/O Virtualization/);
    assert.match(rec, /Access Control Services/);
  });
});
