/**
 * The SQLite engine's durability barrier: our own fdatasync of the database's WAL file, run on
 * the I/O thread pool (a FileHandle) instead of inside COMMIT on the event loop. The database
 * runs with journal_mode=WAL and synchronous=NORMAL, where COMMIT appends its frames to the WAL
 * with write() and returns without syncing; a write transaction's promise settles only after a
 * barrier that *started after its COMMIT returned* has completed (sqlitegroup.ts). Why that is
 * as durable as synchronous=FULL:
 *
 * - Which frames a sync covers. fdatasync of the WAL inode makes every byte written to that
 *   inode before the call durable, with the file size. A COMMIT that returned has written all
 *   its frames, the last one marked as a commit frame and checksummed in a chain from the WAL
 *   header, so after the barrier, recovery replays it. Frames of later commits written while
 *   the sync runs may or may not be covered; their own barrier starts after they returned.
 * - WAL reset. A checkpoint under NORMAL fsyncs the WAL before copying frames into the
 *   database and fsyncs the database after; only then, once every frame is in the database,
 *   may a later writer restart the WAL from its start with new salts, and SQLite syncs that new
 *   header before any frame follows it (synchronous=NORMAL keeps the header sync; only OFF
 *   drops it). So frames overwritten by a reset were durable in the database before, and
 *   frames of the new generation are covered by the next barrier like any others.
 * - The inode. We sync the inode the path names, and SQLite writes the one it opened. They are
 *   the same while our connection is open: SQLite deletes a WAL only when the last connection
 *   closes, after a full checkpoint that synced the database, and a connection holds the
 *   database file's shared lock for its lifetime. Each barrier still compares the path's inode
 *   with our handle's and reopens if it changed. If the WAL is gone, it was fully checkpointed
 *   into the database, which was synced before the file was deleted: nothing is left to sync.
 *   (We never open the database file itself: closing any descriptor of it would drop this
 *   process's POSIX locks on it, which are SQLite's.)
 * - The WAL's name in its directory: SQLite's first sync of a new WAL (its header, see above)
 *   also fsyncs the directory, under NORMAL as under FULL.
 * - Several processes on one database file (two mounts in tests): they append to the same
 *   WAL inode, and each process's barrier covers its own commits (and, as a side effect, other
 *   processes' frames written before it). A checkpoint run by one process syncs as above,
 *   whoever wrote the frames.
 * - Read-only transactions write no frame and wait for no barrier.
 * - A failed sync poisons the barrier: after an fsync error, the kernel may have dropped the
 *   dirty pages and a later fsync can succeed without them (the "fsyncgate" lesson), so every
 *   later write transaction of this engine rejects instead of acknowledging. Remounting
 *   replays the WAL that is on disk.
 */
import { statSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { assert } from "../assert.ts";
import { describeError } from "../errors.ts";
import { SharedSync } from "../fsync.ts";

/** One sync of the durable state of a database, for every commit returned before it began. */
export type WalSyncer = () => Promise<void>;

export class WalFileSync {
  readonly walPath: string;
  #handle: FileHandle | undefined;
  #ino = 0;
  #failure: unknown;
  /** Shared by every caller: one fdatasync covers all the commits returned before it began. */
  readonly #shared: SharedSync;

  constructor(
    readonly dbPath: string,
    syncer?: WalSyncer,
  ) {
    assert(dbPath !== ":memory:", "an in-memory database has no WAL to sync");
    this.walPath = `${dbPath}-wal`;
    this.#shared = new SharedSync(() => this.#guarded(syncer ?? (() => this.#syncFile())));
  }

  /** fdatasyncs issued (tests, benches). */
  get syncs(): number {
    return this.#shared.syncs;
  }

  /** Resolves once everything committed before the call is durable; rejects if it may not be. */
  barrier(): Promise<void> {
    return this.#shared.sync();
  }

  async close(): Promise<void> {
    await this.#shared.idle();
    await this.#handle?.close();
    this.#handle = undefined;
  }

  async #guarded(syncOnce: WalSyncer): Promise<void> {
    if (this.#failure !== undefined) throw this.#poisoned();
    try {
      await syncOnce();
    } catch (error) {
      this.#failure = error;
      throw this.#poisoned();
    }
  }

  #poisoned(): Error {
    return new Error(
      `fsync of "${this.walPath}" failed (${describeError(this.#failure)}): ` +
        "no further write is acknowledged; remount",
    );
  }

  async #syncFile(): Promise<void> {
    // No WAL: fully checkpointed into the (synced) database and removed.
    await (await this.#current())?.datasync();
  }

  /**
   * Our handle on the inode the WAL path names now (reopened if it changed), or none. The stat
   * is a blocking call on purpose: the inode is in the kernel's cache (SQLite just wrote it), so
   * it costs microseconds, where a trip through the thread pool costs a thread wake-up, which
   * on a loaded machine is the larger part of a barrier.
   */
  async #current(): Promise<FileHandle | undefined> {
    const ino = statSync(this.walPath, { throwIfNoEntry: false })?.ino;
    if (ino === undefined) {
      await this.#handle?.close();
      this.#handle = undefined;
      return undefined;
    }
    if (this.#handle !== undefined && ino === this.#ino) return this.#handle;
    await this.#handle?.close();
    this.#handle = undefined;
    // "r+": fdatasync needs no write access on Linux, but some systems refuse it on a
    // read-only descriptor. Never created here: SQLite owns the file.
    const handle = await open(this.walPath, "r+");
    this.#handle = handle;
    this.#ino = (await handle.stat()).ino;
    return handle;
  }
}
