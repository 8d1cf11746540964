/**
 * The lock that serializes the transactions of one SQLite connection (sqlite.ts): FIFO, and
 * taken with no promise at all when it is free. A promise chain (`lock = previous.then(...)`)
 * cost every read transaction a new promise, a `then` and an await, even uncontended; with
 * calls pipelined the lock is handed from one holder straight to the next waiter.
 */
import { assert } from "../assert.ts";

/** Waiters dequeued before the queue's array is compacted. */
const COMPACT_AFTER_WAITERS = 1024;

export class TxnLock {
  #held = false;
  #waiters: (() => void)[] = [];
  /** Index of the first waiter still queued in #waiters. */
  #head = 0;

  get held(): boolean {
    return this.#held;
  }

  /** Takes the lock if it is free (no waiter can be queued then); true when taken. */
  tryAcquire(): boolean {
    if (this.#held) return false;
    this.#held = true;
    return true;
  }

  /** Resolves once the lock is ours, after those that asked before. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Hands the lock to the next waiter, or frees it. Only its holder calls this, once. */
  release(): void {
    assert(this.#held, "release of a lock that is not held");
    if (this.#head === this.#waiters.length) {
      this.#held = false;
      return;
    }
    const next = this.#waiters[this.#head]!;
    this.#head += 1;
    if (this.#head >= COMPACT_AFTER_WAITERS) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    next(); // still held: it is the waiter's now
  }
}
