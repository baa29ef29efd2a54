// Loading a topology for a command: errors become one file:line:col line each and exit 2.

import { loadTopologyFile } from '../topology/load';
import { formatDiagnostic } from '../topology/model';
import type { Topology } from '../topology/model';
import { Machine } from '../engine/machine';
import { checkTopology } from '../pci/check';
import { CliError } from './errors';

/** The file's problems, then what boot would trip on (pci/check.ts): `validate` passes only what boots. */
export function loadOrFail(path: string): { topology: Topology; warnings: string[] } {
  const r = loadTopologyFile(path);
  const errors = r.ok ? checkTopology(r.topology) : r.errors;
  if (!r.ok || errors.length > 0) throw new CliError(errors.map(formatDiagnostic).join('\n'), 2);
  return { topology: r.topology, warnings: r.warnings };
}

export function bootOrFail(path: string): { machine: Machine; warnings: string[] } {
  const { topology, warnings } = loadOrFail(path);
  const machine = Machine.boot(topology);
  return { machine, warnings: [...warnings, ...machine.warnings] };
}
