/**
 * Cache files kept open for reading, each with the segment crcs of its trailer, so a read of a
 * cached block is one pread of the wanted range plus crc32 of what it read (no open, no stat, no
 * trailer read). At most DISK_CACHE_OPEN_FILES_MAX stay open, least recently used closed first;
 * a file in use by a read is closed only when that read is done.
 *
 * An open descriptor keeps reading the file it opened: a cache file is only ever created whole
 * (rename) and then deleted, never rewritten in place by jfs, so that is the right content even
 * after the name was evicted; a file changed in place by anyone else fails its crcs.
 */
import { closeSync, open, openSync, read, readSync } from "node:fs";
import { assert } from "../assert.ts";
import { freeBuffer } from "../freebuffer.ts";
import {
  CACHE_SEGMENT_BYTES,
  DISK_CACHE_OPEN_FILES_MAX,
  DISK_CACHE_SYNC_IO_BYTES_MAX,
} from "../limits.ts";
import { LruMap } from "../lru.ts";
import { preadCached } from "../nowaitread.ts";
import { cacheTrailerBytes, parseCacheTrailer, segmentsIntact } from "./cachefile.ts";

/** A file closed under a waiting reader is opened again, a few times (only an open storm). */
const OPEN_ATTEMPTS_MAX = 3;

/**
 * Why a cache file could not be read: gone (a miss), failing its checks (corrupt), or not
 * openable now for another reason (out of descriptors, EACCES, EIO: a miss that keeps the file).
 */
export type CacheFileProblem = "missing" | "corrupt" | "unopenable";

export class OpenCacheFile {
  users = 0;
  forgotten = false;

  constructor(
    readonly fd: number,
    readonly bytes: number,
    readonly crcs: Uint32Array,
    /** Check the crcs of what is read (--verify-cache-checksum extend), or trust the bytes (none). */
    readonly verify: boolean,
  ) {}

  /**
   * Reads [offset, offset + len) of the block into `target` at `targetOffset`, verifying every
   * segment it touches: whole segments go straight into the target, a partly wanted segment at
   * either end through a scratch buffer. False when anything fails the checks. Without
   * verification it is one pread of just the range (false only if the file is short).
   */
  async readInto(
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<boolean> {
    assert(len > 0 && offset + len <= this.bytes, "cache read within the block");
    if (!this.verify) {
      const into = target.subarray(targetOffset, targetOffset + len);
      return (await readAt(this.fd, into, offset)) === len;
    }
    const end = offset + len;
    const first = Math.floor(offset / CACHE_SEGMENT_BYTES);
    const last = Math.floor((end - 1) / CACHE_SEGMENT_BYTES);
    let directFirst = first;
    let directEnd = last + 1; // segments [directFirst, directEnd) go straight into the target
    const edges: number[] = [];
    if (offset !== first * CACHE_SEGMENT_BYTES || (first === last && end !== this.#segEnd(last))) {
      edges.push(first);
      directFirst = first + 1;
    }
    if (directEnd > directFirst && end !== this.#segEnd(last)) {
      edges.push(last);
      directEnd = last;
    }
    const reads: Promise<boolean>[] = edges.map((segment) =>
      this.#readEdge(segment, offset, end, target, targetOffset),
    );
    if (directEnd > directFirst) {
      const from = directFirst * CACHE_SEGMENT_BYTES;
      const into = target.subarray(
        targetOffset + (from - offset),
        targetOffset + (this.#segEnd(directEnd - 1) - offset),
      );
      reads.push(this.#readVerified(directFirst, into));
    }
    // Every read is settled before returning: a caller that falls back to the object store
    // must not have a late disk read land in its target afterwards.
    const results = await Promise.allSettled(reads);
    return results.every((r) => r.status === "fulfilled" && r.value);
  }

  #segEnd(segment: number): number {
    return Math.min((segment + 1) * CACHE_SEGMENT_BYTES, this.bytes);
  }

  /** One segment through a scratch buffer, then the wanted part of it into the target. */
  async #readEdge(
    segment: number,
    offset: number,
    end: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<boolean> {
    const from = segment * CACHE_SEGMENT_BYTES;
    const scratch = Buffer.allocUnsafe(this.#segEnd(segment) - from);
    try {
      if (!(await this.#readVerified(segment, scratch))) return false;
      const lo = Math.max(offset, from);
      const hi = Math.min(end, from + scratch.length);
      target.set(scratch.subarray(lo - from, hi - from), targetOffset + (lo - offset));
      return true;
    } finally {
      freeBuffer(scratch);
    }
  }

  /** Fills `into` with whole segments from `first` on and checks their crcs. */
  async #readVerified(first: number, into: Buffer): Promise<boolean> {
    const got = await readAt(this.fd, into, first * CACHE_SEGMENT_BYTES);
    return got === into.length && segmentsIntact(this.crcs, this.bytes, first, into);
  }
}

export class OpenCacheFiles {
  /** key -> the file, or its opening; least recently used first. */
  readonly #files = new LruMap<string, Promise<OpenCacheFile | CacheFileProblem>>();

  /** `verify`: reads check the segment crcs (the trailer is checked at every open regardless). */
  constructor(private readonly verify: boolean) {}

  /** The open file of `key` at `path` for one read; give it back with release(). */
  async acquire(
    key: string,
    path: string,
    bytes: number,
  ): Promise<OpenCacheFile | CacheFileProblem> {
    for (let attempt = 0; attempt < OPEN_ATTEMPTS_MAX; attempt++) {
      let opening = this.#files.get(key); // most recently used now
      if (opening === undefined) {
        opening = openCacheFile(path, bytes, this.verify);
        this.#files.set(key, opening);
        this.#trim();
      }
      const file = await opening;
      if (typeof file === "string") {
        if (this.#files.peek(key) === opening) this.#files.delete(key);
        return file;
      }
      // Closed while we waited (made room for others, or deleted): open it again.
      if (file.forgotten) continue;
      file.users++;
      return file;
    }
    return "missing";
  }

  release(file: OpenCacheFile): void {
    assert(file.users > 0, "releasing a cache file not acquired");
    file.users--;
    if (file.forgotten && file.users === 0) closeFd(file.fd);
  }

  /** Closes the file of `key` (evicted, deleted, corrupt) once no read uses it. */
  forget(key: string): void {
    const opening = this.#files.peek(key);
    if (opening === undefined) return;
    this.#files.delete(key);
    void opening.then((file) => {
      if (typeof file === "string" || file.forgotten) return;
      file.forgotten = true;
      if (file.users === 0) closeFd(file.fd);
    });
  }

  closeAll(): void {
    for (const key of [...this.#files.keys()]) this.forget(key);
  }

  #trim(): void {
    while (this.#files.size > DISK_CACHE_OPEN_FILES_MAX) {
      const oldest = this.#files.oldest();
      if (oldest === undefined) return;
      this.forget(oldest[0]);
    }
  }
}

/** Opens a cache file and reads its trailer. */
async function openCacheFile(
  path: string,
  bytes: number,
  verify: boolean,
): Promise<OpenCacheFile | CacheFileProblem> {
  let fd: number;
  try {
    fd =
      bytes <= DISK_CACHE_SYNC_IO_BYTES_MAX
        ? openSync(path, "r")
        : await new Promise<number>((resolve, reject) =>
            open(path, "r", (error, opened) => (error ? reject(error) : resolve(opened))),
          );
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : "unopenable";
  }
  const trailer = Buffer.allocUnsafe(cacheTrailerBytes(bytes));
  const got = await readAt(fd, trailer, bytes).catch(() => -1);
  const crcs = got === trailer.length ? parseCacheTrailer(trailer, bytes) : undefined;
  if (crcs === undefined) {
    closeFd(fd);
    return "corrupt";
  }
  return new OpenCacheFile(fd, bytes, crcs, verify);
}

/** pread(2)s filling `into` from `position`; the count read (short only at the end of file). */
async function readAt(fd: number, into: Buffer, position: number): Promise<number> {
  if (into.length <= DISK_CACHE_SYNC_IO_BYTES_MAX) return readAtSync(fd, into, position);
  // What the page cache holds is copied here; only the rest waits for the I/O pool.
  let done = preadCached(fd, into, position);
  while (done < into.length) {
    const n = await preadOnce(fd, into, done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function readAtSync(fd: number, into: Buffer, position: number): number {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function preadOnce(fd: number, into: Buffer, at: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, into, at, into.length - at, position, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    ),
  );
}

function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to give back
  }
}
