/**
 * The chunk store: slices as blocks in the object store, with the caches in front (JuiceFS's
 * cachedStore). Nothing above this file knows an object key.
 *
 * Reading a block goes memory cache -> disk cache -> object store; concurrent readers of one
 * block share one load. With `prefetch` > 0 (or compression, where ranges are impossible) a read
 * of part of a block loads the whole block, so the next small read nearby is a cache hit;
 * without it a small read is a ranged GET that bypasses the caches.
 *
 * Writing a block is an upload bounded by `maxUploads`, then a write-through copy into the disk
 * cache (best effort: skipped while DISK_CACHE_PENDING_BYTES_MAX bytes are already queued, so
 * a slow cache disk never holds up uploads or memory).
 */
import { assert, assertSafeUint } from "../assert.ts";
import {
  BUFFER_SIZE_BYTES_MIN,
  DISK_CACHE_PENDING_BYTES_MAX,
  DOWNLOADS_MAX,
  FLUSH_TICK_MS,
  WRITE_PAGE_BYTES,
  WRITE_POOL_BYTES_MAX,
} from "../limits.ts";
import type { ObjectStore } from "../object/interface.ts";
import { type BlockCodec, blockCodec, type Compression } from "./codec.ts";
import { DiskCache, type DiskCacheStats } from "./diskcache.ts";
import { type BlockRef, refKey, sliceBlocks } from "./keys.ts";
import { ByteBudget, Semaphore } from "./limiter.ts";
import { MemCache } from "./memcache.ts";
import { type BlockSink, SliceWriter } from "./slicewriter.ts";

export interface ChunkStoreOptions {
  blockSizeBytes: number;
  compression: Compression;
  bufferSizeBytes: number;
  maxUploads: number;
  /** This volume's disk cache directory, or undefined for no disk cache. */
  diskCacheDir: string | undefined;
  cacheSizeBytes: number;
  freeSpaceRatio: number;
  prefetch: number;
  memCacheBytes: number;
  /** Called while writers wait for buffer space: start flushing buffered slices. */
  onBufferPressure: () => void;
}

export interface ChunkStoreStats {
  uploads: number;
  downloads: number;
  memHits: number;
  bufferUsedBytes: number;
  disk: DiskCacheStats | undefined;
}

export class ChunkStore implements BlockSink {
  readonly blockSizeBytes: number;
  readonly codec: BlockCodec;
  readonly memCache: MemCache;
  readonly diskCache: DiskCache | undefined;
  readonly budget: ByteBudget;
  readonly #uploads: Semaphore;
  readonly #downloads = new Semaphore(DOWNLOADS_MAX);
  readonly #loading = new Map<string, Promise<Buffer>>();
  /** Free write buffers by size (pages, full blocks), at most WRITE_POOL_BYTES_MAX in all. */
  readonly #pools = new Map<number, Buffer[]>();
  /** Buffers allocBuffer made: only those are recycled, never views of something else. */
  readonly #poolable = new WeakSet<Buffer>();
  readonly #inPool = new WeakSet<Buffer>();
  /** Blocks being written to the disk cache, with that write. */
  readonly #caching = new Map<Buffer, Promise<void>>();
  #pooledBytes = 0;
  readonly #prefetchWholeBlocks: boolean;
  #diskPendingBytes = 0;
  readonly #diskPuts = new Set<Promise<void>>();
  readonly #stats = { uploads: 0, downloads: 0, memHits: 0 };

  constructor(
    readonly objects: ObjectStore,
    options: ChunkStoreOptions,
  ) {
    assert(options.blockSizeBytes > 0, "block size");
    assert(
      options.bufferSizeBytes >= BUFFER_SIZE_BYTES_MIN,
      `write buffer below ${BUFFER_SIZE_BYTES_MIN} bytes`,
    );
    assertSafeUint(options.prefetch, "prefetch");
    this.blockSizeBytes = options.blockSizeBytes;
    this.codec = blockCodec(options.compression);
    this.memCache = new MemCache(options.memCacheBytes);
    this.budget = new ByteBudget(options.bufferSizeBytes, options.onBufferPressure, FLUSH_TICK_MS);
    this.#uploads = new Semaphore(options.maxUploads);
    this.#pools.set(WRITE_PAGE_BYTES, []);
    this.#pools.set(options.blockSizeBytes, []);
    this.#prefetchWholeBlocks = options.prefetch > 0 || this.codec.wholeBlocksOnly;
    this.diskCache =
      options.diskCacheDir === undefined
        ? undefined
        : new DiskCache({
            dir: options.diskCacheDir,
            capacityBytes: options.cacheSizeBytes,
            freeSpaceRatio: options.freeSpaceRatio,
          });
  }

  stats(): ChunkStoreStats {
    return {
      ...this.#stats,
      bufferUsedBytes: this.budget.usedBytes,
      disk: this.diskCache?.stats(),
    };
  }

  /** A writer for a new slice of at most `capacityBytes` (the rest of its chunk). */
  newWriter(sliceId: number, capacityBytes: number): SliceWriter {
    return new SliceWriter(sliceId, capacityBytes, this);
  }

  /**
   * Uploads a block and, alongside, copies it into the disk cache (caching before the upload
   * is safe: slice ids are never reused, so a cached block is never wrong, at worst
   * unreferenced). The upload does not wait for the cache; a recycled buffer does.
   */
  async putBlock(ref: BlockRef, data: () => Buffer): Promise<void> {
    const key = refKey(ref);
    await this.#uploads.run(() => {
      const block = data();
      assert(block.length === ref.bytes, "a block is as long as its key says");
      this.#cacheOnDisk(key, block);
      return this.objects.put(key, this.codec.encode(block));
    });
    this.#stats.uploads++;
  }

  async deleteBlock(ref: BlockRef): Promise<void> {
    const key = refKey(ref);
    this.memCache.delete(key);
    await this.diskCache?.delete(key);
    await this.objects.delete(key);
  }

  releaseBuffer(bytes: number): void {
    this.budget.release(bytes);
  }

  /** Pages and full blocks come from a pool; other sizes are rare (a slice's last block). */
  allocBuffer(bytes: number): Buffer {
    const pool = this.#pools.get(bytes);
    const reused = pool?.pop();
    if (reused !== undefined) {
      this.#pooledBytes -= bytes;
      this.#inPool.delete(reused);
      return reused;
    }
    const fresh = Buffer.allocUnsafe(bytes);
    if (pool !== undefined) this.#poolable.add(fresh);
    return fresh;
  }

  /** Takes buffers back once the disk cache, the one other reader of a block, is done. */
  recycleBuffers(buffers: readonly Buffer[]): void {
    for (const buffer of buffers) {
      if (!this.#poolable.has(buffer)) continue;
      const caching = this.#caching.get(buffer);
      if (caching === undefined) this.#recycle(buffer);
      else void caching.then(() => this.#recycle(buffer));
    }
  }

  #recycle(buffer: Buffer): void {
    const pool = this.#pools.get(buffer.length);
    if (pool === undefined || this.#pooledBytes + buffer.length > WRITE_POOL_BYTES_MAX) return;
    assert(!this.#inPool.has(buffer), "a buffer recycled twice would get two owners");
    this.#inPool.add(buffer);
    this.#pooledBytes += buffer.length;
    pool.push(buffer);
  }

  /** Deletes every block of a slice; missing blocks are fine (deletes are idempotent). */
  async remove(sliceId: number, sizeBytes: number): Promise<void> {
    for (const ref of sliceBlocks(sliceId, sizeBytes, this.blockSizeBytes)) {
      await this.deleteBlock(ref);
    }
  }

  /**
   * Copies [offset, offset + len) of slice `sliceId` (stored size `sizeBytes`) into `target`
   * at `targetOffset`.
   */
  async readSlice(
    sliceId: number,
    sizeBytes: number,
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<void> {
    assert(
      offset + len <= sizeBytes,
      `read of [${offset}, +${len}) past a ${sizeBytes}-byte slice`,
    );
    assert(targetOffset + len <= target.length, "read target too small");
    const bs = this.blockSizeBytes;
    const reads: Promise<void>[] = [];
    for (let done = 0; done < len; ) {
      const at = offset + done;
      const index = Math.floor(at / bs);
      const inBlock = at % bs;
      const n = Math.min(bs - inBlock, len - done);
      const ref = { sliceId, index, bytes: Math.min(bs, sizeBytes - index * bs) };
      reads.push(this.readBlock(ref, inBlock, n, target, targetOffset + done));
      done += n;
    }
    await Promise.all(reads);
  }

  /** Copies part of one block into `target`. */
  async readBlock(
    ref: BlockRef,
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<void> {
    assert(offset + len <= ref.bytes, "read within the block");
    const key = refKey(ref);
    const cached = this.memCache.get(key);
    if (cached !== undefined) {
      this.#stats.memHits++;
      target.set(cached.subarray(offset, offset + len), targetOffset);
      return;
    }
    const whole = len === ref.bytes || this.#prefetchWholeBlocks || this.diskCache?.has(key);
    if (whole) {
      const block = await this.loadBlock(ref);
      target.set(block.subarray(offset, offset + len), targetOffset);
      return;
    }
    const part = await this.#downloads.run(() => this.objects.get(key, offset, len));
    this.#stats.downloads++;
    if (part.length !== len) throw new Error(`object ${key} is shorter than its key says`);
    target.set(part, targetOffset);
  }

  /** The whole block, through the caches; concurrent callers share one load. */
  loadBlock(ref: BlockRef): Promise<Buffer> {
    const key = refKey(ref);
    const cached = this.memCache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const loading = this.#loading.get(key);
    if (loading !== undefined) return loading;
    const load = this.#load(key, ref.bytes).finally(() => this.#loading.delete(key));
    this.#loading.set(key, load);
    return load;
  }

  /** Starts loading blocks into the memory cache; failures are left for the real read. */
  prefetch(refs: readonly BlockRef[]): void {
    for (const ref of refs) {
      if (this.memCache.has(refKey(ref))) continue;
      this.loadBlock(ref).catch(() => undefined);
    }
  }

  /** Waits for queued disk cache writes and block loads, readahead included (tests, close). */
  async settle(): Promise<void> {
    while (this.#diskPuts.size > 0 || this.#loading.size > 0) {
      const loads = [...this.#loading.values()].map((p) => p.catch(() => undefined));
      await Promise.all([...this.#diskPuts, ...loads]);
    }
  }

  async close(): Promise<void> {
    this.budget.close();
    await this.settle();
    this.#pools.forEach((pool) => {
      pool.length = 0;
    });
    this.#pooledBytes = 0;
  }

  async #load(key: string, bytes: number): Promise<Buffer> {
    const fromDisk = await this.diskCache?.get(key, bytes);
    if (fromDisk !== undefined) {
      this.memCache.put(key, fromDisk);
      return fromDisk;
    }
    const stored = await this.#downloads.run(() => this.objects.get(key));
    this.#stats.downloads++;
    const block = this.codec.decode(stored, bytes);
    assert(block.length === bytes, "decoded block length");
    this.memCache.put(key, block);
    this.#cacheOnDisk(key, block);
    return block;
  }

  /** Queues a copy into the disk cache (best effort). */
  #cacheOnDisk(key: string, block: Buffer): void {
    const cache = this.diskCache;
    if (cache === undefined || this.#caching.has(block)) return;
    if (this.#diskPendingBytes + block.length > DISK_CACHE_PENDING_BYTES_MAX) return;
    this.#diskPendingBytes += block.length;
    const put = cache
      .put(key, block)
      .catch(() => undefined)
      .finally(() => {
        this.#diskPendingBytes -= block.length;
        this.#diskPuts.delete(put);
        this.#caching.delete(block);
      });
    this.#diskPuts.add(put);
    this.#caching.set(block, put);
  }
}
