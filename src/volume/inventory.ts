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

/** A regular file found by a walk, by the first path it was found under. */
export interface FoundFile {
  ino: Ino;
  /** Undefined for files in no directory (unreachableInodes). */
  path: string | undefined;
}

/** The whole volume: the tree, the trash, and the files in no directory. */
const VOLUME_ROOTS = [
  { ino: ROOT_INODE, path: "" },
  { ino: TRASH_INODE, path: "/.trash" },
];

/**
 * Regular files under the given directories (path "" is the volume root), without recursion;
 * with `unreachable`, then the files that are in no directory yet hold data.
 */
export async function* walkFiles(
  meta: Meta,
  roots: ReadonlyArray<{ ino: Ino; path: string }> = VOLUME_ROOTS,
  unreachable = true,
): AsyncGenerator<FoundFile> {
  const ctx = ROOT_CREDENTIALS;
  const stack = [...roots];
  const seen = new Set<Ino>();
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let cookie = 0;
    for (;;) {
      const page = await meta.readdir(ctx, dir.ino, cookie, TREE_WALK_PAGE_ENTRIES, false);
      if (page.length === 0) break;
      cookie = page.at(-1)!.cookie;
      for (const e of page) {
        const path = `${dir.path}/${e.name.toString()}`;
        if (e.type === FileType.Directory) stack.push({ ino: e.inode, path });
        else if (e.type === FileType.File && !seen.has(e.inode)) {
          seen.add(e.inode); // hard links: one visit
          yield { ino: e.inode, path };
        }
      }
    }
  }
  if (!unreachable) return;
  for (const ino of await meta.unreachableInodes()) {
    if (!seen.has(ino)) yield { ino, path: undefined };
  }
}

/** Regular files of the volume, without recursion. */
export async function* allFiles(meta: Meta): AsyncGenerator<Ino> {
  for await (const file of walkFiles(meta)) yield file.ino;
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
