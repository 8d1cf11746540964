/**
 * Object storage as jfs needs it: whole-object put, ranged get, head, delete, ordered list.
 * Every call is idempotent (deleting a missing object succeeds) so callers may retry freely.
 */

export interface ObjectInfo {
  key: string;
  sizeBytes: number;
  /** Milliseconds since the epoch. */
  mtimeMs: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Pass as `startAfter` to continue; absent when the listing is complete. */
  nextStartAfter?: string;
}

export interface ObjectStore {
  /** e.g. "file:///var/jfs/data/" or "s3://127.0.0.1:9000/bucket/"; never holds secrets. */
  readonly description: string;
  /**
   * True when a put holds a copy of its body while it runs (S3: fetch copies it); the chunk
   * store counts that copy in the write buffer.
   */
  readonly putCopiesBody?: boolean;
  /**
   * True when objects are files on this machine (a file bucket): loading one again costs about
   * what reading a disk cache copy of it would, so the chunk store copies a block into the disk
   * cache only once it is loaded a second time (src/chunk/admission.ts).
   */
  readonly local?: boolean;
  /**
   * The object's bytes, or `length` bytes from `offset` (fewer at the end of the object).
   * A missing key throws ObjectNotFoundError.
   */
  get(key: string, offset?: number, length?: number): Promise<Buffer>;
  /**
   * Optional: the whole object read into `parts`, in order, which together must be exactly as
   * long as it (else ObjectStoreError); a missing key throws ObjectNotFoundError. A reader fills
   * recycled buffers this way instead of the fresh one get() returns, which the allocator keeps
   * resident for a while after it is freed (docs/benchmarks.md, the 4 GiB stream's RSS).
   */
  getParts?(key: string, parts: readonly Uint8Array[]): Promise<void>;
  /**
   * Stores `data` under `key`, replacing any object. Once the returned promise settles (either
   * way) the store no longer reads `data`: callers recycle their buffers.
   */
  put(key: string, data: Uint8Array): Promise<void>;
  /**
   * Optional: put() of the parts' concatenation, without making it. The checksum store stores
   * a block and its 4-byte trailer this way: a copy of every block into a fresh buffer cost
   * more than the rest of a put to a local directory (docs/benchmarks.md, NFS write profile).
   */
  putParts?(key: string, parts: readonly Uint8Array[]): Promise<void>;
  /** Succeeds when the key does not exist. */
  delete(key: string): Promise<void>;
  /** Undefined when the key does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Keys with `prefix`, strictly after `startAfter`, in byte order, at most `limit`. */
  list(prefix: string, startAfter?: string, limit?: number): Promise<ListPage>;
  /** Creates the bucket / directory if it does not exist (used by format). */
  create(): Promise<void>;
  close(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
  }
}

/** A failure that retrying will not fix: wrong bucket, credentials, permissions. */
export class ObjectStoreError extends Error {
  override name = "ObjectStoreError";
}
