/**
 * The FUSE kernel protocol (linux/fuse.h, version 7): opcodes, flag bits and struct sizes.
 * Every struct is little-endian, 64-bit aligned; sizes are the C sizeof of that struct.
 */

/** The protocol this front end speaks: 7.38 (total_extlen in fuse_in_header). */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** Oldest minor we accept: FUSE_CREATE (7.3) and FUSE_ACCESS exist from there on. */
export const FUSE_MINOR_VERSION_MIN = 3;
export const FUSE_ROOT_ID = 1;

export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
} as const;

/** fuse_init_in/out.flags bits (the ones we read or offer). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  FLOCK_LOCKS: 1 << 10,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  HANDLE_KILLPRIV_V2: 1 << 28,
  INIT_EXT: 1 << 30,
} as const;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_write_in.write_flags: the writer lacks CAP_FSETID, drop set-id bits (7.31+). */
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2;

/** fuse_open_out.open_flags bits. */
export const Fopen = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  CACHE_DIR: 1 << 3,
  /** No FLUSH at close(2) of this handle (7.35+); the kernel ignores it under writeback_cache. */
  NOFLUSH: 1 << 5,
} as const;

/** The protocol minor that knows FOPEN_NOFLUSH (Linux 5.16). */
export const FOPEN_NOFLUSH_MINOR = 35;

/** enum fuse_notify_code: unsolicited messages to the kernel (out header unique 0). */
export const NotifyCode = { INVAL_INODE: 2 } as const;

/** fuse_lk_in.lk_flags: the lock is a flock(2), not a POSIX lock. */
export const FUSE_LK_FLOCK = 1 << 0;
/** fuse_release_in.release_flags: drop the flock of lock_owner with this open file. */
export const FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1;
/** The kernel's OFFSET_MAX: a lock to end of file. */
export const FUSE_OFFSET_MAX = 0x7fff_ffff_ffff_ffffn;

export const FUSE_FSYNC_FDATASYNC = 1;
export const FUSE_GETATTR_FH = 1;
/** renameat2(2) flags in fuse_rename2_in.flags. */
export const RENAME_WHITEOUT = 4;

// ---- struct sizes (sizeof) ----
export const IN_HEADER_BYTES = 40; // struct fuse_in_header
export const OUT_HEADER_BYTES = 16; // struct fuse_out_header
export const ATTR_BYTES = 88; // struct fuse_attr
export const ENTRY_OUT_BYTES = 40 + ATTR_BYTES; // struct fuse_entry_out
/** fuse_entry_out / fuse_attr_out before 7.9, without fuse_attr.blksize and .flags. */
export const COMPAT_ENTRY_OUT_BYTES = 120;
export const ATTR_OUT_BYTES = 16 + ATTR_BYTES; // struct fuse_attr_out
export const COMPAT_ATTR_OUT_BYTES = 96;
export const OPEN_OUT_BYTES = 16; // struct fuse_open_out
export const WRITE_OUT_BYTES = 8; // struct fuse_write_out
export const STATFS_OUT_BYTES = 80; // struct fuse_statfs_out (fuse_kstatfs)
/** fuse_kstatfs before 7.4, without frsize and the spare words. */
export const COMPAT_STATFS_OUT_BYTES = 48;
export const GETXATTR_OUT_BYTES = 8; // struct fuse_getxattr_out
export const LSEEK_OUT_BYTES = 8; // struct fuse_lseek_out
export const LK_OUT_BYTES = 24; // struct fuse_lk_out (one struct fuse_file_lock)
export const INIT_OUT_BYTES = 64; // struct fuse_init_out
/** fuse_init_out before 7.5 (major, minor only) and before 7.23 (up to max_write). */
export const COMPAT_INIT_OUT_BYTES = 8;
export const COMPAT_22_INIT_OUT_BYTES = 24;
export const NOTIFY_INVAL_INODE_OUT_BYTES = 24; // struct fuse_notify_inval_inode_out
export const DIRENT_BYTES = 24; // struct fuse_dirent without name
export const DIRENTPLUS_BYTES = ENTRY_OUT_BYTES + DIRENT_BYTES; // struct fuse_direntplus
/** fuse_write_in before 7.9 (no lock_owner, flags). */
export const COMPAT_WRITE_IN_BYTES = 24;
export const WRITE_IN_BYTES = 40;

/** S_IFMT and the file type bits of st_mode. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Records in READDIR(PLUS) replies are padded to 8 bytes (FUSE_DIRENT_ALIGN). */
export function direntAlign(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** Built once: every request's metrics name its opcode (src/metrics). */
const OPCODE_NAMES = new Map<number, string>(
  Object.entries(Opcode).map(([name, code]) => [code, name]),
);

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `opcode ${opcode}`;
}
