/**
 * Reading committed chunk content: resolve the slice list into segments, then fetch every data
 * segment in parallel straight into the caller's buffer, and zero the holes.
 */
import { assert } from "../assert.ts";
import type { Slice } from "../posix.ts";
import type { BlockRef } from "./keys.ts";
import type { ReadLease } from "./pins.ts";
import { resolveSlices, type Segment } from "./resolve.ts";
import type { ChunkStore } from "./store.ts";

/**
 * Fills target[targetOffset, targetOffset + (end - start)) with chunk bytes [start, end) as
 * `slices` describe them (the target may hold anything before).
 */
export async function readChunkRange(
  store: ChunkStore,
  slices: readonly Slice[],
  start: number,
  end: number,
  target: Buffer,
  targetOffset: number,
): Promise<void> {
  assert(targetOffset + (end - start) <= target.length, "chunk read target too small");
  const reads: Promise<void>[] = [];
  for (const seg of resolveSlices(slices, start, end)) {
    const at = targetOffset + (seg.pos - start);
    if (seg.id === 0) {
      target.fill(0, at, at + seg.len);
      continue;
    }
    reads.push(store.readSlice(seg.id, seg.size, seg.off, seg.len, target, at));
  }
  await Promise.all(reads);
}

/**
 * Chunk bytes [start, end) as `slices` describe them, as a list of buffers in order: views of
 * blocks in memory pinned by `lease`; for the rest (holes as zeros), the matching bytes of
 * `spare` (at least end - start long) if given, else fresh buffers.
 */
export async function viewChunkRange(
  store: ChunkStore,
  slices: readonly Slice[],
  start: number,
  end: number,
  lease: ReadLease,
  spare?: Buffer,
): Promise<Buffer[]> {
  assert(spare === undefined || spare.length >= end - start, "spare buffer too short");
  const parts: (Buffer | Promise<Buffer>)[] = [];
  for (const seg of resolveSlices(slices, start, end)) {
    const at = seg.pos - start;
    if (seg.id === 0) {
      parts.push(
        spare === undefined
          ? Buffer.alloc(seg.len)
          : spare.fill(0, at, at + seg.len).subarray(at, at + seg.len),
      );
    } else {
      parts.push(
        ...store.viewSlice(seg.id, seg.size, seg.off, seg.len, lease, spare?.subarray(at)),
      );
    }
  }
  const views = await Promise.all(parts);
  let bytes = 0;
  for (const view of views) bytes += view.length;
  assert(bytes === end - start, "chunk views cover the range");
  return views;
}

/** The blocks holding chunk bytes [start, end): for readahead. */
export function blocksOfRange(
  slices: readonly Slice[],
  start: number,
  end: number,
  blockSizeBytes: number,
): BlockRef[] {
  const refs: BlockRef[] = [];
  for (const seg of resolveSlices(slices, start, end)) {
    if (seg.id !== 0) refs.push(...segmentBlocks(seg, blockSizeBytes));
  }
  return refs;
}

function segmentBlocks(seg: Segment, blockSizeBytes: number): BlockRef[] {
  const first = Math.floor(seg.off / blockSizeBytes);
  const last = Math.floor((seg.off + seg.len - 1) / blockSizeBytes);
  const refs: BlockRef[] = [];
  for (let index = first; index <= last; index++) {
    const bytes = Math.min(blockSizeBytes, seg.size - index * blockSizeBytes);
    refs.push({ sliceId: seg.id, index, bytes });
  }
  return refs;
}
