// The store side of a PCI device's writable attributes, each a thin call into the engine.

import { Errno } from '../engine/errno';
import { parseUlong, setDriverOverride } from '../engine/driver-ops';
import { storeBrokenParity, storeD3cold, storeEnable, storeMsiBus, storeResetMethod } from '../engine/pci-attrs';
import { removeStore, rescanBridge, rescanDevice } from '../engine/hotplug';
import { setNumaNode } from '../engine/device-settings';
import type { Machine } from '../engine/machine';
import type { PciDevice } from '../engine/types';

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
    brokenParity: (t) => storeBrokenParity(m, d, t),
    d3cold: (t) => storeD3cold(m, d, t),
    msiBus: (t) => storeMsiBus(m, d, t),
    driverOverride: (t) => setDriverOverride(m, d, t),
    enable: (t) => storeEnable(m, d, t),
    numaNode: (t) => setNumaNode(m, d, t),
    remove: (t) => removeStore(m, d, t),
    rescan: (t) => rescanDevice(m, d, t),
    rescanBridge: (t) => rescanBridge(m, d, t),
    // pci-sysfs.c reset_store: only "1" resets; pci_reset_function with every method
    // disabled through reset_method is ENOTTY.
    reset: numberStore((v) => {
      if (v !== 1) throw new Errno('EINVAL', 'reset takes 1');
      if (d.resetMethods?.length === 0) throw new Errno('ENOTTY', 'every reset method is disabled');
    }),
    resetSubordinate: numberStore(),
    resetMethod: (t) => storeResetMethod(m, d, t),
  };
}
