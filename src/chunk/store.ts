/**
 * The chunk store: slices as blocks in the object store, with the caches in front (JuiceFS's
 * cachedStore). Nothing above this file knows an object key. Reads go through the memory cache,
 * the disk cache and shared whole-block loads (blockread.ts).
 *
 * Writing a block is an upload bounded by `maxUploads`. A block shorter than the block size (a
 * small file, a slice's tail) is also copied into the disk cache; a full block is not, unless
 * `cacheLargeWrite` (JuiceFS's --cache-large-write, off by default: its cachedStore.upload
 * caches only `blen < BlockSize || CacheLargeWrite`). Large sequential writes and checkpoints
 * then neither evict the read cache nor cost a second write and its crcs per block, and the
 * write buffer frees a full block as soon as its upload is done. On a local bucket (a file
 * store) no written block is copied, and a loaded block only the second time it is loaded
 * (admission.ts): there a copy costs as much as the read it would save. The copy is best effort:
 * skipped while DISK_CACHE_PENDING_BYTES_MAX bytes are already queued, so a slow cache disk
 * never holds up uploads or memory. With writeback, every block is staged in the disk cache
 * instead and uploaded in the background (writeback.ts); a staged block stays cached after its
 * upload, full or not (the stage is the write: there is no second copy to save).
 *
 * Written blocks never enter the memory cache (it holds what readers loaded), so residency is
 * the only question here: keys are never reused, and no cache can hold a stale block.
 *
 * Memory: write pages and blocks come from a BufferPool, read blocks are adopted by it, and
 * each buffer is given back the moment its last owner (slice writer, memory cache, disk cache
 * write, load) is done (see buffers.ts). The write budget counts every write buffer until it is
 * free, disk cache writes included, and the copy each upload in flight sends; free buffers kept
 * for reuse (at most WRITE_POOL_BYTES_MAX) only fill what the budget leaves unused, so the
 * write path holds about `bufferSizeBytes` at most.
 */
import { assert, assertSafeUint } from "../assert.ts";
import { freeBuffer, isWholeBuffer } from "../freebuffer.ts";
import {
  BUFFER_SIZE_BYTES_MIN,
  DISK_CACHE_ADMIT_KEYS_MAX,
  DISK_CACHE_PENDING_BYTES_MAX,
  FLUSH_TICK_MS,
  MEM_CACHE_BYTES_UNDER_WRITES_MIN,
  READ_PINNED_BYTES_MAX,
  WRITE_PAGE_BYTES,
  WRITE_POOL_BYTES_MAX,
} from "../limits.ts";
import type { ObjectNotFoundError, ObjectStore } from "../object/interface.ts";
import { SecondLoadAdmission } from "./admission.ts";
import { BlockReader } from "./blockread.ts";
import { BufferPool } from "./buffers.ts";
import { type BlockCodec, blockCodec, type Compression } from "./codec.ts";
import { type CacheChecksum, DiskCache, type DiskCacheStats } from "./diskcache.ts";
import { type BlockRef, refKey, sliceBlocks } from "./keys.ts";
import { ByteBudget, Semaphore } from "./limiter.ts";
import { MemCache } from "./memcache.ts";
import { BlockPins, ReadLease } from "./pins.ts";
import { ReadFailureLog } from "./readfailures.ts";
import { type BlockSink, SliceWriter } from "./slicewriter.ts";
import { Writeback } from "./writeback.ts";

export interface ChunkStoreOptions {
  blockSizeBytes: number;
  compression: Compression;
  bufferSizeBytes: number;
  maxUploads: number;
  /** This volume's disk cache directory, or undefined for no disk cache. */
  diskCacheDir: string | undefined;
  cacheSizeBytes: number;
  freeSpaceRatio: number;
  /** What a disk cache read verifies (diskcache.ts CacheChecksum; default "extend"). */
  cacheChecksum?: CacheChecksum | undefined;
  prefetch: number;
  /**
   * Objects carry a checksum of the whole object (src/object/checksum.ts): every read of a
   * block fetches all of it to verify it, so partial reads load and cache whole blocks.
   */
  checksummed?: boolean;
  memCacheBytes: number;
  /** Stage flushed blocks in the disk cache and upload them in the background. */
  writeback?: boolean;
  /**
   * Copy full written blocks into the disk cache too (--cache-large-write); by default only
   * blocks shorter than the block size are, as in JuiceFS.
   */
  cacheLargeWrite?: boolean;
  /**
   * Every loaded block goes into the disk cache, even a local bucket's on its first load: the
   * process exists to fill the cache (jfs warmup).
   */
  cacheEveryLoad?: boolean;
  /** Called while writers wait for buffer space: start flushing buffered slices. */
  onBufferPressure: () => void;
}

export interface ChunkStoreStats {
  uploads: number;
  downloads: number;
  memHits: number;
  /** Reads that waited for a GET of their own (blockread.ts). */
  misses: number;
  /** Reads that waited for a load already on its way. */
  joins: number;
  bufferUsedBytes: number;
  /** Free write buffers kept for reuse (outside bufferUsedBytes, within the buffer's size). */
  bufferPooledBytes: number;
  disk: DiskCacheStats | undefined;
  /** Staged blocks (writeback) whose upload has not finished. */
  writebackPending: number;
}

export class ChunkStore implements BlockSink {
  readonly blockSizeBytes: number;
  readonly wholeBlockBuffers: boolean;
  readonly codec: BlockCodec;
  readonly memCache: MemCache;
  readonly diskCache: DiskCache | undefined;
  readonly budget: ByteBudget;
  readonly #pool: BufferPool;
  readonly #uploads: Semaphore;
  readonly #reader: BlockReader;
  readonly pins: BlockPins;
  readonly #writeback: Writeback | undefined;
  readonly #readFailures: ReadFailureLog;
  /** --writeback: flushed blocks are staged, not uploaded before the flush returns. */
  readonly #staging: boolean;
  /** --cache-large-write: full written blocks are copied into the disk cache too. */
  readonly #cacheLargeWrite: boolean;
  /** A local bucket's loaded blocks enter the disk cache when loaded again (admission.ts). */
  readonly #admission: SecondLoadAdmission | undefined;
  /**
   * cacheEveryLoad (jfs warmup): no loaded block's copy is skipped however many are queued; the
   * caller bounds the queue by waiting in diskCacheCaughtUp().
   */
  readonly #fillCache: boolean;
  /** Blocks being written to the disk cache, with that write. */
  readonly #caching = new Map<Buffer, Promise<void>>();
  #diskPendingBytes = 0;
  /** Budget bytes being given back while their buffers go to the pool. */
  #releasingBytes = 0;
  readonly #diskPuts = new Set<Promise<void>>();
  #uploadCount = 0;

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
    // The memory cache gives way to writes (MEM_CACHE_BYTES_UNDER_WRITES_MIN): both together
    // stay within the larger of the two sizes.
    const sharedBytes = Math.max(options.bufferSizeBytes, options.memCacheBytes);
    this.budget = new ByteBudget(
      options.bufferSizeBytes,
      options.onBufferPressure,
      FLUSH_TICK_MS,
      () => this.memCache.trim(),
    );
    // Free buffers fill only what the write budget leaves unused (counting what is being given
    // back right now), so writers woken by a release reuse the buffers it freed.
    const budget = this.budget;
    this.#pool = new BufferPool([WRITE_PAGE_BYTES, options.blockSizeBytes], () =>
      Math.min(
        WRITE_POOL_BYTES_MAX,
        budget.capacityBytes - budget.usedBytes + this.#releasingBytes,
      ),
    );
    this.wholeBlockBuffers = options.blockSizeBytes * 8 <= options.bufferSizeBytes;
    this.memCache = new MemCache(options.memCacheBytes, this.#pool, () =>
      Math.max(MEM_CACHE_BYTES_UNDER_WRITES_MIN, sharedBytes - budget.usedBytes),
    );
    this.pins = new BlockPins(this.#pool, READ_PINNED_BYTES_MAX);
    this.#uploads = new Semaphore(options.maxUploads);
    this.diskCache =
      options.diskCacheDir === undefined
        ? undefined
        : new DiskCache({
            dir: options.diskCacheDir,
            capacityBytes: options.cacheSizeBytes,
            freeSpaceRatio: options.freeSpaceRatio,
            checksum: options.cacheChecksum,
          });
    assert(
      options.writeback !== true || this.diskCache !== undefined,
      "writeback stages blocks in the disk cache",
    );
    this.#readFailures = new ReadFailureLog(objects.description);
    // The uploader runs whenever there is a disk cache: blocks an earlier run staged (with
    // --writeback) are uploaded by this one, with or without it. Only staging needs the flag.
    this.#writeback =
      this.diskCache === undefined
        ? undefined
        : new Writeback({
            cache: this.diskCache,
            objects,
            codec: this.codec,
            uploads: this.#uploads,
            onUploaded: () => this.#uploadCount++,
          });
    this.#staging = options.writeback === true;
    this.#cacheLargeWrite = options.cacheLargeWrite === true;
    this.#fillCache = options.cacheEveryLoad === true;
    this.#admission =
      objects.local === true && this.diskCache !== undefined && !this.#fillCache
        ? new SecondLoadAdmission(DISK_CACHE_ADMIT_KEYS_MAX)
        : undefined;
    void this.#writeback?.resume();
    this.#reader = new BlockReader({
      objects,
      codec: this.codec,
      memCache: this.memCache,
      diskCache: this.diskCache,
      pool: this.#pool,
      wholeBlocks:
        options.prefetch > 0 || this.codec.wholeBlocksOnly || options.checksummed === true,
      cacheOnDisk: (key, block, warming) => {
        if (warming || this.#admission === undefined) {
          this.#cacheOnDisk(key, block);
        } else if (this.#admission.admits(key) && !this.#cacheOnDisk(key, block)) {
          // Skipped while the cache disk is behind: the block stays due, so that the next
          // load copies it (a fast re-read would otherwise skip the same blocks every pass).
          this.#admission.readmit(key);
        }
      },
      onReadFailure: (key, error) => this.#readFailures.report(key, error),
    });
  }

  stats(): ChunkStoreStats {
    return {
      uploads: this.#uploadCount,
      ...this.#reader.stats,
      bufferUsedBytes: this.budget.usedBytes,
      bufferPooledBytes: this.#pool.pooledBytes,
      disk: this.diskCache?.stats(),
      writebackPending: this.#writeback?.pendingCount ?? 0,
    };
  }

  /** The block reader's live counters (no copy: read them, do not keep them). */
  get readCounters(): Readonly<{ misses: number; joins: number; downloads: number }> {
    return this.#reader.stats;
  }

  /** How far ahead readers may load: half the memory cache, so readahead never evicts itself. */
  get readaheadBytesMax(): number {
    return Math.floor(this.memCache.capacityBytes / 2);
  }

  /** A writer for a new slice of at most `capacityBytes` (the rest of its chunk). */
  newWriter(sliceId: number, capacityBytes: number): SliceWriter {
    return new SliceWriter(sliceId, capacityBytes, this);
  }

  /**
   * Uploads a block and, alongside, copies it into the disk cache if it is a partial block of a
   * remote store or --cache-large-write is on (caching before the upload is safe: slice ids are
   * never reused, so a cached block is never wrong, at worst unreferenced). The upload does not
   * wait for the cache; freeing the buffer does.
   */
  async putBlock(ref: BlockRef, data: () => Buffer): Promise<void> {
    const key = refKey(ref);
    const contiguous = () => {
      const block = data();
      assert(block.length === ref.bytes, "a block is as long as its key says");
      return block;
    };
    if (this.#staging && (await this.#writeback!.stage(key, contiguous()))) return;
    await this.#uploads.run(async () => {
      const block = contiguous();
      const partial = block.length < this.blockSizeBytes;
      if (this.#cacheLargeWrite || (partial && this.#admission === undefined)) {
        this.#cacheOnDisk(key, block);
      }
      await this.#upload(key, this.codec.encode(block), block);
    });
    this.#uploadCount++;
  }

  /**
   * One put of an encoded block. While it runs, the write budget counts the body once more if
   * the store copies it (S3's fetch does: with 20 uploads in flight a stream held 80 MiB beyond
   * the write buffer, issue 12). It is charged, not waited for: uploads are what free the
   * budget, and one starts when another ends, so the buffer only goes over when many blocks
   * were sealed before their uploads could start (by at most max-uploads blocks). A compressed
   * body is freed when the put is done.
   */
  async #upload(key: string, body: Uint8Array, block: Buffer): Promise<void> {
    const copyBytes = this.objects.putCopiesBody === true ? body.length : 0;
    this.budget.charge(copyBytes);
    try {
      await this.objects.put(key, body);
    } finally {
      if (copyBytes > 0) this.budget.release(copyBytes);
      if (body !== block && body instanceof Buffer && isWholeBuffer(body)) freeBuffer(body);
    }
  }

  async deleteBlock(ref: BlockRef): Promise<void> {
    const key = refKey(ref);
    this.memCache.delete(key);
    this.#admission?.forget(key);
    await this.#writeback?.cancel(key);
    await this.diskCache?.delete(key);
    await this.objects.delete(key);
  }

  /** Pages and full blocks are reused; other sizes are rare (a slice's last block). */
  allocBuffer(bytes: number): Buffer {
    return this.#pool.alloc(bytes);
  }

  /**
   * Takes back buffers from allocBuffer and `budgetBytes` of the write budget, once the disk
   * cache, the one other reader of a block, is done with them.
   */
  freeBuffers(buffers: readonly Buffer[], budgetBytes: number): void {
    const caching = buffers.flatMap((b) => this.#caching.get(b) ?? []);
    if (caching.length === 0) this.#free(buffers, budgetBytes);
    else void Promise.all(caching).then(() => this.#free(buffers, budgetBytes));
  }

  /** Pools (or frees) buffers, then gives their budget back: waking writers reuse them. */
  #free(buffers: readonly Buffer[], budgetBytes: number): void {
    this.#releasingBytes = budgetBytes;
    try {
      for (const buffer of buffers) this.#pool.release(buffer);
    } finally {
      this.#releasingBytes = 0;
    }
    if (budgetBytes > 0) this.budget.release(budgetBytes);
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
    const reads: Promise<void>[] = [];
    for (const { ref, inBlock, n, done } of this.#blockPieces(sliceId, sizeBytes, offset, len)) {
      reads.push(this.readBlock(ref, inBlock, n, target, targetOffset + done));
    }
    await Promise.all(reads);
  }

  /** The blocks that [offset, offset + len) of a slice covers, each with its part of the range. */
  *#blockPieces(
    sliceId: number,
    sizeBytes: number,
    offset: number,
    len: number,
  ): Generator<{ ref: BlockRef; inBlock: number; n: number; done: number }> {
    const bs = this.blockSizeBytes;
    for (let done = 0; done < len; ) {
      const at = offset + done;
      const index = Math.floor(at / bs);
      const inBlock = at % bs;
      const n = Math.min(bs - inBlock, len - done);
      yield {
        ref: { sliceId, index, bytes: Math.min(bs, sizeBytes - index * bs) },
        inBlock,
        n,
        done,
      };
      done += n;
    }
  }

  /**
   * [offset, offset + len) of slice `sliceId` as views of its blocks where they are in memory
   * (pinned by `lease`, see pins.ts), the matching bytes of `spare` (if given, at least `len`
   * long) or fresh buffers elsewhere; in order, one per block.
   */
  viewSlice(
    sliceId: number,
    sizeBytes: number,
    offset: number,
    len: number,
    lease: ReadLease,
    spare?: Buffer,
  ): Promise<Buffer>[] {
    assert(
      offset + len <= sizeBytes,
      `read of [${offset}, +${len}) past a ${sizeBytes}-byte slice`,
    );
    const views: Promise<Buffer>[] = [];
    for (const { ref, inBlock, n, done } of this.#blockPieces(sliceId, sizeBytes, offset, len)) {
      views.push(this.#reader.viewBlock(ref, inBlock, n, lease, spare?.subarray(done)));
    }
    return views;
  }

  /** A lease for the views of one zero-copy read (release it once they are written). */
  newReadLease(): ReadLease {
    return new ReadLease(this.pins);
  }

  /** Copies part of one block into `target`. */
  readBlock(
    ref: BlockRef,
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<void> {
    return this.#reader.readBlock(ref, offset, len, target, targetOffset);
  }

  /**
   * Logs a block that stayed missing after the VFS's retries with fresh slice lists: the read
   * fails with EIO (other failed gets are logged where they happen; readfailures.ts).
   */
  reportMissing(error: ObjectNotFoundError): void {
    this.#readFailures.report(error.key, error);
  }

  /** Starts loading blocks into the memory cache (readahead; see blockread.ts). */
  prefetch(refs: readonly BlockRef[]): void {
    this.#reader.prefetch(refs);
  }

  /** Loads blocks into the caches and waits for them (see blockread.ts). */
  preload(refs: readonly BlockRef[]): Promise<void> {
    return this.#reader.preload(refs);
  }

  /** Waits for queued disk cache writes and block loads, readahead included (tests, close). */
  async settle(): Promise<void> {
    for (;;) {
      const loads = this.#reader.loads;
      if (this.#diskPuts.size === 0 && loads.length === 0) return;
      await Promise.all([...this.#diskPuts, ...loads]);
    }
  }

  /**
   * Resolves once at most DISK_CACHE_PENDING_BYTES_MAX bytes of disk cache copies are queued. A
   * reader that fills the cache (cacheEveryLoad, where nothing is skipped) waits here between
   * reads, so the copies queued behind a slow cache disk stay bounded.
   */
  async diskCacheCaughtUp(): Promise<void> {
    while (this.#diskPendingBytes > DISK_CACHE_PENDING_BYTES_MAX && this.#diskPuts.size > 0) {
      await Promise.race(this.#diskPuts);
    }
  }

  async close(): Promise<void> {
    this.budget.close();
    await this.settle();
    await this.#writeback?.close();
    this.memCache.clear();
    this.#pool.clear();
    this.diskCache?.close();
  }

  /**
   * Queues a copy into the disk cache (best effort); the write holds a reference to `block`.
   * False when it was skipped because DISK_CACHE_PENDING_BYTES_MAX bytes are already queued
   * (never with cacheEveryLoad).
   */
  #cacheOnDisk(key: string, block: Buffer): boolean {
    const cache = this.diskCache;
    if (cache === undefined || this.#caching.has(block)) return true;
    if (!this.#fillCache && this.#diskPendingBytes + block.length > DISK_CACHE_PENDING_BYTES_MAX) {
      return false;
    }
    this.#diskPendingBytes += block.length;
    this.#pool.retain(block);
    const put = cache
      .put(key, block)
      .catch(() => undefined)
      .finally(() => {
        this.#diskPendingBytes -= block.length;
        this.#diskPuts.delete(put);
        this.#caching.delete(block);
        this.#pool.release(block);
      });
    this.#diskPuts.add(put);
    this.#caching.set(block, put);
    return true;
  }
}
