// A device's `nvme` mapping: the namespaces an NVMe controller (class 0x010802) offers and
// the strings its Identify Controller data reports (model, serial, firmware revision).

import type { NamespaceSpec, NvmeSpec } from './model';
import type { At, YamlReader } from './yaml-reader';

export const NVME_KEYS = ['namespaces', 'model', 'serial', 'firmware'] as const;
export const NAMESPACE_KEYS = ['size', 'lba'] as const;

/** PCI class code of an NVM Express controller (mass storage, NVM, NVMe). */
export const NVME_CLASS = 0x010802;

/** The LBA data sizes a namespace may be formatted with (LBADS 9 and 12). */
const LBA_SIZES = [512, 4096] as const;

/** Identify Controller field widths (NVMe base spec: SN 20, MN 40, FR 8 bytes of ASCII). */
const WIDTH = { serial: 20, model: 40, firmware: 8 } as const;

/** Unit suffixes: SI powers of 1000 and IEC powers of 1024, nothing in between (`K`, `M`,
 * `G`, `KB` would be ambiguous). */
const UNITS: Record<string, bigint> = {
  B: 1n,
  kB: 1000n,
  MB: 1000n ** 2n,
  GB: 1000n ** 3n,
  TB: 1000n ** 4n,
  PB: 1000n ** 5n,
  KiB: 1024n,
  MiB: 1024n ** 2n,
  GiB: 1024n ** 3n,
  TiB: 1024n ** 4n,
  PiB: 1024n ** 5n,
};

/** Largest namespace: 2^53 bytes (8 PiB), what a JavaScript number holds exactly. */
const MAX_BYTES = 2n ** 53n;

/** Parses `1TB`, `1.92TB`, `512GiB`, `4096B` or a plain number of bytes. */
export function parseSize(text: string): { ok: true; bytes: bigint } | { ok: false; message: string } {
  const m = /^(\d+)(?:\.(\d+))?\s*([A-Za-z]*)$/.exec(text.trim());
  if (!m) return { ok: false, message: `"${text}" is not a size (write e.g. 1TB, 1.92TB, 512GiB)` };
  const unitText = m[3] || 'B';
  const unit = UNITS[unitText];
  if (unit === undefined) {
    return { ok: false, message: `unknown size unit "${unitText}" (one of: ${Object.keys(UNITS).join(', ')}; kB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB of 1024)` };
  }
  const frac = m[2] ?? '';
  const scaled = BigInt(m[1]! + frac) * unit;
  const div = 10n ** BigInt(frac.length);
  if (scaled % div !== 0n) return { ok: false, message: `"${text}" is not a whole number of bytes` };
  return { ok: true, bytes: scaled / div };
}

function readNamespace(r: YamlReader, at: At): NamespaceSpec | undefined {
  let sizeAt: At | undefined = at;
  let lba = 512;
  if (at.node.kind === 'map') {
    const m = r.map(at, NAMESPACE_KEYS);
    if (!m) return undefined;
    sizeAt = m.get('size');
    if (!sizeAt) {
      r.error(at.offset, at.path, 'missing required key "size"');
      return undefined;
    }
    const lbaAt = m.get('lba');
    if (lbaAt) {
      const v = r.int(lbaAt, 0, 1 << 20);
      if (v === undefined) return undefined;
      if (!(LBA_SIZES as readonly number[]).includes(v)) {
        r.error(lbaAt.offset, lbaAt.path, `lba ${v}: a namespace is formatted with ${LBA_SIZES.join(' or ')}-byte blocks`);
        return undefined;
      }
      lba = v;
    }
  }
  const node = sizeAt.node;
  let bytes: bigint | undefined;
  if (node.kind === 'scalar' && (typeof node.value === 'number' || typeof node.value === 'bigint')) bytes = r.bigint(sizeAt, 1n, MAX_BYTES);
  else {
    const text = r.string(sizeAt);
    if (text === undefined) return undefined;
    const parsed = parseSize(text);
    if (!parsed.ok) r.error(sizeAt.offset, sizeAt.path, parsed.message);
    else bytes = parsed.bytes;
  }
  if (bytes === undefined) return undefined;
  if (bytes < BigInt(lba) || bytes > MAX_BYTES) {
    r.error(sizeAt.offset, sizeAt.path, `size ${bytes} bytes is out of range (one ${lba}-byte block to 8 PiB)`);
    return undefined;
  }
  if (bytes % BigInt(lba) !== 0n) {
    r.error(sizeAt.offset, sizeAt.path, `size ${bytes} bytes is not a whole number of ${lba}-byte blocks`);
    return undefined;
  }
  return { bytes: Number(bytes), lba };
}

function readIdString(r: YamlReader, at: At, what: keyof typeof WIDTH): string | undefined {
  const node = at.node;
  // A serial or revision of digits only reads as a number in YAML; take what was written.
  const text = node.kind === 'scalar' && (typeof node.value === 'number' || typeof node.value === 'bigint') ? (node.source ?? String(node.value)) : r.string(at);
  if (text === undefined) return undefined;
  if (!/^[\x20-\x7e]*$/.test(text) || text.trim() === '' || text.length > WIDTH[what]) {
    r.error(at.offset, at.path, `${what} "${text}": the Identify Controller field holds 1 to ${WIDTH[what]} printable ASCII characters`);
    return undefined;
  }
  return text;
}

/** The `nvme` mapping of a device whose class code is `classCode`. */
export function readNvme(r: YamlReader, at: At, classCode: number): NvmeSpec | undefined {
  const m = r.map(at, NVME_KEYS);
  if (!m) return undefined;
  if (classCode !== NVME_CLASS) {
    r.error(at.offset, at.path, `nvme: only an NVMe controller (class 0x010802) has namespaces; this is class 0x${classCode.toString(16).padStart(6, '0')}`);
  }
  const spec: NvmeSpec = {};
  const nsAt = m.get('namespaces');
  if (nsAt) {
    const items = r.list(nsAt);
    if (items) {
      if (items.length > 1024) r.error(nsAt.offset, nsAt.path, `${items.length} namespaces: at most 1024`);
      const list = items.map((item) => readNamespace(r, item));
      if (list.every((n): n is NamespaceSpec => n !== undefined)) spec.namespaces = list;
    }
  }
  for (const key of ['model', 'serial', 'firmware'] as const) {
    const v = m.get(key);
    const text = v && readIdString(r, v, key);
    if (text !== undefined) spec[key] = text;
  }
  return spec;
}
