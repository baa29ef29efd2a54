// Typed access to a parsed YAML document that never throws: every problem becomes a
// Diagnostic (file:line:col, YAML path, message) and the caller gets `undefined` back,
// so one pass reports every error in the file at once.

import type { LineCounter } from 'yaml';
import type { Diagnostic, SourcePos } from './model';
import { NULL_SCALAR } from './tree';
import type { TreeDocument, TreeNode, TreeScalar } from './tree';

/** A node with where it sits: its YAML path and the offset messages about it point at. */
export interface At {
  node: TreeNode;
  path: string;
  offset: number;
}

/** A key written as a bare identifier stays bare in paths; anything else is quoted. */
export function pathKey(parent: string, key: string): string {
  let part = pathParts.get(key);
  if (part === undefined) {
    part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
    // Keys repeat (id, class, "00.0"): a large file asks for the same few thousand times.
    if (pathParts.size < 4096) pathParts.set(key, part);
  }
  return parent ? `${parent}.${part}` : part;
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

/** The pairs of one mapping, after duplicate and unknown keys were reported. */
export class MapView {
  constructor(
    readonly at: At,
    private readonly entries: ReadonlyMap<string, Entry>,
  ) {}

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): At | undefined {
    return this.entries.get(key)?.value;
  }

  keyOffset(key: string): number {
    return this.entries.get(key)?.keyOffset ?? this.at.offset;
  }

  /** Every pair in document order (used for maps with free-form keys such as `devices`). */
  all(): ({ key: string } & Entry)[] {
    const out: ({ key: string } & Entry)[] = [];
    for (const [key, e] of this.entries) out.push({ key, keyOffset: e.keyOffset, keyIsString: e.keyIsString, value: e.value });
    return out;
  }
}

export class YamlReader {
  readonly diagnostics: Diagnostic[] = [];

  constructor(
    readonly file: string,
    private readonly top: TreeDocument | undefined,
    private readonly lines: LineCounter,
  ) {}

  pos(offset: number): SourcePos {
    const p = this.lines.linePos(Math.max(0, offset));
    return { line: p.line, col: p.col };
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
    if (at.node.kind !== 'map') {
      this.error(at.offset, at.path, `expected a mapping, got ${describe(at.node)}`);
      return undefined;
    }
    const entries = new Map<string, Entry>();
    for (const pair of at.node.pairs) {
      const keyNode = pair.key;
      const keyOffset = pair.keyOffset ?? at.offset;
      if (!keyNode || keyNode.kind !== 'scalar' || keyNode.value === null || typeof keyNode.value === 'object') {
        this.error(keyOffset, at.path, `a key must be a plain string, got ${describe(keyNode)}`);
        continue;
      }
      const key = keyText(keyNode);
      const path = pathKey(at.path, key);
      const first = entries.get(key);
      if (first) {
        this.error(keyOffset, path, `duplicate key "${key}" (first at line ${this.pos(first.keyOffset).line})`);
        continue;
      }
      if (allowed && !allowed.includes(key)) {
        const hint = closest(key, allowed);
        this.error(keyOffset, path, `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''}`);
        continue;
      }
      // `key:` with nothing after it is a null scalar; messages about it point at the key.
      const value = pair.value ?? NULL_SCALAR;
      entries.set(key, { keyOffset, keyIsString: typeof keyNode.value === 'string', value: { node: value, path, offset: pair.valueOffset ?? keyOffset } });
    }
    return new MapView(at, entries);
  }

  list(at: At): At[] | undefined {
    const node = at.node;
    if (node.kind !== 'seq') {
      this.error(at.offset, at.path, `expected a list, got ${describe(node)}`);
      return undefined;
    }
    return node.items.map((item, i) => {
      const offset = node.offsets[i] ?? at.offset;
      return { node: item ?? NULL_SCALAR, path: pathIndex(at.path, i), offset };
    });
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
    const n = this.rawInt(at);
    if (n === undefined) return undefined;
    if (n < min || n > max) {
      this.error(at.offset, at.path, `${sourceOf(at.node)} is out of range (${fmt(min)} to ${fmt(max)})`);
      return undefined;
    }
    return n;
  }

  int(at: At, min: number, max: number): number | undefined {
    const n = this.bigint(at, BigInt(min), BigInt(max));
    return n === undefined ? undefined : Number(n);
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

function keyText(node: TreeScalar): string {
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
