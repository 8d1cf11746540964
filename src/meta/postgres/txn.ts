/**
 * One PostgreSQL transaction on one reserved connection (see postgres.ts for the schema). BEGIN
 * is sent with the first read, each read is one round trip (getAttrs one query for all its
 * inodes), and the writes are buffered and sent at commit together with COMMIT, pipelined: a
 * write transaction costs its reads plus one round trip. One-row writes to distinct rows go out
 * folded into one statement (see foldWrites).
 */
import type { ReservedSQL } from "bun";
import { assert, assertSafeUint } from "../../assert.ts";
import { PG_WRITES_PER_STATEMENT_MAX } from "../../limits.ts";
import { decodeSlices, encodeSlice, encodeSlices } from "../codec.ts";
import type { Attr, FileType, Ino, SessionInfo, Slice, UnusedSlice } from "../interface.ts";
import { decodeLockRows } from "../locks.ts";
import type {
  CounterName,
  DeletedFile,
  EntryRecord,
  LockRecord,
  MetaTxn,
  NamedEntryRecord,
} from "../txn.ts";
import { GuardKey as K, type TxnGuard } from "../txnguard.ts";

type Row = Record<string, unknown>;
type Statement = [sql: string, params: unknown[]];
/** A buffered write; `row` names the one row it changes, undefined when it may change several. */
interface Write {
  statement: Statement;
  row: string | undefined;
}

/** `sql` with each parameter $n renumbered $(n + offset) (our SQL has no other "$"). */
function shiftParams(sql: string, offset: number): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
}

/** One statement doing all of `writes`: `WITH w0 AS (first), w1 AS (second), ... last`. */
function foldStatements(writes: readonly Statement[]): Statement {
  assert(writes.length > 0, "nothing to fold");
  if (writes.length === 1) return writes[0]!;
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [sql, p] of writes) {
    parts.push(shiftParams(sql, params.length));
    params.push(...p);
  }
  const last = parts.pop()!;
  return [`WITH ${parts.map((sql, i) => `w${i} AS (${sql})`).join(", ")} ${last}`, params];
}

/**
 * The writes as few statements, in order. The sub-statements of one statement all see the same
 * snapshot, not each other's changes, and PostgreSQL leaves undefined which of two changes to
 * one row wins: so only one-row writes to distinct rows share a statement; a write that may
 * change several rows, or a row already changed in the run, starts a new one.
 */
export function foldWrites(writes: readonly Write[]): Statement[] {
  const out: Statement[] = [];
  let run: Statement[] = [];
  const rows = new Set<string>();
  const flush = (): void => {
    if (run.length > 0) out.push(foldStatements(run));
    run = [];
    rows.clear();
  };
  for (const w of writes) {
    if (w.row === undefined) {
      flush();
      out.push(w.statement);
      continue;
    }
    if (rows.has(w.row) || run.length >= PG_WRITES_PER_STATEMENT_MAX) flush();
    rows.add(w.row);
    run.push(w.statement);
  }
  flush();
  return out;
}

/** int8 columns arrive as decimal strings (Bun.sql without `bigint`); ours fit in 2^53. */
export function num(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  assert(Number.isSafeInteger(n), `not a safe integer: ${String(value)}`);
  return n;
}

function buf(value: unknown): Buffer {
  assert(value instanceof Uint8Array, "bytea column");
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
}

/** A PostgreSQL array literal of integers: '{1,2,3}' (sent as text, cast in the query). */
function intArray(values: readonly number[]): string {
  for (const v of values) assertSafeUint(v, "array element");
  return `{${values.join(",")}}`;
}

function rowToAttr(r: Row): Attr {
  return {
    type: num(r.type) as FileType,
    mode: num(r.mode),
    uid: num(r.uid),
    gid: num(r.gid),
    atime: num(r.atime),
    atimeNsec: num(r.atime_nsec),
    mtime: num(r.mtime),
    mtimeNsec: num(r.mtime_nsec),
    ctime: num(r.ctime),
    ctimeNsec: num(r.ctime_nsec),
    nlink: num(r.nlink),
    size: num(r.size),
    rdev: num(r.rdev),
    parent: num(r.parent),
    generation: num(r.generation),
  };
}

function attrParams(ino: Ino, a: Attr): unknown[] {
  return [
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
  ];
}

const NODE_COLUMNS =
  "type, mode, uid, gid, atime, atime_nsec, mtime, mtime_nsec, ctime, ctime_nsec, nlink, size, rdev, parent, generation";
const UPSERT_NODE = `INSERT INTO jfs_node (inode, ${NODE_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
 ON CONFLICT (inode) DO UPDATE SET (${NODE_COLUMNS}) = (${NODE_COLUMNS.split(", ")
   .map((c) => `excluded.${c}`)
   .join(", ")})`;

export class PgTxn implements MetaTxn {
  readonly #writes: Write[] = [];
  /** Read-only transactions: attrs that came with an entry (see #getEntryWithAttr). */
  readonly #entryAttrs = new Map<Ino, Attr>();
  /** Whether COMMIT was sent: from then on, a lost connection leaves the outcome unknown. */
  committing = false;

  /**
   * `begun` is the BEGIN already sent on `conn`; `guard` is undefined in a read-only
   * transaction; `shard` is the counter row this transaction adds its deltas to.
   */
  constructor(
    private readonly conn: ReservedSQL,
    private readonly begun: Promise<unknown>,
    private readonly guard: TxnGuard | undefined,
    private readonly shard: number,
  ) {}

  async #rows(guardKeys: string[], sql: string, params: unknown[]): Promise<Row[]> {
    this.guard?.reading(...guardKeys);
    const [, rows] = await Promise.all([this.begun, this.conn.unsafe(sql, params).execute()]);
    return rows as Row[];
  }

  async #row(guardKeys: string[], sql: string, params: unknown[]): Promise<Row | undefined> {
    return (await this.#rows(guardKeys, sql, params))[0];
  }

  /** A write that may change any number of rows (or none: `statement` omitted). */
  #write(guardKeys: string[], statement?: Statement): void {
    assert(this.guard, "write in a read-only transaction");
    this.guard.wrote(...guardKeys);
    if (statement) this.#writes.push({ statement, row: undefined });
  }

  /** A write of at most one row, the one `guardKeys[0]` names. */
  #writeRow(guardKeys: [string, ...string[]], statement: Statement): void {
    assert(this.guard, "write in a read-only transaction");
    this.guard.wrote(...guardKeys);
    this.#writes.push({ statement, row: guardKeys[0] });
  }

  /**
   * Sends the buffered writes and COMMIT in one pipeline and waits for all of them: the first
   * error, if any, is the outcome (PostgreSQL answers COMMIT of a failed transaction with a
   * rollback, not an error).
   */
  async commit(): Promise<void> {
    this.committing = true;
    const pending: Array<PromiseLike<unknown>> = [this.begun];
    for (const [sql, params] of foldWrites(this.#writes)) {
      pending.push(this.conn.unsafe(sql, params).execute());
    }
    pending.push(this.conn.unsafe("COMMIT").execute());
    const settled = await Promise.allSettled(pending);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** COMMIT without the buffered writes: whether what was read is still consistent. */
  async validate(): Promise<void> {
    this.#writes.length = 0;
    await this.commit();
  }

  async getAttr(ino: Ino): Promise<Attr | undefined> {
    const cached = this.#entryAttrs.get(ino);
    if (cached) return { ...cached };
    const r = await this.#row([K.attr(ino)], "SELECT * FROM jfs_node WHERE inode = $1", [ino]);
    return r ? rowToAttr(r) : undefined;
  }

  async getAttrs(inos: readonly Ino[]): Promise<Array<Attr | undefined>> {
    if (inos.length === 0) return [];
    const rows = await this.#rows(
      inos.map(K.attr),
      "SELECT * FROM jfs_node WHERE inode = ANY($1::int8[])",
      [intArray(inos)],
    );
    const byInode = new Map(rows.map((r) => [num(r.inode), rowToAttr(r)]));
    return inos.map((ino) => byInode.get(ino));
  }

  setAttr(ino: Ino, attr: Attr): void {
    this.#writeRow([K.attr(ino)], [UPSERT_NODE, attrParams(ino, attr)]);
  }

  deleteAttr(ino: Ino): void {
    this.#writeRow([K.attr(ino)], ["DELETE FROM jfs_node WHERE inode = $1", [ino]]);
  }

  async getEntry(parent: Ino, name: Buffer): Promise<EntryRecord | undefined> {
    if (!this.guard) return this.#getEntryWithAttr(parent, name);
    const r = await this.#row(
      [K.entry(parent, name)],
      "SELECT inode, type, seq FROM jfs_edge WHERE parent = $1 AND name = $2",
      [parent, name],
    );
    return r ? { inode: num(r.inode), type: num(r.type) as FileType, seq: num(r.seq) } : undefined;
  }

  /**
   * In a read-only transaction, the entry comes with its inode's attr, which a lookup reads
   * next: one round trip instead of two. Safe there only: the snapshot cannot change and the
   * transaction never writes; a write transaction reads no more rows than it asks for (each is
   * a serializable read dependency).
   */
  async #getEntryWithAttr(parent: Ino, name: Buffer): Promise<EntryRecord | undefined> {
    const r = await this.#row(
      [],
      `SELECT e.inode AS entry_inode, e.type AS entry_type, e.seq AS entry_seq, n.*
       FROM jfs_edge e LEFT JOIN jfs_node n ON n.inode = e.inode
       WHERE e.parent = $1 AND e.name = $2`,
      [parent, name],
    );
    if (!r) return undefined;
    const inode = num(r.entry_inode);
    if (r.inode !== null && r.inode !== undefined) this.#entryAttrs.set(inode, rowToAttr(r));
    return { inode, type: num(r.entry_type) as FileType, seq: num(r.entry_seq) };
  }

  setEntry(parent: Ino, name: Buffer, e: EntryRecord): void {
    assertSafeUint(e.seq, "entry seq");
    this.#writeRow(
      [K.entry(parent, name), K.entries(parent)],
      [
        `INSERT INTO jfs_edge VALUES ($1, $2, $3, $4, $5) ON CONFLICT (parent, name)
       DO UPDATE SET inode = excluded.inode, type = excluded.type, seq = excluded.seq`,
        [parent, name, e.inode, e.type, e.seq],
      ],
    );
  }

  deleteEntry(parent: Ino, name: Buffer, _e: EntryRecord): void {
    this.#writeRow(
      [K.entry(parent, name), K.entries(parent)],
      ["DELETE FROM jfs_edge WHERE parent = $1 AND name = $2", [parent, name]],
    );
  }

  async listEntries(parent: Ino, afterSeq: number, limit: number): Promise<NamedEntryRecord[]> {
    assertSafeUint(afterSeq, "afterSeq");
    if (limit <= 0) {
      this.guard?.reading(K.entries(parent));
      return [];
    }
    const rows = await this.#rows(
      [K.entries(parent)],
      "SELECT name, inode, type, seq FROM jfs_edge WHERE parent = $1 AND seq > $2 ORDER BY seq LIMIT $3",
      [parent, afterSeq, limit],
    );
    return rows.map((r) => ({
      name: buf(r.name),
      inode: num(r.inode),
      type: num(r.type) as FileType,
      seq: num(r.seq),
    }));
  }

  async hasEntries(parent: Ino): Promise<boolean> {
    const sql = "SELECT 1 FROM jfs_edge WHERE parent = $1 LIMIT 1";
    return (await this.#row([K.entries(parent)], sql, [parent])) !== undefined;
  }

  async getSymlink(ino: Ino): Promise<Buffer | undefined> {
    const sql = "SELECT target FROM jfs_symlink WHERE inode = $1";
    const r = await this.#row([K.symlink(ino)], sql, [ino]);
    return r ? buf(r.target) : undefined;
  }

  setSymlink(ino: Ino, target: Buffer): void {
    this.#writeRow(
      [K.symlink(ino)],
      [
        "INSERT INTO jfs_symlink VALUES ($1, $2) ON CONFLICT (inode) DO UPDATE SET target = excluded.target",
        [ino, target],
      ],
    );
  }

  deleteSymlink(ino: Ino): void {
    this.#writeRow([K.symlink(ino)], ["DELETE FROM jfs_symlink WHERE inode = $1", [ino]]);
  }

  async getXattr(ino: Ino, name: string): Promise<Buffer | undefined> {
    const sql = "SELECT value FROM jfs_xattr WHERE inode = $1 AND name = $2";
    const r = await this.#row([K.xattr(ino, name)], sql, [ino, name]);
    return r ? buf(r.value) : undefined;
  }

  setXattr(ino: Ino, name: string, value: Buffer): void {
    this.#writeRow(
      [K.xattr(ino, name), K.xattrs(ino)],
      [
        "INSERT INTO jfs_xattr VALUES ($1, $2, $3) ON CONFLICT (inode, name) DO UPDATE SET value = excluded.value",
        [ino, name, value],
      ],
    );
  }

  deleteXattr(ino: Ino, name: string): void {
    this.#writeRow(
      [K.xattr(ino, name), K.xattrs(ino)],
      ["DELETE FROM jfs_xattr WHERE inode = $1 AND name = $2", [ino, name]],
    );
  }

  /** The column's "C" collation sorts by the bytes of the UTF-8 names, as SQLite does. */
  async listXattrs(ino: Ino): Promise<string[]> {
    const sql = "SELECT name FROM jfs_xattr WHERE inode = $1 ORDER BY name";
    return (await this.#rows([K.xattrs(ino)], sql, [ino])).map((r) => String(r.name));
  }

  deleteXattrs(ino: Ino): void {
    this.#write([K.xattrs(ino)], ["DELETE FROM jfs_xattr WHERE inode = $1", [ino]]);
  }

  async getParents(ino: Ino): Promise<Map<Ino, number>> {
    const sql = "SELECT parent, links FROM jfs_parent WHERE inode = $1";
    const rows = await this.#rows([K.parents(ino)], sql, [ino]);
    return new Map(rows.map((r) => [num(r.parent), num(r.links)]));
  }

  setParent(ino: Ino, parent: Ino, links: number): void {
    const statement: Statement =
      links === 0
        ? ["DELETE FROM jfs_parent WHERE inode = $1 AND parent = $2", [ino, parent]]
        : [
            "INSERT INTO jfs_parent VALUES ($1, $2, $3) ON CONFLICT (inode, parent) DO UPDATE SET links = excluded.links",
            [ino, parent, links],
          ];
    this.#write([K.parents(ino)], statement);
  }

  deleteParents(ino: Ino): void {
    this.#write([K.parents(ino)], ["DELETE FROM jfs_parent WHERE inode = $1", [ino]]);
  }

  async getChunk(ino: Ino, chunkIndex: number): Promise<Slice[]> {
    const sql = "SELECT slices FROM jfs_chunk WHERE inode = $1 AND indx = $2";
    const r = await this.#row([K.chunk(ino, chunkIndex)], sql, [ino, chunkIndex]);
    return r ? decodeSlices(buf(r.slices)) : [];
  }

  /** A blind append: no read of the slice list, so concurrent writers need not conflict. */
  appendSlice(ino: Ino, chunkIndex: number, slice: Slice): void {
    this.#writeRow(
      [K.chunk(ino, chunkIndex), K.chunks(ino)],
      [
        `INSERT INTO jfs_chunk VALUES ($1, $2, $3) ON CONFLICT (inode, indx)
       DO UPDATE SET slices = jfs_chunk.slices || excluded.slices`,
        [ino, chunkIndex, encodeSlice(slice)],
      ],
    );
  }

  setChunk(ino: Ino, chunkIndex: number, slices: readonly Slice[]): void {
    const keys: [string, string] = [K.chunk(ino, chunkIndex), K.chunks(ino)];
    if (slices.length === 0) {
      this.#writeRow(keys, [
        "DELETE FROM jfs_chunk WHERE inode = $1 AND indx = $2",
        [ino, chunkIndex],
      ]);
      return;
    }
    this.#writeRow(keys, [
      "INSERT INTO jfs_chunk VALUES ($1, $2, $3) ON CONFLICT (inode, indx) DO UPDATE SET slices = excluded.slices",
      [ino, chunkIndex, encodeSlices(slices)],
    ]);
  }

  async listChunkIndexes(ino: Ino): Promise<number[]> {
    const sql = "SELECT indx FROM jfs_chunk WHERE inode = $1 ORDER BY indx";
    return (await this.#rows([K.chunks(ino)], sql, [ino])).map((r) => num(r.indx));
  }

  async getSliceExtraRefs(id: number): Promise<number> {
    const sql = "SELECT extra_refs FROM jfs_slice_ref WHERE id = $1";
    const r = await this.#row([K.sliceRefs(id)], sql, [id]);
    return r ? num(r.extra_refs) : 0;
  }

  setSliceExtraRefs(id: number, extraRefs: number): void {
    const statement: Statement =
      extraRefs === 0
        ? ["DELETE FROM jfs_slice_ref WHERE id = $1", [id]]
        : [
            "INSERT INTO jfs_slice_ref VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET extra_refs = excluded.extra_refs",
            [id, extraRefs],
          ];
    this.#writeRow([K.sliceRefs(id)], statement);
  }

  addUnusedSlices(slices: readonly UnusedSlice[]): void {
    if (slices.length === 0) {
      this.#write([K.unused()]);
      return;
    }
    this.#write(
      [K.unused()],
      [
        `INSERT INTO jfs_unused_slice SELECT * FROM unnest($1::int8[], $2::int8[])
       ON CONFLICT DO NOTHING`,
        [intArray(slices.map((s) => s.id)), intArray(slices.map((s) => s.size))],
      ],
    );
  }

  async listUnusedSlices(limit: number, after?: UnusedSlice): Promise<UnusedSlice[]> {
    if (limit <= 0) {
      this.guard?.reading(K.unused());
      return [];
    }
    const sql =
      "SELECT id, size FROM jfs_unused_slice WHERE (id, size) > ($2, $3) ORDER BY id, size LIMIT $1";
    const rows = await this.#rows([K.unused()], sql, [limit, after?.id ?? -1, after?.size ?? -1]);
    return rows.map((r) => ({ id: num(r.id), size: num(r.size) }));
  }

  deleteUnusedSlices(slices: readonly UnusedSlice[]): void {
    if (slices.length === 0) {
      this.#write([K.unused()]);
      return;
    }
    this.#write(
      [K.unused()],
      [
        `DELETE FROM jfs_unused_slice WHERE (id, size) IN
       (SELECT * FROM unnest($1::int8[], $2::int8[]))`,
        [intArray(slices.map((s) => s.id)), intArray(slices.map((s) => s.size))],
      ],
    );
  }

  addDeletedFile(file: DeletedFile): void {
    this.#write(
      [K.deleted()],
      [
        "INSERT INTO jfs_deleted_file VALUES ($1, $2) ON CONFLICT (inode) DO UPDATE SET size = excluded.size",
        [file.inode, file.sizeBytes],
      ],
    );
  }

  async listDeletedFiles(limit: number, afterInode = 0): Promise<DeletedFile[]> {
    if (limit <= 0) {
      this.guard?.reading(K.deleted());
      return [];
    }
    const sql = "SELECT inode, size FROM jfs_deleted_file WHERE inode > $2 ORDER BY inode LIMIT $1";
    const rows = await this.#rows([K.deleted()], sql, [limit, afterInode]);
    return rows.map((r) => ({ inode: num(r.inode), sizeBytes: num(r.size) }));
  }

  deleteDeletedFile(ino: Ino): void {
    this.#write([K.deleted()], ["DELETE FROM jfs_deleted_file WHERE inode = $1", [ino]]);
  }

  addOpen(sid: number, ino: Ino): void {
    this.#write(
      [K.openByInode(ino), K.openBySession(sid)],
      ["INSERT INTO jfs_open VALUES ($1, $2) ON CONFLICT DO NOTHING", [sid, ino]],
    );
  }

  deleteOpen(sid: number, ino: Ino): void {
    this.#write(
      [K.openByInode(ino), K.openBySession(sid)],
      ["DELETE FROM jfs_open WHERE sid = $1 AND inode = $2", [sid, ino]],
    );
  }

  async listOpenSessions(ino: Ino): Promise<number[]> {
    const sql = "SELECT sid FROM jfs_open WHERE inode = $1 ORDER BY sid";
    return (await this.#rows([K.openByInode(ino)], sql, [ino])).map((r) => num(r.sid));
  }

  async listOpenInodes(sid: number): Promise<Ino[]> {
    const sql = "SELECT inode FROM jfs_open WHERE sid = $1 ORDER BY inode";
    return (await this.#rows([K.openBySession(sid)], sql, [sid])).map((r) => num(r.inode));
  }

  async getLocks(ino: Ino): Promise<Map<number, LockRecord[]>> {
    const sql = "SELECT sid, records FROM jfs_lock WHERE inode = $1 ORDER BY sid";
    const rows = await this.#rows([K.locks(ino)], sql, [ino]);
    return decodeLockRows(rows.map((r) => ({ sid: num(r.sid), records: String(r.records) })));
  }

  setLocks(ino: Ino, sid: number, records: readonly LockRecord[]): void {
    const key = [K.locks(ino), K.locksBySession(sid)];
    if (records.length === 0) {
      this.#write(key, ["DELETE FROM jfs_lock WHERE inode = $1 AND sid = $2", [ino, sid]]);
      return;
    }
    this.#write(key, [
      "INSERT INTO jfs_lock VALUES ($1, $2, $3) ON CONFLICT (inode, sid) DO UPDATE SET records = excluded.records",
      [ino, sid, JSON.stringify(records)],
    ]);
  }

  async listLockedInodes(sid: number): Promise<Ino[]> {
    const sql = "SELECT inode FROM jfs_lock WHERE sid = $1 ORDER BY inode";
    return (await this.#rows([K.locksBySession(sid)], sql, [sid])).map((r) => num(r.inode));
  }

  async getCounter(name: CounterName): Promise<number> {
    const sql = "SELECT COALESCE(sum(value), 0)::int8 AS value FROM jfs_counter WHERE name = $1";
    return num((await this.#row([K.counter(name)], sql, [name]))?.value ?? 0);
  }

  /** Into this transaction's shard: concurrent transactions rarely touch the same row. */
  addCounter(name: CounterName, delta: number): void {
    assert(Number.isSafeInteger(delta), "counter delta");
    this.#writeRow(
      [K.counter(name)],
      [
        `INSERT INTO jfs_counter VALUES ($1, $2, $3) ON CONFLICT (name, shard)
       DO UPDATE SET value = jfs_counter.value + excluded.value`,
        [name, this.shard, delta],
      ],
    );
  }

  setSession(info: SessionInfo): void {
    this.#writeRow(
      [K.session(info.sid), K.sessions()],
      [
        "INSERT INTO jfs_session VALUES ($1, $2) ON CONFLICT (sid) DO UPDATE SET info = excluded.info",
        [info.sid, JSON.stringify(info)],
      ],
    );
  }

  async getSession(sid: number): Promise<SessionInfo | undefined> {
    const sql = "SELECT info FROM jfs_session WHERE sid = $1";
    const r = await this.#row([K.session(sid)], sql, [sid]);
    return r ? (JSON.parse(String(r.info)) as SessionInfo) : undefined;
  }

  async listSessions(): Promise<SessionInfo[]> {
    const sql = "SELECT info FROM jfs_session ORDER BY sid";
    const rows = await this.#rows([K.sessions()], sql, []);
    return rows.map((r) => JSON.parse(String(r.info)) as SessionInfo);
  }

  deleteSession(sid: number): void {
    this.#writeRow(
      [K.session(sid), K.sessions()],
      ["DELETE FROM jfs_session WHERE sid = $1", [sid]],
    );
  }

  async getSetting(): Promise<string | undefined> {
    const sql = "SELECT value FROM jfs_setting WHERE name = 'format'";
    const r = await this.#row([K.setting()], sql, []);
    return r ? String(r.value) : undefined;
  }

  setSetting(json: string): void {
    this.#writeRow(
      [K.setting()],
      [
        "INSERT INTO jfs_setting VALUES ('format', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [json],
      ],
    );
  }
}
