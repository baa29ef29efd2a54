// A PCI device's resource files (drivers/pci/pci-sysfs.c): `resource` (resource_show),
// `resourceN` and `resourceN_wc` (pci_create_resource_files: one per assigned BAR, 0600,
// sized as the BAR; the _wc one where the BAR is prefetchable and the architecture maps
// write-combined, as x86 does) and `rom` (0600, sized as the assigned ROM).

import { Errno } from '../engine/errno';
import type { Machine } from '../engine/machine';
import { storeRomEnabled } from '../engine/resources';
import type { PciDevice } from '../engine/types';
import type { ResourceLine } from '../pci/resources/view';
import { ro } from './build';
import type { Entries } from './build';
import type { AttrNode } from './node';

const hex16 = (n: number): string => '0x' + n.toString(16).padStart(16, '0');

/** resource_show: "0x%016llx 0x%016llx 0x%016llx" (start, end, flags) per resource; zeros
 * where there is none (pci_resource_to_user leaves x86 addresses as they are). */
export function resourceText(lines: (ResourceLine | null)[]): string {
  return lines.map((l) => (l ? `${hex16(l.start)} ${hex16(l.end)} ${hex16(l.flags)}` : `${hex16(0)} ${hex16(0)} ${hex16(0)}`)).join('\n');
}

/** A 0600 binary attribute of the resource's size (pci_create_attr, pci_create_sysfs_dev_files). */
function binFile(size: number, show: () => Buffer, store?: (data: Buffer) => void): AttrNode {
  return { kind: 'attr', mode: 0o600, size, binary: true, show, ...(store ? { store } : {}) };
}

/** A BAR file: memory BARs are for mmap only (no read op: sysfs_kf_bin_read gives EIO);
 * I/O BARs read 1, 2 or 4 bytes at a port (pci_resource_io), so a larger read is EINVAL. */
function barFile(size: number, io: boolean): AttrNode {
  return binFile(size, () => {
    throw io ? new Errno('EINVAL', 'an I/O BAR is read 1, 2 or 4 bytes at a time') : new Errno('EIO', 'a memory BAR is mapped, not read');
  });
}

/** `rom`: reads EINVAL until "1" is written (pci_read_rom: rom_attr_enabled), then the
 * image: a ROM header (0x55 0xaa, length in 512-byte units) and nothing else modelled. */
function romFile(m: Machine, d: PciDevice, size: number): AttrNode {
  const show = (): Buffer => {
    if (!d.romEnabled) throw new Errno('EINVAL', 'write 1 to rom first');
    const image = Buffer.alloc(size);
    image[0] = 0x55;
    image[1] = 0xaa;
    image[2] = Math.min(0xff, size / 512);
    return image;
  };
  return binFile(size, show, (data) => storeRomEnabled(m, d, data));
}

export function resourceEntries(m: Machine, d: PciDevice): Entries {
  const view = m.resources.view(d.fn);
  const e: Entries = [['resource', ro(() => resourceText(m.resources.view(d.fn).lines))]];
  for (const f of view.files) {
    const io = view.lines[f.index]!.flags & 0x100;
    e.push([`resource${f.index}`, barFile(f.size, io !== 0)]);
    if (f.prefetch) e.push([`resource${f.index}_wc`, barFile(f.size, false)]);
  }
  if (view.romSize > 0) e.push(['rom', romFile(m, d, view.romSize)]);
  return e;
}
