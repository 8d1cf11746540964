/**
 * Enforces the transaction discipline of txn.ts for every engine: a transaction never reads a
 * record it wrote. SQLite would happen to answer such a read; Redis (buffered MULTI) could
 * not. Checking it in both makes a base.ts bug fail on either engine, not only on Redis.
 */
import { AssertionError } from "../assert.ts";

export class TxnGuard {
  readonly #written = new Set<string>();

  wrote(...keys: string[]): void {
    for (const k of keys) this.#written.add(k);
  }

  reading(...keys: string[]): void {
    for (const k of keys) {
      if (this.#written.has(k)) throw new AssertionError(`transaction reads ${k} after writing it`);
    }
  }
}

/** Record keys the guard tracks; a list key covers every record of that list. */
export const GuardKey = {
  attr: (ino: number) => `a${ino}`,
  entry: (parent: number, name: Buffer) => `e${parent}/${name.toString("latin1")}`,
  entries: (parent: number) => `E${parent}`,
  symlink: (ino: number) => `s${ino}`,
  xattr: (ino: number, name: string) => `x${ino}/${name}`,
  xattrs: (ino: number) => `X${ino}`,
  parents: (ino: number) => `p${ino}`,
  chunk: (ino: number, index: number) => `c${ino}/${index}`,
  chunks: (ino: number) => `C${ino}`,
  sliceRefs: (id: number) => `r${id}`,
  unused: () => "U",
  deleted: () => "D",
  openByInode: (ino: number) => `o${ino}`,
  openBySession: (sid: number) => `O${sid}`,
  locks: (ino: number) => `l${ino}`,
  locksBySession: (sid: number) => `L${sid}`,
  counter: (name: string) => `n${name}`,
  session: (sid: number) => `S${sid}`,
  sessions: () => "SS",
  setting: () => "setting",
  quotas: () => "Q",
  quotaUsage: () => "QU",
} as const;
