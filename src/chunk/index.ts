/**
 * The chunk layer's one door. Above it (VFS, volume, CLI) code imports only this module: the
 * slice → block → object key mapping (keys.ts), the object layer's errors and the caches stay
 * inside src/chunk.
 */
export { blocksOfRange, readChunkRange, viewChunkRange } from "./chunkread.ts";
export { CACHE_CHECKSUMS, type CacheChecksum } from "./diskcache.ts";
export { Semaphore } from "./limiter.ts";
export {
  type BlockObject,
  blockObjects,
  isMissingBlock,
  sliceIdOfKey,
  sliceObjects,
  storeSlice,
} from "./objects.ts";
export type { ReadLease } from "./pins.ts";
export { dataExtent, resolveSlices } from "./resolve.ts";
export { type SlicePart, SliceWriter } from "./slicewriter.ts";
export { ChunkStore, type ChunkStoreOptions, type ChunkStoreStats } from "./store.ts";
