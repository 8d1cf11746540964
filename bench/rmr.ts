/**
 * bench/rmr — removing a tree on a FUSE mount with `rm -rf` (the kernel walks it: a lookup,
 * getattr and unlink round trip per name) against `jfs rmr` (straight through the metadata
 * engine, RMR_BATCH_ENTRIES names per transaction). SQLite meta (or `--meta redis`: a
 * redis-server started here) and a file bucket in /tmp, trash off, one run each. `--old-main
 * DIR` adds the rmr of another checkout (one transaction per name, before batching:
 * /work/wt-old) on a third tree of the same run, as the baseline.
 *
 *   bun bench/rmr.ts [--dirs 20] [--files 500] [--meta sqlite|redis] [--old-main DIR]
 *                    [--write docs/benchmarks.md]
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RMR_BATCH_ENTRIES } from "../src/limits.ts";
import { openMeta } from "../src/meta/index.ts";
import { formatVolume, newFormat } from "../src/volume/open.ts";
import { createVolume, jfs, startMount, stopMount, type TestVolume } from "../test/fuse/harness.ts";
import { type RedisServer, startRedis } from "../test/harness/redis.ts";
import { writeSection } from "./report.ts";

const { values } = parseArgs({
  options: {
    dirs: { type: "string" },
    files: { type: "string" },
    write: { type: "string" },
    "old-main": { type: "string" },
    meta: { type: "string" },
  },
});
const DIRS = Number(values.dirs ?? 20);
const FILES = Number(values.files ?? 500);

const ENGINE = values.meta ?? "sqlite";
if (ENGINE !== "sqlite" && ENGINE !== "redis") throw new Error("--meta is sqlite or redis");

/** The same volume as createVolume's, its metadata on a redis-server of its own. */
async function redisVolume(redis: RedisServer): Promise<TestVolume> {
  const sqlite = await createVolume("rmrbench-files", { trashDays: 0 });
  const metaUrl = redis.url(1);
  const meta = await openMeta(metaUrl, { create: true });
  try {
    const format = newFormat({ name: "rmrbench", bucket: join(sqlite.root, "data"), trashDays: 0 });
    await formatVolume(meta, format, false);
  } finally {
    await meta.close();
  }
  return { ...sqlite, metaUrl };
}

const redis = ENGINE === "redis" ? await startRedis() : undefined;
const volume = redis ? await redisVolume(redis) : await createVolume("rmrbench", { trashDays: 0 });
const mnt = join(volume.root, "mnt");
const m = await startMount(volume, mnt, ["--cache-dir", "memory"]);

function makeTree(name: string): string {
  const top = join(mnt, name);
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(top, `d${d}`), { recursive: true });
    for (let f = 0; f < FILES; f++) writeFileSync(join(top, `d${d}`, `f${f}`), "x");
  }
  return top;
}

/** Block objects in the bucket (the file store keeps each as a file). */
function objectCount(): number {
  let count = 0;
  const stack = [join(volume.root, "data")];
  while (stack.length > 0) {
    const d = stack.pop()!;
    // A directory emptied by a delete meanwhile is pruned under the walk.
    const entries = (() => {
      try {
        return readdirSync(d, { withFileTypes: true });
      } catch {
        return [];
      }
    })();
    for (const e of entries) {
      if (e.isDirectory()) stack.push(join(d, e.name));
      else if (/_\d+_\d+$/.test(e.name)) count++;
    }
  }
  return count;
}

const FREED_WAIT_MS_MAX = 300_000;

/**
 * Seconds until `work` returns, and until the removed files' objects are gone from the bucket
 * (the mount deletes them in the background after `rm -rf`; rmr's own process while it runs):
 * the second is the whole cost, with the next removal not paying for this one's leftovers.
 */
async function timed(work: () => Promise<void>): Promise<{ returned: number; freed: number }> {
  const before = objectCount();
  const t0 = performance.now();
  await work();
  const returned = (performance.now() - t0) / 1000;
  while (objectCount() > before - DIRS * FILES) {
    if (performance.now() - t0 > FREED_WAIT_MS_MAX) throw new Error("objects not freed");
    await Bun.sleep(100);
  }
  return { returned, freed: (performance.now() - t0) / 1000 };
}

/** `jfs rmr` of a checkout's src/main.ts, as a whole process. */
async function rmrWith(main: string, tree: string): Promise<void> {
  const p = Bun.spawn(["bun", main, "rmr", volume.metaUrl, tree], { stderr: "pipe" });
  if ((await p.exited) !== 0) {
    throw new Error(`${main} rmr failed: ${await new Response(p.stderr).text()}`);
  }
}

const oldMain =
  values["old-main"] === undefined ? undefined : join(values["old-main"], "src/main.ts");
const load0 = loadavg()[0]!.toFixed(2);
let rmSeconds = { returned: 0, freed: 0 };
let rmrSeconds = { returned: 0, freed: 0 };
let oldSeconds = { returned: 0, freed: 0 };
try {
  const a = makeTree("a");
  rmSeconds = await timed(async () => {
    const p = Bun.spawn(["rm", "-rf", a]);
    if ((await p.exited) !== 0) throw new Error("rm -rf failed");
  });
  const b = makeTree("b");
  rmrSeconds = await timed(async () => {
    const r = await jfs(["rmr", volume.metaUrl, b]);
    if (r.code !== 0) throw new Error(`jfs rmr failed: ${r.stderr}`);
  });
  if (oldMain !== undefined) {
    const c = makeTree("c");
    oldSeconds = await timed(() => rmrWith(oldMain, c));
  }
} finally {
  await stopMount(m);
  volume.cleanup();
  await redis?.stop();
}
const n = DIRS * FILES;
const load1 = loadavg()[0]!.toFixed(2);
const row = (how: string, t: { returned: number; freed: number }) =>
  `| ${how} | ${t.returned.toFixed(2)} | ${Math.round(n / t.returned)} | ${t.freed.toFixed(2)} |`;
const oldFlag =
  (ENGINE === "sqlite" ? "" : ` --meta ${ENGINE}`) +
  (oldMain === undefined ? "" : ` --old-main ${values["old-main"]}`);
const engineText = ENGINE === "sqlite" ? "SQLite meta" : "Redis meta (a local redis-server)";
const body = `Command: \`bun bench/rmr.ts --dirs ${DIRS} --files ${FILES}${oldFlag}\` (${new Date().toISOString().slice(0, 10)}, 2 cores, load average ${load0} → ${load1}, Bun ${Bun.version}).
A tree of ${n} one-byte files in ${DIRS} directories on a FUSE mount (${engineText}, file bucket, trash off), removed once each way; \`jfs rmr\` is a whole process, start-up included. The last column waits until the files' block objects are deleted too (by the mount's background deletion; an \`--old-main\` rmr deletes them in its own process when its deletion timer fired during the run).

| how | seconds to return | files/s | seconds until the objects are gone |
|---|---|---|---|
${row("`rm -rf` on the mount", rmSeconds)}
${row(`\`jfs rmr\` (${RMR_BATCH_ENTRIES} names per transaction)`, rmrSeconds)}
${oldMain === undefined ? "" : `${row(`\`jfs rmr\` of ${values["old-main"]} (a transaction per name, 16 at once)`, oldSeconds)}\n`}`;
console.log(body);
const title = `rmr vs rm -rf on a mount${ENGINE === "sqlite" ? "" : ` (${ENGINE})`}`;
if (values.write) writeSection(values.write, title, body);
