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
import { freeBuffer, isWholeBuffer } from "../freebuffer.ts";
import { DOWNLOADS_MAX } from "../limits.ts";
import { cacheHit, cacheMiss } from "../metrics/jfs.ts";
import { ObjectNotFoundError, type ObjectStore } from "../object/interface.ts";
import { allocUnowned } from "../unowned.ts";
import type { BufferPool } from "./buffers.ts";
import type { BlockCodec } from "./codec.ts";
import type { DiskCache } from "./diskcache.ts";
import { type BlockRef, refKey } from "./keys.ts";
import { Semaphore } from "./limiter.ts";
import type { MemCache } from "./memcache.ts";
import type { ReadLease } from "./pins.ts";

export interface BlockReaderDeps {
  objects: ObjectStore;
  codec: BlockCodec;
  memCache: MemCache;
  diskCache: DiskCache | undefined;
  /** Where downloaded blocks come from or are adopted (recycled or freed by their last owner). */
  pool: BufferPool;
  /** A partial read of a block not in any cache loads the whole block (else a ranged GET). */
  wholeBlocks: boolean;
  /**
   * Offers a downloaded block to the disk cache; `warming` when a preload asked for it (warmup,
   * the epoch prefetch), which a local bucket's admission lets through (admission.ts).
   */
  cacheOnDisk(key: string, block: Buffer, warming: boolean): void;
  /**
   * A get failed (not "not found": the VFS retries those with a fresh slice list), e.g. a
   * checksum mismatch or a store that stays unreachable. Logs it; the error still propagates.
   */
  onReadFailure(key: string, error: unknown): void;
}

/**
 * Part of a block a reader waits for; the load hands it the block the moment it arrives (a copy
 * into the reader's buffer, or a pinned view), so the block never escapes unowned.
 */
interface BlockCopy {
  offset: number;
  len: number;
  deliver(block: Buffer): void;
}

interface BlockLoad {
  copies: BlockCopy[];
  done: Promise<void>;
  /** A preload wants it cached (set by the first preload that starts or joins it). */
  warming: boolean;
}

export class BlockReader {
  /**
   * misses: reads that found the block in no cache and no load on its way, so waited for a GET
   * of their own; joins: reads that waited for a load already on its way (readahead or
   * prefetch that came late).
   */
  readonly stats = { downloads: 0, memHits: 0, misses: 0, joins: 0 };
  readonly #downloads = new Semaphore(DOWNLOADS_MAX);
  readonly #loading = new Map<string, BlockLoad>();

  constructor(private readonly deps: BlockReaderDeps) {}

  /** Loads in flight (tests and close wait for them). */
  get loads(): Promise<void>[] {
    return [...this.#loading.values()].map((l) => l.done.catch(() => undefined));
  }

  /** Copies [offset, offset + len) of one block into `target` at `targetOffset`. */
  readBlock(
    ref: BlockRef,
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<void> {
    assert(offset + len <= ref.bytes && targetOffset + len <= target.length, "read in bounds");
    const copy: BlockCopy = {
      offset,
      len,
      deliver: (block) => target.set(block.subarray(offset, offset + len), targetOffset),
    };
    return this.#serve(ref, copy, () => [target, targetOffset]);
  }

  /**
   * [offset, offset + len) of one block without a copy where it can: a view of the block in
   * the memory cache or of the load that brings it, pinned by `lease`; a fresh buffer where the
   * bytes come from elsewhere (a disk cache pread, a ranged GET): the start of `spare` if
   * given (a caller's recycled buffer), else a fresh one.
   */
  async viewBlock(
    ref: BlockRef,
    offset: number,
    len: number,
    lease: ReadLease,
    spare?: Buffer,
  ): Promise<Buffer> {
    assert(offset + len <= ref.bytes, "read in bounds");
    assert(spare === undefined || spare.length >= len, "spare buffer too short");
    let view: Buffer | undefined;
    const copy: BlockCopy = {
      offset,
      len,
      deliver: (block) => {
        view = lease.view(block, offset, len);
      },
    };
    await this.#serve(ref, copy, () => {
      view = spare === undefined ? allocUnowned(len) : spare.subarray(0, len);
      return [view, 0];
    });
    assert(view !== undefined && view.length === len, "a block view is as long as asked");
    return view;
  }

  /**
   * Serves one read of a block: `copy.deliver` gets the whole block when it is in memory or
   * arrives with a load; `place` gives the buffer that a disk cache pread or a ranged GET fills.
   */
  async #serve(ref: BlockRef, copy: BlockCopy, place: () => [Buffer, number]): Promise<void> {
    const { offset, len } = copy;
    const key = refKey(ref);
    if (this.#copyCached(key, copy)) return;
    const loading = this.#loading.get(key);
    if (loading !== undefined) {
      this.stats.joins++;
      return this.#join(loading, copy);
    }
    const cache = this.deps.diskCache;
    if (cache !== undefined && !cache.isReady) await cache.ready();
    const onDisk = cache !== undefined && (cache.has(key) || cache.adopt(key, ref.bytes));
    if (onDisk && (await cache!.read(key, ref.bytes, offset, len, ...place()))) return;
    // A disk miss or a corrupt file: load the whole block, which caches it again.
    if (onDisk || len === ref.bytes || this.deps.wholeBlocks) {
      if (this.#copyCached(key, copy)) return; // (loaded by someone else meanwhile)
      const started = this.#loading.get(key);
      if (started !== undefined) this.stats.joins++;
      else this.stats.misses++;
      return this.#join(started ?? this.#startLoad(ref, key), copy);
    }
    this.stats.misses++;
    const part = await this.#get(key, offset, len);
    if (part.length !== len) throw new Error(`object ${key} is shorter than its key says`);
    const [target, targetOffset] = place();
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

  /**
   * Loads blocks into the caches and waits for them (the epoch prefetch, src/vfs/prefetch.ts):
   * blocks in memory or in the disk cache are left alone, loads on their way are waited for.
   * Without a disk cache, a block that does not fit the memory cache is not loaded (nowhere
   * to keep it). Rejects with the first failed load; the reads report failures themselves.
   */
  async preload(refs: readonly BlockRef[]): Promise<void> {
    const { memCache, diskCache } = this.deps;
    if (diskCache !== undefined && !diskCache.isReady) await diskCache.ready();
    const loads: Promise<void>[] = [];
    for (const ref of refs) {
      const key = refKey(ref);
      if (memCache.has(key)) continue;
      const loading = this.#loading.get(key);
      if (loading !== undefined) {
        loading.warming = true;
        loads.push(loading.done);
        continue;
      }
      if (diskCache?.has(key) || diskCache?.adopt(key, ref.bytes)) continue;
      if (diskCache === undefined && !memCache.fits(ref.bytes)) continue;
      loads.push(this.#startLoad(ref, key, true).done);
    }
    await Promise.all(loads);
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
    copy.deliver(cached);
    return true;
  }

  async #join(load: BlockLoad, copy: BlockCopy): Promise<void> {
    load.copies.push(copy);
    await load.done;
  }

  #startLoad(ref: BlockRef, key: string, warming = false): BlockLoad {
    assert(!this.#loading.has(key), "one load per block");
    const load: BlockLoad = { copies: [], done: Promise.resolve(), warming };
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
      for (const c of load.copies) c.deliver(block);
      memCache.put(key, block);
      this.deps.cacheOnDisk(key, block, load.warming);
    } finally {
      pool.release(block); // the load's own reference
    }
  }

  async #download(key: string, bytes: number): Promise<Buffer> {
    const { objects, codec, pool } = this.deps;
    // A corrupt or unreadable block throws here: it never reaches the caches or a reader.
    const getParts = objects.getParts?.bind(objects);
    if (getParts !== undefined && codec.compression === "none" && pool.recycles(bytes)) {
      // Into a recycled block: a fresh one per download, freed on eviction, stayed resident in
      // the allocator after its free (docs/benchmarks.md, the 4 GiB stream's RSS).
      const block = pool.alloc(bytes);
      try {
        await this.#request(key, () => getParts(key, [block]));
      } catch (error: unknown) {
        pool.release(block); // the read is over: nothing writes into it any more
        throw error;
      }
      return block;
    }
    const stored = await this.#get(key);
    const block = codec.decode(stored, bytes);
    assert(block.length === bytes, "decoded block length");
    if (block !== stored && isWholeBuffer(stored)) freeBuffer(stored);
    pool.adopt(block);
    return block;
  }

  #get(key: string, offset?: number, len?: number): Promise<Buffer> {
    return this.#request(key, () => this.deps.objects.get(key, offset, len));
  }

  /** One request for `key` to the store, within the downloads allowed at once. */
  async #request<T>(key: string, run: () => Promise<T>): Promise<T> {
    try {
      return await this.#downloads.run(run);
    } catch (error: unknown) {
      if (!(error instanceof ObjectNotFoundError)) this.deps.onReadFailure(key, error);
      throw error;
    } finally {
      this.stats.downloads++;
    }
  }
}
