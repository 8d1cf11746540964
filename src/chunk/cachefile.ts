/**
 * The on-disk form of one cached block: the block's bytes followed by a 12-byte trailer
 *
 *   magic "JFC1" | u32 LE length of the block | u32 LE crc32 (Bun.hash.crc32) of the block
 *
 * A local disk can return bit flips, torn files after a power loss or bytes scribbled by another
 * program; the object store is the source of truth, so a file that fails any check is dropped
 * and the block fetched again rather than served.
 */
import { assert } from "../assert.ts";

const MAGIC = 0x3143_464a; // "JFC1" read as u32 LE
export const CACHE_TRAILER_BYTES = 12;

/** The trailer that follows `block` in its cache file. */
export function cacheFileTrailer(block: Uint8Array): Buffer {
  const trailer = Buffer.allocUnsafe(CACHE_TRAILER_BYTES);
  trailer.writeUInt32LE(MAGIC, 0);
  trailer.writeUInt32LE(block.length, 4);
  trailer.writeUInt32LE(crc32(block), 8);
  return trailer;
}

/** A whole cache file in one buffer (the cache itself writes block and trailer without a copy). */
export function encodeCacheFile(block: Uint8Array): Buffer {
  const file = Buffer.concat([block, cacheFileTrailer(block)]);
  assert(file.length === block.length + CACHE_TRAILER_BYTES, "cache file length");
  return file;
}

/** The block held by `file`, or undefined when it is torn, corrupt or not `bytes` long. */
export function decodeCacheFile(file: Buffer, bytes: number): Buffer | undefined {
  if (file.length !== bytes + CACHE_TRAILER_BYTES) return undefined;
  if (file.readUInt32LE(bytes) !== MAGIC) return undefined;
  if (file.readUInt32LE(bytes + 4) !== bytes) return undefined;
  const block = file.subarray(0, bytes);
  if (file.readUInt32LE(bytes + 8) !== crc32(block)) return undefined;
  return block;
}

function crc32(data: Uint8Array): number {
  return Bun.hash.crc32(data) >>> 0;
}
