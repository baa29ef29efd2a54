// The only module that touches fuse-native (unmaintained, libfuse 2.9, x64 only:
// clients.md §3 #1, #2), with native-stats.ts for the stats it answers, so that a fork or
// an own addon can replace it here alone.
// It turns synchronous FsOps into fuse-native's callback ops, answering each request
// exactly once, with the one errno conversion of ErrnoMapper.

import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import type FuseNative from 'fuse-native';
import type { FsOps } from './fs-ops';
import { allowOtherProblem, nativeMountOptions, type MountOptions } from './mount-options';
import { fuseDeviceFds, FuseNotifier } from './fuse-notify';
import { fusermountUnmount } from './fusermount';
import { isFuseMounted } from './mount-table';
import { shareStatArrays } from './native-stats';
import { ErrnoMapper, stderrLogger, type Logger } from './to-errno';

type FuseClass = typeof FuseNative;

export interface BindingOptions extends MountOptions {
  log?: Logger;
  /** How long to wait for the kernel's INIT before giving up. */
  mountTimeoutMs?: number;
}

export interface MountHandle {
  readonly mountpoint: string;
  /** Unmounts (lazily, `fusermount -uz`) and releases the FUSE thread. Idempotent. */
  unmount(): Promise<void>;
  /** Resolves when the mount disappears from /proc/self/mounts for any reason,
   * e.g. an external `fusermount -u`, after which fuse-native would keep running
   * with nothing to serve (§3 #16). Polls once a second without holding the
   * process open. */
  whenGone(): Promise<void>;
}

let loaded: FuseClass | undefined;

/** Loaded on first mount, so commands that never mount work where fuse-native cannot
 * load (no prebuild for arm64, no system libfuse.so.2). */
function loadFuse(): FuseClass {
  if (loaded !== undefined) return loaded;
  try {
    loaded = require('fuse-native') as FuseClass;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(
      `cannot load fuse-native (${why}). It needs linux-x64, the system libfuse.so.2 ` +
        `(Debian 12: apt-get install libfuse2 fuse; Debian 13/Ubuntu 24.04: libfuse2t64) ` +
        `and fusermount from the "fuse" package.`,
    );
  }
  return loaded;
}

/** Where a write's invalidations go once the session's descriptor is known. */
export interface KernelCacheLink {
  notifier: FuseNotifier | undefined;
}

/** Wraps each FsOps method into fuse-native's callback shape. */
export function toNativeOps(ops: FsOps, mapper: ErrnoMapper, log: Logger, kernel: KernelCacheLink = { notifier: undefined }): FuseNative.Operations {
  // Runs `body` and guarantees `cb` is called exactly once: with what body answers,
  // or with the errno of what it threw. A second answer is a bug and only logged.
  function serve<A extends unknown[]>(op: string, path: string, cb: (code: number, ...rest: A) => void, body: (reply: (code: number, ...rest: A) => void) => void): void {
    let answered = false;
    const reply = (code: number, ...rest: A): void => {
      if (answered) {
        log(`iommufs: ${op} ${path} answered twice (ignored)`);
        return;
      }
      answered = true;
      cb(code, ...rest);
    };
    try {
      body(reply);
    } catch (e) {
      const code = mapper.toErrno(e, op, path);
      if (answered) log(`iommufs: ${op} ${path} threw after answering: ${String(e)}`);
      // Every fuse-native callback takes an errno alone (its wrapper fills defaults).
      else (reply as unknown as (code: number) => void)(code);
    }
  }
  // Writes' events are published in the order of the writes, each after its invalidations.
  let published: Promise<void> = Promise.resolve();
  const done = (op: string, path: string, cb: FuseNative.DoneCb, body: () => void): void =>
    serve(op, path, cb, (reply) => {
      body();
      reply(0);
    });

  return {
    init: (cb) => cb(0),
    statfs: (path, cb) => serve('statfs', path, cb, (reply) => reply(0, ops.statfs(path))),
    getattr: (path, cb) => serve('getattr', path, cb, (reply) => reply(0, ops.getattr(path))),
    access: (path, mode, cb) => done('access', path, cb, () => ops.access(path, mode)),
    readdir: (path, cb) =>
      serve('readdir', path, cb, (reply) => {
        const { names, stats } = ops.readdir(path);
        reply(0, names, stats);
      }),
    // opendir, releasedir, flush and fsync are left to libfuse: a directory needs no
    // handle (readdir resolves its path), and the kernel stops sending flush and fsync
    // after their first ENOSYS (fs/fuse/file.c fuse_flush, fuse_fsync: no_flush, no_fsync),
    // which saves two round trips through the JS thread per directory listed and one
    // per file closed.
    readlink: (path, cb) => serve('readlink', path, cb, (reply) => reply(0, ops.readlink(path))),
    open: (path, flags, cb) => serve('open', path, cb, (reply) => reply(0, ops.open(path, flags))),
    create: (path, mode, cb) => serve('create', path, cb, (reply) => reply(0, ops.create(path, mode))),
    read: (path, fd, buf, len, pos, cb) =>
      serve('read', path, cb, (reply) => {
        // `buf` is native memory valid only until we answer: copy into it, clamped.
        const answer = (data: Buffer): void => reply(data.copy(buf, 0, 0, Math.min(len, data.length)));
        const streamed = ops.streamRead?.(fd, len);
        if (streamed === undefined) answer(ops.read(path, fd, len, pos));
        else if (Buffer.isBuffer(streamed)) answer(streamed);
        // A stream read answered later holds one libfuse thread; the others go on serving.
        else streamed.then(answer, (e: unknown) => reply(mapper.toErrno(e, 'read', path)));
      }),
    write: (path, fd, buf, len, pos, cb) =>
      serve('write', path, cb, (reply) => {
        // Copied out of the lent native buffer before anyone can keep a reference.
        let answer: () => void;
        try {
          const taken = ops.write(path, fd, Buffer.from(buf.subarray(0, len)), pos);
          answer = () => reply(taken);
        } catch (e) {
          // A refused write changes nothing, but a probe that failed leaves its traces and
          // events: they are published like any write's.
          if (ops.takePublisher === undefined) throw e;
          answer = () => reply(mapper.toErrno(e, 'write', path));
        }
        // The write returns only once the kernel has forgotten what it made untrue: whatever
        // starts after it returns sees the new tree (linearizable, as on sysfs). Other
        // requests are served meanwhile (libfuse's loop is multi-threaded). Its events become
        // readable at that point too, in the order of the writes (streams.ts).
        const publish = ops.takePublisher?.();
        const stale = ops.takeStaleNames?.();
        const notifier = kernel.notifier;
        const invalidated =
          stale === undefined || notifier === undefined || (stale.entries.length === 0 && stale.inodes.length === 0)
            ? undefined
            : notifier.invalidate(stale).catch((e: unknown) => log(`iommufs: invalidation after a write to ${path} failed: ${String(e)}`));
        if (publish === undefined) {
          if (invalidated === undefined) answer();
          else void invalidated.then(answer);
          return;
        }
        published = published
          .then(() => invalidated)
          .then(() => {
            try {
              publish();
            } catch (e) {
              // A reader's trouble must not keep this write, or any later one, from answering.
              log(`iommufs: publishing the events of a write to ${path} failed: ${String(e)}`);
            }
            answer();
          })
          .catch((e: unknown) => log(`iommufs: answering a write to ${path} failed: ${String(e)}`));
      }),
    release: (path, fd, cb) => done('release', path, cb, () => ops.release(path, fd)),
    truncate: (path, size, cb) => done('truncate', path, cb, () => ops.truncate(path, size)),
    ftruncate: (path, fd, size, cb) => done('ftruncate', path, cb, () => ops.ftruncate(path, fd, size)),
    utimens: (path, _atime, _mtime, cb) => done('utimens', path, cb, () => ops.utimens(path)),
    chmod: (path, mode, cb) => done('chmod', path, cb, () => ops.chmod(path, mode)),
    chown: (path, uid, gid, cb) => done('chown', path, cb, () => ops.chown(path, uid, gid)),
    mknod: (path, _mode, _dev, cb) => done('mknod', path, cb, () => ops.mknod(path)),
    mkdir: (path, _mode, cb) => done('mkdir', path, cb, () => ops.mkdir(path)),
    rmdir: (path, cb) => done('rmdir', path, cb, () => ops.rmdir(path)),
    unlink: (path, cb) => done('unlink', path, cb, () => ops.unlink(path)),
    rename: (src, dest, cb) => done('rename', src, cb, () => ops.rename(src, dest)),
    link: (src, dest, cb) => done('link', dest, cb, () => ops.link(src, dest)),
    symlink: (target, path, cb) => done('symlink', path, cb, () => ops.symlink(target, path)),
  };
}

interface NativeBinding {
  fuse_native_unmount(mnt: string, thread: Buffer): void;
}

/** What fuse-native's own close does after a successful `fusermount -uz`: its private
 * `_thread` and the native binding (node-gyp-build returns the already loaded addon).
 * fuse-native's close is never used, since it unmounts through a shell
 * (fusermount.ts); failures here are logged, not thrown. */
function releaseNative(fuse: FuseNative, mountpoint: string, log: Logger): void {
  try {
    const dir = dirname(require.resolve('fuse-native/package.json'));
    const load = require(require.resolve('node-gyp-build', { paths: [dir] })) as (dir: string) => NativeBinding;
    const thread = (fuse as unknown as { _thread: Buffer | null })._thread;
    if (thread !== null) load(dir).fuse_native_unmount(mountpoint, thread);
  } catch (e) {
    log(`iommufs: could not release the FUSE thread of ${mountpoint}: ${String(e)}`);
  }
}

async function readFuseConf(): Promise<string | undefined> {
  try {
    return await readFile('/etc/fuse.conf', 'utf8');
  } catch {
    return undefined;
  }
}

function callback(fn: (cb: (err: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

/** fuse.mount, bounded in time; resolves once the kernel has sent INIT. */
async function startSession(fuse: FuseNative, mountpoint: string, timeoutMs: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    await Promise.race([
      callback((cb) => fuse.mount(cb)),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`no FUSE INIT within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    // fuse-native compares st_dev of the mount point and its parent (§3 #5).
    const hint = why === 'Mountpoint in use' ? ': it is already a mount point; mount elsewhere and bind-mount it' : '';
    // Only a mount that got as far as the kernel is ours to undo; "in use" means
    // someone else's mount is there and must be left alone.
    if (timedOut) {
      await fusermountUnmount(mountpoint).catch(() => undefined);
      releaseNative(fuse, mountpoint, log);
    }
    throw new Error(`cannot mount ${mountpoint}: ${why}${hint}`);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

let mountQueue: Promise<void> = Promise.resolve();

function takeMountTurn(): Promise<() => void> {
  let release!: () => void;
  const turn = new Promise<void>((r) => (release = r));
  const ready = mountQueue.then(() => release);
  mountQueue = mountQueue.then(() => turn);
  return ready;
}

/** A daemon killed without unmounting leaves its mount point answering ENOTCONN
 * ("Transport endpoint is not connected"); such a mount is ours to clear. */
async function removeStaleMount(mountpoint: string): Promise<void> {
  const code = await stat(mountpoint).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e.code,
  );
  if (code === 'ENOTCONN' || code === 'ENXIO') await fusermountUnmount(mountpoint).catch(() => undefined);
}

/** Mounts `ops` at `mnt` (created if missing; a stale mount there is cleaned first).
 * Resolves once the kernel has sent INIT, i.e. the tree answers. */
export async function mountFuse(mnt: string, ops: FsOps, opts: BindingOptions = {}): Promise<MountHandle> {
  const mountpoint = resolvePath(mnt);
  const log = opts.log ?? stderrLogger;
  if (opts.allowOther === true) {
    const problem = allowOtherProblem(process.getuid?.() ?? 0, await readFuseConf());
    if (problem !== undefined) throw new Error(`cannot mount ${mountpoint}: ${problem}`);
  }
  const Fuse = loadFuse();
  await removeStaleMount(mountpoint);
  const kernel: KernelCacheLink = { notifier: undefined };
  const caching = ops.takeStaleNames !== undefined;
  const fuse = new Fuse(mountpoint, toNativeOps(ops, new ErrnoMapper(log), log, kernel), nativeMountOptions({ ...opts, kernelCache: caching }));
  shareStatArrays(fuse);
  // Mounts in one process take turns, so that the one /dev/fuse descriptor that appears
  // during a mount is known to be that mount's session.
  const release = await takeMountTurn();
  try {
    const fdsBefore = fuseDeviceFds();
    await startSession(fuse, mountpoint, opts.mountTimeoutMs ?? 15_000, log);
    if (caching) {
      const fresh = [...fuseDeviceFds()].filter((fd) => !fdsBefore.has(fd));
      if (fresh.length !== 1) {
        await fusermountUnmount(mountpoint).catch(() => undefined);
        releaseNative(fuse, mountpoint, log);
        throw new Error(
          `cannot mount ${mountpoint}: the session's /dev/fuse descriptor was not found ` +
            `(${fresh.length} new ones), so the kernel's caches could not be kept true`,
        );
      }
      kernel.notifier = new FuseNotifier(fresh[0]!, mountpoint, log);
    }
  } finally {
    release();
  }

  let unmounting: Promise<void> | undefined;
  let gone: Promise<void> | undefined;
  return {
    mountpoint,
    unmount() {
      // Waiting stream reads end first, so that their readers (cat events) let go.
      ops.shutdown?.();
      unmounting ??= (kernel.notifier?.close() ?? Promise.resolve())
        .then(() => fusermountUnmount(mountpoint))
        .catch(async (e: unknown) => {
          // `fusermount -uz` fails when someone unmounted it already; that is done too.
          if (await isFuseMounted(mountpoint)) throw e;
        })
        // The native side's libuv handle would keep the process alive for ever (§3 #16).
        .then(() => releaseNative(fuse, mountpoint, log));
      return unmounting;
    },
    whenGone() {
      gone ??= new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          isFuseMounted(mountpoint).then(
            (mounted) => {
              if (mounted) return;
              clearInterval(timer);
              resolve();
            },
            () => undefined,
          );
        }, 1000);
        timer.unref();
      });
      return gone;
    },
  };
}
