/**
 * Zero-copy reads (FileData.readv): parts that are views of cached blocks, byte-correct across
 * block and chunk borders, holes and the end of the file; views that stay right while the cache
 * evicts or deletes their blocks, until release(); and the cap on pinned blocks.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { BufferPool } from "../../src/chunk/buffers.ts";
import { BlockPins, ReadLease } from "../../src/chunk/pins.ts";
import { CHUNK_BYTES } from "../../src/limits.ts";
import type { Ino } from "../../src/meta/interface.ts";
import type { ReadParts } from "../../src/vfs/data.ts";
import { type DataFixture, dataFixture } from "../chunk/harness.ts";

const KiB = 1024;
const BLOCK = 64 * KiB; // the fixture's block size

function joined(parts: ReadParts): Buffer {
  return Buffer.concat(parts.parts);
}

/** A file with data around the first chunk border and a hole before it; its expected bytes. */
async function borderFile(fx: DataFixture): Promise<{ ino: Ino; content: Buffer }> {
  const ino = await fx.newFile("f");
  const start = CHUNK_BYTES - 5 * BLOCK - 1234;
  const data = randomBytes(9 * BLOCK + 777);
  await fx.data.write(ino, start, data);
  await fx.data.flush(ino);
  const content = Buffer.alloc(start + data.length);
  data.copy(content, start);
  return { ino, content };
}

/** Reads ranges that cross block and chunk borders, holes and EOF, twice; checks every byte. */
async function checkRanges(fx: DataFixture): Promise<{ ino: Ino; content: Buffer }> {
  const { ino, content } = await borderFile(fx);
  const size = content.length;
  const ranges: [number, number][] = [
    [CHUNK_BYTES - 6 * BLOCK, 2 * BLOCK], // hole, then data from mid-block
    [CHUNK_BYTES - 3 * BLOCK - 5, 5 * BLOCK + 11], // across the chunk border, unaligned
    [size - 1000, 4000], // short at the end
    [size, 10], // past the end: nothing
    [0, 300 * KiB], // all hole
  ];
  for (let pass = 0; pass < 2; pass++) {
    // Pass 0 loads blocks (views of the loads, or disk cache preads), pass 1 hits the caches.
    for (const [offset, len] of ranges) {
      const got = await fx.data.readv(ino, offset, len, size);
      try {
        expect(got.bytes).toBe(Math.max(0, Math.min(len, size - offset)));
        expect(joined(got).equals(content.subarray(offset, offset + len))).toBe(true);
      } finally {
        got.release();
      }
    }
  }
  expect(fx.data.chunks.pins.pinnedBytes).toBe(0);
  return { ino, content };
}

describe("readv", () => {
  for (const cacheDir of ["disk", "memory"]) {
    test(`parts are byte-correct across blocks, chunks, holes and EOF (${cacheDir} cache)`, async () => {
      await using fx = await dataFixture({
        options: { memCacheBytes: 4 * 1024 * KiB, ...(cacheDir === "memory" && { cacheDir }) },
      });
      await checkRanges(fx);
    });
  }

  test("blocks in the memory cache are served as pinned views", async () => {
    await using fx = await dataFixture({
      options: { memCacheBytes: 4 * 1024 * KiB, cacheDir: "memory" },
    });
    const { ino, content } = await checkRanges(fx);
    const size = content.length;
    const pins = fx.data.chunks.pins;
    const hot = await fx.data.readv(ino, CHUNK_BYTES - 3 * BLOCK, 2 * BLOCK, size);
    // One view per block the range touches (the slice's blocks are not file-aligned here).
    expect(hot.parts.length).toBe(3);
    for (const part of hot.parts) expect(part.buffer.byteLength).toBe(BLOCK);
    expect(pins.pinnedBytes).toBe(3 * BLOCK);
    hot.release();
    hot.release(); // idempotent
    expect(pins.pinnedBytes).toBe(0);
  });

  test("views stay right while their blocks are evicted, deleted and the file overwritten", async () => {
    await using fx = await dataFixture({
      options: { memCacheBytes: 1024 * KiB, cacheDir: "memory", maxReadaheadBytes: 0 },
    });
    const ino = await fx.newFile("f");
    const before = randomBytes(8 * BLOCK);
    await fx.data.write(ino, 0, before);
    await fx.data.flush(ino);
    await fx.data.read(ino, 0, before.length, before.length); // every block into memory
    const out = await fx.data.readv(ino, BLOCK / 2, 4 * BLOCK, before.length);
    expect(fx.data.chunks.pins.pinnedBytes).toBe(5 * BLOCK);
    // Everything that could free or reuse the blocks under the views: eviction by other reads,
    // an overwrite whose old slices are deleted (memory cache entries dropped), a clear.
    const other = await fx.newFile("g");
    await fx.data.write(other, 0, randomBytes(32 * BLOCK));
    await fx.data.flush(other);
    await fx.data.read(other, 0, 32 * BLOCK, 32 * BLOCK);
    await fx.data.write(ino, 0, randomBytes(before.length));
    await fx.data.flush(ino);
    await fx.data.collectGarbage();
    fx.data.chunks.memCache.clear();
    expect(joined(out).equals(before.subarray(BLOCK / 2, BLOCK / 2 + 4 * BLOCK))).toBe(true);
    out.release();
    expect(fx.data.chunks.pins.pinnedBytes).toBe(0);
  });

  test("pinned blocks are capped: past the cap a view is a copy, and a released lease copies", () => {
    const pool = new BufferPool([], () => 0);
    const pins = new BlockPins(pool, 2 * BLOCK);
    const blocks = [0, 1, 2].map(() => {
      const block = randomBytes(BLOCK);
      pool.adopt(block);
      return block;
    });
    const lease = new ReadLease(pins);
    const a = lease.view(blocks[0]!, 10, 100);
    const a2 = lease.view(blocks[0]!, 200, 100); // the same block counts once
    const b = lease.view(blocks[1]!, 0, BLOCK);
    const c = lease.view(blocks[2]!, 0, 10); // over the cap: copied
    expect(a.buffer).toBe(blocks[0]!.buffer);
    expect(a2.buffer).toBe(blocks[0]!.buffer);
    expect(b.buffer).toBe(blocks[1]!.buffer);
    expect(c.buffer).not.toBe(blocks[2]!.buffer);
    expect(c.equals(blocks[2]!.subarray(0, 10))).toBe(true);
    expect(pins.pinnedBytes).toBe(2 * BLOCK);
    expect(lease.pinnedCount).toBe(3);
    // The owner lets go: the pins keep the memory until release.
    for (const block of blocks) pool.release(block);
    expect(blocks[0]!.length).toBe(BLOCK);
    expect(a.equals(blocks[0]!.subarray(10, 110))).toBe(true);
    lease.release();
    expect(pins.pinnedBytes).toBe(0);
    expect(blocks[0]!.length).toBe(0); // the last owner gone: freed
    const fresh = randomBytes(BLOCK);
    const late = lease.view(fresh, 0, 10); // a released lease pins nothing more
    expect(late.buffer).not.toBe(fresh.buffer);
    expect(pins.pinnedBytes).toBe(0);
  });
});
