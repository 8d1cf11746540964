/**
 * Redis engine (ioredis). A volume owns its Redis database, as in JuiceFS: every key below
 * belongs to it, and destroy() removes exactly the keys this schema names (SCAN + UNLINK, no
 * FLUSHDB), so a stray key of another application survives. Key schema:
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
 *   sessions             hash     sid -> SessionInfo JSON
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
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { Redis, type RedisOptions } from "ioredis";
import { assert, assertSafeUint } from "../assert.ts";
import { describeError, UserError } from "../errors.ts";
import {
  REDIS_CONNECT_TIMEOUT_MS,
  REDIS_OPEN_TIMEOUT_MS,
  REDIS_TXN_CONNECTIONS_MAX,
  TXN_RETRIES_MAX,
  TXN_RETRY_BACKOFF_MS_MAX,
} from "../limits.ts";
import {
  decodeAttr,
  decodeEntry,
  decodeSlices,
  encodeAttr,
  encodeEntry,
  encodeSlice,
  encodeSlices,
} from "./codec.ts";
import type { Attr, Ino, SessionInfo, Slice, UnusedSlice } from "./interface.ts";
import {
  type CounterName,
  type DeletedFile,
  type EntryRecord,
  type MetaEngine,
  type MetaTxn,
  type NamedEntryRecord,
  TxnConflictError,
  type TxnOptions,
} from "./txn.ts";
import { GuardKey as K, TxnGuard } from "./txnguard.ts";

/** Keys per SCAN step and per UNLINK in destroy(). */
const DESTROY_BATCH_KEYS = 1000;

const int = (n: number): string => {
  assertSafeUint(n, "redis key number");
  return String(n);
};

const KEY = {
  attr: (ino: Ino) => `i${int(ino)}`,
  entries: (ino: Ino) => `d${int(ino)}`,
  entrySeqs: (ino: Ino) => `ds${int(ino)}`,
  symlink: (ino: Ino) => `s${int(ino)}`,
  xattrs: (ino: Ino) => `x${int(ino)}`,
  parents: (ino: Ino) => `p${int(ino)}`,
  chunk: (ino: Ino, indx: number) => `c${int(ino)}_${int(indx)}`,
  chunkIndexes: (ino: Ino) => `ci${int(ino)}`,
  sliceRefs: (id: number) => `r${int(id)}`,
  unusedSlices: "unusedSlices",
  deletedFiles: "delfiles",
  openByInode: (ino: Ino) => `o${int(ino)}`,
  openBySession: (sid: number) => `so${int(sid)}`,
  sessions: "sessions",
  setting: "setting",
} as const;

/** Exactly the keys of the schema above: what destroy() may remove. */
const SCHEMA_KEY =
  /^(?:(?:i|d|ds|s|x|p|ci|r|o|so)\d+|c\d+_\d+|unusedSlices|delfiles|sessions|setting|nextInode|nextSliceId|nextEntrySeq|nextSession|usedSpace|usedInodes)$/;

/** KEYS[1] = ds{parent}, KEYS[2] = d{parent}, ARGV = "(afterSeq", limit -> name, entry, ... */
const LIST_ENTRIES_LUA = `
local names = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
local out = {}
for i, name in ipairs(names) do
  out[2 * i - 1] = name
  out[2 * i] = redis.call('HGET', KEYS[2], name)
end
return out`;
const LIST_ENTRIES_SHA = createHash("sha1").update(LIST_ENTRIES_LUA).digest("hex");

type Arg = string | number | Buffer;
type Command = readonly [name: string, ...args: Arg[]];

// ---- replies (RESP3 with ioredis's legacy mapping; callBuffer keeps bulk strings as Buffers) ----

function bulkOrUndefined(reply: unknown): Buffer | undefined {
  if (reply === null) return undefined;
  assert(Buffer.isBuffer(reply), "redis reply: expected a bulk string");
  return reply;
}

function bulks(reply: unknown): Buffer[] {
  assert(Array.isArray(reply), "redis reply: expected an array");
  for (const item of reply) assert(Buffer.isBuffer(item), "redis reply: expected bulk strings");
  return reply as Buffer[];
}

function integerReply(reply: unknown): number {
  assert(typeof reply === "number" && Number.isSafeInteger(reply), "redis reply: expected integer");
  return reply;
}

function decimal(value: Buffer | string): number {
  const text = typeof value === "string" ? value : value.toString("latin1");
  const n = Number(text);
  assert(/^-?\d+$/.test(text) && Number.isSafeInteger(n), `redis value: not an integer: ${text}`);
  return n;
}

/** "{a}:{b}" members of unusedSlices and delfiles. */
function pairMember(b: Buffer): [number, number] {
  const [a, c, ...rest] = b.toString("latin1").split(":");
  assert(a !== undefined && c !== undefined && rest.length === 0, "redis value: expected a:b");
  return [decimal(a), decimal(c)];
}

function pipelineReplies(replies: [Error | null, unknown][] | null): unknown[] {
  assert(replies !== null, "pipeline without MULTI cannot be aborted");
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

class RedisTxn implements MetaTxn {
  readonly #writes: Command[] = [];
  readonly #watched = new Set<string>();

  /** `guard` is undefined in a read-only transaction, which runs on the shared connection. */
  constructor(
    private readonly conn: Redis,
    private readonly guard: TxnGuard | undefined,
  ) {}

  /**
   * Runs one read command. In a write transaction the keys not yet watched are WATCHed first, in
   * the same pipeline (one round trip); commands of one connection run in the order sent.
   */
  async #query(guardKeys: string[], watch: string[], command: Command): Promise<unknown> {
    this.guard?.reading(...guardKeys);
    const [name, ...args] = command;
    if (!this.guard) return this.conn.callBuffer(name, ...args);
    const fresh = watch.filter((k) => !this.#watched.has(k));
    for (const k of fresh) this.#watched.add(k);
    const pipeline = this.conn.pipeline();
    if (fresh.length > 0) pipeline.call("WATCH", ...fresh);
    pipeline.callBuffer(name, ...args);
    return pipelineReplies(await pipeline.exec()).at(-1);
  }

  /** A read of zero records (limit 0): checked by the guard, nothing to fetch or watch. */
  #nothing<T>(guardKeys: string[]): T[] {
    this.guard?.reading(...guardKeys);
    return [];
  }

  #write(guardKeys: string[], ...commands: Command[]): void {
    assert(this.guard, "write in a read-only transaction");
    this.guard.wrote(...guardKeys);
    this.#writes.push(...commands);
  }

  /**
   * Sends the buffered writes as MULTI ... EXEC (an empty one when there are none, to check the
   * watched keys). False when a watched key changed and nothing was applied.
   */
  async commit(): Promise<boolean> {
    if (this.#writes.length === 0 && this.#watched.size === 0) return true;
    const multi = this.conn.multi();
    for (const [name, ...args] of this.#writes) multi.call(name, ...args);
    const replies = await multi.exec();
    if (replies === null) return false;
    pipelineReplies(replies);
    return true;
  }

  /** Whether the reads so far are still current, without applying any write. */
  async validate(): Promise<boolean> {
    this.#writes.length = 0;
    return this.commit();
  }

  async getAttr(ino: Ino): Promise<Attr | undefined> {
    const key = KEY.attr(ino);
    const b = bulkOrUndefined(await this.#query([K.attr(ino)], [key], ["GET", key]));
    return b ? decodeAttr(b) : undefined;
  }

  async getAttrs(inos: readonly Ino[]): Promise<Array<Attr | undefined>> {
    if (inos.length === 0) return this.#nothing(inos.map(K.attr));
    const keys = inos.map(KEY.attr);
    const reply = await this.#query(inos.map(K.attr), keys, ["MGET", ...keys]);
    return (reply as unknown[]).map((r) => {
      const b = bulkOrUndefined(r);
      return b ? decodeAttr(b) : undefined;
    });
  }

  setAttr(ino: Ino, attr: Attr): void {
    this.#write([K.attr(ino)], ["SET", KEY.attr(ino), encodeAttr(attr)]);
  }

  deleteAttr(ino: Ino): void {
    this.#write([K.attr(ino)], ["DEL", KEY.attr(ino)]);
  }

  async getEntry(parent: Ino, name: Buffer): Promise<EntryRecord | undefined> {
    const key = KEY.entries(parent);
    const reply = await this.#query([K.entry(parent, name)], [key], ["HGET", key, name]);
    const b = bulkOrUndefined(reply);
    return b ? decodeEntry(b) : undefined;
  }

  setEntry(parent: Ino, name: Buffer, entry: EntryRecord): void {
    assertSafeUint(entry.seq, "entry seq");
    this.#write(
      [K.entry(parent, name), K.entries(parent)],
      ["HSET", KEY.entries(parent), name, encodeEntry(entry)],
      ["ZADD", KEY.entrySeqs(parent), entry.seq, name],
    );
  }

  deleteEntry(parent: Ino, name: Buffer, _entry: EntryRecord): void {
    this.#write(
      [K.entry(parent, name), K.entries(parent)],
      ["HDEL", KEY.entries(parent), name],
      ["ZREM", KEY.entrySeqs(parent), name],
    );
  }

  async listEntries(parent: Ino, afterSeq: number, limit: number): Promise<NamedEntryRecord[]> {
    assertSafeUint(afterSeq, "afterSeq");
    const guardKeys = [K.entries(parent)];
    if (limit <= 0) return this.#nothing(guardKeys);
    const keys = [KEY.entrySeqs(parent), KEY.entries(parent)];
    const args = [2, ...keys, `(${afterSeq}`, limit];
    let reply: unknown;
    try {
      reply = await this.#query(guardKeys, keys, ["EVALSHA", LIST_ENTRIES_SHA, ...args]);
    } catch (error: unknown) {
      if (!describeError(error).startsWith("NOSCRIPT")) throw error;
      reply = await this.#query(guardKeys, keys, ["EVAL", LIST_ENTRIES_LUA, ...args]);
    }
    const items = reply as unknown[];
    assert(Array.isArray(items) && items.length % 2 === 0, "listEntries reply");
    const out: NamedEntryRecord[] = [];
    for (let i = 0; i < items.length; i += 2) {
      const name = bulkOrUndefined(items[i]);
      const entry = bulkOrUndefined(items[i + 1]);
      assert(name && entry, `entry ${parent}/${name?.toString()} is in ds but not in d`);
      const record = decodeEntry(entry);
      assert(record.seq > afterSeq, "listEntries order");
      out.push({ name, ...record });
    }
    return out;
  }

  async hasEntries(parent: Ino): Promise<boolean> {
    const key = KEY.entries(parent);
    return integerReply(await this.#query([K.entries(parent)], [key], ["EXISTS", key])) === 1;
  }

  async getSymlink(ino: Ino): Promise<Buffer | undefined> {
    const key = KEY.symlink(ino);
    return bulkOrUndefined(await this.#query([K.symlink(ino)], [key], ["GET", key]));
  }

  setSymlink(ino: Ino, target: Buffer): void {
    this.#write([K.symlink(ino)], ["SET", KEY.symlink(ino), target]);
  }

  deleteSymlink(ino: Ino): void {
    this.#write([K.symlink(ino)], ["DEL", KEY.symlink(ino)]);
  }

  async getXattr(ino: Ino, name: string): Promise<Buffer | undefined> {
    const key = KEY.xattrs(ino);
    return bulkOrUndefined(await this.#query([K.xattr(ino, name)], [key], ["HGET", key, name]));
  }

  setXattr(ino: Ino, name: string, value: Buffer): void {
    this.#write([K.xattr(ino, name), K.xattrs(ino)], ["HSET", KEY.xattrs(ino), name, value]);
  }

  deleteXattr(ino: Ino, name: string): void {
    this.#write([K.xattr(ino, name), K.xattrs(ino)], ["HDEL", KEY.xattrs(ino), name]);
  }

  /** Sorted by the bytes of the UTF-8 names, as SQLite's BINARY collation sorts them. */
  async listXattrs(ino: Ino): Promise<string[]> {
    const key = KEY.xattrs(ino);
    const names = bulks(await this.#query([K.xattrs(ino)], [key], ["HKEYS", key]));
    return names.sort(Buffer.compare).map((b) => b.toString("utf8"));
  }

  deleteXattrs(ino: Ino): void {
    this.#write([K.xattrs(ino)], ["DEL", KEY.xattrs(ino)]);
  }

  async getParents(ino: Ino): Promise<Map<Ino, number>> {
    const key = KEY.parents(ino);
    const flat = bulks(await this.#query([K.parents(ino)], [key], ["HGETALL", key]));
    const parents = new Map<Ino, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      parents.set(decimal(flat[i]!), decimal(flat[i + 1]!));
    }
    return parents;
  }

  setParent(ino: Ino, parent: Ino, links: number): void {
    const key = KEY.parents(ino);
    const command: Command =
      links === 0 ? ["HDEL", key, int(parent)] : ["HSET", key, int(parent), int(links)];
    this.#write([K.parents(ino)], command);
  }

  deleteParents(ino: Ino): void {
    this.#write([K.parents(ino)], ["DEL", KEY.parents(ino)]);
  }

  async getChunk(ino: Ino, chunkIndex: number): Promise<Slice[]> {
    const key = KEY.chunk(ino, chunkIndex);
    const b = bulkOrUndefined(await this.#query([K.chunk(ino, chunkIndex)], [key], ["GET", key]));
    return b ? decodeSlices(b) : [];
  }

  appendSlice(ino: Ino, chunkIndex: number, slice: Slice): void {
    this.#write(
      [K.chunk(ino, chunkIndex), K.chunks(ino)],
      ["APPEND", KEY.chunk(ino, chunkIndex), encodeSlice(slice)],
      ["SADD", KEY.chunkIndexes(ino), int(chunkIndex)],
    );
  }

  setChunk(ino: Ino, chunkIndex: number, slices: readonly Slice[]): void {
    const key = KEY.chunk(ino, chunkIndex);
    const guardKeys = [K.chunk(ino, chunkIndex), K.chunks(ino)];
    const indexes = KEY.chunkIndexes(ino);
    if (slices.length === 0) {
      this.#write(guardKeys, ["DEL", key], ["SREM", indexes, int(chunkIndex)]);
    } else {
      this.#write(
        guardKeys,
        ["SET", key, encodeSlices(slices)],
        ["SADD", indexes, int(chunkIndex)],
      );
    }
  }

  async listChunkIndexes(ino: Ino): Promise<number[]> {
    const key = KEY.chunkIndexes(ino);
    const members = bulks(await this.#query([K.chunks(ino)], [key], ["SMEMBERS", key]));
    return members.map(decimal).sort((a, b) => a - b);
  }

  async getSliceExtraRefs(id: number): Promise<number> {
    const key = KEY.sliceRefs(id);
    const b = bulkOrUndefined(await this.#query([K.sliceRefs(id)], [key], ["GET", key]));
    return b ? decimal(b) : 0;
  }

  setSliceExtraRefs(id: number, extraRefs: number): void {
    const key = KEY.sliceRefs(id);
    const command: Command = extraRefs === 0 ? ["DEL", key] : ["SET", key, int(extraRefs)];
    this.#write([K.sliceRefs(id)], command);
  }

  addUnusedSlices(slices: readonly UnusedSlice[]): void {
    const members = slices.flatMap((s) => [int(s.id), `${int(s.id)}:${int(s.size)}`]);
    if (members.length === 0) this.#write([K.unused()]);
    else this.#write([K.unused()], ["ZADD", KEY.unusedSlices, ...members]);
  }

  async listUnusedSlices(limit: number): Promise<UnusedSlice[]> {
    if (limit <= 0) return this.#nothing([K.unused()]);
    const key = KEY.unusedSlices;
    const reply = await this.#query([K.unused()], [key], ["ZRANGE", key, 0, limit - 1]);
    return bulks(reply).map((m) => {
      const [id, size] = pairMember(m);
      return { id, size };
    });
  }

  deleteUnusedSlices(slices: readonly UnusedSlice[]): void {
    const members = slices.map((s) => `${int(s.id)}:${int(s.size)}`);
    if (members.length === 0) this.#write([K.unused()]);
    else this.#write([K.unused()], ["ZREM", KEY.unusedSlices, ...members]);
  }

  addDeletedFile(file: DeletedFile): void {
    const ino = int(file.inode);
    this.#write(
      [K.deleted()],
      ["ZREMRANGEBYSCORE", KEY.deletedFiles, ino, ino],
      ["ZADD", KEY.deletedFiles, ino, `${ino}:${int(file.sizeBytes)}`],
    );
  }

  async listDeletedFiles(limit: number): Promise<DeletedFile[]> {
    if (limit <= 0) return this.#nothing([K.deleted()]);
    const key = KEY.deletedFiles;
    const reply = await this.#query([K.deleted()], [key], ["ZRANGE", key, 0, limit - 1]);
    return bulks(reply).map((m) => {
      const [inode, sizeBytes] = pairMember(m);
      return { inode, sizeBytes };
    });
  }

  deleteDeletedFile(ino: Ino): void {
    this.#write([K.deleted()], ["ZREMRANGEBYSCORE", KEY.deletedFiles, int(ino), int(ino)]);
  }

  addOpen(sid: number, ino: Ino): void {
    this.#write(
      [K.openByInode(ino), K.openBySession(sid)],
      ["SADD", KEY.openByInode(ino), int(sid)],
      ["SADD", KEY.openBySession(sid), int(ino)],
    );
  }

  deleteOpen(sid: number, ino: Ino): void {
    this.#write(
      [K.openByInode(ino), K.openBySession(sid)],
      ["SREM", KEY.openByInode(ino), int(sid)],
      ["SREM", KEY.openBySession(sid), int(ino)],
    );
  }

  async listOpenSessions(ino: Ino): Promise<number[]> {
    const key = KEY.openByInode(ino);
    const members = bulks(await this.#query([K.openByInode(ino)], [key], ["SMEMBERS", key]));
    return members.map(decimal).sort((a, b) => a - b);
  }

  async listOpenInodes(sid: number): Promise<Ino[]> {
    const key = KEY.openBySession(sid);
    const members = bulks(await this.#query([K.openBySession(sid)], [key], ["SMEMBERS", key]));
    return members.map(decimal).sort((a, b) => a - b);
  }

  /** Not WATCHed: see the file comment. */
  async getCounter(name: CounterName): Promise<number> {
    const b = bulkOrUndefined(await this.#query([K.counter(name)], [], ["GET", name]));
    return b ? decimal(b) : 0;
  }

  addCounter(name: CounterName, delta: number): void {
    assert(Number.isSafeInteger(delta), "counter delta");
    this.#write([K.counter(name)], ["INCRBY", name, delta]);
  }

  setSession(info: SessionInfo): void {
    const command: Command = ["HSET", KEY.sessions, int(info.sid), JSON.stringify(info)];
    this.#write([K.session(info.sid), K.sessions()], command);
  }

  async getSession(sid: number): Promise<SessionInfo | undefined> {
    const key = KEY.sessions;
    const reply = await this.#query([K.session(sid)], [key], ["HGET", key, int(sid)]);
    const b = bulkOrUndefined(reply);
    return b ? (JSON.parse(b.toString("utf8")) as SessionInfo) : undefined;
  }

  async listSessions(): Promise<SessionInfo[]> {
    const key = KEY.sessions;
    const values = bulks(await this.#query([K.sessions()], [key], ["HVALS", key]));
    const sessions = values.map((b) => JSON.parse(b.toString("utf8")) as SessionInfo);
    return sessions.sort((a, b) => a.sid - b.sid);
  }

  deleteSession(sid: number): void {
    this.#write([K.session(sid), K.sessions()], ["HDEL", KEY.sessions, int(sid)]);
  }

  async getSetting(): Promise<string | undefined> {
    const key = KEY.setting;
    const b = bulkOrUndefined(await this.#query([K.setting()], [key], ["GET", key]));
    return b?.toString("utf8");
  }

  setSetting(json: string): void {
    this.#write([K.setting()], ["SET", KEY.setting, json]);
  }
}

// ---- META-URL ----

export interface RedisUrl {
  /** redis[s]://[user:****@]host:port/db: the URL with its password masked. */
  display: string;
  db: number;
  options: RedisOptions;
}

const TLS_PARAMS = ["insecure-skip-verify", "tls-ca-cert-file", "tls-cert-file", "tls-key-file"];

/** Parses `redis[s]://[[user]:password@]host[:port][/db][?tls options]`; UserError otherwise. */
export function parseRedisUrl(raw: string): RedisUrl {
  const bad = (why: string) => new UserError(`Invalid META-URL "${maskUserInfo(raw)}": ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad("expected redis://[[user]:password@]host[:port][/db]");
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== "redis" && scheme !== "rediss") throw bad("the scheme must be redis or rediss");
  if (url.hostname === "") throw bad("no host");
  const dbText = url.pathname.replace(/^\//, "");
  if (!/^\d{0,9}$/.test(dbText)) throw bad("the database must be a number, as in redis://host/1");
  if (url.username !== "" && url.password === "") {
    throw bad("a user needs a password (redis://user:password@host, or redis://:password@host)");
  }
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw bad("bad %-escape in the user or password");
  }
  const db = dbText === "" ? 0 : Number(dbText);
  const port = url.port === "" ? 6379 : Number(url.port);
  const auth = password === "" ? "" : `${url.username}:****@`;
  const display = `${scheme}://${auth}${url.hostname}:${port}/${db}`;
  for (const name of url.searchParams.keys()) {
    if (scheme !== "rediss" || !TLS_PARAMS.includes(name)) {
      const known = scheme === "rediss" ? ` (known: ${TLS_PARAMS.join(", ")})` : "";
      throw bad(`unknown option "${name}"${known}`);
    }
  }
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    db,
    ...(username === "" ? {} : { username }),
    ...(password === "" ? {} : { password }),
    ...(scheme === "rediss" ? { tls: tlsOptions(url.searchParams, display) } : {}),
  };
  return { display, db, options };
}

function tlsOptions(params: URLSearchParams, display: string): ConnectionOptions {
  const file = (name: string): Buffer | undefined => {
    const path = params.get(name);
    if (path === null) return undefined;
    try {
      return readFileSync(path);
    } catch (error: unknown) {
      throw new UserError(
        `Cannot use ${display}: cannot read ${name} ${path}: ${describeError(error)}`,
      );
    }
  };
  const ca = file("tls-ca-cert-file");
  const cert = file("tls-cert-file");
  const key = file("tls-key-file");
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(params.get("insecure-skip-verify") === "true" ? { rejectUnauthorized: false } : {}),
  };
}

/** For a URL too broken to parse: hides everything before the last "@" that follows "//". */
function maskUserInfo(raw: string): string {
  return raw.replace(/^([^/]*\/\/)(.*)@/, (_, scheme: string, info: string) => {
    const colon = info.indexOf(":");
    return `${scheme}${colon < 0 ? "****" : `${info.slice(0, colon)}:****`}@`;
  });
}

// ---- connections ----

/**
 * Connections never reconnect by themselves: a WATCH does not survive a reconnect, and a command
 * replayed after one could apply twice. A lost connection fails what it had in flight, and the
 * engine replaces it on next use.
 */
const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
  retryStrategy: () => null,
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: false,
  connectionName: "jfs",
};

/** Connects, checks the database exists (ioredis only reports a failed SELECT as an event). */
async function connect(url: RedisUrl): Promise<Redis> {
  // Explicit replyMapping: the replies are decoded above assuming RESP2-shaped arrays.
  const conn = new Redis({ ...CONNECTION_OPTIONS, ...url.options, replyMapping: "legacy" });
  // ioredis rejects connect() with "Connection is closed."; the reason arrives as an event.
  let cause: unknown;
  conn.on("error", (error: unknown) => {
    cause ??= error;
  });
  const timer = setTimeout(() => {
    cause ??= new Error("timed out");
    conn.disconnect();
  }, REDIS_OPEN_TIMEOUT_MS);
  try {
    await conn.connect();
    await conn.select(url.db);
    await conn.ping();
    return conn;
  } catch (error: unknown) {
    conn.disconnect();
    const why = explainConnectError(cause ?? error, url);
    throw new UserError(`Cannot connect to ${url.display}: ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

function explainConnectError(error: unknown, url: RedisUrl): string {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : "";
  const text = describeError(error);
  const tls = url.options.tls !== undefined;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(text)) {
    return "authentication failed (check the password in the META-URL)";
  }
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ECONNRESET" || code === "EPIPE") {
    return `connection reset by the server${tls ? "" : " (if it serves TLS only, use rediss://)"}`;
  }
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(text)) {
    return `connection timed out${tls ? " (no TLS handshake: does the server serve TLS there?)" : ""}`;
  }
  if (/DB index is out of range/i.test(text)) {
    return `database ${url.db} does not exist (the server's "databases" setting is lower)`;
  }
  if (/certificate/i.test(text)) {
    return `${text} (trust its CA with ?tls-ca-cert-file=FILE, or ?insecure-skip-verify=true)`;
  }
  return text;
}

async function disconnect(conn: Redis): Promise<void> {
  if (conn.status === "ready") await conn.quit().catch(() => undefined);
  conn.disconnect();
}

/** Connections for write transactions, created on demand up to `sizeMax`, reused LIFO. */
class ConnectionPool {
  readonly #idle: Redis[] = [];
  readonly #waiters: PromiseWithResolvers<Redis>[] = [];
  /** Connections idle, lent out, or being created. */
  #count = 0;
  #closed = false;

  constructor(
    private readonly create: () => Promise<Redis>,
    private readonly sizeMax: number,
  ) {
    assert(sizeMax >= 1);
  }

  async acquire(): Promise<Redis> {
    assert(!this.#closed, "engine closed");
    for (let conn = this.#idle.pop(); conn; conn = this.#idle.pop()) {
      if (conn.status === "ready") return conn;
      this.#drop(conn);
    }
    if (this.#count < this.sizeMax) return this.#create();
    const waiter = Promise.withResolvers<Redis>();
    this.#waiters.push(waiter);
    return waiter.promise;
  }

  /** `reusable`: the connection holds no WATCH and no half-read reply. */
  release(conn: Redis, reusable: boolean): void {
    if (!reusable || conn.status !== "ready" || this.#closed) {
      this.#drop(conn);
      const waiter = this.#waiters.shift();
      if (waiter) this.#create().then(waiter.resolve, waiter.reject);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(conn);
    else this.#idle.push(conn);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error("engine closed"));
    await Promise.all(this.#idle.splice(0).map(disconnect));
  }

  async #create(): Promise<Redis> {
    this.#count++;
    try {
      return await this.create();
    } catch (error: unknown) {
      this.#count--;
      // The slot is free again: a waiter gets it (and its own error if this keeps failing).
      const waiter = this.#waiters.shift();
      if (waiter) this.#create().then(waiter.resolve, waiter.reject);
      throw error;
    }
  }

  #drop(conn: Redis): void {
    this.#count--;
    void disconnect(conn);
  }
}

// ---- the engine ----

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
    if (options?.readOnly === true)
      return fn(new RedisTxn(await this.#sharedConnection(), undefined));
    const conn = await this.#pool.acquire();
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
        await Bun.sleep(Math.random() * Math.min(TXN_RETRY_BACKOFF_MS_MAX, 2 ** attempt));
      }
    } finally {
      this.#pool.release(conn, reusable);
    }
  }

  async incrCounter(name: CounterName, delta: number): Promise<number> {
    assert(Number.isSafeInteger(delta), "counter delta");
    const conn = await this.#sharedConnection();
    return integerReply(await conn.callBuffer("INCRBY", name, delta));
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
