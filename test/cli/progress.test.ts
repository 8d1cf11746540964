/**
 * Progress of the long commands, as a user sees it: plain lines with counts when stderr is a
 * pipe (a line per step with JFS_PROGRESS_LINE_MS=0), a redrawn bar under a real terminal
 * (script(1) gives the command a pseudo-terminal), nothing with --quiet or for a job done before
 * its first line; and the --json of each command that prints results parses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_CREDENTIALS as ctx, FileType } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { jfs } from "./harness.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const EVERY_STEP = { JFS_PROGRESS_LINE_MS: "0" };
const FILE_BYTES = 200_000;

let dir: string;
let meta: string;

async function format(url: string, name: string): Promise<void> {
  const args = ["format", url, name, "--bucket", join(dir, "data"), "--block-size", "64"];
  const f = await jfs([...args, "--trash-days", "0"]);
  expect(f.code).toBe(0);
}

/** /w holds 3 files of FILE_BYTES; /tree (made by makeTree) 250 empty files in 2 dirs. */
async function makeTree(): Promise<void> {
  const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
  try {
    const tree = await rt.vfs.mkdir(ctx, 1, Buffer.from("tree"), 0o755, 0);
    for (const sub of ["a", "b"]) {
      const d = await rt.vfs.mkdir(ctx, tree.inode, Buffer.from(sub), 0o755, 0);
      for (let i = 0; i < 125; i++) {
        await rt.meta.mknod(ctx, d.inode, Buffer.from(`f${i}`), FileType.File, 0o644, 0, 0);
      }
    }
  } finally {
    await rt.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-progress-"));
  meta = `sqlite3://${dir}/meta.db`;
  await format(meta, "progress");
  const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
  try {
    const w = await rt.vfs.mkdir(ctx, 1, Buffer.from("w"), 0o755, 0);
    for (let i = 0; i < 3; i++) {
      const { inode, fh } = await rt.vfs.create(ctx, w.inode, Buffer.from(`f${i}`), 0o644, 0, 1);
      await rt.vfs.write(ctx, inode, fh, 0, Buffer.alloc(FILE_BYTES, i));
      await rt.vfs.release(ctx, inode, fh);
    }
  } finally {
    await rt.close();
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The lines of `text` that start with `label: `. */
const linesOf = (text: string, label: string) =>
  text.split("\n").filter((l) => l.startsWith(`${label}: `));

describe("plain progress lines when stderr is not a terminal", () => {
  test("warmup: a line per file with the count, the bytes and a rate, then done", async () => {
    const r = await jfs(["warmup", meta, "/w", "--threads", "1"], EVERY_STEP);
    expect(r.code).toBe(0);
    const lines = linesOf(r.stderr, "warmup");
    expect(r.stderr).not.toContain("\r");
    expect(lines).toContainEqual(
      expect.stringMatching(/^warmup: 1\/3 files {2}195\.3 KiB {2}\S+ \S+\/s {2}ETA \d+:\d\d$/),
    );
    expect(lines.at(-1)).toMatch(
      /^warmup: done 3\/3 files {2}585\.9 KiB {2}\S+ \S+\/s {2}in \d+:\d\d$/,
    );
    expect(r.stdout).toContain("warmed up 3 files");
  });

  test("fsck, gc, info, summary, dump and load say what they have done so far", async () => {
    const fsck = await jfs(["fsck", meta], EVERY_STEP);
    expect(fsck.code).toBe(0);
    expect(linesOf(fsck.stderr, "fsck").at(-1)).toMatch(/^fsck: done 3 files {2}585\.9 KiB {2}/);
    const gc = await jfs(["gc", meta], EVERY_STEP);
    expect(gc.code).toBe(0);
    // 3 files of 200,000 bytes in 64 KiB blocks: 4 objects each.
    expect(linesOf(gc.stderr, "gc: listing objects").at(-1)).toMatch(
      /^gc: listing objects: done 12 objects {2}585\.9 KiB {2}/,
    );
    const compact = await jfs(["gc", meta, "--compact"], EVERY_STEP);
    expect(compact.code).toBe(0);
    expect(linesOf(compact.stderr, "gc: compacting").at(-1)).toMatch(
      /^gc: compacting: done 3 chunks {2}/,
    );
    const info = await jfs(["info", meta, "--path", "/w"], EVERY_STEP);
    expect(linesOf(info.stderr, "info /w").at(-1)).toMatch(
      /^info \/w: done 3 entries {2}585\.9 KiB/,
    );
    const summary = await jfs(["summary", meta, "--path", "/"], EVERY_STEP);
    expect(linesOf(summary.stderr, "summary /").at(-1)).toMatch(/^summary \/: done 4 entries/);
    const file = join(dir, "dump.jsonl");
    const dump = await jfs(["dump", meta, file], EVERY_STEP);
    expect(dump.code).toBe(0);
    expect(linesOf(dump.stderr, "dump").at(-1)).toMatch(/^dump: done \d+\/\d+ /);
    const target = `sqlite3://${dir}/loaded.db`;
    const load = await jfs(["load", target, file], EVERY_STEP);
    expect(load.code).toBe(0);
    expect(linesOf(load.stderr, "load").at(-1)).toMatch(/^load: done \d+\/\d+ /);
  }, 30_000);

  test("rmr: a line per batch of names removed", async () => {
    await makeTree();
    const r = await jfs(["rmr", meta, "/tree"], EVERY_STEP);
    expect(r.code).toBe(0);
    const lines = linesOf(r.stderr, "rmr /tree");
    // 125 files per directory in batches of 100, then the 2 directories, then /tree.
    expect(lines.slice(0, 2).map((l) => l.split("  ")[0])).toEqual([
      "rmr /tree: 100 names",
      "rmr /tree: 125 names",
    ]);
    expect(lines.at(-1)).toMatch(/^rmr \/tree: done 253 names {2}/);
    expect(r.stdout).toContain("removed 250 files and 3 directories");
  }, 30_000);

  test("bench: its phases by bytes and by files", async () => {
    const args = ["bench", meta, "--big-file-size", "1", "--small-file-count", "3"];
    const r = await jfs([...args, "--small-file-size", "4"], EVERY_STEP);
    expect(r.code).toBe(0);
    expect(linesOf(r.stderr, "Write big file").at(-1)).toMatch(
      /^Write big file: done 1\.0 MiB\/1\.0 MiB {2}\S+ \S+\/s {2}in /,
    );
    expect(linesOf(r.stderr, "Stat file").at(-1)).toMatch(/^Stat file: done 3\/3 files/);
  });

  test("a job done before its first line, and --quiet, print no progress", async () => {
    const quick = await jfs(["warmup", meta, "/w"]);
    expect(quick.code).toBe(0);
    expect(quick.stderr).toBe("");
    const quiet = await jfs(["warmup", meta, "/w", "--quiet"], EVERY_STEP);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe("");
  });
});

test("under a terminal the bar is redrawn in place and ends at 100%", async () => {
  // script(1) runs the command on a pseudo-terminal and copies what it printed to stdout.
  const command = ["bun", MAIN, "warmup", meta, "/w", "--threads", "1"].join(" ");
  const proc = Bun.spawn(["script", "-q", "-e", "-c", command, "/dev/null"], {
    env: { ...process.env, HOME: dir },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  // Each redraw returns to the line start and clears what the last one left.
  expect(out).toContain("\r");
  expect(out).toContain("\x1b[K");
  expect(out).toMatch(
    /warmup\s+\[#{24}\] 100% 3\/3 files {2}585\.9 KiB {2}\S+ \S+\/s {2}in \d+:\d\d/,
  );
  // The plain-line form is not used on a terminal.
  expect(out).not.toContain("warmup: ");
  expect(out).toContain("warmed up 3 files");
});

describe("--json output parses", () => {
  const parsed = async (args: string[]) => {
    const r = await jfs([...args, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  test("warmup, fsck, gc, status, info, summary, bench, objbench, rmr, restore", async () => {
    expect(await parsed(["warmup", meta, "/w"])).toMatchObject({ files: 3, bytes: 3 * FILE_BYTES });
    expect(await parsed(["fsck", meta])).toMatchObject({ problems: [], repaired: [] });
    expect(await parsed(["gc", meta])).toMatchObject({ objects: 12, leakedObjects: 0 });
    expect(await parsed(["status", meta])).toHaveProperty("setting.name", "progress");
    expect(await parsed(["info", meta, "--path", "/w"])).toMatchObject({ files: 3, dirs: 1 });
    expect(await parsed(["summary", meta, "--path", "/w"])).toMatchObject({ files: 3 });
    const bench = await parsed(["bench", meta, "--big-file-size", "1", "--small-file-count", "2"]);
    expect((bench.phases as Array<{ name: string }>).map((p) => p.name)).toEqual([
      "Write big file",
      "Read big file",
      "Write small file",
      "Read small file",
      "Stat file",
    ]);
    const bucket = join(dir, "objbench");
    const ob = await parsed([
      "objbench",
      "--bucket",
      bucket,
      "--objects",
      "4",
      "--block-size",
      "4",
    ]);
    expect((ob.results as Array<{ name: string; count: number }>)[0]).toMatchObject({
      name: "put",
      count: 4,
    });
    await makeTree();
    expect(await parsed(["rmr", meta, "/tree"])).toMatchObject({ files: 250, dirs: 3 });
    expect(await parsed(["restore", meta])).toMatchObject({ inTrash: 0, restored: 0 });
  }, 60_000);
});
