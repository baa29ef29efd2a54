// `bars`, `rom` and `sriov.vf-bars`: a device's BARs written the way `lspci -vvv` shows
// them, one string per BAR number: "256M mem64 prefetchable" for
// `Region 1: Memory at ... (64-bit, prefetchable) [size=256M]`, "128 io" for
// `Region 5: I/O ports at ... [size=128]`, "16M mem32" for a 32-bit non-prefetchable one.

import type { BarSpec } from './model';
import type { At, YamlReader } from './yaml-reader';

const UNITS: Record<string, number> = { '': 1, K: 1 << 10, M: 1 << 20, G: 2 ** 30, T: 2 ** 40 };
const KINDS = ['mem32', 'mem64', 'io'] as const;
/** Largest BAR accepted: 1 TiB, beyond any device's BAR today (and exact as a JS number). */
const MAX_MEM64 = 2 ** 40;

/** "16M", "128", "0x4000", "2G": bytes, or undefined. */
export function parseSize(text: string): number | undefined {
  const m = /^(0x[0-9a-f]+|\d+)([KMGT]?)$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]!) * UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** lspci's size notation ([size=256M]): the largest unit that divides the size. */
export function formatSize(n: number): string {
  for (const u of ['T', 'G', 'M', 'K'] as const) if (n >= UNITS[u]! && n % UNITS[u]! === 0) return `${n / UNITS[u]!}${u}`;
  return String(n);
}

const isPow2 = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/** One BAR string: size, kind, optional `prefetchable`; the message says what is wrong. */
export function parseBar(index: number, text: string): BarSpec | string {
  const words = text.trim().split(/[\s,]+/);
  const [sizeText, kind, ...rest] = words;
  const size = sizeText === undefined ? undefined : parseSize(sizeText);
  if (size === undefined || kind === undefined || !(KINDS as readonly string[]).includes(kind)) {
    return `"${text}" is not a BAR: write "<size> <mem32|mem64|io> [prefetchable]", e.g. "256M mem64 prefetchable" or "128 io"`;
  }
  const prefetch = rest.length === 1 && (rest[0] === 'prefetchable' || rest[0] === 'pref');
  if (rest.length > 0 && !prefetch) return `"${rest.join(' ')}" after the BAR kind: only "prefetchable" may follow`;
  const k = kind as BarSpec['kind'];
  // PCI Local Bus 3.0 6.2.5.1: a BAR decodes a naturally aligned power-of-two range, at
  // least 16 bytes of memory or 4 bytes of I/O; I/O BARs take at most 256 bytes.
  if (!isPow2(size)) return `size ${sizeText} is not a power of two (a BAR decodes a power-of-two range)`;
  if (k === 'io') {
    if (prefetch) return 'an I/O BAR cannot be prefetchable (the bit exists only in memory BARs)';
    if (size < 4 || size > 256) return `an I/O BAR is 4 to 256 bytes, not ${sizeText}`;
  } else {
    if (size < 16) return `a memory BAR is at least 16 bytes, not ${sizeText}`;
    if (k === 'mem32' && size > 2 ** 31) return `a 32-bit BAR is at most 2G, not ${sizeText} (use mem64)`;
    if (size > MAX_MEM64) return `a BAR is at most 1T here, not ${sizeText}`;
  }
  return { index, size, kind: k, prefetch };
}

/**
 * A `bars` (or `vf-bars`) mapping: BAR number → BAR string. `count` is how many BAR
 * registers the header has (6 for type 0, 2 for a bridge); a 64-bit BAR takes two.
 */
export function readBars(r: YamlReader, at: At, count: number): BarSpec[] | undefined {
  const m = r.map(at, null);
  if (!m) return undefined;
  const out: BarSpec[] = [];
  let ok = true;
  for (const e of m.all()) {
    const index = /^\d$/.test(e.key) ? Number(e.key) : -1;
    if (index < 0 || index >= count) {
      r.error(e.keyOffset, e.value.path, `BAR ${e.key} does not exist: this header has BARs 0-${count - 1} (the expansion ROM is "rom")`);
      ok = false;
      continue;
    }
    const text = r.string(e.value);
    if (text === undefined) {
      ok = false;
      continue;
    }
    const bar = parseBar(index, text);
    if (typeof bar === 'string') {
      r.error(e.value.offset, e.value.path, bar);
      ok = false;
      continue;
    }
    if (bar.kind === 'mem64' && index === count - 1) {
      r.error(e.value.offset, e.value.path, `a 64-bit BAR takes two registers, so BAR ${index}, the last, cannot be one`);
      ok = false;
      continue;
    }
    out.push(bar);
  }
  out.sort((a, b) => a.index - b.index);
  for (const b of out) {
    const upper = out.find((x) => x.index === b.index + 1);
    if (b.kind === 'mem64' && upper) {
      const e = m.get(String(upper.index))!;
      r.error(e.offset, e.path, `BAR ${upper.index} is the upper half of 64-bit BAR ${b.index}`);
      ok = false;
    }
  }
  return ok ? out : undefined;
}

/** `rom`: a size (PCI 6.2.5.2: the ROM BAR decodes 2K and up, here at most 16M) or `none`. */
export function readRom(r: YamlReader, at: At): number | undefined {
  const v = at.node.kind === 'scalar' ? at.node.value : undefined;
  if (v === false || v === 'none') return 0;
  const text = typeof v === 'number' || typeof v === 'bigint' ? String(v) : r.string(at);
  if (text === undefined) return undefined;
  const size = parseSize(text);
  if (size === 0) return 0;
  if (size === undefined) r.error(at.offset, at.path, `"${text}" is not a ROM size (e.g. 512K) or none`);
  else if (!isPow2(size)) r.error(at.offset, at.path, `ROM size ${text} is not a power of two`);
  else if (size < 2048 || size > 16 * 2 ** 20) r.error(at.offset, at.path, `a ROM is 2K to 16M, not ${text}`);
  else return size;
  return undefined;
}
