/**
 * Managing directory quotas (jfs quota, fsck --repair-quota): set, list, delete, and recount
 * the usage from the tree. Each change runs in one transaction with the count it needs, so a
 * quota never starts from, or is repaired to, a usage that writes racing it already changed.
 */
import { assert, assertSafeUint } from "../assert.ts";
import { fsError } from "../errors.ts";
import { QUOTA_DIR_DEPTH_MAX, READDIR_ENTRIES_MAX, ROOT_INODE, TRASH_INODE } from "../limits.ts";
import { type MetaCore, mustGetAttr } from "./core.ts";
import { FileType, type Ino } from "./interface.ts";
import { entryUsage, readQuotaRecords, subtreeUsage, type Usage } from "./quota.ts";
import type { MetaTxn, QuotaLimits, QuotaRecord } from "./txn.ts";

const RECOUNT = { trustNested: false, entriesMax: Number.MAX_SAFE_INTEGER };

/** What a directory's tree charges its own quota: everything below it, not itself. */
async function countBelow(tx: MetaTxn, ino: Ino): Promise<Usage> {
  const attr = await mustGetAttr(tx, ino);
  const total = await subtreeUsage(tx, new Map(), ino, attr, RECOUNT);
  assert(total !== undefined, "an unbounded count always ends");
  const own = entryUsage(attr);
  return { bytes: total.bytes - own.bytes, inodes: total.inodes - own.inodes };
}

/**
 * Sets the limits of the quota on directory `ino`; a new quota starts from a count of its
 * tree, done in the same transaction. Returns the quota as stored.
 */
export async function setQuota(
  core: MetaCore,
  ino: Ino,
  limits: QuotaLimits,
): Promise<QuotaRecord> {
  assertSafeUint(limits.capacityBytes, "quota capacity");
  assertSafeUint(limits.inodes, "quota inodes");
  return core.txn(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    if (attr.type !== FileType.Directory) throw fsError("ENOTDIR", "quotas are set on directories");
    if (ino === TRASH_INODE || attr.parent === TRASH_INODE) {
      throw fsError("EPERM", "the trash has no quota");
    }
    const existing = (await tx.listQuotas()).has(ino);
    if (existing) {
      const [used] = await tx.getQuotaUsage([ino]);
      tx.setQuota(ino, limits);
      return { inode: ino, ...limits, ...used! };
    }
    tx.setQuota(ino, limits);
    const used = await countBelow(tx, ino);
    tx.addQuotaUsage(ino, used.bytes, used.inodes);
    return { inode: ino, ...limits, usedBytes: used.bytes, usedInodes: used.inodes };
  });
}

export async function listQuotas(core: MetaCore): Promise<QuotaRecord[]> {
  return core.read(readQuotaRecords);
}

/** Removes the quota on `ino`; false when it had none. */
export async function deleteQuota(core: MetaCore, ino: Ino): Promise<boolean> {
  return core.txn(async (tx) => {
    if (!(await tx.listQuotas()).has(ino)) return false;
    tx.deleteQuota(ino);
    return true;
  });
}

export interface QuotaRepair {
  before: QuotaRecord;
  after: QuotaRecord;
}

/** Recounts the usage of every quota (or the one on `only`); returns those that were wrong. */
export async function repairQuotas(core: MetaCore, only?: Ino): Promise<QuotaRepair[]> {
  const all = (await listQuotas(core)).map((q) => q.inode);
  const repaired: QuotaRepair[] = [];
  for (const ino of only === undefined ? all : all.filter((i) => i === only)) {
    const fixed = await core.txn(async (tx) => {
      const limits = (await tx.listQuotas()).get(ino);
      if (!limits) return undefined; // deleted meanwhile
      const [usage] = await tx.getQuotaUsage([ino]);
      const before: QuotaRecord = { inode: ino, ...limits, ...usage! };
      const used = await countBelow(tx, ino);
      const bytes = used.bytes - before.usedBytes;
      const count = used.inodes - before.usedInodes;
      if (bytes === 0 && count === 0) return undefined;
      tx.addQuotaUsage(ino, bytes, count);
      return { before, after: { ...before, usedBytes: used.bytes, usedInodes: used.inodes } };
    });
    if (fixed) repaired.push(fixed);
  }
  return repaired;
}

/**
 * The path of directory `ino` in the volume ("/a/b"), for listings: each name is found by
 * reading its parent's entries, page by page (directories have one parent).
 */
export async function directoryPath(core: MetaCore, ino: Ino): Promise<string> {
  return core.read(async (tx) => {
    const names: string[] = [];
    for (let cursor = ino, depth = 0; cursor !== ROOT_INODE; depth++) {
      if (depth > QUOTA_DIR_DEPTH_MAX) throw fsError("ELOOP", "directory tree too deep");
      const attr = await mustGetAttr(tx, cursor);
      const name = await nameIn(tx, attr.parent, cursor);
      if (name === undefined) return `(inode ${ino}, not in the tree)`;
      names.push(name);
      cursor = attr.parent;
    }
    return `/${names.reverse().join("/")}`;
  });
}

async function nameIn(tx: MetaTxn, parent: Ino, ino: Ino): Promise<string | undefined> {
  for (let after = 0; ; ) {
    const page = await tx.listEntries(parent, after, READDIR_ENTRIES_MAX);
    const found = page.find((e) => e.inode === ino);
    if (found) return found.name.toString("utf8");
    if (page.length < READDIR_ENTRIES_MAX) return undefined;
    after = page.at(-1)!.seq;
  }
}
