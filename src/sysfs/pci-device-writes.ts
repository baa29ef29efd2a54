// The store side of a PCI device's writable attributes, each a thin call into the engine.

import { Errno } from '../engine/errno';
import { parseLong, parseUlong, setDriverOverride, storeEnable } from '../engine/driver-ops';
import { removeStore, rescanBridge, rescanDevice } from '../engine/hotplug';
import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';
import { resetMethods } from './pci-device';

type Store = (text: string) => void;

function numberStore(check?: (n: number) => void): Store {
  return (text) => {
    const v = parseUlong(text);
    if (v === undefined) throw new Errno('EINVAL', 'not a number');
    check?.(v);
  };
}

export function pciWrites(m: Machine, d: PciDevice): Record<string, Store> {
  return {
    brokenParity: numberStore(),
    d3cold: numberStore(),
    msiBus: numberStore(),
    driverOverride: (t) => setDriverOverride(m, d, t),
    enable: (t) => storeEnable(d, t),
    // pci-sysfs.c numa_node_store: a node that is not online is EINVAL.
    numaNode: (t) => {
      const v = parseLong(t);
      if (v === undefined || (v !== -1 && !m.onlineNodes().includes(v))) throw new Errno('EINVAL', `node ${t.trim()} is not online`);
      d.numaNode = v;
    },
    remove: (t) => removeStore(m, d, t),
    rescan: (t) => rescanDevice(m, d, t),
    rescanBridge: (t) => rescanBridge(m, d, t),
    // pci-sysfs.c reset_store: only "1" resets.
    reset: numberStore((v) => {
      if (v !== 1) throw new Errno('EINVAL', 'reset takes 1');
    }),
    resetSubordinate: numberStore(),
    resetMethod: (t) => {
      const words = t.trim().split(/\s+/).filter(Boolean);
      const known = resetMethods(m, d);
      if (words.some((w) => w !== 'default' && !known.includes(w))) throw new Errno('EINVAL', 'unknown reset method');
    },
  };
}
