/**
 * Recently read blocks in memory, least recently used evicted first, bounded in bytes. A Map
 * keeps insertion order, so "touch" is delete + set and the oldest entry is the first key.
 */
import { assert, assertSafeUint } from "../assert.ts";

export class MemCache {
  readonly #blocks = new Map<string, Buffer>();
  #usedBytes = 0;

  constructor(readonly capacityBytes: number) {
    assertSafeUint(capacityBytes, "memory cache capacity");
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  get count(): number {
    return this.#blocks.size;
  }

  get(key: string): Buffer | undefined {
    const block = this.#blocks.get(key);
    if (block === undefined) return undefined;
    this.#blocks.delete(key);
    this.#blocks.set(key, block);
    return block;
  }

  has(key: string): boolean {
    return this.#blocks.has(key);
  }

  /** Blocks larger than a quarter of the cache are not kept: one would flush everything else. */
  put(key: string, block: Buffer): void {
    if (block.length * 4 > this.capacityBytes) return;
    this.delete(key);
    this.#blocks.set(key, block);
    this.#usedBytes += block.length;
    for (const [oldKey, old] of this.#blocks) {
      if (this.#usedBytes <= this.capacityBytes) break;
      this.#blocks.delete(oldKey);
      this.#usedBytes -= old.length;
    }
    assert(this.#usedBytes <= this.capacityBytes, "memory cache over capacity");
  }

  delete(key: string): void {
    const old = this.#blocks.get(key);
    if (old === undefined) return;
    this.#blocks.delete(key);
    this.#usedBytes -= old.length;
    assert(this.#usedBytes >= 0, "memory cache accounting");
  }

  clear(): void {
    this.#blocks.clear();
    this.#usedBytes = 0;
  }
}
