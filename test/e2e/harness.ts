// Mount helpers for the end-to-end tests.
//
// fuse-native serves requests on this process's event loop, so a test that mounts
// in-process must touch the mount only through asynchronous child processes
// (`run`, `sh`): a synchronous call (execSync, spawnSync, fs.*Sync) on the mount
// would block the loop that has to answer it, and hang (go-fuse's "Deadlocks" note).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { mountSysfs, type BindingOptions } from '../../src/fuse';
import { isFuse, isFuseMounted, readMounts } from '../../src/fuse/mount-table';
import type { SysfsTree } from '../../src/sysfs/node';

export const MOUNT_PREFIX = 'iommufs-mnt-';
const REPO = resolve(__dirname, '..', '..', '..');
export const CLI_MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for checks that must see NULs. */
  raw: Buffer;
}

/** Runs a program without a shell and collects its output; never rejects on a
 * non-zero exit, only when the program cannot be started or overruns `timeoutMs`. */
export function run(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${opts.timeoutMs ?? 20_000} ms`));
    }, opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const raw = Buffer.concat(out);
      resolvePromise({ code, signal, raw, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A program that exits before reading its input closes the pipe: that is not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a bash script (bash, not dash: its messages carry the errno text). */
export function sh(script: string, opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return run('bash', ['-c', script], opts);
}

/** Quotes a path for a shell script. */
export function q(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

export function makeMountDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), MOUNT_PREFIX));
}

/** Lazily unmounts whatever FUSE mount is at `mnt`; quiet when there is none. */
export async function forceUnmount(mnt: string): Promise<void> {
  if (await isFuseMounted(mnt)) await run('fusermount', ['-uz', mnt]);
}

async function removeMountDir(mnt: string): Promise<void> {
  await rmdir(mnt).catch(() => undefined);
}

/** Mounts `tree` in this process at a fresh temporary directory, runs `fn`, and
 * unmounts and removes the directory whatever happens. */
export async function withMount(
  tree: SysfsTree,
  fn: (mnt: string) => Promise<void>,
  opts: BindingOptions = {},
): Promise<void> {
  const mnt = await makeMountDir();
  try {
    const handle = await mountSysfs(tree, mnt, opts);
    try {
      await fn(handle.mountpoint);
    } finally {
      await handle.unmount();
    }
  } finally {
    await forceUnmount(mnt);
    await removeMountDir(mnt);
  }
}

export interface Daemon {
  child: ChildProcess;
  mnt: string;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node <args...>` and waits for its `mounted <mnt>` line on stdout. Rejects
 * (after killing it) if it exits first or says nothing within `timeoutMs`. */
export function startDaemon(args: string[], mnt: string, timeoutMs = 15_000): Promise<Daemon> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('close', (code, signal) => res({ code, signal }));
  });
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const daemon: Daemon = { child, mnt, exited, stderr: () => stderr };
  return new Promise((resolvePromise, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`daemon ${args.join(' ')}: ${why}; stderr: ${stderr.trim()}`));
    };
    const timer = setTimeout(() => fail(`no "mounted" line within ${timeoutMs} ms`), timeoutMs);
    child.on('error', (e) => fail(e.message));
    const onEarlyClose = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited (${code ?? signal}) before mounting`);
    child.on('close', onEarlyClose);
    child.stdout?.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (stdout.split('\n').some((line) => line === `mounted ${mnt}`)) {
        clearTimeout(timer);
        child.off('close', onEarlyClose);
        resolvePromise(daemon);
      }
    });
  });
}

/** Ends a daemon by its PID: SIGTERM (it should unmount and exit), SIGKILL if it has
 * not exited within `graceMs`, then `fusermount -uz` for whatever is left. */
export async function stopDaemon(daemon: Daemon, graceMs = 5000): Promise<void> {
  const { child } = daemon;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await daemon.exited;
    clearTimeout(timer);
  }
  await forceUnmount(daemon.mnt);
}

/** Runs `fn` against a mount served by a child process `node <scriptArgs...> <mnt>
 * <extraArgs...>`, cleaning up (kill by PID, fusermount -uz, rmdir) also on failure. */
export async function withDaemonProcess(
  scriptArgs: string[],
  fn: (mnt: string, daemon: Daemon) => Promise<void>,
  extraArgs: string[] = [],
): Promise<void> {
  const mnt = await makeMountDir();
  let daemon: Daemon | undefined;
  try {
    daemon = await startDaemon([...scriptArgs, mnt, ...extraArgs], mnt);
    await fn(mnt, daemon);
  } finally {
    if (daemon !== undefined) await stopDaemon(daemon);
    await forceUnmount(mnt);
    await removeMountDir(mnt);
  }
}

/** `iommufs mount <topology> <mnt> [flags]` served by the built CLI (dist/). */
export function withDaemon(
  topology: string,
  fn: (mnt: string, daemon: Daemon) => Promise<void>,
  flags: string[] = [],
): Promise<void> {
  return withDaemonProcess([CLI_MAIN, 'mount', topology], fn, flags);
}

/** Fails when a FUSE mount is left under the temp directory by these helpers. */
export async function assertNothingMounted(): Promise<void> {
  const base = join(tmpdir(), MOUNT_PREFIX);
  const left = (await readMounts()).filter((m) => isFuse(m) && m.mountpoint.startsWith(base));
  if (left.length > 0) {
    throw new Error(`FUSE mounts left behind: ${left.map((m) => m.mountpoint).join(', ')}`);
  }
}
