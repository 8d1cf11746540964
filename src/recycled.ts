/**
 * Buffers of one size, recycled. A fresh 1 MiB buffer per call costs its page faults (a fresh
 * mapping) and stays in RSS until the collector runs; reusing one does neither. The pool keeps
 * at most `idleMax` idle buffers, and frees those a period went without (idletrim.ts); how many
 * are out at once is bounded by whoever lends them (for the NFS server's WRITE records, the RPC
 * layer's held-bytes budget; for read spares, the replies waiting to be written).
 */
import { assert } from "./assert.ts";
import { freeBuffer, isWholeBuffer } from "./freebuffer.ts";
import { IdleTrim } from "./idletrim.ts";

export class RecycledBuffers {
  private readonly idle: Buffer[] = [];
  private readonly idleTrim: IdleTrim;

  constructor(
    readonly bufferBytes: number,
    private readonly idleMax: number,
    idleTrimMs?: number,
  ) {
    assert(Number.isSafeInteger(bufferBytes) && bufferBytes > 0 && idleMax >= 0);
    this.idleTrim = new IdleTrim(
      () => this.idle.length,
      (keep) => this.freeIdle(keep),
      idleTrimMs,
    );
  }

  take(): Buffer {
    const buffer = this.idle.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
    this.idleTrim.taken();
    return buffer;
  }

  /** Takes back a buffer from take() once nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    assert(buffer.length === this.bufferBytes && !this.idle.includes(buffer), "not one of ours");
    if (this.idle.length >= this.idleMax) return;
    this.idle.push(buffer);
    this.idleTrim.holding();
  }

  /**
   * Frees the idle buffers now (give() was their last use); small ones the allocator shares are
   * left to the collector.
   */
  clear(): void {
    this.freeIdle(0);
    this.idleTrim.stop();
  }

  private freeIdle(keep: number): void {
    while (this.idle.length > keep) {
      const buffer = this.idle.pop()!;
      if (isWholeBuffer(buffer)) freeBuffer(buffer);
    }
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
