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
import { AssertionError, assert } from "../../src/assert.ts";
import { XDR_UNIT_BYTES, xdrPaddingBytes } from "./reader.ts";

/** Opaques this big are referenced, not copied; below it a copy is cheaper than a chunk. */
const BORROW_BYTES_MIN = 4096;
const SCRATCH_BYTES_MIN = 256;
/** Scratch buffers double up to this size; beyond it a new one is chained, never grown. */
const SCRATCH_BYTES_MAX = 64 * 1024;

/**
 * Small scratch buffers are carved from a shared slab with one DataView over all of it, as
 * Buffer.allocUnsafe carves its pool: a writer then costs no allocation and no DataView of
 * its own (together about half the CPU of encoding a GETATTR reply; docs/benchmarks.md "NFS:
 * server CPU per call"). A slab lives as long as any chunk carved from it (replies, sent and
 * dropped within a turn or two): 8 KiB, Buffer.poolSize, so a small chunk kept long pins no
 * more than one from Buffer.allocUnsafe did.
 */
const SLAB_BYTES = 8 * 1024;
/** Scratch buffers above this get an ArrayBuffer of their own. */
const SLAB_CARVE_BYTES_MAX = SLAB_BYTES / 4;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabView = new DataView(slab);
let slabUsedBytes = 0;

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT32_MAX = 0xffff_ffff;
const HYPER_MIN = -(1n << 63n);
const HYPER_MAX = (1n << 63n) - 1n;
const UHYPER_MAX = (1n << 64n) - 1n;

/**
 * A value outside its XDR type: a bug. The checks call this rather than assert(cond, `...`),
 * whose template-literal message would be built on every call (~35 ns, 20-odd per reply).
 */
function outOfRange(what: string, value: number | bigint): never {
  throw new AssertionError(`${what} ${value} out of range`);
}

export class XdrWriter {
  /** Sealed chunks, in order; the scratch (bytes scratchStart..scratchEnd of buffer) follows. */
  private readonly sealed: Uint8Array[] = [];
  /** Parallel to `sealed`: false for a borrowed chunk, which is the caller's and never patched. */
  private readonly sealedOwned: boolean[] = [];
  private sealedBytes = 0;
  /** The scratch: [scratchStart, scratchUsedEnd) is written, up to scratchEnd usable. */
  private buffer: ArrayBuffer;
  private view: DataView;
  private scratchStart: number;
  private scratchUsedEnd: number;
  private scratchEnd: number;
  /** Bytes reserved in front of the first scratch for prepend(), and where they start. */
  private headroomBytes: number;
  private readonly headroomBuffer: ArrayBuffer;
  private readonly headroomStart: number;
  private sentHooks: (() => void)[] | undefined;

  /**
   * headroomBytes are kept free in front of what gets written, for a header that prepend()
   * adds once the length of the rest is known (the RPC reply header and record mark).
   */
  constructor(initialBytes = SCRATCH_BYTES_MIN, headroomBytes = 0) {
    assert(Number.isSafeInteger(initialBytes) && initialBytes >= XDR_UNIT_BYTES);
    assert(Number.isSafeInteger(headroomBytes) && headroomBytes % XDR_UNIT_BYTES === 0);
    this.buffer = slab; // replaced by carve()
    this.view = slabView;
    this.scratchStart = this.scratchUsedEnd = this.scratchEnd = 0;
    this.carve(initialBytes + headroomBytes);
    this.headroomBytes = headroomBytes;
    this.headroomBuffer = this.buffer;
    this.headroomStart = this.scratchStart;
    this.scratchStart += headroomBytes;
    this.scratchUsedEnd = this.scratchStart;
  }

  get lengthBytes(): number {
    return this.sealedBytes + (this.scratchUsedEnd - this.scratchStart);
  }

  int32(value: number): this {
    if (!(Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)) {
      outOfRange("int", value);
    }
    this.reserve(4);
    this.view.setInt32(this.scratchUsedEnd, value, false);
    this.scratchUsedEnd += 4;
    return this;
  }

  uint32(value: number): this {
    if (!(Number.isInteger(value) && value >= 0 && value <= UINT32_MAX)) {
      outOfRange("unsigned int", value);
    }
    this.reserve(4);
    this.view.setUint32(this.scratchUsedEnd, value, false);
    this.scratchUsedEnd += 4;
    return this;
  }

  hyper(value: bigint): this {
    if (!(value >= HYPER_MIN && value <= HYPER_MAX)) outOfRange("hyper", value);
    this.reserve(8);
    this.view.setBigInt64(this.scratchUsedEnd, value, false);
    this.scratchUsedEnd += 8;
    return this;
  }

  uhyper(value: bigint): this {
    if (!(value >= 0n && value <= UHYPER_MAX)) outOfRange("unsigned hyper", value);
    this.reserve(8);
    this.view.setBigUint64(this.scratchUsedEnd, value, false);
    this.scratchUsedEnd += 8;
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
    if (bytes.byteLength !== lengthBytes)
      outOfRange(`fixed opaque<${lengthBytes}>`, bytes.byteLength);
    return this.data(bytes);
  }

  /** opaque<max>: length, data, zero padding. Large data is borrowed, not copied. */
  opaqueVar(bytes: Uint8Array, maxBytes: number): this {
    if (bytes.byteLength > maxBytes) outOfRange(`opaque<${maxBytes}> length`, bytes.byteLength);
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
    if (items.length > maxCount) outOfRange(`array<${maxCount}> count`, items.length);
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
    if (!(Number.isInteger(value) && value >= 0 && value <= UINT32_MAX)) {
      outOfRange("unsigned int", value);
    }
    assert(offsetBytes % XDR_UNIT_BYTES === 0 && offsetBytes + 4 <= this.lengthBytes);
    let start = 0;
    for (let i = 0; i <= this.sealed.length; i++) {
      const chunk = this.sealed[i] ?? this.scratchBytes();
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

  /** Bytes still free in front of what the writer holds (see the constructor). */
  get headroomFreeBytes(): number {
    return this.headroomBytes;
  }

  /**
   * Puts `header` in front of everything written so far, in the headroom reserved at
   * construction: the reply and its header then leave as one chunk, with no second writer
   * and no copy of the body. Call it once the body is complete.
   */
  prepend(header: Uint8Array): void {
    const lengthBytes = header.byteLength;
    assert(lengthBytes % XDR_UNIT_BYTES === 0, "prepend: not a multiple of four bytes");
    assert(lengthBytes <= this.headroomBytes, "prepend: more than the headroom");
    const at = this.headroomStart + this.headroomBytes - lengthBytes;
    new Uint8Array(this.headroomBuffer, at, lengthBytes).set(header);
    this.headroomBytes -= lengthBytes;
    const first = this.sealed[0];
    const headroomEnd = at + lengthBytes;
    if (
      this.sealed.length === 0 &&
      this.buffer === this.headroomBuffer &&
      this.scratchStart === headroomEnd
    ) {
      // Nothing sealed: the scratch still begins right after the headroom.
      this.scratchStart = at;
    } else if (
      first !== undefined &&
      this.sealedOwned[0] === true &&
      first.buffer === this.headroomBuffer &&
      first.byteOffset === headroomEnd
    ) {
      this.sealed[0] = Buffer.from(this.headroomBuffer, at, lengthBytes + first.byteLength);
      this.sealedBytes += lengthBytes;
    } else {
      // The first chunk is borrowed, or lies elsewhere: the header is a chunk of its own.
      this.sealed.unshift(Buffer.from(this.headroomBuffer, at, lengthBytes));
      this.sealedOwned.unshift(true);
      this.sealedBytes += lengthBytes;
    }
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
    if (this.sealed.length === 0) {
      return this.scratchUsedEnd > this.scratchStart ? [this.scratchBytes()] : [];
    }
    const chunks = this.sealed.slice();
    if (this.scratchUsedEnd > this.scratchStart) chunks.push(this.scratchBytes());
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

  /** The written part of the scratch, as a view (no copy). */
  private scratchBytes(): Buffer {
    return Buffer.from(this.buffer, this.scratchStart, this.scratchUsedEnd - this.scratchStart);
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
      new Uint8Array(this.buffer, this.scratchUsedEnd, bytes.byteLength).set(bytes);
      this.scratchUsedEnd += bytes.byteLength;
    }
  }

  private data(bytes: Uint8Array): this {
    const paddingBytes = xdrPaddingBytes(bytes.byteLength);
    this.unpadded(bytes);
    if (paddingBytes > 0) {
      this.reserve(paddingBytes);
      for (let i = 0; i < paddingBytes; i++) this.view.setUint8(this.scratchUsedEnd + i, 0);
      this.scratchUsedEnd += paddingBytes;
    }
    return this;
  }

  /** Makes room for lengthBytes in the scratch: chain a fresh scratch, never copy old bytes. */
  private reserve(lengthBytes: number): void {
    if (this.scratchUsedEnd + lengthBytes <= this.scratchEnd) return;
    const nextBytes = Math.max(
      lengthBytes,
      Math.min((this.scratchEnd - this.scratchStart) * 2, SCRATCH_BYTES_MAX),
      SCRATCH_BYTES_MIN,
    );
    this.seal();
    this.carve(nextBytes);
  }

  /** A fresh scratch of lengthBytes: from the shared slab when small, else its own buffer. */
  private carve(lengthBytes: number): void {
    if (lengthBytes > SLAB_CARVE_BYTES_MAX) {
      this.buffer = new ArrayBuffer(lengthBytes);
      this.view = new DataView(this.buffer);
      this.scratchStart = this.scratchUsedEnd = 0;
      this.scratchEnd = lengthBytes;
      return;
    }
    // 8-byte aligned, as Buffer.allocUnsafe's pool: typed views of the chunks stay possible.
    const carvedBytes = (lengthBytes + 7) & ~7;
    if (slabUsedBytes + carvedBytes > SLAB_BYTES) {
      slab = new ArrayBuffer(SLAB_BYTES);
      slabView = new DataView(slab);
      slabUsedBytes = 0;
    }
    this.buffer = slab;
    this.view = slabView;
    this.scratchStart = this.scratchUsedEnd = slabUsedBytes;
    this.scratchEnd = slabUsedBytes + carvedBytes;
    slabUsedBytes += carvedBytes;
  }

  /** Moves the used part of the scratch to the sealed list; the rest of it stays usable. */
  private seal(): void {
    if (this.scratchUsedEnd === this.scratchStart) return;
    this.sealed.push(this.scratchBytes());
    this.sealedOwned.push(true);
    this.sealedBytes += this.scratchUsedEnd - this.scratchStart;
    this.scratchStart = this.scratchUsedEnd;
  }
}
