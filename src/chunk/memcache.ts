/**
 * Recently read blocks in memory, least recently used evicted first, bounded in bytes (an
 * LruMap: a plain Map touched by delete + set slows down as it grows, see src/lru.ts).
 *
 * The cache is one owner of each block it holds (see buffers.ts): it retains a block when it
 * keeps it and releases it when the block leaves, so an evicted block's memory goes back at once
 * unless someone else (a disk cache write) still reads it. Blocks being loaded into it reserve
 * their room first, so blocks held and blocks on their way stay within the capacity together.
 * An optional limit, read at every eviction, can hold it below its capacity for a while (the
 * store's shared bound with the write buffer); trim() applies a lowered limit at once.
 */
import { assert, assertSafeUint } from "../assert.ts";
import { LruMap } from "../lru.ts";
import { cacheEvicted } from "../metrics/jfs.ts";

export interface BufferOwners {
  retain(buffer: Buffer): void;
  release(buffer: Buffer): void;
}

const UNOWNED: BufferOwners = { retain: () => undefined, release: () => undefined };

export class MemCache {
  readonly #blocks = new LruMap<string, Buffer>();
  #usedBytes = 0;
  #reservedBytes = 0;

  constructor(
    readonly capacityBytes: number,
    private readonly owners: BufferOwners = UNOWNED,
    private readonly limitBytes?: () => number,
  ) {
    assertSafeUint(capacityBytes, "memory cache capacity");
  }

  /** What the cache may hold now: its capacity, or less while the limit says so. */
  get allowedBytes(): number {
    return this.limitBytes === undefined
      ? this.capacityBytes
      : Math.min(this.capacityBytes, Math.max(0, this.limitBytes()));
  }

  /** Evicts down to the current limit (called when the limit dropped). */
  trim(): void {
    this.#evict();
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  get count(): number {
    return this.#blocks.size;
  }

  /** The block, now the most recently used. Copy from it before the next await. */
  get(key: string): Buffer | undefined {
    return this.#blocks.get(key);
  }

  has(key: string): boolean {
    return this.#blocks.has(key);
  }

  /** Whether a block of `bytes` is ever kept (larger than a quarter would flush the rest). */
  fits(bytes: number): boolean {
    return bytes * 4 <= this.capacityBytes;
  }

  /** Makes room for a block of `bytes` on its way (evicting); give it back with unreserve(). */
  reserve(bytes: number): void {
    assert(this.fits(bytes), "reserving room for a block the cache would not keep");
    this.#reservedBytes += bytes;
    this.#evict();
  }

  unreserve(bytes: number): void {
    assert(bytes <= this.#reservedBytes, "memory cache reservations");
    this.#reservedBytes -= bytes;
  }

  /** Keeps `block` (one more owner of it); false when it does not fit() and is not kept. */
  put(key: string, block: Buffer): boolean {
    if (!this.fits(block.length)) return false;
    this.owners.retain(block); // first: `key` may already hold this very block
    const replaced = this.#blocks.peek(key);
    if (replaced !== undefined) {
      this.#usedBytes -= replaced.length;
      this.owners.release(replaced);
    }
    this.#blocks.set(key, block); // in place when replacing: no delete + set of one key
    this.#usedBytes += block.length;
    this.#evict();
    return true;
  }

  /** Least recently used first, until blocks and reservations fit. */
  #evict(): void {
    const allowedBytes = this.allowedBytes;
    while (this.#usedBytes + this.#reservedBytes > allowedBytes) {
      const oldest = this.#blocks.shift();
      if (oldest === undefined) break;
      const old = oldest[1];
      this.#usedBytes -= old.length;
      this.owners.release(old);
      cacheEvicted("memory");
    }
    assert(this.#usedBytes <= this.capacityBytes, "memory cache over capacity");
  }

  delete(key: string): void {
    const old = this.#blocks.peek(key);
    if (old === undefined) return;
    this.#blocks.delete(key);
    this.#usedBytes -= old.length;
    assert(this.#usedBytes >= 0, "memory cache accounting");
    this.owners.release(old);
  }

  clear(): void {
    const blocks = [...this.#blocks.values()];
    this.#blocks.clear();
    this.#usedBytes = 0;
    for (const block of blocks) this.owners.release(block);
  }
}
