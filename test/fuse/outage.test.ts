/**
 * `jfs mount` on S3 (s3rver behind the fault proxy) while the store holds every request: a
 * file's close waits for its uploads; a SIGINT of the mount then says what it waits for and
 * gives up within a bound, instead of waiting in silence until a second signal.
 *
 * The fault proxy runs in this process: the file is only written through asynchronous calls,
 * so the event loop that answers jfs's S3 requests keeps running.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STOP_OUTAGE_WAIT_MS } from "../../src/limits.ts";
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

/** Generous: the shutdown gives up STOP_OUTAGE_WAIT_MS after the signal (plus unmounting). */
const EXIT_BOUND_MS = STOP_OUTAGE_WAIT_MS + 40_000;

describe.skipIf(!HAVE_FUSE)("jfs mount during an object store outage", () => {
  let s3: S3Server;
  let proxy: FaultProxy;
  let root: string;
  let volume: TestVolume;
  let current: Mounted | undefined;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await startFaultProxy(s3.endpoint, 11);
    root = mkdtempSync(join(tmpdir(), "jfs-fuse-outage-"));
    const metaUrl = `sqlite3://${root}/meta.db`;
    const format = ["format", metaUrl, "outfuse", "--storage", "s3"];
    format.push("--bucket", proxy.bucketUrl("outfuse"), "--block-size", "64");
    const r = await jfs(format, { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey });
    if (r.code !== 0) throw new Error(`jfs format failed: ${r.stderr}`);
    volume = { root, metaUrl, cacheDir: join(root, "cache"), cleanup: () => undefined };
  });

  afterAll(async () => {
    proxy?.clear();
    await forceCleanup(current);
    await proxy?.stop();
    await s3?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("without an outage, SIGINT unmounts, flushes and exits 0", async () => {
    const dir = join(root, "mnt-ok");
    const env = { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey };
    current = await startMount(volume, dir, [], env);
    const data = Buffer.alloc(300_000, 3);
    await writeFile(join(dir, "ok"), data);
    current.proc.kill("SIGINT");
    expect(await current.proc.exited).toBe(0);
    expect(await current.log()).toContain("unmounted: flushing and closing the session");
    current = await startMount({ ...volume, cacheDir: join(root, "cache-ok") }, dir, [], env);
    expect((await readFile(join(dir, "ok"))).equals(data)).toBe(true);
    await stopMount(current);
    current = undefined;
  }, 60_000);

  test("SIGINT says what it waits for and gives up", async () => {
    const dir = join(root, "mnt");
    const env = { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey };
    current = await startMount(volume, dir, [], env);
    const mounted = current;
    proxy.inject({ fault: "hold", fraction: 1 });
    // close() flushes: it waits for the held uploads.
    const writing = writeFile(join(dir, "f"), Buffer.alloc(512 * 1024, 7));
    writing.catch(() => undefined);
    await waitFor("uploads held by the proxy", () => proxy.faulted >= 1);
    const signalledMs = Date.now();
    mounted.proc.kill("SIGINT");
    const code = await Promise.race([
      mounted.proc.exited,
      Bun.sleep(EXIT_BOUND_MS).then(() => "timeout"),
    ]);
    expect(Date.now() - signalledMs).toBeLessThan(EXIT_BOUND_MS);
    expect(code).toBe(1);
    const log = await mounted.log();
    expect(log).toMatch(
      /still unmounting and flushing the volume: the object store is not answering, waiting for PUT outfuse\/chunks\/\S+ \(\d+ s; \d+ requests? waiting\); giving up in \d+ s/,
    );
    expect(log).toMatch(
      /jfs: gave up unmounting and flushing the volume: the object store did not answer/,
    );
    expect(log).not.toContain("    at ");
    proxy.clear();
    await writing.catch(() => undefined);
  }, 120_000);
});
