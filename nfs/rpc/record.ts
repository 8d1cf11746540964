/**
 * Record marking over a byte stream (RFC 5531 section 11): each record is one or more
 * fragments, each preceded by a 4-byte header whose top bit marks the last fragment and whose
 * low 31 bits give the fragment length.
 *
 * The decoder is pull-based: `push()` what the socket delivered, then `next()` yields whole
 * records until it returns undefined. The connection stops pulling when it has enough calls in
 * flight, which is what bounds a pipelining client. A fragment header is checked against the
 * record budget when it is read, before its bytes arrive: a header claiming 2 GiB fails at
 * once and nothing is allocated for it. Fragment bytes are kept as views of the pushed chunks;
 * a record is copied only when it spans several chunks, into what `assemble` offers (the
 * connection's recycled record buffers) or else a fresh buffer.
 *
 * A decoder that owns its chunks (a socket's reads, each a fresh ArrayBuffer of up to 512 KiB)
 * frees each one as soon as every byte of it was copied out: a GiB of WRITEs arrives in 1.8 GiB
 * of them, and the collector, left to it, let them pile up in the RSS of a write stream. A
 * chunk a record was handed out as a view of is left to the collector.
 */
import { assert } from "../../src/assert.ts";
import { freeBuffer, isWholeBuffer } from "../../src/freebuffer.ts";
import { RPC_RECORD_BYTES_MAX, RPC_RECORD_FRAGMENTS_MAX } from "../../src/limits.ts";
import {
  RECORD_MARK_BYTES,
  RECORD_MARK_LAST_FRAGMENT,
  RECORD_MARK_LENGTH_MASK,
} from "./constants.ts";

/** A stream that breaks record marking or its limits; the connection must be closed. */
export class RecordError extends Error {
  override name = "RecordError";
}

export interface RecordLimits {
  recordBytesMax: number;
  fragmentsMax: number;
}

/**
 * Offered the parts of a record that spans several chunks: a buffer of at least totalBytes to
 * copy it into, or undefined for a fresh one.
 */
export type RecordAssembler = (
  parts: readonly Uint8Array[],
  totalBytes: number,
) => Buffer | undefined;

const defaultLimits: RecordLimits = {
  recordBytesMax: RPC_RECORD_BYTES_MAX,
  fragmentsMax: RPC_RECORD_FRAGMENTS_MAX,
};

export class RecordDecoder {
  private readonly limits: RecordLimits;
  /** Bytes received and not yet consumed; `headOffset` bytes of the first are consumed. */
  private readonly input: Uint8Array[] = [];
  private headOffset = 0;
  private inputBytes = 0;
  /** The fragment being read: its remaining bytes, or -1 while its header is awaited. */
  private fragmentRemainingBytes = -1;
  private fragmentIsLast = false;
  /** The record being assembled. */
  private parts: Uint8Array[] = [];
  private recordBytes = 0;
  private fragments = 0;
  /** Owned chunks all of whose bytes were taken, kept until no record in progress needs them. */
  private spent: Uint8Array[] = [];
  /** The chunks records were handed out as views of: never freed here. */
  private readonly escaped = new WeakSet<ArrayBufferLike>();

  private readonly assemble: RecordAssembler | undefined;

  constructor(
    limits: RecordLimits = defaultLimits,
    assemble?: RecordAssembler,
    /** "owned": pushed chunks are the decoder's, and freed once copied out. */
    private readonly chunks: "borrowed" | "owned" = "borrowed",
  ) {
    assert(limits.recordBytesMax > 0 && limits.recordBytesMax <= RECORD_MARK_LENGTH_MASK);
    assert(limits.fragmentsMax > 0);
    this.limits = limits;
    this.assemble = assemble;
  }

  /** Owned chunks freed so far (tests). */
  freedChunks = 0;

  /** Bytes held: received but unparsed, plus the partial record. Bounded by the caller. */
  get bufferedBytes(): number {
    return this.inputBytes + this.recordBytes;
  }

  /** A record has begun (its first fragment header was read) and is not finished yet. */
  get inRecord(): boolean {
    return this.fragments > 0;
  }

  /**
   * What this stream may hold before its current record ends: the bytes held, plus those the
   * record was promised and has not received yet. A last fragment promises its declared length;
   * a record that is not on its last fragment may still grow to recordBytesMax. Charging the
   * promise up front is what lets a record in progress always be read to its end (no deadlock
   * between half-received records) while the server-wide budget stays bounded.
   */
  get committedBytes(): number {
    if (!this.inRecord) return this.bufferedBytes;
    const onLastFragment = this.fragmentRemainingBytes >= 0 && this.fragmentIsLast;
    const growthBytes = onLastFragment
      ? this.fragmentRemainingBytes
      : this.limits.recordBytesMax - this.recordBytes;
    return this.bufferedBytes + Math.max(0, growthBytes - this.inputBytes);
  }

  /**
   * The length the next record declares, read from its first fragment header without taking
   * it: undefined until the 4 header bytes are here, recordBytesMax if it is not its only
   * fragment. Only meaningful between records.
   */
  peekRecordBytes(): number | undefined {
    assert(!this.inRecord);
    if (this.inputBytes < RECORD_MARK_BYTES) return undefined;
    let mark = 0;
    let chunk = 0;
    let offset = this.headOffset;
    for (let i = 0; i < RECORD_MARK_BYTES; i++) {
      while (offset >= this.input[chunk]!.byteLength) {
        chunk += 1;
        offset = 0;
      }
      mark = mark * 256 + this.input[chunk]![offset]!;
      offset += 1;
    }
    if (mark < RECORD_MARK_LAST_FRAGMENT) return this.limits.recordBytesMax;
    return mark - RECORD_MARK_LAST_FRAGMENT;
  }

  /** Drops everything held (the connection is closed). */
  discard(): void {
    this.input.length = 0;
    this.headOffset = 0;
    this.inputBytes = 0;
    this.fragmentRemainingBytes = -1;
    this.parts = [];
    this.recordBytes = 0;
    this.fragments = 0;
    this.spent = [];
  }

  /** True while the stream ends cleanly here: no partial header, fragment or record. */
  get atRecordBoundary(): boolean {
    return this.inputBytes === 0 && this.fragmentRemainingBytes === -1 && this.fragments === 0;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.input.push(chunk);
    this.inputBytes += chunk.byteLength;
  }

  /** The next whole record, or undefined until more bytes arrive. Throws RecordError. */
  next(): Uint8Array | undefined {
    for (;;) {
      if (this.fragmentRemainingBytes === -1) {
        if (this.inputBytes < RECORD_MARK_BYTES) return undefined;
        this.readFragmentHeader();
      }
      while (this.fragmentRemainingBytes > 0 && this.inputBytes > 0) this.takeFragmentBytes();
      if (this.fragmentRemainingBytes > 0) return undefined;
      this.fragmentRemainingBytes = -1;
      if (this.fragmentIsLast) return this.finishRecord();
    }
  }

  private readFragmentHeader(): void {
    let mark = 0;
    for (let i = 0; i < RECORD_MARK_BYTES; i++) {
      mark = mark * 256 + this.input[0]![this.headOffset]!;
      this.consume(1);
    }
    const lengthBytes = mark & RECORD_MARK_LENGTH_MASK;
    this.fragments += 1;
    if (this.fragments > this.limits.fragmentsMax) {
      throw new RecordError(`record has more than ${this.limits.fragmentsMax} fragments`);
    }
    if (this.recordBytes + lengthBytes > this.limits.recordBytesMax) {
      throw new RecordError(
        `record of at least ${this.recordBytes + lengthBytes} bytes exceeds the limit of ` +
          `${this.limits.recordBytesMax} bytes`,
      );
    }
    this.fragmentIsLast = (mark & RECORD_MARK_LAST_FRAGMENT) !== 0;
    this.fragmentRemainingBytes = lengthBytes;
  }

  /** Moves as much of the current fragment as the first input chunk holds into the record. */
  private takeFragmentBytes(): void {
    const head = this.input[0]!;
    const takeBytes = Math.min(this.fragmentRemainingBytes, head.byteLength - this.headOffset);
    this.parts.push(head.subarray(this.headOffset, this.headOffset + takeBytes));
    this.recordBytes += takeBytes;
    this.fragmentRemainingBytes -= takeBytes;
    this.consume(takeBytes);
  }

  private consume(lengthBytes: number): void {
    const head = this.input[0]!;
    assert(this.headOffset + lengthBytes <= head.byteLength);
    this.headOffset += lengthBytes;
    this.inputBytes -= lengthBytes;
    if (this.headOffset === head.byteLength) {
      this.input.shift();
      this.headOffset = 0;
      if (this.chunks === "owned") this.spent.push(head);
    }
  }

  /** Frees the spent chunks no record was handed out as a view of; none is referenced now. */
  private freeSpent(): void {
    assert(this.parts.length === 0, "no record in progress refers to spent chunks");
    for (const chunk of this.spent) {
      if (this.escaped.has(chunk.buffer) || !isWholeBuffer(chunk)) continue;
      freeBuffer(chunk);
      this.freedChunks += 1;
    }
    this.spent.length = 0;
  }

  private joined(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
    const target = this.assemble?.(parts, totalBytes);
    if (target === undefined) return Buffer.concat(parts, totalBytes);
    assert(target.length >= totalBytes, "record buffer too small");
    let at = 0;
    for (const part of parts) {
      target.set(part, at);
      at += part.byteLength;
    }
    return target.subarray(0, totalBytes);
  }

  private finishRecord(): Uint8Array {
    const parts = this.parts;
    const record = parts.length === 1 ? parts[0]! : this.joined(parts, this.recordBytes);
    assert(record.byteLength === this.recordBytes);
    if (parts.length === 1 && this.chunks === "owned") this.escaped.add(record.buffer);
    this.parts = [];
    this.recordBytes = 0;
    this.fragments = 0;
    if (this.spent.length > 0) this.freeSpent();
    return record;
  }
}

/** The 4-byte header of a fragment of lengthBytes (RFC 5531 section 11). */
export function recordMark(lengthBytes: number, last: boolean): number {
  assert(
    Number.isInteger(lengthBytes) && lengthBytes >= 0 && lengthBytes <= RECORD_MARK_LENGTH_MASK,
  );
  return (last ? RECORD_MARK_LAST_FRAGMENT + lengthBytes : lengthBytes) >>> 0;
}
