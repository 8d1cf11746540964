/**
 * Pins for zero-copy reads. A view of a cached block is handed to a front end, which writes it
 * to /dev/fuse or a socket later (FUSE: right after the read resolves; NFS: when the connection
 * gets to the reply). Meanwhile the memory cache may evict or delete the block, and the last
 * owner's release frees its memory (buffers.ts: views of a freed buffer read as empty) or puts
 * it back for reuse. So every view holds a pool reference to its block until the reply is
 * written, and blocks stay immutable once cached (downloads only; nothing writes into them).
 *
 * The distinct blocks pinned at once are capped (READ_PINNED_BYTES_MAX): past it, a read
 * copies out of the block instead, as it did before views.
 */
import { assert } from "../assert.ts";
import type { BufferOwners } from "./memcache.ts";

/** What all leases of one store pin together. */
export class BlockPins {
  /** Pins per block (one block may back several views of several replies). */
  readonly #counts = new Map<Buffer, number>();
  #pinnedBytes = 0;

  constructor(
    private readonly owners: BufferOwners,
    readonly capacityBytes: number,
  ) {}

  /** Bytes of the distinct blocks pinned now. */
  get pinnedBytes(): number {
    return this.#pinnedBytes;
  }

  /** One more pin of `block`; false (nothing pinned) when it would pass the cap. */
  pin(block: Buffer): boolean {
    const count = this.#counts.get(block);
    if (count === undefined) {
      if (this.#pinnedBytes + block.length > this.capacityBytes) return false;
      this.#pinnedBytes += block.length;
    }
    this.#counts.set(block, (count ?? 0) + 1);
    this.owners.retain(block);
    return true;
  }

  unpin(block: Buffer): void {
    const count = this.#counts.get(block);
    assert(count !== undefined && count >= 1, "unpin of a block not pinned");
    if (count === 1) {
      this.#counts.delete(block);
      this.#pinnedBytes -= block.length;
      assert(this.#pinnedBytes >= 0, "pinned bytes accounting");
    } else {
      this.#counts.set(block, count - 1);
    }
    this.owners.release(block);
  }
}

/** The pins of one read: its views stay valid until release(). */
export class ReadLease {
  readonly #pinned: Buffer[] = [];
  #released = false;

  constructor(private readonly pins: BlockPins) {}

  /**
   * Bytes [offset, offset + len) of `block`, which must be live now (a memory cache entry, or
   * a load's block as it arrives; called before any await): a pinned view, or a copy when pins
   * are at their cap or the lease was released already (a piece of a read that failed
   * elsewhere, finishing late).
   */
  view(block: Buffer, offset: number, len: number): Buffer {
    assert(offset + len <= block.length, "view in bounds");
    const part = block.subarray(offset, offset + len);
    if (!this.#released && this.pins.pin(block)) {
      this.#pinned.push(block);
      return part;
    }
    const copy = Buffer.allocUnsafe(len);
    copy.set(part);
    return copy;
  }

  /** Blocks this lease pins (tests). */
  get pinnedCount(): number {
    return this.#pinned.length;
  }

  /** Drops every pin; idempotent. The views must not be read after it. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const block of this.#pinned) this.pins.unpin(block);
    this.#pinned.length = 0;
  }
}
