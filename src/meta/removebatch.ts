/**
 * Removing many names of one directory in one transaction (`jfs rmr`): the unlink and rmdir
 * rules of remove.ts, applied to a batch, so a tree of N names costs N / RMR_BATCH_ENTRIES
 * commits rather than N. A batch commits whole or not at all, so an interrupted rmr leaves a
 * consistent tree (each name is there or gone with all it owned), which a second run finishes.
 *
 * The transaction discipline (txn.ts) forbids reading a record already written. Each victim
 * is a different inode with one link, so its reads (attr, open sessions, children) touch rows
 * no earlier victim wrote; a name whose inode has other links (its parents rows would be read
 * twice by two names of it) is left for a plain unlink, as are two names of one inode.
 */
import { assert } from "../assert.ts";
import { fsError } from "../errors.ts";
import { RMR_BATCH_ENTRIES, TRASH_INODE } from "../limits.ts";
import type { MetaCore } from "./core.ts";
import { mustGetAttr } from "./core.ts";
import { AccessMask, type Attr, type Credentials, FileType, type Ino } from "./interface.ts";
import {
  checkAccess,
  checkSticky,
  isDot,
  isDotDot,
  now,
  requireDirectory,
  touchDirectory,
  validateName,
} from "./policy.ts";
import { entryUsage, QuotaChange, quotaDirsOf } from "./quota.ts";
import { deleteInode, dropLink, type TrashTarget, trashTarget } from "./remove.ts";
import type { EntryRecord, MetaTxn } from "./txn.ts";

export interface RemovedBatch {
  files: number;
  dirs: number;
  /** Names not removed here: files with other hard links (unlink them one by one). */
  left: Buffer[];
}

interface Victim {
  name: Buffer;
  entry: EntryRecord;
  attr: Attr;
}

/** Reads what each name is; names gone already are skipped, hard-linked ones left over. */
async function victimsOf(
  tx: MetaTxn,
  ctx: Credentials,
  parent: Ino,
  dir: Attr,
  names: readonly Buffer[],
): Promise<{ victims: Victim[]; left: Buffer[] }> {
  const victims: Victim[] = [];
  const left: Buffer[] = [];
  const seen = new Set<Ino>();
  const entries = await Promise.all(names.map((name) => tx.getEntry(parent, name)));
  const present = names.flatMap((name, i) => {
    const entry = entries[i];
    return entry === undefined ? [] : [{ name, entry }];
  });
  const attrs = await tx.getAttrs(present.map((p) => p.entry.inode));
  for (const [i, { name, entry }] of present.entries()) {
    const attr = attrs[i];
    if (attr === undefined) throw fsError("EIO", `entry ${name} of ${parent} has no inode`);
    const linked = attr.type !== FileType.Directory && (attr.nlink > 1 || attr.parent === 0);
    if (linked || seen.has(entry.inode)) {
      left.push(name);
      continue;
    }
    seen.add(entry.inode);
    if (entry.inode === TRASH_INODE) throw fsError("EPERM", "the trash stays");
    checkSticky(ctx, dir, attr);
    victims.push({ name, entry, attr });
  }
  return { victims, left };
}

/**
 * Removes `names` of directory `parent`: files (into the trash when the volume keeps one) and
 * empty directories, in one transaction. ENOTEMPTY for a directory that is not empty.
 */
export async function removeBatch(
  core: MetaCore,
  ctx: Credentials,
  parent: Ino,
  names: readonly Buffer[],
): Promise<RemovedBatch> {
  assert(names.length <= RMR_BATCH_ENTRIES, "rmr batch too large");
  for (const name of names) {
    if (isDot(name) || isDotDot(name)) throw fsError("EINVAL", "cannot remove . or ..");
    validateName(name);
  }
  if (names.length === 0) return { files: 0, dirs: 0, left: [] };
  // One trash entry sequence per name, reserved outside the transaction (it may run again).
  const first = await trashTarget(core, parent);
  const seqs = first === undefined ? [] : [first.seq];
  while (first !== undefined && seqs.length < names.length) seqs.push(await core.seqs.next());
  return core.txn(async (tx) => {
    const dir = await mustGetAttr(tx, parent);
    requireDirectory(dir);
    checkAccess(ctx, dir, AccessMask.W | AccessMask.X);
    // Removing from the trash itself deletes for real.
    const keep = dir.parent === TRASH_INODE ? undefined : first;
    if (keep && !(await tx.getAttr(keep.dir))) {
      core.trashDirs.clear();
      throw fsError("EAGAIN", "trash directory vanished; try again");
    }
    const { victims, left } = await victimsOf(tx, ctx, parent, dir, names);
    const dirs = victims.filter((v) => v.attr.type === FileType.Directory);
    const files = victims.filter((v) => v.attr.type !== FileType.Directory);
    // Reads of different keys at once: on Redis and PostgreSQL each is a round trip.
    const full = await Promise.all(dirs.map((v) => tx.hasEntries(v.entry.inode)));
    if (full.some((f) => f)) throw fsError("ENOTEMPTY");
    // As unlink and rmdir do (remove.ts dischargeEntry): every victim gives back what it charged
    // to the quotas above `parent`, read before `parent` is written; a removed directory's own
    // quota goes with it.
    const quotas = await tx.listQuotas();
    if (quotas.size > 0 && victims.length > 0) {
      const above = await quotaDirsOf(tx, quotas, parent, dir);
      const change = new QuotaChange();
      for (const v of victims) {
        if (v.attr.type === FileType.Directory && quotas.has(v.entry.inode)) {
          tx.deleteQuota(v.entry.inode);
        }
        change.add(above, entryUsage(v.attr), -1);
      }
      change.apply(tx);
    }
    const t = now();
    for (const v of dirs) {
      tx.deleteEntry(parent, v.name, v.entry);
      dir.nlink--;
      deleteInode(tx, v.entry.inode, v.attr);
    }
    // Each file is its own inode with one link (victimsOf): their dropLinks touch disjoint
    // records (and add to counters), so they may run at once.
    await Promise.all(
      files.map((v, i) => {
        tx.deleteEntry(parent, v.name, v.entry);
        const trash: TrashTarget | undefined =
          keep === undefined ? undefined : { dir: keep.dir, seq: seqs[i]! };
        return dropLink(tx, { ino: v.entry.inode, attr: v.attr, parent, name: v.name, trash, t });
      }),
    );
    const done = { files: files.length, dirs: dirs.length, left };
    if (victims.length > 0) {
      touchDirectory(dir, t);
      tx.setAttr(parent, dir);
    }
    return done;
  });
}
