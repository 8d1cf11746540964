/**
 * SQLite group commit (src/meta/sqlitegroup.ts), observed in the database's own WAL file: a
 * commit is a WAL frame whose "database size after commit" field is set, and each one is an
 * fsync under synchronous=FULL. Write transactions issued together share commits; one that
 * fails leaves the others of its group committed; and what resolved is in the file for any
 * other connection.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ROOT_INODE } from "../../src/limits.ts";
import type { BaseMeta } from "../../src/meta/base.ts";
import { FileType } from "../../src/meta/interface.ts";
import { expectErrno, n, root } from "./cases/util.ts";
import { formatted, sqliteBackend } from "./harness.ts";

const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

/** Commit frames of the current WAL generation (frames carrying the header's salts). */
function walCommits(dbPath: string): number {
  let wal: Buffer;
  try {
    wal = readFileSync(`${dbPath}-wal`);
  } catch {
    return 0;
  }
  if (wal.length < WAL_HEADER_BYTES) return 0;
  const pageBytes = wal.readUInt32BE(8);
  const [salt1, salt2] = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = WAL_HEADER_BYTES; at + FRAME_HEADER_BYTES + pageBytes <= wal.length; ) {
    const sizeAfterCommit = wal.readUInt32BE(at + 4);
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (sizeAfterCommit !== 0) commits++;
    at += FRAME_HEADER_BYTES + pageBytes;
  }
  return commits;
}

const FILES = 16;

describe("sqlite group commit", () => {
  const backend = sqliteBackend();
  let m: BaseMeta;
  const dbPath = () => backend.url().slice("sqlite3://".length);
  beforeEach(async () => {
    await backend.reset();
    m = await formatted(backend);
  });
  afterAll(() => backend.stop());

  test("concurrent slice commits of many files share one WAL commit", async () => {
    const files = [];
    for (let i = 0; i < FILES; i++) {
      files.push(await m.mknod(root, ROOT_INODE, n(`f${i}`), FileType.File, 0o644, 0, 0));
    }
    const ids = await Promise.all(files.map(() => m.newSliceId()));
    const before = walCommits(dbPath());
    await Promise.all(
      files.map((f, i) =>
        m.write(f.inode, 0, { id: ids[i]!, size: 100, off: 0, len: 100, pos: 0 }),
      ),
    );
    const commits = walCommits(dbPath()) - before;
    // One commit per write without grouping; with it, the lone first one and the rest at most.
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThanOrEqual(2);
    for (const f of files) expect((await m.getattr(root, f.inode)).size).toBe(100);
  });

  test("a create (file made and opened by this session) is one commit", async () => {
    await m.newSession({ hostname: "test", pid: 1, version: "test", mountPoint: "" });
    // The first create also reserves batches of inode numbers and entry sequences.
    await m.release((await m.create(root, ROOT_INODE, n("first"), 0o644, 0)).inode);
    const before = walCommits(dbPath());
    const f = await m.create(root, ROOT_INODE, n("one"), 0o644, 0);
    expect(walCommits(dbPath()) - before).toBe(1);
    await m.release(f.inode);
  });

  test("a transaction that fails in a group is rolled back alone", async () => {
    await m.mknod(root, ROOT_INODE, n("taken"), FileType.File, 0o644, 0, 0);
    const before = walCommits(dbPath());
    const names = ["a", "taken", "b", "c"];
    const results = await Promise.allSettled(
      names.map((name) => m.mknod(root, ROOT_INODE, n(name), FileType.File, 0o644, 0, 0)),
    );
    expect(results.map((r) => r.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    await expectErrno(Promise.reject((results[1] as PromiseRejectedResult).reason), "EEXIST");
    expect(walCommits(dbPath()) - before).toBeLessThanOrEqual(2);
    // Committed, as seen by another connection to the same file.
    const other = new Database(dbPath(), { readonly: true });
    try {
      const rows = other
        .query("SELECT name FROM jfs_edge WHERE parent = ? ORDER BY name")
        .all(ROOT_INODE) as Array<{ name: Uint8Array }>;
      const listed = rows.map((r) => Buffer.from(r.name).toString());
      expect(listed).toEqual(["a", "b", "c", "taken"]);
    } finally {
      other.close();
    }
  });
});
