/**
 * bench/meta — per-operation latency and throughput of the Meta API on each engine.
 *
 *   bun bench/meta.ts [--ops N] [--engines sqlite3,redis,postgres] [--write docs/benchmarks.md]
 *
 * One client, operations one after another (latency), then 32 in flight (throughput).
 * SQLite runs in a temp dir; Redis is a real redis-server and PostgreSQL a real server (its own
 * cluster, fsync on as in production) started here on 127.0.0.1.
 * JuiceFS's published figures are the reference: on Redis create 570 us, lookup 173 us,
 * getattr 87 us, readdir of 1k entries 1490 us; on PostgreSQL 844, 375, 350 us and 18.4 ms.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_INODE } from "../src/limits.ts";
import { BaseMeta } from "../src/meta/base.ts";
import { openEngine } from "../src/meta/index.ts";
import { ROOT_CREDENTIALS as ctx, FileType } from "../src/meta/interface.ts";
import { postgresBinDir, startPostgres } from "../test/harness/postgres.ts";
import { startRedis } from "../test/harness/redis.ts";
import { writeSection } from "./report.ts";

const args = process.argv.slice(2);
const OPS = Number(args[args.indexOf("--ops") + 1] ?? 0) || 2000;
const writeTo = args.includes("--write") ? args[args.indexOf("--write") + 1] : undefined;
const engines = (
  args.includes("--engines") ? args[args.indexOf("--engines") + 1]! : "sqlite3,redis,postgres"
).split(",");
const CONCURRENCY = 32;

interface Row {
  engine: string;
  op: string;
  p50Us: number;
  p99Us: number;
  opsPerSec: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

async function measure(
  engine: string,
  op: string,
  count: number,
  run: (i: number) => Promise<unknown>,
): Promise<Row> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await run(i);
    latencies.push((performance.now() - t) * 1000);
  }
  latencies.sort((a, b) => a - b);
  return {
    engine,
    op,
    p50Us: percentile(latencies, 50),
    p99Us: percentile(latencies, 99),
    opsPerSec: 0,
  };
}

async function throughput(count: number, run: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < count; i = next++) await run(i);
    }),
  );
  return count / ((performance.now() - t) / 1000);
}

async function benchEngine(engine: string, url: string): Promise<Row[]> {
  const meta = new BaseMeta(await openEngine(url));
  await meta.format(
    {
      name: "bench",
      uuid: crypto.randomUUID(),
      storage: "file",
      bucket: "/nonexistent",
      blockSizeKiB: 4096,
      compression: "none",
      capacityBytes: 0,
      inodes: 0,
      trashDays: 0,
      metaVersion: 1,
      createdAt: new Date().toISOString(),
    },
    false,
  );
  const dir = (await meta.mkdir(ctx, ROOT_INODE, Buffer.from("d"), 0o755, 0)).inode;
  const name = (prefix: string, i: number) => Buffer.from(`${prefix}${i}`);
  const inodes: number[] = [];
  const rows: Row[] = [];
  const row = async (
    op: string,
    fn: (i: number) => Promise<unknown>,
    tput: (i: number) => Promise<unknown>,
  ) => {
    const r = await measure(engine, op, OPS, fn);
    r.opsPerSec = await throughput(OPS, tput);
    rows.push(r);
    console.log(
      `${engine.padEnd(8)} ${op.padEnd(12)} p50 ${r.p50Us.toFixed(0).padStart(6)} us  p99 ${r.p99Us.toFixed(0).padStart(6)} us  ${r.opsPerSec.toFixed(0).padStart(7)} ops/s`,
    );
  };
  await row(
    "create",
    async (i) =>
      inodes.push((await meta.mknod(ctx, dir, name("f", i), FileType.File, 0o644, 0, 0)).inode),
    (i) => meta.mknod(ctx, dir, name("t", i), FileType.File, 0o644, 0, 0),
  );
  await row(
    "lookup",
    (i) => meta.lookup(ctx, dir, name("f", i)),
    (i) => meta.lookup(ctx, dir, name("t", i)),
  );
  await row(
    "getattr",
    (i) => meta.getattr(ctx, inodes[i]!),
    (i) => meta.getattr(ctx, inodes[i]!),
  );
  const big = (await meta.mkdir(ctx, ROOT_INODE, Buffer.from("big"), 0o755, 0)).inode;
  for (let i = 0; i < 1000; i++)
    await meta.mknod(ctx, big, name("e", i), FileType.File, 0o644, 0, 0);
  const listAll = async () => {
    let cookie = 0;
    for (;;) {
      const page = await meta.readdir(ctx, big, cookie, 1000, true);
      if (page.length === 0) return;
      cookie = page.at(-1)!.cookie;
    }
  };
  const listRows = Math.max(20, Math.floor(OPS / 50));
  const r = await measure(engine, "readdir 1k", listRows, listAll);
  r.opsPerSec = await throughput(listRows, listAll);
  rows.push(r);
  console.log(
    `${engine.padEnd(8)} readdir 1k   p50 ${r.p50Us.toFixed(0).padStart(6)} us  p99 ${r.p99Us.toFixed(0).padStart(6)} us  ${r.opsPerSec.toFixed(0).padStart(7)} ops/s`,
  );
  await row(
    "rename",
    (i) => meta.rename(ctx, dir, name("f", i), dir, name("g", i), 0),
    (i) => meta.rename(ctx, dir, name("t", i), dir, name("u", i), 0),
  );
  await row(
    "unlink",
    (i) => meta.unlink(ctx, dir, name("g", i)),
    (i) => meta.unlink(ctx, dir, name("u", i)),
  );
  await meta.close();
  return rows;
}

function postgresVersion(): string {
  const bin = postgresBinDir();
  return bin ? bin.split("/").at(-2)! : "?";
}

/** Other work on the machine moves every figure, the tails most: the table says how much. */
const loadAtStart = loadavg()[0] ?? 0;
const tmp = mkdtempSync(join(tmpdir(), "jfs-bench-meta-"));
const redis = engines.includes("redis") ? await startRedis() : undefined;
const postgres = engines.includes("postgres")
  ? await startPostgres({ durable: !args.includes("--no-fsync") })
  : undefined;
try {
  const rows: Row[] = [];
  if (engines.includes("sqlite3"))
    rows.push(...(await benchEngine("sqlite3", `sqlite3://${tmp}/meta.db`)));
  if (redis) rows.push(...(await benchEngine("redis", redis.url(1))));
  if (postgres)
    rows.push(...(await benchEngine("postgres", await postgres.createDatabase("bench"))));
  const reference: Record<string, number> = {
    create: 570,
    lookup: 173,
    getattr: 87,
    "readdir 1k": 1490,
  };
  const referencePg: Record<string, number> = {
    create: 844,
    lookup: 375,
    getattr: 350,
    "readdir 1k": 18400,
  };
  const table = [
    "| engine | operation | p50 | p99 | ops/s (32 in flight) | JuiceFS on Redis (published) | JuiceFS on PostgreSQL (published) |",
    "|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.engine} | ${r.op} | ${r.p50Us.toFixed(0)} us | ${r.p99Us.toFixed(0)} us | ${r.opsPerSec.toFixed(0)} | ${reference[r.op] ? `${reference[r.op]} us` : ""} | ${referencePg[r.op] ? `${referencePg[r.op]} us` : ""} |`,
    ),
  ].join("\n");
  if (writeTo) {
    writeSection(
      writeTo,
      "Metadata engines",
      `Command: \`bun bench/meta.ts --ops ${OPS} --write ${writeTo}\` (${new Date().toISOString().slice(0, 10)}, ` +
        `${navigator.hardwareConcurrency} cores, load average ${loadAtStart.toFixed(1)} at start, Bun ${Bun.version}, redis-server and PostgreSQL ${postgresVersion()} (fsync on) on 127.0.0.1).\n` +
        "Latency: one client, one operation at a time, through the Meta API (no FUSE/NFS in the path).\n\n" +
        table,
    );
    console.log(`written to ${writeTo}`);
  } else {
    console.log(table);
  }
} finally {
  await redis?.stop();
  await postgres?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
