/**
 * Removing a whole tree straight through the metadata engine (`jfs rmr`), as JuiceFS's rmr
 * does: one meta operation per name, many at once, with no kernel round trip (lookup, getattr,
 * unlink) per file as `rm -rf` on a mount needs. Each unlink/rmdir is its own transaction, so
 * an interrupted rmr leaves a consistent, partly removed tree that a second run finishes.
 * Files go into the trash when the volume keeps one (the meta unlink decides).
 */
import { isFsError } from "../errors.ts";
import { RMR_CONCURRENCY, TRASH_INODE, TREE_WALK_PAGE_ENTRIES } from "../limits.ts";
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
async function gone(op: Promise<void>): Promise<boolean> {
  try {
    await op;
    return false;
  } catch (error) {
    if (isFsError(error, "ENOENT")) return true;
    throw error;
  }
}

/** Runs `work` on each item with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(runners);
}

/** Empties directory `dir` (its subtrees first), leaving it in place. */
export async function emptyTree(
  meta: Meta,
  ctx: Credentials,
  dir: Ino,
  counts: Omit<RmrCounts, "fromTrash">,
): Promise<void> {
  for (;;) {
    // From the start each time: the names already removed are gone from the listing.
    const page = await meta.readdir(ctx, dir, 0, TREE_WALK_PAGE_ENTRIES, false);
    if (page.length === 0) return;
    const subdirs = page.filter((e) => e.type === FileType.Directory);
    const others = page.filter((e) => e.type !== FileType.Directory);
    await pool(others, RMR_CONCURRENCY, async (e) => {
      // Gone already (another client removed it meanwhile): that is what was asked.
      if (await gone(meta.unlink(ctx, dir, e.name))) return;
      counts.files++;
    });
    for (const d of subdirs) {
      await emptyTree(meta, ctx, d.inode, counts);
      if (await gone(meta.rmdir(ctx, dir, d.name))) continue;
      counts.dirs++;
    }
  }
}

/** Removes `name` in `parent` and, when it is a directory, everything under it. */
export async function removeTree(
  meta: Meta,
  ctx: Credentials,
  parent: Ino,
  name: Buffer,
): Promise<RmrCounts> {
  const { inode, attr } = await meta.lookup(ctx, parent, name);
  const fromTrash = await insideTrash(meta, ctx, parent, inode);
  const counts: RmrCounts = { files: 0, dirs: 0, fromTrash };
  if (attr.type !== FileType.Directory) {
    await meta.unlink(ctx, parent, name);
    counts.files++;
    return counts;
  }
  await emptyTree(meta, ctx, inode, counts);
  // `jfs rmr /.trash` empties the trash (for good: nothing in it goes back to it); it stays.
  if (inode === TRASH_INODE) return counts;
  await meta.rmdir(ctx, parent, name);
  counts.dirs++;
  return counts;
}
