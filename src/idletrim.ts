/**
 * Frees what a buffer pool held idle through a whole period: the least it held at any moment of
 * the period is what no take needed, so that much goes; a pool that went without takes loses
 * all of it. Each pool is sized for the peak of one kind of traffic (READ replies, WRITE
 * records, write pages), and kept that peak's buffers while the server did something else or
 * served one call at a time: after the reads of bench/nfs.ts, 16 MiB of READ buffers sat
 * through a 4 GiB write stream, and 32 MiB of write buffers and 17 MiB of WRITE records through
 * the reads after it (docs/benchmarks.md, "the 4 GiB stream's RSS").
 */
import { assert } from "./assert.ts";
import { POOL_IDLE_TRIM_MS } from "./limits.ts";

export class IdleTrim {
  /** The least held (in the pool's unit: buffers or bytes) since the period began. */
  #heldMin = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    /** What the pool holds idle now. */
    private readonly held: () => number,
    /** Frees idle buffers until the pool holds at most `keep`. */
    private readonly trimTo: (keep: number) => void,
    private readonly periodMs = POOL_IDLE_TRIM_MS,
  ) {
    assert(periodMs > 0, "idle trim period");
  }

  /** The pool handed a buffer out. */
  taken(): void {
    if (this.#timer !== undefined) this.#heldMin = Math.min(this.#heldMin, this.held());
  }

  /** The pool took a buffer back to hold. */
  holding(): void {
    if (this.#timer === undefined) this.#arm();
  }

  /** The pool was cleared (closed): nothing left to check. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#heldMin = this.held();
    this.#timer = setTimeout(() => this.#check(), this.periodMs);
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    const unneeded = Math.min(this.#heldMin, this.held());
    if (unneeded > 0) this.trimTo(this.held() - unneeded);
    if (this.held() > 0) this.#arm();
  }
}
