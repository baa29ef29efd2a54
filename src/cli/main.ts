#!/usr/bin/env -S node --max-semi-space-size=4
// That first line gives node a young generation of 4 MB per semi-space instead of up to 16:
// a daemon that served a walk of 10,000 devices otherwise keeps 32 MB of new space resident
// (RSS after `ls -lR` 321 -> 302 MB; boot and walk times unchanged). Only node's start can set
// it (src/cli/heap.ts sets what can be set later); scripts/start.sh and the mount benchmark
// start node the same way, `node dist/src/cli/main.js` goes without it.
// The iommufs command line (docs/cli.md). Only main() prints and exits; commands
// return their output or throw CliError.

import { parseArgs } from 'node:util';
import { explainDevice } from '../engine/explain';
import { CliError } from './errors';
import { groupsJson, groupsText } from './groups';
import type { Io } from './io';
import { bootOrFail, loadOrFail } from './load';
import { exportCommand } from './export';
import { mountCommand } from './mount';
import { runCommand } from './run';
import { ctlCommand, CTL_USAGE } from './ctl';
import { whatifCommand, WHATIF_USAGE } from './whatif';
import { diffCommand, DIFF_USAGE } from './diff';
import { importCommand, IMPORT_USAGE } from './import';

/** Each command's usage line, as `iommufs <command> --help` prints it. */
const USAGES: Record<string, string> = {
  mount: 'iommufs mount <topology.yaml> <mountpoint> [--allow-other] [--state FILE] [--debug]',
  run: 'iommufs run <topology.yaml> [--cpu-flags LIST] [--host-sys] -- <command> [args...]',
  export: 'iommufs export <topology.yaml> <dir>',
  groups: 'iommufs groups <topology.yaml> [--json]',
  explain: 'iommufs explain <topology.yaml> <device>',
  validate: 'iommufs validate <topology.yaml>',
  whatif: WHATIF_USAGE,
  diff: DIFF_USAGE,
  import: IMPORT_USAGE,
  ctl: 'iommufs ctl <mountpoint> <verb> [args...]   (status, claim, attach, ...; see README)',
};

const USAGE = `usage:\n${Object.values(USAGES).map((u) => `  ${u}`).join('\n')}`;

/** Whether the arguments ask for help: `--help` or `-h` among the command's own options
 * (for `run`, before the `--` that starts the command). */
function wantsHelp(name: string, args: string[]): boolean {
  const sep = args.indexOf('--');
  const own = name === 'run' && sep >= 0 ? args.slice(0, sep) : name === 'ctl' ? args.slice(0, 1) : args;
  return own.includes('--help') || own.includes('-h');
}

type Command = (args: string[], io: Io) => Promise<number> | number;

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function positionals(args: string[], options: OptionSpec, count: number, name: string): { pos: string[]; values: Record<string, string | boolean | undefined> } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError(`${name}: ${(e as Error).message}\n${USAGE}`, 2);
  }
  if (parsed.positionals.length !== count) throw new CliError(`${name}: expected ${count} argument(s)\n${USAGE}`, 2);
  return { pos: parsed.positionals, values: parsed.values as Record<string, string | boolean | undefined> };
}

function printWarnings(io: Io, warnings: string[]): void {
  for (const w of warnings) io.err(`warning: ${w}`);
}

const commands: Record<string, Command> = {
  groups(args, io) {
    const { pos, values } = positionals(args, { json: { type: 'boolean' } }, 1, 'groups');
    const { machine, warnings } = bootOrFail(pos[0]!);
    printWarnings(io, warnings);
    if (values.json) io.out(JSON.stringify(groupsJson(machine)));
    else {
      const text = groupsText(machine);
      if (text) io.out(text);
    }
    return 0;
  },
  explain(args, io) {
    const { pos } = positionals(args, {}, 2, 'explain');
    const { machine } = bootOrFail(pos[0]!);
    const text = explainDevice(machine, normalizeDeviceName(pos[1]!));
    if (text === undefined) throw new CliError(`explain: no device ${pos[1]} in ${pos[0]}`, 1);
    io.out(text);
    return 0;
  },
  mount(args, io) {
    const { pos, values } = positionals(
      args,
      { 'allow-other': { type: 'boolean' }, debug: { type: 'boolean' }, state: { type: 'string' } },
      2,
      'mount',
    );
    const state = typeof values.state === 'string' ? { state: values.state } : {};
    return mountCommand({ topology: pos[0]!, mountpoint: pos[1]!, allowOther: values['allow-other'] === true, debug: values.debug === true, ...state }, io);
  },
  run(args, io) {
    // Everything after the first `--` is the command, options and all.
    const sep = args.indexOf('--');
    if (sep < 0) throw new CliError(`run: expected -- before the command\n${USAGE}`, 2);
    const { pos, values } = positionals(args.slice(0, sep), { 'cpu-flags': { type: 'string' }, 'host-sys': { type: 'boolean' } }, 1, 'run');
    const cpuFlags = values['cpu-flags'];
    return runCommand({ topology: pos[0]!, command: args.slice(sep + 1), cpuFlags: typeof cpuFlags === 'string' ? cpuFlags : undefined, hostSys: values['host-sys'] === true }, io);
  },
  export(args, io) {
    const { pos } = positionals(args, {}, 2, 'export');
    return exportCommand({ topology: pos[0]!, dir: pos[1]! }, io);
  },
  ctl: (args, io) => ctlCommand(args, io),
  whatif: (args, io) => whatifCommand(args, io),
  diff(args, io) {
    const { pos, values } = positionals(args, { json: { type: 'boolean' } }, 2, 'diff');
    return diffCommand(pos[0]!, pos[1]!, values.json === true, io);
  },
  import(args, io) {
    const { values } = positionals(args, { sysfs: { type: 'string' }, cmdline: { type: 'string' } }, 0, 'import');
    return importCommand({ ...(typeof values.sysfs === 'string' ? { sysfs: values.sysfs } : {}), ...(typeof values.cmdline === 'string' ? { cmdline: values.cmdline } : {}) }, io);
  },
  validate(args) {
    const { pos } = positionals(args, {}, 1, 'validate');
    loadOrFail(pos[0]!);
    return 0;
  },
};

/** Accept "01:00.0" as lspci prints it, meaning segment 0000. */
function normalizeDeviceName(name: string): string {
  return /^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(name) ? `0000:${name.toLowerCase()}` : name.toLowerCase();
}

export async function run(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    io.err(`iommufs: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  if (wantsHelp(name, rest)) {
    io.out(name === 'ctl' ? CTL_USAGE : `usage: ${USAGES[name] ?? name}`);
    return 0;
  }
  try {
    return await cmd(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(e.message);
      return e.exitCode;
    }
    io.err(`iommufs: internal error: ${(e as Error).stack ?? String(e)}`);
    return 70;
  }
}

export function registerCommand(name: string, cmd: Command): void {
  commands[name] = cmd;
}

async function main(): Promise<void> {
  // A reader that went away (`iommufs ctl ... | head`): stop quietly with the status a
  // process killed by SIGPIPE has, as `yes | head` does, instead of an EPIPE stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(128 + 13);
      throw e;
    });
  }
  const io: Io = {
    out: (t) => process.stdout.write(t + '\n'),
    err: (t) => process.stderr.write(t + '\n'),
  };
  const code = await run(process.argv.slice(2), io);
  // A finished mount leaves fuse-native's handles behind; leave explicitly.
  process.exit(code);
}

if (require.main === module) void main();
