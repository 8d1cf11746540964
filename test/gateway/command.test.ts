/**
 * `jfs gateway` as a user runs it: the keys from the environment only, 127.0.0.1 by default,
 * one ready line, requests served, SIGTERM stops it cleanly; without keys it refuses to start.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListBucketsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { jfs } from "../cli/harness.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const dir = mkdtempSync(join(tmpdir(), "jfs-gw-cmd-"));
const metaUrl = `sqlite3://${dir}/meta.db`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("without keys in the environment it refuses to start, saying which variables", async () => {
  const env: Record<string, string | undefined> = {
    JFS_GATEWAY_ACCESS_KEY: undefined,
    JFS_GATEWAY_SECRET_KEY: undefined,
    MINIO_ROOT_USER: undefined,
    MINIO_ROOT_PASSWORD: undefined,
  };
  const r = await jfs(["gateway", metaUrl, "--address", "127.0.0.1:0"], env, undefined, 20_000);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("JFS_GATEWAY_ACCESS_KEY");
});

test("serves with MINIO_ROOT_USER/PASSWORD, --bucket maps the root, SIGTERM stops it", async () => {
  const f = await jfs(["format", metaUrl, "cmdvol", "--bucket", join(dir, "data")]);
  expect(f.code).toBe(0);
  const proc = Bun.spawn(
    [
      "bun",
      MAIN,
      "gateway",
      metaUrl,
      "--address",
      "127.0.0.1:0",
      "--bucket",
      "root-bucket",
      "--cache-dir",
      "memory",
    ],
    {
      env: {
        ...process.env,
        HOME: dir,
        MINIO_ROOT_USER: "minio",
        MINIO_ROOT_PASSWORD: "minio-secret",
      },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  try {
    const reader = proc.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const m = /^s3: serving cmdvol on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(text);
    expect(m).not.toBeNull();
    const s3 = new S3Client({
      endpoint: m![1]!,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "minio", secretAccessKey: "minio-secret" },
      maxAttempts: 1,
    });
    const buckets = await s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toEqual(["root-bucket"]);
    await s3.send(
      new PutObjectCommand({ Bucket: "root-bucket", Key: "top.txt", Body: "at the root" }),
    );
    s3.destroy();
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  } finally {
    proc.kill("SIGKILL");
  }
  // The object is the file /top.txt of the volume.
  const r = await jfs(["dump", metaUrl], { HOME: dir });
  expect(r.stdout).toContain(`"entry":1,"name":"${Buffer.from("top.txt").toString("base64")}"`);
}, 60_000);
