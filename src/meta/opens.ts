/**
 * This process's open files, and their registration with the engine (the jfs_open rows that
 * make other sessions keep an unlinked file's data). Registering costs a write transaction, so
 * a registration outlives the last local close by OPEN_LINGER_MS: a file reopened soon after
 * (a training epoch, a build, an NFS client's bursts) needs no write at all, and the rows of
 * released files are removed in batches, off the close path.
 */
import { assert } from "../assert.ts";
import { OPEN_LINGER_BATCH } from "../limits.ts";
import type { Ino } from "./interface.ts";

export class OpenFiles {
  /** Local opens per inode; every inode here is registered (or being registered). */
  readonly #counts = new Map<Ino, number>();
  /** Registered inodes no one here has open, with when they were released. */
  readonly #lingering = new Map<Ino, number>();

  /** Counts one more open; true when the inode still needs registering with the engine. */
  acquire(ino: Ino): boolean {
    const count = this.#counts.get(ino) ?? 0;
    this.#counts.set(ino, count + 1);
    const registered = count > 0 || this.#lingering.delete(ino);
    return !registered;
  }

  /** Undoes acquire() after a failed open; true when it was the only one. */
  abandon(ino: Ino): void {
    this.#decrement(ino);
  }

  /** Counts one open less; true when that was the last local open. */
  release(ino: Ino): boolean {
    assert((this.#counts.get(ino) ?? 0) > 0, `release of inode ${ino} that is not open`);
    return this.#decrement(ino);
  }

  /**
   * Marks an inode that is neither open nor registered as registered and released at `nowMs`
   * (registerAhead); true when it needs its row written.
   */
  preregister(ino: Ino, nowMs: number): boolean {
    if (this.#counts.has(ino) || this.#lingering.has(ino)) return false;
    this.#lingering.set(ino, nowMs);
    return true;
  }

  /** Undoes preregister() of inodes whose rows could not be written (still not open here). */
  unregistered(inos: readonly Ino[]): void {
    for (const ino of inos) this.#lingering.delete(ino);
  }

  linger(ino: Ino, nowMs: number): void {
    if (!this.#counts.has(ino)) this.#lingering.set(ino, nowMs);
  }

  isOpen(ino: Ino): boolean {
    return this.#counts.has(ino);
  }

  /**
   * Takes up to `limit` lingering inodes released before `beforeMs` (all with Infinity); the
   * caller removes their rows in a transaction that skips any reopened meanwhile (isOpen).
   */
  takeLingering(beforeMs: number, limit = OPEN_LINGER_BATCH): Ino[] {
    const taken: Ino[] = [];
    for (const [ino, at] of this.#lingering) {
      if (at >= beforeMs || taken.length >= limit) break;
      taken.push(ino);
    }
    for (const ino of taken) this.#lingering.delete(ino);
    return taken;
  }

  get lingeringCount(): number {
    return this.#lingering.size;
  }

  /** Every inode open here, e.g. for closing a session. */
  openInodes(): Ino[] {
    return [...this.#counts.keys()];
  }

  #decrement(ino: Ino): boolean {
    const count = this.#counts.get(ino) ?? 0;
    if (count <= 1) {
      this.#counts.delete(ino);
      return count === 1;
    }
    this.#counts.set(ino, count - 1);
    return false;
  }
}
