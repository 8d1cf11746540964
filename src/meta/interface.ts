/**
 * The metadata API of a jfs volume. Inode based, like JuiceFS's pkg/meta: every call takes the
 * caller's credentials and either returns or throws an FsError carrying an errno.
 *
 * Names and symlink targets are bytes (Buffer): NFS and FUSE hand us opaque byte strings and a
 * file system must give back exactly what it was given.
 */
import type {
  Attr,
  Credentials,
  FileLock,
  FileType,
  Ino,
  LockType,
  SetAttrRequest,
  Slice,
} from "../posix.ts";

// Meta speaks the shared POSIX vocabulary (src/posix.ts); meta/ code names it from here.
export {
  AccessMask,
  type Attr,
  type Credentials,
  type FileLock,
  FileType,
  type Ino,
  isFileType,
  LOCK_END,
  LockType,
  Mode,
  RenameFlags,
  ROOT_CREDENTIALS,
  type SetAttrRequest,
  type Slice,
  type TimeSpec,
  XattrFlags,
} from "../posix.ts";

export interface Entry {
  name: Buffer;
  inode: Ino;
  type: FileType;
  /**
   * Resume position: passing it back to readdir continues after this entry. Stable under
   * concurrent changes: entries are ordered by creation sequence, never by hash or position.
   */
  cookie: number;
  /** Present when readdir was asked for attributes (READDIRPLUS). */
  attr?: Attr;
}

export interface StatFs {
  totalBytes: number;
  availBytes: number;
  usedBytes: number;
  totalInodes: number;
  availInodes: number;
  usedInodes: number;
}

/** Volume settings, stored in meta as JSON (JuiceFS's "setting"). */
export interface Format {
  name: string;
  uuid: string;
  storage: "file" | "s3";
  bucket: string;
  accessKey?: string;
  secretKey?: string;
  blockSizeKiB: number;
  compression: "none" | "zstd";
  /**
   * Every object carries a CRC-32 trailer that reads verify (src/object/checksum.ts). Absent in
   * the records of volumes formatted before it existed: those read and write plain objects.
   */
  checksum?: "crc32" | "none";
  /**
   * Set when checksums were turned on after format (jfs config --checksum crc32): only blocks of
   * slices with this id or above carry a trailer; older objects (and the volume marker) are plain.
   */
  checksumSinceSliceId?: number;
  /** 0 means unlimited. */
  capacityBytes: number;
  inodes: number;
  trashDays: number;
  metaVersion: number;
  createdAt: string;
}

/** The checksum setting of a volume; records written before the setting existed mean "none". */
export function checksumOf(format: Pick<Format, "checksum">): "crc32" | "none" {
  return format.checksum ?? "none";
}

export interface SessionInfo {
  sid: number;
  hostname: string;
  pid: number;
  version: string;
  mountPoint: string;
  /** Engine clock (MetaEngine.clockMs), ms since the epoch, like heartbeatAt. */
  startedAt: number;
  heartbeatAt: number;
  /** Dead once heartbeatAt is older than this (absent in older records: SESSION_EXPIRE_MS). */
  timeoutMs?: number;
  /** Set when another node expired it; such a session never comes back (sessions.ts). */
  expiredAt?: number;
}

export interface Counters {
  usedSpaceBytes: number;
  usedInodes: number;
  nextInode: number;
  nextSliceId: number;
}

/**
 * Names a prefix of an engine's commits: every write transaction committed before the token was
 * taken. Tokens of one engine are ordered; a larger one covers a smaller one.
 */
export type SyncToken = number;

/** Slices that are no longer referenced: their objects can be deleted. */
export interface UnusedSlice {
  id: number;
  size: number;
}

export interface Meta {
  /** "sqlite3" or "redis". */
  readonly engine: string;
  /** The URL with any password masked. */
  readonly displayUrl: string;

  // ---- volume ----
  /** Writes a new volume's settings (or updates changeable ones with force); creates root. */
  format(format: Format, force: boolean): Promise<void>;
  /** Loads the settings; throws UserError when the volume is not formatted. */
  load(): Promise<Format>;
  /** Removes every key / row of the volume. */
  destroy(): Promise<void>;
  counters(): Promise<Counters>;
  /** Makes every committed change durable, then closes the engine. */
  close(): Promise<void>;

  // ---- durability ----
  /**
   * A token covering every change whose call has returned so far. With syncThrough, it makes
   * durable what was done with `deferSync` (create): take it after the call returned.
   */
  commitToken(): SyncToken;
  /**
   * Resolves once every change `token` covers is durable; at once when a later durable change
   * (any call without deferSync) or sync covered it already.
   */
  syncThrough(token: SyncToken): Promise<void>;

  // ---- sessions ----
  /** Registers this node's session (timeoutMs: SESSION_EXPIRE_MS unless given). */
  newSession(
    info: Omit<SessionInfo, "sid" | "startedAt" | "heartbeatAt" | "expiredAt">,
  ): Promise<number>;
  /**
   * Refreshes this session's heartbeat and cleans up after expired sessions. When another node
   * expired this one meanwhile (it stalled past its timeout), registers a new session and
   * re-registers the open files; those already deleted answer ESTALE from then on.
   */
  heartbeat(): Promise<void>;
  /** Every stored session, dead ones included until someone expires them. */
  listSessions(): Promise<SessionInfo[]>;
  /** Expires the sessions (other than this node's) dead by the engine clock; returns how many. */
  expireSessions(): Promise<number>;
  /** The engine's clock in ms since the epoch (Redis TIME, the SQLite host's clock). */
  clockMs(): Promise<number>;
  closeSession(): Promise<void>;
  /** Deletes trash subdirectories older than the volume's trashDays; returns files removed. */
  cleanupTrash(): Promise<number>;
  /**
   * Re-reads the stored settings and applies those a running node can take without restart
   * (capacity, inodes, trash days); returns the names of those that changed.
   */
  reloadSettings(): Promise<string[]>;

  // ---- namespace ----
  statfs(ctx: Credentials, ino: Ino): Promise<StatFs>;
  /** The entry, with the directory's attributes as the same transaction read them. */
  lookup(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
  ): Promise<{ inode: Ino; attr: Attr; parentAttr: Attr }>;
  getattr(ctx: Credentials, ino: Ino): Promise<Attr>;
  setattr(ctx: Credentials, ino: Ino, request: SetAttrRequest): Promise<Attr>;
  access(ctx: Credentials, ino: Ino, mask: number): Promise<void>;
  mknod(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    type: FileType,
    mode: number,
    umask: number,
    rdev: number,
    options?: MknodOptions,
  ): Promise<NewNode>;
  /**
   * A regular file, created and opened (as open() after mknod(), justCreated) in one
   * transaction: the session's open row is written with the inode. Release it as any open.
   * With `deferSync` it may return before the file is durable (a FUSE create: POSIX makes a
   * new name durable only at an fsync, and jfs's FUSE close promises it): the caller then
   * owes a `syncThrough(commitToken())` before it acknowledges anything as durable.
   */
  create(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
    options?: { deferSync?: boolean },
  ): Promise<NewNode>;
  mkdir(ctx: Credentials, parent: Ino, name: Buffer, mode: number, umask: number): Promise<NewNode>;
  symlink(ctx: Credentials, parent: Ino, name: Buffer, target: Buffer): Promise<NewNode>;
  readlink(ctx: Credentials, ino: Ino): Promise<Buffer>;
  /** Returns the directory's attributes as the same transaction left them. */
  unlink(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr>;
  /** Returns the directory's attributes as the same transaction left them. */
  rmdir(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr>;
  /**
   * Unlinks files and removes empty directories among `names` of `parent` in one transaction
   * (at most RMR_BATCH_ENTRIES; `jfs rmr`). Names already gone are skipped; files with other
   * hard links are returned in `left`, for unlink.
   */
  removeBatch(
    ctx: Credentials,
    parent: Ino,
    names: readonly Buffer[],
  ): Promise<{ files: number; dirs: number; left: Buffer[] }>;
  rename(
    ctx: Credentials,
    parentSrc: Ino,
    nameSrc: Buffer,
    parentDst: Ino,
    nameDst: Buffer,
    flags: number,
  ): Promise<Renamed>;
  link(ctx: Credentials, ino: Ino, parent: Ino, name: Buffer): Promise<Attr>;
  /**
   * Entries after `cookie` (0 = from the start), at most `limit`. "." and ".." are not
   * included; the VFS adds them.
   */
  readdir(
    ctx: Credentials,
    ino: Ino,
    cookie: number,
    limit: number,
    plus: boolean,
  ): Promise<Entry[]>;
  /** Parent directories of an inode, with how many links each holds. */
  parents(ctx: Credentials, ino: Ino): Promise<Map<Ino, number>>;

  // ---- xattrs ----
  getxattr(ctx: Credentials, ino: Ino, name: string): Promise<Buffer>;
  setxattr(ctx: Credentials, ino: Ino, name: string, value: Buffer, flags: number): Promise<void>;
  listxattr(ctx: Credentials, ino: Ino): Promise<string[]>;
  removexattr(ctx: Credentials, ino: Ino, name: string): Promise<void>;

  // ---- open files (close-to-open, and data of unlinked open files) ----
  /**
   * Checks permission for the open flags (unless the caller just created the file, whose
   * creator may open it whatever its mode) and returns fresh attributes from the engine.
   */
  open(ctx: Credentials, ino: Ino, flags: number, justCreated?: boolean): Promise<Attr>;
  /** Balances one open(); the last one in this process may free an unlinked file. */
  release(ino: Ino): Promise<void>;
  /**
   * Registers files this process is about to open (a prefetch knows them) in one write
   * transaction, as if opened and released just now: their opens within OPEN_LINGER_MS then
   * need a read only. Files open or registered here already are left alone.
   */
  registerAhead(inos: readonly Ino[]): Promise<void>;

  // ---- locks (shared by every node; this session holds them, see locks.ts) ----
  /** F_GETLK: a POSIX lock of another owner that conflicts with `lock`, or type UNLOCK. */
  getlk(ctx: Credentials, ino: Ino, owner: bigint, lock: FileLock): Promise<FileLock>;
  /** F_SETLK / F_SETLKW (`wait`): EAGAIN on conflict, EINTR when `signal` aborts a wait. */
  setlk(
    ctx: Credentials,
    ino: Ino,
    owner: bigint,
    lock: FileLock,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void>;
  /** flock(2) with LOCK_SH (READ), LOCK_EX (WRITE) or LOCK_UN (UNLOCK). */
  flock(
    ctx: Credentials,
    ino: Ino,
    owner: bigint,
    type: LockType,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Drops the POSIX locks and/or flocks that `owner` holds on `ino` (close, release). */
  releaseLocks(ino: Ino, owner: bigint, kinds: { posix: boolean; flock: boolean }): Promise<void>;

  // ---- file data: chunks of slices ----
  newSliceId(): Promise<number>;
  readChunk(ino: Ino, chunkIndex: number): Promise<Slice[]>;
  /**
   * Appends a slice to a chunk, grows the file if the slice ends past its size, and sets
   * mtime/ctime. The slice's objects must already be stored.
   */
  write(ino: Ino, chunkIndex: number, slice: Slice): Promise<Attr>;
  /** Files whose chunks still await release (see releaseDeletedFiles); counts, for status. */
  releaseDeletedFiles(limit: number): Promise<number>;
  /**
   * fallocate(2): mode 0 extends the size, KEEP_SIZE only checks, PUNCH_HOLE (with KEEP_SIZE)
   * and ZERO_RANGE make the range read as zeros.
   */
  fallocate(
    ctx: Credentials,
    ino: Ino,
    mode: number,
    offset: number,
    length: number,
  ): Promise<Attr>;
  /** Replaces a chunk's slice list by `replacement` if it still starts with `expected`. */
  compactChunk(
    ino: Ino,
    chunkIndex: number,
    expected: readonly Slice[],
    replacement: readonly Slice[],
  ): Promise<boolean>;
  /**
   * Turns every use of these slices in the chunk into a hole and releases them (fsck --repair
   * of slices whose blocks are missing); returns how many uses were dropped.
   */
  dropSlices(ino: Ino, chunkIndex: number, ids: ReadonlySet<number>): Promise<number>;
  /** Indexes of the chunks of a file that hold slices. */
  chunkIndexes(ino: Ino): Promise<number[]>;
  /**
   * Inodes that hold data but are in no directory: unlinked files still open in a session, and
   * deleted files whose chunks are not released yet (maintenance tools must not call their
   * objects leaked).
   */
  unreachableInodes(): Promise<Ino[]>;
  /** Slices whose objects may now be deleted; `ack` removes them from the queue. */
  unusedSlices(limit: number): Promise<UnusedSlice[]>;
  ackUnusedSlices(slices: readonly UnusedSlice[]): Promise<void>;
}

/**
 * A node just made, and its directory's attributes as the same transaction left them: what an
 * NFS reply's post-op attributes need, without a second read.
 */
export interface NewNode {
  inode: Ino;
  attr: Attr;
  parentAttr: Attr;
}

/** The entry a rename moved, and both directories as the same transaction left them. */
export interface Renamed {
  inode: Ino;
  attr: Attr;
  srcParentAttr: Attr;
  dstParentAttr: Attr;
}

/** What a mknod may set besides its arguments, in the same transaction. */
export interface MknodOptions {
  /**
   * atime and mtime of the new node instead of its creation time: an NFS exclusive create keeps
   * its verifier there (RFC 1813 3.3.8), made with the node, not by a second transaction.
   */
  times?: { atime: { sec: number; nsec: number }; mtime: { sec: number; nsec: number } };
}
