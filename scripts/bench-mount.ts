// npm run bench (second part): what the mount costs, against two floors serving the same
// tree: the `iommufs export` on tmpfs (no FUSE at all) and the lean fuse-native server
// (scripts/lean-fuse-server.ts: plain objects, the mount's kernel caching, nothing else).
//
//   node dist/scripts/bench-mount.js [--devices 1000,10000] [--rounds 3]
//        [--workloads find,ls-lR,read-all,readlink-all,group-loop,lspci-vvv]
//        [--servers tmpfs,lean,mount] [--timeout 300] [--writes 5 | --no-writes]
//        [--profile DIR]
//
// Each workload runs cold (first walk after the server started: a fresh daemon per
// workload) and warm (the same walk again). Rounds interleave the servers (round 1:
// tmpfs, lean, mount for each workload; round 2: again...) so background load hits them
// alike; the table gives medians. A workload that does not finish within --timeout
// seconds is reported as not finished. --profile DIR runs the mount (or the FUSE servers
// given with --servers) under `node --cpu-prof`, one workload at a time (find and ls-lR
// unless --workloads), and prints where its CPU time went during the cold and warm walks.
// Progress goes to stderr; stdout is markdown for README's Speed section.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfTimes } from './bench-cpuprofile';
import { SERVER_KINDS, startServer, type ServerInputs, type ServerKind } from './bench-servers';
import { benchWrites } from './bench-writes';
import { median, runWorkload, WORKLOAD_NAMES, type Timing } from './bench-workloads';
import { generateMachineYaml } from './generate-machine';

const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');
const LEAN = join(__dirname, 'lean-fuse-server.js');

interface Args {
  devices: number[];
  rounds: number;
  workloads: string[];
  servers: ServerKind[];
  timeoutS: number;
  writes: number;
  profileDir: string | undefined;
}

const USAGE =
  'usage: bench-mount [--devices 1000,10000] [--rounds 3] [--workloads ' +
  WORKLOAD_NAMES.join(',') +
  '] [--servers tmpfs,lean,mount] [--timeout 300] [--writes 5 | --no-writes] [--profile DIR]';

function parseArgs(argv: string[]): Args {
  const args: Args = { devices: [1000, 10000], rounds: 3, workloads: [...WORKLOAD_NAMES], servers: [...SERVER_KINDS], timeoutS: 300, writes: 5, profileDir: undefined };
  const positive = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} wants a positive integer, not "${v}"`);
    return n;
  };
  const list = <T extends string>(flag: string, v: string, known: readonly string[]): T[] => {
    const xs = v.split(',').filter((x) => x !== '');
    const bad = xs.filter((x) => !known.includes(x));
    if (xs.length === 0 || bad.length > 0) throw new Error(`${flag}: unknown ${bad.join(', ') || '(empty)'}; known: ${known.join(', ')}`);
    return xs as T[];
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--no-writes') {
      args.writes = 0;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${flag} wants a value`);
    if (flag === '--devices') args.devices = v.split(',').map((x) => positive(flag, x));
    else if (flag === '--rounds') args.rounds = positive(flag, v);
    else if (flag === '--workloads') args.workloads = list(flag, v, WORKLOAD_NAMES);
    else if (flag === '--servers') args.servers = list<ServerKind>(flag, v, SERVER_KINDS);
    else if (flag === '--timeout') args.timeoutS = positive(flag, v);
    else if (flag === '--writes') args.writes = positive(flag, v);
    else if (flag === '--profile') args.profileDir = v;
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

/** Why a warm walk has no time: its cold walk did not finish. */
const NOT_RUN = 'not run';

const progress = (line: string): void => void process.stderr.write(`${line}\n`);

const seconds = (ms: number): string => (ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2)) + ' s';

/** One size's tree, exported and snapshotted once for all rounds. */
interface Machine {
  devices: number;
  inputs: ServerInputs;
  entries: { dirs: number; files: number; links: number };
  cleanup(): void;
}

/** Entries below the root, by type. */
function countEntries(dir: string, into = { dirs: 0, files: 0, links: 0 }): { dirs: number; files: number; links: number } {
  for (const e of readdirSync(dir, { withFileTypes: true }) as Dirent[]) {
    if (e.isDirectory()) {
      into.dirs++;
      countEntries(join(dir, e.name), into);
    } else if (e.isSymbolicLink()) into.links++;
    else into.files++;
  }
  return into;
}

function prepare(devices: number): Machine {
  const work = mkdtempSync(join(tmpdir(), 'iommufs-bench-'));
  const shm = mkdtempSync(join('/dev/shm', 'iommufs-bench-'));
  const topology = join(work, `generated-${devices}.yaml`);
  writeFileSync(topology, generateMachineYaml(devices));
  const exportDir = join(shm, 'sys');
  // Their messages go with the progress lines: stdout is the markdown only.
  execFileSync(process.execPath, [CLI, 'export', topology, exportDir], { stdio: ['ignore', 2, 2] });
  const snapshot = join(shm, 'tree.v8');
  execFileSync(process.execPath, [LEAN, 'snapshot', exportDir, snapshot], { stdio: ['ignore', 2, 2] });
  mkdirSync(join(work, 'mnt'));
  return {
    devices,
    inputs: { topology, exportDir, snapshot, mountpoint: join(work, 'mnt', 'fs') },
    entries: countEntries(exportDir),
    cleanup() {
      rmSync(shm, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** One workload's timings: per server, cold and warm per round. */
type Walks = Map<ServerKind, { cold: Timing[]; warm: Timing[] }>;

/** Every timing of one size, by workload. */
interface SizeResults {
  machine: Machine;
  walks: Map<string, Walks>;
  startMs: Map<ServerKind, number[]>;
  rssMb: Map<ServerKind, number[]>;
}

async function benchSize(devices: number, args: Args): Promise<SizeResults> {
  const machine = prepare(devices);
  const e = machine.entries;
  progress(`${devices} devices: ${e.dirs + e.files + e.links} entries (${e.dirs} dirs, ${e.files} files, ${e.links} links)`);
  const res: SizeResults = { machine, walks: new Map(), startMs: new Map(), rssMb: new Map() };
  try {
    for (let round = 1; round <= args.rounds; round++) {
      for (const w of args.workloads) {
        for (const kind of args.servers) {
          const server = await startServer(kind, machine.inputs);
          try {
            const cold = await runWorkload(w, server.root, args.timeoutS);
            const warm: Timing = Number.isNaN(cold.ms) ? { ms: NaN, problem: NOT_RUN } : await runWorkload(w, server.root, args.timeoutS);
            const per: Walks = res.walks.get(w) ?? new Map();
            res.walks.set(w, per);
            const t = per.get(kind) ?? { cold: [], warm: [] };
            per.set(kind, t);
            t.cold.push(cold);
            t.warm.push(warm);
            if (kind !== 'tmpfs') {
              res.startMs.set(kind, [...(res.startMs.get(kind) ?? []), server.startMs]);
              res.rssMb.set(kind, [...(res.rssMb.get(kind) ?? []), server.rssMb()]);
            }
            const show = (x: Timing): string => (Number.isNaN(x.ms) ? `not finished (${x.problem})` : seconds(x.ms));
            progress(`[${devices} round ${round}] ${w.padEnd(12)} ${kind.padEnd(5)} cold ${show(cold)}, warm ${show(warm)}`);
          } finally {
            await server.stop();
          }
        }
      }
    }
  } finally {
    machine.cleanup();
  }
  return res;
}

/** The median of the finished rounds, or why there is none. */
function cell(ts: Timing[] | undefined, timeoutS: number): { text: string; ms: number } {
  if (ts === undefined || ts.length === 0) return { text: '–', ms: NaN };
  const done = ts.filter((t) => !Number.isNaN(t.ms)).map((t) => t.ms);
  if (done.length === ts.length) {
    const ms = median(done);
    return { text: seconds(ms), ms };
  }
  if (ts.every((t) => t.problem === NOT_RUN)) return { text: '–', ms: NaN };
  const failed = ts.find((t) => t.problem !== 'timeout' && t.problem !== NOT_RUN && t.problem !== undefined);
  const why = failed === undefined ? `not finished in ${timeoutS} s` : `failed: ${failed.problem}`;
  return { text: `${why} (${done.length}/${ts.length} ok)`, ms: NaN };
}

const ratio = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '–' : `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×`);

function table(res: SizeResults, args: Args): string {
  const e = res.machine.entries;
  const lines = [
    `**${res.machine.devices} devices** (${(e.dirs + e.files + e.links).toLocaleString('en')} entries: ${e.dirs.toLocaleString('en')} dirs, ${e.files.toLocaleString('en')} files, ${e.links.toLocaleString('en')} links), median of ${args.rounds} round(s), cold / warm:`,
    '',
    '| workload | tmpfs | lean fuse-native | `iommufs mount` | mount / lean | mount / tmpfs |',
    '|---|---|---|---|---|---|',
  ];
  for (const w of args.workloads) {
    const per = res.walks.get(w);
    const c = (k: ServerKind, phase: 'cold' | 'warm') => cell(per?.get(k)?.[phase], args.timeoutS);
    const both = (k: ServerKind): string => `${c(k, 'cold').text} / ${c(k, 'warm').text}`;
    const r = (k: ServerKind): string => `${ratio(c('mount', 'cold').ms, c(k, 'cold').ms)} / ${ratio(c('mount', 'warm').ms, c(k, 'warm').ms)}`;
    lines.push(`| ${w} | ${both('tmpfs')} | ${both('lean')} | ${both('mount')} | ${r('lean')} | ${r('tmpfs')} |`);
  }
  return lines.join('\n');
}

function daemonTable(all: SizeResults[]): string {
  const lines = ['| devices | server | start-up to `mounted` | RSS after the workloads (largest) |', '|---|---|---|---|'];
  for (const res of all) {
    for (const kind of ['lean', 'mount'] as const) {
      const starts = res.startMs.get(kind);
      if (starts === undefined) continue;
      const rss = (res.rssMb.get(kind) ?? []).filter((x) => !Number.isNaN(x));
      const name = kind === 'lean' ? 'lean fuse-native' : '`iommufs mount`';
      lines.push(`| ${res.machine.devices} | ${name} | ${(median(starts) / 1000).toFixed(2)} s (median) | ${rss.length === 0 ? '–' : Math.max(...rss).toFixed(0) + ' MB'} |`);
    }
  }
  return lines.join('\n');
}

async function profile(args: Args, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // Unless narrowed: find and ls -lR, on the mount.
  const workloads = args.workloads.length === WORKLOAD_NAMES.length ? ['find', 'ls-lR'] : args.workloads;
  const servers = args.servers.length === SERVER_KINDS.length ? ['mount' as const] : args.servers.filter((k) => k !== 'tmpfs');
  for (const devices of args.devices) {
    const machine = prepare(devices);
    try {
      for (const [w, kind] of workloads.flatMap((w) => servers.map((k) => [w, k] as const))) {
        const profDir = mkdtempSync(join(dir, `${devices}-${w}-${kind}-`));
        const server = await startServer(kind, { ...machine.inputs, nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profDir] });
        const now = (): number => Number(process.hrtime.bigint() / 1000n);
        const windows: Array<[string, number, number, Timing]> = [];
        try {
          for (const phase of ['cold', 'warm']) {
            const from = now();
            const t = await runWorkload(w, server.root, args.timeoutS);
            windows.push([phase, from, now(), t]);
          }
        } finally {
          await server.stop();
        }
        const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
        if (file === undefined) throw new Error(`no .cpuprofile in ${profDir}`);
        for (const [phase, from, to, t] of windows) {
          const p = selfTimes(join(profDir, file), from, to);
          console.log(`\n${kind}, ${devices} devices, ${phase} ${w} (${Number.isNaN(t.ms) ? t.problem : seconds(t.ms)} wall, daemon's JS thread busy ${(p.busyMs / 1000).toFixed(2)} s, idle ${(p.idleMs / 1000).toFixed(2)} s), ${join(profDir, file)}\n`);
          console.log('| self time | share | function |\n|---|---|---|');
          for (const f of p.functions) console.log(`| ${f.ms.toFixed(0)} ms | ${(f.share * 100).toFixed(1)}% | ${f.where} |`);
          console.log('\n| self time | share | file |\n|---|---|---|');
          for (const f of p.files.slice(0, 8)) console.log(`| ${f.ms.toFixed(0)} ms | ${(f.share * 100).toFixed(1)}% | ${f.where} |`);
        }
      }
    } finally {
      machine.cleanup();
    }
  }
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (args.profileDir !== undefined) return profile(args, args.profileDir);
  const all: SizeResults[] = [];
  for (const n of args.devices) all.push(await benchSize(n, args));
  console.log('\n## Mount benchmark\n');
  for (const res of all) console.log(`${table(res, args)}\n`);
  if (args.servers.some((k) => k !== 'tmpfs')) console.log(`${daemonTable(all)}\n`);
  if (args.writes > 0) {
    const writes = await benchWrites(args.writes);
    console.log(`Writes on \`iommufs mount\` (median of ${args.writes}):\n\n| write | time |\n|---|---|`);
    for (const w of writes) console.log(`| ${w.label} | ${Number.isNaN(w.ms) ? 'not within 5 s' : `${w.ms.toFixed(1)} ms`}${w.note === undefined ? '' : ` (${w.note})`} |`);
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
