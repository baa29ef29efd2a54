// One error type for every refusal the engine and the sysfs layer give, carrying the
// kernel's errno so that the FUSE layer can hand it to the writer unchanged.

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  ENOTTY: 25,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EUSERS: 87,
} as const;

export type ErrnoCode = keyof typeof ERRNO;

export class Errno extends Error {
  readonly code: ErrnoCode;
  constructor(code: ErrnoCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'Errno';
    this.code = code;
  }
  get errno(): number {
    return ERRNO[this.code];
  }
}

export function isErrno(e: unknown): e is Errno {
  return e instanceof Errno;
}
