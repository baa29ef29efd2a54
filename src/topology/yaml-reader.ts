// Typed access to a parsed YAML document that never throws: every problem becomes a
// Diagnostic (file:line:col, YAML path, message) and the caller gets `undefined` back,
// so one pass reports every error in the file at once.

import type { LineCounter } from 'yaml';
import type { Diagnostic, SourcePos } from './model';
import { NULL_SCALAR, entryCount, pairKey, pairKeyOffset, pairValue, pairValueOffset, seqItem, seqItemOffset } from './tree';
import type { TreeDocument, TreeMap, TreeNode, TreeScalar } from './tree';

/** A node with where it sits: its YAML path and the offset messages about it point at. */
export interface At {
  readonly node: TreeNode;
  readonly path: string;
  readonly offset: number;
}

/**
 * A pair's value or a list's item. Its path is written only when asked for (a message, a
 * device's `path`): most values of a large file never need one.
 */
class ChildAt implements At {
  private written: string | undefined;
  private keyPrefix: string | undefined;

  constructor(
    readonly node: TreeNode,
    readonly offset: number,
    private readonly parent: At,
    /** The key in the parent mapping, or the index in the parent list. */
    private readonly step: string | number,
  ) {}

  get path(): string {
    if (this.written === undefined) {
      const parent = this.parent;
      if (typeof this.step === 'number') this.written = pathIndex(parent.path, this.step);
      // The same as pathKey(parent.path, step); the parent's `path.` is made once for all its keys.
      else this.written = (parent instanceof ChildAt ? parent.prefix() : prefixOf(parent.path)) + pathPart(this.step);
    }
    return this.written;
  }

  private prefix(): string {
    return (this.keyPrefix ??= prefixOf(this.path));
  }
}

function prefixOf(path: string): string {
  return path ? `${path}.` : '';
}

/** A key written as a bare identifier stays bare in paths; anything else is quoted. */
export function pathKey(parent: string, key: string): string {
  const part = pathPart(key);
  return parent ? `${parent}.${part}` : part;
}

function pathPart(key: string): string {
  let part = pathParts.get(key);
  if (part === undefined) {
    part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
    // Keys repeat (id, class, "00.0"): a large file asks for the same few thousand times.
    if (pathParts.size < 4096) pathParts.set(key, part);
  }
  return part;
}
const pathParts = new Map<string, string>();

export function pathIndex(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

interface Entry {
  keyOffset: number;
  /** False when YAML read the key as a number or boolean (an unquoted `01.0` is the number 1). */
  keyIsString: boolean;
  value: At;
}

/**
 * The pairs of one mapping, after duplicate and unknown keys were reported (`skipped`: the
 * pairs left out for that). Values are looked up in the tree when asked for, so reading a
 * mapping makes no object per pair; mappings of more than a few pairs get an index.
 */
export class MapView {
  constructor(
    readonly at: At,
    private readonly node: TreeMap,
    private readonly skipped: ReadonlySet<number> | undefined,
    private readonly index: ReadonlyMap<string, number> | undefined,
    /** keyBit() of every kept key: most keys asked for are not there, and this says so at once. */
    private readonly keyBits: number,
  ) {}

  /** The pair written with `key` and kept, or -1. */
  private find(key: string): number {
    if (this.index) return this.index.get(key) ?? -1;
    if ((this.keyBits & keyBit(key)) === 0) return -1;
    const n = entryCount(this.node);
    for (let i = 0; i < n; i++) {
      const k = pairKey(this.node, i);
      if (k && k.kind === 'scalar' && keyTextOf(k) === key && !this.skipped?.has(i)) return i;
    }
    return -1;
  }

  has(key: string): boolean {
    return this.find(key) >= 0;
  }

  get(key: string): At | undefined {
    const i = this.find(key);
    return i < 0 ? undefined : this.value(i, key);
  }

  keyOffset(key: string): number {
    const i = this.find(key);
    return i < 0 ? this.at.offset : (pairKeyOffset(this.node, i) ?? this.at.offset);
  }

  /** Every pair in document order (used for maps with free-form keys such as `devices`). */
  all(): ({ key: string } & Entry)[] {
    const out: ({ key: string } & Entry)[] = [];
    const n = entryCount(this.node);
    for (let i = 0; i < n; i++) {
      if (this.skipped?.has(i)) continue;
      const k = pairKey(this.node, i) as TreeScalar;
      const key = keyTextOf(k);
      out.push({ key, keyOffset: pairKeyOffset(this.node, i) ?? this.at.offset, keyIsString: typeof k.value === 'string', value: this.value(i, key) });
    }
    return out;
  }

  private value(i: number, key: string): At {
    const keyOffset = pairKeyOffset(this.node, i) ?? this.at.offset;
    // `key:` with nothing after it is a null scalar; messages about it point at the key.
    return new ChildAt(pairValue(this.node, i) ?? NULL_SCALAR, pairValueOffset(this.node, i) ?? keyOffset, this.at, key);
  }
}

/** The allowed keys of each key list as a set, made once per list. */
const allowedSets = new WeakMap<readonly string[], ReadonlySet<string>>();
/** The last list asked for (most mappings of a large file are devices). */
let lastAllowed: { list: readonly string[]; set: ReadonlySet<string> } | undefined;
function allowedSet(allowed: readonly string[]): ReadonlySet<string> {
  if (lastAllowed?.list === allowed) return lastAllowed.set;
  let set = allowedSets.get(allowed);
  if (!set) allowedSets.set(allowed, (set = new Set(allowed)));
  lastAllowed = { list: allowed, set };
  return set;
}

/** Mappings with more pairs than this get a key index; smaller ones are searched in order. */
const INDEX_ABOVE = 8;

/** One of 32 bits for a key (the keys of a device fall on 19 different ones). */
function keyBit(key: string): number {
  return 1 << ((key.charCodeAt(0) + key.length * 7) & 31);
}

export class YamlReader {
  readonly diagnostics: Diagnostic[] = [];
  /** Index in lines.lineStarts of the line pos() answered last. */
  private lastLine = 0;

  constructor(
    readonly file: string,
    private readonly top: TreeDocument | undefined,
    private readonly lines: LineCounter,
  ) {}

  /**
   * What `lines.linePos` says (a fresh { line, col }: a device keeps one). Devices are read
   * in file order, so the line of the last answer, or one a few lines on, usually holds the
   * offset: that saves a binary search over every line of the file for each device.
   */
  pos(offset: number): SourcePos {
    const o = Math.max(0, offset);
    const starts = this.lines.lineStarts;
    let k = this.lastLine;
    if (k < starts.length && starts[k]! <= o) {
      for (let step = 0; step < 8; step++) {
        if (k + 1 >= starts.length || o < starts[k + 1]!) return { line: k + 1, col: o - starts[k]! + 1 };
        this.lastLine = ++k;
      }
    }
    const p = this.lines.linePos(o);
    this.lastLine = Math.max(0, p.line - 1);
    return p;
  }

  error(offset: number, path: string, message: string): void {
    const { line, col } = this.pos(offset);
    this.diagnostics.push({ file: this.file, line, col, path, message });
  }

  errorAt(pos: SourcePos, path: string, message: string): void {
    this.diagnostics.push({ file: this.file, line: pos.line, col: pos.col, path, message });
  }

  /** The document's top node; an alias there is the anchored node (its position is the anchor's). */
  root(): At | undefined {
    if (!this.top) return undefined;
    return { node: this.top.root, path: '', offset: this.top.offset };
  }

  /** Checks that `at` is a mapping, reports duplicate keys and keys not in `allowed` (null: any key). */
  map(at: At, allowed: readonly string[] | null): MapView | undefined {
    const node = at.node;
    if (node.kind !== 'map') {
      this.error(at.offset, at.path, `expected a mapping, got ${describe(node)}`);
      return undefined;
    }
    const n = entryCount(node);
    const allowedKeys = allowed && allowedSet(allowed);
    const index = n > INDEX_ABOVE ? new Map<string, number>() : undefined;
    let skipped: Set<number> | undefined;
    let keyBits = 0;
    for (let i = 0; i < n; i++) {
      const keyNode = pairKey(node, i);
      const keyOffset = pairKeyOffset(node, i) ?? at.offset;
      if (!keyNode || keyNode.kind !== 'scalar' || keyNode.value === null || typeof keyNode.value === 'object') {
        this.error(keyOffset, at.path, `a key must be a plain string, got ${describe(keyNode)}`);
        (skipped ??= new Set()).add(i);
        continue;
      }
      const key = keyTextOf(keyNode);
      const first = index ? (index.get(key) ?? -1) : firstKept(node, key, i, skipped);
      if (first >= 0) {
        const firstLine = this.pos(pairKeyOffset(node, first) ?? at.offset).line;
        this.error(keyOffset, pathKey(at.path, key), `duplicate key "${key}" (first at line ${firstLine})`);
        (skipped ??= new Set()).add(i);
        continue;
      }
      if (allowed && !allowedKeys!.has(key)) {
        const hint = closest(key, allowed);
        this.error(keyOffset, pathKey(at.path, key), `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''}`);
        (skipped ??= new Set()).add(i);
        continue;
      }
      index?.set(key, i);
      keyBits |= keyBit(key);
    }
    return new MapView(at, node, skipped, index, keyBits);
  }

  list(at: At): At[] | undefined {
    const node = at.node;
    if (node.kind !== 'seq') {
      this.error(at.offset, at.path, `expected a list, got ${describe(node)}`);
      return undefined;
    }
    const n = entryCount(node);
    const out: At[] = new Array<At>(n);
    for (let i = 0; i < n; i++) out[i] = new ChildAt(seqItem(node, i) ?? NULL_SCALAR, seqItemOffset(node, i) ?? at.offset, at, i);
    return out;
  }

  string(at: At): string | undefined {
    if (at.node.kind === 'scalar' && typeof at.node.value === 'string') return at.node.value;
    this.error(at.offset, at.path, `expected a string, got ${describe(at.node)}`);
    return undefined;
  }

  bool(at: At): boolean | undefined {
    if (at.node.kind === 'scalar' && typeof at.node.value === 'boolean') return at.node.value;
    this.error(at.offset, at.path, `expected true or false, got ${describe(at.node)}`);
    return undefined;
  }

  /** An integer written as YAML 1.2 core allows (decimal, 0x hex, 0o octal), within [min, max]. */
  bigint(at: At, min: bigint, max: bigint): bigint | undefined {
    return this.inRange(at, min, max);
  }

  int(at: At, min: number, max: number): number | undefined {
    const n = this.inRange(at, min, max);
    return n === undefined ? undefined : Number(n);
  }

  /** A bigint compares exactly with a number, so int() makes no bigint of its bounds. */
  private inRange(at: At, min: bigint | number, max: bigint | number): bigint | undefined {
    const n = this.rawInt(at);
    if (n === undefined) return undefined;
    if (n < min || n > max) {
      this.error(at.offset, at.path, `${sourceOf(at.node)} is out of range (${fmt(BigInt(min))} to ${fmt(BigInt(max))})`);
      return undefined;
    }
    return n;
  }

  /** One of the listed words. */
  oneOf<T extends string>(at: At, choices: readonly T[], what: string): T | undefined {
    const s = this.string(at);
    if (s === undefined) return undefined;
    if ((choices as readonly string[]).includes(s)) return s as T;
    this.error(at.offset, at.path, `unknown ${what} "${s}" (one of: ${choices.join(', ')})`);
    return undefined;
  }

  private rawInt(at: At): bigint | undefined {
    const node = at.node;
    if (node.kind === 'scalar') {
      if (typeof node.value === 'bigint') return node.value;
      if (typeof node.value === 'number' && Number.isInteger(node.value)) return BigInt(node.value);
      if (typeof node.value === 'string' && /^-?(0x[0-9a-f]+|[0-9]+)$/i.test(node.value.trim())) {
        this.error(at.offset, at.path, `expected an integer, got the string "${node.value}" (write numbers without quotes)`);
        return undefined;
      }
    }
    this.error(at.offset, at.path, `expected an integer, got ${describe(node)}`);
    return undefined;
  }
}

/** The first pair before `before` written with `key` and kept (not in `skipped`), or -1. */
function firstKept(node: TreeMap, key: string, before: number, skipped: ReadonlySet<number> | undefined): number {
  for (let j = 0; j < before; j++) {
    const k = pairKey(node, j);
    if (k && k.kind === 'scalar' && keyTextOf(k) === key && !skipped?.has(j)) return j;
  }
  return -1;
}

function keyTextOf(node: TreeScalar): string {
  // An unquoted key like 01.0 is the number 1 to YAML; keep what was written for messages.
  if (typeof node.value === 'string') return node.value;
  return node.source ?? String(node.value);
}

function sourceOf(node: TreeNode): string {
  return node.kind === 'scalar' ? (node.source ?? String(node.value)) : describe(node);
}

function fmt(n: bigint): string {
  return n > 0xffffn ? `0x${n.toString(16)}` : n.toString();
}

/** A short description of a node for "expected X, got Y" messages. */
export function describe(node: TreeNode | undefined): string {
  if (node === undefined) return 'nothing';
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  {
    const v = node.value;
    if (v === null) return 'nothing (null)';
    if (typeof v === 'string') return `the string "${v.length > 40 ? v.slice(0, 40) + '...' : v}"`;
    if (typeof v === 'boolean') return `the boolean ${String(v)}`;
    if (typeof v === 'bigint' || typeof v === 'number') return `the number ${node.source ?? String(v)}`;
  }
  return 'an unsupported value';
}

/** The allowed key within edit distance 2 of a misspelt one, for "did you mean". */
function closest(word: string, choices: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of choices) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
