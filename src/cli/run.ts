// `iommufs run <topology> [--cpu-flags LIST] [--host-sys] -- <command> [args...]`
// (docs/cli.md): serve the machine at a private temporary directory, run the command in a
// private mount namespace where that mount is bound over /sys (with --host-sys: the host's
// /sys with only the simulated parts placed over it, run-host-sys.ts), then unmount and exit
// with its status.
// What else the namespace holds, and why, is in run-namespace.ts; in short:
// - /etc and /run: private writable layers, so nothing the command writes reaches the host.
// - /run/udev: the udev database of the simulated devices (run-udev.ts), and
//   SYSTEMD_DEVICE_VERIFY_SYSFS=0 in the command's environment, so that libudev accepts a
//   /sys that is a FUSE mount.
// - modprobe, rmmod, lsmod: the simulation's (run-modtools.ts), and /proc/modules.
// - /proc/cmdline: the topology's `cmdline`.
// - /dev/vfio: a directory of this run holding `vfio`, a plain file standing in for the
//   VFIO container character device, and one plain file (mode 0600) per group that has a
//   device bound to vfio-pci, kept in step after every write as Linux adds and removes
//   /dev/vfio/<group>. When the host has a /dev/vfio it is covered; when it has none, /dev
//   is replaced in the namespace by a tmpfs holding bind mounts of every host /dev entry
//   plus vfio, so that the host's /dev is never written.
// - /proc/cpuinfo: virt-host-validate decides Intel or AMD from the `vmx`/`svm` flags and
//   only then looks for /sys/firmware/acpi/tables/DMAR or IVRS and at the link count of
//   /sys/kernel/iommu_groups (clients.md §1.5, C12). So for an x86 topology the run shows a
//   copy of the host's cpuinfo whose `flags` lines carry the simulated vendor's flag:
//   `svm` (and no `vmx`) when the topology has an amd-vi unit, else `vmx` (and no `svm`).
//   Other architectures get nothing. `--cpu-flags LIST` replaces that rule: a comma list of
//   flags to add, `-flag` to remove one; `--cpu-flags ''` keeps the host's cpuinfo.
//   cgroups need nothing: the host's cgroup mounts stay listed in /proc/self/mounts, which
//   is what virt-host-validate's cgroup checks read.
// The files the daemon keeps in step (/dev/vfio, /run/udev, /proc/modules) live on the
// host side, in the run's directory, and are rewritten synchronously after every write to
// the mount, before the writer's next command can look.
//
// Root uses `unshare -mn`; anyone else `unshare -Urmn` (an unprivileged user namespace, where
// the kernel allows it). The network namespace is private too: the simulated machine's
// interfaces (net/eth0 of a bound NIC driver) would otherwise meet the host's own of the same
// name, and tools that check whether an interface is routed (dpdk-devbind.py reads `ip
// route`) would take the simulated NIC for the host's active one. The command runs without a shell of its own (`exec "$@"`), so
// its PID is the child's and its exit status is passed through; killed by a signal, the
// status is 128 + the signal number. If the namespace cannot be set up the status is 125
// (the convention of env, chroot and timeout for the wrapper's own failure).
// The child is awaited asynchronously: the FUSE server answers it on this event loop.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { chmod, mkdir, mkdtemp, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Machine } from '../engine/machine';
import { vfioGroupIds } from '../engine/vfio';
import { mountSysfs } from '../fuse';
import { isFuseMounted } from '../fuse/mount-table';
import { sysfsTree } from '../sysfs/tree';
import type { Topology } from '../topology/model';
import { CliError } from './errors';
import type { Io } from './io';
import { bootOrFail } from './load';
import { tuneHeapForServing } from './heap';
import { loadPciIds } from './pci-ids';
import { NAMESPACE_SCRIPT, SETUP_FAILED } from './run-namespace';
import { procModulesText } from '../sysfs/module';
import { UdevDb, VERIFY_SYSFS_ENV } from './run-udev';
import { startHostSys, type HostSysViews } from './run-host-sys';
import { UEVENT_SENDER, UEVENT_SENDER_FILE, UeventForwarder } from './run-uevents';
import type { Writable } from 'node:stream';

export { NAMESPACE_SCRIPT, SETUP_FAILED };

export interface RunArgs {
  topology: string;
  /** The command and its arguments, everything after `--`. */
  command: string[];
  /** `--cpu-flags` as given (comma list); undefined for the automatic rule. */
  cpuFlags?: string | undefined;
  /** `--host-sys`: keep the host's /sys around the simulated parts. */
  hostSys?: boolean;
}

/** The prefix of every run's private directory under the system temp dir. */
export const RUN_DIR_PREFIX = 'iommufs-run-';

/** A change to the cpuinfo flags: add or remove one flag. */
export interface FlagEdit {
  flag: string;
  add: boolean;
}

/** The automatic rule (see the header): the simulated CPU vendor's virtualization flag. */
export function cpuFlagEditsFor(t: Topology): FlagEdit[] {
  if (t.arch !== 'x86') return [];
  const amd = t.iommus.some((u) => u.type === 'amd-vi');
  return amd
    ? [{ flag: 'svm', add: true }, { flag: 'vmx', add: false }]
    : [{ flag: 'vmx', add: true }, { flag: 'svm', add: false }];
}

/** `--cpu-flags vmx,-svm` → edits; empty text → none. Throws CliError on a bad name. */
export function parseCpuFlags(text: string): FlagEdit[] {
  const edits: FlagEdit[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const add = !raw.startsWith('-');
    const flag = add ? raw : raw.slice(1);
    if (!/^[a-z0-9_]+$/.test(flag)) throw new CliError(`run: --cpu-flags: bad flag name '${raw}'`, 2);
    edits.push({ flag, add });
  }
  return edits;
}

/** Applies the edits to every `flags\t\t: ...` line (x86's layout in
 * arch/x86/kernel/cpu/proc.c show_cpuinfo). Returns the text unchanged when nothing differs. */
export function editCpuinfo(text: string, edits: FlagEdit[]): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^(flags\s*:)(.*)$/.exec(line);
      if (!m) return line;
      const flags = m[2]!.split(' ').filter((f) => f !== '');
      let out = flags;
      for (const e of edits) {
        out = out.filter((f) => f !== e.flag);
        if (e.add) out.push(e.flag);
      }
      const same = out.length === flags.length && out.every((f) => flags.includes(f));
      return same ? line : `${m[1]} ${out.join(' ')}`;
    })
    .join('\n');
}

/** `unshare` arguments for this user: a plain mount namespace for root, else a user one. */
export function unshareArgs(uid: number): string[] {
  return uid === 0 ? ['-mn', '--propagation', 'private'] : ['-Urmn', '--propagation', 'private'];
}

/** The shell convention for a child's end: its code, or 128 + the number of its signal. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal !== null ? constants.signals[signal] : undefined;
  return n !== undefined ? 128 + n : SETUP_FAILED;
}

interface RunDir {
  base: string;
  sys: string;
  cpuinfo: string | undefined;
}

/** The module tools laid over /usr/sbin and /usr/bin in the namespace (run-namespace.ts). */
const MODULE_TOOLS = ['insmod', 'lsmod', 'modprobe', 'rmmod'];

/** A shell quote for the tool wrappers. */
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function prepareRunDir(edits: FlagEdit[], cmdline: string): Promise<RunDir> {
  const base = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
  const sys = join(base, 'sys');
  await mkdir(sys);
  await mkdir(join(base, 'rw'));
  await mkdir(join(base, 'udev'));
  await mkdir(join(base, 'vfio'));
  // The container node is 0666 on Linux [rec]; group nodes are 0600.
  await writeFile(join(base, 'vfio', 'vfio'), '', { mode: 0o666 });
  await chmod(join(base, 'vfio', 'vfio'), 0o666);
  // /proc/cmdline ends in a newline (fs/proc/cmdline.c cmdline_proc_show).
  await writeFile(join(base, 'cmdline'), `${cmdline}\n`, { mode: 0o444 });
  // Rewritten by the daemon, so writable by its owner; read-only to others, as /proc/modules.
  await writeFile(join(base, 'modules'), '', { mode: 0o644 });
  await writeFile(join(base, UEVENT_SENDER_FILE), UEVENT_SENDER, { mode: 0o644 });
  await mkdir(join(base, 'tools'));
  const tools = join(__dirname, 'run-modtools.js');
  for (const t of MODULE_TOOLS) {
    await writeFile(join(base, 'tools', t), `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(tools)} ${t} "$@"\n`, { mode: 0o755 });
  }
  let cpuinfo: string | undefined;
  if (edits.length > 0) {
    const host = await readFile('/proc/cpuinfo', 'utf8').catch(() => undefined);
    const edited = host === undefined ? undefined : editCpuinfo(host, edits);
    if (edited !== undefined && edited !== host) {
      cpuinfo = join(base, 'cpuinfo');
      await writeFile(cpuinfo, edited);
    }
  }
  return { base, sys, cpuinfo };
}

/** Removes exactly what prepareRunDir, the daemon and the script made; never recursively,
 * so that a mount left behind by accident is not walked into. */
async function removeRunDir(dir: RunDir): Promise<void> {
  const quiet = (): undefined => undefined;
  const b = dir.base;
  syncVfioDir(join(b, 'vfio'), []);
  for (const f of ['vfio/vfio', 'cmdline', 'modules', UEVENT_SENDER_FILE, ...MODULE_TOOLS.map((t) => `tools/${t}`)]) await unlink(join(b, f)).catch(quiet);
  if (dir.cpuinfo !== undefined) await unlink(dir.cpuinfo).catch(quiet);
  for (const d of ['vfio', 'tools', 'udev/data', 'udev/tags', 'udev', 'rw', 'hostdev', 'sys', '']) await rmdir(join(b, d)).catch(quiet);
}

function runChild(command: string[], dir: RunDir, uevents: UeventForwarder): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', [...unshareArgs(process.getuid?.() ?? 0), 'sh', '-c', NAMESPACE_SCRIPT, 'iommufs-run', ...command], {
      // Descriptor 3: the uevents, to the sender inside the namespace (run-uevents.ts).
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, ...VERIFY_SYSFS_ENV, IOMMUFS_RUN_DIR: dir.base },
    });
    uevents.attach(child.stdio[3] as Writable);
    child.on('exit', () => uevents.close());
    // SIGTERM, SIGHUP and SIGQUIT are passed on; SIGINT from a terminal reaches the child
    // through its process group already, so here it is only kept from ending this process
    // first. SIGUSR1 is ignored: Node would open its inspector on it (fuse/signals.ts).
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    const ignore = (): void => undefined;
    const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT'];
    const ignored: NodeJS.Signals[] = ['SIGINT', 'SIGUSR1'];
    for (const s of forwarded) process.on(s, forward);
    for (const s of ignored) process.on(s, ignore);
    const done = (): void => {
      for (const s of forwarded) process.off(s, forward);
      for (const s of ignored) process.off(s, ignore);
    };
    child.on('error', (e) => {
      done();
      reject(new CliError(`run: cannot start unshare (util-linux): ${e.message}`, SETUP_FAILED));
    });
    child.on('close', (code, signal) => {
      done();
      resolve(exitStatus(code, signal));
    });
  });
}

/** Makes the host-side /dev/vfio hold `vfio` and exactly the given groups. Synchronous:
 * this directory is not on the FUSE mount, and a write's effect must show before the
 * writer's next command runs. */
function syncVfioDir(vfioDir: string, groups: number[]): void {
  const want = new Set(groups.map(String));
  let have: string[] = [];
  try {
    have = readdirSync(vfioDir);
  } catch {
    return;
  }
  for (const name of have) if (name !== 'vfio' && !want.has(name)) unlinkSync(join(vfioDir, name));
  for (const name of want) if (!have.includes(name)) writeFileSync(join(vfioDir, name), '', { mode: 0o600 });
}

/** The files of the run directory that follow the machine, rewritten after every write. */
function stateSyncer(machine: Machine, base: string): { sync(): void; clear(): void } {
  const vfioDir = join(base, 'vfio');
  const udev = new UdevDb(join(base, 'udev'), loadPciIds());
  const modulesFile = join(base, 'modules');
  let modulesText: string | undefined;
  return {
    sync(): void {
      syncVfioDir(vfioDir, vfioGroupIds(machine));
      udev.sync(machine);
      const text = procModulesText(machine);
      // Rewritten in place: the namespace has this very file bound over /proc/modules.
      if (text !== modulesText) writeFileSync(modulesFile, text);
      modulesText = text;
    },
    clear: () => udev.clear(),
  };
}

export async function runCommand(a: RunArgs, io: Io): Promise<number> {
  if (a.command.length === 0) throw new CliError('run: no command given after --', 2);
  const edits = a.cpuFlags !== undefined ? parseCpuFlags(a.cpuFlags) : undefined;
  const { machine, warnings } = bootOrFail(a.topology);
  tuneHeapForServing();
  for (const w of warnings) io.err(`warning: ${w}`);
  const dir = await prepareRunDir(edits ?? cpuFlagEditsFor(machine.topology), machine.topology.cmdline.raw);
  let syncer: ReturnType<typeof stateSyncer> | undefined;
  let views: HostSysViews | undefined;
  try {
    let handle;
    const tree = sysfsTree(machine);
    try {
      views = a.hostSys === true ? startHostSys(tree, join(dir.base, 'hostsys')) : undefined;
    } catch (e) {
      throw new CliError(`run: --host-sys: ${(e as Error).message}`, SETUP_FAILED);
    }
    syncer = stateSyncer(machine, dir.base);
    const own = syncer.sync;
    const hostViews = views;
    const sync = (): void => {
      own();
      hostViews?.sync();
    };
    sync();
    const uevents = new UeventForwarder(tree.events!, machine, loadPciIds(), (t) => io.err(t));
    try {
      handle = await mountSysfs(tree, dir.sys, { name: 'iommufs' }, { afterWrite: sync, afterPublish: () => uevents.flush() });
    } catch (e) {
      throw new CliError(`run: cannot mount at ${dir.sys}: ${(e as Error).message}`, SETUP_FAILED);
    }
    try {
      return await runChild(a.command, dir, uevents);
    } finally {
      // The command's status stands even if the unmount fails; say so and go on cleaning.
      await handle.unmount().catch((e: unknown) => io.err(`run: unmount ${dir.sys}: ${e instanceof Error ? e.message : String(e)}`));
    }
  } finally {
    if (await isFuseMounted(dir.sys)) {
      await new Promise<void>((res) => spawn('fusermount', ['-uz', '--', dir.sys], { stdio: 'ignore' }).on('close', () => res()).on('error', () => res()));
    }
    syncer?.clear();
    views?.clear();
    await removeRunDir(dir);
  }
}
