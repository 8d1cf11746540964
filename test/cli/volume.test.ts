import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type RedisServer, startRedis } from "../harness/redis.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";
import { type CliResult, jfs } from "./harness.ts";

let dir: string;
let redis: RedisServer;
let s3: S3Server;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-cli-"));
  [redis, s3] = await Promise.all([startRedis({ password: "sesame" }), startS3Server()]);
});

afterAll(async () => {
  await Promise.all([redis?.stop(), s3?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A user error: exit 1 and exactly one line on stderr, no stack trace. */
function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^jfs: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe("format, status, config, destroy", () => {
  test("on SQLite with a local directory", async () => {
    const meta = `sqlite3://${dir}/a/meta.db`;
    const bucket = join(dir, "a-data");
    const f = await jfs(["format", meta, "vol-a", "--bucket", bucket, "--trash-days", "3"]);
    expect(f.code).toBe(0);
    expect(readdirSync(join(bucket, "vol-a"))).toContain("jfs_uuid");
    const s = await jfs(["status", meta, "--json"]);
    expect(s.code).toBe(0);
    const status = JSON.parse(s.stdout);
    expect(status.setting).toMatchObject({ name: "vol-a", storage: "file", bucket, trashDays: 3 });
    expect(status.usage.usedInodes).toBe(2);
    expect((await jfs(["status", meta])).stdout).toContain("Volume:      vol-a");
    expectOneLineError(
      await jfs(["format", meta, "vol-a"]),
      /already holds volume "vol-a".*--force/,
    );
    expect((await jfs(["config", meta, "--capacity", "5", "--inodes", "100"])).code).toBe(0);
    const after = JSON.parse((await jfs(["status", meta, "--json"])).stdout);
    expect(after.setting.capacityBytes).toBe(5 * 1024 ** 3);
    expect(after.setting.inodes).toBe(100);
    expect(after.setting.uuid).toBe(status.setting.uuid);
    const forced = await jfs(["format", meta, "vol-a", "--force", "--trash-days", "0"]);
    expect(forced.code).toBe(0);
    const again = JSON.parse((await jfs(["status", meta, "--json"])).stdout);
    expect(again.setting).toMatchObject({ trashDays: 0, capacityBytes: 5 * 1024 ** 3 });
    expectOneLineError(await jfs(["destroy", meta, "wrong-uuid", "--yes"]), /UUID mismatch/);
    const no = await jfs(["destroy", meta, status.setting.uuid], {}, "n\n");
    expectOneLineError(no, /not confirmed/);
    const d = await jfs(["destroy", meta, status.setting.uuid], {}, "y\n");
    expect(d.code).toBe(0);
    const left = join(bucket, "vol-a");
    expect(existsSync(left) ? readdirSync(left) : []).toEqual([]);
    expectOneLineError(await jfs(["status", meta]), /not formatted \(run jfs format\)/);
  });

  test("on Redis with S3, secrets never printed", async () => {
    const meta = redis.url(3);
    const env = { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey };
    const bucket = s3.bucketUrl("jfs-cli");
    const args = ["format", meta, "vol-b", "--storage", "s3", "--bucket", bucket, "--verbose"];
    const f = await jfs(args, env);
    expect(f.code).toBe(0);
    const s = await jfs(["status", meta, "--json", "--verbose"], env);
    expect(s.code).toBe(0);
    const status = JSON.parse(s.stdout);
    expect(status.setting.secretKey).toBe("****");
    for (const out of [f.stdout, f.stderr, s.stdout, s.stderr]) {
      expect(out).not.toContain(s3.secretKey === "S3RVER" ? '"S3RVER"' : s3.secretKey);
      expect(out).not.toContain("sesame");
    }
    const d = await jfs(["destroy", meta, status.setting.uuid, "--yes"], env);
    expect(d.code).toBe(0);
    expectOneLineError(await jfs(["status", meta]), /not formatted/);
  });

  test("the embedded default volume is formatted on first use, and says so", async () => {
    const home = join(dir, "home");
    const first = await jfs(["status"], { HOME: home });
    expect(first.code).toBe(0);
    expect(first.stderr + first.stdout).toContain("formatted the embedded default volume");
    expect(existsSync(join(home, ".jfs", "jfs.db"))).toBe(true);
    const second = await jfs(["status"], { HOME: home });
    expect(second.code).toBe(0);
    expect(second.stderr + second.stdout).not.toContain("formatted");
    expect(second.stdout).toContain(`Storage:     file ${join(home, ".jfs", "data")}`);
  });

  test("a bucket prefix owned by another volume is refused", async () => {
    const bucket = join(dir, "shared-data");
    expect((await jfs(["format", `sqlite3://${dir}/c1.db`, "same", "--bucket", bucket])).code).toBe(
      0,
    );
    const r = await jfs(["format", `sqlite3://${dir}/c2.db`, "same", "--bucket", bucket]);
    expectOneLineError(r, /already holds volume .* under "same\/"/);
    expectOneLineError(await jfs(["status", `sqlite3://${dir}/c2.db`]), /not formatted/);
  });
});

describe("bad input: one clear line, non-zero, nothing changed", () => {
  test("an unreachable Redis", async () => {
    const port = await freePort();
    const r = await jfs(["format", `redis://127.0.0.1:${port}/1`, "vol"]);
    expectOneLineError(r, new RegExp(`127\\.0\\.0\\.1:${port}.*(refused|connect)`, "i"));
  });

  test("a wrong Redis password", async () => {
    const url = redis.url(4).replace("sesame", "wrong");
    const r = await jfs(["status", url]);
    expectOneLineError(r, /auth/i);
    expect(r.stderr).not.toContain("wrong");
  });

  test("a bad URL scheme, a bad name, a bad flag", async () => {
    expectOneLineError(
      await jfs(["status", "mysql://x"]),
      /Unsupported META-URL scheme "mysql:\/\/"/,
    );
    expectOneLineError(await jfs(["status", "not a url"]), /Invalid META-URL/);
    expectOneLineError(
      await jfs(["format", `sqlite3://${dir}/n.db`, "Bad_Name"]),
      /Invalid volume name/,
    );
    const flag = await jfs(["format", `sqlite3://${dir}/n.db`, "okname", "--block-size", "7"]);
    expectOneLineError(flag, /--block-size must be/);
    expectOneLineError(await jfs(["frobnicate"]), /unknown command "frobnicate"/);
    expect(existsSync(join(dir, "n.db"))).toBe(false);
  });

  test("an unwritable SQLite path", async () => {
    const r = await jfs(["format", "sqlite3:///proc/jfs/meta.db", "vol"]);
    expectOneLineError(r, /Cannot open "sqlite3:\/\/\/proc\/jfs\/meta.db"/);
  });

  test("wrong S3 credentials and a missing endpoint change nothing", async () => {
    const meta = `sqlite3://${dir}/s3bad.db`;
    const bucket = s3.bucketUrl("jfs-bad");
    const wrong = await jfs(["format", meta, "vol", "--storage", "s3", "--bucket", bucket], {
      ACCESS_KEY: s3.accessKey,
      SECRET_KEY: "not-the-secret",
    });
    expectOneLineError(wrong, /secret key|signature|access denied/i);
    expect(wrong.stderr).not.toContain("not-the-secret");
    expectOneLineError(await jfs(["status", meta]), /not formatted/);
    const port = await freePort();
    const gone = await jfs(
      ["format", meta, "vol", "--storage", "s3", "--bucket", `http://127.0.0.1:${port}/b`],
      { ACCESS_KEY: "a", SECRET_KEY: "b" },
    );
    expectOneLineError(gone, /self-test/);
    expectOneLineError(await jfs(["status", meta]), /not formatted/);
  });
});
