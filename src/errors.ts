/**
 * Two kinds of failure leave the core:
 * - FsError carries a Linux errno; front ends map it (FUSE: -errno, NFS: one nfsstat3 table).
 * - UserError is a problem with what the user asked for (bad URL, unformatted volume, wrong
 *   credentials); the CLI prints its message as one line and exits non-zero, no stack trace.
 */
import { Errno, type ErrnoName, errnoName } from "./posix.ts";

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
