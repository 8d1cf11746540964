/**
 * Cold DataLoader epochs (issue 12, item 3): one epoch of a PyTorch DataLoader (num_workers=2,
 * shuffle; test/posix/dataloader.py) over N small files (1-16 KiB) in S3, every cache empty
 * (remount, cache directory emptied, kernel caches dropped), on one S3 server (s3rver behind
 * its SigV4 gate) in one run:
 *   - jfs as it is (default flags, SQLite meta: directory prefetch on),
 *   - jfs with --no-dir-prefetch (as before directory prefetch),
 *   - jfs with the loader's order handed to the mount (--prefetch: PrefetchSampler),
 *   - jfs after `jfs warmup --threads 32` of the dataset (the warmup timed on its own),
 *   - rclone mount --vfs-cache-mode full,
 *   - and the floor: raw GETs of all of jfs's objects of the dataset at 32 in flight.
 * Rounds alternate the systems so the machine's drifting load touches each alike.
 *
 *   bun bench/epoch.ts [--files 10000] [--rounds 2] [--no-report | --docs FILE]
 *
 * Writes the section "Cold DataLoader epoch: prefetch, warmup, rclone, raw GET" of
 * docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { S3ObjectStore } from "../src/object/s3.ts";
import { startS3Server } from "../test/harness/s3server.ts";
import { dropCaches, findS3rverPid, python, type Runner } from "./fuse_run.ts";
import { type BenchFs, jfsFs, REPO, rcloneFs, run, type S3Target } from "./fuse_systems.ts";
import { writeSection } from "./report.ts";

const { values: flags } = parseArgs({
  options: {
    files: { type: "string", default: "10000" },
    rounds: { type: "string", default: "2" },
    "no-report": { type: "boolean", default: false },
    docs: { type: "string", default: join(REPO, "docs/benchmarks.md") },
  },
});
const FILES = Number(flags.files);
const ROUNDS = Number(flags.rounds);
const PER_CLASS = Math.max(1, Math.round(FILES / 100));
const DATALOADER = join(REPO, "test/posix/dataloader.py");
const MAIN = join(REPO, "src/main.ts");
const RAW_IN_FLIGHT = 32;
const TITLE = "Cold DataLoader epoch: prefetch, warmup, rclone, raw GET";

interface Epoch {
  seconds: number;
  files: number;
  mismatched: number;
  jfs: { misses: number; joins: number; loaded: number; downloads: number } | null;
}

function log(text: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}

const load1 = () => (loadavg()[0] ?? 0).toFixed(2);

async function writeDataset(fs: BenchFs, runner: Runner, manifest: string): Promise<void> {
  await fs.mount();
  const dataset = join(fs.dir, "dataset");
  await mkdir(dataset);
  // s3rver leaves a prefix with no object right under it out of listings (see bench/fuse.ts).
  await writeFile(join(dataset, ".keep"), "");
  await python(runner, [DATALOADER, "generate", dataset, manifest, "--per-class", `${PER_CLASS}`]);
  await fs.settle("dataset/", 100 * PER_CLASS + 1, 0);
  await fs.unmount();
}

/** One cold epoch: caches emptied, kernel caches dropped, fresh mount. */
async function coldEpoch(
  fs: BenchFs,
  runner: Runner,
  manifest: string,
  extra: string[],
  beforeMount: () => Promise<void> = async () => undefined,
): Promise<Epoch & { load: string }> {
  fs.clearCaches();
  await beforeMount();
  await dropCaches();
  await fs.mount();
  const load = load1();
  const args = [DATALOADER, "load", join(fs.dir, "dataset"), manifest, "--epochs", "1", ...extra];
  const r = await python<Epoch>(runner, args);
  await fs.unmount();
  const e = r.result[0]!;
  if (e.mismatched !== 0 || e.files !== 100 * PER_CLASS) {
    throw new Error(`${fs.name}: ${e.files} files, ${e.mismatched} read wrong`);
  }
  return { ...e, load };
}

/** Every object under `prefix` of the bucket, GET at `inFlight` at once: seconds. */
async function rawGets(store: S3ObjectStore, prefix: string, inFlight: number) {
  const keys: string[] = [];
  for (let after: string | undefined = ""; after !== undefined; ) {
    const page = await store.list(prefix, after);
    for (const o of page.objects) keys.push(o.key);
    after = page.nextStartAfter;
  }
  await dropCaches();
  const start = performance.now();
  let next = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        bytes += (await store.get(key)).length;
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, objects: keys.length, bytes };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.floor((s.length - 1) / 2)]! + s[Math.floor(s.length / 2)]!) / 2;
};

async function main(): Promise<void> {
  const loadStart = load1();
  const root = mkdtempSync(join(tmpdir(), "jfs-bench-epoch-"));
  await using s3 = await startS3Server();
  const s3rverPid = findS3rverPid();
  const target: S3Target = s3;
  const metaUrl = `sqlite3://${join(root, "jfs.db")}`;
  const systems: BenchFs[] = [];
  try {
    const jfs = await jfsFs(root, target, metaUrl);
    const noDir = await jfsFs(root, target, `sqlite3://${join(root, "nodir.db")}`, "nodir", [
      "--no-dir-prefetch",
    ]);
    const rclone = await rcloneFs(root, target);
    systems.push(jfs, noDir, rclone);
    const runnerOf = (fs: BenchFs): Runner => ({ s3rverPid, fsPid: () => fs.pid() });
    const manifests = {
      jfs: join(root, "jfs.json"),
      noDir: join(root, "nodir.json"),
      rclone: join(root, "rclone.json"),
    };
    await writeDataset(jfs, runnerOf(jfs), manifests.jfs);
    await writeDataset(noDir, runnerOf(noDir), manifests.noDir);
    await writeDataset(rclone, runnerOf(rclone), manifests.rclone);
    log(`datasets of ${100 * PER_CLASS} files written`);
    const store = new S3ObjectStore({
      bucketUrl: `${s3.endpoint}/jfs-bench`,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
    });
    const rows: Record<string, { seconds: number[]; misses: number[]; load: string[] }> = {};
    const add = (name: string, seconds: number, misses: number, load: string) => {
      const row = rows[name] ?? { seconds: [], misses: [], load: [] };
      rows[name] = row;
      row.seconds.push(seconds);
      row.misses.push(misses);
      row.load.push(load);
      log(`${name}: ${seconds.toFixed(2)} s, ${misses} misses (load ${load})`);
    };
    const warmups: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const raw = await rawGets(store, "jfs-bench/chunks/", RAW_IN_FLIGHT);
      add(`raw GET x${RAW_IN_FLIGHT} (${raw.objects} objects)`, raw.seconds, 0, load1());
      const bare = await coldEpoch(noDir, runnerOf(noDir), manifests.noDir, []);
      add("jfs --no-dir-prefetch", bare.seconds, bare.jfs?.misses ?? Number.NaN, bare.load);
      const plain = await coldEpoch(jfs, runnerOf(jfs), manifests.jfs, []);
      add(
        "jfs (defaults: directory prefetch)",
        plain.seconds,
        plain.jfs?.misses ?? Number.NaN,
        plain.load,
      );
      const pre = await coldEpoch(jfs, runnerOf(jfs), manifests.jfs, ["--prefetch"]);
      add("jfs + PrefetchSampler", pre.seconds, pre.jfs?.misses ?? Number.NaN, pre.load);
      const warm = await coldEpoch(jfs, runnerOf(jfs), manifests.jfs, [], async () => {
        const start = performance.now();
        await run([
          "bun",
          MAIN,
          "warmup",
          metaUrl,
          "/dataset",
          "--threads",
          "32",
          "--cache-dir",
          join(root, "jfs-cache"),
        ]);
        warmups.push((performance.now() - start) / 1000);
        log(`warmup: ${warmups.at(-1)!.toFixed(2)} s`);
      });
      add("jfs after jfs warmup", warm.seconds, warm.jfs?.misses ?? Number.NaN, warm.load);
      const rc = await coldEpoch(rclone, runnerOf(rclone), manifests.rclone, []);
      add("rclone", rc.seconds, Number.NaN, rc.load);
    }
    const rcloneS = median(rows.rclone!.seconds);
    const rawName = Object.keys(rows).find((n) => n.startsWith("raw"))!;
    const rawS = median(rows[rawName]!.seconds);
    const lines = [
      `\`bun bench/epoch.ts --files ${FILES} --rounds ${ROUNDS}\` — one run, one machine (2 cores), ${ROUNDS} rounds, the systems alternating within each; 1-minute load average ${loadStart} at the start, ${load1()} at the end, and per figure below. Cold = cache directory emptied, \`echo 3 > /proc/sys/vm/drop_caches\`, fresh mount. DataLoader: num_workers=2, batch 64, shuffle, files of 1-16 KiB (test/posix/dataloader.py). Misses = the mount's block reads that waited for a GET of their own (its user.jfs.prefetch counters).`,
      "",
      "| cold epoch of the dataset | seconds (median) | each round | load avg | misses | vs rclone's time | vs raw GET x32 |",
      "|---|---|---|---|---|---|---|",
    ];
    for (const [name, row] of Object.entries(rows)) {
      const s = median(row.seconds);
      const misses = row.misses.every(Number.isNaN) ? "–" : row.misses.join(", ");
      lines.push(
        `| ${name} | ${s.toFixed(2)} | ${row.seconds.map((x) => x.toFixed(2)).join(", ")} | ${row.load.join(", ")} | ${misses} | ${(s / rcloneS).toFixed(2)}x | ${(s / rawS).toFixed(2)}x |`,
      );
    }
    lines.push(
      "",
      `\`jfs warmup --threads 32\` of the dataset from a cold cache (a separate process, before the mount): ${warmups.map((x) => x.toFixed(2)).join(", ")} s.`,
      "",
      "Targets (issue 12, item 3): a cold epoch <= 0.5x rclone's time and <= 1.5x the raw GETs at 32 in flight.",
    );
    const body = lines.join("\n");
    console.log(`\n${body}`);
    if (!flags["no-report"]) writeSection(flags.docs, TITLE, body);
  } finally {
    for (const fs of systems) await fs.unmount().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
