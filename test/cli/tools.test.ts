/**
 * The maintenance and measuring commands on real volumes: fsck, gc, warmup, bench, objbench.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT_CREDENTIALS as ctx } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { jfs } from "./harness.ts";

let dir: string;
let meta: string;
let bucket: string;

/** Writes files through a runtime in this process, then closes it (as a client would). */
async function writeFiles(files: Record<string, Buffer[]>): Promise<void> {
  const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
  try {
    for (const [name, pieces] of Object.entries(files)) {
      const { inode, fh } = await rt.vfs.create(ctx, 1, Buffer.from(name), 0o644, 0, 1);
      let at = 0;
      for (const p of pieces) {
        await rt.vfs.write(ctx, inode, fh, at, p);
        at += p.length;
        await rt.vfs.fsync(ctx, inode, fh, false); // one slice per piece
      }
      await rt.vfs.release(ctx, inode, fh);
    }
  } finally {
    await rt.close();
  }
}

async function readFile(name: string): Promise<Buffer> {
  const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
  try {
    const { inode, attr } = await rt.vfs.lookup(ctx, 1, Buffer.from(name));
    return await rt.vfs.read(ctx, inode, undefined, 0, attr.size);
  } finally {
    await rt.close();
  }
}

function blockFiles(): string[] {
  const out: string[] = [];
  const stack = [join(bucket, "tools", "chunks")];
  while (stack.length > 0) {
    const d = stack.pop()!;
    if (!existsSync(d)) continue;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) stack.push(join(d, e.name));
      else out.push(join(d, e.name));
    }
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-tools-"));
  meta = `sqlite3://${dir}/meta.db`;
  bucket = join(dir, "data");
  const f = await jfs([
    "format",
    meta,
    "tools",
    "--bucket",
    bucket,
    "--block-size",
    "64",
    "--trash-days",
    "0",
  ]);
  expect(f.code).toBe(0);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("fsck", () => {
  test("passes on a healthy volume and names a missing block", async () => {
    await writeFiles({ healthy: [Buffer.alloc(200_000, 7)] });
    const ok = await jfs(["fsck", meta]);
    expect(ok.code).toBe(0);
    expect(ok.stderr + ok.stdout).toMatch(/0 problem\(s\)/);
    const victim = blockFiles()[0]!;
    rmSync(victim);
    const bad = await jfs(["fsck", meta]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("is missing");
    expect(bad.stderr).toMatch(/fsck found 1 problem/);
    await jfs(["gc", meta]); // keeps working on a damaged volume
    // Put the volume back in order for the next tests: remove the damaged file.
    const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
    await rt.vfs.unlink(ctx, 1, Buffer.from("healthy"));
    await rt.close();
  });
});

describe("gc", () => {
  test("finds leaked objects older than --min-age and deletes them with --delete", async () => {
    const old = join(bucket, "tools", "chunks", "0", "999", "999999_0_100");
    const young = join(bucket, "tools", "chunks", "0", "999", "999998_0_100");
    for (const p of [old, young]) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, Buffer.alloc(100));
    }
    utimesSync(old, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
    const report = await jfs(["gc", meta]);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/ 1 leaked objects/);
    expect(existsSync(old)).toBe(true);
    const del = await jfs(["gc", meta, "--delete"]);
    expect(del.code).toBe(0);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(young)).toBe(true);
    rmSync(young);
  });

  test("--compact merges a chunk's slices and keeps its content", async () => {
    const pieces = Array.from({ length: 12 }, (_, i) => Buffer.alloc(10_000, i + 1));
    await writeFiles({ pieces });
    const before = await readFile("pieces");
    const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
    const ino = (await rt.vfs.lookup(ctx, 1, Buffer.from("pieces"))).inode;
    expect((await rt.meta.readChunk(ino, 0)).length).toBe(12);
    await rt.close();
    const r = await jfs(["gc", meta, "--compact", "--delete", "--min-age", "0"]);
    expect(r.code).toBe(0);
    const rt2 = await openRuntime(meta, { cacheDir: "memory" }, "test");
    expect((await rt2.meta.readChunk(ino, 0)).length).toBe(1);
    await rt2.close();
    expect((await readFile("pieces")).equals(before)).toBe(true);
    expect((await jfs(["fsck", meta])).code).toBe(0);
  });

  test("prints sentences, not raw JSON; --json prints one JSON object", async () => {
    const leak = join(bucket, "tools", "chunks", "0", "999", "999997_0_100");
    mkdirSync(dirname(leak), { recursive: true });
    writeFileSync(leak, Buffer.alloc(100));
    const text = await jfs(["gc", meta, "--compact", "--min-age", "0"]);
    expect(text.code).toBe(0);
    const all = text.stdout + text.stderr;
    expect(all).not.toMatch(/[{}"]/);
    expect(text.stdout).toMatch(/^Pending deletions: \d+ files? and \d+ slices? freed\.$/m);
    expect(text.stdout).toMatch(/^Compacted \d+ chunks?\.$/m);
    expect(text.stdout).toMatch(/ 1 leaked objects .*\n.*--delete/);
    const json = await jfs(["gc", meta, "--json", "--delete", "--min-age", "0"]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    // leakedBytes as the store lists them (a checksum store may not count its trailer).
    expect(report).toMatchObject({ leakedObjects: 1, deletedObjects: 1 });
    expect(report.leakedBytes).toBeGreaterThan(0);
    expect(report.pendingDeletions).toEqual({
      files: expect.any(Number),
      slices: expect.any(Number),
      failed: 0,
    });
    expect(existsSync(leak)).toBe(false);
  });
});

describe("warmup, bench, objbench", () => {
  test("warmup fills the cache directory with the file's blocks", async () => {
    await writeFiles({ warm: [Buffer.alloc(300_000, 3)] });
    const cache = join(dir, "cache");
    const r = await jfs(["warmup", meta, "/warm", "--cache-dir", cache]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warmed up 1 files/);
    const cached: string[] = [];
    const stack = [cache];
    while (stack.length > 0) {
      const d = stack.pop()!;
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) stack.push(join(d, e.name));
        else cached.push(e.name);
      }
    }
    expect(cached.filter((n) => /_\d+_\d+$/.test(n)).length).toBe(Math.ceil(300_000 / 65536));
    const missing = await jfs(["warmup", meta, "/nope", "--cache-dir", cache]);
    expect(missing.code).toBe(1);
  });

  test("bench on a volume and on a directory prints its table", async () => {
    const small = ["--big-file-size", "4", "--small-file-size", "16", "--small-file-count", "20"];
    const v = await jfs(["bench", meta, ...small, "--cache-dir", "memory"]);
    expect(v.code).toBe(0);
    for (const item of [
      "Write big file",
      "Read big file",
      "Write small file",
      "Read small file",
      "Stat file",
    ]) {
      expect(v.stdout).toContain(item);
    }
    const local = join(dir, "localbench");
    mkdirSync(local);
    const d = await jfs(["bench", local, ...small]);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain("Write small file");
    expect(readdirSync(local)).toEqual([]);
  });

  test("objbench measures a bucket and leaves nothing behind", async () => {
    const b = join(dir, "objbench");
    const r = await jfs(["objbench", "--bucket", b, "--objects", "20", "--block-size", "64"]);
    expect(r.code).toBe(0);
    for (const op of ["put", "get", "head", "list", "delete"]) expect(r.stdout).toContain(op);
    expect(existsSync(b) ? readdirSync(b) : []).toEqual([]);
  });
});
