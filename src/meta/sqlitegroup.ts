/**
 * Group commit for the SQLite engine: write transactions that arrive while the connection is
 * busy (files flushed at about the same time, each committing its slices) run one after the
 * other inside one BEGIN IMMEDIATE … COMMIT, each in a SAVEPOINT of its own.
 *
 * Durability: with synchronous=FULL (the default) the COMMIT itself fsyncs the WAL and
 * `durable()` is a no-op. With the WAL barrier (synchronous=NORMAL, SqliteOpenOptions) the
 * COMMIT only writes the WAL; after it returns, the connection lock is released (the next group
 * may run) and the group waits for `durable()`, a WAL fdatasync on the I/O pool shared by every
 * group that committed before it began (walsync.ts argues why that is as durable). Either way
 * every caller's promise settles only after its frames are on disk: what a caller acknowledges
 * (a close, an fsync, an NFS COMMIT) survives a power cut.
 *
 * A transaction that throws is rolled back to its savepoint alone and rejects; the others of
 * its group commit. SQLITE_BUSY (another process holds the write lock) rolls the whole group back
 * and re-runs it after a backoff: transaction functions are written to be re-run (txn.ts). A
 * failed COMMIT, or a failed barrier, rejects the whole group, none of which was acknowledged.
 *
 * A lone transaction is not held back: the group starts at the next turn of the event loop
 * (setImmediate), after the I/O callbacks already due, which is where concurrent flushes add
 * their commits. The lock is released between groups, so read-only transactions queued on it
 * run between groups and are never starved by a stream of writers.
 */
import type { Database } from "bun:sqlite";
import { assert } from "../assert.ts";
import {
  SQLITE_GROUP_TXNS_MAX,
  TXN_BUSY_WAIT_MS_MAX,
  TXN_RETRY_BACKOFF_MS_MAX,
} from "../limits.ts";
import type { MetaTxn } from "./txn.ts";

interface Queued {
  fn: (tx: MetaTxn) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface GroupCommitDeps {
  db: Database;
  /** The engine's connection lock: held for a whole group. */
  acquire: () => Promise<() => void>;
  /** A fresh write transaction handle (its own TxnGuard). */
  newTxn: () => MetaTxn;
  isBusy: (error: unknown) => boolean;
  /**
   * Resolves once every COMMIT that returned before the call is durable (the WAL barrier);
   * a no-op when nothing is to be synced (an in-memory database, a bench without fsync).
   */
  durable: () => Promise<void>;
}

export class GroupCommit {
  readonly #queue: Queued[] = [];
  #scheduled = false;
  /** COMMITs issued, and write transactions committed by them (for benches and tests). */
  commits = 0;
  transactions = 0;

  constructor(private readonly deps: GroupCommitDeps) {}

  run<T>(fn: (tx: MetaTxn) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => void this.#lead());
  }

  /**
   * Takes the lock, commits one group of what is queued, releases the lock (the next group may
   * commit while this one's barrier runs), and settles the group after the barrier.
   */
  async #lead(): Promise<void> {
    const release = await this.deps.acquire();
    // Transactions queued while waiting for the lock join this group.
    this.#scheduled = false;
    const group = this.#queue.splice(0, SQLITE_GROUP_TXNS_MAX);
    let outcomes: Outcome[] | { failed: unknown };
    try {
      outcomes = await this.#runGroup(group);
    } finally {
      release();
      this.#schedule();
    }
    if (!Array.isArray(outcomes)) {
      for (const q of group) q.reject(outcomes.failed);
      return;
    }
    assert(outcomes.length === group.length, "one outcome per transaction of the group");
    if (outcomes.some((o) => o.ok)) {
      try {
        // Started after COMMIT returned: it covers every frame this group wrote.
        await this.deps.durable();
      } catch (error) {
        for (const q of group) q.reject(error);
        return;
      }
    }
    for (const [i, q] of group.entries()) {
      const o = outcomes[i]!;
      if (o.ok) q.resolve(o.value);
      else q.reject(o.error);
    }
  }

  /** Commits the group (retrying SQLITE_BUSY); settles nobody. */
  async #runGroup(group: Queued[]): Promise<Outcome[] | { failed: unknown }> {
    const deadline = Date.now() + TXN_BUSY_WAIT_MS_MAX;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt(group);
      } catch (error) {
        if (this.deps.isBusy(error) && Date.now() <= deadline) {
          await Bun.sleep(Math.random() * Math.min(TXN_RETRY_BACKOFF_MS_MAX, 2 ** attempt));
          continue;
        }
        return { failed: error };
      }
    }
  }

  /** One BEGIN … COMMIT running every transaction of `group` in its own savepoint. */
  async #attempt(group: readonly Queued[]): Promise<Outcome[]> {
    const { db } = this.deps;
    db.exec("BEGIN IMMEDIATE");
    try {
      const outcomes: Outcome[] = [];
      for (const q of group) {
        db.exec("SAVEPOINT jfs_txn");
        try {
          const value = await q.fn(this.deps.newTxn());
          db.exec("RELEASE jfs_txn");
          outcomes.push({ ok: true, value });
        } catch (error) {
          // BUSY: the whole group runs again. An error SQLite answered by rolling back the
          // whole transaction (disk full, I/O error) fails the whole group.
          if (this.deps.isBusy(error) || !db.inTransaction) throw error;
          db.exec("ROLLBACK TO jfs_txn");
          db.exec("RELEASE jfs_txn");
          outcomes.push({ ok: false, error });
        }
      }
      db.exec("COMMIT");
      this.commits++;
      this.transactions += outcomes.filter((o) => o.ok).length;
      return outcomes;
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }
}
