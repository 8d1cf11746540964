/**
 * Failures a user causes or meets (a missing or read-only directory, a busy port, missing S3
 * keys) give one line saying what is wrong and a non-zero exit: never a stack trace, never the
 * words of a library.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_CREDENTIALS as ctx } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { startS3Server } from "../harness/s3server.ts";
import { jfs } from "./harness.ts";

const IS_ROOT = process.getuid?.() === 0;
let dir: string;
const mounted: string[] = [];
const chmodded: string[] = [];

/**
 * A directory that can be made read-only for this process: root ignores file modes, so for
 * root it is a tmpfs of its own, remounted read-only.
 */
function writableDir(name: string): string {
  const path = join(dir, name);
  mkdirSync(path);
  if (IS_ROOT) {
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", path]);
    if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
    mounted.push(path);
  }
  return path;
}

function makeReadOnly(path: string, subdirs: string[] = []): void {
  if (IS_ROOT) {
    const r = spawnSync("mount", ["-o", "remount,ro", path]);
    if (r.status !== 0) throw new Error(`remount ro: ${r.stderr}`);
    return;
  }
  for (const d of [path, ...subdirs]) {
    chmodSync(d, 0o555);
    chmodded.push(d);
  }
}

/**
 * Exactly one error line on stderr, starting with "jfs: ", no stack frame, exit 1. With
 * `outage`, warnings logged while the object store is retried may come before it.
 */
function expectOneLine(
  r: { code: number; stderr: string },
  pattern: RegExp,
  outage: { warnings: boolean } = { warnings: false },
): void {
  const lines = r.stderr.trim().split("\n");
  const text = lines.at(-1) ?? "";
  const before = lines.slice(0, -1);
  if (outage.warnings) for (const line of before) expect(line).toMatch(/warn/i);
  else expect(before).toEqual([]);
  expect(text).toMatch(/^jfs: /);
  expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(text).toMatch(pattern);
  expect(r.code).toBe(1);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "jfs-failures-"));
});

afterAll(() => {
  for (const path of mounted) spawnSync("umount", ["-l", path]);
  for (const path of chmodded) chmodSync(path, 0o755);
  rmSync(dir, { recursive: true, force: true });
});

describe("bench", () => {
  test("on a missing directory says so, not 'Invalid META-URL'", async () => {
    const missing = join(dir, "missing", "dir");
    expectOneLine(await jfs(["bench", missing]), new RegExp(`directory ${missing} does not exist`));
  });

  test("on a file says it is not a directory", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    expectOneLine(await jfs(["bench", file]), /is not a directory/);
  });

  test("in a read-only directory: one line naming the error", async () => {
    const ro = writableDir("bench-ro");
    makeReadOnly(ro);
    const r = await jfs(["bench", ro, "--big-file-size", "1", "--small-file-count", "1"]);
    expectOneLine(r, /^jfs: bench failed: (EROFS|EACCES)/);
  });
});

describe("gc and fsck", () => {
  test("gc --delete with a read-only bucket: one line, not a stack", async () => {
    const bucket = writableDir("gc-bucket");
    const meta = `sqlite3://${dir}/gc.db`;
    const f = await jfs(["format", meta, "gcvol", "--bucket", bucket, "--trash-days", "0"]);
    expect(f.code).toBe(0);
    // A leaked block: an object no slice refers to, old enough to be collected.
    const chunkDir = join(bucket, "gcvol", "chunks", "0", "0");
    mkdirSync(chunkDir, { recursive: true });
    const leaked = join(chunkDir, "77_0_2");
    writeFileSync(leaked, "xx");
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(leaked, old, old);
    makeReadOnly(bucket, [chunkDir]);
    const r = await jfs(["gc", meta, "--delete", "--min-age", "0"]);
    expectOneLine(r, /^jfs: gc failed: (EROFS|EACCES).*77_0_2/);
  });

  test("fsck and gc on a volume in a read-only directory: one line", async () => {
    const where = writableDir("meta-ro");
    const meta = `sqlite3://${where}/m.db`;
    const f = await jfs(["format", meta, "rovol", "--bucket", join(dir, "ro-data")]);
    expect(f.code).toBe(0);
    makeReadOnly(where);
    for (const command of ["fsck", "gc"]) {
      expectOneLine(await jfs([command, meta]), /m\.db|readonly|read-only/);
    }
  });
});

describe("S3 down", () => {
  test(
    "fsck, gc and bench: one line each, after the store's retries",
    async () => {
      const s3 = await startS3Server();
      const meta = `sqlite3://${dir}/s3down.db`;
      const env = { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey };
      const bucket = s3.bucketUrl("jfs-down");
      const f = await jfs(["format", meta, "downvol", "--storage", "s3", "--bucket", bucket], env);
      expect(f.code).toBe(0);
      // One block, so fsck has an object to look for.
      const rt = await openRuntime(meta, { cacheDir: "memory" }, "test");
      const { inode, fh } = await rt.vfs.create(ctx, 1, Buffer.from("f"), 0o644, 0, 1);
      await rt.vfs.write(ctx, inode, fh, 0, Buffer.alloc(1000, 1));
      await rt.vfs.release(ctx, inode, fh);
      await rt.close();
      await s3.stop();
      // In parallel: each waits out the same retry backoff.
      const [fsck, gc, bench] = await Promise.all([
        jfs(["fsck", meta], env),
        jfs(["gc", meta], env),
        jfs(["bench", meta, "--big-file-size", "1", "--small-file-count", "1"], env),
      ]);
      // The outage itself may be logged while the store retries (a warning, never a stack).
      const outage = { warnings: true };
      expectOneLine(fsck, /^jfs: fsck failed: HeadObject .* ECONNREFUSED/, outage);
      expectOneLine(gc, /^jfs: Cannot reach storage .* ECONNREFUSED/, outage);
      expectOneLine(bench, /^jfs: Cannot reach storage .* ECONNREFUSED/, outage);
    },
    { timeout: 60_000 },
  );
});

describe("serve", () => {
  test("on a busy port says 'address already in use'", async () => {
    const meta = `sqlite3://${dir}/serve.db`;
    const f = await jfs(["format", meta, "servevol", "--bucket", join(dir, "serve-data")]);
    expect(f.code).toBe(0);
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const args = ["serve", "--nfs", "--port", String(taken.port), "--cache-dir", "memory", meta];
      const r = await jfs(args, {}, undefined, 10_000);
      expect(r.stdout).not.toContain("serving");
      expectOneLine(
        r,
        new RegExp(
          `^jfs: Cannot serve NFS on 127\\.0\\.0\\.1:${taken.port}: address already in use`,
        ),
      );
    } finally {
      taken.stop(true);
    }
  });
});

describe("format", () => {
  test("with --storage s3 and no keys says so in our words", async () => {
    const meta = `sqlite3://${dir}/nokeys.db`;
    const noKeys = {
      ACCESS_KEY: undefined,
      SECRET_KEY: undefined,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_PROFILE: undefined,
    };
    // Port 1 never answers: the keys are missing before any request could go out.
    const args = ["format", meta, "nokeys", "--storage", "s3", "--bucket", "http://127.0.0.1:1/b1"];
    const r = await jfs(args, noKeys);
    expectOneLine(r, /no S3 credentials: give --access-key and --secret-key/);
    expect(r.stderr).not.toContain("Could not load credentials");
  });
});
