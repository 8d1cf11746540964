/**
 * Reads (JuiceFS's vfs/reader.go, simplified): for each chunk a read touches, the committed
 * content comes from the chunk's slice list (later slices win, holes and unwritten bytes read
 * as zeros), and this process's buffered, uncommitted slices are laid on top.
 *
 * Seeing buffered writes: the overlay is snapshotted *before* the slice list is read. A slice
 * that commits in between is then in both (same bytes, harmless); one that commits after is in
 * the snapshot. So a read never misses a write that completed before it started, and it never
 * forces a flush (which would turn read-after-write patterns into tiny slices).
 *
 * Slice lists are cached for CHUNK_SLICES_CACHE_MS; own commits and compactions drop the entry
 * of their chunk, invalidate(ino) drops the inode's (another client changed it). A fetch that
 * raced with such a drop is not cached. An object that vanished under a cached list (another
 * client compacted and deleted) makes the read fetch the list again.
 *
 * Readahead: a read starting where the previous one ended is sequential; the window then grows
 * from one block, doubling per read up to maxReadaheadBytes (and half the memory cache, so it
 * never evicts itself). Blocks ahead are downloaded into the memory cache in the background,
 * all at once (the store bounds concurrent GETs); blocks in the disk cache only get their files
 * opened, since reading them straight into the reply is cheaper than through memory. Any other
 * read resets the window.
 */
import { assert } from "../assert.ts";
import {
  blocksOfRange,
  type ChunkStore,
  isMissingBlock,
  type ReadLease,
  readChunkRange,
  viewChunkRange,
} from "../chunk/index.ts";
import { describeError, FsError, fsError } from "../errors.ts";
import {
  CHUNK_BYTES,
  CHUNK_SLICES_CACHE_MS,
  READ_INODES_TRACKED_MAX,
  READ_STALE_RETRIES_MAX,
} from "../limits.ts";
import { LruMap } from "../lru.ts";
import type { Meta } from "../meta/interface.ts";
import type { Ino, Slice } from "../posix.ts";
import { allocUnowned } from "../unowned.ts";
import { NO_READ_PARTS, type ReadParts } from "./data.ts";
import { SpareBuffers } from "./spares.ts";
import type { OverlayPart } from "./writer.ts";

export interface ReaderDeps {
  meta: Meta;
  store: ChunkStore;
  /** Buffered bytes of chunk [start, end) of `ino`, oldest first, at chunk positions. */
  overlay(ino: Ino, chunkIndex: number, start: number, end: number): OverlayPart[];
  /** A slice list longer than the compaction threshold was seen. */
  onLongList(ino: Ino, chunkIndex: number, slices: number): void;
  maxReadaheadBytes: number;
}

interface CachedList {
  slices: Slice[];
  fetchedAtMs: number;
}

/** Slice lists of one inode; replaced wholesale by invalidate(). */
interface InodeLists {
  chunks: Map<number, CachedList>;
  /** Bumped when a chunk's entry is dropped, so a fetch in flight does not cache stale data. */
  epochs: Map<number, number>;
}

interface Readahead {
  nextOffset: number;
  windowBytes: number;
  /** Readahead was started up to here. */
  aheadEnd: number;
}

export class FileReaders {
  readonly #lists = new LruMap<Ino, InodeLists>();
  readonly #ahead = new LruMap<Ino, Readahead>();
  readonly #spares = new SpareBuffers();

  constructor(private readonly deps: ReaderDeps) {}

  async read(
    ino: Ino,
    offset: number,
    size: number,
    fileSizeBytes: number,
    into?: Buffer,
  ): Promise<Buffer> {
    assert(Number.isSafeInteger(offset) && offset >= 0 && size >= 0, "read range");
    assert(into === undefined || into.length >= size, "read target shorter than the read");
    const end = Math.min(offset + size, fileSizeBytes);
    if (end <= offset) return Buffer.alloc(0);
    // Not zeroed: every byte is written below (holes are zeroed where they are).
    const out = into === undefined ? allocUnowned(end - offset) : into.subarray(0, end - offset);
    const pieces: Promise<void>[] = [];
    for (const { index, start, end: stop, at } of chunkSpans(offset, end)) {
      pieces.push(this.#readChunk(ino, index, start, stop, out, at - offset));
    }
    await Promise.all(pieces);
    this.#readahead(ino, offset, end, fileSizeBytes);
    return out;
  }

  /**
   * read() as views (see ReadParts): a chunk without buffered writes is served as views of its
   * blocks (chunkread.ts viewChunkRange); one with buffered writes laid on top is copied into
   * one buffer, as read() does. Bytes that are no view land in `spare` (at least `size` long)
   * at their offset in the read, if given, else in fresh buffers.
   */
  async readv(
    ino: Ino,
    offset: number,
    size: number,
    fileSizeBytes: number,
    spare?: Buffer,
  ): Promise<ReadParts> {
    assert(Number.isSafeInteger(offset) && offset >= 0 && size >= 0, "read range");
    assert(spare === undefined || spare.length >= size, "spare buffer shorter than the read");
    const end = Math.min(offset + size, fileSizeBytes);
    if (end <= offset) return NO_READ_PARTS;
    const lease = this.deps.store.newReadLease();
    // A failed read keeps its own spare (a piece may still be filling it): the collector's.
    const ownSpare = spare === undefined ? this.#spares.take(end - offset) : undefined;
    spare ??= ownSpare;
    try {
      const pieces: Promise<Buffer[]>[] = [];
      for (const { index, start, end: stop, at } of chunkSpans(offset, end)) {
        const chunkSpare = spare?.subarray(at - offset, at - offset + (stop - start));
        pieces.push(this.#viewChunk(ino, index, start, stop, lease, chunkSpare));
      }
      const parts = (await Promise.all(pieces)).flat();
      this.#readahead(ino, offset, end, fileSizeBytes);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        lease.release();
        if (ownSpare !== undefined) this.#spares.give(ownSpare);
      };
      return { parts, bytes: end - offset, release };
    } catch (error: unknown) {
      lease.release();
      throw error;
    }
  }

  async #viewChunk(
    ino: Ino,
    index: number,
    start: number,
    end: number,
    lease: ReadLease,
    spare: Buffer | undefined,
  ): Promise<Buffer[]> {
    const overlay = this.deps.overlay(ino, index, start, end);
    if (overlay.length > 0) {
      const out = spare ?? allocUnowned(end - start);
      await this.#readChunk(ino, index, start, end, out, 0, overlay);
      return [out];
    }
    return this.#withSlices(ino, index, (slices) =>
      viewChunkRange(this.deps.store, slices, start, end, lease, spare),
    );
  }

  /**
   * `read` of chunk `index`'s slice list; when a block of it is gone (compacted or deleted by
   * another node since the list was cached), `beforeRetry` and again with a fresh list, up to
   * READ_STALE_RETRIES_MAX times. Errors come out as the read's.
   */
  async #withSlices<T>(
    ino: Ino,
    index: number,
    read: (slices: Slice[]) => Promise<T>,
    beforeRetry?: () => void,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await read(await this.#slices(ino, index, attempt > 0));
      } catch (error: unknown) {
        if (isMissingBlock(error) && attempt < READ_STALE_RETRIES_MAX) {
          beforeRetry?.();
          continue;
        }
        if (isMissingBlock(error)) this.deps.store.reportMissing(error);
        throw asReadError(error, ino, index);
      }
    }
  }

  /**
   * Loads the blocks of [0, bytes) of a file into the caches and waits for them (the epoch
   * prefetch): the slice lists it reads are cached as a read's would be.
   */
  async preload(ino: Ino, bytes: number): Promise<void> {
    const { store } = this.deps;
    for (let index = 0; index * CHUNK_BYTES < bytes; index++) {
      const slices = await this.#slices(ino, index, false);
      const stop = Math.min(CHUNK_BYTES, bytes - index * CHUNK_BYTES);
      await store.preload(blocksOfRange(slices, 0, stop, store.blockSizeBytes));
    }
  }

  invalidate(ino: Ino): void {
    // Replaced, not deleted: a fetch in flight sees other lists and keeps nothing, and the key
    // is not deleted and re-added at every change of a file that is read (see src/lru.ts).
    if (this.#lists.has(ino)) this.#lists.set(ino, { chunks: new Map(), epochs: new Map() });
  }

  /** Drops one chunk's cached list (after an own commit or compaction). */
  chunkChanged(ino: Ino, chunkIndex: number): void {
    const lists = this.#lists.peek(ino);
    if (lists === undefined) return;
    lists.chunks.delete(chunkIndex);
    lists.epochs.set(chunkIndex, (lists.epochs.get(chunkIndex) ?? 0) + 1);
  }

  /** Forgets all per-inode state (close). */
  clear(): void {
    this.#lists.clear();
    this.#ahead.clear();
  }

  async #readChunk(
    ino: Ino,
    index: number,
    start: number,
    end: number,
    out: Buffer,
    outOffset: number,
    // Snapshot buffered data first (see the file comment), and fetch its stored blocks.
    overlay = this.deps.overlay(ino, index, start, end),
  ): Promise<void> {
    const overlayData = Promise.all(overlay.map((part) => this.#partData(part)));
    overlayData.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    await this.#withSlices(
      ino,
      index,
      (slices) => readChunkRange(this.deps.store, slices, start, end, out, outOffset),
      () => out.fill(0, outOffset, outOffset + (end - start)),
    );
    let datas: Buffer[];
    try {
      datas = await overlayData;
    } catch (error: unknown) {
      throw asReadError(error, ino, index);
    }
    for (const [i, part] of overlay.entries()) {
      out.set(datas[i]!, outOffset + (part.offset - start));
    }
  }

  async #partData(part: OverlayPart): Promise<Buffer> {
    if ("data" in part) return part.data;
    const data = Buffer.allocUnsafe(part.len);
    await this.deps.store.readBlock(part.ref, part.blockOffset, part.len, data, 0);
    return data;
  }

  async #slices(ino: Ino, index: number, fresh: boolean): Promise<Slice[]> {
    let lists = this.#lists.get(ino);
    if (lists === undefined) {
      lists = { chunks: new Map(), epochs: new Map() };
      this.#lists.set(ino, lists);
      this.#lists.trimTo(READ_INODES_TRACKED_MAX);
    }
    const cached = lists.chunks.get(index);
    if (!fresh && cached !== undefined && Date.now() - cached.fetchedAtMs < CHUNK_SLICES_CACHE_MS) {
      return cached.slices;
    }
    const epoch = lists.epochs.get(index) ?? 0;
    const fetchedAtMs = Date.now();
    const slices = await this.deps.meta.readChunk(ino, index);
    if (this.#lists.peek(ino) === lists && (lists.epochs.get(index) ?? 0) === epoch) {
      lists.chunks.set(index, { slices, fetchedAtMs });
    }
    this.deps.onLongList(ino, index, slices.length);
    return slices;
  }

  #readahead(ino: Ino, offset: number, end: number, fileSizeBytes: number): void {
    const maxBytes = Math.min(this.deps.maxReadaheadBytes, this.deps.store.readaheadBytesMax);
    if (maxBytes === 0) return;
    let state = this.#ahead.get(ino);
    if (state === undefined) {
      state = { nextOffset: 0, windowBytes: 0, aheadEnd: 0 };
      this.#ahead.set(ino, state);
      this.#ahead.trimTo(READ_INODES_TRACKED_MAX);
    }
    const blockBytes = this.deps.store.blockSizeBytes;
    if (offset === state.nextOffset) {
      state.windowBytes = Math.min(maxBytes, Math.max(blockBytes, state.windowBytes * 2));
    } else {
      state.windowBytes = 0;
      state.aheadEnd = 0;
    }
    state.nextOffset = end;
    const from = Math.max(end, state.aheadEnd);
    const to = Math.min(end + state.windowBytes, fileSizeBytes);
    if (to <= from) return;
    state.aheadEnd = to;
    this.#prefetch(ino, from, to).catch(() => undefined); // the real read reports failures
  }

  async #prefetch(ino: Ino, from: number, to: number): Promise<void> {
    const { store } = this.deps;
    for (let at = from; at < to; ) {
      const index = Math.floor(at / CHUNK_BYTES);
      const stop = Math.min(to, (index + 1) * CHUNK_BYTES);
      const slices = await this.#slices(ino, index, false);
      const base = index * CHUNK_BYTES;
      store.prefetch(blocksOfRange(slices, at - base, stop - base, store.blockSizeBytes));
      at = stop;
    }
  }
}

/** Keeps a per-inode map bounded: the oldest inserted entries go first. */
function asReadError(error: unknown, ino: Ino, index: number): FsError {
  if (error instanceof FsError) return error;
  return fsError("EIO", `cannot read chunk ${index} of inode ${ino}: ${describeError(error)}`);
}

/**
 * The chunks that file bytes [offset, end) cover: each chunk's index, the range [start, end)
 * within it, and where that range starts in the file (`at`).
 */
function* chunkSpans(
  offset: number,
  end: number,
): Generator<{ index: number; start: number; end: number; at: number }> {
  for (let at = offset; at < end; ) {
    const index = Math.floor(at / CHUNK_BYTES);
    const base = index * CHUNK_BYTES;
    const stop = Math.min(end, base + CHUNK_BYTES);
    yield { index, start: at - base, end: stop - base, at };
    at = stop;
  }
}
