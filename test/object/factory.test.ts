/** createObjectStore and its helpers: flag validation, bucket URLs, key order, backoff. */
import { describe, expect, test } from "bun:test";
import { UserError } from "../../src/errors.ts";
import { ChecksumObjectStore } from "../../src/object/checksum.ts";
import { FileObjectStore } from "../../src/object/file.ts";
import { createObjectStore } from "../../src/object/index.ts";
import { compareKeys } from "../../src/object/keys.ts";
import { PrefixedObjectStore } from "../../src/object/prefix.ts";
import { backoffMs } from "../../src/object/retry.ts";
import { S3ObjectStore } from "../../src/object/s3.ts";
import { parseS3BucketUrl } from "../../src/object/s3url.ts";

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error: unknown) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("createObjectStore", () => {
  test("an unknown storage names the known ones", () => {
    const error = thrown(() => createObjectStore({ storage: "gcs", bucket: "x" }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe('unknown storage "gcs": use file or s3');
  });

  test("a malformed s3 bucket URL says what it must look like", () => {
    const bad = [
      "127.0.0.1:9000/bucket",
      "bucket",
      "http://127.0.0.1:9000",
      "http://127.0.0.1:9000/",
      "ftp://127.0.0.1/bucket",
      "http://127.0.0.1:9000/bucket?versioning",
      "http://127.0.0.1:9000/bucket//sub",
      "http://127.0.0.1:9000/bucket/../other",
      "http://127.0.0.1:9000/b%2Fad",
    ];
    for (const bucket of bad) {
      const error = thrown(() => createObjectStore({ storage: "s3", bucket }));
      expect(error).toBeInstanceOf(UserError);
      expect(error.message).toStartWith("--bucket for s3 must look like http://host:port/bucket");
    }
  });

  test("credentials in the URL are refused without being echoed", () => {
    const bucket = "http://AKID:hunter2@127.0.0.1:9000/bucket";
    const error = thrown(() => createObjectStore({ storage: "s3", bucket }));
    expect(error.message).toContain("--access-key and --secret-key");
    expect(error.message).not.toContain("hunter2");
  });

  test("half a key pair is refused; a file store ignores keys but wants a directory", () => {
    const s3 = { storage: "s3", bucket: "http://127.0.0.1:9000/bucket" };
    expect(thrown(() => createObjectStore({ ...s3, accessKey: "a" }))).toBeInstanceOf(UserError);
    const file = { storage: "file", bucket: "/tmp/x", accessKey: "a", secretKey: "b" };
    expect(createObjectStore(file)).toBeInstanceOf(FileObjectStore);
    const error = thrown(() => createObjectStore({ storage: "file", bucket: "http://h:9000/b" }));
    expect(error.message).toStartWith("--bucket for file must be a directory");
  });

  test("builds the store, then checksum, then prefix outermost", async () => {
    const store = createObjectStore({
      storage: "file",
      bucket: "file:///tmp/jfs-never-created",
      checksum: true,
      prefix: "vol/",
    });
    expect(store).toBeInstanceOf(PrefixedObjectStore);
    const checksum = (store as PrefixedObjectStore).inner;
    expect(checksum).toBeInstanceOf(ChecksumObjectStore);
    expect((checksum as ChecksumObjectStore).inner).toBeInstanceOf(FileObjectStore);
    expect(store.description).toBe("file:///tmp/jfs-never-created/vol/");

    const s3 = createObjectStore({
      storage: "s3",
      bucket: "https://s3.example.com/bucket/sub",
      accessKey: "AKID",
      secretKey: "very-secret",
    });
    expect(s3).toBeInstanceOf(S3ObjectStore);
    expect(s3.description).toBe("https://s3.example.com/bucket/sub/");
    expect(s3.description).not.toContain("very-secret");
    await s3.close();
  });
});

describe("parseS3BucketUrl", () => {
  test("splits endpoint, bucket and key prefix", () => {
    expect(parseS3BucketUrl("http://127.0.0.1:9000/bucket")).toEqual({
      endpoint: "http://127.0.0.1:9000",
      bucket: "bucket",
      keyPrefix: "",
    });
    expect(parseS3BucketUrl("http://h:9000/bucket/")).toMatchObject({ keyPrefix: "" });
    expect(parseS3BucketUrl("https://h/bucket/sub")).toEqual({
      endpoint: "https://h",
      bucket: "bucket",
      keyPrefix: "sub/",
    });
    expect(parseS3BucketUrl("http://h:9000/b-1.x/a/b%20c/")).toMatchObject({
      bucket: "b-1.x",
      keyPrefix: "a/b c/",
    });
  });
});

describe("compareKeys", () => {
  test("agrees with UTF-8 byte order where UTF-16 order does not", () => {
    const alphabet = [
      "a",
      "/",
      "-",
      "0",
      "\u00e9",
      "\u4e00",
      "\ud7ff",
      "\ue000",
      "\uffff",
      "\u{1f600}",
      "\u{10ffff}",
    ];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const keys = Array.from({ length: 400 }, () =>
      Array.from({ length: 1 + random(4) }, () => alphabet[random(alphabet.length)]).join(""),
    );
    const bytes = (key: string): Buffer => Buffer.from(key, "utf8");
    for (const a of keys.slice(0, 60)) {
      for (const b of keys) {
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(Buffer.compare(bytes(a), bytes(b))));
      }
    }
    expect("\uffff" > "\u{1f600}").toBe(true); // why compareKeys exists
    expect(compareKeys("\uffff", "\u{1f600}")).toBeLessThan(0);
  });
});

describe("backoffMs", () => {
  test("full jitter within a doubling window, capped", () => {
    const policy = { requestTimeoutMs: 1, retriesMax: 10, backoffMsBase: 100, backoffMsMax: 1000 };
    for (let retry = 0; retry < 40; retry++) {
      const windowMs = Math.min(1000, 100 * 2 ** retry);
      for (let i = 0; i < 50; i++) {
        const delayMs = backoffMs(policy, retry);
        expect(delayMs).toBeGreaterThanOrEqual(0);
        expect(delayMs).toBeLessThan(windowMs);
      }
    }
  });
});
