/**
 * The on-disk form of one cached block: the block's bytes, then a crc32 (Bun.hash.crc32) of each
 * CACHE_SEGMENT_BYTES segment of it (u32 LE each, the last segment may be shorter), then a footer
 *
 *   magic "JFC2" | u32 LE block length | u32 LE segment bytes | u32 LE crc32 of the crcs + the
 *   three fields before it
 *
 * A local disk can return bit flips, torn files after a power loss or bytes scribbled by another
 * program; the object store is the source of truth, so a file that fails any check is dropped
 * and the block fetched again rather than served.
 *
 * Why per-segment crcs rather than one per block: a read verifies exactly the segments it
 * reads, every time, and nothing else. A 1 MiB read of a 4 MiB block reads and checks 1 MiB
 * (crc32 runs at 20+ GB/s here, so checking costs a fraction of the read), a 4 KiB random read
 * 64 KiB, straight into the reply buffer. A whole-block crc would make every read load the whole
 * block first, and remembering "verified" per file would trust a disk that can still change.
 * Version 1 files ("JFC1", one crc per block) have another length and are dropped when found.
 */
import { assert } from "../assert.ts";
import { CACHE_SEGMENT_BYTES } from "../limits.ts";

const MAGIC = 0x3243_464a; // "JFC2" read as u32 LE
const FOOTER_BYTES = 16;

/** How many segments a block of `bytes` has. */
export function segmentCount(bytes: number): number {
  return Math.ceil(bytes / CACHE_SEGMENT_BYTES);
}

/** Bytes that follow a block of `bytes` in its cache file. */
export function cacheTrailerBytes(bytes: number): number {
  return 4 * segmentCount(bytes) + FOOTER_BYTES;
}

/** The trailer that follows `block` in its cache file. */
export function cacheFileTrailer(block: Uint8Array): Buffer {
  const count = segmentCount(block.length);
  const trailer = Buffer.allocUnsafe(cacheTrailerBytes(block.length));
  for (let i = 0; i < count; i++) {
    const from = i * CACHE_SEGMENT_BYTES;
    const segment = block.subarray(from, Math.min(from + CACHE_SEGMENT_BYTES, block.length));
    trailer.writeUInt32LE(crc32(segment), 4 * i);
  }
  const footer = 4 * count;
  trailer.writeUInt32LE(MAGIC, footer);
  trailer.writeUInt32LE(block.length, footer + 4);
  trailer.writeUInt32LE(CACHE_SEGMENT_BYTES, footer + 8);
  trailer.writeUInt32LE(crc32(trailer.subarray(0, footer + 12)), footer + 12);
  return trailer;
}

/**
 * The segment crcs of a `bytes`-long block from its trailer, or undefined when the trailer is
 * torn, corrupt or written for another length or segment size.
 */
export function parseCacheTrailer(trailer: Buffer, bytes: number): Uint32Array | undefined {
  const count = segmentCount(bytes);
  const footer = 4 * count;
  if (trailer.length !== cacheTrailerBytes(bytes)) return undefined;
  if (trailer.readUInt32LE(footer) !== MAGIC) return undefined;
  if (trailer.readUInt32LE(footer + 4) !== bytes) return undefined;
  if (trailer.readUInt32LE(footer + 8) !== CACHE_SEGMENT_BYTES) return undefined;
  if (trailer.readUInt32LE(footer + 12) !== crc32(trailer.subarray(0, footer + 12))) {
    return undefined;
  }
  const crcs = new Uint32Array(count);
  for (let i = 0; i < count; i++) crcs[i] = trailer.readUInt32LE(4 * i);
  return crcs;
}

/**
 * True when `data` holds exactly segments [first, first + n) of a `bytes`-long block whose
 * segment crcs are `crcs`.
 */
export function segmentsIntact(
  crcs: Uint32Array,
  bytes: number,
  first: number,
  data: Uint8Array,
): boolean {
  const from = first * CACHE_SEGMENT_BYTES;
  assert(from < bytes && from + data.length <= bytes, "segments within the block");
  for (let at = 0; at < data.length; at += CACHE_SEGMENT_BYTES) {
    const segment = data.subarray(at, Math.min(at + CACHE_SEGMENT_BYTES, data.length));
    const index = first + at / CACHE_SEGMENT_BYTES;
    const expectedBytes = Math.min(CACHE_SEGMENT_BYTES, bytes - index * CACHE_SEGMENT_BYTES);
    if (segment.length !== expectedBytes || crc32(segment) !== crcs[index]) return false;
  }
  return true;
}

/** A whole cache file in one buffer (the cache itself writes block and trailer without a copy). */
export function encodeCacheFile(block: Uint8Array): Buffer {
  const file = Buffer.concat([block, cacheFileTrailer(block)]);
  assert(file.length === block.length + cacheTrailerBytes(block.length), "cache file length");
  return file;
}

/** The block held by `file`, or undefined when it is torn, corrupt or not `bytes` long. */
export function decodeCacheFile(file: Buffer, bytes: number): Buffer | undefined {
  if (file.length !== bytes + cacheTrailerBytes(bytes)) return undefined;
  const crcs = parseCacheTrailer(file.subarray(bytes), bytes);
  if (crcs === undefined) return undefined;
  const block = file.subarray(0, bytes);
  return bytes === 0 || segmentsIntact(crcs, bytes, 0, block) ? block : undefined;
}

function crc32(data: Uint8Array): number {
  return Bun.hash.crc32(data) >>> 0;
}
