/**
 * Directory quotas, kept inside the meta transactions (JuiceFS's dir quotas). Every entry below
 * a quota directory charges it 1 inode and chargedBytes of its inode, once per link: creating,
 * linking, writing, truncating, removing and renaming change the usage of every quota
 * directory on the path to the root, in the same transaction as the change itself, so the
 * usage never needs a scan (fsck --repair-quota recomputes it when it is damaged). The trash is
 * charged to no quota: an unlinked file leaves its quotas when it moves there.
 *
 * Exceeding a limit is EDQUOT. Like the volume capacity, the check reads the committed usage:
 * on Redis without WATCH (usage only changes by HINCRBY), so concurrent writers may overshoot
 * by what they write at the same moment, as in JuiceFS; SQLite serializes transactions, and
 * PostgreSQL's serializable transactions make writers under one quota retry instead. A walk
 * reads the directories up to the root in the transaction: a rename moving one conflicts.
 */
import { assert } from "../assert.ts";
import { fsError } from "../errors.ts";
import {
  QUOTA_DIR_DEPTH_MAX,
  QUOTA_PARENT_HINTS_MAX,
  QUOTA_RENAME_SCAN_ENTRIES_MAX,
  READDIR_ENTRIES_MAX,
  ROOT_INODE,
  TRASH_INODE,
} from "../limits.ts";
import { type Attr, FileType, type Ino } from "./interface.ts";
import { chargedBytes } from "./policy.ts";
import type { MetaTxn, QuotaLimits, QuotaRecord } from "./txn.ts";

export type Quotas = ReadonlyMap<Ino, QuotaLimits>;

export interface Usage {
  bytes: number;
  inodes: number;
}

/** What one entry of `attr` charges the quotas above it. */
export function entryUsage(attr: Pick<Attr, "type" | "size">): Usage {
  return { bytes: chargedBytes(attr), inodes: 1 };
}

/**
 * The quota directories an entry in directory `dir` charges: `dir` and its ancestors that have
 * a quota; none inside the trash. `dirAttr` saves a read when the caller has it. Must run
 * before the transaction writes any of those directories (reads never follow writes).
 */
export async function quotaDirsOf(
  tx: MetaTxn,
  quotas: Quotas,
  dir: Ino,
  dirAttr?: Attr,
): Promise<Ino[]> {
  if (quotas.size === 0) return [];
  const path = await pathToRoot(tx, dir, dirAttr);
  return path === undefined ? [] : path.filter((d) => quotas.has(d));
}

/**
 * Directory -> parent as last read here: a guess at the path to the root, so that one batched
 * read fetches every directory on it instead of one round trip per level. Only a hint: the walk
 * follows the parents it reads in the transaction, a wrong guess costs one more read.
 */
const parentHints = new Map<Ino, Ino>();

function noteParent(dir: Ino, parent: Ino): void {
  if (parentHints.size >= QUOTA_PARENT_HINTS_MAX) parentHints.clear();
  parentHints.set(dir, parent);
}

/** Levels fetched in one guessed read; a deeper path takes one more read per this many. */
const GUESSED_LEVELS_MAX = 256;

/** `dir` and the ancestors the hints expect above it, up to the root (not included). */
function guessedPath(dir: Ino): Ino[] {
  const path = [dir];
  for (let next = parentHints.get(dir); path.length < GUESSED_LEVELS_MAX; ) {
    if (next === undefined || next === ROOT_INODE || next === TRASH_INODE || next === 0) break;
    if (path.includes(next)) break;
    path.push(next);
    next = parentHints.get(next);
  }
  return path;
}

/** `dir` and its ancestors up to the root, as this transaction reads them; undefined in the trash. */
async function pathToRoot(tx: MetaTxn, dir: Ino, dirAttr?: Attr): Promise<Ino[] | undefined> {
  const read = new Map<Ino, Attr>();
  if (dirAttr) read.set(dir, dirAttr);
  const path: Ino[] = [];
  for (let cursor = dir; ; ) {
    if (cursor === TRASH_INODE) return undefined;
    path.push(cursor);
    if (cursor === ROOT_INODE || cursor === 0) return path;
    if (path.length > QUOTA_DIR_DEPTH_MAX) throw fsError("ELOOP", "directory tree too deep");
    if (!read.has(cursor)) {
      const guess = guessedPath(cursor);
      const attrs = await tx.getAttrs(guess);
      guess.forEach((ino, i) => {
        const a = attrs[i];
        if (a) read.set(ino, a);
      });
    }
    const attr = read.get(cursor);
    if (!attr) return path; // removed meanwhile: the engine's conflict check reruns us
    assert(attr.type === FileType.Directory, `quota walk reached non-directory ${cursor}`);
    noteParent(cursor, attr.parent);
    if (attr.parent === cursor) return path;
    cursor = attr.parent;
  }
}

/** The quota directories the links of a non-directory charge, one element per link. */
export async function quotaDirsOfInode(
  tx: MetaTxn,
  quotas: Quotas,
  ino: Ino,
  attr: Attr,
): Promise<Ino[]> {
  if (quotas.size === 0 || attr.nlink === 0) return []; // unlinked, open somewhere: no entry
  if (attr.type === FileType.Directory || attr.parent !== 0) {
    return quotaDirsOf(tx, quotas, attr.parent);
  }
  const dirs: Ino[] = [];
  for (const [parent, links] of await tx.getParents(ino)) {
    const above = await quotaDirsOf(tx, quotas, parent);
    for (let i = 0; i < links; i++) dirs.push(...above);
  }
  return dirs;
}

/** Usage changes per quota directory, checked and applied together. */
export class QuotaChange {
  readonly #byDir = new Map<Ino, Usage>();

  /** Adds `usage` times `sign` to each of `dirs` (a directory listed twice counts twice). */
  add(dirs: readonly Ino[], usage: Usage, sign: 1 | -1): this {
    for (const dir of dirs) {
      const u = this.#byDir.get(dir) ?? { bytes: 0, inodes: 0 };
      u.bytes += sign * usage.bytes;
      u.inodes += sign * usage.inodes;
      this.#byDir.set(dir, u);
    }
    return this;
  }

  /**
   * EDQUOT when a growth would take a quota past its limit; shrinking is always allowed. Reads
   * the usage of only the quotas that grow against a limit: a transaction that frees space
   * (or runs under unlimited quotas) never reads a usage, so never conflicts over one.
   */
  async check(tx: MetaTxn, quotas: Quotas): Promise<this> {
    const limited = [...this.#byDir].filter(([dir, u]) => {
      const q = quotas.get(dir);
      assert(q !== undefined, `quota change for ${dir} without a quota`);
      return (u.bytes > 0 && q.capacityBytes > 0) || (u.inodes > 0 && q.inodes > 0);
    });
    if (limited.length === 0) return this;
    const used = await tx.getQuotaUsage(limited.map(([dir]) => dir));
    for (const [i, [dir, u]] of limited.entries()) {
      const q = quotas.get(dir)!;
      const { usedBytes, usedInodes } = used[i]!;
      if (u.bytes > 0 && q.capacityBytes > 0 && usedBytes + u.bytes > q.capacityBytes) {
        throw fsError("EDQUOT", `space quota of directory inode ${dir} reached`);
      }
      if (u.inodes > 0 && q.inodes > 0 && usedInodes + u.inodes > q.inodes) {
        throw fsError("EDQUOT", `inode quota of directory inode ${dir} reached`);
      }
    }
    return this;
  }

  apply(tx: MetaTxn): void {
    for (const [dir, u] of this.#byDir) {
      if (u.bytes !== 0 || u.inodes !== 0) tx.addQuotaUsage(dir, u.bytes, u.inodes);
    }
  }
}

/**
 * A file's space changes by `bytes` (write, truncate, fallocate): charged to the quotas of
 * every link, EDQUOT when it grows past one. Call before writing the file's directories.
 */
export async function chargeSpace(
  tx: MetaTxn,
  quotas: Quotas,
  ino: Ino,
  attr: Attr,
  bytes: number,
): Promise<void> {
  if (bytes === 0 || quotas.size === 0) return;
  const dirs = await quotaDirsOfInode(tx, quotas, ino, attr);
  if (dirs.length === 0) return;
  const change = new QuotaChange().add(dirs, { bytes, inodes: 0 }, 1);
  (await change.check(tx, quotas)).apply(tx);
}

/**
 * What a directory and everything below it charges (itself included), counted entry by entry
 * without recursion. A subdirectory with a quota of its own is taken from its usage when
 * `trustNested` (renames); a recount (fsck) walks it too. Undefined past `entriesMax`.
 */
export async function subtreeUsage(
  tx: MetaTxn,
  quotas: Quotas,
  dir: Ino,
  dirAttr: Attr,
  options: { trustNested: boolean; entriesMax: number },
): Promise<Usage | undefined> {
  const total = entryUsage(dirAttr);
  const nestedUsage = async (ino: Ino) => {
    const [u] = await tx.getQuotaUsage([ino]);
    return u!;
  };
  if (options.trustNested && quotas.has(dir)) {
    const own = await nestedUsage(dir);
    return { bytes: total.bytes + own.usedBytes, inodes: 1 + own.usedInodes };
  }
  const queue: Ino[] = [dir];
  let counted = 0;
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    for (let after = 0; ; ) {
      const page = await tx.listEntries(next, after, READDIR_ENTRIES_MAX);
      if (page.length === 0) break;
      counted += page.length;
      if (counted > options.entriesMax) return undefined;
      const attrs = await tx.getAttrs(page.map((e) => e.inode));
      for (const [i, e] of page.entries()) {
        const attr = attrs[i];
        if (!attr) continue;
        if (options.trustNested && quotas.has(e.inode) && attr.type === FileType.Directory) {
          const own = await nestedUsage(e.inode);
          total.bytes += chargedBytes(attr) + own.usedBytes;
          total.inodes += 1 + own.usedInodes;
          continue;
        }
        total.bytes += chargedBytes(attr);
        total.inodes += 1;
        if (attr.type === FileType.Directory) queue.push(e.inode);
      }
      if (page.length < READDIR_ENTRIES_MAX) break;
      after = page.at(-1)!.seq;
    }
  }
  return total;
}

/** What moving the entry of `attr` charges: a directory brings its whole tree. */
export async function movedUsage(
  tx: MetaTxn,
  quotas: Quotas,
  ino: Ino,
  attr: Attr,
): Promise<Usage> {
  if (attr.type !== FileType.Directory) return entryUsage(attr);
  const options = { trustNested: true, entriesMax: QUOTA_RENAME_SCAN_ENTRIES_MAX };
  const usage = await subtreeUsage(tx, quotas, ino, attr, options);
  if (!usage) {
    throw fsError(
      "EXDEV",
      `directory inode ${ino} holds over ${QUOTA_RENAME_SCAN_ENTRIES_MAX} entries: too many to move across a quota boundary at once`,
    );
  }
  return usage;
}

/**
 * The quota nearest above `ino` (itself included), with its usage: what `df` in a quota
 * directory shows, as in JuiceFS. Undefined without one, or for a file with several links.
 */
export async function nearestQuota(tx: MetaTxn, ino: Ino): Promise<QuotaRecord | undefined> {
  const quotas = await tx.listQuotas();
  if (quotas.size === 0) return undefined;
  const attr = await tx.getAttr(ino);
  if (!attr) return undefined;
  const dir = attr.type === FileType.Directory ? ino : attr.parent;
  if (dir === 0) return undefined;
  const path = await pathToRoot(tx, dir, dir === ino ? attr : undefined);
  const inode = path?.find((d) => quotas.has(d));
  if (inode === undefined) return undefined;
  const [usage] = await tx.getQuotaUsage([inode]);
  return { inode, ...quotas.get(inode)!, ...usage! };
}

/** Every quota with its usage, by inode (jfs quota list, dump). */
export async function readQuotaRecords(tx: MetaTxn): Promise<QuotaRecord[]> {
  const limits = await tx.listQuotas();
  const inos = [...limits.keys()].sort((a, b) => a - b);
  const usage = await tx.getQuotaUsage(inos);
  return inos.map((inode, i) => ({ inode, ...limits.get(inode)!, ...usage[i]! }));
}

/** Quota directories in `a` that are not in `b`. */
export function quotaDirsOnlyIn(a: readonly Ino[], b: readonly Ino[]): Ino[] {
  return a.filter((d) => !b.includes(d));
}
