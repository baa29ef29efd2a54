// Everything an operation of the domain engine or the driver core could change, as one
// string: groups and members, drivers and overrides, VFs, ownership, current domains,
// PASIDs, user domains and mdevs. Two snapshots are equal exactly when nothing changed.

import type { Domain } from '../../../src/engine/domains';
import type { Machine } from '../../../src/engine/machine';
import { memberNames } from '../../../src/engine/machine';

function domainName(d: Domain | null): string {
  if (!d) return 'none';
  return d.kind === 'user' ? `user${d.id}` : d.kind;
}

export function snapshot(m: Machine): string {
  return JSON.stringify({
    autoprobe: m.driversAutoprobe,
    groups: m.sortedGroups().map((g) => {
      const s = m.dma.dma(g);
      return {
        id: g.id,
        kind: g.kind,
        unit: g.unit?.name ?? null,
        type: g.defaultType,
        members: memberNames(g),
        owner: s.owner,
        leaving: s.leaving,
        domain: domainName(m.dma.domainOf(g)),
        pasids: [...s.pasids].map(([dev, map]) => [dev.name, [...map].map(([p, d]) => [p, domainName(d)])]),
      };
    }),
    devices: [...m.devices.values()].map((d) => [
      d.kind,
      d.name,
      d.group?.id ?? null,
      d.driver,
      d.kind === 'pci' ? [d.driverOverride, d.sriovAutoprobe, m.vfsOf(d).map((v) => v.name)] : d.kind === 'mdev' ? [d.parent.name, d.type] : [],
    ]),
    domains: [...m.dma.domains.values()].map((d) => [d.id, d.unit.name, d.caps]),
    drivers: [...m.drivers.values()].map((d) => [d.name, d.dynIds]),
  });
}
