/**
 * The volume-wide maintenance of `jfs gc`, which needs both the metadata and the block objects:
 * finding objects no slice refers to (leaked by crashes between upload and commit), and
 * compacting every chunk.
 */
import { type BlockObject, blockObjects } from "../chunk/index.ts";
import { sliceUses } from "./inventory.ts";
import type { Runtime } from "./runtime.ts";

export interface LeakScan {
  /** Slices the metadata refers to, or still has to delete. */
  used: number;
  /** Block objects of no such slice, older than the age asked for. */
  leaked: BlockObject[];
  objects: number;
  bytes: number;
}

/** The block objects no slice refers to, older than `minAgeSec` (younger may be mid-commit). */
export async function findLeaks(
  rt: Runtime,
  minAgeSec: number,
  /** Called per object listed, with its size (for a progress display). */
  onObject?: (sizeBytes: number) => void,
): Promise<LeakScan> {
  const used = new Set<number>();
  for await (const use of sliceUses(rt.meta)) used.add(use.id);
  for (const u of await rt.meta.unusedSlices(Number.MAX_SAFE_INTEGER)) used.add(u.id);
  const leaked: BlockObject[] = [];
  let objects = 0;
  let bytes = 0;
  const newest = Date.now() - minAgeSec * 1000;
  for await (const o of blockObjects(rt.store)) {
    objects++;
    bytes += o.sizeBytes;
    onObject?.(o.sizeBytes);
    if (o.sliceId !== undefined && !used.has(o.sliceId) && o.mtimeMs < newest) leaked.push(o);
  }
  return { used: used.size, leaked, objects, bytes };
}

/** Compacts every chunk of more than one slice; returns how many. */
export async function compactAll(
  rt: Runtime,
  /** Called per chunk looked at (for a progress display). */
  onChunk?: () => void,
): Promise<number> {
  let chunks = 0;
  const seen = new Set<string>();
  for await (const use of sliceUses(rt.meta)) {
    const key = `${use.ino}:${use.chunkIndex}`;
    if (seen.has(key)) continue;
    seen.add(key);
    onChunk?.();
    const slices = await rt.meta.readChunk(use.ino, use.chunkIndex);
    if (slices.length > 1) {
      await rt.data.compact(use.ino, use.chunkIndex);
      chunks++;
    }
  }
  await rt.data.collectGarbage();
  return chunks;
}
