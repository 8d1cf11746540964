/**
 * Passwords: masked in every META-URL the CLI prints, even one too broken to parse, and
 * META_PASSWORD / REDIS_PASSWORD give the password to a META-URL that has none (so it stays
 * out of `ps`), against a real redis-server that requires it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { jfs } from "./harness.ts";

const SECRET = "hunter2-secret";
let redis: RedisServer;
let dir: string;

beforeAll(async () => {
  redis = await startRedis({ password: SECRET });
  dir = mkdtempSync(join(tmpdir(), "jfs-secrets-"));
});

afterAll(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const NO_ENV_PASSWORD = { META_PASSWORD: undefined, REDIS_PASSWORD: undefined };

function expectOneLineWithoutSecret(r: { code: number; stderr: string; stdout: string }): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^jfs: /);
  expect(r.stderr + r.stdout).not.toContain(SECRET);
}

describe("a password in a META-URL is never printed", () => {
  for (const url of [
    `redis:/:${SECRET}@127.0.0.1/1`,
    `redis//:${SECRET}@127.0.0.1/1`,
    `redis:${SECRET}@127.0.0.1/1`,
    `redis://:${SECRET}@127.0.0.1:99999/1`,
    `redis://${SECRET}@127.0.0.1/1`,
    `redis://:${SECRET}@127.0.0.1/x`,
    `redis://:${SECRET}@ho st/1`,
  ]) {
    test(`jfs status ${url.replace(SECRET, "SECRET")}`, async () => {
      const r = await jfs(["status", url], NO_ENV_PASSWORD);
      expectOneLineWithoutSecret(r);
      expect(r.stderr).toContain("****");
    });
  }

  test("nor in the errors of serve and mount", async () => {
    const url = `redis:/:${SECRET}@127.0.0.1/1`;
    expectOneLineWithoutSecret(
      await jfs(["serve", "--nfs", url], NO_ENV_PASSWORD, undefined, 10_000),
    );
    const mnt = join(dir, "mnt");
    expectOneLineWithoutSecret(await jfs(["mount", url, mnt], NO_ENV_PASSWORD, undefined, 10_000));
  });
});

describe("META_PASSWORD and REDIS_PASSWORD", () => {
  const url = () => `redis://127.0.0.1:${redis.port}/2`;

  test("without them, a URL without password fails to authenticate", async () => {
    const r = await jfs(
      ["format", url(), "envvol", "--bucket", join(dir, "data")],
      NO_ENV_PASSWORD,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("authentication failed");
  });

  test("REDIS_PASSWORD formats, META_PASSWORD reads, neither is printed", async () => {
    const bucket = join(dir, "data");
    const f = await jfs(["format", url(), "envvol", "--bucket", bucket], {
      ...NO_ENV_PASSWORD,
      REDIS_PASSWORD: SECRET,
    });
    expect(f.stderr).toBe("");
    expect(f.code).toBe(0);
    const s = await jfs(["status", url(), "--json"], { ...NO_ENV_PASSWORD, META_PASSWORD: SECRET });
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout).setting.name).toBe("envvol");
    for (const out of [f.stdout, f.stderr, s.stdout, s.stderr]) expect(out).not.toContain(SECRET);
  });

  test("a wrong one is named in the error", async () => {
    const r = await jfs(["status", url()], { ...NO_ENV_PASSWORD, META_PASSWORD: "wrong" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toEndWith(
      "authentication failed (check the password in META_PASSWORD)",
    );
  });
});
