// The --state file: read and checked at start (a bad file is an error, exit 2, nothing
// mounted), written atomically (temp file + rename) after every successful write.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { captureState, checkState, restoreState, StateError, topologyFingerprint } from '../engine/saved-state';
import type { Machine } from '../engine/machine';
import { CliError } from './errors';

export function restoreFromFile(m: Machine, file: string, topologyText: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; // first run: nothing saved yet
    throw new CliError(`state file ${file}: ${(e as Error).message}`, 2);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`state file ${file}: not valid JSON (${(e as Error).message})`, 2);
  }
  try {
    return restoreState(m, checkState(parsed, topologyFingerprint(topologyText)));
  } catch (e) {
    if (e instanceof StateError) throw new CliError(`state file ${file}: ${e.message}`, 2);
    throw e;
  }
}

export function saveToFile(m: Machine, file: string, topologyText: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(captureState(m, topologyFingerprint(topologyText)), null, 1) + '\n');
  renameSync(tmp, file);
}
