// The three servers the mount benchmark compares, each started fresh so that its first
// walk is cold: the `iommufs export` on tmpfs (no FUSE), the lean fuse-native server over
// the same exported tree (scripts/lean-fuse-server.ts) and `iommufs mount`. Both FUSE
// servers are child processes; the benchmark process never serves a mount, so it may
// touch the trees itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export type ServerKind = 'tmpfs' | 'lean' | 'mount';
export const SERVER_KINDS: readonly ServerKind[] = ['tmpfs', 'lean', 'mount'];

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const LEAN = join(__dirname, 'lean-fuse-server.js');

export interface RunningServer {
  /** Where the tree is: the export directory, or the mount point. */
  readonly root: string;
  /** Start to `mounted`, ms; 0 for tmpfs (exported once, before the rounds). */
  readonly startMs: number;
  /** The daemon's resident set now, MB; NaN for tmpfs. */
  rssMb(): number;
  stop(): Promise<void>;
}

export interface ServerInputs {
  topology: string;
  exportDir: string;
  snapshot: string;
  mountpoint: string;
  /** Extra node flags for the FUSE daemons (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Spawns `args` and resolves once it prints `mounted <mountpoint>`. */
async function daemon(args: string[], mountpoint: string): Promise<RunningServer> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(`mounted ${mountpoint}`)) resolve();
    });
    void exited.then(() => reject(new Error(`${args.slice(-3).join(' ')} exited with ${child.exitCode} before mounting`)));
  });
  const startMs = performance.now() - t0;
  return {
    root: mountpoint,
    startMs,
    rssMb: () => rssOf(child.pid!),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The node options the bin starts iommufs with: those on its first line
 * (`#!/usr/bin/env -S node ...`, src/cli/main.ts), so that the daemon measured is the one run. */
function binNodeFlags(): string[] {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '';
  return /^#!\/usr\/bin\/env -S node (.+)$/.exec(first)?.[1]?.split(' ').filter((x) => x !== '') ?? [];
}

/** `iommufs mount <topology> <mountpoint>` as a child process, started as the bin starts
 * it and with `nodeFlags`. */
export function startMount(topology: string, mountpoint: string, nodeFlags: string[] = []): Promise<RunningServer> {
  return daemon([...binNodeFlags(), ...nodeFlags, CLI, 'mount', topology, mountpoint], mountpoint);
}

export function startServer(kind: ServerKind, inp: ServerInputs): Promise<RunningServer> {
  switch (kind) {
    case 'tmpfs':
      return Promise.resolve({ root: inp.exportDir, startMs: 0, rssMb: () => NaN, stop: async () => undefined });
    case 'lean':
      return daemon([...(inp.nodeFlags ?? []), LEAN, 'serve', inp.snapshot, inp.mountpoint], inp.mountpoint);
    case 'mount':
      return startMount(inp.topology, inp.mountpoint, inp.nodeFlags);
  }
}
