/**
 * `jfs mount` against `rclone mount`, `s3fs` and the local disk, side by side in one run, the
 * three FUSE file systems on one S3 server (s3rver behind its SigV4 gate, test/harness): jfs
 * with SQLite meta (the default), with Redis meta, and tuned for one training node (SQLite,
 * --writeback, long kernel caches). Per file system, from /usr/bin/python3 processes (bench/fuse_io.py):
 *   - sequential write of one big file (to close, and until unmounted = all in S3),
 *   - sequential read of it cold (remounted, local caches emptied, kernel caches dropped) and
 *     hot (read again), then 4 KiB random reads of the cached file,
 *   - N files of 16 KiB created, stat'ed, read, removed (one process),
 *   - a PyTorch DataLoader (num_workers=2, shuffle) over an N-file dataset
 *     (test/posix/dataloader.py): epoch 1 cold (after a remount), epoch 2 hot.
 * Then a profile of jfs on the small-file workload and the DataLoader (FUSE requests per file,
 * their service time and the meta / object store calls under them: bench/fuse_profile.ts) and
 * the raw latency of s3rver for 16 KiB objects.
 *
 *   bun bench/fuse.ts [--big-mib 1024] [--files 10000] [--rand-reads 20000]
 *                     [--only jfs,jfs-redis,jfs-tuned,rclone,s3fs,local,profile]
 *                     [--no-report | --docs FILE] [--json FILE]
 *   bun bench/fuse.ts --render FILE [--no-report | --docs FILE]
 *
 * --json saves the figures; --render writes the report again from such a file, running nothing.
 * JFS_BENCH_TREE=DIR mounts another checkout's jfs (e.g. the old main) with this driver.
 *
 * Writes the section "FUSE mount vs rclone, s3fs and the local disk" of docs/benchmarks.md.
 *
 * Nothing here touches a mount synchronously: s3fs's requests go through the SigV4 gate in this
 * process, so a blocking call on its mount would wait for this very event loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { S3ObjectStore } from "../src/object/s3.ts";
import { startRedis } from "../test/harness/redis.ts";
import { startS3Server } from "../test/harness/s3server.ts";
import { type Profile, profileJfs } from "./fuse_profile_run.ts";
import { type ReportInput, renderReport, type SuiteResult } from "./fuse_report.ts";
import { dropCaches, findS3rverPid, python, type Runner } from "./fuse_run.ts";
import {
  type BenchFs,
  jfsFs,
  localFs,
  REPO,
  rcloneFs,
  type S3Target,
  s3fsFs,
} from "./fuse_systems.ts";
import { writeSection } from "./report.ts";

const { values: flags } = parseArgs({
  options: {
    "big-mib": { type: "string", default: "1024" },
    files: { type: "string", default: "10000" },
    "rand-reads": { type: "string", default: "20000" },
    only: { type: "string", default: "jfs,jfs-redis,jfs-tuned,rclone,s3fs,local,profile" },
    "no-report": { type: "boolean", default: false },
    docs: { type: "string", default: join(REPO, "docs/benchmarks.md") },
    json: { type: "string" },
    render: { type: "string" },
  },
});
const BIG_MIB = Number(flags["big-mib"]);
const FILES = Number(flags.files);
const RAND_READS = Number(flags["rand-reads"]);
const SMALL_KIB = 16;
const MiB = 1024 * 1024;
/**
 * "jfs-tuned": one node writing and then training on its dataset. --writeback: close returns
 * once blocks are in the cache directory, uploads follow (like rclone's --vfs-write-back).
 * Long kernel caches, as for a read-mostly training set: pages kept across opens of unchanged
 * files, names and attributes kept for an hour (changes made by other clients show up that
 * much later).
 */
const JFS_TUNED_FLAGS = [
  "--writeback",
  "--open-cache",
  "3600",
  "--attr-cache",
  "3600",
  "--entry-cache",
  "3600",
  "--dir-entry-cache",
  "3600",
];
const IO = join(REPO, "bench/fuse_io.py");
const DATALOADER = join(REPO, "test/posix/dataloader.py");

interface Timed {
  seconds: number;
}
interface SmallFiles {
  seconds: Record<"create" | "stat" | "read" | "remove", number>;
}
interface Epoch {
  seconds: number;
  files: number;
  mismatched: number;
}

function log(text: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}

interface Suite {
  fs: BenchFs;
  runner: Runner;
  r: SuiteResult;
}

type Step = (s: Suite, root: string) => Promise<void>;

/** Each step mounts, works and unmounts, so no step inherits another's background work. */
const writeBig: Step = async ({ fs, runner, r }) => {
  await fs.mount();
  const start = performance.now();
  const write = await python<Timed>(runner, [
    IO,
    "seqwrite",
    join(fs.dir, "big.bin"),
    `${BIG_MIB}`,
  ]);
  r.cpu.write = { ...write.cpu, wallS: write.wallS };
  r.seqWriteS = write.result[0]?.seconds ?? Number.NaN;
  await fs.settle("big.bin", 1, BIG_MIB * MiB);
  await fs.unmount();
  r.seqWriteDurableS = (performance.now() - start) / 1000;
  log(`${fs.name}: write ${r.seqWriteS.toFixed(2)} s, durable ${r.seqWriteDurableS.toFixed(2)} s`);
};

const readBig: Step = async ({ fs, runner, r }) => {
  const file = join(fs.dir, "big.bin");
  fs.clearCaches();
  await dropCaches();
  await fs.mount();
  const cold = await python<Timed>(runner, [IO, "seqread", file]);
  r.cpu.coldRead = { ...cold.cpu, wallS: cold.wallS };
  r.seqReadColdS = cold.result[0]?.seconds ?? Number.NaN;
  const hot = await python<Timed>(runner, [IO, "seqread", file]);
  r.cpu.hotRead = { ...hot.cpu, wallS: hot.wallS };
  r.seqReadHotS = hot.result[0]?.seconds ?? Number.NaN;
  const rand = await python<Timed>(runner, [IO, "randread", file, String(RAND_READS)]);
  r.randReadS = rand.result[0]?.seconds ?? Number.NaN;
  await fs.unmount();
  log(`${fs.name}: read cold ${r.seqReadColdS.toFixed(2)} s, hot ${r.seqReadHotS.toFixed(2)} s`);
};

const smallFiles: Step = async ({ fs, runner, r }) => {
  await fs.mount();
  const dir = join(fs.dir, "small");
  await mkdir(dir);
  const small = await python<SmallFiles>(runner, [IO, "smallfiles", dir, String(FILES), "16"]);
  r.cpu.smallFiles = { ...small.cpu, wallS: small.wallS };
  const s = small.result[0]?.seconds;
  if (s !== undefined) r.small = s;
  await fs.unmount();
  log(`${fs.name}: small files ${JSON.stringify(r.small)}`);
};

/** Writer processes of the parallel create: files closed at about the same time. */
const PAR_WRITERS = 8;

const parallelCreate: Step = async ({ fs, runner, r }) => {
  await fs.mount();
  const dir = join(fs.dir, "par");
  await mkdir(dir);
  const args = [IO, "parcreate", dir, String(FILES), String(SMALL_KIB), String(PAR_WRITERS)];
  const par = await python<Timed>(runner, args);
  r.cpu.parCreate = { ...par.cpu, wallS: par.wallS };
  r.parCreateS = par.result[0]?.seconds ?? Number.NaN;
  await fs.unmount();
  log(`${fs.name}: ${FILES} files by ${PAR_WRITERS} writers in ${r.parCreateS.toFixed(2)} s`);
};

const perClass = Math.max(1, Math.round(FILES / 100));
const manifestOf = (root: string, fs: BenchFs) => join(root, `${fs.name}-manifest.json`);

const writeDataset: Step = async ({ fs, runner, r }, root) => {
  await fs.mount();
  const dataset = join(fs.dir, "dataset");
  await mkdir(dataset);
  // s3rver (3.7.1) leaves a common prefix out of a delimiter listing when no object sits right
  // under it: without this file, rclone (which stores no directory objects) would not see
  // "dataset/" after a remount. Written for every file system alike.
  await writeFile(join(dataset, ".keep"), "");
  const gen = ["generate", dataset, manifestOf(root, fs), "--per-class", String(perClass)];
  const start = performance.now();
  await python(runner, [DATALOADER, ...gen]);
  await fs.settle("dataset/", 100 * perClass + 1, 0);
  await fs.unmount();
  r.datasetWriteS = (performance.now() - start) / 1000;
  log(`${fs.name}: dataset written in ${r.datasetWriteS.toFixed(1)} s`);
};

const loadEpochs: Step = async ({ fs, runner, r }, root) => {
  fs.clearCaches();
  await dropCaches();
  await fs.mount();
  const args = [DATALOADER, "load", join(fs.dir, "dataset"), manifestOf(root, fs)];
  const load = await python<Epoch>(runner, args);
  r.cpu.dataLoader = { ...load.cpu, wallS: load.wallS };
  await fs.unmount();
  for (const e of load.result) {
    if (e.mismatched !== 0) throw new Error(`${fs.name}: ${e.mismatched} files read wrong`);
  }
  r.epochS = load.result.map((e) => e.seconds);
  log(`${fs.name}: epochs ${r.epochS.join(", ")} s`);
};

function newResult(fs: BenchFs): SuiteResult {
  return {
    name: fs.name,
    commands: fs.commands,
    seqWriteS: Number.NaN,
    seqWriteDurableS: Number.NaN,
    seqReadColdS: Number.NaN,
    seqReadHotS: Number.NaN,
    randReadS: Number.NaN,
    small: { create: Number.NaN, stat: Number.NaN, read: Number.NaN, remove: Number.NaN },
    datasetWriteS: Number.NaN,
    parCreateS: Number.NaN,
    epochS: [],
    cpu: {},
  };
}

/**
 * Workload by workload, each across every file system back to back: the machine's background
 * load (shared with other work) drifts less between the figures a ratio compares.
 */
async function runSuites(suites: Suite[], root: string): Promise<void> {
  try {
    for (const step of [writeBig, readBig, smallFiles, parallelCreate, writeDataset, loadEpochs]) {
      for (const suite of suites) await step(suite, root);
    }
  } finally {
    for (const { fs } of suites) {
      await fs.unmount().catch((e: unknown) => log(`${fs.name}: unmount failed: ${String(e)}`));
    }
  }
}

/** Sequential PUT then GET of 16 KiB objects straight to the server: its floor per file. */
async function s3Latency(s3: S3Target): Promise<{ putMs: number; getMs: number }> {
  const store = new S3ObjectStore({
    bucketUrl: `${s3.endpoint}/latency`,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
  });
  await store.create();
  const data = crypto.getRandomValues(new Uint8Array(SMALL_KIB * 1024));
  const count = 300;
  let start = performance.now();
  // Keys shaped like jfs's block keys: s3rver stores each as nested directories and files.
  const key = (i: number) => `chunks/0/${Math.floor(i / 100)}/${i + 1}_0_${data.length}`;
  for (let i = 0; i < count; i++) await store.put(key(i), data);
  const putMs = (performance.now() - start) / count;
  start = performance.now();
  for (let i = 0; i < count; i++) await store.get(key(i));
  const getMs = (performance.now() - start) / count;
  return { putMs, getMs };
}

/** Ctrl-C: kill the mount processes this run started (by PID), detach their mount points. */
function cleanupOnSignal(systems: BenchFs[]): void {
  const onSignal = () => {
    for (const fs of systems) {
      const pid = fs.pid();
      if (pid !== undefined) process.kill(pid, "SIGKILL");
      Bun.spawnSync(["fusermount3", "-uz", fs.dir]);
    }
    // The S3 and Redis servers go with this process (their harnesses kill them on exit).
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

function report(input: ReportInput): void {
  const body = renderReport(input);
  console.log(`\n${body}`);
  if (!flags["no-report"]) {
    writeSection(flags.docs, "FUSE mount vs rclone, s3fs and the local disk", body);
  }
}

async function main(): Promise<void> {
  if (flags.render !== undefined) {
    // JSON has no NaN: a figure that was not measured comes back as null.
    report(JSON.parse(await Bun.file(flags.render).text()) as ReportInput);
    return;
  }
  const loadAtStart = loadavg()[0] ?? 0;
  const root = mkdtempSync(join(tmpdir(), "jfs-bench-fuse-"));
  await using s3 = await startS3Server();
  await using redis = await startRedis();
  const s3rverPid = findS3rverPid();
  const target: S3Target = s3;
  const only = new Set(flags.only.split(","));
  /** The embedded default engine, one database per volume. */
  const sqliteUrl = (name: string) => `sqlite3://${join(root, `${name}.db`)}`;
  const results: SuiteResult[] = [];
  let profile: Profile | undefined;
  const systems: BenchFs[] = [];
  cleanupOnSignal(systems);
  try {
    const makers: [string, () => Promise<BenchFs>][] = [
      ["jfs", () => jfsFs(root, target, sqliteUrl("jfs"))],
      ["jfs-redis", () => jfsFs(root, target, redis.url(1), "jfs-redis")],
      [
        "jfs-tuned",
        () => jfsFs(root, target, sqliteUrl("jfs-tuned"), "jfs-tuned", JFS_TUNED_FLAGS),
      ],
      ["rclone", () => rcloneFs(root, target)],
      ["s3fs", () => s3fsFs(root, target)],
      ["local", async () => localFs(root)],
    ];
    const suites: Suite[] = [];
    for (const [name, make] of makers) {
      if (!only.has(name)) continue;
      const fs = await make();
      systems.push(fs);
      suites.push({ fs, runner: { s3rverPid, fsPid: () => fs.pid() }, r: newResult(fs) });
    }
    await runSuites(suites, root);
    for (const { fs, r } of suites) {
      const peak = fs.peakRssBytes();
      r.peakRssMiB = peak > 0 ? peak / MiB : Number.NaN;
      log(`${fs.name}: peak RSS ${r.peakRssMiB.toFixed(0)} MiB`);
    }
    results.push(...suites.map((s) => s.r));
    if (only.has("profile")) {
      log("profile: start");
      profile = await profileJfs(root, target, sqliteUrl("jfs-profile"), FILES, s3rverPid);
      for (const [phase, p] of Object.entries(profile.phases)) {
        const served = `${p.serviceMsPerFile.toFixed(2)} ms served`;
        log(`profile ${phase}: ${p.requestsPerFile.toFixed(1)} requests, ${served} per file`);
      }
    }
    const latency = await s3Latency(target);
    log(`s3rver 16 KiB: PUT ${latency.putMs.toFixed(2)} ms, GET ${latency.getMs.toFixed(2)} ms`);
    const input: ReportInput = {
      results,
      profile,
      latency,
      bigMiB: BIG_MIB,
      files: FILES,
      randReads: RAND_READS,
      loadAverage: [loadAtStart, loadavg()[0] ?? 0],
    };
    if (flags.json !== undefined) await writeFile(flags.json, JSON.stringify(input, null, 1));
    report(input);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
