/**
 * `jfs mount --writeback` on a volume in S3 (s3rver behind a fault proxy), with the store made
 * to fail every request after the mount is up: files still close (their blocks are staged in
 * the cache directory), then jfs dies by kill -9 with every block only staged. The next mount
 * with the same cache directory serves the files and uploads them; once it has unmounted, a
 * mount with an empty cache directory reads every file whole from S3 alone.
 *
 * The fault proxy and the SigV4 gate run in this process: files on the mount are only touched
 * through asynchronous calls, so the event loop that answers jfs's S3 requests keeps running.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FaultProxy, startFaultProxy } from "../harness/faultproxy.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";
import {
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
  waitFor,
} from "./harness.ts";

const FILES = 40;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe.skipIf(!HAVE_FUSE)("jfs mount --writeback", () => {
  let s3: S3Server;
  let proxy: FaultProxy;
  let root: string;
  let volume: TestVolume;
  let current: Mounted | undefined;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await startFaultProxy(s3.endpoint);
    root = mkdtempSync(join(tmpdir(), "jfs-writeback-"));
    const metaUrl = `sqlite3://${root}/meta.db`;
    const format = ["format", metaUrl, "wbtest", "--storage", "s3"];
    format.push("--bucket", proxy.bucketUrl("wbtest"));
    const r = await jfs(format, { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey });
    if (r.code !== 0) throw new Error(`jfs format failed: ${r.stderr}`);
    volume = { root, metaUrl, cacheDir: join(root, "cache"), cleanup: () => undefined };
  });

  afterAll(async () => {
    await forceCleanup(current);
    await proxy?.stop();
    await s3?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("files close with S3 down; kill -9; the next mount uploads them", async () => {
    const dir = join(root, "mnt");
    const env = { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey };
    current = await startMount(volume, dir, ["--writeback"], env);
    proxy.inject({ fault: "500", fraction: 1 });
    const digests = new Map<string, string>();
    for (let i = 0; i < FILES; i++) {
      const data = Buffer.alloc(1000 + i * 997);
      crypto.getRandomValues(data);
      const name = `f${i}`;
      await writeFile(join(dir, name), data); // returns once staged: S3 answers nothing but 500s
      digests.set(name, sha256(data));
    }
    const [uuid] = readdirSync(volume.cacheDir);
    const staging = join(volume.cacheDir, uuid!, "staging");
    expect(readdirSync(staging)).toHaveLength(FILES);

    current.proc.kill(9);
    await current.proc.exited;
    expect((await jfs(["umount", dir])).code).toBe(0);
    proxy.clear();

    current = await startMount(volume, dir, ["--writeback"], env);
    for (const [name, digest] of digests) {
      expect(sha256(await readFile(join(dir, name)))).toBe(digest);
    }
    await waitFor("the staged blocks to be uploaded", () => readdirSync(staging).length === 0);
    await stopMount(current);

    const cold: TestVolume = { ...volume, cacheDir: join(root, "empty-cache") };
    current = await startMount(cold, dir, [], env);
    for (const [name, digest] of digests) {
      expect(sha256(await readFile(join(dir, name)))).toBe(digest);
    }
    await stopMount(current);
    current = undefined;
  }, 120_000);
});
