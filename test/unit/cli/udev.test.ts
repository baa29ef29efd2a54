// The udev database `iommufs run` serves (run-udev.ts) and the pci.ids reader behind its
// hwdb properties (pci-ids.ts), on a small inline pci.ids.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hwdbProperties, parsePciIds } from '../../../src/cli/pci-ids';
import { pathTag, udevDbText } from '../../../src/cli/run-udev';

const PCI_IDS = [
  '# comment',
  '8086  Intel Corporation',
  '\t10d3  82574L Gigabit Network Connection',
  '\t\t8086 a01f  Gigabit CT Desktop Adapter',
  '1b36  Red Hat, Inc.',
  '\t000c  QEMU PCIe Root port',
  '',
  'C 02  Network controller',
  '\t00  Ethernet controller',
  'C 06  Bridge',
  '\t04  PCI bridge',
  '\t\t00  Normal decode',
  '\t\t01  Subtractive decode',
  'L 01  Not a class list',
  '\t00  nothing',
].join('\n');

describe('udev database', () => {
  const ids = parsePciIds(PCI_IDS);

  it('hwdb properties in the builtin\'s order; a named subsystem gives "model (subsystem)"', () => {
    assert.deepEqual(hwdbProperties(ids, { vendor: 0x8086, device: 0x10d3, subvendor: 0x8086, subdevice: 0xa01f, classCode: 0x020000 }), [
      ['ID_PCI_CLASS_FROM_DATABASE', 'Network controller'],
      ['ID_PCI_SUBCLASS_FROM_DATABASE', 'Ethernet controller'],
      ['ID_VENDOR_FROM_DATABASE', 'Intel Corporation'],
      ['ID_MODEL_FROM_DATABASE', '82574L Gigabit Network Connection (Gigabit CT Desktop Adapter)'],
    ]);
    assert.deepEqual(hwdbProperties(ids, { vendor: 0x1b36, device: 0x000c, subvendor: 0x1af4, subdevice: 0x1100, classCode: 0x060400 }), [
      ['ID_PCI_CLASS_FROM_DATABASE', 'Bridge'],
      ['ID_PCI_SUBCLASS_FROM_DATABASE', 'PCI bridge'],
      ['ID_PCI_INTERFACE_FROM_DATABASE', 'Normal decode'],
      ['ID_VENDOR_FROM_DATABASE', 'Red Hat, Inc.'],
      ['ID_MODEL_FROM_DATABASE', 'QEMU PCIe Root port'],
    ]);
    // Unknown vendor and class: nothing.
    assert.deepEqual(hwdbProperties(ids, { vendor: 0x1234, device: 1, subvendor: 0, subdevice: 0, classCode: 0xff0000 }), []);
  });

  it('path_id tags and the file layout of systemd 252', () => {
    assert.equal(pathTag('pci-0000:01:00.0'), 'pci-0000_01_00_0');
    assert.equal(udevDbText(42n, [['ID_PATH', 'pci-0000:01:00.0']]), 'I:42\nE:ID_PATH=pci-0000:01:00.0\nV:1\n');
  });
});
