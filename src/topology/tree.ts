// The parsed document as the reader sees it: collections packed into one Int32Array with
// start offsets, scalars as objects, made either by the fast reader (fast-yaml.ts) or from
// the yaml package's positioned document. Aliases are resolved here (the node is the
// anchored one, the offset where the alias is written), so the reader walks one kind of tree
// whichever parser made it. Places live in the pairs and lists that hold a node, not in
// scalars, so one scalar may stand for every place it is written (the fast reader shares
// them: a large file repeats a few thousand values).
//
// Why packed: the tree of a 100,000-device file lives through the whole load, and as objects
// (a few per mapping) the garbage collector copied it twice and traced it; an Int32Array's
// contents are outside the collected heap. A collection object is made when the reader asks
// for it, and dies young.

import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Document } from 'yaml';

export type TreeNode = TreeScalar | TreeMap | TreeSeq;

/** The top node and where it starts. */
export interface TreeDocument {
  root: TreeNode;
  offset: number;
}

export interface TreeScalar {
  kind: 'scalar';
  /** As the YAML 1.2 core schema reads it; integers are bigint. */
  value: unknown;
  /** The text as written (without quotes), for messages. */
  source: string | undefined;
}

/** A mapping or list: where its record starts in the packed tree. */
export interface TreeMap {
  kind: 'map';
  tree: PackedTree;
  at: number;
}

export interface TreeSeq {
  kind: 'seq';
  tree: PackedTree;
  at: number;
}

// A collection's record: its kind, its count, then four ints a pair (key, key offset, value,
// value offset) or two an item (item, offset). A node is a ref: >= 0 a collection's record,
// -1 none (an empty key or value), <= -2 scalar number -ref - 2. An offset of -1: none (a
// key without a place uses the map's, a value without one the key's, an item the list's).
const MAP = 1;
const SEQ = 2;
export const NO_NODE = -1;
/** Ints a pair or item takes. */
export const PAIR = 4;
export const ITEM = 2;

export function scalarRef(index: number): number {
  return -index - 2;
}

/** The packed collections and the scalars of one document. */
export class PackedTree {
  buf: Int32Array;
  length = 0;
  readonly scalars: TreeScalar[] = [];

  /** `capacity`: ints to start with (it grows as needed). */
  constructor(capacity = 1024) {
    this.buf = new Int32Array(capacity);
  }

  /** Room for a collection record of `count` entries; its ref. */
  reserve(kind: 'map' | 'seq', count: number): number {
    const at = this.length;
    const size = 2 + count * (kind === 'map' ? PAIR : ITEM);
    if (at + size > this.buf.length) {
      const grown = new Int32Array(Math.max(this.buf.length * 2, at + size));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
    }
    this.buf[at] = kind === 'map' ? MAP : SEQ;
    this.buf[at + 1] = count;
    this.length = at + size;
    return at;
  }

  node(ref: number): TreeNode | undefined {
    if (ref >= 0) return this.buf[ref] === MAP ? { kind: 'map', tree: this, at: ref } : { kind: 'seq', tree: this, at: ref };
    return ref === NO_NODE ? undefined : this.scalars[-ref - 2];
  }
}

function offsetOf(v: number): number | undefined {
  return v < 0 ? undefined : v;
}

/** How many pairs a mapping has, or items a list. */
export function entryCount(c: TreeMap | TreeSeq): number {
  return c.tree.buf[c.at + 1]!;
}
/** Int `k` of entry `i` of a collection whose entries take `size` ints. */
function entryInt(c: TreeMap | TreeSeq, i: number, size: number, k: number): number {
  return c.tree.buf[c.at + 2 + i * size + k]!;
}
/** undefined: not a scalar, map or list (an empty key). */
export function pairKey(m: TreeMap, i: number): TreeNode | undefined {
  return m.tree.node(entryInt(m, i, PAIR, 0));
}
/** undefined when the key has no place of its own (an empty key): messages use the map's. */
export function pairKeyOffset(m: TreeMap, i: number): number | undefined {
  return offsetOf(entryInt(m, i, PAIR, 1));
}
/** undefined: nothing after `key:`. */
export function pairValue(m: TreeMap, i: number): TreeNode | undefined {
  return m.tree.node(entryInt(m, i, PAIR, 2));
}
/** undefined: the key's. */
export function pairValueOffset(m: TreeMap, i: number): number | undefined {
  return offsetOf(entryInt(m, i, PAIR, 3));
}
export function seqItem(q: TreeSeq, i: number): TreeNode | undefined {
  return q.tree.node(entryInt(q, i, ITEM, 0));
}
/** undefined: the list's place. */
export function seqItemOffset(q: TreeSeq, i: number): number | undefined {
  return offsetOf(entryInt(q, i, ITEM, 1));
}

/** The null scalar that stands where a value was left empty. */
export const NULL_SCALAR: TreeScalar = { kind: 'scalar', value: null, source: undefined };

/** The document's top node (undefined for an empty document) from the yaml package's document. */
export function treeOfDocument(doc: Document): TreeDocument | undefined {
  const tree = new PackedTree();
  const made = new Map<unknown, number>();
  const rangeStart = (node: unknown): number => (isScalar(node) || isMap(node) || isSeq(node) || isAlias(node) ? (node.range?.[0] ?? -1) : -1);

  const convert = (raw: unknown): number => {
    let node: unknown = raw;
    // An alias may point at another alias; the document bounds the chain.
    for (let i = 0; i < 64 && isAlias(node); i++) node = node.resolve(doc);
    const done = made.get(node);
    if (done !== undefined) return done;
    if (isScalar(node)) {
      const ref = scalarRef(tree.scalars.length);
      tree.scalars.push({ kind: 'scalar', value: node.value, source: node.source });
      made.set(node, ref);
      return ref;
    }
    if (isMap(node)) {
      // Registered before its children, so an alias to an enclosing node ends the recursion.
      const at = tree.reserve('map', node.items.length);
      made.set(node, at);
      node.items.forEach((pair, i) => {
        const value = convert(pair.value);
        const key = convert(pair.key);
        const slot = at + 2 + i * PAIR;
        tree.buf[slot] = key;
        tree.buf[slot + 1] = rangeStart(pair.key);
        tree.buf[slot + 2] = value;
        tree.buf[slot + 3] = value === NO_NODE ? -1 : rangeStart(pair.value);
      });
      return at;
    }
    if (isSeq(node)) {
      const at = tree.reserve('seq', node.items.length);
      made.set(node, at);
      node.items.forEach((x, i) => {
        const item = convert(x);
        tree.buf[at + 2 + i * ITEM] = item;
        tree.buf[at + 3 + i * ITEM] = rangeStart(x);
      });
      return at;
    }
    return NO_NODE;
  };
  const root = tree.node(convert(doc.contents));
  if (!root) return undefined;
  let top: unknown = doc.contents;
  for (let i = 0; i < 64 && isAlias(top); i++) top = top.resolve(doc);
  const offset = rangeStart(top);
  return { root, offset: offset < 0 ? 0 : offset };
}

/** The tree as plain data (kinds, values, sources, offsets), to compare two trees in tests. */
export function unpack(node: TreeNode | undefined): unknown {
  if (!node) return null;
  if (node.kind === 'scalar') return node;
  if (node.kind === 'map') {
    const pairs = [];
    for (let i = 0; i < entryCount(node); i++) {
      pairs.push({ key: unpack(pairKey(node, i)), keyOffset: pairKeyOffset(node, i), value: unpack(pairValue(node, i)), valueOffset: pairValueOffset(node, i) });
    }
    return { kind: 'map', pairs };
  }
  const items = [];
  for (let i = 0; i < entryCount(node); i++) items.push({ item: unpack(seqItem(node, i)), offset: seqItemOffset(node, i) });
  return { kind: 'seq', items };
}
