/**
 * The one errno → nfsstat3 table (RFC 1813 section 2.6), and NfsError for statuses that have
 * no errno (a bad handle, a cookie that cannot be resumed, an unsupported file type).
 *
 * Linux errno values that NFSv3 has no word for are mapped to the status a client turns back
 * into the closest errno: EAGAIN/EBUSY → JUKEBOX (the client waits and retries, as it should
 * for a transient "try again"), EOPNOTSUPP/ENOSYS → NOTSUPP, anything unknown → IO.
 */
import { FsError } from "../../src/errors.ts";
import { Errno } from "../../src/posix.ts";
import { NfsStat3 } from "./constants.ts";

/** A failure the NFS layer itself decides (bad handle, stale, bad cookie ...). */
export class NfsError extends Error {
  override name = "NfsError";
  readonly status: NfsStat3;

  constructor(status: NfsStat3, message?: string) {
    super(message ?? nfsStatName(status));
    this.status = status;
  }
}

const ERRNO_TO_NFSSTAT3 = new Map<number, NfsStat3>([
  [Errno.EPERM, NfsStat3.PERM],
  [Errno.ENOENT, NfsStat3.NOENT],
  [Errno.EIO, NfsStat3.IO],
  [Errno.ENXIO, NfsStat3.NXIO],
  [Errno.EACCES, NfsStat3.ACCES],
  [Errno.EEXIST, NfsStat3.EXIST],
  [Errno.EXDEV, NfsStat3.XDEV],
  [Errno.ENODEV, NfsStat3.NODEV],
  [Errno.ENOTDIR, NfsStat3.NOTDIR],
  [Errno.EISDIR, NfsStat3.ISDIR],
  [Errno.EINVAL, NfsStat3.INVAL],
  [Errno.EFBIG, NfsStat3.FBIG],
  [Errno.ENOSPC, NfsStat3.NOSPC],
  [Errno.EROFS, NfsStat3.ROFS],
  [Errno.EMLINK, NfsStat3.MLINK],
  [Errno.ENAMETOOLONG, NfsStat3.NAMETOOLONG],
  [Errno.ENOTEMPTY, NfsStat3.NOTEMPTY],
  [Errno.EDQUOT, NfsStat3.DQUOT],
  [Errno.ESTALE, NfsStat3.STALE],
  [Errno.ENOTSYNC, NfsStat3.NOT_SYNC],
  [Errno.EOPNOTSUPP, NfsStat3.NOTSUPP],
  [Errno.ENOSYS, NfsStat3.NOTSUPP],
  [Errno.EAGAIN, NfsStat3.JUKEBOX],
  [Errno.EBUSY, NfsStat3.JUKEBOX],
  [Errno.ETIMEDOUT, NfsStat3.JUKEBOX],
  [Errno.EINTR, NfsStat3.JUKEBOX],
  [Errno.EOVERFLOW, NfsStat3.INVAL],
  [Errno.ERANGE, NfsStat3.INVAL],
  [Errno.E2BIG, NfsStat3.INVAL],
  [Errno.ELOOP, NfsStat3.INVAL],
  [Errno.ESPIPE, NfsStat3.INVAL],
  [Errno.EBADF, NfsStat3.BADHANDLE],
  [Errno.ENODATA, NfsStat3.NOENT],
  [Errno.ENOMEM, NfsStat3.SERVERFAULT],
  [Errno.EFAULT, NfsStat3.SERVERFAULT],
  [Errno.ENFILE, NfsStat3.JUKEBOX],
  [Errno.EMFILE, NfsStat3.JUKEBOX],
  // Errors of the FUSE channel itself; the core never throws them, and IO is the default anyway.
  [Errno.EPROTO, NfsStat3.IO],
  [Errno.ECONNABORTED, NfsStat3.IO],
]);

export function errnoToNfsStat3(errno: number): NfsStat3 {
  return ERRNO_TO_NFSSTAT3.get(errno) ?? NfsStat3.IO;
}

/** The status for a failure of a procedure; undefined for a bug (not an FsError/NfsError). */
export function statusOf(error: unknown): NfsStat3 | undefined {
  if (error instanceof NfsError) return error.status;
  if (error instanceof FsError) return errnoToNfsStat3(error.errno);
  return undefined;
}

const names = new Map<number, string>(Object.entries(NfsStat3).map(([k, v]) => [v, k]));

export function nfsStatName(status: number): string {
  const name = names.get(status);
  return name === undefined ? `nfsstat3 ${status}` : status === 0 ? "NFS3_OK" : `NFS3ERR_${name}`;
}

/** Every errno the table maps (for tests and documentation). */
export function mappedErrnos(): number[] {
  return [...ERRNO_TO_NFSSTAT3.keys()];
}
