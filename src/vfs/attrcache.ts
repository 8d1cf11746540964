/**
 * Recently seen attributes, so a read or write does not cost a meta round trip each. Entries
 * live ATTR_CACHE_MS (JuiceFS's attr-cache default, 1 s); the map is bounded, oldest first out.
 */
import type { Attr, Ino } from "../meta/interface.ts";

export const ATTR_CACHE_MS = 1000;
export const ATTR_CACHE_ENTRIES_MAX = 100_000;

export class AttrCache {
  readonly #entries = new Map<Ino, { attr: Attr; expiresAt: number }>();

  constructor(
    private readonly ttlMs = ATTR_CACHE_MS,
    private readonly entriesMax = ATTR_CACHE_ENTRIES_MAX,
  ) {}

  get(ino: Ino): Attr | undefined {
    const e = this.#entries.get(ino);
    if (!e) return undefined;
    if (e.expiresAt < performance.now()) {
      this.#entries.delete(ino);
      return undefined;
    }
    return e.attr;
  }

  set(ino: Ino, attr: Attr): void {
    this.#entries.delete(ino);
    this.#entries.set(ino, { attr, expiresAt: performance.now() + this.ttlMs });
    if (this.#entries.size > this.entriesMax) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(ino: Ino): void {
    this.#entries.delete(ino);
  }
}
