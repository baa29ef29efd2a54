// Layer 1 entry point: YAML text in, a validated Topology (or every problem at once) out.
// Parse (YAML 1.2 core schema: 0x.. is an integer), then walk the tree with YamlReader,
// which turns each problem into a file:line:col Diagnostic. Valid files in the plain subset
// take the fast reader (fast-yaml.ts); every other file, and every message, comes from
// the yaml package's positioned document.

import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { checkBusNumbers } from './bus-numbers';
import { parseCmdline } from './cmdline';
import type { Arch, Diagnostic, Topology } from './model';
import type { DeviceNotes } from './read-devices';
import { readIommus } from './read-iommus';
import { readPci } from './read-pci';
import { readDrivers, readPlatform } from './read-platform';
import { parseFast } from './fast-yaml';
import { treeOfDocument } from './tree';
import { YamlReader } from './yaml-reader';

export type LoadResult = { ok: true; topology: Topology; warnings: string[] } | { ok: false; errors: Diagnostic[] };

export const TOP_KEYS = ['version', 'name', 'description', 'arch', 'cmdline', 'iommus', 'pci', 'platform', 'drivers'] as const;
export const ARCHES: readonly Arch[] = ['x86', 'arm64', 'power'];

/**
 * Never throws. Warnings are YAML-level remarks (e.g. an unknown tag); the command
 * line's own warnings are in `topology.cmdline.warnings`, which the engine reports.
 */
export function loadTopology(text: string, file: string): LoadResult {
  try {
    return load(text, file);
  } catch (e) {
    // A bug of ours, not a problem of the file; still a diagnostic rather than a crash.
    return { ok: false, errors: [{ file, line: 1, col: 1, path: '', message: `internal error: ${e instanceof Error ? e.message : String(e)}` }] };
  }
}

export function loadTopologyFile(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : e instanceof Error ? e.message : String(e);
    return { ok: false, errors: [{ file: path, line: 1, col: 1, path: '', message: `cannot read: ${why}` }] };
  }
  return loadTopology(text, path);
}

/**
 * Fast first: the subset reader (fast-yaml.ts) and no warnings can arise there. Any
 * problem, or a file outside the subset, sends the text through the yaml package, whose
 * positioned document gives every message; so messages never depend on the fast path.
 */
function load(text: string, file: string): LoadResult {
  const fast = parseFast(text);
  if (fast) {
    const r = read(new YamlReader(file, fast, fast.lines), []);
    if (r.ok) return r;
  }
  return loadPositioned(text, file);
}

/** Through the yaml package's positioned document alone: the reference the fast path must match. */
export function loadPositioned(text: string, file: string): LoadResult {
  const lines = new LineCounter();
  // uniqueKeys is off because YamlReader reports duplicate keys itself, with the YAML path
  // and the line of the first one; intAsBigInt keeps 64-bit addresses exact.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, intAsBigInt: true, prettyErrors: false, keepSourceTokens: true });
  if (doc.errors.length > 0) {
    const r = new YamlReader(file, undefined, lines);
    for (const e of doc.errors) {
      // The library's own advice for this one names its API; say what to do to the file instead.
      const message = e.code === 'MULTIPLE_DOCS' ? 'a topology is one YAML document; this file holds several (remove the ---)' : e.message;
      r.error(e.pos[0], '', `YAML: ${message}`);
    }
    return { ok: false, errors: sorted(r.diagnostics) };
  }
  const r = new YamlReader(file, treeOfDocument(doc), lines);
  const warnings = doc.warnings.map((w) => {
    const p = r.pos(w.pos[0]);
    return `${file}:${p.line}:${p.col}: YAML: ${w.message}`;
  });
  return read(r, warnings);
}

/** The document's values into a Topology, every problem a diagnostic of `r`. */
function read(r: YamlReader, warnings: string[]): LoadResult {
  const file = r.file;

  const topology: Topology = {
    version: 1,
    file,
    name: basename(file, extname(file)),
    description: '',
    arch: 'x86',
    cmdline: parseCmdline(''),
    iommus: [],
    pci: [],
    platform: [],
    drivers: [],
    kernel: '6.1',
  };
  const root = r.root();
  const m = root ? r.map(root, TOP_KEYS) : undefined;
  if (!root) r.error(0, '', 'the file is empty: expected a mapping with at least version: 1');
  if (!m) return { ok: false, errors: sorted(r.diagnostics) };

  const versionAt = m.get('version');
  if (!versionAt) r.error(0, 'version', 'missing required key "version" (write version: 1)');
  else {
    const v = r.int(versionAt, 0, Number.MAX_SAFE_INTEGER);
    if (v !== undefined && v !== 1) r.error(versionAt.offset, 'version', `unsupported version ${v} (this iommufs reads version 1)`);
  }
  const nameAt = m.get('name');
  const name = nameAt && r.string(nameAt);
  if (name !== undefined) topology.name = name;
  const descriptionAt = m.get('description');
  const description = descriptionAt && r.string(descriptionAt);
  if (description !== undefined) topology.description = description;
  const archAt = m.get('arch');
  const arch = archAt && r.oneOf(archAt, ARCHES, 'arch');
  if (arch !== undefined) topology.arch = arch;
  const cmdlineAt = m.get('cmdline');
  const cmdline = cmdlineAt && r.string(cmdlineAt);
  if (cmdline !== undefined) topology.cmdline = parseCmdline(cmdline);

  const iommusAt = m.get('iommus');
  if (iommusAt) topology.iommus = readIommus(r, iommusAt, topology.arch);
  const unitNames = new Set(topology.iommus.map((u) => u.name).filter((n) => n !== ''));
  const notes: DeviceNotes = { badKey: new Set(), fixedBusOffset: new Map(), multifunctionAt: new Map() };
  const pciAt = m.get('pci');
  const roots = pciAt ? readPci(r, pciAt, unitNames, notes) : [];
  topology.pci = roots.map((x) => x.spec);
  checkBusNumbers(r, roots, notes);
  const platformAt = m.get('platform');
  if (platformAt) topology.platform = readPlatform(r, platformAt, unitNames);
  const driversAt = m.get('drivers');
  if (driversAt) topology.drivers = readDrivers(r, driversAt);

  if (r.diagnostics.length > 0) return { ok: false, errors: sorted(r.diagnostics) };
  return { ok: true, topology, warnings };
}

/** In file order; problems at one place keep the order they were found in. */
function sorted(ds: Diagnostic[]): Diagnostic[] {
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => a.d.line - b.d.line || a.d.col - b.d.col || a.i - b.i)
    .map((x) => x.d);
}
