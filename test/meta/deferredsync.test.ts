/**
 * Deferred sync on SQLite (TxnOptions.deferSync, src/meta/sqlitegroup.ts): a group of deferred
 * transactions commits without a sync and settles at once; syncThrough(token) runs one WAL
 * sync shared by every caller, or none when a later durable commit covered the token; what
 * nobody syncs is synced DEFERRED_SYNC_DELAY_MS later, and at close. Counted with a syncer that
 * stands for the WAL fdatasync, and, on the real file, with strace on this process: under
 * synchronous=FULL a deferred COMMIT issues no fsync, the next durable one does.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFERRED_SYNC_DELAY_MS } from "../../src/limits.ts";
import { SqliteEngine, type SqliteOpenOptions } from "../../src/meta/sqlite.ts";
import { HAVE_STRACE, traceSyncs } from "../harness/strace.ts";

const deferred = { deferSync: true };
/** Wall-clock ms with µs resolution, comparable with strace -ttt. */
const nowMs = () => performance.timeOrigin + performance.now();

describe("sqlite deferred sync", () => {
  let dir: string;
  let dbPath: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "jfs-deferred-"));
    dbPath = join(dir, "meta.db");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** An engine whose WAL syncs are counted (they still run: the real fdatasync after). */
  function countedEngine(durability: SqliteOpenOptions["durability"] = "full") {
    const counted = { syncs: 0 };
    const engine = SqliteEngine.open(dbPath, "test", {
      durability,
      walSyncer: async () => {
        counted.syncs++;
      },
    });
    return { engine, counted };
  }

  const bump = (engine: SqliteEngine, options?: { deferSync: boolean }) =>
    engine.txn(async (tx) => {
      tx.addCounter("usedInodes", 1);
      return engine.commitToken();
    }, options);

  test("deferred commits settle without a sync; one shared sync covers them all", async () => {
    const { engine, counted } = countedEngine();
    for (let i = 0; i < 5; i++) await bump(engine, deferred);
    expect(counted.syncs).toBe(0);
    expect(engine.commitStats.deferredCommits).toBe(5);
    const token = engine.commitToken();
    await Promise.all([engine.syncThrough(token), engine.syncThrough(token - 2)]);
    expect(counted.syncs).toBe(1);
    await engine.syncThrough(token); // covered now
    expect(counted.syncs).toBe(1);
    await engine.close();
    expect(counted.syncs).toBe(1); // nothing deferred is left for close
  });

  test("a later durable commit covers a deferred one: syncThrough does not sync", async () => {
    const { engine, counted } = countedEngine();
    await bump(engine, deferred);
    const token = engine.commitToken();
    await bump(engine); // synchronous=FULL: its COMMIT fsyncs the WAL, earlier frames too
    await engine.syncThrough(token);
    expect(counted.syncs).toBe(0);
    // In one group with a durable transaction, a deferred one is synced with it.
    const both = await Promise.all([bump(engine, deferred), bump(engine)]);
    expect(engine.commitStats.deferredCommits).toBe(1);
    await engine.syncThrough(Math.max(...both));
    expect(counted.syncs).toBe(0);
    await engine.close();
  });

  test("what nobody syncs is synced about DEFERRED_SYNC_DELAY_MS later, and at close", async () => {
    const { engine, counted } = countedEngine();
    const startedMs = performance.now();
    await bump(engine, deferred);
    expect(counted.syncs).toBe(0);
    while (counted.syncs === 0) {
      expect(performance.now() - startedMs).toBeLessThan(5 * DEFERRED_SYNC_DELAY_MS);
      await Bun.sleep(20);
    }
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(DEFERRED_SYNC_DELAY_MS - 50);
    await bump(engine, deferred);
    await engine.close(); // before the next background sync is due
    expect(counted.syncs).toBe(2);
  });

  test("wal-barrier: a deferred group skips the barrier, the others keep it", async () => {
    const { engine, counted } = countedEngine("wal-barrier");
    await bump(engine, deferred);
    expect(counted.syncs).toBe(0);
    await bump(engine);
    expect(counted.syncs).toBe(1);
    await engine.syncThrough(engine.commitToken());
    expect(counted.syncs).toBe(1);
    await engine.close();
  });

  test("a failed sync rejects syncThrough and close; the database still closes", async () => {
    let failing = false;
    const engine = SqliteEngine.open(dbPath, "test", {
      walSyncer: async () => {
        if (failing) throw new Error("EIO: i/o error");
      },
    });
    await bump(engine, deferred);
    failing = true;
    await expect(engine.syncThrough(engine.commitToken())).rejects.toThrow(/EIO/);
    await bump(engine, deferred);
    await expect(engine.close()).rejects.toThrow(/no further write is acknowledged/);
    await expect(bump(engine)).rejects.toThrow();
  });

  test.skipIf(!HAVE_STRACE)("on the real file, a deferred COMMIT issues no fsync", async () => {
    const engine = SqliteEngine.open(dbPath, "test");
    await bump(engine);
    const trace = await traceSyncs(process.pid, join(dir, "strace.out"));
    const t0 = nowMs();
    for (let i = 0; i < 5; i++) await bump(engine, deferred);
    const t1 = nowMs();
    for (let i = 0; i < 3; i++) await bump(engine);
    const t2 = nowMs();
    const token = engine.commitToken();
    await engine.syncThrough(token);
    const syncs = (await trace.stop()).filter((c) => c.path.endsWith("-wal"));
    const between = (from: number, to: number) =>
      syncs.filter((c) => c.atMs >= from && c.atMs <= to).length;
    expect({ deferred: between(t0, t1), durable: between(t1, t2) }).toEqual({
      deferred: 0,
      durable: 3,
    });
    await engine.close();
  });
});
