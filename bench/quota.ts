/**
 * bench/quota — what directory quotas cost the operations they are charged to, per engine.
 *
 *   bun bench/quota.ts [--ops N] [--engines sqlite3,redis,postgres] [--baseline]
 *
 * In one run and one process per engine, the same operations in /a/b/c twice: on a volume
 * without quotas (each transaction still reads the empty quota list) and with a quota on /a
 * (each create, write and unlink also walks c -> b -> a -> root and adds to /a's usage).
 * Latency is one operation at a time (p50); throughput 32 in flight. On Redis it also counts
 * the commands the server ran per operation (INFO total_commands_processed, WATCH/MULTI/EXEC
 * included): unlike times, that does not depend on how loaded the machine is. `--baseline` runs
 * only the rows without quotas, so that the file also runs in a checkout from before quotas.
 */
import { loadavg } from "node:os";
import { ROOT_INODE } from "../src/limits.ts";
import { BaseMeta } from "../src/meta/base.ts";
import { openEngine } from "../src/meta/index.ts";
import { ROOT_CREDENTIALS as ctx, FileType, type Ino } from "../src/meta/interface.ts";
import { startPostgres } from "../test/harness/postgres.ts";
import { startRedis } from "../test/harness/redis.ts";
import { testFormat } from "../test/meta/harness.ts";

const args = process.argv.slice(2);
const OPS = Number(args[args.indexOf("--ops") + 1] ?? 0) || 1000;
const engines = (
  args.includes("--engines") ? args[args.indexOf("--engines") + 1]! : "sqlite3,redis,postgres"
).split(",");
const CONCURRENCY = 32;
const BASELINE = args.includes("--baseline");

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function timed(count: number, run: (i: number) => Promise<unknown>): Promise<number> {
  const us: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await run(i);
    us.push((performance.now() - t) * 1000);
  }
  return p50(us);
}

async function parallel(count: number, run: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < count; i = next++) await run(i);
    }),
  );
  return count / ((performance.now() - t) / 1000);
}

/** Commands the Redis server has run so far (undefined for the other engines). */
async function redisCommands(url: string): Promise<number | undefined> {
  if (!url.startsWith("redis")) return undefined;
  const { Redis } = await import("ioredis");
  const conn = new Redis(url);
  try {
    const info = await conn.info("stats");
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1]);
  } finally {
    conn.disconnect();
  }
}

async function one(engine: string, url: string, withQuota: boolean): Promise<string> {
  const meta = new BaseMeta(await openEngine(url));
  await meta.destroy();
  await meta.format(testFormat(), false);
  const mk = async (parent: Ino, name: string) =>
    (await meta.mkdir(ctx, parent, Buffer.from(name), 0o755, 0)).inode;
  const a = await mk(ROOT_INODE, "a");
  const c = await mk(await mk(a, "b"), "c");
  if (withQuota) await meta.setQuota(a, { capacityBytes: 1024 ** 4, inodes: 10_000_000 });
  const name = (p: string, i: number) => Buffer.from(`${p}${i}`);
  const files: Ino[] = [];
  const before = await redisCommands(url);
  const create = await timed(OPS, async (i) =>
    files.push((await meta.mknod(ctx, c, name("f", i), FileType.File, 0o644, 0, 0)).inode),
  );
  const after = await redisCommands(url);
  // Less the INFO call itself.
  const perCreate =
    before === undefined || after === undefined
      ? ""
      : `  ${((after - before - 1) / OPS).toFixed(1)} cmds/create`;
  const createPar = await parallel(OPS, (i) =>
    meta.mknod(ctx, c, name("p", i), FileType.File, 0o644, 0, 0),
  );
  const beforeWrite = await redisCommands(url);
  const write = await timed(OPS, async (i) => {
    const id = await meta.newSliceId();
    await meta.write(files[i]!, 0, { id, size: 4096, off: 0, len: 4096, pos: 0 });
  });
  const afterWrite = await redisCommands(url);
  const perWrite =
    beforeWrite === undefined || afterWrite === undefined
      ? ""
      : `  ${((afterWrite - beforeWrite - 1) / OPS).toFixed(1)} cmds/write`;
  const unlink = await timed(OPS, (i) => meta.unlink(ctx, c, name("f", i)));
  await meta.close();
  const us = (v: number) => `${v.toFixed(0).padStart(5)} us`;
  return `${engine.padEnd(8)} ${withQuota ? "quota on /a" : "no quotas  "}  create ${us(create)}  create x32 ${createPar.toFixed(0).padStart(6)}/s  write ${us(write)}  unlink ${us(unlink)}${perCreate}${perWrite}`;
}

const servers: Array<{ stop(): Promise<void> }> = [];
try {
  for (const engine of engines) {
    let url: string;
    if (engine === "sqlite3") url = `sqlite3:///tmp/jfs-bench-quota-${process.pid}.db`;
    else if (engine === "redis") {
      const r = await startRedis();
      servers.push(r);
      url = r.url(1);
    } else {
      const pg = await startPostgres();
      servers.push(pg);
      url = await pg.createDatabase("benchquota");
    }
    for (const withQuota of BASELINE ? [false, false] : [false, true, false, true]) {
      console.log(`${await one(engine, url, withQuota)}   load ${loadavg()[0]!.toFixed(1)}`);
    }
  }
} finally {
  for (const s of servers) await s.stop();
}
