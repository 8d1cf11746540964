/**
 * Directory prefetch: a loader reading a dataset at random, with no order handed over
 * (prefetch.ts), misses the caches on one small file after another of the same directories.
 * Once DIR_PREFETCH_MISSES_MIN distinct small files of one directory missed within
 * DIR_PREFETCH_WINDOW_MS, the directory's other small files are loaded into the caches too,
 * DIR_PREFETCH_IN_FLIGHT at a time over all directories (leaving GETs free for the reads that
 * still miss), so the rest of the epoch finds them there.
 *
 * Bounds: files up to DIR_PREFETCH_FILE_BYTES_MAX, at most DIR_PREFETCH_FILES_MAX of one
 * directory and the readahead bytes; a directory once every DIR_PREFETCH_AGAIN_MS. Only what
 * the reader may read is loaded (its credentials, the files' modes).
 */
import {
  DIR_PREFETCH_AGAIN_MS,
  DIR_PREFETCH_DIRS_TRACKED_MAX,
  DIR_PREFETCH_FILE_BYTES_MAX,
  DIR_PREFETCH_FILES_MAX,
  DIR_PREFETCH_IN_FLIGHT,
  DIR_PREFETCH_MISSES_MIN,
  DIR_PREFETCH_QUEUED_MAX,
  DIR_PREFETCH_WINDOW_MS,
  TREE_WALK_PAGE_ENTRIES,
} from "../limits.ts";
import { log } from "../log.ts";
import { LruMap } from "../lru.ts";
import { AccessMask, type Attr, type Credentials, FileType, type Ino } from "../posix.ts";
import type { VfsDirEntry } from "./interface.ts";

export interface DirPrefetchDeps {
  readdirPlus(ctx: Credentials, dir: Ino, cookie: number, limit: number): Promise<VfsDirEntry[]>;
  permitted(ctx: Credentials, attr: Attr): number;
  preload(ino: Ino, bytes: number): Promise<void>;
  /** The file will likely be opened soon: register it ahead (batched). */
  registerAhead(ino: Ino): void;
  aheadBytesMax(): number;
  /** An order handed over is being loaded: it knows better, so stay out of its way. */
  ordered(): boolean;
}

interface Misses {
  sinceMs: number;
  files: Set<Ino>;
}

export class DirPrefetcher {
  readonly #recent = new LruMap<Ino, Misses>();
  /** Directories prefetched, with when (oldest first). */
  readonly #done = new LruMap<Ino, number>();
  readonly #queue: { ino: Ino; bytes: number }[] = [];
  #queueHead = 0;
  #inFlight = 0;
  #closed = false;
  /** Directories prefetched and files loaded, for tests and stats. */
  readonly counts = { dirs: 0, loaded: 0 };

  constructor(private readonly deps: DirPrefetchDeps) {}

  /** A read of file `ino` (attributes `attr`) missed the caches. */
  missed(ctx: Credentials, ino: Ino, attr: Attr): void {
    const dir = attr.parent;
    if (this.#closed || dir === 0 || attr.size > DIR_PREFETCH_FILE_BYTES_MAX) return;
    const now = Date.now();
    const done = this.#done.peek(dir);
    if (done !== undefined && now - done < DIR_PREFETCH_AGAIN_MS) return;
    let misses = this.#recent.peek(dir);
    if (misses === undefined || now - misses.sinceMs > DIR_PREFETCH_WINDOW_MS) {
      misses = { sinceMs: now, files: new Set() };
      this.#recent.set(dir, misses);
      this.#recent.trimTo(DIR_PREFETCH_DIRS_TRACKED_MAX);
    }
    misses.files.add(ino);
    if (misses.files.size < DIR_PREFETCH_MISSES_MIN || this.deps.ordered()) return;
    this.#recent.delete(dir);
    this.#done.set(dir, now);
    this.#done.trimTo(DIR_PREFETCH_DIRS_TRACKED_MAX);
    this.counts.dirs++;
    const caller = { ...ctx, groups: [...ctx.groups] };
    this.#list(caller, dir).catch((error: unknown) =>
      log.debug(`directory prefetch of ${dir}: ${String(error)}`),
    );
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#queueHead = 0;
  }

  /** Queues the directory's small readable files, within the bounds. */
  async #list(ctx: Credentials, dir: Ino): Promise<void> {
    let files = 0;
    let bytes = 0;
    const budget = this.deps.aheadBytesMax();
    for (let cookie = 0; files < DIR_PREFETCH_FILES_MAX && bytes < budget; ) {
      const page = await this.deps.readdirPlus(ctx, dir, cookie, TREE_WALK_PAGE_ENTRIES);
      if (page.length === 0 || this.#closed) return;
      cookie = page.at(-1)!.cookie;
      for (const e of page) {
        const a = e.attr;
        if (e.type !== FileType.File || a === undefined || a.size === 0) continue;
        if (a.size > DIR_PREFETCH_FILE_BYTES_MAX) continue;
        if ((this.deps.permitted(ctx, a) & AccessMask.R) === 0) continue;
        if (files >= DIR_PREFETCH_FILES_MAX || bytes + a.size > budget) break;
        if (this.#queue.length - this.#queueHead >= DIR_PREFETCH_QUEUED_MAX) return;
        this.#queue.push({ ino: e.inode, bytes: a.size });
        files++;
        bytes += a.size;
      }
      this.#pump();
    }
  }

  #pump(): void {
    while (!this.#closed && this.#inFlight < DIR_PREFETCH_IN_FLIGHT) {
      const next = this.#queue[this.#queueHead];
      if (next === undefined) break;
      this.#queueHead++;
      this.#inFlight++;
      this.deps.registerAhead(next.ino);
      this.deps
        .preload(next.ino, next.bytes)
        .then(
          () => this.counts.loaded++,
          () => undefined, // the read reports a failure itself
        )
        .finally(() => {
          this.#inFlight--;
          this.#pump();
        });
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else if (
      this.#queueHead > TREE_WALK_PAGE_ENTRIES &&
      this.#queueHead * 2 > this.#queue.length
    ) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }
}
