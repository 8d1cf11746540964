/**
 * The chunk layer's one door. Above it (VFS, volume, CLI) code imports only this module: the
 * slice → block → object key mapping (keys.ts), the object layer's errors and the caches stay
 * inside src/chunk.
 */
export { allocUnowned } from "./buffers.ts";
export { blocksOfRange, readChunkRange } from "./chunkread.ts";
export { Compactor, type CompactResult, compactChunk } from "./compact.ts";
export { type GcRound, SliceCollector } from "./gc.ts";
export { allFiles, type SliceUse, sliceUses } from "./inventory.ts";
export {
  type BlockObject,
  blockObjects,
  isMissingBlock,
  sliceIdOfKey,
  sliceObjects,
} from "./objects.ts";
export { type SlicePart, SliceWriter } from "./slicewriter.ts";
export { ChunkStore, type ChunkStoreOptions, type ChunkStoreStats } from "./store.ts";
