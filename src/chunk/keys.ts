/**
 * Where a slice's bytes live in the object store, JuiceFS's layout: a slice of `sizeBytes` is cut
 * into blocks of the volume's block size (the last one shorter), and block i of slice ID is the
 * object
 *
 *   chunks/{ID / 1e6}/{ID / 1e3}/{ID}_{i}_{blockBytes}
 *
 * (divisions floored). The two directory levels keep any one listing small; the block length in
 * the name lets a reader size a block without a HEAD, and lets GC tools check object sizes.
 * The volume's store is already prefixed with "NAME/", so keys here are relative to it.
 */
import { assert, assertSafeUint } from "../assert.ts";

/** Every block object's key starts with this; nothing else of the volume does. */
export const BLOCKS_PREFIX = "chunks/";

export interface BlockRef {
  sliceId: number;
  index: number;
  /** Uncompressed length of this block. */
  bytes: number;
}

export function blockKey(sliceId: number, index: number, bytes: number): string {
  assert(Number.isSafeInteger(sliceId) && sliceId > 0, `slice id must be positive, got ${sliceId}`);
  assertSafeUint(index, "block index");
  assert(Number.isSafeInteger(bytes) && bytes > 0, `block bytes must be positive, got ${bytes}`);
  const top = Math.floor(sliceId / 1_000_000);
  const mid = Math.floor(sliceId / 1000);
  return `${BLOCKS_PREFIX}${top}/${mid}/${sliceId}_${index}_${bytes}`;
}

export function refKey(ref: BlockRef): string {
  return blockKey(ref.sliceId, ref.index, ref.bytes);
}

const KEY_PATTERN = /^chunks\/(\d+)\/(\d+)\/(\d+)_(\d+)_(\d+)$/;

/** The block a key names, or undefined when it is not a well-formed block key. */
export function parseBlockKey(key: string): BlockRef | undefined {
  const m = KEY_PATTERN.exec(key);
  if (!m) return undefined;
  const sliceId = Number(m[3]);
  const index = Number(m[4]);
  const bytes = Number(m[5]);
  if (!Number.isSafeInteger(sliceId) || sliceId <= 0 || bytes <= 0) return undefined;
  if (key !== blockKey(sliceId, index, bytes)) return undefined; // non-canonical digits
  return { sliceId, index, bytes };
}

/** The last part of a block's key, `{ID}_{i}_{blockBytes}`: unique, and enough to rebuild it. */
export function blockName(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

/** The key of the block a blockName() names, or undefined when it names none. */
export function keyOfBlockName(name: string): string | undefined {
  const m = /^(\d+)_\d+_\d+$/.exec(name);
  if (!m) return undefined;
  const sliceId = Number(m[1]);
  if (!Number.isSafeInteger(sliceId) || sliceId <= 0) return undefined;
  const key = `${BLOCKS_PREFIX}${Math.floor(sliceId / 1_000_000)}/${Math.floor(sliceId / 1000)}/${name}`;
  return parseBlockKey(key) === undefined ? undefined : key;
}

/** How many blocks a slice of `sizeBytes` has. */
export function blockCount(sizeBytes: number, blockSizeBytes: number): number {
  assertSafeUint(sizeBytes, "slice size");
  assert(blockSizeBytes > 0, "block size");
  return Math.ceil(sizeBytes / blockSizeBytes);
}

/** The length of block `index` of a slice of `sizeBytes`. */
export function blockBytesAt(sizeBytes: number, blockSizeBytes: number, index: number): number {
  const start = index * blockSizeBytes;
  assert(start < sizeBytes, `block ${index} lies past the end of a ${sizeBytes}-byte slice`);
  return Math.min(blockSizeBytes, sizeBytes - start);
}

/** Every block of a slice, in order. */
export function sliceBlocks(
  sliceId: number,
  sizeBytes: number,
  blockSizeBytes: number,
): BlockRef[] {
  const refs: BlockRef[] = [];
  const count = blockCount(sizeBytes, blockSizeBytes);
  for (let index = 0; index < count; index++) {
    refs.push({ sliceId, index, bytes: blockBytesAt(sizeBytes, blockSizeBytes, index) });
  }
  return refs;
}
