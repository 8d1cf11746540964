/**
 * Multipart uploads with the AWS SDK: create, upload parts, list parts and uploads, complete
 * (the "MD5-N" ETag), abort; and the requests refused with one error each and nothing written:
 * a part number out of range, a missing part, parts out of order, a small middle part.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { signedFetch, startTestGateway, type TestGateway } from "./harness.ts";

const MiB = 1024 * 1024;
let gw: TestGateway;
let s3: S3Client;

beforeAll(async () => {
  gw = await startTestGateway();
  s3 = gw.client();
  await s3.send(new CreateBucketCommand({ Bucket: "multi" }));
});

afterAll(async () => {
  await gw?.close();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (error) {
    if (error instanceof S3ServiceException) return error.name;
    throw error;
  }
}

function filled(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) b[i] = (seed + i / 4096) & 0xff;
  return b;
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest();

async function start(Key: string) {
  const r = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: "multi",
      Key,
      ContentType: "application/x-mp",
      Metadata: { m: "1" },
    }),
  );
  return r.UploadId!;
}

const part = (Key: string, UploadId: string, PartNumber: number, Body: Buffer) =>
  s3.send(new UploadPartCommand({ Bucket: "multi", Key, UploadId, PartNumber, Body }));

describe("multipart upload", () => {
  test("create, parts, list, complete: the object whole, ETag MD5-of-MD5s-N", async () => {
    const id = await start("big/object.bin");
    const bodies = [filled(5 * MiB, 1), filled(5 * MiB, 2), filled(MiB + 3, 3)];
    // Parts out of order, and one sent twice (the last one wins).
    const e3 = await part("big/object.bin", id, 3, bodies[2]!);
    await part("big/object.bin", id, 1, filled(5 * MiB, 9));
    const e1 = await part("big/object.bin", id, 1, bodies[0]!);
    const e2 = await part("big/object.bin", id, 2, bodies[1]!);
    expect(e1.ETag).toBe(`"${md5(bodies[0]!).toString("hex")}"`);
    const listed = await s3.send(
      new ListPartsCommand({ Bucket: "multi", Key: "big/object.bin", UploadId: id }),
    );
    expect(listed.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([
      [1, 5 * MiB],
      [2, 5 * MiB],
      [3, MiB + 3],
    ]);
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: "multi" }));
    expect(uploads.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([["big/object.bin", id]]);
    // Not visible as an object, nor its parts, while in progress, even asked by name.
    expect((await s3.send(new ListObjectsV2Command({ Bucket: "multi" }))).KeyCount).toBe(0);
    const byName = new ListObjectsV2Command({ Bucket: "multi", Prefix: `.jfs-gateway-mpu-${id}/` });
    expect((await s3.send(byName)).KeyCount).toBe(0);
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "multi",
        Key: "big/object.bin",
        UploadId: id,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: e1.ETag },
            { PartNumber: 2, ETag: e2.ETag },
            { PartNumber: 3, ETag: e3.ETag },
          ],
        },
      }),
    );
    const expected = `"${createHash("md5")
      .update(Buffer.concat(bodies.map(md5)))
      .digest("hex")}-3"`;
    expect(done.ETag).toBe(expected);
    const got = await s3.send(new GetObjectCommand({ Bucket: "multi", Key: "big/object.bin" }));
    expect(got.ETag).toBe(expected);
    expect(got.ContentType).toBe("application/x-mp");
    expect(got.Metadata).toEqual({ m: "1" });
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(bodies))).toBe(
      true,
    );
    expect(
      (await s3.send(new ListMultipartUploadsCommand({ Bucket: "multi" }))).Uploads ?? [],
    ).toEqual([]);
    expect(
      await codeOf(
        s3.send(new ListPartsCommand({ Bucket: "multi", Key: "big/object.bin", UploadId: id })),
      ),
    ).toBe("NoSuchUpload");
  });

  test("abort removes the upload and its parts", async () => {
    const id = await start("aborted");
    await part("aborted", id, 1, filled(1000, 1));
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: "multi", Key: "aborted", UploadId: id }),
    );
    expect(await codeOf(part("aborted", id, 2, filled(10, 1)))).toBe("NoSuchUpload");
    expect(
      (await s3.send(new ListMultipartUploadsCommand({ Bucket: "multi" }))).Uploads ?? [],
    ).toEqual([]);
  });

  test("bad requests: one error each, nothing written", async () => {
    const key = "refused.bin";
    const id = await start(key);
    expect(await codeOf(part(key, id, 0, filled(10, 1)))).toBe("InvalidArgument");
    expect(await codeOf(part(key, id, 10001, filled(10, 1)))).toBe("InvalidArgument");
    expect(await codeOf(part(key, "0".repeat(32), 1, filled(10, 1)))).toBe("NoSuchUpload");
    expect(await codeOf(part("other-key", id, 1, filled(10, 1)))).toBe("NoSuchUpload");
    const small = await part(key, id, 1, filled(1000, 1));
    const last = await part(key, id, 2, filled(1000, 2));
    const complete = (Parts: { PartNumber: number; ETag?: string | undefined }[]) =>
      codeOf(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: "multi",
            Key: key,
            UploadId: id,
            MultipartUpload: { Parts },
          }),
        ),
      );
    expect(
      await complete([
        { PartNumber: 1, ETag: small.ETag },
        { PartNumber: 3, ETag: last.ETag },
      ]),
    ).toBe("InvalidPart");
    expect(await complete([{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }])).toBe(
      "InvalidPart",
    );
    expect(
      await complete([
        { PartNumber: 2, ETag: last.ETag },
        { PartNumber: 1, ETag: small.ETag },
      ]),
    ).toBe("InvalidPartOrder");
    expect(
      await complete([
        { PartNumber: 1, ETag: small.ETag },
        { PartNumber: 2, ETag: last.ETag },
      ]),
    ).toBe("EntityTooSmall");
    const malformed = await signedFetch(
      gw.endpoint,
      "POST",
      `/multi/${key}?uploadId=${id}`,
      "<Complete",
    );
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toContain("<Code>MalformedXML</Code>");
    expect(await codeOf(s3.send(new HeadObjectCommand({ Bucket: "multi", Key: key })))).not.toBe(
      "ok",
    );
    // The upload is still there to be completed right.
    expect(await complete([{ PartNumber: 2, ETag: last.ETag }])).toBe("ok");
    const got = await s3.send(new GetObjectCommand({ Bucket: "multi", Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(filled(1000, 2))).toBe(true);
  });
});
