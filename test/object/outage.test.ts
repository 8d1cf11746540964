/**
 * The outage log (src/object/outage.ts) against a real S3 server behind the fault proxy: while
 * requests are refused or held, one line per interval says what is being retried and how many
 * requests wait, never one per call or per retry; one line says when the store answers again.
 * The interval is shortened here (it is OBJECT_OUTAGE_LOG_MS in jfs itself).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { OutageTracker } from "../../src/object/outage.ts";
import { S3ObjectStore } from "../../src/object/s3.ts";
import { type FaultProxy, startFaultProxy } from "../harness/faultproxy.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";

const INTERVAL_MS = 300;

let s3: S3Server;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy(s3.endpoint, 3);
});

afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

function storeWithLog(bucket: string, options: { requestTimeoutMs?: number } = {}) {
  const lines: { level: string; line: string }[] = [];
  const tracker = new OutageTracker((level, line) => lines.push({ level, line }), INTERVAL_MS);
  const store = new S3ObjectStore({
    bucketUrl: proxy.bucketUrl(bucket),
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    retryBackoffMsBase: 20,
    retryBackoffMsMax: 100,
    retriesMax: 1000,
    outages: tracker,
    ...options,
  });
  return { store, lines, tracker };
}

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

describe("outage log", () => {
  test("refused requests: one line per interval naming what is retried, then 'answering again'", async () => {
    const { store, lines, tracker } = storeWithLog("outage-refused");
    await store.create();
    proxy.inject({ fault: "500", fraction: 1 });
    const startedMs = Date.now();
    const puts = [1, 2, 3, 4, 5].map((i) =>
      store.put(`vol/chunks/0/0/${i}_0_3`, Buffer.from("abc")),
    );
    try {
      await until(() => lines.length >= 3);
      const failed = proxy.faulted;
      const elapsedMs = Date.now() - startedMs;
      proxy.clear();
      await Promise.all(puts);
      // Dozens of refused attempts, a handful of lines: per interval, not per call or retry.
      expect(failed).toBeGreaterThan(2 * 5);
      const outageLines = lines.filter((l) => l.line.includes("not answering"));
      expect(outageLines.length).toBeLessThanOrEqual(Math.ceil(elapsedMs / INTERVAL_MS) + 1);
      expect(outageLines.length).toBeLessThan(failed);
      for (const { level, line } of outageLines) {
        expect(level).toBe("warn");
        expect(line).toContain(
          `object store ${store.description} not answering: retrying PUT vol/chunks/0/0/`,
        );
        expect(line).toContain("5 requests waiting");
        expect(line).toContain("last error: injected by the fault proxy");
      }
      await until(() => lines.some((l) => l.line.includes("answering again")));
      expect(lines.at(-1)?.line).toContain(`object store ${store.description} answering again`);
      expect(tracker.describe()).toBeUndefined();
    } finally {
      proxy.clear();
      await Promise.allSettled(puts);
      await store.close();
    }
  }, 30_000);

  test("held requests are reported once they have waited an interval", async () => {
    const { store, lines, tracker } = storeWithLog("outage-held");
    await store.create();
    proxy.inject({ fault: "hold", fraction: 1 });
    const get = store.get("missing").catch((error: unknown) => error);
    try {
      await until(() => lines.length >= 1);
      expect(lines[0]?.line).toMatch(
        /not answering: waiting for GET missing \(\d+ s; 1 request waiting\)/,
      );
      expect(tracker.troubledSinceMs()).toBeNumber();
    } finally {
      proxy.clear();
      await get;
      await store.close();
    }
    await until(() => lines.some((l) => l.line.includes("answering again")));
  }, 30_000);
});
