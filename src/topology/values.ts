// Parsers for the small textual values of a topology: PCI IDs, device keys, device
// addresses and ACS flags. Each returns the value or an error message (never throws).

import { ACS } from './model';
import type { AcsFlag, PciId } from './model';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ID_RE = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/;

/** `vvvv:dddd`, four hexadecimal digits each (as `lspci -n` prints them). */
export function parsePciId(text: string): Parsed<PciId> {
  const m = ID_RE.exec(text);
  if (!m) return { ok: false, message: `"${text}" is not a PCI ID vvvv:dddd (four hex digits each, e.g. 8086:10d3)` };
  return { ok: true, value: { vendor: parseInt(m[1]!, 16), device: parseInt(m[2]!, 16) } };
}

export interface DeviceKey {
  devfn: number;
  /** True for the ARI form "00.a5". */
  ari: boolean;
}

const KEY_RE = /^([0-9a-fA-F]{2})\.([0-9a-fA-F]{1,2})$/;

/**
 * A key of a `devices` map.
 * - `DD.F`: slot DD 00-1f and function F 0-7, hexadecimal; devfn = DD << 3 | F.
 * - `00.FF`: the ARI form, two hex digits after the dot: function 00-ff of device 00, so
 *   devfn = FF. Only on the secondary bus of a bridge with `ari: true` (`ariBus`); there
 *   a function above 7 may also be written `DD.F` (devfn 0x0a = "01.2" = "00.0a").
 */
export function parseDeviceKey(text: string, ariBus: boolean): Parsed<DeviceKey> {
  const m = KEY_RE.exec(text);
  if (!m) return { ok: false, message: `device key "${text}" is not "DD.F" (slot 00-1f, function 0-7, hexadecimal)` };
  const slot = parseInt(m[1]!, 16);
  const fnText = m[2]!;
  const fn = parseInt(fnText, 16);
  if (fnText.length === 2) {
    if (!ariBus) {
      return { ok: false, message: `device key "${text}" is an ARI function number, allowed only below a bridge with ari: true` };
    }
    if (slot !== 0) return { ok: false, message: `device key "${text}": the ARI form "00.FF" takes slot 00` };
    return { ok: true, value: { devfn: fn, ari: true } };
  }
  if (slot > 0x1f) return { ok: false, message: `device key "${text}": slot ${m[1]} is out of range (00-1f)` };
  if (fn > 7) return { ok: false, message: `device key "${text}": function ${fnText} is out of range (0-7)` };
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
