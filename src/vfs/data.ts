/**
 * The data path as the VFS sees it: per-inode buffered writes and cached reads over the chunk
 * store. The VFS owns permissions, handles and attributes; FileData owns bytes.
 */
import type { FsError } from "../errors.ts";
import type { Ino } from "../posix.ts";

/** Meta refused buffered data of `ino` for good (ENOSPC, file gone): it is dropped. */
export type RefusalListener = (ino: Ino, error: FsError) => void;

/**
 * A read's bytes as a list of buffers in order (a zero-copy read): views of cached blocks and
 * fresh buffers. The views stay valid until release(), which the caller calls once the bytes
 * are written out (or copied); after it they may read as empty or as other data.
 */
export interface ReadParts {
  parts: Buffer[];
  bytes: number;
  /** Idempotent. */
  release(): void;
}

export const NO_READ_PARTS: ReadParts = { parts: [], bytes: 0, release: () => undefined };

export interface FileData {
  /**
   * Bytes of [offset, offset + size) of a file that is `fileSizeBytes` long (as the VFS knows
   * it, including buffered writes); short at the end, empty past it. Sees this process's
   * buffered, not yet flushed writes.
   */
  read(
    ino: Ino,
    offset: number,
    size: number,
    fileSizeBytes: number,
    into?: Buffer,
  ): Promise<Buffer>;
  /**
   * read() without the copy into one buffer: see ReadParts. Bytes that are no view of a cached
   * block are written into `spare` (at least `size` long) at their offset, if given.
   */
  readv(
    ino: Ino,
    offset: number,
    size: number,
    fileSizeBytes: number,
    spare?: Buffer,
  ): Promise<ReadParts>;
  /** Copies the data into the write buffer; waits (back-pressure) when the buffer is full. */
  write(ino: Ino, offset: number, data: Uint8Array): Promise<void>;
  /**
   * Uploads every buffered byte of `ino` and commits its slices to meta. Rejects (EIO) while
   * data cannot be stored yet; data meta refuses is dropped and reported to the listener only.
   */
  flush(ino: Ino): Promise<void>;
  /** Who hears of data meta refused (the VFS, which tells each writer). */
  setRefusalListener(listener: RefusalListener): void;
  /** End offset of this process's buffered writes of `ino`, if any are pending. */
  bufferedEnd(ino: Ino): number | undefined;
  /** Loads [0, bytes) of `ino` into the local caches and waits for it (epoch prefetch). */
  preload(ino: Ino, bytes: number): Promise<void>;
  /** Bytes readers may load ahead (half the memory cache). */
  readonly readaheadBytesMax: number;
  /**
   * Block reads so far that waited for a GET of their own, or for a load on its way; and the
   * GETs made (reads, readahead, prefetch).
   */
  readMisses(): { misses: number; joins: number; downloads: number };
  /** Forgets cached slice lists of `ino` (another client may have changed it). */
  invalidate(ino: Ino): void;
  /** Flushes every inode. */
  flushAll(): Promise<void>;
  /** Flushes, then stops background work (uploads, deletion of unused slices). */
  close(): Promise<void>;
}
