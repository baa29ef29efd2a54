// The ACS quirk table (drivers/pci/quirks.c pci_dev_acs_enabled), its scan order, the
// out-of-tree pcie_acs_override row, the ACS enable quirks, and PCIe type codes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACS } from '../../../src/topology/model';
import type { AcsOverride, PciType } from '../../../src/topology/model';
import { PCI_EXP_TYPE, pcieTypeCode, pcieTypeName } from '../../../src/pci/pcie-type';
import {
  ACS_QUIRK_ROWS,
  acsEnableQuirk,
  acsQuirkName,
  acsQuirkVerdict,
  intelSptEnabledCtrl,
} from '../../../src/pci/quirks/acs-quirks';
import type { AcsContext, AcsSubject } from '../../../src/pci/quirks/acs-quirks';
import { ACS_QUIRK_EVALUATORS } from '../../../src/pci/quirks/acs-quirk-kinds';

const REQ = ACS.sv | ACS.rr | ACS.cr | ACS.uf;
const T = PCI_EXP_TYPE;
const NO_OVERRIDE: AcsOverride = { downstream: false, multifunction: false, ids: [] };

function dev(vendor: number, device: number, more: Partial<AcsSubject> = {}): AcsSubject {
  return { vendor, device, pcieType: T.ENDPOINT, multifunction: false, onRootBus: false, acsCap: null, acsCtrl: 0, ...more };
}
function ctx(more: Partial<AcsContext> = {}): AcsContext {
  return { ivrsPresent: false, acsOverride: NO_OVERRIDE, ...more };
}

interface Case {
  what: string;
  dev: AcsSubject;
  want?: number;
  ctx?: AcsContext;
  /** Expected verdict, and the quirk function that must have decided it. */
  expect: ['pass' | 'fail', string] | undefined;
}

const CASES: Case[] = [
  { what: 'ATI SB function, multifunction, root bus, IVRS present', dev: dev(0x1002, 0x4385, { multifunction: true, onRootBus: true }), ctx: ctx({ ivrsPresent: true }), expect: ['pass', 'pci_quirk_amd_sb_acs'] },
  { what: 'AMD FCH bridge without an IVRS table', dev: dev(0x1022, 0x780f, { multifunction: true, onRootBus: true }), expect: undefined },
  { what: 'AMD SB function off the root bus', dev: dev(0x1022, 0x7809, { multifunction: true }), ctx: ctx({ ivrsPresent: true }), expect: undefined },
  { what: 'AMD SB function asked for EC as well', dev: dev(0x1002, 0x439c, { multifunction: true, onRootBus: true }), want: ACS.rr | ACS.cr | ACS.ec, ctx: ctx({ ivrsPresent: true }), expect: ['fail', 'pci_quirk_amd_sb_acs'] },
  { what: 'AMD SB function asked only for SV|UF (filtered out)', dev: dev(0x1002, 0x4399, { multifunction: true, onRootBus: true }), want: ACS.sv | ACS.uf, ctx: ctx({ ivrsPresent: true }), expect: ['pass', 'pci_quirk_amd_sb_acs'] },
  { what: 'Solarflare multifunction endpoint', dev: dev(0x1924, 0x0a03, { multifunction: true }), expect: ['pass', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'Solarflare asked for EC, which it does not claim', dev: dev(0x1924, 0x0903), want: ACS.ec, expect: ['fail', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'Intel 82576 NIC', dev: dev(0x8086, 0x10c9, { multifunction: true }), expect: ['pass', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'Intel RCiEP', dev: dev(0x8086, 0x3e92, { pcieType: T.RC_END, onRootBus: true }), expect: ['pass', 'pci_quirk_rciep_acs'] },
  { what: 'Intel endpoint that is not an RCiEP', dev: dev(0x8086, 0x3e92, { multifunction: true }), expect: undefined },
  { what: 'Intel PCH root port 8086:1c10', dev: dev(0x8086, 0x1c10, { pcieType: T.ROOT_PORT, onRootBus: true }), expect: ['pass', 'pci_quirk_intel_pch_acs'] },
  { what: 'Intel PCH root port whose enable quirk failed', dev: dev(0x8086, 0x1d1e, { pcieType: T.ROOT_PORT }), ctx: ctx({ intelPchEnableFails: true }), expect: ['fail', 'pci_quirk_intel_pch_acs'] },
  { what: 'Intel PCH ID on a non-root-port', dev: dev(0x8086, 0x1c10, { pcieType: T.DOWNSTREAM }), expect: undefined },
  { what: 'Intel Patsburg odd ID is not in the list', dev: dev(0x8086, 0x1d11, { pcieType: T.ROOT_PORT }), expect: undefined },
  { what: 'Intel SPT root port with control at cap+8 enabled', dev: dev(0x8086, 0xa110, { pcieType: T.ROOT_PORT, acsCap: 0x5f, acsCtrl: 0x1d }), expect: ['pass', 'pci_quirk_intel_spt_pch_acs'] },
  { what: 'Intel SPT root port with control at cap+8 still zero', dev: dev(0x8086, 0x9d1b, { pcieType: T.ROOT_PORT, acsCap: 0x5f, acsCtrl: 0 }), expect: ['fail', 'pci_quirk_intel_spt_pch_acs'] },
  { what: 'Intel SPT root port lacking UF counts UF as on', dev: dev(0x8086, 0xa2ee, { pcieType: T.ROOT_PORT, acsCap: ACS.sv | ACS.rr | ACS.cr, acsCtrl: ACS.sv | ACS.rr | ACS.cr }), expect: ['pass', 'pci_quirk_intel_spt_pch_acs'] },
  { what: 'Intel SPT root port without an ACS capability', dev: dev(0x8086, 0xa167, { pcieType: T.ROOT_PORT }), expect: undefined },
  { what: 'QCOM QDF2xxx root port', dev: dev(0x17cb, 0x0401, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_qcom_rp_acs'] },
  { what: 'HXT root port', dev: dev(0x1dbf, 0x0401, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_qcom_rp_acs'] },
  { what: 'Emulex Skyhawk-R', dev: dev(0x10df, 0x0720, { multifunction: true }), expect: ['pass', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'Cavium ThunderX1 root port', dev: dev(0x177d, 0xa100, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_cavium_acs'] },
  { what: 'Cavium ID in the ThunderX range, but an endpoint', dev: dev(0x177d, 0xa100), expect: undefined },
  { what: 'Cavium a026 endpoint falls through to the multifunction row', dev: dev(0x177d, 0xa026, { multifunction: true }), expect: ['pass', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'APM X-Gene root port', dev: dev(0x10e8, 0xe004, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_xgene_acs'] },
  { what: 'Ampere root port in e005-e00c', dev: dev(0x1def, 0xe00a, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_xgene_acs'] },
  { what: 'Ampere e00d is outside the range', dev: dev(0x1def, 0xe00d, { pcieType: T.ROOT_PORT }), expect: undefined },
  { what: 'Broadcom iProc root port', dev: dev(0x14e4, 0xd714, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_brcm_acs'] },
  { what: 'Broadcom BCM5760X NIC (backported row)', dev: dev(0x14e4, 0x1763, { multifunction: true }), expect: ['pass', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'Loongson root port', dev: dev(0x0014, 0x7a59, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_loongson_acs'] },
  { what: 'Annapurna Labs root port', dev: dev(0x1c36, 0x0031, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_al_acs'] },
  { what: 'Annapurna Labs root port asked for EC', dev: dev(0x1c36, 0x0031, { pcieType: T.ROOT_PORT }), want: REQ | ACS.ec, expect: ['fail', 'pci_quirk_al_acs'] },
  { what: 'Annapurna Labs non-root-port', dev: dev(0x1c36, 0x0031), expect: undefined },
  { what: 'NXP LX2 root port', dev: dev(0x1957, 0x8da9, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_nxp_rp_acs'] },
  { what: 'NXP ID between the listed ranges', dev: dev(0x1957, 0x8d84, { pcieType: T.ROOT_PORT }), expect: undefined },
  { what: 'Zhaoxin multifunction device', dev: dev(0x1d17, 0x3038, { multifunction: true }), expect: ['pass', 'pci_quirk_mf_endpoint_acs'] },
  { what: 'Zhaoxin listed root port', dev: dev(0x1d17, 0x0715, { pcieType: T.ROOT_PORT }), expect: ['pass', 'pci_quirk_zhaoxin_pcie_ports_acs'] },
  { what: 'Zhaoxin 0722 is a gap in the list', dev: dev(0x1d17, 0x0722, { pcieType: T.DOWNSTREAM, acsCap: 0x1f, acsCtrl: 0x1d }), expect: ['fail', 'pci_quirk_zhaoxin_pcie_ports_acs'] },
  { what: 'Zhaoxin unlisted root port with a real, enabled ACS capability', dev: dev(0x1d17, 0x0800, { pcieType: T.ROOT_PORT, acsCap: 0x5f, acsCtrl: 0x1d }), expect: ['fail', 'pci_quirk_zhaoxin_pcie_ports_acs'] },
  { what: 'Zhaoxin unlisted endpoint', dev: dev(0x1d17, 0x0800), expect: undefined },
  { what: 'Wangxun listed NIC', dev: dev(0x8088, 0x1001, { multifunction: true }), expect: ['pass', 'pci_quirk_wangxun_nic_acs'] },
  { what: 'Wangxun unlisted device', dev: dev(0x8088, 0x0200, { multifunction: true }), expect: ['fail', 'pci_quirk_wangxun_nic_acs'] },
  { what: 'Wangxun unlisted conventional PCI device', dev: dev(0x8088, 0x0200, { pcieType: null }), expect: ['fail', 'pci_quirk_wangxun_nic_acs'] },
  { what: 'a device no quirk names', dev: dev(0x1af4, 0x1041, { multifunction: true }), expect: undefined },
];

describe('ACS quirk verdicts (pci_dev_specific_acs_enabled)', () => {
  for (const c of CASES) {
    it(`${c.what}: ${c.expect ? `${c.expect[0]} by ${c.expect[1]}` : 'no verdict'}`, () => {
      const d = acsQuirkVerdict(c.dev, c.want ?? REQ, c.ctx ?? ctx());
      if (!c.expect) {
        assert.equal(d, undefined);
        return;
      }
      assert.ok(d, 'expected a verdict');
      assert.equal(d.verdict, c.expect[0]);
      assert.equal(d.row.source, `drivers/pci/quirks.c ${c.expect[1]}`);
      assert.equal(d.row, ACS_QUIRK_ROWS[d.index]);
    });
  }

  it('names the deciding quirk in words and source', () => {
    const port = dev(0x8086, 0x1c10, { pcieType: T.ROOT_PORT });
    assert.equal(acsQuirkName(port, REQ, ctx()), 'Intel PCH root port quirk (drivers/pci/quirks.c pci_quirk_intel_pch_acs)');
    assert.equal(acsQuirkName(dev(0x1af4, 0x1041), REQ, ctx()), undefined);
  });
});

describe('pcie_acs_override= row (out-of-tree patch)', () => {
  const o = (over: Partial<AcsOverride>): AcsContext => ctx({ acsOverride: { ...NO_OVERRIDE, ...over } });
  const OVERRIDE = 'pcie_acs_override patch (out of tree) pcie_acs_overrides';

  const cases: { what: string; dev: AcsSubject; ctx: AcsContext; pass: boolean | undefined }[] = [
    { what: 'downstream: a root port without ACS passes', dev: dev(0x1b36, 0x000c, { pcieType: T.ROOT_PORT }), ctx: o({ downstream: true }), pass: true },
    { what: 'downstream: a switch downstream port passes', dev: dev(0x111d, 0x8018, { pcieType: T.DOWNSTREAM }), ctx: o({ downstream: true }), pass: true },
    { what: 'downstream: a port with a real ACS capability is never overridden', dev: dev(0x1b36, 0x000c, { pcieType: T.ROOT_PORT, acsCap: 0x5f }), ctx: o({ downstream: true }), pass: undefined },
    { what: 'downstream: an endpoint gets nothing', dev: dev(0x1af4, 0x1041, { multifunction: true }), ctx: o({ downstream: true }), pass: undefined },
    { what: 'multifunction: a multifunction endpoint passes', dev: dev(0x10de, 0x1b80, { multifunction: true }), ctx: o({ multifunction: true }), pass: true },
    { what: 'multifunction: a multifunction upstream port passes', dev: dev(0x1234, 0x0001, { pcieType: T.UPSTREAM, multifunction: true }), ctx: o({ multifunction: true }), pass: true },
    { what: 'multifunction: a single-function endpoint gets nothing', dev: dev(0x10de, 0x1b80), ctx: o({ multifunction: true }), pass: undefined },
    { what: 'multifunction: a root port gets nothing', dev: dev(0x1b36, 0x000c, { pcieType: T.ROOT_PORT, multifunction: true }), ctx: o({ multifunction: true }), pass: undefined },
    { what: 'multifunction: an RC event collector gets nothing', dev: dev(0x1234, 0x0002, { pcieType: T.RC_EC, multifunction: true }), ctx: o({ multifunction: true }), pass: undefined },
    { what: 'id: the named device passes whatever its type', dev: dev(0x1234, 0x5678, { pcieType: T.PCI_BRIDGE }), ctx: o({ ids: [{ vendor: 0x1234, device: 0x5678 }] }), pass: true },
    { what: 'id: another device of the vendor gets nothing', dev: dev(0x1234, 0x5679, { multifunction: true }), ctx: o({ ids: [{ vendor: 0x1234, device: 0x5678 }] }), pass: undefined },
    { what: 'id: conventional PCI is never overridden', dev: dev(0x1234, 0x5678, { pcieType: null }), ctx: o({ ids: [{ vendor: 0x1234, device: 0x5678 }] }), pass: undefined },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const d = acsQuirkVerdict(c.dev, REQ, c.ctx);
      if (c.pass === undefined) return assert.equal(d, undefined);
      assert.equal(d?.verdict, 'pass');
      assert.equal(d?.row.source, OVERRIDE);
      assert.equal(d?.row.outOfTree, true);
    });
  }

  it('rows before it still decide: a failed Intel PCH port stays failed', () => {
    const d = acsQuirkVerdict(dev(0x8086, 0x1c12, { pcieType: T.ROOT_PORT }), REQ, { ...o({ downstream: true }), intelPchEnableFails: true });
    assert.equal(d?.verdict, 'fail');
    assert.equal(d?.row.kind, 'intel_pch');
  });

  it('it decides before later rows: an unlisted Zhaoxin port passes, a Wangxun ID override passes', () => {
    const zx = acsQuirkVerdict(dev(0x1d17, 0x0800, { pcieType: T.ROOT_PORT }), REQ, o({ downstream: true }));
    assert.equal(zx?.verdict, 'pass');
    assert.equal(zx?.row.kind, 'acs_override');
    const wx = acsQuirkVerdict(dev(0x8088, 0x0200), REQ, o({ ids: [{ vendor: 0x8088, device: 0x0200 }] }));
    assert.equal(wx?.verdict, 'pass');
    assert.equal(wx?.row.kind, 'acs_override');
  });

  it('sits right after the Emulex rows and before Cavium', () => {
    const i = ACS_QUIRK_ROWS.findIndex((r) => r.kind === 'acs_override');
    assert.equal(ACS_QUIRK_ROWS[i - 1]?.vendor, 0x10df);
    assert.equal(ACS_QUIRK_ROWS[i - 2]?.vendor, 0x19a2);
    assert.equal(ACS_QUIRK_ROWS[i + 1]?.kind, 'cavium');
    assert.equal(ACS_QUIRK_ROWS.filter((r) => r.kind === 'acs_override').length, 1);
  });
});

describe('ACS quirk table as data', () => {
  it('every row names its source and every kind is used', () => {
    for (const r of ACS_QUIRK_ROWS) {
      if (r.outOfTree) continue;
      assert.match(r.source, /^drivers\/pci\/quirks\.c pci_quirk_\w+_acs$/, r.note);
    }
    const used = new Set(ACS_QUIRK_ROWS.map((r) => r.kind));
    for (const k of Object.keys(ACS_QUIRK_EVALUATORS)) assert.ok(used.has(k as never), `kind ${k} has no row`);
  });

  it('marks the rows that reached 6.1.y by backport', () => {
    const marked = ACS_QUIRK_ROWS.filter((r) => r.backport).map((r) => r.vendor);
    assert.deepEqual(marked, [0x17cb, 0x17cb, 0x14e4, 0x8088]);
  });

  it('scans Intel rows in kernel order: multifunction list, RCiEP, PCH, SPT', () => {
    const intel = ACS_QUIRK_ROWS.filter((r) => r.vendor === 0x8086).map((r) => r.kind);
    const firstRciep = intel.indexOf('rciep');
    assert.ok(intel.slice(0, firstRciep).every((k) => k === 'mf_endpoint'));
    assert.deepEqual(intel.slice(firstRciep), ['rciep', 'intel_pch', 'intel_spt_pch']);
  });
});

describe('ACS enable quirks (pci_dev_specific_enable_acs)', () => {
  const cases: [string, Parameters<typeof acsEnableQuirk>[0], ReturnType<typeof acsEnableQuirk>][] = [
    ['Intel PCH root port', { vendor: 0x8086, device: 0x8c1e, pcieType: T.ROOT_PORT, acsCap: null }, 'intel_pch'],
    ['Intel SPT root port with an ACS capability', { vendor: 0x8086, device: 0xa29f, pcieType: T.ROOT_PORT, acsCap: 0x5f }, 'intel_spt'],
    ['Intel SPT root port without one', { vendor: 0x8086, device: 0xa29f, pcieType: T.ROOT_PORT, acsCap: null }, undefined],
    ['Intel PCH ID that is not a root port', { vendor: 0x8086, device: 0x8c1e, pcieType: T.ENDPOINT, acsCap: null }, undefined],
    ['the same ID from another vendor', { vendor: 0x1d17, device: 0x8c1e, pcieType: T.ROOT_PORT, acsCap: null }, undefined],
  ];
  for (const [what, d, want] of cases) it(`${what} → ${want ?? 'standard path'}`, () => assert.equal(acsEnableQuirk(d), want));

  it('SPT quirk ORs SV|RR|CR|UF into the cap+8 dword, TB only under noats', () => {
    assert.equal(intelSptEnabledCtrl(0x5f, 0, false), 0x1d);
    assert.equal(intelSptEnabledCtrl(0x5f, 0, true), 0x1f);
    assert.equal(intelSptEnabledCtrl(0x1f, 0x40, false), 0x5d);
  });
});

describe('PCIe type codes', () => {
  const cases: [PciType, number | null][] = [
    ['endpoint', 0x0],
    ['legacy-endpoint', 0x1],
    ['root-port', 0x4],
    ['upstream-port', 0x5],
    ['downstream-port', 0x6],
    ['pcie-pci-bridge', 0x7],
    ['rc-endpoint', 0x9],
    ['rc-event-collector', 0xa],
    ['host-bridge', null],
    ['pci-bridge', null],
  ];
  for (const [t, code] of cases) it(`${t} → ${code ?? 'null'}`, () => assert.equal(pcieTypeCode(t), code));

  it('names codes for explain', () => {
    assert.equal(pcieTypeName(T.ROOT_PORT), 'Root Port');
    assert.equal(pcieTypeName(null), 'conventional PCI');
    assert.equal(pcieTypeName(0x3), 'unknown PCIe type 3');
  });
});
