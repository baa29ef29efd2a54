// The parsed document as the reader sees it: plain objects with start offsets, made either
// by the fast reader (fast-yaml.ts) or from the yaml package's positioned document. Aliases
// are resolved here (the node is the anchored one, the offset where the alias is written),
// so the reader walks one kind of tree whichever parser made it. Places live in the pairs
// and lists that hold a node, not in scalars, so one scalar may stand for every place it
// is written (the fast reader shares them: a large file repeats a few thousand values).

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

/**
 * A mapping's pairs laid flat, four slots a pair: the key (undefined: not a scalar, map or
 * list, an empty key), the key's offset (undefined: it has no place of its own, messages use
 * the map's), the value (undefined: nothing after `key:`) and its offset (undefined: the
 * key's). One exact-size array a mapping, rather than an object a pair, keeps the tree of a
 * 100,000-device file small: it lives through the whole load, and the collector traces it.
 */
export type PairSlot = TreeNode | number | undefined;

export interface TreeMap {
  kind: 'map';
  slots: PairSlot[];
}

/** A list's items laid flat, two slots an item: the item (undefined: empty) and where it is written (undefined: the list's place). */
export interface TreeSeq {
  kind: 'seq';
  slots: PairSlot[];
}

export function pairCount(m: TreeMap): number {
  return m.slots.length >> 2;
}
export function pairKey(m: TreeMap, i: number): TreeNode | undefined {
  return m.slots[i * 4] as TreeNode | undefined;
}
export function pairKeyOffset(m: TreeMap, i: number): number | undefined {
  return m.slots[i * 4 + 1] as number | undefined;
}
export function pairValue(m: TreeMap, i: number): TreeNode | undefined {
  return m.slots[i * 4 + 2] as TreeNode | undefined;
}
export function pairValueOffset(m: TreeMap, i: number): number | undefined {
  return m.slots[i * 4 + 3] as number | undefined;
}
export function seqCount(q: TreeSeq): number {
  return q.slots.length >> 1;
}
export function seqItem(q: TreeSeq, i: number): TreeNode | undefined {
  return q.slots[i * 2] as TreeNode | undefined;
}
export function seqItemOffset(q: TreeSeq, i: number): number | undefined {
  return q.slots[i * 2 + 1] as number | undefined;
}

/** The null scalar that stands where a value was left empty. */
export const NULL_SCALAR: TreeScalar = { kind: 'scalar', value: null, source: undefined };

/** The document's top node (undefined for an empty document) from the yaml package's document. */
export function treeOfDocument(doc: Document): TreeDocument | undefined {
  const made = new Map<unknown, TreeNode>();
  const rangeStart = (node: unknown): number | undefined =>
    isScalar(node) || isMap(node) || isSeq(node) || isAlias(node) ? node.range?.[0] : undefined;

  const convert = (raw: unknown): TreeNode | undefined => {
    let node: unknown = raw;
    // An alias may point at another alias; the document bounds the chain.
    for (let i = 0; i < 64 && isAlias(node); i++) node = node.resolve(doc);
    const done = made.get(node);
    if (done) return done;
    if (isScalar(node)) {
      const s: TreeScalar = { kind: 'scalar', value: node.value, source: node.source };
      made.set(node, s);
      return s;
    }
    if (isMap(node)) {
      // Registered before its children, so an alias to an enclosing node ends the recursion.
      const m: TreeMap = { kind: 'map', slots: [] };
      made.set(node, m);
      for (const pair of node.items) {
        const value = convert(pair.value);
        m.slots.push(convert(pair.key), rangeStart(pair.key), value, value ? rangeStart(pair.value) : undefined);
      }
      return m;
    }
    if (isSeq(node)) {
      const q: TreeSeq = { kind: 'seq', slots: [] };
      made.set(node, q);
      for (const x of node.items) q.slots.push(convert(x), rangeStart(x));
      return q;
    }
    return undefined;
  };
  const root = convert(doc.contents);
  if (!root) return undefined;
  let top: unknown = doc.contents;
  for (let i = 0; i < 64 && isAlias(top); i++) top = top.resolve(doc);
  return { root, offset: rangeStart(top) ?? 0 };
}
