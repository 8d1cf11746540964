/**
 * A consistency check of the namespace, by walking the tree from the root and the trash:
 * every entry names a live inode of the entry's type, directories count their subdirectories
 * in nlink and point back to their parent, files have as many entries as links, and the inode
 * counter agrees with what the walk found. Used by `jfs fsck` and by the crash tests.
 */
import { ROOT_INODE, TRASH_INODE, TREE_WALK_PAGE_ENTRIES } from "../limits.ts";
import type { BaseMeta } from "./base.ts";
import { type Attr, FileType, type Ino, ROOT_CREDENTIALS } from "./interface.ts";

export interface CheckReport {
  /** Inodes reachable from the root and the trash. */
  inodes: number;
  /** The engine's usedInodes counter: equal to `inodes` unless unlinked files are still open. */
  usedInodesCounter: number;
  problems: string[];
}

export async function checkNamespace(meta: BaseMeta): Promise<CheckReport> {
  const ctx = ROOT_CREDENTIALS;
  const problems: string[] = [];
  const attrs = new Map<Ino, Attr>();
  const linksSeen = new Map<Ino, number>();
  const stack: Ino[] = [ROOT_INODE, TRASH_INODE];
  attrs.set(ROOT_INODE, await meta.getattr(ctx, ROOT_INODE));
  attrs.set(TRASH_INODE, await meta.getattr(ctx, TRASH_INODE));
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let subdirs = dir === ROOT_INODE ? 1 : 0; // the trash hangs under the root
    let cookie = 0;
    for (;;) {
      const page = await meta.readdir(ctx, dir, cookie, TREE_WALK_PAGE_ENTRIES, true);
      if (page.length === 0) break;
      cookie = page.at(-1)!.cookie;
      for (const e of page) {
        const where = `${dir}/${e.name.toString()}`;
        if (!e.attr) {
          problems.push(`${where}: entry points to missing inode ${e.inode}`);
          continue;
        }
        if (e.attr.type !== e.type) {
          problems.push(`${where}: entry type ${e.type} but inode type ${e.attr.type}`);
        }
        linksSeen.set(e.inode, (linksSeen.get(e.inode) ?? 0) + 1);
        if (e.attr.type === FileType.Directory) {
          subdirs++;
          if (attrs.has(e.inode)) {
            problems.push(`${where}: directory ${e.inode} reached twice`);
            continue;
          }
          if (e.attr.parent !== dir) {
            problems.push(`${where}: directory's parent is ${e.attr.parent}, not ${dir}`);
          }
          stack.push(e.inode);
        }
        attrs.set(e.inode, e.attr);
      }
    }
    const own = attrs.get(dir)!;
    if (own.nlink !== 2 + subdirs) {
      problems.push(`directory ${dir}: nlink ${own.nlink}, expected ${2 + subdirs}`);
    }
  }
  for (const [ino, seen] of linksSeen) {
    const a = attrs.get(ino)!;
    if (a.type !== FileType.Directory && a.nlink !== seen) {
      problems.push(`inode ${ino}: nlink ${a.nlink} but ${seen} entries`);
    }
  }
  const counted = (await meta.counters()).usedInodes;
  // Unlinked files still open somewhere are counted but not reachable.
  if (counted < attrs.size) {
    problems.push(`usedInodes counter ${counted} is below the ${attrs.size} inodes reachable`);
  }
  return { inodes: attrs.size, usedInodesCounter: counted, problems };
}
