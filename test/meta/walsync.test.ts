/**
 * The SQLite WAL barrier (durability "wal-barrier": src/meta/walsync.ts, sqlitegroup.ts): a write
 * transaction's promise settles only after a WAL sync that began after its COMMIT returned;
 * groups committed while one sync runs share the next; a failed sync rejects and poisons;
 * read-only transactions sync nothing. With the real syncer, the fdatasync goes to the WAL
 * inode the path names, and follows it when SQLite deletes and recreates the file.
 */
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteEngine } from "../../src/meta/sqlite.ts";
import { WalFileSync } from "../../src/meta/walsync.ts";

/** A sync the test completes by hand, and what another connection saw when it began. */
interface HeldSync {
  release: () => void;
  fail: (error: Error) => void;
  committedAtStart: number;
}

function counterIn(dbPath: string): number {
  const other = new Database(dbPath, { readonly: true });
  try {
    const row = other.query("SELECT value FROM jfs_counter WHERE name = 'usedInodes'").get() as {
      value: number;
    } | null;
    return row?.value ?? 0;
  } finally {
    other.close();
  }
}

/** Paths this process has open (through /proc), "(deleted)" marking unlinked files. */
function openPaths(): string[] {
  const paths: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      paths.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile (readdir's own descriptor)
    }
  }
  return paths;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await Bun.sleep(1);
}

describe("sqlite WAL barrier", () => {
  let dir: string;
  let dbPath: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "jfs-walsync-"));
    dbPath = join(dir, "meta.db");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function heldEngine(): { engine: SqliteEngine; held: HeldSync[] } {
    const held: HeldSync[] = [];
    const engine = SqliteEngine.open(dbPath, "test", {
      durability: "wal-barrier",
      walSyncer: () =>
        new Promise<void>((resolve, reject) => {
          held.push({ release: resolve, fail: reject, committedAtStart: counterIn(dbPath) });
        }),
    });
    return { engine, held };
  }

  const bump = (engine: SqliteEngine) =>
    engine.txn(async (tx) => {
      tx.addCounter("usedInodes", 1);
      return "done";
    });

  test("a write settles only after a sync that began after its COMMIT", async () => {
    const { engine, held } = heldEngine();
    let settled = false;
    const first = bump(engine).then((v) => {
      settled = true;
      return v;
    });
    await until(() => held.length === 1);
    // The COMMIT had returned (another connection reads it) before the sync was asked for...
    expect(held[0]!.committedAtStart).toBe(1);
    // ...and the caller hears nothing until the sync completes.
    await Bun.sleep(20);
    expect(settled).toBe(false);
    held[0]!.release();
    expect(await first).toBe("done");
    await engine.close();
  });

  test("groups committed while a sync runs share the next one", async () => {
    const { engine, held } = heldEngine();
    const first = bump(engine);
    await until(() => held.length === 1);
    // Commits made while the first sync runs, in several groups (one after another).
    const later: Promise<string>[] = [];
    for (let i = 0; i < 5; i++) {
      later.push(bump(engine));
      await until(() => counterIn(dbPath) === 2 + i);
    }
    await Bun.sleep(10);
    expect(held.length).toBe(1); // the second sync waits for the first
    held[0]!.release();
    await first;
    await until(() => held.length === 2);
    expect(held[1]!.committedAtStart).toBe(6); // it began after all five committed
    held[1]!.release();
    expect(await Promise.all(later)).toEqual(["done", "done", "done", "done", "done"]);
    expect(engine.commitStats.walSyncs).toBe(2);
    expect(engine.commitStats.commits).toBeGreaterThanOrEqual(6);
    await engine.close();
  });

  test("a failed sync rejects its group and every later write; reads still work", async () => {
    const { engine, held } = heldEngine();
    const first = bump(engine);
    await until(() => held.length === 1);
    held[0]!.fail(new Error("EIO: i/o error"));
    await expect(first).rejects.toThrow(/fsync of .* failed \(.*EIO.*no further write/);
    await expect(bump(engine)).rejects.toThrow(/no further write is acknowledged/);
    expect(held.length).toBe(1); // poisoned: not synced again
    const read = await engine.txn(async (tx) => tx.getCounter("usedInodes"), { readOnly: true });
    expect(read).toBe(2);
    await engine.close();
  });

  test("read-only transactions do not sync", async () => {
    const engine = SqliteEngine.open(dbPath, "test", { durability: "wal-barrier" });
    await bump(engine);
    const syncs = engine.commitStats.walSyncs;
    expect(syncs).toBe(1);
    for (let i = 0; i < 3; i++) {
      await engine.txn(async (tx) => tx.getCounter("usedInodes"), { readOnly: true });
    }
    expect(engine.commitStats.walSyncs).toBe(syncs);
    await engine.close();
  });

  test("the real syncer fdatasyncs the WAL inode the path names, across its recreation", async () => {
    const walPath = `${dbPath}-wal`;
    const db = new Database(dbPath, { create: true });
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("CREATE TABLE t (x)");
    db.exec("INSERT INTO t VALUES (1)");
    const sync = new WalFileSync(dbPath);
    await sync.barrier();
    expect(sync.syncs).toBe(1);
    expect(openPaths()).toContain(walPath);
    // The last connection closing checkpoints and deletes the WAL: the barrier syncs the
    // database file instead, and lets go of the deleted inode.
    db.close();
    expect(() => statSync(walPath)).toThrow();
    await sync.barrier();
    expect(openPaths().filter((p) => p.startsWith(walPath))).toEqual([]);
    // A new WAL (a new inode): the next barrier opens and syncs that one.
    const again = new Database(dbPath);
    again.exec("PRAGMA journal_mode = WAL");
    again.exec("INSERT INTO t VALUES (2)");
    await sync.barrier();
    expect(sync.syncs).toBe(3);
    expect(openPaths()).toContain(walPath);
    // SQLite's descriptor and ours, both on the live inode (none "(deleted)").
    expect(openPaths().filter((p) => p.startsWith(walPath))).toEqual([walPath, walPath]);
    await sync.close();
    expect(openPaths().filter((p) => p.startsWith(walPath))).toEqual([walPath]);
    again.close();
  });
});
