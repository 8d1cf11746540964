/**
 * kill -9 in the middle of namespace operations leaves a consistent volume, on every engine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkNamespace } from "../../src/meta/check.ts";
import {
  formatted,
  type MetaBackend,
  postgresBackend,
  redisBackend,
  sqliteBackend,
} from "./harness.ts";

const WORKER = join(import.meta.dir, "crashworker.ts");

/** Starts the worker and kills it with SIGKILL once it has done at least `ops` operations. */
async function runAndKill(url: string, seed: number, ops: number): Promise<void> {
  const child = Bun.spawn(["bun", WORKER, url, String(seed)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.split("\n").some((line) => Number(line) >= ops)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`crash worker exited early (${await child.exited})`);
    text += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  await child.exited;
}

for (const [name, start] of [
  ["sqlite3", async () => sqliteBackend()],
  ["redis", redisBackend],
  ["postgres", postgresBackend],
] as const) {
  describe(`crash consistency: ${name}`, () => {
    let backend: MetaBackend;
    beforeAll(async () => {
      backend = await start();
    });
    afterAll(async () => {
      await backend.stop();
    });

    test("SIGKILL during random operations, three times over, leaves the tree consistent", async () => {
      await backend.reset();
      const meta = await formatted(backend);
      const url = backend.url();
      for (const seed of [11, 12, 13]) {
        await runAndKill(url, seed, 200 + seed * 20);
        const report = await checkNamespace(meta);
        expect(report.problems).toEqual([]);
        expect(report.usedInodesCounter).toBe(report.inodes);
      }
      expect((await checkNamespace(meta)).inodes).toBeGreaterThan(5);
    });
  });
}
