/**
 * Redis key names (the schema, with each key's type and value, and the reasons for it, is the
 * header of ../redis.ts) and reply decoding helpers.
 */
import { createHash } from "node:crypto";
import { assert, assertSafeUint } from "../../assert.ts";
import type { Ino } from "../interface.ts";

/** Keys per SCAN step and per UNLINK in destroy(). */
export const DESTROY_BATCH_KEYS = 1000;

export const int = (n: number): string => {
  assertSafeUint(n, "redis key number");
  return String(n);
};

export const KEY = {
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
  locks: (ino: Ino) => `l${int(ino)}`,
  locksBySession: (sid: number) => `sl${int(sid)}`,
  sessions: "sessions",
  setting: "setting",
  quotas: "quotas",
  quotaUsage: "quotaUsed",
} as const;

/** Exactly the keys of the schema above: what destroy() may remove. */
export const SCHEMA_KEY =
  /^(?:(?:i|d|ds|s|x|p|ci|r|o|so|l|sl)\d+|c\d+_\d+|unusedSlices|delfiles|sessions|setting|quotas|quotaUsed|nextInode|nextSliceId|nextEntrySeq|nextSession|usedSpace|usedInodes)$/;

/** KEYS[1] = ds{parent}, KEYS[2] = d{parent}, ARGV = "(afterSeq", limit -> name, entry, ... */
export const LIST_ENTRIES_LUA = `
local names = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
local out = {}
for i, name in ipairs(names) do
  out[2 * i - 1] = name
  out[2 * i] = redis.call('HGET', KEYS[2], name)
end
return out`;
export const LIST_ENTRIES_SHA = createHash("sha1").update(LIST_ENTRIES_LUA).digest("hex");

type Arg = string | number | Buffer;
export type Command = readonly [name: string, ...args: Arg[]];

// ---- replies (RESP3 with ioredis's legacy mapping; callBuffer keeps bulk strings as Buffers) ----

export function bulkOrUndefined(reply: unknown): Buffer | undefined {
  if (reply === null) return undefined;
  assert(Buffer.isBuffer(reply), "redis reply: expected a bulk string");
  return reply;
}

export function bulks(reply: unknown): Buffer[] {
  assert(Array.isArray(reply), "redis reply: expected an array");
  for (const item of reply) assert(Buffer.isBuffer(item), "redis reply: expected bulk strings");
  return reply as Buffer[];
}

export function integerReply(reply: unknown): number {
  assert(typeof reply === "number" && Number.isSafeInteger(reply), "redis reply: expected integer");
  return reply;
}

export function decimal(value: Buffer | string): number {
  const text = typeof value === "string" ? value : value.toString("latin1");
  const n = Number(text);
  assert(/^-?\d+$/.test(text) && Number.isSafeInteger(n), `redis value: not an integer: ${text}`);
  return n;
}

/** "{a}:{b}" members of unusedSlices and delfiles. */
export function pairMember(b: Buffer): [number, number] {
  const [a, c, ...rest] = b.toString("latin1").split(":");
  assert(a !== undefined && c !== undefined && rest.length === 0, "redis value: expected a:b");
  return [decimal(a), decimal(c)];
}

export function pipelineReplies(replies: [Error | null, unknown][] | null): unknown[] {
  assert(replies !== null, "pipeline without MULTI cannot be aborted");
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}
