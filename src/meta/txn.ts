/**
 * What a metadata engine must provide: typed tables read and written inside a transaction.
 * All POSIX policy lives in base.ts; an engine is a storage adapter for these tables, so that
 * SQLite and Redis behave the same by construction and the conformance suite proves it.
 *
 * Transaction discipline (checked by the engines): reads are async and see the state at the
 * start of the transaction; writes are buffered until commit and a transaction never reads a
 * record it has already written. A transaction function may run several times (on conflict),
 * so it must not have side effects outside the transaction.
 */
import type {
  Attr,
  FileType,
  Ino,
  SessionInfo,
  Slice,
  SyncToken,
  UnusedSlice,
} from "./interface.ts";

export type { SyncToken } from "./interface.ts";

export interface EntryRecord {
  inode: Ino;
  type: FileType;
  /** Creation sequence within the volume: the readdir order and cookie. */
  seq: number;
}

export interface NamedEntryRecord extends EntryRecord {
  name: Buffer;
}

export interface DeletedFile {
  inode: Ino;
  sizeBytes: number;
}

/**
 * One lock a session holds on an inode: a flock ("f", whole file) or a POSIX range ("p"),
 * owned by a lock owner of that session (FUSE's lock_owner: an open file description for
 * flock, a process's files table for POSIX locks); or a blocked request waiting for one ("w",
 * of kind `waits`), whose `ticket` orders it among the inode's waiters (locks.ts).
 */
export interface LockRecord {
  kind: "f" | "p" | "w";
  /** "w" only: the kind of lock waited for, the wait's id, and its place in the queue. */
  waits?: "f" | "p";
  wait?: string;
  ticket?: number;
  /** The owner id, decimal (a 64-bit value from the kernel). */
  owner: string;
  type: 0 | 1;
  start: number;
  end: number;
  pid: number;
}

/** The limits of one directory quota (jfs quota set); 0 means unlimited. */
export interface QuotaLimits {
  capacityBytes: number;
  inodes: number;
}

/**
 * What the tree below a quota directory uses: every entry below it (not the directory itself)
 * charges 1 inode and its chargedBytes (policy.ts), once per link.
 */
export interface QuotaUsage {
  usedBytes: number;
  usedInodes: number;
}

export interface QuotaRecord extends QuotaLimits, QuotaUsage {
  inode: Ino;
}

export type CounterName =
  | "nextInode"
  | "nextSliceId"
  | "nextEntrySeq"
  | "nextSession"
  | "usedSpace"
  | "usedInodes";

export interface MetaTxn {
  getAttr(ino: Ino): Promise<Attr | undefined>;
  /** Many attrs in one read (READDIRPLUS); undefined where an inode does not exist. */
  getAttrs(inos: readonly Ino[]): Promise<Array<Attr | undefined>>;
  setAttr(ino: Ino, attr: Attr): void;
  deleteAttr(ino: Ino): void;

  getEntry(parent: Ino, name: Buffer): Promise<EntryRecord | undefined>;
  setEntry(parent: Ino, name: Buffer, entry: EntryRecord): void;
  /** `entry` is the record being removed (engines index entries by seq too). */
  deleteEntry(parent: Ino, name: Buffer, entry: EntryRecord): void;
  /** Entries with seq > afterSeq in seq order. */
  listEntries(parent: Ino, afterSeq: number, limit: number): Promise<NamedEntryRecord[]>;
  hasEntries(parent: Ino): Promise<boolean>;

  getSymlink(ino: Ino): Promise<Buffer | undefined>;
  setSymlink(ino: Ino, target: Buffer): void;
  deleteSymlink(ino: Ino): void;

  getXattr(ino: Ino, name: string): Promise<Buffer | undefined>;
  setXattr(ino: Ino, name: string, value: Buffer): void;
  deleteXattr(ino: Ino, name: string): void;
  listXattrs(ino: Ino): Promise<string[]>;
  deleteXattrs(ino: Ino): void;

  /** Hard-link parents of a non-directory inode whose attr.parent is 0: parent -> links. */
  getParents(ino: Ino): Promise<Map<Ino, number>>;
  /** Sets how many links `parent` holds to `ino`; 0 removes the row. */
  setParent(ino: Ino, parent: Ino, links: number): void;
  deleteParents(ino: Ino): void;

  getChunk(ino: Ino, chunkIndex: number): Promise<Slice[]>;
  appendSlice(ino: Ino, chunkIndex: number, slice: Slice): void;
  /** Replaces the whole slice list; an empty list deletes the chunk. */
  setChunk(ino: Ino, chunkIndex: number, slices: readonly Slice[]): void;
  listChunkIndexes(ino: Ino): Promise<number[]>;

  /** References beyond the first (JuiceFS stores only shared slices): 0 when absent. */
  getSliceExtraRefs(id: number): Promise<number>;
  setSliceExtraRefs(id: number, extraRefs: number): void;
  addUnusedSlices(slices: readonly UnusedSlice[]): void;
  /**
   * Up to `limit` unused slices in the engine's order, those after `after` when given: a caller
   * pages through them in one transaction without holding them all (dump).
   */
  listUnusedSlices(limit: number, after?: UnusedSlice): Promise<UnusedSlice[]>;
  deleteUnusedSlices(slices: readonly UnusedSlice[]): void;

  /** Files whose last link is gone and that no session has open: their chunks await release. */
  addDeletedFile(file: DeletedFile): void;
  /** Up to `limit` in inode order, those above `afterInode` when given (paging, as above). */
  listDeletedFiles(limit: number, afterInode?: Ino): Promise<DeletedFile[]>;
  deleteDeletedFile(ino: Ino): void;

  /** Which sessions hold an inode open (only inodes that were unlinked-while-open matter). */
  addOpen(sid: number, ino: Ino): void;
  deleteOpen(sid: number, ino: Ino): void;
  listOpenSessions(ino: Ino): Promise<number[]>;
  listOpenInodes(sid: number): Promise<Ino[]>;

  /** Locks on `ino`, per holding session (sid -> its records). */
  getLocks(ino: Ino): Promise<Map<number, LockRecord[]>>;
  /** Replaces what session `sid` holds on `ino`; an empty list removes its row. */
  setLocks(ino: Ino, sid: number, records: readonly LockRecord[]): void;
  /** Inodes on which session `sid` holds locks (to release them when it expires). */
  listLockedInodes(sid: number): Promise<Ino[]>;

  /** Counters are applied atomically at commit; reads see the committed value. */
  getCounter(name: CounterName): Promise<number>;
  addCounter(name: CounterName, delta: number): void;

  setSession(info: SessionInfo): void;
  getSession(sid: number): Promise<SessionInfo | undefined>;
  listSessions(): Promise<SessionInfo[]>;
  deleteSession(sid: number): void;

  /** The limits of every directory quota (a concurrent set or delete conflicts). */
  listQuotas(): Promise<Map<Ino, QuotaLimits>>;
  /**
   * The usage of these quotas, read like a counter: the committed value, and (on Redis) no
   * conflict with the writes that add to it. Zero for a directory without usage recorded.
   */
  getQuotaUsage(inos: readonly Ino[]): Promise<QuotaUsage[]>;
  /** Sets the limits of the quota on `ino`, creating it with zero usage if new. */
  setQuota(ino: Ino, limits: QuotaLimits): void;
  /** Removes the quota on `ino` and its usage. */
  deleteQuota(ino: Ino): void;
  /** Adds to the usage of the quota on `ino`, atomically at commit like addCounter. */
  addQuotaUsage(ino: Ino, bytes: number, inodes: number): void;

  getSetting(): Promise<string | undefined>;
  setSetting(json: string): void;
}

export interface TxnOptions {
  /** A read-only transaction never writes; engines may skip locks and conflict checks. */
  readOnly?: boolean;
  /**
   * Commit without waiting for the commit to be durable: the promise settles once the
   * transaction is committed (visible to every reader), and the caller makes it durable later
   * with `syncThrough(commitToken())`, the token taken after the promise settled. Engines whose
   * commits are durable at once ignore it. Lazily committed changes become durable on their own
   * within DEFERRED_SYNC_DELAY_MS, with any later durable commit, and at close.
   */
  deferSync?: boolean;
}

export interface MetaEngine {
  readonly engine: string;
  readonly displayUrl: string;
  /** Runs `fn` atomically, re-running it on conflict up to TXN_RETRIES_MAX times. */
  txn<T>(fn: (tx: MetaTxn) => Promise<T>, options?: TxnOptions): Promise<T>;
  /**
   * The engine's own clock in ms since the epoch: what session heartbeats are stamped with and
   * expired by, so that no host's wall clock decides whether another host is alive (Redis:
   * TIME of the server; SQLite: the clock of the one host that opens the file).
   */
  clockMs(): Promise<number>;
  /** Atomic increment outside any transaction; returns the new value. */
  incrCounter(name: CounterName, delta: number): Promise<number>;
  /**
   * A token covering every write transaction committed (settled) so far. Engines without
   * deferred commits (every commit durable when it returns: Redis, PostgreSQL) leave this and
   * syncThrough out.
   */
  commitToken?(): SyncToken;
  /**
   * Resolves once every transaction `token` covers is durable (at once if a later durable
   * commit or sync covered it already); rejects if that may not be so.
   */
  syncThrough?(token: SyncToken): Promise<void>;
  /** Removes every record of the volume. */
  destroy(): Promise<void>;
  /** Makes every committed transaction durable first. */
  close(): Promise<void>;
}

/** Thrown by an engine when a transaction lost a race; the engine retries it. */
export class TxnConflictError extends Error {
  override name = "TxnConflictError";
}
