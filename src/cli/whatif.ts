// `iommufs whatif <topology.yaml> [--cmdline STR] [--set DEV.acs=FLAGS] [--move DEV=PORT] [--json]`:
// the machine booted as written and booted again with the edits (topology-edit.ts), and how
// its groups differ (group-diff.ts). Nothing is written anywhere.

import { parseArgs } from 'node:util';
import { Machine } from '../engine/machine';
import type { Device } from '../engine/types';
import { CliError } from './errors';
import { diffGroups, diffText } from './group-diff';
import type { GroupDiff } from './group-diff';
import type { Io } from './io';
import { loadOrFail } from './load';
import { applyEdits, parseMove, parseSet } from './topology-edit';
import type { Edit } from './topology-edit';

export const WHATIF_USAGE = 'iommufs whatif <topology.yaml> [--cmdline STR] [--set DEV.acs=FLAGS] [--move DEV=PORT] [--json]';

/** What `--json` prints for both `whatif` and `diff`. */
export interface DiffJson extends GroupDiff {
  before: { topology: string; cmdline: string };
  after: { topology: string; cmdline: string };
  edits: string[];
}

/** A device's identity across the edit: its YAML path (kept by a move), and a VF's index. */
function editKey(d: Device): string {
  if (d.kind !== 'pci') return `${d.kind}:${d.name}`;
  return d.fn.physfn ? `${d.fn.spec.path}#vf${d.fn.vfIndex ?? 0}` : d.fn.spec.path;
}

/** Warnings the second machine has and the first had not (e.g. the ACS override's). */
export function newWarnings(before: Machine, after: Machine): string[] {
  return after.warnings.filter((w) => !before.warnings.includes(w));
}

export function printDiff(io: Io, json: boolean, out: DiffJson): void {
  if (json) io.out(JSON.stringify(out));
  else io.out(diffText(out));
}

function usage(message: string): CliError {
  return new CliError(`whatif: ${message}\nusage: ${WHATIF_USAGE}`, 2);
}

export function whatifCommand(args: string[], io: Io): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { cmdline: { type: 'string', multiple: true }, set: { type: 'string', multiple: true }, move: { type: 'string', multiple: true }, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (e) {
    throw usage((e as Error).message);
  }
  if (parsed.positionals.length !== 1) throw usage('expected 1 argument (the topology)');
  // Edits apply in the order given on the command line.
  const edits: Edit[] = [];
  const words: string[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    words.push(`--${t.name} ${t.value}`);
    if (t.name === 'cmdline') edits.push({ kind: 'cmdline', text: t.value });
    else if (t.name === 'set') edits.push(parseSet(t.value));
    else if (t.name === 'move') edits.push(parseMove(t.value));
  }
  const file = parsed.positionals[0]!;
  const { topology, warnings } = loadOrFail(file);
  for (const w of warnings) io.err(`warning: ${w}`);
  const edited = applyEdits(topology, edits);
  const before = Machine.boot(topology);
  const after = Machine.boot(edited);
  for (const w of newWarnings(before, after)) io.err(`warning: after the edits: ${w}`);
  printDiff(io, parsed.values.json === true, {
    before: { topology: file, cmdline: topology.cmdline.raw },
    after: { topology: file, cmdline: edited.cmdline.raw },
    edits: words,
    ...diffGroups(before, after, editKey),
  });
  return 0;
}
