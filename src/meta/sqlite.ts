/**
 * SQLite engine (bun:sqlite, WAL). Schema:
 *
 *   jfs_setting(name TEXT PK, value TEXT)             -- "format": the volume's JSON settings
 *   jfs_counter(name TEXT PK, value INTEGER)
 *   jfs_node(inode PK, type, mode, uid, gid, atime, atime_nsec, mtime, mtime_nsec,
 *            ctime, ctime_nsec, nlink, size, rdev, parent, generation)
 *   jfs_edge(parent, name BLOB, inode, type, seq; PK(parent, name); UNIQUE(parent, seq))
 *   jfs_symlink(inode PK, target BLOB)
 *   jfs_xattr(inode, name TEXT, value BLOB; PK(inode, name))
 *   jfs_parent(inode, parent, links; PK(inode, parent))
 *   jfs_chunk(inode, indx, slices BLOB; PK(inode, indx))   -- 24-byte slice records (codec.ts)
 *   jfs_slice_ref(id PK, extra_refs)
 *   jfs_unused_slice(id, size; PK(id, size))
 *   jfs_deleted_file(inode PK, size)
 *   jfs_open(sid, inode; PK(sid, inode); INDEX(inode))
 *   jfs_lock(inode, sid, records TEXT; PK(inode, sid); INDEX(sid)) -- JSON LockRecord[]
 *   jfs_session(sid PK, info TEXT)
 *
 * Directory quotas live in jfs_setting ("quota/{ino}") and jfs_counter ("quota/{ino}/bytes",
 * "quota/{ino}/inodes"): see quotarows.ts.
 *
 * One connection per process; transactions are serialized by an async lock (a transaction
 * awaits between statements, and SQLite transactions belong to the connection). Writers of
 * other processes are kept out by BEGIN IMMEDIATE and the busy timeout.
 *
 * Write transactions are committed in groups (sqlitegroup.ts): those queued while one group
 * runs share its COMMIT, each in its own savepoint, and settle after it.
 *
 * Durability: a committed transaction is what NFS COMMIT, FILE_SYNC, CREATE and fsync
 * acknowledge, so it must survive a power cut. By default the database runs in WAL mode with
 * synchronous=FULL: every COMMIT fsyncs the WAL before it returns, on the event loop. The
 * alternative "wal-barrier" (synchronous=NORMAL, and a write transaction settles only after
 * our own fdatasync of the WAL on the I/O pool, shared by every group committed before it;
 * walsync.ts argues why that is as durable) passes the power-cut test, but measured slower
 * through FUSE at a moderate load and faster only on a very loaded machine
 * (docs/benchmarks.md, "Small-file writes"), so it is not the default. A new database file's
 * directory entry is fsynced too.
 *
 * Deferred sync (TxnOptions.deferSync: a FUSE create, made durable by its close): a group of
 * only such transactions commits with synchronous=NORMAL (no fsync) and settles at once;
 * syncThrough(token) then fdatasyncs the WAL (walsync.ts), unless a later FULL commit, which
 * syncs the whole WAL, earlier frames included, covered it already (sqlitegroup.ts).
 */
import { Database, type Statement } from "bun:sqlite";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { assert } from "../assert.ts";
import { describeError, UserError } from "../errors.ts";
import { TXN_BUSY_WAIT_MS_MAX as BUSY_WAIT_MS_MAX, TXN_RETRY_BACKOFF_MS_MAX } from "../limits.ts";
import { txnRetried } from "../metrics/jfs.ts";
import { decodeSlices, encodeSlice, encodeSlices } from "./codec.ts";
import type { Attr, FileType, Ino, SessionInfo, Slice, UnusedSlice } from "./interface.ts";
import { decodeLockRows } from "./locks.ts";
import {
  encodeQuotaLimits,
  QUOTA_SETTING_PREFIX,
  quotaBytesCounter,
  quotaInodesCounter,
  quotaLimits,
  quotaSettingName,
  quotaUsageCounters,
  quotaUsages,
} from "./quotarows.ts";
import { GroupCommit } from "./sqlitegroup.ts";
import type {
  CounterName,
  DeletedFile,
  EntryRecord,
  LockRecord,
  MetaEngine,
  MetaTxn,
  NamedEntryRecord,
  QuotaLimits,
  QuotaUsage,
  SyncToken,
  TxnOptions,
} from "./txn.ts";
import { GuardKey as K, TxnGuard } from "./txnguard.ts";
import { TxnLock } from "./txnlock.ts";
import { WalFileSync, type WalSyncer } from "./walsync.ts";

export interface SqliteOpenOptions {
  /**
   * How commits become durable. "full" (the default): synchronous=FULL, SQLite fsyncs inside
   * COMMIT on the event loop. "wal-barrier": synchronous=NORMAL and our WAL fdatasync on the
   * I/O pool before a write transaction settles (as durable; see the file comment for why it
   * is not the default). "none": synchronous=NORMAL without the barrier, for benches measuring
   * what durability costs only.
   */
  durability?: "wal-barrier" | "full" | "none";
  /** Replaces the WAL fdatasync (tests counting barriers); production syncs the real file. */
  walSyncer?: WalSyncer;
}

const DDL = `
CREATE TABLE IF NOT EXISTS jfs_setting (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_node (
  inode INTEGER PRIMARY KEY, type INTEGER NOT NULL, mode INTEGER NOT NULL,
  uid INTEGER NOT NULL, gid INTEGER NOT NULL,
  atime INTEGER NOT NULL, atime_nsec INTEGER NOT NULL, mtime INTEGER NOT NULL,
  mtime_nsec INTEGER NOT NULL, ctime INTEGER NOT NULL, ctime_nsec INTEGER NOT NULL,
  nlink INTEGER NOT NULL, size INTEGER NOT NULL, rdev INTEGER NOT NULL,
  parent INTEGER NOT NULL, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_edge (
  parent INTEGER NOT NULL, name BLOB NOT NULL, inode INTEGER NOT NULL, type INTEGER NOT NULL,
  seq INTEGER NOT NULL, PRIMARY KEY (parent, name)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS jfs_edge_seq ON jfs_edge (parent, seq);
CREATE TABLE IF NOT EXISTS jfs_symlink (inode INTEGER PRIMARY KEY, target BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_xattr (
  inode INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY (inode, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jfs_parent (
  inode INTEGER NOT NULL, parent INTEGER NOT NULL, links INTEGER NOT NULL,
  PRIMARY KEY (inode, parent)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jfs_chunk (
  inode INTEGER NOT NULL, indx INTEGER NOT NULL, slices BLOB NOT NULL,
  PRIMARY KEY (inode, indx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jfs_slice_ref (id INTEGER PRIMARY KEY, extra_refs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_unused_slice (
  id INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (id, size)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jfs_deleted_file (inode INTEGER PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_open (
  sid INTEGER NOT NULL, inode INTEGER NOT NULL, PRIMARY KEY (sid, inode)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jfs_open_inode ON jfs_open (inode);
CREATE TABLE IF NOT EXISTS jfs_session (sid INTEGER PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_lock (
  inode INTEGER NOT NULL, sid INTEGER NOT NULL, records TEXT NOT NULL,
  PRIMARY KEY (inode, sid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jfs_lock_sid ON jfs_lock (sid);
`;

const TABLES = DDL.match(/CREATE TABLE IF NOT EXISTS (\w+)/g)?.map((m) => m.split(" ").pop()!);

interface NodeRow {
  type: number;
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  atime_nsec: number;
  mtime: number;
  mtime_nsec: number;
  ctime: number;
  ctime_nsec: number;
  nlink: number;
  size: number;
  rdev: number;
  parent: number;
  generation: number;
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function rowToAttr(r: NodeRow): Attr {
  return {
    type: r.type as FileType,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    atime: r.atime,
    atimeNsec: r.atime_nsec,
    mtime: r.mtime,
    mtimeNsec: r.mtime_nsec,
    ctime: r.ctime,
    ctimeNsec: r.ctime_nsec,
    nlink: r.nlink,
    size: r.size,
    rdev: r.rdev,
    parent: r.parent,
    generation: r.generation,
  };
}

function isBusy(error: unknown): boolean {
  const text = describeError(error);
  return text.includes("SQLITE_BUSY") || text.includes("database is locked");
}

/** Prepared statements, created once per connection. */
class Statements {
  readonly q: (sql: string) => Statement;
  constructor(db: Database) {
    const cache = new Map<string, Statement>();
    this.q = (sql) => {
      let s = cache.get(sql);
      if (!s) {
        s = db.prepare(sql);
        cache.set(sql, s);
      }
      return s;
    };
  }
}

class SqliteTxn implements MetaTxn {
  constructor(
    private readonly s: Statements,
    private readonly guard: TxnGuard | undefined,
  ) {}

  #read(...keys: string[]): void {
    this.guard?.reading(...keys);
  }

  #write(...keys: string[]): void {
    assert(this.guard, "write in a read-only transaction");
    this.guard.wrote(...keys);
  }

  async getAttr(ino: Ino): Promise<Attr | undefined> {
    // The guard only exists in write transactions: build its key (a string) only for those.
    if (this.guard !== undefined) this.#read(K.attr(ino));
    const row = this.s.q("SELECT * FROM jfs_node WHERE inode = ?").get(ino) as NodeRow | null;
    return row ? rowToAttr(row) : undefined;
  }

  async getAttrs(inos: readonly Ino[]): Promise<Array<Attr | undefined>> {
    const attrs: Array<Attr | undefined> = [];
    for (const ino of inos) attrs.push(await this.getAttr(ino));
    return attrs;
  }

  setAttr(ino: Ino, a: Attr): void {
    this.#write(K.attr(ino));
    this.s
      .q("INSERT OR REPLACE INTO jfs_node VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
      .run(
        ino,
        a.type,
        a.mode,
        a.uid,
        a.gid,
        a.atime,
        a.atimeNsec,
        a.mtime,
        a.mtimeNsec,
        a.ctime,
        a.ctimeNsec,
        a.nlink,
        a.size,
        a.rdev,
        a.parent,
        a.generation,
      );
  }

  deleteAttr(ino: Ino): void {
    this.#write(K.attr(ino));
    this.s.q("DELETE FROM jfs_node WHERE inode = ?").run(ino);
  }

  async getEntry(parent: Ino, name: Buffer): Promise<EntryRecord | undefined> {
    if (this.guard !== undefined) this.#read(K.entry(parent, name));
    const row = this.s
      .q("SELECT inode, type, seq FROM jfs_edge WHERE parent = ? AND name = ?")
      .get(parent, name) as EntryRecord | null;
    return row ?? undefined;
  }

  setEntry(parent: Ino, name: Buffer, e: EntryRecord): void {
    this.#write(K.entry(parent, name), K.entries(parent));
    this.s
      .q("INSERT OR REPLACE INTO jfs_edge VALUES (?,?,?,?,?)")
      .run(parent, name, e.inode, e.type, e.seq);
  }

  deleteEntry(parent: Ino, name: Buffer, _e: EntryRecord): void {
    this.#write(K.entry(parent, name), K.entries(parent));
    this.s.q("DELETE FROM jfs_edge WHERE parent = ? AND name = ?").run(parent, name);
  }

  async listEntries(parent: Ino, afterSeq: number, limit: number): Promise<NamedEntryRecord[]> {
    this.#read(K.entries(parent));
    const rows = this.s
      .q(
        "SELECT name, inode, type, seq FROM jfs_edge WHERE parent = ? AND seq > ? ORDER BY seq LIMIT ?",
      )
      .all(parent, afterSeq, limit) as Array<Omit<NamedEntryRecord, "name"> & { name: Uint8Array }>;
    return rows.map((r) => ({ ...r, name: toBuffer(r.name) }));
  }

  async hasEntries(parent: Ino): Promise<boolean> {
    this.#read(K.entries(parent));
    return this.s.q("SELECT 1 FROM jfs_edge WHERE parent = ? LIMIT 1").get(parent) !== null;
  }

  async getSymlink(ino: Ino): Promise<Buffer | undefined> {
    this.#read(K.symlink(ino));
    const row = this.s.q("SELECT target FROM jfs_symlink WHERE inode = ?").get(ino) as {
      target: Uint8Array;
    } | null;
    return row ? toBuffer(row.target) : undefined;
  }

  setSymlink(ino: Ino, target: Buffer): void {
    this.#write(K.symlink(ino));
    this.s.q("INSERT OR REPLACE INTO jfs_symlink VALUES (?, ?)").run(ino, target);
  }

  deleteSymlink(ino: Ino): void {
    this.#write(K.symlink(ino));
    this.s.q("DELETE FROM jfs_symlink WHERE inode = ?").run(ino);
  }

  async getXattr(ino: Ino, name: string): Promise<Buffer | undefined> {
    this.#read(K.xattr(ino, name));
    const row = this.s
      .q("SELECT value FROM jfs_xattr WHERE inode = ? AND name = ?")
      .get(ino, name) as { value: Uint8Array } | null;
    return row ? toBuffer(row.value) : undefined;
  }

  setXattr(ino: Ino, name: string, value: Buffer): void {
    this.#write(K.xattr(ino, name), K.xattrs(ino));
    this.s.q("INSERT OR REPLACE INTO jfs_xattr VALUES (?, ?, ?)").run(ino, name, value);
  }

  deleteXattr(ino: Ino, name: string): void {
    this.#write(K.xattr(ino, name), K.xattrs(ino));
    this.s.q("DELETE FROM jfs_xattr WHERE inode = ? AND name = ?").run(ino, name);
  }

  async listXattrs(ino: Ino): Promise<string[]> {
    this.#read(K.xattrs(ino));
    const rows = this.s.q("SELECT name FROM jfs_xattr WHERE inode = ? ORDER BY name").all(ino);
    return (rows as Array<{ name: string }>).map((r) => r.name);
  }

  deleteXattrs(ino: Ino): void {
    this.#write(K.xattrs(ino));
    this.s.q("DELETE FROM jfs_xattr WHERE inode = ?").run(ino);
  }

  async getParents(ino: Ino): Promise<Map<Ino, number>> {
    this.#read(K.parents(ino));
    const rows = this.s.q("SELECT parent, links FROM jfs_parent WHERE inode = ?").all(ino);
    return new Map(
      (rows as Array<{ parent: number; links: number }>).map((r) => [r.parent, r.links]),
    );
  }

  setParent(ino: Ino, parent: Ino, links: number): void {
    this.#write(K.parents(ino));
    if (links === 0) {
      this.s.q("DELETE FROM jfs_parent WHERE inode = ? AND parent = ?").run(ino, parent);
    } else {
      this.s.q("INSERT OR REPLACE INTO jfs_parent VALUES (?, ?, ?)").run(ino, parent, links);
    }
  }

  deleteParents(ino: Ino): void {
    this.#write(K.parents(ino));
    this.s.q("DELETE FROM jfs_parent WHERE inode = ?").run(ino);
  }

  async getChunk(ino: Ino, chunkIndex: number): Promise<Slice[]> {
    this.#read(K.chunk(ino, chunkIndex));
    const row = this.s
      .q("SELECT slices FROM jfs_chunk WHERE inode = ? AND indx = ?")
      .get(ino, chunkIndex) as { slices: Uint8Array } | null;
    return row ? decodeSlices(toBuffer(row.slices)) : [];
  }

  appendSlice(ino: Ino, chunkIndex: number, slice: Slice): void {
    this.#write(K.chunk(ino, chunkIndex), K.chunks(ino));
    const row = this.s
      .q("SELECT slices FROM jfs_chunk WHERE inode = ? AND indx = ?")
      .get(ino, chunkIndex) as { slices: Uint8Array } | null;
    const added = encodeSlice(slice);
    const slices = row ? Buffer.concat([row.slices, added]) : added;
    this.s.q("INSERT OR REPLACE INTO jfs_chunk VALUES (?, ?, ?)").run(ino, chunkIndex, slices);
  }

  setChunk(ino: Ino, chunkIndex: number, slices: readonly Slice[]): void {
    this.#write(K.chunk(ino, chunkIndex), K.chunks(ino));
    if (slices.length === 0) {
      this.s.q("DELETE FROM jfs_chunk WHERE inode = ? AND indx = ?").run(ino, chunkIndex);
      return;
    }
    this.s
      .q("INSERT OR REPLACE INTO jfs_chunk VALUES (?, ?, ?)")
      .run(ino, chunkIndex, encodeSlices(slices));
  }

  async listChunkIndexes(ino: Ino): Promise<number[]> {
    this.#read(K.chunks(ino));
    const rows = this.s.q("SELECT indx FROM jfs_chunk WHERE inode = ? ORDER BY indx").all(ino);
    return (rows as Array<{ indx: number }>).map((r) => r.indx);
  }

  async getSliceExtraRefs(id: number): Promise<number> {
    this.#read(K.sliceRefs(id));
    const row = this.s.q("SELECT extra_refs FROM jfs_slice_ref WHERE id = ?").get(id) as {
      extra_refs: number;
    } | null;
    return row?.extra_refs ?? 0;
  }

  setSliceExtraRefs(id: number, extraRefs: number): void {
    this.#write(K.sliceRefs(id));
    if (extraRefs === 0) this.s.q("DELETE FROM jfs_slice_ref WHERE id = ?").run(id);
    else this.s.q("INSERT OR REPLACE INTO jfs_slice_ref VALUES (?, ?)").run(id, extraRefs);
  }

  addUnusedSlices(slices: readonly UnusedSlice[]): void {
    this.#write(K.unused());
    const insert = this.s.q("INSERT OR IGNORE INTO jfs_unused_slice VALUES (?, ?)");
    for (const s of slices) insert.run(s.id, s.size);
  }

  async listUnusedSlices(limit: number, after?: UnusedSlice): Promise<UnusedSlice[]> {
    this.#read(K.unused());
    if (after) {
      return this.s
        .q(
          "SELECT id, size FROM jfs_unused_slice WHERE (id, size) > (?, ?) ORDER BY id, size LIMIT ?",
        )
        .all(after.id, after.size, limit) as UnusedSlice[];
    }
    return this.s
      .q("SELECT id, size FROM jfs_unused_slice ORDER BY id, size LIMIT ?")
      .all(limit) as UnusedSlice[];
  }

  deleteUnusedSlices(slices: readonly UnusedSlice[]): void {
    this.#write(K.unused());
    const del = this.s.q("DELETE FROM jfs_unused_slice WHERE id = ? AND size = ?");
    for (const s of slices) del.run(s.id, s.size);
  }

  addDeletedFile(file: DeletedFile): void {
    this.#write(K.deleted());
    this.s
      .q("INSERT OR REPLACE INTO jfs_deleted_file VALUES (?, ?)")
      .run(file.inode, file.sizeBytes);
  }

  async listDeletedFiles(limit: number, afterInode = 0): Promise<DeletedFile[]> {
    this.#read(K.deleted());
    return this.s
      .q(
        "SELECT inode, size AS sizeBytes FROM jfs_deleted_file WHERE inode > ? ORDER BY inode LIMIT ?",
      )
      .all(afterInode, limit) as DeletedFile[];
  }

  deleteDeletedFile(ino: Ino): void {
    this.#write(K.deleted());
    this.s.q("DELETE FROM jfs_deleted_file WHERE inode = ?").run(ino);
  }

  addOpen(sid: number, ino: Ino): void {
    this.#write(K.openByInode(ino), K.openBySession(sid));
    this.s.q("INSERT OR IGNORE INTO jfs_open VALUES (?, ?)").run(sid, ino);
  }

  deleteOpen(sid: number, ino: Ino): void {
    this.#write(K.openByInode(ino), K.openBySession(sid));
    this.s.q("DELETE FROM jfs_open WHERE sid = ? AND inode = ?").run(sid, ino);
  }

  async listOpenSessions(ino: Ino): Promise<number[]> {
    this.#read(K.openByInode(ino));
    const rows = this.s.q("SELECT sid FROM jfs_open WHERE inode = ?").all(ino);
    return (rows as Array<{ sid: number }>).map((r) => r.sid);
  }

  async listOpenInodes(sid: number): Promise<Ino[]> {
    this.#read(K.openBySession(sid));
    const rows = this.s.q("SELECT inode FROM jfs_open WHERE sid = ?").all(sid);
    return (rows as Array<{ inode: number }>).map((r) => r.inode);
  }

  async getLocks(ino: Ino): Promise<Map<number, LockRecord[]>> {
    this.#read(K.locks(ino));
    const rows = this.s.q("SELECT sid, records FROM jfs_lock WHERE inode = ?").all(ino);
    return decodeLockRows(rows as Array<{ sid: number; records: string }>);
  }

  setLocks(ino: Ino, sid: number, records: readonly LockRecord[]): void {
    this.#write(K.locks(ino), K.locksBySession(sid));
    if (records.length === 0) {
      this.s.q("DELETE FROM jfs_lock WHERE inode = ? AND sid = ?").run(ino, sid);
      return;
    }
    this.s
      .q("INSERT OR REPLACE INTO jfs_lock VALUES (?, ?, ?)")
      .run(ino, sid, JSON.stringify(records));
  }

  async listLockedInodes(sid: number): Promise<Ino[]> {
    this.#read(K.locksBySession(sid));
    const rows = this.s.q("SELECT inode FROM jfs_lock WHERE sid = ? ORDER BY inode").all(sid);
    return (rows as Array<{ inode: number }>).map((r) => r.inode);
  }

  async getCounter(name: CounterName): Promise<number> {
    this.#read(K.counter(name));
    const row = this.s.q("SELECT value FROM jfs_counter WHERE name = ?").get(name) as {
      value: number;
    } | null;
    return row?.value ?? 0;
  }

  addCounter(name: CounterName, delta: number): void {
    this.#write(K.counter(name));
    this.s
      .q(
        "INSERT INTO jfs_counter VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
      )
      .run(name, delta);
  }

  setSession(info: SessionInfo): void {
    this.#write(K.session(info.sid), K.sessions());
    this.s
      .q("INSERT OR REPLACE INTO jfs_session VALUES (?, ?)")
      .run(info.sid, JSON.stringify(info));
  }

  async getSession(sid: number): Promise<SessionInfo | undefined> {
    this.#read(K.session(sid));
    const row = this.s.q("SELECT info FROM jfs_session WHERE sid = ?").get(sid) as {
      info: string;
    } | null;
    return row ? (JSON.parse(row.info) as SessionInfo) : undefined;
  }

  async listSessions(): Promise<SessionInfo[]> {
    this.#read(K.sessions());
    const rows = this.s.q("SELECT info FROM jfs_session ORDER BY sid").all();
    return (rows as Array<{ info: string }>).map((r) => JSON.parse(r.info) as SessionInfo);
  }

  deleteSession(sid: number): void {
    this.#write(K.session(sid), K.sessions());
    this.s.q("DELETE FROM jfs_session WHERE sid = ?").run(sid);
  }

  async listQuotas(): Promise<Map<Ino, QuotaLimits>> {
    this.#read(K.quotas());
    // Range on the primary key: "0" follows "/", so this is every name starting "quota/".
    const settings = this.s
      .q("SELECT name, value FROM jfs_setting WHERE name >= ? AND name < 'quota0'")
      .all(QUOTA_SETTING_PREFIX) as Array<{ name: string; value: string }>;
    return quotaLimits(settings);
  }

  async getQuotaUsage(inos: readonly Ino[]): Promise<QuotaUsage[]> {
    this.#read(K.quotaUsage());
    const get = this.s.q("SELECT value FROM jfs_counter WHERE name = ?");
    const counters = new Map<string, number>();
    for (const name of quotaUsageCounters(inos)) {
      const row = get.get(name) as { value: number } | null;
      if (row) counters.set(name, row.value);
    }
    return quotaUsages(inos, counters);
  }

  setQuota(ino: Ino, limits: QuotaLimits): void {
    this.#write(K.quotas());
    this.s
      .q("INSERT OR REPLACE INTO jfs_setting VALUES (?, ?)")
      .run(quotaSettingName(ino), encodeQuotaLimits(limits));
  }

  deleteQuota(ino: Ino): void {
    this.#write(K.quotas(), K.quotaUsage());
    this.s.q("DELETE FROM jfs_setting WHERE name = ?").run(quotaSettingName(ino));
    const del = this.s.q("DELETE FROM jfs_counter WHERE name = ?");
    del.run(quotaBytesCounter(ino));
    del.run(quotaInodesCounter(ino));
  }

  addQuotaUsage(ino: Ino, bytes: number, inodes: number): void {
    assert(Number.isSafeInteger(bytes) && Number.isSafeInteger(inodes), "quota usage delta");
    this.#write(K.quotaUsage());
    const add = this.s.q(
      "INSERT INTO jfs_counter VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    );
    if (bytes !== 0) add.run(quotaBytesCounter(ino), bytes);
    if (inodes !== 0) add.run(quotaInodesCounter(ino), inodes);
  }

  async getSetting(): Promise<string | undefined> {
    this.#read(K.setting());
    const row = this.s.q("SELECT value FROM jfs_setting WHERE name = 'format'").get() as {
      value: string;
    } | null;
    return row?.value;
  }

  setSetting(json: string): void {
    this.#write(K.setting());
    this.s.q("INSERT OR REPLACE INTO jfs_setting VALUES ('format', ?)").run(json);
  }
}

export class SqliteEngine implements MetaEngine {
  readonly engine = "sqlite3";
  readonly #db: Database;
  readonly #stmts: Statements;
  readonly #lock = new TxnLock();
  /** Read transactions' BEGIN and COMMIT, prepared once (db.exec parses them each time). */
  readonly #begin: Statement;
  readonly #commit: Statement;
  /** Write transactions: committed in groups, one WAL fsync per group (sqlitegroup.ts). */
  readonly #group: GroupCommit;
  /**
   * The WAL fdatasync (walsync.ts): the barrier of every write group with durability
   * "wal-barrier", and what makes deferred commits durable (syncThrough) with "full". None for
   * ":memory:" and durability "none".
   */
  readonly #walSync: WalFileSync | undefined;
  readonly #barrierEachGroup: boolean;
  /** PRAGMA synchronous is switched to NORMAL for a deferred group under "full" only. */
  readonly #switchSync: boolean;
  #syncDeferred = false;

  private constructor(
    db: Database,
    readonly displayUrl: string,
    walSync: WalFileSync | undefined,
    durability: "wal-barrier" | "full" | "none",
  ) {
    this.#db = db;
    this.#stmts = new Statements(db);
    this.#walSync = walSync;
    this.#barrierEachGroup = durability === "wal-barrier";
    this.#switchSync = durability === "full" && walSync !== undefined;
    this.#begin = db.prepare("BEGIN");
    this.#commit = db.prepare("COMMIT");
    this.#group = new GroupCommit({
      db,
      acquire: () => this.#acquire(),
      newTxn: () => new SqliteTxn(this.#stmts, new TxnGuard()),
      isBusy,
      durable: () => this.#durable(),
      syncMode: (deferred) => this.#setSyncMode(deferred),
      sync: () => this.#walSync?.barrier() ?? Promise.resolve(),
    });
  }

  /**
   * Under "full", a deferred group's COMMIT writes its frames without the fsync
   * (synchronous=NORMAL); the next FULL COMMIT's fsync, or our WAL fdatasync, covers them.
   * Without a WAL to sync (":memory:") nothing is switched: every commit stays FULL.
   */
  #setSyncMode(deferred: boolean): void {
    if (!this.#switchSync || deferred === this.#syncDeferred) return;
    // exec, not a prepared statement: SQLite applies this pragma when it compiles it.
    this.#db.exec(`PRAGMA synchronous = ${deferred ? "NORMAL" : "FULL"}`);
    this.#syncDeferred = deferred;
  }

  /**
   * COMMITs issued, write transactions they committed (group commit) and WAL barriers synced
   * (benches, tests).
   */
  get commitStats(): {
    commits: number;
    transactions: number;
    walSyncs: number;
    deferredCommits: number;
    deferredSyncs: number;
  } {
    return {
      commits: this.#group.commits,
      transactions: this.#group.transactions,
      walSyncs: this.#walSync?.syncs ?? 0,
      deferredCommits: this.#group.deferredCommits,
      deferredSyncs: this.#group.deferredSyncs,
    };
  }

  /** Opens (creating if needed) the database file; an unusable path is a UserError. */
  static open(path: string, displayUrl: string, options: SqliteOpenOptions = {}): SqliteEngine {
    let durability = options.durability ?? "full";
    let db: Database;
    let walMode = false;
    try {
      const isFile = path !== ":memory:";
      const isNew = isFile && !existsSync(path);
      const firstCreatedDir = isFile ? mkdirSync(dirname(path), { recursive: true }) : undefined;
      db = new Database(path, { create: true, strict: true });
      // Opening may wait for another process's lock (nothing else runs yet)...
      db.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS_MAX}`);
      const mode = db.query("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
      walMode = mode.journal_mode === "wal";
      // The barrier syncs a WAL: without one (":memory:" keeps its journal in memory), FULL.
      if (mode.journal_mode !== "wal" && durability === "wal-barrier") durability = "full";
      db.exec(`PRAGMA synchronous = ${durability === "full" ? "FULL" : "NORMAL"}`);
      db.exec("PRAGMA foreign_keys = OFF");
      db.exec(DDL);
      if (isNew) syncNewEntries(path, firstCreatedDir);
      // ...but later no busy_timeout: SQLite would sleep the whole thread (the event loop)
      // while another connection holds the lock; txn() retries SQLITE_BUSY asynchronously.
      db.exec("PRAGMA busy_timeout = 0");
    } catch (error) {
      throw new UserError(`Cannot open "${displayUrl}": ${describeError(error)}`);
    }
    const hasWal = walMode && durability !== "none";
    return new SqliteEngine(
      db,
      displayUrl,
      hasWal ? new WalFileSync(path, options.walSyncer) : undefined,
      durability,
    );
  }

  #durable(): Promise<void> {
    if (!this.#barrierEachGroup) return Promise.resolve();
    return this.#walSync?.barrier() ?? Promise.resolve();
  }

  readonly #release = () => this.#lock.release();

  async #acquire(): Promise<() => void> {
    await this.#lock.acquire();
    return this.#release;
  }

  async txn<T>(fn: (tx: MetaTxn) => Promise<T>, options?: TxnOptions): Promise<T> {
    if (options?.readOnly !== true) return this.#group.run(fn, options?.deferSync === true);
    // Free (the common case): taken without awaiting anything.
    if (!this.#lock.tryAcquire()) await this.#lock.acquire();
    let deadline: number | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#read(fn);
        } catch (error) {
          deadline ??= Date.now() + BUSY_WAIT_MS_MAX;
          if (!isBusy(error) || Date.now() > deadline) throw error;
          txnRetried(true); // another process holds the database's write lock
          await Bun.sleep(Math.random() * Math.min(TXN_RETRY_BACKOFF_MS_MAX, 2 ** attempt));
        }
      }
    } finally {
      this.#lock.release();
    }
  }

  /** One attempt of a read-only transaction (write transactions go through #group). */
  async #read<T>(fn: (tx: MetaTxn) => Promise<T>): Promise<T> {
    this.#begin.run();
    try {
      const result = await fn(new SqliteTxn(this.#stmts, undefined));
      this.#commit.run();
      return result;
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** SQLite is a local file: the host that opens it is the only clock there is. */
  async clockMs(): Promise<number> {
    return Date.now();
  }

  async incrCounter(name: CounterName, delta: number): Promise<number> {
    return this.txn(async () => {
      const row = this.#stmts
        .q(
          "INSERT INTO jfs_counter VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
        )
        .get(name, delta) as { value: number };
      return row.value;
    });
  }

  async destroy(): Promise<void> {
    const release = await this.#acquire();
    try {
      // Not under a deferred group's synchronous=NORMAL: this COMMIT is durable by itself.
      this.#setSyncMode(false);
      this.#db.exec("BEGIN IMMEDIATE");
      for (const table of TABLES ?? []) this.#db.exec(`DELETE FROM ${table}`);
      this.#db.exec("COMMIT");
    } finally {
      release();
    }
    await this.#durable();
  }

  commitToken(): SyncToken {
    return this.#group.token();
  }

  syncThrough(token: SyncToken): Promise<void> {
    return this.#group.syncThrough(token);
  }

  async close(): Promise<void> {
    let unsynced: unknown;
    // Deferred commits first: the barrier needs the WAL still open. The database closes even
    // if they could not be synced; the error says so.
    await this.#group.close().catch((error: unknown) => {
      unsynced = error;
    });
    const release = await this.#acquire();
    try {
      // Barriers of groups committed before: they settle their callers first.
      await this.#walSync?.close();
      this.#db.close();
    } finally {
      release();
    }
    if (unsynced !== undefined) throw unsynced;
  }
}

/**
 * fsyncs the directory holding a new database file and, when `firstCreatedDir` is set, the
 * parents of the directories created for it (SQLite syncs the directory of its WAL and
 * journals, not of the database file itself).
 */
function syncNewEntries(path: string, firstCreatedDir: string | undefined): void {
  const syncDir = (dir: string) => {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  let dir = dirname(path);
  syncDir(dir);
  if (firstCreatedDir === undefined) return;
  assert(dir.startsWith(firstCreatedDir), "mkdir creates ancestors of the database's directory");
  for (; ; dir = dirname(dir)) {
    syncDir(dirname(dir));
    if (dir === firstCreatedDir) break;
  }
}
