/**
 * Detects corrupted objects: each object is stored as DATA + CRC-32(DATA), the checksum a 4-byte
 * big-endian trailer. CRC-32 is the IEEE/zlib polynomial, computed natively by Bun.hash.crc32
 * (several GB/s); CRC-32C would need a JavaScript table loop at a fraction of that speed, and
 * both catch the same corruption (bit rot, torn or misframed bodies).
 *
 * Every get verifies, ranged ones too: a checksum covers the whole object, so a ranged get
 * fetches the whole object, checks it and returns the range (the chunk store loads whole blocks
 * on checksummed volumes anyway, so the rest is cached rather than wasted). A mismatch throws
 * ObjectStoreError naming the key: corrupt bytes are never returned. head and list report the
 * data size, without the trailer.
 *
 * The trailer changes the stored bytes, so which objects carry it is a setting of the volume:
 * all of them (formatted with checksums), or, on a volume that turned checksums on later, the
 * ones `covers` names (blocks of slices written since; the rest pass through as they are).
 * Reading a checksummed object without this decorator, or the reverse, is wrong.
 */
import { assertSafeUint } from "../assert.ts";
import { allocUnowned } from "../unowned.ts";
import type { ListPage, ObjectInfo, ObjectStore } from "./interface.ts";
import { ObjectStoreError } from "./interface.ts";

export const CHECKSUM_TRAILER_BYTES = 4;

export class ChecksumObjectStore implements ObjectStore {
  readonly description: string;
  readonly putCopiesBody: boolean;
  readonly local: boolean;
  /** Present when the inner store has it: the trailer is read into a part of its own. */
  readonly getParts?: (key: string, parts: readonly Uint8Array[]) => Promise<void>;

  constructor(
    readonly inner: ObjectStore,
    /** Which keys carry a trailer; all by default. */
    private readonly covers: (key: string) => boolean = () => true,
  ) {
    this.description = inner.description;
    this.putCopiesBody = inner.putCopiesBody === true;
    this.local = inner.local === true;
    const innerGetParts = inner.getParts?.bind(inner);
    if (innerGetParts !== undefined) {
      this.getParts = async (key, parts) => {
        if (!this.covers(key)) return innerGetParts(key, parts);
        const trailer = Buffer.allocUnsafe(CHECKSUM_TRAILER_BYTES);
        await innerGetParts(key, [...parts, trailer]);
        let actual = 0;
        for (const part of parts) actual = Bun.hash.crc32(part, actual);
        checkCrc(key, trailer.readUInt32BE(0), actual);
      };
    }
  }

  async get(key: string, offset = 0, length?: number): Promise<Buffer> {
    assertSafeUint(offset, "offset");
    if (length !== undefined) assertSafeUint(length, "length");
    if (!this.covers(key)) return this.inner.get(key, offset, length);
    const data = verified(key, await this.inner.get(key));
    if (offset === 0 && length === undefined) return data;
    const start = Math.min(offset, data.length);
    return data.subarray(
      start,
      length === undefined ? undefined : Math.min(data.length, start + length),
    );
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    if (!this.covers(key)) return this.inner.put(key, data);
    const trailer = Buffer.allocUnsafe(CHECKSUM_TRAILER_BYTES);
    trailer.writeUInt32BE(Bun.hash.crc32(data), 0);
    if (this.inner.putParts !== undefined) return this.inner.putParts(key, [data, trailer]);
    // A copy per block: without the nudge, dead copies pile up until the heap collects.
    const stored = allocUnowned(data.length + CHECKSUM_TRAILER_BYTES);
    stored.set(data, 0);
    stored.set(trailer, data.length);
    await this.inner.put(key, stored);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.inner.head(key);
    return info === undefined || !this.covers(key) ? info : dataInfo(info);
  }

  async list(prefix: string, startAfter?: string, limit?: number): Promise<ListPage> {
    const page = await this.inner.list(prefix, startAfter, limit);
    // A listing goes on past an object too short for a trailer (a stray one under the prefix):
    // it reads as empty here, and fails with a checksum mismatch when read or headed.
    const objects = page.objects.map((info) =>
      this.covers(info.key)
        ? { ...info, sizeBytes: Math.max(0, info.sizeBytes - CHECKSUM_TRAILER_BYTES) }
        : info,
    );
    return page.nextStartAfter === undefined
      ? { objects }
      : { objects, nextStartAfter: page.nextStartAfter };
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The data of a whole stored object, after checking it against its trailer. */
function verified(key: string, stored: Buffer): Buffer {
  if (stored.length < CHECKSUM_TRAILER_BYTES) {
    throw new ObjectStoreError(`checksum mismatch for ${key}: ${stored.length} bytes, no trailer`);
  }
  const dataLength = stored.length - CHECKSUM_TRAILER_BYTES;
  const data = stored.subarray(0, dataLength);
  checkCrc(key, stored.readUInt32BE(dataLength), Bun.hash.crc32(data));
  return data;
}

function checkCrc(key: string, expected: number, actual: number): void {
  if (actual !== expected) {
    throw new ObjectStoreError(
      `checksum mismatch for ${key}: stored crc32 ${hex(expected)}, data has ${hex(actual)}`,
    );
  }
}

function dataInfo(info: ObjectInfo): ObjectInfo {
  if (info.sizeBytes < CHECKSUM_TRAILER_BYTES) {
    throw new ObjectStoreError(`checksum mismatch for ${info.key}: too short to hold a trailer`);
  }
  return { ...info, sizeBytes: info.sizeBytes - CHECKSUM_TRAILER_BYTES };
}

function hex(value: number): string {
  return value.toString(16).padStart(8, "0");
}
