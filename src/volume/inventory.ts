/**
 * Every slice the volume's metadata refers to, found by walking the tree (and the trash, and
 * the files that are in no directory yet hold data). The basis of `jfs fsck` and `jfs gc`.
 */
import { ROOT_INODE, TRASH_INODE, TREE_WALK_PAGE_ENTRIES } from "../limits.ts";
import type { Meta } from "../meta/interface.ts";
import { FileType, type Ino, ROOT_CREDENTIALS } from "../posix.ts";

export interface SliceUse {
  ino: Ino;
  chunkIndex: number;
  id: number;
  size: number;
}

/** Regular files of the volume, without recursion. */
export async function* allFiles(meta: Meta): AsyncGenerator<Ino> {
  const ctx = ROOT_CREDENTIALS;
  const stack: Ino[] = [ROOT_INODE, TRASH_INODE];
  const seen = new Set<Ino>();
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let cookie = 0;
    for (;;) {
      const page = await meta.readdir(ctx, dir, cookie, TREE_WALK_PAGE_ENTRIES, false);
      if (page.length === 0) break;
      cookie = page.at(-1)!.cookie;
      for (const e of page) {
        if (e.type === FileType.Directory) stack.push(e.inode);
        else if (e.type === FileType.File && !seen.has(e.inode)) {
          seen.add(e.inode); // hard links: one visit
          yield e.inode;
        }
      }
    }
  }
  for (const ino of await meta.unreachableInodes()) {
    if (!seen.has(ino)) yield ino;
  }
}

/** Each stored slice a file uses (holes excluded), chunk by chunk. */
export async function* sliceUses(meta: Meta): AsyncGenerator<SliceUse> {
  for await (const ino of allFiles(meta)) {
    for (const chunkIndex of await meta.chunkIndexes(ino)) {
      for (const s of await meta.readChunk(ino, chunkIndex)) {
        if (s.id !== 0) yield { ino, chunkIndex, id: s.id, size: s.size };
      }
    }
  }
}
