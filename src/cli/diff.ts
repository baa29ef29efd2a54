// `iommufs diff <a.yaml> <b.yaml> [--json]`: how the groups of machine b differ from those
// of machine a, devices matched by their address (group-diff.ts). Nothing is written.

import { bootOrFail } from './load';
import { diffGroups } from './group-diff';
import type { Io } from './io';
import { newWarnings, printDiff } from './whatif';

export const DIFF_USAGE = 'iommufs diff <a.yaml> <b.yaml> [--json]';

export function diffCommand(a: string, b: string, json: boolean, io: Io): number {
  const before = bootOrFail(a).machine;
  const after = bootOrFail(b).machine;
  for (const w of newWarnings(before, after)) io.err(`warning: in ${b}: ${w}`);
  printDiff(io, json, {
    before: { topology: a, cmdline: before.topology.cmdline.raw },
    after: { topology: b, cmdline: after.topology.cmdline.raw },
    edits: [],
    ...diffGroups(before, after, (d) => `${d.kind}:${d.name}`),
  });
  return 0;
}
