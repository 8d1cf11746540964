/**
 * Recycled buffers for the bytes of a readv() that are no view of a cached block (a disk
 * cache pread, holes, buffered writes on top): the read fills one, its reply borrows it, and
 * release() gives it back once the reply is written. A fresh buffer per reply paid for its page
 * faults every time (see READ_SPARE_BYTES). A reply never released leaves its buffer to the
 * collector; at most READ_SPARES_POOLED idle ones are kept.
 */
import { assert } from "../assert.ts";
import { READ_SPARE_BYTES, READ_SPARE_BYTES_MIN, READ_SPARES_POOLED } from "../limits.ts";

export class SpareBuffers {
  readonly #idle: Buffer[] = [];

  constructor(private readonly pooledMax = READ_SPARES_POOLED) {}

  /** A buffer of READ_SPARE_BYTES for a read of `bytes`; undefined outside the pooled sizes. */
  take(bytes: number): Buffer | undefined {
    if (bytes < READ_SPARE_BYTES_MIN || bytes > READ_SPARE_BYTES) return undefined;
    return this.#idle.pop() ?? Buffer.allocUnsafe(READ_SPARE_BYTES);
  }

  /** Takes back a buffer from take() once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    assert(buffer.length === READ_SPARE_BYTES && !this.#idle.includes(buffer), "not a spare");
    if (this.#idle.length < this.pooledMax) this.#idle.push(buffer);
  }

  get idleCount(): number {
    return this.#idle.length;
  }
}
