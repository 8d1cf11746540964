/**
 * Two kinds of failure leave the core:
 * - FsError carries a Linux errno; front ends map it (FUSE: -errno, NFS: one nfsstat3 table).
 * - UserError is a problem with what the user asked for (bad URL, unformatted volume, wrong
 *   credentials); the CLI prints its message as one line and exits non-zero, no stack trace.
 */

/** Linux errno values (asm-generic/errno-base.h, errno.h); FUSE replies use them as-is. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ESTALE: 116,
  EDQUOT: 122,
  /** Not a Linux errno: a failed NFS SETATTR ctime guard (NFS3ERR_NOT_SYNC). */
  ENOTSYNC: 10002,
} as const;

export type ErrnoName = keyof typeof Errno;

const errnoNames = new Map<number, ErrnoName>(
  Object.entries(Errno).map(([name, code]) => [code, name as ErrnoName]),
);

export function errnoName(code: number): string {
  return errnoNames.get(code) ?? `errno ${code}`;
}

export class FsError extends Error {
  override name = "FsError";
  readonly errno: number;

  constructor(errno: number, message?: string) {
    super(message ? `${errnoName(errno)}: ${message}` : errnoName(errno));
    this.errno = errno;
  }
}

export function fsError(name: ErrnoName, message?: string): FsError {
  return new FsError(Errno[name], message);
}

export function isFsError(error: unknown, name?: ErrnoName): error is FsError {
  return error instanceof FsError && (name === undefined || error.errno === Errno[name]);
}

/** A problem with the user's request or environment: printed as one line, exit status 1. */
export class UserError extends Error {
  override name = "UserError";
}

/** The one-line text for any error, without stack; used by the CLI and logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
