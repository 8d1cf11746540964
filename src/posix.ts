/**
 * The POSIX vocabulary every layer speaks: file types, attributes, credentials, errno numbers,
 * open(2), rename(2) and setxattr(2) flags. Meta, chunk, VFS and both front ends import it, so a
 * front end names a type without importing meta/ (the design is front ends → VFS → {Meta,
 * Chunk → Object}; this module sits beside all of them).
 */

export type Ino = number;

/** JuiceFS's type numbering; also the order of the NFS ftype3 values shifted by one. */
export const FileType = {
  File: 1,
  Directory: 2,
  Symlink: 3,
  Fifo: 4,
  BlockDevice: 5,
  CharDevice: 6,
  Socket: 7,
} as const;
export type FileType = (typeof FileType)[keyof typeof FileType];

export function isFileType(value: number): value is FileType {
  return Number.isInteger(value) && value >= 1 && value <= 7;
}

/** Permission bits as in st_mode & 07777. */
export const Mode = {
  SUID: 0o4000,
  SGID: 0o2000,
  STICKY: 0o1000,
  PERMS: 0o7777,
} as const;

/** Access masks, as access(2). */
export const AccessMask = { R: 4, W: 2, X: 1, F: 0 } as const;

export interface Attr {
  type: FileType;
  /** Permission bits only (07777); the file type lives in `type`. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, and the nanoseconds within that second. */
  atime: number;
  atimeNsec: number;
  mtime: number;
  mtimeNsec: number;
  ctime: number;
  ctimeNsec: number;
  nlink: number;
  /** Bytes for files, the target length for symlinks, 4096-ish for directories. */
  size: number;
  /** Device number (major << 8 | minor, Linux old_encode_dev style) of char/block devices. */
  rdev: number;
  /** Parent directory; 0 for a file with several hard links (see Meta.parents). */
  parent: Ino;
  /** Changes if an inode number is ever given out again; part of NFS file handles. */
  generation: number;
}

export interface Credentials {
  uid: number;
  gid: number;
  /** Supplementary groups, not including gid. */
  groups: readonly number[];
  pid: number;
}

export const ROOT_CREDENTIALS: Credentials = Object.freeze({ uid: 0, gid: 0, groups: [], pid: 0 });

/** A time to set: an explicit value, or the server's clock ("now", as UTIME_NOW). */
export type TimeSpec = { sec: number; nsec: number } | "now";

/** setattr(2)-like request; absent fields stay as they are. */
export interface SetAttrRequest {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: TimeSpec;
  mtime?: TimeSpec;
  /**
   * Drop the set-id bits as a write does (setidDroppedByWrite): the front end found the writer
   * without CAP_FSETID (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID, an NFS WRITE by non-root).
   * Alone it needs ownership or write permission. With `mode` it also lets a non-owner's
   * request through when that mode only clears set-id bits: the kernel's own kill-priv SETATTR
   * on a FUSE connection without HANDLE_KILLPRIV_V2.
   */
  killSuidgid?: boolean;
  /** NFS SETATTR guard (RFC 1813 3.3.2): apply only if ctime still equals this, else ENOTSYNC. */
  ctimeGuard?: { sec: number; nsec: number };
}

/**
 * One entry of a chunk's slice list: jfs's own record, not POSIX, but spoken by meta (which
 * stores the lists) and chunk (which reads them) alike.
 */
export interface Slice {
  /** Slice id; 0 is a hole that reads as zeros. */
  id: number;
  /** Total bytes of the stored slice. */
  size: number;
  /** The part of the slice in use: [off, off + len). */
  off: number;
  len: number;
  /** Where that part starts within the chunk. */
  pos: number;
}

/** rename(2) (renameat2 RENAME_*) and setxattr(2) (XATTR_*) flags. */
export const RenameFlags = { NOREPLACE: 1, EXCHANGE: 2 } as const;
export const XattrFlags = { CREATE: 1, REPLACE: 2 } as const;

/** fcntl(2) lock types (asm-generic/fcntl.h F_RDLCK, F_WRLCK, F_UNLCK), as FUSE carries them. */
export const LockType = { READ: 0, WRITE: 1, UNLOCK: 2 } as const;
export type LockType = (typeof LockType)[keyof typeof LockType];

/** A POSIX byte range lock: bytes start..end inclusive; end LOCK_END means "to end of file". */
export interface FileLock {
  type: LockType;
  start: number;
  end: number;
  /** The holder's process id (on its own node), as F_GETLK reports it. */
  pid: number;
}

/** The last byte of a lock that reaches end of file (FUSE's OFFSET_MAX is clamped to it). */
export const LOCK_END = Number.MAX_SAFE_INTEGER;

/**
 * open(2) flags, Linux values (asm-generic/fcntl.h); FUSE and the VFS receive them as-is.
 * The access mode is `flags & ACCMODE`, one of RDONLY, WRONLY, RDWR.
 */
export const OpenFlags = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  ACCMODE: 3,
  CREAT: 0o100,
  EXCL: 0o200,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  CLOEXEC: 0o2000000,
} as const;

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
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EPROTO: 71,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ECONNABORTED: 103,
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
