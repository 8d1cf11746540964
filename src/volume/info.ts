/**
 * What `jfs info` and `jfs summary` show, computed from the metadata (and, for the object keys
 * of a file, the chunk layer's slice → block mapping; nothing here builds a key itself):
 * - a file's layout: its chunks, their slices in write order, each slice's block objects;
 * - a directory's usage: files, directories and bytes under it, walked without recursion;
 * - a tree of usage down to a depth, each directory's biggest entries first (`summary`).
 */

import { assert } from "../assert.ts";
import { sliceObjects } from "../chunk/index.ts";
import { CHUNK_BYTES, TREE_WALK_PAGE_ENTRIES, Units } from "../limits.ts";
import type { Attr, Format, Meta } from "../meta/interface.ts";
import { FileType, type Ino, ROOT_CREDENTIALS } from "../posix.ts";

const ctx = ROOT_CREDENTIALS;

export interface SliceInfo {
  id: number;
  /** Bytes the stored slice holds; the part in use is [off, off + len), at pos in the chunk. */
  size: number;
  off: number;
  len: number;
  pos: number;
  /** Block objects (keys relative to the bucket: the volume's prefix included). */
  objects: Array<{ key: string; bytes: number }>;
}

export interface ChunkInfo {
  index: number;
  /** In write order: a later slice covers what an earlier one wrote at the same place. */
  slices: SliceInfo[];
}

/** The chunks and slices of file `ino`, with the object key of every block. */
export async function fileLayout(meta: Meta, format: Format, ino: Ino): Promise<ChunkInfo[]> {
  const blockBytes = format.blockSizeKiB * Units.KiB;
  const prefix = `${format.name}/`;
  const chunks: ChunkInfo[] = [];
  for (const index of await meta.chunkIndexes(ino)) {
    const slices = (await meta.readChunk(ino, index)).map((s) => {
      assert(s.pos + s.len <= CHUNK_BYTES, "slice within its chunk");
      const objects =
        s.id === 0
          ? [] // a hole: reads as zeros, stored nowhere
          : sliceObjects(s.id, s.size, blockBytes).map((o) => ({ ...o, key: prefix + o.key }));
      return { id: s.id, size: s.size, off: s.off, len: s.len, pos: s.pos, objects };
    });
    chunks.push({ index, slices });
  }
  return chunks;
}

export interface Usage {
  /** Non-directories under it (a name each: hard links count once per name, as du -l). */
  files: number;
  /** Directories, itself included. */
  dirs: number;
  /** File lengths added up. */
  bytes: number;
}

/** Every entry of directory `dir`, a page at a time, with attributes. */
async function* entriesOf(meta: Meta, dir: Ino) {
  for (let cookie = 0; ; ) {
    const page = await meta.readdir(ctx, dir, cookie, TREE_WALK_PAGE_ENTRIES, true);
    if (page.length === 0) return;
    cookie = page.at(-1)!.cookie;
    yield* page;
  }
}

const bytesOf = (attr: Attr | undefined) => (attr?.type === FileType.File ? attr.size : 0);

/** Files, directories and bytes under directory `dir`, walked without recursion. */
export async function directoryUsage(
  meta: Meta,
  dir: Ino,
  onEntry?: (bytes: number) => void,
): Promise<Usage> {
  const usage: Usage = { files: 0, dirs: 1, bytes: 0 };
  const stack = [dir];
  while (stack.length > 0) {
    for await (const e of entriesOf(meta, stack.pop()!)) {
      if (e.type === FileType.Directory) {
        usage.dirs++;
        stack.push(e.inode);
        onEntry?.(0);
        continue;
      }
      usage.files++;
      usage.bytes += bytesOf(e.attr);
      onEntry?.(bytesOf(e.attr));
    }
  }
  return usage;
}

export interface TreeNode extends Usage {
  name: string;
  path: string;
  inode: Ino;
  type: FileType;
  /** Biggest first; for a directory deeper than the depth asked for, none. */
  children: TreeNode[];
  /** The "..." node: entries not shown, their totals added up. */
  folded?: true;
}

function newNode(name: string, path: string, inode: Ino, type: FileType): TreeNode {
  const dir = type === FileType.Directory;
  return { name, path, inode, type, files: dir ? 0 : 1, dirs: dir ? 1 : 0, bytes: 0, children: [] };
}

function foldedNode(parent: TreeNode): TreeNode {
  const node = newNode("...", `${parent.path.replace(/\/$/, "")}/...`, 0, FileType.Directory);
  node.dirs = 0;
  node.folded = true;
  return node;
}

function addInto(into: TreeNode, from: Usage): void {
  into.files += from.files;
  into.dirs += from.dirs;
  into.bytes += from.bytes;
}

const biggestFirst = (a: TreeNode, b: TreeNode) =>
  b.bytes - a.bytes || a.name.localeCompare(b.name);

/**
 * Keeps `entries` of `children` (biggest first) and folds the others into one "..." node,
 * merged with any "..." already there. `final` false folds only what can never come back
 * into the top `entries`: files, whose size is known when found (a directory's still grows).
 */
function fold(parent: TreeNode, entries: number, final: boolean): void {
  const old = parent.children.find((c) => c.folded);
  const rest = parent.children.filter((c) => !c.folded);
  const movable = final ? rest : rest.filter((c) => c.type !== FileType.Directory);
  if (movable.length <= entries && old === undefined) {
    if (final) parent.children.sort(biggestFirst);
    return;
  }
  const fixed = final ? [] : rest.filter((c) => c.type === FileType.Directory);
  movable.sort(biggestFirst);
  const out = movable.splice(entries);
  const folded = old ?? foldedNode(parent);
  for (const c of out) addInto(folded, c);
  const kept = final ? movable : [...fixed, ...movable].sort(biggestFirst);
  parent.children = folded.files + folded.dirs > 0 ? [...kept, folded] : kept;
}

/**
 * The usage tree under `root` (at `rootPath`): a node for every entry down to `depth` levels
 * below it; what lies deeper is added into its ancestor at that depth. Each entry's bytes are
 * added to its kept ancestors as it is found (at most depth + 1 of them), so no post-order
 * pass and no recursion is needed. A directory's files beyond its `entries` biggest are folded
 * as the walk goes (once its children double), so memory follows what is shown plus the
 * subdirectories, not the number of files.
 */
export async function usageTree(
  meta: Meta,
  root: Ino,
  rootPath: string,
  limits: { depth: number; entries: number },
  onEntry?: (bytes: number) => void,
): Promise<TreeNode> {
  const { depth, entries } = limits;
  assert(entries >= 1, "summary keeps at least one entry");
  const attr = await meta.getattr(ctx, root);
  const top = newNode(rootPath, rootPath, root, attr.type);
  top.bytes = bytesOf(attr);
  if (attr.type !== FileType.Directory) return top;
  const stack: Array<{ dir: Ino; level: number; chain: TreeNode[] }> = [
    { dir: root, level: 0, chain: [top] },
  ];
  const foldAt = new Map<TreeNode, number>();
  while (stack.length > 0) {
    const { dir, level, chain } = stack.pop()!;
    const parent = chain.at(-1)!;
    for await (const e of entriesOf(meta, dir)) {
      const isDir = e.type === FileType.Directory;
      const bytes = bytesOf(e.attr);
      for (const up of chain) addInto(up, { files: isDir ? 0 : 1, dirs: isDir ? 1 : 0, bytes });
      onEntry?.(bytes);
      let node: TreeNode | undefined;
      if (level < depth) {
        const name = e.name.toString();
        node = newNode(name, `${parent.path.replace(/\/$/, "")}/${name}`, e.inode, e.type);
        node.bytes = bytes;
        parent.children.push(node);
        if (parent.children.length >= (foldAt.get(parent) ?? 2 * entries + 2)) {
          fold(parent, entries, false);
          foldAt.set(parent, 2 * parent.children.length + 2);
        }
      }
      if (isDir) {
        stack.push({ dir: e.inode, level: level + 1, chain: node ? [...chain, node] : chain });
      }
    }
  }
  return top;
}

/** Orders each directory's entries biggest first, keeping `entries`; the rest become "...". */
export function pruneTree(top: TreeNode, entries: number): TreeNode {
  assert(entries >= 1, "summary keeps at least one entry");
  const stack = [top];
  while (stack.length > 0) {
    const node = stack.pop()!;
    fold(node, entries, true);
    stack.push(...node.children);
  }
  return top;
}
