import { dlopen, FFIType, ptr } from "bun:ffi";
import { describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecondLoadAdmission } from "../../src/chunk/admission.ts";
import { cacheTrailerBytes, decodeCacheFile, encodeCacheFile } from "../../src/chunk/cachefile.ts";
import { DiskCache } from "../../src/chunk/diskcache.ts";
import { blockKey } from "../../src/chunk/keys.ts";
import { MemCache } from "../../src/chunk/memcache.ts";
import { DISK_CACHE_PENDING_BYTES_MAX } from "../../src/limits.ts";
import { createObjectStore, FileObjectStore, MeteredObjectStore } from "../../src/object/index.ts";
import { volumeCacheDir } from "../../src/volume/filedata.ts";
import { dataFixture, ProbeStore, rng } from "./harness.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

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
  test("trailer with segment crc32s and length; any flipped byte or wrong length is rejected", () => {
    const block = rng(1).bytes(1000);
    const file = encodeCacheFile(block);
    expect(file.length).toBe(1000 + cacheTrailerBytes(1000));
    expect(cacheTrailerBytes(1000)).toBe(4 + 16);
    expect(decodeCacheFile(file, 1000)?.equals(block)).toBe(true);
    expect(decodeCacheFile(file, 999)).toBeUndefined();
    for (let at = 0; at < file.length; at += 7) {
      const bad = Buffer.from(file);
      bad[at] = bad[at]! ^ 0x40;
      expect(decodeCacheFile(bad, 1000)).toBeUndefined();
    }
    expect(decodeCacheFile(file.subarray(0, 1010), 1000)).toBeUndefined();
  });

  test("a block of several segments: a flip in any segment or crc is rejected", () => {
    const bytes = 200 * KiB; // 3 whole 64 KiB segments and a short one
    const block = rng(3).bytes(bytes);
    const file = encodeCacheFile(block);
    expect(cacheTrailerBytes(bytes)).toBe(4 * 4 + 16);
    expect(decodeCacheFile(file, bytes)?.equals(block)).toBe(true);
    for (const at of [0, 64 * KiB, 130 * KiB, bytes - 1, bytes, bytes + 13, file.length - 1]) {
      const bad = Buffer.from(file);
      bad[at] = bad[at]! ^ 1;
      expect(decodeCacheFile(bad, bytes)).toBeUndefined();
    }
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

  test.if(process.platform === "linux")(
    "a cache file that cannot be opened now (no descriptors left) is a miss and stays cached",
    async () => {
      await using dir = await tempDir();
      const cache = new DiskCache({ dir: dir.path, capacityBytes: 1 << 30, freeSpaceRatio: 0 });
      const block = rng(7).bytes(10 * KiB);
      await cache.put(key(7), block);
      const libc = dlopen("libc.so.6", {
        getrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
        setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
      }).symbols;
      const RLIMIT_NOFILE = 7;
      const saved = new BigUint64Array(2);
      expect(libc.getrlimit(RLIMIT_NOFILE, ptr(saved))).toBe(0);
      const lowered = new BigUint64Array([3n, saved[1]!]); // 0, 1 and 2 are taken: opens fail
      let got: Buffer | undefined;
      expect(libc.setrlimit(RLIMIT_NOFILE, ptr(lowered))).toBe(0);
      try {
        got = await cache.get(key(7), 10 * KiB); // a small block: opened on this thread
      } finally {
        expect(libc.setrlimit(RLIMIT_NOFILE, ptr(saved))).toBe(0);
      }
      expect(got).toBeUndefined();
      expect(cache.stats()).toMatchObject({ blocks: 1, corrupt: 0 });
      expect((await cache.get(key(7), 10 * KiB))?.equals(block)).toBe(true);
    },
  );

  test("stays under its capacity, evicting the least recently used", async () => {
    await using dir = await tempDir();
    const fileBytes = 10 * KiB + cacheTrailerBytes(10 * KiB);
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

  test("--verify-cache-checksum none: reads trust the bytes; a bad trailer is still refused", async () => {
    await using dir = await tempDir();
    const cache = new DiskCache({
      dir: dir.path,
      capacityBytes: 1 << 30,
      freeSpaceRatio: 0,
      checksum: "none",
    });
    const bytes = 300 * KiB;
    const block = rng(15).bytes(bytes);
    const [flipped, torn] = [blockKey(8, 0, bytes), blockKey(9, 0, bytes)];
    await cache.put(flipped, block);
    await cache.put(torn, block);
    // A byte changed in segment 3: served as it is now (the trade this level makes).
    const at = 3 * 64 * KiB + 5;
    const handle = await open(join(dir.path, "raw", flipped), "r+");
    await handle.write(Buffer.from([block[at]! ^ 0x10]), 0, 1, at);
    await handle.close();
    const expected = Buffer.from(block);
    expected[at] = expected[at]! ^ 0x10;
    const r = rng(16);
    for (let i = 0; i < 30; i++) {
      const offset = r.int(bytes);
      const len = 1 + r.int(bytes - offset);
      const target = Buffer.alloc(len + 8, 0xee);
      expect(await cache.read(flipped, bytes, offset, len, target, 4)).toBe(true);
      expect(target.subarray(4, 4 + len).equals(expected.subarray(offset, offset + len))).toBe(
        true,
      );
      expect(target.subarray(0, 4).every((b) => b === 0xee)).toBe(true);
      expect(target.subarray(4 + len).every((b) => b === 0xee)).toBe(true);
    }
    expect(cache.stats().corrupt).toBe(0);
    // The trailer is checked when a file is opened, whatever the level.
    const tornPath = join(dir.path, "raw", torn);
    const file = await readFile(tornPath);
    file[bytes + 2] = file[bytes + 2]! ^ 1;
    await writeFile(tornPath, file);
    expect(await cache.read(torn, bytes, 0, 4 * KiB, Buffer.alloc(4 * KiB), 0)).toBe(false);
    expect(cache.stats().corrupt).toBe(1);
    expect(cache.has(torn)).toBe(false);
    cache.close();
  });

  test("reads any range straight into the target, checking only the segments it covers", async () => {
    await using dir = await tempDir();
    const cache = new DiskCache({ dir: dir.path, capacityBytes: 1 << 30, freeSpaceRatio: 0 });
    const bytes = 300 * KiB; // segments of 64 KiB: 4 whole ones and a short fifth
    const block = rng(5).bytes(bytes);
    const k = blockKey(7, 0, bytes);
    await cache.put(k, block);
    const r = rng(6);
    const ranges: Array<[number, number]> = [
      [0, bytes],
      [0, 1],
      [64 * KiB - 1, 2],
      [64 * KiB, 64 * KiB],
      [100 * KiB, 100 * KiB],
      [bytes - 1, 1],
      [256 * KiB, 44 * KiB],
    ];
    for (let i = 0; i < 40; i++) {
      const offset = r.int(bytes);
      ranges.push([offset, 1 + r.int(bytes - offset)]);
    }
    for (const [offset, len] of ranges) {
      const target = Buffer.alloc(len + 20, 0xee);
      expect(await cache.read(k, bytes, offset, len, target, 10)).toBe(true);
      expect(target.subarray(10, 10 + len).equals(block.subarray(offset, offset + len))).toBe(true);
      expect(target.subarray(0, 10).every((b) => b === 0xee)).toBe(true);
      expect(target.subarray(10 + len).every((b) => b === 0xee)).toBe(true);
    }

    // A flipped byte in segment 3, changed in place under the open file.
    const path = join(dir.path, "raw", k);
    const handle = await open(path, "r+");
    await handle.write(Buffer.from([block[3 * 64 * KiB + 5]! ^ 0x10]), 0, 1, 3 * 64 * KiB + 5);
    await handle.close();
    const target = Buffer.alloc(64 * KiB);
    expect(await cache.read(k, bytes, 64 * KiB, 64 * KiB, target, 0)).toBe(true); // segment 1
    expect(target.equals(block.subarray(64 * KiB, 128 * KiB))).toBe(true);
    expect(cache.stats().corrupt).toBe(0);
    expect(await cache.read(k, bytes, 190 * KiB, 10 * KiB, target, 0)).toBe(false); // 2 and 3
    expect(cache.stats().corrupt).toBe(1);
    expect(cache.has(k)).toBe(false);
    expect(await Bun.file(path).exists()).toBe(false);
    cache.close();
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
      options: { cacheLargeWrite: true }, // full blocks too are cached as they are written
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

  test("a read checks only the segments it covers; one covering a bad one fetches again", async () => {
    const probe: { store?: ProbeStore } = {};
    await using fx = await dataFixture({
      format: { blockSizeKiB: 256 }, // 4 segments per block
      options: { cacheLargeWrite: true }, // the written blocks are cached
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    const ino = await fx.newFile("f");
    const data = rng(12).bytes(512 * KiB);
    await fx.data.write(ino, 0, data);
    await fx.data.flush(ino);
    await fx.data.chunks.settle();
    await fx.reopen({ memCacheBytes: 0 }); // no memory cache, so no readahead either
    const [slice] = await fx.meta.readChunk(ino, 0);
    const victim = join(
      fx.options.cacheDir,
      fx.format.uuid,
      "raw",
      blockKey(slice!.id, 0, 256 * KiB),
    );
    const file = await readFile(victim);
    file[2 * 64 * KiB + 7] = file[2 * 64 * KiB + 7]! ^ 0x01; // segment 2 of block 0
    await writeFile(victim, file);

    const getsBefore = probe.store!.gets;
    const head = await fx.data.read(ino, 0, 100 * KiB, data.length); // segments 0 and 1
    expect(head.equals(data.subarray(0, 100 * KiB))).toBe(true);
    expect(fx.data.stats().disk?.corrupt).toBe(0);
    expect(probe.store!.gets).toBe(getsBefore);
    const mid = await fx.data.read(ino, 100 * KiB, 300 * KiB, data.length); // segments 1..3, 0..1
    expect(mid.equals(data.subarray(100 * KiB, 400 * KiB))).toBe(true);
    expect(fx.data.stats().disk?.corrupt).toBe(1);
    expect(probe.store!.gets - getsBefore).toBe(1); // only block 0, whole, from the store
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

/** Every cache file of the volume under DIR/raw/, as block keys. */
async function cachedKeys(fx: { options: { cacheDir: string }; format: { uuid: string } }) {
  const raw = join(fx.options.cacheDir, fx.format.uuid, "raw");
  const files = await readdir(raw, { recursive: true, withFileTypes: true }).catch(() => []);
  return files
    .filter((f) => f.isFile())
    .map((f) => join(f.parentPath, f.name).slice(raw.length + 1))
    .sort();
}

describe("written blocks and the disk cache (--cache-large-write)", () => {
  const blockBytes = 64 * KiB; // the fixture's block size
  const dataBytes = 3 * blockBytes + 8 * KiB; // three full blocks and a short tail

  async function writeFile3(cacheLargeWrite: boolean, local = false) {
    const probe: { store?: ProbeStore } = {};
    const fx = await dataFixture({
      options: { cacheLargeWrite },
      wrap: (s) => {
        probe.store = new ProbeStore(s, local);
        return probe.store;
      },
    });
    const big = await fx.newFile("big");
    const bigData = rng(31).bytes(dataBytes);
    await fx.data.write(big, 0, bigData);
    await fx.data.flush(big);
    const small = await fx.newFile("small");
    const smallData = rng(32).bytes(10 * KiB);
    await fx.data.write(small, 0, smallData);
    await fx.data.flush(small);
    await fx.data.chunks.settle();
    const [bigSlice] = await fx.meta.readChunk(big, 0);
    const [smallSlice] = await fx.meta.readChunk(small, 0);
    const keys = {
      full: [0, 1, 2].map((i) => blockKey(bigSlice!.id, i, blockBytes)),
      tail: blockKey(bigSlice!.id, 3, 8 * KiB),
      small: blockKey(smallSlice!.id, 0, 10 * KiB),
    };
    return Object.assign(fx, { probe: probe.store!, big, bigData, small, smallData, keys });
  }

  test("by default a full written block is not cached on disk; a partial one is", async () => {
    await using fx = await writeFile3(false);
    expect(fx.probe.puts).toBe(5);
    expect(await cachedKeys(fx)).toEqual([fx.keys.tail, fx.keys.small].sort());
    expect(fx.data.stats().disk?.blocks).toBe(2);
    expect(fx.data.stats().disk?.usedBytes).toBe(
      18 * KiB + cacheTrailerBytes(8 * KiB) + cacheTrailerBytes(10 * KiB),
    );
  });

  test("with cacheLargeWrite every written block is cached on disk", async () => {
    await using fx = await writeFile3(true);
    expect(fx.probe.puts).toBe(5);
    expect(await cachedKeys(fx)).toEqual([...fx.keys.full, fx.keys.tail, fx.keys.small].sort());
    expect(fx.data.stats().disk?.blocks).toBe(5);
  });

  test("after a restart an uncached full block is read from the bucket, then cached", async () => {
    await using fx = await writeFile3(false);
    await fx.reopen({ memCacheBytes: 0 }); // no memory cache: every read is disk or bucket
    const getsBefore = fx.probe.gets;
    const got = await fx.data.read(fx.big, 0, dataBytes, dataBytes);
    expect(got.equals(fx.bigData)).toBe(true);
    expect(fx.probe.gets - getsBefore).toBe(3); // the three full blocks; the tail was cached
    const small = await fx.data.read(fx.small, 0, 10 * KiB, 10 * KiB);
    expect(small.equals(fx.smallData)).toBe(true);
    expect(fx.probe.gets - getsBefore).toBe(3); // the small file came from the disk cache
    await fx.data.chunks.settle();
    expect(await cachedKeys(fx)).toEqual([...fx.keys.full, fx.keys.tail, fx.keys.small].sort());

    await fx.reopen({ memCacheBytes: 0 });
    const again = await fx.data.read(fx.big, 0, dataBytes, dataBytes);
    expect(again.equals(fx.bigData)).toBe(true);
    expect(fx.probe.gets - getsBefore).toBe(3); // all four blocks from the disk cache now
  });

  test("a local bucket's blocks: none cached as written, a loaded one the second time it is loaded", async () => {
    await using fx = await writeFile3(false, true);
    expect(fx.probe.puts).toBe(5);
    expect(await cachedKeys(fx)).toEqual([]); // not even the partial blocks
    await fx.reopen({ memCacheBytes: 0 });
    const getsBefore = fx.probe.gets;
    expect((await fx.data.read(fx.big, 0, dataBytes, dataBytes)).equals(fx.bigData)).toBe(true);
    await fx.data.chunks.settle();
    expect(fx.probe.gets - getsBefore).toBe(4);
    expect(await cachedKeys(fx)).toEqual([]); // loaded once: the bucket is as near as a copy
    expect((await fx.data.read(fx.big, 0, dataBytes, dataBytes)).equals(fx.bigData)).toBe(true);
    await fx.data.chunks.settle();
    expect(fx.probe.gets - getsBefore).toBe(8);
    expect(await cachedKeys(fx)).toEqual([...fx.keys.full, fx.keys.tail].sort()); // loaded again
    expect((await fx.data.read(fx.big, 0, dataBytes, dataBytes)).equals(fx.bigData)).toBe(true);
    expect(fx.probe.gets - getsBefore).toBe(8); // from the disk cache now
  });

  /** A file of more 4 MiB blocks than DISK_CACHE_PENDING_BYTES_MAX lets queue for copies. */
  async function manyBlocks() {
    const blocks = DISK_CACHE_PENDING_BYTES_MAX / (4 * MiB) + 4;
    const probe: { store?: ProbeStore } = {};
    const fx = await dataFixture({
      format: { blockSizeKiB: 4096 },
      options: { cacheSizeBytes: 256 * MiB, bufferSizeBytes: 16 * MiB },
      wrap: (s) => {
        probe.store = new ProbeStore(s, true);
        return probe.store;
      },
    });
    const store = probe.store!;
    const file = await fx.newFile("big");
    const bytes = rng(33).bytes(blocks * 4 * MiB);
    await fx.data.write(file, 0, bytes);
    await fx.data.flush(file);
    await fx.data.chunks.settle();
    // Every load of a pass is held until all have their bytes, so that all of their copies are
    // asked for before any is written.
    const pass = async (loads: number) => {
      let waiting = 0;
      const all = Promise.withResolvers<void>();
      store.onGot = () => {
        waiting += 1;
        if (waiting === loads) all.resolve();
        return all.promise;
      };
      const getsBefore = store.gets;
      expect((await fx.data.read(file, 0, bytes.length, bytes.length)).equals(bytes)).toBe(true);
      await fx.data.chunks.settle();
      store.onGot = undefined;
      return store.gets - getsBefore;
    };
    return Object.assign(fx, { blocks, pass });
  }

  test("a local bucket's block whose copy was skipped (cache disk behind) is copied at its next load", async () => {
    await using fx = await manyBlocks();
    const { blocks, pass } = fx;
    await fx.reopen({ memCacheBytes: 0, prefetch: 0 });
    expect(await pass(blocks)).toBe(blocks);
    expect(await cachedKeys(fx)).toEqual([]); // first loads
    expect(await pass(blocks)).toBe(blocks); // the first 32 MiB of copies queue, 4 are skipped
    const cached = await cachedKeys(fx);
    expect(cached.length).toBe(blocks - 4);
    expect(await pass(4)).toBe(4); // the skipped ones load again, and are copied now
    const all = await cachedKeys(fx);
    expect(all.length).toBe(blocks);
    expect(all).toEqual(expect.arrayContaining(cached));
    expect(await pass(0)).toBe(0);
  });

  test("with cacheEveryLoad (jfs warmup) no copy is skipped, however many are queued", async () => {
    await using fx = await manyBlocks();
    const { blocks, pass } = fx;
    await fx.reopen({ memCacheBytes: 0, prefetch: 0, cacheEveryLoad: true });
    expect(await pass(blocks)).toBe(blocks);
    expect((await cachedKeys(fx)).length).toBe(blocks);
    await fx.data.chunks.diskCacheCaughtUp(); // nothing queued: at once
    expect(await pass(0)).toBe(0);
  });

  test("a local bucket's block asked for by a preload (warmup) is cached at its first load", async () => {
    await using fx = await writeFile3(false, true);
    await fx.reopen({ memCacheBytes: 0 });
    await fx.data.preload(fx.small, 10 * KiB);
    await fx.data.chunks.settle();
    expect(await cachedKeys(fx)).toEqual([fx.keys.small]);
    const getsBefore = fx.probe.gets;
    expect((await fx.data.read(fx.small, 0, 10 * KiB, 10 * KiB)).equals(fx.smallData)).toBe(true);
    expect(fx.probe.gets).toBe(getsBefore);
  });

  test("with cacheEveryLoad (jfs warmup) a local bucket's block is cached at its first read", async () => {
    await using fx = await writeFile3(false, true);
    await fx.reopen({ memCacheBytes: 0, cacheEveryLoad: true });
    expect((await fx.data.read(fx.small, 0, 10 * KiB, 10 * KiB)).equals(fx.smallData)).toBe(true);
    await fx.data.chunks.settle();
    expect(await cachedKeys(fx)).toEqual([fx.keys.small]);
  });

  test("a file store says it is local, and the wrappers a volume puts around it pass that on", () => {
    const dir = "/tmp/jfs-local-flag-unused";
    const file = new FileObjectStore(dir);
    expect(file.local).toBe(true);
    const wrapped = createObjectStore({
      storage: "file",
      bucket: dir,
      checksum: true,
      prefix: "v/",
    });
    expect(wrapped.local).toBe(true);
    expect(new MeteredObjectStore(wrapped).local).toBe(true);
    const s3 = createObjectStore({ storage: "s3", bucket: "http://127.0.0.1:9/b", prefix: "v/" });
    expect(s3.local).toBe(false);
  });
});

describe("SecondLoadAdmission", () => {
  test("admits a key at its second load, then starts over; forgets the oldest beyond its bound", () => {
    const admission = new SecondLoadAdmission(2);
    expect(admission.admits("a")).toBe(false);
    expect(admission.admits("a")).toBe(true);
    expect(admission.admits("a")).toBe(false); // admitted once: a later load counts afresh
    expect(admission.admits("b")).toBe(false);
    expect(admission.admits("c")).toBe(false); // "a" (oldest) is forgotten
    expect(admission.size).toBe(2);
    expect(admission.admits("a")).toBe(false);
    expect(admission.admits("c")).toBe(true);
    admission.forget("a");
    expect(admission.admits("a")).toBe(false);
    expect(admission.admits("a")).toBe(true);
    admission.readmit("a"); // admitted, but its copy was not made
    expect(admission.admits("a")).toBe(true);
  });
});
