/**
 * Directory quotas through the S3 gateway: a bucket is a top-level directory, so `jfs quota set
 * --path /BUCKET` (the real CLI, while the gateway runs) limits it. A PUT that would pass the
 * quota is refused as MinIO refuses a write past a bucket quota: XMinioAdminBucketQuotaExceeded,
 * HTTP 400; the object is not there afterwards, and smaller PUTs and other buckets go on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { jfs } from "../cli/harness.ts";
import { startTestGateway, type TestGateway } from "./harness.ts";

const KiB = 1024;

let gw: TestGateway;
let s3: S3Client;

beforeAll(async () => {
  gw = await startTestGateway();
  s3 = gw.client();
  for (const Bucket of ["limited", "free"]) await s3.send(new CreateBucketCommand({ Bucket }));
});

afterAll(async () => {
  await gw?.close();
});

/** The S3 error code and HTTP status a request fails with, or "ok". */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (error) {
    if (!(error instanceof S3ServiceException)) throw error;
    return `${error.name} ${error.$metadata.httpStatusCode}`;
  }
}

const put = (Bucket: string, Key: string, bytes: number) =>
  s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.alloc(bytes, 5) }));

describe("directory quotas through the S3 gateway", () => {
  test("a PUT past a bucket's quota is refused with MinIO's quota error", async () => {
    // 0.0001 GiB is 104 KiB.
    const r = await jfs(["quota", "set", gw.metaUrl, "--path", "/limited", "--capacity", "0.0001"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await refusal(put("limited", "small", 64 * KiB))).toBe("ok");
    expect(await refusal(put("limited", "big", 64 * KiB))).toBe(
      "XMinioAdminBucketQuotaExceeded 400",
    );
    expect(await refusal(s3.send(new HeadObjectCommand({ Bucket: "limited", Key: "big" })))).toBe(
      "NotFound 404",
    );
    expect(await refusal(put("limited", "tiny", 16 * KiB))).toBe("ok");
    expect(await refusal(put("free", "big", 256 * KiB))).toBe("ok");
    // Under a prefix (a subdirectory of the bucket) the bucket's quota holds too.
    expect(await refusal(put("limited", "deep/er/big", 64 * KiB))).toBe(
      "XMinioAdminBucketQuotaExceeded 400",
    );
  }, 60_000);
});
