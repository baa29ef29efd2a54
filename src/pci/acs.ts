// The ACS test a device must pass to be isolated from its peers (drivers/pci/pci.c
// pci_acs_enabled and pci_acs_path_enabled), and the control bits Linux turns on
// (pci.c pci_enable_acs / pci_std_enable_acs, pci_disable_acs_redir).

import { ACS } from '../topology/model';
import type { AcsOverride } from '../topology/model';
import { PCI_EXP_TYPE } from './pcie-type';
import { acsQuirkVerdict } from './quirks/acs-quirks';
import type { AcsQuirkDecision } from './quirks/acs-quirks';
import type { PciFunction } from './enumerate';
import { memoize } from './memo';

/** What pci_device_group asks of every bridge and function (iommu.c REQ_ACS_FLAGS). */
export const REQ_ACS_FLAGS = ACS.sv | ACS.rr | ACS.cr | ACS.uf;

export interface AcsEnableOptions {
  /** An IOMMU driver called pci_request_acs(); without it firmware's (zero) control stays. */
  requested: boolean;
  /** pci=noats also turns on Translation Blocking. */
  noats: boolean;
  /** pci=disable_acs_redir matched this device: RR, CR and EC are cleared. */
  redirDisabled: boolean;
}

/** The ACS control register after boot, for a function whose capability offers `cap`. */
export function enabledAcsCtrl(cap: number | null, o: AcsEnableOptions): number {
  if (cap === null) return 0;
  let ctrl = 0;
  if (o.requested) {
    ctrl = cap & (ACS.sv | ACS.rr | ACS.cr | ACS.uf);
    if (o.noats) ctrl |= cap & ACS.tb;
  }
  if (o.redirDisabled) ctrl &= ~(ACS.rr | ACS.cr | ACS.ec);
  return ctrl;
}

export interface AcsContext {
  ivrsPresent: boolean;
  /** An IOMMU driver requested ACS; without it the Intel PCH enable quirk never runs. */
  requested: boolean;
  acsOverride: AcsOverride;
  /** Per-function ACS control values after boot. */
  ctrlOf(f: PciFunction): number;
}

export interface AcsResult {
  ok: boolean;
  /** Plain words for `explain`: why it passed or failed. */
  why: string;
  /** The quirk that decided, if one did. */
  quirk?: string;
}

const FLAG_NAMES: [number, string][] = [
  [ACS.sv, 'SV'],
  [ACS.tb, 'TB'],
  [ACS.rr, 'RR'],
  [ACS.cr, 'CR'],
  [ACS.uf, 'UF'],
  [ACS.ec, 'EC'],
  [ACS.dt, 'DT'],
];

/** Names for every combination of the seven bits: grouping asks for them once per device. */
const NAMES_BY_BITS: string[] = Array.from({ length: 0x80 }, (_, bits) =>
  FLAG_NAMES.filter(([b]) => bits & b)
    .map(([, n]) => n)
    .join(' '),
);

export function acsFlagNames(bits: number): string {
  return NAMES_BY_BITS[bits & 0x7f]!;
}

/** pci_acs_enabled(dev, want). */
export function pciAcsEnabled(f: PciFunction, want: number, ctx: AcsContext): AcsResult {
  const q = acsQuirkVerdict(
    {
      vendor: f.id.vendor,
      device: f.id.device,
      pcieType: f.pcieType,
      multifunction: f.multifunction,
      onRootBus: f.bus.parent === null,
      acsCap: f.acsCap,
      acsCtrl: ctx.ctrlOf(f),
    },
    want,
    { ivrsPresent: ctx.ivrsPresent, intelPchEnableFails: !ctx.requested, acsOverride: ctx.acsOverride },
  );
  if (q) return quirkResult(q);
  if (!f.pcie) return CONVENTIONAL;
  switch (f.pcieType) {
    case PCI_EXP_TYPE.PCI_BRIDGE:
    case PCI_EXP_TYPE.PCIE_BRIDGE:
    case PCI_EXP_TYPE.RC_EC:
      return NEVER_ISOLATES;
    case PCI_EXP_TYPE.ROOT_PORT:
    case PCI_EXP_TYPE.DOWNSTREAM:
      return capOk(f, want, ctx);
    case PCI_EXP_TYPE.ENDPOINT:
    case PCI_EXP_TYPE.LEG_END:
    case PCI_EXP_TYPE.UPSTREAM:
    case PCI_EXP_TYPE.RC_END:
      if (!f.multifunction) return SINGLE_FUNCTION;
      return capOk(f, want, ctx);
    default:
      return NEEDS_NONE;
  }
}

// Grouping asks every function and bridge, so the answers without a quirk are made once.
const CONVENTIONAL: AcsResult = { ok: false, why: 'conventional PCI (no ACS possible)' };
const NEVER_ISOLATES: AcsResult = { ok: false, why: 'a PCIe-to-PCI bridge or event collector never isolates' };
const SINGLE_FUNCTION: AcsResult = { ok: true, why: 'single-function, needs no ACS' };
const NEEDS_NONE: AcsResult = { ok: true, why: 'this PCIe type needs no ACS' };
const NO_CAP: AcsResult = { ok: false, why: 'no ACS capability' };
const LACKS: AcsResult[] = NAMES_BY_BITS.map((names) => ({ ok: false, why: `ACS control lacks ${names}` }));
const ENABLED: AcsResult[] = NAMES_BY_BITS.map((names) => ({ ok: true, why: `ACS enabled (${names || 'nothing needed'})` }));

/** A quirk's answer in words, made once per decision (the table's decisions are shared). */
const quirkResult = memoize(
  (q: AcsQuirkDecision): AcsResult => ({ ok: q.verdict === 'pass', why: `${q.verdict === 'pass' ? 'isolated' : 'not isolated'} by ${q.name}`, quirk: q.name }),
);

/** pci_acs_flags_enabled: bits the capability does not implement count as on (EC excepted). */
function capOk(f: PciFunction, want: number, ctx: AcsContext): AcsResult {
  if (f.acsCap === null) return NO_CAP;
  const need = want & (f.acsCap | ACS.ec);
  const ctrl = ctx.ctrlOf(f);
  const missing = need & ~ctrl;
  if (missing) return LACKS[missing & 0x7f]!;
  return ENABLED[ctrl & 0x7f]!;
}

/**
 * pci_acs_path_enabled(start, NULL, want): start and every bridge above it must pass; the
 * walk ends at the root bus. Returns the first function that fails, or undefined.
 */
export function firstAcsFailureOnPath(start: PciFunction, want: number, ctx: AcsContext): PciFunction | undefined {
  let f: PciFunction | null = start;
  while (f) {
    if (!pciAcsEnabled(f, want, ctx).ok) return f;
    f = parentBridge(f);
  }
  return undefined;
}

/** The bridge above a function, skipping VF virtual buses (which have no bridge). */
export function parentBridge(f: PciFunction): PciFunction | null {
  let bus = f.bus;
  while (bus.parent !== null) {
    if (bus.bridge) return bus.bridge;
    bus = bus.parent;
  }
  return null;
}
