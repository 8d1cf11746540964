/**
 * Recently seen attributes, so a read or write does not cost a meta round trip each. Entries
 * live ATTR_CACHE_MS (JuiceFS's attr-cache default, 1 s); the map is bounded, oldest first out.
 */
import { ATTR_CACHE_ENTRIES_MAX, ATTR_CACHE_MS, CHANGE_STAMPS_MAX } from "../limits.ts";
import { LruMap } from "../lru.ts";
import type { Attr, Ino } from "../posix.ts";

export class AttrCache {
  readonly #entries = new LruMap<Ino, { attr: Attr; expiresAt: number }>();

  constructor(
    private readonly ttlMs = ATTR_CACHE_MS,
    private readonly entriesMax = ATTR_CACHE_ENTRIES_MAX,
  ) {}

  get(ino: Ino): Attr | undefined {
    const e = this.#entries.peek(ino);
    if (!e) return undefined;
    if (e.expiresAt < performance.now()) {
      this.#entries.delete(ino);
      return undefined;
    }
    return e.attr;
  }

  set(ino: Ino, attr: Attr): void {
    this.#entries.set(ino, { attr, expiresAt: performance.now() + this.ttlMs });
    this.#entries.trimTo(this.entriesMax);
  }

  delete(ino: Ino): void {
    this.#entries.delete(ino);
  }
}

/**
 * The (mtime, ctime) last seen per inode, bounded (oldest forgotten first). A forgotten inode
 * counts as changed when seen again: dropping a cache needlessly costs a meta read, keeping a
 * stale one would serve old bytes.
 */
export class ChangeStamps {
  readonly #seen = new LruMap<Ino, Stamp>();

  constructor(private readonly entriesMax = CHANGE_STAMPS_MAX) {}

  /** Records `attr`'s stamp; true when it differs from the one seen before (or none was). */
  changed(ino: Ino, attr: Attr): boolean {
    // Compared field by field: a stamp string per call was built on every getattr and lookup.
    const last = this.#seen.peek(ino);
    if (
      last !== undefined &&
      last.mtime === attr.mtime &&
      last.mtimeNsec === attr.mtimeNsec &&
      last.ctime === attr.ctime &&
      last.ctimeNsec === attr.ctimeNsec
    ) {
      return false;
    }
    const { mtime, mtimeNsec, ctime, ctimeNsec } = attr;
    this.#seen.set(ino, { mtime, mtimeNsec, ctime, ctimeNsec });
    this.#seen.trimTo(this.entriesMax);
    return true;
  }
}

interface Stamp {
  readonly mtime: number;
  readonly mtimeNsec: number;
  readonly ctime: number;
  readonly ctimeNsec: number;
}
