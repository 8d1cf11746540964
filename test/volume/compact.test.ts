import { describe, expect, test } from "bun:test";
import { CHUNK_SLICES_COMPACT_THRESHOLD } from "../../src/limits.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { ChunkFileData } from "../../src/volume/filedata.ts";
import { dataFixture, rng, testOptions, waitFor } from "../chunk/harness.ts";

const KiB = 1024;

describe("compaction and background deletion", () => {
  test("a chunk over the threshold is compacted; old slices are queued, then deleted", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    const r = rng(12);
    const model = Buffer.alloc(300 * KiB);
    let size = 0;
    const slicesMade = CHUNK_SLICES_COMPACT_THRESHOLD + 5;
    for (let i = 0; i < slicesMade; i++) {
      const off = r.int(250 * KiB);
      const data = r.bytes(1 + r.int(20 * KiB));
      await fx.data.write(ino, off, data);
      data.copy(model, off);
      size = Math.max(size, off + data.length);
      await fx.data.flush(ino); // one slice per write
    }
    const oldIds = new Set((await fx.meta.readChunk(ino, 0)).map((s) => s.id));
    // The writer's periodic check (or a reader) requests the compaction; wait for it.
    await fx.data.read(ino, 0, 1, size);
    await waitFor(async () => {
      await fx.data.compactionsIdle();
      return (await fx.meta.readChunk(ino, 0)).length === 1;
    });
    const [compacted] = await fx.meta.readChunk(ino, 0);
    expect(oldIds.has(compacted!.id)).toBe(false);
    const unused = await fx.meta.unusedSlices(1000);
    expect(new Set(unused.map((s) => s.id))).toEqual(oldIds);
    expect((await fx.data.read(ino, 0, size, size)).equals(model.subarray(0, size))).toBe(true);

    const round = await fx.data.collectGarbage();
    expect(round.slices).toBe(oldIds.size);
    expect(await fx.meta.unusedSlices(1000)).toEqual([]);
    const ids = new Set((await fx.keys()).map((k) => Number(k.split("/")[3]!.split("_")[0])));
    expect(ids).toEqual(new Set([compacted!.id]));
    // A cold read after deletion still sees the same bytes.
    await fx.reopen({ memCacheBytes: 0, cacheDir: "memory" });
    expect((await fx.data.read(ino, 0, size, size)).equals(model.subarray(0, size))).toBe(true);
  });

  test("reads during compaction and deletion stay correct", async () => {
    await using fx = await dataFixture({ options: { gcIntervalMs: 5 } });
    const ino = await fx.newFile("f");
    const model = Buffer.alloc(200 * KiB);
    for (let i = 0; i < 40; i++) {
      const data = Buffer.alloc(5 * KiB, i + 1);
      const off = (i * 4099) % (195 * KiB);
      await fx.data.write(ino, off, data);
      data.copy(model, off);
      await fx.data.flush(ino);
    }
    const compaction = fx.data.compact(ino, 0);
    const reads: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      reads.push(
        fx.data.read(ino, i * 9 * KiB, 20 * KiB, model.length).then((got) => {
          expect(got.equals(model.subarray(i * 9 * KiB, i * 9 * KiB + 20 * KiB))).toBe(true);
        }),
      );
    }
    expect(await compaction).toBe("compacted");
    await Promise.all(reads);
    await waitFor(async () => (await fx.meta.unusedSlices(10)).length === 0);
    expect((await fx.data.read(ino, 0, model.length, model.length)).equals(model)).toBe(true);
  });

  test("a client with a stale slice list re-reads it when another one compacted and deleted", async () => {
    await using fx = await dataFixture({ options: { memCacheBytes: 0, cacheDir: "memory" } });
    const ino = await fx.newFile("f");
    const model = Buffer.alloc(100 * KiB);
    for (let i = 0; i < 10; i++) {
      const data = Buffer.alloc(10 * KiB, i + 1);
      await fx.data.write(ino, i * 9 * KiB, data);
      data.copy(model, i * 9 * KiB);
      await fx.data.flush(ino);
    }
    const size = 9 * 9 * KiB + 10 * KiB;
    expect((await fx.data.read(ino, 0, size, size)).equals(model.subarray(0, size))).toBe(true);
    // Another client compacts the chunk and deletes the old objects.
    const other = new ChunkFileData({
      meta: fx.meta,
      store: fx.objects,
      format: fx.format,
      options: testOptions(fx.dir, { cacheDir: "memory" }),
    });
    try {
      expect(await other.compact(ino, 0)).toBe("compacted");
      expect((await other.collectGarbage()).slices).toBe(10);
    } finally {
      await other.close();
    }
    // Our cached list (younger than CHUNK_SLICES_CACHE_MS) names deleted objects.
    expect((await fx.data.read(ino, 0, size, size)).equals(model.subarray(0, size))).toBe(true);
  });

  test("a chunk cut by truncate compacts to its data only", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    await fx.data.write(ino, 0, Buffer.alloc(100 * KiB, 1));
    await fx.data.flush(ino);
    await fx.meta.setattr(ROOT_CREDENTIALS, ino, { size: 10 * KiB });
    await fx.meta.setattr(ROOT_CREDENTIALS, ino, { size: 50 * KiB });
    fx.data.invalidate(ino);
    expect(await fx.data.compact(ino, 0)).toBe("compacted");
    expect(await fx.meta.readChunk(ino, 0)).toMatchObject([
      { pos: 0, len: 10 * KiB, size: 10 * KiB },
    ]);
    const want = Buffer.concat([Buffer.alloc(10 * KiB, 1), Buffer.alloc(40 * KiB)]);
    expect((await fx.data.read(ino, 0, 50 * KiB, 50 * KiB)).equals(want)).toBe(true);
  });

  test("the objects of a deleted file are removed", async () => {
    await using fx = await dataFixture();
    const ino = await fx.newFile("f");
    await fx.data.write(ino, 0, rng(1).bytes(300 * KiB));
    await fx.data.write(ino, 64 * 1024 * KiB, rng(2).bytes(10 * KiB)); // a second chunk
    await fx.data.flush(ino);
    expect((await fx.keys()).length).toBe(6);
    await fx.meta.unlink(ROOT_CREDENTIALS, 1, Buffer.from("f"));
    await fx.data.collectGarbage();
    expect(await fx.keys()).toEqual([]);
  });
});
