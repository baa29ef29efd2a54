// The position of a function among the boot-time functions that pass a test (the n-th
// NIC, the n-th slot port), computed once per list: asked for every device while its
// config image is built, a scan per question made a 10k-device walk quadratic.

import type { PciFunction } from './enumerate';

const indexes = new WeakMap<(f: PciFunction) => boolean, WeakMap<readonly PciFunction[], { length: number; at: Map<PciFunction, number> }>>();

/** The 0-based position of `f` among the functions of `order` that pass `test`, or -1.
 * `test` must be one function object (a module-level constant), so its index is reused. */
export function positionAmong(order: readonly PciFunction[], test: (f: PciFunction) => boolean, f: PciFunction): number {
  let byList = indexes.get(test);
  if (byList === undefined) {
    byList = new WeakMap();
    indexes.set(test, byList);
  }
  let index = byList.get(order);
  if (index === undefined || index.length !== order.length) {
    const at = new Map<PciFunction, number>();
    for (const x of order) if (test(x)) at.set(x, at.size);
    index = { length: order.length, at };
    byList.set(order, index);
  }
  return index.at.get(f) ?? -1;
}
