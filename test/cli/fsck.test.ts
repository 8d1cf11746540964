/**
 * jfs fsck speaks paths: a damaged file is named by its path (and inode), `--path` checks one
 * subtree, `--repair` drops the references to missing blocks and lists each file it changed,
 * after which the file reads zeros where the lost blocks were. The real CLI on a real volume
 * whose block objects the test deletes from the file bucket.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sliceObjects } from "../../src/chunk/index.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import { ROOT_CREDENTIALS as ctx, type Ino } from "../../src/meta/interface.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { jfs } from "./harness.ts";

const BLOCK_BYTES = 64 * 1024;
const PIECE_BYTES = 100_000;

let dir: string;
let meta: string;
let bucket: string;
const inodes = new Map<string, Ino>();

async function withRuntime<T>(use: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
  try {
    return await use(rt);
  } finally {
    await rt.close();
  }
}

/** Resolves a volume path through the VFS. */
async function lookup(rt: Runtime, path: string): Promise<{ inode: Ino; size: number }> {
  let inode: Ino = ROOT_INODE;
  let size = 0;
  for (const part of path.split("/").filter(Boolean)) {
    const e = await rt.vfs.lookup(ctx, inode, Buffer.from(part));
    inode = e.inode;
    size = e.attr.size;
  }
  return { inode, size };
}

/** Deletes from the bucket the first block of the `nth` slice of the file's first chunk. */
async function loseBlock(path: string, nth: number): Promise<void> {
  await withRuntime(async (rt) => {
    const slices = await rt.meta.readChunk(inodes.get(path)!, 0);
    const slice = slices[nth]!;
    const [block] = sliceObjects(slice.id, slice.size, BLOCK_BYTES);
    rmSync(join(bucket, "fsckpaths", block!.key));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-fsck-"));
  meta = `sqlite3://${dir}/meta.db`;
  bucket = join(dir, "data");
  const f = await jfs(["format", meta, "fsckpaths", "--bucket", bucket, "--block-size", "64"]);
  expect(f.code).toBe(0);
  await withRuntime(async (rt) => {
    for (const d of ["dir", "top"]) await rt.vfs.mkdir(ctx, ROOT_INODE, Buffer.from(d), 0o755, 0);
    for (const path of ["/dir/broken", "/dir/fine", "/top/other"]) {
      const [, parentName, name] = path.split("/");
      const parent = (await lookup(rt, `/${parentName}`)).inode;
      const { inode, fh } = await rt.vfs.create(ctx, parent, Buffer.from(name!), 0o644, 0, 1);
      for (const [i, byte] of [1, 2].entries()) {
        await rt.vfs.write(ctx, inode, fh, i * PIECE_BYTES, Buffer.alloc(PIECE_BYTES, byte));
        await rt.vfs.fsync(ctx, inode, fh, false); // one slice per piece
      }
      await rt.vfs.release(ctx, inode, fh);
      inodes.set(path, inode);
    }
  });
  await loseBlock("/dir/broken", 1);
  await loseBlock("/top/other", 0);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("jfs fsck names paths", () => {
  test("a missing block is reported with the damaged file's path", async () => {
    const r = await jfs(["fsck", meta]);
    expect(r.code).toBe(1);
    const broken = inodes.get("/dir/broken");
    expect(r.stdout).toMatch(
      new RegExp(`^/dir/broken \\(inode ${broken}\\): block \\S+ is missing$`, "m"),
    );
    expect(r.stdout).toContain(`/top/other (inode ${inodes.get("/top/other")}): block`);
    expect(r.stdout).not.toContain("/dir/fine");
    expect(r.stderr).toMatch(/fsck found 2 problem/);
  });

  test("--path checks only that subtree", async () => {
    const r = await jfs(["fsck", meta, "--path", "/dir"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("/dir/broken (inode");
    expect(r.stdout).not.toContain("/top/other");
    expect(r.stdout + r.stderr).toContain("2 files under /dir");
    expect(r.stderr).toMatch(/fsck found 1 problem/);
    const file = await jfs(["fsck", meta, "--path", "/dir/fine"]);
    expect(file.code).toBe(0);
    expect(file.stdout + file.stderr).toContain("1 files under /dir/fine");
    const missing = await jfs(["fsck", meta, "--path", "/nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("/nope: no such file or directory in the volume");
  });

  test("--repair drops the lost blocks' references and lists each file it changed", async () => {
    const r = await jfs(["fsck", meta, "--path", "/dir", "--repair"]);
    expect(r.stdout).toMatch(
      /^repaired \/dir\/broken \(inode \d+\): dropped 1 reference\(s\) to missing blocks/m,
    );
    expect(r.stdout).not.toContain("repaired /dir/fine");
    expect((await jfs(["fsck", meta, "--path", "/dir"])).code).toBe(0);
    // The second piece's slice is gone: zeros where it was, the first piece and size intact.
    const data = await withRuntime(async (rt) => {
      const { inode, size } = await lookup(rt, "/dir/broken");
      return rt.vfs.read(ctx, inode, undefined, 0, size);
    });
    expect(data.length).toBe(2 * PIECE_BYTES);
    expect(data.subarray(0, PIECE_BYTES).equals(Buffer.alloc(PIECE_BYTES, 1))).toBe(true);
    expect(data.subarray(PIECE_BYTES).equals(Buffer.alloc(PIECE_BYTES, 0))).toBe(true);
    // Outside the path nothing changed.
    const all = await jfs(["fsck", meta]);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain("/top/other (inode");
    const whole = await jfs(["fsck", meta, "--repair"]);
    expect(whole.stdout).toContain("repaired /top/other (inode");
    const after = await jfs(["fsck", meta]);
    expect(after.code).toBe(0);
    expect(after.stdout + after.stderr).toMatch(/0 problem\(s\)/);
  });
});
