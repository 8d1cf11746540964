/**
 * One optimistic Redis transaction: a read WATCHes its keys and reads them in one pipelined round
 * trip; writes are buffered and sent as MULTI ... EXEC by commit(). See ../redis.ts for the
 * key schema.
 */
import type { Redis } from "ioredis";
import { assert, assertSafeUint } from "../../assert.ts";
import { describeError } from "../../errors.ts";
import {
  decodeAttr,
  decodeEntry,
  decodeSlices,
  encodeAttr,
  encodeEntry,
  encodeSlice,
  encodeSlices,
} from "../codec.ts";
import type { Attr, Ino, SessionInfo, Slice, UnusedSlice } from "../interface.ts";
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
import {
  bulkOrUndefined,
  bulks,
  type Command,
  decimal,
  int,
  integerReply,
  KEY,
  LIST_ENTRIES_LUA,
  LIST_ENTRIES_SHA,
  pairMember,
  pipelineReplies,
} from "./keys.ts";
export class RedisTxn implements MetaTxn {
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

  /**
   * Members are "ID:SIZE" scored by ID; a page after `after` starts past its rank. Redis has no
   * snapshot: a member removed meanwhile (gc) restarts the page at the next ID.
   */
  async listUnusedSlices(limit: number, after?: UnusedSlice): Promise<UnusedSlice[]> {
    if (limit <= 0) return this.#nothing([K.unused()]);
    const key = KEY.unusedSlices;
    let reply: unknown;
    if (after) {
      const member = `${int(after.id)}:${int(after.size)}`;
      const rank = await this.#query([K.unused()], [key], ["ZRANK", key, member]);
      reply =
        rank === null
          ? await this.#query(
              [K.unused()],
              [key],
              ["ZRANGE", key, `(${int(after.id)}`, "+inf", "BYSCORE", "LIMIT", 0, limit],
            )
          : await this.#query(
              [K.unused()],
              [key],
              ["ZRANGE", key, Number(rank) + 1, Number(rank) + limit],
            );
    } else {
      reply = await this.#query([K.unused()], [key], ["ZRANGE", key, 0, limit - 1]);
    }
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

  /** Members "INODE:SIZE" scored by inode, one per inode: pages by score. */
  async listDeletedFiles(limit: number, afterInode = 0): Promise<DeletedFile[]> {
    if (limit <= 0) return this.#nothing([K.deleted()]);
    const key = KEY.deletedFiles;
    const reply = await this.#query(
      [K.deleted()],
      [key],
      ["ZRANGE", key, `(${int(afterInode)}`, "+inf", "BYSCORE", "LIMIT", 0, limit],
    );
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

  async getLocks(ino: Ino): Promise<Map<number, LockRecord[]>> {
    const key = KEY.locks(ino);
    const reply = bulks(await this.#query([K.locks(ino)], [key], ["HGETALL", key]));
    const rows: Array<{ sid: number; records: string }> = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      rows.push({ sid: decimal(reply[i]!), records: reply[i + 1]!.toString("utf8") });
    }
    return decodeLockRows(rows);
  }

  setLocks(ino: Ino, sid: number, records: readonly LockRecord[]): void {
    const guard = [K.locks(ino), K.locksBySession(sid)];
    if (records.length === 0) {
      this.#write(
        guard,
        ["HDEL", KEY.locks(ino), int(sid)],
        ["SREM", KEY.locksBySession(sid), int(ino)],
      );
      return;
    }
    this.#write(
      guard,
      ["HSET", KEY.locks(ino), int(sid), JSON.stringify(records)],
      ["SADD", KEY.locksBySession(sid), int(ino)],
    );
  }

  async listLockedInodes(sid: number): Promise<Ino[]> {
    const key = KEY.locksBySession(sid);
    const members = bulks(await this.#query([K.locksBySession(sid)], [key], ["SMEMBERS", key]));
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
