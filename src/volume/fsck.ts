/**
 * The checks of `jfs fsck`: the namespace (meta/check.ts), and that every block of every slice
 * the metadata refers to exists in the object store, with the right size when blocks are not
 * compressed. Problems name the file by its path. `path` checks one subtree (its blocks only);
 * `repair` turns the slices with missing blocks into holes in each file that uses them.
 */
import { Semaphore, sliceObjects } from "../chunk/index.ts";
import { UserError } from "../errors.ts";
import { OBJECT_HEAD_CONCURRENCY, ROOT_INODE, Units } from "../limits.ts";
import type { BaseMeta } from "../meta/base.ts";
import { checkNamespace } from "../meta/check.ts";
import type { Format } from "../meta/interface.ts";
import type { ObjectStore } from "../object/interface.ts";
import { FileType, type Ino, ROOT_CREDENTIALS } from "../posix.ts";
import { type FoundFile, walkFiles } from "./inventory.ts";

/** Blocks HEADed per batch; the batch's HEADs run OBJECT_HEAD_CONCURRENCY at a time. */
const BLOCKS_PER_BATCH = 1000;

export interface FsckOptions {
  /** Check only the files under this path of the volume ("/dir"), not the whole namespace. */
  path?: string | undefined;
  /** Drop the references to slices whose blocks are missing. */
  repair?: boolean;
  /** Called per file whose blocks are queued for checking, with the bytes its slices hold. */
  onFile?: (sliceBytes: number) => void;
}

export interface FsckReport {
  inodes: number;
  slices: number;
  blocks: number;
  /** One line per problem, for people. */
  problems: string[];
  /** One line per file `repair` changed. */
  repaired: string[];
}

interface BlockProblem {
  text: string;
  missing: boolean;
}

interface FileUses extends FoundFile {
  uses: Array<{ chunkIndex: number; id: number }>;
}

function nameOf(file: FoundFile): string {
  return file.path === undefined
    ? `inode ${file.ino} (in no directory)`
    : `${file.path} (inode ${file.ino})`;
}

/** The files to check: the whole volume, or those under `path`. */
async function* filesToCheck(meta: BaseMeta, path: string | undefined): AsyncGenerator<FoundFile> {
  if (path === undefined) {
    yield* walkFiles(meta);
    return;
  }
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  let ino: Ino = ROOT_INODE;
  let attr = await meta.getattr(ROOT_CREDENTIALS, ino);
  for (const part of parts) {
    try {
      ({ inode: ino, attr } = await meta.lookup(ROOT_CREDENTIALS, ino, Buffer.from(part)));
    } catch {
      throw new UserError(`fsck --path ${path}: no such file or directory in the volume`);
    }
  }
  const normalized = parts.map((p) => `/${p}`).join("");
  if (attr.type === FileType.File) yield { ino, path: normalized || "/" };
  else if (attr.type === FileType.Directory)
    yield* walkFiles(meta, [{ ino, path: normalized }], false);
}

export async function checkVolume(
  meta: BaseMeta,
  store: ObjectStore,
  format: Format,
  options: FsckOptions = {},
): Promise<FsckReport> {
  const problems: string[] = [];
  const repaired: string[] = [];
  let inodes = 0;
  if (options.path === undefined) {
    const namespace = await checkNamespace(meta);
    problems.push(...namespace.problems);
    inodes = namespace.inodes;
  }
  const blockBytes = format.blockSizeKiB * Units.KiB;
  const heads = new Semaphore(OBJECT_HEAD_CONCURRENCY);
  /** Each slice checked once, however many files share it (clones, copy_file_range). */
  const slices = new Map<number, Promise<BlockProblem[]>>();
  let blocks = 0;
  const checkBlock = async (key: string, bytes: number): Promise<BlockProblem | undefined> => {
    await heads.acquire();
    try {
      const info = await store.head(key);
      if (!info) return { text: `block ${key} is missing`, missing: true };
      if (format.compression === "none" && info.sizeBytes !== bytes) {
        return { text: `block ${key} has ${info.sizeBytes} bytes, not ${bytes}`, missing: false };
      }
      return undefined;
    } finally {
      heads.release();
    }
  };
  const checkSlice = (id: number, size: number): Promise<BlockProblem[]> => {
    const objects = sliceObjects(id, size, blockBytes);
    blocks += objects.length;
    return Promise.all(objects.map((b) => checkBlock(b.key, b.bytes))).then((r) =>
      r.filter((p) => p !== undefined),
    );
  };
  let pending: FileUses[] = [];
  let pendingBlocks = 0;
  const finish = async (file: FileUses) => {
    const broken = new Map<number, Set<number>>(); // chunk index -> slice ids with missing blocks
    const reported = new Set<number>();
    for (const use of file.uses) {
      const found = await slices.get(use.id)!;
      if (found.length === 0) continue;
      if (!reported.has(use.id)) {
        reported.add(use.id);
        for (const p of found) problems.push(`${nameOf(file)}: ${p.text}`);
      }
      if (found.some((p) => p.missing)) {
        const ids = broken.get(use.chunkIndex) ?? new Set<number>();
        ids.add(use.id);
        broken.set(use.chunkIndex, ids);
      }
    }
    if (options.repair !== true || broken.size === 0) return;
    let dropped = 0;
    for (const [chunkIndex, ids] of broken)
      dropped += await meta.dropSlices(file.ino, chunkIndex, ids);
    if (dropped > 0) {
      repaired.push(
        `${nameOf(file)}: dropped ${dropped} reference(s) to missing blocks; those ranges now read as zeros`,
      );
    }
  };
  const drain = async () => {
    const files = pending;
    pending = [];
    pendingBlocks = 0;
    for (const file of files) await finish(file);
  };
  for await (const found of filesToCheck(meta, options.path)) {
    if (options.path !== undefined) inodes++;
    const file: FileUses = { ...found, uses: [] };
    let sliceBytes = 0;
    for (const chunkIndex of await meta.chunkIndexes(found.ino)) {
      for (const s of await meta.readChunk(found.ino, chunkIndex)) {
        if (s.id === 0) continue;
        sliceBytes += s.len;
        file.uses.push({ chunkIndex, id: s.id });
        if (!slices.has(s.id)) {
          const before = blocks;
          slices.set(s.id, checkSlice(s.id, s.size));
          pendingBlocks += blocks - before;
        }
      }
    }
    options.onFile?.(sliceBytes);
    pending.push(file);
    if (pendingBlocks >= BLOCKS_PER_BATCH) await drain();
  }
  await drain();
  return { inodes, slices: slices.size, blocks, problems, repaired };
}
