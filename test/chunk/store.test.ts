import { describe, expect, test } from "bun:test";
import { ChunkStore, type ChunkStoreOptions } from "../../src/chunk/store.ts";
import { BUFFER_SIZE_BYTES_MIN, MEM_CACHE_BYTES_UNDER_WRITES_MIN } from "../../src/limits.ts";
import type { ObjectStore } from "../../src/object/interface.ts";
import { dataFixture, ProbeStore, rng } from "./harness.ts";

const KiB = 1024;

function storeOptions(overrides: Partial<ChunkStoreOptions> = {}): ChunkStoreOptions {
  return {
    blockSizeBytes: 64 * KiB,
    compression: "none",
    bufferSizeBytes: BUFFER_SIZE_BYTES_MIN,
    maxUploads: 2,
    diskCacheDir: undefined,
    cacheSizeBytes: 0,
    freeSpaceRatio: 0,
    prefetch: 1,
    memCacheBytes: 1024 * KiB,
    onBufferPressure: () => undefined,
    ...overrides,
  };
}

/** Writes `data` as slice `id` through a slice writer, charging the budget like the VFS does. */
async function writeSlice(
  store: ChunkStore,
  id: number,
  data: Buffer,
  pieceBytes: number,
): Promise<void> {
  const writer = store.newWriter(id, data.length);
  for (let at = 0; at < data.length; at += pieceBytes) {
    const piece = data.subarray(at, at + pieceBytes);
    const need = writer.allocationBytes(at, piece.length);
    await store.budget.acquire(need);
    expect(writer.write(at, piece)).toBe(need);
  }
  await writer.finish();
  expect(store.budget.usedBytes).toBe(0); // every page given back once stored
}

async function withStore(
  run: (store: ChunkStore, objects: ObjectStore, probe: ProbeStore) => Promise<void>,
  overrides: Partial<ChunkStoreOptions> = {},
): Promise<void> {
  await using fx = await dataFixture();
  const probe = new ProbeStore(fx.objects);
  const store = new ChunkStore(probe, storeOptions(overrides));
  try {
    await run(store, fx.objects, probe);
  } finally {
    await store.close();
  }
}

describe("chunk store", () => {
  test("the memory cache gives way to write buffers: together within the larger size", async () => {
    const MiB = 1024 * KiB;
    const sizes = { bufferSizeBytes: 32 * MiB, memCacheBytes: 32 * MiB };
    await withStore(async (store) => {
      const data = rng(21).bytes(24 * MiB);
      await writeSlice(store, 5, data, 1 * MiB);
      const target = Buffer.alloc(data.length);
      await store.readSlice(5, data.length, 0, data.length, target, 0);
      expect(target.equals(data)).toBe(true);
      expect(store.memCache.usedBytes).toBe(24 * MiB); // every block kept: nothing is written
      await store.budget.acquire(20 * MiB); // writers take 20 MiB of buffers
      // 32 - 20 leaves 12 MiB, below the floor the cache keeps for readers.
      expect(store.memCache.usedBytes).toBe(MEM_CACHE_BYTES_UNDER_WRITES_MIN);
      await store.budget.acquire(4 * MiB);
      expect(store.memCache.usedBytes).toBe(MEM_CACHE_BYTES_UNDER_WRITES_MIN);
      store.budget.release(24 * MiB);
      // With the buffers back, reads fill the cache again.
      await store.readSlice(5, data.length, 0, data.length, target, 0);
      expect(target.equals(data)).toBe(true);
      expect(store.memCache.usedBytes).toBe(24 * MiB);
      expect(store.memCache.usedBytes + store.budget.usedBytes).toBeLessThanOrEqual(32 * MiB);
    }, sizes);
  });

  test("a slice is stored as blocks, read back in any range, and removed", async () => {
    await withStore(async (store, objects) => {
      const data = rng(1).bytes(200 * KiB);
      await writeSlice(store, 77, data, 10 * KiB);
      const keys = (await objects.list("chunks/")).objects.map((o) => `${o.key}:${o.sizeBytes}`);
      expect(keys).toEqual([
        "chunks/0/0/77_0_65536:65536",
        "chunks/0/0/77_1_65536:65536",
        "chunks/0/0/77_2_65536:65536",
        "chunks/0/0/77_3_8192:8192",
      ]);
      const r = rng(2);
      for (let i = 0; i < 50; i++) {
        const off = r.int(data.length);
        const len = r.int(data.length - off + 1);
        const out = Buffer.alloc(len + 3);
        await store.readSlice(77, data.length, off, len, out, 3);
        expect(out.subarray(3).equals(data.subarray(off, off + len))).toBe(true);
      }
      await store.remove(77, data.length);
      expect((await objects.list("chunks/")).objects).toEqual([]);
    });
  });

  test("full blocks download into recycled buffers where the store reads into them", async () => {
    await using fx = await dataFixture();
    expect(fx.objects.getParts).toBeDefined(); // a file bucket behind its key prefix
    const data = rng(3).bytes(4 * 64 * KiB + 100);
    const writer = new ChunkStore(fx.objects, storeOptions());
    await writeSlice(writer, 5, data, 64 * KiB);
    await writer.close();

    const store = new ChunkStore(fx.objects, storeOptions());
    try {
      const out = Buffer.alloc(data.length);
      await store.readSlice(5, data.length, 0, 2 * 64 * KiB, out, 0);
      expect(store.stats().bufferPooledBytes).toBe(0); // both blocks are in the memory cache
      store.memCache.clear();
      // Evicted, they go back to the pool rather than to the allocator...
      expect(store.stats().bufferPooledBytes).toBe(2 * 64 * KiB);
      // ...and the next downloads (and the slice's short last block, not pooled) reuse them.
      await store.readSlice(
        5,
        data.length,
        2 * 64 * KiB,
        data.length - 2 * 64 * KiB,
        out,
        2 * 64 * KiB,
      );
      expect(store.stats().bufferPooledBytes).toBe(0);
      expect(out.equals(data)).toBe(true);
      expect(store.stats().downloads).toBe(5);
    } finally {
      await store.close();
    }
  });

  test("a block whose object has another size is an error, and its recycled buffer goes back", async () => {
    await using fx = await dataFixture();
    const data = rng(4).bytes(64 * KiB);
    const writer = new ChunkStore(fx.objects, storeOptions());
    await writeSlice(writer, 6, data, 64 * KiB);
    await writer.close();
    await fx.objects.put("chunks/0/0/6_0_65536", data.subarray(1)); // one byte short
    const store = new ChunkStore(fx.objects, storeOptions());
    try {
      const out = Buffer.alloc(data.length);
      await expect(store.readSlice(6, data.length, 0, data.length, out, 0)).rejects.toThrow(
        "is 65535 bytes, not 65536 bytes",
      );
      expect(store.stats().bufferPooledBytes).toBe(64 * KiB);
    } finally {
      await store.close();
    }
  });

  test("full blocks upload while the slice is still being written", async () => {
    await withStore(async (store, _objects, probe) => {
      const writer = store.newWriter(5, 1024 * KiB);
      await store.budget.acquire(writer.allocationBytes(0, 130 * KiB));
      writer.write(0, Buffer.alloc(130 * KiB, 1));
      expect(writer.sealedBytes).toBe(128 * KiB);
      expect(writer.canWrite(100 * KiB, 1)).toBe(false); // sealed: uploading or stored
      expect(writer.canWrite(128 * KiB, 1)).toBe(true);
      expect(writer.canWrite(131 * KiB, 1)).toBe(false); // would leave a gap
      await writer.finish();
      expect(probe.puts).toBe(3);
    });
  });

  test("zstd: blocks are stored compressed and read back exactly", async () => {
    await withStore(
      async (store, objects) => {
        const text = Buffer.from("the quick brown fox jumps over the lazy dog. ".repeat(4000));
        await writeSlice(store, 9, text, 64 * KiB);
        const stored = (await objects.list("chunks/")).objects;
        expect(stored).toHaveLength(3);
        for (const o of stored) expect(o.sizeBytes).toBeLessThan(4 * KiB);
        store.memCache.clear();
        const out = Buffer.alloc(1000);
        await store.readSlice(9, text.length, 70_000, 1000, out, 0);
        expect(out.equals(text.subarray(70_000, 71_000))).toBe(true);
        const full = Buffer.alloc(text.length);
        store.memCache.clear();
        await store.readSlice(9, text.length, 0, text.length, full, 0);
        expect(full.equals(text)).toBe(true);
      },
      { compression: "zstd", prefetch: 0 },
    );
  });

  test("a corrupt compressed object is an error, not garbage", async () => {
    await withStore(
      async (store, objects) => {
        await writeSlice(store, 3, Buffer.alloc(1000, 1), 1000);
        await objects.put("chunks/0/0/3_0_1000", Buffer.from("not zstd"));
        store.memCache.clear();
        const out = Buffer.alloc(1000);
        await expect(store.readSlice(3, 1000, 0, 1000, out, 0)).rejects.toThrow(/decompress/);
      },
      { compression: "zstd" },
    );
  });

  test("a failed upload is retried by the next finish", async () => {
    await withStore(async (store, objects, probe) => {
      const writer = store.newWriter(4, 100 * KiB);
      await store.budget.acquire(writer.allocationBytes(0, 100 * KiB));
      probe.failPuts = true;
      writer.write(0, Buffer.alloc(100 * KiB, 2));
      await expect(writer.finish()).rejects.toThrow(/injected/);
      await writer.finish().catch(() => undefined);
      expect(store.budget.usedBytes).toBe(128 * KiB); // still held: the data is not dropped
      probe.failPuts = false;
      await writer.finish();
      expect(store.budget.usedBytes).toBe(0);
      expect((await objects.list("chunks/")).objects).toHaveLength(2);
    });
  });

  test("an upload to a store that copies its body counts the copy in the write buffer", async () => {
    for (const copies of [false, true]) {
      await using fx = await dataFixture();
      /** A store whose puts hold a copy of the body, as S3's fetch does. */
      class CopyingStore extends ProbeStore {
        readonly putCopiesBody = copies;
      }
      const probe = new CopyingStore(fx.objects);
      const store = new ChunkStore(probe, storeOptions({ bufferSizeBytes: 2048 * KiB }));
      const duringPut: number[] = [];
      probe.onPut = () => {
        duringPut.push(store.budget.usedBytes);
      };
      try {
        // One whole block, written at once: its buffer is in the budget until it is stored.
        await writeSlice(store, 1, rng(5).bytes(64 * KiB), 64 * KiB);
      } finally {
        await store.close();
      }
      expect(duringPut).toEqual([copies ? 128 * KiB : 64 * KiB]);
    }
  });
});
