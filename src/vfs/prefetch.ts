/**
 * Epoch prefetch: a loader hands the mount the order in which it will read files, and their
 * blocks are loaded into the local caches just ahead of the reads, 32 files at a time, where a
 * DataLoader worker alone reads one file after another and waits for each GET.
 *
 * The order comes as the value of the xattr PREFETCH_XATTR set on a directory: paths relative
 * to that directory, one a line (bytes, so any file name works). Setting it replaces the order
 * handed over before (a new epoch); PREFETCH_APPEND_XATTR adds to it (a value holds 64 KiB).
 * Each process has its own order (the ranks of a job on one node share the mount); loads take
 * turns among the orders. Nothing is stored: the xattrs are no data of the directory. Reading PREFETCH_XATTR of any
 * inode gives progress and the mount's read-miss counters as JSON (python/jfs_prefetch.py).
 *
 * Pacing: the prefetch stays at most PREFETCH_FILES_AHEAD files, and the readahead bytes,
 * ahead of the furthest listed file opened so far, so loaded blocks are read before the memory
 * cache would drop them. Each path is looked up with the caller's credentials, and only files
 * the caller may read are loaded: a hint never reads what its sender could not.
 */
import { FsError, fsError } from "../errors.ts";
import {
  PREFETCH_FILE_BYTES_MAX,
  PREFETCH_FILES_AHEAD,
  PREFETCH_FILES_IN_FLIGHT,
  PREFETCH_LIST_FILES_MAX,
  PREFETCH_ORDERS_MAX,
} from "../limits.ts";
import { log } from "../log.ts";
import { AccessMask, type Attr, type Credentials, FileType, type Ino } from "../posix.ts";

export interface PrefetchDeps {
  lookup(ctx: Credentials, parent: Ino, name: Buffer): Promise<{ inode: Ino; attr: Attr }>;
  permitted(ctx: Credentials, attr: Attr): number;
  preload(ino: Ino, bytes: number): Promise<void>;
  /** The file will be opened soon: register it ahead (batched, Meta.registerAhead). */
  registerAhead(ino: Ino): void;
  readMisses(): { misses: number; joins: number; downloads: number };
  /** Bytes the prefetch may have loaded and not yet seen read. */
  aheadBytesMax(): number;
}

interface Entry {
  ctx: Credentials;
  dir: Ino;
  path: Buffer;
}

export interface PrefetchProgress {
  /** Orders held (one per process that handed one over). */
  orders: number;
  /** Paths in the orders. */
  listed: number;
  /** Paths whose load was started, done, skipped (not a readable file) or failed. */
  started: number;
  loaded: number;
  skipped: number;
  failed: number;
  /** One past the furthest listed file opened so far, summed over the orders. */
  consumed: number;
  /** The mount's block reads that waited for a GET of their own, or for a load on its way. */
  misses: number;
  joins: number;
  /** GETs of blocks the mount made in all. */
  downloads: number;
}

const NEWLINE = 0x0a;
const SLASH = 0x2f;

/** One process's order: its paths, how far loading and reading have got. */
class Order {
  readonly entries: Entry[] = [];
  /** Size loaded per entry (0 until resolved), to keep the bytes ahead bounded. */
  readonly sizes: number[] = [];
  readonly indexOf = new Map<Ino, number>();
  /** Directories resolved for this order: "dir ino/relative path" -> inode. */
  readonly dirs = new Map<string, Ino>();
  position = 0;
  consumed = 0;
  aheadBytes = 0;
  dropped = false;
  readonly counts = { loaded: 0, skipped: 0, failed: 0 };

  /** May the next entry start, within the pacing bounds? */
  ready(aheadBytesMax: number): boolean {
    return (
      !this.dropped &&
      this.position < this.entries.length &&
      this.position < this.consumed + PREFETCH_FILES_AHEAD &&
      this.aheadBytes < aheadBytesMax
    );
  }
}

export class EpochPrefetcher {
  /** Orders by the pid that handed them over, oldest first. */
  readonly #orders = new Map<number, Order>();
  #inFlight = 0;
  /** Where the round-robin over orders resumes. */
  #turn = 0;
  #closed = false;

  constructor(private readonly deps: PrefetchDeps) {}

  /**
   * A new order (replace) or more of it (append), as lines of paths relative to `dir`. Each
   * process has its own order (several training processes on one node share the mount).
   */
  submit(ctx: Credentials, dir: Ino, value: Buffer, append: boolean): void {
    // A copy: the value may sit in a request buffer that is reused after this call.
    const paths = splitLines(Buffer.from(value));
    let order = this.#orders.get(ctx.pid);
    if (order === undefined || !append) {
      if (order !== undefined) order.dropped = true;
      this.#orders.delete(ctx.pid);
      order = new Order();
      this.#orders.set(ctx.pid, order);
      for (const [pid, old] of this.#orders) {
        if (this.#orders.size <= PREFETCH_ORDERS_MAX) break;
        old.dropped = true;
        this.#orders.delete(pid);
      }
    }
    if (order.entries.length + paths.length > PREFETCH_LIST_FILES_MAX) {
      throw fsError("E2BIG", `a prefetch order holds at most ${PREFETCH_LIST_FILES_MAX} paths`);
    }
    const caller = { ...ctx, groups: [...ctx.groups] };
    for (const path of paths) {
      order.entries.push({ ctx: caller, dir, path });
      order.sizes.push(0);
    }
    this.#pump();
  }

  /** A file was opened: the prefetch of orders that list it may run further ahead. */
  opened(ino: Ino): void {
    for (const order of this.#orders.values()) {
      const index = order.indexOf.get(ino);
      if (index === undefined || index < order.consumed) continue;
      for (let i = order.consumed; i <= index; i++) order.aheadBytes -= order.sizes[i] ?? 0;
      order.consumed = index + 1;
    }
    this.#pump();
  }

  /** Some order is handed over and not read to its end yet. */
  active(): boolean {
    for (const order of this.#orders.values()) {
      if (order.consumed < order.entries.length) return true;
    }
    return false;
  }

  progress(): PrefetchProgress {
    const p = { orders: this.#orders.size, listed: 0, started: 0, loaded: 0, skipped: 0 };
    let failed = 0;
    let consumed = 0;
    for (const order of this.#orders.values()) {
      p.listed += order.entries.length;
      p.started += order.position;
      p.loaded += order.counts.loaded;
      p.skipped += order.counts.skipped;
      failed += order.counts.failed;
      consumed += order.consumed;
    }
    return { ...p, failed, consumed, ...this.deps.readMisses() };
  }

  close(): void {
    this.#closed = true;
    for (const order of this.#orders.values()) order.dropped = true;
    this.#orders.clear();
  }

  /** Starts loads, taking turns among the orders, up to PREFETCH_FILES_IN_FLIGHT in all. */
  #pump(): void {
    const aheadMax = this.deps.aheadBytesMax();
    while (!this.#closed && this.#inFlight < PREFETCH_FILES_IN_FLIGHT) {
      const orders = [...this.#orders.values()].filter((o) => o.ready(aheadMax));
      if (orders.length === 0) return;
      const order = orders[this.#turn++ % orders.length]!;
      const index = order.position++;
      if (index < order.consumed) continue; // read already: too late to help
      this.#inFlight++;
      void this.#load(order, index).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #load(order: Order, index: number): Promise<void> {
    const entry = order.entries[index]!;
    try {
      const { inode, attr } = await this.#resolve(order, entry);
      if (order.dropped) return;
      const readable = (this.deps.permitted(entry.ctx, attr) & AccessMask.R) !== 0;
      if (attr.type !== FileType.File || !readable) {
        order.counts.skipped++;
        return;
      }
      order.indexOf.set(inode, index);
      if (index < order.consumed) return;
      this.deps.registerAhead(inode);
      const bytes = Math.min(attr.size, PREFETCH_FILE_BYTES_MAX);
      order.sizes[index] = bytes;
      order.aheadBytes += bytes;
      await this.deps.preload(inode, bytes);
      if (!order.dropped) order.counts.loaded++;
    } catch (error: unknown) {
      if (order.dropped) return;
      order.counts.failed++;
      if (!(error instanceof FsError)) log.debug(`prefetch: ${String(error)}`);
    }
  }

  /** The inode of a listed path, its directories looked up once per order. */
  async #resolve(order: Order, entry: Entry): Promise<{ inode: Ino; attr: Attr }> {
    const parts = splitPath(entry.path);
    if (parts === undefined) throw fsError("EINVAL", "prefetch paths stay below their directory");
    let dir = entry.dir;
    let prefix = `${entry.dir}`;
    for (const part of parts.slice(0, -1)) {
      prefix += `/${part.toString("latin1")}`;
      const known = order.dirs.get(prefix);
      if (known !== undefined) {
        dir = known;
        continue;
      }
      const found = await this.deps.lookup(entry.ctx, dir, part);
      if (found.attr.type !== FileType.Directory) throw fsError("ENOTDIR");
      order.dirs.set(prefix, found.inode);
      dir = found.inode;
    }
    return this.deps.lookup(entry.ctx, dir, parts.at(-1)!);
  }
}

/** Non-empty lines of a value, as bytes. */
function splitLines(value: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let at = 0; at < value.length; ) {
    let end = value.indexOf(NEWLINE, at);
    if (end < 0) end = value.length;
    if (end > at) lines.push(value.subarray(at, end));
    at = end + 1;
  }
  return lines;
}

/** The names of a relative path ("." and empty parts dropped); undefined if it has "..". */
function splitPath(path: Buffer): Buffer[] | undefined {
  const parts: Buffer[] = [];
  for (let at = 0; at <= path.length; ) {
    let end = path.indexOf(SLASH, at);
    if (end < 0) end = path.length;
    const part = path.subarray(at, end);
    at = end + 1;
    if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) return undefined;
    parts.push(part);
  }
  return parts.length === 0 ? undefined : parts;
}
