/**
 * Two bounds of the data path: a semaphore for concurrent object requests (uploads, downloads,
 * deletes), and the write buffer budget in bytes. Both queue waiters first-in first-out, so a big
 * request is never starved by a stream of small ones.
 */
import { assert, assertSafeUint } from "../assert.ts";

export class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];

  constructor(readonly limit: number) {
    assert(Number.isSafeInteger(limit) && limit >= 1, `semaphore limit must be >= 1, got ${limit}`);
    this.#free = limit;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0 && this.#waiters.length === 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) {
      next(); // the slot passes straight to the next waiter
      return;
    }
    this.#free++;
    assert(this.#free <= this.limit, "semaphore released more often than acquired");
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }
}

interface BudgetWaiter {
  bytes: number;
  resolve: () => void;
}

/**
 * The write buffer: bytes of written-but-not-uploaded data held in memory. A writer that would
 * go over waits; while anyone waits, `onPressure` is called (now and every `pressureEveryMs`) so
 * the owner can start flushing buffered slices, the only thing that frees the budget.
 */
export class ByteBudget {
  #usedBytes = 0;
  readonly #waiters: BudgetWaiter[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly capacityBytes: number,
    private readonly onPressure: () => void,
    private readonly pressureEveryMs: number,
    /** Called after the bytes in use grew (the store shrinks its memory cache to make room). */
    private readonly onGrow: () => void = () => undefined,
  ) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes > 0, "budget capacity");
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  async acquire(bytes: number): Promise<void> {
    assertSafeUint(bytes, "budget bytes");
    assert(
      bytes <= this.capacityBytes,
      `${bytes} bytes can never fit a ${this.capacityBytes} budget`,
    );
    if (this.#waiters.length === 0 && this.#usedBytes + bytes <= this.capacityBytes) {
      this.#usedBytes += bytes;
      this.onGrow();
      return;
    }
    const granted = new Promise<void>((resolve) => this.#waiters.push({ bytes, resolve }));
    this.#startPressure();
    await granted;
  }

  /**
   * Takes `bytes` at once, past the capacity if need be: memory the data path holds anyway (the
   * copy of a block an upload is sending), which writers must then wait for.
   */
  charge(bytes: number): void {
    assertSafeUint(bytes, "budget bytes");
    this.#usedBytes += bytes;
    this.onGrow();
  }

  release(bytes: number): void {
    assertSafeUint(bytes, "budget bytes");
    assert(bytes <= this.#usedBytes, `releasing ${bytes} of ${this.#usedBytes} used bytes`);
    this.#usedBytes -= bytes;
    let granted = false;
    for (;;) {
      const head = this.#waiters[0];
      if (!head || this.#usedBytes + head.bytes > this.capacityBytes) break;
      this.#waiters.shift();
      this.#usedBytes += head.bytes;
      head.resolve();
      granted = true;
    }
    if (granted) this.onGrow();
    if (this.#waiters.length === 0) this.#stopPressure();
  }

  close(): void {
    this.#stopPressure();
  }

  #startPressure(): void {
    this.onPressure();
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.onPressure(), this.pressureEveryMs);
    this.#timer.unref?.();
  }

  #stopPressure(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
