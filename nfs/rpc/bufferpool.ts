/**
 * Buffers of one size, recycled. A fresh 1 MiB buffer per call costs its page faults (a fresh
 * mapping) and stays in RSS until the collector runs; reusing one does neither. The pool keeps
 * at most `idleMax` idle buffers; how many are out at once is bounded by whoever lends them
 * (the RPC layer's held-bytes budget for records and replies).
 */
import { assert } from "../../src/assert.ts";

export class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    private readonly idleMax: number,
  ) {
    assert(Number.isSafeInteger(bufferBytes) && bufferBytes > 0 && idleMax >= 0);
  }

  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
  }

  /** Takes back a buffer from take() once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    assert(buffer.length === this.bufferBytes && !this.idle.includes(buffer), "not one of ours");
    if (this.idle.length < this.idleMax) this.idle.push(buffer);
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
