/**
 * Which loaded blocks of a local bucket go into the disk cache: those loaded a second time.
 *
 * From S3 a read miss costs a round trip, so every loaded block is copied into the disk cache
 * at once. From a file bucket, a load is a read of a file on this machine, about what a read of
 * the cache's copy costs; the copy itself is a second write of the block and its crcs (3.0-3.8 s
 * of server CPU per GiB against 0.6 for the read alone, docs/benchmarks.md). Most blocks read
 * once right after their write (a copy out, a checkpoint read back) are never read again, so
 * the copy pays only for blocks that come back: a block is admitted the second time it is
 * loaded, i.e. once the memory cache has dropped it and a reader wanted it again (a "doorkeeper"
 * as in TinyLFU). Random reads of a large file still end up served from the disk cache, whose
 * per-segment crcs let a 4 KiB read check 64 KiB where a checksummed object must be read whole.
 */
import { assert } from "../assert.ts";
import { LruMap } from "../lru.ts";

export class SecondLoadAdmission {
  /** Keys loaded once, oldest first. */
  readonly #loadedOnce = new LruMap<string, true>();

  constructor(private readonly keysMax: number) {
    assert(keysMax >= 1, "admission remembers at least one key");
  }

  /** Records a load of `key`; true when it was loaded before (the copy is worth making now). */
  admits(key: string): boolean {
    if (this.#loadedOnce.delete(key)) return true;
    this.#loadedOnce.set(key, true);
    this.#loadedOnce.trimTo(this.keysMax);
    return false;
  }

  /** The copy `admits` let through was not made: admit `key` at its next load. */
  readmit(key: string): void {
    this.#loadedOnce.set(key, true);
    this.#loadedOnce.trimTo(this.keysMax);
  }

  /** A block that is gone (its slice deleted) need not be remembered. */
  forget(key: string): void {
    this.#loadedOnce.delete(key);
  }

  get size(): number {
    return this.#loadedOnce.size;
  }
}
