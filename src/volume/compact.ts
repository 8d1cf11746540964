/**
 * Compaction (JuiceFS's compactChunk): a chunk written in many small or overlapping pieces has a
 * long slice list, which makes every read resolve and fetch many objects. Its current content
 * is read, written back as one new slice, and swapped in with meta.compactChunk, which only
 * succeeds if the list still starts with what was read (slices appended meanwhile stay on top).
 * Meta queues the replaced slices as unused; the deleter removes their objects later.
 *
 * Readers stay correct throughout: before the swap the old slices are all still stored, after
 * it the new one is; a reader holding the old list that finds an object gone re-reads the list.
 */

import {
  type ChunkStore,
  dataExtent,
  readChunkRange,
  resolveSlices,
  storeSlice,
} from "../chunk/index.ts";
import { CHUNK_BYTES, COMPACT_QUEUE_MAX } from "../limits.ts";
import type { Meta, Slice } from "../meta/interface.ts";
import type { Ino } from "../posix.ts";

export type CompactResult = "compacted" | "changed" | "short";

/** Compacts one chunk if it has at least `minSlices` slices. */
export async function compactChunk(
  meta: Meta,
  store: ChunkStore,
  ino: Ino,
  chunkIndex: number,
  minSlices: number,
): Promise<CompactResult> {
  const slices = await meta.readChunk(ino, chunkIndex);
  if (slices.length < Math.max(2, minSlices)) return "short";
  const extent = dataExtent(resolveSlices(slices, 0, CHUNK_BYTES));
  if (extent === undefined) {
    // Only holes: the chunk reads as zeros without any slice.
    return (await meta.compactChunk(ino, chunkIndex, slices, [])) ? "compacted" : "changed";
  }
  const len = extent.end - extent.start;
  const data = Buffer.alloc(len);
  await readChunkRange(store, slices, extent.start, extent.end, data, 0);
  const id = await meta.newSliceId();
  try {
    await storeSlice(store, id, data);
  } catch (error: unknown) {
    await store.remove(id, len).catch(() => undefined); // never referenced: nothing else will
    throw error;
  }
  const replacement: Slice = { id, size: len, off: 0, len, pos: extent.start };
  if (await meta.compactChunk(ino, chunkIndex, slices, [replacement])) return "compacted";
  await store.remove(id, len);
  return "changed";
}

/**
 * Runs compactions one at a time in the background (each holds up to a chunk in memory), for
 * chunks reported as having long slice lists. Duplicate requests coalesce; a full queue drops
 * requests, which come back the next time the chunk is read or written.
 */
export class Compactor {
  readonly #queue = new Map<string, { ino: Ino; chunkIndex: number }>();
  #worker: Promise<void> | undefined;
  #closed = false;
  #lastError: unknown;

  constructor(
    private readonly meta: Meta,
    private readonly store: ChunkStore,
    private readonly minSlices: number,
    private readonly onCompacted: (ino: Ino, chunkIndex: number) => void,
  ) {}

  get lastError(): unknown {
    return this.#lastError;
  }

  request(ino: Ino, chunkIndex: number): void {
    if (this.#closed || this.#queue.size >= COMPACT_QUEUE_MAX) return;
    this.#queue.set(`${ino}:${chunkIndex}`, { ino, chunkIndex });
    this.#worker ??= this.#drain().finally(() => {
      this.#worker = undefined;
    });
  }

  /** Resolves when the queue is empty (tests; close). */
  async idle(): Promise<void> {
    while (this.#worker !== undefined) await this.#worker;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.clear();
    await this.idle();
  }

  async #drain(): Promise<void> {
    for (;;) {
      const next = this.#queue.entries().next();
      if (next.done) return;
      const [key, { ino, chunkIndex }] = next.value;
      this.#queue.delete(key);
      try {
        const result = await compactChunk(this.meta, this.store, ino, chunkIndex, this.minSlices);
        if (result === "compacted") this.onCompacted(ino, chunkIndex);
      } catch (error: unknown) {
        this.#lastError = error; // the chunk stays as it was; correct, only slower to read
      }
    }
  }
}
