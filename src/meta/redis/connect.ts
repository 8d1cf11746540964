/**
 * Redis URLs (redis://, rediss:// with TLS options), connecting with bounded timeouts and clear
 * one-line errors, and the pool of connections that write transactions hold while they WATCH.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { Redis, type RedisOptions } from "ioredis";
import { assert } from "../../assert.ts";
import { describeError, UserError } from "../../errors.ts";
import { REDIS_CONNECT_TIMEOUT_MS, REDIS_OPEN_TIMEOUT_MS } from "../../limits.ts";

export interface RedisUrl {
  /** redis[s]://[user:****@]host:port/db: the URL with its password masked. */
  display: string;
  db: number;
  options: RedisOptions;
  /** The environment variable the password came from, when the URL had none. */
  passwordEnv?: string;
}

/**
 * The password for a META-URL that has none: META_PASSWORD (JuiceFS's name, any engine), else
 * REDIS_PASSWORD. Empty counts as unset.
 */
export function passwordFromEnv(): { name: string; value: string } | undefined {
  for (const name of ["META_PASSWORD", "REDIS_PASSWORD"]) {
    const value = process.env[name];
    if (value !== undefined && value !== "") return { name, value };
  }
  return undefined;
}

const TLS_PARAMS = ["insecure-skip-verify", "tls-ca-cert-file", "tls-cert-file", "tls-key-file"];

/** Parses `redis[s]://[[user]:password@]host[:port][/db][?tls options]`; UserError otherwise. */
export function parseRedisUrl(raw: string): RedisUrl {
  const bad = (why: string) => new UserError(`Invalid META-URL "${maskUserInfo(raw)}": ${why}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad("expected redis://[[user]:password@]host[:port][/db]");
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== "redis" && scheme !== "rediss") throw bad("the scheme must be redis or rediss");
  if (url.hostname === "") throw bad("no host");
  const dbText = url.pathname.replace(/^\//, "");
  if (!/^\d{0,9}$/.test(dbText)) throw bad("the database must be a number, as in redis://host/1");
  const envPassword = passwordFromEnv();
  if (url.username !== "" && url.password === "" && envPassword === undefined) {
    throw bad(
      "a user needs a password (redis://user:password@host, redis://:password@host, or META_PASSWORD)",
    );
  }
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw bad("bad %-escape in the user or password");
  }
  // A password in the environment stays out of `ps` and shell history; one in the URL wins.
  if (password === "" && envPassword !== undefined) password = envPassword.value;
  const db = dbText === "" ? 0 : Number(dbText);
  const port = url.port === "" ? 6379 : Number(url.port);
  const auth = password === "" ? "" : `${url.username}:****@`;
  const display = `${scheme}://${auth}${url.hostname}:${port}/${db}`;
  for (const name of url.searchParams.keys()) {
    if (scheme !== "rediss" || !TLS_PARAMS.includes(name)) {
      const known = scheme === "rediss" ? ` (known: ${TLS_PARAMS.join(", ")})` : "";
      throw bad(`unknown option "${name}"${known}`);
    }
  }
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    db,
    ...(username === "" ? {} : { username }),
    ...(password === "" ? {} : { password }),
    ...(scheme === "rediss" ? { tls: tlsOptions(url.searchParams, display) } : {}),
  };
  const fromEnv = url.password === "" && envPassword !== undefined;
  return { display, db, options, ...(fromEnv ? { passwordEnv: envPassword.name } : {}) };
}

function tlsOptions(params: URLSearchParams, display: string): ConnectionOptions {
  const file = (name: string): Buffer | undefined => {
    const path = params.get(name);
    if (path === null) return undefined;
    try {
      return readFileSync(path);
    } catch (error: unknown) {
      throw new UserError(
        `Cannot use ${display}: cannot read ${name} ${path}: ${describeError(error)}`,
      );
    }
  };
  const ca = file("tls-ca-cert-file");
  const cert = file("tls-cert-file");
  const key = file("tls-key-file");
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(params.get("insecure-skip-verify") === "true" ? { rejectUnauthorized: false } : {}),
  };
}

/** For a URL too broken to parse: hides everything before the last "@" that follows "//". */
function maskUserInfo(raw: string): string {
  return raw.replace(/^([^/]*\/\/)(.*)@/, (_, scheme: string, info: string) => {
    const colon = info.indexOf(":");
    return `${scheme}${colon < 0 ? "****" : `${info.slice(0, colon)}:****`}@`;
  });
}

// ---- connections ----

/**
 * Connections never reconnect by themselves: a WATCH does not survive a reconnect, and a command
 * replayed after one could apply twice. A lost connection fails what it had in flight, and the
 * engine replaces it on next use.
 */
const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
  retryStrategy: () => null,
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: false,
  connectionName: "jfs",
};

/** Connects, checks the database exists (ioredis only reports a failed SELECT as an event). */
export async function connect(url: RedisUrl): Promise<Redis> {
  // Explicit replyMapping: the replies are decoded above assuming RESP2-shaped arrays.
  const conn = new Redis({ ...CONNECTION_OPTIONS, ...url.options, replyMapping: "legacy" });
  // ioredis rejects connect() with "Connection is closed."; the reason arrives as an event.
  let cause: unknown;
  conn.on("error", (error: unknown) => {
    cause ??= error;
  });
  const timer = setTimeout(() => {
    cause ??= new Error("timed out");
    conn.disconnect();
  }, REDIS_OPEN_TIMEOUT_MS);
  try {
    await conn.connect();
    await conn.select(url.db);
    await conn.ping();
    return conn;
  } catch (error: unknown) {
    conn.disconnect();
    const why = explainConnectError(cause ?? error, url);
    throw new UserError(`Cannot connect to ${url.display}: ${why}`);
  } finally {
    clearTimeout(timer);
  }
}

function explainConnectError(error: unknown, url: RedisUrl): string {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : "";
  const text = describeError(error);
  const tls = url.options.tls !== undefined;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(text)) {
    const where = url.passwordEnv === undefined ? "in the META-URL" : `in ${url.passwordEnv}`;
    return `authentication failed (check the password ${where})`;
  }
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ECONNRESET" || code === "EPIPE") {
    return `connection reset by the server${tls ? "" : " (if it serves TLS only, use rediss://)"}`;
  }
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(text)) {
    return `connection timed out${tls ? " (no TLS handshake: does the server serve TLS there?)" : ""}`;
  }
  if (/DB index is out of range/i.test(text)) {
    return `database ${url.db} does not exist (the server's "databases" setting is lower)`;
  }
  if (/certificate/i.test(text)) {
    return `${text} (trust its CA with ?tls-ca-cert-file=FILE, or ?insecure-skip-verify=true)`;
  }
  return text;
}

export async function disconnect(conn: Redis): Promise<void> {
  if (conn.status === "ready") await conn.quit().catch(() => undefined);
  conn.disconnect();
}

/** Connections for write transactions, created on demand up to `sizeMax`, reused LIFO. */
export class ConnectionPool {
  readonly #idle: Redis[] = [];
  readonly #waiters: PromiseWithResolvers<Redis>[] = [];
  /** Connections idle, lent out, or being created. */
  #count = 0;
  #closed = false;

  constructor(
    private readonly create: () => Promise<Redis>,
    private readonly sizeMax: number,
  ) {
    assert(sizeMax >= 1);
  }

  async acquire(): Promise<Redis> {
    assert(!this.#closed, "engine closed");
    for (let conn = this.#idle.pop(); conn; conn = this.#idle.pop()) {
      if (conn.status === "ready") return conn;
      this.#drop(conn);
    }
    if (this.#count < this.sizeMax) return this.#create();
    const waiter = Promise.withResolvers<Redis>();
    this.#waiters.push(waiter);
    return waiter.promise;
  }

  /** `reusable`: the connection holds no WATCH and no half-read reply. */
  release(conn: Redis, reusable: boolean): void {
    if (!reusable || conn.status !== "ready" || this.#closed) {
      this.#drop(conn);
      const waiter = this.#waiters.shift();
      if (waiter) this.#create().then(waiter.resolve, waiter.reject);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(conn);
    else this.#idle.push(conn);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error("engine closed"));
    await Promise.all(this.#idle.splice(0).map(disconnect));
  }

  async #create(): Promise<Redis> {
    this.#count++;
    try {
      return await this.create();
    } catch (error: unknown) {
      this.#count--;
      // The slot is free again: a waiter gets it (and its own error if this keeps failing).
      const waiter = this.#waiters.shift();
      if (waiter) this.#create().then(waiter.resolve, waiter.reject);
      throw error;
    }
  }

  #drop(conn: Redis): void {
    this.#count--;
    void disconnect(conn);
  }
}

// ---- the engine ----
