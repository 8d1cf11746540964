/**
 * ChunkFileData: the data path the VFS calls, assembled from the chunk store (blocks, caches,
 * upload limits), the buffered writers, the readers, background compaction and background
 * deletion of unused slices.
 */
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { assert, assertSafeUint } from "../assert.ts";
import { type CacheChecksum, ChunkStore, type ChunkStoreStats } from "../chunk/index.ts";
import {
  BUFFER_SIZE_MIB_DEFAULT,
  CACHE_SIZE_MIB_DEFAULT,
  CHUNK_SLICES_COMPACT_THRESHOLD,
  COMPACT_CHECK_EVERY_COMMITS,
  FREE_SPACE_RATIO_DEFAULT,
  GC_INTERVAL_MS,
  MAX_DELETES_DEFAULT,
  MAX_READAHEAD_MIB_DEFAULT,
  MAX_UPLOADS_DEFAULT,
  MEM_CACHE_BYTES_DEFAULT,
  PREFETCH_DEFAULT,
  READ_INODES_TRACKED_MAX,
  Units,
} from "../limits.ts";
import { checksumOf, type Format, type Meta } from "../meta/interface.ts";
import type { ObjectStore } from "../object/interface.ts";
import type { Ino } from "../posix.ts";
import type { FileData, ReadParts, RefusalListener } from "../vfs/data.ts";
import { FileReaders } from "../vfs/reader.ts";
import { FileWriters } from "../vfs/writer.ts";
import { Compactor, type CompactResult, compactChunk } from "./compact.ts";
import { type GcRound, SliceCollector } from "./slicegc.ts";

export interface FileDataOptions {
  bufferSizeBytes: number;
  maxUploads: number;
  /** Disk cache root (a subdirectory per volume UUID is used); "memory" for none. */
  cacheDir: string;
  cacheSizeBytes: number;
  freeSpaceRatio: number;
  /** What a disk cache read verifies (--verify-cache-checksum; default "extend"). */
  cacheChecksum?: CacheChecksum;
  /** > 0: a partial read of a block loads the whole block into the caches. */
  prefetch: number;
  maxReadaheadBytes: number;
  memCacheBytes: number;
  /** Stage flushed blocks in the disk cache, upload in the background (needs a cache dir). */
  writeback?: boolean;
  /** Cache full written blocks on disk too (--cache-large-write); partial blocks always are. */
  cacheLargeWrite?: boolean;
  /** Every loaded block is copied into the disk cache at once (jfs warmup; admission.ts). */
  cacheEveryLoad?: boolean;
  /** Concurrent object deletes of the background deletion. */
  maxDeletes?: number;
  /** Period of background deletion; 0 leaves it to collectGarbage() calls. */
  gcIntervalMs?: number;
}

export const DEFAULT_CACHE_DIR = "~/.jfs/cache";

export function defaultFileDataOptions(): FileDataOptions {
  return {
    bufferSizeBytes: BUFFER_SIZE_MIB_DEFAULT * Units.MiB,
    maxUploads: MAX_UPLOADS_DEFAULT,
    cacheDir: DEFAULT_CACHE_DIR,
    cacheSizeBytes: CACHE_SIZE_MIB_DEFAULT * Units.MiB,
    freeSpaceRatio: FREE_SPACE_RATIO_DEFAULT,
    prefetch: PREFETCH_DEFAULT,
    maxReadaheadBytes: MAX_READAHEAD_MIB_DEFAULT * Units.MiB,
    memCacheBytes: MEM_CACHE_BYTES_DEFAULT,
  };
}

export interface ChunkFileDataConfig {
  meta: Meta;
  /** The volume's object store, already prefixed with the volume name. */
  store: ObjectStore;
  format: Pick<Format, "blockSizeKiB" | "compression" | "uuid" | "checksum">;
  options: FileDataOptions;
}

export class ChunkFileData implements FileData {
  readonly chunks: ChunkStore;
  readonly #meta: Meta;
  readonly #writers: FileWriters;
  readonly #readers: FileReaders;
  readonly #compactor: Compactor;
  readonly #collector: SliceCollector;
  /** Commits per chunk since its last compaction check ("ino:index" -> count). */
  readonly #commits = new Map<string, number>();
  #onRefused: RefusalListener | undefined;

  constructor(config: ChunkFileDataConfig) {
    const { meta, format, options } = config;
    assertSafeUint(options.maxReadaheadBytes, "maxReadaheadBytes");
    assert(options.maxUploads >= 1, "maxUploads must be at least 1");
    this.#meta = meta;
    this.chunks = new ChunkStore(config.store, {
      blockSizeBytes: format.blockSizeKiB * Units.KiB,
      compression: format.compression,
      bufferSizeBytes: options.bufferSizeBytes,
      maxUploads: options.maxUploads,
      diskCacheDir: volumeCacheDir(options.cacheDir, format.uuid),
      cacheSizeBytes: options.cacheSizeBytes,
      freeSpaceRatio: options.freeSpaceRatio,
      cacheChecksum: options.cacheChecksum,
      prefetch: options.prefetch,
      checksummed: checksumOf(format) === "crc32",
      memCacheBytes: options.memCacheBytes,
      writeback: options.writeback === true,
      cacheLargeWrite: options.cacheLargeWrite === true,
      cacheEveryLoad: options.cacheEveryLoad === true,
      onBufferPressure: () => this.#writers.relieve(),
    });
    this.#writers = new FileWriters({
      meta,
      store: this.chunks,
      onCommit: (ino, index) => this.#committed(ino, index),
      onRefused: (ino, error) => this.#onRefused?.(ino, error),
    });
    this.#readers = new FileReaders({
      meta,
      store: this.chunks,
      overlay: (ino, index, start, end) => this.#writers.overlay(ino, index, start, end),
      onLongList: (ino, index, slices) => {
        if (slices > CHUNK_SLICES_COMPACT_THRESHOLD) this.#compactor.request(ino, index);
      },
      maxReadaheadBytes: options.maxReadaheadBytes,
    });
    this.#compactor = new Compactor(
      meta,
      this.chunks,
      CHUNK_SLICES_COMPACT_THRESHOLD + 1,
      (ino, index) => this.#readers.chunkChanged(ino, index),
    );
    this.#collector = new SliceCollector(
      meta,
      this.chunks,
      options.maxDeletes ?? MAX_DELETES_DEFAULT,
    );
    const gcIntervalMs = options.gcIntervalMs ?? GC_INTERVAL_MS;
    if (gcIntervalMs > 0) this.#collector.start(gcIntervalMs);
  }

  read(
    ino: Ino,
    offset: number,
    size: number,
    fileSizeBytes: number,
    into?: Buffer,
  ): Promise<Buffer> {
    return this.#readers.read(ino, offset, size, fileSizeBytes, into);
  }

  readv(
    ino: Ino,
    offset: number,
    size: number,
    fileSizeBytes: number,
    spare?: Buffer,
  ): Promise<ReadParts> {
    return this.#readers.readv(ino, offset, size, fileSizeBytes, spare);
  }

  write(ino: Ino, offset: number, data: Uint8Array): Promise<void> {
    return this.#writers.write(ino, offset, data);
  }

  flush(ino: Ino): Promise<void> {
    return this.#writers.flush(ino);
  }

  setRefusalListener(listener: RefusalListener): void {
    this.#onRefused = listener;
  }

  bufferedEnd(ino: Ino): number | undefined {
    return this.#writers.bufferedEnd(ino);
  }

  invalidate(ino: Ino): void {
    this.#readers.invalidate(ino);
  }

  flushAll(): Promise<void> {
    return this.#writers.flushAll();
  }

  async close(): Promise<void> {
    try {
      await this.#writers.close();
    } finally {
      await this.#compactor.close();
      await this.#collector.stop();
      await this.chunks.close();
      this.#readers.clear();
    }
  }

  /** One round of deleting unused slices' objects (the background loop does this too). */
  collectGarbage(): Promise<GcRound> {
    return this.#collector.runOnce();
  }

  /** Compacts one chunk now, whatever its length (tools, tests). */
  async compact(ino: Ino, chunkIndex: number): Promise<CompactResult> {
    const result = await compactChunk(this.#meta, this.chunks, ino, chunkIndex, 2);
    if (result === "compacted") this.#readers.chunkChanged(ino, chunkIndex);
    return result;
  }

  /** Waits for background compactions requested so far. */
  compactionsIdle(): Promise<void> {
    return this.#compactor.idle();
  }

  stats(): ChunkStoreStats {
    return this.chunks.stats();
  }

  preload(ino: Ino, bytes: number): Promise<void> {
    return this.#readers.preload(ino, bytes);
  }

  get readaheadBytesMax(): number {
    return this.chunks.readaheadBytesMax;
  }

  readMisses(): { misses: number; joins: number; downloads: number } {
    const { misses, joins, downloads } = this.chunks.readCounters;
    return { misses, joins, downloads };
  }

  #committed(ino: Ino, index: number): void {
    this.#readers.chunkChanged(ino, index);
    const key = `${ino}:${index}`;
    const commits = (this.#commits.get(key) ?? 0) + 1;
    this.#commits.delete(key); // re-insert: the map stays ordered oldest first, for trimming
    if (commits < COMPACT_CHECK_EVERY_COMMITS) {
      this.#commits.set(key, commits);
      for (const old of this.#commits.keys()) {
        if (this.#commits.size <= READ_INODES_TRACKED_MAX) break;
        this.#commits.delete(old);
      }
      return;
    }
    this.#compactor.request(ino, index);
  }
}

/** The disk cache directory of one volume, or undefined for "memory". */
export function volumeCacheDir(cacheDir: string, uuid: string): string | undefined {
  if (cacheDir === "memory") return undefined;
  assert(/^[0-9a-zA-Z-]+$/.test(uuid), `volume uuid ${JSON.stringify(uuid)} names a directory`);
  const expanded =
    cacheDir === "~" || cacheDir.startsWith("~/") ? homedir() + cacheDir.slice(1) : cacheDir;
  return `${isAbsolute(expanded) ? expanded : resolve(expanded)}/${uuid}`;
}
