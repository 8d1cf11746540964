/**
 * Recycled read buffers. A read whose bytes are no view of a cached block (a disk cache pread,
 * holes, buffered writes on top) fills one, its reply borrows it, and the buffer is given back
 * once the reply is written. A fresh buffer per reply paid for its page faults every time (see
 * READ_SPARE_BYTES). A buffer never given back (a reply dropped, a read that failed while a
 * piece may still be copying into it) is left to the collector; at most `pooledMax` idle ones
 * are kept. The VFS's readv keeps one pool (READ_SPARE_*), NFS READ another
 * (nfs/nfs3/readbuffers.ts).
 */
import { assert } from "../assert.ts";
import { freeBuffer, isWholeBuffer } from "../freebuffer.ts";
import { IdleTrim } from "../idletrim.ts";
import { READ_SPARE_BYTES, READ_SPARE_BYTES_MIN, READ_SPARES_POOLED } from "../limits.ts";

export class SpareBuffers {
  readonly #idle: Buffer[] = [];
  readonly #idleTrim: IdleTrim;

  constructor(
    private readonly pooledMax = READ_SPARES_POOLED,
    /** The size of every buffer; reads up to it get one. */
    readonly bufferBytes = READ_SPARE_BYTES,
    /** Reads shorter than this get none: a fresh buffer is as cheap. */
    private readonly readBytesMin = READ_SPARE_BYTES_MIN,
    idleTrimMs?: number,
  ) {
    this.#idleTrim = new IdleTrim(
      () => this.#idle.length,
      (keep) => this.#freeIdle(keep),
      idleTrimMs,
    );
  }

  /** A buffer of bufferBytes for a read of `bytes`; undefined outside the pooled sizes. */
  take(bytes: number): Buffer | undefined {
    if (bytes < this.readBytesMin || bytes > this.bufferBytes) return undefined;
    const buffer = this.#idle.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
    this.#idleTrim.taken();
    return buffer;
  }

  /** Takes back a buffer from take() once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    assert(buffer.length === this.bufferBytes && !this.#idle.includes(buffer), "not a spare");
    if (this.#idle.length >= this.pooledMax) return;
    this.#idle.push(buffer);
    this.#idleTrim.holding();
  }

  /**
   * Frees the idle buffers now (give() was their last use); small ones the allocator shares are
   * left to the collector.
   */
  clear(): void {
    this.#freeIdle(0);
    this.#idleTrim.stop();
  }

  #freeIdle(keep: number): void {
    while (this.#idle.length > keep) {
      const buffer = this.#idle.pop()!;
      if (isWholeBuffer(buffer)) freeBuffer(buffer);
    }
  }

  get idleCount(): number {
    return this.#idle.length;
  }
}
