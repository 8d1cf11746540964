/**
 * Epoch-aware prefetch through a real FUSE mount: a real torch DataLoader (shuffle, 2 workers)
 * reads a cold dataset once as it is, and once with python/jfs_prefetch.py's PrefetchSampler,
 * which hands each epoch's order to the mount (the user.jfs.prefetch xattr of the dataset's
 * directory). The mount's own counters (read back through that xattr) show the reads that had
 * to wait for a GET of their own: with the order handed over, most files are in the cache
 * before a worker asks. Every checksum matches either way.
 *
 * Needs Debian's python3-torch for /usr/bin/python3: without torch the test fails, not skips.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  REPO,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(REPO, "test/posix/dataloader.py");
const CLASSES = 20;
const PER_CLASS = 100;
const FILES = CLASSES * PER_CLASS;
const STEP_TIMEOUT_MS = 120_000;

interface Progress {
  listed: number;
  started: number;
  loaded: number;
  skipped: number;
  failed: number;
  consumed: number;
  misses: number;
  joins: number;
  dirsPrefetched: number;
  dirFilesLoaded: number;
}

interface EpochReport {
  files: number;
  distinct: number;
  mismatched: number;
  seconds: number;
  jfs: Progress | null;
}

async function python(args: string[]) {
  const proc = Bun.spawn([PYTHON, ...args], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), STEP_TIMEOUT_MS);
  const [stdout, stderr, exit] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code: proc.signalCode === null ? exit : null, stdout, stderr };
}

describe.skipIf(!HAVE_FUSE)("epoch prefetch: the loader's order handed to the mount", () => {
  let volume: TestVolume;
  let current: Mounted | undefined;
  let dir: string;
  let dataset: string;
  let manifest: string;

  beforeAll(async () => {
    volume = await createVolume("prefetch");
    dir = join(volume.root, "mnt");
    dataset = join(dir, "dataset");
    manifest = join(volume.root, "manifest.json");
    current = await startMount(volume, dir);
    mkdirSync(dataset);
    const generated = await python([
      SCRIPT,
      "generate",
      dataset,
      manifest,
      "--classes",
      String(CLASSES),
      "--per-class",
      String(PER_CLASS),
    ]);
    if (generated.code !== 0) console.error("generate:", generated, await current.log());
    expect(generated.code).toBe(0);
    await stopMount(current);
    current = undefined;
  }, STEP_TIMEOUT_MS);

  afterAll(async () => {
    await forceCleanup(current);
    volume.cleanup();
  });

  /** One epoch on a fresh mount with an empty cache directory: every block comes from the store. */
  async function coldEpoch(extra: string[], mountFlags: string[] = []): Promise<EpochReport> {
    rmSync(volume.cacheDir, { recursive: true, force: true });
    current = await startMount(volume, dir, mountFlags);
    const loaded = await python([SCRIPT, "load", dataset, manifest, "--epochs", "1", ...extra]);
    if (loaded.code !== 0) console.error("load:", loaded, await current.log());
    expect(loaded.code).toBe(0);
    await stopMount(current);
    current = undefined;
    const report = JSON.parse(loaded.stdout.trim()) as EpochReport;
    expect({
      files: report.files,
      distinct: report.distinct,
      mismatched: report.mismatched,
    }).toEqual({ files: FILES, distinct: FILES, mismatched: 0 });
    return report;
  }

  test(
    "a DataLoader with PrefetchSampler waits for far fewer GETs of its own",
    async () => {
      const plain = await coldEpoch([], ["--no-dir-prefetch"]);
      const prefetched = await coldEpoch(["--prefetch"]);
      console.log(
        `cold epoch of ${FILES} files: ${plain.seconds} s, ${plain.jfs?.misses} misses; ` +
          `with the order handed over ${prefetched.seconds} s, ${prefetched.jfs?.misses} misses, ` +
          `${prefetched.jfs?.joins} late (${JSON.stringify(prefetched.jfs)})`,
      );
      // Without an order (nor directory prefetch), every file's block is a GET the worker
      // waits for.
      expect(plain.jfs).not.toBeNull();
      expect(plain.jfs!.listed).toBe(0);
      expect(plain.jfs!.dirsPrefetched).toBe(0);
      expect(plain.jfs!.misses).toBeGreaterThanOrEqual(FILES);
      // With it, the mount had the whole order, loaded (nearly) every file, and the workers
      // found most blocks already there.
      const p = prefetched.jfs!;
      expect(p.listed).toBe(FILES);
      expect(p.failed + p.skipped).toBe(0);
      expect(p.loaded).toBeGreaterThan(FILES * 0.9);
      expect(p.misses).toBeLessThan(plain.jfs!.misses / 10);
      expect(p.misses + p.joins).toBeLessThan(plain.jfs!.misses / 2);
      expect(p.dirsPrefetched).toBe(0); // the order knows better: no directory prefetch
    },
    4 * STEP_TIMEOUT_MS,
  );

  test(
    "with no order, the default mount prefetches the directories a shuffled loader misses in",
    async () => {
      const e = await coldEpoch([]);
      const d = e.jfs!;
      console.log(`cold epoch with directory prefetch: ${e.seconds} s, ${JSON.stringify(d)}`);
      expect(d.listed).toBe(0);
      // Every one of the CLASSES directories was missed in often enough, and prefetched.
      expect(d.dirsPrefetched).toBe(CLASSES);
      expect(d.dirFilesLoaded).toBeGreaterThan(FILES / 2);
      // Before a directory is prefetched, DIR_PREFETCH_MISSES_MIN (4) of its files miss; a
      // file read while its directory loads may miss too. Far fewer than one per file.
      expect(d.misses).toBeLessThan(FILES / 3);
    },
    2 * STEP_TIMEOUT_MS,
  );

  test(
    "jfs warmup beside a running mount fills the cache that mount reads from",
    async () => {
      rmSync(volume.cacheDir, { recursive: true, force: true });
      current = await startMount(volume, dir, ["--no-dir-prefetch"]);
      const warm = await jfs(["warmup", volume.metaUrl, dataset, "--cache-dir", volume.cacheDir]);
      if (warm.code !== 0) console.error(warm);
      expect(warm.code).toBe(0);
      expect(warm.stdout).toContain(`warmed up ${FILES} files`);
      const e = await python([SCRIPT, "load", dataset, manifest, "--epochs", "1"]);
      if (e.code !== 0) console.error(e.stderr, await current.log());
      expect(e.code).toBe(0);
      const report = JSON.parse(e.stdout.trim()) as EpochReport;
      await stopMount(current);
      current = undefined;
      expect({ files: report.files, mismatched: report.mismatched }).toEqual({
        files: FILES,
        mismatched: 0,
      });
      // The blocks the warmup process cached are found by the mount, not fetched again.
      expect(report.jfs!.misses).toBe(0);
    },
    2 * STEP_TIMEOUT_MS,
  );

  test(
    "orders are relative to their directory, readable files only, replace or append",
    async () => {
      current = await startMount(volume, dir);
      const script = `
import json, os, sys
sys.path.insert(0, ${JSON.stringify(join(REPO, "python"))})
import jfs_prefetch as j
d = ${JSON.stringify(dataset)}
out = {}
out["file"] = None
try:
    os.setxattr(os.path.join(d, "class_000/img_0000.bin"), j.XATTR, b"x\\n")
except OSError as e:
    out["file"] = e.errno
os.setxattr(d, j.XATTR, b"class_000/img_0001.bin\\n./class_001//img_0001.bin\\n../x\\nnone\\nclass_002\\n")
os.setxattr(d, j.APPEND_XATTR, b"class_003/img_0003.bin\\n")
out["mount"] = j.jfs_mount_of(d)
import time
for _ in range(500):
    p = j.progress(d)
    if p["loaded"] + p["failed"] + p["skipped"] == p["listed"]:
        break
    time.sleep(0.01)
out["first"] = p
os.setxattr(d, j.XATTR, b"class_004/img_0004.bin\\n")
out["second"] = j.progress(d)
import subprocess
subprocess.run([sys.executable, "-c", "import os; os.setxattr(%r, %r, b'class_005/img_0005.bin\\\\nclass_005/img_0006.bin\\\\n')" % (d, j.XATTR)], check=True)
out["two"] = j.progress(d)
out["listed_names"] = os.listxattr(d)
print(json.dumps(out))
`;
      const scriptPath = join(volume.root, "orders.py");
      writeFileSync(scriptPath, script);
      const r = await python([scriptPath]);
      if (r.code !== 0) console.error(r.stderr, await current.log());
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as {
        file: number | null;
        mount: string;
        first: Progress;
        second: Progress;
        two: Progress & { orders: number };
        listed_names: string[];
      };
      expect(out.file).toBe(20); // ENOTDIR: an order names a directory
      expect(out.mount).toBe(dir);
      // two files load; "../x" and "none" fail, a directory is skipped
      expect(out.first).toMatchObject({ listed: 6, loaded: 3, failed: 2, skipped: 1 });
      expect(out.second.listed).toBe(1); // a new order replaces the old
      // Another process's order is its own: both are held (the ranks of a job on one node).
      expect([out.two.orders, out.two.listed]).toEqual([2, 3]);
      expect(out.listed_names).toEqual([]); // nothing is stored as an xattr
      await stopMount(current);
      current = undefined;
      expect(readFileSync(manifest, "utf8").length).toBeGreaterThan(0);
    },
    STEP_TIMEOUT_MS,
  );
});
