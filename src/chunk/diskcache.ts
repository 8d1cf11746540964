/**
 * Blocks cached on local disk, one file per block under DIR/raw/<object key> (DIR is the cache
 * directory of one volume, named by its UUID), in the checksummed form of cachefile.ts. Writes go
 * to DIR/tmp/ first and are renamed into place, so a crash leaves a whole file or none.
 *
 * The index (key -> size) is rebuilt by walking raw/ at start, so the cache survives restarts.
 * It is bounded by `capacityBytes` and by the disk: whenever free space falls below
 * `freeSpaceRatio` of the disk, the cache shrinks until it is back above (JuiceFS's
 * --free-space-ratio). Eviction is least recently used; after a restart the order is rebuilt
 * from the files' access / modification times.
 *
 * Reads go through open files (openfiles.ts): one pread of the wanted range straight into the
 * caller's buffer, checked by the crcs of the segments it covers.
 *
 * Staged blocks (writeback: written here at flush, uploaded later) are cache files with a second
 * name, a hard link DIR/staging/<block name>. The link marks the block for upload across
 * restarts and keeps its bytes even if the cache name goes; a staged block is never evicted, and
 * staging is refused once staged blocks would fill the cache, so readers always find it here.
 * Its bytes and its link are fsynced before stage() returns: the slice that names it is
 * committed next, and must find it after a power cut.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writevSync,
} from "node:fs";
import {
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  unlink,
} from "node:fs/promises";
import { dirname } from "node:path";
import { assert, assertSafeUint } from "../assert.ts";
import { fsyncDir, SharedDirSync } from "../fsync.ts";
import { DISK_CACHE_FREE_CHECK_MS, DISK_CACHE_SYNC_IO_BYTES_MAX } from "../limits.ts";
import { LruMap } from "../lru.ts";
import { cacheEvicted, cacheHit, cacheMiss } from "../metrics/jfs.ts";
import { cacheFileTrailer, cacheTrailerBytes, decodeCacheFile } from "./cachefile.ts";
import { blockName, keyOfBlockName, parseBlockKey } from "./keys.ts";
import { OpenCacheFiles } from "./openfiles.ts";

export interface DiskCacheOptions {
  /** This volume's cache directory (already including its UUID). */
  dir: string;
  capacityBytes: number;
  /** Keep at least this fraction of the disk free, evicting if needed. */
  freeSpaceRatio: number;
  /**
   * "extend" (default): every read checks the crc32s of the segments it touches; "none": reads
   * trust the bytes (a file's trailer is still checked when it is opened). See CacheChecksum.
   */
  checksum?: CacheChecksum | undefined;
}

/**
 * --verify-cache-checksum, JuiceFS's names for the two levels jfs has: "extend" checks every
 * 64 KiB segment a read touches (a partly read segment is read whole), "none" checks nothing
 * but each file's trailer (its length, magic and the crc of its crcs) at open.
 */
export type CacheChecksum = "extend" | "none";
export const CACHE_CHECKSUMS: readonly CacheChecksum[] = ["extend", "none"];
const CACHE_CHECKSUM_DEFAULT: CacheChecksum = "extend";

export interface DiskCacheStats {
  blocks: number;
  usedBytes: number;
  hits: number;
  misses: number;
  /** Files dropped because their checksum or length did not match. */
  corrupt: number;
  /** Staged blocks (writeback) not uploaded yet, and their file bytes. */
  stagedBlocks: number;
  stagedBytes: number;
}

export class DiskCache {
  /** key -> file bytes, least recently used first. */
  readonly #index = new LruMap<string, number>();
  #usedBytes = 0;
  #limitBytes: number;
  #limitCheckedAtMs = 0;
  readonly #raw: string;
  readonly #tmp: string;
  readonly #staging: string;
  /** Links staged together share an fsync of the staging directory. */
  readonly #stagingSync: SharedDirSync;
  /** Staged blocks: key -> file bytes. Never evicted; counted in #usedBytes while indexed. */
  readonly #staged = new Map<string, number>();
  #stagedBytes = 0;
  /** Staged blocks found at start, for the uploader to resume. */
  #foundStaged: string[] = [];
  readonly #ready: Promise<void>;
  #isReady = false;
  readonly #files: OpenCacheFiles;
  readonly #stats = { hits: 0, misses: 0, corrupt: 0 };

  constructor(private readonly options: DiskCacheOptions) {
    assertSafeUint(options.capacityBytes, "disk cache capacity");
    assert(options.freeSpaceRatio >= 0 && options.freeSpaceRatio < 1, "free space ratio in [0, 1)");
    this.#raw = `${options.dir}/raw`;
    this.#tmp = `${options.dir}/tmp`;
    this.#staging = `${options.dir}/staging`;
    this.#stagingSync = new SharedDirSync(this.#staging);
    this.#files = new OpenCacheFiles((options.checksum ?? CACHE_CHECKSUM_DEFAULT) !== "none");
    this.#limitBytes = options.capacityBytes;
    this.#ready = this.#load().finally(() => {
      this.#isReady = true;
    });
  }

  /** Resolves once the index is rebuilt; failures to scan leave an empty, working cache. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The index is rebuilt: has() answers for what is on disk. */
  get isReady(): boolean {
    return this.#isReady;
  }

  stats(): DiskCacheStats {
    return {
      blocks: this.#index.size,
      usedBytes: this.#usedBytes,
      ...this.#stats,
      stagedBlocks: this.#staged.size,
      stagedBytes: this.#stagedBytes,
    };
  }

  has(key: string): boolean {
    return this.#index.has(key);
  }

  /**
   * A block not in the index whose file is on disk all the same, put there by another process
   * sharing this directory (`jfs warmup` beside a running mount): indexed now, so the read that
   * asked finds it (and verifies it) rather than fetching it again. One stat of a missing name
   * per real miss, microseconds against a GET. False when there is no such file.
   */
  adopt(key: string, bytes: number): boolean {
    if (!this.#isReady) return false;
    if (this.#index.has(key)) return true;
    const fileBytes = bytes + cacheTrailerBytes(bytes);
    const found = statSync(`${this.#raw}/${key}`, { throwIfNoEntry: false });
    if (found === undefined || !found.isFile() || found.size !== fileBytes) return false;
    this.#index.set(key, fileBytes);
    this.#usedBytes += fileBytes;
    void this.#evict();
    return true;
  }

  /**
   * The block, verified (unless the checksum level is "none"), or undefined on a miss; a corrupt
   * file is removed and reported.
   */
  async get(key: string, bytes: number): Promise<Buffer | undefined> {
    const block = Buffer.allocUnsafe(bytes);
    return (await this.read(key, bytes, 0, bytes, block, 0)) ? block : undefined;
  }

  /**
   * Copies [offset, offset + len) of the `bytes`-long block `key` into `target` at
   * `targetOffset`, verified as the checksum level says; false on a miss. A corrupt file is removed and reported, and
   * whatever it left in `target` must be overwritten by the caller.
   */
  async read(
    key: string,
    bytes: number,
    offset: number,
    len: number,
    target: Buffer,
    targetOffset: number,
  ): Promise<boolean> {
    if (!this.#isReady) await this.#ready;
    if (!this.#index.has(key)) {
      this.#stats.misses++;
      cacheMiss("disk");
      return false;
    }
    const file = await this.#files.acquire(key, `${this.#raw}/${key}`, bytes);
    let intact = false;
    if (typeof file !== "string") {
      try {
        intact = await file.readInto(offset, len, target, targetOffset);
      } finally {
        this.#files.release(file);
      }
    }
    if (intact) {
      this.#touch(key);
      this.#stats.hits++;
      cacheHit("disk", len);
      return true;
    }
    if (file === "missing") {
      this.#forget(key); // removed behind our back
    } else if (file !== "unopenable") {
      this.#stats.corrupt++;
      await this.delete(key);
    }
    this.#stats.misses++;
    cacheMiss("disk");
    return false;
  }

  /** Opens the file of a block about to be read (readahead), so the read is just a pread. */
  preopen(key: string, bytes: number): void {
    if (!this.#isReady || !this.#index.has(key)) return;
    void this.#files.acquire(key, `${this.#raw}/${key}`, bytes).then((file) => {
      if (typeof file !== "string") this.#files.release(file);
    });
  }

  /** Stores a block; a full disk or any I/O error just leaves it uncached. */
  async put(key: string, block: Uint8Array): Promise<void> {
    await this.#ready;
    const fileBytes = block.length + cacheTrailerBytes(block.length);
    if (this.#index.has(key)) {
      this.#touch(key);
      return;
    }
    await this.#refreshLimit();
    if (fileBytes > this.#limitBytes) return;
    if (!(await this.#writeFile(key, block))) return;
    if (this.#index.has(key)) return; // a concurrent put of the same block won
    this.#index.set(key, fileBytes);
    this.#usedBytes += fileBytes;
    await this.#evict();
  }

  /**
   * Stores a block that is not in the object store yet (writeback), marked for upload; false
   * (nothing stored) when staged blocks would fill the cache or the disk fails: the caller
   * uploads it instead.
   */
  async stage(key: string, block: Uint8Array): Promise<boolean> {
    await this.#ready;
    assert(!this.#staged.has(key), "a block is staged once");
    const fileBytes = block.length + cacheTrailerBytes(block.length);
    await this.#refreshLimit();
    if (this.#stagedBytes + fileBytes > this.#limitBytes) return false;
    if (!(await this.#writeFile(key, block, this.#markerOf(key)))) return false;
    this.#staged.set(key, fileBytes);
    this.#stagedBytes += fileBytes;
    this.#forget(key); // (only a block cached by an earlier, interrupted attempt)
    this.#index.set(key, fileBytes);
    this.#usedBytes += fileBytes;
    await this.#evict();
    return true;
  }

  /**
   * Writes the cache file of `key` whole: to a temp file (hard-linked as `marker` when given),
   * renamed into place. Small cached blocks use blocking calls (DISK_CACHE_SYNC_IO_BYTES_MAX):
   * five trips through the I/O thread pool cost more CPU than the writes themselves. False,
   * with nothing left behind, when the disk fails.
   *
   * A staged block (`marker` given) is in no object store yet, and the slice that names it is
   * committed once this returns, so its bytes and its staging link are fsynced first (off the
   * event loop). The link is its durable name: the raw/ name needs no fsync, since a start that
   * finds the link without it links it again (#loadStaged).
   */
  async #writeFile(key: string, block: Uint8Array, marker?: string): Promise<boolean> {
    const temp = `${this.#tmp}/${randomBytes(8).toString("hex")}`;
    const path = `${this.#raw}/${key}`;
    try {
      const small = block.length + cacheTrailerBytes(block.length) <= DISK_CACHE_SYNC_IO_BYTES_MAX;
      if (marker === undefined && small) {
        writeTempSync(temp, block);
        mkdirSync(dirname(path), { recursive: true });
        renameSync(temp, path);
      } else {
        await writeTemp(temp, block, marker !== undefined);
        if (marker !== undefined) {
          await link(temp, marker);
          await this.#stagingSync.sync();
        }
        await mkdir(dirname(path), { recursive: true });
        await rename(temp, path);
      }
      return true;
    } catch {
      await rm(temp, { force: true }).catch(() => undefined);
      if (marker !== undefined) await rm(marker, { force: true }).catch(() => undefined);
      return false;
    }
  }

  /** The staging link of a staged block. */
  #markerOf(key: string): string {
    return `${this.#staging}/${blockName(key)}`;
  }

  /**
   * The bytes of a staged block, from its staging link (the cache name may be gone), or
   * undefined when the file is missing or fails its checks.
   */
  async readStaged(key: string, bytes: number): Promise<Buffer | undefined> {
    const marker = this.#markerOf(key);
    try {
      const file =
        bytes <= DISK_CACHE_SYNC_IO_BYTES_MAX ? readFileSync(marker) : await readFile(marker);
      return decodeCacheFile(file, bytes);
    } catch {
      return undefined;
    }
  }

  /** The block is in the object store now (or gone for good): an ordinary cached block. */
  unstage(key: string): void {
    const fileBytes = this.#staged.get(key);
    if (fileBytes === undefined) return;
    this.#staged.delete(key);
    this.#stagedBytes -= fileBytes;
    assert(this.#stagedBytes >= 0, "staged bytes accounting");
    try {
      unlinkSync(this.#markerOf(key));
    } catch {
      // already gone
    }
    void this.#evict();
  }

  /** Staged blocks left by an earlier run (crash or unmount before their upload); once. */
  takeFoundStaged(): string[] {
    const found = this.#foundStaged;
    this.#foundStaged = [];
    return found;
  }

  async delete(key: string): Promise<void> {
    await this.#ready;
    this.#forget(key);
    await unlink(`${this.#raw}/${key}`).catch(() => undefined);
  }

  #touch(key: string): void {
    this.#index.get(key);
  }

  /** Closes open cache files (reads in flight finish first). */
  close(): void {
    this.#files.closeAll();
  }

  #forget(key: string): void {
    this.#files.forget(key);
    const bytes = this.#index.peek(key);
    if (bytes === undefined) return;
    this.#index.delete(key);
    this.#usedBytes -= bytes;
    assert(this.#usedBytes >= 0, "disk cache accounting");
  }

  async #evict(): Promise<void> {
    const victims: string[] = [];
    let victimBytes = 0;
    for (const [key, bytes] of this.#index) {
      if (this.#usedBytes - victimBytes <= this.#limitBytes) break;
      if (this.#staged.has(key)) continue;
      victims.push(key);
      victimBytes += bytes;
    }
    for (const key of victims) this.#forget(key);
    cacheEvicted("disk", victims.length);
    for (const key of victims) await unlink(`${this.#raw}/${key}`).catch(() => undefined);
  }

  /** The cache may use what the capacity allows and what leaves the disk its free share. */
  async #refreshLimit(): Promise<void> {
    const nowMs = Date.now();
    if (nowMs - this.#limitCheckedAtMs < DISK_CACHE_FREE_CHECK_MS) return;
    this.#limitCheckedAtMs = nowMs;
    try {
      const fs = await statfs(this.options.dir);
      const totalBytes = fs.blocks * fs.bsize;
      const freeBytes = fs.bavail * fs.bsize;
      const spareBytes = freeBytes - this.options.freeSpaceRatio * totalBytes;
      const allowed = Math.max(0, Math.floor(this.#usedBytes + spareBytes));
      this.#limitBytes = Math.min(this.options.capacityBytes, allowed);
    } catch {
      this.#limitBytes = this.options.capacityBytes;
    }
    await this.#evict();
  }

  async #load(): Promise<void> {
    try {
      await rm(this.#tmp, { recursive: true, force: true });
      await mkdir(this.#tmp, { recursive: true });
      await mkdir(this.#raw, { recursive: true });
      // Staging links must outlive a power cut, so must the directory holding them.
      await fsyncCreated(this.#staging, await mkdir(this.#staging, { recursive: true }));
      const found = await scanBlocks(this.#raw);
      found.sort((a, b) => a.usedAtMs - b.usedAtMs);
      for (const f of found) {
        this.#index.set(f.key, f.bytes);
        this.#usedBytes += f.bytes;
      }
      await this.#loadStaged();
      this.#limitCheckedAtMs = 0;
      await this.#refreshLimit();
    } catch {
      // An unreadable cache directory must not stop the volume: run uncached.
      this.#limitBytes = 0;
    }
  }
  /**
   * Staged blocks of an earlier run: each is cached again under its key if that name is gone
   * (a crash between link and rename, or a cache file dropped as corrupt).
   */
  async #loadStaged(): Promise<void> {
    for (const name of await readdir(this.#staging)) {
      const key = keyOfBlockName(name);
      const marker = `${this.#staging}/${name}`;
      const info = await stat(marker).catch(() => undefined);
      const ref = key === undefined ? undefined : parseBlockKey(key);
      if (key === undefined || ref === undefined || info === undefined || !info.isFile()) {
        continue; // not ours: leave it alone
      }
      if (info.size !== ref.bytes + cacheTrailerBytes(ref.bytes)) {
        // Torn before its flush returned: no slice was committed with it.
        await unlink(marker).catch(() => undefined);
        continue;
      }
      if (!this.#index.has(key)) {
        const path = `${this.#raw}/${key}`;
        await mkdir(dirname(path), { recursive: true });
        await rm(path, { force: true });
        await link(marker, path);
        this.#index.set(key, info.size);
        this.#usedBytes += info.size;
      }
      this.#staged.set(key, info.size);
      this.#stagedBytes += info.size;
      this.#foundStaged.push(key);
    }
  }
}

function writeTempSync(path: string, block: Uint8Array): void {
  const fd = openSync(path, "wx");
  try {
    const trailer = cacheFileTrailer(block);
    const written = writevSync(fd, [block, trailer]);
    if (written !== block.length + trailer.length) throw new Error(`short write to ${path}`);
  } finally {
    closeSync(fd);
  }
}

/** Writes block + trailer without copying the block into a new buffer; fsyncs when asked. */
async function writeTemp(path: string, block: Uint8Array, fsync: boolean): Promise<void> {
  const handle = await open(path, "wx");
  try {
    const trailer = cacheFileTrailer(block);
    const { bytesWritten } = await handle.writev([block, trailer]);
    if (bytesWritten !== block.length + trailer.length) throw new Error(`short write to ${path}`);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs the parents of `dir` up to and including that of `firstCreated` (mkdir's answer). */
async function fsyncCreated(dir: string, firstCreated: string | undefined): Promise<void> {
  if (firstCreated === undefined) return;
  assert(dir.startsWith(firstCreated), "mkdir creates ancestors of the directory");
  for (let created = dir; ; created = dirname(created)) {
    await fsyncDir(dirname(created));
    if (created === firstCreated) break;
  }
}

interface FoundBlock {
  key: string;
  bytes: number;
  usedAtMs: number;
}

/** Cached block files under `raw`, walked with an explicit stack (no recursion). */
async function scanBlocks(raw: string): Promise<FoundBlock[]> {
  const found: FoundBlock[] = [];
  const stack: string[] = [""];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const entries = await readdir(`${raw}/${rel}`, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const key = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        stack.push(key);
        continue;
      }
      const ref = parseBlockKey(key);
      if (!entry.isFile() || ref === undefined) continue;
      const info = await stat(`${raw}/${key}`).catch(() => undefined);
      if (info === undefined) continue;
      if (info.size !== ref.bytes + cacheTrailerBytes(ref.bytes)) {
        await unlink(`${raw}/${key}`).catch(() => undefined); // torn or foreign: drop it now
        continue;
      }
      found.push({ key, bytes: info.size, usedAtMs: Math.max(info.atimeMs, info.mtimeMs) });
    }
  }
  return found;
}
