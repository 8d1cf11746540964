/**
 * `jfs gateway` against s3rver as S3 servers on this machine: PUT and GET of 16 KiB and 64 MiB
 * objects at 1 and 16 requests in flight, the same client for both (S3ObjectStore: fetch with
 * our own SigV4, payload signed).
 *
 * Both servers are child processes: the gateway is `bun src/main.ts gateway` on a fresh volume
 * (SQLite meta, local file store, the default disk cache under a temp HOME); s3rver runs under
 * node as the tests start it (test/harness/s3server.ts), reached directly, without the tests'
 * SigV4 gate (s3rver checks no V4 signature; the gateway checks every one, and the payload's
 * SHA-256). The two servers run one after the other within each cell, so the ratio of a cell is
 * taken under the same load.
 *
 *   bun bench/gateway.ts [--write docs/benchmarks.md]
 *   bun bench/gateway.ts --profile DIR [--ops PUT] [--sizes 16384]   # the gateway alone, under
 *     `bun --cpu-prof` (the profile lands in DIR when it stops; bench/cpuprof_summary.ts reads it)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { S3ObjectStore } from "../src/object/s3.ts";
import { startS3Server } from "../test/harness/s3server.ts";
import { writeSection } from "./report.ts";

const MAIN = join(import.meta.dir, "../src/main.ts");
const BUCKET = "bench";
const REGION = "us-east-1";
const KiB = 1024;
const MiB = 1024 * KiB;
const argValue = (name: string): string | undefined =>
  process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
const PROFILE_DIR = argValue("--profile");
const SIZES_BYTES = (argValue("--sizes") ?? `${16 * KiB},${64 * MiB}`).split(",").map(Number);
const OPS = (argValue("--ops") ?? "PUT,GET").split(",") as Array<"PUT" | "GET">;
const IN_FLIGHT = [1, 16];
const WARMUP_REQUESTS = 4;
const GATEWAY_KEY = "bench-access";
const GATEWAY_SECRET = "bench-secret-key";

/** Enough requests for a steady rate, few enough to keep the run short (64 MiB: 0.5–1 GiB). */
function requestsFor(sizeBytes: number, inFlight: number): number {
  return sizeBytes <= 64 * KiB ? Math.max(200, 20 * inFlight) : Math.max(8, inFlight);
}

interface Target {
  name: string;
  store: S3ObjectStore;
  stop(): Promise<void>;
}

async function startJfsGateway(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "jfs-bench-gw-"));
  const metaUrl = `sqlite3://${join(dir, "meta.db")}`;
  const env = {
    ...process.env,
    HOME: dir,
    JFS_GATEWAY_ACCESS_KEY: GATEWAY_KEY,
    JFS_GATEWAY_SECRET_KEY: GATEWAY_SECRET,
  };
  const format = Bun.spawnSync(
    ["bun", MAIN, "format", metaUrl, "benchvol", "--bucket", join(dir, "data")],
    { env, stdout: "ignore", stderr: "pipe" },
  );
  if (format.exitCode !== 0) throw new Error(`jfs format: ${format.stderr.toString()}`);
  const profile = PROFILE_DIR === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`];
  const proc = Bun.spawn(
    ["bun", ...profile, MAIN, "gateway", metaUrl, "--address", "127.0.0.1:0"],
    {
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`jfs gateway exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  const endpoint = /on (http:\/\/\S+)/.exec(text)?.[1];
  if (endpoint === undefined) throw new Error(`jfs gateway said: ${text}`);
  const store = new S3ObjectStore({
    bucketUrl: `${endpoint}/${BUCKET}`,
    accessKey: GATEWAY_KEY,
    secretKey: GATEWAY_SECRET,
    region: REGION,
  });
  return {
    name: "jfs gateway",
    store,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startS3rver(): Promise<Target> {
  const s3 = await startS3Server();
  const store = new S3ObjectStore({
    bucketUrl: `${s3.directEndpoint}/${BUCKET}`,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    region: REGION,
  });
  return { name: "s3rver", store, stop: () => s3.stop() };
}

/** Runs `run` over `keys` with `inFlight` at a time; wall seconds. */
async function measure(
  keys: string[],
  inFlight: number,
  run: (key: string) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < keys.length) await run(keys[next++]!);
    }),
  );
  return (performance.now() - started) / 1000;
}

const label = (bytes: number) => (bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`);

const writeIndex = process.argv.indexOf("--write");
const writePath = writeIndex < 0 ? undefined : process.argv[writeIndex + 1];

const targets =
  PROFILE_DIR === undefined
    ? [await startJfsGateway(), await startS3rver()]
    : [await startJfsGateway()];
try {
  for (const t of targets) await t.store.create();
  const loadStart = loadavg()[0] ?? 0;
  const rows: string[] = [];
  for (const sizeBytes of SIZES_BYTES) {
    const body = new Uint8Array(sizeBytes);
    crypto.getRandomValues(body.subarray(0, Math.min(sizeBytes, 65536)));
    for (const t of targets) {
      for (let i = 0; i < WARMUP_REQUESTS; i++) {
        await t.store.put(`warm/${i}`, body);
        await t.store.get(`warm/${i}`);
      }
    }
    for (const op of OPS) {
      for (const inFlight of IN_FLIGHT) {
        const n = requestsFor(sizeBytes, inFlight);
        const rates: number[] = [];
        for (const t of targets) {
          Bun.gc(true);
          const keys = Array.from({ length: n }, (_, i) => `${sizeBytes}/${i}`);
          const run =
            op === "PUT"
              ? (key: string) => t.store.put(key, body)
              : async (key: string) => {
                  const got = await t.store.get(key);
                  if (got.byteLength !== sizeBytes)
                    throw new Error(`${t.name} GET ${key}: ${got.byteLength} bytes`);
                };
          rates.push(n / (await measure(keys, inFlight, run)));
        }
        const cells = rates.map((r) =>
          sizeBytes >= MiB
            ? `${r.toFixed(2)} req/s (${((r * sizeBytes) / MiB).toFixed(0)} MiB/s)`
            : `${r.toFixed(0)} req/s`,
        );
        const ratio = rates.length > 1 ? (rates[0]! / rates[1]!).toFixed(2) : "-";
        rows.push(
          `| ${op} ${label(sizeBytes)} | ${inFlight} | ${n} | ${cells.join(" | ")} | ${ratio}x |`,
        );
        console.error(rows[rows.length - 1]);
      }
    }
  }
  const loadEnd = loadavg()[0] ?? 0;
  const date = new Date().toISOString().slice(0, 10);
  const report = [
    `Command: \`bun bench/gateway.ts ${process.argv.slice(2).join(" ")}\` (${date}, 2 cores, Bun ${Bun.version}, load average ${loadStart.toFixed(1)} at start and ${loadEnd.toFixed(1)} at end). Both servers are child processes on 127.0.0.1 with the same client (S3ObjectStore: fetch, SigV4, payload signed); the gateway on a fresh volume (SQLite, local file store, default disk cache), s3rver reached without the tests' SigV4 gate (it checks no V4 signature, the gateway checks every one and the payload's SHA-256). Within a row the two ran one after the other; the ratio is gateway / s3rver requests/s.`,
    "",
    "| request | in flight | requests | jfs gateway | s3rver | ratio |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
  console.log(report);
  if (writePath !== undefined) writeSection(writePath, "S3 gateway: jfs gateway vs s3rver", report);
} finally {
  for (const t of targets) await t.stop();
}
