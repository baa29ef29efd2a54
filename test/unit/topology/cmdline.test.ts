// The kernel command line as the engine reads it: one row per parameter form.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kstrtobool, parseCmdline, splitArgs } from '../../../src/topology/cmdline';
import type { BootOptions } from '../../../src/topology/model';

type Picked = Partial<Omit<BootOptions, 'raw' | 'warnings'>>;

const cases: { line: string; expect: Picked }[] = [
  { line: '', expect: {} },
  { line: 'intel_iommu=on', expect: { intelIommu: 'on' } },
  { line: 'intel_iommu=off', expect: { intelIommu: 'off' } },
  { line: 'intel_iommu=on,igfx_off', expect: { intelIommu: 'on' } },
  { line: 'intel_iommu=igfx_off,sm_on,on', expect: { intelIommu: 'on' } },
  { line: 'intel_iommu=strict', expect: { strict: true } },
  { line: 'intel_iommu=on,strict', expect: { intelIommu: 'on', strict: true } },
  { line: 'intel-iommu=on', expect: { intelIommu: 'on' } },
  { line: 'intel_iommu=on intel_iommu=off', expect: { intelIommu: 'off' } },
  { line: 'amd_iommu=off', expect: { amdIommuOff: true } },
  { line: 'amd_iommu=fullflush', expect: { strict: true } },
  { line: 'iommu=pt', expect: { passthrough: true } },
  { line: 'iommu=nopt', expect: { passthrough: false } },
  { line: 'iommu=soft,pt', expect: { passthrough: true } },
  { line: 'iommu.passthrough=1', expect: { passthrough: true } },
  { line: 'iommu.passthrough=0', expect: { passthrough: false } },
  { line: 'iommu.passthrough=y', expect: { passthrough: true } },
  { line: 'iommu.passthrough=off', expect: { passthrough: false } },
  { line: 'iommu=pt iommu.passthrough=0', expect: { passthrough: false } },
  { line: 'iommu.strict=1', expect: { strict: true } },
  { line: 'iommu.strict=0', expect: { strict: false } },
  { line: 'iommu.strict=N', expect: { strict: false } },
  { line: 'intel_iommu=strict iommu.strict=0', expect: { strict: false } },
  {
    line: 'pcie_acs_override=downstream,multifunction',
    expect: { acsOverride: { downstream: true, multifunction: true, ids: [] } },
  },
  {
    line: 'pcie_acs_override=id:8086:10d3,id:1002:67DF',
    expect: {
      acsOverride: {
        downstream: false,
        multifunction: false,
        ids: [
          { vendor: 0x8086, device: 0x10d3 },
          { vendor: 0x1002, device: 0x67df },
        ],
      },
    },
  },
  { line: 'vfio_iommu_type1.allow_unsafe_interrupts=1', expect: { allowUnsafeInterrupts: true } },
  { line: 'vfio_iommu_type1.allow_unsafe_interrupts', expect: { allowUnsafeInterrupts: true } },
  { line: 'vfio_iommu_type1.allow_unsafe_interrupts=0', expect: { allowUnsafeInterrupts: false } },
  { line: 'pci=noats', expect: { noats: true } },
  { line: 'pci=disable_acs_redir=0000:00:1c.0', expect: { disableAcsRedir: ['0000:00:1c.0'] } },
  {
    line: 'pci=noats,disable_acs_redir=0000:00:1c.0;pci:8086:10d3;00:01.0/00.0',
    expect: { noats: true, disableAcsRedir: ['0000:00:1c.0', 'pci:8086:10d3', '00:01.0/00.0'] },
  },
  { line: 'pci=disable_acs_redir=00:1c.0 pci=disable_acs_redir=00:1d.0', expect: { disableAcsRedir: ['00:1d.0'] } },
  { line: 'quiet splash root=/dev/sda1 intel_iommu=on', expect: { intelIommu: 'on' } },
  { line: 'intel_iommu=on -- iommu=pt', expect: { intelIommu: 'on' } },
  { line: 'foo="a b" iommu="pt"', expect: { passthrough: true } },
];

const BASE: Omit<BootOptions, 'raw' | 'warnings'> = {
  amdIommuOff: false,
  acsOverride: { downstream: false, multifunction: false, ids: [] },
  allowUnsafeInterrupts: false,
  disableAcsRedir: [],
  noats: false,
};

for (const c of cases) {
  test(`cmdline "${c.line}"`, () => {
    const o = parseCmdline(c.line);
    assert.deepEqual(o, { ...BASE, ...c.expect, raw: c.line, warnings: [] });
  });
}

test('pci=noacs is ignored with a warning pointing to disable_acs_redir', () => {
  const o = parseCmdline('intel_iommu=on pci=noacs');
  assert.equal(o.intelIommu, 'on');
  assert.equal(o.warnings.length, 1);
  assert.match(o.warnings[0]!, /^pci=noacs: Linux has no such option/);
  assert.match(o.warnings[0]!, /PCI: Unknown option `noacs'/);
  assert.match(o.warnings[0]!, /pci=disable_acs_redir=/);
});

test('a value kstrtobool does not take is ignored with a warning', () => {
  const o = parseCmdline('iommu.strict=1 iommu.strict=maybe');
  assert.equal(o.strict, true);
  assert.deepEqual(o.warnings, ['iommu.strict=maybe: not a boolean (the kernel takes 1/0, y/n, t/f, on/off); ignored']);
});

test('a malformed ACS override id is skipped with a warning', () => {
  const o = parseCmdline('pcie_acs_override=id:80861,downstream');
  assert.deepEqual(o.acsOverride, { downstream: true, multifunction: false, ids: [] });
  assert.deepEqual(o.warnings, ['pcie_acs_override: invalid id "id:80861" ignored (expected id:vvvv:dddd)']);
});

test('kstrtobool reads the first character, and the second after o', () => {
  const table: [string, boolean | undefined][] = [
    ['1', true],
    ['Y', true],
    ['yes', true],
    ['t', true],
    ['on', true],
    ['0', false],
    ['n', false],
    ['F', false],
    ['off', false],
    ['o', undefined],
    ['2', undefined],
    ['', undefined],
  ];
  for (const [s, want] of table) assert.equal(kstrtobool(s), want, s);
});

test('splitArgs keeps quoted blanks inside one parameter', () => {
  assert.deepEqual(splitArgs('  a=1 b="x y"  "c=z w" d '), [
    { param: 'a', value: '1' },
    { param: 'b', value: 'x y' },
    { param: 'c', value: 'z w' },
    { param: 'd', value: null },
  ]);
});
