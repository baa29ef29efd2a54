// The device-model fields of a device entry, written as `lspci -vvv` shows them: `link` and
// `link-status` (LnkCap, LnkSta), `port` (LnkCap Port #), `msi`, `msix` and `pm`.

import type { LinkSpec, MsiSpec, PmSpec } from './model';
import type { At, YamlReader } from './yaml-reader';

export const LINK_KEYS = ['speed', 'width'] as const;
export const MSI_KEYS = ['vectors', '64-bit', 'masking'] as const;
export const PM_KEYS = ['version', 'd1', 'd2', 'pme', 'no-soft-reset'] as const;

/** LNKCAP/LNKSTA speed codes by the text lspci prints (PCI_EXP_LNKCAP_SLS_*). */
const SPEEDS: Record<string, number> = { '2.5': 1, '5': 2, '5.0': 2, '8': 3, '8.0': 3, '16': 4, '16.0': 4, '32': 5, '32.0': 5, '64': 6, '64.0': 6 };
export const SPEED_TEXT = ['', '2.5GT/s', '5GT/s', '8GT/s', '16GT/s', '32GT/s', '64GT/s'] as const;
/** Link widths the Maximum Link Width field defines (PCIe r6.0 7.5.3.6). */
const WIDTHS = [1, 2, 4, 8, 12, 16, 32];
const PME_STATES = ['d0', 'd1', 'd2', 'd3hot', 'd3cold'] as const;
const MSI_VECTORS = [0, 1, 2, 4, 8, 16, 32];
/** The MSI-X Table Size field is 11 bits, N-1 encoded. */
export const MAX_MSIX = 2048;

function readSpeed(r: YamlReader, at: At): number | undefined {
  const text = r.string(at);
  if (text === undefined) return undefined;
  const m = /^([0-9.]+) ?GT\/s$/i.exec(text.trim());
  const code = m ? SPEEDS[m[1]!] : undefined;
  if (code === undefined) r.error(at.offset, at.path, `"${text}" is not a PCIe link speed (one of: ${SPEED_TEXT.slice(1).join(', ')})`);
  return code;
}

/**
 * `link: { speed: 16GT/s, width: 16 }` (the capability) or `link-status: {...}` (the trained
 * link; width 0 is a link that is down). Either field may be left out: the model's stays.
 */
export function readLink(r: YamlReader, at: At, status: boolean): LinkSpec | undefined {
  const m = r.map(at, LINK_KEYS);
  if (!m) return undefined;
  const out: LinkSpec = {};
  const speedAt = m.get('speed');
  const widthAt = m.get('width');
  if (!speedAt && !widthAt) {
    r.error(at.offset, at.path, 'give speed, width or both');
    return undefined;
  }
  const speed = speedAt && readSpeed(r, speedAt);
  let width = widthAt && r.int(widthAt, 0, 32);
  if (widthAt && width !== undefined && !WIDTHS.includes(width) && !(status && width === 0)) {
    r.error(widthAt.offset, widthAt.path, `width ${width} is not a PCIe link width (${status ? '0 (down), ' : ''}${WIDTHS.join(', ')})`);
    width = undefined;
  }
  if ((speedAt && speed === undefined) || (widthAt && width === undefined)) return undefined;
  if (speed !== undefined) out.speed = speed;
  if (width !== undefined) out.width = width;
  return out;
}

/** `msi: 8` (vectors; 0 = no MSI capability) or `msi: { vectors, 64-bit, masking }`. */
export function readMsi(r: YamlReader, at: At): MsiSpec | undefined {
  const vectorsOf = (a: At): number | undefined => {
    const n = r.int(a, 0, 32);
    if (n !== undefined && !MSI_VECTORS.includes(n)) {
      r.error(a.offset, a.path, `MSI offers 1, 2, 4, 8, 16 or 32 vectors (0: no MSI capability), not ${n}`);
      return undefined;
    }
    return n;
  };
  if (at.node.kind !== 'map') {
    const vectors = vectorsOf(at);
    return vectors === undefined ? undefined : { vectors };
  }
  const m = r.map(at, MSI_KEYS);
  if (!m) return undefined;
  const vAt = m.get('vectors');
  const vectors = vAt ? vectorsOf(vAt) : 1;
  const bitsAt = m.get('64-bit');
  const maskAt = m.get('masking');
  const is64 = bitsAt && r.bool(bitsAt);
  const masking = maskAt && r.bool(maskAt);
  if (vectors === undefined) return undefined;
  return { vectors, ...(is64 !== undefined ? { is64 } : {}), ...(masking !== undefined ? { masking } : {}) };
}

/** `msix: N`: the MSI-X table size (0 = no MSI-X capability). */
export function readMsix(r: YamlReader, at: At): number | undefined {
  return r.int(at, 0, MAX_MSIX);
}

/** `pm: false` (no PM capability) or `pm: { version: 3, d1, d2, pme: [d0, d3hot, d3cold], no-soft-reset }`. */
export function readPm(r: YamlReader, at: At): PmSpec | null | undefined {
  if (at.node.kind === 'scalar' && typeof at.node.value === 'boolean') return at.node.value ? undefined : null;
  if (at.node.kind !== 'map') {
    r.error(at.offset, at.path, 'expected false (no PM capability) or a mapping { version, d1, d2, pme, no-soft-reset }');
    return undefined;
  }
  const m = r.map(at, PM_KEYS);
  if (!m) return undefined;
  const vAt = m.get('version');
  const version = vAt ? r.int(vAt, 1, 3) : 3;
  const flag = (k: string): boolean | undefined => {
    const a = m.get(k);
    return a ? r.bool(a) : false;
  };
  let pme = 0;
  const pmeAt = m.get('pme');
  for (const item of (pmeAt && r.list(pmeAt)) ?? []) {
    const s = r.oneOf(item, PME_STATES, 'power state');
    if (s !== undefined) pme |= 1 << PME_STATES.indexOf(s);
  }
  const d1 = flag('d1');
  const d2 = flag('d2');
  const noSoftReset = m.has('no-soft-reset') ? flag('no-soft-reset') : undefined;
  if (version === undefined || d1 === undefined || d2 === undefined) return undefined;
  return { version, d1, d2, pme, ...(noSoftReset !== undefined ? { noSoftReset } : {}) };
}
