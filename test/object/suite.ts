/**
 * The one behaviour suite every ObjectStore passes: file, S3 (s3rver and any real endpoint), and
 * the decorated stacks. Each test works under its own key prefix, so they share one store.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import type { ListPage, ObjectInfo, ObjectStore } from "../../src/object/interface.ts";
import { ObjectNotFoundError } from "../../src/object/interface.ts";
import { compareKeys } from "../../src/object/keys.ts";

export interface StoreFixture {
  store: ObjectStore;
  /**
   * False for s3rver: it lists in its directory-walk order, so "a-b" comes after "a/x" although
   * byte order puts it first. Tests then compare such listings as sets, in one page.
   */
  listOrderExact: boolean;
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;
const LIST_KEYS = 2500;
const PUT_CONCURRENCY = 32;
/** Object mtimes come from the server's clock; SigV4 already requires it within 15 minutes. */
const CLOCK_SKEW_MS_MAX = 15 * 60_000;
/** Generous bounds for real servers; the suite takes a few seconds against s3rver. */
const TEST_TIMEOUT_MS = 30_000;
const LIST_TEST_TIMEOUT_MS = 60_000;

export function objectStoreSuite(name: string, setup: () => Promise<StoreFixture>): void {
  describe(`ObjectStore: ${name}`, () => {
    let fixture: StoreFixture;
    let store: ObjectStore;
    beforeAll(async () => {
      fixture = await setup();
      store = fixture.store;
      await store.create();
      await store.create(); // idempotent
    });
    afterAll(async () => {
      await fixture?.stop();
    }, TEST_TIMEOUT_MS);

    test(
      "description holds no secrets and names the store",
      () => {
        expect(store.description.length).toBeGreaterThan(0);
        expect(store.description).not.toMatch(/secret/i);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "put/get round trips 0 bytes, 1 byte and 5 MiB of random data",
      async () => {
        for (const data of [Buffer.alloc(0), Buffer.from([0xa5]), randomBytes(5 * MiB)]) {
          const key = `roundtrip/${data.length}`;
          await store.put(key, data);
          const back = await store.get(key);
          expect(back.length).toBe(data.length);
          expect(back.equals(data)).toBe(true);
          expect((await store.head(key))?.sizeBytes).toBe(data.length);
        }
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "ranged gets return the asked bytes, fewer at the end",
      async () => {
        const data = randomBytes(1000);
        await store.put("range/obj", data);
        const cases: [offset: number, length: number | undefined, start: number, end: number][] = [
          [0, 10, 0, 10],
          [500, 100, 500, 600],
          [990, 100, 990, 1000],
          [999, 1, 999, 1000],
          [0, 1000, 0, 1000],
          [0, 5000, 0, 1000],
          [10, undefined, 10, 1000],
          [1000, 10, 1000, 1000],
          [2000, undefined, 1000, 1000],
          [300, 0, 300, 300],
        ];
        for (const [offset, length, start, end] of cases) {
          const got = await store.get("range/obj", offset, length);
          expect({ offset, length, bytes: got.length }).toEqual({
            offset,
            length,
            bytes: end - start,
          });
          expect(got.equals(data.subarray(start, end))).toBe(true);
        }
        await expectNotFound(store.get("range/missing", 10, 10), "range/missing");
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "head reports size and mtime; a missing key is undefined",
      async () => {
        await store.put("head/obj", Buffer.from("hello"));
        const info = await store.head("head/obj");
        expect(info?.key).toBe("head/obj");
        expect(info?.sizeBytes).toBe(5);
        expect(Math.abs((info?.mtimeMs ?? 0) - Date.now())).toBeLessThan(CLOCK_SKEW_MS_MAX);
        expect(await store.head("head/missing")).toBeUndefined();
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "get of a missing key throws ObjectNotFoundError",
      async () => {
        await expectNotFound(store.get("missing/key"), "missing/key");
        await expectNotFound(store.get("missing/deeper/key"), "missing/deeper/key");
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "delete is idempotent",
      async () => {
        await store.put("delete/obj", Buffer.from("x"));
        await store.delete("delete/obj");
        await store.delete("delete/obj");
        await store.delete("delete/never-existed");
        expect(await store.head("delete/obj")).toBeUndefined();
        await expectNotFound(store.get("delete/obj"), "delete/obj");
        expect((await store.list("delete/")).objects).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      "overwrite replaces the whole object",
      async () => {
        await store.put("overwrite/obj", randomBytes(4096));
        const shorter = randomBytes(100);
        await store.put("overwrite/obj", shorter);
        expect((await store.get("overwrite/obj")).equals(shorter)).toBe(true);
        expect((await store.head("overwrite/obj"))?.sizeBytes).toBe(100);
      },
      TEST_TIMEOUT_MS,
    );

    test(
      `list pages through ${LIST_KEYS} keys: each exactly once, in byte order`,
      async () => {
        const keys = Array.from(
          { length: LIST_KEYS },
          (_, i) => `list/${String(i).padStart(5, "0")}`,
        );
        await putAll(store, keys);
        await store.put("listx", Buffer.from("outside the prefix"));

        for (const limit of [undefined, 333]) {
          const all = await listAll(store, "list/", limit);
          expect(all.map((info) => info.key)).toEqual(keys);
        }
        const first = listed(await store.list("list/", undefined, 7));
        expect(first.keys).toEqual(keys.slice(0, 7));
        expect(first.next).toBe(keys[6]);
        const middle = listed(await store.list("list/", "list/01234", 5));
        expect(middle.keys).toEqual(keys.slice(1235, 1240));
        const tail = listed(await store.list("list/", "list/02497", 5));
        expect(tail).toEqual({ keys: keys.slice(2498), next: undefined });
        const between = listed(await store.list("list/", "list/00010x", 2));
        expect(between.keys).toEqual(["list/00011", "list/00012"]);
        expect(listed(await store.list("list/012"))).toEqual({
          keys: keys.slice(1200, 1300),
          next: undefined,
        });
        expect(listed(await store.list("list/", "list/99999"))).toEqual({
          keys: [],
          next: undefined,
        });
        expect(listed(await store.list("nothing-here/"))).toEqual({ keys: [], next: undefined });
        const sizes = (await store.list("list/0000", undefined, 3)).objects.map((o) => o.sizeBytes);
        expect(sizes).toEqual([10, 10, 10]);
      },
      LIST_TEST_TIMEOUT_MS,
    );

    test("keys with nested slashes", async () => {
      const keys = [
        "nest/a/b/c/d/e/1",
        "nest/a/b/2",
        "nest/a/3",
        "nest/a-b",
        "nest/a0",
        "nest/b/x/y/z",
        "nest/b.txt",
        "nest/c",
      ];
      for (const key of keys) await store.put(key, Buffer.from(key));
      for (const key of keys) expect((await store.get(key)).toString()).toBe(key);
      const sorted = [...keys].sort(compareKeys);
      const all = listed(await store.list("nest/"));
      if (fixture.listOrderExact) {
        expect(all.keys).toEqual(sorted);
        const paged = await listAll(store, "nest/", 2);
        expect(paged.map((info) => info.key)).toEqual(sorted);
      } else {
        expect([...all.keys].sort(compareKeys)).toEqual(sorted);
      }
      expect(listed(await store.list("nest/a/b/")).keys.sort(compareKeys)).toEqual([
        "nest/a/b/2",
        "nest/a/b/c/d/e/1",
      ]);
      expect(listed(await store.list("nest/b")).keys.sort(compareKeys)).toEqual([
        "nest/b.txt",
        "nest/b/x/y/z",
      ]);
    });
  });
}

async function expectNotFound(promise: Promise<unknown>, key: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ObjectNotFoundError);
  expect((error as ObjectNotFoundError).key).toBe(key);
}

export async function putAll(store: ObjectStore, keys: string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < keys.length; index = next++) {
      const key = keys[index]!;
      await store.put(key, Buffer.from(key));
    }
  };
  await Promise.all(Array.from({ length: PUT_CONCURRENCY }, worker));
}

/** Follows nextStartAfter to the end, checking each page against its limit and order. */
export async function listAll(
  store: ObjectStore,
  prefix: string,
  limit?: number,
): Promise<ObjectInfo[]> {
  const all: ObjectInfo[] = [];
  let startAfter: string | undefined;
  for (let pages = 0; ; pages++) {
    expect(pages).toBeLessThan(10_000);
    const page = await store.list(prefix, startAfter, limit);
    expect(page.objects.length).toBeLessThanOrEqual(limit ?? 1000);
    for (const info of page.objects) {
      expect(info.key.startsWith(prefix)).toBe(true);
      const previous = all[all.length - 1];
      if (previous !== undefined) expect(compareKeys(previous.key, info.key)).toBeLessThan(0);
      all.push(info);
    }
    if (page.nextStartAfter === undefined) return all;
    expect(page.nextStartAfter).toBe(all[all.length - 1]!.key);
    startAfter = page.nextStartAfter;
  }
}

function listed(page: ListPage): { keys: string[]; next: string | undefined } {
  return { keys: page.objects.map((info) => info.key), next: page.nextStartAfter };
}
