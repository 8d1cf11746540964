/**
 * Meta instances for tests: a fresh SQLite volume in a temp dir, or a fresh db on a real
 * redis-server or PostgreSQL server started for the test file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BaseMeta } from "../../src/meta/base.ts";
import { openEngine } from "../../src/meta/index.ts";
import type { Format } from "../../src/meta/interface.ts";

export function testFormat(overrides: Partial<Format> = {}): Format {
  return {
    name: "test",
    uuid: crypto.randomUUID(),
    storage: "file",
    bucket: "/nonexistent",
    blockSizeKiB: 64,
    compression: "none",
    capacityBytes: 0,
    inodes: 0,
    trashDays: 0,
    metaVersion: 1,
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Creates Meta instances over one shared backing store (for multi-session tests). */
export interface MetaBackend {
  readonly name: string;
  /** The META-URL of the store (for child processes). */
  url(): string;
  /** A new, unformatted Meta over this backend's store. */
  open(): Promise<BaseMeta>;
  /** Wipes the store between tests. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export function sqliteBackend(): MetaBackend {
  const dir = mkdtempSync(join(tmpdir(), "jfs-meta-"));
  let n = 0;
  let url = `sqlite3://${dir}/meta-${n}.db`;
  const opened: BaseMeta[] = [];
  return {
    name: "sqlite3",
    url: () => url,
    async open() {
      const meta = new BaseMeta(await openEngine(url));
      opened.push(meta);
      return meta;
    },
    async reset() {
      for (const m of opened.splice(0)) await m.close().catch(() => undefined);
      n++;
      url = `sqlite3://${dir}/meta-${n}.db`;
    },
    async stop() {
      for (const m of opened.splice(0)) await m.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function redisBackend(): Promise<MetaBackend> {
  const { startRedis } = await import("../harness/redis.ts");
  const server = await startRedis();
  const url = server.url(1);
  const opened: BaseMeta[] = [];
  return {
    name: "redis",
    url: () => url,
    async open() {
      const meta = new BaseMeta(await openEngine(url));
      opened.push(meta);
      return meta;
    },
    async reset() {
      for (const m of opened.splice(0)) await m.close().catch(() => undefined);
      const cleaner = new BaseMeta(await openEngine(url));
      await cleaner.destroy();
      await cleaner.close();
    },
    async stop() {
      for (const m of opened.splice(0)) await m.close().catch(() => undefined);
      await server.stop();
    },
  };
}

/**
 * A real PostgreSQL server started for the test file; reset() drops and recreates the schema
 * (cheaper than a database per test, which initdb'd clusters copy at 7 MB each).
 */
export async function postgresBackend(): Promise<MetaBackend> {
  const { startPostgres } = await import("../harness/postgres.ts");
  const server = await startPostgres();
  const url = await server.createDatabase("meta");
  const opened: BaseMeta[] = [];
  return {
    name: "postgres",
    url: () => url,
    async open() {
      const meta = new BaseMeta(await openEngine(url));
      opened.push(meta);
      return meta;
    },
    async reset() {
      for (const m of opened.splice(0)) await m.close().catch(() => undefined);
      await server.query("meta", "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    },
    async stop() {
      for (const m of opened.splice(0)) await m.close().catch(() => undefined);
      await server.stop();
    },
  };
}

/** Opens and formats a fresh volume on the backend. */
export async function formatted(backend: MetaBackend, overrides: Partial<Format> = {}) {
  const meta = await backend.open();
  await meta.format(testFormat(overrides), false);
  return meta;
}
