/**
 * META-URL parsing: `sqlite3://PATH` and `redis[s]://[[user]:password@]host[:port][/db]`.
 * Errors name what is wrong in one line; passwords never leave this module unmasked.
 */
import { homedir } from "node:os";
import { resolve } from "node:path";
import { UserError } from "../errors.ts";

export const DEFAULT_META_URL = "sqlite3://~/.jfs/jfs.db";

export type MetaUrl =
  | { scheme: "sqlite3"; path: string; display: string }
  | { scheme: "redis" | "rediss"; url: string; display: string }
  | { scheme: "postgres"; url: string; display: string };

export function expandHome(path: string): string {
  if (path === "~") return homedir();
  if (path.startsWith("~/")) return resolve(homedir(), path.slice(2));
  return path;
}

export function parseMetaUrl(raw: string): MetaUrl {
  const m = /^([a-z0-9]+):\/\/(.*)$/i.exec(raw);
  if (!m) {
    throw new UserError(
      `Invalid META-URL "${maskPassword(raw)}": expected sqlite3://PATH or redis://[[user]:password@]host[:port][/db]`,
    );
  }
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === "sqlite3" || scheme === "sqlite") {
    if (rest === "") throw new UserError(`Invalid META-URL "${raw}": no database path`);
    const path = rest === ":memory:" ? rest : resolve(expandHome(rest.split("?")[0]!));
    return { scheme: "sqlite3", path, display: `sqlite3://${rest}` };
  }
  if (scheme === "redis" || scheme === "rediss") {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new UserError(`Invalid META-URL "${maskPassword(raw)}": not a valid redis URL`);
    }
    if (!parsed.hostname) throw new UserError(`Invalid META-URL "${maskPassword(raw)}": no host`);
    const db = parsed.pathname.replace(/^\//, "");
    if (db !== "" && !/^\d+$/.test(db)) {
      throw new UserError(`Invalid META-URL "${maskPassword(raw)}": database must be a number`);
    }
    return { scheme, url: raw, display: maskPassword(raw) };
  }
  if (scheme === "postgres" || scheme === "postgresql") {
    // Checked in full when the engine opens (postgres/url.ts).
    return { scheme: "postgres", url: raw, display: maskPassword(raw) };
  }
  throw new UserError(
    `Unsupported META-URL scheme "${scheme}://" (supported: sqlite3://, redis://, rediss://, postgres://)`,
  );
}

/**
 * Hides the password of anything that may be a URL, parsable or not: everything between the
 * first ':' of the user info and the last '@' (a password may hold '@' and '/'). User info
 * without ':' may be a password typed without its user, so all of it goes. What precedes the
 * user info (the scheme, as typed: "redis://", "redis:/", "redis//") stays.
 *   redis://user:secret@host -> redis://user:****@host
 *   redis:/:secret@host      -> redis:/:****@host
 */
export function maskPassword(url: string): string {
  const at = url.lastIndexOf("@");
  if (at < 0) return url;
  const lead = /^[a-z0-9+.-]*:?\/*/i.exec(url)?.[0] ?? "";
  const start = Math.min(lead.length, at);
  const info = url.slice(start, at);
  const colon = info.indexOf(":");
  const masked = colon < 0 ? "****" : `${info.slice(0, colon)}:****`;
  return `${url.slice(0, start)}${masked}${url.slice(at)}`;
}
