/**
 * PostgreSQL engine (Bun's built-in client, Bun.sql). Schema, in the database's current schema:
 *
 *   jfs_setting(name TEXT PK, value TEXT)          -- "format": the volume's JSON; "schema": version
 *   jfs_counter(name, shard, value; PK(name, shard))  -- a counter is the sum of its shard rows
 *   jfs_node(inode PK, type, mode, uid, gid, atime, atime_nsec, mtime, mtime_nsec,
 *            ctime, ctime_nsec, nlink, size, rdev, parent, generation)
 *   jfs_edge(parent, name BYTEA, inode, type, seq; PK(parent, name); UNIQUE(parent, seq))
 *   jfs_symlink(inode PK, target BYTEA)
 *   jfs_xattr(inode, name TEXT COLLATE "C", value BYTEA; PK(inode, name))
 *   jfs_parent(inode, parent, links; PK(inode, parent))
 *   jfs_chunk(inode, indx, slices BYTEA; PK(inode, indx))   -- 24-byte slice records (codec.ts)
 *   jfs_slice_ref(id PK, extra_refs)
 *   jfs_unused_slice(id, size; PK(id, size))
 *   jfs_deleted_file(inode PK, size)
 *   jfs_open(sid, inode; PK(sid, inode); INDEX(inode))
 *   jfs_lock(inode, sid, records TEXT; PK(inode, sid); INDEX(sid)) -- JSON LockRecord[]
 *   jfs_session(sid PK, info TEXT)
 *
 * Directory quotas live in jfs_setting ("quota/{ino}") and jfs_counter ("quota/{ino}/bytes",
 * "quota/{ino}/inodes", sharded like every counter): see quotarows.ts.
 *
 * Write transactions are SERIALIZABLE (the core's read-validate-write needs more than snapshot
 * isolation: a rename's cycle check is a read another rename may invalidate), read-only ones
 * REPEATABLE READ READ ONLY (one snapshot, never aborted). Serialization failures and deadlocks
 * (40001, 40P01) re-run the transaction. Counter deltas (usedSpace, usedInodes: every create and
 * write adds to them) go to one of PG_COUNTER_SHARDS rows picked per transaction, so concurrent
 * creates do not all update one row and abort each other.
 */
import { type ReservedSQL, SQL } from "bun";
import { AssertionError, assert } from "../assert.ts";
import { FsError, UserError } from "../errors.ts";
import {
  PG_CONNECT_TIMEOUT_S,
  PG_CONNECTIONS_MAX,
  PG_COUNTER_SHARDS,
  PG_OUTAGE_WAIT_MS_MAX,
  TXN_RETRIES_MAX,
  TXN_RETRY_BACKOFF_MS_MAX,
} from "../limits.ts";
import { txnRetried } from "../metrics/jfs.ts";
import { Errno } from "../posix.ts";
import { isConnectionLoss, isRetryable, pgErrorLine } from "./postgres/errors.ts";
import { num, PgTxn } from "./postgres/txn.ts";
import { type PostgresUrl, parsePostgresUrl } from "./postgres/url.ts";
import {
  type CounterName,
  type MetaEngine,
  type MetaTxn,
  TxnConflictError,
  type TxnOptions,
} from "./txn.ts";
import { TxnGuard } from "./txnguard.ts";

const SCHEMA_VERSION = "1";

const DDL = `
CREATE TABLE IF NOT EXISTS jfs_setting (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_counter (
  name TEXT NOT NULL, shard INT2 NOT NULL, value INT8 NOT NULL, PRIMARY KEY (name, shard));
CREATE TABLE IF NOT EXISTS jfs_node (
  inode INT8 PRIMARY KEY, type INT2 NOT NULL, mode INT4 NOT NULL,
  uid INT8 NOT NULL, gid INT8 NOT NULL,
  atime INT8 NOT NULL, atime_nsec INT4 NOT NULL, mtime INT8 NOT NULL,
  mtime_nsec INT4 NOT NULL, ctime INT8 NOT NULL, ctime_nsec INT4 NOT NULL,
  nlink INT4 NOT NULL, size INT8 NOT NULL, rdev INT8 NOT NULL,
  parent INT8 NOT NULL, generation INT8 NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_edge (
  parent INT8 NOT NULL, name BYTEA NOT NULL, inode INT8 NOT NULL, type INT2 NOT NULL,
  seq INT8 NOT NULL, PRIMARY KEY (parent, name));
CREATE UNIQUE INDEX IF NOT EXISTS jfs_edge_seq ON jfs_edge (parent, seq);
CREATE TABLE IF NOT EXISTS jfs_symlink (inode INT8 PRIMARY KEY, target BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_xattr (
  inode INT8 NOT NULL, name TEXT COLLATE "C" NOT NULL, value BYTEA NOT NULL,
  PRIMARY KEY (inode, name));
CREATE TABLE IF NOT EXISTS jfs_parent (
  inode INT8 NOT NULL, parent INT8 NOT NULL, links INT4 NOT NULL, PRIMARY KEY (inode, parent));
CREATE TABLE IF NOT EXISTS jfs_chunk (
  inode INT8 NOT NULL, indx INT4 NOT NULL, slices BYTEA NOT NULL, PRIMARY KEY (inode, indx));
CREATE TABLE IF NOT EXISTS jfs_slice_ref (id INT8 PRIMARY KEY, extra_refs INT4 NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_unused_slice (
  id INT8 NOT NULL, size INT8 NOT NULL, PRIMARY KEY (id, size));
CREATE TABLE IF NOT EXISTS jfs_deleted_file (inode INT8 PRIMARY KEY, size INT8 NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_open (
  sid INT8 NOT NULL, inode INT8 NOT NULL, PRIMARY KEY (sid, inode));
CREATE INDEX IF NOT EXISTS jfs_open_inode ON jfs_open (inode);
CREATE TABLE IF NOT EXISTS jfs_session (sid INT8 PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jfs_lock (
  inode INT8 NOT NULL, sid INT8 NOT NULL, records TEXT NOT NULL, PRIMARY KEY (inode, sid));
CREATE INDEX IF NOT EXISTS jfs_lock_sid ON jfs_lock (sid);
`;

const TABLES = [...DDL.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)/g)].map((m) => m[1]!);
/** Serializes concurrent schema creation (CREATE TABLE IF NOT EXISTS races on pg_type). */
const SCHEMA_LOCK_KEY = 0x6a6673; // "jfs"

const BEGIN_WRITE = "BEGIN ISOLATION LEVEL SERIALIZABLE";
const BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

export interface PostgresOpenOptions {
  /** Create the schema in a database without one (format does; status and mount do not). */
  create?: boolean;
}

export class PostgresEngine implements MetaEngine {
  readonly engine = "postgres";
  readonly #sql: SQL;
  readonly #url: PostgresUrl;
  #closed = false;
  #retrying: Promise<void> = Promise.resolve();

  private constructor(sql: SQL, url: PostgresUrl) {
    this.#sql = sql;
    this.#url = url;
  }

  get displayUrl(): string {
    return this.#url.display;
  }

  /** Connects and checks the schema, so a wrong URL, password or database fails here, in one line. */
  static async open(raw: string, options: PostgresOpenOptions = {}): Promise<PostgresEngine> {
    const url = parsePostgresUrl(raw);
    const sql = new SQL({
      ...url.options,
      max: PG_CONNECTIONS_MAX,
      connectionTimeout: PG_CONNECT_TIMEOUT_S,
      prepare: true,
    });
    try {
      await sql.unsafe("SELECT 1");
    } catch (error: unknown) {
      await sql.close().catch(() => undefined);
      throw new UserError(`Cannot connect to ${url.display}: ${pgErrorLine(error, url)}`);
    }
    try {
      await ensureSchema(sql, url, options.create !== false);
    } catch (error: unknown) {
      await sql.close().catch(() => undefined);
      if (error instanceof UserError) throw error;
      throw new UserError(`Cannot use ${url.display}: ${pgErrorLine(error, url)}`);
    }
    return new PostgresEngine(sql, url);
  }

  /**
   * Runs `fn` in a transaction until it commits. A transaction that lost a race runs again in
   * this engine's retry turn, one at a time: concurrent creates in one directory all update its
   * attr and would otherwise keep aborting each other (PostgreSQL aborts, it does not merge).
   */
  async txn<T>(fn: (tx: MetaTxn) => Promise<T>, options?: TxnOptions): Promise<T> {
    assert(!this.#closed, "engine closed");
    const readOnly = options?.readOnly === true;
    const outageEnd = Date.now() + PG_OUTAGE_WAIT_MS_MAX;
    let endTurn: (() => void) | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        let conn: ReservedSQL;
        try {
          conn = await this.#sql.reserve();
        } catch (error: unknown) {
          if (!isConnectionLoss(error) || Date.now() > outageEnd) throw this.#unreachable(error);
          await backoff(attempt);
          continue;
        }
        const outcome = await this.#attempt(conn, fn, readOnly);
        if (outcome.ok) return outcome.value;
        const { error, sent } = outcome;
        if (isRetryable(error) || error instanceof TxnConflictError) {
          if (attempt >= TXN_RETRIES_MAX) {
            throw new TxnConflictError(`transaction still conflicting after ${attempt} attempts`);
          }
          txnRetried(true);
          if (endTurn === undefined) {
            endTurn = await this.#retryTurn();
            continue;
          }
        } else if (isConnectionLoss(error)) {
          // Lost before COMMIT went out: the server rolled the transaction back, so running it
          // again is safe. Lost during COMMIT: it may have been applied; the caller gets EIO.
          if (sent || Date.now() > outageEnd) throw this.#unreachable(error);
          txnRetried(false);
        } else {
          throw error;
        }
        await backoff(attempt);
      }
    } finally {
      endTurn?.();
    }
  }

  /** Waits for this engine's retry turn; call the result to pass it on. */
  async #retryTurn(): Promise<() => void> {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const previous = this.#retrying;
    this.#retrying = previous.then(() => ended);
    await previous;
    return end;
  }

  async #attempt<T>(
    conn: ReservedSQL,
    fn: (tx: MetaTxn) => Promise<T>,
    readOnly: boolean,
  ): Promise<{ ok: true; value: T } | { ok: false; error: unknown; sent: boolean }> {
    const begun = conn.unsafe(readOnly ? BEGIN_READ : BEGIN_WRITE).execute();
    // Its failure reaches whoever awaits it; a transaction that fails before any read or
    // commit (an assertion) never does, and that must not be an unhandled rejection.
    begun.catch(() => undefined);
    const shard = Math.floor(Math.random() * PG_COUNTER_SHARDS);
    const tx = new PgTxn(conn, begun, readOnly ? undefined : new TxnGuard(), shard);
    // A read-only transaction's answer is known once its reads are: its COMMIT (which cannot
    // fail, nothing was written) goes out without being waited for, saving a round trip, and
    // the connection returns to the pool when it is done.
    let ending: Promise<void> | undefined;
    try {
      let value: T;
      try {
        value = await fn(tx);
      } catch (error: unknown) {
        if (!(error instanceof FsError || error instanceof UserError)) throw error;
        // An errno from what the transaction read: in a write transaction, committing it
        // (write-less) tells whether those reads were consistent (SSI validates at COMMIT).
        if (readOnly) ending = tx.commit();
        else await tx.validate();
        throw error;
      }
      if (readOnly) ending = tx.commit();
      else await tx.commit();
      return { ok: true, value };
    } catch (error: unknown) {
      if (!tx.committing || error instanceof AssertionError) await rollback(conn);
      return { ok: false, error, sent: tx.committing && !isRetryable(error) };
    } finally {
      const release = () => conn.release().catch(() => undefined);
      if (ending) void ending.then(release, release);
      else await release();
    }
  }

  /** now() of the server: every node of a volume agrees on it, whatever their own clocks say. */
  async clockMs(): Promise<number> {
    const rows = await this.#autocommit(
      "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8 AS ms",
      [],
    );
    return num(rows[0]?.ms);
  }

  /**
   * One statement outside any transaction. Retried over an outage even when the answer was lost:
   * a counter reservation applied twice only skips numbers.
   */
  async incrCounter(name: CounterName, delta: number): Promise<number> {
    assert(Number.isSafeInteger(delta), "counter delta");
    const rows = await this.#autocommit(
      `WITH up AS (INSERT INTO jfs_counter VALUES ($1, 0, $2) ON CONFLICT (name, shard)
         DO UPDATE SET value = jfs_counter.value + excluded.value RETURNING value)
       SELECT (SELECT value FROM up) + COALESCE((SELECT sum(value) FROM jfs_counter
         WHERE name = $1 AND shard <> 0), 0) AS value`,
      [name, delta],
    );
    return num(rows[0]?.value);
  }

  async #autocommit(sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
    assert(!this.#closed, "engine closed");
    const outageEnd = Date.now() + PG_OUTAGE_WAIT_MS_MAX;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#sql.unsafe(sql, params)) as Array<Record<string, unknown>>;
      } catch (error: unknown) {
        if (!isConnectionLoss(error) && !isRetryable(error)) throw error;
        if (Date.now() > outageEnd) throw this.#unreachable(error);
        await backoff(attempt);
      }
    }
  }

  /** A server that cannot be reached is EIO for the caller, in one line (as for Redis). */
  #unreachable(error: unknown): FsError {
    return new FsError(
      Errno.EIO,
      `metadata engine ${this.#url.display}: ${pgErrorLine(error, this.#url)}`,
    );
  }

  /** Deletes every row of the schema's tables; the tables stay, and nothing else is touched. */
  async destroy(): Promise<void> {
    const conn = await this.#sql.reserve();
    try {
      await conn.unsafe(BEGIN_WRITE);
      for (const table of TABLES) {
        if (table !== "jfs_setting") await conn.unsafe(`DELETE FROM ${table}`);
      }
      await conn.unsafe("DELETE FROM jfs_setting WHERE name = 'format'");
      await conn.unsafe("COMMIT");
    } catch (error: unknown) {
      await rollback(conn);
      throw error;
    } finally {
      await conn.release().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sql.close({ timeout: 5 });
  }
}

async function rollback(conn: ReservedSQL): Promise<void> {
  await conn.unsafe("ROLLBACK").catch(() => undefined);
}

async function backoff(attempt: number): Promise<void> {
  await Bun.sleep(Math.random() * Math.min(TXN_RETRY_BACKOFF_MS_MAX, 2 ** attempt));
}

/**
 * Creates the schema in a database that has none, under an advisory lock. Refuses a database
 * whose tables are not ours (another application's), and a jfs schema of another version.
 */
async function ensureSchema(sql: SQL, url: PostgresUrl, create: boolean): Promise<void> {
  const rows = await sql.unsafe(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
  );
  const names = (rows as Array<{ name: string }>).map((r) => r.name).sort();
  const ours = names.filter((n) => TABLES.includes(n));
  const others = names.filter((n) => !TABLES.includes(n));
  const where = `${url.display} (database "${url.database}")`;
  if (ours.length === 0) {
    if (!create)
      throw new UserError(`Cannot open volume "${url.display}": not formatted (run jfs format)`);
    if (others.length > 0) {
      const shown = others.slice(0, 5).join(", ") + (others.length > 5 ? ", ..." : "");
      throw new UserError(
        `Cannot use ${where}: it holds other tables (${shown}); give jfs a database of its own`,
      );
    }
  }
  if (ours.includes("jfs_setting")) {
    const version = await sql.unsafe("SELECT value FROM jfs_setting WHERE name = 'schema'");
    const found = (version as Array<{ value: string }>)[0]?.value;
    if (found !== undefined && found !== SCHEMA_VERSION) {
      throw new UserError(
        `Cannot use ${where}: its jfs schema is version ${found}, this jfs knows version ${SCHEMA_VERSION}`,
      );
    }
    if (ours.length === TABLES.length && found === SCHEMA_VERSION) return;
  }
  if (!create)
    throw new UserError(`Cannot open volume "${url.display}": not formatted (run jfs format)`);
  await sql.begin(async (tx) => {
    await tx.unsafe(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_KEY})`);
    await tx.unsafe(DDL).simple();
    await tx.unsafe(
      `INSERT INTO jfs_setting VALUES ('schema', '${SCHEMA_VERSION}') ON CONFLICT DO NOTHING`,
    );
  });
}

export { parsePostgresUrl } from "./postgres/url.ts";
