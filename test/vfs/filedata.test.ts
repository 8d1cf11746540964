/**
 * ChunkFileData against an in-memory model: seeded random writes, reads, flushes, truncates and
 * restarts on real SQLite meta and a real object store (files; S3 via s3rver), compared byte for
 * byte. Offsets cluster around chunk borders, so slices, blocks and chunks all get split.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isFsError } from "../../src/errors.ts";
import { CHUNK_BYTES } from "../../src/limits.ts";
import { type Ino, ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { PrefixedObjectStore } from "../../src/object/prefix.ts";
import { S3ObjectStore } from "../../src/object/s3.ts";
import { type DataFixture, dataFixture, ProbeStore, rng, waitFor } from "../chunk/harness.ts";
import { type FaultProxy, startFaultProxy } from "../harness/faultproxy.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";

const KiB = 1024;
const PAGE = 64 * KiB;

/** A sparse file: 64 KiB pages that exist once written, zeros elsewhere. */
class SparseModel {
  readonly pages = new Map<number, Buffer>();
  length = 0;

  write(offset: number, data: Buffer): void {
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const index = Math.floor(at / PAGE);
      let page = this.pages.get(index);
      if (page === undefined) {
        page = Buffer.alloc(PAGE);
        this.pages.set(index, page);
      }
      const n = Math.min(PAGE - (at % PAGE), data.length - done);
      data.copy(page, at % PAGE, done, done + n);
      done += n;
    }
    this.length = Math.max(this.length, offset + data.length);
  }

  read(offset: number, size: number): Buffer {
    const end = Math.min(offset + size, this.length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    for (let at = offset; at < end; ) {
      const n = Math.min(PAGE - (at % PAGE), end - at);
      const page = this.pages.get(Math.floor(at / PAGE));
      if (page) page.copy(out, at - offset, at % PAGE, (at % PAGE) + n);
      at += n;
    }
    return out;
  }

  truncate(size: number): void {
    for (const index of [...this.pages.keys()]) {
      if (index * PAGE >= size) this.pages.delete(index);
    }
    const boundary = this.pages.get(Math.floor(size / PAGE));
    boundary?.fill(0, size % PAGE);
    this.length = size;
  }
}

const HOTSPOTS = [0, CHUNK_BYTES - 256 * KiB, 2 * CHUNK_BYTES - 100 * KiB];

function pickOffset(r: ReturnType<typeof rng>): number {
  return HOTSPOTS[r.int(HOTSPOTS.length)]! + r.int(640 * KiB);
}

function pickLength(r: ReturnType<typeof rng>): number {
  const kind = r.next();
  if (kind < 0.7) return 1 + r.int(8 * KiB);
  if (kind < 0.95) return 1 + r.int(200 * KiB);
  return 1 + r.int(1200 * KiB);
}

/** Reads every hotspot region of every file and compares it with the model. */
/** readv(), its parts joined (and checked to add up), then released. */
async function readvCopy(
  fx: DataFixture,
  ino: Ino,
  offset: number,
  size: number,
  fileSize: number,
  withSpare: boolean,
): Promise<Buffer> {
  const spare = withSpare ? Buffer.alloc(size, 0xee) : undefined;
  const got = await fx.data.readv(ino, offset, size, fileSize, spare);
  try {
    let bytes = 0;
    for (const part of got.parts) bytes += part.length;
    expect(bytes).toBe(got.bytes);
    return Buffer.concat(got.parts);
  } finally {
    got.release();
  }
}

async function verifyAll(fx: DataFixture, files: Map<Ino, SparseModel>): Promise<void> {
  for (const [ino, model] of files) {
    const size = await fx.sizeOf(ino);
    expect(size).toBe(model.length);
    for (const base of HOTSPOTS) {
      const got = await fx.data.read(ino, base, 900 * KiB, size);
      expect(got.equals(model.read(base, 900 * KiB))).toBe(true);
      const views = await readvCopy(fx, ino, base, 900 * KiB, size, false);
      expect(views.equals(model.read(base, 900 * KiB))).toBe(true);
    }
  }
}

async function randomRun(
  fx: DataFixture,
  seed: number,
  steps: number,
  beforeColdChecks: () => void = () => undefined,
): Promise<void> {
  const r = rng(seed);
  const files = new Map<Ino, SparseModel>();
  for (const name of ["a", "b"]) files.set(await fx.newFile(name), new SparseModel());
  const inodes = [...files.keys()];
  for (let step = 0; step < steps; step++) {
    const ino = inodes[r.int(inodes.length)]!;
    const model = files.get(ino)!;
    const op = r.next();
    const where = `seed ${seed} step ${step} ino ${ino}`;
    if (op < 0.45) {
      const offset = pickOffset(r);
      const data = r.bytes(pickLength(r));
      await fx.data.write(ino, offset, data);
      model.write(offset, data);
    } else if (op < 0.8) {
      const offset = r.next() < 0.5 ? pickOffset(r) : r.int(model.length + 1);
      const size = pickLength(r);
      const fileSize = await fx.sizeOf(ino);
      expect({ where, fileSize }).toEqual({ where, fileSize: model.length });
      // read() into one buffer, or readv() as FUSE and NFS READ do (views, with or without a
      // spare buffer for what is no view); by step, so the seed's operations stay the same.
      const api = step % 3;
      const got =
        api === 0
          ? await fx.data.read(ino, offset, size, fileSize)
          : await readvCopy(fx, ino, offset, size, fileSize, api === 2);
      const want = model.read(offset, size);
      if (!got.equals(want)) throw new Error(`${where}: read ${api} (${offset}, ${size}) differs`);
    } else if (op < 0.88) {
      await fx.data.flush(ino);
    } else if (op < 0.95) {
      // What the VFS does for truncate: flush, meta setattr, invalidate.
      const size = r.next() < 0.7 ? r.int(model.length + 1) : pickOffset(r);
      await fx.data.flush(ino);
      await fx.meta.setattr(ROOT_CREDENTIALS, ino, { size });
      fx.data.invalidate(ino);
      model.truncate(size);
    } else if (op < 0.97) {
      await fx.reopen();
    } else {
      await verifyAll(fx, files);
    }
  }
  await fx.data.flushAll();
  for (const ino of inodes) expect(fx.data.bufferedEnd(ino)).toBeUndefined();
  beforeColdChecks();
  // A cold process: nothing in memory, everything from the disk cache or the object store.
  await fx.reopen({ memCacheBytes: 0 });
  await verifyAll(fx, files);
  await fx.reopen({ cacheDir: "memory", memCacheBytes: 0 });
  await verifyAll(fx, files);
}

describe("ChunkFileData random operations vs a model", () => {
  for (const seed of [1, 2, 3]) {
    test(`file store, seed ${seed}`, async () => {
      await using fx = await dataFixture();
      await randomRun(fx, seed, 250);
    });
  }

  test("tiny memory and disk caches force eviction", async () => {
    await using fx = await dataFixture({
      options: { memCacheBytes: 256 * KiB, cacheSizeBytes: 400 * KiB, bufferSizeBytes: 1536 * KiB },
    });
    await randomRun(fx, 42, 200, () => {
      const disk = fx.data.stats().disk!;
      expect(disk.usedBytes).toBeGreaterThan(200 * KiB);
      expect(disk.usedBytes).toBeLessThanOrEqual(400 * KiB);
      expect(fx.data.chunks.memCache.usedBytes).toBeLessThanOrEqual(256 * KiB);
    });
  });

  test("zstd volume, no prefetch (ranged reads)", async () => {
    await using fx = await dataFixture({
      format: { compression: "zstd" },
      options: { prefetch: 0 },
    });
    await randomRun(fx, 7, 150);
  });

  test("no prefetch, no readahead: small reads are ranged GETs", async () => {
    await using fx = await dataFixture({ options: { prefetch: 0, maxReadaheadBytes: 0 } });
    await randomRun(fx, 8, 150);
  });
});

test("concurrent writers, readers and flushes on disjoint ranges", async () => {
  await using fx = await dataFixture({
    options: { bufferSizeBytes: 1536 * KiB, memCacheBytes: 512 * KiB },
  });
  const ino = await fx.newFile("f");
  const regionBytes = 700 * KiB;
  const regions = [0, 1, 2, 3].map((i) => ({
    base: i === 3 ? CHUNK_BYTES - regionBytes / 2 : i * regionBytes, // one region spans chunks
    data: rng(50 + i).bytes(regionBytes),
    done: 0,
  }));
  const size = CHUNK_BYTES + regionBytes / 2;
  await fx.data.write(ino, size - 1, Buffer.alloc(1)); // fix the size up front
  const writers = regions.map(async (region, i) => {
    const r = rng(60 + i);
    while (region.done < regionBytes) {
      const n = Math.min(1 + r.int(40 * KiB), regionBytes - region.done);
      await fx.data.write(
        ino,
        region.base + region.done,
        region.data.subarray(region.done, region.done + n),
      );
      region.done += n;
      if (r.next() < 0.1) await fx.data.flush(ino);
    }
  });
  const readers = [0, 1, 2].map(async (i) => {
    const r = rng(70 + i);
    for (let k = 0; k < 60; k++) {
      const region = regions[r.int(regions.length)]!;
      const upTo = region.done;
      if (upTo === 0) {
        await Bun.sleep(1);
        continue;
      }
      const off = r.int(upTo);
      const len = Math.min(1 + r.int(64 * KiB), upTo - off);
      const got = await fx.data.read(ino, region.base + off, len, size);
      expect(got.equals(region.data.subarray(off, off + len))).toBe(true);
    }
  });
  await Promise.all([...writers, ...readers]);
  await fx.data.flushAll();
  await fx.reopen({ memCacheBytes: 0, cacheDir: "memory" });
  for (const region of regions) {
    expect((await fx.data.read(ino, region.base, regionBytes, size)).equals(region.data)).toBe(
      true,
    );
  }
});

describe("ChunkFileData on S3 (s3rver)", () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  test("random operations, seed 11", async () => {
    const bucket = new S3ObjectStore({
      bucketUrl: s3.bucketUrl("jfs"),
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
    });
    await bucket.create();
    await using fx = await dataFixture({ objects: new PrefixedObjectStore(bucket, "test/") });
    await randomRun(fx, 11, 120);
    expect((await fx.keys()).every((k) => k.startsWith("chunks/"))).toBe(true);
  }, 60_000);
});

describe("ChunkFileData on Redis meta", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test("random operations, seed 21", async () => {
    await using fx = await dataFixture({ metaUrl: redis.url(2) });
    await randomRun(fx, 21, 120);
  }, 120_000);
});

describe("ChunkFileData on S3 with faults (500s, resets, stalls, truncated answers)", () => {
  let s3: S3Server;
  let proxy: FaultProxy;
  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await startFaultProxy(s3.endpoint, 7);
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
  });

  for (const fault of ["500", "reset", "stall", "truncate"] as const) {
    test(`random operations with ${fault} on 10% of requests lose nothing`, async () => {
      const bucket = new S3ObjectStore({
        bucketUrl: proxy.bucketUrl(`jfs-${fault}`),
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        // Stalls are cut by the per-attempt timeout, then retried.
        requestTimeoutMs: 1000,
        retryBackoffMsBase: 5,
        retryBackoffMsMax: 50,
      });
      await bucket.create();
      proxy.inject({ fault, fraction: 0.1 });
      try {
        await using fx = await dataFixture({ objects: new PrefixedObjectStore(bucket, "test/") });
        const before = proxy.faulted;
        await randomRun(fx, 31, 60);
        expect(proxy.faulted).toBeGreaterThan(before);
      } finally {
        proxy.clear();
      }
    }, 240_000);
  }
});

describe("buffered writes", () => {
  test("reads see unflushed writes; flush commits them; nothing is stored before", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    await fx.data.write(ino, 10, Buffer.from("hello"));
    expect(fx.data.bufferedEnd(ino)).toBe(15);
    expect(await fx.meta.readChunk(ino, 0)).toEqual([]);
    const got = await fx.data.read(ino, 0, 100, 15);
    expect(got).toEqual(Buffer.concat([Buffer.alloc(10), Buffer.from("hello")]));
    await fx.data.flush(ino);
    expect(fx.data.bufferedEnd(ino)).toBeUndefined();
    const slices = await fx.meta.readChunk(ino, 0);
    expect(slices).toHaveLength(1);
    expect(slices[0]).toMatchObject({ pos: 10, len: 5, off: 0, size: 5 });
    expect((await fx.meta.getattr(ROOT_CREDENTIALS, ino)).size).toBe(15);
  });

  test("sequential writes append to one slice; full blocks upload before the flush", async () => {
    const probe: { store?: ProbeStore } = {};
    await using fx = await dataFixture({
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    const ino = await fx.newFile("f");
    const data = rng(5).bytes(300 * KiB);
    for (let at = 0; at < data.length; at += 10 * KiB) {
      await fx.data.write(ino, at, data.subarray(at, at + 10 * KiB));
    }
    await waitFor(() => probe.store!.puts >= 4); // four full 64 KiB blocks, uploaded early
    await fx.data.flush(ino);
    expect(await fx.meta.readChunk(ino, 0)).toHaveLength(1);
    expect(probe.store!.puts).toBe(5);
    expect((await fx.data.read(ino, 0, data.length, data.length)).equals(data)).toBe(true);
  });

  test("a write may not extend an older slice under a newer one", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    await fx.data.write(ino, 0, Buffer.alloc(100, "a"));
    await fx.data.write(ino, 200, Buffer.alloc(100, "b"));
    // Continues the first slice, but would overlap the second: must become a third slice.
    await fx.data.write(ino, 100, Buffer.alloc(150, "c"));
    const want = Buffer.concat([
      Buffer.alloc(100, "a"),
      Buffer.alloc(150, "c"),
      Buffer.alloc(50, "b"),
    ]);
    expect(await fx.data.read(ino, 0, 300, 300)).toEqual(want);
    await fx.data.flush(ino);
    expect(await fx.meta.readChunk(ino, 0)).toHaveLength(3);
    await fx.reopen({ memCacheBytes: 0 });
    expect(await fx.data.read(ino, 0, 300, 300)).toEqual(want);
  });

  test("idle slices are committed without a flush", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    await fx.data.write(ino, 0, Buffer.from("idle data"));
    await waitFor(async () => (await fx.meta.readChunk(ino, 0)).length === 1);
    expect(fx.data.bufferedEnd(ino)).toBeUndefined();
  });

  test("a write reaching the chunk border commits that slice at once", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    await fx.data.write(ino, CHUNK_BYTES - 100, Buffer.alloc(200, 7));
    await waitFor(async () => (await fx.meta.readChunk(ino, 0)).length === 1);
    expect(await fx.meta.readChunk(ino, 1)).toEqual([]); // the rest waits for idle / flush
    await fx.data.flush(ino);
    expect(await fx.meta.readChunk(ino, 1)).toHaveLength(1);
  });

  test("the write buffer bounds memory: writers wait instead of growing it", async () => {
    const probe: { store?: ProbeStore } = {};
    let peak = 0;
    await using fx = await dataFixture({
      options: { bufferSizeBytes: 1536 * KiB, maxUploads: 2 },
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    let peakHeld = 0; // in use, reserved or pooled for reuse
    probe.store!.onPut = async () => {
      const stats = fx.data.stats();
      peak = Math.max(peak, stats.bufferUsedBytes);
      peakHeld = Math.max(peakHeld, stats.bufferUsedBytes + stats.bufferPooledBytes);
      await Bun.sleep(2); // a slow store, so the buffer fills
    };
    const ino = await fx.newFile("f");
    const data = rng(9).bytes(8 * 1024 * KiB);
    await Promise.all(
      [0, 1, 2, 3].map(async (part) => {
        const quarter = data.length / 4;
        for (let at = part * quarter; at < (part + 1) * quarter; at += 100 * KiB) {
          const end = Math.min(at + 100 * KiB, (part + 1) * quarter);
          await fx.data.write(ino, at, data.subarray(at, end));
        }
      }),
    );
    await fx.data.flush(ino);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(1536 * KiB);
    // Free buffers kept for reuse fill only what the buffer leaves (a writer woken by a release
    // holds its grant a moment before taking them: one piece's worth of slack).
    expect(peakHeld).toBeLessThanOrEqual(1536 * KiB + 256 * KiB);
    expect((await fx.data.read(ino, 0, data.length, data.length)).equals(data)).toBe(true);
  });

  test("a slice that cannot be uploaded fails flush with EIO and is kept for a retry", async () => {
    const probe: { store?: ProbeStore } = {};
    await using fx = await dataFixture({
      wrap: (s) => {
        probe.store = new ProbeStore(s);
        return probe.store;
      },
    });
    const ino = await fx.newFile("f");
    const data = rng(3).bytes(150 * KiB);
    probe.store!.failPuts = true;
    await fx.data.write(ino, 0, data);
    const error = await fx.data.flush(ino).catch((e: unknown) => e);
    expect(isFsError(error, "EIO")).toBe(true);
    expect(await fx.meta.readChunk(ino, 0)).toEqual([]);
    // Still readable from the buffer, still pending.
    expect((await fx.data.read(ino, 0, data.length, data.length)).equals(data)).toBe(true);
    expect(fx.data.bufferedEnd(ino)).toBe(data.length);
    probe.store!.failPuts = false;
    await fx.data.flush(ino);
    await fx.reopen({ memCacheBytes: 0, cacheDir: "memory" });
    expect((await fx.data.read(ino, 0, data.length, data.length)).equals(data)).toBe(true);
  });

  test("a commit meta refuses (ENOSPC) is reported and its objects are deleted", async () => {
    await using fx = await dataFixture({ format: { capacityBytes: 100 * KiB } });
    const ino = await fx.newFile("f");
    const refused: unknown[] = [];
    fx.data.setRefusalListener((refusedIno, error) => {
      expect(refusedIno).toBe(ino);
      refused.push(error);
    });
    await fx.data.write(ino, 0, Buffer.alloc(200 * KiB, 1));
    await fx.data.flush(ino); // the VFS tells the writers (test/vfs/writeerrors.test.ts)
    expect(refused.length).toBe(1);
    expect(isFsError(refused[0], "ENOSPC")).toBe(true);
    expect(await fx.keys()).toEqual([]);
  });
});
