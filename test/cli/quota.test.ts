/**
 * jfs quota and fsck --repair-quota as a user runs them (the real CLI on a real SQLite volume):
 * set, get, list and delete with their output; one clear line for a path that does not exist,
 * a file, a missing --path or action; and a recount that repairs usage the test skews on
 * purpose in meta.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_INODE } from "../../src/limits.ts";
import { BaseMeta } from "../../src/meta/base.ts";
import { openEngine } from "../../src/meta/index.ts";
import { ROOT_CREDENTIALS as ctx, type Ino } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { jfs } from "./harness.ts";

let dir: string;
let url: string;
let projects: Ino;

async function withMeta<T>(use: (meta: BaseMeta) => Promise<T>): Promise<T> {
  const meta = new BaseMeta(await openEngine(url));
  try {
    await meta.load();
    return await use(meta);
  } finally {
    await meta.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-quota-"));
  url = `sqlite3://${dir}/meta.db`;
  const f = await jfs(["format", url, "quotas", "--bucket", join(dir, "data")]);
  expect(f.code, f.stderr).toBe(0);
  const rt = await openRuntime(url, { cacheDir: "memory" }, "test");
  try {
    const mkdir = (parent: Ino, name: string) =>
      rt.vfs.mkdir(ctx, parent, Buffer.from(name), 0o755, 0).then((e) => e.inode);
    projects = await mkdir(ROOT_INODE, "projects");
    const a = await mkdir(projects, "a");
    // Through the data path, so that fsck finds the blocks of the file too.
    const { inode, fh } = await rt.vfs.create(ctx, a, Buffer.from("f"), 0o644, 0, 1);
    await rt.vfs.write(ctx, inode, fh, 0, Buffer.alloc(10_000, 3));
    await rt.vfs.release(ctx, inode, fh);
    const plain = await rt.vfs.create(ctx, ROOT_INODE, Buffer.from("plain"), 0o644, 0, 1);
    await rt.vfs.release(ctx, plain.inode, plain.fh);
  } finally {
    await rt.close();
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** stderr without the info lines every command logs. */
const errors = (stderr: string) => stderr.replace(/^.*ℹ.*\n?/gm, "");

describe("jfs quota", () => {
  test("set counts what is there; get, list and delete show and remove it", async () => {
    const set = await jfs([
      "quota",
      "set",
      url,
      "--path",
      "/projects",
      "--capacity",
      "1",
      "--inodes",
      "100",
    ]);
    expect(set.code, set.stderr).toBe(0);
    // a (4 KiB) and f (10,000 bytes: 12 KiB charged), the directory itself not counted.
    expect(set.stdout).toBe("/projects: 16.0 KiB of 1.0 GiB (0%), 2 of 100 inodes (2%)\n");
    const get = await jfs(["quota", "get", url, "--path", "/projects/", "--json"]);
    expect(JSON.parse(get.stdout)).toEqual({
      path: "/projects",
      capacityBytes: 1024 ** 3,
      inodes: 100,
      usedBytes: 16 * 1024,
      usedInodes: 2,
    });
    // Changing one limit keeps the other.
    await jfs(["quota", "set", url, "--path", "/projects", "--inodes", "0"]);
    const list = await jfs(["quota", "list", url, "--json"]);
    expect(JSON.parse(list.stdout).quotas).toMatchObject([
      { path: "/projects", capacityBytes: 1024 ** 3, inodes: 0 },
    ]);
    const del = await jfs(["quota", "delete", url, "--path", "/projects"]);
    expect(del.stdout).toBe("quota on /projects deleted\n");
    expect((await jfs(["quota", "list", url])).stdout).toBe("no directory quotas\n");
  }, 60_000);

  test("bad input gets one clear line and exit code 1", async () => {
    const cases: Array<[string[], string]> = [
      [
        ["set", url, "--path", "/nope/deeper", "--capacity", "1"],
        "jfs: quota set: --path /nope/deeper: no such directory in the volume\n",
      ],
      [
        ["set", url, "--path", "/plain", "--inodes", "5"],
        "jfs: quota set: --path /plain: not a directory (quotas are per directory)\n",
      ],
      [
        ["set", url, "--path", "/projects"],
        "jfs: quota set: give --capacity GiB and/or --inodes N (0 = unlimited)\n",
      ],
      [["get", url], "jfs: quota get: give --path DIR\n"],
      [["get", url, "--path", "/projects"], "jfs: quota get: /projects has no quota\n"],
      [["grow", url], 'jfs: quota: unknown action "grow" (set, get, list or delete)\n'],
      [
        ["set", url, "--path", "/projects", "--capacity", "lots"],
        'jfs: --capacity must be a number in 0..8388608, got "lots"\n',
      ],
    ];
    for (const [args, message] of cases) {
      const r = await jfs(["quota", ...args]);
      expect(errors(r.stderr), args.join(" ")).toBe(message);
      expect(r.code).toBe(1);
    }
  }, 60_000);

  test("jfs --help lists the command", async () => {
    const help = await jfs(["--help"]);
    expect(help.stdout).toContain("quota <ACTION> [META-URL]");
  }, 60_000);
});

describe("jfs fsck --repair-quota", () => {
  test("recounts a usage that was skewed and reports what it fixed", async () => {
    expect((await jfs(["quota", "set", url, "--path", "/projects", "--inodes", "10"])).code).toBe(
      0,
    );
    await withMeta((meta) => meta.core.txn(async (tx) => tx.addQuotaUsage(projects, 1_000_000, 5)));
    const skewed = JSON.parse(
      (await jfs(["quota", "get", url, "--path", "/projects", "--json"])).stdout,
    );
    expect(skewed).toMatchObject({ usedBytes: 16 * 1024 + 1_000_000, usedInodes: 7 });
    const fsck = await jfs(["fsck", url, "--repair-quota"]);
    expect(fsck.code, fsck.stderr).toBe(0);
    expect(fsck.stdout).toContain(
      `repaired quota of /projects: ${16 * 1024 + 1_000_000} -> ${16 * 1024} bytes, 7 -> 2 inodes`,
    );
    const fixed = JSON.parse(
      (await jfs(["quota", "get", url, "--path", "/projects", "--json"])).stdout,
    );
    expect(fixed).toMatchObject({ usedBytes: 16 * 1024, usedInodes: 2 });
    // Nothing left to repair; --path names a directory without a quota in one line.
    expect((await jfs(["fsck", url, "--repair-quota"])).stdout).not.toContain("repaired");
    const none = await jfs(["fsck", url, "--repair-quota", "--path", "/projects/a"]);
    expect(errors(none.stderr)).toBe("jfs: fsck --repair-quota: /projects/a has no quota\n");
  }, 60_000);
});
