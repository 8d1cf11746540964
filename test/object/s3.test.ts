/**
 * What only the S3 store promises: transient failures are retried within bounds, everything else
 * fails at once with a message that names the bucket and the fix, and secrets never leak.
 * Runs against s3rver, through a fault proxy where a test breaks requests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ObjectNotFoundError, ObjectStoreError } from "../../src/object/interface.ts";
import type { S3ObjectStoreOptions } from "../../src/object/s3.ts";
import { S3ObjectStore } from "../../src/object/s3.ts";
import type { FaultProxy } from "../harness/faultproxy.ts";
import { startFaultProxy } from "../harness/faultproxy.ts";
import type { S3Server } from "../harness/s3server.ts";
import { startS3Server } from "../harness/s3server.ts";

const TEST_TIMEOUT_MS = 30_000;
/** Roomy for s3rver on a loaded machine, so only injected faults cause retries. */
const REQUEST_TIMEOUT_MS = 2_000;
/** Where requests are stalled on purpose: each stall costs this much. */
const STALL_TIMEOUT_MS = 250;
const BUCKET = "jfs-s3-test";

let s3: S3Server;
let proxy: FaultProxy;
const stores: S3ObjectStore[] = [];

/** A store for the test bucket, through the proxy unless `bucketUrl` says otherwise. */
function open(options: Partial<S3ObjectStoreOptions> = {}): S3ObjectStore {
  const store = new S3ObjectStore({
    bucketUrl: proxy.bucketUrl(BUCKET),
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    retriesMax: 5,
    retryBackoffMsBase: 1,
    retryBackoffMsMax: 20,
    ...options,
  });
  stores.push(store);
  return store;
}

function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint);
  await open().create();
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  for (const store of stores) await store.close();
  await proxy?.stop();
  await s3?.stop();
}, TEST_TIMEOUT_MS);

describe("S3ObjectStore retries", () => {
  for (const fault of ["500", "reset", "stall", "truncate"] as const) {
    // A stall costs a whole request timeout, so it strikes once per operation.
    const faultsPerOperation = fault === "stall" ? 1 : 2;
    test(
      `every operation survives ${fault} on its first ${faultsPerOperation} attempt(s)`,
      async () => {
        const store = open(fault === "stall" ? { requestTimeoutMs: STALL_TIMEOUT_MS } : {});
        const data = randomBytes(200_000);
        const key = `faults/${fault}`;
        const operations: [string, () => Promise<void>][] = [
          ["put", () => store.put(key, data)],
          ["get", async () => expectBytes(await store.get(key), data)],
          [
            "ranged get",
            async () => expectBytes(await store.get(key, 1000, 10), data.subarray(1000, 1010)),
          ],
          ["head", async () => expect((await store.head(key))?.sizeBytes).toBe(data.length)],
          ["list", async () => expect((await store.list("faults/")).objects[0]?.key).toBe(key)],
          ["delete", () => store.delete(key)],
          [
            "get deleted",
            async () => expect(await rejection(store.get(key))).toBeInstanceOf(ObjectNotFoundError),
          ],
        ];
        for (const [name, operation] of operations) {
          const faultedBefore = proxy.faulted;
          proxy.inject({ fault, count: faultsPerOperation });
          await operation();
          proxy.clear();
          // "truncate" can only break answers that have a body; the others have none.
          const bodiless = name === "put" || name === "head" || name === "delete";
          const expected = fault === "truncate" && bodiless ? 1 : faultsPerOperation;
          expect({ name, faulted: proxy.faulted - faultedBefore }).toEqual({
            name,
            faulted: expected,
          });
        }
      },
      TEST_TIMEOUT_MS,
    );
  }

  test(
    "a third of all requests failing still yields the right data",
    async () => {
      const store = open({ retriesMax: 10 });
      const objects = Array.from({ length: 30 }, (_, i) => ({
        key: `flaky/${i}`,
        data: randomBytes(1000 + i),
      }));
      proxy.inject({ fault: "500", fraction: 0.33 });
      try {
        await Promise.all(objects.map(({ key, data }) => store.put(key, data)));
        for (const { key, data } of objects) expect((await store.get(key)).equals(data)).toBe(true);
        expect((await store.list("flaky/")).objects.length).toBe(objects.length);
      } finally {
        proxy.clear();
      }
      expect(proxy.faulted).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "retries are bounded: the last error surfaces after retriesMax + 1 attempts",
    async () => {
      const store = open({ retriesMax: 3 });
      await store.put("bounded/obj", Buffer.from("x"));
      const requestsBefore = proxy.requests;
      proxy.inject({ fault: "500", count: 1000 });
      const error = await rejection(store.get("bounded/obj"));
      proxy.clear();
      expect(proxy.requests - requestsBefore).toBe(4);
      expect(error.message).toContain('GetObject "bounded/obj"');
      expect(error.message).toContain("after 4 attempts");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a stalled server costs one request timeout per attempt, not forever",
    async () => {
      const store = open({ retriesMax: 1, requestTimeoutMs: STALL_TIMEOUT_MS });
      proxy.inject({ fault: "stall", count: 1000 });
      const startedMs = Date.now();
      const error = await rejection(store.head("stalled/obj"));
      proxy.clear();
      expect(error.message).toContain("after 2 attempts");
      expect(Date.now() - startedMs).toBeLessThan(10 * STALL_TIMEOUT_MS);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("S3ObjectStore errors", () => {
  test(
    "a wrong secret key fails at once and says so",
    async () => {
      const store = open({ secretKey: "not-the-secret-1234" });
      const requestsBefore = proxy.requests;
      const calls = [
        () => store.put("x", Buffer.from("x")),
        () => store.get("x"),
        () => store.list(""),
        () => store.create(),
      ];
      for (const call of calls) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(ObjectStoreError);
        expect(error.message).toContain(`wrong secret key for bucket "${BUCKET}"`);
        expect(error.message).toContain("--secret-key");
        expect(error.message).not.toContain("not-the-secret-1234");
      }
      expect(proxy.requests - requestsBefore).toBe(4); // 4xx are never retried
      expect(store.description).not.toContain("not-the-secret-1234");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an unknown access key is access denied",
    async () => {
      const error = await rejection(open({ accessKey: "NOBODY" }).get("x"));
      expect(error).toBeInstanceOf(ObjectStoreError);
      expect(error.message).toContain(`access denied to bucket "${BUCKET}"`);
      expect(error.message).toContain("--access-key/--secret-key");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a missing bucket says it does not exist",
    async () => {
      const store = open({ bucketUrl: proxy.bucketUrl("no-such-bucket") });
      const calls = [
        () => store.get("x"),
        () => store.put("x", Buffer.from("x")),
        () => store.list(""),
        () => store.delete("x"),
      ];
      for (const call of calls) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(ObjectStoreError);
        expect(error.message).toContain('bucket "no-such-bucket"');
        expect(error.message).toContain("does not exist");
      }
      await store.create();
      await store.put("x", Buffer.from("now it does"));
      expect((await store.get("x")).toString()).toBe("now it does");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "other client errors surface once, with the server's code",
    async () => {
      const store = open({ bucketUrl: proxy.bucketUrl("ab") }); // too short a name for S3
      const error = await rejection(store.create());
      expect(error).toBeInstanceOf(ObjectStoreError);
      expect(error.message).toContain("InvalidBucketName");
    },
    TEST_TIMEOUT_MS,
  );
});

describe("S3ObjectStore key prefix from the URL", () => {
  test(
    "http://host/bucket/sub stores key K as sub/K",
    async () => {
      const sub = open({ bucketUrl: `${proxy.bucketUrl(BUCKET)}/sub/dir/` });
      const whole = open();
      expect(sub.description).toBe(`${proxy.endpoint}/${BUCKET}/sub/dir/`);
      await sub.put("k1", Buffer.from("one"));
      await sub.put("k2", Buffer.from("two"));
      expect((await whole.get("sub/dir/k1")).toString()).toBe("one");
      await whole.put("sub/other", Buffer.from("not in the prefix"));
      const page = await sub.list("", undefined, 1);
      expect(page).toMatchObject({ objects: [{ key: "k1", sizeBytes: 3 }], nextStartAfter: "k1" });
      const rest = await sub.list("", page.nextStartAfter);
      expect(rest.objects.map((info) => info.key)).toEqual(["k2"]);
      expect(rest.nextStartAfter).toBeUndefined();
      expect((await sub.head("k2"))?.key).toBe("k2");
    },
    TEST_TIMEOUT_MS,
  );
});

describe("S3ObjectStore signing", () => {
  test(
    "keys with spaces, UTF-8, reserved and XML characters pass the SigV4 gate and list back",
    async () => {
      const store = open({ bucketUrl: `${proxy.bucketUrl(BUCKET)}/odd/` });
      const keys = ["a b/é+%~*!'()=&?#x", "日本/語", "x<y>&z\"'"];
      for (const key of keys) {
        await store.put(key, Buffer.from(key));
        expect((await store.get(key)).toString()).toBe(key);
        expect((await store.head(key))?.sizeBytes).toBe(Buffer.byteLength(key));
      }
      const listed = (await store.list("")).objects.map((info) => info.key);
      expect(listed.sort()).toEqual([...keys].sort());
      expect((await store.list("a b/", "", 1)).objects[0]?.key).toBe(keys[0]);
      for (const key of keys) await store.delete(key);
      expect((await store.list("")).objects).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("S3ObjectStore putParts", () => {
  test(
    "parts of puts started at once each arrive as their own concatenation",
    async () => {
      // The parts of every put are joined into one buffer that the next put reuses at once:
      // this fails if fetch ever stops copying its body before it returns.
      // No retries: a body that changed after signing fails the signature check once and for all.
      const store = open({ bucketUrl: s3.bucketUrl(BUCKET), retriesMax: 0 });
      // Largest first, so the later ones reuse the first one's buffer.
      const puts = Array.from({ length: 16 }, (_, i) => ({
        key: `parts/${i}`,
        parts: [randomBytes(256 * 1024 - i), Buffer.from([i, i, i, i]), randomBytes(16 - i)],
      }));
      await Promise.all(puts.map(({ key, parts }) => store.putParts(key, parts)));
      for (const { key, parts } of puts) expectBytes(await store.get(key), Buffer.concat(parts));
      await store.putParts("parts/none", []);
      expect((await store.get("parts/none")).length).toBe(0);
      await store.putParts("parts/one", [Buffer.from("one")]);
      expect((await store.get("parts/one")).toString()).toBe("one");
    },
    TEST_TIMEOUT_MS,
  );
});
