/**
 * Background deletion of data nobody references any more. Meta decides what is unused (deleted
 * files, slices replaced by compaction or dropped by truncate/overwrite); this loop turns
 * deleted files into unused slices, deletes their objects with bounded concurrency, and only
 * then acknowledges them, so a crash in between means deleting again (deletes are idempotent),
 * never leaking.
 */
import { assert } from "../assert.ts";
import { type ChunkStore, Semaphore } from "../chunk/index.ts";
import { DELETED_FILES_BATCH, GC_INTERVAL_MS, UNUSED_SLICES_BATCH } from "../limits.ts";
import type { Meta, UnusedSlice } from "../meta/interface.ts";

export interface GcRound {
  files: number;
  slices: number;
  failed: number;
}

export class SliceCollector {
  readonly #deletes: Semaphore;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<GcRound> | undefined;
  #lastError: unknown;

  constructor(
    private readonly meta: Meta,
    private readonly store: ChunkStore,
    maxDeletes: number,
  ) {
    this.#deletes = new Semaphore(maxDeletes);
  }

  /** The last error a background round hit, for status output. */
  get lastError(): unknown {
    return this.#lastError;
  }

  start(intervalMs = GC_INTERVAL_MS): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.runOnce().catch((error: unknown) => {
        this.#lastError = error;
      });
    }, intervalMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One round until the queue is empty; concurrent callers share the round in progress. */
  runOnce(): Promise<GcRound> {
    if (this.#running !== undefined) return this.#running;
    const round = this.#round().finally(() => {
      this.#running = undefined;
    });
    this.#running = round;
    return round;
  }

  async #round(): Promise<GcRound> {
    const result: GcRound = { files: 0, slices: 0, failed: 0 };
    for (;;) {
      const files = await this.meta.releaseDeletedFiles(DELETED_FILES_BATCH);
      result.files += files;
      if (files < DELETED_FILES_BATCH) break;
    }
    for (;;) {
      const batch = await this.meta.unusedSlices(UNUSED_SLICES_BATCH);
      if (batch.length === 0) break;
      const deleted = await this.#deleteAll(batch);
      if (deleted.length > 0) await this.meta.ackUnusedSlices(deleted);
      result.slices += deleted.length;
      result.failed += batch.length - deleted.length;
      // Failed ones stay queued for the next round; do not spin on them now.
      if (deleted.length < batch.length || batch.length < UNUSED_SLICES_BATCH) break;
    }
    return result;
  }

  async #deleteAll(batch: readonly UnusedSlice[]): Promise<UnusedSlice[]> {
    const deleted: UnusedSlice[] = [];
    await Promise.all(
      batch.map((slice) =>
        this.#deletes.run(async () => {
          try {
            await this.store.remove(slice.id, slice.size);
            deleted.push(slice);
          } catch (error: unknown) {
            this.#lastError = error;
          }
        }),
      ),
    );
    assert(deleted.length <= batch.length, "deleted a subset");
    return deleted;
  }
}
