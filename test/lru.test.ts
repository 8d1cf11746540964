import { describe, expect, test } from "bun:test";
import { LruMap } from "../src/lru.ts";

function order(map: LruMap<string, number>): string[] {
  return [...map.keys()];
}

describe("LruMap", () => {
  test("keeps entries least recently used first; get and set move one to the end", () => {
    const map = new LruMap<string, number>();
    for (const [i, key] of ["a", "b", "c", "d"].entries()) map.set(key, i);
    expect(order(map)).toEqual(["a", "b", "c", "d"]);
    expect(map.get("b")).toBe(1);
    expect(order(map)).toEqual(["a", "c", "d", "b"]);
    map.set("a", 10);
    expect(order(map)).toEqual(["c", "d", "b", "a"]);
    expect(map.peek("c")).toBe(2);
    expect(order(map)).toEqual(["c", "d", "b", "a"]);
    expect(map.get("a")).toBe(10);
    expect(order(map)).toEqual(["c", "d", "b", "a"]);
    expect([...map.values()]).toEqual([2, 3, 1, 10]);
    expect([...map]).toEqual([
      ["c", 2],
      ["d", 3],
      ["b", 1],
      ["a", 10],
    ]);
  });

  test("delete, shift and trimTo unlink from either end and the middle", () => {
    const map = new LruMap<string, number>();
    for (const [i, key] of ["a", "b", "c", "d", "e"].entries()) map.set(key, i);
    expect(map.delete("c")).toBe(true);
    expect(map.delete("c")).toBe(false);
    expect(map.delete("e")).toBe(true);
    expect(order(map)).toEqual(["a", "b", "d"]);
    expect(map.oldest()).toEqual(["a", 0]);
    expect(map.shift()).toEqual(["a", 0]);
    expect(map.size).toBe(2);
    map.set("f", 5);
    map.trimTo(1);
    expect(order(map)).toEqual(["f"]);
    expect(map.has("b")).toBe(false);
    expect(map.shift()).toEqual(["f", 5]);
    expect(map.shift()).toBeUndefined();
    expect(map.oldest()).toBeUndefined();
    map.set("g", 6);
    expect(order(map)).toEqual(["g"]);
    map.clear();
    expect(map.size).toBe(0);
    expect(order(map)).toEqual([]);
  });

  test("matches a reference model over random operations", () => {
    const map = new LruMap<number, number>();
    let model: [number, number][] = [];
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let step = 0; step < 20_000; step++) {
      const key = next() % 64;
      const at = model.findIndex(([k]) => k === key);
      switch (next() % 5) {
        case 0:
        case 1: {
          map.set(key, step);
          if (at >= 0) model.splice(at, 1);
          model.push([key, step]);
          break;
        }
        case 2: {
          const value = map.get(key);
          expect(value).toBe(at >= 0 ? model[at]![1] : undefined);
          if (at >= 0) model.push(...model.splice(at, 1));
          break;
        }
        case 3: {
          expect(map.delete(key)).toBe(at >= 0);
          if (at >= 0) model.splice(at, 1);
          break;
        }
        default: {
          const max = next() % 70;
          map.trimTo(max);
          model = model.slice(Math.max(0, model.length - max));
        }
      }
      expect(map.size).toBe(model.length);
    }
    expect([...map]).toEqual(model);
  });
});
