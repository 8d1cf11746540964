/**
 * Opens the metadata engine a META-URL names. Every engine is imported here explicitly so the
 * compiled binary carries all of them.
 */
import { existsSync } from "node:fs";
import { UserError } from "../errors.ts";
import { BaseMeta } from "./base.ts";
import type { Meta } from "./interface.ts";
import { SqliteEngine } from "./sqlite.ts";
import type { MetaEngine } from "./txn.ts";
import { parseMetaUrl } from "./url.ts";

export interface OpenOptions {
  /**
   * Create a missing SQLite database file, or PostgreSQL schema (format does; status and mount
   * do not).
   */
  create?: boolean;
}

export async function openEngine(rawUrl: string, options: OpenOptions = {}): Promise<MetaEngine> {
  const url = parseMetaUrl(rawUrl);
  switch (url.scheme) {
    case "sqlite3":
      if (options.create === false && url.path !== ":memory:" && !existsSync(url.path)) {
        throw new UserError(`Cannot open volume "${url.display}": not formatted (run jfs format)`);
      }
      return SqliteEngine.open(url.path, url.display);
    case "redis":
    case "rediss": {
      const { RedisEngine } = await import("./redis.ts");
      return RedisEngine.open(url.url);
    }
    case "postgres": {
      const { PostgresEngine } = await import("./postgres.ts");
      return PostgresEngine.open(url.url, { create: options.create !== false });
    }
  }
}

/** A Meta for the URL; the volume is not loaded yet (call load() or format()). */
export async function openMeta(
  rawUrl: string,
  options: OpenOptions = {},
): Promise<BaseMeta & Meta> {
  return new BaseMeta(await openEngine(rawUrl, options));
}
