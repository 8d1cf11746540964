/**
 * Meta transaction metrics on a real redis-server: two clients creating entries in one
 * directory at once lose races to each other (WATCH on the directory), and every lost race
 * shows in jfs_meta_txn_conflicts_total and jfs_meta_txn_retries_total, while
 * jfs_meta_txn_duration_seconds counts each transaction once, retries included.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ROOT_INODE } from "../../src/limits.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { registry } from "../../src/metrics/jfs.ts";
import { parseExposition, sumOf } from "../../src/metrics/parse.ts";
import { type MetaBackend, redisBackend, testFormat } from "../meta/harness.ts";

let backend: MetaBackend;

beforeAll(async () => {
  backend = await redisBackend();
});

afterAll(async () => {
  await backend?.stop();
});

async function samples() {
  return parseExposition(await registry.render()).samples;
}

test("lost races on Redis are counted as conflicts and retries", async () => {
  const first = await backend.open();
  await first.format(testFormat(), false);
  const second = await backend.open();
  await second.load();
  const before = await samples();
  const ENTRIES = 40;
  const creates = [];
  for (let i = 0; i < ENTRIES; i++) {
    const meta = i % 2 === 0 ? first : second;
    creates.push(meta.mkdir(ROOT_CREDENTIALS, ROOT_INODE, Buffer.from(`d${i}`), 0o755, 0));
  }
  await Promise.all(creates);
  const after = await samples();
  const grew = (name: string, where: Record<string, string> = {}) =>
    sumOf(after, name, where) - sumOf(before, name, where);
  const conflicts = grew("jfs_meta_txn_conflicts_total");
  expect(conflicts).toBeGreaterThan(0);
  expect(grew("jfs_meta_txn_retries_total")).toBe(conflicts);
  // Each mkdir is one write transaction, however many times it ran.
  expect(grew("jfs_meta_txn_duration_seconds_count", { kind: "write" })).toBe(ENTRIES);
  const names = (await first.readdir(ROOT_CREDENTIALS, ROOT_INODE, 0, 100, false)).map((e) =>
    e.name.toString(),
  );
  expect(names.filter((name) => name.startsWith("d"))).toHaveLength(ENTRIES);
});
