/**
 * /metrics of a real `jfs serve --nfs --s3` child: scraped over HTTP, parsed as the text
 * exposition format, and checked to move after real NFS calls (the test's RPC client) and real
 * signed S3 requests: front-end ops by name, meta transactions, object requests and bytes,
 * caches, sessions. Then the port rules: a busy explicit --metrics refuses to start in one line,
 * --no-metrics serves none, and a busy default port moves on to the next one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { parseExposition, sumOf } from "../../src/metrics/parse.ts";
import { startMetricsServer } from "../../src/metrics/server.ts";
import { jfs } from "../cli/harness.ts";
import { ACCESS_KEY, SECRET_KEY, signedFetch } from "../gateway/harness.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "../nfs/harness.ts";
import { NfsClient } from "../nfs/nfsclient.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const METRICS_LINE = /metrics: serving on http:\/\/([^/\s]+)\/metrics/;
const S3_READY = /^s3: serving nfsvol on (http:\/\/127\.0\.0\.1:\d+)$/m;

let volume: TestVolume;
let serve: ServeProcess;
let metricsAddress: string;
let s3Endpoint: string;

async function scrape(address = metricsAddress) {
  const response = await fetch(`http://${address}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  return parseExposition(await response.text());
}

beforeAll(async () => {
  volume = await makeVolume();
  mkdirSync(volume.home, { recursive: true });
  serve = await spawnServe(volume, ["--s3", "127.0.0.1:0", "--metrics", "127.0.0.1:0"], {
    env: { JFS_GATEWAY_ACCESS_KEY: ACCESS_KEY, JFS_GATEWAY_SECRET_KEY: SECRET_KEY },
  });
  const address = METRICS_LINE.exec(serve.stdout())?.[1];
  if (address === undefined) throw new Error(`no metrics line in: ${serve.stdout()}`);
  metricsAddress = address;
  const endpoint = S3_READY.exec(serve.stdout())?.[1];
  if (endpoint === undefined) throw new Error(`no s3 line in: ${serve.stdout()}`);
  s3Endpoint = endpoint;
});

afterAll(async () => {
  await serve?.stop();
  volume?.[Symbol.dispose]();
});

describe("a real scrape of jfs serve", () => {
  test("every family has HELP and TYPE; histograms are cumulative and end in +Inf", async () => {
    const { samples, types } = await scrape();
    for (const family of [
      "jfs_nfs_op_duration_seconds",
      "jfs_meta_txn_duration_seconds",
      "jfs_object_request_duration_seconds",
    ]) {
      expect(types.get(family)).toBe("histogram");
    }
    expect(types.get("jfs_cache_hits_total")).toBe("counter");
    expect(types.get("jfs_write_buffer_used_bytes")).toBe("gauge");
    expect(types.get("jfs_write_buffer_pooled_bytes")).toBe("gauge");
    // Opening the volume ran transactions: some histogram has samples to check.
    const buckets = samples.filter(
      (s) => s.name === "jfs_meta_txn_duration_seconds_bucket" && s.labels.kind === "read",
    );
    expect(buckets.length).toBeGreaterThan(2);
    for (let i = 1; i < buckets.length; i++) {
      expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    }
    expect(buckets.at(-1)!.labels.le).toBe("+Inf");
    const count = sumOf(samples, "jfs_meta_txn_duration_seconds_count", { kind: "read" });
    expect(buckets.at(-1)!.value).toBe(count);
    expect(sumOf(samples, "jfs_sessions")).toBe(1);
  });

  test("NFS calls, meta transactions, object requests and caches move after real I/O", async () => {
    const before = (await scrape()).samples;
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    {
      await using client = await NfsClient.connect(serve.port);
      const root = await client.mount("/");
      const fh = await client.writeFile(root, "metrics.bin", data);
      expect((await client.readFile(fh)).equals(data)).toBe(true);
      // Again: now every byte comes from the memory cache, however the writes were sliced.
      expect((await client.readFile(fh)).equals(data)).toBe(true);
    }
    const after = (await scrape()).samples;
    const grew = (name: string, where: Record<string, string> = {}) =>
      sumOf(after, name, where) - sumOf(before, name, where);
    expect(grew("jfs_nfs_op_duration_seconds_count", { op: "CREATE" })).toBe(1);
    expect(grew("jfs_nfs_op_duration_seconds_count", { op: "WRITE" })).toBe(3);
    expect(grew("jfs_nfs_op_duration_seconds_count", { op: "COMMIT" })).toBe(1);
    expect(grew("jfs_nfs_op_duration_seconds_count", { op: "READ" })).toBeGreaterThanOrEqual(6);
    expect(grew("jfs_nfs_op_duration_seconds_sum", { op: "WRITE" })).toBeGreaterThan(0);
    expect(grew("jfs_nfs_op_duration_seconds_count", { op: "MOUNT_MNT" })).toBe(1);
    expect(grew("jfs_written_bytes_total")).toBe(data.length);
    expect(grew("jfs_read_bytes_total")).toBe(2 * data.length);
    expect(grew("jfs_meta_txn_duration_seconds_count", { kind: "write" })).toBeGreaterThan(0);
    // The 3 MiB file is one block, or one per WRITE when the buffer was flushed between them
    // (FLUSH_IDLE_MS passes on a loaded machine): its bytes once (checksum trailers not counted).
    const puts = grew("jfs_object_request_duration_seconds_count", { op: "put" });
    expect(puts).toBeGreaterThanOrEqual(1);
    expect(puts).toBeLessThanOrEqual(3);
    expect(grew("jfs_object_request_bytes_total", { op: "put" })).toBe(data.length);
    expect(sumOf(after, "jfs_object_requests_in_flight", { op: "put" })).toBe(0);
    // Read back through the memory cache (the serve runs with --cache-dir memory): the first
    // pass misses and loads each block, the second is served from the cache alone.
    expect(grew("jfs_cache_misses_total", { cache: "memory" })).toBeGreaterThan(0);
    expect(grew("jfs_cache_hits_total", { cache: "memory" })).toBeGreaterThan(0);
    const hitBytes = grew("jfs_cache_hit_bytes_total", { cache: "memory" });
    expect(hitBytes).toBeGreaterThanOrEqual(data.length);
    expect(hitBytes).toBeLessThan(2 * data.length);
    expect(grew("jfs_object_request_bytes_total", { op: "get" })).toBe(data.length);
    expect(sumOf(after, "jfs_cache_used_bytes", { cache: "memory" })).toBe(data.length);
  });

  test("S3 gateway requests are counted by operation", async () => {
    const before = (await scrape()).samples;
    expect((await signedFetch(s3Endpoint, "PUT", "/mbucket", "")).status).toBe(200);
    expect((await signedFetch(s3Endpoint, "PUT", "/mbucket/k.txt", "hello")).status).toBe(200);
    expect((await signedFetch(s3Endpoint, "GET", "/mbucket/k.txt", "")).status).toBe(200);
    expect((await signedFetch(s3Endpoint, "GET", "/mbucket/none", "")).status).toBe(404);
    const after = (await scrape()).samples;
    const grew = (name: string, where: Record<string, string>) =>
      sumOf(after, name, where) - sumOf(before, name, where);
    const ops = "jfs_gateway_op_duration_seconds_count";
    expect(grew(ops, { op: "CreateBucket" })).toBe(1);
    expect(grew(ops, { op: "PutObject" })).toBe(1);
    expect(grew(ops, { op: "GetObject" })).toBe(2);
    expect(grew("jfs_op_errors_total", { layer: "gateway", op: "GetObject" })).toBe(1);
  });
});

describe("jfs gateway", () => {
  test("serves /metrics too, its address printed after the ready line", async () => {
    const proc = Bun.spawn(
      [
        "bun",
        MAIN,
        "gateway",
        volume.metaUrl,
        "--address",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--cache-dir",
        "memory",
      ],
      {
        env: {
          ...process.env,
          HOME: volume.home,
          JFS_GATEWAY_ACCESS_KEY: ACCESS_KEY,
          JFS_GATEWAY_SECRET_KEY: SECRET_KEY,
        },
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    try {
      const reader = proc.stdout.getReader();
      let text = "";
      while (!METRICS_LINE.test(text)) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`gateway exited: ${text}`);
        text += new TextDecoder().decode(value);
      }
      expect(text).toMatch(/^s3: serving nfsvol on http:\/\/127\.0\.0\.1:\d+\nmetrics: serving/);
      const endpoint = /on (http:\/\/\S+)/.exec(text)![1]!;
      expect((await signedFetch(endpoint, "GET", "/", "")).status).toBe(200);
      const { samples } = await scrape(METRICS_LINE.exec(text)![1]!);
      expect(sumOf(samples, "jfs_gateway_op_duration_seconds_count", { op: "ListBuckets" })).toBe(
        1,
      );
      // The gateway and the serve of beforeAll: two sessions of the volume.
      expect(sumOf(samples, "jfs_sessions")).toBe(2);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  });
});

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("the metrics port", () => {
  test("a busy --metrics port refuses to start, in one line", async () => {
    const busy = await listenOn(0);
    try {
      const port = portOf(busy);
      const r = await jfs(
        ["serve", "--nfs", "--port", "0", "--metrics", `127.0.0.1:${port}`, volume.metaUrl],
        { HOME: volume.home },
        undefined,
        30_000,
      );
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`Cannot serve metrics: 127.0.0.1:${port} is already in use`);
    } finally {
      busy.close();
    }
  });

  test("a malformed --metrics address is one line too", async () => {
    const r = await jfs(["serve", "--nfs", "--metrics", "nowhere", volume.metaUrl]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--metrics nowhere: expected HOST:PORT");
  });

  test("--no-metrics serves no endpoint", async () => {
    await using quiet = await spawnServe(volume, ["--no-metrics"]);
    expect(quiet.stdout()).not.toMatch(METRICS_LINE);
  });

  test("a busy default port moves on to the next free one; an explicit one does not", async () => {
    const busy = await listenOn(0);
    try {
      const port = portOf(busy);
      const moved = startMetricsServer({ hostname: "127.0.0.1", port, explicit: false });
      try {
        expect(moved.port).not.toBe(port);
        expect(moved.moved).toBe(true);
        const { samples } = await scrape(moved.address);
        expect(sumOf(samples, "jfs_uptime_seconds")).toBeGreaterThan(0);
      } finally {
        await moved.stop();
      }
      expect(() => startMetricsServer({ hostname: "127.0.0.1", port, explicit: true })).toThrow(
        "already in use",
      );
    } finally {
      busy.close();
    }
  });
});
