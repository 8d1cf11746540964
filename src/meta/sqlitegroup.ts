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
 * Deferred sync (TxnOptions.deferSync, a FUSE create that its close makes durable): a group of
 * only such transactions commits without syncing (`syncMode(true)`: synchronous=NORMAL for its
 * COMMIT) and settles at once; a group with any other transaction syncs as above, and covers
 * the deferred ones with it. Commits are numbered (`commits`, the SyncToken); `#durableThrough`
 * is the last number known durable. The WAL is appended in commit order, so a sync of it (a
 * FULL COMMIT's, or `deps.sync`, a WAL fdatasync) covers every commit returned before it
 * began: `syncThrough(token)` returns at once if a durable commit after the token's did so,
 * and otherwise runs one WAL fdatasync shared by every caller asking meanwhile. A deferred
 * commit nobody syncs is synced DEFERRED_SYNC_DELAY_MS later, and at close.
 *
 * A lone transaction is not held back: the group starts at the next turn of the event loop
 * (setImmediate), after the I/O callbacks already due, which is where concurrent flushes add
 * their commits. The lock is released between groups, so read-only transactions queued on it
 * run between groups and are never starved by a stream of writers.
 */
import type { Database } from "bun:sqlite";
import { assert } from "../assert.ts";
import { describeError } from "../errors.ts";
import {
  DEFERRED_SYNC_DELAY_MS,
  SQLITE_GROUP_TXNS_MAX,
  TXN_BUSY_WAIT_MS_MAX,
  TXN_RETRY_BACKOFF_MS_MAX,
} from "../limits.ts";
import { log } from "../log.ts";
import type { MetaTxn, SyncToken } from "./txn.ts";

interface Queued {
  fn: (tx: MetaTxn) => Promise<unknown>;
  deferSync: boolean;
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
  /**
   * Makes the next COMMIT sync (false) or not (true, a group of deferred transactions); called
   * before each BEGIN, outside any transaction.
   */
  syncMode: (deferred: boolean) => void;
  /**
   * Resolves once every COMMIT that returned before the call is durable, whatever the mode (the
   * WAL fdatasync); a no-op when nothing is to be synced.
   */
  sync: () => Promise<void>;
}

export class GroupCommit {
  readonly #queue: Queued[] = [];
  #scheduled = false;
  /** COMMITs issued, and write transactions committed by them (for benches and tests). */
  commits = 0;
  transactions = 0;
  /** COMMITs that did not sync (deferred groups), and syncThrough calls that synced. */
  deferredCommits = 0;
  deferredSyncs = 0;
  /** The last commit number known durable: every COMMIT up to it is on disk. */
  #durableThrough = 0;
  /** The last deferred commit number, and the timer bounding how long it stays unsynced. */
  #deferredThrough = 0;
  #deferredTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last sync syncThrough started, and the commits it covers. */
  #syncing: { through: SyncToken; done: Promise<void> } | undefined;
  /** Set by close: no background sync is armed after it (close synced what was deferred). */
  #closed = false;

  constructor(private readonly deps: GroupCommitDeps) {}

  run<T>(fn: (tx: MetaTxn) => Promise<T>, deferSync = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, deferSync, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Covers every transaction settled so far (their COMMITs returned). */
  token(): SyncToken {
    return this.commits;
  }

  /** Resolves once the commits `token` covers are durable; rejects if they may not be. */
  async syncThrough(token: SyncToken): Promise<void> {
    assert(Number.isSafeInteger(token) && token >= 0 && token <= this.commits, "sync token");
    if (token <= this.#durableThrough) return;
    // A sync running already that began after the token's commit covers it.
    const running = this.#syncing;
    if (running !== undefined && running.through >= token) return running.done;
    const through = this.commits;
    this.deferredSyncs++;
    const done = this.deps.sync().then(() => this.#durable(through));
    this.#syncing = { through, done };
    try {
      await done;
    } finally {
      if (this.#syncing?.done === done) this.#syncing = undefined;
    }
  }

  /**
   * Syncs the deferred commits and stops the background sync (the others are durable, or
   * their callers heard that they may not be).
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#deferredTimer);
    this.#deferredTimer = undefined;
    if (this.#deferredThrough > this.#durableThrough) await this.syncThrough(this.#deferredThrough);
  }

  #durable(through: SyncToken): void {
    if (through > this.#durableThrough) this.#durableThrough = through;
  }

  /** A deferred commit is synced within DEFERRED_SYNC_DELAY_MS if nothing else syncs it. */
  #deferred(through: SyncToken): void {
    this.#deferredThrough = through;
    if (this.#deferredTimer !== undefined || this.#closed) return;
    this.#deferredTimer = setTimeout(() => {
      const target = this.#deferredThrough;
      this.syncThrough(target).then(
        () => {
          this.#deferredTimer = undefined;
          if (this.#deferredThrough > this.#durableThrough) this.#deferred(this.#deferredThrough);
        },
        (error: unknown) => {
          // The barrier is poisoned (walsync.ts): every later sync rejects, so closes report it.
          this.#deferredTimer = undefined;
          log.warn(`background sync of deferred commits: ${describeError(error)}`);
        },
      );
    }, DEFERRED_SYNC_DELAY_MS);
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
    const deferred = group.every((q) => q.deferSync);
    let outcomes: Outcome[] | { failed: unknown };
    try {
      outcomes = await this.#runGroup(group, deferred);
    } finally {
      release();
      this.#schedule();
    }
    if (!Array.isArray(outcomes)) {
      for (const q of group) q.reject(outcomes.failed);
      return;
    }
    assert(outcomes.length === group.length, "one outcome per transaction of the group");
    // This group's commit number: COMMIT returned and nothing awaited since.
    const through = this.commits;
    if (deferred) {
      if (outcomes.some((o) => o.ok)) this.#deferred(through);
    } else if (outcomes.some((o) => o.ok)) {
      try {
        // Started after COMMIT returned: it covers every frame this group wrote.
        await this.deps.durable();
      } catch (error) {
        for (const q of group) q.reject(error);
        return;
      }
      this.#durable(through);
    }
    for (const [i, q] of group.entries()) {
      const o = outcomes[i]!;
      if (o.ok) q.resolve(o.value);
      else q.reject(o.error);
    }
  }

  /** Commits the group (retrying SQLITE_BUSY); settles nobody. */
  async #runGroup(group: Queued[], deferred: boolean): Promise<Outcome[] | { failed: unknown }> {
    const deadline = Date.now() + TXN_BUSY_WAIT_MS_MAX;
    for (let attempt = 1; ; attempt++) {
      try {
        this.deps.syncMode(deferred);
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
      if (group.every((q) => q.deferSync)) this.deferredCommits++;
      this.transactions += outcomes.filter((o) => o.ok).length;
      return outcomes;
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw error;
    }
  }
}
