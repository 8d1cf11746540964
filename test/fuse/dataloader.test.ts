/**
 * A PyTorch training input pipeline through a real FUSE mount: one python process writes an
 * image-folder-like dataset (100 classes x 100 files of 1-16 KiB of seeded random bytes) and
 * records each file's sha256; after a remount (nothing left in the kernel's page cache), a real
 * torch.utils.data.DataLoader (shuffle=True, num_workers=2) reads every file exactly once per
 * epoch, for two epochs, and every checksum matches.
 *
 * Needs Debian's python3-torch for /usr/bin/python3: without torch the test fails, not skips.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  REPO,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(REPO, "test/posix/dataloader.py");
const CLASSES = 100;
const PER_CLASS = 100;
const FILES = CLASSES * PER_CLASS;

interface EpochReport {
  epoch: number;
  seconds: number;
  files: number;
  distinct: number;
  bytes: number;
  mismatched: number;
  missing: number;
  order: string;
  jfs: unknown;
}

/** Each python step gets this long (about 15 s on an idle 2-core machine). */
const STEP_TIMEOUT_MS = 120_000;

/** Runs /usr/bin/python3 ARGS; killed (exit code null) after STEP_TIMEOUT_MS. */
async function python(args: string[]) {
  const proc = Bun.spawn([PYTHON, ...args], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), STEP_TIMEOUT_MS);
  const [stdout, stderr, exit] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  const code = proc.signalCode === null ? exit : null;
  return { code, stdout, stderr };
}

describe.skipIf(!HAVE_FUSE)("PyTorch DataLoader through a FUSE mount", () => {
  let volume: TestVolume;
  let current: Mounted | undefined;

  beforeAll(async () => {
    volume = await createVolume("dataloader");
  });

  afterAll(async () => {
    await forceCleanup(current);
    volume.cleanup();
  });

  test("torch is importable by /usr/bin/python3 (Debian's python3-torch)", async () => {
    const r = await python(["-c", "import torch; print(torch.__version__)"]);
    if (r.code !== 0) console.error(`${PYTHON} cannot import torch: ${r.stderr}`);
    expect(r.code).toBe(0);
  });

  test(
    "10,000 files, num_workers=2, shuffle: each file read once per epoch, checksums match",
    async () => {
      const dir = join(volume.root, "mnt");
      const dataset = join(dir, "dataset");
      const manifest = join(volume.root, "manifest.json");
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

      // A fresh mount: every read goes through jfs, none is served from the old page cache.
      current = await startMount(volume, dir);
      const loaded = await python([SCRIPT, "load", dataset, manifest, "--epochs", "2"]);
      if (loaded.code !== 0) console.error("load:", loaded, await current.log());
      expect(loaded.code).toBe(0);
      const entries = JSON.parse(readFileSync(manifest, "utf8")) as [string, number, string][];
      expect(entries.length).toBe(FILES);
      const totalBytes = entries.reduce((sum, [, size]) => sum + size, 0);
      const epochs = loaded.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as EpochReport);
      expect(epochs.length).toBe(2);
      for (const e of epochs) {
        expect({ ...e, seconds: 0, order: "", jfs: null }).toEqual({
          epoch: e.epoch,
          seconds: 0,
          files: FILES,
          distinct: FILES,
          bytes: totalBytes,
          mismatched: 0,
          missing: 0,
          order: "",
          jfs: null,
        });
      }
      // Shuffled: the two epochs visit the files in different orders.
      expect(epochs[0]?.order).not.toBe(epochs[1]?.order);
      console.log(`DataLoader epochs: ${epochs.map((e) => `${e.seconds} s`).join(", ")}`);
      await stopMount(current);
      current = undefined;
    },
    3 * STEP_TIMEOUT_MS,
  );
});
