/** What only the file store promises: keys stay inside the root, puts are atomic, byte order. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileObjectStore } from "../../src/object/file.ts";
import { ObjectNotFoundError, ObjectStoreError } from "../../src/object/interface.ts";
import { compareKeys } from "../../src/object/keys.ts";
import { listAll } from "./suite.ts";

const TEST_TIMEOUT_MS = 30_000;

let parent: string;
let root: string;
let store: FileObjectStore;

beforeEach(async () => {
  // The root sits inside `parent`, so an escape would land somewhere we can look.
  parent = await mkdtemp(join(tmpdir(), "jfs-file-store-"));
  root = join(parent, "root");
  store = new FileObjectStore(root);
  await store.create();
});

afterEach(async () => {
  await rm(parent, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** Every file under `dir`, relative, found without recursion. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1));
}

describe("FileObjectStore", () => {
  test("keys that could escape the root are rejected by every call", async () => {
    const bad = [
      "",
      "../escape",
      "a/../../escape",
      "a/..",
      "..",
      ".",
      "a/./b",
      "/etc/passwd",
      "a//b",
      "a/",
      "a\0b",
      ".jfs-tmp-0123",
      "a/.jfs-tmp-x/b",
    ];
    for (const key of bad) {
      const calls = [
        store.get(key),
        store.get(key, 1, 2),
        store.put(key, Buffer.from("x")),
        store.delete(key),
        store.head(key),
      ];
      for (const call of calls) {
        const error = await rejection(call);
        expect(error).toBeInstanceOf(ObjectStoreError);
        expect((error as Error).message).toContain("invalid object key");
      }
    }
    for (const prefix of ["../", "a/../", "/abs/", "x\0"]) {
      expect(await rejection(store.list(prefix))).toBeInstanceOf(ObjectStoreError);
    }
    expect(await allFiles(parent)).toEqual([]);
  });

  test("concurrent puts of one key leave exactly one whole value, and no temp files", async () => {
    const values = Array.from({ length: 16 }, (_, i) => Buffer.alloc(256 * 1024 + i, i + 1));
    const listings: string[][] = [];
    const puts = values.map((value) => store.put("atomic/key", value));
    // Listings racing the writers must never see a temp file.
    for (let i = 0; i < 8; i++) {
      listings.push((await store.list("")).objects.map((info) => info.key));
    }
    await Promise.all(puts);
    for (const keys of listings) for (const key of keys) expect(key).toBe("atomic/key");

    const final = await store.get("atomic/key");
    const winner = values.find((value) => value.equals(final));
    expect(winner).toBeDefined();
    expect(await allFiles(root)).toEqual(["atomic/key"]);
  });

  test("putParts stores the parts' concatenation, empty and unaligned parts included", async () => {
    const parts = [randomBytes(3), Buffer.alloc(0), randomBytes(1 << 20), randomBytes(4)];
    await store.putParts("a/b", parts);
    expect((await store.get("a/b")).equals(Buffer.concat(parts))).toBe(true);
    await store.putParts("a/b", [Buffer.from("x")]);
    expect((await store.get("a/b")).toString()).toBe("x");
    await store.putParts("empty", []);
    expect((await store.get("empty")).length).toBe(0);
  });

  test("getParts fills the parts with the whole object; another size or a missing key throws", async () => {
    const data = randomBytes((1 << 20) + 7);
    await store.put("parts/obj", data);
    const parts = [Buffer.alloc(5), Buffer.alloc(0), Buffer.alloc(1 << 20), Buffer.alloc(2)];
    await store.getParts("parts/obj", parts);
    expect(Buffer.concat(parts).equals(data)).toBe(true);

    const shorter = await rejection(store.getParts("parts/obj", [Buffer.alloc(data.length + 1)]));
    expect(shorter).toBeInstanceOf(ObjectStoreError);
    expect(String(shorter)).toContain(`is ${data.length} bytes, not ${data.length + 1} bytes`);
    const longer = await rejection(store.getParts("parts/obj", [Buffer.alloc(data.length - 1)]));
    expect(longer).toBeInstanceOf(ObjectStoreError);
    expect(String(longer)).toContain("is longer");
    expect(await rejection(store.getParts("parts/missing", [Buffer.alloc(1)]))).toBeInstanceOf(
      ObjectNotFoundError,
    );
    await store.put("parts/empty", Buffer.alloc(0));
    await store.getParts("parts/empty", []);
    await store.getParts("parts/empty", [Buffer.alloc(0)]);
    expect(await rejection(store.getParts("parts/obj", []))).toBeInstanceOf(ObjectStoreError);
  });

  test("a temp file left by a crash is never listed nor readable as a key", async () => {
    await store.put("dir/real", Buffer.from("real"));
    await writeFile(join(root, "dir", ".jfs-tmp-deadbeef"), "half a write");
    await writeFile(join(root, ".jfs-tmp-cafe"), "half a write");
    expect((await listAll(store, "")).map((info) => info.key)).toEqual(["dir/real"]);
  });

  test("list walks directories in byte order, including non-ASCII keys", async () => {
    // Directory "a" must sort as "a/": after "a-b" and "a.c", before "a0". U+FFFF sorts before
    // U+1F600 in bytes, after it in UTF-16.
    const keys = [
      "k/a-b",
      "k/a.c",
      "k/a/x/deep",
      "k/a/y",
      "k/a0",
      "k/A",
      "k/\u00e9",
      "k/\uffff",
      "k/\u{1f600}",
      "k/b/c/d",
      "k/b.c",
    ];
    for (const key of keys) await store.put(key, Buffer.from(key));
    const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...keys].sort(compareKeys)).toEqual(expected);
    for (const limit of [1, 2, 3, 1000]) {
      expect((await listAll(store, "k/", limit)).map((info) => info.key)).toEqual(expected);
    }
    for (const [startAfter, prefix] of [
      ["k/a", "k/"],
      ["k/a/", "k/"],
      ["k/a/x", "k/"],
      ["k/a/x/", "k/"],
      ["k/a/x/deep", "k/"],
      ["k/\u00e9", "k/"],
      ["", "k/a"],
      ["k/a-b", "k/a"],
    ] as const) {
      const page = await store.list(prefix, startAfter);
      const want = expected.filter((k) => k.startsWith(prefix) && compareKeys(k, startAfter) > 0);
      expect(page.objects.map((info) => info.key)).toEqual(want);
    }
  });

  test("a key cannot also be a directory of keys", async () => {
    await store.put("clash", Buffer.from("file"));
    const error = await rejection(store.put("clash/inner", Buffer.from("x")));
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect((error as Error).message).toContain("collide");
    await store.put("dir/inner", Buffer.from("x"));
    expect(await rejection(store.put("dir", Buffer.from("x")))).toBeInstanceOf(ObjectStoreError);
    expect(await store.head("dir")).toBeUndefined();
    await store.delete("dir"); // a directory is not an object: nothing to delete
    expect((await store.get("dir/inner")).toString()).toBe("x");
  });

  test("delete removes directories it left empty, never the root", async () => {
    await store.put("a/b/c/obj", Buffer.from("x"));
    await store.put("a/keep", Buffer.from("y"));
    await store.delete("a/b/c/obj");
    expect(await readdir(join(root, "a"))).toEqual(["keep"]);
    await store.delete("a/keep");
    expect(await readdir(root)).toEqual([]);
    expect((await stat(root)).isDirectory()).toBe(true);
    await store.put("a/b/again", Buffer.from("z"));
    expect((await store.get("a/b/again")).toString()).toBe("z");
  });

  test(
    "puts and deletes racing on one directory never lose a put",
    async () => {
      const rounds = 200;
      for (let i = 0; i < rounds; i++) {
        // Deleting the only object prunes "race/dir" while the next put needs it.
        await store.put(`race/dir/${i}`, Buffer.from("x"));
        await Promise.all([
          store.delete(`race/dir/${i}`),
          store.put(`race/dir/${i + 1}`, Buffer.from("y")),
        ]);
        expect((await store.get(`race/dir/${i + 1}`)).toString()).toBe("y");
        await store.delete(`race/dir/${i + 1}`);
      }
    },
    TEST_TIMEOUT_MS,
  );

  test("fsync mode writes the same objects", async () => {
    const durable = new FileObjectStore(root, { fsync: true });
    const data = randomBytes(100_000);
    await durable.put("sync/new/dirs/obj", data);
    await durable.put("sync/new/dirs/obj", data);
    expect((await durable.get("sync/new/dirs/obj")).equals(data)).toBe(true);
    expect(await allFiles(root)).toEqual(["sync/new/dirs/obj"]);
  });

  test("a put into a missing root creates it, as before fsync was the default", async () => {
    const late = new FileObjectStore(join(parent, "late", "root"));
    await late.put("k/v", Buffer.from("x"));
    expect((await late.get("k/v")).toString()).toBe("x");
    await rm(join(parent, "late"), { recursive: true });
    await late.put("k/v", Buffer.from("y")); // removed behind its back: made again
    expect((await late.get("k/v")).toString()).toBe("y");
  });

  test("description names the directory", async () => {
    expect(store.description).toBe(`file://${root}/`);
    const nested = new FileObjectStore(join(parent, "not", "yet"));
    await nested.create();
    expect((await stat(join(parent, "not", "yet"))).isDirectory()).toBe(true);
  });
});
