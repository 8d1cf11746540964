/**
 * jfs rmr and jfs restore on a real volume (SQLite meta, a directory bucket), as child
 * processes: a tree removed by rmr lands in the trash, restore lists it, puts files back with
 * their attributes, never overwrites a target, and reports (or --into's) files whose
 * directory is gone. Also the bad input: an empty trash, an hour the trash lacks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_CREDENTIALS as ctx, FileType, type Ino } from "../../src/meta/interface.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { jfs } from "./harness.ts";

let dir: string;

async function withRuntime<T>(meta: string, work: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
  try {
    return await work(rt);
  } finally {
    await rt.close();
  }
}

async function writeFile(rt: Runtime, parent: Ino, name: string, text: string): Promise<Ino> {
  const { inode, fh } = await rt.vfs.create(ctx, parent, Buffer.from(name), 0o644, 0, 1);
  await rt.vfs.write(ctx, inode, fh, 0, Buffer.from(text));
  await rt.vfs.release(ctx, inode, fh);
  return inode;
}

async function lookupPath(rt: Runtime, path: string) {
  let inode: Ino = 1;
  let attr = await rt.vfs.getattr(ctx, 1);
  for (const part of path.split("/").filter((p) => p !== "")) {
    ({ inode, attr } = await rt.vfs.lookup(ctx, inode, Buffer.from(part)));
  }
  return { inode, attr };
}

async function readPath(rt: Runtime, path: string): Promise<string> {
  const { inode, attr } = await lookupPath(rt, path);
  return (await rt.vfs.read(ctx, inode, undefined, 0, attr.size)).toString();
}

async function exists(rt: Runtime, path: string): Promise<boolean> {
  return lookupPath(rt, path).then(
    () => true,
    () => false,
  );
}

async function newVolume(name: string, trashDays: number): Promise<string> {
  const meta = `sqlite3://${dir}/${name}.db`;
  const args = ["format", meta, name, "--bucket", join(dir, `${name}-data`)];
  const f = await jfs([...args, "--trash-days", String(trashDays)]);
  expect(f.stderr).toBe("");
  expect(f.code).toBe(0);
  return meta;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "jfs-trash-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("jfs rmr", () => {
  test("removes a tree by its volume path; with the trash off, for good", async () => {
    const meta = await newVolume("rmroff", 0);
    let inodesBefore = 0;
    await withRuntime(meta, async (rt) => {
      inodesBefore = (await rt.meta.counters()).usedInodes;
      const top = (await rt.vfs.mkdir(ctx, 1, Buffer.from("top"), 0o755, 0)).inode;
      for (let i = 0; i < 30; i++) await writeFile(rt, top, `f${i}`, `file ${i}`);
      const sub = (await rt.vfs.mkdir(ctx, top, Buffer.from("sub"), 0o755, 0)).inode;
      const deep = (await rt.vfs.mkdir(ctx, sub, Buffer.from("deep"), 0o755, 0)).inode;
      await writeFile(rt, deep, "leaf", "leaf");
      await rt.vfs.symlink(ctx, sub, Buffer.from("link"), Buffer.from("../f1"));
      await writeFile(rt, 1, "keep", "kept");
    });
    const r = await jfs(["rmr", meta, "/top", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { files: number; dirs: number; trash: boolean };
    expect({ files: out.files, dirs: out.dirs, trash: out.trash }).toEqual({
      files: 32,
      dirs: 3,
      trash: false,
    });
    await withRuntime(meta, async (rt) => {
      expect(await exists(rt, "/top")).toBe(false);
      expect(await readPath(rt, "/keep")).toBe("kept");
      // Every inode of the tree was freed: only "keep" is new since the start.
      expect((await rt.meta.counters()).usedInodes).toBe(inodesBefore + 1);
    });
    const fsck = await jfs(["fsck", meta]);
    expect(fsck.code).toBe(0);
  });

  test("a missing path and the volume root are refused", async () => {
    const meta = await newVolume("rmrbad", 0);
    const missing = await jfs(["rmr", meta, "/nothing/here"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ENOENT");
    const root = await jfs(["rmr", meta, "/"]);
    expect(root.code).toBe(1);
    expect(root.stderr).toContain("names no removable entry");
  });
});

test("an rmr killed midway leaves a consistent tree that a second rmr finishes", async () => {
  const meta = await newVolume("rmrkill", 0);
  await withRuntime(meta, async (rt) => {
    const big = (await rt.vfs.mkdir(ctx, 1, Buffer.from("big"), 0o755, 0)).inode;
    for (let d = 0; d < 20; d++) {
      const sub = (await rt.vfs.mkdir(ctx, big, Buffer.from(`d${d}`), 0o755, 0)).inode;
      for (let i = 0; i < 100; i++) {
        await rt.meta.mknod(ctx, sub, Buffer.from(`f${i}`), FileType.File, 0o644, 0, 0);
      }
    }
  });
  // A plain progress line per batch (stderr is a pipe): killed right after the first batch
  // committed, so the tree is surely half removed.
  const proc = Bun.spawn(["bun", join(import.meta.dir, "../../src/main.ts"), "rmr", meta, "/big"], {
    env: { ...process.env, JFS_PROGRESS_LINE_MS: "0" },
    stdout: "ignore",
    stderr: "pipe",
  });
  const reader = proc.stderr.getReader();
  let seen = "";
  while (!/rmr \/big: \d+ names/.test(seen)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`rmr ended before any progress line: ${seen}`);
    seen += new TextDecoder().decode(value);
  }
  proc.kill(9);
  await proc.exited;
  expect((await jfs(["fsck", meta])).code).toBe(0);
  expect(await withRuntime(meta, (rt) => exists(rt, "/big"))).toBe(true);
  const again = await jfs(["rmr", meta, "/big", "--json", "--quiet"]);
  expect(again.stderr).toBe("");
  expect(again.code).toBe(0);
  const { files, dirs } = JSON.parse(again.stdout) as { files: number; dirs: number };
  // The batches before the kill were removed whole: what is left adds up to less.
  expect(files).toBeLessThan(2000);
  expect(files % 100).toBe(0);
  expect(dirs).toBeGreaterThan(0);
  await withRuntime(meta, async (rt) => expect(await exists(rt, "/big")).toBe(false));
  expect((await jfs(["fsck", meta])).code).toBe(0);
}, 60_000);

describe("jfs restore", () => {
  let meta: string;
  let fileMode = 0;
  let fileUid = 0;

  test("an empty trash says so", async () => {
    meta = await newVolume("restore", 1);
    const r = await jfs(["restore", meta, "--put-back"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the trash is empty");
  });

  test("rmr into the trash, then restore lists, puts back and reports", async () => {
    await withRuntime(meta, async (rt) => {
      const docs = (await rt.vfs.mkdir(ctx, 1, Buffer.from("docs"), 0o755, 0)).inode;
      const a = await writeFile(rt, docs, "a.txt", "alpha");
      const attr = await rt.vfs.setattr(ctx, a, { mode: 0o600, uid: 1234, gid: 99 });
      fileMode = attr.mode;
      fileUid = attr.uid;
      await writeFile(rt, docs, "b.txt", "beta");
      const sub = (await rt.vfs.mkdir(ctx, docs, Buffer.from("sub"), 0o755, 0)).inode;
      await writeFile(rt, sub, "c.txt", "gamma");
    });
    // Files of docs/ itself: removed one by one, docs stays.
    for (const name of ["a.txt", "b.txt"]) {
      const r = await jfs(["rmr", meta, `/docs/${name}`]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("into the trash");
    }
    // And a whole subtree: its directory goes for good, so c.txt has nowhere to go back to.
    expect((await jfs(["rmr", meta, "/docs/sub"])).code).toBe(0);
    // A new b.txt where the old one was: restore must not overwrite it.
    await withRuntime(meta, async (rt) => {
      const docs = (await lookupPath(rt, "/docs")).inode;
      await writeFile(rt, docs, "b.txt", "new beta");
      expect(await exists(rt, "/docs/a.txt")).toBe(false);
    });

    const list = await jfs(["restore", meta]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("3 files in the trash");
    expect(list.stdout).toMatch(/-a\.txt {2}\(was \/docs\/a\.txt\)/);
    expect(list.stdout).toMatch(/-c\.txt {2}\(was c\.txt in a removed directory/);
    const hour = /\.trash\/(\d{4}-\d{2}-\d{2}-\d{2})\//.exec(list.stdout)?.[1];
    expect(hour).toBeDefined();

    const noHour = await jfs(["restore", meta, "1999-01-01-00", "--put-back"]);
    expect(noHour.code).toBe(1);
    expect(noHour.stderr).toContain("has no hour 1999-01-01-00");

    const back = await jfs(["restore", meta, hour!, "--put-back"]);
    expect(back.code).toBe(1); // two files stayed, and it says which
    expect(back.stdout).toMatch(/restored \.trash\/.*-a\.txt as \/docs\/a\.txt\n/);
    expect(back.stdout).toMatch(/kept \.trash\/.*-b\.txt: the target exists/);
    expect(back.stdout).toMatch(/kept \.trash\/.*-c\.txt: .*is gone; pass --into DIR/);
    expect(back.stdout).toContain("restored 1 of 3 files");
    await withRuntime(meta, async (rt) => {
      expect(await readPath(rt, "/docs/a.txt")).toBe("alpha");
      const { attr } = await lookupPath(rt, "/docs/a.txt");
      expect({ mode: attr.mode, uid: attr.uid, gid: attr.gid, nlink: attr.nlink }).toEqual({
        mode: fileMode,
        uid: fileUid,
        gid: 99,
        nlink: 1,
      });
      expect(await readPath(rt, "/docs/b.txt")).toBe("new beta");
      await rt.vfs.mkdir(ctx, 1, Buffer.from("lost"), 0o755, 0);
    });

    const into = await jfs(["restore", meta, "--put-back", "--into", "/lost", "--json"]);
    expect(into.code).toBe(1); // b.txt is still kept
    const report = JSON.parse(into.stdout) as {
      inTrash: number;
      restored: number;
      kept: unknown[];
    };
    expect(report.inTrash).toBe(2);
    expect(report.restored).toBe(1);
    expect(report.kept).toHaveLength(1);
    await withRuntime(meta, async (rt) => {
      expect(await readPath(rt, "/lost/c.txt")).toBe("gamma");
      expect(await readPath(rt, "/docs/b.txt")).toBe("new beta");
    });
    // What is left (the old b.txt) goes for good with `jfs rmr /.trash`; the trash stays.
    const empty = await jfs(["rmr", meta, "/.trash"]);
    expect(empty.stderr).toBe("");
    expect(empty.stdout).toContain("removed 1 files and 1 directories for good");
    const none = await jfs(["restore", meta, "--put-back"]);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain("the trash is empty");
    const fsck = await jfs(["fsck", meta]);
    expect(fsck.code).toBe(0);
  });
});
