// Device ID lists as the quirk tables write them: single IDs and inclusive ranges
// (the kernel's `case 0xa000 ... 0xa7ff:` labels), or 'any' for PCI_ANY_ID.

/** One device ID, or an inclusive [first, last] range. */
export type IdEntry = number | readonly [number, number];

/** A list of IDs and ranges, or every ID (PCI_ANY_ID). */
export type IdList = readonly IdEntry[] | 'any';

export function idInList(id: number, list: IdList): boolean {
  if (list === 'any') return true;
  return list.some((e) => (typeof e === 'number' ? e === id : id >= e[0] && id <= e[1]));
}

/** "0x1c10", "0x1c10-0x1c1f": for messages. */
export function formatIdList(list: IdList): string {
  if (list === 'any') return 'any';
  const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
  return list.map((e) => (typeof e === 'number' ? hex(e) : `${hex(e[0])}-${hex(e[1])}`)).join(', ');
}
