/**
 * A data path over real parts for tests: SQLite meta in a temp dir, a FileObjectStore (behind
 * the volume's "NAME/" prefix, as in production) or any other store, a disk cache in the same
 * temp dir, and a ChunkFileData with small blocks and buffers so boundaries come quickly.
 *
 *   await using fx = await dataFixture({ options: { memCacheBytes: 0 } });
 *   const ino = await fx.newFile("f");
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaseMeta } from "../../src/meta/base.ts";
import { openMeta } from "../../src/meta/index.ts";
import { FileType, type Format, type Ino, ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { FileObjectStore } from "../../src/object/file.ts";
import type { ObjectStore } from "../../src/object/interface.ts";
import { PrefixedObjectStore } from "../../src/object/prefix.ts";
import { ChunkFileData, type FileDataOptions } from "../../src/volume/filedata.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

export interface FixtureParams {
  options?: Partial<FileDataOptions>;
  format?: Partial<Format>;
  /** Wraps the volume's object store (fault injection, counting). */
  wrap?: (store: ObjectStore) => ObjectStore;
  /** Use this store instead of a FileObjectStore in the temp dir (e.g. S3). */
  objects?: ObjectStore;
  /** Meta engine URL (e.g. a redis:// db, wiped first); default: SQLite in the temp dir. */
  metaUrl?: string;
}

export interface DataFixture extends AsyncDisposable {
  dir: string;
  meta: BaseMeta;
  format: Format;
  /** The volume's store as ChunkFileData sees it (prefixed, wrapped). */
  objects: ObjectStore;
  data: ChunkFileData;
  options: FileDataOptions;
  newFile(name: string): Promise<Ino>;
  /** Flushes and closes the data path, then opens a fresh one on the same meta and store. */
  reopen(options?: Partial<FileDataOptions>): Promise<ChunkFileData>;
  /** Every object key of the volume. */
  keys(): Promise<string[]>;
  /** The size the VFS would pass to read(): meta's size or the buffered end, whichever is more. */
  sizeOf(ino: Ino): Promise<number>;
}

export function testOptions(
  dir: string,
  overrides: Partial<FileDataOptions> = {},
): FileDataOptions {
  return {
    bufferSizeBytes: 2 * MiB,
    maxUploads: 4,
    cacheDir: join(dir, "cache"),
    cacheSizeBytes: 64 * MiB,
    freeSpaceRatio: 0,
    prefetch: 1,
    maxReadaheadBytes: 512 * KiB,
    memCacheBytes: 4 * MiB,
    gcIntervalMs: 0,
    ...overrides,
  };
}

export async function dataFixture(params: FixtureParams = {}): Promise<DataFixture> {
  const dir = await mkdtemp(join(tmpdir(), "jfs-data-"));
  const meta = await openMeta(params.metaUrl ?? `sqlite3://${dir}/meta.db`);
  if (params.metaUrl !== undefined) await meta.destroy();
  const format: Format = {
    name: "test",
    uuid: crypto.randomUUID(),
    storage: "file",
    bucket: `${dir}/data`,
    blockSizeKiB: 64,
    compression: "none",
    capacityBytes: 0,
    inodes: 0,
    trashDays: 0,
    metaVersion: 1,
    createdAt: new Date().toISOString(),
    ...params.format,
  };
  await meta.format(format, false);
  const base =
    params.objects ?? new PrefixedObjectStore(new FileObjectStore(`${dir}/data`), "test/");
  await base.create();
  const objects = params.wrap ? params.wrap(base) : base;
  let options = testOptions(dir, params.options);
  const open = (): ChunkFileData => new ChunkFileData({ meta, store: objects, format, options });
  const fx: DataFixture = {
    dir,
    meta,
    format,
    objects,
    data: open(),
    get options() {
      return options;
    },
    async newFile(name) {
      const created = await meta.mknod(
        ROOT_CREDENTIALS,
        1,
        Buffer.from(name),
        FileType.File,
        0o644,
        0,
        0,
      );
      return created.inode;
    },
    async reopen(overrides = {}) {
      await fx.data.close();
      options = { ...options, ...overrides };
      fx.data = open();
      return fx.data;
    },
    async keys() {
      const keys: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await objects.list("", after);
        keys.push(...page.objects.map((o) => o.key));
        if (page.nextStartAfter === undefined) return keys;
        after = page.nextStartAfter;
      }
    },
    async sizeOf(ino) {
      const attr = await meta.getattr(ROOT_CREDENTIALS, ino);
      return Math.max(attr.size, fx.data.bufferedEnd(ino) ?? 0);
    },
    async [Symbol.asyncDispose]() {
      await fx.data.close().catch(() => undefined);
      await meta.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fx;
}

/** Deterministic PRNG (mulberry32) so a failing seed can be replayed. */
export function rng(seed: number): {
  next(): number;
  int(max: number): number;
  bytes(n: number): Buffer;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (max) => Math.floor(next() * max),
    bytes(n) {
      const out = Buffer.allocUnsafe(n);
      let word = 0;
      for (let i = 0; i < n; i++) {
        if (i % 4 === 0) word = Math.floor(next() * 4294967296);
        out[i] = (word >>> ((i % 4) * 8)) & 0xff;
      }
      return out;
    },
  };
}

/** Polls `condition` until true (no fixed sleeps); fails after `timeoutMs`. */
export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
}

/**
 * A store wrapper that can fail or count requests. It is not `local` unless asked (even over a
 * file store), so the chunk store caches what it loads as it would from S3.
 */
export class ProbeStore implements ObjectStore {
  failPuts = false;
  failGets = false;
  gets = 0;
  rangeGets = 0;
  puts = 0;
  /** Called on each put before it is forwarded (e.g. to check memory bounds or delay). */
  onPut: ((key: string) => Promise<void> | void) | undefined;
  /** Called on each get once its bytes are in, before they are handed back (e.g. to hold it). */
  onGot: ((key: string) => Promise<void> | void) | undefined;

  constructor(
    readonly inner: ObjectStore,
    readonly local = false,
  ) {}

  get description(): string {
    return this.inner.description;
  }

  async get(key: string, offset?: number, length?: number): Promise<Buffer> {
    if (this.failGets) throw new Error("injected GET failure");
    this.gets++;
    if (offset !== undefined || length !== undefined) this.rangeGets++;
    const data = await this.inner.get(key, offset, length);
    await this.onGot?.(key);
    return data;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.onPut?.(key);
    if (this.failPuts) throw new Error("injected PUT failure");
    this.puts++;
    return this.inner.put(key, data);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  head(key: string) {
    return this.inner.head(key);
  }

  list(prefix: string, startAfter?: string, limit?: number) {
    return this.inner.list(prefix, startAfter, limit);
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
