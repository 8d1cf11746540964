/**
 * XDR encoding (RFC 4506) into a list of chunks.
 *
 * Small items go into a scratch buffer; an opaque at or above BORROW_BYTES_MIN is not copied
 * but borrowed: the scratch is sealed, the caller's Buffer joins the chunk list as it is, and
 * the padding starts the next scratch. A 1 MiB READ reply is then the 1 MiB slice the chunk
 * layer handed us plus a few small chunks, written to the socket one after the other
 * (`chunks()`), or concatenated exactly once (`toBuffer()`).
 *
 * A borrowed Buffer must not change until the writer's bytes have been sent; whenSent() is how
 * its owner learns that moment (the RPC connection runs the hooks of a reply's body once its
 * last byte is in the kernel, or the connection dropped it). Values given to
 * the writer come from jfs itself, so a value out of its XDR range is a bug: asserted.
 */
import { assert } from "../../src/assert.ts";
import { XDR_UNIT_BYTES, xdrPaddingBytes } from "./reader.ts";

/** Opaques this big are referenced, not copied; below it a copy is cheaper than a chunk. */
const BORROW_BYTES_MIN = 4096;
const SCRATCH_BYTES_MIN = 256;
/** Scratch buffers double up to this size; beyond it a new one is chained, never grown. */
const SCRATCH_BYTES_MAX = 64 * 1024;
const ZERO_PADDING = new Uint8Array(XDR_UNIT_BYTES);

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;
const HYPER_MIN = -(1n << 63n);
const HYPER_MAX = (1n << 63n) - 1n;
const UHYPER_MAX = (1n << 64n) - 1n;

export class XdrWriter {
  /** Sealed chunks, in order; the scratch (bytes 0..scratchUsed) follows them. */
  private readonly sealed: Uint8Array[] = [];
  /** Parallel to `sealed`: false for a borrowed chunk, which is the caller's and never patched. */
  private readonly sealedOwned: boolean[] = [];
  private sealedBytes = 0;
  private scratch: Buffer;
  private scratchView: DataView;
  private scratchUsed = 0;
  private sentHooks: (() => void)[] | undefined;

  constructor(initialBytes = SCRATCH_BYTES_MIN) {
    assert(Number.isSafeInteger(initialBytes) && initialBytes >= XDR_UNIT_BYTES);
    this.scratch = Buffer.allocUnsafe(initialBytes);
    this.scratchView = new DataView(this.scratch.buffer, this.scratch.byteOffset, initialBytes);
  }

  get lengthBytes(): number {
    return this.sealedBytes + this.scratchUsed;
  }

  int32(value: number): this {
    assert(Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX, `int ${value}`);
    this.reserve(4);
    this.scratchView.setInt32(this.scratchUsed, value, false);
    this.scratchUsed += 4;
    return this;
  }

  uint32(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= UINT32_MAX, `uint ${value}`);
    this.reserve(4);
    this.scratchView.setUint32(this.scratchUsed, value, false);
    this.scratchUsed += 4;
    return this;
  }

  hyper(value: bigint): this {
    assert(value >= HYPER_MIN && value <= HYPER_MAX, `hyper ${value}`);
    this.reserve(8);
    this.scratchView.setBigInt64(this.scratchUsed, value, false);
    this.scratchUsed += 8;
    return this;
  }

  uhyper(value: bigint): this {
    assert(value >= 0n && value <= UHYPER_MAX, `unsigned hyper ${value}`);
    this.reserve(8);
    this.scratchView.setBigUint64(this.scratchUsed, value, false);
    this.scratchUsed += 8;
    return this;
  }

  bool(value: boolean): this {
    return this.int32(value ? 1 : 0);
  }

  enumValue(value: number): this {
    return this.int32(value);
  }

  /** Fixed-length opaque: exactly lengthBytes of data, then zero padding. */
  opaqueFixed(bytes: Uint8Array, lengthBytes: number): this {
    assert(bytes.byteLength === lengthBytes, `fixed opaque: ${bytes.byteLength} != ${lengthBytes}`);
    return this.data(bytes);
  }

  /** opaque<max>: length, data, zero padding. Large data is borrowed, not copied. */
  opaqueVar(bytes: Uint8Array, maxBytes: number): this {
    assert(bytes.byteLength <= maxBytes, `opaque: ${bytes.byteLength} > max ${maxBytes}`);
    this.uint32(bytes.byteLength);
    return this.data(bytes);
  }

  /** string<max> from raw bytes (file names) or text (encoded as UTF-8). */
  string(value: string | Uint8Array, maxBytes: number): this {
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    return this.opaqueVar(bytes, maxBytes);
  }

  /** T<max>: a count, then each item. */
  arrayVar<T>(items: readonly T[], maxCount: number, writeItem: (writer: this, item: T) => void) {
    assert(items.length <= maxCount, `array: ${items.length} > max ${maxCount}`);
    this.uint32(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  /** *T: FALSE, or TRUE then the item. */
  optional<T>(item: T | undefined, writeItem: (writer: this, item: T) => void): this {
    this.bool(item !== undefined);
    if (item !== undefined) writeItem(this, item);
    return this;
  }

  /** A linked list as optional-data: TRUE before each item, FALSE at the end. */
  list<T>(items: Iterable<T>, writeItem: (writer: this, item: T) => void): this {
    for (const item of items) {
      this.bool(true);
      writeItem(this, item);
    }
    return this.bool(false);
  }

  /** Appends everything another writer holds; its large chunks are borrowed, not copied. */
  append(other: XdrWriter): this {
    assert(other !== this, "append: a writer cannot append itself");
    // Chunk by chunk, unpadded: a borrowed opaque of unaligned length is followed by a chunk
    // that starts with its padding, so only the whole is a multiple of four bytes.
    assert(other.lengthBytes % XDR_UNIT_BYTES === 0, "append: not a multiple of four bytes");
    for (const chunk of other.chunks()) this.unpadded(chunk);
    return this;
  }

  /** Appends bytes that are already XDR (a whole multiple of four bytes). */
  raw(bytes: Uint8Array): this {
    assert(bytes.byteLength % XDR_UNIT_BYTES === 0, "raw: not a multiple of four bytes");
    return this.data(bytes);
  }

  /** Overwrites an unsigned int written earlier at offsetBytes (e.g. a record mark). */
  patchUint32(offsetBytes: number, value: number): void {
    assert(Number.isInteger(value) && value >= 0 && value <= UINT32_MAX, `uint ${value}`);
    assert(offsetBytes % XDR_UNIT_BYTES === 0 && offsetBytes + 4 <= this.lengthBytes);
    let start = 0;
    for (let i = 0; i <= this.sealed.length; i++) {
      const chunk = this.sealed[i] ?? this.scratch.subarray(0, this.scratchUsed);
      if (offsetBytes < start + chunk.byteLength) {
        assert(this.sealedOwned[i] ?? true, "patch of a borrowed chunk");
        assert(offsetBytes + 4 <= start + chunk.byteLength, "patch spans chunks");
        const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        view.setUint32(offsetBytes - start, value, false);
        return;
      }
      start += chunk.byteLength;
    }
    assert(false, "patch offset out of range");
  }

  /**
   * Runs `hook` once whoever sends these bytes is done with them (sent, or dropped with the
   * connection): the owner of a borrowed buffer may then reuse it. A writer that is never
   * sent never runs them, so a hook may only recycle, never be needed.
   */
  whenSent(hook: () => void): this {
    if (this.sentHooks === undefined) this.sentHooks = [hook];
    else this.sentHooks.push(hook);
    return this;
  }

  /** Hands the hooks of whenSent to the sender, once. */
  takeSentHooks(): (() => void)[] {
    const hooks = this.sentHooks ?? [];
    this.sentHooks = undefined;
    return hooks;
  }

  /** The encoded bytes as chunks to write in order; the writer stays usable. */
  chunks(): Uint8Array[] {
    const chunks = this.sealed.slice();
    if (this.scratchUsed > 0) chunks.push(this.scratch.subarray(0, this.scratchUsed));
    return chunks;
  }

  /** The encoded bytes as one Buffer: one copy, or none when there is a single chunk. */
  toBuffer(): Buffer {
    const chunks = this.chunks();
    if (chunks.length === 1) {
      const only = chunks[0]!;
      return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
    }
    return Buffer.concat(chunks, this.lengthBytes);
  }

  /** Adds bytes as they are: large ones borrowed, small ones copied; no padding. */
  private unpadded(bytes: Uint8Array): void {
    if (bytes.byteLength >= BORROW_BYTES_MIN) {
      this.seal();
      this.sealed.push(bytes);
      this.sealedOwned.push(false);
      this.sealedBytes += bytes.byteLength;
    } else {
      this.reserve(bytes.byteLength);
      this.scratch.set(bytes, this.scratchUsed);
      this.scratchUsed += bytes.byteLength;
    }
  }

  private data(bytes: Uint8Array): this {
    const paddingBytes = xdrPaddingBytes(bytes.byteLength);
    this.unpadded(bytes);
    if (paddingBytes > 0) {
      this.reserve(paddingBytes);
      this.scratch.set(ZERO_PADDING.subarray(0, paddingBytes), this.scratchUsed);
      this.scratchUsed += paddingBytes;
    }
    return this;
  }

  /** Makes room for lengthBytes in the scratch: chain a fresh scratch, never copy old bytes. */
  private reserve(lengthBytes: number): void {
    if (this.scratchUsed + lengthBytes <= this.scratch.byteLength) return;
    const nextBytes = Math.max(
      lengthBytes,
      Math.min(this.scratch.byteLength * 2, SCRATCH_BYTES_MAX),
      SCRATCH_BYTES_MIN,
    );
    this.seal();
    this.scratch = Buffer.allocUnsafe(nextBytes);
    this.scratchView = new DataView(this.scratch.buffer, this.scratch.byteOffset, nextBytes);
  }

  /** Moves the used part of the scratch to the sealed list; the rest of it stays usable. */
  private seal(): void {
    if (this.scratchUsed === 0) return;
    this.sealed.push(this.scratch.subarray(0, this.scratchUsed));
    this.sealedOwned.push(true);
    this.sealedBytes += this.scratchUsed;
    this.scratch = this.scratch.subarray(this.scratchUsed);
    this.scratchView = new DataView(
      this.scratch.buffer,
      this.scratch.byteOffset,
      this.scratch.byteLength,
    );
    this.scratchUsed = 0;
  }
}
