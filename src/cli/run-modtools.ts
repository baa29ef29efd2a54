// modprobe, rmmod, lsmod and insmod as `iommufs run` gives them to the command (see
// run-namespace.ts): they load and unload the simulated machine's modules through
// /sys/kernel/debug/iommufs/{load,unload}_module and read its `modules` (the text of the
// simulated /proc/modules, which the run also binds over /proc/modules where the host has
// one), so a tool's `modprobe vfio-pci` never reaches the host
// kernel. Usage, messages and exit statuses follow kmod 30 (Debian 12): a missing module
// is `modprobe: FATAL: Module x not found in directory /lib/modules/<release>`, exit 1.
//
// modprobe reads `options <module> <param>=<value>...` lines from modprobe.d (/etc, /run,
// /usr/lib, /lib; a file name in an earlier directory hides the same name in a later one,
// files read in name order) and passes them on; the simulation adds the kernel command
// line's `<module>.<param>=` values (the topology's cmdline, which is the run's
// /proc/cmdline) as kmod does.
//
// Run as `node run-modtools.js <tool> [args...]`.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { basename, join } from 'node:path';

const CONTROL = '/sys/kernel/debug/iommufs';
const CONF_DIRS = ['/etc/modprobe.d', '/run/modprobe.d', '/usr/local/lib/modprobe.d', '/usr/lib/modprobe.d', '/lib/modprobe.d'];

import type { ProcModule } from '../sysfs/module';

export function parseProcModules(text: string): ProcModule[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [name = '', size = '0', refcnt = '0', holders = '-'] = l.split(' ');
      return { name, size: Number(size), refcnt: Number(refcnt), holders: holders === '-' ? [] : holders.split(',').filter(Boolean) };
    });
}

/** kmod's lsmod: a header, then `%-19s %8lu  %d` and the holders joined by commas. */
export function lsmodText(mods: ProcModule[]): string {
  const lines = ['Module                  Size  Used by'];
  for (const m of mods) lines.push(`${m.name.padEnd(19)} ${String(m.size).padStart(8)}  ${m.refcnt}${m.holders.length > 0 ? ` ${m.holders.join(',')}` : ''}`);
  return lines.join('\n') + '\n';
}

const normalize = (n: string): string => n.replace(/-/g, '_');

/** `options` of modprobe.d as `module.param=value` words, in the order kmod reads them. */
export function modprobeOptions(dirs: string[] = CONF_DIRS): string[] {
  const files = new Map<string, string>();
  for (const d of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(d).filter((n) => n.endsWith('.conf'));
    } catch {
      continue;
    }
    for (const n of names) if (!files.has(n)) files.set(n, join(d, n));
  }
  const out: string[] = [];
  for (const name of [...files.keys()].sort()) {
    let text = '';
    try {
      text = readFileSync(files.get(name)!, 'utf8');
    } catch {
      continue;
    }
    // A trailing backslash continues a line (kmod's getline_wrapped).
    for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
      const words = line.replace(/#.*/, '').trim().split(/\s+/);
      if (words[0] !== 'options' || words.length < 3) continue;
      const mod = normalize(words[1]!);
      for (const w of words.slice(2)) out.push(`${mod}.${w}`);
    }
  }
  return out;
}

interface Io {
  out(text: string): void;
  err(text: string): void;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'EIO';
}

const STRERROR: Record<string, string> = {
  EINVAL: 'Invalid argument',
  EEXIST: 'Module already in kernel',
  ENOENT: 'No such file or directory',
  EBUSY: 'Device or resource busy',
};

function loaded(): ProcModule[] {
  try {
    return parseProcModules(readFileSync(join(CONTROL, 'modules'), 'utf8'));
  } catch {
    return [];
  }
}

function control(file: string, line: string): void {
  writeFileSync(join(CONTROL, file), line + '\n');
}

/** Removes a module, then (for modprobe -r) each dependency nobody uses any more. */
function remove(tool: string, name: string, io: Io, quiet: boolean, fatal: string): number {
  const mod = loaded().find((m) => m.name === normalize(name));
  if (!mod) {
    if (!quiet) io.err(tool === 'rmmod' ? `rmmod: ERROR: Module ${normalize(name)} is not currently loaded` : `modprobe: FATAL: Module ${normalize(name)} is not in kernel.`);
    return 1;
  }
  if (mod.refcnt > 0) {
    if (!quiet) io.err(`${tool}: ${fatal}: Module ${mod.name} is in use${mod.holders.length > 0 ? ` by: ${mod.holders.join(' ')}` : ''}`);
    return 1;
  }
  try {
    control('unload_module', mod.name);
  } catch (e) {
    if (!quiet) io.err(`${tool}: ERROR: could not remove '${mod.name}': ${STRERROR[errnoOf(e)] ?? errnoOf(e)}`);
    return 1;
  }
  return 0;
}

function modprobe(args: string[], io: Io): number {
  let quiet = false;
  let removeMode = false;
  let all = false;
  let firstTime = false;
  let dryRun = false;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (names.length > 0 && !all) {
      names.push(a);
      continue;
    }
    if (a === '-q' || a === '--quiet') quiet = true;
    else if (a === '-r' || a === '--remove') removeMode = true;
    else if (a === '-a' || a === '--all') all = true;
    else if (a === '--first-time') firstTime = true;
    else if (a === '-n' || a === '--dry-run' || a === '--show') dryRun = true;
    else if (a === '-v' || a === '--verbose' || a === '-b' || a === '--use-blacklist' || a === '-s' || a === '--syslog') continue;
    else if (a === '-h' || a === '--help') {
      io.out('Usage:\n\tmodprobe [options] [-i] [-b] modulename [module parameters...]\n\tmodprobe [options] -a [-i] [-b] modulename [modulename...]\n\tmodprobe [options] -r [-i] modulename [modulename...]\n(iommufs run: loads and unloads the simulated machine\'s modules)');
      return 0;
    } else if (a.startsWith('-')) {
      io.err(`modprobe: ERROR: unknown option: ${a}`);
      return 1;
    } else names.push(a);
  }
  if (names.length === 0) {
    io.err('modprobe: ERROR: missing parameters. See -h.');
    return 1;
  }
  const modules = all || removeMode ? names : [names[0]!];
  const params = all || removeMode ? [] : names.slice(1);
  if (removeMode) {
    let rc = 0;
    for (const n of modules) {
      const before = loaded();
      const target = before.find((m) => m.name === normalize(n));
      if (dryRun) continue;
      const r = remove('modprobe', n, io, quiet, 'FATAL');
      rc = rc || r;
      if (r !== 0 || !target) continue;
      // Its dependencies, and theirs, go too when nothing else uses them (kmod's rmmod_do_deps).
      const deps = new Set<string>();
      const collect = (name: string): void => {
        for (const b of before) if (b.holders.includes(name) && !deps.has(b.name)) deps.add(b.name), collect(b.name);
      };
      collect(target.name);
      for (let changed = true; changed; ) {
        changed = false;
        for (const m of loaded()) if (deps.has(m.name) && m.refcnt === 0 && remove('modprobe', m.name, io, true, 'FATAL') === 0) changed = true;
      }
    }
    return rc;
  }
  const options = modprobeOptions();
  let rc = 0;
  for (const n of modules) {
    if (dryRun) continue;
    const line = [n, ...options, ...params].join(' ');
    try {
      control('load_module', line);
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'EEXIST' && !firstTime) continue;
      rc = 1;
      if (quiet) continue;
      if (code === 'ENOENT') io.err(`modprobe: FATAL: Module ${n} not found in directory /lib/modules/${release()}`);
      else io.err(`modprobe: ERROR: could not insert '${normalize(n)}': ${STRERROR[code] ?? code}`);
    }
  }
  return rc;
}

function rmmod(args: string[], io: Io): number {
  const names = args.filter((a) => !a.startsWith('-'));
  if (args.includes('-h') || args.includes('--help')) {
    io.out('Usage:\n\trmmod [options] modulename ...\n(iommufs run: unloads the simulated machine\'s modules)');
    return 0;
  }
  if (names.length === 0) {
    io.err('rmmod: ERROR: missing module name.');
    return 1;
  }
  let rc = 0;
  for (const n of names) rc = remove('rmmod', basename(n).replace(/\.ko$/, ''), io, false, 'ERROR') || rc;
  return rc;
}

export function modtool(tool: string, args: string[], io: Io): number {
  switch (tool) {
    case 'modprobe':
      return modprobe(args, io);
    case 'rmmod':
      return rmmod(args, io);
    case 'lsmod':
      io.out(lsmodText(loaded()).replace(/\n$/, ''));
      return 0;
    case 'insmod':
      io.err(`insmod: ERROR: could not load module ${args[0] ?? ''}: the simulated machine loads its modules by name; use modprobe`);
      return 1;
    default:
      io.err(`iommufs module tools: unknown tool ${tool}`);
      return 2;
  }
}

if (require.main === module) {
  const [tool = '', ...args] = process.argv.slice(2);
  process.exitCode = modtool(tool, args, {
    out: (t) => process.stdout.write(t + '\n'),
    err: (t) => process.stderr.write(t + '\n'),
  });
}
