import { describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CACHE_TRAILER_BYTES,
  decodeCacheFile,
  encodeCacheFile,
} from "../../src/chunk/cachefile.ts";
import { DiskCache } from "../../src/chunk/diskcache.ts";
import { blockKey } from "../../src/chunk/keys.ts";
import { MemCache } from "../../src/chunk/memcache.ts";
import { volumeCacheDir } from "../../src/vfs/filedata.ts";
import { dataFixture, ProbeStore, rng } from "./fixture.ts";

const KiB = 1024;

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await mkdtemp(join(tmpdir(), "jfs-cache-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

describe("memory cache", () => {
  test("evicts least recently used first and stays within its bytes", () => {
    const cache = new MemCache(300);
    cache.put("a", Buffer.alloc(70));
    cache.put("b", Buffer.alloc(70));
    cache.put("c", Buffer.alloc(70));
    cache.get("a"); // a is now the most recent
    cache.put("d", Buffer.alloc(70));
    cache.put("e", Buffer.alloc(70));
    expect(cache.has("b")).toBe(false);
    expect(cache.has("a") && cache.has("c") && cache.has("d") && cache.has("e")).toBe(true);
    expect(cache.usedBytes).toBe(280);
    cache.put("big", Buffer.alloc(100)); // over a quarter: not cached
    expect(cache.has("big")).toBe(false);
  });
});

describe("cache files", () => {
  test("trailer with length and crc32; any flipped byte or wrong length is rejected", () => {
    const block = rng(1).bytes(1000);
    const file = encodeCacheFile(block);
    expect(file.length).toBe(1000 + CACHE_TRAILER_BYTES);
    expect(decodeCacheFile(file, 1000)?.equals(block)).toBe(true);
    expect(decodeCacheFile(file, 999)).toBeUndefined();
    for (const at of [0, 500, 999, 1000, 1005, 1011]) {
      const bad = Buffer.from(file);
      bad[at] = bad[at]! ^ 0x40;
      expect(decodeCacheFile(bad, 1000)).toBeUndefined();
    }
    expect(decodeCacheFile(file.subarray(0, 1010), 1000)).toBeUndefined();
  });
});

describe("disk cache", () => {
  const key = (id: number): string => blockKey(id, 0, 10 * KiB);

  test("survives a restart: the index is rebuilt from the directory", async () => {
    await using dir = await tempDir();
    const cache = new DiskCache({ dir: dir.path, capacityBytes: 1 << 30, freeSpaceRatio: 0 });
    const blocks = [1, 2, 3].map((id) => rng(id).bytes(10 * KiB));
    for (const [i, b] of blocks.entries()) await cache.put(key(i + 1), b);
    // Leftovers of a crash: a temp file and a torn block file.
    await writeFile(join(dir.path, "tmp", "partial"), "x");
    await mkdir(join(dir.path, "raw/chunks/0/0"), { recursive: true });
    await writeFile(join(dir.path, "raw", key(9)), "torn");

    const again = new DiskCache({ dir: dir.path, capacityBytes: 1 << 30, freeSpaceRatio: 0 });
    await again.ready();
    expect(again.stats().blocks).toBe(3);
    for (const [i, b] of blocks.entries())
      expect((await again.get(key(i + 1), 10 * KiB))?.equals(b)).toBe(true);
    expect(await readdir(join(dir.path, "tmp"))).toEqual([]);
    expect(await again.get(key(9), 10 * KiB)).toBeUndefined();
  });

  test("stays under its capacity, evicting the least recently used", async () => {
    await using dir = await tempDir();
    const fileBytes = 10 * KiB + CACHE_TRAILER_BYTES;
    const cache = new DiskCache({ dir: dir.path, capacityBytes: 3 * fileBytes, freeSpaceRatio: 0 });
    for (const id of [1, 2, 3]) await cache.put(key(id), Buffer.alloc(10 * KiB, id));
    await cache.get(key(1), 10 * KiB);
    await cache.put(key(4), Buffer.alloc(10 * KiB, 4));
    expect(cache.has(key(2))).toBe(false);
    expect(cache.has(key(1)) && cache.has(key(3)) && cache.has(key(4))).toBe(true);
    expect(cache.stats().usedBytes).toBe(3 * fileBytes);
    const files = await readdir(join(dir.path, "raw/chunks/0/0"));
    expect(files.sort()).toEqual(["1_0_10240", "3_0_10240", "4_0_10240"]);
  });

  test("a corrupt file is dropped, never served", async () => {
    await using dir = await tempDir();
    const cache = new DiskCache({ dir: dir.path, capacityBytes: 1 << 30, freeSpaceRatio: 0 });
    await cache.put(key(1), Buffer.alloc(10 * KiB, 1));
    const path = join(dir.path, "raw", key(1));
    const file = await readFile(path);
    file[123] = file[123]! ^ 1;
    await writeFile(path, file);
    expect(await cache.get(key(1), 10 * KiB)).toBeUndefined();
    expect(cache.stats().corrupt).toBe(1);
    expect(cache.has(key(1))).toBe(false);
    expect(await Bun.file(path).exists()).toBe(false);
  });

  test("keeps the disk's free share: no room means no caching", async () => {
    await using dir = await tempDir();
    const cache = new DiskCache({ dir: dir.path, capacityBytes: 1 << 30, freeSpaceRatio: 0.9999 });
    await cache.put(key(1), Buffer.alloc(10 * KiB, 1));
    expect(cache.stats().blocks).toBe(0);
  });

  test("one directory per volume UUID; 'memory' means none", () => {
    expect(volumeCacheDir("/var/cache/jfs", "u-1")).toBe("/var/cache/jfs/u-1");
    expect(volumeCacheDir("memory", "u-1")).toBeUndefined();
    expect(volumeCacheDir("~/.jfs/cache", "u-1")?.endsWith("/.jfs/cache/u-1")).toBe(true);
  });
});

describe("caches in the data path", () => {
  test("a corrupted cache file is detected and the block fetched again", async () => {
    const probe: { store?: ProbeStore } = {};
    await using fx = await dataFixture({
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    const ino = await fx.newFile("f");
    const data = rng(2).bytes(200 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.data.chunks.settle(); // write-through copies are on disk
    await fx.reopen({ memCacheBytes: 0 });
    const cacheRoot = join(fx.options.cacheDir, fx.format.uuid, "raw");
    const [slice] = await fx.meta.readChunk(ino, 0);
    const victim = join(cacheRoot, blockKey(slice!.id, 1, 64 * KiB));
    const file = await readFile(victim);
    file[10] = file[10]! ^ 0xff;
    await writeFile(victim, file);

    const getsBefore = probe.store!.gets;
    expect((await fx.data.read(ino, 0, data.length, data.length)).equals(data)).toBe(true);
    expect(fx.data.stats().disk?.corrupt).toBe(1);
    expect(probe.store!.gets - getsBefore).toBe(1); // only the corrupt block
    await fx.data.chunks.settle();
    expect(
      decodeCacheFile(await readFile(victim), 64 * KiB)?.equals(data.subarray(64 * KiB, 128 * KiB)),
    ).toBe(true);
  });

  test("concurrent readers of one block share one download", async () => {
    const probe: { store?: ProbeStore } = {};
    await using fx = await dataFixture({
      options: { cacheDir: "memory", maxReadaheadBytes: 0 },
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    const ino = await fx.newFile("f");
    const data = rng(4).bytes(64 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.reopen();
    const before = probe.store!.gets;
    const reads = await Promise.all(
      Array.from({ length: 8 }, (_, i) => fx.data.read(ino, i * 1000, 1000, data.length)),
    );
    for (const [i, got] of reads.entries())
      expect(got.equals(data.subarray(i * 1000, i * 1000 + 1000))).toBe(true);
    expect(probe.store!.gets - before).toBe(1);
  });

  test("without prefetch a small read is a ranged GET that bypasses the caches", async () => {
    const probe: { store?: ProbeStore } = {};
    await using fx = await dataFixture({
      options: { prefetch: 0, maxReadaheadBytes: 0 },
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    const ino = await fx.newFile("f");
    const data = rng(6).bytes(64 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.data.chunks.settle();
    await fx.reopen({ cacheDir: "memory" });
    expect((await fx.data.read(ino, 100, 10, data.length)).equals(data.subarray(100, 110))).toBe(
      true,
    );
    expect(probe.store!.rangeGets).toBe(1);
    expect(fx.data.chunks.memCache.count).toBe(0);
  });
});
