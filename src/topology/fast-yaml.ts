// A fast reader for the plain subset of YAML that topologies are written in: block mappings
// and lists, flow mappings and lists, plain and simply quoted scalars, comments. It builds
// the same tree (tree.ts) with the same values (YAML 1.2 core schema, integers as bigint) and
// the same offsets as the yaml package's `parseDocument`, over ten times faster, because it
// keeps no source tokens, comments or styles, shares one object per distinct scalar and
// packs each collection straight into the tree's Int32Array (entries gather on a stack of
// ints while the collection is read, then move to the tree in one record).
// Anything outside the subset (anchors, aliases, tags, block scalars, escapes, multi-line
// plain scalars, empty values, several documents, tabs, CR, unusual indentation) makes it
// give up: the caller then parses with the yaml package, which also produces every error
// message, so this reader never reports a problem itself and never decides what is an error.
// test/unit/topology/fast-yaml.test.ts holds it to the yaml package on mutated files.

import { LineCounter } from 'yaml';
import { PackedTree, scalarRef } from './tree';
import type { TreeDocument } from './tree';

export interface FastDocument extends TreeDocument {
  lines: LineCounter;
}

/** Thrown inside the parser to give up; never escapes parseFast. */
class Unsupported {}
const UNSUPPORTED = new Unsupported();

// Characters and line-level constructs the subset leaves to the yaml package.
const UNSUPPORTED_CHARS = /[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff]/;
const MARKERS = /^(?:---|\.\.\.)(?:[ \n]|$)|^%/m;
/** yaml refuses implicit keys longer than this (KEY_OVER_1024_CHARS). */
const MAX_KEY = 1024;
/** Deeper nesting is left to the yaml package, so the stack is never at risk here. */
const MAX_DEPTH = 256;

/** The document's top node and its line starts, or undefined when the text is outside the subset. */
export function parseFast(text: string): FastDocument | undefined {
  if (UNSUPPORTED_CHARS.test(text) || MARKERS.test(text)) return undefined;
  let top: TreeDocument;
  try {
    top = new Parser(text).document();
  } catch (e) {
    if (e === UNSUPPORTED) return undefined;
    throw e;
  }
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  return { ...top, lines };
}

const SP = 0x20;
const NL = 0x0a;
const HASH = 0x23;
const COLON = 0x3a;
const COMMA = 0x2c;
const DASH = 0x2d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

function isFlowIndicator(c: number): boolean {
  return c === COMMA || c === LBRACE || c === RBRACE || c === LBRACKET || c === RBRACKET;
}

/** c-indicator characters a plain scalar may not start with (YAML 1.2 §7.3.3), but '-' (checked apart). */
const NO_PLAIN_START = new Uint8Array(128);
for (const ch of '?:,[]{}#&*!|>\'"%@`') NO_PLAIN_START[ch.charCodeAt(0)] = 1;

class Parser {
  private i = 0;
  /** Indent of the line the cursor is on after nextLine(); -1 at the end of the text. */
  private indent = -1;
  private readonly n: number;
  /** Where the value blockValue() just read starts. */
  private valueStart = 0;
  /** Collections open around the cursor. */
  private depth = 0;
  /**
   * The ref of one scalar per distinct text: places are kept by the pairs and lists. (Native
   * scanning, slices and maps: a load runs mostly before the optimizing compiler has seen the
   * code, where a loop over characters in JavaScript is several times slower.)
   */
  private readonly plains = new Map<string, number>();
  private readonly quotes = new Map<string, number>();
  /**
   * The slots of the collections being read, innermost last: each takes an exact-size copy
   * of its own when it closes, so no array grows (and leaves garbage) per collection.
   */
  private stack = new Int32Array(1024);
  private top = 0;
  private readonly tree: PackedTree;

  constructor(private readonly s: string) {
    this.n = s.length;
    // A topology packs into about one int for three characters: room enough not to grow.
    this.tree = new PackedTree(1024 + ((s.length / 3) | 0));
  }

  private push(x: number): void {
    if (this.top === this.stack.length) {
      const grown = new Int32Array(this.stack.length * 2);
      grown.set(this.stack);
      this.stack = grown;
    }
    this.stack[this.top++] = x;
  }

  /** The entries pushed since `base` as a collection of the tree; its ref. */
  private take(kind: 'map' | 'seq', base: number): number {
    const at = this.tree.reserve(kind, kind === 'map' ? (this.top - base) >> 2 : (this.top - base) >> 1);
    // A loop: most collections hold a few entries, and subarray() would make a view object each.
    const buf = this.tree.buf;
    for (let k = base, to = at + 2; k < this.top; k++, to++) buf[to] = this.stack[k]!;
    this.top = base;
    return at;
  }

  document(): TreeDocument {
    this.scanLineStart();
    if (this.indent < 0) throw UNSUPPORTED;
    const top = this.indent;
    const offset = this.i;
    let root: number;
    const c = this.code(this.i);
    if (c === LBRACE || c === LBRACKET) {
      // A document that is one flow collection, JSON among them.
      root = this.inlineValue(-1);
      this.nextLine();
    } else if (this.isSeqEntry()) root = this.blockSeq(top);
    else if (this.looksLikeKey()) root = this.blockMap(top);
    else throw UNSUPPORTED;
    if (this.indent !== -1) throw UNSUPPORTED;
    return { root: this.tree.node(root)!, offset };
  }

  private code(at: number): number {
    return at < this.n ? this.s.charCodeAt(at) : -1;
  }

  /** From the start of a line: past blank and comment-only lines to the next content. */
  private scanLineStart(): void {
    const s = this.s;
    for (;;) {
      const start = this.i;
      while (this.code(this.i) === SP) this.i++;
      const c = this.code(this.i);
      if (c === -1) {
        this.indent = -1;
        return;
      }
      if (c === NL) {
        this.i++;
        continue;
      }
      if (c === HASH) {
        const nl = s.indexOf('\n', this.i);
        if (nl < 0) {
          this.i = this.n;
          this.indent = -1;
          return;
        }
        this.i = nl + 1;
        continue;
      }
      this.indent = this.i - start;
      return;
    }
  }

  /** At the end of a line's content: on to the next content line. */
  private nextLine(): void {
    if (this.i >= this.n) {
      this.indent = -1;
      return;
    }
    this.i++; // the '\n'
    this.scanLineStart();
  }

  /** Spaces, then an optional comment, then the end of the line; the cursor stays on the '\n'. */
  private endOfLine(): boolean {
    while (this.code(this.i) === SP) this.i++;
    const c = this.code(this.i);
    if (c === -1 || c === NL) return true;
    if (c === HASH && this.code(this.i - 1) === SP) {
      const nl = this.s.indexOf('\n', this.i);
      this.i = nl < 0 ? this.n : nl;
      return true;
    }
    return false;
  }

  private isSeqEntry(): boolean {
    if (this.code(this.i) !== DASH) return false;
    const next = this.code(this.i + 1);
    return next === SP || next === NL || next === -1;
  }

  private column(): number {
    return this.i - (this.s.lastIndexOf('\n', this.i - 1) + 1);
  }

  /** Whether the line from the cursor is `key: ...` (a plain or quoted key, then ': ' or ':' at the end). */
  private looksLikeKey(): boolean {
    const s = this.s;
    const c = this.code(this.i);
    let j: number;
    if (c === LBRACE || c === LBRACKET) return false;
    if (c === DQUOTE || c === SQUOTE) {
      const close = s.indexOf(c === DQUOTE ? '"' : "'", this.i + 1);
      if (close < 0) return false;
      j = close + 1;
      while (this.code(j) === SP) j++;
    } else {
      j = this.i;
      for (;;) {
        const d = this.code(j);
        if (d === -1 || d === NL) return false;
        if (d === HASH && this.code(j - 1) === SP) return false;
        if (d === COLON) {
          const e = this.code(j + 1);
          if (e === SP || e === NL || e === -1) break;
        }
        j++;
      }
    }
    if (this.code(j) !== COLON) return false;
    const e = this.code(j + 1);
    return e === SP || e === NL || e === -1;
  }

  /** A block mapping whose keys sit at column n; ends on the first line indented less. */
  private blockMap(n: number): number {
    this.enter();
    const base = this.top;
    for (;;) {
      const keyOffset = this.i;
      const key = this.blockKey();
      const value = this.blockValue(n);
      this.push(key);
      this.push(keyOffset);
      this.push(value);
      this.push(this.valueStart);
      if (this.indent === n) {
        if (this.isSeqEntry()) throw UNSUPPORTED;
        continue;
      }
      if (this.indent > n) throw UNSUPPORTED;
      break;
    }
    this.depth--;
    return this.take('map', base);
  }

  /** A block list whose dashes sit at column n. */
  private blockSeq(n: number): number {
    this.enter();
    const base = this.top;
    for (;;) {
      this.i++; // the '-'
      let item: number;
      let start: number;
      if (this.endOfLine()) {
        this.nextLine();
        if (this.indent <= n) throw UNSUPPORTED; // an empty entry
        start = this.i;
        item = this.nodeBelow(this.indent, n);
      } else {
        start = this.i;
        // `- ` then content on the same line, at column c.
        if (this.isSeqEntry()) throw UNSUPPORTED;
        if (this.looksLikeKey()) item = this.blockMap(this.column());
        else {
          item = this.inlineValue(n);
          this.nextLine();
        }
      }
      this.push(item);
      this.push(start);
      if (this.indent === n && this.isSeqEntry()) continue;
      if (this.indent > n) throw UNSUPPORTED;
      break;
    }
    this.depth--;
    return this.take('seq', base);
  }

  /** A node that starts a line of its own at column `indent`, in a collection at column n. */
  private nodeBelow(indent: number, n: number): number {
    if (this.isSeqEntry()) return this.blockSeq(indent);
    if (this.looksLikeKey()) return this.blockMap(indent);
    const value = this.inlineValue(n);
    this.nextLine();
    return value;
  }

  /** `key:` of a block mapping; leaves the cursor after the colon. */
  private blockKey(): number {
    const start = this.i;
    const c = this.code(this.i);
    let key: number;
    if (c === DQUOTE || c === SQUOTE) {
      key = this.quoted();
      while (this.code(this.i) === SP) this.i++;
    } else key = this.plain(false);
    if (this.i - start > MAX_KEY) throw UNSUPPORTED;
    if (this.code(this.i) !== COLON) throw UNSUPPORTED;
    this.i++;
    return key;
  }

  /** The value after `key:` in a mapping at column n: on the same line, or a collection below. */
  private blockValue(n: number): number {
    while (this.code(this.i) === SP) this.i++;
    let value: number;
    let start: number;
    if (this.endOfLine()) {
      this.nextLine();
      start = this.i;
      if (this.indent > n) value = this.nodeBelow(this.indent, n);
      // A list may sit at the column of its key.
      else if (this.indent === n && this.isSeqEntry()) value = this.blockSeq(n);
      else throw UNSUPPORTED; // an empty value
    } else {
      start = this.i;
      value = this.inlineValue(n);
      this.nextLine();
    }
    this.valueStart = start;
    return value;
  }

  /** A scalar or flow collection that ends its line (inside a block collection at column n). */
  private inlineValue(n: number): number {
    const c = this.code(this.i);
    let node: number;
    if (c === LBRACE || c === LBRACKET) node = this.flow(n);
    else if (c === DQUOTE || c === SQUOTE) node = this.quoted();
    else node = this.plain(false);
    if (!this.endOfLine()) throw UNSUPPORTED;
    return node;
  }

  /** Spaces, line breaks and comments inside a flow collection; its lines must be indented past n. */
  private flowSpace(n: number): void {
    for (;;) {
      const c = this.code(this.i);
      if (c === SP) this.i++;
      else if (c === NL) {
        this.i++;
        const lineStart = this.i;
        while (this.code(this.i) === SP) this.i++;
        const d = this.code(this.i);
        if (d !== NL && d !== -1 && this.i - lineStart <= n) throw UNSUPPORTED;
      } else if (c === HASH) {
        const before = this.code(this.i - 1);
        if (before !== SP && before !== NL) throw UNSUPPORTED;
        const nl = this.s.indexOf('\n', this.i);
        this.i = nl < 0 ? this.n : nl;
      } else return;
    }
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw UNSUPPORTED;
  }

  private flow(n: number): number {
    this.enter();
    const open = this.code(this.i);
    this.i++;
    const base = this.top;
    if (open === LBRACE) {
      for (;;) {
        this.flowSpace(n);
        if (this.code(this.i) === RBRACE) break;
        const keyStart = this.i;
        const c = this.code(this.i);
        if (c === LBRACE || c === LBRACKET) throw UNSUPPORTED;
        const key = c === DQUOTE || c === SQUOTE ? this.quoted() : this.plain(true);
        if (this.i - keyStart > MAX_KEY) throw UNSUPPORTED;
        while (this.code(this.i) === SP) this.i++;
        const after = this.code(this.i + 1);
        if (this.code(this.i) !== COLON || (after !== SP && after !== NL)) throw UNSUPPORTED;
        this.i++;
        this.flowSpace(n);
        const v = this.code(this.i);
        if (v === COMMA || v === RBRACE || v === -1) throw UNSUPPORTED; // an empty value
        const valueOffset = this.i;
        const value = this.flowNode(n);
        this.push(key);
        this.push(keyStart);
        this.push(value);
        this.push(valueOffset);
        this.flowSpace(n);
        const sep = this.code(this.i);
        if (sep === COMMA) this.i++;
        else if (sep !== RBRACE) throw UNSUPPORTED;
      }
      this.i++;
      this.depth--;
      return this.take('map', base);
    }
    for (;;) {
      this.flowSpace(n);
      if (this.code(this.i) === RBRACKET) break;
      const v = this.code(this.i);
      if (v === COMMA || v === -1) throw UNSUPPORTED;
      const offset = this.i;
      this.push(this.flowNode(n));
      this.push(offset);
      this.flowSpace(n);
      const sep = this.code(this.i);
      if (sep === COMMA) this.i++;
      else if (sep !== RBRACKET) throw UNSUPPORTED; // a ':' here would make an implicit pair
    }
    this.i++;
    this.depth--;
    return this.take('seq', base);
  }

  private flowNode(n: number): number {
    const c = this.code(this.i);
    if (c === LBRACE || c === LBRACKET) return this.flow(n);
    if (c === DQUOTE || c === SQUOTE) return this.quoted();
    return this.plain(true);
  }

  /** A quoted scalar on one line, without escapes. */
  private quoted(): number {
    const start = this.i;
    const q = this.s[this.i]!;
    const close = this.s.indexOf(q, start + 1);
    if (close < 0) throw UNSUPPORTED;
    const text = this.s.slice(start + 1, close);
    if (text.includes('\n') || (q === '"' && text.includes('\\'))) throw UNSUPPORTED;
    if (q === "'" && this.code(close + 1) === SQUOTE) throw UNSUPPORTED; // '' escape
    this.i = close + 1;
    return this.quotes.get(text) ?? this.scalar(this.quotes, text, text);
  }

  /** A plain scalar on one line: up to ': ', ' #', the line's end, and in flow context , [ ] { }. */
  private plain(inFlow: boolean): number {
    const start = this.i;
    const c = this.code(this.i);
    if (c === -1 || c === NL || c === SP || (c < 128 && NO_PLAIN_START[c] === 1)) throw UNSUPPORTED;
    if (c === DASH) {
      const next = this.code(this.i + 1);
      if (next === SP || next === NL || next === -1 || (inFlow && isFlowIndicator(next))) throw UNSUPPORTED;
    }
    const run = inFlow ? PLAIN_RUN_FLOW : PLAIN_RUN_BLOCK;
    let j = this.i;
    for (;;) {
      run.lastIndex = j;
      run.test(this.s);
      j = run.lastIndex;
      const d = this.code(j);
      if (d === COLON) {
        const e = this.code(j + 1);
        if (e === SP || e === NL || e === -1) break;
        if (inFlow && isFlowIndicator(e)) throw UNSUPPORTED;
      } else if (d !== HASH || this.code(j - 1) === SP) break; // the line's end, a comment or a flow indicator
      j++;
    }
    let end = j;
    while (end > start && this.code(end - 1) === SP) end--;
    this.i = j;
    // A plain scalar continued on the next line would be folded into one: not in the subset.
    if (inFlow && this.code(j) === NL) {
      let k = j;
      while (this.code(k) === SP || this.code(k) === NL) k++;
      const next = this.code(k);
      if (next !== COMMA && next !== RBRACE && next !== RBRACKET && next !== HASH) throw UNSUPPORTED;
    }
    const text = this.s.slice(start, end);
    return this.plains.get(text) ?? this.scalar(this.plains, text, resolvePlain(text));
  }

  /** A new scalar of the tree, known from now on by its text. */
  private scalar(known: Map<string, number>, text: string, value: unknown): number {
    const ref = scalarRef(this.tree.scalars.length);
    this.tree.scalars.push({ kind: 'scalar', value, source: text });
    known.set(text, ref);
    return ref;
  }
}

/** Runs of characters that cannot end a plain scalar; the loop looks at what stopped them. */
const PLAIN_RUN_BLOCK = /[^\n:#]*/y;
const PLAIN_RUN_FLOW = /[^\n:#,[\]{}]*/y;
const NULL = /^(?:~|[Nn]ull|NULL)$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

/** A plain scalar's value under the YAML 1.2 core schema, integers as bigint (yaml's intAsBigInt). */
function resolvePlain(text: string): unknown {
  const c = text.charCodeAt(0);
  // Only these can start a number.
  if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === DASH || c === 0x2e) {
    if (isCoreInt(text)) return BigInt(text);
    if (FLOAT.test(text)) throw UNSUPPORTED; // floats are never valid topology values
    return text;
  }
  // ~, null, true and false in their three spellings.
  if (c === 0x7e || c === 0x6e || c === 0x4e) return NULL.test(text) ? null : text;
  if (c === 0x74 || c === 0x54 || c === 0x66 || c === 0x46) return BOOL.test(text) ? c === 0x74 || c === 0x54 : text;
  return text;
}

/** The core schema's integers: [-+]?[0-9]+, 0x[0-9a-fA-F]+, 0o[0-7]+ (all of which BigInt() reads). */
function isCoreInt(t: string): boolean {
  const n = t.length;
  const second = t.charCodeAt(1);
  if (n > 2 && t.charCodeAt(0) === 0x30 && (second === 0x78 || second === 0x6f)) {
    for (let k = 2; k < n; k++) {
      const d = t.charCodeAt(k);
      const ok = second === 0x78 ? (d >= 0x30 && d <= 0x39) || (d >= 0x61 && d <= 0x66) || (d >= 0x41 && d <= 0x46) : d >= 0x30 && d <= 0x37;
      if (!ok) return false;
    }
    return true;
  }
  let k = t.charCodeAt(0) === 0x2b || t.charCodeAt(0) === DASH ? 1 : 0;
  if (k === n) return false;
  for (; k < n; k++) {
    const d = t.charCodeAt(k);
    if (d < 0x30 || d > 0x39) return false;
  }
  return true;
}
