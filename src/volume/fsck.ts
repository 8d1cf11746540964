/**
 * The checks of `jfs fsck`: the namespace (meta/check.ts), and that every block of every slice
 * the metadata refers to exists in the object store, with the right size when blocks are not
 * compressed.
 */
import { Semaphore, sliceObjects } from "../chunk/index.ts";
import { OBJECT_HEAD_CONCURRENCY, Units } from "../limits.ts";
import type { BaseMeta } from "../meta/base.ts";
import { checkNamespace } from "../meta/check.ts";
import type { Format } from "../meta/interface.ts";
import type { ObjectStore } from "../object/interface.ts";
import { sliceUses } from "./inventory.ts";

/** Blocks HEADed per batch; the batch's HEADs run OBJECT_HEAD_CONCURRENCY at a time. */
const BLOCKS_PER_BATCH = 1000;

export interface FsckReport {
  inodes: number;
  slices: number;
  blocks: number;
  /** One line per problem, for people. */
  problems: string[];
}

export async function checkVolume(
  meta: BaseMeta,
  store: ObjectStore,
  format: Format,
): Promise<FsckReport> {
  const namespace = await checkNamespace(meta);
  const problems = [...namespace.problems];
  const blockBytes = format.blockSizeKiB * Units.KiB;
  const checked = new Set<number>();
  const heads = new Semaphore(OBJECT_HEAD_CONCURRENCY);
  let blocks = 0;
  const pending: Array<{ key: string; bytes: number; ino: number }> = [];
  const check = async (b: { key: string; bytes: number; ino: number }) => {
    await heads.acquire();
    try {
      const info = await store.head(b.key);
      if (!info) problems.push(`inode ${b.ino}: block ${b.key} is missing`);
      else if (format.compression === "none" && info.sizeBytes !== b.bytes) {
        problems.push(`inode ${b.ino}: block ${b.key} has ${info.sizeBytes} bytes, not ${b.bytes}`);
      }
    } finally {
      heads.release();
    }
  };
  const drain = async () => {
    await Promise.all(pending.splice(0).map(check));
  };
  for await (const use of sliceUses(meta)) {
    if (checked.has(use.id)) continue;
    checked.add(use.id);
    for (const block of sliceObjects(use.id, use.size, blockBytes)) {
      pending.push({ ...block, ino: use.ino });
      blocks++;
    }
    if (pending.length >= BLOCKS_PER_BATCH) await drain();
  }
  await drain();
  return { inodes: namespace.inodes, slices: checked.size, blocks, problems };
}
