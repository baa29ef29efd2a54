// DMA alias quirks (drivers/pci/quirks.c header/final fixups that call pci_add_dma_alias
// or set PCIE_BRIDGE_ALIAS / BRIDGE_XLATE_ROOT).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DMA_ALIAS_QUIRK_ROWS, dmaAliasQuirks } from '../../../src/pci/quirks/dma-alias-quirks';
import type { DmaAliasSubject } from '../../../src/pci/quirks/dma-alias-quirks';

const devfn = (slot: number, fn: number): number => (slot << 3) | fn;

function dev(vendor: number, device: number, more: Partial<DmaAliasSubject> = {}): DmaAliasSubject {
  return { vendor, device, classCode: 0x010600, devfn: 0, headerType: 0, pcie: true, onRootBus: false, ...more };
}

describe('DMA alias quirks: alias devfns', () => {
  const cases: { what: string; dev: DmaAliasSubject; aliases: number[]; source?: string }[] = [
    { what: 'Ricoh e832 fn 1 aliases fn 0 of its slot', dev: dev(0x1180, 0xe832, { devfn: devfn(0, 1) }), aliases: [devfn(0, 0)], source: 'quirk_dma_func0_alias' },
    { what: 'Ricoh e476 fn 3 at slot 5 aliases 05.0', dev: dev(0x1180, 0xe476, { devfn: devfn(5, 3) }), aliases: [devfn(5, 0)], source: 'quirk_dma_func0_alias' },
    { what: 'Ricoh fn 0 gets no alias', dev: dev(0x1180, 0xe832, { devfn: devfn(0, 0) }), aliases: [] },
    { what: 'Glenfly 3d41 fn 1 aliases fn 0', dev: dev(0x6766, 0x3d41, { devfn: devfn(0, 1) }), aliases: [devfn(0, 0)], source: 'quirk_dma_func0_alias' },
    { what: 'Marvell 9230 fn 0 aliases fn 1', dev: dev(0x1b4b, 0x9230, { devfn: devfn(0, 0) }), aliases: [devfn(0, 1)], source: 'quirk_dma_func1_alias' },
    { what: 'Marvell 9172 at slot 3 aliases 03.1', dev: dev(0x1b4b, 0x9172, { devfn: devfn(3, 0) }), aliases: [devfn(3, 1)], source: 'quirk_dma_func1_alias' },
    { what: 'Marvell 9230 fn 1 itself gets no alias', dev: dev(0x1b4b, 0x9230, { devfn: devfn(0, 1) }), aliases: [] },
    { what: 'Marvell 9231 is not listed', dev: dev(0x1b4b, 0x9231), aliases: [] },
    { what: 'TTI 0645 aliases fn 1', dev: dev(0x1103, 0x0645), aliases: [1], source: 'quirk_dma_func1_alias' },
    { what: 'JMicron JMB388 ESD aliases fn 1', dev: dev(0x197b, 0x2392), aliases: [1], source: 'quirk_dma_func1_alias' },
    { what: 'Lite-On Plextor M6E aliases fn 1', dev: dev(0x1c28, 0x0122), aliases: [1], source: 'quirk_dma_func1_alias' },
    { what: 'Adaptec 3405 (subsystem 9005:02bb) aliases 01.0', dev: dev(0x9005, 0x0285, { devfn: devfn(0xe, 0), subsystem: { vendor: 0x9005, device: 0x02bb } }), aliases: [devfn(1, 0)], source: 'quirk_fixed_dma_alias' },
    { what: 'Adaptec 3805 (subsystem 9005:02bc) aliases 01.0', dev: dev(0x9005, 0x0285, { subsystem: { vendor: 0x9005, device: 0x02bc } }), aliases: [devfn(1, 0)], source: 'quirk_fixed_dma_alias' },
    { what: 'Adaptec 0285 with another subsystem gets nothing', dev: dev(0x9005, 0x0285, { subsystem: { vendor: 0x9005, device: 0x0286 } }), aliases: [] },
    { what: 'Adaptec 0285 without a subsystem gets nothing', dev: dev(0x9005, 0x0285), aliases: [] },
    { what: 'MIC x200 aliases 10.0, 11.0 and 12.3', dev: dev(0x8086, 0x2264), aliases: [devfn(0x10, 0), devfn(0x11, 0), devfn(0x12, 3)], source: 'quirk_mic_x200_dma_alias' },
    { what: 'an unlisted device gets nothing', dev: dev(0x1af4, 0x1041, { devfn: devfn(2, 1) }), aliases: [] },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const r = dmaAliasQuirks(c.dev);
      assert.deepEqual(r.aliasDevfns, c.aliases);
      assert.equal(r.pcieBridgeAlias, false);
      assert.equal(r.bridgeXlateRoot, false);
      if (c.source) assert.deepEqual(r.applied.map((a) => a.source), [`drivers/pci/quirks.c ${c.source}`]);
      else assert.deepEqual(r.applied, []);
    });
  }

  it('VCA aliases functions 0-4 of all 32 slots (160 devfns)', () => {
    const r = dmaAliasQuirks(dev(0x8086, 0x2958, { devfn: devfn(4, 0) }));
    assert.equal(r.aliasDevfns.length, 160);
    assert.ok(r.aliasDevfns.includes(devfn(31, 4)));
    assert.ok(!r.aliasDevfns.includes(devfn(0, 5)));
    assert.ok(r.aliasDevfns.every((d) => (d & 7) <= 4));
    assert.deepEqual(dmaAliasQuirks(dev(0x8086, 0x2957)).aliasDevfns, [], '2957 is not a VCA ID');
  });

  it('PLX NTB aliases all 256 devfns of its bus', () => {
    for (const id of [0x87b0, 0x87b1]) {
      const r = dmaAliasQuirks(dev(0x10b5, id, { devfn: devfn(0, 1) }));
      assert.deepEqual(r.aliasDevfns, Array.from({ length: 256 }, (_, i) => i));
      assert.equal(r.applied[0]?.source, 'drivers/pci/quirks.c quirk_plx_ntb_dma_alias');
    }
  });
});

describe('DMA alias quirks: flags', () => {
  const bridge = (more: Partial<DmaAliasSubject>): DmaAliasSubject =>
    dev(0x1b21, 0x1080, { headerType: 1, pcie: false, classCode: 0x060400, parentIsPcieNonPcieBridge: true, ...more });

  it('ASM1083 below a PCIe port is aliased as a PCIe-to-PCI bridge', () => {
    const r = dmaAliasQuirks(bridge({}));
    assert.equal(r.pcieBridgeAlias, true);
    assert.deepEqual(r.aliasDevfns, []);
    assert.equal(r.applied[0]?.source, 'drivers/pci/quirks.c quirk_use_pcie_bridge_dma_alias');
  });

  const notApplied: [string, Partial<DmaAliasSubject>][] = [
    ['on a root bus', { onRootBus: true }],
    ['when it has a PCIe capability', { pcie: true }],
    ['below a conventional or PCIe-to-PCI bridge', { parentIsPcieNonPcieBridge: false }],
    ['when it is not a bridge header', { headerType: 0 }],
  ];
  for (const [what, more] of notApplied) {
    it(`the PCIe bridge alias is not set ${what}`, () => {
      const r = dmaAliasQuirks(bridge(more));
      assert.equal(r.pcieBridgeAlias, false);
      assert.deepEqual(r.applied, []);
    });
  }

  it('every listed bridge ID gets the PCIe bridge alias', () => {
    for (const [v, d] of [[0x10e3, 0x8113], [0x1283, 0x8892], [0x1283, 0x8893], [0x8086, 0x244e]] as const) {
      assert.equal(dmaAliasQuirks(bridge({ vendor: v, device: d })).pcieBridgeAlias, true, `${v.toString(16)}:${d.toString(16)}`);
    }
  });

  it('Broadcom 9000 and 9084 stop the alias walk', () => {
    for (const id of [0x9000, 0x9084]) {
      const r = dmaAliasQuirks(dev(0x14e4, id, { headerType: 1, classCode: 0x060400 }));
      assert.equal(r.bridgeXlateRoot, true);
      assert.deepEqual(r.aliasDevfns, []);
    }
    assert.equal(dmaAliasQuirks(dev(0x14e4, 0x9001)).bridgeXlateRoot, false);
  });
});

describe('Switchtec NTB: recognised, but no aliases without hardware tables', () => {
  const ntb = (vendor: number, device: number, classCode = 0x068000): DmaAliasSubject => dev(vendor, device, { classCode });
  const listed: [number, number][] = [[0x11f8, 0x8531], [0x11f8, 0x8576], [0x11f8, 0x4000], [0x11f8, 0x4228], [0x11f8, 0x4552], [0x11f8, 0x5000], [0x11f8, 0x5528], [0x1055, 0x1001], [0x1055, 0x1006]];
  const unlisted: [number, number][] = [[0x11f8, 0x8537], [0x11f8, 0x8581], [0x11f8, 0x4300], [0x11f8, 0x4684], [0x11f8, 0x5600], [0x1055, 0x1008]];

  for (const [v, d] of listed) {
    it(`${v.toString(16)}:${d.toString(16)} is a Switchtec NTB`, () => {
      const r = dmaAliasQuirks(ntb(v, d));
      assert.deepEqual(r.aliasDevfns, []);
      assert.deepEqual(r.applied.map((a) => a.source), ['drivers/pci/quirks.c quirk_switchtec_ntb_dma_alias']);
    });
  }
  for (const [v, d] of unlisted) {
    it(`${v.toString(16)}:${d.toString(16)} is not`, () => assert.deepEqual(dmaAliasQuirks(ntb(v, d)).applied, []));
  }
  it('only the bridge-other class (0x0680xx) matches', () => {
    assert.equal(dmaAliasQuirks(ntb(0x11f8, 0x8536, 0x068001)).applied.length, 1);
    assert.equal(dmaAliasQuirks(ntb(0x11f8, 0x8536, 0x058000)).applied.length, 0);
  });
});

describe('DMA alias table as data', () => {
  it('every row names a quirks.c function', () => {
    for (const r of DMA_ALIAS_QUIRK_ROWS) assert.match(r.source, /^drivers\/pci\/quirks\.c quirk_\w+$/, r.note);
  });
  it('marks the Glenfly rows as backported', () => {
    assert.deepEqual(DMA_ALIAS_QUIRK_ROWS.filter((r) => r.backport).map((r) => r.vendor), [0x6766]);
  });
});
