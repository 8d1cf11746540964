/**
 * Recycled read buffers. A read whose bytes are no view of a cached block (a disk cache pread,
 * holes, buffered writes on top) fills one, its reply borrows it, and the buffer is given back
 * once the reply is written. A fresh buffer per reply paid for its page faults every time (see
 * READ_SPARE_BYTES). A buffer never given back (a reply dropped, a read that failed while a
 * piece may still be copying into it) is left to the collector; at most `pooledMax` idle ones
 * are kept. The VFS's readv keeps one pool (READ_SPARE_*), NFS READ another
 * (nfs/nfs3/readbuffers.ts).
 */
import { READ_SPARE_BYTES, READ_SPARE_BYTES_MIN, READ_SPARES_POOLED } from "../limits.ts";
import { RecycledBuffers } from "../recycled.ts";

export class SpareBuffers {
  readonly #pool: RecycledBuffers;

  constructor(
    pooledMax = READ_SPARES_POOLED,
    /** The size of every buffer; reads up to it get one. */
    readonly bufferBytes = READ_SPARE_BYTES,
    /** Reads shorter than this get none: a fresh buffer is as cheap. */
    private readonly readBytesMin = READ_SPARE_BYTES_MIN,
    idleTrimMs?: number,
  ) {
    this.#pool = new RecycledBuffers(bufferBytes, pooledMax, idleTrimMs);
  }

  /** A buffer of bufferBytes for a read of `bytes`; undefined outside the pooled sizes. */
  take(bytes: number): Buffer | undefined {
    if (bytes < this.readBytesMin || bytes > this.bufferBytes) return undefined;
    return this.#pool.take();
  }

  /** Takes back a buffer from take() once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    this.#pool.give(buffer);
  }

  /** Frees the idle buffers now. */
  clear(): void {
    this.#pool.clear();
  }

  get idleCount(): number {
    return this.#pool.idleCount;
  }
}
