/**
 * Removing a whole tree straight through the metadata engine (`jfs rmr`), as JuiceFS's rmr
 * does, with no kernel round trip (lookup, getattr, unlink) per file as `rm -rf` on a mount
 * needs: the names of a directory go RMR_BATCH_ENTRIES per meta transaction (removebatch.ts).
 * Each batch commits whole or not at all, so an interrupted rmr leaves a consistent, partly
 * removed tree that a second run finishes.
 * Files go into the trash when the volume keeps one (the meta unlink decides).
 */
import { isFsError } from "../errors.ts";
import { RMR_BATCH_ENTRIES, TRASH_INODE, TREE_WALK_PAGE_ENTRIES } from "../limits.ts";
import { type Credentials, FileType, type Ino, type Meta } from "../meta/interface.ts";

export interface RmrCounts {
  files: number;
  dirs: number;
  /** The tree was (in) the trash: its files are gone for good, whatever the trash days say. */
  fromTrash: boolean;
}

async function insideTrash(meta: Meta, ctx: Credentials, parent: Ino, ino: Ino) {
  if (ino === TRASH_INODE || parent === TRASH_INODE) return true;
  return (await meta.getattr(ctx, parent)).parent === TRASH_INODE;
}

/** True when the operation found its name gone (ENOENT). */
async function gone(op: Promise<unknown>): Promise<boolean> {
  try {
    await op;
    return false;
  } catch (error) {
    if (isFsError(error, "ENOENT")) return true;
    throw error;
  }
}

/** Counts so far, and a hook told of each batch removed (a progress display). */
export interface RmrTally {
  files: number;
  dirs: number;
  onRemoved?: ((names: number) => void) | undefined;
}

/** Removes `names` of `dir` (files, empty directories) RMR_BATCH_ENTRIES per transaction. */
async function removeNames(
  meta: Meta,
  ctx: Credentials,
  dir: Ino,
  names: Buffer[],
  tally: RmrTally,
): Promise<void> {
  for (let at = 0; at < names.length; at += RMR_BATCH_ENTRIES) {
    const batch = await meta.removeBatch(ctx, dir, names.slice(at, at + RMR_BATCH_ENTRIES));
    // Files with other hard links: one unlink each (their parents rows; see removebatch.ts).
    let linked = 0;
    for (const name of batch.left) if (!(await gone(meta.unlink(ctx, dir, name)))) linked++;
    tally.files += batch.files + linked;
    tally.dirs += batch.dirs;
    tally.onRemoved?.(batch.files + batch.dirs + linked);
  }
}

/** Empties directory `dir` (its subtrees first), leaving it in place. */
export async function emptyTree(
  meta: Meta,
  ctx: Credentials,
  dir: Ino,
  tally: RmrTally,
): Promise<void> {
  for (;;) {
    // From the start each time: the names already removed are gone from the listing.
    const page = await meta.readdir(ctx, dir, 0, TREE_WALK_PAGE_ENTRIES, false);
    if (page.length === 0) return;
    const subdirs = page.filter((e) => e.type === FileType.Directory);
    const others = page.filter((e) => e.type !== FileType.Directory);
    await removeNames(
      meta,
      ctx,
      dir,
      others.map((e) => e.name),
      tally,
    );
    for (const d of subdirs) await emptyTree(meta, ctx, d.inode, tally);
    // The emptied subdirectories go in batches too.
    await removeNames(
      meta,
      ctx,
      dir,
      subdirs.map((d) => d.name),
      tally,
    );
  }
}

/** Removes `name` in `parent` and, when it is a directory, everything under it. */
export async function removeTree(
  meta: Meta,
  ctx: Credentials,
  parent: Ino,
  name: Buffer,
  onRemoved?: (names: number) => void,
): Promise<RmrCounts> {
  const { inode, attr } = await meta.lookup(ctx, parent, name);
  const fromTrash = await insideTrash(meta, ctx, parent, inode);
  const tally: RmrTally = { files: 0, dirs: 0, onRemoved };
  if (attr.type !== FileType.Directory) {
    await meta.unlink(ctx, parent, name);
    onRemoved?.(1);
    return { files: 1, dirs: 0, fromTrash };
  }
  await emptyTree(meta, ctx, inode, tally);
  // `jfs rmr /.trash` empties the trash (for good: nothing in it goes back to it); it stays.
  if (inode !== TRASH_INODE) {
    await meta.rmdir(ctx, parent, name);
    tally.dirs++;
    onRemoved?.(1);
  }
  return { files: tally.files, dirs: tally.dirs, fromTrash };
}
