/**
 * A real `jfs serve --nfs` child on an S3 volume whose object store stops answering (the fault
 * proxy holds every request): the log says so once per interval while it lasts (not once per
 * upload), and a SIGINT then says what the shutdown waits for and gives up within a bound,
 * instead of waiting in silence for a second signal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OBJECT_OUTAGE_LOG_MS, STOP_OUTAGE_WAIT_MS } from "../../src/limits.ts";
import { openMeta } from "../../src/meta/index.ts";
import { formatVolume, newFormat } from "../../src/volume/open.ts";
import { type FaultProxy, startFaultProxy } from "../harness/faultproxy.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";
import { spawnServe } from "./harness.ts";
import { NfsClient } from "./nfsclient.ts";

/** Generous: the shutdown gives up STOP_OUTAGE_WAIT_MS after the signal. */
const EXIT_BOUND_MS = STOP_OUTAGE_WAIT_MS + 30_000;

let s3: S3Server;
let proxy: FaultProxy;
let dir: string;

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint, 5);
  dir = mkdtempSync(join(tmpdir(), "jfs-outage-"));
});

afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(50);
  }
}

describe("jfs serve during an object store outage", () => {
  test("logs the outage per interval; SIGINT says what it waits for and gives up", async () => {
    const metaUrl = `sqlite3://${join(dir, "meta.db")}`;
    const meta = await openMeta(metaUrl);
    try {
      const format = newFormat({
        name: "outvol",
        storage: "s3",
        bucket: proxy.bucketUrl("serve-outage"),
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        blockSizeKiB: 64,
        trashDays: 0,
      });
      await formatVolume(meta, format, false);
    } finally {
      await meta.close();
    }
    const serve = await spawnServe({ metaUrl, home: join(dir, "home") });
    const client = await NfsClient.connect(serve.port);
    const outageLines = () =>
      serve
        .stderr()
        .split("\n")
        .filter((l) => l.includes("not answering"));
    try {
      const root = await client.mount("/");
      proxy.inject({ fault: "hold", fraction: 1 });
      const startedMs = Date.now();
      // 16 blocks of 64 KiB: 16 uploads held at once, and a COMMIT waiting for them.
      const writing = client.writeFile(root, "f", randomBytes(1 << 20), 256 * 1024);
      writing.catch(() => undefined);
      await until(() => outageLines().length >= 1, OBJECT_OUTAGE_LOG_MS + 20_000);
      expect(outageLines()[0]).toMatch(
        /object store \S+ not answering: waiting for PUT outvol\/chunks\/\S+ \(\d+ s; \d+ requests? waiting\)/,
      );

      const signalledMs = Date.now();
      const exited = serve.stop("SIGINT");
      const code = await Promise.race([exited, Bun.sleep(EXIT_BOUND_MS).then(() => "timeout")]);
      const stoppedMs = Date.now();
      expect(code).toBe(1);
      expect(stoppedMs - signalledMs).toBeLessThan(EXIT_BOUND_MS);
      const err = serve.stderr();
      // What it waits for, while it waits...
      expect(err).toMatch(
        /still stopping the NFS server and flushing the volume: the object store is not answering, waiting for PUT outvol\/chunks\/\S+ \(\d+ s; \d+ requests? waiting\); giving up in \d+ s/,
      );
      // ...and one line when it gives up.
      expect(err).toMatch(
        /jfs: gave up stopping the NFS server and flushing the volume: the object store did not answer for \d+ s/,
      );
      // Per interval, not per upload: 16 uploads were held the whole time.
      const seconds = (stoppedMs - startedMs) / 1000;
      expect(outageLines().length).toBeLessThanOrEqual(
        Math.ceil(seconds / (OBJECT_OUTAGE_LOG_MS / 1000)) + 1,
      );
      expect(err).not.toContain("    at "); // no stack trace
    } finally {
      proxy.clear();
      await client.close().catch(() => undefined);
      serve.proc.kill("SIGKILL");
    }
  }, 120_000);
});
