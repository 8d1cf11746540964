/**
 * Epoch prefetch: a loader hands the mount the order in which it will read files, and their
 * blocks are loaded into the local caches just ahead of the reads, 32 files at a time, where a
 * DataLoader worker alone reads one file after another and waits for each GET.
 *
 * The order comes as the value of the xattr PREFETCH_XATTR set on a directory: paths relative
 * to that directory, one a line (bytes, so any file name works). Setting it replaces the order
 * handed over before (a new epoch); PREFETCH_APPEND_XATTR adds to it (a value holds 64 KiB).
 * Nothing is stored: the xattrs are no data of the directory. Reading PREFETCH_XATTR of any
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
} from "../limits.ts";
import { log } from "../log.ts";
import { AccessMask, type Attr, type Credentials, FileType, type Ino } from "../posix.ts";

export interface PrefetchDeps {
  lookup(ctx: Credentials, parent: Ino, name: Buffer): Promise<{ inode: Ino; attr: Attr }>;
  permitted(ctx: Credentials, attr: Attr): number;
  preload(ino: Ino, bytes: number): Promise<void>;
  readMisses(): { misses: number; joins: number };
  /** Bytes the prefetch may have loaded and not yet seen read. */
  aheadBytesMax(): number;
}

interface Entry {
  ctx: Credentials;
  dir: Ino;
  path: Buffer;
}

export interface PrefetchProgress {
  /** Paths in the current order. */
  listed: number;
  /** Paths whose load was started, done, skipped (not a readable file) or failed. */
  started: number;
  loaded: number;
  skipped: number;
  failed: number;
  /** One past the furthest listed file opened so far. */
  consumed: number;
  /** The mount's block reads that waited for a GET of their own, or for a load on its way. */
  misses: number;
  joins: number;
}

const NEWLINE = 0x0a;
const SLASH = 0x2f;

export class EpochPrefetcher {
  #entries: Entry[] = [];
  /** Size loaded per entry (0 until resolved), to keep the bytes ahead bounded. */
  #sizes: number[] = [];
  readonly #indexOf = new Map<Ino, number>();
  /** Directories resolved for this order: "dir ino/relative path" -> inode. */
  readonly #dirs = new Map<string, Ino>();
  #generation = 0;
  #position = 0;
  #consumed = 0;
  #aheadBytes = 0;
  #inFlight = 0;
  #counts = { loaded: 0, skipped: 0, failed: 0 };
  #closed = false;

  constructor(private readonly deps: PrefetchDeps) {}

  /** A new order (replace) or more of it (append), as lines of paths relative to `dir`. */
  submit(ctx: Credentials, dir: Ino, value: Buffer, append: boolean): void {
    if (!append) this.#reset();
    // A copy: the value may sit in a request buffer that is reused after this call.
    const paths = splitLines(Buffer.from(value));
    if (this.#entries.length + paths.length > PREFETCH_LIST_FILES_MAX) {
      throw fsError("E2BIG", `a prefetch order holds at most ${PREFETCH_LIST_FILES_MAX} paths`);
    }
    const caller = { ...ctx, groups: [...ctx.groups] };
    for (const path of paths) {
      this.#entries.push({ ctx: caller, dir, path });
      this.#sizes.push(0);
    }
    this.#pump();
  }

  /** A file was opened: the prefetch may run further ahead. */
  opened(ino: Ino): void {
    const index = this.#indexOf.get(ino);
    if (index === undefined || index < this.#consumed) return;
    for (let i = this.#consumed; i <= index; i++) this.#aheadBytes -= this.#sizes[i] ?? 0;
    this.#consumed = index + 1;
    this.#pump();
  }

  /** An order is handed over and not read to its end yet. */
  active(): boolean {
    return this.#consumed < this.#entries.length;
  }

  progress(): PrefetchProgress {
    return {
      listed: this.#entries.length,
      started: this.#position,
      ...this.#counts,
      consumed: this.#consumed,
      ...this.deps.readMisses(),
    };
  }

  close(): void {
    this.#closed = true;
    this.#reset();
  }

  #reset(): void {
    this.#generation++;
    this.#entries = [];
    this.#sizes = [];
    this.#indexOf.clear();
    this.#dirs.clear();
    this.#position = 0;
    this.#consumed = 0;
    this.#aheadBytes = 0;
    this.#counts = { loaded: 0, skipped: 0, failed: 0 };
  }

  #pump(): void {
    while (
      !this.#closed &&
      this.#inFlight < PREFETCH_FILES_IN_FLIGHT &&
      this.#position < this.#entries.length &&
      this.#position < this.#consumed + PREFETCH_FILES_AHEAD &&
      this.#aheadBytes < this.deps.aheadBytesMax()
    ) {
      const index = this.#position++;
      if (index < this.#consumed) continue; // read already: too late to help
      this.#inFlight++;
      void this.#load(this.#generation, index).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #load(generation: number, index: number): Promise<void> {
    const entry = this.#entries[index]!;
    const current = () => generation === this.#generation;
    try {
      const { inode, attr } = await this.#resolve(entry);
      if (!current()) return;
      if (
        attr.type !== FileType.File ||
        (this.deps.permitted(entry.ctx, attr) & AccessMask.R) === 0
      ) {
        this.#counts.skipped++;
        return;
      }
      this.#indexOf.set(inode, index);
      if (index < this.#consumed) return;
      const bytes = Math.min(attr.size, PREFETCH_FILE_BYTES_MAX);
      this.#sizes[index] = bytes;
      this.#aheadBytes += bytes;
      await this.deps.preload(inode, bytes);
      if (current()) this.#counts.loaded++;
    } catch (error: unknown) {
      if (!current()) return;
      this.#counts.failed++;
      if (!(error instanceof FsError)) log.debug(`prefetch: ${String(error)}`);
    }
  }

  /** The inode of a listed path, its directories looked up once per order. */
  async #resolve(entry: Entry): Promise<{ inode: Ino; attr: Attr }> {
    const parts = splitPath(entry.path);
    if (parts === undefined) throw fsError("EINVAL", "prefetch paths stay below their directory");
    let dir = entry.dir;
    let prefix = `${entry.dir}`;
    for (const part of parts.slice(0, -1)) {
      prefix += `/${part.toString("latin1")}`;
      const known = this.#dirs.get(prefix);
      if (known !== undefined) {
        dir = known;
        continue;
      }
      const found = await this.deps.lookup(entry.ctx, dir, part);
      if (found.attr.type !== FileType.Directory) throw fsError("ENOTDIR");
      this.#dirs.set(prefix, found.inode);
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
