/**
 * Redis engine (ioredis): this file runs transactions; redis/keys.ts names the keys below,
 * redis/txn.ts reads and writes them, redis/connect.ts opens connections. A volume owns its
 * Redis database, as in JuiceFS: every key below belongs to it, and destroy() removes exactly
 * the keys this schema names (SCAN + UNLINK, no FLUSHDB), so a stray key of another application
 * survives. Key schema:
 *
 *   setting              string   the volume's JSON settings ("format")
 *   nextInode nextSliceId nextEntrySeq nextSession usedSpace usedInodes
 *                        string   counters (decimal; INCRBY)
 *   i{ino}               string   attr (codec.ts encodeAttr)
 *   d{ino}               hash     name (bytes) -> entry (codec.ts encodeEntry: inode, type, seq)
 *   ds{ino}              zset     member name (bytes), score seq: readdir order and cookie
 *   s{ino}               string   symlink target (bytes)
 *   x{ino}               hash     xattr name -> value (bytes)
 *   p{ino}               hash     parent inode -> links, for hard-linked files (attr.parent 0)
 *   c{ino}_{indx}        string   slices of chunk indx: 24-byte records (codec.ts), APPENDed
 *   ci{ino}              set      chunk indexes of ino that have slices (no SCAN for a file)
 *   r{id}                string   extra references of a shared slice (absent = 0)
 *   unusedSlices         zset     member "{id}:{size}", score id: slices whose objects may go
 *   delfiles             zset     member "{ino}:{size}", score ino: files awaiting chunk release
 *   o{ino}               set      sids that hold ino open
 *   so{sid}              set      inodes session sid holds open
 *   l{ino}               hash     sid -> JSON LockRecord[]: the locks that session holds on ino
 *   sl{sid}              set      inodes on which session sid holds locks
 *   sessions             hash     sid -> SessionInfo JSON
 *   quotas               hash     directory inode -> JSON QuotaLimits (jfs quota set)
 *   quotaUsed            hash     "{ino}b" / "{ino}i" -> bytes / inodes used below that
 *                                 directory (HINCRBY; read without WATCH, like counters)
 *
 * Departures from JuiceFS's redis.go, and why:
 * - A chunk is one string grown by APPEND, not a list of RPUSHed slices: one GET returns the
 *   exact bytes decodeSlices() takes, and a string costs less memory than list nodes.
 * - Slice references are one key per shared slice, not one "sliceRef" hash: WATCH is per key,
 *   so a single hash would make every transaction that frees slices conflict with every other.
 * - readdir is one Lua script (ZRANGEBYSCORE on ds, HGET on d per name): one round trip per
 *   page instead of two, and the page is read atomically.
 *
 * Transactions are optimistic, like JuiceFS's: a write transaction takes a connection of its own
 * (WATCH state belongs to a connection) from a pool of at most REDIS_TXN_CONNECTIONS_MAX; every
 * read WATCHes its keys and reads them in one pipelined round trip; writes are buffered and sent
 * as MULTI ... EXEC at the end. EXEC answering nil means a watched key changed: the function runs
 * again, up to TXN_RETRIES_MAX times with jittered backoff. A function that throws is checked
 * the same way (an empty MULTI/EXEC) before its error is believed: an error derived from a torn
 * read is retried, not reported. Counters are read without WATCH: they only change by INCRBY,
 * which commutes, and watching usedSpace would make every write conflict with every other; the
 * only decisions taken on them (capacity and inode quotas) are soft limits, as in JuiceFS.
 *
 * Read-only transactions use one shared connection (no WATCH, no MULTI) and are read-committed:
 * every value read was committed, each key read atomically (a readdir page too), but two reads
 * may see different commits. That is JuiceFS's behaviour for reads; base.ts's read paths treat
 * "entry found, inode gone" as ENOENT, which is also what a racing unlink would give.
 */
import type { Redis } from "ioredis";
import { AssertionError, assert } from "../assert.ts";
import { describeError, FsError, UserError } from "../errors.ts";
import { REDIS_TXN_CONNECTIONS_MAX, TXN_RETRIES_MAX, TXN_RETRY_BACKOFF_MS_MAX } from "../limits.ts";
import { txnRetried } from "../metrics/jfs.ts";
import { Errno } from "../posix.ts";
import {
  ConnectionPool,
  connect,
  disconnect,
  parseRedisUrl,
  type RedisUrl,
} from "./redis/connect.ts";
import {
  bulks,
  DESTROY_BATCH_KEYS,
  integerReply,
  LIST_ENTRIES_LUA,
  LIST_ENTRIES_SHA,
  SCHEMA_KEY,
} from "./redis/keys.ts";
import { RedisTxn } from "./redis/txn.ts";
import {
  type CounterName,
  type MetaEngine,
  type MetaTxn,
  TxnConflictError,
  type TxnOptions,
} from "./txn.ts";
import { TxnGuard } from "./txnguard.ts";

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

async function settle<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error: unknown) {
    return { ok: false, error };
  }
}

export class RedisEngine implements MetaEngine {
  readonly engine = "redis";
  readonly #url: RedisUrl;
  readonly #pool: ConnectionPool;
  /** For read-only transactions, incrCounter and destroy: no WATCH state, so shareable. */
  #shared: Redis;
  #sharedReplacing: Promise<Redis> | undefined;
  #closed = false;

  private constructor(url: RedisUrl, shared: Redis) {
    this.#url = url;
    this.#shared = shared;
    this.#pool = new ConnectionPool(() => connect(url), REDIS_TXN_CONNECTIONS_MAX);
  }

  get displayUrl(): string {
    return this.#url.display;
  }

  /** Connects and PINGs, so a wrong URL, password or database fails here, in one line. */
  static async open(rawUrl: string): Promise<RedisEngine> {
    const url = parseRedisUrl(rawUrl);
    const shared = await connect(url);
    try {
      const sha = await shared.script("LOAD", LIST_ENTRIES_LUA);
      assert(sha === LIST_ENTRIES_SHA, "script sha");
    } catch (error: unknown) {
      await disconnect(shared);
      throw new UserError(`Cannot use ${url.display}: ${describeError(error)}`);
    }
    return new RedisEngine(url, shared);
  }

  async txn<T>(fn: (tx: MetaTxn) => Promise<T>, options?: TxnOptions): Promise<T> {
    assert(!this.#closed, "engine closed");
    if (options?.readOnly === true) {
      const shared = await this.#reach(() => this.#sharedConnection());
      return fn(new RedisTxn(shared, undefined)).catch((error: unknown) => {
        throw this.#lost(shared, error);
      });
    }
    const conn = await this.#reach(() => this.#pool.acquire());
    try {
      return await this.#attempts(conn, fn);
    } catch (error: unknown) {
      throw this.#lost(conn, error);
    }
  }

  /** Runs `fn` on `conn` until it commits without conflict. */
  async #attempts<T>(conn: Redis, fn: (tx: MetaTxn) => Promise<T>): Promise<T> {
    let reusable = false;
    try {
      for (let attempt = 1; ; attempt++) {
        reusable = false;
        const tx = new RedisTxn(conn, new TxnGuard());
        const outcome = await settle(() => fn(tx));
        const current = await (outcome.ok ? tx.commit() : tx.validate()).catch((error: unknown) => {
          throw outcome.ok ? error : outcome.error;
        });
        reusable = true; // EXEC ran: no WATCH is left on the connection
        const conflict = !current || (!outcome.ok && outcome.error instanceof TxnConflictError);
        if (!conflict) {
          if (outcome.ok) return outcome.value;
          throw outcome.error;
        }
        if (attempt >= TXN_RETRIES_MAX) {
          throw new TxnConflictError(`transaction still conflicting after ${attempt} attempts`);
        }
        txnRetried(true);
        await Bun.sleep(Math.random() * Math.min(TXN_RETRY_BACKOFF_MS_MAX, 2 ** attempt));
      }
    } finally {
      this.#pool.release(conn, reusable);
    }
  }

  /** TIME of the server: every node of a volume agrees on it, whatever their own clocks say. */
  async clockMs(): Promise<number> {
    const conn = await this.#sharedConnection();
    const reply = bulks(await conn.callBuffer("TIME"));
    assert(reply.length === 2, "TIME reply");
    const seconds = Number(reply[0]!.toString("latin1"));
    const micros = Number(reply[1]!.toString("latin1"));
    assert(Number.isSafeInteger(seconds) && Number.isSafeInteger(micros), "TIME reply");
    return seconds * 1000 + Math.floor(micros / 1000);
  }

  async incrCounter(name: CounterName, delta: number): Promise<number> {
    assert(Number.isSafeInteger(delta), "counter delta");
    const conn = await this.#reach(() => this.#sharedConnection());
    try {
      return integerReply(await conn.callBuffer("INCRBY", name, delta));
    } catch (error: unknown) {
      throw this.#lost(conn, error);
    }
  }

  /**
   * A server that cannot be reached is EIO for the caller, in one line: the front ends report
   * it as such (FUSE EIO, NFS3ERR_IO), and writers keep their data to retry (an EIO is never a
   * refusal of the data itself).
   */
  #unreachable(error: unknown): FsError {
    return new FsError(Errno.EIO, `metadata engine ${this.#url.display}: ${describeError(error)}`);
  }

  async #reach(connect: () => Promise<Redis>): Promise<Redis> {
    try {
      return await connect();
    } catch (error: unknown) {
      throw this.#unreachable(error);
    }
  }

  /** `error` as is, unless it is the loss of `conn` (not an errno, a conflict or a bug). */
  #lost(conn: Redis, error: unknown): unknown {
    const ours =
      error instanceof FsError ||
      error instanceof TxnConflictError ||
      error instanceof AssertionError;
    // The stream stops being writable before ioredis gets to change the status.
    const usable = conn.status === "ready" && conn.stream.writable;
    return ours || usable ? error : this.#unreachable(error);
  }

  /** UNLINKs every key of the schema (not FLUSHDB: keys that are not ours stay). */
  async destroy(): Promise<void> {
    const conn = await this.#sharedConnection();
    let cursor = "0";
    do {
      const reply = await conn.callBuffer("SCAN", cursor, "COUNT", DESTROY_BATCH_KEYS);
      assert(Array.isArray(reply) && reply.length === 2, "SCAN reply");
      cursor = bulks([reply[0]])[0]!.toString("latin1");
      const ours = bulks(reply[1]).filter((k) => SCHEMA_KEY.test(k.toString("latin1")));
      if (ours.length > 0) await conn.callBuffer("UNLINK", ...ours);
    } while (cursor !== "0");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
    await disconnect(this.#shared);
  }

  /** The shared connection, replaced (once, for all callers) when it was lost. */
  async #sharedConnection(): Promise<Redis> {
    if (this.#shared.status === "ready") return this.#shared;
    this.#sharedReplacing ??= connect(this.#url)
      .then((conn) => {
        void disconnect(this.#shared);
        this.#shared = conn;
        return conn;
      })
      .finally(() => {
        this.#sharedReplacing = undefined;
      });
    return this.#sharedReplacing;
  }
}

export { parseRedisUrl } from "./redis/connect.ts";
