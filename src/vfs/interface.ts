/**
 * The VFS is the one API the front ends (nfs/, src/fuse/) call. It speaks inodes, never paths,
 * and throws FsError with an errno. Open handles (fh) exist for FUSE; NFS, being stateless,
 * passes no fh and the VFS manages the data path of the inode on its own.
 */
import type { Format, MknodOptions, StatFs } from "../meta/interface.ts";
import type {
  Attr,
  Credentials,
  FileLock,
  FileType,
  Ino,
  LockType,
  SetAttrRequest,
} from "../posix.ts";
import type { ReadParts } from "./data.ts";

export type { ReadParts } from "./data.ts";

export interface VfsEntry {
  inode: Ino;
  attr: Attr;
}

/** A node just made, and its directory's attributes as the same meta transaction left them. */
export interface VfsNewEntry extends VfsEntry {
  parentAttr: Attr;
}

/** The entry a rename moved, and both directories as the same meta transaction left them. */
export interface VfsRenamed extends VfsEntry {
  srcParentAttr: Attr;
  dstParentAttr: Attr;
}

/** A looked-up entry and its directory's attributes, read in one meta transaction. */
export interface VfsLookup extends VfsEntry {
  parentAttr: Attr;
}

export interface VfsDirEntry {
  name: Buffer;
  inode: Ino;
  type: FileType;
  /** Pass back to readdir to continue after this entry; never 0. */
  cookie: number;
  attr?: Attr;
}

/** lseek(2) whence values the VFS answers itself. */
export const Whence = { SET: 0, CUR: 1, END: 2, DATA: 3, HOLE: 4 } as const;

/** fallocate(2) modes. */
export const FallocateMode = { KEEP_SIZE: 1, PUNCH_HOLE: 2, ZERO_RANGE: 0x10 } as const;

export interface Vfs {
  readonly format: Format;
  /** Stable across restarts of this volume: part of NFS file handles. */
  readonly volumeId: string;

  statfs(ctx: Credentials, ino: Ino): Promise<StatFs>;
  lookup(ctx: Credentials, parent: Ino, name: Buffer): Promise<VfsLookup>;
  /** Attributes including data still buffered in this process (its size and mtime). */
  getattr(ctx: Credentials, ino: Ino): Promise<Attr>;
  setattr(ctx: Credentials, ino: Ino, request: SetAttrRequest): Promise<Attr>;
  access(ctx: Credentials, ino: Ino, mask: number): Promise<void>;
  /**
   * The rwx bits (AccessMask) `ctx` has on a file with attributes `attr`: the policy access()
   * applies, for a caller that holds fresh attributes already (NFS ACCESS after resolving its
   * handle), so that it costs no second meta read.
   */
  permitted(ctx: Credentials, attr: Attr): number;
  readlink(ctx: Credentials, ino: Ino): Promise<Buffer>;
  /** Directories holding links to ino, with how many each (for files with nlink > 1). */
  parents(ctx: Credentials, ino: Ino): Promise<Map<Ino, number>>;

  mknod(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    type: FileType,
    mode: number,
    umask: number,
    rdev: number,
    options?: MknodOptions,
  ): Promise<VfsNewEntry>;
  mkdir(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
  ): Promise<VfsNewEntry>;
  symlink(ctx: Credentials, parent: Ino, name: Buffer, target: Buffer): Promise<VfsNewEntry>;
  /** Returns the directory's attributes as the unlink left them. */
  unlink(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr>;
  /** Returns the directory's attributes as the rmdir left them. */
  rmdir(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr>;
  rename(
    ctx: Credentials,
    srcParent: Ino,
    srcName: Buffer,
    dstParent: Ino,
    dstName: Buffer,
    flags: number,
  ): Promise<VfsRenamed>;
  link(ctx: Credentials, ino: Ino, parent: Ino, name: Buffer): Promise<VfsEntry>;

  /**
   * Creates and opens a regular file (O_CREAT). Existing names fail with EEXIST. With
   * `deferSync` (FUSE) the file may not be durable yet when this returns: flush, fsync and
   * release of the handle make it durable before they return, as does fsyncdir.
   */
  create(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
    flags: number,
    options?: { deferSync?: boolean },
  ): Promise<VfsNewEntry & { fh: number }>;
  /**
   * Makes the names created in directory `ino` durable (fsync of a directory): every change
   * committed so far, in fact, files created with deferSync included.
   */
  fsyncdir(ctx: Credentials, ino: Ino): Promise<void>;
  /** Checks permission, re-validates attributes with the meta engine (close-to-open). */
  open(ctx: Credentials, ino: Ino, flags: number): Promise<{ fh: number; attr: Attr }>;
  /**
   * Bytes at `offset`; fewer at the end of the file, none past it. With `into` (at least `size`
   * bytes), the result is a view of it: a caller that recycles its reply buffers (the NFS
   * server's READ) saves the page faults of a fresh one per call. `into` may still be written
   * to by a read that failed: only a successful read hands it back.
   */
  read(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    size: number,
    into?: Buffer,
  ): Promise<Buffer>;
  /**
   * read() without the copy into one buffer: the bytes as views of cached blocks and fresh
   * buffers, valid until the caller calls release() (once it has written them out). For front
   * ends that write replies with writev (FUSE, the NFS connection). Bytes that are no view
   * are written into `spare` (at least `size` long; a recycled reply buffer) if given; like
   * read()'s `into`, a failed read may still write to it.
   */
  readv(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    size: number,
    spare?: Buffer,
  ): Promise<ReadParts>;
  /** Buffers the data (durable only after flush/fsync); returns the bytes taken. */
  write(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    data: Uint8Array,
  ): Promise<number>;
  /** close(2) of one descriptor: buffered data is uploaded and committed. */
  flush(ctx: Credentials, ino: Ino, fh: number): Promise<void>;
  /** Data (and with !dataOnly also attributes) durable in object storage and meta. */
  fsync(ctx: Credentials, ino: Ino, fh: number | undefined, dataOnly: boolean): Promise<void>;
  release(ctx: Credentials, ino: Ino, fh: number): Promise<void>;
  /**
   * Changes whenever meta refused buffered data of `ino` (and may change otherwise): part of
   * the file's NFS write verifier, so that clients resend what they had not committed.
   */
  writeErrorEpoch(ino: Ino): number;
  fallocate(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    mode: number,
    offset: number,
    length: number,
  ): Promise<void>;
  copyFileRange(
    ctx: Credentials,
    inoIn: Ino,
    offsetIn: number,
    inoOut: Ino,
    offsetOut: number,
    length: number,
  ): Promise<number>;
  lseek(ctx: Credentials, ino: Ino, offset: number, whence: number): Promise<number>;

  opendir(ctx: Credentials, ino: Ino): Promise<number>;
  /**
   * Entries after `cookie` (0 = start: ".", "..", then the entries), at most `limit`.
   * Cookies survive concurrent changes and restarts.
   */
  readdir(
    ctx: Credentials,
    ino: Ino,
    cookie: number,
    limit: number,
    plus: boolean,
  ): Promise<VfsDirEntry[]>;
  releasedir(ctx: Credentials, ino: Ino, fh: number): Promise<void>;

  getxattr(ctx: Credentials, ino: Ino, name: string): Promise<Buffer>;
  setxattr(ctx: Credentials, ino: Ino, name: string, value: Buffer, flags: number): Promise<void>;
  listxattr(ctx: Credentials, ino: Ino): Promise<string[]>;
  removexattr(ctx: Credentials, ino: Ino, name: string): Promise<void>;

  /**
   * Locks shared by every node of the volume (src/meta/locks.ts). `owner` is the front end's
   * lock owner id (FUSE lock_owner); EAGAIN on conflict; a wait (`wait`) ends with EINTR when
   * `signal` aborts.
   */
  getlk(ctx: Credentials, ino: Ino, owner: bigint, lock: FileLock): Promise<FileLock>;
  setlk(
    ctx: Credentials,
    ino: Ino,
    owner: bigint,
    lock: FileLock,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void>;
  flock(
    ctx: Credentials,
    ino: Ino,
    owner: bigint,
    type: LockType,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Drops what `owner` holds on `ino`: POSIX locks on close, flock on the last release. */
  releaseLocks(ino: Ino, owner: bigint, kinds: { posix: boolean; flock: boolean }): Promise<void>;

  /** Flushes every buffered write (durable on return). */
  flushAll(): Promise<void>;
  /** Flushes everything, stops background work, closes the session and the engines. */
  close(): Promise<void>;
}
