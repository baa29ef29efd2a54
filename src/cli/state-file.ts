// The --state file: read and checked at start (a bad file is an error, exit 2, nothing
// mounted), written atomically (temp file + rename) after every successful write.
//
// The daemon usually runs as root and the file may sit in a directory others can write
// (/tmp). So the temp file gets an unguessable name and is created with O_EXCL|O_NOFOLLOW
// (a planted symlink or file makes the open fail instead of being written through), mode
// 0600; and the file read at start must be a regular file, not a symlink, owned by this
// user or root and writable by nobody else, as ssh asks of its keys.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { captureState, checkStateShape, restoreState, StateError, topologyFingerprint } from '../engine/saved-state';
import type { Machine } from '../engine/machine';
import { CliError } from './errors';

const S_IWGRP = 0o020;
const S_IWOTH = 0o002;

/** The file's text, or undefined when there is none yet. Throws CliError (exit 2). */
function readTrusted(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined; // first run: nothing saved yet
    if (code === 'ELOOP') throw new CliError(`state file ${file}: is a symbolic link; give the file itself`, 2);
    throw new CliError(`state file ${file}: ${(e as Error).message}`, 2);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CliError(`state file ${file}: not a regular file`, 2);
    const me = process.geteuid?.() ?? 0;
    if (st.uid !== me && st.uid !== 0) throw new CliError(`state file ${file}: owned by uid ${st.uid}, not by this user (${me}) or root`, 2);
    if ((st.mode & (S_IWGRP | S_IWOTH)) !== 0) {
      throw new CliError(`state file ${file}: writable by others (mode ${(st.mode & 0o777).toString(8)}); chmod go-w it`, 2);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Puts the saved state on a freshly booted machine; anything that does not fit is a CliError (exit 2). */
export function restoreFromFile(m: Machine, file: string, topologyText: string): void {
  const text = readTrusted(file);
  if (text === undefined) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`state file ${file}: not valid JSON (${(e as Error).message})`, 2);
  }
  try {
    restoreState(m, checkStateShape(parsed, topologyFingerprint(topologyText)));
  } catch (e) {
    if (e instanceof StateError) throw new CliError(`state file ${file}: ${e.message}`, 2);
    throw e;
  }
}

export function saveToFile(m: Machine, file: string, topologyText: string): void {
  const text = JSON.stringify(captureState(m, topologyFingerprint(topologyText)), null, 1) + '\n';
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(8).toString('hex')}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never made: nothing to clean
    }
    throw e;
  }
}
