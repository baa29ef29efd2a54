// buildConfigSpace against the real kernel's `config` files: for every recorded function,
// build an image from the facts the topology would give (IDs, role, kernel-set ACS control
// and SR-IOV registers) and check it encodes what QEMU 7.2 presented to Linux 6.1.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildConfigSpace,
  CAP,
  EXT_CAP,
  formatLspciDump,
  parseCapabilities,
  readConfigFacts,
} from '../../../src/pci/config-space';
import type { ConfigFunction } from '../../../src/pci/config-space';
import { inputFromRecording, QEMU_ROOT_PORT, recordedFunctions, u16, u32 } from './config-space-fixtures';

const recorded = recordedFunctions();

function capList(b: Uint8Array): string[] {
  return parseCapabilities(b).map((c) => `${c.extended ? 'ext' : 'std'} 0x${c.id.toString(16)}@0x${c.offset.toString(16)}`);
}

/** Register facts Linux reads at probe time, beyond the IDs (reset methods, link attributes, irq pin). */
function probeFacts(b: Uint8Array): Record<string, number | boolean | null> {
  const caps = parseCapabilities(b);
  const std = (id: number): number | undefined => caps.find((c) => !c.extended && c.id === id)?.offset;
  const exp = std(CAP.EXP);
  const pm = std(CAP.PM);
  return {
    interruptPin: b[0x3d] ?? 0,
    capList: (u16(b, 6) & 0x10) !== 0,
    expVersion: exp === undefined ? null : u16(b, exp + 2) & 0xf,
    slotImplemented: exp === undefined ? null : (u16(b, exp + 2) & 0x100) !== 0,
    flr: exp === undefined ? null : (u32(b, exp + 4) & (1 << 28)) !== 0,
    linkSpeed: exp === undefined ? null : u32(b, exp + 0x0c) & 0xf,
    linkWidth: exp === undefined ? null : (u32(b, exp + 0x0c) >> 4) & 0x3f,
    bandwidthNotification: exp === undefined ? null : (u32(b, exp + 0x0c) & (1 << 21)) !== 0,
    physicalSlot: exp === undefined ? null : u32(b, exp + 0x14) >>> 19,
    noSoftReset: pm === undefined ? null : (u16(b, pm + 4) & 0x8) !== 0,
  };
}

describe('buildConfigSpace against the recorded config files', () => {
  it('has recordings to compare with (every machine, VFs included)', () => {
    assert.ok(recorded.length >= 100, `only ${recorded.length} recorded functions`);
    assert.ok(recorded.some((r) => r.isVf));
    assert.ok(recorded.some((r) => r.bytes.length === 256) && recorded.some((r) => r.bytes.length === 4096));
  });

  for (const r of recorded) {
    it(`${r.machine} ${r.bdf} (${r.attrs['vendor']}:${r.attrs['device']})`, () => {
      const ours = buildConfigSpace(inputFromRecording(r));
      const theirs = r.bytes;
      assert.equal(ours.length, theirs.length, 'config size');
      // IDs, status, revision and class (the command register holds firmware and driver state).
      assert.deepEqual(Array.from(ours.subarray(0, 4)), Array.from(theirs.subarray(0, 4)), 'vendor/device');
      assert.deepEqual(Array.from(ours.subarray(6, 0x0c)), Array.from(theirs.subarray(6, 0x0c)), 'status/revision/class');
      assert.equal(ours[0x0e], theirs[0x0e], 'header type');
      assert.equal(u16(ours, 4) & 0x4, u16(theirs, 4) & 0x4, 'bus master');
      assert.deepEqual(capList(ours), capList(theirs), 'capability chains');
      const a = readConfigFacts(ours);
      const b = readConfigFacts(theirs);
      assert.deepEqual(a, b, 'subsystem, buses, PCIe type, ACS, ARI, SR-IOV, PASID');
      assert.deepEqual(probeFacts(ours), probeFacts(theirs), 'probe-time register facts');
    });
  }
});

const rootPort = QEMU_ROOT_PORT;

const endpoint: ConfigFunction = {
  vendor: 0x15b3,
  device: 0x1017,
  classCode: 0x020000,
  revision: 0,
  subsystem: { vendor: 0x15b3, device: 0x0020 },
  headerType: 0,
  multifunctionBit: false,
  pcie: true,
  pcieType: 0,
};

describe('buildConfigSpace encodings', () => {
  it('is deterministic', () => {
    assert.deepEqual(buildConfigSpace(rootPort), buildConfigSpace(rootPort));
  });

  it('sizes: 4096 bytes for PCI Express, 256 for conventional functions', () => {
    assert.equal(buildConfigSpace(endpoint).length, 4096);
    assert.equal(buildConfigSpace({ ...endpoint, pcie: false, pcieType: null }).length, 256);
  });

  it('a conventional function has no PCIe capability and no extended chain', () => {
    const b = buildConfigSpace({ ...endpoint, pcie: false, pcieType: null, acs: { cap: 0x1f, ctrl: 0x1d } });
    const caps = parseCapabilities(b);
    assert.ok(caps.length > 0);
    assert.ok(caps.every((c) => !c.extended));
    assert.equal(caps.find((c) => c.id === CAP.EXP), undefined);
  });

  it('header type carries the multifunction bit; bridges get bus numbers and the SSVID cap', () => {
    const b = buildConfigSpace({ ...rootPort, primaryBus: 2, secondaryBus: 3, subordinateBus: 7, subsystem: { vendor: 0x8086, device: 0x7270 } });
    assert.equal(b[0x0e], 0x81);
    assert.deepEqual([b[0x18], b[0x19], b[0x1a]], [2, 3, 7]);
    const f = readConfigFacts(b);
    assert.deepEqual(f.subsystem, { vendor: 0x8086, device: 0x7270 });
    assert.equal(buildConfigSpace({ ...rootPort, multifunctionBit: false })[0x0e], 0x01);
  });

  it('a PCIe-to-PCI bridge model without SSVID gains one when the topology names subsystem IDs', () => {
    const bridge: ConfigFunction = { ...rootPort, device: 0x000e, pcieType: 7, subsystem: { vendor: 0x1234, device: 0x5678 } };
    delete bridge.acs;
    assert.deepEqual(readConfigFacts(buildConfigSpace(bridge)).subsystem, { vendor: 0x1234, device: 0x5678 });
    const plain = { ...bridge };
    delete plain.subsystem;
    assert.equal(readConfigFacts(buildConfigSpace(plain)).subsystem, null);
  });

  it('type 0 subsystem IDs default to vendor/device, as the sysfs layer shows them', () => {
    const e = { ...endpoint };
    delete e.subsystem;
    assert.deepEqual(readConfigFacts(buildConfigSpace(e)).subsystem, { vendor: 0x15b3, device: 0x1017 });
  });

  it('PCIe port type, slot, and ARI forwarding in DEVCAP2/DEVCTL2', () => {
    for (const type of [4, 5, 6]) {
      const b = buildConfigSpace({ ...rootPort, pcieType: type });
      assert.equal(readConfigFacts(b).pcieType, type);
      const exp = parseCapabilities(b).find((c) => c.id === CAP.EXP)!.offset;
      assert.equal((u16(b, exp + 2) & 0x100) !== 0, type !== 5, `slot implemented for type ${type}`);
      assert.equal(u32(b, exp + 0x24) & 0x20, 0x20);
      assert.equal(u16(b, exp + 0x28) & 0x20, 0);
    }
    const on = buildConfigSpace({ ...rootPort, ariForwardingEnabled: true });
    const exp = parseCapabilities(on).find((c) => c.id === CAP.EXP)!.offset;
    assert.equal(u16(on, exp + 0x28) & 0x20, 0x20);
    const off = buildConfigSpace({ ...rootPort, ariForwardingSupported: false });
    assert.equal(u32(off, exp + 0x24) & 0x20, 0);
  });

  it('ACS keeps the capability and the enabled control bits; EC adds a 256-bit egress vector', () => {
    const f = readConfigFacts(buildConfigSpace(rootPort));
    assert.deepEqual(f.acs, { cap: 0x5f, ctrl: 0x1d });
    const withEc = buildConfigSpace({ ...rootPort, acs: { cap: 0x7f, ctrl: 0x1d }, pasidBits: 20 });
    assert.deepEqual(readConfigFacts(withEc).acs, { cap: 0x7f, ctrl: 0x1d });
    const caps = parseCapabilities(withEc).filter((c) => c.extended);
    const acs = caps.find((c) => c.id === EXT_CAP.ACS)!;
    const next = caps[caps.indexOf(acs) + 1]!;
    assert.ok(next.offset >= acs.offset + 8 + 32, 'the next capability starts past the egress vector');
  });

  it('SR-IOV PF: ARI then SR-IOV with total, NumVFs, offset, stride, VF device and control bits', () => {
    const b = buildConfigSpace({
      ...endpoint,
      vendor: 0x1b36,
      device: 0x0010,
      classCode: 0x010802,
      ari: { nextFunction: 1 },
      sriov: { total: 4, initial: 4, num: 2, offset: 1, stride: 1, vfDevice: 0x0010, ariHierarchy: true, vfEnable: true },
    });
    assert.deepEqual(capList(b).filter((c) => c.startsWith('ext')), ['ext 0xe@0x100', 'ext 0x10@0x120']);
    const f = readConfigFacts(b);
    assert.deepEqual(f.sriov, { total: 4, initial: 4, num: 2, offset: 1, stride: 1, vfDevice: 0x10, control: 0x19 });
    assert.equal(f.ariNextFunction, 1);
  });

  it('SR-IOV alone still starts the extended chain at 0x100', () => {
    // QEMU's nvme places ARI at 0x100 and SR-IOV at 0x120; without ARI, SR-IOV moves down.
    const b = buildConfigSpace({
      ...endpoint,
      vendor: 0x1b36,
      device: 0x0010,
      sriov: { total: 8, initial: 8, num: 0, offset: 2, stride: 2, vfDevice: 0x1018, ariHierarchy: false, vfEnable: false },
    });
    assert.deepEqual(capList(b).filter((c) => c.startsWith('ext')), ['ext 0x10@0x100']);
    assert.equal(readConfigFacts(b).sriov?.control, 0);
  });

  it('a VF reads 0xffff IDs, is not multifunction, has no SR-IOV capability', () => {
    const b = buildConfigSpace({
      ...endpoint,
      multifunctionBit: true,
      isVf: true,
      ari: { nextFunction: 0 },
      sriov: { total: 4, initial: 4, num: 0, offset: 1, stride: 1, vfDevice: 0x1018, ariHierarchy: false, vfEnable: false },
    });
    assert.equal(u16(b, 0), 0xffff);
    assert.equal(u16(b, 2), 0xffff);
    assert.equal(b[0x0e], 0);
    assert.equal(u16(b, 4), 0);
    assert.deepEqual(capList(b).filter((c) => c.startsWith('ext')), ['ext 0xe@0x100']);
  });

  it('PASID carries its max width', () => {
    assert.equal(readConfigFacts(buildConfigSpace({ ...endpoint, pasidBits: 20 })).pasidBits, 20);
    assert.equal(readConfigFacts(buildConfigSpace(endpoint)).pasidBits, null);
  });

  it('every standard chain stays in 0x40-0xff without overlaps, every extended one from 0x100', () => {
    const variants: ConfigFunction[] = [
      rootPort,
      { ...rootPort, pcieType: 5, pasidBits: 8, aer: true, dsn: 7n },
      { ...rootPort, pcieType: 6 },
      { ...rootPort, pcieType: 7 },
      { ...rootPort, pcieType: 8 },
      { ...rootPort, pcie: false, pcieType: null },
      endpoint,
      { ...endpoint, pcieType: 9, pasidBits: 20, aer: true, acs: { cap: 0x7f, ctrl: 0 }, ari: { nextFunction: 2 } },
      { ...endpoint, pcieType: 0xa },
      { ...endpoint, vendor: 0x8086, device: 0x10d3 },
      { ...endpoint, vendor: 0x1af4, device: 0x1041 },
      { ...endpoint, pcie: false, pcieType: null },
      { ...endpoint, pcie: false, pcieType: null, classCode: 0x060000 },
    ];
    for (const v of variants) {
      const caps = parseCapabilities(buildConfigSpace(v));
      const std = caps.filter((c) => !c.extended);
      for (const c of std) assert.ok(c.offset >= 0x40 && c.offset < 0x100);
      assert.equal(new Set(std.map((c) => c.offset)).size, std.length);
      const ext = caps.filter((c) => c.extended);
      if (ext.length) assert.equal(ext[0]!.offset, 0x100);
      if (v.pcie) assert.ok(std.some((c) => c.id === CAP.EXP), 'PCIe capability present');
    }
  });
});

describe('formatLspciDump', () => {
  it('prints a title line and 16 bytes a line with lspci -xxxx offsets', () => {
    const text = formatLspciDump('0000:00:02.0', buildConfigSpace(rootPort));
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '00:02.0 Class 0604: Device 1b36:000c');
    assert.equal(lines.length, 1 + 256);
    assert.match(lines[1]!, /^00: 36 1b 0c 00 /);
    assert.match(lines[16]!, /^f0: /);
    assert.match(lines[17]!, /^100: 01 00 82 14 /);
    assert.ok(text.endsWith('\n\n'));
    assert.match(formatLspciDump('0001:40:00.1', new Uint8Array(256)).split('\n')[0]!, /^0001:40:00\.1 /);
    assert.throws(() => formatLspciDump('nonsense', new Uint8Array(256)));
  });
});
