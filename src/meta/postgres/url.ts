/**
 * `postgres://[user[:password]@]host[:port]/database[?sslmode=MODE]` (or postgresql://). The
 * password may instead come from META_PASSWORD (kept out of `ps` and shell history). sslmode is
 * libpq's: disable, allow, prefer (the default), require, verify-ca, verify-full.
 */
import { UserError } from "../../errors.ts";
import { maskPassword } from "../url.ts";

const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
type SslMode = (typeof SSL_MODES)[number];

export interface PostgresUrl {
  /** The URL as shown to people: the password masked. */
  display: string;
  database: string;
  /** For whom a failed login is reported. */
  username: string;
  options: {
    hostname: string;
    port: number;
    username: string;
    password?: string;
    database: string;
    tls: SslMode;
  };
}

export function parsePostgresUrl(raw: string, env = process.env): PostgresUrl {
  const display = maskPassword(raw);
  const bad = (why: string): UserError => new UserError(`Invalid META-URL "${display}": ${why}`);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw bad("expected postgres://[user[:password]@]host[:port]/database");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw bad("the scheme must be postgres or postgresql");
  }
  if (!parsed.hostname) throw bad("no host");
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (database === "" || database.includes("/")) throw bad("name one database: host/DATABASE");
  let tls: SslMode = "prefer";
  for (const [key, value] of parsed.searchParams) {
    if (key !== "sslmode") throw bad(`unknown option "${key}" (supported: sslmode)`);
    if (!(SSL_MODES as readonly string[]).includes(value)) {
      throw bad(`sslmode must be one of ${SSL_MODES.join(", ")}`);
    }
    tls = value as SslMode;
  }
  const username = decodeURIComponent(parsed.username) || env.USER || "postgres";
  const password =
    parsed.password !== "" ? decodeURIComponent(parsed.password) : env.META_PASSWORD || undefined;
  const port = parsed.port === "" ? 5432 : Number(parsed.port);
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const showPort = parsed.port === "" ? `${parsed.host}:5432` : parsed.host;
  const auth = parsed.username === "" ? "" : `${parsed.username}${parsed.password ? ":****" : ""}@`;
  const query = parsed.search;
  return {
    display: `${parsed.protocol}//${auth}${showPort}${parsed.pathname}${query}`,
    database,
    username,
    options: {
      hostname,
      port,
      username,
      ...(password === undefined ? {} : { password }),
      database,
      tls,
    },
  };
}
