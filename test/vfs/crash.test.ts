/**
 * kill -9 of a writer: what was fsync'ed is there whole; what was not leaves a consistent
 * volume that `jfs fsck` passes (a prefix of the writes, never garbage), on both engines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_CREDENTIALS as ctx } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { jfs } from "../cli/harness.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { pattern } from "./crashpattern.ts";

const WRITER = join(import.meta.dir, "crashwriter.ts");
let dir: string;
let redis: RedisServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jfs-crash-"));
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function killWriterMidway(metaUrl: string, cacheDir: string): Promise<void> {
  const child = Bun.spawn(["bun", WRITER, metaUrl, cacheDir], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let text = "";
  // Kill once the durable file is synced and several MiB of the other were written.
  while (!/wrote (\d{7,})/.test(text) || Number(/wrote (\d+)\s*$/.exec(text.trim())?.[1]) < 6e6) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`writer exited early: ${await child.exited}`);
    text += new TextDecoder().decode(value);
  }
  expect(text).toContain("synced");
  child.kill("SIGKILL");
  await child.exited;
}

for (const engine of ["sqlite3", "redis"] as const) {
  describe(`kill -9 of a writer (${engine})`, () => {
    test("fsync'ed data survives whole; the rest is a consistent prefix; fsck passes", async () => {
      const metaUrl = engine === "sqlite3" ? `sqlite3://${dir}/m.db` : redis.url(5);
      const bucket = join(dir, `data-${engine}`);
      const f = await jfs(["format", metaUrl, "crash", "--bucket", bucket, "--trash-days", "0"]);
      expect(f.code).toBe(0);
      await killWriterMidway(metaUrl, join(dir, `cache-${engine}`));
      const rt = await openRuntime(metaUrl, { cacheDir: "memory" }, "verify");
      try {
        const durable = await rt.vfs.lookup(ctx, 1, Buffer.from("durable"));
        expect(durable.attr.size).toBe(3 * 1024 * 1024 + 777);
        const got = await rt.vfs.read(ctx, durable.inode, undefined, 0, durable.attr.size);
        expect(got.equals(pattern(1, 0, durable.attr.size))).toBe(true);
        const pending = await rt.vfs.lookup(ctx, 1, Buffer.from("pending"));
        const size = pending.attr.size;
        expect(size).toBeGreaterThanOrEqual(4 * 1024 * 1024);
        const bytes = await rt.vfs.read(ctx, pending.inode, undefined, 0, size);
        expect(bytes.length).toBe(size);
        // Whatever was committed reads back as written (or as a hole, never as other bytes).
        const expected = pattern(2, 0, size);
        let mismatches = 0;
        for (let i = 0; i < size; i++) if (bytes[i] !== expected[i] && bytes[i] !== 0) mismatches++;
        expect(mismatches).toBe(0);
      } finally {
        await rt.close();
      }
      const check = await jfs(["fsck", metaUrl]);
      expect(check.stderr + check.stdout).toMatch(/0 problem\(s\)/);
      expect(check.code).toBe(0);
    }, 120_000);
  });
}
