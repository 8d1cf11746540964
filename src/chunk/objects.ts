/**
 * The block objects of a volume as the maintenance tools see them (gc's leak scan, fsck,
 * compaction, the checksum cover of `jfs config`): listed, named, parsed and stored here, so
 * nothing above the chunk layer knows the key layout of keys.ts.
 */
import { assert } from "../assert.ts";
import { OBJECT_LIST_PAGE_MAX } from "../limits.ts";
import type { ObjectStore } from "../object/interface.ts";
import { ObjectNotFoundError } from "../object/interface.ts";
import { BLOCKS_PREFIX, blockKey, parseBlockKey, sliceBlocks } from "./keys.ts";
import type { ChunkStore } from "./store.ts";

export interface BlockObject {
  /** The object's key: opaque above the chunk layer (shown to users, passed back to delete). */
  key: string;
  sizeBytes: number;
  mtimeMs: number;
  /** The slice the block belongs to; undefined for a stray object under the blocks' prefix. */
  sliceId: number | undefined;
}

/** Every object under the blocks' prefix of `store`, in key order, one listing page at a time. */
export async function* blockObjects(store: ObjectStore): AsyncGenerator<BlockObject> {
  let startAfter: string | undefined;
  do {
    const page = await store.list(BLOCKS_PREFIX, startAfter, OBJECT_LIST_PAGE_MAX);
    for (const o of page.objects) {
      const ref = parseBlockKey(o.key);
      yield { key: o.key, sizeBytes: o.sizeBytes, mtimeMs: o.mtimeMs, sliceId: ref?.sliceId };
    }
    startAfter = page.nextStartAfter;
  } while (startAfter !== undefined);
}

/** The objects a slice of `sizeBytes` is stored in, with each one's uncompressed length. */
export function sliceObjects(
  sliceId: number,
  sizeBytes: number,
  blockSizeBytes: number,
): Array<{ key: string; bytes: number }> {
  return sliceBlocks(sliceId, sizeBytes, blockSizeBytes).map((ref) => ({
    key: blockKey(ref.sliceId, ref.index, ref.bytes),
    bytes: ref.bytes,
  }));
}

/** The slice whose block `key` is (relative to the volume's prefix), if it names a block. */
export function sliceIdOfKey(key: string): number | undefined {
  return parseBlockKey(key)?.sliceId;
}

/** A read failed because the block's object is gone (a stale slice list, or a lost object). */
export function isMissingBlock(error: unknown): error is ObjectNotFoundError {
  return error instanceof ObjectNotFoundError;
}

/** Uploads a whole slice held in one buffer (compaction), its blocks in parallel. */
export async function storeSlice(store: ChunkStore, id: number, data: Buffer): Promise<void> {
  const bs = store.blockSizeBytes;
  const refs = sliceBlocks(id, data.length, bs);
  await Promise.all(
    refs.map((ref) => {
      const block = data.subarray(ref.index * bs, ref.index * bs + ref.bytes);
      assert(block.length === ref.bytes, "block cut from the slice");
      return store.putBlock(ref, () => block);
    }),
  );
}
