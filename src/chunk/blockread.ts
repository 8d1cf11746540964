/**
 * Reading blocks through the caches (the read half of the chunk store).
 *
 * Part of a block comes from the memory cache if it is there; else from a load of that block
 * already on its way (readahead, another reader); else from the disk cache, one pread of just
 * that range into the caller's buffer, verified by the crcs of the segments it covers; else
 * from the object store. With whole-block reads (the `prefetch` option, or compression, where
 * ranges are impossible) that last step loads the whole block into the memory cache and the
 * disk cache, so the next read nearby is a hit; without, a small read is a ranged GET that
 * bypasses the caches.
 *
 * A load downloads a whole block into the memory cache (and the disk cache). Readers
 * that join it leave their copy with it and the load does every copy the moment the block
 * arrives, so a block never escapes: its memory is given back the moment the memory cache
 * drops it (see buffers.ts). Loads reserve their room in the memory cache when they start.
 */
import { assert } from "../assert.ts";
import { DOWNLOADS_MAX } from "../limits.ts";
import { cacheHit, cacheMiss } from "../metrics/jfs.ts";
import { ObjectNotFoundError, type ObjectStore } from "../object/interface.ts";
import { type BufferPool, freeBuffer, isWholeBuffer } from "./buffers.ts";
import type { BlockCodec } from "./codec.ts";
import type { DiskCache } from "./diskcache.ts";
import { type BlockRef, refKey } from "./keys.ts";
import { Semaphore } from "./limiter.ts";
import type { MemCache } from "./memcache.ts";

export interface BlockReaderDeps {
  objects: ObjectStore;
  codec: BlockCodec;
  memCache: MemCache;
  diskCache: DiskCache | undefined;
  /** Where downloaded blocks are adopted (and freed when the last owner is done). */
  pool: BufferPool;
  /** A partial read of a block not in any cache loads the whole block (else a ranged GET). */
  wholeBlocks: boolean;
  /** Queues a write-through copy of a downloaded block into the disk cache. */
  cacheOnDisk(key: string, block: Buffer): void;
  /**
   * A get failed (not "not found": the VFS retries those with a fresh slice list), e.g. a
   * checksum mismatch or a store that stays unreachable. Logs it; the error still propagates.
   */
  onReadFailure(key: string, error: unknown): void;
}

/** Part of a block a reader waits for; the load copies it, so the block never escapes. */
interface BlockCopy {
  offset: number;
  len: number;
  target: Buffer;
  targetOffset: number;
}

interface BlockLoad {
  copies: BlockCopy[];
  done: Promise<void>;
}

export class BlockReader {
  readonly stats = { downloads: 0, memHits: 0 };
  readonly #downloads = new Semaphore(DOWNLOADS_MAX);
  readonly #loading = new Map<string, BlockLoad>();

  constructor(private readonly deps: BlockReaderDeps) {}

  /** Loads in flight (tests and close wait for them). */
  get loads(): Promise<void>[] {
    return [...this.#loading.values()].map((l) => l.done.catch(() => undefined));
  }

  /** Copies [offset, offset + len) of one block into `target` at `targetOffset`. */
  async readBlock(
    ref: BlockRef,
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<void> {
    assert(offset + len <= ref.bytes && targetOffset + len <= target.length, "read in bounds");
    const key = refKey(ref);
    const copy = { offset, len, target, targetOffset };
    if (this.#copyCached(key, copy)) return;
    const loading = this.#loading.get(key);
    if (loading !== undefined) return this.#join(loading, copy);
    const cache = this.deps.diskCache;
    if (cache !== undefined && !cache.isReady) await cache.ready();
    const onDisk = cache?.has(key) === true;
    if (onDisk && (await cache!.read(key, ref.bytes, offset, len, target, targetOffset))) return;
    // A disk miss or a corrupt file: load the whole block, which caches it again.
    if (onDisk || len === ref.bytes || this.deps.wholeBlocks) {
      if (this.#copyCached(key, copy)) return; // (loaded by someone else meanwhile)
      return this.#join(this.#loading.get(key) ?? this.#startLoad(ref, key), copy);
    }
    const part = await this.#get(key, offset, len);
    if (part.length !== len) throw new Error(`object ${key} is shorter than its key says`);
    target.set(part, targetOffset);
    if (isWholeBuffer(part)) freeBuffer(part);
  }

  /**
   * Readahead: starts downloading blocks into the memory cache, so a sequential reader finds
   * them there; the loads run in parallel with it and with each other (up to DOWNLOADS_MAX
   * GETs). Errors are left for the reads. Blocks in the disk cache are not loaded into memory,
   * only their files opened: reading one straight into the reply was 2-3x faster than going
   * through memory, which also held 200+ MiB more (blocks, and replies the collector frees late).
   */
  prefetch(refs: readonly BlockRef[]): void {
    const { memCache, diskCache } = this.deps;
    for (const ref of refs) {
      const key = refKey(ref);
      if (memCache.has(key) || this.#loading.has(key)) continue;
      if (diskCache?.has(key)) {
        diskCache.preopen(key, ref.bytes);
        continue;
      }
      if (memCache.fits(ref.bytes)) this.#startLoad(ref, key).done.catch(() => undefined);
    }
  }

  /** Copies from the memory cache; false when the block is not there. */
  #copyCached(key: string, copy: BlockCopy): boolean {
    const cached = this.deps.memCache.get(key);
    if (cached === undefined) {
      cacheMiss("memory");
      return false;
    }
    this.stats.memHits++;
    cacheHit("memory", copy.len);
    copy.target.set(cached.subarray(copy.offset, copy.offset + copy.len), copy.targetOffset);
    return true;
  }

  async #join(load: BlockLoad, copy: BlockCopy): Promise<void> {
    load.copies.push(copy);
    await load.done;
  }

  #startLoad(ref: BlockRef, key: string): BlockLoad {
    assert(!this.#loading.has(key), "one load per block");
    const load: BlockLoad = { copies: [], done: Promise.resolve() };
    load.done = this.#load(key, ref.bytes, load);
    this.#loading.set(key, load);
    return load;
  }

  async #load(key: string, bytes: number, load: BlockLoad): Promise<void> {
    const { memCache, pool } = this.deps;
    let block: Buffer;
    // Room in the memory cache is taken now, so blocks on their way count against it too.
    const kept = memCache.fits(bytes);
    if (kept) memCache.reserve(bytes);
    try {
      block = await this.#download(key, bytes);
    } finally {
      this.#loading.delete(key);
      if (kept) memCache.unreserve(bytes);
    }
    // No await from here on: whoever joined the load is in `copies` and served now, whoever
    // comes later finds the block in the memory cache (or loads it again).
    try {
      for (const c of load.copies) {
        c.target.set(block.subarray(c.offset, c.offset + c.len), c.targetOffset);
      }
      memCache.put(key, block);
      this.deps.cacheOnDisk(key, block);
    } finally {
      pool.release(block); // the load's own reference
    }
  }

  async #download(key: string, bytes: number): Promise<Buffer> {
    // A corrupt or unreadable block throws here: it never reaches the caches or a reader.
    const stored = await this.#get(key);
    const block = this.deps.codec.decode(stored, bytes);
    assert(block.length === bytes, "decoded block length");
    if (block !== stored && isWholeBuffer(stored)) freeBuffer(stored);
    this.deps.pool.adopt(block);
    return block;
  }

  async #get(key: string, offset?: number, len?: number): Promise<Buffer> {
    try {
      return await this.#downloads.run(() => this.deps.objects.get(key, offset, len));
    } catch (error: unknown) {
      if (!(error instanceof ObjectNotFoundError)) this.deps.onReadFailure(key, error);
      throw error;
    } finally {
      this.stats.downloads++;
    }
  }
}
