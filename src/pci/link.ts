// The PCIe link of each function: what its Link Capabilities offer (the topology's `link`,
// else its model's) and what Link Status shows once the link trained, which is the fastest
// speed and the widest width both ends support (PCIe r6.0 4.2.6: the LTSSM settles on the
// highest common data rate and the largest common width). A GPU x16 at 16 GT/s under a
// port of 8 GT/s x8 runs at 8 GT/s x8. The functions of one device share its link.

import { PCI_TYPES } from '../topology/device-fields';
import type { DeviceSpec, LinkSpec } from '../topology/model';
import { selectModel } from './capabilities/layout';
import type { Shape } from './capabilities/qemu-models';
import type { PciFunction } from './enumerate';
import { PCI_EXP_TYPE, pcieTypeCode } from './pcie-type';

export interface Link {
  /** LNKCAP/LNKSTA speed code: 1 = 2.5 GT/s .. 6 = 64 GT/s (0: none). */
  speed: number;
  /** Lanes; 0 in a status is a link that is down. */
  width: number;
}

/** A spec's place: the other functions on its bus (to find its device's function 0). */
interface Placed {
  spec: DeviceSpec;
  siblings: readonly DeviceSpec[];
  /** The bus is one ARI device: function 0 is devfn 0. */
  ariBus: boolean;
}

export function shapeOfSpec(spec: DeviceSpec): Shape {
  const bridge = PCI_TYPES[spec.type].bridge;
  return selectModel({
    headerType: bridge ? 1 : 0,
    pcie: spec.pcie,
    pcieType: spec.pcie ? pcieTypeCode(spec.type) : null,
    classCode: spec.classCode,
    vendor: spec.id.vendor,
    device: spec.id.device,
  }).shape;
}

const merge = (own: LinkSpec | undefined, base: Link): Link => ({ speed: own?.speed ?? base.speed, width: own?.width ?? base.width });

function functionZero(p: Placed): DeviceSpec | undefined {
  const devfn = p.ariBus ? 0 : p.spec.devfn & ~7;
  return p.siblings.find((d) => d.devfn === devfn);
}

function childOf(port: DeviceSpec): Placed | undefined {
  const child = port.devices.find((d) => d.devfn === 0 && d.pcie);
  return child && { spec: child, siblings: port.devices, ariBus: port.ari };
}

/** LNKCAP: the topology's `link`, else the model's; a hardware port that fits its card is as
 * wide as the card below it; a function other than 0 has its device's link. */
function capOf(p: Placed): Link {
  const { spec } = p;
  const shape = shapeOfSpec(spec);
  const model: Link = { speed: shape.link?.speed ?? 1, width: shape.link?.width ?? 1 };
  if (PCI_TYPES[spec.type].bridge) {
    const child = shape.hardware && shape.fitsChild ? childOf(spec) : undefined;
    return merge(spec.link, child ? { speed: model.speed, width: capOf(child).width } : model);
  }
  const fn0 = functionZero(p);
  if (fn0 && fn0 !== spec && fn0.pcie) return merge(spec.link, capOf({ ...p, spec: fn0 }));
  return merge(spec.link, model);
}

/** What an end brings to training: QEMU 7.2 trains every emulated link at 2.5 GT/s x1
 * (unless the topology gave it a link); real hardware its capability. */
function offerOf(p: Placed): Link {
  if (!shapeOfSpec(p.spec).hardware && !p.spec.link) return { speed: 1, width: 1 };
  return capOf(p);
}

const lower = (a: Link, b: Link): Link => ({ speed: Math.min(a.speed, b.speed), width: Math.min(a.width, b.width) });

function placed(f: PciFunction): Placed {
  const parent = f.bus.bridge;
  return { spec: f.spec, siblings: parent ? parent.spec.devices : f.bus.hostBridge.spec.devices, ariBus: parent?.spec.ari === true };
}

const hasLink = (f: PciFunction): boolean => f.pcie && f.pcieType !== PCI_EXP_TYPE.RC_END && f.pcieType !== PCI_EXP_TYPE.RC_EC;
const facesDown = (t: number | null): boolean => t === PCI_EXP_TYPE.ROOT_PORT || t === PCI_EXP_TYPE.DOWNSTREAM;

/** LNKCAP speed and width of a function with a link (a VF shows its PF's). */
export function linkCapOf(f: PciFunction): Link | null {
  if (f.physfn) return linkCapOf(f.physfn);
  return hasLink(f) ? capOf(placed(f)) : null;
}

/**
 * LNKSTA of a function with a link. A root or downstream port trains with function 0 of the
 * device below (none: the link is down, x0, as an empty slot shows; a QEMU port stays at its
 * 2.5 GT/s x1); anything else with the port above it (none: its own offer). `link-status`
 * on either end of a link is what both ends show.
 */
export function linkStatusOf(f: PciFunction): Link | null {
  if (f.physfn) return linkStatusOf(f.physfn);
  if (!hasLink(f)) return null;
  const me = placed(f);
  const mine = offerOf(me);
  if (facesDown(f.pcieType)) {
    const child = childOf(f.spec);
    const explicit = f.spec.linkStatus ?? child?.spec.linkStatus;
    if (!child) return merge(explicit, shapeOfSpec(f.spec).hardware ? { speed: 1, width: 0 } : mine);
    return merge(explicit, lower(mine, offerOf(child)));
  }
  const fn0 = functionZero(me);
  const port = f.bus.bridge && facesDown(f.bus.bridge.pcieType) ? f.bus.bridge : undefined;
  const explicit = f.spec.linkStatus ?? fn0?.linkStatus ?? port?.spec.linkStatus;
  return merge(explicit, port ? lower(mine, offerOf(placed(port))) : mine);
}

/**
 * LNKCAP Port Number: the topology's `port`, else what hardware of the kind numbers: a
 * switch's downstream port its device number (PLX: station port = device), a root port its
 * place among the root ports of its bus from 1 (Intel PCH: 1c.0 is port 1); QEMU's models
 * and endpoints 0.
 */
export function portNumberOf(f: PciFunction): number {
  if (f.spec.port !== undefined) return f.spec.port;
  if (!hasLink(f) || !shapeOfSpec(f.spec).hardware) return 0;
  if (f.pcieType === PCI_EXP_TYPE.DOWNSTREAM) return f.devfn >> 3;
  if (f.pcieType !== PCI_EXP_TYPE.ROOT_PORT) return 0;
  return placed(f).siblings.filter((x) => x.type === 'root-port' && x.devfn <= f.devfn).length;
}
