/**
 * Files closed at about the same time through a default mount (close returns once data and
 * meta are durable; their slice commits are grouped, src/meta/sqlitegroup.ts): every close that
 * returned is kept when the mount process is killed (kill -9) right after, and the volume's
 * SQLite WAL shows fewer commits than for the same files written one at a time.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const WRITERS = 16;
const FILES_PER_WRITER = 2;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/**
 * Commit frames in the current generation of a SQLite WAL file (see test/meta/groupcommit),
 * with that generation's checkpoint sequence: a count is comparable only within one.
 */
function walCommits(walPath: string): { generation: number; commits: number } {
  const wal = readFileSync(walPath);
  const pageBytes = wal.readUInt32BE(8);
  const [salt1, salt2] = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageBytes <= wal.length; at += 24 + pageBytes) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return { generation: wal.readUInt32BE(12), commits };
}

describe.skipIf(!HAVE_FUSE)("concurrent closes on a default mount", () => {
  let volume: TestVolume | undefined;
  let current: Mounted | undefined;
  afterAll(async () => {
    await forceCleanup(current);
    volume?.cleanup();
  });

  test("share meta commits, and every close that returned survives kill -9", async () => {
    volume = await createVolume();
    const dir = join(volume.root, "mnt");
    current = await startMount(volume, dir);
    const walPath = `${volume.metaUrl.slice("sqlite3://".length)}-wal`;
    const digests = new Map<string, string>();
    const writeFiles = async (prefix: string, writers: number, perWriter: number) => {
      for (let w = 0; w < writers; w++) await mkdir(join(dir, `${prefix}${w}`));
      const before = walCommits(walPath);
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < perWriter; i++) {
            const name = `${prefix}${w}/f${i}`;
            const data = randomBytes(16 * 1024 + w * 100 + i);
            await writeFile(join(dir, name), data); // open, write, close: returns once durable
            digests.set(name, sha256(data));
          }
        }),
      );
      const after = walCommits(walPath);
      // SQLite restarts the WAL after a checkpoint (at 1000 pages): too many files for a count.
      expect(after.generation).toBe(before.generation);
      return after.commits - before.commits;
    };
    const files = WRITERS * FILES_PER_WRITER;
    // The same files by one writer, then by WRITERS at once: commits per file without and
    // with closes at about the same time.
    const alone = await writeFiles("one", 1, files);
    const together = await writeFiles("w", WRITERS, FILES_PER_WRITER);
    expect(alone).toBeGreaterThanOrEqual(files);
    // One at a time every transaction is a commit of its own; at once, some share one (how
    // many depends on how the closes interleave: 80-91 against 98 here, 130 and 130 before
    // group commit, when a create was two transactions). The exact grouping is asserted
    // deterministically in test/meta/groupcommit.test.ts.
    expect({ alone, together, fewer: together < alone }).toMatchObject({ fewer: true });

    current.proc.kill(9);
    await current.proc.exited;
    expect((await jfs(["umount", dir])).code).toBe(0);
    current = await startMount(volume, dir);
    for (const [name, digest] of digests) {
      expect(sha256(await readFile(join(dir, name)))).toBe(digest);
    }
    await stopMount(current);
    current = undefined;
  }, 120_000);
});
