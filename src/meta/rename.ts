/**
 * rename(2) and renameat2(2) with RENAME_NOREPLACE / RENAME_EXCHANGE, atomically.
 */
import { fsError } from "../errors.ts";
import { ROOT_INODE, TRASH_INODE } from "../limits.ts";
import { type MetaCore, mustGetAttr } from "./core.ts";
import {
  AccessMask,
  type Attr,
  type Credentials,
  FileType,
  type Ino,
  type Renamed,
  RenameFlags,
} from "./interface.ts";
import {
  checkAccess,
  checkSticky,
  isDot,
  isDotDot,
  now,
  requireDirectory,
  setCtime,
  type Timestamp,
  touchDirectory,
  validateName,
} from "./policy.ts";
import { entryUsage, movedUsage, QuotaChange, quotaDirsOf, quotaDirsOnlyIn } from "./quota.ts";
import { deleteInode, dropLink, type TrashTarget, trashTarget } from "./remove.ts";
import type { EntryRecord, MetaTxn } from "./txn.ts";

export interface RenameArgs {
  srcParent: Ino;
  srcName: Buffer;
  dstParent: Ino;
  dstName: Buffer;
  flags: number;
}

export async function rename(core: MetaCore, ctx: Credentials, a: RenameArgs): Promise<Renamed> {
  validateRenameArgs(a);
  const seqs = [await core.seqs.next(), await core.seqs.next()] as const;
  const trash = await trashTarget(core, a.dstParent);
  return core.txn(async (tx) => {
    const srcDir = await mustGetAttr(tx, a.srcParent);
    const sameDir = a.srcParent === a.dstParent;
    const dstDir = sameDir ? srcDir : await mustGetAttr(tx, a.dstParent);
    requireDirectory(srcDir);
    requireDirectory(dstDir);
    checkAccess(ctx, srcDir, AccessMask.W | AccessMask.X);
    if (!sameDir) checkAccess(ctx, dstDir, AccessMask.W | AccessMask.X);
    if (dstDir.nlink === 0) throw fsError("ENOENT", "target directory was removed");
    const srcEntry = await tx.getEntry(a.srcParent, a.srcName);
    if (!srcEntry) throw fsError("ENOENT");
    const srcAttr = await mustGetAttr(tx, srcEntry.inode);
    checkSticky(ctx, srcDir, srcAttr);
    const dstEntry = await tx.getEntry(a.dstParent, a.dstName);
    const dstAttr = dstEntry ? await mustGetAttr(tx, dstEntry.inode) : undefined;
    if (dstAttr) checkSticky(ctx, dstDir, dstAttr);
    if (dstEntry?.inode === srcEntry.inode) {
      // Two links to one file: POSIX says do nothing and succeed; Linux's vfs_rename does so for
      // RENAME_EXCHANGE too (swapping them would move nothing, and moved the parent rows twice).
      return { inode: srcEntry.inode, attr: srcAttr, srcParentAttr: srcDir, dstParentAttr: dstDir };
    }
    if (a.flags & RenameFlags.NOREPLACE && dstEntry) throw fsError("EEXIST");
    const t = now();
    const own = { sid: core.sid, isOpen: (ino: Ino) => core.opens.isOpen(ino) };
    const plan: Plan = { tx, a, t, srcDir, dstDir, srcEntry, srcAttr, seqs, ctx, own };
    if (a.flags & RenameFlags.EXCHANGE) {
      if (!dstEntry || !dstAttr) throw fsError("ENOENT", "nothing to exchange with");
      await chargeExchange(plan, dstEntry.inode, dstAttr);
      await exchange(plan, dstEntry, dstAttr);
    } else {
      await move(plan, dstEntry, dstAttr, trash);
    }
    return { inode: srcEntry.inode, attr: srcAttr, srcParentAttr: srcDir, dstParentAttr: dstDir };
  });
}

function validateRenameArgs(a: RenameArgs): void {
  if (a.flags & ~(RenameFlags.NOREPLACE | RenameFlags.EXCHANGE)) throw fsError("EINVAL");
  if (a.flags & RenameFlags.NOREPLACE && a.flags & RenameFlags.EXCHANGE) {
    throw fsError("EINVAL", "NOREPLACE with EXCHANGE");
  }
  for (const name of [a.srcName, a.dstName]) {
    if (isDot(name) || isDotDot(name)) throw fsError("EBUSY", "rename of . or ..");
    validateName(name);
  }
  if (a.dstParent === TRASH_INODE) throw fsError("EPERM", "cannot move into the trash");
}

interface Plan {
  tx: MetaTxn;
  a: RenameArgs;
  t: Timestamp;
  ctx: Credentials;
  srcDir: Attr;
  dstDir: Attr;
  srcEntry: EntryRecord;
  srcAttr: Attr;
  seqs: readonly [number, number];
  own: { sid: number; isOpen(ino: Ino): boolean };
}

async function move(
  p: Plan,
  dstEntry: EntryRecord | undefined,
  dstAttr: Attr | undefined,
  trash: TrashTarget | undefined,
): Promise<void> {
  const { tx, a, t, srcDir, dstDir, srcEntry, srcAttr } = p;
  const srcIsDir = srcAttr.type === FileType.Directory;
  if (srcIsDir) await checkDirectoryMove(p, srcEntry.inode, srcAttr, a.srcParent, a.dstParent);
  if (dstEntry && dstAttr) {
    const dstIsDir = dstAttr.type === FileType.Directory;
    // Replacing an ancestor of the source: Linux answers ENOTEMPTY before any type check.
    if (dstIsDir && (await isAncestor(tx, dstEntry.inode, a.srcParent))) throw fsError("ENOTEMPTY");
    if (srcIsDir && !dstIsDir) throw fsError("ENOTDIR");
    if (!srcIsDir && dstIsDir) throw fsError("EISDIR");
    if (dstIsDir && (await tx.hasEntries(dstEntry.inode))) throw fsError("ENOTEMPTY");
  }
  // Before any write: the quota walk reads the directories this rename then changes.
  await chargeMove(p, dstEntry?.inode, dstAttr);
  if (dstEntry && dstAttr) {
    const dstIsDir = dstAttr.type === FileType.Directory;
    tx.deleteEntry(a.dstParent, a.dstName, dstEntry);
    if (dstIsDir) {
      dstDir.nlink--;
      deleteInode(tx, dstEntry.inode, dstAttr);
    } else {
      const inTrash = dstDir.parent === TRASH_INODE;
      const args = { ino: dstEntry.inode, attr: dstAttr, parent: a.dstParent, name: a.dstName, t };
      await dropLink(tx, { ...args, trash: inTrash ? undefined : trash, own: p.own });
    }
  }
  tx.deleteEntry(a.srcParent, a.srcName, srcEntry);
  tx.setEntry(a.dstParent, a.dstName, { ...srcEntry, seq: p.seqs[0] });
  if (a.srcParent !== a.dstParent) {
    if (srcIsDir) {
      srcDir.nlink--;
      dstDir.nlink++;
    }
    await reparent(tx, srcEntry.inode, srcAttr, a.srcParent, a.dstParent);
  }
  setCtime(srcAttr, t);
  tx.setAttr(srcEntry.inode, srcAttr);
  touchDirectories(p);
}

async function exchange(p: Plan, dstEntry: EntryRecord, dstAttr: Attr): Promise<void> {
  const { tx, a, t, srcEntry, srcAttr } = p;
  if (srcAttr.type === FileType.Directory) {
    await checkDirectoryMove(p, srcEntry.inode, srcAttr, a.srcParent, a.dstParent);
  }
  if (dstAttr.type === FileType.Directory) {
    await checkDirectoryMove(p, dstEntry.inode, dstAttr, a.dstParent, a.srcParent);
  }
  // Old records go first: the new ones carry new sequences (engines index by seq).
  tx.deleteEntry(a.srcParent, a.srcName, srcEntry);
  tx.deleteEntry(a.dstParent, a.dstName, dstEntry);
  tx.setEntry(a.dstParent, a.dstName, { ...srcEntry, seq: p.seqs[0] });
  tx.setEntry(a.srcParent, a.srcName, { ...dstEntry, seq: p.seqs[1] });
  if (a.srcParent !== a.dstParent) {
    const srcIsDir = srcAttr.type === FileType.Directory;
    const dstIsDir = dstAttr.type === FileType.Directory;
    if (srcIsDir !== dstIsDir) {
      const delta = srcIsDir ? 1 : -1;
      p.dstDir.nlink += delta;
      p.srcDir.nlink -= delta;
    }
    await reparent(tx, srcEntry.inode, srcAttr, a.srcParent, a.dstParent);
    await reparent(tx, dstEntry.inode, dstAttr, a.dstParent, a.srcParent);
  }
  setCtime(srcAttr, t);
  setCtime(dstAttr, t);
  tx.setAttr(srcEntry.inode, srcAttr);
  tx.setAttr(dstEntry.inode, dstAttr);
  touchDirectories(p);
}

/**
 * The quota side of a move: a replaced entry gives back what it charged at the target, and
 * the moved entry (a directory with its whole tree) leaves the quotas only above its old
 * place and joins those only above its new one; EDQUOT when one of those would overflow.
 */
async function chargeMove(p: Plan, victim: Ino | undefined, victimAttr: Attr | undefined) {
  const quotas = await p.tx.listQuotas();
  if (quotas.size === 0) return;
  const change = new QuotaChange();
  const dstDirs = await quotaDirsOf(p.tx, quotas, p.a.dstParent, p.dstDir);
  if (victim !== undefined && victimAttr) change.add(dstDirs, entryUsage(victimAttr), -1);
  if (p.a.srcParent !== p.a.dstParent) {
    const srcDirs = await quotaDirsOf(p.tx, quotas, p.a.srcParent, p.srcDir);
    const leaving = quotaDirsOnlyIn(srcDirs, dstDirs);
    const arriving = quotaDirsOnlyIn(dstDirs, srcDirs);
    if (leaving.length + arriving.length > 0) {
      const moved = await movedUsage(p.tx, quotas, p.srcEntry.inode, p.srcAttr);
      change.add(leaving, moved, -1).add(arriving, moved, 1);
    }
  }
  (await change.check(p.tx, quotas)).apply(p.tx);
  // An empty directory replaced: its quota goes with it (after the reads of check).
  if (victim !== undefined && victimAttr?.type === FileType.Directory && quotas.has(victim)) {
    p.tx.deleteQuota(victim);
  }
}

/** RENAME_EXCHANGE across quota boundaries: each side gives what it moves away, gains the other. */
async function chargeExchange(p: Plan, other: Ino, otherAttr: Attr): Promise<void> {
  if (p.a.srcParent === p.a.dstParent) return;
  const quotas = await p.tx.listQuotas();
  if (quotas.size === 0) return;
  const srcDirs = await quotaDirsOf(p.tx, quotas, p.a.srcParent, p.srcDir);
  const dstDirs = await quotaDirsOf(p.tx, quotas, p.a.dstParent, p.dstDir);
  const leaving = quotaDirsOnlyIn(srcDirs, dstDirs);
  const arriving = quotaDirsOnlyIn(dstDirs, srcDirs);
  if (leaving.length + arriving.length === 0) return;
  const there = await movedUsage(p.tx, quotas, p.srcEntry.inode, p.srcAttr);
  const back = await movedUsage(p.tx, quotas, other, otherAttr);
  const change = new QuotaChange()
    .add(leaving, there, -1)
    .add(leaving, back, 1)
    .add(arriving, there, 1)
    .add(arriving, back, -1);
  (await change.check(p.tx, quotas)).apply(p.tx);
}

function touchDirectories(p: Plan): void {
  touchDirectory(p.srcDir, p.t);
  p.tx.setAttr(p.a.srcParent, p.srcDir);
  if (p.a.srcParent !== p.a.dstParent) {
    touchDirectory(p.dstDir, p.t);
    p.tx.setAttr(p.a.dstParent, p.dstDir);
  }
}

/** One link of `ino` moves from directory `from` to directory `to`. */
async function reparent(tx: MetaTxn, ino: Ino, attr: Attr, from: Ino, to: Ino): Promise<void> {
  if (attr.type === FileType.Directory || attr.parent === from) {
    attr.parent = to;
    return;
  }
  const parents = await tx.getParents(ino);
  const fromLinks = parents.get(from) ?? 0;
  if (fromLinks > 0) tx.setParent(ino, from, fromLinks - 1);
  tx.setParent(ino, to, (parents.get(to) ?? 0) + 1);
}

/** Whether directory `ancestor` is `dir` or one of its ancestors. */
async function isAncestor(tx: MetaTxn, ancestor: Ino, dir: Ino): Promise<boolean> {
  for (let cursor = dir, depth = 0; ; depth++) {
    if (cursor === ancestor) return true;
    if (cursor === ROOT_INODE || depth > 100_000) return false;
    const attr = await mustGetAttr(tx, cursor);
    if (attr.parent === cursor || attr.parent === 0) return false;
    cursor = attr.parent;
  }
}

/**
 * A directory moving to another parent: the caller needs write permission on it (its ".."
 * changes) and the new parent must not be inside it.
 */
async function checkDirectoryMove(
  p: Plan,
  dirIno: Ino,
  dirAttr: Attr,
  from: Ino,
  to: Ino,
): Promise<void> {
  if (from === to) return;
  checkAccess(p.ctx, dirAttr, AccessMask.W);
  // Walk up from the new parent to the root; meeting the moved directory means a cycle.
  let cursor = to;
  for (let depth = 0; cursor !== ROOT_INODE; depth++) {
    if (cursor === dirIno) throw fsError("EINVAL", "cannot move a directory into itself");
    if (depth > 100_000) throw fsError("ELOOP", "directory tree too deep");
    const attr = await mustGetAttr(p.tx, cursor);
    if (attr.parent === cursor || attr.parent === 0) break;
    cursor = attr.parent;
  }
}
