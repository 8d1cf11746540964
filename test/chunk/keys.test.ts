import { describe, expect, test } from "bun:test";
import { blockKey, parseBlockKey, sliceBlocks } from "../../src/chunk/keys.ts";
import { dataExtent, resolveSlices } from "../../src/chunk/resolve.ts";
import { CHUNK_BYTES } from "../../src/limits.ts";
import type { Slice } from "../../src/meta/interface.ts";
import { rng } from "./harness.ts";

describe("block keys", () => {
  test("JuiceFS layout: chunks/{id/1e6}/{id/1e3}/{id}_{index}_{bytes}", () => {
    expect(blockKey(1, 0, 4096)).toBe("chunks/0/0/1_0_4096");
    expect(blockKey(1_234_567, 3, 100)).toBe("chunks/1/1234/1234567_3_100");
  });

  test("parse round-trips and rejects foreign names", () => {
    expect(parseBlockKey("chunks/1/1234/1234567_3_100")).toEqual({
      sliceId: 1_234_567,
      index: 3,
      bytes: 100,
    });
    for (const bad of [
      "chunks/0/0/1_0_0",
      "chunks/9/0/1_0_5",
      "chunks/0/0/01_0_5",
      "x/0/0/1_0_5",
      "chunks/0/0/1_0",
    ]) {
      expect(parseBlockKey(bad)).toBeUndefined();
    }
  });

  test("a slice is cut into blocks, the last one shorter", () => {
    expect(sliceBlocks(7, 150, 64)).toEqual([
      { sliceId: 7, index: 0, bytes: 64 },
      { sliceId: 7, index: 1, bytes: 64 },
      { sliceId: 7, index: 2, bytes: 22 },
    ]);
    expect(sliceBlocks(7, 128, 64)).toHaveLength(2);
  });
});

describe("resolving a slice list", () => {
  /** Byte-by-byte meaning of a slice list: [slice id, offset in slice] per chunk position. */
  function naive(slices: readonly Slice[], start: number, end: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let p = start; p < end; p++) {
      let v: [number, number] = [0, 0];
      for (const s of slices) {
        if (p >= s.pos && p < s.pos + s.len) v = s.id === 0 ? [0, 0] : [s.id, s.off + (p - s.pos)];
      }
      out.push(v);
    }
    return out;
  }

  test("later slices win, holes and gaps are zeros (random lists vs byte model)", () => {
    const r = rng(99);
    for (let round = 0; round < 300; round++) {
      const slices: Slice[] = [];
      for (let i = 0, n = 1 + r.int(12); i < n; i++) {
        const len = 1 + r.int(60);
        const off = r.int(20);
        const id = r.next() < 0.2 ? 0 : i + 1;
        slices.push({ id, size: off + len + r.int(5), off, len, pos: r.int(200) });
      }
      const start = r.int(150);
      const end = start + r.int(120);
      const bytes: Array<[number, number]> = [];
      for (const seg of resolveSlices(slices, start, end)) {
        for (let k = 0; k < seg.len; k++) bytes.push(seg.id === 0 ? [0, 0] : [seg.id, seg.off + k]);
      }
      expect(bytes).toEqual(naive(slices, start, end));
    }
  });

  test("the data extent skips leading and trailing holes (truncate leaves one)", () => {
    const slices: Slice[] = [
      { id: 5, size: 1000, off: 0, len: 1000, pos: 100 },
      { id: 0, size: CHUNK_BYTES - 600, off: 0, len: CHUNK_BYTES - 600, pos: 600 },
    ];
    expect(dataExtent(resolveSlices(slices, 0, CHUNK_BYTES))).toEqual({ start: 100, end: 600 });
    expect(dataExtent(resolveSlices([], 0, CHUNK_BYTES))).toBeUndefined();
  });
});
