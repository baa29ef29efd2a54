// `iommufs ctl <mountpoint> <verb> [args...]`: drives the domain engine of a running mount
// through its control files in kernel/debug/iommufs/ (src/sysfs/debug-iommufs.ts). ctl is a
// process of its own, not the one serving the mount, so synchronous file calls are safe here.
// A refusal comes back from write(2) as the kernel's errno; it is printed as strerror says it.

import { closeSync, openSync, readFileSync, readdirSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './errors';
import type { Io } from './io';
import { watchCommand } from './ctl-watch';

export const CTL_DIR = 'kernel/debug/iommufs';

/** glibc's strerror texts for the errnos the simulator gives (and a few the mount may). */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
  EADDRINUSE: 'Address already in use',
  EUSERS: 'Too many users',
  ENOTCONN: 'Transport endpoint is not connected',
};

export function strerror(code: string): string {
  return STRERROR[code] ?? code;
}

interface Verb {
  /** The control file, relative to the mount. */
  file: (args: string[]) => string;
  /** What is written (a newline is added). */
  line: (args: string[]) => string;
  /** Allowed argument counts. */
  min: number;
  max: number;
  usage: string;
}

const control = (name: string, min: number, max: number, usage: string): Verb => ({
  file: () => `${CTL_DIR}/${name}`,
  line: (a) => a.join(' '),
  min,
  max,
  usage,
});

/** Verbs by name; `-` and `_` are the same in a verb. */
const VERBS: Record<string, Verb> = {
  alloc: control('alloc_domain', 1, 4, '<unit> [pasid] [nesting] [dirty]'),
  free: control('free_domain', 1, 1, '<domain>'),
  claim: control('claim', 2, 2, '<group> <owner>'),
  release: control('release', 2, 2, '<group> <owner>'),
  leave_host: control('leave_host', 1, 1, '<group>'),
  return_host: control('return_host', 1, 1, '<group>'),
  attach: control('attach', 2, 2, '<group> <domain>'),
  detach: control('detach', 1, 1, '<group>'),
  replace: control('replace', 2, 2, '<group> <domain|none>'),
  pasid_attach: control('pasid_attach', 3, 3, '<device> <pasid> <domain>'),
  pasid_replace: control('pasid_replace', 3, 3, '<device> <pasid> <domain>'),
  pasid_detach: control('pasid_detach', 2, 2, '<device> <pasid>'),
  mdev_create: {
    file: (a) => `bus/pci/devices/${a[0]}/mdev_supported_types/${a[1]}/create`,
    line: (a) => a[2]!,
    min: 3,
    max: 3,
    usage: '<parent> <type> <uuid>',
  },
  mdev_remove: { file: (a) => `bus/mdev/devices/${a[0]}/remove`, line: () => '1', min: 1, max: 1, usage: '<uuid>' },
};
VERBS.alloc_domain = VERBS.alloc!;
VERBS.free_domain = VERBS.free!;

export const CTL_USAGE = `usage: iommufs ctl <mountpoint> <verb> [args...]
  status
  watch [--json]
${Object.entries(VERBS)
  .filter(([name]) => !name.endsWith('_domain'))
  .map(([name, v]) => `  ${name} ${v.usage}`)
  .join('\n')}`;

function errCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : 'EIO';
}

function writeControl(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY);
  try {
    writeSync(fd, Buffer.from(text));
  } finally {
    closeSync(fd);
  }
}

function readText(path: string): string {
  return readFileSync(path, 'latin1').replace(/\n$/, '');
}

/** One line per group: `group N: state=<..> owner=<..> domain=<user domain id|default|blocking|none> viable=<0|1>`. */
function status(mnt: string): string[] {
  const base = join(mnt, CTL_DIR, 'groups');
  const ids = readdirSync(base)
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  return ids.map((id) => {
    const g = join(base, String(id));
    const owner = readText(join(g, 'owner'));
    const domain = readText(join(g, 'domain'));
    return `group ${id}: state=${readText(join(g, 'state'))} owner=${owner === '(none)' ? 'none' : owner} domain=${domain} viable=${readText(join(g, 'viable'))}`;
  });
}

export function ctlCommand(args: string[], io: Io): number | Promise<number> {
  const [mnt, rawVerb, ...rest] = args;
  if (mnt === undefined || rawVerb === undefined) throw new CliError(`ctl: expected a mountpoint and a verb\n${CTL_USAGE}`, 2);
  const verbName = rawVerb.replace(/-/g, '_');
  try {
    if (verbName === 'watch') return watchCommand(mnt, rest, io, (e) => strerror(errCode(e)));
    if (verbName === 'status') {
      if (rest.length > 0) throw new CliError(`ctl: status takes no arguments\n${CTL_USAGE}`, 2);
      for (const line of status(mnt)) io.out(line);
      return 0;
    }
    const verb = VERBS[verbName];
    if (!verb) throw new CliError(`ctl: unknown verb '${rawVerb}'\n${CTL_USAGE}`, 2);
    if (rest.length < verb.min || rest.length > verb.max) throw new CliError(`ctl: ${rawVerb} ${verb.usage}`, 2);
    writeControl(join(mnt, verb.file(rest)), `${verb.line(rest)}\n`);
    if (verb === VERBS.alloc) io.out(readText(join(mnt, CTL_DIR, 'last_allocated')));
    return 0;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`iommufs ctl: ${rawVerb}: ${strerror(errCode(e))}`, 1);
  }
}
