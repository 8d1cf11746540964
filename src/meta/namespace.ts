/**
 * Lookup and creation of names: lookup, mknod/mkdir/symlink, link, readlink, readdir.
 */
import { assert } from "../assert.ts";
import { fsError } from "../errors.ts";
import {
  NLINK_MAX,
  READDIR_ENTRIES_MAX,
  ROOT_INODE,
  SYMLINK_TARGET_BYTES_MAX,
  TRASH_INODE,
} from "../limits.ts";
import { isTrash, type MetaCore, mustGetAttr } from "./core.ts";
import {
  AccessMask,
  type Attr,
  type Credentials,
  type Entry,
  FileType,
  type Ino,
  type MknodOptions,
  type NewNode,
} from "./interface.ts";
import {
  chargedBytes,
  checkAccess,
  isDot,
  isDotDot,
  newAttr,
  now,
  requireDirectory,
  touchDirectory,
  validateName,
  validateNewName,
} from "./policy.ts";
import { entryUsage, QuotaChange, type Quotas, quotaDirsOf } from "./quota.ts";
import type { MetaTxn } from "./txn.ts";

const TRASH_NAME = Buffer.from(".trash");

export async function lookup(
  core: MetaCore,
  ctx: Credentials,
  parent: Ino,
  name: Buffer,
): Promise<{ inode: Ino; attr: Attr; parentAttr: Attr }> {
  const special =
    isDot(name) || isDotDot(name) || (parent === ROOT_INODE && name.equals(TRASH_NAME));
  if (!special) validateName(name);
  return core.read(async (tx) => {
    // The directory and the entry are read together: one round trip on Redis, not two.
    const [dirAttr, entry] = await Promise.all([
      tx.getAttr(parent),
      special ? undefined : tx.getEntry(parent, name),
    ]);
    if (!dirAttr) throw fsError("ENOENT", `inode ${parent}`);
    requireDirectory(dirAttr);
    checkAccess(ctx, dirAttr, AccessMask.X);
    const parentAttr = dirAttr;
    if (isDot(name)) return { inode: parent, attr: dirAttr, parentAttr };
    if (isDotDot(name)) {
      const up = parent === ROOT_INODE ? ROOT_INODE : dirAttr.parent;
      return { inode: up, attr: await mustGetAttr(tx, up), parentAttr };
    }
    if (special) {
      return { inode: TRASH_INODE, attr: await mustGetAttr(tx, TRASH_INODE), parentAttr };
    }
    if (!entry) throw fsError("ENOENT");
    const attr = await tx.getAttr(entry.inode);
    if (!attr) throw fsError("ENOENT", "dangling entry");
    return { inode: entry.inode, attr, parentAttr };
  });
}

interface CreateSpec {
  type: FileType;
  mode: number;
  umask: number;
  rdev: number;
  symlinkTarget?: Buffer;
  /** atime and mtime instead of the creation time (MknodOptions.times). */
  times?: MknodOptions["times"];
}

/**
 * Creates any kind of inode under `parent`; the one path for mknod, mkdir, symlink and create.
 * `alsoInTxn` adds writes of the caller's to the same transaction (create's open row).
 */
export async function createNode(
  core: MetaCore,
  ctx: Credentials,
  parent: Ino,
  name: Buffer,
  spec: CreateSpec,
  /** More writes of the same transaction, once the node is made (an open's registration). */
  alsoWrite?: (tx: MetaTxn, inode: Ino) => void,
  /** Commit without waiting for durability (TxnOptions.deferSync). */
  deferSync = false,
): Promise<NewNode> {
  validateNewName(name);
  if (isTrash(parent)) throw fsError("EPERM", "cannot create in the trash");
  const inode = await core.inodes.next();
  const seq = await core.seqs.next();
  const generation = core.newGeneration();
  const inodesMax = core.format.inodes;
  const options = deferSync ? { deferSync } : undefined;
  return core.txn(async (tx) => {
    // The directory, the name and the quota list are read together: one round trip on Redis and
    // PostgreSQL, not three. The checks keep Linux's order (the directory's, then EEXIST).
    const [dir, existing, quotas] = await Promise.all([
      mustGetAttr(tx, parent),
      tx.getEntry(parent, name),
      tx.listQuotas(),
    ]);
    requireDirectory(dir);
    if (dir.nlink === 0) throw fsError("ENOENT", "directory was removed");
    checkAccess(ctx, dir, AccessMask.W | AccessMask.X);
    if (existing) throw fsError("EEXIST");
    if (inodesMax > 0 && (await tx.getCounter("usedInodes")) >= inodesMax) {
      throw fsError("ENOSPC", "inode quota of the volume reached");
    }
    const t = now();
    const attr = newAttr(ctx, dir, { ...spec, parent, generation }, t);
    if (spec.times !== undefined) {
      attr.atime = spec.times.atime.sec;
      attr.atimeNsec = spec.times.atime.nsec;
      attr.mtime = spec.times.mtime.sec;
      attr.mtimeNsec = spec.times.mtime.nsec;
    }
    if (spec.type === FileType.Symlink) {
      assert(spec.symlinkTarget !== undefined);
      attr.mode = 0o777;
      attr.size = spec.symlinkTarget.length;
    }
    await chargeNewEntry(tx, quotas, parent, dir, attr);
    if (spec.symlinkTarget !== undefined) tx.setSymlink(inode, spec.symlinkTarget);
    if (spec.type === FileType.Directory) {
      if (dir.nlink >= NLINK_MAX) throw fsError("EMLINK");
      dir.nlink++;
    }
    touchDirectory(dir, t);
    tx.setAttr(parent, dir);
    tx.setAttr(inode, attr);
    tx.setEntry(parent, name, { inode, type: spec.type, seq });
    tx.addCounter("usedInodes", 1);
    tx.addCounter("usedSpace", chargedBytes(attr));
    alsoWrite?.(tx, inode);
    return { inode, attr, parentAttr: dir };
  }, options);
}

/** A new entry of `attr` in `parent` charges the quotas above it; EDQUOT past a limit. */
async function chargeNewEntry(
  tx: MetaTxn,
  quotas: Quotas,
  parent: Ino,
  dir: Attr,
  attr: Attr,
): Promise<void> {
  const dirs = await quotaDirsOf(tx, quotas, parent, dir);
  if (dirs.length === 0) return;
  (await new QuotaChange().add(dirs, entryUsage(attr), 1).check(tx, quotas)).apply(tx);
}

export function validateSymlinkTarget(target: Buffer): void {
  if (target.length === 0) throw fsError("ENOENT", "empty symlink target");
  if (target.length > SYMLINK_TARGET_BYTES_MAX) throw fsError("ENAMETOOLONG");
  if (target.includes(0)) throw fsError("EINVAL", "symlink target holds NUL");
}

export async function readlink(core: MetaCore, ino: Ino): Promise<Buffer> {
  return core.read(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    if (attr.type !== FileType.Symlink) throw fsError("EINVAL", "not a symlink");
    const target = await tx.getSymlink(ino);
    if (!target) throw fsError("EIO", `symlink ${ino} has no target`);
    return target;
  });
}

export async function link(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  parent: Ino,
  name: Buffer,
): Promise<Attr> {
  validateNewName(name);
  if (isTrash(parent) || isTrash(ino)) throw fsError("EPERM", "no links into or of the trash");
  const seq = await core.seqs.next();
  return core.txn(async (tx) => {
    const dir = await mustGetAttr(tx, parent);
    requireDirectory(dir);
    if (dir.nlink === 0) throw fsError("ENOENT", "directory was removed");
    checkAccess(ctx, dir, AccessMask.W | AccessMask.X);
    const attr = await mustGetAttr(tx, ino);
    // Linux's order: the new name is claimed before the inode is checked.
    if (await tx.getEntry(parent, name)) throw fsError("EEXIST");
    if (attr.type === FileType.Directory) throw fsError("EPERM", "hard link to a directory");
    if (attr.nlink === 0) throw fsError("ENOENT", "file was removed");
    if (attr.nlink >= NLINK_MAX) throw fsError("EMLINK");
    await chargeNewEntry(tx, await tx.listQuotas(), parent, dir, attr);
    await addParentLink(tx, ino, attr, parent);
    const t = now();
    attr.nlink++;
    attr.ctime = t.sec;
    attr.ctimeNsec = t.nsec;
    touchDirectory(dir, t);
    tx.setAttr(parent, dir);
    tx.setAttr(ino, attr);
    tx.setEntry(parent, name, { inode: ino, type: attr.type, seq });
    return attr;
  });
}

/**
 * Parent tracking of non-directories (JuiceFS's): attr.parent names the one parent while a
 * file has one link; with more, attr.parent is 0 and the parents table counts links per dir.
 */
export async function addParentLink(tx: MetaTxn, ino: Ino, attr: Attr, parent: Ino): Promise<void> {
  if (attr.parent !== 0) {
    const parents = new Map<Ino, number>([[attr.parent, 1]]);
    parents.set(parent, (parents.get(parent) ?? 0) + 1);
    for (const [p, links] of parents) tx.setParent(ino, p, links);
    attr.parent = 0;
    return;
  }
  const parents = await tx.getParents(ino);
  tx.setParent(ino, parent, (parents.get(parent) ?? 0) + 1);
}

export async function removeParentLink(
  tx: MetaTxn,
  ino: Ino,
  attr: Attr,
  parent: Ino,
): Promise<void> {
  if (attr.parent !== 0) return;
  const parents = await tx.getParents(ino);
  const links = parents.get(parent) ?? 0;
  if (links > 0) tx.setParent(ino, parent, links - 1);
}

export async function readdir(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  cookie: number,
  limit: number,
  plus: boolean,
): Promise<Entry[]> {
  assert(limit > 0, "readdir limit");
  const count = Math.min(limit, READDIR_ENTRIES_MAX);
  return core.read(async (tx) => {
    const dir = await mustGetAttr(tx, ino);
    requireDirectory(dir);
    checkAccess(ctx, dir, AccessMask.R);
    const records = await tx.listEntries(ino, cookie, count);
    const attrs = plus ? await tx.getAttrs(records.map((r) => r.inode)) : [];
    const entries: Entry[] = [];
    for (const [i, r] of records.entries()) {
      const entry: Entry = { name: r.name, inode: r.inode, type: r.type, cookie: r.seq };
      // An inode removed by a racing transaction (read-committed engines) is listed without
      // attributes: a short page must always mean the end of the directory.
      const attr = attrs[i];
      if (attr) entry.attr = attr;
      entries.push(entry);
    }
    return entries;
  });
}
