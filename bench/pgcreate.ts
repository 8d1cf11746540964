/**
 * bench/pgcreate — where the time of a create on PostgreSQL goes: the floors (one round trip,
 * one durable one-row transaction, pg_test_fsync on the same disk) next to a create through the
 * Meta API, and the statements a create sends (pg_stat_statements, calls per create).
 *
 *   bun bench/pgcreate.ts [--ops N] [--write docs/benchmarks.md]
 *
 * The server is durable (fsync on, synchronous_commit on), as in bench/meta.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { ROOT_INODE } from "../src/limits.ts";
import { BaseMeta } from "../src/meta/base.ts";
import { openEngine } from "../src/meta/index.ts";
import { ROOT_CREDENTIALS as ctx, FileType } from "../src/meta/interface.ts";
import { postgresBinDir, startPostgres } from "../test/harness/postgres.ts";
import { writeSection } from "./report.ts";

const args = process.argv.slice(2);
const OPS = Number(args[args.indexOf("--ops") + 1] ?? 0) || 2000;
const writeTo = args.includes("--write") ? args[args.indexOf("--write") + 1] : undefined;

function p50(latenciesUs: number[]): number {
  const sorted = [...latenciesUs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function timed(count: number, run: (i: number) => Promise<unknown>): Promise<number> {
  const us: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await run(i);
    us.push((performance.now() - t) * 1000);
  }
  return p50(us);
}

/** pg_test_fsync's one-8kB-write-then-fdatasync rate, as microseconds per operation. */
function pgTestFsyncUs(dir: string): string {
  const bin = postgresBinDir();
  if (!bin) return "?";
  const out = Bun.spawnSync([join(bin, "pg_test_fsync"), "-s", "2", "-f", join(dir, "fsync.tmp")], {
    stdout: "pipe",
    stderr: "pipe",
  }).stdout.toString();
  const line = out.split("\n").find((l) => l.trim().startsWith("fdatasync"));
  const match = line?.match(/([\d.]+) usecs\/op/);
  return match ? `${Number(match[1]).toFixed(0)} us` : "?";
}

const load = loadavg()[0] ?? 0;
await using pg = await startPostgres({ durable: true });
await pg.query("postgres", "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
await pg.restart();
const url = await pg.createDatabase("bench");
// The statistics are the cluster's; the extension (its view) lives in another database, since
// jfs refuses a database holding tables that are not its own.
await pg.query("postgres", "CREATE EXTENSION pg_stat_statements");

// Floors, on one reserved connection of Bun.sql (as the engine uses it).
const sql = new SQL({ url: await pg.createDatabase("floor"), max: 1, prepare: true });
await sql.unsafe("CREATE TABLE floor (id INT8 PRIMARY KEY, v INT8)");
const conn = await sql.reserve();
const rttUs = await timed(OPS, () => conn.unsafe("SELECT 1").execute());
const oneRowUs = await timed(OPS, async (i) => {
  await Promise.all([
    conn.unsafe("BEGIN").execute(),
    conn.unsafe("INSERT INTO floor VALUES ($1, $1)", [i]).execute(),
    conn.unsafe("COMMIT").execute(),
  ]);
});
const readThenCommitUs = await timed(OPS, async (i) => {
  await Promise.all([
    conn.unsafe("BEGIN ISOLATION LEVEL SERIALIZABLE").execute(),
    conn.unsafe("SELECT v FROM floor WHERE id = $1", [i]).execute(),
  ]);
  await Promise.all([
    conn.unsafe("UPDATE floor SET v = v + 1 WHERE id = $1", [i]).execute(),
    conn.unsafe("COMMIT").execute(),
  ]);
});
conn.release();
await sql.close();
// The cluster's data directory is in the same temp dir as this one: the same disk.
const fsyncDir = mkdtempSync(join(tmpdir(), "jfs-bench-fsync-"));
const fsyncUs = pgTestFsyncUs(fsyncDir);
rmSync(fsyncDir, { recursive: true, force: true });

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
await meta.mknod(ctx, dir, Buffer.from("warm"), FileType.File, 0o644, 0, 0);
const stats = new SQL({ url: pg.url("postgres"), max: 1 });
await stats.unsafe("SELECT pg_stat_statements_reset()");
const createUs = await timed(OPS, (i) =>
  meta.mknod(ctx, dir, Buffer.from(`f${i}`), FileType.File, 0o644, 0, 0),
);
const rows = (await stats.unsafe(
  `SELECT calls, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
     WHERE datname = 'bench') ORDER BY calls DESC`,
)) as Array<{ calls: string; query: string }>;
await stats.close();
await meta.close();

const perCreate = rows
  .map((r) => ({ calls: Number(r.calls) / OPS, query: r.query.replace(/\s+/g, " ").slice(0, 90) }))
  .filter((r) => r.calls >= 0.01);
const statements = perCreate.reduce((s, r) => s + r.calls, 0);
const body = [
  `Command: \`bun bench/pgcreate.ts --ops ${OPS}\` (${new Date().toISOString().slice(0, 10)}, load average ${load.toFixed(1)} at start, PostgreSQL fsync on, synchronous_commit on, Bun.sql on 127.0.0.1).`,
  "",
  "| what | p50 |",
  "|---|---|",
  `| one round trip (\`SELECT 1\`) | ${rttUs.toFixed(0)} us |`,
  `| pg_test_fsync: one 8 kB write + fdatasync on the same disk | ${fsyncUs} |`,
  `| durable one-row transaction (BEGIN; INSERT; COMMIT pipelined) | ${oneRowUs.toFixed(0)} us |`,
  `| serializable read, then UPDATE + COMMIT (2 round trips + fsync) | ${readThenCommitUs.toFixed(0)} us |`,
  `| create through the Meta API | ${createUs.toFixed(0)} us |`,
  "",
  `Statements per create: ${statements.toFixed(2)} (pg_stat_statements calls / ${OPS} creates, BEGIN and COMMIT included):`,
  "",
  "| per create | statement |",
  "|---|---|",
  ...perCreate.map((r) => `| ${r.calls.toFixed(2)} | \`${r.query.replaceAll("|", "\\|")}\` |`),
].join("\n");
console.log(body);
if (writeTo) writeSection(writeTo, "PostgreSQL create: floors and statements", body);
