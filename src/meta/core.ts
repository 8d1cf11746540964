/**
 * State shared by the operation modules of BaseMeta: the engine, the loaded settings, this
 * session, and the allocators that hand out inode numbers and entry sequences in batches.
 */
import { randomInt } from "node:crypto";
import { assert } from "../assert.ts";
import { fsError, UserError } from "../errors.ts";
import {
  FIRST_FREE_INODE,
  INODE_BATCH,
  INODE_MAX,
  SLICE_ID_BATCH,
  TRASH_INODE,
} from "../limits.ts";
import { timedTxn } from "../metrics/jfs.ts";
import type { Attr, Credentials, Format, Ino } from "./interface.ts";
import { OpenFiles } from "./opens.ts";
import type { CounterName, MetaEngine, MetaTxn, TxnOptions } from "./txn.ts";

/** Hands out numbers from a counter, reserving `batch` at a time from the engine. */
export class BatchAllocator {
  #next = 0;
  #end = 0;
  #pending: Promise<void> | undefined;

  constructor(
    private readonly engine: MetaEngine,
    private readonly counter: CounterName,
    private readonly batch: number,
    private readonly first: number,
  ) {}

  async next(): Promise<number> {
    while (this.#next >= this.#end) {
      this.#pending ??= this.#reserve().finally(() => {
        this.#pending = undefined;
      });
      await this.#pending;
    }
    const value = this.#next++;
    assert(value <= INODE_MAX, `${this.counter} exhausted`);
    return value;
  }

  async #reserve(): Promise<void> {
    const end = await this.engine.incrCounter(this.counter, this.batch);
    // The counter holds the last number reserved; a fresh volume starts at `first`.
    const start = Math.max(end - this.batch + 1, this.first);
    assert(start <= end + 1);
    this.#next = start;
    this.#end = end + 1;
  }
}

export class MetaCore {
  #format: Format | undefined;
  readonly inodes: BatchAllocator;
  readonly sliceIds: BatchAllocator;
  readonly seqs: BatchAllocator;
  sid = 0;
  /** Local opens, and which of them are registered with the engine. */
  readonly opens = new OpenFiles();
  /** Inodes open here whose data another node deleted while this session was expired. */
  readonly lost = new Set<Ino>();
  /** Inodes on which this session may hold locks (locks.ts): closing others costs nothing. */
  readonly lockedInodes = new Set<Ino>();
  /** Wake-ups of this node's blocked lock requests (locks.ts), called on every local unlock. */
  readonly lockWaiters = new Set<() => void>();
  /** Hour name -> inode of that trash subdirectory, for this session. */
  readonly trashDirs = new Map<string, Ino>();

  constructor(readonly engine: MetaEngine) {
    this.inodes = new BatchAllocator(engine, "nextInode", INODE_BATCH, FIRST_FREE_INODE);
    this.sliceIds = new BatchAllocator(engine, "nextSliceId", SLICE_ID_BATCH, 1);
    this.seqs = new BatchAllocator(engine, "nextEntrySeq", INODE_BATCH, 1);
  }

  get format(): Format {
    if (!this.#format) throw new UserError(`volume in ${this.engine.displayUrl} is not loaded`);
    return this.#format;
  }

  setFormat(format: Format): void {
    this.#format = format;
  }

  get loaded(): boolean {
    return this.#format !== undefined;
  }

  newGeneration(): number {
    return randomInt(1, 2 ** 32 - 1);
  }

  txn<T>(fn: (tx: MetaTxn) => Promise<T>, options?: TxnOptions): Promise<T> {
    return timedTxn("write", () => this.engine.txn(fn, options));
  }

  read<T>(fn: (tx: MetaTxn) => Promise<T>): Promise<T> {
    return timedTxn("read", () => this.engine.txn(fn, { readOnly: true }));
  }
}

/** The attr of `ino`, or ENOENT. */
export async function mustGetAttr(tx: MetaTxn, ino: Ino): Promise<Attr> {
  const attr = await tx.getAttr(ino);
  if (!attr) throw fsError("ENOENT", `inode ${ino}`);
  return attr;
}

/** Copies an attr before changing it, so a retried transaction never sees its own edits. */
export function cloneAttr(attr: Attr): Attr {
  return { ...attr };
}

export function isTrash(ino: Ino): boolean {
  return ino === TRASH_INODE;
}

export function isRootCredentials(ctx: Credentials): boolean {
  return ctx.uid === 0;
}
