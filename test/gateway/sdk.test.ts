/**
 * The gateway with the AWS SDK for JavaScript as its client: buckets, objects, ranges,
 * metadata, listings with delimiter and pagination (V2 and V1), copy, deletes, and the requests
 * it must refuse with one S3 error each and nothing written. A second runtime on the same
 * volume (another session, as another node's mount) sees what the gateway wrote, and the other
 * way round.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { ROOT_CREDENTIALS as ctx, OpenFlags } from "../../src/posix.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import {
  ACCESS_KEY,
  SECRET_KEY,
  signedFetch,
  startTestGateway,
  type TestGateway,
} from "./harness.ts";

let gw: TestGateway;
let s3: S3Client;

beforeAll(async () => {
  gw = await startTestGateway();
  s3 = gw.client();
  await s3.send(new CreateBucketCommand({ Bucket: "data" }));
});

afterAll(async () => {
  await gw?.close();
});

/** The S3 error code a request fails with. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (error) {
    if (error instanceof S3ServiceException) {
      // A reply without a body (304, or any error to a HEAD) has only its status.
      return error.name === "Unknown" || error.name === "NotModified" || error.name === "NotFound"
        ? String(error.$metadata.httpStatusCode)
        : error.name;
    }
    throw error;
  }
}

const md5 = (text: string | Buffer) => createHash("md5").update(text).digest("hex");
const put = (Key: string, Body: string | Buffer, Bucket = "data") =>
  s3.send(new PutObjectCommand({ Bucket, Key, Body }));
const get = async (Key: string, Bucket = "data") =>
  Buffer.from(
    await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray(),
  );

describe("gateway with the AWS SDK", () => {
  test("buckets: create, list, refuse a non-empty delete, delete", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "scratch" }));
    expect(await codeOf(s3.send(new CreateBucketCommand({ Bucket: "scratch" })))).toBe(
      "BucketAlreadyOwnedByYou",
    );
    expect(await codeOf(s3.send(new CreateBucketCommand({ Bucket: "Bad_Name" })))).toBe(
      "InvalidBucketName",
    );
    const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: "scratch" }));
    expect(versioning.Status).toBeUndefined();
    const names = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
    expect(names).toEqual(["data", "scratch"]);
    await put("x", "1", "scratch");
    expect(await codeOf(s3.send(new DeleteBucketCommand({ Bucket: "scratch" })))).toBe(
      "BucketNotEmpty",
    );
    await s3.send(new DeleteObjectCommand({ Bucket: "scratch", Key: "x" }));
    await s3.send(new DeleteBucketCommand({ Bucket: "scratch" }));
    expect(await codeOf(put("x", "1", "scratch"))).toBe("NoSuchBucket");
  });

  test("put and get: MD5 ETag, Content-Type, x-amz-meta-*, ranges, head", async () => {
    const body = Buffer.from("0123456789".repeat(100_000)); // 1 MB, several read pieces
    const r = await s3.send(
      new PutObjectCommand({
        Bucket: "data",
        Key: "docs/a.bin",
        Body: body,
        ContentType: "application/x-test",
        Metadata: { owner: "alice", "Mixed-Case": "v" },
      }),
    );
    expect(r.ETag).toBe(`"${md5(body)}"`);
    const whole = await s3.send(new GetObjectCommand({ Bucket: "data", Key: "docs/a.bin" }));
    expect(whole.ContentLength).toBe(body.length);
    expect(Buffer.from(await whole.Body!.transformToByteArray()).equals(body)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "data", Key: "docs/a.bin" }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ContentType).toBe("application/x-test");
    expect(head.ETag).toBe(`"${md5(body)}"`);
    expect(head.Metadata).toEqual({ owner: "alice", "mixed-case": "v" });
    const ranged = await s3.send(
      new GetObjectCommand({ Bucket: "data", Key: "docs/a.bin", Range: "bytes=5-14" }),
    );
    expect(ranged.ContentRange).toBe(`bytes 5-14/${body.length}`);
    expect(await ranged.Body!.transformToString()).toBe("5678901234");
    const suffix = await s3.send(
      new GetObjectCommand({ Bucket: "data", Key: "docs/a.bin", Range: "bytes=-3" }),
    );
    expect(await suffix.Body!.transformToString()).toBe("789");
    expect(
      await codeOf(
        s3.send(
          new GetObjectCommand({ Bucket: "data", Key: "docs/a.bin", Range: "bytes=2000000-" }),
        ),
      ),
    ).toBe("InvalidRange");
    expect(await codeOf(s3.send(new GetObjectCommand({ Bucket: "data", Key: "docs/none" })))).toBe(
      "NoSuchKey",
    );
    expect(await codeOf(s3.send(new GetObjectCommand({ Bucket: "docs", Key: "a.bin" })))).toBe(
      "NoSuchBucket",
    );
    // A prefix is not an object.
    expect(await codeOf(s3.send(new GetObjectCommand({ Bucket: "data", Key: "docs" })))).toBe(
      "NoSuchKey",
    );
    // Conditional GET: the ETag it has is not modified.
    expect(
      await codeOf(
        s3.send(
          new GetObjectCommand({
            Bucket: "data",
            Key: "docs/a.bin",
            IfNoneMatch: `"${md5(body)}"`,
          }),
        ),
      ),
    ).toBe("304");
    expect(
      await codeOf(
        s3.send(new GetObjectCommand({ Bucket: "data", Key: "docs/a.bin", IfMatch: '"nope"' })),
      ),
    ).toBe("PreconditionFailed");
  });

  test("overwrite, empty object, and a streamed body of unknown length", async () => {
    await put("over", "first");
    await put("over", "second");
    expect((await get("over")).toString()).toBe("second");
    await put("empty", "");
    expect((await get("empty")).length).toBe(0);
    // A stream: the SDK sends it aws-chunked, with its CRC32 in an unsigned trailer.
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(5, 2)];
    const stream = Readable.from(chunks);
    await s3.send(
      new PutObjectCommand({
        Bucket: "data",
        Key: "streamed",
        Body: stream,
        ContentLength: 70_005,
      }),
    );
    expect((await get("streamed")).equals(Buffer.concat(chunks))).toBe(true);
  });

  test("ListObjectsV2 and V1: delimiter, prefix, start-after and pagination", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "tree" }));
    // ("a" and "a/..." cannot both be: "a" would be a file and a directory.)
    const keys = [
      "a-b",
      "a.txt",
      "a/b/c",
      "a/b/d",
      "a/c",
      "a0",
      "b/x",
      "b/y/z",
      "c",
      ...Array.from({ length: 25 }, (_, i) => `many/k${String(i).padStart(3, "0")}`),
    ];
    for (const key of keys) await put(key, key, "tree");
    const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    // Every key, 7 at a time.
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: "tree", MaxKeys: 7, ContinuationToken: token }),
      );
      seen.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
      expect(page.IsTruncated).toBe(token !== undefined);
      pages++;
    } while (token !== undefined);
    expect(seen).toEqual(sorted);
    expect(pages).toBe(Math.ceil(keys.length / 7));
    // With a delimiter: the top level.
    const top = await s3.send(new ListObjectsV2Command({ Bucket: "tree", Delimiter: "/" }));
    expect(top.Contents?.map((c) => c.Key)).toEqual(["a-b", "a.txt", "a0", "c"]);
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["a/", "b/", "many/"]);
    expect(top.KeyCount).toBe(7);
    // Under a prefix, with pagination across common prefixes and keys.
    const under: string[] = [];
    token = undefined;
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(
        new ListObjectsV2Command({
          Bucket: "tree",
          Prefix: "a/",
          Delimiter: "/",
          MaxKeys: 1,
          ContinuationToken: token,
        }),
      );
      under.push(...(page.CommonPrefixes ?? []).map((p) => `P:${p.Prefix}`));
      under.push(...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token !== undefined);
    expect(under).toEqual(["P:a/b/", "a/c"]);
    // A prefix that is not a whole directory name.
    const partial = await s3.send(new ListObjectsV2Command({ Bucket: "tree", Prefix: "a" }));
    expect(partial.Contents?.map((c) => c.Key)).toEqual(sorted.filter((k) => k.startsWith("a")));
    const after = await s3.send(
      new ListObjectsV2Command({ Bucket: "tree", StartAfter: "many/k020", Prefix: "many/" }),
    );
    expect(after.Contents?.map((c) => c.Key)).toEqual([
      "many/k021",
      "many/k022",
      "many/k023",
      "many/k024",
    ]);
    const none = await s3.send(new ListObjectsV2Command({ Bucket: "tree", Prefix: "zzz/" }));
    expect(none.KeyCount).toBe(0);
    // V1 with markers.
    const v1: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await s3.send(
        new ListObjectsCommand({ Bucket: "tree", MaxKeys: 10, Marker: marker }),
      );
      const got = (page.Contents ?? []).map((c) => c.Key!);
      v1.push(...got);
      if (page.IsTruncated !== true) break;
      marker = page.NextMarker ?? got[got.length - 1];
    }
    expect(v1).toEqual(sorted);
    // Sizes and ETags in a listing are the objects'.
    const c = (await s3.send(new ListObjectsV2Command({ Bucket: "tree", Prefix: "c" }))).Contents!;
    expect(c.map((o) => [o.Key, o.Size, o.ETag])).toEqual([["c", 1, `"${md5("c")}"`]]);
  });

  test("CopyObject keeps or replaces the metadata", async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: "data",
        Key: "src",
        Body: "copy me",
        ContentType: "text/x-a",
        Metadata: { k: "1" },
      }),
    );
    const copy = await s3.send(
      new CopyObjectCommand({ Bucket: "data", Key: "dst/one", CopySource: "data/src" }),
    );
    expect(copy.CopyObjectResult?.ETag).toBe(`"${md5("copy me")}"`);
    const h = await s3.send(new HeadObjectCommand({ Bucket: "data", Key: "dst/one" }));
    expect([h.ContentType, h.Metadata]).toEqual(["text/x-a", { k: "1" }]);
    await s3.send(
      new CopyObjectCommand({
        Bucket: "data",
        Key: "dst/two",
        CopySource: "data/src",
        MetadataDirective: "REPLACE",
        ContentType: "text/x-b",
        Metadata: { j: "2" },
      }),
    );
    const h2 = await s3.send(new HeadObjectCommand({ Bucket: "data", Key: "dst/two" }));
    expect([h2.ContentType, h2.Metadata]).toEqual(["text/x-b", { j: "2" }]);
    expect((await get("dst/two")).toString()).toBe("copy me");
    expect(
      await codeOf(
        s3.send(new CopyObjectCommand({ Bucket: "data", Key: "d", CopySource: "data/nope" })),
      ),
    ).toBe("NoSuchKey");
  });

  test("DeleteObject and DeleteObjects; emptied prefixes vanish", async () => {
    await put("del/one/a", "1");
    await put("del/one/b", "2");
    await put("del/two", "3");
    await s3.send(new DeleteObjectCommand({ Bucket: "data", Key: "del/one/a" }));
    await s3.send(new DeleteObjectCommand({ Bucket: "data", Key: "del/one/a" })); // absent: fine
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket: "data",
        Delete: { Objects: [{ Key: "del/one/b" }, { Key: "del/two" }, { Key: "del/never" }] },
      }),
    );
    expect(r.Deleted?.map((d) => d.Key).sort()).toEqual(["del/never", "del/one/b", "del/two"]);
    expect(r.Errors).toBeUndefined();
    await put("del/kept", "4");
    const malformed = await signedFetch(
      gw.endpoint,
      "POST",
      "/data?delete",
      "<Delete><Object><Key>del/kept",
    );
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toContain("<Code>MalformedXML</Code>");
    expect((await get("del/kept")).toString()).toBe("4");
    await s3.send(new DeleteObjectCommand({ Bucket: "data", Key: "del/kept" }));
    const left = await s3.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "del" }));
    expect(left.KeyCount).toBe(0);
    const top = await s3.send(new ListObjectsV2Command({ Bucket: "data", Delimiter: "/" }));
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).not.toContain("del/");
  });

  test("keys with spaces, +, %, &, = and non-ASCII: signed, stored and listed as given", async () => {
    const odd = ["odd/a b+c%20d.txt", "odd/&=?;#!'()*,~@$.bin", "odd/grüße/日本.txt"];
    for (const key of odd) await put(key, key);
    for (const key of odd) expect((await get(key)).toString()).toBe(key);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "odd/" }));
    const expected = [...odd].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(expected);
    for (const key of odd) await s3.send(new DeleteObjectCommand({ Bucket: "data", Key: key }));
  });

  test("keys that are not paths get one error each", async () => {
    expect(await codeOf(put("x".repeat(1025), "1"))).toBe("KeyTooLongError");
    expect(await codeOf(put("a//b", "1"))).toBe("InvalidArgument");
    // Bun normalises "." and ".." out of the URL before we see it: the signature, made over
    // the path as sent, no longer matches. Refused either way.
    for (const key of ["a/./b", "a/../b", ".."]) {
      expect(["InvalidArgument", "SignatureDoesNotMatch"]).toContain(await codeOf(put(key, "1")));
    }
    expect(await codeOf(s3.send(new HeadObjectCommand({ Bucket: "data", Key: "b" })))).toBe("404");
    expect(await codeOf(put(".jfs-gateway-x", "1"))).toBe("InvalidArgument");
    expect(await codeOf(put("nul\0key", "1"))).toBe("InvalidArgument");
  });

  test("a wrong key, a bad signature, clock skew and anonymous: refused, nothing written", async () => {
    const wrongKey = gw.client({ accessKeyId: "nobody", secretAccessKey: SECRET_KEY });
    expect(
      await codeOf(
        wrongKey.send(new PutObjectCommand({ Bucket: "data", Key: "evil1", Body: "x" })),
      ),
    ).toBe("InvalidAccessKeyId");
    const wrongSecret = gw.client({ accessKeyId: ACCESS_KEY, secretAccessKey: "not-the-secret" });
    expect(
      await codeOf(
        wrongSecret.send(new PutObjectCommand({ Bucket: "data", Key: "evil2", Body: "x" })),
      ),
    ).toBe("SignatureDoesNotMatch");
    expect(await codeOf(wrongSecret.send(new ListBucketsCommand({})))).toBe(
      "SignatureDoesNotMatch",
    );
    const skewed = new S3Client({
      endpoint: gw.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      maxAttempts: 1,
      systemClockOffset: 16 * 60 * 1000,
    });
    try {
      expect(
        await codeOf(
          skewed.send(new PutObjectCommand({ Bucket: "data", Key: "evil3", Body: "x" })),
        ),
      ).toBe("RequestTimeTooSkewed");
    } finally {
      skewed.destroy();
    }
    const anonymous = await fetch(`${gw.endpoint}/data/evil4`, { method: "PUT", body: "x" });
    expect(anonymous.status).toBe(403);
    expect(await anonymous.text()).toContain("<Code>AccessDenied</Code>");
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "evil" }));
    expect(listed.KeyCount).toBe(0);
    // And nothing at all in the directory, not even a temporary file.
    const entries = await gw.runtime.vfs.readdir(
      ctx,
      (await gw.runtime.vfs.lookup(ctx, 1, Buffer.from("data"))).inode,
      0,
      1000,
      false,
    );
    expect(
      entries
        .map((e) => e.name.toString())
        .filter((n) => n.includes("evil") || n.startsWith(".jfs-gateway")),
    ).toEqual([]);
  });

  test("another session of the volume sees what the gateway wrote, and the other way round", async () => {
    await put("shared/from-s3.txt", "written over S3");
    const other = await openRuntime(gw.metaUrl, { cacheDir: join(gw.dir, "cache2") }, "other-node");
    try {
      const v = other.vfs;
      const bucket = await v.lookup(ctx, 1, Buffer.from("data"));
      const dir = await v.lookup(ctx, bucket.inode, Buffer.from("shared"));
      const file = await v.lookup(ctx, dir.inode, Buffer.from("from-s3.txt"));
      const { fh } = await v.open(ctx, file.inode, OpenFlags.RDONLY);
      expect((await v.read(ctx, file.inode, fh, 0, 100)).toString()).toBe("written over S3");
      await v.release(ctx, file.inode, fh);
      const created = await v.create(
        ctx,
        dir.inode,
        Buffer.from("from-posix.txt"),
        0o644,
        0o022,
        OpenFlags.WRONLY,
      );
      await v.write(ctx, created.inode, created.fh, 0, Buffer.from("written through the VFS"));
      await v.flush(ctx, created.inode, created.fh);
      await v.release(ctx, created.inode, created.fh);
    } finally {
      await other.close();
    }
    expect((await get("shared/from-posix.txt")).toString()).toBe("written through the VFS");
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "shared/" }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual([
      "shared/from-posix.txt",
      "shared/from-s3.txt",
    ]);
    // Not written by the gateway: its ETag is not an MD5, and says so.
    expect(listed.Contents?.[0]?.ETag).toMatch(/^"[0-9a-f]{32}-1"$/);
  });
});

describe("--anonymous-read", () => {
  test("unsigned reads and listings are served; writes and the bucket list are not", async () => {
    const open = await startTestGateway(undefined, true);
    try {
      const signed = open.client();
      await signed.send(new CreateBucketCommand({ Bucket: "public" }));
      await signed.send(new PutObjectCommand({ Bucket: "public", Key: "f.txt", Body: "public" }));
      const got = await fetch(`${open.endpoint}/public/f.txt`);
      expect([got.status, await got.text()]).toEqual([200, "public"]);
      const listed = await fetch(`${open.endpoint}/public?list-type=2`);
      expect(await listed.text()).toContain("<Key>f.txt</Key>");
      const write = await fetch(`${open.endpoint}/public/g.txt`, { method: "PUT", body: "x" });
      expect(write.status).toBe(403);
      expect((await fetch(`${open.endpoint}/`)).status).toBe(403);
      // Signed requests still have to be signed right.
      const bad = open.client({ accessKeyId: ACCESS_KEY, secretAccessKey: "wrong-secret" });
      expect(await codeOf(bad.send(new GetObjectCommand({ Bucket: "public", Key: "f.txt" })))).toBe(
        "SignatureDoesNotMatch",
      );
    } finally {
      await open.close();
    }
  });
});
