/**
 * Write errors that writers have not heard yet. When meta refuses a slice (ENOSPC, EDQUOT, the
 * file is gone), the data is dropped, and every writer of the inode must learn it, not only
 * whoever flushes first (Linux's errseq_t does the same for a file's descriptors):
 * - each writable handle open at the time hears it once, at its next flush, fsync or close;
 * - stateless writers (NFS, which has no handles) hear it at the next COMMIT of the file, once,
 *   and the file's write epoch changes, so that the write verifier an NFS client compares
 *   between WRITE and COMMIT differs and every client resends what it had not committed.
 *
 * Handles carry their own error (bounded by the open handles). The per-inode records are bounded
 * by WRITE_ERRORS_TRACKED_MAX, oldest forgotten first. A forgotten stateless error is the price
 * of the bound; a forgotten epoch is not: the epoch of every untracked inode is the newest
 * forgotten one, so forgetting can change other files' epochs (clients resend needlessly) but
 * can never bring a file back to an epoch a client saw before the refusal.
 */
import { assert } from "../assert.ts";
import type { FsError } from "../errors.ts";
import { WRITE_ERRORS_TRACKED_MAX } from "../limits.ts";
import type { Ino } from "../posix.ts";

export interface ErrorSink {
  writeError: FsError | undefined;
}

export class WriteErrors {
  /** Writable handles per inode: those that must hear a refusal of its data. */
  readonly #writers = new Map<Ino, Set<ErrorSink>>();
  /** Refusals not yet heard by a stateless fsync, oldest first. */
  readonly #stateless = new Map<Ino, FsError>();
  /** The refusal sequence number of each tracked inode, oldest first. */
  readonly #epochs = new Map<Ino, number>();
  #sequence = 0;
  /** The newest sequence number forgotten: the epoch of every untracked inode. */
  #floor = 0;

  constructor(private readonly trackedMax = WRITE_ERRORS_TRACKED_MAX) {
    assert(trackedMax >= 1);
  }

  addWriter(ino: Ino, sink: ErrorSink): void {
    let set = this.#writers.get(ino);
    if (set === undefined) {
      set = new Set();
      this.#writers.set(ino, set);
    }
    set.add(sink);
  }

  removeWriter(ino: Ino, sink: ErrorSink): void {
    const set = this.#writers.get(ino);
    set?.delete(sink);
    if (set?.size === 0) this.#writers.delete(ino);
  }

  /** Meta refused data of `ino`: everyone who writes it will hear `error` once. */
  refused(ino: Ino, error: FsError): void {
    for (const sink of this.#writers.get(ino) ?? []) sink.writeError ??= error;
    if (!this.#stateless.has(ino)) {
      this.#stateless.set(ino, error);
      for (const old of this.#stateless.keys()) {
        if (this.#stateless.size <= this.trackedMax) break;
        this.#stateless.delete(old);
      }
    }
    this.#epochs.delete(ino); // re-inserted: the map stays ordered by sequence
    this.#epochs.set(ino, ++this.#sequence);
    for (const [old, sequence] of this.#epochs) {
      if (this.#epochs.size <= this.trackedMax) break;
      this.#epochs.delete(old);
      this.#floor = sequence;
    }
  }

  /** The error a handle has not heard yet, now heard. */
  take(sink: ErrorSink): FsError | undefined {
    const error = sink.writeError;
    sink.writeError = undefined;
    return error;
  }

  /** The refusal of `ino` stateless writers have not heard yet, now heard. */
  takeStateless(ino: Ino): FsError | undefined {
    const error = this.#stateless.get(ino);
    this.#stateless.delete(ino);
    return error;
  }

  /** Changes whenever data of `ino` was refused (and sometimes when it was not). */
  epoch(ino: Ino): number {
    return this.#epochs.get(ino) ?? this.#floor;
  }
}
