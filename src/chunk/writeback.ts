/**
 * Writeback (JuiceFS's --writeback): a flushed block is staged in the disk cache and its flush
 * returns; the upload follows in the background, through the same upload slots as direct
 * uploads. Small files then cost a local file write at close instead of an object store PUT.
 *
 * What it trades: until its upload, a block lives only in this machine's cache directory. Other
 * clients of the volume (another mount on the same Redis) cannot read it yet, and losing the
 * cache disk loses it. A crash of jfs or a power cut does not: staged blocks are found again at
 * the next start with the same cache directory and uploaded then, whether or not that start
 * stages new blocks (the store runs this uploader whenever it has a disk cache).
 *
 * Uploads are retried with backoff for as long as the process runs; close() waits for the
 * queue, and what fails while closing stays staged for the next start.
 */
import { assert } from "../assert.ts";
import { describeError } from "../errors.ts";
import { WRITEBACK_RETRY_MS_MAX, WRITEBACK_RETRY_MS_MIN } from "../limits.ts";
import { log } from "../log.ts";
import type { ObjectStore } from "../object/interface.ts";
import type { BlockCodec } from "./codec.ts";
import type { DiskCache } from "./diskcache.ts";
import { parseBlockKey } from "./keys.ts";
import type { Semaphore } from "./limiter.ts";

export interface WritebackDeps {
  cache: DiskCache;
  objects: ObjectStore;
  codec: BlockCodec;
  /** The store's upload slots, shared with direct uploads. */
  uploads: Semaphore;
  /** Called after each finished upload (statistics). */
  onUploaded: () => void;
}

export class Writeback {
  /** Staged keys whose upload has not finished, with the task that uploads them. */
  readonly #pending = new Map<string, Promise<void>>();
  #closing = false;
  /** resume() until its uploads are queued: a close right after a start must wait for them. */
  #resuming: Promise<void> = Promise.resolve();

  constructor(private readonly deps: WritebackDeps) {}

  /** Blocks staged and not uploaded yet. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Queues the uploads of blocks a previous run staged and did not upload. */
  resume(): Promise<void> {
    this.#resuming = this.#resume();
    return this.#resuming;
  }

  async #resume(): Promise<void> {
    await this.deps.cache.ready();
    const found = this.deps.cache.takeFoundStaged();
    if (found.length > 0) log.info(`uploading ${blocks(found.length)} staged by an earlier run`);
    for (const key of found) this.#start(key);
  }

  /**
   * Stages `block` under `key` and queues its upload; false when the cache cannot take it
   * (the caller uploads it directly).
   */
  async stage(key: string, block: Buffer): Promise<boolean> {
    assert(!this.#closing, "no staging after close");
    if (!(await this.deps.cache.stage(key, block))) return false;
    this.#start(key);
    return true;
  }

  /**
   * Before a block is deleted: a queued upload is dropped, one in flight is waited for, and
   * the block is no longer staged. The caller then deletes the object (if it got there).
   */
  async cancel(key: string): Promise<void> {
    const task = this.#pending.get(key);
    this.#pending.delete(key);
    if (task !== undefined) await task;
    this.deps.cache.unstage(key);
  }

  /** Waits for every queued upload; failures from now on leave blocks staged. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#resuming;
    if (this.#pending.size > 0)
      log.info(`uploading ${blocks(this.#pending.size)} staged for upload`);
    while (this.#pending.size > 0) await Promise.all(this.#pending.values());
    const left = this.deps.cache.stats().stagedBlocks;
    if (left > 0) {
      log.warn(`${blocks(left)} stay staged in the cache directory; the next start uploads them`);
    }
  }

  #start(key: string): void {
    if (this.#pending.has(key)) return;
    const task = this.#upload(key).finally(() => {
      if (this.#pending.get(key) === task) this.#pending.delete(key);
    });
    this.#pending.set(key, task);
  }

  async #upload(key: string): Promise<void> {
    const { cache, objects, codec, uploads } = this.deps;
    const ref = parseBlockKey(key);
    assert(ref !== undefined, `staged key ${key} names a block`);
    for (let attempt = 0; ; attempt++) {
      const outcome = await uploads
        .run(async () => {
          if (!this.#pending.has(key)) return "cancelled"; // deleted while queued
          const block = await cache.readStaged(key, ref.bytes);
          if (block === undefined) return "lost";
          await objects.put(key, codec.encode(block));
          return "uploaded";
        })
        .catch((error: unknown) => error);
      if (outcome === "cancelled") return;
      if (outcome === "lost") {
        log.error(
          `staged block ${key} is missing or corrupt in the cache directory: its data is lost`,
        );
        cache.unstage(key);
        return;
      }
      if (outcome === "uploaded") {
        cache.unstage(key);
        this.deps.onUploaded();
        return;
      }
      if (this.#closing) {
        log.warn(`upload of staged block ${key} failed: ${describeError(outcome)}`);
        return;
      }
      const delayMs = Math.min(WRITEBACK_RETRY_MS_MAX, WRITEBACK_RETRY_MS_MIN * 2 ** attempt);
      log.warn(
        `upload of staged block ${key} failed (${describeError(outcome)}); retry in ${delayMs} ms`,
      );
      await Bun.sleep(delayMs);
    }
  }
}

const blocks = (n: number) => (n === 1 ? "1 block" : `${n} blocks`);
