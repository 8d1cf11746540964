/**
 * Buffered writes (JuiceFS's vfs/writer.go): write() only copies into memory. Each inode has a
 * chunk writer per chunk it is writing, holding that chunk's uncommitted slices in write order.
 * A write that continues one of the newest slices (and overlaps no newer one) goes into it; any
 * other write starts a new slice.
 *
 * A slice is frozen when it reaches the chunk border, when idle FLUSH_IDLE_MS, when older than
 * FLUSH_AGE_MS, on flush / flushAll, and under buffer pressure. A frozen slice uploads its
 * blocks and is then committed with meta.write — objects first, so meta never points at missing
 * objects. Commits of one chunk happen strictly in list order (a later slice may overwrite an
 * earlier one), so a slice waits for every older slice of its chunk to commit first.
 *
 * A slice that cannot be uploaded or committed (object store or meta engine down) keeps its data
 * in memory and blocks the slices after it: flush rejects with EIO, and later flushes (or the
 * background tick) retry. A commit that meta refuses with an FsError (ENOSPC, file gone) drops
 * the slice and tells onRefused, which makes every writer of the inode hear it (writeerrors.ts),
 * like a write-back error reported at fsync.
 */
import { assert } from "../assert.ts";
import { type ChunkStore, type SlicePart, SliceWriter } from "../chunk/index.ts";
import { describeError, FsError, fsError } from "../errors.ts";
import {
  CHUNK_BYTES,
  FILE_SIZE_BYTES_MAX,
  FLUSH_AGE_MS,
  FLUSH_IDLE_MS,
  FLUSH_TICK_MS,
  WRITABLE_SLICES_PER_CHUNK_MAX,
  WRITE_PIECE_BYTES_MAX,
} from "../limits.ts";
import type { Meta } from "../meta/interface.ts";
import { Errno, type Ino } from "../posix.ts";

export interface WriterDeps {
  meta: Meta;
  store: ChunkStore;
  /** A slice of (ino, chunk) was committed to meta. */
  onCommit(ino: Ino, chunkIndex: number): void;
  /** Meta refused a slice of `ino` for good: its data is gone, its writers must hear it. */
  onRefused(ino: Ino, error: FsError): void;
}

/** Buffered bytes of a chunk for a reader, at chunk positions, oldest first. */
export type OverlayPart = SlicePart;

class PendingSlice {
  frozen = false;
  uploaded = false;
  upload: Promise<void> | undefined;
  error: unknown;
  failedAtMs = 0;
  lastWriteAtMs: number;
  readonly createdAtMs: number;

  constructor(
    readonly writer: SliceWriter,
    /** Chunk position of the slice's byte 0. */
    readonly pos: number,
  ) {
    this.createdAtMs = Date.now();
    this.lastWriteAtMs = this.createdAtMs;
  }

  get end(): number {
    return this.pos + this.writer.lengthBytes;
  }
}

/** The slice's upload, started once (again after a failure); never an unhandled rejection. */
function startUpload(slice: PendingSlice): Promise<void> {
  if (slice.upload === undefined) {
    slice.upload = slice.writer.finish();
    slice.upload.catch(() => undefined); // the commit loop awaits and handles it
  }
  return slice.upload;
}

class ChunkWriter {
  readonly slices: PendingSlice[] = [];
  #committing: Promise<void> | undefined;

  constructor(
    readonly file: FileWriter,
    readonly index: number,
  ) {}

  get busy(): boolean {
    return this.slices.length > 0 || this.#committing !== undefined;
  }

  /** A slice that may take [pos, pos + len): one of the newest, overlapping no newer one. */
  findWritable(pos: number, len: number): PendingSlice | undefined {
    const oldest = Math.max(0, this.slices.length - WRITABLE_SLICES_PER_CHUNK_MAX);
    for (let i = this.slices.length - 1; i >= oldest; i--) {
      const s = this.slices[i]!;
      if (!s.frozen && pos >= s.pos && s.writer.canWrite(pos - s.pos, len)) return s;
      // Writing under a newer slice would let the older data win after both commit.
      if (pos < s.end && s.pos < pos + len) return undefined;
    }
    return undefined;
  }

  add(slice: PendingSlice): void {
    this.slices.push(slice);
    const open = this.slices.filter((s) => !s.frozen);
    for (const s of open.slice(0, Math.max(0, open.length - WRITABLE_SLICES_PER_CHUNK_MAX))) {
      this.freeze(s);
    }
  }

  /** No more writes into `slice`; its upload starts now, its commit waits for its turn. */
  freeze(slice: PendingSlice): void {
    slice.frozen = true;
    startUpload(slice);
    this.kick();
  }

  kick(): void {
    void this.#run();
  }

  /** Waits until `target` (and everything older) is committed; EIO if it cannot be now. */
  async drain(target: PendingSlice): Promise<void> {
    for (const s of this.slices) {
      if (!s.frozen) this.freeze(s);
      if (s === target) break;
    }
    let retried = false;
    while (this.slices.includes(target)) {
      await this.#run();
      const head = this.slices[0];
      // A loop that ended just before the freeze above stopped at an open head: run again.
      if (!this.slices.includes(target) || head?.error === undefined) continue;
      if (retried) {
        const what = `slice ${head.writer.id} of inode ${this.file.ino}`;
        throw fsError("EIO", `cannot store ${what}: ${describeError(head.error)}`);
      }
      retried = true;
    }
  }

  #run(): Promise<void> {
    this.#committing ??= this.#loop().finally(() => {
      this.#committing = undefined;
    });
    return this.#committing;
  }

  /** Commits frozen slices from the head, in order; stops at an open slice or a failure. */
  async #loop(): Promise<void> {
    for (;;) {
      const head = this.slices[0];
      if (head === undefined || !head.frozen) return;
      if (!(await this.#commit(head))) return;
      assert(this.slices[0] === head, "only the loop removes the head");
      this.slices.shift();
    }
  }

  /** Uploads and commits the head; false when it failed and must stay. */
  async #commit(head: PendingSlice): Promise<boolean> {
    const { meta } = this.file.deps;
    const writer = head.writer;
    try {
      if (!head.uploaded) {
        await startUpload(head);
        head.uploaded = true;
      }
      const len = writer.lengthBytes;
      await meta.write(this.file.ino, this.index, {
        id: writer.id,
        size: len,
        off: 0,
        len,
        pos: head.pos,
      });
    } catch (error: unknown) {
      head.upload = undefined;
      if (head.uploaded && isRefusal(error)) {
        // Meta refused the slice for good: drop it, and tell every writer.
        await writer.abort().catch(() => undefined);
        this.file.deps.onRefused(this.file.ino, error);
        return true;
      }
      head.error = error;
      head.failedAtMs = Date.now();
      return false;
    }
    head.error = undefined;
    this.file.deps.onCommit(this.file.ino, this.index);
    return true;
  }
}

/**
 * An errno from meta is its answer about the data (ENOSPC, the file is gone ...), except EIO:
 * the engine could not be reached, and the slice is kept to be committed again.
 */
function isRefusal(error: unknown): error is FsError {
  return error instanceof FsError && error.errno !== Errno.EIO;
}

class FileWriter {
  readonly chunks = new Map<number, ChunkWriter>();

  constructor(
    readonly ino: Ino,
    readonly deps: WriterDeps,
  ) {}

  chunk(index: number): ChunkWriter {
    let c = this.chunks.get(index);
    if (c === undefined) {
      c = new ChunkWriter(this, index);
      this.chunks.set(index, c);
    }
    return c;
  }
}

export class FileWriters {
  readonly #files = new Map<Ino, FileWriter>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(private readonly deps: WriterDeps) {
    this.#timer = setInterval(() => this.#tick(), FLUSH_TICK_MS);
    this.#timer.unref?.();
  }

  async write(ino: Ino, offset: number, data: Uint8Array): Promise<void> {
    assert(Number.isSafeInteger(offset) && offset >= 0, "write offset");
    if (offset + data.length > FILE_SIZE_BYTES_MAX) throw fsError("EFBIG");
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const pos = at % CHUNK_BYTES;
      const n = Math.min(WRITE_PIECE_BYTES_MAX, CHUNK_BYTES - pos, data.length - done);
      await this.#writePiece(ino, Math.floor(at / CHUNK_BYTES), pos, data.subarray(done, done + n));
      done += n;
    }
  }

  /**
   * Writes one piece: reserves the buffer bytes it will allocate, then copies it in. Whatever
   * is awaited (buffer space, a new slice id) may change the chunk's slices, so the target is
   * looked up again afterwards and the reservation topped up if it now needs more.
   */
  async #writePiece(ino: Ino, index: number, pos: number, piece: Uint8Array): Promise<void> {
    const { store, meta } = this.deps;
    let reserved = 0;
    let allocated = 0;
    try {
      for (;;) {
        let target = this.#file(ino).chunk(index).findWritable(pos, piece.length);
        const need =
          target === undefined
            ? SliceWriter.firstAllocationBytes(store, piece.length)
            : target.writer.allocationBytes(pos - target.pos, piece.length);
        if (need > reserved) {
          await store.budget.acquire(need - reserved);
          reserved = need;
          continue;
        }
        if (target === undefined) {
          const id = await meta.newSliceId();
          // The chunk may have changed (or been dropped when empty) while we waited.
          const chunk = this.#file(ino).chunk(index);
          if (chunk.findWritable(pos, piece.length) !== undefined) continue;
          target = new PendingSlice(store.newWriter(id, CHUNK_BYTES - pos), pos);
          chunk.add(target);
        }
        allocated = target.writer.write(pos - target.pos, piece);
        target.lastWriteAtMs = Date.now();
        if (target.end === CHUNK_BYTES) this.#file(ino).chunk(index).freeze(target);
        return;
      }
    } finally {
      assert(allocated <= reserved, "a piece allocates at most what it reserved");
      store.budget.release(reserved - allocated);
    }
  }

  /** Uploads and commits every slice of `ino` buffered so far. */
  async flush(ino: Ino): Promise<void> {
    const file = this.#files.get(ino);
    if (file === undefined) return;
    const drains: Promise<void>[] = [];
    for (const chunk of file.chunks.values()) {
      const last = chunk.slices[chunk.slices.length - 1];
      if (last !== undefined) drains.push(chunk.drain(last));
    }
    const results = await Promise.allSettled(drains);
    const failed = results.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  async flushAll(): Promise<void> {
    const results = await Promise.allSettled([...this.#files.keys()].map((ino) => this.flush(ino)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /** End offset of `ino`'s buffered (uncommitted) bytes, if any. */
  bufferedEnd(ino: Ino): number | undefined {
    const file = this.#files.get(ino);
    if (file === undefined) return undefined;
    let end: number | undefined;
    for (const chunk of file.chunks.values()) {
      for (const s of chunk.slices) {
        if (s.writer.lengthBytes === 0) continue;
        end = Math.max(end ?? 0, chunk.index * CHUNK_BYTES + s.end);
      }
    }
    return end;
  }

  /** Buffered bytes of chunk [start, end), oldest slice first, at chunk positions. */
  overlay(ino: Ino, index: number, start: number, end: number): OverlayPart[] {
    const chunk = this.#files.get(ino)?.chunks.get(index);
    if (chunk === undefined) return [];
    const parts: OverlayPart[] = [];
    for (const s of chunk.slices) {
      const from = Math.max(start, s.pos);
      const to = Math.min(end, s.end);
      if (from >= to) continue;
      for (const part of s.writer.parts(from - s.pos, to - from)) {
        parts.push({ ...part, offset: part.offset + s.pos });
      }
    }
    return parts;
  }

  /** Buffer pressure: freeze every open slice so uploads start and free memory. */
  relieve(): void {
    for (const file of this.#files.values()) {
      for (const chunk of file.chunks.values()) {
        for (const s of chunk.slices) if (!s.frozen && s.writer.lengthBytes > 0) chunk.freeze(s);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flushAll();
  }

  #file(ino: Ino): FileWriter {
    let file = this.#files.get(ino);
    if (file === undefined) {
      file = new FileWriter(ino, this.deps);
      this.#files.set(ino, file);
    }
    return file;
  }

  /** Freezes idle and old slices, retries failed ones, forgets finished writers. */
  #tick(): void {
    const nowMs = Date.now();
    for (const [ino, file] of this.#files) {
      for (const [index, chunk] of file.chunks) {
        for (const s of chunk.slices) {
          const idle = nowMs - s.lastWriteAtMs >= FLUSH_IDLE_MS;
          const old = nowMs - s.createdAtMs >= FLUSH_AGE_MS;
          if (!s.frozen && s.writer.lengthBytes > 0 && (idle || old)) chunk.freeze(s);
        }
        const head = chunk.slices[0];
        if (head?.error !== undefined && nowMs - head.failedAtMs >= FLUSH_AGE_MS) chunk.kick();
        if (!chunk.busy) file.chunks.delete(index);
      }
      if (file.chunks.size === 0) this.#files.delete(ino);
    }
  }
}
