// Parsers for the small textual values of a topology: PCI IDs, device keys, device
// addresses and ACS flags. Each returns the value or an error message (never throws).

import { ACS } from './model';
import type { AcsFlag, PciId } from './model';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** The value of the hexadecimal digit at text[at], or -1. */
function hexDigit(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** The value of `count` hexadecimal digits from text[at], or -1. (Read by hand: a large file has one ID and one key a device.) */
function hexDigits(text: string, at: number, count: number): number {
  let v = 0;
  for (let k = at; k < at + count; k++) {
    const d = hexDigit(text, k);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** `vvvv:dddd`, four hexadecimal digits each (as `lspci -n` prints them). */
export function parsePciId(text: string): Parsed<PciId> {
  const vendor = text.length === 9 && text.charCodeAt(4) === 0x3a ? hexDigits(text, 0, 4) : -1;
  const device = vendor < 0 ? -1 : hexDigits(text, 5, 4);
  if (device < 0) return { ok: false, message: `"${text}" is not a PCI ID vvvv:dddd (four hex digits each, e.g. 8086:10d3)` };
  return { ok: true, value: { vendor, device } };
}

export interface DeviceKey {
  devfn: number;
  /** True for the ARI form "00.a5". */
  ari: boolean;
}

/**
 * A key of a `devices` map.
 * - `DD.F`: slot DD 00-1f and function F 0-7, hexadecimal; devfn = DD << 3 | F.
 * - `00.FF`: the ARI form, two hex digits after the dot: function 00-ff of device 00, so
 *   devfn = FF. Only on the secondary bus of a bridge with `ari: true` (`ariBus`); there
 *   a function above 7 may also be written `DD.F` (devfn 0x0a = "01.2" = "00.0a").
 */
export function parseDeviceKey(text: string, ariBus: boolean): Parsed<DeviceKey> {
  // [0-9a-fA-F]{2} '.' [0-9a-fA-F]{1,2}
  const fnDigits = text.length - 3;
  const slot = (fnDigits === 1 || fnDigits === 2) && text.charCodeAt(2) === 0x2e ? hexDigits(text, 0, 2) : -1;
  const fn = slot < 0 ? -1 : hexDigits(text, 3, fnDigits);
  if (fn < 0) return { ok: false, message: `device key "${text}" is not "DD.F" (slot 00-1f, function 0-7, hexadecimal)` };
  if (fnDigits === 2) {
    if (!ariBus) {
      return { ok: false, message: `device key "${text}" is an ARI function number, allowed only below a bridge with ari: true` };
    }
    if (slot !== 0) return { ok: false, message: `device key "${text}": the ARI form "00.FF" takes slot 00` };
    return { ok: true, value: { devfn: fn, ari: true } };
  }
  if (slot > 0x1f) return { ok: false, message: `device key "${text}": slot ${text.slice(0, 2)} is out of range (00-1f)` };
  if (fn > 7) return { ok: false, message: `device key "${text}": function ${text.slice(3)} is out of range (0-7)` };
  return { ok: true, value: { devfn: (slot << 3) | fn, ari: false } };
}

const ADDRESS_RE = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;

/** A device address `SSSS:BB:DD.F` or `BB:DD.F` (segment 0000), normalized to lower-case `SSSS:BB:DD.F`. */
export function parseDeviceAddress(text: string): Parsed<string> {
  const m = ADDRESS_RE.exec(text);
  if (!m || parseInt(m[3]!, 16) > 0x1f) {
    return { ok: false, message: `"${text}" is not a device address SSSS:BB:DD.F (e.g. 0000:00:1c.0)` };
  }
  const segment = (m[1] ?? '0000').toLowerCase();
  return { ok: true, value: `${segment}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}.${m[4]!}` };
}

export const ACS_FLAGS = Object.keys(ACS) as AcsFlag[];

export function acsBit(flag: string): number | undefined {
  return (ACS as Record<string, number>)[flag];
}

/** All seven capability bits, for `acs: true`. */
export const ACS_ALL = ACS_FLAGS.reduce((mask, f) => mask | ACS[f], 0);

export function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
