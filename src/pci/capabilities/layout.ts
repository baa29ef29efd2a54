// Picks the capability layout for a function: the QEMU model row for its vendor/device in
// its role, else the role's default row; then places the extended capabilities it has.

import { acsSize, EXT_SIZE } from './extended';
import type { ExtKind } from './extended';
import { HARDWARE_MODELS } from './hardware-models';
import { QEMU_MODELS } from './qemu-models';
import type { QemuModel, Role, Shape } from './qemu-models';
import type { PlacedStdCap, StdCap } from './standard';
import { memoizeById } from '../memo';

export interface RoleInput {
  headerType: 0 | 1;
  pcie: boolean;
  pcieType: number | null;
  classCode: number;
}

export function roleOf(f: RoleInput): Role {
  if (f.headerType === 1) {
    if (!f.pcie) return 'pci-bridge';
    switch (f.pcieType) {
      case 4:
        return 'root-port';
      case 5:
        return 'upstream-port';
      case 6:
        return 'downstream-port';
      default:
        // 7 (PCIe to PCI) and 8 (PCI to PCIe) are both bridges between the two worlds.
        return 'pcie-pci-bridge';
    }
  }
  if (f.pcie) return 'pcie-endpoint';
  // Host bridges, ISA/LPC and other bridge-class functions with a type 0 header.
  return f.classCode >>> 16 === 0x06 ? 'pci-plain' : 'pci-endpoint';
}

type ModelChoice = { readonly model: QemuModel; readonly shape: Shape };

/** Choices made so far, by ID and then by class and header (every image, every driver probe
 * and every subsystem ID asks; a machine has few distinct kinds of function). */
const chosenById = memoizeById((): Map<number, ModelChoice> => new Map());

export function selectModel(f: RoleInput & { vendor: number; device: number }): ModelChoice {
  const byId = chosenById(f.vendor, f.device);
  const kind = f.classCode * 64 + f.headerType * 32 + (f.pcie ? 16 : 0) + ((f.pcieType ?? 15) & 15);
  let choice = byId.get(kind);
  if (!choice) {
    choice = chooseModel(f);
    byId.set(kind, choice);
  }
  return choice;
}

function chooseModel(f: RoleInput & { vendor: number; device: number }): ModelChoice {
  const role = roleOf(f);
  const shapeOf = (m: QemuModel): Shape | undefined => (f.pcie ? m.pcie : m.conventional);
  // QEMU's models by their IDs (the recorded machines), else real hardware by role and
  // class, else the conventional fallbacks.
  const byId = QEMU_MODELS.find(
    (m) => m.role === role && m.vendor === f.vendor && m.devices !== null && f.device >= m.devices[0] && f.device <= m.devices[1] && shapeOf(m),
  );
  const model =
    byId ??
    HARDWARE_MODELS.find((m) => m.role === role && (m.classMatch === undefined || m.classMatch(f.classCode)) && shapeOf(m)) ??
    QEMU_MODELS.find((m) => m.role === role && m.vendor === null);
  const shape = model && shapeOf(model);
  if (!model || !shape) throw new Error(`no capability layout for role ${role} (${f.pcie ? 'PCIe' : 'conventional'})`);
  return { model, shape };
}

export function stdSize(c: StdCap): number {
  switch (c.kind) {
    case 'pm':
      return 8;
    case 'msi':
      return 0x0a + (c.is64 ? 4 : 0) + (c.perVectorMask ? 0x0a : 0);
    case 'msix':
      return 0x0c;
    case 'exp':
      return 0x3c;
    case 'ssvid':
    case 'shpc':
    case 'sata':
      return 8;
    case 'slotid':
      return 4;
    case 'virtio':
      return c.cfgType === 2 || c.cfgType === 5 ? 0x14 : 0x10;
  }
}

/** The lowest dword-aligned offset past every placed standard capability. */
export function nextFreeStd(placed: PlacedStdCap[]): number {
  const end = placed.reduce((hi, c) => Math.max(hi, c.at + stdSize(c)), 0x40);
  const at = (end + 3) & ~3;
  if (at + 8 > 0x100) throw new RangeError('no room left in the standard capability area');
  return at;
}

export interface ExtWant {
  kind: ExtKind;
  /** Bytes it occupies (ACS grows with an egress vector). */
  size: number;
}

/** Canonical order for extended capabilities the model does not place itself. */
const EXT_ORDER: ExtKind[] = ['aer', 'acs', 'ari', 'sriov', 'pasid', 'dsn'];

export function extSizeOf(kind: ExtKind, acsCap: number): number {
  return kind === 'acs' ? acsSize(acsCap) : EXT_SIZE[kind];
}

/**
 * Offsets for the wanted extended capabilities, ascending. The model's placements are kept;
 * the rest go in the lowest free 8-byte-aligned gap. The chain must start at 0x100, so if
 * nothing landed there the first capability moves down to it.
 */
export function placeExt(shape: Shape, wanted: ExtWant[]): { kind: ExtKind; at: number }[] {
  const sorted = [...wanted].sort((a, b) => EXT_ORDER.indexOf(a.kind) - EXT_ORDER.indexOf(b.kind));
  const placed: { kind: ExtKind; at: number; size: number }[] = [];
  for (const w of sorted) {
    const at = shape.ext[w.kind];
    if (at !== undefined) placed.push({ kind: w.kind, at, size: w.size });
  }
  for (const w of sorted) {
    if (shape.ext[w.kind] !== undefined) continue;
    let at = 0x100;
    for (;;) {
      const clash = placed.find((p) => at < p.at + p.size && p.at < at + w.size);
      if (!clash) break;
      at = (clash.at + clash.size + 7) & ~7;
    }
    if (at + w.size > 0x1000) throw new RangeError('no room left in extended config space');
    placed.push({ kind: w.kind, at, size: w.size });
  }
  placed.sort((a, b) => a.at - b.at);
  const first = placed[0];
  if (first && first.at !== 0x100) first.at = 0x100;
  return placed.map(({ kind, at }) => ({ kind, at }));
}/** SLTCAP Hot-Plug Capable of an implemented PCIe slot: as the topology's `slot.hotplug`
 * says, else QEMU's slots are and real hardware's are not. */
export function slotHotplugCapable(shape: Shape, declared: boolean | undefined): boolean {
  return declared ?? !shape.hardware;
}

/** Whether a bridge to conventional PCI carries an SHPC (what makes it hot-plug capable):
 * as `slot.hotplug` says, else as its model has it. */
export function bridgeHasShpc(shape: Shape, declared: boolean | undefined): boolean {
  return declared ?? shape.std.some((c) => c.kind === 'shpc');
}


