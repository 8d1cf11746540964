/**
 * Builds one slice in memory and uploads it block by block (JuiceFS's sliceWriter). Bytes are
 * written contiguously from 0: a write may start anywhere in [sealedBytes, length], so the slice
 * never has gaps. A block is sealed (and its upload started) as soon as it is full; sealed
 * blocks are read-only, which is why writes must not start below `sealedBytes`.
 *
 * Memory is held in WRITE_PAGE_BYTES pages, or, for a block written as a stream (its first write
 * starts at its first byte and is at least WRITE_WHOLE_BLOCK_FIRST_BYTES_MIN long), in one
 * block-sized buffer that is uploaded as it is. The caller charges it to the write budget first
 * (allocationBytes() says how much a write will allocate, write() what it did); it is given back
 * here as each block is stored.
 */
import { assert, assertSafeUint } from "../assert.ts";
import { WRITE_PAGE_BYTES, WRITE_WHOLE_BLOCK_FIRST_BYTES_MIN } from "../limits.ts";
import type { BlockRef } from "./keys.ts";

/** What a slice writer needs from the chunk store. */
export interface BlockSink {
  readonly blockSizeBytes: number;
  /** Streaming writes may use block-sized buffers (false when blocks are large for the budget). */
  readonly wholeBlockBuffers: boolean;
  /**
   * Stores one block (retrying inside); rejects if it finally cannot. `data` is called once an
   * upload slot is free, so blocks queued for a slot stay in their pages without a second copy.
   */
  putBlock(ref: BlockRef, data: () => Buffer): Promise<void>;
  deleteBlock(ref: BlockRef): Promise<void>;
  /** Buffers for pages and whole blocks, reused when possible (they churn at the write rate). */
  allocBuffer(bytes: number): Buffer;
  /**
   * Buffers from allocBuffer this writer no longer references, and `budgetBytes` of the write
   * budget they held (given back once nothing else reads them).
   */
  freeBuffers(buffers: readonly Buffer[], budgetBytes: number): void;
}

type BlockState = "open" | "uploading" | "stored" | "failed";

interface BlockBuf {
  /** Where bytes go while the block is open, unless it has a whole-block buffer. */
  pages: Array<Buffer | undefined>;
  /**
   * The whole block, contiguous: from its first write if it is written as a stream (then
   * blockSizeBytes long until sealed), else from its first upload attempt; until it is stored.
   */
  data: Buffer | undefined;
  /** Budget bytes this block holds (its pages, then the same amount as `data`). */
  heldBytes: number;
  state: BlockState;
  bytes: number;
  upload: Promise<void> | undefined;
  error: unknown;
}

/** A piece of a slice as seen by a reader: bytes copied from memory, or a stored block. */
export type SlicePart =
  | { offset: number; data: Buffer }
  | { offset: number; len: number; ref: BlockRef; blockOffset: number };

export class SliceWriter {
  #lengthBytes = 0;
  #sealedBlocks = 0;
  #finished = false;
  readonly #blocks: BlockBuf[] = [];
  readonly #blockBytes: number;

  constructor(
    readonly id: number,
    readonly capacityBytes: number,
    private readonly sink: BlockSink,
  ) {
    assert(Number.isSafeInteger(id) && id > 0, "slice id");
    this.#blockBytes = sink.blockSizeBytes;
    assert(this.#blockBytes % WRITE_PAGE_BYTES === 0, "pages tile a block");
    assert(capacityBytes > 0, "slice capacity");
  }

  get lengthBytes(): number {
    return this.#lengthBytes;
  }

  /** Writes must start at or after this offset (earlier bytes are uploading or stored). */
  get sealedBytes(): number {
    return Math.min(this.#sealedBlocks * this.#blockBytes, this.#lengthBytes);
  }

  get finished(): boolean {
    return this.#finished;
  }

  canWrite(offset: number, len: number): boolean {
    return (
      !this.#finished &&
      offset >= this.sealedBytes &&
      offset <= this.#lengthBytes &&
      offset + len <= this.capacityBytes
    );
  }

  /** Buffer bytes a write of [offset, offset + len) would newly allocate; for budgeting. */
  allocationBytes(offset: number, len: number): number {
    return allocationBytes(this.sink, offset, len, (index) => this.#blocks[index]);
  }

  /** What allocationBytes() says for the first write of a new slice. */
  static firstAllocationBytes(sink: BlockSink, len: number): number {
    return allocationBytes(sink, 0, len, () => undefined);
  }

  /** Copies `data` at `offset`; returns the buffer bytes it allocated. Seals blocks that filled. */
  write(offset: number, data: Uint8Array): number {
    assert(data.length > 0, "empty write");
    assert(this.canWrite(offset, data.length), `slice ${this.id} cannot take a write at ${offset}`);
    let allocated = 0;
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const block = this.#block(Math.floor(at / this.#blockBytes));
      assert(block.state === "open", "writes go to open blocks only");
      const inBlock = at % this.#blockBytes;
      const n = Math.min(this.#blockBytes - inBlock, data.length - done);
      const part = data.subarray(done, done + n);
      if (block.data === undefined && wantsWholeBuffer(this.sink, block, inBlock, n)) {
        block.data = this.sink.allocBuffer(this.#blockBytes);
        block.heldBytes += this.#blockBytes;
        allocated += this.#blockBytes;
      }
      if (block.data === undefined) allocated += this.#writePages(block, inBlock, part);
      else block.data.set(part, inBlock);
      done += n;
    }
    this.#lengthBytes = Math.max(this.#lengthBytes, offset + data.length);
    while ((this.#sealedBlocks + 1) * this.#blockBytes <= this.#lengthBytes) {
      this.#seal(this.#sealedBlocks, this.#blockBytes);
    }
    return allocated;
  }

  /** Copies `part` into the block's pages from `inBlock` on; returns the page bytes allocated. */
  #writePages(block: BlockBuf, inBlock: number, part: Uint8Array): number {
    let allocated = 0;
    for (let done = 0; done < part.length; ) {
      const at = inBlock + done;
      const pageIndex = Math.floor(at / WRITE_PAGE_BYTES);
      let page = block.pages[pageIndex];
      if (page === undefined) {
        page = this.sink.allocBuffer(WRITE_PAGE_BYTES);
        block.pages[pageIndex] = page;
        block.heldBytes += WRITE_PAGE_BYTES;
        allocated += WRITE_PAGE_BYTES;
      }
      const inPage = at % WRITE_PAGE_BYTES;
      const n = Math.min(WRITE_PAGE_BYTES - inPage, part.length - done);
      page.set(part.subarray(done, done + n), inPage);
      done += n;
    }
    return allocated;
  }

  /**
   * Seals the rest and resolves when every block is stored; rejects with the first upload
   * error. Called again after a failure, it retries the blocks that failed.
   */
  async finish(): Promise<void> {
    assert(this.#lengthBytes > 0, "an empty slice is never finished");
    this.#finished = true;
    const count = Math.ceil(this.#lengthBytes / this.#blockBytes);
    while (this.#sealedBlocks < count) {
      const index = this.#sealedBlocks;
      this.#seal(index, Math.min(this.#blockBytes, this.#lengthBytes - index * this.#blockBytes));
    }
    for (const [index, block] of this.#blocks.entries()) {
      if (block.state === "failed") this.#startUpload(index, block);
    }
    await Promise.all(this.#blocks.map((b) => b.upload));
    const failed = this.#blocks.find((b) => b.state === "failed");
    if (failed) throw failed.error;
    assert(
      this.#blocks.every((b) => b.state === "stored"),
      "every block stored",
    );
  }

  /** The bytes of [offset, offset + len) (within the written length) for an overlaying reader. */
  parts(offset: number, len: number): SlicePart[] {
    assert(offset + len <= this.#lengthBytes, "reading past the slice's written bytes");
    const parts: SlicePart[] = [];
    for (let done = 0; done < len; ) {
      const at = offset + done;
      const index = Math.floor(at / this.#blockBytes);
      const block = this.#blocks[index];
      assert(block !== undefined, "written bytes have a block");
      const inBlock = at % this.#blockBytes;
      const n = Math.min(this.#blockBytes - inBlock, len - done);
      if (block.state === "stored") {
        const ref = { sliceId: this.id, index, bytes: block.bytes };
        parts.push({ offset: at, len: n, ref, blockOffset: inBlock });
      } else if (block.data !== undefined) {
        parts.push({ offset: at, data: Buffer.from(block.data.subarray(inBlock, inBlock + n)) });
      } else {
        parts.push({ offset: at, data: this.#copyOut(block, inBlock, n) });
      }
      done += n;
    }
    return parts;
  }

  /** Drops the slice: waits for uploads, deletes what was stored, frees the memory. */
  async abort(): Promise<void> {
    this.#finished = true;
    await Promise.all(this.#blocks.map((b) => b.upload?.catch(() => undefined)));
    for (const [index, block] of this.#blocks.entries()) {
      if (block.state === "stored") {
        await this.sink.deleteBlock({ sliceId: this.id, index, bytes: block.bytes });
      }
      this.#free(block);
    }
  }

  #block(index: number): BlockBuf {
    for (let i = this.#blocks.length; i <= index; i++) this.#blocks.push(newBlockBuf());
    return this.#blocks[index]!;
  }

  #seal(index: number, bytes: number): void {
    assert(index === this.#sealedBlocks, "blocks seal in order");
    assertSafeUint(bytes, "block bytes");
    const block = this.#block(index);
    assert(block.state === "open" && bytes > 0, "sealing an open, non-empty block");
    block.bytes = bytes;
    this.#sealedBlocks++;
    this.#startUpload(index, block);
  }

  #startUpload(index: number, block: BlockBuf): void {
    block.state = "uploading";
    block.error = undefined;
    const ref = { sliceId: this.id, index, bytes: block.bytes };
    block.upload = this.sink
      .putBlock(ref, () => this.#contiguous(block))
      .then(
        () => {
          block.state = "stored";
          this.#free(block);
        },
        (error: unknown) => {
          block.state = "failed";
          block.error = error;
        },
      );
  }

  /** The sealed block's bytes in one buffer (its pages are immutable once sealed). */
  #contiguous(block: BlockBuf): Buffer {
    assert(block.state !== "open", "only sealed blocks are made contiguous");
    if (block.data === undefined) {
      block.data = this.#copyOut(block, 0, block.bytes, this.sink.allocBuffer(block.bytes));
      this.#dropPages(block);
    } else if (block.data.length !== block.bytes) {
      // A whole-block buffer of a short last block: the upload needs exactly its bytes, in a
      // buffer of its own (the store tracks buffers, not views, while it reads them).
      const whole = block.data;
      block.data = this.sink.allocBuffer(block.bytes);
      block.data.set(whole.subarray(0, block.bytes));
      this.sink.freeBuffers([whole], 0);
    }
    assert(block.data.length === block.bytes, "a sealed block holds its bytes");
    return block.data;
  }

  /** A copy of bytes held in a block's pages (not in a whole-block buffer). */
  #copyOut(
    block: BlockBuf,
    offset: number,
    len: number,
    out: Buffer = Buffer.allocUnsafe(len),
  ): Buffer {
    assert(out.length === len, "copy target length");
    for (let done = 0; done < len; ) {
      const at = offset + done;
      const page = block.pages[Math.floor(at / WRITE_PAGE_BYTES)];
      assert(page !== undefined, "written bytes have a page");
      const from = at % WRITE_PAGE_BYTES;
      const n = Math.min(WRITE_PAGE_BYTES - from, len - done);
      out.set(page.subarray(from, from + n), done);
      done += n;
    }
    return out;
  }

  /**
   * Pages and block data are only referenced from their block (readers get copies, and the
   * store is done with `data` once putBlock settles), so they may be reused.
   */
  #dropPages(block: BlockBuf): void {
    this.sink.freeBuffers(
      block.pages.filter((p) => p !== undefined),
      0,
    );
    block.pages = [];
  }

  #free(block: BlockBuf): void {
    const buffers = block.pages.filter((p) => p !== undefined);
    if (block.data !== undefined) buffers.push(block.data);
    this.sink.freeBuffers(buffers, block.heldBytes);
    block.pages = [];
    block.data = undefined;
    block.heldBytes = 0;
  }
}

function newBlockBuf(): BlockBuf {
  return {
    pages: [],
    data: undefined,
    heldBytes: 0,
    state: "open",
    bytes: 0,
    upload: undefined,
    error: undefined,
  };
}

/** Does a block's first write, of `len` bytes at `inBlock`, make it a whole-block buffer? */
function wantsWholeBuffer(sink: BlockSink, block: BlockBuf, inBlock: number, len: number): boolean {
  if (!sink.wholeBlockBuffers || block.data !== undefined || block.pages.length > 0) return false;
  return inBlock === 0 && len >= Math.min(WRITE_WHOLE_BLOCK_FIRST_BYTES_MIN, sink.blockSizeBytes);
}

/** What write() of [offset, offset + len) allocates, given the blocks it would find. */
function allocationBytes(
  sink: BlockSink,
  offset: number,
  len: number,
  blockAt: (index: number) => BlockBuf | undefined,
): number {
  const blockBytes = sink.blockSizeBytes;
  const fresh = newBlockBuf();
  let bytes = 0;
  for (let done = 0; done < len; ) {
    const at = offset + done;
    const block = blockAt(Math.floor(at / blockBytes)) ?? fresh;
    const inBlock = at % blockBytes;
    const n = Math.min(blockBytes - inBlock, len - done);
    if (wantsWholeBuffer(sink, block, inBlock, n)) {
      bytes += blockBytes;
    } else if (block.data === undefined) {
      const first = Math.floor(inBlock / WRITE_PAGE_BYTES);
      const last = Math.floor((inBlock + n - 1) / WRITE_PAGE_BYTES);
      for (let page = first; page <= last; page++) {
        if (block.pages[page] === undefined) bytes += WRITE_PAGE_BYTES;
      }
    }
    done += n;
  }
  return bytes;
}
