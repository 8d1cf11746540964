/**
 * Removing names: unlink, rmdir, and what happens to an inode that loses its last link
 * (trash, kept while open in some session, or deleted with its chunks queued for release).
 */
import { fsError } from "../errors.ts";
import { NAME_BYTES_MAX, TRASH_INODE } from "../limits.ts";
import { type MetaCore, mustGetAttr } from "./core.ts";
import { AccessMask, type Attr, type Credentials, FileType, type Ino } from "./interface.ts";
import { removeParentLink } from "./namespace.ts";
import {
  chargedBytes,
  checkAccess,
  checkSticky,
  isDot,
  isDotDot,
  newAttr,
  now,
  requireDirectory,
  setCtime,
  type Timestamp,
  touchDirectory,
  validateName,
} from "./policy.ts";
import { entryUsage, QuotaChange, type Quotas, quotaDirsOf } from "./quota.ts";
import type { MetaTxn } from "./txn.ts";

export async function unlink(
  core: MetaCore,
  ctx: Credentials,
  parent: Ino,
  name: Buffer,
): Promise<Attr> {
  if (isDot(name) || isDotDot(name)) throw fsError("EISDIR");
  validateName(name);
  const trash = await trashTarget(core, parent);
  return core.txn(async (tx) => {
    // Read together: one round trip on Redis.
    const [dir, entry, quotas] = await Promise.all([
      mustGetAttr(tx, parent),
      tx.getEntry(parent, name),
      tx.listQuotas(),
    ]);
    requireDirectory(dir);
    checkAccess(ctx, dir, AccessMask.W | AccessMask.X);
    if (!entry) throw fsError("ENOENT");
    const attr = await mustGetAttr(tx, entry.inode);
    if (attr.type === FileType.Directory) throw fsError("EISDIR");
    checkSticky(ctx, dir, attr);
    await dischargeEntry(tx, quotas, { parent, dir, ino: entry.inode, attr });
    const t = now();
    tx.deleteEntry(parent, name, entry);
    touchDirectory(dir, t);
    tx.setAttr(parent, dir);
    // Removing from the trash itself deletes for real.
    const keep = dir.parent === TRASH_INODE ? undefined : trash;
    if (keep && !(await tx.getAttr(keep.dir))) {
      core.trashDirs.clear();
      throw fsError("EAGAIN", "trash directory vanished; try again");
    }
    const own = { sid: core.sid, isOpen: (ino: Ino) => core.opens.isOpen(ino) };
    await dropLink(tx, { ino: entry.inode, attr, parent, name, trash: keep, t, own });
    return dir;
  });
}

export async function rmdir(
  core: MetaCore,
  ctx: Credentials,
  parent: Ino,
  name: Buffer,
): Promise<Attr> {
  if (isDot(name)) throw fsError("EINVAL", "rmdir .");
  if (isDotDot(name)) throw fsError("ENOTEMPTY", "rmdir ..");
  validateName(name);
  return core.txn(async (tx) => {
    const dir = await mustGetAttr(tx, parent);
    requireDirectory(dir);
    checkAccess(ctx, dir, AccessMask.W | AccessMask.X);
    const entry = await tx.getEntry(parent, name);
    if (!entry) throw fsError("ENOENT");
    if (entry.inode === TRASH_INODE) throw fsError("EPERM", "the trash stays");
    const attr = await mustGetAttr(tx, entry.inode);
    if (attr.type !== FileType.Directory) throw fsError("ENOTDIR");
    checkSticky(ctx, dir, attr);
    if (await tx.hasEntries(entry.inode)) throw fsError("ENOTEMPTY");
    await dischargeEntry(tx, await tx.listQuotas(), { parent, dir, ino: entry.inode, attr });
    const t = now();
    tx.deleteEntry(parent, name, entry);
    dir.nlink--;
    touchDirectory(dir, t);
    tx.setAttr(parent, dir);
    deleteInode(tx, entry.inode, attr);
    return dir;
  });
}

/**
 * The entry of `attr` leaves directory `parent`: the quotas above give back what it charged,
 * and a directory's own quota goes with it. Call before writing `parent` or its ancestors.
 */
export async function dischargeEntry(
  tx: MetaTxn,
  quotas: Quotas,
  e: { parent: Ino; dir: Attr; ino: Ino; attr: Attr },
): Promise<void> {
  if (quotas.size === 0) return;
  if (e.attr.type === FileType.Directory && quotas.has(e.ino)) tx.deleteQuota(e.ino);
  const dirs = await quotaDirsOf(tx, quotas, e.parent, e.dir);
  new QuotaChange().add(dirs, entryUsage(e.attr), -1).apply(tx);
}

export interface DropLinkArgs {
  ino: Ino;
  attr: Attr;
  /** The directory the name was removed from, and the name. */
  parent: Ino;
  name: Buffer;
  /** Where a file losing its last link goes; undefined when the trash is off. */
  trash: TrashTarget | undefined;
  t: Timestamp;
  /**
   * This session: its registration of a file it no longer has open (lingering after a close,
   * or registered ahead by a prefetch) holds nothing, so that row goes with the last link.
   */
  own?: { sid: number; isOpen(ino: Ino): boolean };
}

/**
 * One link of a non-directory (or the only one of an empty directory) is gone; the caller
 * already removed the entry and updated the parent. Writes the victim's new state.
 */
export async function dropLink(tx: MetaTxn, a: DropLinkArgs): Promise<void> {
  const { ino, attr, t } = a;
  if (attr.type === FileType.Directory) {
    deleteInode(tx, ino, attr);
    return;
  }
  await removeParentLink(tx, ino, attr, a.parent);
  attr.nlink--;
  setCtime(attr, t);
  if (attr.nlink > 0) {
    tx.setAttr(ino, attr);
    return;
  }
  if (a.trash !== undefined) {
    // Kept whole in the trash; the trash cleaner deletes it after trashDays.
    attr.nlink = 1;
    attr.parent = a.trash.dir;
    tx.setAttr(ino, attr);
    const entry = { inode: ino, type: attr.type, seq: a.trash.seq };
    tx.setEntry(a.trash.dir, trashName(a.parent, ino, a.name), entry);
    return;
  }
  let openIn = await tx.listOpenSessions(ino);
  const own = a.own;
  if (own !== undefined && own.sid !== 0 && openIn.includes(own.sid) && !own.isOpen(ino)) {
    tx.deleteOpen(own.sid, ino);
    openIn = openIn.filter((sid) => sid !== own.sid);
  }
  if (openIn.length > 0) {
    // Open somewhere: data stays until the last close (closeInode) or that session expires.
    tx.setAttr(ino, attr);
    return;
  }
  deleteInode(tx, ino, attr);
}

/** The inode is gone for good: its records are removed and its chunks queued for release. */
export function deleteInode(tx: MetaTxn, ino: Ino, attr: Attr): void {
  tx.deleteAttr(ino);
  tx.deleteXattrs(ino);
  if (attr.type === FileType.Symlink) tx.deleteSymlink(ino);
  if (attr.type !== FileType.Directory && attr.parent === 0) tx.deleteParents(ino);
  if (attr.type === FileType.File) tx.addDeletedFile({ inode: ino, sizeBytes: attr.size });
  tx.addCounter("usedInodes", -1);
  tx.addCounter("usedSpace", -chargedBytes(attr));
}

/** `{parent}-{inode}-{name}`, cut to the name limit, like JuiceFS names trash entries. */
export function trashName(parent: Ino, ino: Ino, name: Buffer): Buffer {
  const full = Buffer.concat([Buffer.from(`${parent}-${ino}-`), name]);
  return full.subarray(0, NAME_BYTES_MAX);
}

/** `YYYY-MM-DD-HH` in UTC: one trash subdirectory per hour. */
export function trashHourName(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace("T", "-");
}

export interface TrashTarget {
  dir: Ino;
  /** Entry sequence for the trash entry, reserved before the transaction. */
  seq: number;
}

/** Where a file unlinked from `parent` now would go; undefined when it is deleted instead. */
export async function trashTarget(core: MetaCore, parent: Ino): Promise<TrashTarget | undefined> {
  const dir = await currentTrashDir(core, parent);
  if (dir === undefined) return undefined;
  return { dir, seq: await core.seqs.next() };
}

/**
 * The trash subdirectory for files unlinked now, created on first use; undefined when the
 * volume keeps no trash or the file is already in the trash.
 */
async function currentTrashDir(core: MetaCore, parent: Ino): Promise<Ino | undefined> {
  if (core.format.trashDays <= 0) return undefined;
  if (parent === TRASH_INODE) return undefined;
  const hour = trashHourName(Date.now());
  const cached = core.trashDirs.get(hour);
  if (cached !== undefined) return cached;
  const name = Buffer.from(hour);
  const existing = await core.read(async (tx) => tx.getEntry(TRASH_INODE, name));
  if (existing) {
    core.trashDirs.set(hour, existing.inode);
    return existing.inode;
  }
  const inode = await core.inodes.next();
  const seq = await core.seqs.next();
  const generation = core.newGeneration();
  const created = await core.txn(async (tx) => {
    const raced = await tx.getEntry(TRASH_INODE, name);
    if (raced) return raced.inode;
    const trash = await mustGetAttr(tx, TRASH_INODE);
    const t = now();
    const rootCtx = { uid: 0, gid: 0, groups: [], pid: 0 };
    const attr = newAttr(
      rootCtx,
      trash,
      { type: FileType.Directory, mode: 0o555, umask: 0, rdev: 0, parent: TRASH_INODE, generation },
      t,
    );
    trash.nlink++;
    touchDirectory(trash, t);
    tx.setAttr(TRASH_INODE, trash);
    tx.setAttr(inode, attr);
    tx.setEntry(TRASH_INODE, name, { inode, type: FileType.Directory, seq });
    tx.addCounter("usedInodes", 1);
    tx.addCounter("usedSpace", chargedBytes(attr));
    return inode;
  });
  core.trashDirs.set(hour, created);
  return created;
}
