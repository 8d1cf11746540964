/**
 * Explicit lifetimes for the data path's big buffers (write pages, blocks, downloaded blocks).
 *
 * They churn at the I/O rate, and the garbage collector paces itself by the JS heap, not by the
 * bytes held outside it: a stream keeping 128 MiB of 4 MiB blocks live while dropping the rest
 * reached 1.3 GiB RSS, and copying into freshly mapped memory ran at a fifth of the speed of
 * copying into reused memory (page faults). So each buffer has owners that say when they are
 * done, and the last one hands it to a BufferPool, which keeps it for reuse or frees it at once.
 *
 * Freeing is ArrayBuffer.prototype.transfer(0): the memory goes back now, and any view still
 * pointing at it reads as empty instead of reading reused bytes. Only buffers that span their
 * whole ArrayBuffer and that the pool handed out or adopted are ever freed, never a caller's.
 */
import { assert, assertSafeUint } from "../assert.ts";
import { freeBuffer } from "../freebuffer.ts";
import { IdleTrim } from "../idletrim.ts";
import { ADOPTED_TAIL_BYTES_MAX } from "../limits.ts";

/**
 * True when `buffer` starts its plain ArrayBuffer and leaves at most ADOPTED_TAIL_BYTES_MAX of
 * it unseen: a block a store handed out without its checksum trailer (src/object/checksum.ts),
 * whose whole ArrayBuffer the caller owns.
 */
export function isAdoptableBuffer(buffer: Buffer): boolean {
  const whole = buffer.buffer;
  return (
    whole instanceof ArrayBuffer &&
    buffer.byteOffset === 0 &&
    whole.byteLength - buffer.byteLength <= ADOPTED_TAIL_BYTES_MAX
  );
}

/** Gives back the whole ArrayBuffer of an adoptable buffer (its trailer too). */
function freeAdopted(buffer: Buffer): void {
  const whole = buffer.buffer;
  assert(whole instanceof ArrayBuffer && isAdoptableBuffer(buffer), "freeing a view");
  whole.transfer(0);
}

/**
 * Reference-counted buffers. alloc() and adopt() give the caller one reference, retain() adds
 * one, release() drops one; the last release keeps the buffer for reuse (if alloc() made it, it
 * has one of the pooled sizes and free buffers stay within `freeBytesMax()`) or frees it.
 * Buffers the pool neither made nor adopted are ignored by retain / release, so callers may
 * pass anything.
 */
export class BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  /** Owners per buffer; weak, so a buffer an owner forgot still goes to the collector. */
  readonly #refs = new WeakMap<Buffer, number>();
  /** Buffers alloc() made: only those are kept for reuse (adopted ones are freed). */
  readonly #own = new WeakSet<Buffer>();
  #pooledBytes = 0;
  readonly #idleTrim: IdleTrim;

  constructor(
    sizes: readonly number[],
    /** How many free bytes may be kept now (the owner may tie it to what else is in use). */
    private readonly freeBytesMax: () => number,
    idleTrimMs?: number,
  ) {
    for (const size of sizes) {
      assert(size > 0, "pooled buffer size");
      this.#free.set(size, []);
    }
    this.#idleTrim = new IdleTrim(
      () => this.#pooledBytes,
      (keepBytes) => this.#freeDownTo(keepBytes),
      idleTrimMs,
    );
  }

  get pooledBytes(): number {
    return this.#pooledBytes;
  }

  /** Whether buffers of `bytes` are kept for reuse (one of the pooled sizes). */
  recycles(bytes: number): boolean {
    return this.#free.has(bytes);
  }

  /** A buffer of `bytes`, reused when one is free; its contents are arbitrary. */
  alloc(bytes: number): Buffer {
    assertSafeUint(bytes, "buffer bytes");
    const reused = this.#free.get(bytes)?.pop();
    let buffer: Buffer;
    if (reused === undefined) {
      this.trim(); // what is free is of other sizes: keep no more than is allowed now
      buffer = Buffer.allocUnsafe(bytes);
      this.#own.add(buffer);
    } else {
      this.#pooledBytes -= bytes;
      buffer = reused;
    }
    this.#refs.set(buffer, 1);
    this.#idleTrim.taken();
    return buffer;
  }

  /**
   * Takes a buffer made elsewhere (a download) under the pool's care, with one reference; the
   * last release frees its whole ArrayBuffer (trailer included), so the caller must own that.
   */
  adopt(buffer: Buffer): void {
    if (!isAdoptableBuffer(buffer) || this.#refs.has(buffer)) return;
    this.#refs.set(buffer, 1);
  }

  retain(buffer: Buffer): void {
    const refs = this.#refs.get(buffer);
    if (refs !== undefined) this.#refs.set(buffer, refs + 1);
  }

  release(buffer: Buffer): void {
    const refs = this.#refs.get(buffer);
    if (refs === undefined) return;
    assert(refs >= 1, "buffer reference count");
    if (refs > 1) {
      this.#refs.set(buffer, refs - 1);
      return;
    }
    this.#refs.delete(buffer);
    const free = this.#own.has(buffer) ? this.#free.get(buffer.length) : undefined;
    if (free !== undefined && this.#pooledBytes + buffer.length <= this.freeBytesMax()) {
      free.push(buffer);
      this.#pooledBytes += buffer.length;
      this.#idleTrim.holding();
      return;
    }
    freeAdopted(buffer);
  }

  /** Frees pooled buffers beyond `freeBytesMax()`. */
  trim(): void {
    if (this.#pooledBytes === 0) return;
    this.#freeDownTo(this.freeBytesMax());
  }

  #freeDownTo(keepBytes: number): void {
    for (const free of this.#free.values()) {
      while (this.#pooledBytes > keepBytes && free.length > 0) {
        const buffer = free.pop()!;
        this.#pooledBytes -= buffer.length;
        freeBuffer(buffer);
      }
    }
  }

  /** Frees every pooled buffer (buffers still owned are freed by their last release). */
  clear(): void {
    for (const free of this.#free.values()) {
      for (const buffer of free) freeBuffer(buffer);
      free.length = 0;
    }
    this.#pooledBytes = 0;
    this.#idleTrim.stop();
  }
}
