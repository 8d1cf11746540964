/**
 * XDR decoding (RFC 4506) over one record held in memory.
 *
 * Every variable-length item takes a max and checks it, and checks that the bytes are there,
 * BEFORE allocating anything: a hostile length costs us nothing. Padding must be zero
 * (RFC 4506 section 3: "the residual bytes ... shall be zero"), and a record must be consumed
 * exactly (`assertConsumed`). Opaque data is returned as a view into the record, not a copy:
 * a 1 MiB NFS WRITE payload is never duplicated on the way in.
 *
 * Linked lists (`*pmaplist`, `entry3` of READDIR) are decoded by loops, never by recursion.
 */
import { assert } from "../../src/assert.ts";
import { XdrError } from "./error.ts";

/** RFC 4506 section 3: every item occupies a multiple of four bytes. */
export const XDR_UNIT_BYTES = 4;

export function xdrPaddingBytes(lengthBytes: number): number {
  return (XDR_UNIT_BYTES - (lengthBytes % XDR_UNIT_BYTES)) % XDR_UNIT_BYTES;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export class XdrReader {
  private readonly bytes: Buffer;
  private readonly view: DataView;
  private offsetBytes = 0;

  constructor(bytes: Uint8Array) {
    // Records are Buffers already (socket chunks): no second view of them.
    this.bytes =
      bytes instanceof Buffer
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get positionBytes(): number {
    return this.offsetBytes;
  }

  get remainingBytes(): number {
    return this.bytes.byteLength - this.offsetBytes;
  }

  /** Fails unless the whole record was decoded: trailing bytes are garbage, not padding. */
  assertConsumed(what = "record"): void {
    if (this.remainingBytes !== 0) {
      throw new XdrError(`${what}: ${this.remainingBytes} unexpected trailing bytes`);
    }
  }

  /** The bytes not yet decoded, as a view (no copy); the reader is then at its end. */
  rest(): Buffer {
    const rest = this.bytes.subarray(this.offsetBytes);
    this.offsetBytes = this.bytes.byteLength;
    return rest;
  }

  /** RFC 4506 section 4.1: int, two's complement, big-endian. */
  int32(): number {
    this.need(4, "int");
    const value = this.view.getInt32(this.offsetBytes, false);
    this.offsetBytes += 4;
    return value;
  }

  /** RFC 4506 section 4.2: unsigned int. */
  uint32(): number {
    this.need(4, "unsigned int");
    const value = this.view.getUint32(this.offsetBytes, false);
    this.offsetBytes += 4;
    return value;
  }

  /** RFC 4506 section 4.5: hyper. */
  hyper(): bigint {
    this.need(8, "hyper");
    const value = this.view.getBigInt64(this.offsetBytes, false);
    this.offsetBytes += 8;
    return value;
  }

  /** RFC 4506 section 4.5: unsigned hyper. */
  uhyper(): bigint {
    this.need(8, "unsigned hyper");
    const value = this.view.getBigUint64(this.offsetBytes, false);
    this.offsetBytes += 8;
    return value;
  }

  /** RFC 4506 section 4.4: an enum whose only values are FALSE (0) and TRUE (1). */
  bool(): boolean {
    const value = this.int32();
    if (value !== 0 && value !== 1) throw new XdrError(`bool: invalid value ${value}`);
    return value === 1;
  }

  /** RFC 4506 section 4.3: an int restricted to the declared values. */
  enumValue<T extends number>(values: ReadonlySet<T>, what: string): T {
    const value = this.int32();
    if (!(values as ReadonlySet<number>).has(value)) {
      throw new XdrError(`${what}: invalid enum value ${value}`);
    }
    return value as T;
  }

  /** RFC 4506 section 4.9: fixed-length opaque, zero-padded to four bytes. A view, no copy. */
  opaqueFixed(lengthBytes: number): Buffer {
    assert(Number.isSafeInteger(lengthBytes) && lengthBytes >= 0, "opaqueFixed: bad length");
    return this.take(lengthBytes, "fixed opaque");
  }

  /** RFC 4506 section 4.10: opaque<max>. The length is checked against max before anything. */
  opaqueVar(maxBytes: number): Buffer {
    assert(Number.isSafeInteger(maxBytes) && maxBytes >= 0, "opaqueVar: bad max");
    const lengthBytes = this.uint32();
    if (lengthBytes > maxBytes) {
      throw new XdrError(`opaque: length ${lengthBytes} exceeds max ${maxBytes}`);
    }
    return this.take(lengthBytes, "opaque");
  }

  /** RFC 4506 section 4.11: string<max> as raw bytes (file names are bytes, not text). */
  stringBytes(maxBytes: number): Buffer {
    return this.opaqueVar(maxBytes);
  }

  /** RFC 4506 section 4.11: string<max> decoded as UTF-8; invalid UTF-8 is bad input. */
  string(maxBytes: number): string {
    const bytes = this.opaqueVar(maxBytes);
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      throw new XdrError("string: invalid UTF-8");
    }
  }

  /** RFC 4506 section 4.13: T<max>. The count is checked before the array exists. */
  arrayVar<T>(maxCount: number, readItem: (reader: XdrReader) => T): T[] {
    assert(Number.isSafeInteger(maxCount) && maxCount >= 0, "arrayVar: bad max");
    const count = this.uint32();
    if (count > maxCount) throw new XdrError(`array: count ${count} exceeds max ${maxCount}`);
    // Each item takes at least one unit: a count the record cannot hold is garbage.
    if (count * XDR_UNIT_BYTES > this.remainingBytes) {
      throw new XdrError(`array: count ${count} exceeds the record`);
    }
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(readItem(this));
    return items;
  }

  /** RFC 4506 section 4.19: *T, an optional item preceded by a bool. */
  optional<T>(readItem: (reader: XdrReader) => T): T | undefined {
    return this.bool() ? readItem(this) : undefined;
  }

  /**
   * A linked list written as optional-data (`struct *list { item; list next; }`): a TRUE
   * before each item and a FALSE at the end. Decoded by a loop, bounded by maxCount.
   */
  list<T>(maxCount: number, readItem: (reader: XdrReader) => T): T[] {
    assert(Number.isSafeInteger(maxCount) && maxCount >= 0, "list: bad max");
    const items: T[] = [];
    while (this.bool()) {
      if (items.length === maxCount) throw new XdrError(`list: more than ${maxCount} items`);
      items.push(readItem(this));
    }
    return items;
  }

  private need(lengthBytes: number, what: string): void {
    if (lengthBytes > this.remainingBytes) {
      throw new XdrError(
        `${what}: short input (need ${lengthBytes} bytes at offset ${this.offsetBytes}, ` +
          `have ${this.remainingBytes})`,
      );
    }
  }

  /** lengthBytes of data then zero padding to the next unit; a view into the record. */
  private take(lengthBytes: number, what: string): Buffer {
    const paddingBytes = xdrPaddingBytes(lengthBytes);
    this.need(lengthBytes + paddingBytes, what);
    const start = this.offsetBytes;
    const end = start + lengthBytes;
    for (let i = end; i < end + paddingBytes; i++) {
      if (this.bytes[i] !== 0) throw new XdrError(`${what}: non-zero padding at offset ${i}`);
    }
    this.offsetBytes = end + paddingBytes;
    return this.bytes.subarray(start, end);
  }
}
