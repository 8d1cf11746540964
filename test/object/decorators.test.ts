/** The checksum and prefix decorators, over a file store whose raw bytes the tests can reach. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHECKSUM_TRAILER_BYTES, ChecksumObjectStore } from "../../src/object/checksum.ts";
import { FileObjectStore } from "../../src/object/file.ts";
import {
  ObjectNotFoundError,
  type ObjectStore,
  ObjectStoreError,
} from "../../src/object/interface.ts";
import { PrefixedObjectStore } from "../../src/object/prefix.ts";
import { listAll } from "./suite.ts";

let dir: string;
let raw: FileObjectStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "jfs-decorators-"));
  raw = new FileObjectStore(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** `store` as a store without getParts (as S3 is): every other call goes through. */
function withoutGetParts(store: ObjectStore): ObjectStore {
  return {
    description: store.description,
    get: (key, offset, length) => store.get(key, offset, length),
    put: (key, data) => store.put(key, data),
    delete: (key) => store.delete(key),
    head: (key) => store.head(key),
    list: (prefix, startAfter, limit) => store.list(prefix, startAfter, limit),
    create: () => store.create(),
    close: () => store.close(),
  };
}

describe("ChecksumObjectStore", () => {
  test("stores DATA + big-endian CRC-32(DATA) and reports the data size", async () => {
    const store = new ChecksumObjectStore(raw);
    await store.put("k", Buffer.from("123456789"));
    const stored = await raw.get("k");
    expect(stored.length).toBe(9 + CHECKSUM_TRAILER_BYTES);
    expect(stored.subarray(0, 9).toString()).toBe("123456789");
    expect(stored.readUInt32BE(9)).toBe(0xcbf43926); // the CRC-32 check value
    expect((await store.head("k"))?.sizeBytes).toBe(9);
    expect((await store.list("")).objects).toMatchObject([{ key: "k", sizeBytes: 9 }]);
    expect((await store.get("k")).toString()).toBe("123456789");
  });

  test("a put hands the caller's block and a trailer to putParts: no copy of the block", async () => {
    const parts: Uint8Array[][] = [];
    class Recording extends FileObjectStore {
      override putParts(key: string, given: readonly Uint8Array[]): Promise<void> {
        parts.push([...given]);
        return super.putParts(key, given);
      }
    }
    const store = new ChecksumObjectStore(new Recording(dir));
    const block = randomBytes(256 * 1024);
    await store.put("k", block);
    expect(parts.length).toBe(1);
    expect(parts[0]![0]).toBe(block);
    expect(Buffer.from(parts[0]![1]!).readUInt32BE(0)).toBe(Bun.hash.crc32(block));
    expect((await store.get("k")).equals(block)).toBe(true);
    expect((await raw.get("k")).length).toBe(block.length + CHECKSUM_TRAILER_BYTES);
  });

  test("a corrupted object is detected by every get, whole or ranged", async () => {
    const store = new ChecksumObjectStore(raw);
    const data = randomBytes(10_000);
    for (const position of [0, 5000, 9999, 10_000, 10_003]) {
      await store.put("obj", data);
      const stored = Buffer.from(await raw.get("obj"));
      stored[position]! ^= 0x01; // one flipped bit, in the data or in the trailer
      await raw.put("obj", stored);
      const error = await rejection(store.get("obj"));
      expect(error).toBeInstanceOf(ObjectStoreError);
      expect(error.message).toContain("checksum mismatch for obj");
      // Ranges are verified as well, even a small one far from the flipped bit: the checksum
      // covers the whole object, and corrupt bytes are never returned.
      expect(await rejection(store.get("obj", 0, 20_000))).toBeInstanceOf(ObjectStoreError);
      expect(await rejection(store.get("obj", 100, 10))).toBeInstanceOf(ObjectStoreError);
      expect(await rejection(store.get("obj", 9990))).toBeInstanceOf(ObjectStoreError);
    }
  });

  test("an object too short for its trailer is corrupt, not empty", async () => {
    const store = new ChecksumObjectStore(raw);
    await raw.put("short", Buffer.from([1, 2]));
    expect((await rejection(store.get("short"))).message).toContain("checksum mismatch for short");
    expect(await rejection(store.head("short"))).toBeInstanceOf(ObjectStoreError);
    // A listing (gc, destroy) is not stopped by it.
    expect((await store.list("")).objects).toMatchObject([{ key: "short", sizeBytes: 0 }]);
  });

  test("with `covers`, only the keys it names carry a trailer; the rest pass through", async () => {
    const store = new ChecksumObjectStore(raw, (key) => key.startsWith("new/"));
    await raw.put("old/a", Buffer.from("plain"));
    await store.put("old/b", Buffer.from("plain too"));
    await store.put("new/c", Buffer.from("checked"));
    expect((await raw.get("old/b")).toString()).toBe("plain too");
    expect((await raw.get("new/c")).length).toBe(7 + CHECKSUM_TRAILER_BYTES);
    expect((await store.get("old/a", 1, 3)).toString()).toBe("lai");
    expect((await store.get("new/c", 1, 3)).toString()).toBe("hec");
    expect((await store.head("old/a"))?.sizeBytes).toBe(5);
    expect((await store.head("new/c"))?.sizeBytes).toBe(7);
    const sizes = (await store.list("")).objects.map((o) => [o.key, o.sizeBytes]);
    expect(sizes).toEqual([
      ["new/c", 7],
      ["old/a", 5],
      ["old/b", 9],
    ]);
    const stored = Buffer.from(await raw.get("new/c"));
    stored[0]! ^= 1;
    await raw.put("new/c", stored);
    expect(await rejection(store.get("new/c"))).toBeInstanceOf(ObjectStoreError);
  });

  test("getParts reads the data into the parts and the trailer apart, and verifies it", async () => {
    const store = new ChecksumObjectStore(raw, (key) => !key.startsWith("plain/"));
    const data = randomBytes(10_000);
    await store.put("obj", data);
    const parts = [Buffer.alloc(3), Buffer.alloc(data.length - 3)];
    await store.getParts!("obj", parts);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    const stored = Buffer.from(await raw.get("obj"));
    stored[4321]! ^= 0x10;
    await raw.put("obj", stored);
    const error = await rejection(store.getParts!("obj", [Buffer.alloc(data.length)]));
    expect(error).toBeInstanceOf(ObjectStoreError);
    expect(error.message).toContain("checksum mismatch for obj");
    // The trailer counts in the size: a part as long as data + trailer leaves the trailer short.
    const wrongSize = await rejection(store.getParts!("obj", [Buffer.alloc(data.length + 1)]));
    expect(wrongSize).toBeInstanceOf(ObjectStoreError);
    await store.put("plain/p", Buffer.from("as is"));
    const plain = Buffer.alloc(5);
    await store.getParts!("plain/p", [plain]);
    expect(plain.toString()).toBe("as is");
    // Without the inner store's getParts there is none here either (callers use get).
    expect(new ChecksumObjectStore(withoutGetParts(raw)).getParts).toBeUndefined();
  });

  test("ranged gets match slices of the data for every boundary", async () => {
    const store = new ChecksumObjectStore(raw);
    for (let size = 0; size <= 9; size++) {
      const data = randomBytes(size);
      await store.put("r", data);
      for (let offset = 0; offset <= size + 6; offset++) {
        expect((await store.get("r", offset)).equals(data.subarray(offset))).toBe(true);
        for (let length = 0; length <= size + 6; length++) {
          const got = await store.get("r", offset, length);
          expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
        }
      }
    }
    await expect(store.get("missing", 3, 4)).rejects.toBeInstanceOf(ObjectNotFoundError);
  });
});

describe("PrefixedObjectStore", () => {
  test("maps keys under the prefix, both ways", async () => {
    const store = new PrefixedObjectStore(raw, "vol/");
    expect(store.description).toBe(`${raw.description}vol/`);
    await store.put("chunks/1", Buffer.from("one"));
    expect((await raw.get("vol/chunks/1")).toString()).toBe("one");
    expect((await store.get("chunks/1", 1, 1)).toString()).toBe("n");
    expect(await store.head("chunks/1")).toMatchObject({ key: "chunks/1", sizeBytes: 3 });
    const error = await rejection(store.get("chunks/2"));
    expect(error).toBeInstanceOf(ObjectNotFoundError);
    expect((error as ObjectNotFoundError).key).toBe("chunks/2");
    await store.delete("chunks/1");
    expect(await raw.head("vol/chunks/1")).toBeUndefined();
  });

  test("getParts reads under the prefix and reports a missing key by the caller's name", async () => {
    const store = new PrefixedObjectStore(raw, "vol/");
    await store.put("chunks/1", Buffer.from("one"));
    const part = Buffer.alloc(3);
    await store.getParts!("chunks/1", [part]);
    expect(part.toString()).toBe("one");
    const error = await rejection(store.getParts!("chunks/2", [part]));
    expect(error).toBeInstanceOf(ObjectNotFoundError);
    expect((error as ObjectNotFoundError).key).toBe("chunks/2");
    expect(new PrefixedObjectStore(withoutGetParts(raw), "v/").getParts).toBeUndefined();
  });

  test("volumes sharing a bucket never see each other", async () => {
    const a = new PrefixedObjectStore(raw, "a/");
    const ab = new PrefixedObjectStore(raw, "ab/");
    for (let i = 0; i < 5; i++) {
      await a.put(`k${i}`, Buffer.from("a"));
      await ab.put(`k${i}`, Buffer.from("ab"));
    }
    await raw.put("a0", Buffer.from("outside"));
    for (const store of [a, ab]) {
      const keys = (await listAll(store, "", 2)).map((info) => info.key);
      expect(keys).toEqual(["k0", "k1", "k2", "k3", "k4"]);
      const page = await store.list("k", "k1", 2);
      expect(page).toMatchObject({ objects: [{ key: "k2" }, { key: "k3" }], nextStartAfter: "k3" });
    }
    expect((await ab.get("k3")).toString()).toBe("ab");
  });
});
