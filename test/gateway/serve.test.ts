/**
 * `jfs serve --nfs --s3 ADDR`: one process serves NFS and the S3 gateway on one runtime (one
 * VFS, cache and session). An object PUT with the AWS SDK is read at once with libnfs's nfs-cat,
 * a file written with nfs-cp is read over S3, and SIGTERM stops both servers and exits 0.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { jfs } from "../cli/harness.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "../nfs/harness.ts";
import { ACCESS_KEY, SECRET_KEY } from "./harness.ts";

const S3_READY = /^s3: serving nfsvol on (http:\/\/127\.0\.0\.1:\d+)$/m;

let volume: TestVolume;
let serve: ServeProcess;
let s3: S3Client;

beforeAll(async () => {
  volume = await makeVolume();
  mkdirSync(volume.home, { recursive: true });
  serve = await spawnServe(volume, ["--s3", "127.0.0.1:0"], {
    env: { JFS_GATEWAY_ACCESS_KEY: ACCESS_KEY, JFS_GATEWAY_SECRET_KEY: SECRET_KEY },
  });
  const endpoint = S3_READY.exec(serve.stdout())?.[1];
  if (endpoint === undefined) throw new Error(`no s3 ready line in: ${serve.stdout()}`);
  s3 = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  s3?.destroy();
  await serve?.stop("SIGKILL");
  volume?.[Symbol.dispose]();
});

const url = (path: string) =>
  `nfs://127.0.0.1/${path}?nfsport=${serve.port}&mountport=${serve.port}&version=3`;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function run(args: string[]) {
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout: Buffer.from(stdout), stderr };
}

describe("jfs serve --nfs --s3", () => {
  test("PUT over S3 is read over NFS, nfs-cp's file is read over S3, in one process", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "one" }));
    const body = Buffer.alloc(2_500_000);
    for (let i = 0; i < body.length; i += 128) body[i] = (i / 128) & 0xff;
    await s3.send(new PutObjectCommand({ Bucket: "one", Key: "dir/s3.bin", Body: body }));
    const cat = await run(["nfs-cat", url("/one/dir/s3.bin")]);
    expect(cat.stderr).toBe("");
    expect(sha256(cat.stdout)).toBe(sha256(body));

    const local = join(volume.dir, "local.txt");
    const written = Buffer.from("from nfs-cp to the S3 side\n".repeat(5_000));
    writeFileSync(local, written);
    expect((await run(["nfs-cp", local, url("/one/nfs.txt")])).code).toBe(0);
    const got = await s3.send(new GetObjectCommand({ Bucket: "one", Key: "nfs.txt" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(written)).toBe(true);
  }, 60_000);

  test("one session, naming both servers", async () => {
    const r = await jfs(["status", volume.metaUrl, "--json"], { HOME: volume.home });
    expect(r.code).toBe(0);
    const sessions = JSON.parse(r.stdout).sessions as Array<{ pid: number; mountPoint: string }>;
    const s3Port = new URL(S3_READY.exec(serve.stdout())![1]!).port;
    expect(sessions.map((s) => [s.pid, s.mountPoint])).toEqual([
      [serve.proc.pid, `nfs://127.0.0.1:${serve.port}/ s3://127.0.0.1:${s3Port}`],
    ]);
  });

  test("SIGTERM stops both servers and exits 0", async () => {
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual([
      "one",
    ]);
    expect(await serve.stop("SIGTERM")).toBe(0);
    await expect(s3.send(new ListBucketsCommand({}))).rejects.toThrow();
    expect((await run(["nfs-ls", url("/")])).code).not.toBe(0);
  }, 60_000);
});

test("--s3 without the gateway's keys: refused before the volume is opened", async () => {
  const r = await jfs(
    ["serve", "--nfs", "--port", "0", "--s3", "127.0.0.1:0", volume.metaUrl],
    {
      HOME: volume.home,
      JFS_GATEWAY_ACCESS_KEY: undefined,
      JFS_GATEWAY_SECRET_KEY: undefined,
      MINIO_ROOT_USER: undefined,
      MINIO_ROOT_PASSWORD: undefined,
    },
    undefined,
    20_000,
  );
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("JFS_GATEWAY_ACCESS_KEY");
  expect(r.stdout).toBe("");
}, 30_000);
