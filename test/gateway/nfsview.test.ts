/**
 * The gateway and `jfs serve --nfs` as two processes on one volume (two sessions, as two
 * nodes), with libnfs's nfs-cat and nfs-cp as the NFS client: an object PUT over S3 is read
 * whole over NFS, and a file written over NFS is read whole over S3 (close-to-open).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { type ServeProcess, spawnServe } from "../nfs/harness.ts";
import { startTestGateway, type TestGateway } from "./harness.ts";

let gw: TestGateway;
let nfs: ServeProcess;

beforeAll(async () => {
  gw = await startTestGateway();
  const home = join(gw.dir, "home");
  mkdirSync(home, { recursive: true });
  nfs = await spawnServe({ metaUrl: gw.metaUrl, home });
});

afterAll(async () => {
  await nfs?.stop();
  await gw?.close();
});

const url = (path: string) =>
  `nfs://127.0.0.1/${path}?nfsport=${nfs.port}&mountport=${nfs.port}&version=3`;
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

describe("S3 and NFS views of one volume", () => {
  test("PUT over S3, read over NFS; written over NFS, GET over S3", async () => {
    const s3 = gw.client();
    await s3.send(new CreateBucketCommand({ Bucket: "both" }));
    const body = Buffer.alloc(3_000_000);
    for (let i = 0; i < body.length; i += 256) body[i] = (i / 256) & 0xff;
    await s3.send(new PutObjectCommand({ Bucket: "both", Key: "in/s3.bin", Body: body }));
    const cat = await run(["nfs-cat", url("/both/in/s3.bin")]);
    expect(cat.stderr).toBe("");
    expect(sha256(cat.stdout)).toBe(sha256(body));

    const local = join(gw.dir, "from-nfs.bin");
    const written = Buffer.from("written over NFS by nfs-cp\n".repeat(10_000));
    writeFileSync(local, written);
    const cp = await run(["nfs-cp", local, url("/both/in/nfs.bin")]);
    expect(cp.code).toBe(0);
    const got = await s3.send(new GetObjectCommand({ Bucket: "both", Key: "in/nfs.bin" }));
    expect(got.ContentLength).toBe(written.length);
    expect(sha256(await got.Body!.transformToByteArray())).toBe(sha256(written));
  }, 60_000);
});
