// The device model of real hardware: class defaults (capability layouts, link widths and
// speeds), the link training rule, and the topology's model keys as config space shows them.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Machine } from '../../../src/engine/machine';
import { buildConfigSpace, findCapability, parseCapabilities, subsystemOf } from '../../../src/pci/config-space';
import type { ConfigFunction } from '../../../src/pci/config-space';
import { linkInfo } from '../../../src/pci/config-read';
import { loadTopology } from '../../../src/topology/load';
import { pciDevice } from '../../helpers/machines';
import { u16, u32 } from './config-space-fixtures';

const EXP = 0x10;

function boot(yaml: string): Machine {
  const r = loadTopology(yaml, 'x.yaml');
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col} ${e.message}`).join('\n'));
  return Machine.boot(r.topology);
}

/** LNKCAP and LNKSTA speed code and width, and LNKSTA's DL Link Active bit. */
function link(b: Uint8Array): { cap: [number, number]; sta: [number, number]; dlActive: boolean } {
  const exp = findCapability(b, EXP, false)!;
  const cap = u32(b, exp + 0x0c);
  const sta = u16(b, exp + 0x12);
  return { cap: [cap & 0xf, (cap >> 4) & 0x3f], sta: [sta & 0xf, (sta >> 4) & 0x3f], dlActive: (sta & 0x2000) !== 0 };
}

const stdCaps = (b: Uint8Array): string[] =>
  parseCapabilities(b)
    .filter((c) => !c.extended)
    .map((c) => `${c.id.toString(16)}@${c.offset.toString(16)}`);

describe('the link training rule: the lower speed and width of both ends', () => {
  const m = boot(`version: 1
pci:
  - devices:
      "00.0": { id: 8086:0e00, class: 0x060000, type: host-bridge }
      "01.0":
        id: 8086:0e02
        type: root-port
        link: { speed: 8GT/s, width: 8 }
        devices:
          "00.0": { id: 10de:2204, class: 0x030000 }
          "00.1": { id: 10de:1aef, class: 0x040300 }
      "02.0": { id: 8086:0e04, type: root-port }
      "03.0":
        id: 8086:0e08
        type: root-port
        devices:
          "00.0": { id: 144d:a808, class: 0x010802 }
      "04.0":
        id: 1b36:000c
        type: root-port
        devices:
          "00.0": { id: 8086:10d3, class: 0x020000 }
      "05.0":
        id: 8086:0e0a
        type: root-port
        devices:
          "00.0": { id: 8086:1572, class: 0x020000, link-status: { width: 4 } }
`);
  const at = (name: string) => link(m.configBytes(pciDevice(m, name)));

  it('a GPU x16 at 16 GT/s under a port of 8 GT/s x8 trains at 8 GT/s x8, and both ends say so', () => {
    assert.deepEqual(at('0000:01:00.0'), { cap: [4, 16], sta: [3, 8], dlActive: false });
    assert.deepEqual(at('0000:00:01.0'), { cap: [3, 8], sta: [3, 8], dlActive: true });
  });

  it('the other functions of a device have its link (the GPU audio function)', () => {
    assert.deepEqual(at('0000:01:00.1').cap, [4, 16]);
    assert.deepEqual(at('0000:01:00.1').sta, [3, 8]);
  });

  it('sysfs reads as Linux prints it (pcie_get_speed_cap via LNKCAP2, pci_speed_string)', () => {
    const d = pciDevice(m, '0000:01:00.0');
    assert.deepEqual(linkInfo(m.configBytes(d), d.fn.pcieType), { maxSpeed: '16.0 GT/s PCIe', maxWidth: 16, curSpeed: '8.0 GT/s PCIe', curWidth: 8 });
  });

  it('an empty hardware slot: link down at 2.5 GT/s x0, DL inactive', () => {
    assert.deepEqual(at('0000:00:02.0'), { cap: [3, 4], sta: [1, 0], dlActive: false });
  });

  it('a port without link is as wide as its card (NVMe x4) at 8 GT/s', () => {
    assert.deepEqual(at('0000:00:03.0'), { cap: [3, 4], sta: [3, 4], dlActive: true });
    assert.deepEqual(at('0000:03:00.0'), { cap: [3, 4], sta: [3, 4], dlActive: false });
  });

  it('QEMU models keep QEMU 7.2: a root port of 16 GT/s x32 and an e1000e, both at 2.5 GT/s x1', () => {
    assert.deepEqual(at('0000:00:04.0'), { cap: [4, 32], sta: [1, 1], dlActive: false });
    assert.deepEqual(at('0000:04:00.0'), { cap: [1, 1], sta: [1, 1], dlActive: false });
  });

  it('link-status on one end is what both ends show (a NIC x8 trained at x4)', () => {
    assert.deepEqual(at('0000:05:00.0').sta, [3, 4]);
    assert.deepEqual(at('0000:00:05.0').sta, [3, 4]);
    assert.deepEqual(at('0000:00:05.0').cap, [3, 8], 'the port fits the card it was built for');
  });

  it('port numbers: real root ports count from 1 on their bus, QEMU ports 0', () => {
    const port = (name: string): number => u32(m.configBytes(pciDevice(m, name)), findCapability(m.configBytes(pciDevice(m, name)), EXP, false)! + 0x0c) >>> 24;
    assert.deepEqual(['0000:00:01.0', '0000:00:02.0', '0000:00:04.0', '0000:00:05.0'].map(port), [1, 2, 0, 5]);
  });
});

const fn = (over: Partial<ConfigFunction>): ConfigFunction => ({
  vendor: 0x10de,
  device: 0x2204,
  classCode: 0x030000,
  revision: 0,
  headerType: 0,
  multifunctionBit: false,
  pcie: true,
  pcieType: 0,
  ...over,
});

describe('class defaults of real hardware', () => {
  it('VGA: PM (NoSoftRst+), 64-bit MSI, PCIe 4.0 x16, no FLR', () => {
    const b = buildConfigSpace(fn({}));
    assert.deepEqual(stdCaps(b), ['1@60', '5@68', '10@78']);
    assert.deepEqual(link(b).cap, [4, 16]);
    assert.equal(u32(b, 0x78 + 4) & (1 << 28), 0);
    assert.equal(u16(b, 0x60 + 4) & 0x8, 0x8);
  });

  it('NVMe: PCIe 3.0 x4, MSI with 32 vectors, MSI-X 33 vectors in BAR 0 at 0x2000, PBA at 0x3000', () => {
    const b = buildConfigSpace(fn({ vendor: 0x144d, device: 0xa808, classCode: 0x010802 }));
    assert.deepEqual(link(b).cap, [3, 4]);
    assert.equal((u16(b, 0x50 + 2) >> 1) & 7, 5, 'Multiple Message Capable: 32');
    assert.equal(u16(b, 0xb0 + 2) & 0x7ff, 32);
    assert.equal(u32(b, 0xb0 + 4), 0x2000);
    assert.equal(u32(b, 0xb0 + 8), 0x3000);
  });

  it('Ethernet: PCIe 3.0 x8; another endpoint: PCIe 3.0 x1', () => {
    assert.deepEqual(link(buildConfigSpace(fn({ vendor: 0x8086, device: 0x1572, classCode: 0x020000 }))).cap, [3, 8]);
    assert.deepEqual(link(buildConfigSpace(fn({ vendor: 0x1b21, device: 0x2142, classCode: 0x0c0330 }))).cap, [3, 1]);
  });

  it('a switch downstream port: PM, MSI, Express, SSVID with its own IDs; its slot is not hot-plug capable', () => {
    const f = fn({ vendor: 0x10b5, device: 0x8747, classCode: 0x060400, headerType: 1, pcieType: 6, physicalSlot: 8 });
    const b = buildConfigSpace(f);
    assert.deepEqual(stdCaps(b), ['1@40', '5@48', '10@68', 'd@a4']);
    assert.deepEqual({ vendor: u16(b, 0xa4 + 4), device: u16(b, 0xa4 + 6) }, { vendor: 0x10b5, device: 0x8747 });
    assert.deepEqual(subsystemOf(f), { vendor: 0x10b5, device: 0x8747 });
    const sltcap = u32(b, 0x68 + 0x14);
    assert.equal(sltcap & 0x40, 0, 'not hot-plug capable');
    assert.equal(sltcap >>> 19, 8);
    assert.equal(u32(buildConfigSpace({ ...f, hotplug: true }), 0x68 + 0x14) & 0x40, 0x40);
  });

  it('a PCI bridge (82801): only SSVID; the slot numbering capability with a chassis, SHPC with hotplug', () => {
    const f = fn({ vendor: 0x8086, device: 0x244e, classCode: 0x060401, headerType: 1, pcie: false, pcieType: null });
    assert.deepEqual(stdCaps(buildConfigSpace(f)), ['d@50']);
    const b = buildConfigSpace({ ...f, chassis: 3, hotplug: true });
    assert.deepEqual(stdCaps(b), ['d@50', '4@58', 'c@5c']);
    assert.equal(b[0x58 + 3], 3);
  });

  it("QEMU's pci-bridge keeps its slot numbering and SHPC capabilities", () => {
    const f = fn({ vendor: 0x1b36, device: 0x0001, classCode: 0x060400, headerType: 1, pcie: false, pcieType: null, chassis: 2 });
    const b = buildConfigSpace(f);
    assert.deepEqual(stdCaps(b), ['5@4c', '4@48', 'c@40']);
    assert.equal(b[0x48 + 3], 2);
    assert.deepEqual(subsystemOf(f), { vendor: 0, device: 0 });
  });

  it('msi, msix and pm from the topology replace the model\'s', () => {
    const b = buildConfigSpace(fn({ msi: { vectors: 8, masking: true }, msixVectors: 300, pm: { version: 3, d1: true, d2: false, pme: 0b11001 } }));
    const msi = findCapability(b, 0x05, false)!;
    assert.equal(u16(b, msi + 2), (3 << 1) | 0x80 | 0x100);
    const msix = findCapability(b, 0x11, false)!;
    assert.equal(u16(b, msix + 2) & 0x7ff, 299);
    assert.equal(u32(b, msix + 8), 0x4000, 'the PBA after a table of 300 entries');
    assert.equal(u16(b, findCapability(b, 0x01, false)! + 2), 3 | 0x200 | (0b11001 << 11));
    const none = buildConfigSpace(fn({ msi: { vectors: 0 }, pm: null }));
    assert.deepEqual(stdCaps(none), ['10@78']);
  });

  it('max_link_speed: a capability without LNKCAP2 is read from LNKCAP, where only 2.5 and 5 GT/s are known', () => {
    const b = buildConfigSpace(fn({}));
    assert.equal(linkInfo(b, 0)?.maxSpeed, '16.0 GT/s PCIe');
    b.fill(0, 0x78 + 0x2c, 0x78 + 0x30);
    assert.equal(linkInfo(b, 0)?.maxSpeed, 'Unknown', 'pcie_get_speed_cap: LNKCAP code 4 without LNKCAP2');
  });
});
