// The mount options, as plain data, so they can be checked without mounting.
//
// fuse-native translates only a fixed list of options and drops any whose value is
// falsy (so `entryTimeout: 0` never arrives) and has no `direct_io` at all
// (clients.md §3 #6). Its `fsname` is appended verbatim as `fsname=<text>` to the
// `-o` list, so options after a comma in it reach libfuse as options of their own.
// That is how the kernel-side behaviour is set here:
//   direct_io         no page cache: short attributes are not NUL-padded to the
//                     reported 4096 bytes under parallel readers (§3 #7, #8), and every
//                     read asks the daemon, so file contents are always current
//   entry_timeout, attr_timeout  names and attributes are cached by the kernel for
//                     hours, like sysfs' own dentries; the daemon tells the kernel what
//                     to forget after each change (kernel-names.ts, fuse-notify.ts).
//                     A file system that cannot say what changed gets 0 instead.
//   negative_timeout=0  a name that appears is seen at once (nothing to invalidate)
//   default_permissions  the kernel enforces the modes for non-root callers, since
//                     handlers get no caller uid (§3 #13)

/** Four hours: "long" for the kernel, while every change is invalidated exactly. */
export const CACHE_TIMEOUT_S = 4 * 3600;

export function kernelOptions(kernelCache: boolean): string[] {
  const t = kernelCache ? CACHE_TIMEOUT_S : 0;
  return ['direct_io', `entry_timeout=${t}`, `attr_timeout=${t}`, 'negative_timeout=0', 'default_permissions'];
}

/** A write answers once the kernel has been told what to forget (asynchronous writes to
 * /dev/fuse); its limit is explicit instead of fuse-native's silent 15 s (§3 #17). */
export const DEFAULT_OP_TIMEOUT_MS = 10_000;

/** The operations whose handlers answer before they return: a timer can only fire after
 * the answer, so arming one per request (fuse-native's setTimeout and clearTimeout) is pure
 * cost, a few percent of a walk. */
const SYNCHRONOUS_OPS = [
  'init', 'statfs', 'getattr', 'access', 'readdir', 'readlink', 'open', 'create', 'read', 'release',
  'truncate', 'ftruncate', 'utimens', 'chmod', 'chown', 'mknod', 'mkdir', 'rmdir', 'unlink', 'rename', 'link', 'symlink',
] as const;

export type OpTimeouts = { default: number } & Partial<Record<(typeof SYNCHRONOUS_OPS)[number], false>>;

export interface MountOptions {
  /** Let other users (and root in other namespaces) use the mount (§3 #19). */
  allowOther?: boolean;
  /** libfuse's own request log on stderr. */
  debug?: boolean;
  /** Per-op timeout in ms (ETIMEDOUT after it). */
  timeoutMs?: number;
  /** The device name /proc/mounts shows. */
  name?: string;
  /** Let the kernel cache names and attributes (the file system reports what changed). */
  kernelCache?: boolean;
}

/** What fuse-native's constructor gets (the shape of its `opts`). */
export interface NativeMountOptions {
  force: false;
  mkdir: true;
  fsname: string;
  subtype: string;
  allowOther: boolean;
  debug: boolean;
  timeout: OpTimeouts;
}

export function nativeMountOptions(opts: MountOptions = {}): NativeMountOptions {
  const name = opts.name ?? 'iommufs';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`mount name "${name}" must be a plain word`);
  return {
    // force would unmount a stale mount through a shell (fusermount.ts); the binding
    // does that itself before mounting. mkdir: the mount point is created.
    force: false,
    mkdir: true,
    fsname: [name, ...kernelOptions(opts.kernelCache === true)].join(','),
    subtype: 'iommufs',
    allowOther: opts.allowOther === true,
    debug: opts.debug === true,
    timeout: { default: opts.timeoutMs ?? DEFAULT_OP_TIMEOUT_MS, ...Object.fromEntries(SYNCHRONOUS_OPS.map((op) => [op, false] as const)) },
  };
}

/** Why `allow_other` would fail before libfuse says so obscurely: a non-root daemon
 * needs `user_allow_other` in /etc/fuse.conf (§3 #19). Undefined when fine. */
export function allowOtherProblem(uid: number, fuseConf: string | undefined): string | undefined {
  if (uid === 0) return undefined;
  const enabled = (fuseConf ?? '')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .includes('user_allow_other');
  if (enabled) return undefined;
  return 'allow_other for a non-root daemon needs "user_allow_other" in /etc/fuse.conf';
}
